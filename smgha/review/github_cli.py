"""`smgha review fetch-champion` and `smgha review post-comment`: the review's GitHub side
(docs/review.md, "On GitHub: champion, comment, forks").

Both read the token from the environment variable GITHUB_TOKEN (a step's
`env: GITHUB_TOKEN: ${{ github.token }}`), never from the command line, where the process
list would show it; the API address is GITHUB_API_URL (the runner sets it).

smgha/review_cli.py registers them with `add_subcommands(subparsers)`; each parser sets
`run_github_command`, the function `run(arguments, stdout)` calls.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from smgha.errors import InputError

if TYPE_CHECKING:
    from smgha.github_api import GitHubClient

COMMANDS = ("fetch-champion", "post-comment")
ARTIFACT_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,255}")
WORKFLOW_FILE_RE = re.compile(r"[A-Za-z0-9._-]{1,255}\.ya?ml")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    fetch = subparsers.add_parser(
        "fetch-champion",
        help="Download the champion review bundle main's newest successful build published.",
        description="Find the newest successful push build of --branch that holds the "
        "artifact, and extract it into --out. No champion (or an unreadable one): a line "
        "says why, --out is not created, and the exit code is 0 (the review says "
        "'no champion').",
    )
    _repository_flag(fetch)
    fetch.add_argument(
        "--workflow", required=True, help="The build workflow's file name, e.g. model-build.yml."
    )
    fetch.add_argument("--branch", default="main", help="The champion's branch (default: main).")
    fetch.add_argument(
        "--artifact",
        required=True,
        help="The bundle's artifact name: smgha-review-bundle-<pipeline>.",
    )
    fetch.add_argument("--out", required=True, help="A new folder for the champion bundle.")
    fetch.set_defaults(run_github_command=_fetch_champion)

    post = subparsers.add_parser(
        "post-comment",
        help="Create or update the pull request's one review comment from a run's artifact.",
        description="Download the review artifact of run --run-id (untrusted: size-capped, "
        "pull-request.json checked against the API), then create or update the one comment "
        "of github-actions[bot] that starts with the review's marker.",
    )
    _repository_flag(post)
    post.add_argument("--run-id", required=True, help="The pull request's review run.")
    post.add_argument(
        "--head-sha", required=True, help="The commit that run built (workflow_run.head_sha)."
    )
    post.add_argument("--artifact", default="smgha-review", help="Default: smgha-review.")
    post.set_defaults(run_github_command=_post_comment)


def _repository_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repository",
        default=os.environ.get("GITHUB_REPOSITORY", ""),
        help="owner/name (default: GITHUB_REPOSITORY).",
    )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    """Run the command `arguments` parsed; 2 with one line on bad input."""
    try:
        return int(arguments.run_github_command(arguments, stdout))
    except InputError as error:
        stdout.write(f"error: {error.message}\n")
        return 2


def _client(repository: str) -> GitHubClient:
    from smgha.github_api import GitHubClient, is_repository

    if not is_repository(repository):
        raise InputError(
            "repository",
            f"'{repository[:200]}' is not owner/name",
            "Fix: --repository ${{ github.repository }} (or set GITHUB_REPOSITORY).",
        )
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        raise InputError(
            "GITHUB_TOKEN",
            "the environment variable is empty",
            "Fix: give the step env: GITHUB_TOKEN: ${{ github.token }}.",
        )
    try:
        return GitHubClient(token)
    except ValueError as error:  # GITHUB_API_URL
        raise InputError("GITHUB_API_URL", str(error)) from None


def _fetch_champion(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.review.champion import fetch_champion, write_no_champion

    if WORKFLOW_FILE_RE.fullmatch(arguments.workflow) is None:
        raise InputError(
            "workflow", f"'{arguments.workflow[:200]}' is not a workflow file name",
            "Fix: the file name under .github/workflows, e.g. model-build.yml.",
        )  # fmt: skip
    _check_artifact_name(arguments.artifact)
    out = Path(arguments.out)
    if out.exists():
        raise InputError("out", f"{out} already exists", "Fix: give a new folder.")
    client = _client(arguments.repository)
    line = fetch_champion(
        client,
        arguments.repository,
        arguments.workflow,
        arguments.branch,
        arguments.artifact,
        out,
    )
    if not out.exists():  # the review then says "no champion", and why; the build goes on
        write_no_champion(out, line)
        line = f"::notice title=smgha review::{line}"
    stdout.write(line + "\n")
    return 0


def _post_comment(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.github_api import GitHubError
    from smgha.review.comment import NoReviewArtifact, UntrustedArtifactError, post_review_comment

    if not arguments.run_id.isdigit():
        raise InputError("run-id", f"'{arguments.run_id[:50]}' is not a run id (digits)")
    if re.fullmatch(r"[0-9a-f]{40}", arguments.head_sha) is None:
        raise InputError("head-sha", "expected 40 hex digits (workflow_run.head_sha)")
    _check_artifact_name(arguments.artifact)
    client = _client(arguments.repository)
    try:
        posted = post_review_comment(
            client,
            arguments.repository,
            int(arguments.run_id),
            arguments.head_sha,
            arguments.artifact,
        )
    except NoReviewArtifact as error:
        stdout.write(f"::notice title=smgha review comment::{error}\n")
        return 0
    except (UntrustedArtifactError, GitHubError) as error:
        stdout.write(f"::error title=smgha review comment::nothing posted: {error}\n")
        return 1
    verb = "created" if posted.created else "updated"
    note = " (cut to GitHub's 65,536-character limit)" if posted.truncated else ""
    stdout.write(f"{verb} review comment {posted.comment_id} on #{posted.number}{note}\n")
    return 0


def _check_artifact_name(name: str) -> None:
    if ARTIFACT_NAME_RE.fullmatch(name) is None:
        raise InputError("artifact", f"'{name[:200]}' is not an artifact name")
