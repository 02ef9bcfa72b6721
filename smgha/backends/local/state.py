"""Where the local backend keeps everything, and how it writes it safely.

One folder holds the local "AWS account": S3 objects, pipelines, executions, the model
registry. Separate processes (a stage, the detached executor, a later job) share it, so
every JSON record is written atomically and every ARN is derived from the folder layout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smgha.errors import StateFileError

STATE_DIR_ENV = "SMGHA_STATE_DIR"
# The account id of every local ARN: AWS reserves no such account, and it reads as fake.
LOCAL_ACCOUNT = "000000000000"


def state_dir() -> Path:
    """The state folder: $SMGHA_STATE_DIR, else a per-user folder shared by all jobs."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "smgha"


# The files of an endpoint's folder (<state>/endpoints/<name>/): the protocol between the
# backend, the detached deployer and the endpoint's server.
ENDPOINT_FILE = "endpoint.json"  # DescribeEndpoint
DEPLOYMENT_FILE = "deployment.json"  # the create or update the deployer carries out
DEPLOYER_FILE = "deployer.json"  # the pid of the deployer of the last create or update
DEPLOYER_LOG = "deployer.log"
SERVING_FILE = "serving.json"  # what the endpoint's server hosts (written by the deployer)
SERVER_FILE = "server.json"  # the server's pid and port (written by the server)
SERVER_OUT = "server.out"  # the server's stdout and stderr
SERVER_LOG = "server.log"
SERVER_LOCK = "server.lock"  # held by the one server that serves the endpoint

# The files of an execution's folder (<state>/executions/<id>/), shared with the executor.
EXECUTION_FILE = "execution.json"  # DescribePipelineExecution, and the steps
DEFINITION_FILE = "definition.json"  # the definition the execution runs
EXECUTOR_OUT = "executor.out"
EXECUTION_LOG = "execution.log"
DESCRIBED_FILE = "described.json"  # a finished step's resolved request: jobs/<step>/
# Inside a step's job folder: the job's container file system, and its output.
CONTAINER_FOLDER = "container"
JOB_OUTPUT_LOG = "output.log"

# The files of a monitoring schedule's folder (<state>/monitoring/schedules/<name>/).
SCHEDULE_FILE = "schedule.json"  # DescribeMonitoringSchedule
CURSOR_FILE = "cursor.json"  # how far each capture file has been analysed

LOCK_FILE = ".lock"


class Layout:
    """Where each record lives in the state folder `root`: the one place that knows.

    s3/<bucket>/<key>                          S3 objects
    registry/<group>/group.json, <n>.json      model package groups and versions
    pipelines/<name>/pipeline.json             DescribePipeline
    tokens/<name>/<token>.json                 StartPipelineExecution's idempotency
    executions/<id>/                           an execution (EXECUTION_FILE, ...)
    jobs/<job name>.json                       Describe*Job of a pipeline's job
    models/<ModelName>.json                    CreateModel request + ModelArn
    endpoint-configs/<Name>.json               CreateEndpointConfig request + ARN
    endpoints/<Name>/                          an endpoint (ENDPOINT_FILE, ...)
    locks/<kind>-<Name>.lock                   held while a record is checked and changed
    alarms/<AlarmName>.json                    PutMetricAlarm request + StateValue
    autoscaling/<resource id>.json             scalable target and its policies
    monitoring/job-definitions/<Name>.json     a data-quality job definition
    monitoring/schedules/<Name>/               a schedule (SCHEDULE_FILE, CURSOR_FILE)
    transform-jobs/<Name>.json                 DescribeTransformJob (transform.py)
    definition-cache/<key>.json                build-pipeline's definition cache (both backends)
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of_endpoint_folder(cls, folder: Path) -> Layout:
        """The layout of the state folder holding endpoint folder `folder`."""
        return cls(folder.parents[1])

    @classmethod
    def of_execution_folder(cls, folder: Path) -> Layout:
        """The layout of the state folder holding execution folder `folder`."""
        return cls(folder.parents[1])

    # -- S3 and the registry ------------------------------------------------------------------

    @property
    def s3(self) -> Path:
        return self.root / "s3"

    @property
    def definition_cache(self) -> Path:
        return self.root / "definition-cache"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    def group_folder(self, group: str) -> Path:
        return self.registry / group

    def group_file(self, group: str) -> Path:
        return self.group_folder(group) / "group.json"

    def version_file(self, group: str, version: int) -> Path:
        return self.group_folder(group) / f"{version}.json"

    def version_files(self, group: str) -> list[Path]:
        """The version records of `group` (files named by their version number)."""
        folder = self.group_folder(group)
        return [p for p in folder.glob("*.json") if p.stem.isdigit()] if folder.is_dir() else []

    # -- pipelines and executions ---------------------------------------------------------------

    def pipeline_file(self, name: str) -> Path:
        return self.root / "pipelines" / name / "pipeline.json"

    def token_folder(self, pipeline: str) -> Path:
        return self.root / "tokens" / pipeline

    def token_file(self, pipeline: str, token: str) -> Path:
        return self.token_folder(pipeline) / f"{token}.json"

    def execution_folder(self, execution_id: str) -> Path:
        return self.root / "executions" / execution_id

    @staticmethod
    def jobs_folder(execution_folder: Path) -> Path:
        """Where the steps of the execution in `execution_folder` run their jobs."""
        return execution_folder / "jobs"

    @staticmethod
    def step_job_folder(execution_folder: Path, step_name: str) -> Path:
        """Where a step of the execution in `execution_folder` runs its job."""
        return Layout.jobs_folder(execution_folder) / step_name

    def job_file(self, job_name: str) -> Path:
        """Describe*Job of a pipeline's job, by name (as later stages look jobs up)."""
        return self.root / "jobs" / f"{job_name.lower()}.json"

    # -- hosting --------------------------------------------------------------------------------

    def model_file(self, name: str) -> Path:
        return self.root / "models" / f"{name}.json"

    def endpoint_config_file(self, name: str) -> Path:
        return self.root / "endpoint-configs" / f"{name}.json"

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints"

    def endpoint_folder(self, name: str) -> Path:
        return self.endpoints / name

    def lock_file(self, kind: str, name: str) -> Path:
        return self.root / "locks" / f"{kind}-{name}.lock"

    def alarm_file(self, name: str) -> Path:
        return self.root / "alarms" / f"{name}.json"

    def scaling_file(self, resource_id: str) -> Path:
        return self.root / "autoscaling" / (resource_id.replace("/", "__") + ".json")

    def async_folder(self, endpoint: str) -> Path:
        """An async endpoint's queue (queue/), requests being worked on (taken/) and the
        result of each (results/<inference id>.json): async_queue.py."""
        return self.endpoint_folder(endpoint) / "async"

    def notification_file(self, topic_arn: str) -> Path:
        """The SNS messages the local backend would have published to a topic, one JSON
        document a line."""
        return self.root / "sns" / (topic_arn.replace(":", "__") + ".jsonl")

    # -- monitoring -----------------------------------------------------------------------------

    def job_definition_file(self, name: str) -> Path:
        return self.root / "monitoring" / "job-definitions" / f"{name}.json"

    @property
    def schedules(self) -> Path:
        return self.root / "monitoring" / "schedules"

    def schedule_folder(self, name: str) -> Path:
        return self.schedules / name


def arn(region: str, kind: str, name: str) -> str:
    """The ARN of local SageMaker resource `kind/name` (SageMaker lower-cases the name)."""
    return f"arn:aws:sagemaker:{region}:{LOCAL_ACCOUNT}:{kind}/{name.lower()}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def to_iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def from_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def new_id(length: int = 12) -> str:
    """A lower-case alphanumeric id, the shape SageMaker gives execution ids."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def write_bytes_atomic(path: Path, body: bytes) -> None:
    """Write `body` as the file `path` so that no reader, and no crash, ever sees half of
    it: write a temporary file in the same folder, flush it to disk (fsync), then rename it
    over `path` (os.replace is atomic within one file system: POSIX rename(2)), and fsync
    the folder so the rename itself is on disk. A failure at any point leaves the previous
    file as it was and no temporary file behind. (S3 likewise never shows part of an
    object: "Amazon S3 never adds partial objects", Amazon S3 API Reference, PutObject.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_json_atomic(path: Path, document: Any) -> None:
    """Write `document` as the JSON file `path`, atomically (write_bytes_atomic): readers
    in other processes, and a run after a crash, see the old file or the new one."""
    text = json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object stored at `path` (every state file holds one). A file that does not
    parse, or holds something else than an object, raises StateFileError naming it: the
    stages and the CLI report that in one line instead of a traceback."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except UnicodeDecodeError as error:
        raise StateFileError(path, f"is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        problem = "is empty" if not error.doc.strip() else f"is not valid JSON ({error})"
        raise StateFileError(path, problem) from None
    if not isinstance(document, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        found = kind.get(type(document), "a number")
        raise StateFileError(path, f"holds {found} where a JSON object belongs")
    return document


def read_json_if_exists(path: Path) -> dict[str, Any] | None:
    """The JSON object at `path`, or None when there is no such file (yet)."""
    try:
        return read_json(path)
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes, held on `path` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Runs a module as `python -m` would, but with this copy of smgha first on sys.path instead of
# the working directory: a consumer's workspace (a fork of this repository) may hold an
# smgha/ of its own, which must never shadow the toolkit.
_RUN_MODULE = (
    "import runpy, sys\n"
    "sys.path[0] = sys.argv[1]\n"
    "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)


def spawn_environment() -> dict[str, str]:
    """The environment of a spawned process: this one's, with this copy of smgha first on
    PYTHONPATH. Once: a process spawned by a spawned one (the executor starting the warm
    worker) gets the same PYTHONPATH as its parent, as the warm worker's steps need
    (warm_step.fresh_reason)."""
    package_root = str(Path(__file__).resolve().parents[3])
    python_path = os.environ.get("PYTHONPATH", "")
    if python_path.split(os.pathsep)[0] != package_root:
        python_path = package_root + os.pathsep + python_path
    return {**os.environ, "PYTHONPATH": python_path}


def spawn(module: str, folder: Path, log_name: str) -> subprocess.Popen[bytes]:
    """Start `python -m <module> <folder>` detached (its own session, so it outlives the
    caller, as an AWS resource would), logging to `<folder>/<log_name>`. It imports this copy
    of smgha, never one in the working directory, and finds the state folder from `folder`'s
    place in it."""
    package_root = str(Path(__file__).resolve().parents[3])
    env = spawn_environment()
    with open(folder / log_name, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", _RUN_MODULE, package_root, module, str(folder.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def runs(pid: int, module: str, folder: Path) -> bool:
    """Whether process `pid` is alive and is the `spawn(module, folder)` it was recorded as.

    A pid file outlives its process (kill -9 leaves it behind) and the kernel reuses pids, so
    a signal-0 probe alone would take an unrelated process, or an unreaped zombie, for the
    endpoint's server or the executor. Where /proc exists (Linux) the process must not be a
    zombie and its command line must name the module and the folder; elsewhere the probe is
    all there is."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one this state folder started
    if not Path("/proc/self").is_dir():
        return True
    proc = Path("/proc") / str(pid)
    try:
        status = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False  # it ended while we looked
    # spawn() passes the folder resolved, so every reader spells it the same way.
    wanted = [module.encode(), str(folder.resolve()).encode()]
    return status != "Z" and all(part in arguments for part in wanted)


def stop_process_group(leader: int, grace_seconds: float = 5.0) -> None:
    """Stop what is left of the process group of `leader`, a spawned process (each is a
    session and group leader) that has died: the jobs it started run on otherwise.

    The group's id stays reserved while any member lives (Linux does not hand out a pid that
    is still some group's id), so killing the group is safe unless a live process holds the
    pid: then the group is empty and the pid belongs to someone else, who is left alone.
    SIGTERM first, SIGKILL after `grace_seconds`."""
    import signal

    if _live_process_holds(leader):
        return  # the pid is someone else's now: the leader's group is empty
    try:
        os.killpg(leader, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return  # nothing is left of the group
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(leader, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)


def _live_process_holds(pid: int) -> bool:
    """A running process has this pid (an unreaped zombie does not count: it is the dead
    leader itself)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return not Path("/proc/self").is_dir()  # without /proc, trust the probe
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
