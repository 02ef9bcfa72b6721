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
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.yaml_files import ROOT, load, rel, strings_in

WORKFLOWS = ROOT / ".github" / "workflows"
TEMPLATES = ROOT / "workflows-templates"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(TEMPLATES.glob("*.yml"))
REUSABLE = [WORKFLOWS / "model-build.yml", WORKFLOWS / "model-deploy.yml"]
RELEASE = WORKFLOWS / "release.yml"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*.yml"))

LIBRARY = "smgha-org/sagemaker-mlops"
MAJOR_TAG = "v1"
STAGE_USE = re.compile(rf"^{re.escape(LIBRARY)}/actions/([a-z0-9-]+)@(\S+)$")
WORKFLOW_USE = re.compile(rf"^{re.escape(LIBRARY)}/\.github/workflows/([A-Za-z0-9_.-]+)@(\S+)$")
PINNED_USE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^\s'\"#]+)")
STEPS_REFERENCE = re.compile(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
JOBS_REFERENCE = re.compile(r"\bjobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
INPUTS_REFERENCE = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")
OIDC_ACTION = f"{LIBRARY}/actions/oidc-auth@{MAJOR_TAG}"


def ids(paths: list[Path]) -> list[str]:
    return [rel(path) for path in paths]


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
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
    """The action.yml behind `smgha-org/sagemaker-mlops/actions/<stage>@v1`, else None."""
    match = STAGE_USE.match(uses)
    if not match:
        return None
    path = ROOT / "actions" / match.group(1) / "action.yml"
    assert path.is_file(), f"{uses}: there is no actions/{match.group(1)}/action.yml"
    return load(path)


def library_workflow(uses: str) -> Path | None:
    """The reusable workflow behind `smgha-org/sagemaker-mlops/.github/workflows/<f>@v1`."""
    match = WORKFLOW_USE.match(uses)
    if not match:
        return None
    path = WORKFLOWS / match.group(1)
    assert path.is_file(), f"{uses}: there is no .github/workflows/{match.group(1)}"
    return path


def uses_oidc(job: dict[str, Any]) -> bool:
    """Whether a job runs oidc-auth: in a step, or in the reusable workflow it calls."""
    if any(step.get("uses") == OIDC_ACTION for step in job.get("steps") or []):
        return True
    called = library_workflow(job.get("uses", ""))
    return called is not None and any(uses_oidc(j) for j in jobs(called).values())


def every_job() -> list[tuple[str, str, dict[str, Any]]]:
    return [(rel(path), name, job) for path in WORKFLOW_FILES for name, job in jobs(path).items()]


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
    found = [s for s in jobs(path)[job]["steps"] if s.get("name") == name or s.get("id") == name]
    assert len(found) == 1, f"{rel(path)} {job}: expected one step {name!r}"
    return found[0]


# ---- parsing and the reusable interfaces ---------------------------------------------------


def test_every_workflow_is_found() -> None:
    names = set(ids(WORKFLOW_FILES))
    assert {
        ".github/workflows/model-build.yml",
        ".github/workflows/model-deploy.yml",
        ".github/workflows/release.yml",
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
    tests = build["test"]["steps"]
    runs = [s for s in tests if "run" in s]
    assert all(s.get("if") == "inputs.test-command != ''" for s in runs)
    assert "requirements.txt" in runs[0]["run"] and "TEST_COMMAND" in runs[1]["run"]


def test_deploy_interface() -> None:
    call = triggers(load(WORKFLOWS / "model-deploy.yml"))["workflow_call"]
    assert call["inputs"]["model-package-arn"]["required"] is True
    assert call["secrets"]["slack-webhook-url"]["required"] is False
    deploy = jobs(WORKFLOWS / "model-deploy.yml")
    assert deploy["staging"]["environment"] == "staging"
    assert deploy["production"]["environment"] == "production"
    assert deploy["production"]["needs"] == "staging"
    assert deploy["notify"]["if"] == "always()"
    assert set(deploy["notify"]["needs"]) == {"staging", "production"}
    staging_smoke = step_named(WORKFLOWS / "model-deploy.yml", "staging", "smoke")
    assert (
        staging_smoke["with"]["rollback-endpoint-config"]
        == "${{ steps.deploy.outputs.previous-endpoint-config-name }}"
    )
    production = [
        s.get("uses", "").split("@")[0].rsplit("/", 1)[-1] for s in deploy["production"]["steps"]
    ]
    assert production[-4:] == ["oidc-auth", "deploy-endpoint", "smoke-test", "enable-monitor"]
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
    assert permissions.get("contents") == "read"
    allowed = {"contents": "read", "id-token": "write"} if uses_oidc(job) else {"contents": "read"}
    assert permissions == allowed, f"{name}: id-token: write only where oidc-auth runs"


def test_id_token_check_sees_oidc_jobs() -> None:
    oidc = {(path, name) for path, name, job in every_job() if uses_oidc(job)}
    assert {
        (".github/workflows/model-build.yml", "build"),
        (".github/workflows/model-deploy.yml", "staging"),
        (".github/workflows/model-deploy.yml", "production"),
        ("workflows-templates/model-build.yml", "build"),
        ("workflows-templates/model-deploy.yml", "deploy"),
    } <= oidc
    assert ("workflows-templates/model-validate-pr.yml", "validate") in oidc  # calls model-build
    assert (".github/workflows/model-build.yml", "test") not in oidc


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_oidc_steps_only_on_the_sagemaker_backend(path: Path) -> None:
    for job in jobs(path).values():
        for step in job.get("steps") or []:
            if step.get("uses") == OIDC_ACTION:
                assert step.get("if") == "inputs.backend == 'sagemaker'"
            if library_action(step.get("uses", "")) and "backend" in (
                library_action(step["uses"]) or {}
            ).get("inputs", {}):
                assert step["with"]["backend"] == "${{ inputs.backend }}", "pass backend through"


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


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_third_party_actions_are_pinned_by_sha(path: Path) -> None:
    for number, uses, line in uses_lines(path):
        if uses.startswith(("./", "docker://")):
            continue
        if uses.startswith((f"{LIBRARY}/", f"{LIBRARY}@")):  # a stage action, or the root one
            assert uses.endswith(f"@{MAJOR_TAG}"), f"line {number}: this library at @{MAJOR_TAG}"
            continue
        assert PINNED_USE.match(line), (
            f"line {number}: pin {uses} by a 40-hex SHA with a # vX comment"
        )


def test_pinning_check_would_catch_a_tag() -> None:
    assert not PINNED_USE.match("      - uses: actions/checkout@v4")
    assert not PINNED_USE.match(
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
    )
    assert PINNED_USE.match(
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
    )


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_checkout_does_not_persist_credentials(path: Path) -> None:
    for job in jobs(path).values():
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids(WORKFLOW_FILES))
def test_no_expression_inside_any_run_script(path: Path) -> None:
    for name, job in jobs(path).items():
        for number, step in enumerate(job.get("steps") or [], start=1):
            assert "${{" not in str(step.get("run", "")), f"{name} step {number}: map through env:"


def library_step_uses() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in WORKFLOW_FILES:
        for name, job in jobs(path).items():
            for number, step in enumerate(job.get("steps") or [], start=1):
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


def library_workflow_calls() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path}:{name}", job)
        for path, name, job in every_job()
        if WORKFLOW_USE.match(str(job.get("uses", "")))
    ]


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
        "workflows-templates/model-build.yml": f"{LIBRARY}/.github/workflows/model-build.yml@v1",
        "workflows-templates/model-validate-pr.yml": f"{LIBRARY}/.github/workflows/model-build.yml@v1",
        "workflows-templates/model-deploy.yml": f"{LIBRARY}/.github/workflows/model-deploy.yml@v1",
    }
    validate = jobs(TEMPLATES / "model-validate-pr.yml")["validate"]
    assert validate["with"]["backend"] == "local"
    assert "pull_request" in triggers(load(TEMPLATES / "model-validate-pr.yml"))
    assert jobs(TEMPLATES / "model-build.yml")["build"]["with"]["backend"] == "sagemaker"
    assert triggers(load(TEMPLATES / "model-build.yml"))["push"]["branches"] == ["main"]


# ---- steps.<id>.outputs.<name> ----------------------------------------------------------


def declared_step_outputs(step: dict[str, Any]) -> set[str] | None:
    """Outputs a step declares: its library action's, or the names a run script writes."""
    action = library_action(str(step.get("uses", "")))
    if action is not None:
        return set(action.get("outputs") or {})
    if "run" in step:
        return set(re.findall(r"([A-Za-z0-9_-]+)(?:=|<<)", str(step["run"])))
    return None  # a third-party action: not checked


def test_step_output_references() -> None:
    checked = 0
    for path in WORKFLOW_FILES:
        for name, job in jobs(path).items():
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
    step = step_named(TEMPLATES / "model-deploy.yml", "resolve", "resolve")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    newest = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/8"
    ours = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/7"
    # A fake AWS CLI: version 8 was built from another commit, 7 from ours.
    fake_aws = f"""#!/usr/bin/env bash
case "$2" in
  list-model-packages) echo "{newest}	{ours}" ;;
  describe-model-package)
    case "$*" in *churn-models/8*) echo other-sha ;; *) echo abc123 ;; esac ;;
esac
"""
    (bin_dir / "aws").write_text(fake_aws)
    (bin_dir / "aws").chmod(0o755)
    output = tmp_path / "out"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "EVENT_NAME": "workflow_run",
        "REQUESTED_ARN": "",
        "BUILD_SHA": "abc123",
        "MODEL_PACKAGE_GROUP": "churn-models",
    }
    assert set(env) - {"PATH", "GITHUB_OUTPUT"} <= set(step["env"])
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


# ---- release ------------------------------------------------------------------------------


def github_filter_regex(pattern: str) -> re.Pattern[str]:
    """A GitHub branch/tag filter pattern as a regex (*, **, ?, +, [..], literal rest)."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char in "?+":
            out += char
        elif char == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
            continue
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out)


SEMVER_TAGS = ["v1.2.3", "v0.1.0", "v10.20.30"]
NOT_SEMVER_TAGS = [
    "v1",
    "v1.2",
    "v1.2.3-rc.1",
    "v1.2.3.4",
    "1.2.3",
    "v1.2.x",
    "vx.y.z",
    "v1.2.3+build",
]


def test_release_triggers_only_on_exact_version_tags() -> None:
    on = triggers(load(RELEASE))
    assert set(on) == {"push"}
    assert set(on["push"]) == {"tags"}
    patterns = [github_filter_regex(p) for p in on["push"]["tags"]]
    for tag in SEMVER_TAGS:
        assert any(p.fullmatch(tag) for p in patterns), tag
    for tag in NOT_SEMVER_TAGS:
        assert not any(p.fullmatch(tag) for p in patterns), tag


def test_release_refuses_a_tag_that_is_not_exact_semver() -> None:
    step = step_named(RELEASE, "move-major-tag", "Refuse a tag that is not exact semver")
    assert jobs(RELEASE)["move-major-tag"]["steps"][0] is not None
    assert jobs(RELEASE)["move-major-tag"]["steps"].index(step) == 0
    for tag in SEMVER_TAGS:
        assert run_bash(step["run"], {"TAG": tag, "REF_TYPE": "tag"}).returncode == 0, tag
    for tag in [*NOT_SEMVER_TAGS, "v01.2.3"]:
        done = run_bash(step["run"], {"TAG": tag, "REF_TYPE": "tag"})
        assert done.returncode == 1 and "::error" in done.stdout, tag
    assert run_bash(step["run"], {"TAG": "v1.2.3", "REF_TYPE": "branch"}).returncode == 1


def _git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def release_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A clone (with origin/main) of a bare 'origin' holding a 0.2.0 release commit."""
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    _git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "smgha").mkdir()
    (work / "smgha" / "__init__.py").write_text('"""x"""\n\n__version__ = "0.2.0"\n')
    (work / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2025-01-01\n"
    )
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "release 0.2.0")
    _git(work, "remote", "add", "origin", str(origin))
    _git(work, "push", "-q", "origin", "main")
    _git(work, "fetch", "-q", "origin")
    return work, origin


def _release_env(work: Path, tag: str) -> dict[str, str]:
    return {
        "TAG": tag,
        "DEFAULT_BRANCH": "main",
        "GITHUB_SHA": _git(work, "rev-parse", "HEAD"),
        "GITHUB_TOKEN": "not-a-token",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_STEP_SUMMARY": str(work.parent / "summary.md"),
        "GIT_CONFIG_GLOBAL": str(work.parent / "gitconfig"),
    }


def test_release_checks_version_and_changelog(release_repo: tuple[Path, Path]) -> None:
    work, _ = release_repo
    step = step_named(RELEASE, "move-major-tag", "Check the version and the changelog")
    assert run_bash(step["run"], _release_env(work, "v0.2.0"), cwd=work).returncode == 0
    mismatch = run_bash(step["run"], _release_env(work, "v0.3.0"), cwd=work)
    assert mismatch.returncode == 1 and "__version__" in mismatch.stdout
    (work / "CHANGELOG.md").write_text("# Changelog\n\n## [0.2.01]\n")
    missing = run_bash(step["run"], _release_env(work, "v0.2.0"), cwd=work)
    assert missing.returncode == 1 and "CHANGELOG" in missing.stdout


def test_release_moves_the_major_tag_forward_only(release_repo: tuple[Path, Path]) -> None:
    work, origin = release_repo
    step = step_named(RELEASE, "move-major-tag", "Move the major tag")
    assert "git tag -f" in step["run"] and "push -f origin" in step["run"]
    _git(work, "tag", "v0.2.0")
    done = run_bash(step["run"], _release_env(work, "v0.2.0"), cwd=work)
    assert done.returncode == 0, done.stderr
    head = _git(work, "rev-parse", "HEAD")
    assert _git(origin, "rev-parse", "v0^{commit}") == head
    # A patch of an older minor, released after 0.3.0: v0 stays on 0.3.0.
    (work / "later").write_text("x")
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "0.3.0")
    _git(work, "tag", "v0.3.0")
    assert run_bash(step["run"], _release_env(work, "v0.3.0"), cwd=work).returncode == 0
    newer = _git(work, "rev-parse", "HEAD")
    assert _git(origin, "rev-parse", "v0^{commit}") == newer
    _git(work, "tag", "v0.2.1", head)
    older = run_bash(step["run"], _release_env(work, "v0.2.1"), cwd=work)
    assert older.returncode == 0 and "::notice" in older.stdout
    assert _git(origin, "rev-parse", "v0^{commit}") == newer


def test_only_the_release_job_may_write_contents() -> None:
    for path, name, job in every_job():
        writes = [
            k for k, v in (job.get("permissions") or {}).items() if v == "write" and k != "id-token"
        ]
        assert not writes or (path, name) == (rel(RELEASE), "move-major-tag")
