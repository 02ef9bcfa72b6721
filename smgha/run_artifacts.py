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
from typing import TYPE_CHECKING, Any

from smgha.backends import Objects, StepRecord
from smgha.runner import Runner

if TYPE_CHECKING:  # the stages import this module: their types only, for the signatures
    from smgha.resources.monitor_inputs import Inputs as MonitorInputs
    from smgha.stages.build_pipeline import BuildResult
    from smgha.stages.build_pipeline import Inputs as BuildInputs
    from smgha.stages.enable_monitor import MonitorPlan
    from smgha.stages.register_and_gate import GatePlan

__all__ = [
    "EVALUATION",
    "MONITORING",
    "PIPELINE_LOG",
    "SMOKE_TEST",
    "STAGE_FOLDERS",
    "execution_log",
    "keep_evaluation",
    "keep_execution_log",
    "keep_monitoring_files",
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


def keep_execution_log(inputs: BuildInputs, result: BuildResult, runner: Runner) -> None:
    """build-pipeline's execution-log.json, wherever an execution was started or resumed."""
    if result.execution_arn:
        log = execution_log(
            inputs.pipeline_name, result.execution_arn, result.status, result.failure_reason,
            result.steps, backend=inputs.backend, region=inputs.region,
            timed_out=result.timed_out,
        )  # fmt: skip
        save_json(runner, PIPELINE_LOG, "execution-log.json", log)


def keep_evaluation(gate: GatePlan, arn: str, runner: Runner) -> None:
    """register-and-gate's evaluation.json (the evaluation the gate judged, as read) and
    gate.json (its decision on it), also of a rejected candidate."""
    save_json(runner, EVALUATION, "evaluation.json", gate.evaluation)
    decision = gate.decision
    save_json(
        runner,
        EVALUATION,
        "gate.json",
        {
            "model_package_arn": arn,
            "decision": decision.decision,
            "approval_status": decision.approval_status,
            "forced": decision.forced,
            "rules": [result.as_dict() for result in decision.results],
            "candidate_metrics": gate.candidate_metrics,
            "champion_arn": (gate.champion or {}).get("ModelPackageArn", ""),
            "champion_metrics": gate.champion_metrics,
        },
    )


def keep_monitoring_files(
    inputs: MonitorInputs,
    monitoring: MonitorPlan,
    statistics: dict[str, Any],
    objects: Objects,
    runner: Runner,
) -> None:
    """enable-monitor's baseline (statistics.json, constraints.json; with model quality its
    constraints) and monitoring.json: the schedule, its alarms and where its reports go.
    The baselining job's constraints are read back from where apply() left them (an object
    the stage has just read and written, so no permission more)."""
    files = monitoring.baseline.files
    constraints = monitoring.baseline.constraints
    if constraints is None:
        constraints = objects.read_json(files.constraints_uri)
    save_json(runner, MONITORING, "statistics.json", statistics)
    save_json(runner, MONITORING, "constraints.json", constraints)
    quality = monitoring.quality
    if quality:
        save_json(runner, MONITORING, "model-quality-constraints.json", quality.constraints)
    index = {
        "endpoint_name": inputs.endpoint_name,
        "schedule_name": monitoring.setup.schedule_name,
        "schedule_expression": inputs.schedule_expression,
        "baseline_statistics_uri": files.statistics_uri,
        "baseline_constraints_uri": files.constraints_uri,
        "reports_uri": f"{inputs.output_uri}/reports",  # the schedule's reports, as they run
        "alarm_names": monitoring.setup.alarm_names,
        "model_quality_schedule_name": quality.setup.schedule_name if quality else "",
        "model_quality_constraints_uri": quality.constraints_uri if quality else "",
    }
    save_json(runner, MONITORING, "monitoring.json", index)
