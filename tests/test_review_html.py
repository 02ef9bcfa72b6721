"""The browser test of the review's HTML report (issue 17): a report with every kind of chart,
opened in headless Chromium, must really draw each one.

Three looks at the same page:
- the DOM Chromium built from it: one <svg> per figure, each with a <title>, a non-empty mark
  (path with points, circles or bars), its axis labels, and no <script> anywhere (a feature
  named `<script>` is shown as text);
- the layout: a copy of the page with a probe script (the report itself allows none) gives
  each chart's plot-area box in page pixels;
- a screenshot: inside each plot-area box, enough pixels in the data's colours (saturated:
  axes, grid, text and the diagonal are grey, and the legend is outside the box). A chart
  whose marks draw nothing fails this, as test_a_chart_that_draws_nothing_fails shows.
"""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy
import pytest

from smgha.review import curves, plots
from smgha.review.html import Section, Table, render_report
from tests.review_browser import dump_dom, screenshot

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script>"
WIDTH = 700  # one 640-pixel figure per row: the page is a column of charts
# A drawn chart has at least this many data-coloured pixels inside its plot area (a 2-pixel
# line across a 406-pixel box alone gives about 800).
MIN_DATA_PIXELS = 300


def every_chart() -> list[tuple[str, str, str]]:
    """(kind, x-axis label, chart) for each kind of figure a review draws."""
    rng = random.Random(17)
    labels = [int(rng.random() < 0.35) for _ in range(600)]
    good = [min(1.0, max(0.0, 0.3 + 0.4 * label + rng.gauss(0, 0.18))) for label in labels]
    weak = [min(1.0, max(0.0, 0.4 + 0.2 * label + rng.gauss(0, 0.2))) for label in labels]
    roc = [curves.roc(labels, scores) for scores in (good, weak)]
    pr = [curves.precision_recall(labels, scores) for scores in (good, weak)]
    cal = [curves.calibration(labels, scores) for scores in (good, weak)]
    names = ["candidate", HOSTILE]
    actual = [rng.uniform(0, 50) for _ in range(400)]
    predicted = [value + rng.gauss(0, 4) for value in actual]
    return [
        ("line", "False positive rate", plots.line_chart("ROC", "False positive rate", "True positive rate", [plots.Series(n, c.x, c.y) for n, c in zip(names, roc, strict=True)], diagonal=True)),
        ("line", "Recall", plots.line_chart("Precision-recall", "Recall", "Precision", [plots.Series(n, c.x, c.y) for n, c in zip(names, pr, strict=True)])),
        ("line", "Mean predicted probability", plots.line_chart("Calibration", "Mean predicted probability", "Fraction of positives", [plots.Series(n, c.x, c.y) for n, c in zip(names, cal, strict=True)], diagonal=True)),
        ("confusion", "Predicted", plots.confusion_matrix("Confusion matrix: candidate", [[350, 40], [25, 185]], ["0", "1"])),
        ("bar", "Gain", plots.bar_chart("Feature importance", "Gain", ["age", "income", HOSTILE], [plots.Series("candidate", [], [0.5, 0.3, 0.2]), plots.Series("champion", [], [0.4, 0.4, 0.2])])),
        ("bar", "AUC change", plots.bar_chart("AUC per segment", "AUC change", ["north", "south"], [plots.Series("candidate - champion", [], [0.04, -0.06])])),
        ("scatter", "Actual", plots.scatter("Predicted against actual", "Actual", "Predicted", [plots.Series("candidate", actual, predicted)], diagonal=True)),
        ("scatter", "Predicted", plots.scatter("Residuals", "Predicted", "Residual", [plots.Series("candidate", predicted, [p - a for p, a in zip(predicted, actual, strict=True)])])),
    ]  # fmt: skip


def report(charts: list[tuple[str, str, str]]) -> str:
    return render_report(
        f"Model review {HOSTILE}",
        [
            Section("Metrics", [f"Candidate against champion {HOSTILE} & more."], [], [Table(["metric", "candidate"], [["auc", "0.91"], [HOSTILE, "1"]])]),
            Section("Pictures", [], [chart for _, _, chart in charts]),
        ],
    )  # fmt: skip


class Elements(HTMLParser):
    """Every element of a serialized DOM: (tag, attributes), and the text of each <text>."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_text = tag == "text"

    def handle_endtag(self, tag: str) -> None:
        self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.texts.append(data)


PROBE = """<pre id="probe"></pre><script>
const boxes = [...document.querySelectorAll("svg.smgha-chart")].map((svg) => {
  const box = svg.querySelector(".plot-area").getBoundingClientRect();
  return [svg.dataset.kind, box.left + scrollX, box.top + scrollY, box.width, box.height];
});
document.getElementById("probe").textContent = JSON.stringify(
  {boxes: boxes, height: document.documentElement.scrollHeight});
</script>"""


def plot_boxes(page: Path) -> tuple[list[list[float]], int]:
    """Each chart's plot-area box (kind, left, top, width, height) and the page's height, from
    a copy of `page` with a probe script at its end (after every figure: it moves none)."""
    probe = page.with_name("probe.html")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    probe.write_text(text.replace("</body>", PROBE + "</body>"))
    found = re.search(r'<pre id="probe">(.*?)</pre>', dump_dom(probe), re.S)
    assert found and found.group(1), "the probe script did not run"
    measured = json.loads(found.group(1))
    return measured["boxes"], int(measured["height"])


def undrawn_charts(page: Path, shot: Path) -> list[str]:
    """The charts of `page` whose plot area, in a screenshot, holds too few data pixels."""
    boxes, height = plot_boxes(page)
    assert boxes, "no chart on the page"
    image = screenshot(page, WIDTH, height, shot)
    pixels = image.pixels.astype(int)
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
    undrawn = []
    for number, (kind, left, top, width, box_height) in enumerate(boxes, start=1):
        inside = saturated[
            int(top) + 2 : int(top + box_height) - 2, int(left) + 2 : int(left + width) - 2
        ]
        count = int(numpy.count_nonzero(inside))
        if count < MIN_DATA_PIXELS:
            undrawn.append(f"chart {number} ({kind}): {count} data pixels")
    return undrawn


def test_every_chart_is_drawn_in_chromium(tmp_path: Path) -> None:
    charts = every_chart()
    page = tmp_path / "report.html"
    page.write_text(report(charts), encoding="utf-8")

    dom = Elements()
    dom.feed(dump_dom(page))
    tags = [tag for tag, _ in dom.elements]
    assert "script" not in tags, "the report must run nothing"
    assert tags.count("svg") == len(charts)
    assert tags.count("title") == len(charts) + 1  # the page's and one per chart
    marks = [attrs for tag, attrs in dom.elements if attrs.get("class") == "series"]
    paths = [attrs["d"] for tag, attrs in dom.elements if tag == "path" and "d" in attrs]
    assert len(paths) == 6 and all(d.count("L") >= 2 for d in paths)  # 3 line charts x 2 lines
    assert len([m for m in marks if "fill" in m]) >= 2 + 4 + 2 + 4  # scatter groups, bars, cells
    for _, x_label, _ in charts:
        assert x_label in dom.texts
    assert "True positive rate" in dom.texts and "Actual" in dom.texts
    assert any(HOSTILE[:19] in text for text in dom.texts)  # as text (cut to the legend's width)

    assert undrawn_charts(page, tmp_path / "report.png") == []


def test_a_chart_that_draws_nothing_fails(tmp_path: Path) -> None:
    # The same check on a report whose ROC lines have no points: it must name that chart.
    charts = every_chart()
    roc = re.sub(r'(<path class="series" d=")[^"]*', r"\1", charts[0][2])
    roc = re.sub(r'<circle [^>]*fill="#(1f77b4|ff7f0e)"/>', "", roc)
    assert roc != charts[0][2]
    page = tmp_path / "report.html"
    page.write_text(report([charts[0][:2] + (roc,), *charts[1:]]), encoding="utf-8")
    undrawn = undrawn_charts(page, tmp_path / "report.png")
    assert len(undrawn) == 1 and undrawn[0].startswith("chart 1 (line)")
