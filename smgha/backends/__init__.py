"""What a stage needs from a backend, and how to get one by name.

A stage never asks which backend it has: `sagemaker` calls AWS with boto3, `local` runs the
same definitions on this machine. Both speak in SageMaker's own terms (ARNs, statuses, step
metadata shaped like `ListPipelineExecutionSteps`), so stage logic is written once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

BACKENDS = ("sagemaker", "local")

# Pipeline execution statuses, as SageMaker names them.
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass(frozen=True)
class StepRecord:
    """One step of an execution, as `ListPipelineExecutionSteps` reports it."""

    name: str
    status: str  # Starting | Executing | Stopping | Stopped | Failed | Succeeded
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    failure_reason: str = ""
    # The step's `Metadata` as SageMaker returns it, e.g. {"ProcessingJob": {"Arn": ...}},
    # {"RegisterModel": {"Arn": ...}}, {"Condition": {"Outcome": "True"}}, {"Fail": {...}}.
    metadata: dict[str, Any] = field(default_factory=dict)
    # The execution whose run of this step was reused instead of running it: by step caching
    # (CacheHitResult.SourcePipelineExecutionArn) or, for a step a selective execution did not
    # select, by that execution (SelectiveExecutionResult.SourcePipelineExecutionArn).
    cache_hit_from: str = ""
    reused_from: str = ""

    @property
    def seconds(self) -> float | None:
        if self.started and self.ended:
            return (self.ended - self.started).total_seconds()
        return None


def registered_model_package(steps: list[StepRecord]) -> str:
    """The ARN a register step recorded, whatever the step is called (the SDK renames it)."""
    for step in steps:
        arn = (step.metadata.get("RegisterModel") or {}).get("Arn")
        if arn and step.status == "Succeeded":
            return str(arn)
    return ""


@dataclass(frozen=True)
class ExecutionRecord:
    """A pipeline execution, as `DescribePipelineExecution` reports it."""

    arn: str
    status: str  # Executing | Stopping | Stopped | Failed | Succeeded
    failure_reason: str = ""
    started: dt.datetime | None = None
    ended: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class SelectiveExecution:
    """StartPipelineExecution's SelectiveExecutionConfig: run only `selected_steps`, reusing the
    other steps' outputs from the execution `source_arn` of the same pipeline."""

    source_arn: str
    selected_steps: tuple[str, ...]

    def to_request(self) -> dict[str, Any]:
        """As StartPipelineExecution takes it (and DescribePipelineExecution shows it)."""
        return {
            "SourcePipelineExecutionArn": self.source_arn,
            "SelectedSteps": [{"StepName": step} for step in self.selected_steps],
        }


class Pipelines(Protocol):
    """Pipelines: create or update, start, watch."""

    # Seconds between two polls of a running execution.
    poll_seconds: float

    def prepare_to_run(self) -> None:
        """Get ready for an execution that is about to start, in the background (the local
        backend starts its warm worker, which imports while the definition builds)."""

    def get_pipeline_definition(self, name: str) -> dict[str, Any] | None:
        """The deployed definition of pipeline `name`, or None when there is none."""

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        """Create the pipeline or update it in place; return (pipeline ARN, created)."""

    def start_execution(
        self,
        name: str,
        parameters: dict[str, str],
        token: str,
        selective: SelectiveExecution | None = None,
    ) -> str:
        """Start an execution (of only some steps, with `selective`); the same `token` again
        returns the same execution's ARN."""

    def latest_execution(self, name: str, status: str) -> str:
        """The ARN of the newest execution of pipeline `name` with `status`; '' when none."""

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        """The execution's status. Raises StageError when it does not exist."""

    def list_steps(self, execution_arn: str) -> list[StepRecord]:
        """The execution's steps in the order they started."""

    def read_property_file(
        self, execution_arn: str, step_name: str, output_name: str, file_path: str
    ) -> Any:
        """The parsed JSON of a processing step's property file, as `Std:JsonGet` reads it:
        the file `file_path` inside the step's output `output_name`."""


class Registry(Protocol):
    """The model registry: groups of versioned model packages, in SageMaker's shapes.

    Records are the API's Describe* responses (ModelPackageArn, ModelPackageVersion,
    ModelApprovalStatus, ApprovalDescription, CustomerMetadataProperties, ModelMetrics,
    InferenceSpecification, CreationTime, ...), so stage code reads both backends alike.
    """

    def describe_model_package_group(self, group: str) -> dict[str, Any] | None:
        """The group's record, or None when there is no such group."""

    def list_model_packages(
        self, group: str, approval_status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's versioned packages, newest first, as full Describe records; only
        those with `approval_status` when given, and at most `limit` of them."""

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        """The package's record, or None when there is no such package."""

    def create_model_package(self, request: dict[str, Any]) -> str:
        """CreateModelPackage (a versioned package in request's group); return its ARN."""

    def update_model_package(
        self,
        arn: str,
        approval_status: str | None = None,
        approval_description: str | None = None,
        customer_metadata: dict[str, str] | None = None,
    ) -> None:
        """UpdateModelPackage. `customer_metadata` keys are added or overwritten, never removed."""

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        """DescribeTrainingJob of a pipeline's training step (for its input data), or None."""

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        """DescribeHyperParameterTuningJob of a pipeline's tuning step, or None."""

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        """ListTrainingJobsForHyperParameterTuningJob's TrainingJobSummaries (every trial, as
        the API returns them, all pages), or None when they cannot be listed (no such job)."""


@dataclass(frozen=True)
class Invocation:
    """One InvokeEndpoint call, as the client saw it."""

    status: int  # HTTP status of the response (200 on success)
    body: bytes
    content_type: str
    variant: str  # the production variant that answered ('' when unknown)
    seconds: float  # wall time of the call


@dataclass(frozen=True)
class VariantStatistics:
    """One variant's invocation metrics over a window, as CloudWatch's AWS/SageMaker
    per-VariantName metrics give them (ModelLatency is in microseconds there)."""

    invocations: int
    errors: int  # Invocation4XXErrors + Invocation5XXErrors
    p50_ms: float | None  # None: no ModelLatency data point in the window
    p99_ms: float | None


class Hosting(Protocol):
    """Models, endpoint configs, endpoints and their invocation, in SageMaker's shapes.

    Records are the API's Describe* responses. Updates are asynchronous, as in SageMaker:
    create/update return at once and `describe_endpoint` shows the status moving
    (Creating/Updating -> InService, or Failed; a rolled-back blue/green update ends
    InService on the old EndpointConfigName).
    """

    # Seconds between two polls of an endpoint that is being created or updated.
    poll_seconds: float

    def serving_refusal(self, package: dict[str, Any]) -> tuple[str, str] | None:
        """Why this backend cannot serve the model package (DescribeModelPackage's record),
        as (problem, fix); None when it can. deploy-endpoint asks before any create.
        SageMaker runs any image; the local backend runs no container (images.py there)."""
        ...

    def describe_model(self, name: str) -> dict[str, Any] | None: ...

    def create_model(self, request: dict[str, Any]) -> None: ...

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None: ...

    def create_endpoint_config(self, request: dict[str, Any]) -> None: ...

    def describe_endpoint(self, name: str) -> dict[str, Any] | None: ...

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None: ...

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None: ...

    def delete_endpoint(self, name: str) -> None:
        """DeleteEndpoint: the endpoint only (its config and model stay). Returns at once:
        describe_endpoint shows it Deleting until it is gone (smgha/endpoint_removal.py)."""
        ...

    def put_metric_alarm(self, request: dict[str, Any]) -> None: ...

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]: ...

    def register_scalable_target(self, request: dict[str, Any]) -> None: ...

    def put_scaling_policy(self, request: dict[str, Any]) -> str:
        """PutScalingPolicy; the policy's PolicyARN (an alarm's AlarmActions names it)."""
        ...

    def describe_scalable_target(
        self, resource_id: str, dimension: str = "sagemaker:variant:DesiredInstanceCount"
    ) -> dict[str, Any] | None:
        """The variant's scalable target of `dimension` (its instance count, or a serverless
        variant's sagemaker:variant:DesiredProvisionedConcurrency) with its policies by name
        under "Policies"; None when the variant is not registered."""
        ...

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        """DeleteScalingPolicy of the variant's (`endpoint/<endpoint>/variant/<variant>`)."""
        ...

    def deregister_scalable_target(self, resource_id: str) -> None:
        """DeregisterScalableTarget: the variant's instance count is no longer scaled."""
        ...

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation: ...

    def variant_statistics(
        self, endpoint: str, variants: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, VariantStatistics]:
        """Each variant's (production or shadow) invocations, errors and ModelLatency p50 and
        p99 from `start` to `end` (shadow-test compares them)."""

    def invoke_endpoint_async(
        self, name: str, input_location: str, content_type: str, accept: str = "text/csv"
    ) -> dict[str, Any]:
        """InvokeEndpointAsync of the payload at `input_location` (s3://): its response's
        InferenceId, OutputLocation and FailureLocation. The endpoint's config must have an
        AsyncInferenceConfig."""
        ...

    def async_result(self, name: str, submitted: dict[str, Any]) -> Invocation | None:
        """The answer of an InvokeEndpointAsync (`submitted`: its response) once it is at its
        output location (status 200) or its failure location (the failure's status); None
        while neither holds it. Invocation.seconds is 0: the caller times the wait."""
        ...


class Monitoring(Protocol):
    """Model Monitor: job definitions by monitor kind, monitoring schedules, and the
    baselining processing job, in SageMaker's shapes.

    `kind` names the monitor: "data-quality" (the DataQuality*JobDefinition APIs) is the
    only one today; each adapter maps a kind to its APIs in one table, so another kind
    (model quality) is one row there. Requests and records are the API's own.
    """

    def describe_job_definition(self, kind: str, name: str) -> dict[str, Any] | None:
        """Describe<Kind>JobDefinition's record, or None when there is no such definition."""
        ...

    def create_job_definition(self, kind: str, request: dict[str, Any]) -> None:
        """Create<Kind>JobDefinition; `request` is the API's request, passed as it is.
        Definitions are immutable: a changed one is a new one."""
        ...

    def delete_job_definition(self, kind: str, name: str) -> None:
        """Delete<Kind>JobDefinition."""
        ...

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None: ...

    def create_monitoring_schedule(self, request: dict[str, Any]) -> None: ...

    def update_monitoring_schedule(self, request: dict[str, Any]) -> None: ...

    def create_processing_job(self, request: dict[str, Any]) -> None: ...

    def describe_processing_job(self, name: str) -> dict[str, Any] | None: ...


class Objects(Protocol):
    """S3 objects: the code a definition refers to, reports, baselines."""

    def put_object(self, uri: str, body: bytes) -> None:
        """Store `body` at `s3://bucket/key` (the code a definition refers to)."""

    def missing_objects(self, uris: list[str]) -> list[str]:
        """Those of the `s3://bucket/key` objects that do not exist (or cannot be read)."""

    def read_object(self, uri: str) -> bytes:
        """The bytes of the object at an s3:// URI."""

    def read_json(self, uri: str) -> Any:
        """The JSON document at an S3 URI (an evaluation report, a baseline)."""

    def list_objects(self, uri: str) -> list[str]:
        """The s3:// URIs of every object whose key starts with the URI's key, in key order
        (a batch transform's input and output objects)."""


class Transforms(Protocol):
    """Batch transform jobs, in SageMaker's shapes: CreateTransformJob's request as it is,
    DescribeTransformJob's record (TransformJobStatus InProgress -> Completed, Failed or
    Stopped; FailureReason). The local backend runs the job over local S3 with the model's
    serving container (smgha/backends/local/transform.py)."""

    # Seconds between two polls of a running job.
    poll_seconds: float

    def create_transform_job(self, request: dict[str, Any]) -> None: ...

    def describe_transform_job(self, name: str) -> dict[str, Any] | None:
        """The job's record, or None when there is no such job."""
        ...

    def stop_transform_job(self, name: str) -> None: ...


class Backend(Protocol):
    """Everything a backend offers, by service area; each adapter implements all of it.

    Read-only properties here, so an adapter may hold each area as a plain attribute of its
    own concrete type (mypy then checks that type against the area's Protocol)."""

    @property
    def pipelines(self) -> Pipelines: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def hosting(self) -> Hosting: ...

    @property
    def monitoring(self) -> Monitoring: ...

    @property
    def objects(self) -> Objects: ...

    @property
    def transforms(self) -> Transforms: ...


def backend(
    name: str, region: str, *, log: Callable[[str], None], mask: Callable[[str], None]
) -> Backend:
    """The backend called `name`. Heavy modules load only when chosen.

    `log` and `mask` are the stage's runner.info and runner.set_secret: the sagemaker
    backend's session renews oidc-auth's credentials while a stage waits, logging and masking
    through them (smgha/aws_session.py)."""
    if name == "sagemaker":
        from smgha.aws_session import aws_session
        from smgha.backends.aws import SageMakerBackend

        return SageMakerBackend(region=region, session=aws_session(log=log, mask=mask))
    if name == "local":
        from smgha.backends.local import LocalBackend

        return LocalBackend(region=region)
    raise ValueError(f"unknown backend {name!r}")


# ---- the AWS Price List Query API (price-table: aws-price-list) -----------------------------


class PriceListUnavailable(Exception):
    """The AWS Price List Query API gave no answer: denied, failed, or no AWS at all. The
    message says why, for the summary's source line; a price is never worth failing a stage."""


class ProductSearch(Protocol):
    """GetProducts of the AWS Price List Query API: the `PriceList` of every page (each entry
    one product and its terms, as a JSON string) of the products matching `filters`."""

    def __call__(self, service_code: str, filters: list[dict[str, str]]) -> list[str]: ...


def price_list_search(
    name: str, region: str, *, log: Callable[[str], None], mask: Callable[[str], None]
) -> ProductSearch | None:
    """GetProducts for the `sagemaker` backend (through the endpoint nearest `region`, with
    the stage's renewing session, created on the first call); None for `local`, which calls
    no AWS."""
    if name != "sagemaker":
        return None
    from smgha.aws_session import aws_session
    from smgha.backends.aws.price_list import GetProducts

    return GetProducts(lambda: aws_session(log=log, mask=mask), region)
