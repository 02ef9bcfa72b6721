"""Batch transform jobs on SageMaker: create, describe, stop."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from smgha.backends.aws.client import (
    AwsClients,
    aws_errors,
    describe_or_none,
    error_code_and_message,
)


def is_missing_transform_job(exc: ClientError) -> bool:
    """Whether DescribeTransformJob failed because the job does not exist. The API model
    declares ResourceNotFound; moto 5 answers ValidationException "Could not find transform
    job '<arn>'."; the real service answers DescribeTrainingJob of a missing job with
    ValidationException "Requested resource not found." (client.is_missing_training_job),
    taken the same way here (unconfirmed for transform jobs). Other errors are errors."""
    code, message = error_code_and_message(exc)
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and message.startswith(
        ("Requested resource not found", "Could not find transform job")
    )


class SageMakerTransforms:
    """The Transforms area of the `sagemaker` backend."""

    # A transform job takes minutes (instances start, the model loads): poll at that pace.
    poll_seconds: float = 20.0

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def create_transform_job(self, request: dict[str, Any]) -> None:
        """CreateTransformJob; `request` is the API's request, passed as it is."""
        with aws_errors("CreateTransformJob", f"transform job {request.get('TransformJobName')}"):
            self.clients.sagemaker.create_transform_job(**request)

    def describe_transform_job(self, name: str) -> dict[str, Any] | None:
        return describe_or_none(
            "DescribeTransformJob",
            f"transform job {name}",
            lambda: self.clients.sagemaker.describe_transform_job(TransformJobName=name),
            is_missing_transform_job,
        )

    def stop_transform_job(self, name: str) -> None:
        with aws_errors("StopTransformJob", f"transform job {name}"):
            self.clients.sagemaker.stop_transform_job(TransformJobName=name)
