"""batch-transform on the sagemaker backend: its requests held to the strict contract (the
request itself, botocore's Stubber, the whole stage on moto), the least-privilege grant judged
by the IAM policy evaluator, and the reusable deploy workflow that passes it through."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smgha.backends.aws.transform import SageMakerTransforms
from smgha.backends.local import LocalBackend
from smgha.runner import Runner
from smgha.stages import batch_transform
from tests.aws_contract import contract_problems
from tests.stage_helpers import GITHUB_CONTEXT, XGBOOST_IMAGE, local_backend_in, run_main
from tests.test_batch_transform import INPUT, LABELLED, OUTPUT, upload
from tests.test_deploy_endpoint import register, train


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


# ---- the sagemaker backend's requests -------------------------------------------------------------


def sagemaker_plan(local: LocalBackend, **overrides: str) -> batch_transform.Plan:
    """The plan of the sagemaker backend's inputs, read from the local backend's registry."""
    upload(local, parts=1)
    package = register(local, train(rounds=5, depth=2, seed=1))
    env = {
        "INPUT_BACKEND": "sagemaker",
        "INPUT_REGION": "us-east-1",
        "INPUT_MODEL_PACKAGE_ARN": package,
        "INPUT_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker-execution",
        "INPUT_INPUT_S3_URI": INPUT,
        "INPUT_OUTPUT_S3_URI": OUTPUT,
        **{f"INPUT_{k.upper().replace('-', '_')}": v for k, v in {**LABELLED, **overrides}.items()},
    }
    inputs = batch_transform.load_inputs(Runner(env=env, stdout=io.StringIO()))
    return batch_transform.plan(inputs, local)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"batch-strategy": "SingleRecord", "max-concurrent-transforms": "4", "max-payload-mb": "25"},
     {"split-type": "None", "check-output": "false", "join-source": "None", "label-column": "none", "input-filter": "", "output-filter": ""}],
)  # fmt: skip
def test_the_transform_job_request_passes_the_contract(
    local: LocalBackend, overrides: dict[str, str]
) -> None:
    planned = sagemaker_plan(local, **overrides)

    request = planned.job_request
    assert contract_problems("sagemaker", "CreateTransformJob", request) == []
    assert planned.model_request is not None
    assert contract_problems("sagemaker", "CreateModel", planned.model_request) == []
    assert request["TransformOutput"]["S3OutputPath"] == f"{OUTPUT}/{planned.job}/"
    assert ("BatchStrategy" in request) == (overrides.get("split-type") != "None")


def test_the_contract_refuses_what_sagemaker_refuses_beside_the_shapes(local: LocalBackend) -> None:
    request = sagemaker_plan(local).job_request

    too_much = {**request, "MaxPayloadInMB": 60, "MaxConcurrentTransforms": 2}
    unsplit = {**request, "TransformInput": {**request["TransformInput"], "SplitType": "None"}}

    assert contract_problems("sagemaker", "CreateTransformJob", too_much) == [
        "MaxConcurrentTransforms * MaxPayloadInMB is 120, above 100"
    ]
    assert contract_problems("sagemaker", "CreateTransformJob", unsplit) == [
        "BatchStrategy MultiRecord needs a SplitType, and it is None"
    ]


def test_the_sagemaker_transforms_send_create_describe_and_stop(local: LocalBackend) -> None:
    planned = sagemaker_plan(local)
    transforms = SageMakerTransforms.__new__(SageMakerTransforms)
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")  # fmt: skip
    transforms.clients = type("Clients", (), {"sagemaker": client})()
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{planned.job}"
    with Stubber(client) as stub:
        stub.add_response("create_transform_job", {"TransformJobArn": arn}, planned.job_request)
        stub.add_client_error(
            "describe_transform_job",
            "ValidationException",
            f"Could not find transform job '{arn}'.",
            expected_params={"TransformJobName": "other"},
        )
        stub.add_response("stop_transform_job", {}, {"TransformJobName": planned.job})
        transforms.create_transform_job(planned.job_request)
        assert transforms.describe_transform_job("other") is None
        transforms.stop_transform_job(planned.job)
        stub.assert_no_pending_responses()


# ---- the reusable deploy workflow passes it through ------------------------------------------------


def test_the_deploy_workflow_runs_the_batch_transform_after_the_staging_smoke_test() -> None:
    from tests.test_workflows import TEMPLATES, WORKFLOWS, jobs, load, step_named, triggers

    workflow = WORKFLOWS / "model-deploy.yml"
    call = triggers(load(workflow))["workflow_call"]["inputs"]
    steps = jobs(workflow)["staging"]["steps"]
    staging = [s.get("id") for s in steps]
    # Right after the smoke test: only the upload of its report comes between them.
    assert staging.index("batch") > staging.index("smoke")
    between = steps[staging.index("smoke") + 1 : staging.index("batch")]
    assert all(s.get("uses", "").startswith("actions/upload-artifact@") for s in between), between
    batch = step_named(workflow, "staging", "batch")
    assert batch["if"] == "inputs.batch-input-s3-uri != ''"
    assert batch["with"]["model-package-arn"] == "${{ inputs.model-package-arn }}"
    # Every check batch-transform has, the regression ones too.
    passed = {"input-s3-uri", "output-s3-uri", "instance-type", "label-column", "input-filter", "join-source", "output-filter", "min-accuracy", "max-rmse", "max-mae", "prediction-range"}  # fmt: skip
    for name in passed:
        assert batch["with"][name] == f"${{{{ inputs.batch-{name} }}}}"
        assert f"batch-{name}" in call
    for name in ("batch-input-s3-uri", "batch-output-s3-uri", "batch-input-filter"):
        assert call[name]["default"] == ""
    assert "# batch-input-s3-uri:" in (TEMPLATES / "model-deploy.yml").read_text()


@pytest.mark.parametrize(
    ("env", "refused"),
    [({"BATCH_INPUT": ""}, "batch-input-s3-uri"), ({"BATCH_INPUT": "s3://b/in/"}, "batch-output-s3-uri")],
)  # fmt: skip
def test_the_deploy_workflow_refuses_a_batch_without_an_input_before_staging(
    env: dict[str, str], refused: str
) -> None:
    from tests.test_workflows import WORKFLOWS, jobs, run_bash

    steps = jobs(WORKFLOWS / "model-deploy.yml")["staging"]["steps"]
    step = next(s for s in steps if s.get("name") == "Refuse a batch transform without an input or an output")  # fmt: skip
    assert steps.index(step) < next(i for i, s in enumerate(steps) if s.get("id") == "deploy")
    assert step["if"] == "(inputs.batch-input-s3-uri == '') != (inputs.batch-output-s3-uri == '')"

    done = run_bash(step["run"], env)

    assert done.returncode == 1
    assert done.stdout.startswith(
        f"::error title=model-deploy%3A invalid input::input '{refused}': is required with batch-"
    )
    other = {"batch-input-s3-uri", "batch-output-s3-uri"} - {refused}
    assert other.pop() in done.stdout


# ---- least privilege: the staging role is granted exactly these calls, on their resources ------


def test_the_staging_role_is_granted_the_batch_transform_calls_on_their_resources(
    local: LocalBackend,
) -> None:
    from tests.iam_policies import policies
    from tests.test_iam_simulator import BUCKET, PRODUCTION, STAGING, call, job_denials

    planned = sagemaker_plan(local)
    request = json.loads(json.dumps(planned.job_request).replace("s3://smgha-local/", f"s3://{BUCKET}/"))  # fmt: skip
    job = planned.job
    calls = [
        call(STAGING, "sagemaker", "CreateTransformJob", **request),
        call(STAGING, "sagemaker", "DescribeTransformJob", TransformJobName=job),
        call(STAGING, "sagemaker", "StopTransformJob", TransformJobName=job),
        call(STAGING, "s3", "ListObjectsV2", Bucket=BUCKET, Prefix="batch/input/"),
        call(STAGING, "s3", "GetObject", Bucket=BUCKET, Key="batch/input/part-0.csv"),
        call(STAGING, "s3", "HeadObject", Bucket=BUCKET, Key="batch/output/_LATEST.json"),
        call(STAGING, "s3", "PutObject", Bucket=BUCKET, Key="batch/output/_LATEST.json"),
    ]
    rendered = policies()

    assert job_denials(calls, rendered) == []
    # Scoped: another group's job, another bucket, and the production role are refused.
    other_job = call(STAGING, "sagemaker", "DescribeTransformJob", TransformJobName="fraud-v1-batch-0123abcd")  # fmt: skip
    other_bucket = call(STAGING, "s3", "ListObjectsV2", Bucket="someone-else", Prefix="x/")
    # ... and keys of the artifact bucket outside Terraform's batch_prefix ("batch/").
    other_prefix = call(STAGING, "s3", "ListObjectsV2", Bucket=BUCKET, Prefix="models/")
    other_key = call(STAGING, "s3", "PutObject", Bucket=BUCKET, Key="models/model.tar.gz")
    outside = [other_job, other_bucket, other_prefix, other_key]
    assert len(job_denials(outside, rendered)) == 4
    assert len(job_denials([{**c, "role": PRODUCTION} for c in calls[:4]], rendered)) == 4


# ---- the whole stage on the sagemaker backend (moto), every request held to the contract ----------


@pytest.mark.slow  # starts a moto server
def test_the_stage_on_the_sagemaker_backend_sends_requests_the_contract_passes(
    sagemaker: Any, s3: Any
) -> None:
    s3.create_bucket(Bucket="acme-batch")
    s3.put_object(Bucket="acme-batch", Key="batch/input/part-0.csv", Body=b"0.5,1.5\n0.1,2.5\n")
    sagemaker.create_model_package_group(ModelPackageGroupName="churn-models")
    package = sagemaker.create_model_package(
        ModelPackageGroupName="churn-models",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://acme-batch/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    inputs = {
        "backend": "sagemaker",
        "region": "us-east-1",
        "model-package-arn": package,
        "role-arn": "arn:aws:iam::123456789012:role/sagemaker-execution",
        "input-s3-uri": "s3://acme-batch/batch/input/",
        "output-s3-uri": "s3://acme-batch/batch/output",
        "check-output": "false",
    }

    result = run_main(batch_transform.main, inputs, **GITHUB_CONTEXT)

    assert result.code == 0, result.log
    job = result.outputs["transform-job-name"]
    record = sagemaker.describe_transform_job(TransformJobName=job)
    assert record["TransformOutput"]["S3OutputPath"] == f"s3://acme-batch/batch/output/{job}/"
    assert record["ModelName"] == "churn-models-v1"
    pointer = s3.get_object(Bucket="acme-batch", Key="batch/output/_LATEST.json")["Body"].read()
    assert json.loads(pointer)["TransformJobName"] == job
    again = run_main(batch_transform.main, inputs, **GITHUB_CONTEXT)
    assert again.code == 0 and "exists (Completed): not starting another" in again.log


def test_the_execution_role_reads_the_dataset_and_writes_the_output(local: LocalBackend) -> None:
    from tests.iam_execution import execution_requests
    from tests.iam_policies import DEPLOYMENT, EXECUTION_DOCUMENT, execution_role, policies
    from tests.iam_simulator import denials
    from tests.test_iam_simulator import BUCKET, STAGING, call

    request = json.loads(json.dumps(sagemaker_plan(local).job_request).replace("s3://smgha-local/", f"s3://{BUCKET}/"))  # fmt: skip
    elsewhere = json.loads(json.dumps(request).replace(f"s3://{BUCKET}/", "s3://someone-else/"))
    rendered = policies()

    def execution_denials(params: dict[str, Any]) -> list[str]:
        derived = execution_requests([call(STAGING, "sagemaker", "CreateTransformJob", **params)], DEPLOYMENT, execution_role())  # fmt: skip
        assert {r.action for r in derived} >= {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "logs:PutLogEvents"}  # fmt: skip
        return denials([(r, EXECUTION_DOCUMENT) for r in derived], rendered)

    assert execution_denials(request) == []
    assert len(execution_denials(elsewhere)) == 3  # list, read and write outside the bucket
