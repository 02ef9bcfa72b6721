"""Read a step's output the way GitHub's runner does: commands, masks and the log people see.

`job_log(stdout)` follows actions/runner: lines split at "\\r\\n", "\\r" or "\\n"
(ProcessInvoker's StreamReader.ReadLine), each one a command or not (`workflow_command`, the
parser of smgha.runner that follows ActionCommand.TryParseV2 / TryParse), `::stop-commands::T`
ignoring every command until `::T::` (ActionCommandManager.TryProcessCommand), and every
registered mask starred out of the lines shown (the runner's SecretMasker). A test then
asserts on what reached the job log, not on what the stage meant to print.

`file_commands(path)` reads a GITHUB_OUTPUT or GITHUB_ENV file as the runner's
FileCommandManager does (`name=value`, or `name<<DELIMITER`, the value's lines, `DELIMITER`),
and raises on anything else, where the runner would fail the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from smgha.workflow_commands import workflow_command

RUNNER_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What a stage itself prints through smgha.runner.Runner.
STAGE_COMMANDS = frozenset({"add-mask", "debug", "error", "warning", "notice", "group", "endgroup"})


@dataclass(frozen=True)
class Command:
    name: str
    data: str  # unescaped, as the runner reads it


@dataclass
class JobLog:
    commands: list[Command] = field(default_factory=list)  # the ones the runner obeyed
    ignored: list[str] = field(default_factory=list)  # command lines while commands were stopped
    shown: list[str] = field(default_factory=list)  # plain lines, masks applied
    masks: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[Command]:
        return [command for command in self.commands if command.name.lower() == name]


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def runner_lines(stdout: str) -> list[str]:
    lines = RUNNER_LINE_BREAK.split(stdout)
    return lines[:-1] if lines and lines[-1] == "" else lines


def job_log(stdout: str) -> JobLog:
    log = JobLog()
    stop_token = ""
    for line in runner_lines(stdout):
        name = workflow_command(line)
        if name is None:
            shown = line
            for mask in sorted(log.masks, key=len, reverse=True):
                shown = shown.replace(mask, "***")
            log.shown.append(shown)
            continue
        if stop_token:
            if name.lower() == stop_token.lower():
                stop_token = ""
            else:
                log.ignored.append(line)
            continue
        if line.lstrip().startswith("::"):
            data = _unescape_data(line.split("::", 2)[2])
        else:  # the legacy ##[name]data form
            data = line[line.index("]", line.index("##[")) + 1 :]
        log.commands.append(Command(name, data))
        if name.lower() == "stop-commands":
            stop_token = data
        elif name.lower() == "add-mask" and data.strip():
            log.masks.append(data)
    return log


def file_commands(path: str | Path) -> dict[str, str]:
    """The name/value pairs of a GITHUB_OUTPUT or GITHUB_ENV file; ValueError when the runner
    could not read it."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            if not name or not delimiter:
                raise ValueError(f"line {index + 1}: {line!r} has no name or no delimiter")
            try:
                end = lines.index(delimiter, index + 1)
            except ValueError:
                raise ValueError(f"the value of {name!r} never ends ({delimiter!r})") from None
            values[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
        elif "=" in line and line.split("=", 1)[0]:
            name, value = line.split("=", 1)
            values[name] = value
            index += 1
        else:
            raise ValueError(f"line {index + 1}: {line!r} is not a file command")
    return values
