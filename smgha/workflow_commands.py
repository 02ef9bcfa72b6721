"""Workflow command text: how a value becomes what the runner reads, like `@actions/core`.

The runner reads commands (`::name props::message`) from a step's output and the GITHUB_*
environment files it creates for each step (GitHub docs, "Workflow commands for GitHub
Actions"). This module holds the text side of that protocol: turning any value into command
text (`to_command_value`), escaping a command's message and properties into one line
(`escape_data`, `escape_property`), making outside text safe as plain log lines
(`plain_text`), reading a line the way the runner does (`workflow_command`), and the error
for an environment file that is not there (`missing_runner_file`). `smgha.runner.Runner`
writes with these; nothing here writes anything.
"""

from __future__ import annotations

import json
import re

from smgha.errors import StageError

__all__ = [
    "escape_data",
    "escape_property",
    "missing_runner_file",
    "plain_text",
    "to_command_value",
    "workflow_command",
]


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
