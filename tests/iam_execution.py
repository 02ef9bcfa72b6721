"""What SageMaker does with the execution role, as IAM authorizations (action, resource ARN,
condition keys), derived from the requests that set it up.

SageMaker assumes the execution role to run what a stage asked for: the pipeline's steps,
their jobs, the endpoint's model containers, data capture, the monitoring jobs, and an
update's rollback alarms. Those calls never pass the stages' credentials, so they are
derived here from the requests that set them up: the pipeline definition (CreatePipeline,
UpdatePipeline) walked with the parameters of each StartPipelineExecution, and the deploy
and monitor requests. What each kind of job needs is listed in the SageMaker developer
guide, sagemaker-roles.md ("CreateProcessingJob API: Execution Role Permissions",
"CreateTrainingJob ...", "CreateHyperParameterTuningJob ...", "CreateModel ...": S3 reads and
writes of the request's URIs, ECR pulls of its image, CloudWatch Logs,
cloudwatch:PutMetricData); the log groups and metric namespaces are those SageMaker writes to
(guide, logging-cloudwatch.md and monitoring-cloudwatch.md):
/aws/sagemaker/{ProcessingJobs,TrainingJobs,Endpoints/<name>}.

Where a name is assigned by AWS when the pipeline runs (an execution id, a job's token, a
tuning job's trials, a log stream), a concrete placeholder stands in for it: a policy allows
it only if it allows any such name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha import definition as defn
from smgha.backends.local.executor import pipeline_job_name
from smgha.backends.local.expressions import Evaluator
from smgha.backends.local.script_training import SUBMIT_DIR_HYPERPARAMETER, decoded
from tests.iam_arns import (
    EXECUTION_ID,
    Deployment,
    model_artifact,
    model_package_context,
    pipeline_tags,
    pipeline_tuning_job_name,
    rollback_alarms,
    split_s3_uri,
    trial_names,
)
from tests.iam_requests import SAGEMAKER_SERVICE
from tests.iam_simulator import ContextValue, IamRequest

# Names AWS assigns when the pipeline runs (see the module docstring).
LOG_STREAM = "algo-1-1700000000"
CAPTURE_FILE = "2026/01/01/00/00-00-000-01234567-89ab-cdef-0123-456789abcdef.jsonl"

# What SageMaker Pipelines does with a step's job besides creating it, as the pipeline's role:
# the guide (build-and-manage-access.md, "Pipeline Role Permissions") asks for "Create and
# Describe permissions for each of the job types in the pipeline"; a step's properties are the
# job's Describe response, and a TuningStep's also ListTrainingJobsForHyperParameterTuningJob's
# (sagemaker-mlops 1.27, workflow/steps.py TuningStep.properties: shape_names
# DescribeHyperParameterTuningJobResponse, ListTrainingJobsForHyperParameterTuningJobResponse),
# which Pipelines reads to fill TrainingJobSummaries. Stop*: stopping an execution stops the
# job of its running step; AWS does not document with whose credentials, so the stricter
# reading is the pipeline's role.
JOB_LIFECYCLE = {
    "Processing": ["sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"],
    "Training": ["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
    "Tuning": [
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
    ],
}
JOB_RESOURCE = {
    "Processing": "processing-job",
    "Training": "training-job",
    "Tuning": "hyper-parameter-tuning-job",
}
# The TuningStep's properties hold the best 50 trials (the SDK's
# TuningStep.get_top_model_s3_uri: "tuning step stores up to 50 top performing training jobs").
TOP_TRIALS = 50

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
            IamRequest(
                self.role, action, resource, self.deployment.owner(resource), context or {}, why
            )
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

        execution_arn = f"{self.deployment.sagemaker('pipeline', name)}/execution/{EXECUTION_ID}"
        evaluator = Evaluator(
            parameters=defn.parameter_values(definition, given),
            execution={
                "PipelineExecutionId": EXECUTION_ID,
                "PipelineExecutionArn": execution_arn,
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
            tags = pipeline_tags(execution_arn, step_name)
            job = pipeline_job_name(EXECUTION_ID, step_name)
            if kind == "Processing":
                properties[step_name] = {**request, "ProcessingJobName": job}
                self.processing_job(job, request, why, step.get("PropertyFiles") or [], tags)
            elif kind == "Training":
                artifact = model_artifact(request, job)
                properties[step_name] = {
                    **request,
                    "TrainingJobName": job,
                    "ModelArtifacts": {"S3ModelArtifacts": artifact},
                }
                self.training_job(job, request, why, tags)
            elif kind == "Tuning":
                job = pipeline_tuning_job_name(EXECUTION_ID, step_name)
                trials = trial_names(job, request, why)
                properties[step_name] = self.tuning_properties(job, request, trials)
                self.tuning_job(job, request, trials, why, tags)
            elif kind == "RegisterModel":
                properties[step_name] = request
                self.register_model(request, why)
                continue
            else:
                raise AssertionError(f"{why}: step type {kind} has no derivation here")
            self.follows(kind, job, why, tags)

    def follows(self, kind: str, job: str, why: str, tags: dict[str, ContextValue]) -> None:
        """What Pipelines does with a step's job after creating it (JOB_LIFECYCLE), and the
        tags it creates the job with, which need sagemaker:AddTags (pipeline_tags)."""
        arn = self.deployment.sagemaker(JOB_RESOURCE[kind], job)
        self.add("sagemaker:AddTags", arn, f"{why}, tags", tags)
        for action in JOB_LIFECYCLE[kind]:
            self.add(action, arn, why)

    def processing_job(
        self,
        job: str,
        request: Mapping[str, Any],
        why: str,
        property_files: list[dict[str, Any]],
        tags: dict[str, ContextValue],
    ) -> None:
        """A pipeline's processing step: the job created by the pipeline's role, and run."""
        self.passed(request["RoleArn"], why)
        arn = self.deployment.sagemaker("processing-job", job)
        self.add("sagemaker:CreateProcessingJob", arn, why, tags)
        self.add(
            "iam:PassRole", request["RoleArn"], why, {"iam:PassedToService": SAGEMAKER_SERVICE}
        )
        self.processes(request, why, property_files)

    def processes(
        self, request: Mapping[str, Any], why: str, property_files: list[dict[str, Any]]
    ) -> None:
        """A processing job while it runs, as its role: inputs read, outputs written, image
        pulled, logs and metrics."""
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

    def training_job(
        self, job: str, request: Mapping[str, Any], why: str, tags: dict[str, ContextValue]
    ) -> None:
        self.passed(request["RoleArn"], why)
        arn = self.deployment.sagemaker("training-job", job)
        self.add("sagemaker:CreateTrainingJob", arn, why, tags)
        self.add(
            "iam:PassRole", request["RoleArn"], why, {"iam:PassedToService": SAGEMAKER_SERVICE}
        )
        self.trains(job, request, request.get("HyperParameters") or {}, why)

    def trains(
        self, job: str, request: Mapping[str, Any], hyperparameters: Mapping[str, Any], why: str
    ) -> None:
        """A training job while it runs, as its role: its channels read, and the source
        archive a script-mode job names in sagemaker_submit_directory, which the training
        toolkit in the container downloads itself (aws/sagemaker-training-toolkit, commit
        1b4ec226, src/sagemaker_training/files.py: download_and_extract and s3_download, a
        boto3 download_file: s3:GetObject); its model written to
        <S3OutputPath>/<job>/output/model.tar.gz; its checkpoints, with a CheckpointConfig,
        restored from its S3Uri when it starts and written there while it runs (guide,
        model-checkpoints.html); its image pulled; its logs and metrics."""
        for channel in request.get("InputDataConfig") or []:
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self.reads(source, f"{why}, channel {channel['ChannelName']}")
        code = decoded(hyperparameters.get(SUBMIT_DIR_HYPERPARAMETER, ""))
        if isinstance(code, str) and code.startswith("s3://"):
            self.add("s3:GetObject", self.deployment.s3_uri(code), f"{why}, source archive")
        self.writes(model_artifact(request, job), f"{why}, model artifact")
        checkpoints = (request.get("CheckpointConfig") or {}).get("S3Uri")
        if checkpoints:
            self.reads(checkpoints, f"{why}, checkpoints")
            self.writes(checkpoints, f"{why}, checkpoints")
        self.pulls(request["AlgorithmSpecification"]["TrainingImage"], why)
        self.logs(TRAINING_LOGS, why)
        self.metrics(TRAINING_LOGS, why)

    def tuning_job(
        self,
        job: str,
        request: Mapping[str, Any],
        trials: list[str],
        why: str,
        tags: dict[str, ContextValue],
    ) -> None:
        """A hyperparameter tuning job: created by the pipeline's role, which passes each
        definition's RoleArn; the tuning service then starts the trials itself, as training
        jobs running as that role (guide, sagemaker-roles.md, "CreateHyperParameterTuningJob
        API: Execution Role Permissions": S3, ECR, logs and metrics only, no
        sagemaker:CreateTrainingJob). Any trial may run any definition."""
        arn = self.deployment.sagemaker("hyper-parameter-tuning-job", job)
        self.add("sagemaker:CreateHyperParameterTuningJob", arn, why, tags)
        definitions = request.get("TrainingJobDefinitions") or [request["TrainingJobDefinition"]]
        for definition in definitions:
            self.passed(definition["RoleArn"], why)
            self.add(
                "iam:PassRole",
                definition["RoleArn"],
                why,
                {"iam:PassedToService": SAGEMAKER_SERVICE},
            )
        for trial in trials:
            for definition in definitions:
                hyperparameters = definition.get("StaticHyperParameters") or {}
                self.trains(trial, definition, hyperparameters, f"{why}, trial {trial}")

    def tuning_properties(
        self, job: str, request: Mapping[str, Any], trials: list[str]
    ) -> dict[str, Any]:
        """A TuningStep's properties: DescribeHyperParameterTuningJob's response with
        ListTrainingJobsForHyperParameterTuningJob's TrainingJobSummaries, best first. Which
        trial is best is known only when they ran: the first stands for any."""
        summaries = [
            {
                "TrainingJobName": trial,
                "TrainingJobArn": self.deployment.sagemaker("training-job", trial),
                "TrainingJobStatus": "Completed",
            }
            for trial in trials[:TOP_TRIALS]
        ]
        return {
            **request,
            "HyperParameterTuningJobName": job,
            "HyperParameterTuningJobArn": self.deployment.sagemaker(
                "hyper-parameter-tuning-job", job
            ),
            "BestTrainingJob": summaries[0],
            "TrainingJobSummaries": summaries,
        }

    def register_model(self, request: Mapping[str, Any], why: str) -> None:
        group = request["ModelPackageGroupName"]
        # The new version's number is assigned by SageMaker: version 1 stands for any.
        context = model_package_context(request)
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
    calls: Iterable[Mapping[str, Any]],
    deployment: Deployment,
    role: str,
    separate: Mapping[str, tuple[Deployment, str]] | None = None,
) -> list[IamRequest]:
    """What SageMaker does with the execution role `role` for the recorded `calls`. With
    `separate` (account id -> its deployment and execution role: deploy accounts apart from
    the tooling account), the calls of a role of such an account are run by that account's
    execution role, which runs the packages the tooling account's pipelines registered."""
    home = ExecutionRole(deployment, role)
    by_account = {deployment.account: home}
    for account, (there, its_role) in (separate or {}).items():
        by_account[account] = ExecutionRole(there, its_role, packages=home.packages)
    definitions: dict[str, dict[str, Any]] = {}
    configs: dict[str, Mapping[str, Any]] = {}  # endpoint config name -> request
    captures: dict[str, str] = {}  # endpoint -> capture destination
    for call in calls:
        operation, params = call["operation"], call.get("params") or {}
        if call.get("status") != 200 or not call["role"]:
            continue  # refused (nothing set up), or the harness's own call
        why = f"{call['role'].rsplit('/', 1)[-1]} {operation}"
        execution = by_account.get(call["role"].split(":")[4], home)
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
                execution.add("cloudwatch:DescribeAlarms", execution.deployment.alarm(alarm), why)
        elif operation == "CreateDataQualityJobDefinition":
            execution.data_quality_job(params, captures, why)
        elif operation == "CreateProcessingJob":  # enable-monitor's baselining job
            # Created by the stage's role (tests/iam_requests.py), run as this one.
            execution.passed(params["RoleArn"], why)
            execution.processes(params, why, [])
        elif operation == "CreateTransformJob":  # batch-transform's job
            # It runs as its model's execution role (CreateModel passed it, checked there;
            # sagemaker-roles.md: the role SageMaker uses "for batch transform jobs"): the
            # dataset listed and read, the output written, logs under
            # /aws/sagemaker/TransformJobs and metrics (logging-cloudwatch.md). Which of
            # these S3 calls SageMaker makes is not documented: all of them, the stricter reading.
            source = params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
            execution.reads(source, why)
            execution.writes(params["TransformOutput"]["S3OutputPath"] + "part-0.csv.out", why)
            execution.logs("/aws/sagemaker/TransformJobs", why)
            execution.metrics("/aws/sagemaker/TransformJobs", why)
    return [request for execution in by_account.values() for request in execution.found]
