"""What oidc-auth tells a user to change when it gets no credentials.

A job needs `id-token: write` to request its GitHub OIDC token, and the role needs a trust
policy whose Condition matches the token's claims (GitHub docs, "Configuring OpenID Connect
in Amazon Web Services"). When either is missing, or STS or GitHub's token service refuses,
the messages here name what to change: the permissions block, the claims the token had and a
Condition that would match them, the other role's trust policy for chaining. The stage
(smgha/stages/oidc_auth.py) chooses the error titles and writes the job summary.
"""

from __future__ import annotations

import json

from smgha import github_oidc
from smgha.credentials import RolePlan, StsError
from smgha.github_oidc import TokenRequestError

# The workflow text a job needs to request OIDC tokens, shown when it cannot.
PERMISSIONS_BLOCK = "permissions:\n  id-token: write # to request the OIDC token\n  contents: read # to check out the code"
GITHUB_PROVIDER = "token.actions.githubusercontent.com"

# Messages users act on (str.format templates).
MISSING_PERMISSION = (
    "{problem}.\n"
    "Add this to the workflow (top level) or to the job that runs oidc-auth:\n\n"
    "{permissions}\n\n"
    "A job-level permissions block replaces the workflow's, so list both there. Pull requests "
    "from forks never get id-token: write."
)
ENVIRONMENT_SUB_NOTE = (
    "This job runs in the GitHub environment {environment!r}, so its sub is "
    "repo:{repository}:environment:{environment}, not ...:ref:<branch>."
)
NO_ENVIRONMENT_SUB_NOTE = (
    "Inside a GitHub environment the sub is repo:ORG/REPO:environment:NAME instead of "
    "repo:ORG/REPO:ref:refs/heads/BRANCH."
)
NOT_AUTHORIZED = (
    "STS refused AssumeRoleWithWebIdentity on {role_arn}: {code}: {message}\n"
    "The role's trust policy does not accept this job's token, whose claims are:\n"
    "  sub: {sub}\n  aud: {aud}\n"
    'The trust policy needs Principal {{"Federated": "arn:aws:iam::{account}:oidc-provider/'
    '{provider}"}}, '
    "Action sts:AssumeRoleWithWebIdentity and a Condition that matches, e.g.:\n"
    "{condition}\n"
    "or, for every branch and environment of the repository:\n{wildcard}\n"
    "{environment_note} The aud must also be a client ID of the IAM OIDC provider."
)
CHAINING_REFUSED = (
    "{error}\nThe trust policy of {chain_role_arn} must allow Principal "
    '{{"AWS": "{role_arn}"}} with Action sts:AssumeRole, and the policy of '
    "{role_arn} must allow sts:AssumeRole on it."
)
DURATION_HINT = "\nLower the duration input, or raise the role's maximum session duration."
IDENTITY_TOKEN_HINT = (
    "\nCheck that the account has an IAM OIDC provider for https://{provider} "
    "with client ID {audience!r}."
)
TOKEN_REFUSED = (
    "{error}. The runner's request token was refused: the job may have lost "
    "`id-token: write` (a job-level permissions block replaces the workflow's), or the "
    "request token expired.\n{permissions}"
)
TOKEN_GAVE_UP = (
    "{error} (gave up after {attempts} attempts; raise retry-max-attempts or re-run the job)."
)


def missing_permission_message(problem: str) -> str:
    return MISSING_PERMISSION.format(problem=problem, permissions=PERMISSIONS_BLOCK)


def trust_condition(claims: dict[str, object], audience: str) -> dict[str, object]:
    """The trust-policy Condition that matches a token with these claims exactly."""
    return {
        "Condition": {
            "StringEquals": {
                f"{GITHUB_PROVIDER}:aud": str(claims.get("aud") or audience),
                f"{GITHUB_PROVIDER}:sub": str(
                    claims.get("sub") or "repo:ORG/REPO:ref:refs/heads/main"
                ),
            }
        }
    }


def not_authorized_message(error: StsError, audience: str, account: str) -> str:
    """Why AssumeRoleWithWebIdentity was refused, with the token's claims and a Condition
    that would match them."""
    claims = github_oidc.decode_claims(error.token)
    repository = str(claims.get("repository") or "ORG/REPO")
    wildcard = {"StringLike": {f"{GITHUB_PROVIDER}:sub": f"repo:{repository}:*"}}
    environment = claims.get("environment")
    environment_note = (
        ENVIRONMENT_SUB_NOTE.format(environment=environment, repository=repository)
        if environment
        else NO_ENVIRONMENT_SUB_NOTE
    )
    return NOT_AUTHORIZED.format(
        role_arn=error.role_arn,
        code=error.code,
        message=error.message,
        sub=str(claims.get("sub", "(unknown)")),
        aud=claims.get("aud", audience),
        account=account,
        provider=GITHUB_PROVIDER,
        condition=json.dumps(trust_condition(claims, audience), indent=2),
        wildcard=json.dumps(wildcard, indent=2),
        environment_note=environment_note,
    )


def chaining_refused_message(error: StsError, plan: RolePlan) -> str:
    """Why AssumeRole into the second role was refused, and the two policies involved."""
    return CHAINING_REFUSED.format(
        error=error, chain_role_arn=plan.chain_role_arn, role_arn=plan.role_arn
    )


def sts_failure_message(error: StsError, plan: RolePlan) -> str:
    """Any other failed STS call, with a hint where the error says what is wrong."""
    hint = ""
    if "DurationSeconds" in error.message:
        hint = DURATION_HINT
    elif error.code == "InvalidIdentityToken":
        hint = IDENTITY_TOKEN_HINT.format(provider=GITHUB_PROVIDER, audience=plan.audience)
    suffix = " (gave up after retries)" if error.transient else ""
    return f"{error}{suffix}{hint}"


def token_error_message(error: TokenRequestError, plan: RolePlan) -> str:
    if error.status in (401, 403):
        return TOKEN_REFUSED.format(error=error, permissions=PERMISSIONS_BLOCK)
    if error.transient:
        return TOKEN_GAVE_UP.format(error=error, attempts=plan.max_attempts)
    return str(error)
