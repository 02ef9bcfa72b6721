"""The built-in XGBoost algorithm, emulated with the xgboost package: the training job
behind a step whose image is SageMaker's XGBoost (training.run_training sends here only what
script_training.refusal let through). It runs in a child process of its own
(builtin_xgboost.py), never in the executor; on several instances as distributed xgboost
(distributed_xgboost.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local.jobs import JobContext, JobFailed

# The built-in XGBoost container writes its model under this name inside model.tar.gz.
XGBOOST_MODEL_FILE = "xgboost-model"

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
