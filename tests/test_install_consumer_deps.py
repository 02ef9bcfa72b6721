"""scripts/install-consumer-deps.sh: the repository's declared dependencies go into the
toolkit's virtualenv, which goes first on PATH (the root action's `dependencies: true`).

The packages installed here are wheels made by the test (no network): a requirements file
naming one, and a pyproject.toml project depending on nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.test_install_toolkit import Job

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-consumer-deps.sh"


def _wheel(folder: Path, name: str, body: str) -> Path:
    """A minimal pure-Python wheel of one module `name` (version 1.0)."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{dist}/RECORD": "\n".join(record) + "\n"}.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare virtualenv standing in for the toolkit's (no pip of its own needed)."""
    folder = tmp_path_factory.mktemp("toolkit-venv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def _install(
    venv: Path, workspace: Path, *args: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    github_path = tmp_path / "github_path"
    github_path.write_text("")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",  # python3 with pip; no uv
        "HOME": str(tmp_path),
        "GITHUB_PATH": str(github_path),
        "PIP_NO_INDEX": "1",  # nothing from the network: the wheels are local
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        # These tests install real wheels with pip; which installer the script picks, and
        # its uv bootstrap, are tested with stubs below.
        "SMGHA_INSTALLER": "pip",
        "RUNNER_TEMP": str(tmp_path),
    }
    if (Path(sys.executable).parent / "uv").exists():
        env["PATH"] = "/usr/bin:/bin"  # python3 below must be one with pip
        env["SMGHA_UV"] = ""
    done = subprocess.run(
        ["bash", str(SCRIPT), str(venv), str(workspace), *args],
        env={**env, "PATH": f"{tmp_path / 'shim'}:{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, github_path


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """`python3` on PATH is this test environment's interpreter (it has pip >= 22.3)."""
    folder = tmp_path / "shim"
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)
    return folder


def _imports(venv: Path, module: str) -> bool:
    # -I: not from the current directory (this checkout has an smgha/ of its own).
    done = subprocess.run([str(venv), "-I", "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0


def test_the_requirements_file_goes_into_the_venv_which_goes_on_path(
    venv: Path, tmp_path: Path, shim: Path
) -> None:
    workspace = tmp_path / "repo"
    (workspace / "ml").mkdir(parents=True)
    wheel = _wheel(tmp_path, "churnhelpers", "VALUE = 42\n")
    (workspace / "ml" / "requirements.txt").write_text(f"{wheel}\n")
    assert not _imports(venv, "churnhelpers")
    done, github_path = _install(venv, workspace, "ml/requirements.txt", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(venv, "churnhelpers")
    assert github_path.read_text() == f"{venv.parent}\n"
    assert "installing ml/requirements.txt" in done.stdout


def test_a_forks_own_smgha_project_is_never_installed_from_the_workspace(
    venv: Path, tmp_path: Path, shim: Path
) -> None:
    workspace = tmp_path / "fork"
    workspace.mkdir()
    (workspace / "pyproject.toml").write_text('[project]\nname = "smgha"\nversion = "9.9.9"\n')
    done, _ = _install(venv, workspace, "requirements.txt", "", "", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pyproject.toml is the smgha library's own (a fork): not installed" in done.stdout
    assert "no requirements.txt or pyproject.toml" in done.stdout
    assert not _imports(venv, "smgha")
    refused, _ = _install(venv, workspace, "requirements.txt", "test", tmp_path=tmp_path)
    assert refused.returncode == 1
    assert "smgha library's own project" in refused.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt"], "requirements-file 'missing.txt' does not exist"),
        (["requirements.txt", "test"], "has no [project] table"),
        (["requirements.txt", "te st"], "is not a comma separated list"),
    ],
)
def test_bad_input_is_one_error_naming_the_input(
    venv: Path, tmp_path: Path, shim: Path, args: list[str], message: str
) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    done, github_path = _install(venv, workspace, *args, tmp_path=tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and message in errors[0], done.stdout
    assert github_path.read_text() == ""  # nothing changed


def test_the_script_is_what_the_root_action_runs() -> None:
    action = (ROOT / "action.yml").read_text()
    assert '"$GITHUB_ACTION_PATH/scripts/install-consumer-deps.sh"' in action
    assert os.access(SCRIPT, os.X_OK)


# ---- the installer: uv, bootstrapped as install-toolkit.sh does ---------------------------
# The stubs of tests/test_install_toolkit.py: a python3 whose `-m venv` and `-m pip --python`
# are recorded (and `pip install uv` puts a stub uv in place), and a uv that records.


def _stub_job(tmp_path: Path, **options: Any) -> tuple[Job, Path, Path]:
    job = Job(tmp_path, **options)
    venv_python = tmp_path / "toolkit-venv" / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv_python.parents[1])], check=True
    )
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "requirements.txt").write_text("sagemaker>=3.20\n")
    return job, venv_python, workspace


def _run_stubbed(
    job: Job, venv_python: Path, workspace: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(venv_python), str(workspace), "requirements.txt"],
        env={**job.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_job_whose_toolkit_came_from_the_cache_bootstraps_uv_for_the_dependencies(
    tmp_path: Path,
) -> None:
    """A cache hit skips install-toolkit.sh's uv bootstrap; pip would then resolve the SDK's
    dependencies for minutes (it backtracks through s3fs's releases): uv is bootstrapped here
    the same way, once a job."""
    job, venv_python, workspace = _stub_job(tmp_path)
    done = _run_stubbed(job, venv_python, workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    uv = job.uv_home / "bin" / "uv"
    assert job.take_calls() == [
        f"python3 -m venv --without-pip {job.uv_home}",
        f"python3 -m pip --python {job.uv_home}/bin/python install -q "
        "--disable-pip-version-check uv",
        "uv --version",
        f"uv pip install --python {venv_python} -r {workspace}/requirements.txt",
    ]
    assert job.github_env.read_text().splitlines() == [f"SMGHA_UV={uv}"]
    # A later install of the job (SMGHA_UV from GITHUB_ENV): that uv, no second bootstrap.
    again = _run_stubbed(job, venv_python, workspace, SMGHA_UV=str(uv))
    assert again.returncode == 0, again.stderr
    assert job.take_calls() == [
        f"uv pip install --python {venv_python} -r {workspace}/requirements.txt"
    ]


def test_smgha_installer_pip_installs_the_dependencies_with_pip(tmp_path: Path) -> None:
    job, venv_python, workspace = _stub_job(tmp_path)
    done = _run_stubbed(job, venv_python, workspace, SMGHA_INSTALLER="pip")
    assert done.returncode == 0, done.stderr
    assert job.take_calls() == [
        f"python3 -m pip --python {venv_python} install --disable-pip-version-check "
        f"-r {workspace}/requirements.txt"
    ]
    assert job.github_env.read_text() == ""


def test_when_uv_cannot_be_installed_pip_installs_the_dependencies(tmp_path: Path) -> None:
    job, venv_python, workspace = _stub_job(tmp_path, bootstrap="fail")
    done = _run_stubbed(job, venv_python, workspace)
    # The stub pip refuses every install, so the run fails; what matters is who was asked.
    assert "could not install uv with pip" in done.stderr
    assert job.take_calls() == [
        f"python3 -m venv --without-pip {job.uv_home}",
        f"python3 -m pip --python {job.uv_home}/bin/python install -q "
        "--disable-pip-version-check uv",
        f"python3 -m pip --python {venv_python} install --disable-pip-version-check "
        f"-r {workspace}/requirements.txt",
    ]
    assert job.github_env.read_text() == ""
