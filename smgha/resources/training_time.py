"""A training step's time: the seconds it trained, the seconds it was billed, and what managed
spot training saved, as one `StepTime` record (smgha/resources/step_time.py) of build-pipeline's
"Time and cost per step" table (smgha/resources/step_costs.py).

The facts come from DescribeTrainingJob (botocore's sagemaker model):
TrainingTimeInSeconds, "the training time in seconds", and BillableTimeInSeconds, "the
billable time ... Multiply BillableTimeInSeconds by the number of instances (InstanceCount) in
your training cluster to get the total compute time SageMaker bills you ... You can calculate
the savings from using managed spot training using the formula (1 - BillableTimeInSeconds /
TrainingTimeInSeconds) * 100".
"""

from __future__ import annotations

from typing import Any

from smgha.resources.step_time import TRAINING_JOB, TUNING_JOB, StepTime, whole_seconds

SPOT_OFF = "spot: off"
# The local backend bills nothing and discounts nothing (smgha/backends/local/spot_training.py).
LOCAL_BILLING = "local: billed as run"


def record_of(
    step: str, described: dict[str, Any], backend: str, reused_from: str = ""
) -> StepTime:
    """One training step's record from its DescribeTrainingJob answer."""
    resources = described.get("ResourceConfig") or {}
    return StepTime(
        step=step,
        job_kind=TRAINING_JOB,
        job_arn=str(described.get("TrainingJobArn", "")),
        instance_type=str(resources.get("InstanceType") or ""),
        instance_count=int(resources.get("InstanceCount") or 1),
        run_seconds=whole_seconds(described.get("TrainingTimeInSeconds")),
        billable_seconds=whole_seconds(described.get("BillableTimeInSeconds")),
        spot=described.get("EnableManagedSpotTraining") is True,
        local=backend == "local",
        reused_from=reused_from,
    )


def spot_text(record: StepTime) -> str:
    """The Spot column: off; on with its saving; on, locally, billed as it ran; '–' for a job
    that is not a training job (spot is a training feature)."""
    if record.reused_from:
        return f"reused from {record.reused_from.rsplit('/', 1)[-1]}: not run now"
    if record.spot is None:
        return "–"
    if not record.spot:
        return SPOT_OFF
    if record.local:
        return f"spot: on · {LOCAL_BILLING}"
    if record.job_kind == TUNING_JOB:  # its trials' billable times are not read (step_time.py)
        return "spot: on · saving not read (costed as run)"
    saving = record.saving
    if saving is None:
        return "spot: on · saving unknown (no billable or training time reported)"
    return f"spot: on · saving {saving:.0%}"
