"""Managed spot training after the definition: the contract on a client's CreateTrainingJob,
build-pipeline's time and cost summary of training steps (smgha/resources/training_time.py,
step_costs.py), the AWS double's
scripted DescribeTrainingJob times, and the local backend running the spot reference pipeline
with its checkpoints. (The definitions themselves: tests/test_spot_pipeline.py.)"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smgha.backends import StepRecord
from smgha.backends.local import LocalBackend, jobs, spot_training, state
from smgha.resources import step_costs, training_time
from smgha.resources.step_time import StepTime, interval_seconds
from smgha.runner import Runner
from smgha.stages import build_pipeline
from smgha.stages.build_pipeline import BuildResult, report
from tests.e2e.aws_double import SCRIPTED_TRAINING_SECONDS, Double
from tests.stage_helpers import GITHUB_CONTEXT, run_main
from tests.test_aws_contract import _clients, double  # noqa: F401 (a fixture)
from tests.test_script_training import (  # noqa: F401 (backend: a fixture)
    CODE_ARCHIVE,
    backend,
    code_archive,
    run,
    v2_training_step,
)

ROLE = "arn:aws:iam::123456789012:role/pipeline-role"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-abc-trainmodel"


def training_job_request(name: str, **changes: Any) -> dict[str, Any]:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://smgha-artifacts/models"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 2,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(changes)
    return request


SPOT: dict[str, Any] = {
    "EnableManagedSpotTraining": True,
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    "CheckpointConfig": {"S3Uri": "s3://smgha-artifacts/churn/checkpoints/abc/TrainModel"},
}


# ---- the contract on a client --------------------------------------------------------------


def test_a_client_creating_a_spot_job_without_a_maximum_wait_gets_the_validation_exception(
    sagemaker: Any,
) -> None:
    without_wait = training_job_request(
        "spot-without-wait",
        EnableManagedSpotTraining=True,
        CheckpointConfig=SPOT["CheckpointConfig"],
    )
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**without_wait)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "MaxWaitTimeInSeconds is missing" in str(refused.value)
    sagemaker.create_training_job(**training_job_request("spot-with-wait", **SPOT))
    described = sagemaker.describe_training_job(TrainingJobName="spot-with-wait")
    assert described["EnableManagedSpotTraining"] is True


# ---- the summary's records and rows -------------------------------------------------------


def described(spot: bool, training: int | None, billable: int | None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "TrainingJobArn": ARN,
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2},
        "EnableManagedSpotTraining": spot,
    }
    if training is not None:
        answer["TrainingTimeInSeconds"] = training
    if billable is not None:
        answer["BillableTimeInSeconds"] = billable
    return answer


class Jobs:
    """A backend's DescribeTrainingJob, answered by `answer`; it records what it was asked.
    It knows no processing or tuning job (tests/test_step_costs.py has those)."""

    def __init__(self, answer: Callable[[str], dict[str, Any] | None]) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        self.asked.append(arn)
        return self.answer(arn)

    def describe_processing_job(self, arn: str) -> dict[str, Any] | None:
        self.asked.append(arn)
        return None

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        self.asked.append(arn)
        return None

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        return None


def step(name: str, metadata: dict[str, Any], cache_hit_from: str = "") -> StepRecord:
    return StepRecord(name, "Succeeded", metadata=metadata, cache_hit_from=cache_hit_from)


def test_a_spot_job_on_sagemaker_shows_its_saving() -> None:
    steps = [
        step("PreprocessData", {"ProcessingJob": {"Arn": "arn:...:processing-job/p"}}),
        step("TrainModel", {"TrainingJob": {"Arn": ARN}}),
        step("CheckAccuracy", {"Condition": {"Outcome": "True"}}),
    ]
    jobs = Jobs(lambda arn: described(True, 500, 100))
    [record] = step_costs.step_times(steps, jobs, "sagemaker")
    # The processing step's job is asked for too; this backend knows none: no row.
    assert jobs.asked == ["arn:...:processing-job/p", ARN]
    assert record == StepTime(
        step="TrainModel",
        job_kind="TrainingJob",
        job_arn=ARN,
        instance_type="ml.m5.xlarge",
        instance_count=2,
        run_seconds=500,
        billable_seconds=100,
        spot=True,
        local=False,
    )
    assert record.saving == pytest.approx(0.8)  # botocore's example: 100 of 500 is 80 %
    assert record.billed_instance_seconds == 200  # billable x InstanceCount
    assert step_costs.summary_rows([record]) == [
        ["TrainModel", "2 × ml.m5.xlarge", "500 s", "100 s", "spot: on · saving 80%"]
    ]


@pytest.mark.parametrize(
    ("spot", "backend_name", "times", "text"),
    [
        (False, "sagemaker", (500, 500), "spot: off"),
        (False, "local", (3, 3), "spot: off"),
        (True, "local", (3, 3), "spot: on · local: billed as run"),
        (True, "sagemaker", (None, None), "spot: on · saving unknown (no billable or training time reported)"),
    ],
)  # fmt: skip
def test_the_spot_column_says_off_local_or_unknown(
    spot: bool, backend_name: str, times: tuple[int | None, int | None], text: str
) -> None:
    record = training_time.record_of("TrainModel", described(spot, *times), backend_name)
    assert training_time.spot_text(record) == text
    # No saving to show: spot off, unknown times, or locally none at all (billed as it ran).
    assert record.saving == (0.0 if spot and backend_name == "local" else None)


def test_a_cached_training_step_says_it_did_not_run_and_a_missing_job_is_left_out() -> None:
    earlier = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/old1"
    steps = [
        step("TrainModel", {"TrainingJob": {"Arn": ARN}}, cache_hit_from=earlier),
        step("TrainOther", {"TrainingJob": {"Arn": ARN + "-gone"}}),
    ]
    jobs = Jobs(lambda arn: None if arn.endswith("-gone") else described(True, 500, 100))
    records = step_costs.step_times(steps, jobs, "sagemaker")
    assert [r.step for r in records] == ["TrainModel"]
    assert training_time.spot_text(records[0]) == "reused from old1: not run now"


# ---- the AWS double's DescribeTrainingJob ---------------------------------------------------


def test_the_double_answers_scripted_times_billing_a_spot_job_30_percent(
    double: tuple[str, Double],  # noqa: F811 (the fixture)
) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    sagemaker.create_training_job(**training_job_request("pipelines-spot", **SPOT))
    sagemaker.create_training_job(**training_job_request("pipelines-on-demand"))
    spot = sagemaker.describe_training_job(TrainingJobName="pipelines-spot")
    assert spot["TrainingTimeInSeconds"] == SCRIPTED_TRAINING_SECONDS == 600
    assert spot["BillableTimeInSeconds"] == 180
    record = training_time.record_of("TrainModel", spot, "sagemaker")
    assert training_time.spot_text(record) == "spot: on · saving 70%"
    on_demand = sagemaker.describe_training_job(TrainingJobName="pipelines-on-demand")
    assert on_demand["BillableTimeInSeconds"] == on_demand["TrainingTimeInSeconds"] == 600
    with pytest.raises(ClientError):  # a missing job is still moto's answer
        sagemaker.describe_training_job(TrainingJobName="pipelines-none")


# ---- the local backend ----------------------------------------------------------------------


def test_local_checkpoints_are_restored_before_and_saved_after(tmp_path: Path) -> None:
    from smgha.backends.local.registry import LocalRegistry
    from smgha.backends.local.s3 import LocalS3

    s3 = LocalS3(tmp_path / "s3")
    uri = SPOT["CheckpointConfig"]["S3Uri"]
    s3.put_object(f"{uri}/round-1.bin", b"one")
    layout = state.Layout(tmp_path / "state")
    job = jobs.JobContext(
        tmp_path / "job",
        "pipelines-abc",
        "us-east-1",
        s3,
        LocalRegistry(layout, "us-east-1"),
        print,
    )
    root = tmp_path / "job" / state.CONTAINER_FOLDER
    request = training_job_request("pipelines-abc", **SPOT)
    spot_training.restore_checkpoints(request, root, job)
    folder = root / "opt" / "ml" / "checkpoints"
    assert (folder / "round-1.bin").read_bytes() == b"one"
    (folder / "round-2.bin").write_bytes(b"two")  # what the job wrote
    spot_training.save_checkpoints(request, root, job)
    assert s3.read_object(f"{uri}/round-2.bin") == b"two"
    outside = {**request, "CheckpointConfig": {"S3Uri": uri, "LocalPath": "/tmp/checkpoints"}}
    with pytest.raises(jobs.JobFailed, match="LocalPath '/tmp/checkpoints' is outside /opt/ml"):
        spot_training.checkpoint_folder(outside, root)
    started = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    timed = spot_training.with_times({}, started, started + dt.timedelta(seconds=2.2))
    assert timed["TrainingTimeInSeconds"] == timed["BillableTimeInSeconds"] == 3


@pytest.mark.slow
def test_the_spot_reference_pipeline_builds_on_the_local_backend_billed_as_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes
) -> None:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    local = LocalBackend(region="us-east-1")
    local.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    inputs = {
        "backend": "local",
        "definition": "ml.pipeline:get_spot_pipeline",
        "pipeline-name": "churn-spot",
    }
    result = run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT)
    assert result.code == 0, result.log
    assert result.outputs["status"] == "Succeeded"
    execution_id = result.outputs["execution-arn"].rsplit("/", 1)[-1]
    [train] = [
        s
        for s in local.pipelines.list_steps(result.outputs["execution-arn"])
        if s.name == "TrainModel"
    ]
    job = local.registry.describe_training_job(train.metadata["TrainingJob"]["Arn"])
    assert job is not None
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert (
        job["CheckpointConfig"]["S3Uri"]
        == f"s3://smgha-local/churn/checkpoints/{execution_id}/TrainModel"
    )
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"] >= 1
    seconds = job["TrainingTimeInSeconds"]
    assert "#### Time and cost per step" in result.summary
    row = f"| TrainModel | 1 × ml.m5.xlarge | {seconds} s | {seconds} s | spot: on · local: billed as run |"
    assert row in result.summary, result.summary
    # The processing steps have rows too, from their jobs' ProcessingStartTime and EndTime.
    steps = {s.name: s for s in local.pipelines.list_steps(result.outputs["execution-arn"])}
    for name in ("PreprocessData", "EvaluateModel"):
        processing = local.monitoring.describe_processing_job(
            steps[name].metadata["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
        )
        assert processing is not None
        ran = interval_seconds(processing["ProcessingStartTime"], processing["ProcessingEndTime"])
        assert ran is not None and ran >= 1
        row = f"| {name} | 1 × ml.m5.xlarge | {ran} s | {ran} s | – | $0.0"
        assert row in result.summary, result.summary
    assert "| **Total** |" in result.summary
    assert json.loads(result.outputs["metrics"])["binary_classification_metrics"]


CHECKPOINTING_TRAIN_PY = """
    import os
    from pathlib import Path

    # The container contract: SageMaker restores CheckpointConfig.S3Uri here before the job.
    checkpoints = Path("/opt/ml/checkpoints")
    count_file = checkpoints / "count.txt"
    count = int(count_file.read_text()) if count_file.exists() else 0
    count_file.write_text(str(count + 1))
    Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(f"resumed at {count}")
"""


def test_a_script_mode_spot_job_resumes_from_the_checkpoints_it_wrote(
    backend: LocalBackend,  # noqa: F811 (the fixture)
) -> None:
    backend.objects.put_object(CODE_ARCHIVE, code_archive({"train.py": CHECKPOINTING_TRAIN_PY}))
    step = v2_training_step()
    step["Arguments"].update(SPOT)
    uri = SPOT["CheckpointConfig"]["S3Uri"]
    for run_number in (1, 2):  # the same S3Uri: the second job starts from the first's checkpoint
        status, record = run(backend, step)
        assert status == "Succeeded", record.failure_reason
        assert backend.objects.read_object(f"{uri}/count.txt") == str(run_number).encode()
    job = backend.registry.describe_training_job(record.metadata["TrainingJob"]["Arn"])
    assert job is not None and job["EnableManagedSpotTraining"] is True
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"] >= 1


def test_build_pipelines_summary_shows_the_time_and_cost_table_and_none_without_jobs(
    tmp_path: Path,
) -> None:
    from tests.test_build_pipeline import _inputs

    steps = [step("TrainModel", {"TrainingJob": {"Arn": ARN}})]
    runner = Runner(env={}, stdout=io.StringIO())
    result = BuildResult(status="Succeeded", execution_arn="arn:x", steps=steps)
    jobs = Jobs(lambda arn: described(True, 600, 180))
    report(_inputs(tmp_path / "definition.json"), result, runner, jobs)
    # The cost: 2 instances x 180 billable s at the shipped table's $0.23 an hour.
    assert (
        "#### Time and cost per step\n\n| Step | Instances | Run | Billable | Spot | Cost |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| TrainModel | 2 × ml.m5.xlarge | 600 s | 180 s | spot: on · saving 70% | $0.0230 |\n"
        "| **Total** |  |  |  |  | **$0.0230** |"
    ) in runner.summary_text
    assert "Costs in us-east-1; prices (USD, on-demand): the project's table" in runner.summary_text
    without = Runner(env={}, stdout=io.StringIO())
    no_job = [step("CheckAccuracy", {"Condition": {"Outcome": "True"}})]
    result = BuildResult(status="Succeeded", execution_arn="arn:x", steps=no_job)
    report(_inputs(tmp_path / "definition.json"), result, without, Jobs(lambda arn: None))
    assert "Time and cost" not in without.summary_text
