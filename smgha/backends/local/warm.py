"""Local steps forked from a warm worker instead of started as fresh interpreters.

A step of the local backend is `python container_boot.py <root> <script> args...`; its fresh
interpreter spends 3-4 s importing pandas, scikit-learn or xgboost before 0.1-0.2 s of work.
The warm worker (warm_worker.py) imported them once; start_step asks it to fork the step,
which then has the fresh process's environment, folder, arguments, path remapping, exit
codes and output (warm_step.py). Anything that goes wrong on the way (no worker, a stale
one, a step the fork cannot honour) runs the step fresh and says why in the job's log: the
worker only ever makes a build faster, never fails it.

Lifetime: one worker per state folder (<state>/warm/: worker.sock, worker.json with its
pid, worker.out its log). The local backend starts it, in the background, when it starts an
execution; it exits after SMGHA_LOCAL_WARM_IDLE_SECONDS without a step (default 600), when
a client finds it stale (smgha or the installed packages changed since it started: the
next execution starts a new one), or on stop() (`smgha warm-worker stop`).
SMGHA_LOCAL_WARM=0 runs every step fresh and starts no worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from smgha.backends.local import state, warm_step

SWITCH_ENV = "SMGHA_LOCAL_WARM"  # "0" (or "false", "no", "off"): every step runs fresh
WORKER_MODULE = "smgha.backends.local.warm_worker"
WORKER_FILE = "worker.json"
SOCKET_NAME = "worker.sock"
# A worker binds its socket within a second of starting (before its imports).
SOCKET_WAIT_SECONDS = 10.0
WORKER_OUT = "worker.out"
BOOT_SCRIPT = Path(__file__).with_name("container_boot.py")
# Waiting for the worker's first answer covers its imports when it has only just started.
ANSWER_TIMEOUT_SECONDS = 120.0
# AF_UNIX addresses are at most 108 bytes with the terminating NUL (unix(7), sun_path).
MAX_SOCKET_PATH = 107


def enabled(environment: dict[str, str] | None = None) -> bool:
    value = (environment if environment is not None else os.environ).get(SWITCH_ENV, "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def folder(state_root: Path) -> Path:
    return state_root / "warm"


def running_pid(state_root: Path) -> int | None:
    """The pid of this state folder's live warm worker, or None."""
    record = state.read_json_if_exists(folder(state_root) / WORKER_FILE) or {}
    pid = record.get("pid")
    if isinstance(pid, int) and state.runs(pid, WORKER_MODULE, folder(state_root)):
        return pid
    return None


def start(state_root: Path) -> int | None:
    """Start this state folder's warm worker unless a current one runs (a stale one is
    stopped first); its pid, None when disabled. Returns at once: the worker imports in the
    background, and requests wait in its socket's backlog meanwhile."""
    if not enabled():
        return None
    warm_folder = folder(state_root)
    if len(str(warm_folder / SOCKET_NAME)) > MAX_SOCKET_PATH:
        return None  # start_step says why when a step runs fresh because of it
    fingerprint = warm_step.code_fingerprint()
    with state.locked(warm_folder / state.LOCK_FILE):
        pid = running_pid(state_root)
        record = state.read_json_if_exists(warm_folder / WORKER_FILE) or {}
        if pid is not None and record.get("fingerprint") == fingerprint:
            return pid
        if pid is not None:  # stale: smgha or the packages changed since it started
            _stop_worker(warm_folder, pid)
        child = state.spawn(WORKER_MODULE, warm_folder, WORKER_OUT)
        state.write_json_atomic(
            warm_folder / WORKER_FILE, {"pid": child.pid, "fingerprint": fingerprint}
        )
        _forget(child)
        return child.pid


def stop(state_root: Path) -> int | None:
    """Stop this state folder's warm worker with its supervisors and any step they run; the
    pid stopped, or None when none ran."""
    warm_folder = folder(state_root)
    with state.locked(warm_folder / state.LOCK_FILE):
        pid = running_pid(state_root)
        if pid is not None:
            _stop_worker(warm_folder, pid)
        for name in (WORKER_FILE, SOCKET_NAME):
            with contextlib.suppress(FileNotFoundError):
                (warm_folder / name).unlink()
    return pid


def _stop_worker(warm_folder: Path, pid: int, grace_seconds: float = 5.0) -> None:
    """SIGTERM to the worker's process group (it is a session leader: its supervisors and
    steps are in it), SIGKILL after `grace_seconds`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while _still_runs(pid, warm_folder) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _still_runs(pid, warm_folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + grace_seconds
        while _still_runs(pid, warm_folder) and time.monotonic() < deadline:
            time.sleep(0.02)  # reaped here when this process started it: no zombie


def _still_runs(pid: int, warm_folder: Path) -> bool:
    """Whether worker `pid` still runs; reaps it when this process started it.

    A child of this process runs until it is reaped here: one that is exiting has already
    lost its command line (state.runs says no) but is not a zombie yet, and looking at /proc
    then would leave it unreaped (seen on a loaded machine: stop() returned, the pid still
    answered signal 0)."""
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours: another process started it
        return state.runs(pid, WORKER_MODULE, warm_folder)
    return reaped == 0


def _forget(child: Any) -> None:
    """The worker outlives this process; Popen must not warn about it or try to reap it."""
    child.returncode = 0


class WarmStep:
    """A step forked by the warm worker, used as run_logged uses a Popen: read `stdout` to its
    end, kill() on timeout, wait() for the exit code (a signal as -N, as Popen reports)."""

    def __init__(self, connection: socket.socket, stdout: IO[str], pid: int) -> None:
        self.connection = connection
        self.stdout = stdout
        self.pid = pid
        self.returncode: int | None = None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(b"kill")

    def wait(self) -> int:
        if self.returncode is None:
            self.connection.settimeout(None)
            try:
                answer = json.loads(self.connection.recv(4096) or b"{}")
            except (OSError, ValueError):
                answer = {}
            finally:
                self.connection.close()
                self.stdout.close()
            # No status: the supervisor was killed (the worker was stopped) with the step.
            status = answer.get("status")
            self.returncode = (
                -signal.SIGKILL if status is None else os.waitstatus_to_exitcode(status)
            )
        return self.returncode


def start_step(
    command: list[str],
    environment: dict[str, str],
    cwd: Path,
    state_root: Path,
    log: Callable[[str], None],
) -> WarmStep | None:
    """Fork `command` (a container_boot command) from the warm worker; None when the step
    must run fresh, after logging why (unless the switch is off or it is not a step)."""
    if not enabled() or command[:2] != [sys.executable, str(BOOT_SCRIPT)] or len(command) < 4:
        return None
    root, script, *arguments = command[2:]
    request = {
        "fingerprint": warm_step.code_fingerprint(),
        "env": environment,
        "cwd": str(cwd),
        "root": root,
        "script": script,
        "arguments": arguments,
    }
    try:
        return _connect(request, state_root)
    except (OSError, ValueError) as error:
        detail = str(error) or type(error).__name__
        if isinstance(error, (FileNotFoundError, ConnectionRefusedError)):
            detail = "no warm worker is running"
        log(f"warm worker: this step runs in a fresh interpreter: {detail}")
        return None


def _connect(request: dict[str, Any], state_root: Path) -> WarmStep:
    """Send the request with the write end of the step's output pipe; the forked step, or
    OSError saying why the worker did not fork it."""
    path = folder(state_root) / SOCKET_NAME
    if len(str(path)) > MAX_SOCKET_PATH:
        raise OSError(f"its socket path is longer than {MAX_SOCKET_PATH} bytes: {path}")
    deadline = time.monotonic() + SOCKET_WAIT_SECONDS
    while not path.exists() and running_pid(state_root) and time.monotonic() < deadline:
        time.sleep(0.02)  # started a moment ago (warm.start): its socket comes first
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    connection.settimeout(ANSWER_TIMEOUT_SECONDS)
    read_fd, write_fd = os.pipe()
    try:
        try:
            connection.connect(str(path))
            socket.send_fds(connection, [json.dumps(request).encode("utf-8")], [write_fd])
        finally:
            os.close(write_fd)  # the step holds the only write end: EOF when it ends
        answer = json.loads(connection.recv(65536) or b'{"refused": "no answer"}')
        if "pid" not in answer:
            raise OSError(answer.get("refused", str(answer)))
    except BaseException:
        os.close(read_fd)
        connection.close()
        raise
    return WarmStep(connection, open(read_fd, encoding=None), int(answer["pid"]))
