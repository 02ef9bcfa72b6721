"""build-pipeline: the stage's logic, its bad-input contract, and real runs on both backends."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha import definition as defn
from smgha.backends import ExecutionRecord, SelectiveExecution, StepRecord
from smgha.backends.local import LocalBackend
from smgha.resources import pipelines
from smgha.runner import Runner
from smgha.stages import build_pipeline
from smgha.stages.build_pipeline import BuildResult, Inputs, failure, report, run
from tests.stage_helpers import GITHUB_CONTEXT, run_main

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/pipeline-role"

# A small but complete definition: one processing step and a condition on its output.
JSON_DEFINITION: dict[str, Any] = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
        {"Name": "Rounds", "Type": "Integer", "DefaultValue": 3},
    ],
    "Steps": [
        {
            "Name": "Score",
            "Type": "Processing",
            "Arguments": {
                "AppSpecification": {
                    "ImageUri": "python:3",
                    "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/score.py"],
                },
                "ProcessingInputs": [
                    {
                        "InputName": "code",
                        "S3Input": {
                            "S3Uri": "s3://smgha-local/code/score.py",
                            "LocalPath": "/opt/ml/processing/input/code",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    }
                ],
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "report",
                            "S3Output": {
                                "S3Uri": "s3://smgha-local/out",
                                "LocalPath": "/opt/ml/processing/report",
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                    ]
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 30,
                    }
                },
                "RoleArn": ROLE,
            },
            "PropertyFiles": [
                {"PropertyFileName": "Report", "OutputName": "report", "FilePath": "report.json"}
            ],
        },
        {
            "Name": "Check",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [
                    {
                        "Type": "GreaterThanOrEqualTo",
                        "LeftValue": {
                            "Std:JsonGet": {
                                "PropertyFile": {"Get": "Steps.Score.PropertyFiles.Report"},
                                "Path": "score",
                            }
                        },
                        "RightValue": {"Get": "Parameters.Threshold"},
                    }
                ],
                "IfSteps": [],
                "ElseSteps": [],
            },
        },
    ],
}


@pytest.fixture
def json_definition(tmp_path: Path) -> Path:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(JSON_DEFINITION))
    return path


# ---- bad input: one error naming the input, exit 1, nothing created in AWS ---------------


def _moto_is_untouched() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in s3.list_buckets()["Buckets"]:
        assert s3.list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0


def _sagemaker_inputs(definition_source: str, **overrides: str) -> dict[str, str]:
    inputs = {
        "backend": "sagemaker",
        "definition": definition_source,
        "pipeline-name": "churn",
        "role-arn": ROLE,
        "region": REGION,
        "default-bucket": "example-bucket",
        "wait": "false",
    }
    inputs.update(overrides)
    return inputs


BAD_INPUTS = [
    ("backend", {"backend": "lambda"}, "is not one of sagemaker, local"),
    ("role-arn", {"role-arn": ""}, "is required with backend: sagemaker"),
    ("role-arn", {"role-arn": "pipeline-role"}, "is not an IAM role ARN"),
    ("parameters", {"parameters": "{Threshold: [0.5"}, "is not valid JSON or YAML"),
    ("parameters", {"parameters": "[1, 2]"}, "must be a mapping"),
    ("parameters", {"parameters": '{"Treshold": 0.9}'}, "declares no parameter 'Treshold'"),
    ("parameters", {"parameters": '{"Rounds": "many"}'}, "is Integer but was given 'many'"),
    ("timeout-minutes", {"timeout-minutes": "0"}, "must be a positive number"),
    ("timeout-minutes", {"timeout-minutes": "-5"}, "must be a positive number"),
    ("timeout-minutes", {"timeout-minutes": "soon"}, "must be a positive number"),
    ("wait", {"wait": "yes"}, "YAML 1.2"),
    ("pipeline-name", {"pipeline-name": "churn_pipeline!"}, "is not a valid pipeline name"),
    ("default-bucket", {"default-bucket": "s3://example-bucket"}, "is not an S3 bucket name"),
    ("default-bucket", {"default-bucket": "Example_Bucket"}, "is not an S3 bucket name"),
    (
        "execution-arn",
        {"execution-arn": "arn:aws:sagemaker:us-east-1:1:pipeline/x"},
        "is not a pipeline execution ARN",
    ),
    ("definition", {"definition": "no_such_module:get_pipeline"}, "does not import"),
    ("definition", {"definition": "ml.pipeline:no_such_function"}, "has no function"),
    ("definition", {"definition": "missing.json"}, "is neither a JSON file"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "problem"),
    BAD_INPUTS,
    ids=[f"{n}:{list(o.values())[0]}" for n, o, _ in BAD_INPUTS],
)
def test_bad_input_is_one_error_naming_the_input_and_changes_nothing(
    aws_env: None, json_definition: Path, name: str, overrides: dict[str, str], problem: str
) -> None:
    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs(str(json_definition), **overrides),
        **GITHUB_CONTEXT,
        GITHUB_WORKSPACE=str(json_definition.parent),
    )

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0]
    assert problem in result.errors[0]
    assert result.errors[0].startswith("::error title=build-pipeline%3A invalid input::")
    _moto_is_untouched()


def test_a_wiring_mistake_fails_before_any_call(aws_env: None, tmp_path: Path) -> None:
    broken = json.loads(json.dumps(JSON_DEFINITION))
    broken["Steps"][1]["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]["PropertyFile"] = {
        "Get": "Steps.Scor.PropertyFiles.Report"
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))

    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs(str(path)),
        **GITHUB_CONTEXT,
        GITHUB_WORKSPACE=str(tmp_path),
    )

    assert result.code == 1
    assert "there is no step 'Scor'" in result.errors[0]
    _moto_is_untouched()


def test_an_sdk_definition_with_an_undeclared_parameter_uploads_no_code(aws_env: None) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="example-bucket")

    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs("ml.pipeline:get_pipeline", parameters="MaxDepht: 6"),
        **GITHUB_CONTEXT,
    )

    assert result.code == 1
    assert "declares no parameter 'MaxDepht'" in result.errors[0]
    _moto_is_untouched()  # the SDK's script uploads were captured, never sent


def test_an_sdk_definition_without_default_bucket_is_refused_before_any_call(
    aws_env: None,
) -> None:
    # No default-bucket: the SDK's sagemaker-<region>-<account> was never created and the
    # Terraform roles do not allow it, so the upload would end in NoSuchBucket/AccessDenied.
    inputs = _sagemaker_inputs("ml.pipeline:get_pipeline")
    del inputs["default-bucket"]

    result = run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'default-bucket'" in result.errors[0]
    assert "is required with backend: sagemaker" in result.errors[0]
    assert "terraform output -raw artifact_bucket_name" in result.errors[0]
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    _moto_is_untouched()


def test_a_default_bucket_that_does_not_exist_is_named_and_nothing_is_created(
    aws_env: None,
) -> None:
    inputs = _sagemaker_inputs("ml.pipeline:get_pipeline", **{"default-bucket": "no-such-bucket"})

    result = run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'default-bucket'" in result.errors[0]
    assert "'no-such-bucket' does not exist" in result.errors[0]
    assert "terraform output -raw artifact_bucket_name" in result.errors[0]
    _moto_is_untouched()


# A definition function that ignores default-bucket and gives the SDK a bucket of its own:
# the SDK's default name (the SDK looks the account up at STS's public endpoint, which
# moto does not answer, so the function names it). Its own boto3 session, as the SDK makes
# one in a fresh process (this test process may hold boto3's default session already).
UPLOADS_TO_THE_SDK_BUCKET = """
import boto3
from sagemaker.core.helper.session_helper import Session


def get_pipeline(region):
    boto_session = boto3.Session(region_name=region)
    session = Session(boto_session, default_bucket="sagemaker-us-east-1-123456789012")
    session.upload_string_as_file_body("print(1)", session.default_bucket(), "code/score.py")
    return {definition!r}
"""


def test_a_definition_uploading_outside_default_bucket_is_refused_before_any_call(
    aws_env: None, tmp_path: Path
) -> None:
    # The SDK's bucket check (ListBuckets, HeadBucket, CreateBucket) is answered locally
    # while a definition is built, so its default bucket looks ready but is never created.
    (tmp_path / "sdk_bucket_definition.py").write_text(
        UPLOADS_TO_THE_SDK_BUCKET.format(definition=JSON_DEFINITION)
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="example-bucket")

    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs("sdk_bucket_definition:get_pipeline"),
        GITHUB_WORKSPACE=str(tmp_path),
        **GITHUB_CONTEXT,
    )

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'definition'" in result.errors[0]
    assert "s3://sagemaker-us-east-1-123456789012/code/score.py" in result.errors[0]
    assert "default-bucket 'example-bucket'" in result.errors[0]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["example-bucket"]
    _moto_is_untouched()


def _put_the_definitions_code_in_moto() -> None:
    """JSON_DEFINITION's code object, as `smgha definition write` would have uploaded it."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="smgha-local")
    s3.put_object(Bucket="smgha-local", Key="code/score.py", Body=b"print('score')\n")


def test_a_definition_file_whose_code_does_not_exist_is_refused_naming_it(
    aws_env: None, json_definition: Path
) -> None:
    # Its code URI points at an object nobody uploaded (the SDK build that wrote it ran
    # elsewhere): refused before any write, naming the object and how to write such a file.
    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs(str(json_definition)),
        **GITHUB_CONTEXT,
        GITHUB_WORKSPACE=str(json_definition.parent),
    )

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'definition'" in result.errors[0]
    assert "code object(s) s3://smgha-local/code/score.py do not exist" in result.errors[0]
    assert "smgha definition write" in result.errors[0]
    _moto_is_untouched()


def test_the_code_of_a_definition_is_its_code_inputs_and_submit_directory() -> None:
    definition = json.loads(json.dumps(JSON_DEFINITION))
    definition["Steps"].append(
        {
            "Name": "Train",
            "Type": "Training",
            "Arguments": {
                "HyperParameters": {"sagemaker_submit_directory": '"s3://b/train/src.tar.gz"'}
            },
        }
    )
    # Data inputs, and code read from a parameter, are not code objects known before the run.
    definition["Steps"][0]["Arguments"]["ProcessingInputs"].append(
        {"InputName": "input", "S3Input": {"S3Uri": "s3://b/data.csv"}}
    )

    assert defn.code_uris(definition) == [
        "s3://b/train/src.tar.gz",
        "s3://smgha-local/code/score.py",
    ]


def test_a_json_definition_needs_no_default_bucket(aws_env: None, json_definition: Path) -> None:
    # A definition file is used as it is: nothing is uploaded, no bucket is named.
    _put_the_definitions_code_in_moto()
    inputs = _sagemaker_inputs(str(json_definition))
    del inputs["default-bucket"]

    result = run_main(
        build_pipeline.main,
        inputs,
        **GITHUB_CONTEXT,
        GITHUB_WORKSPACE=str(json_definition.parent),
    )

    assert result.code == 0, result.log
    assert result.outputs["status"] == "Executing"


@pytest.mark.parametrize(
    ("overrides", "bucket"),
    [
        ({"backend": "local", "role-arn": ""}, "smgha-local"),
        # Resuming builds nothing, so nothing is uploaded.
        (
            {
                "execution-arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/e1"
            },
            "",
        ),
        ({"default-bucket": "my-artifacts"}, "my-artifacts"),
    ],
)
def test_the_default_bucket_input(overrides: dict[str, str], bucket: str) -> None:
    inputs = _sagemaker_inputs("ml.pipeline:get_pipeline", **overrides)
    if "default-bucket" not in overrides:
        del inputs["default-bucket"]
    env = {f"INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()}

    loaded = build_pipeline.load_inputs(Runner(env=env, stdout=io.StringIO()))

    assert loaded.default_bucket == bucket


# ---- the sagemaker backend against a moto server -----------------------------------------


def test_sagemaker_build_uploads_code_upserts_with_provenance_tags_and_starts(
    aws_env: None,
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="example-bucket")
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs("ml.pipeline:get_pipeline", parameters="AccuracyThreshold: 0.85"),
        **GITHUB_CONTEXT,
    )

    assert result.code == 0, result.log
    assert result.outputs["status"] == "Executing"
    described = sagemaker.describe_pipeline(PipelineName="churn")
    definition = json.loads(described["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == [
        "PreprocessData",
        "TrainModel",
        "EvaluateModel",
        "CheckAccuracy",
    ]
    # The code the definition points at is in S3, byte for byte the repository's scripts.
    code_uri = definition["Steps"][0]["Arguments"]["ProcessingInputs"][1]["S3Input"]["S3Uri"]
    bucket, key = code_uri.removeprefix("s3://").split("/", 1)
    assert (
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        == Path("ml/preprocess.py").read_bytes()
    )
    tags = {
        t["Key"]: t["Value"]
        for t in sagemaker.list_tags(ResourceArn=described["PipelineArn"])["Tags"]
    }
    assert tags["smgha:git-sha"] == GITHUB_CONTEXT["GITHUB_SHA"]
    assert tags["smgha:run-url"] == "https://github.com/acme/churn/actions/runs/4242/attempts/1"
    executions = sagemaker.list_pipeline_executions(PipelineName="churn")[
        "PipelineExecutionSummaries"
    ]
    assert [e["PipelineExecutionArn"] for e in executions] == [result.outputs["execution-arn"]]
    parameters = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=result.outputs["execution-arn"]
    )
    assert {"Name": "AccuracyThreshold", "Value": "0.85"} in parameters["PipelineParameters"]


def test_sagemaker_dry_run_changes_nothing_and_prints_the_diff(
    aws_env: None, json_definition: Path
) -> None:
    _put_the_definitions_code_in_moto()
    workspace = {**GITHUB_CONTEXT, "GITHUB_WORKSPACE": str(json_definition.parent)}
    deployed = run_main(build_pipeline.main, _sagemaker_inputs(str(json_definition)), **workspace)
    assert deployed.code == 0
    changed = json.loads(json.dumps(JSON_DEFINITION))
    changed["Parameters"][0]["DefaultValue"] = 0.75
    json_definition.write_text(json.dumps(changed))
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    before = sagemaker.describe_pipeline(PipelineName="churn")

    result = run_main(
        build_pipeline.main,
        _sagemaker_inputs(str(json_definition), **{"dry-run": "true"}),
        **workspace,
    )

    assert result.code == 0
    assert result.outputs["status"] == "DryRun"
    assert '-      "DefaultValue": 0.5,' in result.log
    assert '+      "DefaultValue": 0.75,' in result.log
    assert "Dry run" in result.summary
    after = sagemaker.describe_pipeline(PipelineName="churn")
    assert after["PipelineDefinition"] == before["PipelineDefinition"]
    assert (
        len(sagemaker.list_pipeline_executions(PipelineName="churn")["PipelineExecutionSummaries"])
        == 1
    )


def test_dry_run_diff_containing_a_fence_stays_inside_its_code_block(tmp_path: Path) -> None:
    diff = '-      "Doc": "```py"\n+      "Doc": "````"'
    runner = Runner(env={}, stdout=io.StringIO())
    result = BuildResult(status="DryRun", definition_diff=diff)

    report(_inputs(tmp_path / "definition.json", dry_run=True), result, runner)

    assert runner.summary_text.endswith(
        f"<details><summary>Definition diff</summary>\n\n`````diff\n{diff}\n`````\n\n</details>\n\n"
    )


# ---- waiting, timeouts and failures: run() with a scripted backend --------------------------


class ScriptedBackend:
    """A backend's pipelines and objects areas in one (run() uses no other), whose execution
    walks through given (status, steps) snapshots."""

    poll_seconds = 10.0

    def __init__(self, snapshots: list[tuple[str, list[StepRecord]]], reason: str = "") -> None:
        self.snapshots = snapshots
        self.reason = reason
        self.polls = 0
        self.started: list[tuple[str, dict[str, str], str]] = []
        self.prepared = 0

    def put_object(self, uri: str, body: bytes) -> None:
        raise AssertionError("a JSON definition uploads nothing")

    # The objects in its S3: the JSON definition's code is there.
    stored = frozenset({"s3://smgha-local/code/score.py"})

    def missing_objects(self, uris: list[str]) -> list[str]:
        return [uri for uri in uris if uri not in self.stored]

    def read_object(self, uri: str) -> bytes:
        raise AssertionError("run() reads no object")

    def list_objects(self, prefix: str) -> list[str]:
        raise AssertionError(f"build-pipeline lists no objects ({prefix})")

    def read_json(self, uri: str) -> Any:
        raise AssertionError("run() reads no object")

    def prepare_to_run(self) -> None:
        self.prepared += 1

    def get_pipeline_definition(self, name: str) -> dict[str, Any] | None:
        return JSON_DEFINITION

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        return f"arn:aws:sagemaker:{REGION}:1:pipeline/{name}", False

    def start_execution(
        self,
        name: str,
        parameters: dict[str, str],
        token: str,
        selective: SelectiveExecution | None = None,
    ) -> str:
        assert selective is None, "these runs start every step"
        self.started.append((name, parameters, token))
        return f"arn:aws:sagemaker:{REGION}:1:pipeline/{name}/execution/e1"

    def latest_execution(self, name: str, status: str) -> str:
        raise AssertionError("only a selective execution looks for a source execution")

    def _snapshot(self) -> tuple[str, list[StepRecord]]:
        """The snapshot of the current poll (describe_execution starts a poll)."""
        return self.snapshots[min(self.polls - 1, len(self.snapshots) - 1)]

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        self.polls += 1
        status, _ = self._snapshot()
        return ExecutionRecord(
            arn=execution_arn,
            status=status,
            failure_reason=self.reason if status == "Failed" else "",
        )

    def list_steps(self, execution_arn: str) -> list[StepRecord]:
        return self._snapshot()[1]

    def read_property_file(
        self, execution_arn: str, step_name: str, output_name: str, file_path: str
    ) -> Any:
        return {"score": 0.9, "read": [step_name, output_name, file_path]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _step(name: str, status: str, seconds: int | None = None, **extra: Any) -> StepRecord:
    ended = T0 + dt.timedelta(seconds=seconds) if seconds is not None else None
    return StepRecord(name=name, status=status, started=T0, ended=ended, **extra)


def _inputs(json_definition: Path, **overrides: Any) -> Inputs:
    values: dict[str, Any] = dict(
        backend="sagemaker", definition=str(json_definition), pipeline_name="churn", role_arn=ROLE,
        region=REGION, default_bucket="", parameters={}, wait=True, timeout_seconds=3600.0,
        execution_arn="", metrics_property_file="", dry_run=False, workspace=json_definition.parent,
        tags={}, run_identity="acme/churn|4242|1|build",
    )  # fmt: skip
    values.update(overrides)
    return Inputs(**values)


def test_waits_logging_each_step_change_and_reads_metrics_and_package(
    json_definition: Path,
) -> None:
    registered = {
        "RegisterModel": {"Arn": "arn:aws:sagemaker:us-east-1:1:model-package/churn-models/3"}
    }
    backend = ScriptedBackend([
        ("Executing", [_step("Score", "Executing")]),
        ("Executing", [_step("Score", "Succeeded", 42)]),
        ("Succeeded", [_step("Score", "Succeeded", 42), _step("RegisterModel-RegisterModel", "Succeeded", 1, metadata=registered)]),
    ])  # fmt: skip
    clock = FakeClock()
    lines: list[str] = []

    result = run(_inputs(json_definition), backend, backend, lines.append, clock.sleep, clock)

    assert result.status == "Succeeded" and not result.timed_out
    assert result.model_package_arn.endswith("model-package/churn-models/3")
    assert result.metrics["read"] == ["Score", "report", "report.json"]
    assert [line.split("] ", 1)[1] for line in lines if line.startswith("[")] == [
        "Score: Executing",
        "Score: Succeeded in 42s",
        "RegisterModel-RegisterModel: Succeeded in 1s",
    ]
    assert clock.sleeps == [10.0, 10.0]


def test_a_timeout_reports_still_running_and_a_later_job_resumes(json_definition: Path) -> None:
    backend = ScriptedBackend([("Executing", [_step("Score", "Executing")])])
    clock = FakeClock()

    result = run(
        _inputs(json_definition, timeout_seconds=25.0),
        backend,
        backend,
        lambda _: None,
        clock.sleep,
        clock,
    )

    assert result.status == "Executing" and result.timed_out
    assert backend.prepared == 1  # the backend got ready while the definition built
    assert clock.sleeps == [10.0, 10.0, 5.0]  # never sleeps past the deadline
    assert failure(result) is None  # still running is not a failure

    resumed_backend = ScriptedBackend([("Succeeded", [_step("Score", "Succeeded", 5)])])
    resumed = run(
        _inputs(json_definition, execution_arn=result.execution_arn),
        resumed_backend,
        resumed_backend,
        lambda _: None,
        clock.sleep,
        clock,
    )
    assert resumed.status == "Succeeded"
    assert resumed_backend.started == []  # resuming starts nothing
    assert resumed_backend.prepared == 0


@pytest.mark.parametrize("poll", [10.0, 20.0, 45.0])  # local, SageMaker, longer than 30 s
def test_a_long_quiet_wait_prints_progress_at_least_every_30_seconds(
    json_definition: Path, poll: float
) -> None:
    backend = ScriptedBackend([("Executing", [_step("TrainModel", "Executing")])])
    backend.poll_seconds = poll
    clock, lines = FakeClock(), []

    run(
        _inputs(json_definition, timeout_seconds=100.0),
        backend,
        backend,
        lambda line: lines.append((clock.now, line)),
        clock.sleep,
        clock,
    )

    waiting = [(t, line) for t, line in lines if line.startswith("waiting for execution ")]
    assert [t for t, _ in waiting] == [30.0, 60.0, 90.0]
    assert waiting[0][1].endswith(": Executing, running: TrainModel (30s elapsed)")
    assert waiting[2][1].endswith("(1m30s elapsed)")


def test_a_failed_execution_names_the_failed_step_and_its_reason(json_definition: Path) -> None:
    backend = ScriptedBackend(
        [
            (
                "Failed",
                [
                    _step("Score", "Succeeded", 3),
                    _step(
                        "TrainModel",
                        "Failed",
                        9,
                        failure_reason="ClientError: No S3 objects found under S3 URL",
                    ),
                ],
            )
        ],
        reason="Step failure: One or multiple steps failed.",
    )
    clock = FakeClock()

    result = run(_inputs(json_definition), backend, backend, lambda _: None, clock.sleep, clock)
    error = failure(result)

    assert error is not None
    assert error.title == "pipeline step TrainModel failed"
    assert error.detail == "ClientError: No S3 objects found under S3 URL"
    assert result.metrics is None


def test_the_start_token_is_stable_per_attempt_and_changes_with_the_attempt(
    json_definition: Path,
) -> None:
    inputs = _inputs(json_definition)
    first = pipelines.start_token(inputs.run_identity, inputs.pipeline_name, {"A": "1"})
    assert first == pipelines.start_token(inputs.run_identity, inputs.pipeline_name, {"A": "1"})
    assert 32 <= len(first) <= 128
    retried = _inputs(json_definition, run_identity="acme/churn|4242|2|build")
    assert first != pipelines.start_token(retried.run_identity, retried.pipeline_name, {"A": "1"})
    assert first != pipelines.start_token(inputs.run_identity, inputs.pipeline_name, {"A": "2"})


# ---- the local backend: real training, real metrics ---------------------------------------


@pytest.fixture
def local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes) -> LocalBackend:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    backend.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    return backend


def _local_inputs(**overrides: str) -> dict[str, str]:
    inputs = {
        "backend": "local",
        "definition": "ml.pipeline:get_pipeline",
        "pipeline-name": "churn-demo",
    }
    inputs.update(overrides)
    return inputs


@pytest.mark.slow
def test_local_build_trains_evaluates_and_registers_a_model_that_passes(
    local_state: LocalBackend,
) -> None:
    # Stop waiting almost at once: the execution goes on and a second call resumes it.
    started = run_main(
        build_pipeline.main, _local_inputs(**{"timeout-minutes": "0.001"}), **GITHUB_CONTEXT
    )
    assert started.code == 0, started.log
    assert started.outputs["status"] == "Executing"
    assert (
        "still running" in started.warnings[0]
        and "Resume waiting with execution-arn" in started.warnings[0]
    )
    again = run_main(build_pipeline.main, _local_inputs(wait="false"), **GITHUB_CONTEXT)
    assert (
        again.outputs["execution-arn"] == started.outputs["execution-arn"]
    )  # same attempt: same execution

    result = run_main(
        build_pipeline.main,
        _local_inputs(**{"execution-arn": started.outputs["execution-arn"]}),
        **GITHUB_CONTEXT,
    )

    assert result.code == 0, result.log
    assert result.outputs["status"] == "Succeeded"
    metrics = json.loads(result.outputs["metrics"])["binary_classification_metrics"]
    assert 0.8 <= metrics["accuracy"]["value"] < 1.0
    assert 0.85 <= metrics["auc"]["value"] < 1.0
    packages = local_state.registry.list_model_packages("churn-models")
    assert [p["ModelPackageArn"] for p in packages] == [result.outputs["model-package-arn"]]
    package = packages[0]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    model_uri = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert local_state.objects.path(model_uri).stat().st_size > 1000  # a real model.tar.gz
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert json.loads(local_state.objects.path(statistics).read_text()) == json.loads(
        result.outputs["metrics"]
    )
    tags = json.loads(
        (local_state.root / "pipelines" / "churn-demo" / "pipeline.json").read_text()
    )["Tags"]
    assert tags["smgha:git-sha"] == GITHUB_CONTEXT["GITHUB_SHA"]
    assert "| TrainModel | ✅ Succeeded |" in result.summary
    assert "| accuracy |" in result.summary
    # Time and cost per step: the processing steps beside the training one, and a total.
    assert "#### Time and cost per step" in result.summary
    for row in ("| PreprocessData | 1 × ml.m5.xlarge |", "| TrainModel | 1 × ml.m5.xlarge |",
                "| EvaluateModel | 1 × ml.m5.xlarge |", "| **Total** |"):  # fmt: skip
        assert row in result.summary, result.summary


@pytest.mark.slow
def test_local_build_does_not_register_a_model_below_the_threshold(
    local_state: LocalBackend,
) -> None:
    result = run_main(
        build_pipeline.main,
        _local_inputs(parameters='{"AccuracyThreshold": 0.99}'),
        **GITHUB_CONTEXT,
    )

    assert result.code == 1
    assert result.outputs["status"] == "Failed"
    assert result.outputs["model-package-arn"] == ""
    assert len(result.errors) == 1
    assert result.errors[0].startswith(
        "::error title=build-pipeline%3A pipeline step AccuracyBelowThreshold failed::Model accuracy 0."
    )
    assert result.errors[0].endswith("is below the threshold 0.99")
    assert local_state.registry.list_model_packages("churn-models") == []
    assert "outcome: False" in result.summary


@pytest.mark.slow
def test_local_dry_run_builds_but_creates_and_uploads_nothing(local_state: LocalBackend) -> None:
    result = run_main(build_pipeline.main, _local_inputs(**{"dry-run": "true"}))

    assert result.code == 0
    printed = result.log.split("::group::Pipeline definition\n", 1)[1].split("::endgroup::")[0]
    assert [s["Name"] for s in json.loads(printed)["Steps"]][:2] == ["PreprocessData", "TrainModel"]
    assert "+++ churn-demo (this build)" in result.log
    assert not (local_state.root / "pipelines").exists()
    assert [p.name for p in (local_state.root / "s3").rglob("*") if p.is_file()] == ["churn.csv"]
