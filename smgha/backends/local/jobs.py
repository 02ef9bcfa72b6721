"""The jobs behind pipeline steps, run on this machine.

Each function takes the step's request with every expression already resolved (the request
SageMaker would send to CreateProcessingJob, CreateTrainingJob, ...) and returns the job's
Describe* response, which later steps read as the step's properties.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.backends.local import state, warm
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
    """CreateProcessingJob: stage inputs, run the script with this interpreter, ship outputs."""
    root = job.job_dir / state.CONTAINER_FOLDER
    host = _container_path_mapper(root)
    for entry in request.get("ProcessingInputs") or []:
        source = entry.get("S3Input")
        if not source:
            raise JobFailed(f"input {entry.get('InputName')!r}: only S3Input runs locally")
        count = job.s3.download(source["S3Uri"], host(source["LocalPath"]))
        if count == 0:
            raise JobFailed(
                f"ClientError: input {entry.get('InputName')!r}: no object at {source['S3Uri']}"
            )
        job.log(f"input {entry.get('InputName')}: {count} file(s) from {source['S3Uri']}")
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for entry in outputs:
        host(entry["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)

    app = request.get("AppSpecification") or {}
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    if len(entrypoint) < 2 or not os.path.basename(entrypoint[0]).startswith("python"):
        raise JobFailed(
            f"the local backend runs 'python <script>' entrypoints; this job's is {entrypoint!r}"
        )
    arguments = remap_arguments(
        str(root), entrypoint[1:] + list(app.get("ContainerArguments") or [])
    )
    environment = {**os.environ, **_as_strings(request.get("Environment") or {})}
    timeout = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
    command = [sys.executable, str(BOOT_SCRIPT), str(root), *arguments]
    run_logged(command, job, environment, float(timeout))

    for entry in outputs:
        target = entry["S3Output"]["S3Uri"]
        count = job.s3.upload_dir(host(entry["S3Output"]["LocalPath"]), target)
        job.log(f"output {entry['OutputName']}: {count} file(s) to {target}")
    return {
        **request,
        "ProcessingJobName": job.job_name,
        "ProcessingJobArn": job.arn("processing-job"),
        "ProcessingJobStatus": "Completed",
    }


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
XGBOOST_HYPERPARAMETERS = frozenset(
    [
        "num_round",
        "objective",
        "eval_metric",
        "max_depth",
        "eta",
        "gamma",
        "min_child_weight",
        "subsample",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "lambda",
        "alpha",
        "tree_method",
        "sketch_eps",
        "scale_pos_weight",
        "updater",
        "refresh_leaf",
        "process_type",
        "grow_policy",
        "max_leaves",
        "max_bin",
        "num_parallel_tree",
        "sample_type",
        "normalize_type",
        "rate_drop",
        "one_drop",
        "skip_drop",
        "lambda_bias",
        "tweedie_variance_power",
        "base_score",
        "seed",
        "csv_weights",
        "early_stopping_rounds",
        "num_class",
        "max_delta_step",
        "verbosity",
        "interaction_constraints",
        "monotone_constraints",
    ]
)


def run_training(request: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """CreateTrainingJob with the built-in XGBoost image, emulated with the xgboost package
    (training.run_training sends here only what script_training.refusal let through)."""
    hyperparameters = dict(request.get("HyperParameters") or {})
    params, rounds, early_stop = _xgboost_params(hyperparameters)
    channels = _training_channels(request, job)
    if "train" not in channels:
        raise JobFailed("ClientError: the built-in XGBoost algorithm needs a 'train' channel")

    import xgboost  # only a training step pays for this import

    dtrain = _dmatrix(channels["train"], xgboost)
    evals = [(dtrain, "train")]
    if "validation" in channels:
        evals.append((_dmatrix(channels["validation"], xgboost), "validation"))
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
    final_metrics = []
    for data_name, metrics in history.items():
        for metric_name, values in metrics.items():
            final_metrics.append({"MetricName": f"{data_name}:{metric_name}", "Value": values[-1]})
            job.log(f"[{len(values) - 1}] {data_name}-{metric_name}:{values[-1]:.5f}")

    model_uri = "/".join(
        [
            request["OutputDataConfig"]["S3OutputPath"].rstrip("/"),
            job.job_name,
            "output",
            "model.tar.gz",
        ]
    )
    job.s3.put_bytes(model_uri, _model_tarball(bytes(booster.save_raw(raw_format="ubj"))))
    job.log(f"model: {model_uri}")
    return {
        **request,
        "TrainingJobName": job.job_name,
        "TrainingJobArn": job.arn("training-job"),
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": final_metrics,
    }


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
        content_type = channel.get("ContentType", "")
        if content_type.split(";")[0].strip() != "text/csv":
            raise JobFailed(
                f"channel {name!r} has content type {content_type or 'unset (libsvm)'!r}; "
                "the local backend reads text/csv"
            )
        container = job.job_dir / state.CONTAINER_FOLDER
        folder = container / "opt" / "ml" / "input" / "data" / name  # SageMaker's channel path
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        if job.s3.download(uri, folder) == 0:
            raise JobFailed(f"ClientError: channel {name!r}: no data at {uri}")
        channels[name] = folder
    return channels


def _dmatrix(folder: Path, xgboost: Any) -> Any:
    """Label-first, headerless CSV files, as the algorithm reads text/csv."""
    import pandas

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    data = pandas.concat([pandas.read_csv(p, header=None) for p in files], ignore_index=True)
    return xgboost.DMatrix(data.iloc[:, 1:].to_numpy(), label=data.iloc[:, 0].to_numpy())


def _model_tarball(model: bytes) -> bytes:
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
