"""`smgha demo`: the reference churn model through every implemented stage, on this machine.

It generates the data set, then runs each stage on the local backend exactly as its action
would (same inputs, same code), and points at what it produced. Later stages join the demo
as they land. Run it twice: the second model, a real challenger (retuned: see DemoModel),
is gated against the first, now the champion.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from smgha import demo_lines, monitor
from smgha.backends.local import LocalBackend
from smgha.runner import Runner
from smgha.stages import (
    STAGES,
    build_pipeline,
    deploy_endpoint,
    enable_monitor,
    register_and_gate,
    smoke_test,
)
from smgha.terminal import run_stage_command

DATA_URI = "s3://smgha-local/churn/data/churn.csv"
# Both reference pipelines register into this group: a model of one algorithm is gated
# against the champion of the other, as when a team switches algorithms.
MODEL_GROUP = "churn-models"
# Absolute floors, and at most a small regression against the approved champion.
DEMO_RULES = "accuracy >= 0.8\nauc >= champion - 0.01\nf1 >= champion - 2%"


@dataclass(frozen=True)
class DemoModel:
    """One reference model the demo can run: its pipeline and its challenger's settings."""

    title: str
    definition: str  # build-pipeline's `definition` input
    pipeline_name: str
    # What a run trains when the group already has an approved champion: retuned settings
    # (half the learning rate; XGBoost with twice the rounds), so the gate compares two
    # different models and the deltas are real, at about the same training time. (Retraining
    # the champion's settings on the same data and seed would give the same model: every
    # delta +0.0000.)
    challenger: dict[str, Any]


MODELS = {
    "xgboost": DemoModel(
        "built-in XGBoost", "ml.pipeline:get_pipeline", "churn-demo", {"Eta": 0.1, "NumRound": 200}
    ),
    "sklearn": DemoModel(
        "scikit-learn in script mode (ml/sklearn_model/train.py, inference.py)",
        "ml.sklearn_pipeline:get_pipeline",
        "churn-sklearn-demo",
        {"LearningRate": 0.05},
    ),
}
CAPTURE_URI = "s3://smgha-local/capture"
SMOKE_ROWS = 300
# Real rows of the test split with their labels: probabilities in range, accuracy >= 0.8,
# and a short load test.
SMOKE_TEST = {
    "label-column": "first",
    "min-accuracy": "0.8",
    "requests": "1000",
    "concurrency": "4",
    "max-p99-ms": "50",
}


class DemoRun:
    """One run of the demo: where it writes, what it says, and every stage's outputs so far."""

    def __init__(self, state: Path, stdout: TextIO, verbose: bool = False) -> None:
        self.state = state
        self.stdout = stdout
        self.verbose = verbose
        self.outputs: dict[str, str] = {}
        self.local = LocalBackend(region="us-east-1")
        self.logs = state / "demo" / "logs"
        self.stages_run = 0

    def section(self, title: str) -> None:
        self.stdout.write(f"\n━━ {title} {'━' * max(0, 60 - len(title))}\n")
        self.stdout.flush()

    def stage(self, main: Callable[[Runner], int], inputs: dict[str, str]) -> int:
        """Run a stage's main() on the local backend with these inputs, as its action would."""
        env = {
            "INPUT_BACKEND": "local",
            **{f"INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()},
        }
        if self.verbose:
            code, runner = run_stage_command(main, env, self.stdout)
            self.outputs.update(runner.outputs)
            return code
        # Concise: the stage's whole log to a file, one line here (smgha/demo_lines.py).
        module = main.__module__.rsplit(".", 1)[-1]
        stage = next(name for name, stage_module in STAGES.items() if stage_module == module)
        self.stages_run += 1
        log_file = self.logs / f"{self.stages_run}-{stage}.log"
        started = time.monotonic()
        captured = io.StringIO()
        code, runner = run_stage_command(main, env, captured)
        self.outputs.update(runner.outputs)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(captured.getvalue())
        elapsed = time.monotonic() - started
        if code == 0:
            self.stdout.write(f"{demo_lines.line(stage, runner.outputs)} ({elapsed:.1f} s)\n")
        else:
            for error in demo_lines.error_lines(captured.getvalue()) or [f"{stage} failed"]:
                self.stdout.write(error + "\n")
            self.stdout.write(f"full log: {log_file}\n")
        self.stdout.flush()
        return code


def run_demo(arguments: argparse.Namespace, stdout: TextIO) -> int:
    workspace = Path.cwd()
    if not (workspace / "ml" / "pipeline.py").is_file():
        stdout.write(
            f"error: no ml/pipeline.py under {workspace}; run the demo from a clone of the repository.\n"
        )
        return 2
    state = Path(arguments.state_dir).resolve()
    os.environ["SMGHA_STATE_DIR"] = str(state)  # the stages and the executor read it
    started = time.monotonic()
    demo = DemoRun(state, stdout, verbose=arguments.verbose)
    demo.section(f"1/7 Data: {arguments.rows} customers (seed {arguments.seed})")
    data = _generate(workspace, arguments.rows, arguments.seed)
    demo.local.objects.put_object(DATA_URI, data)
    stdout.write(f"wrote {len(data):,} bytes to {DATA_URI} ({demo.local.objects.path(DATA_URI)})\n")
    code = _build_and_gate(demo, MODELS[arguments.model], arguments.accuracy_threshold)
    if code == 0:
        code = _deploy(demo)
    elapsed = time.monotonic() - started
    demo.section(f"Done in {elapsed:.0f}s" + ("" if code == 0 else " (a stage failed)"))
    _pointers(state, demo.outputs, stdout)
    return code


def _build_and_gate(demo: DemoRun, model: DemoModel, accuracy_threshold: float) -> int:
    """Steps 2 and 3: build the pipeline (a challenger when there is a champion), gate it."""
    parameters: dict[str, Any] = {"InputDataUrl": DATA_URI, "AccuracyThreshold": accuracy_threshold}
    champion = _champion(demo.local)
    if champion:
        parameters.update(model.challenger)
    demo.section("2/7 build-pipeline: preprocess, train, evaluate, check accuracy, register")
    demo.stdout.write(f"model: {model.title} ({model.definition})\n")
    if champion:
        settings = ", ".join(f"{k} {v}" for k, v in model.challenger.items())
        demo.stdout.write(
            f"{champion} is the champion: this run trains a challenger ({settings})\n"
        )
    code = demo.stage(
        build_pipeline.main,
        {
            "definition": model.definition,
            "pipeline-name": model.pipeline_name,
            "parameters": json.dumps(parameters),
            "timeout-minutes": "30",
        },
    )
    if code == 0 and demo.outputs.get("model-package-arn"):
        demo.section("3/7 register-and-gate: lineage, gates against the champion, approval")
        code = demo.stage(
            register_and_gate.main,
            {
                "model-package-group": MODEL_GROUP,
                "execution-arn": demo.outputs["execution-arn"],
                "rules": DEMO_RULES,
            },
        )
    return code


def _deploy(demo: DemoRun) -> int:
    """Steps 4 to 7: staging and its smoke test, then production, its test and its monitor."""
    package = demo.outputs["model-package-arn"]
    payloads = _payloads(demo.local, demo.outputs["execution-arn"], demo.state)
    demo.section("4/7 deploy-endpoint: churn-staging")
    code = demo.stage(
        deploy_endpoint.main,
        {
            "model-package-arn": package,
            "endpoint-name": "churn-staging",
            "strategy": "all-at-once",
            "wait-seconds": "2",
            "termination-wait-seconds": "0",
        },
    )
    if code == 0:
        demo.section("5/7 smoke-test: churn-staging")
        code = demo.stage(
            smoke_test.main,
            {
                **SMOKE_TEST,
                "endpoint-name": "churn-staging",
                "payloads": str(payloads),
                "report-path": str(demo.state / "smoke-test-staging.json"),
                "rollback-endpoint-config": demo.outputs.get("previous-endpoint-config-name", ""),
            },
        )
    if code == 0:
        code = _production(demo, package, payloads)
    return code


def _production(demo: DemoRun, package: str, payloads: Path) -> int:
    """Step 6: a canary to production with autoscaling and data capture, and its smoke test;
    then step 7."""
    demo.section(
        "6/7 deploy-endpoint: churn-production (canary, autoscaling, data capture), smoke-test"
    )
    demo.stdout.write("(in a workflow, GitHub's required reviewers approve this step)\n")
    code = demo.stage(
        deploy_endpoint.main,
        {
            "model-package-arn": package,
            "endpoint-name": "churn-production",
            "strategy": "canary",
            "canary-percent": "50",
            "wait-seconds": "3",
            "termination-wait-seconds": "0",
            # A canary is at least one instance and at most half the fleet
            # (deploy_endpoint.MIN_CANARY_FLEET): two instances, so the second run's
            # update sends one of them (50 %) to the new fleet first.
            "instance-count": "2",
            "autoscaling-min-instances": "2",
            "autoscaling-max-instances": "3",
            "data-capture-percent": "100",
            "data-capture-s3-uri": CAPTURE_URI,
        },
    )
    if code == 0:
        code = demo.stage(
            smoke_test.main,
            {
                **SMOKE_TEST,
                "endpoint-name": "churn-production",
                "payloads": str(payloads),
                "report-path": str(demo.state / "smoke-test-production.json"),
            },
        )
    if code == 0:
        code = _monitor(demo)
    return code


def _monitor(demo: DemoRun) -> int:
    """Step 7: enable monitoring of production, then one monitoring run over its traffic."""
    demo.section("7/7 enable-monitor: baseline, schedule, drift alarms; a monitoring run")
    train = _split_uri(demo.state, demo.outputs["execution-arn"], "train") + "/train.csv"
    code = demo.stage(
        enable_monitor.main,
        {"endpoint-name": "churn-production", "baseline-data-uri": train},
    )
    if code == 0:
        demo.stdout.write("Monitoring run over the traffic captured so far:\n")
        demo.stdout.write(
            monitor.run(
                demo.local.monitoring, demo.local.objects, "churn-production", everything=True
            ).render()
        )
    return code


def _champion(local: Any) -> str:
    """The ARN of the group's newest approved version, '' when there is none (a first run)."""
    if local.registry.describe_model_package_group(MODEL_GROUP) is None:
        return ""
    approved = local.registry.list_model_packages(MODEL_GROUP, approval_status="Approved", limit=1)
    return str(approved[0]["ModelPackageArn"]) if approved else ""


def smgha_command(state: Path) -> str:
    """How to run the CLI on the demo's state from this shell: `smgha` when it is the one on
    PATH, else the console script next to this interpreter (`.venv/bin/smgha`, which
    `make demo` runs without activating the venv), else `python -m smgha.cli`."""
    here = Path(sys.executable).with_name("smgha")
    on_path = shutil.which("smgha")
    if on_path and here.is_file() and Path(on_path).resolve() == here.resolve():
        program = "smgha"
    elif here.is_file():
        program = _shown_path(here)
    else:
        program = f"{_shown_path(Path(sys.executable))} -m smgha.cli"
    return f"SMGHA_STATE_DIR={shlex.quote(_shown_path(state))} {program}"


def _shown_path(path: Path) -> str:
    """`path` relative to the working folder when it is inside it (shorter to copy)."""
    absolute = path.absolute()
    return (
        str(absolute.relative_to(Path.cwd()))
        if absolute.is_relative_to(Path.cwd())
        else str(absolute)
    )


def _split_uri(state: Path, execution_arn: str, split: str) -> str:
    """Where the execution's PreprocessData step wrote a split (train, validation, test)."""
    from smgha.backends.local.state import DESCRIBED_FILE, Layout

    execution = Layout(state).execution_folder(execution_arn.rsplit("/", 1)[-1])
    step_folder = Layout.step_job_folder(execution, "PreprocessData")
    described = json.loads((step_folder / DESCRIBED_FILE).read_text())
    outputs = described["ProcessingOutputConfig"]["Outputs"]
    return str(next(o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == split))


def _payloads(local: Any, execution_arn: str, state: Path) -> Path:
    """The first rows of the execution's test split (label first), as smoke-test payloads."""
    test_uri = _split_uri(state, execution_arn, "test")
    rows = (local.objects.path(test_uri) / "test.csv").read_text().splitlines()[:SMOKE_ROWS]
    path = state / "demo" / "payloads.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def _pointers(state: Path, outputs: dict[str, str], stdout: TextIO) -> None:
    """Where to look at what the demo produced."""
    execution_arn = outputs.get("execution-arn", "")
    if execution_arn:
        from smgha.backends.local.state import EXECUTION_LOG, Layout

        folder = Layout(state).execution_folder(execution_arn.rsplit("/", 1)[-1])
        stdout.write(f"execution log:   {folder / EXECUTION_LOG}\n")
        stdout.write(f"job folders:     {Layout.jobs_folder(folder)}\n")
    if (state / "demo" / "logs").is_dir():
        stdout.write(f"stage logs:      {state / 'demo' / 'logs'} (--verbose prints them)\n")
    smgha = smgha_command(state)
    package = outputs.get("model-package-arn")
    if package:
        decision = outputs.get("decision", "not gated")
        stdout.write(f"model package:   {package} ({decision})\n")
        stdout.write(
            f"registry:        {smgha} registry list --backend local --group {MODEL_GROUP}\n"
        )
    elif execution_arn:
        stdout.write(
            "model package:   none (the model did not pass the pipeline's accuracy check)\n"
        )
    if outputs.get("endpoint-name"):
        stdout.write(f"endpoints:       {smgha} endpoints list\n")
        stdout.write(f"stop them:       {smgha} endpoints stop --all\n")
    stdout.write(f"state folder:    {state} (the CLI uses it with SMGHA_STATE_DIR={state})\n")


def _generate(workspace: Path, rows: int, seed: int) -> bytes:
    """The churn data set as CSV bytes, from the workspace's own ml.data generator."""
    if str(workspace) not in sys.path:
        sys.path.insert(0, str(workspace))
    from ml import data

    frame = data.generate(rows=rows, seed=seed)
    return frame.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()
