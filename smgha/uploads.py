"""Capture the S3 uploads an SDK makes while it builds a pipeline definition.

The SageMaker SDK uploads processing scripts to S3 inside `Pipeline.definition()`. Building
must not write anywhere: a dry run changes nothing, and bad input (a parameter the pipeline
does not declare) must fail before any AWS call. So while a definition is built, every new
botocore session answers PutObject (and the bucket checks around it) locally and records
the object; the stage hands the recorded objects to the backend once the inputs are checked.
Code keys are content hashes, so the definition is the same as with a real upload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

# S3 operations the SDK makes around an upload, answered locally with an empty success.
# (The bucket checks: ListBuckets, then HeadBucket/CreateBucket when it is not listed.) So
# building never creates a bucket: the SDK believes any bucket it names is there. That is
# why build-pipeline requires default-bucket on the sagemaker backend and refuses uploads to
# any other bucket (smgha.resources.pipelines.check_upload_buckets).
_ANSWERED: dict[str, dict[str, Any]] = {
    "PutObject": {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'},
    "ListBuckets": {"Buckets": []},
    "HeadBucket": {},
    "CreateBucket": {},
}


@contextlib.contextmanager
def captured_s3_uploads() -> Iterator[dict[str, bytes]]:
    """Within the block, S3 PutObject calls of new boto sessions land in the yielded dict."""
    from botocore import handlers
    from botocore.awsrequest import AWSResponse

    captured: dict[str, bytes] = {}
    # A session created inside the block (the SDK makes boto3's default session while it
    # imports) keeps these handlers for good: outside the block they must do nothing.
    active = True

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if active and model.name == "PutObject":
            body = params.get("Body", b"")
            data = body.read() if hasattr(body, "read") else body
            captured[f"s3://{params['Bucket']}/{params['Key']}"] = (
                data.encode() if isinstance(data, str) else bytes(data)
            )

    def answer(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not active or model.name not in _ANSWERED:
            return None
        return AWSResponse("https://s3.local", 200, {}, None), dict(_ANSWERED[model.name])

    entries = [("before-parameter-build.s3", record), ("before-call.s3", answer)]
    handlers.BUILTIN_HANDLERS.extend(entries)
    try:
        yield captured
    finally:
        active = False
        for entry in entries:
            handlers.BUILTIN_HANDLERS.remove(entry)
