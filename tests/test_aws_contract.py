"""The contract (tests/aws_contract.py) and the AWS double's state-dependent SageMaker rules.

Each test sends a request that moto and botocore's Stubber accept and real AWS refuses, and
shows that the stand-in now refuses it as AWS does: in the test process (every botocore
client), and in the e2e AWS double (every request of the stages, read back from HTTP).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from smgha.definition import iter_steps
from tests.aws_contract import (
    contract_problems,
    deployment_config_problems,
    pipeline_definition_problems,
)
from tests.e2e.aws_double import Double, serve

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1"
ROLE = "arn:aws:iam::123456789012:role/execution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _blue_green(
    routing: dict[str, Any], timeout: int = 3600, termination: int = 0
) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }


# ---- the rules, as functions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            _blue_green(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60},
                    "WaitIntervalInSeconds": 60,
                }
            ),
            "CanarySize 60 % is above 50 %",
        ),
        (
            _blue_green(
                {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 5},
                    "WaitIntervalInSeconds": 60,
                }
            ),
            "LinearStepSize 5 % is outside 10-50 %",
        ),
        (
            _blue_green(
                {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 600,
                },
                timeout=6000,
            ),
            "MaximumExecutionTimeoutInSeconds 6000 is not larger than the 6000 s",
        ),
        (
            _blue_green(
                {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600}, timeout=900, termination=300
            ),
            "MaximumExecutionTimeoutInSeconds 900 is not larger than the 900 s",
        ),
    ],
    ids=["canary-over-half", "linear-step-too-small", "linear-waits", "termination-wait"],
)
def test_deployment_configs_aws_refuses_are_refused(config: dict[str, Any], problem: str) -> None:
    problems = deployment_config_problems(config, "DeploymentConfig")
    assert len(problems) == 1 and problem in problems[0], problems


def test_the_deployment_configs_the_stage_sends_by_default_pass() -> None:
    canary = _blue_green(
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 300,
        }
    )
    linear = _blue_green(
        {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            "WaitIntervalInSeconds": 300,
        }
    )
    assert deployment_config_problems(canary, "c") == []
    assert deployment_config_problems(linear, "l") == []


@pytest.mark.parametrize(
    ("expression", "supported"),
    [
        ("cron(0 * ? * * *)", True),
        ("cron(0 12 ? * * *)", True),
        ("cron(0 0/6 ? * * *)", True),
        ("NOW", True),
        ("cron(30 * ? * * *)", False),
        ("rate(1 hour)", False),
        ("cron(0 25 ? * * *)", False),
    ],
)
def test_only_the_schedules_model_monitor_supports_pass(expression: str, supported: bool) -> None:
    request = {
        "MonitoringScheduleName": "churn-prod-dq",
        "MonitoringScheduleConfig": {
            "ScheduleConfig": {"ScheduleExpression": expression},
            "MonitoringJobDefinitionName": "churn-prod-dq-1",
            "MonitoringType": "DataQuality",
        },
    }
    problems = contract_problems("sagemaker", "CreateMonitoringSchedule", request)
    assert (problems == []) is supported, problems


# ---- a pipeline definition: each step's Arguments is the request the pipeline service makes ---

SNAPSHOT = Path(__file__).parent / "snapshots" / "churn_pipeline.json"


def _processing_arguments() -> dict[str, Any]:
    return {
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 30,
            }
        },
        "RoleArn": ROLE,
    }


def _training_arguments() -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"max_depth": "5"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/models"},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 30,
        },
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _definition(
    processing: dict[str, Any], training: dict[str, Any], parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    """A processing step, then a condition whose IfSteps train (no job names: the SDK's way)."""
    condition = {"Type": "Equals", "LeftValue": 1, "RightValue": 1}
    return {
        "Version": "2020-12-01",
        "Parameters": parameters,
        "Steps": [
            {"Name": "Prepare", "Type": "Processing", "Arguments": processing},
            {
                "Name": "Check",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [condition],
                    "IfSteps": [{"Name": "Train", "Type": "Training", "Arguments": training}],
                    "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {}}],
                },
            },
        ],
    }


def _create_pipeline(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "PipelineName": "churn",
        "PipelineDefinition": json.dumps(definition),
        "RoleArn": ROLE,
        "ClientRequestToken": "0" * 32,
    }


def _hyperparameter(name: str, value: Any) -> dict[str, Any]:
    return {**_training_arguments(), "HyperParameters": {name: value}}


@pytest.mark.parametrize(
    ("processing", "training", "parameters", "problem"),
    [
        (
            _processing_arguments(),
            {**_training_arguments(), "Hyperparameters": {"max_depth": "5"}},
            [],
            "step Train (CreateTrainingJob) Arguments: unknown member Hyperparameters",
        ),
        (
            {
                **_processing_arguments(),
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 0,
                        "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 30,
                    }
                },
            },  # fmt: skip
            _training_arguments(),
            [],
            "step Prepare (CreateProcessingJob) Arguments.ProcessingResources.ClusterConfig"
            ".InstanceCount: 0 is below the minimum 1",
        ),
        (
            _processing_arguments(),
            _hyperparameter("max_depth", {"Get": "Parameters.MaxDepth"}),
            [{"Name": "MaxDepth", "Type": "Integer", "DefaultValue": 5}],
            "Arguments.HyperParameters['max_depth']: expected a string, got int",
        ),
        (
            _processing_arguments(),
            _hyperparameter("notes", "x" * 2501),
            [],
            "Arguments.HyperParameters['notes']: length 2501 is above the maximum 2500",
        ),
        (
            _processing_arguments(),
            {
                **_training_arguments(),
                "ResourceConfig": {
                    "InstanceCount": {"Get": "Parameters.Count"},
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                },
            },  # fmt: skip
            [{"Name": "Count", "Type": "Float", "DefaultValue": 2.0}],
            "Arguments.ResourceConfig.InstanceCount: expected an integer, got float",
        ),
        (
            _processing_arguments(),
            _hyperparameter("max_depth", {"Get": "Parameters.Depth"}),
            [],
            "reads Parameters.Depth, but the definition declares no parameter Depth",
        ),
    ],
    ids=[
        "unknown-member-in-if-steps",
        "instance-count-out-of-range",
        "integer-parameter-as-string",
        "hyperparameter-too-long",
        "float-parameter-as-integer",
        "undeclared-parameter",
    ],
)
def test_a_step_the_pipeline_service_would_refuse_is_refused_at_create_pipeline(
    processing: dict[str, Any],
    training: dict[str, Any],
    parameters: list[dict[str, Any]],
    problem: str,
) -> None:
    request = _create_pipeline(_definition(processing, training, parameters))
    problems = contract_problems("sagemaker", "CreatePipeline", request)
    assert len(problems) == 1 and problem in problems[0], problems


def test_update_pipeline_is_held_to_the_same_rule() -> None:
    training = _hyperparameter("notes", "x" * 2501)
    request = {
        "PipelineName": "churn",
        "PipelineDefinition": json.dumps(_definition(_processing_arguments(), training, [])),
    }
    problems = contract_problems("sagemaker", "UpdatePipeline", request)
    assert len(problems) == 1 and "above the maximum 2500" in problems[0], problems
    # Only a display name changes: no definition to check.
    assert contract_problems("sagemaker", "UpdatePipeline", {"PipelineName": "churn"}) == []


def test_a_definition_in_s3_is_not_passed_unchecked() -> None:
    request = {
        "PipelineName": "churn",
        "PipelineDefinitionS3Location": {"Bucket": "smgha-definitions", "ObjectKey": "churn.json"},
    }
    with pytest.raises(ValueError, match="does not read a PipelineDefinitionS3Location"):
        contract_problems("sagemaker", "UpdatePipeline", request)


def test_run_time_values_are_accepted_where_one_value_goes_and_nowhere_else() -> None:
    run_id = {"Get": "Execution.PipelineExecutionId"}
    training = {
        **_training_arguments(),
        "HyperParameters": {
            "max_depth": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.MaxDepth"}]}},
            "eta": {
                "Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Prepare.PropertyFiles.Best"},
                    "Path": "eta",
                }
            },  # fmt: skip
        },
        "OutputDataConfig": {
            "S3OutputPath": {"Std:Join": {"On": "/", "Values": ["s3://b", run_id]}}
        },
        "ResourceConfig": {
            "InstanceCount": {"Get": "Parameters.Count"},  # an Integer default: checked as 2
            "InstanceType": {"Get": "Parameters.InstanceType"},  # no default: run time
            "VolumeSizeInGB": 30,
        },
        "RoleArn": {"Get": "Steps.Prepare.ProcessingJobArn"},
    }
    parameters: list[dict[str, Any]] = [
        {"Name": "MaxDepth", "Type": "Integer", "DefaultValue": 5},
        {"Name": "Count", "Type": "Integer", "DefaultValue": 2},
        {"Name": "InstanceType", "Type": "String"},
    ]
    definition = _definition(_processing_arguments(), training, parameters)
    assert pipeline_definition_problems(definition) == []

    # What is around a run-time value is still checked: a required member, a structure.
    del training["RoleArn"]
    training["StoppingCondition"] = run_id
    problems = pipeline_definition_problems(
        _definition(_processing_arguments(), training, parameters)
    )
    assert problems == [
        "PipelineDefinition step Train (CreateTrainingJob) Arguments: required member RoleArn is missing",
        "PipelineDefinition step Train (CreateTrainingJob) Arguments.StoppingCondition: "
        "Execution.PipelineExecutionId is one value, but a structure goes here",
    ]


def _churn_definition() -> dict[str, Any]:
    """The definition the SDK builds from ml/pipeline.py, its code hashes filled in."""
    text = SNAPSHOT.read_text().replace("<sha256>", hashlib.sha256(b"preprocess").hexdigest())
    return dict(json.loads(text))


def test_the_churn_definition_the_sdk_builds_passes() -> None:
    assert pipeline_definition_problems(_churn_definition()) == []


@pytest.mark.parametrize(
    ("step", "operation"),
    [
        ("PreprocessData", "CreateProcessingJob"),
        ("TrainModel", "CreateTrainingJob"),
        ("EvaluateModel", "CreateProcessingJob"),
        ("RegisterModel", "CreateModelPackage"),  # in the condition's IfSteps
    ],
)
def test_every_request_step_of_the_churn_definition_is_checked(step: str, operation: str) -> None:
    definition = copy.deepcopy(_churn_definition())
    found = next(s for s in iter_steps(definition["Steps"]) if s["Name"] == step)
    found["Arguments"]["Bogus"] = "x"
    assert pipeline_definition_problems(definition) == [
        f"PipelineDefinition step {step} ({operation}) Arguments: unknown member Bogus"
    ]


def test_a_client_creating_a_pipeline_with_a_bad_step_gets_the_validation_exception(
    sagemaker: Any,
) -> None:
    training = {**_training_arguments(), "Hyperparameters": {"max_depth": "5"}}
    request = _create_pipeline(_definition(_processing_arguments(), training, []))
    with pytest.raises(ClientError) as refused:
        sagemaker.create_pipeline(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "step Train (CreateTrainingJob) Arguments: unknown member Hyperparameters" in str(
        refused.value
    )
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []

    request = _create_pipeline(_definition(_processing_arguments(), _training_arguments(), []))
    sagemaker.create_pipeline(**request)
    assert [p["PipelineName"] for p in sagemaker.list_pipelines()["PipelineSummaries"]] == ["churn"]


# ---- in the test process: every client, moto or Stubber ---------------------------------------


def test_a_moto_client_gets_the_validation_exception_aws_sends(sagemaker: Any) -> None:
    # moto stores any CustomerMetadataProperties; SageMaker checks the pattern
    # [\p{L}\p{Z}\p{N}_.:/=+\-@] and refuses "hotfix, see INC-12" (a comma).
    with pytest.raises(ClientError) as refused:
        sagemaker.update_model_package(
            ModelPackageArn=ARN, CustomerMetadataProperties={"smgha:reason": "hotfix, see INC-12"}
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "CustomerMetadataProperties['smgha:reason']" in str(refused.value)


def test_a_stubbed_client_gets_it_too() -> None:
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stub:
        stub.add_response("update_model_package", {"ModelPackageArn": ARN})
        with pytest.raises(ClientError) as refused:
            client.update_model_package(ModelPackageArn=ARN, ModelApprovalStatus="Approve")
        assert "'Approve' is not one of" in str(refused.value)
        # The stubbed answer was not consumed: the request never reached the Stubber.
        client.update_model_package(ModelPackageArn=ARN, ModelApprovalStatus="Approved")


# ---- in the e2e double: HTTP requests read back, and the rules that need its state -----------


@pytest.fixture
def double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Double]]:
    """An AWS double on 127.0.0.1 (moto in this process, the proxy in front), with updates
    that stay Updating for a minute, and the test process's own contract check switched off:
    what is refused here, the double refused."""
    checked = BaseClient._make_api_call
    monkeypatch.setattr(BaseClient, "_make_api_call", checked.__wrapped__)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10
    ).close()
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"")
    instance = Double(
        moto_url,
        "http://127.0.0.1:9/jwks",
        tmp_path / "calls.jsonl",
        artifact,
        [{"accuracy": 0.9}],
        update_seconds=60.0,
    )
    server = serve(instance)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        proxy_host, proxy_port = server.server_address[:2]
        assert isinstance(proxy_host, str)  # getsockname() gives AF_INET a str host
        yield f"http://{proxy_host}:{proxy_port}", instance
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        urllib.request.urlopen(
            urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10
        ).close()
        moto.stop()


def _clients(url: str) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    config = Config(retries={"total_max_attempts": 1})
    return (
        session.client("sagemaker", endpoint_url=url, config=config),
        session.client("application-autoscaling", endpoint_url=url, config=config),
    )


def _config(
    sagemaker: Any, name: str, instance_type: str, count: int = 2, variant: str = "AllTraffic"
) -> str:
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": "churn-1",
                "InstanceType": instance_type,
                "InitialInstanceCount": count,
            }
        ],
    )
    return name


def _endpoint(sagemaker: Any) -> None:
    sagemaker.create_model(
        ModelName="churn-1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"},
    )
    sagemaker.create_endpoint(
        EndpointName="churn-prod", EndpointConfigName=_config(sagemaker, "c1", "ml.m5.large")
    )


def _refusal(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    return str(refused.value)


def test_the_double_refuses_what_the_contract_refuses_and_records_every_call(
    double: tuple[str, Double],
) -> None:
    url, instance = double
    sagemaker, _ = _clients(url)
    _endpoint(sagemaker)
    config = _blue_green(
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60},
            "WaitIntervalInSeconds": 60,
        }
    )
    _config(sagemaker, "c2", "ml.m5.large")

    message = _refusal(
        lambda: sagemaker.update_endpoint(
            EndpointName="churn-prod", EndpointConfigName="c2", DeploymentConfig=config
        )
    )

    assert "CanarySize 60 % is above 50 %" in message
    assert sagemaker.describe_endpoint(EndpointName="churn-prod")["EndpointConfigName"] == "c1"
    calls = [json.loads(line) for line in instance.calls_path.read_text().splitlines()]
    refused = next(c for c in calls if c["operation"] == "UpdateEndpoint")
    assert refused["status"] == 400
    assert "CanarySize 60 % is above 50 %" in refused["refused"][0]
    assert refused["params"]["DeploymentConfig"] == config


def test_an_autoscaled_variant_keeps_its_instance_type(double: tuple[str, Double]) -> None:
    url, _ = double
    sagemaker, autoscaling = _clients(url)
    _endpoint(sagemaker)
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/churn-prod/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=2,
        MaxCapacity=4,
    )
    _config(sagemaker, "c2", "ml.m5.xlarge")

    message = _refusal(
        lambda: sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="c2")
    )
    assert "target for auto scaling" in message

    autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/churn-prod/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="c2")


def test_a_variant_keeps_its_name_and_an_update_waits_for_the_last(
    double: tuple[str, Double],
) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    _endpoint(sagemaker)
    _config(sagemaker, "renamed", "ml.m5.large", variant="Blue")
    assert "must have the same names" in _refusal(
        lambda: sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="renamed")
    )

    _config(sagemaker, "c2", "ml.m5.large")
    sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="c2")
    assert sagemaker.describe_endpoint(EndpointName="churn-prod")["EndpointStatus"] == "Updating"
    assert "Cannot update in-progress endpoint" in _refusal(
        lambda: sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="c1")
    )


@pytest.mark.parametrize(("canary", "accepted"), [(1, True), (2, False)])
def test_a_canary_in_instances_is_at_most_half_the_new_fleet(
    double: tuple[str, Double], canary: int, accepted: bool
) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    _endpoint(sagemaker)
    _config(sagemaker, "c2", "ml.m5.large", count=2)
    config = _blue_green(
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": canary},
            "WaitIntervalInSeconds": 60,
        }
    )

    def update() -> None:
        sagemaker.update_endpoint(
            EndpointName="churn-prod", EndpointConfigName="c2", DeploymentConfig=config
        )

    if accepted:
        update()
    else:
        assert "CanarySize of 2 instance(s) is outside 0%-50 % of the new fleet's 2" in _refusal(
            update
        )


def _job_definition(sagemaker: Any, name: str, runtime: int = 3600) -> None:
    sagemaker.create_data_quality_job_definition(
        JobDefinitionName=name,
        DataQualityAppSpecification={
            "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
        },
        DataQualityJobInput={
            "EndpointInput": {"EndpointName": "churn-prod", "LocalPath": "/opt/ml/processing/input"}
        },
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": "s3://b/monitoring",
                        "LocalPath": "/opt/ml/processing/output",
                    }
                }
            ]
        },
        JobResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 20,
            }
        },
        RoleArn=ROLE,
        StoppingCondition={"MaxRuntimeInSeconds": runtime},
    )


def _schedule(sagemaker: Any, definition: str) -> None:
    sagemaker.create_monitoring_schedule(
        MonitoringScheduleName=f"{definition}-schedule",
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            "MonitoringJobDefinitionName": definition,
            "MonitoringType": "DataQuality",
        },
    )


def test_a_schedule_needs_data_capture_and_an_hourly_runtime(double: tuple[str, Double]) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    _endpoint(sagemaker)
    _job_definition(sagemaker, "dq-1")
    assert "does not capture data" in _refusal(lambda: _schedule(sagemaker, "dq-1"))

    sagemaker.create_endpoint_config(
        EndpointConfigName="captured",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn-1",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://b/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="captured")
    _job_definition(sagemaker, "dq-2", runtime=7200)
    assert "exceeds the hourly schedule's 3600" in _refusal(lambda: _schedule(sagemaker, "dq-2"))
    _schedule(sagemaker, "dq-1")


def test_the_double_refuses_a_definition_with_a_bad_step(double: tuple[str, Double]) -> None:
    # The e2e runs upsert the churn definition through the double: it holds CreatePipeline
    # to the same rule, read back from the HTTP body.
    url, instance = double
    sagemaker, _ = _clients(url)
    training = _hyperparameter("notes", "x" * 2501)
    request = _create_pipeline(_definition(_processing_arguments(), training, []))

    message = _refusal(lambda: sagemaker.create_pipeline(**request))

    assert "HyperParameters['notes']: length 2501 is above the maximum 2500" in message
    calls = [json.loads(line) for line in instance.calls_path.read_text().splitlines()]
    assert [(c["operation"], c["status"]) for c in calls] == [("CreatePipeline", 400)]


def test_a_container_in_script_mode_without_a_script_never_becomes_healthy(
    double: tuple[str, Double],
) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    sagemaker.create_model(
        ModelName="script-mode",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": "s3://b/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": ""},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="script",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "script-mode",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="fresh", EndpointConfigName="script")
    described = sagemaker.describe_endpoint(EndpointName="fresh")
    assert described["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in described["FailureReason"]

    # An update to it: SageMaker keeps the old fleet, which still serves.
    _endpoint(sagemaker)
    sagemaker.update_endpoint(EndpointName="churn-prod", EndpointConfigName="script")
    described = sagemaker.describe_endpoint(EndpointName="churn-prod")
    assert described["EndpointConfigName"] == "c1"
    assert described["FailureReason"].startswith("Failed to update endpoint")


def test_java_pattern_classes_are_ascii_as_in_java() -> None:
    # RoleArn's pattern has \d{12}: Java's \d is [0-9], Python's would take "１" (U+FF11).
    request = {
        "ModelName": "churn-1",
        "ExecutionRoleArn": "arn:aws:iam::１２３４５６７８９０１２:role/execution",
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"},
    }
    problems = contract_problems("sagemaker", "CreateModel", request)
    assert len(problems) == 1 and "ExecutionRoleArn" in problems[0], problems
    request["ExecutionRoleArn"] = ROLE
    assert contract_problems("sagemaker", "CreateModel", request) == []
