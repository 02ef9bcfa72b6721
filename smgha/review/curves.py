"""The curves of a binary classifier, in pure Python (no numpy: the demo install stays lean, and a
review's test set is at most a few hundred thousand rows).

- `roc`: false positive rate (x) against true positive rate (y), one point per distinct score;
  `area` is the ROC AUC by the trapezoidal rule, as sklearn.metrics.roc_auc_score computes it.
- `precision_recall`: recall (x) against precision (y), one point per distinct score after the
  start point (recall 0, precision 1) that sklearn.metrics.precision_recall_curve also has;
  `area` is the average precision, sum over thresholds of (R_n - R_(n-1)) * P_n, as
  sklearn.metrics.average_precision_score computes it (not the trapezoid, which is optimistic).
- `calibration`: reliability bins: `bins` equal-width bins over [0, 1]; per non-empty bin, the mean
  score (x) and the fraction of positives (y), as sklearn.calibration.calibration_curve with
  strategy="uniform" (a score on an inner edge goes to the lower bin, as its searchsorted does).

`thin` and `resample` make a long curve drawable: a few hundred points for SVG, a uniform grid of
a few dozen for a Mermaid chart (whose line points are evenly spaced along the x axis).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Curve", "calibration", "precision_recall", "resample", "roc", "thin"]


@dataclass(frozen=True)
class Curve:
    """Points of a curve in drawing order, and the area the curve stands for (None if none)."""

    x: list[float]
    y: list[float]
    area: float | None


def roc(labels: Sequence[int], scores: Sequence[float]) -> Curve:
    """The ROC curve of `scores` (higher means positive) against 0/1 `labels`."""
    positives, negatives = _class_counts(labels, scores, need_negatives=True)
    fpr, tpr = [0.0], [0.0]
    for true_positives, false_positives in _counts_per_threshold(labels, scores):
        fpr.append(false_positives / negatives)
        tpr.append(true_positives / positives)
    area = sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr)))
    return Curve(x=fpr, y=tpr, area=area)


def precision_recall(labels: Sequence[int], scores: Sequence[float]) -> Curve:
    """The precision-recall curve of `scores` against 0/1 `labels`."""
    positives, _ = _class_counts(labels, scores, need_negatives=False)
    recall, precision = [0.0], [1.0]
    area = 0.0
    for true_positives, false_positives in _counts_per_threshold(labels, scores):
        recall.append(true_positives / positives)
        precision.append(true_positives / (true_positives + false_positives))
        area += (recall[-1] - recall[-2]) * precision[-1]
    return Curve(x=recall, y=precision, area=area)


def calibration(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> Curve:
    """The reliability curve of probabilities `scores` (0..1) against 0/1 `labels`."""
    _check_pairs(labels, scores)
    if bins < 1:
        raise ValueError(f"calibration bins is {bins}: it must be 1 or more")
    outside = [s for s in scores if not 0.0 <= s <= 1.0]
    if outside:
        raise ValueError(
            f"calibration needs probabilities: {len(outside)} score(s) are outside [0, 1] "
            f"(first: {outside[0]!r}); pass the positive class's probability, not a raw margin"
        )
    # numpy.linspace(0, 1, bins + 1) computes its inner edges as i * (1 / bins): the same
    # floats here (i / bins can differ in the last bit, 0.3 against 0.30000000000000004).
    inner_edges = [i * (1.0 / bins) for i in range(1, bins)]
    totals = [0] * bins
    score_sums = [0.0] * bins
    positive_counts = [0] * bins
    for label, score in zip(labels, scores, strict=True):
        index = bisect.bisect_left(inner_edges, score)  # numpy.searchsorted's side="left"
        totals[index] += 1
        score_sums[index] += score
        positive_counts[index] += label
    filled = [i for i in range(bins) if totals[i]]
    return Curve(
        x=[score_sums[i] / totals[i] for i in filled],
        y=[positive_counts[i] / totals[i] for i in filled],
        area=None,
    )


def thin(
    x: Sequence[float], y: Sequence[float], max_points: int
) -> tuple[list[float], list[float]]:
    """At most `max_points` of the points, evenly spread by index, keeping the first and last."""
    if max_points < 2:
        raise ValueError(f"thin max_points is {max_points}: it must be 2 or more")
    count = len(x)
    if count <= max_points:
        return list(x), list(y)
    picked = sorted({round(i * (count - 1) / (max_points - 1)) for i in range(max_points)})
    return [x[i] for i in picked], [y[i] for i in picked]


def resample(x: Sequence[float], y: Sequence[float], grid: Sequence[float]) -> list[float]:
    """y at each grid value, linear between the points (taken in order of x); where the curve is
    vertical (several points at one x, as a ROC curve has) the highest y; outside the curve's x
    range, the y of its nearest end."""
    if not x:
        raise ValueError("resample needs at least one point")
    points = sorted(zip(x, y, strict=True))
    values = []
    for at in grid:
        if at <= points[0][0]:
            values.append(max(py for px, py in points if px == points[0][0]))
            continue
        if at >= points[-1][0]:
            values.append(max(py for px, py in points if px == points[-1][0]))
            continue
        same = [py for px, py in points if px == at]
        if same:
            values.append(max(same))
            continue
        right = next(i for i, point in enumerate(points) if point[0] > at)
        (x0, y0), (x1, y1) = points[right - 1], points[right]
        values.append(y0 + (y1 - y0) * (at - x0) / (x1 - x0))
    return values


def _check_pairs(labels: Sequence[int], scores: Sequence[float]) -> None:
    if len(labels) != len(scores):
        raise ValueError(
            f"labels and scores differ in length ({len(labels)} and {len(scores)}): "
            "pass one score per labelled row"
        )
    if not labels:
        raise ValueError("labels and scores are empty: a curve needs at least one row")
    odd = [label for label in labels if label not in (0, 1)]
    if odd:
        raise ValueError(
            f"labels must be 0 or 1 (binary classification); found {odd[0]!r}: "
            "map the positive class to 1 and every other to 0"
        )
    if not all(math.isfinite(score) for score in scores):
        raise ValueError("scores hold a NaN or an infinity: every score must be a finite number")


def _class_counts(
    labels: Sequence[int], scores: Sequence[float], need_negatives: bool
) -> tuple[int, int]:
    _check_pairs(labels, scores)
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or (need_negatives and negatives == 0):
        missing = "positive (1)" if positives == 0 else "negative (0)"
        raise ValueError(
            f"labels hold no {missing} row: the curve is undefined with one class only "
            "(sklearn raises too); evaluate on a test set with both classes"
        )
    return positives, negatives


def _counts_per_threshold(labels: Sequence[int], scores: Sequence[float]) -> list[tuple[int, int]]:
    """(true positives, false positives) when predicting positive at score >= t, for each distinct
    score t from the highest down: tied scores move together, as sklearn's curves do."""
    order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
    counts = []
    true_positives = false_positives = 0
    for rank, i in enumerate(order):
        true_positives += labels[i]
        false_positives += 1 - labels[i]
        last_of_tie = rank == len(order) - 1 or scores[order[rank + 1]] != scores[i]
        if last_of_tie:
            counts.append((true_positives, false_positives))
    return counts
