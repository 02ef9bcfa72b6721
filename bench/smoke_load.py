"""Benchmark: smoke-test's load generator at concurrency 1, 4 and 8 (its wall time).

`smgha.smoke.load.load_test`, the function the stage runs, sends --requests calls
from N threads to an endpoint whose every answer takes --latency seconds: an in-process fake
(a sleep, then a constant score), so this measures the generator, not a model or HTTP. With
real concurrency the wall time at N is about 1/N of the time at 1; the table reports the
medians (min-max) of --repeat interleaved rounds and the speed-up over concurrency 1.

The unit test of the load generator proves its concurrency by the calls in flight at once;
the wall time it used to assert belongs here, where a loaded machine shows as a number and
not as a failed test.

    .venv/bin/python bench/smoke_load.py [--repeat 3] [--requests 200] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any, cast

import _common as c

from smgha.backends import Invocation
from smgha.smoke.load import load_test
from smgha.smoke.payloads import parse_payloads

CONCURRENCY = (1, 4, 8)


class FixedLatencyEndpoint:
    """Answers every call with 0.5 after `latency` seconds; counts the calls in flight."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def invoke_endpoint(
        self, endpoint: str, body: bytes, content_type: str, accept: str
    ) -> Invocation:
        started = time.perf_counter()
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.latency)
        with self.lock:
            self.in_flight -= 1
        return Invocation(200, b"0.5", "text/csv", "AllTraffic", time.perf_counter() - started)


def one_run(requests: int, concurrency: int, latency: float, rows: Any) -> dict[str, float]:
    endpoint = FixedLatencyEndpoint(latency)
    started = time.perf_counter()
    result = load_test(
        cast(Any, endpoint),
        "bench",
        rows,
        "text/csv",
        requests,
        concurrency,
        time.monotonic() + 600,
    )
    wall = time.perf_counter() - started
    if result.completed != requests or result.errors:
        raise RuntimeError(f"{result.completed} of {requests} calls, {result.errors} errors")
    return {"seconds": wall, "max_in_flight": float(endpoint.max_in_flight)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per answer")
    args = parser.parse_args()

    rows = parse_payloads(Path("bench.csv"), "0.1,0.2,0.3\n0.4,0.5,0.6\n").rows
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in CONCURRENCY}
    for round_number in range(1, args.repeat + 1):
        for n in CONCURRENCY:
            c.progress(f"round {round_number}: concurrency {n}")
            runs[n].append(one_run(args.requests, n, args.latency, rows))

    serial = c.summary([r["seconds"] for r in runs[1]])["median"]
    table = []
    summary: dict[str, Any] = {}
    for n in CONCURRENCY:
        seconds = c.summary([r["seconds"] for r in runs[n]])
        in_flight = max(r["max_in_flight"] for r in runs[n])
        ideal = args.requests * args.latency / n
        summary[str(n)] = {"seconds": seconds, "max_in_flight": in_flight, "ideal": ideal}
        table.append(
            [
                n,
                c.fmt_seconds(seconds),
                f"{ideal:.2f} s",
                f"{serial / seconds['median']:.1f}×",
                f"{in_flight:.0f}",
            ]
        )
    markdown = "\n".join(
        [
            f"### smoke-test's load generator ({args.requests} calls of {args.latency * 1000:g} "
            f"ms each, median of {args.repeat})",
            "",
            c.markdown_table(
                ["Concurrency", "Wall time", "Ideal", "Speed-up over 1", "Calls in flight (max)"],
                table,
            ),
        ]
    )
    c.write_result("smoke_load", {"args": vars(args), "summary": summary}, markdown)


if __name__ == "__main__":
    main()
