"""Helpers of the offline act e2e tests: the library as GitHub holds it, a consumer repository,
a bounded act run, and GitHub's runner rules that act does not apply.

* **The library, released.** GitHub resolves `uses: OWNER/REPO/...@REF` from the library
  repository's refs, never from anyone's work tree. `release_library` makes this checkout a
  git repository (`acme/sagemaker-mlops`, a team's fork), cuts a release with the release
  workflow's own tool (scripts/release.py cut, then the major tag as release.yml moves it) and
  keeps a bare copy. `library_mappings` resolves every library reference a workflow run will
  meet (the caller's, then the reusable workflows' at the ref they resolved to) to an export
  of that ref; a ref the bare repository does not have, or the `smgha-org` placeholder, fails
  as GitHub would fail to resolve it.
* **A consumer repository** (tests/e2e/consumer plus `ml/`, payloads and a baseline).
* **A runner as bare as GitHub's.** act runs with a PATH whose `python3` is a fresh virtualenv
  without packages (no pytest, numpy or pandas, no uv), as GitHub-hosted runners and
  actions/setup-python give; the stand-ins (tests/e2e/stand-ins) check out the event's sha
  and set up a bare interpreter.
* **GitHub's runner rules**, checked on act's JSON log after every run (`runner_rule_violations`):
  a job output that contains a value the job masked is dropped by GitHub (actions/runner
  JobExtension.cs: "Skip output '<name>' since it may contain secret"), and no secret may
  appear unmasked in a log line, a job summary or an output.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The environment running the tests: act (test extra), smgha and the consumer's dependencies.
VENV_BIN = Path(sys.executable).parent
ACT = VENV_BIN / "act"
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
FIXTURE = Path(__file__).resolve().parent / "consumer"

# The exact pins the reusable workflows use (kept equal to them by test_pins_match).
CHECKOUT_PIN = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
SETUP_PYTHON_PIN = "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"
CACHE_PIN = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae"  # restore/ and save/
UPLOAD_ARTIFACT_PIN = "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
# The library's repository in the e2e runs (a team's fork), and the placeholder of main.
LIBRARY_REPOSITORY = "acme/sagemaker-mlops"
PLACEHOLDER = "smgha-org/sagemaker-mlops"
VERSION = re.search(
    r'^__version__ = "([^"]+)"$', (ROOT / "smgha" / "__init__.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

# A bound on one act run, for a run that hangs. Not a speed check: a model-build run of the
# sagemaker e2e installs the repository's declared dependencies (the SageMaker SDK's tree)
# with pip twice, about 5 minutes each when pip backtracks in the restored toolkit venv, and
# `make test` runs the other half of the suite on the second core meanwhile: such a run
# took over 600 s there.
ACT_TIMEOUT = 1200.0
# The model package version a build registered, as its gate step's output prints it.
BUILT_ARN_RE = re.compile(
    r"::set-output:: model-package-arn=(arn:aws:sagemaker:[a-z0-9-]+:\d{12}:model-package/churn-models/\d+)"
)
# A `uses:` of a repository action or workflow: owner/repo[/path]@ref.
USES_RE = re.compile(r"^\s*-?\s*uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@\s]*)?@(\S+)", re.M)
# GitHub ignores add-mask values this short (nothing of ours is).
MIN_SECRET_LENGTH = 4


def built_arn(log_text: str) -> str:
    """The model package ARN a model-build run output ('' when none)."""
    found = BUILT_ARN_RE.findall(log_text)
    return found[-1] if found else ""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "e2e",
            "GIT_AUTHOR_EMAIL": "e2e@example.com",
            "GIT_COMMITTER_NAME": "e2e",
            "GIT_COMMITTER_EMAIL": "e2e@example.com",
        },
    ).stdout.strip()


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
    (dest / "tests").mkdir(exist_ok=True)
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


# ---- the library, as GitHub holds it -----------------------------------------------------------


def export_library(dest: Path) -> Path:
    """This checkout's files without what git ignores (.venv alone is gigabytes): the code
    the library repository would hold if this work tree were committed. Made once per folder."""
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


@dataclass(frozen=True)
class LibraryRelease:
    """The library repository after its release workflow ran: a bare repository whose tags
    are `v<VERSION>` (the release commit) and the major tag."""

    bare: Path
    version: str
    release_sha: str  # the commit tagged v<VERSION>: the reusable workflows pinned to code_sha
    code_sha: str  # main's commit the release was cut from

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    def show(self, ref: str, path: str) -> str:
        """A file of the library at `ref`, as a caller copying it from GitHub would see it."""
        return git(self.bare, "show", f"{ref}:{path}")

    def export(self, ref: str, dest: Path) -> Path:
        """The tree of `ref` (what GitHub downloads for `uses: ...@ref`) in `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(self.bare), "archive", "--format=tar", ref],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="tar")
        return dest


def release_library(dest: Path, version: str = VERSION) -> LibraryRelease:
    """Commit this checkout as `acme/sagemaker-mlops`'s main and cut release `version` the way
    .github/workflows/release.yml does: `scripts/release.py cut` (the release commit, tagged),
    then the major tag where `scripts/release.py major` says it moves. Kept in a bare copy."""
    work = export_library(dest / "library-main")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "main at test time")
    code_sha = git(work, "rev-parse", "HEAD")
    release_sha = _release_tool(work, "cut", version, "--repository", LIBRARY_REPOSITORY)
    major = _release_tool(work, "major", version)
    if major:
        git(work, "tag", "-f", "-a", major, "-m", f"{major} -> v{version}", release_sha)
    bare = dest / "library.git"
    git(dest, "clone", "-q", "--bare", str(work), str(bare))
    return LibraryRelease(bare, version, release_sha, code_sha)


def _release_tool(work: Path, *args: str) -> str:
    """scripts/release.py in `work`: its stdout, or an error with everything it said."""
    done = subprocess.run(
        [sys.executable, "scripts/release.py", *args], cwd=work, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/release.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


class LibraryUnresolved(RuntimeError):
    """A `uses:` GitHub could not resolve (no such ref, or the placeholder of main)."""


def _library_uses(texts: Iterable[str]) -> set[tuple[str, str]]:
    """(path in the library, ref) of every `uses:` of the library in these files."""
    found = set()
    for text in texts:
        for repository, path, ref in USES_RE.findall(text):
            if repository == PLACEHOLDER:
                raise LibraryUnresolved(
                    f"uses: {repository}{path}@{ref}: the placeholder of main; GitHub cannot "
                    "resolve it (a release rewrites it, scripts/release.py)"
                )
            if repository == LIBRARY_REPOSITORY:
                found.add((path.strip("/"), ref))
    return found


def library_mappings(release: LibraryRelease, caller: Path, dest: Path) -> dict[str, Path]:
    """`LIBRARY_REPOSITORY@ref` -> an export of that ref, for every library reference a run of
    the caller repository's workflows meets: the caller's `uses:`, then, in each file they
    name at that ref (a reusable workflow, or an action.yml), its own `uses:` of the library.
    A ref the bare repository lacks, or the placeholder, raises LibraryUnresolved."""
    caller_files = [*sorted((caller / ".github" / "workflows").glob("*.yml"))]
    todo = _library_uses(f.read_text() for f in caller_files)
    mapped: dict[str, Path] = {}
    seen: set[tuple[str, str]] = set()
    while todo:
        path, ref = todo.pop()
        seen.add((path, ref))
        if ref not in mapped:
            found = subprocess.run(
                [
                    "git",
                    "-C",
                    str(release.bare),
                    "rev-parse",
                    "-q",
                    "--verify",
                    f"{ref}^{{commit}}",
                ],
                capture_output=True,
                text=True,
            )
            if found.returncode != 0:
                raise LibraryUnresolved(
                    f"{LIBRARY_REPOSITORY}@{ref}: no such tag, branch or commit in the library "
                    "repository (GitHub: 'Unable to resolve action')"
                )
            mapped[ref] = release.export(ref, dest / f"library@{ref}")
        used = mapped[ref] / path
        if not path.endswith((".yml", ".yaml")):
            used = used / "action.yml"
        if not used.is_file():
            raise LibraryUnresolved(f"{LIBRARY_REPOSITORY}/{path}@{ref}: no {used.name} there")
        todo |= _library_uses([used.read_text()]) - seen
    return mapped


# ---- a runner as bare as GitHub's --------------------------------------------------------------


def runner_python(dest: Path) -> Path:
    """A virtualenv without packages (pip only): the runner's own `python3` in the e2e runs,
    as bare as a GitHub-hosted runner's or actions/setup-python's. Made once per folder."""
    python = dest / "bin" / "python3"
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(dest)], check=True, capture_output=True)
    return python


def runner_path(python: Path) -> str:
    """PATH of the e2e jobs: the bare python first, then the system's directories, without
    the test environment (its pytest, pandas, uv, act) or any other python environment."""
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry
        and Path(entry).resolve() != VENV_BIN.resolve()
        and not (Path(entry) / "pyvenv.cfg").exists()
        and not (Path(entry).parent / "pyvenv.cfg").exists()
        and ".pyenv" not in entry
    ]
    return os.pathsep.join([str(python.parent), *kept])


# ---- act runs and their JSON log ---------------------------------------------------------------


@dataclass
class ActRun:
    returncode: int
    log: Path  # act's JSON log, one event a line
    seconds: float

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"msg": line}
            events.append(event if isinstance(event, dict) else {"msg": line})
        return events

    @cached_property
    def text(self) -> str:
        """The log as act prints it without --json: `[job] message` lines."""
        lines = []
        for event in self.events:
            message = str(event.get("msg", "")).rstrip("\n")
            prefix = f"[{event['job']}] " if event.get("job") else ""
            for part in message.split("\n"):
                lines.append(f"{prefix}  | {part}" if event.get("raw_output") else prefix + part)
        return "\n".join(lines)

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.text.splitlines()[-lines:])

    def job_result(self, job_suffix: str) -> str:
        """act's result ('success', 'failure') of the job whose name ends with `job_suffix`
        ('' when it did not run)."""
        for event in self.events:  # act pads job names to one width
            if str(event.get("job", "")).rstrip().endswith(job_suffix) and "jobResult" in event:
                return str(event["jobResult"])
        return ""


def job_output_names(workflow_texts: Iterable[str]) -> set[str]:
    """The step output names that feed a job's `outputs:` in these workflows."""
    names = set()
    for text in workflow_texts:
        document = yaml.safe_load(text) or {}
        for job in (document.get("jobs") or {}).values():
            for value in ((job or {}).get("outputs") or {}).values():
                names.update(re.findall(r"steps\.[\w-]+\.outputs\.([\w-]+)", str(value)))
    return names


def runner_rule_violations(
    run: ActRun, output_names: set[str], secrets: Iterable[str] = ()
) -> list[str]:
    """What GitHub's runner would do differently from act in this run, or refuse:

    * a job output whose value contains a value masked in that job is dropped, with the
      warning "Skip output '<name>' since it may contain secret" (actions/runner
      src/Runner.Worker/JobExtension.cs); act passes it on. Checked on every step output
      whose name feeds a job output (`output_names`), so it is stricter where names repeat.
    * no secret (every value masked in any job, plus `secrets`) may appear in a log line, a
      job summary or such an output, masked or not where it was written.
    """
    masks: dict[str, set[str]] = defaultdict(set)
    for event in run.events:
        if (
            event.get("command") == "add-mask"
            and len(str(event.get("arg", ""))) >= MIN_SECRET_LENGTH
        ):
            masks[str(event.get("job", ""))].add(str(event["arg"]))
    every_secret = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    for values in masks.values():
        every_secret |= values
    problems = []
    for event in run.events:
        job = str(event.get("job", ""))
        command = event.get("command")
        if command == "set-output" and event.get("name") in output_names:
            value = str(event.get("arg", ""))
            if any(mask in value for mask in masks[job]):
                problems.append(
                    f"[{job}] Skip output '{event['name']}' since it may contain secret "
                    "(GitHub drops a job output containing a masked value)"
                )
            problems += [
                f"[{job}] output '{event['name']}' holds a secret ({secret[:4]}…)"
                for secret in every_secret
                if secret in value
            ]
        texts = {"log line": str(event.get("msg", ""))}
        if command == "summary":
            texts["job summary"] = str(event.get("content", ""))
        for where, text in texts.items():
            problems += [
                f"[{job}] a secret ({secret[:4]}…) appears unmasked in a {where}: {text.strip()[:160]}"
                for secret in every_secret
                if secret in text
            ]
    return problems


def act_command(
    event: str,
    workflow: str,
    *,
    workdir: Path,
    library: Mapping[str, Path],
    env: dict[str, str],
    inputs: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    event_file: Path | None = None,
    secrets: dict[str, str] | None = None,
) -> list[str]:
    """The act command line: host runner, offline, every remote `uses:` mapped locally."""
    command = [
        str(ACT),
        event,
        "--json",
        "-W",
        f".github/workflows/{workflow}",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--pull=false",
        "--no-cache-server",
        # The checkout stand-in checks out the event's sha (act would copy the work tree).
        "--no-skip-checkout",
        # act's copies of the actions and its host workspaces: inside the test's folder.
        "--action-cache-path",
        str(workdir / "act-cache"),
        "--local-repository",
        f"{CHECKOUT_PIN}={STAND_INS / 'checkout'}",
        "--local-repository",
        f"{SETUP_PYTHON_PIN}={STAND_INS / 'setup-python'}",
        "--local-repository",
        f"{CACHE_PIN}={STAND_INS / 'cache'}",
        "--local-repository",
        f"{UPLOAD_ARTIFACT_PIN}={STAND_INS / 'upload-artifact'}",
    ]
    for ref, folder in sorted(library.items()):
        command += ["--local-repository", f"{LIBRARY_REPOSITORY}@{ref}={folder}"]
    if event_file is not None:
        command += ["--eventpath", str(event_file)]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        command += ["--input", f"{key}={value}"]
    for key, value in (variables or {}).items():  # the repository variables (`vars.*`)
        command += ["--var", f"{key}={value}"]
    for key, value in (secrets or {}).items():  # GITHUB_TOKEN: the job's `github.token`
        command += ["--secret", f"{key}={value}"]
    return command


def run_act(
    repo: Path,
    event: str,
    workflow: str,
    *,
    release: LibraryRelease,
    log: Path,
    env: dict[str, str],
    inputs: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    event_payload: dict[str, Any] | None = None,
    timeout: float = ACT_TIMEOUT,
    secrets: dict[str, str] | None = None,
) -> ActRun:
    """Run act in `repo`, its JSON log to `log`; on timeout its whole process group is killed.

    The library is resolved from `release` as GitHub would (LibraryUnresolved otherwise).
    No AWS credentials or settings of the machine reach the jobs (on the sagemaker backend the
    only credentials are the ones oidc-auth gets with the job's OIDC token), and the jobs'
    PATH has a bare python3 and nothing of the test environment."""
    workdir = log.parent
    library = library_mappings(release, repo, workdir / "library-refs")
    event_file = None
    if event_payload is not None:
        event_file = log.with_suffix(".event.json")
        event_file.write_text(json.dumps(event_payload))
    command = act_command(
        event,
        workflow,
        workdir=workdir,
        library=library,
        env={
            "SMGHA_E2E_REPO": str(repo),
            # One artifact store per run, as GitHub keeps artifacts per workflow run.
            "SMGHA_E2E_ARTIFACTS": str(log.with_suffix(".artifacts")),
            # The jobs' venvs copy their files from uv's cache rather than hard-link them. On
            # this machine another pytest worker's act run hard-links the same cached wheels
            # meanwhile, which changes the inodes' ctime, and the cache save's tar then fails
            # with "file changed as we read it" (seen in a CI run). No job of another run
            # shares a GitHub runner's uv cache, so this is the test machine's race only.
            "UV_LINK_MODE": "copy",
            **env,
        },
        inputs=inputs,
        variables=variables,
        event_file=event_file,
        secrets=secrets,
    )
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTHON", "UV_", "PIP_"))
        and key
        not in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "VIRTUAL_ENV")
    }
    python = runner_python(workdir.parent / "runner-python")
    process_env = {
        **inherited,
        "ACT_DISABLE_VERSION_CHECK": "1",
        "PATH": runner_path(python),
    }
    # The command line (it names the OIDC request token) stays out of the log GitHub would show.
    log.with_suffix(".command").write_text(" ".join(command) + "\n")
    started = time.monotonic()
    with log.open("w") as out:
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
            out.write(json.dumps({"msg": f"[harness] act killed after {timeout:.0f}s"}) + "\n")
    return ActRun(code, log, time.monotonic() - started)


def caller_output_names(repo: Path, release: LibraryRelease) -> set[str]:
    """The step outputs that feed job outputs, in the caller's workflows and the library's."""
    texts = [f.read_text() for f in sorted((repo / ".github" / "workflows").glob("*.yml"))]
    texts += [
        release.show(release.tag, f".github/workflows/{n}")
        for n in ("model-build.yml", "model-validate.yml", "model-deploy.yml")
    ]
    return job_output_names(texts)


# ---- the production environment's required reviewer -------------------------------------------


@dataclass
class Review:
    role: str
    waiting_at: float  # when the job asked for the role's credentials
    decided_at: float
    approved: bool
    why: str


@dataclass
class Reviewer:
    """The required reviewer of the `production` environment, which act does not have.

    GitHub holds a job of a protected environment until a reviewer approves. Here the hold is
    where production first needs its environment: the AWS double holds the production role's
    AssumeRoleWithWebIdentity (`--gated-role`) until a file in `gate_dir` says approved or
    rejected. This reviewer approves only once act's log shows the run's staging job
    succeeded, and records every decision; the tests check no production call came first."""

    gate_dir: Path
    log: Path
    reviews: list[Review] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    POLL_SECONDS = 0.2

    def __enter__(self) -> Reviewer:
        self._thread = threading.Thread(target=self._watch, name="reviewer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _staging_succeeded(self) -> bool:
        if not self.log.exists():
            return False
        return ActRun(0, self.log, 0).job_result("/Staging") == "success"

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            for waiting in sorted(self.gate_dir.glob("*.waiting")):
                role, since = json.loads(waiting.read_text()).values()
                approved = self._staging_succeeded()
                why = "staging succeeded" if approved else "staging has not succeeded"
                decision = waiting.with_suffix(".approved" if approved else ".rejected")
                decision.write_text(why)
                waiting.unlink()
                self.reviews.append(Review(role, since, time.time(), approved, why))


class AwsDouble:
    """tests/e2e/aws_double.py as a process: start() waits until it answers, stop() ends it."""

    START_TIMEOUT = 60.0

    def __init__(
        self,
        folder: Path,
        *,
        jwks_url: str,
        model_artifact: Path,
        metrics: list[dict[str, float]],
        gated_roles: Iterable[str] = (),
    ) -> None:
        self.folder = folder
        self.calls = folder / "calls.jsonl"
        self.log = folder / "aws-double.log"
        self.gate_dir = folder / "gate"
        self.gate_dir.mkdir(parents=True, exist_ok=True)
        self.command = [
            sys.executable, "-m", "tests.e2e.aws_double",
            "--ready-file", str(folder / "ready.json"),
            "--calls", str(self.calls),
            "--jwks-url", jwks_url,
            "--model-artifact", str(model_artifact),
            "--gate-dir", str(self.gate_dir),
        ]  # fmt: skip
        for role in gated_roles:
            self.command += ["--gated-role", role]
        for entry in metrics:
            self.command += ["--metrics", json.dumps(entry)]
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        # The access keys of the harness's own clients of other accounts (client(account=)):
        # the double records their calls with no role, as it does the "harness" key's.
        self.harness_keys: set[str] = {"harness"}

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

    def client(self, service: str, account: str = "") -> Any:
        """A boto3 client of the harness itself (its calls are recorded with no role), in
        moto's default account (the tooling account), or in `account`: then with a key of
        that account from moto's STS, asked directly (not through the double, so the key's
        role is not learnt and the calls stay the harness's)."""
        import boto3

        credentials = {"aws_access_key_id": "harness", "aws_secret_access_key": "harness"}
        if account:
            moto_url = json.loads((self.folder / "ready.json").read_text())["moto"]
            issued = boto3.client(
                "sts", endpoint_url=moto_url, region_name="us-east-1", **credentials
            ).assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/e2e-harness", RoleSessionName="e2e-harness"
            )["Credentials"]
            self.harness_keys.add(issued["AccessKeyId"])
            credentials = {
                "aws_access_key_id": issued["AccessKeyId"],
                "aws_secret_access_key": issued["SecretAccessKey"],
                "aws_session_token": issued["SessionToken"],
            }
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", **credentials)


def plain_aws_double(folder: Path) -> AwsDouble:
    """A started double for tests that invoke no endpoint and exchange no OIDC token (the idle
    report, the endpoint removal): a placeholder model artifact, an unreachable JWKS."""
    artifact = folder / "model.tar.gz"
    artifact.write_bytes(b"not read: no endpoint is invoked")
    return AwsDouble(
        folder,
        jwks_url="http://127.0.0.1:9/.well-known/jwks",
        model_artifact=artifact,
        metrics=[{"accuracy": 0.9}],
    ).start()


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
