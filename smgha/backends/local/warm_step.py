"""A step forked from the warm worker, made to look like the fresh process it replaces:
`python container_boot.py <root> <script> args...` started with the job's environment in the
job's folder (jobs.run_logged). Also what decides that a step cannot be forked.

What a fresh interpreter fixes at start-up cannot be changed after a fork, so a step whose
environment asks for a different start-up runs fresh (fresh_reason). The strict list:

* PYTHON*: CPython reads these when it starts (docs.python.org/3/using/cmdline.html,
  "Environment variables": PYTHONHASHSEED, PYTHONPATH, PYTHONUNBUFFERED, PYTHONIOENCODING,
  PYTHONUTF8, PYTHONWARNINGS, ...). PYTHONHASHSEED set at all runs fresh: every forked step
  shares the worker's (random) hash seed, a fresh one draws its own or takes the job's.
* LANG, LANGUAGE, LC_*: CPython sets the locale and picks its stdio encoding at start-up
  (the same page, PYTHONUTF8 / "locale coercion", PEP 538, PEP 540); TZ: the time module
  computes time.timezone / time.tzname when imported (docs.python.org/3/library/time.html,
  time.tzset).
* Thread pools and allocators sized when the library loads: OMP_* (the OpenMP spec,
  "Environment Variables"; xgboost and scikit-learn use OpenMP), GOMP_* (libgomp), KMP_*
  (LLVM/Intel OpenMP), OPENBLAS_*, GOTO*, MKL_*, BLIS_*, VECLIB_*, NUMEXPR_* (threadpoolctl's
  and numpy's docs list these), MALLOC_* (glibc tunables), JE_* and ARROW_* (pyarrow's
  jemalloc and default pool, chosen at load), LD_* (read by ld.so(8) at exec only).
* Import-time configuration of the preloaded libraries: NUMPY_*, PANDAS_*, SKLEARN_*,
  JOBLIB_*, XGBOOST_*, SCIPY_*.

A variable in these families forks only when its value (or absence) is the worker's own.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import runpy
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, NoReturn

from smgha.backends.local import container_boot

STARTUP_PREFIXES = (
    "PYTHON", "LC_", "OMP_", "GOMP_", "KMP_", "OPENBLAS_", "GOTO", "MKL_", "BLIS_", "VECLIB_",
    "NUMEXPR_", "MALLOC_", "JE_", "ARROW_", "LD_", "NUMPY_", "PANDAS_", "SKLEARN_", "JOBLIB_",
    "XGBOOST_", "SCIPY_",
)  # fmt: skip
STARTUP_VARIABLES = ("LANG", "LANGUAGE", "TZ")
HASH_SEED = "PYTHONHASHSEED"


def fresh_reason(job_environment: dict[str, str], worker_environment: dict[str, str]) -> str:
    """Why this step must run in a fresh interpreter; "" when it can be forked."""
    if HASH_SEED in job_environment:
        return (
            f"the job sets {HASH_SEED}, which an interpreter reads only when it starts "
            "(forked steps share the warm worker's hash seed)"
        )
    names = sorted(set(job_environment) | set(worker_environment))
    for name in names:
        if not (name.startswith(STARTUP_PREFIXES) or name in STARTUP_VARIABLES):
            continue
        if job_environment.get(name) != worker_environment.get(name):
            return (
                f"the job's {name}={job_environment.get(name, '(unset)')!r} differs from the "
                f"warm worker's {worker_environment.get(name, '(unset)')!r}, and it is read "
                "only when an interpreter or a library starts"
            )
    return ""


def python_path_entries(environment: dict[str, str]) -> list[str]:
    """The sys.path entries an interpreter starting in the current folder makes of
    PYTHONPATH: each one made absolute, an empty one being that folder (CPython 3.11
    Modules/getpath.py: `pythonpath.append(abspath(p))` for every entry)."""
    value = environment.get("PYTHONPATH", "")
    return [os.path.abspath(entry) for entry in value.split(os.pathsep)] if value else []


def code_fingerprint() -> str:
    """What the warm worker's imported code is: this interpreter, smgha's files, and the
    installed packages (a site-packages folder's mtime changes when pip adds, removes or
    upgrades a distribution: each one is a *.dist-info entry of it). A worker whose
    fingerprint differs from its client's is stale."""
    digest = hashlib.sha256(f"{sys.executable}\n{sys.version}\n".encode())
    package = Path(__file__).resolve().parents[2]
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    for entry in sys.path:
        if entry.endswith("site-packages") and os.path.isdir(entry):
            digest.update(f"{entry}:{os.stat(entry).st_mtime_ns}\n".encode())
    return digest.hexdigest()


def become_step(
    connection: socket.socket, output_fd: int, request: dict[str, Any], base_sys_path: list[str]
) -> NoReturn:
    """In the forked child: take the fresh process's place and run the script. Never returns."""
    try:
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        connection.close()
        # The worker's handlers are not a fresh interpreter's: restore the defaults.
        for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()  # putenv/unsetenv too: native code sees the job's environment
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        _reseed_numpy()
        root, script, arguments = request["root"], request["script"], request["arguments"]
        container_boot.install(root)
        sys.argv = [script, *arguments]
        # As container_boot.main: the script's folder first, then the interpreter's own path.
        # A fresh `python container_boot.py` starts from [its folder, PYTHONPATH's entries,
        # the standard library, site-packages], duplicates removed (site.removeduppaths);
        # container_boot.main then puts the script's folder in place of its own.
        boot_folder = os.path.dirname(os.path.abspath(container_boot.__file__))
        entries = [boot_folder, *python_path_entries(request["env"]), *base_sys_path]
        sys.path[:] = list(dict.fromkeys(entries))
        sys.path[0] = os.path.dirname(os.path.abspath(script))
    except BaseException:
        traceback.print_exc()
        _exit_as_interpreter(1)
    _exit_as_interpreter(_run_main(script))


def _reseed_numpy() -> None:
    """numpy's global RandomState was seeded from OS entropy when the worker imported numpy;
    a fresh process seeds its own (numpy.random.seed(None): fresh entropy). Python's random
    module reseeds itself in a forked child (random.py registers os.register_at_fork)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(None)


def _run_main(script: str) -> int:
    """Run the script as __main__; its exit code as the interpreter would set it
    (Python/pythonrun.c handle_system_exit: None is 0, an int is itself, anything else is
    printed to stderr and is 1; an uncaught exception prints its traceback and is 1)."""
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_request:
        code = exit_request.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # CPython exits by SIGINT after an uncaught KeyboardInterrupt (3.8+, bpo-1054041).
        traceback.print_exc()
        _flush_streams()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _exit_as_interpreter(code: int) -> NoReturn:
    """What Py_FinalizeEx does before the process ends: wait for non-daemon threads, run
    atexit functions, flush stdout and stderr; then end without running the worker's code."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    _flush_streams()
    os._exit(code & 0xFF)
