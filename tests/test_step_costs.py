"""build-pipeline's "Time and cost per step" table (smgha/resources/step_costs.py, step_time.py):
processing steps' records from DescribeProcessingJob, the rows and the total, the local
backend's processing job record with its times, and the sagemaker backend against the AWS
double (tests/e2e/aws_double.py). Training steps' spot column: tests/test_spot_training.py."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha.backends import StepRecord
from smgha.backends.aws import SageMakerBackend
from smgha.backends.local import jobs
from smgha.resources import step_costs
from smgha.resources.prices import load_prices
from smgha.resources.step_costs import Pricing
from smgha.resources.step_time import StepTime, interval_seconds, processing_record
from smgha.runner import Runner
from smgha.stages.build_pipeline import BuildResult, report
from tests.e2e.aws_double import SCRIPTED_PROCESSING_SECONDS, Double
from tests.test_aws_contract import _clients, double  # noqa: F401 (a fixture)
from tests.test_multi_instance import context, processing_request, put_processing
from tests.test_step_caching import ROLE, api, commit, run  # noqa: F401 (api: a fixture)

PROCESSING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-abc-preprocess"
TRAINING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-abc-trainmodel"
TUNING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/abc-tunemode-1"
STARTED = dt.datetime(2026, 12, 5, 10, 0, 0, tzinfo=dt.timezone.utc)
PRICING = Pricing(load_prices(), "us-east-1")


def processing_answer(
    seconds: float | None = 300.0, count: int = 2, instance_type: str = "ml.m5.xlarge"
) -> dict[str, Any]:
    """A DescribeProcessingJob answer as botocore parses it (timestamps are datetimes)."""
    answer: dict[str, Any] = {
        "ProcessingJobName": "pipelines-abc-preprocess",
        "ProcessingJobArn": PROCESSING_ARN,
        "ProcessingJobStatus": "Completed",
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": instance_type,
                "InstanceCount": count,
                "VolumeSizeInGB": 30,
            }
        },
        "ProcessingStartTime": STARTED,
    }
    if seconds is not None:
        answer["ProcessingEndTime"] = STARTED + dt.timedelta(seconds=seconds)
    return answer


def training_answer() -> dict[str, Any]:
    return {
        "TrainingJobArn": TRAINING_ARN,
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "TrainingTimeInSeconds": 600,
        "BillableTimeInSeconds": 600,
    }


class Jobs:
    """A backend's step jobs, by ARN; a tuning job's trials by its ARN in `trials`."""

    def __init__(
        self,
        answers: dict[str, dict[str, Any]],
        trials: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.answers = answers
        self.trials = trials or {}

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        return self.answers.get(arn)

    def describe_processing_job(self, arn: str) -> dict[str, Any] | None:
        return self.answers.get(arn)

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        return self.answers.get(arn)

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        return self.trials.get(arn)


def step(name: str, kind: str, arn: str, cache_hit_from: str = "") -> StepRecord:
    return StepRecord(
        name, "Succeeded", metadata={kind: {"Arn": arn}}, cache_hit_from=cache_hit_from
    )


# ---- the records -------------------------------------------------------------------------


def test_a_processing_job_is_billed_from_start_to_end_on_each_instance() -> None:
    record = processing_record("PreprocessData", processing_answer(300.2), "sagemaker")
    assert record == StepTime(
        step="PreprocessData",
        job_kind="ProcessingJob",
        job_arn=PROCESSING_ARN,
        instance_type="ml.m5.xlarge",
        instance_count=2,
        run_seconds=301,  # a started second counts whole (the stricter reading)
        billable_seconds=301,
        spot=None,
        local=False,
    )
    assert record.billed_instance_seconds == 602
    assert record.price_use == "processing"
    # 2 instances x 301 s at the shipped processing price of ml.m5.xlarge, $0.23 an hour.
    assert PRICING.cost_text(record) == "$0.0385"


def test_the_selected_instances_of_instance_preferences_are_what_is_billed() -> None:
    answer = processing_answer(3600)
    answer["ProcessingResources"]["ClusterConfig"] = {
        "InstancePreferences": [{"InstanceType": "ml.c5.xlarge"}, {"InstanceType": "ml.m5.xlarge"}],
        "SelectedInstanceType": "ml.m5.xlarge",
        "SelectedInstanceCount": 3,
        "VolumeSizeInGB": 30,
    }
    record = processing_record("PreprocessData", answer, "sagemaker")
    assert (record.instance_type, record.instance_count) == ("ml.m5.xlarge", 3)
    assert PRICING.cost_text(record) == "$0.6900"  # 3 instance-hours at $0.23


def test_a_processing_job_without_an_end_time_is_not_reported_and_has_no_cost() -> None:
    record = processing_record("PreprocessData", processing_answer(None), "sagemaker")
    assert record.run_seconds is None and record.billed_instance_seconds is None
    assert step_costs.summary_rows([record]) == [
        ["PreprocessData", "2 × ml.m5.xlarge", "not reported", "not reported", "–"]
    ]
    assert PRICING.cost_text(record) == "–"
    assert PRICING.total_text([record]) == "unknown"


def test_an_instance_type_no_table_prices_says_so() -> None:
    record = processing_record("Evaluate", processing_answer(60, 1, "ml.r5.large"), "sagemaker")
    assert PRICING.cost_text(record) == "cost unknown for ml.r5.large"


def test_processing_is_priced_at_the_tables_processing_price(tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(
        json.dumps(
            {
                "date": "2026-12-01",
                "regions": {
                    "us-east-1": {
                        "training": {"ml.m5.xlarge": 100.0},
                        "processing": {"ml.m5.xlarge": 3.6},
                    }
                },
            }
        )
    )
    record = processing_record("PreprocessData", processing_answer(500, 2), "sagemaker")
    # 1000 instance-seconds at $3.60 an hour: the processing price, not the training one.
    assert Pricing(load_prices(str(table)), "us-east-1").cost_text(record) == "$1.00"


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (STARTED, STARTED + dt.timedelta(seconds=2.5), 3),
        ("2026-12-05T10:00:00+00:00", "2026-12-05T10:01:00.100000+00:00", 61),
        ("2026-12-05T10:00:00Z", "2026-12-05T10:00:10Z", 10),
        (STARTED.replace(tzinfo=None), STARTED + dt.timedelta(seconds=5), 5),  # no zone: UTC
        (STARTED, STARTED - dt.timedelta(seconds=1), None),  # ends before it starts
        (STARTED, None, None),
        ("not a time", STARTED, None),
    ],
)
def test_interval_seconds_reads_datetimes_and_iso_text(
    start: Any, end: Any, seconds: int | None
) -> None:
    assert interval_seconds(start, end) == seconds


# ---- the table ---------------------------------------------------------------------------


def test_every_job_step_has_a_row_and_the_total_names_what_it_leaves_out() -> None:
    earlier = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/old1"
    steps = [
        step("PreprocessData", "ProcessingJob", PROCESSING_ARN),
        step("TrainModel", "TrainingJob", TRAINING_ARN),
        step("TuneModel", "TuningJob", TUNING_ARN),
        step("EvaluateModel", "ProcessingJob", PROCESSING_ARN, cache_hit_from=earlier),
        step("Gone", "ProcessingJob", PROCESSING_ARN + "-gone"),  # not described: no row
        StepRecord("CheckAccuracy", "Succeeded", metadata={"Condition": {"Outcome": "True"}}),
    ]
    jobs_ = Jobs({PROCESSING_ARN: processing_answer(300), TRAINING_ARN: training_answer()})
    summary = Runner(env={}, stdout=io.StringIO()).summary
    step_costs.add_table(summary, steps, jobs_, "sagemaker", PRICING)
    # PreprocessData: 600 instance-s, TrainModel 600: 1200 s at $0.23 an hour.
    assert summary.stringify() == (
        "#### Time and cost per step\n\n"
        "| Step | Instances | Run | Billable | Spot | Cost |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| PreprocessData | 2 × ml.m5.xlarge | 300 s | 300 s | – | $0.0383 |\n"
        "| TrainModel | 1 × ml.m5.xlarge | 600 s | 600 s | spot: off | $0.0383 |\n"
        "| TuneModel | – | – | – | – | cost of trials not read |\n"
        "| EvaluateModel | 2 × ml.m5.xlarge | 300 s | 300 s | reused from old1: not run now | $0 (reused) |\n"
        "| **Total** |  |  |  |  | **$0.0767 without TuneModel (cost unknown)** |\n\n"
        "Costs in us-east-1; prices (USD, on-demand): the project's table (AWS's on-demand "
        "prices as recorded, unverified here), 2026-12-05.\n\n"
    )


def test_no_backend_or_no_job_step_means_no_table() -> None:
    steps = [step("PreprocessData", "ProcessingJob", PROCESSING_ARN)]
    for jobs_, listed in ((None, steps), (Jobs({}), steps), (Jobs({}), [])):
        summary = Runner(env={}, stdout=io.StringIO()).summary
        step_costs.add_table(summary, listed, jobs_, "sagemaker", PRICING)
        assert summary.is_empty_buffer()


# ---- the local backend --------------------------------------------------------------------


def test_a_local_processing_job_records_its_start_and_end(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(job, 2)
    described = jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    started = dt.datetime.fromisoformat(described["ProcessingStartTime"])
    ended = dt.datetime.fromisoformat(described["ProcessingEndTime"])
    assert started.tzinfo is not None and started <= ended
    record = processing_record("PreprocessData", described, "local")
    assert record.run_seconds == interval_seconds(started, ended)
    assert record.billed_instance_seconds == 2 * (record.run_seconds or 0)
    assert step_costs.summary_rows([record])[0][:2] == ["PreprocessData", "2 × ml.m5.xlarge"]


# ---- the sagemaker backend against the AWS double ------------------------------------------


def test_the_double_describes_a_processing_job_with_its_resources_and_times(
    double: tuple[str, Double],  # noqa: F811 (the fixture)
) -> None:
    url, _ = double
    sagemaker, _ = _clients(url)
    request = processing_request(2, "ShardedByS3Key")
    request["ProcessingInputs"][0]["S3Input"]["S3Uri"] = "s3://example-bucket/data"
    request["ProcessingInputs"][1]["S3Input"]["S3Uri"] = "s3://example-bucket/code/report.py"
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = "s3://example-bucket/o"
    request["AppSpecification"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"
    sagemaker.create_processing_job(ProcessingJobName="baseline-churn", RoleArn=ROLE, **request)
    described = sagemaker.describe_processing_job(ProcessingJobName="baseline-churn")
    assert described["ProcessingResources"] == request["ProcessingResources"]
    # botocore parsed the timestamps: the wire format is the model's.
    assert isinstance(described["ProcessingStartTime"], dt.datetime)
    elapsed = described["ProcessingEndTime"] - described["ProcessingStartTime"]
    assert elapsed.total_seconds() == SCRIPTED_PROCESSING_SECONDS == 120


def test_the_sagemaker_backend_s_summary_has_the_reference_pipeline_s_steps(
    api: Any,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    from tests.test_build_pipeline import _inputs

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    backend = step_costs.BackendJobs(SageMakerBackend("us-east-1", session))
    first, _ = run(api, commit("a", "a"), "1")
    arn, _ = run(api, commit("a", "b"), "2")  # PreprocessData and TrainModel: cache hits
    result = BuildResult(status="Succeeded", execution_arn=arn, steps=api.list_steps(arn))
    runner = Runner(env={}, stdout=io.StringIO())
    report(_inputs(tmp_path / "definition.json"), result, runner, backend)
    first_id = first.rsplit("/", 1)[-1]
    text = runner.summary_text
    # The double's scripted times: processing 120 s, training 600 s (no spot here).
    assert (
        f"| PreprocessData | 1 × ml.m5.xlarge | 120 s | 120 s | reused from {first_id}: not run now | $0 (reused) |"
        in text
    )
    assert (
        f"| TrainModel | 1 × ml.m5.xlarge | 600 s | 600 s | reused from {first_id}: not run now | $0 (reused) |"
        in text
    )
    assert "| EvaluateModel | 1 × ml.m5.xlarge | 120 s | 120 s | – | $0.0077 |" in text
    assert "| **Total** |  |  |  |  | **$0.0077** |" in text
