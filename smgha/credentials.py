"""AWS credentials for the stages (filled in by issue 5): boto3's default chain for now."""

from __future__ import annotations

import boto3


def aws_session() -> boto3.Session:
    """The boto3 session every AWS call of a stage goes through."""
    return boto3.Session()
