"""Shadow tests on the sagemaker backend: deploy-endpoint's shadow requests (moto), and
shadow-test's reads: both variants' capture files from S3 (moto, shaped as SageMaker writes
them), each variant's CloudWatch metrics (GetMetricData: botocore's Stubber, moto has no
percentiles) and the endpoint's shadow (Stubber: moto drops ShadowProductionVariants). Every
request is held to tests/aws_contract.py (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from smgha import gates
from smgha.backends.aws import variant_metrics
from smgha.resources import shadow_comparison
from smgha.runner import Runner
from smgha.stages import shadow_test
from tests.aws_contract import contract_problems

REGION = "us-east-1"
ACCOUNT = "123456789012"
GROUP = "churn-models"
# The names of the deployment the IAM policies are rendered for (tests/iam/e2e.tfvars).
ENDPOINT = "churn-production"
BUCKET = "acme-churn-mlops"
CAPTURE = f"s3://{BUCKET}/data-capture/{ENDPOINT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/"


def test_sagemaker_deploy_sends_the_shadow_variant_and_its_model(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from smgha.backends.aws.hosting import SageMakerHosting
    from tests.test_deploy_endpoint import sagemaker_deploy, sagemaker_package

    sent: list[dict[str, Any]] = []
    original = SageMakerHosting.create_endpoint_config

    def spy(self: SageMakerHosting, request: dict[str, Any]) -> None:
        sent.append(request)
        original(self, request)

    monkeypatch.setattr(SageMakerHosting, "create_endpoint_config", spy)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    first = sagemaker_package(sagemaker)
    second = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://models/m2.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]

    result = sagemaker_deploy(
        first,
        **{
            "strategy": "all-at-once",
            "shadow-model-package-arn": second,
            "shadow-sampling-percent": "40",
            "data-capture-percent": "100",
            "data-capture-s3-uri": CAPTURE,
        },
    )

    assert result.code == 0, result.log
    [request] = sent
    assert request["ShadowProductionVariants"][0]["ModelName"] == f"{GROUP}-v2"
    assert request["ShadowProductionVariants"][0]["InitialVariantWeight"] == 0.4
    shadow_model = sagemaker.describe_model(ModelName=f"{GROUP}-v2")
    assert shadow_model["PrimaryContainer"]["ModelPackageName"] == second


def capture_record(event_id: str, moment: dt.datetime, request: str, response: str) -> str:
    """One line of a SageMaker data capture file (model-monitor-data-capture-endpoint.html)."""
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": request, "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT", "data": response, "encoding": "CSV"},
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )  # fmt: skip


def put_capture(s3: Any, variant: str, moment: dt.datetime, lines: list[str]) -> None:
    key = f"data-capture/{ENDPOINT}/{ENDPOINT}/{variant}/{moment:%Y/%m/%d/%H}/{moment:%M-%S}-000-{uuid.uuid4()}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())


def stub_live_shadow(stub: Stubber) -> None:
    """DescribeEndpoint, DescribeEndpointConfig and the two models, as SageMaker answers."""
    now = dt.datetime.now(dt.timezone.utc)
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
            "EndpointConfigName": f"{ENDPOINT}-v1-abc",
            "EndpointStatus": "InService",
            "CreationTime": now,
            "LastModifiedTime": now,
        },
        {"EndpointName": ENDPOINT},
    )
    variant = {"ModelName": f"{GROUP}-v1", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}  # fmt: skip
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": f"{ENDPOINT}-v1-abc",
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{ENDPOINT}-v1-abc",
            "ProductionVariants": [{**variant, "VariantName": "AllTraffic"}],
            "ShadowProductionVariants": [{**variant, "VariantName": "Shadow", "ModelName": f"{GROUP}-v2"}],
            "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": CAPTURE, "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]},
            "CreationTime": now,
        },
        {"EndpointConfigName": f"{ENDPOINT}-v1-abc"},
    )  # fmt: skip
    for version in (2, 1, 2):  # the shadow's role, then each variant's package
        stub.add_response(
            "describe_model",
            {
                "ModelName": f"{GROUP}-v{version}",
                "PrimaryContainer": {"ModelPackageName": f"{PACKAGE}{version}"},
                "ExecutionRoleArn": ROLE,
                "CreationTime": now,
                "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{GROUP}-v{version}",
            },
            {"ModelName": f"{GROUP}-v{version}"},
        )


def metric_results(values: dict[str, int]) -> dict[str, Any]:
    return {
        "MetricDataResults": [
            {"Id": key, "Label": key, "Timestamps": [dt.datetime.now(dt.timezone.utc)], "Values": [value], "StatusCode": "Complete"}
            for key, value in values.items()
        ]
    }  # fmt: skip


def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every AWS call made from now on, as the IAM tests read them, signed by the production
    deploy role."""
    from botocore.client import BaseClient

    from tests.e2e.sagemaker_run import JOB_ROLES

    calls: list[dict[str, Any]] = []
    original = BaseClient._make_api_call

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        role = JOB_ROLES["deploy-production"]
        calls.append({"service": service, "operation": operation, "params": params, "role": role})
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def test_sagemaker_shadow_test_pairs_captured_answers_and_reads_cloudwatch(
    backend: Any, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket=BUCKET)
    moment = dt.datetime.now(dt.timezone.utc)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    put_capture(
        s3,
        "AllTraffic",
        moment,
        [capture_record(i, moment, f"{n},1.5", "0.8") for n, i in enumerate(ids)],
    )
    put_capture(s3, "Shadow", moment, [capture_record(i, moment, f"{n},1.5", "0.7" if n else "0.3") for n, i in enumerate(ids[:3])])  # fmt: skip
    metrics = {
        "v0_invocations": 4, "v0_errors4xx": 0, "v0_errors5xx": 0, "v0_p50": 2000, "v0_p99": 5000,
        "v1_invocations": 3, "v1_errors4xx": 0, "v1_errors5xx": 1, "v1_p50": 2500, "v1_p99": 9000,
    }  # fmt: skip
    inputs = shadow_test.Inputs(
        backend="sagemaker", region=REGION, endpoint=ENDPOINT,
        rules=tuple(gates.parse_rules(["shadow.agreement >= 0.6", "shadow.p99_ms <= production.p99_ms * 1.2"])),
        payloads=None, content_type="", task="binary-classification", min_samples=3,
        timeout_seconds=60, promote=False, wait_seconds=0, max_latency_ms=1000,
        report_path=tmp_path / "report.json",
    )  # fmt: skip

    calls = recorded_calls(monkeypatch)
    with (
        Stubber(backend.clients.sagemaker) as sagemaker,
        Stubber(backend.clients.cloudwatch) as cloudwatch,
    ):
        stub_live_shadow(sagemaker)
        cloudwatch.add_response("get_metric_data", metric_results(metrics), {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY})  # fmt: skip
        outcome = shadow_test.run(inputs, backend, print, wall=lambda: moment)
        sagemaker.assert_no_pending_responses()
        cloudwatch.assert_no_pending_responses()

    comparison = outcome.comparison
    assert len(comparison.pairs) == 3 and comparison.unpaired == 1
    assert comparison.metrics["shadow.agreement"] == pytest.approx(2 / 3)
    assert comparison.metrics["shadow.max_score_difference"] == pytest.approx(0.5)
    assert (comparison.metrics["production.p99_ms"], comparison.metrics["shadow.p99_ms"]) == (
        5.0,
        9.0,
    )
    assert comparison.metrics["shadow.errors"] == 1
    assert [r.passed for r in outcome.decision.results] == [True, False]  # 9 > 5 × 1.2
    assert outcome.live.shadow_package_arn == f"{PACKAGE}2" and outcome.promoted == ""
    # The production deploy role's policy allows every call, and only that role's does.
    operations = {(c["service"], c["operation"]) for c in calls}
    assert {
        ("s3", "ListObjectsV2"),
        ("s3", "GetObject"),
        ("cloudwatch", "GetMetricData"),
    } <= operations
    assert iam_denials(calls, "deploy_production_permissions") == []
    assert any("s3:ListBucket" in d for d in iam_denials(calls, "deploy_staging_permissions"))
    runner = Runner(env={}, stdout=io.StringIO())
    shadow_test.report(inputs, outcome, runner)
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "fail"
    assert "| p99 latency (ms) | 5.00 | 9.00 |" in runner.summary_text


def test_the_get_metric_data_request_passes_the_contract() -> None:
    start = dt.datetime(2026, 12, 5, 16, 0, 31, tzinfo=dt.timezone.utc)
    end = start + dt.timedelta(minutes=7)

    request = variant_metrics.metric_data_request(ENDPOINT, ["AllTraffic", "Shadow"], start, end)

    assert contract_problems("cloudwatch", "GetMetricData", request) == []
    assert request["StartTime"] == start.replace(second=0)
    assert (request["EndTime"] - request["StartTime"]).total_seconds() == 480  # whole minutes
    stats = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"])
        for q in request["MetricDataQueries"]
    }
    assert ("ModelLatency", "p99") in stats and ("Invocation5XXErrors", "Sum") in stats  # fmt: skip


def test_capture_prefixes_cover_every_hour_of_the_window() -> None:
    start = dt.datetime(2026, 12, 5, 22, 59, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 12, 6, 0, 1, tzinfo=dt.timezone.utc)

    prefixes = shadow_comparison.capture_prefixes(CAPTURE + "/", ENDPOINT, "Shadow", start, end)

    assert prefixes == [
        f"{CAPTURE}/{ENDPOINT}/Shadow/2026/12/05/22/",
        f"{CAPTURE}/{ENDPOINT}/Shadow/2026/12/05/23/",
        f"{CAPTURE}/{ENDPOINT}/Shadow/2026/12/06/00/",
    ]


def iam_denials(calls: list[dict[str, Any]], document: str) -> list[str]:
    """The calls `document` (infra/terraform/iam_policies.tf, rendered for the e2e deployment)
    does not allow, by the IAM policy evaluator (tests/iam_simulator.py)."""
    from tests.iam_policies import DEPLOYMENT, policies
    from tests.iam_requests import Calls
    from tests.iam_simulator import denials

    requests = [(r, document) for call in calls for r in Calls(DEPLOYMENT).requests(call)]
    return denials(requests, policies())
