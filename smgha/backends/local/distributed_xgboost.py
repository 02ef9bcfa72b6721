"""The built-in XGBoost algorithm on N instances: N local workers running distributed xgboost.

What the algorithm's container does with several hosts, read from its source
(aws/sagemaker-xgboost-container at cb8df91c, src/sagemaker_xgboost_container/
algorithm_mode/train.py:sagemaker_train and distributed.py:rabit_run / Rabit), and done here:
- a host whose train channel is empty, or whose validation channel (when the job has one)
  is empty, is left out of the training with a warning; with one host left it trains alone,
  with none the job fails ("No hosts received training data");
- the hosts left form one xgboost collective: a RabitTracker (sortby="task") and a
  CommunicatorContext per worker whose dmlc_task_id is the host's index in the sorted
  hosts, so algo-1 is rank 0; xgboost allreduces the histograms, so every worker grows the
  same trees, and the evaluation metrics are computed over all workers' data;
- the master (rank 0, algo-1 when it has data) alone saves the model.
Channels are split by their S3DataDistributionType (cluster.shard). With FullyReplicated
every worker reads all of the data: the container accepts that and trains on N copies of
it, which costs N times the work for the same model (SageMaker's S3DataSource documentation
points distributed training at ShardedByS3Key); it is logged, not refused, as there.

Here the tracker runs in this process on 127.0.0.1 (the container runs it on the master
host), each worker is a fresh interpreter (xgboost_worker.py), and the job is bounded by
MaxRuntimeInSeconds: when one worker fails or time runs out, every worker is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from smgha.backends.local import cluster, jobs, script_training, state

WORKER_MODULE = "smgha.backends.local.xgboost_worker"
WORKER_CONFIG = "worker.json"
WORKER_RESULT = "result.json"  # the master's metrics
WORKER_MODEL = "xgboost-model.ubj"  # the master's booster
WORKER_FAILURE = "failure"  # why a worker failed, and when


@dataclass(frozen=True)
class Training:
    """What xgboost.train is given: the translated hyperparameters."""

    params: dict[str, Any]
    rounds: int
    early_stop: int | None


def train(
    request: dict[str, Any], job: jobs.JobContext, training: Training, instance_count: int
) -> tuple[bytes, list[dict[str, Any]]]:
    """Run the job over `instance_count` hosts; the master's booster bytes and metrics."""
    hosts = jobs.job_hosts(job, instance_count)
    names = [host.name for host in hosts]
    channel_names = _stage_channels(request, job, hosts)
    for host in hosts:
        script_training.write_config_files(host.root, request, host.name, names)
    workers = [host for host in hosts if _has_data(host, channel_names, job)]
    if not workers:
        raise jobs.JobFailed("AlgorithmError: No hosts received training data.")
    job.log(f"distributed xgboost over {', '.join(h.name for h in workers)}")
    timeout = float((request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400))
    import xgboost.core
    import xgboost.tracker  # only a distributed training job pays for this import

    tracker = None
    communicator: dict[str, Any] = {}
    if len(workers) > 1:
        tracker = xgboost.tracker.RabitTracker(
            n_workers=len(workers), host_ip="127.0.0.1", port=0, sortby="task"
        )
        tracker.start()
        communicator = dict(tracker.worker_args())
    try:
        for rank, host in enumerate(workers):
            _write_worker_config(host, rank, len(workers), training, channel_names, communicator)
        _run_workers(workers, job, timeout)
    finally:
        if tracker is not None:
            # Workers stopped mid-run make free() complain; their failure is the reason.
            with contextlib.suppress(xgboost.core.XGBoostError):
                tracker.free()
    master = workers[0].job_dir
    result = json.loads((master / WORKER_RESULT).read_text(encoding="utf-8"))
    return (master / WORKER_MODEL).read_bytes(), result["FinalMetricDataList"]


def _stage_channels(
    request: dict[str, Any], job: jobs.JobContext, hosts: list[cluster.Host]
) -> list[str]:
    """Each host's share of each channel at /opt/ml/input/data/<channel>."""
    names = [host.name for host in hosts]
    channel_names = []
    for channel in request.get("InputDataConfig") or []:
        name = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        objects = job.s3.objects(source["S3Uri"])
        if not objects:
            raise jobs.JobFailed(f"ClientError: channel {name!r}: no data at {source['S3Uri']}")
        distribution = source.get("S3DataDistributionType", cluster.FULLY_REPLICATED)
        try:
            shares = cluster.shard(objects, names, distribution)
        except cluster.ClusterError as error:
            raise jobs.JobFailed(str(error)) from None
        if name == "train" and distribution == cluster.FULLY_REPLICATED:
            job.log(
                f"channel 'train' is FullyReplicated: each of {len(hosts)} workers trains on "
                "all of it (N copies of the data); ShardedByS3Key splits it"
            )
        for host in hosts:
            count = cluster.copy_objects(shares[host.name], _channel_folder(host, name))
            job.log(f"channel {name}: {count} file(s) on {host.name}")
        channel_names.append(name)
    return channel_names


def _channel_folder(host: cluster.Host, channel: str) -> Path:
    return host.root / "opt" / "ml" / "input" / "data" / channel


def _has_data(host: cluster.Host, channel_names: list[str], job: jobs.JobContext) -> bool:
    """The container's rule: train data, and validation data when there is that channel."""
    for channel in ("train", "validation"):
        folder = _channel_folder(host, channel)
        if channel in channel_names and not any(p.is_file() for p in folder.rglob("*")):
            job.log(
                f"{host.name} has no {channel} data: it is left out of the distributed training "
                "(as the SageMaker XGBoost container does)"
            )
            return False
    return True


def _write_worker_config(
    host: cluster.Host,
    rank: int,
    world_size: int,
    training: Training,
    channel_names: list[str],
    communicator: dict[str, Any],
) -> None:
    # One worker per instance shares this machine's CPUs with the others: each gets its
    # share of threads rather than all of them, as N instances would have their own.
    threads = max(1, (os.cpu_count() or 1) // world_size)
    config = {
        "host": host.name,
        "params": {**training.params, "nthread": threads},
        "rounds": training.rounds,
        "early_stop": training.early_stop,
        "channels": {
            name: str(_channel_folder(host, name))
            for name in ("train", "validation")
            if name in channel_names
        },
        # The container's deterministic rank: the host's index among the training hosts.
        "communicator": {**communicator, "dmlc_task_id": str(rank)} if communicator else {},
        "is_master": rank == 0,
        "model": str(host.job_dir / WORKER_MODEL),
        "result": str(host.job_dir / WORKER_RESULT),
        "failure": str(host.job_dir / WORKER_FAILURE),
    }
    host.job_dir.mkdir(parents=True, exist_ok=True)
    state.write_json_atomic(host.job_dir / WORKER_CONFIG, config)


def _run_workers(workers: list[cluster.Host], job: jobs.JobContext, timeout: float) -> None:
    """Start every worker, relay their output, stop them all on the first failure."""
    processes: dict[str, subprocess.Popen[str]] = {}
    tails: dict[str, list[str]] = {}
    relays = []
    try:
        for host in workers:
            process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(host.job_dir / WORKER_CONFIG)],
                cwd=host.job_dir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},  # lines as they come
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            processes[host.name] = process
            tails[host.name] = []
            assert process.stdout is not None
            relay = threading.Thread(
                target=_relay,
                args=(process.stdout, host, job, tails[host.name]),
                daemon=True,
            )
            relay.start()
            relays.append(relay)
        failed = _wait(processes, time.monotonic() + timeout)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        for relay in relays:
            relay.join(timeout=5)
    if failed == "timeout":
        raise jobs.JobFailed(f"the job ran past MaxRuntimeInSeconds={timeout:g} and was stopped")
    if failed:
        # When one worker fails, the others fail too, on the broken collective: the earliest
        # recorded failure is the cause.
        recorded = {}
        for host in workers:
            failure_file = host.job_dir / WORKER_FAILURE
            if failure_file.is_file():
                recorded[host.name] = state.read_json(failure_file)
        if recorded:
            failed = min(recorded, key=lambda name: recorded[name]["time"])
        code = processes[failed].returncode
        detail = "\n".join(tails[failed])
        raise jobs.JobFailed(
            f"AlgorithmError: {failed}: the worker exited with code {code}; every other "
            f"worker was stopped. Last output:\n{detail}"
        )


def _wait(processes: dict[str, subprocess.Popen[str]], deadline: float) -> str | None:
    """None when every worker succeeded; else the first failed host's name, or "timeout"."""
    while True:
        running = False
        for name, process in processes.items():
            code = process.poll()
            if code is None:
                running = True
            elif code != 0:
                return name
        if not running:
            return None
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(0.02)


def _relay(stream: IO[str], host: cluster.Host, job: jobs.JobContext, tail: list[str]) -> None:
    with open(host.job_dir / state.JOB_OUTPUT_LOG, "w", encoding="utf-8") as log_file:
        for line in stream:
            log_file.write(line)
            job.log(f"[{host.name}] {line.rstrip()}")
            tail.append(line.rstrip("\n"))
            del tail[:-8]
