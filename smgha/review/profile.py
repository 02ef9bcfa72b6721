"""A data profile of a CSV file with a header, and the distribution shift between two.

A profile is plain JSON (it travels in the review bundle):

    {"rows": 5000, "columns": {
        "tenure": {"kind": "numeric", "cuts": [...], "counts": [...], "missing": 0, "mean": 31.2},
        "plan":   {"kind": "categorical", "counts": {"basic": 2100, ...}, "other": 0, "missing": 3}}}

A numeric column keeps its decile cut points (at most 9, duplicates dropped) and the count of
values in each bin: bin i holds the values v with cuts[i-1] < v <= cuts[i]; and its 101
percentiles (0 to 100), on which another profile's cuts are laid (exact when the cuts are
the same, as for the same data; else to about one percentile). A categorical
column keeps the counts of its TOP_VALUES most frequent values and the rest as `other`.

The shift of one column is the population stability index (PSI) of the candidate's values on
the champion's bins (missing values are a bin of their own):

    PSI = sum over bins of (candidate share - champion share) * ln(candidate share / champion share)

A share of 0 is taken as PSI_FLOOR so that the logarithm is defined (the usual practice). The
rule of thumb (Siddiqi, "Credit Risk Scorecards", 2006; docs/review.md): below 0.1 no
significant change, 0.1 to 0.25 moderate, 0.25 and above major.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

TOP_VALUES = 50
DECILES = 10
PERCENTILES = 100
PSI_FLOOR = 1e-4
PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
# Cells read as missing (pandas writes NaN as an empty cell; the others are the usual
# spellings in CSV files written by other tools), with their case variants written out: one
# set look-up per cell, no lower() (a profile is made on every pull request's data).
MISSING_CELLS = frozenset(
    {
        "",
        "nan",
        "NaN",
        "NAN",
        "na",
        "NA",
        "null",
        "NULL",
        "Null",
        "none",
        "None",
        "NONE",
        "n/a",
        "N/A",
    }
)


class ProfileError(ValueError):
    """The data cannot be profiled (the message says why)."""


def profile_csv(data: bytes) -> dict[str, Any]:
    """The profile of a UTF-8 CSV file whose first row names the columns.

    Written for speed (it runs on every pull request's data): the rows are transposed into
    columns by zip, numbers parsed by map(float), the bins counted on the sorted values. Over
    MAX_PROFILED_ROWS rows, the columns are profiled on every k-th row (a systematic sample
    of at most that many; `rows` stays the file's count, `sampled_rows` says how many): two
    samples of one distribution then differ by a PSI of about (bins - 1) * (1/n1 + 1/n2),
    under 0.001 at this size, far below the 0.1 that counts as a shift."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProfileError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    header, records, total = _records(text)
    if not header or len(set(header)) != len(header) or any(not name for name in header):
        raise ProfileError("the first row must name every column, each once")
    rows = [row for row in records if row]
    try:  # zip checks every row's length, in C
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    except ValueError:
        columns = []
    if len(columns) != len(header):
        number, row = next((n, r) for n, r in enumerate(rows, 2) if len(r) != len(header))
        where = f"row {number}" if total is None else "a sampled row"
        raise ProfileError(f"{where} has {len(row)} cells, the header {len(header)}")
    profile = {
        "rows": len(rows) if total is None else total,
        "columns": {name: _column(values) for name, values in zip(header, columns, strict=True)},
        "sha256": data_sha256(data),
    }
    if total is not None:
        profile["sampled_rows"] = len(rows)
    return profile


MAX_PROFILED_ROWS = 20_000


def _records(text: str) -> tuple[list[str] | None, list[list[str]], int | None]:
    """(the header, the records to profile, the file's record count when they are a sample
    of it, else None). A file without a quote has one record a line, so the lines are
    counted and sampled before any is parsed; with quotes (a cell may hold a line break),
    every record is parsed, then sampled."""
    if '"' not in text:
        lines = [line for line in text.split("\n") if line.strip("\r")]
        header = next(csv.reader(lines[:1]), None)
        body = lines[1:]
        step = -(-len(body) // MAX_PROFILED_ROWS) or 1
        sampled = list(csv.reader(body[::step]))
        return header, sampled, len(body) if step > 1 else None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    records = [row for row in reader if row]
    step = -(-len(records) // MAX_PROFILED_ROWS) or 1
    return header, records[::step], len(records) if step > 1 else None


def data_sha256(data: bytes) -> str:
    """What identifies the data a profile was made of: the same bytes make the same profile."""
    return hashlib.sha256(data).hexdigest()


def _column(cells: tuple[str, ...]) -> dict[str, Any]:
    present = [value for value in map(str.strip, cells) if value not in MISSING_CELLS]
    missing = len(cells) - len(present)
    numbers = _numbers(present)
    if not numbers:  # None (not all numbers) or none at all
        counts = Counter(present)
        top = dict(counts.most_common(TOP_VALUES))
        other = sum(counts.values()) - sum(top.values())
        return {"kind": "categorical", "counts": top, "other": other, "missing": missing}
    ordered = sorted(numbers)
    last = len(ordered) - 1
    cuts = sorted({ordered[last * i // DECILES] for i in range(1, DECILES)})
    # Bin i holds cuts[i-1] < v <= cuts[i]: the values at most each cut, less those before.
    at_most = [bisect.bisect_right(ordered, cut) for cut in cuts] + [len(ordered)]
    return {
        "kind": "numeric",
        "cuts": cuts,
        "counts": [high - low for low, high in itertools.pairwise([0, *at_most])],
        "quantiles": [ordered[last * i // PERCENTILES] for i in range(PERCENTILES + 1)],
        "missing": missing,
        "mean": math.fsum(numbers) / len(numbers),
    }


def _numbers(values: list[str]) -> list[float] | None:
    """The values as finite numbers, or None when one of them is not one."""
    try:
        numbers = list(map(float, values))
    except ValueError:
        return None
    return numbers if all(map(math.isfinite, numbers)) else None


def profile_problem(profile: Any) -> tuple[str, str]:
    """('', '') for a well-formed profile (one read from an untrusted bundle), else (the
    field, what is wrong with it): everything shift() reads, of the type it reads it as."""
    if not isinstance(profile, dict) or not isinstance(profile.get("columns"), dict):
        return "", "must be an object with columns"
    if not _count(profile.get("rows")):
        return "rows", "must be a count"
    if "sampled_rows" in profile and not _count(profile["sampled_rows"]):
        return "sampled_rows", "must be a count"
    sha256 = profile.get("sha256", "")  # absent in a profile made before it was recorded
    if not isinstance(sha256, str) or not re.fullmatch(r"(|[0-9a-f]{64})", sha256):
        return "sha256", "must be 64 lowercase hex digits"
    for name, column in profile["columns"].items():
        kind = column.get("kind") if isinstance(column, dict) else None
        if kind == "numeric":
            cuts, counts, quantiles = (
                column.get("cuts"),
                column.get("counts"),
                column.get("quantiles"),
            )
            well_formed = (
                _sorted_numbers(cuts)
                and _sorted_numbers(quantiles)
                and len(quantiles) >= 2
                and isinstance(counts, list)
                and len(counts) == len(cuts) + 1
                and all(_count(c) for c in counts)
            )
        elif kind == "categorical":
            counts = column.get("counts")
            well_formed = (
                isinstance(counts, dict)
                and all(_count(c) for c in counts.values())
                and _count(column.get("other"))
            )
        else:
            well_formed = False
        if not (well_formed and _count(column.get("missing"))):
            return f"columns.{name}", "is not a numeric or categorical column profile"
    return "", ""


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _sorted_numbers(values: Any) -> bool:
    return (
        isinstance(values, list)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        )
        and values == sorted(values)
    )


@dataclass(frozen=True)
class Shift:
    """One column's distribution shift from the champion's data to the candidate's."""

    column: str
    psi: float | None  # None: not comparable (see `note`)
    level: str  # "none" | "moderate" | "major" | "" (not comparable)
    note: str = ""


def shift(champion: dict[str, Any], candidate: dict[str, Any]) -> list[Shift]:
    """The PSI of every column of either profile, largest first; columns only one side has,
    or of another kind on each side, are listed with a note."""
    old, new = champion["columns"], candidate["columns"]
    shifts = []
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            where = "candidate" if name in new else "champion"
            shifts.append(Shift(name, None, "", f"only in the {where}'s data"))
        elif old[name]["kind"] != new[name]["kind"]:
            note = f"{old[name]['kind']} in the champion's data, {new[name]['kind']} now"
            shifts.append(Shift(name, None, "", note))
        else:
            expected, actual = _shares(old[name], new[name])
            value = psi(expected, actual)
            shifts.append(Shift(name, value, level(value)))
    return sorted(shifts, key=lambda s: -1.0 if s.psi is None else s.psi, reverse=True)


def _shares(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Both columns' counts on the champion's bins (plus a missing bin), as shares."""
    if old["kind"] == "numeric":
        expected = [*old["counts"], old["missing"]]
        actual = [*_rebinned(old["cuts"], new), new["missing"]]
    else:
        # The candidate's values outside the champion's top values count as `other`; so do
        # the candidate's own `other` values (their names were not kept).
        names = list(old["counts"])
        expected = [*(old["counts"][n] for n in names), old["other"], old["missing"]]
        listed = [new["counts"].get(n, 0) for n in names]
        unlisted = sum(new["counts"].values()) - sum(listed) + new["other"]
        actual = [*listed, unlisted, new["missing"]]
    return _normalised(expected), _normalised(actual)


def _rebinned(cuts: list[float], column: dict[str, Any]) -> list[float]:
    """The candidate's numeric values counted on the champion's cuts: its own counts when the
    cuts are the same, else from its percentiles (the raw values do not travel), the share at
    most c read off them linearly between two percentiles."""
    if column["cuts"] == cuts:
        return [float(count) for count in column["counts"]]
    quantiles = column["quantiles"]
    present = sum(column["counts"])
    at_most = [0.0, *(_share_at_most(quantiles, c) for c in cuts), 1.0]
    return [present * (high - low) for low, high in itertools.pairwise(at_most)]


def _share_at_most(quantiles: list[float], value: float) -> float:
    """The share of values <= `value` of a column with these (evenly spaced) percentiles."""
    if value < quantiles[0]:
        return 0.0
    if value >= quantiles[-1]:
        return 1.0
    at = bisect.bisect_right(quantiles, value) - 1  # quantiles[at] <= value < quantiles[at + 1]
    low, high = quantiles[at], quantiles[at + 1]
    return (at + (value - low) / (high - low)) / (len(quantiles) - 1)


def _normalised(counts: list[int | float]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index of shares `actual` against shares `expected`."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def level(value: float) -> str:
    if value >= PSI_MAJOR:
        return "major"
    return "moderate" if value >= PSI_MODERATE else "none"
