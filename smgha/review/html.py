"""The review's HTML report: one self-contained page (report.html, uploaded as an artifact).

Nothing is fetched and nothing runs: the charts are inline SVG (made by plots.py), the style is
one inline <style>, and a Content-Security-Policy meta tag forbids every other resource and any
script, so even a page that somehow carried one would neither load nor run it. All plain text
(titles, paragraphs, table cells) is escaped here; figures are trusted as they come from
plots.py, and each must be an <svg> element.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Section", "Table", "render_report"]

# default-src 'none': no script, font, image, frame or fetch from anywhere; the inline <style>
# is allowed by its own directive (inline SVG needs no image source).
_POLICY = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """
body { font-family: sans-serif; color: #24292f; margin: 24px auto; max-width: 1360px;
       padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 1px solid #d0d7de; padding-bottom: 6px; }
h2 { font-size: 1.25em; margin-top: 28px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
.figure { border: 1px solid #d0d7de; border-radius: 6px; background: #ffffff;
          width: 640px; max-width: 100%; }
.figure svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; }
th { background: #f6f8fa; }
"""


@dataclass(frozen=True)
class Table:
    """A table of text: every row has one cell per header."""

    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    """A titled part of the report: paragraphs, then figures (SVG from plots.py), then tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def render_report(title: str, sections: list[Section]) -> str:
    """The whole page, as text to write to report.html (UTF-8)."""
    body = [f"<h1>{_escape(title)}</h1>"]
    for section in sections:
        body.append(f"<section>\n<h2>{_escape(section.title)}</h2>")
        body += [f"<p>{_escape(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.figures:
            body.append('<div class="figures">')
            body += [_figure(section.title, figure) for figure in section.figures]
            body.append("</div>")
        body += [_table(section.title, table) for table in section.tables]
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_escape(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _figure(section: str, svg: str) -> str:
    if not svg.lstrip().startswith("<svg"):
        raise ValueError(
            f"section {section!r} has a figure that is not an <svg> element "
            f"(it starts {svg.lstrip()[:20]!r}): pass the text of a chart from smgha.review.plots; "
            "plain text goes in paragraphs"
        )
    return f'<div class="figure">\n{svg.strip()}\n</div>'


def _table(section: str, table: Table) -> str:
    for number, row in enumerate(table.rows, start=1):
        if len(row) != len(table.header):
            raise ValueError(
                f"section {section!r}: table row {number} has {len(row)} cells for "
                f"{len(table.header)} header cells: give one cell per column"
            )
    head = "".join(f"<th>{_escape(cell)}</th>" for cell in table.header)
    rows = [
        "<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    ]
    return "\n".join(
        ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    )


def _escape(text: str) -> str:
    return html.escape(str(text), quote=True)
