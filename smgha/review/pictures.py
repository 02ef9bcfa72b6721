"""The review's pictures: Mermaid charts for the comment and the self-contained report.html.

Drawing is smgha.review.curves, plots, mermaid and html (their API is fixed in the issue 17
design); this module only chooses what to draw from a Comparison.
"""

from __future__ import annotations

from smgha.review import curves, html, mermaid, plots
from smgha.review.bundle import Predictions
from smgha.review.compare import Comparison, threshold


def _sides(comparison: Comparison) -> list[tuple[str, Predictions, float]]:
    """(name, predictions, threshold) of each side that has predictions; for classification,
    of both classes (a curve is undefined with one: curves.roc raises)."""
    sides = []
    for name, bundle, predictions in (
        ("candidate", comparison.candidate, comparison.candidate_predictions),
        ("champion", comparison.champion, comparison.champion_predictions),
    ):
        if bundle is None or predictions is None:
            continue
        if comparison.candidate.task == "regression" or _both_classes(predictions):
            sides.append((name, predictions, threshold(bundle)))
    return sides


def _both_classes(predictions: Predictions) -> bool:
    return 0 < sum(_binary(predictions)) < len(predictions.labels)


def _binary(predictions: Predictions) -> list[int]:
    """The labels as 0 and 1 (read_bundle checked they are, for classification)."""
    return [int(label) for label in predictions.labels]


def _series(name: str, curve: curves.Curve) -> plots.Series:
    area = f" (area {curve.area:.3f})" if curve.area is not None else ""
    return plots.Series(f"{name}{area}", curve.x, curve.y)


def charts(comparison: Comparison) -> list[str]:
    """The comment's charts (classification): ROC and precision-recall of both models, each a
    Mermaid chart with the same numbers in a table beside it (folded), for a client that does
    not draw Mermaid (docs/review.md, "Pictures")."""
    sides = _sides(comparison)
    if comparison.candidate.task != "binary_classification" or not sides:
        return []
    roc = [_series(n, curves.roc(_binary(p), p.values)) for n, p, _t in sides]
    pr = [_series(n, curves.precision_recall(_binary(p), p.values)) for n, p, _t in sides]
    return [
        mermaid.xychart("ROC", "false positive rate", "true positive rate", roc)
        + _table("ROC", "false positive rate", roc),
        mermaid.xychart("Precision-recall", "recall", "precision", pr)
        + _table("Precision-recall", "recall", pr),
    ]


TABLE_GRID = [i / 10 for i in range(11)]


def _table(title: str, x_label: str, series: list[plots.Series]) -> str:
    """The curves' values at x = 0, 0.1, ..., 1 (curves.resample: linear between points)."""
    values = [curves.resample(one.x, one.y, TABLE_GRID) for one in series]
    header = f"| {x_label} | " + " | ".join(one.name for one in series) + " |"
    rule = "|---:|" + "---:|" * len(series)
    rows = [
        f"| {x:.1f} | " + " | ".join(f"{column[i]:.3f}" for column in values) + " |"
        for i, x in enumerate(TABLE_GRID)
    ]
    body = "\n".join([header, rule, *rows])
    return f"\n<details><summary>{title} as a table</summary>\n\n{body}\n\n</details>"


def report_html(comparison: Comparison) -> str:
    """report.html: every plot, the tables, and what could not be compared."""
    title = f"Model review: {comparison.candidate.pipeline_name}"
    summary = html.Section("Summary", _paragraphs(comparison), [], [_metrics_table(comparison)])
    task = comparison.candidate.task
    figures = (
        _regression_figures(comparison)
        if task == "regression"
        else _classification_figures(comparison)
        if task == "binary_classification"
        else []
    )
    sections = [summary, html.Section("Plots", [], figures, [])]
    importance = _importance_figure(comparison)
    if importance:
        sections.append(html.Section("Feature importance", [], [importance], []))
    if comparison.segments:
        sections.append(_segments_section(comparison))
    return html.render_report(title, sections)


def _paragraphs(comparison: Comparison) -> list[str]:
    """The verdict, what to look at and what was not compared, as plain text (html escapes it)."""
    verdict = comparison.verdict
    lines = [
        f"Predicted gate verdict: {verdict.decision} ({verdict.description})"
        if verdict
        else f"The gate would stop before judging: {comparison.verdict_error}"
    ]
    lines += [f"Look at: {item}" for item in comparison.look_at]
    lines += comparison.notes  # each says what was not compared, and why
    return lines


def _metrics_table(comparison: Comparison) -> html.Table:
    rows = [
        [m.name, f"{m.candidate:.4f}", "–" if m.champion is None else f"{m.champion:.4f}",
         "–" if m.delta is None else f"{m.delta:+.4f}"]
        for m in comparison.metrics
    ]  # fmt: skip
    return html.Table(["Metric", "Candidate", "Champion", "Δ"], rows)


def _classification_figures(comparison: Comparison) -> list[str]:
    sides = _sides(comparison)
    if not sides:
        return []
    roc = [_series(n, curves.roc(_binary(p), p.values)) for n, p, _t in sides]
    pr = [_series(n, curves.precision_recall(_binary(p), p.values)) for n, p, _t in sides]
    calibration = [_series(n, curves.calibration(_binary(p), p.values)) for n, p, _t in sides]
    figures = [
        plots.line_chart("ROC", "false positive rate", "true positive rate", roc, diagonal=True),
        plots.line_chart("Precision-recall", "recall", "precision", pr),
        plots.line_chart(
            "Calibration",
            "mean predicted probability",
            "fraction positive",
            calibration,
            diagonal=True,
        ),
    ]
    for name, predictions, at in sides:
        figures.append(
            plots.confusion_matrix(
                f"Confusion matrix: {name} (threshold {at:g})",
                confusion(predictions, at),
                ["0", "1"],
            )
        )
    return figures


def confusion(predictions: Predictions, threshold: float) -> list[list[int]]:
    """[[true negatives, false positives], [false negatives, true positives]]."""
    matrix = [[0, 0], [0, 0]]
    for label, score in zip(predictions.labels, predictions.values, strict=True):
        matrix[int(label >= 0.5)][int(score >= threshold)] += 1
    return matrix


def _regression_figures(comparison: Comparison) -> list[str]:
    figures = []
    for name, predictions, _threshold in _sides(comparison):
        actual, predicted = predictions.labels, predictions.values
        residuals = [p - a for a, p in zip(actual, predicted, strict=True)]
        figures.append(
            plots.scatter(
                f"Predicted vs actual: {name}",
                "actual",
                "predicted",
                [plots.Series(name, actual, predicted)],
                diagonal=True,
            )
        )
        figures.append(
            plots.scatter(
                f"Residuals: {name}",
                "predicted",
                "residual (predicted - actual)",
                [plots.Series(name, predicted, residuals)],
            )
        )
    return figures


def _importance_figure(comparison: Comparison) -> str:
    importance = (comparison.candidate.details or {}).get("feature_importance") or {}
    if not importance:
        return ""
    names = sorted(importance, key=lambda n: -importance[n])[:20]
    series = [plots.Series("candidate", [], [float(importance[n]) for n in names])]
    theirs = ((comparison.champion.details or {}) if comparison.champion else {}).get(
        "feature_importance"
    ) or {}
    if theirs:
        series.append(plots.Series("champion", [], [float(theirs.get(n, 0.0)) for n in names]))
    kind = (comparison.candidate.details or {}).get("importance_type", "")
    return plots.bar_chart("Feature importance", kind or "importance", names, series)


def _segments_section(comparison: Comparison) -> html.Section:
    figures = []
    for feature in sorted({s.feature for s in comparison.segments}):
        rows = [s for s in comparison.segments if s.feature == feature]
        names = [f"{s.value}{' (worse)' if s.worse else ''}" for s in rows]
        series = [
            plots.Series("candidate", [], [s.candidate for s in rows]),
            plots.Series("champion", [], [s.champion for s in rows]),
        ]
        figures.append(
            plots.bar_chart(f"{rows[0].metric} by {feature}", rows[0].metric, names, series)
        )
    return html.Section("Metrics per segment", [], figures, [])
