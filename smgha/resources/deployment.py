"""Putting one model package version behind an endpoint: read what is live, decide the model,
the endpoint config and the blue/green update (plan), then create, update, wait and keep the
variant's autoscaling right around it (apply). deploy-endpoint is this plus its inputs and
summary; a rollback is the same plan with the earlier version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smgha.backends import Hosting
from smgha.errors import InputError, StageError
from smgha.resources import (
    async_inference,
    autoscaling,
    hosting,
    packages,
    rollout,
    serverless,
    shadow,
    step_analysis,
)
from smgha.resources.names import bounded_sagemaker_name


@dataclass(frozen=True)
class Target:
    """What is asked: a package version on an endpoint's variant, how traffic moves to it, what
    rolls it back, what scales it and what it captures."""

    endpoint: str
    variant: str
    package_arn: str
    role_arn: str
    instance_type: str
    instance_count: int
    blue_green: rollout.BlueGreen
    alarms: tuple[str, ...]  # empty: rollback_alarm_requests are created
    max_latency_ms: float
    scaling: autoscaling.TargetTracking | None
    data_capture: hosting.DataCapture | None  # None: keep the live endpoint's setting
    serverless: serverless.Settings | None = None  # None: on instances
    analysis: step_analysis.Settings | None = None  # None: no analysis between traffic steps
    shadow: shadow.Settings | None = None  # None: no shadow variant
    async_inference: async_inference.Settings | None = None  # None: real-time

    def alarm_requests(self) -> list[dict[str, Any]]:
        """The alarms to create: none when the user names their own."""
        if self.alarms:
            return []
        return rollout.rollback_alarm_requests(self.endpoint, self.variant, self.max_latency_ms)


@dataclass
class Deployment:
    target: Target
    package: dict[str, Any]
    model_name: str
    model_request: dict[str, Any] | None  # None: the model exists
    config_name: str
    config_request: dict[str, Any]
    config_exists: bool
    live: dict[str, Any] | None  # DescribeEndpoint of the live endpoint
    live_config: dict[str, Any] | None
    previous_package_arn: str
    deployment_config: dict[str, Any]
    alarm_requests: list[dict[str, Any]]
    alarm_names: list[str]
    fleet: int | None = None  # instances of the new fleet an update starts; None: a create
    notices: list[str] = field(default_factory=list)  # decisions the user should see
    # The variant's scalable target and its policies, read when autoscaling is asked of a
    # live endpoint (None: not read, or none registered).
    live_scaling: dict[str, Any] | None = None
    scaling_current: bool = False  # live_scaling already has the asked limits and policy
    # The update changes the instance type of an autoscaled variant: SageMaker refuses such an
    # UpdateEndpoint, so apply deregisters the variant first and registers it again after.
    scaling_suspended: bool = False
    shadow_model_request: dict[str, Any] | None = None  # None: no shadow, or its model exists

    @property
    def unchanged(self) -> bool:
        live = self.live or {}
        return (
            live.get("EndpointConfigName") == self.config_name
            and live.get("EndpointStatus") == "InService"
        )

    @property
    def updates(self) -> bool:
        """UpdateEndpoint will be called (a live endpoint moves to another config)."""
        return self.live is not None and not self.unchanged


# What plan() refuses (the errors name deploy-endpoint's inputs these settings come from).
CANARY_FIX = "Set instance-count (with autoscaling: autoscaling-min-instances) to 2 or more, or strategy: all-at-once."


# ---- plan: read everything, decide names and requests -------------------------------------------


def plan(target: Target, endpoints: Hosting, package: dict[str, Any]) -> Deployment:
    """Read the live endpoint and decide every request; creates nothing."""
    version = int(package["ModelPackageVersion"])
    model_name = packages.model_name(package)
    model_request = None
    if endpoints.describe_model(model_name) is None:
        model_request = hosting.model_request(model_name, target.package_arn, target.role_arn)

    live = endpoints.describe_endpoint(target.endpoint)
    live_config = endpoints.describe_endpoint_config(live["EndpointConfigName"]) if live else None
    config_request = _endpoint_config(target, model_name, live, live_config).to_request()
    # The new fleet's instances (None: a create, or serverless capacity, which has none).
    count = config_request["ProductionVariants"][0].get("InitialInstanceCount")
    fleet = int(count) if live and count is not None else None
    if live_config and _same_settings(target, live_config, config_request):
        # Already served; only autoscaling's capacity differs: a re-run changes nothing.
        config_name = live_config["EndpointConfigName"]
    else:
        config_name = bounded_sagemaker_name(
            f"{target.endpoint}-v{version}", suffix=f"-{hosting.digest(config_request)}"
        )
    alarm_requests = target.alarm_requests()
    alarm_names = list(target.alarms) or [a["AlarmName"] for a in alarm_requests]
    if live:  # the step checks as alarms on SageMaker (none on local: its deployer runs them)
        configs, wait = (live["EndpointConfigName"], config_name), target.blue_green.wait_seconds
        checks = step_analysis.alarm_requests(target.analysis, target.endpoint, target.variant, configs, wait)  # fmt: skip
        alarm_requests, alarm_names = alarm_requests + checks, alarm_names + [a["AlarmName"] for a in checks]  # fmt: skip
    type_changes = _instance_type_changes(target, live_config)
    live_scaling = None
    if live and (target.scaling or type_changes):
        resource = autoscaling.resource_id(target.endpoint, target.variant)
        dimension = target.scaling.dimension if target.scaling else autoscaling.SCALABLE_DIMENSION
        live_scaling = endpoints.describe_scalable_target(resource, dimension)
    deployment = Deployment(
        target=target,
        package=package,
        model_name=model_name,
        model_request=model_request,
        config_name=config_name,
        config_request={"EndpointConfigName": config_name, **config_request},
        config_exists=endpoints.describe_endpoint_config(config_name) is not None,
        live=live,
        live_config=live_config,
        previous_package_arn=hosting.package_of(live_config, endpoints),
        deployment_config={
            **target.blue_green.to_request(alarm_names, fleet),
            **step_analysis.deployer_request(target.analysis),
        },
        alarm_requests=alarm_requests,
        alarm_names=alarm_names,
        fleet=fleet,
        live_scaling=live_scaling,
        scaling_current=bool(target.scaling and target.scaling.matches(live_scaling)),
    )
    deployment.scaling_suspended = type_changes and live_scaling is not None and deployment.updates
    if target.shadow:
        arn = target.shadow.package_arn
        if endpoints.describe_model(shadow.model_name(arn)) is None:
            request = hosting.model_request(shadow.model_name(arn), arn, target.role_arn)
            deployment.shadow_model_request = request
    if deployment.updates:
        _check_update(target, live or {}, live_config, fleet)
        notice = serverless.to_instances_notice(
            target.endpoint, live_config, bool(target.serverless)
        )
        deployment.notices += [notice] if notice else []
    if deployment.updates and target.blue_green.strategy == "canary":
        notice = rollout.canary_size(target.blue_green.canary_percent, fleet)[1]
        deployment.notices += [notice] if notice else []
    return deployment


def _same_settings(target: Target, live_config: dict[str, Any], request: dict[str, Any]) -> bool:
    """The live config serves what is asked, the capacity autoscaling sets aside (instance
    counts; a scaled serverless variant's Provisioned Concurrency)."""
    if target.serverless and target.scaling:
        live_config = serverless.without_provisioned_concurrency(live_config)
        request = serverless.without_provisioned_concurrency(request)
    return hosting.same_settings(live_config, request)


def _instance_type_changes(target: Target, live_config: dict[str, Any] | None) -> bool:
    """The live config serves the variant on another instance type than the one asked (a
    serverless variant, asked or live, has no instance type to change)."""
    return not target.serverless and any(
        v.get("VariantName") == target.variant
        and "InstanceType" in v
        and v.get("InstanceType") != target.instance_type
        for v in (live_config or {}).get("ProductionVariants") or []
    )


def _endpoint_config(
    target: Target, model_name: str, live: dict[str, Any] | None, live_config: dict[str, Any] | None
) -> hosting.EndpointConfig:
    if target.serverless:  # no capture: SageMaker's serverless feature exclusions
        settings = target.serverless
        warm = settings.provisioned_concurrency
        if live and target.scaling:
            # Keep the Provisioned Concurrency autoscaling chose, as a fleet's instances are.
            low, high = target.scaling.limits
            current = serverless.live_provisioned_concurrency(live, target.variant)
            warm = min(max(current or warm or low, low), high)
        return hosting.EndpointConfig((
            hosting.ServerlessVariant(
                target.variant, model_name, settings.memory_mb, settings.max_concurrency, warm
            ),
        ))  # fmt: skip
    count = target.instance_count
    if live and target.scaling:
        # Keep the fleet autoscaling chose; never drop to the minimum on a deploy.
        # CurrentInstanceCount, as deploy-endpoint has always read it (enable-monitor reads
        # DesiredInstanceCount first, as the guide says: hosting.with_live_instance_counts).
        low, high = target.scaling.limits
        current = hosting.instance_count(live, target.variant, ("CurrentInstanceCount",))
        count = min(max(current or count, low), high)
    variant = hosting.InstanceVariant(target.variant, model_name, target.instance_type, count)
    # No data-capture input: the live setting is kept across updates.
    capture = target.data_capture or (live_config or {}).get("DataCaptureConfig")
    shadows = (target.instance_type, count)
    shadow_variants = (shadow.variant_request(target.shadow, *shadows),) if target.shadow else ()
    queued = target.async_inference.to_request() if target.async_inference else None
    return hosting.EndpointConfig((variant,), None if queued else capture, shadow_variants, queued)


def _check_update(
    target: Target, live: dict[str, Any], live_config: dict[str, Any] | None, fleet: int | None
) -> None:
    """What only the live endpoint tells: refused before anything is created or changed."""
    # SageMaker guide, deployment-guardrails-exclusions.md: "When doing a blue/green or rolling
    # deployment, your new endpoint configuration must have the same variant name as the old
    # endpoint configuration." Every update here is blue/green.
    variants = (live_config or live).get("ProductionVariants") or []
    names = [str(v["VariantName"]) for v in variants if v.get("VariantName")]
    if names and target.variant not in names:
        raise InputError(
            "variant-name",
            f"{target.variant!r} is not the variant of the live endpoint {target.endpoint} ({', '.join(names)}); a blue/green update must keep the variant name",
            f"Set variant-name: {names[0]}, or deploy to a new endpoint.",
        )
    serverless.refuse_switch_to_serverless(target.endpoint, live_config, bool(target.serverless))
    if (
        target.blue_green.strategy == "canary"
        and fleet is not None
        and fleet < rollout.MIN_CANARY_FLEET
    ):
        raise InputError(
            "strategy",
            f"a canary needs a fleet of at least {rollout.MIN_CANARY_FLEET} instances (at least 1 instance, at most half the fleet), and {target.endpoint}'s new fleet has {fleet}",
            CANARY_FIX,
        )


# ---- apply -------------------------------------------------------------------------------------------

SCALED_TYPE_CHANGE = "which SageMaker refuses on a scaled variant"


def apply(
    deployment: Deployment,
    endpoints: Hosting,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Create what is missing, start the create or update, wait; return the outcome:
    unchanged, deployed or rolled-back (a failure raises StageError)."""
    target = deployment.target
    if deployment.unchanged:
        if target.scaling and not deployment.scaling_current:
            log(
                f"{target.endpoint} already serves {deployment.config_name}; its autoscaling differs"
            )
            target.scaling.apply(endpoints, log)
        else:
            log(f"{target.endpoint} already serves {deployment.config_name}: nothing to do")
        return "unchanged"
    for request in (deployment.model_request, deployment.shadow_model_request):
        if request:
            endpoints.create_model(request)
            log(f"Created model {request['ModelName']}")
    if not deployment.config_exists:
        endpoints.create_endpoint_config(deployment.config_request)
        log(f"Created endpoint config {deployment.config_name}")
    for alarm in deployment.alarm_requests:
        endpoints.put_metric_alarm(alarm)
    if deployment.alarm_requests:
        log(f"Rollback alarms: {', '.join(deployment.alarm_names)}")
    suspended = deployment.scaling_suspended
    if suspended:
        why = (
            f"the update changes its instance type to {target.instance_type}, {SCALED_TYPE_CHANGE}"
        )
        autoscaling.suspend(
            endpoints, target.endpoint, target.variant, deployment.live_scaling, log, why
        )
    try:
        final = _start_and_wait(deployment, endpoints, log, sleep, clock)
    except Exception:
        if suspended:
            _restore_after_failure(deployment, endpoints, log)
        raise
    if final["EndpointConfigName"] != deployment.config_name:
        if suspended:  # back on the old instance type: the old scaling fits
            _restore(deployment, endpoints, log, None)
        return "rolled-back"
    if suspended:
        _restore(deployment, endpoints, log, target.scaling)
    elif target.scaling:
        target.scaling.apply(endpoints, log)
    return "deployed"


def _start_and_wait(
    deployment: Deployment,
    endpoints: Hosting,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """CreateEndpoint or a blue/green UpdateEndpoint, then the wait; the settled record."""
    target = deployment.target
    if deployment.live is None:
        tags = {"smgha:model-package-arn": target.package_arn}
        endpoints.create_endpoint(target.endpoint, deployment.config_name, tags)
        log(f"Creating endpoint {target.endpoint} on {deployment.config_name}")
    else:
        endpoints.update_endpoint(
            target.endpoint, deployment.config_name, deployment.deployment_config
        )
        policy = deployment.deployment_config["BlueGreenUpdatePolicy"]
        kind = policy["TrafficRoutingConfiguration"]["Type"].lower().replace("_", "-")
        log(
            f"Updating {target.endpoint}: {deployment.live['EndpointConfigName']} -> {deployment.config_name} ({kind})"
        )
    timeout = target.blue_green.timeout_seconds
    settled = rollout.wait_until_settled(
        endpoints,
        target.endpoint,
        timeout,
        rollout.Polling.steady(endpoints.poll_seconds),
        log,
        sleep=sleep,
        clock=clock,
    )
    if settled.timed_out:
        raise StageError(
            "timed out",
            f"{target.endpoint} is still {settled.status} after {timeout / 60:g} minutes; the update goes on, check it before deploying again",
        )
    if settled.status != "InService":
        raise StageError(
            f"endpoint {settled.status}", settled.record.get("FailureReason") or "no reason given"
        )
    return settled.record


def _restore(
    deployment: Deployment,
    endpoints: Hosting,
    log: Callable[[str], None],
    asked: autoscaling.TargetTracking | None,
) -> None:
    target = deployment.target
    autoscaling.restore(
        endpoints, target.endpoint, target.variant, deployment.live_scaling, log, asked
    )


def _restore_after_failure(
    deployment: Deployment, endpoints: Hosting, log: Callable[[str], None]
) -> None:
    """The update failed: give the fleet its scaling back, without hiding why it failed."""
    try:
        _restore(deployment, endpoints, log, None)
    except StageError as exc:
        target = deployment.target
        live = autoscaling.live_text(target.endpoint, deployment.live_scaling)
        resource = autoscaling.resource_id(target.endpoint, target.variant)
        log(
            f"Could not register autoscaling of {resource} again ({exc}); register it by hand: {live}"
        )


def suspension_text(deployment: Deployment, outcome: str) -> str:
    """What became of the variant's autoscaling around an instance-type change."""
    target = deployment.target
    live = autoscaling.live_text(target.endpoint, deployment.live_scaling)
    resource = autoscaling.resource_id(target.endpoint, target.variant)
    what = f"Autoscaling of `{resource}` ({live})"
    why = f"the update changes its instance type to {target.instance_type}, {SCALED_TYPE_CHANGE}"
    if outcome == "dry-run":
        return f"{what} will be deregistered for the update ({why}) and registered again after it."
    if outcome == "deployed" and target.scaling:
        again = target.scaling.text()
        return f"{what} was deregistered for the update ({why}) and registered again: {again}."
    return f"{what} was deregistered for the update ({why}) and registered again as it was."
