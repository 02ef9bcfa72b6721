"""End to end (issue 19): registry and drift events to GitHub.

* An approval event under act: a model-approved repository_dispatch (the payload the
  dispatcher sends, smgha/dispatch) runs the consumer's deploy workflow, whose resolve job is
  workflows-templates/model-deploy.yml's own script (on the local backend), then the
  library's model-deploy: exactly one deploy of exactly that version to staging and to
  production, and the endpoints serve it. The package is a real XGBoost model registered in
  the local registry (no build run: tests/test_e2e_act.py runs those).
* Three drifting monitoring runs then a fourth, driven through the dispatcher against the
  strict GitHub stand-in (which starts the listening workflow's run on a dispatch, as GitHub
  does) and SageMaker's answers: one retrain, then the budget's notice instead of another
  (tests/test_dispatch.py's sequence, run here with the e2e's repository name).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import harness
from tests.test_dispatch import Aws, aws, drift_at, github, key  # noqa: F401  (fixtures)
from tests.test_workflows import TEMPLATES, step_named

assert harness.ACT.exists(), f"{harness.ACT} is missing: install the test extra (make test does)"
assert shutil.which("git") is not None, "git is missing"

GROUP = "churn-models"
DEPLOY_ON_APPROVAL = "model-deploy-on-approval.yml"


def approval_workflow() -> str:
    """The consumer's deploy-on-approval workflow: the template's repository_dispatch trigger
    and resolve script (its registry reads on the local backend), then the library's deploy
    as the consumer's model-deploy.yml calls it."""
    script = step_named(TEMPLATES / "model-deploy.yml", "resolve", "resolve")["run"]
    assert "registry describe --model-package-arn" in script
    script = script.replace("registry describe ", "registry describe --backend local ")
    consumer = yaml.safe_load((harness.FIXTURE / ".github/workflows/model-deploy.yml").read_text())
    deploy = consumer["jobs"]["deploy"]
    deploy["needs"] = "resolve"
    deploy["if"] = "needs.resolve.outputs.model-package-arn != ''"
    deploy["with"]["model-package-arn"] = "${{ needs.resolve.outputs.model-package-arn }}"
    deploy["with"]["min-accuracy"] = "0.8"
    deploy["with"]["staging-endpoint-name"] = "churn-staging"
    deploy["with"]["production-endpoint-name"] = "churn-production"
    workflow = {
        "name": "model-deploy",
        "on": {"repository_dispatch": {"types": ["model-approved"]}},
        "permissions": {},
        "jobs": {
            "resolve": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 10,
                "permissions": {"contents": "read"},
                "outputs": {"model-package-arn": "${{ steps.resolve.outputs.model-package-arn }}"},
                "steps": [
                    {"uses": "acme/sagemaker-mlops@v1", "with": {"extras": "local"}},
                    {
                        "id": "resolve",
                        "shell": "bash",
                        "env": {
                            "EVENT_NAME": "${{ github.event_name }}",
                            "REQUESTED_ARN": "",
                            "DISPATCHED_ARN": "${{ github.event.client_payload.model_package_arn }}",
                            "BUILD_SHA": "",
                            "MODEL_PACKAGE_GROUP": GROUP,
                        },
                        "run": script,
                    },
                ],
            },
            "deploy": deploy,
        },
    }
    return yaml.safe_dump(workflow, sort_keys=False, width=1000)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("e2e-events")
    release = harness.release_library(base / "library")
    model = base / "model.tar.gz"
    repo = harness.make_consumer_repo(base / "churn-model", model_artifact=model)
    (repo / ".github" / "workflows" / DEPLOY_ON_APPROVAL).write_text(approval_workflow())
    harness.git(repo, "add", "-A")
    harness.git(repo, "commit", "-q", "-m", "deploy on approval")
    state = base / "state"
    env = {"SMGHA_STATE_DIR": str(state), "SMGHA_VENV": str(base / "smgha-venv")}
    try:
        yield {"base": base, "repo": repo, "state": state, "env": env, "release": release,
               "model": model}  # fmt: skip
    finally:
        harness.smgha("endpoints", "stop", "--all", state_dir=state, check=False)


def register(state: Path, model: Path, status: str) -> str:
    """A version of the group in the local registry, serving `model`."""
    import os

    from smgha.backends.local import LocalBackend

    previous = os.environ.get("SMGHA_STATE_DIR")
    os.environ["SMGHA_STATE_DIR"] = str(state)
    try:
        local = LocalBackend(region="us-east-1")
        version = len(local.registry.list_model_packages(GROUP)) + 1
        uri = f"s3://smgha-local/models/v{version}/model.tar.gz"
        local.objects.put_object(uri, model.read_bytes())
        return str(local.registry.create_model_package({
            "ModelPackageGroupName": GROUP, "ModelApprovalStatus": status,
            "InferenceSpecification": {"Containers": [{"Image": "sagemaker-xgboost:1.7-1", "ModelDataUrl": uri}]},
        }))  # fmt: skip
    finally:
        if previous is None:
            os.environ.pop("SMGHA_STATE_DIR", None)
        else:
            os.environ["SMGHA_STATE_DIR"] = previous


@pytest.mark.slow
def test_an_approval_event_deploys_exactly_that_version_once(e2e: dict[str, Any]) -> None:
    first = register(e2e["state"], e2e["model"], "Approved")
    approved = register(e2e["state"], e2e["model"], "Approved")  # the newest: not the one asked
    assert first != approved
    run = harness.run_act(
        e2e["repo"], "repository_dispatch", DEPLOY_ON_APPROVAL, release=e2e["release"],
        log=e2e["base"] / "approval.log", env=e2e["env"],
        event_payload={"action": "model-approved", "client_payload": {"model_package_arn": first}},
    )  # fmt: skip
    violations = harness.runner_rule_violations(
        run, harness.caller_output_names(e2e["repo"], e2e["release"])
    )
    assert violations == [], "GitHub's runner would differ:\n" + "\n".join(violations)
    assert run.returncode == 0, run.tail()
    text = run.text
    assert f"model package: {first}" in text, run.tail()  # resolve: the event's version
    deploys = re.findall(
        r"Success - Main acme/sagemaker-mlops/actions/deploy-endpoint@[0-9a-f]{40}", text
    )
    assert len(deploys) == 2, run.tail()  # staging and production, once each
    assert "deploy-endpoint: churn-staging" in text and "deploy-endpoint: churn-production" in text
    assert f"model-package-arn={approved}" not in text  # never "the latest"
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    for name in ("churn-staging", "churn-production"):
        assert re.search(rf"^{name}\s+InService\b", endpoints, re.MULTILINE), endpoints


def test_three_drifting_runs_retrain_once_and_a_fourth_does_not(
    github: Any,  # noqa: F811
    aws: Aws,  # noqa: F811
) -> None:
    violations = "CompletedWithViolations"
    assert drift_at(0, [violations], github, aws).startswith("debounced")
    assert drift_at(1, [violations] * 2, github, aws).startswith("debounced")
    assert drift_at(2, [violations] * 3, github, aws, None, ["tenure"]).startswith("dispatched")
    aws.stubs["sns"].add_response("publish", {"MessageId": "1"})
    assert drift_at(3, [violations] * 4, github, aws, None, ["tenure"]).startswith("budget spent")
    retrains = [r for r in github.state.runs if r.event == "repository_dispatch"]
    assert [(r.workflow, len(github.state.dispatches)) for r in retrains] == [
        ("model-build.yml", 1)
    ]
