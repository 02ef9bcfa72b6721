"""Shadow variants: deploy-endpoint's shadow inputs, what SageMaker allows beside them, and the
ShadowProductionVariants entry of an endpoint config. Every rule is refused before anything is
created, with one error naming both inputs.

Sources (SageMaker Developer Guide and botocore's `sagemaker` service model):
- CreateEndpointConfig.ShadowProductionVariants (botocore): "one for each model that you want
  to host at this endpoint in shadow mode with production traffic replicated from the model
  specified on ProductionVariants. If you use this field, you can only specify one variant
  for ProductionVariants and one variant for ShadowProductionVariants." "Create a shadow
  test" (https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html): "SageMaker
  AI supports a maximum of one shadow variant per endpoint. For an endpoint with a shadow
  variant, there can be a maximum of one production variant."
- The sampling percentage: the guide's shadow test replicates "a percentage of the incoming
  requests" (ShadowModelVariantConfig.SamplingPercentage, an integer up to 100). An endpoint
  config says it only through the variants' InitialVariantWeight ("The traffic to a
  production variant is determined by the ratio of the VariantWeight to the sum of all
  VariantWeight values", ProductionVariant.InitialVariantWeight). No page found states how
  SageMaker reads a shadow's weight; the reading here (not confirmed against AWS): the
  production variant keeps weight 1.0 and the shadow gets percent / 100, so the shadow's
  weight relative to production's is the share of requests copied to it.
- Exclusions, shadow-tests-create.html "Prerequisites": an endpoint using "Serverless
  Inference", "Asynchronous Inference", "Marketplace containers", "Multi-container endpoints"
  or "Endpoints with Amazon Elastic Inference" cannot have a shadow test ("your request to set
  up a shadow test results in validation errors"): a shadow beside serverless-memory-mb is
  refused.
- Data capture is optional on SageMaker ("You can also optionally turn on Data Capture to log
  requests and responses of your production and shadow variants"), but the shadow's answers
  reach nobody else: without capture there is nothing for shadow-test to compare, so a shadow
  needs data-capture-percent and data-capture-s3-uri here (the stricter reading).
- Blue/green with a shadow: no page says how a canary or linear step sizes a fleet that has a
  shadow variant, nor whether the shadow's fleet shifts with it; the stricter reading is an
  all-at-once update (its alarms and waits still apply), as for serverless.
- The shadow's package: an exact version of the same model package group as
  model-package-arn (a shadow test compares two versions of one model), Approved unless
  allow-unapproved, as the production package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smgha.errors import InputError, shown
from smgha.inputs import InputSpec, InputValues, model_package_version_arn, whole_number
from smgha.resources.names import bounded_sagemaker_name

SHADOW_TESTS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html"
# The shadow variant's name in every endpoint config (one shadow at most, so one name).
SHADOW_VARIANT = "Shadow"
SAMPLING_PERCENT = (1, 100)  # ShadowModelVariantConfig.SamplingPercentage: at most 100

INPUTS = (
    InputSpec(
        "shadow-model-package-arn",
        "Host this exact model package version (same group as model-package-arn) as a shadow variant: it gets a copy of production's requests and its answers are only captured (needs data-capture-percent and data-capture-s3-uri). Empty: no shadow.",
    ),
    InputSpec(
        "shadow-sampling-percent",
        "Shadow: the share of production's requests copied to the shadow variant (1-100). Empty: 100.",
    ),
)

# Inputs that cannot go with a shadow, each with why (the user sees it).
NOT_WITH_SHADOW = {
    "serverless-memory-mb": f"SageMaker refuses a shadow variant on a serverless endpoint (shadow test prerequisites, {SHADOW_TESTS_PAGE})",
    "async-output-s3-uri": f"SageMaker refuses a shadow variant on an asynchronous endpoint (shadow test prerequisites, {SHADOW_TESTS_PAGE})",
}


@dataclass(frozen=True)
class Settings:
    """The shadow variant asked: its package version and the share of requests it copies."""

    package_arn: str
    sampling_percent: int

    @property
    def weight(self) -> float:
        """Its InitialVariantWeight beside a production variant of weight 1.0."""
        return self.sampling_percent / 100


def checked_inputs(
    values: InputValues, package_arn: str, strategy: str, variant: str
) -> Settings | None:
    """The shadow settings (None: no shadow), after every rule that concerns the inputs."""
    arn, percent = values["shadow-model-package-arn"], values["shadow-sampling-percent"]
    if not arn:
        if percent:
            raise InputError(
                "shadow-sampling-percent",
                "applies only with a shadow, and shadow-model-package-arn is empty",
                "Set shadow-model-package-arn, or leave shadow-sampling-percent empty.",
            )
        return None
    arn = model_package_version_arn("shadow-model-package-arn", arn)
    if group_of(arn) != group_of(package_arn):
        raise InputError(
            "shadow-model-package-arn",
            f"{arn} is in model package group {group_of(arn)!r}, model-package-arn {package_arn} in {group_of(package_arn)!r}: a shadow test compares two versions of one model",
            "Pass a version of the same model package group as model-package-arn.",
        )
    if arn == package_arn:
        raise InputError(
            "shadow-model-package-arn",
            f"is model-package-arn itself ({arn}): a shadow compares another version with it",
            "Pass the candidate version as shadow-model-package-arn.",
        )
    settings = Settings(
        arn,
        whole_number("shadow-sampling-percent", percent or "100", *SAMPLING_PERCENT),
    )
    for name, why in NOT_WITH_SHADOW.items():
        if values[name]:
            raise InputError(
                name,
                f"{shown(values[name])} does not go with shadow-model-package-arn: {why}",
                f"Leave {name} empty, or leave shadow-model-package-arn empty.",
            )
    missing = [n for n in ("data-capture-percent", "data-capture-s3-uri") if not values[n]]
    if missing:
        raise InputError(
            missing[0],
            "is required with shadow-model-package-arn: the shadow's answers are only in data capture, and shadow-test compares them there",
            "Set data-capture-percent (100 captures every pair) and data-capture-s3-uri, or leave shadow-model-package-arn empty.",
        )
    if strategy != "all-at-once":
        raise InputError(
            "strategy",
            f"{strategy} does not go with shadow-model-package-arn: no SageMaker page says how a {strategy} step sizes a fleet with a shadow variant",
            "Set strategy: all-at-once with a shadow (its alarms and waits still apply).",
        )
    if variant == SHADOW_VARIANT:
        raise InputError(
            "variant-name",
            f"{variant!r} is the name of the shadow variant; the two variants need two names",
            "Set another variant-name, or leave shadow-model-package-arn empty.",
        )
    return settings


def group_of(package_arn: str) -> str:
    """The model package group of a versioned package ARN (…:model-package/<group>/<n>)."""
    return package_arn.rsplit("/", 2)[-2]


def model_name(package_arn: str) -> str:
    """The SageMaker model of a package version: <group>-v<version>, as deployment.plan
    names the production variant's model."""
    group, version = package_arn.rsplit("/", 2)[-2:]
    return bounded_sagemaker_name(f"{group}-v{int(version)}")


def variant_request(settings: Settings, instance_type: str, instance_count: int) -> dict[str, Any]:
    """The ShadowProductionVariants entry: the production variant's instance type and count
    (a shadow that is as big as production gives comparable latencies)."""
    return {
        "VariantName": SHADOW_VARIANT,
        "ModelName": model_name(settings.package_arn),
        "InstanceType": instance_type,
        "InitialInstanceCount": instance_count,
        "InitialVariantWeight": settings.weight,
    }


def shadow_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The shadow variant of an endpoint config (request or Describe record), or None."""
    return next(iter((config or {}).get("ShadowProductionVariants") or []), None)


def text(config: dict[str, Any] | None) -> str:
    """The shadow of a config for a summary: "Shadow: churn-v4, 50 % of requests", or "–"."""
    variant = shadow_of(config)
    if variant is None:
        return "–"
    share = float(variant.get("InitialVariantWeight", 1.0)) * 100
    return f"{variant['VariantName']}: {variant['ModelName']}, {share:g} % of requests"
