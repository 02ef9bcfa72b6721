"""build-pipeline's "Time and cost per step" table: for each step that ran a job on instances,
its instances, how long it ran, how long they were billed, the spot saving (training only) and
the estimated cost; then a total, and where the prices come from.

The records are read from the backend (StepJobs): training steps by DescribeTrainingJob
(smgha/resources/training_time.py), processing steps by DescribeProcessingJob, tuning steps by
DescribeHyperParameterTuningJob and ListTrainingJobsForHyperParameterTuningJob (their trials,
smgha/resources/step_time.py). A transform step's job is not read (no reference pipeline has
one): its row says so and the total leaves it out, by name. Other steps (conditions,
RegisterModel, Fail) run on no instances of their own and have no row. A cost is an estimate:
billed instance-seconds at the price table's on-demand price (smgha/resources/prices.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from smgha.backends import Backend, StepRecord
from smgha.resources import training_time
from smgha.resources.hosting_cost import source_line
from smgha.resources.prices import Prices, load_prices, money
from smgha.resources.step_time import (
    PROCESSING_JOB,
    TRAINING_JOB,
    TRANSFORM_JOB,
    TUNING_JOB,
    StepTime,
    not_read_record,
    processing_record,
    tuning_record,
)
from smgha.summary import Summary

TITLE = "Time and cost per step"
HEADERS = ["Step", "Instances", "Run", "Billable", "Spot", "Cost"]
NOT_REPORTED = "not reported"
# Why a step's cost is not read, by its job's Metadata key.
NOT_READ = {TRANSFORM_JOB: "cost of the transform job not read"}
TRIALS_NOT_READ = "cost of trials not read"


class StepJobs(Protocol):
    """What the table needs of a backend: Describe*Job of a pipeline step's job, or None when
    there is no such job."""

    def describe_training_job(self, arn: str) -> dict[str, Any] | None: ...

    def describe_processing_job(self, arn: str) -> dict[str, Any] | None: ...

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None: ...

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True)
class BackendJobs:
    """StepJobs of a backend: its registry's DescribeTrainingJob and tuning job reads, and the
    DescribeProcessingJob of its monitoring area (which both adapters answer for any processing
    job by name: the local backend keeps a pipeline's jobs where it keeps a baselining job)."""

    backend: Backend

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        return self.backend.registry.describe_training_job(arn)

    def describe_processing_job(self, arn: str) -> dict[str, Any] | None:
        return self.backend.monitoring.describe_processing_job(arn.rsplit("/", 1)[-1])

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        return self.backend.registry.describe_tuning_job(arn)

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        return self.backend.registry.list_training_jobs_for_tuning_job(arn)


def step_times(steps: list[StepRecord], jobs: StepJobs, backend: str) -> list[StepTime]:
    """The records of the steps that ran a job, in the order the steps ran. A step whose job is
    not described (no such job) is left out."""
    records = []
    for step in steps:
        for kind in (*NOT_READ, TRAINING_JOB, PROCESSING_JOB, TUNING_JOB):
            arn = (step.metadata.get(kind) or {}).get("Arn")
            record = _record(step, kind, str(arn), jobs, backend) if arn else None
            if record is not None:
                records.append(record)
    return records


def _record(step: StepRecord, kind: str, arn: str, jobs: StepJobs, backend: str) -> StepTime | None:
    """The record of the step's job of `kind` (None: no such job)."""
    if kind in NOT_READ:
        return not_read_record(step.name, kind, arn, NOT_READ[kind], backend)
    if kind == TUNING_JOB:
        return _tuning(step, arn, jobs, backend)
    if kind == TRAINING_JOB:
        described, record_of = jobs.describe_training_job(arn), training_time.record_of
    else:
        described, record_of = jobs.describe_processing_job(arn), processing_record
    return (
        None if described is None else record_of(step.name, described, backend, step.cache_hit_from)
    )


def _tuning(step: StepRecord, arn: str, jobs: StepJobs, backend: str) -> StepTime:
    """A tuning step's record; its row says so when the job or its trials cannot be read."""
    described = jobs.describe_tuning_job(arn)
    trials = jobs.list_training_jobs_for_tuning_job(arn) if described is not None else None
    if described is None or trials is None:
        return not_read_record(step.name, TUNING_JOB, arn, TRIALS_NOT_READ, backend)
    return tuning_record(step.name, described, trials, backend, step.cache_hit_from)


@dataclass(frozen=True)
class Pricing:
    """The price tables and the region a run's costs are estimated with."""

    prices: Prices
    region: str

    def cost(self, record: StepTime) -> float | None:
        """Billed instance-seconds at the price of the job's use; a step reused from another
        execution cost nothing now; None: unknown (no price, no time, or not read)."""
        if record.reused_from:
            return 0.0
        if record.not_read:
            return None
        price = self.prices.hourly(record.price_use, record.instance_type, self.region)
        seconds = record.billed_instance_seconds
        return None if price is None or seconds is None else price.cost(1, seconds)

    def cost_text(self, record: StepTime) -> str:
        """The Cost column."""
        if record.reused_from:
            return "$0 (reused)"
        if record.not_read:
            return record.not_read
        if self.prices.hourly(record.price_use, record.instance_type, self.region) is None:
            return f"cost unknown for {record.instance_type or 'its instance type'}"
        cost = self.cost(record)
        return "–" if cost is None else money(cost)

    def total_text(self, records: list[StepTime]) -> str:
        """The total row's cost: the known costs' sum, naming the steps left out of it."""
        costs = [(r.step, self.cost(r)) for r in records]
        total = sum(cost for _, cost in costs if cost is not None)
        unknown = [step for step, cost in costs if cost is None]
        if not unknown:
            return money(total)
        if len(unknown) == len(costs):
            return "unknown"
        return f"{money(total)} without {', '.join(unknown)} (cost unknown)"

    def source(self, local: bool) -> str:
        return source_line(self.prices, self.region, local)


# Before inputs are read (a Inputs made in a test): the shipped table, the local region.
SHIPPED_PRICING = Pricing(load_prices(), "us-east-1")


def add_table(
    summary: Summary, steps: list[StepRecord], jobs: StepJobs | None, backend: str, pricing: Pricing
) -> None:
    """The table, when the execution has steps that ran jobs (None: no backend to ask, the
    table is left out): one row per step, a total row, then where the prices come from."""
    records = step_times(steps, jobs, backend) if jobs is not None else []
    if records:
        rows = [
            [*row, pricing.cost_text(r)]
            for row, r in zip(summary_rows(records), records, strict=True)
        ]
        rows.append(["**Total**", "", "", "", "", f"**{pricing.total_text(records)}**"])
        summary.heading(TITLE, 4).table(HEADERS, rows)
        summary.paragraph(pricing.source(backend == "local"))


def summary_rows(records: list[StepTime]) -> list[list[str]]:
    """Rows under HEADERS but Cost, one per step."""
    return [
        [
            r.step,
            _instances(r),
            "–" if r.not_read else _seconds_text(r.run_seconds),
            "–" if r.not_read else _seconds_text(r.billable_seconds),
            training_time.spot_text(r),
        ]
        for r in records
    ]


def _instances(record: StepTime) -> str:
    if record.not_read:
        return "–"
    fleet = str(record.instance_count)
    if record.instance_type:
        fleet = f"{record.instance_count} × {record.instance_type}"
    if record.job_kind == TUNING_JOB:
        return f"{record.trials} trial{'' if record.trials == 1 else 's'}, each {fleet}"
    return fleet


def _seconds_text(seconds: int | None) -> str:
    return NOT_REPORTED if seconds is None else f"{seconds} s"
