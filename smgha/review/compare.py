"""The review's comparison of a candidate bundle with a champion bundle: pure, no I/O.

compare() returns a Comparison: metrics side by side with deltas, the gate's predicted verdict
(smgha.gates.verdict, the function register-and-gate's plan() calls), metrics per segment,
the data shift, the pipeline definition's diff, what to look at first, and `notes`: each
thing that could not be compared, and why. A champion that is missing, unreadable, stale, of
another pipeline or of another task is not compared with (stricter than comparing with a
model the gate may not see); the review says so and goes on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha import gates
from smgha.errors import InputError
from smgha.resources import hosting_cost
from smgha.review.bundle import Bundle, BundleError, Predictions, parse_predictions
from smgha.review.changes import DefinitionDiff, definition_diff
from smgha.review.profile import Shift, shift

# Which way is better for a metric no gate rule names (a rule's operator says it for the
# metrics it names: '>=' higher, '<=' lower). Leaf names of SageMaker's model-quality report
# (binary_classification_metrics, regression_metrics) and the usual others.
HIGHER_IS_BETTER = frozenset({
    "accuracy", "auc", "f1", "f0_5", "f2", "precision", "recall", "r2", "average_precision",
    "true_positive_rate", "true_negative_rate", "balanced_accuracy", "pr_auc", "specificity",
})  # fmt: skip
LOWER_IS_BETTER = frozenset({
    "rmse", "mse", "mae", "mape", "log_loss", "logloss", "brier_score", "error",
    "false_positive_rate", "false_negative_rate",
})  # fmt: skip

# A segment is flagged when the candidate is worse than the champion on it by more than:
SEGMENT_ACCURACY_TOLERANCE = 0.02  # accuracy points (classification)
SEGMENT_RMSE_TOLERANCE = 0.05  # 5 % of the champion's RMSE on it (regression)
MIN_SEGMENT_ROWS = 20  # fewer rows on either side: too noisy to judge, left out
LOOK_AT_MOST = 10


@dataclass(frozen=True)
class MetricRow:
    name: str  # its short name (gates.short_names)
    candidate: float
    champion: float | None
    better: str  # "higher" | "lower" | "" (unknown: not judged)

    @property
    def delta(self) -> float | None:
        return None if self.champion is None else self.candidate - self.champion

    @property
    def regression(self) -> float:
        """How much worse than the champion, relative to it (0 when not worse)."""
        if self.delta is None or not self.better:
            return 0.0
        worse = -self.delta if self.better == "higher" else self.delta
        return max(worse, 0.0) / max(abs(self.champion or 0.0), 1e-12)


@dataclass(frozen=True)
class SegmentRow:
    feature: str
    value: str
    metric: str  # "accuracy" or "rmse"
    candidate: float
    champion: float
    candidate_rows: int
    champion_rows: int
    worse: bool  # by more than the tolerance


@dataclass
class Comparison:
    candidate: Bundle
    champion: Bundle | None  # None: nothing compared with (notes say why)
    verdict: gates.GateDecision | None  # None: the gate would stop (verdict_error)
    verdict_error: str
    metrics: list[MetricRow]
    segments: list[SegmentRow]
    same_test_rows: bool
    data_shift: list[Shift]
    definition_diff: DefinitionDiff | None
    look_at: list[str]
    notes: list[str] = field(default_factory=list)
    candidate_predictions: Predictions | None = None
    champion_predictions: Predictions | None = None

    def to_json(self) -> dict[str, Any]:
        """review.json's content (smgha.review.markdown writes it)."""
        champion = self.champion
        return {
            "schema": "smgha-review/1",
            "pipeline_name": self.candidate.pipeline_name,
            "candidate": _side(self.candidate),
            "champion": _side(champion) if champion else None,
            "verdict": self.verdict.decision if self.verdict else "error",
            "verdict_error": self.verdict_error,
            "rules": [r.as_dict() for r in self.verdict.results] if self.verdict else [],
            "metrics": [
                {
                    "name": m.name,
                    "candidate": m.candidate,
                    "champion": m.champion,
                    "delta": m.delta,
                    "better": m.better,
                    "regression": m.regression,
                }
                for m in self.metrics
            ],  # fmt: skip
            "segments": [vars(s) for s in self.segments],
            "same_test_rows": self.same_test_rows,
            "data_shift": [vars(s) for s in self.data_shift],
            "definition_diff": vars(self.definition_diff) if self.definition_diff else None,
            "look_at": self.look_at,
            "not_compared": self.notes,
        }


def _side(bundle: Bundle) -> dict[str, Any]:
    return {
        "model_package_arn": bundle.model_package_arn,
        "execution_arn": bundle.execution_arn,
        "git_sha": bundle.git_sha,
        "created_at": bundle.created_at,
        "task": bundle.task,
    }


def compare(
    candidate: Bundle,
    champion: Bundle | None,
    rules: list[gates.Rule],
    *,
    manual_approval: bool = False,
    champion_error: str = "",
    champion_missing: str = "",
    max_champion_age_days: int = 90,
    now: dt.datetime | None = None,
) -> Comparison:
    """The review of `candidate` against `champion` (None: none was found, champion_missing
    says why if known; champion_error: why it could not be read)."""
    notes: list[str] = []
    now = now or dt.datetime.now(dt.timezone.utc)
    champion = _usable_champion(
        candidate, champion, (champion_error, champion_missing), max_champion_age_days, now, notes
    )
    candidate_metrics = gates.metric_table(candidate.evaluation)
    champion_metrics = gates.metric_table(champion.evaluation) if champion else None
    rules, on_cost = hosting_cost.split_cost_rules(rules)  # not predicted: the gate prices them
    if on_cost:
        notes.append(hosting_cost.NOT_PREDICTED.format(rules=", ".join(r.text for r in on_cost)))
    verdict, verdict_error = None, ""
    try:
        verdict = gates.verdict(
            rules, candidate_metrics, champion_metrics, manual_approval=manual_approval
        )
    except InputError as error:
        verdict_error = error.message
    if champion is None and any(r.versus_champion for r in rules):
        notes.append(
            "The rules against the champion were evaluated with no champion: they pass, as "
            "register-and-gate's do when the group has no Approved version. If the registry "
            f"holds one ({candidate.model_package_group}), the gate compares with it instead."
        )
    ours = _predictions(candidate, "candidate", notes)
    theirs = _predictions(champion, "champion", notes) if champion else None
    same_rows = _same_test_rows(candidate, champion, ours, theirs, notes)
    comparison = Comparison(
        candidate=candidate,
        champion=champion,
        verdict=verdict,
        verdict_error=verdict_error,
        metrics=metric_rows(candidate_metrics, champion_metrics, rules),
        segments=segment_rows(candidate, champion, ours, theirs, notes)
        if champion and theirs and ours
        else [],
        same_test_rows=same_rows,
        data_shift=_data_shift(candidate, champion, notes),
        definition_diff=_definition_diff(candidate, champion, notes),
        look_at=[],
        notes=notes,
        candidate_predictions=ours,
        champion_predictions=theirs,
    )
    comparison.look_at = look_at(comparison)
    return comparison


def _usable_champion(
    candidate: Bundle,
    champion: Bundle | None,
    problems: tuple[str, str],
    max_age_days: int,
    now: dt.datetime,
    notes: list[str],
) -> Bundle | None:
    """The champion, or None with the reason in `notes` (`problems`: why its bundle is
    unreadable, why there is none; each '' when not known)."""
    error, missing = problems
    if error:
        notes.append(f"Champion not compared: its bundle is unreadable ({error}).")
        return None
    if champion is None:
        why = missing or (
            "main has published no review bundle for this pipeline yet, or it was not found"
        )
        notes.append(f"Champion not compared: there is none ({why}).")
        return None
    if not candidate.pipeline_name:
        notes.append(
            "Champion not compared: the candidate's pipeline is unknown (its bundle names no "
            "execution; pass --execution-arn, the build that registered it)."
        )
        return None
    # Pipeline names are case-insensitive in ARNs (as smgha.resources.selective compares them).
    if champion.pipeline_name.lower() != candidate.pipeline_name.lower():
        notes.append(
            f"Champion not compared: it is from pipeline {champion.pipeline_name!r}, the "
            f"candidate from {candidate.pipeline_name!r}."
        )
        return None
    age = now - champion.created()
    if age > dt.timedelta(days=max_age_days):
        notes.append(
            f"Champion not compared: it is stale, registered {age.days} days ago "
            f"({champion.created_at}), more than {max_age_days} (--max-champion-age-days)."
        )
        return None
    if champion.task != candidate.task:
        notes.append(
            f"Champion not compared: it is a {champion.task or 'model of unknown task'}, the "
            f"candidate a {candidate.task or 'model of unknown task'}."
        )
        return None
    if champion.model_package_group != candidate.model_package_group:
        notes.append(
            f"The champion is of group {champion.model_package_group!r}, the candidate of "
            f"{candidate.model_package_group!r}: the gate compares within the candidate's group."
        )
    return champion


def _predictions(bundle: Bundle, side: str, notes: list[str]) -> Predictions | None:
    if bundle.predictions_csv is None:
        notes.append(f"The {side} has no predictions.csv: no curves or segments for it.")
        return None
    try:
        return parse_predictions(bundle.predictions_csv, bundle.task)
    except BundleError as error:
        notes.append(
            f"The {side}'s predictions are unusable ({error}): no curves or segments for it."
        )
        return None


def _same_test_rows(
    candidate: Bundle,
    champion: Bundle | None,
    ours: Predictions | None,
    theirs: Predictions | None,
    notes: list[str],
) -> bool:
    if champion is None or ours is None or theirs is None:
        return False
    mine, their = (candidate.details or {}), (champion.details or {})
    if mine.get("test_rows_sha256") and mine.get("test_rows_sha256") == their.get(
        "test_rows_sha256"
    ):
        return True
    why = (
        "their test files differ (test_rows_sha256)"
        if mine and their
        else "a model-details.json is missing, so it cannot be told"
    )
    notes.append(
        f"Not the same test rows: {why}. Each model's curves and segments are on its own rows."
    )
    return False


def metric_rows(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, rules: list[gates.Rule]
) -> list[MetricRow]:
    names = gates.short_names(candidate)
    direction = {}
    for rule in rules:
        key = gates.resolve_metric(rule.metric, candidate)
        if key is not None and rule.operator != "==":
            direction[key] = "higher" if rule.operator in (">", ">=") else "lower"
    rows = []
    for key, value in candidate.items():
        leaf = names[key].rsplit(".", 1)[-1]
        better = direction.get(key) or (
            "higher" if leaf in HIGHER_IS_BETTER else "lower" if leaf in LOWER_IS_BETTER else ""
        )
        theirs = gates.resolve_metric(key, champion) if champion is not None else None
        rows.append(
            MetricRow(names[key], value, champion[theirs] if champion and theirs else None, better)
        )
    return rows


def segment_rows(
    candidate: Bundle,
    champion: Bundle,
    ours: Predictions,
    theirs: Predictions,
    notes: list[str],
) -> list[SegmentRow]:
    """Accuracy (classification, at the model's threshold) or RMSE (regression) per category
    of each segment column both sides have, worst first."""
    regression = candidate.task == "regression"
    mine_at, theirs_at = threshold(candidate), threshold(champion)
    rows = []
    for feature in sorted(set(ours.segments) & set(theirs.segments)):
        by_value, theirs_by_value = _by_value(ours, feature), _by_value(theirs, feature)
        for value in sorted(set(by_value) & set(theirs_by_value)):
            mine, their = by_value[value], theirs_by_value[value]
            if min(len(mine[0]), len(their[0])) < MIN_SEGMENT_ROWS:
                continue
            if regression:
                a, b = _rmse(*mine), _rmse(*their)
                worse = a > b * (1 + SEGMENT_RMSE_TOLERANCE)
            else:
                a, b = _accuracy(*mine, mine_at), _accuracy(*their, theirs_at)
                worse = a < b - SEGMENT_ACCURACY_TOLERANCE
            metric = "rmse" if regression else "accuracy"
            rows.append(
                SegmentRow(feature, value, metric, a, b, len(mine[0]), len(their[0]), worse)
            )
    if set(ours.segments) != set(theirs.segments):
        notes.append(
            "Segment columns differ (candidate: "
            f"{', '.join(sorted(ours.segments)) or 'none'}; champion: "
            f"{', '.join(sorted(theirs.segments)) or 'none'}): only those of both are compared."
        )
    return sorted(rows, key=lambda r: (not r.worse, r.feature, r.value))


def _by_value(predictions: Predictions, feature: str) -> dict[str, tuple[list[float], list[float]]]:
    """(labels, values) of the rows of each category of `feature`."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for value, label, predicted in zip(
        predictions.segments[feature], predictions.labels, predictions.values, strict=True
    ):
        labels, values = rows.setdefault(value, ([], []))
        labels.append(label)
        values.append(predicted)
    return rows


def _accuracy(labels: list[float], scores: list[float], threshold: float) -> float:
    right = sum(
        (score >= threshold) == (label >= 0.5) for label, score in zip(labels, scores, strict=True)
    )
    return right / len(labels)


def _rmse(labels: list[float], predictions: list[float]) -> float:
    return math.sqrt(
        math.fsum((p - y) ** 2 for y, p in zip(labels, predictions, strict=True)) / len(labels)
    )


def threshold(bundle: Bundle) -> float:
    """The score from which a model predicts the positive class (model-details.json)."""
    return float((bundle.details or {}).get("threshold", 0.5))


def overall(predictions: Predictions, task: str, threshold: float) -> float:
    """The segment metric over all rows (accuracy or RMSE)."""
    if task == "regression":
        return _rmse(predictions.labels, predictions.values)
    return _accuracy(predictions.labels, predictions.values, threshold)


def _data_shift(candidate: Bundle, champion: Bundle | None, notes: list[str]) -> list[Shift]:
    if champion is None:
        return []
    for side, bundle in (("candidate", candidate), ("champion", champion)):
        if bundle.data_profile is None:
            notes.append(
                f"No data shift: the {side}'s data has no profile ({bundle.data_profile_error or 'none was made'})."
            )
            return []
    assert candidate.data_profile is not None and champion.data_profile is not None
    return shift(champion.data_profile, candidate.data_profile)


def _definition_diff(
    candidate: Bundle, champion: Bundle | None, notes: list[str]
) -> DefinitionDiff | None:
    if champion is None:
        return None
    if candidate.definition is None or champion.definition is None:
        side = "candidate" if candidate.definition is None else "champion"
        notes.append(f"No definition diff: the {side}'s pipeline definition is not in its bundle.")
        return None
    return definition_diff(champion.definition, candidate.definition)


def look_at(comparison: Comparison) -> list[str]:
    """The largest regressions first: failed rules, worse metrics, worse segments (above all
    while the overall metric improved), major data shifts, changed code."""
    items: list[tuple[float, str]] = []
    if comparison.verdict:
        for result in comparison.verdict.failures:
            items.append((math.inf, f'Gate rule "{result.rule.text}" fails: {result.detail}.'))
    for row in comparison.metrics:
        if row.regression > 0:
            items.append(
                (
                    row.regression,
                    f"{row.name} is worse: {row.candidate:.4g} vs {row.champion:.4g} ({row.delta:+.4g}).",
                )
            )
    improved = _overall_improved(comparison)
    for segment in comparison.segments:
        if segment.worse:
            size = abs(segment.candidate - segment.champion) / max(abs(segment.champion), 1e-12)
            while_improved = f" while overall {segment.metric} improved" if improved else ""
            items.append((size + (1.0 if improved else 0.0), (
                f"Segment {segment.feature} = {segment.value!r}: {segment.metric} "
                f"{segment.candidate:.4g} vs {segment.champion:.4g}{while_improved}."
            )))  # fmt: skip
    for moved in comparison.data_shift:
        if moved.level == "major":
            items.append(
                (moved.psi or 0.0, f"Data: {moved.column} shifted (PSI {moved.psi:.3f}, major).")
            )
    diff = comparison.definition_diff
    if diff and diff.code_changed:
        items.append((0.0, f"Code changed in step(s): {', '.join(diff.code_changed)}."))
    return [text for _size, text in sorted(items, key=lambda item: -item[0])][:LOOK_AT_MOST]


def _overall_improved(comparison: Comparison) -> bool:
    ours, theirs = comparison.candidate_predictions, comparison.champion_predictions
    if ours is None or theirs is None:
        return False
    task = comparison.candidate.task
    assert comparison.champion is not None  # it has predictions
    mine = overall(ours, task, threshold(comparison.candidate))
    their = overall(theirs, task, threshold(comparison.champion))
    return mine < their if task == "regression" else mine > their
