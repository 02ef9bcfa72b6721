"""Benchmark: rows per second of a processing job and of built-in XGBoost training on 1 and
2 instances, on the local backend (issue 16, "Scaling out beyond one instance").

The data: `--rows` rows (default 400,000) of a synthetic binary problem, 8 numeric features,
label first, no header (what the built-in algorithm reads), written as `--files` CSV objects
(default 8) so that ShardedByS3Key has objects to split.

- processing: a script that reads its share of the objects (ShardedByS3Key), standardises
  every feature with its shard's mean and deviation and writes them back out, named by host;
  rows per second = all rows / the job's wall time.
- training: the built-in XGBoost algorithm (binary:logistic, auc, 50 rounds, max_depth 6,
  hist), the train channel ShardedByS3Key and a 10 % validation channel FullyReplicated, as
  ml/pipeline.py sets them; rows per second = training rows / the job's wall time.

Each job runs in a fresh process (it pays its interpreter's and xgboost's start-up, as a
pipeline step does) against a fresh local state folder, calling the local backend's job
runners directly; 1 and 2 instances are interleaved, `--repeat` times (default 2). On one
machine two "instances" share its CPUs: the figure says what the local emulation costs, not
what two SageMaker instances would gain (docs/scaling.md has that plan).

    .venv/bin/python bench/multi_instance.py [--rows 400000] [--files 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import _common as c

FEATURES = 8
BUCKET = "s3://smgha-local"

# Runs one job in a fresh interpreter and prints {"seconds": ..., "described": ...}.
CHILD = """
import json, sys, time
from pathlib import Path
from smgha.backends.local import jobs, state, training
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3

root, kind, request_file = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
job_dir = root / "jobs" / Path(request_file).stem
job_dir.mkdir(parents=True)
job = jobs.JobContext(
    job_dir=job_dir, job_name=Path(request_file).stem, region="us-east-1",
    s3=LocalS3(root / "s3"), registry=LocalRegistry(state.Layout(root), "us-east-1"),
    log=lambda line: None,
)
request = json.loads(Path(request_file).read_text())
start = time.perf_counter()
runner = jobs.run_processing if kind == "processing" else training.run_training
described = runner(request, job)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "metrics": described.get("FinalMetricDataList", [])}))
"""

STANDARDISE = """
import json, pathlib
import pandas as pd
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
frames = [pd.read_csv(p, header=None) for p in sorted(pathlib.Path("/opt/ml/processing/input/data").glob("*.csv"))]
data = pd.concat(frames, ignore_index=True)
features = data.iloc[:, 1:]
data.iloc[:, 1:] = (features - features.mean()) / features.std()
data.to_csv(f"/opt/ml/processing/out/{host}.csv", header=False, index=False, float_format="%.5g")
print(f"{host}: {len(data)} rows")
"""


def write_data(s3_root: Path, rows: int, files: int) -> int:
    """The train objects (and a validation object); returns the number of training rows."""
    import numpy as np

    rng = np.random.default_rng(11)
    features = rng.normal(size=(rows, FEATURES))
    logits = features[:, 0] * 1.2 - features[:, 1] + features[:, 2] * features[:, 3] * 0.7
    labels = (logits + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    data = np.column_stack([labels, features])
    validation_rows = rows // 10
    folder = s3_root / "smgha-local"
    (folder / "validation").mkdir(parents=True)
    np.savetxt(
        folder / "validation" / "part-0.csv", data[:validation_rows], delimiter=",", fmt="%.5g"
    )
    (folder / "train").mkdir(parents=True)
    for index, part in enumerate(np.array_split(data[validation_rows:], files)):
        np.savetxt(folder / "train" / f"part-{index:03d}.csv", part, delimiter=",", fmt="%.5g")
    code = folder / "code"
    code.mkdir(parents=True)
    (code / "standardise.py").write_text(STANDARDISE)
    return rows - validation_rows


def processing_request(instances: int) -> dict[str, Any]:
    def s3_input(name: str, uri: str, path: str, distribution: str) -> dict[str, Any]:
        return {
            "InputName": name,
            "S3Input": {
                "S3Uri": uri,
                "LocalPath": path,
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": distribution,
            },
        }

    return {
        "AppSpecification": {
            "ImageUri": "local",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/standardise.py"],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": instances,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "ProcessingInputs": [
            s3_input("data", f"{BUCKET}/train", "/opt/ml/processing/input/data", "ShardedByS3Key"),
            s3_input(
                "code",
                f"{BUCKET}/code/standardise.py",
                "/opt/ml/processing/input/code",
                "FullyReplicated",
            ),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"{BUCKET}/standardised-{instances}",
                        "LocalPath": "/opt/ml/processing/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def training_request(instances: int) -> dict[str, Any]:
    def channel(name: str, distribution: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "InputMode": "File",
            "DataSource": {
                "S3DataSource": {
                    "S3Uri": f"{BUCKET}/{name}",
                    "S3DataType": "S3Prefix",
                    "S3DataDistributionType": distribution,
                }
            },
        }

    return {
        "AlgorithmSpecification": {"TrainingImage": c.XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "num_round": "50",
            "max_depth": "6",
            "eta": "0.2",
            "tree_method": "hist",
        },
        "InputDataConfig": [
            channel("train", "ShardedByS3Key"),
            channel("validation", "FullyReplicated"),
        ],
        "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/models"},
        "ResourceConfig": {
            "InstanceCount": instances,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def run_job(root: Path, kind: str, instances: int, repetition: int) -> dict[str, Any]:
    request = processing_request(instances) if kind == "processing" else training_request(instances)
    request_file = root / f"{kind}-{instances}-{repetition}.json"
    request_file.write_text(json.dumps(request))
    completed = subprocess.run(
        [c.PYTHON, "-c", CHILD, str(root), kind, str(request_file)],
        cwd=c.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{kind} on {instances} instance(s) failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    machine = c.machine_info()  # before the jobs: its load average is the one at the start
    seconds: dict[tuple[str, int], list[float]] = {}
    auc: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-multi-") as folder:
        root = Path(folder)
        c.progress(f"writing {args.rows:,} rows as {args.files} objects")
        train_rows = write_data(root / "s3", args.rows, args.files)
        rows = {"processing": train_rows, "training": train_rows}
        for repetition in range(args.repeat):
            for kind in ("processing", "training"):
                for instances in (1, 2):
                    c.progress(f"{kind} on {instances} instance(s), run {repetition + 1}")
                    result = run_job(root, kind, instances, repetition)
                    seconds.setdefault((kind, instances), []).append(result["seconds"])
                    for metric in result["metrics"]:
                        if metric["MetricName"] == "validation:auc":
                            auc[instances] = metric["Value"]

    table = []
    data: dict[str, Any] = {"rows": args.rows, "files": args.files, "results": {}}
    for kind in ("processing", "training"):
        one = c.summary(seconds[(kind, 1)])
        for instances in (1, 2):
            stats = c.summary(seconds[(kind, instances)])
            rate = rows[kind] / stats["median"]
            speedup = one["median"] / stats["median"]
            extra = f"validation AUC {auc[instances]:.4f}" if kind == "training" else ""
            table.append(
                [kind, instances, c.fmt_seconds(stats), f"{rate:,.0f}", f"{speedup:.2f}x", extra]
            )
            data["results"][f"{kind}-{instances}"] = {
                "seconds": stats,
                "rows_per_second": rate,
                "validation_auc": auc.get(instances) if kind == "training" else None,
            }
    markdown = "\n".join(
        [
            f"### Multi-instance jobs on the local backend ({rows['training']:,} training rows, "
            f"{args.files} objects)",
            "",
            c.machine_line(machine),
            "",
            c.markdown_table(
                ["job", "instances", "wall time", "rows/s", "vs 1 instance", ""], table
            ),
        ]
    )
    c.write_result("multi_instance", data, markdown)


if __name__ == "__main__":
    main()
