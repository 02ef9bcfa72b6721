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
* `inferred_type`: Integral (every present value an integer), Fractional (numbers),
  String (anything else present), Unknown (nothing present).
* Numerical distributions: 10 equal-width buckets between min and max, and a KLL quantile
  sketch (`parameters` c=0.64, k=2048; `data` = the compactor levels, level h weighing 2^h),
  built as Deequ's QuantileNonSample builds it (see kll_sketch).
* The layout is the real analyzer's, field by field, as a baselining job of the
  sagemaker-model-monitor-analyzer image wrote it (a statistics.json and constraints.json
  committed in ScottReidux/aai-540, assets/): numerical features also carry
  `approximate_num_distinct_values` and `completeness`, string features `completeness`; a
  string feature has categorical buckets (integer counts) only with at most 120 distinct
  values, as Deequ's ColumnProfiler computes histograms (DEFAULT_CARDINALITY_THRESHOLD); its
  `domains` constraint follows Deequ's CategoricalRangeRule; `distribution_constraints` also
  name `categorical_comparison_threshold` and `categorical_drift_method`.
* Drift (`baseline_drift_check`), as Deequ computes it for the container: the L-infinity
  distance between the two empirical CDFs (baseline sketch vs. current data). With
  `comparison_method: Robust` the sampling noise of a two-sample Kolmogorov-Smirnov test is
  taken off first: max(0, d - 1.8 * sqrt((n + m) / (n * m))); `Simple` compares d itself.
  A violation is a distance above `comparison_threshold`. String features compare their
  category frequencies the same way.

Nothing here touches a backend; `run()` at the end is the local backend's monitoring
execution (reads captured files, writes the reports) and only uses what it is given.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import csv
import datetime as dt
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from smgha.backends import Objects

# Deequ's KLLSketch.DEFAULT_SKETCH_SIZE and DEFAULT_SHRINKING_FACTOR (awslabs/deequ,
# src/main/scala/com/amazon/deequ/analyzers/KLLSketch.scala): the analyzer's `k` and `c`.
KLL_K = 2048
KLL_C = 0.64
BUCKETS = 10
# A String feature gets categorical buckets only with at most this many distinct values:
# Deequ's ColumnProfiler.DEFAULT_CARDINALITY_THRESHOLD (src/main/scala/com/amazon/deequ/
# profiles/ColumnProfiler.scala). The analyzer's output agrees: 53 and 86 distinct values
# have buckets, 2477 and more have none (ScottReidux/aai-540, assets/statistics.json).
MAX_HISTOGRAM_VALUES = 120
# ... and a `domains` constraint only when at most this share of its categories occur once
# (Deequ's CategoricalRangeRule: uniqueValueRatio <= 0.1, src/main/scala/com/amazon/deequ/
# suggestions/rules/CategoricalRangeRule.scala).
MAX_UNIQUE_CATEGORY_SHARE = 0.1
# Deequ's coefficient of the Kolmogorov-Smirnov correction of a Robust comparison.
ROBUST_COEFFICIENT = 1.8

CHECK_TYPES = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)

_INTEGRAL = re.compile(r"[+-]?\d+")
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


def _kind(cell: str | None) -> str:
    """Integral, Fractional, String, or '' for a missing value."""
    if cell is None:
        return ""
    if _INTEGRAL.fullmatch(cell):
        return "Integral"
    try:
        value = float(cell)
    except ValueError:
        return "String"
    return "Fractional" if math.isfinite(value) else "String"


def infer_type(kinds: Counter[str]) -> str:
    if kinds["String"]:
        return "String"
    if kinds["Fractional"]:
        return "Fractional"
    if kinds["Integral"]:
        return "Integral"
    return "Unknown"


# ---- the KLL sketch ---------------------------------------------------------------------------


# The analyzer is built on Deequ, and reads a baseline's sketch back with
# QuantileNonSample.reconstruct(k, c, data): level i of `data` becomes compactor i, each item
# weighing 2^i (QuantileNonSample.output: `1L << i`), with no check of the level sizes. The
# sketch is built here the way QuantileNonSample builds it (awslabs/deequ,
# src/main/scala/com/amazon/deequ/analyzers/QuantileNonSample.scala and
# NonSampleCompactor.scala), so `data` is what one Spark partition fed the same rows in the
# same order would write: the bottom level the largest (capacity(0) = 2050 for k = 2048, so up
# to 2050 values stay exact, in arrival order), each level as Deequ leaves it, unsorted.


def _capacity(height: int, k: int, c: float) -> int:
    """QuantileNonSample.capacity: 2 * (ceil(k * c^height / 2) + 1)."""
    return 2 * (math.ceil(k * c**height / 2) + 1)


def kll_sketch(values: Iterable[float], k: int = KLL_K, c: float = KLL_C) -> list[list[float]]:
    """The compactor levels of a KLL sketch of `values` (QuantileNonSample.update)."""
    levels: list[list[float]] = [[]]
    compactions: list[int] = [0]  # NonSampleCompactor.numOfCompress, per level
    offsets: list[int] = [0]  # NonSampleCompactor.offset, per level
    size = 0
    for value in values:
        levels[0].append(value)
        size += 1
        if size > sum(_capacity(height, k, c) for height in range(len(levels))):
            _condense(levels, compactions, offsets, k, c)
            size = sum(len(level) for level in levels)
    return levels


def _condense(
    levels: list[list[float]], compactions: list[int], offsets: list[int], k: int, c: float
) -> None:
    """QuantileNonSample.condense: compact the lowest full level into the next one."""
    for height, level in enumerate(levels):
        if len(level) < _capacity(height, k, c):
            continue
        if height + 1 == len(levels):
            levels.append([])
            compactions.append(0)
            offsets.append(0)
        # NonSampleCompactor.compact: every other one of the sorted even-length head moves
        # up (the half alternating every second compaction); an odd last item stays.
        even = len(level) - len(level) % 2
        if compactions[height] % 2 == 1:
            offsets[height] = 1 - offsets[height]
        levels[height + 1].extend(sorted(level[:even])[offsets[height] : even : 2])
        levels[height] = level[even:]
        compactions[height] += 1
        return


class Distribution:
    """A weighted empirical CDF: from exact values, or from a KLL sketch's levels."""

    def __init__(self, items: Sequence[tuple[float, float]]) -> None:
        ordered = sorted(items)
        self.keys = [key for key, _ in ordered]
        self.cumulative: list[float] = []
        total = 0.0
        for _, weight in ordered:
            total += weight
            self.cumulative.append(total)
        self.total = total

    @classmethod
    def of_values(cls, values: Iterable[float]) -> Distribution:
        return cls([(v, 1.0) for v in values])

    @classmethod
    def of_sketch(cls, data: Sequence[Sequence[float]]) -> Distribution:
        return cls([(float(v), float(2**level)) for level, items in enumerate(data) for v in items])

    def cdf(self, x: float) -> float:
        index = bisect.bisect_right(self.keys, x)
        return self.cumulative[index - 1] / self.total if index and self.total else 0.0


def linf_distance(baseline: Distribution, current: Distribution) -> float:
    """The largest gap between the two CDFs (the Kolmogorov-Smirnov statistic)."""
    keys = set(baseline.keys) | set(current.keys)
    return max((abs(baseline.cdf(k) - current.cdf(k)) for k in keys), default=0.0)


def categorical_distance(baseline: dict[str, float], current: dict[str, float]) -> float:
    n, m = sum(baseline.values()), sum(current.values())
    if not n or not m:
        return 0.0
    return max(
        abs(baseline.get(key, 0.0) / n - current.get(key, 0.0) / m)
        for key in set(baseline) | set(current)
    )


def drift_distance(linf: float, n: float, m: float, method: str = "Robust") -> float:
    """`Simple`: the distance itself. `Robust`: less the two-sample KS noise at n and m."""
    if method == "Simple" or not n or not m:
        return linf
    return max(0.0, linf - ROBUST_COEFFICIENT * math.sqrt((n + m) / (n * m)))


# ---- statistics.json ----------------------------------------------------------------------


def statistics(dataset: Dataset) -> dict[str, Any]:
    """statistics.json of a dataset."""
    features = []
    for index, name in enumerate(dataset.names):
        cells = dataset.column(index)
        kinds = Counter(_kind(c) for c in cells)
        present = len(cells) - kinds[""]
        inferred = infer_type(kinds)
        feature: dict[str, Any] = {"name": name, "inferred_type": inferred}
        common = {"num_present": present, "num_missing": kinds[""]}
        completeness = present / len(cells) if cells else 0.0
        if inferred in ("Integral", "Fractional"):
            values = [float(c) for c in cells if c is not None]
            feature["numerical_statistics"] = {
                "common": common,
                **_numerical(values, completeness),
            }
        else:
            counts = Counter(c for c in cells if c is not None)
            strings: dict[str, Any] = {
                "common": common,
                "distinct_count": float(len(counts)),
                "completeness": completeness,
            }
            if len(counts) <= MAX_HISTOGRAM_VALUES:
                strings["distribution"] = {
                    "categorical": {
                        "buckets": [
                            {"value": value, "count": count}
                            for value, count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
                        ]
                    }
                }
            feature["string_statistics"] = strings
        features.append(feature)
    return {"version": 0.0, "dataset": {"item_count": len(dataset.rows)}, "features": features}


def _numerical(values: list[float], completeness: float) -> dict[str, Any]:
    if not values:
        return {"mean": 0.0, "sum": 0.0, "std_dev": 0.0, "min": 0.0, "max": 0.0}
    total = math.fsum(values)
    mean = total / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))  # population
    low, high = min(values), max(values)
    return {
        "mean": mean,
        "sum": total,
        "std_dev": std,
        "min": low,
        "max": high,
        # The analyzer's is a HyperLogLog estimate; the exact count is within its error.
        "approximate_num_distinct_values": len(set(values)),
        "completeness": completeness,
        "distribution": {
            "kll": {
                "buckets": _buckets(values, low, high),
                "sketch": {
                    "parameters": {"c": KLL_C, "k": float(KLL_K)},
                    "data": kll_sketch(values),
                },
            }
        },
    }


def _buckets(values: list[float], low: float, high: float) -> list[dict[str, float]]:
    if high == low:
        return [{"lower_bound": low, "upper_bound": high, "count": float(len(values))}]
    width = (high - low) / BUCKETS
    counts = [0] * BUCKETS
    for value in values:
        counts[min(BUCKETS - 1, int((value - low) / width))] += 1
    return [
        {
            "lower_bound": low + i * width,
            "upper_bound": high if i == BUCKETS - 1 else low + (i + 1) * width,
            "count": float(count),
        }
        for i, count in enumerate(counts)
    ]


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


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def check(
    dataset: Dataset, baseline: dict[str, Any], constraints: dict[str, Any]
) -> list[dict[str, str]]:
    """The violations of `constraints` (and of drift from `baseline`, a statistics.json) by
    `dataset`, in the order of the baseline's features."""
    config = constraints.get("monitoring_config") or {}
    if config.get("evaluate_constraints", "Enabled") != "Enabled":
        return []
    datatype_threshold = float(config.get("datatype_check_threshold", 1.0))
    domain_threshold = float(config.get("domain_content_threshold", 1.0))
    distribution = config.get("distribution_constraints") or {}
    compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
    threshold = float(distribution.get("comparison_threshold", 0.1))
    categorical_threshold = float(distribution.get("categorical_comparison_threshold", threshold))
    method = str(distribution.get("comparison_method", "Robust"))
    baseline_features = {f["name"]: f for f in baseline.get("features", [])}
    expected = constraints.get("features", [])
    violations: list[dict[str, str]] = []

    def flag(name: str, kind: str, description: str) -> None:
        violations.append(
            {"feature_name": name, "constraint_check_type": kind, "description": description}
        )

    width = dataset.width
    for index, constraint in enumerate(expected):
        name = constraint["name"]
        if index >= width:
            flag(
                name,
                "missing_column_check",
                f"There are missing columns in current dataset. Number of columns in current dataset: {width}, Number of columns in baseline constraints: {len(expected)}",
            )
            continue
        cells = dataset.column(index)
        kinds = Counter(_kind(c) for c in cells)
        present = len(cells) - kinds[""]
        expected_type = constraint.get("inferred_type", "Unknown")
        if present and expected_type in ("Integral", "Fractional"):
            allowed = ("Integral",) if expected_type == "Integral" else ("Integral", "Fractional")
            share = sum(kinds[k] for k in allowed) / present
            if share < datatype_threshold:
                flag(
                    name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: {expected_type}, Expected match: {_percent(datatype_threshold)}. Observed: Only {_percent(share)} of data is {expected_type}.",
                )
        completeness = present / len(cells) if cells else 0.0
        wanted = float(constraint.get("completeness", 0.0))
        if cells and completeness + 1e-9 < wanted:
            flag(
                name,
                "completeness_check",
                f"Data completeness requirement is not met. Expected completeness: {_percent(wanted)}. Observed: Only {_percent(completeness)} of data is complete.",
            )
        domains = (constraint.get("string_constraints") or {}).get("domains")
        if domains and present:
            domain = set(domains)
            known = sum(1 for c in cells if c is not None and c in domain)
            if known / present < domain_threshold:
                flag(
                    name,
                    "categorical_values_check",
                    f"Categorical value requirement is not met. Expected: {_percent(domain_threshold)} of values in the baseline domain. Observed: Only {_percent(known / present)}.",
                )
        if compare and present:
            baseline_feature = baseline_features.get(name)
            distance = _drift(baseline_feature, cells, method)
            limit = (
                categorical_threshold
                if baseline_feature and "string_statistics" in baseline_feature
                else threshold
            )
            if distance is not None and distance > limit:
                flag(
                    name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {distance} exceeds threshold: {limit}",
                )
    if width > len(expected):
        for index in range(len(expected), width):
            flag(
                f"_c{index}",
                "extra_column_check",
                f"There are extra columns in current dataset. Number of columns in current dataset: {width}, Number of columns in baseline constraints: {len(expected)}",
            )
    return violations


def _drift(feature: dict[str, Any] | None, cells: list[str | None], method: str) -> float | None:
    """The drift distance of one feature's current cells from its baseline statistics."""
    if feature is None:
        return None
    numerical = feature.get("numerical_statistics")
    if numerical is not None:
        sketch = ((numerical.get("distribution") or {}).get("kll") or {}).get("sketch") or {}
        data = sketch.get("data")
        values = [float(c) for c in cells if c is not None and _kind(c) != "String"]
        if not data or not values:
            return None
        base = Distribution.of_sketch(data)
        current = Distribution.of_values(values)
        return drift_distance(linf_distance(base, current), base.total, current.total, method)
    strings = feature.get("string_statistics") or {}
    buckets = ((strings.get("distribution") or {}).get("categorical") or {}).get("buckets")
    if not buckets:
        return None
    base_counts = {str(b["value"]): float(b["count"]) for b in buckets}
    current_counts = {k: float(v) for k, v in Counter(c for c in cells if c is not None).items()}
    distance = categorical_distance(base_counts, current_counts)
    return drift_distance(distance, sum(base_counts.values()), sum(current_counts.values()), method)


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
