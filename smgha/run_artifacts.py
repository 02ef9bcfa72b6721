"""The files a stage leaves for the reusable workflows to upload as workflow artifacts.

On a runner (RUNNER_TEMP set) a stage writes its evidence to a folder of its own in
RUNNER_TEMP; the reusable workflows upload each folder as the artifact
`<folder>-<job id>` with the workflow's `artifact-retention-days`:

| folder (in RUNNER_TEMP)  | written by        | files                                             |
|--------------------------|-------------------|---------------------------------------------------|
| smgha-pipeline-log       | build-pipeline    | execution-log.json                                |
| smgha-evaluation         | register-and-gate | evaluation.json, gate.json                        |
| smgha-smoke-test         | smoke-test        | the report (report-path's file name)              |
| smgha-monitoring         | enable-monitor    | statistics.json, constraints.json, monitoring.json |
|                          |                   | (+ model-quality-constraints.json)                |

Outside a runner (a CLI run on a laptop, the unit tests' runners) nothing is written: the
files would be litter in the system's temp folder. A file that cannot be written is a
warning, never a failed stage: the stage's own result does not depend on its copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smgha.backends import StepRecord
from smgha.runner import Runner

__all__ = [
    "EVALUATION",
    "MONITORING",
    "PIPELINE_LOG",
    "SMOKE_TEST",
    "STAGE_FOLDERS",
    "execution_log",
    "save_json",
]

# The folders, and (followed by `-<job id>`) the artifact names the workflows upload them as.
PIPELINE_LOG = "smgha-pipeline-log"
EVALUATION = "smgha-evaluation"
SMOKE_TEST = "smgha-smoke-test"
MONITORING = "smgha-monitoring"
STAGE_FOLDERS = (PIPELINE_LOG, EVALUATION, SMOKE_TEST, MONITORING)


def save_json(runner: Runner, folder: str, name: str, document: Any) -> Path | None:
    """Write `document` as indented JSON to RUNNER_TEMP/`folder`/`name` and return its path;
    None outside a runner, or (with a warning) when it cannot be written."""
    temp = runner.env.get("RUNNER_TEMP") or ""
    if not temp:
        return None
    path = Path(temp) / folder / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as error:
        runner.warning(
            f"{path}: {error}. The stage's result is unchanged; the artifact "
            f"{folder}-<job id> will lack this file.",
            title="Cannot keep a file for the workflow artifacts",
        )
        return None
    return path


def execution_log(
    pipeline_name: str,
    execution_arn: str,
    status: str,
    failure_reason: str,
    steps: list[StepRecord],
    *,
    backend: str,
    region: str,
    timed_out: bool = False,
) -> dict[str, Any]:
    """build-pipeline's execution-log.json: the execution as the watch last saw it, each
    step with its status, start, end and failure reason (ListPipelineExecutionSteps), in
    the order SageMaker listed them."""
    return {
        "pipeline_name": pipeline_name,
        "execution_arn": execution_arn,
        "backend": backend,
        "region": region,
        "status": status,
        "failure_reason": failure_reason,
        # Still running at the timeout: the log is of a moment, not of the whole execution.
        "timed_out": timed_out,
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "started": step.started.isoformat() if step.started else None,
                "ended": step.ended.isoformat() if step.ended else None,
                "seconds": step.seconds,
                "failure_reason": step.failure_reason,
                "cache_hit_from": step.cache_hit_from,
                "reused_from": step.reused_from,
                "metadata": step.metadata,
            }
            for step in steps
        ],
    }
