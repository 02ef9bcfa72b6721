"""Moving an endpoint to another endpoint config: SageMaker's blue/green update (all at once,
canary or linear) with alarm-based auto-rollback, and the one loop that waits for an endpoint
to settle. deploy-endpoint rolls out a new version with it, enable-monitor switches data
capture on with it, smoke-test reverts a bad version with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from smgha.errors import InputError, StageError
from smgha.progress import Waiting
from smgha.resources.hosting import CaptureChange

STRATEGIES = ("all-at-once", "canary", "linear")

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
# (CanarySize above), so the fleet needs two instances. See canary_size for the rounding.
MIN_CANARY_FLEET = 2

# DescribeEndpoint's EndpointStatus values after which nothing more happens on its own.
SETTLED_STATUSES = ("InService", "Failed", "OutOfService")


class EndpointUpdates(Protocol):
    """The calls a rollout makes (the hosting area of a backend has them)."""

    def describe_endpoint(self, name: str) -> dict[str, Any] | None: ...

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None: ...


@dataclass(frozen=True)
class BlueGreen:
    """How traffic moves from the old fleet to the new one, and for how long alarms are watched."""

    strategy: str = "all-at-once"  # one of STRATEGIES
    canary_percent: int = 10
    linear_step_percent: int = 25
    wait_seconds: int = 0  # after each traffic shift
    termination_wait_seconds: int = 0  # the old fleet kept after all traffic moved
    timeout_seconds: float = DEPLOYMENT_TIMEOUT_SECONDS[0]

    def waits(self) -> tuple[int, str]:
        """The seconds the update waits in all, and their terms for a message.

        Canary and all-at-once wait once, then the termination wait; linear waits once per
        step (a wait after the last step too: the stricter count, as the service does not say).
        """
        wait, termination = self.wait_seconds, self.termination_wait_seconds
        if self.strategy == "linear":
            steps = math.ceil(100 / self.linear_step_percent)
            terms = f"{steps} steps × wait-seconds {wait} + termination-wait-seconds {termination}"
            return steps * wait + termination, terms
        return wait + termination, f"wait-seconds {wait} + termination-wait-seconds {termination}"

    def check_limits(self, alarms: int) -> None:
        """The limits only the service checks (MaximumExecutionTimeoutInSeconds, the waits it
        must hold, AlarmList), refused before anything is touched. The errors name the action
        inputs these settings come from (deploy-endpoint's)."""
        low, high = DEPLOYMENT_TIMEOUT_SECONDS
        timeout, strategy = self.timeout_seconds, self.strategy
        if timeout > high:
            raise InputError(
                "timeout-minutes",
                f"must be at most {high // 60}, got {timeout / 60:g}: SageMaker stops an update after {low}-{high} s (MaximumExecutionTimeoutInSeconds)",
                f"Set timeout-minutes to at most {high // 60}.",
            )
        waits, terms = self.waits()
        if waits >= high:
            raise InputError(
                "wait-seconds",
                f"the {strategy} update would wait {terms} = {waits} s, which does not fit in the {high} s SageMaker lets an update run (MaximumExecutionTimeoutInSeconds)",
                "Lower wait-seconds or termination-wait-seconds"
                + (", or raise linear-step-percent." if strategy == "linear" else "."),
            )
        if timeout <= waits:
            raise InputError(
                "timeout-minutes",
                f"must exceed the {waits} s the {strategy} update waits ({terms}), got {timeout / 60:g} minutes",
                f"Set timeout-minutes from {waits // 60 + 1} to {high // 60} (the new fleet's start-up counts too).",
            )
        if alarms > MAX_ROLLBACK_ALARMS:
            raise InputError(
                "alarms",
                f"names {alarms} alarms; an update rolls back on at most {MAX_ROLLBACK_ALARMS} (AutoRollbackConfiguration)",
                f"Name 1 to {MAX_ROLLBACK_ALARMS} alarms, or none for the stage's own two.",
            )

    def to_request(self, alarms: list[str], fleet: int | None = None) -> dict[str, Any]:
        """UpdateEndpoint's DeploymentConfig; `fleet` is the new fleet's instance count when
        known (a canary's size depends on it), `alarms` roll the update back."""
        routing: dict[str, Any] = {
            "Type": self.strategy.upper().replace("-", "_"),
            "WaitIntervalInSeconds": self.wait_seconds,
        }
        if self.strategy == "canary":
            routing["CanarySize"] = canary_size(self.canary_percent, fleet)[0]
        elif self.strategy == "linear":
            routing["LinearStepSize"] = {
                "Type": "CAPACITY_PERCENT",
                "Value": self.linear_step_percent,
            }
        config: dict[str, Any] = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": self.termination_wait_seconds,
                # At least the minimum; deploy-endpoint refuses more than the maximum, or not
                # more than the waits, before anything is created.
                "MaximumExecutionTimeoutInSeconds": max(
                    DEPLOYMENT_TIMEOUT_SECONDS[0], int(self.timeout_seconds)
                ),
            }
        }
        if alarms:
            config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
        return config


def canary_size(percent: int, fleet: int | None) -> tuple[dict[str, Any], str]:
    """The CanarySize of an update whose new fleet has `fleet` instances, and a notice when
    it is not the percentage asked.

    The guide says only that the canary "should be less than or equal to 50% of the new
    fleet's capacity"; how SageMaker rounds a percentage of a small fleet (10 % of 2 instances
    is 0.2 of one) is not documented. The stricter reading: the canary is a whole number of
    instances, at least 1 and at most half the fleet, whichever way it rounds. A percentage
    that is a whole number of instances is sent as it is; any other is sent as an exact
    INSTANCE_COUNT, rounded down (rounding up can pass half: 50 % of 3 is 1.5) and at least 1.
    A fleet under MIN_CANARY_FLEET has no such canary: deploy-endpoint refuses it.
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


def rollback_alarm_requests(
    endpoint: str, variant: str, max_latency_ms: float
) -> list[dict[str, Any]]:
    """The alarms an update rolls back on when the user names none: any 5XX error, a slow model."""
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint},
        {"Name": "VariantName", "Value": variant},
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
        {**common, "AlarmName": f"{endpoint}-invocation-5xx-errors", "AlarmDescription": "smgha: roll back an update that answers with 5XX errors", "MetricName": "Invocation5XXErrors", "Statistic": "Sum", "Threshold": 0.0},
        {**common, "AlarmName": f"{endpoint}-model-latency", "AlarmDescription": f"smgha: roll back an update whose model takes over {max_latency_ms:g} ms", "MetricName": "ModelLatency", "Statistic": "Average", "Threshold": max_latency_ms * 1000.0},
    ]  # fmt: skip


# ---- the one wait -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Polling:
    """Seconds between two DescribeEndpoint calls: `first`, doubled each round up to `most`
    (equal values give a steady pace)."""

    first: float
    most: float

    @classmethod
    def steady(cls, seconds: float) -> Polling:
        return cls(seconds, seconds)


@dataclass(frozen=True)
class Settled:
    """How a wait ended: the last DescribeEndpoint record, and whether time ran out first."""

    record: dict[str, Any]
    seconds: float
    timed_out: bool

    @property
    def status(self) -> str:
        return str(self.record.get("EndpointStatus", "missing"))


def _status_line(record: dict[str, Any]) -> str:
    """The status, with the new fleet's traffic share while a blue/green update shifts it."""
    status = str(record.get("EndpointStatus", "missing"))
    pending = record.get("PendingDeploymentSummary") or {}
    shares = [v.get("CurrentWeight") for v in pending.get("ProductionVariants") or []]
    if shares and shares[0] is not None:
        return f"{status}, new fleet weight {shares[0]:g}"
    return status


def wait_until_settled(
    hosting: EndpointUpdates,
    endpoint: str,
    timeout_seconds: float,
    polling: Polling,
    log: Callable[[str], None],
    *,
    on_config: str = "",
    tolerate_errors: bool = False,
    waiting: Waiting | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Settled:
    """Poll the endpoint until its status is one of SETTLED_STATUSES (and, with `on_config`,
    InService counts only on that config), or until `timeout_seconds` have passed; never
    sleeps past the deadline. Each change of status is logged; `waiting` (by default one for
    the endpoint) prints a line when nothing changed for 30 s. With `tolerate_errors`, a
    DescribeEndpoint that raises is a status to wait through (a rollback must not give up on
    one throttled call); otherwise it propagates."""
    started = clock()
    deadline = started + timeout_seconds
    waiting = waiting or Waiting(endpoint, log, clock)
    delay, last = polling.first, ""
    while True:
        try:
            record = hosting.describe_endpoint(endpoint) or {}
        except Exception as error:
            if not tolerate_errors:
                raise
            record = {"EndpointStatus": f"unknown ({type(error).__name__}: {error})"}
        line = _status_line(record)
        if line != last:
            log(f"[{int(clock() - started)}s] {endpoint}: {line}")
            waiting.printed()
            last = line
        status = record.get("EndpointStatus")
        on_target = not on_config or record.get("EndpointConfigName") == on_config
        if status in SETTLED_STATUSES and (on_target or status != "InService"):
            return Settled(record, clock() - started, timed_out=False)
        now = clock()
        if now >= deadline:
            return Settled(record, now - started, timed_out=True)
        waiting.tick(line)
        sleep(min(waiting.pause(delay), deadline - now))
        delay = min(delay * 2, polling.most)


@dataclass(frozen=True)
class Reverted:
    """The outcome of putting an endpoint back on an earlier config."""

    config: str
    done: bool
    detail: str


def revert(
    hosting: EndpointUpdates,
    endpoint: str,
    config: str,
    timeout_seconds: float,
    polling: Polling,
    log: Callable[[str], None],
    waiting: Waiting | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Reverted:
    """Update the endpoint to `config` at once (no blue/green: the live version is the bad
    one) and wait until it is InService on it. A failure is reported, never raised: the
    caller is already failing and says both."""
    record = hosting.describe_endpoint(endpoint) or {}
    if record.get("EndpointConfigName") == config:
        return Reverted(
            config, False, f"the endpoint is already on {config}: nothing to roll back to"
        )
    try:
        hosting.update_endpoint(endpoint, config, None)
    except Exception as error:
        return Reverted(config, False, f"UpdateEndpoint failed: {type(error).__name__}: {error}")
    settled = wait_until_settled(
        hosting, endpoint, timeout_seconds, polling, log, on_config=config,
        tolerate_errors=True, waiting=waiting, sleep=sleep, clock=clock,
    )  # fmt: skip
    if settled.timed_out:
        return Reverted(
            config,
            False,
            f"the endpoint is still {settled.status} {timeout_seconds / 60:g} min after the update to {config}",
        )
    if settled.status != "InService":
        reason = settled.record.get("FailureReason") or "no reason given"
        return Reverted(config, False, f"the update to {config} failed: {reason}")
    return Reverted(config, True, f"InService on {config} after {settled.seconds:.0f} s")


def move_at_once(
    hosting: EndpointUpdates,
    endpoint: str,
    config: str,
    timeout_seconds: float,
    poll_seconds: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Move the endpoint to `config` all at once with no waits (the same model, another
    setting such as data capture) and wait until it is InService on it; StageError if not."""
    change = BlueGreen(timeout_seconds=timeout_seconds)
    hosting.update_endpoint(endpoint, config, change.to_request([]))
    settled = wait_until_settled(
        hosting, endpoint, timeout_seconds, Polling.steady(poll_seconds), log,
        sleep=sleep, clock=clock,
    )  # fmt: skip
    record, status = settled.record, settled.status
    if settled.timed_out:
        raise StageError(
            "timed out", f"{endpoint} is still {status} after {timeout_seconds / 60:g} minutes"
        )
    if status != "InService" or record.get("EndpointConfigName") != config:
        reason = record.get("FailureReason") or "no reason given"
        raise StageError(
            "the update failed",
            f"{endpoint} is {status} on {record.get('EndpointConfigName')}: {reason}",
        )


class CaptureCalls(EndpointUpdates, Protocol):
    def create_endpoint_config(self, request: dict[str, Any]) -> None: ...


def turn_capture_on(
    hosting: CaptureCalls,
    endpoint: str,
    change: CaptureChange,
    timeout_seconds: float,
    poll_seconds: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Create the config that captures (unless an earlier run did) and move the endpoint to it
    at once; nothing when the live config captures already."""
    if change.request is None:
        log(f"Data capture is on ({change.capture_uri}): left alone")
        return
    if not change.exists:
        hosting.create_endpoint_config(change.request)
        log(f"Created endpoint config {change.config_name} (live config + data capture)")
    percent = (change.request.get("DataCaptureConfig") or {}).get("InitialSamplingPercentage")
    log(
        f"Updating {endpoint} to {change.config_name} (all at once) to capture {percent} % to {change.capture_uri}"
    )
    try:
        move_at_once(
            hosting, endpoint, change.config_name, timeout_seconds, poll_seconds, log, sleep, clock
        )
    except StageError as error:
        title = "timed out" if error.title == "timed out" else "turning on data capture failed"
        raise StageError(title, error.detail) from None
    log(f"{endpoint} is InService on {change.config_name}")
