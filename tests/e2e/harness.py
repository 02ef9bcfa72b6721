"""Helpers of the offline act e2e tests: a consumer repository fixture and a bounded act run.

The consumer repository is a git repo of its own (a copy of this repository's `ml/` as its
model code, one pytest test, smoke-test payloads and a drift baseline) whose caller
workflows use the library as `smgha-org/sagemaker-mlops/.github/workflows/<file>@v1`. act
maps that, and the actions/checkout and actions/setup-python pins, to local folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The environment running the tests: act (test extra), smgha and the consumer's dependencies.
VENV_BIN = Path(sys.executable).parent
ACT = VENV_BIN / "act"
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
FIXTURE = Path(__file__).resolve().parent / "consumer"

# The exact pins the reusable workflows use (kept equal to them by test_pins_match).
CHECKOUT_PIN = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
SETUP_PYTHON_PIN = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"
LIBRARY = "smgha-org/sagemaker-mlops@v1"

ACT_TIMEOUT = 600.0


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "e2e",
            "GIT_AUTHOR_EMAIL": "e2e@example.com",
            "GIT_COMMITTER_NAME": "e2e",
            "GIT_COMMITTER_EMAIL": "e2e@example.com",
        },
    )


def make_consumer_repo(dest: Path) -> Path:
    """A consumer repository in `dest`: the fixture files, `ml/`, payloads and a baseline."""
    shutil.copytree(FIXTURE, dest, dirs_exist_ok=True)
    shutil.copytree(ROOT / "ml", dest / "ml", ignore=shutil.ignore_patterns("__pycache__"))
    # Smoke-test payloads and the drift baseline: the preprocessed splits (label first) of
    # the same deterministic data the build's prepare-command generates.
    work = dest.parent / f"{dest.name}-prep"
    python = str(VENV_BIN / "python")
    subprocess.run(
        [
            python,
            "-m",
            "ml.data",
            "--rows",
            "2000",
            "--seed",
            "7",
            "--out",
            str(work / "raw" / "churn.csv"),
        ],
        check=True,
        cwd=dest,
        capture_output=True,
    )
    subprocess.run(
        [
            python,
            str(dest / "ml" / "preprocess.py"),
            "--input-dir",
            str(work / "raw"),
            "--output-dir",
            str(work),
        ],
        check=True,
        capture_output=True,
    )
    test_rows = (work / "test" / "test.csv").read_text().splitlines()[:200]
    (dest / "tests" / "payloads.csv").write_text("\n".join(test_rows) + "\n")
    train_rows = (work / "train" / "train.csv").read_text().splitlines()[:500]
    (dest / "data").mkdir(exist_ok=True)
    (dest / "data" / "baseline.csv").write_text("\n".join(train_rows) + "\n")
    shutil.rmtree(work)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "remote", "add", "origin", "https://github.com/acme/churn-model.git")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "consumer fixture")
    return dest


@dataclass
class ActRun:
    returncode: int
    log: Path
    seconds: float

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.text.splitlines()[-lines:])


def act_command(
    event: str, workflow: str, *, env: dict[str, str], inputs: dict[str, str] | None = None
) -> list[str]:
    """The act command line: host runner, offline, every remote `uses:` mapped locally."""
    command = [
        str(ACT),
        event,
        "-W",
        f".github/workflows/{workflow}",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--pull=false",
        "--no-cache-server",
        "--local-repository",
        f"{LIBRARY}={ROOT}",
        "--local-repository",
        f"{CHECKOUT_PIN}={STAND_INS / 'checkout'}",
        "--local-repository",
        f"{SETUP_PYTHON_PIN}={STAND_INS / 'setup-python'}",
    ]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        command += ["--input", f"{key}={value}"]
    return command


def run_act(
    repo: Path,
    event: str,
    workflow: str,
    *,
    log: Path,
    env: dict[str, str],
    inputs: dict[str, str] | None = None,
    timeout: float = ACT_TIMEOUT,
) -> ActRun:
    """Run act in `repo`, output to `log`; on timeout its whole process group is killed."""
    command = act_command(event, workflow, env=env, inputs=inputs)
    process_env = {
        **os.environ,
        "ACT_DISABLE_VERSION_CHECK": "1",
        # The runner's python3 (python-version: "") is this venv's: it has pandas and pytest.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
    }
    process_env.pop("VIRTUAL_ENV", None)
    started = time.monotonic()
    with log.open("w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        process = subprocess.Popen(
            command,
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=process_env,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = -9
            out.write(f"\n[harness] act killed after {timeout:.0f}s\n")
    return ActRun(code, log, time.monotonic() - started)


def smgha(*args: str, state_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The toolkit CLI on the e2e state folder."""
    return subprocess.run(
        [str(VENV_BIN / "smgha"), *args],
        env={**os.environ, "SMGHA_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


if __name__ == "__main__":  # python -m tests.e2e.harness <dest>: make a fixture by hand
    print(make_consumer_repo(Path(sys.argv[1])))
