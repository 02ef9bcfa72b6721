"""`smgha demo`: the reference churn model through every implemented stage, on this machine.

It generates the data set, then runs the build-pipeline stage on the local backend exactly
as the action would (same inputs, same code), and points at what it produced. Later stages
join the demo as they land.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TextIO

DEMO_PIPELINE = "churn-demo"
DATA_URI = "s3://smgha-local/churn/data/churn.csv"


def run_demo(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.cli import run_stage_command
    from smgha.stages import build_pipeline

    workspace = Path.cwd()
    if not (workspace / "ml" / "pipeline.py").is_file():
        stdout.write(
            f"error: no ml/pipeline.py under {workspace}; run the demo from a clone of the repository.\n"
        )
        return 2
    state = Path(arguments.state_dir).resolve()
    os.environ["SMGHA_STATE_DIR"] = str(state)  # the stage and its executor read it
    started = time.monotonic()

    def section(title: str) -> None:
        stdout.write(f"\n━━ {title} {'━' * max(0, 60 - len(title))}\n")
        stdout.flush()

    section(f"1/2 Data: {arguments.rows} customers (seed {arguments.seed})")
    from smgha.backends.local import LocalBackend

    backend = LocalBackend(region="us-east-1")
    data = _generate(workspace, arguments.rows, arguments.seed)
    backend.put_object(DATA_URI, data)
    stdout.write(f"wrote {len(data):,} bytes to {DATA_URI} ({backend.s3.path(DATA_URI)})\n")

    section("2/2 build-pipeline: preprocess, train, evaluate, gate, register")
    parameters = {"InputDataUrl": DATA_URI, "AccuracyThreshold": arguments.accuracy_threshold}
    code, runner = run_stage_command(
        build_pipeline.main,
        {
            "INPUT_BACKEND": "local",
            "INPUT_DEFINITION": "ml.pipeline:get_pipeline",
            "INPUT_PIPELINE_NAME": DEMO_PIPELINE,
            "INPUT_PARAMETERS": json.dumps(parameters),
            "INPUT_WAIT": "true",
            "INPUT_TIMEOUT_MINUTES": "30",
        },
        stdout,
    )

    section(
        f"Done in {time.monotonic() - started:.0f}s" + ("" if code == 0 else " (the build failed)")
    )
    execution_arn = runner.outputs.get("execution-arn", "")
    if execution_arn:
        folder = state / "executions" / execution_arn.rsplit("/", 1)[-1]
        stdout.write(f"execution log:   {folder / 'execution.log'}\n")
        stdout.write(f"job folders:     {folder / 'jobs'}\n")
    package = runner.outputs.get("model-package-arn")
    if package:
        group, version = package.rsplit("/", 2)[-2:]
        stdout.write(f"registered:      {package}\n")
        stdout.write(
            f"registry record: {state / 'registry' / _group_folder(state, group) / f'{version}.json'}\n"
        )
    elif execution_arn:
        stdout.write("registered:      nothing (the model did not pass the accuracy threshold)\n")
    stdout.write(f"state folder:    {state} (delete it to start over)\n")
    return code


def _generate(workspace: Path, rows: int, seed: int) -> bytes:
    """The churn data set as CSV bytes, from the workspace's own ml.data generator."""
    import sys

    if str(workspace) not in sys.path:
        sys.path.insert(0, str(workspace))
    from ml import data

    frame = data.generate(rows=rows, seed=seed)
    return frame.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()


def _group_folder(state: Path, lowered_group: str) -> str:
    """Registry folders keep the group's spelling; ARNs lower-case it."""
    registry = state / "registry"
    for folder in registry.iterdir() if registry.is_dir() else []:
        if folder.name.lower() == lowered_group:
            return folder.name
    return lowered_group
