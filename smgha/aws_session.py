"""The boto3 session every AWS call of a stage goes through, with credentials that renew.

When a stage asks `aws_session()` for a session and finds the plan oidc-auth exported
(SMGHA_OIDC_*, smgha/credentials.py `RolePlan.to_env`) plus the runner's token-request
variables, the session's credentials are refreshable: botocore calls back here before they
expire, which fetches a fresh GitHub token and assumes the role(s) again
(`credentials.assume`), so a pipeline wait or a guarded deployment that outlasts the session
(chained sessions are capped at one hour) keeps working with no user action. Without them it
is boto3's default chain (local runs, other credential actions, the moto tests).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials

from smgha.credentials import Log, Mask, RolePlan, Sleep, StsClientFactory, assume, sts_client
from smgha.github_oidc import TOKEN_REQUEST_VARIABLE, TOKEN_URL_VARIABLE, token_request_settings

__all__ = ["GitHubOidcProvider", "aws_session", "refresh_windows"]

Clock = Callable[[], datetime]


class _RefreshingCredentials(DeferredRefreshableCredentials):
    """Fetched on first use, refreshed before expiry, with windows that suit short sessions.

    botocore's defaults (refresh from 15 minutes before expiry, block from 10) would refresh
    a 15-minute session on every call; the windows here shrink with the session's length.
    """

    def __init__(
        self,
        refresh_using: Callable[[], dict[str, str]],
        method: str,
        time_fetcher: Clock,
        advisory_timeout: int,
        mandatory_timeout: int,
    ) -> None:
        super().__init__(refresh_using, method, time_fetcher=time_fetcher)
        self._advisory_refresh_timeout = advisory_timeout
        self._mandatory_refresh_timeout = mandatory_timeout


def refresh_windows(lifetime_seconds: int) -> tuple[int, int]:
    """(advisory, mandatory) seconds before expiry: botocore's 15/10 minutes, or a quarter
    and a sixth of a shorter session."""
    return min(15 * 60, lifetime_seconds // 4), min(10 * 60, lifetime_seconds // 6)


def _local_now() -> datetime:
    return datetime.now(timezone.utc)


class GitHubOidcProvider(CredentialProvider):
    """A botocore credential provider that gets (and re-gets) credentials through `assume`."""

    METHOD = "smgha-github-oidc"
    CANONICAL_NAME = "custom-smgha-github-oidc"

    def __init__(
        self,
        plan: RolePlan,
        env: Mapping[str, str],
        *,
        log: Log,
        mask: Mask,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        sts: StsClientFactory = sts_client,
    ) -> None:
        super().__init__()
        self.plan = plan
        self._env = dict(env)
        self._clock = clock or _local_now
        self._sleep = sleep or time.sleep
        self._log = log
        self._mask = mask
        self._sts = sts
        self.refreshes = 0  # how many times credentials were fetched

    def load(self) -> DeferredRefreshableCredentials:
        lifetime = (
            self.plan.chain_duration_seconds
            if self.plan.chain_role_arn
            else self.plan.duration_seconds
        )
        advisory, mandatory = refresh_windows(lifetime)
        return _RefreshingCredentials(self.refresh, self.METHOD, self._clock, advisory, mandatory)

    def refresh(self) -> dict[str, str]:
        """Fresh credentials in botocore's metadata form (a new token, the role(s) again)."""
        url, request_token = token_request_settings(self._env)
        assumed = assume(
            self.plan,
            url,
            request_token,
            mask=self._mask,
            log=self._log,
            sleep=self._sleep,
            sts=self._sts,
        )
        self.refreshes += 1
        credentials = assumed.credentials
        if self.refreshes > 1:
            self._log(
                f"smgha: refreshed the AWS credentials (they expire {credentials.expiration_iso()})."
            )
        return {
            "access_key": credentials.access_key_id,
            "secret_key": credentials.secret_access_key,
            "token": credentials.session_token,
            "expiry_time": credentials.expiration.isoformat(),
        }


def aws_session(
    env: Mapping[str, str] | None = None,
    *,
    log: Log,
    mask: Mask,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
) -> boto3.Session:
    """The boto3 session every AWS call of a stage goes through.

    With the SMGHA_OIDC_* plan oidc-auth exported and the runner's token-request variables
    (`env`, default os.environ), its credentials come first from a `GitHubOidcProvider`
    inserted ahead of the environment variables in botocore's provider chain: fetched on
    first use and refreshed (a fresh GitHub token, the role(s) assumed again) before they
    expire. Otherwise it is a plain `boto3.Session()`.

    `log` and `mask` are the stage's (runner.info, runner.set_secret): a refresh logs one
    line and masks every new secret. The runner reads `::add-mask::` from any step's stdout,
    so credentials minted in a later stage are masked for the rest of the job too. `clock`
    and `sleep` are for tests.
    """
    env = os.environ if env is None else env
    plan = RolePlan.from_env(env)
    if plan is None or not env.get(TOKEN_URL_VARIABLE) or not env.get(TOKEN_REQUEST_VARIABLE):
        return boto3.Session()
    botocore_session = botocore.session.get_session()
    provider = GitHubOidcProvider(plan, env, log=log, mask=mask, clock=clock, sleep=sleep)
    botocore_session.get_component("credential_provider").insert_before("env", provider)
    return boto3.Session(botocore_session=botocore_session)
