"""enable-monitor's inputs: the rules each one and each pair of them follow, checked before
anything is read or created (the stage smgha/stages/enable_monitor.py loads them). The
model-quality inputs are resources/model_quality.py's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smgha.aws_values import aws_value
from smgha.errors import InputError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    execution_role_arn,
    local_state_folder,
    positive_number,
    s3_prefix,
    s3_uri,
    sns_topic_arn,
    whole_number,
    workspace_file,
)
from smgha.resources import model_quality, model_quality_inputs
from smgha.resources.monitoring import HOURLY, validate_schedule
from smgha.resources.names import alarmed_endpoint_name

# Messages users act on: (problem, fix), the problem's {fields} filled in where raised.
OUTPUT_REQUIRED = (
    "is required with backend: sagemaker",
    "Set output-s3-uri to s3://<bucket>/monitoring/{endpoint}, the bucket being {bucket}.",
)
NO_LOCAL_BASELINING_JOB = (
    "job runs a SageMaker processing job, which the local backend does not have",
    "Use baseline-method: in-process with backend: local.",
)
JOB_NEEDS_S3 = (
    "must be an s3:// URI with baseline-method: job, got {uri}",
    "The baselining job reads S3; upload the CSV, or use baseline-method: in-process.",
)
THRESHOLD_ABOVE_ONE = (
    "must be at most 1, got {threshold:g}",
    "It is a distance between two distributions (0-1).",
)
INPUTS = (
    InputSpec(
        "backend",
        "Where the endpoint runs: sagemaker (AWS) or local (a server on this machine).",
        "sagemaker",
    ),
    REGION_INPUT,
    InputSpec("endpoint-name", "The endpoint to monitor.", required=True),
    InputSpec(
        "baseline-data-uri",
        "The training data the baseline is computed from: a CSV file, as an s3:// URI or a path relative to the workspace.",
        required=True,
    ),
    InputSpec(
        "label-column",
        "first: each row's first value is the label, dropped (the endpoint receives features only); none: every column is a feature.",
        "first",
    ),
    InputSpec(
        "header",
        "Whether the CSV's first line names the columns. Without one the features are _c0, _c1, ... as Model Monitor names them.",
        "false",
        is_bool=True,
    ),
    InputSpec(
        "output-s3-uri",
        "Where the baseline (baseline/) and the monitoring reports (reports/) go, s3://bucket/prefix. Required with backend: sagemaker: a prefix in the Terraform module's artifact bucket (terraform output -raw artifact_bucket_name), e.g. s3://<bucket>/monitoring/<endpoint>. No default there: nothing creates a sagemaker-<region>-<account> bucket and the Terraform roles do not allow one. Local: defaults to s3://smgha-local/monitoring/<endpoint>.",
    ),
    InputSpec(
        "schedule-expression",
        "When the monitoring job runs: cron(0 * ? * * *) hourly, cron(0 H ? * * *) daily at hour H, cron(0 H/N ? * * *) every N hours from hour H.",
        HOURLY,
    ),
    InputSpec(
        "sns-topic-arn",
        "SNS topic the drift alarms notify (arn:aws:sns:<region>:<account>:<name>). Empty: alarms without actions.",
    ),
    InputSpec(
        "role-arn",
        "Execution role of the monitoring (and baselining) jobs. Required for the sagemaker backend.",
    ),
    InputSpec("instance-type", "Instance type of the monitoring jobs.", "ml.m5.large"),
    InputSpec(
        "data-capture-percent",
        "Share of requests captured (1-100), used only when the endpoint's data capture is off.",
        "100",
    ),
    InputSpec(
        "capture-s3-uri",
        "Where captured data goes when capture is turned on. Default: <output-s3-uri>/capture.",
    ),
    InputSpec(
        "baseline-method",
        "in-process: compute the baseline here; job: a SageMaker baselining processing job (sagemaker backend only).",
        "in-process",
    ),
    InputSpec(
        "drift-threshold",
        "Distribution distance (0-1) above which a feature has drifted: the constraints' comparison_threshold and the alarms' threshold.",
        "0.1",
    ),
    InputSpec(
        "timeout-minutes",
        "How long to wait for the endpoint update and for a baselining job.",
        "60",
    ),
    *model_quality_inputs.INPUTS,
)


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    endpoint_name: str
    baseline_data_uri: str
    label_column: str
    header: bool
    output_uri: str  # s3://bucket/prefix, never '' (_output_uri)
    schedule_expression: str
    sns_topic_arn: str
    role_arn: str
    instance_type: str
    data_capture_percent: int
    capture_uri: str  # '' -> <output>/capture
    baseline_method: str
    drift_threshold: float
    timeout_seconds: float
    workspace: Path
    model_quality: model_quality.Settings | None  # None: data quality only


# ---- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buckets:
    """The stages' bucket conventions (smgha/stages: LOCAL_BUCKET, ARTIFACT_BUCKET_HINT)."""

    local: str  # the local backend's bucket
    artifact_hint: str  # how to name the artifact bucket on the sagemaker backend


def _output_uri(values: InputValues, backend: str, endpoint: str, buckets: Buckets) -> str:
    """Where the baseline and the reports go: the input, or on the local backend
    s3://smgha-local/monitoring/<endpoint>. The sagemaker backend has no default
    (ARTIFACT_BUCKET_HINT says why)."""
    uri = s3_prefix("output-s3-uri", values["output-s3-uri"])
    if uri or backend == "local":
        return uri or f"s3://{buckets.local}/monitoring/{endpoint}"
    problem, fix = OUTPUT_REQUIRED
    raise InputError(
        "output-s3-uri", problem, fix.format(endpoint=endpoint, bucket=buckets.artifact_hint)
    )


def _baseline_method(values: InputValues, backend: str) -> str:
    method = choice("baseline-method", values["baseline-method"], ("in-process", "job"))
    if method == "job" and backend != "sagemaker":
        raise InputError("baseline-method", *NO_LOCAL_BASELINING_JOB)
    return method


def _baseline_data(values: InputValues, backend: str, method: str, workspace: Path) -> str:
    data_uri = values["baseline-data-uri"]
    if method == "job" and not data_uri.startswith("s3://"):
        problem, fix = JOB_NEEDS_S3
        raise InputError("baseline-data-uri", problem.format(uri=shown(data_uri)), fix)
    if data_uri.startswith("s3://"):
        s3_uri("baseline-data-uri", data_uri, "s3://my-bucket/data/train.csv")
    else:
        workspace_file("baseline-data-uri", data_uri, workspace, local_state_folder(backend))
    return data_uri


def checked_inputs(values: InputValues, workspace: Path, buckets: Buckets) -> Inputs:
    """enable-monitor's inputs, after every rule (InputError naming the input otherwise)."""
    name, region = backend_and_region(values)
    endpoint = alarmed_endpoint_name("endpoint-name", values["endpoint-name"])
    role = execution_role_arn(values["role-arn"], name)
    method = _baseline_method(values, name)
    capture_percent = whole_number(
        "data-capture-percent",
        values["data-capture-percent"],
        1,
        100,
        "It is a percentage of requests.",
    )
    threshold = positive_number("drift-threshold", values["drift-threshold"])
    if threshold > 1:
        problem, fix = THRESHOLD_ABOVE_ONE
        raise InputError("drift-threshold", problem.format(threshold=threshold), fix)
    return Inputs(
        backend=name,
        region=region,
        endpoint_name=endpoint,
        baseline_data_uri=_baseline_data(values, name, method, workspace),
        label_column=choice("label-column", values["label-column"], ("first", "none")),
        header=values.flag("header"),
        output_uri=_output_uri(values, name, endpoint, buckets),
        schedule_expression=validate_schedule(values["schedule-expression"]),
        sns_topic_arn=sns_topic_arn("sns-topic-arn", values["sns-topic-arn"], region),
        role_arn=role,
        instance_type=aws_value(
            "instance-type", values["instance-type"], "sagemaker", "ProcessingInstanceType"
        ),
        data_capture_percent=capture_percent,
        capture_uri=s3_prefix("capture-s3-uri", values["capture-s3-uri"]),
        baseline_method=method,
        drift_threshold=threshold,
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
        workspace=workspace,
        model_quality=model_quality_inputs.checked_inputs(values),
    )
