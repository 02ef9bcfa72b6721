"""Benchmark: jobs per second through the local backend's asynchronous inference queue.

A real built-in XGBoost model (28 features, 50 rounds, depth 4) is registered in a fresh
local state folder and deployed by deploy-endpoint with async-output-s3-uri, once per
concurrency level (async-max-concurrent-invocations: 1, 2, 4, 8; each an update of the same
endpoint). At each level --jobs single-row text/csv payloads are uploaded to local S3, all
submitted with InvokeEndpointAsync, and collected from the output location; the throughput
is the jobs divided by the time from the first submit to the last answer found. Every answer
is checked against the booster's own prediction. Bounded: --jobs per level, and
--timeout seconds per level. The endpoint's server is stopped at the end.

    .venv/bin/python bench/async_local.py [--jobs 300] [--timeout 120]
"""

from __future__ import annotations

import argparse
import io
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

LEVELS = (1, 2, 4, 8)
FEATURES, ROUNDS, DEPTH = 28, 50, 4
ENDPOINT = "bench-async"
OUTPUT = "s3://smgha-local/bench-async/results"


def trained(seed: int = 1) -> tuple[bytes, Any]:
    import xgboost

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(2000, FEATURES))
    labels = (data[:, 0] + data[:, 1] * 0.5 > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": DEPTH, "seed": seed}
    booster = xgboost.train(params, xgboost.DMatrix(data, label=labels), ROUNDS)
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        archive.addfile(info, io.BytesIO(raw))
    return buffer.getvalue(), booster


def deploy(package: str, concurrency: int) -> None:
    from smgha.runner import Runner
    from smgha.stages import deploy_endpoint

    inputs = {
        "backend": "local",
        "model-package-arn": package,
        "endpoint-name": ENDPOINT,
        "strategy": "all-at-once",
        "wait-seconds": "0",
        "termination-wait-seconds": "0",
        "async-output-s3-uri": OUTPUT,
        "async-max-concurrent-invocations": str(concurrency),
    }
    env = {f"INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()}
    out = io.StringIO()
    if deploy_endpoint.main(Runner(env=env, stdout=out)) != 0:
        raise RuntimeError(f"deploy-endpoint failed:\n{out.getvalue()}")


def run_level(backend: Any, rows: list[str], expected: list[float], timeout: float) -> float:
    """Seconds from the first submit to the last answer of len(rows) jobs."""
    hosting, objects = backend.hosting, backend.objects
    inputs = []
    for number, row in enumerate(rows):
        uri = f"s3://smgha-local/bench-async/in/{time.time_ns()}-{number}.csv"
        objects.put_object(uri, row.encode())
        inputs.append(uri)
    started = time.perf_counter()
    submitted = [hosting.invoke_endpoint_async(ENDPOINT, uri, "text/csv") for uri in inputs]
    pending = dict(enumerate(submitted))
    while pending:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{len(pending)} jobs unanswered after {timeout} s")
        for index, job in list(pending.items()):
            answer = hosting.async_result(ENDPOINT, job)
            if answer is None:
                continue
            if answer.status != 200 or abs(float(answer.body) - expected[index]) > 1e-5:
                raise RuntimeError(f"job {index}: {answer.status} {answer.body[:200]!r}")
            del pending[index]
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    import xgboost

    from smgha.backends.local import LocalBackend

    archive, booster = trained()
    data = np.random.default_rng(9).normal(size=(args.jobs, FEATURES))
    rows = [",".join(f"{x:.6f}" for x in row) for row in data]
    parsed = np.array([[float(x) for x in row.split(",")] for row in rows])
    expected = [float(p) for p in booster.predict(xgboost.DMatrix(parsed))]
    results = []
    with tempfile.TemporaryDirectory(prefix="smgha-bench-async-") as name:
        import os

        os.environ["SMGHA_STATE_DIR"] = str(Path(name) / "state")
        backend = LocalBackend(region="us-east-1")
        backend.objects.put_object("s3://smgha-local/bench-async/model.tar.gz", archive)
        package = backend.registry.create_model_package({
            "ModelPackageGroupName": "bench-async",
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {"Containers": [{"Image": c.XGBOOST_IMAGE, "ModelDataUrl": "s3://smgha-local/bench-async/model.tar.gz"}]},
        })  # fmt: skip
        try:
            for level in LEVELS:
                c.progress(f"async-max-concurrent-invocations {level}: deploying")
                deploy(package, level)
                c.progress(f"  {args.jobs} jobs")
                seconds = run_level(backend, rows, expected, args.timeout)
                results.append({"concurrency": level, "jobs": args.jobs, "seconds": seconds})
        finally:
            backend.hosting.delete_endpoint(ENDPOINT)
    table = c.markdown_table(
        ["MaxConcurrentInvocationsPerInstance", "Jobs", "Seconds", "Jobs per second"],
        [
            [r["concurrency"], r["jobs"], f"{r['seconds']:.2f}", f"{r['jobs'] / r['seconds']:.0f}"]
            for r in results
        ],
    )
    markdown = (
        f"### Local async inference throughput\n\n{c.machine_line(c.machine_info())}\n\n{table}\n"
    )
    c.write_result("async_local", {"results": results}, markdown)


if __name__ == "__main__":
    main()
