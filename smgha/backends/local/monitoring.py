"""Model Monitor on this machine: the monitoring half of LocalBackend.

Records live under `<state>/monitoring` in the shapes of the Describe* responses:

    monitoring/job-definitions/<Name>.json        CreateDataQualityJobDefinition request + ARN
    monitoring/schedules/<Name>/schedule.json     DescribeMonitoringSchedule
    monitoring/schedules/<Name>/cursor.json       how far each capture file has been analysed

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


class LocalMonitoring:
    """Data-quality job definitions, monitoring schedules: mixed into LocalBackend."""

    root: Path
    region: str
    s3: LocalS3

    def _monitoring(self) -> Path:
        return self.root / "monitoring"

    def _monitoring_arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}:{kind}/{name.lower()}"

    # -- objects ----------------------------------------------------------------------------

    def read_object(self, uri: str) -> bytes:
        """The bytes of the object at an s3:// URI (on local S3)."""
        try:
            return self.s3.path(uri).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise StageError("GetObject failed", f"NoSuchKey: no object at {uri}") from None
        except ValueError as error:
            raise StageError("GetObject failed", str(error)) from None

    # -- data-quality job definitions -------------------------------------------------------

    def _definition_file(self, name: str) -> Path:
        return self._monitoring() / "job-definitions" / f"{name}.json"

    def describe_data_quality_job_definition(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self._definition_file(name))

    def create_data_quality_job_definition(self, request: dict[str, Any]) -> None:
        name = request["JobDefinitionName"]
        path = self._definition_file(name)
        if path.exists():
            raise StageError(
                "CreateDataQualityJobDefinition failed",
                f"ResourceInUse: job definition {name!r} already exists",
            )
        state.write_json_atomic(
            path,
            {
                **request,
                "JobDefinitionArn": self._monitoring_arn("data-quality-job-definition", name),
                "CreationTime": state.to_iso(state.now()),
            },
        )

    def delete_data_quality_job_definition(self, name: str) -> None:
        path = self._definition_file(name)
        if not path.exists():
            raise StageError(
                "DeleteDataQualityJobDefinition failed",
                f"ResourceNotFound: no job definition {name!r}",
            )
        path.unlink()

    # -- monitoring schedules ---------------------------------------------------------------

    def _schedule_folder(self, name: str) -> Path:
        return self._monitoring() / "schedules" / name

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self._schedule_folder(name) / "schedule.json")

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
            "MonitoringScheduleArn": self._monitoring_arn("monitoring-schedule", name),
            "MonitoringScheduleStatus": "Scheduled",
            "MonitoringType": config.get("MonitoringType", "DataQuality"),
            "MonitoringScheduleConfig": config,
            "EndpointName": self._endpoint_of(config),
            "Tags": request.get("Tags", []),
            "CreationTime": moment,
            "LastModifiedTime": moment,
        }
        state.write_json_atomic(self._schedule_folder(name) / "schedule.json", record)

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
        state.write_json_atomic(self._schedule_folder(name) / "schedule.json", record)

    def _endpoint_of(self, config: dict[str, Any]) -> str:
        name = config.get("MonitoringJobDefinitionName", "")
        definition = self.describe_data_quality_job_definition(name)
        if definition is None:
            raise StageError(
                "CreateMonitoringSchedule failed",
                f"ResourceNotFound: no job definition {name!r}",
            )
        endpoint_input = (definition.get("DataQualityJobInput") or {}).get("EndpointInput") or {}
        return str(endpoint_input.get("EndpointName", ""))

    # -- one execution: what smgha.monitor.run reads and records -----------------------------

    def _schedule_of(self, endpoint_name: str) -> dict[str, Any]:
        folder = self._monitoring() / "schedules"
        for path in sorted(folder.glob("*/schedule.json")) if folder.is_dir() else []:
            record = state.read_json_if_exists(path) or {}
            if record.get("EndpointName") == endpoint_name:
                return record
        raise StageError(
            "No monitoring schedule",
            f"endpoint {endpoint_name!r} has no monitoring schedule on the local backend; run enable-monitor first",
        )

    def monitoring_context(self, endpoint_name: str) -> dict[str, Any]:
        """Where the schedule of `endpoint_name` finds its baseline and writes its reports."""
        schedule = self._schedule_of(endpoint_name)
        name = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        definition = self.describe_data_quality_job_definition(name)
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
            self.root / "endpoints" / endpoint_name / "endpoint.json"
        )
        if endpoint is None:
            raise StageError("No endpoint", f"there is no local endpoint {endpoint_name!r}")
        config = state.read_json_if_exists(
            self.root / "endpoint-configs" / f"{endpoint['EndpointConfigName']}.json"
        )
        capture = (config or {}).get("DataCaptureConfig") or {}
        if not capture.get("DestinationS3Uri"):
            return None
        return self.s3.path(capture["DestinationS3Uri"]) / endpoint_name

    def new_capture_lines(self, endpoint_name: str, everything: bool) -> tuple[list[str], Any]:
        """The complete capture lines not analysed yet (all of them with `everything`), and
        the cursor that marks them analysed once the execution is recorded."""
        schedule = self._schedule_of(endpoint_name)
        cursor_file = self._schedule_folder(schedule["MonitoringScheduleName"]) / "cursor.json"
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

    def record_execution(self, endpoint_name: str, summary: dict[str, Any], cursor: Any) -> None:
        schedule = self._schedule_of(endpoint_name)
        folder = self._schedule_folder(schedule["MonitoringScheduleName"])
        state.write_json_atomic(folder / "cursor.json", cursor)
        schedule["LastMonitoringExecutionSummary"] = {
            **summary,
            "CreationTime": state.to_iso(state.now()),
        }
        state.write_json_atomic(folder / "schedule.json", schedule)
