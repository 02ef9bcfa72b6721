"""Asynchronous inference: deploy-endpoint's async inputs, the endpoint config's
AsyncInferenceConfig, what SageMaker allows beside it (refused before anything is created,
with one error naming both inputs), and the autoscaling that takes an async variant to zero
instances and back on its backlog.

Sources (botocore's `sagemaker` service model and the SageMaker Developer Guide):
- AsyncInferenceConfig: OutputConfig required, ClientConfig optional.
  AsyncInferenceClientConfig.MaxConcurrentInvocationsPerInstance 1-1000 ("If no value is
  provided, SageMaker chooses an optimal value"). AsyncInferenceOutputConfig: S3OutputPath,
  S3FailurePath (DestinationS3Uri: at most 512 characters), KmsKeyId (at most 2048,
  [a-zA-Z0-9:/_-]*), NotificationConfig: SuccessTopic, ErrorTopic (SnsTopicArn),
  IncludeInferenceResponseIn (SUCCESS_NOTIFICATION_TOPIC, ERROR_NOTIFICATION_TOPIC; "The
  inference response is included only if the response size is less than or equal to 128 KB").
- The model leaves S3OutputPath optional, but "S3OutputPath: Location to upload response
  outputs when no location is provided in the request" and InvokeEndpointAsync's
  S3OutputPathExtension is only appended to it: this project has no other output location,
  so async-output-s3-uri is what turns async on, and every other async input needs it.
- "The presence of an asynchronous inference configuration (AsyncInferenceConfig) object in
  the endpoint configuration implies that the endpoint can receive only asynchronous
  invocations" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html):
  smoke-test reads the config to know how to send.
- Autoscaling (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html):
  "with Asynchronous Inference you can also scale down your asynchronous endpoints instances
  to zero"; target tracking on a customized metric, ApproximateBacklogSizePerInstance
  (namespace AWS/SageMaker, dimension EndpointName, statistic Average); and the optional
  step-scaling policy, set off by a CloudWatch alarm on HasBacklogWithoutCapacity (Average,
  >= 1), that scales out from zero: "If you do not specify this optional policy, your
  endpoint only initiates scaling up from zero after the number of backlog requests exceeds
  the target tracking value".
Not confirmed against AWS, so the stricter reading is taken (and said in the errors):
- serverless beside async: AsyncInferenceClientConfig counts per instance and scaling to zero
  is of instances; no page combines them: refused.
- data capture: the guide documents capture for real-time endpoints
  (model-monitor-data-capture-endpoint.html) and batch transform, no page for async: refused.
- canary and linear traffic shifting: a step is a share of the requests a fleet answers, and
  an async endpoint's requests wait in a queue the fleets share; no page says how SageMaker
  splits it: an async update is all at once (its alarms and waits still apply).
- SNS topics: the pattern botocore gives is checked, not whether SageMaker can publish to a
  topic of another region or account.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from smgha.aws_values import aws_value
from smgha.errors import InputError, shown
from smgha.inputs import InputSpec, InputValues, positive_number, s3_uri, whole_number
from smgha.resources import autoscaling

MAX_CONCURRENT_INVOCATIONS = (1, 1000)  # AsyncInferenceClientConfig
GUIDE = "https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html"
# IncludeInferenceResponseIn's values (AsyncNotificationTopicTypes), by the word the input takes.
RESPONSE_IN = {"success": "SUCCESS_NOTIFICATION_TOPIC", "error": "ERROR_NOTIFICATION_TOPIC"}
# The backlog metrics of async-inference-autoscale.html.
BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
NO_CAPACITY_METRIC = "HasBacklogWithoutCapacity"

INPUTS = (
    InputSpec(
        "async-output-s3-uri",
        "Serve with SageMaker Asynchronous Inference: results go under this s3:// prefix (requests are queued; InvokeEndpointAsync only). Empty: real-time.",
    ),
    InputSpec(
        "async-failure-s3-uri",
        "Async: failed requests' errors go under this s3:// prefix (needs async-output-s3-uri). Empty: with the results.",
    ),
    InputSpec("async-success-topic-arn", "Async: SNS topic told of each result."),
    InputSpec("async-error-topic-arn", "Async: SNS topic told of each failure."),
    InputSpec(
        "async-include-response-in",
        "Async: the notifications that carry the response (up to 128 KB): success, error or both (comma-separated; each needs its topic).",
    ),
    InputSpec("async-kms-key-id", "Async: KMS key SageMaker encrypts the results with."),
    InputSpec(
        "async-max-concurrent-invocations",
        "Async: requests each instance works on at once (1-1000). Empty: SageMaker chooses.",
    ),
    InputSpec(
        "target-backlog-per-instance",
        "Async autoscaling target: queued requests per instance (ApproximateBacklogSizePerInstance); autoscaling-min-instances may be 0 with it.",
        "5",
    ),
)
# The async inputs that mean nothing without async-output-s3-uri.
NEEDS_OUTPUT = tuple(spec.name for spec in INPUTS[1:-1])

# The inputs that async excludes, each with why (see the module's doc). Only a value the
# workflow gave counts (target-invocations-per-instance has a default).
NOT_WITH_ASYNC = {
    "serverless-memory-mb": "an async variant runs on instances (MaxConcurrentInvocationsPerInstance counts per instance, and scaling to zero is of instances); no SageMaker page combines it with ServerlessConfig (not confirmed: the stricter reading)",
    "data-capture-percent": "SageMaker documents data capture for real-time endpoints and batch transform, not for async (not confirmed: the stricter reading)",
    "data-capture-s3-uri": "SageMaker documents data capture for real-time endpoints and batch transform, not for async (not confirmed: the stricter reading)",
    "target-invocations-per-instance": "an async variant scales on its backlog: set target-backlog-per-instance",
}
SHIFTING_STRATEGIES = ("canary", "linear")


@dataclass(frozen=True)
class Settings:
    """An endpoint config's AsyncInferenceConfig (the paths without a trailing slash)."""

    output_path: str
    failure_path: str = ""
    success_topic: str = ""
    error_topic: str = ""
    include_response_in: tuple[str, ...] = ()  # AsyncNotificationTopicTypes
    kms_key_id: str = ""
    max_concurrent_invocations: int | None = None  # None: SageMaker chooses

    def to_request(self) -> dict[str, Any]:
        output: dict[str, Any] = {"S3OutputPath": self.output_path}
        if self.failure_path:
            output["S3FailurePath"] = self.failure_path
        if self.kms_key_id:
            output["KmsKeyId"] = self.kms_key_id
        notification: dict[str, Any] = {}
        if self.success_topic:
            notification["SuccessTopic"] = self.success_topic
        if self.error_topic:
            notification["ErrorTopic"] = self.error_topic
        if self.include_response_in:
            notification["IncludeInferenceResponseIn"] = list(self.include_response_in)
        if notification:
            output["NotificationConfig"] = notification
        config: dict[str, Any] = {"OutputConfig": output}
        if self.max_concurrent_invocations is not None:
            config["ClientConfig"] = {
                "MaxConcurrentInvocationsPerInstance": self.max_concurrent_invocations
            }
        return config


def checked_inputs(values: InputValues, strategy: str) -> Settings | None:
    """The async settings (None: real-time), after every rule that concerns them."""
    output = values["async-output-s3-uri"]
    if not output:
        other = next((name for name in NEEDS_OUTPUT if values[name]), "")
        if other:
            raise InputError(
                other,
                "applies only to an asynchronous endpoint, and async-output-s3-uri is empty",
                "Set async-output-s3-uri (where the results go), or leave the async inputs empty.",
            )
        return None
    example = "s3://my-bucket/async-results"
    settings = Settings(
        output_path=_path("async-output-s3-uri", output, example),
        failure_path=_path("async-failure-s3-uri", values["async-failure-s3-uri"], example),
        success_topic=_topic(values, "async-success-topic-arn"),
        error_topic=_topic(values, "async-error-topic-arn"),
        include_response_in=_response_in(values),
        kms_key_id=_kms_key(values["async-kms-key-id"]),
        max_concurrent_invocations=_concurrency(values["async-max-concurrent-invocations"]),
    )
    for name, why in NOT_WITH_ASYNC.items():
        given = values.runner.get_input(name)
        if given:
            raise InputError(
                name,
                f"{shown(given)} does not apply with async-output-s3-uri: {why}",
                f"Leave {name} empty for an asynchronous endpoint, or leave async-output-s3-uri empty for a real-time one. See {GUIDE}.",
            )
    if strategy in SHIFTING_STRATEGIES:
        raise InputError(
            "strategy",
            f"{strategy} does not apply with async-output-s3-uri: its requests wait in one queue, which no SageMaker page says how a {strategy} step splits (not confirmed: the stricter reading)",
            "Set strategy: all-at-once for an asynchronous endpoint (its alarms and waits still apply).",
        )
    return settings


def _path(name: str, text: str, example: str) -> str:
    if not text:
        return ""
    s3_uri(name, text, example)
    return aws_value(name, text, "sagemaker", "DestinationS3Uri").rstrip("/")  # <= 512 chars


def _topic(values: InputValues, name: str) -> str:
    text = values[name]
    return aws_value(name, text, "sagemaker", "SnsTopicArn") if text else ""


def _response_in(values: InputValues) -> tuple[str, ...]:
    name = "async-include-response-in"
    words = [word.strip() for word in values[name].split(",") if word.strip()]
    chosen = []
    for word in dict.fromkeys(words):
        if word not in RESPONSE_IN:
            raise InputError(
                name, f"{shown(word)} is not success or error", "E.g. success, or success,error."
            )
        topic = f"async-{word}-topic-arn"
        if not values[topic]:
            raise InputError(
                name,
                f"{word} needs {topic}: the response is included in the notification sent to it, and without it none is sent",
                f"Set {topic}, or leave {word} out of {name}.",
            )
        chosen.append(RESPONSE_IN[word])
    return tuple(chosen)


def _kms_key(text: str) -> str:
    return aws_value("async-kms-key-id", text, "sagemaker", "KmsKeyId") if text else ""


def _concurrency(text: str) -> int | None:
    if not text:
        return None
    return whole_number("async-max-concurrent-invocations", text, *MAX_CONCURRENT_INVOCATIONS)


# ---- autoscaling on the backlog -------------------------------------------------------------


def backlog_scaling(
    values: InputValues,
    endpoint: str,
    variant: str,
    cooldowns: tuple[int, int],
    max_instances: int,
) -> autoscaling.TargetTracking | None:
    """Target tracking of the instances on the endpoint's backlog per instance, from
    autoscaling-min-instances (0 allowed: scale to zero), with the step policy that scales
    out from zero when requests wait and no instance runs (None: no autoscaling asked)."""
    target = positive_number("target-backlog-per-instance", values["target-backlog-per-instance"])
    policy = (target, *cooldowns)
    tracking = autoscaling.instance_scaling(
        values, endpoint, variant, policy, max_instances, lowest=0
    )
    if tracking is None:
        return None
    metric = {
        "MetricName": BACKLOG_METRIC,
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
        "Statistic": "Average",
    }
    from_zero = autoscaling.StepOnAlarm(
        policy_name=f"{endpoint}-scale-out-from-zero",
        alarm_name=f"{endpoint}-has-backlog-without-capacity",
        metric_name=NO_CAPACITY_METRIC,
        dimensions=(("EndpointName", endpoint),),
        cooldown=cooldowns[1],
    )
    return dataclasses.replace(
        tracking,
        customized_metric=metric,
        name=f"{endpoint}-backlog-per-instance",
        step_on_alarm=from_zero,
    )


def of_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The AsyncInferenceConfig of an endpoint config (request or Describe record), or None."""
    found = (config or {}).get("AsyncInferenceConfig")
    return dict(found) if found else None


def config_text(config: dict[str, Any] | None) -> str:
    """An endpoint config's async setting for a summary: "off", or where the results go."""
    found = of_config(config)
    if not found:
        return "off"
    output = found.get("OutputConfig") or {}
    client = found.get("ClientConfig") or {}
    text = f"results to {output.get('S3OutputPath', '?')}"
    if output.get("S3FailurePath"):
        text += f", failures to {output['S3FailurePath']}"
    topics = output.get("NotificationConfig") or {}
    if topics:
        text += ", notifies " + ", ".join(
            str(topics[key]).rsplit(":", 1)[-1] for key in ("SuccessTopic", "ErrorTopic") if key in topics
        )  # fmt: skip
    if client.get("MaxConcurrentInvocationsPerInstance"):
        text += f", {client['MaxConcurrentInvocationsPerInstance']} at once per instance"
    return text
