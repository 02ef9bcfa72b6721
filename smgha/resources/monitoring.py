"""Model Monitor: the kinds of monitor, their job definitions, schedules and alarms, and the
analyzer image that runs them. DataQuality is here; ModelQuality, a class with the same
methods, is in resources/model_quality.py; each kind is one row of each backend's
job-definition table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from smgha.backends import Hosting, Monitoring
from smgha.errors import InputError, StageError, shown
from smgha.resources.hosting import digest
from smgha.resources.names import bounded_sagemaker_name

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

# re.ASCII: without it \d takes any Unicode digit, and int() reads "１２" as 12.
_CRON = re.compile(r"cron\(0 (\*|\d{1,2}|\d{1,2}/\d{1,2}) \? \* \* \*\)", re.ASCII)


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


@dataclass(frozen=True)
class MonitorOutputs:
    """Where a monitor's baseline is read from and its reports go."""

    statistics_uri: str
    constraints_uri: str
    reports_uri: str


class MonitorKind(Protocol):
    """What a kind of monitor (data quality today; model quality, bias, explainability are the
    others SageMaker has) decides: its job definition, schedule, alarms and baselining job.
    `kind` is the name the backends know its job definitions by."""

    kind: str
    monitoring_type: str

    def schedule_name(self, endpoint: str) -> str: ...

    def definition_request(
        self, endpoint: str, outputs: MonitorOutputs, image: str, instance_type: str, role_arn: str
    ) -> dict[str, Any]: ...

    def schedule_request(
        self, endpoint: str, definition: str, expression: str
    ) -> dict[str, Any]: ...

    def alarm_requests(
        self,
        endpoint: str,
        features: list[str],
        expression: str,
        threshold: float,
        sns_topic_arn: str = "",
    ) -> list[dict[str, Any]]: ...


def metric_dimensions(endpoint: str, schedule: str) -> list[dict[str, str]]:
    """The dimensions Model Monitor publishes a monitoring job's metrics with (each kind's
    namespace; METRICS_NAMESPACE says why): what its alarms watch and the local run sets."""
    return [
        {"Name": "Endpoint", "Value": endpoint},
        {"Name": "MonitoringSchedule", "Value": schedule},
    ]


class ScheduledMonitor:
    """What every monitor kind names and schedules alike: its schedule, its job definition's
    name (after the kind and a digest of the body, so a changed body is a new definition) and
    the CreateMonitoringSchedule request. DataQuality and ModelQuality inherit it."""

    kind: str
    monitoring_type: str

    def schedule_name(self, endpoint: str) -> str:
        return bounded_sagemaker_name(f"{endpoint}-{self.kind}")

    def named_definition(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        name = bounded_sagemaker_name(f"{endpoint}-{self.kind}", suffix=f"-{digest(body)}")
        return {
            "JobDefinitionName": name,
            **body,
            "Tags": [{"Key": "smgha:endpoint", "Value": endpoint}],
        }

    def schedule_request(self, endpoint: str, definition: str, expression: str) -> dict[str, Any]:
        return {
            "MonitoringScheduleName": self.schedule_name(endpoint),
            "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": expression},
                "MonitoringJobDefinitionName": definition,
                "MonitoringType": self.monitoring_type,
            },
        }


@dataclass(frozen=True)
class DataQuality(ScheduledMonitor):
    """Data-quality monitoring: the analyzer compares captured requests with a baseline's
    statistics and constraints, and publishes a drift distance per feature."""

    kind = "data-quality"  # the backends' name of the job-definition family
    monitoring_type = "DataQuality"  # MonitoringScheduleConfig.MonitoringType

    def baseline_environment(self, header: bool) -> dict[str, str]:
        """The analyzer's settings in the baselining job, as the SageMaker SDK's
        DefaultModelMonitor.suggest_baseline sets them."""
        return {
            "dataset_format": json.dumps(
                {"csv": {"header": header, "output_columns_position": "START"}}
            ),
            "dataset_source": CONTAINER_BASELINE_INPUT,
            "output_path": CONTAINER_OUTPUT,
            "publish_cloudwatch_metrics": "Disabled",
        }

    def definition_request(
        self,
        endpoint: str,
        outputs: MonitorOutputs,
        image: str,
        instance_type: str,
        role_arn: str,
    ) -> dict[str, Any]:
        """CreateDataQualityJobDefinition; its name carries a hash of its settings, so a
        changed definition is a new one and an unchanged one is found again."""
        body = {
            "DataQualityBaselineConfig": {
                "ConstraintsResource": {"S3Uri": outputs.constraints_uri},
                "StatisticsResource": {"S3Uri": outputs.statistics_uri},
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
                            "S3Uri": outputs.reports_uri,
                            "LocalPath": CONTAINER_OUTPUT,
                            "S3UploadMode": "EndOfJob",
                        }
                    }
                ]
            },
            "JobResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": instance_type,
                    "VolumeSizeInGB": 20,
                }
            },
            "RoleArn": role_arn,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }
        return self.named_definition(endpoint, body)

    def alarm_requests(
        self,
        endpoint: str,
        features: list[str],
        expression: str,
        threshold: float,
        sns_topic_arn: str = "",
    ) -> list[dict[str, Any]]:
        """One alarm per feature on the drift distance the monitoring job publishes."""
        schedule = self.schedule_name(endpoint)
        requests = []
        for feature in features:
            request: dict[str, Any] = {
                "AlarmName": f"{endpoint}-baseline-drift-{feature}",
                "AlarmDescription": f"smgha: feature {feature} of {endpoint} drifted from its baseline (distance above {threshold:g})",
                "Namespace": METRICS_NAMESPACE,
                "MetricName": f"feature_baseline_drift_{feature}",
                # as the analyzer publishes them: METRICS_NAMESPACE says why
                "Dimensions": metric_dimensions(endpoint, schedule),
                "Statistic": "Maximum",
                "Period": schedule_period(expression),
                "EvaluationPeriods": 1,
                "Threshold": threshold,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            }
            if sns_topic_arn:
                request["AlarmActions"] = [sns_topic_arn]
            requests.append(request)
        return requests


class BaselinedKind(MonitorKind, Protocol):
    """A kind whose baseline SageMaker's baselining job can compute (data quality; a
    model-quality baseline is the build's evaluation, resources/model_quality.py)."""

    def baseline_environment(self, header: bool) -> dict[str, str]: ...


# The kinds of monitor, by the name an input gives.
KINDS: dict[str, BaselinedKind] = {DataQuality.kind: DataQuality()}


class EndpointReader(Protocol):
    def describe_endpoint(self, name: str) -> dict[str, Any] | None: ...


def monitorable_endpoint(hosting: EndpointReader, endpoint: str, where: str) -> dict[str, Any]:
    """DescribeEndpoint of an endpoint a monitor can be set up on: it exists and is InService
    (its config is about to be read and, for capture, replaced)."""
    live = hosting.describe_endpoint(endpoint)
    if live is None:
        raise InputError(
            "endpoint-name",
            f"there is no endpoint {endpoint} ({where})",
            "Deploy it first (deploy-endpoint), or check the name and region.",
        )
    if live.get("EndpointStatus") != "InService":
        raise StageError(
            "endpoint not InService",
            f"{endpoint} is {live.get('EndpointStatus')}; wait until it is InService",
        )
    return live


# ---- setting a monitor up: job definition, schedule, alarms ------------------------------------


@dataclass
class MonitorSetup:
    """A monitor's job definition, schedule and alarms, with what exists of them today."""

    kind: str  # the monitor kind's name (DataQuality.kind), which the backends know
    endpoint: str
    expression: str
    definition_request: dict[str, Any]
    definition_exists: bool
    schedule_request: dict[str, Any]
    schedule_live: dict[str, Any] | None
    alarm_requests: list[dict[str, Any]]
    sns_topic_arn: str = ""

    @property
    def definition_name(self) -> str:
        return str(self.definition_request["JobDefinitionName"])

    @property
    def schedule_name(self) -> str:
        return str(self.schedule_request["MonitoringScheduleName"])

    @property
    def alarm_names(self) -> list[str]:
        return [a["AlarmName"] for a in self.alarm_requests]

    @property
    def previous_definition(self) -> str:
        """The job definition the live schedule runs, when it is another one than ours."""
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


@dataclass(frozen=True)
class MonitorSettings:
    """What a monitor runs as and on, how often, and how far a feature may drift."""

    image: str
    instance_type: str
    role_arn: str
    expression: str
    threshold: float
    sns_topic_arn: str = ""


def plan_setup(
    kind: MonitorKind,
    monitoring: Monitoring,
    endpoint: str,
    outputs: MonitorOutputs,
    settings: MonitorSettings,
    features: list[str],
) -> MonitorSetup:
    """Decide the requests and read what exists; creates nothing."""
    definition = kind.definition_request(
        endpoint, outputs, settings.image, settings.instance_type, settings.role_arn
    )
    name = definition["JobDefinitionName"]
    return MonitorSetup(
        kind=kind.kind,
        endpoint=endpoint,
        expression=settings.expression,
        definition_request=definition,
        definition_exists=monitoring.describe_job_definition(kind.kind, name) is not None,
        schedule_request=kind.schedule_request(endpoint, name, settings.expression),
        schedule_live=monitoring.describe_monitoring_schedule(kind.schedule_name(endpoint)),
        alarm_requests=kind.alarm_requests(
            endpoint, features, settings.expression, settings.threshold, settings.sns_topic_arn
        ),
        sns_topic_arn=settings.sns_topic_arn,
    )


def apply_setup(
    setup: MonitorSetup, monitoring: Monitoring, alarms: Hosting, log: Callable[[str], None]
) -> None:
    """Job definition, schedule (created, updated or kept), the replaced definition deleted,
    alarms put; each step is idempotent, so a re-run changes nothing."""
    if setup.definition_exists:
        log(f"Job definition {setup.definition_name} exists: kept")
    else:
        monitoring.create_job_definition(setup.kind, setup.definition_request)
        log(f"Created {setup.kind} job definition {setup.definition_name}")
    action, schedule = setup.schedule_action, setup.schedule_name
    if action == "create":
        tags = [{"Key": "smgha:endpoint", "Value": setup.endpoint}]
        monitoring.create_monitoring_schedule({**setup.schedule_request, "Tags": tags})
        log(f"Created monitoring schedule {schedule} ({setup.expression})")
    elif action == "update":
        monitoring.update_monitoring_schedule(setup.schedule_request)
        log(f"Updated monitoring schedule {schedule} ({setup.expression})")
    else:
        log(f"Monitoring schedule {schedule} is up to date")
    previous = setup.previous_definition
    # Ours (the same name but for the hash) and no longer used: delete it. SageMaker may
    # still hold it while the schedule update settles; then it stays, which is harmless.
    if previous and previous[:-9] == setup.definition_name[:-9]:
        try:
            monitoring.delete_job_definition(setup.kind, previous)
            log(f"Deleted the replaced job definition {previous}")
        except StageError as error:
            log(f"The replaced job definition {previous} stays: {error.detail}")
    for alarm in setup.alarm_requests:
        alarms.put_metric_alarm(alarm)
    target = f", notifying {setup.sns_topic_arn}" if setup.sns_topic_arn else ""
    log(f"Drift alarms ({len(setup.alarm_requests)}){target}: {', '.join(setup.alarm_names)}")
