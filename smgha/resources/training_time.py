"""build-pipeline's training time: for each training step of an execution, the seconds it
trained, the seconds it was billed, and what managed spot training saved.

The facts come from DescribeTrainingJob (botocore's sagemaker model):
TrainingTimeInSeconds, "the training time in seconds", and BillableTimeInSeconds, "the
billable time ... Multiply BillableTimeInSeconds by the number of instances (InstanceCount) in
your training cluster to get the total compute time SageMaker bills you ... You can calculate
the savings from using managed spot training using the formula (1 - BillableTimeInSeconds /
TrainingTimeInSeconds) * 100". Each step's facts are one `TrainingTime` record, so a cost line
(instance type x instance count x billable seconds x a price) can be computed from the same
records the summary shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from smgha.backends import StepRecord
from smgha.resources.hosting_cost import source_line
from smgha.resources.prices import Prices, load_prices, money
from smgha.summary import Summary

# The step Metadata key of a training step's job (ListPipelineExecutionSteps).
TRAINING_JOB = "TrainingJob"

HEADERS = ["Step", "Instances", "Training", "Billable", "Spot", "Cost"]
SPOT_OFF = "spot: off"
# The local backend bills nothing and discounts nothing (smgha/backends/local/spot_training.py).
LOCAL_BILLING = "local: billed as run"


class DescribesTrainingJobs(Protocol):
    """What the table needs of a backend: its registry's DescribeTrainingJob."""

    def describe_training_job(self, arn: str) -> dict[str, Any] | None: ...


# None: no backend to ask (the table is left out).
TrainingJobs = DescribesTrainingJobs | None


@dataclass(frozen=True)
class TrainingTime:
    """One training step's job, as DescribeTrainingJob describes it."""

    step: str  # the pipeline step's name
    job_kind: str  # its Metadata key: "TrainingJob"
    job_arn: str
    instance_type: str  # ResourceConfig.InstanceType ('' when the record has none)
    instance_count: int  # ResourceConfig.InstanceCount
    training_seconds: int | None  # TrainingTimeInSeconds (None: not reported, e.g. running)
    billable_seconds: int | None  # BillableTimeInSeconds, per instance
    spot: bool  # EnableManagedSpotTraining
    local: bool  # run by the local backend: billed as it ran
    reused_from: str = ""  # the execution whose run was reused (a cache hit): not run now

    @property
    def billed_instance_seconds(self) -> int | None:
        """What SageMaker bills: BillableTimeInSeconds x InstanceCount (botocore's docs)."""
        if self.billable_seconds is None:
            return None
        return self.billable_seconds * self.instance_count

    @property
    def saving(self) -> float | None:
        """1 - billable / training, with spot on and both times known; else None."""
        if not self.spot or not self.training_seconds or self.billable_seconds is None:
            return None
        return 1 - self.billable_seconds / self.training_seconds


@dataclass(frozen=True)
class Pricing:
    """The price tables and the region a run's costs are estimated with."""

    prices: Prices
    region: str

    def cost_text(self, record: TrainingTime) -> str:
        """The Cost column: billed instance-seconds at the training price (a step reused from
        another execution cost nothing now)."""
        if record.reused_from:
            return "$0 (reused)"
        price = self.prices.hourly("training", record.instance_type, self.region)
        if price is None:
            return f"cost unknown for {record.instance_type or 'its instance type'}"
        seconds = record.billed_instance_seconds
        return "–" if seconds is None else money(price.cost(1, seconds))

    def source(self, local: bool) -> str:
        return source_line(self.prices, self.region, local)


# Before inputs are read (a Inputs made in a test): the shipped table, the local region.
SHIPPED_PRICING = Pricing(load_prices(), "us-east-1")


def add_table(
    summary: Summary, steps: list[StepRecord], jobs: TrainingJobs, backend: str, pricing: Pricing
) -> None:
    """build-pipeline's "Training time and cost" table, when the execution has training steps:
    each step's instances, times, spot saving and estimated cost, then where the prices come
    from."""
    records = training_times(steps, jobs, backend) if jobs is not None else []
    if records:
        rows = [
            [*row, pricing.cost_text(r)]
            for row, r in zip(summary_rows(records), records, strict=True)
        ]
        summary.heading("Training time and cost", 4).table(HEADERS, rows)
        summary.paragraph(pricing.source(backend == "local"))


def training_times(
    steps: list[StepRecord], jobs: DescribesTrainingJobs, backend: str
) -> list[TrainingTime]:
    """The training steps' records, in the order the steps ran. A step whose job is not
    described (no such job) is left out; `jobs` is the backend's registry."""
    records = []
    for step in steps:
        arn = (step.metadata.get(TRAINING_JOB) or {}).get("Arn")
        if not arn:
            continue
        described = jobs.describe_training_job(str(arn))
        if described is None:
            continue
        records.append(record_of(step.name, described, backend, step.cache_hit_from))
    return records


def record_of(
    step: str, described: dict[str, Any], backend: str, reused_from: str = ""
) -> TrainingTime:
    """One step's record from its DescribeTrainingJob answer."""
    resources = described.get("ResourceConfig") or {}
    return TrainingTime(
        step=step,
        job_kind=TRAINING_JOB,
        job_arn=str(described.get("TrainingJobArn", "")),
        instance_type=str(resources.get("InstanceType") or ""),
        instance_count=int(resources.get("InstanceCount") or 1),
        training_seconds=_seconds(described.get("TrainingTimeInSeconds")),
        billable_seconds=_seconds(described.get("BillableTimeInSeconds")),
        spot=described.get("EnableManagedSpotTraining") is True,
        local=backend == "local",
        reused_from=reused_from,
    )


def _seconds(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def spot_text(record: TrainingTime) -> str:
    """The Spot column: off; on with its saving; on, locally, billed as it ran."""
    if record.reused_from:
        return f"reused from {record.reused_from.rsplit('/', 1)[-1]}: not run now"
    if not record.spot:
        return SPOT_OFF
    if record.local:
        return f"spot: on · {LOCAL_BILLING}"
    saving = record.saving
    if saving is None:
        return "spot: on · saving unknown (no billable or training time reported)"
    return f"spot: on · saving {saving:.0%}"


def summary_rows(records: list[TrainingTime]) -> list[list[str]]:
    """Rows under HEADERS but Cost, one per training step."""
    return [
        [
            r.step,
            f"{r.instance_count} × {r.instance_type}" if r.instance_type else str(r.instance_count),
            _seconds_text(r.training_seconds),
            _seconds_text(r.billable_seconds),
            spot_text(r),
        ]
        for r in records
    ]


def _seconds_text(seconds: int | None) -> str:
    return "–" if seconds is None else f"{seconds} s"
