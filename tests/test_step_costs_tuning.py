"""A tuning step in build-pipeline's "Time and cost per step" table: its trials' instances and
billed intervals (smgha/resources/step_time.py tuning_record), read from the sagemaker backend
(DescribeHyperParameterTuningJob, every page of ListTrainingJobsForHyperParameterTuningJob:
Stubber) and from a real local tuning run."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smgha.backends.aws import SageMakerBackend
from smgha.backends.local import LocalBackend
from smgha.resources import step_costs
from smgha.resources.prices import load_prices
from smgha.resources.step_costs import BackendJobs, Pricing
from smgha.resources.step_time import interval_seconds, tuning_record
from smgha.resources.training_time import spot_text
from tests.test_local_backend import wait_for
from tests.test_local_tuning import put_data, tuning_arguments
from tests.test_step_costs import TUNING_ARN, Jobs, step

STARTED = dt.datetime(2026, 12, 5, 10, 0, 0, tzinfo=dt.timezone.utc)
PRICING = Pricing(load_prices(), "us-east-1")
TUNING_NAME = TUNING_ARN.rsplit("/", 1)[-1]


def definition(instance_type: str = "ml.m5.xlarge", count: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": count,
            "VolumeSizeInGB": 5,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }


def tuning_job(**changes: Any) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's answer (the fields the record reads)."""
    return {
        "HyperParameterTuningJobName": TUNING_NAME,
        "HyperParameterTuningJobArn": TUNING_ARN,
        "HyperParameterTuningJobStatus": "Completed",
        "TrainingJobDefinition": definition(count=2),
        **changes,
    }


def trial(
    number: int, seconds: float | None, status: str = "Completed", **extra: Any
) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary (timestamps as botocore parses them)."""
    summary: dict[str, Any] = {
        "TrainingJobName": f"{TUNING_NAME}-{number:03d}-0123abcd",
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{TUNING_NAME}-{number:03d}-0123abcd",
        "CreationTime": STARTED,
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"eta": "0.1"},
        **extra,
    }
    if seconds is not None:
        summary["TrainingStartTime"] = STARTED
        summary["TrainingEndTime"] = STARTED + dt.timedelta(seconds=seconds)
    return summary


# ---- the record ----------------------------------------------------------------------------


def test_a_tuning_step_is_billed_each_trial_s_interval_on_its_instances() -> None:
    trials = [trial(1, 600), trial(2, 299.5), trial(3, None, "Failed")]  # 3: never started
    record = tuning_record("TuneModel", tuning_job(), trials, "sagemaker")
    assert (record.instance_type, record.instance_count, record.trials) == ("ml.m5.xlarge", 2, 3)
    assert record.run_seconds == record.billable_seconds == 900
    assert record.billed_instance_seconds == 1800
    assert step_costs.summary_rows([record]) == [
        ["TuneModel", "3 trials, each 2 × ml.m5.xlarge", "900 s", "900 s", "spot: off"]
    ]
    assert PRICING.cost_text(record) == "$0.1150"  # half an instance-hour at $0.23
    assert PRICING.total_text([record]) == "$0.1150"


def test_a_trial_still_running_makes_the_times_unknown() -> None:
    record = tuning_record(
        "TuneModel", tuning_job(), [trial(1, 60), trial(2, None, "InProgress")], "sagemaker"
    )
    assert record.run_seconds is None
    assert step_costs.summary_rows([record])[0][2:4] == ["not reported", "not reported"]
    assert PRICING.cost_text(record) == "–"


def test_spot_trials_are_costed_as_run_and_say_their_saving_is_not_read() -> None:
    spot = tuning_job(TrainingJobDefinition=definition(EnableManagedSpotTraining=True))
    record = tuning_record("TuneModel", spot, [trial(1, 60)], "sagemaker")
    assert spot_text(record) == "spot: on · saving not read (costed as run)"
    assert spot_text(tuning_record("TuneModel", spot, [trial(1, 60)], "local")) == (
        "spot: on · local: billed as run"
    )


def test_trials_of_several_definitions_are_read_per_definition() -> None:
    two = tuning_job(
        TrainingJobDefinition=None,
        TrainingJobDefinitions=[
            {"DefinitionName": "a", **definition("ml.m5.xlarge")},
            {"DefinitionName": "b", **definition("ml.c5.xlarge")},
        ],
    )
    same = [
        trial(1, 60, TrainingJobDefinitionName="a"),
        trial(2, 60, TrainingJobDefinitionName="a"),
    ]
    assert tuning_record("TuneModel", two, same, "sagemaker").billed_instance_seconds == 120
    mixed = [*same, trial(3, 60, TrainingJobDefinitionName="b")]
    record = tuning_record("TuneModel", two, mixed, "sagemaker")
    assert record.not_read == "trials on several fleets: cost not read"
    assert PRICING.cost_text(record) == "trials on several fleets: cost not read"
    flexible = tuning_job(TrainingJobDefinition={"HyperParameterTuningResourceConfig": {}})
    record = tuning_record("TuneModel", flexible, [trial(1, 60)], "sagemaker")
    assert record.not_read == "trials' instances not read"


def test_a_tuning_job_that_cannot_be_read_has_a_row_that_says_so() -> None:
    steps = [step("TuneModel", "TuningJob", TUNING_ARN)]
    for jobs_ in (Jobs({}), Jobs({TUNING_ARN: tuning_job()})):  # no job; no trials listed
        [record] = step_costs.step_times(steps, jobs_, "sagemaker")
        assert PRICING.cost_text(record) == "cost of trials not read"
        assert step_costs.summary_rows([record]) == [["TuneModel", "–", "–", "–", "–"]]
    listed = Jobs({TUNING_ARN: tuning_job()}, {TUNING_ARN: [trial(1, 60)]})
    [record] = step_costs.step_times(steps, listed, "sagemaker")
    assert record.trials == 1 and PRICING.cost_text(record) == "$0.0077"


# ---- the sagemaker backend (Stubber) --------------------------------------------------------


@pytest.fixture
def aws() -> SageMakerBackend:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return SageMakerBackend("us-east-1", session)


def test_the_sagemaker_registry_lists_every_page_of_the_trials(aws: SageMakerBackend) -> None:
    asked = {"HyperParameterTuningJobName": TUNING_NAME, "MaxResults": 100}
    with Stubber(aws.clients.sagemaker) as stub:
        stub.add_response(
            "describe_hyper_parameter_tuning_job",
            {**tuning_job(), "HyperParameterTuningJobConfig": {"Strategy": "Random", "ResourceLimits": {"MaxParallelTrainingJobs": 1}}, "CreationTime": STARTED, "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {}},
            {"HyperParameterTuningJobName": TUNING_NAME},
        )  # fmt: skip
        stub.add_response(
            "list_training_jobs_for_hyper_parameter_tuning_job",
            {"TrainingJobSummaries": [trial(1, 60)], "NextToken": "page-2"},
            asked,
        )
        stub.add_response(
            "list_training_jobs_for_hyper_parameter_tuning_job",
            {"TrainingJobSummaries": [trial(2, 120)]},
            {**asked, "NextToken": "page-2"},
        )
        [record] = step_costs.step_times(
            [step("TuneModel", "TuningJob", TUNING_ARN)], BackendJobs(aws), "sagemaker"
        )
        stub.assert_no_pending_responses()
    assert (record.trials, record.run_seconds, record.instance_count) == (2, 180, 2)


def test_a_tuning_job_sagemaker_does_not_know_is_none(aws: SageMakerBackend) -> None:
    with Stubber(aws.clients.sagemaker) as stub:
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ResourceNotFound", "no job")
        stub.add_client_error(
            "list_training_jobs_for_hyper_parameter_tuning_job", "ResourceNotFound", "no job"
        )
        assert aws.registry.describe_tuning_job(TUNING_ARN) is None
        assert aws.registry.list_training_jobs_for_tuning_job(TUNING_ARN) is None


# ---- the local backend ---------------------------------------------------------------------


def test_a_local_tuning_step_s_row_sums_its_trials(tmp_path: Path) -> None:
    backend = LocalBackend(region="us-east-1", root=tmp_path / "state")
    put_data(backend)
    steps = [{"Name": "Tune", "Type": "Tuning", "Arguments": tuning_arguments(3, 3)}]
    backend.pipelines.upsert_pipeline("tuned", {"Version": "2020-12-01", "Steps": steps}, "", {})
    arn = backend.pipelines.start_execution("tuned", {}, os.urandom(16).hex())
    assert wait_for(backend, arn, 120.0) == "Succeeded", backend.pipelines.list_steps(arn)
    listed = backend.pipelines.list_steps(arn)
    tuning_arn = listed[0].metadata["TuningJob"]["Arn"]
    trials = backend.registry.list_training_jobs_for_tuning_job(tuning_arn)
    assert trials is not None and len(trials) == 3
    seconds = [interval_seconds(t["TrainingStartTime"], t["TrainingEndTime"]) for t in trials]
    assert all(s is not None and s >= 1 for s in seconds)
    [record] = step_costs.step_times(listed, BackendJobs(backend), "local")
    assert record.run_seconds == sum(s or 0 for s in seconds)
    assert step_costs.summary_rows([record]) == [
        ["Tune", "3 trials, each 1 × ml.m5.large", f"{record.run_seconds} s", f"{record.run_seconds} s", "spot: off"]
    ]  # fmt: skip


def test_a_local_tuning_job_holding_fewer_trials_than_it_ran_lists_none(tmp_path: Path) -> None:
    from smgha.backends.local import state

    backend = LocalBackend(region="us-east-1", root=tmp_path / "state")
    record = {
        **tuning_job(),
        "TrainingJobStatusCounters": {"Completed": 2, "NonRetryableError": 1},
        "TrainingJobSummaries": [trial(1, 60), trial(2, 60), trial(3, 5, "Failed")],
    }
    path = backend.layout.job_file(TUNING_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.write_json_atomic(path, record)
    listed = backend.registry.list_training_jobs_for_tuning_job(TUNING_ARN)
    assert listed is not None and len(listed) == 3
    # 60 more trials ran than the record's best 50 (tuning.MAX_SUMMARIES) could hold.
    record["TrainingJobStatusCounters"]["Completed"] = 62
    state.write_json_atomic(path, record)
    assert backend.registry.list_training_jobs_for_tuning_job(TUNING_ARN) is None
    assert backend.registry.list_training_jobs_for_tuning_job(TUNING_ARN + "-none") is None


# ---- the build role may make these calls (infra/terraform/iam_policies.tf) ------------------


def test_the_build_role_may_read_a_pipeline_tuning_job_but_not_its_trials() -> None:
    """PipelineTuningJobsRead grants what the tuning row calls, on a tuning job named as
    Pipelines names it (no pipelines- prefix); DescribeTrainingJob of a trial stays denied
    (training-job/pipelines-* only), which is why the trials' summaries are read instead."""
    from tests.iam_idle_report import report_denials

    tuning = "abc123def456-TuneMode-0123456789"  # <execution id>-<step[:8]>-<token>
    calls = [
        {"service": "sagemaker", "operation": operation, "params": {"HyperParameterTuningJobName": tuning}}
        for operation in ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob")
    ]  # fmt: skip
    assert report_denials(calls) == []
    trial_call = {
        "service": "sagemaker",
        "operation": "DescribeTrainingJob",
        "params": {"TrainingJobName": f"{tuning}-001-0123abcd"},
    }
    [denied] = report_denials([trial_call])
    assert "sagemaker:DescribeTrainingJob" in denied
