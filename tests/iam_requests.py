"""The IAM authorizations behind AWS calls: for each call a stage makes (recorded by the e2e
AWS double with its request parameters), and for each call SageMaker makes with the
execution role, the action, the resource ARN and the condition keys AWS evaluates.

Which actions a call needs comes from the backend's own tables (smgha/backends/aws/client.py
IAM_ACTIONS, RUNTIME_IAM_ACTIONS, IAM_EXTRA_ACTIONS);
which resource types each action is authorized on, and which condition keys it has, from
the Service Authorization Reference (the evaluator checks every ARN against the action's
resource types: an ARN of the wrong type is an error, never an allow). The ARNs are built
from the request parameters, the way AWS names each resource.

Where a resource's name is assigned by AWS and unknown before the call (a scalable target's
id, a target tracking alarm's suffix, a pipeline job's execution id, a log stream), a
concrete placeholder stands in for it: a policy allows it only if it allows any such name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha import definition as defn
from smgha.backends.aws import client as aws_client
from smgha.backends.local.executor import pipeline_job_name
from smgha.backends.local.expressions import Evaluator
from tests.iam_simulator import ContextValue, IamRequest

# Allowed for every principal; no policy grants it (AWS: "No permissions are required").
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})

# Service Authorization Reference, IAM: iam:PassedToService is the service principal the role
# is passed to; SageMaker's create calls pass it to sagemaker.amazonaws.com.
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
# The Application Auto Scaling service-linked role for SageMaker endpoints, created on the
# first RegisterScalableTarget (Application Auto Scaling guide, "Service-linked roles").
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_ROLE = f"role/aws-service-role/{AUTOSCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"

# Names AWS assigns after the call (see the module docstring).
SCALABLE_TARGET_ID = "0123456789abcdef0123456789abcdef"
ALARM_SUFFIX = "01234567-89ab-cdef-0123-456789abcdef"
EXECUTION_ID = "0a1b2c3d4e5f"
LOG_STREAM = "algo-1-1700000000"
CAPTURE_FILE = "2026/01/01/00/00-00-000-01234567-89ab-cdef-0123-456789abcdef.jsonl"


def iam_actions(service: str, operation: str) -> set[str]:
    """The IAM actions one AWS call needs, by the backend's own tables."""
    if f"{service}:{operation}" in NEEDS_NO_PERMISSION:  # oidc-auth's identity check
        return set()
    if service == "sagemaker-runtime":
        table = aws_client.RUNTIME_IAM_ACTIONS
    else:
        table = aws_client.IAM_ACTIONS
    action = table.get(operation)
    assert action is not None, (
        f"{service} {operation} is called by a stage but missing from the IAM tables in "
        "smgha/backends/aws/client.py: add it there (and to the role's policy)"
    )
    prefix = "sagemaker" if service == "sagemaker-runtime" else service
    assert action.split(":")[0] == prefix, f"{operation}: {action} is not a {service} action"
    return {action, *aws_client.IAM_EXTRA_ACTIONS.get(operation, ())} - NEEDS_NO_PERMISSION


@dataclass(frozen=True)
class Deployment:
    """Where the resources are: the ARNs' partition, region and account."""

    account: str
    region: str
    partition: str = "aws"

    def sagemaker(self, kind: str, name: str) -> str:
        """A SageMaker ARN, or `name` when it already is one. SageMaker puts resource names
        in ARNs in lower case (an endpoint Churn-Staging is .../endpoint/churn-staging)."""
        if name.startswith("arn:"):
            return name
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def model_package(self, name: str) -> str:
        """A versioned package's ARN (model-package/<group>/<version>) from its ARN."""
        assert name.startswith("arn:"), f"a model package by name, not ARN: {name}"
        return name

    def alarm(self, name: str) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name}"

    def role(self, path: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{path}"

    def scalable_target(self) -> str:
        return (
            f"arn:{self.partition}:application-autoscaling:{self.region}:{self.account}:"
            f"scalable-target/{SCALABLE_TARGET_ID}"
        )

    def log_group(self, name: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}"

    def log_stream(self, group: str, stream: str) -> str:
        return f"{self.log_group(group)}:log-stream:{stream}"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + ("" if key is None else f"/{key}")

    def s3_uri(self, uri: str, under: str | None = None) -> str:
        """The object ARN of an s3:// URI, or of `under` below it (a prefix's objects)."""
        bucket, key = split_s3_uri(uri)
        if under is not None:
            key = f"{key.rstrip('/')}/{under}" if key else under
        return self.s3(bucket, key)

    def ecr_repository(self, image: str) -> str:
        """The repository ARN of an image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."""
        registry, _, rest = image.partition("/")
        account, _, host = registry.partition(".dkr.ecr.")
        region = host.split(".", 1)[0]
        repository = rest.split("@", 1)[0].split(":", 1)[0]
        return f"arn:{self.partition}:ecr:{region}:{account}:repository/{repository}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), f"not an s3:// URI: {uri}"
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def tag_context(
    tags: Iterable[Mapping[str, str]] | Mapping[str, str] | None,
) -> dict[str, ContextValue]:
    """aws:RequestTag/<key> and aws:TagKeys of the tags a request sends (a list of Key/Value,
    or Application Auto Scaling's map)."""
    if not tags:
        return {}
    pairs = dict(tags) if isinstance(tags, Mapping) else {tag["Key"]: tag["Value"] for tag in tags}
    context: dict[str, ContextValue] = {f"aws:RequestTag/{k}": v for k, v in pairs.items()}
    context["aws:TagKeys"] = sorted(pairs)
    return context


@dataclass
class Calls:
    """Turns a job's recorded calls, in the order they were made, into IAM requests."""

    deployment: Deployment
    # endpoint name -> the config it serves (CreateEndpoint, UpdateEndpoint), for the calls
    # Application Auto Scaling makes on the endpoint's behalf.
    endpoint_configs: dict[str, str] = field(default_factory=dict)

    def requests(self, call: Mapping[str, Any]) -> list[IamRequest]:
        service, operation = call["service"], call["operation"]
        params: Mapping[str, Any] = call.get("params") or {}
        derive = _DERIVATIONS.get((service, operation))
        assert derive is not None, (
            f"{service} {operation}: no resource derivation in tests/iam_requests.py; add one "
            "(the action's resource types: Service Authorization Reference)"
        )
        found = [
            IamRequest(
                principal=call["role"],
                action=action,
                resource=resource,
                account=self.deployment.account,
                context=context,
                why=f"{service} {operation}",
            )
            for action, resource, context in derive(self, params)
        ]
        needed = iam_actions(service, operation)
        stray = {r.action for r in found} - needed
        assert not stray, f"{operation}: {stray} are not in the backend's IAM tables"
        return found


Authorization = tuple[str, str, dict[str, ContextValue]]


def _pass_role(role_arn: str) -> Authorization:
    return ("iam:PassRole", role_arn, {"iam:PassedToService": SAGEMAKER_SERVICE})


def _created(action: str, arn: str, params: Mapping[str, Any]) -> list[Authorization]:
    """A create call, and sagemaker:AddTags when it sends tags (the backend's
    IAM_EXTRA_ACTIONS: tagging at creation needs AddTags too), both with the tags as
    aws:RequestTag/<key> and aws:TagKeys (Service Authorization Reference: condition keys of
    the create actions and of AddTags), AddTags on the new resource."""
    tags = tag_context(params.get("Tags"))
    found: list[Authorization] = [(action, arn, tags)]
    if tags:
        found.append(("sagemaker:AddTags", arn, tags))
    return found


def _sm(
    kind: str, key: str, action: str
) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    """An action on the one SageMaker resource the request names in `key`."""

    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        return [(action, calls.deployment.sagemaker(kind, params[key]), {})]

    return derive


def _create_pipeline(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.sagemaker("pipeline", params["PipelineName"])
    return [*_created("sagemaker:CreatePipeline", arn, params), _pass_role(params["RoleArn"])]


def _update_pipeline(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.sagemaker("pipeline", params["PipelineName"])
    found: list[Authorization] = [("sagemaker:UpdatePipeline", arn, {})]
    if params.get("RoleArn"):
        found.append(_pass_role(params["RoleArn"]))
    return found


def _add_tags(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    return [("sagemaker:AddTags", params["ResourceArn"], tag_context(params["Tags"]))]


def _execution(action: str) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        return [(action, params["PipelineExecutionArn"], {})]

    return derive


def _list_model_packages(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    # A list names no package. The Service Authorization Reference gives ListModelPackages
    # an optional model-package type, the SageMaker API permissions reference says List
    # calls have no resource-level restrictions: the stricter reading is "*".
    return [("sagemaker:ListModelPackages", "*", {})]


def _model_package_context(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """UpdateModelPackage's and CreateModelPackage's condition keys (Service Authorization
    Reference: sagemaker:ModelApprovalStatus, sagemaker:CustomerMetadataProperties/${Key})."""
    context: dict[str, ContextValue] = {}
    if params.get("ModelApprovalStatus"):
        context["sagemaker:ModelApprovalStatus"] = params["ModelApprovalStatus"]
    for key in params.get("CustomerMetadataProperties") or {}:
        context[f"sagemaker:CustomerMetadataProperties/{key}"] = params[
            "CustomerMetadataProperties"
        ][key]
    if params.get("CustomerMetadataPropertiesToRemove"):
        context["sagemaker:CustomerMetadataPropertiesToRemove"] = list(
            params["CustomerMetadataPropertiesToRemove"]
        )
    return context


def _update_model_package(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.model_package(params["ModelPackageArn"])
    return [("sagemaker:UpdateModelPackage", arn, _model_package_context(params))]


def _create_model_package(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    # The new version's number is assigned by SageMaker: version 1 stands for any.
    arn = calls.deployment.sagemaker("model-package", f"{params['ModelPackageGroupName']}/1")
    found = _created("sagemaker:CreateModelPackage", arn, params)
    found[0] = (found[0][0], arn, {**found[0][2], **_model_package_context(params)})
    return found


def _create_model(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.sagemaker("model", params["ModelName"])
    return [*_created("sagemaker:CreateModel", arn, params), _pass_role(params["ExecutionRoleArn"])]


def _create_endpoint_config(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.sagemaker("endpoint-config", params["EndpointConfigName"])
    variants = params.get("ProductionVariants") or []
    found = _created("sagemaker:CreateEndpointConfig", arn, params)
    # Service Authorization Reference, CreateEndpointConfig: sagemaker:InstanceTypes and
    # sagemaker:ModelArn (the variants' models).
    context = {
        **found[0][2],
        "sagemaker:InstanceTypes": sorted(
            {v["InstanceType"] for v in variants if "InstanceType" in v}
        ),
        "sagemaker:ModelArn": sorted(
            {calls.deployment.sagemaker("model", v["ModelName"]) for v in variants}
        ),
    }
    found[0] = (found[0][0], arn, context)
    return found


def _create_endpoint(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    # CreateEndpoint and UpdateEndpoint are authorized on the endpoint and on the config
    # (Service Authorization Reference: endpoint*, endpoint-config*).
    name, config = params["EndpointName"], params["EndpointConfigName"]
    calls.endpoint_configs[name] = config
    endpoint = calls.deployment.sagemaker("endpoint", name)
    found = _created("sagemaker:CreateEndpoint", endpoint, params)
    found.append(
        ("sagemaker:CreateEndpoint", calls.deployment.sagemaker("endpoint-config", config), {})
    )
    return found


def _update_endpoint(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    name, config = params["EndpointName"], params["EndpointConfigName"]
    calls.endpoint_configs[name] = config
    found: list[Authorization] = [
        ("sagemaker:UpdateEndpoint", calls.deployment.sagemaker("endpoint", name), {}),
        ("sagemaker:UpdateEndpoint", calls.deployment.sagemaker("endpoint-config", config), {}),
    ]
    # IAM_EXTRA_ACTIONS: the caller may read the auto-rollback alarms it names.
    found += [
        ("cloudwatch:DescribeAlarms", calls.deployment.alarm(name), {})
        for name in rollback_alarms(params)
    ]
    return found


def rollback_alarms(params: Mapping[str, Any]) -> list[str]:
    rollback = (params.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}
    return [alarm["AlarmName"] for alarm in rollback.get("Alarms") or []]


def _put_metric_alarm(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    context = tag_context(params.get("Tags"))
    if params.get("AlarmActions"):
        # Service Authorization Reference, PutMetricAlarm: cloudwatch:AlarmActions.
        context["cloudwatch:AlarmActions"] = list(params["AlarmActions"])
    return [("cloudwatch:PutMetricAlarm", calls.deployment.alarm(params["AlarmName"]), context)]


def _alarms(action: str) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        names = params.get("AlarmNames")
        assert names, f"{action} without AlarmNames reads every alarm: name them"
        return [(action, calls.deployment.alarm(name), {}) for name in names]

    return derive


def _scaling_context(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """Service Authorization Reference, Application Auto Scaling: its write actions carry
    application-autoscaling:service-namespace and :scalable-dimension."""
    return {
        "application-autoscaling:service-namespace": params["ServiceNamespace"],
        "application-autoscaling:scalable-dimension": params["ScalableDimension"],
    }


def _endpoint_of(resource_id: str) -> str:
    """endpoint/<name>/variant/<variant> -> <name>."""
    parts = resource_id.split("/")
    assert parts[0] == "endpoint" and len(parts) == 4, f"not a variant: {resource_id}"
    return parts[1]


def _register_scalable_target(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    context = {**_scaling_context(params), **tag_context(params.get("Tags"))}
    endpoint = _endpoint_of(params["ResourceId"])
    deployment = calls.deployment
    config = calls.endpoint_configs.get(endpoint)
    assert config, f"RegisterScalableTarget on {endpoint} before any CreateEndpoint/UpdateEndpoint"
    # IAM_EXTRA_ACTIONS: the service-linked role (created on first use), and the endpoint
    # read and resized on the caller's behalf (SageMaker guide, endpoint-auto-scaling-prerequisites).
    return [
        ("application-autoscaling:RegisterScalableTarget", deployment.scalable_target(), context),
        (
            "iam:CreateServiceLinkedRole",
            deployment.role(AUTOSCALING_ROLE),
            {"iam:AWSServiceName": AUTOSCALING_SERVICE},
        ),
        ("sagemaker:DescribeEndpoint", deployment.sagemaker("endpoint", endpoint), {}),
        ("sagemaker:DescribeEndpointConfig", deployment.sagemaker("endpoint-config", config), {}),
        (
            "sagemaker:UpdateEndpointWeightsAndCapacities",
            deployment.sagemaker("endpoint", endpoint),
            {},
        ),
    ]


def _put_scaling_policy(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    # IAM_EXTRA_ACTIONS: a target tracking policy's own alarms, which Application Auto
    # Scaling names TargetTracking-<resource id>-AlarmHigh-<uuid> (and -AlarmLow-).
    alarms = [
        calls.deployment.alarm(f"TargetTracking-{params['ResourceId']}-{kind}-{ALARM_SUFFIX}")
        for kind in ("AlarmHigh", "AlarmLow")
    ]
    return [
        (
            "application-autoscaling:PutScalingPolicy",
            calls.deployment.scalable_target(),
            _scaling_context(params),
        ),
        *[
            (action, alarm, {})
            for alarm in alarms
            for action in (
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:DeleteAlarms",
            )
        ],
    ]


def _scaling(action: str) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        return [(action, calls.deployment.scalable_target(), _scaling_context(params))]

    return derive


def _no_resource(action: str) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    """An action with no resource types (Service Authorization Reference): only "*"."""

    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        return [(action, "*", {})]

    return derive


def _s3_object(action: str) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        return [(action, calls.deployment.s3(params["Bucket"], params["Key"]), {})]

    return derive


def _with_pass_role(
    kind: str, key: str, action: str
) -> Callable[[Calls, Mapping[str, Any]], list[Authorization]]:
    def derive(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
        arn = calls.deployment.sagemaker(kind, params[key])
        found = _created(action, arn, params)
        instance_type = _instance_type(params)
        if instance_type:
            found[0] = (
                found[0][0],
                arn,
                {**found[0][2], "sagemaker:InstanceTypes": [instance_type]},
            )
        return [*found, _pass_role(params["RoleArn"])]

    return derive


def _instance_type(params: Mapping[str, Any]) -> str:
    resources = params.get("JobResources") or params.get("ProcessingResources") or {}
    return str((resources.get("ClusterConfig") or {}).get("InstanceType") or "")


def _create_monitoring_schedule(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.sagemaker("monitoring-schedule", params["MonitoringScheduleName"])
    return _created("sagemaker:CreateMonitoringSchedule", arn, params)


_DERIVATIONS: dict[tuple[str, str], Callable[[Calls, Mapping[str, Any]], list[Authorization]]] = {
    ("sts", "GetCallerIdentity"): lambda calls, params: [],
    ("sagemaker", "DescribePipeline"): _sm(
        "pipeline", "PipelineName", "sagemaker:DescribePipeline"
    ),
    ("sagemaker", "CreatePipeline"): _create_pipeline,
    ("sagemaker", "UpdatePipeline"): _update_pipeline,
    ("sagemaker", "AddTags"): _add_tags,
    ("sagemaker", "StartPipelineExecution"): _sm(
        "pipeline", "PipelineName", "sagemaker:StartPipelineExecution"
    ),
    ("sagemaker", "DescribePipelineExecution"): _execution("sagemaker:DescribePipelineExecution"),
    ("sagemaker", "ListPipelineExecutionSteps"): _execution("sagemaker:ListPipelineExecutionSteps"),
    ("sagemaker", "DescribeProcessingJob"): _sm(
        "processing-job", "ProcessingJobName", "sagemaker:DescribeProcessingJob"
    ),
    ("sagemaker", "DescribeTrainingJob"): _sm(
        "training-job", "TrainingJobName", "sagemaker:DescribeTrainingJob"
    ),
    ("sagemaker", "DescribeModelPackageGroup"): _sm(
        "model-package-group", "ModelPackageGroupName", "sagemaker:DescribeModelPackageGroup"
    ),
    ("sagemaker", "ListModelPackages"): _list_model_packages,
    ("sagemaker", "DescribeModelPackage"): lambda calls, params: [
        (
            "sagemaker:DescribeModelPackage",
            calls.deployment.model_package(params["ModelPackageName"]),
            {},
        )
    ],
    ("sagemaker", "CreateModelPackage"): _create_model_package,
    ("sagemaker", "UpdateModelPackage"): _update_model_package,
    ("sagemaker", "DescribeModel"): _sm("model", "ModelName", "sagemaker:DescribeModel"),
    ("sagemaker", "CreateModel"): _create_model,
    ("sagemaker", "DescribeEndpointConfig"): _sm(
        "endpoint-config", "EndpointConfigName", "sagemaker:DescribeEndpointConfig"
    ),
    ("sagemaker", "CreateEndpointConfig"): _create_endpoint_config,
    ("sagemaker", "DescribeEndpoint"): _sm(
        "endpoint", "EndpointName", "sagemaker:DescribeEndpoint"
    ),
    ("sagemaker", "CreateEndpoint"): _create_endpoint,
    ("sagemaker", "UpdateEndpoint"): _update_endpoint,
    ("sagemaker-runtime", "InvokeEndpoint"): _sm(
        "endpoint", "EndpointName", "sagemaker:InvokeEndpoint"
    ),
    ("sagemaker", "CreateDataQualityJobDefinition"): _with_pass_role(
        "data-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:CreateDataQualityJobDefinition",
    ),
    ("sagemaker", "DescribeDataQualityJobDefinition"): _sm(
        "data-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:DescribeDataQualityJobDefinition",
    ),
    ("sagemaker", "DeleteDataQualityJobDefinition"): _sm(
        "data-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:DeleteDataQualityJobDefinition",
    ),
    ("sagemaker", "CreateMonitoringSchedule"): _create_monitoring_schedule,
    ("sagemaker", "DescribeMonitoringSchedule"): _sm(
        "monitoring-schedule", "MonitoringScheduleName", "sagemaker:DescribeMonitoringSchedule"
    ),
    ("sagemaker", "UpdateMonitoringSchedule"): _sm(
        "monitoring-schedule", "MonitoringScheduleName", "sagemaker:UpdateMonitoringSchedule"
    ),
    ("sagemaker", "CreateProcessingJob"): _with_pass_role(
        "processing-job", "ProcessingJobName", "sagemaker:CreateProcessingJob"
    ),
    ("s3", "GetObject"): _s3_object("s3:GetObject"),
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    ("cloudwatch", "PutMetricAlarm"): _put_metric_alarm,
    ("cloudwatch", "DescribeAlarms"): _alarms("cloudwatch:DescribeAlarms"),
    ("application-autoscaling", "RegisterScalableTarget"): _register_scalable_target,
    ("application-autoscaling", "PutScalingPolicy"): _put_scaling_policy,
    ("application-autoscaling", "DeleteScalingPolicy"): _scaling(
        "application-autoscaling:DeleteScalingPolicy"
    ),
    ("application-autoscaling", "DeregisterScalableTarget"): _scaling(
        "application-autoscaling:DeregisterScalableTarget"
    ),
    ("application-autoscaling", "DescribeScalableTargets"): _no_resource(
        "application-autoscaling:DescribeScalableTargets"
    ),
    ("application-autoscaling", "DescribeScalingPolicies"): _no_resource(
        "application-autoscaling:DescribeScalingPolicies"
    ),
}


# ---- what SageMaker does with the execution role ---------------------------------------------
#
# SageMaker assumes the execution role to run what a stage asked for: the pipeline's steps,
# their jobs, the endpoint's model containers, data capture, the monitoring jobs, and an
# update's rollback alarms. Those calls never pass the stages' credentials, so they are
# derived here from the requests that set them up: the pipeline definition (CreatePipeline,
# UpdatePipeline) walked with the parameters of each StartPipelineExecution, and the deploy
# and monitor requests. What each kind of job needs is listed in the SageMaker developer
# guide, sagemaker-roles.md ("CreateProcessingJob API: Execution Role Permissions",
# "CreateTrainingJob ...", "CreateModel ...": S3 reads and writes of the request's URIs,
# ECR pulls of its image, CloudWatch Logs, cloudwatch:PutMetricData); the log groups and
# metric namespaces are those SageMaker writes to (guide, logging-cloudwatch.md and
# monitoring-cloudwatch.md): /aws/sagemaker/{ProcessingJobs,TrainingJobs,Endpoints/<name>}.

PROCESSING_LOGS = "/aws/sagemaker/ProcessingJobs"
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
# Model Monitor publishes a data-quality job's metrics here (publish_cloudwatch_metrics),
# SageMaker guide model-monitor-interpreting-cloudwatch.md.
MONITOR_METRICS = "aws/sagemaker/Endpoints/data-metrics"


@dataclass
class ExecutionRole:
    """The execution role's authorizations, from a run's recorded calls (in order)."""

    deployment: Deployment
    role: str
    found: list[IamRequest] = field(default_factory=list)
    # The containers of every package a pipeline registers (resolved), which a model made
    # from a package runs.
    packages: list[Mapping[str, Any]] = field(default_factory=list)

    def add(
        self, action: str, resource: str, why: str, context: dict[str, ContextValue] | None = None
    ) -> None:
        self.found.append(
            IamRequest(self.role, action, resource, self.deployment.account, context or {}, why)
        )

    def passed(self, role: str, where: str) -> None:
        """The role a request hands SageMaker must be this one (the test evaluates this one)."""
        assert role == self.role, f"{where} passes {role}, not the execution role {self.role}"

    # -- what a job or container does while it runs ------------------------------------------

    def reads(self, uri: str, why: str) -> None:
        """An S3 input: listed (the prefix) and read. The URI itself stands for every object
        below it: the bucket's object ARN pattern matches both alike."""
        bucket, key = split_s3_uri(uri)
        self.add("s3:ListBucket", self.deployment.s3(bucket), why, {"s3:prefix": key})
        self.add("s3:GetObject", self.deployment.s3(bucket, key), why)

    def writes(self, uri: str, why: str) -> None:
        """An S3 output: the URI stands for every object written below it."""
        self.add("s3:PutObject", self.deployment.s3_uri(uri), why)

    def pulls(self, image: str, why: str) -> None:
        self.add("ecr:GetAuthorizationToken", "*", why)
        repository = self.deployment.ecr_repository(image)
        for action in (
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
        ):
            self.add(action, repository, why)

    def logs(self, group: str, why: str) -> None:
        self.add("logs:CreateLogGroup", self.deployment.log_group(group), why)
        self.add("logs:DescribeLogStreams", self.deployment.log_group(group), why)
        stream = self.deployment.log_stream(group, LOG_STREAM)
        self.add("logs:CreateLogStream", stream, why)
        self.add("logs:PutLogEvents", stream, why)

    def metrics(self, namespace: str, why: str) -> None:
        self.add("cloudwatch:PutMetricData", "*", why, {"cloudwatch:namespace": namespace})

    # -- the pipeline --------------------------------------------------------------------------

    def pipeline(self, definition: dict[str, Any], name: str, start: Mapping[str, Any]) -> None:
        """Every step an execution may run: both branches of each condition (which one runs
        depends on the metrics, and either may)."""
        given = {p["Name"]: p["Value"] for p in start.get("PipelineParameters") or []}
        steps = defn.steps_by_name(definition)
        properties: dict[str, dict[str, Any]] = {}

        def no_property_file(step: str, file: str) -> Any:
            raise AssertionError(f"{step}'s arguments read property file {file}: derive it")

        evaluator = Evaluator(
            parameters=defn.parameter_values(definition, given),
            execution={
                "PipelineExecutionId": EXECUTION_ID,
                "PipelineExecutionArn": f"{self.deployment.sagemaker('pipeline', name)}/execution/{EXECUTION_ID}",
                "PipelineName": name,
            },
            step_properties=properties,
            read_property_file=no_property_file,
        )
        activated = [step["Name"] for step in definition["Steps"]]
        for step_name in activated:
            step = steps[step_name]
            kind, why = step["Type"], f"pipeline {name}, step {step_name}"
            if kind == "Condition":
                for branch in ("IfSteps", "ElseSteps"):
                    activated += [s["Name"] for s in step["Arguments"].get(branch) or []]
                continue
            if kind == "Fail":
                continue
            request = evaluator.resolve(step.get("Arguments") or {})
            job = pipeline_job_name(EXECUTION_ID, step_name)
            if kind == "Processing":
                properties[step_name] = {**request, "ProcessingJobName": job}
                self.processing_job(job, request, why, step.get("PropertyFiles") or [])
            elif kind == "Training":
                artifact = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/model.tar.gz"
                properties[step_name] = {
                    **request,
                    "TrainingJobName": job,
                    "ModelArtifacts": {"S3ModelArtifacts": artifact},
                }
                self.training_job(job, request, artifact, why)
            elif kind == "RegisterModel":
                properties[step_name] = request
                self.register_model(request, why)
            else:
                raise AssertionError(f"{why}: step type {kind} has no derivation here")

    def processing_job(
        self, job: str, request: Mapping[str, Any], why: str, property_files: list[dict[str, Any]]
    ) -> None:
        self.passed(request["RoleArn"], why)
        self.add(
            "sagemaker:CreateProcessingJob", self.deployment.sagemaker("processing-job", job), why
        )
        self.add(
            "iam:PassRole", request["RoleArn"], why, {"iam:PassedToService": SAGEMAKER_SERVICE}
        )
        for item in request.get("ProcessingInputs") or []:
            self.reads(item["S3Input"]["S3Uri"], f"{why}, input {item['InputName']}")
        outputs = {
            item["OutputName"]: item["S3Output"]["S3Uri"]
            for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        }
        for output, uri in outputs.items():
            self.writes(uri, f"{why}, output {output}")
        for spec in property_files:  # SageMaker reads a property file to evaluate conditions
            uri = f"{outputs[spec['OutputName']].rstrip('/')}/{spec['FilePath']}"
            self.add("s3:GetObject", self.deployment.s3_uri(uri), f"{why}, property file")
        self.pulls(request["AppSpecification"]["ImageUri"], why)
        self.logs(PROCESSING_LOGS, why)
        self.metrics(PROCESSING_LOGS, why)

    def training_job(self, job: str, request: Mapping[str, Any], artifact: str, why: str) -> None:
        self.passed(request["RoleArn"], why)
        self.add("sagemaker:CreateTrainingJob", self.deployment.sagemaker("training-job", job), why)
        self.add(
            "iam:PassRole", request["RoleArn"], why, {"iam:PassedToService": SAGEMAKER_SERVICE}
        )
        for channel in request.get("InputDataConfig") or []:
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self.reads(source, f"{why}, channel {channel['ChannelName']}")
        self.writes(artifact, f"{why}, model artifact")
        self.pulls(request["AlgorithmSpecification"]["TrainingImage"], why)
        self.logs(TRAINING_LOGS, why)
        self.metrics(TRAINING_LOGS, why)

    def register_model(self, request: Mapping[str, Any], why: str) -> None:
        group = request["ModelPackageGroupName"]
        # The new version's number is assigned by SageMaker: version 1 stands for any.
        context = _model_package_context(request)
        arn = self.deployment.sagemaker("model-package", f"{group}/1")
        self.add("sagemaker:CreateModelPackage", arn, why, context)
        self.packages += request["InferenceSpecification"]["Containers"]

    # -- hosting and monitoring -----------------------------------------------------------------

    def model(
        self, request: Mapping[str, Any], containers: list[Mapping[str, Any]], why: str
    ) -> None:
        """A model's containers: their images pulled, their model data read."""
        self.passed(request["ExecutionRoleArn"], why)
        for container in containers:
            self.pulls(container["Image"], why)
            if container.get("ModelDataUrl"):
                self.add("s3:GetObject", self.deployment.s3_uri(container["ModelDataUrl"]), why)

    def endpoint(self, name: str, config: Mapping[str, Any], why: str) -> None:
        """An endpoint serving `config`: its logs and instance metrics, and data capture
        (written to <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl, SageMaker
        guide model-monitor-data-capture-endpoint.md)."""
        group = f"/aws/sagemaker/Endpoints/{name}"
        self.logs(group, why)
        self.metrics("/aws/sagemaker/Endpoints", why)
        capture = config.get("DataCaptureConfig") or {}
        if capture.get("EnableCapture", True) and capture.get("DestinationS3Uri"):
            for variant in config.get("ProductionVariants") or []:
                under = f"{name}/{variant['VariantName']}/{CAPTURE_FILE}"
                self.add(
                    "s3:PutObject",
                    self.deployment.s3_uri(capture["DestinationS3Uri"], under),
                    f"{why}, data capture",
                )

    def data_quality_job(
        self, request: Mapping[str, Any], captures: Mapping[str, str], why: str
    ) -> None:
        """A data-quality monitoring job: it reads the endpoint's captured requests and the
        baseline, writes its reports and metrics (a processing job underneath)."""
        self.passed(request["RoleArn"], why)
        endpoint = request["DataQualityJobInput"]["EndpointInput"]["EndpointName"]
        capture = captures.get(endpoint)
        assert capture, f"{why}: {endpoint} captures no data in these runs"
        self.reads(f"{capture.rstrip('/')}/{endpoint}/", f"{why}, captured data")
        baseline = request.get("DataQualityBaselineConfig") or {}
        for resource in ("ConstraintsResource", "StatisticsResource"):
            if (baseline.get(resource) or {}).get("S3Uri"):
                self.add("s3:GetObject", self.deployment.s3_uri(baseline[resource]["S3Uri"]), why)
        for output in request["DataQualityJobOutputConfig"]["MonitoringOutputs"]:
            self.writes(output["S3Output"]["S3Uri"], f"{why}, reports")
        self.pulls(request["DataQualityAppSpecification"]["ImageUri"], why)
        self.logs(PROCESSING_LOGS, why)
        self.metrics(MONITOR_METRICS, why)


def execution_requests(
    calls: Iterable[Mapping[str, Any]], deployment: Deployment, role: str
) -> list[IamRequest]:
    """What SageMaker does with the execution role `role` for the recorded `calls`."""
    execution = ExecutionRole(deployment, role)
    definitions: dict[str, dict[str, Any]] = {}
    configs: dict[str, Mapping[str, Any]] = {}  # endpoint config name -> request
    captures: dict[str, str] = {}  # endpoint -> capture destination
    for call in calls:
        operation, params = call["operation"], call.get("params") or {}
        if call.get("status") != 200 or not call["role"]:
            continue  # refused (nothing set up), or the harness's own call
        why = f"{call['role'].rsplit('/', 1)[-1]} {operation}"
        if operation in ("CreatePipeline", "UpdatePipeline") and "PipelineDefinition" in params:
            execution.passed(params["RoleArn"], why)
            definitions[params["PipelineName"]] = json.loads(params["PipelineDefinition"])
        elif operation == "StartPipelineExecution":
            execution.pipeline(definitions[params["PipelineName"]], params["PipelineName"], params)
        elif operation == "CreateModel":
            container = params.get("PrimaryContainer") or {}
            # A model of a package runs the package's containers: those a pipeline registers.
            containers = execution.packages if container.get("ModelPackageName") else [container]
            assert containers, f"{why}: a model of a package no pipeline of these runs registered"
            execution.model(params, containers, why)
        elif operation == "CreateEndpointConfig":
            configs[params["EndpointConfigName"]] = params
        elif operation in ("CreateEndpoint", "UpdateEndpoint"):
            config = configs[params["EndpointConfigName"]]
            execution.endpoint(params["EndpointName"], config, why)
            destination = (config.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
            if destination:
                captures[params["EndpointName"]] = destination
            # Deployment guardrails: SageMaker reads the auto-rollback alarms with the
            # execution role (guide, deployment-guardrails-configuration.md: "Ensure that
            # your IAM execution role has permission to perform the cloudwatch:DescribeAlarms
            # action on the auto-rollback alarms you specify").
            for alarm in rollback_alarms(params):
                execution.add("cloudwatch:DescribeAlarms", deployment.alarm(alarm), why)
        elif operation == "CreateDataQualityJobDefinition":
            execution.data_quality_job(params, captures, why)
        elif operation == "CreateProcessingJob":  # enable-monitor's baselining job
            execution.processing_job(params["ProcessingJobName"], params, why, [])
    return execution.found
