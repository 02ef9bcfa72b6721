"""Data-quality monitoring in SageMaker Model Monitor's own formats, in pure Python.

    baseline data (CSV)  ->  statistics(dataset)            ->  statistics.json
                             suggest_constraints(statistics) ->  constraints.json
    captured traffic     ->  decode_capture(record)          ->  rows of the endpoint's input
                             check(dataset, baseline, constraints) -> constraint_violations.json

The files follow the schemas of the Model Monitor pre-built container (the "Schema for
Statistics", "Schema for Constraints" and "Schema for Violations" pages of the SageMaker
guide), so a baseline computed here can be handed to a real monitoring schedule, and one
written by a baselining job can be checked here:

* Feature names: the CSV header, or `_c0, _c1, ...` without one (the container's names).
* Each feature's statistics (its `inferred_type`, KLL sketch, buckets) and its drift from
  the baseline (`baseline_drift_check`) are computed in smgha/drift.py.
* The layout is the real analyzer's, field by field, as a baselining job of the
  sagemaker-model-monitor-analyzer image wrote it (a statistics.json and constraints.json
  committed in ScottReidux/aai-540, assets/): numerical features also carry
  `approximate_num_distinct_values` and `completeness`, string features `completeness`; a
  string feature has categorical buckets (integer counts) only with at most 120 distinct
  values, as Deequ's ColumnProfiler computes histograms (DEFAULT_CARDINALITY_THRESHOLD); its
  `domains` constraint follows Deequ's CategoricalRangeRule; `distribution_constraints` also
  name `categorical_comparison_threshold` and `categorical_drift_method`.

Nothing here touches a backend; `run()` at the end is the local backend's monitoring
execution (reads captured files, writes the reports) and only uses what it is given.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from smgha import drift
from smgha.backends import Objects

# A String feature gets a `domains` constraint only when at most this share of its
# categories occur once (Deequ's CategoricalRangeRule: uniqueValueRatio <= 0.1, src/main/scala/com/amazon/deequ/
# suggestions/rules/CategoricalRangeRule.scala).
MAX_UNIQUE_CATEGORY_SHARE = 0.1

CHECK_TYPES = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)

_MISSING_WORDS = frozenset({"", "nan", "null", "none"})


# ---- datasets -----------------------------------------------------------------------------


@dataclass
class Dataset:
    """Columns of raw cells (None is a missing value), with their feature names."""

    names: list[str]
    rows: list[list[str | None]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=len(self.names))

    def column(self, index: int) -> list[str | None]:
        return [r[index] if index < len(r) else None for r in self.rows]


class DataError(ValueError):
    """The data cannot be read as the dataset it should be; the message says where."""


def default_names(count: int) -> list[str]:
    return [f"_c{i}" for i in range(count)]


def read_csv(data: bytes, header: bool = False, label_column: str = "none") -> Dataset:
    """A CSV file as a Dataset. `label_column` "first" drops each row's first value (the
    label of a label-first training split: the endpoint receives the features only)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text: {error}") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
    names: list[str] = []
    if header:
        if not rows:
            raise DataError("no header line")
        names = [n.strip() for n in rows.pop(0)]
    if not rows:
        raise DataError("no data rows")
    if label_column == "first":
        rows = [row[1:] for row in rows]
        names = names[1:]
    width = max(len(r) for r in rows)
    if width == 0:
        raise DataError("no feature columns (only a label)")
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"row {number} has {len(row)} features, others have {width}")
    if header and len(names) != width:
        raise DataError(f"the header names {len(names)} features, the rows have {width}")
    cells = [[_cell(c) for c in row] for row in rows]
    return Dataset(names or default_names(width), cells)


def _cell(text: str) -> str | None:
    stripped = text.strip()
    return None if stripped.lower() in _MISSING_WORDS else stripped


# ---- statistics.json ----------------------------------------------------------------------


def statistics(dataset: Dataset) -> dict[str, Any]:
    """statistics.json of a dataset."""
    features = [
        drift.feature_statistics(name, dataset.column(index))
        for index, name in enumerate(dataset.names)
    ]
    return {"version": 0.0, "dataset": {"item_count": len(dataset.rows)}, "features": features}


# ---- constraints.json ---------------------------------------------------------------------


def suggest_constraints(
    stats: dict[str, Any], drift_threshold: float = 0.1, comparison_method: str = "Robust"
) -> dict[str, Any]:
    """constraints.json suggested from a baseline's statistics, as the container does."""
    features = []
    for feature in stats["features"]:
        numerical = feature.get("numerical_statistics")
        common = (numerical or feature.get("string_statistics") or {}).get("common", {})
        present, missing = common.get("num_present", 0), common.get("num_missing", 0)
        entry: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": present / (present + missing) if present + missing else 0.0,
        }
        if numerical is not None:
            entry["num_constraints"] = {"is_non_negative": bool(numerical.get("min", 0.0) >= 0)}
        else:
            distribution = feature["string_statistics"].get("distribution") or {}
            buckets = (distribution.get("categorical") or {}).get("buckets") or []
            once = sum(1 for b in buckets if b["count"] == 1)
            if buckets and once / len(buckets) <= MAX_UNIQUE_CATEGORY_SHARE:
                entry["string_constraints"] = {"domains": sorted(b["value"] for b in buckets)}
        features.append(entry)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": drift_threshold,
                "comparison_method": comparison_method,
                # String features' drift: the same threshold, the L-infinity distance of the
                # category frequencies (categorical_distance), as the analyzer suggests it.
                "categorical_comparison_threshold": drift_threshold,
                "categorical_drift_method": "LInfinity",
            },
        },
    }


# ---- constraint_violations.json ------------------------------------------------------------


# The container's descriptions of a column missing from, or extra to, the baseline's.
MISSING_COLUMNS = "There are missing columns in current dataset. Number of columns in current dataset: {width}, Number of columns in baseline constraints: {expected}"
EXTRA_COLUMNS = "There are extra columns in current dataset. Number of columns in current dataset: {width}, Number of columns in baseline constraints: {expected}"


def check(
    dataset: Dataset, baseline: dict[str, Any], constraints: dict[str, Any]
) -> list[dict[str, str]]:
    """The violations of `constraints` (and of drift from `baseline`, a statistics.json) by
    `dataset`, in the order of the baseline's features."""
    config = constraints.get("monitoring_config") or {}
    if config.get("evaluate_constraints", "Enabled") != "Enabled":
        return []
    limits = drift.Limits.of(config)
    baseline_features = {f["name"]: f for f in baseline.get("features", [])}
    expected = constraints.get("features", [])
    width = dataset.width
    columns = {"width": width, "expected": len(expected)}
    violations: list[dict[str, str]] = []
    for index, constraint in enumerate(expected):
        name = constraint["name"]
        if index >= width:
            found = [("missing_column_check", MISSING_COLUMNS.format(**columns))]
        else:
            cells = dataset.column(index)
            found = drift.feature_violations(constraint, cells, baseline_features.get(name), limits)
        violations += [_violation(name, kind, description) for kind, description in found]
    for index in range(len(expected), width):
        violations.append(
            _violation(f"_c{index}", "extra_column_check", EXTRA_COLUMNS.format(**columns))
        )
    return violations


def _violation(name: str, kind: str, description: str) -> dict[str, str]:
    return {"feature_name": name, "constraint_check_type": kind, "description": description}


def violations_document(violations: list[dict[str, str]]) -> dict[str, Any]:
    return {"violations": violations}


# ---- captured traffic ---------------------------------------------------------------------


def decode_capture(record: dict[str, Any]) -> list[list[str | None]]:
    """The rows of one data capture record's `endpointInput` (CSV, JSON or BASE64)."""
    captured = (record.get("captureData") or {}).get("endpointInput")
    if not captured:
        return []
    encoding = str(captured.get("encoding", "")).upper()
    data = str(captured.get("data", ""))
    content_type = str(captured.get("observedContentType", "")).split(";")[0].strip().lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise DataError(f"a BASE64 endpointInput is not UTF-8 text: {error}") from None
        encoding = "JSON" if content_type.endswith("json") else "CSV"
    if encoding == "JSON":
        return _json_rows(data)
    return [[_cell(c) for c in row] for row in csv.reader(io.StringIO(data)) if row]


def _json_rows(text: str) -> list[list[str | None]]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise DataError(f"a JSON endpointInput is not JSON: {error}") from None
    instances = document.get("instances") if isinstance(document, dict) else document
    if isinstance(document, dict) and instances is None and "features" in document:
        instances = [document]
    if not isinstance(instances, list):
        raise DataError('a JSON endpointInput has no "instances" list')
    if instances and not isinstance(instances[0], (list, dict)):
        instances = [instances]  # one flat instance
    rows = []
    for instance in instances:
        values = instance.get("features") if isinstance(instance, dict) else instance
        if not isinstance(values, list):
            raise DataError("a JSON instance is not a list of values (or its 'features')")
        rows.append([_json_cell(v) for v in values])
    return rows


def _json_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def captured_dataset(lines: Iterable[str], names: Sequence[str]) -> Dataset:
    """The input rows of data capture JSON lines, named after the baseline's features."""
    rows: list[list[str | None]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise DataError(f"capture record {number} is not JSON: {error}") from None
        rows.extend(decode_capture(record))
    width = max((len(r) for r in rows), default=len(names))
    return Dataset([*names, *default_names(width)[len(names) :]][:width], rows)


# ---- one monitoring execution (the local backend's) -------------------------------------------


class MonitoringStore(Protocol):
    """What `run()` needs from the local backend's monitoring area (the local Monitoring,
    which alone keeps capture cursors): SageMaker runs its executions itself."""

    def monitoring_context(self, endpoint_name: str) -> dict[str, Any]: ...

    def new_capture_lines(self, endpoint_name: str, everything: bool) -> tuple[list[str], Any]: ...

    def record_execution(
        self, endpoint_name: str, summary: dict[str, Any], cursor: Any
    ) -> None: ...


@dataclass
class MonitoringRun:
    endpoint_name: str
    schedule_name: str
    records: int
    rows: int
    violations: list[dict[str, str]]
    statistics: dict[str, Any]
    violations_uri: str
    statistics_uri: str
    status: str  # Completed | CompletedWithViolations | NoData

    def render(self) -> str:
        lines = [
            f"{self.endpoint_name} ({self.schedule_name}): {self.records} captured record(s), {self.rows} row(s): {self.status}"
        ]
        if self.status == "NoData":
            lines.append("  no new captured data since the last run")
            return "\n".join(lines) + "\n"
        for violation in self.violations:
            lines.append(
                f"  {violation['feature_name']}: {violation['constraint_check_type']}: {violation['description']}"
            )
        if not self.violations:
            lines.append("  no violations")
        lines.append(f"  violations: {self.violations_uri}")
        lines.append(f"  statistics: {self.statistics_uri}")
        return "\n".join(lines) + "\n"


def run(
    store: MonitoringStore,
    objects: Objects,
    endpoint_name: str,
    everything: bool = False,
    now: dt.datetime | None = None,
) -> MonitoringRun:
    """One monitoring execution of the endpoint's schedule: analyse the traffic captured
    since the last one (all of it with `everything`), write `constraint_violations.json` and
    `statistics.json` under the schedule's output, record the execution, return the result.

    Reports go where SageMaker puts them:
    <output>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/.
    """
    context = store.monitoring_context(endpoint_name)
    baseline = objects.read_json(context["StatisticsUri"])
    constraints = objects.read_json(context["ConstraintsUri"])
    names = [f["name"] for f in constraints.get("features", [])]
    lines, cursor = store.new_capture_lines(endpoint_name, everything)
    dataset = captured_dataset(lines, names)
    moment = now or dt.datetime.now(dt.timezone.utc)
    folder = (
        f"{context['OutputUri'].rstrip('/')}/{endpoint_name}/{context['ScheduleName']}/"
        f"{moment:%Y/%m/%d/%H}"
    )
    records = sum(1 for line in lines if line.strip())
    result = MonitoringRun(
        endpoint_name=endpoint_name,
        schedule_name=context["ScheduleName"],
        records=records,
        rows=len(dataset.rows),
        violations=[],
        statistics={},
        violations_uri=f"{folder}/constraint_violations.json",
        statistics_uri=f"{folder}/statistics.json",
        status="NoData",
    )
    if dataset.rows:
        result.violations = check(dataset, baseline, constraints)
        result.statistics = statistics(dataset)
        result.status = "CompletedWithViolations" if result.violations else "Completed"
        objects.put_object(result.statistics_uri, json_bytes(result.statistics))
        objects.put_object(
            result.violations_uri, json_bytes(violations_document(result.violations))
        )
    store.record_execution(
        endpoint_name,
        {
            "MonitoringScheduleName": context["ScheduleName"],
            "EndpointName": endpoint_name,
            "ScheduledTime": moment.isoformat(),
            "MonitoringExecutionStatus": "Failed" if result.status == "NoData" else result.status,
            "FailureReason": "No captured data since the last execution"
            if result.status == "NoData"
            else "",
            "ConstraintViolationsUri": result.violations_uri if dataset.rows else "",
            "StatisticsUri": result.statistics_uri if dataset.rows else "",
            "Violations": len(result.violations),
        },
        cursor,
    )
    return result


def json_bytes(document: Any) -> bytes:
    """A report as written: indented JSON, UTF-8."""
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")
