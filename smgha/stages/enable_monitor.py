"""enable-monitor: data capture, a data-quality baseline, a monitoring schedule, drift alarms.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  MonitorPlan   (reads only)
                                                         |
                              apply(plan, backend, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

1. Data capture: left alone when the live endpoint config captures; otherwise a new config
   (the live one + DataCaptureConfig, named after the live one and a hash of the request)
   and an all-at-once update of the endpoint, waited on until InService.
2. Baseline: statistics.json and constraints.json in Model Monitor's format (smgha.monitor),
   computed here from the training CSV, or by a SageMaker baselining processing job
   (baseline-method: job) with the model-monitor analyzer image.
3. A data-quality job definition (immutable, so named after a hash of its request: the same
   inputs find the same one) and a monitoring schedule on it (created, or updated in place).
4. One CloudWatch alarm per feature on `feature_baseline_drift_<feature>`, above the
   constraints' comparison_threshold, notifying the SNS topic when given.

A second run with the same inputs changes nothing but re-writing the baseline and the alarms
(both in place): no new config, job definition, schedule or alarm.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from smgha import monitor
from smgha.aws_values import aws_value
from smgha.backends import EndpointBackend, backend
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    backend_and_region,
    choice,
    local_state_folder,
    positive_number,
    s3_uri,
    whole_number,
    workspace_file,
)
from smgha.progress import Waiting
from smgha.resources.names import alarmed_endpoint_name, bounded_sagemaker_name
from smgha.runner import Runner
from smgha.stages import ARTIFACT_BUCKET_HINT, LOCAL_BUCKET, OutputSpec, run_stage

STAGE = "enable-monitor"
HOURLY = "cron(0 * ? * * *)"
# Where the analyzer publishes a real-time endpoint's data-quality metrics, and the dimensions
# it publishes them with (alarm_requests). Decided with sources, not confirmed against a live
# account (docs/aws-fidelity.md): the guide's BYOC page recommends the dimensions Endpoint and
# MonitoringSchedule for real-time endpoints ("We recommend you add the following dimensions
# at minimum: Endpoint and MonitoringSchedule", model-monitor-byoc-cloudwatch.md), its bias
# and model-quality pages list the same two for the built-in containers
# (clarify-model-monitor-bias-drift-cw.md), and AWS's own sample alarms on
# feature_baseline_drift_<feature> in this namespace with exactly these two dimensions
# (aws-samples/amazon-sagemaker-drift-detection, deployment_pipeline/infra/sagemaker_stack.py).
# The one page that differs (model-monitor-interpreting-cloudwatch.md: namespace
# "/aws/sagemaker/Endpoints/data-metric", dimensions EndpointName and ScheduleName) spells the
# namespace unlike every other page and sample, so it is read as a documentation error. If the
# dimensions were wrong the alarms would stay INSUFFICIENT_DATA and, with notBreaching, never
# fire: check a first monitoring run in CloudWatch (ListMetrics on this namespace).
METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"
# The registry account of the model-monitor analyzer image per region (as the SageMaker
# Python SDK's image_uri_config/model-monitor.json lists them).
ANALYZER_ACCOUNTS = {
    "af-south-1": "875698925577", "ap-east-1": "001633400207", "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524", "ap-northeast-3": "990339680094", "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158", "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-central-2": "590183933784", "eu-north-1": "895015795356",
    "eu-south-1": "933208885752", "eu-south-2": "437450045455", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "il-central-1": "843974653677",
    "me-central-1": "588750061953", "me-south-1": "607024016150", "sa-east-1": "539772159869",
    "us-east-1": "156813124566", "us-east-2": "777275614652", "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}  # fmt: skip
CONTAINER_INPUT = "/opt/ml/processing/input/endpoint"
CONTAINER_BASELINE_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
CONTAINER_OUTPUT = "/opt/ml/processing/output"

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
)

OUTPUTS = (
    OutputSpec("schedule-name", "The monitoring schedule."),
    OutputSpec("baseline-statistics-uri", "S3 URI of the baseline statistics.json."),
    OutputSpec("baseline-constraints-uri", "S3 URI of the baseline constraints.json."),
    OutputSpec("alarm-names", "JSON list of the drift alarms, one per feature."),
)


class MonitoringBackend(EndpointBackend, Protocol):
    """What this stage needs: hosting, objects, and Model Monitor's resources."""

    poll_seconds: float

    def put_object(self, uri: str, body: bytes) -> None: ...

    def read_object(self, uri: str) -> bytes: ...

    def read_json(self, uri: str) -> Any: ...

    def describe_data_quality_job_definition(self, name: str) -> dict[str, Any] | None: ...

    def create_data_quality_job_definition(self, request: dict[str, Any]) -> None: ...

    def delete_data_quality_job_definition(self, name: str) -> None: ...

    def describe_monitoring_schedule(self, name: str) -> dict[str, Any] | None: ...

    def create_monitoring_schedule(self, request: dict[str, Any]) -> None: ...

    def update_monitoring_schedule(self, request: dict[str, Any]) -> None: ...

    def create_processing_job(self, request: dict[str, Any]) -> None: ...

    def describe_processing_job(self, name: str) -> dict[str, Any] | None: ...


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


# ---- inputs -------------------------------------------------------------------------------------

# re.ASCII: without it \d takes any Unicode digit, and int() reads "１２" as 12.
_CRON = re.compile(r"cron\(0 (\*|\d{1,2}|\d{1,2}/\d{1,2}) \? \* \* \*\)", re.ASCII)
_SNS = re.compile(
    r"arn:aws[a-z-]*:sns:(?P<region>[a-z]{2}(-[a-z]+)+-\d):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?",
    re.ASCII,
)


def schedule_period(expression: str) -> int:
    """Seconds between two runs of a valid schedule expression."""
    hours = expression[len("cron(0 ") :].split(" ", 1)[0]
    if hours == "*":
        return 3600
    if "/" in hours:
        return min(86400, 3600 * int(hours.split("/")[1]))
    return 86400


def validate_schedule(text: str) -> str:
    expression = text.strip()
    hint = (
        "Model Monitor takes cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H, "
        "0-23) or cron(0 H/N ? * * *) (every N hours from hour H, N 1-24)."
    )
    found = _CRON.fullmatch(expression)
    if not found:
        raise InputError(
            "schedule-expression", f"{shown(text)} is not a schedule Model Monitor accepts", hint
        )
    hours = found.group(1)
    if hours != "*":
        start, _, step = hours.partition("/")
        if not 0 <= int(start) <= 23 or (step and not 1 <= int(step) <= 24):
            raise InputError("schedule-expression", f"{shown(text)}: hour out of range", hint)
    return expression


def validate_sns_topic(text: str, region: str) -> str:
    if not text:
        return ""
    found = _SNS.fullmatch(text)
    if not found:
        raise InputError(
            "sns-topic-arn",
            f"{shown(text)} is not an SNS topic ARN",
            "E.g. arn:aws:sns:us-east-1:123456789012:model-drift.",
        )
    if found.group("region") != region:
        raise InputError(
            "sns-topic-arn",
            f"the topic is in {found.group('region')}, the alarms in {region}",
            "CloudWatch alarms notify topics of their own region; use a topic there.",
        )
    return text


def _s3_uri(name: str, text: str) -> str:
    """An optional s3:// prefix input, without its trailing slash ("" when not given)."""
    return s3_uri(name, text).rstrip("/") if text else ""


def _output_uri(runner: Runner, backend: str, endpoint: str) -> str:
    """Where the baseline and the reports go: the input, or on the local backend
    s3://smgha-local/monitoring/<endpoint>. The sagemaker backend has no default
    (ARTIFACT_BUCKET_HINT says why)."""
    uri = _s3_uri("output-s3-uri", runner.get_input("output-s3-uri"))
    if uri or backend == "local":
        return uri or f"s3://{LOCAL_BUCKET}/monitoring/{endpoint}"
    raise InputError(
        "output-s3-uri",
        "is required with backend: sagemaker",
        f"Set output-s3-uri to s3://<bucket>/monitoring/{endpoint}, the bucket being "
        f"{ARTIFACT_BUCKET_HINT}.",
    )


def load_inputs(runner: Runner) -> Inputs:
    name, region = backend_and_region(runner)
    endpoint = alarmed_endpoint_name(
        "endpoint-name", runner.get_input("endpoint-name", required=True)
    )
    role = runner.get_input("role-arn")
    if name == "sagemaker" and (not role.startswith("arn:") or ":role/" not in role):
        raise InputError(
            "role-arn",
            f"is required with backend: sagemaker and must be an IAM role ARN, got {shown(role)}",
            "Set the role the monitoring jobs run as.",
        )
    if role:
        aws_value("role-arn", role, "sagemaker", "RoleArn")
    method = choice(
        "baseline-method",
        runner.get_input("baseline-method") or "in-process",
        ("in-process", "job"),
    )
    if method == "job" and name != "sagemaker":
        raise InputError(
            "baseline-method",
            "job runs a SageMaker processing job, which the local backend does not have",
            "Use baseline-method: in-process with backend: local.",
        )
    capture_percent = whole_number(
        "data-capture-percent",
        runner.get_input("data-capture-percent") or "100",
        1,
        100,
        "It is a percentage of requests.",
    )
    threshold = positive_number("drift-threshold", runner.get_input("drift-threshold") or "0.1")
    if threshold > 1:
        raise InputError(
            "drift-threshold",
            f"must be at most 1, got {threshold:g}",
            "It is a distance between two distributions (0-1).",
        )
    data_uri = runner.get_input("baseline-data-uri", required=True)
    if method == "job" and not data_uri.startswith("s3://"):
        raise InputError(
            "baseline-data-uri",
            f"must be an s3:// URI with baseline-method: job, got {shown(data_uri)}",
            "The baselining job reads S3; upload the CSV, or use baseline-method: in-process.",
        )
    env = runner.env
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    if data_uri.startswith("s3://"):
        s3_uri("baseline-data-uri", data_uri, "s3://my-bucket/data/train.csv")
    else:
        workspace_file("baseline-data-uri", data_uri, workspace, local_state_folder(name))
    return Inputs(
        backend=name,
        region=region,
        endpoint_name=endpoint,
        baseline_data_uri=data_uri,
        label_column=choice(
            "label-column", runner.get_input("label-column") or "first", ("first", "none")
        ),
        header=runner.get_bool_input("header", default=False),
        output_uri=_output_uri(runner, name, endpoint),
        schedule_expression=validate_schedule(runner.get_input("schedule-expression") or HOURLY),
        sns_topic_arn=validate_sns_topic(runner.get_input("sns-topic-arn"), region),
        role_arn=role or "arn:aws:iam::000000000000:role/smgha-local-execution",
        instance_type=aws_value(
            "instance-type",
            runner.get_input("instance-type") or "ml.m5.large",
            "sagemaker",
            "ProcessingInstanceType",
        ),
        data_capture_percent=capture_percent,
        capture_uri=_s3_uri("capture-s3-uri", runner.get_input("capture-s3-uri")),
        baseline_method=method,
        drift_threshold=threshold,
        timeout_seconds=60
        * positive_number("timeout-minutes", runner.get_input("timeout-minutes") or "60"),
        workspace=workspace,
    )


# ---- plan: read everything, decide names and requests -------------------------------------------


@dataclass
class MonitorPlan:
    live: dict[str, Any]
    live_config: dict[str, Any]
    capture_uri: str
    config_name: str  # the config that captures: the live one, or the new one
    config_request: dict[str, Any] | None  # None: capture is already on
    config_exists: bool
    output_uri: str
    statistics_uri: str
    constraints_uri: str
    reports_uri: str
    dataset: monitor.Dataset
    statistics: dict[str, Any] | None  # in-process; None for a job
    constraints: dict[str, Any] | None
    job_request: dict[str, Any] | None  # baseline-method: job
    job_dataset_uri: str
    definition_name: str
    definition_request: dict[str, Any]
    definition_exists: bool
    schedule_name: str
    schedule_request: dict[str, Any]
    schedule_live: dict[str, Any] | None
    alarm_requests: list[dict[str, Any]]

    @property
    def alarm_names(self) -> list[str]:
        return [a["AlarmName"] for a in self.alarm_requests]

    @property
    def previous_definition(self) -> str:
        config = (self.schedule_live or {}).get("MonitoringScheduleConfig") or {}
        name = str(config.get("MonitoringJobDefinitionName", ""))
        return "" if name == self.definition_name else name

    @property
    def schedule_action(self) -> str:
        if self.schedule_live is None:
            return "create"
        live = self.schedule_live.get("MonitoringScheduleConfig") or {}
        wanted = self.schedule_request["MonitoringScheduleConfig"]
        same = all(live.get(key) == value for key, value in wanted.items())
        return "unchanged" if same else "update"


def _digest(document: Any, length: int = 8) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:length]


def analyzer_image(region: str) -> str:
    account = ANALYZER_ACCOUNTS.get(region)
    if account is None:
        raise InputError(
            "region",
            f"the model-monitor analyzer image is not published in {region}",
            f"Use one of {', '.join(sorted(ANALYZER_ACCOUNTS))}.",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{ANALYZER_REPOSITORY}"


def read_baseline_data(inputs: Inputs, hosting: MonitoringBackend) -> monitor.Dataset:
    uri = inputs.baseline_data_uri
    try:
        if uri.startswith("s3://"):
            data = hosting.read_object(uri)
        else:
            path = workspace_file(
                "baseline-data-uri", uri, inputs.workspace, local_state_folder(inputs.backend)
            )
            data = path.read_bytes()
    except (StageError, OSError) as error:
        problem = error.detail if isinstance(error, StageError) else str(error)
        raise InputError(
            "baseline-data-uri",
            f"{uri} cannot be read: {problem}",
            "Give the training CSV as an s3:// URI or a path relative to the workspace.",
        ) from None
    try:
        return monitor.read_csv(data, header=inputs.header, label_column=inputs.label_column)
    except monitor.DataError as error:
        raise InputError(
            "baseline-data-uri",
            f"{uri} is not a usable CSV: {error}",
            "Check the file, header and label-column.",
        ) from None


def _live_instance_counts(
    variants: list[dict[str, Any]], live: dict[str, Any]
) -> list[dict[str, Any]]:
    """The live config's variants, each InitialInstanceCount set to the count the endpoint
    runs now, so that turning capture on does not shrink a fleet autoscaling has grown.

    UpdateEndpoint applies the new config's counts: the backend sends
    RetainAllVariantProperties=False ("To use the variant properties specified in a new
    EndpointConfig ... set RetainAllVariantProperties to false", botocore's UpdateEndpoint
    docs). Retaining them instead (True) could also retain the old data capture setting:
    DataCaptureConfig is one of the VariantProperty types, and overriding it through
    ExcludeRetainedVariantProperties is "(Not currently supported.)" (botocore's
    VariantPropertyType docs). So the counts go into the config, as the SageMaker guide's
    "Update endpoints that use automatic scaling" (endpoint-scaling-update.md) says: "For the
    InitialInstanceCount field of each production variant, specify the corresponding value
    of DesiredInstanceCount from the response to the previous call to DescribeEndpoint."
    CurrentInstanceCount stands in where DesiredInstanceCount is missing (deploy-endpoint
    reads it too); serverless variants (no InitialInstanceCount) are left as they are.
    """
    running: dict[str, int] = {}
    for summary in live.get("ProductionVariants") or []:
        count = summary.get("DesiredInstanceCount")
        if count is None:
            count = summary.get("CurrentInstanceCount")
        if isinstance(count, int):
            running[summary.get("VariantName", "")] = count
    return [
        {**variant, "InitialInstanceCount": running[variant["VariantName"]]}
        if "InitialInstanceCount" in variant and variant.get("VariantName") in running
        else variant
        for variant in variants
    ]


def plan(inputs: Inputs, hosting: MonitoringBackend) -> MonitorPlan:
    endpoint = inputs.endpoint_name
    live = hosting.describe_endpoint(endpoint)
    if live is None:
        raise InputError(
            "endpoint-name",
            f"there is no endpoint {endpoint} ({inputs.backend}, {inputs.region})",
            "Deploy it first (deploy-endpoint), or check the name and region.",
        )
    if live.get("EndpointStatus") != "InService":
        raise StageError(
            "endpoint not InService",
            f"{endpoint} is {live.get('EndpointStatus')}; wait until it is InService",
        )
    live_config = hosting.describe_endpoint_config(live["EndpointConfigName"]) or {}
    image = analyzer_image(inputs.region)
    output = inputs.output_uri
    baseline_uri = f"{output}/baseline"
    dataset = read_baseline_data(inputs, hosting)

    capture = live_config.get("DataCaptureConfig") or {}
    config_request: dict[str, Any] | None = None
    config_name = live["EndpointConfigName"]
    if capture.get("EnableCapture"):
        capture_uri = str(capture["DestinationS3Uri"])
    else:
        capture_uri = inputs.capture_uri or f"{output}/capture"
        body = {
            key: value
            for key, value in live_config.items()
            if key not in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        }
        if "ProductionVariants" in body:
            body["ProductionVariants"] = _live_instance_counts(body["ProductionVariants"], live)
        body["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": inputs.data_capture_percent,
            "DestinationS3Uri": capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        }
        config_name = bounded_sagemaker_name(config_name, suffix=f"-dc-{_digest(body, 6)}")
        config_request = {"EndpointConfigName": config_name, **body}

    statistics = constraints = job_request = None
    job_dataset_uri = ""
    if inputs.baseline_method == "in-process":
        statistics = monitor.statistics(dataset)
        constraints = monitor.suggest_constraints(statistics, inputs.drift_threshold)
    else:
        job_dataset_uri = f"{baseline_uri}/dataset/features.csv"
        job_request = _job_request(inputs, dataset, image, job_dataset_uri, baseline_uri)

    statistics_uri = f"{baseline_uri}/statistics.json"
    constraints_uri = f"{baseline_uri}/constraints.json"
    reports_uri = f"{output}/reports"
    schedule_name = bounded_sagemaker_name(f"{endpoint}-data-quality")
    definition_body = {
        "DataQualityBaselineConfig": {
            "ConstraintsResource": {"S3Uri": constraints_uri},
            "StatisticsResource": {"S3Uri": statistics_uri},
        },
        "DataQualityAppSpecification": {
            "ImageUri": image,
            "Environment": {"publish_cloudwatch_metrics": "Enabled"},
        },
        "DataQualityJobInput": {
            "EndpointInput": {
                "EndpointName": endpoint,
                "LocalPath": CONTAINER_INPUT,
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "DataQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": reports_uri,
                        "LocalPath": CONTAINER_OUTPUT,
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        },
        "JobResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": inputs.instance_type,
                "VolumeSizeInGB": 20,
            }
        },
        "RoleArn": inputs.role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    definition_name = bounded_sagemaker_name(
        f"{endpoint}-data-quality", suffix=f"-{_digest(definition_body)}"
    )
    definition_request = {
        "JobDefinitionName": definition_name,
        **definition_body,
        "Tags": [{"Key": "smgha:endpoint", "Value": endpoint}],
    }
    schedule_request = {
        "MonitoringScheduleName": schedule_name,
        "MonitoringScheduleConfig": {
            "ScheduleConfig": {"ScheduleExpression": inputs.schedule_expression},
            "MonitoringJobDefinitionName": definition_name,
            "MonitoringType": "DataQuality",
        },
    }
    return MonitorPlan(
        live=live,
        live_config=live_config,
        capture_uri=capture_uri,
        config_name=config_name,
        config_request=config_request,
        config_exists=config_request is not None
        and hosting.describe_endpoint_config(config_name) is not None,
        output_uri=output,
        statistics_uri=statistics_uri,
        constraints_uri=constraints_uri,
        reports_uri=reports_uri,
        dataset=dataset,
        statistics=statistics,
        constraints=constraints,
        job_request=job_request,
        job_dataset_uri=job_dataset_uri,
        definition_name=definition_name,
        definition_request=definition_request,
        definition_exists=hosting.describe_data_quality_job_definition(definition_name) is not None,
        schedule_name=schedule_name,
        schedule_request=schedule_request,
        schedule_live=hosting.describe_monitoring_schedule(schedule_name),
        alarm_requests=alarm_requests(inputs, dataset.names, schedule_name),
    )


def _features_csv(inputs: Inputs, dataset: monitor.Dataset) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if inputs.header:
        writer.writerow(dataset.names)
    writer.writerows([["" if c is None else c for c in row] for row in dataset.rows])
    return buffer.getvalue().encode("utf-8")


def _job_request(
    inputs: Inputs, dataset: monitor.Dataset, image: str, dataset_uri: str, baseline_uri: str
) -> dict[str, Any]:
    """The baselining job the SageMaker SDK's DefaultModelMonitor.suggest_baseline starts."""
    body = {
        "ProcessingInputs": [
            {
                "InputName": "baseline_dataset_input",
                "S3Input": {
                    "S3Uri": dataset_uri,
                    "LocalPath": CONTAINER_BASELINE_INPUT,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "monitoring_output",
                    "S3Output": {
                        "S3Uri": baseline_uri,
                        "LocalPath": CONTAINER_OUTPUT,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": inputs.instance_type,
                "VolumeSizeInGB": 20,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "AppSpecification": {"ImageUri": image},
        "Environment": {
            "dataset_format": json.dumps(
                {"csv": {"header": inputs.header, "output_columns_position": "START"}}
            ),
            "dataset_source": CONTAINER_BASELINE_INPUT,
            "output_path": CONTAINER_OUTPUT,
            "publish_cloudwatch_metrics": "Disabled",
        },
        "RoleArn": inputs.role_arn,
    }
    # The same data and settings: the same job name, so a re-run finds the finished job.
    digest = _digest(
        {"request": body, "data": hashlib.sha256(_features_csv(inputs, dataset)).hexdigest()}
    )
    name = bounded_sagemaker_name(f"{inputs.endpoint_name}-baseline", suffix=f"-{digest}")
    return {"ProcessingJobName": name, **body}


def alarm_requests(inputs: Inputs, features: list[str], schedule: str) -> list[dict[str, Any]]:
    """One alarm per feature on the drift distance the monitoring job publishes."""
    requests = []
    for feature in features:
        request: dict[str, Any] = {
            "AlarmName": f"{inputs.endpoint_name}-baseline-drift-{feature}",
            "AlarmDescription": f"smgha: feature {feature} of {inputs.endpoint_name} drifted from its baseline (distance above {inputs.drift_threshold:g})",
            "Namespace": METRICS_NAMESPACE,
            "MetricName": f"feature_baseline_drift_{feature}",
            "Dimensions": [  # as the analyzer publishes them: METRICS_NAMESPACE says why
                {"Name": "Endpoint", "Value": inputs.endpoint_name},
                {"Name": "MonitoringSchedule", "Value": schedule},
            ],
            "Statistic": "Maximum",
            "Period": schedule_period(inputs.schedule_expression),
            "EvaluationPeriods": 1,
            "Threshold": inputs.drift_threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }
        if inputs.sns_topic_arn:
            request["AlarmActions"] = [inputs.sns_topic_arn]
        requests.append(request)
    return requests


# ---- apply -------------------------------------------------------------------------------------


def apply(
    inputs: Inputs,
    monitoring: MonitorPlan,
    hosting: MonitoringBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Capture, baseline, job definition, schedule, alarms; return the baseline statistics."""
    _capture(inputs, monitoring, hosting, log, sleep, clock)
    statistics = _baseline(inputs, monitoring, hosting, log, sleep, clock)
    if monitoring.definition_exists:
        log(f"Job definition {monitoring.definition_name} exists: kept")
    else:
        hosting.create_data_quality_job_definition(monitoring.definition_request)
        log(f"Created data-quality job definition {monitoring.definition_name}")
    action = monitoring.schedule_action
    if action == "create":
        hosting.create_monitoring_schedule(
            {
                **monitoring.schedule_request,
                "Tags": [{"Key": "smgha:endpoint", "Value": inputs.endpoint_name}],
            }
        )
        log(
            f"Created monitoring schedule {monitoring.schedule_name} ({inputs.schedule_expression})"
        )
    elif action == "update":
        hosting.update_monitoring_schedule(monitoring.schedule_request)
        log(
            f"Updated monitoring schedule {monitoring.schedule_name} ({inputs.schedule_expression})"
        )
    else:
        log(f"Monitoring schedule {monitoring.schedule_name} is up to date")
    previous = monitoring.previous_definition
    # Ours (the same name but for the hash) and no longer used: delete it. SageMaker may
    # still hold it while the schedule update settles; then it stays, which is harmless.
    if previous and previous[:-9] == monitoring.definition_name[:-9]:
        try:
            hosting.delete_data_quality_job_definition(previous)
            log(f"Deleted the replaced job definition {previous}")
        except StageError as error:
            log(f"The replaced job definition {previous} stays: {error.detail}")
    for alarm in monitoring.alarm_requests:
        hosting.put_metric_alarm(alarm)
    target = f", notifying {inputs.sns_topic_arn}" if inputs.sns_topic_arn else ""
    log(
        f"Drift alarms ({len(monitoring.alarm_requests)}){target}: {', '.join(monitoring.alarm_names)}"
    )
    return statistics


def _capture(
    inputs: Inputs,
    monitoring: MonitorPlan,
    hosting: MonitoringBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    if monitoring.config_request is None:
        log(f"Data capture is on ({monitoring.capture_uri}): left alone")
        return
    if not monitoring.config_exists:
        hosting.create_endpoint_config(monitoring.config_request)
        log(f"Created endpoint config {monitoring.config_name} (live config + data capture)")
    hosting.update_endpoint(
        inputs.endpoint_name,
        monitoring.config_name,
        {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 0,
                "MaximumExecutionTimeoutInSeconds": max(600, int(inputs.timeout_seconds)),
            }
        },
    )
    log(
        f"Updating {inputs.endpoint_name} to {monitoring.config_name} (all at once) to capture {inputs.data_capture_percent} % to {monitoring.capture_uri}"
    )
    started, poll = clock(), float(getattr(hosting, "poll_seconds", 20.0))
    waiting = Waiting(inputs.endpoint_name, log, clock)
    while True:
        record = hosting.describe_endpoint(inputs.endpoint_name) or {}
        status = record.get("EndpointStatus", "missing")
        if status in ("InService", "Failed", "OutOfService"):
            break
        if clock() - started >= inputs.timeout_seconds:
            raise StageError(
                "timed out",
                f"{inputs.endpoint_name} is still {status} after {inputs.timeout_seconds / 60:g} minutes",
            )
        waiting.tick(status)
        sleep(waiting.pause(poll))
    if status != "InService" or record.get("EndpointConfigName") != monitoring.config_name:
        raise StageError(
            "turning on data capture failed",
            f"{inputs.endpoint_name} is {status} on {record.get('EndpointConfigName')}: {record.get('FailureReason') or 'no reason given'}",
        )
    log(f"{inputs.endpoint_name} is InService on {monitoring.config_name}")


def _baseline(
    inputs: Inputs,
    monitoring: MonitorPlan,
    hosting: MonitoringBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    if monitoring.statistics is not None and monitoring.constraints is not None:
        hosting.put_object(monitoring.statistics_uri, monitor.json_bytes(monitoring.statistics))
        hosting.put_object(monitoring.constraints_uri, monitor.json_bytes(monitoring.constraints))
        log(
            f"Baseline of {len(monitoring.dataset.rows)} rows, {len(monitoring.dataset.names)} features: {monitoring.statistics_uri}, {monitoring.constraints_uri}"
        )
        return monitoring.statistics
    assert monitoring.job_request is not None
    name = monitoring.job_request["ProcessingJobName"]
    job = hosting.describe_processing_job(name)
    if job is None:
        hosting.put_object(monitoring.job_dataset_uri, _features_csv(inputs, monitoring.dataset))
        hosting.create_processing_job(monitoring.job_request)
        log(f"Started baselining job {name} on {monitoring.job_dataset_uri}")
    started, poll = clock(), float(getattr(hosting, "poll_seconds", 20.0))
    waiting = Waiting(f"baselining job {name}", log, clock)
    while True:
        job = hosting.describe_processing_job(name) or {}
        status = job.get("ProcessingJobStatus", "missing")
        if status in ("Completed", "Failed", "Stopped"):
            break
        if clock() - started >= inputs.timeout_seconds:
            raise StageError(
                "timed out", f"baselining job {name} is still {status}; it goes on, run again later"
            )
        waiting.tick(status)
        sleep(waiting.pause(poll))
    if status != "Completed":
        raise StageError(
            f"baselining job {status}", f"{name}: {job.get('FailureReason') or 'no reason given'}"
        )
    log(f"Baselining job {name} completed")
    constraints = hosting.read_json(monitoring.constraints_uri)
    distribution = constraints.setdefault("monitoring_config", {}).setdefault(
        "distribution_constraints", {}
    )
    if distribution.get("comparison_threshold") != inputs.drift_threshold:
        distribution["comparison_threshold"] = inputs.drift_threshold
        hosting.put_object(monitoring.constraints_uri, monitor.json_bytes(constraints))
        log(
            f"Set comparison_threshold to {inputs.drift_threshold:g} in {monitoring.constraints_uri}"
        )
    return cast(dict[str, Any], hosting.read_json(monitoring.statistics_uri))


# ---- the edge -----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "–"


def report(
    inputs: Inputs, monitoring: MonitorPlan, statistics: dict[str, Any], runner: Runner
) -> None:
    runner.set_output("schedule-name", monitoring.schedule_name)
    runner.set_output("baseline-statistics-uri", monitoring.statistics_uri)
    runner.set_output("baseline-constraints-uri", monitoring.constraints_uri)
    runner.set_output("alarm-names", json.dumps(monitoring.alarm_names))
    rows = []
    for feature in statistics.get("features", []):
        numerical = feature.get("numerical_statistics") or {}
        common = (numerical or feature.get("string_statistics") or {}).get("common", {})
        present, missing = common.get("num_present", 0), common.get("num_missing", 0)
        completeness = present / (present + missing) if present + missing else 0.0
        rows.append([
            f"`{feature['name']}`", feature.get("inferred_type", "–"), f"{completeness:.1%}",
            _number(numerical.get("mean")), _number(numerical.get("std_dev")),
            _number(numerical.get("min")), _number(numerical.get("max")),
        ])  # fmt: skip
    summary = runner.summary.heading(f"enable-monitor: {inputs.endpoint_name}", 3)
    summary.paragraph(
        f"Schedule `{monitoring.schedule_name}` · `{inputs.schedule_expression}` · job definition `{monitoring.definition_name}` · "
        f"capture to `{monitoring.capture_uri}` · drift threshold {inputs.drift_threshold:g} · "
        f"alarms notify {('`' + inputs.sns_topic_arn + '`') if inputs.sns_topic_arn else 'nobody'}"
    )
    summary.paragraph(
        f"Baseline ({inputs.baseline_method}) of `{inputs.baseline_data_uri}`: `{monitoring.statistics_uri}`"
    )
    summary.table(["Feature", "Type", "Completeness", "Mean", "Std", "Min", "Max"], rows)
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        hosting = cast(
            MonitoringBackend,
            backend(inputs.backend, inputs.region, log=runner.info, mask=runner.set_secret),
        )
        monitoring = plan(inputs, hosting)
        statistics = apply(inputs, monitoring, hosting, runner.info)
        report(inputs, monitoring, statistics, runner)

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
