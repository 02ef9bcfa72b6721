"""The jobs behind pipeline steps, run on this machine.

Each function takes the step's request with every expression already resolved (the request
SageMaker would send to CreateProcessingJob, CreateTrainingJob, ...) and returns the job's
Describe* response, which later steps read as the step's properties.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smgha.backends.local import cluster, state, warm
from smgha.backends.local.container_boot import CONTAINER_PREFIX, remap_arguments
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3

BOOT_SCRIPT = Path(__file__).with_name("container_boot.py")


class JobFailed(Exception):
    """The job failed; the message is the step's FailureReason."""


@dataclass
class JobContext:
    job_dir: Path
    job_name: str
    region: str
    s3: LocalS3
    registry: LocalRegistry
    log: Callable[[str], None]

    def arn(self, kind: str) -> str:
        return (
            f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}:{kind}/{self.job_name.lower()}"
        )


# ---- processing --------------------------------------------------------------------------


def run_processing(request: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """CreateProcessingJob: one container per instance (ClusterConfig.InstanceCount), each
    with its inputs staged, running the script with this interpreter; then the outputs."""
    app = request.get("AppSpecification") or {}
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    if len(entrypoint) < 2 or not os.path.basename(entrypoint[0]).startswith("python"):
        raise JobFailed(
            f"the local backend runs 'python <script>' entrypoints; this job's is {entrypoint!r}"
        )
    cluster_config = (request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    instance_count = int(cluster_config.get("InstanceCount", 1))
    if instance_count > 1:  # one is always allowed; the model is read only when it matters
        limit = cluster.processing_instance_limit()
        if instance_count > limit:
            raise JobFailed(
                f"ClientError: ProcessingResources.ClusterConfig.InstanceCount {instance_count} "
                f"is above SageMaker's maximum of {limit} instances per processing job: run "
                "fewer, larger instances"
            )
    hosts = job_hosts(job, instance_count)
    started = state.now()  # ProcessingStartTime: before the inputs are staged
    _stage_processing_inputs(request, job, hosts)
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    described = {
        **request,
        "ProcessingJobName": job.job_name,
        "ProcessingJobArn": job.arn("processing-job"),
    }
    for host in hosts:
        for entry in outputs:
            _container_path_mapper(host.root)(entry["S3Output"]["LocalPath"]).mkdir(
                parents=True, exist_ok=True
            )
        cluster.write_processing_config(host.root, host.name, [h.name for h in hosts], described)
    environment = {**os.environ, **_as_strings(request.get("Environment") or {})}
    timeout = float((request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400))

    def run_container(host: cluster.Host) -> None:
        arguments = remap_arguments(
            str(host.root), entrypoint[1:] + list(app.get("ContainerArguments") or [])
        )
        command = [sys.executable, str(BOOT_SCRIPT), str(host.root), *arguments]
        run_logged(command, host_context(job, host, len(hosts)), environment, timeout)

    run_on_hosts(hosts, run_container)
    for entry in outputs:
        target = entry["S3Output"]["S3Uri"]
        folders = {
            h.name: _container_path_mapper(h.root)(entry["S3Output"]["LocalPath"]) for h in hosts
        }
        try:
            files = cluster.merged_output(entry["OutputName"], target, folders)
        except cluster.ClusterError as error:
            raise JobFailed(str(error)) from None
        for key, file in files.items():
            job.s3.put_bytes(f"{target.rstrip('/')}/{key}", file.read_bytes())
        job.log(f"output {entry['OutputName']}: {len(files)} file(s) to {target}")
    # DescribeProcessingJob's times (botocore's model: when the job started and completed),
    # which build-pipeline's summary bills per instance; completed after the outputs' upload.
    return {
        **described,
        "ProcessingJobStatus": "Completed",
        "ProcessingStartTime": state.to_iso(started),
        "ProcessingEndTime": state.to_iso(state.now()),
    }


def _stage_processing_inputs(
    request: dict[str, Any], job: JobContext, hosts: list[cluster.Host]
) -> None:
    """Each host's share of each S3Input (S3DataDistributionType), at its LocalPath."""
    names = [h.name for h in hosts]
    for entry in request.get("ProcessingInputs") or []:
        source = entry.get("S3Input")
        if not source:
            raise JobFailed(f"input {entry.get('InputName')!r}: only S3Input runs locally")
        objects = job.s3.objects(source["S3Uri"])
        if not objects:
            raise JobFailed(
                f"ClientError: input {entry.get('InputName')!r}: no object at {source['S3Uri']}"
            )
        distribution = source.get("S3DataDistributionType", cluster.FULLY_REPLICATED)
        try:
            shares = cluster.shard(objects, names, distribution)
        except cluster.ClusterError as error:
            raise JobFailed(str(error)) from None
        empty = [name for name in names if not shares[name]]
        if empty:  # undocumented for processing: the stricter reading (cluster.py)
            raise JobFailed(
                cluster.EMPTY_SHARD.format(
                    input=entry.get("InputName"),
                    distribution=distribution,
                    hosts=len(names),
                    objects=len(objects),
                    uri=source["S3Uri"],
                    empty=", ".join(empty),
                )
            )
        for host in hosts:
            count = cluster.copy_objects(
                shares[host.name], _container_path_mapper(host.root)(source["LocalPath"])
            )
            where = f" on {host.name}" if len(hosts) > 1 else ""
            job.log(
                f"input {entry.get('InputName')}: {count} file(s) from {source['S3Uri']}{where}"
            )


def job_hosts(job: JobContext, count: int) -> list[cluster.Host]:
    """The job's instances. One instance keeps the job's own folder (its container and log
    where they always were); each of several gets a folder of its own, named after it and
    emptied first, as a new instance starts empty (nothing left by an earlier attempt)."""
    if count < 1:
        raise JobFailed(f"ClientError: InstanceCount must be at least 1, got {count}")
    if count == 1:
        return [cluster.Host("algo-1", job.job_dir / state.CONTAINER_FOLDER, job.job_dir)]
    hosts = [
        cluster.Host(name, job.job_dir / name / state.CONTAINER_FOLDER, job.job_dir / name)
        for name in cluster.host_names(count)
    ]
    for host in hosts:
        shutil.rmtree(host.job_dir, ignore_errors=True)
    return hosts


def host_context(job: JobContext, host: cluster.Host, host_count: int) -> JobContext:
    """The job as one host sees it: its own folder and log lines marked with its name."""
    if host_count == 1:
        return job
    host.job_dir.mkdir(parents=True, exist_ok=True)
    return replace(job, job_dir=host.job_dir, log=lambda line: job.log(f"[{host.name}] {line}"))


def run_on_hosts(hosts: list[cluster.Host], run_one: Callable[[cluster.Host], None]) -> None:
    """Run every host's container, as many at once as this machine has CPUs; the job fails
    with the reason of the first host (in host order) that failed."""
    if len(hosts) == 1:
        run_one(hosts[0])
        return
    with ThreadPoolExecutor(max_workers=min(len(hosts), os.cpu_count() or 1)) as pool:
        futures = [(host.name, pool.submit(run_one, host)) for host in hosts]
    for name, future in futures:
        error = future.exception()
        if isinstance(error, JobFailed):
            raise JobFailed(f"{name}: {error}") from None
        if error is not None:
            raise error


def _container_path_mapper(root: Path) -> Callable[[str], Path]:
    def host(container_path: str) -> Path:
        if not container_path.startswith(CONTAINER_PREFIX + "/"):
            raise JobFailed(f"local path {container_path!r} is not under {CONTAINER_PREFIX}/")
        return root / container_path.lstrip("/")

    return host


def run_logged(
    command: list[str],
    job: JobContext,
    env: dict[str, str],
    timeout: float,
    cwd: Path | None = None,
) -> None:
    """Run `command` (in `cwd`, else the job folder), streaming its output to the job log;
    fail with the output's tail."""
    log_path = job.job_dir / state.JOB_OUTPUT_LOG
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log_file:
        # Forked from the warm worker when it can be (warm.py), else a fresh interpreter.
        process: subprocess.Popen[str] | warm.WarmStep | None = warm.start_step(
            command, env, cwd or job.job_dir, job.registry.layout.root, job.log
        )
        if process is None:
            process = subprocess.Popen(
                command,
                cwd=cwd or job.job_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
        # Killed at the deadline whether or not it prints: a silent hang is stopped too.
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            process.kill()

        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        timer.start()
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log_file.write(line)
                job.log(line.rstrip("\n"))
                tail = (tail + [line.rstrip("\n")])[-8:]
            code = process.wait()
        finally:
            timer.cancel()
    if stopped.is_set():
        raise JobFailed(f"the job ran past MaxRuntimeInSeconds={timeout:g} and was stopped")
    if code != 0:
        detail = "\n".join(tail)
        raise JobFailed(
            f"AlgorithmError: the script exited with code {code}. Last output:\n{detail}"
        )


def _as_strings(mapping: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}


# ---- registry ----------------------------------------------------------------------------


def run_register_model(request: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """CreateModelPackage into the local registry; the group is created when missing."""
    if not request.get("ModelPackageGroupName"):
        raise JobFailed("ClientError: RegisterModel needs a ModelPackageGroupName")
    arn = job.registry.create_model_package(request)
    record = job.registry.describe_model_package(arn) or {"ModelPackageArn": arn}
    job.log(f"registered {record['ModelPackageArn']} ({record['ModelApprovalStatus']})")
    return record
