#!/usr/bin/env python3
"""Release this library: a commit that pins the library to itself, tagged vX.Y.Z.

On main every reference to the library is a placeholder, `smgha-org/sagemaker-mlops<path>@unreleased`.
Releasing X.Y.Z from main's commit A creates commit B (parent A, "Release vX.Y.Z") in which
each placeholder names the releasing repository and, in the files GitHub runs as library code
(workflows, action.yml, actions/*/action.yml), the full sha of A; elsewhere (templates, docs)
the tag vX.Y.Z. The annotated tag vX.Y.Z points at B. B's code equals A's, so a caller that
pins the tag or B runs every stage at the immutable sha A.

The reusable workflows' shared steps (.github/actions/*/action.yml) are library code that
itself uses the library, so the code at A cannot serve them: theirs still says `@unreleased`.
When they have placeholders, the release first makes commit S (parent A, "Release vX.Y.Z:
shared steps") pinning only them to A, and B (parent S) pins the rest to S: a workflow at B
calls the shared steps at S, which call the stages at A. Every reference is still a sha.

Commands (standard library only, python3 >= 3.10):
  check VERSION                 version in smgha/__init__.py and pyproject.toml, CHANGELOG section
  notes VERSION                 print the CHANGELOG section's body
  pin --repository OWNER/REPO --sha SHA --version VERSION [--root DIR]
                                rewrite the placeholders of DIR's tracked files in place
  cut VERSION --repository OWNER/REPO [--root DIR]
                                create B (and S) and the tag vVERSION at B; print B's sha
                                (no push)
  major VERSION [--root DIR]    print the major tag (v1) when VERSION is the newest release of
                                its major, else nothing

Data goes to stdout, logs and `::error` annotations to stderr. Any error exits 1 and leaves
the files, refs and HEAD as they were.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DESCRIPTION = "Release this library: a commit that pins the library to itself, tagged vX.Y.Z."
PLACEHOLDER_REPOSITORY = "smgha-org/sagemaker-mlops"
# `smgha-org/sagemaker-mlops`, an optional path (`/actions/oidc-auth`,
# `/.github/workflows/model-build.yml`), `@unreleased`, and no further ref characters.
PLACEHOLDER = re.compile(
    r"smgha-org/sagemaker-mlops(?P<path>(?:/[A-Za-z0-9._-]+)*)@unreleased(?![A-Za-z0-9._/-])"
)
# What must not survive a release outside a full placeholder.
LEFTOVER = re.compile(r"smgha-org/sagemaker-mlops|@unreleased")
# Files that mention the placeholder on purpose and are never rewritten.
EXEMPT_FILES = ("scripts/release.py",)
EXEMPT_DIRECTORIES = ("tests/",)
# Files GitHub executes as library code: their placeholders get the commit sha.
LIBRARY_CODE = re.compile(
    r"action\.ya?ml|actions/[^/]+/action\.ya?ml|\.github/actions/[^/]+/action\.ya?ml"
    r"|\.github/workflows/[^/]+\.ya?ml"
)
# Library code that uses the library itself: pinned first, in commit S (see the top).
SHARED_STEPS = re.compile(r"\.github/actions/[^/]+/action\.ya?ml")
# Files whose `uses:` lines must reference the library only in placeholder form.
USES_CHECKED = re.compile(
    r"action\.ya?ml|actions/[^/]+/action\.ya?ml|\.github/actions/[^/]+/action\.ya?ml"
    r"|\.github/workflows/[^/]+\.ya?ml|workflows-templates/[^/]+\.ya?ml"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?(?P<target>[^\s'\"#]+)")
USES_TARGET = re.compile(
    r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)(?P<path>(?:/[^@\s]+)?)@(?P<ref>\S+)"
)
LIBRARY_REPOSITORY_NAME = "sagemaker-mlops"

SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
SHA = re.compile(r"[0-9a-f]{40}")
# GitHub's rules: an owner is 1-39 letters, digits and single inner hyphens; a repository
# name is 1-100 letters, digits, '.', '_', '-', and neither '.' nor '..'.
OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")

VERSION_FILE = "smgha/__init__.py"
PYPROJECT_FILE = "pyproject.toml"
CHANGELOG_FILE = "CHANGELOG.md"
DUNDER_VERSION = re.compile(r"^__version__\s*=\s*[\"']([^\"']*)[\"']\s*$")
PYPROJECT_VERSION = re.compile(r"^version\s*=\s*[\"']([^\"']*)[\"']\s*(?:#.*)?$")
TOML_TABLE = re.compile(r"^\s*\[")
CHANGELOG_HEADING = r"## \[{version}\](?: - [0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})?"
NEXT_SECTION = "## "

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
COMMIT_MESSAGE = "Release v{version}"
SHARED_STEPS_COMMIT_MESSAGE = "Release v{version}: shared steps"
TAG_MESSAGE = "v{version}"

BAD_VERSION = (
    "version '{version}' is not exact semver: write MAJOR.MINOR.PATCH with no 'v', no leading "
    "zeros and no suffix, e.g. 1.2.3"
)
BAD_REPOSITORY = (
    "repository '{repository}' is not OWNER/REPO by GitHub's rules (owner: letters, digits, "
    "single inner hyphens, at most 39; name: letters, digits, '.', '_', '-', at most 100)"
)
BAD_SHA = "sha '{sha}' is not a full commit sha: pass 40 lowercase hex digits (git rev-parse HEAD)"
MISSING_FILE = "missing: the release reads it"
NO_DUNDER_VERSION = 'no __version__: add __version__ = "{version}"'
DUNDER_MISMATCH = 'declares __version__ = "{found}", not {version}: set __version__ = "{version}"'
NO_PYPROJECT_VERSION = 'no version under [project]: add version = "{version}"'
PYPROJECT_MISMATCH = (
    'declares version = "{found}" under [project], not {version}: set version = "{version}"'
)
NO_CHANGELOG_SECTION = (
    "no '## [{version}]' section: rename '## [Unreleased]' to "
    "'## [{version}] - YYYY-MM-DD' and open a new '## [Unreleased]' above it"
)
EMPTY_CHANGELOG_SECTION = "the '## [{version}]' section is empty: list the release's changes"
LEFTOVER_PLACEHOLDER = (
    "'{text}' is not a full placeholder and would survive the release: write "
    "smgha-org/sagemaker-mlops<path>@unreleased (e.g. smgha-org/sagemaker-mlops/actions/oidc-auth@unreleased) "
    "or drop it"
)
NOT_A_PLACEHOLDER = (
    "'{target}' references this library without the placeholder: write "
    "smgha-org/sagemaker-mlops{path}@unreleased, which the release pins"
)
UNREADABLE = "not UTF-8 text but mentions the placeholder: remove it or make it text"
NOT_A_REPOSITORY = "{root} is not a git work tree: {detail}"
DIRTY_TREE = (
    "the work tree has uncommitted changes: commit or discard them first (git status):\n{status}"
)
TAG_EXISTS = (
    "tag {tag} already exists ({sha}): exact tags never move; release the next version instead"
)
GIT_FAILED = "git {command} failed ({code}): {detail}"


@dataclass(frozen=True)
class Problem:
    """One error: what is wrong and how to fix it, and where when it is in a file."""

    message: str
    file: str | None = None
    line: int | None = None


class ReleaseError(Exception):
    """One or more problems; the command reports them all and changes nothing."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Rewrite:
    """A file's new text, and how many placeholders it pinned."""

    file: str
    text: str
    count: int


def fail(message: str, file: str | None = None, line: int | None = None) -> NoReturn:
    raise ReleaseError([Problem(message, file, line)])


# ---- runner output -----------------------------------------------------------------------


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem) -> str:
    """A `::error` line; the message repeats file:line for readers of the plain log."""
    properties = []
    message = problem.message
    if problem.file is not None:
        properties.append(f"file={escape_property(problem.file)}")
        where = problem.file
        if problem.line is not None:
            properties.append(f"line={problem.line}")
            where = f"{problem.file}:{problem.line}"
        message = f"{where}: {message}"
    properties.append("title=release")
    return f"::error {','.join(properties)}::{escape_data(message)}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- validation --------------------------------------------------------------------------


def parse_version(version: str) -> tuple[int, int, int]:
    match = SEMVER.fullmatch(version)
    if not match:
        fail(BAD_VERSION.format(version=version))
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def validate_repository(repository: str) -> str:
    owner, _, name = repository.partition("/")
    if not (OWNER.fullmatch(owner) and REPOSITORY_NAME.fullmatch(name) and name not in (".", "..")):
        fail(BAD_REPOSITORY.format(repository=repository))
    return repository


def validate_sha(sha: str) -> str:
    if not SHA.fullmatch(sha):
        fail(BAD_SHA.format(sha=sha))
    return sha


# ---- check and notes ---------------------------------------------------------------------


def read_lines(root: Path, file: str) -> list[str]:
    path = root / file
    if not path.is_file():
        fail(MISSING_FILE, file)
    return path.read_text(encoding="utf-8").splitlines()


def dunder_version_problem(root: Path, version: str) -> Problem | None:
    for number, line in enumerate(read_lines(root, VERSION_FILE), start=1):
        match = DUNDER_VERSION.match(line)
        if match:
            if match.group(1) == version:
                return None
            found = match.group(1)
            message = DUNDER_MISMATCH.format(found=found, version=version)
            return Problem(message, VERSION_FILE, number)
    return Problem(NO_DUNDER_VERSION.format(version=version), VERSION_FILE)


def pyproject_version_problem(root: Path, version: str) -> Problem | None:
    in_project = False
    for number, line in enumerate(read_lines(root, PYPROJECT_FILE), start=1):
        if TOML_TABLE.match(line):
            in_project = line.strip() == "[project]"
            continue
        match = PYPROJECT_VERSION.match(line) if in_project else None
        if match:
            if match.group(1) == version:
                return None
            found = match.group(1)
            message = PYPROJECT_MISMATCH.format(found=found, version=version)
            return Problem(message, PYPROJECT_FILE, number)
    return Problem(NO_PYPROJECT_VERSION.format(version=version), PYPROJECT_FILE)


def changelog_section(lines: list[str], version: str) -> int | None:
    """The index of the `## [X.Y.Z]` heading line, if any."""
    heading = re.compile(CHANGELOG_HEADING.format(version=re.escape(version)))
    for index, line in enumerate(lines):
        if heading.fullmatch(line.rstrip()):
            return index
    return None


def changelog_problem(root: Path, version: str) -> Problem | None:
    if changelog_section(read_lines(root, CHANGELOG_FILE), version) is not None:
        return None
    return Problem(NO_CHANGELOG_SECTION.format(version=version), CHANGELOG_FILE)


def check(root: Path, version: str) -> None:
    parse_version(version)
    problems = []
    for find in (dunder_version_problem, pyproject_version_problem, changelog_problem):
        try:
            problem = find(root, version)
        except ReleaseError as error:
            problems.extend(error.problems)
            continue
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ReleaseError(problems)


def notes(root: Path, version: str) -> str:
    parse_version(version)
    lines = read_lines(root, CHANGELOG_FILE)
    start = changelog_section(lines, version)
    if start is None:
        fail(NO_CHANGELOG_SECTION.format(version=version), CHANGELOG_FILE)
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith(NEXT_SECTION):
            break
        body.append(line)
    text = "\n".join(body).strip("\n")
    if not text.strip():
        fail(
            EMPTY_CHANGELOG_SECTION.format(version=version),
            CHANGELOG_FILE,
            start + 1,
        )
    return text + "\n"


# ---- pin ---------------------------------------------------------------------------------


def is_exempt(file: str) -> bool:
    return file in EXEMPT_FILES or file.startswith(EXEMPT_DIRECTORIES)


def token_at(line: str, start: int, end: int) -> str:
    """The whitespace-delimited word of `line` around [start, end), for messages."""
    before = line[:start].split()
    after = line[end:].split()
    head = before[-1] if before and not line[:start][-1:].isspace() else ""
    tail = after[0] if after and not line[end : end + 1].isspace() else ""
    return head + line[start:end] + tail


def leftover_problems(file: str, line: str, number: int) -> list[Problem]:
    """One problem for a line with placeholder fragments outside a full placeholder."""
    covered = [match.span() for match in PLACEHOLDER.finditer(line)]
    words: list[str] = []
    for match in LEFTOVER.finditer(line):
        if not any(start <= match.start() < end for start, end in covered):
            word = token_at(line, match.start(), match.end())
            if word not in words:
                words.append(word)
    if not words:
        return []
    text = "', '".join(words)
    return [Problem(LEFTOVER_PLACEHOLDER.format(text=text), file, number)]


def has_library_layout(path: str, root: Path) -> bool:
    """Whether `/actions/<stage>`, `/.github/actions/<steps>` (the reusable workflows' shared
    steps) or `/.github/workflows/<file>` exists in this repository."""
    action = re.fullmatch(r"(/actions/[^/]+|/\.github/actions/[^/]+)", path)
    if action:
        return (root / path.lstrip("/") / "action.yml").is_file()
    workflow = re.fullmatch(r"/\.github/workflows/[^/]+", path)
    return bool(workflow) and (root / path.lstrip("/")).is_file()


def references_library(target: str, repository: str, root: Path) -> str | None:
    """The path of a `uses:` target that names this library (not as a placeholder), else None.

    The library is named by the placeholder's or the releasing repository's owner/name, by
    the name sagemaker-mlops under any owner, or by a path only this repository has.
    """
    match = USES_TARGET.fullmatch(target)
    if PLACEHOLDER.fullmatch(target) or not match:
        return None
    owner_repo = f"{match['owner']}/{match['repo']}".lower()
    named = owner_repo in (repository.lower(), PLACEHOLDER_REPOSITORY)
    named = named or match["repo"].lower() == LIBRARY_REPOSITORY_NAME
    path = match["path"]
    return path if named or has_library_layout(path, root) else None


def uses_problems(file: str, line: str, number: int, repository: str, root: Path) -> list[Problem]:
    if line.lstrip().startswith("#"):
        return []
    match = USES_LINE.match(line)
    if not match:
        return []
    target = match["target"]
    path = references_library(target, repository, root)
    if path is None:
        return []
    return [Problem(NOT_A_PLACEHOLDER.format(target=target, path=path), file, number)]


def rewrite(file: str, text: str, repository: str, sha: str, version: str, root: Path) -> Rewrite:
    """The file's pinned text, or a ReleaseError naming each offending line."""
    ref = sha if LIBRARY_CODE.fullmatch(file) else f"v{version}"
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        on_line = leftover_problems(file, line, number)
        if not on_line and USES_CHECKED.fullmatch(file):
            on_line = uses_problems(file, line, number, repository, root)
        problems.extend(on_line)
    if problems:
        raise ReleaseError(problems)
    pinned, count = PLACEHOLDER.subn(lambda m: f"{repository}{m['path']}@{ref}", text)
    return Rewrite(file, pinned, count)


def tracked_files(root: Path) -> list[str]:
    listing = git(root, "ls-files", "-z")
    return [name for name in listing.split("\0") if name]


def every_file(file: str) -> bool:
    return True


def shared_steps(file: str) -> bool:
    return bool(SHARED_STEPS.fullmatch(file))


def not_shared_steps(file: str) -> bool:
    return not SHARED_STEPS.fullmatch(file)


def plan_pin(
    root: Path, repository: str, sha: str, version: str, files: Callable[[str], bool] = every_file
) -> list[Rewrite]:
    """Every file that changes (of those `files` selects), or a ReleaseError with every
    problem in every file."""
    rewrites: list[Rewrite] = []
    problems: list[Problem] = []
    for file in tracked_files(root):
        path = root / file
        if is_exempt(file) or path.is_symlink() or not path.is_file():
            continue
        if not files(file):
            continue
        data = path.read_bytes()
        mentioned = LEFTOVER.search(data.decode("utf-8", errors="replace"))
        if not mentioned and not USES_CHECKED.fullmatch(file):
            continue
        try:
            text = data.decode("utf-8")
            result = rewrite(file, text, repository, sha, version, root)
        except UnicodeDecodeError:
            problems.append(Problem(UNREADABLE, file))
            continue
        except ReleaseError as error:
            problems.extend(error.problems)
            continue
        if result.count:
            rewrites.append(result)
    if problems:
        raise ReleaseError(problems)
    return rewrites


def pin(
    root: Path, repository: str, sha: str, version: str, files: Callable[[str], bool] = every_file
) -> list[Rewrite]:
    validate_repository(repository)
    validate_sha(sha)
    parse_version(version)
    root = work_tree_root(root)
    rewrites = plan_pin(root, repository, sha, version, files)
    for result in rewrites:
        with (root / result.file).open("w", encoding="utf-8", newline="") as handle:
            handle.write(result.text)
        log(f"pinned {result.count} reference(s) in {result.file}")
    return rewrites


# ---- git ---------------------------------------------------------------------------------


def run_git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def git(root: Path, *args: str) -> str:
    done = run_git(root, *args)
    if done.returncode != 0:
        command = " ".join(args)
        detail = (done.stderr or done.stdout).strip()
        fail(GIT_FAILED.format(command=command, code=done.returncode, detail=detail))
    return done.stdout


def work_tree_root(root: Path) -> Path:
    if not root.is_dir():
        fail(NOT_A_REPOSITORY.format(root=root, detail="no such directory"))
    done = run_git(root, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        fail(NOT_A_REPOSITORY.format(root=root, detail=done.stderr.strip()))
    return Path(done.stdout.strip())


def identity_options(root: Path) -> list[str]:
    """The configured identity, or github-actions[bot] when none is configured."""
    name = run_git(root, "config", "--get", "user.name").stdout.strip()
    email = run_git(root, "config", "--get", "user.email").stdout.strip()
    if name and email:
        return []
    return ["-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}"]


def require_clean(root: Path) -> None:
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    if status.strip():
        fail(DIRTY_TREE.format(status=status.rstrip()))


def existing_tag(root: Path, tag: str) -> str | None:
    done = run_git(root, "rev-parse", "--quiet", "--verify", f"refs/tags/{tag}")
    return done.stdout.strip() if done.returncode == 0 else None


@contextmanager
def temporary_worktree(root: Path, commit: str) -> Iterator[Path]:
    """A detached checkout of `commit` outside `root`, removed afterwards (also on error)."""
    parent = Path(tempfile.mkdtemp(prefix="smgha-release-"))
    tree = parent / "tree"
    try:
        git(root, "worktree", "add", "--quiet", "--detach", str(tree), commit)
        yield tree
    finally:
        run_git(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        run_git(root, "worktree", "prune")


def commit_all(tree: Path, identity: list[str], message: str) -> None:
    git(
        tree,
        *identity,
        "commit",
        "--quiet",
        "--all",
        "--allow-empty",
        "--no-verify",
        "-m",
        message,
    )


def cut(root: Path, version: str, repository: str) -> str:
    parse_version(version)
    validate_repository(repository)
    top = work_tree_root(root)
    require_clean(top)
    tag = f"v{version}"
    found = existing_tag(top, tag)
    if found is not None:
        fail(TAG_EXISTS.format(tag=tag, sha=found))
    code = git(top, "rev-parse", "HEAD^{commit}").strip()
    identity = identity_options(top)
    with temporary_worktree(top, code) as tree:
        check(tree, version)  # on exactly the commit released, not the work tree
        pinned_to = code
        if pin(tree, repository, code, version, shared_steps):
            commit_all(tree, identity, SHARED_STEPS_COMMIT_MESSAGE.format(version=version))
            pinned_to = git(tree, "rev-parse", "HEAD").strip()
            log(f"pinned the shared steps to {code} in {pinned_to}")
        if not pin(tree, repository, pinned_to, version, not_shared_steps):
            log(f"no placeholder in {code}: the release commit changes nothing")
        commit_all(tree, identity, COMMIT_MESSAGE.format(version=version))
        release = git(tree, "rev-parse", "HEAD").strip()
    git(
        top, *identity, "tag", "--annotate", "-m", TAG_MESSAGE.format(version=version), tag, release
    )
    log(f"tagged {tag} at {release}: the release commit of {code}")
    return release


def major(root: Path, version: str) -> str | None:
    wanted = parse_version(version)
    releases = []
    for tag in git(work_tree_root(root), "tag", "--list", "v*").split():
        match = SEMVER.fullmatch(tag[1:])
        if match:
            releases.append(tuple(int(part) for part in match.groups()))
    same_major = [release for release in releases if release[0] == wanted[0]]
    if wanted in same_major and max(same_major) == wanted:
        return f"v{wanted[0]}"
    return None


# ---- command line ------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """Usage errors as `::error` lines and exit 1, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(annotation(Problem(f"{self.prog}: {message}")), file=sys.stderr)
        raise SystemExit(1)


def parser() -> Parser:
    root = Parser(add_help=False)
    root.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    main = Parser(prog="release.py", description=DESCRIPTION)
    commands = main.add_subparsers(dest="command", required=True, parser_class=Parser)
    check_command = commands.add_parser("check", parents=[root], help="versions and CHANGELOG")
    check_command.add_argument("version")
    notes_command = commands.add_parser("notes", parents=[root], help="print the release notes")
    notes_command.add_argument("version")
    pin_command = commands.add_parser("pin", parents=[root], help="rewrite the placeholders")
    pin_command.add_argument("--repository", required=True)
    pin_command.add_argument("--sha", required=True)
    pin_command.add_argument("--version", required=True)
    cut_command = commands.add_parser("cut", parents=[root], help="the release commit and tag")
    cut_command.add_argument("version")
    cut_command.add_argument("--repository", required=True)
    major_command = commands.add_parser("major", parents=[root], help="the major tag to move")
    major_command.add_argument("version")
    return main


def execute(arguments: argparse.Namespace) -> str | None:
    """Run one command; return what it prints on stdout."""
    root: Path = arguments.root
    if arguments.command == "check":
        check(root, arguments.version)
        log(f"{arguments.version}: {VERSION_FILE}, {PYPROJECT_FILE} and {CHANGELOG_FILE} agree")
        return None
    if arguments.command == "notes":
        return notes(root, arguments.version)
    if arguments.command == "pin":
        pin(root, arguments.repository, arguments.sha, arguments.version)
        return None
    if arguments.command == "cut":
        return cut(root, arguments.version, arguments.repository) + "\n"
    tag = major(root, arguments.version)
    return f"{tag}\n" if tag else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        output = execute(arguments)
    except ReleaseError as error:
        for problem in error.problems:
            print(annotation(problem), file=sys.stderr)
        return 1
    if output:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
