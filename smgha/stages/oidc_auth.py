"""oidc-auth: exchange the job's GitHub OIDC token for AWS credentials, with no stored keys.

    Inputs (load_inputs)                     every input checked, nothing requested yet
    credentials.assume(plan, ...)            token -> AssumeRoleWithWebIdentity -> [AssumeRole]
    main(): the edge: masks, exported variables, outputs, job summary, exit code

The token fetch is in smgha/github_oidc.py and the role assumption in smgha/credentials.py,
which smgha/aws_session.py also uses to refresh the credentials of later stages: this stage
exports the plan it followed (SMGHA_OIDC_*), and `aws_session()` follows it again whenever the
session is about to expire. What a failure tells the user to change is in smgha/oidc_trust.py.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from smgha import credentials, github_oidc, oidc_trust
from smgha.credentials import Assumed, AwsCredentials, RolePlan, StsClientFactory, StsError
from smgha.errors import InputError, StageError, shown
from smgha.github_oidc import TokenPermissionMissing, TokenRequestError
from smgha.inputs import InputSpec, InputValues, aws_region, whole_number
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage

STAGE = "oidc-auth"

INPUTS = (
    InputSpec(
        "role-to-assume",
        "ARN of the IAM role to assume with the job's OIDC token (arn:aws:iam::<account>:role/<name>).",
        required=True,
    ),
    InputSpec(
        "aws-region",
        "AWS region of the session; exported as AWS_REGION and AWS_DEFAULT_REGION.",
        required=True,
    ),
    InputSpec(
        "role-duration-seconds",
        "Session length in seconds (900 to 43200, at most the role's maximum session duration).",
        "3600",
    ),
    InputSpec(
        "role-session-name",
        "Session name (2 to 64 of letters, digits and _+=,.@-). Defaults to GitHubActions-<run id>-<run attempt>.",
    ),
    InputSpec("audience", "Audience (aud claim) of the OIDC token.", github_oidc.DEFAULT_AUDIENCE),
    InputSpec(
        "allowed-account-ids",
        "Comma-separated AWS account ids; the step fails, exporting nothing, unless the assumed account is one of them.",
    ),
    InputSpec(
        "mask-aws-account-id",
        "Mask the account id in the logs and the job summary. Off by default: AWS does not treat account ids as secret, and GitHub's runner drops every job output containing a masked value (so every ARN output would be empty).",
        "false",
        is_bool=True,
    ),
    InputSpec(
        "retry-max-attempts",
        "Attempts in all (1 to 10) for the token request and each STS call, on server errors, timeouts and throttling.",
        "3",
    ),
    InputSpec(
        "chain-role-to-assume",
        "ARN of a second role (e.g. in another account) to assume with the first role's credentials (role chaining).",
    ),
    InputSpec(
        "chain-role-duration-seconds",
        "Session length of the chained role in seconds (900 to 3600: STS caps chained sessions at one hour).",
        "3600",
    ),
)

OUTPUTS = (
    OutputSpec("aws-account-id", "The account of the assumed (last) role."),
    OutputSpec("authenticated-arn", "The assumed-role ARN the credentials act as."),
    OutputSpec("expiration", "When the credentials expire (ISO 8601, UTC)."),
)

# re.ASCII throughout: without it \d and \w take any Unicode digit or letter (a full-width
# account id, a role named in Cyrillic), which IAM refuses (its patterns are Java's, ASCII).
ROLE_ARN = re.compile(
    r"arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}", re.ASCII
)
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
# The audience becomes a client ID of the IAM OIDC provider, 1 to 255 characters (IAM API
# reference, CreateOpenIDConnectProvider ClientIDList; botocore iam clientIDType). IAM
# documents no character set; audiences in use are host names, URLs and URNs
# (sts.amazonaws.com, api://AzureADTokenExchange), so printable ASCII without spaces is the
# stricter reading taken here (unconfirmed). It also keeps line breaks out of the token
# request's URL and of the log.
AUDIENCE = re.compile(r"[\x21-\x7e]{1,255}")
MAX_ATTEMPTS_LIMIT = 10

# The token's claims the not-authorized summary shows, in this order, when the token has them.
SUMMARY_CLAIMS = ("sub", "aud", "repository", "ref", "environment", "job_workflow_ref")

# Messages users act on (str.format templates); those of a failed exchange are in
# smgha/oidc_trust.py. The error titles stay written out at their StageError: docs/setup.md
# quotes them, and tests/test_terraform.py looks for each in this file.
SESSION_NAME_PROBLEM = "{value} is not a valid session name"
SESSION_NAME_HINT = "Use 2 to 64 characters: letters, digits and _+=,.@- (no spaces)."
AUDIENCE_PROBLEM = (
    "{value} is not an OIDC audience: 1 to 255 printable ASCII characters, no spaces or line breaks"
)
AUDIENCE_HINT = "Use the client ID of the account's IAM OIDC provider, usually {default}."
ROLE_ARN_PROBLEM = "{value} is not an IAM role ARN"
ROLE_ARN_HINT = "Pass the full ARN, e.g. arn:aws:iam::123456789012:role/github-deploy."
ACCOUNT_ID_PROBLEM = "{value} is not a 12-digit AWS account id"
ACCOUNT_ID_HINT = "E.g. allowed-account-ids: 111122223333,444455556666"
ROLE_ACCOUNT_PROBLEM = "the {name} role is in an account that is not allowed (allowed: {allowed})"
ROLE_ACCOUNT_HINT = "Check {name}, or add its account to allowed-account-ids."
ACCOUNT_NOT_ALLOWED = (
    "the credentials are for account {account}, which allowed-account-ids ({allowed}) does "
    "not list; nothing was exported."
)


@dataclass(frozen=True)
class Inputs:
    plan: RolePlan
    allowed_account_ids: tuple[str, ...]
    mask_account_id: bool


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
    role_arn = _role_arn("role-to-assume", values["role-to-assume"])
    region = aws_region("aws-region", values["aws-region"])
    chain_arn = values["chain-role-to-assume"]
    if chain_arn:
        _role_arn("chain-role-to-assume", chain_arn)
    session_name = values["role-session-name"] or default_session_name(runner.env)
    if not SESSION_NAME.fullmatch(session_name):
        raise InputError(
            "role-session-name",
            SESSION_NAME_PROBLEM.format(value=shown(session_name)),
            SESSION_NAME_HINT,
        )
    audience = values["audience"]
    if not AUDIENCE.fullmatch(audience):
        raise InputError(
            "audience",
            AUDIENCE_PROBLEM.format(value=shown(audience)),
            AUDIENCE_HINT.format(default=github_oidc.DEFAULT_AUDIENCE),
        )
    allowed = _account_ids(values["allowed-account-ids"])
    plan = RolePlan(
        role_arn=role_arn,
        session_name=session_name,
        region=region,
        duration_seconds=_oidc_number(values, "role-duration-seconds", 900, 43200),
        audience=audience,
        chain_role_arn=chain_arn,
        chain_duration_seconds=_oidc_number(values, "chain-role-duration-seconds", 900, 3600),
        max_attempts=_oidc_number(values, "retry-max-attempts", 1, MAX_ATTEMPTS_LIMIT),
    )
    final_account = credentials.account_of(chain_arn or role_arn)
    if allowed and final_account not in allowed:
        name = "chain-role-to-assume" if chain_arn else "role-to-assume"
        raise InputError(
            "allowed-account-ids",
            ROLE_ACCOUNT_PROBLEM.format(name=name, allowed=", ".join(allowed)),
            ROLE_ACCOUNT_HINT.format(name=name),
        )
    return Inputs(plan, allowed, mask_account_id=values.flag("mask-aws-account-id"))


def default_session_name(env: dict[str, str]) -> str:
    run_id, attempt = env.get("GITHUB_RUN_ID", ""), env.get("GITHUB_RUN_ATTEMPT", "")
    if run_id and attempt:
        return f"GitHubActions-{run_id}-{attempt}"
    return f"GitHubActions-{run_id}" if run_id else "GitHubActions"


def _oidc_number(values: InputValues, name: str, low: int, high: int) -> int:
    hint = f"E.g. {name}: {high if high <= 3600 else 3600}"
    return whole_number(name, values[name], low, high, hint)


def _role_arn(name: str, text: str) -> str:
    if not ROLE_ARN.fullmatch(text):
        raise InputError(name, ROLE_ARN_PROBLEM.format(value=shown(text)), ROLE_ARN_HINT)
    return text


def _account_ids(text: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    for account in ids:
        if not ACCOUNT_ID.fullmatch(account):
            raise InputError(
                "allowed-account-ids",
                ACCOUNT_ID_PROBLEM.format(value=shown(account)),
                ACCOUNT_ID_HINT,
            )
    return ids


# ---- checks after the exchange -------------------------------------------------------------


def check_account(assumed: Assumed, allowed: tuple[str, ...]) -> None:
    """Refuse credentials of an account not in `allowed` (empty: any account)."""
    account = assumed.credentials.account_id
    if allowed and account not in allowed:
        raise StageError(
            "account not allowed",
            ACCOUNT_NOT_ALLOWED.format(account=account or "(unknown)", allowed=", ".join(allowed)),
        )


def sts_error_message(error: StsError, plan: RolePlan, account: str) -> tuple[str, str]:
    """(title, detail) for a failed STS call."""
    if error.operation == "AssumeRoleWithWebIdentity" and error.code == "AccessDenied":
        return "not authorized", oidc_trust.not_authorized_message(error, plan.audience, account)
    if error.operation == "AssumeRole" and error.code == "AccessDenied":
        return "role chaining refused", oidc_trust.chaining_refused_message(error, plan)
    return "STS call failed", oidc_trust.sts_failure_message(error, plan)


# ---- the edge ---------------------------------------------------------------------------------


class StepMasks:
    """The values this step masked, each once, and summary text with them starred out."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._masked: set[str] = set()

    def add(self, value: str) -> None:
        if value and value not in self._masked:
            self._masked.add(value)
            self._runner.set_secret(value)

    def redact(self, text: str) -> str:
        """Text for the job summary, with masked account ids starred out."""
        for value in self._masked:
            text = text.replace(value, "***")
        return text


def main(
    runner: Runner | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    sts: StsClientFactory = credentials.sts_client,
    rng: random.Random | None = None,
) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        plan = inputs.plan
        masks = StepMasks(runner)
        if inputs.mask_account_id:  # before any line that could name them
            for arn in (plan.role_arn, plan.chain_role_arn):
                masks.add(credentials.account_of(arn))
        url, request_token = _token_request_settings(runner)
        try:
            assumed = credentials.assume(
                plan,
                url,
                request_token,
                mask=masks.add,
                log=runner.info,
                sleep=sleep,
                sts=sts,
                rng=rng,
            )
        except TokenRequestError as error:
            raise StageError(
                "OIDC token request failed", oidc_trust.token_error_message(error, plan)
            ) from None
        except StsError as error:
            raise _sts_failure(runner, error, plan) from None
        final = assumed.credentials
        if inputs.mask_account_id:
            masks.add(final.account_id)
        check_account(assumed, inputs.allowed_account_ids)
        _export(runner, plan, final)
        _summarise(runner, plan, final, masks.redact)

    return run_stage(STAGE, body, runner)


def _token_request_settings(runner: Runner) -> tuple[str, str]:
    """The runner's token-request URL and token; without them, a summary showing the
    permissions block and a StageError."""
    try:
        return github_oidc.token_request_settings(runner.env)
    except TokenPermissionMissing as error:
        message = oidc_trust.missing_permission_message(str(error))
        runner.summary.heading("oidc-auth: the job may not request an OIDC token", 3)
        runner.summary.paragraph(
            "Add this to the workflow, or to the job that runs oidc-auth:"
        ).code_block(oidc_trust.PERMISSIONS_BLOCK, "yaml").write()
        raise StageError("missing id-token permission", message) from None


def _sts_failure(runner: Runner, error: StsError, plan: RolePlan) -> StageError:
    """The StageError for a failed STS call; when the role does not trust the token, also a
    summary with the token's claims and a Condition that matches them."""
    title, detail = sts_error_message(error, plan, credentials.account_of(plan.role_arn))
    if title == "not authorized":
        claims = github_oidc.decode_claims(error.token)
        runner.summary.heading("oidc-auth: the role does not trust this job's token", 3)
        runner.summary.table(
            ["Claim", "Value"],
            [[name, str(claims[name])] for name in SUMMARY_CLAIMS if name in claims],
        )
        runner.summary.paragraph("A trust-policy Condition that matches them:")
        runner.summary.code_block(
            json.dumps(oidc_trust.trust_condition(claims, plan.audience), indent=2), "json"
        ).write()
    return StageError(title, detail)


def _export(runner: Runner, plan: RolePlan, final: AwsCredentials) -> None:
    """The credentials and the plan for later steps, and the step's outputs."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", final.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", final.secret_access_key),
        ("AWS_SESSION_TOKEN", final.session_token),
        ("AWS_REGION", plan.region),
        ("AWS_DEFAULT_REGION", plan.region),
        *plan.to_env().items(),
    ):
        runner.export_variable(name, value)
    runner.set_output("aws-account-id", final.account_id)
    runner.set_output("authenticated-arn", final.arn)
    runner.set_output("expiration", final.expiration_iso())
    runner.info(f"Authenticated as {final.arn} until {final.expiration_iso()}.")


def _summarise(
    runner: Runner, plan: RolePlan, final: AwsCredentials, redact: Callable[[str], str]
) -> None:
    rows = [
        ["Role", redact(plan.role_arn)],
        *([["Chained into", redact(plan.chain_role_arn)]] if plan.chain_role_arn else []),
        ["Authenticated as", redact(final.arn)],
        ["Region", plan.region],
        ["Expires", final.expiration_iso() + " (later stages refresh it while they wait)"],
    ]
    runner.summary.heading("AWS credentials (oidc-auth)", 3).table(
        ["Setting", "Value"], rows
    ).write()


if __name__ == "__main__":
    raise SystemExit(main())
