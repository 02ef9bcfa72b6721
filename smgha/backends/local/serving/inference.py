"""The container's request handling: what the built-in XGBoost container answers to one
POST /invocations (payload parsing, Accept negotiation, prediction)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from smgha.backends.local.serving.model import IN_SERVICE, FloatRows, Model, first_line
from smgha.backends.local.serving.spec import media_type

CSV, JSON = "text/csv", "application/json"
# What the container answers: Flask's mimetype="text/csv" adds the charset.
CSV_RESPONSE_TYPE = "text/csv; charset=utf-8"


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
    media = media_type(content_type)
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
        media = media_type(part)
        if media in (CSV, "text/*", "*/*"):
            return CSV
        if media in (JSON, "application/*"):
            return JSON
    raise ValueError(f"Accept type {accept} is not supported. Please use {CSV} or {JSON}.")


def answer(model: Model, body: bytes, content_type: str, accept: str, batch: bool = False) -> Reply:
    """What the container answers to POST /invocations: the built-in XGBoost algorithm's,
    or the user's inference script's through its handlers. `batch`: in a transform job, where
    SageMaker sets SAGEMAKER_BATCH and the algorithm answers CSV one prediction per line
    (aws/sagemaker-xgboost-container, algorithm_mode/serve.py, invocations())."""
    if model.status != IN_SERVICE:
        # The container's app raises on each request when it cannot serve (a model it cannot
        # load, script mode without a script), which gunicorn answers with 500.
        return Reply(500, f"Internal Server Error: {model.failure_reason}".encode())
    if model.script is not None:  # the user's handlers answer, in the model's worker process
        status, reply_type, reply = model.script.invoke(body, content_type, accept)
        return Reply(status, reply, reply_type)
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
        predictions = model.predict(rows)
    except Exception as error:
        return Reply(400, f"Unable to evaluate payload provided: {first_line(error)}".encode())
    if kind == JSON:
        document = {"predictions": [{"score": p} for p in predictions]}
        return Reply(200, json.dumps(document).encode(), JSON)
    if batch:
        return Reply(200, "".join(f"{p}\n" for p in predictions).encode(), CSV_RESPONSE_TYPE)
    return Reply(200, ",".join(map(str, predictions)).encode(), CSV_RESPONSE_TYPE)
