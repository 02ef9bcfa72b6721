"""Serverless inference: deploy-endpoint's serverless inputs, and what SageMaker allows beside
them, refused before anything is created with one error naming both inputs.

Sources (SageMaker Developer Guide and botocore's `sagemaker` service model):
- ProductionVariantServerlessConfig: MemorySizeInMB 1024-6144, "Valid values are in 1 GB
  increments: 1024 MB, 2048 MB, 3072 MB, 4096 MB, 5120 MB, or 6144 MB"; MaxConcurrency 1-200
  (both required); ProvisionedConcurrency 1-200, "Should be less than or equal to
  MaxConcurrency". ProductionVariant.ServerlessConfig "Specifies a serverless endpoint
  configuration instead of an instance-based endpoint configuration": no InstanceType and no
  InitialInstanceCount beside it.
- "Deploy models with Amazon SageMaker Serverless Inference", Feature exclusions
  (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): "not supported
  for Serverless Inference, including ... data capture, multiple production variants, Model
  Monitor, and inference pipelines"; "You cannot convert your instance-based, real-time
  endpoint to a serverless endpoint. If you try to update your real-time endpoint to
  serverless, you receive a ValidationError message. You can convert a serverless endpoint to
  real-time, but once you make the update, you cannot roll it back to serverless."
- Blue/green traffic shifting: "Exclusions" (deployment-guardrails-exclusions.html) names
  serverless endpoints only among the exclusions of rolling deployments, but a canary's and a
  linear step's size is "of the variant's total instance count" (TrafficRoutingConfig's
  CanarySize, LinearStepSize), which a serverless variant does not have, and no page says how
  SageMaker sizes them on one. The stricter reading: a serverless update is all at once (its
  alarms and waits still apply: "The process for updating a serverless endpoint is the same as
  the process for updating a real-time endpoint", serverless-endpoints-update.html).
- Autoscaling: a serverless variant has no instances, so target tracking of
  sagemaker:variant:DesiredInstanceCount does not apply (autoscaling-*-instances are refused).
  Application Auto Scaling scales its Provisioned Concurrency instead ("Automatically scale
  Provisioned Concurrency for a serverless endpoint",
  https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-autoscale.html:
  dimension sagemaker:variant:DesiredProvisionedConcurrency, metric
  SageMakerVariantProvisionedConcurrencyUtilization, target tracking). Its rules here:
  "Before you can use autoscaling, you must have already deployed a model to a serverless
  endpoint with Provisioned Concurrency" (serverless-provisioned-concurrency is required);
  the bounds are Provisioned Concurrency values, so 1-200 and at most MaxConcurrency
  (ProductionVariantServerlessConfig); RegisterScalableTarget moves the current capacity
  "to a value that is inside of this range" (API_RegisterScalableTarget.html), so an asked
  serverless-provisioned-concurrency outside the bounds would be overridden at once and is
  refused. The target is a utilization: botocore gives TargetValue no range (MetricScale, a
  double) and no page found states one for this metric, so the stricter reading is a share
  of the Provisioned Concurrency in use, above 0 and at most 1 (not confirmed against AWS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smgha.errors import InputError, shown
from smgha.inputs import InputSpec, InputValues, whole_number
from smgha.resources import autoscaling

MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY = (1, 200)  # ServerlessMaxConcurrency; ProvisionedConcurrency the same shape
EXCLUSIONS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"

INPUTS = (
    InputSpec(
        "serverless-memory-mb",
        "Serve on SageMaker Serverless Inference with this memory (1024, 2048, 3072, 4096, 5120 or 6144; needs serverless-max-concurrency). Empty: instances.",
    ),
    InputSpec(
        "serverless-max-concurrency",
        "Serverless: concurrent invocations the endpoint takes (1-200); more are throttled.",
    ),
    InputSpec(
        "serverless-provisioned-concurrency",
        "Serverless: invocations kept warm, never scaled to zero (1 to serverless-max-concurrency). Empty: on demand.",
    ),
    InputSpec(
        "serverless-provisioned-concurrency-min",
        "Serverless: scale the Provisioned Concurrency with target tracking from this minimum (needs serverless-provisioned-concurrency, -max and target-provisioned-concurrency-utilization).",
    ),
    InputSpec(
        "serverless-provisioned-concurrency-max",
        "Serverless: Provisioned Concurrency scaling maximum (at most serverless-max-concurrency).",
    ),
    InputSpec(
        "target-provisioned-concurrency-utilization",
        "Serverless Provisioned Concurrency scaling target: the share of it in use (above 0, at most 1; 0.5 is half).",
    ),
)
# The inputs of Provisioned Concurrency scaling (all three, or none).
SCALING_INPUTS = (
    "serverless-provisioned-concurrency-min",
    "serverless-provisioned-concurrency-max",
    "target-provisioned-concurrency-utilization",
)
AUTOSCALE_PAGE = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-autoscale.html"
)

# The inputs that have no meaning on serverless capacity, each with why (the user sees it).
# instance-type and instance-count have defaults: only a value the workflow gave counts.
NOT_WITH_SERVERLESS = {
    "instance-type": "a serverless variant has no InstanceType (ProductionVariant.ServerlessConfig replaces it)",
    "instance-count": "a serverless variant has no InitialInstanceCount (ProductionVariant.ServerlessConfig replaces it)",
    "data-capture-percent": "SageMaker Serverless Inference does not support data capture (feature exclusions)",
    "data-capture-s3-uri": "SageMaker Serverless Inference does not support data capture (feature exclusions)",
    "autoscaling-min-instances": "a serverless variant has no instances to scale; its Provisioned Concurrency scales with serverless-provisioned-concurrency-min and -max",
    "autoscaling-max-instances": "a serverless variant has no instances to scale; its Provisioned Concurrency scales with serverless-provisioned-concurrency-min and -max",
}
# strategy values a serverless update cannot take (see the module's doc: the stricter reading).
SHIFTING_STRATEGIES = ("canary", "linear")


@dataclass(frozen=True)
class Settings:
    """A serverless variant's ProductionVariantServerlessConfig, and the scaling of its
    Provisioned Concurrency (scaling_limits None: not scaled)."""

    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None
    scaling_limits: tuple[int, int] | None = None
    target_utilization: float = 0.0


def checked_inputs(values: InputValues, strategy: str) -> Settings | None:
    """The serverless settings (None: instances), after every rule that concerns them."""
    memory = values["serverless-memory-mb"]
    concurrency = values["serverless-max-concurrency"]
    provisioned = values["serverless-provisioned-concurrency"]
    if not memory:
        others = (
            "serverless-max-concurrency",
            "serverless-provisioned-concurrency",
            *SCALING_INPUTS,
        )
        other = next((name for name in others if values[name]), "")
        if other:
            raise InputError(
                other,
                "applies only to a serverless endpoint, and serverless-memory-mb is empty",
                "Set serverless-memory-mb (and serverless-max-concurrency), or leave the serverless inputs empty.",
            )
        return None
    memory_mb = _memory(memory)
    max_concurrency = _max_concurrency(concurrency)
    warm = None
    if provisioned:
        warm = whole_number(
            "serverless-provisioned-concurrency",
            provisioned,
            1,
            max_concurrency,
            "ProvisionedConcurrency must be at most MaxConcurrency (serverless-max-concurrency).",
        )
    limits = _scaling_limits(values, max_concurrency, warm)
    settings = Settings(
        memory_mb=memory_mb,
        max_concurrency=max_concurrency,
        provisioned_concurrency=warm,
        scaling_limits=limits,
        target_utilization=_target_utilization(values) if limits else 0.0,
    )
    for name, why in NOT_WITH_SERVERLESS.items():
        if values.runner.get_input(name):
            raise InputError(
                name,
                f"{shown(values.runner.get_input(name))} does not apply with serverless-memory-mb {settings.memory_mb}: {why}",
                f"Leave {name} empty for a serverless endpoint, or leave serverless-memory-mb empty for instances. See {EXCLUSIONS_PAGE}.",
            )
    if strategy in SHIFTING_STRATEGIES:
        raise InputError(
            "strategy",
            f"{strategy} does not apply with serverless-memory-mb {settings.memory_mb}: a {strategy} step is a share of the variant's instances, which a serverless variant does not have",
            "Set strategy: all-at-once for a serverless endpoint (its alarms and waits still apply).",
        )
    return settings


def _scaling_limits(
    values: InputValues, max_concurrency: int, warm: int | None
) -> tuple[int, int] | None:
    """serverless-provisioned-concurrency-min and -max, checked against the variant's other
    serverless inputs (the module's doc has the rules and their sources)."""
    given = [name for name in SCALING_INPUTS if values[name]]
    if not given:
        return None
    missing = [name for name in SCALING_INPUTS if name not in given]
    if missing:
        raise InputError(
            missing[0],
            f"is required with {given[0]}: Provisioned Concurrency scaling needs both bounds and a target",
            f"Set {', '.join(SCALING_INPUTS)}, or leave all three empty.",
        )
    low = whole_number(
        "serverless-provisioned-concurrency-min", values[SCALING_INPUTS[0]], *MAX_CONCURRENCY
    )
    high = whole_number(
        "serverless-provisioned-concurrency-max", values[SCALING_INPUTS[1]], *MAX_CONCURRENCY
    )
    if low > high:
        raise InputError(
            "serverless-provisioned-concurrency-min",
            f"{low} is above serverless-provisioned-concurrency-max {high}",
            "Set the minimum at most the maximum.",
        )
    if high > max_concurrency:
        raise InputError(
            "serverless-provisioned-concurrency-max",
            f"{high} is above serverless-max-concurrency {max_concurrency}: Provisioned Concurrency must be at most MaxConcurrency (ProductionVariantServerlessConfig)",
            f"Set serverless-provisioned-concurrency-max to at most {max_concurrency}, or raise serverless-max-concurrency.",
        )
    if warm is None:
        raise InputError(
            "serverless-provisioned-concurrency",
            f"is required with serverless-provisioned-concurrency-min: only a serverless endpoint with Provisioned Concurrency can scale it ({AUTOSCALE_PAGE})",
            f"Set serverless-provisioned-concurrency from {low} to {high}.",
        )
    if not low <= warm <= high:
        raise InputError(
            "serverless-provisioned-concurrency",
            f"{warm} is outside serverless-provisioned-concurrency-min {low} and -max {high}: RegisterScalableTarget would move it into that range at once",
            f"Set serverless-provisioned-concurrency from {low} to {high}.",
        )
    return (low, high)


def _target_utilization(values: InputValues) -> float:
    name = "target-provisioned-concurrency-utilization"
    text = values[name]
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:  # also refuses nan and inf
        raise InputError(
            name,
            f"{shown(text)} is not a share above 0 and at most 1 (the utilization of the Provisioned Concurrency)",
            f"Set {name} to a share such as 0.5 (half of it in use).",
        )
    return share


def provisioned_scaling(
    settings: Settings | None, endpoint: str, variant: str, cooldowns: tuple[int, int]
) -> autoscaling.TargetTracking | None:
    """Target tracking of the variant's Provisioned Concurrency (None: not asked)."""
    if settings is None or settings.scaling_limits is None:
        return None
    scale_in, scale_out = cooldowns
    return autoscaling.TargetTracking(
        endpoint, variant, settings.scaling_limits, settings.target_utilization,
        scale_in, scale_out, provisioned=True,
    )  # fmt: skip


def live_provisioned_concurrency(live: dict[str, Any] | None, variant: str) -> int | None:
    """The variant's Provisioned Concurrency now (DescribeEndpoint's ProductionVariantSummary
    CurrentServerlessConfig: Application Auto Scaling changes it there, not in the config)."""
    for summary in (live or {}).get("ProductionVariants") or []:
        if summary.get("VariantName") == variant:
            value = (summary.get("CurrentServerlessConfig") or {}).get("ProvisionedConcurrency")
            return int(value) if value is not None else None
    return None


def without_provisioned_concurrency(config: dict[str, Any]) -> dict[str, Any]:
    """An endpoint config with its variants' ProvisionedConcurrency left out: what a scaled
    variant's config is compared by (autoscaling's value differs from the config's)."""
    variants = []
    for variant in config.get("ProductionVariants") or []:
        serverless = variant.get("ServerlessConfig")
        if serverless:
            kept = {k: v for k, v in serverless.items() if k != "ProvisionedConcurrency"}
            variant = {**variant, "ServerlessConfig": kept}
        variants.append(variant)
    return {**config, "ProductionVariants": variants}


def _memory(text: str) -> int:
    low, high = MEMORY_SIZES_MB[0], MEMORY_SIZES_MB[-1]
    memory = whole_number(
        "serverless-memory-mb",
        text,
        low,
        high,
        "SageMaker's serverless memory is 1 GB steps from 1024 to 6144 MB.",
    )
    if memory not in MEMORY_SIZES_MB:
        raise InputError(
            "serverless-memory-mb",
            f"{memory} is not a 1 GB step: SageMaker takes {', '.join(map(str, MEMORY_SIZES_MB))} (MemorySizeInMB)",
            f"Set serverless-memory-mb to {min(MEMORY_SIZES_MB, key=lambda m: abs(m - memory))}, the nearest.",
        )
    return memory


def _max_concurrency(text: str) -> int:
    if not text:
        raise InputError(
            "serverless-max-concurrency",
            "is required with serverless-memory-mb (MaxConcurrency has no default)",
            f"Set serverless-max-concurrency from {MAX_CONCURRENCY[0]} to {MAX_CONCURRENCY[1]}.",
        )
    return whole_number("serverless-max-concurrency", text, *MAX_CONCURRENCY)


def refuse_switch_to_serverless(
    endpoint: str, live_config: dict[str, Any] | None, serverless: bool
) -> None:
    """An instance-based live endpoint cannot become serverless (SageMaker: ValidationError)."""
    variants = (live_config or {}).get("ProductionVariants") or []
    on_instances = bool(variants) and not any(v.get("ServerlessConfig") for v in variants)
    if serverless and on_instances:
        raise InputError(
            "serverless-memory-mb",
            f"the live endpoint {endpoint} serves on instances, and SageMaker cannot convert an instance-based endpoint to serverless (UpdateEndpoint answers ValidationError; {EXCLUSIONS_PAGE})",
            "Deploy serverless to a new endpoint-name, or leave serverless-memory-mb empty to stay on instances.",
        )


def to_instances_notice(endpoint: str, live_config: dict[str, Any] | None, serverless: bool) -> str:
    """What the user should know when a serverless endpoint moves to instances ('' else)."""
    variants = (live_config or {}).get("ProductionVariants") or []
    if serverless or not any(v.get("ServerlessConfig") for v in variants):
        return ""
    return (
        f"{endpoint} moves from serverless to instances; SageMaker cannot move it back to "
        "serverless (a new endpoint can be serverless)."
    )


def refuse_capture(live: dict[str, Any], live_config: dict[str, Any]) -> None:
    """enable-monitor on a serverless endpoint: no data capture, no Model Monitor there."""
    variants = live_config.get("ProductionVariants") or []
    if any(v.get("ServerlessConfig") for v in variants):
        raise InputError(
            "endpoint-name",
            f"{live.get('EndpointName', 'the endpoint')} is serverless, and SageMaker Serverless Inference supports neither data capture nor Model Monitor ({EXCLUSIONS_PAGE})",
            "Monitor an endpoint on instances (deploy-endpoint without serverless-memory-mb).",
        )
