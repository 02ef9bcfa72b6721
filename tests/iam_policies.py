"""The IAM policies of infra/terraform as the sagemaker e2e runs' deployment gets them:
tests/iam/e2e.tfvars over variables.tf's defaults, in the runs' account and region, each
aws_iam_policy_document rendered to the JSON Terraform would send to IAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e import sagemaker_run
from tests.iam_arns import Deployment
from tests.terraform_hcl import Value, all_blocks, policy_documents, policy_json, resolve, variables
from tests.yaml_files import ROOT

TFVARS = ROOT / "tests" / "iam" / "e2e.tfvars"
DEPLOYMENT = Deployment(account=sagemaker_run.ACCOUNT, region=sagemaker_run.REGION)

# Job -> its permission document in iam_policies.tf; and the execution role's.
DOCUMENTS = {
    "build": "build_permissions",
    "deploy-staging": "deploy_staging_permissions",
    "deploy-production": "deploy_production_permissions",
}
EXECUTION_DOCUMENT = "execution_permissions"
# In one account the execution role has two documents: the pipeline's (EXECUTION_DOCUMENT)
# and the tooling account's hosting_execution_permissions (for_each key "tooling",
# iam_hosting_policies.tf). policies() gives their union under EXECUTION_DOCUMENT.
HOSTING_DOCUMENT = "hosting_execution_permissions"
HOSTING_KEY = "tooling"


def values(tfvars: Path = TFVARS) -> dict[str, Value]:
    """Every reference the policies use, resolved for the deployment."""
    found = variables(tfvars)
    found.update(
        {
            "data.aws_caller_identity.current.account_id": DEPLOYMENT.account,
            "data.aws_partition.current.partition": DEPLOYMENT.partition,
            "data.aws_region.current.name": DEPLOYMENT.region,
            # One account: the staging and production providers are the tooling account's.
            "data.aws_caller_identity.staging.account_id": DEPLOYMENT.account,
            "data.aws_caller_identity.production.account_id": DEPLOYMENT.account,
        }
    )
    # What main.tf's conditionals and the resources' attributes come to (resolve() reads only
    # templates and lower()): no ecr_repository_arns given -> the region's repositories of
    # any account (main.tf); a bucket's ARN is arn:<partition>:s3:::<name>; a role's is
    # arn:<partition>:iam::<account>:role/<name>.
    assert found.get("var.artifact_bucket_name"), f"{TFVARS} names the artifact bucket"
    assert "var.ecr_repository_arns" not in found, "ecr_repository_arns: give its value here"
    role_name = resolve(all_blocks("resource", "aws_iam_role")["execution"]["name"], found)
    assert isinstance(role_name, str)
    execution = DEPLOYMENT.role(f"role/{role_name}")
    found.update(
        {
            "local.ecr_repository_arns": [
                f"arn:{DEPLOYMENT.partition}:ecr:{DEPLOYMENT.region}:*:repository/*"
            ],
            "aws_s3_bucket.artifacts.arn": DEPLOYMENT.s3(str(found["var.artifact_bucket_name"])),
            "aws_iam_role.execution.arn": execution,
            # accounts.tf's conditionals in one account: the deploy stages pass the tooling
            # execution role.
            "local.staging_execution_role_arn": execution,
            "local.production_execution_role_arn": execution,
        }
    )
    return found


def union(*documents: dict[str, Any]) -> dict[str, Any]:
    """The statements of several policies of one role as one policy: a sid in two of them must
    be the same statement there (kept once)."""
    by_sid: dict[str, dict[str, Any]] = {}
    for document in documents:
        for statement in document["Statement"]:
            sid = statement["Sid"]
            assert by_sid.setdefault(sid, statement) == statement, f"{sid} differs between them"
    return {"Version": "2012-10-17", "Statement": list(by_sid.values())}


def execution_policy(resolved: dict[str, Value]) -> dict[str, Any]:
    """The one-account execution role's permissions: the pipeline's document and the tooling
    account's hosting document, rendered with `resolved`."""
    documents = policy_documents()
    return union(
        policy_json(documents[EXECUTION_DOCUMENT], resolved),
        policy_json(documents[HOSTING_DOCUMENT], {**resolved, "each.value": DEPLOYMENT.account}),
    )


def policies() -> dict[str, dict[str, Any]]:
    """document name -> IAM JSON policy, for the four roles' documents (EXECUTION_DOCUMENT:
    the execution role's two, execution_policy)."""
    resolved = values()
    found = {name: policy_json(policy_documents()[name], resolved) for name in DOCUMENTS.values()}
    found[EXECUTION_DOCUMENT] = execution_policy(resolved)
    return found


def execution_role() -> str:
    """The execution role's ARN in this deployment (aws_iam_role.execution.arn)."""
    role = values()["aws_iam_role.execution.arn"]
    assert isinstance(role, str)
    return role
