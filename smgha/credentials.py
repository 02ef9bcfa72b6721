"""AWS credentials for the stages: a GitHub OIDC token exchanged for a role session, in one place.

    assume()           the token (smgha/github_oidc.py) -> STS AssumeRoleWithWebIdentity
                       (unsigned) -> optionally sts:AssumeRole into a second role with those
                       credentials; bounded retries with jitter, every secret masked as soon
                       as it exists
    RolePlan           what to assume, and (to_env/from_env) the SMGHA_OIDC_* variables that
                       carry it to later stages

The oidc-auth stage calls `assume()` once, exports the credentials and also exports the
plan it followed as SMGHA_OIDC_* variables (`RolePlan.to_env`). Later stages get their boto3
session from smgha/aws_session.py, which follows that plan again (a fresh token, the role(s)
assumed again) before the credentials expire. Nothing here writes to the log: the caller
passes `log` and `mask` (the stage's runner.info and runner.set_secret).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from smgha.github_oidc import DEFAULT_AUDIENCE, TOKEN_TIMEOUT, OidcError, fetch_token

__all__ = [
    "Assumed",
    "AwsCredentials",
    "RolePlan",
    "StsError",
    "account_of",
    "assume",
    "sts_client",
]

# The plan oidc-auth followed, exported for the refresher (none of these is secret).
ENV_ROLE_ARN = "SMGHA_OIDC_ROLE_ARN"
ENV_AUDIENCE = "SMGHA_OIDC_AUDIENCE"
ENV_SESSION_NAME = "SMGHA_OIDC_SESSION_NAME"
ENV_DURATION = "SMGHA_OIDC_DURATION_SECONDS"
ENV_CHAIN_ROLE_ARN = "SMGHA_OIDC_CHAIN_ROLE_ARN"
ENV_CHAIN_DURATION = "SMGHA_OIDC_CHAIN_DURATION_SECONDS"
ENV_MAX_ATTEMPTS = "SMGHA_OIDC_RETRY_MAX_ATTEMPTS"

# Backoff between attempts: base * 2**(n-1) seconds, capped, with "equal jitter" (half of it
# fixed, half random) so parallel jobs that failed together do not retry together.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0

# STS error codes worth another attempt. InvalidIdentityToken is, only when STS says it
# could not reach GitHub's keys (the token itself is fine); any other reason is final.
_STS_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    }
)
_TRANSIENT_INVALID_TOKEN = re.compile(
    r"retrieve verification key|try again|timed? ?out|communicat|temporar", re.IGNORECASE
)

Sleep = Callable[[float], None]
Log = Callable[[str], None]
Mask = Callable[[str], None]
StsClientFactory = Callable[[str, "AwsCredentials | None"], Any]


class StsError(OidcError):
    """An STS call failed. `token` is the OIDC token sent (for AssumeRoleWithWebIdentity)."""

    def __init__(
        self,
        operation: str,
        role_arn: str,
        code: str,
        message: str,
        transient: bool = False,
        token: str = "",
    ) -> None:
        super().__init__(f"{operation} on {role_arn} failed: {code}: {message}")
        self.operation = operation
        self.role_arn = role_arn
        self.code = code
        self.message = message
        self.transient = transient
        self.token = token


# ---- what to assume, and what came back -----------------------------------------------------


@dataclass(frozen=True)
class RolePlan:
    """How to get credentials: the role (and optional second role) and session settings."""

    role_arn: str
    session_name: str
    region: str
    duration_seconds: int = 3600
    audience: str = DEFAULT_AUDIENCE
    chain_role_arn: str = ""
    chain_duration_seconds: int = 3600
    max_attempts: int = 3

    def to_env(self) -> dict[str, str]:
        """The SMGHA_OIDC_* variables that let `aws_session()` follow this plan again.

        The chain variables are always written (empty without a chain) so a second oidc-auth
        step in the same job cannot leave a stale chain behind.
        """
        return {
            ENV_ROLE_ARN: self.role_arn,
            ENV_AUDIENCE: self.audience,
            ENV_SESSION_NAME: self.session_name,
            ENV_DURATION: str(self.duration_seconds),
            ENV_CHAIN_ROLE_ARN: self.chain_role_arn,
            ENV_CHAIN_DURATION: str(self.chain_duration_seconds) if self.chain_role_arn else "",
            ENV_MAX_ATTEMPTS: str(self.max_attempts),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RolePlan | None:
        """The plan oidc-auth exported, or None when there is none (no SMGHA_OIDC_ROLE_ARN)."""
        role_arn = env.get(ENV_ROLE_ARN, "")
        if not role_arn:
            return None
        chain = env.get(ENV_CHAIN_ROLE_ARN, "")
        return cls(
            role_arn=role_arn,
            session_name=env.get(ENV_SESSION_NAME) or "GitHubActions",
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            duration_seconds=_int_variable(env, ENV_DURATION, 3600),
            audience=env.get(ENV_AUDIENCE) or DEFAULT_AUDIENCE,
            chain_role_arn=chain,
            chain_duration_seconds=_int_variable(env, ENV_CHAIN_DURATION, 3600),
            max_attempts=_int_variable(env, ENV_MAX_ATTEMPTS, 3),
        )


def _int_variable(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or ""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={text!r} is not a positive whole number (oidc-auth sets it)")
    return value


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime  # timezone-aware
    arn: str  # the assumed-role ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>)

    @property
    def account_id(self) -> str:
        return account_of(self.arn)

    def expiration_iso(self) -> str:
        """The expiry in UTC, ISO 8601 (`2025-01-31T12:00:00Z`)."""
        moment = self.expiration.astimezone(timezone.utc).replace(microsecond=0)
        return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Assumed:
    """The result of `assume`: the credentials to use (the chained ones when chaining)."""

    credentials: AwsCredentials
    web_identity: AwsCredentials  # from AssumeRoleWithWebIdentity (== credentials unchained)
    token: str  # the GitHub OIDC token they were obtained with


def account_of(arn: str) -> str:
    """The account field of an ARN ('' when it is not an ARN)."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else ""


# ---- STS ------------------------------------------------------------------------------------


def sts_client(region: str, credentials: AwsCredentials | None = None) -> Any:
    """An STS client that makes one attempt per call (the retries are ours, with our sleep).

    Without credentials it is unsigned (AssumeRoleWithWebIdentity needs no AWS credentials,
    and an unsigned client never searches for some). It comes from a plain boto3 session,
    never from `aws_session()`, so refreshing can never recurse into itself.
    """
    options: dict[str, Any] = {
        "region_name": region,
        "retries": {"total_max_attempts": 1},
        "user_agent_extra": "smgha",
    }
    if credentials is None:
        return boto3.Session().client(
            "sts", config=Config(signature_version=botocore.UNSIGNED, **options)
        )
    return boto3.Session().client(
        "sts",
        config=Config(**options),
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def _sts_call(operation: str, role_arn: str, token: str, call: Callable[[], Any]) -> Any:
    """Run one STS call, turning its failures into StsError (transient or not)."""
    try:
        return call()
    except ClientError as error:
        info = error.response.get("Error", {})
        code = str(info.get("Code", "Unknown"))
        message = str(info.get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        transient = (
            code in _STS_THROTTLING
            or code == "IDPCommunicationError"
            or (code == "InvalidIdentityToken" and bool(_TRANSIENT_INVALID_TOKEN.search(message)))
            or status >= 500
        )
        raise StsError(operation, role_arn, code, message, transient, token) from None
    except (BotoConnectionError, HTTPClientError) as error:
        raise StsError(operation, role_arn, type(error).__name__, str(error), True, token) from None


def _credentials(answer: Mapping[str, Any]) -> AwsCredentials:
    data = answer["Credentials"]
    expiration = data["Expiration"]
    if isinstance(expiration, str):
        expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=timezone.utc)
    return AwsCredentials(
        access_key_id=data["AccessKeyId"],
        secret_access_key=data["SecretAccessKey"],
        session_token=data["SessionToken"],
        expiration=expiration,
        arn=answer.get("AssumedRoleUser", {}).get("Arn", ""),
    )


# ---- retries --------------------------------------------------------------------------------


def backoff_delay(attempt: int, rng: random.Random, base: float = BACKOFF_BASE) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): in [b/2, b], b = base*2**(n-1)."""
    ceiling = min(BACKOFF_CAP, base * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def with_retries(
    what: str,
    call: Callable[[], Any],
    attempts: int,
    sleep: Sleep,
    log: Log,
    rng: random.Random,
) -> Any:
    """`call()`, tried up to `attempts` times while it raises a transient OidcError."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except OidcError as error:
            if not error.transient or attempt >= attempts:
                raise
            delay = backoff_delay(attempt, rng)
            log(
                f"{what} failed (attempt {attempt} of {attempts}): {error}. Retrying in {delay:.1f} s."
            )
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


# ---- the one place: token -> role (-> second role) --------------------------------------------


def assume(
    plan: RolePlan,
    url: str,
    request_token: str,
    *,
    mask: Mask,
    log: Log,
    sleep: Sleep,
    sts: StsClientFactory = sts_client,
    rng: random.Random | None = None,
    token_timeout: float = TOKEN_TIMEOUT,
) -> Assumed:
    """Fetch a GitHub OIDC token and exchange it for `plan`'s role (then its chain role).

    `mask` is called with every secret (the token, each key, secret and session token) the
    moment it exists, before anything else could write it. Transient failures are retried
    up to `plan.max_attempts` times per call, sleeping with `sleep`.
    """
    rng = rng or random.Random()
    # No input in the log before the first mask (issue 13): the audience is named once the
    # token is masked.
    log("Requesting a GitHub OIDC token.")
    token = with_retries(
        "The OIDC token request",
        lambda: fetch_token(url, request_token, plan.audience, timeout=token_timeout),
        plan.max_attempts,
        sleep,
        log,
        rng,
    )
    mask(token)
    log(f"Got a GitHub OIDC token for the audience {plan.audience}.")

    log(f"Assuming {plan.role_arn} with the token (AssumeRoleWithWebIdentity).")
    client = sts(plan.region, None)
    answer = with_retries(
        "AssumeRoleWithWebIdentity",
        lambda: _sts_call(
            "AssumeRoleWithWebIdentity",
            plan.role_arn,
            token,
            lambda: client.assume_role_with_web_identity(
                RoleArn=plan.role_arn,
                RoleSessionName=plan.session_name,
                WebIdentityToken=token,
                DurationSeconds=plan.duration_seconds,
            ),
        ),
        plan.max_attempts,
        sleep,
        log,
        rng,
    )
    first = _credentials(answer)
    _mask_credentials(first, mask)
    if not plan.chain_role_arn:
        return Assumed(first, first, token)

    log(f"Chaining into {plan.chain_role_arn} (AssumeRole).")
    chained_client = sts(plan.region, first)
    chained = with_retries(
        "AssumeRole",
        lambda: _sts_call(
            "AssumeRole",
            plan.chain_role_arn,
            "",
            lambda: chained_client.assume_role(
                RoleArn=plan.chain_role_arn,
                RoleSessionName=plan.session_name,
                DurationSeconds=plan.chain_duration_seconds,
            ),
        ),
        plan.max_attempts,
        sleep,
        log,
        rng,
    )
    second = _credentials(chained)
    _mask_credentials(second, mask)
    return Assumed(second, first, token)


def _mask_credentials(credentials: AwsCredentials, mask: Mask) -> None:
    mask(credentials.access_key_id)
    mask(credentials.secret_access_key)
    mask(credentials.session_token)
