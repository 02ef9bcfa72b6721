"""The checks of a batch transform's output: smoke-test's row checks and label checks
(smgha/smoke/checks.py `evaluate`), over the job's records instead of an endpoint's answers.

Each input object's records are its lines (split-type Line); the job writes, for each, the
object <name>.out whose lines are the predictions in the same order (assemble-with Line,
text/csv), so the n-th output line answers the n-th input line. With join-source Input an
output line is the input row with the prediction appended: the prediction is its last value
(an output-filter must keep it last). With label-column first, each input row's first value
is its label, which the input-filter must keep from the model (e.g. "$[1:]").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from smgha.backends import Invocation
from smgha.errors import InputError, StageError, shown
from smgha.inputs import InputValues, choice, decimal_number
from smgha.smoke.checks import (
    Check,
    evaluate,
    fraction,
    label_bounds,
    non_negative,
    parse_prediction_range,
)
from smgha.smoke.functional import FunctionalResult, check_response
from smgha.smoke.passes import Passes, SmokePlan
from smgha.smoke.payloads import BINARY_CLASSIFICATION, TASKS, Payloads, Row

CSV = "text/csv"
LABEL_COLUMNS = ("none", "first")
# A record without an output line: an answer no row check passes.
NO_OUTPUT = Invocation(0, b"no output line for this record", "", "", 0.0)


@dataclass(frozen=True)
class CheckSettings:
    """Which checks run, and their thresholds' inputs (read against the dataset's labels)."""

    task: str
    label_column: str
    prediction_range: tuple[float, float]
    bounds: dict[str, str]  # min-accuracy, max-rmse, max-mae as given ('' when not)


def checked_settings(
    values: InputValues,
    content_type: str,
    accept: str,
    split: str,
    assemble: str,
    input_filter: str,
) -> CheckSettings | None:
    """The checks' settings (None with check-output: false), after the rules that tie them to
    the job's settings: one error naming both inputs for a contradiction."""
    if not values.flag("check-output"):
        return None
    for name, value, needed in (
        ("content-type", content_type, CSV),
        ("accept", accept, CSV),
        ("split-type", split, "Line"),
        ("assemble-with", assemble, "Line"),
    ):
        if value != needed:
            raise InputError(
                name,
                f"{shown(value)} does not apply with check-output: true: the checks pair each CSV input line with its CSV output line",
                f"Set {name}: {needed}, or check-output: false.",
            )
    task = choice("task", values["task"], TASKS)
    label_column = choice("label-column", values["label-column"], LABEL_COLUMNS)
    if label_column == "first" and not input_filter:
        raise InputError(
            "label-column",
            "first does not apply with an empty input-filter: the model would get each row's label as a feature",
            'Set input-filter: "$[1:]" (the features after the label), or label-column: none.',
        )
    given = {name: values[name] for name in ("min-accuracy", "max-rmse", "max-mae")}
    for name, text in given.items():  # numbers now; against the dataset's labels in plan()
        if text:
            (fraction if name == "min-accuracy" else non_negative)(name, text)
    return CheckSettings(
        task=task,
        label_column=label_column,
        prediction_range=parse_prediction_range(values["prediction-range"], task),
        bounds=given,
    )


@dataclass(frozen=True)
class Dataset:
    """The input's records, as smoke-test's rows (label and cells), by input object."""

    payloads: Payloads
    objects: dict[str, tuple[Row, ...]]  # input object URI -> its rows, in order


def read_dataset(uris: list[str], read: Callable[[str], bytes], settings: CheckSettings) -> Dataset:
    """Every input object's rows, labels read; InputError naming the input on a bad label."""
    by_object: dict[str, tuple[Row, ...]] = {}
    rows: list[Row] = []
    for uri in uris:
        object_rows = []
        for number, line in enumerate(read(uri).decode("utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            cells = tuple(cell.strip() for cell in line.split(","))
            label = None
            if settings.label_column == "first":
                label = _label(cells[0], uri, number, settings.task)
                cells = cells[1:]
            row = Row(len(rows) + 1, number, cells, (), label)
            rows.append(row)
            object_rows.append(row)
        by_object[uri] = tuple(object_rows)
    if not rows:
        raise InputError(
            "input-s3-uri", f"holds no record ({len(uris)} objects)", "Point it at the dataset."
        )
    return Dataset(Payloads(Path(PurePosixPath(uris[0]).name), tuple(rows)), by_object)


def _label(cell: str, uri: str, line: int, task: str) -> float:
    value = decimal_number(cell)
    if value is None or (task == BINARY_CLASSIFICATION and value not in (0, 1)):
        wanted = "0 or 1" if task == BINARY_CLASSIFICATION else "a finite number"
        raise InputError(
            "label-column",
            f"{uri} line {line}: label {shown(cell)} is not {wanted}",
            "Put the label first in every row (or set label-column: none; task: regression for a true value).",
        )
    return value


def bounds(settings: CheckSettings, dataset: Dataset) -> dict[str, float | None]:
    """The label bounds as numbers; smoke-test's rules (task, labels present) hold them."""
    return label_bounds(settings.task, settings.bounds, dataset.payloads)


def output_of(input_uri: str, outputs: list[str]) -> str:
    """The job's output object of one input object: <its name>.out (SageMaker keeps the key's
    folders below the input prefix); '' when the job wrote none."""
    suffix = "/" + PurePosixPath(input_uri.removeprefix("s3://")).name + ".out"
    found = [uri for uri in outputs if uri.endswith(suffix)]
    if len(found) > 1:
        raise StageError(
            "Cannot pair the output with the input",
            f"{len(found)} output objects end with {suffix}: {', '.join(found[:3])}",
        )
    return found[0] if found else ""


def check(
    dataset: Dataset,
    outputs: list[str],
    read: Callable[[str], bytes],
    settings: CheckSettings,
    label_bounds_: dict[str, float | None],
    job: str,
    joined: bool,
) -> list[Check]:
    """smoke-test's checks over the job's records: each input row answered by its output line."""
    results = []
    for uri, rows in dataset.objects.items():
        output = output_of(uri, outputs)
        lines = (
            [line for line in read(output).decode().splitlines() if line.strip()] if output else []
        )
        for index, row in enumerate(rows):
            answer = NO_OUTPUT
            if index < len(lines):
                value = lines[index].rsplit(",", 1)[-1] if joined else lines[index]
                answer = Invocation(200, value.strip().encode(), CSV, "", 0.0)
            results.append(check_response(row, b",".join(c.encode() for c in row.cells), answer, CSV, settings.prediction_range, 0.0))  # fmt: skip
    plan = SmokePlan(
        endpoint_name=job,
        payloads=dataset.payloads,
        content_type=CSV,
        prediction_range=settings.prediction_range,
        tolerance=0.0,
        task=settings.task,
        min_accuracy=label_bounds_.get("min-accuracy"),
        max_rmse=label_bounds_.get("max-rmse"),
        max_mae=label_bounds_.get("max-mae"),
        requests=0,
        concurrency=1,
        max_p99_ms=0.0,
        max_error_rate=0.0,
        timeout_seconds=0.0,
    )
    functional = FunctionalResult(tuple(results), len(dataset.payloads.rows), 0.0, False)
    checks = evaluate(plan, Passes(functional, None, "a batch transform has no load test"))
    # "completed" speaks of a time bound the job does not have: say what the job did instead.
    answered = sum(1 for result in results if result.status == 200)
    return [
        Check("completed", answered == len(results), f"{answered} of {len(results)} records have an output line")
        if item.name == "completed" else item
        for item in checks
    ]  # fmt: skip
