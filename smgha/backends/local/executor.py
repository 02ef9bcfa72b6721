"""Run one local pipeline execution to its end; started detached by LocalBackend.

Usage: python -m smgha.backends.local.executor <execution folder>

The execution folder holds `execution.json` (status, parameters, steps; rewritten
atomically after every change so other processes can watch) and `definition.json` (the
definition as it was when the execution started, as SageMaker pins it).
"""

from __future__ import annotations

import hashlib
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smgha import definition as defn
from smgha.backends.local import jobs, state, training, tuning
from smgha.backends.local.expressions import Evaluator, ExpressionError, lookup
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3

# What runs each step type, and the key SageMaker uses for it in step Metadata.
JOB_RUNNERS: dict[
    str, tuple[Callable[[dict[str, Any], jobs.JobContext], dict[str, Any]], str, str]
] = {
    "Processing": (jobs.run_processing, "ProcessingJob", "ProcessingJobArn"),
    "Training": (training.run_training, "TrainingJob", "TrainingJobArn"),
    "Tuning": (tuning.run_tuning, "TuningJob", "HyperParameterTuningJobArn"),
    "RegisterModel": (jobs.run_register_model, "RegisterModel", "ModelPackageArn"),
}
SUPPORTED_STEP_TYPES = (*JOB_RUNNERS, "Condition", "Fail")
# This module, as state.spawn runs it and state.runs recognises it.
EXECUTOR_MODULE = "smgha.backends.local.executor"


class Execution:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record: dict[str, Any] = state.read_json(folder / state.EXECUTION_FILE)
        self.definition: dict[str, Any] = state.read_json(folder / state.DEFINITION_FILE)
        self.layout = state.Layout.of_execution_folder(folder)
        self.region = self.record["PipelineExecutionArn"].split(":")[3]
        self.s3 = LocalS3(self.layout.s3)
        self.registry = LocalRegistry(self.layout, self.region)
        self.steps = defn.steps_by_name(self.definition)
        self.properties: dict[str, dict[str, Any]] = {}
        self.log_file = open(folder / state.EXECUTION_LOG, "a", encoding="utf-8")  # noqa: SIM115
        self.evaluator = Evaluator(
            parameters=defn.parameter_values(self.definition, self.record.get("Parameters") or {}),
            execution={
                "PipelineExecutionId": self.record["ExecutionId"],
                "PipelineExecutionArn": self.record["PipelineExecutionArn"],
                "PipelineName": self.record["PipelineName"],
                "PipelineArn": self.record["PipelineArn"],
                "StartDateTime": self.record["CreationTime"],
                "CurrentDateTime": self.record["CreationTime"],
            },
            step_properties=self.properties,
            read_property_file=self.read_property_file,
        )
        # A selective execution runs only its selected steps; the others' outputs are those of
        # the source execution (SelectiveExecution in smgha.backends).
        selective = self.record.get("SelectiveExecutionConfig")
        self.selected = {s["StepName"] for s in selective["SelectedSteps"]} if selective else None
        self.source_arn = selective["SourcePipelineExecutionArn"] if selective else ""
        self.ran: set[str] = set()  # the steps that ran here (not reused, not left out)

    # -- bookkeeping --------------------------------------------------------------------

    def log(self, message: str) -> None:
        self.log_file.write(f"{state.now().isoformat(timespec='seconds')} {message}\n")
        self.log_file.flush()

    def save(self) -> None:
        self.record["LastModifiedTime"] = state.to_iso(state.now())
        state.write_json_atomic(self.folder / state.EXECUTION_FILE, self.record)

    def step_logger(self, step: str) -> Callable[[str], None]:
        return lambda line: self.log(f"  [{step}] {line}")

    def step_record(self, name: str) -> dict[str, Any]:
        record = {
            "StepName": name,
            "StepStatus": "Executing",
            "StartTime": state.to_iso(state.now()),
        }
        self.record["Steps"].append(record)
        self.save()
        return record

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        self.log(f"execution {self.record['ExecutionId']} of {self.record['PipelineName']} started")
        activated = [step["Name"] for step in self.definition["Steps"]]
        done: set[str] = set()
        failed = False
        while not failed:
            step = self.next_step(activated, done)
            if step is None:
                break
            if self.selected is None or step["Name"] in self.selected:
                failed = not self.run_step(step, activated)
                self.ran.add(step["Name"])
            else:
                failed = not self.reuse_step(step, activated)
            done.add(step["Name"])
        status = "Failed" if failed else "Succeeded"
        self.record["PipelineExecutionStatus"] = status
        if failed:
            self.record["FailureReason"] = "Step failure: One or multiple steps failed."
        self.save()
        self.log(f"execution {status.lower()}")

    def next_step(self, activated: list[str], done: set[str]) -> dict[str, Any] | None:
        """The first activated step not yet run whose dependencies have all run."""
        for name in activated:
            if name in done:
                continue
            step = self.steps[name]
            needs = defn.step_needs(step)
            if needs <= done:
                return step
        return None

    def run_step(self, step: dict[str, Any], activated: list[str]) -> bool:
        name, kind = step["Name"], step["Type"]
        record = self.step_record(name)
        self.log(f"step {name} ({kind}) started")
        try:
            if kind == "Condition":
                outcome = all(self.evaluator.condition(c) for c in step["Arguments"]["Conditions"])
                branch = "IfSteps" if outcome else "ElseSteps"
                activated += [s["Name"] for s in step["Arguments"].get(branch) or []]
                record["Metadata"] = {"Condition": {"Outcome": str(outcome).lower().capitalize()}}
                self.properties[name] = {"Outcome": outcome}
            elif kind == "Fail":
                message = str(self.evaluator.resolve(step["Arguments"].get("ErrorMessage", "")))
                record["Metadata"] = {"Fail": {"ErrorMessage": message}}
                raise jobs.JobFailed(message)
            elif kind in JOB_RUNNERS:
                runner, metadata_key, arn_key = JOB_RUNNERS[kind]
                request = self.evaluator.resolve(step.get("Arguments") or {})
                context = jobs.JobContext(
                    job_dir=state.Layout.step_job_folder(self.folder, name),
                    job_name=pipeline_job_name(self.record["ExecutionId"], name, kind),
                    region=self.region,
                    s3=self.s3,
                    registry=self.registry,
                    log=self.step_logger(name),
                )
                context.job_dir.mkdir(parents=True, exist_ok=True)
                described = runner(request, context)
                state.write_json_atomic(context.job_dir / state.DESCRIBED_FILE, described)
                # Describe*Job by name, as later stages look jobs up (e.g. training data).
                state.write_json_atomic(self.layout.job_file(context.job_name), described)
                self.properties[name] = described
                record["Metadata"] = {metadata_key: {"Arn": described[arn_key]}}
            else:
                raise jobs.JobFailed(f"step type {kind!r} does not run on the local backend")
        except (jobs.JobFailed, ExpressionError, KeyError) as error:
            reason = str(error) if not isinstance(error, KeyError) else f"missing field {error}"
            record.update(
                StepStatus="Failed", FailureReason=reason, EndTime=state.to_iso(state.now())
            )
            self.save()
            self.log(f"step {name} failed: {reason}")
            return False
        record.update(StepStatus="Succeeded", EndTime=state.to_iso(state.now()))
        self.save()
        self.log(f"step {name} succeeded")
        return True

    def reuse_step(self, step: dict[str, Any], activated: list[str]) -> bool:
        """A step a selective execution did not select. Upstream of the selected steps, it does
        not run: it succeeds with the source execution's outputs, listed with its
        SelectiveExecutionResult. Downstream of them, it does not run at all and is not listed.
        (SageMaker Developer Guide, "Selective execution of pipeline steps":
        docs.aws.amazon.com/sagemaker/latest/dg/pipelines-selective-ex.html.)"""
        name = step["Name"]
        if defn.step_needs(step) & self.ran:
            self.ran.add(name)  # left out: what depends on it is left out too
            return True
        source = self.layout.execution_folder(self.source_arn.rsplit("/", 1)[-1])
        earlier = [
            s
            for s in state.read_json(source / state.EXECUTION_FILE)["Steps"]
            if s["StepName"] == name and s["StepStatus"] == "Succeeded"
        ]
        record = self.step_record(name)
        record["SelectiveExecutionResult"] = {"SourcePipelineExecutionArn": self.source_arn}
        if not earlier:
            reason = f"step {name} did not succeed in {self.source_arn}: no outputs to reuse"
            record.update(StepStatus="Failed", FailureReason=reason)
        else:
            record.update(StepStatus="Succeeded", Metadata=earlier[-1].get("Metadata", {}))
            if step["Type"] == "Condition":
                outcome = record["Metadata"]["Condition"]["Outcome"] == "True"
                branch = "IfSteps" if outcome else "ElseSteps"
                activated += [s["Name"] for s in step["Arguments"].get(branch) or []]
                self.properties[name] = {"Outcome": outcome}
            described = state.Layout.step_job_folder(source, name) / state.DESCRIBED_FILE
            if described.is_file():
                self.properties[name] = state.read_json(described)
        record["EndTime"] = state.to_iso(state.now())
        self.save()
        self.log(f"step {name}: {record['StepStatus']} (reused from {self.source_arn})")
        return record["StepStatus"] == "Succeeded"

    def read_property_file(self, step_name: str, property_file: str) -> Any:
        return read_property_file(self.s3, self.steps, self.properties, step_name, property_file)


def pipeline_job_name(execution_id: str, step_name: str, kind: str = "Processing") -> str:
    """The name SageMaker Pipelines gives a step's job: `pipelines-<execution id>-<step>`, at
    most 63 letters, digits and hyphens. A tuning job's name has at most 32 characters
    (CreateHyperParameterTuningJob's HyperParameterTuningJobName, botocore's model): Pipelines
    names it `<execution id>-<step[:8]>-<token>` (seen on real runs, not documented:
    docs/aws-fidelity.md); the token here is derived from both names, so it is stable."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", step_name)
    if kind == "Tuning":
        token = hashlib.sha256(f"{execution_id}/{step_name}".encode()).hexdigest()[:10]
        return f"{execution_id}-{cleaned[:8]}-{token}"[:32]
    return f"pipelines-{execution_id}-{cleaned}"[:63].rstrip("-")


def read_property_file(
    s3: LocalS3,
    steps: dict[str, dict[str, Any]],
    properties: dict[str, dict[str, Any]],
    step_name: str,
    property_file: str,
) -> Any:
    """A processing step's property file: `FilePath` inside the output `OutputName`."""
    files = {pf["PropertyFileName"]: pf for pf in steps[step_name].get("PropertyFiles") or []}
    if property_file not in files:
        raise ExpressionError(f"step {step_name!r} declares no property file {property_file!r}")
    spec = files[property_file]
    return read_output_file(
        s3, properties.get(step_name, {}), step_name, spec["OutputName"], spec["FilePath"]
    )


def read_output_file(
    s3: LocalS3, described: dict[str, Any], step_name: str, output_name: str, file_path: str
) -> Any:
    import json

    outputs = (described.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    uri = lookup(outputs, [output_name, "S3Output", "S3Uri"], f"{step_name} output {output_name}")
    path = s3.path(f"{str(uri).rstrip('/')}/{file_path}")
    if not path.is_file():
        raise ExpressionError(f"step {step_name!r} wrote no {file_path} in output {output_name!r}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ExpressionError(
            f"{step_name} {output_name}/{file_path} is not JSON: {error}"
        ) from None


def main(folder: str) -> int:
    execution = Execution(Path(folder))
    try:
        execution.run()
    except Exception:  # the executor must always leave a terminal status behind
        execution.record["PipelineExecutionStatus"] = "Failed"
        execution.record["FailureReason"] = "local executor error: " + traceback.format_exc(limit=3)
        execution.save()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
