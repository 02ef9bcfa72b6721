"""The IAM evaluator is real, and what tests/iam_requests.py derives from a call is what the
Terraform policies must allow: checked here on hand-written call records (the parameters
as botocore sends them, as the e2e AWS double records them). tests/test_iam_least_privilege.py
runs the same checks on every call of the sagemaker e2e runs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.e2e import sagemaker_run
from tests.iam_execution import execution_requests
from tests.iam_policies import (
    DEPLOYMENT,
    DOCUMENTS,
    EXECUTION_DOCUMENT,
    execution_role,
    policies,
    values,
)
from tests.iam_requests import Calls
from tests.iam_simulator import IamRequest, denials, evaluate
from tests.terraform_hcl import resolve
from tests.yaml_files import ROOT

ACCOUNT, REGION = DEPLOYMENT.account, DEPLOYMENT.region
BUILD = f"arn:aws:iam::{ACCOUNT}:role/churn-github-build"
STAGING = f"arn:aws:iam::{ACCOUNT}:role/churn-github-deploy-staging"
PRODUCTION = f"arn:aws:iam::{ACCOUNT}:role/churn-github-deploy-production"
ROLE_DOCUMENTS = {
    BUILD: DOCUMENTS["build"],
    STAGING: DOCUMENTS["deploy-staging"],
    PRODUCTION: DOCUMENTS["deploy-production"],
}
BUCKET = sagemaker_run.BUCKET
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn-models/2"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return policies()


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def call(role: str, service: str, operation: str, **params: Any) -> dict[str, Any]:
    return {
        "service": service,
        "operation": operation,
        "role": role,
        "status": 200,
        "params": params,
    }


def job_denials(calls: list[dict[str, Any]], policies: dict[str, dict[str, Any]]) -> list[str]:
    derive = Calls(DEPLOYMENT)
    requests = [(r, ROLE_DOCUMENTS[c["role"]]) for c in calls for r in derive.requests(c)]
    return denials(requests, policies)


# ---- the evaluator --------------------------------------------------------------------------


def staging(action: str, resource: str, **context: Any) -> tuple[IamRequest, str]:
    request = IamRequest(STAGING, action, resource, ACCOUNT, context, "hand-written")
    return request, DOCUMENTS["deploy-staging"]


def test_the_evaluator_allows_what_a_statement_grants(rendered: dict[str, Any]) -> None:
    (verdict,) = evaluate(
        [staging("sagemaker:CreateEndpoint", arn("endpoint", "churn-staging"))], rendered
    )
    assert (verdict.decision, verdict.resource_type) == ("Allowed", "endpoint")


def test_the_evaluator_denies_a_resource_outside_the_statement(rendered: dict[str, Any]) -> None:
    """The staging role's Endpoints statement names endpoint/churn-staging*: not production's."""
    (verdict,) = evaluate(
        [staging("sagemaker:CreateEndpoint", arn("endpoint", "churn-production"))], rendered
    )
    assert verdict.decision == "ImplicitlyDenied"


def test_the_evaluator_holds_a_call_to_its_statement_conditions(rendered: dict[str, Any]) -> None:
    """PassRole: only the execution role, only to SageMaker (iam:PassedToService)."""
    role = execution_role()
    other = f"arn:aws:iam::{ACCOUNT}:role/churn-admin"
    verdicts = evaluate(
        [
            staging("iam:PassRole", role, **{"iam:PassedToService": "sagemaker.amazonaws.com"}),
            staging("iam:PassRole", role, **{"iam:PassedToService": "ec2.amazonaws.com"}),
            staging("iam:PassRole", role),  # the key absent: StringEquals does not match
            staging("iam:PassRole", other, **{"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ],
        rendered,
    )
    assert [v.decision for v in verdicts] == [
        "Allowed",
        "ImplicitlyDenied",
        "ImplicitlyDenied",
        "ImplicitlyDenied",
    ]


def test_the_evaluator_refuses_an_arn_of_another_resource_type(rendered: dict[str, Any]) -> None:
    """CreateEndpoint is authorized on endpoint and endpoint-config ARNs, never a model's."""
    (verdict,) = evaluate(
        [staging("sagemaker:CreateEndpoint", arn("model", "churn-models-v1"))], rendered
    )
    assert verdict.decision == "Error" and "no.resource.types" in verdict.errors


def test_a_request_against_star_is_allowed_only_by_a_star_statement() -> None:
    """A request naming no resource is authorized against "*", which an ARN pattern such as
    model-package/* does not match (the evaluator's wildcard mode would say it does)."""
    request = IamRequest(BUILD, "sagemaker:ListModelPackages", "*", ACCOUNT, {}, "hand-written")

    def policy(resource: str) -> dict[str, Any]:
        statement = {
            "Effect": "Allow",
            "Action": "sagemaker:ListModelPackages",
            "Resource": resource,
        }
        return {"Version": "2012-10-17", "Statement": [statement]}

    verdicts = evaluate(
        [(request, "scoped"), (request, "star")],
        {"scoped": policy(arn("model-package", "*")), "star": policy("*")},
    )
    assert [v.decision for v in verdicts] == ["ImplicitlyDenied", "Allowed"]


# ---- the policies, rendered from Terraform -----------------------------------------------------


def test_policies_are_rendered_with_the_deployment_values(rendered: dict[str, Any]) -> None:
    (passing,) = [
        s for s in rendered[DOCUMENTS["build"]]["Statement"] if s["Sid"] == "PassExecutionRole"
    ]
    assert passing == {
        "Effect": "Allow",
        "Sid": "PassExecutionRole",
        "Action": ["iam:PassRole"],
        "Resource": [f"arn:aws:iam::{ACCOUNT}:role/churn-sagemaker-execution"],
        "Condition": {"StringEquals": {"iam:PassedToService": ["sagemaker.amazonaws.com"]}},
    }
    assert "${" not in json.dumps(rendered)
    # IAM accepts only ARNs and "*" as Resource (the evaluator would match a malformed
    # pattern such as "x*" like "*").
    resources = [r for p in rendered.values() for s in p["Statement"] for r in s["Resource"]]
    assert all(r == "*" or r.startswith("arn:aws:") for r in resources), resources


def test_the_tfvars_describe_the_deployment_the_e2e_runs_play() -> None:
    resolved = values()
    assert resolved["aws_s3_bucket.artifacts.arn"] == f"arn:aws:s3:::{sagemaker_run.BUCKET}"
    assert execution_role() == sagemaker_run.VARIABLES["SAGEMAKER_EXECUTION_ROLE_ARN"]
    assert resolved["var.model_package_group_name"] == sagemaker_run.GROUP


def test_an_expression_the_renderer_cannot_evaluate_is_refused() -> None:
    with pytest.raises(ValueError, match="give its value"):
        resolve('"${var.a != null ? var.a : var.b}"', {"var.a": "x", "var.b": "y"})
    assert resolve('"arn:${lower(var.a)}/*"', {"var.a": "Churn"}) == "arn:churn/*"


# ---- the jobs' calls ---------------------------------------------------------------------------

STAGING_CALLS = [
    call(STAGING, "sagemaker", "DescribeModelPackage", ModelPackageName=PACKAGE),
    call(
        STAGING,
        "sagemaker",
        "CreateModel",
        ModelName="churn-models-v2",
        PrimaryContainer={"ModelPackageName": PACKAGE},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/churn-sagemaker-execution",
        Tags=[{"Key": "smgha:model-package", "Value": PACKAGE}],
    ),
    call(
        STAGING,
        "sagemaker",
        "CreateEndpointConfig",
        EndpointConfigName="churn-staging-v2-0123abcd",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn-models-v2",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    ),
    call(
        STAGING,
        "sagemaker",
        "UpdateEndpoint",
        EndpointName="churn-staging",
        EndpointConfigName="churn-staging-v2-0123abcd",
        DeploymentConfig={
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "churn-staging-invocation-5xx-errors"}]
            }
        },
    ),
    call(
        STAGING,
        "cloudwatch",
        "PutMetricAlarm",
        AlarmName="churn-staging-model-latency",
        AlarmActions=[f"arn:aws:sns:{REGION}:{ACCOUNT}:churn-model-alarms"],
    ),
    call(
        STAGING,
        "sagemaker-runtime",
        "InvokeEndpoint",
        EndpointName="churn-staging",
        Body="<1 bytes>",
    ),
]


def test_a_deploy_jobs_calls_are_allowed_on_their_resources(rendered: dict[str, Any]) -> None:
    derived = [r for c in STAGING_CALLS for r in Calls(DEPLOYMENT).requests(c)]
    # UpdateEndpoint is authorized on the endpoint and the config, and reads its alarms.
    assert {(r.action, r.resource) for r in derived} >= {
        ("sagemaker:UpdateEndpoint", arn("endpoint", "churn-staging")),
        ("sagemaker:UpdateEndpoint", arn("endpoint-config", "churn-staging-v2-0123abcd")),
        (
            "cloudwatch:DescribeAlarms",
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:churn-staging-invocation-5xx-errors",
        ),
        ("sagemaker:AddTags", arn("model", "churn-models-v2")),
    }
    assert job_denials(STAGING_CALLS, rendered) == []


def test_a_narrowed_resource_fails_with_the_call_that_needs_it(rendered: dict[str, Any]) -> None:
    """The check fails, naming the call, when a copy of the policy scopes a statement tighter
    than the calls need."""
    narrowed = copy.deepcopy(rendered)
    (endpoints,) = [
        s for s in narrowed[DOCUMENTS["deploy-staging"]]["Statement"] if s["Sid"] == "Endpoints"
    ]
    endpoints["Resource"] = [arn("endpoint", "churn-staging-blue*"), *endpoints["Resource"][1:]]
    problems = job_denials(STAGING_CALLS, narrowed)
    assert problems == [
        f"deploy_staging_permissions ImplicitlyDenied: sagemaker:{action} on "
        f"{arn('endpoint', 'churn-staging')} ({service} {action})"
        for action, service in (
            ("InvokeEndpoint", "sagemaker-runtime"),
            ("UpdateEndpoint", "sagemaker"),
        )
    ]


EXECUTION_ARN = f"{arn('pipeline', 'churn')}/execution/32wc45gj7lbj"
BUILD_CALLS = [
    call(BUILD, "sagemaker", "DescribePipeline", PipelineName="churn"),
    call(BUILD, "s3", "PutObject", Bucket=BUCKET, Key="churn/code/0c9d/evaluate.py"),
    call(
        BUILD,
        "sagemaker",
        "StartPipelineExecution",
        PipelineName="churn",
        PipelineParameters=[{"Name": "AccuracyThreshold", "Value": "0.8"}],
    ),
    call(BUILD, "sagemaker", "DescribePipelineExecution", PipelineExecutionArn=EXECUTION_ARN),
    call(BUILD, "sagemaker", "ListPipelineExecutionSteps", PipelineExecutionArn=EXECUTION_ARN),
    call(
        BUILD,
        "sagemaker",
        "DescribeProcessingJob",
        ProcessingJobName="pipelines-32wc45gj7lbj-EvaluateModel",
    ),
    call(
        BUILD,
        "sagemaker",
        "DescribeTrainingJob",
        TrainingJobName="pipelines-32wc45gj7lbj-TrainModel",
    ),
    call(
        BUILD,
        "s3",
        "GetObject",
        Bucket=BUCKET,
        Key="churn/32wc45gj7lbj/EvaluateModel/output/evaluation/evaluation.json",
    ),
    call(BUILD, "sagemaker", "DescribeModelPackageGroup", ModelPackageGroupName="churn-models"),
    call(
        BUILD,
        "sagemaker",
        "ListModelPackages",
        ModelPackageGroupName="churn-models",
        ModelApprovalStatus="Approved",
    ),
    call(BUILD, "sagemaker", "DescribeModelPackage", ModelPackageName=PACKAGE),
    call(
        BUILD,
        "sagemaker",
        "UpdateModelPackage",
        ModelPackageArn=PACKAGE,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"smgha:commit": "0123abcd"},
    ),
    call(BUILD, "sts", "GetCallerIdentity"),
]


def test_a_build_jobs_calls_are_allowed_on_their_resources(rendered: dict[str, Any]) -> None:
    derived = [r for c in BUILD_CALLS for r in Calls(DEPLOYMENT).requests(c)]
    assert [r.action for r in derived] == [
        f"{c['service'] if c['service'] != 'sts' else ''}:{c['operation']}"
        for c in BUILD_CALLS[:-1]  # GetCallerIdentity needs no permission
    ]
    (update,) = [r for r in derived if r.action == "sagemaker:UpdateModelPackage"]
    assert update.context == {
        "sagemaker:ModelApprovalStatus": "Approved",
        "sagemaker:CustomerMetadataProperties/smgha:commit": "0123abcd",
    }
    assert job_denials(BUILD_CALLS, rendered) == []


SCALING = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/churn-production/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
PRODUCTION_CALLS = [
    call(
        PRODUCTION,
        "sagemaker",
        "CreateEndpoint",
        EndpointName="churn-production",
        EndpointConfigName="churn-production-v2-0123abcd",
        Tags=[{"Key": "smgha:model-package", "Value": PACKAGE}],
    ),
    call(
        PRODUCTION,
        "application-autoscaling",
        "RegisterScalableTarget",
        MinCapacity=1,
        MaxCapacity=4,
        **SCALING,
    ),
    call(
        PRODUCTION,
        "application-autoscaling",
        "PutScalingPolicy",
        PolicyName="churn-production-invocations",
        PolicyType="TargetTrackingScaling",
        **SCALING,
    ),
]


def test_autoscaling_calls_are_held_to_their_condition_keys(rendered: dict[str, Any]) -> None:
    assert job_denials(PRODUCTION_CALLS, rendered) == []
    other_namespace = copy.deepcopy(PRODUCTION_CALLS)
    other_namespace[1]["params"]["ServiceNamespace"] = "ecs"
    problems = job_denials(other_namespace, rendered)
    assert len(problems) == 1 and "RegisterScalableTarget" in problems[0], problems
    assert '"application-autoscaling:service-namespace": "ecs"' in problems[0]


def test_a_pipeline_outside_the_prefix_is_denied(rendered: dict[str, Any]) -> None:
    def create(name: str) -> dict[str, Any]:
        return call(
            BUILD,
            "sagemaker",
            "CreatePipeline",
            PipelineName=name,
            PipelineDefinition="{}",
            RoleArn=execution_role(),
            Tags=[{"Key": "smgha:repository", "Value": "acme/churn-model"}],
        )

    assert job_denials([create("churn")], rendered) == []
    problems = job_denials([create("fraud")], rendered)
    assert [p.split(" on ")[0] for p in problems] == [
        "build_permissions ImplicitlyDenied: sagemaker:AddTags",
        "build_permissions ImplicitlyDenied: sagemaker:CreatePipeline",
    ]


# ---- the execution role ----------------------------------------------------------------------


def churn_definition() -> str:
    """The churn pipeline's definition (the snapshot) in the e2e deployment's bucket, run
    as its execution role."""
    text = (ROOT / "tests" / "snapshots" / "churn_pipeline.json").read_text()
    text = text.replace("example-bucket", BUCKET)
    return text.replace("arn:aws:iam::111122223333:role/SageMakerExecution", execution_role())


CAPTURE = f"s3://{BUCKET}/data-capture"
EXECUTION_CALLS = [
    call(
        BUILD,
        "sagemaker",
        "CreatePipeline",
        PipelineName="churn",
        PipelineDefinition=churn_definition(),
        RoleArn=execution_role(),
    ),
    call(
        BUILD,
        "sagemaker",
        "StartPipelineExecution",
        PipelineName="churn",
        PipelineParameters=[
            {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/churn/data/churn.csv"}
        ],
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "CreateModel",
        ModelName="churn-models-v2",
        PrimaryContainer={"ModelPackageName": PACKAGE},
        ExecutionRoleArn=execution_role(),
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "CreateEndpointConfig",
        EndpointConfigName="churn-production-v2-0123abcd",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "churn-models-v2"}],
        DataCaptureConfig={"EnableCapture": True, "DestinationS3Uri": CAPTURE},
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "UpdateEndpoint",
        EndpointName="churn-production",
        EndpointConfigName="churn-production-v2-0123abcd",
        DeploymentConfig={
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "team-wide-5xx"}]}
        },
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "CreateDataQualityJobDefinition",
        JobDefinitionName="churn-production-data-quality-0123abcd",
        DataQualityBaselineConfig={
            "ConstraintsResource": {"S3Uri": f"s3://{BUCKET}/monitoring/baseline/constraints.json"},
            "StatisticsResource": {"S3Uri": f"s3://{BUCKET}/monitoring/baseline/statistics.json"},
        },
        DataQualityAppSpecification={"ImageUri": MONITOR_IMAGE},
        DataQualityJobInput={"EndpointInput": {"EndpointName": "churn-production"}},
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [{"S3Output": {"S3Uri": f"s3://{BUCKET}/monitoring/reports"}}]
        },
        RoleArn=execution_role(),
    ),
]


def execution_denials(calls: list[dict[str, Any]], policies: dict[str, Any]) -> list[str]:
    requests = execution_requests(calls, DEPLOYMENT, execution_role())
    return denials([(r, EXECUTION_DOCUMENT) for r in requests], policies)


def test_what_sagemaker_does_with_the_execution_role_is_derived() -> None:
    derived = {
        (r.action, r.resource)
        for r in execution_requests(EXECUTION_CALLS, DEPLOYMENT, execution_role())
    }
    xgboost = "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"
    assert derived >= {
        # the pipeline's jobs: created, their images pulled, inputs read, outputs written
        ("sagemaker:CreateTrainingJob", arn("training-job", "pipelines-0a1b2c3d4e5f-trainmodel")),
        ("ecr:BatchGetImage", xgboost),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/churn/data/churn.csv"),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
        (
            "s3:PutObject",
            f"arn:aws:s3:::{BUCKET}/churn/models/pipelines-0a1b2c3d4e5f-TrainModel/output/model.tar.gz",
        ),
        ("sagemaker:CreateModelPackage", arn("model-package", "churn-models/1")),
        # the endpoint: the package's model data read, requests captured, alarms read
        (
            "s3:GetObject",
            f"arn:aws:s3:::{BUCKET}/churn/models/pipelines-0a1b2c3d4e5f-TrainModel/output/model.tar.gz",
        ),
        (
            "s3:PutObject",
            f"arn:aws:s3:::{BUCKET}/data-capture/churn-production/AllTraffic/2026/01/01/00/00-00-000-01234567-89ab-cdef-0123-456789abcdef.jsonl",
        ),
        ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:team-wide-5xx"),
        # the monitoring job
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/data-capture/churn-production/"),
        (
            "ecr:BatchGetImage",
            "arn:aws:ecr:us-east-1:156813124566:repository/sagemaker-model-monitor-analyzer",
        ),
        (
            "logs:PutLogEvents",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/ProcessingJobs:log-stream:algo-1-1700000000",
        ),
    }


def test_the_execution_role_is_allowed_what_sagemaker_does_with_it(
    rendered: dict[str, Any],
) -> None:
    assert execution_denials(EXECUTION_CALLS, rendered) == []


def test_a_narrowed_execution_policy_fails_with_the_step_that_needs_it(
    rendered: dict[str, Any],
) -> None:
    narrowed = copy.deepcopy(rendered)
    (logs,) = [s for s in narrowed[EXECUTION_DOCUMENT]["Statement"] if s["Sid"] == "Logs"]
    logs["Resource"] = [
        r.replace("/aws/sagemaker/*", "/aws/sagemaker/Endpoints/*") for r in logs["Resource"]
    ]
    problems = execution_denials(EXECUTION_CALLS, narrowed)
    assert problems and all(
        "/aws/sagemaker/ProcessingJobs" in p or "/aws/sagemaker/TrainingJobs" in p for p in problems
    ), problems
    assert any("pipeline churn, step TrainModel" in p for p in problems), problems


# Calls of the paths the e2e runs do not take (test_iam_least_privilege.NOT_IN_THE_RUNS),
# written by hand with the parameters the stages send.
PRODUCTION_PATHS_OUTSIDE_THE_RUNS = [
    call(
        PRODUCTION,
        "sagemaker",
        "CreateProcessingJob",
        ProcessingJobName="churn-production-baseline-0123abcd",
        ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}},
        AppSpecification={"ImageUri": MONITOR_IMAGE},
        RoleArn=execution_role(),
        Tags=[{"Key": "smgha:endpoint", "Value": "churn-production"}],
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "DescribeProcessingJob",
        ProcessingJobName="churn-production-baseline-0123abcd",
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "DeleteDataQualityJobDefinition",
        JobDefinitionName="churn-production-data-quality-0123abcd",
    ),
    call(
        PRODUCTION,
        "sagemaker",
        "UpdateMonitoringSchedule",
        MonitoringScheduleName="churn-production-data-quality",
    ),
    call(
        PRODUCTION,
        "application-autoscaling",
        "DescribeScalableTargets",
        ServiceNamespace="sagemaker",
    ),
    call(
        PRODUCTION,
        "application-autoscaling",
        "DeleteScalingPolicy",
        PolicyName="churn-production-invocations",
        **SCALING,
    ),
    call(PRODUCTION, "application-autoscaling", "DeregisterScalableTarget", **SCALING),
]


def test_the_paths_outside_the_runs_are_allowed_on_their_resources(
    rendered: dict[str, Any],
) -> None:
    assert job_denials(PRODUCTION_PATHS_OUTSIDE_THE_RUNS, rendered) == []
    staging_baseline = copy.deepcopy(PRODUCTION_PATHS_OUTSIDE_THE_RUNS[0])
    staging_baseline["params"]["ProcessingJobName"] = "churn-staging-baseline-0123abcd"
    (problem, tagging) = job_denials([staging_baseline], rendered)
    assert "sagemaker:AddTags on" in problem and "CreateProcessingJob on" in tagging


def test_the_execution_role_runs_the_baselining_job_it_does_not_create(
    rendered: dict[str, Any],
) -> None:
    """enable-monitor's baselining job (a path outside the runs) is created by the production
    role, which passes the execution role; the job then runs as the execution role."""
    calls = [*EXECUTION_CALLS, PRODUCTION_PATHS_OUTSIDE_THE_RUNS[0]]
    derived = execution_requests(calls, DEPLOYMENT, execution_role())
    baseline = [r for r in derived if r.why == "churn-github-deploy-production CreateProcessingJob"]
    assert {r.action for r in baseline} >= {"ecr:BatchGetImage", "logs:PutLogEvents"}
    assert not {r.action for r in baseline} & {"sagemaker:CreateProcessingJob", "iam:PassRole"}
    assert execution_denials(calls, rendered) == []
