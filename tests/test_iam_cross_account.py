"""The IAM evaluator applies AWS's cross-account logic: a request for a resource of another
account is allowed only when the principal's identity policy AND the resource's policy allow
it; in one account either suffices (IAM User Guide, "Cross-account policy evaluation logic",
reference_policies_evaluation-logic-cross-account.html). tests/test_iam_three_accounts.py
relies on it to judge the three-account e2e run."""

from __future__ import annotations

from typing import Any

from tests.iam_simulator import IamRequest, Judged, denials

TOOLING, STAGING = "123456789012", "234567890123"
DEPLOY = f"arn:aws:iam::{STAGING}:role/churn-deploy-staging"
OTHER = f"arn:aws:iam::{STAGING}:role/someone-else"
OBJECT = "arn:aws:s3:::acme-churn-mlops/models/model.tar.gz"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/1"


def allow(actions: list[str], resources: list[str], principal: str = "") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if principal:
        statement["Principal"] = {"AWS": [principal]}
    return {"Version": "2012-10-17", "Statement": [statement]}


POLICIES = {
    "reads_objects": allow(["s3:GetObject"], ["arn:aws:s3:::acme-churn-mlops/*"]),
    "reads_packages": allow(
        ["sagemaker:DescribeModelPackage"],
        [f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/*"],
    ),
    "nothing": {"Version": "2012-10-17", "Statement": []},
    "bucket_admits_deploy": allow(
        ["s3:GetObject"], ["arn:aws:s3:::acme-churn-mlops/*"], principal=DEPLOY
    ),
    "bucket_admits_other": allow(
        ["s3:GetObject"], ["arn:aws:s3:::acme-churn-mlops/*"], principal=OTHER
    ),
    "group_admits_deploy": allow(
        ["sagemaker:DescribeModelPackage"],
        [f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/churn-models/*"],
        principal=DEPLOY,
    ),
}


def read(resource: str, action: str, account: str) -> IamRequest:
    return IamRequest(DEPLOY, action, resource, account, why="a read")


def test_across_accounts_both_the_identity_and_the_resource_policy_must_allow() -> None:
    get = read(OBJECT, "s3:GetObject", TOOLING)
    describe = read(PACKAGE, "sagemaker:DescribeModelPackage", TOOLING)
    assert denials([Judged(get, ("reads_objects",), "bucket_admits_deploy")], POLICIES) == []
    assert denials([Judged(describe, ("reads_packages",), "group_admits_deploy")], POLICIES) == []
    # The identity policy alone is not enough in another account ...
    assert denials([Judged(get, ("reads_objects",))], POLICIES) != []
    assert denials([Judged(describe, ("reads_packages",))], POLICIES) != []
    # ... nor a resource policy that names another principal ...
    assert denials([Judged(get, ("reads_objects",), "bucket_admits_other")], POLICIES) != []
    # ... nor the resource policy alone.
    assert denials([Judged(get, ("nothing",), "bucket_admits_deploy")], POLICIES) != []


def test_in_one_account_the_identity_policy_suffices() -> None:
    get = read(OBJECT, "s3:GetObject", STAGING)
    assert denials([Judged(get, ("reads_objects",))], POLICIES) == []
    assert denials([Judged(get, ("nothing",))], POLICIES) != []


def test_several_identity_policies_are_one_set_and_messages_name_them_all() -> None:
    get = read(OBJECT, "s3:GetObject", STAGING)
    assert denials([Judged(get, ("nothing", "reads_objects"))], POLICIES) == []
    (problem,) = denials([Judged(get, ("nothing", "reads_packages"))], POLICIES)
    assert problem.startswith("nothing+reads_packages ImplicitlyDenied: s3:GetObject on "), problem


def test_a_built_in_image_is_pulled_from_aws_s_account_on_the_identity_policy_alone() -> None:
    """SageMaker's images are in AWS's accounts: the stand-in repository policy admits the pull,
    so the puller's identity policy decides, and still must allow it."""
    repository = "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"
    pull = IamRequest(DEPLOY, "ecr:BatchGetImage", repository, "683313688378", why="a pull")
    policies = {**POLICIES, "pulls": allow(["ecr:BatchGetImage"], [repository])}
    assert denials([(pull, "pulls")], policies) == []
    assert denials([(pull, "nothing")], policies) != []
