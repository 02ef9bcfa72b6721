"""The model package a stage serves or transforms with: it exists, it is Approved (unless the
workflow allows otherwise), its container can run (script mode names a script) and the backend
can serve it. deploy-endpoint and batch-transform ask the same questions before anything is
created, so they ask them here; the errors name the model-package-arn input."""

from __future__ import annotations

from typing import Any, Protocol

from smgha import serving_container
from smgha.errors import InputError
from smgha.resources.names import bounded_sagemaker_name

# Messages users act on: (problem, fix), the problem's {fields} filled in where raised.
NO_SUCH_PACKAGE = ("there is no model package {arn}", "Check the ARN and the region.")
NOT_APPROVED = (
    "{arn} is {status}, not Approved",
    "Approve it (register-and-gate), or set allow-unapproved: true.",
)


class PackageReader(Protocol):
    def describe_model_package(self, arn: str) -> dict[str, Any] | None: ...


class ServingCheck(Protocol):
    def serving_refusal(self, package: dict[str, Any]) -> tuple[str, str] | None: ...


def servable_package(
    arn: str,
    allow_unapproved: bool,
    registry: PackageReader,
    hosting: ServingCheck,
    input_name: str = "model-package-arn",
) -> dict[str, Any]:
    """DescribeModelPackage's record of `arn`, once it may be served; otherwise an InputError
    naming `input_name`, the input that gave the ARN."""
    package = registry.describe_model_package(arn)
    if package is None:
        problem, fix = NO_SUCH_PACKAGE
        raise InputError(input_name, problem.format(arn=arn), fix)
    status = package.get("ModelApprovalStatus")
    if status != "Approved" and not allow_unapproved:
        problem, fix = NOT_APPROVED
        raise InputError(input_name, problem.format(arn=arn, status=status), fix)
    serving_container.refuse_without_script(input_name, arn, package)
    refused = hosting.serving_refusal(package)
    if refused:
        problem, fix = refused
        raise InputError(input_name, f"{arn}: {problem}", fix)
    return package


def model_name(package: dict[str, Any]) -> str:
    """The SageMaker model of a package version (CreateModel of it, hosting.model_request):
    one per version, shared by its endpoints and its transform jobs."""
    group, version = package["ModelPackageGroupName"], int(package["ModelPackageVersion"])
    return bounded_sagemaker_name(f"{group}-v{version}")
