"""What every stage shares: the declaration of its inputs and the edge that runs it.

A stage module declares `INPUTS` (the same names, defaults and descriptions as its
action.yml; a test keeps the two equal and the CLI builds its flags from them), loads a
frozen `Inputs` from a Runner in one function, and has a pure `run()`. `run_stage` is the
edge: it turns InputError and StageError into one `::error` annotation and exit code 1.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from smgha.errors import InputError, StageError
from smgha.runner import Runner


@dataclass(frozen=True)
class InputSpec:
    name: str  # kebab-case, as in action.yml
    description: str
    default: str = ""
    required: bool = False
    is_bool: bool = False


# The same `region` input on every stage that calls AWS (read by backend_and_region).
REGION_INPUT = InputSpec(
    "region",
    "AWS region. Defaults to AWS_REGION / AWS_DEFAULT_REGION, then us-east-1 for the local backend.",
)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    description: str


def run_stage(stage: str, body: Callable[[Runner], None], runner: Runner) -> int:
    """Run `body`, reporting any failure as one annotation; return the exit code."""
    try:
        body(runner)
    except InputError as error:
        runner.error(error.message, title=f"{stage}: invalid input")
        return 1
    except StageError as error:
        runner.error(error.detail, title=f"{stage}: {error.title}")
        return 1
    except Exception as error:  # a bug of ours: say so, with the trace in the log
        runner.info(traceback.format_exc())
        runner.error(
            f"{type(error).__name__}: {error}. This is a bug in smgha; please report it with the log above.",
            title=f"{stage}: unexpected error",
        )
        return 1
    return 0


def positive_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise InputError(name, f"must be a positive number, got {text!r}", f"E.g. {name}: 60")
    return value


def choice(name: str, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise InputError(
            name, f"{text!r} is not one of {', '.join(allowed)}", f"Set {name} to one of them."
        )
    return text


def backend_and_region(runner: Runner) -> tuple[str, str]:
    """The `backend` and `region` inputs. The region falls back to AWS_REGION, then
    AWS_DEFAULT_REGION (oidc-auth exports it); the sagemaker backend needs one, the local
    backend uses us-east-1."""
    name = choice("backend", runner.get_input("backend") or "sagemaker", ("sagemaker", "local"))
    env = runner.env
    region = (
        runner.get_input("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")
    )
    if name == "sagemaker" and not region:
        raise InputError(
            "region",
            "is required with backend: sagemaker (AWS_REGION is not set either)",
            "Set region, or run oidc-auth first.",
        )
    return name, region or "us-east-1"


# S3 general purpose bucket names: 3-63 lower-case letters, digits, dots and hyphens,
# beginning and ending with a letter or digit (S3 User Guide, "General purpose bucket naming
# rules": https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"

# The bucket of the local backend when none is given (it is a folder of its state).
LOCAL_BUCKET = "smgha-local"

# On the sagemaker backend the artifact bucket is always an input, never a default. The SDK's
# default, sagemaker-<region>-<account>, is created by the SDK on first use (ListBuckets,
# HeadBucket, then CreateBucket: sagemaker.core.helper.session_helper.Session.default_bucket,
# SageMaker Python SDK 3.27), but a definition is built with those calls answered locally
# (smgha/uploads.py), so it would never exist; and creating it here would need
# s3:CreateBucket, s3:ListAllMyBuckets and s3:ListBucket on a bucket the Terraform module
# does not manage, without its encryption, versioning, public access block, TLS-only policy
# and data capture expiry. (Checking it with HeadBucket instead would need s3:ListBucket for
# the build role, S3 API reference API_HeadBucket.html, and still name a bucket no role may
# write.) The Terraform roles allow objects in the module's artifact bucket only
# (infra/terraform/iam_policies.tf), so the fix of a missing bucket input names that bucket.
ARTIFACT_BUCKET_HINT = (
    "the artifact bucket the Terraform module created (terraform output -raw "
    "artifact_bucket_name; repository variable MODEL_ARTIFACT_BUCKET)"
)


# Endpoints, endpoint configs and models share this rule.
_SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def sagemaker_name(input_name: str, text: str) -> str:
    if not _SAGEMAKER_NAME.fullmatch(text):
        raise InputError(
            input_name,
            f"{text!r} breaks SageMaker's naming rule",
            "Use 1-63 letters, digits and hyphens, starting and ending with a letter or digit.",
        )
    return text


def alarmed_endpoint_name(input_name: str, text: str) -> str:
    """The name of an endpoint whose alarms a stage names after it (<endpoint>-...): a
    SageMaker name, in lower case.

    One IAM prefix must cover both the endpoint's ARN and its alarms' ARNs, and it cannot
    when the name has upper-case letters. SageMaker treats endpoint names case-insensitively
    ("The name is case-insensitive in CreateEndpoint", botocore CreateEndpoint EndpointName)
    and its ARNs carry them lower-cased (an InvokeEndpoint of "LaBSE" is authorized on
    endpoint/...-labse: philschmid/cdk-samples#2; prometheus-community/
    yet-another-cloudwatch-exporter#1178), while a CloudWatch alarm ARN keeps the alarm
    name as given (arn:...:alarm:${AlarmName}, Service Authorization Reference for
    CloudWatch), and IAM compares resource ARNs case-sensitively (IAM User Guide,
    reference_policies_elements_resource.html). The Terraform roles scope both by the
    lower-cased endpoint prefix (infra/terraform/main.tf), so "Churn-Production" would get
    its endpoint but AccessDenied on PutMetricAlarm, after the deploy started."""
    name = sagemaker_name(input_name, text)
    if name != name.lower():
        raise InputError(
            input_name,
            f"{text!r} has upper-case letters: SageMaker lower-cases endpoint names in ARNs, "
            "CloudWatch keeps the case of the alarms named after the endpoint, and IAM matches "
            "ARNs case-sensitively, so no one IAM prefix can cover both",
            f"Use {text.lower()!r}.",
        )
    return name


def whole_number(name: str, text: str, low: int, high: int, hint: str = "") -> int:
    """An integer input within [low, high]; InputError otherwise."""
    try:
        value = int(text.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InputError(
            name,
            f"must be a whole number from {low} to {high}, got {text!r}",
            hint or f"Set {name} within that range.",
        )
    return value
