"""A script-mode model: the user's inference script served by a worker process (worker.py).

The container's environment names the script: SAGEMAKER_PROGRAM (a module in the source
folder, `.py` optional) and SAGEMAKER_SUBMIT_DIRECTORY, where the source is. What the
framework containers accept there (sagemaker_containers v2.8.6.post2, the scikit-learn and
XGBoost containers' toolkit): `_env.py` `ServingEnv` (module_dir is SAGEMAKER_SUBMIT_DIRECTORY,
default /opt/ml/code), `_modules.py` `import_module` and `_files.py` `download_and_extract`
(an s3:// tar.gz is downloaded and unpacked; a local folder is used as it is). The SageMaker
Python SDK repacks the script into model.tar.gz's code/ folder and sets
SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code (sagemaker/model.py `_upload_code`), which is the
model folder here. With no SAGEMAKER_SUBMIT_DIRECTORY the scikit-learn and XGBoost containers
look in /opt/ml/code, which their stock images leave empty: refused. The PyTorch container
(on aws/sagemaker-inference-toolkit) reads no SAGEMAKER_SUBMIT_DIRECTORY: it imports from
model.tar.gz's code/ folder (code_dir /opt/ml/model/code), SAGEMAKER_PROGRAM defaulting to
inference.py, and with no such file serves with its default handlers (images.py has the
sources). A SAGEMAKER_PROGRAM naming a file that is not there is refused in every image: the
toolkit would fall back to its defaults silently, and a misspelt name is the likelier cause.

The source and model are unpacked into a scratch folder, removed when the model is closed.
The container installs requirements.txt from the source folder; the local endpoint installs
nothing (the worker names a missing package instead).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smgha import serving_container
from smgha.backends.local.s3 import LocalS3, S3UriError
from smgha.backends.local.serving import images, worker

# SageMaker's InvokeEndpoint: "the model container must respond to requests within 60
# seconds" (developer guide, your-algorithms-inference-code.html, "How Containers Serve
# Requests").
INVOCATION_TIMEOUT_SECONDS = 60.0
# How long model_fn may take. SageMaker's limit is the variant's
# ContainerStartupHealthCheckTimeoutInSeconds; its default could not be confirmed here, so a
# stricter one, below the controller's wait for a fleet (deployer.py HEALTH_TIMEOUT, 120 s),
# which then sees the variant Failed with this reason instead of a timeout of its own.
LOAD_TIMEOUT_SECONDS = 90.0
MODEL_MOUNT = "/opt/ml/model"
# How the worker starts: this copy of smgha first on sys.path, never one in the source folder
# (its cwd) or the workspace, as state.spawn starts the server.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[4])
LAUNCH_WORKER = (
    "import sys\n"
    "sys.path[0] = sys.argv[1]\n"
    "sys.argv = sys.argv[1:]\n"
    "from smgha.backends.local.serving.worker import main\n"
    "sys.exit(main())\n"
)

# Messages users act on.
NOT_A_MODULE = (
    "SAGEMAKER_PROGRAM={program!r} is not a module file name: name the script in the source "
    "folder's top level, e.g. inference.py"
)
NO_SOURCE_ARCHIVE = (
    "SAGEMAKER_SUBMIT_DIRECTORY={uri!r}: {problem}. Upload the script's source as a tar.gz "
    "there (or repack it into model.tar.gz's code/ folder with "
    "SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code)."
)
IMAGE_FOLDER = (
    "SAGEMAKER_SUBMIT_DIRECTORY={folder!r} is a folder inside the container image, which the "
    "local endpoint cannot see: give the s3:// URI of the source's tar.gz, or put the script "
    "in model.tar.gz's code/ folder with SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code"
)
NO_SCRIPT_FILE = (
    "the inference script {program} is missing: {where} holds {names}. Put {program} there "
    "or set SAGEMAKER_PROGRAM to the script's name."
)
WORKER_ENDED = "the worker running {program} ended ({how}) {when}"
LOAD_TIMED_OUT = (
    "model_fn in {program} did not return within {seconds:.0f} s; the endpoint would fail its "
    "health check"
)
INVOKE_TIMED_OUT = (
    "{program} did not answer within {seconds:.0f} s (SageMaker's limit for a container's "
    "answer); its worker was stopped and starts again on the next request"
)


class ScriptLoadError(Exception):
    """The script cannot serve; the message is the variant's FailureReason."""


class WorkerGone(Exception):
    """The worker ended or did not answer in time; the message says which."""


def _unpack(archive_path: Path, into: Path, what: str) -> None:
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            archive.extractall(into, filter="data")
    except FileNotFoundError:
        raise ScriptLoadError(f"no {what} at {archive_path}") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ScriptLoadError(f"{what} {archive_path} is not a readable tar.gz: {error}") from None


def source_folder(
    environment: Mapping[str, str],
    framework: str,
    model_dir: Path,
    scratch: Path,
    s3_root: Path | None,
) -> Path:
    """The folder the container imports the script from, unpacked under `scratch`."""
    if framework in images.TOOLKIT_DEFAULT_PROGRAM:  # the toolkit's code_dir, whatever is set
        return model_dir / "code"
    submitted = environment.get(serving_container.SUBMIT_DIRECTORY, "").strip()
    if submitted.startswith("s3://"):
        if s3_root is None:  # a server outside a state folder (tests' doubles)
            problem = "this server has no local S3 to read it from"
            raise ScriptLoadError(NO_SOURCE_ARCHIVE.format(uri=submitted, problem=problem))
        try:
            archive = LocalS3(s3_root).path(submitted)
        except S3UriError as error:
            raise ScriptLoadError(NO_SOURCE_ARCHIVE.format(uri=submitted, problem=error)) from None
        if not archive.is_file():
            problem = f"no object at {submitted} (looked in {archive})"
            raise ScriptLoadError(NO_SOURCE_ARCHIVE.format(uri=submitted, problem=problem))
        _unpack(archive, scratch / "code", f"source archive {submitted}")
        return scratch / "code"
    if submitted == MODEL_MOUNT or submitted.startswith(MODEL_MOUNT + "/"):
        folder = (model_dir / submitted.removeprefix(MODEL_MOUNT).lstrip("/")).resolve()
        if not folder.is_relative_to(model_dir.resolve()):  # /opt/ml/model/../..
            raise ScriptLoadError(IMAGE_FOLDER.format(folder=submitted))
        return folder
    raise ScriptLoadError(IMAGE_FOLDER.format(folder=submitted or "/opt/ml/code (the default)"))


def module_name(program: str) -> str:
    """sagemaker_containers/_env.py `_parse_module_name`: the name without `.py`."""
    module = program.strip().removesuffix(".py")
    if not module.isidentifier():
        raise ScriptLoadError(NOT_A_MODULE.format(program=program))
    return module


def _read_exactly(fd: int, count: int, deadline: float) -> bytes:
    chunks, left = [], count
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class ScriptModel:
    """The worker of one script-mode model: started by load(), one request at a time."""

    def __init__(
        self, model_path: str, environment: Mapping[str, str], image: str, s3_root: Path | None
    ) -> None:
        self.model_path = model_path
        self.environment = dict(environment)
        self.framework = images.framework_of(image)
        self.s3_root = s3_root
        # The script the container imports: SAGEMAKER_PROGRAM, else the toolkit's default.
        self.named = serving_container.PROGRAM in self.environment
        self.program = self.environment.get(
            serving_container.PROGRAM, images.TOOLKIT_DEFAULT_PROGRAM.get(self.framework, "")
        )
        self.scratch: Path | None = None
        # Where the worker imports the script from and what it imports, once loaded.
        self.code_dir, self.model_dir, self.module = "", "", ""
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()  # one request at a time, as one worker takes them
        self.closed = False

    def load(self) -> None:
        """Unpack the model and source, start the worker and wait for model_fn;
        ScriptLoadError says why the model cannot serve."""
        module = module_name(self.program)
        self.scratch = Path(tempfile.mkdtemp(prefix="smgha-script-"))
        model_dir = self.scratch / "model"
        _unpack(Path(self.model_path), model_dir, "model artifact")
        code = source_folder(
            self.environment, self.framework, model_dir, self.scratch, self.s3_root
        )
        script = code / f"{module}.py"
        if not script.is_file() and not self.named:
            # No inference.py: the container's default handlers serve (the worker's cwd).
            module, code = "", code if code.is_dir() else model_dir
        elif not script.is_file():
            names = sorted(p.name for p in code.iterdir()) if code.is_dir() else "nothing"
            where = f"its source folder ({code})"
            raise ScriptLoadError(
                NO_SCRIPT_FILE.format(program=script.name, where=where, names=names)
            )
        self.code_dir, self.model_dir, self.module = str(code), str(model_dir), module
        self._start()

    def _start(self) -> None:
        code, model_dir, module = self.code_dir, self.model_dir, self.module
        try:
            self.process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
                [
                    sys.executable,
                    "-c",
                    LAUNCH_WORKER,
                    PACKAGE_ROOT,
                    code,
                    model_dir,
                    module,
                    self.framework,
                    str(self.scratch),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=code,
                env={**self._defaults(), **os.environ, **self.environment},
            )
        except OSError as error:
            raise ScriptLoadError(f"the worker for {self.program} cannot start: {error}") from None
        try:
            head, _ = self._receive(LOAD_TIMEOUT_SECONDS, "while loading")
        except WorkerGone as gone:
            raise ScriptLoadError(str(gone)) from None
        if "failure" in head:
            self._stop()
            raise ScriptLoadError(str(head["failure"]))

    def _defaults(self) -> dict[str, str]:
        """Variables set when the model's environment leaves them unset: one OpenMP thread per
        worker. The XGBoost container does this itself (sagemaker_xgboost_container/serving.py
        `set_default_serving_env_if_unspecified`). For the others it is the local endpoint's
        choice: this host stands in for every instance of every endpoint, and a worker whose
        native pool spins a thread per core (scikit-learn's OpenMP predict) starves the others
        (seen once here, on a loaded 2-core machine: the scikit-learn demo's production p99 at
        1.35 s with a thread per core, 32-38 ms in the runs after with one). A model that sets
        OMP_NUM_THREADS keeps its own value."""
        return {"OMP_NUM_THREADS": "1"}

    def _receive(self, timeout: float, when: str) -> tuple[dict[str, Any], bytes]:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        try:
            lengths = _read_exactly(fd, worker.FRAME_HEAD.size, deadline)
            head_length, body_length = worker.FRAME_HEAD.unpack(lengths)
            head = _read_exactly(fd, head_length, deadline)
            body = _read_exactly(fd, body_length, deadline)
        except TimeoutError:
            self._stop()
            if when == "while loading":
                raise WorkerGone(
                    LOAD_TIMED_OUT.format(program=self.program, seconds=timeout)
                ) from None
            raise WorkerGone(
                INVOKE_TIMED_OUT.format(program=self.program, seconds=timeout)
            ) from None
        except EOFError:
            code = self._stop()
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise WorkerGone(
                WORKER_ENDED.format(program=self.program, how=how, when=when)
            ) from None
        return json.loads(head), body

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of the worker's answer; a worker that ended or hung
        is a 500, and the next request starts a new one (gunicorn starts a new worker)."""
        with self.lock:
            if self.closed:  # a request that raced its variant's removal
                return 503, "text/plain; charset=utf-8", b"The variant was removed."
            try:
                if self.process is None or self.process.poll() is not None:
                    self._start()  # model_fn again, as a new gunicorn worker does
                assert self.process is not None and self.process.stdin is not None
                head = {"content_type": content_type, "accept": accept}
                with contextlib.suppress(OSError):  # BrokenPipeError: it ended meanwhile
                    worker.write_frame(self.process.stdin, head, body)
                answer, reply = self._receive(INVOCATION_TIMEOUT_SECONDS, "during the request")
            except (WorkerGone, ScriptLoadError) as error:
                return 500, "text/plain; charset=utf-8", f"Internal Server Error: {error}".encode()
        return int(answer["status"]), str(answer["content_type"]), reply

    def _stop(self) -> int:
        """Stop the worker; its exit code (negative: the signal)."""
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.kill()
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return code

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._stop()
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
