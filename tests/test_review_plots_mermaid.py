"""The review's Mermaid charts (smgha/review/mermaid.py), parsed and rendered by real Mermaid in
headless Chromium: the releases pinned in tests/mermaid/package.json, 11.3.0 (the oldest that
GitHub was reported to render, in October 2024: docsible/docsible#30) and a current one.

For every kind of chart the review emits (ROC and precision-recall of two models, calibration,
one series, six series, hostile names, tiny, huge, negative and constant values), each release
must parse it, draw one line per series in our palette (Mermaid's default first colour is
#ECECFF, nearly invisible on white), with the points evenly spaced along x (what xychart does
with line values, and why mermaid.py resamples on one grid), in the order of the values.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from smgha.review import curves
from smgha.review.mermaid import GRID_POINTS, xychart
from smgha.review.plots import PALETTE, Series
from tests.review_browser import dump_dom
from tests.yaml_files import ROOT

pytestmark = pytest.mark.slow

RELEASES = {
    "11.3.0": ROOT / "tests/mermaid/node_modules/mermaid-11.3.0/dist/mermaid.min.js",
    "12.3.0": ROOT / "tests/mermaid/node_modules/mermaid/dist/mermaid.min.js",
}

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="result"></pre>
<script type="application/json" id="charts">CHARTS</script>
<script src="BUNDLE"></script>
<script>
mermaid.initialize({startOnLoad: false});
(async () => {
  const charts = JSON.parse(document.getElementById("charts").textContent);
  const results = [];
  for (const [index, text] of charts.entries()) {
    const one = {};
    try { await mermaid.parse(text); one.parsed = true; }
    catch (error) { one.parsed = false; one.error = String(error.message || error); }
    if (one.parsed) {
      try {
        const { svg } = await mermaid.render("chart" + index, text);
        const holder = document.createElement("div");
        holder.innerHTML = svg;
        document.body.appendChild(holder);
        one.lines = [...holder.querySelectorAll("g.plot path")].map(
          (path) => ({ stroke: path.getAttribute("stroke"), d: path.getAttribute("d") }));
        one.title = (holder.querySelector(".chart-title text") || {}).textContent;
        one.scripts = holder.querySelectorAll("script").length;
      } catch (error) { one.renderError = String(error.message || error); }
    }
    results.push(one);
  }
  document.getElementById("result").textContent = JSON.stringify(results);
})();
</script></body></html>"""


def render(release: str, texts: list[str], folder: Path) -> list[dict[str, Any]]:
    """What Mermaid `release` makes of each chart text: parsed or not (and why), the lines."""
    bundle = RELEASES[release]
    if not bundle.is_file():
        raise AssertionError(f"Mermaid {release} is not installed: run make test (tests/mermaid)")
    page = folder / f"mermaid-{release}.html"
    charts = json.dumps(texts).replace("</", "<\\/")  # no "</script>" inside the JSON block
    page.write_text(PAGE.replace("CHARTS", charts).replace("BUNDLE", bundle.as_uri()))
    found = re.search(r'<pre id="result">(.*?)</pre>', dump_dom(page, wait_ms=20000), re.S)
    assert found and found.group(1), f"Mermaid {release} gave no result"
    results: list[dict[str, Any]] = json.loads(found.group(1))
    return results


def body(block: str) -> str:
    """The text GitHub hands to Mermaid: what is between the ```mermaid fences."""
    lines = block.strip().splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    return "\n".join(lines[1:-1])


def emitted_charts() -> list[tuple[str, list[Series]]]:
    rng = random.Random(7)
    labels = [int(rng.random() < 0.4) for _ in range(500)]
    scores = [[min(1.0, max(0.0, 0.5 + s * (label - 0.5) + rng.gauss(0, 0.2))) for label in labels] for s in (0.5, 0.2)]  # fmt: skip
    roc = [curves.roc(labels, one) for one in scores]
    pr = [curves.precision_recall(labels, one) for one in scores]
    cal = curves.calibration(labels, scores[0])
    hostile = 'a "quoted" `tick` <script>alert(1)</script> %%{init: {}}%% ; # : --> [x] \n next'
    return [
        ("ROC", [Series("candidate", roc[0].x, roc[0].y), Series("champion", roc[1].x, roc[1].y)]),
        ("Precision-recall", [Series("candidate", pr[0].x, pr[0].y), Series("champion", pr[1].x, pr[1].y)]),
        ("Calibration", [Series("candidate", cal.x, cal.y)]),
        (hostile, [Series(hostile, [0.0, 1.0], [0.2, 0.9]), Series("", [0.0, 1.0], [0.5, 0.5])]),
        ("Tiny, huge, negative", [Series("tiny", [0.0, 1e-7], [1e-9, 3e-7]), Series("huge", [0.0, 1e-7], [-5e8, 1e9])]),
        ("Constant", [Series("flat", [2.0, 2.0], [0.3, 0.3])]),
        ("Six", [Series(f"model {i}", [0.0, 1.0], [i / 10, 1 - i / 10]) for i in range(len(PALETTE))]),
    ]  # fmt: skip


def points(path: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"([-\d.]+),([-\d.]+)", path)]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_every_chart_parses_and_draws_its_lines(release: str, tmp_path: Path) -> None:
    charts = emitted_charts()
    texts = [body(xychart(title, "x", "y", series)) for title, series in charts]
    results = render(release, texts, tmp_path)
    for (title, series), result in zip(charts, results, strict=True):
        label = f"{title[:20]!r} with Mermaid {release}"
        assert result["parsed"] is True, f"{label}: {result.get('error')}"
        assert "renderError" not in result, f"{label}: {result.get('renderError')}"
        assert result["scripts"] == 0, label
        assert "blue: " in str(result["title"]), label  # the colour key, as written
        lines = result["lines"]
        assert isinstance(lines, list) and len(lines) == len(series), label
        for index, line in enumerate(lines):
            assert line["stroke"] == PALETTE[index], label
            drawn = points(line["d"])
            assert len(drawn) == GRID_POINTS, label
            steps = [b[0] - a[0] for a, b in itertools.pairwise(drawn)]
            assert max(steps) - min(steps) < 0.01, f"{label}: x not evenly spaced"
    roc_candidate = points(results[0]["lines"][0]["d"])
    heights = [y for _, y in roc_candidate]  # a ROC curve rises: SVG y falls
    assert heights == sorted(heights, reverse=True) and heights[0] > heights[-1]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_the_rules_mermaid_py_follows_are_mermaids(release: str, tmp_path: Path) -> None:
    # Each text breaks one rule that xychart() keeps: Mermaid must reject or misdraw it, or
    # the test above proves nothing about that rule.
    broken = [
        "xychart-beta\n  line [0.5, 1e-05]",  # an exponent
        'xychart-beta\n  title "say "hi""\n  line [1, 2]',  # a quote in a quoted text
        "xychart-beta\n  line [0.1, 0.9]\n  line [0.9, 0.1]",  # no palette: the default
    ]
    results = render(release, broken, tmp_path)
    assert results[0]["parsed"] is False
    assert results[1]["parsed"] is False
    assert results[2]["parsed"] is True
    assert [line["stroke"] for line in results[2]["lines"]][0].upper() == "#ECECFF"
