"""Script-mode training: the user's entry script run with this interpreter, as in the container.

Two request shapes say "script mode" (both read from their source, not guessed):
- SDK v2 framework estimators and the definitions that still carry them: the hyperparameters
  `sagemaker_program` (the entry script) and `sagemaker_submit_directory` (a tar.gz on S3), both
  JSON-encoded strings. The container runs them through aws/sagemaker-training-toolkit
  (commit 33839372, src/sagemaker_training/): environment.py:Environment.__init__ splits the
  `sagemaker_*` names out of the user hyperparameters, files.py:download_and_extract unpacks the
  archive to /opt/ml/code, entry_point.py:run starts `python <script> <args>` with cwd
  /opt/ml/code (process.py:ProcessRunner), args from mapping.py:to_cmd_args (sorted keys,
  `--name value`, `-n value` for one-letter names) and SM_* variables from
  Environment.to_env_vars + mapping.py:to_env_vars (strings as is, anything else compact JSON).
- SDK v3 `ModelTrainer(source_code=SourceCode(source_dir, entry_script))` (sagemaker-train
  1.27, sagemaker/train/model_trainer.py:_create_training_job_args and _prepare_train_script):
  ContainerEntrypoint ["/bin/bash"] with `-c ... sm_train.sh`, a `code` channel holding
  source_dir (a folder, or a .tar.gz the script unpacks in place) and an `sm_drivers` channel
  with sourcecode.json / distributed.json. Its drivers (container_drivers/scripts/environment.py:
  set_env, distributed_drivers/basic_script_driver.py, common/utils.py:
  hyperparameters_to_cli_args) run `python <entry_script> --name value ...` (hyperparameter
  order, values through safe_serialize) with cwd /opt/ml/input/data/code.

Paths: the script runs under container_boot.py, which redirects `/opt/ml/...` for the Python
file APIs; the SM_* directory variables and arguments carry the host paths those map to, as
processing arguments do, so native code given them works too.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local.container_boot import CONTAINER_PREFIX
from smgha.backends.local.s3 import LocalS3, S3UriError
from smgha.backends.local.serving import images

# sagemaker_training/params.py: the hyperparameters the toolkit keeps out of the user's.
PROGRAM_HYPERPARAMETER = "sagemaker_program"
SUBMIT_DIR_HYPERPARAMETER = "sagemaker_submit_directory"
# sagemaker/train/constants.py (SDK v3): the drivers' entrypoint and channel names.
V3_ENTRYPOINT = ["/bin/bash"]
V3_ARGUMENTS = [
    "-c",
    "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh "
    "&& /opt/ml/input/data/sm_drivers/sm_train.sh",
]
V3_CODE_CHANNEL = "code"
V3_DRIVERS_CHANNEL = "sm_drivers"
# The single host of a local job, named as SageMaker names the first host of a cluster.
LOCAL_HOST = "algo-1"

CUSTOM_IMAGE_REFUSED = (
    "training image {image!r} is neither the built-in XGBoost algorithm nor a script-mode job "
    "(the hyperparameters sagemaker_program/sagemaker_submit_directory, or SDK v3 "
    "ModelTrainer(source_code=SourceCode(...))); the local backend has no container engine to "
    "run a custom image. Use backend: sagemaker for this pipeline, or train in script mode."
)
ENTRYPOINT_REFUSED = (
    "ContainerEntrypoint {entrypoint!r} is not the SDK v3 script-mode driver (['/bin/bash'] "
    "running sm_train.sh from an sm_drivers channel); the local backend runs only entry "
    "scripts. Use backend: sagemaker for this pipeline."
)
MISSING_ENTRY_SCRIPT = (
    "ClientError: the entry script {script!r} is not in the code at {where} (it holds: "
    "{listing}). Fix the entry script's name or add the file to the source directory."
)
UNSUPPORTED_V3_SOURCE = (
    "the local backend runs a SourceCode entry_script ending in .py without a distributed "
    "configuration; this job's source code is {source!r}. Use backend: sagemaker for it."
)


class ScriptTrainingError(Exception):
    """A script-mode job cannot start or failed; the message is its FailureReason."""


@dataclass(frozen=True)
class ScriptSource:
    """Where a job's entry script comes from, and which driver contract runs it."""

    sdk_v3: bool  # False: the training toolkit (v2 hyperparameters); True: SDK v3 drivers
    entry_script: str  # v3: read from sourcecode.json when the job runs
    submit_directory: str  # v2: the tar.gz on S3; v3: ""


def decoded(value: Any) -> Any:
    """A hyperparameter as the toolkit reads it: JSON when it parses, else the text itself."""
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def script_source(request: dict[str, Any]) -> ScriptSource | None:
    """The job's script-mode source, or None when it is not a script-mode job."""
    hyperparameters = request.get("HyperParameters") or {}
    if PROGRAM_HYPERPARAMETER in hyperparameters:
        return ScriptSource(
            sdk_v3=False,
            entry_script=str(decoded(hyperparameters[PROGRAM_HYPERPARAMETER])),
            submit_directory=str(decoded(hyperparameters.get(SUBMIT_DIR_HYPERPARAMETER, ""))),
        )
    algorithm = request.get("AlgorithmSpecification") or {}
    channels = {c.get("ChannelName") for c in request.get("InputDataConfig") or []}
    if (
        algorithm.get("ContainerEntrypoint") == V3_ENTRYPOINT
        and algorithm.get("ContainerArguments") == V3_ARGUMENTS
        and V3_DRIVERS_CHANNEL in channels
    ):
        return ScriptSource(sdk_v3=True, entry_script="", submit_directory="")
    return None


def refusal(request: dict[str, Any]) -> str | None:
    """Why the local backend cannot run this CreateTrainingJob request, or None if it can.

    Checked at upsert (on the definition's arguments) and again when the job starts. A value
    still holding an expression cannot be judged before the run and passes here.
    """
    algorithm = request.get("AlgorithmSpecification") or {}
    if script_source(request) is not None:
        return None
    entrypoint = algorithm.get("ContainerEntrypoint")
    if entrypoint:
        return ENTRYPOINT_REFUSED.format(entrypoint=entrypoint)
    image = algorithm.get("TrainingImage", "")
    # The built-in algorithm is SageMaker's sagemaker-xgboost repository (image_uris'
    # xgboost.json), as the endpoint recognises it (serving/images.py): an image of your own
    # whose name merely holds "xgboost" runs its own code, which needs a container engine.
    if isinstance(image, str) and images.repository_of(image) != images.XGBOOST_REPOSITORY:
        return CUSTOM_IMAGE_REFUSED.format(image=image)
    return None


def missing_entry_script(request: dict[str, Any], s3: LocalS3) -> str | None:
    """At upsert: the entry script absent from code already uploaded to the local S3.

    None when it is there, or cannot be known yet (an expression, or code not uploaded).
    """
    source = script_source(request)
    if source is None:
        return None
    try:
        if not source.sdk_v3:
            archive = s3.path(source.submit_directory)
            if not archive.is_file():
                return None
            with tarfile.open(archive, mode="r:gz") as bundle:
                listing = [m.name.removeprefix("./") for m in bundle.getmembers() if m.isfile()]
            entry_script, where = source.entry_script, source.submit_directory
        else:
            uris = {
                c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request.get("InputDataConfig") or []
            }
            drivers = s3.path(f"{uris[V3_DRIVERS_CHANNEL]}/sourcecode.json")
            entry_script = str(_read_json_file(drivers).get("entry_script") or "")
            code = s3.path(uris.get(V3_CODE_CHANNEL, ""))
            if not entry_script or not code.is_dir() or entry_script.endswith(".tar.gz"):
                return None
            listing = [str(p.relative_to(code)) for p in code.rglob("*") if p.is_file()]
            where = f"channel {V3_CODE_CHANNEL!r}"
    except (S3UriError, TypeError, KeyError, ValueError, tarfile.TarError):
        return None  # not a literal location, or not readable yet: the job checks again
    if entry_script in listing:
        return None
    return MISSING_ENTRY_SCRIPT.format(
        script=entry_script, where=where, listing=", ".join(sorted(listing)[:10]) or "nothing"
    )


# ---- what the container sees -------------------------------------------------------------


def host_path(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def unpack_code(source: ScriptSource, root: Path, s3: LocalS3) -> tuple[Path, str]:
    """Put the code where the driver expects it; the code folder and the entry script's name."""
    if not source.sdk_v3:
        code = host_path(root, f"{CONTAINER_PREFIX}/code")
        try:
            archive = s3.path(source.submit_directory)
        except S3UriError:
            archive = None
        if archive is None or not archive.is_file():
            raise ScriptTrainingError(
                f"ClientError: no code archive at {SUBMIT_DIR_HYPERPARAMETER}="
                f"{source.submit_directory!r}; upload the source directory there as a tar.gz."
            )
        _extract(archive, code)
        return code, source.entry_script
    data = host_path(root, f"{CONTAINER_PREFIX}/input/data")
    source_code = _read_json_file(data / V3_DRIVERS_CHANNEL / "sourcecode.json")
    distributed = _read_json_file(data / V3_DRIVERS_CHANNEL / "distributed.json")
    entry_script = str(source_code.get("entry_script") or "")
    if source_code.get("command") or distributed or not entry_script.endswith(".py"):
        raise ScriptTrainingError(UNSUPPORTED_V3_SOURCE.format(source=source_code))
    code = data / V3_CODE_CHANNEL
    source_dir = str(source_code.get("source_dir") or "")
    if source_dir.endswith(".tar.gz"):  # sm_train.sh: `tar -xzf <basename>` in the code folder
        _extract(code / os.path.basename(source_dir), code)
    return code, entry_script


def check_entry_script(code: Path, entry_script: str, where: str) -> Path:
    script = code / entry_script
    if not script.is_file():
        listing = sorted(str(p.relative_to(code)) for p in code.rglob("*") if p.is_file())
        raise ScriptTrainingError(
            MISSING_ENTRY_SCRIPT.format(
                script=entry_script, where=where, listing=", ".join(listing[:10]) or "nothing"
            )
        )
    return script


def _extract(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r:gz") as bundle:
            bundle.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ScriptTrainingError(
            f"ClientError: the code archive {archive.name} is not a readable tar.gz: {error}"
        ) from None


def _read_json_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8").strip()
    return json.loads(text) if text else {}


def write_config_files(
    root: Path, request: dict[str, Any], host: str = LOCAL_HOST, hosts: list[str] | None = None
) -> dict[str, Any]:
    """/opt/ml/input/config/*.json as SageMaker writes them for `host` of `hosts` (a job of
    one instance by default); returns the resource config."""
    config = host_path(root, f"{CONTAINER_PREFIX}/input/config")
    config.mkdir(parents=True, exist_ok=True)
    instance_type = (request.get("ResourceConfig") or {}).get("InstanceType", "local")
    cluster_hosts = hosts or [LOCAL_HOST]
    resource_config = {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": cluster_hosts,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": cluster_hosts,
            }
        ],
        "network_interface_name": "eth0",
    }
    input_data_config = {
        channel["ChannelName"]: {
            "TrainingInputMode": channel.get("InputMode")
            or (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File"),
            # The request's S3DataDistributionType, under the name the file gives it.
            "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                "S3DataDistributionType", "FullyReplicated"
            ),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            **({"ContentType": channel["ContentType"]} if channel.get("ContentType") else {}),
        }
        for channel in request.get("InputDataConfig") or []
    }
    files = {
        "hyperparameters.json": request.get("HyperParameters") or {},
        "inputdataconfig.json": input_data_config,
        "resourceconfig.json": resource_config,
    }
    for name, content in files.items():
        state.write_bytes_atomic(config / name, json.dumps(content).encode("utf-8"))
    return {"resource": resource_config, "input_data": input_data_config}


# ---- the driver's environment and arguments ----------------------------------------------


def driver_environment(
    source: ScriptSource, request: dict[str, Any], root: Path, configs: dict[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """SM_* variables and the script's arguments, as the source's driver builds them."""
    raw = request.get("HyperParameters") or {}
    if source.sdk_v3:
        hps = {k: decoded(v) for k, v in raw.items()}
        text = _v3_text
        arguments = [part for k, v in hps.items() for part in (f"--{k}", text(v))]
        hp_variables = {f"SM_HP_{k.replace('-', '_').upper()}": text(v) for k, v in hps.items()}
    else:
        hps = {
            k: decoded(v)
            for k, v in raw.items()
            if not k.startswith("sagemaker_") and k != "_tuning_objective_metric"
        }
        text = _toolkit_text
        arguments = _toolkit_cmd_args(hps)
        hp_variables = {f"SM_HP_{k.upper()}": text(v) for k, v in hps.items()}
    # The toolkit lists channels sorted (Environment.to_env_vars); the v3 drivers in the
    # order inputdataconfig.json has them (environment.py:set_env), the request's order.
    channels = list(configs["input_data"]) if source.sdk_v3 else sorted(configs["input_data"])

    def path(container_path: str) -> str:
        return str(host_path(root, container_path))

    channel_dirs = {c: path(f"{CONTAINER_PREFIX}/input/data/{c}") for c in channels}
    values: dict[str, Any] = {
        "SM_MODEL_DIR": path(f"{CONTAINER_PREFIX}/model"),
        "SM_INPUT_DIR": path(f"{CONTAINER_PREFIX}/input"),
        "SM_INPUT_DATA_DIR": path(f"{CONTAINER_PREFIX}/input/data"),
        "SM_INPUT_CONFIG_DIR": path(f"{CONTAINER_PREFIX}/input/config"),
        "SM_OUTPUT_DIR": path(f"{CONTAINER_PREFIX}/output"),
        "SM_OUTPUT_DATA_DIR": path(f"{CONTAINER_PREFIX}/output/data"),
        "SM_CHANNELS": channels,
        "SM_HPS": hps,
        "SM_HOSTS": [LOCAL_HOST],
        "SM_CURRENT_HOST": LOCAL_HOST,
        "SM_CURRENT_INSTANCE_TYPE": configs["resource"]["current_instance_type"],
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_NUM_CPUS": os.cpu_count() or 1,
        "SM_NUM_GPUS": 0,  # this machine's interpreter runs on the CPU
        "SM_RESOURCE_CONFIG": configs["resource"],
        "SM_INPUT_DATA_CONFIG": configs["input_data"],
        "SM_USER_ARGS": arguments,
        # A subset of the toolkit's training_env: the keys scripts read for paths and hosts.
        "SM_TRAINING_ENV": {
            "channel_input_dirs": channel_dirs,
            "hyperparameters": hps,
            "model_dir": path(f"{CONTAINER_PREFIX}/model"),
            "output_data_dir": path(f"{CONTAINER_PREFIX}/output/data"),
            "current_host": LOCAL_HOST,
            "hosts": [LOCAL_HOST],
        },
        **{f"SM_CHANNEL_{c.upper()}": d for c, d in channel_dirs.items()},
    }
    environment = {k: text(v) for k, v in values.items()} | hp_variables
    environment["TRAINING_JOB_NAME"] = ""  # filled in by the caller
    return environment, arguments


def _toolkit_text(value: Any) -> str:
    """mapping.py:to_env_vars format_value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _v3_text(value: Any) -> str:
    """container_drivers/common/utils.py:safe_serialize."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def _toolkit_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """mapping.py:to_cmd_args: sorted names; a mapping's value becomes `k=v,k=v`."""
    arguments = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        arguments.append(f"--{name}" if len(name) > 1 else f"-{name}")
        if hasattr(value, "items"):
            arguments.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            arguments.append("" if value is None else str(value))
    return arguments
