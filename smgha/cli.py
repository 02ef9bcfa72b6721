"""The command line: every stage as a subcommand with the same inputs as flags, and a demo.

    smgha data put churn.csv s3://smgha-local/churn/data/churn.csv     (data_cli.py)
    smgha build-pipeline --backend local --definition ml.pipeline:get_pipeline --pipeline-name churn
    smgha definition write ... --output pipeline.json                   (definition_cli.py)
    smgha registry list --backend local --group churn-models --json     (registry_cli.py)
    smgha demo

A subcommand sets INPUT_* variables from its flags and runs the stage's own main(), so the
CLI and the action cannot drift apart. Outside GitHub Actions the runner's workflow
commands (::group::, ::error::) are shown as plain text.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from smgha import __version__
from smgha.errors import StateFileError
from smgha.inputs import InputSpec
from smgha.runner import Runner


def _stages() -> dict[str, tuple[str, Sequence[InputSpec], Callable[[Runner], int]]]:
    """name -> (help, inputs, main); stage modules load only when their command runs."""
    from smgha.stages import (
        build_pipeline,
        deploy_endpoint,
        enable_monitor,
        oidc_auth,
        register_and_gate,
        smoke_test,
    )

    return {
        "oidc-auth": (
            "Exchange the job's GitHub OIDC token for AWS credentials (refreshed by later stages).",
            oidc_auth.INPUTS,
            oidc_auth.main,
        ),
        "build-pipeline": (
            "Create or update a pipeline, start it once, and wait for it.",
            build_pipeline.INPUTS,
            build_pipeline.main,
        ),
        "register-and-gate": (
            "Gate a model package against thresholds and the champion; approve or reject it.",
            register_and_gate.INPUTS,
            register_and_gate.main,
        ),
        "deploy-endpoint": (
            "Deploy one exact model package version to an endpoint, blue/green with rollback.",
            deploy_endpoint.INPUTS,
            deploy_endpoint.main,
        ),
        "smoke-test": (
            "Send real payloads to an endpoint, check the answers, load-test it; roll back on a miss.",
            smoke_test.INPUTS,
            smoke_test.main,
        ),
        "enable-monitor": (
            "Turn on data capture, compute a data-quality baseline, schedule monitoring, alarm on drift.",
            enable_monitor.INPUTS,
            enable_monitor.main,
        ),
    }


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


def _add_stage_parser(
    subparsers: argparse._SubParsersAction, name: str, help_text: str, inputs: Sequence[InputSpec]
) -> None:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    add_input_flags(parser, inputs)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smgha",
        description="SageMaker MLOps stages for GitHub Actions, runnable from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"smgha {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, inputs, _main) in _stages().items():
        _add_stage_parser(subparsers, name, help_text, inputs)
    from smgha import registry_cli

    registry_cli.add_parsers(subparsers)
    from smgha import endpoints_cli

    endpoints_cli.add_parsers(subparsers)
    from smgha import monitor_cli

    monitor_cli.add_parsers(subparsers)
    from smgha import data_cli

    data_cli.add_parsers(subparsers)
    from smgha import definition_cli

    definition_cli.add_parsers(subparsers)
    demo = subparsers.add_parser(
        "demo",
        help="Run every implemented stage on the local backend with the reference model.",
        description="Generate data, train, evaluate, gate and register the reference churn model on this machine.",
    )
    demo.add_argument(
        "--rows", type=int, default=5000, help="Rows of generated training data (default: 5000)."
    )
    demo.add_argument(
        "--seed", type=int, default=7, help="Seed of the data generator (default: 7)."
    )
    demo.add_argument(
        "--accuracy-threshold",
        type=float,
        default=0.8,
        help="The pipeline's registration threshold (default: 0.8).",
    )
    demo.add_argument(
        "--state-dir",
        default=".smgha",
        help="Folder of the local backend's state (default: ./.smgha).",
    )
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    arguments = build_parser().parse_args(argv)
    try:
        return _run_command(arguments, stdout)
    except StateFileError as error:  # a damaged state file: name it, no traceback
        stdout.write(f"error: {error.message}\n")
        stdout.flush()
        return 1


def _run_command(arguments: argparse.Namespace, stdout: TextIO) -> int:
    if arguments.command == "registry":
        from smgha import registry_cli

        return registry_cli.run(arguments, stdout)
    if arguments.command == "endpoints":
        from smgha import endpoints_cli

        return endpoints_cli.run(arguments, stdout)
    if arguments.command == "monitor":
        from smgha import monitor_cli

        return monitor_cli.run(arguments, stdout)
    if arguments.command == "data":
        from smgha import data_cli

        return data_cli.run(arguments, stdout)
    if arguments.command == "definition":
        from smgha import definition_cli

        return definition_cli.run(arguments, stdout)
    if arguments.command == "demo":
        from smgha.demo import run_demo

        return run_demo(arguments, stdout)
    _help, inputs, stage_main = _stages()[arguments.command]
    code, _runner = run_stage_command(stage_main, stage_environment(inputs, arguments), stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
