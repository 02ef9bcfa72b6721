"""Every long wait prints a line at least every 30 s (smgha/progress.py), on a fake clock."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from smgha.progress import PROGRESS_SECONDS, Waiting, elapsed
from smgha.stages import deploy_endpoint, enable_monitor, smoke_test


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class TimedLog:
    """The lines a wait printed, each with the fake time it was printed at."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.lines: list[tuple[float, str]] = []

    def __call__(self, line: str) -> None:
        self.lines.append((self.clock.now, line))

    def longest_silence(self, start: float, end: float) -> float:
        times = [start, *(t for t, _ in self.lines), end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def test_the_helper_prints_after_30_quiet_seconds_and_counts_from_the_wait_s_own_lines() -> None:
    clock = FakeClock()
    log = TimedLog(clock)
    waiting = Waiting("churn-prod", log, clock)

    for _ in range(7):  # rounds every 10 s; the wait prints a line of its own at 40 s
        if clock.now == 40.0:
            log("churn-prod: Updating, new fleet weight 0.5")
            waiting.printed()
        waiting.tick("Updating")
        clock.sleep(waiting.pause(10.0))

    assert log.lines == [
        (30.0, "waiting for churn-prod: Updating (30s elapsed)"),
        (40.0, "churn-prod: Updating, new fleet weight 0.5"),
    ]
    assert elapsed(90) == "1m30s" and elapsed(3720) == "1h02m"


def test_a_poll_longer_than_the_interval_is_shortened_so_the_line_comes_in_time() -> None:
    clock = FakeClock()
    waiting = Waiting("x", lambda line: None, clock)
    clock.now = 25.0
    assert waiting.pause(45.0) == 5.0
    assert waiting.pause(3.0) == 3.0


class CanaryHosting:
    """An endpoint whose canary bakes for `bake` seconds at weight 0.1 (no change to print)."""

    def __init__(self, clock: FakeClock, bake: float, poll: float) -> None:
        self.clock = clock
        self.bake = bake
        self.poll_seconds = poll

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        if self.clock() < self.bake:
            return {
                "EndpointStatus": "Updating",
                "PendingDeploymentSummary": {"ProductionVariants": [{"CurrentWeight": 0.1}]},
            }
        return {"EndpointStatus": "InService", "EndpointConfigName": "new"}


@pytest.mark.parametrize("poll", [0.5, 20.0, 45.0])  # local, SageMaker, a slow poll
def test_a_canary_that_bakes_for_420_seconds_is_never_silent_for_more_than_30(
    poll: float,
) -> None:
    clock = FakeClock()
    log = TimedLog(clock)
    inputs = SimpleNamespace(endpoint_name="churn-prod", timeout_seconds=3600.0)

    record = deploy_endpoint._wait(
        cast(deploy_endpoint.Inputs, inputs),
        cast(Any, CanaryHosting(clock, 420.0, poll)),
        log,
        clock.sleep,
        clock,
    )

    assert record["EndpointStatus"] == "InService"
    assert log.longest_silence(0.0, clock.now) <= PROGRESS_SECONDS
    waiting = [line for _, line in log.lines if line.startswith("waiting for churn-prod: ")]
    assert len(waiting) >= 13  # 420 s / 30 s, less the lines of the status changes
    assert waiting[0].startswith("waiting for churn-prod: Updating, new fleet weight 0.1 (")


class SlowMonitoringHosting(CanaryHosting):
    def update_endpoint(self, *args: Any) -> None:
        pass


def test_turning_on_data_capture_prints_while_the_endpoint_updates() -> None:
    clock = FakeClock()
    log = TimedLog(clock)
    inputs = SimpleNamespace(
        endpoint_name="churn-prod", timeout_seconds=3600.0, data_capture_percent=100
    )
    monitoring = SimpleNamespace(
        config_request={"EndpointConfigName": "new"},
        config_exists=True,
        config_name="new",
        capture_uri="s3://b/capture",
    )

    enable_monitor._capture(
        cast(enable_monitor.Inputs, inputs),
        cast(enable_monitor.MonitorPlan, monitoring),
        cast(Any, SimpleNamespace(hosting=SlowMonitoringHosting(clock, 200.0, 20.0))),
        log,
        clock.sleep,
        clock,
    )

    assert log.longest_silence(0.0, clock.now) <= PROGRESS_SECONDS
    assert any(line.startswith("waiting for churn-prod: Updating (") for _, line in log.lines)


class SlowRollbackEndpoints:
    def __init__(self, clock: FakeClock, takes: float) -> None:
        self.clock = clock
        self.takes = takes
        self.config = "bad"

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        status = "InService" if self.clock() >= self.takes else "Updating"
        return {"EndpointStatus": status, "EndpointConfigName": self.config}

    def update_endpoint(self, name: str, config: str, policy: Any) -> None:
        self.config = config


def test_a_long_rollback_prints_while_it_waits() -> None:
    clock = FakeClock()
    log = TimedLog(clock)

    result = smoke_test.rollback(
        cast(Any, SlowRollbackEndpoints(clock, 150.0)),
        "churn-prod",
        "good",
        600,
        clock.sleep,
        clock,
        Waiting("the rollback of churn-prod", log, clock),
    )

    assert result.done
    assert log.longest_silence(0.0, clock.now) <= PROGRESS_SECONDS
    assert log.lines[0] == (30.0, "waiting for the rollback of churn-prod: Updating (30s elapsed)")
