"""infra/terraform with separate accounts (accounts.tf, cross_account.tf), checked without
terraform: which resources each provider (account) gets, whom each deploy and execution role
trusts, the execution role's permissions in one account unchanged by the split into the
pipeline's and the hosting documents, the documents rendered for three accounts naming the
right account, the resource policies of the tooling account granting only the separate
accounts' roles, and the preconditions. infra/terraform/tests/module.tftest.hcl plans the
same with terraform's mocked providers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.terraform_hcl import (
    Value,
    all_blocks,
    attribute,
    conditions,
    label,
    literal,
    locals_,
    module,
    policy_documents,
    policy_json,
    resolve,
    statements,
    strings,
    sub_blocks,
    template,
)

TOOLING, STAGING, PRODUCTION = "111122223333", "444455556666", "777788889999"
BUCKET = "arn:aws:s3:::acme-artifacts"
SNAPSHOT = Path(__file__).parent / "snapshots" / "execution_permissions_one_account.json"


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# The references the documents use, for one account (fake values; the locals of main.tf and
# accounts.tf that are plain templates resolve from these).
ONE_ACCOUNT: dict[str, Value] = {
    "data.aws_caller_identity.current.account_id": TOOLING,
    "data.aws_caller_identity.staging.account_id": TOOLING,
    "data.aws_caller_identity.production.account_id": TOOLING,
    "data.aws_partition.current.partition": "aws",
    "data.aws_region.current.name": "us-east-1",
    "var.pipeline_name_prefix": "churn",
    "var.model_package_group_name": "churn-models",
    "var.staging_endpoint_name_prefix": "churn-staging",
    "var.production_endpoint_name_prefix": "churn-production",
    "var.batch_prefix": "batch/",
    "local.ecr_repository_arns": ["arn:aws:ecr:us-east-1:*:repository/*"],
    "aws_s3_bucket.artifacts.arn": BUCKET,
    "aws_iam_role.execution.arn": role(TOOLING, "smgha-sagemaker-execution"),
    "local.staging_execution_role_arn": role(TOOLING, "smgha-sagemaker-execution"),
    "local.production_execution_role_arn": role(TOOLING, "smgha-sagemaker-execution"),
}
# Three accounts: what accounts.tf's conditionals come to there.
SEPARATE_DEPLOY_ROLES = [
    role(STAGING, "smgha-deploy-staging"),
    role(PRODUCTION, "smgha-deploy-production"),
]
SEPARATE_ROLES = [
    *SEPARATE_DEPLOY_ROLES,
    role(STAGING, "smgha-sagemaker-execution"),
    role(PRODUCTION, "smgha-sagemaker-execution"),
]
THREE_ACCOUNTS: dict[str, Value] = {
    **ONE_ACCOUNT,
    "data.aws_caller_identity.staging.account_id": STAGING,
    "data.aws_caller_identity.production.account_id": PRODUCTION,
    "local.staging_execution_role_arn": role(STAGING, "smgha-sagemaker-execution"),
    "local.production_execution_role_arn": role(PRODUCTION, "smgha-sagemaker-execution"),
    "local.separate_deploy_role_arns": SEPARATE_DEPLOY_ROLES,
    "local.separate_account_role_arns": SEPARATE_ROLES,
}

# Resource or data source -> the provider it must name; every other one names none (tooling).
STAGING_PROVIDER = {
    "data.aws_caller_identity.staging",
    "data.aws_region.staging",
    "aws_iam_openid_connect_provider.github_staging",
    "aws_iam_role.deploy_staging",
    "aws_iam_role_policy.deploy_staging",
    "aws_iam_role.staging_execution",
    "aws_iam_role_policy.staging_hosting_execution",
    "aws_iam_role_policy.staging_bucket_key",
    "aws_iam_role_policy.deploy_staging_price_list",  # price_list_api
}
PRODUCTION_PROVIDER = {
    "data.aws_caller_identity.production",
    "data.aws_region.production",
    "aws_iam_openid_connect_provider.github_production",
    "aws_iam_role.deploy_production",
    "aws_iam_role_policy.deploy_production",
    "aws_iam_role.production_execution",
    "aws_iam_role_policy.production_hosting_execution",
    "aws_iam_role_policy.production_bucket_key",
    "aws_iam_role_policy.deploy_production_price_list",  # price_list_api
    # The drift alarms notify from the production endpoint's account.
    "aws_kms_key.alarms",
    "aws_kms_alias.alarms",
    "aws_sns_topic.alarms",
    "aws_sns_topic_policy.alarms",
    "aws_sns_topic_subscription.alarm_email",
}


def providers() -> dict[str, str | None]:
    """<type>.<name> (data.<type>.<name>) -> the provider it names, or None."""
    found: dict[str, str | None] = {}
    for data in module().values():
        for kind in ("resource", "data"):
            for entry in data.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        prefix = "data." if kind == "data" else ""
                        provider = attribute(body, "provider")
                        found[f"{prefix}{label(type_)}.{label(name)}"] = (
                            None if provider is None else template(provider)
                        )
    return found


def render(document: str, values: dict[str, Value], account: str | None = None) -> dict[str, Any]:
    """A document as IAM JSON; `account`: each.value of a for_each document."""
    given = dict(values) if account is None else {**values, "each.value": account}
    return policy_json(policy_documents()[document], given)


def principals(document: str, values: dict[str, Value]) -> list[list[tuple[str, list[str]]]]:
    """Per statement, its principals (type, identifiers) with references resolved."""
    found = []
    for statement in statements(policy_documents()[document]):
        rendered = []
        for block in sub_blocks(statement, "principals"):
            raw = block["identifiers"]
            identifiers: list[str] = []
            for item in [raw] if isinstance(raw, str) else raw:
                value = resolve(item, values)
                identifiers += [value] if isinstance(value, str) else value
            rendered.append((template(attribute(block, "type")), identifiers))
        found.append(rendered)
    return found


def arn_accounts(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Sid -> the accounts its resource ARNs name (S3 ARNs and "*" name none)."""
    found: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        accounts = {
            resource.split(":")[4]
            for resource in statement["Resource"]
            if resource.startswith("arn:") and resource.split(":")[4] not in ("", "*")
        }
        found[statement["Sid"]] = accounts
    return found


def preconditions(type_: str, name: str) -> list[tuple[str, str]]:
    body = all_blocks("resource", type_)[name]
    (lifecycle,) = sub_blocks(body, "lifecycle")
    return [
        (str(attribute(block, "condition")), template(attribute(block, "error_message")))
        for block in sub_blocks(lifecycle, "precondition")
    ]


# ---- providers ----------------------------------------------------------------------------


def test_the_module_takes_the_tooling_staging_and_production_providers() -> None:
    (versions,) = [data["terraform"][0] for name, data in module().items() if name == "versions.tf"]
    required = attribute(versions, "required_providers")
    required = required[0] if isinstance(required, list) else required
    assert required["aws"]["configuration_aliases"] == ["${aws.staging}", "${aws.production}"]
    for name, data in module().items():
        assert "provider" not in data, f"{name} configures a provider: the caller does"


def test_every_resource_of_a_deploy_account_names_its_provider() -> None:
    found = providers()
    assert {k for k, v in found.items() if v == "${aws.staging}"} == STAGING_PROVIDER
    assert {k for k, v in found.items() if v == "${aws.production}"} == PRODUCTION_PROVIDER
    others = {v for k, v in found.items() if k not in STAGING_PROVIDER | PRODUCTION_PROVIDER}
    assert others == {None}, others


def test_deploy_roles_trust_their_own_accounts_oidc_provider() -> None:
    expressions = locals_()
    for stage in ("staging", "production"):
        # The tooling provider in one account; else the one given for that account or created there.
        assert expressions[f"{stage}_oidc_provider_arn"] == (
            f"${{(!local.separate_{stage} ? local.oidc_provider_arn : "
            f"var.{stage}_oidc_provider_arn != null ? var.{stage}_oidc_provider_arn : "
            f"aws_iam_openid_connect_provider.github_{stage}[0].arn)}}"
        )
        provider = all_blocks("resource", "aws_iam_openid_connect_provider")[f"github_{stage}"]
        assert str(attribute(provider, "count")) == (
            f"${{local.separate_{stage} && var.{stage}_oidc_provider_arn == null ? 1 : 0}}"
        )
        assert literal(attribute(provider, "url")) == "https://token.actions.githubusercontent.com"
        assert strings(provider["client_id_list"]) == ["sts.amazonaws.com"]
        (statement,) = statements(policy_documents()[f"deploy_{stage}_trust"])
        (block,) = sub_blocks(statement, "principals")
        assert strings(block["identifiers"]) == [f"${{local.{stage}_oidc_provider_arn}}"]


def test_separate_execution_roles_trust_sagemaker_of_their_own_account() -> None:
    document = policy_documents()["account_execution_trust"]
    assert str(attribute(document, "for_each")) == (
        '${{for key, account in local.hosting_accounts : key => account if key != "tooling"}}'
    )
    (statement,) = statements(document)
    ((_, variable, values),) = conditions(statement)
    assert (variable, values) == ("aws:SourceAccount", ["${each.value}"])
    roles = all_blocks("resource", "aws_iam_role")
    for stage in ("staging", "production"):
        body = roles[f"{stage}_execution"]
        assert str(attribute(body, "count")) == f"${{local.separate_{stage} ? 1 : 0}}"
        assert template(attribute(body, "name")) == "${var.name_prefix}-sagemaker-execution"
        assert template(attribute(body, "assume_role_policy")) == (
            f'${{data.aws_iam_policy_document.account_execution_trust["{stage}"].json}}'
        )


# ---- the execution role's permissions -------------------------------------------------------


def test_in_one_account_the_execution_role_has_exactly_what_it_had() -> None:
    """Both documents on the one execution role (a sid in both is the same statement there)
    allow exactly what execution_permissions allowed before the split: nothing lost, nothing
    added."""
    pipeline = render("execution_permissions", ONE_ACCOUNT)
    hosting = render("hosting_execution_permissions", ONE_ACCOUNT, account=TOOLING)
    by_sid: dict[str, Any] = {}
    for statement in pipeline["Statement"] + hosting["Statement"]:
        assert by_sid.setdefault(statement["Sid"], statement) == statement, statement["Sid"]
    before = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(by_sid) == sorted(s["Sid"] for s in before["Statement"])
    for statement in before["Statement"]:
        assert by_sid[statement["Sid"]] == statement, statement["Sid"]
    # IAM's limit on a role's inline policies together, whitespace not counted (IAM User Guide,
    # reference_iam-quotas.html: "Role policy size cannot exceed 10,240 characters").
    size = sum(len(json.dumps(p, separators=(",", ":"))) for p in (pipeline, hosting))
    assert size < 10240, size


def test_the_pipeline_keeps_its_part_and_hosting_gets_the_endpoints() -> None:
    pipeline = {s["Sid"] for s in render("execution_permissions", ONE_ACCOUNT)["Statement"]}
    hosting = {
        s["Sid"] for s in render("hosting_execution_permissions", ONE_ACCOUNT, TOOLING)["Statement"]
    }
    shared = {"ArtifactBucket", "ArtifactObjects", "EcrAuthorization", "EcrPull", "Logs", "Metrics"}
    assert pipeline == shared | {
        "PipelineJobs",
        "PipelineTuningJobs",
        "RegisterModel",
        "PassExecutionRole",
    }
    assert hosting == shared | {"AsyncInferenceNotifications", "RollbackAlarms"}


def test_each_hosting_document_goes_to_its_accounts_execution_role() -> None:
    policies = all_blocks("resource", "aws_iam_role_policy")
    expected = {
        "hosting_execution": ('${contains(keys(local.hosting_accounts), "tooling") ? 1 : 0}', "tooling", "${aws_iam_role.execution.id}"),
        "staging_hosting_execution": ("${local.separate_staging ? 1 : 0}", "staging", "${aws_iam_role.staging_execution[0].id}"),
        "production_hosting_execution": ("${local.separate_production ? 1 : 0}", "production", "${aws_iam_role.production_execution[0].id}"),
    }  # fmt: skip
    for name, (count, key, role_id) in expected.items():
        body = policies[name]
        assert str(attribute(body, "count")) == count, name
        assert template(attribute(body, "role")) == role_id, name
        assert template(attribute(body, "policy")) == (
            f'${{data.aws_iam_policy_document.hosting_execution_permissions["{key}"].json}}'
        )


# ---- three accounts: every ARN names the right account ---------------------------------------


def test_deploy_documents_name_their_own_account_and_the_tooling_registry() -> None:
    for stage, account in (("staging", STAGING), ("production", PRODUCTION)):
        policy = render(f"deploy_{stage}_permissions", THREE_ACCOUNTS)
        accounts = arn_accounts(policy)
        assert accounts.pop("ModelRegistryRead") == {TOOLING}
        assert accounts.pop("PassExecutionRole") == {account}
        for sid, named in accounts.items():
            assert named <= {account}, f"deploy_{stage}_permissions.{sid}: {named}"
        # The registry statement allows deploying from the tooling account's packages.
        (registry,) = [s for s in policy["Statement"] if s["Sid"] == "ModelRegistryRead"]
        assert registry["Action"] == ["sagemaker:DescribeModelPackage", "sagemaker:CreateModel"]
        assert registry["Resource"] == [
            f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/*"
        ]
        (passed,) = [s for s in policy["Statement"] if s["Sid"] == "PassExecutionRole"]
        assert passed["Resource"] == [role(account, "smgha-sagemaker-execution")]
        # S3: the tooling account's bucket only.
        for statement in policy["Statement"]:
            for resource in statement["Resource"]:
                assert not resource.startswith("arn:aws:s3") or resource.startswith(BUCKET)


def test_hosting_documents_name_their_own_account() -> None:
    for account in (STAGING, PRODUCTION):
        policy = render("hosting_execution_permissions", THREE_ACCOUNTS, account)
        named = set().union(*arn_accounts(policy).values())
        assert named == {account}, named


# ---- the tooling account's resource policies ------------------------------------------------


def test_the_group_policy_grants_the_separate_deploy_roles_their_two_calls_only() -> None:
    document = policy_documents()["model_package_group_policy"]
    assert str(attribute(document, "count")) == "${local.separate_accounts ? 1 : 0}"
    policy = render("model_package_group_policy", THREE_ACCOUNTS)
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    assert sorted(statement["Action"]) == [
        "sagemaker:CreateModel",
        "sagemaker:DescribeModelPackage",
    ]
    assert statement["Resource"] == [
        f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/*"
    ]
    assert principals("model_package_group_policy", THREE_ACCOUNTS) == [
        [("AWS", SEPARATE_DEPLOY_ROLES)]
    ]
    resource = all_blocks("resource", "aws_sagemaker_model_package_group_policy")["models"]
    assert template(attribute(resource, "resource_policy")) == (
        "${data.aws_iam_policy_document.model_package_group_policy[0].json}"
    )


def test_the_separate_role_lists_hold_only_the_separate_accounts_roles() -> None:
    expressions = locals_()
    assert expressions["separate_deploy_role_arns"] == (
        "${concat(local.separate_staging ? [aws_iam_role.deploy_staging.arn] : [], "
        "local.separate_production ? [aws_iam_role.deploy_production.arn] : [])}"
    )
    assert expressions["separate_account_role_arns"] == (
        "${concat(local.separate_deploy_role_arns, "
        "local.separate_staging ? [aws_iam_role.staging_execution[0].arn] : [], "
        "local.separate_production ? [aws_iam_role.production_execution[0].arn] : [])}"
    )


def test_the_bucket_lets_the_separate_roles_read_and_write_objects_and_list() -> None:
    policy = render("artifacts_bucket_cross_account", THREE_ACCOUNTS)
    assert {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["Statement"]} == {
        "SeparateAccountsObjects": (
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [f"{BUCKET}/*"],
        ),
        "SeparateAccountsBucket": (["s3:GetBucketLocation", "s3:ListBucket"], [BUCKET]),
    }
    assert principals("artifacts_bucket_cross_account", THREE_ACCOUNTS) == [
        [("AWS", SEPARATE_ROLES)],
        [("AWS", SEPARATE_ROLES)],
    ]
    bucket = policy_documents()["artifacts_bucket"]
    assert template(attribute(bucket, "source_policy_documents")) == (
        "${data.aws_iam_policy_document.artifacts_bucket_cross_account[*].json}"
    )


def test_the_bucket_key_serves_the_separate_roles_through_s3_only() -> None:
    expressions = locals_()
    assert (
        expressions["create_artifact_key"]
        == "${local.separate_accounts && var.kms_key_arn == null}"
    )
    assert expressions["artifact_key_arn"] == (
        "${var.kms_key_arn != null ? var.kms_key_arn : one(aws_kms_key.artifacts[*].arn)}"
    )
    key = all_blocks("resource", "aws_kms_key")["artifacts"]
    assert str(attribute(key, "count")) == "${local.create_artifact_key ? 1 : 0}"
    assert attribute(key, "enable_key_rotation") is True
    policy = render("artifacts_key_policy", THREE_ACCOUNTS)
    administer, use = policy["Statement"]
    assert (administer["Action"], administer["Resource"]) == (["kms:*"], ["*"])
    assert (sorted(use["Action"]), use["Resource"]) == (
        ["kms:Decrypt", "kms:GenerateDataKey"],
        ["*"],
    )
    assert use["Condition"] == {"StringEquals": {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]}}
    assert principals("artifacts_key_policy", THREE_ACCOUNTS) == [
        [("AWS", [f"arn:aws:iam::{TOOLING}:root"])],
        [("AWS", SEPARATE_ROLES)],
    ]


def test_every_role_that_touches_objects_may_use_a_customer_managed_key() -> None:
    """The roles whose documents read or write objects: each has the bucket key policy in its
    account when the key is customer managed."""
    policies = all_blocks("resource", "aws_iam_role_policy")
    attached: set[str] = set()
    for name in ("bucket_key", "staging_bucket_key", "production_bucket_key"):
        for_each = str(attribute(policies[name], "for_each"))
        assert for_each.startswith("${local.customer_managed_artifact_key ? "), for_each
        attached |= set(re.findall(r"aws_iam_role\.([a-z_]+)", for_each))
        assert template(attribute(policies[name], "policy")) == (
            "${data.aws_iam_policy_document.bucket_key_permissions[0].json}"
        )
    assert attached == {
        "build",
        "execution",
        "deploy_staging",
        "staging_execution",
        "deploy_production",
        "production_execution",
    }
    key_document = policy_documents()["bucket_key_permissions"]
    assert str(attribute(key_document, "count")) == "${local.customer_managed_artifact_key ? 1 : 0}"
    (statement,) = statements(key_document)
    assert strings(statement["resources"]) == ["${local.artifact_key_arn}"]


def test_the_alarm_topic_and_its_key_trust_the_production_account() -> None:
    assert principals("alarms_key", THREE_ACCOUNTS)[0] == [
        ("AWS", [f"arn:aws:iam::{PRODUCTION}:root"])
    ]
    topic = render("alarms_topic", {**THREE_ACCOUNTS, "aws_sns_topic.alarms.arn": "arn:topic"})
    (publish,) = [s for s in topic["Statement"] if s["Sid"] == "CloudWatchAlarmsPublish"]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": [PRODUCTION]}}


# ---- preconditions and outputs --------------------------------------------------------------


def test_preconditions_refuse_what_separate_accounts_do_not_support() -> None:
    staging = preconditions("aws_iam_role", "deploy_staging")
    production = preconditions("aws_iam_role", "deploy_production")
    for found, stage in ((staging, "staging"), (production, "production")):
        (region,) = [
            m for c, m in found if c == f"${{data.aws_region.{stage}.name == local.region}}"
        ]
        assert "cross-region deploy is not supported" in region
        (oidc,) = [m for c, m in found if f"var.{stage}_oidc_provider_arn == null ||" in c]
        assert f"{stage}_oidc_provider_arn is only for a separate {stage} account" in oidc
    (shared,) = [
        m for c, m in production if "local.staging_account_id == local.production_account_id" in c
    ]
    assert "not supported" in shared
    (kms,) = preconditions("aws_s3_bucket_server_side_encryption_configuration", "artifacts")
    assert kms[0] == "${var.kms_key_arn == null || !local.separate_accounts}"
    assert "leave kms_key_arn unset" in kms[1]
    (drift,) = preconditions("aws_cloudwatch_event_rule", "drift")
    assert drift[0] == "${!local.separate_production}"
    assert "not built yet" in drift[1] and "drift_endpoint_name" in drift[1]


def test_outputs_give_each_stages_execution_role() -> None:
    outputs = all_blocks("output")
    for stage in ("staging", "production"):
        value = template(attribute(outputs[f"{stage}_execution_role_arn"], "value"))
        assert value == f"${{local.{stage}_execution_role_arn}}"
    variables = attribute(outputs["repository_variables"], "value")
    assert (
        variables["SAGEMAKER_STAGING_EXECUTION_ROLE_ARN"] == "${local.staging_execution_role_arn}"
    )
    assert variables["SAGEMAKER_PRODUCTION_EXECUTION_ROLE_ARN"] == (
        "${local.production_execution_role_arn}"
    )
    assert template(attribute(outputs["artifact_key_arn"], "value")) == "${local.artifact_key_arn}"
    assert template(attribute(outputs["model_package_group_arn"], "value")) == (
        "${aws_sagemaker_model_package_group.models.arn}"
    )
