"""The statistics SageMaker Model Monitor compares, and the drift it measures, in pure Python.

One feature at a time: its entry of statistics.json (feature_statistics), the constraints
it violates (feature_violations) and its drift from a baseline's entry (feature_drift), with
the maths under them. smgha/monitor.py reads the data and assembles the documents.

* `inferred_type`: Integral (every present value an integer), Fractional (numbers),
  String (anything else present), Unknown (nothing present).
* Numerical distributions: 10 equal-width buckets between min and max, and a KLL quantile
  sketch (`parameters` c=0.64, k=2048; `data` = the compactor levels, level h weighing 2^h),
  built as Deequ's QuantileNonSample builds it (see kll_sketch).
* Drift (`baseline_drift_check`), as Deequ computes it for the container: the L-infinity
  distance between the two empirical CDFs (baseline sketch vs. current data). With
  `comparison_method: Robust` the sampling noise of a two-sample Kolmogorov-Smirnov test is
  taken off first: max(0, d - 1.8 * sqrt((n + m) / (n * m))); `Simple` compares d itself.
  A violation is a distance above `comparison_threshold`. String features compare their
  category frequencies the same way.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
# Deequ's coefficient of the Kolmogorov-Smirnov correction of a Robust comparison.
ROBUST_COEFFICIENT = 1.8

_INTEGRAL = re.compile(r"[+-]?\d+")


# ---- a feature's statistics ------------------------------------------------------------------


def cell_kind(cell: str | None) -> str:
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


def feature_statistics(name: str, cells: list[str | None]) -> dict[str, Any]:
    """One feature's entry of statistics.json, from its column of cells (None: missing)."""
    kinds = Counter(cell_kind(c) for c in cells)
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
    return feature


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


# ---- drift from a baseline ----------------------------------------------------------------


def feature_drift(
    feature: dict[str, Any] | None, cells: list[str | None], method: str
) -> float | None:
    """The drift distance of one feature's current cells from its baseline statistics."""
    if feature is None:
        return None
    numerical = feature.get("numerical_statistics")
    if numerical is not None:
        sketch = ((numerical.get("distribution") or {}).get("kll") or {}).get("sketch") or {}
        data = sketch.get("data")
        values = [float(c) for c in cells if c is not None and cell_kind(c) != "String"]
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


# ---- constraint_violations.json of a feature ----------------------------------------------


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


# The container's description of each violation of one feature (constraint_violations.json;
# a missing or extra column is smgha.monitor.check's).
DATA_TYPE_MISMATCH = "Data type match requirement is not met. Expected data type: {type}, Expected match: {wanted}. Observed: Only {share} of data is {type}."
INCOMPLETE = "Data completeness requirement is not met. Expected completeness: {wanted}. Observed: Only {share} of data is complete."
OUT_OF_DOMAIN = "Categorical value requirement is not met. Expected: {wanted} of values in the baseline domain. Observed: Only {share}."
DRIFT = "Baseline drift distance: {distance} exceeds threshold: {limit}"


@dataclass(frozen=True)
class Limits:
    """The thresholds of a constraints.json's monitoring_config, with the container's defaults."""

    datatype: float
    domain: float
    compare: bool
    threshold: float  # drift of a numerical feature
    categorical_threshold: float  # drift of a string feature
    method: str  # Robust | Simple

    @classmethod
    def of(cls, config: dict[str, Any]) -> Limits:
        datatype = float(config.get("datatype_check_threshold", 1.0))
        domain = float(config.get("domain_content_threshold", 1.0))
        distribution = config.get("distribution_constraints") or {}
        compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
        threshold = float(distribution.get("comparison_threshold", 0.1))
        categorical = float(distribution.get("categorical_comparison_threshold", threshold))
        method = str(distribution.get("comparison_method", "Robust"))
        return cls(datatype, domain, compare, threshold, categorical, method)


def feature_violations(
    constraint: dict[str, Any],
    cells: list[str | None],
    baseline_feature: dict[str, Any] | None,
    limits: Limits,
) -> list[tuple[str, str]]:
    """(check type, description) of each check one feature's cells fail, in the
    container's order: data type, completeness, categorical values, drift."""
    found: list[tuple[str, str]] = []
    kinds = Counter(cell_kind(c) for c in cells)
    present = len(cells) - kinds[""]
    expected_type = constraint.get("inferred_type", "Unknown")
    if present and expected_type in ("Integral", "Fractional"):
        allowed = ("Integral",) if expected_type == "Integral" else ("Integral", "Fractional")
        share = sum(kinds[k] for k in allowed) / present
        if share < limits.datatype:
            wanted = _percent(limits.datatype)
            description = DATA_TYPE_MISMATCH.format(
                type=expected_type, wanted=wanted, share=_percent(share)
            )
            found.append(("data_type_check", description))
    completeness = present / len(cells) if cells else 0.0
    wanted_completeness = float(constraint.get("completeness", 0.0))
    if cells and completeness + 1e-9 < wanted_completeness:
        description = INCOMPLETE.format(
            wanted=_percent(wanted_completeness), share=_percent(completeness)
        )
        found.append(("completeness_check", description))
    domains = (constraint.get("string_constraints") or {}).get("domains")
    if domains and present:
        domain = set(domains)
        known = sum(1 for c in cells if c is not None and c in domain)
        if known / present < limits.domain:
            description = OUT_OF_DOMAIN.format(
                wanted=_percent(limits.domain), share=_percent(known / present)
            )
            found.append(("categorical_values_check", description))
    if limits.compare and present:
        distance = feature_drift(baseline_feature, cells, limits.method)
        is_string = baseline_feature is not None and "string_statistics" in baseline_feature
        limit = limits.categorical_threshold if is_string else limits.threshold
        if distance is not None and distance > limit:
            found.append(("baseline_drift_check", DRIFT.format(distance=distance, limit=limit)))
    return found
