"""Managed spot training for the tuning pipeline (issue 20): ml.sklearn_pipeline's
get_spot_tuning_pipeline, whose every trial is a managed spot training job. Its definition,
built offline, held to the contract (tests/aws_training_rules.py, tuning_spot_problems), and
train.py's checkpoints; the pipeline runs end to end in tests/test_spot_tuning_local.py."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from smgha.definition import steps_by_name
from tests.aws_contract import contract_problems, pipeline_definition_problems
from tests.test_pipeline_definition import BUCKET, REPO_ROOT, Offline, offline  # noqa: F401
from tests.test_sklearn_pipeline import build

CHECKPOINTS = {
    "Std:Join": {
        "On": "/",
        "Values": [
            f"s3://{BUCKET}/churn/checkpoints",
            {"Get": "Execution.PipelineExecutionId"},
            "TuneModel",
        ],
    }
}
SPOT_MEMBERS = ("EnableManagedSpotTraining", "CheckpointConfig")


def trial_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The TuneModel step's TrainingJobDefinition (the definition's own: edits change it)."""
    arguments = steps_by_name(definition)["TuneModel"]["Arguments"]
    trials: dict[str, Any] = arguments["TrainingJobDefinition"]
    return trials


def test_every_trial_of_the_spot_tuning_pipeline_asks_for_spot_a_maximum_wait_and_checkpoints(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition, _ = build(offline, "get_spot_tuning_pipeline")
    trials = trial_definition(definition)
    assert trials["EnableManagedSpotTraining"] is True
    # ml.pipeline's SPOT_MAX_RUN_SECONDS and SPOT_MAX_WAIT_SECONDS, through Churn.spot_settings.
    assert trials["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 7200,
    }
    # One prefix per execution and step; each trial keeps its own folder under it (train.py).
    assert trials["CheckpointConfig"] == {"S3Uri": CHECKPOINTS, "LocalPath": "/opt/ml/checkpoints"}
    assert pipeline_definition_problems(definition) == []
    # The rest is get_tuning_pipeline's: the same search, the same ranges.
    plain, _ = build(offline, "get_tuning_pipeline")
    tune = steps_by_name(definition)["TuneModel"]["Arguments"]
    plain_tune = steps_by_name(plain)["TuneModel"]["Arguments"]
    assert tune["HyperParameterTuningJobConfig"] == plain_tune["HyperParameterTuningJobConfig"]


def test_without_spot_the_tuning_pipeline_s_trials_have_none_of_it(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition, _ = build(offline, "get_tuning_pipeline")
    trials = trial_definition(definition)
    assert not set(SPOT_MEMBERS) & set(trials)
    assert "MaxWaitTimeInSeconds" not in trials["StoppingCondition"]


# ---- the contract: the spot rules, for a tuning job's training job definitions -----------------


def test_a_spot_tuning_definition_without_a_maximum_wait_or_below_the_run_is_refused(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition, _ = build(offline, "get_spot_tuning_pipeline")
    without = copy.deepcopy(definition)
    del trial_definition(without)["StoppingCondition"]["MaxWaitTimeInSeconds"]
    [problem] = pipeline_definition_problems(without)
    assert problem.startswith(
        "PipelineDefinition step TuneModel (CreateHyperParameterTuningJob) Arguments: "
        "TrainingJobDefinition: EnableManagedSpotTraining is true and "
        "StoppingCondition.MaxWaitTimeInSeconds is missing"
    ), problem
    below = copy.deepcopy(definition)
    trial_definition(below)["StoppingCondition"]["MaxWaitTimeInSeconds"] = 3599
    [problem] = pipeline_definition_problems(below)
    assert "MaxWaitTimeInSeconds 3599 is less than MaxRuntimeInSeconds 3600" in problem
    no_spot = copy.deepcopy(definition)
    del trial_definition(no_spot)["EnableManagedSpotTraining"]
    [problem] = pipeline_definition_problems(no_spot)
    assert "MaxWaitTimeInSeconds is set and EnableManagedSpotTraining is not true" in problem
    no_uri = copy.deepcopy(definition)
    del trial_definition(no_uri)["CheckpointConfig"]["S3Uri"]
    problems = pipeline_definition_problems(no_uri)
    assert problems and all("S3Uri" in p for p in problems), problems


TUNING_REQUEST = {
    "HyperParameterTuningJobName": "churn-tune",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
    },
}


def training_job_definition(name: str, **stopping: int) -> dict[str, Any]:
    return {
        "DefinitionName": name,
        "AlgorithmSpecification": {"TrainingImage": "1.dkr.ecr/x:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::111122223333:role/SageMakerExecution",
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/checkpoints"},
    }


def test_a_client_s_tuning_request_is_held_to_the_spot_rules_in_each_definition() -> None:
    """CreateHyperParameterTuningJob itself (SERVICE_RULES), TrainingJobDefinitions included."""
    good = training_job_definition("a", MaxRuntimeInSeconds=3600, MaxWaitTimeInSeconds=7200)
    request = {**TUNING_REQUEST, "TrainingJobDefinition": good}
    assert contract_problems("sagemaker", "CreateHyperParameterTuningJob", request) == []
    bad = training_job_definition("b", MaxRuntimeInSeconds=3600)
    listed = {**TUNING_REQUEST, "TrainingJobDefinitions": [good, bad]}
    [problem] = contract_problems("sagemaker", "CreateHyperParameterTuningJob", listed)
    assert problem.startswith("TrainingJobDefinitions[1]: EnableManagedSpotTraining is true")


# ---- train.py's checkpoints --------------------------------------------------------------------

TRAIN_SCRIPT = REPO_ROOT / "ml" / "sklearn_model" / "train.py"


def load_train() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("sklearn_train", TRAIN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_py_checkpoints_in_its_job_s_folder_and_resumes_only_its_own_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = load_train()
    rows = np.random.default_rng(3).normal(size=(600, 3))
    labels = (rows[:, 0] - rows[:, 1] > 0).astype(int)

    def model(**settings: Any) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        options = {"max_iter": 120, "learning_rate": 0.1, "max_depth": 3, "random_state": 0}
        return HistGradientBoostingClassifier(early_stopping=False, **(options | settings))

    # No checkpoint folder: one fit, as before.
    assert train.fit(model(), rows, labels, None).n_iter_ == 120
    # A part-trained model of this job (an interrupted one) is resumed to the end, and the
    # result is the model trained in one go.
    folder = tmp_path / "checkpoints" / "job-a"
    part = train.fit(model(max_iter=50), rows, labels, str(folder))
    assert joblib.load(folder / "model.joblib").n_iter_ == 50 == part.n_iter_
    resumed = train.fit(model(), rows, labels, str(folder))
    assert "checkpoint: resumed from" in capsys.readouterr().out
    assert resumed.n_iter_ == 120 and resumed.warm_start is False
    assert joblib.load(folder / "model.joblib").n_iter_ == 120
    whole = model().fit(rows, labels)
    assert np.allclose(resumed.predict_proba(rows), whole.predict_proba(rows))
    # Another trial's hyperparameters in the folder: not resumed, trained from the start.
    other = train.fit(model(learning_rate=0.3), rows, labels, str(folder))
    assert "resumed" not in capsys.readouterr().out
    assert other.learning_rate == 0.3 and other.n_iter_ == 120


def test_train_py_names_its_checkpoint_folder_after_the_training_job() -> None:
    command = [
        sys.executable,
        "-c",
        f"import runpy; m = runpy.run_path({str(TRAIN_SCRIPT)!r}); "
        "print(m['parse_args']([]).checkpoint_dir)",
    ]
    environment = {k: v for k, v in os.environ.items() if k != "TRAINING_JOB_NAME"}
    named = {**environment, "TRAINING_JOB_NAME": "tune-001-abc"}
    run = subprocess.run(command, env=named, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "/opt/ml/checkpoints/tune-001-abc"
    outside = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    assert outside.stdout.strip() == "None"  # outside a training job: no checkpoints


# ---- the local backend: a job copies back only the checkpoints it wrote ----------------------


def test_a_local_job_copies_back_only_the_checkpoints_it_wrote(tmp_path: Path) -> None:
    """Two trials under one S3Uri: the one that ends last must not put back the older copy of
    the other's checkpoint it restored when it started (spot_training.save_checkpoints)."""
    from smgha.backends.local import jobs, spot_training, state
    from smgha.backends.local.registry import LocalRegistry
    from smgha.backends.local.s3 import LocalS3

    s3 = LocalS3(tmp_path / "s3")
    uri = f"s3://{BUCKET}/churn/checkpoints/exec/TuneModel"
    request = {"CheckpointConfig": {"S3Uri": uri}}
    registry = LocalRegistry(state.Layout(tmp_path / "state"), "us-east-1")

    def trial(name: str) -> tuple[jobs.JobContext, Path]:
        context = jobs.JobContext(tmp_path / name, name, "us-east-1", s3, registry, print)
        context.job_dir.mkdir()
        return context, context.job_dir / state.CONTAINER_FOLDER

    s3.put_object(f"{uri}/trial-b/model.joblib", b"b after 50")
    job_a, root_a = trial("trial-a")
    spot_training.restore_checkpoints(request, root_a, job_a)  # a starts: b's at 50 comes along
    folder_a = root_a / "opt" / "ml" / "checkpoints"
    assert (folder_a / "trial-b" / "model.joblib").read_bytes() == b"b after 50"
    s3.put_object(f"{uri}/trial-b/model.joblib", b"b after 120")  # b ends meanwhile
    (folder_a / "trial-a").mkdir()
    (folder_a / "trial-a" / "model.joblib").write_bytes(b"a after 120")
    spot_training.save_checkpoints(request, root_a, job_a)  # a ends
    assert s3.read_object(f"{uri}/trial-a/model.joblib") == b"a after 120"
    assert s3.read_object(f"{uri}/trial-b/model.joblib") == b"b after 120"  # not put back
    # A restored file the job rewrote is copied back.
    job_c, root_c = trial("trial-c")
    spot_training.restore_checkpoints(request, root_c, job_c)
    (root_c / "opt" / "ml" / "checkpoints" / "trial-a" / "model.joblib").write_bytes(b"a again")
    spot_training.save_checkpoints(request, root_c, job_c)
    assert s3.read_object(f"{uri}/trial-a/model.joblib") == b"a again"
    assert s3.read_object(f"{uri}/trial-b/model.joblib") == b"b after 120"
