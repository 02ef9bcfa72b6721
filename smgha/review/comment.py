"""The one review comment of a pull request, created or updated in place
(`smgha review post-comment`; docs/review.md, "On GitHub: champion, comment, forks").

It runs in the privileged workflow (workflow_run, pull-requests: write) and reads the
`smgha-review` artifact that the pull request's own run uploaded: the pull request's code
wrote it, so everything in it is untrusted data. What is checked, and why:

* the run: its head sha is the one GitHub gave the workflow_run event (`--head-sha`,
  github.event.workflow_run.head_sha), so the artifact belongs to the commit that was built;
* the artifact: not expired, zip and contents size-capped, no unsafe path;
* pull-request.json: exactly {"number": <int>, "head_sha": <40 hex>}; the number is the only
  thing taken from it, and it is checked against the API: that pull request's head sha must
  equal `--head-sha` and its base repository must be this repository. (For a fork's pull
  request workflow_run.pull_requests is empty, so the number has to come from the artifact.)
* comment.md: UTF-8 whose first line is the marker `<!-- smgha-review: <pipeline> -->`;
  longer than GitHub's 65,536-character limit for a comment body (GitHub answers 422 "Body is
  too long (maximum is 65536 characters)") it is cut with a note.

The comment to update is the first one, in the paginated listing of the issue's comments,
whose body starts with the marker line AND whose author is `github-actions[bot]` (the
GITHUB_TOKEN's user): anyone can write a comment starting with the marker, and we must
never edit theirs (we could not anyway: the token may edit only its own comments).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.github_api import GitHubClient, extract_zip, written_by_bot
from smgha.review.markdown import (
    COMMENT_MAX_CHARACTERS as MAX_COMMENT_CHARS,  # GitHub's, sourced there
)

TRUNCATED_NOTE = (
    "\n\n---\n*This review was cut to fit GitHub's 65,536-character limit of a comment: "
    "the job summary and the `smgha-review` artifact's report.html hold all of it.*\n"
)
# A workflow run's page as GitHub's API gives it (html_url): https, a host, /owner/repo/actions/runs/<id>.
RUN_URL_RE = re.compile(
    r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[\w.-]+/[\w.-]+/actions/runs/[0-9]+", re.ASCII
)
# The review folder (comment.md, summary.md, review.json, report.html with inline SVG).
MAX_REVIEW_ZIP_BYTES = 50 * 1024 * 1024
MAX_REVIEW_BYTES = 100 * 1024 * 1024
MAX_REVIEW_FILES = 50
MAX_PULL_REQUEST_JSON_BYTES = 4096
# The marker reviewcore writes: `<!-- smgha-review: <pipeline> -->`; a SageMaker pipeline name
# is ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$ (botocore sagemaker service-2.json, PipelineName).
MARKER_RE = re.compile(r"<!-- smgha-review: [a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,255} -->")
SHA_RE = re.compile(r"[0-9a-f]{40}")


class UntrustedArtifactError(ValueError):
    """The review artifact is not what a review run uploads: nothing is posted."""


class NoReviewArtifact(Exception):
    """The run has no (unexpired) review artifact: it stopped before the review (e.g. the
    repository's tests failed), or ran without review: true. Nothing to post."""


@dataclass(frozen=True)
class ReviewArtifact:
    number: int
    marker: str
    body: str


@dataclass(frozen=True)
class PostedComment:
    number: int
    comment_id: int
    created: bool  # False: an existing comment was updated
    truncated: bool


def read_pull_request_json(folder: Path) -> int:
    """The pull request number of `folder`/pull-request.json, checked against its schema."""
    path = folder / "pull-request.json"
    if not path.is_file() or path.stat().st_size > MAX_PULL_REQUEST_JSON_BYTES:
        raise UntrustedArtifactError(
            f"pull-request.json is missing or over {MAX_PULL_REQUEST_JSON_BYTES} bytes"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UntrustedArtifactError("pull-request.json is not UTF-8 JSON") from None
    if not isinstance(document, dict) or set(document) != {"number", "head_sha"}:
        raise UntrustedArtifactError(
            'pull-request.json must be exactly {"number": <int>, "head_sha": "<sha>"}'
        )
    number, head_sha = document["number"], document["head_sha"]
    if type(number) is not int or not 0 < number < 2**31:
        raise UntrustedArtifactError("pull-request.json: number must be a positive integer")
    if not isinstance(head_sha, str) or SHA_RE.fullmatch(head_sha) is None:
        raise UntrustedArtifactError("pull-request.json: head_sha must be 40 hex digits")
    return number


def fit_comment(body: str, footer: str = "") -> tuple[str, bool]:
    """`body` and then `footer`, the body cut with a note to fit GitHub's comment limit (and
    whether it was cut)."""
    if len(body) + len(footer) <= MAX_COMMENT_CHARS:
        return body + footer, False
    kept = MAX_COMMENT_CHARS - len(TRUNCATED_NOTE) - len(footer)
    return body[:kept] + TRUNCATED_NOTE + footer, True


def report_footer(run: dict[str, Any]) -> str:
    """Where the whole report is: the validation run's page (its URL as GitHub's API gives it,
    never the artifact's text), whose artifact `smgha-review` holds report.html."""
    url = str(run.get("html_url") or "")
    if RUN_URL_RE.fullmatch(url) is None:
        return ""
    return (
        f"\n\n---\n*Every plot, in report.html: the `smgha-review` artifact of "
        f"[the validation run]({url}).*\n"
    )


def read_review_folder(folder: Path) -> ReviewArtifact:
    """The pull request number and the comment of an extracted `smgha-review` artifact."""
    number = read_pull_request_json(folder)
    path = folder / "comment.md"
    if not path.is_file():
        raise UntrustedArtifactError("the artifact has no comment.md")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UntrustedArtifactError("comment.md is not UTF-8") from None
    marker = text.split("\n", 1)[0].rstrip("\r")
    if MARKER_RE.fullmatch(marker) is None:
        raise UntrustedArtifactError(
            "comment.md's first line is not the marker '<!-- smgha-review: <pipeline> -->'"
        )
    return ReviewArtifact(number, marker, text)


def _check_pull_request(client: GitHubClient, repository: str, number: int, head_sha: str) -> None:
    pull = client.call("GET", f"/repos/{repository}/pulls/{number}")
    head = (pull.get("head") or {}).get("sha") if isinstance(pull, dict) else None
    base = ((pull.get("base") or {}).get("repo") or {}) if isinstance(pull, dict) else {}
    if head != head_sha:
        raise UntrustedArtifactError(
            f"pull request #{number}'s head is {str(head)[:12]}, not the built commit "
            f"{head_sha[:12]} (a newer push, or an artifact naming another pull request)"
        )
    if base.get("full_name") != repository:
        raise UntrustedArtifactError(
            f"pull request #{number} is not a pull request of {repository}"
        )


def find_own_comment(
    client: GitHubClient, repository: str, number: int, marker: str
) -> dict[str, Any] | None:
    """The first comment of the pull request carrying `marker`, written by the bot."""
    path = f"/repos/{repository}/issues/{number}/comments"
    for comment in client.pages(path, {}):
        if written_by_bot(comment, marker):
            return comment
    return None


def post_review_comment(
    client: GitHubClient, repository: str, run_id: int, head_sha: str, artifact: str
) -> PostedComment:
    """Download `artifact` of run `run_id`, check it, and create or update the comment."""
    run = client.call("GET", f"/repos/{repository}/actions/runs/{run_id}")
    if not isinstance(run, dict) or run.get("head_sha") != head_sha:
        raise UntrustedArtifactError(f"run {run_id} did not build commit {head_sha[:12]}")
    found = client.run_artifact(repository, run_id, artifact)
    if found is None or found.get("expired"):
        raise NoReviewArtifact(
            f"run {run_id} has no unexpired artifact '{artifact}' (it stopped before the "
            "review, or ran without review: true): nothing to post"
        )
    if int(found.get("size_in_bytes", 0)) > MAX_REVIEW_ZIP_BYTES:
        raise UntrustedArtifactError(f"artifact '{artifact}' is over {MAX_REVIEW_ZIP_BYTES} bytes")
    data = client.download_artifact(repository, int(found["id"]), MAX_REVIEW_ZIP_BYTES)
    with tempfile.TemporaryDirectory(prefix="smgha-review-") as work:
        try:
            folder = extract_zip(
                data, Path(work) / "review", max_bytes=MAX_REVIEW_BYTES, max_files=MAX_REVIEW_FILES
            )
        except ValueError as error:
            raise UntrustedArtifactError(str(error)) from None
        review = read_review_folder(folder)
    _check_pull_request(client, repository, review.number, head_sha)
    body, truncated = fit_comment(review.body, report_footer(run))
    existing = find_own_comment(client, repository, review.number, review.marker)
    if existing is None:
        created = client.call(
            "POST", f"/repos/{repository}/issues/{review.number}/comments", payload={"body": body}
        )
        return PostedComment(review.number, int(created["id"]), True, truncated)
    client.call(
        "PATCH",
        f"/repos/{repository}/issues/comments/{int(existing['id'])}",
        payload={"body": body},
    )
    return PostedComment(review.number, int(existing["id"]), False, truncated)
