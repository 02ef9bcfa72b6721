"""Capturing the SDK's S3 uploads while a definition is built, and nothing after."""

from __future__ import annotations

import boto3

from smgha.uploads import captured_s3_uploads


def test_uploads_inside_the_block_are_captured_not_sent(aws_env: None) -> None:
    with captured_s3_uploads() as uploads:
        s3 = boto3.Session().client("s3", region_name="us-east-1")
        assert s3.list_buckets()["Buckets"] == []  # answered here: the bucket checks pass
        s3.head_bucket(Bucket="code-bucket")
        s3.put_object(Bucket="code-bucket", Key="churn/code/abc/preprocess.py", Body=b"print(1)")

    assert uploads == {"s3://code-bucket/churn/code/abc/preprocess.py": b"print(1)"}
    assert (
        boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
    )  # moto saw nothing


def test_a_session_made_inside_the_block_behaves_normally_after_it(aws_env: None) -> None:
    # The SDK creates boto3's default session while it imports, inside the block; that
    # session keeps the handlers, which must then do nothing.
    with captured_s3_uploads():
        inside = boto3.Session().client("s3", region_name="us-east-1")

    inside.create_bucket(Bucket="real-bucket")
    inside.put_object(Bucket="real-bucket", Key="k", Body=b"sent")

    fresh = boto3.Session().client("s3", region_name="us-east-1")
    assert fresh.get_object(Bucket="real-bucket", Key="k")["Body"].read() == b"sent"
