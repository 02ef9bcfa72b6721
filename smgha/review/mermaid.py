"""Line charts for the PR comment and the job summary, as Mermaid `xychart-beta` blocks, which
GitHub draws from the text alone (no image to host). docs/review.md, section "Pictures", says
what GitHub renders and how sure that is; the comment keeps a table beside each chart.

What Mermaid's xychart grammar and renderer impose, checked against its source
(mermaid-js/mermaid, packages/mermaid/src/diagrams/xychart/parser/xychart.jison at
13e8d8d477b25b4921db18eaf76dc21ecbd1afd7) and by
tests/test_review_plots_mermaid.py, which parses and renders every kind of chart made here with
the Mermaid releases pinned in tests/mermaid/package.json, in headless Chromium:

- a line's points are evenly spaced along the x axis, from its minimum to its maximum: the
  values carry no x. So every series is resampled (curves.resample) on one uniform grid of
  GRID_POINTS x values spanning all series, and the axis is declared as that range;
- Mermaid 11 places those points at low, low + step, ... while <= high, adding the step up
  (src/diagrams/xychart/xychartDb.ts, transformDataWithoutCategory: `for (let i = min; i <= max;
  i += step)` in 11.3.0; 12 multiplies, `min + index * step`): the float sum can pass `high`
  and drop the line's last point (0 to 1 in 20 steps does). The axis end written is the
  nearest float at or above `high` for which that sum places every point (_reachable_high);
- a number is `[+-]?(\\d+(\\.\\d+)?|\\.\\d+)`: no exponent (`1e-05` is a parse error), so numbers
  are written in fixed notation;
- a quoted text is `"[^"]*"`, and `"` followed by a backtick opens a Markdown string: titles
  and names lose `"` and backticks; `<`, `>` and `&` go too (Mermaid drops a tag and escapes
  `&` twice in a title: `&amp;amp;`), and line breaks (a statement ends at one);
- the default theme draws the first line in #ECECFF, nearly invisible on white: the block sets
  its own palette (plots.PALETTE, in the config front matter Mermaid reads since v10.5), and
  the title names each series' colour, as xychart has no legend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal

from smgha.review.curves import resample
from smgha.review.plots import COLOUR_NAMES, PALETTE, Series

__all__ = ["GRID_POINTS", "xychart"]

# Points per line: 21 puts a point at every 0.05 of a 0..1 axis, and stays readable in the
# comment's column (about 800 pixels wide).
GRID_POINTS = 21
_DECIMALS = 4
_UNSAFE = re.compile(r'["`<>&\s\x00-\x1f\x7f]+')


def xychart(title: str, x_label: str, y_label: str, series: list[Series]) -> str:
    """A ```mermaid fenced block: one line per series (at most len(PALETTE)), on a shared grid."""
    if not 1 <= len(series) <= len(PALETTE):
        raise ValueError(
            f"xychart got {len(series)} series: it draws 1 to {len(PALETTE)} (one colour each)"
        )
    for one in series:
        values = [*one.x, *one.y]
        if not one.x or len(one.x) != len(one.y) or not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"xychart series {_clean(one.name)!r} needs as many x as y values, at least one, "
                "all finite numbers; leave out the points you have no value for"
            )
    low = min(min(one.x) for one in series)
    high = max(max(one.x) for one in series)
    if low == high:
        high = low + 1.0
    high = _reachable_high(low, high, GRID_POINTS)
    grid = [low + (high - low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
    lines = [resample(one.x, one.y, grid) for one in series]
    y_low = min(min(values) for values in lines)
    y_high = max(max(values) for values in lines)
    if y_low >= 0.0 and y_high <= 1.0:  # rates and probabilities: the whole 0 to 1 scale
        y_low, y_high = 0.0, 1.0
    if y_low == y_high:
        y_high = y_low + 1.0
    key = ", ".join(
        f"{COLOUR_NAMES[i]}: {_clean(one.name) or f'series {i + 1}'}"
        for i, one in enumerate(series)
    )
    text = [
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{", ".join(PALETTE)}"',
        "---",
        "xychart-beta",
        f'  title "{_clean(title)} ({key})"',
        f'  x-axis "{_clean(x_label)}" {_exact(low)} --> {_exact(high)}',
        f'  y-axis "{_clean(y_label)}" {_number(_round(y_low, math.floor))} --> '
        f"{_number(_round(y_high, math.ceil))}",
    ]
    for one, values in zip(series, lines, strict=True):
        numbers = ", ".join(_number(value) for value in values)
        text.append(f'  line "{_clean(one.name)}" [{numbers}]')
    text.append("```")
    return "\n".join(text) + "\n"


def _clean(value: str) -> str:
    """`value` as a quoted Mermaid text may hold it: no quote, backtick, markup or line break."""
    return _UNSAFE.sub(" ", str(value)).strip()


def _reachable_high(low: float, high: float, count: int) -> float:
    """The smallest float from `high` up for which Mermaid 11's summed steps place `count`
    points from `low` (a float's last bit or two above `high` at most)."""
    while True:
        step = (high - low) / (count - 1)
        placed, at = 0, low
        while at <= high:  # the same double arithmetic as the JavaScript loop
            placed, at = placed + 1, at + step
        if placed >= count:
            return high
        high = math.nextafter(high, math.inf)


def _exact(value: float) -> str:
    """`value` in fixed notation with every digit JavaScript's Number() needs to read back the
    same float (the shortest repr's digits, without an exponent)."""
    return format(Decimal(repr(value)), "f")


def _round(value: float, direction: Callable[[float], int]) -> float:
    """`value` rounded down (math.floor) or up (math.ceil) to the decimals written, so the axis
    range written still holds every point."""
    scale = 10**_DECIMALS
    return direction(value * scale) / scale


def _number(value: float) -> str:
    """Fixed notation (Mermaid reads no exponent), trailing zeros dropped: 0.25, 1, -0.0001."""
    text = f"{value:.{_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
