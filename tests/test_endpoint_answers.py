"""The built-in algorithm's answers, pinned byte for byte.

The server predicts through `DensePredictor` (xgboost's C function without the Python
wrapper, smgha/backends/local/serving/xgboost_predict.py). Its answers must be exactly those
of `Booster.inplace_predict`, the public call it stands for: the same bodies (CSV and JSON),
the same error messages, from any number of threads at once, and the same bytes on the wire.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local.serving.inference import CSV_RESPONSE_TYPE, answer
from smgha.backends.local.serving.model import IN_SERVICE, Model
from tests.stage_helpers import XGBOOST_IMAGE
from tests.test_endpoint_server import Server, servers, serving, tarball, write_model

__all__ = ["servers"]  # the fixture, used by name

FEATURES = 6


def train(objective: str, extra: dict[str, Any] | None = None) -> Any:
    """A small real model: 300 rows with missing values, 20 rounds of depth 4."""
    import xgboost

    rng = np.random.default_rng(5)
    data = rng.normal(size=(300, FEATURES))
    data[rng.random(size=data.shape) < 0.1] = np.nan
    labels = (np.nan_to_num(data[:, 0]) + rng.normal(scale=0.5, size=300) > 0).astype(int)
    if objective == "multi:softprob":
        labels = labels + (np.nan_to_num(data[:, 1]) > 0.5)
    params = {"objective": objective, "max_depth": 4, "seed": 5, **(extra or {})}
    return xgboost.train(params, xgboost.DMatrix(data, label=labels), 20)


MODELS = {
    "binary": ("binary:logistic", None),
    "regression": ("reg:squarederror", None),
    "multiclass": ("multi:softprob", {"num_class": 3}),
}


def csv_rows(rng: np.random.Generator, count: int) -> list[list[str]]:
    """Rows as a client writes them: 4 decimals, about one field in eight empty (missing)
    and one in eight zero (a value, not missing: xgboost's `missing` is NaN)."""
    fields = [["", "0", f"{x:.4f}"] for x in rng.normal(size=count * FEATURES) * 2]
    picks = rng.choice(3, size=count * FEATURES, p=[0.12, 0.12, 0.76])
    values = [choices[pick] for choices, pick in zip(fields, picks, strict=True)]
    return [values[i * FEATURES : (i + 1) * FEATURES] for i in range(count)]


def reference_csv(booster: Any, rows: list[list[str]]) -> bytes:
    """What the endpoint answered when it predicted with Booster.inplace_predict."""
    matrix = np.array([[float(v) if v else np.nan for v in row] for row in rows], np.float32)
    return ",".join(map(str, booster.inplace_predict(matrix).tolist())).encode()


def loaded(tmp_path: Path, booster: Any) -> Model:
    model = Model(write_model(tmp_path / "model.tar.gz", booster), {}, XGBOOST_IMAGE)
    model.load()
    assert model.status == IN_SERVICE, model.failure_reason
    return model


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_answers_are_those_of_inplace_predict_byte_for_byte(tmp_path: Path, kind: str) -> None:
    booster = train(*MODELS[kind])
    model = loaded(tmp_path, booster)
    rng = np.random.default_rng(11)
    for count in (1, 1, 1, 2, 7):
        rows = csv_rows(rng, count)
        body = "\n".join(",".join(row) for row in rows).encode()
        reply = answer(model, body, "text/csv", "text/csv")
        assert (reply.status, reply.content_type) == (200, CSV_RESPONSE_TYPE)
        assert reply.body == reference_csv(booster, rows)
        reply = answer(model, body, "text/csv", "application/json")
        scores = json.loads(reply.body)["predictions"]
        assert [p["score"] for p in scores] == json.loads(
            b"[" + reference_csv(booster, rows) + b"]"
        )


@pytest.mark.slow
def test_the_predictor_is_the_c_function_not_the_wrapper(tmp_path: Path) -> None:
    """The fast path answers without the wrapper; everything else goes through it."""
    booster = train("binary:logistic")
    model = loaded(tmp_path, booster)
    assert model.booster is not None
    expected = reference_csv(booster, [["0.5"] * FEATURES])
    calls: list[Any] = []
    wrapper = model.booster.inplace_predict

    def counted(rows: Any, **options: Any) -> Any:
        calls.append(rows)
        return wrapper(rows, **options)

    model.booster.inplace_predict = counted  # type: ignore[method-assign]

    assert answer(model, b",".join([b"0.5"] * FEATURES), "text/csv", "").body == expected
    assert calls == []
    # A row of the wrong width: xgboost's own error, by the wrapper, as the container says it.
    reply = answer(model, b"1,2,3", "text/csv", "")
    assert reply.status == 400
    assert reply.body == (
        b"Unable to evaluate payload provided: Feature shape mismatch, expected: 6, got 3"
    )
    assert len(calls) == 1


@pytest.mark.slow
def test_predictions_from_many_threads_at_once_are_each_requests_own(tmp_path: Path) -> None:
    """No lock: the C function's result buffer is per thread (xgboost_predict.py)."""
    booster = train("multi:softprob", {"num_class": 3})
    model = loaded(tmp_path, booster)
    rng = np.random.default_rng(3)
    bodies = [csv_rows(rng, 1 + i % 3) for i in range(64)]
    wanted = [reference_csv(booster, rows) for rows in bodies]
    got: dict[int, list[bytes]] = {}
    start = threading.Barrier(8)

    def work(thread: int) -> None:
        start.wait()
        got[thread] = [
            answer(model, "\n".join(",".join(r) for r in rows).encode(), "text/csv", "").body
            for _ in range(20)
            for rows in bodies
        ]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(got) == list(range(8))
    for answers in got.values():
        assert answers == wanted * 20


@pytest.mark.slow
def test_the_reply_on_the_wire_byte_for_byte(
    tmp_path: Path, servers: Callable[[Path], Server]
) -> None:
    """Status line, headers (the container's Content-Type with charset, the invoked variant)
    and body, exactly; a second request on the same connection answers the same."""
    booster = train("binary:logistic")
    (tmp_path / "model.tar.gz").write_bytes(tarball({"xgboost-model": bytes(booster.save_raw())}))
    serving(tmp_path, [("blue-3", str(tmp_path / "model.tar.gz"), 1.0)])
    server = servers(tmp_path)
    row = ["0.25", "", "-1.5", "2.0", "0.0", "3.1"]
    body = reference_csv(booster, [row])
    request = (
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        f"Accept: text/csv\r\nContent-Length: {len(','.join(row))}\r\n\r\n{','.join(row)}"
    ).encode()
    wanted = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\n"
        b"Content-Length: %d\r\nX-Amzn-Invoked-Production-Variant: blue-3\r\n\r\n%s"
        % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        for _ in range(2):
            connection.sendall(request)
            received = b""
            while len(received) < len(wanted):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
            assert received == wanted
