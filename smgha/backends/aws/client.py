"""What every area of the `sagemaker` backend shares: the boto3 clients, the one error
translator, the not-found matchers, and every IAM table.

Every AWS call goes through `aws_errors`, which turns botocore's exceptions into a
`StageError` whose title names the operation ("CreatePipeline failed") and whose detail is
the service's error code and message, plus the missing IAM permission on access denied.

Credentials, and the endpoint, come from boto3's usual chain: the standard `AWS_ENDPOINT_URL`
variable is honoured (nothing here sets `endpoint_url`), which is how tests point the backend
at a moto server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
    # build-pipeline's from-step without source-execution-arn: the latest Succeeded execution.
    "ListPipelineExecutions": "sagemaker:ListPipelineExecutions",
    "DescribeProcessingJob": "sagemaker:DescribeProcessingJob",
    # The model registry (Registry), and the training job behind a package; its
    # evaluation reports are read with s3:GetObject (below).
    "DescribeModelPackageGroup": "sagemaker:DescribeModelPackageGroup",
    "ListModelPackages": "sagemaker:ListModelPackages",
    "DescribeModelPackage": "sagemaker:DescribeModelPackage",
    "CreateModelPackage": "sagemaker:CreateModelPackage",
    "UpdateModelPackage": "sagemaker:UpdateModelPackage",
    "DescribeTrainingJob": "sagemaker:DescribeTrainingJob",
    # build-pipeline's time and cost per step: a tuning step's trials.
    "DescribeHyperParameterTuningJob": "sagemaker:DescribeHyperParameterTuningJob",
    "ListTrainingJobsForHyperParameterTuningJob": "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    # build-pipeline checks that a definition file's code objects exist. HeadObject needs
    # s3:GetObject (S3 API Reference, HeadObject, "Permissions").
    "HeadObject": "s3:GetObject",
    # Hosting: models, endpoint configs, endpoints; the CloudWatch alarms a blue/green
    # update rolls back on; Application Auto Scaling of a variant's instances.
    "DescribeModel": "sagemaker:DescribeModel",
    "CreateModel": "sagemaker:CreateModel",
    "DescribeEndpointConfig": "sagemaker:DescribeEndpointConfig",
    "CreateEndpointConfig": "sagemaker:CreateEndpointConfig",
    "DescribeEndpoint": "sagemaker:DescribeEndpoint",
    # smgha endpoints idle-report: the InService endpoints, and deleting the idle ones
    # (only with --delete --yes).
    "ListEndpoints": "sagemaker:ListEndpoints",
    "DeleteEndpoint": "sagemaker:DeleteEndpoint",
    "CreateEndpoint": "sagemaker:CreateEndpoint",
    "UpdateEndpoint": "sagemaker:UpdateEndpoint",
    "PutMetricAlarm": "cloudwatch:PutMetricAlarm",
    "DescribeAlarms": "cloudwatch:DescribeAlarms",
    # shadow-test: each variant's metrics; idle-report: each variant's Invocations.
    "GetMetricData": "cloudwatch:GetMetricData",
    "RegisterScalableTarget": "application-autoscaling:RegisterScalableTarget",
    "PutScalingPolicy": "application-autoscaling:PutScalingPolicy",
    # deploy-endpoint reads a live variant's autoscaling to apply only what changed.
    "DescribeScalableTargets": "application-autoscaling:DescribeScalableTargets",
    "DescribeScalingPolicies": "application-autoscaling:DescribeScalingPolicies",
    # ... and takes it out of autoscaling while an update changes its instance type.
    "DeleteScalingPolicy": "application-autoscaling:DeleteScalingPolicy",
    "DeregisterScalableTarget": "application-autoscaling:DeregisterScalableTarget",
    # Model Monitor (Monitoring): monitoring schedules and the
    # baselining processing job (DescribeProcessingJob is above).
    "CreateMonitoringSchedule": "sagemaker:CreateMonitoringSchedule",
    "DescribeMonitoringSchedule": "sagemaker:DescribeMonitoringSchedule",
    "UpdateMonitoringSchedule": "sagemaker:UpdateMonitoringSchedule",
    "CreateProcessingJob": "sagemaker:CreateProcessingJob",
    # batch-transform: its transform job. ListObjectsV2: batch-transform's input and output
    # objects, shadow-test's data capture files of both variants.
    "CreateTransformJob": "sagemaker:CreateTransformJob",
    "DescribeTransformJob": "sagemaker:DescribeTransformJob",
    "StopTransformJob": "sagemaker:StopTransformJob",
    "ListObjectsV2": "s3:ListBucket",
    # price-table: aws-price-list (smgha/backends/aws/price_list.py). pricing:GetProducts has
    # no resource types (Service Authorization Reference, AWS Price List): Resource "*".
    "GetProducts": "pricing:GetProducts",
}

# Operations of the SageMaker runtime (botocore's `sagemaker-runtime` service), whose IAM
# actions carry the `sagemaker:` prefix. Kept apart from IAM_ACTIONS, where an action's
# prefix is also the botocore service that has the operation.
RUNTIME_IAM_ACTIONS: dict[str, str] = {
    "InvokeEndpoint": "sagemaker:InvokeEndpoint",
    # smoke-test on an asynchronous endpoint (its payloads are uploaded with s3:PutObject and
    # the answers read with s3:GetObject, in IAM_ACTIONS).
    "InvokeEndpointAsync": "sagemaker:InvokeEndpointAsync",
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
    "CreateMonitoringSchedule": ("sagemaker:AddTags",),
    # The baselining job's RoleArn is passed to SageMaker.
    "CreateProcessingJob": ("iam:PassRole", "sagemaker:AddTags"),
}

# Model Monitor's job definitions, by monitor kind: the operation family ("DataQuality" names
# Describe/Create/DeleteDataQualityJobDefinition) and botocore's snake_case of it. The rows
# of IAM_ACTIONS and IAM_EXTRA_ACTIONS for their operations follow from this table, so a new
# monitor kind is one row here; each job definition's RoleArn is passed to SageMaker.
JOB_DEFINITION_APIS: dict[str, tuple[str, str]] = {
    "data-quality": ("DataQuality", "data_quality"),
    "model-quality": ("ModelQuality", "model_quality"),
}
for _family, _ in JOB_DEFINITION_APIS.values():
    for _verb in ("Create", "Describe", "Delete"):
        IAM_ACTIONS[f"{_verb}{_family}JobDefinition"] = f"sagemaker:{_verb}{_family}JobDefinition"
    IAM_EXTRA_ACTIONS[f"Create{_family}JobDefinition"] = ("iam:PassRole", "sagemaker:AddTags")

# Error codes meaning "not allowed": SageMaker says AccessDeniedException, S3 AccessDenied.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


class AwsClients:
    """The boto3 clients of one region, each created on first use and shared by the areas."""

    def __init__(self, region: str, session: boto3.Session | None = None) -> None:
        self.region = region
        self._session = session
        self._clients: dict[str, BaseClient] = {}

    def client(self, service: str, total_max_attempts: int | None = None) -> BaseClient:
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
        return self.client("sagemaker")

    @property
    def s3(self) -> BaseClient:
        """The S3 client, for code, property files, evaluation reports and baselines."""
        return self.client("s3")

    @property
    def cloudwatch(self) -> BaseClient:
        """The CloudWatch client, for the alarms an update rolls back on."""
        return self.client("cloudwatch")

    @property
    def autoscaling(self) -> BaseClient:
        """The Application Auto Scaling client, for a variant's instance count."""
        return self.client("application-autoscaling")

    @property
    def runtime(self) -> BaseClient:
        """The SageMaker runtime client, for InvokeEndpoint: one attempt per call, no
        automatic retry. smoke-test measures the endpoint with these calls; a throttled or
        5xx answer that botocore retried away would be missing from its error rate and hidden
        in its latency."""
        return self.client("sagemaker-runtime", total_max_attempts=1)


# -- the error translator -------------------------------------------------------------------


def stage_error(operation: str, exc: ClientError, context: str = "") -> StageError:
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
        detail += cross_account_hint(message, context)
    return StageError(f"{operation} failed", detail)


_CALLER_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(?:sts|iam)::(\d{12}):")
_RESOURCE_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def cross_account_hint(message: str, context: str) -> str:
    """On access denied to a resource of another account, what else must allow it. The caller's
    account is in AWS's message ("User: arn:aws:sts::<account>:assumed-role/..."), the
    resource's in its ARN (the message's "on resource: ..." or the call's context). Across
    accounts IAM needs the resource's own policy to allow the call as well as the caller's
    (IAM User Guide, "Cross-account policy evaluation logic")."""
    caller = _CALLER_ACCOUNT.search(message)
    after = message[caller.end() :] if caller else message
    resource = _RESOURCE_ACCOUNT.search(after) or _RESOURCE_ACCOUNT.search(context)
    if caller is None or resource is None or caller.group(1) == resource.group(1):
        return ""
    return (
        f". The resource is in account {resource.group(1)} and the caller in account "
        f"{caller.group(1)}: across accounts the resource's own policy must allow the call too "
        "(the model package group's policy, the artifact bucket's policy or its KMS key's "
        "policy). infra/terraform creates them when it is given the deploy accounts' providers "
        '(docs/setup.md, "Separate accounts")'
    )


@contextmanager
def aws_errors(operation: str, context: str = "") -> Iterator[None]:
    """Turn any botocore error raised inside the block into a StageError about `operation`.

    ClientError is what the service answered; BotoCoreError is everything that happened on
    this side (no credentials, endpoint unreachable, a parameter the API model rejects).
    """
    try:
        yield
    except ClientError as exc:
        raise stage_error(operation, exc, context) from exc
    except BotoCoreError as exc:
        detail = f"{context}: {exc}" if context else str(exc)
        raise StageError(f"{operation} failed", detail) from exc


def describe_or_none(
    operation: str,
    context: str,
    call: Callable[[], dict[str, Any]],
    is_missing: Callable[[ClientError], bool],
) -> dict[str, Any] | None:
    """`call`'s Describe* record, or None when `is_missing` says the resource is not there."""
    with aws_errors(operation, context):
        try:
            response = call()
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
    return record(response)


def record(response: dict[str, Any]) -> dict[str, Any]:
    """A Describe* response without boto3's ResponseMetadata: the record itself."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") from "s3://bucket/key/prefix"."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


# -- not-found matchers ---------------------------------------------------------------------


def error_code_and_message(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return error.get("Code", ""), error.get("Message", "")


def is_missing_pipeline(exc: ClientError) -> bool:
    """Whether DescribePipeline failed because the pipeline does not exist."""
    code, message = error_code_and_message(exc)
    # The real service: ResourceNotFound, "Pipeline '<arn>' does not exist."
    if code == "ResourceNotFound":
        return True
    # moto 5: ValidationException, "Could not find pipeline with PipelineName <name>."
    # Matched on the message too: other ValidationExceptions (a malformed name) are errors.
    return code == "ValidationException" and message.startswith("Could not find pipeline")


def is_missing_model_package_group(exc: ClientError) -> bool:
    """Whether DescribeModelPackageGroup failed because the group does not exist."""
    code, message = error_code_and_message(exc)
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


def is_missing_model_package(exc: ClientError) -> bool:
    """Whether DescribeModelPackage failed because the package does not exist."""
    code, message = error_code_and_message(exc)
    if code == "ResourceNotFound":
        return True
    if code != "ValidationException":
        return False
    # The real service: "ModelPackage <arn> does not exist."
    # moto 5: "Model package <arn or name> not found".
    return (message.startswith("ModelPackage ") and message.endswith(" does not exist.")) or (
        message.startswith("Model package ") and message.endswith(" not found")
    )


def is_missing_training_job(exc: ClientError) -> bool:
    """Whether DescribeTrainingJob failed because the job does not exist."""
    code, message = error_code_and_message(exc)
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
HOSTING_NOUNS = {
    "model": "model",
    "endpoint-config": "endpoint configuration",
    "endpoint": "endpoint",
}


def _missing_hosting_pattern(resource_type: str) -> re.Pattern[str]:
    noun = re.escape(HOSTING_NOUNS[resource_type])
    arn = rf"arn:[\w-]+:sagemaker:[\w-]+:\d{{12}}:{re.escape(resource_type)}/[^\"'/]+"
    return re.compile(rf"""Could not find {noun} (["']){arn}\1\.?""")


_MISSING_HOSTING = {kind: _missing_hosting_pattern(kind) for kind in HOSTING_NOUNS}


def is_missing_hosting_resource(exc: ClientError, resource_type: str) -> bool:
    """Whether a Describe* call failed because the model, endpoint config or endpoint
    (`resource_type` as its ARN names it) does not exist. Other ValidationExceptions (a
    malformed name, a missing resource of another kind) are errors."""
    code, message = error_code_and_message(exc)
    return code == "ValidationException" and bool(
        _MISSING_HOSTING[resource_type].fullmatch(message)
    )


def is_missing_monitoring_resource(exc: ClientError) -> bool:
    """Whether a Model Monitor Describe* call failed because the resource does not exist:
    the API model declares ResourceNotFound (what moto 5 answers for job definitions too); a
    ValidationException saying it does not exist is taken the same way."""
    code, message = error_code_and_message(exc)
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and (
        "does not exist" in message or message.startswith("Could not find")
    )
