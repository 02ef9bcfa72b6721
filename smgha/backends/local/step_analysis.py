"""The local deployer's analysis between traffic steps (smgha/resources/step_analysis.py says
what is judged and why): the pre-traffic test, sent to the new fleet alone through the
server's target-variant header before any live traffic moves (the routing's random traffic
never picks a variant of weight 0, so only these requests reach it), and each step's
comparison of the new fleet with the old one over the step's window, from the server's
per-variant metrics.
"""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smgha.backends import Invocation
from smgha.backends.local import state
from smgha.backends.local.serving.http_server import TARGET_VARIANT_HEADER
from smgha.resources import step_analysis
from smgha.resources.step_analysis import FAIL, PASS, FleetWindow, Settings
from smgha.smoke.functional import FunctionalResult, accuracy, check_response
from smgha.smoke.payloads import encode, parse_payloads

TIMEOUT = 30.0  # seconds a pre-traffic request may take before it counts as unanswered
TOLERANCE = 1e-4  # of a payload's "expected" prediction: smoke-test's default tolerance


def pre_traffic_verdict(
    settings: Settings | None, folder: Path, green: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Send every pre-traffic payload to the new fleet (`green`, served by the server of the
    endpoint `folder`) and judge the answers: each one finite prediction (smoke-test's row
    checks) within max-latency-ms, and the accuracy on labelled rows at least
    pre-traffic-min-accuracy. None: no pre-traffic test."""
    if settings is None or not settings.pre_traffic_text:
        return None
    port = int(state.read_json(folder / state.SERVER_FILE)["port"])
    variant = green[0]["VariantName"]  # a deployment's config has one variant
    payloads = parse_payloads(Path(settings.pre_traffic_file), settings.pre_traffic_text)
    results, reasons = [], []
    wide_open = (-math.inf, math.inf)  # any finite prediction: the model's range is its own
    for row in payloads.rows:
        body = encode(row, settings.content_type)
        answer = _invoke(port, variant, body, settings.content_type)
        result = check_response(row, body, answer, settings.content_type, wide_open, TOLERANCE)
        results.append(result)
        if result.failed:
            reasons.append(f"row {row.number}: {result.reason}")
        elif 1000 * answer.seconds > settings.max_latency_ms:
            reasons.append(
                f"row {row.number}: answered in {1000 * answer.seconds:.1f} ms > max-latency-ms {settings.max_latency_ms:g}"
            )
    score = accuracy(payloads, FunctionalResult(tuple(results), len(payloads.rows), 0.0, False))
    if settings.min_accuracy is not None and score is not None and score < settings.min_accuracy:
        reasons.append(f"accuracy {score:.4f} < pre-traffic-min-accuracy {settings.min_accuracy:g}")
    latencies = [1000 * r.seconds for r in results]
    errors = sum(1 for r in results if r.failed == "status")
    return {
        "Step": 0,
        "TrafficPercent": 0.0,
        "WindowSeconds": round(sum(latencies) / 1000, 1),
        "Invocations": len(results),
        "ErrorRate": errors / len(results),
        "OldErrorRate": None,
        "LatencyMs": sum(latencies) / len(latencies),
        "OldLatencyMs": None,
        "Verdict": FAIL if reasons else PASS,
        "Reason": "; ".join(reasons[:3])
        + (f"; {len(reasons) - 3} more" if len(reasons) > 3 else ""),
    }


def _invoke(port: int, variant: str, body: bytes, content_type: str) -> Invocation:
    """POST /invocations to one variant; a request that fails is an answer with status 0."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    started = time.perf_counter()
    headers = {"Content-Type": content_type, "Accept": content_type, TARGET_VARIANT_HEADER: variant}
    try:
        connection.request("POST", "/invocations", body, headers)
        response = connection.getresponse()
        payload = response.read()
        answered = response.getheader("Content-Type") or ""
        return Invocation(
            response.status, payload, answered, variant, time.perf_counter() - started
        )
    except (OSError, http.client.HTTPException) as error:
        message = f"{type(error).__name__}: {error}".encode()
        return Invocation(0, message, "", variant, time.perf_counter() - started)
    finally:
        connection.close()


def step_verdict(
    settings: Settings | None,
    get: Callable[[str], Any],
    fleets: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    at: tuple[int, float, float],
    statistic: Statistic,
) -> dict[str, Any] | None:
    """Judge a step at the end of its wait: at = (step number, share % of traffic on the new
    fleet, time.time() of the shift); fleets = (old fleet's variants, new fleet's). `get` is
    the deployer's GET of its server (the `/_smgha/metrics?since=` window), `statistic` its
    fleet_statistic (the alarms' reading of the same answer). None: no step checks."""
    if settings is None or not settings.steps_checked:
        return None
    step, share, shifted = at
    metrics, seconds = get(f"/_smgha/metrics?since={shifted}"), time.time() - shifted
    old, new = ([v["VariantName"] for v in fleet] for fleet in fleets)

    def window(names: list[str]) -> FleetWindow:
        def total(metric: str) -> int:
            return int(statistic(metrics, names, metric, "Sum") or 0)

        errors = total("Invocation4XXErrors") + total("Invocation5XXErrors")
        latency = statistic(metrics, names, "ModelLatency", "Average")
        return FleetWindow(total("Invocations"), errors, latency)

    return step_analysis.judge(settings, step, share, seconds, window(new), window(old))


# The deployer's fleet_statistic: (metrics answer, variant names, metric, statistic) -> value.
Statistic = Callable[[Any, list[str], str, str], "float | None"]
