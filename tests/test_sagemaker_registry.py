"""SageMakerBackend's model registry (the Registry area) against a moto server, and botocore's
Stubber for what the real service answers differently.

What moto 5.2.5 does differently from SageMaker (found while writing these tests):
- DescribeModelPackage of a missing package: moto raises ValidationException "Model package
  <arn> not found", the service ValidationException "ModelPackage <arn> does not exist."
- DescribeModelPackageGroup of a missing group: both answer ValidationException
  "ModelPackageGroup <arn> does not exist." (the API model would have ResourceNotFound).
- DescribeTrainingJob of a missing job: moto answers ValidationException "Could not find
  training job '<arn>'.", the service ValidationException "Requested resource not found."
- UpdateModelPackage sets every field it handles to what the request holds: a field not sent
  is cleared (CustomerMetadataProperties replaced, not merged; ModelApprovalStatus and
  ApprovalDescription set to nothing). The service changes only what is sent, and merges
  CustomerMetadataProperties. The backend sends the merged map, so that part is alike; the
  tests here send status and description together when both must survive.
- CreateModelPackage without ModelApprovalStatus leaves it unset (the service defaults to
  PendingManualApproval), and no length limit is checked on ApprovalDescription.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from smgha.backends import Registry
from smgha.backends.aws import SageMakerBackend
from smgha.backends.aws.client import IAM_ACTIONS
from smgha.errors import StageError
from smgha.resources.customer_metadata import read_lineage, storable_lineage
from tests.aws_shapes import assert_valid_request, request_problems

pytestmark = pytest.mark.slow  # starts a moto server

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-role"
GROUP = "Churn"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{GROUP}"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/1"
TRAINING_JOB = "pipelines-abc123-Train-x1y2z3"
TRAINING_JOB_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{TRAINING_JOB.lower()}"

INFERENCE: dict[str, Any] = {
    "Containers": [
        {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://artifacts/runs/abc/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def metrics(uri: str) -> dict[str, Any]:
    """A ModelMetrics whose model-quality statistics are the report at `uri`."""
    return {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}}


def package_request(version_tag: str, status: str = "PendingManualApproval") -> dict[str, Any]:
    """A CreateModelPackage request for a versioned package in GROUP."""
    return {
        "ModelPackageGroupName": GROUP,
        "InferenceSpecification": INFERENCE,
        "ModelApprovalStatus": status,
        "ModelMetrics": metrics(f"s3://artifacts/{version_tag}/evaluation.json"),
        "CustomerMetadataProperties": {"run": version_tag},
    }


@pytest.fixture
def group(sagemaker: Any) -> str:
    """GROUP, created on the moto server."""
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return GROUP


def count_calls(client: Any, operation: str, page_size: int | None = None) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the client makes from now on; with
    `page_size`, each call also asks for at most that many results (MaxResults)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if page_size is not None:
            params["MaxResults"] = page_size
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.sagemaker.{operation}", record)
    return calls


# -- groups --------------------------------------------------------------------------------


def test_backend_satisfies_registry_protocol(backend: SageMakerBackend) -> None:
    as_protocol: Registry = backend.registry  # checked by mypy
    assert callable(as_protocol.list_model_packages)


def test_missing_group_is_none_and_existing_group_a_record(
    backend: SageMakerBackend, sagemaker: Any
) -> None:
    # moto: ValidationException "ModelPackageGroup <arn> does not exist."
    assert backend.registry.describe_model_package_group(GROUP) is None

    sagemaker.create_model_package_group(
        ModelPackageGroupName=GROUP, ModelPackageGroupDescription="churn models"
    )
    record = backend.registry.describe_model_package_group(GROUP)

    assert record is not None
    assert record["ModelPackageGroupArn"] == GROUP_ARN
    assert record["ModelPackageGroupDescription"] == "churn models"
    assert "ResponseMetadata" not in record


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", f"ModelPackageGroup {GROUP_ARN} does not exist."),
        ("ResourceNotFound", f"ModelPackageGroup {GROUP_ARN} does not exist."),
    ],
)
def test_missing_group_as_the_service_reports_it(
    backend: SageMakerBackend, code: str, message: str
) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_model_package_group",
            service_error_code=code,
            service_message=message,
            http_status_code=400,
            expected_params={"ModelPackageGroupName": GROUP},
        )

        assert backend.registry.describe_model_package_group(GROUP) is None


def test_other_group_errors_are_stage_errors(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        # "bad name" breaks ModelPackageGroupName's pattern: the contract (tests/aws_contract.py)
        # answers it with the ValidationException AWS sends, before the Stubber is asked.
        stub.add_client_error(
            "describe_model_package_group",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: sagemaker:DescribeModelPackageGroup",
            http_status_code=400,
        )

        with pytest.raises(StageError) as invalid:
            backend.registry.describe_model_package_group("bad name")
        with pytest.raises(StageError) as denied:
            backend.registry.describe_model_package_group(GROUP)

    assert invalid.value.title == "DescribeModelPackageGroup failed"
    assert "ValidationException: 1 validation error(s) detected" in invalid.value.detail
    assert "does not match the pattern" in invalid.value.detail
    assert "need sagemaker:DescribeModelPackageGroup" in denied.value.detail


# -- create and list -----------------------------------------------------------------------


def test_create_returns_the_versioned_arn(
    backend: SageMakerBackend, sagemaker: Any, group: str
) -> None:
    arn = backend.registry.create_model_package(package_request("run-1"))

    assert arn == PACKAGE_ARN  # moto, like SageMaker, lower-cases the group in the ARN
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelPackageVersion"] == 1
    assert described["InferenceSpecification"] == INFERENCE


def test_create_in_a_missing_group_is_a_stage_error(backend: SageMakerBackend) -> None:
    with pytest.raises(StageError) as caught:
        backend.registry.create_model_package(package_request("run-1"))

    assert caught.value.title == "CreateModelPackage failed"
    assert caught.value.detail.startswith(f"group {GROUP}: ValidationException")


def test_list_is_newest_first_with_full_records(backend: SageMakerBackend, group: str) -> None:
    first = backend.registry.create_model_package(package_request("run-1"))
    second = backend.registry.create_model_package(package_request("run-2", status="Approved"))
    listed = count_calls(backend.clients.sagemaker, "ListModelPackages")

    records = backend.registry.list_model_packages(group)

    assert [r["ModelPackageArn"] for r in records] == [second, first]
    assert [r["ModelPackageVersion"] for r in records] == [2, 1]
    # What the summaries lack, from DescribeModelPackage:
    assert records[0]["ModelMetrics"] == metrics("s3://artifacts/run-2/evaluation.json")
    assert records[1]["CustomerMetadataProperties"] == {"run": "run-1"}
    assert records[0]["InferenceSpecification"] == INFERENCE
    assert records[0]["ModelApprovalStatus"] == "Approved"
    assert all("ResponseMetadata" not in r for r in records)
    assert listed == [
        {
            "ModelPackageGroupName": GROUP,
            "ModelPackageType": "Versioned",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
    ]


def test_list_reads_every_page(backend: SageMakerBackend, group: str) -> None:
    arns = [backend.registry.create_model_package(package_request(f"run-{i}")) for i in range(1, 4)]
    listed = count_calls(backend.clients.sagemaker, "ListModelPackages", page_size=1)

    records = backend.registry.list_model_packages(group)

    assert [r["ModelPackageArn"] for r in records] == arns[::-1]
    assert len(listed) >= 3  # one package a page
    assert "NextToken" in listed[1]


def test_list_filters_by_approval_status(backend: SageMakerBackend, group: str) -> None:
    backend.registry.create_model_package(package_request("run-1", status="Approved"))
    backend.registry.create_model_package(package_request("run-2", status="Rejected"))
    third = backend.registry.create_model_package(package_request("run-3", status="Approved"))
    listed = count_calls(backend.clients.sagemaker, "ListModelPackages")

    approved = backend.registry.list_model_packages(group, approval_status="Approved")
    pending = backend.registry.list_model_packages(group, approval_status="PendingManualApproval")

    assert [r["CustomerMetadataProperties"]["run"] for r in approved] == ["run-3", "run-1"]
    assert approved[0]["ModelPackageArn"] == third
    assert {r["ModelApprovalStatus"] for r in approved} == {"Approved"}
    assert pending == []
    assert listed[0]["ModelApprovalStatus"] == "Approved"  # filtered by the API


def test_list_limit_describes_only_the_newest(backend: SageMakerBackend, group: str) -> None:
    arns = [backend.registry.create_model_package(package_request(f"run-{i}")) for i in range(1, 5)]
    listed = count_calls(backend.clients.sagemaker, "ListModelPackages", page_size=1)
    described = count_calls(backend.clients.sagemaker, "DescribeModelPackage")

    records = backend.registry.list_model_packages(group, limit=2)

    assert [r["ModelPackageArn"] for r in records] == [arns[3], arns[2]]
    assert [call["ModelPackageName"] for call in described] == [arns[3], arns[2]]
    assert len(listed) == 2  # stopped paging once the two newest were known


def test_list_limit_zero_and_negative(backend: SageMakerBackend) -> None:
    # An active Stubber with nothing queued fails any call the backend would make.
    with Stubber(backend.clients.sagemaker):
        assert backend.registry.list_model_packages(GROUP, limit=0) == []
        with pytest.raises(ValueError, match="limit must be at least 0"):
            backend.registry.list_model_packages(GROUP, limit=-1)


def test_list_of_a_missing_group_is_empty(backend: SageMakerBackend) -> None:
    assert backend.registry.list_model_packages("NoSuchGroup") == []


def test_list_skips_a_package_deleted_after_listing(backend: SageMakerBackend) -> None:
    summary = {
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": 1,
        "ModelPackageArn": PACKAGE_ARN,
        "CreationTime": 0,
        "ModelPackageStatus": "Completed",
    }
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("list_model_packages", {"ModelPackageSummaryList": [summary]})
        stub.add_client_error(
            "describe_model_package",
            service_error_code="ValidationException",
            service_message=f"ModelPackage {PACKAGE_ARN} does not exist.",
            http_status_code=400,
            expected_params={"ModelPackageName": PACKAGE_ARN},
        )

        assert backend.registry.list_model_packages(GROUP) == []
        stub.assert_no_pending_responses()


# -- describe a package --------------------------------------------------------------------


def test_describe_missing_package_is_none(backend: SageMakerBackend, group: str) -> None:
    # moto: ValidationException "Model package <arn> not found".
    assert backend.registry.describe_model_package(PACKAGE_ARN) is None

    arn = backend.registry.create_model_package(package_request("run-1"))
    record = backend.registry.describe_model_package(arn)

    assert record is not None
    assert record["ModelPackageArn"] == arn
    assert record["ModelMetrics"] == metrics("s3://artifacts/run-1/evaluation.json")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", f"ModelPackage {PACKAGE_ARN} does not exist."),
        ("ResourceNotFound", "Model package not found."),
    ],
)
def test_missing_package_as_the_service_reports_it(
    backend: SageMakerBackend, code: str, message: str
) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_model_package",
            service_error_code=code,
            service_message=message,
            http_status_code=400,
        )

        assert backend.registry.describe_model_package(PACKAGE_ARN) is None


def test_describe_package_access_denied_is_a_stage_error(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_model_package",
            service_error_code="AccessDeniedException",
            service_message="not authorized",
            http_status_code=400,
        )

        with pytest.raises(StageError) as caught:
            backend.registry.describe_model_package(PACKAGE_ARN)

    assert caught.value.title == "DescribeModelPackage failed"
    assert caught.value.detail.startswith(f"{PACKAGE_ARN}: AccessDeniedException")
    assert "need sagemaker:DescribeModelPackage" in caught.value.detail


# -- update --------------------------------------------------------------------------------


def test_update_merges_metadata_and_sets_status_and_description(
    backend: SageMakerBackend, sagemaker: Any, group: str
) -> None:
    request = package_request("run-1")
    request["CustomerMetadataProperties"] = {"run": "run-1", "rmse": "2.3"}
    arn = backend.registry.create_model_package(request)
    sent = count_calls(backend.clients.sagemaker, "UpdateModelPackage")

    backend.registry.update_model_package(
        arn,
        approval_status="Approved",
        approval_description="rmse 2.1 beats 2.3",
        customer_metadata={"rmse": "2.1", "approved_by": "ci"},
    )

    described = sagemaker.describe_model_package(ModelPackageName=arn)
    # Old keys kept, changed keys overwritten, new keys added (moto alone would replace).
    assert described["CustomerMetadataProperties"] == {
        "run": "run-1",
        "rmse": "2.1",
        "approved_by": "ci",
    }
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "rmse 2.1 beats 2.3"
    (params,) = sent
    assert params["CustomerMetadataProperties"] == described["CustomerMetadataProperties"]


def test_update_sends_only_the_given_fields(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response(
            "update_model_package",
            {"ModelPackageArn": PACKAGE_ARN},
            {"ModelPackageArn": PACKAGE_ARN, "ModelApprovalStatus": "Rejected"},
        )
        stub.add_response(
            "update_model_package",
            {"ModelPackageArn": PACKAGE_ARN},
            {"ModelPackageArn": PACKAGE_ARN, "ApprovalDescription": "why"},
        )

        backend.registry.update_model_package(PACKAGE_ARN, approval_status="Rejected")
        backend.registry.update_model_package(PACKAGE_ARN, approval_description="why")
        # Nothing to change: no call at all (the Stubber has no more responses).
        backend.registry.update_model_package(PACKAGE_ARN)
        backend.registry.update_model_package(PACKAGE_ARN, customer_metadata={})

        stub.assert_no_pending_responses()


def test_update_merges_with_the_current_map_as_read(backend: SageMakerBackend) -> None:
    current = {
        "ModelPackageArn": PACKAGE_ARN,
        "ModelPackageName": GROUP,
        "CreationTime": 0,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "CustomerMetadataProperties": {"run": "run-1", "rmse": "2.3"},
    }
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_response("describe_model_package", current, {"ModelPackageName": PACKAGE_ARN})
        stub.add_response(
            "update_model_package",
            {"ModelPackageArn": PACKAGE_ARN},
            {
                "ModelPackageArn": PACKAGE_ARN,
                "CustomerMetadataProperties": {"run": "run-1", "rmse": "2.1"},
            },
        )

        backend.registry.update_model_package(PACKAGE_ARN, customer_metadata={"rmse": "2.1"})

        stub.assert_no_pending_responses()


def test_update_beyond_50_metadata_entries_is_refused_before_the_call(
    backend: SageMakerBackend, sagemaker: Any, group: str
) -> None:
    request = package_request("run-1")
    request["CustomerMetadataProperties"] = {f"team:{i}": "x" for i in range(45)}
    arn = backend.registry.create_model_package(request)
    sent = count_calls(backend.clients.sagemaker, "UpdateModelPackage")

    with pytest.raises(StageError) as refused:
        backend.registry.update_model_package(
            arn, customer_metadata={f"smgha:{i}": "y" for i in range(6)}
        )

    assert refused.value.title == "UpdateModelPackage refused"
    assert "would hold 51 CustomerMetadataProperties; SageMaker allows 50" in refused.value.detail
    assert sent == []
    assert (
        len(sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"])
        == 45
    )


def test_update_with_register_and_gate_lineage_is_a_request_sagemaker_accepts(
    backend: SageMakerBackend, sagemaker: Any, group: str
) -> None:
    """The stage encodes its lineage; the backend merges it with the package's own keys and
    sends what the service's pattern and limits allow, and it reads back as written."""
    lineage = {
        "forced-by": "dependabot[bot]",
        "force-reason": "hotfix, see INC-12 (rollback!)\nsecond line",
        "metric:f1 (macro)": "0.7",
        **{f"metric:class_{i:02d}.precision": f"{i / 100:.6g}" for i in range(60)},
    }
    assert_valid_request("sagemaker", "CreateModelPackage", package_request("run-1"))
    arn = backend.registry.create_model_package(package_request("run-1"))
    sent = count_calls(backend.clients.sagemaker, "UpdateModelPackage")
    current = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    stored = storable_lineage(lineage, existing=current)
    assert request_problems(  # what the stage sent before it encoded
        "sagemaker",
        "UpdateModelPackage",
        {
            "ModelPackageArn": arn,
            "CustomerMetadataProperties": {f"smgha:{k}": v for k, v in lineage.items()},
        },
    )

    backend.registry.update_model_package(
        arn,
        approval_status="Approved",
        approval_description="forced",
        customer_metadata=stored.properties,
    )

    (params,) = sent
    assert_valid_request("sagemaker", "UpdateModelPackage", params)
    described = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert described["run"] == "run-1"
    assert read_lineage(described) == lineage


@pytest.mark.parametrize(
    ("length", "expected_end"),
    [(1024, "x" * 3), (1025, "x\u2026"), (5000, "x\u2026")],
)
def test_update_truncates_a_long_description(
    backend: SageMakerBackend, sagemaker: Any, group: str, length: int, expected_end: str
) -> None:
    arn = backend.registry.create_model_package(package_request("run-1"))

    backend.registry.update_model_package(arn, approval_description="x" * length)

    stored = sagemaker.describe_model_package(ModelPackageName=arn)["ApprovalDescription"]
    assert len(stored) == min(length, 1024)
    assert stored.endswith(expected_end)
    assert stored.count("\u2026") == (1 if length > 1024 else 0)


def test_update_of_a_missing_package_is_a_stage_error(
    backend: SageMakerBackend, group: str
) -> None:
    with pytest.raises(StageError) as merged:
        backend.registry.update_model_package(PACKAGE_ARN, customer_metadata={"a": "1"})
    with pytest.raises(StageError) as plain:
        backend.registry.update_model_package(PACKAGE_ARN, approval_status="Approved")

    assert merged.value.title == "UpdateModelPackage failed"
    assert PACKAGE_ARN in merged.value.detail
    assert plain.value.title == "UpdateModelPackage failed"
    assert "ValidationException" in plain.value.detail


# -- read_json -----------------------------------------------------------------------------


def test_read_json_from_s3(backend: SageMakerBackend, s3: Any) -> None:
    report = {"regression_metrics": {"rmse": {"value": 2.1, "standard_deviation": 0.1}}}
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="runs/abc/evaluation.json", Body=json.dumps(report))

    assert backend.objects.read_json("s3://artifacts/runs/abc/evaluation.json") == report


def test_read_json_of_a_missing_object_names_the_uri(backend: SageMakerBackend, s3: Any) -> None:
    s3.create_bucket(Bucket="artifacts")

    with pytest.raises(StageError) as no_key:
        backend.objects.read_json("s3://artifacts/runs/abc/evaluation.json")
    with pytest.raises(StageError) as no_bucket:
        backend.objects.read_json("s3://no-such-bucket/evaluation.json")

    assert no_key.value.title == "GetObject failed"
    assert no_key.value.detail.startswith("s3://artifacts/runs/abc/evaluation.json: NoSuchKey")
    assert no_bucket.value.detail.startswith("s3://no-such-bucket/evaluation.json: NoSuchBucket")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\xfa", b""])
def test_read_json_of_invalid_json_names_the_uri(
    backend: SageMakerBackend, s3: Any, body: bytes
) -> None:
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="eval.json", Body=body)

    with pytest.raises(StageError) as caught:
        backend.objects.read_json("s3://artifacts/eval.json")

    assert caught.value.title == "Cannot read JSON document"
    assert caught.value.detail.startswith("s3://artifacts/eval.json is not JSON: ")


@pytest.mark.parametrize("uri", ["/tmp/eval.json", "s3://artifacts", "s3://artifacts/"])
def test_read_json_of_a_bad_uri(backend: SageMakerBackend, uri: str) -> None:
    with Stubber(backend.clients.s3), pytest.raises(StageError) as caught:
        backend.objects.read_json(uri)

    assert caught.value.title == "Cannot read JSON document"
    assert repr(uri) in caught.value.detail


# -- training jobs -------------------------------------------------------------------------


def test_describe_training_job_by_arn(backend: SageMakerBackend, sagemaker: Any) -> None:
    channel = {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://artifacts/runs/abc/train/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "text/csv",
    }
    arn = sagemaker.create_training_job(
        TrainingJobName=TRAINING_JOB,
        AlgorithmSpecification={
            "TrainingImage": INFERENCE["Containers"][0]["Image"],
            "TrainingInputMode": "File",
        },
        RoleArn=ROLE,
        InputDataConfig=[channel],
        OutputDataConfig={"S3OutputPath": "s3://artifacts/runs/abc/model/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )["TrainingJobArn"]
    described = count_calls(backend.clients.sagemaker, "DescribeTrainingJob")

    record = backend.registry.describe_training_job(arn)

    assert record is not None
    assert record["TrainingJobName"] == TRAINING_JOB
    assert record["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://artifacts/runs/abc/train/"
    )
    assert "ResponseMetadata" not in record
    assert described == [{"TrainingJobName": arn.rsplit("/", 1)[-1]}]


def test_describe_missing_training_job_is_none(backend: SageMakerBackend) -> None:
    # moto: ValidationException "Could not find training job '<arn>'."
    assert backend.registry.describe_training_job(TRAINING_JOB_ARN) is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "Requested resource not found."),
        ("ResourceNotFound", "Training job not found."),
    ],
)
def test_missing_training_job_as_the_service_reports_it(
    backend: SageMakerBackend, code: str, message: str
) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_training_job",
            service_error_code=code,
            service_message=message,
            http_status_code=400,
            expected_params={"TrainingJobName": TRAINING_JOB.lower()},
        )

        assert backend.registry.describe_training_job(TRAINING_JOB_ARN) is None


def test_other_training_job_errors_are_stage_errors(backend: SageMakerBackend) -> None:
    with Stubber(backend.clients.sagemaker) as stub:
        stub.add_client_error(
            "describe_training_job",
            service_error_code="ValidationException",
            service_message="1 validation error detected: Value 'x y' at 'trainingJobName'",
            http_status_code=400,
        )

        with pytest.raises(StageError) as caught:
            backend.registry.describe_training_job("x y")

    assert caught.value.title == "DescribeTrainingJob failed"
    assert "1 validation error" in caught.value.detail


# -- permissions ---------------------------------------------------------------------------


def test_iam_actions_cover_the_registry() -> None:
    for operation in (
        "DescribeModelPackageGroup",
        "ListModelPackages",
        "DescribeModelPackage",
        "CreateModelPackage",
        "UpdateModelPackage",
        "DescribeTrainingJob",
    ):
        assert IAM_ACTIONS[operation] == f"sagemaker:{operation}"
    assert IAM_ACTIONS["GetObject"] == "s3:GetObject"
