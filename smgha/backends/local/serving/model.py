"""One variant's model: the model.tar.gz of the built-in XGBoost algorithm, loaded to predict,
or a script-mode model served by its worker process (script_model.py); an image the local
endpoint does not stand in for (images.py) is Failed."""

from __future__ import annotations

import os
import pickle
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from smgha import serving_container
from smgha.backends.local.serving import images
from smgha.backends.local.serving.script_model import ScriptLoadError, ScriptModel
from smgha.backends.local.serving.xgboost_predict import DensePredictor

if TYPE_CHECKING:
    from xgboost import Booster

# The built-in XGBoost algorithm writes its model under this name inside model.tar.gz.
MODEL_FILE = "xgboost-model"

LOADING, IN_SERVICE, FAILED = "Loading", "InService", "Failed"

FloatRows = npt.NDArray[np.float32]


_xgboost_module: ModuleType | None = None


def _xgboost() -> ModuleType:
    """xgboost, imported without scikit-learn.

    xgboost.compat imports sklearn whenever it is installed, and sklearn imports scipy.stats
    and pandas: about 2 s and 100 MB before the first model loads, for wrappers the server
    never uses. A None entry in sys.modules makes `import sklearn` raise ImportError, the
    case xgboost handles (its sklearn classes get stub bases); the entry is removed after.
    """
    global _xgboost_module
    if _xgboost_module is None:
        blocked = "sklearn" not in sys.modules
        if blocked:
            sys.modules["sklearn"] = None  # type: ignore[assignment]
        try:
            import xgboost
        finally:
            if blocked and sys.modules.get("sklearn", False) is None:
                del sys.modules["sklearn"]
        _xgboost_module = xgboost
    return _xgboost_module


class ModelLoadError(Exception):
    """The model cannot be served; the message is the variant's FailureReason."""


def read_booster(path: str) -> Booster:
    """The Booster in a model.tar.gz of the built-in algorithm, ready to predict.

    The container loads each file the archive holds; the algorithm writes one, `xgboost-model`,
    as xgboost's own format (UBJSON today) or, in older versions, a pickled Booster.
    """
    try:
        with tarfile.open(path, "r:*") as archive:
            files = [m for m in archive.getmembers() if m.isfile()]
            chosen = next((m for m in files if PurePosixPath(m.name).name == MODEL_FILE), None)
            if chosen is None and len(files) == 1:
                chosen = files[0]
            if chosen is None:
                names = [m.name for m in files]
                raise ModelLoadError(f"{path} holds no {MODEL_FILE} file (it holds {names})")
            extracted = archive.extractfile(chosen)
            assert extracted is not None  # a regular file
            raw = extracted.read()
    except FileNotFoundError:
        raise ModelLoadError(f"no model artifact at {path}") from None
    except ModelLoadError:
        raise
    except Exception as error:  # tarfile.ReadError, gzip.BadGzipFile, EOFError, zlib.error, ...
        raise ModelLoadError(
            f"{path} is not a readable model.tar.gz: {type(error).__name__}: {error}"
        ) from None

    xgboost = _xgboost()
    try:
        if raw[:1] == b"\x80":  # pickle protocol 2+; the container trusts its artifact too
            booster = pickle.loads(raw)
        else:
            booster = xgboost.Booster()
            booster.load_model(bytearray(raw))
    except Exception as error:
        raise ModelLoadError(
            f"{MODEL_FILE} in {path} cannot be loaded as an xgboost model: {first_line(error)}"
        ) from None
    if not isinstance(booster, xgboost.Booster):
        raise ModelLoadError(
            f"{MODEL_FILE} in {path} is a pickled {type(booster).__name__}, not an xgboost Booster"
        )
    # One thread per prediction, as the container sets it: requests are single rows, and a
    # thread pool per call costs more than it saves (and the machine runs other things).
    booster.set_param({"nthread": 1})
    features = booster.num_features()
    try:  # the first prediction initialises the predictor: pay it here, not on a request
        booster.inplace_predict(np.zeros((1, features), dtype=np.float32))
    except Exception as error:
        raise ModelLoadError(f"the model in {path} cannot predict: {first_line(error)}") from None
    return booster


def first_line(error: BaseException) -> str:
    """An exception's message without the C++ stack trace xgboost appends."""
    text = str(error).strip()
    return text.split("\nStack trace:", 1)[0].strip() or type(error).__name__


def fingerprint(path: str) -> tuple[int, int] | None:
    """What tells a rewritten model file apart: (mtime, size), None when missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def container_mode_failure(environment: Mapping[str, str], image: str) -> str:
    """'' when the container can serve; else why not: script mode with no script (see
    smgha/serving_container.py for the sources), or an image the local endpoint does not
    stand in for (images.py, the check deploy-endpoint makes before any create)."""
    empty = serving_container.script_mode_without_script(environment)
    if empty:
        return (
            f"script mode with no script ({empty}): {serving_container.EMPTY_PROGRAM_CONSEQUENCE}"
        )
    refused = images.refusal(image, environment)
    return f"{refused}. {images.LOCAL_FIX}" if refused else ""


class Model:
    """One variant's model, loaded once and shared by every routing table that keeps it."""

    def __init__(
        self,
        path: str,
        environment: Mapping[str, str] | None = None,
        image: str = "",
        s3_root: Path | None = None,
    ) -> None:
        self.path = path
        self.environment = dict(environment or {})
        self.image = image
        # Where s3:// URIs of the container's environment are read (SAGEMAKER_SUBMIT_DIRECTORY).
        self.s3_root = s3_root
        # The worker of a script-mode model (SAGEMAKER_PROGRAM names a script), else None.
        self.script: ScriptModel | None = None
        self.fingerprint = fingerprint(path)
        self.status = LOADING
        self.failure_reason = ""
        self.booster: Booster | None = None
        self.predictor: DensePredictor | None = None

    def load(self) -> None:
        # The container decides how to serve from its environment before it reads the model.
        failure = container_mode_failure(self.environment, self.image)
        if failure:
            self.status, self.failure_reason = FAILED, failure
            return
        # Only the sagemaker-xgboost image serves the built-in algorithm, and only without
        # SAGEMAKER_PROGRAM; every other image it may be serves a script (images.py).
        builtin = images.framework_of(self.image) == images.XGBOOST
        if not builtin or serving_container.serves_a_user_script(self.environment):
            self._load_script()
            return
        self._record_load(self._read_booster, ModelLoadError)

    def _read_booster(self) -> None:
        self.booster = read_booster(self.path)
        self.predictor = DensePredictor(self.booster)

    def _load_script(self) -> None:
        self.script = ScriptModel(self.path, self.environment, self.image, self.s3_root)
        if not self._record_load(self.script.load, ScriptLoadError):
            self.script.close()

    def _record_load(self, load: Callable[[], object], expected: type[Exception]) -> bool:
        """Run `load`: the variant is InService, or Failed with the reason (an `expected`
        error says it; anything else is still this variant's failure). True when loaded."""
        try:
            load()
        except expected as error:
            self.status, self.failure_reason = FAILED, str(error)
            return False
        except Exception as error:
            self.status = FAILED
            self.failure_reason = f"unexpected error loading {self.path}: {first_line(error)}"
            return False
        self.status = IN_SERVICE
        return True

    def close(self) -> None:
        """Stop the worker of a script-mode model (a built-in model holds no process)."""
        if self.script is not None:
            self.script.close()

    def unload(self) -> None:
        """Let go of what serving takes (a serverless variant scaled to zero, serverless.py):
        the worker stops, the booster is released. The status stays what the load made it."""
        self.close()
        self.booster, self.predictor = None, None

    def predict(self, rows: FloatRows) -> list[Any]:
        """The booster's inplace_predict(rows).tolist(); thread-safe (see DensePredictor)."""
        assert self.predictor is not None
        return self.predictor(rows)
