"""The `sagemaker` backend: SageMaker Pipelines, the model registry and real-time endpoints
in an AWS account, driven with boto3.

Every AWS call goes through `_aws_errors`, which turns botocore's exceptions into a
`StageError` whose title names the operation ("CreatePipeline failed") and whose detail is
the service's error code and message, plus the missing IAM permission on access denied.

Credentials, and the endpoint, come from boto3's usual chain: the standard `AWS_ENDPOINT_URL`
variable is honoured (nothing here sets `endpoint_url`), which is how tests point the backend
at a moto server.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from smgha.backends import TERMINAL_STATUSES, ExecutionRecord, Invocation, StepRecord
from smgha.backends.sagemaker_monitoring import SageMakerMonitoring
from smgha.errors import StageError

# The IAM action each AWS operation called here needs, by operation name. The credentials
# the stage runs with (not the pipeline's execution role) must be allowed these.
IAM_ACTIONS: dict[str, str] = {
    "DescribePipeline": "sagemaker:DescribePipeline",
    "CreatePipeline": "sagemaker:CreatePipeline",
    "UpdatePipeline": "sagemaker:UpdatePipeline",
    "AddTags": "sagemaker:AddTags",
    "StartPipelineExecution": "sagemaker:StartPipelineExecution",
    "DescribePipelineExecution": "sagemaker:DescribePipelineExecution",
    "ListPipelineExecutionSteps": "sagemaker:ListPipelineExecutionSteps",
    "DescribeProcessingJob": "sagemaker:DescribeProcessingJob",
    # The model registry (RegistryBackend), and the training job behind a package; its
    # evaluation reports are read with s3:GetObject (below).
    "DescribeModelPackageGroup": "sagemaker:DescribeModelPackageGroup",
    "ListModelPackages": "sagemaker:ListModelPackages",
    "DescribeModelPackage": "sagemaker:DescribeModelPackage",
    "CreateModelPackage": "sagemaker:CreateModelPackage",
    "UpdateModelPackage": "sagemaker:UpdateModelPackage",
    "DescribeTrainingJob": "sagemaker:DescribeTrainingJob",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    # build-pipeline checks that a definition file's code objects exist. HeadObject needs
    # s3:GetObject (S3 API Reference, HeadObject, "Permissions").
    "HeadObject": "s3:GetObject",
    # Hosting (EndpointBackend): models, endpoint configs, endpoints; the CloudWatch alarms
    # a blue/green update rolls back on; Application Auto Scaling of a variant's instances.
    "DescribeModel": "sagemaker:DescribeModel",
    "CreateModel": "sagemaker:CreateModel",
    "DescribeEndpointConfig": "sagemaker:DescribeEndpointConfig",
    "CreateEndpointConfig": "sagemaker:CreateEndpointConfig",
    "DescribeEndpoint": "sagemaker:DescribeEndpoint",
    "CreateEndpoint": "sagemaker:CreateEndpoint",
    "UpdateEndpoint": "sagemaker:UpdateEndpoint",
    "PutMetricAlarm": "cloudwatch:PutMetricAlarm",
    "DescribeAlarms": "cloudwatch:DescribeAlarms",
    "RegisterScalableTarget": "application-autoscaling:RegisterScalableTarget",
    "PutScalingPolicy": "application-autoscaling:PutScalingPolicy",
    # deploy-endpoint reads a live variant's autoscaling to apply only what changed.
    "DescribeScalableTargets": "application-autoscaling:DescribeScalableTargets",
    "DescribeScalingPolicies": "application-autoscaling:DescribeScalingPolicies",
    # ... and takes it out of autoscaling while an update changes its instance type.
    "DeleteScalingPolicy": "application-autoscaling:DeleteScalingPolicy",
    "DeregisterScalableTarget": "application-autoscaling:DeregisterScalableTarget",
}

# Operations of the SageMaker runtime (botocore's `sagemaker-runtime` service), whose IAM
# actions carry the `sagemaker:` prefix. Kept apart from IAM_ACTIONS, where an action's
# prefix is also the botocore service that has the operation.
RUNTIME_IAM_ACTIONS: dict[str, str] = {
    "InvokeEndpoint": "sagemaker:InvokeEndpoint",
}

# What some operations need besides their own action: passing the pipeline's execution role
# (`RoleArn`) needs iam:PassRole on that role, and tagging at creation needs sagemaker:AddTags.
IAM_EXTRA_ACTIONS: dict[str, tuple[str, ...]] = {
    "CreatePipeline": ("iam:PassRole", "sagemaker:AddTags"),
    "UpdatePipeline": ("iam:PassRole",),
    # The model's ExecutionRoleArn is passed to SageMaker.
    "CreateModel": ("iam:PassRole", "sagemaker:AddTags"),
    "CreateEndpoint": ("sagemaker:AddTags",),
    # Auto-rollback reads the alarms named in the DeploymentConfig.
    "UpdateEndpoint": ("cloudwatch:DescribeAlarms",),
    # What the SageMaker guide lists for auto scaling an endpoint: the service-linked role is
    # created on first use, and the endpoint is read and resized on the caller's behalf.
    "RegisterScalableTarget": (
        "iam:CreateServiceLinkedRole",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    ),
    # A target tracking policy creates and manages its own CloudWatch alarms.
    "PutScalingPolicy": (
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    ),
}

# Error codes meaning "not allowed": SageMaker says AccessDeniedException, S3 AccessDenied.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})

# `PipelineDefinition` is at most 1 MB (1,048,576 characters in the API model; the JSON we
# send is ASCII, so characters and bytes are the same).
MAX_DEFINITION_BYTES = 1_048_576

# UpdateModelPackage's `ApprovalDescription` is at most 1024 characters; a longer one is cut
# to this length, its last character an ellipsis.
MAX_APPROVAL_DESCRIPTION = 1024
ELLIPSIS = "\u2026"


def _stage_error(operation: str, exc: ClientError, context: str = "") -> StageError:
    """A StageError for a failed call: the service's code and message, and on access denied
    the IAM permission to grant."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = error.get("Message", "") or str(exc)
    detail = f"{code}: {message}"
    if context:
        detail = f"{context}: {detail}"
    if code in ACCESS_DENIED_CODES:
        action = (
            IAM_ACTIONS.get(operation)
            or RUNTIME_IAM_ACTIONS.get(operation)
            or f"the permission for {operation}"
        )
        detail += f". The credentials this stage runs with need {action}"
        extra = IAM_EXTRA_ACTIONS.get(operation, ())
        if extra:
            detail += f" (this call may also need {', '.join(extra)})"
    return StageError(f"{operation} failed", detail)


@contextmanager
def _aws_errors(operation: str, context: str = "") -> Iterator[None]:
    """Turn any botocore error raised inside the block into a StageError about `operation`.

    ClientError is what the service answered; BotoCoreError is everything that happened on
    this side (no credentials, endpoint unreachable, a parameter the API model rejects).
    """
    try:
        yield
    except ClientError as exc:
        raise _stage_error(operation, exc, context) from exc
    except BotoCoreError as exc:
        detail = f"{context}: {exc}" if context else str(exc)
        raise StageError(f"{operation} failed", detail) from exc


def _is_missing_pipeline(exc: ClientError) -> bool:
    """Whether DescribePipeline failed because the pipeline does not exist."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "")
    # The real service: ResourceNotFound, "Pipeline '<arn>' does not exist."
    if code == "ResourceNotFound":
        return True
    # moto 5: ValidationException, "Could not find pipeline with PipelineName <name>."
    # Matched on the message too: other ValidationExceptions (a malformed name) are errors.
    return code == "ValidationException" and message.startswith("Could not find pipeline")


def _error_code_and_message(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return error.get("Code", ""), error.get("Message", "")


def _is_missing_model_package_group(exc: ClientError) -> bool:
    """Whether DescribeModelPackageGroup failed because the group does not exist."""
    code, message = _error_code_and_message(exc)
    # The code the API model declares for a missing resource, should the service send it.
    if code == "ResourceNotFound":
        return True
    # The real service and moto 5 alike: ValidationException,
    # "ModelPackageGroup arn:aws:sagemaker:<region>:<account>:model-package-group/<name>
    # does not exist." Other ValidationExceptions (a malformed name) are errors.
    return (
        code == "ValidationException"
        and message.startswith("ModelPackageGroup ")
        and message.endswith(" does not exist.")
    )


def _is_missing_model_package(exc: ClientError) -> bool:
    """Whether DescribeModelPackage failed because the package does not exist."""
    code, message = _error_code_and_message(exc)
    if code == "ResourceNotFound":
        return True
    if code != "ValidationException":
        return False
    # The real service: "ModelPackage <arn> does not exist."
    # moto 5: "Model package <arn or name> not found".
    return (message.startswith("ModelPackage ") and message.endswith(" does not exist.")) or (
        message.startswith("Model package ") and message.endswith(" not found")
    )


def _is_missing_training_job(exc: ClientError) -> bool:
    """Whether DescribeTrainingJob failed because the job does not exist."""
    code, message = _error_code_and_message(exc)
    # The API model declares ResourceNotFound, but the real service answers
    # ValidationException "Requested resource not found."; moto 5 answers
    # ValidationException "Could not find training job '<arn>'."
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and message.startswith(
        ("Requested resource not found", "Could not find training job")
    )


# What the real service and moto 5 answer to DescribeModel, DescribeEndpointConfig and
# DescribeEndpoint of a resource that does not exist: ValidationException, "Could not find
# <noun> <quoted ARN>." The service quotes the ARN with double quotes
# ('Could not find endpoint "arn:aws:sagemaker:us-east-1:111122223333:endpoint/churn".'),
# moto with single ones. The API model declares no not-found error for these operations.
_HOSTING_NOUNS = {
    "model": "model",
    "endpoint-config": "endpoint configuration",
    "endpoint": "endpoint",
}


def _missing_hosting_pattern(resource_type: str) -> re.Pattern[str]:
    noun = re.escape(_HOSTING_NOUNS[resource_type])
    arn = rf"arn:[\w-]+:sagemaker:[\w-]+:\d{{12}}:{re.escape(resource_type)}/[^\"'/]+"
    return re.compile(rf"""Could not find {noun} (["']){arn}\1\.?""")


_MISSING_HOSTING = {kind: _missing_hosting_pattern(kind) for kind in _HOSTING_NOUNS}


def _is_missing_hosting_resource(exc: ClientError, resource_type: str) -> bool:
    """Whether a Describe* call failed because the model, endpoint config or endpoint
    (`resource_type` as its ARN names it) does not exist. Other ValidationExceptions (a
    malformed name, a missing resource of another kind) are errors."""
    code, message = _error_code_and_message(exc)
    return code == "ValidationException" and bool(
        _MISSING_HOSTING[resource_type].fullmatch(message)
    )


# DescribeAlarms takes at most 100 names per request.
MAX_ALARM_NAMES = 100


def _approval_description(text: str) -> str:
    """`text` cut to the API's 1024 characters, ending in an ellipsis when cut."""
    if len(text) <= MAX_APPROVAL_DESCRIPTION:
        return text
    return text[: MAX_APPROVAL_DESCRIPTION - len(ELLIPSIS)] + ELLIPSIS


def _record(response: dict[str, Any]) -> dict[str, Any]:
    """A Describe* response without boto3's ResponseMetadata: the record itself."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _definition_body(definition: dict[str, Any]) -> str:
    """The definition as compact JSON, refused when over the API's size limit."""
    body = json.dumps(definition, separators=(",", ":"))
    size = len(body.encode("utf-8"))
    if size > MAX_DEFINITION_BYTES:
        raise StageError(
            "Pipeline definition too large",
            f"the definition is {size:,} bytes as compact JSON; CreatePipeline and "
            f"UpdatePipeline accept at most {MAX_DEFINITION_BYTES:,} (1 MB) in "
            "PipelineDefinition. Make it smaller (large inline values such as code or "
            "parameter defaults are the usual cause); larger definitions must be uploaded "
            "to S3 and passed as PipelineDefinitionS3Location, which this backend does not do",
        )
    return body


def _create_token(name: str, body: str) -> str:
    """CreatePipeline's ClientRequestToken: the same pipeline name and definition give the
    same token, so a retried create is not applied twice. 64 hex characters (the API wants
    32 to 128)."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{name}\n{digest}".encode()).hexdigest()


def _split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") from "s3://bucket/key/prefix"."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class SageMakerBackend(SageMakerMonitoring):
    """PipelineBackend, RegistryBackend and EndpointBackend on SageMaker, one region, with
    boto3."""

    # Seconds between two polls of a running execution, or of an endpoint being created or
    # updated (the deploy stage reads it from the backend it is given). Creating or updating
    # an endpoint takes minutes, so this saves calls without delaying what follows much; set
    # it on an instance to poll at another pace.
    poll_seconds: float = 20.0

    def __init__(self, region: str, session: boto3.Session | None = None) -> None:
        self.region = region
        self._session = session
        self._clients: dict[str, BaseClient] = {}

    # -- clients -------------------------------------------------------------------------

    def _client(self, service: str, total_max_attempts: int | None = None) -> BaseClient:
        """The client for `service`, created on first use. It retries in botocore's standard
        mode: up to 10 retries after the first call, or `total_max_attempts` calls in all
        when given (botocore's Config: `max_attempts` counts retries, `total_max_attempts`
        the first call too, "so a value of 1 indicates that no requests will be retried")."""
        if service not in self._clients:
            if self._session is None:  # backend() gives the stage's renewing session
                self._session = boto3.Session()
            retries: dict[str, Any] = {"mode": "standard", "max_attempts": 10}
            if total_max_attempts is not None:
                retries = {"mode": "standard", "total_max_attempts": total_max_attempts}
            config = Config(region_name=self.region, retries=retries, user_agent_extra="smgha")
            self._clients[service] = self._session.client(service, config=config)
        return self._clients[service]

    @property
    def sagemaker(self) -> BaseClient:
        """The SageMaker client (tests wrap it in botocore's Stubber)."""
        return self._client("sagemaker")

    @property
    def s3(self) -> BaseClient:
        """The S3 client, for code, property files and evaluation reports."""
        return self._client("s3")

    # -- pipelines -----------------------------------------------------------------------

    def _describe_pipeline(self, name: str) -> dict[str, Any] | None:
        """DescribePipeline's answer, or None when there is no pipeline called `name`."""
        with _aws_errors("DescribePipeline"):
            try:
                return self.sagemaker.describe_pipeline(PipelineName=name)
            except ClientError as exc:
                if _is_missing_pipeline(exc):
                    return None
                raise

    def put_object(self, uri: str, body: bytes) -> None:
        """Upload the code a definition refers to (captured while it was built)."""
        bucket, key = _split_s3_uri(uri)
        with _aws_errors("PutObject", uri):
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def missing_objects(self, uris: list[str]) -> list[str]:
        """HeadObject on each (s3:GetObject on the artifact bucket's objects, which the build
        role has). Without s3:ListBucket on the bucket S3 answers 403 rather than 404 for a
        missing key (S3 API Reference, HeadObject: "If you don't have the s3:ListBucket
        permission, Amazon S3 returns an HTTP status code 403 Forbidden error"), so 403
        counts as missing too: an object this role cannot read (the stricter reading)."""
        missing = []
        for uri in uris:
            bucket, key = _split_s3_uri(uri)
            with _aws_errors("HeadObject", uri):  # any other error is the call's failure
                try:
                    self.s3.head_object(Bucket=bucket, Key=key)
                except ClientError as exc:
                    code, _message = _error_code_and_message(exc)
                    if code not in ("404", "403", "NoSuchKey", "NoSuchBucket", "AccessDenied"):
                        raise
                    missing.append(uri)
        return missing

    def get_pipeline_definition(self, name: str) -> dict[str, Any] | None:
        """The deployed definition of pipeline `name`, or None when there is none."""
        described = self._describe_pipeline(name)
        if described is None:
            return None
        return json.loads(described["PipelineDefinition"])

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        """Create the pipeline or update it in place; return (pipeline ARN, created)."""
        body = _definition_body(definition)
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]

        if self._describe_pipeline(name) is None:
            params: dict[str, Any] = {
                "PipelineName": name,
                "PipelineDefinition": body,
                "RoleArn": role_arn,
                "ClientRequestToken": _create_token(name, body),
            }
            if tag_list:
                params["Tags"] = tag_list
            with _aws_errors("CreatePipeline"):
                response = self.sagemaker.create_pipeline(**params)
            return response["PipelineArn"], True

        with _aws_errors("UpdatePipeline"):
            response = self.sagemaker.update_pipeline(
                PipelineName=name, PipelineDefinition=body, RoleArn=role_arn
            )
        arn = response["PipelineArn"]
        # UpdatePipeline takes no tags: set them on the ARN. AddTags overwrites the value of
        # a key that is already there and leaves other tags alone.
        if tag_list:
            with _aws_errors("AddTags"):
                self.sagemaker.add_tags(ResourceArn=arn, Tags=tag_list)
        return arn, False

    # -- executions ----------------------------------------------------------------------

    def start_execution(self, name: str, parameters: dict[str, str], token: str) -> str:
        """Start an execution; the same `token` again returns the same execution's ARN
        (SageMaker's own idempotency: `token` is the ClientRequestToken, 32-128 chars)."""
        with _aws_errors("StartPipelineExecution"):
            response = self.sagemaker.start_pipeline_execution(
                PipelineName=name,
                PipelineParameters=[
                    {"Name": key, "Value": value} for key, value in parameters.items()
                ],
                ClientRequestToken=token,
            )
        return response["PipelineExecutionArn"]

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        """The execution's status. Raises StageError when it does not exist."""
        with _aws_errors("DescribePipelineExecution"):
            response = self.sagemaker.describe_pipeline_execution(
                PipelineExecutionArn=execution_arn
            )
        status = response["PipelineExecutionStatus"]
        return ExecutionRecord(
            arn=execution_arn,
            status=status,
            failure_reason=response.get("FailureReason") or "",
            started=response.get("CreationTime"),
            # An execution's last change is its end once it has finished.
            ended=response.get("LastModifiedTime") if status in TERMINAL_STATUSES else None,
        )

    def list_steps(self, execution_arn: str) -> list[StepRecord]:
        """The execution's steps in the order they started."""
        steps: list[StepRecord] = []
        with _aws_errors("ListPipelineExecutionSteps"):
            paginator = self.sagemaker.get_paginator("list_pipeline_execution_steps")
            for page in paginator.paginate(PipelineExecutionArn=execution_arn):
                for step in page.get("PipelineExecutionSteps", []):
                    steps.append(
                        StepRecord(
                            name=step["StepName"],
                            status=step["StepStatus"],
                            started=step.get("StartTime"),
                            ended=step.get("EndTime"),
                            failure_reason=step.get("FailureReason") or "",
                            metadata=step.get("Metadata") or {},
                        )
                    )
        # The service lists the newest first. Reverse, then sort by start time: the sort is
        # stable, so steps that started at the same time keep their order, and steps with no
        # start time yet go last. (The key never compares None with a datetime.)
        steps.reverse()
        steps.sort(key=lambda step: (step.started is None, step.started))
        return steps

    # -- property files ------------------------------------------------------------------

    def read_property_file(
        self, execution_arn: str, step_name: str, output_name: str, file_path: str
    ) -> Any:
        """The parsed JSON of a processing step's property file, as `Std:JsonGet` reads it:
        the file `file_path` inside the step's output `output_name`."""
        title = f"Cannot read property file of step '{step_name}'"

        # 1. The step, and the processing job it ran.
        matching = [step for step in self.list_steps(execution_arn) if step.name == step_name]
        if not matching:
            raise StageError(title, f"execution {execution_arn} has no step '{step_name}'")
        step = matching[-1]  # the latest attempt, should the name appear more than once
        job_arn = step.metadata.get("ProcessingJob", {}).get("Arn")
        if not job_arn:
            raise StageError(
                title,
                f"step '{step_name}' ({step.status}) has no processing job in its metadata "
                f"(keys: {', '.join(sorted(step.metadata)) or 'none'}); property files "
                "come from processing steps",
            )
        job_name = job_arn.rsplit("/", 1)[-1]

        # 2. The job's output called `output_name`, and where it went in S3.
        with _aws_errors("DescribeProcessingJob"):
            job = self.sagemaker.describe_processing_job(ProcessingJobName=job_name)
        outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
        output = next((out for out in outputs if out.get("OutputName") == output_name), None)
        if output is None:
            names = ", ".join(out.get("OutputName", "?") for out in outputs) or "none"
            raise StageError(
                title,
                f"processing job {job_name} of step '{step_name}' has no output "
                f"'{output_name}' (its outputs: {names})",
            )
        output_uri = output.get("S3Output", {}).get("S3Uri")
        if not output_uri:
            raise StageError(
                title,
                f"output '{output_name}' of processing job {job_name} (step '{step_name}') "
                "is not an S3 output",
            )

        # 3. The file inside that output.
        try:
            bucket, prefix = _split_s3_uri(output_uri)
        except ValueError as exc:
            raise StageError(title, f"output '{output_name}': {exc}") from exc
        key = "/".join(part.strip("/") for part in (prefix, file_path) if part.strip("/"))
        uri = f"s3://{bucket}/{key}"
        where = f"{file_path} in output '{output_name}' of step '{step_name}' ({uri})"
        with _aws_errors("GetObject", context=where):
            content = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return json.loads(content)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
            raise StageError(title, f"{where} is not JSON: {exc}") from exc

    # -- model registry ------------------------------------------------------------------

    def describe_model_package_group(self, group: str) -> dict[str, Any] | None:
        """The group's record, or None when there is no such group."""
        with _aws_errors("DescribeModelPackageGroup", f"group {group}"):
            try:
                response = self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
            except ClientError as exc:
                if _is_missing_model_package_group(exc):
                    return None
                raise
        return _record(response)

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
        with _aws_errors("ListModelPackages", f"group {group}"):
            paginator = self.sagemaker.get_paginator("list_model_packages")
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
        with _aws_errors("DescribeModelPackage", arn):
            try:
                response = self.sagemaker.describe_model_package(ModelPackageName=arn)
            except ClientError as exc:
                if _is_missing_model_package(exc):
                    return None
                raise
        return _record(response)

    def create_model_package(self, request: dict[str, Any]) -> str:
        """CreateModelPackage (a versioned package in request's group); return its ARN.
        `request` is the API's request, passed as it is."""
        group = request.get("ModelPackageGroupName", "?")
        with _aws_errors("CreateModelPackage", f"group {group}"):
            response = self.sagemaker.create_model_package(**request)
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
        with _aws_errors("UpdateModelPackage", arn):
            self.sagemaker.update_model_package(**params)

    def read_json(self, uri: str) -> Any:
        """The JSON document at an S3 URI (an evaluation report)."""
        try:
            bucket, key = _split_s3_uri(uri)
        except ValueError as exc:
            raise StageError("Cannot read JSON document", str(exc)) from exc
        if not bucket or not key:
            raise StageError("Cannot read JSON document", f"{uri!r} names no S3 object")
        with _aws_errors("GetObject", uri):
            content = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return json.loads(content)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
            raise StageError("Cannot read JSON document", f"{uri} is not JSON: {exc}") from exc

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        """DescribeTrainingJob of a pipeline's training step (for its input data), or None
        when there is no such job. `arn` is the job's ARN (a plain job name works too)."""
        name = arn.rsplit("/", 1)[-1]
        with _aws_errors("DescribeTrainingJob", arn):
            try:
                response = self.sagemaker.describe_training_job(TrainingJobName=name)
            except ClientError as exc:
                if _is_missing_training_job(exc):
                    return None
                raise
        return _record(response)

    # -- hosting: models, endpoint configs, endpoints ------------------------------------

    def _describe_hosting(
        self, operation: str, resource_type: str, name: str, call: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """`call`'s Describe* record, or None when the resource does not exist."""
        with _aws_errors(operation, f"{_HOSTING_NOUNS[resource_type]} {name}"):
            try:
                response = call()
            except ClientError as exc:
                if _is_missing_hosting_resource(exc, resource_type):
                    return None
                raise
        return _record(response)

    def describe_model(self, name: str) -> dict[str, Any] | None:
        """DescribeModel's record, or None when there is no model called `name`."""
        return self._describe_hosting(
            "DescribeModel", "model", name, lambda: self.sagemaker.describe_model(ModelName=name)
        )

    def create_model(self, request: dict[str, Any]) -> None:
        """CreateModel; `request` is the API's request, passed as it is."""
        with _aws_errors("CreateModel", f"model {request.get('ModelName', '?')}"):
            self.sagemaker.create_model(**request)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        """DescribeEndpointConfig's record, or None when there is no config called `name`."""
        return self._describe_hosting(
            "DescribeEndpointConfig",
            "endpoint-config",
            name,
            lambda: self.sagemaker.describe_endpoint_config(EndpointConfigName=name),
        )

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        """CreateEndpointConfig; `request` is the API's request, passed as it is."""
        name = request.get("EndpointConfigName", "?")
        with _aws_errors("CreateEndpointConfig", f"endpoint configuration {name}"):
            self.sagemaker.create_endpoint_config(**request)

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        """DescribeEndpoint's record (EndpointStatus, EndpointConfigName, ProductionVariants,
        PendingDeploymentSummary during an update, ...), or None when there is no endpoint
        called `name`."""
        return self._describe_hosting(
            "DescribeEndpoint",
            "endpoint",
            name,
            lambda: self.sagemaker.describe_endpoint(EndpointName=name),
        )

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        """CreateEndpoint on `config_name`, tagged with `tags`. Returns at once: the endpoint
        is Creating until describe_endpoint shows it InService (or Failed)."""
        params: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
        if tags:
            params["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        with _aws_errors("CreateEndpoint", f"endpoint {name}"):
            self.sagemaker.create_endpoint(**params)

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None:
        """UpdateEndpoint to `config_name`, with `deployment_config` (the API's
        DeploymentConfig: blue/green traffic shifting, auto-rollback alarms) when given.

        The new config's variant properties (instance count, weight) apply:
        RetainAllVariantProperties is False. Returns at once: the endpoint is Updating until
        it is InService on the new config, or back on the old one after a rollback.
        """
        params: dict[str, Any] = {
            "EndpointName": name,
            "EndpointConfigName": config_name,
            "RetainAllVariantProperties": False,
        }
        if deployment_config:
            params["DeploymentConfig"] = deployment_config
        with _aws_errors("UpdateEndpoint", f"endpoint {name} to {config_name}"):
            self.sagemaker.update_endpoint(**params)

    # -- hosting: CloudWatch alarms ------------------------------------------------------

    @property
    def cloudwatch(self) -> BaseClient:
        """The CloudWatch client, for the alarms an update rolls back on."""
        return self._client("cloudwatch")

    def put_metric_alarm(self, request: dict[str, Any]) -> None:
        """PutMetricAlarm (creates the alarm, or replaces the one of that name); `request` is
        the API's request, passed as it is."""
        with _aws_errors("PutMetricAlarm", f"alarm {request.get('AlarmName', '?')}"):
            self.cloudwatch.put_metric_alarm(**request)

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]:
        """The metric alarms called `names`, as DescribeAlarms reports them (StateValue,
        Threshold, ...), in the order of `names`; names with no alarm are left out.

        Every page is read, 100 names a request (the API's limit). No names, no call: an
        empty AlarmNames would describe every alarm in the account.
        """
        wanted = list(dict.fromkeys(names))  # once each, in order
        found: dict[str, dict[str, Any]] = {}
        with _aws_errors("DescribeAlarms", ", ".join(wanted)):
            paginator = self.cloudwatch.get_paginator("describe_alarms")
            for start in range(0, len(wanted), MAX_ALARM_NAMES):
                chunk = wanted[start : start + MAX_ALARM_NAMES]
                for page in paginator.paginate(AlarmNames=chunk):
                    for alarm in page.get("MetricAlarms", []):
                        found[alarm["AlarmName"]] = alarm
        return [found[name] for name in wanted if name in found]

    # -- hosting: Application Auto Scaling -----------------------------------------------

    @property
    def autoscaling(self) -> BaseClient:
        """The Application Auto Scaling client, for a variant's instance count."""
        return self._client("application-autoscaling")

    def register_scalable_target(self, request: dict[str, Any]) -> None:
        """RegisterScalableTarget (creates the target, or updates its capacities); `request`
        is the API's request, passed as it is."""
        with _aws_errors("RegisterScalableTarget", request.get("ResourceId", "?")):
            self.autoscaling.register_scalable_target(**request)

    def put_scaling_policy(self, request: dict[str, Any]) -> None:
        """PutScalingPolicy (creates the policy, or replaces the one of that name on the
        target); `request` is the API's request, passed as it is."""
        where = f"policy {request.get('PolicyName', '?')} on {request.get('ResourceId', '?')}"
        with _aws_errors("PutScalingPolicy", where):
            self.autoscaling.put_scaling_policy(**request)

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        """DeleteScalingPolicy of the variant's (`endpoint/<endpoint>/variant/<variant>`,
        dimension DesiredInstanceCount) policy `policy_name`."""
        with _aws_errors("DeleteScalingPolicy", f"policy {policy_name} on {resource_id}"):
            self.autoscaling.delete_scaling_policy(
                PolicyName=policy_name,
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            )

    def deregister_scalable_target(self, resource_id: str) -> None:
        """DeregisterScalableTarget of the variant (`endpoint/<endpoint>/variant/<variant>`,
        dimension DesiredInstanceCount)."""
        with _aws_errors("DeregisterScalableTarget", resource_id):
            self.autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            )

    # -- hosting: invocation -------------------------------------------------------------

    @property
    def runtime(self) -> BaseClient:
        """The SageMaker runtime client, for InvokeEndpoint: one attempt per call, no
        automatic retry. smoke-test measures the endpoint with these calls; a throttled or
        5xx answer that botocore retried away would be missing from its error rate and hidden
        in its latency."""
        return self._client("sagemaker-runtime", total_max_attempts=1)

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        """InvokeEndpoint, timed from the request to the response's last byte.

        The model's own answer comes back as an Invocation whatever its status: when the
        container answers with a non-2xx status, SageMaker raises ModelError carrying the
        container's status and message, and those become the Invocation's status and body
        (its content type is then unknown: ''). Anything else that fails (throttling, a
        missing or not yet InService endpoint, access denied) is a StageError.
        """
        started = time.perf_counter()
        with _aws_errors("InvokeEndpoint", f"endpoint {name}"):
            try:
                response = self.runtime.invoke_endpoint(
                    EndpointName=name, Body=body, ContentType=content_type, Accept=accept
                )
                payload = response["Body"].read()
            except ClientError as exc:
                if _error_code_and_message(exc)[0] != "ModelError":
                    raise
                return _model_error_invocation(exc, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return Invocation(
            status=int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)),
            body=payload,
            content_type=response.get("ContentType") or "",
            variant=response.get("InvokedProductionVariant") or "",
            seconds=seconds,
        )

    def describe_scalable_target(self, resource_id: str) -> dict[str, Any] | None:
        """The variant's scalable target (`endpoint/<endpoint>/variant/<variant>`, dimension
        DesiredInstanceCount) as DescribeScalableTargets reports it, with its scaling policies
        by name under "Policies" (DescribeScalingPolicies records), the shape the local
        backend keeps; None when the variant is not registered."""
        where = {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        }
        with _aws_errors("DescribeScalableTargets", resource_id):
            pages = self.autoscaling.get_paginator("describe_scalable_targets").paginate(
                **where, ResourceIds=[resource_id]
            )
            targets = [t for page in pages for t in page.get("ScalableTargets", [])]
        if not targets:
            return None
        with _aws_errors("DescribeScalingPolicies", resource_id):
            pages = self.autoscaling.get_paginator("describe_scaling_policies").paginate(
                **where, ResourceId=resource_id
            )
            policies = {
                p["PolicyName"]: p for page in pages for p in page.get("ScalingPolicies", [])
            }
        return {**targets[0], "Policies": policies}


def _model_error_invocation(exc: ClientError, seconds: float) -> Invocation:
    """The Invocation a ModelError reports: the container's status (OriginalStatusCode) and
    message (OriginalMessage). botocore puts these modelled fields at the top of the error
    response, beside "Error"."""
    response = exc.response
    metadata = response.get("ResponseMetadata", {})
    status = response.get("OriginalStatusCode") or metadata.get("HTTPStatusCode") or 424
    message = response.get("OriginalMessage")
    if message is None:
        message = response.get("Error", {}).get("Message", "")
    headers = metadata.get("HTTPHeaders", {})
    return Invocation(
        status=int(status),
        body=str(message).encode("utf-8"),
        content_type="",
        variant=headers.get("x-amzn-invoked-production-variant", ""),
        seconds=seconds,
    )
