"""The workflows: the reusable ones (model-build, model-deploy), the release workflow and the
starter templates a consumer copies.

Static checks on every `.github/workflows/*.yml` and `workflows-templates/*.yml`: parsing,
the reusable interfaces, timeouts, permissions, pinning, no expressions in `run:`, that
every use of this library's actions and reusable workflows passes what they declare (and
everything they require), and that every `steps.<id>.outputs.<name>` names an output the
step declares. A few run scripts are also executed with bash the way the runner does
(`bash --noprofile --norc -eo pipefail`), against temporary git repositories and a local
HTTP server: nothing here reaches the network.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from smgha import endpoint_removal_cli
from tests.yaml_files import ROOT, load, rel, strings_in

WORKFLOWS = ROOT / ".github" / "workflows"
TEMPLATES = ROOT / "workflows-templates"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(TEMPLATES.glob("*.yml"))
REUSABLE = [
    WORKFLOWS / "model-build.yml",
    WORKFLOWS / "model-deploy.yml",
    WORKFLOWS / "model-validate.yml",
]
# The reusable workflows' shared steps (composite actions, not stage actions): the jobs of
# model-build.yml and model-validate.yml are each one call of one of them.
SHARED_STEPS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
RELEASE = WORKFLOWS / "release.yml"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*.yml"))

# On main the library names itself with a placeholder that its release rewrites
# (scripts/release.py; tests/test_release.py): owner/repo and the ref `unreleased`.
LIBRARY = "smgha-org/sagemaker-mlops"
PLACEHOLDER_REF = "unreleased"
STAGE_USE = re.compile(rf"^{re.escape(LIBRARY)}/actions/([a-z0-9-]+)@(\S+)$")
WORKFLOW_USE = re.compile(rf"^{re.escape(LIBRARY)}/\.github/workflows/([A-Za-z0-9_.-]+)@(\S+)$")
SHARED_STEPS_USE = re.compile(rf"^{re.escape(LIBRARY)}/\.github/actions/([a-z0-9-]+)@(\S+)$")
PINNED_USE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^\s'\"#]+)")
STEPS_REFERENCE = re.compile(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
JOBS_REFERENCE = re.compile(r"\bjobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
INPUTS_REFERENCE = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")
OIDC_ACTION = f"{LIBRARY}/actions/oidc-auth@{PLACEHOLDER_REF}"


def ids(paths: list[Path]) -> list[str]:
    return [rel(path) for path in paths]


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:  # a key may be True, not a str
    """`on:` (PyYAML reads the bare key `on` as the boolean True)."""
    value = workflow.get("on", workflow.get(True))
    if isinstance(value, str):
        return {value: None}
    if isinstance(value, list):
        return dict.fromkeys(value)
    assert isinstance(value, dict), "no `on:` triggers"
    return value


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    return load(path).get("jobs") or {}


def library_action(uses: str) -> dict[str, Any] | None:
    """The action.yml behind `smgha-org/sagemaker-mlops/actions/<stage>@unreleased`, else None."""
    match = STAGE_USE.match(uses)
    if not match:
        return None
    path = ROOT / "actions" / match.group(1) / "action.yml"
    assert path.is_file(), f"{uses}: there is no actions/{match.group(1)}/action.yml"
    return load(path)


def library_workflow(uses: str) -> Path | None:
    """The reusable workflow behind `smgha-org/sagemaker-mlops/.github/workflows/<f>@unreleased`."""
    match = WORKFLOW_USE.match(uses)
    if not match:
        return None
    path = WORKFLOWS / match.group(1)
    assert path.is_file(), f"{uses}: there is no .github/workflows/{match.group(1)}"
    return path


def shared_steps(uses: str) -> dict[str, Any] | None:
    """The composite action behind `smgha-org/sagemaker-mlops/.github/actions/<x>@unreleased`."""
    match = SHARED_STEPS_USE.match(uses)
    if not match:
        return None
    path = ROOT / ".github" / "actions" / match.group(1) / "action.yml"
    assert path.is_file(), f"{uses}: there is no .github/actions/{match.group(1)}/action.yml"
    return load(path)


# The only condition the static checks evaluate: a shared step that runs on AWS alone.
ON_SAGEMAKER_ONLY = "inputs.backend == 'sagemaker'"


def job_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps, each call of the shared steps replaced by the steps it runs. A shared
    step `if: inputs.backend == 'sagemaker'` is left out where the call passes another
    backend literally (model-validate.yml's `backend: local`): it can never run there."""
    steps: list[dict[str, Any]] = []
    for step in job.get("steps") or []:
        composite = shared_steps(str(step.get("uses", "")))
        if composite is None:
            steps.append(step)
            continue
        backend = str((step.get("with") or {}).get("backend", ""))
        literal = "${{" not in backend
        steps += [
            inner
            for inner in composite["runs"]["steps"]
            if not (literal and backend != "sagemaker" and inner.get("if") == ON_SAGEMAKER_ONLY)
        ]
    return steps


def uses_oidc(job: dict[str, Any]) -> bool:
    """Whether a job runs oidc-auth: in a step, or in the reusable workflow it calls."""
    if any(step.get("uses") == OIDC_ACTION for step in job_steps(job)):
        return True
    called = library_workflow(job.get("uses", ""))
    return called is not None and any(uses_oidc(j) for j in jobs(called).values())


def reads_artifacts(job: dict[str, Any]) -> bool:
    """Whether a job reads artifacts through the API (the review's champion, or the review to
    post): in a step, or in the reusable workflow it calls."""
    commands = ("review fetch-champion", "review post-comment")
    if any(c in str(step.get("run", "")) for step in job_steps(job) for c in commands):
        return True
    called = library_workflow(job.get("uses", ""))
    return called is not None and any(reads_artifacts(j) for j in jobs(called).values())


def posts_comments(job: dict[str, Any]) -> bool:
    return any("review post-comment" in str(step.get("run", "")) for step in job.get("steps") or [])


def opens_issues(job: dict[str, Any]) -> bool:
    return any(
        "endpoints idle-issue" in str(step.get("run", "")) for step in job.get("steps") or []
    )


def every_job() -> list[tuple[str, str, dict[str, Any]]]:
    return [(rel(path), name, job) for path in WORKFLOW_FILES for name, job in jobs(path).items()]


def library_workflow_calls() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path}:{name}", job)
        for path, name, job in every_job()
        if WORKFLOW_USE.match(str(job.get("uses", "")))
    ]


def run_bash(
    script: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def step_named(path: Path, job: str, name: str) -> dict[str, Any]:
    found = [s for s in job_steps(jobs(path)[job]) if s.get("name") == name or s.get("id") == name]
    assert len(found) == 1, f"{rel(path)} {job}: expected one step {name!r}"
    return found[0]


# ---- parsing and the reusable interfaces ---------------------------------------------------


def test_every_workflow_is_found() -> None:
    names = set(ids(WORKFLOW_FILES))
    assert {
        ".github/workflows/model-build.yml",
        ".github/workflows/model-deploy.yml",
        ".github/workflows/release.yml",
        ".github/workflows/model-validate.yml",
        "workflows-templates/model-build.yml",
        "workflows-templates/model-validate-pr.yml",
        "workflows-templates/model-deploy.yml",
    } <= names


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_workflow_parses(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("name"), "a workflow needs a name"
    assert triggers(workflow)
    assert jobs(path), "no jobs"


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_reusable_inputs_are_typed_and_described(path: Path) -> None:
    call = triggers(load(path)).get("workflow_call")
    assert isinstance(call, dict), "a reusable workflow is `on: workflow_call`"
    inputs = call.get("inputs") or {}
    assert inputs
    for name, spec in inputs.items():
        assert spec.get("type") in ("string", "number", "boolean"), f"input {name} has no type"
        assert str(spec.get("description", "")).strip(), f"input {name} has no description"
        if spec.get("required"):
            assert "default" not in spec, f"required input {name} has a default"
    for name, spec in (call.get("secrets") or {}).items():
        assert str(spec.get("description", "")).strip(), f"secret {name} has no description"


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_reusable_outputs_map_to_job_outputs(path: Path) -> None:
    call = triggers(load(path))["workflow_call"]
    outputs = call.get("outputs") or {}
    assert outputs
    for name, spec in outputs.items():
        assert str(spec.get("description", "")).strip(), f"output {name} has no description"
        refs = JOBS_REFERENCE.findall(str(spec.get("value", "")))
        assert len(refs) == 1, f"output {name} must be one jobs.<job>.outputs.<name>"
        job, output = refs[0]
        assert output in (jobs(path)[job].get("outputs") or {}), f"{job} has no output {output}"


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_reusable_workflows_refer_only_to_declared_inputs(path: Path) -> None:
    declared = set(triggers(load(path))["workflow_call"].get("inputs") or {})
    used = {name for text in strings_in(load(path)) for name in INPUTS_REFERENCE.findall(text)}
    assert used <= declared, f"undeclared inputs: {sorted(used - declared)}"


def test_build_interface() -> None:
    call = triggers(load(WORKFLOWS / "model-build.yml"))["workflow_call"]
    assert {"model-package-arn", "decision", "metrics"} <= set(call["outputs"])
    inputs = call["inputs"]
    assert inputs["backend"]["default"] == "sagemaker"
    assert inputs["definition"]["default"] == "ml.pipeline:get_pipeline"
    assert inputs["test-command"]["default"] == "python -m pytest -q"
    assert inputs["python-version"]["default"] == "3.11"
    assert inputs["approval-mode"]["default"] == "auto"
    build = jobs(WORKFLOWS / "model-build.yml")
    assert build["build"]["needs"] == "test"
    tests = job_steps(build["test"])
    # The tests get the repository's declared dependencies and pytest (setup-python is bare)
    # in the toolkit's venv, with the build job's extras (one cached install for both).
    install = step_named(
        WORKFLOWS / "model-build.yml",
        "test",
        "Install the toolkit and the repository's declared dependencies",
    )
    assert install["uses"] == f"{LIBRARY}@{PLACEHOLDER_REF}"
    assert install["with"]["dependencies"] is True and install["with"]["extra-packages"] == "pytest"
    build_install = step_named(
        WORKFLOWS / "model-build.yml",
        "build",
        "Install the toolkit and the repository's declared dependencies",
    )
    assert install["with"]["extras"] == build_install["with"]["extras"]
    assert build_install["with"]["requirements-file"] == "${{ inputs.requirements-file }}"
    for job, name in (("test", "Run the tests"), ("build", "Prepare")):
        env = step_named(WORKFLOWS / "model-build.yml", job, name)["env"]
        assert env["AWS_DEFAULT_REGION"] == "${{ inputs.region || 'us-east-1' }}"
    assert all(s.get("if") == "inputs.test-command != ''" for s in tests if "run" in s)


@pytest.mark.parametrize(
    ("command", "status", "warned"),
    [
        ("exit 0", 0, False),
        ("exit 1", 1, False),
        ("python -m pytest -q; exit 5", 0, True),  # pytest collected no test
        ("exit 5", 5, False),  # not pytest: its own meaning
        ("python -m pytest -q; exit 1", 1, False),
    ],
)
def test_the_tests_step_passes_a_repository_without_tests(
    command: str, status: int, warned: bool
) -> None:
    script = step_named(WORKFLOWS / "model-build.yml", "test", "Run the tests")["run"]
    fake = ROOT / "tests" / "stage_helpers.py"  # any file: `python -m pytest` is never run
    done = run_bash(
        script, {"TEST_COMMAND": command.replace("python -m pytest -q; ", "true pytest; ")}
    )
    assert done.returncode == status, done.stdout + done.stderr
    assert ("pytest collected no tests" in done.stdout) is warned
    assert fake.exists()


def test_deploy_interface() -> None:
    call = triggers(load(WORKFLOWS / "model-deploy.yml"))["workflow_call"]
    assert call["inputs"]["model-package-arn"]["required"] is True
    assert call["secrets"]["slack-webhook-url"]["required"] is False
    deploy = jobs(WORKFLOWS / "model-deploy.yml")
    assert deploy["staging"]["environment"] == "staging"
    assert deploy["production"]["environment"] == "production"
    assert deploy["production"]["needs"] == "staging"
    assert deploy["notify"]["if"] == "always()"
    assert set(deploy["notify"]["needs"]) == {"staging", "production", "remove-staging"}
    staging_smoke = step_named(WORKFLOWS / "model-deploy.yml", "staging", "smoke")
    assert (
        staging_smoke["with"]["rollback-endpoint-config"]
        == "${{ steps.deploy.outputs.previous-endpoint-config-name }}"
    )
    production = [
        s.get("uses", "").split("@")[0].rsplit("/", 1)[-1] for s in deploy["production"]["steps"]
    ]
    # The stages in order (each stage's artifact upload follows it: test_workflow_artifacts.py).
    assert [name for name in production if name != "upload-artifact"][-5:] == [
        "oidc-auth",
        "deploy-endpoint",
        "shadow-test",  # only with production-shadow
        "smoke-test",
        "enable-monitor",
    ]
    assert production[-1] == "upload-artifact"
    # The commit the model was built from, and the gate for plans without required reviewers.
    assert call["inputs"]["ref"]["default"] == ""
    assert deploy["production"]["if"] == "inputs.deploy-production"
    for job in ("staging", "production"):
        checkout = next(s for s in deploy[job]["steps"] if "checkout" in s.get("uses", ""))
        assert checkout["with"]["ref"] == "${{ inputs.ref }}"
    prod_deploy = step_named(WORKFLOWS / "model-deploy.yml", "production", "deploy")["with"]
    assert {"autoscaling-min-instances", "autoscaling-max-instances", "alarms"} <= set(prod_deploy)


# ---- jobs: timeouts, permissions, concurrency ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "job"), every_job(), ids=[f"{p}:{n}" for p, n, _ in every_job()]
)
def test_every_job_has_a_timeout(path: str, name: str, job: dict[str, Any]) -> None:
    if "uses" in job:
        # A job that calls a reusable workflow cannot set one; the called jobs all have one.
        assert "timeout-minutes" not in job
        return
    timeout = job.get("timeout-minutes")
    assert isinstance(timeout, int) and 0 < timeout <= 360, f"{name}: timeout-minutes {timeout!r}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_top_level_permissions_are_empty_or_read_only(path: Path) -> None:
    workflow = load(path)
    assert "permissions" in workflow, "declare top-level permissions"
    permissions = workflow["permissions"]
    if isinstance(permissions, str):
        assert permissions == "read-all"
    else:
        assert all(value in ("read", "none") for value in (permissions or {}).values())


@pytest.mark.parametrize(
    ("path", "name", "job"), every_job(), ids=[f"{p}:{n}" for p, n, _ in every_job()]
)
def test_job_permissions(path: str, name: str, job: dict[str, Any]) -> None:
    # A job without its own permissions gets the (empty or read-only) top-level ones.
    permissions = job.get("permissions", load(ROOT / path).get("permissions"))
    assert isinstance(permissions, dict), f"{name}: declare the job's permissions"
    if path == rel(RELEASE):
        assert permissions == {"contents": "write"}
        return
    if posts_comments(job):
        # The privileged half of the review (workflow_run): no checkout, so no contents.
        assert permissions == {"actions": "read", "pull-requests": "write"}
        return
    if opens_issues(job):
        # The idle-endpoints issue: no checkout, no AWS credentials, the issue only.
        assert permissions == {"issues": "write"}
        assert not uses_oidc(job)
        return
    allowed = {"contents": "read"}
    if uses_oidc(job):
        allowed["id-token"] = "write"
    if reads_artifacts(job):
        allowed["actions"] = "read"
    assert permissions == allowed, (
        f"{name}: id-token: write only where oidc-auth runs, actions: read only where the "
        "review reads artifacts (and in their callers: GitHub refuses to start a called "
        "workflow whose jobs ask for more than the caller grants)"
    )


def test_id_token_check_sees_oidc_jobs() -> None:
    oidc = {(path, name) for path, name, job in every_job() if uses_oidc(job)}
    assert {
        (".github/workflows/model-build.yml", "build"),
        (".github/workflows/model-deploy.yml", "staging"),
        (".github/workflows/model-deploy.yml", "production"),
        ("workflows-templates/model-build.yml", "build"),
        ("workflows-templates/model-deploy.yml", "deploy"),
    } <= oidc
    assert (".github/workflows/model-build.yml", "test") not in oidc
    # model-validate.yml calls the same shared steps with `backend: local`: no oidc-auth.
    assert (".github/workflows/model-validate.yml", "build") not in oidc
    assert ("workflows-templates/model-validate-pr.yml", "validate") not in oidc


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_oidc_steps_only_on_the_sagemaker_backend(path: Path) -> None:
    for job in jobs(path).values():
        for call in job.get("steps") or []:
            if shared_steps(call.get("uses", "")) is not None:
                assert call["with"]["backend"] in ("${{ inputs.backend }}", "local")
        for step in job_steps(job):
            if step.get("uses") == OIDC_ACTION:
                assert step.get("if") == "inputs.backend == 'sagemaker'"
            if library_action(step.get("uses", "")) and "backend" in (
                library_action(step["uses"]) or {}
            ).get("inputs", {}):
                assert step["with"]["backend"] == "${{ inputs.backend }}", "pass backend through"


# GitHub checks, before a called workflow starts, that none of its jobs asks for more than
# the calling job grants; the check reads every job's `permissions`, whatever its `if:`
# ("The nested job 'build' is requesting 'id-token: write', but is only allowed 'id-token:
# none'": docs, "Reusing workflow configurations", access and permissions for nested
# workflows; stepbrobd/atelier#13 hits it for a job its caller never runs). A fork's (and
# Dependabot's) pull request gets a read-only token whatever the workflow asks for (GitHub
# changelog 2021-04-20, "Control permissions for GITHUB_TOKEN"): each write is read, and
# id-token, which has no read level (github/docs#33483), is none. Whether GitHub applies
# that downgrade before the nested check is unconfirmed (research F9): the stricter reading.
PERMISSION_LEVELS = {"none": 0, "read": 1, "write": 2}


def fork_grant(permissions: dict[str, str]) -> dict[str, str]:
    """What a calling job's `permissions` become on a fork's pull request."""
    downgraded = {"write": "read", "read": "read", "none": "none"}
    return {
        scope: "none" if scope == "id-token" else downgraded[level]
        for scope, level in permissions.items()
    }


def nested_permission_refusals(called: Path, grant: dict[str, str]) -> list[str]:
    """GitHub's refusals to start `called` for a caller granting `grant` (empty: it starts)."""
    refusals = []
    for name, job in jobs(called).items():
        asked = job.get("permissions", load(called).get("permissions")) or {}
        for scope, level in asked.items():
            allowed = grant.get(scope, "none")
            if PERMISSION_LEVELS[level] > PERMISSION_LEVELS[allowed]:
                refusals.append(
                    f"The nested job '{name}' is requesting '{scope}: {level}', "
                    f"but is only allowed '{scope}: {allowed}'"
                )
    return refusals


def runs_on_pull_requests(path: Path) -> bool:
    return bool({"pull_request", "pull_request_target"} & set(triggers(load(path))))


@pytest.mark.parametrize(
    ("where", "job"), library_workflow_calls(), ids=[w for w, _ in library_workflow_calls()]
)
def test_every_caller_grants_what_the_called_jobs_ask(where: str, job: dict[str, Any]) -> None:
    path = ROOT / where.split(":")[0]
    called = library_workflow(job["uses"])
    assert called is not None
    grant = job.get("permissions", load(path).get("permissions")) or {}
    assert nested_permission_refusals(called, grant) == []
    if runs_on_pull_requests(path):
        # A fork's pull request must start it too (the review of forks, docs/review.md).
        assert nested_permission_refusals(called, fork_grant(grant)) == []


def test_the_nested_permission_check_refuses_model_build_to_a_fork() -> None:
    """Why pull requests call model-validate.yml: the grant model-build.yml needs, downgraded
    for a fork, is refused at startup (the check above can fail, and fails here)."""
    grant = {"contents": "read", "id-token": "write", "actions": "read"}
    assert nested_permission_refusals(WORKFLOWS / "model-build.yml", grant) == []
    assert fork_grant(grant) == {"contents": "read", "id-token": "none", "actions": "read"}
    assert nested_permission_refusals(WORKFLOWS / "model-build.yml", fork_grant(grant)) == [
        "The nested job 'build' is requesting 'id-token: write', but is only allowed 'id-token: none'"
    ]
    assert nested_permission_refusals(WORKFLOWS / "model-validate.yml", fork_grant(grant)) == []
    # Without the grant the review needs, even a same-repository pull request is refused.
    assert nested_permission_refusals(WORKFLOWS / "model-validate.yml", {"contents": "read"}) == [
        "The nested job 'build' is requesting 'actions: read', but is only allowed 'actions: none'"
    ]


def test_model_validate_is_model_build_on_the_local_backend() -> None:
    """model-validate.yml is model-build.yml without the AWS-only inputs, backend local: the
    same inputs (type, default), outputs, jobs and shared steps, called the same way."""
    build_call = triggers(load(WORKFLOWS / "model-build.yml"))["workflow_call"]
    validate_call = triggers(load(WORKFLOWS / "model-validate.yml"))["workflow_call"]
    aws_only = {
        "backend", "region", "role-to-assume", "execution-role-arn", "default-bucket",
        "execution-arn", "from-step", "source-execution-arn",
    }  # fmt: skip
    assert set(build_call["inputs"]) - set(validate_call["inputs"]) == aws_only
    for name, spec in validate_call["inputs"].items():
        same = {k: v for k, v in build_call["inputs"][name].items() if k != "description"}
        assert {k: v for k, v in spec.items() if k != "description"} == same, name
    assert validate_call["outputs"] == build_call["outputs"]
    build_jobs, validate_jobs = (
        jobs(WORKFLOWS / "model-build.yml"),
        jobs(WORKFLOWS / "model-validate.yml"),
    )
    assert set(validate_jobs) == set(build_jobs) == {"test", "build"}
    for name, job in validate_jobs.items():
        (call,) = job["steps"]
        (build_step,) = build_jobs[name]["steps"]
        assert call["uses"] == build_step["uses"] and shared_steps(call["uses"]) is not None
        assert call["with"] == {
            **{k: v for k, v in build_step["with"].items() if k not in aws_only},
            "backend": "local",
        }
        for key in ("needs", "outputs", "runs-on"):
            assert job.get(key) == build_jobs[name].get(key), (name, key)


@pytest.mark.parametrize(
    ("path", "job", "key"),
    [
        (WORKFLOWS / "model-build.yml", "build", "inputs.pipeline-name"),
        (WORKFLOWS / "model-deploy.yml", "staging", "inputs.staging-endpoint-name"),
        (WORKFLOWS / "model-deploy.yml", "production", "inputs.production-endpoint-name"),
    ],
    ids=["build", "staging", "production"],
)
def test_concurrency_per_pipeline_and_endpoint(path: Path, job: str, key: str) -> None:
    concurrency = jobs(path)[job].get("concurrency")
    assert isinstance(concurrency, dict)
    assert key in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_release_concurrency() -> None:
    concurrency = load(RELEASE)["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False


# ---- uses: pinning and this library's actions and workflows -------------------------------


def uses_lines(path: Path) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        match = USES_LINE.match(line)
        if match:
            found.append((number, match.group(1), line))
    return found


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + SHARED_STEPS, ids=ids(WORKFLOW_FILES + SHARED_STEPS)
)
def test_third_party_actions_are_pinned_by_sha(path: Path) -> None:
    for number, uses, line in uses_lines(path):
        if uses.startswith(("./", "docker://")):
            continue
        if uses.startswith((f"{LIBRARY}/", f"{LIBRARY}@")):  # a stage action, or the root one
            assert uses.endswith(f"@{PLACEHOLDER_REF}"), (
                f"line {number}: this library as the release's placeholder @{PLACEHOLDER_REF}"
            )
            continue
        assert PINNED_USE.match(line), (
            f"line {number}: pin {uses} by a 40-hex SHA with a # vX comment"
        )


def test_pinning_check_would_catch_a_tag() -> None:
    assert not PINNED_USE.match("      - uses: actions/checkout@v4")
    assert not PINNED_USE.match(
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
    )
    assert PINNED_USE.match(
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
    )


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_checkout_does_not_persist_credentials(path: Path) -> None:
    for job in jobs(path).values():
        for step in job_steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_no_expression_inside_any_run_script(path: Path) -> None:
    for name, job in jobs(path).items():
        for number, step in enumerate(job_steps(job), start=1):
            assert "${{" not in str(step.get("run", "")), f"{name} step {number}: map through env:"


def library_step_uses() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in WORKFLOW_FILES:
        for name, job in jobs(path).items():
            for number, step in enumerate(job_steps(job), start=1):
                if STAGE_USE.match(str(step.get("uses", ""))):
                    found.append(
                        (f"{rel(path)}:{name}:{step.get('id', number)}", step["uses"], step)
                    )
    return found


@pytest.mark.parametrize(
    ("where", "uses", "step"), library_step_uses(), ids=[w for w, _, _ in library_step_uses()]
)
def test_library_action_inputs(where: str, uses: str, step: dict[str, Any]) -> None:
    action = library_action(uses)
    assert action is not None
    declared = action.get("inputs") or {}
    given = set(step.get("with") or {})
    assert given <= set(declared), f"undeclared inputs: {sorted(given - set(declared))}"
    required = {n for n, spec in declared.items() if spec.get("required") and "default" not in spec}
    assert required <= given, f"missing required inputs: {sorted(required - given)}"


def test_every_stage_action_is_used() -> None:
    used = {STAGE_USE.match(uses).group(1) for _, uses, _ in library_step_uses()}  # type: ignore[union-attr]
    assert used == {p.name for p in (ROOT / "actions").iterdir() if (p / "action.yml").is_file()}


@pytest.mark.parametrize(
    ("where", "job"), library_workflow_calls(), ids=[w for w, _ in library_workflow_calls()]
)
def test_library_workflow_calls(where: str, job: dict[str, Any]) -> None:
    called = library_workflow(job["uses"])
    assert called is not None
    call = triggers(load(called))["workflow_call"]
    declared = call.get("inputs") or {}
    given = set(job.get("with") or {})
    assert given <= set(declared), f"undeclared inputs: {sorted(given - set(declared))}"
    required = {n for n, spec in declared.items() if spec.get("required")}
    assert required <= given, f"missing required inputs: {sorted(required - given)}"
    secrets = job.get("secrets") or {}
    assert secrets != "inherit", "pass secrets explicitly"
    assert set(secrets) <= set(call.get("secrets") or {})


def test_templates_call_the_reusable_workflows() -> None:
    calls = {where.split(":")[0]: job["uses"] for where, job in library_workflow_calls()}
    assert calls == {
        "workflows-templates/model-build.yml": f"{LIBRARY}/.github/workflows/model-build.yml@{PLACEHOLDER_REF}",
        "workflows-templates/model-validate-pr.yml": f"{LIBRARY}/.github/workflows/model-validate.yml@{PLACEHOLDER_REF}",
        "workflows-templates/model-deploy.yml": f"{LIBRARY}/.github/workflows/model-deploy.yml@{PLACEHOLDER_REF}",
    }
    assert "pull_request" in triggers(load(TEMPLATES / "model-validate-pr.yml"))
    assert jobs(TEMPLATES / "model-build.yml")["build"]["with"]["backend"] == "sagemaker"
    assert triggers(load(TEMPLATES / "model-build.yml"))["push"]["branches"] == ["main"]


# ---- steps.<id>.outputs.<name> ----------------------------------------------------------


# Toolkit commands that write step outputs themselves (GITHUB_OUTPUT), and which
# (tests/test_idle_report.py checks that idle-report writes these).
CLI_STEP_OUTPUTS = {
    "endpoints idle-report": {"report", "idle-count"},
    "endpoints remove": {endpoint_removal_cli.OUTCOME_OUTPUT},
}


def declared_step_outputs(step: dict[str, Any]) -> set[str] | None:
    """Outputs a step declares: its library action's, or the names a run script writes."""
    action = library_action(str(step.get("uses", ""))) or shared_steps(str(step.get("uses", "")))
    if action is not None:
        return set(action.get("outputs") or {})
    for command, outputs in CLI_STEP_OUTPUTS.items():
        if f"smgha.cli {command}" in str(step.get("run", "")):
            return outputs
    if "run" in step:
        return set(re.findall(r"([A-Za-z0-9_-]+)(?:=|<<)", str(step["run"])))
    return None  # a third-party action: not checked


def jobs_and_shared_steps(path: Path) -> dict[str, dict[str, Any]]:
    """A workflow's jobs; a shared-steps composite as one job (its outputs map to steps)."""
    if path not in SHARED_STEPS:
        return jobs(path)
    action = load(path)
    outputs = {name: spec["value"] for name, spec in (action.get("outputs") or {}).items()}
    return {"runs": {"steps": action["runs"]["steps"], "outputs": outputs}}


def test_step_output_references() -> None:
    checked = 0
    for path in WORKFLOW_FILES + SHARED_STEPS:
        for name, job in jobs_and_shared_steps(path).items():
            outputs: dict[str, set[str] | None] = {}
            for number, step in enumerate(job.get("steps") or [], start=1):
                for text in strings_in({k: v for k, v in step.items() if k != "id"}):
                    for step_id, output in STEPS_REFERENCE.findall(text):
                        where = f"{rel(path)} {name} step {step.get('id', number)}"
                        assert step_id in outputs, (
                            f"{where}: steps.{step_id} is not an earlier step"
                        )
                        known = outputs[step_id]
                        assert known is None or output in known, (
                            f"{where}: {step_id} has no output {output}"
                        )
                        checked += 1
                if step.get("id"):
                    outputs[step["id"]] = declared_step_outputs(step)
            for output_name, value in (job.get("outputs") or {}).items():
                for step_id, output in STEPS_REFERENCE.findall(str(value)):
                    assert step_id in outputs, f"{name}.outputs.{output_name}: no step {step_id}"
                    known = outputs[step_id]
                    assert known is None or output in known, (
                        f"{name}: {step_id} has no output {output}"
                    )
                    checked += 1
    assert checked > 20


# ---- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=ids(TEMPLATE_FILES))
def test_template_properties(path: Path) -> None:
    properties_path = path.with_name(path.stem + ".properties.json")
    assert properties_path.is_file(), f"{rel(path)} has no {properties_path.name}"
    properties = json.loads(properties_path.read_text(encoding="utf-8"))
    assert set(properties) <= {
        "name",
        "description",
        "iconName",
        "categories",
        "filePatterns",
        "creator",
        "labels",
    }
    for key in ("name", "description", "iconName"):
        assert isinstance(properties.get(key), str) and properties[key].strip(), key
    assert isinstance(properties.get("categories"), list) and properties["categories"]
    assert all(isinstance(c, str) and c for c in properties["categories"])
    patterns = properties.get("filePatterns")
    assert isinstance(patterns, list) and patterns
    for pattern in patterns:
        re.compile(pattern)


def test_every_properties_file_has_a_template() -> None:
    for properties in TEMPLATES.glob("*.properties.json"):
        assert properties.with_name(
            properties.name.removesuffix(".properties.json") + ".yml"
        ).is_file()


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=ids(TEMPLATE_FILES))
def test_templates_use_a_literal_branch(path: Path) -> None:
    assert "$default-branch" not in path.read_text(encoding="utf-8")


def test_deploy_template_gets_one_exact_arn() -> None:
    template = load(TEMPLATES / "model-deploy.yml")
    on = triggers(template)
    assert on["workflow_run"]["workflows"] == ["model-build"]
    assert on["workflow_run"]["types"] == ["completed"]
    assert on["workflow_dispatch"]["inputs"]["model-package-arn"]["required"] is True
    resolve = template["jobs"]["resolve"]
    assert "github.event.workflow_run.conclusion == 'success'" in resolve["if"]
    deploy = template["jobs"]["deploy"]
    assert deploy["needs"] == "resolve"
    assert deploy["with"]["model-package-arn"] == "${{ needs.resolve.outputs.model-package-arn }}"
    # The build template's name is what the deploy template waits for.
    assert load(TEMPLATES / "model-build.yml")["name"] == "model-build"


def test_deploy_template_resolves_by_commit(tmp_path: Path) -> None:
    """After a build, resolve asks the toolkit (`python -I -m smgha.cli registry find`, with
    the toolkit's python) for the Approved version built from the event's head_sha; by hand, it checks the
    ARN it was given. The real `registry find` is tested in test_register_and_gate.py and run
    by the sagemaker-backend e2e."""
    step = step_named(TEMPLATES / "model-deploy.yml", "resolve", "resolve")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ours = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/7"
    calls = tmp_path / "calls"
    # Like the real toolkit, it writes runner commands (a mask of refreshed credentials) to
    # stdout: the step must take the ARN from --output-file, not from stdout.
    (bin_dir / "python").write_text(
        f"""#!/usr/bin/env bash
[[ "$1 $2 $3" == "-I -m smgha.cli" ]] || exit 1
shift 3
echo "$*" >> {calls}
echo "::add-mask::ASIAREFRESHEDKEY"
out="${{@: -1}}"
: > "$out"
[[ "$*" == "registry find --group churn-models --git-sha abc123 --status Approved --output-file $out" ]] && printf '%s' "{ours}" > "$out"
exit 0
"""
    )
    (bin_dir / "python").chmod(0o755)
    output = tmp_path / "out"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "SMGHA_PYTHON": str(bin_dir / "python"),
        "GITHUB_OUTPUT": str(output),
        "EVENT_NAME": "workflow_run",
        "REQUESTED_ARN": "",
        "BUILD_SHA": "abc123",
        "MODEL_PACKAGE_GROUP": "churn-models",
    }
    assert set(env) - {"PATH", "GITHUB_OUTPUT", "SMGHA_PYTHON", "RUNNER_TEMP"} <= set(step["env"])
    done = run_bash(step["run"], env)
    assert done.returncode == 0, done.stderr
    assert output.read_text() == f"model-package-arn={ours}\n"
    output.write_text("")
    done = run_bash(step["run"], {**env, "BUILD_SHA": "unknown"})
    assert done.returncode == 0 and "::notice" in done.stdout
    assert output.read_text() == "model-package-arn=\n"
    output.write_text("")
    dispatch = {**env, "EVENT_NAME": "workflow_dispatch", "REQUESTED_ARN": ours}
    assert run_bash(step["run"], dispatch).returncode == 0
    assert output.read_text() == f"model-package-arn={ours}\n"
    bad = run_bash(step["run"], {**dispatch, "REQUESTED_ARN": "latest"})
    assert bad.returncode == 1 and "::error" in bad.stdout
    assert len(calls.read_text().splitlines()) == 2  # only the workflow_run runs asked


def test_the_deploy_template_deploys_the_built_commit_and_gates_production() -> None:
    """The reusable deploy checks out the build's head_sha after a workflow_run (github.sha is
    main's newest commit then), and production is deployed automatically unless the
    repository variable PRODUCTION_APPROVAL is `manual` (plans without required reviewers)."""
    deploy = jobs(TEMPLATES / "model-deploy.yml")["deploy"]["with"]
    assert deploy["ref"] == "${{ github.event.workflow_run.head_sha || github.sha }}"
    assert "vars.PRODUCTION_APPROVAL != 'manual'" in deploy["deploy-production"]
    assert "inputs.deploy-production" in deploy["deploy-production"]


# ---- run scripts, executed ----------------------------------------------------------------


def test_build_parameters_resolve_the_workspace(tmp_path: Path) -> None:
    step = step_named(WORKFLOWS / "model-build.yml", "build", "params")
    output = tmp_path / "out"
    env = {
        "PARAMETERS": '{"InputDataUrl": "$GITHUB_WORKSPACE/data/churn.csv"}',
        "GITHUB_WORKSPACE": "/work/repo",
        "GITHUB_OUTPUT": str(output),
    }
    done = run_bash(step["run"], env)
    assert done.returncode == 0, done.stderr
    lines = output.read_text().splitlines()
    assert lines[0].startswith("parameters<<") and lines[-1] == lines[0].split("<<")[1]
    assert lines[1:-1] == ['{"InputDataUrl": "/work/repo/data/churn.csv"}']


def test_build_fails_on_an_unfinished_execution() -> None:
    step = step_named(WORKFLOWS / "model-build.yml", "build", "Require a finished execution")
    assert step["if"] == "steps.build.outputs.status != 'Succeeded'"
    done = run_bash(step["run"], {"STATUS": "Executing", "EXECUTION_ARN": "arn:x"})
    assert done.returncode == 1 and "execution-arn: arn:x" in done.stdout


def test_deploy_refuses_a_baseline_without_monitoring_output_before_staging() -> None:
    # enable-monitor requires output-s3-uri on sagemaker but runs last, in production: the
    # workflow refuses the missing input in its first step, before staging is deployed.
    step = jobs(WORKFLOWS / "model-deploy.yml")["staging"]["steps"][0]
    assert step["name"] == "Require monitoring-output-s3-uri with a baseline"
    monitor = step_named(WORKFLOWS / "model-deploy.yml", "production", "monitor")
    assert monitor["with"]["output-s3-uri"] == "${{ inputs.monitoring-output-s3-uri }}"
    assert jobs(WORKFLOWS / "model-deploy.yml")["production"]["if"] == "inputs.deploy-production"
    # When the production job would run the monitor step, on sagemaker, without the input.
    assert step["if"] == (
        "inputs.backend == 'sagemaker' && inputs.deploy-production && "
        f"{monitor['if']} && inputs.monitoring-output-s3-uri == ''"
    )
    done = run_bash(step["run"], {})
    assert done.returncode == 1
    assert done.stdout.startswith(
        "::error title=model-deploy%3A invalid input::input 'monitoring-output-s3-uri': "
        "is required with backend: sagemaker"
    )
    assert "terraform output -raw artifact_bucket_name" in done.stdout


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"STRATEGY": "canary"}, "production-strategy"),
        ({"BASELINE_DATA_URI": "s3://b/baseline.csv"}, "baseline-data-uri"),
        ({"AUTOSCALING_MAX": "4"}, "autoscaling-min-instances"),
        ({"CAPTURE_PERCENT": "20"}, "data-capture-percent"),
        ({}, ""),
        ({"MEMORY": "", "STRATEGY": "canary", "AUTOSCALING_MAX": "4"}, ""),  # on instances
        ({"MEMORY": "", "SERVERLESS_ONLY": "0.5"}, "production-serverless-memory-mb"),
    ],
    ids=[
        "canary",
        "baseline",
        "autoscaling",
        "capture",
        "all-at-once-alone",
        "instances",
        "serverless-input-without-memory",
    ],
)
def test_production_inputs_serverless_cannot_take_are_refused_before_staging(
    env: dict[str, str], refused: str
) -> None:
    """deploy-endpoint and enable-monitor refuse these beside serverless, but in production,
    after staging (or production) was deployed: the workflow refuses them first."""
    step = step_named(
        WORKFLOWS / "model-deploy.yml",
        "staging",
        "Refuse production inputs a serverless endpoint cannot take",
    )
    steps = jobs(WORKFLOWS / "model-deploy.yml")["staging"]["steps"]
    deploy = step_named(WORKFLOWS / "model-deploy.yml", "staging", "deploy")
    assert steps.index(step) < steps.index(deploy)
    assert step["if"] == "inputs.deploy-production"
    # Every production-serverless-* input but the memory (and the target) feeds SERVERLESS_ONLY.
    production = step_named(WORKFLOWS / "model-deploy.yml", "production", "deploy")["with"]
    serverless_inputs = {
        value.removeprefix("${{ ").removesuffix(" }}")
        for key, value in production.items()
        if key.startswith("serverless-")
        and key != "serverless-memory-mb"
        or key == "target-provisioned-concurrency-utilization"
    }
    assert serverless_inputs and all(
        name in step["env"]["SERVERLESS_ONLY"] for name in serverless_inputs
    )
    done = run_bash(step["run"], {"MEMORY": "2048", "STRATEGY": "all-at-once", **env})
    if not refused:
        assert done.returncode == 0 and done.stdout == ""
        return
    assert done.returncode == 1
    (error,) = done.stdout.splitlines()
    assert error.startswith(f"::error title=model-deploy%3A invalid input::input '{refused}': ")


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length", "0"))
        _Webhook.received.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _notify_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "SLACK_WEBHOOK_URL": url,
        "MODEL_PACKAGE_ARN": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3",
        "BACKEND": "sagemaker",
        "STAGING_ENDPOINT": 'churn "staging"',
        "STAGING_RESULT": "success",
        "PRODUCTION_ENDPOINT": "churn-production",
        "PRODUCTION_RESULT": "failure",
        "PRODUCTION_STATUS": "rolled-back",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": "42",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_notify_without_a_webhook_leaves_a_notice(tmp_path: Path) -> None:
    step = jobs(WORKFLOWS / "model-deploy.yml")["notify"]["steps"][0]
    env = _notify_env(tmp_path, "")
    assert set(env) - {k for k in env if k.startswith("GITHUB_")} <= set(step["env"])
    assert step["env"]["SLACK_WEBHOOK_URL"] == "${{ secrets.slack-webhook-url }}"
    done = run_bash(step["run"], env)
    assert done.returncode == 0, done.stderr
    assert "::notice" in done.stdout
    assert "rolled-back" in (tmp_path / "summary.md").read_text()


def test_notify_posts_json_to_the_webhook(tmp_path: Path) -> None:
    step = jobs(WORKFLOWS / "model-deploy.yml")["notify"]["steps"][0]
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Webhook.received.clear()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        env = {**_notify_env(tmp_path, url), "NO_PROXY": "*", "no_proxy": "*"}
        done = run_bash(step["run"], env)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert url not in done.stdout + done.stderr
    assert len(_Webhook.received) == 1
    text = json.loads(_Webhook.received[0])["text"]
    assert 'churn "staging": success' in text and "production churn-production: failure" in text
    assert text.endswith("https://github.com/acme/churn/actions/runs/42")


def test_notify_survives_a_failing_webhook(tmp_path: Path) -> None:
    step = jobs(WORKFLOWS / "model-deploy.yml")["notify"]["steps"][0]
    env = {**_notify_env(tmp_path, "http://127.0.0.1:9/nothing"), "NO_PROXY": "*", "no_proxy": "*"}
    done = run_bash(step["run"].replace("--retry 2", "--retry 0"), env)
    assert done.returncode == 0 and "::warning" in done.stdout


def test_every_stage_job_uploads_the_full_summaries_the_runner_module_names() -> None:
    """A summary cut at GitHub's 1 MiB limit points at `smgha-summaries-<job id>`
    (smgha/summary.py SUMMARY_ARTIFACT): every job that runs a stage uploads that folder."""
    from smgha.run_artifacts import STAGE_FOLDERS
    from smgha.summary import SUMMARY_ARTIFACT

    for path in REUSABLE:
        for name, job in jobs(path).items():
            steps = job_steps(job)
            runs_a_stage = any(STAGE_USE.match(s.get("uses", "")) for s in steps)
            uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
            if not runs_a_stage:
                assert uploads == [], (rel(path), name)
                continue
            summaries = [u for u in uploads if u["with"]["name"].startswith(SUMMARY_ARTIFACT)]
            assert len(summaries) == 1 and summaries[0] is steps[-1], (rel(path), name)
            # The only other uploads: the review's (model-build's build job) and the stages'
            # evidence (tests/test_workflow_artifacts.py).
            others = {u["with"]["name"] for u in uploads if u is not summaries[0]}
            stage_artifacts = {f"{folder}-${{{{ github.job }}}}" for folder in STAGE_FOLDERS}
            assert others <= set(REVIEW_ARTIFACTS) | stage_artifacts, (rel(path), name, others)
            assert summaries[0]["if"] == "always()"
            assert summaries[0]["with"] == {
                "name": SUMMARY_ARTIFACT + "-${{ github.job }}",
                "path": "${{ runner.temp }}/" + SUMMARY_ARTIFACT,
                "if-no-files-found": "ignore",
                "retention-days": "${{ inputs.artifact-retention-days }}",
            }


# ---- the model review (docs/review.md, "On GitHub") --------------------------------------

REVIEW_ARTIFACTS = ("smgha-review", "smgha-review-bundle-${{ inputs.pipeline-name }}")
BUILD = WORKFLOWS / "model-build.yml"
COMMENT_TEMPLATE = TEMPLATES / "model-review-comment.yml"


def test_the_champion_is_published_only_by_an_approved_push_build_of_its_branch() -> None:
    inputs = triggers(load(BUILD))["workflow_call"]["inputs"]
    assert inputs["review"] == {**inputs["review"], "type": "boolean", "default": False}
    assert inputs["champion-branch"]["default"] == "main"
    assert inputs["champion-workflow"]["default"] == "model-build.yml"
    bundle = step_named(BUILD, "build", "bundle")
    assert bundle["if"] == (
        "github.event_name == 'push' && github.ref_name == inputs.champion-branch "
        "&& steps.gate.outputs.decision == 'approved'"
    )
    # A review artifact that fails to publish never blocks the approved model's deploy.
    assert bundle["continue-on-error"] is True
    steps = job_steps(jobs(BUILD)["build"])
    upload = steps[steps.index(bundle) + 1]
    assert upload["if"] == "steps.bundle.outcome == 'success'"
    assert upload["with"]["name"] == REVIEW_ARTIFACTS[1]
    assert upload["continue-on-error"] is True


def test_the_review_runs_only_on_request_and_also_after_a_failed_build() -> None:
    for step_id in ("champion", "review"):
        step = step_named(BUILD, "build", step_id)
        assert step["if"] == (
            "${{ !cancelled() && inputs.review == 'true' && steps.build.outputs.execution-arn != '' }}"
        )
    # The token reaches only the step that reads the champion artifact.
    with_token = [
        s.get("id")
        for s in job_steps(jobs(BUILD)["build"])
        if "GITHUB_TOKEN" in (s.get("env") or {})
    ]
    assert with_token == ["champion"]
    validate = jobs(TEMPLATES / "model-validate-pr.yml")["validate"]
    assert validate["with"]["review"] is True
    main_build = jobs(TEMPLATES / "model-build.yml")["build"]
    # The champion artifact is named after the pipeline: both builds name the same one.
    assert validate["with"]["pipeline-name"] == main_build["with"]["pipeline-name"]
    # The review predicts main's gate: the same rules.
    assert validate["with"]["gate-rules"] == main_build["with"]["gate-rules"]


def _fake_smgha(tmp_path: Path) -> Path:
    """A venv whose python, run as `python -I -m smgha.cli` (isolated, as the stage actions
    run the toolkit: a workspace's own `smgha/` must not shadow it; and not the venv's
    console script, whose shebang names the path the venv was made at, not the one a cache
    restored it to), records the command's arguments and writes what `review compare`
    writes; run otherwise, it is python3."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'[[ "$1 $2 $3" == "-I -m smgha.cli" ]] || exec {shutil.which("python3")} "$@"\n'
        "shift 3\n"
        'printf "%s\\n" "$@" > "$SMGHA_ARGS"\n'
        'while [[ $# -gt 0 ]]; do [[ "$1" == --out ]] && out="$2"; shift; done\n'
        'mkdir -p "$out" && echo "## review" > "$out/summary.md"\n'
    )
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize(
    ("candidate", "champion", "pr_number"),
    [
        ("arn:aws:sagemaker:us-east-1:111111111111:model-package/churn-models/2", True, "7"),
        ("", False, ""),
    ],
    ids=["built-with-champion", "failed-build-no-champion-no-pr"],
)
def test_the_review_step_script(
    tmp_path: Path, candidate: str, champion: bool, pr_number: str
) -> None:
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    if champion:
        (runner_temp / "smgha-champion").mkdir()
    summary = tmp_path / "summary.md"
    step = step_named(BUILD, "build", "review")
    done = run_bash(step["run"], {
        "SMGHA_PYTHON": str(_fake_smgha(tmp_path)), "SMGHA_ARGS": str(tmp_path / "args"),
        "RUNNER_TEMP": str(runner_temp), "GITHUB_STEP_SUMMARY": str(summary),
        "BACKEND": "local", "CANDIDATE": candidate,
        "EXECUTION_ARN": "arn:aws:sagemaker:us-east-1:111111111111:pipeline/churn/execution/abc",
        "GATE_RULES": "accuracy >= 0.8\nauc >= champion - 0.01", "APPROVAL_MODE": "manual",
        "PR_NUMBER": pr_number, "PR_HEAD_SHA": "a" * 40 if pr_number else "",
    })  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    review = str(runner_temp / "smgha-review")
    text = (tmp_path / "args").read_text()
    execution = "arn:aws:sagemaker:us-east-1:111111111111:pipeline/churn/execution/abc"
    assert text.startswith(
        f"review\ncompare\n--backend\nlocal\n--execution-arn\n{execution}\n--gate-rules\n"
        f"accuracy >= 0.8\nauc >= champion - 0.01\n--approval\nmanual\n--out\n{review}\n"
    ), text
    assert ("--candidate\n" + candidate + "\n" in text) is bool(candidate)
    assert ("--champion\n" + str(runner_temp / "smgha-champion") + "\n" in text) is champion
    assert summary.read_text() == "## review\n"
    pull_request = runner_temp / "smgha-review" / "pull-request.json"
    if pr_number:
        assert json.loads(pull_request.read_text()) == {"number": 7, "head_sha": "a" * 40}
    else:
        assert not pull_request.exists()


def test_the_comment_template_never_runs_the_pull_requests_code() -> None:
    workflow = load(COMMENT_TEMPLATE)
    assert triggers(workflow) == {
        "workflow_run": {"workflows": ["model-validate-pr"], "types": ["completed"]}
    }
    (job,) = jobs(COMMENT_TEMPLATE).values()
    assert job["if"] == "github.event.workflow_run.event == 'pull_request'"
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    # No checkout and no action but the library's toolkit install: nothing of the pull
    # request's is fetched or run; the artifact is read by the toolkit as data.
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert uses == [f"{LIBRARY}@{PLACEHOLDER_REF}"]
    post = step_named(COMMENT_TEMPLATE, "comment", "Post the review comment")
    assert post["env"] == {
        "GITHUB_TOKEN": "${{ github.token }}",
        "RUN_ID": "${{ github.event.workflow_run.id }}",
        "HEAD_SHA": "${{ github.event.workflow_run.head_sha }}",
    }
    assert "review post-comment" in post["run"] and '--head-sha "$HEAD_SHA"' in post["run"]
    # The trigger names the validate template's workflow.
    assert load(TEMPLATES / "model-validate-pr.yml")["name"] == "model-validate-pr"


def test_the_deploy_workflow_passes_the_serverless_inputs_through() -> None:
    """Serverless (issue 18): each serverless input reaches deploy-endpoint, and a serverless
    job sends no instance type or count (deploy-endpoint refuses them beside serverless)."""
    call = triggers(load(WORKFLOWS / "model-deploy.yml"))["workflow_call"]["inputs"]
    wanted = {
        "staging": ("serverless-memory-mb", "serverless-max-concurrency"),
        "production": (
            "serverless-memory-mb",
            "serverless-max-concurrency",
            "serverless-provisioned-concurrency",
        ),
    }
    for job, names in wanted.items():
        deploy = step_named(WORKFLOWS / "model-deploy.yml", job, "deploy")["with"]
        for name in names:
            assert call[f"{job}-{name}"]["default"] == ""
            assert deploy[name] == f"${{{{ inputs.{job}-{name} }}}}"
        for name in ("instance-type", "instance-count"):
            assert deploy[name] == (
                f"${{{{ inputs.{job}-serverless-memory-mb == '' && inputs.{job}-{name} || '' }}}}"
            )
    template = (TEMPLATES / "model-deploy.yml").read_text()
    assert "# production-serverless-memory-mb:" in template


def test_the_deploy_workflow_passes_provisioned_concurrency_scaling_to_production() -> None:
    """Issue 18: production's serverless Provisioned Concurrency scaling reaches
    deploy-endpoint, and the first step, which refuses autoscaling-*-instances beside
    serverless, lets these through."""
    call = triggers(load(WORKFLOWS / "model-deploy.yml"))["workflow_call"]["inputs"]
    deploy = step_named(WORKFLOWS / "model-deploy.yml", "production", "deploy")["with"]
    names = (
        "serverless-provisioned-concurrency-min",
        "serverless-provisioned-concurrency-max",
        "target-provisioned-concurrency-utilization",
    )
    for name in names:
        assert call[f"production-{name}"]["default"] == ""
        assert deploy[name] == f"${{{{ inputs.production-{name} }}}}"
    refuse = step_named(
        WORKFLOWS / "model-deploy.yml",
        "staging",
        "Refuse production inputs a serverless endpoint cannot take",
    )
    # With serverless they pass the step (SERVERLESS_ONLY is refused only without it).
    scaling = {"MEMORY": "2048", "STRATEGY": "all-at-once", "SERVERLESS_ONLY": "1100.5"}
    assert run_bash(refuse["run"], scaling).returncode == 0
    done = run_bash(refuse["run"], {**scaling, "AUTOSCALING_MIN": "1"})
    assert done.returncode == 1
    assert "input 'autoscaling-min-instances'" in done.stdout
    assert "production-serverless-provisioned-concurrency-min" in done.stdout
