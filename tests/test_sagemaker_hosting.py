"""SageMakerBackend's hosting (the Hosting area) against a moto server, and botocore's Stubber
for what moto does not do or does differently.

What moto 5.2.5 does differently from SageMaker (found while writing these tests):
- DescribeModel / DescribeEndpointConfig / DescribeEndpoint of a missing resource: both
  answer ValidationException "Could not find <model|endpoint configuration|endpoint> <ARN>.",
  the service with the ARN in double quotes, moto in single quotes. Both are tested.
- CreateEndpoint makes the endpoint InService at once (the service: Creating for minutes);
  its DescribeEndpoint lacks DeployedImages and shortens DataCaptureConfig.
- UpdateEndpoint is not implemented (HTTP 500, which botocore retries), so it is tested
  only with the Stubber. CreateModel of an existing name overwrites it (the service refuses).
- InvokeEndpoint never checks that the endpoint exists and answers canned data: body
  b"body", ContentType "content_type", InvokedProductionVariant "invoked_production_variant".
  Results queued with POST /moto-api/static/sagemaker/endpoint-results are handed out in
  order, one per new request; the same request (endpoint, body, Accept, SageMaker headers)
  again gets the answer it got before. It never raises ModelError.
- DescribeAlarms neither pages nor limits AlarmNames to 100; PutScalingPolicy succeeds without
  a registered scalable target (the service: ObjectNotFoundException) and creates no
  TargetTracking alarms; RegisterScalableTarget does not check that the endpoint exists.
The Stubber checks each request and response against the real service model, so the
stubbed tests still catch a misspelt parameter or a response shape the service never sends.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import urllib.request
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.stub import Stubber

from smgha.backends import Hosting, Invocation
from smgha.backends.aws import SageMakerBackend
from smgha.backends.aws.client import IAM_ACTIONS, IAM_EXTRA_ACTIONS, RUNTIME_IAM_ACTIONS
from smgha.errors import StageError
from smgha.resources import deployment, rollout
from smgha.resources.autoscaling import TargetTracking
from smgha.resources.rollout import BlueGreen

pytestmark = pytest.mark.slow  # starts a moto server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-role"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/3"
MODEL = "churn-v3"
CONFIG = "churn-staging-v3-1a2b3c"
OLD_CONFIG = "churn-staging-v2-9f8e7d"
ENDPOINT = "churn-staging"
VARIANT = "AllTraffic"
RESOURCE_ID = f"endpoint/{ENDPOINT}/variant/{VARIANT}"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

MODEL_REQUEST: dict[str, Any] = {
    "ModelName": MODEL,
    "ExecutionRoleArn": ROLE,
    "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
}

CONFIG_REQUEST: dict[str, Any] = {
    "EndpointConfigName": CONFIG,
    "ProductionVariants": [
        {
            "VariantName": VARIANT,
            "ModelName": MODEL,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 1.0,
        }
    ],
    "DataCaptureConfig": {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/churn-staging",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    },
}

CANARY: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "WaitIntervalInSeconds": 300,
        },
        "TerminationWaitInSeconds": 120,
        "MaximumExecutionTimeoutInSeconds": 3600,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "x-invocation-5xx-errors"}]},
}

LINEAR: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            "WaitIntervalInSeconds": 120,
        },
        "TerminationWaitInSeconds": 300,
        "MaximumExecutionTimeoutInSeconds": 7200,
    },
    "AutoRollbackConfiguration": {
        "Alarms": [
            {"AlarmName": "churn-staging-invocation-5xx-errors"},
            {"AlarmName": "churn-staging-model-latency"},
        ]
    },
}


def at(seconds: int) -> dt.datetime:
    """A fixed UTC time, `seconds` after a start."""
    return dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def alarm_request(name: str, metric: str, threshold: float) -> dict[str, Any]:
    """A PutMetricAlarm request shaped like the deploy stage's rollback alarms."""
    return {
        "AlarmName": name,
        "AlarmDescription": f"smgha: roll back on {metric}",
        "Namespace": "AWS/SageMaker",
        "MetricName": metric,
        "Dimensions": [
            {"Name": "EndpointName", "Value": ENDPOINT},
            {"Name": "VariantName", "Value": VARIANT},
        ],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def metric_alarm(name: str) -> dict[str, Any]:
    """A DescribeAlarms MetricAlarm record."""
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "StateValue": "OK",
        "MetricName": "Invocation5XXErrors",
        "Namespace": "AWS/SageMaker",
        "Threshold": 0.0,
    }


def streaming(payload: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(payload), len(payload))


def capture_params(client: Any, service: str, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the client makes from now on."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.{service}.{operation}",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


@pytest.fixture
def autoscaling(aws_env: str) -> Any:
    """A plain Application Auto Scaling client on the same moto server."""
    return boto3.client("application-autoscaling", region_name=REGION)


@pytest.fixture
def config(backend: SageMakerBackend) -> str:
    """MODEL and CONFIG, created on the moto server through the backend."""
    backend.hosting.create_model(MODEL_REQUEST)
    backend.hosting.create_endpoint_config(CONFIG_REQUEST)
    return CONFIG


def queue_moto_results(moto_url: str, results: list[dict[str, str]]) -> None:
    """Queue InvokeEndpoint answers on the moto server (its static-results API)."""
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"account_id": ACCOUNT, "region": REGION, "results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(request, timeout=10) as response:
        assert response.status == 201  # moto: Created


# -- against moto: models, configs, endpoints ----------------------------------------------


def test_backend_satisfies_endpoint_protocol(backend: SageMakerBackend) -> None:
    as_protocol: Hosting = backend.hosting  # checked by mypy in smgha, by use here
    assert callable(as_protocol.invoke_endpoint)
    assert backend.hosting.poll_seconds == 20.0


def test_model_is_none_until_created(backend: SageMakerBackend) -> None:
    # moto: ValidationException "Could not find model '<arn>'."
    assert backend.hosting.describe_model(MODEL) is None

    backend.hosting.create_model(MODEL_REQUEST)
    record = backend.hosting.describe_model(MODEL)

    assert record is not None
    assert record["ModelName"] == MODEL
    assert record["ModelArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{MODEL}"
    assert record["PrimaryContainer"] == {"ModelPackageName": PACKAGE_ARN}
    assert record["ExecutionRoleArn"] == ROLE
    assert "ResponseMetadata" not in record


def test_endpoint_config_is_none_until_created(backend: SageMakerBackend) -> None:
    backend.hosting.create_model(MODEL_REQUEST)
    assert backend.hosting.describe_endpoint_config(CONFIG) is None

    backend.hosting.create_endpoint_config(CONFIG_REQUEST)
    record = backend.hosting.describe_endpoint_config(CONFIG)

    assert record is not None
    assert record["EndpointConfigArn"].endswith(f":endpoint-config/{CONFIG}")
    assert record["ProductionVariants"] == CONFIG_REQUEST["ProductionVariants"]
    assert record["DataCaptureConfig"] == CONFIG_REQUEST["DataCaptureConfig"]
    assert "ResponseMetadata" not in record


def test_endpoint_config_of_a_missing_model_is_a_stage_error(backend: SageMakerBackend) -> None:
    with pytest.raises(StageError) as caught:
        backend.hosting.create_endpoint_config(CONFIG_REQUEST)

    assert caught.value.title == "CreateEndpointConfig failed"
    assert caught.value.detail.startswith(f"endpoint configuration {CONFIG}: ValidationException")
    assert "Could not find model" in caught.value.detail


def test_create_endpoint_with_tags(backend: SageMakerBackend, sagemaker: Any, config: str) -> None:
    assert backend.hosting.describe_endpoint(ENDPOINT) is None

    backend.hosting.create_endpoint(ENDPOINT, config, {"smgha:model-package-arn": PACKAGE_ARN})
    record = backend.hosting.describe_endpoint(ENDPOINT)

    assert record is not None
    assert record["EndpointStatus"] == "InService"  # moto: at once; SageMaker: Creating first
    assert record["EndpointConfigName"] == CONFIG
    assert record["ProductionVariants"][0]["VariantName"] == VARIANT
    assert record["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert "ResponseMetadata" not in record
    tags = sagemaker.list_tags(ResourceArn=record["EndpointArn"])["Tags"]
    assert tags == [{"Key": "smgha:model-package-arn", "Value": PACKAGE_ARN}]


def test_create_endpoint_without_tags_sends_none(
    backend: SageMakerBackend, sagemaker: Any, config: str
) -> None:
    calls = capture_params(backend.clients.sagemaker, "sagemaker", "CreateEndpoint")

    backend.hosting.create_endpoint(ENDPOINT, config, {})

    assert calls == [{"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG}]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == []


def test_create_endpoint_on_a_missing_config_is_a_stage_error(backend: SageMakerBackend) -> None:
    with pytest.raises(StageError) as caught:
        backend.hosting.create_endpoint(ENDPOINT, CONFIG, {})

    assert caught.value.title == "CreateEndpoint failed"
    assert "Could not find endpoint configuration" in caught.value.detail
    assert backend.hosting.describe_endpoint(ENDPOINT) is None


# -- against moto: alarms and autoscaling -------------------------------------------------


def test_alarms_by_name_in_the_order_asked_missing_ones_left_out(
    backend: SageMakerBackend,
) -> None:
    errors = f"{ENDPOINT}-invocation-5xx-errors"
    latency = f"{ENDPOINT}-model-latency"
    backend.hosting.put_metric_alarm(alarm_request(errors, "Invocation5XXErrors", 0.0))
    backend.hosting.put_metric_alarm(alarm_request(latency, "ModelLatency", 500_000.0))
    backend.hosting.put_metric_alarm(alarm_request("unrelated", "CPUUtilization", 90.0))

    alarms = backend.hosting.describe_alarms([latency, "no-such-alarm", errors, latency])

    assert [alarm["AlarmName"] for alarm in alarms] == [latency, errors]
    assert alarms[0]["MetricName"] == "ModelLatency"
    assert alarms[0]["Threshold"] == 500_000.0
    assert alarms[1]["Dimensions"] == alarm_request(errors, "x", 0)["Dimensions"]
    assert {alarm["StateValue"] for alarm in alarms} == {"OK"}
    assert backend.hosting.describe_alarms(["no-such-alarm"]) == []


def test_no_alarm_names_describe_nothing(backend: SageMakerBackend) -> None:
    backend.hosting.put_metric_alarm(alarm_request("unrelated", "CPUUtilization", 90.0))
    calls = capture_params(backend.clients.cloudwatch, "cloudwatch", "DescribeAlarms")

    # DescribeAlarms without AlarmNames would list every alarm of the account.
    assert backend.hosting.describe_alarms([]) == []
    assert calls == []


def test_put_metric_alarm_replaces_an_alarm_of_the_same_name(backend: SageMakerBackend) -> None:
    backend.hosting.put_metric_alarm(alarm_request("slow", "ModelLatency", 500_000.0))
    backend.hosting.put_metric_alarm(alarm_request("slow", "ModelLatency", 250_000.0))

    (alarm,) = backend.hosting.describe_alarms(["slow"])
    assert alarm["Threshold"] == 250_000.0


def _scalable_target(autoscaling: Any, resource_id: str) -> dict[str, Any] | None:
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    return targets[0] if targets else None


def test_scalable_target_and_policy(backend: SageMakerBackend, autoscaling: Any) -> None:
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE_ID,
        "ScalableDimension": DIMENSION,
    }
    assert _scalable_target(autoscaling, RESOURCE_ID) is None

    backend.hosting.register_scalable_target({**target, "MinCapacity": 1, "MaxCapacity": 4})
    backend.hosting.put_scaling_policy(
        {
            **target,
            "PolicyName": f"{ENDPOINT}-invocations-per-instance",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        }
    )
    record = _scalable_target(autoscaling, RESOURCE_ID)

    assert record is not None
    assert (record["ResourceId"], record["ScalableDimension"]) == (RESOURCE_ID, DIMENSION)
    assert (record["MinCapacity"], record["MaxCapacity"]) == (1, 4)
    (policy,) = autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID
    )["ScalingPolicies"]
    assert policy["PolicyName"] == f"{ENDPOINT}-invocations-per-instance"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0

    # Registering again updates the capacities; another variant is another target.
    backend.hosting.register_scalable_target({**target, "MinCapacity": 2, "MaxCapacity": 6})
    updated = _scalable_target(autoscaling, RESOURCE_ID)
    assert updated is not None
    assert (updated["MinCapacity"], updated["MaxCapacity"]) == (2, 6)
    assert _scalable_target(autoscaling, f"endpoint/{ENDPOINT}/variant/Other") is None


def test_describe_scalable_target_with_its_policies(backend: SageMakerBackend) -> None:
    """The live target deploy-endpoint compares its inputs with, in the local backend's shape."""
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE_ID,
        "ScalableDimension": DIMENSION,
    }
    assert backend.hosting.describe_scalable_target(RESOURCE_ID) is None

    backend.hosting.register_scalable_target({**target, "MinCapacity": 2, "MaxCapacity": 5})
    registered = backend.hosting.describe_scalable_target(RESOURCE_ID)
    assert registered is not None
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (2, 5)
    assert registered["Policies"] == {}
    policy = {
        "PolicyName": f"{ENDPOINT}-invocations-per-instance",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }  # fmt: skip
    backend.hosting.put_scaling_policy({**target, **policy})
    record = backend.hosting.describe_scalable_target(RESOURCE_ID)

    assert record is not None
    assert (record["ResourceId"], record["ScalableDimension"]) == (RESOURCE_ID, DIMENSION)
    assert (record["MinCapacity"], record["MaxCapacity"]) == (2, 5)
    (name,) = record["Policies"]
    assert name == policy["PolicyName"]
    assert record["Policies"][name]["PolicyType"] == "TargetTrackingScaling"
    assert (
        record["Policies"][name]["TargetTrackingScalingPolicyConfiguration"]
        == policy["TargetTrackingScalingPolicyConfiguration"]
    )
    assert backend.hosting.describe_scalable_target(f"endpoint/{ENDPOINT}/variant/Other") is None


def test_describe_scalable_target_requests(backend: SageMakerBackend) -> None:
    """One variant, one dimension; every page of policies; no policy call without a target."""
    where = {"ServiceNamespace": "sagemaker", "ScalableDimension": DIMENSION}
    target = {
        **where,
        "ResourceId": RESOURCE_ID,
        "MinCapacity": 1,
        "MaxCapacity": 3,
        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x",
        "CreationTime": at(0),
    }

    def policy(name: str) -> dict[str, Any]:
        return {
            **where,
            "PolicyARN": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:{name}",
            "PolicyName": name,
            "ResourceId": RESOURCE_ID,
            "PolicyType": "TargetTrackingScaling",
            "CreationTime": at(0),
        }

    with Stubber(backend.clients.autoscaling) as stub:
        stub.add_response(
            "describe_scalable_targets",
            {"ScalableTargets": []},
            {**where, "ResourceIds": [RESOURCE_ID]},
        )
        assert backend.hosting.describe_scalable_target(RESOURCE_ID) is None

        stub.add_response(
            "describe_scalable_targets",
            {"ScalableTargets": [target]},
            {**where, "ResourceIds": [RESOURCE_ID]},
        )
        stub.add_response(
            "describe_scaling_policies",
            {"ScalingPolicies": [policy("a")], "NextToken": "2"},
            {**where, "ResourceId": RESOURCE_ID},
        )
        stub.add_response(
            "describe_scaling_policies",
            {"ScalingPolicies": [policy("b")]},
            {**where, "ResourceId": RESOURCE_ID, "NextToken": "2"},
        )
        record = backend.hosting.describe_scalable_target(RESOURCE_ID)
        stub.assert_no_pending_responses()

    assert record == {**target, "Policies": {"a": policy("a"), "b": policy("b")}}


def test_delete_scaling_policy_and_deregister_scalable_target(backend: SageMakerBackend) -> None:
    """What an instance-type change does to an autoscaled variant before UpdateEndpoint."""
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE_ID,
        "ScalableDimension": DIMENSION,
    }
    backend.hosting.register_scalable_target({**target, "MinCapacity": 2, "MaxCapacity": 5})
    backend.hosting.put_scaling_policy({
        **target,
        "PolicyName": "p",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}},
    })  # fmt: skip

    backend.hosting.delete_scaling_policy("p", RESOURCE_ID)
    record = backend.hosting.describe_scalable_target(RESOURCE_ID)
    assert record is not None and record["Policies"] == {}
    backend.hosting.deregister_scalable_target(RESOURCE_ID)
    assert backend.hosting.describe_scalable_target(RESOURCE_ID) is None


def test_delete_and_deregister_requests(backend: SageMakerBackend) -> None:
    where = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE_ID,
        "ScalableDimension": DIMENSION,
    }
    with Stubber(backend.clients.autoscaling) as stub:
        stub.add_response("delete_scaling_policy", {}, {**where, "PolicyName": "p"})
        stub.add_response("deregister_scalable_target", {}, where)
        backend.hosting.delete_scaling_policy("p", RESOURCE_ID)
        backend.hosting.deregister_scalable_target(RESOURCE_ID)
        stub.assert_no_pending_responses()

        stub.add_client_error(
            "deregister_scalable_target",
            service_error_code="ObjectNotFoundException",
            service_message="No scalable target registered",
        )
        with pytest.raises(StageError) as caught:
            backend.hosting.deregister_scalable_target(RESOURCE_ID)
    assert caught.value.title == "DeregisterScalableTarget failed"
    assert RESOURCE_ID in caught.value.detail


# -- deploy-endpoint's apply: an instance-type change of an autoscaled variant ------------


def _calls_in_order(backend: SageMakerBackend) -> list[str]:
    """The operations the backend's SageMaker and Auto Scaling clients call, in one order."""
    order: list[str] = []
    for client in (backend.clients.sagemaker, backend.clients.autoscaling):
        client.meta.events.register(
            "provide-client-params", lambda model, **_: order.append(model.name)
        )
    return order


@pytest.mark.parametrize("ends", ["deployed", "refused", "rolled-back"])
def test_deploy_deregisters_an_autoscaled_variant_whose_instance_type_changes(
    backend: SageMakerBackend, ends: str
) -> None:
    scaling = TargetTracking(
        ENDPOINT, VARIANT, (2, 6), 70.0, scale_in_cooldown=300, scale_out_cooldown=60
    )
    target = deployment.Target(
        package_arn=PACKAGE_ARN, endpoint=ENDPOINT, role_arn=ROLE,
        instance_type="ml.c5.xlarge", instance_count=2, variant=VARIANT, alarms=("team-5xx",), max_latency_ms=500,
        blue_green=BlueGreen("all-at-once", wait_seconds=60, termination_wait_seconds=30, timeout_seconds=600),
        scaling=scaling, data_capture=None,
    )  # fmt: skip
    where = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE_ID,
        "ScalableDimension": DIMENSION,
    }
    policy_config = scaling.policy_config()
    live_policy = {
        **where,
        "PolicyARN": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:x",
        "PolicyName": f"{ENDPOINT}-invocations-per-instance",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {**policy_config, "TargetValue": 50.0},
        "Alarms": [],
        "CreationTime": at(0),
    }
    live_scaling = {
        **where,
        "MinCapacity": 2,
        "MaxCapacity": 4,
        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x",
        "CreationTime": at(0),
        "Policies": {live_policy["PolicyName"]: live_policy},
    }
    plan = deployment.Deployment(
        target=target, package={}, model_name=MODEL, model_request=None, config_name=CONFIG, config_request={}, config_exists=True,
        live={"EndpointConfigName": OLD_CONFIG, "EndpointStatus": "InService"}, live_config=None, previous_package_arn="",
        deployment_config=target.blue_green.to_request(["team-5xx"]), alarm_requests=[],
        alarm_names=["team-5xx"], live_scaling=live_scaling, scaling_suspended=True,
    )  # fmt: skip
    described = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "CreationTime": at(0),
        "LastModifiedTime": at(0),
        "EndpointStatus": "InService",
        "EndpointConfigName": CONFIG if ends == "deployed" else OLD_CONFIG,
    }
    # The inputs' limits and policy after a deployed update; the live ones after a failed one.
    limits, value = ((2, 6), 70.0) if ends == "deployed" else ((2, 4), 50.0)
    order = _calls_in_order(backend)
    with (
        Stubber(backend.clients.sagemaker) as sagemaker,
        Stubber(backend.clients.autoscaling) as autoscaling,
    ):
        autoscaling.add_response(
            "delete_scaling_policy", {}, {**where, "PolicyName": live_policy["PolicyName"]}
        )
        autoscaling.add_response("deregister_scalable_target", {}, where)
        if ends == "refused":
            sagemaker.add_client_error(
                "update_endpoint",
                service_error_code="ValidationException",
                service_message="refused",
            )
        else:
            sagemaker.add_response("update_endpoint", {"EndpointArn": described["EndpointArn"]})
            sagemaker.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})
        autoscaling.add_response(
            "register_scalable_target",
            {},
            {**where, "MinCapacity": limits[0], "MaxCapacity": limits[1]},
        )
        autoscaling.add_response("put_scaling_policy", {"PolicyARN": live_policy["PolicyARN"]}, {
            **where,
            "PolicyName": live_policy["PolicyName"],
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {**policy_config, "TargetValue": value},
        })  # fmt: skip
        lines: list[str] = []
        if ends == "refused":
            with pytest.raises(StageError, match="UpdateEndpoint failed"):
                deployment.apply(plan, backend.hosting, lines.append, sleep=lambda _: None)
        else:
            outcome = deployment.apply(plan, backend.hosting, lines.append, sleep=lambda _: None)
            assert outcome == ends
        sagemaker.assert_no_pending_responses()
        autoscaling.assert_no_pending_responses()

    updates = ["UpdateEndpoint"] + ([] if ends == "refused" else ["DescribeEndpoint"])
    assert order == [
        "DeleteScalingPolicy",
        "DeregisterScalableTarget",
        *updates,
        "RegisterScalableTarget",
        "PutScalingPolicy",
    ]
    assert lines[0].startswith(f"Deregistered autoscaling of {RESOURCE_ID} (2-4 instances")


# -- against moto: invocation -------------------------------------------------------------


def test_invoke_endpoint_gets_motos_canned_answer(backend: SageMakerBackend) -> None:
    # moto answers for any endpoint name, existing or not.
    invocation = backend.hosting.invoke_endpoint("no-such-endpoint", b"1,2,3\n", "text/csv")

    assert invocation == Invocation(
        status=200,
        body=b"body",
        content_type="content_type",
        variant="invoked_production_variant",
        seconds=invocation.seconds,
    )
    assert invocation.seconds > 0  # measured, not bounded: speed belongs in bench/


def test_invoke_endpoint_gets_queued_results(backend: SageMakerBackend, aws_env: str) -> None:
    queue_moto_results(
        aws_env,
        [
            {
                "Body": "0.93\n",
                "ContentType": "text/csv; charset=utf-8",
                "InvokedProductionVariant": VARIANT,
            },
            {
                "Body": '{"predictions": [0.12]}',
                "ContentType": "application/json",
                "InvokedProductionVariant": "Canary",
            },
        ],
    )

    first = backend.hosting.invoke_endpoint(ENDPOINT, b"1,2,3\n", "text/csv")
    second = backend.hosting.invoke_endpoint(
        ENDPOINT, b"4,5,6\n", "text/csv", accept="application/json"
    )
    repeated = backend.hosting.invoke_endpoint(ENDPOINT, b"1,2,3\n", "text/csv")
    after_queue = backend.hosting.invoke_endpoint(ENDPOINT, b"7,8,9\n", "text/csv")

    assert (first.status, first.body, first.content_type, first.variant) == (
        200,
        b"0.93\n",
        "text/csv; charset=utf-8",
        VARIANT,
    )
    assert (second.body, second.content_type, second.variant) == (
        b'{"predictions": [0.12]}',
        "application/json",
        "Canary",
    )
    assert repeated.body == first.body  # moto: the same request, the same answer
    assert after_queue.body == b"body"  # queue empty: the canned answer


# -- with the Stubber: updates --------------------------------------------------------------


# The canary deploy-endpoint sends when a percentage is not a whole number of instances.
CANARY_INSTANCES: dict[str, Any] = {
    **CANARY,
    "BlueGreenUpdatePolicy": {
        **CANARY["BlueGreenUpdatePolicy"],
        "TrafficRoutingConfiguration": {
            **CANARY["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"],
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        },
    },
}


@pytest.mark.parametrize(
    "deployment_config",
    [CANARY, CANARY_INSTANCES, LINEAR],
    ids=["canary", "canary-instance-count", "linear"],
)
def test_update_endpoint_request(
    backend: SageMakerBackend, deployment_config: dict[str, Any]
) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
            expected_params={
                "EndpointName": ENDPOINT,
                "EndpointConfigName": CONFIG,
                "RetainAllVariantProperties": False,
                "DeploymentConfig": deployment_config,
            },
        )

        backend.hosting.update_endpoint(ENDPOINT, CONFIG, deployment_config)
        stub.assert_no_pending_responses()


def test_update_endpoint_without_deployment_config(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
            expected_params={
                "EndpointName": ENDPOINT,
                "EndpointConfigName": CONFIG,
                "RetainAllVariantProperties": False,
            },
        )

        backend.hosting.update_endpoint(ENDPOINT, CONFIG, None)
        stub.assert_no_pending_responses()


def test_update_endpoint_refused_is_a_stage_error(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "update_endpoint",
            service_error_code="ValidationException",
            service_message=(
                f'Cannot update in-progress endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:'
                f'endpoint/{ENDPOINT}".'
            ),
        )
        with pytest.raises(StageError) as caught:
            backend.hosting.update_endpoint(ENDPOINT, CONFIG, CANARY)

    assert caught.value.title == "UpdateEndpoint failed"
    assert caught.value.detail.startswith(
        f"endpoint {ENDPOINT} to {CONFIG}: ValidationException: Cannot update in-progress"
    )


BLUE_GREEN_IN_PROGRESS: dict[str, Any] = {
    "EndpointName": ENDPOINT,
    "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
    "EndpointConfigName": OLD_CONFIG,
    "ProductionVariants": [
        {
            "VariantName": VARIANT,
            "DeployedImages": [
                {
                    "SpecifiedImage": IMAGE,
                    "ResolvedImage": f"{IMAGE.split(':')[0]}@sha256:{'a' * 64}",
                    "ResolutionTime": at(0),
                }
            ],
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 2,
            "DesiredInstanceCount": 2,
        }
    ],
    "DataCaptureConfig": {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/churn-staging",
        "KmsKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    },
    "EndpointStatus": "Updating",
    "CreationTime": at(0),
    "LastModifiedTime": at(900),
    "LastDeploymentConfig": CANARY,
    "PendingDeploymentSummary": {
        "EndpointConfigName": CONFIG,
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "DeployedImages": [
                    {
                        "SpecifiedImage": IMAGE,
                        "ResolvedImage": f"{IMAGE.split(':')[0]}@sha256:{'b' * 64}",
                        "ResolutionTime": at(905),
                    }
                ],
                "CurrentWeight": 0.1,
                "DesiredWeight": 0.1,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VariantStatus": [
                    {
                        "Status": "Baking",
                        "StatusMessage": "Baking the canary for 300 seconds",
                        "StartTime": at(960),
                    }
                ],
            }
        ],
        "StartTime": at(900),
    },
}


def test_blue_green_in_progress_is_mapped_unchanged(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "describe_endpoint",
            {**BLUE_GREEN_IN_PROGRESS, "ResponseMetadata": {"HTTPStatusCode": 200}},
            expected_params={"EndpointName": ENDPOINT},
        )

        record = backend.hosting.describe_endpoint(ENDPOINT)

    assert record == BLUE_GREEN_IN_PROGRESS


@pytest.mark.parametrize(
    ("method", "operation", "message"),
    [
        (
            "describe_endpoint",
            "DescribeEndpoint",
            f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}".',
        ),
        (
            "describe_endpoint_config",
            "DescribeEndpointConfig",
            f'Could not find endpoint configuration "arn:aws:sagemaker:{REGION}:{ACCOUNT}:'
            f'endpoint-config/{CONFIG}".',
        ),
        (
            "describe_model",
            "DescribeModel",
            f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{MODEL}".',
        ),
    ],
)
def test_missing_resources_as_the_service_reports_them(
    backend: SageMakerBackend, method: str, operation: str, message: str
) -> None:
    name = {"describe_endpoint": ENDPOINT, "describe_endpoint_config": CONFIG}.get(method, MODEL)
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            method, service_error_code="ValidationException", service_message=message
        )

        assert getattr(backend.hosting, method)(name) is None


@pytest.mark.parametrize(
    ("method", "code", "message"),
    [
        # A malformed name is not a missing endpoint.
        (
            "describe_endpoint",
            "ValidationException",
            "1 validation error detected: Value 'churn_staging' at 'endpointName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern",
        ),
        # Nor is a missing resource of another kind.
        (
            "describe_endpoint",
            "ValidationException",
            f'Could not find endpoint configuration "arn:aws:sagemaker:{REGION}:{ACCOUNT}:'
            f'endpoint-config/{ENDPOINT}".',
        ),
        ("describe_model", "ThrottlingException", "Rate exceeded"),
        ("describe_endpoint_config", "ResourceNotFound", "no such thing"),
    ],
)
def test_other_errors_are_not_a_missing_resource(
    backend: SageMakerBackend, method: str, code: str, message: str
) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(method, service_error_code=code, service_message=message)

        with pytest.raises(StageError) as caught:
            getattr(backend.hosting, method)(ENDPOINT)

    assert caught.value.detail.endswith(f"{code}: {message}")


def test_describe_alarms_asks_100_names_at_a_time_and_reads_every_page(
    backend: SageMakerBackend,
) -> None:
    names = [f"alarm-{index:03d}" for index in range(150)]
    with Stubber(backend.clients.cloudwatch) as stub:
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [metric_alarm(names[5])], "NextToken": "page-2"},
            expected_params={"AlarmNames": names[:100]},
        )
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [metric_alarm(names[1])]},
            expected_params={"AlarmNames": names[:100], "NextToken": "page-2"},
        )
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [metric_alarm(names[120])], "CompositeAlarms": []},
            expected_params={"AlarmNames": names[100:]},
        )

        alarms = backend.hosting.describe_alarms(names)
        stub.assert_no_pending_responses()

    assert [alarm["AlarmName"] for alarm in alarms] == [names[1], names[5], names[120]]


# -- with the Stubber: invocation -----------------------------------------------------------


def test_invoke_endpoint_request_and_answer(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {
                "Body": streaming(b"0.87\n0.02\n"),
                "ContentType": "text/csv; charset=utf-8",
                "InvokedProductionVariant": VARIANT,
            },
            expected_params={
                "EndpointName": ENDPOINT,
                "Body": b"1,2\n3,4\n",
                "ContentType": "text/csv",
                "Accept": "text/csv",
            },
        )

        invocation = backend.hosting.invoke_endpoint(ENDPOINT, b"1,2\n3,4\n", "text/csv")

    assert invocation.status == 200
    assert invocation.body == b"0.87\n0.02\n"
    assert invocation.content_type == "text/csv; charset=utf-8"
    assert invocation.variant == VARIANT
    assert invocation.seconds >= 0


@pytest.mark.parametrize(
    ("original_status", "original_message"),
    [
        (400, "unable to parse row 1: could not convert string to float: 'abc'"),
        (500, "Traceback (most recent call last): ... ValueError: feature_names mismatch"),
    ],
)
def test_model_error_is_the_containers_answer(
    backend: SageMakerBackend, original_status: int, original_message: str
) -> None:
    kind = "client" if original_status < 500 else "server"
    with Stubber(backend.clients.runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            service_message=(
                f"Received {kind} error ({original_status}) from primary with message "
                f'"{original_message}". See https://us-east-1.console.aws.amazon.com/cloudwatch/'
                f"home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/{ENDPOINT}"
                f" in account {ACCOUNT} for more information."
            ),
            http_status_code=424,
            modeled_fields={
                "OriginalStatusCode": original_status,
                "OriginalMessage": original_message,
                "LogStreamArn": (
                    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}"
                ),
            },
        )

        invocation = backend.hosting.invoke_endpoint(ENDPOINT, b"abc,1\n", "text/csv")

    assert invocation.status == original_status
    assert invocation.body == original_message.encode()
    assert (invocation.content_type, invocation.variant) == ("", "")


def test_model_error_as_botocore_parses_it_off_the_wire(backend: SageMakerBackend) -> None:
    """The real parser, not the Stubber, puts OriginalStatusCode where the backend reads it."""
    body = json.dumps(
        {
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
            "LogStreamArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/x",
            "Message": 'Received client error (415) from primary with message "bad type".',
            "OriginalMessage": "unsupported content type: application/xml",
            "OriginalStatusCode": 415,
        }
    ).encode()

    class Raw(io.BytesIO):
        def stream(self, **_: Any) -> Any:
            yield self.read()

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = {"x-amzn-ErrorType": "ModelError", "Content-Type": "application/json"}
        return AWSResponse(request.url, 424, headers, Raw(body))

    runtime = backend.clients.runtime
    runtime.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", answer)
    try:
        invocation = backend.hosting.invoke_endpoint(ENDPOINT, b"<row/>", "application/xml")
    finally:
        runtime.meta.events.unregister("before-send.sagemaker-runtime.InvokeEndpoint", answer)

    assert invocation.status == 415
    assert invocation.body == b"unsupported content type: application/xml"


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("ThrottlingException", "Rate exceeded", 400),
        ("ValidationError", f"Endpoint {ENDPOINT} of account {ACCOUNT} not found.", 400),
        ("ModelNotReadyException", "Model is not ready to serve requests.", 429),
    ],
)
def test_invoke_endpoint_failures_are_stage_errors(
    backend: SageMakerBackend, code: str, message: str, status: int
) -> None:
    with Stubber(backend.clients.runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code=code,
            service_message=message,
            http_status_code=status,
        )
        with pytest.raises(StageError) as caught:
            backend.hosting.invoke_endpoint(ENDPOINT, b"1,2\n", "text/csv")

    assert caught.value.title == "InvokeEndpoint failed"
    assert caught.value.detail == f"endpoint {ENDPOINT}: {code}: {message}"


# -- access denied and IAM actions -------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "method", "call", "action", "extra"),
    [
        (
            "runtime",
            "invoke_endpoint",
            lambda b: b.invoke_endpoint(ENDPOINT, b"1\n", "text/csv"),
            "sagemaker:InvokeEndpoint",
            "",
        ),
        (
            "sagemaker",
            "create_endpoint",
            lambda b: b.create_endpoint(ENDPOINT, CONFIG, {"team": "ml"}),
            "sagemaker:CreateEndpoint",
            "sagemaker:AddTags",
        ),
        (
            "sagemaker",
            "create_model",
            lambda b: b.create_model(MODEL_REQUEST),
            "sagemaker:CreateModel",
            "iam:PassRole",
        ),
        (
            "sagemaker",
            "update_endpoint",
            lambda b: b.update_endpoint(ENDPOINT, CONFIG, CANARY),
            "sagemaker:UpdateEndpoint",
            "cloudwatch:DescribeAlarms",
        ),
        (
            "cloudwatch",
            "put_metric_alarm",
            lambda b: b.put_metric_alarm(alarm_request("x", "ModelLatency", 1.0)),
            "cloudwatch:PutMetricAlarm",
            "",
        ),
        (
            "autoscaling",
            "register_scalable_target",
            lambda b: b.register_scalable_target(
                {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": RESOURCE_ID,
                    "ScalableDimension": DIMENSION,
                    "MinCapacity": 1,
                    "MaxCapacity": 2,
                }
            ),
            "application-autoscaling:RegisterScalableTarget",
            "iam:CreateServiceLinkedRole",
        ),
        (
            "autoscaling",
            "describe_scalable_targets",
            lambda b: b.describe_scalable_target(RESOURCE_ID),
            "application-autoscaling:DescribeScalableTargets",
            "",
        ),
    ],
    ids=[
        "InvokeEndpoint",
        "CreateEndpoint",
        "CreateModel",
        "UpdateEndpoint",
        "PutMetricAlarm",
        "RegisterScalableTarget",
        "DescribeScalableTargets",
    ],
)
def test_access_denied_names_the_iam_action(
    backend: SageMakerBackend, client: str, method: str, call: Any, action: str, extra: str
) -> None:
    with Stubber(getattr(backend.clients, client)) as stub:
        stub.add_client_error(
            method,
            service_error_code="AccessDeniedException",
            service_message=(
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/gha/run is not authorized to "
                f"perform: {action}"
            ),
        )
        with pytest.raises(StageError) as caught:
            call(backend.hosting)

    detail = caught.value.detail
    assert "AccessDeniedException: User: " in detail
    assert f"need {action}" in detail
    if extra:
        assert f"this call may also need {extra}" in detail
    else:
        assert "may also need" not in detail


def test_iam_actions_cover_every_hosting_operation() -> None:
    session = botocore.session.get_session()
    hosting = {
        "sagemaker": [
            "DescribeModel",
            "CreateModel",
            "DescribeEndpointConfig",
            "CreateEndpointConfig",
            "DescribeEndpoint",
            "CreateEndpoint",
            "UpdateEndpoint",
        ],
        "cloudwatch": ["PutMetricAlarm", "DescribeAlarms"],
        "application-autoscaling": [
            "RegisterScalableTarget",
            "PutScalingPolicy",
            "DescribeScalableTargets",
            "DescribeScalingPolicies",
            "DeleteScalingPolicy",
            "DeregisterScalableTarget",
        ],
    }
    for service, operations in hosting.items():
        for operation in operations:
            assert IAM_ACTIONS[operation] == f"{service}:{operation}"
    # The runtime's operations are authorised as sagemaker:<operation>.
    runtime = session.get_service_model("sagemaker-runtime").operation_names
    assert RUNTIME_IAM_ACTIONS == {
        "InvokeEndpoint": "sagemaker:InvokeEndpoint",
        "InvokeEndpointAsync": "sagemaker:InvokeEndpointAsync",  # smoke-test, async endpoints
    }
    assert all(operation in runtime for operation in RUNTIME_IAM_ACTIONS)
    assert set(IAM_EXTRA_ACTIONS) <= set(IAM_ACTIONS)


# -- the deploy stage's wait, at the backend's pace ------------------------------------------


def test_the_rollout_wait_polls_the_endpoint_every_poll_seconds(backend: SageMakerBackend) -> None:
    finished = {
        **{k: v for k, v in BLUE_GREEN_IN_PROGRESS.items() if k != "PendingDeploymentSummary"},
        "EndpointStatus": "InService",
        "EndpointConfigName": CONFIG,
    }
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with Stubber(backend.clients.sagemaker) as stub:
        for response in (BLUE_GREEN_IN_PROGRESS, BLUE_GREEN_IN_PROGRESS, finished):
            stub.add_response("describe_endpoint", response, {"EndpointName": ENDPOINT})

        settled = rollout.wait_until_settled(
            backend.hosting, ENDPOINT, 3600.0, rollout.Polling.steady(backend.hosting.poll_seconds),
            lambda _: None, sleep=sleep, clock=lambda: now[0],
        )  # fmt: skip
        final = settled.record
        stub.assert_no_pending_responses()

    assert final["EndpointStatus"] == "InService"
    # Every poll_seconds, except that the round due to print progress (every 30 s of
    # silence, smgha/progress.py) comes in time: 20 s, then the 10 s left until 30 s.
    assert slept == [20.0, 10.0]
