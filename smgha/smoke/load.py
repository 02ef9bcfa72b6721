"""The load test: `requests` calls from `concurrency` threads, the payload rows sent
round-robin, and what they measured: nearest-rank latency percentiles, the error rate, the
throughput, and which variant answered.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from smgha.backends import Invocation
from smgha.progress import Waiting
from smgha.smoke.functional import FunctionalResult, Invoker, excerpt, invoke
from smgha.smoke.payloads import Row, encode


@dataclass(frozen=True)
class LoadResult:
    requests: int  # asked for
    completed: int
    concurrency: int  # threads used
    seconds: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int  # calls not answered with HTTP 200
    error_rate: float | None
    throughput_rps: float | None
    timed_out: bool
    by_variant: dict[str, int] = field(default_factory=dict)
    errors_by_status: dict[str, int] = field(default_factory=dict)
    first_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "completed": self.completed,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "p50_ms": rounded(self.p50_ms),
            "p95_ms": rounded(self.p95_ms),
            "p99_ms": rounded(self.p99_ms),
            "max_ms": rounded(self.max_ms),
            "errors": self.errors,
            "error_rate": rounded(self.error_rate, 4),
            "throughput_rps": rounded(self.throughput_rps, 2),
            "timed_out": self.timed_out,
            "by_variant": self.by_variant,
            "errors_by_status": self.errors_by_status,
            "first_error": self.first_error,
            "skipped": "",
        }


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values (None for none): a value that was measured."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def load_test(
    endpoints: Invoker,
    endpoint: str,
    rows: Sequence[Row],
    content_type: str,
    requests: int,
    concurrency: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    waiting: Waiting | None = None,
) -> LoadResult:
    """`requests` calls from `concurrency` threads sharing one counter, sending the rows
    round-robin. A thread takes no new call once the deadline has passed (a call in flight
    ends on the backend's own timeout). Latency is each call's wall time as the backend
    measured it; every call counts, answered or not."""
    bodies = [encode(row, content_type) for row in rows]
    lock = threading.Lock()
    taken = 0
    timed_out = False
    samples: list[Invocation] = []

    def worker() -> None:
        nonlocal taken, timed_out
        while True:
            with lock:
                if taken >= requests:
                    return
                if clock() >= deadline:
                    timed_out = True
                    return
                index = taken
                taken += 1
            answer = invoke(endpoints, endpoint, bodies[index % len(bodies)], content_type, clock)
            with lock:
                samples.append(answer)
                if waiting:
                    waiting.tick(f"{len(samples)} of {requests} calls answered")

    threads = max(1, min(concurrency, requests))
    started = clock()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="smoke-test") as pool:
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()
    seconds = clock() - started

    latencies = sorted(sample.seconds * 1000 for sample in samples)
    failed = [sample for sample in samples if sample.status != 200]
    by_status = Counter(str(sample.status or "no response") for sample in failed)
    first_error = next((excerpt(s.body) for s in failed if s.status == 0), "")
    return LoadResult(
        requests=requests,
        completed=len(samples),
        concurrency=threads,
        seconds=seconds,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else None,
        errors=len(failed),
        error_rate=len(failed) / len(samples) if samples else None,
        throughput_rps=len(samples) / seconds if seconds > 0 else None,
        timed_out=timed_out,
        by_variant=dict(sorted(Counter(s.variant or "(unknown)" for s in samples).items())),
        errors_by_status=dict(sorted(by_status.items())),
        first_error=first_error,
    )


def load_skipped(requests: int, functional: FunctionalResult) -> str:
    """Why the load test does not run ('' when it does): it only follows a clean functional
    pass, since an endpoint that answers wrongly is not worth loading."""
    if requests == 0:
        return "requests: 0"
    if functional.timed_out:
        return "the functional pass did not finish in time"
    if functional.failures:
        return "the functional pass failed"
    return ""


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A measurement as the report gives it: rounded, or None when it was not taken."""
    return None if value is None else round(value, digits)
