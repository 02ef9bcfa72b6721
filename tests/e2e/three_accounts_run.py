"""The starter templates, run by act on the sagemaker backend with staging and production in
AWS accounts of their own, against the AWS double (tests/e2e/sagemaker_run.py's run, across
three accounts).

The deployment is what infra/terraform makes for separate accounts: the tooling account
(moto's default account) holds the build, the model registry, the artifact bucket and the
pipeline; staging and production each hold their deploy role, their execution role and
their endpoint; production holds the alarm topic. The deploy stages reach across the
boundary: they read the tooling account's model package by its ARN, which SageMaker allows
only as the package group's resource policy says (the double holds them to it,
tests/e2e/double_accounts.py), and their endpoints serve the tooling bucket's artifact.

The sequence:
  build-1   push to main: v1 registered and approved, in the tooling account
  deploy-1  by hand (workflow_dispatch) with build-1's package ARN: staging (the staging
            account), then production (the production account) once the reviewer approved
Everything is kept as in the single-account run: each act log, every recorded AWS call with
the role that made it, the reviewer's decisions, GitHub's runner rules applied to every run,
and each account's final state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.e2e import harness
from tests.e2e.sagemaker_run import BUCKET, GROUP, REGION, ActRuns, stage
from tests.e2e.sagemaker_run import VARIABLES as SINGLE_ACCOUNT_VARIABLES

TOOLING = "123456789012"  # moto's default account: build, registry, bucket, pipeline
STAGING = "234567890123"
PRODUCTION = "345678901234"
ACCOUNTS = {"tooling": TOOLING, "staging": STAGING, "production": PRODUCTION}
ENDPOINTS = {"churn-staging": STAGING, "churn-production": PRODUCTION}
ALARM_TOPIC = "churn-alarms"


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# What infra/terraform outputs for three accounts (name_prefix "churn"), set as the
# repository variables the templates read.
VARIABLES = {
    **SINGLE_ACCOUNT_VARIABLES,
    "AWS_BUILD_ROLE_ARN": role(TOOLING, "churn-build"),
    "AWS_DEPLOY_STAGING_ROLE_ARN": role(STAGING, "churn-deploy-staging"),
    "AWS_DEPLOY_PRODUCTION_ROLE_ARN": role(PRODUCTION, "churn-deploy-production"),
    "SAGEMAKER_EXECUTION_ROLE_ARN": role(TOOLING, "churn-sagemaker-execution"),
    "SAGEMAKER_STAGING_EXECUTION_ROLE_ARN": role(STAGING, "churn-sagemaker-execution"),
    "SAGEMAKER_PRODUCTION_EXECUTION_ROLE_ARN": role(PRODUCTION, "churn-sagemaker-execution"),
    "MODEL_ARTIFACT_BUCKET": BUCKET,
    "ALARM_TOPIC_ARN": f"arn:aws:sns:{REGION}:{PRODUCTION}:{ALARM_TOPIC}",
}
# Which job role each workflow job runs as (the same keys as sagemaker_run.JOB_ROLES).
JOB_ROLES = {
    "build": VARIABLES["AWS_BUILD_ROLE_ARN"],
    "deploy-staging": VARIABLES["AWS_DEPLOY_STAGING_ROLE_ARN"],
    "deploy-production": VARIABLES["AWS_DEPLOY_PRODUCTION_ROLE_ARN"],
}


@dataclass
class AccountState:
    """One account's state after the runs (described with a harness client of the account)."""

    account: str
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Describe
    missing_endpoints: dict[str, str] = field(default_factory=dict)  # name -> the error code
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # endpoint -> its model
    packages: list[dict[str, Any]] = field(default_factory=list)  # of GROUP, if here
    alarms: list[str] = field(default_factory=list)
    scalable_targets: list[dict[str, Any]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


@dataclass
class ThreeAccountRun(ActRuns):
    group_policy: dict[str, Any] | None = None  # the model package group's resource policy
    accounts: dict[str, AccountState] = field(default_factory=dict)  # tooling/staging/production
    seconds: float = 0.0  # the whole run, release to snapshot


def seed(double: harness.AwsDouble, baseline: Path, group_policy: dict[str, Any] | None) -> None:
    """What applying infra/terraform leaves in the three accounts, and the baseline data."""
    s3 = double.client("s3")  # the tooling account's
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="churn/train/train.csv", Body=baseline.read_bytes())
    sagemaker = double.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    if group_policy is not None:
        sagemaker.put_model_package_group_policy(
            ModelPackageGroupName=GROUP, ResourcePolicy=json.dumps(group_policy)
        )
    double.client("sns", account=PRODUCTION).create_topic(Name=ALARM_TOPIC)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def snapshot(double: harness.AwsDouble, account: str) -> AccountState:
    state = AccountState(account)
    sagemaker = double.client("sagemaker", account=account)
    for name in ENDPOINTS:
        try:
            endpoint = sagemaker.describe_endpoint(EndpointName=name)
        except ClientError as error:
            state.missing_endpoints[name] = _code(error)
            continue
        state.endpoints[name] = endpoint
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        state.configs[name] = config
        model = config["ProductionVariants"][0]["ModelName"]
        state.models[name] = sagemaker.describe_model(ModelName=model)
    try:
        listing = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)
    except ClientError:
        listing = {"ModelPackageSummaryList": []}
    state.packages = [
        sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"])
        for p in listing["ModelPackageSummaryList"]
    ]
    alarms = double.client("cloudwatch", account=account).describe_alarms()["MetricAlarms"]
    state.alarms = sorted(a["AlarmName"] for a in alarms)
    scaling = double.client("application-autoscaling", account=account)
    state.scalable_targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"
    ]
    topics = double.client("sns", account=account).list_topics()["Topics"]
    state.topics = sorted(t["TopicArn"] for t in topics)
    return state


def run(folder: Path, group_policy: dict[str, Any] | None) -> ThreeAccountRun:
    """build-1 (push), then deploy-1 (workflow_dispatch with build-1's ARN); stop at the first
    failed run. `group_policy`: the model package group's resource policy, as a document (the
    one infra/terraform renders: tests/iam_accounts.py); None puts none."""
    started = time.monotonic()
    result = ThreeAccountRun(folder, group_policy=group_policy)
    with stage(result, VARIABLES, lambda double, data: seed(double, data, group_policy)) as where:
        build = where.act("build-1", 2001, "push", "model-build.yml")
        result.runs["build-1"] = build
        result.arns["build-1"] = harness.built_arn(build.text)
        if build.returncode == 0 and result.arns["build-1"]:
            inputs = {"model-package-arn": result.arns["build-1"]}
            deploy = where.act("deploy-1", 2002, "workflow_dispatch", "model-deploy.yml", inputs)
            result.runs["deploy-1"] = deploy
            if deploy.returncode == 0:
                result.accounts = {
                    label: snapshot(where.double, account) for label, account in ACCOUNTS.items()
                }
    result.seconds = time.monotonic() - started
    return result
