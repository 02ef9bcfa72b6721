"""The local endpoint server: a real process serving real xgboost models over HTTP.

Each test writes serving.json for tiny models trained here, starts
`python -m smgha.backends.local.serving <folder>` on an ephemeral port and talks to
it over one kept-alive connection. Every server is stopped by the `servers` fixture.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import state
from smgha.backends.local.serving.capture import capture_line
from smgha.backends.local.serving.inference import answer
from smgha.backends.local.serving.main import PORT_ENV
from smgha.backends.local.serving.metrics import VariantMetrics
from smgha.backends.local.serving.model import FAILED, IN_SERVICE, Model
from smgha.backends.local.serving.routing import Route, RoutingTable
from smgha.backends.local.serving.spec import (
    CaptureSpec,
    VariantSpec,
    _parse_capture,
    parse_serving,
)
from smgha.backends.local.state import SERVER_FILE, SERVER_LOG, SERVING_FILE
from tests.stage_helpers import XGBOOST_IMAGE

FEATURES = 5
# Seconds for a server to write server.json: a bound, not a speed claim. Each variant loads its
# model before the file is written, 20 s apiece seen on a loaded 2-core machine (CI, 2026-12-05).
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[1]


# ---- models ---------------------------------------------------------------------------------


def train(seed: int, features: int = FEATURES) -> Any:
    """A tiny real model: 200 random rows, binary:logistic, 5 rounds."""
    import xgboost

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(200, features))
    labels = (data[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "seed": seed},
        xgboost.DMatrix(data, label=labels),
        5,
    )


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def write_model(path: Path, booster: Any) -> str:
    path.write_bytes(tarball({"xgboost-model": bytes(booster.save_raw("ubj"))}))
    return str(path)


def expected(booster: Any, rows: np.ndarray) -> list[float]:
    import xgboost

    return [float(p) for p in booster.predict(xgboost.DMatrix(rows))]


def csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(x)) for x in row) for row in rows).encode()


ROWS = np.random.default_rng(42).normal(size=(8, FEATURES))


@pytest.fixture(scope="module")
def boosters() -> dict[str, Any]:
    return {"a": train(1), "b": train(2)}


# ---- the server process -----------------------------------------------------------------------


class Server:
    """One endpoint server process and a kept-alive connection to it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.output = open(folder / "server.out", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smgha.backends.local.serving", str(folder)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != PORT_ENV},
        )
        self.info = self._wait_for_server_file()
        self.port = int(self.info["port"])
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _wait_for_server_file(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT
        path = self.folder / SERVER_FILE
        while time.monotonic() < deadline:
            if path.exists():
                return dict(state.read_json(path))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"the server did not start:\n{self.log()}")

    def log(self) -> str:
        parts = []
        for name in ("server.out", SERVER_LOG):
            path = self.folder / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        self.connection.request(method, path, body, headers or {})
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def invoke(
        self, body: bytes, content_type: str = "text/csv", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", "/invocations", body, {"Content-Type": content_type, **headers})

    def get_json(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, body
        return json.loads(body)

    def variants(self) -> dict[str, dict[str, Any]]:
        return {v["VariantName"]: v for v in self.get_json("/_smgha/variants")}

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}: {self.variants()}\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if hasattr(self, "connection"):
            self.connection.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.output.close()
        return self.process.returncode


def serving(
    folder: Path,
    variants: list[tuple[str, str, float]],
    capture: dict[str, Any] | None = None,
    name: str = "churn-staging",
) -> None:
    """Write serving.json atomically, as the controller does."""
    state.write_json_atomic(
        folder / SERVING_FILE,
        {
            "EndpointName": name,
            "Variants": [
                {"VariantName": v, "ModelDataPath": path, "Weight": weight, "Image": XGBOOST_IMAGE}
                for v, path, weight in variants
            ],
            "DataCapture": capture or {"Enabled": False},
        },
    )


@pytest.fixture
def servers() -> Iterator[Callable[[Path], Server]]:
    """Start servers; every one is stopped at the end of the test, whatever happened."""
    started: list[Server] = []

    def start(folder: Path) -> Server:
        server = Server(folder)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# ---- the container contract ---------------------------------------------------------------------


@pytest.mark.slow
def test_server_file_ping_and_predictions(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    serving(tmp_path, [("blue-3", write_model(tmp_path / "a.tar.gz", boosters["a"]), 1.0)])
    server = servers(tmp_path)
    assert set(server.info) == {"pid", "port", "started"}
    assert server.info["pid"] == server.process.pid

    status, _, body = server.request("GET", "/ping")
    assert (status, body) == (200, b"")

    # One row: the booster's own prediction, a probability.
    status, headers, body = server.invoke(csv(ROWS[:1]))
    assert status == 200, body
    assert headers["content-type"].startswith("text/csv")
    assert headers["x-amzn-invoked-production-variant"] == "blue-3"
    [score] = [float(x) for x in body.decode().split(",")]
    assert score == pytest.approx(expected(boosters["a"], ROWS[:1])[0], abs=1e-6)
    assert 0.0 <= score <= 1.0

    # Several rows, a trailing newline and CRLF line ends: one prediction per row, in order.
    body_crlf = csv(ROWS).replace(b"\n", b"\r\n") + b"\r\n"
    status, _, body = server.invoke(body_crlf, "text/csv; charset=utf-8", Accept="*/*")
    assert status == 200, body
    scores = [float(x) for x in body.decode().split(",")]
    assert scores == pytest.approx(expected(boosters["a"], ROWS), abs=1e-6)
    assert all(0.0 <= p <= 1.0 for p in scores)

    # An empty field is a missing value, as the container reads CSV.
    status, _, body = server.invoke(b",".join([b"0.5"] * (FEATURES - 1)) + b",")
    assert status == 200, body

    # JSON in (both instance shapes), JSON out.
    for instances in (
        ROWS[:3].tolist(),
        [{"features": row} for row in ROWS[:3].tolist()],
    ):
        status, headers, body = server.invoke(
            json.dumps({"instances": instances}).encode(),
            "application/json",
            Accept="application/json",
        )
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        document = json.loads(body)
        assert list(document) == ["predictions"]
        assert [p["score"] for p in document["predictions"]] == pytest.approx(
            expected(boosters["a"], ROWS[:3]), abs=1e-6
        )

    # Every request so far went over the one kept-alive connection.
    sock = server.connection.sock
    server.request("GET", "/ping")
    assert server.connection.sock is sock


@pytest.mark.slow
def test_error_answers(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    serving(tmp_path, [("blue-3", write_model(tmp_path / "a.tar.gz", boosters["a"]), 1.0)])
    server = servers(tmp_path)

    status, headers, body = server.invoke(b"")
    assert (status, body) == (204, b"")
    assert headers["x-amzn-invoked-production-variant"] == "blue-3"

    status, _, body = server.invoke(csv(ROWS[:1]), "text/plain")
    assert status == 415 and b"text/plain is not supported" in body
    status, _, body = server.invoke(csv(ROWS[:1]), "")
    assert status == 415

    for unreadable in (b"1,2,x,4,5", b"1,2,3,4,5\n1,2,3", b"\xff\xfe"):
        status, _, body = server.invoke(unreadable)
        assert status == 415, unreadable
        assert b"Loading csv data failed" in body
    for unreadable in (b"{", b'{"rows": []}', b'{"instances": [["a"]]}', b'{"instances": []}'):
        status, _, body = server.invoke(unreadable, "application/json")
        assert status == 415, unreadable

    # Parsed, but the model cannot evaluate it: the container's 400.
    status, headers, body = server.invoke(b"1,2,3")
    assert status == 400
    assert body.startswith(b"Unable to evaluate payload provided: ")
    assert b"expected: 5, got 3" in body
    assert headers["x-amzn-invoked-production-variant"] == "blue-3"

    status, _, body = server.invoke(csv(ROWS[:1]), Accept="application/x-recordio-protobuf")
    assert status == 406

    status, _, _ = server.request("GET", "/nothing")
    assert status == 404
    status, _, _ = server.request("POST", "/ping", b"x")
    assert status == 404
    status, _, body = server.request("GET", "/_smgha/metrics?since=soon")
    assert status == 400

    # Still the same connection, still serving.
    status, _, _ = server.invoke(csv(ROWS[:1]))
    assert status == 200


# ---- variants -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_weighted_routing_and_target_variant(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    a = write_model(tmp_path / "a.tar.gz", boosters["a"])
    b = write_model(tmp_path / "b.tar.gz", boosters["b"])
    serving(tmp_path, [("blue", a, 80.0), ("green", b, 20.0), ("idle", a, 0.0)])
    server = servers(tmp_path)
    truth = {
        name: expected(boosters[m], ROWS[:1])[0] for name, m in [("blue", "a"), ("green", "b")]
    }

    answered: Counter[str] = Counter()
    for _ in range(500):
        status, headers, body = server.invoke(csv(ROWS[:1]))
        assert status == 200, body
        variant = headers["x-amzn-invoked-production-variant"]
        answered[variant] += 1
        # The header names the variant whose model answered.
        assert float(body) == pytest.approx(truth[variant], abs=1e-6)
    assert set(answered) == {"blue", "green"}  # weight 0 takes no random traffic
    assert 0.72 <= answered["blue"] / 500 <= 0.88  # 80 % +- 4.5 standard deviations

    for target in ("green", "idle"):  # a pinned variant answers, even one with weight 0
        for _ in range(20):
            status, headers, _ = server.invoke(
                csv(ROWS[:1]), **{"X-Amzn-SageMaker-Target-Variant": target}
            )
            assert status == 200
            assert headers["x-amzn-invoked-production-variant"] == target
    status, _, body = server.invoke(csv(ROWS[:1]), **{"X-Amzn-SageMaker-Target-Variant": "nope"})
    assert status == 400 and b"nope" in body


@pytest.mark.slow
def test_hot_reload_moves_traffic_without_restart(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    a = write_model(tmp_path / "a.tar.gz", boosters["a"])
    b = write_model(tmp_path / "b.tar.gz", boosters["b"])
    serving(tmp_path, [("blue", a, 100.0)])
    server = servers(tmp_path)
    pid = server.info["pid"]

    # Traffic from a second connection all along: a reload never drops a request.
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        deadline = time.monotonic() + 30
        try:
            while not stop.is_set() and time.monotonic() < deadline and len(statuses) < 20_000:
                try:
                    connection.request(
                        "POST", "/invocations", csv(ROWS[:1]), {"Content-Type": "text/csv"}
                    )
                    response = connection.getresponse()
                    response.read()
                    statuses.append(response.status)
                except (OSError, http.client.HTTPException):
                    statuses.append(-1)  # a dropped connection fails the test below
                    return
        finally:
            connection.close()

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        # Noticed by the stat poll (no signal): green loads, then takes all the traffic.
        serving(tmp_path, [("blue", a, 0.0), ("green", b, 100.0)])
        server.wait_for(
            lambda: (
                server.variants().get("green", {}).get("Status") == "InService"
                and server.variants()["blue"]["Weight"] == 0.0
            ),
            "green InService and blue at weight 0",
        )
        for _ in range(50):
            status, headers, _ = server.invoke(csv(ROWS[:1]))
            assert (status, headers["x-amzn-invoked-production-variant"]) == (200, "green")

        # SIGHUP applies at once: blue is dropped.
        serving(tmp_path, [("green", b, 100.0)])
        os.kill(pid, signal.SIGHUP)
        server.wait_for(lambda: list(server.variants()) == ["green"], "blue removed")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert statuses and set(statuses) == {200}
    assert server.process.poll() is None
    assert state.read_json(tmp_path / SERVER_FILE)["pid"] == pid
    assert server.get_json("/_smgha/status")["pid"] == pid

    # An invalid serving.json is ignored (and reported); the variants stay as they were.
    (tmp_path / SERVING_FILE).write_text('{"EndpointName": "churn-staging", "Variants": []}')
    os.kill(pid, signal.SIGHUP)
    server.wait_for(lambda: server.get_json("/_smgha/status")["ConfigError"] != "", "ConfigError")
    assert "Variants must be a non-empty list" in server.get_json("/_smgha/status")["ConfigError"]
    assert list(server.variants()) == ["green"]
    status, _, _ = server.invoke(csv(ROWS[:1]))
    assert status == 200
    serving(tmp_path, [("green", b, 100.0)])
    os.kill(pid, signal.SIGHUP)
    server.wait_for(lambda: server.get_json("/_smgha/status")["ConfigError"] == "", "no error")


@pytest.mark.slow
def test_models_that_cannot_load_fail_their_variant(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    good = write_model(tmp_path / "good.tar.gz", boosters["a"])
    (tmp_path / "corrupt.tar.gz").write_bytes(b"this is not a model archive")
    (tmp_path / "two.tar.gz").write_bytes(tarball({"a.bin": b"1", "b.bin": b"2"}))
    (tmp_path / "dict.tar.gz").write_bytes(tarball({"xgboost-model": pickle.dumps({"a": 1})}))
    (tmp_path / "junk.tar.gz").write_bytes(tarball({"xgboost-model": b"{not ubjson at all"}))
    # Older artifacts hold a pickled Booster: that one serves.
    (tmp_path / "pickled.tar.gz").write_bytes(
        tarball({"xgboost-model": pickle.dumps(boosters["b"])})
    )
    failing = {
        "corrupt": "is not a readable model.tar.gz",
        "missing": "no model artifact at",
        "two": "holds no xgboost-model file",
        "dict": "is a pickled dict, not an xgboost Booster",
        "junk": "cannot be loaded as an xgboost model",
    }
    paths = {name: str(tmp_path / f"{name}.tar.gz") for name in failing}
    serving(
        tmp_path,
        [("good", good, 50.0), ("pickled", str(tmp_path / "pickled.tar.gz"), 0.0)]
        + [(name, paths[name], 10.0) for name in failing],
    )
    server = servers(tmp_path)

    variants = server.variants()
    assert variants["good"]["Status"] == variants["pickled"]["Status"] == "InService"
    for name, reason in failing.items():
        assert variants[name]["Status"] == "Failed", variants[name]
        assert reason in variants[name]["FailureReason"], variants[name]
    status, _, _ = server.request("GET", "/ping")
    assert status == 503  # failed variants with weight: the health check fails

    for _ in range(30):  # the healthy variant takes all the random traffic
        status, headers, _ = server.invoke(csv(ROWS[:1]))
        assert (status, headers["x-amzn-invoked-production-variant"]) == (200, "good")
    status, _, body = server.invoke(csv(ROWS[:1]), **{"X-Amzn-SageMaker-Target-Variant": "corrupt"})
    assert status == 503 and b"corrupt is Failed" in body
    status, _, body = server.invoke(csv(ROWS[:1]), **{"X-Amzn-SageMaker-Target-Variant": "pickled"})
    assert status == 200
    assert float(body) == pytest.approx(expected(boosters["b"], ROWS[:1])[0], abs=1e-6)

    # Weight 0 on every failed variant: healthy again.
    serving(
        tmp_path,
        [("good", good, 50.0), ("pickled", str(tmp_path / "pickled.tar.gz"), 0.0)]
        + [(name, paths[name], 0.0) for name in failing],
    )
    os.kill(server.info["pid"], signal.SIGHUP)
    server.wait_for(lambda: server.variants()["corrupt"]["Weight"] == 0.0, "weights applied")
    status, _, _ = server.request("GET", "/ping")
    assert status == 200


# What ModelBuilder.register() records without dependencies=None (smgha/serving_container.py).
NO_SCRIPT = {"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": "", "SAGEMAKER_REGION": "x"}
A_SCRIPT = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/src.tgz"}


def serving_environments(folder: Path, model: str, environments: dict[str, dict[str, str]]) -> None:
    """serving.json with one variant per environment, all on `model`, equal weights."""
    state.write_json_atomic(
        folder / SERVING_FILE,
        {
            "EndpointName": "churn-staging",
            "Variants": [
                {
                    "VariantName": name,
                    "ModelDataPath": model,
                    "Weight": 1.0,
                    "Environment": env,
                    "Image": XGBOOST_IMAGE,
                }
                for name, env in environments.items()
            ],
        },
    )


@pytest.mark.slow
def test_a_container_in_script_mode_fails_its_variant_as_the_container_does(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    model = write_model(tmp_path / "a.tar.gz", boosters["a"])
    serving_environments(
        tmp_path,
        model,
        {"plain": {"SAGEMAKER_REGION": "x"}, "no-script": NO_SCRIPT, "script": A_SCRIPT},
    )
    server = servers(tmp_path)

    variants = server.variants()
    assert variants["plain"]["Status"] == "InService"
    # The same readable model: the container's environment alone makes these fail.
    assert variants["no-script"]["Status"] == "Failed"
    reason = variants["no-script"]["FailureReason"]
    assert (
        "script mode with no script (SAGEMAKER_PROGRAM='' and SAGEMAKER_SUBMIT_DIRECTORY='')"
        in reason
    )
    assert "ValueError: Empty module name" in reason and "/ping with 500" in reason
    assert variants["script"]["Status"] == "Failed"
    # A named script is served (tests/test_script_inference.py): here its source is missing.
    assert "SAGEMAKER_SUBMIT_DIRECTORY='s3://b/src.tgz'" in variants["script"]["FailureReason"]
    assert "Upload the script's source as a tar.gz" in variants["script"]["FailureReason"]
    status, _, _ = server.request("GET", "/ping")
    assert status == 503  # the health check fails: the endpoint does not come up
    target = {"X-Amzn-SageMaker-Target-Variant": "no-script"}
    status, _, body = server.invoke(csv(ROWS[:1]), **target)
    assert status == 503 and b"Empty module name" in body

    # The model registered again without the variables: the variant reloads and serves.
    serving_environments(
        tmp_path, model, {"plain": {"SAGEMAKER_REGION": "x"}, "no-script": {}, "script": {}}
    )
    os.kill(server.info["pid"], signal.SIGHUP)
    server.wait_for(
        lambda: all(v["Status"] == "InService" for v in server.variants().values()), "reloads"
    )
    status, _, _ = server.request("GET", "/ping")
    assert status == 200
    status, _, body = server.invoke(csv(ROWS[:1]), **target)
    assert status == 200
    assert float(body) == pytest.approx(expected(boosters["a"], ROWS[:1])[0], abs=1e-6)


def test_the_container_answers_500_when_it_cannot_serve(tmp_path: Path) -> None:
    """What the container answers an invocation with when it cannot serve: its app raises on
    every request, and gunicorn answers 500 (the AWS double answers InvokeEndpoint so)."""
    model = Model(str(tmp_path / "never-read.tar.gz"), NO_SCRIPT)
    model.load()

    reply = answer(model, csv(ROWS[:1]), "text/csv", "text/csv")

    assert model.status == FAILED
    assert reply.status == 500 and b"ValueError: Empty module name" in reply.body


@pytest.mark.parametrize(
    ("image", "why"),
    [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-server:1",
            "the local backend has no container engine to run an image",
        ),
        ("", "the local backend has no container engine to run an image"),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "serves only in script mode and has no SAGEMAKER_PROGRAM",
        ),
    ],
    ids=["custom image", "no image", "scikit-learn without a script"],
)
def test_a_model_whose_image_the_local_endpoint_cannot_run_fails_instead_of_serving_as_xgboost(
    tmp_path: Path, boosters: dict[str, Any], image: str, why: str
) -> None:
    """The server refuses what deploy-endpoint refuses (LocalHosting.serving_refusal), for a
    model created by other means: a readable XGBoost model is not served in another image."""
    path = write_model(tmp_path / "a.tar.gz", boosters["a"])
    builtin = Model(path, {}, XGBOOST_IMAGE)
    builtin.load()
    assert builtin.status == IN_SERVICE, builtin.failure_reason

    model = Model(path, {}, image)
    model.load()

    assert model.status == FAILED
    assert f"its image {image!r}" in model.failure_reason and why in model.failure_reason
    assert "Deploy it with backend: sagemaker" in model.failure_reason
    reply = answer(model, csv(ROWS[:1]), "text/csv", "text/csv")
    assert reply.status == 500 and why.encode() in reply.body


# ---- metrics --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_metrics_counters_and_window(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    (tmp_path / "bad.tar.gz").write_bytes(b"junk")
    serving(
        tmp_path,
        [
            ("blue", write_model(tmp_path / "a.tar.gz", boosters["a"]), 1.0),
            ("broken", str(tmp_path / "bad.tar.gz"), 0.0),
        ],
    )
    server = servers(tmp_path)

    def send(ok: int, client_errors: int, server_errors: int) -> None:
        for _ in range(ok):
            assert server.invoke(csv(ROWS[:1]))[0] == 200
        for i in range(client_errors):
            status = server.invoke(b"1,2" if i % 2 else b"x", "text/csv")[0]
            assert status in (400, 415)
        for _ in range(server_errors):
            target = {"X-Amzn-SageMaker-Target-Variant": "broken"}
            assert server.invoke(csv(ROWS[:1]), **target)[0] == 503

    send(ok=10, client_errors=4, server_errors=2)
    report = server.get_json("/_smgha/metrics")
    assert report["EndpointName"] == "churn-staging"
    blue = report["Variants"]["blue"]
    assert (blue["Invocations"], blue["Invocation4XXErrors"], blue["Invocation5XXErrors"]) == (
        14,
        4,
        0,
    )
    assert len(blue["ModelLatency"]) == 14
    assert all(t > 0 and us >= 0 for t, us in blue["ModelLatency"])
    broken = report["Variants"]["broken"]
    assert (broken["Invocations"], broken["Invocation5XXErrors"]) == (2, 2)
    assert broken["ModelLatency"] == []  # no model ran

    # A window that starts after the first batch (in a later second) sees the second only.
    time.sleep(1.05 - time.time() % 1)
    since = time.time()
    send(ok=5, client_errors=2, server_errors=1)
    window = server.get_json(f"/_smgha/metrics?since={since}")
    assert window["Since"] == since
    blue = window["Variants"]["blue"]
    assert (blue["Invocations"], blue["Invocation4XXErrors"], blue["Invocation5XXErrors"]) == (
        7,
        2,
        0,
    )
    latency = blue["ModelLatency"]
    assert latency["SampleCount"] == 7 and latency["Complete"] is True
    assert 0 < latency["Minimum"] <= latency["p50"] <= latency["p99"] <= latency["Maximum"]
    assert latency["Minimum"] <= latency["Average"] <= latency["Maximum"]
    assert window["Variants"]["broken"]["Invocation5XXErrors"] == 1
    assert window["Variants"]["broken"]["ModelLatency"] == {"SampleCount": 0, "Complete": True}

    # ?window=<seconds> is the same question relative to the server's clock; ?variant= filters.
    recent = server.get_json("/_smgha/metrics?window=60&variant=blue")
    assert list(recent["Variants"]) == ["blue"]
    assert recent["Variants"]["blue"]["Invocations"] == 21

    future = server.get_json(f"/_smgha/metrics?since={time.time() + 60}")
    assert future["Variants"]["blue"]["Invocations"] == 0
    assert "Average" not in future["Variants"]["blue"]["ModelLatency"]  # no data point


def test_metrics_window_statistics_in_process() -> None:
    metrics = VariantMetrics()
    for i in range(100):
        metrics.record(1000.0 + i * 0.01, 200, i + 1)  # 1..100 us within one second
    metrics.record(1001.5, 500, None)
    window = metrics.window(1000.0)
    assert (window["Invocations"], window["Invocation5XXErrors"]) == (101, 1)
    latency = window["ModelLatency"]
    assert (latency["SampleCount"], latency["p50"], latency["p99"], latency["Maximum"]) == (
        100,
        50,
        99,
        100,
    )
    assert latency["Average"] == pytest.approx(50.5)
    assert metrics.window(1001.0)["Invocations"] == 1


# ---- data capture ---------------------------------------------------------------------------------


def capture_lines(destination: Path) -> list[tuple[Path, dict[str, Any]]]:
    lines = []
    for path in sorted(destination.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            lines.append((path, json.loads(line)))
    return lines


@pytest.mark.slow
def test_data_capture(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    destination = tmp_path / "capture"
    model = write_model(tmp_path / "a.tar.gz", boosters["a"])
    capture = {
        "Enabled": True,
        "SamplingPercentage": 100,
        "Destination": str(destination),
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }
    serving(tmp_path, [("blue", model, 1.0)], capture)
    server = servers(tmp_path)

    payloads = [csv(ROWS[i : i + 1]) for i in range(3)]
    responses = [server.invoke(p)[2] for p in payloads]
    json_payload = json.dumps({"instances": ROWS[:2].tolist()}).encode()
    json_response = server.invoke(json_payload, "application/json", Accept="application/json")[2]
    assert server.invoke(b"x,y")[0] == 415  # errors are not captured

    lines = capture_lines(destination)
    assert len(lines) == 4
    for path, record in lines:
        assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
        assert record["eventVersion"] == "0"
        assert set(record["captureData"]) == {"endpointInput", "endpointOutput"}
        for mode in ("endpointInput", "endpointOutput"):
            assert set(record["captureData"][mode]) == {
                "observedContentType",
                "mode",
                "data",
                "encoding",
            }
        assert set(record["eventMetadata"]) == {"eventId", "inferenceTime"}
        uuid.UUID(record["eventMetadata"]["eventId"])
        moment = record["eventMetadata"]["inferenceTime"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", moment)
        # <Destination>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/<mm>-<ss>-<ms>-<uuid>.jsonl
        relative = path.relative_to(destination).parts
        assert relative[:2] == ("churn-staging", "blue")
        assert "/".join(relative[2:6]) == moment[:13].replace("-", "/").replace("T", "/")
        assert re.fullmatch(r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl", relative[6])
    # One file per variant per hour (two if the test ran across an hour's end).
    hours = {record["eventMetadata"]["inferenceTime"][:13] for _, record in lines}
    assert len({path for path, _ in lines}) == len(hours)

    for (_, record), payload, response in zip(lines[:3], payloads, responses, strict=True):
        assert record["captureData"]["endpointInput"] == {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": payload.decode(),
            "encoding": "CSV",
        }
        assert record["captureData"]["endpointOutput"] == {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": response.decode(),
            "encoding": "CSV",
        }
    json_record = lines[3][1]["captureData"]
    assert json_record["endpointInput"]["encoding"] == "JSON"
    assert json_record["endpointInput"]["data"] == json_payload.decode()
    assert json_record["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": json_response.decode(),
        "encoding": "JSON",
    }

    # Sampling 0: nothing more is captured.
    serving(tmp_path, [("blue", model, 1.0)], {**capture, "SamplingPercentage": 0})
    os.kill(server.info["pid"], signal.SIGHUP)
    server.wait_for(
        lambda: server.get_json("/_smgha/status")["DataCapture"]["SamplingPercentage"] == 0,
        "sampling 0 applied",
    )
    for payload in payloads:
        assert server.invoke(payload)[0] == 200
    assert len(capture_lines(destination)) == 4

    # Without CaptureContentTypeHeader SageMaker captures BASE64.
    plain = {k: v for k, v in capture.items() if k != "CaptureContentTypeHeader"}
    serving(tmp_path, [("blue", model, 1.0)], plain)
    os.kill(server.info["pid"], signal.SIGHUP)
    server.wait_for(
        lambda: server.get_json("/_smgha/status")["DataCapture"]["SamplingPercentage"] == 100,
        "sampling 100 applied",
    )
    assert server.invoke(payloads[0])[0] == 200
    lines = capture_lines(destination)
    assert len(lines) == 5
    captured = lines[-1][1]["captureData"]["endpointInput"]
    assert captured["encoding"] == "BASE64"
    assert base64.b64decode(captured["data"]) == payloads[0]


# ---- the process -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_stops_the_server_and_removes_server_json(
    tmp_path: Path, boosters: dict[str, Any], servers: Callable[[Path], Server]
) -> None:
    serving(tmp_path, [("blue", write_model(tmp_path / "a.tar.gz", boosters["a"]), 1.0)])
    server = servers(tmp_path)
    assert server.invoke(csv(ROWS[:1]))[0] == 200  # a kept-alive connection stays open
    other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    other.request("GET", "/ping")
    other.getresponse().read()

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=STOP_TIMEOUT) == 0
    other.close()
    assert not (tmp_path / SERVER_FILE).exists()
    assert "stopping" in (tmp_path / SERVER_LOG).read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "serving.json is missing"),
        ('{"EndpointName": "e", "Variants": []}', "Variants must be a non-empty list"),
        (
            '{"EndpointName": "e", "Variants": [{"VariantName": "v", "ModelDataPath": "/m", "Weight": -1}]}',
            "Weight -1 must be a number >= 0",
        ),
        ("{", "Expecting property name"),
    ],
)
def test_server_refuses_to_start_without_a_valid_serving_json(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / SERVING_FILE).write_text(content)
    completed = subprocess.run(
        [sys.executable, "-m", "smgha.backends.local.serving", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert message in completed.stderr
    assert not (tmp_path / SERVER_FILE).exists()


@pytest.mark.slow
def test_loading_a_model_imports_neither_pandas_nor_sklearn(
    tmp_path: Path, boosters: dict[str, Any]
) -> None:
    path = write_model(tmp_path / "a.tar.gz", boosters["a"])
    code = (
        "import sys\n"
        "from smgha.backends.local.serving.model import read_booster\n"
        f"read_booster({path!r})\n"
        "print(sorted(m for m in ('pandas', 'sklearn') if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


# ---- pure functions ---------------------------------------------------------------------------------


def test_parse_serving_defaults_and_errors() -> None:
    spec = parse_serving(
        {
            "EndpointName": "e",
            "Variants": [{"VariantName": "v@cfg-1", "ModelDataPath": "/m", "Weight": 1}],
        }
    )
    assert spec.variants == (VariantSpec("v@cfg-1", "/m", 1.0),)
    assert spec.capture == CaptureSpec()
    for broken, message in [
        ([], "JSON object"),
        ({"EndpointName": "a/b", "Variants": []}, "EndpointName"),
        (
            {"EndpointName": "e", "Variants": [{"VariantName": "v", "ModelDataPath": "/m"}]},
            "Weight",
        ),
        (
            {
                "EndpointName": "e",
                "Variants": [{"VariantName": "v", "ModelDataPath": "/m", "Weight": 1}] * 2,
            },
            "unique",
        ),
        (
            {
                "EndpointName": "e",
                "Variants": [{"VariantName": "v", "ModelDataPath": "/m", "Weight": 1}],
                "DataCapture": {"Enabled": True, "Destination": "s3://b/k"},
            },
            "local folder path",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_serving(broken)


def test_parse_serving_reads_a_variant_environment() -> None:
    variant = {"VariantName": "v", "ModelDataPath": "/m", "Weight": 1}
    spec = parse_serving(
        {"EndpointName": "e", "Variants": [{**variant, "Environment": {"B": "2", "A": ""}}]}
    )
    assert spec.variants[0].environment == (("A", ""), ("B", "2"))
    environments: list[Any] = [[], {"A": 1}]
    for environment in environments:
        with pytest.raises(ValueError, match="Environment must map names to strings"):
            parse_serving(
                {"EndpointName": "e", "Variants": [{**variant, "Environment": environment}]}
            )


def test_capture_options_select_input_or_output() -> None:
    spec = _parse_capture(
        {"Enabled": True, "Destination": "/d", "CaptureOptions": [{"CaptureMode": "Input"}]}
    )
    record = json.loads(capture_line(spec, "text/csv", b"1,2", "text/csv", b"0.5", 0.0))
    assert list(record["captureData"]) == ["endpointInput"]
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert record["eventMetadata"]["inferenceTime"] == "1970-01-01T00:00:00Z"


def test_routing_table_picks_by_weight() -> None:
    model = Model("/nowhere")
    model.status = IN_SERVICE
    routes = tuple(
        Route(name, weight, model, VariantMetrics())
        for name, weight in [("a", 3.0), ("b", 1.0), ("c", 0.0)]
    )
    table = RoutingTable(None, routes)
    picks = Counter(route.name for route in (table.pick() for _ in range(4000)) if route)
    assert set(picks) == {"a", "b"}
    assert 0.7 <= picks["a"] / 4000 <= 0.8
    assert RoutingTable(None, routes[2:]).pick() is None  # weight 0 only: no random traffic
