"""The contract (tests/aws_contract.py) and the AWS double's state-dependent SageMaker rules.

Each test sends a request that moto and botocore's Stubber accept and real AWS refuses, and
shows that the stand-in now refuses it as AWS does: in the test process (every botocore
client), and in the e2e AWS double (every request of the stages, read back from HTTP).
"""

from __future__ import annotations

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

from tests.aws_contract import contract_problems, deployment_config_problems
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
