"""The execution role runs the scikit-learn pipelines on AWS, proven: the definitions the SDK
builds offline from ml/sklearn_pipeline.py (get_pipeline: a script-mode TrainingStep;
get_tuning_pipeline: a TuningStep whose best trial is evaluated and registered) are walked as
SageMaker runs them (tests/iam_execution.py), and every call SageMaker makes with the
execution role is judged by the IAM evaluator against execution_permissions as Terraform
renders it for the e2e deployment, as tests/test_iam_simulator.py does for the XGBoost churn
definition. Each grant for the pipeline's jobs (the tuning statement, PipelineJobs) is needed:
removed, the evaluator names the calls that need it.

A module of its own: the `offline` fixture refuses every socket for the rest of the module
that uses it (the evaluator runs in a node subprocess, fed through pipes).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.e2e import sagemaker_run
from tests.iam_arns import EXECUTION_ID
from tests.iam_execution import execution_requests
from tests.iam_policies import DEPLOYMENT, EXECUTION_DOCUMENT, execution_role, policies
from tests.iam_simulator import IamRequest, denials
from tests.test_pipeline_definition import BUCKET as BUILT_BUCKET
from tests.test_pipeline_definition import ROLE as BUILT_ROLE
from tests.test_pipeline_definition import (  # noqa: F401 (offline is a fixture)
    Offline,
    offline,
)
from tests.test_sklearn_pipeline import build

pytestmark = pytest.mark.slow  # builds three definitions with the SDK

BUCKET = sagemaker_run.BUCKET
BUILD_ROLE = sagemaker_run.JOB_ROLES["build"]
PIPELINES = {
    "churn-sklearn": "get_pipeline",
    "churn-sklearn-tuning": "get_tuning_pipeline",
    "churn-sklearn-spot-tuning": "get_spot_tuning_pipeline",  # its trials' checkpoints too
}
TUNING_STATEMENT = "PipelineTuningJobs"
# The tuning step's job, as tests/iam_arns.py names it (ARNs hold names in lower case).
TUNING_JOB = f"{EXECUTION_ID}-TuneMode-a1B2c3D4e5"
TUNING_JOB_ARN = (
    f"arn:aws:sagemaker:{DEPLOYMENT.region}:{DEPLOYMENT.account}:"
    f"hyper-parameter-tuning-job/{TUNING_JOB.lower()}"
)
SKLEARN_REPOSITORY = "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-scikit-learn"


@pytest.fixture(scope="module")
def definitions(offline: Offline) -> dict[str, str]:  # noqa: F811 (the fixture)
    """Pipeline name -> its definition built by the SDK, in the e2e deployment's bucket and
    run as its execution role."""
    found = {}
    for name, function in PIPELINES.items():
        definition, _ = build(offline, function)
        text = json.dumps(definition).replace(BUILT_BUCKET, BUCKET)
        found[name] = text.replace(BUILT_ROLE, execution_role())
    return found


def runs(name: str, definition: str) -> list[dict[str, Any]]:
    """The build job's calls that set the pipeline up and start it, as the AWS double records
    them."""
    return [
        {
            "service": "sagemaker",
            "operation": operation,
            "role": BUILD_ROLE,
            "status": 200,
            "params": params,
        }
        for operation, params in (
            (
                "CreatePipeline",
                {
                    "PipelineName": name,
                    "PipelineDefinition": definition,
                    "RoleArn": execution_role(),
                },
            ),
            (
                "StartPipelineExecution",
                {
                    "PipelineName": name,
                    "PipelineParameters": [
                        {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/churn/data/churn.csv"}
                    ],
                },
            ),
        )
    ]


@pytest.fixture(scope="module")
def derived(definitions: dict[str, str]) -> dict[str, list[IamRequest]]:
    """Pipeline name -> what SageMaker does with the execution role when it runs."""
    return {
        name: execution_requests(runs(name, definition), DEPLOYMENT, execution_role())
        for name, definition in definitions.items()
    }


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return policies()


def execution_denials(requests: list[IamRequest], policies: dict[str, dict[str, Any]]) -> list[str]:
    return denials([(r, EXECUTION_DOCUMENT) for r in requests], policies)


def tuning_statement(policies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (statement,) = [
        s for s in policies[EXECUTION_DOCUMENT]["Statement"] if s["Sid"] == TUNING_STATEMENT
    ]
    return dict(statement)


def test_the_tuning_step_is_derived_as_sagemaker_runs_it(
    derived: dict[str, list[IamRequest]],
) -> None:
    requests = derived["churn-sklearn-tuning"]
    made = {(r.action, r.resource) for r in requests}
    models = f"arn:aws:s3:::{BUCKET}/churn/models"
    trials = [f"{TUNING_JOB}-{n:03d}-0123abcd" for n in range(1, 7)]  # MaxNumberOfTrainingJobs 6
    assert made >= {
        # the pipeline's role: the tuning job, and the execution role passed for its trials
        ("sagemaker:CreateHyperParameterTuningJob", TUNING_JOB_ARN),
        ("sagemaker:DescribeHyperParameterTuningJob", TUNING_JOB_ARN),
        ("sagemaker:ListTrainingJobsForHyperParameterTuningJob", TUNING_JOB_ARN),
        ("sagemaker:StopHyperParameterTuningJob", TUNING_JOB_ARN),
        ("sagemaker:AddTags", TUNING_JOB_ARN),
        ("iam:PassRole", execution_role()),
        # each trial, as the execution role: its model written where the SDK reads it
        *{("s3:PutObject", f"{models}/{trial}/output/model.tar.gz") for trial in trials},
        # the script-mode source the training toolkit downloads, and the framework image
        ("ecr:BatchGetImage", SKLEARN_REPOSITORY),
        # TrainingJobSummaries[0] resolved: the evaluation reads the best trial's model
        ("s3:GetObject", f"{models}/{trials[0]}/output/model.tar.gz"),
    }
    archives = {
        r.resource for r in requests if r.why.endswith("source archive") and "trial" in r.why
    }
    assert len(archives) == 1 and next(iter(archives)).endswith("/sourcedir/sourcedir.tar.gz")
    # The tuning service starts the trials itself: the pipeline creates no training job.
    assert not {r for r in requests if r.action == "sagemaker:CreateTrainingJob"}
    create = next(r for r in requests if r.action == "sagemaker:CreateHyperParameterTuningJob")
    assert create.context["aws:RequestTag/sagemaker:pipeline-step-name"] == "TuneModel"


def test_each_spot_trial_restores_and_writes_its_checkpoints_as_the_execution_role(
    derived: dict[str, list[IamRequest]],
) -> None:
    checkpoints = f"churn/checkpoints/{EXECUTION_ID}/TuneModel"
    trials = [f"{TUNING_JOB}-{n:03d}-0123abcd" for n in range(1, 7)]
    made = {
        (r.action, r.resource, r.context.get("s3:prefix"))
        for r in derived["churn-sklearn-spot-tuning"]
        if r.why.endswith("checkpoints")
    }
    assert made == {
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", checkpoints),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{checkpoints}", None),
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/{checkpoints}", None),
    }
    whys = {r.why for r in derived["churn-sklearn-spot-tuning"] if r.why.endswith("checkpoints")}
    assert {next(t for t in trials if t in why) for why in whys} == set(trials)
    assert not [r for r in derived["churn-sklearn-tuning"] if r.why.endswith("checkpoints")]


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_call_of_the_execution_role_is_allowed(
    derived: dict[str, list[IamRequest]], rendered: dict[str, dict[str, Any]], name: str
) -> None:
    requests = derived[name]
    assert {"sagemaker:CreateModelPackage", "ecr:BatchGetImage", "s3:PutObject"} <= {
        r.action for r in requests
    }
    problems = execution_denials(requests, rendered)
    assert problems == [], f"{EXECUTION_DOCUMENT} does not allow:\n" + "\n".join(problems)


def test_the_tuning_statement_grants_exactly_what_the_tuning_step_calls(
    derived: dict[str, list[IamRequest]], rendered: dict[str, dict[str, Any]]
) -> None:
    on_tuning_jobs = {
        r.action
        for r in derived["churn-sklearn-tuning"]
        if ":hyper-parameter-tuning-job/" in r.resource
    }
    assert sorted(tuning_statement(rendered)["Action"]) == sorted(on_tuning_jobs)


# (statement sid, action, the pipeline whose run needs it): each action of the two statements
# for the pipeline's jobs.
GRANTS = [
    *[
        (TUNING_STATEMENT, action, "churn-sklearn-tuning")
        for action in (
            "sagemaker:CreateHyperParameterTuningJob",
            "sagemaker:DescribeHyperParameterTuningJob",
            "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
            "sagemaker:StopHyperParameterTuningJob",
            "sagemaker:AddTags",
        )
    ],
    *[
        ("PipelineJobs", action, "churn-sklearn")
        for action in (
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob",
            "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob",
            "sagemaker:AddTags",
        )
    ],
]


@pytest.mark.parametrize(("sid", "action", "name"), GRANTS)
def test_each_pipeline_job_grant_is_needed(
    derived: dict[str, list[IamRequest]],
    rendered: dict[str, dict[str, Any]],
    sid: str,
    action: str,
    name: str,
) -> None:
    """Without one action of the statement, exactly the calls of that action on the
    statement's jobs are denied, each named with its resource and step."""
    without = copy.deepcopy(rendered)
    statement = next(s for s in without[EXECUTION_DOCUMENT]["Statement"] if s["Sid"] == sid)
    assert action in statement["Action"], f"{sid} does not grant {action}"
    statement["Action"] = [a for a in statement["Action"] if a != action]
    problems = execution_denials(derived[name], without)
    assert problems, f"{sid} grants {action} but no call of {name} needs it"
    assert all(f"ImplicitlyDenied: {action} on " in p and ", step " in p for p in problems), (
        problems
    )
    if sid == TUNING_STATEMENT:
        assert all(f" on {TUNING_JOB_ARN}" in p and "step TuneModel" in p for p in problems)


def test_a_tuning_job_cannot_be_scoped_by_the_pipelines_prefix(
    derived: dict[str, list[IamRequest]], rendered: dict[str, dict[str, Any]]
) -> None:
    """The prefix the other pipeline jobs share (pipelines-*) would deny every call on the
    tuning job: its name starts with the execution id."""
    narrowed = copy.deepcopy(rendered)
    statement = next(
        s for s in narrowed[EXECUTION_DOCUMENT]["Statement"] if s["Sid"] == TUNING_STATEMENT
    )
    statement["Resource"] = [
        r.replace("hyper-parameter-tuning-job/*", "hyper-parameter-tuning-job/pipelines-*")
        for r in statement["Resource"]
    ]
    problems = execution_denials(derived["churn-sklearn-tuning"], narrowed)
    denied = {p.split(": ", 1)[1].split(" on ", 1)[0] for p in problems}
    assert denied == set(statement["Action"]), problems
