"""Incremental builds on SageMaker, shown on the AWS double (tests/e2e/aws_double.py): step
caching across commits, and selective execution (from-step), through the AWS adapter
(smgha/backends/aws/pipelines.py) with every request held to tests/aws_contract.py.

The definitions are the reference pipeline's (tests/snapshots/churn_pipeline.json, built
from ml/pipeline.py); a "commit" is that definition with the scripts' content hashes of that
commit in their S3 URIs, which is all a one-script change changes
(tests/test_pipeline_definition.py, test_a_changed_script_changes_only_its_steps_cache_key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from smgha.backends import SelectiveExecution, StepRecord
from smgha.backends.aws.client import AwsClients
from smgha.backends.aws.pipelines import SageMakerPipelines
from smgha.definition import code_uris
from smgha.resources import pipelines
from smgha.stages import build_pipeline
from tests.e2e.aws_double import Double
from tests.stage_helpers import StageRun, run_main
from tests.test_aws_contract import double  # noqa: F401 (the fixture)

SNAPSHOT = Path(__file__).parent / "snapshots" / "churn_pipeline.json"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
JOB_STEPS = ("PreprocessData", "TrainModel", "EvaluateModel")
OTHER = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/other/execution/abc123"
OTHER_OF_CHURN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/nosuch1"


def commit(preprocess: str, evaluate: str) -> dict[str, Any]:
    """The reference definition as a commit whose scripts hash to `preprocess`/`evaluate`."""
    text = SNAPSHOT.read_text()
    text = text.replace("<sha256>/preprocess.py", f"{preprocess * 64}/preprocess.py")
    text = text.replace("<sha256>/evaluate.py", f"{evaluate * 64}/evaluate.py")
    return json.loads(text)


@pytest.fixture
def api(double: tuple[str, Double], monkeypatch: pytest.MonkeyPatch) -> SageMakerPipelines:  # noqa: F811
    url, instance = double
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    instance.s3.create_bucket(Bucket="example-bucket")
    instance.sagemaker.create_model_package_group(ModelPackageGroupName="churn-models")
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return SageMakerPipelines(AwsClients("us-east-1", session))


def run(
    api: SageMakerPipelines,
    definition: dict[str, Any],
    token: str,
    selective: SelectiveExecution | None = None,
) -> tuple[str, dict[str, StepRecord]]:
    api.upsert_pipeline("churn", definition, ROLE, {})
    arn = api.start_execution("churn", {}, token * 32, selective)
    assert api.describe_execution(arn).status == "Succeeded"
    return arn, {step.name: step for step in api.list_steps(arn)}


def hits(steps: dict[str, StepRecord]) -> dict[str, str]:
    return {name: step.cache_hit_from for name, step in steps.items() if step.cache_hit_from}


def test_a_one_script_commit_reruns_only_its_step_and_the_steps_after_it(
    api: SageMakerPipelines,
    double: tuple[str, Double],  # noqa: F811
) -> None:
    first, steps = run(api, commit("a", "a"), "1")
    assert hits(steps) == {} and set(JOB_STEPS) <= set(steps)

    # The same commit again: every job step is a cache hit from the first execution.
    _, steps = run(api, commit("a", "a"), "2")
    assert hits(steps) == dict.fromkeys(JOB_STEPS, first)
    # A hit reports the job that ran: the first execution's.
    assert (
        steps["TrainModel"]
        .metadata["TrainingJob"]["Arn"]
        .endswith(f"pipelines-{first.rsplit('/', 1)[-1]}-TrainModel")
    )
    assert {steps["CheckAccuracy"].status, steps["RegisterModel"].status} == {"Succeeded"}

    # evaluate.py changed: only EvaluateModel runs again.
    evaluated, steps = run(api, commit("a", "b"), "3")
    assert hits(steps) == {"PreprocessData": first, "TrainModel": first}

    # preprocess.py changed: PreprocessData runs, and so does every step that reads its new
    # outputs (their input URIs hold the new execution's id).
    _, steps = run(api, commit("b", "b"), "4")
    assert hits(steps) == {}

    # Back to an earlier commit: its runs are still within ExpireAfter (P30D)...
    _, steps = run(api, commit("a", "b"), "5")
    assert hits(steps) == {"PreprocessData": first, "TrainModel": first, "EvaluateModel": evaluated}
    # ...and after 30 days they are not.
    _, instance = double
    later = instance.clock() + 30 * 86400 + 60
    instance.clock = lambda: later
    _, steps = run(api, commit("a", "b"), "6")
    assert hits(steps) == {}


def test_caching_is_scoped_to_its_pipeline_and_off_when_disabled(
    api: SageMakerPipelines,
) -> None:
    run(api, commit("a", "a"), "1")
    # Another pipeline with the same steps: no hit (caching is per pipeline).
    api.upsert_pipeline("churn-copy", commit("a", "a"), ROLE, {})
    other = api.start_execution("churn-copy", {}, "7" * 32)
    assert hits({s.name: s for s in api.list_steps(other)}) == {}
    # The same pipeline with caching turned off: every step runs.
    uncached = commit("a", "a")
    for step in uncached["Steps"]:
        step.pop("CacheConfig", None)
    _, steps = run(api, uncached, "8")
    assert hits(steps) == {}


def test_a_selective_execution_runs_the_selected_steps_and_reuses_the_others(
    api: SageMakerPipelines,
) -> None:
    first, _ = run(api, commit("a", "a"), "1")
    selected = ("EvaluateModel", "CheckAccuracy", "RegisterModel", "AccuracyBelowThreshold")
    arn, steps = run(api, commit("a", "b"), "2", SelectiveExecution(first, selected))
    # The steps before EvaluateModel did not run: they are listed with the source's outputs.
    for name in ("PreprocessData", "TrainModel"):
        assert steps[name].status == "Succeeded" and steps[name].reused_from == first
    assert steps["EvaluateModel"].reused_from == "" and steps["EvaluateModel"].status == "Succeeded"
    assert steps["RegisterModel"].status == "Succeeded"
    # EvaluateModel read the first execution's model and test split.
    job = api.clients.sagemaker.describe_processing_job(
        ProcessingJobName=steps["EvaluateModel"].metadata["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
    )
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"]}
    first_id = first.rsplit("/", 1)[-1]
    assert f"/{first_id}/PreprocessData/output/test" in inputs["test"]
    assert f"pipelines-{first_id}-TrainModel" in inputs["model"]
    assert arn != first


@pytest.mark.parametrize(
    ("selected", "source", "refusal"),
    [
        (("TrainModel", "CheckAccuracy"), "first", "on a path between two selected steps"),
        (("NoSuchStep",), "first", "are not steps of the pipeline"),
        (("EvaluateModel",), "", "must name an execution of this pipeline"),
        (("EvaluateModel",), "other", "is an execution of pipeline churn-copy, not of churn"),
    ],
)
def test_the_double_refuses_a_selection_sagemaker_refuses(
    api: SageMakerPipelines, selected: tuple[str, ...], source: str, refusal: str
) -> None:
    first, _ = run(api, commit("a", "a"), "1")
    api.upsert_pipeline("churn-copy", commit("a", "a"), ROLE, {})
    other = api.start_execution("churn-copy", {}, "7" * 32)
    config: dict[str, Any] = {"SelectedSteps": [{"StepName": name} for name in selected]}
    if source:  # no SourcePipelineExecutionArn at all: the API allows it, the rule does not
        config["SourcePipelineExecutionArn"] = {"first": first, "other": other}[source]
    with pytest.raises(ClientError) as refused:
        api.clients.sagemaker.start_pipeline_execution(
            PipelineName="churn", ClientRequestToken="2" * 32, SelectiveExecutionConfig=config
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refusal in str(refused.value)


def test_the_latest_execution_is_the_newest_with_the_status(api: SageMakerPipelines) -> None:
    assert api.latest_execution("churn", "Succeeded") == ""  # no such pipeline yet
    first, _ = run(api, commit("a", "a"), "1")
    second, _ = run(api, commit("a", "a"), "2")
    assert api.latest_execution("churn", "Succeeded") == second != first
    assert api.latest_execution("churn", "Failed") == ""


# ---- build-pipeline: from-step, source-execution-arn, and the cache hits it reports ----------


@pytest.fixture
def stage(
    api: SageMakerPipelines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., StageRun]:
    """build-pipeline's main() on the sagemaker backend against the double, with the definition
    of a commit (see commit()) as a JSON file whose code is in the double's S3."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def build(preprocess: str, evaluate: str, pipeline: str = "churn", **inputs: str) -> StageRun:
        definition = commit(preprocess, evaluate)
        for uri in code_uris(definition):
            bucket, key = uri.removeprefix("s3://").split("/", 1)
            api.clients.s3.put_object(Bucket=bucket, Key=key, Body=b"# script")
        path = tmp_path / "definition.json"
        path.write_text(json.dumps(definition))
        given = {
            "backend": "sagemaker",
            "definition": str(path),
            "pipeline-name": pipeline,
            "role-arn": ROLE,
            "region": "us-east-1",
            **inputs,
        }
        return run_main(build_pipeline.main, given, GITHUB_WORKSPACE=str(tmp_path))

    return build


def executions(api: SageMakerPipelines, pipeline: str = "churn") -> list[str]:
    listed = api.clients.sagemaker.list_pipeline_executions(PipelineName=pipeline)
    return [e["PipelineExecutionArn"] for e in listed["PipelineExecutionSummaries"]]


def test_build_pipeline_reports_cache_hits_and_runs_from_a_step(
    api: SageMakerPipelines, stage: Callable[..., StageRun]
) -> None:
    first = stage("a", "a")
    assert first.code == 0 and "cache hit" not in first.log
    again = stage("a", "a")
    first_id = first.outputs["execution-arn"].rsplit("/", 1)[-1]
    assert again.code == 0
    assert "Step caching: 3 of 5 steps were cache hits (not run again)" in again.log
    assert f"PreprocessData: Succeeded in 0s, cache hit (from {first_id})" in again.log
    assert f"| PreprocessData | ✅ Succeeded | 0s | cache hit (from {first_id}) |" in again.summary

    # evaluate.py changed: start from EvaluateModel, reusing the latest Succeeded execution's
    # preprocessing and training.
    selective = stage("a", "b", **{"from-step": "EvaluateModel"})
    assert selective.code == 0, selective.log
    source_id = again.outputs["execution-arn"].rsplit("/", 1)[-1]
    assert (
        "(selective: EvaluateModel, CheckAccuracy, RegisterModel, AccuracyBelowThreshold; "
        f"the rest reused from {source_id})" in selective.log
    )
    assert f"| TrainModel | ✅ Succeeded | 0s | not selected: reused from {source_id} |" in (
        selective.summary
    )
    assert selective.outputs["model-package-arn"] and selective.outputs["metrics"]
    steps = {s.name: s for s in api.list_steps(selective.outputs["execution-arn"])}
    assert steps["EvaluateModel"].reused_from == "" and not steps["EvaluateModel"].cache_hit_from


@pytest.mark.parametrize(
    ("inputs", "name", "problem"),
    [
        ({"from-step": "Evaluate"}, "from-step", "'Evaluate' is not a step of the pipeline"),
        ({"from-step": "RegisterModel"}, "from-step", "inside condition CheckAccuracy's branch"),
        (
            {"from-step": "EvaluateModel", "source-execution-arn": OTHER},
            "source-execution-arn",
            "is an execution of pipeline 'other', not of 'churn'",
        ),
        (
            {"from-step": "EvaluateModel", "source-execution-arn": f"{OTHER_OF_CHURN}"},
            "source-execution-arn",
            "cannot be described",
        ),
        ({"source-execution-arn": OTHER}, "source-execution-arn", "from-step is empty"),
        ({"from-step": "TrainModel", "execution-arn": OTHER}, "from-step", "cannot be used with"),
    ],
)
def test_a_bad_selection_is_one_error_naming_the_input_and_starts_nothing(
    api: SageMakerPipelines,
    stage: Callable[..., StageRun],
    inputs: dict[str, str],
    name: str,
    problem: str,
) -> None:
    assert stage("a", "a").code == 0
    before = executions(api)

    result = stage("a", "b", **inputs)

    assert result.code == 1 and len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0]
    assert executions(api) == before
    # Nothing was uploaded or updated either: the deployed definition is the first commit's.
    deployed = api.get_pipeline_definition("churn")
    assert deployed is not None and "b" * 64 not in json.dumps(deployed)


def test_from_step_needs_an_execution_to_reuse(
    api: SageMakerPipelines, stage: Callable[..., StageRun]
) -> None:
    result = stage("a", "a", **{"from-step": "TrainModel"})

    assert result.code == 1 and len(result.errors) == 1, result.log
    assert "input 'from-step'" in result.errors[0]
    assert "pipeline churn has no Succeeded execution" in result.errors[0]
    assert api.get_pipeline_definition("churn") is None  # nothing created


def test_a_source_whose_earlier_steps_failed_is_refused(
    api: SageMakerPipelines,
    stage: Callable[..., StageRun],
    double: tuple[str, Double],  # noqa: F811
) -> None:
    """A Failed execution is a valid source, but only for the steps that succeeded in it."""
    _, instance = double
    instance.metrics = [{"accuracy": 0.5}]  # below the threshold: AccuracyBelowThreshold fails
    failed = stage("a", "a")
    assert failed.outputs["status"] == "Failed"
    arn = failed.outputs["execution-arn"]

    reused = stage("a", "b", **{"from-step": "EvaluateModel", "source-execution-arn": arn})
    assert reused.outputs["status"] == "Failed" and reused.code == 1  # the model is still bad
    steps = {s.name: s for s in api.list_steps(reused.outputs["execution-arn"])}
    assert steps["TrainModel"].reused_from == arn


def test_a_selective_start_has_its_own_start_token() -> None:
    """The start token makes a retried step start no second execution; a full and a selective
    start in one job (or two selections) are different executions."""
    identity = "acme/churn|4242|1|build"
    full = pipelines.start_token(identity, "churn", {"A": "1"})
    evaluate = SelectiveExecution(OTHER_OF_CHURN, ("EvaluateModel", "CheckAccuracy"))
    selective = pipelines.start_token(identity, "churn", {"A": "1"}, evaluate)
    assert selective != full
    assert selective == pipelines.start_token(identity, "churn", {"A": "1"}, evaluate)
    check = SelectiveExecution(OTHER_OF_CHURN, ("CheckAccuracy",))
    assert pipelines.start_token(identity, "churn", {"A": "1"}, check) != selective
