"""The Terraform module in infra/terraform, checked without terraform (no providers offline).

Every `.tf` file parses with python-hcl2; structural assertions on the variables (and the
regular expressions of their validations, run against good and bad values), the outputs the
workflows need, the four permission documents of iam_policies.tf (literal actions only, one
sid per statement, iam:PassRole only of the execution role, to SageMaker), the trust
policies of the three job roles and the execution role, and the artifact bucket. Then
checkov scans the module and the test fails on any failed check; a check may only be
skipped inline (`#checkov:skip=CKV_...:<reason>`), with a reason.

Which actions each role needs is tests/test_iam_least_privilege.py's business; here only
the shape of the documents is checked.

checkov lives in a virtual environment of its own (`<venv>/opt/checkov`, made by
`make test`): it depends on bc-python-hcl2, which installs the same `hcl2` package
as python-hcl2 and overwrites it (or is overwritten by it), so the two cannot share the
project's environment. Its scan runs offline (see CHECKOV_ENV) and is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.terraform_hcl import (
    MODULE,
    TF_FILES,
    all_blocks,
    attribute,
    blocks,
    conditions,
    label,
    literal,
    module,
    parse,
    policy_documents,
    statements,
    strings,
    sub_blocks,
    template,
)
from tests.yaml_files import ROOT, load, rel, strings_in

POLICIES = MODULE / "iam_policies.tf"
TEMPLATES = ROOT / "workflows-templates"

PERMISSION_DOCUMENTS = (
    "build_permissions",
    "deploy_staging_permissions",
    "deploy_production_permissions",
    "execution_permissions",
)
# The execution roles' hosting document (iam_hosting_policies.tf, one per hosting account):
# held to the same rules as the four.
HOSTING_DOCUMENT = "hosting_execution_permissions"
# Document -> the execution role ARN its PassRole names (accounts.tf's locals for the deploy
# roles: their own account's execution role). The hosting document passes no role.
PASSED_ROLE = {
    "build_permissions": "${aws_iam_role.execution.arn}",
    "deploy_staging_permissions": "${local.staging_execution_role_arn}",
    "deploy_production_permissions": "${local.production_execution_role_arn}",
    "execution_permissions": "${aws_iam_role.execution.arn}",
}
# Role resource -> (its trust document, its permission document).
ROLES = {
    "build": ("build_trust", "build_permissions"),
    "deploy_staging": ("deploy_staging_trust", "deploy_staging_permissions"),
    "deploy_production": ("deploy_production_trust", "deploy_production_permissions"),
    "execution": ("execution_trust", "execution_permissions"),
}
OIDC = "token.actions.githubusercontent.com"
# Job role -> the OIDC provider it trusts: its own account's (accounts.tf).
TRUSTED_PROVIDER = {
    "build": "${local.oidc_provider_arn}",
    "deploy_staging": "${local.staging_oidc_provider_arn}",
    "deploy_production": "${local.production_oidc_provider_arn}",
}

# Output -> what its description must name: the repository variable and/or workflow input
# it feeds.
OUTPUTS = {
    "aws_region": ("AWS_REGION",),
    "build_role_arn": ("AWS_BUILD_ROLE_ARN", "role-to-assume"),
    "deploy_staging_role_arn": ("AWS_DEPLOY_STAGING_ROLE_ARN", "role-to-assume-staging"),
    "deploy_production_role_arn": ("AWS_DEPLOY_PRODUCTION_ROLE_ARN", "role-to-assume-production"),
    "execution_role_arn": ("SAGEMAKER_EXECUTION_ROLE_ARN", "execution-role-arn"),
    "artifact_bucket_name": ("MODEL_ARTIFACT_BUCKET", "default-bucket", "monitoring-output-s3-uri"),
    "model_package_group_name": ("model-package-group",),
    "alarm_topic_arn": ("ALARM_TOPIC_ARN", "sns-topic-arn"),
    "oidc_provider_arn": (),
}

# Actions granted on "*": only these, which have no resource-level permissions (or, for
# the scalable target ones, an ARN that holds an id assigned on registration).
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        # Read-only, and with no resource types in the Service Authorization Reference.
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        # Read-only; its resource type is optional and List- calls have no resource-level
        # restriction (test_list_model_packages_is_granted_on_star).
        "sagemaker:ListModelPackages",
        # Read-only; no resource types (Service Authorization Reference, Amazon CloudWatch:
        # GetMetricData): shadow-test's per-variant metrics, idle-report's Invocations.
        "cloudwatch:GetMetricData",
        # Read-only; a List call, which has no resource-level restriction (SageMaker API
        # permissions reference): idle-report's endpoints (build_permissions IdleReportList).
        "sagemaker:ListEndpoints",
    }
)
ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")
SID = re.compile(r"[A-Za-z0-9]+")

# Variable validations: values their regular expressions must accept and reject.
# (Terraform's regex() is RE2; these patterns mean the same in Python's re.)
VALIDATION_CASES: dict[str, tuple[list[str], list[str]]] = {
    # Each element: an endpoint name prefix (SageMaker's EndpointName pattern).
    "idle_endpoint_deletion_prefixes": (
        ["churn-staging", "a", "Team-1"],
        ["churn-*", "-churn", "churn-", "churn_staging", "a" * 64, ""],
    ),
    "github_repository": (
        ["my-org/churn-model", "octo/repo.name_2"],
        ["my-org/*", "my-org", "*/repo", "https://github.com/my-org/repo", "my-org/repo/x", ""],
    ),
    # Each element of the list; what a caller's uses: line gives (docs/setup.md's rules).
    "production_workflow_refs": (
        [
            # uses: ...@v1 (the moving major tag)
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1",
            # uses: ...@v1.2.3, one release or every v1.x.y
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1.2.3",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1.*",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1.2.?",
            # a fork
            "acme/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1.*",
            "my-org-2/ml_lib.fork/.github/workflows/model-deploy.yaml@refs/tags/v1.2.3+build.1",
            # uses: ...@<release commit sha>: the bare sha
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@"
            + "0123456789abcdef" * 2
            + "01234567",
            # a branch
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/heads/main",
            "acme/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/heads/release/v1",
        ],
        [
            # the ref as written in uses:, not as GitHub puts it in the claim
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@v1",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@v1.2.3",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml",
            # wildcards outside the tag or branch name, or for any tag at all
            "smgha-org/*/.github/workflows/model-deploy.yml@refs/tags/v1",
            "*/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1",
            "smgha-org/sagemaker-mlops/.github/workflows/*.yml@refs/tags/v1",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@*",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/*",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/*",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/pull/1/merge",
            # a sha that is short, upper-case or behind refs/
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@0123456",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@" + "A" * 40,
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/" + "a" * 40,
            # not the reusable workflow's path
            "smgha-org/sagemaker-mlops/model-deploy.yml@refs/tags/v1",
            "smgha-org/sagemaker-mlops/.github/workflows/sub/model-deploy.yml@refs/tags/v1",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy@refs/tags/v1",
            "https://github.com/smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1",
            # IAM policy variables, whitespace
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/${aws:username}",
            "smgha-org/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1 ",
            "",
        ],
    ),
    "oidc_provider_arn": (
        ["arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"],
        [
            "arn:aws:iam::111122223333:oidc-provider/example.com",
            "arn:aws:iam::1111:oidc-provider/token.actions.githubusercontent.com",
        ],
    ),
    **{
        f"{stage}_oidc_provider_arn": (
            ["arn:aws:iam::444455556666:oidc-provider/token.actions.githubusercontent.com"],
            [
                "arn:aws:iam::444455556666:oidc-provider/example.com",
                "arn:aws:iam::4444:oidc-provider/token.actions.githubusercontent.com",
            ],
        )
        for stage in ("staging", "production")
    },
    "kms_key_arn": (
        ["arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
        ["arn:aws:kms:us-east-1:111122223333:alias/my-key", "1234abcd-12ab-34cd-56ef"],
    ),
    "pipeline_name_prefix": (["churn", "Churn-2"], ["-churn", "churn_model", "churn-", ""]),
    "model_package_group_name": (["churn-models"], ["churn models", "a" * 64]),
    "staging_endpoint_name_prefix": (["churn-staging"], ["churn.staging"]),
    "production_endpoint_name_prefix": (["churn-production"], ["churn/production"]),
    "name_prefix": (["smgha", "ml-team-2"], ["Smgha", "a", "x" * 25, "smgha-"]),
    "artifact_bucket_name": (["my-org-churn-artifacts"], ["My-Bucket", "a.b.c", "ab"]),
    "data_capture_prefix": (["data-capture/", "capture/churn/"], ["/data-capture/", "data"]),
    "main_branch": (["main", "release/v2"], ["*", "ma in"]),
    "staging_environment": (["staging", "pre-prod_1"], ["stag*", ""]),
}
# Number validations: a condition of the form `var.X > 0 && floor(var.X) == var.X`.
DAY_VARIABLES = (
    "data_capture_expiration_days",
    "noncurrent_version_expiration_days",
    "abort_incomplete_multipart_upload_days",
)

# checkov: one pinned version (a new one may bring new checks: upgrade on purpose).
CHECKOV_SCAN_TIMEOUT = 300.0
# Offline and quiet: no policy metadata download from the Prisma Cloud API
# (--skip-download; BC_SKIP_MAPPING), no PyPI version check, no upload.
CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "LOG_LEVEL": "WARNING",
}
CHECKOV_FLAGS = (
    "--framework",
    "terraform",
    "--skip-download",
    "--download-external-modules",
    "false",
    "--output",
    "json",
)
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Za-z0-9_]+)(?::(.*))?$")

# The values docs/setup.md applies the module with (infra/apply, its root configuration).
TFVARS_EXAMPLE = MODULE.parent / "apply" / "terraform.tfvars.example"


def render(text: str, values: dict[str, str]) -> str:
    """A template's ${var.X} replaced by `values`; any other interpolation is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{text!r}: no test value for var.{name}"
        return values[name]

    rendered = re.sub(r"\$\{var\.([a-z0-9_]+)\}", replace, text)
    assert "${" not in rendered, f"{text!r} has an interpolation other than a variable"
    return rendered


def local_value(name: str) -> str:
    """The expression text of `local.<name>` (main.tf's locals)."""
    for data in module().values():
        for entry in data.get("locals", []):
            if name in entry:
                value = entry[name]
                return value if isinstance(value, str) else json.dumps(value)
    raise AssertionError(f"no local.{name} in {rel(MODULE)}")


# ---- parsing and files --------------------------------------------------------------------


def test_the_module_has_its_files() -> None:
    names = {path.name for path in TF_FILES}
    assert {"versions.tf", "variables.tf", "outputs.tf", "iam_policies.tf"} <= names, names
    assert TFVARS_EXAMPLE.is_file()
    assert (MODULE / "README.md").is_file()


@pytest.mark.parametrize("path", TF_FILES, ids=[rel(path) for path in TF_FILES])
def test_every_tf_file_parses(path: Path) -> None:
    assert parse(path), f"{rel(path)} is empty"


def test_tfvars_example_parses_and_sets_only_declared_variables() -> None:
    values = parse(TFVARS_EXAMPLE)
    # The module's inputs, and infra/apply's own (which accounts terraform applies to).
    declared = set(all_blocks("variable")) | {
        "staging_account_role_arn",
        "production_account_role_arn",
    }
    assert set(values) - {"__comments__"} <= declared, set(values) - declared
    assert "github_repository" in values


def test_versions_pin_terraform_and_the_aws_provider_and_configure_no_provider() -> None:
    versions = parse(MODULE / "versions.tf")["terraform"][0]
    assert literal(attribute(versions, "required_version")), "no required_version"
    providers = attribute(versions, "required_providers")
    providers = providers[0] if isinstance(providers, list) else providers
    aws = providers["aws"]
    assert literal(aws["source"]) == "hashicorp/aws"
    version = literal(aws["version"])
    assert version and version.startswith("~> 5."), f"aws provider not pinned: {version!r}"
    for name, data in module().items():
        assert "provider" not in data, f"{name} configures a provider: the caller does"


# ---- variables and outputs -----------------------------------------------------------------


def test_every_variable_has_a_description_and_a_type() -> None:
    variables = all_blocks("variable")
    assert variables
    for name, body in variables.items():
        description = literal(attribute(body, "description"))
        assert description and len(description) > 20, f"variable {name}: no description"
        assert attribute(body, "type"), f"variable {name}: no type"


def validation_regex(name: str) -> re.Pattern[str]:
    """The pattern of `can(regex("<pattern>", ...))` in variable `name`'s validation."""
    body = all_blocks("variable")[name]
    validations = sub_blocks(body, "validation")
    assert validations, f"variable {name} has no validation"
    condition = str(attribute(validations[0], "condition"))
    match = re.search(r'regex\(("(?:[^"\\]|\\.)*")', condition)
    assert match, f"variable {name}: no regex() in {condition!r}"
    # HCL escapes in a quoted string (\\, \") are JSON's.
    return re.compile(json.loads(match.group(1)))


@pytest.mark.parametrize("name", sorted(VALIDATION_CASES))
def test_variable_validations_accept_good_values_and_reject_bad_ones(name: str) -> None:
    pattern = validation_regex(name)
    good, bad = VALIDATION_CASES[name]
    for value in good:
        assert pattern.search(value), f"{name}: {value!r} should be accepted ({pattern.pattern})"
    for value in bad:
        assert not pattern.search(value), f"{name}: {value!r} should be rejected"


@pytest.mark.parametrize("name", DAY_VARIABLES)
def test_day_variables_must_be_whole_and_positive(name: str) -> None:
    body = all_blocks("variable")[name]
    condition = str(attribute(sub_blocks(body, "validation")[0], "condition"))
    assert f"var.{name} > 0" in condition, condition
    assert f"floor(var.{name}) == var.{name}" in condition, condition


def test_optional_arns_default_to_null() -> None:
    variables = all_blocks("variable")
    for name in (
        "oidc_provider_arn",
        "staging_oidc_provider_arn",
        "production_oidc_provider_arn",
        "kms_key_arn",
    ):
        assert "default" in variables[name], name
        assert variables[name]["default"] in (None, [None]), f"{name} should default to null"


def test_production_workflow_refs_is_a_list_that_defaults_to_empty() -> None:
    variable = all_blocks("variable")["production_workflow_refs"]
    assert attribute(variable, "type") == "${list(string)}", attribute(variable, "type")
    assert variable["default"] == [], variable["default"]
    condition = str(attribute(sub_blocks(variable, "validation")[0], "condition"))
    # Every element is checked, not only the first.
    assert re.match(
        r"\$\{alltrue\(\[for (\w+) in var\.production_workflow_refs : can\(regex\(\"[^\n]*\", \1\)\)\]\)\}$",
        condition,
    ), condition


def commented_assignments(text: str, name: str) -> list[str]:
    """The values of `# <name> = [...]` lines (commented-out examples) in `text`."""
    values: list[str] = []
    for match in re.finditer(rf"^\s*#\s*{name}\s*=\s*(\[.*\])\s*$", text, flags=re.MULTILINE):
        values.extend(json.loads(match.group(1)))
    return values


def test_production_workflow_refs_examples_are_commented_out_and_valid() -> None:
    """The example tfvars must not pin a ref a fork or a pinned caller would not get (F5): it
    only shows, commented out, one example per kind of caller, each accepted by the validation."""
    assert "production_workflow_refs" not in parse(TFVARS_EXAMPLE)
    pattern = validation_regex("production_workflow_refs")
    examples = commented_assignments(
        TFVARS_EXAMPLE.read_text(encoding="utf-8"),
        "production_workflow_refs",
    )
    refs = [value.split("@", 1)[1] for value in examples]
    assert "refs/tags/v1" in refs and "refs/tags/v1.*" in refs, refs
    assert any(re.fullmatch(r"[0-9a-f]{40}", ref) for ref in refs), refs
    assert len({value.split("/", 1)[0] for value in examples}) > 1, "no fork example"
    readme = commented_assignments(
        (MODULE / "README.md").read_text(encoding="utf-8"), "production_workflow_refs"
    )
    for value in examples + readme:
        assert pattern.search(value), f"{value!r} is rejected by the validation"


def test_pull_requests_are_not_trusted_by_default() -> None:
    variable = all_blocks("variable")["build_trust_pull_requests"]
    assert attribute(variable, "default") is False


def test_the_outputs_the_workflows_need_exist_with_descriptions_naming_their_use() -> None:
    outputs = all_blocks("output")
    for name, names in OUTPUTS.items():
        assert name in outputs, f"no output {name}"
        description = literal(attribute(outputs[name], "description")) or ""
        assert description, f"output {name}: no description"
        for expected in names:
            assert expected in description, f"output {name}: description should name {expected}"


def test_repository_variables_output_covers_every_variable_the_templates_read() -> None:
    used = {
        match
        for path in sorted(TEMPLATES.glob("*.yml"))
        for text in strings_in(load(path))
        for match in re.findall(r"\bvars\.([A-Z0-9_]+)", text)
    }
    output = attribute(all_blocks("output")["repository_variables"], "value")
    assert isinstance(output, dict), output
    provided = {key for key in output if not key.startswith("__")}
    assert used, "the templates read no repository variable?"
    assert used <= provided, f"repository_variables lacks {sorted(used - provided)}"


def test_the_readme_lists_every_input_and_output() -> None:
    text = (MODULE / "README.md").read_text(encoding="utf-8")
    for kind in ("variable", "output"):
        for name in all_blocks(kind):
            assert f"| `{name}` |" in text, f"infra/terraform/README.md does not list {kind} {name}"


# ---- permission documents ------------------------------------------------------------------


def test_the_four_permission_documents_are_in_iam_policies_tf() -> None:
    documents = blocks(parse(POLICIES), "data", "aws_iam_policy_document")
    assert set(PERMISSION_DOCUMENTS) <= set(documents), sorted(documents)


def permission_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    documents = policy_documents()
    for name in (*PERMISSION_DOCUMENTS, HOSTING_DOCUMENT):
        assert "dynamic" not in documents[name], f"{name}: statements must be static blocks"
        assert "source_policy_documents" not in documents[name], name
        assert "override_policy_documents" not in documents[name], name
        for statement in statements(documents[name]):
            yield name, statement


def test_permission_statements_have_sids_and_only_literal_actions() -> None:
    seen: dict[str, set[str]] = {}
    for name, statement in permission_statements():
        sid = literal(attribute(statement, "sid"))
        assert sid and SID.fullmatch(sid), f"{name}: a statement without a literal sid"
        assert sid not in seen.setdefault(name, set()), f"{name}: sid {sid} twice"
        seen[name].add(sid)
        assert "not_actions" not in statement, f"{name}.{sid}: not_actions"
        assert "not_resources" not in statement, f"{name}.{sid}: not_resources"
        effect = attribute(statement, "effect")
        assert effect is None or literal(effect) == "Allow", f"{name}.{sid}: {effect}"
        actions = statement.get("actions")
        assert isinstance(actions, list) and actions, f"{name}.{sid}: actions is not a list"
        for action in actions:
            text = literal(action)
            assert text is not None, f"{name}.{sid}: {action!r} is not a literal string"
            assert "*" not in text, f"{name}.{sid}: wildcard action {text}"
            assert ACTION.fullmatch(text), f"{name}.{sid}: {text!r} is not service:Action"
        texts = [literal(action) for action in actions]
        assert len(texts) == len(set(texts)), f"{name}.{sid}: an action twice"
    assert set(seen) == {*PERMISSION_DOCUMENTS, HOSTING_DOCUMENT}


def test_star_resources_only_for_actions_without_resource_level_permissions() -> None:
    for name, statement in permission_statements():
        sid = literal(attribute(statement, "sid"))
        resources = strings(statement["resources"])
        assert resources, f"{name}.{sid}: no resources"
        if "*" in resources:
            actions = {literal(action) for action in statement["actions"]}
            assert actions <= STAR_RESOURCE_ACTIONS, (
                f"{name}.{sid}: {sorted(actions - STAR_RESOURCE_ACTIONS, key=str)} on '*'"
            )
            assert resources == ["*"], f"{name}.{sid}: '*' mixed with ARNs"


def test_s3_is_granted_on_the_artifact_bucket_only() -> None:
    """The stages write where their inputs say (build-pipeline's default-bucket,
    enable-monitor's output-s3-uri), which the sagemaker backend requires rather than default
    to the SDK's sagemaker-<region>-<account>. So no role creates or lists buckets (the SDK's
    bootstrap of its default bucket: ListBuckets, HeadBucket, CreateBucket) and every S3
    action is on the artifact bucket or its objects."""
    bucket = "${aws_s3_bucket.artifacts.arn}"
    granted_s3 = 0
    for name, statement in permission_statements():
        sid = literal(attribute(statement, "sid"))
        actions = [a for a in strings(statement["actions"]) if a.startswith("s3:")]
        if not actions:
            continue
        granted_s3 += 1
        assert not {"s3:CreateBucket", "s3:ListAllMyBuckets"} & set(actions), f"{name}.{sid}"
        resources = set(strings(statement["resources"]))
        # The bucket, its objects, or a prefix's objects (the async prefix of staging's).
        inside = {r for r in resources if r == bucket or r.startswith(f"{bucket}/")}
        assert resources == inside and all(r.endswith("*") or r == bucket for r in resources), (
            f"{name}.{sid}: {sorted(resources)}"
        )
    assert granted_s3 >= 3  # the build, production and execution roles use the bucket


def test_execution_role_may_describe_the_rollback_alarms() -> None:
    """Deployment guardrails: "Ensure that your IAM execution role has permission to perform
    the cloudwatch:DescribeAlarms action on the auto-rollback alarms you specify" (SageMaker
    guide, deployment-guardrails-configuration.md). DescribeAlarms has the resource type
    alarm* (Service Authorization Reference), so the statement names alarm ARNs, not "*";
    the alarms input may name any alarm of the account, hence all of them in the region."""
    found = [
        statement
        for statement in statements(policy_documents()[HOSTING_DOCUMENT])
        if "cloudwatch:DescribeAlarms" in strings(statement["actions"])
    ]
    assert len(found) == 1, f"{HOSTING_DOCUMENT}: no (or two) DescribeAlarms statements"
    (statement,) = found
    assert literal(attribute(statement, "sid")) == "RollbackAlarms"
    assert strings(statement["actions"]) == ["cloudwatch:DescribeAlarms"]
    # The alarms of the account the endpoint is in (each.value: the hosting account's id).
    assert strings(statement["resources"]) == [
        "arn:${local.partition}:cloudwatch:${local.region}:${each.value}:alarm:*"
    ]
    assert conditions(statement) == []


def test_list_model_packages_is_granted_on_star() -> None:
    """register-and-gate's champion lookup (ListModelPackages) must not depend on which
    resource SageMaker authorizes a List call against. The Service Authorization Reference
    makes its model-package resource type optional; the SageMaker API permissions reference
    says "Except for the ListTags API, resource-level restrictions are not available on List-
    calls"; AWS's managed policy AmazonSageMakerModelRegistryFullAccess grants it on "*". A
    statement on model-package/* never matches a request authorized against "*"
    (AccessDenied), so the grant is "*", alone in its statement (docs/aws-fidelity.md)."""
    found = [
        statement
        for statement in statements(policy_documents()["build_permissions"])
        if "sagemaker:ListModelPackages" in strings(statement["actions"])
    ]
    assert len(found) == 1, "build_permissions: no (or two) ListModelPackages statements"
    (statement,) = found
    assert strings(statement["actions"]) == ["sagemaker:ListModelPackages"]
    assert strings(statement["resources"]) == ["*"]
    assert conditions(statement) == []


def test_pass_role_is_only_of_the_execution_role_to_sagemaker() -> None:
    passing: set[str] = set()
    for name, statement in permission_statements():
        actions = {literal(action) for action in statement["actions"]}
        if "iam:PassRole" not in actions:
            continue
        passing.add(name)
        sid = literal(attribute(statement, "sid"))
        assert actions == {"iam:PassRole"}, f"{name}.{sid}: PassRole shares a statement"
        assert statement["resources"] == [PASSED_ROLE[name]], (
            f"{name}.{sid}: PassRole on {statement['resources']}, not the execution role only"
        )
        assert conditions(statement) == [
            ("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
        ], f"{name}.{sid}: {conditions(statement)}"
    assert passing == set(PERMISSION_DOCUMENTS), "every role passes the execution role"
    # The deploy roles' locals are the execution role of their account or the tooling one.
    for stage in ("staging", "production"):
        assert re.fullmatch(
            rf"\$\{{local\.separate_{stage} \? aws_iam_role\.{stage}_execution\[0\]\.arn : aws_iam_role\.execution\.arn\}}",
            local_value(f"{stage}_execution_role_arn"),
        ), local_value(f"{stage}_execution_role_arn")


def test_each_role_gets_its_own_permission_document() -> None:
    policies = all_blocks("resource", "aws_iam_role_policy")
    for role, (_, document) in ROLES.items():
        policy = policies[role]
        assert template(attribute(policy, "role")) == f"${{aws_iam_role.{role}.id}}", role
        assert (
            template(attribute(policy, "policy"))
            == f"${{data.aws_iam_policy_document.{document}.json}}"
        ), role


# ---- trust policies ------------------------------------------------------------------------


TEST_VARIABLES = {
    "github_repository": "my-org/churn-model",
    "main_branch": "main",
    "staging_environment": "staging",
    "production_environment": "production",
}


def trust_statement(role: str) -> dict[str, Any]:
    roles = all_blocks("resource", "aws_iam_role")
    document = ROLES[role][0]
    assert template(attribute(roles[role], "assume_role_policy")) == (
        f"${{data.aws_iam_policy_document.{document}.json}}"
    ), f"role {role} does not use {document}"
    found = statements(policy_documents()[document])
    assert len(found) == 1, f"{document}: one statement expected"
    return found[0]


def oidc_statement(role: str) -> dict[str, Any]:
    statement = trust_statement(role)
    assert [literal(action) for action in statement["actions"]] == ["sts:AssumeRoleWithWebIdentity"]
    assert literal(attribute(statement, "effect")) in (None, "Allow")
    principals = sub_blocks(statement, "principals")
    assert len(principals) == 1
    assert literal(attribute(principals[0], "type")) == "Federated"
    assert strings(principals[0]["identifiers"]) == [TRUSTED_PROVIDER[role]]
    found = conditions(statement)
    assert ("StringEquals", f"{OIDC}:aud", ["sts.amazonaws.com"]) in found, found
    for test, variable, values in found:
        # aud and sub are compared exactly; patterns only in production's job_workflow_ref
        # (a dynamic block, checked below).
        assert test == "StringEquals", f"{role}: {test} on {variable}"
        assert all("*" not in value and "?" not in value for value in values), values
    return statement


def sub_values(role: str) -> list[str]:
    """The sub condition's values, with locals expanded to their templates."""
    subs = [
        values
        for _, variable, values in conditions(oidc_statement(role))
        if variable == f"{OIDC}:sub"
    ]
    assert len(subs) == 1, f"{role}: one sub condition expected"
    values: list[str] = []
    for value in subs[0]:
        match = re.fullmatch(r"\$\{local\.([a-z0-9_]+)\}", value)
        values.append(local_value(match.group(1)) if match else value)
    return values


def quoted_templates(expression: str) -> list[str]:
    return [json.loads(text) for text in re.findall(r'"(?:[^"\\]|\\.)*"', expression)]


def test_build_role_trusts_pushes_to_the_main_branch() -> None:
    (expression,) = sub_values("build")
    subjects = [render(text, TEST_VARIABLES) for text in quoted_templates(expression)]
    assert subjects == [
        "repo:my-org/churn-model:ref:refs/heads/main",
        "repo:my-org/churn-model:pull_request",
    ], subjects
    # The pull_request subject only with build_trust_pull_requests (default false).
    assert re.search(
        r'var\.build_trust_pull_requests\s*\?\s*\[\s*"repo:\$\{var\.github_repository\}:pull_request"\s*\]\s*:\s*\[\s*\]',
        expression,
    ), expression


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        ("deploy_staging", "repo:my-org/churn-model:environment:staging"),
        ("deploy_production", "repo:my-org/churn-model:environment:production"),
    ],
)
def test_deploy_roles_trust_their_environment(role: str, subject: str) -> None:
    (value,) = sub_values(role)
    assert render(template(value), TEST_VARIABLES) == subject


def test_staging_trust_has_only_aud_and_sub() -> None:
    statement = oidc_statement("deploy_staging")
    assert {variable for _, variable, _ in conditions(statement)} == {
        f"{OIDC}:aud",
        f"{OIDC}:sub",
    }
    assert "dynamic" not in statement


def test_production_trust_matches_job_workflow_ref_patterns_when_set() -> None:
    """One StringLike condition whose values are all the patterns (any may match), only when
    production_workflow_refs is not empty."""
    statement = oidc_statement("deploy_production")
    (dynamic,) = sub_blocks(statement, "dynamic")
    assert [label(key) for key in dynamic] == ["condition"], list(dynamic)
    (block,) = dynamic.values()
    for_each = str(attribute(block, "for_each"))
    assert re.fullmatch(
        r"\$\{length\(var\.production_workflow_refs\)\s*==\s*0\s*\?\s*\[\]\s*:\s*\[var\.production_workflow_refs\]\}",
        for_each,
    ), for_each
    (content,) = sub_blocks(block, "content")
    assert literal(attribute(content, "test")) == "StringLike"
    assert literal(attribute(content, "variable")) == f"{OIDC}:job_workflow_ref"
    assert template(attribute(content, "values")) == "${condition.value}"


def source_account_condition_holds(test: str, values: list[str], sent: str | None) -> bool:
    """IAM's verdict on one aws:SourceAccount condition when the service sends `sent` (None:
    the key is absent). IAM User Guide, reference_policies_elements_condition_operators.html:
    a key missing from the request context does not match a plain operator; "...IfExists":
    "If the key is not present, evaluate the condition element as true"."""
    operators = {"StringEquals": False, "StringEqualsIfExists": True}
    assert test in operators, f"{test}: not an operator this check knows"
    return operators[test] if sent is None else sent in values


def test_execution_role_is_trusted_by_sagemaker_of_this_account_only() -> None:
    """SageMaker may assume the execution role for this account, never for another; and a
    SageMaker feature that does not send aws:SourceAccount (unconfirmed for Pipelines,
    processing, hosting with data capture and Model Monitor schedules: SageMaker's
    confused-deputy page shows only aws:SourceArn) must not be locked out
    (docs/aws-fidelity.md)."""
    statement = trust_statement("execution")
    assert [literal(action) for action in statement["actions"]] == ["sts:AssumeRole"]
    (principal,) = sub_blocks(statement, "principals")
    assert literal(attribute(principal, "type")) == "Service"
    assert strings(principal["identifiers"]) == ["sagemaker.amazonaws.com"]
    ((test, variable, values),) = conditions(statement)
    assert (variable, values) == ("aws:SourceAccount", ["${local.account_id}"])
    assert source_account_condition_holds(test, values, "${local.account_id}")
    assert not source_account_condition_holds(test, values, "999999999999")
    assert source_account_condition_holds(test, values, None), (
        f"{test} on aws:SourceAccount locks out a SageMaker feature that does not send the key"
    )


def test_oidc_provider_is_created_unless_an_arn_is_given() -> None:
    provider = all_blocks("resource", "aws_iam_openid_connect_provider")["github"]
    assert literal(attribute(provider, "url")) == f"https://{OIDC}"
    assert strings(provider["client_id_list"]) == ["sts.amazonaws.com"]
    assert re.fullmatch(
        r"\$\{var\.oidc_provider_arn\s*==\s*null\s*\?\s*1\s*:\s*0\}",
        str(attribute(provider, "count")),
    )
    assert "thumbprint_list" not in provider


# ---- bucket and topic ----------------------------------------------------------------------


def bucket_resource(type_: str) -> dict[str, Any]:
    resource = all_blocks("resource", type_)["artifacts"]
    assert template(attribute(resource, "bucket")) == "${aws_s3_bucket.artifacts.id}", type_
    return resource


def test_bucket_is_versioned() -> None:
    (config,) = sub_blocks(bucket_resource("aws_s3_bucket_versioning"), "versioning_configuration")
    assert literal(attribute(config, "status")) == "Enabled"


def test_bucket_is_encrypted_with_kms() -> None:
    (rule,) = sub_blocks(
        bucket_resource("aws_s3_bucket_server_side_encryption_configuration"), "rule"
    )
    (default,) = sub_blocks(rule, "apply_server_side_encryption_by_default")
    assert literal(attribute(default, "sse_algorithm")) == "aws:kms"
    assert template(attribute(default, "kms_master_key_id")) == "${local.artifact_key_arn}"
    assert attribute(rule, "bucket_key_enabled") is True


def test_bucket_blocks_public_access_and_acls() -> None:
    block = bucket_resource("aws_s3_bucket_public_access_block")
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert attribute(block, setting) is True, setting
    (rule,) = sub_blocks(bucket_resource("aws_s3_bucket_ownership_controls"), "rule")
    assert literal(attribute(rule, "object_ownership")) == "BucketOwnerEnforced"


def test_bucket_policy_denies_requests_without_tls() -> None:
    policy = bucket_resource("aws_s3_bucket_policy")
    match = re.fullmatch(
        r"\$\{data\.aws_iam_policy_document\.([a-z0-9_]+)\.json\}", str(attribute(policy, "policy"))
    )
    assert match, attribute(policy, "policy")
    denies = [
        statement
        for statement in statements(policy_documents()[match.group(1)])
        if literal(attribute(statement, "effect")) == "Deny"
    ]
    assert any(
        ("Bool", "aws:SecureTransport", ["false"]) in conditions(statement)
        and [literal(action) for action in statement["actions"]] == ["s3:*"]
        and set(strings(statement["resources"]))
        == {"${aws_s3_bucket.artifacts.arn}", "${aws_s3_bucket.artifacts.arn}/*"}
        and [
            (literal(attribute(p, "type")), strings(p["identifiers"]))
            for p in sub_blocks(statement, "principals")
        ]
        == [("*", ["*"])]
        for statement in denies
    ), "no Deny of s3:* on the bucket and its objects when aws:SecureTransport is false"


def test_bucket_lifecycle_expires_capture_data_and_aborts_multipart_uploads() -> None:
    rules = sub_blocks(bucket_resource("aws_s3_bucket_lifecycle_configuration"), "rule")
    by_filter = {}
    for rule in rules:
        assert literal(attribute(rule, "status")) == "Enabled"
        (filter_,) = sub_blocks(rule, "filter")
        by_filter[str(attribute(filter_, "prefix"))] = rule
    capture = by_filter["${var.data_capture_prefix}"]
    (expiration,) = sub_blocks(capture, "expiration")
    assert str(attribute(expiration, "days")) == "${var.data_capture_expiration_days}"
    assert any(sub_blocks(rule, "abort_incomplete_multipart_upload") for rule in rules), (
        "no rule aborts incomplete multipart uploads"
    )


def test_alarm_topic_is_encrypted_with_a_customer_managed_key() -> None:
    topic = all_blocks("resource", "aws_sns_topic")["alarms"]
    assert template(attribute(topic, "kms_master_key_id")) == "${aws_kms_key.alarms.arn}"
    key = all_blocks("resource", "aws_kms_key")["alarms"]
    assert attribute(key, "enable_key_rotation") is True


# ---- docs/setup.md -------------------------------------------------------------------------

SETUP = ROOT / "docs" / "setup.md"


def test_setup_guide_lists_every_repository_variable_the_templates_read() -> None:
    text = SETUP.read_text(encoding="utf-8")
    output = attribute(all_blocks("output")["repository_variables"], "value")
    for name in (key for key in output if not key.startswith("__")):
        assert f"| `{name}` |" in text, f"docs/setup.md does not list {name}"


def test_setup_guide_quotes_oidc_auth_as_it_is() -> None:
    """The error titles and the missing-permission message the guide quotes are the ones
    oidc-auth prints."""
    from smgha import github_oidc

    text = SETUP.read_text(encoding="utf-8")
    source = (ROOT / "smgha" / "stages" / "oidc_auth.py").read_text(encoding="utf-8")
    titles = re.findall(r"^### `oidc-auth: ([^`]+)`", text, flags=re.MULTILINE)
    assert titles, "no oidc-auth error headings in docs/setup.md"
    for title in titles:
        assert f'"{title}"' in source, f"oidc-auth has no error titled {title!r}"
    with pytest.raises(github_oidc.TokenPermissionMissing) as missing:
        github_oidc.token_request_settings({})
    assert str(missing.value) in text


# ---- checkov -------------------------------------------------------------------------------


def inline_skips() -> list[tuple[str, str, str]]:
    """(file, check id, reason) of every `#checkov:skip=` comment in the module."""
    found = []
    for path in TF_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path.name, match.group(1), (match.group(2) or "").strip()))
    return found


def test_every_checkov_skip_gives_a_reason() -> None:
    for name, check, reason in inline_skips():
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check), f"{name}: {check} is not a check id"
        assert len(reason) >= 20, f"{name}: #checkov:skip={check} needs a reason after ':'"


def checkov_executable() -> Path:
    """checkov, in the virtual environment of its own that `make test` makes."""
    executable = Path(sys.prefix) / "opt" / "checkov" / "bin" / "checkov"
    assert executable.is_file(), f"{executable} is missing: `make test` installs it (see Makefile)"
    return executable


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    executable = checkov_executable()
    env = {
        key: value
        for key, value in os.environ.items()
        # No platform account: a key would make checkov upload the scan.
        if not key.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))
    }
    env.update(CHECKOV_ENV)
    command = [str(executable), "--directory", str(MODULE), *CHECKOV_FLAGS]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CHECKOV_SCAN_TIMEOUT,
            env=env,
            cwd=MODULE,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"checkov did not finish within {CHECKOV_SCAN_TIMEOUT:.0f} s")
    # 0: no failed check, 1: failed checks; anything else is checkov failing.
    assert result.returncode in (0, 1), (
        f"checkov exited {result.returncode}:\n{result.stderr[-3000:]}"
    )
    report = json.loads(result.stdout)
    # One framework: one report object (a list when several frameworks ran).
    if isinstance(report, list):
        (report,) = [item for item in report if item.get("check_type") == "terraform"]
    assert report.get("check_type") == "terraform", report.get("check_type")
    return report


def test_checkov_reports_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = checkov_report["results"].get("failed_checks", [])
    lines = [
        f"{item['check_id']} {item['check_name']}: {item['resource']} "
        f"({item['file_path']}:{item['file_line_range'][0]})"
        for item in failed
    ]
    assert not failed, "checkov failed checks (fix, or skip inline with a reason):\n" + "\n".join(
        lines
    )
    assert summary["parsing_errors"] == 0, summary
    assert summary["passed"] > 50, f"checkov checked almost nothing: {summary}"


def test_checkov_skips_are_exactly_the_inline_ones(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"].get("skipped_checks", [])
    reported = {(Path(item["file_path"]).name, item["check_id"]) for item in skipped}
    for item in skipped:
        reason = (item["check_result"].get("suppress_comment") or "").strip()
        assert reason, f"{item['check_id']} on {item['resource']} skipped without a reason"
    inline = {(name, check) for name, check, _ in inline_skips()}
    assert reported == inline, (
        f"skipped by checkov but not inline: {sorted(reported - inline)}; "
        f"inline skips that skip nothing (remove them): {sorted(inline - reported)}"
    )
