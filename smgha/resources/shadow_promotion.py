"""An endpoint's shadow as shadow-test finds it (its variants, packages and capture), and the
promotion of the shadow: its package becomes the production variant, with no shadow left.

The promotion is deploy-endpoint's blue/green update (deployment.plan and apply) from the
live config, so it keeps what deploy-endpoint keeps: the production variant's name (a
blue/green update must keep it, deployment._check_update), its instance type and count, the
live data capture; the traffic moves all at once (shadow.py: no shifting beside a shadow)
and the rollback alarms deploy-endpoint creates watch it. SageMaker's own shadow test ends in
the same state ("After you promote a shadow variant, it responds to all incoming requests",
https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-complete.html).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha.backends import Backend, Hosting
from smgha.errors import InputError, StageError
from smgha.resources import deployment, hosting, rollout, shadow

NO_SHADOW_FIX = (
    "Deploy one first: deploy-endpoint with shadow-model-package-arn (and data capture)."
)


@dataclass(frozen=True)
class LiveShadow:
    endpoint: str
    record: dict[str, Any]  # DescribeEndpoint
    config: dict[str, Any]  # DescribeEndpointConfig of the live config
    production: str  # the variants' names
    shadow: str
    production_package_arn: str
    shadow_package_arn: str
    shadow_role_arn: str  # the shadow model's execution role: the promoted model's
    capture_uri: str  # DataCaptureConfig.DestinationS3Uri


def live_shadow(endpoints: Hosting, endpoint: str) -> LiveShadow:
    """The endpoint's production and shadow variants; InputError('endpoint-name') when it is
    not InService with a shadow and data capture."""
    record = endpoints.describe_endpoint(endpoint)
    if record is None or record.get("EndpointStatus") != "InService":
        status = record.get("EndpointStatus") if record else "missing"
        raise InputError(
            "endpoint-name", f"endpoint {endpoint} is {status}, not InService", NO_SHADOW_FIX
        )
    config = endpoints.describe_endpoint_config(record["EndpointConfigName"]) or {}
    variant = shadow.shadow_of(config)
    if variant is None:
        raise InputError(
            "endpoint-name",
            f"{endpoint} ({record['EndpointConfigName']}) has no shadow variant",
            NO_SHADOW_FIX,
        )
    capture = config.get("DataCaptureConfig") or {}
    if not capture.get("EnableCapture") or not capture.get("DestinationS3Uri"):
        raise InputError(
            "endpoint-name",
            f"{endpoint} does not capture its data: the shadow's answers are only in data capture",
            "Deploy it with data-capture-percent and data-capture-s3-uri beside shadow-model-package-arn.",
        )
    production = config["ProductionVariants"][0]
    shadow_model = endpoints.describe_model(variant["ModelName"]) or {}
    return LiveShadow(
        endpoint=endpoint,
        record=record,
        config=config,
        production=str(production["VariantName"]),
        shadow=str(variant["VariantName"]),
        production_package_arn=hosting.package_of({"ProductionVariants": [production]}, endpoints),
        shadow_package_arn=hosting.package_of({"ProductionVariants": [variant]}, endpoints),
        shadow_role_arn=str(shadow_model.get("ExecutionRoleArn", "")),
        capture_uri=str(capture["DestinationS3Uri"]),
    )


def promotion_target(
    live: LiveShadow, wait_seconds: int, max_latency_ms: float
) -> deployment.Target:
    """The shadow's package on the production variant, on production's instances."""
    production = live.config["ProductionVariants"][0]
    count = hosting.instance_count(live.record, live.production)
    return deployment.Target(
        endpoint=live.endpoint,
        variant=live.production,
        package_arn=live.shadow_package_arn,
        role_arn=live.shadow_role_arn,
        instance_type=str(production["InstanceType"]),
        instance_count=count or int(production.get("InitialInstanceCount", 1)),
        # An hour for the new fleet to come up, as deploy-endpoint's default, plus the wait.
        blue_green=rollout.BlueGreen(
            wait_seconds=wait_seconds, timeout_seconds=3600 + wait_seconds
        ),
        alarms=(),  # deploy-endpoint's 5XX-error and model-latency rollback alarms
        max_latency_ms=max_latency_ms,
        scaling=None,
        data_capture=None,  # the live capture is kept
    )


def promote(
    chosen: Backend,
    live: LiveShadow,
    wait_seconds: int,
    max_latency_ms: float,
    log: Callable[[str], None],
) -> str:
    """Deploy the shadow's package as the production variant: deployed, unchanged or
    rolled-back (a failure raises StageError)."""
    package = chosen.registry.describe_model_package(live.shadow_package_arn)
    if package is None:
        raise StageError("cannot promote", f"there is no model package {live.shadow_package_arn}")
    target = promotion_target(live, wait_seconds, max_latency_ms)
    target.blue_green.check_limits(len(target.alarm_requests()))
    planned = deployment.plan(target, chosen.hosting, package)
    return deployment.apply(planned, chosen.hosting, log)
