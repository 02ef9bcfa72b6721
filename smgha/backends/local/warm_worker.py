"""The warm worker: one process per state folder that imported the heavy modules once and
forks each local step from them (a zygote), so a step skips its 3-4 s of imports.

Usage: python -m smgha.backends.local.warm_worker <state folder>/warm   (warm.start runs it)

Protocol, over a Unix SOCK_SEQPACKET socket (one message is one datagram) in that folder:
the client sends one JSON request with the write end of its output pipe attached
(SCM_RIGHTS); the worker answers {"refused": why} (the client then runs the step fresh) or
forks a supervisor that answers {"pid": n}, forks the step, and answers {"status": s} (a
waitpid status) when the step ends. Any message, or the client going away, makes the
supervisor kill the step (the MaxRuntimeInSeconds stop, or a dead executor).

Fork safety: this process never starts a thread of its own, never trains or predicts, and
stops OpenBLAS's thread pools after importing numpy/scipy (stop_blas_threads). The only
other thread left is pyarrow's jemalloc background thread (pandas imports pyarrow), which
jemalloc itself quiesces around fork: its pthread_atfork handlers take every allocator lock
and its child handler marks background threads stopped (jemalloc src/jemalloc.c
jemalloc_prefork/jemalloc_postfork_child, src/background_thread.c
background_thread_postfork_child). The step child is what warm_step.py makes of it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from smgha.backends.local import warm_step
from smgha.backends.local.warm import SOCKET_NAME
from smgha.import_pause import collector_paused

# What the steps of the reference pipeline and the built-in XGBoost job import (pandas with
# pyarrow, scikit-learn, xgboost), and this package's job runners. A module missing from the
# environment is skipped: the step then fails on its own import, as it would fresh.
PRELOADED_MODULES = (
    "numpy",
    "pandas",
    "sklearn.model_selection",
    "sklearn.metrics",
    "xgboost",
    "smgha.backends.local.jobs",
)
# How many of them come first: what the first step (preprocessing) imports (scikit-learn's
# model_selection brings its metrics; the job runners come with the step). The requests
# already waiting are answered then, so that step runs on one CPU while the worker imports
# the rest (xgboost) on the other; a step that needs more imports it itself, as a fresh one
# would.
FIRST_MODULES = 3
# The idle timeout: the worker exits when no step has run for this long.
IDLE_SECONDS_ENV = "SMGHA_LOCAL_WARM_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 600.0
MAX_IDLE_SECONDS = 3600.0
MAX_MESSAGE_BYTES = 1 << 20


def idle_seconds(environment: dict[str, str]) -> float:
    """SMGHA_LOCAL_WARM_IDLE_SECONDS, bounded to (0, 3600]; the default when unset or bad."""
    text = environment.get(IDLE_SECONDS_ENV, "")
    try:
        value = float(text) if text else DEFAULT_IDLE_SECONDS
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_IDLE_SECONDS:
        print(
            f"{IDLE_SECONDS_ENV}={text!r} is not a number of seconds in (0, "
            f"{MAX_IDLE_SECONDS:g}]; using {DEFAULT_IDLE_SECONDS:g}",
            flush=True,
        )
        return DEFAULT_IDLE_SECONDS
    return value


def preload(names: tuple[str, ...]) -> None:
    with collector_paused():
        for name in names:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)


def stop_blas_threads() -> list[str]:
    """Stop the thread pools of every OpenBLAS this process loaded (numpy's and scipy's
    start theirs when loaded). blas_thread_shutdown_ is what OpenBLAS's own pre-fork
    handler runs (driver/others/memory.c openblas_fork_handler registers it with
    pthread_atfork); a later BLAS call, in the step, starts the pool again (blas_server.c
    blas_thread_init), with the thread count the step's environment asks for."""
    stopped = []
    with open("/proc/self/maps", encoding="utf-8") as maps:
        libraries = {line.split()[-1] for line in maps if "openblas" in line}
    for library in sorted(p for p in libraries if ".so" in p):
        shutdown = getattr(ctypes.CDLL(library), "blas_thread_shutdown_", None)
        if shutdown is not None:
            shutdown()
            stopped.append(library)
    return stopped


class Worker:
    def __init__(self, folder: Path, listener: socket.socket) -> None:
        self.folder = folder
        self.listener = listener
        self.fingerprint = warm_step.code_fingerprint()
        # What a fresh interpreter started now would see, for the steps to start from.
        self.startup_environment = dict(os.environ)
        # sys.path without [0] and the PYTHONPATH entries, which a step resolves in its own
        # folder (warm_step.python_path_entries): the standard library and site-packages.
        own_entries = set(warm_step.python_path_entries(self.startup_environment))
        self.base_sys_path = [p for p in sys.path[1:] if p not in own_entries]
        self.supervisors: set[int] = set()

    def serve(self, idle: float) -> None:
        last_active = time.monotonic()
        while True:
            self.reap_supervisors()
            if self.supervisors:
                last_active = time.monotonic()
            remaining = idle - (time.monotonic() - last_active)
            if remaining <= 0:
                print(f"idle for {idle:g} s: exiting", flush=True)
                return
            self.listener.settimeout(min(remaining, 1.0) if self.supervisors else remaining)
            try:
                connection, _address = self.listener.accept()
            except TimeoutError:
                continue
            last_active = time.monotonic()
            if not self.handle(connection):
                return

    def answer_waiting(self) -> bool:
        """Answer the requests already in the socket's backlog, without waiting for more;
        False when this worker must exit (it is stale)."""
        self.listener.setblocking(False)
        try:
            while True:
                try:
                    connection, _address = self.listener.accept()
                except BlockingIOError:
                    return True
                if not self.handle(connection):
                    return False
        finally:
            self.listener.setblocking(True)

    def reap_supervisors(self) -> None:
        for pid in list(self.supervisors):
            with contextlib.suppress(ChildProcessError):
                done, _status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            self.supervisors.discard(pid)

    def handle(self, connection: socket.socket) -> bool:
        """Answer one request; False when this worker must exit (it is stale)."""
        output_fd = -1
        try:
            connection.setblocking(True)
            message, fds, _flags, _address = socket.recv_fds(connection, MAX_MESSAGE_BYTES, 1)
            output_fd = fds[0] if fds else -1
            request = json.loads(message.decode("utf-8"))
            if request.get("fingerprint") != self.fingerprint:
                connection.send(b'{"refused": "the warm worker is stale: smgha or the '
                                b'installed packages changed since it started", "stale": true}')  # fmt: skip
                return False
            reason = warm_step.fresh_reason(request["env"], self.startup_environment)
            if reason or output_fd < 0:
                refusal = {"refused": reason or "no output pipe in the request"}
                connection.send(json.dumps(refusal).encode("utf-8"))
                return True
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self.listener.close()
                _supervise(connection, output_fd, request, self.base_sys_path)
            self.supervisors.add(pid)
            return True
        except (OSError, ValueError, KeyError) as error:
            print(f"request refused: {error!r}", flush=True)
            with contextlib.suppress(OSError):
                connection.send(json.dumps({"refused": f"bad request: {error}"}).encode())
            return True
        finally:
            if output_fd >= 0:
                os.close(output_fd)
            connection.close()


def _supervise(
    connection: socket.socket, output_fd: int, request: dict[str, Any], base_sys_path: list[str]
) -> None:
    """In the supervisor (a child of the worker): fork the step, report its pid and its
    status, and kill it when the client asks or goes away. Never returns."""
    code = 0
    try:
        step = os.fork()
        if step == 0:
            warm_step.become_step(connection, output_fd, request, base_sys_path)
        os.close(output_fd)
        connection.send(json.dumps({"pid": step}).encode("utf-8"))
        status = _wait_or_kill(step, connection)
        connection.send(json.dumps({"status": status}).encode("utf-8"))
    except OSError:
        code = 1  # the client went away: nothing left to tell
    finally:
        os._exit(code)


def _wait_or_kill(step: int, connection: socket.socket) -> int:
    """The step's waitpid status; it is killed first if the client sends anything or hangs up."""
    pidfd = os.pidfd_open(step)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(connection, select.POLLIN | select.POLLHUP)
        while True:
            events = dict(poller.poll())
            if pidfd in events:
                return os.waitpid(step, 0)[1]
            if events:  # a kill request, or the client is gone
                os.kill(step, signal.SIGKILL)
                return os.waitpid(step, 0)[1]
    finally:
        os.close(pidfd)


def main(folder: str) -> int:
    warm_folder = Path(folder)
    path = warm_folder / SOCKET_NAME
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left behind by a worker that was killed
    # Listen before importing: a client that connects now waits in the backlog for the
    # imports to finish instead of finding no socket and running its step fresh.
    listener.bind(str(path))
    listener.listen(16)
    inode = path.stat().st_ino
    worker = Worker(warm_folder, listener)
    started = time.monotonic()
    preload(PRELOADED_MODULES[:FIRST_MODULES])
    stop_blas_threads()  # before any fork
    try:
        if worker.answer_waiting():  # else stale: exit
            preload(PRELOADED_MODULES[FIRST_MODULES:])
            stopped = stop_blas_threads()
            print(
                f"warm worker {os.getpid()}: imported {', '.join(PRELOADED_MODULES)} in "
                f"{time.monotonic() - started:.1f} s; stopped the BLAS threads of "
                f"{len(stopped)} libraries",
                flush=True,
            )
            worker.serve(idle_seconds(dict(os.environ)))
    finally:
        with contextlib.suppress(OSError):
            if path.stat().st_ino == inode:  # still ours, not a successor's
                path.unlink()
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
