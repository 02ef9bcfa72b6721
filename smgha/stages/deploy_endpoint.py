"""deploy-endpoint: put one exact model package version behind an endpoint, blue/green.

    Inputs (load_inputs)  ->  plan(inputs, hosting, registry)  ->  DeploymentPlan   (reads only)
                                                                   |
                              apply(plan, hosting, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

How an endpoint config is shaped is smgha/resources/hosting.py, how traffic moves and is
awaited smgha/resources/rollout.py, autoscaling smgha/resources/autoscaling.py. The endpoint
config is named after the package version (plus a short hash of its settings), so a second run
with the same inputs finds the endpoint already on it and changes nothing, and a rollback is
the same call with the earlier version's ARN.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from smgha import definition as defn
from smgha import serving_container
from smgha.aws_values import aws_value
from smgha.backends import EndpointBackend, RegistryBackend, backend
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    positive_number,
    s3_uri,
    whole_number,
)
from smgha.resources import autoscaling, hosting, rollout
from smgha.resources.names import alarmed_endpoint_name, bounded_sagemaker_name
from smgha.resources.rollout import BlueGreen
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage

STAGE = "deploy-endpoint"
MAX_INSTANCES = 100  # beyond this SageMaker's default account quota is the first to say no

# Messages users act on.
PACKAGE_ARN_EXAMPLE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/7"
APPROVE_FIRST = "Approve it (register-and-gate), or set allow-unapproved: true."
CANARY_FIX = "Set instance-count (with autoscaling: autoscaling-min-instances) to 2 or more, or strategy: all-at-once."
SCALED_TYPE_CHANGE = "which SageMaker refuses on a scaled variant"

INPUTS = (
    InputSpec(
        "backend",
        "Where the endpoint runs: sagemaker (AWS) or local (a server on this machine).",
        "sagemaker",
    ),
    REGION_INPUT,
    InputSpec(
        "model-package-arn",
        "The exact model package version to deploy (never 'the latest').",
        required=True,
    ),
    InputSpec("endpoint-name", "Endpoint to create or update, e.g. churn-staging.", required=True),
    InputSpec(
        "role-arn", "Execution role of the SageMaker model. Required for the sagemaker backend."
    ),
    InputSpec("instance-type", "Instance type of the production variant.", "ml.m5.large"),
    InputSpec(
        "instance-count",
        "Instances of a new endpoint. A live endpoint keeps its current count (autoscaling's choice).",
        "1",
    ),
    InputSpec("variant-name", "Name of the production variant.", "AllTraffic"),
    # all-at-once by default: a canary needs a fleet of at least two instances (at most half
    # of it may be the canary), and a new endpoint has instance-count 1 unless told otherwise.
    InputSpec(
        "strategy",
        "How traffic moves to the new version: all-at-once, canary or linear (blue/green, with auto-rollback; a canary needs a fleet of at least two instances).",
        "all-at-once",
    ),
    InputSpec(
        "canary-percent", "Canary: share of traffic on the new version during the first wait.", "10"
    ),
    InputSpec("linear-step-percent", "Linear: share of traffic moved at each step.", "25"),
    InputSpec(
        "wait-seconds",
        "Time after each traffic shift during which the alarms are watched before the next one.",
        "300",
    ),
    InputSpec(
        "termination-wait-seconds",
        "Time the old fleet is kept (and the alarms watched) after all traffic moved.",
        "120",
    ),
    InputSpec(
        "alarms",
        "CloudWatch alarm names that roll the update back, one per line. Empty: the stage creates 5XX-error and model-latency alarms for the endpoint.",
    ),
    InputSpec(
        "max-latency-ms",
        "Threshold of the model-latency alarm the stage creates (average over a minute).",
        "1000",
    ),
    InputSpec(
        "autoscaling-min-instances",
        "Turn on target-tracking autoscaling with this minimum (needs autoscaling-max-instances).",
    ),
    InputSpec("autoscaling-max-instances", "Autoscaling maximum."),
    InputSpec(
        "target-invocations-per-instance",
        "Autoscaling target: invocations per instance per minute.",
        "100",
    ),
    InputSpec("scale-in-cooldown-seconds", "Autoscaling scale-in cooldown.", "300"),
    InputSpec("scale-out-cooldown-seconds", "Autoscaling scale-out cooldown.", "60"),
    InputSpec(
        "data-capture-percent",
        "Capture this share of requests and responses (1-100). Empty: keep the live endpoint's setting.",
    ),
    InputSpec(
        "data-capture-s3-uri",
        "Where captured data goes (s3://bucket/prefix); required with data-capture-percent.",
    ),
    InputSpec("allow-unapproved", "Deploy a package that is not Approved.", "false", is_bool=True),
    InputSpec("timeout-minutes", "How long to wait for the endpoint to be InService.", "60"),
    InputSpec(
        "dry-run",
        "Show the endpoint config that would be created and its diff against the live one; change nothing.",
        "false",
        is_bool=True,
    ),
)

OUTPUTS = (
    OutputSpec("endpoint-name", "The endpoint."),
    OutputSpec(
        "endpoint-config-name",
        "The endpoint config now live (the new one, or the old one after a rollback).",
    ),
    OutputSpec("model-package-arn", "The model package deployed."),
    OutputSpec(
        "previous-model-package-arn",
        "The package the endpoint served before ('' for a new endpoint): deploy it to roll back.",
    ),
    OutputSpec(
        "previous-endpoint-config-name", "The endpoint config live before ('' for a new endpoint)."
    ),
    OutputSpec("status", "deployed, unchanged, rolled-back, failed or dry-run."),
)


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    model_package_arn: str
    endpoint_name: str
    role_arn: str
    instance_type: str
    instance_count: int
    variant_name: str
    rollout: BlueGreen
    alarms: tuple[str, ...]  # empty: the stage creates rollout.rollback_alarm_requests
    max_latency_ms: float
    scaling: autoscaling.TargetTracking | None
    data_capture: hosting.DataCapture | None  # None: keep the live endpoint's setting
    allow_unapproved: bool
    dry_run: bool

    @property
    def strategy(self) -> str:
        return self.rollout.strategy

    @property
    def timeout_seconds(self) -> float:
        return self.rollout.timeout_seconds


@dataclass
class DeploymentPlan:
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
    notices: list[str] = field(default_factory=list)  # decisions the user should see
    # The variant's scalable target and its policies, read when autoscaling is asked of a
    # live endpoint (None: not read, or none registered).
    live_scaling: dict[str, Any] | None = None
    scaling_current: bool = False  # live_scaling already has the asked limits and policy
    # The update changes the instance type of an autoscaled variant: SageMaker refuses such an
    # UpdateEndpoint, so apply deregisters the variant first and registers it again after.
    scaling_suspended: bool = False

    @property
    def unchanged(self) -> bool:
        live = self.live or {}
        return (
            live.get("EndpointConfigName") == self.config_name
            and live.get("EndpointStatus") == "InService"
        )


# ---- inputs ---------------------------------------------------------------------------------------


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(runner)
    endpoint = alarmed_endpoint_name("endpoint-name", values["endpoint-name"])
    variant = aws_value("variant-name", values["variant-name"], "sagemaker", "VariantName")
    inputs = Inputs(
        backend=name,
        region=region,
        model_package_arn=_package_arn(values["model-package-arn"]),
        endpoint_name=endpoint,
        role_arn=_role_arn(name, values["role-arn"]),
        instance_type=aws_value(
            "instance-type", values["instance-type"], "sagemaker", "ProductionVariantInstanceType"
        ),
        instance_count=whole_number("instance-count", values["instance-count"], 1, MAX_INSTANCES),
        variant_name=variant,
        rollout=_blue_green(values),
        alarms=tuple(  # once each, by the rule of a rollback alarm's name
            dict.fromkeys(
                aws_value("alarms", alarm, "sagemaker", "AlarmName")
                for alarm in runner.get_multiline_input("alarms")
            )
        ),
        max_latency_ms=positive_number("max-latency-ms", values["max-latency-ms"]),
        scaling=_target_tracking(values, endpoint, variant),
        data_capture=_data_capture(values),
        allow_unapproved=values.flag("allow-unapproved"),
        dry_run=values.flag("dry-run"),
    )
    _check_deployment(inputs)
    return inputs


def _role_arn(backend_name: str, role: str) -> str:
    if backend_name == "sagemaker" and (not role.startswith("arn:") or ":role/" not in role):
        raise InputError(
            "role-arn",
            f"is required with backend: sagemaker and must be an IAM role ARN, got {shown(role)}",
            "Set the SageMaker execution role's ARN.",
        )
    if role:
        return aws_value("role-arn", role, "sagemaker", "RoleArn")
    return "arn:aws:iam::000000000000:role/smgha-local-execution"


def _package_arn(package: str) -> str:
    # The group is a SageMaker name, the version ASCII digits (re.ASCII: \d is Unicode).
    if not re.fullmatch(
        r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/"
        r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/\d+",
        package,
        re.ASCII,
    ):
        raise InputError(
            "model-package-arn",
            f"{shown(package)} is not a versioned model package ARN",
            f"Pass an exact version, e.g. {PACKAGE_ARN_EXAMPLE}.",
        )
    return package


def _blue_green(values: InputValues) -> BlueGreen:
    return BlueGreen(
        strategy=choice("strategy", values["strategy"], rollout.STRATEGIES),
        canary_percent=whole_number(
            "canary-percent",
            values["canary-percent"],
            *rollout.CANARY_PERCENT,
            "SageMaker's canary is a whole percentage of the new fleet, at least 1 and at most half of it.",
        ),
        linear_step_percent=whole_number(
            "linear-step-percent",
            values["linear-step-percent"],
            *rollout.LINEAR_STEP_PERCENT,
            "SageMaker moves a whole percentage of the new fleet at each step, 10 to 50.",
        ),
        wait_seconds=whole_number(
            "wait-seconds", values["wait-seconds"], 0, rollout.MAX_WAIT_SECONDS
        ),
        termination_wait_seconds=whole_number(
            "termination-wait-seconds",
            values["termination-wait-seconds"],
            0,
            rollout.MAX_WAIT_SECONDS,
        ),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
    )


def _target_tracking(
    values: InputValues, endpoint: str, variant: str
) -> autoscaling.TargetTracking | None:
    # The policy's inputs are checked even when autoscaling is off: a bad value is a mistake
    # to show now, not when someone sets the bounds.
    target = positive_number(
        "target-invocations-per-instance", values["target-invocations-per-instance"]
    )
    scale_in = whole_number(
        "scale-in-cooldown-seconds", values["scale-in-cooldown-seconds"], 0, 86400
    )
    scale_out = whole_number(
        "scale-out-cooldown-seconds", values["scale-out-cooldown-seconds"], 0, 86400
    )
    minimum, maximum = values["autoscaling-min-instances"], values["autoscaling-max-instances"]
    if not (minimum or maximum):
        return None
    if not (minimum and maximum):
        missing = "autoscaling-max-instances" if minimum else "autoscaling-min-instances"
        raise InputError(
            missing, "is required when the other autoscaling bound is set", "Set both bounds."
        )
    low = whole_number("autoscaling-min-instances", minimum, 1, MAX_INSTANCES)
    high = whole_number("autoscaling-max-instances", maximum, 1, MAX_INSTANCES)
    if low > high:
        raise InputError(
            "autoscaling-min-instances",
            f"{low} is above autoscaling-max-instances {high}",
            "Make the minimum at most the maximum.",
        )
    return autoscaling.TargetTracking(endpoint, variant, (low, high), target, scale_in, scale_out)


def _data_capture(values: InputValues) -> hosting.DataCapture | None:
    percent, uri = values["data-capture-percent"], values["data-capture-s3-uri"]
    if percent and not uri.startswith("s3://"):
        raise InputError(
            "data-capture-s3-uri",
            f"must be an s3:// URI when data-capture-percent is set, got {shown(uri)}",
            "E.g. s3://my-bucket/capture.",
        )
    if uri:
        s3_uri("data-capture-s3-uri", uri, "s3://my-bucket/capture")
    if not percent:
        return None
    return hosting.DataCapture(whole_number("data-capture-percent", percent, 1, 100), uri)


def _check_deployment(inputs: Inputs) -> None:
    """The blue/green limits that only the service checks, refused before anything is touched."""
    low, high = rollout.DEPLOYMENT_TIMEOUT_SECONDS
    if inputs.timeout_seconds > high:
        raise InputError(
            "timeout-minutes",
            f"must be at most {high // 60}, got {inputs.timeout_seconds / 60:g}: SageMaker stops an update after {low}-{high} s (MaximumExecutionTimeoutInSeconds)",
            f"Set timeout-minutes to at most {high // 60}.",
        )
    waits, terms = inputs.rollout.waits()
    if waits >= high:
        raise InputError(
            "wait-seconds",
            f"the {inputs.strategy} update would wait {terms} = {waits} s, which does not fit in the {high} s SageMaker lets an update run (MaximumExecutionTimeoutInSeconds)",
            "Lower wait-seconds or termination-wait-seconds"
            + (", or raise linear-step-percent." if inputs.strategy == "linear" else "."),
        )
    if inputs.timeout_seconds <= waits:
        raise InputError(
            "timeout-minutes",
            f"must exceed the {waits} s the {inputs.strategy} update waits ({terms}), got {inputs.timeout_seconds / 60:g} minutes",
            f"Set timeout-minutes from {waits // 60 + 1} to {high // 60} (the new fleet's start-up counts too).",
        )
    alarms = len(inputs.alarms or _alarm_requests(inputs))
    if alarms > rollout.MAX_ROLLBACK_ALARMS:
        raise InputError(
            "alarms",
            f"names {alarms} alarms; an update rolls back on at most {rollout.MAX_ROLLBACK_ALARMS} (AutoRollbackConfiguration)",
            f"Name 1 to {rollout.MAX_ROLLBACK_ALARMS} alarms, or none for the stage's own two.",
        )


def _alarm_requests(inputs: Inputs) -> list[dict[str, Any]]:
    return rollout.rollback_alarm_requests(
        inputs.endpoint_name, inputs.variant_name, inputs.max_latency_ms
    )


# ---- plan: read everything, decide names and requests -------------------------------------------


def plan(inputs: Inputs, endpoints: EndpointBackend, registry: RegistryBackend) -> DeploymentPlan:
    package = _approved_package(inputs, registry)
    group, version = package["ModelPackageGroupName"], int(package["ModelPackageVersion"])
    model_name = bounded_sagemaker_name(f"{group}-v{version}")
    model_request = None
    if endpoints.describe_model(model_name) is None:
        model_request = hosting.model_request(model_name, inputs.model_package_arn, inputs.role_arn)

    live = endpoints.describe_endpoint(inputs.endpoint_name)
    live_config = endpoints.describe_endpoint_config(live["EndpointConfigName"]) if live else None
    config_request = _endpoint_config(inputs, model_name, live, live_config).to_request()
    # The instances of the new fleet an update starts (None: a create, no DeploymentConfig).
    fleet = int(config_request["ProductionVariants"][0]["InitialInstanceCount"]) if live else None
    if live_config and hosting.same_settings(live_config, config_request):
        # Already served; only autoscaling's instance count differs: a re-run changes nothing.
        config_name = live_config["EndpointConfigName"]
    else:
        config_name = bounded_sagemaker_name(
            f"{inputs.endpoint_name}-v{version}", suffix=f"-{hosting.digest(config_request)}"
        )
    config_request = {"EndpointConfigName": config_name, **config_request}

    alarm_requests = [] if inputs.alarms else _alarm_requests(inputs)
    alarm_names = list(inputs.alarms) or [a["AlarmName"] for a in alarm_requests]
    live_scaling = None
    type_changes = _instance_type_changes(inputs, live_config)
    if live and (inputs.scaling or type_changes):
        live_scaling = endpoints.describe_scalable_target(
            autoscaling.resource_id(inputs.endpoint_name, inputs.variant_name)
        )
    deployment = DeploymentPlan(
        package=package,
        model_name=model_name,
        model_request=model_request,
        config_name=config_name,
        config_request=config_request,
        config_exists=endpoints.describe_endpoint_config(config_name) is not None,
        live=live,
        live_config=live_config,
        previous_package_arn=hosting.package_of(live_config, endpoints),
        deployment_config=inputs.rollout.to_request(alarm_names, fleet),
        alarm_requests=alarm_requests,
        alarm_names=alarm_names,
        live_scaling=live_scaling,
        scaling_current=bool(inputs.scaling and inputs.scaling.matches(live_scaling)),
    )
    deployment.scaling_suspended = (
        type_changes and live_scaling is not None and not deployment.unchanged
    )
    if live and fleet is not None and not deployment.unchanged:  # UpdateEndpoint will be called
        _check_update(inputs, live, live_config, fleet)
        if inputs.strategy == "canary":
            notice = rollout.canary_size(inputs.rollout.canary_percent, fleet)[1]
            deployment.notices += [notice] if notice else []
    return deployment


def _approved_package(inputs: Inputs, registry: RegistryBackend) -> dict[str, Any]:
    package = registry.describe_model_package(inputs.model_package_arn)
    if package is None:
        raise InputError(
            "model-package-arn",
            f"there is no model package {inputs.model_package_arn}",
            "Check the ARN and the region.",
        )
    status = package.get("ModelApprovalStatus")
    if status != "Approved" and not inputs.allow_unapproved:
        raise InputError(
            "model-package-arn",
            f"{inputs.model_package_arn} is {status}, not Approved",
            APPROVE_FIRST,
        )
    _check_containers(inputs, package)
    return package


def _check_containers(inputs: Inputs, package: dict[str, Any]) -> None:
    """A package whose container cannot pass its health check is refused before any create:
    script mode with no script (smgha/serving_container.py has the container's sources)."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    for number, container in enumerate(containers, 1):
        variables = serving_container.script_mode_without_script(container.get("Environment") or {})
        if variables:
            raise InputError(
                "model-package-arn",
                f"{inputs.model_package_arn} would serve in script mode with no script: its "
                f"container {number} ({container.get('Image', 'no image')}) sets {variables}, "
                f"and {serving_container.EMPTY_PROGRAM_CONSEQUENCE}",
                serving_container.EMPTY_PROGRAM_FIX,
            )


def _check_update(
    inputs: Inputs, live: dict[str, Any], live_config: dict[str, Any] | None, fleet: int
) -> None:
    """What only the live endpoint tells: refused before anything is created or changed."""
    # SageMaker guide, deployment-guardrails-exclusions.md: "When doing a blue/green or rolling
    # deployment, your new endpoint configuration must have the same variant name as the old
    # endpoint configuration." Every update here is blue/green.
    variants = (live_config or live).get("ProductionVariants") or []
    names = [str(v["VariantName"]) for v in variants if v.get("VariantName")]
    if names and inputs.variant_name not in names:
        raise InputError(
            "variant-name",
            f"{inputs.variant_name!r} is not the variant of the live endpoint {inputs.endpoint_name} ({', '.join(names)}); a blue/green update must keep the variant name",
            f"Set variant-name: {names[0]}, or deploy to a new endpoint.",
        )
    if inputs.strategy == "canary" and fleet < rollout.MIN_CANARY_FLEET:
        raise InputError(
            "strategy",
            f"a canary needs a fleet of at least {rollout.MIN_CANARY_FLEET} instances (at least 1 instance, at most half the fleet), and {inputs.endpoint_name}'s new fleet has {fleet}",
            CANARY_FIX,
        )


def _instance_type_changes(inputs: Inputs, live_config: dict[str, Any] | None) -> bool:
    """The live config serves the variant on another instance type than the one asked."""
    return any(
        v.get("VariantName") == inputs.variant_name
        and v.get("InstanceType") != inputs.instance_type
        for v in (live_config or {}).get("ProductionVariants") or []
    )


def _endpoint_config(
    inputs: Inputs, model_name: str, live: dict[str, Any] | None, live_config: dict[str, Any] | None
) -> hosting.EndpointConfig:
    count = inputs.instance_count
    if live and inputs.scaling:
        # Keep the fleet autoscaling chose; never drop to the minimum on a deploy.
        low, high = inputs.scaling.limits
        # CurrentInstanceCount, as deploy-endpoint has always read it; enable-monitor reads
        # DesiredInstanceCount first, as the guide says (hosting.with_live_instance_counts).
        current = hosting.instance_count(live, inputs.variant_name, ("CurrentInstanceCount",))
        count = min(max(current or count, low), high)
    variant = hosting.InstanceVariant(inputs.variant_name, model_name, inputs.instance_type, count)
    # No data-capture input: the live setting is kept across updates.
    capture = inputs.data_capture or (live_config or {}).get("DataCaptureConfig")
    return hosting.EndpointConfig((variant,), capture)


# ---- apply -------------------------------------------------------------------------------------------


def apply(
    inputs: Inputs,
    deployment: DeploymentPlan,
    endpoints: EndpointBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Create what is missing, start the create or update, wait; return the outcome."""
    if deployment.unchanged:
        if inputs.scaling and not deployment.scaling_current:
            log(
                f"{inputs.endpoint_name} already serves {deployment.config_name}; its autoscaling differs"
            )
            inputs.scaling.apply(endpoints, log)
        else:
            log(f"{inputs.endpoint_name} already serves {deployment.config_name}: nothing to do")
        return "unchanged"
    if deployment.model_request:
        endpoints.create_model(deployment.model_request)
        log(f"Created model {deployment.model_name}")
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
            f"the update changes its instance type to {inputs.instance_type}, {SCALED_TYPE_CHANGE}"
        )
        autoscaling.suspend(
            endpoints, inputs.endpoint_name, inputs.variant_name, deployment.live_scaling, log, why
        )
    try:
        final = _start_and_wait(inputs, deployment, endpoints, log, sleep, clock)
    except Exception:
        if suspended:
            _restore_after_failure(inputs, deployment, endpoints, log)
        raise
    if final["EndpointConfigName"] != deployment.config_name:
        if suspended:  # back on the old instance type: the old scaling fits
            _restore(inputs, deployment, endpoints, log, None)
        return "rolled-back"
    if suspended:
        _restore(inputs, deployment, endpoints, log, inputs.scaling)
    elif inputs.scaling:
        inputs.scaling.apply(endpoints, log)
    return "deployed"


def _start_and_wait(
    inputs: Inputs,
    deployment: DeploymentPlan,
    endpoints: EndpointBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """CreateEndpoint or a blue/green UpdateEndpoint, then the wait; the settled record."""
    if deployment.live is None:
        endpoints.create_endpoint(
            inputs.endpoint_name,
            deployment.config_name,
            {"smgha:model-package-arn": inputs.model_package_arn},
        )
        log(f"Creating endpoint {inputs.endpoint_name} on {deployment.config_name}")
    else:
        endpoints.update_endpoint(
            inputs.endpoint_name, deployment.config_name, deployment.deployment_config
        )
        routing = deployment.deployment_config["BlueGreenUpdatePolicy"][
            "TrafficRoutingConfiguration"
        ]
        log(
            f"Updating {inputs.endpoint_name}: {deployment.live['EndpointConfigName']} -> {deployment.config_name} ({routing['Type'].lower().replace('_', '-')})"
        )
    poll = rollout.Polling.steady(float(getattr(endpoints, "poll_seconds", 20.0)))
    settled = rollout.wait_until_settled(
        endpoints, inputs.endpoint_name, inputs.timeout_seconds, poll, log, sleep=sleep, clock=clock
    )
    if settled.timed_out:
        raise StageError(
            "timed out",
            f"{inputs.endpoint_name} is still {settled.status} after {inputs.timeout_seconds / 60:g} minutes; the update goes on, check it before deploying again",
        )
    if settled.status != "InService":
        raise StageError(
            f"endpoint {settled.status}", settled.record.get("FailureReason") or "no reason given"
        )
    return settled.record


def _restore(
    inputs: Inputs,
    deployment: DeploymentPlan,
    endpoints: EndpointBackend,
    log: Callable[[str], None],
    asked: autoscaling.TargetTracking | None,
) -> None:
    autoscaling.restore(
        endpoints, inputs.endpoint_name, inputs.variant_name, deployment.live_scaling, log, asked
    )


def _restore_after_failure(
    inputs: Inputs,
    deployment: DeploymentPlan,
    endpoints: EndpointBackend,
    log: Callable[[str], None],
) -> None:
    """The update failed: give the fleet its scaling back, without hiding why it failed."""
    try:
        _restore(inputs, deployment, endpoints, log, None)
    except StageError as exc:
        live = autoscaling.live_text(inputs.endpoint_name, deployment.live_scaling)
        resource = autoscaling.resource_id(inputs.endpoint_name, inputs.variant_name)
        log(
            f"Could not register autoscaling of {resource} again ({exc}); register it by hand: {live}"
        )


# ---- the edge -----------------------------------------------------------------------------------------


def report(
    inputs: Inputs, deployment: DeploymentPlan, outcome: str, live_config: str, runner: Runner
) -> None:
    runner.set_output("endpoint-name", inputs.endpoint_name)
    runner.set_output("endpoint-config-name", live_config)
    runner.set_output("model-package-arn", inputs.model_package_arn)
    runner.set_output("previous-model-package-arn", deployment.previous_package_arn)
    runner.set_output(
        "previous-endpoint-config-name",
        deployment.live["EndpointConfigName"] if deployment.live else "",
    )
    runner.set_output("status", outcome)
    before = ((deployment.live_config or {}).get("ProductionVariants") or [None])[0]
    after = deployment.config_request["ProductionVariants"][0]
    live_name = (deployment.live or {}).get("EndpointConfigName", "–")
    rows = [
        ["Model package", f"`{deployment.previous_package_arn or '–'}`", f"`{inputs.model_package_arn}`"],
        ["Endpoint config", f"`{live_name}`", f"`{deployment.config_name}`"],
        ["Instances", hosting.variant_text(before), hosting.variant_text(after)],
        ["Data capture", hosting.capture_text(deployment.live_config), hosting.capture_text(deployment.config_request)],
    ]  # fmt: skip
    scaling_changed = False
    if inputs.scaling:
        was = autoscaling.live_text(inputs.endpoint_name, deployment.live_scaling)
        rows.append(["Autoscaling", was if deployment.live else "–", inputs.scaling.text()])
        scaling_changed = outcome == "unchanged" and not deployment.scaling_current
    marks = {
        "deployed": "✅ deployed",
        "unchanged": "➖ unchanged",
        "rolled-back": "↩️ rolled back",
        "dry-run": "🔍 dry run",
        "failed": "❌ failed",
    }
    summary = runner.summary.heading(f"deploy-endpoint: {inputs.endpoint_name}", 3)
    summary.paragraph(
        f"**{marks.get(outcome, outcome)}**"
        + (" · autoscaling updated" if scaling_changed else "")
        + f" · strategy {inputs.strategy} · rollback alarms: {', '.join(deployment.alarm_names) or 'none'}"
    )
    summary.table(["", "Before", "After"], rows)
    if deployment.scaling_suspended:
        summary.paragraph(_suspension_text(inputs, deployment, outcome))
    for notice in deployment.notices:
        summary.paragraph(f"ℹ️ {notice}")
    if deployment.previous_package_arn and outcome == "deployed":
        summary.paragraph(f"Roll back: deploy `{deployment.previous_package_arn}` again.")
    summary.write()


def _suspension_text(inputs: Inputs, deployment: DeploymentPlan, outcome: str) -> str:
    """What became of the variant's autoscaling around an instance-type change."""
    live = autoscaling.live_text(inputs.endpoint_name, deployment.live_scaling)
    resource = autoscaling.resource_id(inputs.endpoint_name, inputs.variant_name)
    what = f"Autoscaling of `{resource}` ({live})"
    why = f"the update changes its instance type to {inputs.instance_type}, {SCALED_TYPE_CHANGE}"
    if outcome == "dry-run":
        return f"{what} will be deregistered for the update ({why}) and registered again after it."
    if outcome == "deployed" and inputs.scaling:
        again = inputs.scaling.text()
        return f"{what} was deregistered for the update ({why}) and registered again: {again}."
    return f"{what} was deregistered for the update ({why}) and registered again as it was."


def _show_dry_run(inputs: Inputs, deployment: DeploymentPlan, runner: Runner) -> None:
    with runner.group(f"Endpoint config {deployment.config_name}"):
        runner.info(defn.canonical_json(deployment.config_request))
    with runner.group("Diff against the live endpoint config"):
        live = {
            k: v
            for k, v in (deployment.live_config or {}).items()
            if k in deployment.config_request
        }
        before = live if deployment.live_config else None
        diff = defn.diff(before, deployment.config_request, inputs.endpoint_name)
        runner.info(diff or "(no changes)")
    live_name = (deployment.live or {}).get("EndpointConfigName", "")
    report(inputs, deployment, "dry-run", live_name, runner)


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = backend(inputs.backend, inputs.region)
        endpoints = cast(EndpointBackend, chosen)
        deployment = plan(inputs, endpoints, chosen)
        for notice in deployment.notices:
            runner.notice(notice, title=f"{STAGE}: canary size")
        if inputs.dry_run:
            _show_dry_run(inputs, deployment, runner)
            return
        outcome = apply(inputs, deployment, endpoints, runner.info)
        record = endpoints.describe_endpoint(inputs.endpoint_name) or {}
        live = record.get("EndpointConfigName", "")
        report(inputs, deployment, outcome, live, runner)
        if outcome == "rolled-back":
            reason = record.get("FailureReason", "no reason given")
            raise StageError(
                "update rolled back", f"{inputs.endpoint_name} stays on {live}: {reason}"
            )

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
