"""The idle endpoints issue (smgha/idle_issue.py) against the GitHub stand-in: which issue is
ours, and a body cut to GitHub's limit."""

from __future__ import annotations

from smgha.github_api import BOT_LOGIN, GitHubClient
from smgha.idle_issue import MARKER, MAX_BODY_CHARS, TITLE, issue_body, publish
from tests.e2e.github_api_stand_in import GitHubStandIn

REPOSITORY = "acme/churn-model"


def _issue(number: int, body: str, login: str = BOT_LOGIN, **more: object) -> dict[str, object]:
    return {"number": number, "repository": REPOSITORY, "title": TITLE, "body": body,
            "state": "open", "state_reason": None, "user": {"login": login}, **more}  # fmt: skip


def test_a_pull_request_or_a_closed_issue_is_never_the_one_updated() -> None:
    github = GitHubStandIn.shared()
    github.reset()
    client = GitHubClient(github.token(REPOSITORY, issues_write=True), github.url)
    github.state.issues[1] = _issue(1, f"{MARKER}\nold", pull_request={"url": "x"})
    github.state.issues[2] = _issue(2, f"{MARKER}\nolder", state="closed")
    github.state.issues[3] = _issue(3, f"not first line\n{MARKER}")

    done = publish(client, REPOSITORY, "## report", idle=1)

    assert (done.number, done.action) == (4, "created")
    assert [github.state.issues[n]["body"] for n in (1, 2, 3)] == [
        f"{MARKER}\nold", f"{MARKER}\nolder", f"not first line\n{MARKER}"
    ]  # fmt: skip
    assert publish(client, REPOSITORY, "## again", idle=2).action == "updated"
    assert github.state.issues[4]["body"] == f"{MARKER}\n## again\n"


def test_a_long_report_is_cut_to_github_s_limit_with_a_note() -> None:
    body = issue_body("| row |\n" * 20000, "https://github.com/acme/churn-model/actions/runs/1")

    assert len(body) == MAX_BODY_CHARS
    assert body.startswith(MARKER + "\n")
    assert body.endswith("the job summary has all of it.*\n")
