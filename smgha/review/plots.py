"""Self-contained SVG charts for the review's HTML report: no script, no stylesheet, no font or
image to fetch, so the picture is there wherever the file is opened (and inline in report.html).

Every chart has a viewBox (it scales with its container), a <title> (its accessible name, read
by screen readers and shown as a tooltip), a visible title, axis ticks with labels, axis titles
and, when it has several series, a legend. Every piece of text is escaped (and stripped of
control characters, which XML forbids): a feature or model called `<script>` is shown as text,
never becomes markup. Numbers must be finite: a NaN has no place on an axis, and the caller
knows better than a chart what a missing value means.

The data marks of every chart are drawn in the colours of PALETTE (and the confusion matrix's
cells in tints of its first colour) inside the element of class "plot-area"; the axes, grid and
diagonal are grey. The browser test (tests/test_review_html.py) relies on that to check, in a
screenshot, that each chart really drew its data.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from smgha.review.curves import thin

__all__ = [
    "COLOUR_NAMES",
    "PALETTE",
    "Series",
    "bar_chart",
    "confusion_matrix",
    "line_chart",
    "scatter",
]

# The first colours of matplotlib's "tab10" cycle: distinct for the common colour-vision
# deficiencies in their first pairs, and readable on white. The first series is the first colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
COLOUR_NAMES = ("blue", "orange", "green", "red", "purple", "brown")
# A line of more points than this is thinned (curves.thin): a 10,000-threshold ROC curve looks
# the same with 200 points, in a twentieth of the bytes. A scatter keeps more (its points are
# the picture) but not every one of a large test set.
MAX_LINE_POINTS = 200
MAX_SCATTER_POINTS = 1000
# More bars than this do not fit under the axis with a readable label: pass the top ones.
MAX_CATEGORIES = 30

WIDTH, HEIGHT = 640, 400
_GREY, _INK = "#cccccc", "#333333"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Series:
    """One named set of points (a bar chart reads `y` only, one value per category)."""

    name: str
    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class _Box:
    """The plot area inside the chart, in SVG units."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class _Axis:
    low: float
    high: float
    ticks: list[float]
    decimals: int

    def at(self, value: float, start: float, end: float) -> float:
        return start + (value - self.low) / (self.high - self.low) * (end - start)

    def label(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"


_LINE_BOX = _Box(left=64, top=40, right=WIDTH - 170, bottom=HEIGHT - 56)
_BAR_BOX = _Box(left=64, top=40, right=WIDTH - 170, bottom=HEIGHT - 110)


def line_chart(
    title: str, x_label: str, y_label: str, series: list[Series], diagonal: bool = False
) -> str:
    """Lines through each series' points, in order (thinned to MAX_LINE_POINTS); a marker on
    each point when a series has 30 points or fewer. `diagonal`: the y = x line (chance for a
    ROC curve, perfect calibration), both axes then on one scale."""
    _check_xy("line_chart", series)
    x_axis, y_axis = _xy_axes(series, diagonal)
    box = _LINE_BOX
    parts = _open("line", title, box) + _x_ticks(x_axis, x_label, box) + _y_ticks(y_axis, y_label)
    if diagonal:
        parts.append(_diagonal(x_axis, y_axis, box))
    for index, one in enumerate(series):
        xs, ys = thin(one.x, one.y, MAX_LINE_POINTS)
        points = [
            (x_axis.at(x, box.left, box.right), y_axis.at(y, box.bottom, box.top))
            for x, y in zip(xs, ys, strict=True)
        ]
        path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(
            f'<path class="series" d="{path}" fill="none" stroke="{PALETTE[index]}" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
        if len(points) <= 30:
            parts += [
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{PALETTE[index]}"/>'
                for px, py in points
            ]
    return _close(parts, [one.name for one in series])


def scatter(
    title: str, x_label: str, y_label: str, series: list[Series], diagonal: bool = False
) -> str:
    """A dot per point (at most MAX_SCATTER_POINTS per series, evenly spread by index), e.g.
    predicted against actual, or residuals. `diagonal`: the y = x line, axes on one scale."""
    _check_xy("scatter", series)
    x_axis, y_axis = _xy_axes(series, diagonal)
    box = _LINE_BOX
    parts = _open("scatter", title, box) + _x_ticks(x_axis, x_label, box)
    parts += _y_ticks(y_axis, y_label)
    if diagonal:
        parts.append(_diagonal(x_axis, y_axis, box))
    for index, one in enumerate(series):
        xs, ys = thin(one.x, one.y, MAX_SCATTER_POINTS)
        parts.append(f'<g class="series" fill="{PALETTE[index]}" fill-opacity="0.6">')
        parts += [
            f'<circle cx="{x_axis.at(x, box.left, box.right):.1f}" '
            f'cy="{y_axis.at(y, box.bottom, box.top):.1f}" r="2.5"/>'
            for x, y in zip(xs, ys, strict=True)
        ]
        parts.append("</g>")
    return _close(parts, [one.name for one in series])


def bar_chart(title: str, y_label: str, categories: list[str], series: list[Series]) -> str:
    """Grouped bars: for each category, one bar per series (its `y` in category order), drawn
    from zero, so a negative value (a metric's drop) goes down."""
    _check_series("bar_chart", series)
    if not categories or len(categories) > MAX_CATEGORIES:
        raise ValueError(
            f"bar_chart {_text(title)!r} has {len(categories)} categories: it draws 1 to "
            f"{MAX_CATEGORIES}; pass the largest ones"
        )
    for one in series:
        if len(one.y) != len(categories):
            raise ValueError(
                f"bar_chart series {_text(one.name)!r} has {len(one.y)} values for "
                f"{len(categories)} categories: give one value per category"
            )
    box = _BAR_BOX
    y_axis = _axis([value for one in series for value in one.y], include_zero=True)
    parts = _open("bar", title, box) + _y_ticks(y_axis, y_label, box)
    group = (box.right - box.left) / len(categories)
    bar = group * 0.8 / len(series)
    zero = y_axis.at(0.0, box.bottom, box.top)
    for column, category in enumerate(categories):
        middle = box.left + group * (column + 0.5)
        parts.append(
            f'<text x="{middle:.1f}" y="{box.bottom + 14:.1f}" text-anchor="end" '
            f'transform="rotate(-40 {middle:.1f} {box.bottom + 14:.1f})">'
            f"{_short(category, 16)}</text>"
        )
        for index, one in enumerate(series):
            left = box.left + group * column + group * 0.1 + bar * index
            top = y_axis.at(one.y[column], box.bottom, box.top)
            parts.append(
                f'<rect class="series" x="{left:.1f}" y="{min(top, zero):.1f}" '
                f'width="{bar:.1f}" height="{abs(zero - top):.1f}" fill="{PALETTE[index]}"/>'
            )
    parts.append(
        f'<line x1="{box.left}" y1="{zero:.1f}" x2="{box.right}" y2="{zero:.1f}" stroke="{_INK}"/>'
    )
    return _close(parts, [one.name for one in series])


def confusion_matrix(title: str, matrix: list[list[int]], labels: list[str]) -> str:
    """Counts of actual class (rows) by predicted class (columns), each cell tinted by its count
    (the largest darkest; any non-zero count visibly tinted) with the count written in it."""
    size = len(labels)
    if size < 2 or len(matrix) != size or any(len(row) != size for row in matrix):
        raise ValueError(
            f"confusion_matrix {_text(title)!r} needs a square matrix of one row and column "
            f"per label ({size} labels): row i holds the rows of actual class i by predicted class"
        )
    counts = [count for row in matrix for count in row]
    if any(not isinstance(count, int) or count < 0 for count in counts):
        raise ValueError(
            f"confusion_matrix {_text(title)!r} holds a value that is not a count: "
            "each cell must be a whole number, 0 or more"
        )
    box = _LINE_BOX
    cell = min(box.right - box.left, box.bottom - box.top) / size
    grid = _Box(box.left, box.top, box.left + cell * size, box.top + cell * size)
    parts = _open("confusion", title, grid)
    largest = max(counts) or 1
    for row in range(size):
        for column in range(size):
            count = matrix[row][column]
            share = 0.0 if count == 0 else 0.12 + 0.88 * count / largest
            x, y = grid.left + column * cell, grid.top + row * cell
            parts.append(
                f'<rect class="series" x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" '
                f'height="{cell:.1f}" fill="{_tint(share)}" stroke="#ffffff"/>'
            )
            parts.append(
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 5:.1f}" text-anchor="middle" '
                f'font-size="14" fill="{"#ffffff" if share > 0.55 else _INK}">{count:,}</text>'
            )
    for index, label in enumerate(labels):
        middle = grid.left + cell * (index + 0.5)
        parts.append(
            f'<text x="{middle:.1f}" y="{grid.bottom + 16:.1f}" text-anchor="middle">{_short(label, 14)}</text>'
        )
        middle = grid.top + cell * (index + 0.5)
        parts.append(
            f'<text x="{grid.left - 6:.1f}" y="{middle + 4:.1f}" text-anchor="end">{_short(label, 8)}</text>'
        )
    parts.append(
        _axis_title(grid.left + (grid.right - grid.left) / 2, grid.bottom + 40, "Predicted")
    )
    parts.append(_axis_title(16, grid.top + (grid.bottom - grid.top) / 2, "Actual", vertical=True))
    return _close(parts, [])


def _check_series(function: str, series: Sequence[Series]) -> None:
    if not 1 <= len(series) <= len(PALETTE):
        raise ValueError(
            f"{function} got {len(series)} series: it draws 1 to {len(PALETTE)} (one colour each)"
        )
    for one in series:
        if not one.y:
            raise ValueError(f"{function} series {_text(one.name)!r} has no points: leave it out")
        bad = [
            v for v in [*one.x, *one.y] if not (isinstance(v, (int, float)) and math.isfinite(v))
        ]
        if bad:
            raise ValueError(
                f"{function} series {_text(one.name)!r} holds {bad[0]!r}: every value must be a "
                "finite number; leave out the points you have no value for"
            )


def _check_xy(function: str, series: Sequence[Series]) -> None:
    _check_series(function, series)
    for one in series:
        if len(one.x) != len(one.y):
            raise ValueError(
                f"{function} series {_text(one.name)!r} has {len(one.x)} x and {len(one.y)} y "
                "values: give one x per y"
            )


def _xy_axes(series: Sequence[Series], diagonal: bool) -> tuple[_Axis, _Axis]:
    xs = [value for one in series for value in one.x]
    ys = [value for one in series for value in one.y]
    if diagonal:  # one scale on both axes, so y = x is the square's diagonal
        both = _axis(xs + ys)
        return both, both
    return _axis(xs), _axis(ys)


def _axis(values: Sequence[float], include_zero: bool = False) -> _Axis:
    """About five ticks at a round step (1, 2 or 5 times a power of ten) covering `values`."""
    low, high = min(values), max(values)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if low == high:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    rough = (high - low) / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    ticks = [round(i * step, 12) for i in range(first, last + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return _Axis(low=ticks[0], high=ticks[-1], ticks=ticks, decimals=decimals)


def _open(kind: str, title: str, box: _Box) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="smgha-chart" data-kind="{kind}" '
        f'font-family="sans-serif" font-size="12" fill="{_INK}">',
        f"<title>{_text(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{WIDTH / 2}" y="22" text-anchor="middle" '
        f'font-size="15" font-weight="bold">{_short(title, 70)}</text>',
        f'<rect class="plot-area" x="{box.left}" y="{box.top}" width="{box.right - box.left:.1f}" '
        f'height="{box.bottom - box.top:.1f}" fill="none" stroke="{_GREY}"/>',
    ]


def _x_ticks(axis: _Axis, label: str, box: _Box) -> list[str]:
    parts = []
    for tick in axis.ticks:
        x = axis.at(tick, box.left, box.right)
        parts.append(
            f'<line x1="{x:.1f}" y1="{box.top}" x2="{x:.1f}" y2="{box.bottom + 5}" stroke="{_GREY}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{box.bottom + 18}" text-anchor="middle">{axis.label(tick)}</text>'
        )
    parts.append(_axis_title((box.left + box.right) / 2, box.bottom + 42, label))
    return parts


def _y_ticks(axis: _Axis, label: str, box: _Box = _LINE_BOX) -> list[str]:
    parts = []
    for tick in axis.ticks:
        y = axis.at(tick, box.bottom, box.top)
        parts.append(
            f'<line x1="{box.left - 5}" y1="{y:.1f}" x2="{box.right}" y2="{y:.1f}" stroke="{_GREY}"/>'
        )
        parts.append(
            f'<text class="tick" x="{box.left - 8}" y="{y + 4:.1f}" text-anchor="end">{axis.label(tick)}</text>'
        )
    parts.append(_axis_title(16, (box.top + box.bottom) / 2, label, vertical=True))
    return parts


def _axis_title(x: float, y: float, label: str, vertical: bool = False) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if vertical else ""
    return f'<text class="axis-label" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="13"{turn}>{_short(label, 60)}</text>'


def _diagonal(x_axis: _Axis, y_axis: _Axis, box: _Box) -> str:
    low, high = max(x_axis.low, y_axis.low), min(x_axis.high, y_axis.high)
    return (
        f'<line class="diagonal" x1="{x_axis.at(low, box.left, box.right):.1f}" '
        f'y1="{y_axis.at(low, box.bottom, box.top):.1f}" x2="{x_axis.at(high, box.left, box.right):.1f}" '
        f'y2="{y_axis.at(high, box.bottom, box.top):.1f}" stroke="#999999" stroke-dasharray="5 4"/>'
    )


def _close(parts: list[str], names: list[str]) -> str:
    """The legend (when there are two or more series, or one with a name), then the end."""
    if len(names) > 1 or (names and names[0]):
        parts.append('<g class="legend">')
        for index, name in enumerate(names):
            y = _LINE_BOX.top + 8 + index * 20
            x = _LINE_BOX.right + 14
            parts.append(
                f'<rect x="{x}" y="{y - 6}" width="18" height="4" fill="{PALETTE[index]}"/>'
            )
            parts.append(f'<text x="{x + 24}" y="{y}">{_short(name, 20)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _tint(share: float) -> str:
    """White mixed with PALETTE[0] by `share` (0: white, 1: the full colour)."""
    red, green, blue = (int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5))
    mixed = (round(255 + (channel - 255) * share) for channel in (red, green, blue))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def _text(value: str) -> str:
    """`value` safe as SVG/HTML text or attribute: control characters dropped, markup escaped."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def _short(value: str, limit: int) -> str:
    """`value` cut to `limit` characters (with an ellipsis), then made safe (_text)."""
    clean = _CONTROL.sub("", str(value))
    return _text(clean if len(clean) <= limit else clean[: limit - 1] + "\u2026")
