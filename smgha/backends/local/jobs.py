"""The jobs behind pipeline steps, run on this machine.

Each function takes the step's request with every expression already resolved (the request
SageMaker would send to CreateProcessingJob, CreateTrainingJob, ...) and returns the job's
Describe* response, which later steps read as the step's properties.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
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
# The built-in XGBoost container writes its model under this name inside model.tar.gz.
XGBOOST_MODEL_FILE = "xgboost-model"


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
    return {**described, "ProcessingJobStatus": "Completed"}


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
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            job.log(line.rstrip("\n"))
            tail = (tail + [line.rstrip("\n")])[-8:]
            if time.monotonic() > deadline:
                process.kill()
                break
        code = process.wait()
    if time.monotonic() > deadline:
        raise JobFailed(f"the job ran past MaxRuntimeInSeconds={timeout:g} and was stopped")
    if code != 0:
        detail = "\n".join(tail)
        raise JobFailed(
            f"AlgorithmError: the script exited with code {code}. Last output:\n{detail}"
        )


def _as_strings(mapping: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}


# ---- training: the built-in XGBoost algorithm --------------------------------------------

# Hyperparameters the built-in algorithm accepts; it rejects any other name, and so do we.
XGBOOST_HYPERPARAMETERS = frozenset([
    "num_round", "objective", "eval_metric", "max_depth", "eta", "gamma", "min_child_weight",
    "subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode", "lambda",
    "alpha", "tree_method", "sketch_eps", "scale_pos_weight", "updater", "refresh_leaf",
    "process_type", "grow_policy", "max_leaves", "max_bin", "num_parallel_tree", "sample_type",
    "normalize_type", "rate_drop", "one_drop", "skip_drop", "lambda_bias",
    "tweedie_variance_power", "base_score", "seed", "csv_weights", "early_stopping_rounds",
    "num_class", "max_delta_step", "verbosity", "interaction_constraints",
    "monotone_constraints",
])  # fmt: skip


def run_training(request: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """CreateTrainingJob with the built-in XGBoost image, emulated with the xgboost package
    (training.run_training sends here only what script_training.refusal let through):
    in this process on one instance, as distributed xgboost over several
    (distributed_xgboost.py)."""
    hyperparameters = dict(request.get("HyperParameters") or {})
    params, rounds, early_stop = _xgboost_params(hyperparameters)
    channels = request.get("InputDataConfig") or []
    for channel in channels:
        check_csv_channel(channel)
    if "train" not in {channel["ChannelName"] for channel in channels}:
        raise JobFailed("ClientError: the built-in XGBoost algorithm needs a 'train' channel")
    instance_count = int((request.get("ResourceConfig") or {}).get("InstanceCount", 1))
    if instance_count > 1:
        from smgha.backends.local import distributed_xgboost  # it imports this module

        model, final_metrics = distributed_xgboost.train(
            request, job, distributed_xgboost.Training(params, rounds, early_stop), instance_count
        )
    else:
        model, final_metrics = _train_in_process(request, job, params, rounds, early_stop)

    model_uri = "/".join(
        [
            request["OutputDataConfig"]["S3OutputPath"].rstrip("/"),
            job.job_name,
            "output",
            "model.tar.gz",
        ]
    )
    job.s3.put_bytes(model_uri, model_tarball(model))
    job.log(f"model: {model_uri}")
    return {
        **request,
        "TrainingJobName": job.job_name,
        "TrainingJobArn": job.arn("training-job"),
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": final_metrics,
    }


def _train_in_process(
    request: dict[str, Any],
    job: JobContext,
    params: dict[str, Any],
    rounds: int,
    early_stop: int | None,
) -> tuple[bytes, list[dict[str, Any]]]:
    """One instance: the booster's bytes and the final value of each evaluation metric."""
    channels = _training_channels(request, job)
    import xgboost  # only a training step pays for this import

    dtrain = csv_dmatrix(channels["train"], xgboost)
    evals = [(dtrain, "train")]
    if "validation" in channels:
        evals.append((csv_dmatrix(channels["validation"], xgboost), "validation"))
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgboost.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        evals_result=history,
        early_stopping_rounds=early_stop,
        verbose_eval=False,
    )
    for line in metric_lines(history):
        job.log(line)
    return bytes(booster.save_raw(raw_format="ubj")), final_metric_list(history)


def metric_lines(history: dict[str, dict[str, list[float]]]) -> list[str]:
    """The last round's metrics, as xgboost prints them: `[round] data-metric:value`."""
    return [
        f"[{len(values) - 1}] {data_name}-{metric_name}:{values[-1]:.5f}"
        for data_name, metrics in history.items()
        for metric_name, values in metrics.items()
    ]


def final_metric_list(history: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    """FinalMetricDataList from xgboost's evals_result: `<data>:<metric>`, the last round."""
    return [
        {"MetricName": f"{data_name}:{metric_name}", "Value": values[-1]}
        for data_name, metrics in history.items()
        for metric_name, values in metrics.items()
    ]


def _xgboost_params(hyperparameters: dict[str, Any]) -> tuple[dict[str, Any], int, int | None]:
    """Translate the algorithm's string hyperparameters into xgboost.train arguments."""
    unknown = sorted(
        k for k in hyperparameters
        if k not in XGBOOST_HYPERPARAMETERS and not k.startswith(("_", "sagemaker_"))
    )  # fmt: skip
    if unknown:
        raise JobFailed(f"ClientError: hyperparameters not supported by XGBoost: {unknown}")
    if "num_round" not in hyperparameters:
        raise JobFailed("ClientError: the hyperparameter num_round is required")
    params: dict[str, Any] = {}
    for key, value in hyperparameters.items():
        if key.startswith(("_", "sagemaker_")) or key in (
            "num_round",
            "early_stopping_rounds",
            "csv_weights",
        ):
            continue
        text = str(value)
        params[key] = (
            text.split(",") if key == "eval_metric" and "," in text else _number_or_text(text)
        )
    rounds = int(float(hyperparameters["num_round"]))
    early = hyperparameters.get("early_stopping_rounds")
    return params, rounds, int(float(early)) if early is not None else None


def _number_or_text(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _training_channels(request: dict[str, Any], job: JobContext) -> dict[str, Path]:
    channels = {}
    for channel in request.get("InputDataConfig") or []:
        name = channel["ChannelName"]
        container = job.job_dir / state.CONTAINER_FOLDER
        folder = container / "opt" / "ml" / "input" / "data" / name  # SageMaker's channel path
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        if job.s3.download(uri, folder) == 0:
            raise JobFailed(f"ClientError: channel {name!r}: no data at {uri}")
        channels[name] = folder
    return channels


def check_csv_channel(channel: dict[str, Any]) -> None:
    content_type = channel.get("ContentType", "")
    if content_type.split(";")[0].strip() != "text/csv":
        raise JobFailed(
            f"channel {channel['ChannelName']!r} has content type "
            f"{content_type or 'unset (libsvm)'!r}; the local backend reads text/csv"
        )


def csv_dmatrix(folder: Path, xgboost: Any) -> Any:
    """Label-first, headerless CSV files, as the algorithm reads text/csv."""
    import pandas

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    data = pandas.concat([pandas.read_csv(p, header=None) for p in files], ignore_index=True)
    return xgboost.DMatrix(data.iloc[:, 1:].to_numpy(), label=data.iloc[:, 0].to_numpy())


def model_tarball(model: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(XGBOOST_MODEL_FILE)
        info.size = len(model)
        info.mtime = 0
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


# ---- registry ----------------------------------------------------------------------------


def run_register_model(request: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """CreateModelPackage into the local registry; the group is created when missing."""
    if not request.get("ModelPackageGroupName"):
        raise JobFailed("ClientError: RegisterModel needs a ModelPackageGroupName")
    arn = job.registry.create_model_package(request)
    record = job.registry.describe_model_package(arn) or {"ModelPackageArn": arn}
    job.log(f"registered {record['ModelPackageArn']} ({record['ModelApprovalStatus']})")
    return record
