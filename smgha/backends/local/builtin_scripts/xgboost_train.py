"""The built-in XGBoost algorithm's training job, in a process of its own: a step forked from
the warm worker, or a fresh interpreter (builtin_xgboost.py starts it as any step). The
executor thus never imports xgboost nor starts its OpenMP threads.

Usage: python xgboost_train.py <job folder> <state folder> <region> <job name>

Reads the resolved CreateTrainingJob request from <job folder>/builtin-request.json and
writes the DescribeTrainingJob record to builtin-described.json, or the FailureReason to
builtin-failure.txt (exit code 1). This folder holds nothing else: the script's folder is
first on sys.path, as for any step, and must shadow no module.
"""

from __future__ import annotations

import sys
from pathlib import Path

from smgha.backends.local import builtin_xgboost, jobs, state, xgboost_algorithm
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3


def main(arguments: list[str]) -> int:
    job_dir, state_root, region, job_name = Path(arguments[0]), *arguments[1:4]
    layout = state.Layout(Path(state_root))
    job = jobs.JobContext(
        job_dir=job_dir,
        job_name=job_name,
        region=region,
        s3=LocalS3(layout.s3),
        registry=LocalRegistry(layout, region),
        log=lambda line: print(line, flush=True),
    )
    request = state.read_json(job_dir / builtin_xgboost.REQUEST_FILE)
    try:
        described = xgboost_algorithm.run_training(request, job)
    except jobs.JobFailed as error:
        state.write_bytes_atomic(job_dir / builtin_xgboost.FAILURE_FILE, str(error).encode())
        return 1
    state.write_json_atomic(job_dir / builtin_xgboost.DESCRIBED_FILE, described)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
