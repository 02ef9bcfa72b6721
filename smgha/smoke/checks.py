"""The checks of a smoke test, in the order they are shown: one per row check over every
answer, then accuracy (a binary classifier) or RMSE and MAE (a regression model), p99
latency and error rate when they apply, then whether both passes finished in time. Pure:
results in, checks out. And the readers of the inputs that set their thresholds
(prediction-range, tolerance, min-accuracy, max-rmse, max-mae, max-error-rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smgha.errors import InputError, shown
from smgha.inputs import decimal_number
from smgha.smoke.functional import (
    ROW_CHECKS,
    RegressionErrors,
    RowResult,
    accuracy,
    regression_errors,
)
from smgha.smoke.passes import Passes, SmokePlan
from smgha.smoke.payloads import BINARY_CLASSIFICATION, REGRESSION, Payloads

PREDICTION_RANGE_HINT = "E.g. prediction-range: 0,1 for probabilities."
NO_LABELS_HINT = 'Add labels (label-column: first for CSV, "label" in JSON lines), or drop {name}.'
# The bounds on the labelled rows that each task has a use for.
LABEL_BOUNDS = {BINARY_CLASSIFICATION: ("min-accuracy",), REGRESSION: ("max-rmse", "max-mae")}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


ROW_CHECK_WORDS = {
    "status": "answered HTTP 200",
    "content-type": "answered in the content type asked for",
    "shape": "held exactly one prediction",
    "prediction-range": "held a finite prediction in range",
    "expected": "matched the expected prediction",
}


def evaluate(plan: SmokePlan, passes: Passes) -> list[Check]:
    """Every check, in the order they are shown; pure."""
    functional, load = passes.functional, passes.load
    checks = []
    for name in ROW_CHECKS:
        if name == "expected" and not plan.payloads.has_expected:
            continue
        checks.append(_row_check(name, functional.results))
    score = accuracy(plan.payloads, functional)
    if plan.min_accuracy is not None and score is not None:
        labelled = sum(1 for row in plan.payloads.rows if row.label is not None)
        scored = sum(1 for r in functional.results if r.row.label is not None and r.usable)
        unscored = f", {labelled - scored} without a usable prediction counted wrong"
        relation = ">=" if score >= plan.min_accuracy else "<"
        checks.append(
            Check(
                "accuracy",
                score >= plan.min_accuracy,
                f"{score:.4f} {relation} {plan.min_accuracy:g} on {labelled} labelled rows{unscored if scored < labelled else ''}",
            )
        )
    if plan.task == REGRESSION:
        checks += _regression_checks(plan, regression_errors(plan.payloads, functional))
    if load is not None:
        if load.p99_ms is None:
            checks.append(Check("p99-latency", False, "no load-test call completed"))
        else:
            ok = load.p99_ms <= plan.max_p99_ms
            checks.append(
                Check(
                    "p99-latency",
                    ok,
                    f"p99 {load.p99_ms:.1f} ms {'<=' if ok else '>'} {plan.max_p99_ms:g} ms",
                )
            )
        if load.error_rate is None:
            checks.append(Check("error-rate", False, "no load-test call completed"))
        else:
            ok = load.error_rate <= plan.max_error_rate
            statuses = ", ".join(
                f"{'HTTP ' if code.isdigit() else ''}{code} ×{count}"
                for code, count in load.errors_by_status.items()
            )
            checks.append(
                Check(
                    "error-rate",
                    ok,
                    f"error rate {load.error_rate:.2%} {'<=' if ok else '>'} {plan.max_error_rate:.2%} ({load.errors} of {load.completed} calls failed{': ' + statuses if statuses else ''})",
                )
            )
    sent = f"{len(functional.results)} of {functional.rows} rows"
    if load is not None:
        sent += f" and {load.completed} of {load.requests} load-test calls"
    bound = f"{plan.timeout_seconds / 60:g} min"
    if functional.timed_out or (load is not None and load.timed_out):
        checks.append(Check("completed", False, f"stopped at the {bound} bound after {sent}"))
    else:
        checks.append(Check("completed", True, f"sent {sent} within {bound}"))
    return checks


def _regression_checks(plan: SmokePlan, errors: RegressionErrors | None) -> list[Check]:
    """The rmse and mae checks that have a bound. A labelled row without a usable prediction
    has no error to average in: it fails the check rather than being left out unseen."""
    checks = []
    for name, bound in (("rmse", plan.max_rmse), ("mae", plan.max_mae)):
        if bound is None:
            continue
        if errors is None:
            checks.append(Check(name, False, "not computed: no labelled row got a prediction"))
            continue
        value = errors.rmse if name == "rmse" else errors.mae
        relation = "<=" if value <= bound else ">"
        detail = f"{value:.6g} {relation} {bound:g} on {errors.scored} labelled rows"
        if errors.unscored:
            detail += f", {errors.unscored} more without a usable prediction fail it"
        checks.append(Check(name, value <= bound and not errors.unscored, detail))
    return checks


def _row_check(name: str, results: Sequence[RowResult]) -> Check:
    reached = [r for r in results if r.reached(name)]
    if name == "expected":
        reached = [r for r in reached if r.row.expected is not None]
    if not reached:
        return Check(name, False, "not checked: no response got this far")
    failed = [r for r in reached if r.failed == name]
    detail = f"{len(reached) - len(failed)} of {len(reached)} responses {ROW_CHECK_WORDS[name]}"
    if failed:
        shown = "; ".join(f"row {r.row.number}: {r.reason}" for r in failed[:3])
        more = f"; {len(failed) - 3} more" if len(failed) > 3 else ""
        detail += f" ({shown}{more})"
    return Check(name, not failed, detail)


# ---- the inputs that set the checks' thresholds ----------------------------------------------


def parse_prediction_range(text: str, task: str = BINARY_CLASSIFICATION) -> tuple[float, float]:
    """The prediction-range input, 'low,high': the closed range every prediction must be in.
    Empty: a probability's, 0 to 1, for a binary classifier; any finite number for
    regression (the row check refuses a non-finite one whatever the range)."""
    if not text.strip():
        return (0.0, 1.0) if task == BINARY_CLASSIFICATION else (-math.inf, math.inf)
    numbers = [decimal_number(part) for part in text.split(",")]
    low, high = (
        (numbers[0], numbers[1])
        if len(numbers) == 2 and numbers[0] is not None and numbers[1] is not None
        else (math.nan, math.nan)
    )
    if not low <= high:  # also false for NaN
        raise InputError(
            "prediction-range",
            f"{shown(text)} is not 'low,high' (finite numbers) with low <= high",
            PREDICTION_RANGE_HINT,
        )
    return low, high


def label_bounds(task: str, texts: dict[str, str], payloads: Payloads) -> dict[str, float | None]:
    """The bounds on the labelled rows, by input name (min-accuracy, max-rmse, max-mae; None
    when not given). InputError for a bound the task has no use for, one that is not a
    number, or one given for payloads without labels."""
    bounds: dict[str, float | None] = {}
    for name, text in texts.items():
        if not text:
            bounds[name] = None
            continue
        if name not in LABEL_BOUNDS[task]:
            other = next(t for t, names in LABEL_BOUNDS.items() if name in names)
            instead = " or ".join(LABEL_BOUNDS[task])
            raise InputError(
                name,
                f"applies to task: {other}, not {task}",
                f"Use {instead}, or set task: {other}.",
            )
        bounds[name] = fraction(name, text) if name == "min-accuracy" else non_negative(name, text)
        if not payloads.has_labels:
            raise InputError(
                name,
                f"needs labels and {payloads.path.name} has none",
                NO_LABELS_HINT.format(name=name),
            )
    return bounds


def fraction(name: str, text: str) -> float:
    """A share input (min-accuracy, max-error-rate): a number from 0 to 1."""
    value = decimal_number(text)
    if value is None or not 0 <= value <= 1:
        raise InputError(
            name, f"must be a number from 0 to 1, got {shown(text)}", f"E.g. {name}: 0.8"
        )
    return value


def non_negative(name: str, text: str) -> float:
    """A difference input (tolerance, max-rmse, max-mae): a number from 0 up."""
    value = decimal_number(text)
    if value is None or value < 0:
        example = "1e-4" if name == "tolerance" else "2.5"
        raise InputError(
            name, f"must be a number >= 0, got {shown(text)}", f"E.g. {name}: {example}"
        )
    return value
