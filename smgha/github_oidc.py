"""The job's GitHub OIDC token: where to request it, one request for it, its claims.

    token_request_settings()   the runner's ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, or
                               TokenPermissionMissing (no `id-token: write`)
    fetch_token()              GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>  ->  the JWT
    decode_claims()            the token's payload, unverified, for error messages

smgha/credentials.py exchanges the token for AWS credentials (STS) with retries.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_AUDIENCE",
    "OidcError",
    "TokenPermissionMissing",
    "TokenRequestError",
    "decode_claims",
    "fetch_token",
    "token_request_settings",
]

DEFAULT_AUDIENCE = "sts.amazonaws.com"
TOKEN_URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_REQUEST_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"

# Seconds one token request may take, and the most of its answer read.
TOKEN_TIMEOUT = 10.0
TOKEN_ANSWER_LIMIT = 64 * 1024


class OidcError(Exception):
    """Getting credentials failed. `transient` errors are worth another attempt."""

    transient = False


class TokenPermissionMissing(OidcError):
    """The job may not request an OIDC token: its workflow lacks `id-token: write`."""


class TokenRequestError(OidcError):
    """GitHub's token service refused or failed the request (`status` None: no answer)."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


def token_request_settings(env: Mapping[str, str]) -> tuple[str, str]:
    """(request URL, request token) the runner gives a job that may request OIDC tokens."""
    url = env.get(TOKEN_URL_VARIABLE, "")
    request_token = env.get(TOKEN_REQUEST_VARIABLE, "")
    if not url or not request_token:
        missing = TOKEN_URL_VARIABLE if not url else TOKEN_REQUEST_VARIABLE
        raise TokenPermissionMissing(
            f"{missing} is not set: the job has no permission to request an OIDC token "
            "(the workflow or job needs `permissions: id-token: write`)"
        )
    return url, request_token


def token_url(url: str, audience: str) -> str:
    """`<url>&audience=<aud>` (or `?audience=` when the URL has no query yet)."""
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{separator}audience={urllib.parse.quote(audience, safe='')}"


def fetch_token(
    url: str,
    request_token: str,
    audience: str,
    timeout: float = TOKEN_TIMEOUT,
    opener: urllib.request.OpenerDirector | None = None,
) -> str:
    """One request for the job's OIDC token; TokenRequestError (transient on 5xx, timeouts
    and connection failures) when it fails."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TokenRequestError(f"{TOKEN_URL_VARIABLE} is not an http(s) URL")
    request = urllib.request.Request(
        token_url(url, audience),
        headers={
            "Authorization": f"Bearer {request_token}",
            "Accept": "application/json; api-version=2.0",
            "User-Agent": "smgha-oidc-auth",
        },
    )
    opener = opener or urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(TOKEN_ANSWER_LIMIT)
    except urllib.error.HTTPError as error:
        status = error.code
        detail = _error_text(error)
        raise TokenRequestError(
            f"GitHub's OIDC token service answered HTTP {status}{detail}",
            status=status,
            transient=status >= 500,
        ) from None
    except TimeoutError as error:  # socket.timeout is an alias
        raise TokenRequestError(
            f"the OIDC token request timed out after {timeout:g} s ({error})", transient=True
        ) from None
    except urllib.error.URLError as error:
        raise TokenRequestError(
            f"the OIDC token request failed: {error.reason}", transient=True
        ) from None
    except OSError as error:  # reset mid-answer, and the like
        raise TokenRequestError(f"the OIDC token request failed: {error}", transient=True) from None
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or value.count(".") != 2:
        raise TokenRequestError(
            "GitHub's OIDC token service answered without a token (no JWT in 'value')"
        )
    return value


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(2048).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return f": {text[:300]}" if text else ""


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded WITHOUT verifying it (for error messages only)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}
