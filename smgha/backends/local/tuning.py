"""A TuningStep on the local backend: a real hyperparameter search, each trial a training job.

The step's arguments are CreateHyperParameterTuningJob's request without its name (the SDK's
TuningStep.arguments). What runs here, and where it differs from SageMaker:

- Strategy Random: hyperparameters drawn at random from the ranges, by their ScalingType
  (Linear; Logarithmic: uniform in log space; ReverseLogarithmic: uniform in log(1 - x);
  Auto is read as Linear). Bayesian is run as random search too: SageMaker's model of the
  objective is not public, and a random search over the same ranges is a correct, if less
  efficient, tuner. Grid: every combination of the categorical values, in order. Hyperband
  stops trials early by SageMaker's own schedule and is refused.
- RandomSeed (HyperParameterTuningJobConfig) seeds the draws; without one the seed is the
  job's name, so a re-run draws the same trials. Early stopping is off whatever
  TrainingJobEarlyStoppingType says: every trial runs to its end.
- MaxNumberOfTrainingJobs trials in all, at most MaxParallelTrainingJobs at once and never more
  than this machine's CPUs.
- Each trial is a training job made from the one TrainingJobDefinition, spot and checkpoints
  included (spot_training.py). Its CheckpointConfig is the definition's, unchanged: every trial
  restores from and saves to the same S3Uri. Whether SageMaker gives each trial a location of
  its own (a suffix, say) is not documented (botocore's HyperParameterTrainingJobDefinition
  and CheckpointConfig, the Developer Guide's model-checkpoints.html say nothing of it): the
  stricter reading shares it, so a script keeps its checkpoints apart itself
  (ml/sklearn_model/train.py: a folder named after TRAINING_JOB_NAME).
- The step's properties are DescribeHyperParameterTuningJob's record and
  ListTrainingJobsForHyperParameterTuningJob's `TrainingJobSummaries`, sorted best first
  (the SDK's TuningStep.get_top_model_s3_uri reads TrainingJobSummaries[k].TrainingJobName,
  index 0 the best, and joins it with the output path and "output/model.tar.gz", which is
  where each trial's model is written).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from smgha.backends.local import jobs, state, training

# botocore's HyperParameterTuningJobStrategyType; what this module does with each is above.
RANDOM_LIKE = ("Random", "Bayesian")
# ListTrainingJobsForHyperParameterTuningJob returns at most this many summaries; the SDK
# documents top_k as 0-49.
MAX_SUMMARIES = 50


def run_tuning(request: dict[str, Any], job: jobs.JobContext) -> dict[str, Any]:
    """Run the search; return the tuning job's Describe record with TrainingJobSummaries."""
    config = request["HyperParameterTuningJobConfig"]
    definition = _one_definition(request)
    strategy = config.get("Strategy", "Bayesian")
    objective = config["HyperParameterTuningJobObjective"]
    limits = config.get("ResourceLimits") or {}
    ranges = config.get("ParameterRanges") or definition.get("HyperParameterRanges") or {}
    seed = config.get("RandomSeed", int(hashlib.sha256(job.job_name.encode()).hexdigest()[:8], 16))
    candidates = _candidates(strategy, ranges, limits, random.Random(seed))
    parallel = max(1, min(int(limits.get("MaxParallelTrainingJobs", 1)), os.cpu_count() or 1))
    job.log(
        f"tuning: {len(candidates)} trials ({strategy}{' as random search' if strategy == 'Bayesian' else ''}), "
        f"{parallel} at once, objective {objective['Type']} {objective['MetricName']}"
    )
    names = [_trial_name(job.job_name, number, tuned) for number, tuned in enumerate(candidates, 1)]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        summaries = list(
            pool.map(
                lambda trial: _run_trial(definition, objective, job, *trial),
                zip(names, candidates, strict=True),
            )
        )
    ranked = _ranked(summaries, objective["Type"])
    succeeded = [s for s in ranked if s.get("FinalHyperParameterTuningJobObjectiveMetric")]
    if not succeeded:
        reasons = {s.get("FailureReason", "no objective metric") for s in ranked}
        raise jobs.JobFailed(
            f"no training job of the tuning job succeeded: {'; '.join(sorted(reasons))}"
        )
    best = succeeded[0]
    job.log(
        f"tuning: best {best['TrainingJobName']} {objective['MetricName']}="
        f"{best['FinalHyperParameterTuningJobObjectiveMetric']['Value']:g} {best['TunedHyperParameters']}"
    )
    failed = len(ranked) - len(succeeded)
    return {
        **request,
        "HyperParameterTuningJobName": job.job_name,
        "HyperParameterTuningJobArn": job.arn("hyper-parameter-tuning-job"),
        "HyperParameterTuningJobStatus": "Completed",
        "TrainingJobStatusCounters": {
            "Completed": sum(1 for s in ranked if s["TrainingJobStatus"] == "Completed"),
            "InProgress": 0,
            "RetryableError": 0,
            "NonRetryableError": sum(1 for s in ranked if s["TrainingJobStatus"] == "Failed"),
            "Stopped": 0,
        },
        "ObjectiveStatusCounters": {"Succeeded": len(succeeded), "Pending": 0, "Failed": failed},
        "BestTrainingJob": best,
        "TrainingJobSummaries": ranked[:MAX_SUMMARIES],
    }


def _one_definition(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("WarmStartConfig"):
        raise jobs.JobFailed(
            "a warm-start tuning job (WarmStartConfig) does not run on the local backend: "
            "its parent jobs' results are in SageMaker; use the sagemaker backend"
        )
    definition = request.get("TrainingJobDefinition")
    if not definition:
        raise jobs.JobFailed(
            "the local backend runs a tuning job with one TrainingJobDefinition; "
            "several TrainingJobDefinitions need the sagemaker backend"
        )
    return dict(definition)


def _candidates(
    strategy: str, ranges: dict[str, Any], limits: dict[str, Any], draw: random.Random
) -> list[dict[str, str]]:
    """The hyperparameters of each trial, as the strings a training job receives."""
    most = int(limits.get("MaxNumberOfTrainingJobs", 0) or 0)
    if strategy == "Grid":
        if ranges.get("IntegerParameterRanges") or ranges.get("ContinuousParameterRanges"):
            raise jobs.JobFailed("a Grid search takes categorical parameter ranges only")
        categorical = ranges.get("CategoricalParameterRanges") or []
        names = [r["Name"] for r in categorical]
        grid = [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(r["Values"] for r in categorical))
        ]
        return grid[:most] if most else grid
    if strategy not in RANDOM_LIKE:
        raise jobs.JobFailed(
            f"the {strategy} tuning strategy does not run on the local backend (it stops trials by "
            "SageMaker's own schedule); use Random, Bayesian or Grid, or the sagemaker backend"
        )
    if most < 1:
        raise jobs.JobFailed("ResourceLimits.MaxNumberOfTrainingJobs must be at least 1")
    return [_draw(ranges, draw) for _ in range(most)]


def _draw(ranges: dict[str, Any], draw: random.Random) -> dict[str, str]:
    tuned: dict[str, str] = {}
    for spec in ranges.get("IntegerParameterRanges") or []:
        # botocore's IntegerParameterRange.ScalingType lists Auto, Linear and Logarithmic only
        # (ReverseLogarithmic is for continuous ranges within [0, 1)): refused as SageMaker would.
        if spec.get("ScalingType") == "ReverseLogarithmic":
            raise jobs.JobFailed(
                f"parameter range {spec['Name']}: an integer range takes Auto, Linear or "
                "Logarithmic scaling, not ReverseLogarithmic"
            )
        value = _scaled(spec, draw)
        tuned[spec["Name"]] = str(
            min(int(spec["MaxValue"]), max(int(spec["MinValue"]), round(value)))
        )
    for spec in ranges.get("ContinuousParameterRanges") or []:
        tuned[spec["Name"]] = repr(_scaled(spec, draw))
    for spec in ranges.get("CategoricalParameterRanges") or []:
        tuned[spec["Name"]] = str(draw.choice(spec["Values"]))
    return tuned


def _scaled(spec: dict[str, Any], draw: random.Random) -> float:
    """A value in [MinValue, MaxValue] drawn by the range's ScalingType."""
    low, high = float(spec["MinValue"]), float(spec["MaxValue"])
    scaling = spec.get("ScalingType", "Auto")
    if low > high:
        raise jobs.JobFailed(
            f"parameter range {spec['Name']}: MinValue {low:g} is above MaxValue {high:g}"
        )
    if scaling == "Logarithmic":
        if low <= 0:
            raise jobs.JobFailed(
                f"parameter range {spec['Name']}: Logarithmic scaling needs MinValue above 0"
            )
        return math.exp(draw.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic":
        if not 0 <= low <= high < 1:
            raise jobs.JobFailed(
                f"parameter range {spec['Name']}: ReverseLogarithmic scaling needs 0 <= MinValue <= MaxValue < 1"
            )
        return 1 - math.exp(draw.uniform(math.log(1 - high), math.log(1 - low)))
    return draw.uniform(low, high)  # Linear, and Auto (SageMaker's choice is not documented)


def _trial_name(tuning: str, number: int, tuned: dict[str, str]) -> str:
    """<tuning job>-<NNN>-<hash>, as SageMaker names a tuning job's training jobs."""
    digest = hashlib.sha256(repr(sorted(tuned.items())).encode()).hexdigest()[:8]
    return f"{tuning[: 63 - 13]}-{number:03d}-{digest}"


def _run_trial(
    definition: dict[str, Any],
    objective: dict[str, Any],
    job: jobs.JobContext,
    name: str,
    tuned: dict[str, str],
) -> dict[str, Any]:
    """One training job with the tuned hyperparameters; its summary (never raises)."""
    request = {k: v for k, v in definition.items() if k not in ("HyperParameterRanges", "StaticHyperParameters", "TuningObjective", "DefinitionName")}  # fmt: skip
    # SageMaker gives each trial the objective as a hyperparameter too; the training toolkit
    # keeps it out of a script's arguments (see script_training.py) and the built-in
    # algorithm ignores it.
    request["HyperParameters"] = {
        **(definition.get("StaticHyperParameters") or {}),
        **tuned,
        "_tuning_objective_metric": objective["MetricName"],
    }
    trial = replace(job, job_dir=job.job_dir / "trials" / name, job_name=name)
    trial.job_dir.mkdir(parents=True, exist_ok=True)
    started = state.to_iso(state.now())
    # HyperParameterTrainingJobSummary (botocore's model): CreationTime, and the billed interval
    # TrainingStartTime to TrainingEndTime (build-pipeline's time and cost per step reads it).
    summary: dict[str, Any] = {"TrainingJobName": name, "TunedHyperParameters": tuned, "CreationTime": started}  # fmt: skip
    try:
        described = training.run_training(request, trial)
    except jobs.JobFailed as error:
        job.log(f"tuning: {name} failed: {error}")
        # Billed until the failure, as SageMaker bills a failed job (the stricter reading).
        ended = state.to_iso(state.now())
        return {**summary, "TrainingJobArn": trial.arn("training-job"), "TrainingJobStatus": "Failed", "FailureReason": str(error), "ObjectiveStatus": "Failed", "TrainingStartTime": started, "TrainingEndTime": ended}  # fmt: skip
    state.write_json_atomic(trial.job_dir / state.DESCRIBED_FILE, described)
    metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []}
    summary.update(
        TrainingJobArn=described["TrainingJobArn"],
        TrainingJobStatus="Completed",
        TrainingStartTime=described.get("TrainingStartTime"),
        TrainingEndTime=described.get("TrainingEndTime"),
    )
    if objective["MetricName"] not in metrics:
        job.log(f"tuning: {name} reported no {objective['MetricName']} (it has {sorted(metrics)})")
        return {**summary, "ObjectiveStatus": "Failed", "FailureReason": f"no objective metric {objective['MetricName']}"}  # fmt: skip
    value = float(metrics[objective["MetricName"]])
    job.log(f"tuning: {name} {objective['MetricName']}={value:g} {tuned}")
    return {
        **summary,
        "ObjectiveStatus": "Succeeded",
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": objective["Type"],
            "MetricName": objective["MetricName"],
            "Value": value,
        },
    }


def _ranked(summaries: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Best first by the objective (Maximize: highest), trials without one last."""
    sign = -1.0 if direction == "Maximize" else 1.0

    def key(summary: dict[str, Any]) -> tuple[int, float]:
        metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
        return (1, 0.0) if metric is None else (0, sign * float(metric["Value"]))

    return sorted(summaries, key=key)
