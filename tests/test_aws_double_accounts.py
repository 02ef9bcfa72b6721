"""The AWS double across accounts (tests/e2e/double_accounts.py): every call acts in its
caller's account, and a model package of another account is read, or made a model of, only
as its group's resource policy allows, as SageMaker does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.aws_double import Double
from tests.e2e.double_accounts import policy_allows
from tests.stage_helpers import approved_package_request
from tests.test_aws_contract import double  # noqa: F401 (the fixture)

TOOLING, STAGING, PRODUCTION = "123456789012", "234567890123", "345678901234"
GROUP = "churn-models"
STAGING_DEPLOY = f"arn:aws:iam::{STAGING}:role/churn-deploy-staging"
PRODUCTION_DEPLOY = f"arn:aws:iam::{PRODUCTION}:role/churn-deploy-production"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

Clients = Callable[[str], Any]


def _as_role(url: str, role: str) -> Clients:
    """Clients signed by `role`: its keys from the double's STS (AssumeRole through the proxy),
    so the double learns the role and moto maps the keys to the role's account."""
    plain = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    issued = boto3.client("sts", endpoint_url=url, region_name="us-east-1", **plain).assume_role(
        RoleArn=role, RoleSessionName="test"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        region_name="us-east-1",
    )
    config = Config(retries={"total_max_attempts": 1})
    return lambda service: session.client(service, endpoint_url=url, config=config)


def _tooling(url: str) -> Clients:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return lambda service: session.client(service, endpoint_url=url)


def _package(url: str) -> str:
    """A package version of GROUP in the tooling account, its artifact in a tooling bucket."""
    tooling = _tooling(url)
    tooling("s3").create_bucket(Bucket="acme-churn-mlops")
    tooling("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    request = approved_package_request(GROUP, {})
    return str(tooling("sagemaker").create_model_package(**request)["ModelPackageArn"])


def _policy(principals: list[str], actions: list[str], resource: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": principals},
                    "Action": actions,
                    "Resource": resource,
                }
            ],
        }
    )


def _put_policy(url: str, policy: str) -> None:
    _tooling(url)("sagemaker").put_model_package_group_policy(
        ModelPackageGroupName=GROUP, ResourcePolicy=policy
    )


def _code(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def _model(sagemaker: Any, name: str, package: str) -> Any:
    return sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"ModelPackageName": package},
        ExecutionRoleArn=f"arn:aws:iam::{STAGING}:role/churn-sagemaker-execution",
    )


# ---- each call in its caller's account ------------------------------------------------------


def test_endpoints_alarms_and_schedules_live_in_the_callers_account(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    url, instance = double
    staging = _as_role(url, STAGING_DEPLOY)
    tooling = _tooling(url)
    sagemaker = staging("sagemaker")
    sagemaker.create_model(
        ModelName="churn-1",
        ExecutionRoleArn=f"arn:aws:iam::{STAGING}:role/churn-sagemaker-execution",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn-1",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://b/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    arn = sagemaker.create_endpoint(EndpointName="churn-staging", EndpointConfigName="c1")[
        "EndpointArn"
    ]

    assert f":{STAGING}:endpoint/" in arn
    assert sagemaker.describe_endpoint(EndpointName="churn-staging")["EndpointStatus"]
    code, _ = _code(lambda: tooling("sagemaker").describe_endpoint(EndpointName="churn-staging"))
    assert code == "ValidationException"
    # The double's own UpdateEndpoint finds the endpoint in the caller's account only.
    code, message = _code(
        lambda: tooling("sagemaker").update_endpoint(
            EndpointName="churn-staging", EndpointConfigName="c1"
        )
    )
    assert "Could not find endpoint" in message
    arn = sagemaker.update_endpoint(EndpointName="churn-staging", EndpointConfigName="c1")
    assert f":{STAGING}:endpoint/churn-staging" in arn["EndpointArn"]

    staging("cloudwatch").put_metric_alarm(
        AlarmName="churn-staging-errors",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    assert [a["AlarmName"] for a in staging("cloudwatch").describe_alarms()["MetricAlarms"]] == [
        "churn-staging-errors"
    ]
    assert tooling("cloudwatch").describe_alarms()["MetricAlarms"] == []

    sagemaker.create_data_quality_job_definition(
        JobDefinitionName="dq",
        DataQualityAppSpecification={
            "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
        },
        DataQualityJobInput={
            "EndpointInput": {
                "EndpointName": "churn-staging",
                "LocalPath": "/opt/ml/processing/input",
            }
        },
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": "s3://b/m", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 20,
            }
        },
        RoleArn=f"arn:aws:iam::{STAGING}:role/churn-sagemaker-execution",
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    schedule = sagemaker.create_monitoring_schedule(
        MonitoringScheduleName="dq-schedule",
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            "MonitoringJobDefinitionName": "dq",
            "MonitoringType": "DataQuality",
        },
    )["MonitoringScheduleArn"]
    assert f":{STAGING}:monitoring-schedule/dq-schedule" in schedule
    assert sagemaker.describe_monitoring_schedule(MonitoringScheduleName="dq-schedule")
    code, _ = _code(
        lambda: tooling("sagemaker").describe_monitoring_schedule(
            MonitoringScheduleName="dq-schedule"
        )
    )
    assert code == "ResourceNotFound"
    # Recorded with the role that signed each call.
    calls = [json.loads(line) for line in instance.calls_path.read_text().splitlines()]
    assert {c["role"] for c in calls if c["operation"] == "CreateEndpoint"} == {STAGING_DEPLOY}


# ---- the group's resource policy --------------------------------------------------------------


def test_a_group_policy_is_put_read_and_deleted_in_the_groups_account(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    url, _ = double
    package = _package(url)
    sagemaker = _tooling(url)("sagemaker")
    code, _ = _code(lambda: sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP))
    assert code == "ValidationException"  # none yet
    policy = _policy([STAGING_DEPLOY], ["sagemaker:DescribeModelPackage"], package)

    answer = sagemaker.put_model_package_group_policy(
        ModelPackageGroupName=GROUP, ResourcePolicy=policy
    )

    assert answer["ModelPackageGroupArn"].endswith(f":{TOOLING}:model-package-group/{GROUP}")
    read = sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP)
    assert json.loads(read["ResourcePolicy"]) == json.loads(policy)
    # Another account has no such group: its name is looked up there.
    staging = _as_role(url, STAGING_DEPLOY)("sagemaker")
    code, message = _code(
        lambda: staging.get_model_package_group_policy(ModelPackageGroupName=GROUP)
    )
    assert (code, message) == ("ValidationException", f"ModelPackageGroup {GROUP} does not exist.")
    code, _ = _code(
        lambda: sagemaker.put_model_package_group_policy(
            ModelPackageGroupName=GROUP, ResourcePolicy='{"Statement": [{"Effect": "Allow"}]}'
        )
    )
    assert code == "ValidationException"  # no Principal, Action or Resource

    sagemaker.delete_model_package_group_policy(ModelPackageGroupName=GROUP)

    code, _ = _code(lambda: sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP))
    assert code == "ValidationException"


# ---- reading a package across accounts --------------------------------------------------------


def test_a_package_of_another_account_is_read_only_as_its_group_policy_allows(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    url, instance = double
    package = _package(url)
    staging = _as_role(url, STAGING_DEPLOY)("sagemaker")

    def describe() -> Any:
        return staging.describe_model_package(ModelPackageName=package)

    code, message = _code(describe)  # no policy
    assert code == "AccessDeniedException"
    assert message == (
        f"User: {STAGING_DEPLOY} is not authorized to perform: sagemaker:DescribeModelPackage "
        f"on resource: {package} because no resource-based policy allows the "
        "sagemaker:DescribeModelPackage action"
    )
    _put_policy(url, _policy([PRODUCTION_DEPLOY], ["sagemaker:DescribeModelPackage"], package))
    assert _code(describe)[0] == "AccessDeniedException"  # another principal
    _put_policy(url, _policy([STAGING_DEPLOY], ["sagemaker:CreateModel"], package))
    assert _code(describe)[0] == "AccessDeniedException"  # another action
    _put_policy(
        url,
        _policy([STAGING_DEPLOY], ["sagemaker:DescribeModelPackage"], package.replace("/1", "/2")),
    )
    assert _code(describe)[0] == "AccessDeniedException"  # another package

    _put_policy(
        url,
        _policy(
            [STAGING_DEPLOY],
            ["sagemaker:DescribeModelPackage"],
            f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/{GROUP}/?",
        ),
    )

    described = describe()
    assert described["ModelPackageArn"] == package
    assert described["ModelApprovalStatus"] == "Approved"
    # By name, not ARN, another account's package is looked up in the caller's: not found.
    code, _ = _code(lambda: staging.describe_model_package(ModelPackageName=f"{GROUP}/1"))
    assert code == "ValidationException"
    calls = [json.loads(line) for line in instance.calls_path.read_text().splitlines()]
    describes = [c for c in calls if c["operation"] == "DescribeModelPackage"]
    assert [c["status"] for c in describes] == [400, 400, 400, 400, 200, 400]
    assert {c["role"] for c in describes} == {STAGING_DEPLOY}


def test_the_account_root_principal_and_sagemaker_star_allow_it_too(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    url, _ = double
    package = _package(url)
    _put_policy(url, _policy([f"arn:aws:iam::{PRODUCTION}:root"], ["sagemaker:*"], package))

    production = _as_role(url, PRODUCTION_DEPLOY)("sagemaker")
    staging = _as_role(url, STAGING_DEPLOY)("sagemaker")

    assert production.describe_model_package(ModelPackageName=package)["ModelPackageArn"]
    assert _code(lambda: staging.describe_model_package(ModelPackageName=package))[0] == (
        "AccessDeniedException"
    )


def test_a_model_of_another_accounts_package_is_made_only_as_its_group_policy_allows(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    url, _ = double
    package = _package(url)
    staging = _as_role(url, STAGING_DEPLOY)("sagemaker")
    tooling = _tooling(url)("sagemaker")

    assert _code(lambda: _model(staging, "m", package))[0] == "AccessDeniedException"
    _put_policy(url, _policy([STAGING_DEPLOY], ["sagemaker:DescribeModelPackage"], package))
    assert _code(lambda: _model(staging, "m", package))[0] == "AccessDeniedException"
    _put_policy(url, _policy([PRODUCTION_DEPLOY], ["sagemaker:CreateModel"], package))
    assert _code(lambda: _model(staging, "m", package))[0] == "AccessDeniedException"
    _put_policy(url, _policy([STAGING_DEPLOY], ["sagemaker:CreateModel"], package))
    # A package named by its name: the caller's own account has none.
    assert _code(lambda: _model(staging, "m", f"{GROUP}/1"))[0] == "ValidationException"
    # An ARN of a package the group does not have.
    missing = package.replace("/1", "/9")
    _put_policy(url, _policy([STAGING_DEPLOY], ["sagemaker:CreateModel"], missing[:-1] + "*"))
    assert _code(lambda: _model(staging, "m", missing))[0] == "ValidationException"

    arn = _model(staging, "m", package)["ModelArn"]

    assert f":{STAGING}:model/" in arn  # the model is the caller's
    model = staging.describe_model(ModelName="m")
    assert model["PrimaryContainer"]["ModelPackageName"] == package
    assert _code(lambda: tooling.describe_model(ModelName="m"))[0] == "ValidationException"


def test_an_endpoint_of_another_accounts_package_serves_it(
    double: tuple[str, Double],  # noqa: F811
) -> None:
    """The double reads the package from its owner's account wherever it serves the model
    (the health check of a new endpoint: a package in script mode without a script fails)."""
    url, _ = double
    tooling = _tooling(url)
    tooling("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    request = approved_package_request(
        GROUP, {"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": ""}
    )
    package = tooling("sagemaker").create_model_package(**request)["ModelPackageArn"]
    _put_policy(url, _policy([f"arn:aws:iam::{STAGING}:root"], ["sagemaker:*"], package))
    staging = _as_role(url, STAGING_DEPLOY)("sagemaker")
    _model(staging, "m", package)
    staging.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    staging.create_endpoint(EndpointName="e", EndpointConfigName="c")

    described = staging.describe_endpoint(EndpointName="e")

    assert described["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in described["FailureReason"]


# ---- the policy evaluation itself --------------------------------------------------------------


PACKAGE = f"arn:aws:sagemaker:us-east-1:{TOOLING}:model-package/{GROUP}/3"


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ({"Principal": {"AWS": STAGING_DEPLOY}}, True),
        ({"Principal": {"AWS": STAGING}}, True),  # an account id is its root
        ({"Principal": "*"}, True),
        ({"Principal": {"AWS": PRODUCTION_DEPLOY}}, False),
        ({"Principal": {"Service": "sagemaker.amazonaws.com"}}, False),
        ({"Action": "sagemaker:describemodelpackage"}, True),  # actions: any case
        ({"Action": "sagemaker:Describe*"}, True),
        ({"Action": "sagemaker:ListModelPackages"}, False),
        ({"Resource": PACKAGE.replace(GROUP, "other-models")}, False),
        ({"Resource": PACKAGE.upper()}, False),  # resources: case-sensitive
        ({"Resource": "*"}, True),
        ({"Effect": "Deny"}, False),
        ({"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}, False),
        ({"NotResource": "x"}, False),
    ],
)
def test_policy_allows(statement: dict[str, Any], allowed: bool) -> None:
    base = {
        "Effect": "Allow",
        "Principal": {"AWS": [STAGING_DEPLOY]},
        "Action": ["sagemaker:DescribeModelPackage"],
        "Resource": PACKAGE,
    }
    policy = {"Statement": [{**base, **statement}]}

    assert (
        policy_allows(
            policy,
            caller_role=STAGING_DEPLOY,
            caller_account=STAGING,
            action="sagemaker:DescribeModelPackage",
            resource=PACKAGE,
        )
        is allowed
    )


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": STAGING_DEPLOY},
        "Action": "sagemaker:*",
        "Resource": "*",
    }
    deny = {**allow, "Effect": "Deny", "Action": "sagemaker:DescribeModelPackage"}
    arguments = {
        "caller_role": STAGING_DEPLOY,
        "caller_account": STAGING,
        "resource": PACKAGE,
    }

    assert policy_allows({"Statement": [allow]}, action="sagemaker:CreateModel", **arguments)
    assert not policy_allows(
        {"Statement": [allow, deny]}, action="sagemaker:DescribeModelPackage", **arguments
    )
    assert not policy_allows(None, action="sagemaker:CreateModel", **arguments)
