"""smoke-test: send real payloads to an endpoint, check every answer, load-test it, report,
and on failure roll the endpoint back to its previous endpoint config.

    Inputs (load_inputs: every input and both files read and checked)
        ->  preflight(inputs, endpoints)        the endpoint exists and is InService
        ->  functional_pass(...)                one request per payload row, in order
        ->  load_test(...)                      `requests` calls at `concurrency` threads
        ->  evaluate(...)  ->  [Check]          pure
        ->  rollback(...)                       only when a check failed and it was asked for
    main(): the edge: report file, outputs, annotations, job summary, exit code

Nothing is sent before every input, the payload file and the endpoint have been checked.
Both passes share one deadline (timeout-minutes); the wait for a rollback gets its own.
The load pass only runs after a clean functional pass: an endpoint that answers wrongly is
not worth loading, and a rollback should not wait for it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from smgha.backends import EndpointBackend, Invocation, backend
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    backend_and_region,
    choice,
    decimal_number,
    local_state_folder,
    positive_number,
    whole_number,
    workspace_file,
)
from smgha.progress import Waiting
from smgha.resources.names import sagemaker_name
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage
from smgha.summary import Summary

STAGE = "smoke-test"

INPUTS = (
    InputSpec(
        "backend", "Where the endpoint is: sagemaker (AWS) or local (this machine).", "sagemaker"
    ),
    REGION_INPUT,
    InputSpec("endpoint-name", "Name of the endpoint to test.", required=True),
    InputSpec(
        "payloads",
        'File of real requests, relative to the workspace. .csv: one request row per line. .jsonl or .json: one JSON object per line, {"features": [...], "label": 0 or 1 (optional), "expected": 0.73 (optional)}.',
        required=True,
    ),
    InputSpec(
        "content-type",
        'text/csv or application/json (sent as {"instances": [features]}); the same type is asked for in the response. Defaults to text/csv for .csv payloads, application/json for .jsonl/.json.',
    ),
    InputSpec(
        "label-column",
        "CSV payloads: none, or first when the first value of each row is its 0/1 label (removed before sending).",
        "none",
    ),
    InputSpec(
        "expected",
        "File of expected predictions, one number per line in the order of the payload rows.",
    ),
    InputSpec(
        "tolerance",
        "Largest allowed difference between a prediction and its expected value.",
        "1e-4",
    ),
    InputSpec(
        "min-accuracy",
        "Fail below this accuracy on the labelled rows (a probability >= 0.5 means class 1). Needs labels.",
    ),
    InputSpec(
        "prediction-range",
        "'low,high': every prediction must be a finite number in this closed range.",
        "0,1",
    ),
    InputSpec(
        "requests",
        "Calls in the load test, sending the payload rows round-robin; 0 skips the load test.",
        "200",
    ),
    InputSpec("concurrency", "Threads sending the load test's calls (1-64).", "4"),
    InputSpec(
        "max-p99-ms", "Fail when the load test's 99th percentile latency exceeds this.", "500"
    ),
    InputSpec(
        "max-error-rate",
        "Fail when the share of load-test calls not answered with HTTP 200 exceeds this (0-1).",
        "0.0",
    ),
    InputSpec(
        "report-path",
        "Where to write the JSON report, relative to the workspace.",
        "smoke-test-report.json",
    ),
    InputSpec(
        "rollback-endpoint-config",
        "On failure, update the endpoint back to this endpoint config (e.g. deploy-endpoint's previous-endpoint-config-name) and wait until it is InService.",
    ),
    InputSpec(
        "timeout-minutes",
        "Bound on sending (both passes together), and separately on the wait for a rollback.",
        "10",
    ),
)

OUTPUTS = (
    OutputSpec("passed", "true when every check passed, else false."),
    OutputSpec("report-path", "Absolute path of the JSON report."),
    OutputSpec(
        "p50-ms", "Median latency of the load test in milliseconds ('' when it did not run)."
    ),
    OutputSpec(
        "p99-ms",
        "99th percentile latency of the load test in milliseconds ('' when it did not run).",
    ),
    OutputSpec(
        "error-rate",
        "Share of load-test calls not answered with HTTP 200, 0-1 ('' when it did not run).",
    ),
    OutputSpec("accuracy", "Accuracy on the labelled payload rows ('' without labels)."),
    OutputSpec(
        "rolled-back", "true when the endpoint was rolled back to rollback-endpoint-config."
    ),
)

CONTENT_TYPES = ("text/csv", "application/json")
INFERRED_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".jsonl": "application/json",
    ".json": "application/json",
}
LABEL_COLUMNS = ("none", "first")
MAX_ROWS = 10_000
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 64
EXAMPLES = 10  # failing rows kept in the report
EXCERPT = 200  # characters of a payload or response kept in the report
ROLLBACK_MAX_POLL_SECONDS = 15.0

# The per-row checks, in the order a response goes through them: a row that fails one is not
# checked further (a 500's body holds no prediction to range-check).
ROW_CHECKS = ("status", "content-type", "shape", "prediction-range", "expected")


# ---- payloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One request of the payload file."""

    number: int  # 1-based position among the rows
    line: int  # its line in the payload file
    cells: tuple[str, ...]  # the features as CSV text (as written, for a CSV file)
    features: tuple[float | None, ...]  # the features as numbers (None: a missing value)
    label: int | None = None
    expected: float | None = None


@dataclass(frozen=True)
class Payloads:
    path: Path
    rows: tuple[Row, ...]

    @property
    def has_labels(self) -> bool:
        return any(row.label is not None for row in self.rows)

    @property
    def has_expected(self) -> bool:
        return any(row.expected is not None for row in self.rows)


def read_text(name: str, path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(
            name, f"{path} does not exist", f"Give the {what}, relative to the workspace."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(name, f"cannot read {path}: {error}", f"Give a UTF-8 {what}.") from None


def parse_payloads(path: Path, text: str, label_column: str = "none") -> Payloads:
    """The rows of a payload file; InputError naming the line of the first bad one."""
    suffix = path.suffix.lower()
    if suffix not in INFERRED_CONTENT_TYPES:
        raise InputError(
            "payloads",
            f"{path.name} is neither .csv nor .jsonl/.json",
            "Name the file .csv (one request row per line) or .jsonl (one JSON object per line).",
        )
    if suffix != ".csv" and label_column != "none":
        raise InputError(
            "label-column",
            "applies to CSV payloads only",
            'Leave it unset: JSON lines carry their label as "label".',
        )
    parse = _csv_row if suffix == ".csv" else _json_row
    rows: list[Row] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) == MAX_ROWS:
            raise InputError(
                "payloads",
                f"has more than {MAX_ROWS} rows",
                "A smoke test needs a few dozen real requests, not the test set.",
            )
        rows.append(parse(len(rows) + 1, line_number, line, label_column))
    if not rows:
        raise InputError("payloads", f"{path} holds no request", "Put one request per line.")
    first = rows[0]
    for row in rows[1:]:
        if len(row.features) != len(first.features):
            raise InputError(
                "payloads",
                f"line {row.line} has {len(row.features)} features, line {first.line} has {len(first.features)}",
                "Every row needs the same features, in the same order.",
            )
        if (row.label is None) != (first.label is None):
            raise InputError(
                "payloads",
                f"line {row.line} {'has' if row.label is not None else 'lacks'} a label, line {first.line} does not",
                "Label every row, or none.",
            )
    return Payloads(path, tuple(rows))


def _csv_row(number: int, line_number: int, line: str, label_column: str) -> Row:
    try:
        cells = [cell.strip() for cell in next(csv.reader([line], strict=True))]
    except csv.Error as error:
        raise InputError(
            "payloads", f"line {line_number} is not a CSV row ({error})", "Fix the quoting."
        ) from None
    label = None
    if label_column == "first":
        label = _label(cells[0], line_number, "label-column")
        cells = cells[1:]
        if not cells:
            raise InputError(
                "payloads", f"line {line_number} has a label and no features", "Add the features."
            )
    features: list[float | None] = []
    for cell in cells:
        if cell == "":
            features.append(None)
            continue
        value = _csv_number(cell)
        if value is None:
            header = " (a header row? remove it)" if number == 1 else ""
            raise InputError(
                "payloads",
                f"line {line_number}: {cell!r} is not a finite number{header}",
                "Write numbers only; leave a cell empty for a missing value.",
            )
        features.append(value)
    return Row(number, line_number, tuple(cells), tuple(features), label)


def _csv_number(text: str) -> float | None:
    """An int or finite float written in a CSV cell in ASCII digits; None when it is neither
    (a full-width "１" or "nan" is not a number here, see decimal_number)."""
    value = decimal_number(text)
    if value is None:
        return None
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text.strip(" \t")) else value


def _label(value: object, line_number: int, name: str) -> int:
    number: float | None = None
    if isinstance(value, str):
        number = _csv_number(value.strip())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    if number not in (0, 1):
        raise InputError(
            name,
            f"line {line_number}: label {value!r} is not 0 or 1",
            "Labels of a binary classifier are 0 or 1"
            + (", or set label-column: none." if name == "label-column" else "."),
        )
    return int(cast(float, number))


def _json_row(number: int, line_number: int, line: str, label_column: str) -> Row:
    hint = 'Write one JSON object per line: {"features": [1.5, 0, 3], "label": 1}.'
    try:
        record = json.loads(line)
    except ValueError as error:
        raise InputError("payloads", f"line {line_number} is not JSON ({error})", hint) from None
    if not isinstance(record, dict):
        raise InputError(
            "payloads", f"line {line_number} is a {type(record).__name__}, not an object", hint
        )
    raw = record.get("features")
    if not isinstance(raw, list) or not raw:
        raise InputError("payloads", f'line {line_number} has no "features" list of numbers', hint)
    features: list[float | None] = []
    for value in raw:
        if value is not None and not _is_finite_number(value):
            raise InputError(
                "payloads",
                f"line {line_number}: feature {value!r} is not a finite number",
                "Features are numbers, or null for a missing value.",
            )
        features.append(cast("float | None", value))
    label = (
        _label(record["label"], line_number, "payloads")
        if record.get("label") is not None
        else None
    )
    expected = record.get("expected")
    if expected is not None and not _is_finite_number(expected):
        raise InputError(
            "payloads",
            f'line {line_number}: "expected" {expected!r} is not a finite number',
            'Give the expected prediction as a number, e.g. "expected": 0.73.',
        )
    cells = tuple("" if value is None else repr(value) for value in features)
    return Row(number, line_number, cells, tuple(features), label, expected)


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def with_expected(payloads: Payloads, path: Path, text: str) -> Payloads:
    """The payloads with the expected predictions of an `expected` file, one per line."""
    if payloads.has_expected:
        raise InputError(
            "expected",
            f"the payload lines of {payloads.path.name} already give expected values",
            "Keep them in one place: drop the expected input or the payloads' expected keys.",
        )
    values: list[float] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value = _csv_number(line.strip())
        if value is None:
            raise InputError(
                "expected",
                f"line {line_number} of {path.name}: {line.strip()!r} is not a finite number",
                "Write one expected prediction per line.",
            )
        values.append(float(value))
    if len(values) != len(payloads.rows):
        raise InputError(
            "expected",
            f"{path.name} has {len(values)} values for {len(payloads.rows)} payload rows",
            "Give one expected prediction per payload row, in the same order.",
        )
    rows = tuple(
        replace(row, expected=value) for row, value in zip(payloads.rows, values, strict=True)
    )
    return Payloads(payloads.path, rows)


def encode(row: Row, content_type: str) -> bytes:
    """The request body of a row: a CSV line, or {"instances": [features]}."""
    if content_type == "text/csv":
        return ",".join(row.cells).encode()
    return json.dumps({"instances": [list(row.features)]}).encode()


# ---- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    endpoint_name: str
    payloads: Payloads
    content_type: str
    prediction_range: tuple[float, float]
    tolerance: float
    min_accuracy: float | None
    requests: int
    concurrency: int
    max_p99_ms: float
    max_error_rate: float
    report_path: Path
    rollback_config: str
    timeout_seconds: float
    workspace: Path


def load_inputs(runner: Runner) -> Inputs:
    """Read and check every input and both files; raise InputError before anything is sent."""
    env = runner.env
    name, region = backend_and_region(runner)
    endpoint = sagemaker_name("endpoint-name", runner.get_input("endpoint-name", required=True))
    rollback_config = runner.get_input("rollback-endpoint-config")
    if rollback_config:
        sagemaker_name("rollback-endpoint-config", rollback_config)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    state_folder = local_state_folder(name)
    payload_path = workspace_file(
        "payloads", runner.get_input("payloads", required=True), workspace, state_folder
    )
    label_column = choice("label-column", runner.get_input("label-column") or "none", LABEL_COLUMNS)
    payloads = parse_payloads(
        payload_path, read_text("payloads", payload_path, "payload file"), label_column
    )
    expected = runner.get_input("expected")
    if expected:
        expected_path = workspace_file("expected", expected, workspace, state_folder)
        payloads = with_expected(
            payloads, expected_path, read_text("expected", expected_path, "expected file")
        )
    content_type = runner.get_input("content-type").split(";")[0].strip().lower()
    if content_type:
        choice("content-type", content_type, CONTENT_TYPES)
    else:
        content_type = INFERRED_CONTENT_TYPES[payload_path.suffix.lower()]
    min_accuracy_text = runner.get_input("min-accuracy")
    min_accuracy = _fraction("min-accuracy", min_accuracy_text) if min_accuracy_text else None
    if min_accuracy is not None and not payloads.has_labels:
        raise InputError(
            "min-accuracy",
            f"needs labels and {payload_path.name} has none",
            'Add labels (label-column: first for CSV, "label" in JSON lines), or drop min-accuracy.',
        )
    report_path = workspace_file(
        "report-path",
        runner.get_input("report-path") or "smoke-test-report.json",
        workspace,
        state_folder,
    )
    if report_path.is_dir():
        raise InputError(
            "report-path", f"{report_path} is a directory", "Name a file, e.g. smoke-test.json."
        )
    return Inputs(
        backend=name,
        region=region or "us-east-1",
        endpoint_name=endpoint,
        payloads=payloads,
        content_type=content_type,
        prediction_range=parse_prediction_range(runner.get_input("prediction-range") or "0,1"),
        tolerance=_non_negative("tolerance", runner.get_input("tolerance") or "1e-4"),
        min_accuracy=min_accuracy,
        requests=whole_number(
            "requests", runner.get_input("requests") or "200", 0, MAX_REQUESTS, "E.g. requests: 4"
        ),
        concurrency=whole_number(
            "concurrency",
            runner.get_input("concurrency") or "4",
            1,
            MAX_CONCURRENCY,
            "E.g. concurrency: 4",
        ),
        max_p99_ms=positive_number("max-p99-ms", runner.get_input("max-p99-ms") or "500"),
        max_error_rate=_fraction("max-error-rate", runner.get_input("max-error-rate") or "0"),
        report_path=report_path,
        rollback_config=rollback_config,
        timeout_seconds=60
        * positive_number("timeout-minutes", runner.get_input("timeout-minutes") or "10"),
        workspace=workspace,
    )


def parse_prediction_range(text: str) -> tuple[float, float]:
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
            "E.g. prediction-range: 0,1 for probabilities.",
        )
    return low, high


def _fraction(name: str, text: str) -> float:
    value = decimal_number(text)
    if value is None or not 0 <= value <= 1:
        raise InputError(
            name, f"must be a number from 0 to 1, got {shown(text)}", f"E.g. {name}: 0.8"
        )
    return value


def _non_negative(name: str, text: str) -> float:
    value = decimal_number(text)
    if value is None or value < 0:
        raise InputError(name, f"must be a number >= 0, got {shown(text)}", f"E.g. {name}: 1e-4")
    return value


# ---- preflight -----------------------------------------------------------------------------


def preflight(inputs: Inputs, endpoints: EndpointBackend) -> dict[str, Any]:
    """The endpoint's record, once it is known to be InService (and the rollback target to
    exist); InputError otherwise, before anything is sent."""
    where = f"in {inputs.region} ({inputs.backend})"
    record = endpoints.describe_endpoint(inputs.endpoint_name)
    if record is None:
        raise InputError(
            "endpoint-name",
            f"there is no endpoint {inputs.endpoint_name!r} {where}",
            "Deploy it first (deploy-endpoint), or check the name and region.",
        )
    status = record.get("EndpointStatus", "unknown")
    if status != "InService":
        reason = f": {record['FailureReason']}" if record.get("FailureReason") else ""
        raise InputError(
            "endpoint-name",
            f"endpoint {inputs.endpoint_name!r} is {status}{reason}, not InService",
            "Test it once it is InService (deploy-endpoint waits for that).",
        )
    if (
        inputs.rollback_config
        and endpoints.describe_endpoint_config(inputs.rollback_config) is None
    ):
        raise InputError(
            "rollback-endpoint-config",
            f"there is no endpoint config {inputs.rollback_config!r} {where}",
            "Pass an existing config, e.g. deploy-endpoint's previous-endpoint-config-name.",
        )
    return record


# ---- the functional pass -------------------------------------------------------------------


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
    endpoints: EndpointBackend,
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
        response = _invoke(endpoints, endpoint, request, content_type, clock)
        results.append(
            check_response(row, request, response, content_type, prediction_range, tolerance)
        )
        if waiting:
            waiting.tick(f"{len(results)} of {len(payloads.rows)} rows checked")
    return FunctionalResult(tuple(results), len(payloads.rows), clock() - started, timed_out)


def _invoke(
    endpoints: EndpointBackend,
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
        and (1 if cast(float, result.prediction) >= 0.5 else 0) == result.row.label
    )
    return correct / len(labelled)


# ---- the load test -------------------------------------------------------------------------


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
            "p50_ms": _round(self.p50_ms),
            "p95_ms": _round(self.p95_ms),
            "p99_ms": _round(self.p99_ms),
            "max_ms": _round(self.max_ms),
            "errors": self.errors,
            "error_rate": _round(self.error_rate, 4),
            "throughput_rps": _round(self.throughput_rps, 2),
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
    endpoints: EndpointBackend,
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
            answer = _invoke(endpoints, endpoint, bodies[index % len(bodies)], content_type, clock)
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
    first_error = next((_excerpt(s.body) for s in failed if s.status == 0), "")
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


# ---- checks --------------------------------------------------------------------------------


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


def evaluate(
    inputs: Inputs,
    functional: FunctionalResult,
    load: LoadResult | None,
) -> list[Check]:
    """Every check, in the order they are shown; pure."""
    checks = []
    for name in ROW_CHECKS:
        if name == "expected" and not inputs.payloads.has_expected:
            continue
        checks.append(_row_check(name, functional.results))
    score = accuracy(inputs.payloads, functional)
    if inputs.min_accuracy is not None and score is not None:
        labelled = sum(1 for row in inputs.payloads.rows if row.label is not None)
        scored = sum(1 for r in functional.results if r.row.label is not None and r.usable)
        unscored = f", {labelled - scored} without a usable prediction counted wrong"
        relation = ">=" if score >= inputs.min_accuracy else "<"
        checks.append(
            Check(
                "accuracy",
                score >= inputs.min_accuracy,
                f"{score:.4f} {relation} {inputs.min_accuracy:g} on {labelled} labelled rows{unscored if scored < labelled else ''}",
            )
        )
    if load is not None:
        if load.p99_ms is None:
            checks.append(Check("p99-latency", False, "no load-test call completed"))
        else:
            ok = load.p99_ms <= inputs.max_p99_ms
            checks.append(
                Check(
                    "p99-latency",
                    ok,
                    f"p99 {load.p99_ms:.1f} ms {'<=' if ok else '>'} {inputs.max_p99_ms:g} ms",
                )
            )
        if load.error_rate is None:
            checks.append(Check("error-rate", False, "no load-test call completed"))
        else:
            ok = load.error_rate <= inputs.max_error_rate
            statuses = ", ".join(
                f"{'HTTP ' if code.isdigit() else ''}{code} ×{count}"
                for code, count in load.errors_by_status.items()
            )
            checks.append(
                Check(
                    "error-rate",
                    ok,
                    f"error rate {load.error_rate:.2%} {'<=' if ok else '>'} {inputs.max_error_rate:.2%} ({load.errors} of {load.completed} calls failed{': ' + statuses if statuses else ''})",
                )
            )
    sent = f"{len(functional.results)} of {functional.rows} rows"
    if load is not None:
        sent += f" and {load.completed} of {load.requests} load-test calls"
    bound = f"{inputs.timeout_seconds / 60:g} min"
    if functional.timed_out or (load is not None and load.timed_out):
        checks.append(Check("completed", False, f"stopped at the {bound} bound after {sent}"))
    else:
        checks.append(Check("completed", True, f"sent {sent} within {bound}"))
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


# ---- rollback ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollback:
    endpoint_config: str
    done: bool
    detail: str


def rollback(
    endpoints: EndpointBackend,
    endpoint: str,
    config: str,
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    waiting: Waiting | None = None,
) -> Rollback:
    """Update the endpoint to `config` and wait until it is InService on it, polling at
    1, 2, 4 ... up to 15 s; a failure is reported, never raised (the step fails anyway)."""
    record = endpoints.describe_endpoint(endpoint) or {}
    if record.get("EndpointConfigName") == config:
        return Rollback(
            config, False, f"the endpoint is already on {config}: nothing to roll back to"
        )
    started = clock()
    try:
        endpoints.update_endpoint(endpoint, config, None)
    except Exception as error:
        return Rollback(config, False, f"UpdateEndpoint failed: {type(error).__name__}: {error}")
    deadline = started + timeout_seconds
    delay = 1.0
    while True:
        try:
            record = endpoints.describe_endpoint(endpoint) or {}
        except Exception as error:
            record = {"EndpointStatus": f"unknown ({type(error).__name__}: {error})"}
        status = record.get("EndpointStatus", "missing")
        if status == "InService" and record.get("EndpointConfigName") == config:
            return Rollback(config, True, f"InService on {config} after {clock() - started:.0f} s")
        if status == "Failed":
            reason = record.get("FailureReason") or "no reason given"
            return Rollback(config, False, f"the update to {config} failed: {reason}")
        now = clock()
        if now >= deadline:
            return Rollback(
                config,
                False,
                f"the endpoint is still {status} {timeout_seconds / 60:g} min after the update to {config}",
            )
        if waiting:
            waiting.tick(status)
        sleep(min(waiting.pause(delay) if waiting else delay, deadline - now))
        delay = min(delay * 2, ROLLBACK_MAX_POLL_SECONDS)


# ---- run -----------------------------------------------------------------------------------


@dataclass
class SmokeResult:
    endpoint: dict[str, Any]
    started: str
    ended: str
    functional: FunctionalResult
    load: LoadResult | None
    load_skipped: str
    checks: list[Check]
    accuracy: float | None
    rollback: Rollback | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def run(
    inputs: Inputs,
    endpoints: EndpointBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SmokeResult:
    record = preflight(inputs, endpoints)
    started = _now()
    deadline = clock() + inputs.timeout_seconds
    rows = inputs.payloads.rows
    log(
        f"Functional pass: {len(rows)} rows of {inputs.payloads.path.name} as {inputs.content_type} to {inputs.endpoint_name} (config {record.get('EndpointConfigName', '?')})"
    )
    functional = functional_pass(
        endpoints,
        inputs.endpoint_name,
        inputs.payloads,
        inputs.content_type,
        inputs.prediction_range,
        inputs.tolerance,
        deadline,
        clock,
        Waiting(f"the functional pass on {inputs.endpoint_name}", log, clock),
    )
    load = None
    skipped = ""
    if inputs.requests == 0:
        skipped = "requests: 0"
    elif functional.timed_out:
        skipped = "the functional pass did not finish in time"
    elif functional.failures:
        skipped = "the functional pass failed"
    else:
        log(f"Load test: {inputs.requests} calls at concurrency {inputs.concurrency}")
        load = load_test(
            endpoints,
            inputs.endpoint_name,
            rows,
            inputs.content_type,
            inputs.requests,
            inputs.concurrency,
            deadline,
            clock,
            Waiting(f"the load test on {inputs.endpoint_name}", log, clock),
        )
    if skipped:
        log(f"Load test skipped: {skipped}")
    checks = evaluate(inputs, functional, load)
    result = SmokeResult(
        record,
        started,
        "",
        functional,
        load,
        skipped,
        checks,
        accuracy(inputs.payloads, functional),
    )
    if not result.passed and inputs.rollback_config:
        log(f"Rolling {inputs.endpoint_name} back to endpoint config {inputs.rollback_config}")
        result.rollback = rollback(
            endpoints,
            inputs.endpoint_name,
            inputs.rollback_config,
            inputs.timeout_seconds,
            sleep,
            clock,
            Waiting(f"the rollback of {inputs.endpoint_name}", log, clock),
        )
    result.ended = _now()
    return result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ---- the edge ------------------------------------------------------------------------------


def report_document(inputs: Inputs, result: SmokeResult) -> dict[str, Any]:
    """The JSON report."""
    functional = result.functional
    failures = functional.failures
    return {
        "endpoint": inputs.endpoint_name,
        "endpoint_config": result.endpoint.get("EndpointConfigName", ""),
        "backend": inputs.backend,
        "region": inputs.region,
        "started": result.started,
        "ended": result.ended,
        "payloads": str(inputs.payloads.path),
        "content_type": inputs.content_type,
        "checks": [check.as_dict() for check in result.checks],
        "functional": {
            "rows": functional.rows,
            "sent": len(functional.results),
            "failed": len(failures),
            "seconds": round(functional.seconds, 3),
            "failures": [
                {
                    "row": r.row.number,
                    "line": r.row.line,
                    "check": r.failed,
                    "reason": r.reason,
                    "payload": _excerpt(r.request),
                    "response": _excerpt(r.response),
                }
                for r in failures[:EXAMPLES]
            ],
        },
        "load": (
            result.load.as_dict()
            if result.load
            else {
                "requests": inputs.requests,
                "completed": 0,
                "concurrency": inputs.concurrency,
                **dict.fromkeys(("p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate")),
                "throughput_rps": None,
                "by_variant": {},
                "skipped": result.load_skipped,
            }
        ),
        "accuracy": _round(result.accuracy, 4),
        "passed": result.passed,
        "rolled_back": bool(result.rollback and result.rollback.done),
        "rollback": (
            {
                "endpoint_config": result.rollback.endpoint_config,
                "done": result.rollback.done,
                "detail": result.rollback.detail,
            }
            if result.rollback
            else None
        ),
    }


def report(inputs: Inputs, result: SmokeResult, runner: Runner) -> None:
    """The report file, outputs, log lines and job summary of a finished run()."""
    for check in result.checks:  # first: the log shows them even if the file cannot be written
        runner.info(f"{'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    document = report_document(inputs, result)
    try:
        inputs.report_path.parent.mkdir(parents=True, exist_ok=True)
        inputs.report_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise StageError("cannot write the report", f"{inputs.report_path}: {error}") from None
    runner.info(f"Report: {inputs.report_path}")
    load = result.load
    runner.set_output("passed", "true" if result.passed else "false")
    runner.set_output("report-path", str(inputs.report_path))
    runner.set_output("p50-ms", _number(load.p50_ms if load else None))
    runner.set_output("p99-ms", _number(load.p99_ms if load else None))
    runner.set_output("error-rate", _number(load.error_rate if load else None, 4))
    runner.set_output("accuracy", _number(result.accuracy, 4))
    runner.set_output("rolled-back", "true" if document["rolled_back"] else "false")

    failed = result.failed_checks
    verdict = (
        "✅ passed" if not failed else f"❌ {len(failed)} of {len(result.checks)} checks failed"
    )
    summary = runner.summary.heading(f"smoke-test: {inputs.endpoint_name} {verdict}", 3)
    summary.paragraph(
        f"{result.functional.rows} payload rows from `{inputs.payloads.path.name}` as `{inputs.content_type}` · "
        f"endpoint config `{result.endpoint.get('EndpointConfigName', '?')}` · backend `{inputs.backend}`"
    )
    summary.table(
        ["Check", "Result", "Detail"],
        [[c.name, "✅" if c.passed else "❌", c.detail] for c in result.checks],
    )
    if load:
        summary.heading("Load test", 4).table(
            ["Calls", "Concurrency", "p50", "p95", "p99", "max", "Error rate", "Throughput"],
            [
                [
                    f"{load.completed}/{load.requests}",
                    str(load.concurrency),
                    *(_ms(v) for v in (load.p50_ms, load.p95_ms, load.p99_ms, load.max_ms)),
                    f"{load.error_rate:.2%}" if load.error_rate is not None else "–",
                    f"{load.throughput_rps:.1f}/s" if load.throughput_rps is not None else "–",
                ]
            ],
        )
        summary.table(
            ["Variant", "Responses"], [[name, str(n)] for name, n in load.by_variant.items()]
        )
    else:
        summary.paragraph(f"Load test skipped: {result.load_skipped}.")
    failures = result.functional.failures
    if failures:
        rows = [
            [str(r.row.number), r.failed, r.reason, f"`{_excerpt(r.request, 60)}`"]
            for r in failures[:EXAMPLES]
        ]
        summary.details(
            f"Failed rows ({len(failures)}, first {min(len(failures), EXAMPLES)} shown)",
            Summary(runner).table(["Row", "Check", "Reason", "Payload"], rows).stringify().strip(),
        )
    if result.rollback:
        mark = "↩️ Rolled back" if result.rollback.done else "⚠️ Rollback failed"
        summary.paragraph(
            f"{mark} to `{result.rollback.endpoint_config}`: {result.rollback.detail}"
        )
    summary.write()


def failure(inputs: Inputs, result: SmokeResult) -> StageError | None:
    """The one error that fails the step: the failed checks, and what the rollback did."""
    failed = result.failed_checks
    if not failed:
        return None
    parts = ["; ".join(f"{check.name}: {check.detail}" for check in failed)]
    if result.rollback and result.rollback.done:
        parts.append(f"Rolled back to {result.rollback.endpoint_config}")
    elif result.rollback:
        parts.append(
            f"Rollback to {result.rollback.endpoint_config} did not happen: {result.rollback.detail}"
        )
    parts.append(f"Report: {inputs.report_path}")
    detail = ". ".join(parts)
    return StageError(f"{len(failed)} check(s) failed", detail)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{round(value, digits):g}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def _excerpt(data: bytes, limit: int = EXCERPT) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(runner: Runner | None = None, endpoints: EndpointBackend | None = None) -> int:
    """The action's entry point; `endpoints` replaces the backend the inputs name (tests)."""
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        target = endpoints or cast(
            EndpointBackend,
            backend(inputs.backend, inputs.region, log=runner.info, mask=runner.set_secret),
        )
        result = run(inputs, target, runner.info)
        if result.rollback and result.rollback.done:
            runner.warning(
                f"Rolled endpoint {inputs.endpoint_name} back to endpoint config {result.rollback.endpoint_config} ({result.rollback.detail}) after the smoke test failed.",
                title=f"{STAGE}: rolled back",
            )
        report(inputs, result, runner)
        error = failure(inputs, result)
        if error:
            raise error

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
