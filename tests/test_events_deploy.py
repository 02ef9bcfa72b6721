"""A model-approved event reaching model-deploy (issue 19): the template's resolve step checks
the dispatched ARN with the registry before anything is deployed (an unknown version, one of
another group, one no longer Approved, or no ARN at all fails the run with one clear error),
and the build template says which drift started a retrain. The registry is moto's (the
sagemaker backend, as the template runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha import cli
from tests.test_workflows import TEMPLATES, jobs, run_bash, step_named, triggers
from tests.yaml_files import load

GROUP = "churn-models"


@pytest.fixture
def registry(aws_env: str) -> dict[str, str]:
    """Moto's registry: churn-models/1 Approved, churn-models/2 PendingManualApproval,
    other-models/1 Approved; their ARNs by name."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    arns = {}
    for group, status, name in [
        (GROUP, "Approved", "approved"),
        (GROUP, "PendingManualApproval", "pending"),
        ("other-models", "Approved", "other"),
    ]:
        if name != "pending":
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
        arns[name] = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1", "ModelDataUrl": "s3://models/m.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
    return arns


def describe(arn: str) -> list[str]:
    return ["registry", "describe", "--model-package-arn", arn, "--region", "us-east-1",
            "--require-group", GROUP, "--require-status", "Approved"]  # fmt: skip


def test_the_registry_check_accepts_only_an_approved_version_of_the_group(
    registry: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(describe(registry["approved"])) == 0
    capsys.readouterr()
    assert cli.main(describe(registry["pending"])) == 1
    assert capsys.readouterr().out == (
        f"error: model package {registry['pending']} is PendingManualApproval, not Approved "
        "(its approval changed since the event was sent): approve it again to deploy it\n"
    )
    assert cli.main(describe(registry["other"])) == 1
    assert capsys.readouterr().out == (
        f"error: model package {registry['other']} is of group 'other-models', not "
        "'churn-models': nothing of another group is deployed here\n"
    )
    unknown = registry["approved"].rsplit("/", 1)[0] + "/99"
    assert cli.main(describe(unknown)) == 1
    assert capsys.readouterr().out == f"error: there is no model package {unknown}\n"


def resolve(tmp_path: Path, arn: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The template's resolve step, run by bash as the runner runs it, on a model-approved
    event naming `arn`; the toolkit is this environment's python."""
    step = step_named(TEMPLATES / "model-deploy.yml", "resolve", "resolve")
    output = tmp_path / "github-output"
    output.write_text("")
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "NO_PROXY", "no_proxy"))},
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "SMGHA_PYTHON": sys.executable,
        "SMGHA_STATE_DIR": str(tmp_path / "state"),
        "GITHUB_OUTPUT": str(output),
        "EVENT_NAME": "repository_dispatch",
        "DISPATCHED_ARN": arn,
        "REQUESTED_ARN": "",
        "BUILD_SHA": "",
        "MODEL_PACKAGE_GROUP": GROUP,
    }
    assert {"EVENT_NAME", "DISPATCHED_ARN", "MODEL_PACKAGE_GROUP"} <= set(step["env"])
    assert step["env"]["DISPATCHED_ARN"] == "${{ github.event.client_payload.model_package_arn }}"
    return run_bash(step["run"], env), output.read_text()


def test_a_model_approved_event_deploys_exactly_its_version(
    registry: dict[str, str], tmp_path: Path
) -> None:
    done, output = resolve(tmp_path, registry["approved"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert output == f"model-package-arn={registry['approved']}\n"


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("pending", "is PendingManualApproval, not Approved"),
        ("other", "is of group 'other-models', not 'churn-models'"),
        ("unknown", "there is no model package"),
        ("not-an-arn", "is not a model package version ARN"),
    ],
)
def test_a_stale_unknown_or_foreign_version_fails_before_any_change(
    registry: dict[str, str], tmp_path: Path, which: str, expected: str
) -> None:
    arn = {
        "unknown": registry["approved"].rsplit("/", 1)[0] + "/99",
        "not-an-arn": "latest",
    }.get(which) or registry[which]
    done, output = resolve(tmp_path, arn)
    assert done.returncode == 1
    assert expected in done.stdout
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "nothing deployed" in errors[0]
    assert output == ""  # no ARN: the deploy job (needs: resolve) never starts


def test_the_templates_listen_for_the_two_events() -> None:
    deploy = load(TEMPLATES / "model-deploy.yml")
    assert triggers(deploy)["repository_dispatch"] == {"types": ["model-approved"]}
    condition = deploy["jobs"]["resolve"]["if"]
    # With registry events on, the build's workflow_run deploys nothing: the approval does.
    assert "github.event_name == 'repository_dispatch'" in condition
    assert "vars.DEPLOY_TRIGGER != 'registry-event'" in condition
    build = load(TEMPLATES / "model-build.yml")
    assert triggers(build)["repository_dispatch"] == {"types": ["drift-detected"]}
    assert jobs(TEMPLATES / "model-build.yml")["drift"]["if"] == (
        "github.event_name == 'repository_dispatch'"
    )


def test_the_build_summary_says_which_drift_started_it(tmp_path: Path) -> None:
    (step,) = jobs(TEMPLATES / "model-build.yml")["drift"]["steps"]
    summary = tmp_path / "summary.md"
    payload: dict[str, Any] = {
        "ENDPOINT": "churn-production",
        "FEATURES": "tenure, total_charges",
        "REPORT_URI": "s3://bucket/monitoring/run-0/constraint_violations.json",
        "EXECUTION": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-0",
        "TRIGGER": "schedule",
    }
    assert set(payload) == set(step["env"])
    # A hostile value stays text in the summary file: nothing runs, nothing reaches stdout.
    hostile = {**payload, "FEATURES": "$(touch pwned)`id`\n::add-mask::x"}
    done = run_bash(step["run"], {"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary),
                                  **hostile}, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0 and done.stdout == ""
    assert not (tmp_path / "pwned").exists()
    text = summary.read_text()
    assert "- endpoint: `churn-production`" in text
    assert "- monitoring report: `s3://bucket/monitoring/run-0/constraint_violations.json`" in text
    assert "$(touch pwned)`id`" in text
    summary.write_text("")
    run_bash(
        step["run"], {"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary), **payload}
    )
    assert "- drifting features: `tenure, total_charges`" in summary.read_text()


def test_a_dispatched_deploy_run_is_named_as_the_dispatcher_looks_for_it() -> None:
    from smgha.dispatch.dispatcher import DEPLOY_RUN_NAME

    run_name = load(TEMPLATES / "model-deploy.yml")["run-name"]
    assert run_name == (
        "${{ github.event_name == 'repository_dispatch' && format('model-deploy {0}', "
        "github.event.client_payload.model_package_arn) || '' }}"
    )
    assert DEPLOY_RUN_NAME.format(arn="{0}") == "model-deploy {0}"
