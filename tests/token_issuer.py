"""A stand-in for GitHub's OIDC token service, for the oidc-auth tests.

`TokenIssuer` is an HTTP server on 127.0.0.1 (an ephemeral port) that answers the request
the runner's ACTIONS_ID_TOKEN_REQUEST_URL receives: `GET /token?api-version=2.0&audience=<aud>`
with `Authorization: Bearer <request token>`, answered `{"value": "<jwt>"}`. The JWTs are
real RS256 tokens signed with a key generated at start, with GitHub's claim layout, and the
public key is served as a JWKS at /.well-known/jwks. It can be told to fail the next N token
requests (500 for retry tests, 403 for refusals) or to stall them (timeouts).

    with TokenIssuer(environment="production") as issuer:
        env = issuer.env()          # ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN
        ...
        issuer.tokens               # every JWT minted, in order
        issuer.requests             # every token request: (audience, status)

Every thread it starts is stopped by `stop()` (or leaving the `with` block).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_REQUEST_TOKEN = "request-token-for-tests"
TOKEN_PATH = "/token"
JWKS_PATH = "/.well-known/jwks"
# Longest a stalled request is held (it is released at once when the issuer stops).
MAX_STALL_SECONDS = 5.0
STOP_TIMEOUT = 5.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


@dataclass
class _Failure:
    status: int
    remaining: int


class TokenIssuer:
    """GitHub's OIDC token endpoint on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        request_token: str = DEFAULT_REQUEST_TOKEN,
        repository: str = "acme/churn",
        ref: str = "refs/heads/main",
        environment: str | None = None,
        lifetime_seconds: int = 300,
    ) -> None:
        self.request_token = request_token
        self.repository = repository
        self.ref = ref
        self.environment = environment
        self.lifetime_seconds = lifetime_seconds
        self.tokens: list[str] = []
        self.requests: list[tuple[str, int]] = []  # (audience, HTTP status) per token request
        self._failures: list[_Failure] = []
        self._stalls = 0
        self._stall_seconds = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._key: rsa.RSAPrivateKey | None = None
        self.kid = uuid.uuid4().hex

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TokenIssuer:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                issuer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases stalled requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
            assert not self._thread.is_alive(), "the token issuer did not stop"
        self._server = self._thread = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the issuer first"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # getsockname() gives AF_INET a str host
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """What the runner puts in ACTIONS_ID_TOKEN_REQUEST_URL."""
        return f"{self.base_url}{TOKEN_PATH}?api-version=2.0"

    def env(self) -> dict[str, str]:
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` token requests with `status` (after any queued failures)."""
        with self._lock:
            self._failures.append(_Failure(status, count))

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` token requests for `seconds` (at most MAX_STALL_SECONDS)."""
        with self._lock:
            self._stalls = count
            self._stall_seconds = min(seconds, MAX_STALL_SECONDS)

    def jwks(self) -> dict[str, Any]:
        assert self._key is not None
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": b64url(_int_bytes(numbers.n)),
                    "e": b64url(_int_bytes(numbers.e)),
                }
            ]
        }

    def claims(self, audience: str, now: int | None = None) -> dict[str, Any]:
        """GitHub's claim layout for a push to main of acme/churn (or a job in an environment)."""
        now = int(time.time()) if now is None else now
        owner = self.repository.split("/")[0]
        sub = (
            f"repo:{self.repository}:environment:{self.environment}"
            if self.environment
            else f"repo:{self.repository}:ref:{self.ref}"
        )
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "aud": audience,
            "ref": self.ref,
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "repository": self.repository,
            "repository_owner": owner,
            "repository_id": "123456789",
            "repository_owner_id": "987654",
            "run_id": "4242",
            "run_number": "17",
            "run_attempt": "1",
            "repository_visibility": "private",
            "actor": "octocat",
            "actor_id": "583231",
            "workflow": "ci",
            "workflow_ref": f"{self.repository}/.github/workflows/ci.yml@{self.ref}",
            "job_workflow_ref": f"{self.repository}/.github/workflows/ci.yml@{self.ref}",
            "event_name": "push",
            "ref_type": "branch",
            "runner_environment": "github-hosted",
            "iss": ISSUER,
            "nbf": now - 5,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        if self.environment:
            claims["environment"] = self.environment
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        assert self._key is not None
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid, "x5t": self.kid}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    # -- the HTTP side -------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        if parsed.path == JWKS_PATH:
            return self._answer(request, 200, self.jwks())
        if parsed.path == "/.well-known/openid-configuration":
            return self._answer(
                request,
                200,
                {"issuer": ISSUER, "jwks_uri": f"{self.base_url}{JWKS_PATH}"},
            )
        if parsed.path != TOKEN_PATH:
            return self._answer(request, 404, {"message": "Not Found"})
        query = urllib.parse.parse_qs(parsed.query)
        audience = query.get("audience", [f"https://github.com/{self.repository.split('/')[0]}"])[0]
        status, body = self._token_answer(request, audience)
        with self._lock:
            self.requests.append((audience, status))
        self._answer(request, status, body)

    def _token_answer(
        self, request: BaseHTTPRequestHandler, audience: str
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stall = self._stall_seconds if self._stalls > 0 else 0.0
            self._stalls = max(0, self._stalls - 1)
        if stall:
            self._stopping.wait(stall)
        if request.headers.get("Authorization") != f"Bearer {self.request_token}":
            return 401, {"message": "Bad credentials"}
        with self._lock:
            failure = next((f for f in self._failures if f.remaining > 0), None)
            if failure is not None:
                failure.remaining -= 1
        if failure is not None:
            return failure.status, {"message": f"injected failure (HTTP {failure.status})"}
        token = self.sign(self.claims(audience))
        with self._lock:
            self.tokens.append(token)
        return 200, {"count": len(self.tokens), "value": token}

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of an RS256 `token` whose signature the JWKS key verifies (else raises)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["alg"] == "RS256"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = RSAPublicNumbers(
        int.from_bytes(b64url_decode(key["e"]), "big"),
        int.from_bytes(b64url_decode(key["n"]), "big"),
    ).public_key()
    public.verify(
        b64url_decode(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(b64url_decode(payload_b64))
    return claims


def running(**options: Any) -> Iterator[TokenIssuer]:
    """A started issuer for a pytest fixture: `yield from running(...)`."""
    issuer = TokenIssuer(**options).start()
    try:
        yield issuer
    finally:
        issuer.stop()
