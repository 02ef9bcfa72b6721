"""The AWS double's request reading and token checks (tests/e2e/aws_double.py).

The least-privilege test trusts the double's record of which operation each request was:
here real botocore requests (built and signed by boto3, caught before they are sent) are
read back to their service and operation, for every protocol the stages use.
"""

from __future__ import annotations

import json
import time
from http.client import HTTPMessage
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws_contract import request_params
from tests.e2e.aws_double import check_web_identity, identify
from tests.stage_helpers import approved_package_request
from tests.token_issuer import TokenIssuer


class _Caught(Exception):
    pass


def _headers(request: Any) -> HTTPMessage:
    """The request's headers as the double's HTTP server hands them over (str, any case)."""
    message = HTTPMessage()
    for key, value in request.headers.items():
        message[key] = value.decode() if isinstance(value, bytes) else value
    return message


def _request_of(
    service: str, method: str, *, signed: bool = True, **params: Any
) -> tuple[str, str, Any, bytes]:
    """The HTTP request boto3 would send for `method(**params)`: (method, path, headers, body)."""
    credentials = (
        {
            "aws_access_key_id": "ASIAEXAMPLE",
            "aws_secret_access_key": "secret",
            "aws_session_token": "token",
        }
        if signed
        else {}
    )
    client = boto3.client(
        service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9", **credentials
    )
    seen: dict[str, Any] = {}

    def catch(request: Any, **_: Any) -> None:
        seen["request"] = request
        raise _Caught

    client.meta.events.register("before-send", catch)
    with pytest.raises(_Caught):
        getattr(client, method)(**params)
    request = seen["request"]
    path = request.url.split("127.0.0.1:9", 1)[1] or "/"
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):  # a file-like body (S3 uploads)
        body = body.read()
    return request.method, path, _headers(request), body


CASES = [
    ("sagemaker", "describe_pipeline", {"PipelineName": "p"}, "sagemaker", "DescribePipeline"),
    ("cloudwatch", "describe_alarms", {"AlarmNames": ["a"]}, "cloudwatch", "DescribeAlarms"),
    (
        "application-autoscaling",
        "put_scaling_policy",
        {
            "PolicyName": "p",
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/e/variant/v",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
        "application-autoscaling",
        "PutScalingPolicy",
    ),
    ("s3", "put_object", {"Bucket": "b", "Key": "k/x.json", "Body": b"{}"}, "s3", "PutObject"),
    ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "s3", "GetObject"),
    ("s3", "head_object", {"Bucket": "b", "Key": "k"}, "s3", "HeadObject"),
    ("s3", "list_objects_v2", {"Bucket": "b", "Prefix": "k/"}, "s3", "ListObjectsV2"),
    ("s3", "create_bucket", {"Bucket": "b"}, "s3", "CreateBucket"),
    (
        "sagemaker-runtime",
        "invoke_endpoint",
        {"EndpointName": "churn-staging", "Body": b"1,2", "ContentType": "text/csv"},
        "sagemaker-runtime",
        "InvokeEndpoint",
    ),
    ("sts", "get_caller_identity", {}, "sts", "GetCallerIdentity"),
]


@pytest.mark.parametrize(
    ("service", "method", "params", "expected_service", "operation"),
    CASES,
    ids=[case[1] for case in CASES],
)
def test_a_botocore_request_is_read_back_to_its_operation(
    service: str, method: str, params: dict[str, Any], expected_service: str, operation: str
) -> None:
    http_method, path, headers, body = _request_of(service, method, **params)

    assert identify(http_method, path, headers, body) == (
        expected_service,
        operation,
        "ASIAEXAMPLE",
    )


# Requests whose every parameter travels on the wire in a way the double reads back: one per
# protocol the stages use (json, smithy-rpc-v2-cbor, query, rest-json, rest-xml), with lists,
# maps, nested structures, numbers, booleans, headers, query strings and blob payloads.
ROUND_TRIPS = [
    (
        "sagemaker",
        "update_model_package",
        {
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3",
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": {"smgha:gate": "passed", "a=2Cb": "x y"},
        },
    ),
    (
        "cloudwatch",
        "put_metric_alarm",
        {
            "AlarmName": "churn-staging-5xx",
            "MetricName": "Invocation5XXErrors",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Sum",
            "Dimensions": [
                {"Name": "EndpointName", "Value": "churn-staging"},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 0.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": False,
        },
    ),
    (
        "application-autoscaling",
        "register_scalable_target",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/e/variant/v",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 1,
            "MaxCapacity": 4,
        },
    ),
    (
        "sts",
        "assume_role",
        {
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "RoleSessionName": "smgha",
            "DurationSeconds": 900,
            "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}],
            "TransitiveTagKeys": ["k"],
        },
    ),
    (
        "sagemaker-runtime",
        "invoke_endpoint",
        {
            "EndpointName": "churn-staging",
            "Body": b"1,2,3",
            "ContentType": "text/csv",
            "Accept": "text/csv",
        },
    ),
    ("s3", "put_object", {"Bucket": "b", "Key": "k/x.json", "Body": b"{}"}),
    ("s3", "list_objects_v2", {"Bucket": "b", "Prefix": "k/", "MaxKeys": 10}),
    (
        "s3",
        "delete_objects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b/c"}], "Quiet": True}},
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "params"), ROUND_TRIPS, ids=[case[1] for case in ROUND_TRIPS]
)
def test_a_request_is_read_back_to_the_parameters_botocore_sent(
    service: str, method: str, params: dict[str, Any]
) -> None:
    http_method, path, headers, body = _request_of(service, method, **params)
    _, operation, _ = identify(http_method, path, headers, body)

    read = request_params(service, operation, http_method, path, headers, body)

    # botocore adds members of its own (S3 checksums, an idempotency token): what the caller
    # passed must come back exactly.
    assert {name: read.get(name) for name in params} == params


def test_the_unsigned_web_identity_exchange_is_sts() -> None:
    method, path, headers, body = _request_of(
        "sts",
        "assume_role_with_web_identity",
        signed=False,
        RoleArn="arn:aws:iam::123456789012:role/r",
        RoleSessionName="session",
        WebIdentityToken="a.b.c",
    )
    assert "Authorization" not in headers
    assert identify(method, path, headers, body) == ("sts", "AssumeRoleWithWebIdentity", "")


def test_tokens_are_checked_as_sts_would() -> None:
    with TokenIssuer(repository="acme/churn-model") as issuer:
        jwks = issuer.jwks()
        good = issuer.sign(issuer.claims("sts.amazonaws.com"))
        assert check_web_identity(good, jwks) == ""

        wrong_audience = issuer.sign(issuer.claims("api://AzureADTokenExchange"))
        assert "audience" in check_web_identity(wrong_audience, jwks)

        expired = issuer.sign(issuer.claims("sts.amazonaws.com", now=int(time.time()) - 3600))
        assert check_web_identity(expired, jwks) == "Token expired"

        header, claims, signature = good.split(".")
        tampered = (
            f"{header}.{issuer.sign(issuer.claims('sts.amazonaws.com')).split('.')[1]}x.{signature}"
        )
        assert check_web_identity(tampered, jwks) != ""

        with TokenIssuer() as stranger:  # signed by a key the provider does not publish
            foreign = stranger.sign(stranger.claims("sts.amazonaws.com"))
        assert "no key" in check_web_identity(foreign, jwks)

        assert check_web_identity("not-a-jwt", jwks) == "the web identity token is not a JWT"


@pytest.mark.slow
def test_invoke_endpoint_answers_as_the_container_of_the_model_package(tmp_path: Path) -> None:
    """A package in script mode with no script: the container's 500, as a ModelError; the same
    artifact registered without the variables: a prediction. (See smgha/serving_container.py.)"""
    import io
    import tarfile
    import urllib.request

    import numpy as np
    import xgboost
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from tests.e2e.aws_double import Double

    rng = np.random.default_rng(1)
    data = rng.normal(size=(100, 3))
    booster = xgboost.train(
        {"objective": "binary:logistic"}, xgboost.DMatrix(data, label=data[:, 0] > 0), 3
    )
    raw = bytes(booster.save_raw("ubj"))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(archive.getvalue())

    # The double reads moto's records in-process, as its main() runs moto.
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        double = Double(url, "http://127.0.0.1:9/jwks", tmp_path / "calls.jsonl", artifact, [{}])
        double.s3.create_bucket(Bucket="models")
        double.s3.put_object(Bucket="models", Key="m.tar.gz", Body=artifact.read_bytes())
        sagemaker = double.sagemaker
        sagemaker.create_model_package_group(ModelPackageGroupName="churn-models")
        role = "arn:aws:iam::123456789012:role/sagemaker-execution"

        def endpoint_of(name: str, environment: dict[str, str]) -> None:
            package = sagemaker.create_model_package(
                **approved_package_request("churn-models", environment)
            )["ModelPackageArn"]
            sagemaker.create_model(
                ModelName=name,
                PrimaryContainer={"ModelPackageName": package},
                ExecutionRoleArn=role,
            )
            sagemaker.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            )
            sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)

        def invoke(name: str) -> tuple[int, dict[str, str], bytes]:
            headers = HTTPMessage()
            headers["Content-Type"] = "text/csv"
            headers["Accept"] = "text/csv"
            path = f"/endpoints/{name}/invocations"
            return double._sagemaker_runtime_InvokeEndpoint(
                b"0.5,0.1,0.2", headers, "us-east-1", path
            )

        endpoint_of("no-script", {"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": ""})
        endpoint_of("plain", {})

        status, _, body = invoke("no-script")
        assert status == 424
        error = json.loads(body)
        assert error["__type"] == "ModelError" and error["OriginalStatusCode"] == 500
        assert error["message"] == "Received server error from primary"
        assert "ValueError: Empty module name" in error["OriginalMessage"]

        status, headers, body = invoke("plain")
        assert status == 200, body
        expected = float(booster.predict(xgboost.DMatrix(np.array([[0.5, 0.1, 0.2]])))[0])
        assert float(body) == pytest.approx(expected, abs=1e-6)
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        moto.stop()
