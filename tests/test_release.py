"""The release: scripts/release.py and .github/workflows/release.yml.

Every test works in real git repositories under tmp_path: a small library tree with
placeholders (`smgha-org/sagemaker-mlops<path>@unreleased`) in each kind of file, a bare
`origin` for the workflow's pushes, and a fake `gh` that records its arguments. The workflow's
run scripts are executed with bash the way the runner does. Nothing reaches the network, and
git never reads the user's or the system's configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.yaml_files import ROOT, load, rel

RELEASE_SCRIPT = ROOT / "scripts" / "release.py"
RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
WORKFLOW_FILES = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "workflows-templates").glob("*.yml")
)
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
REPOSITORY = "acme/mlops-fork"
VERSION = "1.2.0"
TAG = f"v{VERSION}"
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
TOKEN = "not-a-token"
SHA = re.compile(r"[0-9a-f]{40}")
ERROR = re.compile(
    r"^::error (?:file=(?P<file>[^,]+),(?:line=(?P<line>\d+),)?)?title=release::", re.M
)
LEFTOVER = re.compile(r"smgha-org/sagemaker-mlops|@unreleased")

SEMVER_VERSIONS = ["1.2.3", "0.1.0", "10.20.30", "0.0.0"]
NOT_SEMVER_VERSIONS = [
    "v1.2.3",
    "1",
    "1.2",
    "1.2.3.4",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2.3-rc.1",
    "1.2.3+build",
    "1.2.x",
    "x.y.z",
    "1.2.3 ",
    "\u0661.2.3",  # an Arabic-Indic digit: \d would take it
    "",
]

# ---- the library tree ----------------------------------------------------------------------

INIT = '"""smgha."""\n\n__version__ = "1.2.0"\n'
PYPROJECT = """[build-system]
requires = ["setuptools>=68"]

[project]
name = "smgha"
version = "1.2.0"

[tool.other]
version = "9.9.9"
"""
CHANGELOG = """# Changelog

## [Unreleased]

## [1.2.0] - 2025-03-01

### Added
- The release workflow.

## [1.1.0]

### Fixed
- Something.
"""
REUSABLE = """# Called as smgha-org/sagemaker-mlops/.github/workflows/model-build.yml@unreleased
on:
  workflow_call:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: smgha-org/sagemaker-mlops@unreleased # the toolkit
      - uses: smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased
      - uses: "smgha-org/sagemaker-mlops/actions/build-pipeline@unreleased"
      - uses: smgha-org/sagemaker-mlops/.github/actions/build-and-review@unreleased
"""
ROOT_ACTION = """name: toolkit
runs:
  using: composite
  steps:
    - uses: actions/cache/restore@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3
      with:
        path: x
        key: y
"""
STAGE_ACTION = """name: oidc-auth
runs:
  using: composite
  steps:
    - uses: smgha-org/sagemaker-mlops@unreleased
"""
PLAIN_ACTION = "name: build-pipeline\nruns:\n  using: composite\n  steps: []\n"
# The reusable workflows' shared steps: library code, pinned to the sha like a stage action.
SHARED_STEPS_ACTION = """name: build and review
runs:
  using: composite
  steps:
    - uses: smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased
"""
TEMPLATE = """on: push
jobs:
  build:
    uses: smgha-org/sagemaker-mlops/.github/workflows/model-build.yml@unreleased # copied
"""
README = "# Library\n\nPin `smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased`.\n"
EXEMPT_TEST = 'LIBRARY = "smgha-org/sagemaker-mlops"  # tests keep the placeholder\n'
# A CRLF file: the release keeps its line endings.
GUIDE = "Guide\r\n\r\nuses: smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased\r\n"

LIBRARY_FILES = {
    "smgha/__init__.py": INIT,
    "pyproject.toml": PYPROJECT,
    "CHANGELOG.md": CHANGELOG,
    ".github/workflows/model-build.yml": REUSABLE,
    "action.yml": ROOT_ACTION,
    "actions/oidc-auth/action.yml": STAGE_ACTION,
    "actions/build-pipeline/action.yml": PLAIN_ACTION,
    ".github/actions/build-and-review/action.yml": SHARED_STEPS_ACTION,
    "workflows-templates/model-build.yml": TEMPLATE,
    "README.md": README,
    "docs/guide.md": GUIDE,
    "tests/test_library.py": EXEMPT_TEST,
}


def git_env(home: Path) -> dict[str, str]:
    """An environment in which git reads no user or system configuration and no identity."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "gitconfig"
    config.touch()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "TMPDIR": str(home / "tmp"),
    }


@dataclass(frozen=True)
class Library:
    """A git repository holding the library tree at commit `head`, and its environment."""

    path: Path
    env: dict[str, str]

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def write(self, file: str, text: str) -> None:
        path = self.path / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))

    def read(self, file: str) -> str:
        return (self.path / file).read_bytes().decode("utf-8")

    def release(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(RELEASE_SCRIPT), *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the work tree (not .git), for "nothing changed" checks."""
        return {
            str(path.relative_to(self.path)): path.read_bytes()
            for path in sorted(self.path.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(self.path).parts
        }

    def refs(self) -> str:
        return self.git("for-each-ref", "--format=%(refname) %(objectname)")

    def worktrees(self) -> int:
        return self.git("worktree", "list", "--porcelain").count("worktree ")


def make_library(path: Path, files: dict[str, str]) -> Library:
    library = Library(path, git_env(path.parent / f"{path.name}-home"))
    Path(library.env["TMPDIR"]).mkdir()
    library.git("init", "-q", "-b", "main", str(path), cwd=path.parent)
    for file, text in files.items():
        library.write(file, text)
    (path / "scripts").mkdir(exist_ok=True)
    shutil.copy(RELEASE_SCRIPT, path / "scripts" / "release.py")
    library.commit("the library")
    return library


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return make_library(tmp_path / "library", LIBRARY_FILES)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("::error ")]


def error_places(done: subprocess.CompletedProcess[str]) -> list[str]:
    """file:line (or file) of each ::error annotation."""
    places = []
    for match in ERROR.finditer(done.stderr):
        file, line = match.group("file"), match.group("line")
        places.append(f"{file}:{line}" if line else str(file))
    return places


# ---- check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SEMVER_VERSIONS)
def test_check_accepts_exact_semver(library: Library, version: str) -> None:
    library.write("smgha/__init__.py", INIT.replace(VERSION, version))
    library.write("pyproject.toml", PYPROJECT.replace(VERSION, version))
    library.write("CHANGELOG.md", CHANGELOG.replace(VERSION, version))
    done = library.release("check", version)
    assert done.returncode == 0, done.stderr
    assert errors(done) == []


@pytest.mark.parametrize("version", NOT_SEMVER_VERSIONS)
def test_check_rejects_a_version_that_is_not_exact_semver(library: Library, version: str) -> None:
    done = library.release("check", version)
    assert done.returncode == 1
    assert len(errors(done)) == 1 and "not exact semver" in done.stderr


@pytest.mark.parametrize(
    ("file", "text", "place", "fix"),
    [
        (
            "smgha/__init__.py",
            INIT.replace("1.2.0", "1.1.0"),
            "smgha/__init__.py:3",
            'set __version__ = "1.2.0"',
        ),
        ("smgha/__init__.py", '"""smgha."""\n', "smgha/__init__.py", 'add __version__ = "1.2.0"'),
        (
            "pyproject.toml",
            PYPROJECT.replace('version = "1.2.0"', 'version = "1.2.1"'),
            "pyproject.toml:6",
            'set version = "1.2.0"',
        ),
        (
            "pyproject.toml",  # a version under another table does not count
            PYPROJECT.replace('version = "1.2.0"\n', ""),
            "pyproject.toml",
            "under [project]",
        ),
        (
            "CHANGELOG.md",
            CHANGELOG.replace("## [1.2.0] - 2025-03-01", "## [1.2.01]"),
            "CHANGELOG.md",
            "rename '## [Unreleased]'",
        ),
        (
            "CHANGELOG.md",
            CHANGELOG.replace("## [1.2.0] - 2025-03-01", "## [1.2.0] (soon)"),
            "CHANGELOG.md",
            "## [1.2.0]",
        ),
        (
            "CHANGELOG.md",
            CHANGELOG.replace("## [1.2.0] - 2025-03-01", "## 1.2.0"),
            "CHANGELOG.md",
            "## [1.2.0]",
        ),
    ],
    ids=[
        "dunder-mismatch",
        "dunder-missing",
        "pyproject-mismatch",
        "pyproject-missing",
        "changelog-other",
        "changelog-suffix",
        "changelog-brackets",
    ],
)
def test_check_names_each_mismatch_with_its_file_and_fix(
    library: Library, file: str, text: str, place: str, fix: str
) -> None:
    library.write(file, text)
    done = library.release("check", VERSION)
    assert done.returncode == 1
    assert error_places(done) == [place]
    assert fix in done.stderr


def test_check_accepts_a_section_without_a_date(library: Library) -> None:
    library.write("CHANGELOG.md", CHANGELOG.replace("## [1.2.0] - 2025-03-01", "## [1.2.0]"))
    assert library.release("check", VERSION).returncode == 0


def test_check_reports_every_mismatch_at_once(library: Library) -> None:
    done = library.release("check", "1.3.0")
    assert done.returncode == 1
    assert error_places(done) == ["smgha/__init__.py:3", "pyproject.toml:6", "CHANGELOG.md"]


def test_check_names_a_missing_file(library: Library) -> None:
    (library.path / "pyproject.toml").unlink()
    done = library.release("check", VERSION)
    assert done.returncode == 1 and error_places(done) == ["pyproject.toml"]


# ---- notes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "body"),
    [("1.2.0", "### Added\n- The release workflow.\n"), ("1.1.0", "### Fixed\n- Something.\n")],
)
def test_notes_print_the_section_body(library: Library, version: str, body: str) -> None:
    done = library.release("notes", version)
    assert done.returncode == 0, done.stderr
    assert done.stdout == body


def test_notes_reject_a_missing_or_empty_section(library: Library) -> None:
    missing = library.release("notes", "1.3.0")
    assert missing.returncode == 1 and missing.stdout == ""
    assert error_places(missing) == ["CHANGELOG.md"]
    library.write(
        "CHANGELOG.md",
        CHANGELOG.replace("- The release workflow.\n", "").replace("### Added\n", "\n"),
    )
    empty = library.release("notes", VERSION)
    assert empty.returncode == 1 and empty.stdout == ""
    assert error_places(empty) == ["CHANGELOG.md:5"] and "is empty" in empty.stderr


# ---- pin -----------------------------------------------------------------------------------

A = "0123456789abcdef0123456789abcdef01234567"


def pin(library: Library, sha: str = A) -> subprocess.CompletedProcess[str]:
    return library.release("pin", "--repository", REPOSITORY, "--sha", sha, "--version", VERSION)


def test_pin_rewrites_library_code_to_the_sha_and_the_rest_to_the_tag(library: Library) -> None:
    done = pin(library)
    assert done.returncode == 0, done.stderr
    code = f"{REPOSITORY}{{}}@{A}"
    assert library.read(".github/workflows/model-build.yml") == (
        REUSABLE.replace(
            "smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased",
            code.format("/actions/oidc-auth"),
        )
        .replace(
            "smgha-org/sagemaker-mlops/actions/build-pipeline@unreleased",
            code.format("/actions/build-pipeline"),
        )
        .replace(
            "smgha-org/sagemaker-mlops/.github/workflows/model-build.yml@unreleased",
            code.format("/.github/workflows/model-build.yml"),
        )
        .replace(
            "smgha-org/sagemaker-mlops/.github/actions/build-and-review@unreleased",
            code.format("/.github/actions/build-and-review"),
        )
        .replace("smgha-org/sagemaker-mlops@unreleased", code.format(""))
    )
    assert library.read(".github/actions/build-and-review/action.yml") == (
        SHARED_STEPS_ACTION.replace(
            "smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased",
            code.format("/actions/oidc-auth"),
        )
    )
    assert library.read("actions/oidc-auth/action.yml") == STAGE_ACTION.replace(
        "smgha-org/sagemaker-mlops@unreleased", f"{REPOSITORY}@{A}"
    )
    assert library.read("workflows-templates/model-build.yml") == TEMPLATE.replace(
        "smgha-org/sagemaker-mlops/.github/workflows/model-build.yml@unreleased",
        f"{REPOSITORY}/.github/workflows/model-build.yml@{TAG}",
    )
    assert library.read("README.md") == README.replace(
        "smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased",
        f"{REPOSITORY}/actions/oidc-auth@{TAG}",
    )
    assert library.read("docs/guide.md") == GUIDE.replace(
        "smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased",
        f"{REPOSITORY}/actions/oidc-auth@{TAG}",
    )


def test_pin_leaves_third_party_exempt_and_unrelated_files(library: Library) -> None:
    before = library.snapshot()
    assert pin(library).returncode == 0
    after = library.snapshot()
    changed = {file for file in before if before[file] != after[file]}
    assert changed == {
        ".github/workflows/model-build.yml",
        ".github/actions/build-and-review/action.yml",
        "actions/oidc-auth/action.yml",
        "workflows-templates/model-build.yml",
        "README.md",
        "docs/guide.md",
    }
    assert CHECKOUT in library.read(".github/workflows/model-build.yml")
    assert LEFTOVER.search(library.read("scripts/release.py"))
    assert library.read("tests/test_library.py") == EXEMPT_TEST


def test_pin_names_each_leftover_placeholder_and_changes_nothing(library: Library) -> None:
    library.write(
        "docs/notes.md",
        "# Notes\n\nThe library is smgha-org/sagemaker-mlops.\n\nA main commit gets @unreleased.\n"
        "Not a ref: smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased-2\n",
    )
    library.write(
        "infra/example.tfvars", 'refs = ["smgha-org/sagemaker-mlops/x.yml@refs/tags/v1"]\n'
    )
    library.commit("leftovers")
    before = library.snapshot()
    done = pin(library)
    assert done.returncode == 1
    assert sorted(error_places(done)) == [
        "docs/notes.md:3",
        "docs/notes.md:5",
        "docs/notes.md:6",
        "infra/example.tfvars:1",
    ]
    assert "would survive the release" in done.stderr
    assert library.snapshot() == before


@pytest.mark.parametrize(
    ("file", "line"),
    [
        (
            ".github/workflows/model-build.yml",
            "      - uses: smgha-org/sagemaker-mlops/actions/oidc-auth@v1",
        ),
        (".github/workflows/model-build.yml", f"      - uses: {REPOSITORY}/actions/oidc-auth@v1"),
        (".github/workflows/model-build.yml", "      - uses: someone/sagemaker-mlops@main"),
        (
            ".github/workflows/model-build.yml",
            f"      - uses: other/name/actions/build-pipeline@{A}",
        ),
        ("action.yml", f"    - uses: {REPOSITORY}@{A}"),
        ("actions/oidc-auth/action.yml", "    - uses: 'acme/lib/actions/oidc-auth@v1.2.0'"),
        (
            "workflows-templates/model-build.yml",
            "    uses: OWNER/sagemaker-mlops/.github/workflows/model-build.yml@v1",
        ),
    ],
    ids=[
        "placeholder-at-v1",
        "releasing-repository",
        "library-name",
        "library-layout",
        "root-action",
        "stage-action",
        "template",
    ],
)
def test_pin_rejects_a_library_reference_that_is_not_a_placeholder(
    library: Library, file: str, line: str
) -> None:
    text = library.read(file)
    library.write(file, text + line + "\n")
    library.commit("a reference by hand")
    before = library.snapshot()
    done = pin(library)
    assert done.returncode == 1
    assert error_places(done) == [f"{file}:{len(text.splitlines()) + 1}"]
    assert library.snapshot() == before


def test_pin_accepts_third_party_and_commented_references(library: Library) -> None:
    file = ".github/workflows/model-build.yml"
    library.write(
        file,
        library.read(file)
        + "      # - uses: acme/mlops-fork/actions/oidc-auth@v1\n"
        + "      - uses: aws-actions/configure-aws-credentials@b47578312673ae6fa5b5096b330d9fbac3d116df # v4.2.1\n"
        + "      - uses: ./actions/oidc-auth\n",
    )
    library.commit("more references")
    assert pin(library).returncode == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--repository", "acme"),
        ("--repository", "acme/x/y"),
        ("--repository", "-acme/x"),
        ("--repository", "ac--me/x"),
        ("--repository", "acme/.."),
        ("--repository", "acme/x y"),
        ("--repository", f"{'a' * 40}/x"),
        ("--sha", A[:39]),
        ("--sha", A.upper()),
        ("--sha", "HEAD"),
        ("--version", "v1.2.0"),
    ],
)
def test_pin_validates_its_arguments(library: Library, option: str, value: str) -> None:
    arguments = {"--repository": REPOSITORY, "--sha": A, "--version": VERSION, option: value}
    before = library.snapshot()
    done = library.release("pin", *[part for pair in arguments.items() for part in pair])
    assert done.returncode == 1 and len(errors(done)) == 1
    assert library.snapshot() == before


def test_pin_accepts_github_names(library: Library) -> None:
    done = library.release("pin", "--repository", "a-b-1/x.y_z-2", "--sha", A, "--version", VERSION)
    assert done.returncode == 0, done.stderr
    assert f"a-b-1/x.y_z-2/actions/oidc-auth@{A}" in library.read(
        ".github/workflows/model-build.yml"
    )


def test_usage_errors_exit_1(library: Library) -> None:
    done = library.release("pin", "--repository", REPOSITORY)
    assert done.returncode == 1 and len(errors(done)) == 1


# ---- cut -----------------------------------------------------------------------------------


def cut(library: Library, version: str = VERSION) -> subprocess.CompletedProcess[str]:
    return library.release("cut", version, "--repository", REPOSITORY)


def test_cut_creates_the_release_commit_and_tags_it(library: Library) -> None:
    code = library.git("rev-parse", "HEAD")
    before, refs = library.snapshot(), library.refs()
    done = cut(library)
    assert done.returncode == 0, done.stderr
    release = done.stdout.strip()
    assert SHA.fullmatch(release) and done.stdout == release + "\n"
    # S: parent A, only the shared steps pinned, to A (the code at A still says @unreleased
    # in them, so nothing may call them at A). B: parent S, the rest pinned to S, where the
    # shared steps are pinned. The annotated tag at B.
    steps = library.git("rev-parse", f"{release}^@")
    assert library.git("rev-parse", f"{steps}^@") == code
    assert library.git("log", "-1", "--format=%s", steps) == f"Release {TAG}: shared steps"
    assert library.git("diff", "--name-only", code, steps).splitlines() == [
        ".github/actions/build-and-review/action.yml"
    ]
    shared = library.git("show", f"{steps}:.github/actions/build-and-review/action.yml")
    assert f"{REPOSITORY}/actions/oidc-auth@{code}" in shared
    assert library.git("log", "-1", "--format=%s", release) == f"Release {TAG}"
    assert library.git("cat-file", "-t", TAG) == "tag"
    assert library.git("rev-parse", f"{TAG}^{{commit}}") == release
    assert library.git("tag", "--list", "--format=%(contents:subject)", TAG) == TAG
    workflow = library.git("show", f"{release}:.github/workflows/model-build.yml")
    assert f"{REPOSITORY}/actions/oidc-auth@{steps}" in workflow
    assert f"{REPOSITORY}/.github/actions/build-and-review@{steps}" in workflow
    assert f"{REPOSITORY}@{steps}" in library.git("show", f"{release}:actions/oidc-auth/action.yml")
    assert library.git("show", f"{release}:.github/actions/build-and-review/action.yml") == shared
    template = library.git("show", f"{release}:workflows-templates/model-build.yml")
    assert f"{REPOSITORY}/.github/workflows/model-build.yml@{TAG}" in template
    assert library.git("diff", "--name-only", code, release).splitlines() == [
        ".github/actions/build-and-review/action.yml",
        ".github/workflows/model-build.yml",
        "README.md",
        "actions/oidc-auth/action.yml",
        "docs/guide.md",
        "workflows-templates/model-build.yml",
    ]
    # HEAD, the branch, the work tree and the other refs are as they were; nothing is left over.
    assert library.git("symbolic-ref", "HEAD") == "refs/heads/main"
    assert library.git("rev-parse", "HEAD") == code
    assert library.git("status", "--porcelain") == ""
    assert library.snapshot() == before
    assert library.refs() == refs + f"\nrefs/tags/{TAG} {library.git('rev-parse', TAG)}"
    assert library.worktrees() == 1
    assert list(Path(library.env["TMPDIR"]).iterdir()) == []
    # No git identity configured: github-actions[bot] commits and tags.
    assert library.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", release) == f"{BOT}|{BOT}"
    assert library.git("tag", "--list", "--format=%(taggername) %(taggeremail)", TAG) == BOT


def test_cut_without_shared_steps_makes_one_commit(tmp_path: Path) -> None:
    files = {k: v for k, v in LIBRARY_FILES.items() if not k.startswith(".github/actions/")}
    files[".github/workflows/model-build.yml"] = REUSABLE.replace(
        "      - uses: smgha-org/sagemaker-mlops/.github/actions/build-and-review@unreleased\n", ""
    )
    library = make_library(tmp_path / "library", files)
    code = library.git("rev-parse", "HEAD")
    done = cut(library)
    assert done.returncode == 0, done.stderr
    release = done.stdout.strip()
    assert library.git("rev-parse", f"{release}^@") == code
    workflow = library.git("show", f"{release}:.github/workflows/model-build.yml")
    assert f"{REPOSITORY}/actions/oidc-auth@{code}" in workflow


def test_cut_uses_the_configured_identity(library: Library) -> None:
    library.git("config", "user.name", "Release Engineer")
    library.git("config", "user.email", "re@example.com")
    done = cut(library)
    assert done.returncode == 0, done.stderr
    release = done.stdout.strip()
    who = "Release Engineer <re@example.com>"
    assert library.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", release) == f"{who}|{who}"
    assert library.git("tag", "--list", "--format=%(taggername) %(taggeremail)", TAG) == who


def test_cut_refuses_an_existing_tag(library: Library) -> None:
    library.git("tag", TAG)
    refs = library.refs()
    done = cut(library)
    assert done.returncode == 1 and done.stdout == ""
    assert "exact tags never move" in done.stderr and len(errors(done)) == 1
    assert library.refs() == refs


def test_cut_refuses_a_dirty_work_tree(library: Library) -> None:
    library.write("README.md", README + "more\n")
    refs = library.refs()
    done = cut(library)
    assert done.returncode == 1 and "uncommitted changes" in done.stderr
    assert library.refs() == refs and library.worktrees() == 1


def test_cut_checks_the_versions(library: Library) -> None:
    refs = library.refs()
    done = cut(library, "1.3.0")
    assert done.returncode == 1
    assert error_places(done) == ["smgha/__init__.py:3", "pyproject.toml:6", "CHANGELOG.md"]
    assert library.refs() == refs and library.worktrees() == 1


def test_cut_leaves_nothing_behind_when_pinning_fails(library: Library) -> None:
    library.write("docs/notes.md", "see smgha-org/sagemaker-mlops@v1\n")
    code = library.commit("a leftover")
    before, refs = library.snapshot(), library.refs()
    done = cut(library)
    assert done.returncode == 1 and done.stdout == ""
    assert error_places(done) == ["docs/notes.md:1"]
    assert library.refs() == refs and library.snapshot() == before
    assert library.git("rev-parse", "HEAD") == code
    assert library.worktrees() == 1
    assert list(Path(library.env["TMPDIR"]).iterdir()) == []


def test_cut_refuses_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    env = git_env(tmp_path / "home")
    done = subprocess.run(
        [
            sys.executable,
            str(RELEASE_SCRIPT),
            "cut",
            VERSION,
            "--repository",
            REPOSITORY,
            "--root",
            str(tmp_path / "nowhere"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "not a git work tree" in done.stderr


# ---- major ---------------------------------------------------------------------------------


def test_major_moves_only_forward(library: Library) -> None:
    for tag in ["v0.9.0", "v1.2.0", "v1.3.0", "v1.9.0", "v1.10.0-rc.1", "v1.11", "v2.0.0", "v1"]:
        library.git("tag", tag)

    def major(version: str) -> str:
        done = library.release("major", version)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert major("1.9.0") == "v1\n"
    assert major("1.3.0") == ""
    assert major("1.2.0") == ""
    assert major("2.0.0") == "v2\n"
    assert major("0.9.0") == "v0\n"
    assert major("1.9.1") == ""  # not tagged: not among the releases
    library.git("tag", "v1.10.0")  # numeric order: 1.10.0 is newer than 1.9.0
    assert major("1.9.0") == ""
    assert major("1.10.0") == "v1\n"
    assert library.release("major", "v1.10.0").returncode == 1


# ---- the real repository -------------------------------------------------------------------


def test_the_real_tree(tmp_path: Path) -> None:
    """check and pin over a copy of this repository: only what holds before and after the
    conversion to placeholders (the versions agree; pin either pins every placeholder or names
    real offending lines and changes nothing)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = {name: "" for name in listing.split("\0") if name and (ROOT / name).is_file()}
    library = make_library(tmp_path / "real", {})
    for name in files:
        target = library.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)
    library.commit("the real tree")
    version = re.search(r'^__version__ = "(.*)"$', library.read("smgha/__init__.py"), re.M)
    assert version
    checked = library.release("check", version.group(1))
    assert not {place.split(":")[0] for place in error_places(checked)} & {
        "smgha/__init__.py",
        "pyproject.toml",
    }, checked.stderr
    before = library.snapshot()
    done = pin(library, library.git("rev-parse", "HEAD"))
    if done.returncode == 0:
        for name in files:
            if name != "scripts/release.py" and not name.startswith("tests/"):
                text = (library.path / name).read_bytes().decode("utf-8", errors="replace")
                assert not LEFTOVER.search(text), name
        return
    assert done.returncode == 1 and done.stdout == ""
    assert library.snapshot() == before
    for place in error_places(done):
        file, _, line = place.partition(":")
        assert file != "scripts/release.py" and not file.startswith("tests/"), place
        text = library.read(file).splitlines()[int(line) - 1]
        assert LEFTOVER.search(text) or "uses:" in text, place


# ---- .github/workflows/release.yml ---------------------------------------------------------


def workflow_steps() -> list[dict[str, Any]]:
    return load(RELEASE_WORKFLOW)["jobs"]["release"]["steps"]


def step_named(name: str) -> dict[str, Any]:
    found = [step for step in workflow_steps() if name in (step.get("name"), step.get("id"))]
    assert len(found) == 1, f"release.yml: expected one step {name!r}"
    return found[0]


def test_release_workflow_is_dispatched_with_a_version() -> None:
    workflow: dict[Any, Any] = load(RELEASE_WORKFLOW)  # a key may be True, not a str
    on = workflow.get("on", workflow.get(True))  # PyYAML reads a bare `on` as True
    assert isinstance(on, dict), "no `on:` triggers"
    assert set(on) == {"workflow_dispatch"}
    version = on["workflow_dispatch"]["inputs"]["version"]
    assert version["required"] is True and version["type"] == "string" and version["description"]


def test_release_workflow_job() -> None:
    workflow = load(RELEASE_WORKFLOW)
    assert workflow["permissions"] == {}
    assert workflow["concurrency"] == {"group": "release", "cancel-in-progress": False}
    assert list(workflow["jobs"]) == ["release"]
    job = workflow["jobs"]["release"]
    assert job["permissions"] == {"contents": "write"}
    assert job["runs-on"] == "ubuntu-latest"
    assert 0 < job["timeout-minutes"] <= 30


def test_release_workflow_steps() -> None:
    steps = workflow_steps()
    assert steps[0]["name"] == "Refuse a run off the default branch"
    assert steps[0]["env"]["ON_DEFAULT_BRANCH"] == (
        "${{ github.ref == format('refs/heads/{0}', github.event.repository.default_branch) }}"
    )
    checkouts = [
        step for step in steps if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert len(checkouts) == 1 and checkouts[0]["uses"] == CHECKOUT
    assert checkouts[0]["with"] == {"persist-credentials": False, "fetch-depth": 0}
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
            assert "${{" not in step["run"], f"{step['name']}: pass values through env:"
    cut_script = step_named("cut")["run"]
    assert (
        'python3 scripts/release.py cut "$VERSION" --repository "$GITHUB_REPOSITORY"' in cut_script
    )
    assert "--verify-tag" in step_named("Create the GitHub Release")["run"]
    assert step_named("Create the GitHub Release")["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_only_the_release_job_may_write_contents() -> None:
    writers = []
    for path in WORKFLOW_FILES:
        workflow = load(path)
        for name, job in (workflow.get("jobs") or {}).items():
            permissions = job.get("permissions", workflow.get("permissions")) or {}
            if any(value == "write" and key != "id-token" for key, value in permissions.items()):
                writers.append((rel(path), name))
    # The other writers: the review comment (pull-requests: write, no contents; it never
    # checks out or runs the pull request's code: tests/test_workflows.py) and the idle
    # endpoints' issue (issues: write only, no AWS credentials).
    assert sorted(writers) == sorted([
        (rel(RELEASE_WORKFLOW), "release"),
        ("workflows-templates/model-review-comment.yml", "comment"),
        ("workflows-templates/idle-endpoints.yml", "issue"),
    ])  # fmt: skip
    issue = load(ROOT / "workflows-templates" / "idle-endpoints.yml")["jobs"]["issue"]
    assert issue["permissions"] == {"issues": "write"}
    comment = load(ROOT / "workflows-templates" / "model-review-comment.yml")["jobs"]["comment"]
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write"}


def run_bash(
    script: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A run script the way the runner runs `shell: bash`."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("on_default_branch", "code"), [("true", 0), ("false", 1)])
def test_release_refuses_a_run_off_the_default_branch(on_default_branch: str, code: int) -> None:
    step = step_named("Refuse a run off the default branch")
    env = {
        "PATH": os.environ["PATH"],
        "ON_DEFAULT_BRANCH": on_default_branch,
        "REF": "refs/heads/x",
        "DEFAULT_BRANCH": "main",
    }
    done = run_bash(step["run"], env)
    assert done.returncode == code
    assert ("::error title=release::" in done.stdout) == (code == 1)


@pytest.mark.parametrize(("token", "code"), [(TOKEN, 0), ("", 1)])
def test_release_requires_a_token_that_may_push_workflow_files(token: str, code: int) -> None:
    step = step_named("Require a token that may push workflow files")
    done = run_bash(step["run"], {"PATH": os.environ["PATH"], "RELEASE_TOKEN": token})
    assert done.returncode == code
    assert ("RELEASE_TOKEN" in done.stdout and "Workflows" in done.stdout) == (code == 1)


@dataclass(frozen=True)
class Runner:
    """A clone of `origin` as actions/checkout leaves it, and the job's environment."""

    work: Library
    origin: Library
    env: dict[str, str]
    gh_args: Path
    gh_notes: Path

    def step(
        self, name: str, **outputs: str
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        """Run one step with its env (step outputs given as env values); return its outputs."""
        output = Path(self.env["GITHUB_OUTPUT"])
        output.write_text("")
        step = step_named(name)
        env = {**self.env, "VERSION": VERSION, "RELEASE_TOKEN": TOKEN, **outputs}
        done = run_bash(step["run"], env, cwd=self.work.path)
        values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return done, values


FAKE_GH = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$GH_ARGS"
while [[ $# -gt 0 ]]; do
  if [[ "$1" == --notes-file ]]; then cp "$2" "$GH_NOTES"; fi
  shift
done
"""


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    seed = make_library(tmp_path / "seed", LIBRARY_FILES)
    origin = Library(tmp_path / "origin.git", seed.env)
    seed.git("clone", "-q", "--bare", str(seed.path), str(origin.path), cwd=tmp_path)
    work = Library(tmp_path / "work", git_env(tmp_path / "runner-home"))
    Path(work.env["TMPDIR"]).mkdir()
    work.git("clone", "-q", str(origin.path), str(work.path), cwd=tmp_path)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "gh").write_text(FAKE_GH)
    (tools / "gh").chmod(0o755)
    (tools / "python3").symlink_to(sys.executable)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env = {
        **work.env,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SERVER_URL": "https://github.com",
        "RUNNER_TEMP": str(temp),
        "GH_ARGS": str(tmp_path / "gh-args"),
        "GH_NOTES": str(tmp_path / "gh-notes"),
    }
    yield Runner(work, origin, env, tmp_path / "gh-args", tmp_path / "gh-notes")


def test_release_workflow_end_to_end(runner: Runner) -> None:
    code = runner.work.git("rev-parse", "HEAD")
    done, cut_outputs = runner.step("cut")
    assert done.returncode == 0, done.stderr
    release = cut_outputs["release-commit"]
    assert cut_outputs == {"code-commit": code, "release-commit": release}
    assert runner.work.git("rev-parse", f"{release}^^") == code  # B, S (shared steps), A

    done, _ = runner.step("Push the exact tag")
    assert done.returncode == 0, done.stderr
    assert runner.origin.git("rev-parse", f"{TAG}^{{commit}}") == release
    assert runner.origin.git("cat-file", "-t", TAG) == "tag"
    assert runner.origin.git("rev-parse", "main") == code  # B only through the tag
    assert runner.origin.git("branch", "--contains", release) == ""

    done, _ = runner.step("Create the GitHub Release", RELEASE_COMMIT=release, CODE_COMMIT=code)
    assert done.returncode == 0, done.stderr
    notes_file = str(Path(runner.env["RUNNER_TEMP"]) / "release-notes.md")
    assert runner.gh_args.read_text().splitlines() == [
        "release",
        "create",
        TAG,
        "--verify-tag",
        "--title",
        TAG,
        "--notes-file",
        notes_file,
    ]
    notes = runner.gh_notes.read_text()
    assert notes.startswith("### Added\n- The release workflow.\n")
    assert "### Pin" in notes
    assert f"uses: {REPOSITORY}/.github/workflows/model-build.yml@{release} # {TAG}\n" in notes

    done, major_outputs = runner.step("major")
    assert done.returncode == 0, done.stderr
    assert major_outputs == {"major-tag": "v1", "moved": "true"}
    assert runner.origin.git("rev-parse", "v1^{commit}") == release

    done, _ = runner.step(
        "Summarize the release",
        RELEASE_COMMIT=release,
        CODE_COMMIT=code,
        MAJOR_TAG="v1",
        MOVED="true",
    )
    assert done.returncode == 0, done.stderr
    summary = Path(runner.env["GITHUB_STEP_SUMMARY"]).read_text()
    commits = f"https://github.com/{REPOSITORY}/commit"
    assert f"| Version | `{TAG}` |" in summary
    assert f"| Release commit (the tag) | [`{release}`]({commits}/{release}) |" in summary
    assert f"| Code commit (main) | [`{code}`]({commits}/{code}) |" in summary
    assert f"| Major tag | `v1` moved to `{TAG}` |" in summary


def cut_and_push(runner: Runner) -> str:
    done, outputs = runner.step("cut")
    assert done.returncode == 0, done.stderr
    assert runner.step("Push the exact tag")[0].returncode == 0
    return outputs["release-commit"]


def test_release_push_passes_the_token_masked(runner: Runner) -> None:
    step = step_named("Push the exact tag")
    assert "extraheader=AUTHORIZATION: basic $auth" in step["run"]
    done, _ = runner.step("cut")
    assert done.returncode == 0, done.stderr
    # Someone pushed the same tag elsewhere meanwhile: the push is refused, nothing moves.
    main = runner.origin.git("rev-parse", "main")
    runner.origin.git("tag", TAG, main)
    done, _ = runner.step("Push the exact tag")
    assert done.returncode == 1
    assert (
        done.stdout.count("::error title=release::") == 1 and "nothing is released" in done.stdout
    )
    assert done.stdout.startswith("::add-mask::")
    assert TOKEN not in done.stdout + done.stderr
    assert runner.origin.git("rev-parse", TAG) == main


def test_major_tag_stays_behind_a_newer_release(runner: Runner) -> None:
    newer = runner.origin.git("rev-parse", "main")
    runner.origin.git("tag", "v1.3.0", newer)
    runner.origin.git("tag", "v1", newer)
    runner.work.git("fetch", "-q", "--tags", "origin")
    cut_and_push(runner)
    done, outputs = runner.step("major")
    assert done.returncode == 0, done.stderr
    assert outputs == {"major-tag": "", "moved": "false"}
    assert "::notice" in done.stdout
    assert runner.origin.git("rev-parse", "v1") == newer


def test_major_tag_moves_only_from_the_sha_it_saw(runner: Runner) -> None:
    release = cut_and_push(runner)
    main = runner.origin.git("rev-parse", "main")
    runner.origin.git("tag", "v1", main)  # someone moved v1 after this run fetched
    done, outputs = runner.step("major")
    assert done.returncode == 1
    assert outputs == {"major-tag": "v1", "moved": "false"}
    assert runner.origin.git("rev-parse", "v1") == main != release


def test_major_tag_refused_by_a_ruleset_explains_the_fix(runner: Runner) -> None:
    previous = runner.origin.git("rev-parse", "main")
    runner.origin.git("tag", "v1", previous)
    runner.work.git("fetch", "-q", "--tags", "origin")
    hook = runner.origin.path / "hooks" / "pre-receive"
    hook.write_text(
        "#!/usr/bin/env bash\n"
        'while read -r old new ref; do [[ "$ref" != refs/tags/v1 ]] || { echo "protected" >&2; exit 1; }; done\n'
    )
    hook.chmod(0o755)
    release = cut_and_push(runner)
    done, outputs = runner.step("major")
    assert done.returncode == 1
    assert outputs == {"major-tag": "v1", "moved": "false"}
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    for words in ("ruleset", f"{TAG} stands", "bypass actor", "by hand"):
        assert words in annotations[0], words
    assert runner.origin.git("rev-parse", "v1") == previous
    assert runner.origin.git("rev-parse", f"{TAG}^{{commit}}") == release
    assert TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("outputs", "row"),
    [
        (
            {"MAJOR_TAG": "", "MOVED": "false"},
            "| Major tag | not moved: a newer release of the major exists |",
        ),
        (
            {"MAJOR_TAG": "v1", "MOVED": "false"},
            "| Major tag | `v1` not moved: the push was refused |",
        ),
        ({"MAJOR_TAG": "", "MOVED": ""}, "| Major tag | not moved |"),
    ],
)
def test_release_summary_says_whether_the_major_tag_moved(
    runner: Runner, outputs: dict[str, str], row: str
) -> None:
    done, _ = runner.step("Summarize the release", RELEASE_COMMIT="", CODE_COMMIT="", **outputs)
    assert done.returncode == 0, done.stderr
    summary = Path(runner.env["GITHUB_STEP_SUMMARY"]).read_text()
    assert row in summary
    assert "| Release commit (the tag) | none |" in summary
