"""The functional pass: one request per payload row, in order, each answer put through the
row checks (status, content type, shape, range, expected value) until the first it fails;
and how the answers on the labelled rows score: a binary classifier's accuracy, a
regression model's RMSE and MAE.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from smgha.backends import Invocation
from smgha.progress import Waiting
from smgha.smoke.payloads import Payloads, Row, encode

EXCERPT = 200  # characters of a payload or response kept in the report


class Invoker(Protocol):
    """What the passes send through: a Hosting area (InvokeEndpoint), or an async endpoint's
    submit-and-collect (smgha/smoke/async_passes.py)."""

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation: ...


# The per-row checks, in the order a response goes through them: a row that fails one is not
# checked further (a 500's body holds no prediction to range-check).
ROW_CHECKS = ("status", "content-type", "shape", "prediction-range", "expected")


@dataclass(frozen=True)
class RowResult:
    """One row's request and response, and the first check it failed ('' for none)."""

    row: Row
    request: bytes
    status: int  # 0 when the call raised
    content_type: str
    response: bytes
    variant: str
    prediction: float | None
    failed: str = ""
    reason: str = ""
    seconds: float = 0.0  # the call's latency, as the client saw it

    def reached(self, check: str) -> bool:
        """Whether the response got as far as `check` (it passed every earlier one)."""
        return not self.failed or ROW_CHECKS.index(self.failed) >= ROW_CHECKS.index(check)

    @property
    def usable(self) -> bool:
        """A finite prediction inside the range: good enough to score against a label."""
        return self.prediction is not None and self.failed in ("", "expected")


@dataclass(frozen=True)
class FunctionalResult:
    results: tuple[RowResult, ...]
    rows: int  # in the payload file
    seconds: float
    timed_out: bool

    @property
    def failures(self) -> list[RowResult]:
        return [result for result in self.results if result.failed]

    def first_and_warm_ms(self) -> tuple[float | None, float | None]:
        """The first request's latency and the median of the ones after it, in ms (None when
        there are none). The first pays a serverless endpoint's cold start when it had scaled
        to zero; on instances the two are alike."""
        latencies = [1000 * result.seconds for result in self.results]
        if not latencies:
            return None, None
        rest = sorted(latencies[1:])
        return latencies[0], (rest[len(rest) // 2] if rest else None)


def parse_predictions(body: bytes, content_type: str) -> list[float]:
    """The predictions of a response: comma/newline-separated numbers (text/csv), or JSON: a
    number, a list, or {"predictions": [...]}, each item a number, [number] or {"score": n}.
    ValueError when the body cannot be read that way."""
    text = body.decode("utf-8")
    if content_type == "text/csv":
        return [float(token) for token in re.split(r"[,\r\n]+", text) if token.strip()]
    document = json.loads(text)
    items = document.get("predictions") if isinstance(document, dict) else document
    if not isinstance(items, list):
        items = [items]
    values = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("score", item.get("probability"))
        elif isinstance(item, list) and len(item) == 1:
            item = item[0]
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ValueError(f"{item!r} is not a number")
        values.append(float(item))
    return values


def check_response(
    row: Row,
    request: bytes,
    response: Invocation,
    accept: str,
    prediction_range: tuple[float, float],
    tolerance: float,
) -> RowResult:
    """Run the row checks on one response, stopping at the first that fails."""

    def result(prediction: float | None = None, failed: str = "", reason: str = "") -> RowResult:
        return RowResult(
            row,
            request,
            response.status,
            response.content_type,
            response.body,
            response.variant,
            prediction,
            failed,
            reason,
            response.seconds,
        )

    if response.status != 200:
        return result(failed="status", reason=f"HTTP {response.status or 'no response'}")
    answered = response.content_type.split(";")[0].strip().lower()
    if answered != accept:
        return result(
            failed="content-type", reason=f"answered {response.content_type or 'no type'!r}"
        )
    try:
        predictions = parse_predictions(response.body, accept)
    except ValueError as error:  # also JSON and UTF-8 decoding errors
        return result(failed="shape", reason=f"unreadable {accept} response ({error})")
    if len(predictions) != 1:
        return result(failed="shape", reason=f"{len(predictions)} predictions for one row")
    prediction = predictions[0]
    low, high = prediction_range
    if not math.isfinite(prediction):
        return result(prediction, "prediction-range", f"{prediction} is not a finite number")
    if not low <= prediction <= high:
        return result(
            prediction, "prediction-range", f"{prediction:g} is outside [{low:g}, {high:g}]"
        )
    if row.expected is not None and abs(prediction - row.expected) > tolerance:
        difference = abs(prediction - row.expected)
        return result(
            prediction,
            "expected",
            f"{prediction:.6g} differs from the expected {row.expected:.6g} by {difference:.3g} (tolerance {tolerance:g})",
        )
    return result(prediction)


def functional_pass(
    endpoints: Invoker,
    endpoint: str,
    payloads: Payloads,
    content_type: str,
    prediction_range: tuple[float, float],
    tolerance: float,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    waiting: Waiting | None = None,
) -> FunctionalResult:
    """One request per payload row, in order, each checked; stops at the deadline."""
    started = clock()
    results = []
    timed_out = False
    for row in payloads.rows:
        if clock() >= deadline:
            timed_out = True
            break
        request = encode(row, content_type)
        response = invoke(endpoints, endpoint, request, content_type, clock)
        results.append(
            check_response(row, request, response, content_type, prediction_range, tolerance)
        )
        if waiting:
            waiting.tick(f"{len(results)} of {len(payloads.rows)} rows checked")
    return FunctionalResult(tuple(results), len(payloads.rows), clock() - started, timed_out)


def invoke(
    endpoints: Invoker,
    endpoint: str,
    body: bytes,
    content_type: str,
    clock: Callable[[], float],
) -> Invocation:
    """One call; a call that raises (a refused connection, a throttled API) is an answer
    with status 0 and the error as its body, so it counts against the endpoint."""
    started = clock()
    try:
        return endpoints.invoke_endpoint(endpoint, body, content_type, content_type)
    except Exception as error:
        message = f"{type(error).__name__}: {error}".encode()
        return Invocation(0, message, "", "", clock() - started)


def accuracy(payloads: Payloads, functional: FunctionalResult) -> float | None:
    """Share of labelled rows whose usable prediction is on the label's side of 0.5; a row
    without one (an error, a timeout) counts as wrong. None without labels."""
    labelled = [row for row in payloads.rows if row.label is not None]
    if not labelled:
        return None
    correct = sum(
        1
        for result in functional.results
        if result.row.label is not None
        and result.usable
        and result.prediction is not None  # implied by usable, spelled out for mypy
        and (1 if result.prediction >= 0.5 else 0) == result.row.label
    )
    return correct / len(labelled)


@dataclass(frozen=True)
class RegressionErrors:
    """How far a regression model's predictions are from the labelled rows' true values."""

    rmse: float  # root mean squared error
    mae: float  # mean absolute error
    scored: int  # labelled rows with a usable prediction: the errors are over these
    unscored: int  # labelled rows without one (an error, a timeout)


def regression_errors(payloads: Payloads, functional: FunctionalResult) -> RegressionErrors | None:
    """RMSE and MAE over the labelled rows with a usable prediction; None without labels,
    or when no labelled row got one (there is then no error to compute)."""
    labelled = sum(1 for row in payloads.rows if row.label is not None)
    differences = [
        result.prediction - result.row.label
        for result in functional.results
        if result.usable and result.prediction is not None and result.row.label is not None
    ]
    if not differences:
        return None
    rmse = math.sqrt(math.fsum(d * d for d in differences) / len(differences))
    mae = math.fsum(abs(d) for d in differences) / len(differences)
    return RegressionErrors(rmse, mae, len(differences), labelled - len(differences))


def excerpt(data: bytes, limit: int = EXCERPT) -> str:
    """A request or response body as text of at most `limit` characters, for the report."""
    text = data.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
