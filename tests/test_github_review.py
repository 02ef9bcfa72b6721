"""The review's GitHub side against the strict GitHub API stand-in (tests/e2e/github_api_stand_in.py):
the REST client (smgha/github_api.py), the champion (smgha/review/champion.py), the one
comment (smgha/review/comment.py) and their commands (smgha/review/github_cli.py)."""

from __future__ import annotations

import argparse
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from smgha.github_api import GitHubClient, GitHubError, check_base_url, extract_zip
from smgha.review import github_cli
from smgha.review.champion import read_no_champion, write_no_champion
from tests.e2e.github_api_stand_in import GitHubStandIn

REPO = "acme/churn-model"
SHA = "a" * 40
MARKER = "<!-- smgha-review: churn-e2e -->"


def use_stand_in(monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    """The session's GitHub stand-in, emptied, as GITHUB_API_URL."""
    stand_in = GitHubStandIn.shared()
    stand_in.reset()
    monkeypatch.setenv("GITHUB_API_URL", stand_in.url)
    for name in ("NO_PROXY", "no_proxy"):  # urllib honours proxy variables
        monkeypatch.setenv(name, "127.0.0.1")
    return stand_in


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    return use_stand_in(monkeypatch)


def client(github: GitHubStandIn, sleeps: list[float] | None = None, **token: Any) -> GitHubClient:
    record = sleeps if sleeps is not None else []
    return GitHubClient(github.token(REPO, **token), github.url, sleep=record.append)


def cli(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    github_cli.add_subcommands(parser.add_subparsers(dest="review_command", required=True))
    out = io.StringIO()
    return github_cli.run(parser.parse_args(argv), out), out.getvalue()


def zip_of(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---- the client -------------------------------------------------------------------------------


def test_a_call_sends_the_token_and_a_wrong_token_is_refused(github: GitHubStandIn) -> None:
    github.add_pull(REPO, 7, SHA)
    assert client(github).call("GET", f"/repos/{REPO}/pulls/7")["head"]["sha"] == SHA
    with pytest.raises(GitHubError) as refused:
        GitHubClient("ghs_not-a-token", github.url).call("GET", f"/repos/{REPO}/pulls/7")
    assert refused.value.status == 401 and "ghs_not-a-token" not in str(refused.value)


def test_5xx_answers_are_retried_with_backoff(github: GitHubStandIn) -> None:
    github.add_pull(REPO, 7, SHA)
    github.fail_next("/pulls/7", 503, times=2)
    sleeps: list[float] = []
    assert client(github, sleeps).call("GET", f"/repos/{REPO}/pulls/7")["number"] == 7
    assert sleeps == [1.0, 2.0]


def test_a_secondary_rate_limit_waits_what_retry_after_says(github: GitHubStandIn) -> None:
    github.add_pull(REPO, 7, SHA)
    github.fail_next("/pulls/7", 403, {"retry-after": "7"})
    sleeps: list[float] = []
    assert client(github, sleeps).call("GET", f"/repos/{REPO}/pulls/7")["number"] == 7
    assert sleeps == [7.0]


def test_a_rate_limit_longer_than_two_minutes_fails_instead_of_holding_the_job(
    github: GitHubStandIn,
) -> None:
    github.fail_next("/pulls/7", 429, {"retry-after": "3600"})
    sleeps: list[float] = []
    with pytest.raises(GitHubError, match="rate limited for 3600 s"):
        client(github, sleeps).call("GET", f"/repos/{REPO}/pulls/7")
    assert sleeps == []


def test_a_permission_403_is_not_retried(github: GitHubStandIn) -> None:
    sleeps: list[float] = []
    with pytest.raises(GitHubError, match="Resource not accessible by integration"):
        client(github, sleeps, actions_read=False).call("GET", f"/repos/{REPO}/actions/runs/1")
    assert sleeps == []


def test_pages_follow_the_link_header_100_at_a_time(github: GitHubStandIn) -> None:
    github.add_pull(REPO, 7, SHA)
    for index in range(250):
        github.add_comment(REPO, 7, f"comment {index}", "someone")
    bodies = [c["body"] for c in client(github).pages(f"/repos/{REPO}/issues/7/comments", {})]
    assert bodies == [f"comment {index}" for index in range(250)]
    listed = [r for r in github.state.requests if r["path"].endswith("/comments")]
    assert [r["query"].get("page", "1") for r in listed] == ["1", "2", "3"]
    assert {r["query"]["per_page"] for r in listed} == {"100"}


def test_exactly_the_last_allowed_page_is_read_and_one_more_is_refused(
    github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smgha.github_api

    github.add_pull(REPO, 7, SHA)
    for index in range(200):
        github.add_comment(REPO, 7, f"comment {index}", "someone")
    monkeypatch.setattr(smgha.github_api, "MAX_PAGES", 2)
    assert len(list(client(github).pages(f"/repos/{REPO}/issues/7/comments", {}))) == 200
    github.add_comment(REPO, 7, "one more", "someone")
    with pytest.raises(GitHubError, match="more than 2 pages"):
        list(client(github).pages(f"/repos/{REPO}/issues/7/comments", {}))


def test_a_next_page_on_another_host_is_refused(github: GitHubStandIn) -> None:
    with pytest.raises(GitHubError, match="another host"):
        client(github)._next_page('<https://evil.example/x?page=2>; rel="next"', "GET x")


def test_the_artifact_zip_is_fetched_without_the_token(github: GitHubStandIn) -> None:
    run = github.add_run(REPO, "model-build.yml", "main", SHA)
    artifact = github.add_artifact(run, "bundle", zip_of({"bundle.json": "{}"}))
    data = client(github).download_artifact(REPO, artifact.id, 1024 * 1024)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["bundle.json"]
    blob = [r for r in github.state.requests if r["path"].startswith("/blob/")]
    assert [r["authorization"] for r in blob] == [False]


def test_an_expired_artifact_is_410_and_a_large_one_is_refused(github: GitHubStandIn) -> None:
    run = github.add_run(REPO, "model-build.yml", "main", SHA)
    expired = github.add_artifact(run, "old", zip_of({"a": "b"}), expired=True)
    with pytest.raises(GitHubError) as gone:
        client(github).download_artifact(REPO, expired.id, 1024)
    assert gone.value.status == 410
    large = github.add_artifact(run, "large", zip_of({"a": "x" * 5000}) + b"\0" * 5000)
    with pytest.raises(GitHubError, match="over 100 bytes"):
        client(github).download_artifact(REPO, large.id, 100)


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://api.github.com", True),
        ("https://ghe.example.com/api/v3/", True),
        ("http://127.0.0.1:8080", True),
        ("http://api.github.com", False),
        ("ftp://api.github.com", False),
    ],
)
def test_the_api_url_is_https_or_loopback(url: str, allowed: bool) -> None:
    if allowed:
        assert check_base_url(url, "GITHUB_API_URL") == url.rstrip("/")
    else:
        with pytest.raises(ValueError, match="https URL"):
            check_base_url(url, "GITHUB_API_URL")


# ---- zips are untrusted -----------------------------------------------------------------------


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, problem",
    [
        (zip_of({"../escape.txt": "x"}), "unsafe path"),
        (zip_of({"/etc/evil": "x"}), "unsafe path"),
        (zip_of({"a\\..\\b": "x"}), "unsafe path"),
        (_symlink_zip(), "symbolic link"),
        (zip_of({"big": "0" * 5000}), "over 1000 bytes uncompressed"),
        (zip_of({f"f{i}": "x" for i in range(6)}), "6 files"),
        (b"not a zip", "not a zip"),
    ],
)
def test_an_unsafe_zip_is_refused_and_leaves_nothing(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        extract_zip(data, tmp_path / "out", max_bytes=1000, max_files=5)
    assert list(tmp_path.iterdir()) == []


# ---- the champion -----------------------------------------------------------------------------


def fetch(github: GitHubStandIn, out: Path, token: str | None = None) -> tuple[int, str]:
    os_env = pytest.MonkeyPatch()
    os_env.setenv("GITHUB_TOKEN", token or github.token(REPO))
    try:
        return cli(
            "fetch-champion", "--repository", REPO, "--workflow", "model-build.yml",
            "--artifact", "smgha-review-bundle-churn", "--out", str(out),
        )  # fmt: skip
    finally:
        os_env.undo()


def test_the_champion_is_the_newest_push_build_of_main_with_the_bundle(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    name = "smgha-review-bundle-churn"
    older = github.add_run(REPO, "model-build.yml", "main", "1" * 40)
    github.add_artifact(older, name, zip_of({"bundle.json": '{"from": "older"}'}))
    newest = github.add_run(REPO, "model-build.yml", "main", "2" * 40)
    github.add_artifact(newest, name, zip_of({"bundle.json": '{"from": "newest"}'}))
    # Newer runs that must not count: a rejected build (no bundle), an expired bundle, a
    # fork's pull request run on its own `main` that added a trigger, a failed build.
    github.add_run(REPO, "model-build.yml", "main", "3" * 40)
    expired = github.add_run(REPO, "model-build.yml", "main", "4" * 40)
    github.add_artifact(expired, name, zip_of({"bundle.json": "{}"}), expired=True)
    fork = github.add_run(
        REPO, "model-build.yml", "main", "5" * 40, event="pull_request",
        head_repository="mallory/churn-model",
    )  # fmt: skip
    github.add_artifact(fork, name, zip_of({"bundle.json": '{"from": "fork"}'}))
    github.add_run(REPO, "model-build.yml", "main", "6" * 40, conclusion="failure")
    code, line = fetch(github, tmp_path / "champion")
    assert code == 0, line
    assert json.loads((tmp_path / "champion" / "bundle.json").read_text()) == {"from": "newest"}
    assert f"run {newest.id} (commit 222222222222)" in line


def test_a_fork_run_forging_a_push_on_main_is_not_the_champion(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    forged = github.add_run(
        REPO, "model-build.yml", "main", "5" * 40, head_repository="mallory/churn-model"
    )
    github.add_artifact(forged, "smgha-review-bundle-churn", zip_of({"bundle.json": "{}"}))
    code, line = fetch(github, tmp_path / "champion")
    assert code == 0 and not (tmp_path / "champion" / "bundle.json").exists()
    assert "no champion: no successful push build" in line


def test_no_champion_exits_0_without_a_bundle_and_says_why_to_the_review_too(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    github.add_run(REPO, "model-build.yml", "main", SHA)
    code, line = fetch(github, tmp_path / "champion")
    assert code == 0
    assert line.startswith("::notice title=smgha review::no champion: none of the 1 newest")
    # The folder holds the reason instead of a bundle: the review says it (review compare).
    assert sorted(p.name for p in (tmp_path / "champion").iterdir()) == ["no-champion.txt"]
    reason = read_no_champion(tmp_path / "champion")
    assert reason.startswith("no champion: none of the 1 newest") and reason in line
    # Unreadable (no actions: read): still no failure, the reason is said.
    code, line = fetch(github, tmp_path / "again", github.token(REPO, actions_read=False))
    assert code == 0 and "Resource not accessible by integration" in line
    assert "Resource not accessible by integration" in read_no_champion(tmp_path / "again")


def test_the_no_champion_reason_is_read_as_untrusted_text(tmp_path: Path) -> None:
    folder = tmp_path / "champion"
    write_no_champion(folder, "no champion:\n  " + "x" * 2000)
    assert read_no_champion(folder) == ("no champion: " + "x" * 2000)[:500]
    (folder / "no-champion.txt").write_bytes(b"bad \xff\n\n## heading " + b"y" * 10_000)
    assert read_no_champion(folder).startswith("bad \ufffd ## heading yyy")
    assert len(read_no_champion(folder)) == 500
    (folder / "no-champion.txt").unlink()
    (folder / "no-champion.txt").symlink_to("/etc/hostname")
    assert read_no_champion(folder) == ""


def test_a_bad_champion_zip_leaves_only_the_reason(github: GitHubStandIn, tmp_path: Path) -> None:
    run = github.add_run(REPO, "model-build.yml", "main", SHA)
    github.add_artifact(run, "smgha-review-bundle-churn", zip_of({"../x": "y"}))
    code, line = fetch(github, tmp_path / "champion")
    assert code == 0 and "unsafe path" in line
    assert list(tmp_path.iterdir()) == [tmp_path / "champion"]  # nothing escaped
    assert [p.name for p in (tmp_path / "champion").iterdir()] == ["no-champion.txt"]
    assert "unsafe path" in read_no_champion(tmp_path / "champion")


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--repository", "acme", "input 'repository'"),
        ("--repository", "acme/../x", "input 'repository'"),
        ("--workflow", "../model-build.yml", "input 'workflow'"),
        ("--artifact", "a/b", "input 'artifact'"),
    ],
)
def test_fetch_champion_bad_input_exits_2(
    github: GitHubStandIn, tmp_path: Path, flag: str, value: str, message: str
) -> None:
    argv = {
        "--repository": REPO, "--workflow": "model-build.yml",
        "--artifact": "smgha-review-bundle-churn", "--out": str(tmp_path / "c"),
    }  # fmt: skip
    argv[flag] = value
    code, out = cli("fetch-champion", *[x for pair in argv.items() for x in pair])
    assert code == 2 and out.startswith(f"error: {message}")
    assert github.state.requests == []


def test_fetch_champion_refuses_an_existing_out_folder(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    code, out = fetch(github, tmp_path)
    assert code == 2 and "input 'out'" in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITHUB_TOKEN": ""}, "error: input 'GITHUB_TOKEN': the environment variable is empty"),
        (
            {"GITHUB_TOKEN": "ghs_x", "GITHUB_API_URL": "http://api.github.com"},
            "error: input 'GITHUB_API_URL': GITHUB_API_URL is 'http://api.github.com'",
        ),
    ],
)
def test_no_token_or_a_clear_text_api_url_exits_2(
    github: GitHubStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], message: str,
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out = cli(
        "fetch-champion", "--repository", REPO, "--workflow", "model-build.yml",
        "--artifact", "smgha-review-bundle-churn", "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert code == 2 and out.startswith(message), out
    assert github.state.requests == [] and not (tmp_path / "c").exists()
