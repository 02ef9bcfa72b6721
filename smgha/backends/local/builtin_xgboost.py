"""The built-in XGBoost training job run as a step of its own (builtin_scripts/
xgboost_train.py), forked from the warm worker or started fresh like any script: training
in the executor's own process would import xgboost there and start its OpenMP threads, and
a crash in native code would take the executor down with it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from smgha.backends.local import jobs, state

SCRIPT = Path(__file__).with_name("builtin_scripts") / "xgboost_train.py"
REQUEST_FILE = "builtin-request.json"
DESCRIBED_FILE = "builtin-described.json"
FAILURE_FILE = "builtin-failure.txt"


def run_training(request: dict[str, Any], job: jobs.JobContext) -> dict[str, Any]:
    """xgboost_algorithm.run_training (the emulation of the algorithm), in a child process."""
    for name in (DESCRIBED_FILE, FAILURE_FILE):  # a resumed job's results are not this run's
        (job.job_dir / name).unlink(missing_ok=True)
    state.write_json_atomic(job.job_dir / REQUEST_FILE, request)
    root = job.job_dir / state.CONTAINER_FOLDER
    command = [
        sys.executable,
        str(jobs.BOOT_SCRIPT),
        str(root),
        str(SCRIPT),
        str(job.job_dir),
        str(job.registry.layout.root),
        job.region,
        job.job_name,
    ]
    environment = {str(k): str(v) for k, v in (request.get("Environment") or {}).items()}
    timeout = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
    try:
        jobs.run_logged(command, job, {**os.environ, **environment}, float(timeout))
    except jobs.JobFailed:
        failure = job.job_dir / FAILURE_FILE
        if failure.is_file():  # the algorithm's own FailureReason, as before
            raise jobs.JobFailed(failure.read_text(encoding="utf-8")) from None
        raise
    return state.read_json(job.job_dir / DESCRIBED_FILE)
