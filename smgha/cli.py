"""The command line: every stage as a subcommand with the same inputs as flags, and a demo.

    smgha data put churn.csv s3://smgha-local/churn/data/churn.csv     (data_cli.py)
    smgha build-pipeline --backend local --definition ml.pipeline:get_pipeline --pipeline-name churn
    smgha definition write ... --output pipeline.json                   (definition_cli.py)
    smgha registry list --backend local --group churn-models --json     (registry_cli.py)
    smgha review compare --backend local --execution-arn ARN --out review  (review_cli.py)
    smgha demo

A subcommand sets INPUT_* variables from its flags and runs the stage's own main(), so the
CLI and the action cannot drift apart. Outside GitHub Actions the runner's workflow
commands (::group::, ::error::) are shown as plain text.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from smgha import __version__
from smgha.errors import StateFileError
from smgha.stages import STAGES, stage_module
from smgha.terminal import add_input_flags, run_stage_command, stage_environment

# smgha.demo.MODELS's keys (the demo imports the stages: it is imported only when it runs).
DEMO_MODELS = ["sklearn", "xgboost"]

# The help of each stage's command (the stages themselves are smgha.stages.STAGES).
STAGE_HELP = {
    "oidc-auth": "Exchange the job's GitHub OIDC token for AWS credentials (refreshed by later stages).",
    "build-pipeline": "Create or update a pipeline, start it once, and wait for it.",
    "register-and-gate": "Gate a model package against thresholds and the champion; approve or reject it.",
    "deploy-endpoint": "Deploy one exact model package version to an endpoint, blue/green with rollback.",
    "smoke-test": "Send real payloads to an endpoint, check the answers, load-test it; roll back on a miss.",
    "enable-monitor": "Turn on data capture, compute a data-quality baseline, schedule monitoring, alarm on drift.",
    "batch-transform": "Run a transform job of one exact model package version over a dataset; check and publish its output.",
    "shadow-test": "Compare an endpoint's shadow variant with production on real traffic, gate, promote it.",
}


def build_parser(stage_only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `stage_only`, only that stage's flags, none when it
    names no stage (each stage's flags import its module: a command that runs one stage
    imports no other, and `smgha review ...` none)."""
    parser = argparse.ArgumentParser(
        prog="smgha",
        description="SageMaker MLOps stages for GitHub Actions, runnable from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"smgha {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        stage = subparsers.add_parser(name, help=STAGE_HELP[name], description=STAGE_HELP[name])
        if stage_only in (None, name):
            add_input_flags(stage, stage_module(name).INPUTS)
    from smgha import registry_cli

    registry_cli.add_parsers(subparsers)
    from smgha import endpoints_cli

    endpoints_cli.add_parsers(subparsers)
    from smgha import warm_cli

    warm_cli.add_parsers(subparsers)
    from smgha import monitor_cli

    monitor_cli.add_parsers(subparsers)
    from smgha import data_cli

    data_cli.add_parsers(subparsers)
    from smgha import definition_cli

    definition_cli.add_parsers(subparsers, with_flags=stage_only in (None, "definition"))
    from smgha import review_cli

    review_cli.add_parsers(subparsers)
    demo = subparsers.add_parser(
        "demo",
        help="Run every implemented stage on the local backend with the reference model.",
        description="Generate data, train, evaluate, gate and register the reference churn model on this machine.",
    )
    demo.add_argument(
        "--model",
        choices=DEMO_MODELS,
        default="xgboost",
        help="The reference model: built-in XGBoost (ml/pipeline.py) or scikit-learn in script "
        "mode (ml/sklearn_pipeline.py). Both register into one group (default: xgboost).",
    )
    demo.add_argument(
        "--verbose",
        action="store_true",
        help="Print every stage's log, tables and outputs (by default one line per stage; the "
        "logs are kept under <state-dir>/demo/logs).",
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
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the stage that runs has its flags (and its module imported); another command has
    # none; no command at all (`smgha`, `smgha --help` lists them) has them all.
    arguments = build_parser(argv[0] if argv else None).parse_args(argv)
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
    if arguments.command == "warm-worker":
        from smgha import warm_cli

        return warm_cli.run(arguments, stdout)
    if arguments.command == "monitor":
        from smgha import monitor_cli

        return monitor_cli.run(arguments, stdout)
    if arguments.command == "data":
        from smgha import data_cli

        return data_cli.run(arguments, stdout)
    if arguments.command == "definition":
        from smgha import definition_cli

        return definition_cli.run(arguments, stdout)
    if arguments.command == "review":
        from smgha import review_cli

        return review_cli.run(arguments, stdout)
    if arguments.command == "demo":
        from smgha.demo import run_demo

        return run_demo(arguments, stdout)
    stage = stage_module(arguments.command)
    code, _runner = run_stage_command(
        stage.main, stage_environment(stage.INPUTS, arguments), stdout
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
