"""Benchmark: the local runner's overhead over running the same three jobs directly.

Direct: in a temp folder, three fresh processes in a row, each timed (wall):

    python ml/preprocess.py --input-dir in --output-dir out
    python -c TRAIN   (the built-in XGBoost emulation's work: pandas CSVs in, model.tar.gz out)
    python ml/evaluate.py --model-dir model --test-dir out/test --output-dir evaluation

Through the local runner: the same pipeline (definition built once from
ml.pipeline:get_pipeline) upserted into a fresh local state folder and started with the
LocalBackend API, then polled as the stage polls (every backend.pipelines.poll_seconds). Measured:

  * steps sum: the three step durations from execution.json (StartTime/EndTime), i.e. what
    the executor spends per job: staging inputs, the job, shipping outputs;
  * execution (observed): from start_execution returning to describe_execution reporting
    the end, as the stage sees it (executor start-up, the gate/register steps and the
    polling granularity included);
  * execution (recorded): from start_execution returning to the execution's
    LastModifiedTime, i.e. without the polling granularity.

Overhead = (runner - direct) / direct per interleaved pair (direct, runner, direct, ...),
median over the pairs. Both paths must produce the same evaluation report.

    .venv/bin/python bench/runner_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _common as c

PIPELINE_NAME = "bench"
ROLE_ARN = "arn:aws:iam::000000000000:role/x"
JOB_STEPS = ("PreprocessData", "TrainModel", "EvaluateModel")
GOAL = 0.25  # the target: under 25 % overhead

# Build the definition once, in a child process: the SDK import stays out of this process
# (its threads, its memory, its logging), and its outputs are plain JSON.
DEFINITION_SCRIPT = """
import base64, json, sys
from pathlib import Path
from smgha.definition import load_definition
definition, uploads = load_definition(
    "ml.pipeline:get_pipeline",
    Path.cwd(),
    {"region": "us-east-1", "role": sys.argv[2], "pipeline_name": sys.argv[3],
     "default_bucket": "smgha-local"},
)
Path(sys.argv[1]).write_text(json.dumps({
    "definition": definition,
    "uploads": {uri: base64.b64encode(body).decode() for uri, body in uploads.items()},
}))
"""

# The direct equivalent of the TrainModel step: the hyperparameters the pipeline passes
# (its parameter defaults), the same reading of the label-first CSVs, the same model file.
TRAIN_SCRIPT = """
import io, sys, tarfile
from pathlib import Path
import pandas
import xgboost

train_dir, validation_dir, model_dir = map(Path, sys.argv[1:4])

def dmatrix(folder):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    data = pandas.concat([pandas.read_csv(p, header=None) for p in files], ignore_index=True)
    return xgboost.DMatrix(data.iloc[:, 1:].to_numpy(), label=data.iloc[:, 0].to_numpy())

params = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 5, "eta": 0.2,
          "subsample": 0.8, "min_child_weight": 1}
dtrain = dmatrix(train_dir)
evals = [(dtrain, "train"), (dmatrix(validation_dir), "validation")]
history = {}
booster = xgboost.train(params, dtrain, num_boost_round=100, evals=evals,
                        evals_result=history, verbose_eval=False)
raw = bytes(booster.save_raw(raw_format="ubj"))
model_dir.mkdir(parents=True, exist_ok=True)
with tarfile.open(model_dir / "model.tar.gz", "w:gz") as archive:
    info = tarfile.TarInfo("xgboost-model")
    info.size = len(raw)
    archive.addfile(info, io.BytesIO(raw))
print("validation auc", history["validation"]["auc"][-1])
"""


def epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def build_definition() -> tuple[dict[str, Any], dict[str, bytes]]:
    """The pipeline definition and the script uploads, from load_definition (once)."""
    with tempfile.TemporaryDirectory(prefix="smgha-bench-def-") as tmp:
        out = Path(tmp) / "definition.json"
        c.timed_run(
            [c.PYTHON, "-c", DEFINITION_SCRIPT, str(out), ROLE_ARN, PIPELINE_NAME],
            cwd=c.REPO_ROOT,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        )
        built = json.loads(out.read_text())
    uploads = {uri: base64.b64decode(body) for uri, body in built["uploads"].items()}
    return built["definition"], uploads


def direct_once(data: bytes) -> dict[str, Any]:
    """The three jobs as plain processes; wall time of each and their total."""
    with tempfile.TemporaryDirectory(prefix="smgha-bench-direct-") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        (root / "in" / "churn.csv").write_bytes(data)
        out, model, evaluation = root / "out", root / "model", root / "evaluation"
        commands = {
            "PreprocessData": [
                c.PYTHON,
                "ml/preprocess.py",
                "--input-dir",
                str(root / "in"),
                "--output-dir",
                str(out),
            ],
            "TrainModel": [
                c.PYTHON,
                "-c",
                TRAIN_SCRIPT,
                str(out / "train"),
                str(out / "validation"),
                str(model),
            ],
            "EvaluateModel": [
                c.PYTHON,
                "ml/evaluate.py",
                "--model-dir",
                str(model),
                "--test-dir",
                str(out / "test"),
                "--output-dir",
                str(evaluation),
            ],
        }
        steps = {}
        for name, command in commands.items():
            steps[name], _completed = c.timed_run(command, cwd=c.REPO_ROOT)
        report = json.loads((evaluation / "evaluation.json").read_text())
    return {"steps": steps, "total": sum(steps.values()), "report": report}


def runner_once(
    definition: dict[str, Any], uploads: dict[str, bytes], data: bytes
) -> dict[str, Any]:
    """One local execution of the pipeline, started and polled through LocalBackend."""
    from smgha.backends.local import LocalBackend

    with tempfile.TemporaryDirectory(prefix="smgha-bench-runner-") as tmp:
        backend = LocalBackend(region="us-east-1", root=Path(tmp) / "state")
        backend.objects.put_object(c.DATA_URI, data)
        for uri, body in uploads.items():
            backend.objects.put_object(uri, body)
        backend.pipelines.upsert_pipeline(PIPELINE_NAME, definition, ROLE_ARN, {})

        called = time.perf_counter()
        arn = backend.pipelines.start_execution(
            PIPELINE_NAME, {"InputDataUrl": c.DATA_URI}, uuid.uuid4().hex
        )
        returned = time.perf_counter()
        returned_epoch = time.time()
        # Poll as the build-pipeline stage does.
        while not (execution := backend.pipelines.describe_execution(arn)).finished:
            time.sleep(backend.pipelines.poll_seconds)
        observed = time.perf_counter() - returned
        if execution.status != "Succeeded":
            raise RuntimeError(f"execution {execution.status}: {execution.failure_reason}")

        folder = backend.root / "executions" / arn.rsplit("/", 1)[-1]
        record = json.loads((folder / "execution.json").read_text())
        report = backend.pipelines.read_property_file(
            arn, "EvaluateModel", "evaluation", "evaluation.json"
        )
        # Reap the finished executor (our child), so it cannot linger into the next run.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(int(record["ExecutorPid"]), 0)

    steps = {s["StepName"]: epoch(s["EndTime"]) - epoch(s["StartTime"]) for s in record["Steps"]}
    return {
        "start_execution_call": returned - called,
        "steps": steps,
        "steps_sum": sum(steps[name] for name in JOB_STEPS),
        "execution_observed": observed,
        "execution_recorded": epoch(record["LastModifiedTime"]) - returned_epoch,
        "executor_startup": epoch(record["Steps"][0]["StartTime"]) - returned_epoch,
        "report": report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    c.progress(f"generating {c.DATA_ROWS} rows (seed {c.DATA_SEED})")
    data = c.churn_csv()
    c.progress("building the definition (SageMaker SDK, once)")
    definition, uploads = build_definition()

    # One untimed round of each first: warms the page cache and the .pyc files.
    c.progress("warm-up")
    direct_once(data)
    runner_once(definition, uploads, data)

    directs, runners = [], []
    for index in range(args.repeat):
        c.progress(f"pair {index + 1}/{args.repeat}: direct")
        directs.append(direct_once(data))
        c.progress(f"pair {index + 1}/{args.repeat}: runner")
        runners.append(runner_once(definition, uploads, data))

    same_report = all(d["report"] == r["report"] for d, r in zip(directs, runners, strict=True))

    def overhead(key: str) -> dict[str, Any]:
        """(runner - direct) / direct per interleaved pair."""
        return c.summary(
            [(r[key] - d["total"]) / d["total"] for d, r in zip(directs, runners, strict=True)]
        )

    result: dict[str, Any] = {
        "repeat": args.repeat,
        "goal": GOAL,
        "direct_total": c.summary([d["total"] for d in directs]),
        "runner_steps_sum": c.summary([r["steps_sum"] for r in runners]),
        "runner_execution_observed": c.summary([r["execution_observed"] for r in runners]),
        "runner_execution_recorded": c.summary([r["execution_recorded"] for r in runners]),
        "runner_executor_startup": c.summary([r["executor_startup"] for r in runners]),
        "runner_start_execution_call": c.summary([r["start_execution_call"] for r in runners]),
        "overhead_steps_sum": overhead("steps_sum"),
        "overhead_execution_observed": overhead("execution_observed"),
        "overhead_execution_recorded": overhead("execution_recorded"),
        "per_step": {
            name: {
                "direct": c.summary([d["steps"][name] for d in directs]),
                "runner": c.summary([r["steps"][name] for r in runners]),
                "overhead": c.summary(
                    [
                        r["steps"][name] - d["steps"][name]
                        for d, r in zip(directs, runners, strict=True)
                    ]
                ),
            }
            for name in JOB_STEPS
        },
        "same_evaluation_report": same_report,
        "direct_runs": [{k: v for k, v in d.items() if k != "report"} for d in directs],
        "runner_runs": [{k: v for k, v in r.items() if k != "report"} for r in runners],
    }

    def verdict(stats: dict[str, Any]) -> str:
        return "✅ under 25 %" if stats["median"] < GOAL else "❌ over 25 %"

    rows = [
        ["Direct: 3 processes (total wall)", c.fmt_seconds(result["direct_total"]), "", ""],
        [
            "Runner: sum of the 3 job steps",
            c.fmt_seconds(result["runner_steps_sum"]),
            c.fmt_percent(result["overhead_steps_sum"]),
            verdict(result["overhead_steps_sum"]),
        ],
        [
            "Runner: whole execution, as polled (0.5 s)",
            c.fmt_seconds(result["runner_execution_observed"]),
            c.fmt_percent(result["overhead_execution_observed"]),
            verdict(result["overhead_execution_observed"]),
        ],
        [
            "Runner: whole execution, recorded end",
            c.fmt_seconds(result["runner_execution_recorded"]),
            c.fmt_percent(result["overhead_execution_recorded"]),
            verdict(result["overhead_execution_recorded"]),
        ],
    ]
    step_rows = [
        [
            name,
            c.fmt_seconds(stats["direct"]),
            c.fmt_seconds(stats["runner"]),
            c.fmt_ms(stats["overhead"]),
        ]
        for name, stats in result["per_step"].items()
    ]
    markdown = "\n".join(
        [
            f"### Local runner overhead (median of {args.repeat} interleaved pairs)",
            "",
            c.markdown_table(["Path", "Wall time", "Overhead vs direct", "Goal"], rows),
            "",
            c.markdown_table(
                ["Step", "Direct process", "Runner step", "Difference (runner - direct)"],
                step_rows,
            ),
            "",
            f"Executor start-up (start_execution returned → first step): "
            f"{c.fmt_ms(result['runner_executor_startup'])}. "
            f"Same evaluation report both ways: {'yes' if same_report else '**NO**'}.",
        ]
    )
    c.write_result("runner_overhead", result, markdown)


if __name__ == "__main__":
    main()
