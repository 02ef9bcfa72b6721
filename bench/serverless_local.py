"""Benchmark: a serverless variant's cold start and warm latency on the local endpoint.

One endpoint server (`python -m smgha.backends.local.serving`) per kind of model, each hosting
one serverless variant (MemorySizeInMB 2048, MaxConcurrency 5) of endpoint_throughput.py's
model, with SMGHA_SERVERLESS_IDLE_SECONDS short, so that it scales to zero between rounds:

  * built-in XGBoost: the cold start reads model.tar.gz and loads the booster in the server;
  * XGBoost, script mode: the same booster behind an inference.py (script_endpoint.py's);
    the cold start starts a worker process, imports the script and calls model_fn.

Each round (bounded: --rounds) waits until GET /_smgha/status says the variant scaled to zero,
then sends one single-row text/csv request (the cold start) and --warm more on the same
kept-alive connection (warm). Latency as the client sees it; medians and p95 over the rounds.
Every answer is checked against the model's own prediction.

    .venv/bin/python bench/serverless_local.py [--rounds 15] [--warm 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import endpoint_throughput as e
import script_endpoint as s

IDLE_SECONDS = 0.5
SCALED_TO_ZERO_TIMEOUT = 30.0  # per round: the watcher looks every 0.2 s


def start(temp: Path, name: str, variant: dict[str, Any]) -> e.Process:
    folder = temp / name
    folder.mkdir()
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    served = {"VariantName": "AllTraffic", "Weight": 1.0, "Serverless": serverless, **variant}
    (folder / "serving.json").write_text(
        json.dumps({"EndpointName": "bench", "Variants": [served]})
    )
    env = {k: v for k, v in os.environ.items() if k != "SMGHA_ENDPOINT_PORT"}
    env["SMGHA_SERVERLESS_IDLE_SECONDS"] = str(IDLE_SECONDS)
    return e.Process(
        [c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)],
        folder / "server.json",
        folder / "server.out",
        env=env,
        group=True,  # a script-mode worker is a child: stop it too
    )


def status(port: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/_smgha/status")
        return dict(json.loads(connection.getresponse().read())["Serverless"]["AllTraffic"])
    finally:
        connection.close()


def wait_scaled_to_zero(port: int) -> None:
    deadline = time.monotonic() + SCALED_TO_ZERO_TIMEOUT
    while status(port)["Warm"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the variant did not scale to zero")
        time.sleep(0.1)


def timed(connection: http.client.HTTPConnection, row: str, expected: float) -> float:
    started = time.perf_counter()
    connection.request(
        "POST", "/invocations", row.encode(), {"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    response = connection.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    if response.status != 200 or abs(float(body) - expected) > 1e-5:
        raise RuntimeError(f"answered {response.status}: {body[:200]!r}, expected {expected}")
    return seconds * 1000


def measure(server: e.Process, row: str, expected: float, rounds: int, warm: int) -> dict[str, Any]:
    cold_ms, warm_ms = [], []
    for _ in range(rounds):
        wait_scaled_to_zero(server.port)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            cold_ms.append(timed(connection, row, expected))
            warm_ms += [timed(connection, row, expected) for _ in range(warm)]
        finally:
            connection.close()
    cold_starts = status(server.port)["ColdStarts"]
    if cold_starts != rounds:
        raise RuntimeError(f"{cold_starts} cold starts in {rounds} rounds")
    return {"cold_ms": stats(cold_ms), "warm_ms": stats(warm_ms), "cold_starts": cold_starts}


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": e.percentile(ordered, 95),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warm", type=int, default=50)
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="smgha-bench-serverless-") as name:
        temp = Path(name)
        model = e.train_model(name)
        booster = s.model_member(temp / "model.tar.gz", "xgboost-model")
        script = s.archive(
            temp / "xgb-script.tar.gz",
            {"xgboost-model": booster, "code/inference.py": s.XGBOOST_INFERENCE.encode()},
        )
        variants = {
            "built-in XGBoost": {
                "ModelDataPath": str(temp / "model.tar.gz"),
                "Image": s.XGBOOST_IMAGE,
            },
            "XGBoost, script mode": {
                "ModelDataPath": str(script),
                "Image": s.XGBOOST_IMAGE,
                "Environment": s.SCRIPT_ENVIRONMENT,
            },
        }
        for title, variant in variants.items():
            c.progress(f"{title}: {args.rounds} rounds of 1 cold + {args.warm} warm requests")
            server = start(temp, title.replace(" ", "-").replace(",", ""), variant)
            try:
                results[title] = measure(
                    server, model["rows"][0], model["first_score"], args.rounds, args.warm
                )
            finally:
                server.stop()
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    rows = [
        [
            title,
            f"{r['cold_ms']['median']:.1f} ms",
            f"{r['cold_ms']['p95']:.1f} ms",
            f"{r['warm_ms']['median']:.2f} ms",
            f"{r['warm_ms']['p95']:.2f} ms",
            f"{r['cold_ms']['median'] / r['warm_ms']['median']:.0f}×",
        ]
        for title, r in results.items()
    ]
    headers = ["Model", "Cold p50", "Cold p95", "Warm p50", "Warm p95", "Cold / warm"]
    markdown = (
        f"### serverless_local\n\nOne serverless variant per server, scaled to zero before each "
        f"of {args.rounds} rounds (idle {IDLE_SECONDS:g} s); each round 1 cold + {args.warm} warm "
        f"single-row CSV requests on one kept-alive connection.\n\n"
        f"{c.markdown_table(headers, rows)}\n"
    )
    c.write_result("serverless_local", {"results": results}, markdown)


if __name__ == "__main__":
    main()
