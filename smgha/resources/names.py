"""SageMaker's naming rules, and the names the stages make for the resources they create."""

from __future__ import annotations

import hashlib
import re

from smgha.errors import InputError, shown

# Endpoints, endpoint configs and models share this rule.
_SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def sagemaker_name(input_name: str, text: str) -> str:
    if not _SAGEMAKER_NAME.fullmatch(text):
        raise InputError(
            input_name,
            f"{shown(text)} ({len(text)} characters) breaks SageMaker's naming rule",
            "Use 1-63 letters, digits and hyphens, starting and ending with a letter or digit.",
        )
    return text


def bounded_sagemaker_name(name: str, suffix: str = "") -> str:
    """A name the stages make for a SageMaker resource (model, endpoint config, schedule,
    job definition, job): at most 63 letters, digits and hyphens; a longer one is cut and
    given a hash of the whole, so two long names stay apart."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", name)
    if len(cleaned) + len(suffix) > 63:
        tail = hashlib.sha256(cleaned.encode()).hexdigest()[:6]
        cleaned = cleaned[: 63 - len(suffix) - 7].rstrip("-") + "-" + tail
    return cleaned + suffix


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
            f"{shown(text)} has upper-case letters: SageMaker lower-cases endpoint names in ARNs, "
            "CloudWatch keeps the case of the alarms named after the endpoint, and IAM matches "
            "ARNs case-sensitively, so no one IAM prefix can cover both",
            f"Use {text.lower()!r}.",
        )
    return name
