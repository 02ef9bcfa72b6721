"""Where the resources of the IAM checks are, and how AWS names them: the ARNs a request is
authorized against (tests/iam_requests.py for the stages' calls, tests/iam_execution.py for
what SageMaker does with the execution role), built from request parameters; the names
SageMaker Pipelines gives the jobs it starts; and the condition keys a request carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.iam_simulator import ContextValue

# A scalable target's id, assigned on registration: a placeholder that stands for any.
SCALABLE_TARGET_ID = "0123456789abcdef0123456789abcdef"
# Names AWS assigns when a pipeline runs: placeholders that stand for any such name.
EXECUTION_ID = "0a1b2c3d4e5f"
# SageMaker Pipelines' random token in the name of a job it starts (the guide's
# "entityToken", build-and-manage-access.md), and the suffix of a tuning job's trial.
ENTITY_TOKEN = "a1B2c3D4e5"
TRIAL_SUFFIX = "0123abcd"


@dataclass(frozen=True)
class Deployment:
    """Where the resources are: the ARNs' partition, region and account (the account of the
    role whose calls are derived), and the account that owns the artifact bucket (the same
    one unless the deploy accounts are separate from the tooling account)."""

    account: str
    region: str
    partition: str = "aws"
    bucket_owner: str = ""

    def owner(self, resource: str) -> str:
        """The account a resource belongs to, which IAM compares with the principal's to apply
        the cross-account logic: an ARN's own account field; an S3 ARN has none (bucket names
        are global), its bucket is the artifact bucket; "*" is the caller's own account."""
        fields = resource.split(":", 5)
        if len(fields) == 6 and fields[2] == "s3":
            return self.bucket_owner or self.account
        if len(fields) == 6 and fields[4]:
            return fields[4]
        return self.account

    def sagemaker(self, kind: str, name: str) -> str:
        """A SageMaker ARN, or `name` when it already is one. SageMaker puts resource names
        in ARNs in lower case (an endpoint Churn-Staging is .../endpoint/churn-staging)."""
        if name.startswith("arn:"):
            return name
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def model_package(self, name: str) -> str:
        """A versioned package's ARN (model-package/<group>/<version>) from its ARN."""
        assert name.startswith("arn:"), f"a model package by name, not ARN: {name}"
        return name

    def alarm(self, name: str) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name}"

    def role(self, path: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{path}"

    def scalable_target(self) -> str:
        return (
            f"arn:{self.partition}:application-autoscaling:{self.region}:{self.account}:"
            f"scalable-target/{SCALABLE_TARGET_ID}"
        )

    def log_group(self, name: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}"

    def log_stream(self, group: str, stream: str) -> str:
        return f"{self.log_group(group)}:log-stream:{stream}"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + ("" if key is None else f"/{key}")

    def s3_uri(self, uri: str, under: str | None = None) -> str:
        """The object ARN of an s3:// URI, or of `under` below it (a prefix's objects)."""
        bucket, key = split_s3_uri(uri)
        if under is not None:
            key = f"{key.rstrip('/')}/{under}" if key else under
        return self.s3(bucket, key)

    def ecr_repository(self, image: str) -> str:
        """The repository ARN of an image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."""
        registry, _, rest = image.partition("/")
        account, _, host = registry.partition(".dkr.ecr.")
        region = host.split(".", 1)[0]
        repository = rest.split("@", 1)[0].split(":", 1)[0]
        return f"arn:{self.partition}:ecr:{region}:{account}:repository/{repository}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), f"not an s3:// URI: {uri}"
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def tag_context(
    tags: Iterable[Mapping[str, str]] | Mapping[str, str] | None,
) -> dict[str, ContextValue]:
    """aws:RequestTag/<key> and aws:TagKeys of the tags a request sends (a list of Key/Value,
    or Application Auto Scaling's map)."""
    if not tags:
        return {}
    pairs = dict(tags) if isinstance(tags, Mapping) else {tag["Key"]: tag["Value"] for tag in tags}
    context: dict[str, ContextValue] = {f"aws:RequestTag/{k}": v for k, v in pairs.items()}
    context["aws:TagKeys"] = sorted(pairs)
    return context


def model_package_context(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """UpdateModelPackage's and CreateModelPackage's condition keys (Service Authorization
    Reference: sagemaker:ModelApprovalStatus, sagemaker:CustomerMetadataProperties/${Key})."""
    context: dict[str, ContextValue] = {}
    if params.get("ModelApprovalStatus"):
        context["sagemaker:ModelApprovalStatus"] = params["ModelApprovalStatus"]
    for key in params.get("CustomerMetadataProperties") or {}:
        context[f"sagemaker:CustomerMetadataProperties/{key}"] = params[
            "CustomerMetadataProperties"
        ][key]
    if params.get("CustomerMetadataPropertiesToRemove"):
        context["sagemaker:CustomerMetadataPropertiesToRemove"] = list(
            params["CustomerMetadataPropertiesToRemove"]
        )
    return context


def rollback_alarms(params: Mapping[str, Any]) -> list[str]:
    rollback = (params.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}
    return [alarm["AlarmName"] for alarm in rollback.get("Alarms") or []]


def pipeline_tags(execution_arn: str, step_name: str) -> dict[str, ContextValue]:
    """The tags SageMaker Pipelines puts on the jobs it starts, as condition keys: users report
    sagemaker:pipeline-execution-arn and sagemaker:pipeline-step-name "assigned automatically"
    on a pipeline's processing jobs (github.com/getindata/kedro-sagemaker issue 20). Whether
    Pipelines' tagging is authorized as sagemaker:AddTags against the pipeline's role is not
    documented: the stricter reading is that it is, as for any create call with tags."""
    return tag_context(
        {
            "sagemaker:pipeline-execution-arn": execution_arn,
            "sagemaker:pipeline-step-name": step_name,
        }
    )


def pipeline_tuning_job_name(execution_id: str, step_name: str) -> str:
    """The name SageMaker Pipelines gives a TuningStep's job. Not the documented
    pipelines-<execution id>-<step name>-<token>-<retries> of its other jobs (guide,
    build-and-manage-access.md, "Customize access management for Pipelines jobs"), which cannot
    fit: a tuning job's name has at most 32 characters (API reference,
    CreateHyperParameterTuningJob: HyperParameterTuningJobName), and the same guide section
    allows a TuningStep job prefix of 6 characters only. Pipeline tuning jobs seen in public
    repositories are <execution id>-<first 8 characters of the step name>-<10-character
    token>, 32 characters: p5wc6y4i34jq-TuneMode-VCGaM6Q1ad (step TuneModel), and a trial
    bqbpzw5k3d15-hptuning-U0H0Wl6oKU-001-c42f316a. AWS does not document this shape; what is
    sure is that the name does not start with "pipelines-", so a policy cannot scope tuning
    jobs by that prefix."""
    return f"{execution_id}-{step_name[:8]}-{ENTITY_TOKEN}"


def trial_names(job: str, request: Mapping[str, Any], why: str) -> list[str]:
    """A tuning job's trials, <tuning job>-<NNN>-<suffix> (API reference,
    CreateHyperParameterTuningJob: the tuning job's name "is the prefix for the names of all
    training jobs that this tuning job launches"), up to MaxNumberOfTrainingJobs."""
    limits = request["HyperParameterTuningJobConfig"].get("ResourceLimits") or {}
    count = int(limits.get("MaxNumberOfTrainingJobs") or 0)
    assert count > 0, f"{why}: no ResourceLimits.MaxNumberOfTrainingJobs to bound its trials"
    return [f"{job}-{number:03d}-{TRIAL_SUFFIX}" for number in range(1, count + 1)]


def model_artifact(request: Mapping[str, Any], job: str) -> str:
    """Where SageMaker writes a training job's model (DescribeTrainingJob
    ModelArtifacts.S3ModelArtifacts), which the SDK's get_top_model_s3_uri also assumes."""
    return f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/model.tar.gz"
