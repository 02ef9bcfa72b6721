"""`smgha review compare` end to end on the local backend, pictures included (drawn by the
plots modules: smgha.review.curves, plots, mermaid, html), without training: the candidate is a
package whose evaluation, predictions and model details are written directly."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from smgha import cli
from smgha.backends.local import LocalBackend
from smgha.review.bundle import write_bundle
from smgha.review.champion import write_no_champion
from tests.test_review_core import make_bundle, metrics, predictions

GROUP = "churn-models"
EXECUTION = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/churn/execution/pr-1"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalBackend:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    return LocalBackend(region="us-east-1")


def _scores(seed: int, rows: int = 200) -> bytes:
    rng = random.Random(seed)
    labels = [rng.randint(0, 1) for _ in range(rows)]
    scores = [min(max(rng.gauss(0.35 + 0.3 * y, 0.2), 0.0), 1.0) for y in labels]
    return predictions(
        [round(s, 4) for s in scores], labels, [rng.choice(["basic", "pro"]) for _ in labels]
    )


def _candidate(local: LocalBackend, auc: float) -> str:
    folder = "s3://smgha-local/churn/pr-1/evaluation"
    local.objects.put_object(f"{folder}/evaluation.json", json.dumps(metrics(0.8, auc)).encode())
    local.objects.put_object(f"{folder}/predictions.csv", _scores(1))
    details = {
        "schema": 1,
        "task": "binary_classification",
        "threshold": 0.5,
        "test_rows_sha256": "a" * 64,
        "feature_importance": {"tenure": 3.0, "plan": 1.0},
        "importance_type": "gain",
    }
    local.objects.put_object(f"{folder}/model-details.json", json.dumps(details).encode())
    return local.registry.create_model_package({
        "ModelPackageGroupName": GROUP,
        "InferenceSpecification": {"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"{folder}/evaluation.json"}}},
        "CustomerMetadataProperties": {"smgha:pipeline-execution-arn": EXECUTION},
    })  # fmt: skip


def test_compare_writes_the_comment_the_summary_review_json_and_the_report(
    local: LocalBackend, tmp_path: Path
) -> None:
    arn = _candidate(local, auc=0.80)
    write_bundle(
        make_bundle(evaluation=metrics(0.8, 0.9), predictions_csv=_scores(2)), tmp_path / "champion"
    )
    out = io.StringIO()
    code = cli.main(
        ["review", "compare", "--backend", "local", "--candidate", arn, "--champion", str(tmp_path / "champion"),
         "--gate-rules", "auc >= champion - 0.01", "--out", str(tmp_path / "review")],
        stdout=out,
    )  # fmt: skip
    assert code == 0, out.getvalue()
    assert "predicted verdict: rejected" in out.getvalue()
    folder = tmp_path / "review"
    comment = (folder / "comment.md").read_text()
    assert comment.startswith("<!-- smgha-review: churn -->\n")
    assert "Predicted gate verdict: ❌ **rejected**: 1 of 1 rules fail" in comment
    assert "| `auc >= champion - 0.01` | ❌ 0.8 &lt; 0.89" in comment
    # ROC and precision-recall of both models, as charts and as tables.
    assert comment.count("xychart-beta") == 2
    assert "<details><summary>ROC as a table</summary>" in comment
    assert "<details><summary>Precision-recall as a table</summary>" in comment
    assert "\n| 1.0 | 1.000 | 1.000 |\n" in comment  # ROC ends at (1, 1) for both
    assert (folder / "summary.md").read_text() == comment.split("\n", 1)[1]
    review = json.loads((folder / "review.json").read_text())
    assert review["verdict"] == "rejected" and review["same_test_rows"] is True
    assert review["rules"][0]["champion"] == 0.9
    report = (folder / "report.html").read_text()
    for title in (
        "ROC",
        "Precision-recall",
        "Calibration",
        "Confusion matrix: candidate",
        "Feature importance",
    ):
        assert title in report
    assert report.count("<svg") >= 6


def test_compare_with_no_champion_still_writes_everything_and_says_why(
    local: LocalBackend, tmp_path: Path
) -> None:
    arn = _candidate(local, auc=0.80)
    out = io.StringIO()
    code = cli.main(
        ["review", "compare", "--backend", "local", "--candidate", arn, "--champion", str(tmp_path / "none"),
         "--gate-rules", "auc >= champion - 0.01", "--out", str(tmp_path / "review")],
        stdout=out,
    )  # fmt: skip
    assert code == 0, out.getvalue()
    review = json.loads((tmp_path / "review" / "review.json").read_text())
    assert review["verdict"] == "approved" and review["champion"] is None
    assert review["not_compared"][0].startswith("Champion not compared: there is none")
    assert (
        "Champion not compared: there is none" in (tmp_path / "review" / "comment.md").read_text()
    )
    assert "<svg" in (tmp_path / "review" / "report.html").read_text()


def test_the_review_repeats_why_fetch_champion_found_no_champion(
    local: LocalBackend, tmp_path: Path
) -> None:
    arn = _candidate(local, auc=0.80)
    write_no_champion(tmp_path / "champion", "no champion: no successful push build of main")
    code = cli.main(
        ["review", "compare", "--backend", "local", "--candidate", arn, "--champion",
         str(tmp_path / "champion"), "--out", str(tmp_path / "review")],
        stdout=io.StringIO(),
    )  # fmt: skip
    assert code == 0
    review = json.loads((tmp_path / "review" / "review.json").read_text())
    assert review["not_compared"][0] == (
        "Champion not compared: there is none (no champion: no successful push build of main)."
    )


def test_a_regression_model_s_review_draws_residuals_and_predicted_against_actual(
    local: LocalBackend, tmp_path: Path
) -> None:
    rng = random.Random(3)
    actual = [round(rng.uniform(0, 100), 2) for _ in range(120)]
    rows = "".join(f"{y},{y + rng.gauss(0, 5):.3f},{rng.choice(['a', 'b'])}\n" for y in actual)
    folder = "s3://smgha-local/house/pr-1/evaluation"
    evaluation = {"regression_metrics": {"rmse": {"value": 5.0}, "r2": {"value": 0.97}}}
    details = {
        "schema": 1,
        "task": "regression",
        "test_rows_sha256": "d" * 64,
        "feature_importance": {},
        "importance_type": "none",
    }
    local.objects.put_object(f"{folder}/evaluation.json", json.dumps(evaluation).encode())
    local.objects.put_object(
        f"{folder}/predictions.csv", f"label,prediction,segment:zone\n{rows}".encode()
    )
    local.objects.put_object(f"{folder}/model-details.json", json.dumps(details).encode())
    arn = local.registry.create_model_package({
        "ModelPackageGroupName": "house-models",
        "InferenceSpecification": {"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"{folder}/evaluation.json"}}},
        "CustomerMetadataProperties": {"smgha:pipeline-execution-arn": EXECUTION.replace("churn", "house")},
    })  # fmt: skip
    out = io.StringIO()
    code = cli.main(
        ["review", "compare", "--backend", "local", "--candidate", arn, "--gate-rules", "rmse <= 6",
         "--out", str(tmp_path / "review")],
        stdout=out,
    )  # fmt: skip
    assert code == 0, out.getvalue()
    comment = (tmp_path / "review" / "comment.md").read_text()
    assert comment.startswith("<!-- smgha-review: house -->\n")
    assert "Predicted gate verdict: ✅ **approved**" in comment and "xychart-beta" not in comment
    report = (tmp_path / "review" / "report.html").read_text()
    assert "Predicted vs actual: candidate" in report and "Residuals: candidate" in report
    assert "ROC" not in report
