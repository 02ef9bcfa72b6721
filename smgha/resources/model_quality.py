"""Model-quality monitoring: enable-monitor's model-quality inputs, the baseline constraints
taken from the build's evaluation, and the ModelQuality monitor kind (job definition,
schedule, alarm) beside DataQuality (resources/monitoring.py).

    inputs (checked_inputs)  ->  Settings
    evaluation.json          ->  constraints_document()  ->  constraints.json
    Settings                 ->  ModelQuality kind       ->  CreateModelQualityJobDefinition,
                                                              CreateMonitoringSchedule, PutMetricAlarm

What SageMaker does with them (sources beside each rule):
* Model Monitor merges the endpoint's captured predictions with ground-truth labels the
  user uploads under GroundTruthS3Input (one JSON line per prediction: groundTruthData,
  eventMetadata.eventId; "Ingest Ground Truth labels and merge them with predictions",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html),
  computes the metrics of the problem type and compares them with the constraints.
* Labels arrive late: StartTimeOffset/EndTimeOffset (ISO 8601 durations such as -PT7H)
  shift the window a job analyses ("Model monitor offsets",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-schedule.html).
* The metrics go to CloudWatch in aws/sagemaker/Endpoints/model-metrics with the dimensions
  Endpoint and MonitoringSchedule ("Monitoring model quality metrics with CloudWatch",
  model-monitor-model-quality-metrics.html; the SageMaker Python SDK's
  AutomaticModelQualityDashboard searches that namespace with those dimensions,
  aws/sagemaker-python-sdk src/sagemaker/dashboard/automatic_model_quality_dashboard.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smgha.backends import Hosting, Monitoring, Objects
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    s3_uri,
    workspace_file,
)
from smgha.resources.monitoring import (
    CONTAINER_INPUT,
    CONTAINER_OUTPUT,
    MonitorOutputs,
    MonitorSettings,
    MonitorSetup,
    ScheduledMonitor,
    apply_setup,
    metric_dimensions,
    plan_setup,
    schedule_period,
)

METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"

# Per ProblemType (botocore's MonitoringProblemType enum): the section of the metrics report
# and of constraints.json ("Model quality metrics and Amazon CloudWatch monitoring",
# model-monitor-model-quality-metrics.html: binary_classification_metrics, ...; the
# constraints' sections as the suggest-baseline job writes them: <section>_constraints), and
# the metrics enable-monitor can alarm on, each with the comparison that is a violation
# (the larger the better: LessThanThreshold; an error: GreaterThanThreshold). The metric
# names are the report's and CloudWatch's (the SDK dashboard's lists, see above).
PROBLEM_TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "BinaryClassification": (
        "binary_classification",
        {name: "LessThanThreshold" for name in ("accuracy", "precision", "recall", "f1", "auc")},
    ),
    "MulticlassClassification": (
        "multiclass_classification",
        {
            name: "LessThanThreshold"
            for name in ("accuracy", "weighted_precision", "weighted_recall", "weighted_f1")
        },
    ),
    "Regression": (
        "regression",
        {"mae": "GreaterThanThreshold", "mse": "GreaterThanThreshold",
         "rmse": "GreaterThanThreshold", "r2": "LessThanThreshold"},
    ),
}  # fmt: skip
DEFAULT_METRIC = {
    "BinaryClassification": "accuracy",
    "MulticlassClassification": "accuracy",
    "Regression": "rmse",
}
# An hourly model-quality job shares one execution's time between the merge job and the
# monitoring job: "for an hourly model quality monitoring job, the value of
# MaxRuntimeInSeconds specified as part of StoppingCondition must be no more than 1800"
# (model-monitor-model-quality-schedule.html). The stricter reading: 1800 for every schedule.
MAX_RUNTIME_SECONDS = 1800
CONTAINER_GROUND_TRUTH = (
    "/opt/ml/processing/groundtruth"  # where the SDK's ModelQualityMonitor puts it
)


@dataclass(frozen=True)
class Settings:
    """enable-monitor's model-quality settings, every rule checked."""

    problem_type: str
    ground_truth_uri: str  # s3://bucket/prefix, no trailing slash
    inference_attribute: str  # '' : none
    probability_attribute: str  # '' : none
    probability_threshold: float
    metric: str
    evaluation_uri: str  # '' when model-quality-threshold is given
    threshold: float | None  # None: the evaluation's value (read in plan)
    delay_hours: int

    @property
    def comparison(self) -> str:
        return PROBLEM_TYPES[self.problem_type][1][self.metric]


# ---- the baseline: constraints.json from the evaluation ----------------------------------------


def evaluation_value(settings: Settings, evaluation: Any, uri: str) -> float:
    """The metric's value in an evaluation report (Model Monitor's metrics layout, as
    ml/evaluate.py writes it: <section>_metrics.<metric>.value); InputError naming
    evaluation-uri when it is not there."""
    section = f"{PROBLEM_TYPES[settings.problem_type][0]}_metrics"
    entry = (
        ((evaluation or {}).get(section) or {}).get(settings.metric)
        if isinstance(evaluation, dict)
        else None
    )
    value = entry.get("value") if isinstance(entry, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InputError(
            "evaluation-uri",
            f"{uri} has no number at {section}.{settings.metric}.value (problem-type {settings.problem_type}, model-quality-metric {settings.metric})",
            "Point it at the build's evaluation.json, or set model-quality-threshold.",
        )  # fmt: skip
    return float(value)


def constraints_document(problem_type: str, metric: str, threshold: float) -> dict[str, Any]:
    """constraints.json of a model-quality monitor: one metric's threshold and the comparison
    that is a violation, in the layout the suggest-baseline job writes
    ({"version": 0.0, "binary_classification_constraints": {"accuracy": {"threshold": ...,
    "comparison_operator": "LessThanThreshold"}}})."""
    section, metrics = PROBLEM_TYPES[problem_type]
    return {
        "version": 0.0,
        f"{section}_constraints": {
            metric: {"threshold": threshold, "comparison_operator": metrics[metric]}
        },
    }


def time_offsets(delay_hours: int, period_seconds: int) -> tuple[str, str]:
    """(StartTimeOffset, EndTimeOffset): the schedule period that ended `delay_hours` ago."""
    period_hours = period_seconds // 3600
    return f"-PT{delay_hours + period_hours}H", f"-PT{delay_hours}H"


# ---- the monitor kind --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelQuality(ScheduledMonitor):
    """Model-quality monitoring of one endpoint: the MonitorKind of resources/monitoring.py
    (its plan_setup and apply_setup create, keep or replace what this decides)."""

    settings: Settings
    period_seconds: int  # the schedule's (monitoring.schedule_period)
    kind = "model-quality"  # the backends' name of the job-definition family
    monitoring_type = "ModelQuality"  # MonitoringScheduleConfig.MonitoringType

    def endpoint_input(self, endpoint: str) -> dict[str, Any]:
        start, end = time_offsets(self.settings.delay_hours, self.period_seconds)
        endpoint_input: dict[str, Any] = {
            "EndpointName": endpoint,
            "LocalPath": CONTAINER_INPUT,
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "StartTimeOffset": start,
            "EndTimeOffset": end,
        }
        if self.settings.inference_attribute:
            endpoint_input["InferenceAttribute"] = self.settings.inference_attribute
        if self.settings.probability_attribute:
            endpoint_input["ProbabilityAttribute"] = self.settings.probability_attribute
            endpoint_input["ProbabilityThresholdAttribute"] = self.settings.probability_threshold
        return endpoint_input

    def definition_request(
        self, endpoint: str, outputs: MonitorOutputs, image: str, instance_type: str, role_arn: str
    ) -> dict[str, Any]:
        """CreateModelQualityJobDefinition, named after a hash of its settings (as
        DataQuality's): a changed definition is a new one."""
        body = {
            "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": outputs.constraints_uri}},
            "ModelQualityAppSpecification": {
                "ImageUri": image,
                "ProblemType": self.settings.problem_type,
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "ModelQualityJobInput": {
                "EndpointInput": self.endpoint_input(endpoint),
                "GroundTruthS3Input": {"S3Uri": self.settings.ground_truth_uri},
            },
            "ModelQualityJobOutputConfig": {
                "MonitoringOutputs": [{"S3Output": {
                    "S3Uri": outputs.reports_uri, "LocalPath": CONTAINER_OUTPUT, "S3UploadMode": "EndOfJob",
                }}]
            },
            "JobResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 20}
            },
            "RoleArn": role_arn,
            "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
        }  # fmt: skip
        return self.named_definition(endpoint, body)

    def alarm_requests(
        self,
        endpoint: str,
        features: list[str],
        expression: str,
        threshold: float,
        sns_topic_arn: str = "",
    ) -> list[dict[str, Any]]:
        """One alarm on the metric, firing as its constraint is violated (`features` is a
        data-quality notion and unused here)."""
        metric, comparison = self.settings.metric, self.settings.comparison
        request: dict[str, Any] = {
            "AlarmName": f"{endpoint}-model-quality-{metric}",
            "AlarmDescription": f"smgha: {metric} of {endpoint}'s predictions against ground truth is {comparison} {threshold:g}",
            "Namespace": METRICS_NAMESPACE,
            "MetricName": metric,
            "Dimensions": metric_dimensions(endpoint, self.schedule_name(endpoint)),
            "Statistic": "Average",
            "Period": self.period_seconds,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            # No labels, no metric: missing data is not a breach (as the drift alarms).
            "TreatMissingData": "notBreaching",
        }
        if sns_topic_arn:
            request["AlarmActions"] = [sns_topic_arn]
        return [request]


# ---- planning and applying it (enable-monitor) ---------------------------------------------------


@dataclass
class QualityPlan:
    """A model-quality monitor to set up: its constraints.json and the setup of its kind."""

    constraints_uri: str
    constraints: dict[str, Any]
    setup: MonitorSetup


def read_evaluation(
    settings: Settings, objects: Objects, workspace: Path, state_folder: Path | None
) -> float:
    """The metric's baseline value: model-quality-threshold, else the evaluation's value."""
    if settings.threshold is not None:
        return settings.threshold
    uri = settings.evaluation_uri
    try:
        if uri.startswith("s3://"):
            s3_uri("evaluation-uri", uri, "s3://my-bucket/evaluation/evaluation.json")
            text = objects.read_object(uri)
        else:
            text = workspace_file("evaluation-uri", uri, workspace, state_folder).read_bytes()
        evaluation = json.loads(text)
    except (StageError, OSError, ValueError) as error:
        problem = error.detail if isinstance(error, StageError) else str(error)
        raise InputError(
            "evaluation-uri",
            f"{shown(uri)} cannot be read as JSON: {problem}",
            "Point it at the build's evaluation.json, or set model-quality-threshold.",
        ) from None
    return evaluation_value(settings, evaluation, uri)


def require_captured_answers(live_config: dict[str, Any], endpoint: str) -> None:
    """A model-quality job merges the captured answers with the labels, so a live capture
    that keeps (enable-monitor leaves a capturing config alone) must capture Output: its
    CaptureOptions (CaptureMode Input | Output, "Capture data from real-time endpoint",
    model-monitor-data-capture-endpoint.html). A config enable-monitor makes captures both."""
    capture = live_config.get("DataCaptureConfig") or {}
    modes = {option.get("CaptureMode") for option in capture.get("CaptureOptions") or []}
    if capture.get("EnableCapture") and "Output" not in modes:
        raise InputError(
            "model-quality",
            f"needs {endpoint}'s answers captured, and its live data capture captures {', '.join(sorted(filter(None, modes)))} only",
            "Deploy it with a data capture of Input and Output (deploy-endpoint's data capture captures both), or set model-quality: false.",
        )


def plan_quality(
    settings: Settings,
    monitoring: Monitoring,
    endpoint: str,
    output_uri: str,
    monitor: MonitorSettings,
    threshold: float,
) -> QualityPlan:
    """Decide the model-quality monitor's constraints and requests; reads, creates nothing.
    Its files go under <output>/model-quality/ (the data-quality ones stay where they were)."""
    folder = f"{output_uri}/model-quality"
    outputs = MonitorOutputs("", f"{folder}/constraints.json", f"{folder}/reports")
    kind = ModelQuality(settings, schedule_period(monitor.expression))
    alarm_settings = replace(monitor, threshold=threshold)
    return QualityPlan(
        constraints_uri=outputs.constraints_uri,
        constraints=constraints_document(settings.problem_type, settings.metric, threshold),
        setup=plan_setup(kind, monitoring, endpoint, outputs, alarm_settings, []),
    )


def apply_quality(
    plan: QualityPlan,
    monitoring: Monitoring,
    objects: Objects,
    alarms: Hosting,
    log: Callable[[str], None],
) -> None:
    """constraints.json (rewritten in place), then the job definition, schedule and alarm."""
    objects.put_object(
        plan.constraints_uri, (json.dumps(plan.constraints, indent=2) + "\n").encode()
    )
    log(f"Model-quality constraints: {plan.constraints_uri}")
    apply_setup(plan.setup, monitoring, alarms, log)


def summary_line(plan: QualityPlan) -> str:
    """The job summary's line on the model-quality monitor."""
    section = next(key for key in plan.constraints if key.endswith("_constraints"))
    (metric, rule), *_ = plan.constraints[section].items()
    return (
        f"Model quality: schedule `{plan.setup.schedule_name}` · job definition "
        f"`{plan.setup.definition_name}` · alarm `{plan.setup.alarm_names[0]}` when {metric} is "
        f"{rule['comparison_operator']} {rule['threshold']:g} (`{plan.constraints_uri}`)"
    )
