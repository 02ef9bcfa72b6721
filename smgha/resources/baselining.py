"""A monitor's baseline: the statistics and constraints of the training data that captured
requests are compared with. Computed here (in-process, smgha/monitor.py) or by SageMaker's
baselining job, as the SageMaker SDK's DefaultModelMonitor.suggest_baseline starts it."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha import monitor
from smgha.backends import Monitoring, Objects
from smgha.errors import InputError, StageError
from smgha.progress import Waiting
from smgha.resources.hosting import digest
from smgha.resources.monitoring import (
    CONTAINER_BASELINE_INPUT,
    CONTAINER_OUTPUT,
    BaselinedKind,
    MonitorSettings,
)
from smgha.resources.names import bounded_sagemaker_name

# ProcessingJobStatus values after which nothing more happens on its own.
JOB_ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class BaselineFiles:
    """Where a baseline's two documents are (both written under `folder`)."""

    folder: str  # s3://bucket/prefix/baseline

    @property
    def statistics_uri(self) -> str:
        return f"{self.folder}/statistics.json"

    @property
    def constraints_uri(self) -> str:
        return f"{self.folder}/constraints.json"

    @property
    def job_dataset_uri(self) -> str:
        return f"{self.folder}/dataset/features.csv"


def read_dataset(
    read: Callable[[], bytes], uri: str, header: bool, label_column: str
) -> monitor.Dataset:
    """The training CSV a baseline is computed from (`read` fetches it); InputError naming
    baseline-data-uri when it cannot be read or parsed."""
    try:
        data = read()
    except (StageError, OSError) as error:
        problem = error.detail if isinstance(error, StageError) else str(error)
        raise InputError(
            "baseline-data-uri",
            f"{uri} cannot be read: {problem}",
            "Give the training CSV as an s3:// URI or a path relative to the workspace.",
        ) from None
    try:
        return monitor.read_csv(data, header=header, label_column=label_column)
    except monitor.DataError as error:
        raise InputError(
            "baseline-data-uri",
            f"{uri} is not a usable CSV: {error}",
            "Check the file, header and label-column.",
        ) from None


def features_csv(dataset: monitor.Dataset, header: bool) -> bytes:
    """The features of `dataset` as the CSV a baselining job reads (the label left out)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(dataset.names)
    writer.writerows([["" if c is None else c for c in row] for row in dataset.rows])
    return buffer.getvalue().encode("utf-8")


def job_request(
    endpoint: str,
    files: BaselineFiles,
    features: bytes,
    environment: dict[str, str],
    settings: MonitorSettings,
) -> dict[str, Any]:
    """CreateProcessingJob of the baselining job the SageMaker SDK's suggest_baseline starts
    (the monitor kind gives its `environment`), on `features` uploaded to files.job_dataset_uri."""
    body = {
        "ProcessingInputs": [
            {
                "InputName": "baseline_dataset_input",
                "S3Input": {
                    "S3Uri": files.job_dataset_uri,
                    "LocalPath": CONTAINER_BASELINE_INPUT,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "monitoring_output",
                    "S3Output": {
                        "S3Uri": files.folder,
                        "LocalPath": CONTAINER_OUTPUT,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.instance_type,
                "VolumeSizeInGB": 20,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "AppSpecification": {"ImageUri": settings.image},
        "Environment": environment,
        "RoleArn": settings.role_arn,
    }
    # The same data and settings: the same job name, so a re-run finds the finished job.
    named = digest({"request": body, "data": hashlib.sha256(features).hexdigest()})
    name = bounded_sagemaker_name(f"{endpoint}-baseline", suffix=f"-{named}")
    return {"ProcessingJobName": name, **body}


def write_in_process(
    objects: Objects,
    files: BaselineFiles,
    statistics: dict[str, Any],
    constraints: dict[str, Any],
) -> None:
    objects.put_object(files.statistics_uri, monitor.json_bytes(statistics))
    objects.put_object(files.constraints_uri, monitor.json_bytes(constraints))


def run_job(
    jobs: Monitoring,
    objects: Objects,
    request: dict[str, Any],
    files: BaselineFiles,
    features: bytes,
    timeout_seconds: float,
    poll_seconds: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Start the baselining job unless a run with the same name exists, and wait for it."""
    name = request["ProcessingJobName"]
    if jobs.describe_processing_job(name) is None:
        objects.put_object(files.job_dataset_uri, features)
        jobs.create_processing_job(request)
        log(f"Started baselining job {name} on {files.job_dataset_uri}")
    started = clock()
    waiting = Waiting(f"baselining job {name}", log, clock)
    while True:
        job = jobs.describe_processing_job(name) or {}
        status = job.get("ProcessingJobStatus", "missing")
        if status in JOB_ENDED:
            break
        if clock() - started >= timeout_seconds:
            raise StageError(
                "timed out", f"baselining job {name} is still {status}; it goes on, run again later"
            )
        waiting.tick(status)
        sleep(waiting.pause(poll_seconds))
    if status != "Completed":
        reason = job.get("FailureReason") or "no reason given"
        raise StageError(f"baselining job {status}", f"{name}: {reason}")
    log(f"Baselining job {name} completed")


def set_drift_threshold(
    objects: Objects, files: BaselineFiles, threshold: float, log: Callable[[str], None]
) -> None:
    """The job suggests its own comparison_threshold; the user's is written over it."""
    constraints = objects.read_json(files.constraints_uri)
    config = constraints.setdefault("monitoring_config", {})
    distribution = config.setdefault("distribution_constraints", {})
    if distribution.get("comparison_threshold") != threshold:
        distribution["comparison_threshold"] = threshold
        objects.put_object(files.constraints_uri, monitor.json_bytes(constraints))
        log(f"Set comparison_threshold to {threshold:g} in {files.constraints_uri}")


def read_statistics(objects: Objects, files: BaselineFiles) -> dict[str, Any]:
    statistics = objects.read_json(files.statistics_uri)
    if not isinstance(statistics, dict):
        raise StageError(
            "unreadable baseline", f"{files.statistics_uri} holds no statistics document"
        )
    return statistics


@dataclass(frozen=True)
class Baseline:
    """A baseline to produce: computed here (statistics and constraints given), or by the
    baselining job (`job` given)."""

    files: BaselineFiles
    dataset: monitor.Dataset
    header: bool
    threshold: float
    statistics: dict[str, Any] | None = None
    constraints: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    features: bytes = b""  # the job's input (features_csv), uploaded before it starts


def plan_baseline(
    kind: BaselinedKind,
    method: str,
    endpoint: str,
    files: BaselineFiles,
    dataset: monitor.Dataset,
    header: bool,
    settings: MonitorSettings,
) -> Baseline:
    """in-process: the statistics now; job: the request of the kind's baselining job."""
    threshold = settings.threshold
    if method == "in-process":
        statistics = monitor.statistics(dataset)
        constraints = monitor.suggest_constraints(statistics, threshold)
        return Baseline(files, dataset, header, threshold, statistics, constraints)
    features = features_csv(dataset, header)
    environment = kind.baseline_environment(header)
    request = job_request(endpoint, files, features, environment, settings)
    return Baseline(files, dataset, header, threshold, job=request, features=features)


def produce(
    baseline: Baseline,
    jobs: Monitoring,
    objects: Objects,
    timeout_seconds: float,
    poll_seconds: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Write the computed baseline, or run the job and set the drift threshold in its
    constraints; return the statistics document."""
    files, dataset = baseline.files, baseline.dataset
    if baseline.statistics is not None and baseline.constraints is not None:
        write_in_process(objects, files, baseline.statistics, baseline.constraints)
        log(
            f"Baseline of {len(dataset.rows)} rows, {len(dataset.names)} features: {files.statistics_uri}, {files.constraints_uri}"
        )
        return baseline.statistics
    if baseline.job is None:
        raise ValueError("a Baseline holds either statistics and constraints or a job")
    run_job(
        jobs,
        objects,
        baseline.job,
        files,
        baseline.features,
        timeout_seconds,
        poll_seconds,
        log,
        sleep,
        clock,
    )
    set_drift_threshold(objects, files, baseline.threshold, log)
    return read_statistics(objects, files)
