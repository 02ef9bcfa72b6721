"""`smgha review post-comment` against the strict GitHub API stand-in: one comment per pull
request, created then updated in place, from an artifact treated as untrusted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from smgha.review.comment import MAX_COMMENT_CHARS, TRUNCATED_NOTE, report_footer
from tests.e2e.github_api_stand_in import BOT_LOGIN, GitHubStandIn, Run, zip_folder
from tests.test_github_review import REPO, SHA, cli, use_stand_in, zip_of

MARKER = "<!-- smgha-review: churn-e2e -->"
NUMBER = 7


def review_zip(tmp_path: Path, comment: str, pull_request: Any = None, name: str = "r") -> bytes:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "comment.md").write_text(comment)
    (folder / "summary.md").write_text(comment)
    document = pull_request if pull_request is not None else {"number": NUMBER, "head_sha": SHA}
    (folder / "pull-request.json").write_text(json.dumps(document))
    return zip_folder(folder)


def pr_run(github: GitHubStandIn, data: bytes, head_sha: str = SHA) -> Run:
    run = github.add_run(REPO, "model-validate-pr.yml", "feature", head_sha, event="pull_request")
    github.add_artifact(run, "smgha-review", data)
    return run


def post(github: GitHubStandIn, run: Run, head_sha: str = SHA, **token: Any) -> tuple[int, str]:
    patch = pytest.MonkeyPatch()
    patch.setenv("GITHUB_TOKEN", github.token(REPO, **token))
    try:
        return cli(
            "post-comment", "--repository", REPO, "--run-id", str(run.id), "--head-sha", head_sha
        )
    finally:
        patch.undo()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    return use_stand_in(monkeypatch)


@pytest.fixture
def pull(github: GitHubStandIn) -> GitHubStandIn:
    """The stand-in holding pull request #7 of REPO, whose head is SHA."""
    github.add_pull(REPO, NUMBER, SHA)
    return github


def test_the_comment_is_created_then_updated_never_duplicated(
    pull: GitHubStandIn, tmp_path: Path
) -> None:
    code, out = post(pull, pr_run(pull, review_zip(tmp_path, f"{MARKER}\nfirst push\n", name="1")))
    assert code == 0 and out.startswith("created review comment ") and f"#{NUMBER}" in out
    second_sha = "b" * 40
    pull.add_pull(REPO, NUMBER, second_sha)  # the second push
    data = review_zip(
        tmp_path, f"{MARKER}\nsecond push\n", {"number": NUMBER, "head_sha": second_sha}, "2"
    )
    second_run = pr_run(pull, data, second_sha)
    code, out = post(pull, second_run, second_sha)
    assert code == 0 and out.startswith("updated review comment"), out
    comments = pull.comments_of(REPO, NUMBER)
    run_page = f"https://github.com/{REPO}/actions/runs/"
    assert [c["body"].split("\n\n---\n")[0] for c in comments] == [f"{MARKER}\nsecond push\n"]
    # Where every plot is: the run that built this push (its page, from GitHub's answer).
    (footer,) = re.findall(r"\[the validation run\]\((.*?)\)", comments[0]["body"])
    assert footer == f"{run_page}{second_run.id}"


def test_the_bots_comment_is_found_on_a_later_page(pull: GitHubStandIn, tmp_path: Path) -> None:
    for index in range(120):
        pull.add_comment(REPO, NUMBER, f"discussion {index}", "reviewer")
    ours = pull.add_comment(REPO, NUMBER, f"{MARKER}\nold review\n", BOT_LOGIN)
    code, out = post(pull, pr_run(pull, review_zip(tmp_path, f"{MARKER}\nnew review\n")))
    assert code == 0 and out.startswith(f"updated review comment {ours} ")
    assert len(pull.comments_of(REPO, NUMBER)) == 121


def test_a_comment_by_someone_else_carrying_the_marker_is_never_edited(
    pull: GitHubStandIn, tmp_path: Path
) -> None:
    theirs = pull.add_comment(REPO, NUMBER, f"{MARKER}\nI wrote this\n", "mallory")
    code, out = post(pull, pr_run(pull, review_zip(tmp_path, f"{MARKER}\nreview\n")))
    assert code == 0 and out.startswith("created review comment")
    assert pull.state.comments[theirs]["body"] == f"{MARKER}\nI wrote this\n"
    assert len(pull.comments_of(REPO, NUMBER)) == 2


def test_a_body_over_githubs_limit_is_cut_with_a_note(pull: GitHubStandIn, tmp_path: Path) -> None:
    long_body = f"{MARKER}\n" + "x" * (MAX_COMMENT_CHARS + 500)
    code, out = post(pull, pr_run(pull, review_zip(tmp_path, long_body)))
    assert code == 0 and "cut to GitHub's 65,536-character limit" in out, out
    (posted,) = pull.comments_of(REPO, NUMBER)
    assert len(posted["body"]) == MAX_COMMENT_CHARS
    body, footer = posted["body"].rsplit("\n\n---\n*Every plot", 1)
    assert body.endswith(TRUNCATED_NOTE) and "the validation run" in footer


def test_the_footer_links_only_a_run_page_github_gave() -> None:
    """The link comes from GitHub's answer about the run, and only as a run page URL."""
    good = {"html_url": "https://github.com/acme/churn/actions/runs/42"}
    assert "(https://github.com/acme/churn/actions/runs/42)" in report_footer(good)
    for bad in ("javascript:alert(1)", "https://github.com/acme/churn/pull/1", "", None):
        assert report_footer({"html_url": bad}) == ""


def test_a_read_only_token_posts_nothing_and_says_so(pull: GitHubStandIn, tmp_path: Path) -> None:
    """A fork pull request's own token is read-only: a comment needs the workflow_run job."""
    run = pr_run(pull, review_zip(tmp_path, f"{MARKER}\nreview\n"))
    code, out = post(pull, run, pull_requests_write=False)
    assert code == 1 and "Resource not accessible by integration" in out
    assert pull.comments_of(REPO, NUMBER) == []


@pytest.mark.parametrize(
    "pull_request, problem",
    [
        ({"number": NUMBER}, "must be exactly"),
        ({"number": "7", "head_sha": SHA}, "positive integer"),
        ({"number": True, "head_sha": SHA}, "positive integer"),
        ({"number": NUMBER, "head_sha": "HEAD"}, "40 hex"),
        ({"number": NUMBER, "head_sha": SHA, "extra": 1}, "must be exactly"),
        ([NUMBER, SHA], "must be exactly"),
        ({"number": 8, "head_sha": SHA}, "Not Found"),  # no such pull request
    ],
)
def test_a_bad_pull_request_json_posts_nothing(
    pull: GitHubStandIn, tmp_path: Path, pull_request: Any, problem: str
) -> None:
    run = pr_run(pull, review_zip(tmp_path, f"{MARKER}\nreview\n", pull_request))
    code, out = post(pull, run)
    assert code == 1 and "nothing posted" in out and problem in out, out
    assert pull.comments_of(REPO, NUMBER) == []


def test_an_artifact_naming_another_pull_request_posts_nothing(
    pull: GitHubStandIn, tmp_path: Path
) -> None:
    """The PR's code wrote the artifact: it can name any number, but that pull request's
    head must be the commit GitHub says the run built."""
    pull.add_pull(REPO, 9, "c" * 40)
    run = pr_run(pull, review_zip(tmp_path, f"{MARKER}\nx\n", {"number": 9, "head_sha": SHA}))
    code, out = post(pull, run)
    assert code == 1 and "#9's head is cccccccccccc, not the built commit" in out
    assert pull.comments_of(REPO, 9) == []


def test_a_run_of_another_commit_posts_nothing(pull: GitHubStandIn, tmp_path: Path) -> None:
    run = pr_run(pull, review_zip(tmp_path, f"{MARKER}\nx\n"), head_sha="d" * 40)
    code, out = post(pull, run)
    assert code == 1 and f"did not build commit {SHA[:12]}" in out


def test_a_pull_request_of_another_base_repository_posts_nothing(
    github: GitHubStandIn,
    tmp_path: Path,
) -> None:
    github.add_pull(REPO, NUMBER, SHA)
    github.state.pulls[(REPO, NUMBER)]["base"]["repo"]["full_name"] = "someone/else"
    code, out = post(github, pr_run(github, review_zip(tmp_path, f"{MARKER}\nx\n")))
    assert code == 1 and f"not a pull request of {REPO}" in out


@pytest.mark.parametrize(
    "files, problem",
    [
        ({"comment.md": "no marker\n", "pull-request.json": json.dumps({"number": NUMBER, "head_sha": SHA})}, "marker"),
        ({"comment.md": "<!-- smgha-review: a b -->\n", "pull-request.json": json.dumps({"number": NUMBER, "head_sha": SHA})}, "marker"),
        ({"comment.md": b"<!-- smgha-review: x -->\n\xff", "pull-request.json": json.dumps({"number": NUMBER, "head_sha": SHA})}, "UTF-8"),
        ({"pull-request.json": json.dumps({"number": NUMBER, "head_sha": SHA})}, "no comment.md"),
        ({"comment.md": f"{MARKER}\n"}, "pull-request.json is missing"),
        ({"../comment.md": "x"}, "unsafe path"),
    ],
)  # fmt: skip
def test_a_bad_review_artifact_posts_nothing(
    pull: GitHubStandIn, files: dict[str, Any], problem: str
) -> None:
    code, out = post(pull, pr_run(pull, zip_of(files)))
    assert code == 1 and problem in out, out
    assert pull.comments_of(REPO, NUMBER) == []


def test_a_run_without_a_review_artifact_posts_nothing_and_succeeds(
    pull: GitHubStandIn, tmp_path: Path
) -> None:
    """A run that stopped before the review (its tests failed) is not a comment failure."""
    run = pull.add_run(REPO, "model-validate-pr.yml", "feature", SHA, event="pull_request")
    code, out = post(pull, run)
    assert code == 0 and out.startswith("::notice title=smgha review comment::run ")
    pull.add_artifact(run, "smgha-review", review_zip(tmp_path, f"{MARKER}\n"), expired=True)
    code, out = post(pull, run)
    assert code == 0 and "no unexpired artifact 'smgha-review'" in out
    assert pull.comments_of(REPO, NUMBER) == []


@pytest.mark.parametrize(
    "flag, value, name",
    [
        ("--run-id", "12a", "run-id"),
        ("--head-sha", "main", "head-sha"),
        ("--artifact", "", "artifact"),
    ],
)
def test_post_comment_bad_input_exits_2(
    pull: GitHubStandIn, flag: str, value: str, name: str
) -> None:
    argv = {"--repository": REPO, "--run-id": "12", "--head-sha": SHA, "--artifact": "smgha-review"}
    argv[flag] = value
    code, out = cli("post-comment", *[x for pair in argv.items() for x in pair])
    assert code == 2 and out.startswith(f"error: input '{name}'"), out
    assert pull.state.requests == []


def test_a_failed_create_is_not_retried_so_it_never_posts_twice(
    pull: GitHubStandIn, tmp_path: Path
) -> None:
    """A 502 may come after GitHub created the comment: a retry could duplicate it. The
    next push's run finds the comment (if it was made) and updates it."""
    pull.fail_next(f"/issues/{NUMBER}/comments$", 502, method="POST")
    code, out = post(pull, pr_run(pull, review_zip(tmp_path, f"{MARKER}\nreview\n")))
    assert code == 1 and "502" in out
    posts = [r for r in pull.state.requests if r["method"] == "POST"]
    assert len(posts) == 1
