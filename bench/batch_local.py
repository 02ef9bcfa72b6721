"""Benchmark: the local batch transform's rows per second against the local real-time
endpoint's throughput, on the same model and the same rows.

The model is endpoint_throughput.py's (a real xgboost booster, built-in algorithm); the rows
its 256 feature rows repeated to --rows, as one CSV object in local S3. In a fresh local state
folder, per repetition (bounded: --repeat, each pass capped by --time-cap seconds):

  * batch transform, MultiRecord (mini-batches up to MaxPayloadInMB 6) and SingleRecord (one
    record a request): CreateTransformJob of smgha/backends/local/transform.py, from the call
    to the .out object written, model load included;
  * the real-time endpoint: one endpoint server (`python -m smgha.backends.local.serving`)
    hosting the same model.tar.gz, sent one single-row text/csv request per row, on one
    kept-alive connection (concurrency 1) and from 4 threads (concurrency 4).

Every batch output is checked line by line against the endpoint's answers for the same rows.
Rows per second: rows / wall time; the median over the repetitions, with the spread.

    .venv/bin/python bench/batch_local.py [--rows 5000] [--repeat 3] [--time-cap 120]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common as c
import endpoint_throughput as e

INPUT = "s3://smgha-local/bench/batch/input/rows.csv"
OUTPUT = "s3://smgha-local/bench/batch/output"
PACKAGE_GROUP = "bench-churn"


def local_backend(state: Path, model: Path) -> Any:
    """A local backend in `state` with the model registered and its SageMaker model created."""
    os.environ["SMGHA_STATE_DIR"] = str(state)
    from smgha.backends.local import LocalBackend
    from smgha.resources import hosting, packages

    backend = LocalBackend(region="us-east-1", root=state)
    uri = "s3://smgha-local/bench/model.tar.gz"
    backend.objects.put_object(uri, model.read_bytes())
    arn = backend.registry.create_model_package({
        "ModelPackageGroupName": PACKAGE_GROUP,
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{"Image": c.XGBOOST_IMAGE, "ModelDataUrl": uri}]},
    })  # fmt: skip
    package = backend.registry.describe_model_package(arn)
    name = packages.model_name(package)
    backend.hosting.create_model(
        hosting.model_request(name, arn, "arn:aws:iam::000000000000:role/x")
    )
    return backend, name


def batch_pass(backend: Any, model: str, strategy: str, number: int, rows: int) -> dict[str, Any]:
    job = f"bench-{strategy.lower()}-{number}"
    request = {
        "TransformJobName": job,
        "ModelName": model,
        "BatchStrategy": strategy,
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": INPUT}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"{OUTPUT}/{job}/", "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }  # fmt: skip
    started = time.perf_counter()
    backend.transforms.create_transform_job(request)
    seconds = time.perf_counter() - started
    record = backend.transforms.describe_transform_job(job)
    if record["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"{job}: {record.get('FailureReason')}")
    lines = backend.objects.read_object(f"{OUTPUT}/{job}/rows.csv.out").decode().splitlines()
    if len(lines) != rows:
        raise RuntimeError(f"{job}: {len(lines)} output lines for {rows} rows")
    return {"seconds": seconds, "rows_per_second": rows / seconds, "predictions": lines}


def endpoint_pass(port: int, rows: list[str], concurrency: int, cap: float) -> dict[str, Any]:
    """One request per row, from `concurrency` threads, each on its own kept-alive connection."""
    answers: list[str] = [""] * len(rows)
    deadline = time.monotonic() + cap
    failures: list[str] = []

    def send(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for index in range(k, len(rows), concurrency):
                if time.monotonic() > deadline:
                    failures.append("time cap")
                    return
                connection.request("POST", "/invocations", rows[index].encode(), {"Content-Type": "text/csv", "Accept": "text/csv"})  # fmt: skip
                response = connection.getresponse()
                body = response.read().decode()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {body[:200]}")
                    return
                answers[index] = body
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"the endpoint pass stopped: {failures[0]}")
    return {"seconds": seconds, "rows_per_second": len(rows) / seconds, "predictions": answers}


def same(batch: list[str], endpoint: list[str]) -> None:
    for number, (a, b) in enumerate(zip(batch, endpoint, strict=True), 1):
        if abs(float(a) - float(b)) > 1e-6:
            raise RuntimeError(f"row {number}: batch {a}, endpoint {b}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds per pass, at most")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="smgha-bench-batch-") as name:
        temp = Path(name)
        trained = e.train_model(name)
        base: list[str] = trained["rows"]
        rows = [base[i % len(base)] for i in range(args.rows)]
        backend, model = local_backend(temp / "state", temp / "model.tar.gz")
        backend.objects.put_object(INPUT, "".join(row + "\n" for row in rows).encode())
        folder = temp / "endpoint"
        folder.mkdir()
        variant = {"VariantName": "AllTraffic", "Weight": 1.0, "ModelDataPath": str(temp / "model.tar.gz"), "Image": c.XGBOOST_IMAGE}  # fmt: skip
        (folder / "serving.json").write_text(json.dumps({"EndpointName": "bench", "Variants": [variant]}))  # fmt: skip
        server = e.Process([c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)], folder / "server.json", folder / "server.out")  # fmt: skip
        try:
            for number in range(args.repeat):  # interleaved, so drift in the machine hits all
                c.progress(f"repetition {number + 1} of {args.repeat}: {args.rows} rows")
                passes = {
                    "endpoint, concurrency 1": endpoint_pass(server.port, rows, 1, args.time_cap),
                    "endpoint, concurrency 4": endpoint_pass(server.port, rows, 4, args.time_cap),
                    "batch, MultiRecord": batch_pass(backend, model, "MultiRecord", number, args.rows),
                    "batch, SingleRecord": batch_pass(backend, model, "SingleRecord", number, args.rows),
                }  # fmt: skip
                reference = passes["endpoint, concurrency 1"]["predictions"]
                for title, result in passes.items():
                    same(result["predictions"], reference)
                    runs.setdefault(title, []).append(result["rows_per_second"])
        finally:
            server.stop()
    report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, list[float]]) -> None:
    reference = statistics.median(runs["endpoint, concurrency 1"])
    rows = [
        [
            title,
            f"{statistics.median(values):,.0f}",
            f"{min(values):,.0f}–{max(values):,.0f}",
            f"{statistics.median(values) / reference:.1f}×",
        ]
        for title, values in runs.items()
    ]
    headers = ["Pass", "Rows/s (median)", "Spread", "vs endpoint, concurrency 1"]
    markdown = (
        f"### batch_local\n\n{args.rows} CSV rows of one xgboost model (built-in algorithm), "
        f"{args.repeat} interleaved repetitions: the local batch transform (model load included) "
        f"against the local real-time endpoint (one request per row); every output checked "
        f"against the endpoint's answers.\n\n{c.markdown_table(headers, rows)}\n"
    )
    c.write_result("batch_local", {"rows": args.rows, "runs": runs}, markdown)


if __name__ == "__main__":
    main()
