"""The AWS double's request reading and token checks (tests/e2e/aws_double.py).

The least-privilege test trusts the double's record of which operation each request was:
here real botocore requests (built and signed by boto3, caught before they are sent) are
read back to their service and operation, for every protocol the stages use.
"""

from __future__ import annotations

import time
from http.client import HTTPMessage
from typing import Any

import boto3
import pytest

from tests.e2e.aws_double import check_web_identity, identify
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
