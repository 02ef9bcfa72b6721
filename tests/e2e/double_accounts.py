"""The AWS double across accounts: whose account a call acts in, and SageMaker's cross-account
reads of a model package, held to the package group's resource policy.

* **The caller's account.** moto maps an access key that its STS handed out for a role of
  account X to X (`moto.iam.models.get_account_id_from`); an unknown key (the harness's, the
  double's own, an unsigned request) is moto's default account, the tooling account here.
  Every handler of the double acts in the caller's account.
* **Another account's state.** The double reads it with a key of that account, which it gets
  from moto's STS directly (AssumeRole of a role of that account, never recorded), and
  forwards a request "as" that account by putting that key in the request's Authorization
  (moto does not check signatures; it only reads the key's account).
* **Cross-account model packages** (SageMaker Developer Guide, "Cross-account access to
  model package groups", model-registry-ram / model-registry-cross-account: the group's
  owner puts a resource policy with PutModelPackageGroupPolicy; the other account names the
  package by its ARN). A DescribeModelPackage or CreateModel of account A naming a package
  of account B is answered from B's state only when B's group policy allows it
  (`policy_allows`); a package of B named by its name, not its ARN, is looked up in A, where
  it is not found.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from typing import Any

import boto3
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from

DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID  # "123456789012": the tooling account of the e2e runs

_CREDENTIAL_KEY = re.compile(r"(Credential=)([^/,\s]+)(/)")
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/([^/]+)/(\d+)$"
)
# The actions a cross-account caller needs on a package of another account.
DESCRIBE = "sagemaker:DescribeModelPackage"
CREATE_MODEL = "sagemaker:CreateModel"


def account_of_key(access_key: str) -> str:
    """The account a request signed with `access_key` acts in (moto's mapping)."""
    return get_account_id_from(access_key) if access_key else DEFAULT_ACCOUNT


def access_key_of(headers: Any) -> str:
    match = _CREDENTIAL_KEY.search(headers.get("Authorization", "") or "")
    return match.group(2) if match else ""


def package_arn_parts(name: str) -> tuple[str, str, str] | None:
    """(region, account, group) of a model package version ARN; None for a name."""
    match = _PACKAGE_ARN.match(name)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def group_arn(region: str, account: str, group: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model-package-group/{group.lower()}"


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _iam_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character (IAM User Guide,
    reference_policies_elements_resource / _action). fnmatch's `[` classes are not IAM's,
    so they are escaped."""
    escaped = pattern.replace("[", "[[]")
    if case_sensitive:
        return fnmatch.fnmatchcase(value, escaped)
    return fnmatch.fnmatchcase(value.lower(), escaped.lower())


def _principal_names(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return _listed(principal.get("AWS"))
    return []


def _names_caller(names: list[str], caller_role: str, caller_account: str) -> bool:
    """Whether a statement's AWS principals name the caller: its role's ARN, its account's
    root ARN, or the bare account id (IAM User Guide, reference_policies_elements_principal:
    an account id is transformed to the account's root ARN). "*" (anyone) counts too."""
    wanted = {f"arn:aws:iam::{caller_account}:root", caller_account, "*"}
    if caller_role:
        wanted.add(caller_role)
    return any(name in wanted for name in names)


def _statement_matches(
    statement: dict[str, Any], caller_role: str, caller_account: str, action: str, resource: str
) -> bool:
    # Stricter reading: a statement with NotPrincipal/NotAction/NotResource never matches
    # here (the double does not evaluate them), nor does an Allow with a Condition (the double
    # cannot know the request context SageMaker would evaluate it against).
    if any(k in statement for k in ("NotPrincipal", "NotAction", "NotResource")):
        return False
    principals = _principal_names(statement.get("Principal"))
    actions = _listed(statement.get("Action"))
    resources = _listed(statement.get("Resource"))
    return (
        _names_caller(principals, caller_role, caller_account)
        and any(_iam_match(a, action, case_sensitive=False) for a in actions)
        and any(_iam_match(r, resource, case_sensitive=True) for r in resources)
    )


def policy_allows(
    policy: dict[str, Any] | None,
    *,
    caller_role: str,
    caller_account: str,
    action: str,
    resource: str,
) -> bool:
    """Whether a resource policy lets the caller do `action` on `resource`: an Allow that
    names it and no Deny that does (an explicit deny wins: IAM User Guide,
    reference_policies_evaluation-logic)."""
    if not policy:
        return False
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements or []:
        if not isinstance(statement, dict):
            continue
        matches = _statement_matches(statement, caller_role, caller_account, action, resource)
        if matches and statement.get("Effect") == "Deny":
            return False
        if matches and statement.get("Effect") == "Allow" and "Condition" not in statement:
            allowed = True
    return allowed


def policy_problems(text: str) -> list[str]:
    """Why SageMaker would refuse `text` as a group's ResourcePolicy (a JSON policy document
    with statements of an Effect, a Principal, an Action and a Resource). The exact checks
    SageMaker makes are not documented: this is the stricter reading."""
    try:
        document = json.loads(text)
    except ValueError:
        return ["ResourcePolicy is not a JSON document"]
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return ["ResourcePolicy has no Statement"]
    problems = []
    for number, statement in enumerate(statements):
        missing = [
            key
            for key in ("Effect", "Principal", "Action", "Resource")
            if not isinstance(statement, dict) or key not in statement
        ]
        if missing:
            problems.append(f"statement {number} has no {', '.join(missing)}")
        elif statement["Effect"] not in ("Allow", "Deny"):
            problems.append(f"statement {number}'s Effect is {statement['Effect']!r}")
    return problems


def access_denied(caller: str, action: str, resource: str) -> tuple[int, dict[str, str], bytes]:
    """SageMaker's refusal of a cross-account call the group policy does not allow. The code
    AccessDeniedException and the "User: ... is not authorized to perform: ... on resource:
    ..." wording are AWS's general authorization error (IAM User Guide,
    troubleshoot_access-denied); that SageMaker answers it with HTTP 400 and this exact tail
    is not confirmed."""
    message = (
        f"User: {caller} is not authorized to perform: {action} on resource: {resource} "
        "because no resource-based policy allows the "
        f"{action} action"
    )
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    return 400, {"Content-Type": "application/x-amz-json-1.1"}, body


class AccountKeys:
    """Access keys moto maps to a given account, from moto's STS (not through the proxy, so
    not recorded): the double's way to read or act on another account's state."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url
        self.lock = threading.Lock()
        self.keys: dict[str, dict[str, str]] = {
            DEFAULT_ACCOUNT: {
                "aws_access_key_id": "double",
                "aws_secret_access_key": "double",
            }
        }
        self.clients: dict[tuple[str, str, str], Any] = {}

    def credentials(self, account: str) -> dict[str, str]:
        with self.lock:
            if account not in self.keys:
                sts = boto3.client(
                    "sts",
                    endpoint_url=self.moto_url,
                    region_name="us-east-1",
                    aws_access_key_id="double",
                    aws_secret_access_key="double",
                )
                issued = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/aws-double",
                    RoleSessionName="aws-double",
                )["Credentials"]
                self.keys[account] = {
                    "aws_access_key_id": issued["AccessKeyId"],
                    "aws_secret_access_key": issued["SecretAccessKey"],
                    "aws_session_token": issued["SessionToken"],
                }
            return self.keys[account]

    def client(self, service: str, account: str, region: str = "us-east-1") -> Any:
        """A boto3 client straight to moto, acting in `account`."""
        credentials = self.credentials(account)
        with self.lock:
            if (service, account, region) not in self.clients:
                self.clients[service, account, region] = boto3.client(
                    service,
                    endpoint_url=self.moto_url,
                    region_name=region,
                    config=Config(retries={"max_attempts": 1}),
                    **credentials,
                )
            return self.clients[service, account, region]

    def headers_as(self, headers: Any, account: str) -> dict[str, str]:
        """The request's headers with its Authorization's key replaced by one of `account`,
        so that moto answers it from that account's state."""
        key = self.credentials(account)["aws_access_key_id"]
        sent = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        signed = headers.get("Authorization", "") or ""
        if not _CREDENTIAL_KEY.search(signed):  # unsigned: a signature moto can read
            signed = "AWS4-HMAC-SHA256 Credential=x/20250101/us-east-1/sagemaker/aws4_request"
        sent["Authorization"] = _CREDENTIAL_KEY.sub(rf"\g<1>{key}\g<3>", signed, count=1)
        return sent


Answer = tuple[int, dict[str, str], bytes]


def _error(code: str, message: str) -> Answer:
    body = json.dumps({"__type": code, "message": message}).encode()
    return 400, {"Content-Type": "application/x-amz-json-1.1"}, body


class CrossAccountSageMaker:
    """The double's SageMaker handlers that cross accounts (a mixin of aws_double.Double):
    the package groups' resource policies (moto has none of the three operations) and the
    reads of a package of another account."""

    keys: AccountKeys
    roles: dict[str, str]  # access key id -> role ARN (learnt from STS's answers)
    group_policies: dict[str, str]  # group ARN (group_arn) -> its ResourcePolicy

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> Answer:
        raise NotImplementedError  # the Double's

    def caller(self, headers: Any) -> tuple[str, str]:
        """(account, role ARN or '') of the request's signer."""
        key = access_key_of(headers)
        return account_of_key(key), self.roles.get(key, "")

    def _group_exists(self, account: str, region: str, group: str) -> bool:
        from moto.sagemaker.models import sagemaker_backends

        return group in sagemaker_backends[account][region].model_package_groups

    # -- the group's resource policy ------------------------------------------------------------

    def _sagemaker_PutModelPackageGroupPolicy(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> Answer:
        request = json.loads(body)
        account, _ = self.caller(headers)
        group = request["ModelPackageGroupName"]
        if not self._group_exists(account, region, group):
            return _error("ValidationException", f"ModelPackageGroup {group} does not exist.")
        problems = policy_problems(request["ResourcePolicy"])
        if problems:
            return _error("ValidationException", "; ".join(problems))
        arn = group_arn(region, account, group)
        self.group_policies[arn] = request["ResourcePolicy"]
        return (
            200,
            {"Content-Type": "application/x-amz-json-1.1"},
            json.dumps({"ModelPackageGroupArn": arn}).encode(),
        )

    def _sagemaker_GetModelPackageGroupPolicy(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> Answer:
        account, _ = self.caller(headers)
        group = json.loads(body)["ModelPackageGroupName"]
        if not self._group_exists(account, region, group):
            return _error("ValidationException", f"ModelPackageGroup {group} does not exist.")
        policy = self.group_policies.get(group_arn(region, account, group))
        if policy is None:  # SageMaker's answer for a group without a policy: unconfirmed
            return _error("ValidationException", f"ModelPackageGroup {group} has no policy.")
        return (
            200,
            {"Content-Type": "application/x-amz-json-1.1"},
            json.dumps({"ResourcePolicy": policy}).encode(),
        )

    def _sagemaker_DeleteModelPackageGroupPolicy(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> Answer:
        account, _ = self.caller(headers)
        group = json.loads(body)["ModelPackageGroupName"]
        if not self._group_exists(account, region, group):
            return _error("ValidationException", f"ModelPackageGroup {group} does not exist.")
        if self.group_policies.pop(group_arn(region, account, group), None) is None:
            return _error("ValidationException", f"ModelPackageGroup {group} has no policy.")
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, b"{}"

    # -- reading a package of another account ---------------------------------------------------

    def package_owner(self, headers: Any, name: str) -> str:
        """The account whose state answers for package `name`: the ARN's account; a name is
        looked up in the caller's own account (SageMaker needs the ARN across accounts)."""
        parts = package_arn_parts(name)
        return parts[1] if parts else self.caller(headers)[0]

    def cross_account_refusal(self, headers: Any, name: str, action: str) -> Answer | None:
        """AccessDenied when `name` is a package of another account whose group policy does
        not let the caller do `action` on it; None when the call may go on."""
        parts = package_arn_parts(name)
        account, role = self.caller(headers)
        if parts is None or parts[1] == account:
            return None
        region, owner, group = parts
        text = self.group_policies.get(group_arn(region, owner, group))
        policy = json.loads(text) if text else None
        if policy_allows(
            policy, caller_role=role, caller_account=account, action=action, resource=name
        ):
            return None
        return access_denied(role or f"arn:aws:iam::{account}:root", action, name)

    def _sagemaker_DescribeModelPackage(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> Answer:
        name = json.loads(body)["ModelPackageName"]
        refused = self.cross_account_refusal(headers, name, DESCRIBE)
        if refused is not None:
            return refused
        owner = self.package_owner(headers, name)
        if owner != self.caller(headers)[0]:
            headers = self.keys.headers_as(headers, owner)
        return self.forward("POST", path, headers, body)

    def _sagemaker_CreateModel(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> Answer:
        """A model of a package: the package must be one the caller may read, and exist in
        its owner's account (moto creates a model of any name). Its owner may be another
        account; the model is the caller's (forwarded in the caller's account)."""
        request = json.loads(body)
        containers = [request.get("PrimaryContainer") or {}, *(request.get("Containers") or [])]
        for container in containers:
            name = container.get("ModelPackageName")
            if not name:
                continue
            refused = self.cross_account_refusal(headers, name, CREATE_MODEL)
            if refused is not None:
                return refused
            owner = self.package_owner(headers, name)
            try:
                self.keys.client("sagemaker", owner, region).describe_model_package(
                    ModelPackageName=name
                )
            except Exception:  # ClientError: not found there
                # SageMaker's wording for a missing package in CreateModel: unconfirmed.
                return _error("ValidationException", f"Model package {name} not found")
        return self.forward("POST", path, headers, body)
