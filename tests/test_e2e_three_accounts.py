"""End to end with staging and production in AWS accounts of their own: the starter templates
run by act on the sagemaker backend against the AWS double with three account ids
(tests/e2e/three_accounts_run.py). The build registers in the tooling account; the deploy
puts staging in the staging account and production in the production account, each reading
the tooling account's package across the boundary as the group's resource policy allows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha.backends.aws import SageMakerBackend
from smgha.errors import StageError
from smgha.resources.hosting import model_request
from tests.e2e import harness
from tests.e2e.sagemaker_run import BUCKET, GROUP
from tests.e2e.three_accounts_run import (
    ACCOUNTS,
    ENDPOINTS,
    JOB_ROLES,
    PRODUCTION,
    STAGING,
    TOOLING,
    VARIABLES,
    ThreeAccountRun,
    seed,
)
from tests.iam_accounts import GROUP_POLICY, policies
from tests.stage_helpers import approved_package_request

pytestmark = pytest.mark.slow

DEPLOY_ROLES = {
    STAGING: JOB_ROLES["deploy-staging"],
    PRODUCTION: JOB_ROLES["deploy-production"],
}
EXECUTION_ROLES = {
    STAGING: VARIABLES["SAGEMAKER_STAGING_EXECUTION_ROLE_ARN"],
    PRODUCTION: VARIABLES["SAGEMAKER_PRODUCTION_EXECUTION_ROLE_ARN"],
}
ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def _succeeded(result: ThreeAccountRun, name: str) -> harness.ActRun:
    run = result.runs.get(name)
    if run is None:
        pytest.fail(f"{name} did not run: an earlier run failed ({sorted(result.runs)})")
    if run.returncode != 0:
        pytest.fail(f"{name} failed (act exit {run.returncode}); log {run.log}:\n{run.tail()}")
    return run


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_the_build_and_the_deploy_succeed(three_account_e2e: ThreeAccountRun) -> None:
    build = _succeeded(three_account_e2e, "build-1")
    _succeeded(three_account_e2e, "deploy-1")
    assert "::set-output:: decision=approved" in build.text
    assert three_account_e2e.arns["build-1"] == (
        f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/{GROUP}/1"
    )
    # Production waited for the reviewer (at each of its credential exchanges), who approved.
    reviews = three_account_e2e.reviews
    assert reviews and {(r.role, r.approved) for r in reviews} == {
        (JOB_ROLES["deploy-production"], True)
    }


def test_the_built_package_is_in_the_tooling_account_only(
    three_account_e2e: ThreeAccountRun,
) -> None:
    _succeeded(three_account_e2e, "deploy-1")
    accounts = three_account_e2e.accounts
    packages = [p["ModelPackageArn"] for p in accounts["tooling"].packages]
    assert packages == [three_account_e2e.arns["build-1"]]
    assert accounts["staging"].packages == [] and accounts["production"].packages == []


def test_each_endpoint_is_in_its_own_account_only(three_account_e2e: ThreeAccountRun) -> None:
    _succeeded(three_account_e2e, "deploy-1")
    for label, account in ACCOUNTS.items():
        state = three_account_e2e.accounts[label]
        here = {name for name, owner in ENDPOINTS.items() if owner == account}
        assert set(state.endpoints) == here, label
        assert set(state.missing_endpoints) == set(ENDPOINTS) - here, label
        assert set(state.missing_endpoints.values()) <= {"ValidationException"}
        for name, endpoint in state.endpoints.items():
            assert endpoint["EndpointStatus"] == "InService"
            assert f":{account}:endpoint/{name}" in endpoint["EndpointArn"]


def test_each_endpoint_serves_the_tooling_package_with_its_accounts_execution_role(
    three_account_e2e: ThreeAccountRun,
) -> None:
    _succeeded(three_account_e2e, "deploy-1")
    package = three_account_e2e.arns["build-1"]
    for name, account in ENDPOINTS.items():
        label = next(k for k, v in ACCOUNTS.items() if v == account)
        model = three_account_e2e.accounts[label].models[name]
        assert model["PrimaryContainer"]["ModelPackageName"] == package
        assert f":{account}:model/" in model["ModelArn"]
        assert model["ExecutionRoleArn"] == EXECUTION_ROLES[account]
    # Each stage's guardrails are its own account's: alarms, scaling, the alarm topic.
    accounts = three_account_e2e.accounts
    for label in ("staging", "production"):
        assert accounts[label].alarms
        assert all(a.startswith(f"churn-{label}-") for a in accounts[label].alarms)
    assert accounts["tooling"].alarms == []
    assert accounts["production"].scalable_targets
    assert accounts["tooling"].scalable_targets == []
    assert accounts["production"].topics == [VARIABLES["ALARM_TOPIC_ARN"]]


def test_the_deploy_roles_read_the_package_across_accounts(
    three_account_e2e: ThreeAccountRun,
) -> None:
    _succeeded(three_account_e2e, "deploy-1")
    package = three_account_e2e.arns["build-1"]
    for account, role in DEPLOY_ROLES.items():
        calls = [c for c in three_account_e2e.calls if c["role"] == role]
        assert calls and {c["account"] for c in calls} == {account}
        describes = [c for c in calls if c["operation"] == "DescribeModelPackage"]
        assert describes, role
        assert all(c["params"]["ModelPackageName"] == package for c in describes)
        assert all(c["status"] == 200 for c in describes)
        models = [c for c in calls if c["operation"] == "CreateModel"]
        assert [c["status"] for c in models] == [200], role
        assert models[0]["params"]["PrimaryContainer"]["ModelPackageName"] == package
        assert models[0]["params"]["ExecutionRoleArn"] == EXECUTION_ROLES[account]


def test_no_deploy_call_touches_a_tooling_resource_but_the_package_and_the_bucket(
    three_account_e2e: ThreeAccountRun,
) -> None:
    """A deploy role's calls act in its own account (moto maps its keys there); the only
    tooling resources they name are the package version (by its ARN) and the artifact
    bucket's objects."""
    _succeeded(three_account_e2e, "deploy-1")
    package = three_account_e2e.arns["build-1"]
    object_operations = {
        "GetObject",
        "HeadObject",
        "PutObject",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
    strays = []
    for call in three_account_e2e.calls:
        if call["role"] not in DEPLOY_ROLES.values():
            continue
        if call["service"] == "s3":
            if call["params"].get("Bucket") != BUCKET or call["operation"] not in object_operations:
                strays.append(call)
            continue
        named = {
            text
            for text in _strings(call["params"])
            for account in ARN_ACCOUNT.findall(text)
            if account == TOOLING
        }
        if named - {package}:
            strays.append(call)
    assert strays == []


def test_every_call_of_a_job_uses_its_role_and_the_contract_holds(
    three_account_e2e: ThreeAccountRun,
) -> None:
    assert three_account_e2e.calls, "the double recorded nothing"
    roles = set(JOB_ROLES.values())
    strays = [
        c
        for c in three_account_e2e.calls
        if c["role"] not in roles
        and c["access_key"] not in three_account_e2e.harness_keys
        and c["operation"] != "AssumeRoleWithWebIdentity"
    ]
    assert strays == []
    assert {c["role"] for c in three_account_e2e.calls if c["role"]} == roles
    assert [c for c in three_account_e2e.calls if c.get("refused")] == []
    assert [c for c in three_account_e2e.calls if c["status"] >= 500] == []


def test_github_runner_rules_hold_in_every_run(three_account_e2e: ThreeAccountRun) -> None:
    assert set(three_account_e2e.violations) == {"build-1", "deploy-1"}
    assert three_account_e2e.violations == {"build-1": [], "deploy-1": []}


# ---- without the group policy (the double alone, no act run) -------------------------------


def test_without_the_group_policy_the_deploy_cannot_read_or_serve_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's seed with no group policy: the staging deploy's first reads of the package
    (the deploy stage's own registry and hosting code, as the staging role) are refused, so
    the deploy fails before it creates anything; with the policy they pass."""
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("0,1\n")
    double = harness.AwsDouble(
        tmp_path,
        jwks_url="http://127.0.0.1:9/jwks",  # no web identity here
        model_artifact=baseline,
        metrics=[{}],
    ).start()
    try:
        seed(double, baseline, group_policy=None)
        package = double.client("sagemaker").create_model_package(
            **approved_package_request(GROUP, {})
        )["ModelPackageArn"]
        issued = boto3.client(
            "sts",
            endpoint_url=double.url,
            region_name="us-east-1",
            aws_access_key_id="harness",
            aws_secret_access_key="harness",
        ).assume_role(RoleArn=DEPLOY_ROLES[STAGING], RoleSessionName="deploy")["Credentials"]
        monkeypatch.setenv("AWS_ENDPOINT_URL", double.url)
        session = boto3.Session(
            aws_access_key_id=issued["AccessKeyId"],
            aws_secret_access_key=issued["SecretAccessKey"],
            aws_session_token=issued["SessionToken"],
            region_name="us-east-1",
        )
        backend = SageMakerBackend("us-east-1", session)
        request = model_request("churn-models-v1", package, EXECUTION_ROLES[STAGING])

        # The stage's error says what else must allow a read across accounts.
        with pytest.raises(StageError, match="AccessDeniedException.*resource's own policy"):
            backend.registry.describe_model_package(package)
        with pytest.raises(StageError, match="AccessDeniedException"):
            backend.hosting.create_model(request)

        double.client("sagemaker").put_model_package_group_policy(
            ModelPackageGroupName=GROUP, ResourcePolicy=json.dumps(policies()[GROUP_POLICY])
        )
        described = backend.registry.describe_model_package(package)
        backend.hosting.create_model(request)
    finally:
        double.stop()
    assert described is not None
    calls = [
        (c["operation"], c["status"])
        for c in double.recorded_calls()
        if c["role"] == DEPLOY_ROLES[STAGING]
    ]
    assert calls == [
        ("DescribeModelPackage", 400),
        ("CreateModel", 400),
        ("DescribeModelPackage", 200),
        ("CreateModel", 200),
    ]
