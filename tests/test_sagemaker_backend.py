"""SageMakerBackend against a moto server, and botocore's Stubber where moto falls short.

What moto 5.2.5 does differently from SageMaker (found while writing these tests):
- DescribePipeline of a missing pipeline: moto raises ValidationException ("Could not find
  pipeline with PipelineName x."), the service ResourceNotFound. Both are tested.
- AddTags appends: a key tagged twice is listed twice (the service overwrites the value).
- StartPipelineExecution ignores ClientRequestToken: the same token twice starts two
  executions with two ARNs (the service returns the first execution again). CreatePipeline
  ignores it too (a repeat fails with "Pipeline names must be unique").
- Every execution is "Succeeded" at once; ListPipelineExecutionSteps is not implemented
  (HTTP 500); DescribeProcessingJob knows only jobs made with CreateProcessingJob.
The Stubber checks each request and response against the real service model, so the
stubbed tests still catch a misspelt parameter or a response shape the service never sends.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.stub import Stubber

from smgha.backends import Backend
from smgha.backends.aws import SageMakerBackend
from smgha.backends.aws import client as aws_client
from smgha.backends.aws.client import IAM_ACTIONS, RUNTIME_IAM_ACTIONS
from smgha.errors import StageError

pytestmark = pytest.mark.slow  # starts a moto server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-role"
PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/demo"
EXECUTION_ARN = f"{PIPELINE_ARN}/execution/abc123def456"
TOKEN = "smgha-" + "0123456789abcdef" * 2  # 38 chars; the API wants 32 to 128

DEFINITION_V1: dict[str, Any] = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "InputData", "Type": "String", "DefaultValue": "s3://b/in"}],
    "Steps": [],
}
DEFINITION_V2: dict[str, Any] = {**DEFINITION_V1, "Metadata": {"revision": 2}}


def at(seconds: int) -> dt.datetime:
    """A fixed UTC time, `seconds` after a start."""
    return dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def tags_of(sagemaker: Any, arn: str) -> dict[str, str]:
    """The resource's tags; when moto lists a key twice (see above) the last value wins."""
    return {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def capture_params(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the client makes from now on."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.sagemaker.{operation}",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


def processing_job(name: str, outputs: dict[str, str]) -> dict[str, Any]:
    """A DescribeProcessingJob response with S3 outputs {OutputName: S3Uri}."""
    return {
        "ProcessingJobName": name,
        "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{name}",
        "ProcessingJobStatus": "Completed",
        "CreationTime": at(0),
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/eval:1"},
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": output_name,
                    "S3Output": {
                        "S3Uri": uri,
                        "LocalPath": f"/opt/ml/processing/{output_name}",
                        "S3UploadMode": "EndOfJob",
                    },
                }
                for output_name, uri in outputs.items()
            ]
        },
    }


def steps_page(steps: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    """A ListPipelineExecutionSteps response."""
    page: dict[str, Any] = {"PipelineExecutionSteps": steps}
    if next_token:
        page["NextToken"] = next_token
    return page


EVAL_JOB = "pipelines-abc123-Evaluate-x1y2z3"
EVALUATE_STEP = {
    "StepName": "Evaluate",
    "StepStatus": "Succeeded",
    "StartTime": at(100),
    "EndTime": at(160),
    "Metadata": {
        "ProcessingJob": {"Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{EVAL_JOB}"}
    },
}


# -- against moto -------------------------------------------------------------------------


def test_backend_satisfies_protocol(backend: SageMakerBackend) -> None:
    as_protocol: Backend = backend  # checked by mypy; here, that it is constructible
    assert as_protocol.pipelines.poll_seconds == 20.0


def test_no_definition_before_create(backend: SageMakerBackend) -> None:
    # moto answers ValidationException "Could not find pipeline ..." here.
    assert backend.pipelines.get_pipeline_definition("demo") is None


def test_upsert_creates_with_tags(backend: SageMakerBackend, sagemaker: Any) -> None:
    sent = capture_params(backend.clients.sagemaker, "CreatePipeline")

    arn, created = backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {"team": "ml"})

    assert created is True
    assert arn == PIPELINE_ARN
    assert backend.pipelines.get_pipeline_definition("demo") == DEFINITION_V1
    described = sagemaker.describe_pipeline(PipelineName="demo")
    assert described["RoleArn"] == ROLE
    assert tags_of(sagemaker, arn) == {"team": "ml"}
    # Compact JSON, and a token the API accepts.
    (params,) = sent
    assert params["PipelineDefinition"] == json.dumps(DEFINITION_V1, separators=(",", ":"))
    assert 32 <= len(params["ClientRequestToken"]) <= 128


def test_create_token_is_deterministic(backend: SageMakerBackend, sagemaker: Any) -> None:
    sent = capture_params(backend.clients.sagemaker, "CreatePipeline")

    backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {})
    sagemaker.delete_pipeline(PipelineName="demo", ClientRequestToken=TOKEN)
    backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {})
    backend.pipelines.upsert_pipeline("other", DEFINITION_V1, ROLE, {})
    sagemaker.delete_pipeline(PipelineName="demo", ClientRequestToken=TOKEN)
    backend.pipelines.upsert_pipeline("demo", DEFINITION_V2, ROLE, {})

    tokens = [params["ClientRequestToken"] for params in sent]
    assert tokens[0] == tokens[1]  # same name, same definition
    assert len(set(tokens[1:])) == 3  # another name, another definition: other tokens
    assert "Tags" not in sent[0]  # no empty tag list sent


def test_upsert_updates_and_refreshes_tags(backend: SageMakerBackend, sagemaker: Any) -> None:
    first_arn, _ = backend.pipelines.upsert_pipeline(
        "demo", DEFINITION_V1, ROLE, {"team": "ml", "stage": "dev"}
    )
    new_role = f"arn:aws:iam::{ACCOUNT}:role/other-role"

    arn, created = backend.pipelines.upsert_pipeline(
        "demo", DEFINITION_V2, new_role, {"stage": "prod"}
    )

    assert created is False
    assert arn == first_arn
    assert backend.pipelines.get_pipeline_definition("demo") == DEFINITION_V2
    assert sagemaker.describe_pipeline(PipelineName="demo")["RoleArn"] == new_role
    # AddTags: "stage" gets its new value, "team" (not passed again) is left alone.
    assert tags_of(sagemaker, arn) == {"team": "ml", "stage": "prod"}


def test_start_execution_returns_execution_arn(backend: SageMakerBackend, sagemaker: Any) -> None:
    pipeline_arn, _ = backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {})

    execution_arn = backend.pipelines.start_execution("demo", {"InputData": "s3://b/new"}, TOKEN)

    assert execution_arn.startswith(f"{pipeline_arn}/execution/")
    summaries = sagemaker.list_pipeline_executions(PipelineName="demo")
    assert [s["PipelineExecutionArn"] for s in summaries["PipelineExecutionSummaries"]] == [
        execution_arn
    ]
    parameters = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution_arn
    )
    assert parameters["PipelineParameters"] == [{"Name": "InputData", "Value": "s3://b/new"}]
    # moto ignores ClientRequestToken: starting again with TOKEN gives a second execution
    # with a new ARN, where SageMaker returns `execution_arn` again. So idempotency is not
    # tested here; test_start_execution_request checks that the token is sent.


def test_describe_execution_maps_status(backend: SageMakerBackend) -> None:
    backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {})
    execution_arn = backend.pipelines.start_execution("demo", {}, TOKEN)

    record = backend.pipelines.describe_execution(execution_arn)

    # moto finishes every execution at once.
    assert record.arn == execution_arn
    assert record.status == "Succeeded"
    assert record.finished
    assert record.failure_reason == ""
    assert record.started is not None
    assert record.ended is not None


def test_describe_missing_execution_is_a_stage_error(backend: SageMakerBackend) -> None:
    backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {})

    with pytest.raises(StageError) as caught:
        backend.pipelines.describe_execution(EXECUTION_ARN)

    assert caught.value.title == "DescribePipelineExecution failed"
    assert "ValidationException" in caught.value.detail  # moto's code for a missing one


def test_read_property_file_from_s3(backend: SageMakerBackend, s3: Any) -> None:
    report = {"metrics": {"rmse": {"value": 2.1}}}
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(
        Bucket="artifacts",
        Key="runs/abc/evaluation/evaluation.json",
        Body=json.dumps(report).encode(),
    )
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "list_pipeline_execution_steps",
            steps_page([EVALUATE_STEP]),
            {"PipelineExecutionArn": EXECUTION_ARN},
        )
        stub.add_response(
            "describe_processing_job",
            processing_job(EVAL_JOB, {"evaluation": "s3://artifacts/runs/abc/evaluation/"}),
            {"ProcessingJobName": EVAL_JOB},
        )

        value = backend.pipelines.read_property_file(
            EXECUTION_ARN, "Evaluate", "evaluation", "evaluation.json"
        )

        stub.assert_no_pending_responses()
    assert value == report


def test_missing_property_file_names_step_output_and_uri(
    backend: SageMakerBackend, s3: Any
) -> None:
    s3.create_bucket(Bucket="artifacts")
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("list_pipeline_execution_steps", steps_page([EVALUATE_STEP]))
        stub.add_response(
            "describe_processing_job",
            processing_job(EVAL_JOB, {"evaluation": "s3://artifacts/eval"}),
        )

        with pytest.raises(StageError) as caught:
            backend.pipelines.read_property_file(
                EXECUTION_ARN, "Evaluate", "evaluation", "eval.json"
            )

    assert caught.value.title == "GetObject failed"
    detail = caught.value.detail
    assert "'evaluation'" in detail and "'Evaluate'" in detail
    assert "s3://artifacts/eval/eval.json" in detail
    assert "NoSuchKey" in detail


# -- with the Stubber: what moto lacks ----------------------------------------------------


def test_list_steps_reads_every_page_oldest_first(backend: SageMakerBackend) -> None:
    register = {
        "StepName": "Register",
        "StepStatus": "Succeeded",
        "StartTime": at(300),
        "EndTime": at(301),
        "Metadata": {
            "RegisterModel": {"Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/demo/3"}
        },
    }
    check = {
        "StepName": "CheckRmse",
        "StepStatus": "Succeeded",
        "StartTime": at(200),
        "EndTime": at(201),
        "Metadata": {"Condition": {"Outcome": "True"}},
    }
    train = {
        "StepName": "Train",
        "StepStatus": "Failed",
        "StartTime": at(10),
        "EndTime": at(90),
        "FailureReason": "ClientError: AlgorithmError: out of memory",
        "Metadata": {
            "TrainingJob": {"Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/t-1"}
        },
    }
    with Stubber(backend.clients.sagemaker) as stub:
        # The service's default order: newest first, over two pages.
        stub.add_response(
            "list_pipeline_execution_steps",
            steps_page([register, check], next_token="page-2"),
            {"PipelineExecutionArn": EXECUTION_ARN},
        )
        stub.add_response(
            "list_pipeline_execution_steps",
            steps_page([EVALUATE_STEP, train]),
            {"PipelineExecutionArn": EXECUTION_ARN, "NextToken": "page-2"},
        )

        steps = backend.pipelines.list_steps(EXECUTION_ARN)

        stub.assert_no_pending_responses()
    assert [step.name for step in steps] == ["Train", "Evaluate", "CheckRmse", "Register"]
    assert steps[0].status == "Failed"
    assert steps[0].failure_reason == "ClientError: AlgorithmError: out of memory"
    assert steps[0].seconds == 80
    assert steps[1].failure_reason == ""
    assert steps[3].metadata == register["Metadata"]
    assert steps[2].metadata == {"Condition": {"Outcome": "True"}}


def test_list_steps_puts_unstarted_steps_last(backend: SageMakerBackend) -> None:
    waiting = {"StepName": "Deploy", "StepStatus": "Starting", "Metadata": {}}
    running = {"StepName": "Train", "StepStatus": "Executing", "StartTime": at(5)}
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("list_pipeline_execution_steps", steps_page([waiting, running]))

        steps = backend.pipelines.list_steps(EXECUTION_ARN)

    assert [(step.name, step.started, step.ended) for step in steps] == [
        ("Train", at(5), None),
        ("Deploy", None, None),
    ]


def test_start_execution_request(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "start_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION_ARN},
            {
                "PipelineName": "demo",
                "PipelineParameters": [
                    {"Name": "InputData", "Value": "s3://b/in"},
                    {"Name": "Threshold", "Value": "0.8"},
                ],
                "ClientRequestToken": TOKEN,
            },
        )

        arn = backend.pipelines.start_execution(
            "demo", {"InputData": "s3://b/in", "Threshold": "0.8"}, TOKEN
        )

        stub.assert_no_pending_responses()
    assert arn == EXECUTION_ARN


@pytest.mark.parametrize(
    ("status", "reason", "finished"),
    [("Executing", None, False), ("Failed", "Step Train failed", True), ("Stopped", "", True)],
)
def test_describe_execution_statuses(
    backend: SageMakerBackend, status: str, reason: str | None, finished: bool
) -> None:
    response: dict[str, Any] = {
        "PipelineArn": PIPELINE_ARN,
        "PipelineExecutionArn": EXECUTION_ARN,
        "PipelineExecutionStatus": status,
        "CreationTime": at(0),
        "LastModifiedTime": at(600),
    }
    if reason is not None:
        response["FailureReason"] = reason
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("describe_pipeline_execution", response)

        record = backend.pipelines.describe_execution(EXECUTION_ARN)

    assert record.status == status
    assert record.finished is finished
    assert record.failure_reason == (reason or "")
    assert record.started == at(0)
    assert record.ended == (at(600) if finished else None)


def test_missing_pipeline_as_the_service_reports_it(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_pipeline",
            service_error_code="ResourceNotFound",
            service_message=f"Pipeline '{PIPELINE_ARN}' does not exist.",
            http_status_code=400,
        )

        assert backend.pipelines.get_pipeline_definition("demo") is None


def test_other_validation_errors_are_not_a_missing_pipeline(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_pipeline",
            service_error_code="ValidationException",
            service_message="1 validation error detected: Value 'bad name' at 'pipelineName'",
            http_status_code=400,
        )

        with pytest.raises(StageError) as caught:
            backend.pipelines.get_pipeline_definition("bad name")

    assert caught.value.title == "DescribePipeline failed"
    assert caught.value.detail.startswith("ValidationException: 1 validation error")


def test_access_denied_names_the_iam_action(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error("describe_pipeline", service_error_code="ResourceNotFound")
        stub.add_client_error(
            "create_pipeline",
            service_error_code="AccessDeniedException",
            service_message=(
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/gha/run is not authorized to "
                "perform: sagemaker:CreatePipeline"
            ),
            http_status_code=400,
        )

        with pytest.raises(StageError) as caught:
            backend.pipelines.upsert_pipeline("demo", DEFINITION_V1, ROLE, {"team": "ml"})

    assert caught.value.title == "CreatePipeline failed"
    detail = caught.value.detail
    assert detail.startswith("AccessDeniedException: User: ")
    assert "need sagemaker:CreatePipeline" in detail
    assert "iam:PassRole" in detail


def test_access_denied_across_accounts_says_the_resource_policy_must_allow_it_too(
    backend: SageMakerBackend,
) -> None:
    """A staging account's deploy role reading the tooling account's package: AWS's message
    names the caller's account, the ARN the resource's; the error says what else must allow it."""
    package = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn-models/3"
    message = (
        "User: arn:aws:sts::222222222222:assumed-role/churn-deploy-staging/run is not "
        f"authorized to perform: sagemaker:DescribeModelPackage on resource: {package}"
    )
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_model_package", "AccessDeniedException", message, http_status_code=400
        )
        with pytest.raises(StageError) as caught:
            backend.registry.describe_model_package(package)
    detail = caught.value.detail
    assert "need sagemaker:DescribeModelPackage" in detail
    assert "in account 111111111111 and the caller in account 222222222222" in detail
    assert "model package group's policy" in detail

    # In one account the identity policy alone decides: no such hint.
    same = message.replace("222222222222", "111111111111")
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_model_package", "AccessDeniedException", same, http_status_code=400
        )
        with pytest.raises(StageError) as caught:
            backend.registry.describe_model_package(package)
    assert "across accounts" not in caught.value.detail


def test_iam_actions_name_real_operations() -> None:
    session = botocore.session.get_session()
    # IAM actions named otherwise than their operation: S3 authorizes HeadObject as
    # s3:GetObject (S3 API Reference, HeadObject, "Permissions"), and ListObjectsV2 as
    # s3:ListBucket (ListObjectsV2, "Permissions").
    renamed = {"HeadObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket"}
    for operation, action in IAM_ACTIONS.items():
        service = action.split(":")[0]
        assert operation in session.get_service_model(service).operation_names, operation
        assert action == renamed.get(operation, f"{service}:{operation}")


def test_every_operation_the_adapter_calls_has_its_iam_action() -> None:
    """A call missing from IAM_ACTIONS has no Terraform grant behind it either (the least-
    privilege test maps recorded calls through this table): e.g. ListPipelineExecutions,
    which from-step makes, was once called and granted nowhere."""
    session = botocore.session.get_session()
    services = {"sagemaker": "sagemaker", "runtime": "sagemaker-runtime",
                "autoscaling": "application-autoscaling", "cloudwatch": "cloudwatch", "s3": "s3"}  # fmt: skip
    source = "\n".join(
        path.read_text() for path in sorted(Path(aws_client.__file__).parent.glob("*.py"))
    )
    called = re.findall(r"clients\.(\w+)\.(\w+)\(\s*(?:\"(\w+)\")?", source)
    assert len(called) > 20, called  # the scan finds the adapter's calls
    known = {**IAM_ACTIONS, **RUNTIME_IAM_ACTIONS}
    missing = []
    for client, method, paginated in called:
        model = session.get_service_model(services[client])
        by_method = {botocore.xform_name(name): name for name in model.operation_names}
        operation = by_method[paginated if method == "get_paginator" else method]
        if operation not in known:
            missing.append(operation)
    assert not missing, f"operations without an IAM action in IAM_ACTIONS: {sorted(missing)}"


def test_missing_processing_output_is_named(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("list_pipeline_execution_steps", steps_page([EVALUATE_STEP]))
        stub.add_response(
            "describe_processing_job",
            processing_job(EVAL_JOB, {"metrics": "s3://artifacts/metrics"}),
        )

        with pytest.raises(StageError) as caught:
            backend.pipelines.read_property_file(EXECUTION_ARN, "Evaluate", "evaluation", "e.json")

    assert caught.value.title == "Cannot read property file of step 'Evaluate'"
    assert caught.value.detail == (
        f"processing job {EVAL_JOB} of step 'Evaluate' has no output 'evaluation' "
        "(its outputs: metrics)"
    )


def test_property_file_of_a_missing_or_non_processing_step(backend: SageMakerBackend) -> None:
    check = {"StepName": "CheckRmse", "StepStatus": "Succeeded", "StartTime": at(1)}
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("list_pipeline_execution_steps", steps_page([check]))
        stub.add_response("list_pipeline_execution_steps", steps_page([check]))

        with pytest.raises(StageError, match="has no step 'Evaluate'"):
            backend.pipelines.read_property_file(EXECUTION_ARN, "Evaluate", "evaluation", "e.json")
        with pytest.raises(StageError, match="step 'CheckRmse' .* has no processing job"):
            backend.pipelines.read_property_file(EXECUTION_ARN, "CheckRmse", "evaluation", "e.json")


def test_oversized_definition_is_refused_before_any_call(backend: SageMakerBackend) -> None:
    huge = {**DEFINITION_V1, "Metadata": {"blob": "x" * 1_048_576}}
    # An active Stubber with nothing queued fails any call the backend would make.
    with Stubber(backend.clients.sagemaker), pytest.raises(StageError) as caught:
        backend.pipelines.upsert_pipeline("demo", huge, ROLE, {})

    assert caught.value.title == "Pipeline definition too large"
    assert "1,048,576" in caught.value.detail


def test_missing_objects_are_those_head_object_does_not_find(
    backend: SageMakerBackend, s3: Any
) -> None:
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="churn/code/abc/preprocess.py", Body=b"print(1)\n")
    present = "s3://artifacts/churn/code/abc/preprocess.py"

    assert backend.objects.missing_objects([present]) == []
    assert backend.objects.missing_objects(
        [present, "s3://artifacts/churn/code/def/evaluate.py"]
    ) == ["s3://artifacts/churn/code/def/evaluate.py"]  # moto answers 404


def test_a_403_from_head_object_counts_as_missing_and_other_errors_fail_the_call(
    backend: SageMakerBackend,
) -> None:
    # Without s3:ListBucket, S3 answers 403 for a key that does not exist (HeadObject docs).
    with Stubber(backend.clients.s3) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        stub.add_client_error("head_object", service_error_code="500", http_status_code=500)
        assert backend.objects.missing_objects(["s3://artifacts/a.py"]) == ["s3://artifacts/a.py"]
        with pytest.raises(StageError) as caught:
            backend.objects.missing_objects(["s3://artifacts/b.py"])

    assert caught.value.title == "HeadObject failed"
