"""What one pipeline step's job ran on and for how long: the record build-pipeline's "Time and
cost per step" table (smgha/resources/step_costs.py) shows and prices.

A step's job is named in its ListPipelineExecutionSteps Metadata under a key per kind of job
(TrainingJob, ProcessingJob, ...); its Describe*Job answer gives the instances and the times:

- training (smgha/resources/training_time.py): ResourceConfig, TrainingTimeInSeconds and
  BillableTimeInSeconds, which SageMaker reports itself.
- tuning (here, tuning_record): the trials' instances and billed intervals.
- processing (here): DescribeProcessingJob's ProcessingResources.ClusterConfig.InstanceType and
  InstanceCount, ProcessingStartTime ("The time at which the processing job started") and
  ProcessingEndTime ("The time at which the processing job completed"), botocore's sagemaker
  model (2017-07-24, botocore 1.44). The same model's ClusterConfig.SelectedInstanceType and
  SelectedInstanceCount, returned instead when the job was created with InstancePreferences,
  say "The job is billed for this instance type and count": they win when present.

How processing is billed is not confirmed by a source: the model says of processing times
only when the job started and completed, where it says of TrainingStartTime and
TransformStartTime "You are billed for the time interval between this time and" the end time;
AWS's pricing page (aws.amazon.com/sagemaker/pricing) bills instances per second. The stricter
reading is taken: each instance is billed the whole interval from ProcessingStartTime to
ProcessingEndTime, a started second counting as a whole one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

# The step Metadata keys of the jobs the table reads (ListPipelineExecutionSteps).
TRAINING_JOB = "TrainingJob"
PROCESSING_JOB = "ProcessingJob"
TUNING_JOB = "TuningJob"
TRANSFORM_JOB = "TransformJob"
# What a job's instances are priced as (smgha/resources/prices.py USES); a tuning job's
# trials are training jobs.
PRICE_USES = {
    TRAINING_JOB: "training",
    PROCESSING_JOB: "processing",
    TUNING_JOB: "training",
    TRANSFORM_JOB: "transform",
}


@dataclass(frozen=True)
class StepTime:
    """One step's job: its instances, how long it ran, how long each instance was billed."""

    step: str  # the pipeline step's name
    job_kind: str  # its Metadata key: TRAINING_JOB, PROCESSING_JOB, ...
    job_arn: str
    instance_type: str  # '' when the record has none
    instance_count: int
    run_seconds: int | None  # how long the job ran (None: not reported, e.g. still running)
    billable_seconds: int | None  # billed per instance (None: not reported)
    spot: bool | None  # managed spot training (None: not a training job, no such thing)
    local: bool  # run by the local backend: billed as it ran
    reused_from: str = ""  # the execution whose run was reused (a cache hit): not run now
    not_read: str = ""  # why its cost was not read (e.g. a transform job): no cost
    trials: int = 0  # a tuning step's training jobs; its times are their sums

    @property
    def billed_instance_seconds(self) -> int | None:
        """What SageMaker bills: the billable seconds of each instance x the instances."""
        if self.billable_seconds is None:
            return None
        return self.billable_seconds * self.instance_count

    @property
    def saving(self) -> float | None:
        """1 - billable / run time, with spot on and both times known; else None."""
        if not self.spot or not self.run_seconds or self.billable_seconds is None:
            return None
        return 1 - self.billable_seconds / self.run_seconds

    @property
    def price_use(self) -> str:
        return PRICE_USES.get(self.job_kind, "training")


def processing_record(
    step: str, described: dict[str, Any], backend: str, reused_from: str = ""
) -> StepTime:
    """One processing step's record from its DescribeProcessingJob answer (the module's
    docstring: which fields, and the billing this reads into them)."""
    cluster = (described.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    instance_type = cluster.get("SelectedInstanceType") or cluster.get("InstanceType") or ""
    count = cluster.get("SelectedInstanceCount") or cluster.get("InstanceCount") or 1
    seconds = interval_seconds(
        described.get("ProcessingStartTime"), described.get("ProcessingEndTime")
    )
    return StepTime(
        step=step,
        job_kind=PROCESSING_JOB,
        job_arn=str(described.get("ProcessingJobArn", "")),
        instance_type=str(instance_type),
        instance_count=int(count),
        run_seconds=seconds,
        billable_seconds=seconds,
        spot=None,
        local=backend == "local",
        reused_from=reused_from,
    )


def tuning_record(
    step: str,
    described: dict[str, Any],
    trials: list[dict[str, Any]],
    backend: str,
    reused_from: str = "",
) -> StepTime:
    """A tuning step's record: its trials (ListTrainingJobsForHyperParameterTuningJob's
    TrainingJobSummaries) on the instances of their training job definition
    (DescribeHyperParameterTuningJob's TrainingJobDefinition, or the one of
    TrainingJobDefinitions the summary's TrainingJobDefinitionName names). Each trial is billed
    from its TrainingStartTime to its TrainingEndTime (HyperParameterTrainingJobSummary in
    botocore's model: "You are billed for the time interval between the value of
    TrainingStartTime and this time"); a trial that never started cost nothing, one still
    running makes the times unknown. With spot, SageMaker bills less than that interval (each
    trial's BillableTimeInSeconds, not read: DescribeTrainingJob of every trial), so the cost
    shown is at most what was billed. Trials on different instances: not read."""
    arn = str(described.get("HyperParameterTuningJobArn", ""))
    single = described.get("TrainingJobDefinition") or {}
    named = {d.get("DefinitionName"): d for d in described.get("TrainingJobDefinitions") or []}
    definitions = [named.get(t.get("TrainingJobDefinitionName")) or single for t in trials]
    fleets = {_fleet(d) for d in definitions or [single]}
    if len(fleets) > 1:
        why = "trials on several fleets: cost not read"
        return not_read_record(step, TUNING_JOB, arn, why, backend)
    instance_type, count = fleets.pop()
    if not instance_type:  # e.g. HyperParameterTuningResourceConfig's InstanceConfigs
        return not_read_record(step, TUNING_JOB, arn, "trials' instances not read", backend)
    total, running = 0, False
    for trial in trials:
        seconds = interval_seconds(trial.get("TrainingStartTime"), trial.get("TrainingEndTime"))
        running = running or (seconds is None and trial.get("TrainingJobStatus") == "InProgress")
        total += seconds or 0
    return StepTime(
        step=step,
        job_kind=TUNING_JOB,
        job_arn=arn,
        instance_type=instance_type,
        instance_count=count,
        run_seconds=None if running else total,
        billable_seconds=None if running else total,
        spot=all(d.get("EnableManagedSpotTraining") is True for d in definitions or [single]),
        local=backend == "local",
        reused_from=reused_from,
        trials=len(trials),
    )


def _fleet(definition: dict[str, Any]) -> tuple[str, int]:
    """A training job definition's (instance type, instance count): its ResourceConfig."""
    resources = definition.get("ResourceConfig") or {}
    return str(resources.get("InstanceType") or ""), int(resources.get("InstanceCount") or 1)


def not_read_record(step: str, job_kind: str, job_arn: str, why: str, backend: str) -> StepTime:
    """A step whose job's cost is not read (its row says why, its cost is unknown)."""
    return StepTime(step, job_kind, job_arn, "", 0, None, None, None, backend == "local", "", why)


def whole_seconds(value: Any) -> int | None:
    """An API's integer seconds (TrainingTimeInSeconds, ...), or None when absent."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def interval_seconds(start: Any, end: Any) -> int | None:
    """Whole seconds from `start` to `end`, a started second counted (None: either is not
    reported, or the end is before the start). botocore gives timestamps as datetimes; the
    local backend's records hold them as ISO 8601 text."""
    began, ended = _moment(start), _moment(end)
    if began is None or ended is None or ended < began:
        return None
    return math.ceil((ended - began).total_seconds())


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    # A time without a zone is UTC (botocore's parser gives tz-aware UTC datetimes).
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
