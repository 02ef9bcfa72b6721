"""The IAM authorizations behind the stages' AWS calls: for each call a stage makes (recorded
by the e2e AWS double with its request parameters), the action, the resource ARN and the
condition keys AWS evaluates. What SageMaker does with the execution role is in
tests/iam_execution.py; the ARNs are built in tests/iam_arns.py.

Which actions a call needs comes from the backend's own tables (smgha/backends/aws/client.py
IAM_ACTIONS, RUNTIME_IAM_ACTIONS, IAM_EXTRA_ACTIONS);
which resource types each action is authorized on, and which condition keys it has, from
the Service Authorization Reference (the evaluator checks every ARN against the action's
resource types: an ARN of the wrong type is an error, never an allow). The ARNs are built
from the request parameters, the way AWS names each resource.

Where a resource's name is assigned by AWS and unknown before the call (a scalable target's
id, a target tracking alarm's suffix), a concrete placeholder stands in for it: a policy
allows it only if it allows any such name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha.backends.aws import client as aws_client
from tests.iam_arns import Deployment, model_package_context, rollback_alarms, tag_context
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
ALARM_SUFFIX = "01234567-89ab-cdef-0123-456789abcdef"


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
                account=self.deployment.owner(resource),
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


def _update_model_package(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    arn = calls.deployment.model_package(params["ModelPackageArn"])
    return [("sagemaker:UpdateModelPackage", arn, model_package_context(params))]


def _create_model_package(calls: Calls, params: Mapping[str, Any]) -> list[Authorization]:
    # The new version's number is assigned by SageMaker: version 1 stands for any.
    arn = calls.deployment.sagemaker("model-package", f"{params['ModelPackageGroupName']}/1")
    found = _created("sagemaker:CreateModelPackage", arn, params)
    found[0] = (found[0][0], arn, {**found[0][2], **model_package_context(params)})
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
    ("sagemaker", "ListPipelineExecutions"): _sm(
        "pipeline", "PipelineName", "sagemaker:ListPipelineExecutions"
    ),
    ("sagemaker", "DescribeProcessingJob"): _sm(
        "processing-job", "ProcessingJobName", "sagemaker:DescribeProcessingJob"
    ),
    ("sagemaker", "DescribeTrainingJob"): _sm(
        "training-job", "TrainingJobName", "sagemaker:DescribeTrainingJob"
    ),
    ("sagemaker", "DescribeHyperParameterTuningJob"): _sm(
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJobName",
        "sagemaker:DescribeHyperParameterTuningJob",
    ),
    ("sagemaker", "ListTrainingJobsForHyperParameterTuningJob"): _sm(
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJobName",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
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
    # idle-report: a List call names no endpoint ("*", as ListModelPackages); DeleteEndpoint
    # the one it deletes.
    ("sagemaker", "ListEndpoints"): _no_resource("sagemaker:ListEndpoints"),
    ("sagemaker", "DeleteEndpoint"): _sm("endpoint", "EndpointName", "sagemaker:DeleteEndpoint"),
    ("sagemaker", "UpdateEndpoint"): _update_endpoint,
    ("sagemaker-runtime", "InvokeEndpoint"): _sm(
        "endpoint", "EndpointName", "sagemaker:InvokeEndpoint"
    ),
    ("sagemaker-runtime", "InvokeEndpointAsync"): _sm(
        "endpoint", "EndpointName", "sagemaker:InvokeEndpointAsync"
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
    ("sagemaker", "CreateModelQualityJobDefinition"): _with_pass_role(
        "model-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:CreateModelQualityJobDefinition",
    ),
    ("sagemaker", "DescribeModelQualityJobDefinition"): _sm(
        "model-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:DescribeModelQualityJobDefinition",
    ),
    ("sagemaker", "DeleteModelQualityJobDefinition"): _sm(
        "model-quality-job-definition",
        "JobDefinitionName",
        "sagemaker:DeleteModelQualityJobDefinition",
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
    # HeadObject is authorized as s3:GetObject (S3 API Reference, HeadObject, "Permissions").
    ("s3", "HeadObject"): _s3_object("s3:GetObject"),
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    # batch-transform: its job (no RoleArn: it runs as its model's role), and the listing of
    # its input and output prefixes (ListObjectsV2 is s3:ListBucket on the bucket).
    ("sagemaker", "CreateTransformJob"): lambda calls, params: _created(
        "sagemaker:CreateTransformJob",
        calls.deployment.sagemaker("transform-job", params["TransformJobName"]),
        params,
    ),
    ("sagemaker", "DescribeTransformJob"): _sm(
        "transform-job", "TransformJobName", "sagemaker:DescribeTransformJob"
    ),
    ("sagemaker", "StopTransformJob"): _sm(
        "transform-job", "TransformJobName", "sagemaker:StopTransformJob"
    ),
    # ListObjectsV2 is authorized as s3:ListBucket on the bucket, with the s3:prefix key.
    ("s3", "ListObjectsV2"): lambda calls, params: [
        (
            "s3:ListBucket",
            calls.deployment.s3(params["Bucket"]),
            {"s3:prefix": params.get("Prefix", "")},
        )
    ],
    ("cloudwatch", "GetMetricData"): _no_resource("cloudwatch:GetMetricData"),
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
    # price-table: aws-price-list (smgha/backends/aws/price_list.py).
    ("pricing", "GetProducts"): _no_resource("pricing:GetProducts"),
}
