"""The review on real models trained on the local backend: bundles of registered packages, the
predicted verdict against register-and-gate's own, and a build that failed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from smgha import cli, gates
from smgha.backends.local import LocalBackend
from smgha.review.bundle import build_bundle, read_bundle, write_bundle
from smgha.review.compare import compare
from smgha.stages import build_pipeline, register_and_gate
from tests.stage_helpers import GITHUB_CONTEXT, run_main

REGION = "us-east-1"
GROUP = "churn-models"
DATA = "s3://smgha-local/churn/data/churn.csv"
RULES = "accuracy >= 0.6\nauc >= champion - 0.01\nf1 >= champion - 5%"
# A weak model: two shallow trees, still registered (threshold 0) so that the gate judges it.
WEAK = {"NumRound": 2, "MaxDepth": 1, "AccuracyThreshold": 0.0}


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes) -> LocalBackend:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    backend.objects.put_object(DATA, churn_csv)
    return backend


def build(parameters: dict[str, Any], run_id: str) -> tuple[int, dict[str, str], str]:
    """Run the reference pipeline (real training); (exit code, outputs, log)."""
    inputs = {
        "backend": "local",
        "definition": "ml.pipeline:get_pipeline",
        "pipeline-name": "churn",
        "parameters": json.dumps(parameters),
    }
    result = run_main(build_pipeline.main, inputs, **{**GITHUB_CONTEXT, "GITHUB_RUN_ID": run_id})
    return result.code, result.outputs, result.log


def gate(execution_arn: str) -> Any:
    inputs = {
        "backend": "local",
        "model-package-group": GROUP,
        "execution-arn": execution_arn,
        "rules": RULES,
    }
    return run_main(register_and_gate.main, inputs, **GITHUB_CONTEXT)


def review(*arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(["review", *arguments, "--backend", "local"], stdout=out)
    return code, out.getvalue()


@pytest.mark.slow
def test_the_predicted_verdict_is_register_and_gate_s_on_the_same_candidate_and_champion(
    local: LocalBackend, tmp_path: Path
) -> None:
    # The champion: a weak model, approved (it sets the bar), published as main would.
    code, champion_build, log = build(WEAK, "201")
    assert code == 0, log
    first = gate(champion_build["execution-arn"])
    assert first.outputs["decision"] == "approved", first.log
    code, printed = review(
        "bundle", "--model-package-arn", first.outputs["model-package-arn"], "--out", str(tmp_path / "champion")
    )  # fmt: skip
    assert code == 0, printed
    champion = read_bundle(tmp_path / "champion")
    assert champion.pipeline_name == "churn" and champion.approval_status == "Approved"
    assert champion.execution_arn == champion_build["execution-arn"]
    assert champion.git_sha == GITHUB_CONTEXT["GITHUB_SHA"]
    # The input data the execution read (its InputDataUrl), profiled.
    assert champion.data_profile is not None, champion.data_profile_error
    assert champion.data_profile["rows"] == 5000
    assert champion.definition is not None and "Steps" in champion.definition

    # Candidates: a better one (the default hyperparameters) and a worse one (one tree).
    for parameters, run_id, expected in (
        ({}, "202", "approved"),
        ({**WEAK, "NumRound": 1}, "203", "rejected"),
    ):
        code, candidate_build, log = build(parameters, run_id)
        assert code == 0, log
        # As `smgha review compare --execution-arn` builds it: the package is not gated yet,
        # so its lineage names no execution.
        candidate = build_bundle(
            local,
            candidate_build["model-package-arn"],
            execution_arn=candidate_build["execution-arn"],
        )
        assert candidate.approval_status == "PendingManualApproval"  # not gated yet
        predicted = compare(candidate, champion, gates.parse_rules(RULES.splitlines()))
        assert predicted.verdict is not None, predicted.verdict_error
        assert predicted.champion is not None, predicted.notes
        # The evaluation step's predictions and model details (ml/evaluate.py), on the same
        # test rows (the same data and split), per segment of each categorical feature.
        assert predicted.same_test_rows, predicted.notes
        assert {s.feature for s in predicted.segments} >= {"contract", "region"}
        assert predicted.data_shift and all(s.psi == 0.0 for s in predicted.data_shift)

        actual = gate(candidate_build["execution-arn"])
        assert actual.outputs["decision"] == expected, actual.log
        assert predicted.verdict.decision == actual.outputs["decision"]
        assert [r.as_dict() for r in predicted.verdict.results] == json.loads(
            actual.outputs["rules"]
        )
        if expected == "approved":  # the next candidate is gated against this one
            champion = build_bundle(local, candidate_build["model-package-arn"])


def test_a_build_that_failed_is_reviewed_as_which_step_failed_and_why(
    local: LocalBackend, tmp_path: Path
) -> None:
    code, outputs, log = build({"InputDataUrl": "s3://smgha-local/churn/data/missing.csv"}, "301")
    assert code == 1 and outputs.get("execution-arn"), log
    code, printed = review(
        "compare", "--execution-arn", outputs["execution-arn"], "--gate-rules", RULES, "--out", str(tmp_path / "review")
    )  # fmt: skip
    assert code == 0, printed
    comment = (tmp_path / "review" / "comment.md").read_text()
    assert comment.startswith("<!-- smgha-review: churn -->\n")
    assert "step **PreprocessData** failed" in comment
    assert "missing.csv" in comment  # the step's FailureReason
    review_json = json.loads((tmp_path / "review" / "review.json").read_text())
    assert (
        review_json["verdict"] == "build-failed" and review_json["failed_step"] == "PreprocessData"
    )


def test_review_run_builds_this_checkout_on_the_local_backend_then_reviews_it(
    local: LocalBackend, tmp_path: Path
) -> None:
    """`smgha review run`: build-pipeline with this checkout's code, then the review of what
    it built; here the build fails (no input data), so the review names the failed step. A
    build refused on its inputs is that error, with no review."""
    out = tmp_path / "review"

    def run(parameters: str) -> tuple[int, str]:
        printed = io.StringIO()
        code = cli.main(
            ["review", "run", "--pipeline-name", "churn", "--parameters", parameters,
             "--gate-rules", RULES, "--out", str(out)],
            stdout=printed,
        )  # fmt: skip
        return code, printed.getvalue()

    code, printed = run("[not, a, mapping]")
    assert code != 0 and "input 'parameters'" in printed, printed
    assert not out.exists()

    code, printed = run(json.dumps({"InputDataUrl": "s3://smgha-local/churn/data/missing.csv"}))
    assert code == 0, printed
    assert "Started execution" in printed  # the build's own log, then the review's line
    comment = (out / "comment.md").read_text()
    assert "step **PreprocessData** failed" in comment and "missing.csv" in comment


def test_bad_input_is_one_error_naming_it_and_writes_nothing(
    local: LocalBackend, tmp_path: Path
) -> None:
    out = tmp_path / "review"
    arn = f"arn:aws:sagemaker:{REGION}:000000000000:model-package/{GROUP}/9"
    for arguments, expected in (
        (
            ["compare", "--candidate", arn, "--gate-rules", "auc => 0.8"],
            "input 'rules': cannot read the rule 'auc => 0.8'",
        ),
        (
            ["compare", "--candidate", arn],
            f"input 'model-package-arn': there is no model package {arn}",
        ),
        (["compare"], "input 'candidate': is needed (or --execution-arn)"),
        (["bundle", "--model-package-arn", arn], "there is no model package"),
    ):
        code, printed = review(*arguments, "--out", str(out))
        assert (code, printed.count("error:")) == (2, 1), printed
        assert expected in printed
        assert not out.exists()


def test_a_bundle_round_trips_through_its_folder(local: LocalBackend, tmp_path: Path) -> None:
    """No training: a package whose statistics are written directly, with predictions and
    model details beside them as the evaluation step writes them (design section 1)."""
    folder = "s3://smgha-local/eval/run-1"
    local.objects.put_object(
        f"{folder}/evaluation.json",
        json.dumps({"binary_classification_metrics": {"auc": {"value": 0.9}}}).encode(),
    )
    local.objects.put_object(
        f"{folder}/predictions.csv", b"label,score,segment:plan\n1,0.9,basic\n0,0.2,pro\n"
    )
    details = {
        "schema": 1,
        "task": "binary_classification",
        "threshold": 0.5,
        "test_rows_sha256": "a" * 64,
        "feature_importance": {"tenure": 2.5},
        "importance_type": "gain",
    }
    local.objects.put_object(f"{folder}/model-details.json", json.dumps(details).encode())
    arn = local.registry.create_model_package({
        "ModelPackageGroupName": GROUP,
        "InferenceSpecification": {"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"{folder}/evaluation.json"}}},
    })  # fmt: skip
    bundle = build_bundle(local, arn, git_ref="refs/heads/main")
    assert (bundle.task, bundle.details, bundle.pipeline_name) == (
        "binary_classification",
        details,
        "",
    )
    assert (
        bundle.data_profile is None and "names no pipeline execution" in bundle.data_profile_error
    )
    write_bundle(bundle, tmp_path / "b")
    assert read_bundle(tmp_path / "b") == bundle
