"""The starter templates, run by act on the sagemaker backend against the AWS double.

A consumer repository whose caller workflows are workflows-templates/model-build.yml and
model-deploy.yml, verbatim, with the repository variables they read (`--var`) set to what
infra/terraform would output. No AWS credentials reach the jobs: every job gets its own
through oidc-auth, with an OIDC token from the test token issuer (tests/token_issuer.py)
that the AWS double's STS checks. What the Terraform module would create beforehand (the
bucket, the model package group, the SNS topic, the baseline data) the harness creates.

The sequence, as a team's first week would go: build (v1 approved: the first model sets the
bar), deploy v1 (staging and production created), build again (v2, judged against v1), deploy
v2 (both endpoints updated in place, the monitoring schedule updated). Everything the double
saw is kept: each act log, each recorded AWS call with the role that made it, and the final
state of the endpoints and the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e import harness
from tests.token_issuer import TokenIssuer

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "acme-churn-mlops"
GROUP = "churn-models"


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# What infra/terraform outputs, set as the repository variables the templates read.
VARIABLES = {
    "AWS_REGION": REGION,
    "AWS_BUILD_ROLE_ARN": role("churn-github-build"),
    "AWS_DEPLOY_STAGING_ROLE_ARN": role("churn-github-deploy-staging"),
    "AWS_DEPLOY_PRODUCTION_ROLE_ARN": role("churn-github-deploy-production"),
    "SAGEMAKER_EXECUTION_ROLE_ARN": role("churn-sagemaker-execution"),
    "MODEL_ARTIFACT_BUCKET": BUCKET,
    "ALARM_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:churn-model-alarms",
}
# Which job role each workflow job runs as: the IAM test holds each policy to its jobs' calls.
JOB_ROLES = {
    "build": VARIABLES["AWS_BUILD_ROLE_ARN"],
    "deploy-staging": VARIABLES["AWS_DEPLOY_STAGING_ROLE_ARN"],
    "deploy-production": VARIABLES["AWS_DEPLOY_PRODUCTION_ROLE_ARN"],
}
# The evaluation metrics of the two builds (scripted: the local-backend run proves the ML).
METRICS = [
    {"accuracy": 0.86, "precision": 0.74, "recall": 0.62, "f1": 0.67, "auc": 0.9},
    {"accuracy": 0.87, "precision": 0.75, "recall": 0.63, "f1": 0.68, "auc": 0.905},
]


@dataclass
class SageMakerRun:
    folder: Path
    runs: dict[str, harness.ActRun] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)  # build name -> model package ARN
    calls: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    scalable_targets: list[dict[str, Any]] = field(default_factory=list)
    tokens_minted: int = 0


def _seed(double: harness.AwsDouble, baseline: Path) -> None:
    """What applying infra/terraform leaves in the account, and the baseline data."""
    double.client("s3").create_bucket(Bucket=BUCKET)
    double.client("s3").put_object(
        Bucket=BUCKET, Key="churn/train/train.csv", Body=baseline.read_bytes()
    )
    double.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    double.client("sns").create_topic(Name="churn-model-alarms")


def _snapshot(double: harness.AwsDouble, result: SageMakerRun) -> None:
    sagemaker = double.client("sagemaker")
    for name in ("churn-staging", "churn-production"):
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
        result.endpoints[name] = endpoint
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        result.configs[name] = config
        model = config["ProductionVariants"][0]["ModelName"]
        result.models[name] = sagemaker.describe_model(ModelName=model)
    listing = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    result.packages = [
        sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listing
    ]
    alarms = double.client("cloudwatch").describe_alarms()["MetricAlarms"]
    result.alarms = sorted(a["AlarmName"] for a in alarms)
    result.scalable_targets = double.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]


def run(folder: Path) -> SageMakerRun:
    """Build, deploy, build, deploy; stop at the first failed run (the tests report it)."""
    result = SageMakerRun(folder)
    model_artifact = folder / "model.tar.gz"
    repo = harness.make_consumer_repo(
        folder / "churn-model",
        workflows=harness.ROOT / "workflows-templates",
        model_artifact=model_artifact,
    )
    issuer = TokenIssuer(repository="acme/churn-model")
    with issuer:
        double = harness.AwsDouble(
            folder,
            jwks_url=f"{issuer.base_url}/.well-known/jwks",
            model_artifact=model_artifact,
            metrics=METRICS,
        ).start()
        try:
            _seed(double, repo / "data" / "baseline.csv")
            env = {
                "AWS_ENDPOINT_URL": double.url,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-config"),
                "NO_PROXY": "127.0.0.1,localhost",
                # No SMGHA_VENV: each job installs into its own runner temp folder, as on
                # GitHub-hosted runners, and the root action's cache (the actions/cache
                # stand-in, a folder) carries the install from job to job.
                "SMGHA_E2E_CACHE": str(folder / "actions-cache"),
                **issuer.env(),
            }
            # A push builds; the deploy is dispatched with the build's exact ARN.
            steps = [
                ("build-1", "push", "model-build.yml", ""),
                ("deploy-1", "workflow_dispatch", "model-deploy.yml", "build-1"),
                ("build-2", "push", "model-build.yml", ""),
                ("deploy-2", "workflow_dispatch", "model-deploy.yml", "build-2"),
            ]
            for number, (name, event, workflow, build) in enumerate(steps, start=1):
                inputs = {"model-package-arn": result.arns.get(build, "")} if build else {}
                if name == "build-2":  # the next push
                    harness.git(repo, "commit", "-q", "--allow-empty", "-m", "Retrain")
                act = harness.run_act(
                    repo,
                    event,
                    workflow,
                    log=folder / f"{name}.log",
                    # Each run its own id, as on GitHub (act's default is the same for all);
                    # the pipeline start is idempotent per run.
                    env={**env, "GITHUB_RUN_ID": str(1000 + number)},
                    inputs=inputs,
                    variables=VARIABLES,
                )
                result.runs[name] = act
                if name.startswith("build"):
                    result.arns[name] = harness.built_arn(act.text)
                if act.returncode != 0 or (name.startswith("build") and not result.arns[name]):
                    break
            else:
                _snapshot(double, result)
        finally:
            double.stop()
            result.calls = double.recorded_calls()
            result.tokens_minted = len(issuer.tokens)
    return result
