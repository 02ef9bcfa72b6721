"""A strict stand-in for the parts of GitHub's REST API the review uses, on 127.0.0.1.

One server per test session (`GitHubStandIn.shared()`, a thread of the test process: the act
jobs of the e2e reach it over loopback too); each test starts from `reset()`. The rules it
enforces, each as GitHub documents it:

* every request needs `Authorization: Bearer <token>` of a known token; else 401 "Requires
  authentication" (https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api;
  GitHub would answer a public repository's reads anonymously: stricter here, a review
  must always send the job's token);
* a token is a GITHUB_TOKEN of one repository with its permissions. A pull request from a
  fork gets a read-only token (https://docs.github.com/en/actions/security-for-github-actions/
  security-guides/automatic-token-authentication#permissions-for-the-github_token): a write
  answers 403 "Resource not accessible by integration"; so does a write without
  pull-requests: write, or a read of the Actions API without actions: read;
* a comment body over 65,536 characters answers 422 "Body is too long (maximum is 65536
  characters)" (https://docs.github.com/en/rest/issues/comments#create-an-issue-comment);
  a token may edit only its own user's comments (403 otherwise);
* lists are paginated: per_page default 30, at most 100 (a larger value is refused here, the
  stricter reading of "max 100"), with a `Link: <...>; rel="next"` header
  (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api);
* an artifact's zip answers 302 to a storage URL that refuses a request carrying an
  Authorization header (GitHub's storage is a pre-signed Azure blob URL: sending the token
  there is never right; that it is refused is our stricter reading, unconfirmed), and an
  expired artifact answers 410 Gone
  (https://docs.github.com/en/rest/actions/artifacts#download-an-artifact);
* a GitHub App (`add_app`) mints an installation token with POST
  /app/installations/{id}/access_tokens only for a JWT signed RS256 with the App's key, with
  `iss` its id, `iat`/`exp` around now and at most 10 minutes apart (else 401), and only for
  repositories and permissions the installation has (else 422)
  (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app,
  https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app);
* POST /repos/{owner}/{repo}/dispatches needs contents: write (else 403); event_type is
  required, 1..100 characters, client_payload at most 10 top-level properties (else 422); it
  answers 204 and, like GitHub, starts a run of each workflow listening to the type
  (`listen`) (https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event);
* issues (`smgha endpoints idle-report --open-issue`): creating or editing one needs the
  token's issues: write (else 403), a title (else 422), a body of at most 65,536 characters;
  the list of a repository's issues holds its pull requests too, with a `pull_request` key
  (https://docs.github.com/en/rest/issues/issues#list-repository-issues), and takes
  state=open|closed|all (default open); state_reason is completed|not_planned|reopened;
* a list of runs takes `created=>=<ISO time>` (the runs' created_at, set from `clock`);
* `fail_next(...)` makes the next matching requests answer an error (a 503, a secondary rate
  limit's 403 with retry-after) to test the client's retries.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import threading
import time
import urllib.parse
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

BOT_LOGIN = "github-actions[bot]"
MAX_COMMENT_CHARS = 65536
NOT_ACCESSIBLE = "Resource not accessible by integration"


@dataclass
class Token:
    repository: str
    pull_requests_write: bool = True
    actions_read: bool = True
    login: str = BOT_LOGIN
    contents_write: bool = False
    issues_write: bool = False


@dataclass
class Run:
    id: int
    repository: str
    workflow: str  # the workflow's file name
    head_branch: str
    head_sha: str
    event: str = "push"
    conclusion: str = "success"
    head_repository: str = ""  # a fork's full name for a fork's pull request
    created_at: str = ""  # ISO 8601 UTC, as GitHub writes it (2026-12-05T17:00:00Z)
    display_title: str = ""  # the run-name; "" : the workflow's name

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.workflow,
            "path": f".github/workflows/{self.workflow}",
            "head_branch": self.head_branch,
            "head_sha": self.head_sha,
            "event": self.event,
            "status": "completed",
            "conclusion": self.conclusion,
            "head_repository": {"full_name": self.head_repository or self.repository},
            # The run's page (GitHub's "Get a workflow run" answer has it; on github.com).
            "html_url": f"https://github.com/{self.repository}/actions/runs/{self.id}",
            "created_at": self.created_at,
            "display_title": self.display_title or self.workflow,
        }


@dataclass
class Artifact:
    id: int
    run_id: int
    name: str
    data: bytes  # the zip
    expired: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size_in_bytes": len(self.data),
            "expired": self.expired,
            "workflow_run": {"id": self.run_id},
        }


@dataclass
class App:
    app_id: str
    public_key: Any  # cryptography's RSAPublicKey
    repository: str
    permissions: dict[str, str]


@dataclass
class State:
    tokens: dict[str, Token] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)  # oldest first
    artifacts: dict[int, Artifact] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    blobs: dict[str, bytes] = field(default_factory=dict)
    failures: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000
    apps: dict[str, App] = field(default_factory=dict)  # by installation id
    dispatches: list[dict[str, Any]] = field(
        default_factory=list
    )  # repository, event_type, client_payload
    # (repo, type) -> (workflow, its run-name with {field}s of client_payload, "" for none)
    listeners: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> issue
    clock: float = 0.0  # epoch seconds of "now" for tokens and runs; 0: the real time


def zip_folder(folder: Path) -> bytes:
    """What GitHub stores for `upload-artifact` of `folder`: its files at the zip's root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


class GitHubStandIn:
    _shared: ClassVar[GitHubStandIn | None] = None

    def __init__(self) -> None:
        self.state = State()
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"stand_in": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @classmethod
    def shared(cls) -> GitHubStandIn:
        """The session's one stand-in (started on first use; a daemon thread ends with it)."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def reset(self) -> None:
        with self.lock:
            self.state = State()

    # ---- setting up what GitHub would hold ---------------------------------------------------

    def _new_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def token(self, repository: str, **permissions: Any) -> str:
        value = "ghs_" + secrets.token_hex(18)
        self.state.tokens[value] = Token(repository, **permissions)
        return value

    def add_run(
        self, repository: str, workflow: str, head_branch: str, head_sha: str, **more: Any
    ) -> Run:
        run = Run(self._new_id(), repository, workflow, head_branch, head_sha, **more)
        self.state.runs.append(run)
        return run

    def add_artifact(self, run: Run, name: str, data: bytes, *, expired: bool = False) -> Artifact:
        artifact = Artifact(self._new_id(), run.id, name, data, expired)
        self.state.artifacts[artifact.id] = artifact
        return artifact

    def add_pull(
        self, repository: str, number: int, head_sha: str, head_repository: str = ""
    ) -> None:
        self.state.pulls[(repository, number)] = {
            "number": number,
            "state": "open",
            "head": {"sha": head_sha, "repo": {"full_name": head_repository or repository}},
            "base": {"ref": "main", "repo": {"full_name": repository}},
        }

    def add_comment(self, repository: str, number: int, body: str, login: str) -> int:
        comment_id = self._new_id()
        self.state.comments[comment_id] = {
            "id": comment_id,
            "repository": repository,
            "issue": number,
            "body": body,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
        }
        return comment_id

    def comments_of(self, repository: str, number: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.state.comments.values()
            if c["repository"] == repository and c["issue"] == number
        ]

    def now(self) -> float:
        return self.state.clock or time.time()

    def add_app(
        self, app_id: str, installation_id: str, public_key: Any, repository: str,
        permissions: dict[str, str],
    ) -> None:  # fmt: skip
        """An App installed on `repository` with `permissions` (e.g. {"contents": "write"})."""
        self.state.apps[installation_id] = App(app_id, public_key, repository, permissions)

    def listen(self, repository: str, event_type: str, workflow: str, run_name: str = "") -> None:
        """`workflow` (a file name) has `on: repository_dispatch: types: [event_type]`, and
        `run_name` (str.format of client_payload's fields) names its runs."""
        self.state.listeners[(repository, event_type)] = (workflow, run_name)

    def fail_next(
        self,
        path_pattern: str,
        status: int,
        headers: dict[str, str] | None = None,
        times: int = 1,
        method: str = "",
    ) -> None:
        """The next `times` requests (of `method`, any when empty) whose path matches answer
        `status` with `headers`."""
        for _ in range(times):
            self.state.failures.append((method, path_pattern, status, headers or {}))


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"^/repos/([^/]+/[^/]+)/actions/workflows/([^/]+)/runs$", "list_runs"),
        ("GET", r"^/repos/([^/]+/[^/]+)/actions/runs/(\d+)$", "get_run"),
        ("GET", r"^/repos/([^/]+/[^/]+)/actions/runs/(\d+)/artifacts$", "list_artifacts"),
        ("GET", r"^/repos/([^/]+/[^/]+)/actions/artifacts/(\d+)/zip$", "download"),
        ("GET", r"^/blob/([0-9a-f]+)$", "blob"),
        ("GET", r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$", "get_pull"),
        ("GET", r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$", "list_comments"),
        ("POST", r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$", "create_comment"),
        ("PATCH", r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$", "update_comment"),
        ("POST", r"^/app/installations/([^/]+)/access_tokens$", "installation_token"),
        ("POST", r"^/repos/([^/]+/[^/]+)/dispatches$", "create_dispatch"),
        ("GET", r"^/repos/([^/]+/[^/]+)/issues$", "list_issues"),
        ("POST", r"^/repos/([^/]+/[^/]+)/issues$", "create_issue"),
        ("PATCH", r"^/repos/([^/]+/[^/]+)/issues/(\d+)$", "update_issue"),
    ]
]


class HttpAnswer(Exception):
    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Handler(BaseHTTPRequestHandler):
    stand_in: GitHubStandIn

    def log_message(self, *args: Any) -> None:  # quiet: the requests are recorded instead
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        stand_in = self.stand_in
        try:
            with stand_in.lock:
                state = stand_in.state
                state.requests.append(
                    {"method": method, "path": split.path, "query": query,
                     "authorization": self.headers.get("Authorization") is not None}
                )  # fmt: skip
                for index, (verb, failing, status, headers) in enumerate(state.failures):
                    if verb in ("", method) and re.search(failing, split.path):
                        del state.failures[index]
                        raise HttpAnswer(status, {"message": "injected failure"}, headers)
                for route_method, pattern, name in ROUTES:
                    found = pattern.match(split.path)
                    if found and route_method == method:
                        api = _Api(stand_in, state, self.headers, query, raw)
                        raise getattr(api, name)(*found.groups())
                raise HttpAnswer(404, {"message": "Not Found"})
        except HttpAnswer as answer:
            self._answer(answer)

    def _answer(self, answer: HttpAnswer) -> None:
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Api:
    """One request's handlers; each returns the HttpAnswer to raise."""

    def __init__(
        self, stand_in: GitHubStandIn, state: State, headers: Any, query: dict[str, str], raw: bytes
    ) -> None:
        self.stand_in = stand_in
        self.state = state
        self.headers = headers
        self.query = query
        self.raw = raw

    def _token(self, repository: str, *, write: bool = False, actions: bool = False) -> Token:
        header = self.headers.get("Authorization") or ""
        token = self.state.tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or token is None:
            raise HttpAnswer(401, {"message": "Requires authentication"})
        if token.repository != repository:
            raise HttpAnswer(404, {"message": "Not Found"})  # another repository's token
        if (write and not token.pull_requests_write) or (actions and not token.actions_read):
            raise HttpAnswer(403, {"message": NOT_ACCESSIBLE})
        return token

    def _page(self, path: str, items: list[dict[str, Any]], key: str | None) -> HttpAnswer:
        per_page = int(self.query.get("per_page", "30"))
        page = int(self.query.get("page", "1"))
        if not 1 <= per_page <= 100 or page < 1:
            raise HttpAnswer(422, {"message": "per_page must be 1..100 and page >= 1"})
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = urllib.parse.urlencode({**self.query, "page": page + 1})
            headers["Link"] = f'<{self.stand_in.url}{path}?{query}>; rel="next"'
        body: Any = {"total_count": len(items), key: chunk} if key else chunk
        return HttpAnswer(200, body, headers)

    def list_runs(self, repository: str, workflow: str) -> HttpAnswer:
        self._token(repository, actions=True)
        runs = [
            r.document()
            for r in reversed(self.state.runs)  # newest first, as GitHub lists them
            if r.repository == repository and r.workflow == workflow
            and self.query.get("branch", r.head_branch) == r.head_branch
            and self.query.get("event", r.event) == r.event
            and self.query.get("status", r.conclusion) == r.conclusion
            and r.created_at >= self.query.get("created", ">=").removeprefix(">=")
        ]  # fmt: skip
        return self._page(
            f"/repos/{repository}/actions/workflows/{workflow}/runs", runs, "workflow_runs"
        )

    def get_run(self, repository: str, run_id: str) -> HttpAnswer:
        self._token(repository, actions=True)
        for run in self.state.runs:
            if run.id == int(run_id) and run.repository == repository:
                return HttpAnswer(200, run.document())
        return HttpAnswer(404, {"message": "Not Found"})

    def list_artifacts(self, repository: str, run_id: str) -> HttpAnswer:
        self._token(repository, actions=True)
        found = [
            a.document()
            for a in self.state.artifacts.values()
            if a.run_id == int(run_id) and self.query.get("name", a.name) == a.name
        ]
        return self._page(
            f"/repos/{repository}/actions/runs/{run_id}/artifacts", found, "artifacts"
        )

    def download(self, repository: str, artifact_id: str) -> HttpAnswer:
        self._token(repository, actions=True)
        artifact = self.state.artifacts.get(int(artifact_id))
        if artifact is None:
            return HttpAnswer(404, {"message": "Not Found"})
        if artifact.expired:
            return HttpAnswer(410, {"message": "Artifact has expired"})
        key = secrets.token_hex(16)
        self.state.blobs[key] = artifact.data
        return HttpAnswer(302, b"", {"Location": f"{self.stand_in.url}/blob/{key}"})

    def blob(self, key: str) -> HttpAnswer:
        if self.headers.get("Authorization") is not None:
            return HttpAnswer(
                400,
                {
                    "message": "InvalidAuthenticationInfo: a pre-signed URL takes no Authorization header"
                },
            )
        data = self.state.blobs.pop(
            key, None
        )  # a location serves once (GitHub's expire in 1 minute)
        return (
            HttpAnswer(200, data) if data is not None else HttpAnswer(403, {"message": "expired"})
        )

    def get_pull(self, repository: str, number: str) -> HttpAnswer:
        self._token(repository)
        pull = self.state.pulls.get((repository, int(number)))
        return HttpAnswer(200, pull) if pull else HttpAnswer(404, {"message": "Not Found"})

    def list_comments(self, repository: str, number: str) -> HttpAnswer:
        self._token(repository)
        comments = [
            {k: v for k, v in c.items() if k not in ("repository", "issue")}
            for c in self.stand_in.comments_of(repository, int(number))
        ]
        return self._page(f"/repos/{repository}/issues/{number}/comments", comments, None)

    def _body(self) -> str:
        try:
            body = json.loads(self.raw)["body"]
        except (ValueError, KeyError, TypeError):
            raise HttpAnswer(422, {"message": "Invalid request: body is required"}) from None
        if not isinstance(body, str) or len(body) > MAX_COMMENT_CHARS:
            raise HttpAnswer(422, {"message": "Validation Failed", "errors": [
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": "body is too long (maximum is 65536 characters)"}]})  # fmt: skip
        return body

    def create_comment(self, repository: str, number: str) -> HttpAnswer:
        token = self._token(repository, write=True)
        if (repository, int(number)) not in self.state.pulls:
            return HttpAnswer(404, {"message": "Not Found"})
        comment_id = self.stand_in.add_comment(repository, int(number), self._body(), token.login)
        return HttpAnswer(201, {"id": comment_id, "body": self.state.comments[comment_id]["body"]})

    def update_comment(self, repository: str, comment_id: str) -> HttpAnswer:
        token = self._token(repository, write=True)
        comment = self.state.comments.get(int(comment_id))
        if comment is None or comment["repository"] != repository:
            return HttpAnswer(404, {"message": "Not Found"})
        if comment["user"]["login"] != token.login:
            return HttpAnswer(403, {"message": NOT_ACCESSIBLE})
        comment["body"] = self._body()
        return HttpAnswer(200, {"id": comment["id"], "body": comment["body"]})

    # ---- issues --------------------------------------------------------------------------------

    def list_issues(self, repository: str) -> HttpAnswer:
        self._token(repository)
        state = self.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise HttpAnswer(422, {"message": "Validation Failed: state"})
        issues = [
            {k: v for k, v in issue.items() if k != "repository"}
            for issue in sorted(self.state.issues.values(), key=lambda i: -int(i["number"]))
            if issue["repository"] == repository and state in ("all", issue["state"])
        ]  # newest first, as GitHub's default sort=created&direction=desc
        return self._page(f"/repos/{repository}/issues", issues, None)

    def _issue_write(self, repository: str) -> tuple[Token, dict[str, Any]]:
        token = self._token(repository)
        if not token.issues_write:
            raise HttpAnswer(403, {"message": NOT_ACCESSIBLE})
        request = json.loads(self.raw or b"{}")
        if "body" in request:
            self._body()  # the 65,536-character limit
        if request.get("state", "open") not in ("open", "closed") or request.get(
            "state_reason", "completed"
        ) not in ("completed", "not_planned", "reopened"):
            raise HttpAnswer(422, {"message": "Validation Failed: state"})
        return token, request

    def create_issue(self, repository: str) -> HttpAnswer:
        token, request = self._issue_write(repository)
        if not isinstance(request.get("title"), str) or not request["title"].strip():
            return HttpAnswer(422, {"message": "Validation Failed: title is missing"})
        number = 1 + max((int(n) for n in self.state.issues), default=0)
        self.state.issues[number] = {
            "number": number, "repository": repository, "title": request["title"],
            "body": request.get("body") or "", "state": "open", "state_reason": None,
            "user": {"login": token.login, "type": "Bot" if token.login.endswith("[bot]") else "User"},
        }  # fmt: skip
        return HttpAnswer(
            201, {k: v for k, v in self.state.issues[number].items() if k != "repository"}
        )

    def update_issue(self, repository: str, number: str) -> HttpAnswer:
        _token, request = self._issue_write(repository)
        issue = self.state.issues.get(int(number))
        if issue is None or issue["repository"] != repository:
            return HttpAnswer(404, {"message": "Not Found"})
        for key in ("title", "body", "state", "state_reason"):
            if key in request:
                issue[key] = request[key]
        return HttpAnswer(200, {k: v for k, v in issue.items() if k != "repository"})

    # ---- GitHub Apps and repository_dispatch ---------------------------------------------------

    def _app_jwt(self, app: App) -> None:
        """401 unless the request carries a JWT of `app`: RS256 signature, iss, iat, exp."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = self.headers.get("Authorization") or ""
        parts = header.removeprefix("Bearer ").split(".")
        try:
            decoded = [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts]
            head, claims = json.loads(decoded[0]), json.loads(decoded[1])
            app.public_key.verify(decoded[2], f"{parts[0]}.{parts[1]}".encode(),
                                  padding.PKCS1v15(), hashes.SHA256())  # fmt: skip
        except (ValueError, IndexError, InvalidSignature):
            raise HttpAnswer(401, {"message": "A JSON web token could not be decoded"}) from None
        now = self.stand_in.now()
        if (
            head.get("alg") != "RS256"
            or str(claims.get("iss")) != app.app_id
            or not claims["iat"] <= now < claims["exp"]
            or claims["exp"] - claims["iat"] > 600
        ):
            raise HttpAnswer(401, {"message": "'Expiration time' claim ('exp') is too far in the future"})  # fmt: skip

    def installation_token(self, installation_id: str) -> HttpAnswer:
        app = self.state.apps.get(installation_id)
        if app is None:
            return HttpAnswer(404, {"message": "Not Found"})
        self._app_jwt(app)
        request = json.loads(self.raw or b"{}")
        owner = app.repository.split("/")[0]
        wanted = request.get("permissions", app.permissions)
        if any(f"{owner}/{name}" != app.repository for name in request.get("repositories", [])):
            return HttpAnswer(422, {"message": "There is at least one repository that does not exist or is not accessible to the parent installation."})  # fmt: skip
        levels = {"read": 1, "write": 2}
        if any(levels[v] > levels.get(app.permissions.get(k, ""), 0) for k, v in wanted.items()):
            return HttpAnswer(422, {"message": "The permissions requested are not granted to this installation."})  # fmt: skip
        token = self.stand_in.token(
            app.repository, pull_requests_write=wanted.get("pull_requests") == "write",
            actions_read="actions" in wanted, contents_write=wanted.get("contents") == "write",
            login="smgha-dispatch[bot]",
        )  # fmt: skip
        return HttpAnswer(201, {"token": token, "permissions": wanted})

    def create_dispatch(self, repository: str) -> HttpAnswer:
        token = self._token(repository)
        if not token.contents_write:
            return HttpAnswer(403, {"message": NOT_ACCESSIBLE})
        request = json.loads(self.raw or b"{}")
        event_type, payload = request.get("event_type"), request.get("client_payload", {})
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
            return HttpAnswer(422, {"message": "Invalid request: event_type is required (1..100 characters)"})  # fmt: skip
        if not isinstance(payload, dict) or len(payload) > 10:
            return HttpAnswer(422, {"message": "client_payload: at most 10 top-level properties"})
        self.state.dispatches.append(
            {"repository": repository, "event_type": event_type, "client_payload": payload}
        )
        listener = self.state.listeners.get((repository, event_type))
        if listener is not None:
            workflow, run_name = listener
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.stand_in.now()))
            self.stand_in.add_run(repository, workflow, "main", "0" * 40,
                                  event="repository_dispatch", created_at=created,
                                  display_title=run_name.format_map(defaultdict(str, payload)))  # fmt: skip
        return HttpAnswer(204, b"")
