"""Model Monitor on SageMaker: job definitions by monitor kind (immutable: a changed one is a
new one), monitoring schedules (created, then updated in place), and the baselining
processing job."""

from __future__ import annotations

from typing import Any

from smgha.backends.aws.client import (
    JOB_DEFINITION_APIS,
    AwsClients,
    aws_errors,
    describe_or_none,
    is_missing_monitoring_resource,
)
from smgha.errors import StageError

UNKNOWN_KIND = "unknown monitor kind {kind!r}; known kinds: {known}"


def _job_definition_api(kind: str) -> tuple[str, str]:
    """(operation family, botocore method infix) of monitor `kind`."""
    try:
        return JOB_DEFINITION_APIS[kind]
    except KeyError:
        known = ", ".join(sorted(JOB_DEFINITION_APIS))
        raise StageError(
            "Monitoring job definition", UNKNOWN_KIND.format(kind=kind, known=known)
        ) from None


class SageMakerMonitoring:
    """The Monitoring area of the `sagemaker` backend."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    # -- job definitions, by monitor kind ---------------------------------------------------

    def describe_job_definition(self, kind: str, name: str) -> dict[str, Any] | None:
        family, method = _job_definition_api(kind)
        call = getattr(self.clients.sagemaker, f"describe_{method}_job_definition")
        return describe_or_none(
            f"Describe{family}JobDefinition",
            f"job definition {name}",
            lambda: call(JobDefinitionName=name),
            is_missing_monitoring_resource,
        )

    def create_job_definition(self, kind: str, request: dict[str, Any]) -> None:
        family, method = _job_definition_api(kind)
        name = request.get("JobDefinitionName", "?")
        with aws_errors(f"Create{family}JobDefinition", f"job definition {name}"):
            getattr(self.clients.sagemaker, f"create_{method}_job_definition")(**request)

    def delete_job_definition(self, kind: str, name: str) -> None:
        family, method = _job_definition_api(kind)
        with aws_errors(f"Delete{family}JobDefinition", f"job definition {name}"):
            call = getattr(self.clients.sagemaker, f"delete_{method}_job_definition")
            call(JobDefinitionName=name)

    # -- monitoring schedules ---------------------------------------------------------------

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None:
        client = self.clients.sagemaker
        return describe_or_none(
            "DescribeMonitoringSchedule",
            f"monitoring schedule {name}",
            lambda: client.describe_monitoring_schedule(MonitoringScheduleName=name),
            is_missing_monitoring_resource,
        )

    def create_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request.get("MonitoringScheduleName", "?")
        with aws_errors("CreateMonitoringSchedule", f"monitoring schedule {name}"):
            self.clients.sagemaker.create_monitoring_schedule(**request)

    def update_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request.get("MonitoringScheduleName", "?")
        with aws_errors("UpdateMonitoringSchedule", f"monitoring schedule {name}"):
            self.clients.sagemaker.update_monitoring_schedule(**request)

    # -- the baselining job -----------------------------------------------------------------

    def create_processing_job(self, request: dict[str, Any]) -> None:
        name = request.get("ProcessingJobName", "?")
        with aws_errors("CreateProcessingJob", f"processing job {name}"):
            self.clients.sagemaker.create_processing_job(**request)

    def describe_processing_job(self, name: str) -> dict[str, Any] | None:
        client = self.clients.sagemaker
        return describe_or_none(
            "DescribeProcessingJob",
            f"processing job {name}",
            lambda: client.describe_processing_job(ProcessingJobName=name),
            is_missing_monitoring_resource,
        )
