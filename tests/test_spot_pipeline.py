"""Managed spot training in the reference pipelines (get_spot_pipeline, get_pipeline's `spot`):
the training step's request with spot on, held to SageMaker's rules by the contract, and
unchanged with spot off. Built offline, as tests/test_pipeline_definition.py builds it."""

from __future__ import annotations

import importlib
import json
from typing import Any

from sagemaker.core.workflow.pipeline_context import PipelineSession

from smgha.definition import steps_by_name
from tests.aws_contract import pipeline_definition_problems
from tests.test_pipeline_definition import BUCKET, REGION, ROLE, FakeAws, Offline, offline  # noqa: F401

CHECKPOINTS = {
    "Std:Join": {
        "On": "/",
        "Values": [
            f"s3://{BUCKET}/churn/checkpoints",
            {"Get": "Execution.PipelineExecutionId"},
            "TrainModel",
        ],
    }
}


def definition_of(setup: Offline, module: str, function: str) -> dict[str, Any]:
    fake = FakeAws()
    session = PipelineSession(boto_session=fake.boto_session, default_bucket=BUCKET)
    pipeline = getattr(importlib.import_module(module), function)(
        region=REGION, role=ROLE, default_bucket=BUCKET, sagemaker_session=session
    )
    parsed = json.loads(pipeline.definition())
    assert setup.network_attempts == []
    return parsed


def training_request(definition: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = steps_by_name(definition)["TrainModel"]["Arguments"]
    return arguments  # the definition's own: a change to it changes the definition


def test_the_spot_pipelines_ask_for_spot_with_a_maximum_wait_and_checkpoints(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    for module in ("ml.pipeline", "ml.sklearn_pipeline"):
        definition = definition_of(offline, module, "get_spot_pipeline")
        request = training_request(definition)
        assert request["EnableManagedSpotTraining"] is True, module
        assert request["StoppingCondition"] == {
            "MaxRuntimeInSeconds": 3600,
            "MaxWaitTimeInSeconds": 7200,
        }, module
        assert request["CheckpointConfig"]["S3Uri"] == CHECKPOINTS, module
        assert pipeline_definition_problems(definition) == [], module


def test_without_spot_the_training_request_has_none_of_it(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    for module in ("ml.pipeline", "ml.sklearn_pipeline"):
        request = training_request(definition_of(offline, module, "get_pipeline"))
        assert "EnableManagedSpotTraining" not in request, module
        assert "CheckpointConfig" not in request, module
        assert "MaxWaitTimeInSeconds" not in request["StoppingCondition"], module


# ---- the contract: SageMaker's spot rules (tests/aws_training_rules.py) ------------------------


def spot_definition(offline: Offline, **stopping: int | None) -> dict[str, Any]:  # noqa: F811
    """The spot XGBoost definition with its StoppingCondition's members replaced (None: left
    out)."""
    definition = definition_of(offline, "ml.pipeline", "get_spot_pipeline")
    condition = training_request(definition)["StoppingCondition"]
    for name, value in stopping.items():
        condition.pop(name, None)
        if value is not None:
            condition[name] = value
    return definition


def test_a_spot_step_without_a_maximum_wait_is_refused(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition = spot_definition(offline, MaxWaitTimeInSeconds=None)
    [problem] = pipeline_definition_problems(definition)
    assert "step TrainModel (CreateTrainingJob)" in problem
    assert "MaxWaitTimeInSeconds is missing" in problem


def test_a_maximum_wait_below_the_maximum_run_is_refused(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition = spot_definition(offline, MaxRuntimeInSeconds=3600, MaxWaitTimeInSeconds=3599)
    [problem] = pipeline_definition_problems(definition)
    assert "MaxWaitTimeInSeconds 3599 is less than MaxRuntimeInSeconds 3600" in problem
    # Left out, MaxRuntimeInSeconds is a day: the wait must cover it.
    definition = spot_definition(offline, MaxRuntimeInSeconds=None, MaxWaitTimeInSeconds=7200)
    [problem] = pipeline_definition_problems(definition)
    assert "MaxRuntimeInSeconds 86400" in problem
    equal = spot_definition(offline, MaxRuntimeInSeconds=3600, MaxWaitTimeInSeconds=3600)
    assert pipeline_definition_problems(equal) == []


def test_a_maximum_wait_without_spot_is_refused(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition = spot_definition(offline)
    del training_request(definition)["EnableManagedSpotTraining"]
    [problem] = pipeline_definition_problems(definition)
    assert "MaxWaitTimeInSeconds is set and EnableManagedSpotTraining is not true" in problem


def test_a_spot_step_whose_checkpoints_have_no_s3_uri_is_refused(
    offline: Offline,  # noqa: F811 (the fixture)
) -> None:
    definition = spot_definition(offline)
    del training_request(definition)["CheckpointConfig"]["S3Uri"]
    problems = pipeline_definition_problems(definition)
    assert problems and all("S3Uri" in p for p in problems), problems


def test_spot_known_only_at_run_time_is_not_judged_and_its_neighbours_are() -> None:
    from tests.aws_shapes import RunTimeValue
    from tests.aws_training_rules import spot_training_problems

    at_run_time = RunTimeValue("a Boolean parameter without a default")
    waits = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert (
        spot_training_problems(
            {"EnableManagedSpotTraining": at_run_time, "StoppingCondition": waits}
        )
        == []
    )
    assert (
        spot_training_problems({"EnableManagedSpotTraining": False, "StoppingCondition": waits})
        != []
    )
    below = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": at_run_time}
    assert (
        spot_training_problems({"EnableManagedSpotTraining": True, "StoppingCondition": below})
        == []
    )
