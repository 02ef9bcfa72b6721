"""Models, endpoint configs and their variants: small typed values with `to_request()`, and
the reading of live Describe records that deploy-endpoint and enable-monitor share."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from smgha.errors import InputError, shown
from smgha.inputs import InputValues, s3_uri, whole_number
from smgha.resources import serverless
from smgha.resources.names import bounded_sagemaker_name

# DescribeEndpointConfig fields CreateEndpointConfig does not take back.
_DESCRIBE_ONLY = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")


class ModelReader(Protocol):
    def describe_model(self, name: str) -> dict[str, Any] | None: ...


class ConfigExists(Protocol):
    def __call__(self, name: str) -> bool: ...


def digest(document: Any, length: int = 8) -> str:
    """A short hash of a JSON document: the part of a name that changes with its settings."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:length]


def model_request(name: str, package_arn: str, role_arn: str) -> dict[str, Any]:
    """CreateModel of a registered model package version."""
    return {
        "ModelName": name,
        "PrimaryContainer": {"ModelPackageName": package_arn},
        "ExecutionRoleArn": role_arn,
    }


@dataclass(frozen=True)
class DataCapture:
    """Capture `percent` of requests and responses to `destination` (s3://bucket/prefix)."""

    percent: int
    destination: str

    def to_request(self) -> dict[str, Any]:
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": self.percent,
            "DestinationS3Uri": self.destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        }


CAPTURE_WITHOUT_URI = (
    "must be an s3:// URI when data-capture-percent is set, got {uri}",
    "E.g. s3://my-bucket/capture.",
)


def checked_capture(values: InputValues) -> DataCapture | None:
    """deploy-endpoint's data-capture-percent and data-capture-s3-uri: None when not asked."""
    percent, uri = values["data-capture-percent"], values["data-capture-s3-uri"]
    if percent and not uri.startswith("s3://"):
        problem, fix = CAPTURE_WITHOUT_URI
        raise InputError("data-capture-s3-uri", problem.format(uri=shown(uri)), fix)
    if uri:
        s3_uri("data-capture-s3-uri", uri, "s3://my-bucket/capture")
    if not percent:
        return None
    return DataCapture(whole_number("data-capture-percent", percent, 1, 100), uri)


@dataclass(frozen=True)
class InstanceVariant:
    """A production variant on provisioned instances."""

    name: str
    model_name: str
    instance_type: str
    instance_count: int
    weight: float = 1.0

    def to_request(self) -> dict[str, Any]:
        return {
            "VariantName": self.name,
            "ModelName": self.model_name,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": self.instance_count,
            "InitialVariantWeight": self.weight,
        }


@dataclass(frozen=True)
class ServerlessVariant:
    """A production variant on serverless capacity: ProductionVariantServerlessConfig (botocore's
    sagemaker model), and no InstanceType or InitialInstanceCount ("Specifies a serverless
    endpoint configuration instead of an instance-based endpoint configuration", the
    ProductionVariant.ServerlessConfig docs). The ranges are checked where the inputs are read
    (smgha/resources/serverless.py)."""

    name: str
    model_name: str
    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None
    weight: float = 1.0

    def to_request(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "MemorySizeInMB": self.memory_mb,
            "MaxConcurrency": self.max_concurrency,
        }
        if self.provisioned_concurrency is not None:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return {
            "VariantName": self.name,
            "ModelName": self.model_name,
            "ServerlessConfig": config,
            "InitialVariantWeight": self.weight,
        }


def is_serverless(config: dict[str, Any] | None) -> bool:
    """An endpoint config (request or DescribeEndpointConfig) whose variants are serverless."""
    variants = (config or {}).get("ProductionVariants") or []
    return any(variant.get("ServerlessConfig") for variant in variants)


@dataclass(frozen=True)
class EndpointConfig:
    """CreateEndpointConfig's body, without the name (a name is derived from the settings).
    `data_capture` is a DataCapture, or a live DataCaptureConfig record kept as it is."""

    variants: tuple[InstanceVariant | ServerlessVariant, ...]
    data_capture: DataCapture | dict[str, Any] | None = None
    shadow_variants: tuple[dict[str, Any], ...] = ()  # ShadowProductionVariants (shadow.py)
    # AsyncInferenceConfig (smgha/resources/async_inference.py); part of the name's hash.
    async_inference: dict[str, Any] | None = None

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"ProductionVariants": [v.to_request() for v in self.variants]}
        if self.shadow_variants:
            request["ShadowProductionVariants"] = list(self.shadow_variants)
        capture = self.data_capture
        if capture:
            request["DataCaptureConfig"] = (
                capture.to_request() if isinstance(capture, DataCapture) else capture
            )
        if self.async_inference:
            request["AsyncInferenceConfig"] = self.async_inference
        return request


def same_settings(live_config: dict[str, Any], request: dict[str, Any]) -> bool:
    """The live config serves what `request` asks for, instance counts aside (autoscaling's)."""

    def settings(config: dict[str, Any]) -> Any:
        variants = [
            {k: v for k, v in variant.items() if k != "InitialInstanceCount"}
            for variant in config.get("ProductionVariants") or []
        ]
        # A shadow or an AsyncInferenceConfig added, removed or changed is another config
        # (shadow.py, async_inference.py).
        shadows = config.get("ShadowProductionVariants") or []
        queued = config.get("AsyncInferenceConfig")
        return variants, config.get("DataCaptureConfig"), shadows, queued

    return bool(settings(live_config) == settings(request))


def package_of(config: dict[str, Any] | None, hosting: ModelReader) -> str:
    """The model package a live endpoint config serves ('' when unknown)."""
    for variant in (config or {}).get("ProductionVariants") or []:
        model = hosting.describe_model(variant["ModelName"]) or {}
        container = model.get("PrimaryContainer") or {}
        if container.get("ModelPackageName"):
            return str(container["ModelPackageName"])
    return ""


def instance_count(
    live: dict[str, Any] | None,
    variant: str,
    fields: tuple[str, ...] = ("DesiredInstanceCount", "CurrentInstanceCount"),
) -> int | None:
    """The instances a live endpoint's variant has, from the first of `fields` that
    DescribeEndpoint gives (DesiredInstanceCount is what the fleet is moving to); None for a
    serverless or unknown variant."""
    for summary in (live or {}).get("ProductionVariants") or []:
        if summary.get("VariantName") == variant:
            counts = [summary.get(name) for name in fields]
            return next((count for count in counts if isinstance(count, int)), None)
    return None


def with_live_instance_counts(
    variants: list[dict[str, Any]], live: dict[str, Any]
) -> list[dict[str, Any]]:
    """The live config's variants, each InitialInstanceCount set to the count the endpoint
    runs now, so that a config change does not shrink a fleet autoscaling has grown.

    UpdateEndpoint applies the new config's counts: the backend sends
    RetainAllVariantProperties=False ("To use the variant properties specified in a new
    EndpointConfig ... set RetainAllVariantProperties to false", botocore's UpdateEndpoint
    docs). Retaining them instead (True) could also retain the old data capture setting:
    DataCaptureConfig is one of the VariantProperty types, and overriding it through
    ExcludeRetainedVariantProperties is "(Not currently supported.)" (botocore's
    VariantPropertyType docs). So the counts go into the config, as the SageMaker guide's
    "Update endpoints that use automatic scaling" (endpoint-scaling-update.md) says: "For the
    InitialInstanceCount field of each production variant, specify the corresponding value
    of DesiredInstanceCount from the response to the previous call to DescribeEndpoint."
    CurrentInstanceCount stands in where DesiredInstanceCount is missing; serverless
    variants (no InitialInstanceCount) are left as they are.
    """
    result = []
    for variant in variants:
        count = instance_count(live, variant.get("VariantName", ""))
        if "InitialInstanceCount" in variant and count is not None:
            variant = {**variant, "InitialInstanceCount": count}
        result.append(variant)
    return result


def with_data_capture(
    live: dict[str, Any], live_config: dict[str, Any], capture: DataCapture
) -> dict[str, Any]:
    """CreateEndpointConfig of the live config with `capture` on, named after it (the live
    name, "-dc-" and a hash of the body), at the fleet's current size."""
    body = {key: value for key, value in live_config.items() if key not in _DESCRIBE_ONLY}
    if "ProductionVariants" in body:
        body["ProductionVariants"] = with_live_instance_counts(body["ProductionVariants"], live)
    body["DataCaptureConfig"] = capture.to_request()
    name = bounded_sagemaker_name(live["EndpointConfigName"], suffix=f"-dc-{digest(body, 6)}")
    return {"EndpointConfigName": name, **body}


@dataclass(frozen=True)
class CaptureChange:
    """How an endpoint comes to capture its traffic: it already does (`request` None, the
    live config and its destination), or through a new config (the live one with capture)."""

    capture_uri: str
    config_name: str
    request: dict[str, Any] | None
    exists: bool = False  # the new config was made by an earlier run

    @property
    def needed(self) -> bool:
        return self.request is not None


def capture_change(
    live: dict[str, Any], live_config: dict[str, Any], capture: DataCapture, exists: ConfigExists
) -> CaptureChange:
    """Keep a live config that captures (wherever it captures to); else the live config with
    `capture` on. `exists` tells whether a config name is taken already. A serverless
    endpoint cannot capture: InputError (serverless.refuse_capture)."""
    serverless.refuse_capture(live, live_config)
    live_capture = live_config.get("DataCaptureConfig") or {}
    if live_capture.get("EnableCapture"):
        destination = str(live_capture["DestinationS3Uri"])
        return CaptureChange(destination, live["EndpointConfigName"], None)
    request = with_data_capture(live, live_config, capture)
    name = request["EndpointConfigName"]
    return CaptureChange(capture.destination, name, request, exists(name))


def variant_text(variant: dict[str, Any] | None) -> str:
    """A variant of a config (request or Describe record) for a summary: "2 × ml.m5.large",
    "serverless, 2048 MB, 5 concurrent", or "–" when there is none."""
    if not variant:
        return "–"
    serverless = variant.get("ServerlessConfig")
    if serverless:
        provisioned = serverless.get("ProvisionedConcurrency")
        return (
            f"serverless, {serverless.get('MemorySizeInMB', '?')} MB, {serverless.get('MaxConcurrency', '?')} concurrent"
            + (f", {provisioned} provisioned" if provisioned else "")
        )
    return f"{variant.get('InitialInstanceCount', '–')} × {variant.get('InstanceType', '–')}"


def capture_text(config: dict[str, Any] | None) -> str:
    capture = (config or {}).get("DataCaptureConfig") or {}
    if not capture.get("EnableCapture"):
        return "off"
    return f"{capture.get('InitialSamplingPercentage')} % to {capture.get('DestinationS3Uri')}"
