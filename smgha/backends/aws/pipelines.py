"""Pipelines on SageMaker: create or update a pipeline, start an execution, watch it, read a
processing step's property file."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from smgha.backends import TERMINAL_STATUSES, ExecutionRecord, SelectiveExecution, StepRecord
from smgha.backends.aws.client import AwsClients, aws_errors, is_missing_pipeline, split_s3_uri
from smgha.errors import StageError

# `PipelineDefinition` is at most 1 MB (1,048,576 characters in the API model; the JSON we
# send is ASCII, so characters and bytes are the same).
MAX_DEFINITION_BYTES = 1_048_576


def _definition_body(definition: dict[str, Any]) -> str:
    """The definition as compact JSON, refused when over the API's size limit."""
    body = json.dumps(definition, separators=(",", ":"))
    size = len(body.encode("utf-8"))
    if size > MAX_DEFINITION_BYTES:
        raise StageError(
            "Pipeline definition too large",
            f"the definition is {size:,} bytes as compact JSON; CreatePipeline and "
            f"UpdatePipeline accept at most {MAX_DEFINITION_BYTES:,} (1 MB) in "
            "PipelineDefinition. Make it smaller (large inline values such as code or "
            "parameter defaults are the usual cause); larger definitions must be uploaded "
            "to S3 and passed as PipelineDefinitionS3Location, which this backend does not do",
        )
    return body


def _create_token(name: str, body: str) -> str:
    """CreatePipeline's ClientRequestToken: the same pipeline name and definition give the
    same token, so a retried create is not applied twice. 64 hex characters (the API wants
    32 to 128)."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{name}\n{digest}".encode()).hexdigest()


class SageMakerPipelines:
    """The Pipelines area of the `sagemaker` backend."""

    # Seconds between two polls of a running execution. A pipeline's steps take minutes, so
    # this saves calls without delaying what follows much; set it on an instance to poll at
    # another pace.
    poll_seconds: float = 20.0

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _describe_pipeline(self, name: str) -> dict[str, Any] | None:
        """DescribePipeline's answer, or None when there is no pipeline called `name`."""
        with aws_errors("DescribePipeline"):
            try:
                return self.clients.sagemaker.describe_pipeline(PipelineName=name)
            except ClientError as exc:
                if is_missing_pipeline(exc):
                    return None
                raise

    def prepare_to_run(self) -> None:
        """Nothing to prepare: SageMaker starts the jobs."""

    def get_pipeline_definition(self, name: str) -> dict[str, Any] | None:
        """The deployed definition of pipeline `name`, or None when there is none."""
        described = self._describe_pipeline(name)
        if described is None:
            return None
        return json.loads(described["PipelineDefinition"])

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        """Create the pipeline or update it in place; return (pipeline ARN, created)."""
        body = _definition_body(definition)
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]

        if self._describe_pipeline(name) is None:
            params: dict[str, Any] = {
                "PipelineName": name,
                "PipelineDefinition": body,
                "RoleArn": role_arn,
                "ClientRequestToken": _create_token(name, body),
            }
            if tag_list:
                params["Tags"] = tag_list
            with aws_errors("CreatePipeline"):
                response = self.clients.sagemaker.create_pipeline(**params)
            return response["PipelineArn"], True

        with aws_errors("UpdatePipeline"):
            response = self.clients.sagemaker.update_pipeline(
                PipelineName=name, PipelineDefinition=body, RoleArn=role_arn
            )
        arn = response["PipelineArn"]
        # UpdatePipeline takes no tags: set them on the ARN. AddTags overwrites the value of
        # a key that is already there and leaves other tags alone.
        if tag_list:
            with aws_errors("AddTags"):
                self.clients.sagemaker.add_tags(ResourceArn=arn, Tags=tag_list)
        return arn, False

    # -- executions ----------------------------------------------------------------------

    def start_execution(
        self,
        name: str,
        parameters: dict[str, str],
        token: str,
        selective: SelectiveExecution | None = None,
    ) -> str:
        """Start an execution; the same `token` again returns the same execution's ARN
        (SageMaker's own idempotency: `token` is the ClientRequestToken, 32-128 chars)."""
        params: dict[str, Any] = {
            "PipelineName": name,
            "PipelineParameters": [
                {"Name": key, "Value": value} for key, value in parameters.items()
            ],
            "ClientRequestToken": token,
        }
        if selective is not None:
            params["SelectiveExecutionConfig"] = selective.to_request()
        with aws_errors("StartPipelineExecution"):
            response = self.clients.sagemaker.start_pipeline_execution(**params)
        return response["PipelineExecutionArn"]

    def latest_execution(self, name: str, status: str) -> str:
        """The newest execution of pipeline `name` with `status` (ListPipelineExecutions,
        newest first); '' when there is none, or no pipeline `name`."""
        with aws_errors("ListPipelineExecutions"):
            paginator = self.clients.sagemaker.get_paginator("list_pipeline_executions")
            pages = paginator.paginate(
                PipelineName=name, SortBy="CreationTime", SortOrder="Descending"
            )
            try:
                for page in pages:
                    for execution in page.get("PipelineExecutionSummaries", []):
                        if execution.get("PipelineExecutionStatus") == status:
                            return str(execution["PipelineExecutionArn"])
            except ClientError as exc:
                if is_missing_pipeline(exc):
                    return ""
                raise
        return ""

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        """The execution's status. Raises StageError when it does not exist."""
        with aws_errors("DescribePipelineExecution"):
            response = self.clients.sagemaker.describe_pipeline_execution(
                PipelineExecutionArn=execution_arn
            )
        status = response["PipelineExecutionStatus"]
        return ExecutionRecord(
            arn=execution_arn,
            status=status,
            failure_reason=response.get("FailureReason") or "",
            started=response.get("CreationTime"),
            # An execution's last change is its end once it has finished.
            ended=response.get("LastModifiedTime") if status in TERMINAL_STATUSES else None,
        )

    def list_steps(self, execution_arn: str) -> list[StepRecord]:
        """The execution's steps in the order they started."""
        steps: list[StepRecord] = []
        with aws_errors("ListPipelineExecutionSteps"):
            paginator = self.clients.sagemaker.get_paginator("list_pipeline_execution_steps")
            for page in paginator.paginate(PipelineExecutionArn=execution_arn):
                for step in page.get("PipelineExecutionSteps", []):
                    steps.append(
                        StepRecord(
                            name=step["StepName"],
                            status=step["StepStatus"],
                            started=step.get("StartTime"),
                            ended=step.get("EndTime"),
                            failure_reason=step.get("FailureReason") or "",
                            metadata=step.get("Metadata") or {},
                            cache_hit_from=(step.get("CacheHitResult") or {}).get(
                                "SourcePipelineExecutionArn", ""
                            ),
                            reused_from=(step.get("SelectiveExecutionResult") or {}).get(
                                "SourcePipelineExecutionArn", ""
                            ),
                        )
                    )
        # The service lists the newest first. Reverse, then sort by start time: the sort is
        # stable, so steps that started at the same time keep their order, and steps with no
        # start time yet go last. (The key never compares None with a datetime.)
        steps.reverse()
        steps.sort(key=lambda step: (step.started is None, step.started))
        return steps

    # -- property files ------------------------------------------------------------------

    def read_property_file(
        self, execution_arn: str, step_name: str, output_name: str, file_path: str
    ) -> Any:
        """The parsed JSON of a processing step's property file, as `Std:JsonGet` reads it:
        the file `file_path` inside the step's output `output_name`."""
        title = f"Cannot read property file of step '{step_name}'"

        # 1. The step, and the processing job it ran.
        matching = [step for step in self.list_steps(execution_arn) if step.name == step_name]
        if not matching:
            raise StageError(title, f"execution {execution_arn} has no step '{step_name}'")
        step = matching[-1]  # the latest attempt, should the name appear more than once
        job_arn = step.metadata.get("ProcessingJob", {}).get("Arn")
        if not job_arn:
            raise StageError(
                title,
                f"step '{step_name}' ({step.status}) has no processing job in its metadata "
                f"(keys: {', '.join(sorted(step.metadata)) or 'none'}); property files "
                "come from processing steps",
            )
        job_name = job_arn.rsplit("/", 1)[-1]

        # 2. The job's output called `output_name`, and where it went in S3.
        with aws_errors("DescribeProcessingJob"):
            job = self.clients.sagemaker.describe_processing_job(ProcessingJobName=job_name)
        outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
        output = next((out for out in outputs if out.get("OutputName") == output_name), None)
        if output is None:
            names = ", ".join(out.get("OutputName", "?") for out in outputs) or "none"
            raise StageError(
                title,
                f"processing job {job_name} of step '{step_name}' has no output "
                f"'{output_name}' (its outputs: {names})",
            )
        output_uri = output.get("S3Output", {}).get("S3Uri")
        if not output_uri:
            raise StageError(
                title,
                f"output '{output_name}' of processing job {job_name} (step '{step_name}') "
                "is not an S3 output",
            )

        # 3. The file inside that output.
        try:
            bucket, prefix = split_s3_uri(output_uri)
        except ValueError as exc:
            raise StageError(title, f"output '{output_name}': {exc}") from exc
        key = "/".join(part.strip("/") for part in (prefix, file_path) if part.strip("/"))
        uri = f"s3://{bucket}/{key}"
        where = f"{file_path} in output '{output_name}' of step '{step_name}' ({uri})"
        with aws_errors("GetObject", context=where):
            content = self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return json.loads(content)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
            raise StageError(title, f"{where} is not JSON: {exc}") from exc
