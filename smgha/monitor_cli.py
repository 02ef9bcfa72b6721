"""`smgha monitor run --endpoint NAME [--kind model-quality]`: one monitoring execution, here.

On the local backend there is no scheduler: this command is the schedule's job. It reads
the traffic the endpoint captured since the last run (all of it with --all), checks it
against the baseline enable-monitor wrote, writes constraint_violations.json and
statistics.json under the schedule's output, and prints a summary. With --kind
model-quality it merges the captured predictions with the ground-truth labels uploaded under
the schedule's GroundTruthS3Input, computes the metrics, writes the same two reports and sets
the model-quality alarms to ALARM or OK (smgha/model_quality_run.py).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from smgha import model_quality_run, monitor
from smgha.errors import StageError


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "monitor", help="Run an endpoint's data- or model-quality monitoring once (local backend)."
    )
    commands = parser.add_subparsers(dest="monitor_command", required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run",
        help="Check the traffic captured since the last run against the baseline; write the violations report.",
    )
    run_parser.add_argument("--endpoint", required=True, help="The monitored endpoint's name.")
    run_parser.add_argument(
        "--backend",
        choices=("local",),
        default="local",
        help="default: local (SageMaker runs its schedules itself)",
    )
    run_parser.add_argument(
        "--kind",
        choices=("data-quality", "model-quality"),
        default="data-quality",
        help="Which of the endpoint's schedules runs (default: data-quality).",
    )
    run_parser.add_argument(
        "--all", action="store_true", help="Analyse all captured traffic, not only the new."
    )
    run_parser.add_argument(
        "--fail-on-violations",
        action="store_true",
        help="Exit with 1 when there are violations (default: 0).",
    )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.backends.local import LocalBackend

    local = LocalBackend(region="us-east-1")
    result: monitor.MonitoringRun | model_quality_run.QualityRun
    try:
        if arguments.kind == "model-quality":
            result = model_quality_run.run(
                local.monitoring, local.objects, local.hosting, arguments.endpoint, arguments.all
            )
        else:
            result = monitor.run(local.monitoring, local.objects, arguments.endpoint, arguments.all)
    except (StageError, monitor.DataError) as error:
        stdout.write(f"error: {error}\n")
        return 1
    stdout.write(result.render())
    return 1 if arguments.fail_on_violations and result.violations else 0
