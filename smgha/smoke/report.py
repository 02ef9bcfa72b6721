"""The outcome of a smoke test (SmokeResult) and what is made of it: the JSON report, the
job summary's tables, and the one error that fails the step. Pure: the stage writes them
(the report file, the outputs, the summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.errors import StageError
from smgha.resources.rollout import Reverted
from smgha.smoke.checks import Check
from smgha.smoke.functional import FunctionalResult, RegressionErrors, RowResult, excerpt
from smgha.smoke.load import LoadResult, rounded
from smgha.smoke.passes import SmokePlan

EXAMPLES = 10  # failing rows kept in the report


@dataclass
class SmokeResult:
    endpoint: dict[str, Any]
    started: str
    ended: str
    functional: FunctionalResult
    load: LoadResult | None
    load_skipped: str
    checks: list[Check]
    accuracy: float | None  # a binary classifier's, on the labelled rows
    regression: RegressionErrors | None  # a regression model's RMSE and MAE on them
    rollback: Reverted | None = None  # the revert to the previous config, when one ran
    invocation: str = "real-time"  # or "async": InvokeEndpointAsync (smoke/async_passes.py)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def output_number(value: float | None, digits: int = 3) -> str:
    """A measurement as a step output: rounded, or '' when it was not taken."""
    return "" if value is None else f"{round(value, digits):g}"


def report_document(
    result: SmokeResult, plan: SmokePlan, backend: str, region: str
) -> dict[str, Any]:
    """The JSON report."""
    functional = result.functional
    failures = functional.failures
    return {
        "endpoint": plan.endpoint_name,
        "endpoint_config": result.endpoint.get("EndpointConfigName", ""),
        "backend": backend,
        "region": region,
        "started": result.started,
        "ended": result.ended,
        "payloads": str(plan.payloads.path),
        "content_type": plan.content_type,
        "invocation": result.invocation,
        "checks": [check.as_dict() for check in result.checks],
        "functional": {
            "rows": functional.rows,
            "sent": len(functional.results),
            "failed": len(failures),
            "seconds": round(functional.seconds, 3),
            "first_request_ms": rounded(functional.first_and_warm_ms()[0], 3),
            "warm_median_ms": rounded(functional.first_and_warm_ms()[1], 3),
            "failures": [
                {
                    "row": r.row.number,
                    "line": r.row.line,
                    "check": r.failed,
                    "reason": r.reason,
                    "payload": excerpt(r.request),
                    "response": excerpt(r.response),
                }
                for r in failures[:EXAMPLES]
            ],
        },
        "load": (
            result.load.as_dict()
            if result.load
            else {
                "requests": plan.requests,
                "completed": 0,
                "concurrency": plan.concurrency,
                **dict.fromkeys(("p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate")),
                "throughput_rps": None,
                "by_variant": {},
                "skipped": result.load_skipped,
            }
        ),
        "task": plan.task,
        "accuracy": rounded(result.accuracy, 4),
        "rmse": rounded(result.regression.rmse, 6) if result.regression else None,
        "mae": rounded(result.regression.mae, 6) if result.regression else None,
        "passed": result.passed,
        "rolled_back": bool(result.rollback and result.rollback.done),
        "rollback": (
            {
                "endpoint_config": result.rollback.config,
                "done": result.rollback.done,
                "detail": result.rollback.detail,
            }
            if result.rollback
            else None
        ),
    }


def failure(result: SmokeResult, report_path: Path) -> StageError | None:
    """The one error that fails the step: the failed checks, and what the rollback did."""
    failed = result.failed_checks
    if not failed:
        return None
    parts = ["; ".join(f"{check.name}: {check.detail}" for check in failed)]
    if result.rollback and result.rollback.done:
        parts.append(f"Rolled back to {result.rollback.config}")
    elif result.rollback:
        parts.append(
            f"Rollback to {result.rollback.config} did not happen: {result.rollback.detail}"
        )
    parts.append(f"Report: {report_path}")
    detail = ". ".join(parts)
    return StageError(f"{len(failed)} check(s) failed", detail)


# ---- the job summary's text (the stage writes it) -------------------------------------------


def verdict(result: SmokeResult) -> str:
    failed = result.failed_checks
    return "✅ passed" if not failed else f"❌ {len(failed)} of {len(result.checks)} checks failed"


def load_table(load: LoadResult) -> tuple[list[str], list[list[str]]]:
    """The summary's table of the load test: its columns and its one row."""
    columns = ["Calls", "Concurrency", "p50", "p95", "p99", "max", "Error rate", "Throughput"]
    row = [
        f"{load.completed}/{load.requests}",
        str(load.concurrency),
        *(_ms(v) for v in (load.p50_ms, load.p95_ms, load.p99_ms, load.max_ms)),
        f"{load.error_rate:.2%}" if load.error_rate is not None else "–",
        f"{load.throughput_rps:.1f}/s" if load.throughput_rps is not None else "–",
    ]
    return columns, [row]


def first_request_text(first_ms: float | None, warm_ms: float | None) -> str:
    """The summary's line on the first request against the warm ones (a cold start shows)."""
    if first_ms is None:
        return "First request: none sent."
    warm = (
        f"; the {_ms(warm_ms)} median of the functional pass after it"
        if warm_ms is not None
        else ""
    )
    return f"First request: {_ms(first_ms)} (a serverless endpoint that scaled to zero pays its cold start here){warm}."


def failure_table(failures: list[RowResult]) -> tuple[list[str], list[list[str]]]:
    """The summary's table of failed rows: its columns and the first EXAMPLES rows."""
    rows = [
        [str(r.row.number), r.failed, r.reason, f"`{excerpt(r.request, 60)}`"]
        for r in failures[:EXAMPLES]
    ]
    return ["Row", "Check", "Reason", "Payload"], rows


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"
