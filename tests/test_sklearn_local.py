"""The scikit-learn reference model (ml/sklearn_pipeline.py) run for real on the local backend:
the tuning pipeline registers its best trial, and the demo takes the plain one through the
whole lifecycle. (Apart from tests/test_sklearn_pipeline.py: its `offline` fixture refuses
every socket, loopback included, for the rest of its module.)"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

import joblib
import numpy as np
import pytest

from smgha.backends.local import LocalBackend
from smgha.resources.monitoring import DataQuality
from smgha.resources.registry import statistics_uri
from smgha.stages import build_pipeline, register_and_gate
from tests.stage_helpers import run_main
from tests.test_local_faults import local  # noqa: F401 (a fixture)
from tests.test_local_tuning import read_described, read_trial
from tests.test_pipeline_definition import REPO_ROOT
from tests.test_sklearn_pipeline import SCRIPT_ENVIRONMENT

GITHUB = {"GITHUB_RUN_ID": "7", "GITHUB_REPOSITORY": "octo/churn", "GITHUB_SHA": "a" * 40}


def model_in(backend: LocalBackend, uri: str) -> Any:
    """The scikit-learn estimator in a model archive; asserts the archive serves itself."""
    with tarfile.open(fileobj=io.BytesIO(backend.objects.read_object(uri))) as archive:
        names = set(archive.getnames())
        assert {"model.joblib", "code/inference.py"} <= names, names
        member = archive.extractfile("model.joblib")
        assert member is not None
        return joblib.load(io.BytesIO(member.read()))


@pytest.mark.slow
def test_the_tuning_pipeline_registers_its_best_trial_on_the_local_backend(
    local: LocalBackend,  # noqa: F811 (the fixture)
    churn_csv: bytes,
) -> None:
    local.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    inputs = {
        "backend": "local",
        "definition": "ml.sklearn_pipeline:get_tuning_pipeline",
        "pipeline-name": "churn-tuning",
        "parameters": json.dumps({"MaxIter": 60}),
    }
    result = run_main(build_pipeline.main, inputs, **GITHUB)
    assert result.code == 0, result.log
    execution = result.outputs["execution-arn"]
    summaries = read_described(local, execution, "TuneModel")["TrainingJobSummaries"]
    assert len(summaries) == 6
    objectives = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert objectives == sorted(objectives, reverse=True)  # ranked best first
    best = read_trial(local, execution, summaries[0]["TrainingJobName"], "TuneModel")
    package = local.registry.describe_model_package(result.outputs["model-package-arn"])
    assert package is not None
    [container] = package["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == best["ModelArtifacts"]["S3ModelArtifacts"]
    # The best trial trained with its own tuned values, which reached train.py.
    model = model_in(local, container["ModelDataUrl"])
    tuned = summaries[0]["TunedHyperParameters"]
    assert model.max_depth == int(tuned["max_depth"])
    assert model.learning_rate == pytest.approx(float(tuned["learning_rate"]))
    assert model.max_iter == 60

    # register-and-gate cannot read a tuning job's channels: it says so, and the input
    # records them.
    gate_inputs = {
        "backend": "local",
        "model-package-group": "churn-models",
        "execution-arn": execution,
        "rules": "accuracy >= 0.5",
    }
    gated = run_main(register_and_gate.main, gate_inputs, **GITHUB)
    assert gated.code == 0, gated.log
    assert (
        "::notice::Lineage: no training data recorded: the model was trained by the tuning "
        "step TuneModel" in gated.log
    )
    train_uri = "s3://smgha-local/churn-tuning/train"
    again = run_main(
        register_and_gate.main, {**gate_inputs, "training-data-uri": train_uri}, **GITHUB
    )
    assert again.code == 0, again.log
    assert "::notice::Lineage" not in again.log
    recorded = local.registry.describe_model_package(result.outputs["model-package-arn"])
    assert recorded is not None
    assert recorded["CustomerMetadataProperties"]["smgha:training-data-uri"] == train_uri


@pytest.mark.slow
def test_the_sklearn_demo_trains_gates_registers_deploys_smoke_tests_and_monitors(
    local: LocalBackend,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace
    from typing import cast

    from smgha import demo

    # Latency is measured by bench/, never asserted by a test on a shared machine.
    monkeypatch.setitem(demo.SMOKE_TEST, "max-p99-ms", "60000")
    monkeypatch.chdir(REPO_ROOT)
    arguments = SimpleNamespace(
        model="sklearn",
        rows=2000,
        seed=7,
        accuracy_threshold=0.8,
        state_dir=str(local.root),
        verbose=False,
    )
    stdout = io.StringIO()
    code = demo.run_demo(cast(Any, arguments), stdout)
    out = stdout.getvalue()
    logs = sorted((local.root / "demo" / "logs").iterdir())
    assert code == 0, out + "".join(log.read_text()[-2000:] for log in logs)
    # Concise by default: one line per stage, the stages' whole logs in files.
    assert len(out.splitlines()) < 60, out
    assert [log.name for log in logs] == [
        "1-build-pipeline.log", "2-register-and-gate.log", "3-deploy-endpoint.log",
        "4-smoke-test.log", "5-deploy-endpoint.log", "6-smoke-test.log", "7-enable-monitor.log",
    ]  # fmt: skip
    assert "registered churn-models/1" in out
    assert "churn-models/1 approved: 3 of 3 rules passed (champion: none yet)" in out
    assert "churn-production deployed: churn-models/1 on churn-production-v1-" in out
    assert out.count("passed: accuracy 0.8") == 2
    assert "schedule churn-production-data-quality" in out

    [package] = local.registry.list_model_packages(demo.MODEL_GROUP)
    assert package["ModelApprovalStatus"] == "Approved"
    described = local.registry.describe_model_package(package["ModelPackageArn"])
    assert described is not None
    [container] = described["InferenceSpecification"]["Containers"]
    assert container["Environment"] == SCRIPT_ENVIRONMENT
    assert "sagemaker-scikit-learn" in container["Image"]
    estimator = model_in(local, container["ModelDataUrl"])
    # What the model review reads lands beside the package's statistics (evaluation.json):
    # the test rows' predictions and the model's details (docs/review.md).
    statistics = statistics_uri(described)
    assert statistics.endswith("/EvaluateModel/output/evaluation/evaluation.json"), statistics
    folder = statistics.rsplit("/", 1)[0]
    predictions = local.objects.read_object(f"{folder}/predictions.csv").decode().splitlines()
    assert predictions[0].startswith("label,score,segment:contract,segment:payment_method")
    details = local.objects.read_json(f"{folder}/model-details.json")
    assert details["task"] == "binary_classification" and details["feature_importance"] == {}
    test_split = statistics.split("/EvaluateModel/")[0] + "/PreprocessData/output/test"
    test_rows = local.objects.read_object(f"{test_split}/test.csv")
    assert len(predictions) - 1 == len(test_rows.decode().splitlines())
    assert details["test_rows_sha256"] == hashlib.sha256(test_rows).hexdigest()
    # Production answers with inference.py's predictions of the registered model.
    rows = (local.root / "demo" / "payloads.csv").read_text().splitlines()[:5]
    features = np.array([[float(v) for v in row.split(",")[1:]] for row in rows], np.float32)
    expected = estimator.predict_proba(features)[:, 1]
    for row, probability in zip(rows, expected, strict=True):
        body = row.split(",", 1)[1].encode()
        answer = local.hosting.invoke_endpoint("churn-production", body, "text/csv", "text/csv")
        assert answer.status == 200, answer.body
        assert float(answer.body.decode()) == pytest.approx(float(probability), abs=1e-6)
    # Monitored: a schedule on production, and a monitoring run over its captured traffic.
    schedule = local.monitoring.describe_monitoring_schedule(
        DataQuality().schedule_name("churn-production")
    )
    assert schedule is not None and schedule["MonitoringScheduleStatus"] == "Scheduled"
    assert "Monitoring run over the traffic captured so far" in out
