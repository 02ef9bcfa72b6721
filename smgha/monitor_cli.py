"""`smgha monitor run --endpoint NAME [--kind model-quality]`: one monitoring execution, here.

On the local backend there is no scheduler: this command is the schedule's job. It reads
the traffic the endpoint captured since the last run (all of it with --all), checks it
against the baseline enable-monitor wrote, writes constraint_violations.json and
statistics.json under the schedule's output, and prints a summary. With --kind
model-quality it merges the captured predictions with the ground-truth labels uploaded under
the schedule's GroundTruthS3Input, computes the metrics, writes the same two reports and sets
the model-quality alarms to ALARM or OK (smgha/model_quality_run.py). `smgha monitor label
--endpoint NAME --labels FILE` uploads eventId,label pairs as that ground truth.
"""

from __future__ import annotations

import argparse
import csv
from typing import TYPE_CHECKING, TextIO

from smgha import monitor
from smgha.errors import StageError

if TYPE_CHECKING:  # loaded when a command runs (the CLI starts fast: no numpy before)
    from smgha.backends.local import LocalBackend
    from smgha.model_quality_run import QualityRun


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

    label_parser = commands.add_parser(
        "label",
        help="Upload ground truth for the model-quality monitor: a CSV of eventId,label lines.",
    )
    label_parser.add_argument("--endpoint", required=True, help="The monitored endpoint's name.")
    label_parser.add_argument(
        "--labels",
        required=True,
        type=argparse.FileType("r", encoding="utf-8"),
        help="CSV file, one eventId,label per line (the eventId of a captured record).",
    )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.backends.local import LocalBackend

    local = LocalBackend(region="us-east-1")
    if arguments.monitor_command == "label":
        return _label(local, arguments, stdout)
    from smgha import model_quality_run

    result: monitor.MonitoringRun | QualityRun
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


def _label(local: LocalBackend, arguments: argparse.Namespace, stdout: TextIO) -> int:
    rows = [row for row in csv.reader(arguments.labels) if row and any(c.strip() for c in row)]
    bad = next((n for n, row in enumerate(rows, 1) if len(row) != 2 or not row[0].strip()), 0)
    if bad:
        stdout.write(f"error: --labels line {bad} is not eventId,label\n")
        return 1
    pairs = [(event.strip(), label.strip()) for event, label in rows]
    from smgha import model_quality_run

    try:
        uri = model_quality_run.upload_ground_truth(
            local.monitoring, local.objects, arguments.endpoint, pairs
        )
    except StageError as error:
        stdout.write(f"error: {error}\n")
        return 1
    stdout.write(f"{len(pairs)} label(s): {uri}\n")
    return 0
