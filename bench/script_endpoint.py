"""Benchmark: what script mode costs on the local endpoint, against the built-in algorithm.

Three endpoint servers (`python -m smgha.backends.local.serving`), one variant each, all on
the same random 28-feature data (endpoint_throughput.py's model and rows):

  * built-in: the XGBoost booster served as the built-in algorithm (in-process);
  * xgboost script: the SAME booster behind an inference.py in the XGBoost framework image,
    served by a worker process through the inference toolkit's handlers;
  * sklearn script: the reference scikit-learn model's own inference.py
    (ml/sklearn_model/inference.py) over a HistGradientBoostingClassifier trained with
    train.py's defaults (200 iterations, depth 4), in the scikit-learn image.

Each is loaded with single-row text/csv requests at 4 kept-alive connections (closed loop,
endpoint_throughput.py's client), interleaved, --repeat times; medians with (min–max). CPU
per request counts the server and its worker. Every answer is checked against the model's
own prediction of the first row.

    .venv/bin/python bench/script_endpoint.py [--repeat 3] [--requests 4000]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import _common as c
import endpoint_throughput as e

CONNECTIONS = 4
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
XGBOOST_INFERENCE = """
import os
import xgboost

def model_fn(model_dir):
    booster = xgboost.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    return booster
"""
# Trains the scikit-learn model on the same rows the XGBoost model saw (the child process
# keeps sklearn out of this one); prints its first-row score.
SKLEARN_TRAIN = """
import json, sys
import joblib, numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

folder, features = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
data = rng.normal(size=(5000, features))
logit = data[:, :6] @ np.array([1.2, -0.8, 0.6, 0.5, -0.4, 0.3]) + rng.normal(scale=0.7, size=5000)
model = HistGradientBoostingClassifier(max_iter=200, max_depth=4, early_stopping=False, random_state=0)
model.fit(data.astype(np.float32), (logit > 0.4).astype(int))
joblib.dump(model, folder + "/model.joblib")
first = np.array([[float(v) for v in sys.argv[3].split(",")]], dtype=np.float32)
print(json.dumps({"first_score": float(model.predict_proba(first)[0, 1])}))
"""


def archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def model_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def endpoints(temp: Path, model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each endpoint's variant (as serving.json holds it) and its expected first score."""
    booster = model_member(temp / "model.tar.gz", "xgboost-model")
    sklearn_dir = temp / "sklearn"
    sklearn_dir.mkdir()
    trained = subprocess.run(
        [c.PYTHON, "-c", SKLEARN_TRAIN, str(sklearn_dir), str(e.FEATURES), model["rows"][0]],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    inference = (c.REPO_ROOT / "ml" / "sklearn_model" / "inference.py").read_bytes()
    return {
        "built-in XGBoost": {
            "variant": {"ModelDataPath": str(temp / "model.tar.gz"), "Image": XGBOOST_IMAGE},
            "first_score": model["first_score"],
        },
        "XGBoost, script mode": {
            "variant": {
                "ModelDataPath": str(archive(temp / "xgb-script.tar.gz", {
                    "xgboost-model": booster, "code/inference.py": XGBOOST_INFERENCE.encode(),
                })),
                "Image": XGBOOST_IMAGE,
                "Environment": SCRIPT_ENVIRONMENT,
            },
            "first_score": model["first_score"],
        },
        "scikit-learn, script mode": {
            "variant": {
                "ModelDataPath": str(archive(temp / "sklearn.tar.gz", {
                    "model.joblib": (sklearn_dir / "model.joblib").read_bytes(),
                    "code/inference.py": inference,
                })),
                "Image": SKLEARN_IMAGE,
                "Environment": SCRIPT_ENVIRONMENT,
            },
            "first_score": json.loads(trained.stdout)["first_score"],
        },
    }  # fmt: skip


class ServerWithWorkers(e.Process):
    """An endpoint server whose CPU time includes its worker processes' (script mode)."""

    def cpu_seconds(self) -> float:
        children = [
            int(child)
            for task in Path(f"/proc/{self.pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
        return super().cpu_seconds() + sum(e.process_cpu_seconds(pid) for pid in children)


def start(temp: Path, name: str, spec: dict[str, Any]) -> ServerWithWorkers:
    folder = temp / name.replace(" ", "-").replace(",", "")
    folder.mkdir()
    variant = {"VariantName": "AllTraffic", "Weight": 1.0, **spec["variant"]}
    serving = {"EndpointName": "bench", "Variants": [variant], "DataCapture": {"Enabled": False}}
    (folder / "serving.json").write_text(json.dumps(serving))
    server = ServerWithWorkers(
        [c.PYTHON, "-m", "smgha.backends.local.serving", str(folder)],
        folder / "server.json",
        folder / "server.out",
    )
    try:  # a server whose first answer is wrong, or missing, is stopped before the error
        first = e.http_first_score(server.port, spec["rows"][0])
        if abs(first - spec["first_score"]) > 1e-5:
            raise RuntimeError(
                f"{name}: the server answered {first}, the model {spec['first_score']}"
            )
    except BaseException:
        server.stop()
        raise
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="smgha-bench-script-") as name:
        temp = Path(name)
        model = e.train_model(name)
        specs = endpoints(temp, model)
        servers: dict[str, ServerWithWorkers] = {}
        try:
            for title, spec in specs.items():
                c.progress(f"starting {title}")
                servers[title] = start(temp, title, {**spec, "rows": model["rows"]})
                runs[title] = []
            for round_number in range(1, args.repeat + 1):
                for title, server in servers.items():
                    run = e.run_load(
                        server, model["rows"], mode="closed", connections=CONNECTIONS,
                        processes=2, requests=args.requests, time_cap=60.0,
                    )  # fmt: skip
                    if run["errors"]:
                        raise RuntimeError(f"{title}: {run['errors']} failed requests")
                    runs[title].append(run)
                    c.progress(f"round {round_number}, {title}: {run['rps']:,.0f} req/s")
        finally:
            for server in servers.values():
                server.stop()
    report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> None:
    builtin = e.med(runs["built-in XGBoost"], "rps")["median"]
    rows = []
    for title, measured in runs.items():
        rps = e.med(measured, "rps")
        rows.append([
            title, e.fmt_rps(rps), e.fmt(e.med(measured, "p50_ms")), e.fmt(e.med(measured, "p99_ms")),
            f"{e.med(measured, 'server_cpu_us_per_request')['median']:.0f} µs",
            f"{rps['median'] / builtin:.2f}×",
        ])  # fmt: skip
    header = ["Served as", "Requests/s", "p50", "p99", "Server+worker CPU/request", "vs built-in"]
    table = "\n".join(
        "| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows]
    )
    markdown = (
        f"### script_endpoint\n\nSingle-row CSV, {CONNECTIONS} kept-alive connections, "
        f"{args.requests} requests per run, {args.repeat} interleaved runs.\n\n{table}\n"
    )
    summary = {
        title: {k: e.med(m, k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request")}
        for title, m in runs.items()
    }
    c.write_result("script_endpoint", {"summary": summary}, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
