"""The model registry on SageMaker: groups of versioned model packages, and the training
job behind a package."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from smgha.backends.aws.client import (
    AwsClients,
    aws_errors,
    describe_or_none,
    error_code_and_message,
    is_missing_model_package,
    is_missing_model_package_group,
    is_missing_training_job,
    record,
)
from smgha.errors import StageError

# UpdateModelPackage's `ApprovalDescription` is at most 1024 characters; a longer one is cut
# to this length, its last character an ellipsis.
MAX_APPROVAL_DESCRIPTION = 1024
ELLIPSIS = "\u2026"


def _approval_description(text: str) -> str:
    """`text` cut to the API's 1024 characters, ending in an ellipsis when cut."""
    if len(text) <= MAX_APPROVAL_DESCRIPTION:
        return text
    return text[: MAX_APPROVAL_DESCRIPTION - len(ELLIPSIS)] + ELLIPSIS


class SageMakerRegistry:
    """The Registry area of the `sagemaker` backend."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def describe_model_package_group(self, group: str) -> dict[str, Any] | None:
        """The group's record, or None when there is no such group."""
        with aws_errors("DescribeModelPackageGroup", f"group {group}"):
            try:
                response = self.clients.sagemaker.describe_model_package_group(
                    ModelPackageGroupName=group
                )
            except ClientError as exc:
                if is_missing_model_package_group(exc):
                    return None
                raise
        return record(response)

    def list_model_packages(
        self, group: str, approval_status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's versioned packages, newest first, as full Describe records; only
        those with `approval_status` when given, and at most `limit` of them.

        ListModelPackages is read page by page, but its summaries lack what callers need
        (ModelMetrics, CustomerMetadataProperties, InferenceSpecification), so every listed
        package is then described: one DescribeModelPackage call per version. For a large
        group pass `limit`: listing stops once the `limit` newest are known, and only those
        are described. A package deleted between the list and its describe is left out.
        A group that does not exist has no packages.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be at least 0, not {limit}")
        if limit == 0:
            return []
        params: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageType": "Versioned",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
        if approval_status:
            params["ModelApprovalStatus"] = approval_status
        arns: list[str] = []
        with aws_errors("ListModelPackages", f"group {group}"):
            paginator = self.clients.sagemaker.get_paginator("list_model_packages")
            for page in paginator.paginate(**params):
                arns.extend(s["ModelPackageArn"] for s in page.get("ModelPackageSummaryList", []))
                if limit is not None and len(arns) >= limit:
                    del arns[limit:]
                    break
        records: list[dict[str, Any]] = []
        for arn in arns:
            record = self.describe_model_package(arn)
            if record is not None:
                records.append(record)
        return records

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        """The package's record, or None when there is no such package."""
        with aws_errors("DescribeModelPackage", arn):
            try:
                response = self.clients.sagemaker.describe_model_package(ModelPackageName=arn)
            except ClientError as exc:
                if is_missing_model_package(exc):
                    return None
                raise
        return record(response)

    def create_model_package(self, request: dict[str, Any]) -> str:
        """CreateModelPackage (a versioned package in request's group); return its ARN.
        `request` is the API's request, passed as it is."""
        group = request.get("ModelPackageGroupName", "?")
        with aws_errors("CreateModelPackage", f"group {group}"):
            response = self.clients.sagemaker.create_model_package(**request)
        return response["ModelPackageArn"]

    def update_model_package(
        self,
        arn: str,
        approval_status: str | None = None,
        approval_description: str | None = None,
        customer_metadata: dict[str, str] | None = None,
    ) -> None:
        """UpdateModelPackage. `customer_metadata` keys are added or overwritten, never removed.

        Only the fields given are sent; with none given nothing is called. A description
        over the API's 1024 characters is cut, ending in an ellipsis.

        CustomerMetadataProperties: SageMaker merges the map it is sent into the package's
        (adds and overwrites keys), while moto replaces the whole map. So that both end up
        alike, the package's current map is read first and the merged map is sent; on
        SageMaker that re-sends unchanged keys, which changes nothing. Not atomic: a key
        another writer changes between the read and the update gets its old value back.
        The merged map may hold at most 50 entries (botocore's CustomerMetadataMap, which
        botocore does not check): more is a StageError before the call. Keys and values are
        sent as given: register-and-gate encodes its lineage to fit the service's pattern
        (register_and_gate.storable_lineage).
        """
        params: dict[str, Any] = {"ModelPackageArn": arn}
        if approval_status is not None:
            params["ModelApprovalStatus"] = approval_status
        if approval_description is not None:
            params["ApprovalDescription"] = _approval_description(approval_description)
        if customer_metadata:
            current = self.describe_model_package(arn)
            if current is None:
                raise StageError("UpdateModelPackage failed", f"model package {arn} does not exist")
            merged = {**(current.get("CustomerMetadataProperties") or {}), **customer_metadata}
            if len(merged) > 50:  # CustomerMetadataMap: "max": 50 (botocore sagemaker model)
                raise StageError(
                    "UpdateModelPackage refused",
                    f"{arn} would hold {len(merged)} CustomerMetadataProperties; SageMaker "
                    "allows 50. Remove some (CustomerMetadataPropertiesToRemove) or add fewer.",
                )
            params["CustomerMetadataProperties"] = merged
        if len(params) == 1:
            return
        with aws_errors("UpdateModelPackage", arn):
            self.clients.sagemaker.update_model_package(**params)

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        """DescribeTrainingJob of a pipeline's training step (for its input data), or None
        when there is no such job. `arn` is the job's ARN (a plain job name works too)."""
        name = arn.rsplit("/", 1)[-1]
        with aws_errors("DescribeTrainingJob", arn):
            try:
                response = self.clients.sagemaker.describe_training_job(TrainingJobName=name)
            except ClientError as exc:
                if is_missing_training_job(exc):
                    return None
                raise
        return record(response)

    # -- a pipeline's tuning step (build-pipeline's time and cost per step) ---------------------

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        """DescribeHyperParameterTuningJob of a pipeline's tuning step, or None when there is
        no such job (ResourceNotFound, the error botocore's model declares)."""
        name = arn.rsplit("/", 1)[-1]
        client = self.clients.sagemaker
        return describe_or_none(
            "DescribeHyperParameterTuningJob",
            f"tuning job {name}",
            lambda: client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
            _is_resource_not_found,
        )

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        """Every page of ListTrainingJobsForHyperParameterTuningJob's TrainingJobSummaries (its
        trials), or None when there is no such tuning job."""
        name = arn.rsplit("/", 1)[-1]
        summaries: list[dict[str, Any]] = []
        with aws_errors("ListTrainingJobsForHyperParameterTuningJob", f"tuning job {name}"):
            paginator = self.clients.sagemaker.get_paginator(
                "list_training_jobs_for_hyper_parameter_tuning_job"
            )
            try:
                # MaxResults: at most 100 a page (botocore's model).
                for page in paginator.paginate(
                    HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 100}
                ):
                    summaries += page.get("TrainingJobSummaries", [])
            except ClientError as exc:
                if _is_resource_not_found(exc):
                    return None
                raise
        return summaries


def _is_resource_not_found(exc: ClientError) -> bool:
    """The error botocore's model declares for a tuning job that does not exist."""
    code, _ = error_code_and_message(exc)
    return code == "ResourceNotFound"
