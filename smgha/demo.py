"""`smgha demo`: the reference churn model through every implemented stage, on this machine.

It generates the data set, then runs each stage on the local backend exactly as its action
would (same inputs, same code), and points at what it produced. Later stages join the demo
as they land. Run it twice: the second model is gated against the first, now the champion.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

DEMO_PIPELINE = "churn-demo"
DATA_URI = "s3://smgha-local/churn/data/churn.csv"
MODEL_GROUP = "churn-models"  # ml/pipeline.py registers into this group
# Absolute floors, and at most a small regression against the approved champion.
DEMO_RULES = "accuracy >= 0.8\nauc >= champion - 0.01\nf1 >= champion - 2%"


def run_demo(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.backends.local import LocalBackend
    from smgha.cli import run_stage_command
    from smgha.stages import build_pipeline, register_and_gate

    workspace = Path.cwd()
    if not (workspace / "ml" / "pipeline.py").is_file():
        stdout.write(
            f"error: no ml/pipeline.py under {workspace}; run the demo from a clone of the repository.\n"
        )
        return 2
    state = Path(arguments.state_dir).resolve()
    os.environ["SMGHA_STATE_DIR"] = str(state)  # the stages and the executor read it
    started = time.monotonic()

    def section(title: str) -> None:
        stdout.write(f"\n━━ {title} {'━' * max(0, 60 - len(title))}\n")
        stdout.flush()

    section(f"1/3 Data: {arguments.rows} customers (seed {arguments.seed})")
    data = _generate(workspace, arguments.rows, arguments.seed)
    local = LocalBackend(region="us-east-1")
    local.put_object(DATA_URI, data)
    stdout.write(f"wrote {len(data):,} bytes to {DATA_URI} ({local.s3.path(DATA_URI)})\n")

    section("2/3 build-pipeline: preprocess, train, evaluate, check accuracy, register")
    parameters = {"InputDataUrl": DATA_URI, "AccuracyThreshold": arguments.accuracy_threshold}
    build_inputs = {
        "INPUT_BACKEND": "local",
        "INPUT_DEFINITION": "ml.pipeline:get_pipeline",
        "INPUT_PIPELINE_NAME": DEMO_PIPELINE,
        "INPUT_PARAMETERS": json.dumps(parameters),
        "INPUT_TIMEOUT_MINUTES": "30",
    }
    code, build = run_stage_command(build_pipeline.main, build_inputs, stdout)
    outputs = dict(build.outputs)

    if code == 0 and outputs.get("model-package-arn"):
        section("3/3 register-and-gate: lineage, gates against the champion, approval")
        gate_inputs = {
            "INPUT_BACKEND": "local",
            "INPUT_MODEL_PACKAGE_GROUP": MODEL_GROUP,
            "INPUT_EXECUTION_ARN": outputs["execution-arn"],
            "INPUT_RULES": DEMO_RULES,
        }
        code, gate = run_stage_command(register_and_gate.main, gate_inputs, stdout)
        outputs.update(gate.outputs)

    elapsed = time.monotonic() - started
    section(f"Done in {elapsed:.0f}s" + ("" if code == 0 else " (a stage failed)"))
    _pointers(state, outputs, stdout)
    return code


def _pointers(state: Path, outputs: dict[str, str], stdout: TextIO) -> None:
    """Where to look at what the demo produced."""
    execution_arn = outputs.get("execution-arn", "")
    if execution_arn:
        folder = state / "executions" / execution_arn.rsplit("/", 1)[-1]
        stdout.write(f"execution log:   {folder / 'execution.log'}\n")
        stdout.write(f"job folders:     {folder / 'jobs'}\n")
    package = outputs.get("model-package-arn")
    if package:
        decision = outputs.get("decision", "not gated")
        stdout.write(f"model package:   {package} ({decision})\n")
        stdout.write(
            f"registry:        smgha registry list --backend local --group {MODEL_GROUP}\n"
        )
    elif execution_arn:
        stdout.write(
            "model package:   none (the model did not pass the pipeline's accuracy check)\n"
        )
    stdout.write(
        f"state folder:    {state} (set SMGHA_STATE_DIR to it to use the CLI; delete it to start over)\n"
    )


def _generate(workspace: Path, rows: int, seed: int) -> bytes:
    """The churn data set as CSV bytes, from the workspace's own ml.data generator."""
    if str(workspace) not in sys.path:
        sys.path.insert(0, str(workspace))
    from ml import data

    frame = data.generate(rows=rows, seed=seed)
    return frame.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()
