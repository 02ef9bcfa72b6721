"""Benchmark: the local endpoint server beside the peer model servers, on the same model.

Peers, each installed by this script into a virtualenv of its own under bench/results/peers/
(pip from the package index; reused when its pinned requirements are already installed, and
installing is never timed):

  * MLServer 1.7.1 with mlserver-xgboost 1.7.1 (it starts only with uvloop<0.22), serving the
    booster file (model.ubj: the bytes of `xgboost-model` in the model.tar.gz) through the
    V2 inference protocol, twice: with its default parallel_workers (inference in a worker
    process) and with parallel_workers=0 (in the server process);
  * MLflow 3.17's scoring server, `mlflow models serve --env-manager local` (its venv's bin
    first on PATH, as the command starts uvicorn from there) over an MLflow model saved from
    the same booster file with mlflow.xgboost.

Every server gets the model of endpoint_throughput.py and its request rows, each as that
server reads a single row (text/csv for ours, the V2 JSON request for MLServer, MLflow's
`{"inputs": [[...]]}`), and is driven by the same closed-loop client at the same concurrency,
interleaved, --repeat rounds. Reported: requests/s, p50/p99, and server CPU per request (the
server's process and every process below it, from /proc), with ours / best peer. Each server
must answer the model's own score for the first row. Servers listen on 127.0.0.1 and are
stopped (their process groups, by pid) whatever happens. Not part of `make test`.

    .venv/bin/python bench/peer_servers.py [--repeat 3] [--requests 4000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import _common as c
import endpoint_throughput as e

PEERS_DIR = c.RESULTS_DIR / "peers"
# xgboost as ours, so that every server predicts with the same library version.
XGBOOST_PIN = "xgboost==3.2.0"
REQUIREMENTS = {
    "mlserver": ["mlserver==1.7.1", "mlserver-xgboost==1.7.1", "uvloop<0.22", XGBOOST_PIN],
    "mlflow": ["mlflow==3.17.2", XGBOOST_PIN],
}
INSTALL_TIMEOUT = 1800.0  # seconds for one pip install
PEER_START_TIMEOUT = 180.0  # MLflow's first start imports a lot
MODEL_NAME = "churn"

# Run with the MLflow venv's interpreter: the booster file saved as an MLflow model.
SAVE_MLFLOW_MODEL = """
import sys
import mlflow.xgboost, xgboost
booster = xgboost.Booster()
booster.load_model(sys.argv[1])
mlflow.xgboost.save_model(booster, sys.argv[2], model_format="ubj")
"""


def ensure_venv(name: str) -> Path:
    """The peer's virtualenv, created and installed unless it already holds its pins."""
    venv = PEERS_DIR / name
    marker = venv / "installed.json"
    wanted = REQUIREMENTS[name]
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return venv
    c.progress(f"installing {' '.join(wanted)} into {venv} (not timed)")
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
    log = venv / "pip-install.log"
    with open(log, "wb") as output:
        installed = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", *wanted],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=INSTALL_TIMEOUT,
        )
    if installed.returncode != 0:
        raise RuntimeError(f"installing {name} failed; see {log}")
    marker.write_text(json.dumps(wanted))
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def booster_file(temp: Path) -> Path:
    """The `xgboost-model` of model.tar.gz, as model.ubj (the built-in algorithm's UBJSON)."""
    with tarfile.open(temp / "model.tar.gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        path = temp / "model.ubj"
        path.write_bytes(member.read())
    return path


def v2_body(row: str) -> str:
    values = [float(x) for x in row.split(",")]
    inputs = [{"name": "input-0", "shape": [1, len(values)], "datatype": "FP32", "data": values}]
    return json.dumps({"inputs": inputs})


def start_ours(temp: Path) -> e.Process:
    folder = temp / "ours"
    folder.mkdir()
    variant = {"VariantName": "AllTraffic", "ModelDataPath": str(temp / "model.tar.gz")}
    spec = {
        "EndpointName": "bench-churn",
        "Variants": [{**variant, "Weight": 1.0, "Image": c.XGBOOST_IMAGE}],
        "DataCapture": {"Enabled": False},
    }
    (folder / "serving.json").write_text(json.dumps(spec))
    return e.Process(
        [c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)],
        folder / "server.json",
        temp / "ours.out",
    )


def start_mlserver(temp: Path, venv: Path, model: Path, parallel_workers: int) -> e.Process:
    folder = temp / f"mlserver-{parallel_workers}"
    (folder / MODEL_NAME).mkdir(parents=True)
    (folder / MODEL_NAME / "model.ubj").write_bytes(model.read_bytes())
    settings = {"name": MODEL_NAME, "implementation": "mlserver_xgboost.XGBoostModel"}
    (folder / MODEL_NAME / "model-settings.json").write_text(json.dumps(settings))
    port = free_port()
    server_settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": parallel_workers,
    }
    (folder / "settings.json").write_text(json.dumps(server_settings))
    return e.Process(
        [str(venv / "bin" / "mlserver"), "start", str(folder)],
        None,
        temp / f"mlserver-{parallel_workers}.out",
        port=port,
        ready_path=f"/v2/models/{MODEL_NAME}/ready",
        env=peer_env(venv),
        group=True,
        start_timeout=PEER_START_TIMEOUT,
    )


def start_mlflow(temp: Path, venv: Path, model: Path) -> e.Process:
    saved = temp / "mlflow-model"
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", SAVE_MLFLOW_MODEL, str(model), str(saved)],
        env=peer_env(venv),
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = free_port()
    command = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(saved)]
    return e.Process(
        [*command, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        None,
        temp / "mlflow.out",
        port=port,
        ready_path="/ping",
        env=peer_env(venv),
        group=True,
        start_timeout=PEER_START_TIMEOUT,
    )


def peer_env(venv: Path) -> dict[str, str]:
    """The environment of a peer: its venv's bin first on PATH (MLflow starts uvicorn from
    there), nothing of ours (no PYTHONPATH), no telemetry, and one OpenMP thread: xgboost
    predicts a single row on one thread, as ours does (nthread 1); by default each prediction
    would start a thread per CPU, whose spinning costs a peer more than the prediction."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env["OMP_NUM_THREADS"] = "1"
    return env


def first_score(server: e.Process, path: str, content_type: str, body: str) -> float:
    """The server's answer to one request, as a score, whatever its JSON shape."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": content_type, "Accept": content_type}
        connection.request("POST", path, body.encode(), headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {answer[:300]!r}")
    if content_type == "text/csv":
        return float(answer)
    document = json.loads(answer)
    if "outputs" in document:  # V2: outputs[0].data
        return float(document["outputs"][0]["data"][0])
    return float(document["predictions"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per run, at most")
    args = parser.parse_args()
    venvs = {name: ensure_venv(name) for name in REQUIREMENTS}

    with tempfile.TemporaryDirectory(prefix="smgha-bench-peers-") as name:
        temp = Path(name)
        model = e.train_model(name)
        rows: list[str] = model["rows"]
        ubj = booster_file(temp)
        servers: dict[str, e.Process] = {}
        try:
            c.progress("starting our server, MLServer (twice) and MLflow's scoring server")
            servers["smgha (ours)"] = start_ours(temp)
            servers["MLServer 1.7.1"] = start_mlserver(temp, venvs["mlserver"], ubj, 1)
            servers["MLServer 1.7.1, parallel_workers=0"] = start_mlserver(
                temp, venvs["mlserver"], ubj, 0
            )
            servers["MLflow 3.17.2"] = start_mlflow(temp, venvs["mlflow"], ubj)
            runs = drive(args, servers, rows, model["first_score"])
        finally:
            for server in servers.values():
                server.stop()
    report(args, servers, runs)


def requests_of(name: str, rows: list[str]) -> tuple[str, str, list[str]]:
    """(path, content type, bodies) of one server's single-row requests."""
    if name.startswith("MLServer"):
        return f"/v2/models/{MODEL_NAME}/infer", "application/json", [v2_body(r) for r in rows]
    if name.startswith("MLflow"):
        inputs = [json.dumps({"inputs": [[float(x) for x in r.split(",")]]}) for r in rows]
        return "/invocations", "application/json", inputs
    return "/invocations", "text/csv", rows


def drive(
    args: argparse.Namespace, servers: dict[str, e.Process], rows: list[str], score: float
) -> dict[str, list[dict[str, Any]]]:
    """Interleaved closed-loop rounds; every server's first answer checked first."""
    for name, server in servers.items():
        path, content_type, bodies = requests_of(name, rows)
        answered = first_score(server, path, content_type, bodies[0])
        if abs(answered - score) > 1e-6:
            raise RuntimeError(f"{name} answered {answered}, the model {score}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for round_number in range(1, args.repeat + 1):
        for name, server in servers.items():
            c.progress(f"round {round_number}: {name}, {args.concurrency} connections")
            path, content_type, bodies = requests_of(name, rows)
            run = e.run_load(
                server,
                bodies,
                mode="closed",
                connections=args.concurrency,
                processes=args.client_processes,
                requests=args.requests,
                time_cap=args.time_cap,
                path=path,
                content_type=content_type,
            )
            e.check_answers(run)
            runs[name].append(run)
            c.progress(f"  {run['rps']:,.0f} req/s, {run['server_cpu_us_per_request']:.0f} µs")
    return runs


def report(
    args: argparse.Namespace, servers: dict[str, e.Process], runs: dict[str, list[dict[str, Any]]]
) -> None:
    ours = "smgha (ours)"
    rps = {name: e.med(measured, "rps")["median"] for name, measured in runs.items()}
    best_peer = max((name for name in runs if name != ours), key=lambda name: rps[name])
    rows = []
    for name, measured in runs.items():
        rows.append(
            [
                name,
                e.fmt_rps(e.med(measured, "rps")),
                e.fmt(e.med(measured, "p50_ms")),
                e.fmt(e.med(measured, "p99_ms")),
                e.fmt(e.med(measured, "server_cpu_us_per_request"), "µs", 0),
                f"{rps[ours] / rps[name]:.1f}×",
            ]
        )
    ratio = rps[ours] / rps[best_peer]
    markdown = "\n".join(
        [
            f"### Peer model servers (median of {args.repeat}; goal: ours ≥ 3× the best peer)",
            "",
            "The model and rows of the endpoint benchmark (one booster file), single-row "
            f"requests at {args.concurrency} kept-alive connections from "
            f"{args.client_processes} client processes, {args.requests:,} requests per run, "
            "interleaved. Server CPU counts the server's process and every process below it.",
            "",
            c.markdown_table(
                ["Server", "Requests/s", "p50", "p99", "Server CPU/req", "Ours / this"], rows
            ),
            "",
            f"Ours / best peer ({best_peer}): {ratio:.1f}× "
            + ("✅" if ratio >= 3 else "❌ (goal ≥ 3×)"),
        ]
    )
    result = {
        "repeat": args.repeat,
        "requests_per_run": args.requests,
        "concurrency": args.concurrency,
        "requirements": REQUIREMENTS,
        "start_seconds": {name: server.start_seconds for name, server in servers.items()},
        "runs": {
            name: [{k: v for k, v in run.items() if k != "first_answers"} for run in measured]
            for name, measured in runs.items()
        },
        "best_peer": best_peer,
        "ours_over_best_peer": ratio,
    }
    c.write_result("peer_servers", result, markdown)


if __name__ == "__main__":
    main()
