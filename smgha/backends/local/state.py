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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: readers in other processes see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json_if_exists(path: Path) -> Any:
    """The JSON at `path`, or None when there is no such file (yet)."""
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


def spawn(module: str, folder: Path, log_name: str) -> subprocess.Popen[bytes]:
    """Start `python -m <module> <folder>` detached (its own session, so it outlives the
    caller, as an AWS resource would), logging to `<folder>/<log_name>`. It imports this copy
    of smgha, never one in the working directory, and finds the state folder from `folder`'s
    place in it."""
    package_root = str(Path(__file__).resolve().parents[3])
    env = {
        **os.environ,
        "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    with open(folder / log_name, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", _RUN_MODULE, package_root, module, str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
