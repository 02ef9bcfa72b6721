"""A GitHub App's installation token, minted with the standard library only.

Why an App and not a personal access token: an installation token expires after one hour,
is limited to the repositories and permissions the request names (here one repository,
`contents: write` and `actions: read`), and belongs to the App, not to a person who may
leave ("Generating an installation access token for a GitHub App",
https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app;
"Create an installation access token for an app",
https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app).
A classic PAT reaches every repository of its owner and never expires by default; a
fine-grained PAT is still a person's.

`contents: write` is what "Create a repository dispatch event" needs
(https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event, "Fine-grained
access tokens": "Contents" repository permissions (write)); `actions: read` lists the build
workflow's runs for the retrain budget
(https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow).

The JWT (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app):
RS256, `iat` 60 seconds in the past (clock drift), `exp` at most 10 minutes ahead, `iss` the
App's id. RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3; RFC 8017 sections
8.2 and 9.2), computed here with pow() over the key GitHub hands out (PEM, PKCS#1
"RSA PRIVATE KEY"; PKCS#8 "PRIVATE KEY" is read too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

from smgha.github_api import GitHubClient

JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 540  # GitHub refuses an exp over 10 minutes ahead; 9 leaves slack
# DigestInfo of SHA-256 in DER, the prefix of the hash in EMSA-PKCS1-v1_5 (RFC 8017 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
PEM_RE = re.compile(
    r"-----BEGIN (RSA PRIVATE KEY|PRIVATE KEY)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----"
)
KEY_FIX = (
    "Fix: store the App's private key as GitHub downloads it (a .pem file beginning "
    "'-----BEGIN RSA PRIVATE KEY-----') in the secret's private_key field"
)


@dataclass(frozen=True)
class RsaKey:
    modulus: int
    private_exponent: int

    @property
    def size(self) -> int:
        return (self.modulus.bit_length() + 7) // 8


def _der_element(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """The tag, content and end offset of the DER element at `offset` (X.690 8.1)."""
    if offset + 2 > len(data):
        raise ValueError("the key's DER ends early")
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:  # long form: the next (length & 0x7f) bytes are the length
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("the key's DER has a bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("the key's DER ends early")
    return tag, data[start:end], end


def _sequence(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) items of the SEQUENCE that `data` holds."""
    tag, content, _end = _der_element(data, 0)
    if tag != 0x30:
        raise ValueError("the key's DER is not a SEQUENCE")
    return _children(content)


def _children(content: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(content):
        item_tag, item, offset = _der_element(content, offset)
        items.append((item_tag, item))
    return items


def _rsa_private_key(der: bytes) -> RsaKey:
    """RSAPrivateKey (RFC 8017 A.1.2): version, n, e, d, p, q, ..."""
    items = _sequence(der)
    if len(items) < 4 or any(tag != 0x02 for tag, _ in items[:4]):
        raise ValueError("it is not an RSA private key")
    return RsaKey(int.from_bytes(items[1][1], "big"), int.from_bytes(items[3][1], "big"))


def load_private_key(pem: str) -> RsaKey:
    """The RSA key of a PKCS#1 or (unencrypted) PKCS#8 PEM; anything else is a ValueError
    naming the fix."""
    found = PEM_RE.search(pem)
    if found is None:
        raise ValueError(f"the GitHub App's private key is not an RSA private key PEM. {KEY_FIX}")
    try:
        der = base64.b64decode("".join(found.group(2).split()), validate=True)
        if found.group(1) == "RSA PRIVATE KEY":
            return _rsa_private_key(der)
        # PrivateKeyInfo (RFC 5208 5): version, AlgorithmIdentifier, OCTET STRING of the key.
        items = _sequence(der)
        algorithm = _children(items[1][1])
        if items[1][0] != 0x30 or algorithm[0] != (0x06, RSA_ENCRYPTION_OID) or items[2][0] != 0x04:
            raise ValueError("it is not an RSA key")
        return _rsa_private_key(items[2][1])
    except (ValueError, IndexError) as error:
        raise ValueError(
            f"the GitHub App's private key cannot be read ({error}). {KEY_FIX}"
        ) from None


def rs256_signature(key: RsaKey, message: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5-SIGN with SHA-256 (RFC 8017 8.2.1 and 9.2)."""
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    padding = key.size - len(digest_info) - 3
    if padding < 8:
        raise ValueError("the GitHub App's private key is too short for RS256")
    encoded = b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info
    signature = pow(int.from_bytes(encoded, "big"), key.private_exponent, key.modulus)
    return signature.to_bytes(key.size, "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_jwt(app_id: str, key: RsaKey, now: float) -> str:
    """The App's JWT at time `now` (epoch seconds)."""
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": str(app_id),
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return f"{signing_input}.{_b64url(rs256_signature(key, signing_input.encode()))}"


# The permissions the installation token is narrowed to (the App may hold more; it must
# hold at least these). Names as the REST API spells them.
TOKEN_PERMISSIONS = {"contents": "write", "actions": "read"}


def installation_token(
    app_id: str, installation_id: str, private_key: str, repository: str, *, now: float,
    api_url: str | None = None,
) -> str:  # fmt: skip
    """A token of installation `installation_id` for `repository` (owner/name) alone, with
    TOKEN_PERMISSIONS alone: POST /app/installations/{id}/access_tokens with the App's JWT."""
    if not str(installation_id).isdigit() or not str(app_id).strip():
        raise ValueError(
            "the GitHub App secret needs app_id and a numeric installation_id (the number at "
            "the end of the installation's settings URL)"
        )
    client = GitHubClient(app_jwt(app_id, load_private_key(private_key), now), api_url)
    answer = client.call(
        "POST",
        f"/app/installations/{installation_id}/access_tokens",
        payload={"repositories": [repository.split("/", 1)[1]], "permissions": TOKEN_PERMISSIONS},
    )
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise ValueError("GitHub's answer to the installation token request has no token")
    return token
