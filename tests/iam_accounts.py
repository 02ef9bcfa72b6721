"""The IAM side of the three-account deployment: infra/terraform applied with a tooling account
(build, registry, artifact bucket and its key) and staging and production accounts of their
own, as the three-account e2e run plays it (tests/e2e/three_accounts_run.py).

Each role's identity policies are rendered with its own account's id; the resource policies the
module adds across accounts (the artifact bucket's, the model package group's, the bucket key's)
with the roles they admit. Every recorded call becomes IAM requests as in one account
(tests/iam_requests.py, tests/iam_execution.py), each judged against its principal's identity
policies and its resource's policy (tests/iam_simulator.py: across accounts both must allow).
The bucket's objects are encrypted with the module's customer managed key (an AWS managed key
cannot be used from another account), so every object read or write is also a KMS request S3
makes with the caller's identity (kms:ViaService s3.<region>.amazonaws.com)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.iam_arns import Deployment
from tests.iam_execution import execution_requests
from tests.iam_policies import TFVARS
from tests.iam_requests import Calls
from tests.iam_simulator import IamRequest, Judged
from tests.terraform_hcl import Value, policy_documents, policy_json, resolve, variables

REGION = "us-east-1"
TOOLING, STAGING, PRODUCTION = "123456789012", "234567890123", "345678901234"
BUCKET = "acme-churn-mlops"
# The bucket key the module creates (its id is assigned by KMS: any stands for it).
KEY = f"arn:aws:kms:{REGION}:{TOOLING}:key/0123abcd-45ef-4a5b-8c9d-0123456789ab"


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# Terraform's role names with name_prefix "churn" (tests/iam/e2e.tfvars), in their accounts.
BUILD = role(TOOLING, "churn-build")
DEPLOY_STAGING = role(STAGING, "churn-deploy-staging")
DEPLOY_PRODUCTION = role(PRODUCTION, "churn-deploy-production")
EXECUTION = {
    TOOLING: role(TOOLING, "churn-sagemaker-execution"),
    STAGING: role(STAGING, "churn-sagemaker-execution"),
    PRODUCTION: role(PRODUCTION, "churn-sagemaker-execution"),
}
JOB_ROLES = {
    "build": BUILD,
    "deploy-staging": DEPLOY_STAGING,
    "deploy-production": DEPLOY_PRODUCTION,
}
KEY_DOCUMENT = "bucket_key_permissions"
# Role -> the names of its identity policies, as the module attaches them across accounts.
IDENTITY: dict[str, tuple[str, ...]] = {
    BUILD: ("build_permissions", KEY_DOCUMENT),
    DEPLOY_STAGING: ("deploy_staging_permissions", KEY_DOCUMENT),
    DEPLOY_PRODUCTION: ("deploy_production_permissions", KEY_DOCUMENT),
    EXECUTION[TOOLING]: ("execution_permissions", KEY_DOCUMENT),
    EXECUTION[STAGING]: ("hosting_execution_permissions[staging]", KEY_DOCUMENT),
    EXECUTION[PRODUCTION]: ("hosting_execution_permissions[production]", KEY_DOCUMENT),
}
# The resource policies across accounts, by rendered name.
BUCKET_POLICY = "artifacts_bucket"
GROUP_POLICY = "model_package_group_policy"
KEY_POLICY = "artifacts_key_policy"
# Who each cross-account resource policy admits: the separate accounts' roles.
SEPARATE_ROLES = [DEPLOY_STAGING, DEPLOY_PRODUCTION, EXECUTION[STAGING], EXECUTION[PRODUCTION]]


def deployment(account: str) -> Deployment:
    """Where a role of `account` names its resources; the bucket is the tooling account's."""
    return Deployment(account=account, region=REGION, bucket_owner=TOOLING)


def values() -> dict[str, Value]:
    """Every reference the documents use, for the three-account deployment."""
    found = variables(TFVARS)
    found.update(
        {
            "data.aws_caller_identity.current.account_id": TOOLING,
            "data.aws_caller_identity.staging.account_id": STAGING,
            "data.aws_caller_identity.production.account_id": PRODUCTION,
            "data.aws_partition.current.partition": "aws",
            "data.aws_region.current.name": REGION,
            "local.ecr_repository_arns": [f"arn:aws:ecr:{REGION}:*:repository/*"],
            "aws_s3_bucket.artifacts.arn": f"arn:aws:s3:::{BUCKET}",
            "aws_iam_role.execution.arn": EXECUTION[TOOLING],
            "local.staging_execution_role_arn": EXECUTION[STAGING],
            "local.production_execution_role_arn": EXECUTION[PRODUCTION],
            "local.artifact_key_arn": KEY,
            "local.separate_account_role_arns": SEPARATE_ROLES,
            "local.separate_deploy_role_arns": [DEPLOY_STAGING, DEPLOY_PRODUCTION],
        }
    )
    return found


def policies() -> dict[str, dict[str, Any]]:
    """Rendered name -> IAM JSON policy: the identity documents (hosting_execution_permissions
    once per deploy account, as its for_each renders it) and the resource policies."""
    documents = policy_documents()
    found = values()
    rendered = {
        name: policy_json(documents[name], found)
        for name in (
            "build_permissions",
            "deploy_staging_permissions",
            "deploy_production_permissions",
            "execution_permissions",
            KEY_DOCUMENT,
            GROUP_POLICY,
            KEY_POLICY,
        )
    }
    for key, account in (("staging", STAGING), ("production", PRODUCTION)):
        each = {**found, "each.key": key, "each.value": account}
        rendered[f"hosting_execution_permissions[{key}]"] = policy_json(
            documents["hosting_execution_permissions"], each
        )
    # The bucket policy: its own statements and those it takes from the cross-account document.
    bucket = policy_json(documents[BUCKET_POLICY], found)
    extra = policy_json(documents["artifacts_bucket_cross_account"], found)
    rendered[BUCKET_POLICY] = {**bucket, "Statement": bucket["Statement"] + extra["Statement"]}
    return rendered


def resource_policy(resource: str) -> str:
    """The rendered name of the policy of the resource a request names ('' when none)."""
    if resource == f"arn:aws:s3:::{BUCKET}" or resource.startswith(f"arn:aws:s3:::{BUCKET}/"):
        return BUCKET_POLICY
    group = resolve('"${local.model_package_group}"', values())
    if resource.startswith(f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{group}/"):
        return GROUP_POLICY
    return KEY_POLICY if resource == KEY else ""


def through_s3(request: IamRequest) -> list[IamRequest]:
    """The KMS request S3 makes with the caller's identity for an object read or write of the
    artifact bucket, encrypted with the bucket key (S3 User Guide, "Using server-side
    encryption with AWS KMS keys": GetObject needs kms:Decrypt, PutObject kms:GenerateDataKey;
    the key policy's kms:ViaService condition names S3 in the region)."""
    actions = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}
    if request.action not in actions or resource_policy(request.resource) != BUCKET_POLICY:
        return []
    return [
        IamRequest(
            request.principal,
            actions[request.action],
            KEY,
            TOOLING,
            {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
            f"{request.why}, through S3",
        )
    ]


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def requests(calls: Iterable[Mapping[str, Any]]) -> list[IamRequest]:
    """The authorizations behind the run's calls: each job role's (in its account), and what
    SageMaker does with each account's execution role; with S3's KMS requests."""
    calls = list(calls)
    found: list[IamRequest] = []
    for principal in JOB_ROLES.values():
        derive = Calls(deployment(account_of(principal)))
        found += [r for c in calls if c["role"] == principal for r in derive.requests(c)]
    separate = {a: (deployment(a), EXECUTION[a]) for a in (STAGING, PRODUCTION)}
    found += execution_requests(calls, deployment(TOOLING), EXECUTION[TOOLING], separate)
    return found + [kms for r in found for kms in through_s3(r)]


def judged(found: Iterable[IamRequest], with_resource_policies: bool = True) -> list[Judged]:
    """Each request with its principal's identity policies and its resource's policy."""
    return [
        Judged(
            r, IDENTITY[r.principal], resource_policy(r.resource) if with_resource_policies else ""
        )
        for r in found
    ]
