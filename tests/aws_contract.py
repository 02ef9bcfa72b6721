"""The contract every AWS request of the tests is held to: what the real service accepts.

One validator, `contract_problems(service, operation, params)`, serves every stand-in:

- in the test process, `hold_clients_to_the_contract` (autouse, tests/conftest.py) checks
  every call any botocore client makes, whether it goes to moto or is answered by a
  Stubber, and answers a request AWS would refuse with the ValidationException AWS sends;
- in the e2e AWS double (tests/e2e/aws_double.py), every HTTP request the stages send is
  read back to its parameters (`request_params`) and checked the same way before it is
  answered, together with the rules that need the double's state (UpdateEndpoint's).

It is the request's shape (tests/aws_shapes.py: botocore's service model, including what
botocore's client-side validation skips: patterns, maximum lengths, list and map sizes,
numeric ranges) plus SageMaker's documented rules that no shape expresses
(`SERVICE_RULES`, each with its source beside it). CreatePipeline and UpdatePipeline carry
requests of their own: each step of the definition is the request the pipeline service
makes when the step starts (`pipeline_definition_problems`).
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree import ElementTree

from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

from smgha.definition import iter_steps, parameters
from tests.aws_shapes import RunTimeValue, request_problems, service_model
from tests.aws_training_rules import SPOT_RULES, spot_training_problems, tuning_spot_problems

# ---- SageMaker's documented rules no shape expresses -------------------------------------------


def _percent_capacity(size: Mapping[str, Any] | None) -> float | None:
    """A CapacitySize's value when it is a percentage of the fleet, else None."""
    if size and size.get("Type") == "CAPACITY_PERCENT":
        return float(size.get("Value", 0))
    return None


def deployment_config_problems(config: Mapping[str, Any] | None, where: str) -> list[str]:
    """A DeploymentConfig's rules that hold whatever the fleet (percentages, waits).

    Sources: the botocore `sagemaker` model's documentation of
    - TrafficRoutingConfig.CanarySize: "Value must be less than or equal to 50% of the
      variant's total instance count";
    - TrafficRoutingConfig.LinearStepSize: "Value must be 10-50% of the variant's total
      instance count";
    - BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds: "the timeout value should be
      larger than the total waiting time specified in TerminationWaitInSeconds and
      WaitIntervalInSeconds" (linear counts a wait per step: the stricter reading, the
      service does not say).
    Instance-count sizes need the fleet: AwsDouble checks those against the config.
    """
    problems: list[str] = []
    policy = (config or {}).get("BlueGreenUpdatePolicy")
    if not policy:
        return problems
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind, wait = routing.get("Type"), int(routing.get("WaitIntervalInSeconds", 0))
    canary = _percent_capacity(routing.get("CanarySize"))
    if kind == "CANARY" and canary is not None and not canary <= 50:
        problems.append(f"{where}: CanarySize {canary:g} % is above 50 % of the fleet")
    step = _percent_capacity(routing.get("LinearStepSize"))
    if kind == "LINEAR" and step is not None and not 10 <= step <= 50:
        problems.append(f"{where}: LinearStepSize {step:g} % is outside 10-50 % of the fleet")
    steps = math.ceil(100 / step) if kind == "LINEAR" and step else 1
    waits = steps * wait + int(policy.get("TerminationWaitInSeconds", 0))
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and not timeout > waits:
        problems.append(
            f"{where}: MaximumExecutionTimeoutInSeconds {timeout} is not larger than the "
            f"{waits} s of TerminationWaitInSeconds and WaitIntervalInSeconds"
        )
    return problems


def _deployment_config(params: Mapping[str, Any]) -> list[str]:
    return deployment_config_problems(params.get("DeploymentConfig"), "DeploymentConfig")


# A serverless endpoint config. Sources: botocore's sagemaker model, ProductionVariant.
# ServerlessConfig ("Specifies a serverless endpoint configuration instead of an
# instance-based endpoint configuration") and ProductionVariantServerlessConfig
# (MemorySizeInMB: "Valid values are in 1 GB increments: 1024 MB, 2048 MB, 3072 MB, 4096 MB,
# 5120 MB, or 6144 MB"; ProvisionedConcurrency "Should be less than or equal to
# MaxConcurrency"); the SageMaker guide's feature exclusions of Serverless Inference
# (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): "data capture,
# multiple production variants" are not supported.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)


def serverless_config_problems(params: Mapping[str, Any]) -> list[str]:
    variants = params.get("ProductionVariants") or []
    serverless = [v for v in variants if v.get("ServerlessConfig")]
    problems: list[str] = []
    for variant in serverless:
        name, config = variant.get("VariantName"), variant["ServerlessConfig"]
        for member in ("InstanceType", "InitialInstanceCount"):
            if member in variant:
                problems.append(f"variant {name}: {member} with ServerlessConfig")
        if config.get("MemorySizeInMB") not in SERVERLESS_MEMORY_MB:
            problems.append(
                f"variant {name}: MemorySizeInMB {config.get('MemorySizeInMB')} is not a 1 GB step"
            )
        provisioned = config.get("ProvisionedConcurrency")
        if provisioned is not None and provisioned > config.get("MaxConcurrency", 0):
            problems.append(
                f"variant {name}: ProvisionedConcurrency {provisioned} above MaxConcurrency"
            )
    if serverless and len(variants) > 1:
        problems.append("a serverless endpoint config has one production variant")
    if serverless and (params.get("DataCaptureConfig") or {}).get("EnableCapture"):
        problems.append("a serverless endpoint config cannot capture data (DataCaptureConfig)")
    return problems


def async_config_problems(params: Mapping[str, Any]) -> list[str]:
    """An AsyncInferenceConfig's rules beyond its shape (smgha/resources/async_inference.py has
    the sources). The guide's async endpoint always names S3OutputPath ("Location to upload
    response outputs when no location is provided in the request", and a request gives only
    an extension of it); IncludeInferenceResponseIn can only include the response in a
    notification that is sent ("If no topic is provided, no notification is sent"). Not
    confirmed against the service, the stricter reading: ServerlessConfig and
    DataCaptureConfig beside it (no page combines them)."""
    queued = params.get("AsyncInferenceConfig")
    if not queued:
        return []
    output = queued.get("OutputConfig") or {}
    problems = []
    if not output.get("S3OutputPath"):
        problems.append("AsyncInferenceConfig without OutputConfig.S3OutputPath")
    topics = output.get("NotificationConfig") or {}
    for kind in topics.get("IncludeInferenceResponseIn") or []:
        topic = "SuccessTopic" if kind == "SUCCESS_NOTIFICATION_TOPIC" else "ErrorTopic"
        if not topics.get(topic):
            problems.append(f"IncludeInferenceResponseIn {kind} without {topic}")
    variants = params.get("ProductionVariants") or []
    if any(v.get("ServerlessConfig") for v in variants):
        problems.append("AsyncInferenceConfig beside a ServerlessConfig variant")
    if (params.get("DataCaptureConfig") or {}).get("EnableCapture"):
        problems.append("AsyncInferenceConfig beside DataCaptureConfig")
    return problems


# ScheduleConfig.ScheduleExpression (botocore model documentation): "The supported cron
# expressions are: cron(0 * ? * * *) ... cron(0 [00-23] ? * * *) ... NOW ...
# cron(0 [00-23]/[01-24] ? * * *)".
_SCHEDULES = re.compile(
    r"cron\(0 \* \? \* \* \*\)"
    r"|cron\(0 ([01]?\d|2[0-3]) \? \* \* \*\)"
    r"|cron\(0 ([01]?\d|2[0-3])/(0?[1-9]|1\d|2[0-4]) \? \* \* \*\)"
    r"|NOW"
)


def _monitoring_schedule(params: Mapping[str, Any]) -> list[str]:
    config = params.get("MonitoringScheduleConfig") or {}
    expression = (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
    if expression is not None and not _SCHEDULES.fullmatch(expression):
        return [f"ScheduleExpression {expression!r} is not a schedule Model Monitor supports"]
    return []


def _model_quality_job_definition(params: Mapping[str, Any]) -> list[str]:
    """ "for an hourly model quality monitoring job, the value of MaxRuntimeInSeconds specified
    as part of StoppingCondition must be no more than 1800" ("Schedule model quality monitoring
    jobs", https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-schedule.html).
    The definition does not know its schedule: the stricter reading holds every one to it."""
    limit = (params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 3600)
    return [f"MaxRuntimeInSeconds {limit} is over 1800"] if limit > 1800 else []


# ---- a pipeline definition: each step is a request the pipeline service makes ---------------

# Step type -> the API the pipeline service calls to run the step, and the name member it
# gives the job itself (None: the API needs no name). Sources:
# - "Pipelines steps" (https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html):
#   a step's properties are the Describe answer of its job type (ProcessingStep:
#   DescribeProcessingJob, TrainingStep: DescribeTrainingJob, TransformStep:
#   DescribeTransformJob);
# - the SDK's steps (sagemaker-mlops 1.27.0, sagemaker/mlops/workflow/steps.py): Arguments
#   is "the arguments dictionary that is used to call create_training_job" (and
#   create_processing_job, create_transform_job, create_hyper_parameter_tuning_job);
#   model_step.py: a RegisterModel step's are CreateModelPackage's, a Model step's
#   CreateModel's (its properties: DescribeModelPackageOutput, DescribeModelOutput);
# - the job names: the SDK leaves them out "since it will be overridden at pipeline
#   execution time" (sagemaker-core 2.27.0, sagemaker/core/workflow/utilities.py,
#   trim_request_dict and DEF_CONFIG_WARN_MSG_TEMPLATE; kept only as a prefix with
#   PipelineDefinitionConfig(use_custom_job_prefix=True)), and the definition's JSON schema
#   has no required name (github.com/aws-sagemaker-mlops/
#   sagemaker-model-building-pipeline-definition-JSON-schema, commit b4012b0,
#   schema/pipeline-definition.schema.json: TrainingStep, ProcessingArgs, TransformStep,
#   TuningStep, CreateModelStep).
# Other step types (Condition, Fail, Lambda, Callback, ...) are not such requests; a
# Condition's IfSteps and ElseSteps are walked (smgha.definition.iter_steps).
STEP_REQUESTS: dict[str, tuple[str, str | None]] = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "RegisterModel": ("CreateModelPackage", None),
    "Model": ("CreateModel", "ModelName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
}

# Step caching: the attributes of a step's request whose values, resolved when the step
# starts, are its cache key; any other attribute may change without a rerun. SageMaker
# Developer Guide, "Caching pipeline steps" / "Default cache key attributes by pipeline step
# type" (docs.aws.amazon.com/sagemaker/latest/dg/pipelines-caching.html; awsdocs/
# amazon-sagemaker-developer-guide, doc_source/pipelines-caching.md, commit 06a62d1). The key
# is compared on the values the step runs with, not on the definition's expressions: a
# step downstream of a rerun step reads that run's new output URIs and reruns too
# (aws/sagemaker-python-sdk#3392: a ModelStep that runs again makes the Transform step after
# it miss the cache). Tuning's TrainingJobDefinition counts only by some of its members.
CACHE_KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}
_TUNING_DEFINITION_KEYS = (
    "AlgorithmSpecification",
    "HyperParameterRanges",
    "InputDataConfig",
    "StaticHyperParameters",
    "TuningObjective",
)


def cache_key(step_type: str, arguments: Mapping[str, Any]) -> str | None:
    """The step's cache key: its cache key attributes as canonical JSON; None for a step type
    SageMaker does not cache."""
    if step_type not in CACHE_KEY_ATTRIBUTES:
        return None
    key = {name: arguments.get(name) for name in CACHE_KEY_ATTRIBUTES[step_type]}
    if step_type == "Tuning" and isinstance(key["TrainingJobDefinition"], Mapping):
        definition = key["TrainingJobDefinition"]
        key["TrainingJobDefinition"] = {n: definition.get(n) for n in _TUNING_DEFINITION_KEYS}
    return json.dumps(key, sort_keys=True, default=str)


# CacheConfig.ExpireAfter: "a string in ISO 8601 duration format": years, months, weeks, days,
# hours or minutes, each a number and a letter, e.g. "30d", "5y", "T16m", "30dT5h" (the
# Developer Guide's own examples, without the leading P; the SDK's with it: "P30D", "PT1H").
# Both spellings, either case. A month is read as 30 days and a year as 365 (the guide does not
# say how SageMaker counts them).
_DURATION = re.compile(
    r"P?(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", re.IGNORECASE
)
_DURATION_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60)


def expire_after_seconds(text: Any) -> float | None:
    """CacheConfig.ExpireAfter in seconds; None when it is not such a duration."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()) or text.upper().endswith("T"):
        return None
    return float(
        sum(int(n or 0) * unit for n, unit in zip(match.groups(), _DURATION_SECONDS, strict=True))
    )


def _cache_config_problems(step: Mapping[str, Any], where: str) -> list[str]:
    """A step's CacheConfig: Enabled a boolean and, when true, ExpireAfter a duration (the
    Developer Guide: "When you turn on step caching, you must also define a timeout").
    Whether CreatePipeline itself refuses a bad one is not confirmed: the stricter reading."""
    config = step.get("CacheConfig")
    if config is None:
        return []
    if not isinstance(config, Mapping) or not isinstance(config.get("Enabled"), bool):
        return [
            f"{where}: CacheConfig must be {{Enabled: true|false, ExpireAfter}}, got {config!r}"
        ]
    if config["Enabled"] and expire_after_seconds(config.get("ExpireAfter")) is None:
        return [
            f"{where}: CacheConfig.ExpireAfter {config.get('ExpireAfter')!r} is not an ISO 8601 "
            'duration such as "P30D" or "PT1H" (caching is enabled, so a timeout is required)'
        ]
    return []


# The functions a definition's value can be, besides {"Get": path} (a parameter, a step
# property, an execution variable): sagemaker-core 2.27.0, sagemaker/core/workflow/
# functions.py (Join, JsonGet); parameters.py, properties.py, execution_variables.py emit Get.
_FUNCTIONS = ("Std:Join", "Std:JsonGet")


def _read(get: str, declared: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    """What {"Get": get} is when the step starts, as strictly as it can be known now: a
    parameter's default (the value an execution that sets nothing runs with), else a
    RunTimeValue."""
    if not get.startswith("Parameters."):
        return RunTimeValue(get)
    name = get.removeprefix("Parameters.")
    # An undeclared parameter has no value when the step starts. Whether CreatePipeline
    # itself refuses it is not confirmed (smgha.definition.check_wiring refuses it before
    # any upsert): the stricter reading.
    if name not in declared:
        problems.append(f"{where}: reads {get}, but the definition declares no parameter {name}")
    default = declared.get(name, {}).get("DefaultValue")
    return RunTimeValue(get) if default is None else default


def _with_defaults(value: Any, declared: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    """`value` with every expression in it replaced by what `_read` makes of it."""
    if isinstance(value, Mapping):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            return _read(value["Get"], declared, where, problems)
        if len(value) == 1 and next(iter(value)) in _FUNCTIONS:
            return RunTimeValue(next(iter(value)))
        return {key: _with_defaults(item, declared, where, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_defaults(item, declared, where, problems) for item in value]
    return value


def pipeline_definition_problems(definition: Mapping[str, Any]) -> list[str]:
    """Every reason the pipeline service would refuse a step's request when it starts the
    step: each step's Arguments against the input shape of the API it calls (STEP_REQUESTS).

    The strict reading: a parameter read is checked with the parameter's default (an Integer
    parameter where a string goes fails the step at run time); what only the run knows is
    accepted where one value goes, and everything around it is still checked."""
    problems: list[str] = []
    declared = parameters(definition)
    for step in iter_steps(definition.get("Steps") or []):
        if step.get("Type") not in STEP_REQUESTS:
            continue
        operation, name_member = STEP_REQUESTS[step["Type"]]
        where = f"PipelineDefinition step {step.get('Name')} ({operation})"
        problems += _cache_config_problems(step, where)
        arguments = _with_defaults(step.get("Arguments") or {}, declared, where, problems)
        if name_member and isinstance(arguments, dict) and name_member not in arguments:
            arguments[name_member] = RunTimeValue(f"the {name_member} the pipeline gives")
        shape_problems = request_problems("sagemaker", operation, arguments, f"{where} Arguments")
        problems += shape_problems
        if operation in SPOT_RULES and not shape_problems:
            problems += [f"{where} Arguments: {p}" for p in SPOT_RULES[operation](arguments)]
    return problems


def _pipeline_definition(params: Mapping[str, Any]) -> list[str]:
    """CreatePipeline's and UpdatePipeline's PipelineDefinition, when given inline."""
    if "PipelineDefinition" not in params:
        if "PipelineDefinitionS3Location" in params:
            # The AWS adapter sends the definition inline, never from S3
            # (smgha/backends/aws/pipelines.py, _definition_body): a test that sends one from
            # S3 must first teach the contract to read it, or its steps go unchecked.
            raise ValueError("the contract does not read a PipelineDefinitionS3Location")
        return []
    try:
        definition = json.loads(params["PipelineDefinition"])
    except json.JSONDecodeError as error:
        return [f"PipelineDefinition is not JSON: {error}"]
    if not isinstance(definition, dict):
        return [f"PipelineDefinition is a JSON {type(definition).__name__}, not an object"]
    return pipeline_definition_problems(definition)


def _selective_execution(params: Mapping[str, Any]) -> list[str]:
    """StartPipelineExecution's SelectiveExecutionConfig: the source is "a reference execution
    of the current pipeline" (API reference, SelectiveExecutionConfig). What needs state (the
    steps, the source's status) the AWS double checks (tests/e2e/aws_double.py)."""
    config = params.get("SelectiveExecutionConfig") or {}
    source = config.get("SourcePipelineExecutionArn")
    if not source:
        return []
    pipeline = str(params.get("PipelineName", "")).split(":pipeline/")[-1]
    source_pipeline = source.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
    if source_pipeline.lower() != pipeline.lower():
        return [
            f"SelectiveExecutionConfig.SourcePipelineExecutionArn {source} is an execution of "
            f"pipeline {source_pipeline}, not of {pipeline}"
        ]
    return []


# Application Auto Scaling, PredefinedMetricSpecification: each SageMaker predefined metric
# measures one scalable dimension: SageMakerVariantInvocationsPerInstance an instance-based
# variant's DesiredInstanceCount, SageMakerVariantProvisionedConcurrencyUtilization a serverless
# variant's DesiredProvisionedConcurrency
# (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-autoscale.html,
# https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PredefinedMetricSpecification.html).
# That PutScalingPolicy refuses a mismatch is not confirmed against AWS: the stricter reading.
_METRIC_DIMENSIONS = {
    "SageMakerVariantInvocationsPerInstance": "sagemaker:variant:DesiredInstanceCount",
    "SageMakerVariantProvisionedConcurrencyUtilization": "sagemaker:variant:DesiredProvisionedConcurrency",
}


def _scaling_policy_metric(params: Mapping[str, Any]) -> list[str]:
    config = params.get("TargetTrackingScalingPolicyConfiguration") or {}
    metric = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    dimension = _METRIC_DIMENSIONS.get(str(metric))
    if dimension and params.get("ScalableDimension") != dimension:
        return [
            f"PredefinedMetricType {metric} measures {dimension}, not {params.get('ScalableDimension')}"
        ]
    return []


# PutMetricAlarm of a metric-math alarm, as the botocore `cloudwatch` model's documentation
# states it (PutMetricAlarmInput.MetricName, .Metrics; MetricDataQuery, .Id, .ReturnData;
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html):
# "you must specify either MetricName or a Metrics array", and with Metrics none of Namespace,
# Dimensions, Period, Unit, Statistic or ExtendedStatistic; each query "specifies either a
# metric to retrieve, or a math expression"; at most 10 of each; "Of those Expression
# structures, one must have true as the value for ReturnData" (the stricter reading: exactly
# one, an Expression); an Id's "first character must be a lowercase letter".
_SINGLE_METRIC_KEYS = (
    "Namespace",
    "Dimensions",
    "Period",
    "Unit",
    "Statistic",
    "ExtendedStatistic",
)


def _metric_alarm(params: Mapping[str, Any]) -> list[str]:
    queries = params.get("Metrics")
    if queries is None:
        return [] if params.get("MetricName") else ["neither MetricName nor Metrics is given"]
    problems = [
        f"{key} beside Metrics" for key in ("MetricName", *_SINGLE_METRIC_KEYS) if key in params
    ]
    stats = [q for q in queries if "MetricStat" in q]
    expressions = [q for q in queries if "Expression" in q]
    problems += [f"query {q.get('Id')} has both or neither of MetricStat and Expression" for q in queries if ("MetricStat" in q) == ("Expression" in q)]  # fmt: skip
    problems += [f"{len(found)} {kind} queries, at most 10" for kind, found in (("MetricStat", stats), ("Expression", expressions)) if len(found) > 10]  # fmt: skip
    returned = [q for q in queries if q.get("ReturnData") is not False]
    if len(returned) != 1 or "Expression" not in returned[0]:
        problems.append(f"{len(returned)} queries return data (ReturnData not false); exactly one Expression must")  # fmt: skip
    problems += [f"query Id {q.get('Id')!r} does not start with a lowercase letter" for q in queries if not str(q.get("Id", ""))[:1].islower()]  # fmt: skip
    return problems


def _transform_job(params: Mapping[str, Any]) -> list[str]:
    """CreateTransformJob's rules the shapes do not hold (API_CreateTransformJob.html):
    MaxPayloadInMB "cannot be greater than 100 MB. If you specify the MaxConcurrentTransforms
    parameter, the value of (MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100
    MB"; BatchStrategy: "To enable the batch strategy, you must set the SplitType property to
    Line, RecordIO, or TFRecord" (SplitType's default is None)."""
    problems = []
    payload = params.get("MaxPayloadInMB", 6)
    if payload > 100:
        problems.append(f"MaxPayloadInMB {payload} is above 100")
    concurrent = params.get("MaxConcurrentTransforms") or 0
    if concurrent * payload > 100:
        problems.append(
            f"MaxConcurrentTransforms * MaxPayloadInMB is {concurrent * payload}, above 100"
        )
    split = (params.get("TransformInput") or {}).get("SplitType", "None")
    if params.get("BatchStrategy") and split == "None":
        problems.append(
            f"BatchStrategy {params['BatchStrategy']} needs a SplitType, and it is None"
        )
    return problems


# (service, operation) -> its rules. Each returns the problems of one request.
SERVICE_RULES: dict[tuple[str, str], Callable[[Mapping[str, Any]], list[str]]] = {
    ("sagemaker", "UpdateEndpoint"): _deployment_config,
    ("sagemaker", "CreateEndpoint"): _deployment_config,
    ("sagemaker", "CreateEndpointConfig"): lambda params: [
        *serverless_config_problems(params),
        *async_config_problems(params),
    ],
    ("sagemaker", "CreateMonitoringSchedule"): _monitoring_schedule,
    ("sagemaker", "UpdateMonitoringSchedule"): _monitoring_schedule,
    ("sagemaker", "CreateModelQualityJobDefinition"): _model_quality_job_definition,
    ("sagemaker", "CreatePipeline"): _pipeline_definition,
    ("sagemaker", "UpdatePipeline"): _pipeline_definition,
    ("sagemaker", "StartPipelineExecution"): _selective_execution,
    ("application-autoscaling", "PutScalingPolicy"): _scaling_policy_metric,
    ("cloudwatch", "PutMetricAlarm"): _metric_alarm,
    ("sagemaker", "CreateTransformJob"): _transform_job,
    ("sagemaker", "CreateTrainingJob"): spot_training_problems,
    ("sagemaker", "CreateHyperParameterTuningJob"): tuning_spot_problems,
}


def shadow_config_problems(params: Mapping[str, Any]) -> list[str]:
    """ShadowProductionVariants (botocore's CreateEndpointConfig docs): "If you use this field,
    you can only specify one variant for ProductionVariants and one variant for
    ShadowProductionVariants"; no shadow beside serverless variants ("Create a shadow test",
    Prerequisites: Serverless Inference is refused with a validation error,
    https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html)."""
    shadows = params.get("ShadowProductionVariants")
    if shadows is None:
        return []
    variants = params.get("ProductionVariants") or []
    problems = []
    if len(variants) != 1 or len(shadows) != 1:
        problems.append(
            f"with a shadow: {len(variants)} production and {len(shadows)} shadow variants, not 1 and 1"
        )
    if any(v.get("ServerlessConfig") for v in [*variants, *shadows]):
        problems.append("a shadow variant on a serverless endpoint config")
    return problems


def _with_shadow_rules(
    rule: Callable[[Mapping[str, Any]], list[str]],
) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda params: rule(params) + shadow_config_problems(params)


SERVICE_RULES[("sagemaker", "CreateEndpointConfig")] = _with_shadow_rules(
    SERVICE_RULES[("sagemaker", "CreateEndpointConfig")]
)


def contract_problems(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """Every reason the real service would refuse this request (empty: it would not)."""
    problems = request_problems(service, operation, params)
    rule = SERVICE_RULES.get((service, operation))
    return problems + (rule(params) if rule and not problems else [])


def validation_error(operation: str, problems: list[str]) -> ClientError:
    """The error botocore raises for the service's 400 ValidationException."""
    message = f"{len(problems)} validation error(s) detected: " + "; ".join(problems)
    return ClientError(
        {
            "Error": {"Code": "ValidationException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )


def client_side_valid(service: str, operation: str, params: Mapping[str, Any]) -> bool:
    """Whether botocore's own validation passes (it raises ParamValidationError otherwise,
    before anything is sent; the contract leaves that to botocore)."""
    shape = service_model(service).operation_model(operation).input_shape
    return not ParamValidator().validate(params, shape).has_errors()


# ---- an HTTP request read back to its parameters ---------------------------------------------


def wire_protocol(service: str, headers: Any) -> str:
    """The protocol a request was sent in: botocore picks one of the service's `protocols`
    (CloudWatch: smithy-rpc-v2-cbor, json or query, depending on the endpoint), and the
    Content-Type says which."""
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if headers.get("X-Amz-Target") or content_type.startswith("application/x-amz-json"):
        return "json"
    if content_type == "application/cbor":
        return "smithy-rpc-v2-cbor"
    if content_type == "application/x-www-form-urlencoded":
        return "query"
    return str(service_model(service).protocol)


def request_params(
    service: str, operation: str, method: str, path: str, headers: Any, body: bytes
) -> dict[str, Any]:
    """The parameters botocore serialized into this request, by its wire protocol.

    json (sagemaker, application-autoscaling; cloudwatch on a custom endpoint): the body.
    query (sts): the form. rest-json and
    rest-xml (sagemaker-runtime, s3): the URI, query string, headers and payload, by each
    member's location. A blob payload comes back as bytes.
    """
    operation_model = service_model(service).operation_model(operation)
    shape = operation_model.input_shape
    if shape is None:
        return {}
    protocol = wire_protocol(service, headers)
    if protocol == "json":
        return json.loads(body) if body else {}
    if protocol == "smithy-rpc-v2-cbor":
        # botocore sends CloudWatch JSON when the endpoint is set (AWS_ENDPOINT_URL), as in
        # every test; a CBOR request means that changed, and the contract must learn CBOR.
        raise ValueError(f"{service} {operation}: the contract does not read CBOR requests")
    if protocol == "query":
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        flat = {key: values[0] for key, values in form.items() if key not in ("Action", "Version")}
        return dict(_from_query(shape, flat, ""))
    return _from_rest(operation_model, shape, method, path, headers, body, protocol)


def _scalar(shape: Shape, text: str) -> Any:
    if shape.type_name in ("integer", "long"):
        return int(text)
    if shape.type_name in ("float", "double"):
        return float(text)
    if shape.type_name == "boolean":
        return text == "true"
    return text


def _from_query(shape: Shape, flat: Mapping[str, str], prefix: str) -> Any:
    """A value of the query protocol's flattened form (`A.member.1.B=...`) by its shape."""
    if shape.type_name == "structure":
        value: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = f"{prefix}{member.serialization.get('name', name)}"
            if key in flat or any(k.startswith(f"{key}.") for k in flat):
                value[name] = _from_query(
                    member, flat, key if member.type_name != "structure" else f"{key}."
                )
        return value
    if shape.type_name == "list":
        items, index = [], 1
        while f"{prefix}.member.{index}" in flat or any(
            k.startswith(f"{prefix}.member.{index}.") for k in flat
        ):
            item_prefix = f"{prefix}.member.{index}"
            items.append(
                _from_query(
                    shape.member,
                    flat,
                    f"{item_prefix}." if shape.member.type_name == "structure" else item_prefix,
                )
            )
            index += 1
        return items
    if shape.type_name == "map":
        entries, index = {}, 1
        while f"{prefix}.entry.{index}.key" in flat:
            key = flat[f"{prefix}.entry.{index}.key"]
            entries[key] = _from_query(shape.value, flat, f"{prefix}.entry.{index}.value")
            index += 1
        return entries
    return _scalar(shape, flat.get(prefix, ""))


def _from_rest(
    operation_model: OperationModel,
    shape: Shape,
    method: str,
    path: str,
    headers: Any,
    body: bytes,
    protocol: str,
) -> dict[str, Any]:
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    template = operation_model.http["requestUri"].split("?", 1)[0]
    pattern = re.sub(
        r"\\\{(\w+)(\\\+)?\\\}",
        lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
        re.escape(template),
    )
    match = re.fullmatch(pattern, url.path)
    uri = {k: urllib.parse.unquote(v) for k, v in (match.groupdict() if match else {}).items()}
    payload_name = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in uri:
            params[name] = uri[wire]
        elif location == "querystring" and wire in query:
            params[name] = _scalar(member, query[wire][0])
        elif location == "header" and headers.get(wire) is not None:
            params[name] = _scalar(member, headers.get(wire))
        elif location == "headers":
            found = {
                key[len(wire) :]: value
                for key, value in headers.items()
                if key.lower().startswith(wire.lower())
            }
            if found:
                params[name] = found
        elif name == payload_name and body:
            if member.type_name == "blob":
                params[name] = body
            elif protocol == "rest-xml":
                params[name] = _from_xml(member, ElementTree.fromstring(body))
            else:
                params[name] = json.loads(body)
    if payload_name is None and body and protocol == "rest-json":
        params.update(json.loads(body))
    return params


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_xml(shape: Shape, element: ElementTree.Element) -> Any:
    """A rest-xml payload element read back by its shape (lists flattened or wrapped)."""
    if shape.type_name == "structure":
        value: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            children = [child for child in element if _local(child.tag) == wire]
            if not children:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                value[name] = [_from_xml(member.member, child) for child in children]
            else:
                value[name] = _from_xml(member, children[0])
        return value
    if shape.type_name == "list":
        return [_from_xml(shape.member, child) for child in element]
    return _scalar(shape, element.text or "")


# Parameters that carry a credential: recorded as "<redacted>".
SECRET_PARAMS = frozenset({"WebIdentityToken"})


def recordable(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as JSON can hold them: bytes become their size, times their text,
    credentials "<redacted>"."""

    def plain(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return f"<{len(value)} bytes>"
        if isinstance(value, Mapping):
            return {
                str(k): "<redacted>" if k in SECRET_PARAMS else plain(v) for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        return str(value)

    return dict(plain(params))
