"""Managed spot training and checkpoints, as the local backend runs a training job.

The local backend accepts a spot job's request (EnableManagedSpotTraining,
StoppingCondition.MaxWaitTimeInSeconds, CheckpointConfig) and trains as usual: there is no spot
capacity to wait for and nothing interrupts the job, so the maximum wait never matters (the
maximum run still stops it). What it keeps of the container contract:

- checkpoints: SageMaker copies CheckpointConfig.S3Uri into CheckpointConfig.LocalPath
  (default /opt/ml/checkpoints) when the job starts, and what the job writes there back to
  S3Uri while it runs (SageMaker Developer Guide, "Checkpoints in Amazon SageMaker AI",
  docs.aws.amazon.com/sagemaker/latest/dg/model-checkpoints.html). Here the folder is the
  container's /opt/ml/checkpoints under the job's container root, restored from the local S3
  before the job and copied back after it, whether it succeeded or not. Only what the job
  wrote is copied back (SageMaker "writes new checkpoints from the container to S3"): a file it
  restored and left as it was is not, so a job never puts back an older copy of a file that
  another job under the same S3Uri has rewritten meanwhile (the trials of a tuning job, which
  all get its definition's one S3Uri: tuning.py). A script that writes checkpoints finds them
  there; the emulation of the built-in XGBoost algorithm writes none.
- the times: DescribeTrainingJob's TrainingTimeInSeconds and BillableTimeInSeconds are both
  the job's wall time. Spot's discount is SageMaker's billing, which does not exist here: a
  local job is "billed" as it ran, spot or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path
from typing import Any

from smgha.backends.local import jobs, state
from smgha.backends.local.container_boot import CONTAINER_PREFIX
from smgha.backends.local.script_training import host_path

# CheckpointConfig.LocalPath when the request leaves it out (the API reference's default).
DEFAULT_CHECKPOINT_PATH = "/opt/ml/checkpoints"

# In the job's folder (outside the container): each restored checkpoint file's SHA-256, so that
# save_checkpoints copies back only what the job wrote.
RESTORED_FILE = "checkpoints-restored.json"

LOCAL_PATH_REFUSED = (
    "ClientError: CheckpointConfig.LocalPath {path!r} is outside {prefix}: the local backend "
    "maps only the container's {prefix} folder onto this machine. Leave LocalPath out (it "
    "defaults to {default}) or give a folder under {prefix}."
)


def checkpoint_folder(request: dict[str, Any], root: Path) -> Path | None:
    """Where this job's checkpoints are on this machine (None: the job has no CheckpointConfig)."""
    config = request.get("CheckpointConfig")
    if not config:
        return None
    local_path = str(config.get("LocalPath") or DEFAULT_CHECKPOINT_PATH).rstrip("/")
    if local_path != CONTAINER_PREFIX and not local_path.startswith(CONTAINER_PREFIX + "/"):
        raise jobs.JobFailed(
            LOCAL_PATH_REFUSED.format(
                path=local_path, prefix=CONTAINER_PREFIX, default=DEFAULT_CHECKPOINT_PATH
            )
        )
    return host_path(root, local_path)


def restore_checkpoints(request: dict[str, Any], root: Path, job: jobs.JobContext) -> None:
    """Before the job: S3Uri's objects into the checkpoint folder (an empty folder if none)."""
    folder = checkpoint_folder(request, root)
    if folder is None:
        return
    uri = request["CheckpointConfig"]["S3Uri"]
    count = job.s3.download(uri, folder)
    state.write_json_atomic(job.job_dir / RESTORED_FILE, _digests(folder))
    if count:
        job.log(f"checkpoints: restored {count} file(s) from {uri}")


def save_checkpoints(request: dict[str, Any], root: Path, job: jobs.JobContext) -> None:
    """After the job: what it wrote to the checkpoint folder (new or changed since the
    restore), to S3Uri."""
    folder = checkpoint_folder(request, root)
    restored_file = job.job_dir / RESTORED_FILE
    restored = state.read_json_if_exists(restored_file) or {}
    restored_file.unlink(missing_ok=True)
    if folder is None or not folder.is_dir():
        return
    uri = request["CheckpointConfig"]["S3Uri"].rstrip("/")
    written = [name for name, digest in _digests(folder).items() if restored.get(name) != digest]
    for name in written:
        job.s3.put_bytes(f"{uri}/{name}", (folder / name).read_bytes())
    if written:
        job.log(f"checkpoints: {len(written)} file(s) to {uri}")


def _digests(folder: Path) -> dict[str, str]:
    """Each file below `folder` (its path relative to it, with /) -> its SHA-256."""
    return {
        file.relative_to(folder).as_posix(): hashlib.sha256(file.read_bytes()).hexdigest()
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    }


def with_times(
    described: dict[str, Any], started: dt.datetime, ended: dt.datetime
) -> dict[str, Any]:
    """DescribeTrainingJob's times of a local job: training and billable time are its wall
    time, in whole seconds (the API's integers; at least 1, as a job that ran was billed)."""
    seconds = max(1, math.ceil((ended - started).total_seconds()))
    return {
        **described,
        "TrainingStartTime": state.to_iso(started),
        "TrainingEndTime": state.to_iso(ended),
        "TrainingTimeInSeconds": seconds,
        "BillableTimeInSeconds": seconds,
    }
