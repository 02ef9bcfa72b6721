"""Hosting on SageMaker: models, endpoint configs, endpoints and their invocation; the
CloudWatch alarms an update rolls back on; Application Auto Scaling of a variant."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from smgha.backends import Invocation, VariantStatistics
from smgha.backends.aws import variant_metrics
from smgha.backends.aws.client import (
    HOSTING_NOUNS,
    AwsClients,
    aws_errors,
    error_code_and_message,
    is_missing_hosting_resource,
    record,
    split_s3_uri,
)

# DescribeAlarms takes at most 100 names per request.
MAX_ALARM_NAMES = 100


class SageMakerHosting:
    """The Hosting area of the `sagemaker` backend."""

    # Seconds between two polls of an endpoint being created or updated (the deploy stage
    # reads it from the hosting it is given). Creating or updating an endpoint takes
    # minutes, so this saves calls without delaying what follows much; set it on an instance
    # to poll at another pace.
    poll_seconds: float = 20.0

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _describe_hosting(
        self, operation: str, resource_type: str, name: str, call: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """`call`'s Describe* record, or None when the resource does not exist."""
        with aws_errors(operation, f"{HOSTING_NOUNS[resource_type]} {name}"):
            try:
                response = call()
            except ClientError as exc:
                if is_missing_hosting_resource(exc, resource_type):
                    return None
                raise
        return record(response)

    def serving_refusal(self, package: dict[str, Any]) -> tuple[str, str] | None:
        """None: SageMaker runs any image the package names (bring your own included); what
        it cannot pull or start, CreateModel and the endpoint's health check report."""
        return None

    def describe_model(self, name: str) -> dict[str, Any] | None:
        """DescribeModel's record, or None when there is no model called `name`."""
        return self._describe_hosting(
            "DescribeModel",
            "model",
            name,
            lambda: self.clients.sagemaker.describe_model(ModelName=name),
        )

    def create_model(self, request: dict[str, Any]) -> None:
        """CreateModel; `request` is the API's request, passed as it is."""
        with aws_errors("CreateModel", f"model {request.get('ModelName', '?')}"):
            self.clients.sagemaker.create_model(**request)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        """DescribeEndpointConfig's record, or None when there is no config called `name`."""
        return self._describe_hosting(
            "DescribeEndpointConfig",
            "endpoint-config",
            name,
            lambda: self.clients.sagemaker.describe_endpoint_config(EndpointConfigName=name),
        )

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        """CreateEndpointConfig; `request` is the API's request, passed as it is."""
        name = request.get("EndpointConfigName", "?")
        with aws_errors("CreateEndpointConfig", f"endpoint configuration {name}"):
            self.clients.sagemaker.create_endpoint_config(**request)

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        """DescribeEndpoint's record (EndpointStatus, EndpointConfigName, ProductionVariants,
        PendingDeploymentSummary during an update, ...), or None when there is no endpoint
        called `name`."""
        return self._describe_hosting(
            "DescribeEndpoint",
            "endpoint",
            name,
            lambda: self.clients.sagemaker.describe_endpoint(EndpointName=name),
        )

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        """CreateEndpoint on `config_name`, tagged with `tags`. Returns at once: the endpoint
        is Creating until describe_endpoint shows it InService (or Failed)."""
        params: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
        if tags:
            params["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        with aws_errors("CreateEndpoint", f"endpoint {name}"):
            self.clients.sagemaker.create_endpoint(**params)

    def delete_endpoint(self, name: str) -> None:
        """DeleteEndpoint; the endpoint config and model stay."""
        with aws_errors("DeleteEndpoint", f"endpoint {name}"):
            self.clients.sagemaker.delete_endpoint(EndpointName=name)

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None:
        """UpdateEndpoint to `config_name`, with `deployment_config` (the API's
        DeploymentConfig: blue/green traffic shifting, auto-rollback alarms) when given.

        The new config's variant properties (instance count, weight) apply:
        RetainAllVariantProperties is False. Returns at once: the endpoint is Updating until
        it is InService on the new config, or back on the old one after a rollback.
        """
        params: dict[str, Any] = {
            "EndpointName": name,
            "EndpointConfigName": config_name,
            "RetainAllVariantProperties": False,
        }
        if deployment_config:
            params["DeploymentConfig"] = deployment_config
        with aws_errors("UpdateEndpoint", f"endpoint {name} to {config_name}"):
            self.clients.sagemaker.update_endpoint(**params)

    def put_metric_alarm(self, request: dict[str, Any]) -> None:
        """PutMetricAlarm (creates the alarm, or replaces the one of that name); `request` is
        the API's request, passed as it is."""
        with aws_errors("PutMetricAlarm", f"alarm {request.get('AlarmName', '?')}"):
            self.clients.cloudwatch.put_metric_alarm(**request)

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]:
        """The metric alarms called `names`, as DescribeAlarms reports them (StateValue,
        Threshold, ...), in the order of `names`; names with no alarm are left out.

        Every page is read, 100 names a request (the API's limit). No names, no call: an
        empty AlarmNames would describe every alarm in the account.
        """
        wanted = list(dict.fromkeys(names))  # once each, in order
        found: dict[str, dict[str, Any]] = {}
        with aws_errors("DescribeAlarms", ", ".join(wanted)):
            paginator = self.clients.cloudwatch.get_paginator("describe_alarms")
            for start in range(0, len(wanted), MAX_ALARM_NAMES):
                chunk = wanted[start : start + MAX_ALARM_NAMES]
                for page in paginator.paginate(AlarmNames=chunk):
                    for alarm in page.get("MetricAlarms", []):
                        found[alarm["AlarmName"]] = alarm
        return [found[name] for name in wanted if name in found]

    def register_scalable_target(self, request: dict[str, Any]) -> None:
        """RegisterScalableTarget (creates the target, or updates its capacities); `request`
        is the API's request, passed as it is."""
        with aws_errors("RegisterScalableTarget", request.get("ResourceId", "?")):
            self.clients.autoscaling.register_scalable_target(**request)

    def put_scaling_policy(self, request: dict[str, Any]) -> str:
        """PutScalingPolicy (creates the policy, or replaces the one of that name on the
        target); `request` is the API's request, passed as it is. Returns its PolicyARN."""
        where = f"policy {request.get('PolicyName', '?')} on {request.get('ResourceId', '?')}"
        with aws_errors("PutScalingPolicy", where):
            response = self.clients.autoscaling.put_scaling_policy(**request)
        return str(response.get("PolicyARN", ""))

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        """DeleteScalingPolicy of the variant's (`endpoint/<endpoint>/variant/<variant>`,
        dimension DesiredInstanceCount) policy `policy_name`."""
        with aws_errors("DeleteScalingPolicy", f"policy {policy_name} on {resource_id}"):
            self.clients.autoscaling.delete_scaling_policy(
                PolicyName=policy_name,
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            )

    def deregister_scalable_target(self, resource_id: str) -> None:
        """DeregisterScalableTarget of the variant (`endpoint/<endpoint>/variant/<variant>`,
        dimension DesiredInstanceCount)."""
        with aws_errors("DeregisterScalableTarget", resource_id):
            self.clients.autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            )

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        """InvokeEndpoint, timed from the request to the response's last byte.

        The model's own answer comes back as an Invocation whatever its status: when the
        container answers with a non-2xx status, SageMaker raises ModelError carrying the
        container's status and message, and those become the Invocation's status and body
        (its content type is then unknown: ''). Anything else that fails (throttling, a
        missing or not yet InService endpoint, access denied) is a StageError.
        """
        started = time.perf_counter()
        with aws_errors("InvokeEndpoint", f"endpoint {name}"):
            try:
                response = self.clients.runtime.invoke_endpoint(
                    EndpointName=name, Body=body, ContentType=content_type, Accept=accept
                )
                payload = response["Body"].read()
            except ClientError as exc:
                if error_code_and_message(exc)[0] != "ModelError":
                    raise
                return _model_error_invocation(exc, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return Invocation(
            status=int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)),
            body=payload,
            content_type=response.get("ContentType") or "",
            variant=response.get("InvokedProductionVariant") or "",
            seconds=seconds,
        )

    def variant_statistics(
        self, endpoint: str, variants: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, VariantStatistics]:
        return variant_metrics.variant_statistics(self.clients, endpoint, variants, start, end)

    def invoke_endpoint_async(
        self, name: str, input_location: str, content_type: str, accept: str = "text/csv"
    ) -> dict[str, Any]:
        """InvokeEndpointAsync (sagemaker-runtime): the request is queued, its response names
        the InferenceId and where the answer will be (OutputLocation, FailureLocation)."""
        with aws_errors("InvokeEndpointAsync", f"endpoint {name}"):
            response = self.clients.runtime.invoke_endpoint_async(
                EndpointName=name,
                InputLocation=input_location,
                ContentType=content_type,
                Accept=accept,
            )
        return {
            k: response.get(k, "") for k in ("InferenceId", "OutputLocation", "FailureLocation")
        }

    def async_result(self, name: str, submitted: dict[str, Any]) -> Invocation | None:
        """GetObject of the output location, then of the failure location; None while neither
        exists (NoSuchKey), as the SageMaker Python SDK reads them ("Inference could still be
        running", aws/sagemaker-python-sdk src/sagemaker/async_inference/
        async_inference_response.py). The object's ContentType is taken as the response's:
        that SDK hands the GetObject response to Predictor._handle_response, which
        deserializes by its ContentType (not stated by the guide). A failure object holds
        SageMaker's message; its status is the first "(NNN)" in it, else 500 (the message's
        form is not documented: the stricter reading, a failure is never a 200)."""
        for key in ("OutputLocation", "FailureLocation"):
            uri = str(submitted.get(key) or "")
            found = self._object_if_exists(uri) if uri else None
            if found is None:
                continue
            body, content_type = found
            status = 200
            if key == "FailureLocation":
                code = re.search(r"\((\d{3})\)", body.decode("utf-8", "replace"))
                status = int(code[1]) if code and code[1] != "200" else 500
            return Invocation(status, body, content_type, "", 0.0)
        return None

    def _object_if_exists(self, uri: str) -> tuple[bytes, str] | None:
        bucket, key = split_s3_uri(uri)
        with aws_errors("GetObject", uri):
            try:
                response = self.clients.s3.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if error_code_and_message(exc)[0] in ("NoSuchKey", "404"):
                    return None
                raise
            return response["Body"].read(), str(response.get("ContentType") or "")

    def describe_scalable_target(
        self, resource_id: str, dimension: str = "sagemaker:variant:DesiredInstanceCount"
    ) -> dict[str, Any] | None:
        """The variant's scalable target (`endpoint/<endpoint>/variant/<variant>`, of
        `dimension`: DesiredInstanceCount, or a serverless variant's
        DesiredProvisionedConcurrency) as DescribeScalableTargets reports it, with its scaling
        policies by name under "Policies" (DescribeScalingPolicies records), the shape the
        local backend keeps; None when the variant is not registered."""
        where = {"ServiceNamespace": "sagemaker", "ScalableDimension": dimension}
        with aws_errors("DescribeScalableTargets", resource_id):
            pages = self.clients.autoscaling.get_paginator("describe_scalable_targets").paginate(
                **where, ResourceIds=[resource_id]
            )
            targets = [t for page in pages for t in page.get("ScalableTargets", [])]
        if not targets:
            return None
        with aws_errors("DescribeScalingPolicies", resource_id):
            pages = self.clients.autoscaling.get_paginator("describe_scaling_policies").paginate(
                **where, ResourceId=resource_id
            )
            policies = {
                p["PolicyName"]: p for page in pages for p in page.get("ScalingPolicies", [])
            }
        return {**targets[0], "Policies": policies}


def _model_error_invocation(exc: ClientError, seconds: float) -> Invocation:
    """The Invocation a ModelError reports: the container's status (OriginalStatusCode) and
    message (OriginalMessage). botocore puts these modelled fields at the top of the error
    response, beside "Error"."""
    response = exc.response
    metadata = response.get("ResponseMetadata", {})
    status = response.get("OriginalStatusCode") or metadata.get("HTTPStatusCode") or 424
    message = response.get("OriginalMessage")
    if message is None:
        message = response.get("Error", {}).get("Message", "")
    headers = metadata.get("HTTPHeaders", {})
    return Invocation(
        status=int(status),
        body=str(message).encode("utf-8"),
        content_type="",
        variant=headers.get("x-amzn-invoked-production-variant", ""),
        seconds=seconds,
    )
