"""GitHub Actions runner I/O with the semantics of `@actions/core`, standard library only.

Every stage talks to the runner through this module: it reads the action's inputs, writes
step outputs, exported variables and PATH entries to the runner's files, prints workflow
commands (annotations, masks, groups) and builds the job summary (`Runner.summary`, see
smgha/summary.py). Behaviour follows the npm package `@actions/core` (actions/toolkit,
packages/core) byte for byte wherever the runner can tell the difference, so an action
written with this module and one written in JavaScript look the same to GitHub. Where this
module departs from core, the docstring of the method says so and why.

Log hygiene is a rule of this module, not of each stage: every plain log line goes through
`plain_text` (via `Runner.info`), so no value from outside (an input, a file, an API or
exception message) can start a workflow command, and every command's text is escaped into
its one line (`escape_data`); both are in smgha/workflow_commands.py. Stages print nothing
themselves (tests/test_runner.py checks).

Nothing here reads `os.environ` or writes `sys.stdout` behind the caller's back: a `Runner`
takes the environment, the output stream and the heredoc-delimiter factory as arguments,
so tests can pin the exact bytes written and a CLI run outside Actions stays side-effect
free (outputs land in `Runner.outputs`, the summary in `Runner.summary_text`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

from smgha.errors import InputError
from smgha.summary import Summary
from smgha.workflow_commands import (
    escape_data,
    escape_property,
    missing_runner_file,
    plain_text,
    to_command_value,
)

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "Runner",
]

# The YAML 1.2 core-schema booleans, exactly the spellings `core.getBooleanInput` accepts.
# `yes`/`on`/`1` are YAML 1.1 booleans that workflow authors sometimes expect to work;
# rejecting them loudly beats guessing, and matches every JavaScript action.
BOOLEAN_TRUE = ("true", "True", "TRUE")
BOOLEAN_FALSE = ("false", "False", "FALSE")
_BOOLEAN_LIST = " | ".join(BOOLEAN_TRUE + BOOLEAN_FALSE)

# What JavaScript's String.prototype.trim() strips (WhiteSpace, LineTerminator and the
# Unicode Zs category). Python's str.strip() differs at the edges (it strips U+001C..U+001F
# and U+0085 but keeps U+FEFF), so inputs are trimmed with this set to match core exactly.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
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
