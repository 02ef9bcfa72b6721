"""S3 objects for the `sagemaker` backend: the code a definition refers to, evaluation
reports, baselines."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from smgha.backends.aws.client import (
    AwsClients,
    aws_errors,
    error_code_and_message,
    split_s3_uri,
)
from smgha.errors import StageError


class SageMakerObjects:
    """The Objects area of the `sagemaker` backend."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def put_object(self, uri: str, body: bytes) -> None:
        """Upload the code a definition refers to (captured while it was built)."""
        bucket, key = split_s3_uri(uri)
        with aws_errors("PutObject", uri):
            self.clients.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def missing_objects(self, uris: list[str]) -> list[str]:
        """HeadObject on each (s3:GetObject on the artifact bucket's objects, which the build
        role has). Without s3:ListBucket on the bucket S3 answers 403 rather than 404 for a
        missing key (S3 API Reference, HeadObject: "If you don't have the s3:ListBucket
        permission, Amazon S3 returns an HTTP status code 403 Forbidden error"), so 403
        counts as missing too: an object this role cannot read (the stricter reading)."""
        missing = []
        for uri in uris:
            bucket, key = split_s3_uri(uri)
            with aws_errors("HeadObject", uri):  # any other error is the call's failure
                try:
                    self.clients.s3.head_object(Bucket=bucket, Key=key)
                except ClientError as exc:
                    code, _message = error_code_and_message(exc)
                    if code not in ("404", "403", "NoSuchKey", "NoSuchBucket", "AccessDenied"):
                        raise
                    missing.append(uri)
        return missing

    def read_object(self, uri: str) -> bytes:
        """The bytes of the object at an s3:// URI."""
        return self._get(uri, "GetObject failed")

    def read_json(self, uri: str) -> Any:
        """The JSON document at an S3 URI (an evaluation report)."""
        content = self._get(uri, "Cannot read JSON document")
        try:
            return json.loads(content)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
            raise StageError("Cannot read JSON document", f"{uri} is not JSON: {exc}") from exc

    def list_objects(self, prefix: str) -> list[str]:
        """ListObjectsV2 under the folder `prefix` (s3:ListBucket on the bucket), every page."""
        bucket, key = split_s3_uri(prefix if prefix.endswith("/") else prefix + "/")
        with aws_errors("ListObjectsV2", prefix):
            pages = self.clients.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key
            )
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return sorted(f"s3://{bucket}/{k}" for k in keys)

    def _get(self, uri: str, title: str) -> bytes:
        """GetObject of an s3:// URI; a URI that names no object is a StageError `title`."""
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError as exc:
            raise StageError(title, str(exc)) from exc
        if not bucket or not key:
            raise StageError(title, f"{uri!r} names no S3 object")
        with aws_errors("GetObject", uri):
            body: bytes = self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
