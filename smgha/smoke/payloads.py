"""The smoke test's payloads: the rows of a payload file (CSV, or JSON lines), the expected
predictions of an `expected` file, and the request body of a row. Every problem is an
InputError naming the input and the line, raised before anything is sent.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeGuard

from smgha.errors import InputError
from smgha.inputs import choice, decimal_number

CONTENT_TYPES = ("text/csv", "application/json")
# The content type each payload file suffix is sent as when content-type is not given.
INFERRED_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".jsonl": "application/json",
    ".json": "application/json",
}
MAX_ROWS = 10_000
# What the model predicts, which says what a label is: a binary classifier's label is its
# class, 0 or 1; a regression model's is the true value, any finite number.
BINARY_CLASSIFICATION = "binary-classification"
REGRESSION = "regression"
TASKS = (BINARY_CLASSIFICATION, REGRESSION)

# What to do about a bad payload or expected file: the hints of the InputErrors below.
SUFFIX_HINT = "Name the file .csv (one request row per line) or .jsonl (one JSON object per line)."
JSON_LABEL_HINT = 'Leave it unset: JSON lines carry their label as "label".'
TOO_MANY_ROWS_HINT = "A smoke test needs a few dozen real requests, not the test set."
NO_ROWS_HINT = "Put one request per line."
SAME_FEATURES_HINT = "Every row needs the same features, in the same order."
SAME_LABELS_HINT = "Label every row, or none."
CSV_QUOTING_HINT = "Fix the quoting."
CSV_NUMBERS_HINT = "Write numbers only; leave a cell empty for a missing value."
JSON_ROW_HINT = 'Write one JSON object per line: {"features": [1.5, 0, 3], "label": 1}.'
JSON_FEATURES_HINT = "Features are numbers, or null for a missing value."
JSON_EXPECTED_HINT = 'Give the expected prediction as a number, e.g. "expected": 0.73.'
EXPECTED_TWICE_HINT = (
    "Keep them in one place: drop the expected input or the payloads' expected keys."
)
EXPECTED_NUMBER_HINT = "Write one expected prediction per line."
EXPECTED_COUNT_HINT = "Give one expected prediction per payload row, in the same order."
LABEL_HINT = (  # and how to leave labels out
    "Labels of a binary classifier are 0 or 1 (a regression model's: set task: regression)"
)
REGRESSION_LABEL_HINT = "Write the true value as a number"  # and how to leave labels out


@dataclass(frozen=True)
class Row:
    """One request of the payload file."""

    number: int  # 1-based position among the rows
    line: int  # its line in the payload file
    cells: tuple[str, ...]  # the features as CSV text (as written, for a CSV file)
    features: tuple[float | None, ...]  # the features as numbers (None: a missing value)
    label: float | None = None  # a class (0 or 1) or, for a regression model, the true value
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


def parse_payloads(
    path: Path, text: str, label_column: str = "none", task: str = BINARY_CLASSIFICATION
) -> Payloads:
    """The rows of a payload file; InputError naming the line of the first bad one. `task`
    (one of TASKS) says what a label may be."""
    suffix = path.suffix.lower()
    if suffix not in INFERRED_CONTENT_TYPES:
        raise InputError(
            "payloads",
            f"{path.name} is neither .csv nor .jsonl/.json",
            SUFFIX_HINT,
        )
    if suffix != ".csv" and label_column != "none":
        raise InputError(
            "label-column",
            "applies to CSV payloads only",
            JSON_LABEL_HINT,
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
                TOO_MANY_ROWS_HINT,
            )
        rows.append(parse(len(rows) + 1, line_number, line, label_column, task))
    if not rows:
        raise InputError("payloads", f"{path} holds no request", NO_ROWS_HINT)
    first = rows[0]
    for row in rows[1:]:
        if len(row.features) != len(first.features):
            raise InputError(
                "payloads",
                f"line {row.line} has {len(row.features)} features, line {first.line} has {len(first.features)}",
                SAME_FEATURES_HINT,
            )
        if (row.label is None) != (first.label is None):
            raise InputError(
                "payloads",
                f"line {row.line} {'has' if row.label is not None else 'lacks'} a label, line {first.line} does not",
                SAME_LABELS_HINT,
            )
    return Payloads(path, tuple(rows))


def _csv_row(number: int, line_number: int, line: str, label_column: str, task: str) -> Row:
    try:
        cells = [cell.strip() for cell in next(csv.reader([line], strict=True))]
    except csv.Error as error:
        raise InputError(
            "payloads", f"line {line_number} is not a CSV row ({error})", CSV_QUOTING_HINT
        ) from None
    label = None
    if label_column == "first":
        label = _label(cells[0], line_number, "label-column", task)
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
                CSV_NUMBERS_HINT,
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


def _label(value: object, line_number: int, name: str, task: str) -> float:
    """A row's label: 0 or 1 for a binary classifier, any finite number for regression."""
    number: float | None = None
    if isinstance(value, str):
        number = _csv_number(value.strip())
    elif _is_finite_number(value):
        number = value
    leave_out = ", or set label-column: none." if name == "label-column" else "."
    if task == REGRESSION:
        if number is None:
            raise InputError(
                name,
                f"line {line_number}: label {value!r} is not a finite number",
                REGRESSION_LABEL_HINT + leave_out,
            )
        return number
    if number is None or number not in (0, 1):
        raise InputError(
            name, f"line {line_number}: label {value!r} is not 0 or 1", LABEL_HINT + leave_out
        )
    return int(number)


def _json_row(number: int, line_number: int, line: str, label_column: str, task: str) -> Row:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise InputError(
            "payloads", f"line {line_number} is not JSON ({error})", JSON_ROW_HINT
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            "payloads",
            f"line {line_number} is a {type(record).__name__}, not an object",
            JSON_ROW_HINT,
        )
    raw = record.get("features")
    if not isinstance(raw, list) or not raw:
        raise InputError(
            "payloads", f'line {line_number} has no "features" list of numbers', JSON_ROW_HINT
        )
    features: list[float | None] = []
    for value in raw:
        if value is None or _is_finite_number(value):
            features.append(value)
            continue
        raise InputError(
            "payloads",
            f"line {line_number}: feature {value!r} is not a finite number",
            JSON_FEATURES_HINT,
        )
    label = (
        _label(record["label"], line_number, "payloads", task)
        if record.get("label") is not None
        else None
    )
    expected = record.get("expected")
    if expected is not None and not _is_finite_number(expected):
        raise InputError(
            "payloads",
            f'line {line_number}: "expected" {expected!r} is not a finite number',
            JSON_EXPECTED_HINT,
        )
    cells = tuple("" if value is None else repr(value) for value in features)
    return Row(number, line_number, cells, tuple(features), label, expected)


def _is_finite_number(value: object) -> TypeGuard[float]:
    """An int or float that is finite; a bool is not a number here (JSON true is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def with_expected(payloads: Payloads, path: Path, text: str) -> Payloads:
    """The payloads with the expected predictions of an `expected` file, one per line."""
    if payloads.has_expected:
        raise InputError(
            "expected",
            f"the payload lines of {payloads.path.name} already give expected values",
            EXPECTED_TWICE_HINT,
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
                EXPECTED_NUMBER_HINT,
            )
        values.append(float(value))
    if len(values) != len(payloads.rows):
        raise InputError(
            "expected",
            f"{path.name} has {len(values)} values for {len(payloads.rows)} payload rows",
            EXPECTED_COUNT_HINT,
        )
    rows = tuple(
        replace(row, expected=value) for row, value in zip(payloads.rows, values, strict=True)
    )
    return Payloads(payloads.path, rows)


def request_content_type(text: str, path: Path) -> str:
    """The content-type input without its parameters ("text/csv; charset=utf-8" is
    text/csv), one of CONTENT_TYPES; when it is empty, the one the payload file's suffix
    implies."""
    content_type = text.split(";")[0].strip().lower()
    if not content_type:
        return INFERRED_CONTENT_TYPES[path.suffix.lower()]
    return choice("content-type", content_type, CONTENT_TYPES)


def encode(row: Row, content_type: str) -> bytes:
    """The request body of a row: a CSV line, or {"instances": [features]}."""
    if content_type == "text/csv":
        return ",".join(row.cells).encode()
    return json.dumps({"instances": [list(row.features)]}).encode()
