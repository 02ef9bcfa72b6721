"""Target-tracking autoscaling of an endpoint variant (Application Auto Scaling): its instance
count, or a serverless variant's Provisioned Concurrency; and taking instance autoscaling off
and putting it back around an update SageMaker refuses on a scaled variant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from smgha.errors import InputError
from smgha.inputs import InputValues, positive_number, whole_number

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
# A serverless variant's Provisioned Concurrency, scaled on the share of it in use
# (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-autoscale.html; both
# names are in botocore's application-autoscaling model: ScalableDimension, MetricType).
PROVISIONED_DIMENSION = "sagemaker:variant:DesiredProvisionedConcurrency"
PROVISIONED_METRIC = "SageMakerVariantProvisionedConcurrencyUtilization"
# What each dimension's capacity counts, and what its target is, as the summary says them.
_UNITS = {
    SCALABLE_DIMENSION: ("instances", "invocations per instance"),
    PROVISIONED_DIMENSION: ("provisioned concurrency", "utilization of provisioned concurrency"),
}

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


class ScalingCalls(Protocol):
    """The calls autoscaling makes (the hosting area of a backend has them)."""

    def register_scalable_target(self, request: dict[str, Any]) -> None: ...

    def put_scaling_policy(self, request: dict[str, Any]) -> str:
        """PutScalingPolicy; the policy's ARN (an alarm's action names it)."""
        ...

    def put_metric_alarm(self, request: dict[str, Any]) -> None: ...

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None: ...

    def deregister_scalable_target(self, resource_id: str) -> None: ...


def resource_id(endpoint: str, variant: str) -> str:
    """Application Auto Scaling's ResourceId of an endpoint variant."""
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, dimension: str = SCALABLE_DIMENSION) -> str:
    """The name of the policy this project puts on an endpoint's variant."""
    if dimension == PROVISIONED_DIMENSION:
        return f"{endpoint}-provisioned-concurrency-utilization"
    return f"{endpoint}-invocations-per-instance"


def limits_text(
    limits: tuple[int, int], target: float | None, dimension: str = SCALABLE_DIMENSION
) -> str:
    capacity, per = _UNITS[dimension]
    text = f"{limits[0]}-{limits[1]} {capacity}"
    return text + (f", target {target:g} {per}" if target is not None else "")


def live_text(endpoint: str, live: dict[str, Any] | None) -> str:
    """A live scalable target (DescribeScalableTargets with its policies under "Policies"),
    as limits_text says it; "off" when the variant is not registered."""
    if live is None:
        return "off"
    dimension = live.get("ScalableDimension", SCALABLE_DIMENSION)
    dimension = dimension if dimension in _UNITS else SCALABLE_DIMENSION
    policy = (live.get("Policies") or {}).get(policy_name(endpoint, dimension)) or {}
    target = (policy.get("TargetTrackingScalingPolicyConfiguration") or {}).get("TargetValue")
    limits = (int(live.get("MinCapacity", 0)), int(live.get("MaxCapacity", 0)))
    return limits_text(limits, float(target) if target is not None else None, dimension)


@dataclass(frozen=True)
class TargetTracking:
    """Scale a variant's instance count between `limits` to keep `target_value` invocations
    per instance per minute; with `provisioned`, a serverless variant's Provisioned Concurrency
    between `limits` to keep `target_value` of it in use (a share, 0.5: half)."""

    endpoint: str
    variant: str
    limits: tuple[int, int]
    target_value: float
    scale_in_cooldown: int
    scale_out_cooldown: int
    provisioned: bool = False
    # A CustomizedMetricSpecification to track instead of the predefined metric, the
    # policy's name instead of policy_name()'s, and a step policy an alarm sets off beside
    # it (async inference's scale-out from zero: smgha/resources/async_inference.py).
    customized_metric: dict[str, Any] | None = None
    name: str = ""
    step_on_alarm: StepOnAlarm | None = None

    @property
    def resource_id(self) -> str:
        return resource_id(self.endpoint, self.variant)

    @property
    def dimension(self) -> str:
        return PROVISIONED_DIMENSION if self.provisioned else SCALABLE_DIMENSION

    @property
    def metric(self) -> str:
        return PROVISIONED_METRIC if self.provisioned else METRIC

    @property
    def policy_name(self) -> str:
        return self.name or policy_name(self.endpoint, self.dimension)

    def text(self) -> str:
        if self.customized_metric:
            low, high = self.limits
            metric = self.customized_metric["MetricName"]
            return f"{low}-{high} instances, target {self.target_value:g} {metric}"
        return limits_text(self.limits, self.target_value, self.dimension)

    def policy_config(self) -> dict[str, Any]:
        metric: dict[str, Any] = {
            "PredefinedMetricSpecification": {"PredefinedMetricType": self.metric}
        }
        if self.customized_metric:
            metric = {"CustomizedMetricSpecification": self.customized_metric}
        return {
            "TargetValue": self.target_value,
            **metric,
            "ScaleInCooldown": self.scale_in_cooldown,
            "ScaleOutCooldown": self.scale_out_cooldown,
        }

    def matches(self, live: dict[str, Any] | None) -> bool:
        """The live scalable target has these limits and this policy, as asked."""
        if live is None:
            return False
        policy = (live.get("Policies") or {}).get(self.policy_name) or {}
        config = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
        asked = self.policy_config()
        return (
            (live.get("MinCapacity"), live.get("MaxCapacity")) == self.limits
            and policy.get("PolicyType") == "TargetTrackingScaling"
            and float(config.get("TargetValue", -1)) == asked["TargetValue"]
            and live.get("ScalableDimension", SCALABLE_DIMENSION) == self.dimension
            and (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            == asked.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
            and config.get("CustomizedMetricSpecification") == self.customized_metric
            and (
                self.step_on_alarm is None
                or self.step_on_alarm.policy_name in (live.get("Policies") or {})
            )
            and config.get("ScaleInCooldown") == asked["ScaleInCooldown"]
            and config.get("ScaleOutCooldown") == asked["ScaleOutCooldown"]
        )

    def apply(self, hosting: ScalingCalls, log: Callable[[str], None]) -> None:
        """RegisterScalableTarget, then PutScalingPolicy (both overwrite: a re-run is the same)."""
        target = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": self.resource_id,
            "ScalableDimension": self.dimension,
        }
        low, high = self.limits
        hosting.register_scalable_target({**target, "MinCapacity": low, "MaxCapacity": high})
        hosting.put_scaling_policy({
            **target,
            "PolicyName": self.policy_name,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": self.policy_config(),
        })  # fmt: skip
        log(f"Autoscaling {self.resource_id}: {self.text()}")
        if self.step_on_alarm:
            self.step_on_alarm.apply(hosting, target, log)


@dataclass(frozen=True)
class StepOnAlarm:
    """A step-scaling policy that adds `adjustment` instances when its CloudWatch alarm (the
    AWS/SageMaker metric `metric_name`, Average >= `threshold` for `periods` minutes) goes off:
    the shape of async-inference-autoscale.html's "scale up from zero" policy and alarm."""

    policy_name: str
    alarm_name: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    cooldown: int
    adjustment: int = 1
    threshold: float = 1.0
    periods: int = 2

    def policy_request(self, target: dict[str, Any]) -> dict[str, Any]:
        return {
            **target,
            "PolicyName": self.policy_name,
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "MetricAggregationType": "Average",
                "Cooldown": self.cooldown,
                "StepAdjustments": [
                    {"MetricIntervalLowerBound": 0, "ScalingAdjustment": self.adjustment}
                ],
            },
        }

    def alarm_request(self, policy_arn: str) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "MetricName": self.metric_name,
            "Namespace": "AWS/SageMaker",
            "Statistic": "Average",
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            "Period": 60,
            "EvaluationPeriods": self.periods,
            "Threshold": self.threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
            "AlarmActions": [policy_arn],
        }

    def apply(
        self, hosting: ScalingCalls, target: dict[str, Any], log: Callable[[str], None]
    ) -> None:
        """PutScalingPolicy, then the alarm that sets it off (both overwrite: a re-run is the
        same)."""
        policy_arn = hosting.put_scaling_policy(self.policy_request(target))
        hosting.put_metric_alarm(self.alarm_request(policy_arn))
        log(
            f"Scale-out from zero: alarm {self.alarm_name} ({self.metric_name} >= {self.threshold:g}) adds {self.adjustment} instance"
        )


# Messages users act on: (problem, fix), the problem's {fields} filled in where raised.
BOUND_MISSING = ("is required when the other autoscaling bound is set", "Set both bounds.")
BOUNDS_CROSSED = (
    "{low} is above autoscaling-max-instances {high}",
    "Make the minimum at most the maximum.",
)


def policy_inputs(values: InputValues) -> tuple[float, int, int]:
    """deploy-endpoint's target and its scale-in and scale-out cooldowns, checked."""
    return (
        positive_number(
            "target-invocations-per-instance", values["target-invocations-per-instance"]
        ),
        whole_number("scale-in-cooldown-seconds", values["scale-in-cooldown-seconds"], 0, 86400),
        whole_number("scale-out-cooldown-seconds", values["scale-out-cooldown-seconds"], 0, 86400),
    )


def instance_scaling(
    values: InputValues,
    endpoint: str,
    variant: str,
    policy: tuple[float, int, int],
    max_instances: int,
    lowest: int = 1,
) -> TargetTracking | None:
    """deploy-endpoint's autoscaling-min/max-instances: None when neither is set. `lowest`
    is the smallest minimum (0 only for an async variant, which can scale to zero)."""
    minimum, maximum = values["autoscaling-min-instances"], values["autoscaling-max-instances"]
    if not (minimum or maximum):
        return None
    if not (minimum and maximum):
        missing = "autoscaling-max-instances" if minimum else "autoscaling-min-instances"
        raise InputError(missing, *BOUND_MISSING)
    low = whole_number("autoscaling-min-instances", minimum, lowest, max_instances)
    high = whole_number("autoscaling-max-instances", maximum, 1, max_instances)
    if low > high:
        problem, fix = BOUNDS_CROSSED
        raise InputError("autoscaling-min-instances", problem.format(low=low, high=high), fix)
    return TargetTracking(endpoint, variant, (low, high), *policy)


def suspend(
    hosting: ScalingCalls,
    endpoint: str,
    variant: str,
    live: dict[str, Any] | None,
    log: Callable[[str], None],
    why: str,
) -> None:
    """Take the variant out of autoscaling before an update that changes its instance type.

    SageMaker guide, "Update endpoints that use auto scaling": "If the update would change the
    instance type for any model that is a target for auto scaling, the update fails"; the
    documented procedure deletes the policies, deregisters the target, updates, registers again.
    """
    resource = resource_id(endpoint, variant)
    for name in (live or {}).get("Policies") or {}:
        hosting.delete_scaling_policy(name, resource)
    hosting.deregister_scalable_target(resource)
    log(f"Deregistered autoscaling of {resource} ({live_text(endpoint, live)}): {why}")


def restore(
    hosting: ScalingCalls,
    endpoint: str,
    variant: str,
    live: dict[str, Any] | None,
    log: Callable[[str], None],
    asked: TargetTracking | None = None,
) -> None:
    """Register the variant again after `suspend`: with `asked`'s limits and policy when given,
    else the live ones; every other live policy as it was."""
    live = live or {}
    if asked:
        asked.apply(hosting, log)
    else:
        hosting.register_scalable_target({k: live[k] for k in _TARGET_FIELDS if k in live})
    policies = live.get("Policies") or {}
    for name, policy in policies.items():
        if not asked or name != asked.policy_name:
            hosting.put_scaling_policy({k: policy[k] for k in _POLICY_FIELDS if k in policy})
    if not asked:
        count = len(policies)
        log(
            f"Registered autoscaling of {resource_id(endpoint, variant)} again as it was: {live_text(endpoint, live)} ({count} polic{'y' if count == 1 else 'ies'})"
        )
