"""The files the stages keep under RUNNER_TEMP for the workflows' artifacts
(smgha/run_artifacts.py): nothing outside a runner, a warning (never a failure) when one
cannot be written, and what build-pipeline, register-and-gate and smoke-test leave on the
local backend, also when they fail. enable-monitor's files: tests/test_e2e_act.py."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import xgboost

from smgha.backends import StepRecord
from smgha.backends.local import LocalBackend
from smgha.run_artifacts import EVALUATION, PIPELINE_LOG, SMOKE_TEST, execution_log, save_json
from smgha.runner import Runner
from smgha.stages import build_pipeline, register_and_gate, smoke_test
from tests.stage_helpers import GITHUB_CONTEXT, run_main
from tests.test_smoke_test import (
    ENDPOINT,
    FakeEndpoints,
    classes,
    feature_rows,
    model,
    serving,
    write_csv,
)

__all__ = ["model"]  # the module-scoped booster fixture of tests/test_smoke_test.py


def runner(env: dict[str, str]) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(env=env, stdout=out), out


def test_outside_a_runner_nothing_is_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    quiet, out = runner({})
    assert save_json(quiet, EVALUATION, "evaluation.json", {"a": 1}) is None
    assert list(tmp_path.iterdir()) == [] and out.getvalue() == ""


def test_on_a_runner_the_file_is_written_in_its_folder(tmp_path: Path) -> None:
    on_runner, _ = runner({"RUNNER_TEMP": str(tmp_path)})
    path = save_json(on_runner, EVALUATION, "evaluation.json", {"accuracy": 0.9})
    assert path == tmp_path / "smgha-evaluation" / "evaluation.json"
    assert json.loads(path.read_text()) == {"accuracy": 0.9}


def test_a_file_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    blocked = tmp_path / "temp"
    blocked.write_text("a file where the folder should be")
    on_runner, out = runner({"RUNNER_TEMP": str(blocked)})
    assert save_json(on_runner, EVALUATION, "evaluation.json", {}) is None
    assert out.getvalue().startswith(
        "::warning title=Cannot keep a file for the workflow artifacts::"
    )


def test_the_execution_log_has_each_step_with_status_times_and_reason() -> None:
    start = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    steps = [
        StepRecord("Train", "Succeeded", start, start + dt.timedelta(seconds=90)),
        StepRecord("Evaluate", "Failed", start, None, failure_reason="ClientError: no data"),
    ]
    log = execution_log(
        "churn", "arn:x", "Failed", "step Evaluate failed", steps, backend="local", region="r"
    )
    assert (log["pipeline_name"], log["status"], log["failure_reason"]) == (
        "churn",
        "Failed",
        "step Evaluate failed",
    )
    first, second = log["steps"]
    assert first["started"] == "2026-01-02T03:04:05+00:00" and first["seconds"] == 90.0
    assert second["ended"] is None and second["failure_reason"] == "ClientError: no data"
    json.dumps(log)  # it is JSON as it stands


# ---- the stages, on the local backend ---------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes) -> LocalBackend:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region="us-east-1")
    backend.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    return backend


def test_a_build_and_a_rejecting_gate_keep_the_log_and_the_evaluation(
    local: LocalBackend, tmp_path: Path
) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    context = {**GITHUB_CONTEXT, "RUNNER_TEMP": str(temp)}
    built = run_main(
        build_pipeline.main,
        {
            "backend": "local",
            "definition": "ml.pipeline:get_pipeline",
            "pipeline-name": "churn",
            "parameters": json.dumps({"NumRound": 2, "MaxDepth": 1, "AccuracyThreshold": 0.0}),
        },
        **context,
    )
    assert built.code == 0, built.log
    log = json.loads((temp / PIPELINE_LOG / "execution-log.json").read_text())
    assert log["execution_arn"] == built.outputs["execution-arn"]
    assert log["status"] == "Succeeded" and log["failure_reason"] == ""
    names = {step["name"]: step for step in log["steps"]}
    assert {"PreprocessData", "TrainModel", "EvaluateModel", "RegisterModel"} <= set(names)
    assert all(step["status"] == "Succeeded" and step["started"] for step in log["steps"])

    # A rejection fails the step (fail-on-reject), and its evidence is kept all the same.
    gated = run_main(
        register_and_gate.main,
        {
            "backend": "local",
            "model-package-group": "churn-models",
            "execution-arn": built.outputs["execution-arn"],
            "rules": "accuracy >= 0.999",
        },
        **context,
    )
    assert gated.code == 1 and gated.outputs["decision"] == "rejected", gated.log
    evaluation = json.loads((temp / EVALUATION / "evaluation.json").read_text())
    assert json.loads(built.outputs["metrics"]) == evaluation
    decision = json.loads((temp / EVALUATION / "gate.json").read_text())
    assert decision["decision"] == "rejected"
    assert decision["model_package_arn"] == gated.outputs["model-package-arn"]
    (rule,) = decision["rules"]
    assert rule["rule"] == "accuracy >= 0.999" and rule["passed"] is False


def test_a_failed_smoke_test_keeps_its_report(model: xgboost.Booster, tmp_path: Path) -> None:
    rows = feature_rows()
    wrong = [1 - label for label in classes(model, rows)]  # every label wrong: accuracy 0
    write_csv(tmp_path / "payloads.csv", rows, wrong)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    inputs = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "payloads": "payloads.csv",
        "label-column": "first",
        "min-accuracy": "0.9",
        "requests": "0",
        "report-path": "smoke-test-staging.json",
    }
    with serving(FakeEndpoints(model)):
        run = run_main(
            smoke_test.main, inputs, GITHUB_WORKSPACE=str(tmp_path), RUNNER_TEMP=str(temp)
        )
    assert run.code == 1, run.log
    kept = json.loads((temp / SMOKE_TEST / "smoke-test-staging.json").read_text())
    assert kept == json.loads((tmp_path / "smoke-test-staging.json").read_text())
    assert kept["passed"] is False
