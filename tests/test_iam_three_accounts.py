"""Least privilege per account, proven: the three-account e2e run (tooling, staging and
production accounts; tests/e2e/three_accounts_run.py) judged call by call against the
policies infra/terraform renders for that deployment (tests/iam_accounts.py).

Every recorded call of the job roles, and what SageMaker does with each account's execution
role, is allowed by the principal's identity policies and, across accounts, by the resource's
own policy too (IAM's cross-account logic, applied by the evaluator). The calls cross accounts
only where a resource policy of the module admits them, and each one is denied without it;
every grant of a role is in its own account but for the named crossings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_accounts import (
    BUCKET,
    BUCKET_POLICY,
    DEPLOY_PRODUCTION,
    DEPLOY_STAGING,
    EXECUTION,
    GROUP_POLICY,
    IDENTITY,
    KEY,
    KEY_POLICY,
    PRODUCTION,
    SEPARATE_ROLES,
    STAGING,
    TOOLING,
    account_of,
    judged,
    policies,
    requests,
    resource_policy,
)
from tests.iam_simulator import IamRequest, denials

pytestmark = pytest.mark.slow

PACKAGES = f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/*"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return policies()


@pytest.fixture(scope="module")
def found(three_account_e2e: Any) -> list[IamRequest]:
    failed = [name for name, run in three_account_e2e.runs.items() if run.returncode != 0]
    assert three_account_e2e.runs and not failed, f"the three-account runs failed: {failed}"
    return requests(three_account_e2e.calls)


def crossing(request: IamRequest) -> bool:
    """A request for a resource of another account than its principal's, not counting
    SageMaker's built-in images (in AWS's own accounts, tests/iam_simulator.py)."""
    aws_image = request.resource.startswith("arn:aws:ecr:") and request.account not in (
        TOOLING,
        STAGING,
        PRODUCTION,
    )
    return request.account != account_of(request.principal) and not aws_image


def test_every_call_is_allowed_by_its_account_s_policies(
    found: list[IamRequest], rendered: dict[str, dict[str, Any]]
) -> None:
    assert {r.principal for r in found} == set(IDENTITY), "a role made no call in the runs"
    problems = denials(judged(found), rendered)
    assert problems == [], "not allowed:\n" + "\n".join(problems)


def test_the_runs_cross_accounts_where_a_resource_policy_admits_them(
    found: list[IamRequest],
) -> None:
    crossings = [r for r in found if crossing(r)]
    assert all(r.account == TOOLING for r in crossings), "only the tooling account is reached"
    assert all(resource_policy(r.resource) for r in crossings), [
        r.describe() for r in crossings if not resource_policy(r.resource)
    ]
    made = {(r.principal, r.action, resource_policy(r.resource)) for r in crossings}
    # The deploy stages read the package of the tooling account; SageMaker reads its
    # artifact with the target account's execution role; S3 uses the bucket key for both.
    assert {
        (DEPLOY_STAGING, "sagemaker:DescribeModelPackage", GROUP_POLICY),
        (DEPLOY_PRODUCTION, "sagemaker:DescribeModelPackage", GROUP_POLICY),
        (EXECUTION[STAGING], "s3:GetObject", BUCKET_POLICY),
        (EXECUTION[PRODUCTION], "s3:GetObject", BUCKET_POLICY),
        (EXECUTION[STAGING], "kms:Decrypt", KEY_POLICY),
        (DEPLOY_PRODUCTION, "s3:PutObject", BUCKET_POLICY),  # enable-monitor's baseline
        (EXECUTION[PRODUCTION], "s3:PutObject", BUCKET_POLICY),  # data capture
        (EXECUTION[PRODUCTION], "kms:GenerateDataKey", KEY_POLICY),
    } <= made, sorted(made)


def test_without_the_resource_policies_every_crossing_is_denied(
    found: list[IamRequest], rendered: dict[str, dict[str, Any]]
) -> None:
    """The identity policies alone do not reach the tooling account: each crossing needs the
    module's resource policy (and would fail on AWS without it)."""
    crossings = [r for r in found if crossing(r)]
    problems = denials(judged(crossings, with_resource_policies=False), rendered)
    made = {(r.principal, r.describe()) for r in crossings}
    assert len(problems) == len(made), problems
    assert all(" ImplicitlyDenied: " in problem for problem in problems), problems


def _accounts(policy: dict[str, Any]) -> set[str]:
    """The accounts a policy's Resource ARNs name ("*" and S3 ARNs name none)."""
    return {
        arn.split(":")[4]
        for statement in policy["Statement"]
        for arn in statement.get("Resource", [])
        if arn.count(":") >= 5 and arn.split(":")[4] not in ("", "*")
    }


@pytest.mark.parametrize(
    "document, account, elsewhere",
    [
        ("build_permissions", TOOLING, set()),
        ("execution_permissions", TOOLING, set()),
        ("deploy_staging_permissions", STAGING, {TOOLING}),  # the group's packages
        ("deploy_production_permissions", PRODUCTION, {TOOLING}),
        ("hosting_execution_permissions[staging]", STAGING, set()),
        ("hosting_execution_permissions[production]", PRODUCTION, set()),
        ("bucket_key_permissions", TOOLING, set()),  # the key is the tooling account's
    ],
)
def test_each_role_s_grants_are_in_its_own_account(
    rendered: dict[str, dict[str, Any]], document: str, account: str, elsewhere: set[str]
) -> None:
    assert _accounts(rendered[document]) - {account} == elsewhere, rendered[document]
    if elsewhere:  # and there only on the group's packages
        reached = {
            arn
            for statement in rendered[document]["Statement"]
            for arn in statement.get("Resource", [])
            if arn.count(":") >= 5 and arn.split(":")[4] in elsewhere
        }
        assert reached == {PACKAGES}, reached


def _principals(policy: dict[str, Any]) -> set[str]:
    return {
        arn
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for arn in (statement.get("Principal") or {}).get("AWS", [])
    }


def test_the_resource_policies_admit_only_the_separate_accounts_roles(
    rendered: dict[str, dict[str, Any]],
) -> None:
    assert _principals(rendered[GROUP_POLICY]) == {DEPLOY_STAGING, DEPLOY_PRODUCTION}
    assert _principals(rendered[BUCKET_POLICY]) == set(SEPARATE_ROLES)
    # The key's users, and its administrator: the tooling account itself.
    assert _principals(rendered[KEY_POLICY]) == {*SEPARATE_ROLES, f"arn:aws:iam::{TOOLING}:root"}
    (grant,) = [s for s in rendered[GROUP_POLICY]["Statement"] if s["Effect"] == "Allow"]
    # What the deploy stages call, no more; CreateModel as the SageMaker guide's cross-account
    # page grants it ("Deploy a Model Version from a Different Account"), on the packages.
    assert sorted(grant["Action"]) == ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"]
    assert grant["Resource"] == [PACKAGES]
    assert KEY.startswith(f"arn:aws:kms:us-east-1:{TOOLING}:key/") and BUCKET


def test_the_run_used_the_group_policy_terraform_renders(
    three_account_e2e: Any, rendered: dict[str, dict[str, Any]]
) -> None:
    """The double refuses a cross-account read the group's policy does not allow, so the run's
    success proves this policy suffices: it must be the rendered one."""
    assert three_account_e2e.group_policy == rendered[GROUP_POLICY]


def test_the_check_fails_when_the_identity_policies_are_narrowed(
    found: list[IamRequest], rendered: dict[str, dict[str, Any]]
) -> None:
    """Every request is reported against copies of the identity policies whose resource
    patterns match nothing (the resource policies kept): the check above can fail, call by
    call. Which actions each document holds is held to what the stages call by
    tests/test_iam_least_privilege.py, on the same documents."""
    narrowed = {
        name: {
            **policy,
            "Statement": [
                {
                    **s,
                    "Resource": [
                        "arn:aws:s3:::narrowed" if r == "*" else f"{r}-narrowed"
                        for r in s["Resource"]
                    ],
                }
                for s in policy["Statement"]
            ],
        }
        if name in {n for names in IDENTITY.values() for n in names}
        else policy
        for name, policy in rendered.items()
    }
    problems = denials(judged(found), narrowed)
    assert len(problems) == len({(r.principal, r.describe()) for r in found}), problems[:5]
