"""End to end on the sagemaker backend: the starter templates, run by act, against AWS's double.

The consumer repository's workflows are workflows-templates/model-build.yml and
model-deploy.yml as a release of the library holds them (calling the reusable workflows at
the release tag, resolved from a bare copy of the library repository as GitHub would); the
repository variables are what infra/terraform outputs. No credentials are given to act: each job authenticates
with oidc-auth, its OIDC token minted by the test token issuer and checked by the double's
STS. The double (tests/e2e/aws_double.py) is moto plus what moto lacks; see
tests/e2e/sagemaker_run.py for the sequence: build, the automatic deploy (workflow_run, with
production approved by the emulated reviewer), build, deploy by hand.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest

from tests.e2e import harness
from tests.e2e.sagemaker_run import GROUP, JOB_ROLES, RUNS, SageMakerRun

pytestmark = pytest.mark.slow


def _run(result: SageMakerRun, name: str) -> harness.ActRun:
    run = result.runs.get(name)
    if run is None:
        pytest.fail(f"{name} did not run: an earlier run failed ({sorted(result.runs)})")
    if run.returncode != 0:
        pytest.fail(f"{name} failed (act exit {run.returncode}); log {run.log}:\n{run.tail()}")
    return run


def _calls(result: SageMakerRun, role: str) -> Counter[tuple[str, str]]:
    return Counter((c["service"], c["operation"]) for c in result.calls if c["role"] == role)


def test_the_first_build_registers_and_approves_v1(sagemaker_e2e: SageMakerRun) -> None:
    run = _run(sagemaker_e2e, "build-1")
    assert sagemaker_e2e.arns["build-1"].endswith(f"model-package/{GROUP}/1")
    for step in ("PreprocessData", "TrainModel", "EvaluateModel", "CheckAccuracy", "RegisterModel"):
        assert f"{step}: Succeeded" in run.text, step
    assert "::set-output:: decision=approved" in run.text
    assert "1 passed" in run.text  # the consumer's own tests ran first
    # Each step's time and cost (the double's scripted 120 s and 600 s, at the shipped prices).
    assert "| PreprocessData | 1 × ml.m5.xlarge | 120 s | 120 s | – | $0.0077 |" in run.text
    assert "| TrainModel | 1 × ml.m5.xlarge | 600 s | 600 s | spot: off | $0.0383 |" in run.text
    assert "| **Total** |  |  |  |  | **$0.0537** |" in run.text
    build = _calls(sagemaker_e2e, JOB_ROLES["build"])
    assert build[("sagemaker", "CreatePipeline")] == 1
    assert build[("sagemaker", "StartPipelineExecution")] >= 1


def test_the_second_build_is_judged_against_the_first(sagemaker_e2e: SageMakerRun) -> None:
    run = _run(sagemaker_e2e, "build-2")
    assert sagemaker_e2e.arns["build-2"].endswith(f"model-package/{GROUP}/2")
    assert "::set-output:: decision=approved" in run.text
    assert f"::set-output:: champion-arn={sagemaker_e2e.arns['build-1']}" in run.text
    # The pipeline existed: updated, not created again; a new execution for the new run.
    build = _calls(sagemaker_e2e, JOB_ROLES["build"])
    assert build[("sagemaker", "UpdatePipeline")] == 1
    assert build[("sagemaker", "StartPipelineExecution")] == 2
    statuses = {p["ModelPackageArn"]: p["ModelApprovalStatus"] for p in sagemaker_e2e.packages}
    assert statuses == {
        sagemaker_e2e.arns["build-1"]: "Approved",
        sagemaker_e2e.arns["build-2"]: "Approved",
    }
    lineage = next(
        p for p in sagemaker_e2e.packages if p["ModelPackageArn"] == sagemaker_e2e.arns["build-2"]
    )["CustomerMetadataProperties"]
    assert lineage["smgha:repository"] == "acme/churn-model"
    assert re.fullmatch(r"[0-9a-f]{40}", lineage["smgha:git-sha"])


def _job_finished_at(run: harness.ActRun, suffix: str) -> float:
    for event in run.events:
        if str(event.get("job", "")).rstrip().endswith(suffix) and "jobResult" in event:
            return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
    pytest.fail(f"no end of a job ending in {suffix!r} in {run.log}")


def test_the_automatic_deploy_after_a_build_creates_staging_and_production(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """workflow_run of model-build: resolve finds the version built from the event's head_sha
    through oidc-auth and the registry, and every job checks out that commit, not main's newer
    one (which no longer has the smoke-test payloads)."""
    run = _run(sagemaker_e2e, "deploy-1")
    for job in ("Resolve the model package", "Staging", "Production", "Notify"):
        assert run.job_result(job) == "success", job
    assert f"model package: {sagemaker_e2e.arns['build-1']}" in run.text
    built, newer = sagemaker_e2e.commits["C1"], sagemaker_e2e.commits["C2"]
    checkouts = re.findall(r"stand-in checkout: ([0-9a-f]{40})", run.text)
    assert checkouts == [built, built], checkouts  # staging and production
    assert newer not in checkouts
    assert run.text.count("pass  accuracy: ") == 2  # the real model answered both smoke tests
    assert "::notice title=Slack notification skipped::" in run.text
    assert "Creating endpoint churn-staging on churn-staging-v1-" in run.text
    production = _calls(sagemaker_e2e, JOB_ROLES["deploy-production"])
    assert production[("sagemaker", "CreateEndpoint")] == 1
    assert production[("sagemaker", "CreateMonitoringSchedule")] == 1
    assert production[("application-autoscaling", "RegisterScalableTarget")] >= 1
    # resolve read the registry with the build role, outside any environment.
    build = _calls(sagemaker_e2e, JOB_ROLES["build"])
    assert build[("sagemaker", "ListModelPackages")] >= 1


def test_production_waits_for_the_reviewer(sagemaker_e2e: SageMakerRun) -> None:
    """Each deploy's production job was held at its first need of the environment (its OIDC
    exchange for the production role) until the reviewer approved, which it did only after
    that run's staging job succeeded; no production call came before the approval. (The
    stages renew their credentials with new exchanges; each is held and decided too.)"""
    deploys = [_run(sagemaker_e2e, name) for name in ("deploy-1", "deploy-2", "deploy-3")]
    reviews = sagemaker_e2e.reviews
    assert reviews and all(r.approved for r in reviews), reviews
    assert {r.role for r in reviews} == {JOB_ROLES["deploy-production"]}
    production_calls = [
        c["time"] for c in sagemaker_e2e.calls if c["role"] == JOB_ROLES["deploy-production"]
    ]
    for run in deploys:
        staged = _job_finished_at(run, "/Staging")
        ended = _job_finished_at(run, "/Production") + 1  # act logs whole seconds
        held = [r for r in reviews if staged <= r.waiting_at <= ended]
        assert held, f"{run.log}: production was never held for the reviewer"
        first = min(held, key=lambda r: r.waiting_at)
        assert first.waiting_at <= first.decided_at
        window = [t for t in production_calls if staged <= t <= ended]
        assert window and min(window) >= first.decided_at
    # Every hold belongs to one of the deploys' production jobs.
    assert len(reviews) == sum(
        1
        for r in reviews
        for run in deploys
        if _job_finished_at(run, "/Staging")
        <= r.waiting_at
        <= _job_finished_at(run, "/Production") + 1
    )


def test_github_runner_rules_hold_in_every_run(sagemaker_e2e: SageMakerRun) -> None:
    """What GitHub's runner enforces and act does not: no job output carries a masked value
    (GitHub would drop it), and no secret (credentials, OIDC tokens, anything masked) appears
    unmasked in a log line, a job summary or an output."""
    assert set(sagemaker_e2e.violations) == set(RUNS)
    assert sagemaker_e2e.violations == {name: [] for name in sagemaker_e2e.violations}
    masked = [
        e
        for run in sagemaker_e2e.runs.values()
        for e in run.events
        if e.get("command") == "add-mask"
    ]
    assert len(masked) >= 4 * 3  # the scan had credentials to look for


def test_the_second_deploy_updates_both_endpoints_in_place(sagemaker_e2e: SageMakerRun) -> None:
    run = _run(sagemaker_e2e, "deploy-2")
    assert "Skip output" not in run.text
    assert "Updating churn-staging: churn-staging-v1-" in run.text
    assert "Updating churn-production: churn-production-v1-" in run.text
    assert f"::set-output:: previous-model-package-arn={sagemaker_e2e.arns['build-1']}" in run.text
    # The deploy summary's costs: production's 2 × ml.m5.large before and after, and the canary's
    # waits with both fleets up, at the shipped table's prices (named in the summary).
    assert "| Hourly cost | $0.2300 an hour ($167.90 a month) | $0.2300 an hour ($167.90 a month) |" in run.text  # fmt: skip
    assert "| Blue/green window | – | at least $0.0268 (420 s of waits, both fleets) |" in run.text
    assert "prices (USD, on-demand): the project's table" in run.text
    # The monitoring schedule is unchanged by a new model version: described, left alone.
    production_calls = _calls(sagemaker_e2e, JOB_ROLES["deploy-production"])
    assert production_calls[("sagemaker", "CreateMonitoringSchedule")] == 1
    assert production_calls[("sagemaker", "UpdateMonitoringSchedule")] == 0


def test_staging_is_removed_after_the_promotion_keeping_its_endpoint_config(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """REMOVE_STAGING_AFTER_PROMOTION=true (deploy-2 only): after production succeeded, the
    staging role deleted the staging endpoint (still on the config staging deployed), waited
    until it was gone (the double shows it Deleting first), and said what that saves; the
    endpoint config stayed. Without the variable no removal job runs."""
    run = _run(sagemaker_e2e, "deploy-2")
    assert run.job_result("Remove staging") == "success"
    assert _job_finished_at(run, "/Production") <= _job_finished_at(run, "/Remove staging")
    config = re.search(r"Updating churn-staging: churn-staging-v1-\w+ -> (churn-staging-v2-\w+)", run.text)  # fmt: skip
    assert config, "staging was not updated by deploy-2"
    assert (
        f"Deleting endpoint churn-staging; its endpoint config {config[1]} and model are kept"
        in run.text
    )
    assert "Endpoint churn-staging is gone" in run.text
    assert "### Endpoint churn-staging removed" in run.text
    # What it saves, priced by the shipped table (the template's staging: 1 ml.m5.large).
    assert "| churn-staging | AllTraffic: 1 × ml.m5.large | $0.1150 | $83.95 |" in run.text
    assert "staging churn-staging removed after the promotion" in run.text  # notify
    deletions = [
        c
        for c in sagemaker_e2e.calls
        if c["operation"] == "DeleteEndpoint" and c["role"] == JOB_ROLES["deploy-staging"]
    ]
    assert [c["params"]["EndpointName"] for c in deletions] == ["churn-staging"]
    for other in ("deploy-1", "deploy-3"):
        assert _run(sagemaker_e2e, other).job_result("Remove staging") != "success", other


def test_the_next_deploy_creates_staging_again_on_its_kept_endpoint_config(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """deploy-3 deploys v2 again after staging's removal: the staging endpoint is created
    anew on the config deploy-2 kept (found by name: no new config, as a rollback to a removed
    version would be), and production, already on v2, is left as it is."""
    run = _run(sagemaker_e2e, "deploy-3")
    kept = sagemaker_e2e.endpoints["churn-staging"]["EndpointConfigName"]
    assert kept.startswith("churn-staging-v2-")
    assert f"Creating endpoint churn-staging on {kept}" in run.text
    assert "Created endpoint config churn-staging" not in run.text
    assert "churn-production already serves churn-production-v2-" in run.text
    v2 = sagemaker_e2e.arns["build-2"]
    for name in ("churn-staging", "churn-production"):
        assert sagemaker_e2e.endpoints[name]["EndpointStatus"] == "InService"
        assert sagemaker_e2e.endpoints[name]["EndpointConfigName"].startswith(f"{name}-v2-")
        container = sagemaker_e2e.models[name]["PrimaryContainer"]
        assert container["ModelPackageName"] == v2, name
    production = sagemaker_e2e.configs["churn-production"]
    assert production["DataCaptureConfig"]["EnableCapture"] is True
    assert production["DataCaptureConfig"]["DestinationS3Uri"].startswith(
        "s3://acme-churn-mlops/data-capture/"
    )
    staging = _calls(sagemaker_e2e, JOB_ROLES["deploy-staging"])
    assert staging[("sagemaker", "CreateEndpoint")] == 2  # deploy-1, deploy-3
    assert staging[("sagemaker", "UpdateEndpoint")] == 1  # deploy-2
    assert staging[("sagemaker", "CreateEndpointConfig")] == 2  # v1, v2: none in deploy-3
    assert staging[("sagemaker", "DeleteEndpoint")] == 1
    assert any(a.startswith("churn-production") for a in sagemaker_e2e.alarms)
    (target,) = [t for t in sagemaker_e2e.scalable_targets if "churn-production" in t["ResourceId"]]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)


def test_every_aws_call_of_a_job_uses_its_oidc_role(sagemaker_e2e: SageMakerRun) -> None:
    """No static keys: every call but the harness's set-up is signed with credentials that
    oidc-auth got for the job's role (temporary ASIA keys from AssumeRoleWithWebIdentity)."""
    assert sagemaker_e2e.calls, "the double recorded nothing"
    roles = set(JOB_ROLES.values())
    strays = [
        c
        for c in sagemaker_e2e.calls
        if c["role"] not in roles
        and c["access_key"] != "harness"
        and c["operation"] != "AssumeRoleWithWebIdentity"
    ]
    assert strays == []
    signed = [c for c in sagemaker_e2e.calls if c["role"] in roles]
    assert all(c["access_key"].startswith("ASIA") for c in signed)
    assert {c["role"] for c in signed} == roles
    exchanges = [c for c in sagemaker_e2e.calls if c["operation"] == "AssumeRoleWithWebIdentity"]
    assert exchanges and all(c["status"] == 200 for c in exchanges)
    assert sagemaker_e2e.tokens_minted >= len(exchanges)
    assert [c for c in sagemaker_e2e.calls if c["status"] >= 500] == []


def test_no_request_of_the_runs_breaks_the_contract(sagemaker_e2e: SageMakerRun) -> None:
    """Every request the stages sent is one real AWS accepts (tests/aws_contract.py and the
    double's UpdateEndpoint rules), and the double read each one back to its parameters."""
    refused = [c for c in sagemaker_e2e.calls if c.get("refused")]
    assert refused == []
    updates = [c for c in sagemaker_e2e.calls if c["operation"] == "UpdateEndpoint"]
    assert updates and all(c["params"]["EndpointName"] for c in updates)


def test_the_toolkit_is_installed_once_per_extras_and_restored_in_later_jobs(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """Every job has its own runner temp folder (no shared SMGHA_VENV), as on GitHub-hosted
    runners: the root action installs in the first build's test job (extras sdk) and in the
    first resolve job (core), saves each venv with actions/cache, and the ten later jobs
    that need a toolkit restore it instead of installing."""
    for name in RUNS:
        _run(sagemaker_e2e, name)
    text = "\n".join(run.text for run in sagemaker_e2e.runs.values())
    saved = re.findall(r"Cache saved with key: (smgha-toolkit-\S+)", text)
    restored = re.findall(r"Cache restored from key: (smgha-toolkit-\S+)", text)
    assert len(saved) == 2 and saved[0].endswith("-sdk") and saved[1].endswith("-none"), saved
    # sdk: build-1's build job, build-2's two; core: deploy-1's two, deploy-2's three (with
    # Remove staging), deploy-3's two.
    assert sorted(restored) == sorted([saved[0]] * 3 + [saved[1]] * 7), restored
    assert len(re.findall(r"smgha: installing ", text)) == 2


def test_the_library_is_resolved_from_the_release_not_the_work_tree(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """The templates came from the release tag and call the reusable workflows at it; those
    call every stage action at the commit the release was cut from."""
    release = sagemaker_e2e.release
    assert release is not None
    build = _run(sagemaker_e2e, "build-1")
    assert f"acme/sagemaker-mlops/actions/build-pipeline@{release.code_sha}" in build.text
    template = release.show(release.tag, "workflows-templates/model-build.yml")
    assert f"uses: acme/sagemaker-mlops/.github/workflows/model-build.yml@{release.tag}" in template
    assert "smgha-org" not in template
