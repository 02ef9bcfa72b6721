"""The one "Idle SageMaker endpoints" issue of a repository, created or updated in place
(`smgha endpoints idle-report --open-issue`; docs/cost.md).

Through GitHub's REST API with the job's GITHUB_TOKEN, which needs `issues: write`
(https://docs.github.com/en/rest/issues/issues#create-an-issue, "Fine-grained access tokens":
"Issues" repository permissions (write)). The issue to update is the first open issue, in the
paginated list of the repository's open issues, whose body starts with MARKER and whose
author is github-actions[bot] (the GITHUB_TOKEN's user): anyone may open an issue with that
title or marker, and we must never edit theirs. The list also holds pull requests (they have a
`pull_request` key: https://docs.github.com/en/rest/issues/issues#list-repository-issues);
they are skipped.

* idle endpoints, no such issue: it is created;
* idle endpoints, an open one: its body is replaced by the new report;
* no idle endpoint, an open one: it is updated to say so and closed (state_reason completed);
* no idle endpoint, none open: nothing is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smgha.github_api import GitHubClient, written_by_bot

TITLE = "Idle SageMaker endpoints"
MARKER = "<!-- smgha: idle-endpoints -->"
# An issue's body, like a comment's, holds at most 65,536 characters (GitHub answers 422
# "body is too long (maximum is 65536 characters)").
MAX_BODY_CHARS = 65536
CUT_NOTE = "\n\n*Cut to fit GitHub's limit of an issue body: the job summary has all of it.*\n"


@dataclass(frozen=True)
class IssueAction:
    number: int  # 0 when nothing was done
    action: str  # "created" | "updated" | "closed" | "none"


def issue_body(report_markdown: str, run_url: str = "") -> str:
    body = f"{MARKER}\n{report_markdown.rstrip()}\n"
    if run_url:
        body += f"\nReported by {run_url}.\n"
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - len(CUT_NOTE)] + CUT_NOTE
    return body


def find_own_issue(client: GitHubClient, repository: str) -> dict[str, Any] | None:
    """The first open issue of the bot whose body starts with MARKER."""
    for issue in client.pages(f"/repos/{repository}/issues", {"state": "open"}):
        if "pull_request" in issue:
            continue
        if written_by_bot(issue, MARKER):
            return issue
    return None


def publish(
    client: GitHubClient, repository: str, report_markdown: str, idle: int, run_url: str = ""
) -> IssueAction:
    """Create, update or close the issue (see the module's docstring)."""
    existing = find_own_issue(client, repository)
    body = issue_body(report_markdown, run_url)
    if existing is None:
        if not idle:
            return IssueAction(0, "none")
        created = client.call(
            "POST", f"/repos/{repository}/issues", payload={"title": TITLE, "body": body}
        )
        return IssueAction(int(created["number"]), "created")
    number = int(existing["number"])
    payload: dict[str, Any] = {"title": TITLE, "body": body}
    if not idle:
        payload.update(state="closed", state_reason="completed")
    client.call("PATCH", f"/repos/{repository}/issues/{number}", payload=payload)
    return IssueAction(number, "updated" if idle else "closed")
