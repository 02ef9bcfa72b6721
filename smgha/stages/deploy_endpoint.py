"""deploy-endpoint: put one exact model package version behind an endpoint, blue/green.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  DeploymentPlan   (reads only)
                                                         |
                              apply(plan, backend, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

The endpoint config is named after the package version (plus a short hash of its settings),
so a second run with the same inputs finds the endpoint already on it and changes nothing,
and a rollback is the same call with the earlier version's ARN.
"""

from __future__ import annotations

import hashlib
import json
import math
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
    backend_and_region,
    choice,
    positive_number,
    s3_uri,
    whole_number,
)
from smgha.progress import Waiting
from smgha.resources.names import alarmed_endpoint_name, bounded_sagemaker_name
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage

STAGE = "deploy-endpoint"
STRATEGIES = ("all-at-once", "canary", "linear")
MAX_INSTANCES = 100  # beyond this SageMaker's default account quota is the first to say no

# Limits of a blue/green update that only the service enforces (botocore checks some minimums
# at most), checked before anything is created. Sources: the botocore `sagemaker` model's
# shapes named here, and the SageMaker Developer Guide page named.
# CapacitySizeValue min 1; TrafficRoutingConfig.CanarySize: "must be less than or equal to 50%
# of the variant's total instance count".
CANARY_PERCENT = (1, 50)
# TrafficRoutingConfig.LinearStepSize: "must be 10-50% of the variant's total instance count".
LINEAR_STEP_PERCENT = (10, 50)
# MaximumExecutionTimeoutInSeconds min 600, max 28800; "should be larger than the total
# waiting time specified in TerminationWaitInSeconds and WaitIntervalInSeconds".
DEPLOYMENT_TIMEOUT_SECONDS = (600, 28_800)
# WaitIntervalInSeconds and TerminationWaitInSeconds: 0-3600.
MAX_WAIT_SECONDS = 3600
# AlarmList (AutoRollbackConfig.Alarms) max 10.
MAX_ROLLBACK_ALARMS = 10
# A canary is at least one instance (CapacitySizeValue min 1) and at most half the new fleet
# (CanarySize above), so the fleet needs two instances. See _canary_size for the rounding.
MIN_CANARY_FLEET = 2

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
    strategy: str
    canary_percent: int
    linear_step_percent: int
    wait_seconds: int
    termination_wait_seconds: int
    alarms: tuple[str, ...]
    max_latency_ms: float
    autoscaling: tuple[int, int] | None
    target_invocations: float
    scale_in_cooldown: int
    scale_out_cooldown: int
    data_capture_percent: int | None
    data_capture_uri: str
    allow_unapproved: bool
    timeout_seconds: float
    dry_run: bool


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


def load_inputs(runner: Runner) -> Inputs:
    name, region = backend_and_region(runner)
    role = runner.get_input("role-arn")
    if name == "sagemaker" and (not role.startswith("arn:") or ":role/" not in role):
        raise InputError(
            "role-arn",
            f"is required with backend: sagemaker and must be an IAM role ARN, got {shown(role)}",
            "Set the SageMaker execution role's ARN.",
        )
    if role:
        aws_value("role-arn", role, "sagemaker", "RoleArn")
    endpoint = alarmed_endpoint_name(
        "endpoint-name", runner.get_input("endpoint-name", required=True)
    )
    package = runner.get_input("model-package-arn", required=True)
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
            "Pass an exact version, e.g. arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/7.",
        )
    minimum, maximum = (
        runner.get_input("autoscaling-min-instances"),
        runner.get_input("autoscaling-max-instances"),
    )
    autoscaling = None
    if minimum or maximum:
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
        autoscaling = (low, high)
    capture = runner.get_input("data-capture-percent")
    capture_uri = runner.get_input("data-capture-s3-uri")
    if capture and not capture_uri.startswith("s3://"):
        raise InputError(
            "data-capture-s3-uri",
            f"must be an s3:// URI when data-capture-percent is set, got {shown(capture_uri)}",
            "E.g. s3://my-bucket/capture.",
        )
    if capture_uri:
        s3_uri("data-capture-s3-uri", capture_uri, "s3://my-bucket/capture")
    inputs = Inputs(
        backend=name,
        region=region,
        model_package_arn=package,
        endpoint_name=endpoint,
        role_arn=role or "arn:aws:iam::000000000000:role/smgha-local-execution",
        instance_type=aws_value(
            "instance-type",
            runner.get_input("instance-type") or "ml.m5.large",
            "sagemaker",
            "ProductionVariantInstanceType",
        ),
        instance_count=whole_number(
            "instance-count", runner.get_input("instance-count") or "1", 1, MAX_INSTANCES
        ),
        variant_name=aws_value(
            "variant-name",
            runner.get_input("variant-name") or "AllTraffic",
            "sagemaker",
            "VariantName",
        ),
        strategy=choice("strategy", runner.get_input("strategy") or "all-at-once", STRATEGIES),
        canary_percent=whole_number(
            "canary-percent",
            runner.get_input("canary-percent") or "10",
            *CANARY_PERCENT,
            "SageMaker's canary is a whole percentage of the new fleet, at least 1 and at most half of it.",
        ),
        linear_step_percent=whole_number(
            "linear-step-percent",
            runner.get_input("linear-step-percent") or "25",
            *LINEAR_STEP_PERCENT,
            "SageMaker moves a whole percentage of the new fleet at each step, 10 to 50.",
        ),
        wait_seconds=whole_number(
            "wait-seconds", runner.get_input("wait-seconds") or "300", 0, MAX_WAIT_SECONDS
        ),
        termination_wait_seconds=whole_number(
            "termination-wait-seconds",
            runner.get_input("termination-wait-seconds") or "120",
            0,
            MAX_WAIT_SECONDS,
        ),
        alarms=tuple(  # once each, by the rule of a rollback alarm's name
            dict.fromkeys(
                aws_value("alarms", alarm, "sagemaker", "AlarmName")
                for alarm in runner.get_multiline_input("alarms")
            )
        ),
        max_latency_ms=positive_number(
            "max-latency-ms", runner.get_input("max-latency-ms") or "1000"
        ),
        autoscaling=autoscaling,
        target_invocations=positive_number(
            "target-invocations-per-instance",
            runner.get_input("target-invocations-per-instance") or "100",
        ),
        scale_in_cooldown=whole_number(
            "scale-in-cooldown-seconds",
            runner.get_input("scale-in-cooldown-seconds") or "300",
            0,
            86400,
        ),
        scale_out_cooldown=whole_number(
            "scale-out-cooldown-seconds",
            runner.get_input("scale-out-cooldown-seconds") or "60",
            0,
            86400,
        ),
        data_capture_percent=whole_number("data-capture-percent", capture, 1, 100)
        if capture
        else None,
        data_capture_uri=capture_uri,
        allow_unapproved=runner.get_bool_input("allow-unapproved", default=False),
        timeout_seconds=60
        * positive_number("timeout-minutes", runner.get_input("timeout-minutes") or "60"),
        dry_run=runner.get_bool_input("dry-run", default=False),
    )
    _check_deployment(inputs)
    return inputs


def _check_deployment(inputs: Inputs) -> None:
    """The blue/green limits that only the service checks, refused before anything is touched."""
    low, high = DEPLOYMENT_TIMEOUT_SECONDS
    if inputs.timeout_seconds > high:
        raise InputError(
            "timeout-minutes",
            f"must be at most {high // 60}, got {inputs.timeout_seconds / 60:g}: SageMaker stops an update after {low}-{high} s (MaximumExecutionTimeoutInSeconds)",
            f"Set timeout-minutes to at most {high // 60}.",
        )
    waits, terms = _deployment_waits(inputs)
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
    if alarms > MAX_ROLLBACK_ALARMS:
        raise InputError(
            "alarms",
            f"names {alarms} alarms; an update rolls back on at most {MAX_ROLLBACK_ALARMS} (AutoRollbackConfiguration)",
            f"Name 1 to {MAX_ROLLBACK_ALARMS} alarms, or none for the stage's own two.",
        )


def _deployment_waits(inputs: Inputs) -> tuple[int, str]:
    """The seconds a blue/green update waits in all, and their terms for a message.

    Canary and all-at-once wait once, then the termination wait; linear waits once per step
    (a wait after the last step too: the stricter count, as the service does not say).
    """
    wait, termination = inputs.wait_seconds, inputs.termination_wait_seconds
    if inputs.strategy == "linear":
        steps = math.ceil(100 / inputs.linear_step_percent)
        terms = f"{steps} steps × wait-seconds {wait} + termination-wait-seconds {termination}"
        return steps * wait + termination, terms
    return wait + termination, f"wait-seconds {wait} + termination-wait-seconds {termination}"


# ---- plan: read everything, decide names and requests -------------------------------------------


def plan(inputs: Inputs, hosting: EndpointBackend, registry: RegistryBackend) -> DeploymentPlan:
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
            "Approve it (register-and-gate), or set allow-unapproved: true.",
        )
    _check_containers(inputs, package)
    group, version = package["ModelPackageGroupName"], int(package["ModelPackageVersion"])
    model_name = bounded_sagemaker_name(f"{group}-v{version}")
    model_request = None
    if hosting.describe_model(model_name) is None:
        model_request = {
            "ModelName": model_name,
            "PrimaryContainer": {"ModelPackageName": inputs.model_package_arn},
            "ExecutionRoleArn": inputs.role_arn,
        }

    live = hosting.describe_endpoint(inputs.endpoint_name)
    live_config = hosting.describe_endpoint_config(live["EndpointConfigName"]) if live else None
    config_request = _config_request(inputs, model_name, live, live_config)
    # The instances of the new fleet an update starts (None: a create, no DeploymentConfig).
    fleet = int(config_request["ProductionVariants"][0]["InitialInstanceCount"]) if live else None
    if live_config and _same_settings(live_config, config_request):
        # Already served; only autoscaling's instance count differs: a re-run changes nothing.
        config_name = live_config["EndpointConfigName"]
    else:
        digest = hashlib.sha256(json.dumps(config_request, sort_keys=True).encode()).hexdigest()[:8]
        config_name = bounded_sagemaker_name(
            f"{inputs.endpoint_name}-v{version}", suffix=f"-{digest}"
        )
    config_request = {"EndpointConfigName": config_name, **config_request}

    alarm_requests = [] if inputs.alarms else _alarm_requests(inputs)
    alarm_names = list(inputs.alarms) or [a["AlarmName"] for a in alarm_requests]
    live_scaling = None
    type_changes = _instance_type_changes(inputs, live_config)
    if live and (inputs.autoscaling or type_changes):
        live_scaling = hosting.describe_scalable_target(_scaling_resource(inputs))
    deployment = DeploymentPlan(
        package=package,
        model_name=model_name,
        model_request=model_request,
        config_name=config_name,
        config_request=config_request,
        config_exists=hosting.describe_endpoint_config(config_name) is not None,
        live=live,
        live_config=live_config,
        previous_package_arn=_package_of(live_config, hosting),
        deployment_config=_deployment_config(inputs, alarm_names, fleet),
        alarm_requests=alarm_requests,
        alarm_names=alarm_names,
        live_scaling=live_scaling,
        scaling_current=_scaling_matches(inputs, live_scaling),
    )
    deployment.scaling_suspended = (
        type_changes and live_scaling is not None and not deployment.unchanged
    )
    if live and fleet is not None and not deployment.unchanged:  # UpdateEndpoint will be called
        _check_update(inputs, live, live_config, fleet)
        if inputs.strategy == "canary":
            notice = _canary_size(inputs.canary_percent, fleet)[1]
            deployment.notices += [notice] if notice else []
    return deployment


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
    if inputs.strategy == "canary" and fleet < MIN_CANARY_FLEET:
        raise InputError(
            "strategy",
            f"a canary needs a fleet of at least {MIN_CANARY_FLEET} instances (at least 1 instance, at most half the fleet), and {inputs.endpoint_name}'s new fleet has {fleet}",
            "Set instance-count (with autoscaling: autoscaling-min-instances) to 2 or more, or strategy: all-at-once.",
        )


def _instance_type_changes(inputs: Inputs, live_config: dict[str, Any] | None) -> bool:
    """The live config serves the variant on another instance type than the one asked."""
    return any(
        v.get("VariantName") == inputs.variant_name
        and v.get("InstanceType") != inputs.instance_type
        for v in (live_config or {}).get("ProductionVariants") or []
    )


def _config_request(
    inputs: Inputs, model_name: str, live: dict[str, Any] | None, live_config: dict[str, Any] | None
) -> dict[str, Any]:
    count = inputs.instance_count
    if live and inputs.autoscaling:
        # Keep the fleet autoscaling chose; never drop to the minimum on a deploy.
        current = next(
            (
                v.get("CurrentInstanceCount")
                for v in live.get("ProductionVariants") or []
                if v.get("VariantName") == inputs.variant_name
            ),
            None,
        )
        low, high = inputs.autoscaling
        count = min(max(int(current or count), low), high)
    request: dict[str, Any] = {
        "ProductionVariants": [
            {
                "VariantName": inputs.variant_name,
                "ModelName": model_name,
                "InstanceType": inputs.instance_type,
                "InitialInstanceCount": count,
                "InitialVariantWeight": 1.0,
            }
        ]
    }
    if inputs.data_capture_percent:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": inputs.data_capture_percent,
            "DestinationS3Uri": inputs.data_capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        }
    elif live_config and live_config.get("DataCaptureConfig"):
        request["DataCaptureConfig"] = live_config["DataCaptureConfig"]  # kept across updates
    return request


def _same_settings(live_config: dict[str, Any], request: dict[str, Any]) -> bool:
    """The live config serves what `request` asks for, instance counts aside."""

    def settings(config: dict[str, Any]) -> Any:
        variants = [
            {k: v for k, v in variant.items() if k != "InitialInstanceCount"}
            for variant in config.get("ProductionVariants") or []
        ]
        return variants, config.get("DataCaptureConfig")

    return bool(settings(live_config) == settings(request))


def _package_of(config: dict[str, Any] | None, hosting: EndpointBackend) -> str:
    """The model package a live endpoint config serves ('' when unknown)."""
    for variant in (config or {}).get("ProductionVariants") or []:
        model = hosting.describe_model(variant["ModelName"]) or {}
        container = model.get("PrimaryContainer") or {}
        if container.get("ModelPackageName"):
            return str(container["ModelPackageName"])
    return ""


def _deployment_config(
    inputs: Inputs, alarms: list[str], fleet: int | None = None
) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig; `fleet` is the new fleet's instance count when known."""
    routing: dict[str, Any] = {
        "Type": inputs.strategy.upper().replace("-", "_"),
        "WaitIntervalInSeconds": inputs.wait_seconds,
    }
    if inputs.strategy == "canary":
        routing["CanarySize"] = _canary_size(inputs.canary_percent, fleet)[0]
    elif inputs.strategy == "linear":
        routing["LinearStepSize"] = {
            "Type": "CAPACITY_PERCENT",
            "Value": inputs.linear_step_percent,
        }
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": inputs.termination_wait_seconds,
            # At least the minimum; load_inputs refused more than the maximum, or not more
            # than the waits.
            "MaximumExecutionTimeoutInSeconds": max(
                DEPLOYMENT_TIMEOUT_SECONDS[0], int(inputs.timeout_seconds)
            ),
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def _canary_size(percent: int, fleet: int | None) -> tuple[dict[str, Any], str]:
    """The CanarySize of an update whose new fleet has `fleet` instances, and a notice when
    it is not the percentage asked.

    The guide says only that the canary "should be less than or equal to 50% of the new
    fleet's capacity"; how SageMaker rounds a percentage of a small fleet (10 % of 2 instances
    is 0.2 of one) is not documented. The stricter reading: the canary is a whole number of
    instances, at least 1 and at most half the fleet, whichever way it rounds. A percentage
    that is a whole number of instances is sent as it is; any other is sent as an exact
    INSTANCE_COUNT, rounded down (rounding up can pass half: 50 % of 3 is 1.5) and at least 1.
    A fleet under MIN_CANARY_FLEET has no such canary: _check_update refuses it.
    """
    if fleet is None or percent * fleet % 100 == 0:
        return {"Type": "CAPACITY_PERCENT", "Value": percent}, ""
    count = max(1, percent * fleet // 100)
    return (
        {"Type": "INSTANCE_COUNT", "Value": count},
        f"canary-percent {percent} of a {fleet}-instance fleet is {percent * fleet / 100:g} instances; "
        f"SageMaker's rounding is undocumented, so the canary is sent as exactly {count} instance{'s' if count > 1 else ''} "
        f"({100 * count / fleet:g} % of the fleet).",
    )


def _alarm_requests(inputs: Inputs) -> list[dict[str, Any]]:
    """The alarms an update rolls back on: any 5XX error, and a slow model."""
    dimensions = [
        {"Name": "EndpointName", "Value": inputs.endpoint_name},
        {"Name": "VariantName", "Value": inputs.variant_name},
    ]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 1,
        "TreatMissingData": "notBreaching",
        "ComparisonOperator": "GreaterThanThreshold",
    }
    return [
        {**common, "AlarmName": f"{inputs.endpoint_name}-invocation-5xx-errors", "AlarmDescription": "smgha: roll back an update that answers with 5XX errors", "MetricName": "Invocation5XXErrors", "Statistic": "Sum", "Threshold": 0.0},
        {**common, "AlarmName": f"{inputs.endpoint_name}-model-latency", "AlarmDescription": f"smgha: roll back an update whose model takes over {inputs.max_latency_ms:g} ms", "MetricName": "ModelLatency", "Statistic": "Average", "Threshold": inputs.max_latency_ms * 1000.0},
    ]  # fmt: skip


# ---- apply -------------------------------------------------------------------------------------------


def apply(
    inputs: Inputs,
    deployment: DeploymentPlan,
    hosting: EndpointBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Create what is missing, start the create or update, wait; return the outcome."""
    if deployment.unchanged:
        if inputs.autoscaling and not deployment.scaling_current:
            log(
                f"{inputs.endpoint_name} already serves {deployment.config_name}; its autoscaling differs"
            )
            _autoscale(inputs, hosting, log)
        else:
            log(f"{inputs.endpoint_name} already serves {deployment.config_name}: nothing to do")
        return "unchanged"
    if deployment.model_request:
        hosting.create_model(deployment.model_request)
        log(f"Created model {deployment.model_name}")
    if not deployment.config_exists:
        hosting.create_endpoint_config(deployment.config_request)
        log(f"Created endpoint config {deployment.config_name}")
    for alarm in deployment.alarm_requests:
        hosting.put_metric_alarm(alarm)
    if deployment.alarm_requests:
        log(f"Rollback alarms: {', '.join(deployment.alarm_names)}")
    if deployment.scaling_suspended:
        _deregister(inputs, deployment, hosting, log)
    try:
        if deployment.live is None:
            hosting.create_endpoint(
                inputs.endpoint_name,
                deployment.config_name,
                {"smgha:model-package-arn": inputs.model_package_arn},
            )
            log(f"Creating endpoint {inputs.endpoint_name} on {deployment.config_name}")
        else:
            hosting.update_endpoint(
                inputs.endpoint_name, deployment.config_name, deployment.deployment_config
            )
            routing = deployment.deployment_config["BlueGreenUpdatePolicy"][
                "TrafficRoutingConfiguration"
            ]
            log(
                f"Updating {inputs.endpoint_name}: {deployment.live['EndpointConfigName']} -> {deployment.config_name} ({routing['Type'].lower().replace('_', '-')})"
            )
        final = _wait(inputs, hosting, log, sleep, clock)
        if final["EndpointStatus"] != "InService":
            raise StageError(
                f"endpoint {final['EndpointStatus']}",
                final.get("FailureReason") or "no reason given",
            )
    except Exception:
        if deployment.scaling_suspended:
            _reregister_after_failure(inputs, deployment, hosting, log)
        raise
    if final["EndpointConfigName"] != deployment.config_name:
        if deployment.scaling_suspended:  # back on the old instance type: the old scaling fits
            _reregister(inputs, deployment, hosting, log, keep_live_limits=True)
        return "rolled-back"
    if deployment.scaling_suspended:
        _reregister(inputs, deployment, hosting, log, keep_live_limits=not inputs.autoscaling)
    elif inputs.autoscaling:
        _autoscale(inputs, hosting, log)
    return "deployed"


def _wait(
    inputs: Inputs,
    hosting: EndpointBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    started = clock()
    last = ""
    poll = float(getattr(hosting, "poll_seconds", 20.0))
    # A canary's baking time passes with no change to print: the helper keeps it visible.
    waiting = Waiting(inputs.endpoint_name, log, clock)
    while True:
        record = hosting.describe_endpoint(inputs.endpoint_name) or {}
        status = record.get("EndpointStatus", "missing")
        pending = record.get("PendingDeploymentSummary") or {}
        shares = [v.get("CurrentWeight") for v in pending.get("ProductionVariants") or []]
        line = status + (
            f", new fleet weight {shares[0]:g}" if shares and shares[0] is not None else ""
        )
        if line != last:
            log(f"[{int(clock() - started)}s] {inputs.endpoint_name}: {line}")
            waiting.printed()
            last = line
        if status in ("InService", "Failed", "OutOfService"):
            return record
        if clock() - started >= inputs.timeout_seconds:
            raise StageError(
                "timed out",
                f"{inputs.endpoint_name} is still {status} after {inputs.timeout_seconds / 60:g} minutes; the update goes on, check it before deploying again",
            )
        waiting.tick(line)
        sleep(waiting.pause(poll))


def _scaling_resource(inputs: Inputs) -> str:
    return f"endpoint/{inputs.endpoint_name}/variant/{inputs.variant_name}"


def _scaling_policy_name(inputs: Inputs) -> str:
    return f"{inputs.endpoint_name}-invocations-per-instance"


def _scaling_policy_config(inputs: Inputs) -> dict[str, Any]:
    return {
        "TargetValue": inputs.target_invocations,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": inputs.scale_in_cooldown,
        "ScaleOutCooldown": inputs.scale_out_cooldown,
    }  # fmt: skip


def _autoscale(inputs: Inputs, hosting: EndpointBackend, log: Callable[[str], None]) -> None:
    assert inputs.autoscaling is not None
    low, high = inputs.autoscaling
    resource = _scaling_resource(inputs)
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    hosting.register_scalable_target({**target, "MinCapacity": low, "MaxCapacity": high})
    hosting.put_scaling_policy({
        **target,
        "PolicyName": _scaling_policy_name(inputs),
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": _scaling_policy_config(inputs),
    })  # fmt: skip
    log(f"Autoscaling {resource}: {_scaling_text(inputs.autoscaling, inputs.target_invocations)}")


# The fields of a DescribeScalableTargets / DescribeScalingPolicies record that
# RegisterScalableTarget / PutScalingPolicy take back (the rest, ARNs and times, the service sets).
_TARGET_FIELDS = (
    "ServiceNamespace",
    "ResourceId",
    "ScalableDimension",
    "MinCapacity",
    "MaxCapacity",
    "SuspendedState",
)
_POLICY_FIELDS = ("PolicyName", "ServiceNamespace", "ResourceId", "ScalableDimension", "PolicyType", "StepScalingPolicyConfiguration", "TargetTrackingScalingPolicyConfiguration", "PredictiveScalingPolicyConfiguration")  # fmt: skip


def _deregister(
    inputs: Inputs, deployment: DeploymentPlan, hosting: EndpointBackend, log: Callable[[str], None]
) -> None:
    """Take the variant out of autoscaling before an update that changes its instance type.

    SageMaker guide, "Update endpoints that use auto scaling": "If the update would change the
    instance type for any model that is a target for auto scaling, the update fails"; the
    documented procedure deletes the policies, deregisters the target, updates, registers again.
    """
    live = deployment.live_scaling or {}
    resource = _scaling_resource(inputs)
    for name in live.get("Policies") or {}:
        hosting.delete_scaling_policy(name, resource)
    hosting.deregister_scalable_target(resource)
    log(
        f"Deregistered autoscaling of {resource} ({_live_scaling_text(inputs, live)}): the update changes its instance type to {inputs.instance_type}, which SageMaker refuses on a scaled variant"
    )


def _reregister(
    inputs: Inputs,
    deployment: DeploymentPlan,
    hosting: EndpointBackend,
    log: Callable[[str], None],
    keep_live_limits: bool,
) -> None:
    """Register the variant again after `_deregister`: the inputs' limits and policy, or the live
    ones (`keep_live_limits`, or no autoscaling inputs); every other live policy as it was."""
    live = deployment.live_scaling or {}
    mine = _scaling_policy_name(inputs) if inputs.autoscaling and not keep_live_limits else None
    if mine:
        _autoscale(inputs, hosting, log)
    else:
        hosting.register_scalable_target({k: live[k] for k in _TARGET_FIELDS if k in live})
    policies = live.get("Policies") or {}
    for name, policy in policies.items():
        if name != mine:
            hosting.put_scaling_policy({k: policy[k] for k in _POLICY_FIELDS if k in policy})
    if not mine:
        log(
            f"Registered autoscaling of {_scaling_resource(inputs)} again as it was: {_live_scaling_text(inputs, live)} ({len(policies)} polic{'y' if len(policies) == 1 else 'ies'})"
        )


def _reregister_after_failure(
    inputs: Inputs, deployment: DeploymentPlan, hosting: EndpointBackend, log: Callable[[str], None]
) -> None:
    """The update failed: give the fleet its scaling back, without hiding why it failed."""
    try:
        _reregister(inputs, deployment, hosting, log, keep_live_limits=True)
    except StageError as exc:
        log(
            f"Could not register autoscaling of {_scaling_resource(inputs)} again ({exc}); register it by hand: {_live_scaling_text(inputs, deployment.live_scaling)}"
        )


def _scaling_matches(inputs: Inputs, live: dict[str, Any] | None) -> bool:
    """The live scalable target has the asked limits and the stage's policy as asked."""
    if live is None or inputs.autoscaling is None:
        return False
    policy = (live.get("Policies") or {}).get(_scaling_policy_name(inputs)) or {}
    config = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    asked = _scaling_policy_config(inputs)
    return (
        (live.get("MinCapacity"), live.get("MaxCapacity")) == inputs.autoscaling
        and policy.get("PolicyType") == "TargetTrackingScaling"
        and float(config.get("TargetValue", -1)) == asked["TargetValue"]
        and (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        == asked["PredefinedMetricSpecification"]["PredefinedMetricType"]
        and config.get("ScaleInCooldown") == asked["ScaleInCooldown"]
        and config.get("ScaleOutCooldown") == asked["ScaleOutCooldown"]
    )


def _scaling_text(limits: tuple[int, int], target: float | None) -> str:
    text = f"{limits[0]}-{limits[1]} instances"
    return text + (f", target {target:g} invocations per instance" if target is not None else "")


def _live_scaling_text(inputs: Inputs, live: dict[str, Any] | None) -> str:
    if live is None:
        return "off"
    policy = (live.get("Policies") or {}).get(_scaling_policy_name(inputs)) or {}
    target = (policy.get("TargetTrackingScalingPolicyConfiguration") or {}).get("TargetValue")
    limits = (int(live.get("MinCapacity", 0)), int(live.get("MaxCapacity", 0)))
    return _scaling_text(limits, float(target) if target is not None else None)


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
    before_variant = ((deployment.live_config or {}).get("ProductionVariants") or [{}])[0]
    after_variant = deployment.config_request["ProductionVariants"][0]
    rows = [
        [
            "Model package",
            f"`{deployment.previous_package_arn or '–'}`",
            f"`{inputs.model_package_arn}`",
        ],
        [
            "Endpoint config",
            f"`{(deployment.live or {}).get('EndpointConfigName', '–')}`",
            f"`{deployment.config_name}`",
        ],
        [
            "Instances",
            f"{before_variant.get('InitialInstanceCount', '–')} × {before_variant.get('InstanceType', '–')}",
            f"{after_variant['InitialInstanceCount']} × {after_variant['InstanceType']}",
        ],
        [
            "Data capture",
            _capture_text(deployment.live_config),
            _capture_text(deployment.config_request),
        ],
    ]
    scaling_changed = False
    if inputs.autoscaling:
        before = _live_scaling_text(inputs, deployment.live_scaling) if deployment.live else "–"
        rows.append(
            ["Autoscaling", before, _scaling_text(inputs.autoscaling, inputs.target_invocations)]
        )
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
    live = _live_scaling_text(inputs, deployment.live_scaling)
    what = f"Autoscaling of `{_scaling_resource(inputs)}` ({live})"
    why = f"the update changes its instance type to {inputs.instance_type}, which SageMaker refuses on a scaled variant"
    if outcome == "dry-run":
        return f"{what} will be deregistered for the update ({why}) and registered again after it."
    if outcome == "deployed" and inputs.autoscaling:
        again = _scaling_text(inputs.autoscaling, inputs.target_invocations)
        return f"{what} was deregistered for the update ({why}) and registered again: {again}."
    return f"{what} was deregistered for the update ({why}) and registered again as it was."


def _capture_text(config: dict[str, Any] | None) -> str:
    capture = (config or {}).get("DataCaptureConfig") or {}
    if not capture.get("EnableCapture"):
        return "off"
    return f"{capture.get('InitialSamplingPercentage')} % to {capture.get('DestinationS3Uri')}"


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = backend(inputs.backend, inputs.region, log=runner.info, mask=runner.set_secret)
        hosting = cast(EndpointBackend, chosen)
        deployment = plan(inputs, hosting, chosen)
        for notice in deployment.notices:
            runner.notice(notice, title=f"{STAGE}: canary size")
        if inputs.dry_run:
            with runner.group(f"Endpoint config {deployment.config_name}"):
                runner.info(defn.canonical_json(deployment.config_request))
            with runner.group("Diff against the live endpoint config"):
                live = {
                    k: v
                    for k, v in (deployment.live_config or {}).items()
                    if k in deployment.config_request
                }
                runner.info(
                    defn.diff(
                        live if deployment.live_config else None,
                        deployment.config_request,
                        inputs.endpoint_name,
                    )
                    or "(no changes)"
                )
            report(
                inputs,
                deployment,
                "dry-run",
                (deployment.live or {}).get("EndpointConfigName", ""),
                runner,
            )
            return
        outcome = apply(inputs, deployment, hosting, runner.info)
        live = (hosting.describe_endpoint(inputs.endpoint_name) or {}).get("EndpointConfigName", "")
        report(inputs, deployment, outcome, live, runner)
        if outcome == "rolled-back":
            reason = (hosting.describe_endpoint(inputs.endpoint_name) or {}).get(
                "FailureReason", "no reason given"
            )
            raise StageError(
                "update rolled back", f"{inputs.endpoint_name} stays on {live}: {reason}"
            )

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
