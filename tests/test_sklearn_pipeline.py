"""The scikit-learn reference model (ml/sklearn_pipeline.py, ml/sklearn_model/): the
definitions the SDK builds from it, offline, held to the request contract. They run for real in
tests/test_sklearn_local.py."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from smgha.definition import steps_by_name
from tests.aws_contract import pipeline_definition_problems
from tests.test_pipeline_definition import (  # noqa: F401 (offline is a fixture)
    BUCKET,
    REGION,
    REPO_ROOT,
    ROLE,
    SKLEARN_IMAGE,
    FakeAws,
    Offline,
    offline,
)

SOURCE_FILES = {"train.py", "inference.py"}
SCRIPT_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}


def build(setup: Offline, function: str) -> tuple[dict[str, Any], FakeAws]:
    """ml.sklearn_pipeline.<function>() built offline: its definition and what it uploaded."""
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    module = importlib.import_module("ml.sklearn_pipeline")
    fake = FakeAws()
    session = PipelineSession(boto_session=fake.boto_session, default_bucket=BUCKET)
    pipeline = getattr(module, function)(
        region=REGION, role=ROLE, default_bucket=BUCKET, sagemaker_session=session
    )
    definition = json.loads(pipeline.definition())
    assert setup.network_attempts == []
    return definition, fake


def registered_container(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    register = steps["RegisterModel"]["Arguments"]
    [container] = register["InferenceSpecification"]["Containers"]
    return dict(container)


def test_the_sdk_builds_a_script_mode_pipeline_from_the_source_folder(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition, fake = build(offline, "get_pipeline")
    steps = steps_by_name(definition)
    train = steps["TrainModel"]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    # SDK v3 script mode: its driver runs train.py from the code channel.
    assert train["AlgorithmSpecification"]["ContainerEntrypoint"] == ["/bin/bash"]
    assert {m["Name"] for m in train["AlgorithmSpecification"]["MetricDefinitions"]} == {
        "train:auc", "train:accuracy", "validation:auc", "validation:accuracy"
    }  # fmt: skip
    assert train["HyperParameters"]["learning_rate"] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.LearningRate"}]}
    }
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in train["InputDataConfig"]}  # fmt: skip
    assert set(channels) == {"train", "validation", "code", "sm_drivers"}
    uploaded_code = {
        uri.rsplit("/", 1)[-1]: body
        for uri, body in fake.uploads.items()
        if uri.startswith(channels["code"] + "/")
    }
    assert uploaded_code == {
        name: (REPO_ROOT / "ml" / "sklearn_model" / name).read_bytes() for name in SOURCE_FILES
    }
    # The model is served by the same framework image through inference.py, which train.py
    # puts into the model archive's code/ folder: no repack step.
    container = registered_container(steps)
    assert container["Image"] == SKLEARN_IMAGE
    assert container["Environment"] == SCRIPT_ENVIRONMENT
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    assert "RepackModel" not in json.dumps(definition)
    assert steps["EvaluateModel"]["Arguments"]["AppSpecification"]["ImageUri"] == SKLEARN_IMAGE
    # Every step is a request SageMaker would accept (the contract the sagemaker backend's
    # CreatePipeline is held to).
    assert pipeline_definition_problems(definition) == []
    assert [p["Name"] for p in definition["Parameters"]][-3:] == [
        "MaxIter", "LearningRate", "MaxDepth"
    ]  # fmt: skip


def test_the_tuning_pipeline_searches_rate_and_depth_and_registers_the_top_trial(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition, _ = build(offline, "get_tuning_pipeline")
    assert pipeline_definition_problems(definition) == []
    steps = steps_by_name(definition)
    assert "TrainModel" not in steps
    tune = steps["TuneModel"]["Arguments"]
    config = tune["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:auc"
    }  # fmt: skip
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2}
    ranges = config["ParameterRanges"]
    assert [r["Name"] for r in ranges["ContinuousParameterRanges"]] == ["learning_rate"]
    assert [r["Name"] for r in ranges["IntegerParameterRanges"]] == ["max_depth"]
    static = tune["TrainingJobDefinition"]["StaticHyperParameters"]
    assert not {"learning_rate", "max_depth"} & set(static)  # the tuner sets these
    # The registered model is the best trial's (TopK 0), evaluated first.
    container = registered_container(steps)
    assert "Steps.TuneModel.TrainingJobSummaries[0].TrainingJobName" in json.dumps(
        container["ModelDataUrl"]
    )
    assert container["Environment"] == SCRIPT_ENVIRONMENT
    evaluate_inputs = steps["EvaluateModel"]["Arguments"]["ProcessingInputs"]
    model_input = next(i for i in evaluate_inputs if i["InputName"] == "model")
    assert model_input["S3Input"]["S3Uri"] == container["ModelDataUrl"]


def test_script_mode_training_is_not_cached_as_its_code_prefix_changes_every_build(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    """The code and sm_drivers channels (a training step's InputDataConfig, a cache key
    attribute) are staged under a timestamped job name at every build, so caching the
    training step could never hit; the shared processing steps are cached."""
    first, _ = build(offline, "get_pipeline")
    steps = steps_by_name(first)
    channels = {c["ChannelName"]: c for c in steps["TrainModel"]["Arguments"]["InputDataConfig"]}
    code_uri = channels["code"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert re.search(r"/churn-sklearn-train-\d{14}/input/code$", code_uri), code_uri
    assert "CacheConfig" not in steps["TrainModel"]
    assert steps["PreprocessData"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    assert steps["EvaluateModel"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
