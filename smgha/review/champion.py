"""The champion of a review: the review bundle the newest successful build on main published
as an artifact (`smgha review fetch-champion`; docs/review.md, "On GitHub").

Which run counts, and why:

* a run of `workflow` (the build workflow's file name) on `branch`, with status success,
  listed newest first (https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow);
* its event is `push` and its head repository is this repository. A pull request from a
  fork whose branch is also called `main` could otherwise add a pull_request trigger to its
  copy of the build workflow and publish a champion of its own: its run would be listed
  with head_branch `main` too, but with event pull_request and the fork as head repository;
* it holds the artifact `artifact` and the artifact has not expired (GitHub keeps
  artifacts 90 days by default; an expired one answers 410 Gone).

Only the MAX_RUNS_SCANNED newest such runs are asked for their artifacts (one call each):
a build whose gate rejected the model publishes no bundle, a long row of those ends the
search with "no champion". Nothing found, or anything unreadable, is not an error of the
pull request: the command says why (exit 0), and writes it into the folder as NO_CHAMPION_FILE
instead of a bundle, so that the review says why too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.github_api import GitHubClient, GitHubError, extract_zip

MAX_RUNS_SCANNED = 30
# A bundle is bundle.json (metrics, profile, definition) and predictions.csv of the test rows.
MAX_BUNDLE_ZIP_BYTES = 100 * 1024 * 1024
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_BUNDLE_FILES = 20
# Why there is no champion: fetch-champion writes it, `review compare --champion` repeats it.
NO_CHAMPION_FILE = "no-champion.txt"
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class ChampionArtifact:
    run_id: int
    head_sha: str
    artifact_id: int
    size_in_bytes: int


@dataclass(frozen=True)
class ChampionSearch:
    """What fetch-champion found: `artifact`, or None and `why_not`."""

    artifact: ChampionArtifact | None
    why_not: str = ""


def _is_main_build(run: dict[str, Any], repository: str, branch: str) -> bool:
    head = run.get("head_repository") or {}
    return (
        run.get("event") == "push"
        and run.get("head_branch") == branch
        and run.get("conclusion") == "success"
        and isinstance(head, dict)
        and head.get("full_name") == repository
    )


def find_champion(
    client: GitHubClient, repository: str, workflow: str, branch: str, artifact: str
) -> ChampionSearch:
    """The newest successful push build of `branch` holding an unexpired `artifact`."""
    path = f"/repos/{repository}/actions/workflows/{workflow}/runs"
    params = {"branch": branch, "event": "push", "status": "success"}
    scanned = expired = 0
    for run in client.pages(path, params, key="workflow_runs"):
        if not _is_main_build(run, repository, branch):
            continue
        scanned += 1
        found = client.run_artifact(repository, int(run["id"]), artifact)
        if found is not None and found.get("expired"):
            expired += 1
        elif found is not None:
            return ChampionSearch(
                ChampionArtifact(
                    run_id=int(run["id"]),
                    head_sha=str(run.get("head_sha", "")),
                    artifact_id=int(found["id"]),
                    size_in_bytes=int(found.get("size_in_bytes", 0)),
                )
            )
        if scanned >= MAX_RUNS_SCANNED:
            break
    where = f"{workflow} on {repository}@{branch}"
    if scanned == 0:
        return ChampionSearch(None, f"no successful push build of {where}")
    detail = f", {expired} of them expired" if expired else ""
    return ChampionSearch(
        None,
        f"none of the {scanned} newest successful builds of {where} holds an unexpired "
        f"artifact '{artifact}'{detail} (a build publishes it when its gate approves)",
    )


def fetch_champion(
    client: GitHubClient,
    repository: str,
    workflow: str,
    branch: str,
    artifact: str,
    out: Path,
) -> str:
    """Find and extract the champion bundle into `out`; the line to print. When there is
    none, or it cannot be read, `out` is not created and the line says why."""
    try:
        search = find_champion(client, repository, workflow, branch, artifact)
        found = search.artifact
        if found is None:
            return f"no champion: {search.why_not}; the review compares nothing"
        if found.size_in_bytes > MAX_BUNDLE_ZIP_BYTES:
            return (
                f"no champion: artifact '{artifact}' of run {found.run_id} is "
                f"{found.size_in_bytes} bytes (at most {MAX_BUNDLE_ZIP_BYTES})"
            )
        data = client.download_artifact(repository, found.artifact_id, MAX_BUNDLE_ZIP_BYTES)
        extract_zip(data, out, max_bytes=MAX_BUNDLE_BYTES, max_files=MAX_BUNDLE_FILES)
    except (GitHubError, ValueError) as error:
        return f"no champion: the champion bundle could not be read ({error})"
    return (
        f"champion: artifact '{artifact}' of run {found.run_id} (commit {found.head_sha[:12]}) "
        f"in {out}"
    )


def write_no_champion(folder: Path, reason: str) -> None:
    """`folder` with only the reason there is no champion in it (one line)."""
    folder.mkdir(parents=True)
    (folder / NO_CHAMPION_FILE).write_text(" ".join(reason.split())[:MAX_REASON_CHARS] + "\n")


def read_no_champion(folder: Path) -> str:
    """The reason fetch-champion wrote into `folder` ('' when it wrote none): one line, capped,
    since the folder is the job's and the pull request's code ran in that job before."""
    path = folder / NO_CHAMPION_FILE
    if not path.is_file() or path.is_symlink():
        return ""
    with path.open("rb") as handle:
        text = handle.read(4 * MAX_REASON_CHARS).decode("utf-8", errors="replace")
    return " ".join(text.split())[:MAX_REASON_CHARS]
