"""Benchmark: a local endpoint under steady, bounded load for minutes (a soak).

The server (`python -m smgha.backends.local.serving`, the process every local
endpoint runs) hosts two variants of a churn-like model at 90/10, as during a canary, with
data capture on at 100 % (so the capture writer's files are exercised too). One load
generator process sends single-row text/csv requests at a steady --rate for --seconds
(default 300: five minutes), open loop: request i is due at t0 + i / rate. Each of its
--connections connections is closed and opened again every --reconnect-every requests, so
a connection the server failed to release would show as a growing count of open file
descriptors. The load is bounded: at most rate x seconds requests, and the client stops at
the deadline whatever happened.

Every --sample-seconds (default 30) this process records the server's RSS, its open file
descriptors (/proc/<pid>/fd) and its threads; the client reports its errors and latency per
window of the same length. Reported: requests, errors (non-200 answers and failed requests),
RSS, descriptors and threads at the start (after a warm-up, before the load) and at the end
(after the load), p50/p99 of the first and of the last window, and whether the server still
answers /ping. The server is stopped at the end (SIGTERM, then SIGKILL), always.

    .venv/bin/python bench/soak_endpoint.py [--seconds 300] [--rate 100] [--connections 4]
        [--reconnect-every 200] [--sample-seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
from endpoint_throughput import Process, percentile, train_model

START_DELAY = 1.5  # seconds between starting the client and its common start time
WARMUP_REQUESTS = 200  # before the start figures are taken: models loaded, pools warm

# The load generator: open loop at a steady rate over a few connections, each reopened every
# `reconnect_every` requests; latencies and errors per window of `window` seconds.
SOAK_CLIENT = """
import http.client, itertools, json, sys, threading, time

spec = json.loads(sys.argv[1])
rows = [r.encode() for r in spec["rows"]]
headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
threads = spec["connections"]
windows = {}  # window index -> {"latencies": [...], "errors": n}
lock = threading.Lock()
due = itertools.count()
start = spec["start_at"] + (time.perf_counter() - time.time())
deadline = time.monotonic() + spec["seconds"] + spec["grace"]

def record(index, latency, error):
    with lock:
        window = windows.setdefault(index, {"latencies": [], "errors": 0})
        if error:
            window["errors"] += 1
        else:
            window["latencies"].append(latency)

def worker():
    connection = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=10)
    sent_here = 0
    while True:
        with lock:
            i = next(due)
        if i >= spec["requests"] or time.monotonic() > deadline:
            break
        scheduled = start + i / spec["rate"]
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        if sent_here and sent_here % spec["reconnect_every"] == 0:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=10)
        sent_here += 1
        index = int((scheduled - start) // spec["window"])
        try:
            connection.request("POST", "/invocations", rows[i % len(rows)], headers)
            response = connection.getresponse()
            response.read()
            failed = response.status != 200
        except Exception:
            failed = True
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=10)
        record(index, time.perf_counter() - scheduled, failed)
    connection.close()

pool = [threading.Thread(target=worker) for _ in range(threads)]
while time.time() < spec["start_at"]:
    time.sleep(0.001)
for thread in pool:
    thread.start()
for thread in pool:
    thread.join()
print(json.dumps({str(k): v for k, v in sorted(windows.items())}))
"""


def server_figures(server: Process) -> dict[str, float]:
    """RSS (MB), open file descriptors and threads of the server process, from /proc."""
    status = Path(f"/proc/{server.pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "open_fds": len(list(Path(f"/proc/{server.pid}/fd").iterdir())),
        "threads": int(fields["Threads"]),
    }


def ping(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return -1
    finally:
        connection.close()


def warm_up(port: int, rows: list[str], count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    try:
        for i in range(count):
            connection.request("POST", "/invocations", rows[i % len(rows)].encode(), headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"warm-up request answered {response.status}: {body[:300]!r}")
    finally:
        connection.close()


def soak(
    server: Process, rows: list[str], args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """Run the load while sampling the server; the client is bounded and always stopped.
    Its report goes to a file in `folder`, not a pipe: a full pipe would block it."""
    start_at = time.time() + START_DELAY
    spec = {
        "port": server.port,
        "rows": rows,
        "connections": args.connections,
        "rate": args.rate,
        "requests": int(args.rate * args.seconds),
        "seconds": args.seconds,
        "grace": 30.0,  # the client gives up this long after the last request was due
        "reconnect_every": args.reconnect_every,
        "window": args.sample_seconds,
        "start_at": start_at,
    }
    samples = [{"second": 0.0, **server_figures(server)}]
    report_file, error_file = folder / "client.json", folder / "client.err"
    with open(report_file, "wb") as out, open(error_file, "wb") as err:
        client = subprocess.Popen(
            [c.PYTHON, "-c", SOAK_CLIENT, json.dumps(spec)], stdout=out, stderr=err
        )
    try:
        hard_deadline = start_at + args.seconds + spec["grace"] + 30
        next_sample = start_at + args.sample_seconds
        while client.poll() is None and time.time() < hard_deadline:
            time.sleep(min(1.0, max(0.0, next_sample - time.time())))
            if time.time() >= next_sample:
                sample = {"second": round(time.time() - start_at, 1), **server_figures(server)}
                samples.append(sample)
                c.progress(
                    f"{sample['second']:.0f} s: RSS {sample['rss_mb']:.1f} MB, "
                    f"{sample['open_fds']} fds, {sample['threads']} threads"
                )
                next_sample += args.sample_seconds
        client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    if client.returncode != 0:
        error = error_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the load client failed ({client.returncode}):\n{error}")
    windows = {int(k): v for k, v in json.loads(report_file.read_text()).items()}
    samples.append({"second": round(time.time() - start_at, 1), **server_figures(server)})
    return {"spec": spec, "samples": samples, "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--reconnect-every", type=int, default=200, help="requests")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    args = parser.parse_args()
    if not (args.seconds > 0 and args.rate > 0 and args.sample_seconds > 0):
        parser.error("--seconds, --rate and --sample-seconds must be positive")

    with tempfile.TemporaryDirectory(prefix="smgha-bench-soak-") as temp:
        folder = Path(temp) / "endpoint"
        folder.mkdir()
        rows: list[str] = train_model(temp)["rows"]
        model_path = str(Path(temp) / "model.tar.gz")
        capture = Path(temp) / "capture"
        (folder / "serving.json").write_text(
            json.dumps(
                {
                    "EndpointName": "bench-soak",
                    "Variants": [
                        {
                            "VariantName": "blue",
                            "ModelDataPath": model_path,
                            "Weight": 90.0,
                            "Image": c.XGBOOST_IMAGE,
                        },
                        {
                            "VariantName": "green",
                            "ModelDataPath": model_path,
                            "Weight": 10.0,
                            "Image": c.XGBOOST_IMAGE,
                        },
                    ],
                    "DataCapture": {
                        "Enabled": True,
                        "SamplingPercentage": 100,
                        "Destination": str(capture),
                    },
                }
            )
        )
        c.progress("starting the endpoint server")
        server = Process(
            [c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)],
            folder / "server.json",
            Path(temp) / "endpoint.out",
        )
        try:
            warm_up(server.port, rows, WARMUP_REQUESTS)
            c.progress(
                f"soak: {args.rate:g} req/s for {args.seconds:g} s over {args.connections} "
                f"connections (each reopened every {args.reconnect_every} requests)"
            )
            result = soak(server, rows, args, Path(temp))
            result["ping_after"] = ping(server.port)
            result["capture_files"] = sum(1 for p in capture.rglob("*.jsonl"))
        finally:
            server.stop()
        result["server_exit_code"] = server.process.returncode
    report(args, result)


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    windows = result["windows"]
    samples = result["samples"]
    requests = sum(len(w["latencies"]) + w["errors"] for w in windows.values())
    errors = sum(w["errors"] for w in windows.values())
    first, last = windows[min(windows)], windows[max(windows)]
    start, end = samples[0], samples[-1]

    def latency(window: dict[str, Any], percent: float) -> str:
        return f"{percentile(sorted(window['latencies']), percent) * 1000:.2f} ms"

    summary = {
        "requests": requests,
        "expected_requests": result["spec"]["requests"],
        "errors": errors,
        "start": start,
        "end": end,
        "first_window_p50_ms": percentile(sorted(first["latencies"]), 50) * 1000,
        "first_window_p99_ms": percentile(sorted(first["latencies"]), 99) * 1000,
        "last_window_p50_ms": percentile(sorted(last["latencies"]), 50) * 1000,
        "last_window_p99_ms": percentile(sorted(last["latencies"]), 99) * 1000,
        "ping_after": result["ping_after"],
    }
    window_rows = [
        [
            f"{index * args.sample_seconds:g}–{(index + 1) * args.sample_seconds:g} s",
            f"{len(window['latencies']) + window['errors']:,}",
            window["errors"],
            latency(window, 50),
            latency(window, 99),
        ]
        for index, window in sorted(windows.items())
    ]
    sample_rows = [
        [
            f"{s['second']:g} s" + (" (end, load over)" if s is end else ""),
            f"{s['rss_mb']:.1f} MB",
            s["open_fds"],
            s["threads"],
        ]
        for s in samples
    ]
    markdown = "\n".join(
        [
            f"### Local endpoint soak ({args.seconds:g} s at {args.rate:g} req/s)",
            "",
            f"One endpoint server, two variants at 90/10 with data capture at 100 %; "
            f"{args.connections} connections, each reopened every {args.reconnect_every} "
            f"requests; single-row text/csv requests, open loop.",
            "",
            c.markdown_table(
                ["", "Start (after warm-up)", "End (after the load)"],
                [
                    ["RSS", f"{start['rss_mb']:.1f} MB", f"{end['rss_mb']:.1f} MB"],
                    ["Open file descriptors", start["open_fds"], end["open_fds"]],
                    ["Threads", start["threads"], end["threads"]],
                    [
                        "Latency p50 / p99 (first / last window)",
                        f"{latency(first, 50)} / {latency(first, 99)}",
                        f"{latency(last, 50)} / {latency(last, 99)}",
                    ],
                ],
            ),
            "",
            f"Requests: {requests:,} of {result['spec']['requests']:,} due; errors: {errors}; "
            f"/ping after the load: {result['ping_after']}; capture files: "
            f"{result['capture_files']}; server exit code on SIGTERM: "
            f"{result['server_exit_code']}.",
            "",
            c.markdown_table(["Window", "Requests", "Errors", "p50", "p99"], window_rows),
            "",
            c.markdown_table(["Sample", "RSS", "Open fds", "Threads"], sample_rows),
        ]
    )
    c.write_result("soak_endpoint", {"args": vars(args), "summary": summary, **result}, markdown)
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
