"""The job summary builder (`Runner.summary`), like `@actions/core`'s `summary` object.

A `Summary` collects Markdown blocks and appends them to the file named by
GITHUB_STEP_SUMMARY on `write()`, keeping that file within the size the runner uploads
(SUMMARY_SIZE_LIMIT); a buffer that does not fit is cut at a line, its open blocks closed,
and its full text saved to a file the reusable workflows upload as an artifact.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from smgha.workflow_commands import missing_runner_file

if TYPE_CHECKING:  # Runner creates its Summary: importing it at run time would be a cycle
    from smgha.runner import Runner

__all__ = [
    "SUMMARY_ARTIFACT",
    "SUMMARY_SIZE_LIMIT",
    "Summary",
    "fenced_code",
]

# The most bytes a step's summary file may hold. A larger one is not uploaded at all: the
# runner drops the whole summary and logs UnsupportedSummarySize (actions/runner,
# src/Runner.Worker/FileCommandManager.cs: `AttachmentSizeLimit = 1024 * 1024`, checked
# as `fileSize > AttachmentSizeLimit`).
SUMMARY_SIZE_LIMIT = 1024 * 1024
# A cut summary stops this far below the limit, so what the step writes after it (an error
# section, the next cut's note) still fits.
_SUMMARY_HEADROOM = 64 * 1024
# Where a cut summary's full text goes (env SMGHA_SUMMARY_DIR overrides the folder), and
# the artifact name under which the reusable workflows upload that folder (followed by
# `-<job id>`: artifact names are unique within a run).
SUMMARY_ARTIFACT = "smgha-summaries"
# An opening or closing code fence: up to three spaces, then three or more ` or ~.
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


class Summary:
    """A job-summary buffer with chainable builders, like core's `summary` object.

    Core builds HTML; this builds Markdown (plus `<details>` HTML, which GitHub renders in
    Markdown) because Markdown stays readable when a CLI run prints the summary to a
    terminal. Each block ends with a blank line so the next block starts a new Markdown
    block no matter what it is. Line breaks are always "\\n": GitHub renders either kind, and
    one kind keeps the buffer identical on every OS.

    Nothing reaches the runner until `write()`, which appends the buffer to the file named
    by GITHUB_STEP_SUMMARY and empties the buffer, so a stage can build a section and
    discard it (`empty_buffer()`) if it fails halfway. `write()` keeps the file within
    SUMMARY_SIZE_LIMIT, which core does not check.
    """

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._buffer = ""

    def raw(self, text: str, add_eol: bool = False) -> Summary:
        """Append text as is (core's `addRaw`); with `add_eol`, a line break after it."""
        self._buffer += text
        return self.eol() if add_eol else self

    def eol(self) -> Summary:
        """Append a line break (core's `addEOL`)."""
        return self.raw("\n")

    def heading(self, text: str, level: int = 2) -> Summary:
        """Append an ATX heading. A level outside 1..6 falls back to 1, as in core.

        Line breaks in the text become spaces: a Markdown heading is a single line, and the
        rest would otherwise turn into a paragraph.
        """
        if level not in range(1, 7):
            level = 1
        flat = " ".join(text.splitlines())
        return self.raw(f"{'#' * level} {flat}\n\n")

    def paragraph(self, text: str) -> Summary:
        """Append a paragraph."""
        return self.raw(f"{text}\n\n")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Summary:
        """Append a GitHub-flavoured Markdown table.

        In each cell `|` becomes `\\|` (else it would split the cell) and line breaks become
        `<br>` (else they would end the table). A row shorter than the header is padded with
        empty cells; a longer one raises ValueError, because GitHub would silently drop the
        extra cells.
        """
        if not header:
            raise ValueError("a summary table needs at least one header cell")
        width = len(header)
        lines = [_table_row(header), "| " + " | ".join(["---"] * width) + " |"]
        for number, row in enumerate(rows, start=1):
            if len(row) > width:
                raise ValueError(
                    f"summary table row {number} has {len(row)} cells, the header has {width}"
                )
            lines.append(_table_row([*row, *([""] * (width - len(row)))]))
        return self.raw("\n".join(lines) + "\n\n")

    def code_block(self, code: str, lang: str = "") -> Summary:
        """Append a fenced code block (see `fenced_code`)."""
        return self.raw(fenced_code(code, lang) + "\n\n")

    def details(self, label: str, content: str) -> Summary:
        """Append a collapsed `<details>` section.

        The blank lines around the content let GitHub render Markdown inside it (a table, a
        code block); without them the content is taken as inline HTML text.
        """
        return self.raw(f"<details><summary>{label}</summary>\n\n{content}\n\n</details>\n\n")

    def stringify(self) -> str:
        """The buffer not yet written."""
        return self._buffer

    def is_empty_buffer(self) -> bool:
        return not self._buffer

    def empty_buffer(self) -> Summary:
        """Drop the buffer without writing it."""
        self._buffer = ""
        return self

    def write(self, overwrite: bool = False) -> Summary:
        """Append the buffer to $GITHUB_STEP_SUMMARY (replace it with `overwrite`), then
        empty the buffer.

        Without GITHUB_STEP_SUMMARY (a CLI run on a laptop) the text goes to the runner's
        `summary_text` instead, so the CLI can show what the job summary would have said.
        Like core, a GITHUB_STEP_SUMMARY that names no existing file is an error rather than
        a file created on the spot: the runner always creates it, so a missing one means a
        wrong path.

        Unlike core, the file never grows past SUMMARY_SIZE_LIMIT, because the runner would
        drop all of it. The size counted is the file's, so it includes earlier writes of
        this step, also from other processes. A buffer that does not fit is saved whole
        to a file (see `_save_full_text`), and only its first lines are appended, followed
        by a note that names that file; a `::warning` says the same. `summary_text` has no
        limit, since nothing uploads it.
        """
        path = self._runner.env.get("GITHUB_STEP_SUMMARY") or ""
        if path:
            if not os.path.isfile(path):
                raise missing_runner_file("GITHUB_STEP_SUMMARY", path)
            text = self._buffer
            used = 0 if overwrite else os.path.getsize(path)
            if used + len(text.encode("utf-8")) > SUMMARY_SIZE_LIMIT:
                text = self._cut(text, used)
            with open(path, "w" if overwrite else "a", encoding="utf-8", newline="") as handle:
                handle.write(text)
        elif overwrite:
            self._runner.summary_text = self._buffer
        else:
            self._runner.summary_text += self._buffer
        return self.empty_buffer()

    def _cut(self, text: str, used: int) -> str:
        """What to append instead of `text` when `used` bytes are already in the summary.

        That is the longest run of whole lines of `text` that, with the note, stays
        _SUMMARY_HEADROOM below the limit (whole characters if the first line alone is too
        long), plus whatever closes a code fence or `<details>` left open at the cut, so the
        note renders outside them. If not even the note fits, nothing is appended.
        """
        data = text.encode("utf-8")
        try:
            saved: str | None = self._save_full_text(data)
            problem = ""
        except OSError as exc:
            saved, problem = None, str(exc)

        def note(omitted: int) -> str:
            message = _truncation_message(omitted, saved, problem, "`")
            return f"\n**Job summary truncated:** {message}\n\n"

        room = SUMMARY_SIZE_LIMIT - _SUMMARY_HEADROOM - used - len(note(len(data)).encode())
        kept = _utf8_prefix(data, room)
        closed = kept if not kept or kept.endswith("\n") else kept + "\n"
        appended = closed + _unclosed_blocks(closed) + note(len(data) - len(kept.encode()))
        if used + len(appended.encode()) > SUMMARY_SIZE_LIMIT:
            kept, appended = "", note(len(data))
            if used + len(appended.encode()) > SUMMARY_SIZE_LIMIT:
                appended = ""
        omitted = len(data) - len(kept.encode())
        self._runner.warning(
            _truncation_message(omitted, saved, problem, ""), title="Job summary truncated"
        )
        return appended

    def _save_full_text(self, data: bytes) -> str:
        """Write `data` to a new file in the summaries folder and return its path.

        The folder is $SMGHA_SUMMARY_DIR, else `smgha-summaries` in RUNNER_TEMP (or the
        system's temp folder). The name is GITHUB_JOB-GITHUB_ACTION-<n>.md with the first
        free n, reduced to letters, digits, `.`, `_` and `-` so it is valid on every OS and
        an artifact upload keeps it; no leading dot, because upload-artifact skips hidden
        files.
        """
        env = self._runner.env
        folder = env.get("SMGHA_SUMMARY_DIR") or os.path.join(
            env.get("RUNNER_TEMP") or tempfile.gettempdir(), SUMMARY_ARTIFACT
        )
        os.makedirs(folder, exist_ok=True)
        parts = (env.get("GITHUB_JOB", ""), env.get("GITHUB_ACTION", ""))
        stem = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in parts if part)
        stem = stem.lstrip(".")[:100] or "summary"
        number = 1
        while True:
            path = os.path.join(folder, f"{stem}-{number}.md")
            try:
                with open(path, "xb") as handle:
                    handle.write(data)
                return path
            except FileExistsError:
                number += 1


def fenced_code(code: str, lang: str = "") -> str:
    """`code` as a fenced Markdown code block, without a line break after the fence.

    The fence is one backtick longer than the longest backtick run in the code (at least
    three), so code that itself contains ``` cannot close the block early.
    """
    longest = run = 0
    for char in code:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    body = code if code.endswith("\n") else code + "\n"
    return f"{fence}{lang}\n{body}{fence}"


def _truncation_message(omitted: int, saved: str | None, problem: str, quote: str) -> str:
    """What a cut summary's note and warning say; `quote` wraps names (` in Markdown)."""
    text = (
        f"{omitted:,} bytes were left out to keep this step's summary within GitHub's limit "
        f"of {SUMMARY_SIZE_LIMIT / 2**20:g} MiB (the runner drops a larger summary whole)."
    )
    if saved is None:
        return f"{text} The full text could not be saved: {problem}"
    return (
        f"{text} The full text is in {quote}{saved}{quote}; the smgha reusable workflows "
        f"upload that folder as the artifact {quote}{SUMMARY_ARTIFACT}-<job id>{quote}."
    )


def _utf8_prefix(data: bytes, limit: int) -> str:
    """The longest run of whole lines of `data` within `limit` bytes, decoded.

    A first line longer than `limit` is cut between characters instead: `limit` moves back
    past UTF-8 continuation bytes (10xxxxxx) to the start of a character.
    """
    if limit >= len(data):
        return data.decode("utf-8")
    if limit <= 0:
        return ""
    end = data.rfind(b"\n", 0, limit) + 1
    if not end:
        end = limit
        while end and data[end] & 0xC0 == 0x80:
            end -= 1
    return data[:end].decode("utf-8")


def _unclosed_blocks(markdown: str) -> str:
    """The lines that close a code fence and `<details>` sections left open in `markdown`.

    Follows CommonMark's fence rules (same character, at least as long, nothing but spaces
    after a closing fence; an info string after ``` cannot hold a backtick); `<details>`
    tags are counted outside fences only.
    """
    fence = ""
    details = 0
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        rest = line[match.end() :] if match else ""
        if fence:
            if match and match.group(1).startswith(fence) and not rest.strip():
                fence = ""
        elif match and not (match.group(1)[0] == "`" and "`" in rest):
            fence = match.group(1)
        else:
            details += line.count("<details") - line.count("</details>")
    return (f"{fence}\n\n" if fence else "") + "</details>\n\n" * max(details, 0)


def _table_cell(text: str) -> str:
    text = text.replace("|", "\\|")
    return text.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")


def _table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_table_cell(cell) for cell in cells) + " |"
