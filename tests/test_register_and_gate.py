"""register-and-gate: rules, bad input, real local models against a champion, and moto."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha import gates
from smgha.backends import StepRecord
from smgha.backends.local import LocalBackend
from smgha.backends.local.pipelines import LocalPipelines
from smgha.errors import InputError, StageError
from smgha.resources import customer_metadata
from smgha.stages import build_pipeline, register_and_gate
from tests.aws_shapes import assert_valid_request, record_requests, shape_problems
from tests.stage_helpers import GITHUB_CONTEXT, run_main

REGION = "us-east-1"
GROUP = "churn-models"
RULES = "accuracy >= 0.6\nauc >= champion - 0.01\nf1 >= champion - 5%"


# ---- the rule grammar and the decision, pure ---------------------------------------------------


def test_rules_read_absolute_and_champion_relative_forms() -> None:
    rules = gates.parse_rules(
        [
            "accuracy >= 0.8",
            "rmse<=3 ; auc >= champion - 0.01",
            "",
            "# comment",
            "f1 > champion - 2%",
            "loss < champion + 1.5e-2",
        ]
    )
    assert [(r.metric, r.operator, r.value, r.delta, r.relative) for r in rules] == [
        ("accuracy", ">=", 0.8, 0.0, False),
        ("rmse", "<=", 3.0, 0.0, False),
        ("auc", ">=", None, -0.01, False),
        ("f1", ">", None, -2.0, True),
        ("loss", "<", None, 0.015, False),
    ]
    assert rules[3].threshold(0.5) == pytest.approx(0.49)
    assert rules[4].threshold(0.2) == pytest.approx(0.215)


@pytest.mark.parametrize(
    "text",
    [
        "accuracy => 0.8",
        "accuracy >= high 2",  # (accuracy >= high compares with the metric high)
        ">= 0.8",
        "auc >= champion * 2",
        "auc >= champion - 1%%",
    ],
)
def test_an_unreadable_rule_names_the_input_and_shows_the_grammar(text: str) -> None:
    with pytest.raises(InputError) as raised:
        gates.parse_rules([text])
    assert raised.value.name == "rules"
    assert repr(text.split(";")[0].strip()) in raised.value.problem
    assert "auc >= champion - 0.01" in raised.value.hint


EVALUATION = {
    "regression_metrics": {"rmse": {"value": 2.5}, "r2": {"value": 0.7}},
    "extra": {"latency_ms": 12},
}


def test_metrics_are_found_by_leaf_or_path_and_missing_ones_listed() -> None:
    table = gates.metric_table(EVALUATION)
    assert table == {
        "regression_metrics.rmse": 2.5,
        "regression_metrics.r2": 0.7,
        "extra.latency_ms": 12.0,
    }
    assert gates.resolve_metric("rmse", table) == "regression_metrics.rmse"
    assert gates.resolve_metric("regression_metrics.r2", table) == "regression_metrics.r2"
    with pytest.raises(InputError, match="has no metric 'mae'") as raised:
        gates.check_metrics_exist(gates.parse_rules(["mae <= 1"]), table)
    assert raised.value.hint == "Metrics it has: latency_ms, r2, rmse."


def test_lower_is_better_rules_and_the_decision() -> None:
    rules = gates.parse_rules(["rmse <= 3", "rmse <= champion + 10%"])
    candidate = gates.metric_table(EVALUATION)
    better = gates.evaluate(rules, candidate, {"regression_metrics.rmse": 2.4})  # 2.5 <= 2.64
    worse = gates.evaluate(rules, candidate, {"regression_metrics.rmse": 2.0})  # 2.5 > 2.2
    assert [r.passed for r in better] == [True, True]
    assert [r.passed for r in worse] == [True, False]
    assert worse[1].detail == "2.5 > 2.2 (champion 2 + 10%)"
    assert gates.decide(better, manual_approval=False, force=False).approval_status == "Approved"
    assert gates.decide(better, manual_approval=True, force=False).decision == "pending"
    rejected = gates.decide(worse, manual_approval=False, force=False)
    assert (rejected.decision, rejected.approval_status) == ("rejected", "Rejected")
    assert (
        rejected.description
        == "rejected by gates: rmse <= champion + 10%: 2.5 > 2.2 (champion 2 + 10%)"
    )
    forced = gates.decide(
        worse, manual_approval=True, force=True, forced_by="octocat", reason="hotfix"
    )
    assert (forced.decision, forced.forced) == ("approved", True)
    assert forced.description.startswith(
        "forced by octocat: hotfix (failed gates: rmse <= champion + 10%"
    )


def test_a_champion_rule_passes_without_a_champion_and_fails_when_it_lacks_the_metric() -> None:
    rules = gates.parse_rules(["rmse <= champion"])
    candidate = gates.metric_table(EVALUATION)
    assert gates.evaluate(rules, candidate, None)[0].detail == "no champion yet: sets the bar"
    lacking = gates.evaluate(rules, candidate, {"other": 1.0})[0]
    assert not lacking.passed and lacking.detail == "the champion has no rmse to compare with"


# ---- the local backend with real trained models ------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes) -> LocalBackend:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    backend.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    return backend


def build(parameters: dict[str, Any], run_id: str) -> str:
    """Train, evaluate and register a real model; return the execution ARN."""
    context = {**GITHUB_CONTEXT, "GITHUB_RUN_ID": run_id}
    inputs = {
        "backend": "local",
        "definition": "ml.pipeline:get_pipeline",
        "pipeline-name": "churn",
        "parameters": json.dumps(parameters),
    }
    result = run_main(build_pipeline.main, inputs, **context)
    assert result.code == 0, result.log
    assert result.outputs["model-package-arn"]
    return result.outputs["execution-arn"]


def gate(execution_arn: str = "", **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "model-package-group": GROUP,
        "execution-arn": execution_arn,
        "rules": RULES,
    }
    inputs.update(overrides)
    return run_main(register_and_gate.main, inputs, **{**GITHUB_CONTEXT, "GITHUB_ACTOR": "octocat"})


# A weak model: two shallow trees. Still registered (threshold 0), so the gate has to judge it.
WEAK = {"NumRound": 2, "MaxDepth": 1, "AccuracyThreshold": 0.0}


@pytest.mark.slow
def test_a_better_challenger_replaces_the_champion_a_worse_one_is_rejected_and_a_forced_one_recorded(
    local: LocalBackend,
) -> None:
    # 1. The first model sets the bar: approved, with its lineage recorded.
    champion_run = build(WEAK, "101")
    first = gate(champion_run)
    assert first.code == 0, first.log
    assert (first.outputs["decision"], first.outputs["champion-arn"]) == ("approved", "")
    champion_arn = first.outputs["model-package-arn"]
    record = local.registry.describe_model_package(champion_arn)
    assert record is not None and record["ModelApprovalStatus"] == "Approved"
    lineage = record["CustomerMetadataProperties"]
    assert lineage["smgha:git-sha"] == GITHUB_CONTEXT["GITHUB_SHA"]
    assert lineage["smgha:run-url"] == "https://github.com/acme/churn/actions/runs/4242/attempts/1"
    assert lineage["smgha:pipeline-execution-arn"] == champion_run
    assert lineage["smgha:training-data-uri"].endswith("/PreprocessData/output/train")
    assert float(lineage["smgha:metric:accuracy"]) > 0.5
    assert lineage["smgha:gate"] == "passed"

    # 2. A better challenger (the default hyperparameters) is approved over it.
    better = gate(build({}, "102"))
    assert better.code == 0, better.log
    assert (better.outputs["decision"], better.outputs["champion-arn"]) == (
        "approved",
        champion_arn,
    )
    rules = {r["rule"]: r for r in json.loads(better.outputs["rules"])}
    auc = rules["auc >= champion - 0.01"]
    assert auc["passed"] and auc["observed"] > auc["champion"]
    assert "| auc |" in better.summary and "| `auc >= champion - 0.01` | ✅" in better.summary
    new_champion = better.outputs["model-package-arn"]

    # 3. A worse one is rejected against the new champion, with the reason, and fails the step.
    worse_run = build({**WEAK, "NumRound": 1}, "103")
    worse = gate(worse_run)
    assert worse.code == 1
    assert worse.outputs["decision"] == "rejected" and worse.outputs["champion-arn"] == new_champion
    assert len(worse.errors) == 1 and "register-and-gate%3A model rejected" in worse.errors[0]
    rejected = local.registry.describe_model_package(worse.outputs["model-package-arn"])
    assert rejected is not None and rejected["ModelApprovalStatus"] == "Rejected"
    assert rejected["ApprovalDescription"].startswith("rejected by gates: auc >= champion - 0.01: ")

    # 4. Forced through by a person: approved, with who and why on the package.
    forced = gate(worse_run, force="true", **{"force-reason": "ship the hotfix tonight"})
    assert forced.code == 0, forced.log
    assert forced.outputs["decision"] == "approved"
    assert "forced approval" in forced.warnings[0]
    record = local.registry.describe_model_package(forced.outputs["model-package-arn"])
    assert record is not None and record["ModelApprovalStatus"] == "Approved"
    assert record["CustomerMetadataProperties"]["smgha:forced-by"] == "octocat"
    assert record["CustomerMetadataProperties"]["smgha:force-reason"] == "ship the hotfix tonight"
    assert record["ApprovalDescription"].startswith(
        "forced by octocat: ship the hotfix tonight (failed gates: auc >= champion"
    )


@pytest.fixture
def registry_with_packages(local: LocalBackend) -> LocalBackend:
    """Two groups with evaluated packages (no training: the records are written directly)."""
    local.objects.put_object(
        "s3://smgha-local/eval/good.json",
        json.dumps(
            {
                "binary_classification_metrics": {
                    "accuracy": {"value": 0.9},
                    "auc": {"value": 0.93},
                    "f1": {"value": 0.72},
                }
            }
        ).encode(),
    )
    for group in (GROUP, "other-models"):
        local.registry.create_model_package({
            "ModelPackageGroupName": group,
            "InferenceSpecification": {"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]},
            "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://smgha-local/eval/good.json"}}},
        })  # fmt: skip
    return local


def _arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:000000000000:model-package/{group}/{version}"


def _registry_files(backend: LocalBackend) -> dict[str, str]:
    return {
        str(p.relative_to(backend.root)): p.read_text()
        for p in sorted((backend.root / "registry").rglob("*.json"))
    }


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"rules": "accuracy ≥ 0.8"}, "rules", "cannot read the rule"),
        ({"rules": "rmse <= 3"}, "rules", "the evaluation has no metric 'rmse'"),
        (
            {"model-package-group": "nope"},
            "model-package-group",
            "there is no model package group 'nope'",
        ),
        (
            {"model-package-arn": _arn("other-models", 1)},
            "model-package-arn",
            "belongs to group 'other-models', not 'churn-models'",
        ),
        ({"model-package-arn": _arn(GROUP, 9)}, "model-package-arn", "there is no model package"),
        ({"force": "true"}, "force-reason", "is required with force: true"),
        # The input a workflow wires is named, not model-package-arn.
        (
            {"model-package-arn": ""},
            "execution-arn",
            "is empty, and so are model-package-arn and model-data-url: no candidate to gate",
        ),
        (
            {"model-data-url": "s3://b/m.tar.gz", "model-package-arn": ""},
            "image-uri",
            "is required to register a package",
        ),
        ({"approval": "sometimes"}, "approval", "is not one of auto, manual"),
        # Values of AWS fields, by botocore's model (smgha/aws_values.py).
        (
            {"model-package-group": "churn models"},
            "model-package-group",
            "does not match sagemaker's rule for ArnOrName",
        ),
        (
            {
                "model-data-url": "s3://b/m.tar.gz",
                "model-package-arn": "",
                "image-uri": "my image",
                "metrics": "evaluation.json",
            },
            "image-uri",
            "does not match sagemaker's rule for ContainerImage",
        ),
        ({"metrics": "missing/evaluation.json"}, "metrics", "cannot read"),
    ],
)
def test_bad_input_is_one_error_and_changes_nothing_in_the_registry(
    registry_with_packages: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    before = _registry_files(registry_with_packages)
    inputs = {"model-package-arn": _arn(GROUP, 1), **overrides}

    result = gate(**inputs)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0]
    assert _registry_files(registry_with_packages) == before


BUILD_EXECUTION = f"arn:aws:sagemaker:{REGION}:000000000000:pipeline/churn/execution/abc123"


@pytest.mark.parametrize("group", [GROUP, "churn-model"])  # another group; a misspelt one
def test_a_build_registered_in_another_group_is_judged_and_the_hint_names_its_group(
    registry_with_packages: LocalBackend, monkeypatch: pytest.MonkeyPatch, group: str
) -> None:
    # The build's register step put its package in other-models (still pending).
    built = _arn("other-models", 1)
    steps = [
        StepRecord("RegisterModel-Churn", "Succeeded", metadata={"RegisterModel": {"Arn": built}})
    ]
    monkeypatch.setattr(LocalPipelines, "list_steps", lambda self, arn: steps)
    before = _registry_files(registry_with_packages)

    result = gate(BUILD_EXECUTION, **{"model-package-group": group})

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'model-package-group'" in result.errors[0]
    assert f"registered {built} in group 'other-models'" in result.errors[0]
    assert "Set model-package-group: other-models" in result.errors[0]
    assert "then build again (this version is rejected as not gated)" in result.errors[0]
    assert "Create it" not in result.errors[0]
    # No unjudged version is left behind: it is rejected, with the reason; nothing else changed.
    record = registry_with_packages.registry.describe_model_package(built)
    assert record is not None and record["ModelApprovalStatus"] == "Rejected"
    assert record["ApprovalDescription"].startswith(
        f"not gated: register-and-gate was run for group {group!r}, not 'other-models'"
    )
    changed = {k for k, v in _registry_files(registry_with_packages).items() if before.get(k) != v}
    assert changed == {"registry/other-models/1.json"}


def test_from_a_terminal_in_a_clone_the_lineage_records_the_commit_from_git(
    registry_with_packages: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    git = [
        "git",
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run([*git, "init", "-q"], cwd=clone, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=clone, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(clone)
    inputs = {
        "backend": "local",
        "model-package-group": GROUP,
        "model-package-arn": _arn(GROUP, 1),
        "rules": "accuracy >= 0.6",
    }

    result = run_main(register_and_gate.main, inputs)  # no GITHUB_* variables: a terminal

    assert result.code == 0, result.log
    record = registry_with_packages.registry.describe_model_package(_arn(GROUP, 1))
    assert record is not None
    assert customer_metadata.read_lineage(record["CustomerMetadataProperties"])["git-sha"] == head


def test_a_rejected_package_is_not_approved_again(registry_with_packages: LocalBackend) -> None:
    registry_with_packages.registry.update_model_package(
        _arn(GROUP, 1), approval_status="Rejected", approval_description="auc fell"
    )
    before = _registry_files(registry_with_packages)

    result = gate(**{"model-package-arn": _arn(GROUP, 1)})

    assert result.code == 1
    assert (
        "is Rejected (auc fell)" in result.errors[0]
        and "register a new version" in result.errors[0]
    )
    assert _registry_files(registry_with_packages) == before


def test_manual_approval_leaves_a_passing_model_pending(
    registry_with_packages: LocalBackend,
) -> None:
    result = gate(**{"model-package-arn": _arn(GROUP, 1), "approval": "manual"})

    assert result.code == 0, result.log
    assert result.outputs["decision"] == "pending"
    record = registry_with_packages.registry.describe_model_package(_arn(GROUP, 1))
    assert record is not None and record["ModelApprovalStatus"] == "PendingManualApproval"
    assert record["ApprovalDescription"].startswith(
        "gates passed, awaiting manual approval: accuracy: 0.9 >= 0.6"
    )


def test_a_model_without_a_register_step_is_registered_from_its_artifact(
    registry_with_packages: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evaluation.json").write_text(
        json.dumps(
            {
                "binary_classification_metrics": {
                    "accuracy": {"value": 0.85},
                    "auc": {"value": 0.91},
                    "f1": {"value": 0.7},
                }
            }
        )
    )
    monkeypatch.chdir(tmp_path)  # the workspace: metrics is a path in it

    result = gate(
        **{
            "model-data-url": "s3://smgha-local/m2.tar.gz",
            "image-uri": "xgboost:1.7-1",
            "metrics": "evaluation.json",
        }
    )

    assert result.code == 0, result.log
    assert result.outputs["model-package-version"] == "2"
    record = registry_with_packages.registry.describe_model_package(
        result.outputs["model-package-arn"]
    )
    assert record is not None
    assert (
        record["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        == "s3://smgha-local/m2.tar.gz"
    )
    assert record["MetadataProperties"]["CommitId"] == GITHUB_CONTEXT["GITHUB_SHA"]
    assert record["ModelApprovalStatus"] == "Approved"  # no champion yet in this group

    # It has no statistics URI: the next candidate is compared with the metrics recorded on it.
    (tmp_path / "evaluation.json").write_text(
        json.dumps(
            {
                "binary_classification_metrics": {
                    "accuracy": {"value": 0.85},
                    "auc": {"value": 0.85},
                    "f1": {"value": 0.7},
                }
            }
        )
    )
    next_one = gate(
        **{
            "model-data-url": "s3://smgha-local/m3.tar.gz",
            "image-uri": "xgboost:1.7-1",
            "metrics": "evaluation.json",
        }
    )
    assert next_one.outputs["decision"] == "rejected"
    assert next_one.outputs["champion-arn"] == result.outputs["model-package-arn"]
    assert "auc >= champion - 0.01: 0.85 < 0.9 (champion 0.91 - 0.01)" in next_one.errors[0]


def test_the_registry_cli_lists_versions_with_metrics_and_lineage(
    registry_with_packages: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    from smgha import cli

    assert gate(**{"model-package-arn": _arn(GROUP, 1)}).code == 0
    assert cli.main(["registry", "list", "--backend", "local", "--group", GROUP]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0] == "churn-models: 1 version(s), newest first"
    assert listing[1].split() == [
        "version",
        "status",
        "created",
        "accuracy",
        "auc",
        "f1",
        "hourly_cost",  # of serving-instance-type's default, ml.m5.large (issue 20)
        "gate",
        "commit",
    ]
    assert listing[2].split()[:2] == ["1", "Approved"] and listing[2].split()[-4:] == [
        "0.72",
        "0.115",
        "passed",
        "01234567",
    ]
    assert (
        cli.main(
            ["registry", "describe", "--backend", "local", "--model-package-arn", _arn(GROUP, 1)]
        )
        == 0
    )
    described = capsys.readouterr().out
    assert (
        "status:      Approved" in described
        and "run-url: https://github.com/acme/churn/actions/runs/4242/attempts/1" in described
    )
    assert cli.main(["registry", "list", "--backend", "local", "--group", "nope"]) == 1


def test_the_registry_cli_prints_json_and_names_the_state_folder_it_looked_in(
    registry_with_packages: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    from smgha import cli

    assert gate(**{"model-package-arn": _arn(GROUP, 1)}).code == 0
    capsys.readouterr()
    assert cli.main(["registry", "list", "--backend", "local", "--group", GROUP, "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [(v["ModelPackageArn"], v["ModelApprovalStatus"]) for v in versions] == [
        (_arn(GROUP, 1), "Approved")
    ]
    assert versions[0]["Lineage"]["git-sha"] == GITHUB_CONTEXT["GITHUB_SHA"]
    assert versions[0]["Lineage"]["gate"] == "passed"

    # A group that is not there: the message names the folder looked in, and how to change it.
    assert cli.main(["registry", "list", "--backend", "local", "--group", "nope"]) == 1
    error = capsys.readouterr().out
    assert f"state folder {registry_with_packages.root};" in error
    assert "SMGHA_STATE_DIR" in error


def test_the_registry_cli_finds_the_version_a_commit_built(
    registry_with_packages: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the deploy template's resolve job runs after a build: the newest version recorded
    as built from that commit, with that status; nothing (exit 0) when none is."""
    from smgha import cli

    assert gate(**{"model-package-arn": _arn(GROUP, 1)}).code == 0
    capsys.readouterr()
    sha = "0123456789abcdef0123456789abcdef01234567"
    find = ["registry", "find", "--backend", "local", "--group", GROUP, "--git-sha"]
    assert cli.main([*find, sha, "--status", "Approved"]) == 0
    assert capsys.readouterr().out == _arn(GROUP, 1) + "\n"
    written = registry_with_packages.root / "found-arn"
    assert cli.main([*find, sha, "--output-file", str(written)]) == 0
    assert written.read_text() == _arn(GROUP, 1)
    capsys.readouterr()
    assert cli.main([*find, "e" * 40, "--output-file", str(written)]) == 0
    assert written.read_text() == ""
    assert cli.main([*find, sha, "--status", "Rejected"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main([*find, "f" * 40]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main([*find, sha[:8]]) == 1
    assert "not a full commit sha" in capsys.readouterr().out
    assert (
        cli.main(["registry", "find", "--backend", "local", "--group", "nope", "--git-sha", sha])
        == 1
    )
    assert "no model package group 'nope'" in capsys.readouterr().out


# ---- the sagemaker backend against a moto server ---------------------------------------------


def _moto_package(
    sagemaker: Any, s3: Any, name: str, metrics: dict[str, float], status: str
) -> str:
    body = {"binary_classification_metrics": {k: {"value": v} for k, v in metrics.items()}}
    s3.put_object(Bucket="models", Key=f"{name}.json", Body=json.dumps(body).encode())
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": f"s3://models/{name}.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://models/{name}.json",
                }
            }
        },
    )["ModelPackageArn"]


@pytest.fixture
def moto_registry(aws_env: None) -> tuple[Any, str, str]:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="models")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    champion = _moto_package(
        sagemaker, s3, "champion", {"accuracy": 0.86, "auc": 0.90, "f1": 0.70}, "Approved"
    )
    challenger = _moto_package(
        sagemaker,
        s3,
        "challenger",
        {"accuracy": 0.87, "auc": 0.88, "f1": 0.71},
        "PendingManualApproval",
    )
    return sagemaker, champion, challenger


def _sagemaker_gate(**inputs: str) -> Any:
    return run_main(
        register_and_gate.main,
        {
            "backend": "sagemaker",
            "region": REGION,
            "model-package-group": GROUP,
            "rules": RULES,
            **inputs,
        },
        **GITHUB_CONTEXT,
    )


def test_sagemaker_rejects_a_challenger_that_regresses_against_the_champion(
    moto_registry: tuple[Any, str, str],
) -> None:
    sagemaker, champion, challenger = moto_registry

    result = _sagemaker_gate(**{"model-package-arn": challenger, "fail-on-reject": "false"})

    assert result.code == 0, result.log  # told not to fail
    assert result.outputs["decision"] == "rejected" and result.outputs["champion-arn"] == champion
    assert "model rejected" in result.warnings[0]
    described = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert (
        described["ApprovalDescription"]
        == "rejected by gates: auc >= champion - 0.01: 0.88 < 0.89 (champion 0.9 - 0.01)"
    )
    assert described["CustomerMetadataProperties"]["smgha:gate"] == "failed"
    assert (
        sagemaker.describe_model_package(ModelPackageName=champion)["ModelApprovalStatus"]
        == "Approved"
    )


def test_sagemaker_approves_a_challenger_within_the_allowed_regression(
    moto_registry: tuple[Any, str, str],
) -> None:
    sagemaker, champion, challenger = moto_registry

    result = _sagemaker_gate(
        **{"model-package-arn": challenger, "rules": "accuracy >= 0.8\nauc >= champion - 3%"}
    )

    assert result.code == 0, result.log
    assert (
        result.outputs["decision"] == "approved" and result.outputs["model-package-version"] == "2"
    )
    described = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"]["smgha:git-sha"] == GITHUB_CONTEXT["GITHUB_SHA"]


def test_sagemaker_bad_input_changes_nothing(moto_registry: tuple[Any, str, str]) -> None:
    sagemaker, _champion, challenger = moto_registry
    before = sagemaker.describe_model_package(ModelPackageName=challenger)

    for inputs in (
        {"model-package-arn": challenger, "rules": "rmse <= 3"},
        {"model-package-arn": challenger, "model-package-group": "missing"},
    ):
        result = _sagemaker_gate(**inputs)
        assert result.code == 1 and len(result.errors) == 1

    after = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert after["ModelApprovalStatus"] == before["ModelApprovalStatus"] == "PendingManualApproval"
    assert after.get("CustomerMetadataProperties") == before.get("CustomerMetadataProperties")


# ---- lineage SageMaker can store -------------------------------------------------------------
# SageMaker allows only [\p{L}\p{Z}\p{N}_.:/=+\-@] in CustomerMetadataProperties keys and values
# (1-128 and 1-256 long, at most 50 entries); botocore and moto check none of it.

FORCE_REASON = "hotfix, see INC-12 (rollback!)"
ACTOR = "dependabot[bot]"
# 60 metrics: two with characters SageMaker refuses in a key, 56 with long dotted paths.
ODD_EVALUATION: dict[str, Any] = {
    "binary_classification_metrics": {
        "accuracy": {"value": 0.91},
        "auc": {"value": 0.93},
        "f1 (macro, weighted)": {"value": 0.7},
        "recall@k[5]#top": {"value": 0.5},
    },
    "per_class": {f"class_{i:02d}": {"precision": 0.5 + i / 200} for i in range(56)},
}


def _odd_lineage() -> dict[str, str]:
    """What the forced gate of ODD_EVALUATION below must record, as read back."""
    table = gates.metric_table(ODD_EVALUATION)
    names = gates.short_names(table)
    return {
        "git-sha": GITHUB_CONTEXT["GITHUB_SHA"],
        "repository": "acme/churn",
        "run-url": "https://github.com/acme/churn/actions/runs/4242/attempts/1",
        **{f"metric:{names[k]}": f"{v:.6g}" for k, v in table.items()},
        # One ml.m5.large (serving-instance-type's default) at the shipped table's price.
        "metric:hourly_cost": "0.115",
        "gate": "forced",
        "forced-by": ACTOR,
        "force-reason": FORCE_REASON,
    }


def _odd_gate(backend_name: str, workspace: Path, **inputs: str) -> Any:
    """register-and-gate of a package registered from an artifact and a local evaluation
    file (so no statistics URI: its metrics live only in the lineage), forced by ACTOR."""
    (workspace / "evaluation.json").write_text(json.dumps(ODD_EVALUATION))
    gate_inputs = {
        "backend": backend_name,
        "region": REGION,
        "model-package-group": GROUP,
        "model-data-url": "s3://models/odd/model.tar.gz",
        "image-uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "metrics": str(workspace / "evaluation.json"),
        "rules": "accuracy >= 0.95\nauc >= champion - 0.01",
        "force": "true",
        "force-reason": FORCE_REASON,
        **inputs,
    }
    return run_main(
        register_and_gate.main,
        gate_inputs,
        **{**GITHUB_CONTEXT, "GITHUB_ACTOR": ACTOR, "GITHUB_WORKSPACE": str(workspace)},
    )


def _assert_storable(calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    assert {operation for _, operation, _ in calls} == {
        "CreateModelPackage",
        "UpdateModelPackage",
    }
    for service, operation, params in calls:
        assert_valid_request(service, operation, params)


def test_sagemaker_stores_a_forced_approval_odd_metric_names_and_60_metrics(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    calls = record_requests(monkeypatch, "CreateModelPackage", "UpdateModelPackage")

    result = _odd_gate("sagemaker", tmp_path)

    assert result.code == 0, result.log
    assert result.outputs["decision"] == "approved"
    _assert_storable(calls)  # what real SageMaker would have refused before
    arn = result.outputs["model-package-arn"]
    record = sagemaker.describe_model_package(ModelPackageName=arn)
    stored = record["CustomerMetadataProperties"]
    assert not shape_problems("sagemaker", "CustomerMetadataMap", stored)
    assert customer_metadata.read_lineage(stored) == _odd_lineage()
    assert stored["smgha:forced-by"] == "dependabot=5Bbot=5D"  # visible, and reversible
    assert stored["smgha:force-reason"] == "hotfix=2C see INC-12 =28rollback=21=29"
    assert stored["smgha:metric:f1 =28macro=2C weighted=29"] == "0.7"
    assert record["ApprovalDescription"].startswith(f"forced by {ACTOR}: {FORCE_REASON} (")

    # The champion comparison reads the metrics back from the lineage, a packed one too.
    calls.clear()
    challenger = _odd_gate(
        "sagemaker",
        tmp_path,
        force="false",
        rules="per_class.class_55.precision >= champion\nauc >= champion",
    )
    assert challenger.code == 0, challenger.log
    assert challenger.outputs["champion-arn"] == arn
    champion_values = [r["champion"] for r in json.loads(challenger.outputs["rules"])]
    assert champion_values == [0.5 + 55 / 200, 0.93]
    _assert_storable(calls)


def test_both_backends_store_the_same_lineage_and_the_cli_decodes_it(
    aws_env: str,
    local: LocalBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from smgha import cli

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    local.registry.ensure_group(GROUP)
    monkeypatch.chdir(tmp_path)

    on_aws = _odd_gate("sagemaker", tmp_path)
    on_disk = _odd_gate("local", tmp_path)

    assert on_aws.code == on_disk.code == 0, on_aws.log + on_disk.log
    aws_record = sagemaker.describe_model_package(
        ModelPackageName=on_aws.outputs["model-package-arn"]
    )
    local_record = local.registry.describe_model_package(on_disk.outputs["model-package-arn"])
    assert local_record is not None
    assert local_record["CustomerMetadataProperties"] == aws_record["CustomerMetadataProperties"]
    assert not shape_problems(
        "sagemaker", "CustomerMetadataMap", local_record["CustomerMetadataProperties"]
    )
    capsys.readouterr()
    arn = on_disk.outputs["model-package-arn"]
    assert cli.main(["registry", "describe", "--backend", "local", "--model-package-arn", arn]) == 0
    described = capsys.readouterr().out
    assert f"forced-by: {ACTOR}" in described and f"force-reason: {FORCE_REASON}" in described
    assert "f1 (macro, weighted)=0.7" in described and "class_55.precision=0.775" in described
    assert cli.main(["registry", "list", "--backend", "local", "--group", GROUP]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[-2:] == ["forced", "01234567"]


AWKWARD_TEXTS = [
    "plain text: stays as it is/with_these.symbols+-@",
    "a=b == =41 =zz %20 50%",  # the escape character itself, and what looks like escapes
    "line one\nline two\r\n\ttabbed",
    "émoji 🚀, 中文, Ünïcödé, 𝐀 (outside the BMP), ½ ² Ⅻ",
    "x" * 256,
    "y" * 257,
    "(" * 300,  # each one 3 characters once encoded: split in four
    "€" * 100 + "💥" * 50,  # escapes of 3 and 4 bytes across the part boundaries
]


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_any_text_is_stored_as_sagemaker_allows_and_read_back_as_written(text: str) -> None:
    lineage = {"force-reason": text, f"metric:{text[:40]}": "0.5", "gate": "forced"}

    stored = customer_metadata.storable_lineage(lineage)

    assert not shape_problems("sagemaker", "CustomerMetadataMap", stored.properties)
    assert customer_metadata.read_lineage(stored.properties) == lineage
    assert stored.left_out == ()


def test_values_that_fit_stay_readable_and_legacy_values_read_as_they_are() -> None:
    lineage = {"git-sha": "0" * 40, "run-url": "https://github.com/acme/churn/actions/runs/1"}
    assert customer_metadata.storable_lineage(lineage).properties == {
        f"smgha:{k}": v for k, v in lineage.items()
    }
    # Written before the encoding existed (the local backend stored anything).
    legacy = {"smgha:force-reason": "ship it, now!", "smgha:metric:auc": "0.9", "team": "x"}
    assert customer_metadata.read_lineage(legacy) == {
        "force-reason": "ship it, now!",
        "metric:auc": "0.9",
    }


def _metrics(count: int) -> dict[str, str]:
    return {f"metric:group_{i // 10}.metric_{i:03d}": f"{i / 1000:.6g}" for i in range(count)}


def test_60_metrics_fit_in_50_entries_the_gates_with_a_key_of_their_own() -> None:
    lineage = {"gate": "passed", **_metrics(60), "metric:a very (long) name " + "x" * 150: "1"}

    stored = customer_metadata.storable_lineage(lineage)

    assert not shape_problems("sagemaker", "CustomerMetadataMap", stored.properties)
    assert customer_metadata.read_lineage(stored.properties) == lineage
    assert stored.properties["smgha:metric:group_0.metric_000"] == "0"  # the first: a key each
    assert "smgha:metric:group_5.metric_059" not in stored.properties  # the rest: packed
    assert re.match(  # split: "==<parts>==" first
        r"==\d==group_2.metric_020:0.02 group_2.metric_021:0.021 ",
        stored.properties["smgha:more-metrics"],
    )


def test_a_package_s_own_keys_leave_less_room_and_the_gate_s_metrics_always_fit() -> None:
    own = {f"team:{i}": "x" for i in range(45)}
    lineage = {"gate": "passed", **_metrics(400)}
    required = {"metric:group_0.metric_000", "metric:group_0.metric_001"}

    stored = customer_metadata.storable_lineage(lineage, existing=own, required=required)

    merged = {**own, **stored.properties}
    assert not shape_problems("sagemaker", "CustomerMetadataMap", merged)
    read = customer_metadata.read_lineage(merged)
    assert required <= set(read) and len(stored.left_out) > 0
    assert read["metrics-left-out"] == f"{len(stored.left_out)} of 400"
    assert {f"metric:{name}" for name in stored.left_out} == set(lineage) - set(read)

    crowded = {f"team:{i}": "x" for i in range(49)}
    with pytest.raises(StageError, match="already has 49 of its own") as raised:
        customer_metadata.storable_lineage(lineage, existing=crowded, required=required)
    assert raised.value.title == "Lineage does not fit on the model package"


def test_a_re_run_on_the_same_package_reads_back_as_its_own_lineage() -> None:
    """Keys are merged, never removed: what an earlier run wrote must not leak into the next."""
    first = {"gate": "forced", "forced-by": "octocat", "force-reason": "(" * 600}
    first.update(_metrics(60))
    second = {"gate": "passed", "force-reason": "short", **_metrics(10)}
    second["metric:group_0.metric_001"] = "0.5"  # changed since
    third = {"gate": "passed", **_metrics(40)}

    package = {f"team:{i}": "x" for i in range(5)}
    for lineage in (first, second, third):
        stored = customer_metadata.storable_lineage(lineage, existing=package)
        package.update(stored.properties)
        assert not shape_problems("sagemaker", "CustomerMetadataMap", package)
        assert customer_metadata.read_lineage(package) == lineage


def test_a_force_reason_too_long_to_store_is_an_input_error(
    registry_with_packages: LocalBackend,
) -> None:
    before = _registry_files(registry_with_packages)

    result = gate(
        **{"model-package-arn": _arn(GROUP, 1), "force": "true", "force-reason": "🚀" * 100}
    )

    assert result.code == 1 and len(result.errors) == 1, result.log
    assert "input 'force-reason'" in result.errors[0] and "1200 once encoded" in result.errors[0]
    assert _registry_files(registry_with_packages) == before


def test_sagemaker_stores_a_long_multi_line_reason_on_a_package_with_keys_of_its_own(
    moto_registry: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker, _champion, challenger = moto_registry
    own = {f"team:{i}": "kept" for i in range(40)}
    sagemaker.update_model_package(
        ModelPackageArn=challenger,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=own,
    )
    reason = "Rolled back INC-12:\n" + "the new model's auc (0.88) is fine for now; " * 12
    reason = reason.rstrip()  # inputs are read without surrounding whitespace
    calls = record_requests(monkeypatch, "UpdateModelPackage")

    result = _sagemaker_gate(
        **{"model-package-arn": challenger, "force": "true", "force-reason": reason}
    )

    assert result.code == 0, result.log
    assert [operation for _, operation, _ in calls] == ["UpdateModelPackage"]
    assert_valid_request(*calls[0][:2], calls[0][2])
    record = sagemaker.describe_model_package(ModelPackageName=challenger)
    stored = record["CustomerMetadataProperties"]
    assert {k: v for k, v in stored.items() if k.startswith("team:")} == own
    assert customer_metadata.read_lineage(stored)["force-reason"] == reason
    assert "Rolled back INC-12: the new model" in record["ApprovalDescription"]


# ---- the cost rule (issue 20): hourly_cost, priced from serving-instance-type --------------

COST_RULE = "hourly_cost <= champion + 20%"


@pytest.fixture
def priced_champion(moto_registry: tuple[Any, str, str]) -> tuple[Any, str, str]:
    """The champion as a gate of one ml.m5.large left it: its hourly cost on the package."""
    sagemaker, champion, challenger = moto_registry
    sagemaker.update_model_package(  # moto resets a status not given: given again
        ModelPackageArn=champion,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"smgha:metric:hourly_cost": "0.115"},
    )
    return sagemaker, champion, challenger


def test_a_cost_rule_rejects_a_challenger_that_costs_more_to_serve(
    priced_champion: tuple[Any, str, str],
) -> None:
    sagemaker, champion, challenger = priced_champion
    result = _sagemaker_gate(
        **{
            "model-package-arn": challenger,
            "rules": COST_RULE,
            "serving-instance-count": "2",
            "fail-on-reject": "false",
        }
    )
    assert result.outputs["decision"] == "rejected", result.log
    described = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert described["ApprovalDescription"] == (
        "rejected by gates: hourly_cost <= champion + 20%: 0.23 > 0.138 (champion 0.115 + 20%)"
    )
    # Stored, so the next candidate is held to it when this one is the champion.
    assert described["CustomerMetadataProperties"]["smgha:metric:hourly_cost"] == "0.23"
    assert "| hourly_cost |" in result.summary


def test_a_cost_rule_passes_a_challenger_as_cheap_to_serve(
    priced_champion: tuple[Any, str, str],
) -> None:
    sagemaker, champion, challenger = priced_champion
    result = _sagemaker_gate(**{"model-package-arn": challenger, "rules": COST_RULE})
    assert result.code == 0 and result.outputs["decision"] == "approved", result.log


def test_a_cost_rule_without_a_price_fails_the_gate_with_the_reason_and_changes_nothing(
    priced_champion: tuple[Any, str, str],
) -> None:
    """ml.r5.large is in no table: the cost rule cannot be judged, so it fails, never passes."""
    sagemaker, champion, challenger = priced_champion
    result = _sagemaker_gate(
        **{
            "model-package-arn": challenger,
            "rules": COST_RULE,
            "serving-instance-type": "ml.r5.large",
        }
    )
    assert result.code == 1
    assert "hourly_cost is not known" in result.log and "cost unknown for ml.r5.large" in result.log
    described = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"  # untouched


def test_without_a_cost_rule_an_unknown_price_is_left_out(
    priced_champion: tuple[Any, str, str],
) -> None:
    sagemaker, champion, challenger = priced_champion
    result = _sagemaker_gate(
        **{
            "model-package-arn": challenger,
            "serving-instance-type": "ml.r5.large",
            "rules": "accuracy >= 0.6",
        }
    )
    assert result.code == 0 and result.outputs["decision"] == "approved", result.log
    stored = sagemaker.describe_model_package(ModelPackageName=challenger)
    assert "smgha:metric:hourly_cost" not in stored["CustomerMetadataProperties"]
