"""Model Monitor on SageMaker: the monitoring half of SageMakerBackend.

Data-quality job definitions (immutable: a changed one is a new one), monitoring schedules
(created, then updated in place), the baselining processing job, and reading an S3 object.
Every call goes through sagemaker.py's `_aws_errors`; the IAM actions of these operations
are added to its IAM_ACTIONS on first use (sagemaker.py imports this module at its top, so
this module imports it only when a call is made).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from smgha.errors import StageError

if TYPE_CHECKING:
    from botocore.client import BaseClient

IAM_ACTIONS: dict[str, str] = {
    "CreateDataQualityJobDefinition": "sagemaker:CreateDataQualityJobDefinition",
    "DescribeDataQualityJobDefinition": "sagemaker:DescribeDataQualityJobDefinition",
    "DeleteDataQualityJobDefinition": "sagemaker:DeleteDataQualityJobDefinition",
    "CreateMonitoringSchedule": "sagemaker:CreateMonitoringSchedule",
    "DescribeMonitoringSchedule": "sagemaker:DescribeMonitoringSchedule",
    "UpdateMonitoringSchedule": "sagemaker:UpdateMonitoringSchedule",
    "CreateProcessingJob": "sagemaker:CreateProcessingJob",
    "DescribeProcessingJob": "sagemaker:DescribeProcessingJob",
}

IAM_EXTRA_ACTIONS: dict[str, tuple[str, ...]] = {
    # The job definition's RoleArn is passed to SageMaker, as is the baselining job's.
    "CreateDataQualityJobDefinition": ("iam:PassRole", "sagemaker:AddTags"),
    "CreateMonitoringSchedule": ("sagemaker:AddTags",),
    "CreateProcessingJob": ("iam:PassRole", "sagemaker:AddTags"),
}


@contextmanager
def _aws(operation: str, context: str = "") -> Iterator[None]:
    """sagemaker._aws_errors, with this module's IAM actions known to it."""
    from smgha.backends import sagemaker as base

    for name, action in IAM_ACTIONS.items():
        base.IAM_ACTIONS.setdefault(name, action)
    for name, extra in IAM_EXTRA_ACTIONS.items():
        base.IAM_EXTRA_ACTIONS.setdefault(name, extra)
    with base._aws_errors(operation, context):
        yield


def _missing(exc: Any) -> bool:
    """Whether a Describe* call failed because the resource does not exist: the API model
    declares ResourceNotFound (what moto 5 answers for job definitions too); a
    ValidationException saying it does not exist is taken the same way."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and (
        "does not exist" in message or message.startswith("Could not find")
    )


def _record(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


class SageMakerMonitoring:
    """Data-quality job definitions, monitoring schedules: mixed into SageMakerBackend."""

    region: str

    def _client(self, service: str) -> BaseClient:  # provided by SageMakerBackend
        raise NotImplementedError

    def _describe(self, operation: str, what: str, call: Any) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        with _aws(operation, what):
            try:
                response = call()
            except ClientError as exc:
                if _missing(exc):
                    return None
                raise
        return _record(response)

    # -- objects ----------------------------------------------------------------------------

    def read_object(self, uri: str) -> bytes:
        """The bytes of the object at an s3:// URI."""
        from smgha.backends.sagemaker import _split_s3_uri

        try:
            bucket, key = _split_s3_uri(uri)
        except ValueError as exc:
            raise StageError("GetObject failed", str(exc)) from exc
        if not bucket or not key:
            raise StageError("GetObject failed", f"{uri!r} names no S3 object")
        with _aws("GetObject", uri):
            body: bytes = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    # -- data-quality job definitions -------------------------------------------------------

    def describe_data_quality_job_definition(self, name: str) -> dict[str, Any] | None:
        client = self._client("sagemaker")
        return self._describe(
            "DescribeDataQualityJobDefinition",
            f"job definition {name}",
            lambda: client.describe_data_quality_job_definition(JobDefinitionName=name),
        )

    def create_data_quality_job_definition(self, request: dict[str, Any]) -> None:
        name = request.get("JobDefinitionName", "?")
        with _aws("CreateDataQualityJobDefinition", f"job definition {name}"):
            self._client("sagemaker").create_data_quality_job_definition(**request)

    def delete_data_quality_job_definition(self, name: str) -> None:
        with _aws("DeleteDataQualityJobDefinition", f"job definition {name}"):
            self._client("sagemaker").delete_data_quality_job_definition(JobDefinitionName=name)

    # -- monitoring schedules ---------------------------------------------------------------

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None:
        client = self._client("sagemaker")
        return self._describe(
            "DescribeMonitoringSchedule",
            f"monitoring schedule {name}",
            lambda: client.describe_monitoring_schedule(MonitoringScheduleName=name),
        )

    def create_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request.get("MonitoringScheduleName", "?")
        with _aws("CreateMonitoringSchedule", f"monitoring schedule {name}"):
            self._client("sagemaker").create_monitoring_schedule(**request)

    def update_monitoring_schedule(self, request: dict[str, Any]) -> None:
        name = request.get("MonitoringScheduleName", "?")
        with _aws("UpdateMonitoringSchedule", f"monitoring schedule {name}"):
            self._client("sagemaker").update_monitoring_schedule(**request)

    # -- the baselining job -----------------------------------------------------------------

    def create_processing_job(self, request: dict[str, Any]) -> None:
        name = request.get("ProcessingJobName", "?")
        with _aws("CreateProcessingJob", f"processing job {name}"):
            self._client("sagemaker").create_processing_job(**request)

    def describe_processing_job(self, name: str) -> dict[str, Any] | None:
        client = self._client("sagemaker")
        return self._describe(
            "DescribeProcessingJob",
            f"processing job {name}",
            lambda: client.describe_processing_job(ProcessingJobName=name),
        )
