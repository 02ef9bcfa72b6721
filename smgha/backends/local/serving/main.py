"""The server process: its command line, the lock, signals, server.json and the watcher."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from smgha.backends.local import state
from smgha.backends.local.endpoints import EXIT_ANOTHER_SERVER
from smgha.backends.local.serving.endpoint import Endpoint
from smgha.backends.local.serving.http_server import EndpointHTTPServer

USAGE = "usage: python -m smgha.backends.local.serving <endpoint folder>"
PORT_ENV = "SMGHA_ENDPOINT_PORT"
# How often the watcher thread compares serving.json's stat (SIGHUP skips the wait).
POLL_SECONDS = 0.2
# The package's logger: each module logs to logging.getLogger(__name__), a child of it, so one
# handler here writes every module's lines to server.log.
PACKAGE_LOGGER = "smgha.backends.local.serving"
# The start of each line the process prints to stderr (server.out), as before the package split.
STDERR_PREFIX = "endpoint_server"

log = logging.getLogger(__name__)


def _setup_logging(folder: Path) -> None:
    handler = logging.FileHandler(folder / state.SERVER_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    package_log = logging.getLogger(PACKAGE_LOGGER)
    package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)
    package_log.propagate = False


def _watch(endpoint: Endpoint, stop: threading.Event, wake: threading.Event) -> None:
    """Re-read serving.json when it changes, at once when SIGHUP sets `wake`."""
    while not stop.is_set():
        woken = wake.wait(POLL_SECONDS)
        if stop.is_set():
            return
        wake.clear()
        try:
            endpoint.scale_idle_to_zero()
            endpoint.refresh(force=woken)
        except Exception:  # the watcher must outlive any one bad reload
            log.exception("reloading %s failed", endpoint.serving_file)


def _remove_server_file(endpoint: Endpoint) -> None:
    """Remove server.json, unless another server has written its own since."""
    path = endpoint.folder / state.SERVER_FILE
    with contextlib.suppress(OSError, ValueError):
        if state.read_json(path).get("pid") == endpoint.pid:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    folder = Path(args[0]).resolve()
    if not folder.is_dir():
        print(f"{STDERR_PREFIX}: {folder} is not a folder", file=sys.stderr)
        return 2
    _setup_logging(folder)
    # One server per endpoint, whatever starts it: the kernel releases the lock when its
    # holder ends, also by kill -9, so a dead server never blocks the next one.
    lock = open(folder / state.SERVER_LOCK, "a")  # noqa: SIM115 (held for the life of the process)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = state.read_json_if_exists(folder / state.SERVER_FILE) or {}
        message = f"another server (pid {holder.get('pid', '?')}) serves {folder}; not starting"
        log.error(message)
        print(f"{STDERR_PREFIX}: {message}", file=sys.stderr)
        return EXIT_ANOTHER_SERVER

    stop, wake = threading.Event(), threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        wake.set()

    # Before anything slow: the controller may signal as soon as the process exists.
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hangup)

    endpoint = Endpoint(folder)
    try:
        server = EndpointHTTPServer(("127.0.0.1", int(os.environ.get(PORT_ENV) or 0)), endpoint)
    except (OSError, ValueError) as error:
        log.error("cannot listen: %s", error)
        print(f"{STDERR_PREFIX}: cannot listen: {error}", file=sys.stderr)
        return 1
    endpoint.port = server.server_address[1]
    # Serve at once (/ping answers 503 while models load); server.json comes after loading.
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    try:
        endpoint.refresh(force=True)
        if endpoint.table.spec is None:
            log.error("not starting: %s", endpoint.config_error)
            print(f"{STDERR_PREFIX}: not starting: {endpoint.config_error}", file=sys.stderr)
            return 2
        if stop.is_set():
            return 0
        endpoint.started = state.to_iso(state.now()) or ""
        state.write_json_atomic(
            folder / state.SERVER_FILE,
            {"pid": endpoint.pid, "port": endpoint.port, "started": endpoint.started},
        )
        log.info("listening on 127.0.0.1:%d (pid %d)", endpoint.port, endpoint.pid)
        threading.Thread(
            target=_watch, args=(endpoint, stop, wake), name="watch", daemon=True
        ).start()
        while not stop.wait(1.0):  # a timed wait, so the signal handlers run promptly
            pass
        log.info("stopping (signal)")
        return 0
    finally:
        stop.set()
        _remove_server_file(endpoint)
        server.shutdown()
        server.server_close()
        endpoint.capture.close()
