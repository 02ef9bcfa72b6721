"""The starter templates, run by act on the sagemaker backend against the AWS double.

A consumer repository whose caller workflows are workflows-templates/model-build.yml and
model-deploy.yml as a release of the library holds them (taken from the release tag of
harness.release_library, so they call `acme/sagemaker-mlops/...@v<version>`), with the
repository variables they read (`--var`) set to what infra/terraform would output. No AWS
credentials reach the jobs: every job gets its own through oidc-auth, with an OIDC token from
the test token issuer (tests/token_issuer.py) that the AWS double's STS checks. What the
Terraform module would create beforehand (the bucket, the model package group, the SNS
topic, the baseline data) the harness creates.

The sequence, as a team's first week would go:
  build-1   push to main (commit C1): v1 registered and approved (the first model sets the bar)
  (main moves on: commit C2 deletes the smoke-test payloads, as a later refactor might)
  deploy-1  the automatic path: workflow_run of that build (head_sha C1, while main is C2).
            resolve finds v1 through oidc-auth and the registry, the deploy checks out C1
            (C2's payloads are gone: checking out main would fail the smoke test), staging,
            then production once the reviewer approved (harness.Reviewer).
  build-2   push (commit C3 restores the payloads): v2, judged against v1
  deploy-2  by hand (workflow_dispatch) with v2's exact ARN: both endpoints updated in place,
            then staging removed (REMOVE_STAGING_AFTER_PROMOTION=true; its config is kept)
  deploy-3  the same by hand again, the removal off: staging created anew on its kept
            endpoint config (as a rollback would be), production already on v2
Everything is kept: each act log, each recorded AWS call with the role that made it and when,
the reviewer's decisions, GitHub's runner rules applied to every run, and the final state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
# The act runs, in order (see the module's docstring).
RUNS = ("build-1", "deploy-1", "build-2", "deploy-2", "deploy-3")
# The evaluation metrics of the two builds (scripted: the local-backend run proves the ML).
METRICS = [
    {"accuracy": 0.86, "precision": 0.74, "recall": 0.62, "f1": 0.67, "auc": 0.9},
    {"accuracy": 0.87, "precision": 0.75, "recall": 0.63, "f1": 0.68, "auc": 0.905},
]


@dataclass
class ActRuns:
    """What a sequence of act runs against the double keeps (this module's, and
    tests/e2e/three_accounts_run.py's): each run, the packages its builds registered, every
    recorded AWS call, the reviewer's decisions and GitHub's runner rules each run broke."""

    folder: Path
    runs: dict[str, harness.ActRun] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)  # build name -> model package ARN
    calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_minted: int = 0
    release: harness.LibraryRelease | None = None
    reviews: list[harness.Review] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)  # run -> GitHub's rules broken
    harness_keys: set[str] = field(default_factory=set)  # the harness's own (set-up, snapshot)


@dataclass
class SageMakerRun(ActRuns):
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoint_configs: list[str] = field(default_factory=list)  # every config's name, at the end
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    scalable_targets: list[dict[str, Any]] = field(default_factory=list)
    commits: dict[str, str] = field(default_factory=dict)  # C1, C2, C3 -> sha


@dataclass
class Stage:
    """Where a sequence's act runs play: the consumer repository, the library release, the
    AWS double and the reviewer of the production environment."""

    folder: Path
    repo: Path
    release: harness.LibraryRelease
    double: harness.AwsDouble
    reviewer: harness.Reviewer
    env: dict[str, str]
    variables: dict[str, str]

    def act(
        self,
        name: str,
        run_id: int,
        event: str,
        workflow: str,
        inputs: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> harness.ActRun:
        """One act run, logged to <folder>/<name>.log (the reviewer reads it)."""
        log = self.folder / f"{name}.log"
        self.reviewer.log = log
        return harness.run_act(
            self.repo,
            event,
            workflow,
            release=self.release,
            log=log,
            # Each run its own id, as on GitHub (act's default is the same for all); the
            # pipeline start is idempotent per run.
            env={**self.env, "GITHUB_RUN_ID": str(run_id)},
            inputs=inputs or {},
            variables=self.variables,
            event_payload=payload,
        )


@contextmanager
def stage(
    result: ActRuns, variables: dict[str, str], seed: Callable[[harness.AwsDouble, Path], None]
) -> Iterator[Stage]:
    """The release, the consumer repository (its callers taken from the release tag), the token
    issuer and the double (the production role gated by the reviewer), with `seed` applied
    (what Terraform would leave, and the baseline data); afterwards everything the runs left
    is kept in `result`, however they ended."""
    folder = result.folder
    model_artifact = folder / "model.tar.gz"
    release = result.release = harness.release_library(folder / "library")
    templates = release.export(release.tag, folder / "release-tree") / "workflows-templates"
    repo = harness.make_consumer_repo(
        folder / "churn-model", workflows=templates, model_artifact=model_artifact
    )
    output_names = harness.caller_output_names(repo, release)
    issuer = TokenIssuer(repository="acme/churn-model")
    with issuer:
        double = harness.AwsDouble(
            folder,
            jwks_url=f"{issuer.base_url}/.well-known/jwks",
            model_artifact=model_artifact,
            metrics=METRICS,
            gated_roles=[variables["AWS_DEPLOY_PRODUCTION_ROLE_ARN"]],
        ).start()
        reviewer = harness.Reviewer(double.gate_dir, folder / "none.log")
        try:
            seed(double, repo / "data" / "baseline.csv")
            env = act_env(folder, double, issuer)
            with reviewer:
                yield Stage(folder, repo, release, double, reviewer, env, variables)
        finally:
            double.stop()
            result.calls = double.recorded_calls()
            result.harness_keys = set(double.harness_keys)
            result.tokens_minted = len(issuer.tokens)
            result.reviews = list(reviewer.reviews)
            secrets = [*issuer.tokens, issuer.request_token]
            secrets += [c["access_key"] for c in result.calls if c["access_key"].startswith("ASIA")]
            result.violations = {
                name: harness.runner_rule_violations(act, output_names, secrets)
                for name, act in result.runs.items()
            }


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
    result.endpoint_configs = sorted(
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    )
    listing = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    result.packages = [
        sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listing
    ]
    alarms = double.client("cloudwatch").describe_alarms()["MetricAlarms"]
    result.alarms = sorted(a["AlarmName"] for a in alarms)
    result.scalable_targets = double.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]


def _workflow_run_event(repository: str, head_sha: str) -> dict[str, Any]:
    """The event GitHub sends model-deploy when model-build completed on main."""
    return {
        "action": "completed",
        "workflow_run": {
            "name": "model-build",
            "event": "push",
            "conclusion": "success",
            "head_branch": "main",
            "head_sha": head_sha,
            "head_repository": {"full_name": repository},
        },
        "repository": {"full_name": repository, "default_branch": "main"},
    }


def act_env(folder: Path, double: harness.AwsDouble, issuer: TokenIssuer) -> dict[str, str]:
    """The environment of every act run against the double: no AWS credentials or config."""
    return {
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


def run(folder: Path) -> SageMakerRun:
    """Build, deploy (automatic), build, deploy (by hand); stop at the first failed run."""
    result = SageMakerRun(folder)
    with stage(result, VARIABLES, _seed) as where:
        repo = where.repo
        for number, name in enumerate(RUNS, start=1):
            event, workflow = "push", "model-build.yml"
            inputs: dict[str, str] = {}
            payload = None
            if name == "build-1":
                result.commits["C1"] = harness.git(repo, "rev-parse", "HEAD")
            elif name == "deploy-1":  # main moved on; the event names the build's commit
                harness.git(repo, "rm", "-q", "tests/payloads.csv")
                harness.git(repo, "commit", "-q", "-m", "Move the smoke-test payloads")
                result.commits["C2"] = harness.git(repo, "rev-parse", "HEAD")
                event, workflow = "workflow_run", "model-deploy.yml"
                payload = _workflow_run_event("acme/churn-model", result.commits["C1"])
            elif name == "build-2":  # the next push
                harness.git(repo, "revert", "--no-edit", "HEAD")
                result.commits["C3"] = harness.git(repo, "rev-parse", "HEAD")
            else:
                # The team turns staging's removal on for deploy-2 and off again for deploy-3,
                # which must create staging anew on the endpoint config deploy-2 kept.
                removal = "true" if name == "deploy-2" else "false"
                where.variables["REMOVE_STAGING_AFTER_PROMOTION"] = removal
                event, workflow = "workflow_dispatch", "model-deploy.yml"
                inputs = {"model-package-arn": result.arns.get("build-2", "")}
            act = where.act(name, 1000 + number, event, workflow, inputs, payload)
            result.runs[name] = act
            if name.startswith("build"):
                result.arns[name] = harness.built_arn(act.text)
            if act.returncode != 0 or (name.startswith("build") and not result.arns[name]):
                break
        else:
            _snapshot(where.double, result)
    return result
