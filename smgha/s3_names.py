"""The names S3 accepts: bucket names, object keys and s3:// URIs, checked the same way by
the stages (before any request) and by the local backend's S3 (which keeps objects as files
below its state folder, so a name is also a path that must stay inside it)."""

from __future__ import annotations

import ipaddress
import re

# S3 general purpose bucket naming rules (S3 User Guide, "General purpose bucket naming
# rules", https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 3-63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or
# digit; no two adjacent periods; not formatted as an IP address; none of the reserved
# prefixes and suffixes below. The local backend keeps the same rules, so a name that works
# here works on AWS, and a bucket name is always one plain folder name ("..", "/" and "."
# alone cannot pass).
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
# An object key is at most 1,024 bytes of UTF-8 (S3 User Guide, "Naming Amazon S3 objects",
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
MAX_KEY_BYTES = 1024


def bucket_name_problem(bucket: str) -> str:
    """Why `bucket` breaks S3's bucket naming rules, or "" when it keeps them."""
    if not re.fullmatch(BUCKET_NAME, bucket):
        return (
            "a bucket name has 3-63 lower-case letters, digits, dots and hyphens, beginning "
            "and ending with a letter or digit"
        )
    if ".." in bucket:
        return "a bucket name has no two adjacent periods"
    try:
        ipaddress.IPv4Address(bucket)
        return "a bucket name is not formatted as an IP address"
    except ValueError:
        pass
    if bucket.startswith(RESERVED_BUCKET_PREFIXES) or bucket.endswith(RESERVED_BUCKET_SUFFIXES):
        return (
            f"a bucket name does not start with {', '.join(RESERVED_BUCKET_PREFIXES)} "
            f"or end with {', '.join(RESERVED_BUCKET_SUFFIXES)} (reserved by S3)"
        )
    return ""


def key_problem(key: str) -> str:
    """Why `key` cannot be an object key of the local backend, or "" when it can.

    S3 itself takes any UTF-8 key of at most 1,024 bytes, "." and ".." segments included,
    and does not resolve them; but here a key is a path below the bucket's folder, where
    such a segment would climb out of it (`s3://b/../../x`). They are refused on every
    backend (the stricter reading: some S3 clients do resolve them, so such a key is
    read back under another name)."""
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"an object key is at most {MAX_KEY_BYTES} bytes of UTF-8"
    if any(segment in (".", "..") for segment in key.split("/")):
        return 'an object key here has no "." or ".." path segment'
    if "\x00" in key:
        return "an object key here has no NUL character"
    return ""


def s3_uri_problem(uri: str) -> str:
    """Why `uri` is not an s3://bucket/key URI both S3 and the local backend accept, or ""."""
    if not uri.startswith("s3://"):
        return "it is not an s3:// URI"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        return "it names no bucket"
    return bucket_name_problem(bucket) or key_problem(key)
