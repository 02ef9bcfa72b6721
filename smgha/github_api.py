"""A small GitHub REST client (stdlib urllib) for the review's GitHub commands
(`smgha review fetch-champion`, `smgha review post-comment`; docs/review.md, "On GitHub").

What it does and why:

* The API's address is GITHUB_API_URL, which the runner sets in every job (also on GitHub
  Enterprise Server), default https://api.github.com. Plain http only to a loopback host
  (a test's stand-in): the token must never cross a network in clear text.
* The token is a constructor argument and is sent only to that address: never logged, never
  in an error message, never on a redirect to another host.
* Retries, bounded, with an injectable sleep: 5xx answers and rate limits. GitHub answers a
  rate limit with 403 or 429; `retry-after` says how many seconds to wait, else
  `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds) says until when
  (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
  A 403 without either is a permission error and fails at once.
* Pagination follows the `Link: <...>; rel="next"` header
  (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api),
  per_page at most 100, and only to the API's own origin.
* An artifact's zip (GET .../actions/artifacts/{id}/zip) answers 302 with a short-lived
  storage URL in `Location` (https://docs.github.com/en/rest/actions/artifacts#download-an-artifact).
  It is fetched WITHOUT the Authorization header, as @actions/artifact's
  downloadArtifactPublic does (actions/toolkit packages/artifact/src/internal/download/
  download-artifact.ts: the API call with redirect 'manual', then a plain HTTP client on the
  location). urllib's own redirect handler would copy the header to the storage host.
* Every body read is capped (JSON answers, zips), and zips are extracted safely.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
# https://docs.github.com/en/rest/about-the-rest-api/api-versions
API_VERSION = "2022-11-28"
USER_AGENT = "smgha-review"
MAX_JSON_BYTES = 8 * 1024 * 1024  # the largest API answer we read (a page of 100 comments)
MAX_ATTEMPTS = 5
MAX_WAIT_SECONDS = 120.0  # a rate limit longer than this fails instead of holding the job
MAX_PAGES = 50  # 5,000 items at per_page=100: more is not a pull request's comment list
TIMEOUT_SECONDS = 60.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
NEXT_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(Exception):
    """A GitHub API call failed: what was asked, the status and GitHub's message (never the
    token). `status` is 0 when no HTTP answer came."""

    def __init__(self, what: str, status: int, message: str) -> None:
        self.what = what
        self.status = status
        self.message = message
        super().__init__(f"GitHub API {what}: {status or 'no answer'} {message}".rstrip())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answered to the caller (download() follows the one it expects)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def check_base_url(
    url: str, what: str, why: str = "so the token never travels in clear text"
) -> str:
    """`url` if it is https, or http to a loopback host; else a ValueError naming `what`."""
    parsed = urllib.parse.urlsplit(url)
    loopback = parsed.hostname in LOOPBACK_HOSTS
    if parsed.scheme == "https" or (parsed.scheme == "http" and loopback):
        return url.rstrip("/")
    raise ValueError(
        f"{what} is '{url[:200]}': it must be an https URL (http only to 127.0.0.1), {why}"
    )


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message  # case-insensitive: GitHub sends `Link`, a proxy may send `link`
    body: bytes


def read_capped(stream: Any, limit: int, what: str) -> bytes:
    """At most `limit` bytes of `stream`; a longer body is a GitHubError, not a truncation."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise GitHubError(what, 0, f"the answer is over {limit} bytes: refused")
    return bytes(data)


class GitHubClient:
    def __init__(
        self,
        token: str,
        api_url: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError(
                "no GitHub token: set GITHUB_TOKEN in the step's env (e.g. "
                "GITHUB_TOKEN: ${{ github.token }})"
            )
        self._token = token
        chosen = api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
        self.api_url = check_base_url(
            chosen,
            "GITHUB_API_URL",
            "so the token never travels in clear text. Fix: unset it (the runner sets it; "
            "default https://api.github.com)",
        )
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient({self.api_url!r})"

    # ---- one HTTP exchange, with the retries ------------------------------------------------

    def _url(self, path: str, params: Mapping[str, object] | None = None) -> str:
        url = path if path.startswith(self.api_url + "/") else self.api_url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return url

    def _exchange(self, method: str, url: str, body: bytes | None, limit: int) -> Answer:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {self._token}",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {urllib.parse.urlsplit(url).path}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                return Answer(response.status, response.headers, read_capped(response, limit, what))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers, read_capped(error, MAX_JSON_BYTES, what))
        except (urllib.error.URLError, OSError) as error:
            raise GitHubError(what, 0, f"could not connect ({error})") from None

    def _wait_before_retry(self, method: str, answer: Answer, attempt: int) -> float | None:
        """Seconds to wait before retrying `answer`, or None when it must not be retried.
        A rate limit refused the request, so any method is retried; a 5xx may come after
        the work was done, so a POST (creating a comment) is not: a retry could post twice."""
        retry_after = answer.headers.get("retry-after", "")
        remaining = answer.headers.get("x-ratelimit-remaining", "")
        if answer.status in (403, 429) and retry_after.strip().isdigit():
            return float(retry_after)
        if answer.status in (403, 429) and remaining == "0":
            reset = answer.headers.get("x-ratelimit-reset", "")
            return max(1.0, float(reset) - self._clock()) if reset.isdigit() else 60.0
        if answer.status == 429 or (answer.status >= 500 and method != "POST"):
            return float(2**attempt)  # 1, 2, 4, 8 s
        return None

    def send(
        self, method: str, url: str, body: bytes | None = None, limit: int = MAX_JSON_BYTES
    ) -> Answer:
        """One call, retried on rate limits and (but a POST) on 5xx; any other answer is
        returned as is."""
        what = f"{method} {urllib.parse.urlsplit(url).path}"
        for attempt in range(MAX_ATTEMPTS):
            answer = self._exchange(method, url, body, limit)
            wait = self._wait_before_retry(method, answer, attempt)
            if wait is None or attempt == MAX_ATTEMPTS - 1:
                return answer
            if wait > MAX_WAIT_SECONDS:
                raise GitHubError(
                    what, answer.status, f"rate limited for {wait:.0f} s: try again later"
                )
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    # ---- JSON calls -------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        payload: object = None,
    ) -> Any:
        """The decoded JSON of a 2xx answer; anything else is a GitHubError."""
        url = self._url(path, params)
        body = None if payload is None else json.dumps(payload).encode()
        answer = self.send(method, url, body)
        return self._json(answer, f"{method} {urllib.parse.urlsplit(url).path}")

    @staticmethod
    def _json(answer: Answer, what: str) -> Any:
        try:
            document = json.loads(answer.body or b"null")
        except ValueError:
            document = None
        if not 200 <= answer.status < 300:
            message = document.get("message", "") if isinstance(document, dict) else ""
            raise GitHubError(what, answer.status, str(message)[:500])
        if document is None and answer.body:
            raise GitHubError(what, answer.status, "the answer is not JSON")
        return document

    def pages(
        self, path: str, params: Mapping[str, object], key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, page by page (`key`: the list's field in an object
        answer, e.g. workflow_runs). More than MAX_PAGES pages is a GitHubError."""
        url: str | None = self._url(path, {**params, "per_page": 100})
        for _page in range(MAX_PAGES):
            if url is None:
                return
            what = f"GET {urllib.parse.urlsplit(url).path}"
            answer = self.send("GET", url)
            document = self._json(answer, what)
            items = document.get(key) if key and isinstance(document, dict) else document
            if not isinstance(items, list):
                raise GitHubError(
                    what, answer.status, f"expected a list{f' in {key!r}' if key else ''}"
                )
            yield from (item for item in items if isinstance(item, dict))
            url = self._next_page(answer.headers.get("link", ""), what)
        if url is not None:
            raise GitHubError(path, 0, f"more than {MAX_PAGES} pages: refused")

    def _next_page(self, link: str, what: str) -> str | None:
        found = NEXT_LINK_RE.search(link)
        if found is None:
            return None
        url = found.group(1)
        if not url.startswith(self.api_url + "/"):  # the token goes nowhere else
            raise GitHubError(what, 0, "the next page is on another host: refused")
        return url

    def run_artifact(self, repository: str, run_id: int, name: str) -> dict[str, Any] | None:
        """The artifact named `name` of workflow run `run_id` (expired or not), or None.
        https://docs.github.com/en/rest/actions/artifacts#list-workflow-run-artifacts"""
        path = f"/repos/{repository}/actions/runs/{run_id}/artifacts"
        for artifact in self.pages(path, {"name": name}, key="artifacts"):
            if artifact.get("name") == name:
                return artifact
        return None

    # ---- an artifact's zip ------------------------------------------------------------------

    def download_artifact(self, repository: str, artifact_id: int, limit: int) -> bytes:
        """The zip of artifact `artifact_id`, at most `limit` bytes. GitHub answers 302 to a
        storage URL, fetched without the token; 410 means the artifact expired."""
        path = f"/repos/{repository}/actions/artifacts/{artifact_id}/zip"
        what = f"GET {path}"
        answer = self.send("GET", self._url(path))
        if answer.status != 302:
            self._json(answer, what)  # raises with GitHub's message (410: expired)
            raise GitHubError(what, answer.status, "expected a redirect to the zip")
        location = check_base_url(
            answer.headers.get("location", ""), "the artifact's Location", "as GitHub gives it"
        )
        request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT})
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                return read_capped(response, limit, "the artifact's zip")
        except urllib.error.HTTPError as error:
            error.close()
            raise GitHubError("the artifact's zip", error.code, "storage refused it") from None
        except (urllib.error.URLError, OSError) as error:
            raise GitHubError("the artifact's zip", 0, f"could not connect ({error})") from None


# ---- zips from GitHub are untrusted ----------------------------------------------------------


def extract_zip(data: bytes, dest: Path, *, max_bytes: int, max_files: int) -> Path:
    """Extract zip `data` into `dest` (which must not exist) and return it. Refused, with
    nothing left at `dest`: an absolute path or `..`, a symbolic link, more than `max_files`
    entries, or more than `max_bytes` once uncompressed (counted while reading, not trusted
    from the headers)."""
    if dest.exists():
        raise ValueError(f"{dest} already exists: give a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smgha-unzip-", dir=dest.parent))
    try:
        _extract_into(data, staging, max_bytes=max_bytes, max_files=max_files)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _extract_into(data: bytes, folder: Path, *, max_bytes: int, max_files: int) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError("the artifact is not a zip file") from None
    with archive:
        members = archive.infolist()
        if len(members) > max_files:
            raise ValueError(f"the artifact has {len(members)} files (at most {max_files})")
        total = 0
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                raise ValueError(f"the artifact holds an unsafe path {member.filename[:200]!r}")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise ValueError(f"the artifact holds a symbolic link {member.filename[:200]!r}")
            target = folder.joinpath(*name.parts)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as out:
                while chunk := source.read(1024 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ValueError(f"the artifact is over {max_bytes} bytes uncompressed")
                    out.write(chunk)


# An owner (user or organization, at most 39 characters) and a repository name, as GitHub
# allows them (https://docs.github.com/en/repositories/creating-and-managing-repositories/about-repositories).
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def is_repository(value: str) -> bool:
    """Whether `value` is an owner/name GitHub could hold (no '..', no slash in the name)."""
    return REPOSITORY_RE.fullmatch(value) is not None and value.split("/")[1] not in (".", "..")


# The user of a workflow's GITHUB_TOKEN: who wrote the comments and issues the library keeps.
BOT_LOGIN = "github-actions[bot]"


def written_by_bot(item: dict[str, Any], marker: str) -> bool:
    """Whether an issue or comment is the library's own: the bot wrote it and its body's first
    line is `marker` (another user's text with the marker is never edited)."""
    user = item.get("user") or {}
    body = str(item.get("body") or "")
    return user.get("login") == BOT_LOGIN and body.split("\n", 1)[0].rstrip("\r") == marker
