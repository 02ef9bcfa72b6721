"""Per-variant invocation metrics (CloudWatch's), kept in memory for GET /_smgha/metrics."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

# ModelLatency samples kept per variant for percentiles: 40 s of traffic at 200 req/s.
LATENCY_SAMPLES = 8192
# Per-second invocation counters kept per variant, so windowed counts are exact to a second.
COUNTER_SECONDS = 3600


class VariantMetrics:
    """CloudWatch's per-variant invocation metrics, kept in memory.

    Counters are cumulative and also kept per second for the last COUNTER_SECONDS, so a
    window's counts are exact to the second; ModelLatency keeps the last LATENCY_SAMPLES
    (time, microseconds) samples, enough for an average and percentiles over a recent window.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        # [second, invocations, 4xx, 5xx], oldest first; only seconds that saw traffic.
        self.seconds: deque[list[int]] = deque()
        self.latencies: deque[tuple[float, int]] = deque(maxlen=LATENCY_SAMPLES)

    def record(self, now: float, status: int, latency_us: int | None) -> None:
        second = int(now)
        is_4xx, is_5xx = 400 <= status < 500, status >= 500
        with self.lock:
            self.invocations += 1
            self.errors_4xx += is_4xx
            self.errors_5xx += is_5xx
            if self.seconds and self.seconds[-1][0] == second:
                bucket = self.seconds[-1]
                bucket[1] += 1
                bucket[2] += is_4xx
                bucket[3] += is_5xx
            else:
                self.seconds.append([second, 1, int(is_4xx), int(is_5xx)])
                while self.seconds[0][0] <= second - COUNTER_SECONDS:
                    self.seconds.popleft()
            if latency_us is not None:
                self.latencies.append((now, latency_us))

    def cumulative(self) -> dict[str, Any]:
        with self.lock:
            return {
                "Invocations": self.invocations,
                "Invocation4XXErrors": self.errors_4xx,
                "Invocation5XXErrors": self.errors_5xx,
                "ModelLatency": [[round(t, 6), us] for t, us in self.latencies],
            }

    def window(self, since: float) -> dict[str, Any]:
        """Counts from the second of `since` on, and ModelLatency statistics (microseconds)
        of the samples at or after `since`. ModelLatency.Complete is false when older samples
        were already dropped: the statistics then cover the last SampleCount requests only."""
        first_second = math.floor(since)
        with self.lock:
            buckets = [b for b in self.seconds if b[0] >= first_second]
            samples = sorted(us for t, us in self.latencies if t >= since)
            complete = len(self.latencies) < LATENCY_SAMPLES or self.latencies[0][0] < since
        latency: dict[str, Any] = {"SampleCount": len(samples), "Complete": complete}
        if samples:  # no data point: no statistic (as CloudWatch, and alarms stay OK)
            latency.update(
                Average=sum(samples) / len(samples),
                Minimum=samples[0],
                Maximum=samples[-1],
                p50=_percentile(samples, 50),
                p90=_percentile(samples, 90),
                p99=_percentile(samples, 99),
            )
        return {
            "Invocations": sum(b[1] for b in buckets),
            "Invocation4XXErrors": sum(b[2] for b in buckets),
            "Invocation5XXErrors": sum(b[3] for b in buckets),
            "ModelLatency": latency,
        }


def _percentile(ordered: list[int], percent: float) -> int:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


class Metrics:
    """VariantMetrics by variant name, kept for the server's lifetime: a variant's numbers
    survive reloads (as CloudWatch's are keyed by endpoint and variant name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, VariantMetrics] = {}

    def variant(self, name: str) -> VariantMetrics:
        with self._lock:
            return self._by_name.setdefault(name, VariantMetrics())

    def names(self) -> list[str]:
        with self._lock:
            return list(self._by_name)
