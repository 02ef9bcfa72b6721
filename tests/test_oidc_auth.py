"""oidc-auth: GitHub OIDC token -> STS -> exported, masked credentials that later stages refresh.

GitHub's token service is `tests/token_issuer.py` (real RS256 JWTs on 127.0.0.1); STS is the
moto server (`aws_env`) or, for the errors moto cannot produce, botocore's Stubber. moto's
STS, as found: it does not verify the web-identity token, the credentials' account is the
account of the role ARN, AssumedRoleUser.Arn is arn:aws:sts::<account>:assumed-role/<role>/<session>,
and Expiration is now + DurationSeconds (botocore itself rejects DurationSeconds < 900).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from smgha import credentials, github_oidc, oidc_trust
from smgha.aws_session import aws_session, refresh_windows
from smgha.credentials import Assumed, AwsCredentials, RolePlan
from smgha.errors import StageError
from smgha.runner import Runner
from smgha.stages import oidc_auth
from tests.job_log import STAGE_COMMANDS, file_commands, job_log
from tests.stage_helpers import GITHUB_CONTEXT, StageRun, run_main
from tests.token_issuer import TokenIssuer, running, verify

ROLE = "arn:aws:iam::111122223333:role/github-deploy"
CHAIN_ROLE = "arn:aws:iam::444455556666:role/deployer"
REGION = "us-east-1"
SESSION = "GitHubActions-4242-1"  # from GITHUB_CONTEXT's run id and attempt
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# ---- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token-request or SMGHA_OIDC_* variable of a real job leaks in; 127.0.0.1 is direct."""
    for name in list(os.environ):
        if name.startswith(("ACTIONS_ID_TOKEN_REQUEST_", "SMGHA_OIDC_")):
            monkeypatch.delenv(name)
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        if "127.0.0.1" not in current:
            monkeypatch.setenv(name, f"{current},127.0.0.1" if current else "127.0.0.1")


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    """GitHub's token service for a push to main of acme/churn."""
    yield from running()


@pytest.fixture
def environment_issuer() -> Iterator[TokenIssuer]:
    """The same for a job in the GitHub environment `production`."""
    yield from running(environment="production")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, as the runner creates them."""
    paths = {}
    for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        path = tmp_path / name.lower()
        path.write_text("")
        paths[name] = str(path)
    return paths


def run(
    inputs: dict[str, str],
    env: dict[str, str],
    sleeps: list[float] | None = None,
    sts: Callable[[str, AwsCredentials | None], Any] = credentials.sts_client,
) -> StageRun:
    sleeps = [] if sleeps is None else sleeps
    return run_main(
        lambda runner: oidc_auth.main(runner, sleep=sleeps.append, sts=sts),
        {"role-to-assume": ROLE, "aws-region": REGION, **inputs},
        **{**GITHUB_CONTEXT, **env},
    )


def read_heredocs(path: str) -> dict[str, str]:
    """NAME<<DELIM / value / DELIM entries of a GITHUB_ENV or GITHUB_OUTPUT file."""
    values: dict[str, str] = {}
    lines = Path(path).read_text().splitlines()
    index = 0
    while index < len(lines):
        name, delimiter = lines[index].split("<<", 1)
        end = lines.index(delimiter, index + 1)
        values[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return values


def first_use_is_its_mask(log: str, secret: str) -> list[str]:
    """Assert the first stdout line naming `secret` masks it; return every line naming it."""
    lines = [line for line in log.splitlines() if secret in line]
    assert lines, "the secret was never masked"
    assert lines[0] == f"::add-mask::{secret}"
    return lines


def assert_only_masked(log: str, secret: str) -> None:
    """`secret` appears on stdout only in its own ::add-mask:: line(s)."""
    for line in first_use_is_its_mask(log, secret):
        assert line == f"::add-mask::{secret}", line


def unescape(line: str) -> str:
    for escaped, text in (("%0A", "\n"), ("%0D", "\r"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        line = line.replace(escaped, text)
    return line


def stubbed_sts(stubber_setup: Callable[[Stubber], None]) -> tuple[Any, Stubber]:
    client = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=Config(signature_version=botocore.UNSIGNED),
    )
    stubber = Stubber(client)
    stubber_setup(stubber)
    stubber.activate()
    return client, stubber


def web_identity_params(duration: int = 3600) -> dict[str, Any]:
    return {
        "RoleArn": ROLE,
        "RoleSessionName": SESSION,
        "WebIdentityToken": ANY,
        "DurationSeconds": duration,
    }


def assume_answer(role_arn: str = ROLE) -> dict[str, Any]:
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    return {
        "Credentials": {
            "AccessKeyId": "ASIASTUBBEDKEY000001",
            "SecretAccessKey": "stubbed/secret+access+key",
            "SessionToken": "stubbed-session-token",
            "Expiration": datetime.now(timezone.utc) + timedelta(hours=1),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"AROASTUBBED:{SESSION}",
            "Arn": f"arn:aws:sts::{account}:assumed-role/{name}/{SESSION}",
        },
    }


# ---- the token issuer itself --------------------------------------------------------------------


def test_issuer_mints_rs256_tokens_with_githubs_claims(issuer: TokenIssuer) -> None:
    token = github_oidc.fetch_token(issuer.url, issuer.request_token, "sts.amazonaws.com")
    claims = verify(token, issuer.jwks())  # a real signature, checked with the JWKS key
    assert claims["iss"] == "https://token.actions.githubusercontent.com"
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == "repo:acme/churn:ref:refs/heads/main"
    assert claims["repository"] == "acme/churn" and claims["repository_owner"] == "acme"
    assert claims["ref"] == "refs/heads/main" and claims["run_id"] == "4242"
    assert claims["job_workflow_ref"].startswith("acme/churn/.github/workflows/")
    assert "environment" not in claims
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert github_oidc.decode_claims(token) == claims

    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(f"{issuer.base_url}/.well-known/jwks", timeout=5) as response:
        assert json.load(response) == issuer.jwks()
    with pytest.raises(github_oidc.TokenRequestError) as refused:
        github_oidc.fetch_token(issuer.url, "wrong-request-token", "sts.amazonaws.com")
    assert refused.value.status == 401 and not refused.value.transient
    assert issuer.requests == [("sts.amazonaws.com", 200), ("sts.amazonaws.com", 401)]


def test_issuer_in_an_environment(environment_issuer: TokenIssuer) -> None:
    token = github_oidc.fetch_token(environment_issuer.url, environment_issuer.request_token, "x")
    claims = verify(token, environment_issuer.jwks())
    assert claims["sub"] == "repo:acme/churn:environment:production"
    assert claims["environment"] == "production" and claims["aud"] == "x"


# ---- the happy path ----------------------------------------------------------------------------


def test_exchanges_the_token_and_exports_masked_credentials(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    result = run({"mask-aws-account-id": "true"}, {**issuer.env(), **files})
    assert result.code == 0, result.log
    assert result.errors == [] and result.warnings == []

    outputs = read_heredocs(files["GITHUB_OUTPUT"])
    assert outputs == result.outputs
    assert outputs["aws-account-id"] == "111122223333"
    assert outputs["authenticated-arn"] == (
        f"arn:aws:sts::111122223333:assumed-role/github-deploy/{SESSION}"
    )
    assert ISO_UTC.fullmatch(outputs["expiration"])
    expires = datetime.fromisoformat(outputs["expiration"].replace("Z", "+00:00"))
    lifetime = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 3400 < lifetime <= 3601  # moto: now + DurationSeconds (default 3600)

    exported = read_heredocs(files["GITHUB_ENV"])
    assert exported["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert exported["AWS_SECRET_ACCESS_KEY"] and exported["AWS_SESSION_TOKEN"]
    assert exported["AWS_REGION"] == exported["AWS_DEFAULT_REGION"] == REGION
    assert {k: v for k, v in exported.items() if k.startswith("SMGHA_OIDC_")} == {
        "SMGHA_OIDC_ROLE_ARN": ROLE,
        "SMGHA_OIDC_AUDIENCE": "sts.amazonaws.com",
        "SMGHA_OIDC_SESSION_NAME": SESSION,
        "SMGHA_OIDC_DURATION_SECONDS": "3600",
        "SMGHA_OIDC_CHAIN_ROLE_ARN": "",
        "SMGHA_OIDC_CHAIN_DURATION_SECONDS": "",
        "SMGHA_OIDC_RETRY_MAX_ATTEMPTS": "3",
    }

    # One token, for the default audience, then exactly one exchange.
    assert issuer.requests == [("sts.amazonaws.com", 200)]
    assert len(issuer.tokens) == 1
    assert github_oidc.decode_claims(issuer.tokens[0])["aud"] == "sts.amazonaws.com"

    # Every secret is masked before any other stdout line could show it.
    for secret in (
        exported["AWS_ACCESS_KEY_ID"],
        exported["AWS_SECRET_ACCESS_KEY"],
        exported["AWS_SESSION_TOKEN"],
        issuer.tokens[0],
    ):
        assert_only_masked(result.log, secret)
    first_use_is_its_mask(result.log, "111122223333")
    assert "Authenticated as arn:aws:sts::111122223333" in result.log  # after its mask

    summary = Path(files["GITHUB_STEP_SUMMARY"]).read_text()
    assert "AWS credentials (oidc-auth)" in summary
    assert "111122223333" not in summary and "arn:aws:iam::***:role/github-deploy" in summary

    # The exported credentials work.
    sts = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=exported["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"] == outputs["authenticated-arn"]


def test_the_account_id_is_not_masked_by_default(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    """GitHub's runner drops a job output that contains any masked value (actions/runner
    JobExtension.cs: "Skip output '...' since it may contain secret"), so a masked account id
    would empty every ARN output of the reusable workflows; the credentials stay masked."""
    result = run({}, {**issuer.env(), **files})
    assert result.code == 0, result.log
    masks = {
        line.removeprefix("::add-mask::")
        for line in result.log.splitlines()
        if line.startswith("::add-mask::")
    }
    assert "111122223333" not in masks
    exported = read_heredocs(files["GITHUB_ENV"])
    assert {
        exported["AWS_ACCESS_KEY_ID"],
        exported["AWS_SECRET_ACCESS_KEY"],
        issuer.tokens[0],
    } <= masks
    assert not any("111122223333" in mask for mask in masks)
    assert result.outputs["authenticated-arn"].startswith("arn:aws:sts::111122223333:")


def test_inputs_shape_the_session(aws_env: str, issuer: TokenIssuer, files: dict[str, str]) -> None:
    result = run(
        {
            "role-session-name": "release@acme.example",
            "role-duration-seconds": "900",
            "audience": "https://github.com/acme",
            "mask-aws-account-id": "false",
            "allowed-account-ids": " 999988887777 , 111122223333",
        },
        {**issuer.env(), **files},
    )
    assert result.code == 0, result.log
    assert result.outputs["authenticated-arn"].endswith("/github-deploy/release@acme.example")
    expires = datetime.fromisoformat(result.outputs["expiration"].replace("Z", "+00:00"))
    assert 800 < (expires - datetime.now(timezone.utc)).total_seconds() <= 901
    assert issuer.requests == [("https://github.com/acme", 200)]
    assert "::add-mask::111122223333" not in result.log  # not asked to
    summary = Path(files["GITHUB_STEP_SUMMARY"]).read_text()
    assert "arn:aws:iam::111122223333:role/github-deploy" in summary
    exported = read_heredocs(files["GITHUB_ENV"])
    assert exported["SMGHA_OIDC_AUDIENCE"] == "https://github.com/acme"
    assert exported["SMGHA_OIDC_DURATION_SECONDS"] == "900"


def test_role_chaining_into_another_account(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    result = run(
        {
            "chain-role-to-assume": CHAIN_ROLE,
            "chain-role-duration-seconds": "900",
            "allowed-account-ids": "444455556666",
            "mask-aws-account-id": "true",
        },
        {**issuer.env(), **files},
    )
    assert result.code == 0, result.log
    assert result.outputs["aws-account-id"] == "444455556666"
    assert result.outputs["authenticated-arn"] == (
        f"arn:aws:sts::444455556666:assumed-role/deployer/{SESSION}"
    )
    expires = datetime.fromisoformat(result.outputs["expiration"].replace("Z", "+00:00"))
    assert (expires - datetime.now(timezone.utc)).total_seconds() <= 901  # the chained session

    exported = read_heredocs(files["GITHUB_ENV"])
    assert exported["SMGHA_OIDC_CHAIN_ROLE_ARN"] == CHAIN_ROLE
    assert exported["SMGHA_OIDC_CHAIN_DURATION_SECONDS"] == "900"
    for account in ("111122223333", "444455556666"):
        first_use_is_its_mask(result.log, account)
    masks = [
        line.removeprefix("::add-mask::")
        for line in result.log.splitlines()
        if line.startswith("::add-mask::")
    ]
    # Two sets of credentials (the first role's too) and the token were masked.
    assert len(masks) == len(set(masks)) == 2 + 3 + 3 + 1
    assert_only_masked(result.log, exported["AWS_SECRET_ACCESS_KEY"])
    assert "Chaining into arn:aws:iam::444455556666:role/deployer (AssumeRole)." in result.log

    sts = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=exported["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Account"] == "444455556666"


# ---- refusals before anything happens --------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ({"allowed-account-ids": "999988887777"}, "allowed-account-ids"),
        (
            {"chain-role-to-assume": CHAIN_ROLE, "allowed-account-ids": "111122223333"},
            "allowed-account-ids",
        ),
    ],
    ids=["role", "chained-role"],
)
def test_an_account_not_allowed_is_refused_and_nothing_exported(
    issuer: TokenIssuer, files: dict[str, str], inputs: dict[str, str], named: str
) -> None:
    result = run(inputs, {**issuer.env(), **files})
    assert result.code == 1
    assert len(result.errors) == 1 and f"input '{named}'" in result.errors[0]
    assert "not allowed" in result.errors[0]
    assert Path(files["GITHUB_ENV"]).read_text() == ""
    assert Path(files["GITHUB_OUTPUT"]).read_text() == "" and result.outputs == {}
    assert issuer.requests == []  # refused before a token was even requested


def test_credentials_of_another_account_are_refused_after_the_exchange() -> None:
    def creds(arn: str) -> AwsCredentials:
        return AwsCredentials("AK", "SK", "ST", datetime.now(timezone.utc), arn)

    assumed = Assumed(creds("arn:aws:sts::555566667777:assumed-role/r/s"), creds(""), "t")
    with pytest.raises(StageError) as refused:
        oidc_auth.check_account(assumed, ("111122223333",))
    assert "555566667777" in refused.value.detail and "nothing was exported" in refused.value.detail
    oidc_auth.check_account(assumed, ())
    oidc_auth.check_account(assumed, ("111122223333", "555566667777"))


@pytest.mark.parametrize(
    "name",
    ["x", "a" * 65, "has space", "naïve-session", "semi;colon", "slash/name"],
)
def test_a_bad_session_name_is_refused(
    issuer: TokenIssuer, files: dict[str, str], name: str
) -> None:
    result = run({"role-session-name": name}, {**issuer.env(), **files})
    assert result.code == 1
    assert len(result.errors) == 1 and "input 'role-session-name'" in result.errors[0]
    assert issuer.requests == [] and Path(files["GITHUB_ENV"]).read_text() == ""


def test_default_session_name() -> None:
    assert oidc_auth.default_session_name({"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "2"}) == (
        "GitHubActions-7-2"
    )
    assert oidc_auth.default_session_name({}) == "GitHubActions"
    assert oidc_auth.SESSION_NAME.fullmatch("a" * 64) and oidc_auth.SESSION_NAME.fullmatch(
        "w+=,.@-_9"
    )


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ({"role-to-assume": "github-deploy"}, "role-to-assume"),
        ({"role-to-assume": "arn:aws:iam::12345:role/x"}, "role-to-assume"),
        ({"role-to-assume": ""}, "role-to-assume"),
        ({"aws-region": "mars"}, "aws-region"),
        ({"aws-region": ""}, "aws-region"),
        ({"role-duration-seconds": "899"}, "role-duration-seconds"),
        ({"role-duration-seconds": "43201"}, "role-duration-seconds"),
        ({"role-duration-seconds": "1h"}, "role-duration-seconds"),
        ({"chain-role-duration-seconds": "3601"}, "chain-role-duration-seconds"),
        ({"chain-role-to-assume": "arn:aws:iam::444455556666:user/x"}, "chain-role-to-assume"),
        ({"retry-max-attempts": "0"}, "retry-max-attempts"),
        ({"retry-max-attempts": "11"}, "retry-max-attempts"),
        ({"allowed-account-ids": "12345"}, "allowed-account-ids"),
        ({"mask-aws-account-id": "yes"}, "mask-aws-account-id"),
    ],
)
def test_bad_inputs_are_refused_before_anything_happens(
    issuer: TokenIssuer, files: dict[str, str], inputs: dict[str, str], named: str
) -> None:
    result = run(inputs, {**issuer.env(), **files})
    assert result.code == 1
    assert len(result.errors) == 1 and f"input '{named}'" in result.errors[0], result.errors
    assert issuer.requests == []
    assert Path(files["GITHUB_ENV"]).read_text() == ""


# ---- errors that say what to change --------------------------------------------------------------


def test_missing_id_token_permission_shows_the_permissions_block(files: dict[str, str]) -> None:
    result = run({}, files)  # no ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN
    assert result.code == 1
    assert len(result.errors) == 1
    error = unescape(result.errors[0])
    assert "title=oidc-auth: missing id-token permission" in error
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in error
    block = "permissions:\n  id-token: write # to request the OIDC token\n  contents: read"
    assert block in error
    summary = Path(files["GITHUB_STEP_SUMMARY"]).read_text()
    assert f"```yaml\n{block}" in summary
    assert Path(files["GITHUB_ENV"]).read_text() == ""


def test_not_authorized_shows_the_claims_and_a_matching_condition(
    environment_issuer: TokenIssuer, files: dict[str, str]
) -> None:
    client, stubber = stubbed_sts(
        lambda stub: stub.add_client_error(
            "assume_role_with_web_identity",
            service_error_code="AccessDenied",
            service_message="Not authorized to perform sts:AssumeRoleWithWebIdentity",
            http_status_code=403,
            expected_params=web_identity_params(),
        )
    )
    sleeps: list[float] = []
    result = run({}, {**environment_issuer.env(), **files}, sleeps, sts=lambda _r, _c: client)
    stubber.assert_no_pending_responses()
    assert result.code == 1 and sleeps == []  # AccessDenied is not retried
    error = unescape(result.errors[0])
    assert "title=oidc-auth: not authorized" in error
    assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in error
    assert "sub: repo:acme/churn:environment:production" in error
    assert "aud: sts.amazonaws.com" in error
    assert '"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"' in error
    assert (
        '"token.actions.githubusercontent.com:sub": "repo:acme/churn:environment:production"'
        in error
    )
    assert '"StringLike"' in error and "repo:acme/churn:*" in error
    assert "GitHub environment 'production'" in error and ":environment:" in error
    assert "oidc-provider/token.actions.githubusercontent.com" in error
    condition = json.loads(error[error.index("{\n") : error.index("\n}\n") + 2])
    assert condition == {
        "Condition": {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": "repo:acme/churn:environment:production",
            }
        }
    }
    summary = Path(files["GITHUB_STEP_SUMMARY"]).read_text()
    assert "| sub | repo:acme/churn:environment:production |" in summary
    assert "| environment | production |" in summary
    assert '```json\n{\n  "Condition"' in summary
    assert_only_masked(result.log, environment_issuer.tokens[0])
    assert Path(files["GITHUB_ENV"]).read_text() == ""


def test_not_authorized_outside_an_environment_explains_the_environment_sub() -> None:
    error = credentials.StsError(
        "AssumeRoleWithWebIdentity", ROLE, "AccessDenied", "Not authorized", token="not-a-jwt"
    )
    message = oidc_trust.not_authorized_message(error, "sts.amazonaws.com", "111122223333")
    assert "sub: (unknown)" in message
    assert "Inside a GitHub environment the sub is repo:ORG/REPO:environment:NAME" in message


# ---- retries -------------------------------------------------------------------------------------


def test_token_fetch_retries_server_errors_with_jitter(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    issuer.fail_next(2, 500)
    sleeps: list[float] = []
    result = run({}, {**issuer.env(), **files}, sleeps)
    assert result.code == 0, result.log
    assert [status for _, status in issuer.requests] == [500, 500, 200]
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # doubling, half of it random
    retries = [line for line in result.log.splitlines() if "Retrying in" in line]
    assert len(retries) == 2
    assert "attempt 1 of 3" in retries[0] and "HTTP 500" in retries[0]
    assert "attempt 2 of 3" in retries[1]
    assert_only_masked(result.log, issuer.tokens[0])


def test_token_fetch_retries_are_bounded(issuer: TokenIssuer, files: dict[str, str]) -> None:
    issuer.fail_next(50, 502)
    sleeps: list[float] = []
    result = run({"retry-max-attempts": "4"}, {**issuer.env(), **files}, sleeps)
    assert result.code == 1
    assert len(issuer.requests) == 4 and len(sleeps) == 3
    assert "gave up after 4 attempts" in result.errors[0]
    assert Path(files["GITHUB_ENV"]).read_text() == ""


@pytest.mark.parametrize("status", [400, 403, 404])
def test_token_fetch_4xx_is_not_retried(
    issuer: TokenIssuer, files: dict[str, str], status: int
) -> None:
    issuer.fail_next(1, status)
    sleeps: list[float] = []
    result = run({}, {**issuer.env(), **files}, sleeps)
    assert result.code == 1 and sleeps == []
    assert len(issuer.requests) == 1
    assert f"HTTP {status}" in result.errors[0]
    assert "title=oidc-auth: OIDC token request failed" in unescape(result.errors[0])


def test_a_wrong_request_token_is_not_retried(issuer: TokenIssuer, files: dict[str, str]) -> None:
    env = {**issuer.env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "stale", **files}
    sleeps: list[float] = []
    result = run({}, env, sleeps)
    assert result.code == 1 and sleeps == [] and issuer.requests == [("sts.amazonaws.com", 401)]
    assert "id-token: write" in unescape(result.errors[0])


def test_a_token_request_that_times_out_is_retried(aws_env: str, issuer: TokenIssuer) -> None:
    issuer.stall_next(1, 3.0)
    sleeps: list[float] = []
    logs: list[str] = []
    plan = RolePlan(ROLE, SESSION, REGION)
    _, request_token = github_oidc.token_request_settings(issuer.env())
    assumed = credentials.assume(
        plan,
        issuer.url,
        request_token,
        mask=lambda _: None,
        log=logs.append,
        sleep=sleeps.append,
        token_timeout=0.3,
    )
    assert assumed.credentials.account_id == "111122223333"
    assert len(sleeps) == 1 and any("timed out" in line for line in logs)
    assert len(issuer.tokens) == 1


@pytest.mark.parametrize(
    ("code", "message", "retried"),
    [
        ("Throttling", "Rate exceeded", True),
        ("IDPCommunicationError", "Couldn't reach the identity provider", True),
        (
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements",
            True,
        ),
        ("InvalidIdentityToken", "Incorrect token audience", False),
        ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration", False),
    ],
)
def test_sts_transient_errors_are_retried(
    issuer: TokenIssuer, files: dict[str, str], code: str, message: str, retried: bool
) -> None:
    def setup(stub: Stubber) -> None:
        stub.add_client_error(
            "assume_role_with_web_identity",
            service_error_code=code,
            service_message=message,
            http_status_code=400,
            expected_params=web_identity_params(),
        )
        if retried:
            stub.add_response(
                "assume_role_with_web_identity", assume_answer(), web_identity_params()
            )

    client, stubber = stubbed_sts(setup)
    sleeps: list[float] = []
    result = run({}, {**issuer.env(), **files}, sleeps, sts=lambda _r, _c: client)
    stubber.assert_no_pending_responses()
    assert len(issuer.tokens) == 1  # the same token is sent again
    if retried:
        assert result.code == 0, result.log
        assert len(sleeps) == 1 and f"{code}: {message}" in result.log
        assert result.outputs["authenticated-arn"].endswith(f"/github-deploy/{SESSION}")
    else:
        assert result.code == 1 and sleeps == []
        assert code in result.errors[0]
        assert Path(files["GITHUB_ENV"]).read_text() == ""


def test_backoff_is_jittered_and_capped() -> None:
    rng = random.Random(5)
    first = [credentials.backoff_delay(1, rng) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in first) and len(set(first)) > 1
    assert all(2.0 <= credentials.backoff_delay(3, rng) <= 4.0 for _ in range(50))
    assert all(credentials.backoff_delay(20, rng) <= credentials.BACKOFF_CAP for _ in range(50))


# ---- credentials that last -------------------------------------------------------------------------


class FakeClock:
    """botocore's notion of now: the real time plus `offset` seconds (a wait, minus the waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)


def signing_keys(client: Any) -> list[str]:
    """The access key id of every request `client` sends, in order."""
    keys: list[str] = []

    def record(request: Any, **_: Any) -> None:
        authorization = request.headers.get("Authorization", b"")
        text = authorization.decode() if isinstance(authorization, bytes) else authorization
        keys.append(re.search(r"Credential=([^/]+)/", text).group(1))  # type: ignore[union-attr]

    client.meta.events.register("before-send", record)
    return keys


@pytest.mark.parametrize("chain", [False, True], ids=["role", "chained-role"])
def test_a_long_wait_refreshes_the_credentials_itself(
    aws_env: str, issuer: TokenIssuer, chain: bool
) -> None:
    from smgha.backends.aws import SageMakerBackend

    plan = RolePlan(
        ROLE,
        SESSION,
        REGION,
        duration_seconds=900,
        chain_role_arn=CHAIN_ROLE if chain else "",
        chain_duration_seconds=900,
    )
    env = {**os.environ, **issuer.env(), **plan.to_env(), "AWS_REGION": REGION}
    clock = FakeClock()
    masks: list[str] = []
    logs: list[str] = []
    session = aws_session(
        env, clock=clock.now, sleep=lambda s: None, log=logs.append, mask=masks.append
    )
    assert issuer.tokens == []  # nothing happens until the first call

    backend = SageMakerBackend(REGION, session=session)  # what a waiting stage polls with
    keys = signing_keys(backend.clients.sagemaker)
    identity = session.client("sts", region_name=REGION).get_caller_identity()
    account, role = ("444455556666", "deployer") if chain else ("111122223333", "github-deploy")
    assert identity["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/{SESSION}"
    assert len(issuer.tokens) == 1

    # A 15-minute session, polled every few minutes: botocore refreshes it from 150 s before
    # expiry (a sixth of the session) by calling back into credentials.assume().
    for offset in (0, 300, 600, 800):
        clock.offset = offset
        backend.clients.sagemaker.list_pipelines()
        expected_tokens = 1 if offset < 800 else 2
        assert len(issuer.tokens) == expected_tokens, f"at +{offset} s"

    assert keys[:3] == [keys[0]] * 3 and keys[3] != keys[0]  # new STS credentials signed it
    assert [status for _, status in issuer.requests] == [200, 200]
    assert keys[3] in masks and issuer.tokens[1] in masks  # masked for the rest of the job
    assert any("refreshed the AWS credentials" in line for line in logs)


def test_a_later_stage_follows_the_plan_oidc_auth_exported(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    result = run({"chain-role-to-assume": CHAIN_ROLE}, {**issuer.env(), **files})
    assert result.code == 0, result.log
    exported = read_heredocs(files["GITHUB_ENV"])
    later_step = {**os.environ, **exported, **issuer.env()}
    masks: list[str] = []
    session = aws_session(later_step, mask=masks.append, log=lambda _: None)
    identity = session.client("sts", region_name=REGION).get_caller_identity()
    assert identity["Arn"] == result.outputs["authenticated-arn"]
    assert len(issuer.tokens) == 2  # its own token: the refresher never needs oidc-auth again
    assert session.get_credentials().method == "smgha-github-oidc"


def test_without_the_plan_or_the_token_variables_it_is_a_plain_session(
    aws_env: str, issuer: TokenIssuer
) -> None:
    plan_env = RolePlan(ROLE, SESSION, REGION).to_env()
    logs: list[str] = []
    masks: list[str] = []
    for env in ({**os.environ}, {**os.environ, **plan_env}, {**os.environ, **issuer.env()}):
        session = aws_session(env, log=logs.append, mask=masks.append)
        assert session.get_credentials().method == "env"
    assert issuer.requests == []

    session = aws_session(
        {**os.environ, **plan_env, **issuer.env()}, log=logs.append, mask=masks.append
    )
    chain = session._session.get_component("credential_provider")
    methods = [provider.METHOD for provider in chain.providers]
    assert methods.index("smgha-github-oidc") == methods.index("env") - 1
    assert issuer.requests == []  # deferred until a call needs them
    assert logs == [] and masks == []  # nothing to log or mask before the first refresh


def test_the_plan_round_trips_through_the_environment() -> None:
    plan = RolePlan(ROLE, "s-1", "eu-west-1", 1200, "aud", CHAIN_ROLE, 900, 5)
    env = {**plan.to_env(), "AWS_REGION": "eu-west-1"}
    assert RolePlan.from_env(env) == plan
    assert RolePlan.from_env({}) is None
    with pytest.raises(ValueError, match="SMGHA_OIDC_DURATION_SECONDS"):
        RolePlan.from_env({**env, "SMGHA_OIDC_DURATION_SECONDS": "soon"})
    assert refresh_windows(3600) == (900, 600)
    assert refresh_windows(900) == (225, 150)


def test_the_stage_runs_from_a_runner_without_injections(issuer: TokenIssuer) -> None:
    # main() with its real defaults: refused input, one annotation, exit code 1.
    import io

    out = io.StringIO()
    runner = Runner(env={"INPUT_AWS_REGION": REGION}, stdout=out)
    assert oidc_auth.main(runner) == 1
    assert "input 'role-to-assume'" in out.getvalue()


# ---- log hygiene: nothing printed can switch the masks off ----------------------------------


def test_an_audience_that_would_stop_commands_is_refused_before_anything_is_printed(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    # Issue 13, defect 1: the audience was echoed before the masks, so its second line,
    # `::stop-commands::T`, made the runner ignore every ::add-mask:: after it and print
    # the OIDC token and the three AWS credentials in clear.
    result = run({"audience": "sts.amazonaws.com\n::stop-commands::T"}, {**issuer.env(), **files})
    log = job_log(result.log)
    assert result.code == 1
    assert [command.name for command in log.commands] == ["error"]
    assert "input 'audience'" in log.commands[0].data
    assert log.ignored == [] and log.shown == []
    assert issuer.requests == []
    assert file_commands(files["GITHUB_ENV"]) == {} == file_commands(files["GITHUB_OUTPUT"])


@pytest.mark.parametrize(
    "audience",
    ["sts.amazonaws.com ::stop-commands::T", "x" * 256, "sts.amazonaws.com\u2028::error::x"],
)
def test_an_audience_outside_printable_ascii_or_too_long_is_refused(
    issuer: TokenIssuer, files: dict[str, str], audience: str
) -> None:
    result = run({"audience": audience}, {**issuer.env(), **files})
    assert result.code == 1
    assert len(result.errors) == 1 and "input 'audience'" in result.errors[0]
    assert issuer.requests == []


def test_no_secret_reaches_the_job_log_the_runner_shows(
    aws_env: str, issuer: TokenIssuer, files: dict[str, str]
) -> None:
    result = run({"audience": "sts.amazonaws.com"}, {**issuer.env(), **files})
    assert result.code == 0, result.log
    log = job_log(result.log)
    assert log.ignored == []
    assert {command.name for command in log.commands} <= STAGE_COMMANDS
    exported = file_commands(files["GITHUB_ENV"])
    secrets = [
        issuer.tokens[0],
        exported["AWS_ACCESS_KEY_ID"],
        exported["AWS_SECRET_ACCESS_KEY"],
        exported["AWS_SESSION_TOKEN"],
    ]
    assert set(secrets) <= set(log.masks)
    shown = "\n".join(log.shown)
    assert "Requesting a GitHub OIDC token" in shown
    for secret in secrets:
        assert secret not in shown
    # The first input the log names (the audience) comes after the token's mask.
    lines = result.log.splitlines()
    named = next(i for i, line in enumerate(lines) if "sts.amazonaws.com" in line)
    assert lines.index(f"::add-mask::{issuer.tokens[0]}") < named


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::１１１１２２２２３３３３:role/github-deploy",  # full-width digits
        "arn:aws:iam::111122223333:role/gíthub-deploy",  # a non-ASCII letter
        "arn:aws:iam::111122223333:role/github-deploy\n::error::x",
    ],
)
def test_a_role_arn_outside_ascii_is_refused(
    issuer: TokenIssuer, files: dict[str, str], role: str
) -> None:
    # IAM's patterns are Java's, whose \d and \w are ASCII; Python's take any Unicode digit.
    result = run({"role-to-assume": role}, {**issuer.env(), **files})
    assert result.code == 1
    assert len(result.errors) == 1 and "input 'role-to-assume'" in result.errors[0]
    assert issuer.requests == []
