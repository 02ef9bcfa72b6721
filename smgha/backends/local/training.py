"""CreateTrainingJob on this machine: the built-in XGBoost algorithm or a script-mode job.

The contract a script-mode job runs under (and where it was read) is in script_training.py;
this module runs the job and reads its results: metrics from the log, the packed model, and a
failure reason a user can act on.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

from smgha.backends.local import builtin_xgboost, jobs, script_training, spot_training, state
from smgha.backends.local.container_boot import CONTAINER_PREFIX
from smgha.backends.local.script_training import ScriptTrainingError, host_path

# Import names whose distribution (what a requirements file lists) is spelled differently.
DISTRIBUTION_OF_MODULE = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "Pillow",
    "yaml": "PyYAML",
    "skimage": "scikit-image",
}

MISSING_MODULE = (
    "AlgorithmError: the entry script imports {module!r}, which this machine lacks. Add "
    "{package!r} to the requirements file the workflow installs (the requirements-file input, "
    "e.g. ml/requirements.txt) so the runner installs it before the job runs."
)
MISSING_CHANNEL = (
    "ClientError: the entry script reads the channel {channel!r} ({variable}), but this job "
    "provides only {provided}. Add an input named {channel!r} to the training step, or stop "
    "reading it in the script."
)

# A script's own distributed setup (SM_HOSTS, a launcher, torchrun, ...) needs N containers
# that reach each other; running one would silently train on one host's view of the job.
SCRIPT_MODE_INSTANCES = (
    "ClientError: script-mode training with InstanceCount {count} does not run on the local "
    "backend: it runs a script-mode job on one instance only (the built-in XGBoost algorithm "
    "runs distributed). Set the training step's InstanceCount to 1 for a local build (the "
    "reference pipelines' TrainingInstanceCount parameter), or use backend: sagemaker."
)


def run_training(request: dict[str, Any], job: jobs.JobContext) -> dict[str, Any]:
    """The step's training job: refused, or run (spot or not: spot_training.py) with its
    checkpoints restored before and saved after, and its times recorded."""
    reason = script_training.refusal(request)
    if reason:
        raise jobs.JobFailed(reason)
    root = job.job_dir / state.CONTAINER_FOLDER
    spot_training.checkpoint_folder(request, root)  # refuses a LocalPath it cannot map
    started = state.now()
    try:
        described = _run_training(request, job)
    finally:
        spot_training.save_checkpoints(request, root, job)
    return spot_training.with_times(described, started, state.now())


def _run_training(request: dict[str, Any], job: jobs.JobContext) -> dict[str, Any]:
    """A script, or the built-in algorithm."""
    source = script_training.script_source(request)
    if source is None:
        spot_training.restore_checkpoints(request, job.job_dir / state.CONTAINER_FOLDER, job)
        return builtin_xgboost.run_training(request, job)  # never in this process
    instance_count = int((request.get("ResourceConfig") or {}).get("InstanceCount", 1))
    if instance_count > 1:
        raise jobs.JobFailed(SCRIPT_MODE_INSTANCES.format(count=instance_count))
    try:
        return _run_script(source, request, job)
    except ScriptTrainingError as error:
        raise jobs.JobFailed(str(error)) from None


def _run_script(
    source: script_training.ScriptSource, request: dict[str, Any], job: jobs.JobContext
) -> dict[str, Any]:
    root = job.job_dir / state.CONTAINER_FOLDER
    if root.exists():  # a resumed job starts from an empty container, as SageMaker's does
        shutil.rmtree(root)
    spot_training.restore_checkpoints(request, root, job)  # into the emptied container
    channel_names = _download_channels(request, job, root)
    code, entry_script = script_training.unpack_code(source, root, job.s3)
    where = source.submit_directory or f"channel {script_training.V3_CODE_CHANNEL!r}"
    script = script_training.check_entry_script(code, entry_script, where)
    if (code / "requirements.txt").is_file():  # the toolkit pip-installs it; here, nothing is
        job.log(
            "requirements.txt in the code is not installed by the local backend: the runner's "
            "environment (the requirements-file input) must already provide its packages"
        )
    configs = script_training.write_config_files(root, request)
    environment, arguments = script_training.driver_environment(source, request, root, configs)
    environment["TRAINING_JOB_NAME"] = job.job_name
    for folder in ("model", "output/data"):
        host_path(root, f"{CONTAINER_PREFIX}/{folder}").mkdir(parents=True, exist_ok=True)

    job.log(f"script mode: {entry_script} {' '.join(arguments)}")
    command = [sys.executable, str(jobs.BOOT_SCRIPT), str(root), str(script), *arguments]
    request_environment = {str(k): str(v) for k, v in (request.get("Environment") or {}).items()}
    timeout = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
    try:
        jobs.run_logged(
            command, job, {**os.environ, **request_environment, **environment}, float(timeout), code
        )
    except jobs.JobFailed as error:
        raise jobs.JobFailed(_failure_reason(root, job, channel_names) or str(error)) from None

    log_text = (job.job_dir / state.JOB_OUTPUT_LOG).read_text(encoding="utf-8")
    definitions = (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    metrics = final_metrics(log_text, definitions)
    output = "/".join(
        [request["OutputDataConfig"]["S3OutputPath"].rstrip("/"), job.job_name, "output"]
    )
    model_uri = f"{output}/model.tar.gz"
    _upload_packed(host_path(root, f"{CONTAINER_PREFIX}/model"), model_uri, job)
    output_data = host_path(root, f"{CONTAINER_PREFIX}/output/data")
    if any(output_data.iterdir()):  # SageMaker uploads output.tar.gz when the folder has files
        _upload_packed(output_data, f"{output}/output.tar.gz", job)
    job.log(f"model: {model_uri}")
    return {
        **request,
        "TrainingJobName": job.job_name,
        "TrainingJobArn": job.arn("training-job"),
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": metrics,
    }


def _download_channels(request: dict[str, Any], job: jobs.JobContext, root: Path) -> list[str]:
    names = []
    for channel in request.get("InputDataConfig") or []:
        name = channel["ChannelName"]
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        folder = host_path(root, f"{CONTAINER_PREFIX}/input/data/{name}")
        if job.s3.download(uri, folder) == 0:
            raise jobs.JobFailed(f"ClientError: channel {name!r}: no data at {uri}")
        names.append(name)
    return names


def _failure_reason(root: Path, job: jobs.JobContext, channels: list[str]) -> str | None:
    """The script's /opt/ml/output/failure (SageMaker's FailureReason), else a known cause."""
    failure_file = host_path(root, f"{CONTAINER_PREFIX}/output/failure")
    log_text = (job.job_dir / state.JOB_OUTPUT_LOG).read_text(encoding="utf-8")
    explained = explain_failure(log_text, channels)
    if explained:
        return explained
    if failure_file.is_file() and failure_file.read_text(encoding="utf-8").strip():
        return "AlgorithmError: " + failure_file.read_text(encoding="utf-8").strip()[:1024]
    return None


def _upload_packed(folder: Path, uri: str, job: jobs.JobContext) -> None:
    archive = job.job_dir / "packed" / Path(uri).name
    pack_folder(folder, archive)
    job.s3.put_bytes(uri, archive.read_bytes())


# ---- after the run -----------------------------------------------------------------------


def explain_failure(log_text: str, channels: list[str]) -> str | None:
    """A failure users can fix, recognised in the script's output; None for any other."""
    missing = re.findall(r"ModuleNotFoundError: No module named '([^']+)'", log_text)
    if missing:
        module = missing[-1].split(".")[0]
        package = DISTRIBUTION_OF_MODULE.get(module, module)
        return MISSING_MODULE.format(module=module, package=package)
    channel = re.findall(r"KeyError: '(SM_CHANNEL_[A-Z0-9_-]+)'", log_text)
    if channel:
        variable = channel[-1]
        return MISSING_CHANNEL.format(
            channel=variable.removeprefix("SM_CHANNEL_").lower(),
            variable=variable,
            provided=channels or "no channels",
        )
    return None


def final_metrics(log_text: str, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FinalMetricDataList: each MetricDefinitions regex's last match in the log.

    SageMaker applies the regex to the job's log and reads the first group as the value; a
    definition that never matches reports nothing. Which match counts as "final" is not
    documented beyond its name; the last one is taken.
    """
    metrics = []
    for definition in definitions:
        values = []
        for match in re.finditer(definition["Regex"], log_text):
            try:
                values.append(float(match.group(1) if match.groups() else match.group(0)))
            except ValueError:
                continue
        if values:
            metrics.append(
                {
                    "MetricName": definition["Name"],
                    "Value": values[-1],
                    "Timestamp": state.to_iso(state.now()),
                }
            )
    return metrics


def pack_folder(folder: Path, archive: Path) -> None:
    """A tar.gz of the folder's content at its root, as SageMaker packs /opt/ml/model."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="w:gz") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.add(path, arcname=str(path.relative_to(folder)), recursive=False)
