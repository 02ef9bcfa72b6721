"""The Lambda function's entry point (handler "smgha.dispatch.handler.lambda_handler"):
its settings from the environment events.tf sets, the GitHub App from one Secrets Manager
secret, then dispatcher.handle.

The secret is a JSON object {"app_id": "...", "installation_id": "...", "private_key":
"-----BEGIN RSA PRIVATE KEY-----..."} (docs/setup.md, "Registry and drift events").
A failure raises: EventBridge's asynchronous invocation retries it, then the event goes to
the dead-letter queue (events.tf).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any

from smgha.dispatch.app_token import installation_token
from smgha.dispatch.dispatcher import Clients, Config, handle
from smgha.github_api import GitHubClient, is_repository

SECRET_FIELDS = ("app_id", "installation_id", "private_key")


def config_from(env: Mapping[str, str]) -> Config:
    """The settings events.tf gives the function; a wrong one is a ValueError naming it."""
    repository = env.get("GITHUB_REPOSITORY", "")
    if not is_repository(repository):
        raise ValueError(f"GITHUB_REPOSITORY is {repository[:200]!r}: it must be owner/name")
    numbers = {}
    for name in ("DEBOUNCE_RUNS", "RETRAIN_BUDGET_PER_WEEK"):
        value = env.get(name, "")
        if not value.isdigit() or not 1 <= int(value) <= 100:
            raise ValueError(f"{name} is {value[:50]!r}: it must be a whole number 1..100")
        numbers[name] = int(value)
    return Config(
        repository=repository,
        model_package_group=env.get("MODEL_PACKAGE_GROUP", ""),
        endpoint=env.get("DRIFT_ENDPOINT", ""),
        schedule=env.get("DRIFT_SCHEDULE", ""),
        debounce_runs=numbers["DEBOUNCE_RUNS"],
        retrain_budget=numbers["RETRAIN_BUDGET_PER_WEEK"],
        build_workflow=env.get("BUILD_WORKFLOW", "model-build.yml"),
        deploy_workflow=env.get("DEPLOY_WORKFLOW", "model-deploy.yml"),
        notice_topic_arn=env.get("NOTICE_TOPIC_ARN", ""),
    )


def app_secret(text: str) -> dict[str, str]:
    """The App's fields of the secret's SecretString; a missing one is a ValueError naming
    it (never the key's text)."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ValueError(
            f"the GitHub App secret is not a JSON object with {', '.join(SECRET_FIELDS)}"
        )
    missing = [name for name in SECRET_FIELDS if not str(document.get(name, "")).strip()]
    if missing:
        raise ValueError(f"the GitHub App secret has no {', '.join(missing)}")
    return {name: str(document[name]) for name in SECRET_FIELDS}


def connect(
    config: Config, env: Mapping[str, str], now: dt.datetime
) -> Clients:  # pragma: no cover - AWS only
    import boto3  # Lambda's runtime has it; imported here so the tests' imports need no AWS

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=env["GITHUB_APP_SECRET_ARN"])
    app = app_secret(secret["SecretString"])
    token = installation_token(app["app_id"], app["installation_id"], app["private_key"],
                               config.repository, now=now.timestamp())  # fmt: skip
    return Clients(GitHubClient(token), boto3.client("sagemaker"), boto3.client("s3"),
                   boto3.client("sns"))  # fmt: skip


def lambda_handler(event: Any, context: Any) -> dict[str, str]:  # pragma: no cover - AWS only
    env = dict(os.environ)
    config = config_from(env)
    now = dt.datetime.now(dt.timezone.utc)
    outcome = handle(event, config, lambda: connect(config, env, now), now, print)
    return {"outcome": outcome}
