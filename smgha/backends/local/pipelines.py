"""Pipelines on this machine: the Pipelines area of the local backend.

Pipelines are interpreted from the same definition JSON SageMaker receives; an execution
runs in a detached process (so a stage can stop waiting and a later job resume), and its
status is read back from disk in SageMaker's response shapes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

from smgha import definition as defn
from smgha.backends import ExecutionRecord, SelectiveExecution, StepRecord
from smgha.backends.local import state, warm
from smgha.backends.local.executor import (
    EXECUTOR_MODULE,
    SUPPORTED_STEP_TYPES,
    read_output_file,
)
from smgha.backends.local.expressions import ExpressionError
from smgha.backends.local.s3 import LocalS3
from smgha.backends.local.script_training import missing_entry_script, refusal
from smgha.errors import StageError


class LocalPipelines:
    """The Pipelines area of the local backend."""

    # Reading two small JSON files: polling often costs nothing, and a build ends at most
    # this long after its execution (a warm build's execution takes about a second).
    poll_seconds = 0.1

    def __init__(self, layout: state.Layout, region: str, s3: LocalS3) -> None:
        self.layout = layout
        self.region = region
        self.s3 = s3
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def pipeline_arn(self, name: str) -> str:
        return state.arn(self.region, "pipeline", name)

    def _pipeline_file(self, name: str) -> Path:
        return self.layout.pipeline_file(name)

    def prepare_to_run(self) -> None:
        """Start the warm worker now, so its imports overlap the definition's build (the
        SDK import) instead of delaying the first step."""
        with contextlib.suppress(OSError):  # no worker: the steps run fresh
            warm.start(self.layout.root)

    def get_pipeline_definition(self, name: str) -> dict[str, Any] | None:
        path = self._pipeline_file(name)
        return state.read_json(path)["PipelineDefinition"] if path.exists() else None

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        unsupported = sorted(
            {s.get("Type", "?") for s in defn.iter_steps(definition["Steps"])}
            - set(SUPPORTED_STEP_TYPES)
        )
        if unsupported:
            raise StageError(
                "The local backend cannot run this pipeline",
                f"step types {unsupported} are not emulated; it runs {list(SUPPORTED_STEP_TYPES)}. "
                "Use backend: sagemaker for this pipeline.",
            )
        for step in defn.iter_steps(definition["Steps"]):
            arguments = step.get("Arguments") or {}
            if step.get("Type") != "Training":
                continue
            reason = refusal(arguments) or missing_entry_script(arguments, self.s3)
            if reason:
                raise StageError(f"The local backend cannot run step {step['Name']!r}", reason)
        path = self._pipeline_file(name)
        with state.locked(path.with_name(state.LOCK_FILE)):
            existing = state.read_json(path) if path.exists() else None
            moment = state.to_iso(state.now())
            record = {
                "PipelineName": name,
                "PipelineArn": self.pipeline_arn(name),
                "PipelineDefinition": definition,
                "RoleArn": role_arn,
                "Tags": {**(existing or {}).get("Tags", {}), **tags},
                "CreationTime": (existing or {}).get("CreationTime", moment),
                "LastModifiedTime": moment,
            }
            state.write_json_atomic(path, record)
        return str(record["PipelineArn"]), existing is None

    def tags(self, name: str) -> dict[str, str]:
        return state.read_json(self._pipeline_file(name))["Tags"]

    # -- executions -----------------------------------------------------------------------

    def start_execution(
        self,
        name: str,
        parameters: dict[str, str],
        token: str,
        selective: SelectiveExecution | None = None,
    ) -> str:
        pipeline_file = self._pipeline_file(name)
        if not pipeline_file.exists():
            raise StageError(
                "StartPipelineExecution failed", f"ResourceNotFound: no pipeline {name!r}"
            )
        pipeline = state.read_json(pipeline_file)
        token_file = self.layout.token_file(name, token)
        with state.locked(self.layout.token_folder(name) / state.LOCK_FILE):
            if token_file.exists():  # the same request again: the same execution, as in AWS
                return state.read_json(token_file)["PipelineExecutionArn"]
            execution_id = state.new_id()
            arn = f"{pipeline['PipelineArn']}/execution/{execution_id}"
            folder = self._execution_folder(arn)
            moment = state.to_iso(state.now())
            state.write_json_atomic(folder / state.DEFINITION_FILE, pipeline["PipelineDefinition"])
            state.write_json_atomic(
                folder / state.EXECUTION_FILE,
                {
                    "PipelineExecutionArn": arn,
                    "PipelineArn": pipeline["PipelineArn"],
                    "PipelineName": name,
                    "ExecutionId": execution_id,
                    "PipelineExecutionStatus": "Executing",
                    "Parameters": parameters,
                    "ClientRequestToken": token,
                    "CreationTime": moment,
                    "LastModifiedTime": moment,
                    "Steps": [],
                    # As DescribePipelineExecution shows it; the executor reads it.
                    **({"SelectiveExecutionConfig": selective.to_request()} if selective else {}),
                },
            )
            state.write_json_atomic(token_file, {"PipelineExecutionArn": arn})
        self._spawn(arn, folder)
        return arn

    def latest_execution(self, name: str, status: str) -> str:
        """The newest execution of pipeline `name` with `status`; '' when there is none."""
        newest: tuple[str, str] = ("", "")
        for path in (self.layout.root / "executions").glob(f"*/{state.EXECUTION_FILE}"):
            record = state.read_json(path)
            if record["PipelineName"] != name or record["PipelineExecutionStatus"] != status:
                continue
            newest = max(newest, (record["CreationTime"], record["PipelineExecutionArn"]))
        return newest[1]

    def _spawn(self, arn: str, folder: Path) -> None:
        """Run the executor detached: it outlives this process, as a real execution would.
        The warm worker its steps fork from starts first (unless build-pipeline's
        prepare_to_run already did), importing while the executor does."""
        self.prepare_to_run()
        child = state.spawn(EXECUTOR_MODULE, folder, state.EXECUTOR_OUT)
        self._children[arn] = child
        record = state.read_json(folder / state.EXECUTION_FILE)
        record["ExecutorPid"] = child.pid
        state.write_json_atomic(folder / state.EXECUTION_FILE, record)

    def _execution_folder(self, arn: str) -> Path:
        execution_id = arn.rsplit("/", 1)[-1]
        if not arn.startswith("arn:aws:sagemaker:") or "/execution/" not in arn:
            raise StageError("DescribePipelineExecution failed", f"{arn!r} is not an execution ARN")
        return self.layout.execution_folder(execution_id)

    def _execution(self, arn: str) -> dict[str, Any]:
        path = self._execution_folder(arn) / state.EXECUTION_FILE
        if not path.exists():
            raise StageError(
                "DescribePipelineExecution failed", f"ResourceNotFound: no execution {arn}"
            )
        record = state.read_json(path)
        # SageMaker finds an execution by its whole ARN: the same id under another pipeline
        # name, region or account is no execution of ours (ResourceNotFound there too).
        if record["PipelineExecutionArn"] != arn:
            raise StageError(
                "DescribePipelineExecution failed", f"ResourceNotFound: no execution {arn}"
            )
        if record["PipelineExecutionStatus"] != "Executing" and arn in self._children:
            self._children.pop(arn).wait(timeout=10)  # reap our finished executor: no zombie
        if record["PipelineExecutionStatus"] == "Executing" and not self._alive(arn, record):
            record = self._fail_lost_execution(path)
        return record

    def _alive(self, arn: str, record: dict[str, Any]) -> bool:
        child = self._children.get(arn)
        if child is not None:
            return child.poll() is None  # poll() also reaps our own finished child
        pid = record.get("ExecutorPid")
        if not pid:
            return True  # started a moment ago: the pid is being written
        return state.runs(int(pid), EXECUTOR_MODULE, self._execution_folder(arn))

    def _fail_lost_execution(self, path: Path) -> dict[str, Any]:
        """The executor died (killed, or the machine restarted) before writing an end: write
        it for it, so the execution and its running step stop saying Executing, and stop the
        processes of its step, which would run on in its process group otherwise. The first
        reader to notice does it; the lock keeps two readers from doing it twice."""
        with state.locked(path.with_name(state.LOCK_FILE)):
            # Re-read: the executor may have finished between the first read and now.
            record = state.read_json(path)
            if record["PipelineExecutionStatus"] != "Executing":
                return record
            pid = int(record["ExecutorPid"])
            reason = (
                f"the local executor (pid {pid}) is gone: it stopped without finishing "
                f"(killed, or it crashed); see {path.parent / state.EXECUTOR_OUT}"
            )
            moment = state.to_iso(state.now())
            for step in record["Steps"]:
                if step["StepStatus"] == "Executing":
                    step.update(StepStatus="Failed", FailureReason=reason, EndTime=moment)
            record.update(
                PipelineExecutionStatus="Failed", FailureReason=reason, LastModifiedTime=moment
            )
            state.write_json_atomic(path, record)
            state.stop_process_group(pid)
        return record

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        record = self._execution(execution_arn)
        finished = record["PipelineExecutionStatus"] != "Executing"
        return ExecutionRecord(
            arn=execution_arn,
            status=record["PipelineExecutionStatus"],
            failure_reason=record.get("FailureReason", ""),
            started=state.from_iso(record["CreationTime"]),
            ended=state.from_iso(record["LastModifiedTime"]) if finished else None,
        )

    def list_steps(self, execution_arn: str) -> list[StepRecord]:
        return [
            StepRecord(
                name=step["StepName"],
                status=step["StepStatus"],
                started=state.from_iso(step.get("StartTime")),
                ended=state.from_iso(step.get("EndTime")),
                failure_reason=step.get("FailureReason", ""),
                metadata=step.get("Metadata", {}),
                reused_from=(step.get("SelectiveExecutionResult") or {}).get(
                    "SourcePipelineExecutionArn", ""
                ),
            )
            for step in self._execution(execution_arn)["Steps"]
        ]

    def read_property_file(
        self, execution_arn: str, step_name: str, output_name: str, file_path: str
    ) -> Any:
        folder = self._execution_folder(execution_arn)
        described = _described_job(folder, step_name)
        try:
            return read_output_file(self.s3, described, step_name, output_name, file_path)
        except ExpressionError as error:
            raise StageError("Reading the property file failed", str(error)) from None

    def stop_execution(self, execution_arn: str) -> None:
        """StopPipelineExecution: end the executor and mark the execution Stopped."""
        import signal

        folder = self._execution_folder(execution_arn)
        path = folder / state.EXECUTION_FILE
        record = state.read_json(path)
        if record["PipelineExecutionStatus"] != "Executing":
            return
        pid = record.get("ExecutorPid")
        if pid and state.runs(int(pid), EXECUTOR_MODULE, folder):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGTERM)  # the executor and the job of its step
        elif pid:
            state.stop_process_group(int(pid))  # what a dead executor left running
        child = self._children.pop(execution_arn, None)
        if child is not None:
            child.wait(timeout=10)
        # Re-read: the executor wrote its steps until it stopped (or it just finished).
        record = state.read_json(path)
        if record["PipelineExecutionStatus"] != "Executing":
            return
        moment = state.to_iso(state.now())
        for step in record["Steps"]:
            if step["StepStatus"] == "Executing":
                step.update(StepStatus="Stopped", EndTime=moment)
        record.update(PipelineExecutionStatus="Stopped", LastModifiedTime=moment)
        state.write_json_atomic(path, record)


def _described_job(folder: Path, step_name: str) -> dict[str, Any]:
    """The resolved request of a finished step, which holds its outputs' S3 URIs."""
    path = state.Layout.step_job_folder(folder, step_name) / state.DESCRIBED_FILE
    if not path.exists():
        raise StageError("Reading the property file failed", f"step {step_name!r} has not run")
    return state.read_json(path)
