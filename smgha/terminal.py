"""Running a stage from a terminal: its inputs as command-line flags, the INPUT_* variables
they become, and the runner's workflow commands (::group::, ::error::) shown as plain text.

smgha/cli.py (a stage as a subcommand), smgha/definition_cli.py and smgha/demo.py run the
stages' own main() through run_stage_command, so a terminal and the action cannot drift apart.
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable, Sequence
from typing import TextIO

from smgha.inputs import InputSpec
from smgha.runner import Runner


class HumanStream(io.TextIOBase):
    """Render workflow commands for a person at a terminal instead of for the runner."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            rendered = render_command(line)
            if rendered is not None:
                self.target.write(rendered + "\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def render_command(line: str) -> str | None:
    """One runner line as a person should see it; None to hide it (masks, debug)."""
    if not line.startswith("::"):
        return line
    command, _, message = line[2:].partition("::")
    name, _, properties = command.partition(" ")
    message = message.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
    if name == "group":
        return f"── {message}"
    if name == "endgroup":
        return ""
    if name in ("error", "warning", "notice"):
        title = ""
        for item in properties.split(","):
            key, _, value = item.partition("=")
            if key == "title":
                title = value.replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
        return f"{name.upper()}: {title + ': ' if title else ''}{message}"
    return None  # add-mask, debug, echo...


def add_input_flags(parser: argparse.ArgumentParser, inputs: Sequence[InputSpec]) -> None:
    """One --flag per stage input, described as in action.yml (stage_environment reads them)."""
    for spec in inputs:
        flag = f"--{spec.name}"
        text = spec.description + (f" (default: {spec.default})" if spec.default else "")
        if spec.is_bool:
            parser.add_argument(flag, nargs="?", const="true", metavar="true|false", help=text)
        else:
            parser.add_argument(
                flag, metavar=spec.name.upper().replace("-", "_"), help=text, required=False
            )


def stage_environment(inputs: Sequence[InputSpec], arguments: argparse.Namespace) -> dict[str, str]:
    """INPUT_* variables for the flags given (defaults apply as in action.yml)."""
    env = {}
    for spec in inputs:
        value = getattr(arguments, spec.name.replace("-", "_"))
        if value is None:
            value = spec.default
        env[f"INPUT_{spec.name.upper().replace('-', '_')}"] = value
    return env


def run_stage_command(
    main: Callable[[Runner], int], env: dict[str, str], stdout: TextIO
) -> tuple[int, Runner]:
    on_runner = os.environ.get("GITHUB_ACTIONS") == "true"
    stream: TextIO = stdout if on_runner else HumanStream(stdout)  # type: ignore[assignment]
    runner = Runner(env={**os.environ, **env}, stdout=stream)
    code = main(runner)
    if not on_runner:
        if runner.summary_text:
            stdout.write("\n" + runner.summary_text.rstrip() + "\n")
        if runner.outputs:
            stdout.write("\nOutputs:\n")
            for key, value in runner.outputs.items():
                shown = value if len(value) <= 200 else value[:197] + "..."
                stdout.write(f"  {key}: {shown}\n")
    stdout.flush()
    return code, runner
