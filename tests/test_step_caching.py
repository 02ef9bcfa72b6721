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
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from smgha.backends import SelectiveExecution, StepRecord
from smgha.backends.aws.client import AwsClients
from smgha.backends.aws.pipelines import SageMakerPipelines
from tests.e2e.aws_double import Double
from tests.test_aws_contract import double  # noqa: F401 (the fixture)

SNAPSHOT = Path(__file__).parent / "snapshots" / "churn_pipeline.json"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
JOB_STEPS = ("PreprocessData", "TrainModel", "EvaluateModel")


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
