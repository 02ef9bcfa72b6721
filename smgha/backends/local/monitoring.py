"""Model Monitor on this machine: the Monitoring area of the local backend.

Records live under the state folder (where: state.Layout) in the shapes of the Describe*
responses: job definitions by name, each schedule in a folder of its own with the cursor
that says how far each capture file has been analysed.

Nothing runs on a timer: `smgha monitor run --endpoint NAME --backend local` is one
monitoring execution (smgha.monitor.run), reading the capture files the endpoint server
wrote under the endpoint config's DataCaptureConfig destination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local.s3 import LocalS3
from smgha.errors import StageError

# The API family of each monitor kind ("<Family>" names Create<Family>JobDefinition and
# the definition's <Family>JobInput, ...) and the resource kind in its ARN. The family is
# also the schedule's MonitoringType.
JOB_DEFINITION_KINDS: dict[str, tuple[str, str]] = {
    "data-quality": ("DataQuality", "data-quality-job-definition"),
    "model-quality": ("ModelQuality", "model-quality-job-definition"),
}

NO_PROCESSING_JOBS = (
    "the local backend runs processing jobs only as steps of a pipeline; "
    "compute the baseline in process instead"
)


def _job_definition_kind(kind: str) -> tuple[str, str]:
    """(API family, ARN resource kind) of monitor `kind`."""
    try:
        return JOB_DEFINITION_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(JOB_DEFINITION_KINDS))
        raise StageError(
            "Monitoring job definition", f"unknown monitor kind {kind!r}; known kinds: {known}"
        ) from None


class LocalMonitoring:
    """The Monitoring area of the local backend, and what one monitoring execution
    (smgha.monitor.run) reads and records."""

    def __init__(self, layout: state.Layout, region: str, s3: LocalS3) -> None:
        self.layout = layout
        self.region = region
        self.s3 = s3

    # -- job definitions, by monitor kind ---------------------------------------------------

    def describe_job_definition(self, kind: str, name: str) -> dict[str, Any] | None:
        _job_definition_kind(kind)
        return state.read_json_if_exists(self.layout.job_definition_file(name))

    def create_job_definition(self, kind: str, request: dict[str, Any]) -> None:
        family, arn_kind = _job_definition_kind(kind)
        name = request["JobDefinitionName"]
        path = self.layout.job_definition_file(name)
        if path.exists():
            raise StageError(
                f"Create{family}JobDefinition failed",
                f"ResourceInUse: job definition {name!r} already exists",
            )
        state.write_json_atomic(
            path,
            {
                **request,
                "JobDefinitionArn": state.arn(self.region, arn_kind, name),
                "CreationTime": state.to_iso(state.now()),
            },
        )

    def delete_job_definition(self, kind: str, name: str) -> None:
        family, _ = _job_definition_kind(kind)
        path = self.layout.job_definition_file(name)
        if not path.exists():
            raise StageError(
                f"Delete{family}JobDefinition failed",
                f"ResourceNotFound: no job definition {name!r}",
            )
        path.unlink()

    # -- the baselining job -----------------------------------------------------------------

    def create_processing_job(self, request: dict[str, Any]) -> None:
        raise StageError("CreateProcessingJob failed", NO_PROCESSING_JOBS)

    def describe_processing_job(self, name: str) -> dict[str, Any] | None:
        """The record of a pipeline's processing job called `name`, or None: the local
        backend runs no other."""
        return state.read_json_if_exists(self.layout.job_file(name))

    # -- monitoring schedules ---------------------------------------------------------------

    def _schedule_folder(self, name: str) -> Path:
        return self.layout.schedule_folder(name)

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self._schedule_folder(name) / state.SCHEDULE_FILE)

    def create_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request["MonitoringScheduleName"]
        if self.describe_monitoring_schedule(name) is not None:
            raise StageError(
                "CreateMonitoringSchedule failed",
                f"ResourceInUse: monitoring schedule {name!r} already exists",
            )
        config = request["MonitoringScheduleConfig"]
        moment = state.to_iso(state.now())
        record = {
            "MonitoringScheduleName": name,
            "MonitoringScheduleArn": state.arn(self.region, "monitoring-schedule", name),
            "MonitoringScheduleStatus": "Scheduled",
            "MonitoringType": config.get("MonitoringType", "DataQuality"),
            "MonitoringScheduleConfig": config,
            "EndpointName": self._endpoint_of(config),
            "Tags": request.get("Tags", []),
            "CreationTime": moment,
            "LastModifiedTime": moment,
        }
        state.write_json_atomic(self._schedule_folder(name) / state.SCHEDULE_FILE, record)

    def update_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request["MonitoringScheduleName"]
        record = self.describe_monitoring_schedule(name)
        if record is None:
            raise StageError(
                "UpdateMonitoringSchedule failed",
                f"ResourceNotFound: no monitoring schedule {name!r}",
            )
        config = request["MonitoringScheduleConfig"]
        record.update(
            MonitoringScheduleConfig=config,
            MonitoringType=config.get("MonitoringType", record.get("MonitoringType")),
            EndpointName=self._endpoint_of(config),
            LastModifiedTime=state.to_iso(state.now()),
        )
        state.write_json_atomic(self._schedule_folder(name) / state.SCHEDULE_FILE, record)

    def _endpoint_of(self, config: dict[str, Any]) -> str:
        name = config.get("MonitoringJobDefinitionName", "")
        family = config.get("MonitoringType", "DataQuality")
        definition = state.read_json_if_exists(self.layout.job_definition_file(name))
        if definition is None or f"{family}JobInput" not in definition:
            raise StageError(
                "CreateMonitoringSchedule failed",
                f"ResourceNotFound: no {family} job definition {name!r}",
            )
        endpoint_input = definition[f"{family}JobInput"].get("EndpointInput") or {}
        return str(endpoint_input.get("EndpointName", ""))

    # -- one execution: what smgha.monitor.run reads and records -----------------------------

    def _schedule_of(
        self, endpoint_name: str, monitoring_type: str = "DataQuality"
    ) -> dict[str, Any]:
        """The endpoint's schedule of that MonitoringType (one of each per endpoint)."""
        folder = self.layout.schedules
        files = sorted(folder.glob(f"*/{state.SCHEDULE_FILE}")) if folder.is_dir() else []
        for path in files:
            record = state.read_json_if_exists(path) or {}
            if (record.get("EndpointName"), record.get("MonitoringType")) == (
                endpoint_name,
                monitoring_type,
            ):
                return record
        raise StageError(
            "No monitoring schedule",
            f"endpoint {endpoint_name!r} has no monitoring schedule of type {monitoring_type} on the local backend; run enable-monitor first",
        )

    def scheduled_definition(
        self, endpoint_name: str, monitoring_type: str
    ) -> tuple[str, dict[str, Any]]:
        """(schedule name, its job definition) of the endpoint's schedule of that type."""
        schedule = self._schedule_of(endpoint_name, monitoring_type)
        name = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        definition = state.read_json_if_exists(self.layout.job_definition_file(name))
        if definition is None:
            raise StageError("No job definition", f"the schedule's job definition {name!r} is gone")
        return str(schedule["MonitoringScheduleName"]), definition

    def monitoring_context(self, endpoint_name: str) -> dict[str, Any]:
        """Where the schedule of `endpoint_name` finds its baseline and writes its reports."""
        schedule = self._schedule_of(endpoint_name)
        name = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        definition = self.describe_job_definition("data-quality", name)
        if definition is None:
            raise StageError("No job definition", f"the schedule's job definition {name!r} is gone")
        baseline = definition.get("DataQualityBaselineConfig") or {}
        outputs = (definition.get("DataQualityJobOutputConfig") or {}).get("MonitoringOutputs") or [
            {}
        ]
        return {
            "ScheduleName": schedule["MonitoringScheduleName"],
            "StatisticsUri": baseline["StatisticsResource"]["S3Uri"],
            "ConstraintsUri": baseline["ConstraintsResource"]["S3Uri"],
            "OutputUri": outputs[0]["S3Output"]["S3Uri"],
        }

    def _capture_folder(self, endpoint_name: str) -> Path | None:
        endpoint = state.read_json_if_exists(
            self.layout.endpoint_folder(endpoint_name) / state.ENDPOINT_FILE
        )
        if endpoint is None:
            raise StageError("No endpoint", f"there is no local endpoint {endpoint_name!r}")
        config = state.read_json_if_exists(
            self.layout.endpoint_config_file(endpoint["EndpointConfigName"])
        )
        capture = (config or {}).get("DataCaptureConfig") or {}
        if not capture.get("DestinationS3Uri"):
            return None
        return self.s3.path(capture["DestinationS3Uri"]) / endpoint_name

    def new_capture_lines(
        self, endpoint_name: str, everything: bool, monitoring_type: str = "DataQuality"
    ) -> tuple[list[str], Any]:
        """The complete capture lines the schedule of `monitoring_type` has not analysed yet
        (all of them with `everything`), and the cursor that marks them analysed once the
        execution is recorded."""
        schedule = self._schedule_of(endpoint_name, monitoring_type)
        cursor_file = self._schedule_folder(schedule["MonitoringScheduleName"]) / state.CURSOR_FILE
        done: dict[str, int] = {} if everything else (state.read_json_if_exists(cursor_file) or {})
        folder = self._capture_folder(endpoint_name)
        lines: list[str] = []
        cursor = dict(done)
        files = sorted(folder.rglob("*.jsonl")) if folder and folder.is_dir() else []
        for path in files:
            assert folder is not None
            key = str(path.relative_to(folder))
            text = path.read_text(encoding="utf-8")
            complete = text[: text.rfind("\n") + 1].splitlines()  # a half-written line waits
            lines.extend(complete[done.get(key, 0) :])
            cursor[key] = len(complete)
        return lines, cursor

    def record_execution(
        self,
        endpoint_name: str,
        summary: dict[str, Any],
        cursor: Any,
        monitoring_type: str = "DataQuality",
    ) -> None:
        schedule = self._schedule_of(endpoint_name, monitoring_type)
        folder = self._schedule_folder(schedule["MonitoringScheduleName"])
        state.write_json_atomic(folder / state.CURSOR_FILE, cursor)
        schedule["LastMonitoringExecutionSummary"] = {
            **summary,
            "CreationTime": state.to_iso(state.now()),
        }
        state.write_json_atomic(folder / state.SCHEDULE_FILE, schedule)
