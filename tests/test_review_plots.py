"""The review's curves against scikit-learn's, and what the SVG charts, the Mermaid blocks and
the HTML report promise without a browser: well-formed, escaped, bounded, with one clear error
for data they cannot draw. (tests/test_review_html.py and tests/test_review_plots_mermaid.py
check the drawing itself, in Chromium.)"""

from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ElementTree

import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from smgha.review import curves, plots
from smgha.review.html import Section, Table, render_report
from smgha.review.mermaid import GRID_POINTS, xychart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"


def dataset(seed: int, rows: int, decimals: int) -> tuple[list[int], list[float]]:
    """Labels and probabilities that overlap; few decimals give many tied scores."""
    rng = random.Random(seed)
    labels = [int(rng.random() < 0.3) for _ in range(rows)]
    scores = [
        round(min(1.0, max(0.0, 0.35 + 0.3 * label + rng.gauss(0, 0.2))), decimals)
        for label in labels
    ]
    return labels, scores


@pytest.mark.parametrize(("seed", "rows", "decimals"), [(1, 50, 1), (2, 2000, 2), (3, 5000, 6)])
def test_the_curves_are_sklearns(seed: int, rows: int, decimals: int) -> None:
    labels, scores = dataset(seed, rows, decimals)
    roc = curves.roc(labels, scores)
    assert roc.area is not None and abs(roc.area - roc_auc_score(labels, scores)) < 1e-9
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    assert roc.x == pytest.approx(list(fpr), abs=1e-12)
    assert roc.y == pytest.approx(list(tpr), abs=1e-12)

    pr = curves.precision_recall(labels, scores)
    assert pr.area is not None
    assert abs(pr.area - average_precision_score(labels, scores)) < 1e-9
    precision, recall, _ = precision_recall_curve(labels, scores)
    assert pr.x == pytest.approx(list(recall[::-1]), abs=1e-12)
    assert pr.y == pytest.approx(list(precision[::-1]), abs=1e-12)

    for bins in (5, 10):
        calibration = curves.calibration(labels, scores, bins=bins)
        positives, predicted = calibration_curve(labels, scores, n_bins=bins)
        assert calibration.x == pytest.approx(list(predicted), abs=1e-12)
        assert calibration.y == pytest.approx(list(positives), abs=1e-12)


def test_a_score_on_a_bin_edge_goes_where_sklearn_puts_it() -> None:
    # numpy.linspace(0, 1, 11) has 0.1 * 3 (0.30000000000000004) and 0.1 * 7 as edges, not
    # 0.3 and 0.7: a score equal to such an edge is in the lower bin, 0.3 itself too.
    labels = [0, 1, 0, 1, 1, 0, 1, 0]
    scores = [0.1, 0.1 * 3, 0.3, 0.5, 0.1 * 7, 0.7, 1.0, 0.0]
    calibration = curves.calibration(labels, scores)
    positives, predicted = calibration_curve(labels, scores, n_bins=10)
    assert calibration.x == pytest.approx(list(predicted), abs=1e-12)
    assert calibration.y == pytest.approx(list(positives), abs=1e-12)


@pytest.mark.parametrize(
    ("labels", "scores", "says"),
    [
        ([1, 1], [0.2, 0.4], "no negative (0) row"),
        ([0, 0], [0.2, 0.4], "no positive (1) row"),
        ([0, 2], [0.2, 0.4], "labels must be 0 or 1"),
        ([0, 1], [0.2], "differ in length"),
        ([0, 1], [0.2, math.nan], "NaN or an infinity"),
        ([], [], "empty"),
    ],
)
def test_data_a_curve_cannot_have_is_one_clear_error(
    labels: list[int], scores: list[float], says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        curves.roc(labels, scores)


def test_calibration_needs_probabilities() -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*first: 1.5"):
        curves.calibration([0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="bins is 0"):
        curves.calibration([0, 1], [0.5, 0.5], bins=0)


def test_thin_and_resample() -> None:
    x = [i / 999 for i in range(1000)]
    thinned_x, thinned_y = curves.thin(x, x, 200)
    assert len(thinned_x) == 200 and thinned_x[0] == 0.0 and thinned_x[-1] == 1.0
    assert curves.thin([0.0, 1.0], [2.0, 3.0], 200) == ([0.0, 1.0], [2.0, 3.0])
    # A ROC curve's vertical step at x = 0.5 reads its top; between points, a straight line.
    assert curves.resample([0, 0.5, 0.5, 1], [0, 0.2, 0.8, 1], [0, 0.25, 0.5, 0.75, 1, 2]) == [
        0,
        0.1,
        0.8,
        0.9,
        1,
        1,
    ]


def parsed(svg: str) -> ElementTree.Element:
    """The chart as XML: it must be well formed on its own (a file, not only inline HTML)."""
    return ElementTree.fromstring(svg)


def texts(root: ElementTree.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_a_line_chart_is_a_complete_accessible_svg() -> None:
    labels, scores = dataset(4, 3000, 4)
    roc = curves.roc(labels, scores)
    svg = plots.line_chart(
        "ROC of <b>", "False positive rate", "True positive rate",
        [plots.Series("candidate", roc.x, roc.y), plots.Series(HOSTILE, [0, 1], [0, 1])],
        diagonal=True,
    )  # fmt: skip
    root = parsed(svg)
    assert root.get("viewBox") == f"0 0 {plots.WIDTH} {plots.HEIGHT}"
    assert root.findtext(f"{SVG}title") == "ROC of <b>"  # text, escaped in the file
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    shown = texts(root)
    assert {"False positive rate", "True positive rate", "candidate"} <= set(shown)
    assert {"0.0", "0.2", "1.0"} <= set(shown)  # ticks
    assert "<script>alert(1)</s\u2026" in shown  # the legend cuts a long name
    assert not [element for element in root.iter() if element.tag.endswith("script")]
    lines = [p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]
    assert len(lines) == 2
    assert len(lines[0].get("d", "").split("L")) == plots.MAX_LINE_POINTS  # thinned
    assert root.find(f".//{SVG}line[@class='diagonal']") is not None


def test_text_loses_control_characters_xml_forbids() -> None:
    svg = plots.scatter("a\x00b\x1bc", "x\x07", "y", [plots.Series("s\x0b", [1.0], [2.0])])
    root = parsed(svg)  # ElementTree rejects a control character: this parse is the check
    assert root.findtext(f"{SVG}title") == "abc"


def test_bars_confusion_and_scatter() -> None:
    bars = parsed(
        plots.bar_chart("AUC per segment", "change", ["north", HOSTILE], [plots.Series("delta", [], [0.04, -0.06])])
    )  # fmt: skip
    rects = [r for r in bars.iter(f"{SVG}rect") if r.get("class") == "series"]
    assert len(rects) == 2 and all(float(r.get("height", "0")) > 0 for r in rects)
    assert float(rects[1].get("y", "0")) > float(rects[0].get("y", "0"))  # the drop goes down
    matrix = parsed(plots.confusion_matrix("Confusion", [[50, 2], [0, 1234]], ["no", "yes"]))
    cells = [r.get("fill") for r in matrix.iter(f"{SVG}rect") if r.get("class") == "series"]
    assert cells[2] == "#ffffff" and cells[3] == plots.PALETTE[0] and cells[1] != "#ffffff"
    assert {"50", "1,234", "Predicted", "Actual", "yes"} <= set(texts(matrix))
    many = [float(i) for i in range(5000)]
    dots = parsed(plots.scatter("Residuals", "p", "r", [plots.Series("c", many, many)]))
    assert len(list(dots.iter(f"{SVG}circle"))) == plots.MAX_SCATTER_POINTS


@pytest.mark.parametrize(
    ("draw", "says"),
    [
        (lambda: plots.line_chart("t", "x", "y", []), "got 0 series"),
        (lambda: plots.line_chart("t", "x", "y", [plots.Series("a", [1], [])]), "has no points"),
        (lambda: plots.line_chart("t", "x", "y", [plots.Series("a", [1], [math.nan])]), "finite"),
        (lambda: plots.scatter("t", "x", "y", [plots.Series("a", [1, 2], [1])]), "one x per y"),
        (lambda: plots.bar_chart("t", "y", ["a", "b"], [plots.Series("s", [], [1])]), "one value per category"),
        (lambda: plots.bar_chart("t", "y", [str(i) for i in range(31)], [plots.Series("s", [], [1] * 31)]), "31 categories"),
        (lambda: plots.confusion_matrix("t", [[1, 2]], ["a", "b"]), "square matrix"),
        (lambda: plots.confusion_matrix("t", [[1, -2], [0, 1]], ["a", "b"]), "not a count"),
    ],
)  # fmt: skip
def test_data_a_chart_cannot_draw_is_one_clear_error(draw: object, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        draw()  # type: ignore[operator]


def test_a_mermaid_block_keeps_to_the_grammar_it_relies_on() -> None:
    block = xychart(
        'ROC "of" `x`', "False\npositive rate", "TPR",
        [plots.Series("candidate", [0.0, 1e-7], [1e-9, 2e9]), plots.Series(HOSTILE, [0.0, 1e-7], [0.5, -3.0])],
    )  # fmt: skip
    lines = block.splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```" and block.endswith("```\n")
    assert 'title "ROC of x (blue: candidate, orange: script alert(1) /script)"' in block
    assert 'x-axis "False positive rate" 0.0 --> 0.0000001' in block
    numbers = re.findall(r"[-+]?[\d.]+[eE][-+]?\d+", block)
    assert numbers == []  # Mermaid reads no exponent
    values = [line for line in lines if line.strip().startswith("line ")]
    assert len(values) == 2 and all(v.count(",") == GRID_POINTS - 1 for v in values)
    assert "2000000000" in values[0] and "-3" in values[1]
    y_axis = next(line for line in lines if "y-axis" in line)
    assert y_axis.endswith("-3 --> 2000000000")
    rates = xychart("PR", "Recall", "Precision", [plots.Series("c", [0.0, 1.0], [0.6, 0.9])])
    assert 'y-axis "Precision" 0 --> 1' in rates  # rates keep their whole scale
    with pytest.raises(ValueError, match="as many x as y"):
        xychart("t", "x", "y", [plots.Series("a", [0.0], [])])


def test_the_report_is_escaped_and_loads_nothing() -> None:
    chart = plots.line_chart("c", "x", "y", [plots.Series("a", [0, 1], [0, 1])])
    page = render_report(
        HOSTILE,
        [Section(HOSTILE, [HOSTILE], [chart], [Table(["h", HOSTILE], [["1", HOSTILE]])])],
    )
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") == 6  # title, h1, h2, paragraph, two cells
    assert "default-src 'none'" in page and chart.strip() in page
    assert not re.search(r"(src|href)=", page)
    with pytest.raises(ValueError, match="not an <svg> element"):
        render_report("t", [Section("s", [], ["<b>plain</b>"])])
    with pytest.raises(ValueError, match="table row 1 has 1 cells for 2 header cells"):
        render_report("t", [Section("s", [], [], [Table(["a", "b"], [["1"]])])])
