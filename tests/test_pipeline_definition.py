"""Build the churn pipeline definition (ml/pipeline.py) offline and pin it down.

Building a definition with the SageMaker SDK v3 is not free of AWS calls, so the fixture
gives the SDK a PipelineSession whose botocore session answers every call locally: a
`before-call` handler that returns `(http_response, parsed)` short-circuits the request
(botocore's Stubber works the same way). A `before-parameter-build` handler records each
call with its parameters, so the tests can assert exactly what the SDK asked AWS for.

Work-arounds for what the SDK insists on, all confined to this file:

* Importing `sagemaker.mlops`/`sagemaker.serve` creates a boto3 client at import time,
  which needs a region: the module is imported only after AWS_DEFAULT_REGION is set.
* `ModelTrainer` validates the role with iam:SimulatePrincipalPolicy + iam:GetRole:
  SAGEMAKER_VALIDATE_ROLE=false (the SDK's switch) turns that off, and one test keeps it
  on and lets the fake answer the IAM calls.
* The SDK sends telemetry (sts:GetCallerIdentity and an HTTPS GET to
  sm-pysdk-t-<region>.s3.<region>.amazonaws.com, outside botocore) on background threads:
  the sender is replaced by a recorder. (The SDK's own opt-out, TelemetryOptOut in the SDK
  config file, makes every config lookup validate the whole config schema: +4 s.)
* SDK config files on the developer's machine would leak defaults (tags, KMS keys, ...)
  into the definition: SAGEMAKER_{ADMIN,USER}_CONFIG_OVERRIDE point at an empty file.
* Sockets refuse to connect, so anything that slips past botocore fails loudly.

The snapshot (tests/snapshots/churn_pipeline.json) is compared with the code hashes in
the script S3 URIs replaced by `<sha256>`: editing ml/preprocess.py or ml/evaluate.py
changes those hashes but not the pipeline. The hashes are checked separately against the
uploaded content. Regenerate the snapshot with `UPDATE_SNAPSHOTS=1 pytest tests/...`.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

REPO_ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO_ROOT / "tests" / "snapshots" / "churn_pipeline.json"

REGION = "us-east-1"
ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
BUCKET = "example-bucket"

# The processing scripts, relative to the repository root, and the name they get in S3.
SCRIPTS = {"PreprocessData": "ml/preprocess.py", "EvaluateModel": "ml/evaluate.py"}
CODE_URI = re.compile(rf"^s3://{BUCKET}/churn/code/([0-9a-f]{{64}})/")
HASH_PLACEHOLDER = "<sha256>"

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

ACCURACY = {
    "Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"},
        "Path": "binary_classification_metrics.accuracy.value",
    }
}
THRESHOLD = {"Get": "Parameters.AccuracyThreshold"}


# --------------------------------------------------------------------------- fake AWS
class FakeAws:
    """A boto3 session whose calls never leave the process.

    `calls` lists (service, operation, params) in call order; `uploads` maps the
    s3:// URI of every PutObject to its body.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.uploads: dict[str, bytes] = {}
        self._lock = threading.Lock()
        core = botocore.session.Session()
        # Clients copy the session's handlers when they are created: register first.
        core.register("before-parameter-build", self._record)
        core.register("before-call", self._answer)
        self.boto_session = boto3.Session(
            botocore_session=core,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def take_calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Return the calls recorded so far and start a new list."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    def _record(self, params, model, context, **_):
        with self._lock:
            self.calls.append((model.service_model.service_name, model.name, dict(params)))
        context["fake_aws_params"] = params

    def _answer(self, model, context, **_):
        operation = model.name
        params = context["fake_aws_params"]
        ok = AWSResponse(None, 200, {}, None)
        if operation == "ListBuckets":
            created = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
            return ok, {"Buckets": [{"Name": BUCKET, "CreationDate": created}]}
        if operation == "PutObject":
            body = params["Body"]
            data = body.read() if hasattr(body, "read") else body
            with self._lock:
                self.uploads[f"s3://{params['Bucket']}/{params['Key']}"] = bytes(data)
            return ok, {"ETag": '"fake"'}
        if operation == "HeadBucket":  # ModelTrainer's check before it stages source code
            return ok, {}
        if operation == "GetCallerIdentity":
            return ok, {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "UserId": "X"}
        if operation == "SimulatePrincipalPolicy":
            results = [
                {"EvalActionName": action, "EvalDecision": "allowed"}
                for action in params["ActionNames"]
            ]
            return ok, {"EvaluationResults": results, "IsTruncated": False}
        if operation == "GetRole":
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            role = {
                "RoleName": params["RoleName"],
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/{params['RoleName']}",
                "Path": "/",
                "RoleId": "AROAFAKE",
                "CreateDate": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                "AssumeRolePolicyDocument": json.dumps(trust),
            }
            return ok, {"Role": role}
        # Unknown calls stay in `calls` (and fail the call-list assertions).
        raise AssertionError(f"unexpected AWS call {model.service_model.service_name}.{operation}")


# ----------------------------------------------------------------------------- fixtures
@dataclass
class Offline:
    module: Any  # ml.pipeline
    network_attempts: list
    telemetry: list  # the function name of each telemetry event the SDK tried to send


@dataclass
class Build:
    pipeline: Any
    fake: FakeAws
    definition: str  # pipeline.definition()
    calls_in_get_pipeline: list
    calls_in_definition: list

    @property
    def parsed(self) -> dict:
        return json.loads(self.definition)


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    """Environment in which ml.pipeline is imported and built with no network and no AWS."""
    empty_config = tmp_path_factory.mktemp("sagemaker-config") / "config.yaml"
    empty_config.write_text("")
    network_attempts: list = []
    telemetry: list = []

    def refuse_connect(sock, address):
        network_attempts.append(address)
        raise OSError(f"network disabled in tests: connect to {address}")

    def refuse_lookup(host, *args, **kwargs):
        network_attempts.append(host)
        raise OSError(f"network disabled in tests: lookup of {host}")

    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_REGION",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
        mp.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", str(empty_config))
        mp.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(empty_config))
        mp.setattr(socket.socket, "connect", refuse_connect)
        mp.setattr(socket, "getaddrinfo", refuse_lookup)
        mp.syspath_prepend(str(REPO_ROOT))

        module = importlib.import_module("ml.pipeline")
        from sagemaker.core.telemetry import telemetry_logging

        def record_telemetry(status, features, session, *args):
            extra = args[-1] if args else ""
            telemetry.append(extra.split("&", 1)[0])

        mp.setattr(telemetry_logging, "_send_telemetry_request", record_telemetry)
        yield Offline(module, network_attempts, telemetry)


def build(offline: Offline) -> Build:
    """get_pipeline() + definition() against a fresh FakeAws."""
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    missing = [path for path in SCRIPTS.values() if not (REPO_ROOT / path).is_file()]
    if missing:
        pytest.fail(f"the pipeline needs {missing}, which do not exist", pytrace=False)
    fake = FakeAws()
    session = PipelineSession(boto_session=fake.boto_session, default_bucket=BUCKET)
    pipeline = offline.module.get_pipeline(
        region=REGION, role=ROLE, default_bucket=BUCKET, sagemaker_session=session
    )
    calls_in_get_pipeline = fake.take_calls()
    definition = pipeline.definition()
    calls_in_definition = fake.take_calls()
    assert offline.network_attempts == []
    return Build(pipeline, fake, definition, calls_in_get_pipeline, calls_in_definition)


@pytest.fixture(scope="module")
def built(offline) -> Build:
    return build(offline)


# -------------------------------------------------------------------------- helpers
def normalize_code_hashes(node):
    """Replace the code hash in script S3 URIs by a placeholder (see module docstring)."""
    if isinstance(node, dict):
        return {key: normalize_code_hashes(value) for key, value in node.items()}
    if isinstance(node, list):
        return [normalize_code_hashes(value) for value in node]
    if isinstance(node, str):
        return CODE_URI.sub(f"s3://{BUCKET}/churn/code/{HASH_PLACEHOLDER}/", node)
    return node


def steps_by_name(definition: dict) -> dict[str, dict]:
    """Every step, including those nested in condition branches, by name."""
    found = {}
    pending = list(definition["Steps"])
    while pending:
        step = pending.pop(0)
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            pending += step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
    return found


def names_and_types(steps: list[dict]) -> list[tuple[str, str]]:
    return [(step["Name"], step["Type"]) for step in steps]


def processing_inputs(step: dict) -> dict[str, dict]:
    return {item["InputName"]: item["S3Input"] for item in step["Arguments"]["ProcessingInputs"]}


def processing_outputs(step: dict) -> dict[str, dict]:
    outputs = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    return {item["OutputName"]: item["S3Output"] for item in outputs}


def expected_code_key(relative_path: str) -> str:
    """The S3 key the SDK uploads a script to: <pipeline>/code/<hash>/<file name>.

    The hash is SHA-256 over the path string as given (relative to the repository root)
    followed by the file content, so it does not depend on where the repository lives.
    """
    digest = hashlib.sha256(relative_path.encode() + (REPO_ROOT / relative_path).read_bytes())
    return f"churn/code/{digest.hexdigest()}/{Path(relative_path).name}"


# ---------------------------------------------------------------------------- tests
def test_definition_matches_snapshot(built):
    actual = normalize_code_hashes(built.parsed)
    rendered = json.dumps(actual, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(rendered)
    assert SNAPSHOT.is_file(), f"{SNAPSHOT} is missing: run with UPDATE_SNAPSHOTS=1"
    expected = json.loads(SNAPSHOT.read_text())
    assert actual == expected, "definition changed: review, then rerun with UPDATE_SNAPSHOTS=1"


def test_steps_names_types_and_nesting(built):
    definition = built.parsed
    assert names_and_types(definition["Steps"]) == [
        ("PreprocessData", "Processing"),
        ("TrainModel", "Training"),
        ("EvaluateModel", "Processing"),
        ("CheckAccuracy", "Condition"),
    ]
    check = definition["Steps"][3]["Arguments"]
    # ModelStep is a single step in SDK v3 (no "RegisterModel-RegisterModel" renaming).
    assert names_and_types(check["IfSteps"]) == [("RegisterModel", "RegisterModel")]
    assert names_and_types(check["ElseSteps"]) == [("AccuracyBelowThreshold", "Fail")]


def test_parameters_and_defaults(built):
    parameters = {p["Name"]: (p["Type"], p["DefaultValue"]) for p in built.parsed["Parameters"]}
    assert parameters == {
        "InputDataUrl": ("String", f"s3://{BUCKET}/churn/data/churn.csv"),
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "AccuracyThreshold": ("Float", 0.8),
        "MaxDepth": ("Integer", 5),
        "Eta": ("Float", 0.2),
        "NumRound": ("Integer", 100),
        "Subsample": ("Float", 0.8),
        "MinChildWeight": ("Integer", 1),
        "TrainingInstanceCount": ("Integer", 1),
    }


def test_preprocess_step(built):
    step = steps_by_name(built.parsed)["PreprocessData"]
    app = step["Arguments"]["AppSpecification"]
    assert app["ImageUri"] == SKLEARN_IMAGE
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/preprocess.py"]
    assert app["ContainerArguments"] == [
        "--input-dir",
        "/opt/ml/processing/input",
        "--output-dir",
        "/opt/ml/processing",
    ]
    inputs = processing_inputs(step)
    assert inputs["input"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert inputs["input"]["LocalPath"] == "/opt/ml/processing/input"
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    outputs = processing_outputs(step)
    assert sorted(outputs) == ["test", "train", "validation"]
    for name, output in outputs.items():
        assert output["LocalPath"] == f"/opt/ml/processing/{name}"
    resources = step["Arguments"]["ProcessingResources"]["ClusterConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert resources["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}


def test_train_step(built):
    arguments = steps_by_name(built.parsed)["TrainModel"]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"] == XGBOOST_IMAGE
    # The built-in algorithm: no entrypoint or script channel added by the SDK.
    assert "ContainerEntrypoint" not in arguments["AlgorithmSpecification"]
    channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
    assert sorted(channels) == ["train", "validation"]
    # On several instances each trains on its share of train and evaluates on all of
    # validation (ml/pipeline.py:csv_channels); on one, both give it everything.
    distribution = {"train": "ShardedByS3Key", "validation": "FullyReplicated"}
    for name, channel in channels.items():
        assert channel["ContentType"] == "text/csv"
        assert channel["InputMode"] == "File"
        source = channel["DataSource"]["S3DataSource"]
        assert source["S3DataDistributionType"] == distribution[name]
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == {
            "Get": f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        }

    def as_string(parameter):
        return {"Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{parameter}"}]}}

    assert arguments["HyperParameters"] == {
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "num_round": as_string("NumRound"),
        "max_depth": as_string("MaxDepth"),
        "eta": as_string("Eta"),
        "subsample": as_string("Subsample"),
        "min_child_weight": as_string("MinChildWeight"),
    }
    assert arguments["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/churn/models"
    assert arguments["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert arguments["ResourceConfig"]["InstanceCount"] == {
        "Get": "Parameters.TrainingInstanceCount"
    }


def test_evaluate_step_and_property_file(built):
    step = steps_by_name(built.parsed)["EvaluateModel"]
    app = step["Arguments"]["AppSpecification"]
    assert app["ImageUri"] == XGBOOST_IMAGE
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/evaluate.py"]
    assert app["ContainerArguments"] == [
        "--model-dir",
        "/opt/ml/processing/model",
        "--test-dir",
        "/opt/ml/processing/test",
        "--output-dir",
        "/opt/ml/processing/evaluation",
    ]
    inputs = processing_inputs(step)
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert inputs["test"]["S3Uri"] == {
        "Get": "Steps.PreprocessData.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    outputs = processing_outputs(step)
    assert list(outputs) == ["evaluation"]
    assert outputs["evaluation"]["LocalPath"] == "/opt/ml/processing/evaluation"
    assert step["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]


def test_condition_reads_accuracy_from_the_evaluation_report(built):
    check = steps_by_name(built.parsed)["CheckAccuracy"]["Arguments"]
    assert check["Conditions"] == [
        {"Type": "GreaterThanOrEqualTo", "LeftValue": ACCURACY, "RightValue": THRESHOLD}
    ]


def test_else_branch_fails_with_accuracy_and_threshold(built):
    fail = steps_by_name(built.parsed)["AccuracyBelowThreshold"]
    message = fail["Arguments"]["ErrorMessage"]["Std:Join"]
    assert ACCURACY in message["Values"]
    assert THRESHOLD in message["Values"]


def test_register_step(built):
    arguments = steps_by_name(built.parsed)["RegisterModel"]["Arguments"]
    assert arguments["ModelPackageGroupName"] == "churn-models"
    assert arguments["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = arguments["InferenceSpecification"]
    assert spec["Containers"] == [
        {
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"},
            # No script-mode variables for the built-in algorithm (see ml/pipeline.py).
            "Environment": {},
        }
    ]
    assert spec["SupportedContentTypes"] == ["text/csv"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large", "ml.m5.xlarge"]
    assert spec["SupportedTransformInstanceTypes"] == ["ml.m5.xlarge"]
    evaluation_uri = {
        "Get": "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    }
    assert arguments["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {"Std:Join": {"On": "/", "Values": [evaluation_uri, "evaluation.json"]}},
    }


def test_aws_calls_while_building(built, offline):
    # get_pipeline() makes no AWS call (role validation is off, see test below).
    assert built.calls_in_get_pipeline == []
    # definition() checks the bucket exists, then uploads the two scripts.
    calls = [(service, operation) for service, operation, _ in built.calls_in_definition]
    assert calls == [("s3", "ListBuckets"), ("s3", "PutObject"), ("s3", "PutObject")]
    put_objects = [params for _, _, params in built.calls_in_definition[1:]]
    assert [(p["Bucket"], p["Key"]) for p in put_objects] == [
        (BUCKET, expected_code_key(SCRIPTS["PreprocessData"])),
        (BUCKET, expected_code_key(SCRIPTS["EvaluateModel"])),
    ]
    # What was uploaded is the scripts' content, under the URIs the steps read code from.
    assert built.fake.uploads == {
        f"s3://{BUCKET}/{expected_code_key(path)}": (REPO_ROOT / path).read_bytes()
        for path in SCRIPTS.values()
    }
    steps = steps_by_name(built.parsed)
    for step_name, path in SCRIPTS.items():
        code_uri = processing_inputs(steps[step_name])["code"]["S3Uri"]
        assert code_uri == f"s3://{BUCKET}/{expected_code_key(path)}"
    # Nothing tried to reach the network outside botocore; telemetry (recorded instead
    # of sent) is emitted by the SDK entry points called in get_pipeline().
    assert offline.network_attempts == []
    assert set(offline.telemetry) == {
        "ScriptProcessor.run",
        "model_trainer.train",
        "model_builder.register",
    }


def test_definition_is_stable(built, offline, tmp_path, monkeypatch):
    # The same pipeline twice: identical, and the bucket check is cached by the session.
    assert built.pipeline.definition() == built.definition
    assert [op for _, op, _ in built.fake.take_calls()] == ["PutObject", "PutObject"]
    # A fresh build from another working directory: byte-for-byte identical.
    monkeypatch.chdir(tmp_path)
    again = build(offline)
    assert again.definition == built.definition
    assert Path.cwd() == tmp_path  # definition() restores the working directory
    # No timestamps (job names, code prefixes) in the definition; the code hashes are
    # left out as hex digits could pass for one.
    text = json.dumps(normalize_code_hashes(built.parsed))
    assert not re.search(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}|\d{14}", text)
    assert "ProcessingJobName" not in built.definition
    assert "TrainingJobName" not in built.definition


def test_role_validation_calls_when_enabled(built, offline, monkeypatch):
    """Without SAGEMAKER_VALIDATE_ROLE=false, ModelTrainer() checks the role with IAM.

    A real build therefore needs iam:SimulatePrincipalPolicy and iam:GetRole (the SDK
    only warns when they are denied); the definition does not change.
    """
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE")
    checked = build(offline)
    calls = [(service, operation) for service, operation, _ in checked.calls_in_get_pipeline]
    assert calls == [("iam", "SimulatePrincipalPolicy"), ("iam", "GetRole")]
    simulate, get_role = (params for _, _, params in checked.calls_in_get_pipeline)
    assert simulate["PolicySourceArn"] == ROLE
    assert get_role["RoleName"] == "SageMakerExecution"
    assert checked.definition == built.definition


# ------------------------------------------------------------- step caching across commits
def build_commit(offline: Offline, root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The definition as a checkout at `root` (its ml/ scripts) builds it."""
    monkeypatch.setattr(offline.module, "REPO_ROOT", root)
    return build(offline).parsed


def changed_cache_keys(before: dict, after: dict) -> set[str]:
    """The steps whose cache key (tests/aws_contract.py, CACHE_KEY_ATTRIBUTES) differs."""
    from tests.aws_contract import cache_key

    old, new = steps_by_name(before), steps_by_name(after)
    assert old.keys() == new.keys()
    return {
        name
        for name, step in new.items()
        if cache_key(step["Type"], step["Arguments"])
        != cache_key(old[name]["Type"], old[name]["Arguments"])
    }


@pytest.mark.parametrize(
    ("script", "rerun"),
    [("ml/evaluate.py", "EvaluateModel"), ("ml/preprocess.py", "PreprocessData")],
)
def test_a_changed_script_changes_only_its_steps_cache_key(
    offline, tmp_path, monkeypatch, script, rerun
):
    """Two commits that differ in one script: in the definitions, only the step that runs it
    has another cache key; every other step is the same byte for byte, so SageMaker reuses
    their earlier runs. (The steps after a rerun PreprocessData Get its outputs: their
    arguments are unchanged here, and they rerun only because that run writes new output URIs,
    which the AWS double shows: tests/test_step_caching.py.)"""
    for path in SCRIPTS.values():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes((REPO_ROOT / path).read_bytes())
    before = build_commit(offline, tmp_path, monkeypatch)
    with (tmp_path / script).open("a") as edited:
        edited.write("\n# a review-sized change\n")
    after = build_commit(offline, tmp_path, monkeypatch)

    assert changed_cache_keys(before, after) == {rerun}
    old, new = steps_by_name(before), steps_by_name(after)
    for name in set(new) - {rerun}:
        assert json.dumps(new[name], sort_keys=True) == json.dumps(old[name], sort_keys=True)
    # What changed is the script's S3 URI (a hash of its content) and nothing else.
    differing = [
        (before_input, after_input)
        for before_input, after_input in zip(
            old[rerun]["Arguments"]["ProcessingInputs"],
            new[rerun]["Arguments"]["ProcessingInputs"],
            strict=True,
        )
        if before_input != after_input
    ]
    assert [(b["InputName"], a["InputName"]) for b, a in differing] == [("code", "code")]
    assert {k: v for k, v in new[rerun].items() if k != "Arguments"} == {
        k: v for k, v in old[rerun].items() if k != "Arguments"
    }
    # Caching is on for the job steps, with the same ExpireAfter, and off for nothing else.
    cached = {name: step.get("CacheConfig") for name, step in new.items() if "CacheConfig" in step}
    assert cached == {
        name: {"Enabled": True, "ExpireAfter": "P30D"}
        for name in ("PreprocessData", "TrainModel", "EvaluateModel")
    }
