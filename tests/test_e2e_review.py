"""End to end: the model review on GitHub, run by act, offline (issue 17, "Done when").

One rich run on the consumer fixture (tests/e2e/harness.py; the library released into a bare
repository and resolved from it as GitHub would), with the GitHub API stand-in
(tests/e2e/github_api_stand_in.py) as GITHUB_API_URL:

1. main's build (model-build.yml, push) approves the model and publishes the champion review
   bundle; the test keeps that artifact in the stand-in as main's run: the one champion of
   every review below (made once).
2. A same-repository pull request and a fork's pull request, two pushes each. Each push runs
   model-validate-pr.yml (model-build with review: true) with a read-only token (the job has
   no write permission; a fork's token is read-only anyway): it fetches the champion,
   reviews, and uploads `smgha-review`; the test keeps that artifact as the pull request's
   run, then runs the released template model-review-comment.yml on the workflow_run event
   with a token that may write pull requests.
3. After the first push the pull request has one review comment, after the second the SAME
   comment holds the second review: created, then updated, never duplicated.

Kept cheap: the champion is built once, the pull requests' builds skip the consumer's tests
(test_e2e_act.py runs them) and use the same 2000 rows (so the review compares on the same
test rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.github_api_stand_in import GitHubStandIn, zip_folder

REPOSITORY = "acme/churn-model"
FORK = "mallory/churn-model"
PIPELINE = "churn-e2e"
MARKER = f"<!-- smgha-review: {PIPELINE} -->"
BUNDLE_ARTIFACT = f"smgha-review-bundle-{PIPELINE}"
# Each push changes the model code: a parameter default of the pipeline definition.
PUSHES = (("default_value=5", "default_value=4"), ("default_value=100", "default_value=60"))


def _assert(run: harness.ActRun, condition: bool, message: str) -> None:
    if not condition:
        pytest.fail(
            f"{message} (act exit {run.returncode}, {run.seconds:.0f}s); log {run.log}:\n{run.tail()}"
        )


@pytest.fixture(scope="module")
def review_e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("e2e-review")
    release = harness.release_library(base / "library")
    repo = harness.make_consumer_repo(base / "churn-model")
    # The comment workflow exactly as a consumer copies it from the release.
    (repo / ".github" / "workflows" / "model-review-comment.yml").write_text(
        release.show(release.tag, "workflows-templates/model-review-comment.yml")
    )
    harness.git(repo, "add", "-A")
    harness.git(repo, "commit", "-q", "-m", "the review comment workflow")
    github = GitHubStandIn.shared()
    github.reset()
    state = base / "state"
    env = {
        "SMGHA_STATE_DIR": str(state),
        "SMGHA_VENV": str(base / "smgha-venv"),
        "GITHUB_API_URL": github.url,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    context = {"base": base, "repo": repo, "state": state, "env": env, "release": release}
    context["github"] = github
    context["output_names"] = harness.caller_output_names(repo, release)
    try:
        yield context
    finally:
        harness.smgha("warm-worker", "stop", state_dir=state, check=False)


def act(
    e2e: dict[str, Any], event: str, workflow: str, name: str, token: str, **options: Any
) -> harness.ActRun:
    run = harness.run_act(
        e2e["repo"], event, workflow, release=e2e["release"], log=e2e["base"] / f"{name}.log",
        env=e2e["env"], secrets={"GITHUB_TOKEN": token}, **options,
    )  # fmt: skip
    violations = harness.runner_rule_violations(run, e2e["output_names"], secrets=[token])
    _assert(run, violations == [], "GitHub's runner would differ:\n" + "\n".join(violations))
    return run


def uploaded(run: harness.ActRun, name: str) -> Path:
    """The artifact `name` this run uploaded, as GitHub stores it: the uploaded folder's
    contents at its root (the stand-in, tests/e2e/stand-ins/upload-artifact)."""
    folder = run.log.with_suffix(".artifacts") / name
    assert folder.is_dir(), f"the run uploaded no artifact {name}"
    return folder


@pytest.fixture(scope="module")
def champion(review_e2e: dict[str, Any]) -> dict[str, Any]:
    """main's push build, once: its champion bundle becomes main's artifact in the stand-in."""
    github: GitHubStandIn = review_e2e["github"]
    token = github.token(REPOSITORY, pull_requests_write=False)
    run = act(review_e2e, "push", "model-build.yml", "champion", token)
    _assert(run, run.returncode == 0, "main's build failed")
    _assert(run, "::set-output:: decision=approved" in run.text, "main's build was not approved")
    bundle = uploaded(run, BUNDLE_ARTIFACT)
    assert (bundle / "bundle.json").is_file(), sorted(p.name for p in bundle.iterdir())
    sha = harness.git(review_e2e["repo"], "rev-parse", "main")
    main_run = github.add_run(REPOSITORY, "model-build.yml", "main", sha)
    github.add_artifact(main_run, BUNDLE_ARTIFACT, zip_folder(bundle))
    return {"run": main_run, "bundle": json.loads((bundle / "bundle.json").read_text())}


def push(repo: Path, branch: str, change: tuple[str, str]) -> str:
    """Commit one change of ml/pipeline.py on `branch` (made from main); its sha, checked out
    (act's github.sha is the repository's HEAD)."""
    if harness.git(repo, "rev-parse", "--abbrev-ref", "HEAD") != branch:
        harness.git(repo, "checkout", "-q", "-B", branch, "main")
    pipeline = repo / "ml" / "pipeline.py"
    text = pipeline.read_text()
    assert change[0] in text, change
    pipeline.write_text(text.replace(change[0], change[1], 1))
    harness.git(repo, "commit", "-q", "-am", f"{branch}: {change[1]}")
    return harness.git(repo, "rev-parse", "HEAD")


def pull_request_event(number: int, sha: str, branch: str, head_repository: str) -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": sha, "ref": branch, "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }


def validate_and_comment(
    e2e: dict[str, Any], number: int, fork: bool, index: int
) -> dict[str, Any]:
    """One push of pull request `number`: the validate run, then the comment run."""
    github: GitHubStandIn = e2e["github"]
    branch = f"pr-{number}"
    head_repository = FORK if fork else REPOSITORY
    sha = push(e2e["repo"], branch, PUSHES[index])
    github.add_pull(REPOSITORY, number, sha, head_repository)
    writes_before = _writes(github)
    downloads_before = _downloads(github)
    read_only = github.token(REPOSITORY, pull_requests_write=False)
    name = f"pr{number}-push{index + 1}"
    validate = act(
        e2e, "pull_request", "model-validate-pr.yml", f"{name}-validate", read_only,
        event_payload=pull_request_event(number, sha, branch, head_repository),
    )  # fmt: skip
    _assert(validate, validate.returncode == 0, "model-validate-pr failed")
    _assert(validate, _writes(github) == writes_before, "the pull request's run wrote to GitHub")
    _assert(
        validate,
        _downloads(github) == downloads_before + 1,
        "the review did not fetch the champion",
    )
    review = uploaded(validate, "smgha-review")
    assert json.loads((review / "pull-request.json").read_text()) == {
        "number": number,
        "head_sha": sha,
    }
    comment_md = (review / "comment.md").read_text()
    assert comment_md.startswith(MARKER + "\n"), comment_md[:200]
    pr_run = github.add_run(
        REPOSITORY, "model-validate-pr.yml", branch, sha, event="pull_request",
        head_repository=head_repository,
    )  # fmt: skip
    github.add_artifact(pr_run, "smgha-review", zip_folder(review))
    workflow_run = {
        "id": pr_run.id, "head_sha": sha, "event": "pull_request", "conclusion": "success",
        "head_branch": branch, "head_repository": {"full_name": head_repository},
        # GitHub leaves a fork's pull requests out of workflow_run.pull_requests.
        "pull_requests": [] if fork else [{"number": number, "head": {"sha": sha}}],
    }  # fmt: skip
    comment = act(
        e2e, "workflow_run", "model-review-comment.yml", f"{name}-comment",
        github.token(REPOSITORY), event_payload={"action": "completed", "workflow_run": workflow_run},
    )  # fmt: skip
    _assert(comment, comment.returncode == 0, "model-review-comment failed")
    verb = "created" if index == 0 else "updated"
    _assert(
        comment,
        re.search(rf"{verb} review comment \d+ on #{number}", comment.text) is not None,
        f"not {verb}",
    )
    return {"comments": github.comments_of(REPOSITORY, number), "comment_md": comment_md}


def _writes(github: GitHubStandIn) -> int:
    return sum(1 for r in github.state.requests if r["method"] in ("POST", "PATCH"))


def _downloads(github: GitHubStandIn) -> int:
    """Artifact zips fetched from the storage URL (the champion's, in a validate run)."""
    return sum(1 for r in github.state.requests if r["path"].startswith("/blob/"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("number", "fork"), [(1, False), (2, True)], ids=["same-repository", "fork"]
)
def test_one_review_comment_per_pull_request_updated_in_place(
    review_e2e: dict[str, Any], champion: dict[str, Any], number: int, fork: bool
) -> None:
    assert champion["bundle"]["pipeline_name"] == PIPELINE
    first = validate_and_comment(review_e2e, number, fork, 0)
    assert [_review_part(c["body"]) for c in first["comments"]] == [first["comment_md"]]
    assert first["comments"][0]["user"]["login"] == "github-actions[bot]"
    second = validate_and_comment(review_e2e, number, fork, 1)
    assert [c["id"] for c in second["comments"]] == [first["comments"][0]["id"]]
    body = second["comments"][0]["body"]
    assert _review_part(body) == second["comment_md"] != first["comment_md"]
    assert "[the validation run](https://github.com/" in body  # where report.html is


def _review_part(body: str) -> str:
    """A posted comment without the footer post-comment adds (the link to the run)."""
    return body.split("\n\n---\n*Every plot, in report.html", 1)[0]
