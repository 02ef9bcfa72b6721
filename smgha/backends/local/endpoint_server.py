"""The inference server of one local endpoint: the built-in XGBoost container's contract.

    python -m smgha.backends.local.endpoint_server <endpoint folder>

One long-lived process hosts every production variant of the endpoint and routes each
request to one of them by weight, as SageMaker's front end does for the instances behind an
endpoint. It talks to its controller (deployer.py) through files in the endpoint folder:

``serving.json``, written atomically by the controller at any time::

    {"EndpointName": "churn-staging",
     "Variants": [{"VariantName": "blue-3", "ModelDataPath": "/abs/model.tar.gz", "Weight": 90.0,
                   "Environment": {"SAGEMAKER_PROGRAM": ""}},
                  ...],
     "DataCapture": {"Enabled": true, "SamplingPercentage": 100, "Destination": "/abs/dir",
                     "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                                  "JsonContentTypes": ["application/json"]},
                     "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}}

    (DataCapture and its CaptureContentTypeHeader and CaptureOptions are optional, and so is a
    variant's Environment: the container's, which decides script mode as the container does,
    see smgha/serving_container.py.) The server
    re-reads it when it changes (a background thread compares its stat every 0.2 s) and at once
    on SIGHUP. New or changed models load while the previous routing keeps serving; the new
    routing (weights, variants, capture) replaces it in one step once they have loaded, and
    removed variants are dropped then. A variant whose name, ModelDataPath, Environment and model
    file (mtime, size) are unchanged keeps its loaded model (and its failure, if it failed); a
    model rewritten in place is picked up on the next change of serving.json or SIGHUP.

``server.json``, written atomically once the port is bound and the variants loaded, removed
on SIGTERM/SIGINT: ``{"pid": 123, "port": 45678, "started": "<iso>"}``.

``server.lock``: held (flock) by the one server of the endpoint while it lives; a second
server started beside it exits with code 3 instead of serving too.

``server.log``: errors, and one line per start, configuration change, model load and stop
(never one per request).

HTTP, on 127.0.0.1 port $SMGHA_ENDPOINT_PORT (or an ephemeral port), HTTP/1.1 keep-alive:

    GET  /ping              200 (empty) when every variant with Weight > 0 is InService, else 503
    POST /invocations       text/csv or application/json in; text/csv or application/json out
    GET  /_smgha/variants   [{VariantName, Weight, Status, FailureReason, ModelDataPath}]
    GET  /_smgha/metrics    {"EndpointName", "Now", "Variants": {<name>: {"Invocations",
                            "Invocation4XXErrors", "Invocation5XXErrors" (cumulative),
                            "ModelLatency": [[epoch s, microseconds], ...] (the last 8192),
                            "Active"}}}; every variant hosted since start, Active if still hosted
    GET  /_smgha/metrics?since=<epoch s> (or ?window=<s>) [&variant=<name>]
                            the same counters over the window only (1 s resolution) and
                            "ModelLatency": {"SampleCount", "Complete", "Average", "Minimum",
                            "Maximum", "p50", "p90", "p99"} in microseconds (no statistics
                            when SampleCount is 0; Complete false when older samples are gone)
    GET  /_smgha/status     pid, port, health, data capture, why serving.json was not applied

Standard library, numpy and xgboost only; xgboost is imported without scikit-learn (which
would pull in scipy.stats and pandas, ~2 s of start-up) and only when a model is loaded.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import fcntl
import http
import http.server
import itertools
import json
import logging
import math
import os
import pickle
import random
import signal
import sys
import tarfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType, ModuleType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt

from smgha import serving_container
from smgha.backends.local import state
from smgha.backends.local.endpoints import EXIT_ANOTHER_SERVER
from smgha.errors import StateFileError

if TYPE_CHECKING:
    from xgboost import Booster

USAGE = "usage: python -m smgha.backends.local.endpoint_server <endpoint folder>"
SERVING_FILE = "serving.json"
SERVER_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
PORT_ENV = "SMGHA_ENDPOINT_PORT"
# How often the watcher thread compares serving.json's stat (SIGHUP skips the wait).
POLL_SECONDS = 0.2
# The built-in XGBoost algorithm writes its model under this name inside model.tar.gz.
MODEL_FILE = "xgboost-model"
# InvokeEndpoint refuses bodies over 6 MB; so does the container (MAX_CONTENT_LENGTH).
MAX_BODY_BYTES = 6 * 1024 * 1024
# ModelLatency samples kept per variant for percentiles: 40 s of traffic at 200 req/s.
LATENCY_SAMPLES = 8192
# Per-second invocation counters kept per variant, so windowed counts are exact to a second.
COUNTER_SECONDS = 3600

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"

LOADING, IN_SERVICE, FAILED = "Loading", "InService", "Failed"
CSV, JSON = "text/csv", "application/json"
# What the container answers: Flask's mimetype="text/csv" adds the charset.
CSV_RESPONSE_TYPE = "text/csv; charset=utf-8"

log = logging.getLogger("smgha.endpoint_server")

FloatRows = npt.NDArray[np.float32]


# ---- serving.json ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model_path: str
    weight: float
    # The container's Environment, as sorted (name, value) pairs.
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CaptureSpec:
    enabled: bool = False
    percentage: float = 0.0
    destination: str = ""
    csv_types: frozenset[str] = frozenset()
    json_types: frozenset[str] = frozenset()
    capture_input: bool = True
    capture_output: bool = True


@dataclass(frozen=True)
class ServingSpec:
    endpoint_name: str
    variants: tuple[VariantSpec, ...]
    capture: CaptureSpec


def parse_serving(data: Any) -> ServingSpec:
    """serving.json as a ServingSpec; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("serving.json must hold a JSON object")
    endpoint = data.get("EndpointName")
    if not isinstance(endpoint, str) or not _is_path_segment(endpoint):
        raise ValueError(f"EndpointName {endpoint!r} must be a non-empty name without '/'")
    entries = data.get("Variants")
    if not isinstance(entries, list) or not entries:
        raise ValueError("Variants must be a non-empty list")
    variants = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"Variants[{index}] must be an object")
        name, path, weight = (
            entry.get("VariantName"),
            entry.get("ModelDataPath"),
            entry.get("Weight"),
        )
        # The name is a folder of the data capture path, hence no '/'.
        if not isinstance(name, str) or not _is_path_segment(name):
            raise ValueError(f"Variants[{index}].VariantName {name!r} must be a name without '/'")
        if not isinstance(path, str) or not path:
            raise ValueError(f"Variants[{index}].ModelDataPath must be a path")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(f"Variants[{index}].Weight {weight!r} must be a number >= 0")
        environment = entry.get("Environment", {})
        if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
        ):
            raise ValueError(f"Variants[{index}].Environment must map names to strings")
        variants.append(VariantSpec(name, path, float(weight), tuple(sorted(environment.items()))))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"VariantName values must be unique: {names}")
    return ServingSpec(endpoint, tuple(variants), _parse_capture(data.get("DataCapture")))


def _parse_capture(data: Any) -> CaptureSpec:
    if data is None or (isinstance(data, dict) and not data.get("Enabled", False)):
        return CaptureSpec()
    if not isinstance(data, dict):
        raise ValueError("DataCapture must be an object")
    percentage = data.get("SamplingPercentage", 100)
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)):
        raise ValueError(f"DataCapture.SamplingPercentage {percentage!r} must be a number")
    if not 0 <= percentage <= 100:
        raise ValueError(f"DataCapture.SamplingPercentage {percentage!r} must be from 0 to 100")
    destination = data.get("Destination")
    if not isinstance(destination, str) or not destination or "://" in destination:
        raise ValueError(f"DataCapture.Destination {destination!r} must be a local folder path")
    header = data.get("CaptureContentTypeHeader") or {}
    modes = {
        str(option.get("CaptureMode", "")).lower()
        for option in data.get("CaptureOptions") or [{"CaptureMode": "InputAndOutput"}]
        if isinstance(option, dict)
    }
    return CaptureSpec(
        enabled=True,
        percentage=float(percentage),
        destination=destination,
        # Without CaptureContentTypeHeader SageMaker captures everything as BASE64.
        csv_types=frozenset(_media_type(t) for t in header.get("CsvContentTypes") or []),
        json_types=frozenset(_media_type(t) for t in header.get("JsonContentTypes") or []),
        capture_input=bool(modes & {"input", "inputandoutput"}),
        capture_output=bool(modes & {"output", "inputandoutput"}),
    )


def _is_path_segment(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..")


def _media_type(content_type: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return content_type.split(";", 1)[0].strip().lower()


# ---- models ----------------------------------------------------------------------------------

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
            f"{MODEL_FILE} in {path} cannot be loaded as an xgboost model: {_first_line(error)}"
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
        raise ModelLoadError(f"the model in {path} cannot predict: {_first_line(error)}") from None
    return booster


def _first_line(error: BaseException) -> str:
    """An exception's message without the C++ stack trace xgboost appends."""
    text = str(error).strip()
    return text.split("\nStack trace:", 1)[0].strip() or type(error).__name__


def _fingerprint(path: str) -> tuple[int, int] | None:
    """What tells a rewritten model file apart: (mtime, size), None when missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def container_mode_failure(environment: Mapping[str, str]) -> str:
    """'' when the container would serve the built-in algorithm; else why this server cannot
    serve what the container would (see smgha/serving_container.py for the sources)."""
    empty = serving_container.script_mode_without_script(environment)
    if empty:
        return (
            f"script mode with no script ({empty}): {serving_container.EMPTY_PROGRAM_CONSEQUENCE}"
        )
    if serving_container.serves_a_user_script(environment):
        program = environment[serving_container.PROGRAM]
        return (
            f"{serving_container.PROGRAM}={program!r} asks the container to serve through a user "
            "script; the local endpoint serves the built-in algorithm only and runs no "
            "inference scripts"
        )
    return ""


class Model:
    """One variant's model, loaded once and shared by every routing table that keeps it."""

    def __init__(self, path: str, environment: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.environment = dict(environment or {})
        self.fingerprint = _fingerprint(path)
        self.status = LOADING
        self.failure_reason = ""
        self.booster: Booster | None = None
        # A Booster's predict is not thread-safe; one lock per model keeps variants parallel.
        self.lock = threading.Lock()

    def load(self) -> None:
        # The container decides how to serve from its environment before it reads the model.
        failure = container_mode_failure(self.environment)
        if failure:
            self.status, self.failure_reason = FAILED, failure
            return
        try:
            self.booster = read_booster(self.path)
        except ModelLoadError as error:
            self.status, self.failure_reason = FAILED, str(error)
        except Exception as error:  # anything else is still this variant's failure
            self.status = FAILED
            self.failure_reason = f"unexpected error loading {self.path}: {_first_line(error)}"
        else:
            self.status = IN_SERVICE

    def predict(self, rows: FloatRows) -> Any:
        assert self.booster is not None
        with self.lock:
            return self.booster.inplace_predict(rows)


# ---- metrics ---------------------------------------------------------------------------------


class VariantMetrics:
    """CloudWatch's per-variant invocation metrics, kept in memory.

    Counters are cumulative and also kept per second for the last COUNTER_SECONDS, so a
    window's counts are exact to the second; ModelLatency keeps the last LATENCY_SAMPLES
    (time, microseconds) samples, enough for an average and percentiles over a recent window.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        # [second, invocations, 4xx, 5xx], oldest first; only seconds that saw traffic.
        self.seconds: deque[list[int]] = deque()
        self.latencies: deque[tuple[float, int]] = deque(maxlen=LATENCY_SAMPLES)

    def record(self, now: float, status: int, latency_us: int | None) -> None:
        second = int(now)
        is_4xx, is_5xx = 400 <= status < 500, status >= 500
        with self.lock:
            self.invocations += 1
            self.errors_4xx += is_4xx
            self.errors_5xx += is_5xx
            if self.seconds and self.seconds[-1][0] == second:
                bucket = self.seconds[-1]
                bucket[1] += 1
                bucket[2] += is_4xx
                bucket[3] += is_5xx
            else:
                self.seconds.append([second, 1, int(is_4xx), int(is_5xx)])
                while self.seconds[0][0] <= second - COUNTER_SECONDS:
                    self.seconds.popleft()
            if latency_us is not None:
                self.latencies.append((now, latency_us))

    def cumulative(self) -> dict[str, Any]:
        with self.lock:
            return {
                "Invocations": self.invocations,
                "Invocation4XXErrors": self.errors_4xx,
                "Invocation5XXErrors": self.errors_5xx,
                "ModelLatency": [[round(t, 6), us] for t, us in self.latencies],
            }

    def window(self, since: float) -> dict[str, Any]:
        """Counts from the second of `since` on, and ModelLatency statistics (microseconds)
        of the samples at or after `since`. ModelLatency.Complete is false when older samples
        were already dropped: the statistics then cover the last SampleCount requests only."""
        first_second = math.floor(since)
        with self.lock:
            buckets = [b for b in self.seconds if b[0] >= first_second]
            samples = sorted(us for t, us in self.latencies if t >= since)
            complete = len(self.latencies) < LATENCY_SAMPLES or self.latencies[0][0] < since
        latency: dict[str, Any] = {"SampleCount": len(samples), "Complete": complete}
        if samples:  # no data point: no statistic (as CloudWatch, and alarms stay OK)
            latency.update(
                Average=sum(samples) / len(samples),
                Minimum=samples[0],
                Maximum=samples[-1],
                p50=_percentile(samples, 50),
                p90=_percentile(samples, 90),
                p99=_percentile(samples, 99),
            )
        return {
            "Invocations": sum(b[1] for b in buckets),
            "Invocation4XXErrors": sum(b[2] for b in buckets),
            "Invocation5XXErrors": sum(b[3] for b in buckets),
            "ModelLatency": latency,
        }


def _percentile(ordered: list[int], percent: float) -> int:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


class Metrics:
    """VariantMetrics by variant name, kept for the server's lifetime: a variant's numbers
    survive reloads (as CloudWatch's are keyed by endpoint and variant name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, VariantMetrics] = {}

    def variant(self, name: str) -> VariantMetrics:
        with self._lock:
            return self._by_name.setdefault(name, VariantMetrics())

    def names(self) -> list[str]:
        with self._lock:
            return list(self._by_name)


# ---- routing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    weight: float
    model: Model
    metrics: VariantMetrics


class RoutingTable:
    """An immutable snapshot of what the server hosts. Requests read `Endpoint.table` once
    and use that snapshot throughout; a reload builds a new table and swaps the reference."""

    def __init__(self, spec: ServingSpec | None, routes: tuple[Route, ...]) -> None:
        self.spec = spec
        self.routes = routes
        self.by_name = {r.name: r for r in routes}
        # Random traffic goes to InService variants with weight, in proportion to it. A
        # model's status is final by the time a table naming it as InService is built.
        self._serving = [r for r in routes if r.weight > 0 and r.model.status == IN_SERVICE]
        self._cumulative = list(itertools.accumulate(r.weight for r in self._serving))

    def pick(self) -> Route | None:
        if not self._serving:
            return None
        point = random.random() * self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, point)
        return self._serving[min(index, len(self._serving) - 1)]

    def healthy(self) -> bool:
        """The health check: every variant that should take traffic can."""
        return self.spec is not None and all(
            r.model.status == IN_SERVICE for r in self.routes if r.weight > 0
        )


# ---- data capture ----------------------------------------------------------------------------


class CaptureWriter:
    """Data capture files, in the layout and record format of SageMaker Model Monitor:
    <Destination>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/<mm>-<ss>-<ms>-<uuid>.jsonl,
    one JSON line per captured invocation, one file per variant per hour for this process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (destination, endpoint, variant) -> (hour folder, open file)
        self._files: dict[tuple[str, str, str], tuple[str, IO[str]]] = {}

    def write(self, spec: CaptureSpec, endpoint: str, variant: str, now: float, line: str) -> None:
        moment = time.gmtime(now)
        hour = time.strftime("%Y/%m/%d/%H", moment)
        key = (spec.destination, endpoint, variant)
        with self._lock:
            entry = self._files.get(key)
            if entry is None or entry[0] != hour:
                if entry is not None:
                    entry[1].close()
                folder = Path(spec.destination, endpoint, variant, hour)
                folder.mkdir(parents=True, exist_ok=True)
                millis = int(now * 1000) % 1000
                name = f"{moment.tm_min:02d}-{moment.tm_sec:02d}-{millis:03d}-{uuid.uuid4()}.jsonl"
                entry = (hour, open(folder / name, "a", encoding="utf-8"))  # noqa: SIM115
                self._files[key] = entry
            entry[1].write(line + "\n")
            entry[1].flush()  # a reader (or a test) sees each record at once

    def keep_only(self, keys: set[tuple[str, str, str]]) -> None:
        """Close the files of variants (or destinations) no longer captured."""
        with self._lock:
            for key in [k for k in self._files if k not in keys]:
                self._files.pop(key)[1].close()

    def close(self) -> None:
        self.keep_only(set())


def capture_line(
    spec: CaptureSpec,
    request_type: str,
    request_body: bytes,
    response_type: str,
    response_body: bytes,
    now: float,
) -> str:
    """One record of SageMaker's data capture format (eventVersion 0)."""
    data: dict[str, Any] = {}
    if spec.capture_input:
        data["endpointInput"] = _captured(spec, request_type, request_body, "INPUT")
    if spec.capture_output:
        data["endpointOutput"] = _captured(spec, response_type, response_body, "OUTPUT")
    record = {
        "captureData": data,
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        },
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def _captured(spec: CaptureSpec, content_type: str, body: bytes, mode: str) -> dict[str, str]:
    media = _media_type(content_type)
    encoding = "CSV" if media in spec.csv_types else "JSON" if media in spec.json_types else ""
    text = None
    if encoding:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = ""
    if text is None:
        encoding, text = "BASE64", base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


# ---- the container's request handling -----------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    variant: str = ""


class UnsupportedPayload(Exception):
    """415: the payload's content type or content cannot be read."""


def parse_payload(body: bytes, content_type: str) -> FloatRows:
    """The rows of a request, as the container reads text/csv (plus application/json)."""
    media = _media_type(content_type)
    if media == CSV:
        try:
            return _csv_rows(body)
        except Exception as error:
            raise UnsupportedPayload(
                "Loading csv data failed with Exception, please ensure data is in csv format:\n"
                f" {type(error)}\n {error}"
            ) from None
    if media == JSON:
        try:
            return _json_rows(body)
        except Exception as error:
            raise UnsupportedPayload(
                "Loading json data failed with Exception, please ensure data is "
                '{"instances": [[...], ...]} or {"instances": [{"features": [...]}, ...]}:\n'
                f" {type(error)}\n {error}"
            ) from None
    raise UnsupportedPayload(
        f"Content-type {content_type or '(none)'} is not supported. Use {CSV} or {JSON}."
    )


def _csv_rows(body: bytes) -> FloatRows:
    """Comma-separated floats, one row per line, no header or label; an empty field is a
    missing value (NaN), as the container's csv_to_dmatrix reads it."""
    rows = []
    for line in body.decode("utf-8").strip().splitlines():
        if line.strip():
            rows.append([float(v) if v.strip() else math.nan for v in line.split(",")])
    return _matrix(rows)


def _json_rows(body: bytes) -> FloatRows:
    document = json.loads(body)
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list):
        raise ValueError('the body has no "instances" list')
    rows = []
    for index, instance in enumerate(instances):
        values = instance.get("features") if isinstance(instance, dict) else instance
        if not isinstance(values, list) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        ):
            raise ValueError(f"instance {index} is not a list of numbers (or its 'features')")
        rows.append([math.nan if v is None else float(v) for v in values])
    return _matrix(rows)


def _matrix(rows: list[list[float]]) -> FloatRows:
    if not rows:
        raise ValueError("no rows")
    width = len(rows[0])
    for number, row in enumerate(rows, 1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} values, row 1 has {width}")
    # float32 is what xgboost predicts on; it would convert a float64 array the same way.
    return np.array(rows, dtype=np.float32)


def response_type(accept: str) -> str:
    """The answer's media type for an Accept header; ValueError when none can be served."""
    if not accept:
        return CSV
    for part in accept.split(","):
        media = _media_type(part)
        if media in (CSV, "text/*", "*/*"):
            return CSV
        if media in (JSON, "application/*"):
            return JSON
    raise ValueError(f"Accept type {accept} is not supported. Please use {CSV} or {JSON}.")


def answer(model: Model, body: bytes, content_type: str, accept: str) -> Reply:
    """What the built-in XGBoost container answers to POST /invocations."""
    if model.status != IN_SERVICE:
        # The container's app raises on each request when it cannot serve (a model it cannot
        # load, script mode without a script), which gunicorn answers with 500.
        return Reply(500, f"Internal Server Error: {model.failure_reason}".encode())
    if not body:
        return Reply(204)
    try:
        rows = parse_payload(body, content_type)
    except UnsupportedPayload as error:
        return Reply(415, str(error).encode())
    try:
        kind = response_type(accept)
    except ValueError as error:
        return Reply(406, str(error).encode())
    try:
        predictions = model.predict(rows).tolist()
    except Exception as error:
        return Reply(400, f"Unable to evaluate payload provided: {_first_line(error)}".encode())
    if kind == JSON:
        document = {"predictions": [{"score": p} for p in predictions]}
        return Reply(200, json.dumps(document).encode(), JSON)
    return Reply(200, ",".join(map(str, predictions)).encode(), CSV_RESPONSE_TYPE)


# ---- the endpoint: routing table, reloads, invocations ------------------------------------------


class Endpoint:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.serving_file = folder / SERVING_FILE
        self.table = RoutingTable(None, ())
        self.metrics = Metrics()
        self.capture = CaptureWriter()
        self.config_error = ""
        self.pid = os.getpid()
        self.port = 0
        self.started = ""
        self._reload_lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # serving.json's (inode, mtime, size)

    # -- configuration -----------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Apply serving.json if it changed since last read (or anyway when `force`)."""
        with self._reload_lock:
            try:
                stat = os.stat(self.serving_file)
            except FileNotFoundError:
                missing = f"{self.serving_file} is missing"
                if self.config_error != missing:  # say it once, not five times a second
                    log.error("%s; keeping the current variants", missing)
                self.config_error = missing
                return
            # The inode changes on every atomic replace, even within one mtime tick.
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen == self._seen and not force:
                return
            self._seen = seen
            try:
                spec = parse_serving(state.read_json(self.serving_file))
            except (OSError, ValueError, StateFileError) as error:
                self.config_error = f"{self.serving_file}: {error}"
                log.error("ignoring %s; keeping the current variants", self.config_error)
                return
            self.config_error = ""
            self.apply(spec)

    def apply(self, spec: ServingSpec) -> None:
        """Host `spec`: load what is new, then switch the routing over in one step."""
        old = self.table
        models: dict[str, Model] = {}
        to_load: list[tuple[VariantSpec, Model]] = []
        for variant in spec.variants:
            current = old.by_name.get(variant.name)
            if (
                current is not None
                and current.model.path == variant.model_path
                and current.model.environment == dict(variant.environment)
                and current.model.fingerprint == _fingerprint(variant.model_path)
            ):
                models[variant.name] = current.model  # unchanged: keep it (a failure too)
            else:
                models[variant.name] = Model(variant.model_path, dict(variant.environment))
                to_load.append((variant, models[variant.name]))

        if to_load:
            # Meanwhile the old routing serves on; new names show as Loading (no traffic).
            loading = tuple(
                Route(v.name, v.weight, m, self.metrics.variant(v.name))
                for v, m in to_load
                if v.name not in old.by_name
            )
            self.table = RoutingTable(old.spec, old.routes + loading)
            for variant, model in to_load:
                started = time.perf_counter()
                model.load()
                if model.status == FAILED:
                    log.error("variant %s failed: %s", variant.name, model.failure_reason)
                else:
                    log.info(
                        "variant %s loaded %s in %.2f s",
                        variant.name,
                        model.path,
                        time.perf_counter() - started,
                    )

        self.table = RoutingTable(
            spec,
            tuple(
                Route(v.name, v.weight, models[v.name], self.metrics.variant(v.name))
                for v in spec.variants
            ),
        )
        capture = spec.capture
        self.capture.keep_only(
            {(capture.destination, spec.endpoint_name, v.name) for v in spec.variants}
            if capture.enabled
            else set()
        )
        if spec != old.spec or to_load:
            log.info(
                "serving %s: %s; data capture %s",
                spec.endpoint_name,
                ", ".join(
                    f"{v.name} (weight {v.weight:g}, {models[v.name].status})"
                    for v in spec.variants
                ),
                f"{capture.percentage:g} % to {capture.destination}" if capture.enabled else "off",
            )

    # -- requests ---------------------------------------------------------------------------

    def invoke(self, body: bytes, content_type: str, accept: str, target: str) -> Reply:
        table = self.table  # one snapshot for the whole request
        if target:
            route = table.by_name.get(target)
            if route is None:
                names = [r.name for r in table.routes]
                message = f"ValidationError: the target variant {target!r} is not one of {names}"
                return Reply(400, message.encode())
        else:
            route = table.pick()
            if route is None:
                return Reply(503, b"No InService production variant has a weight above 0.")
        if route.model.status != IN_SERVICE:
            route.metrics.record(time.time(), 503, None)
            message = f"Variant {route.name} is {route.model.status}. {route.model.failure_reason}"
            return Reply(503, message.strip().encode(), variant=route.name)

        started = time.perf_counter_ns()
        reply = answer(route.model, body, content_type, accept)
        now = time.time()
        route.metrics.record(now, reply.status, (time.perf_counter_ns() - started) // 1000)

        capture = table.spec.capture if table.spec is not None else None
        if (
            capture is not None
            and capture.enabled
            and reply.status == 200
            and random.random() * 100 < capture.percentage
        ):
            self._capture(table, route, capture, content_type, body, reply, now)
        return Reply(reply.status, reply.body, reply.content_type, route.name)

    def _capture(
        self,
        table: RoutingTable,
        route: Route,
        capture: CaptureSpec,
        content_type: str,
        body: bytes,
        reply: Reply,
        now: float,
    ) -> None:
        assert table.spec is not None
        line = capture_line(capture, content_type, body, reply.content_type, reply.body, now)
        try:
            self.capture.write(capture, table.spec.endpoint_name, route.name, now, line)
        except OSError as error:  # capture must never fail an invocation
            log.error("data capture for %s failed: %s", route.name, error)

    # -- the controller's views --------------------------------------------------------------

    def variants(self) -> list[dict[str, Any]]:
        return [
            {
                "VariantName": r.name,
                "Weight": r.weight,
                "Status": r.model.status,
                "FailureReason": r.model.failure_reason,
                "ModelDataPath": r.model.path,
            }
            for r in self.table.routes
        ]

    def metrics_report(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """GET /_smgha/metrics: cumulative, or over a window with ?since= or ?window=."""
        now = time.time()
        since: float | None = None
        if "since" in query:
            since = float(query["since"][-1])
        elif "window" in query:
            since = now - float(query["window"][-1])
        if since is not None and not math.isfinite(since):
            raise ValueError("since/window must be finite numbers")
        active = [r.name for r in self.table.routes]
        names = active + [n for n in self.metrics.names() if n not in active]
        if "variant" in query:
            names = [n for n in names if n in query["variant"]]
        report: dict[str, Any] = {
            "EndpointName": self.table.spec.endpoint_name if self.table.spec else "",
            "Now": now,
        }
        if since is None:
            rows = {n: self.metrics.variant(n).cumulative() for n in names}
        else:
            report["Since"] = since
            rows = {n: self.metrics.variant(n).window(since) for n in names}
        for name in names:
            rows[name]["Active"] = name in active
        report["Variants"] = rows
        return report

    def status(self) -> dict[str, Any]:
        spec = self.table.spec
        capture = spec.capture if spec else CaptureSpec()
        return {
            "EndpointName": spec.endpoint_name if spec else "",
            "pid": self.pid,
            "port": self.port,
            "started": self.started,
            "Healthy": self.table.healthy(),
            # Why the last serving.json read was not applied ('' when it was).
            "ConfigError": self.config_error,
            "DataCapture": {
                "Enabled": capture.enabled,
                "SamplingPercentage": capture.percentage,
                "Destination": capture.destination,
            },
        }


# ---- HTTP -------------------------------------------------------------------------------------

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


class EndpointHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; each reply goes out in one write (head and body together)."""

    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY a reply that takes two segments waits for the client's delayed ACK
    # (40 ms on Linux); replies are one write, but error pages from the base class are not.
    disable_nagle_algorithm = True
    server: EndpointHTTPServer

    def do_GET(self) -> None:
        endpoint = self.server.endpoint
        parts = urlsplit(self.path)
        if parts.path == "/ping":
            if endpoint.table.healthy():
                self._send(Reply(200))
            else:
                self._send(Reply(503, b"Not every variant with weight is InService."))
        elif parts.path == "/_smgha/variants":
            self._send_json(endpoint.variants())
        elif parts.path == "/_smgha/metrics":
            try:
                report = endpoint.metrics_report(parse_qs(parts.query))
            except ValueError as error:
                self._send(Reply(400, f"Bad metrics query: {error}".encode()))
                return
            self._send_json(report)
        elif parts.path == "/_smgha/status":
            self._send_json(endpoint.status())
        else:
            self._send(Reply(404, f"No such resource: GET {parts.path}".encode()))

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path != "/invocations":
            self._send(Reply(404, f"No such resource: POST {path}".encode()))
            return
        try:
            reply = self.server.endpoint.invoke(
                body,
                self.headers.get("Content-Type", ""),
                self.headers.get("Accept", ""),
                self.headers.get(TARGET_VARIANT_HEADER, ""),
            )
        except Exception:
            log.exception("POST /invocations failed")
            reply = Reply(500, b"Internal server error; see server.log.")
        self._send(reply)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering an error (the connection then closes)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(Reply(411, b"Send the body with a Content-Length."))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"Bad Content-Length."))
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            self._send(Reply(413, f"The body is over {MAX_BODY_BYTES} bytes.".encode()))
            return None
        return self.rfile.read(length) if length else b""

    def _send_json(self, document: Any) -> None:
        self._send(Reply(200, json.dumps(document).encode(), JSON))

    def _send(self, reply: Reply) -> None:
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, '')}\r\n"
        if reply.status != 204:  # a 204 has no body, so no Content-Type or Content-Length
            head += f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
        if reply.variant:
            head += f"{INVOKED_VARIANT_HEADER}: {reply.variant}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + reply.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: a line per request would cost more than the prediction."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        # Only errors get here (malformed requests answered by the base class).
        log.warning("%s: %s", self.address_string(), format % args)


class EndpointHTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection: a kept-alive client keeps its thread, so nothing is queued
    behind a slow request but the GIL. The model locks make predictions safe."""

    daemon_threads = True  # open keep-alive connections must not hold up the exit
    request_queue_size = 128  # the default 5 resets connections when 16 clients connect at once

    def __init__(self, address: tuple[str, int], endpoint: Endpoint) -> None:
        super().__init__(address, EndpointHandler)
        self.endpoint = endpoint

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # a client went away mid-request
        log.exception("error handling a request from %s", client_address)


# ---- the process ------------------------------------------------------------------------------


def _setup_logging(folder: Path) -> None:
    handler = logging.FileHandler(folder / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _watch(endpoint: Endpoint, stop: threading.Event, wake: threading.Event) -> None:
    """Re-read serving.json when it changes, at once when SIGHUP sets `wake`."""
    while not stop.is_set():
        woken = wake.wait(POLL_SECONDS)
        if stop.is_set():
            return
        wake.clear()
        try:
            endpoint.refresh(force=woken)
        except Exception:  # the watcher must outlive any one bad reload
            log.exception("reloading %s failed", endpoint.serving_file)


def _remove_server_file(endpoint: Endpoint) -> None:
    """Remove server.json, unless another server has written its own since."""
    path = endpoint.folder / SERVER_FILE
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
        print(f"endpoint_server: {folder} is not a folder", file=sys.stderr)
        return 2
    _setup_logging(folder)
    # One server per endpoint, whatever starts it: the kernel releases the lock when its
    # holder ends, also by kill -9, so a dead server never blocks the next one.
    lock = open(folder / LOCK_FILE, "a")  # noqa: SIM115 (held for the life of the process)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = state.read_json_if_exists(folder / SERVER_FILE) or {}
        message = f"another server (pid {holder.get('pid', '?')}) serves {folder}; not starting"
        log.error(message)
        print(f"endpoint_server: {message}", file=sys.stderr)
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
        print(f"endpoint_server: cannot listen: {error}", file=sys.stderr)
        return 1
    endpoint.port = server.server_address[1]
    # Serve at once (/ping answers 503 while models load); server.json comes after loading.
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    try:
        endpoint.refresh(force=True)
        if endpoint.table.spec is None:
            log.error("not starting: %s", endpoint.config_error)
            print(f"endpoint_server: not starting: {endpoint.config_error}", file=sys.stderr)
            return 2
        if stop.is_set():
            return 0
        endpoint.started = state.to_iso(state.now()) or ""
        state.write_json_atomic(
            folder / SERVER_FILE,
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


if __name__ == "__main__":
    sys.exit(main())
