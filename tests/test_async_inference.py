"""Asynchronous inference: deploy-endpoint's async inputs and what SageMaker refuses beside
them (smgha/resources/async_inference.py), the endpoint config and the backlog autoscaling
it asks for, the local queue (smgha/backends/local/async_queue.py) with real models, and
smoke-test submitting and collecting (smgha/smoke/async_passes.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.local import LocalBackend
from smgha.errors import StageError
from smgha.stages import deploy_endpoint, smoke_test
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import (
    ROWS,
    approved_package,
    deploy,
    inputs_of,
    register,
    train,
)

OUTPUT = "s3://smgha-local/async/results"
FAILURES = "s3://smgha-local/async/failures"
SUCCESS_TOPIC = "arn:aws:sns:us-east-1:000000000000:churn-results"
ERROR_TOPIC = "arn:aws:sns:us-east-1:000000000000:churn-errors"
ASYNC = {"async-output-s3-uri": OUTPUT, "strategy": "all-at-once"}


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


def async_deploy(package: str, **overrides: str) -> Any:
    return deploy(package, **{**ASYNC, **overrides})


# ---- the rules: one error naming both inputs, nothing created ------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"async-output-s3-uri": "", "async-failure-s3-uri": FAILURES}, "async-failure-s3-uri", "applies only to an asynchronous endpoint, and async-output-s3-uri is empty"),
        ({"async-output-s3-uri": "", "async-success-topic-arn": SUCCESS_TOPIC}, "async-success-topic-arn", "async-output-s3-uri is empty"),
        ({"async-output-s3-uri": "", "async-error-topic-arn": ERROR_TOPIC}, "async-error-topic-arn", "async-output-s3-uri is empty"),
        ({"async-output-s3-uri": "", "async-max-concurrent-invocations": "4"}, "async-max-concurrent-invocations", "async-output-s3-uri is empty"),
        ({"async-output-s3-uri": "", "async-kms-key-id": "alias/results"}, "async-kms-key-id", "async-output-s3-uri is empty"),
        ({"async-output-s3-uri": "results"}, "async-output-s3-uri", "must be an s3:// URI"),
        ({"async-output-s3-uri": "s3://bkt/" + "k" * 510}, "async-output-s3-uri", "takes 0 to 512"),
        ({"async-max-concurrent-invocations": "0"}, "async-max-concurrent-invocations", "from 1 to 1000"),
        ({"async-max-concurrent-invocations": "1001"}, "async-max-concurrent-invocations", "from 1 to 1000"),
        ({"async-success-topic-arn": "churn-results"}, "async-success-topic-arn", "does not match sagemaker's rule for SnsTopicArn"),
        ({"async-kms-key-id": "alias/my key"}, "async-kms-key-id", "does not match sagemaker's rule for KmsKeyId"),
        ({"async-include-response-in": "success"}, "async-include-response-in", "success needs async-success-topic-arn"),
        ({"async-include-response-in": "sometimes"}, "async-include-response-in", "is not success or error"),
        ({"serverless-memory-mb": "2048", "serverless-max-concurrency": "5"}, "serverless-memory-mb", "does not apply with async-output-s3-uri"),
        ({"data-capture-percent": "20", "data-capture-s3-uri": "s3://b/capture"}, "data-capture-percent", "does not apply with async-output-s3-uri"),
        ({"target-invocations-per-instance": "50"}, "target-invocations-per-instance", "scales on its backlog"),
        ({"strategy": "canary", "instance-count": "2"}, "strategy", "canary does not apply with async-output-s3-uri"),
        ({"strategy": "linear"}, "strategy", "linear does not apply with async-output-s3-uri"),
        ({"autoscaling-min-instances": "0"}, "autoscaling-max-instances", "is required"),
        ({"autoscaling-min-instances": "0", "autoscaling-max-instances": "2", "target-backlog-per-instance": "0"}, "target-backlog-per-instance", "positive"),
    ],
)  # fmt: skip
def test_an_async_input_sagemaker_refuses_is_one_error_and_creates_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    result = async_deploy(approved_package(local), **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors
    for kind in ("endpoints", "endpoint-configs", "models", "alarms", "autoscaling"):
        assert not (local.root / kind).exists()


def test_a_real_time_endpoint_still_scales_from_one_instance(local: LocalBackend) -> None:
    bounds = {"autoscaling-min-instances": "0", "autoscaling-max-instances": "2"}
    result = deploy(approved_package(local), **bounds)

    assert result.code == 1 and "input 'autoscaling-min-instances'" in result.errors[0]
    assert "from 1 to 100" in result.errors[0]


def test_the_async_config_is_in_the_request_and_in_the_config_name(local: LocalBackend) -> None:
    package = approved_package(local)
    full = {
        "async-failure-s3-uri": FAILURES + "/",
        "async-success-topic-arn": SUCCESS_TOPIC,
        "async-error-topic-arn": ERROR_TOPIC,
        "async-include-response-in": "success, error",
        "async-kms-key-id": "alias/results",
        "async-max-concurrent-invocations": "4",
    }

    planned = deploy_endpoint.plan(
        inputs_of(package, **ASYNC, **full), local.hosting, local.registry
    )

    assert planned.config_request["AsyncInferenceConfig"] == {
        "OutputConfig": {
            "S3OutputPath": OUTPUT,
            "S3FailurePath": FAILURES,
            "KmsKeyId": "alias/results",
            "NotificationConfig": {
                "SuccessTopic": SUCCESS_TOPIC,
                "ErrorTopic": ERROR_TOPIC,
                "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"],
            },
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }  # fmt: skip
    names = {
        deploy_endpoint.plan(inputs_of(package, **overrides), local.hosting, local.registry).config_name
        for overrides in ({"strategy": "all-at-once"}, ASYNC, {**ASYNC, **full}, {**ASYNC, "async-max-concurrent-invocations": "5"})
    }  # fmt: skip
    assert len(names) == 4  # each setting is another config: changing it is an update


# ---- the local backend, real models ------------------------------------------------------------


def payload_file(tmp_path: Path) -> Path:
    payloads = tmp_path / "payloads.csv"
    labels = (ROWS[:, 0] + ROWS[:, 1] * 0.5 > 0).astype(int)
    payloads.write_text(
        "".join(f"{y}," + ",".join(f"{x:.4f}" for x in row) + "\n" for y, row in zip(labels, ROWS, strict=True))
    )  # fmt: skip
    return payloads


def smoke(tmp_path: Path, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "endpoint-name": "churn-staging",
        "payloads": str(payload_file(tmp_path)),
        "label-column": "first",
        "min-accuracy": "0.7",
        "requests": "40",
        "concurrency": "4",
        "max-p99-ms": "5000",
        "report-path": str(tmp_path / "report.json"),
        "timeout-minutes": "2",
        **overrides,
    }
    return run_main(
        smoke_test.main, inputs, **{**GITHUB_CONTEXT, "GITHUB_WORKSPACE": str(tmp_path)}
    )


def notifications(local: LocalBackend, topic: str) -> list[dict[str, Any]]:
    path = local.layout.notification_file(topic)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_async_on_the_local_backend_deploys_smoke_tests_notifies_and_rolls_back(
    local: LocalBackend, tmp_path: Path
) -> None:
    v1 = register(local, train(20, 3, seed=1))
    topics = {"async-success-topic-arn": SUCCESS_TOPIC, "async-error-topic-arn": ERROR_TOPIC}
    settings = {**topics, "async-failure-s3-uri": FAILURES, "async-max-concurrent-invocations": "3", "wait-seconds": "0"}  # fmt: skip

    created = async_deploy(v1, **settings)

    assert created.code == 0, created.log
    assert f"results to {OUTPUT}, failures to {FAILURES}" in created.summary
    passed = smoke(tmp_path)
    assert passed.code == 0, passed.log
    assert passed.outputs["invocation"] == "async" and "· async" in passed.summary
    assert json.loads((tmp_path / "report.json").read_text())["invocation"] == "async"
    assert (
        "asynchronously: uploaded to s3://smgha-local/async/results/smoke-test-inputs" in passed.log
    )
    results = sorted(local.layout.s3.glob("smgha-local/async/results/*.out"))
    assert len(results) == len(ROWS) + 40  # every functional row and load-test call
    assert 0 <= float(results[0].read_text()) <= 1
    done = notifications(local, SUCCESS_TOPIC)
    assert len(done) == len(results) and not notifications(local, ERROR_TOPIC)
    message = done[0]["Message"]
    assert (
        message["invocationStatus"] == "Completed"
        and message["requestParameters"]["endpointName"] == "churn-staging"
    )
    assert message["responseParameters"]["outputLocation"].startswith(OUTPUT + "/")
    assert "responseBody" not in message  # IncludeInferenceResponseIn not asked
    with pytest.raises(StageError, match="is asynchronous .* takes InvokeEndpointAsync only"):
        local.hosting.invoke_endpoint("churn-staging", b"0.1," * 27 + b"0.1", "text/csv")

    # A payload the model cannot read: its error at the failure location, the error topic told.
    local.objects.put_object("s3://smgha-local/async/in/bad.csv", b"not,a,number")
    submitted = local.hosting.invoke_endpoint_async(
        "churn-staging", "s3://smgha-local/async/in/bad.csv", "text/csv"
    )
    answer = wait_for(local, submitted)
    assert answer.status != 200 and submitted["FailureLocation"].startswith(FAILURES + "/")
    failure = local.objects.read_object(submitted["FailureLocation"]).decode()
    assert failure.startswith(f"Received server error ({answer.status})")
    [error] = notifications(local, ERROR_TOPIC)
    assert error["Message"]["invocationStatus"] == "Failed"
    assert error["Message"]["responseParameters"]["failureLocation"] == submitted["FailureLocation"]

    # A broken model: the update rolls back, the endpoint stays on v1's config.
    broken = register(local, b"this is not a model archive")
    failed = async_deploy(broken, **settings)
    assert failed.code == 1 and failed.outputs["status"] == "rolled-back", failed.log
    assert failed.outputs["endpoint-config-name"] == created.outputs["endpoint-config-name"]

    # A smoke test that fails its check rolls back to the config given.
    v2 = register(local, train(1, 1, seed=9))
    assert async_deploy(v2, **settings).code == 0
    rolled = smoke(
        tmp_path,
        **{
            "min-accuracy": "0.99",
            "rollback-endpoint-config": created.outputs["endpoint-config-name"],
        },
    )
    assert rolled.code == 1 and rolled.outputs["rolled-back"] == "true", rolled.log
    record = local.hosting.describe_endpoint("churn-staging") or {}
    assert record["EndpointConfigName"] == created.outputs["endpoint-config-name"]


def wait_for(local: LocalBackend, submitted: dict[str, Any]) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = local.hosting.async_result("churn-staging", submitted)
        if answer is not None:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"no answer for {submitted}")


@pytest.mark.slow
def test_backlog_autoscaling_is_recorded_from_zero(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = register(local, train(5, 2, seed=1))
    bounds = {"autoscaling-min-instances": "0", "autoscaling-max-instances": "3", "target-backlog-per-instance": "2.5", "wait-seconds": "0"}  # fmt: skip

    created = async_deploy(v1, **bounds)

    assert created.code == 0, created.log
    record = local.hosting.describe_scalable_target("endpoint/churn-staging/variant/AllTraffic")
    assert record is not None and (record["MinCapacity"], record["MaxCapacity"]) == (0, 3)
    tracking = record["Policies"]["churn-staging-backlog-per-instance"]
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 2.5
    assert config["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": "churn-staging"}],
        "Statistic": "Average",
    }
    step = record["Policies"]["churn-staging-scale-out-from-zero"]
    assert step["PolicyType"] == "StepScaling"
    [alarm] = local.hosting.describe_alarms(["churn-staging-has-backlog-without-capacity"])
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["AlarmActions"] == [step["PolicyARN"]]
    assert "0-3 instances, target 2.5 ApproximateBacklogSizePerInstance" in created.summary
    again = async_deploy(v1, **bounds)
    assert again.outputs["status"] == "unchanged" and "autoscaling updated" not in again.summary
    # A worker whose request breaks (here: writing its result) goes on with the next one
    # (one worker: MaxConcurrentInvocationsPerInstance is left to SageMaker, 1 here).
    from smgha.backends.local import async_queue

    answer, broken = async_queue._answer, list[str]()

    def breaks_once(hosting: Any, name: str, folder: Path, taken: Path) -> None:
        if not broken:
            broken.append(taken.name)
            raise OSError("disk full")
        answer(hosting, name, folder, taken)

    monkeypatch.setattr(async_queue, "_answer", breaks_once)
    local.objects.put_object("s3://smgha-local/async/in/a.csv", (b"0.1," * 27) + b"0.1")
    first = local.hosting.invoke_endpoint_async("churn-staging", "s3://smgha-local/async/in/a.csv", "text/csv")  # fmt: skip
    second = local.hosting.invoke_endpoint_async("churn-staging", "s3://smgha-local/async/in/a.csv", "text/csv")  # fmt: skip
    assert wait_for(local, second).status == 200
    assert broken == [f"{first['InferenceId']}.json"]
    assert local.hosting.async_result("churn-staging", first) is None

    changed = async_deploy(v1, **bounds, **{"async-max-concurrent-invocations": "2"})
    assert changed.outputs["status"] == "deployed", changed.log  # another config: an update
    assert changed.outputs["endpoint-config-name"] != created.outputs["endpoint-config-name"]


# ---- the sagemaker backend: the requests (moto and the Stubber, held to tests/aws_contract.py) ------

MOTO_ACCOUNT = "123456789012"
SCALING = {"autoscaling-min-instances": "0", "autoscaling-max-instances": "3", "target-backlog-per-instance": "2.5"}  # fmt: skip


def test_sagemaker_async_deploy_sends_the_config_and_the_scaling_from_zero(aws_env: str) -> None:
    import boto3

    from tests.test_deploy_endpoint import sagemaker_deploy, sagemaker_package

    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    topic = f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT}:churn-results"
    asked = {**ASYNC, **SCALING, "async-success-topic-arn": topic, "async-max-concurrent-invocations": "2"}  # fmt: skip

    result = sagemaker_deploy(sagemaker_package(sagemaker), **asked)

    assert result.code == 0, result.log
    config = sagemaker.describe_endpoint_config(EndpointConfigName=result.outputs["endpoint-config-name"])  # fmt: skip
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": OUTPUT, "NotificationConfig": {"SuccessTopic": topic}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
    }
    scaling = boto3.client("application-autoscaling", region_name="us-east-1")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)
    policies = {
        p["PolicyName"]: p
        for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    assert set(policies) == {
        "churn-staging-backlog-per-instance",
        "churn-staging-scale-out-from-zero",
    }
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["churn-staging-has-backlog-without-capacity"])["MetricAlarms"]  # fmt: skip
    assert alarm["AlarmActions"] == [policies["churn-staging-scale-out-from-zero"]["PolicyARN"]]


def queue_async_results(moto_url: str, results: list[dict[str, Any]]) -> None:
    """Queue InvokeEndpointAsync answers on the moto server (its static-results API): moto
    writes each to S3 and names its location in the response."""
    import urllib.request

    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/sagemaker/async-endpoint-results",
        data=json.dumps({"account_id": MOTO_ACCOUNT, "region": "us-east-1", "results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )  # fmt: skip
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(request, timeout=10) as response:
        assert response.status == 201


def test_sagemaker_async_answers_come_from_the_output_or_the_failure_location(aws_env: str) -> None:
    from smgha.backends.aws import SageMakerBackend

    hosting = SageMakerBackend(region="us-east-1").hosting
    queue_async_results(aws_env, [{"data": "0.73"}, {"is_failure": True, "data": "Received server error (415) from primary"}])  # fmt: skip

    done = hosting.invoke_endpoint_async("churn-staging", "s3://in/a.csv", "text/csv")
    failed = hosting.invoke_endpoint_async("churn-staging", "s3://in/b.csv", "text/csv")

    answer = hosting.async_result("churn-staging", done)
    assert answer is not None and (answer.status, answer.body) == (200, b"0.73")
    failure = hosting.async_result("churn-staging", failed)
    assert failure is not None and failure.status == 415
    assert failure.body == b"Received server error (415) from primary"


def test_sagemaker_async_result_is_none_until_an_object_exists() -> None:
    from botocore.stub import Stubber

    from smgha.backends.aws import SageMakerBackend

    hosting = SageMakerBackend(region="us-east-1").hosting
    submitted = {"InferenceId": "i-1", "OutputLocation": "s3://out/r/i-1.out", "FailureLocation": "s3://out/f/i-1-error.out"}  # fmt: skip
    with Stubber(hosting.clients.runtime) as runtime, Stubber(hosting.clients.s3) as s3:
        runtime.add_response(
            "invoke_endpoint_async",
            {"InferenceId": "i-1", "OutputLocation": submitted["OutputLocation"], "FailureLocation": submitted["FailureLocation"]},
            {"EndpointName": "churn-staging", "InputLocation": "s3://in/a.csv", "ContentType": "text/csv", "Accept": "text/csv"},
        )  # fmt: skip
        for key in ("r/i-1.out", "f/i-1-error.out"):
            s3.add_client_error("get_object", "NoSuchKey", expected_params={"Bucket": "out", "Key": key})  # fmt: skip

        assert (
            hosting.invoke_endpoint_async("churn-staging", "s3://in/a.csv", "text/csv") == submitted
        )
        assert hosting.async_result("churn-staging", submitted) is None
        runtime.assert_no_pending_responses()
        s3.assert_no_pending_responses()


# ---- IAM: the grants in infra/terraform/iam_policies.tf, judged by the policy evaluator ----------


@pytest.mark.slow  # the evaluator runs in a node subprocess
def test_the_roles_are_allowed_what_an_async_endpoint_needs_and_no_more() -> None:
    from tests.e2e.sagemaker_run import BUCKET, JOB_ROLES
    from tests.iam_policies import (
        DEPLOYMENT,
        DOCUMENTS,
        EXECUTION_DOCUMENT,
        execution_role,
        policies,
    )
    from tests.iam_requests import Calls
    from tests.iam_simulator import IamRequest, denials

    def smoke_calls(role: str, endpoint: str, prefix: str) -> list[dict[str, Any]]:
        """The calls smoke-test makes on an async endpoint (as the Stubber test above sends them)."""
        key = f"{prefix}/smoke-test-inputs/a.csv"
        return [
            {"service": "s3", "operation": "PutObject", "params": {"Bucket": BUCKET, "Key": key}},
            {"service": "sagemaker-runtime", "operation": "InvokeEndpointAsync", "params": {"EndpointName": endpoint, "InputLocation": f"s3://{BUCKET}/{key}"}},
            {"service": "s3", "operation": "GetObject", "params": {"Bucket": BUCKET, "Key": f"{prefix}/i-1.out"}},
        ]  # fmt: skip

    def judged(job: str, endpoint: str, prefix: str) -> list[str]:
        role = JOB_ROLES[job]
        calls = [{**call, "role": role} for call in smoke_calls(role, endpoint, prefix)]
        requests = [r for call in calls for r in Calls(DEPLOYMENT).requests(call)]
        return denials([(r, DOCUMENTS[job]) for r in requests], rendered)

    rendered = policies()
    assert judged("deploy-staging", "churn-staging", "async-inference/results") == []
    assert judged("deploy-production", "churn-production", "async-inference/results") == []
    # Outside the async prefix, or another stage's endpoint: refused.
    assert judged("deploy-staging", "churn-staging", "models/results") != []
    assert judged("deploy-staging", "churn-production", "async-inference/results") != []

    def publish(topic: str) -> IamRequest:
        arn = f"arn:aws:sns:{DEPLOYMENT.region}:{DEPLOYMENT.account}:{topic}"
        return IamRequest(execution_role(), "sns:Publish", arn, DEPLOYMENT.account, why=topic)

    result = IamRequest(execution_role(), "s3:PutObject", DEPLOYMENT.s3(BUCKET, "async-inference/churn-production/results/i-1.out"), DEPLOYMENT.account, why="result")  # fmt: skip
    allowed = [publish("churn-staging-results"), publish("churn-production-errors"), result]
    assert denials([(r, EXECUTION_DOCUMENT) for r in allowed], rendered) == []
    assert denials([(publish("billing-alerts"), EXECUTION_DOCUMENT)], rendered) != []


# ---- model-deploy.yml: the inputs pass through, and what production cannot take is refused first --

REFUSE_STEP = "Refuse production inputs an asynchronous endpoint cannot take"


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"STRATEGY": "canary"}, "production-strategy"),
        ({"MEMORY": "2048"}, "production-serverless-memory-mb"),
        ({"SHADOW": "true"}, "production-shadow"),
        ({"SHADOW": "false"}, ""),
        ({"BASELINE_DATA_URI": "s3://b/baseline.csv"}, "baseline-data-uri"),
        ({"CAPTURE": "100"}, "baseline-data-uri"),
        ({}, ""),
        ({"OUTPUT": "", "STRATEGY": "canary"}, ""),  # real-time
        ({"OUTPUT": "", "ASYNC_ONLY": "4"}, "production-async-output-s3-uri"),
    ],
)
def test_production_inputs_async_cannot_take_are_refused_before_staging(
    env: dict[str, str], refused: str
) -> None:
    from tests.test_workflows import WORKFLOWS, jobs, run_bash, step_named

    workflow = WORKFLOWS / "model-deploy.yml"
    step = step_named(workflow, "staging", REFUSE_STEP)
    steps = jobs(workflow)["staging"]["steps"]
    assert steps.index(step) < steps.index(step_named(workflow, "staging", "deploy"))
    production = step_named(workflow, "production", "deploy")["with"]
    others = [k for k in production if k.startswith("async-") and k != "async-output-s3-uri"]
    assert len(others) == 4 and all(f"production-{k}" in step["env"]["ASYNC_ONLY"] for k in others)
    assert "production-target-backlog-per-instance" in step["env"]["ASYNC_ONLY"]

    done = run_bash(step["run"], {"OUTPUT": OUTPUT, "STRATEGY": "all-at-once", **env})

    if not refused:
        assert done.returncode == 0 and done.stdout == ""
        return
    assert done.returncode == 1
    (error,) = done.stdout.splitlines()
    assert error.startswith(f"::error title=model-deploy%3A invalid input::input '{refused}': ")


def test_both_stages_pass_the_async_inputs_through() -> None:
    from tests.test_workflows import WORKFLOWS, load, step_named, triggers

    workflow = WORKFLOWS / "model-deploy.yml"
    declared = triggers(load(workflow))["workflow_call"]["inputs"]
    for stage in ("staging", "production"):
        deploy = step_named(workflow, stage, "deploy")["with"]
        for name in ("async-output-s3-uri", "async-failure-s3-uri", "async-success-topic-arn", "async-error-topic-arn", "async-max-concurrent-invocations"):  # fmt: skip
            assert declared[f"{stage}-{name}"]["default"] == ""
            assert deploy[name] == f"${{{{ inputs.{stage}-{name} }}}}"
    production = step_named(workflow, "production", "deploy")["with"]
    assert (
        production["target-backlog-per-instance"]
        == "${{ inputs.production-target-backlog-per-instance }}"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"AsyncInferenceConfig": {"OutputConfig": {"S3FailurePath": FAILURES}}}, "without OutputConfig.S3OutputPath"),
        (
            {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": OUTPUT, "NotificationConfig": {"IncludeInferenceResponseIn": ["ERROR_NOTIFICATION_TOPIC"]}}}},
            "IncludeInferenceResponseIn ERROR_NOTIFICATION_TOPIC without ErrorTopic",
        ),
        (
            {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": OUTPUT}}, "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/c", "CaptureOptions": [{"CaptureMode": "Input"}]}},
            "beside DataCaptureConfig",
        ),
        ({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": OUTPUT}, "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1001}}}, "MaxConcurrentInvocationsPerInstance"),
    ],
)  # fmt: skip
def test_the_contract_refuses_what_sagemaker_refuses_of_an_async_config(
    change: dict[str, Any], problem: str
) -> None:
    from tests.aws_contract import contract_problems

    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}  # fmt: skip
    request = {"EndpointConfigName": "c", "ProductionVariants": [variant], **change}

    assert any(
        problem in p for p in contract_problems("sagemaker", "CreateEndpointConfig", request)
    )
    fine = {"EndpointConfigName": "c", "ProductionVariants": [variant], "AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": OUTPUT}}}  # fmt: skip
    assert contract_problems("sagemaker", "CreateEndpointConfig", fine) == []
