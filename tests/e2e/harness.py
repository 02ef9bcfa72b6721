"""Helpers of the offline act e2e tests: a consumer repository fixture and a bounded act run.

The consumer repository is a git repo of its own (a copy of this repository's `ml/` as its
model code, one pytest test, smoke-test payloads and a drift baseline) whose caller
workflows use the library as `smgha-org/sagemaker-mlops/.github/workflows/<file>@v1`. act
maps that, and the actions/checkout and actions/setup-python pins, to local folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The environment running the tests: act (test extra), smgha and the consumer's dependencies.
VENV_BIN = Path(sys.executable).parent
ACT = VENV_BIN / "act"
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
FIXTURE = Path(__file__).resolve().parent / "consumer"

# The exact pins the reusable workflows use (kept equal to them by test_pins_match).
CHECKOUT_PIN = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
SETUP_PYTHON_PIN = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"
CACHE_PIN = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"  # restore/ and save/
LIBRARY = "smgha-org/sagemaker-mlops@v1"

ACT_TIMEOUT = 600.0
# The model package version a build registered, as its gate step's output prints it.
BUILT_ARN_RE = re.compile(
    r"::set-output:: model-package-arn=(arn:aws:sagemaker:[a-z0-9-]+:\d{12}:model-package/churn-models/\d+)"
)


def built_arn(log_text: str) -> str:
    """The model package ARN a model-build run output ('' when none)."""
    found = BUILT_ARN_RE.findall(log_text)
    return found[-1] if found else ""


def git(repo: Path, *args: str) -> None:
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


def make_consumer_repo(
    dest: Path, *, workflows: Path | None = None, model_artifact: Path | None = None
) -> Path:
    """A consumer repository in `dest`: the fixture files, `ml/`, payloads and a baseline.

    `workflows`: a folder whose *.yml replace the fixture's caller workflows (the starter
    templates, for the sagemaker-backend run). `model_artifact`: where to write a real
    built-in-XGBoost model.tar.gz trained on the same training split (for the AWS double).
    """
    shutil.copytree(FIXTURE, dest, dirs_exist_ok=True)
    if workflows is not None:
        target = dest / ".github" / "workflows"
        shutil.rmtree(target)
        target.mkdir()
        for workflow in sorted(workflows.glob("*.yml")):
            shutil.copy(workflow, target / workflow.name)
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
    if model_artifact is not None:
        train_model_artifact(work / "train" / "train.csv", model_artifact)
    shutil.rmtree(work)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "remote", "add", "origin", "https://github.com/acme/churn-model.git")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "consumer fixture")
    return dest


def train_model_artifact(train_csv: Path, dest: Path) -> Path:
    """What the built-in XGBoost algorithm would leave: model.tar.gz holding `xgboost-model`,
    trained on `train_csv` (label first, no header) with ml/pipeline.py's default settings."""
    import io
    import tarfile

    import numpy as np
    import xgboost

    rows = np.loadtxt(train_csv, delimiter=",", dtype=np.float32)
    matrix = xgboost.DMatrix(rows[:, 1:], label=rows[:, 0])
    params = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "subsample": 0.8}
    booster = xgboost.train({**params, "nthread": 1, "seed": 7}, matrix, num_boost_round=100)
    raw = bytes(booster.save_raw("ubj"))
    with tarfile.open(dest, "w:gz") as archive:
        member = tarfile.TarInfo("xgboost-model")
        member.size = len(raw)
        archive.addfile(member, io.BytesIO(raw))
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


def export_library(dest: Path) -> Path:
    """This checkout's files without what git ignores (.venv alone is gigabytes): what act
    copies for every `uses:` of the library, so it must be small. Made once per folder."""
    if not dest.exists():
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            check=True,
            capture_output=True,
        ).stdout.decode()
        for name in filter(None, listed.split("\0")):
            source = ROOT / name
            if source.is_file():  # a tracked file deleted in the work tree is left out
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    return dest


def act_command(
    event: str,
    workflow: str,
    *,
    workdir: Path,
    env: dict[str, str],
    inputs: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
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
        # act's copies of the actions and its host workspaces: inside the test's folder.
        "--action-cache-path",
        str(workdir / "act-cache"),
        "--local-repository",
        f"{LIBRARY}={export_library(workdir / 'library')}",
        "--local-repository",
        f"{CHECKOUT_PIN}={STAND_INS / 'checkout'}",
        "--local-repository",
        f"{SETUP_PYTHON_PIN}={STAND_INS / 'setup-python'}",
        "--local-repository",
        f"{CACHE_PIN}={STAND_INS / 'cache'}",
    ]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        command += ["--input", f"{key}={value}"]
    for key, value in (variables or {}).items():  # the repository variables (`vars.*`)
        command += ["--var", f"{key}={value}"]
    return command


def run_act(
    repo: Path,
    event: str,
    workflow: str,
    *,
    log: Path,
    env: dict[str, str],
    inputs: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    timeout: float = ACT_TIMEOUT,
) -> ActRun:
    """Run act in `repo`, output to `log`; on timeout its whole process group is killed.

    No AWS credentials or settings of the machine reach the jobs: on the sagemaker backend
    the only credentials are the ones oidc-auth gets with the job's OIDC token."""
    command = act_command(
        event, workflow, workdir=log.parent, env=env, inputs=inputs, variables=variables
    )
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_")
        and key not in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    }
    process_env = {
        **inherited,
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


class AwsDouble:
    """tests/e2e/aws_double.py as a process: start() waits until it answers, stop() ends it."""

    START_TIMEOUT = 60.0

    def __init__(
        self, folder: Path, *, jwks_url: str, model_artifact: Path, metrics: list[dict[str, float]]
    ) -> None:
        self.folder = folder
        self.calls = folder / "calls.jsonl"
        self.log = folder / "aws-double.log"
        self.command = [
            sys.executable, "-m", "tests.e2e.aws_double",
            "--ready-file", str(folder / "ready.json"),
            "--calls", str(self.calls),
            "--jwks-url", jwks_url,
            "--model-artifact", str(model_artifact),
        ]  # fmt: skip
        for entry in metrics:
            self.command += ["--metrics", json.dumps(entry)]
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> AwsDouble:
        ready = self.folder / "ready.json"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.START_TIMEOUT
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the AWS double did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        self.url = json.loads(ready.read_text())["url"]
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def recorded_calls(self) -> list[dict[str, Any]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines() if line]

    def client(self, service: str) -> Any:
        """A boto3 client of the harness itself (its calls are recorded with no role)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="harness",
            aws_secret_access_key="harness",
        )


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
