"""A TuningStep on the local backend: a real random search whose trials are real training
jobs, ranked as SageMaker ranks them, so that a pipeline registering the best trial's model
(the SDK's get_top_model_s3_uri) works unchanged (issue 15)."""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import LocalBackend, jobs, tuning, xgboost_algorithm
from tests.test_local_backend import wait_for

REGION = "us-east-1"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "smgha-local"


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(region=REGION, root=tmp_path / "state")


def put_data(backend: LocalBackend) -> None:
    """A separable two-feature problem, label first, as the built-in algorithm reads CSV."""
    rows = np.random.default_rng(7).normal(size=(400, 2))
    labels = (rows[:, 0] + 0.5 * rows[:, 1] > 0).astype(int)
    lines = [f"{y},{a:.5f},{b:.5f}" for y, (a, b) in zip(labels, rows, strict=True)]
    backend.objects.put_object(
        f"s3://{BUCKET}/data/train/train.csv", "\n".join(lines[:300]).encode()
    )
    validation = "\n".join(lines[300:]).encode()
    backend.objects.put_object(f"s3://{BUCKET}/data/validation/validation.csv", validation)


def channel(name: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {"S3Uri": f"s3://{BUCKET}/data/{name}", "S3DataType": "S3Prefix"}
        },
    }


def tuning_arguments(
    jobs_in_all: int = 4, parallel: int = 2, strategy: str = "Random", **config: Any
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob's request as the SDK's TuningStep writes it (no name)."""
    return {
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs_in_all, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "4", "ScalingType": "Linear"}],
                "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Off",
            **config,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"objective": "binary:logistic", "eval_metric": "auc", "num_round": "10"},
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::000000000000:role/smgha-local-execution",
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/tuning"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }  # fmt: skip


def best_model_uri(step: str, k: int) -> dict[str, Any]:
    """What TuningStep.get_top_model_s3_uri(top_k=k, s3_bucket=BUCKET, prefix="tuning") writes."""
    return {
        "Std:Join": {
            "On": "/",
            "Values": ["s3:/", BUCKET, "tuning", {"Get": f"Steps.{step}.TrainingJobSummaries[{k}].TrainingJobName"}, "output/model.tar.gz"],
        }
    }  # fmt: skip


def register_step(uri: Any) -> dict[str, Any]:
    return {
        "Name": "RegisterBest",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "tuned-models",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": uri}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
    }


def test_a_tuning_step_searches_for_real_and_the_pipeline_registers_the_best_trial(
    backend: LocalBackend,
) -> None:
    put_data(backend)
    definition = {
        "Version": "2020-12-01",
        "Steps": [
            {"Name": "Tune", "Type": "Tuning", "Arguments": tuning_arguments()},
            register_step(best_model_uri("Tune", 0)),
        ],
    }
    backend.pipelines.upsert_pipeline("tuned", definition, "", {})
    arn = backend.pipelines.start_execution("tuned", {}, os.urandom(16).hex())

    assert wait_for(backend, arn, 120.0) == "Succeeded", backend.pipelines.list_steps(arn)
    steps = {step.name: step for step in backend.pipelines.list_steps(arn)}
    assert ":hyper-parameter-tuning-job/" in steps["Tune"].metadata["TuningJob"]["Arn"]
    described = read_described(backend, arn, "Tune")
    # Named as Pipelines names a tuning job (at most 32 characters: not pipelines-...), its
    # trials <tuning job>-NNN-<hash>.
    execution_id = arn.rsplit("/", 1)[-1]
    assert re.fullmatch(
        rf"{execution_id}-Tune-[0-9a-f]{{10}}", described["HyperParameterTuningJobName"]
    )
    summaries = described["TrainingJobSummaries"]
    assert len(summaries) == 4 and described["TrainingJobStatusCounters"]["Completed"] == 4
    assert all(
        re.fullmatch(rf"{described['HyperParameterTuningJobName']}-00[1-4]-[0-9a-f]{{8}}", name)
        for name in (s["TrainingJobName"] for s in summaries)
    )
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values, reverse=True)  # Maximize: best first
    assert described["BestTrainingJob"] == summaries[0]
    trial = read_trial(backend, arn, summaries[0]["TrainingJobName"])
    assert trial["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"
    assert trial["HyperParameters"]["num_round"] == "10"  # the static ones, with the tuned
    # Each trial drew its own hyperparameters within the ranges.
    tuned = [s["TunedHyperParameters"] for s in summaries]
    assert len({(t["max_depth"], t["eta"]) for t in tuned}) == 4
    assert all(1 <= int(t["max_depth"]) <= 4 and 0.01 <= float(t["eta"]) <= 0.5 for t in tuned)

    # The registered package carries the best trial's real model.
    package = backend.registry.list_model_packages("tuned-models")[0]
    model_uri = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert (
        model_uri == f"s3://{BUCKET}/tuning/{summaries[0]['TrainingJobName']}/output/model.tar.gz"
    )
    with tarfile.open(fileobj=io.BytesIO(backend.objects.read_object(model_uri))) as archive:
        assert archive.getnames() == [xgboost_algorithm.XGBOOST_MODEL_FILE]


def read_described(backend: LocalBackend, execution_arn: str, step: str) -> dict[str, Any]:
    from smgha.backends.local import state

    folder = backend.layout.execution_folder(execution_arn.rsplit("/", 1)[-1])
    return dict(state.read_json(state.Layout.step_job_folder(folder, step) / state.DESCRIBED_FILE))


def read_trial(
    backend: LocalBackend, execution_arn: str, name: str, step: str = "Tune"
) -> dict[str, Any]:
    """DescribeTrainingJob of one trial, as the tuning step recorded it."""
    from smgha.backends.local import state

    folder = backend.layout.execution_folder(execution_arn.rsplit("/", 1)[-1])
    path = state.Layout.step_job_folder(folder, step) / "trials" / name / state.DESCRIBED_FILE
    return dict(state.read_json(path))


# ---- the draws, pure ---------------------------------------------------------------------------


def test_random_draws_follow_the_scaling_and_the_seed() -> None:
    ranges = tuning_arguments()["HyperParameterTuningJobConfig"]["ParameterRanges"]
    limits = {"MaxNumberOfTrainingJobs": 200}
    first = tuning._candidates("Random", ranges, limits, random.Random(1))
    again = tuning._candidates("Random", ranges, limits, random.Random(1))
    other = tuning._candidates("Random", ranges, limits, random.Random(2))
    assert first == again and first != other
    etas = [float(c["eta"]) for c in first]
    assert all(0.01 <= eta <= 0.5 for eta in etas)
    # Logarithmic: uniform in log space, so about half the draws lie below the geometric mean
    # (0.0707), where a linear draw would put about 12 %.
    below = sum(eta < math.sqrt(0.01 * 0.5) for eta in etas) / len(etas)
    assert 0.35 < below < 0.65
    assert {c["max_depth"] for c in first} == {"1", "2", "3", "4"}


def test_grid_runs_every_categorical_combination_and_bayesian_runs_as_random_search() -> None:
    grid = {"CategoricalParameterRanges": [{"Name": "a", "Values": ["x", "y"]}, {"Name": "b", "Values": ["1", "2", "3"]}]}  # fmt: skip
    combos = tuning._candidates("Grid", grid, {}, random.Random(0))
    assert (
        len(combos) == 6
        and combos[0] == {"a": "x", "b": "1"}
        and combos[-1] == {"a": "y", "b": "3"}
    )
    assert (
        len(tuning._candidates("Bayesian", grid, {"MaxNumberOfTrainingJobs": 3}, random.Random(0)))
        == 3
    )


@pytest.mark.parametrize(
    ("strategy", "ranges", "limits", "message"),
    [
        ("Hyperband", {}, {"MaxNumberOfTrainingJobs": 2}, "Hyperband tuning strategy does not run"),
        ("Grid", {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "2"}]}, {}, "categorical parameter ranges only"),
        ("Random", {}, {"MaxNumberOfTrainingJobs": 0}, "MaxNumberOfTrainingJobs must be at least 1"),
        ("Random", {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}]}, {"MaxNumberOfTrainingJobs": 1}, "Logarithmic scaling needs MinValue above 0"),
        ("Random", {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.5", "MaxValue": "0.1"}]}, {"MaxNumberOfTrainingJobs": 1}, "MinValue 0.5 is above MaxValue 0.1"),
        ("Random", {"IntegerParameterRanges": [{"Name": "depth", "MinValue": "0", "MaxValue": "0", "ScalingType": "ReverseLogarithmic"}]}, {"MaxNumberOfTrainingJobs": 1}, "integer range takes Auto, Linear or Logarithmic"),
    ],
)  # fmt: skip
def test_what_the_local_tuner_cannot_run_is_refused_by_name(
    strategy: str, ranges: dict[str, Any], limits: dict[str, Any], message: str
) -> None:
    with pytest.raises(jobs.JobFailed, match=message):
        tuning._candidates(strategy, ranges, limits, random.Random(0))


def test_a_tuning_job_whose_every_trial_fails_fails_its_step_with_the_reason(
    backend: LocalBackend,
) -> None:
    put_data(backend)
    arguments = tuning_arguments(jobs_in_all=2, parallel=1)
    arguments["TrainingJobDefinition"]["StaticHyperParameters"]["max_dept"] = "3"  # misspelt
    backend.pipelines.upsert_pipeline("t", {"Steps": [{"Name": "Tune", "Type": "Tuning", "Arguments": arguments}]}, "", {})  # fmt: skip
    arn = backend.pipelines.start_execution("t", {}, os.urandom(16).hex())

    assert wait_for(backend, arn, 120.0) == "Failed"
    reason = backend.pipelines.list_steps(arn)[0].failure_reason
    assert reason == (
        "no training job of the tuning job succeeded: "
        "ClientError: hyperparameters not supported by XGBoost: ['max_dept']"
    )


def test_a_warm_start_is_refused_with_the_way_out(backend: LocalBackend) -> None:
    arguments = {**tuning_arguments(), "WarmStartConfig": {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "old"}], "WarmStartType": "IdenticalDataAndAlgorithm"}}  # fmt: skip
    backend.pipelines.upsert_pipeline("w", {"Steps": [{"Name": "Tune", "Type": "Tuning", "Arguments": arguments}]}, "", {})  # fmt: skip
    arn = backend.pipelines.start_execution("w", {}, os.urandom(16).hex())

    assert wait_for(backend, arn, 120.0) == "Failed"
    assert "WarmStartConfig" in backend.pipelines.list_steps(arn)[0].failure_reason
    assert "use the sagemaker backend" in backend.pipelines.list_steps(arn)[0].failure_reason


def test_a_tuning_step_over_a_script_mode_estimator_tunes_the_user_s_script(
    backend: LocalBackend,
) -> None:
    """Each trial is a script-mode training job (the v2 SKLearn estimator's request): the
    tuned C reaches the script as an argument, the objective comes from its log."""
    from tests.test_script_training import CODE_ARCHIVE, TRAIN_PY, code_archive, v2_training_step

    rows = [f"{i % 2},{(i % 2) * 2 + i / 100:.3f},{i / 50:.3f}" for i in range(40)]
    for name in ("train", "validation"):
        backend.objects.put_object(
            f"s3://{BUCKET}/data/{name}/{name}.csv", "\n".join(rows).encode()
        )
    backend.objects.put_object(
        CODE_ARCHIVE, code_archive({"train.py": TRAIN_PY, "helper.py": "VALUE = 1\n"})
    )
    estimator = v2_training_step()["Arguments"]
    static = {k: v for k, v in estimator["HyperParameters"].items() if k != "C"}
    arguments = {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "C", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"}]},
        },
        "TrainingJobDefinition": {
            **{k: v for k, v in estimator.items() if k != "HyperParameters"},
            "StaticHyperParameters": static,
        },
    }  # fmt: skip
    backend.pipelines.upsert_pipeline("s", {"Steps": [{"Name": "Tune", "Type": "Tuning", "Arguments": arguments}]}, "", {})  # fmt: skip
    arn = backend.pipelines.start_execution("s", {}, os.urandom(16).hex())

    assert wait_for(backend, arn, 120.0) == "Succeeded", backend.pipelines.list_steps(arn)
    summaries = read_described(backend, arn, "Tune")["TrainingJobSummaries"]
    assert [s["ObjectiveStatus"] for s in summaries] == ["Succeeded"] * 3
    for summary in summaries:
        trial = read_trial(backend, arn, summary["TrainingJobName"])
        seen_c = float(summary["TunedHyperParameters"]["C"])
        assert trial["HyperParameters"]["C"] == summary["TunedHyperParameters"]["C"]
        assert 0.001 <= seen_c <= 10
        metric = summary["FinalHyperParameterTuningJobObjectiveMetric"]
        assert metric["MetricName"] == "validation:accuracy" and 0.0 <= metric["Value"] <= 1.0
        assert {m["MetricName"] for m in trial["FinalMetricDataList"]} >= {"validation:accuracy"}
        # The script saw the tuned value on its command line (it records its argv).
        model = backend.objects.read_object(trial["ModelArtifacts"]["S3ModelArtifacts"])
        with tarfile.open(fileobj=io.BytesIO(model)) as archive:
            member = archive.extractfile("seen.json")
            assert member is not None
            argv = json.loads(member.read())["argv"]
        assert argv[argv.index("-C") + 1] == summary["TunedHyperParameters"]["C"]
        assert "_tuning_objective_metric" not in " ".join(argv)
