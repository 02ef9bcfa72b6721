"""enable-monitor: data capture, a data-quality baseline, a monitoring schedule, drift alarms.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  MonitorPlan   (reads only)
                                                         |
                              apply(plan, backend, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

1. Data capture, unless the live config captures: the live config with capture on, the
   endpoint moved to it at once (resources/hosting.py capture_change, rollout.py).
2. Baseline: computed here from the training CSV, or by SageMaker's baselining job
   (baseline-method: job) (resources/baselining.py).
3. The kind's job definition (named after a hash of its request), a schedule on it, and one
   drift alarm per feature (resources/monitoring.py).

A second run with the same inputs changes nothing but re-writing the baseline and the alarms
(both in place): no new config, job definition, schedule or alarm.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha import monitor
from smgha.aws_values import aws_value
from smgha.backends import Backend, Objects
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
from smgha.resources import baselining, rollout
from smgha.resources.baselining import BaselineFiles
from smgha.resources.hosting import CaptureChange, DataCapture, capture_change
from smgha.resources.monitoring import (
    HOURLY,
    KINDS,
    MonitorOutputs,
    MonitorSettings,
    MonitorSetup,
    analyzer_image,
    apply_setup,
    monitorable_endpoint,
    plan_setup,
    validate_schedule,
)
from smgha.resources.names import alarmed_endpoint_name
from smgha.runner import Runner
from smgha.stages import ARTIFACT_BUCKET_HINT, LOCAL_BUCKET, OutputSpec, run_stage, stage_backend

STAGE = "enable-monitor"

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
)

OUTPUTS = (
    OutputSpec("schedule-name", "The monitoring schedule."),
    OutputSpec("baseline-statistics-uri", "S3 URI of the baseline statistics.json."),
    OutputSpec("baseline-constraints-uri", "S3 URI of the baseline constraints.json."),
    OutputSpec("alarm-names", "JSON list of the drift alarms, one per feature."),
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


# ---- inputs -------------------------------------------------------------------------------------


def _output_uri(values: InputValues, backend: str, endpoint: str) -> str:
    """Where the baseline and the reports go: the input, or on the local backend
    s3://smgha-local/monitoring/<endpoint>. The sagemaker backend has no default
    (ARTIFACT_BUCKET_HINT says why)."""
    uri = s3_prefix("output-s3-uri", values["output-s3-uri"])
    if uri or backend == "local":
        return uri or f"s3://{LOCAL_BUCKET}/monitoring/{endpoint}"
    problem, fix = OUTPUT_REQUIRED
    raise InputError(
        "output-s3-uri", problem, fix.format(endpoint=endpoint, bucket=ARTIFACT_BUCKET_HINT)
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


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
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
    workspace = Path(runner.env.get("GITHUB_WORKSPACE") or os.getcwd())
    return Inputs(
        backend=name,
        region=region,
        endpoint_name=endpoint,
        baseline_data_uri=_baseline_data(values, name, method, workspace),
        label_column=choice("label-column", values["label-column"], ("first", "none")),
        header=values.flag("header"),
        output_uri=_output_uri(values, name, endpoint),
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
    )


# ---- plan: read everything, decide names and requests -------------------------------------------


@dataclass
class MonitorPlan:
    live: dict[str, Any]
    capture: CaptureChange
    baseline: baselining.Baseline
    setup: MonitorSetup


def read_baseline_data(inputs: Inputs, objects: Objects) -> monitor.Dataset:
    uri = inputs.baseline_data_uri
    if uri.startswith("s3://"):
        return baselining.read_dataset(
            lambda: objects.read_object(uri), uri, inputs.header, inputs.label_column
        )
    state = local_state_folder(inputs.backend)
    path = workspace_file("baseline-data-uri", uri, inputs.workspace, state)
    return baselining.read_dataset(path.read_bytes, uri, inputs.header, inputs.label_column)


def plan(inputs: Inputs, backend: Backend) -> MonitorPlan:
    hosting = backend.hosting
    endpoint, output = inputs.endpoint_name, inputs.output_uri
    live = monitorable_endpoint(hosting, endpoint, f"{inputs.backend}, {inputs.region}")
    live_config = hosting.describe_endpoint_config(live["EndpointConfigName"]) or {}
    image = analyzer_image(inputs.region)
    dataset = read_baseline_data(inputs, backend.objects)
    files = BaselineFiles(f"{output}/baseline")

    capture = capture_change(
        live,
        live_config,
        DataCapture(inputs.data_capture_percent, inputs.capture_uri or f"{output}/capture"),
        lambda name: hosting.describe_endpoint_config(name) is not None,
    )
    settings = MonitorSettings(
        image,
        inputs.instance_type,
        inputs.role_arn,
        inputs.schedule_expression,
        inputs.drift_threshold,
        inputs.sns_topic_arn,
    )
    kind = KINDS["data-quality"]  # the one kind today: docs/extending.md adds another
    baseline = baselining.plan_baseline(
        kind, inputs.baseline_method, endpoint, files, dataset, inputs.header, settings
    )
    outputs = MonitorOutputs(files.statistics_uri, files.constraints_uri, f"{output}/reports")
    return MonitorPlan(
        live=live,
        capture=capture,
        baseline=baseline,
        setup=plan_setup(kind, backend.monitoring, endpoint, outputs, settings, dataset.names),
    )


# ---- apply -------------------------------------------------------------------------------------


def apply(
    inputs: Inputs,
    monitoring: MonitorPlan,
    backend: Backend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Capture, baseline, job definition, schedule, alarms; return the baseline statistics."""
    hosting = backend.hosting
    rollout.turn_capture_on(
        hosting, inputs.endpoint_name, monitoring.capture, inputs.timeout_seconds,
        hosting.poll_seconds, log, sleep, clock,
    )  # fmt: skip
    statistics = baselining.produce(
        monitoring.baseline, backend.monitoring, backend.objects, inputs.timeout_seconds,
        hosting.poll_seconds, log, sleep, clock,
    )  # fmt: skip
    apply_setup(monitoring.setup, backend.monitoring, hosting, log)
    return statistics


# ---- the edge -----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "–"


def report(
    inputs: Inputs, monitoring: MonitorPlan, statistics: dict[str, Any], runner: Runner
) -> None:
    setup = monitoring.setup
    runner.set_output("schedule-name", setup.schedule_name)
    runner.set_output("baseline-statistics-uri", monitoring.baseline.files.statistics_uri)
    runner.set_output("baseline-constraints-uri", monitoring.baseline.files.constraints_uri)
    runner.set_output("alarm-names", json.dumps(setup.alarm_names))
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
        f"Schedule `{setup.schedule_name}` · `{inputs.schedule_expression}` · job definition `{setup.definition_name}` · "
        f"capture to `{monitoring.capture.capture_uri}` · drift threshold {inputs.drift_threshold:g} · "
        f"alarms notify {('`' + inputs.sns_topic_arn + '`') if inputs.sns_topic_arn else 'nobody'}"
    )
    summary.paragraph(
        f"Baseline ({inputs.baseline_method}) of `{inputs.baseline_data_uri}`: `{monitoring.baseline.files.statistics_uri}`"
    )
    summary.table(["Feature", "Type", "Completeness", "Mean", "Std", "Min", "Max"], rows)
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        monitoring = plan(inputs, chosen)
        statistics = apply(inputs, monitoring, chosen, runner.info)
        report(inputs, monitoring, statistics, runner)

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
