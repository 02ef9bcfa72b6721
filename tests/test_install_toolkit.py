"""scripts/install-toolkit.sh on a runner like GitHub's, and which toolkit a stage action runs.

(a) The installer. GitHub's runner images have no uv, so the script installs uv itself (from
the package index, with the base python's pip, into a venv under RUNNER_TEMP) and falls back
to pip when it cannot. These tests never reach the network: the job's PATH has no uv, and a
stub `python3` stands in for the base python's pip and for `python -m venv`, a stub `uv` for
the uv that the bootstrap (or PATH) provides, and a stub `pip` in every venv the stub python
makes. Each stub appends its arguments to one calls file, so a test reads which installer
ran, with what. The real installs, from PyPI, are timed by bench/cold_install.py.

(b) The supported systems: Windows is refused, macOS warned about once a job.

(c) A stage action runs the installed toolkit even when the workspace has an `smgha/` package
of its own (a fork of this repository): `python -I`, since with `-m` Python puts the current
directory, the workspace, first on sys.path.

The install script's own arguments, reuse and extras are tested in tests/test_actions.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_actions import make_kit  # the stand-in toolkit project, one definition
from tests.yaml_files import ROOT, load, rel

INSTALL_SCRIPT = ROOT / "scripts" / "install-toolkit.sh"
STAGE_ACTIONS = sorted(
    path
    for path in ROOT.glob("actions/*/action.yml")
    if (ROOT / "smgha" / "stages" / f"{path.parent.name.replace('-', '_')}.py").is_file()
)
WORKSPACE_MARKER = "WORKSPACE COPY RAN"
SUPPORTED = ("ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04", "self-hosted Linux")


# ---- stubs ---------------------------------------------------------------------------------


def path_without_uv() -> str:
    """This PATH minus every folder that holds a uv: a GitHub-hosted runner's."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(f for f in folders if f and not os.access(Path(f) / "uv", os.X_OK))


def write_script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + text)
    path.chmod(0o755)
    return path


class Job:
    """A job's environment for install-toolkit.sh, with stubs on PATH and a calls file.

    bootstrap: what the base python's `pip install uv` does: "ok" (puts the stub uv into the
    venv it was given), or "fail" (no such distribution, as on a mirror without uv).
    uv_on_path: a stub uv first on PATH. uv_pip_exit: the stub uv's `pip install` exit code.
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        bootstrap: str = "ok",
        uv_on_path: bool = False,
        uv_pip_exit: int = 0,
    ) -> None:
        self.tmp = tmp_path
        self.calls = tmp_path / "calls"
        self.calls.write_text("")
        self.runner_temp = tmp_path / "runner-temp"
        self.runner_temp.mkdir()
        self.venv = tmp_path / "venv"
        self.github_env = tmp_path / "github_env"
        self.github_env.write_text("")
        self.kit = make_kit(tmp_path / "kit")
        stubs = tmp_path / "stubs"
        real = sys.executable  # makes the venvs the stubs are asked for (without pip)
        self.uv_template = write_script(
            stubs / "uv.template",
            f'printf "uv %s\\n" "$*" >> "{self.calls}"\n'
            'case "$1" in\n'
            '  --version) echo "uv 0.0.0 (stub)" ;;\n'
            f'  venv) exec "{real}" -m venv --without-pip "${{@: -1}}" ;;\n'
            f"  pip) exit {uv_pip_exit} ;;\n"
            "esac\n",
        )
        pip_template = write_script(
            stubs / "pip.template", f'printf "pip %s\\n" "$*" >> "{self.calls}"\n'
        )
        if bootstrap == "ok":
            pip_install = (
                'home="$(dirname "$(dirname "$4")")"\n'
                f'  cp "{self.uv_template}" "$home/bin/uv"\n'
                "  exit 0\n"
            )
        else:
            pip_install = (
                'echo "ERROR: Could not find a version that satisfies the requirement uv" >&2\n'
                '  echo "ERROR: No matching distribution found for uv" >&2\n'
                "  exit 1\n"
            )
        self.bin = stubs / "bin"
        self.python3 = write_script(
            self.bin / "python3",
            'if [[ "$1" == -m && ( "$2" == venv || "$2" == pip ) ]]; then\n'
            f'  printf "python3 %s\\n" "$*" >> "{self.calls}"\n'
            "fi\n"
            'if [[ "$1 $2" == "-m venv" ]]; then\n'
            f'  "{real}" -m venv --without-pip "${{@: -1}}" || exit\n'
            f'  [[ "$3" == --without-pip ]] || cp "{pip_template}" "${{@: -1}}/bin/pip"\n'
            "  exit 0\n"
            "fi\n"
            'if [[ "$1 $2 $3" == "-m pip --python" ]]; then\n'
            f"  {pip_install}"
            "fi\n"
            f'exec "{real}" "$@"\n',
        )
        if uv_on_path:
            shutil.copy(self.uv_template, self.bin / "uv")
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{path_without_uv()}",
            "HOME": str(tmp_path),
            "RUNNER_TEMP": str(self.runner_temp),
            "SMGHA_VENV": str(self.venv),
            "GITHUB_ENV": str(self.github_env),
        }

    @property
    def uv_home(self) -> Path:
        return self.runner_temp / "smgha-uv"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """install-toolkit.sh with `args` (default: this job's kit, no extras)."""
        return subprocess.run(
            ["bash", str(INSTALL_SCRIPT), *(args or (str(self.kit), ""))],
            env={**self.env, **env},
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def take_calls(self) -> list[str]:
        """The stubs' calls since the last take."""
        lines = self.calls.read_text().splitlines()
        self.calls.write_text("")
        return lines


def annotation_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("::")]


# ---- (a) the installer ---------------------------------------------------------------------


def test_without_uv_the_job_installs_uv_first_and_then_the_toolkit_with_it(
    tmp_path: Path,
) -> None:
    job = Job(tmp_path)
    result = job.run(str(job.kit), "a")
    assert result.returncode == 0, result.stderr
    python = job.venv / "bin" / "python"
    assert result.stdout.splitlines() == [str(python)]
    uv = job.uv_home / "bin" / "uv"
    assert job.take_calls() == [
        f"python3 -m venv --without-pip {job.uv_home}",
        f"python3 -m pip --python {job.uv_home}/bin/python install -q "
        "--disable-pip-version-check uv",
        "uv --version",  # for the log line
        # the venv is python3's, as the cache key says, not whatever uv would pick
        f"uv venv --quiet --python {job.python3} {job.venv}",
        f"uv pip install --python {python} {job.kit}[a]",
    ]
    assert re.search(rf"installed uv 0\.0\.0 \(stub\) into {job.uv_home} in \d+s", result.stderr)
    assert re.search(r"installed in \d+s with uv$", result.stderr, re.M)
    assert job.github_env.read_text().splitlines() == [f"SMGHA_PYTHON={python}", f"SMGHA_UV={uv}"]

    # A later stage of the job needs one more extra: the job's uv again, not a new one.
    again = job.run(str(job.kit), "b")
    assert again.returncode == 0, again.stderr
    assert job.take_calls() == [f"uv pip install --python {python} {job.kit}[a,b]"]
    assert "installed uv" not in again.stderr


def test_uv_on_path_is_used_as_it_is(tmp_path: Path) -> None:
    job = Job(tmp_path, uv_on_path=True)
    result = job.run()
    assert result.returncode == 0, result.stderr
    python = job.venv / "bin" / "python"
    assert job.take_calls() == [
        f"uv venv --quiet --python {job.python3} {job.venv}",
        f"uv pip install --python {python} {job.kit}",
    ]
    assert not job.uv_home.exists()
    assert job.github_env.read_text().splitlines() == [f"SMGHA_PYTHON={python}"]


def test_when_uv_cannot_be_installed_the_toolkit_is_installed_with_pip(tmp_path: Path) -> None:
    job = Job(tmp_path, bootstrap="fail")
    result = job.run()
    assert result.returncode == 0, result.stderr
    python = job.venv / "bin" / "python"
    assert result.stdout.splitlines() == [str(python)]
    calls = job.take_calls()
    assert calls[0] == f"python3 -m venv --without-pip {job.uv_home}"
    assert calls[1].startswith("python3 -m pip --python")
    assert calls[2:] == [
        f"python3 -m venv {job.venv}",
        f"pip install -q --disable-pip-version-check {job.kit}",
    ]
    # One line says why (pip's last line) and what happens instead; nothing is left behind.
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"smgha: installing {job.kit} into {job.venv}",
        "smgha: could not install uv with pip (ERROR: No matching distribution found for uv); "
        "installing with pip",
    ]
    assert len(lines) == 3 and re.fullmatch(r"smgha: installed in \d+s with pip", lines[2])
    assert not job.uv_home.exists()
    assert job.github_env.read_text().splitlines() == [f"SMGHA_PYTHON={python}"]


def test_a_bootstrapped_uv_that_fails_to_install_gives_way_to_pip(tmp_path: Path) -> None:
    """E.g. a mirror that only pip is configured for: uv, which does not read pip.conf,
    reaches no index."""
    job = Job(tmp_path, uv_pip_exit=2)
    result = job.run()
    assert result.returncode == 0, result.stderr
    calls = job.take_calls()
    assert calls[3:] == [
        f"uv venv --quiet --python {job.python3} {job.venv}",
        f"uv pip install --python {job.venv}/bin/python {job.kit}",
        f"python3 -m venv {job.venv}",  # uv's venv (no pip of its own) is made again
        f"pip install -q --disable-pip-version-check {job.kit}",
    ]
    assert f"uv could not install {job.kit} (its error is above); installing with pip" in (
        result.stderr
    )
    assert "SMGHA_UV" not in job.github_env.read_text()


def test_a_uv_from_path_that_fails_is_an_error(tmp_path: Path) -> None:
    job = Job(tmp_path, uv_on_path=True, uv_pip_exit=2)
    result = job.run()
    assert result.returncode == 1
    assert result.stdout == ""
    assert annotation_lines(result) == [
        f"::error title=smgha toolkit install::uv could not install {job.kit} (its error is above)"
    ]
    assert not any(call.startswith(("pip ", "python3 -m venv ")) for call in job.take_calls())


def test_smgha_installer_pip_skips_uv(tmp_path: Path) -> None:
    job = Job(tmp_path, uv_on_path=True)
    result = job.run(SMGHA_INSTALLER="pip")
    assert result.returncode == 0, result.stderr
    assert job.take_calls() == [
        f"python3 -m venv {job.venv}",
        f"pip install -q --disable-pip-version-check {job.kit}",
    ]
    wrong = job.run(SMGHA_INSTALLER="conda")
    assert wrong.returncode == 1
    assert annotation_lines(wrong) == [
        "::error title=smgha toolkit install::SMGHA_INSTALLER is 'conda'; "
        "use auto (uv, bootstrapped when missing) or pip"
    ]


def test_the_cache_key_does_not_depend_on_the_installer(tmp_path: Path) -> None:
    job = Job(tmp_path)
    uv_bin = tmp_path / "uv-bin"
    uv_bin.mkdir()
    shutil.copy(job.uv_template, uv_bin / "uv")
    keys = set()
    for uv_first, installer in [(False, "auto"), (True, "auto"), (False, "pip")]:
        path = f"{uv_bin}{os.pathsep}{job.env['PATH']}" if uv_first else job.env["PATH"]
        result = job.run("--cache-key", str(job.kit), "a", PATH=path, SMGHA_INSTALLER=installer)
        assert result.returncode == 0, result.stderr
        keys.add(result.stdout)
    assert len(keys) == 1, keys
    assert job.take_calls() == []


# ---- (b) supported systems -----------------------------------------------------------------


def fake_uname(job: Job, kernel: str) -> None:
    """`uname` on the job's PATH answers `kernel` (Git Bash on Windows: MINGW64_NT-...)."""
    write_script(job.bin / "uname", f'echo "{kernel}"\n')


@pytest.mark.parametrize(
    ("runner_os", "kernel"),
    [
        ("Windows", ""),
        ("", "MINGW64_NT-10.0-20348"),
        ("", "MSYS_NT-10.0-20348"),
        ("", "CYGWIN_NT-10.0-20348"),
    ],
)
@pytest.mark.parametrize("mode", ["install", "cache-key"])
def test_windows_is_refused_with_the_fix(
    tmp_path: Path, runner_os: str, kernel: str, mode: str
) -> None:
    job = Job(tmp_path, uv_on_path=True)
    if kernel:
        fake_uname(job, kernel)
    args = (["--cache-key"] if mode == "cache-key" else []) + [str(job.kit), ""]
    result = job.run(*args, RUNNER_OS=runner_os)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    error = result.stderr.strip()
    assert error.startswith("::error title=smgha toolkit install::this job runs on Windows")
    for text in (*SUPPORTED, "macOS is untested", "not support", "runs-on: ubuntu-latest"):
        assert text in error, text
    assert job.take_calls() == []
    assert not job.venv.exists()


@pytest.mark.parametrize(("runner_os", "kernel"), [("macOS", ""), ("", "Darwin")])
def test_macos_is_warned_about_once_a_job_and_installs(
    tmp_path: Path, runner_os: str, kernel: str
) -> None:
    job = Job(tmp_path, uv_on_path=True)
    if kernel:
        fake_uname(job, kernel)
    key = job.run("--cache-key", str(job.kit), "", RUNNER_OS=runner_os)
    assert key.returncode == 0 and annotation_lines(key) == []  # the root action's first step

    first = job.run(RUNNER_OS=runner_os)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [str(job.venv / "bin" / "python")]
    [warning] = annotation_lines(first)
    assert warning.startswith("::warning title=smgha toolkit install::this job runs on ")
    assert "untested" in warning and "runs-on: ubuntu-latest" in warning
    assert all(text in warning for text in SUPPORTED)
    assert "SMGHA_OS_WARNED=1" in job.github_env.read_text().splitlines()

    # A later step gets GITHUB_ENV's variables: no second warning.
    later = job.run(str(job.kit), "a", RUNNER_OS=runner_os, SMGHA_OS_WARNED="1")
    assert later.returncode == 0, later.stderr
    assert annotation_lines(later) == []


def test_linux_installs_without_a_word(tmp_path: Path) -> None:
    job = Job(tmp_path, uv_on_path=True)
    fake_uname(job, "Linux")
    result = job.run(RUNNER_OS="Linux")
    assert result.returncode == 0, result.stderr
    assert annotation_lines(result) == []
    assert "SMGHA_OS_WARNED" not in job.github_env.read_text()


# ---- (c) the workspace never shadows the toolkit --------------------------------------------


def stage_run_script(action_path: Path) -> tuple[str, list[str]]:
    """The run script of the step that runs the stage module, and the INPUT_* it maps."""
    module = "smgha.stages." + action_path.parent.name.replace("-", "_")
    steps = [
        step
        for step in load(action_path)["runs"]["steps"]
        if f"-m {module}" in str(step.get("run", ""))
    ]
    assert len(steps) == 1, f"{rel(action_path)}: one step must run {module}"
    inputs = [name for name in steps[0].get("env") or {} if name.startswith("INPUT_")]
    return str(steps[0]["run"]), inputs


def workspace_with_its_own_smgha(folder: Path, module: str) -> Path:
    """A consumer workspace holding a copy of smgha (a fork of this repository) whose stage
    module says that it ran."""
    stages = folder / "smgha" / "stages"
    stages.mkdir(parents=True)
    say = f"print({WORKSPACE_MARKER!r}, flush=True)\n"
    (folder / "smgha" / "__init__.py").write_text(say)
    (stages / "__init__.py").write_text("")
    (stages / f"{module}.py").write_text(say + "raise SystemExit(0)\n")
    return folder


def run_in_workspace(
    script: str, workspace: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A composite step's run script as the runner runs it, from the workspace."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(workspace),
            "GITHUB_WORKSPACE": str(workspace),
            # the toolkit's interpreter, as the install step exports it
            "SMGHA_PYTHON": sys.executable,
            **env,
        },
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("action_path", STAGE_ACTIONS, ids=lambda path: path.parent.name)
def test_stage_action_runs_the_installed_toolkit_not_the_workspace_copy(
    tmp_path: Path, action_path: Path
) -> None:
    stage = action_path.parent.name
    script, inputs = stage_run_script(action_path)
    workspace = workspace_with_its_own_smgha(tmp_path / "ws", stage.replace("-", "_"))
    # Every input empty: the required ones missing, which the real stage refuses at once.
    result = run_in_workspace(script, workspace, dict.fromkeys(inputs, ""))
    output = result.stdout + result.stderr
    assert WORKSPACE_MARKER not in output, f"{rel(action_path)} ran the workspace's smgha"
    assert result.returncode == 1, output
    assert f"::error title={stage}%3A invalid input::" in result.stdout, output


def test_build_pipeline_action_still_imports_the_pipeline_module_from_the_workspace(
    tmp_path: Path,
) -> None:
    """The workspace is off sys.path, yet `definition: module:function` is found there
    (smgha.definition adds the workspace for that import alone)."""
    script, _inputs = stage_run_script(ROOT / "actions" / "build-pipeline" / "action.yml")
    workspace = workspace_with_its_own_smgha(tmp_path / "ws", "build_pipeline")
    (workspace / "consumer_pipeline.py").write_text(
        "def get_pipeline(**kwargs):\n"
        "    print('CONSUMER PIPELINE BUILT', flush=True)\n"
        "    return {'Version': '2020-12-01', 'Parameters': [], 'Steps': []}\n"
    )
    result = run_in_workspace(
        script,
        workspace,
        {
            "SMGHA_STATE_DIR": str(tmp_path / "state"),
            "INPUT_BACKEND": "local",
            "INPUT_DRY_RUN": "true",
            "INPUT_DEFINITION": "consumer_pipeline:get_pipeline",
            "INPUT_PIPELINE_NAME": "churn",
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "CONSUMER PIPELINE BUILT" in result.stdout
    assert WORKSPACE_MARKER not in output


def test_uv_leaves_out_what_the_toolkits_sdk_excludes_file_names(tmp_path: Path) -> None:
    """The toolkit's sdk-excludes.txt (the SDK's mlflow, pyarrow, ...) reaches uv as
    --excludes; pip, which has no such option, installs everything. The file is part of the
    toolkit's checksum: another list is another toolkit, so a kept venv is not reused."""
    job = Job(tmp_path, uv_on_path=True)
    excludes = job.kit / "sdk-excludes.txt"
    excludes.write_text("mlflow\n")
    key_before = job.run("--cache-key", str(job.kit)).stdout
    assert job.run().returncode == 0
    python = job.venv / "bin" / "python"
    assert (
        job.take_calls()[-1] == f"uv pip install --python {python} --excludes {excludes} {job.kit}"
    )

    excludes.write_text("mlflow\npyarrow\n")
    assert job.run("--cache-key", str(job.kit)).stdout != key_before
    job.take_calls()

    (tmp_path / "pip").mkdir()
    fallback = Job(tmp_path / "pip", bootstrap="fail")
    (fallback.kit / "sdk-excludes.txt").write_text("mlflow\n")
    assert fallback.run().returncode == 0
    assert fallback.take_calls()[-1] == f"pip install -q --disable-pip-version-check {fallback.kit}"
