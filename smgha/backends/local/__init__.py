"""The local backend: SageMaker's pipeline service, registry and S3, on this machine.

Pipelines are interpreted from the same definition JSON SageMaker receives; an execution
runs in a detached process (so a stage can stop waiting and a later job resume), and its
status is read back from disk in SageMaker's response shapes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from smgha import definition as defn
from smgha.backends import ExecutionRecord, StepRecord
from smgha.backends.local import state
from smgha.backends.local.endpoints import LocalEndpoints
from smgha.backends.local.executor import (
    EXECUTOR_MODULE,
    SUPPORTED_STEP_TYPES,
    read_output_file,
)
from smgha.backends.local.expressions import ExpressionError
from smgha.backends.local.monitoring import LocalMonitoring
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3, S3UriError
from smgha.errors import StageError


class LocalBackend(LocalEndpoints, LocalMonitoring):
    """Pipelines, registry and S3 here; hosting (endpoints.py) is inherited."""

    poll_seconds = 0.5

    def __init__(self, region: str, root: Path | None = None) -> None:
        super().__init__(root or state.state_dir(), region)
        self.s3 = LocalS3(self.root / "s3")
        self.registry = LocalRegistry(self.root / "registry", region)
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # -- pipelines ------------------------------------------------------------------------

    def put_object(self, uri: str, body: bytes) -> None:
        try:
            self.s3.put_bytes(uri, body)
        except S3UriError as error:  # a URI S3 would refuse, or one leaving local S3
            raise StageError("PutObject failed", str(error)) from None

    def missing_objects(self, uris: list[str]) -> list[str]:
        missing = []
        for uri in uris:
            try:
                present = self.s3.path(uri).is_file()
            except S3UriError:  # a URI no object can have
                present = False
            if not present:
                missing.append(uri)
        return missing

    def pipeline_arn(self, name: str) -> str:
        return self.arn("pipeline", name)

    def _pipeline_file(self, name: str) -> Path:
        return self.root / "pipelines" / name / "pipeline.json"

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
        path = self._pipeline_file(name)
        with state.locked(path.with_name(".lock")):
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

    def start_execution(self, name: str, parameters: dict[str, str], token: str) -> str:
        pipeline_file = self._pipeline_file(name)
        if not pipeline_file.exists():
            raise StageError(
                "StartPipelineExecution failed", f"ResourceNotFound: no pipeline {name!r}"
            )
        pipeline = state.read_json(pipeline_file)
        token_file = self.root / "tokens" / name / f"{token}.json"
        with state.locked(self.root / "tokens" / name / ".lock"):
            if token_file.exists():  # the same request again: the same execution, as in AWS
                return state.read_json(token_file)["PipelineExecutionArn"]
            execution_id = state.new_id()
            arn = f"{pipeline['PipelineArn']}/execution/{execution_id}"
            folder = self._execution_folder(arn)
            moment = state.to_iso(state.now())
            state.write_json_atomic(folder / "definition.json", pipeline["PipelineDefinition"])
            state.write_json_atomic(
                folder / "execution.json",
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
                },
            )
            state.write_json_atomic(token_file, {"PipelineExecutionArn": arn})
        self._spawn(arn, folder)
        return arn

    def _spawn(self, arn: str, folder: Path) -> None:
        """Run the executor detached: it outlives this process, as a real execution would."""
        child = state.spawn(EXECUTOR_MODULE, folder, "executor.out")
        self._children[arn] = child
        record = state.read_json(folder / "execution.json")
        record["ExecutorPid"] = child.pid
        state.write_json_atomic(folder / "execution.json", record)

    def _execution_folder(self, arn: str) -> Path:
        execution_id = arn.rsplit("/", 1)[-1]
        if not arn.startswith("arn:aws:sagemaker:") or "/execution/" not in arn:
            raise StageError("DescribePipelineExecution failed", f"{arn!r} is not an execution ARN")
        return self.root / "executions" / execution_id

    def _execution(self, arn: str) -> dict[str, Any]:
        path = self._execution_folder(arn) / "execution.json"
        if not path.exists():
            raise StageError(
                "DescribePipelineExecution failed", f"ResourceNotFound: no execution {arn}"
            )
        record = state.read_json(path)
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
        with state.locked(path.with_name(".lock")):
            # Re-read: the executor may have finished between the first read and now.
            record = state.read_json(path)
            if record["PipelineExecutionStatus"] != "Executing":
                return record
            pid = int(record["ExecutorPid"])
            reason = (
                f"the local executor (pid {pid}) is gone: it stopped without finishing "
                f"(killed, or it crashed); see {path.parent / 'executor.out'}"
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
        path = folder / "execution.json"
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

    # -- model registry -----------------------------------------------------------------

    def describe_model_package_group(self, group: str) -> dict[str, Any] | None:
        return self.registry.describe_group(group)

    def list_model_packages(
        self, group: str, approval_status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return self.registry.list_model_packages(group, approval_status, limit)

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        return self.registry.describe_model_package(arn)

    def create_model_package(self, request: dict[str, Any]) -> str:
        return str(self.registry.create_model_package(request)["ModelPackageArn"])

    def update_model_package(
        self,
        arn: str,
        approval_status: str | None = None,
        approval_description: str | None = None,
        customer_metadata: dict[str, str] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if approval_status is not None:
            changes["ModelApprovalStatus"] = approval_status
        if approval_description is not None:
            changes["ApprovalDescription"] = approval_description[:1024]
        if customer_metadata:
            changes["CustomerMetadataProperties"] = customer_metadata
        try:
            self.registry.update_model_package(arn, changes)
        except KeyError:
            raise StageError(
                "UpdateModelPackage failed", f"ResourceNotFound: no model package {arn}"
            ) from None

    def read_json(self, uri: str) -> Any:
        try:
            path = self.s3.path(uri)
        except S3UriError as error:  # a URI S3 would refuse, or one leaving local S3
            raise StageError("Reading S3 failed", str(error)) from None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StageError("Reading S3 failed", f"NoSuchKey: no object at {uri}") from None
        except ValueError as error:
            raise StageError("Reading S3 failed", f"{uri} is not JSON: {error}") from None

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        path = self.root / "jobs" / f"{arn.rsplit('/', 1)[-1].lower()}.json"
        return state.read_json(path) if path.exists() else None


def _described_job(folder: Path, step_name: str) -> dict[str, Any]:
    """The resolved request of a finished step, which holds its outputs' S3 URIs."""
    path = folder / "jobs" / step_name / "described.json"
    if not path.exists():
        raise StageError("Reading the property file failed", f"step {step_name!r} has not run")
    return state.read_json(path)
