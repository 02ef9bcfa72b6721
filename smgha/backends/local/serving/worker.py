"""The worker process of a script-mode model: the user's inference script runs here only.

    main() with arguments <code dir> <model dir> <module> <framework> <scratch folder>
    (<module> '' for none: the PyTorch container's default handlers, script_model.py)
    (started by script_model.py with this copy of smgha first on sys.path)

The HTTP server (script_model.py) starts one worker per script-mode model, as the framework
containers run the script in gunicorn workers and never in their front end, so a crash, a
hang or an os._exit in the user's code costs a request (or the variant), never the server.

The worker imports the module from the code folder, picks its handlers (the script's, else
the container's defaults, script_handlers.py), calls model_fn(model dir) once and says so,
then answers one request at a time. Messages both ways are frames: 8 bytes (big-endian
lengths of a JSON head and of a body), the head, the body. The first frame the worker writes
is {"ready": true} or {"failure": "<why the model cannot serve>"}; each request
{"content_type", "accept"} + body is answered by {"status", "content_type"} + body. End of
input (the server closed the pipe or died) ends the worker, which then removes the scratch
folder the server unpacked the model and source into (a server that stops, even by kill -9,
leaves none behind).

The user's prints must not corrupt the frames: the protocol keeps private copies of the
pipes, file descriptor 1 becomes stderr and 0 /dev/null before the script is imported.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from smgha.backends.local.serving import script_handlers
from smgha.backends.local.serving.images import TOOLKIT_DEFAULT_PROGRAM
from smgha.backends.local.serving.script_handlers import JSON, UTF8_TYPES, UnsupportedFormatError

FRAME_HEAD = struct.Struct(">II")
HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn")
# sagemaker_containers/_env.py ServingEnv: the Accept used when a request sends none or */*.
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"

# Messages users act on.
MISSING_PACKAGE = (
    "{program} imports {package!r}, which is not installed where smgha runs: install it there "
    "(pip install {pip_name}). The local endpoint installs nothing; in SageMaker list it in "
    "requirements.txt beside the script or use a framework image that has it."
)
IMPORT_FAILED = "importing {program} failed: {error}"
TRANSFORM_AND_HANDLERS = (
    "{program} defines transform_fn and also {others}: the container refuses that (Cannot use "
    "transform_fn implementation with input_fn, predict_fn, and/or output_fn); keep one way."
)
NO_HANDLER = (
    "{program} defines no usable {name}, and the {framework} container has no default for it "
    "(its default_{name} raises NotImplementedError: Please provide a {name} implementation). "
    "Define {signature} in {program}."
)
BAD_SIGNATURE = "{program}: {name} must take {signature}; it is {name}{actual}"
MODEL_FN_FAILED = "model_fn({model_dir!r}) in {program} failed: {error}"
SIGNATURES = {
    "model_fn": "model_fn(model_dir)",
    "input_fn": "input_fn(request_body, content_type)",
    "predict_fn": "predict_fn(input_data, model)",
    "output_fn": "output_fn(prediction, accept)",
    "transform_fn": "transform_fn(model, request_body, content_type, accept)",
}
# The names a package is imported by and installed by differ for a few common ones.
PIP_NAMES = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "Pillow", "yaml": "PyYAML"}


class ScriptFailure(Exception):
    """The script cannot serve; the message is the variant's FailureReason."""


def write_frame(stream: IO[bytes], head: dict[str, Any], body: bytes = b"") -> None:
    encoded = json.dumps(head).encode()
    stream.write(FRAME_HEAD.pack(len(encoded), len(body)) + encoded + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, None at end of input."""
    lengths = stream.read(FRAME_HEAD.size)
    if len(lengths) < FRAME_HEAD.size:
        return None
    head_length, body_length = FRAME_HEAD.unpack(lengths)
    head = json.loads(stream.read(head_length))
    return head, stream.read(body_length)


def described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def import_script(code_dir: str, module: str) -> Any:
    program = f"{module}.py"
    sys.path.insert(0, code_dir)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        package = (error.name or "?").split(".", 1)[0]
        pip_name = PIP_NAMES.get(package, package)
        raise ScriptFailure(
            MISSING_PACKAGE.format(program=program, package=package, pip_name=pip_name)
        ) from None
    except BaseException as error:  # SystemExit too: the script's own problem
        raise ScriptFailure(IMPORT_FAILED.format(program=program, error=described(error))) from None


def _usable(program: str, name: str, function: Any, arguments: int) -> Callable[..., Any]:
    """`function` if it can be called with `arguments` positional arguments."""
    try:
        inspect.signature(function).bind(*range(arguments))
    except TypeError:
        actual = str(inspect.signature(function)) if callable(function) else " (not callable)"
        raise ScriptFailure(
            BAD_SIGNATURE.format(
                program=program, name=name, signature=SIGNATURES[name], actual=actual
            )
        ) from None
    except ValueError:  # a builtin without a signature: trust it
        pass
    return function


def handlers_of(user_module: Any, module: str, framework: str) -> dict[str, Callable[..., Any]]:
    """The handlers the container would use: sagemaker_sklearn_container/serving.py
    `_user_module_transformer` (the XGBoost container's is the same)."""
    program = f"{module}.py"
    found = {name: getattr(user_module, name, None) for name in (*HANDLERS, "transform_fn")}
    chosen: dict[str, Callable[..., Any]] = {}
    arguments = {"model_fn": 1, "transform_fn": 4}
    if found["transform_fn"] is not None:
        others = [n for n in HANDLERS[1:] if found[n] is not None]
        if others:
            raise ScriptFailure(
                TRANSFORM_AND_HANDLERS.format(program=program, others=", ".join(others))
            )
        wanted: tuple[str, ...] = ("model_fn", "transform_fn")
    else:
        wanted = HANDLERS
    fallback = script_handlers.defaults(framework)
    for name in wanted:
        function = found[name] if found[name] is not None else fallback.get(name)
        if function is None:
            raise ScriptFailure(
                NO_HANDLER.format(
                    program=program, name=name, framework=framework, signature=SIGNATURES[name]
                )
            )
        chosen[name] = _usable(program, name, function, arguments.get(name, 2))
    return chosen


def _with_charset(mimetype: str) -> str:
    """Flask's Response(mimetype=...) adds the charset to text types."""
    if mimetype.startswith("text/") and "charset" not in mimetype:
        return f"{mimetype}; charset=utf-8"
    return mimetype


def _as_bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body).encode("utf-8")


def response_of(result: Any) -> tuple[int, str, bytes]:
    """What Flask answers for the value the handlers return (sagemaker_containers/
    _transformer.py `transform`: a tuple is (body, mimetype); a Response is sent as is)."""
    if isinstance(result, tuple) and len(result) == 2:
        return 200, _with_charset(str(result[1])), _as_bytes(result[0])
    if hasattr(result, "get_data") and hasattr(result, "content_type"):
        status = int(getattr(result, "status_code", 200))
        return status, str(result.content_type), bytes(result.get_data())
    if isinstance(result, (str, bytes)):
        return 200, "text/html; charset=utf-8", _as_bytes(result)  # Flask's default mimetype
    if isinstance(result, (dict, list)):
        return 200, JSON, json.dumps(result).encode()  # Flask jsonifies these
    raise TypeError(f"the handlers returned a {type(result).__name__}, which is no response")


def _error_body(error: BaseException) -> bytes:
    """sagemaker_containers/_transformer.py `_error_response`."""
    document = {
        "error": type(error).__name__,
        "error-message": str(error),
        "stack-trace": traceback.format_exc(),
    }
    return json.dumps(document).encode()


def answer(
    handlers: dict[str, Callable[..., Any]],
    model: Any,
    head: dict[str, Any],
    body: bytes,
    framework: str = "",
) -> tuple[int, str, bytes]:
    """One POST /invocations, as sagemaker_containers/_transformer.py `transform` and
    `_default_transform_fn` answer it; _worker.py `Request` gives the defaults. An image on
    the inference toolkit (sagemaker_inference/transformer.py `transform`) sends a body
    returned alone with the Accept as its content type, and (body, type) with that type."""
    content_type = head.get("content_type") or JSON
    accept = head.get("accept") or ""
    if not accept or accept == "*/*":
        accept = os.environ.get(DEFAULT_ACCEPT_ENV, JSON)
    content: Any = body.decode("utf-8") if content_type in UTF8_TYPES else body
    if "transform_fn" in handlers:
        result = handlers["transform_fn"](model, content, content_type, accept)
    else:
        try:
            data = handlers["input_fn"](content, content_type)
        except UnsupportedFormatError as error:
            return 415, JSON, _error_body(error)
        prediction = handlers["predict_fn"](data, model)
        try:
            result = handlers["output_fn"](prediction, accept)
        except UnsupportedFormatError as error:
            return 406, JSON, _error_body(error)
    if framework in TOOLKIT_DEFAULT_PROGRAM:  # no Flask there: the content type as it is
        reply, content_type = result if isinstance(result, tuple) else (result, accept)
        return 200, str(content_type), _as_bytes(reply)
    return response_of(result)


def _load(code_dir: str, model_dir: str, module: str, framework: str) -> tuple[Any, Any]:
    # No module (""): an inference-toolkit image whose default inference.py is absent
    # serves with the container's default handlers (script_model.py says when).
    user_module = import_script(code_dir, module) if module else None
    handlers = handlers_of(user_module, module or "inference", framework)
    program = f"{module}.py" if module else "the container's defaults (no inference.py)"
    try:
        model = handlers["model_fn"](model_dir)
    except BaseException as error:
        message = MODEL_FN_FAILED.format(
            model_dir=model_dir, program=program, error=described(error)
        )
        raise ScriptFailure(message) from None
    return handlers, model


def serve(protocol_in: IO[bytes], protocol_out: IO[bytes], argv: list[str]) -> int:
    code_dir, model_dir, module, framework, _ = argv
    try:
        handlers, model = _load(code_dir, model_dir, module, framework)
    except ScriptFailure as failure:
        write_frame(protocol_out, {"failure": str(failure)})
        return 1
    write_frame(protocol_out, {"ready": True})
    while (request := read_frame(protocol_in)) is not None:
        head, body = request
        try:
            status, content_type, reply = answer(handlers, model, head, body, framework)
        except Exception as error:  # a failing handler is a 500, as Flask answers it
            traceback.print_exc()
            status, content_type = 500, "text/plain; charset=utf-8"
            reply = f"Internal Server Error: {described(error)}".encode()
        write_frame(protocol_out, {"status": status, "content_type": content_type}, reply)
    return 0


def _exit_with_parent(parent: int, scratch: str) -> None:
    """End the worker when the server ends, even if the script hangs and never reads the
    closed pipe (the server may be killed with no chance to stop its workers)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    shutil.rmtree(scratch, ignore_errors=True)
    os._exit(1)


def main() -> int:
    scratch = sys.argv[5]

    def on_terminate(signum: int, frame: Any) -> None:
        # The controller stops an endpoint by SIGTERM to the server's process group.
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_terminate)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(), scratch), name="parent", daemon=True
    ).start()
    # Private copies of the pipes for the frames; the script's stdout goes to stderr.
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    code = serve(protocol_in, protocol_out, sys.argv[1:])
    if code == 0:  # the server closed the pipe: it has stopped
        shutil.rmtree(scratch, ignore_errors=True)
    return code
