"""GitHub Actions runner I/O with the semantics of `@actions/core`, standard library only.

Every stage talks to the runner through this module: it reads the action's inputs, writes
step outputs, exported variables and PATH entries to the runner's files, prints workflow
commands (annotations, masks, groups) and builds the job summary. Behaviour follows the
npm package `@actions/core` (actions/toolkit, packages/core) byte for byte wherever the
runner can tell the difference, so an action written with this module and one written in
JavaScript look the same to GitHub. Where this module departs from core, the docstring of
the method says so and why.

Log hygiene is a rule of this module, not of each stage: every plain log line goes through
`plain_text` (via `Runner.info`), so no value from outside (an input, a file, an API or
exception message) can start a workflow command, and every command's text is escaped into
its one line (`escape_data`). Stages print nothing themselves (tests/test_runner.py checks).

Nothing here reads `os.environ` or writes `sys.stdout` behind the caller's back: a `Runner`
takes the environment, the output stream and the heredoc-delimiter factory as arguments,
so tests can pin the exact bytes written and a CLI run outside Actions stays side-effect
free (outputs land in `Runner.outputs`, the summary in `Runner.summary_text`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TextIO

from smgha.errors import InputError, StageError

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "SUMMARY_ARTIFACT",
    "SUMMARY_SIZE_LIMIT",
    "Runner",
    "Summary",
    "escape_data",
    "escape_property",
    "fenced_code",
    "plain_text",
    "to_command_value",
    "workflow_command",
]

# The YAML 1.2 core-schema booleans, exactly the spellings `core.getBooleanInput` accepts.
# `yes`/`on`/`1` are YAML 1.1 booleans that workflow authors sometimes expect to work;
# rejecting them loudly beats guessing, and matches every JavaScript action.
BOOLEAN_TRUE = ("true", "True", "TRUE")
BOOLEAN_FALSE = ("false", "False", "FALSE")
_BOOLEAN_LIST = " | ".join(BOOLEAN_TRUE + BOOLEAN_FALSE)

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

# What JavaScript's String.prototype.trim() strips (WhiteSpace, LineTerminator and the
# Unicode Zs category). Python's str.strip() differs at the edges (it strips U+001C..U+001F
# and U+0085 but keeps U+FEFF), so inputs are trimmed with this set to match core exactly.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def to_command_value(value: object) -> str:
    """Turn any value into the string the runner receives, like core's `toCommandValue`.

    None becomes '', a str passes through unchanged, anything else is JSON-encoded the way
    JavaScript's JSON.stringify does it (compact separators, non-ASCII kept as is), so a
    dict output reads `{"a":1}` whichever language produced it. One known difference: a
    float with an integral value keeps its `.0` (Python `1.0` versus JavaScript `1`).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def escape_data(value: object) -> str:
    """Escape a workflow command's message like core's command.ts `escapeData`.

    The runner reads one command per line and un-escapes `%25`, `%0D` and `%0A`, so a
    message with newlines survives as one command instead of leaking its tail into the log
    (or worse, being read as a second command).
    """
    return to_command_value(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: object) -> str:
    """Escape a workflow command property like core's command.ts `escapeProperty`.

    On top of `escape_data`, `:` and `,` are escaped because they end the property list
    (`::`) and separate properties (`,`); a file path such as `C:\\x` must not cut it short.
    """
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


# How the runner reads a step's output, so that text from outside can be written as plain
# lines that never start a workflow command (actions/runner):
# - it reads the output one line at a time with .NET's StreamReader.ReadLine, which ends a
#   line at "\r\n", "\r" or "\n" only (src/Runner.Sdk/ProcessInvoker.cs, StartReadStream),
#   so U+2028, U+2029 and U+0085 do not start a new line;
# - a line is a command when, after TrimStart() (every Unicode white space, U+0085 and
#   U+2028 included), it starts with "::" and a second "::" follows
#   (src/Runner.Common/ActionCommand.cs, TryParseV2);
# - failing that, when "##[" occurs anywhere in it, followed by "]" (TryParse, the legacy
#   form);
# - the command name counts only if registered (ActionCommandManager.cs), but the names are
#   compared case-insensitively and `::stop-commands::TOKEN` registers TOKEN itself, so any
#   name may be one: every "::" start and every "##[" is treated as a command here.
# act matches the same two forms at the start of a line (pkg/runner/command.go).
_RUNNER_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Python's \s covers every character .NET's Char.IsWhiteSpace does (and U+001C..U+001F);
# U+FEFF is added because JavaScript trims it. Stripping more than the runner is the safe side.
_COMMAND_START = re.compile(r"[\s\ufeff]*::")
_LEGACY_COMMAND = "##["
# What a line that would start a command is prefixed with: visible, and not white space.
_COMMAND_GUARD = "\\"


def plain_text(value: object) -> str:
    """`value` as log text whose lines cannot start a workflow command.

    This is the one way text that came from outside (an input, a file's contents, an API
    or exception message) reaches the log as plain lines (`Runner.info` uses it): a line
    that would be a command to the runner (`::name::...` after any leading white space, or
    one holding the legacy `##[`) gets a backslash in front of the `::` line or inside
    `##[`, so `\\::stop-commands::x` and `##\\[group]` are shown instead of obeyed. Line
    breaks stay line breaks, written as "\\n". Annotations, groups and masks need none of
    this: their text is escaped into one command line (`escape_data`).
    """
    lines = _RUNNER_LINE_BREAK.split(to_command_value(value))
    safe = []
    for line in lines:
        line = line.replace(_LEGACY_COMMAND, "##" + _COMMAND_GUARD + "[")
        if _COMMAND_START.match(line):
            line = _COMMAND_GUARD + line
        safe.append(line)
    return "\n".join(safe)


def workflow_command(line: str) -> str | None:
    """The name of the workflow command a runner would read in `line`, None if it reads none.

    `line` is one line as the runner splits output (no "\\r" or "\\n" in it). Follows
    TryParseV2, then TryParse, of actions/runner's ActionCommand.cs (see `_COMMAND_START`),
    except that every name counts as registered. Tests use it to read a step's log the way
    the runner does.
    """
    start_match = _COMMAND_START.match(line)
    if start_match:
        body = line[start_match.end() :]
        end = body.find("::")
        if end >= 0:
            return body[:end].split(" ", 1)[0]
    start = line.find(_LEGACY_COMMAND)
    if start >= 0:
        end = line.find("]", start)
        if end >= 0:
            return line[start + len(_LEGACY_COMMAND) : end].split(" ", 1)[0]
    return None


def missing_runner_file(variable: str, path: str) -> StageError:
    """The error for a GITHUB_* file variable that names no file. Core raises a bare error
    ("Missing file at path"); here it is a StageError naming the variable, so a stage
    reports one `::error` saying what to fix, not an unexpected error with a traceback."""
    return StageError(
        f"{variable} names no file",
        f"{variable} is {path!r}, and there is no such file. The runner creates it for every "
        f"step, so the path is wrong: do not set {variable} in the workflow; outside GitHub "
        f"Actions unset it, or create the file first.",
    )


def _js_trim(text: str) -> str:
    return text.strip(_JS_WHITESPACE)


def _format_command(command: str, properties: Mapping[str, object], message: object) -> str:
    """One `::command key=value,...::message` line, without its line break.

    Like core, a falsy property (None, '' or 0) is left out: line and column numbers start
    at 1, so 0 can only mean "not given".
    """
    given = [f"{key}={escape_property(val)}" for key, val in properties.items() if val]
    head = f"::{command} {','.join(given)}" if given else f"::{command}"
    return f"{head}::{escape_data(message)}"


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


def _default_delimiter() -> str:
    return f"ghadelimiter_{uuid.uuid4()}"


class Runner:
    """The runner as one step sees it: inputs in, outputs, env, PATH, log commands out.

    `env` defaults to a copy of `os.environ`, `stdout` to `sys.stdout` (looked up at each
    write, so pytest's capture and `contextlib.redirect_stdout` see the text), and
    `delimiter_factory` to core's `ghadelimiter_<uuid4>`. Injecting them makes every byte
    this class writes predictable in tests.

    `self.env` is a private, mutable copy: `export_variable` and `add_path` update it the
    way core updates `process.env`, but `os.environ` is left alone so one stage cannot leak
    variables into another in the same process. Pass `env=runner.env` to subprocesses that
    should see the changes.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        stdout: TextIO | None = None,
        delimiter_factory: Callable[[], str] | None = None,
    ) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self._stdout = stdout
        self._delimiter_factory = delimiter_factory or _default_delimiter
        # Every output set, also when GITHUB_OUTPUT is unset: a CLI prints these itself.
        self.outputs: dict[str, str] = {}
        # What `summary.write()` produced while GITHUB_STEP_SUMMARY was unset.
        self.summary_text = ""
        self._summary = Summary(self)

    @property
    def summary(self) -> Summary:
        """The step's job-summary builder (always the same instance)."""
        return self._summary

    # -- inputs ----------------------------------------------------------------------------

    def get_input(self, name: str, required: bool = False, trim: bool = True) -> str:
        """The value of input `name`, '' if it is unset or empty.

        Two variables are read. `INPUT_<NAME>` with spaces turned into `_` and hyphens kept
        (`INPUT_ROLE-ARN`) is what the runner sets for JavaScript and Docker actions, and what
        core reads. But the runner sets no INPUT_* variables for the steps of a composite
        action, so our action.yml files pass inputs through `env:`, where a name with a
        hyphen is awkward in shell, hence the underscore form `INPUT_ROLE_ARN`. The hyphen
        form wins when both are set and non-empty, because it is the runner's own.

        As in core, the required check looks at the untrimmed value (so '  ' counts as
        supplied and returns ''), and trimming uses JavaScript's definition of whitespace.
        """
        hyphen_key = "INPUT_" + name.replace(" ", "_").upper()
        underscore_key = "INPUT_" + name.replace(" ", "_").replace("-", "_").upper()
        value = self.env.get(hyphen_key) or self.env.get(underscore_key) or ""
        if required and not value:
            keys = hyphen_key if hyphen_key == underscore_key else f"{hyphen_key}/{underscore_key}"
            raise InputError(
                name,
                "is required and was not supplied",
                f"Set '{name}' under `with:` on the step that uses the action (read from {keys}).",
            )
        return _js_trim(value) if trim else value

    def get_bool_input(
        self, name: str, required: bool = False, default: bool | None = None
    ) -> bool:
        """Input `name` as a YAML 1.2 core-schema boolean, like core's `getBooleanInput`.

        Only `true | True | TRUE | false | False | FALSE` are accepted; anything else
        (`yes`, `on`, `1`, `t`) raises InputError listing those values, rather than guessing
        what the author meant. An empty input gives `default`; with no default it is an
        error too, as in core (where an empty boolean input is never valid).
        """
        value = self.get_input(name, required=required)
        if value in BOOLEAN_TRUE:
            return True
        if value in BOOLEAN_FALSE:
            return False
        if not value and default is not None:
            return default
        problem = 'does not meet YAML 1.2 "Core Schema" specification'
        if value:
            problem += f" (got {value!r})"
        raise InputError(name, problem, f"Supported boolean values: {_BOOLEAN_LIST}")

    def get_multiline_input(
        self, name: str, required: bool = False, trim: bool = True
    ) -> list[str]:
        """Input `name` split on "\\n", like core's `getMultilineInput`.

        As in core, the whole value is trimmed, empty lines are dropped, and then each line
        is trimmed (unless `trim` is False). Because the drop comes before the per-line trim,
        a whitespace-only line in the middle survives as '' — core does the same.
        """
        lines = [line for line in self.get_input(name, required, trim).split("\n") if line]
        return [_js_trim(line) for line in lines] if trim else lines

    # -- outputs, environment, PATH --------------------------------------------------------

    def set_output(self, name: str, value: object) -> None:
        """Set step output `name` (non-str values are JSON-encoded, see `to_command_value`).

        With GITHUB_OUTPUT set, appends core's heredoc form to that file. Without it nothing
        is printed: core would fall back to the `::set-output` command, which GitHub has
        deprecated; the value is kept in `self.outputs` for a CLI to print instead.
        """
        text = to_command_value(value)
        if self.env.get("GITHUB_OUTPUT"):
            self._issue_file_command("OUTPUT", self._key_value_message(name, text))
        self.outputs[name] = text

    def export_variable(self, name: str, value: object) -> None:
        """Set `name` for this step (`self.env`) and, via GITHUB_ENV, for later steps.

        Without GITHUB_ENV only `self.env` changes: core's fallback `::set-env` command is
        disabled on GitHub's runners and would fail the step.
        """
        text = to_command_value(value)
        message = self._key_value_message(name, text) if self.env.get("GITHUB_ENV") else None
        self.env[name] = text
        if message is not None:
            self._issue_file_command("ENV", message)

    def add_path(self, path: str | os.PathLike[str]) -> None:
        """Prepend `path` to PATH for this step (`self.env`) and, via GITHUB_PATH, later ones.

        Without GITHUB_PATH only `self.env` changes (core's `::add-path` fallback is disabled
        on GitHub's runners). Unlike core, an unset or empty PATH becomes just `path`, not
        `path:undefined`.
        """
        entry = os.fspath(path)
        if self.env.get("GITHUB_PATH"):
            self._issue_file_command("PATH", entry)
        current = self.env.get("PATH")
        self.env["PATH"] = f"{entry}{os.pathsep}{current}" if current else entry

    def _key_value_message(self, key: str, value: str) -> str:
        """Core's `prepareKeyValueMessage`: `key<<DELIM`, the value, `DELIM`.

        A fresh random delimiter per message means a value cannot end the heredoc early and
        smuggle in extra outputs or variables; should one contain it anyway, refuse.
        """
        delimiter = self._delimiter_factory()
        if delimiter in key:
            raise ValueError(
                f'Unexpected input: name should not contain the delimiter "{delimiter}"'
            )
        if delimiter in value:
            raise ValueError(
                f'Unexpected input: value should not contain the delimiter "{delimiter}"'
            )
        return f"{key}<<{delimiter}{os.linesep}{value}{os.linesep}{delimiter}"

    def _issue_file_command(self, command: str, message: str) -> None:
        """Append `message` and a line break to $GITHUB_<command>, like core's issueFileCommand.

        The file must exist (the runner creates it; a missing one means a wrong path). It is
        opened with newline='' so os.linesep is written as is, not translated a second time.
        """
        path = self.env.get(f"GITHUB_{command}") or ""
        if not os.path.isfile(path):
            raise missing_runner_file(f"GITHUB_{command}", path)
        with open(path, "a", encoding="utf-8", newline="") as handle:
            handle.write(f"{message}{os.linesep}")

    # -- log commands ----------------------------------------------------------------------

    def _write_line(self, line: str) -> None:
        # "\n", not os.linesep: sys.stdout is a text stream that translates it on Windows.
        # Flushing keeps commands in order with output of subprocesses sharing the same fd.
        out = self._stdout if self._stdout is not None else sys.stdout
        out.write(line + "\n")
        out.flush()

    def _issue(self, command: str, message: object = "", **properties: object) -> None:
        self._write_line(_format_command(command, properties, message))

    def set_secret(self, value: str) -> None:
        """Mask `value` in the rest of the job's logs.

        Writes core's `::add-mask::<value>` and then, for a multi-line value, one more mask
        per non-blank line (trimmed). Logs are masked line by line with exact matches, so a
        multi-line secret as a whole never matches anything (actions/runner#161). Current
        GitHub runners split the value themselves (actions/runner#1521) but older and
        third-party runners (GHES, act, Gitea) do not, and an extra mask costs nothing.
        Blank lines are skipped: masking whitespace would star out every space in the log.
        """
        self._issue("add-mask", value)
        seen = {value}
        for line in value.replace("\r", "\n").split("\n"):
            part = _js_trim(line)
            if part and part not in seen:
                seen.add(part)
                self._issue("add-mask", part)

    def is_debug(self) -> bool:
        """Whether step debug logging is on (the runner sets RUNNER_DEBUG=1)."""
        return self.env.get("RUNNER_DEBUG") == "1"

    def debug(self, message: str) -> None:
        """A `::debug::` line, shown only when step debug logging is on."""
        self._issue("debug", message)

    def info(self, message: str) -> None:
        """Plain log lines. Unlike core's `info`, no line of `message` can start a workflow
        command (see `plain_text`): a value from outside in a progress line must not stop
        command processing, add masks, or fake an error."""
        self._write_line(plain_text(message))

    def error(
        self,
        message: str | BaseException,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        end_column: int | None = None,
    ) -> None:
        """An error annotation. See `_annotate` for the properties."""
        self._annotate("error", message, title, file, line, end_line, col, end_column)

    def warning(
        self,
        message: str | BaseException,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        end_column: int | None = None,
    ) -> None:
        """A warning annotation. See `_annotate` for the properties."""
        self._annotate("warning", message, title, file, line, end_line, col, end_column)

    def notice(
        self,
        message: str | BaseException,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        end_column: int | None = None,
    ) -> None:
        """A notice annotation. See `_annotate` for the properties."""
        self._annotate("notice", message, title, file, line, end_line, col, end_column)

    def _annotate(
        self,
        command: str,
        message: str | BaseException,
        title: str | None,
        file: str | None,
        line: int | None,
        end_line: int | None,
        col: int | None,
        end_column: int | None,
    ) -> None:
        """`::<command> title=..,file=..,line=..,endLine=..,col=..,endColumn=..::message`.

        Property names and order are core's `toCommandProperties` (the runner's own names),
        only the given ones are written, and an exception is logged as `str(exc)`.
        """
        self._issue(
            command,
            str(message),
            title=title,
            file=file,
            line=line,
            endLine=end_line,
            col=col,
            endColumn=end_column,
        )

    @contextlib.contextmanager
    def group(self, name: str) -> Iterator[None]:
        """Fold the log lines written inside the `with` block under `name`.

        `::endgroup::` is written even when the block raises, like core's `group()`, so the
        error that follows is not hidden inside a collapsed group.
        """
        self._issue("group", name)
        try:
            yield
        finally:
            self._issue("endgroup")
