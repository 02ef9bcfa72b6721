"""Benchmark: requests per second and latency of the local endpoint server.

The server (`python -m smgha.backends.local.serving`) hosts one variant with a
churn-like model: binary:logistic, 28 features, 100 rounds of depth 5 (eta 0.2), trained
here on 5000 random rows. Requests are single-row text/csv (28 values, 4 decimals), sent
by load generators in separate processes over persistent http.client connections
(HTTP/1.1 keep-alive), each connection in its own thread:

  * closed loop at concurrency 4/8/16 (--concurrency): every connection sends its next
    request when the previous answer has arrived; --requests in all (split over the
    connections), capped at --time-cap seconds. The connections are spread over
    --client-processes processes, so the client's own GIL does not queue them. Reported:
    requests/s, latency p50/p95/p99, and CPU time per request of the server and of the
    client (from /proc and process_time) — on 2 CPUs they share the machine;
  * open loop at --rate requests/s for --rate-seconds: request i is due at t0 + i/rate and
    is sent then by whichever of 8 connections is free; latency counts from the due time,
    so a slow answer shows up in the requests queued behind it (no coordinated omission).
    Reported: p50/p99/max, and how late the client sent (its own lag);
  * the client's own cost: the same closed-loop client against a trivial stdlib server
    that answers a constant, at the same concurrency levels. If the client can drive the
    trivial server much faster than the endpoint server, the client is not the bottleneck.

Each run is repeated --repeat times, interleaved (levels in turn, then again); figures are
medians with (min–max). Every answer is checked (status 200; the first one's score equals
the model's own prediction). Goals (from the issue): at least 1,000 requests/s, and p99
under 10 ms at a steady 200 requests/s.

    .venv/bin/python bench/endpoint_throughput.py [--repeat 3] [--requests 20000]
        [--concurrency 4,8,16] [--rate 200] [--rate-seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

FEATURES = 28
ROUNDS = 100
DEPTH = 5
GOAL_RPS = 1000.0
GOAL_P99_MS = 10.0
START_TIMEOUT = 60.0  # seconds for a server to come up
STOP_TIMEOUT = 10.0
WARMUP_REQUESTS = 50  # per connection, before the clock starts
OPEN_LOOP_CONNECTIONS = 8
START_DELAY = 1.5  # seconds between starting the clients and their common start time

# Trains the model in a child process (this one never imports xgboost or pandas) and writes
# model.tar.gz as the built-in algorithm does; prints request rows and the first row's score.
TRAIN_SCRIPT = """
import io, json, sys, tarfile
import numpy as np
import xgboost

folder, features, rounds, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(7)
data = rng.normal(size=(5000, features))
logit = data[:, :6] @ np.array([1.2, -0.8, 0.6, 0.5, -0.4, 0.3]) + rng.normal(scale=0.7, size=5000)
labels = (logit > 0.4).astype(int)
booster = xgboost.train(
    {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": depth, "eta": 0.2,
     "subsample": 0.8, "min_child_weight": 1, "seed": 7},
    xgboost.DMatrix(data, label=labels), rounds,
)
model = bytes(booster.save_raw(raw_format="ubj"))
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
    info = tarfile.TarInfo("xgboost-model")
    info.size = len(model)
    archive.addfile(info, io.BytesIO(model))
with open(f"{folder}/model.tar.gz", "wb") as out:
    out.write(buffer.getvalue())
rows = np.round(rng.normal(size=(256, features)), 4)
texts = [",".join(f"{x:.4f}" for x in row) for row in rows]
first = float(booster.predict(xgboost.DMatrix(rows[:1]))[0])
print(json.dumps({"rows": texts, "first_score": first, "model_bytes": len(model)}))
"""

# A load generator process: threads, one persistent connection each, stdlib only.
# Closed loop: each thread sends its share back to back. Open loop: request i is due at
# start + i / rate and goes out on the next free connection; latency counts from the due time.
CLIENT_SCRIPT = """
import http.client, itertools, json, sys, threading, time

spec = json.loads(sys.argv[1])
rows = [r.encode() for r in spec["rows"]]
threads = spec["threads"]
headers = {"Content-Type": spec["content_type"], "Accept": spec["content_type"]}
latencies = [[] for _ in range(threads)]
lags = [[] for _ in range(threads)]
errors = [0] * threads
first_answers = [None] * threads
ready = threading.Barrier(threads + 1)
due = itertools.count()
due_lock = threading.Lock()
clock_offset = time.perf_counter() - time.time()

def call(connection, body):
    connection.request("POST", spec["path"], body, headers)
    response = connection.getresponse()
    return response.status, response.read()

def worker(k):
    connection = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
    try:
        for i in range(spec["warmup"]):
            status, body = call(connection, rows[(k + i) % len(rows)])
            if i == 0:
                first_answers[k] = [status, body.decode(errors="replace")]
    except Exception as error:
        first_answers[k] = [-1, repr(error)]
    ready.wait()
    while time.time() < spec["start_at"]:
        time.sleep(0.0005)
    deadline = time.monotonic() + spec["time_cap"]
    mine, lag = latencies[k], lags[k]
    if spec["mode"] == "closed":
        count = spec["requests"] // threads + (k < spec["requests"] % threads)
        for i in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                status, _ = call(connection, rows[(k * 7919 + i) % len(rows)])
            except Exception:
                errors[k] += 1
                connection.close()
                continue
            mine.append(time.perf_counter() - started)
            errors[k] += status != 200
    else:
        start = spec["start_at"] + clock_offset  # the common start on the perf_counter clock
        while True:
            with due_lock:
                i = next(due)
            if i >= spec["requests"] or time.monotonic() > deadline:
                break
            scheduled = start + i / spec["rate"]
            pause = scheduled - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent = time.perf_counter()
            try:
                status, _ = call(connection, rows[i % len(rows)])
            except Exception:
                errors[k] += 1
                connection.close()
                continue
            done = time.perf_counter()
            mine.append(done - scheduled)
            lag.append(sent - scheduled)
            errors[k] += status != 200
    connection.close()

pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
for thread in pool:
    thread.start()
ready.wait()
while time.time() < spec["start_at"]:
    time.sleep(0.0005)
cpu0, wall0 = time.process_time(), time.time()
for thread in pool:
    thread.join()
cpu1, wall1 = time.process_time(), time.time()
print(json.dumps({
    "latencies": [x for part in latencies for x in part],
    "lags": [x for part in lags for x in part],
    "errors": sum(errors),
    "first_answers": first_answers,
    "started": wall0, "ended": wall1, "cpu": cpu1 - cpu0,
}))
"""

# The trivial server of the client-overhead runs: the same stdlib stack as the endpoint
# server (ThreadingHTTPServer, HTTP/1.1, TCP_NODELAY, one write per reply), no model.
TRIVIAL_SERVER = """
import http.server, json, sys
from pathlib import Path

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"0.5"
        self.wfile.write(
            b"HTTP/1.1 200 OK\\r\\nContent-Type: text/csv\\r\\nContent-Length: 3\\r\\n\\r\\n" + body
        )
    def log_request(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

server = Server(("127.0.0.1", 0), Handler)
Path(sys.argv[1]).write_text(json.dumps({"pid": __import__("os").getpid(), "port": server.server_address[1]}))
server.serve_forever()
"""


# The limit's in-process parts, on the served model and the request rows, in a child process
# (this one never imports xgboost): the server's CSV parsing of one row, xgboost's single-row
# predict (Booster.inplace_predict, the model loaded as the server loads it: nthread 1), and
# the C function alone as the server calls it (DensePredictor). CPU time per call, the median
# of 5 batches; the three must agree on every row's score.
LIMIT_SCRIPT = """
import json, statistics, sys, time
from smgha.backends.local.serving.inference import parse_payload
from smgha.backends.local.serving.model import read_booster
from smgha.backends.local.serving.xgboost_predict import DensePredictor

path, calls = sys.argv[1], int(sys.argv[2])
bodies = [row.encode() for row in json.loads(sys.stdin.read())]
booster = read_booster(path)
predictor = DensePredictor(booster)
matrices = [parse_payload(body, "text/csv") for body in bodies]
for matrix in matrices:
    if predictor(matrix) != booster.inplace_predict(matrix).tolist():
        sys.exit(f"the server's predictor and inplace_predict disagree on {matrix}")

def per_call_us(function, items):
    batches = []
    for _ in range(5):
        started = time.process_time()
        for i in range(calls):
            function(items[i % len(items)])
        batches.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(batches)

print(json.dumps({
    "csv_parse_us": per_call_us(lambda body: parse_payload(body, "text/csv"), bodies),
    "inplace_predict_us": per_call_us(booster.inplace_predict, matrices),
    "c_function_us": per_call_us(predictor, matrices),
}))
"""


# ---- processes ------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


class Process:
    """A server subprocess, always stopped. Ready when it announces its port in a JSON file
    (`info_file`), or, without one, when GET `ready_path` on `port` answers 200. With `group`
    it leads a process group of its own, and stopping it stops the group (a server that
    starts its workers as child processes); its CPU time then counts its descendants'."""

    def __init__(
        self,
        command: list[str],
        info_file: Path | None,
        log_file: Path,
        *,
        port: int = 0,
        ready_path: str = "",
        env: dict[str, str] | None = None,
        group: bool = False,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.info_file = info_file
        self.group = group
        self.log = open(log_file, "wb")  # noqa: SIM115 (closed in stop)
        started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=c.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env or {k: v for k, v in os.environ.items() if k != "SMGHA_ENDPOINT_PORT"},
            start_new_session=group,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + start_timeout
        while not self._ready(port, ready_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{command} did not start; see {log_file}")
            time.sleep(0.05)
        self.start_seconds = time.perf_counter() - started
        self.info = json.loads(info_file.read_text()) if info_file else {"port": port}
        self.port = int(self.info["port"])

    def _ready(self, port: int, ready_path: str) -> bool:
        if self.info_file is not None:
            return self.info_file.exists()
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", ready_path)
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (all its threads; with `group`, and
        of every live descendant)."""
        if not self.group:
            return process_cpu_seconds(self.pid)
        return sum(process_cpu_seconds(pid) for pid in descendants(self.pid))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.group:  # the whole group, its leader's children too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
        elif self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        if self.group:  # a child that ignored SIGTERM (its leader is gone by now)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.log.close()


def run_load(
    server: Process,
    rows: list[str],
    *,
    mode: str,
    connections: int,
    processes: int,
    requests: int,
    time_cap: float,
    rate: float = 0.0,
    path: str = "/invocations",
    content_type: str = "text/csv",
) -> dict[str, Any]:
    """One measured run: client processes started together, merged results. `rows` are the
    request bodies, POSTed to `path` as `content_type` (Accept too)."""
    processes = max(1, min(processes, connections)) if mode == "closed" else 1
    start_at = time.time() + START_DELAY
    children = []
    for index in range(processes):
        threads = connections // processes + (index < connections % processes)
        share = requests * threads // connections if mode == "closed" else requests
        spec = {
            "port": server.port,
            "rows": rows,
            "path": path,
            "content_type": content_type,
            "threads": threads,
            "mode": mode,
            "requests": share,
            "rate": rate,
            "warmup": WARMUP_REQUESTS if mode == "closed" else 5,
            "start_at": start_at,
            "time_cap": time_cap,
        }
        children.append(
            subprocess.Popen(
                [c.PYTHON, "-c", CLIENT_SCRIPT, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    while time.time() < start_at:
        time.sleep(0.001)
    server_cpu0 = server.cpu_seconds()
    outputs = []
    try:
        for child in children:
            out, err = child.communicate(timeout=time_cap + START_DELAY + 60)
            if child.returncode != 0:
                raise RuntimeError(f"load client failed ({child.returncode}):\n{err[-2000:]}")
            outputs.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    server_cpu = server.cpu_seconds() - server_cpu0
    latencies = sorted(x for o in outputs for x in o["latencies"])
    lags = sorted(x for o in outputs for x in o["lags"])
    wall = max(o["ended"] for o in outputs) - min(o["started"] for o in outputs)
    done = len(latencies)
    return {
        "mode": mode,
        "connections": connections,
        "client_processes": processes,
        "requests": done,
        "errors": sum(o["errors"] for o in outputs),
        "first_answers": [a for o in outputs for a in o["first_answers"]],
        "seconds": wall,
        "rps": done / wall if wall > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else math.nan) * 1000,
        "send_lag_p99_ms": percentile(lags, 99) * 1000 if lags else None,
        "server_cpu_us_per_request": server_cpu / done * 1e6 if done else math.nan,
        "client_cpu_us_per_request": sum(o["cpu"] for o in outputs) / done * 1e6
        if done
        else math.nan,
    }


def percentile(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def measure_limit(model_path: Path, rows: list[str], calls: int) -> dict[str, float]:
    """The limit's in-process parts (LIMIT_SCRIPT), in microseconds per call."""
    measured = subprocess.run(
        [c.PYTHON, "-c", LIMIT_SCRIPT, str(model_path), str(calls)],
        input=json.dumps(rows),
        cwd=c.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if measured.returncode != 0:
        raise RuntimeError(f"measuring the limit failed:\n{measured.stderr[-2000:]}")
    return dict(json.loads(measured.stdout))


def limit_of(trivial_run: dict[str, Any], parts: dict[str, float]) -> dict[str, float]:
    """One round's limit: the trivial server's CPU per request (same client, same load) plus
    xgboost's single-row predict and the CSV parse, and the endpoint server's ratio to it."""
    return {
        "trivial_server_us": trivial_run["server_cpu_us_per_request"],
        **parts,
        "limit_us": trivial_run["server_cpu_us_per_request"]
        + parts["inplace_predict_us"]
        + parts["csv_parse_us"],
        # The stricter floor: the server's predictor (the C function) in place of inplace_predict.
        "floor_us": trivial_run["server_cpu_us_per_request"]
        + parts["c_function_us"]
        + parts["csv_parse_us"],
    }


def check_answers(run: dict[str, Any]) -> None:
    """Every answer was a 200 (the model's score itself is checked once, before the runs)."""
    if run["errors"]:
        raise RuntimeError(f"{run['errors']} failed requests in {run['mode']} run")
    for status, body in run["first_answers"]:
        if status != 200:
            raise RuntimeError(f"warm-up request answered {status}: {body[:300]}")


# ---- reporting ----------------------------------------------------------------------------


def med(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return c.summary([r[key] for r in runs])


def fmt(stats: dict[str, Any], unit: str = "ms", digits: int = 2) -> str:
    if stats["n"] == 1 or stats["min"] == stats["max"]:
        return f"{stats['median']:.{digits}f} {unit}"
    return (
        f"{stats['median']:.{digits}f} {unit} ({stats['min']:.{digits}f}–{stats['max']:.{digits}f})"
    )


def fmt_rps(stats: dict[str, Any]) -> str:
    return f"{stats['median']:,.0f} ({stats['min']:,.0f}–{stats['max']:,.0f})"


def train_model(temp: str) -> dict[str, Any]:
    """Train the bench's model in a child process; its JSON answer (model path, rows)."""
    c.progress(f"training the model ({FEATURES} features, {ROUNDS} rounds, depth {DEPTH})")
    trained = subprocess.run(
        [c.PYTHON, "-c", TRAIN_SCRIPT, temp, str(FEATURES), str(ROUNDS), str(DEPTH)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return dict(json.loads(trained.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", default="4,8,16")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per run, at most")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument(
        "--limit-calls", type=int, default=5000, help="in-process calls per batch, for the limit"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    # The limit compares the server with the trivial one at the lowest concurrency (4 by
    # default, the figure).
    limit_level = min(levels)

    with tempfile.TemporaryDirectory(prefix="smgha-bench-endpoint-") as temp:
        folder = Path(temp) / "endpoint"
        folder.mkdir()
        model = train_model(temp)
        rows: list[str] = model["rows"]
        (folder / "serving.json").write_text(
            json.dumps(
                {
                    "EndpointName": "bench-churn",
                    "Variants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelDataPath": str(Path(temp) / "model.tar.gz"),
                            "Weight": 1.0,
                            "Image": c.XGBOOST_IMAGE,
                        }
                    ],
                    "DataCapture": {"Enabled": False},
                }
            )
        )

        servers: list[Process] = []
        try:
            c.progress("starting the endpoint server and the trivial server")
            endpoint = Process(
                [c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)],
                folder / "server.json",
                Path(temp) / "endpoint.out",
            )
            servers.append(endpoint)
            trivial = Process(
                [c.PYTHON, "-c", TRIVIAL_SERVER, str(Path(temp) / "trivial.json")],
                Path(temp) / "trivial.json",
                Path(temp) / "trivial.out",
            )
            servers.append(trivial)
            first = http_first_score(endpoint.port, rows[0])
            if abs(first - model["first_score"]) > 1e-6:
                raise RuntimeError(f"the server answered {first}, the model {model['first_score']}")

            closed: dict[int, list[dict[str, Any]]] = {n: [] for n in levels}
            baseline: dict[int, list[dict[str, Any]]] = {n: [] for n in levels}
            steady: list[dict[str, Any]] = []
            limits: list[dict[str, float]] = []
            for round_number in range(1, args.repeat + 1):
                for n in levels:
                    c.progress(f"round {round_number}: closed loop, {n} connections")
                    run = run_load(
                        endpoint,
                        rows,
                        mode="closed",
                        connections=n,
                        processes=args.client_processes,
                        requests=args.requests,
                        time_cap=args.time_cap,
                    )
                    check_answers(run)
                    closed[n].append(run)
                    c.progress(f"  {run['rps']:,.0f} req/s, p99 {run['p99_ms']:.2f} ms")
                    run = run_load(
                        trivial,
                        rows,
                        mode="closed",
                        connections=n,
                        processes=args.client_processes,
                        requests=args.requests,
                        time_cap=args.time_cap,
                    )
                    check_answers(run)
                    baseline[n].append(run)
                    c.progress(f"  trivial server: {run['rps']:,.0f} req/s")
                c.progress(f"round {round_number}: the limit's parts, in process")
                parts = measure_limit(Path(temp) / "model.tar.gz", rows, args.limit_calls)
                limit = limit_of(baseline[limit_level][-1], parts)
                limit["server_us"] = closed[limit_level][-1]["server_cpu_us_per_request"]
                limit["ratio"] = limit["server_us"] / limit["limit_us"]
                limit["floor_ratio"] = limit["server_us"] / limit["floor_us"]
                limits.append(limit)
                c.progress(
                    f"  limit {limit['limit_us']:.0f} µs, server {limit['server_us']:.0f} µs: "
                    f"{limit['ratio']:.2f}×"
                )
                c.progress(f"round {round_number}: open loop, {args.rate:g} req/s")
                run = run_load(
                    endpoint,
                    rows,
                    mode="open",
                    connections=OPEN_LOOP_CONNECTIONS,
                    processes=1,
                    requests=int(args.rate * args.rate_seconds),
                    time_cap=args.rate_seconds + 30,
                    rate=args.rate,
                )
                check_answers(run)
                steady.append(run)
                c.progress(f"  p99 {run['p99_ms']:.2f} ms, max {run['max_ms']:.2f} ms")
            rss = endpoint.rss_mb()
        finally:
            for server in servers:
                server.stop()

    result, markdown = report(args, model, endpoint, rss, levels, closed, baseline, steady)
    result["limit"], limit_markdown = report_limit(limit_level, closed[limit_level], limits)
    c.write_result("endpoint_throughput", result, f"{markdown}\n\n{limit_markdown}")


def http_first_score(port: int, row: str) -> float:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", "/invocations", row.encode(), {"Content-Type": "text/csv", "Accept": "text/csv"}
        )
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"the server answered {response.status}: {body[:300]!r}")
        return float(body)
    finally:
        connection.close()


def report(
    args: argparse.Namespace,
    model: dict[str, Any],
    endpoint: Process,
    rss: float,
    levels: list[int],
    closed: dict[int, list[dict[str, Any]]],
    baseline: dict[int, list[dict[str, Any]]],
    steady: list[dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    """The throughput and latency tables, and their JSON."""

    def strip(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "first_answers"} for r in runs]

    result: dict[str, Any] = {
        "repeat": args.repeat,
        "requests_per_run": args.requests,
        "client_processes": args.client_processes,
        "goals": {"requests_per_second": GOAL_RPS, "p99_ms_at_rate": GOAL_P99_MS},
        "model": {
            "features": FEATURES,
            "rounds": ROUNDS,
            "max_depth": DEPTH,
            "ubj_bytes": model["model_bytes"],
        },
        "server_start_seconds": endpoint.start_seconds,
        "server_rss_mb_after": rss,
        "closed_loop": {str(n): strip(closed[n]) for n in levels},
        "trivial_server": {str(n): strip(baseline[n]) for n in levels},
        "open_loop": {"rate": args.rate, "seconds": args.rate_seconds, "runs": strip(steady)},
        "summary": {},
    }

    rows = []
    best = 0.0
    for n in levels:
        runs = closed[n]
        rps = med(runs, "rps")
        best = max(best, rps["median"])
        result["summary"][f"closed_{n}"] = {
            k: med(runs, k)
            for k in (
                "rps",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "server_cpu_us_per_request",
                "client_cpu_us_per_request",
            )
        }
        rows.append(
            [
                f"closed loop, {n} connections",
                fmt_rps(rps),
                fmt(med(runs, "p50_ms")),
                fmt(med(runs, "p95_ms")),
                fmt(med(runs, "p99_ms")),
                f"{med(runs, 'server_cpu_us_per_request')['median']:.0f} µs",
                f"{med(runs, 'client_cpu_us_per_request')['median']:.0f} µs",
                "✅" if rps["median"] >= GOAL_RPS else "❌",
            ]
        )

    p99 = med(steady, "p99_ms")
    rate_rows = [
        [
            f"open loop, {args.rate:g} req/s for {args.rate_seconds:g} s",
            fmt_rps(med(steady, "rps")),
            fmt(med(steady, "p50_ms")),
            fmt(p99),
            fmt(med(steady, "max_ms")),
            fmt(med(steady, "send_lag_p99_ms")),
            f"{med(steady, 'server_cpu_us_per_request')['median']:.0f} µs",
            "✅" if p99["median"] < GOAL_P99_MS else "❌",
        ]
    ]
    result["summary"]["open_loop"] = {
        k: med(steady, k) for k in ("rps", "p50_ms", "p99_ms", "max_ms", "send_lag_p99_ms")
    }

    overhead_rows = []
    for n in levels:
        trivial_rps = med(baseline[n], "rps")
        client = med(baseline[n], "client_cpu_us_per_request")
        overhead_rows.append(
            [
                f"{n} connections",
                fmt_rps(trivial_rps),
                f"{client['median']:.0f} µs",
                f"{med(baseline[n], 'server_cpu_us_per_request')['median']:.0f} µs",
                fmt_rps(med(closed[n], "rps")),
                f"{trivial_rps['median'] / med(closed[n], 'rps')['median']:.1f}×",
            ]
        )
        result["summary"][f"trivial_{n}"] = {
            k: med(baseline[n], k)
            for k in ("rps", "client_cpu_us_per_request", "server_cpu_us_per_request")
        }

    markdown = "\n".join(
        [
            f"### Local endpoint server (median of {args.repeat}; goals ≥ {GOAL_RPS:,.0f} req/s, "
            f"p99 < {GOAL_P99_MS:g} ms at {args.rate:g} req/s)",
            "",
            f"One variant, a churn-like model ({FEATURES} features, {ROUNDS} trees of depth "
            f"{DEPTH}); single-row text/csv requests over kept-alive connections from "
            f"{args.client_processes} client processes; {args.requests:,} requests per closed-loop "
            f"run. Server start-up to server.json {endpoint.start_seconds:.2f} s; "
            f"RSS {rss:.0f} MB after the runs. CPU per request is process CPU time / requests "
            "(the server and the client share the 2 CPUs).",
            "",
            c.markdown_table(
                [
                    "Load",
                    "Requests/s",
                    "p50",
                    "p95",
                    "p99",
                    "Server CPU/req",
                    "Client CPU/req",
                    "Goal",
                ],
                rows,
            ),
            "",
            c.markdown_table(
                [
                    "Steady rate",
                    "Achieved req/s",
                    "p50",
                    "p99",
                    "Max",
                    "Client send lag p99",
                    "Server CPU/req",
                    "Goal",
                ],
                rate_rows,
            ),
            "",
            "The client's own cost: the same client against a trivial stdlib server "
            "(same HTTP stack, constant answer, no model):",
            "",
            c.markdown_table(
                [
                    "Closed loop",
                    "Trivial server req/s",
                    "Client CPU/req",
                    "Trivial server CPU/req",
                    "Endpoint server req/s",
                    "Headroom",
                ],
                overhead_rows,
            ),
            "",
            f"Best closed-loop throughput: {best:,.0f} req/s.",
        ]
    )
    return result, markdown


def report_limit(
    level: int, runs: list[dict[str, Any]], limits: list[dict[str, float]]
) -> tuple[dict[str, Any], str]:
    """The server's CPU per request against the limit measured in the same rounds."""
    summary = {key: c.summary([limit[key] for limit in limits]) for key in limits[0]}

    def us(key: str) -> str:
        return fmt(summary[key], "µs", 0)

    rows = [
        [f"a trivial stdlib HTTP server, same client, {level} connections", us("trivial_server_us")],
        ["xgboost's single-row predict (`Booster.inplace_predict`, nthread 1)", us("inplace_predict_us")],
        ["the server's CSV parsing of the row", us("csv_parse_us")],
        ["**the limit** (the sum, per round)", us("limit_us")],
        [f"**the local endpoint server**, {level} connections", us("server_us")],
        ["**server / limit** (goal ≤ 1.25)", fmt(summary["ratio"], "×", 2)],
        ["the server's predictor (`DensePredictor`: the C function `XGBoosterPredictFromDense`, called from Python)", us("c_function_us")],
        ["the stricter floor: trivial server + the server's predictor + CSV parsing", us("floor_us")],
        ["server / stricter floor", fmt(summary["floor_ratio"], "×", 2)],
    ]  # fmt: skip
    markdown = "\n".join(
        [
            "Server CPU per request against the limit, measured in the same rounds "
            f"(median of {len(limits)}; the in-process parts are CPU time per call on the served "
            f"model and the request rows). Throughput at {level} connections: "
            f"{fmt_rps(med(runs, 'rps'))} req/s. The server calls the C function "
            "`XGBoosterPredictFromDense` that `inplace_predict` wraps, without the wrapper; "
            "the stricter floor counts that call in place of `inplace_predict`.",
            "",
            c.markdown_table(["CPU per request", "µs"], rows),
            "",
            "✅ within 1.25× of the limit"
            if summary["ratio"]["median"] <= 1.25
            else "❌ more than 1.25× the limit",
        ]
    )
    return {"connections": level, "rounds": limits, "summary": summary}, markdown


if __name__ == "__main__":
    main()
