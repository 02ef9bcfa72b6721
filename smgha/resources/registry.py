"""The model registry as register-and-gate uses it: finding the candidate and the champion,
reading their metrics, the CreateModelPackage request of a model no pipeline registered, the
lineage recorded on a package (stored by smgha.resources.customer_metadata), and the approval
update.

Speaks to a backend only through the port (Registry, and Pipelines for an
execution's steps: smgha.backends); never imports the runner or a stage. The gate's maths
is in smgha.gates.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha import gates
from smgha.aws_values import aws_value
from smgha.backends import Objects, Pipelines, Registry, registered_model_package
from smgha.errors import InputError, StageError
from smgha.resources.customer_metadata import (
    METADATA_MAX_VALUE,
    METRIC,
    encode_metadata_text,
    read_lineage,
    utf16_units,
)

# The force reason is stored whole in the metadata: at most this long once encoded.
FORCE_REASON_MAX = 4 * METADATA_MAX_VALUE

# Messages users act on, mostly (problem, fix) of an InputError: the problem follows the
# input's name.
FORCE_WITHOUT_REASON = (
    "is required with force: true",
    "Say why the gates are overridden; it is recorded on the model package.",
)
FORCE_REASON_TOO_LONG = (
    "is {characters} characters long, {stored} once encoded for the model package's "
    "metadata; at most {most} fit",
    "Shorten it: letters, digits, spaces and _.:/+-@ take one character each, other "
    "characters 3 to 12. Link to the incident rather than pasting it.",
)
# execution-arn is the input a workflow wires (from build-pipeline's output, which is empty
# when the build registered nothing): the error names it, not model-package-arn.
NO_CANDIDATE = (
    "is empty, and so are model-package-arn and model-data-url: no candidate to gate",
    "Pass build-pipeline's execution-arn output (it is empty when the build did not start "
    "an execution), or model-package-arn, or model-data-url with image-uri and metrics.",
)
NO_GROUP = (
    "there is no model package group {group!r} in {where}",
    "Create it (the Terraform module does), or check the name and region.",
)
NOTHING_REGISTERED = (
    "execution {arn} registered no model package (its register step did not run or did not succeed)",
    "Gate a package by model-package-arn, or register one from model-data-url.",
)
NO_PACKAGE = ("there is no model package {arn}", "Check the ARN and the region.")
OTHER_GROUP = (
    "{arn} belongs to group {found!r}, not {group!r}",
    "Pass the package of this group, or the right model-package-group.",
)
REJECTED = (
    "{arn} is Rejected ({reason})",
    "A rejected version stays rejected: register a new version, or override with force and force-reason.",
)
NOT_GATED = (
    "not gated: register-and-gate was run for group {group!r}, not {found!r} where the "
    "pipeline registered this version"
)
BUILT_IN_OTHER_GROUP = (
    "is {group!r}, but the pipeline's register step registered {arn} in group {found!r}",
    "Set model-package-group: {found}, or change the register step's "
    "model_package_group_name to {group!r}, so that both name the same group{then}",
)
REBUILD = "; then build again (this version is rejected as not gated)."
UNREADABLE_EVALUATION = ("cannot read {source}: {detail}", "Check the URI.")


# ---- candidate and champion ---------------------------------------------------------------------


class GroupMismatch(InputError):
    """The build's register step put its package in another group than model-package-group.

    That package would stay PendingManualApproval for good, judged by nobody (and a later
    gate of the right group never sees it as a candidate): the stage rejects it, with the
    reason on it (reject_not_gated), before it reports this error."""

    def __init__(self, arn: str, record: dict[str, Any], group: str) -> None:
        self.arn = arn
        self.registered_group = str(record.get("ModelPackageGroupName"))
        self.pending = record.get("ModelApprovalStatus") == "PendingManualApproval"
        self.rejection = NOT_GATED.format(group=group, found=self.registered_group)
        problem, fix = BUILT_IN_OTHER_GROUP
        names = {"arn": arn, "group": group, "found": self.registered_group}
        then = REBUILD if self.pending else "."
        super().__init__(
            "model-package-group", problem.format(**names), fix.format(then=then, **names)
        )


def candidate_sources(execution_arn: str, model_package_arn: str, model_data_url: str) -> None:
    """One of the inputs that name the candidate is given, each by the rules of the field it
    names (botocore's model); InputError otherwise."""
    if not (execution_arn or model_package_arn or model_data_url):
        raise InputError("execution-arn", *NO_CANDIDATE)
    for input_name, text, shape in (
        ("execution-arn", execution_arn, "PipelineExecutionArn"),
        ("model-package-arn", model_package_arn, "ModelPackageArn"),
        ("model-data-url", model_data_url, "Url"),
    ):
        if text:
            aws_value(input_name, text, "sagemaker", shape)


def find_candidate(
    pipelines: Pipelines,
    registry: Registry,
    group: str,
    execution_arn: str,
    model_package_arn: str,
    force: bool,
    where: str,
) -> tuple[str, dict[str, Any]] | None:
    """(ARN, record) of the package to gate in `group` (which must exist, `where`: region
    and backend, for the error): model_package_arn, else the one the execution's register
    step created; None when neither is given (a package is registered instead)."""
    group_exists = registry.describe_model_package_group(group) is not None
    found = None
    # Without the group, a build that registered its package in another group is the error
    # to report (with the group to use), not a missing group to create: _existing_candidate
    # raises GroupMismatch then.
    if group_exists or (execution_arn and not model_package_arn):
        found = _existing_candidate(
            pipelines, registry, group, execution_arn, model_package_arn, force
        )
    if not group_exists:
        problem, fix = NO_GROUP
        raise InputError("model-package-group", problem.format(group=group, where=where), fix)
    return found


def _existing_candidate(
    pipelines: Pipelines,
    registry: Registry,
    group: str,
    execution_arn: str,
    model_package_arn: str,
    force: bool,
) -> tuple[str, dict[str, Any]] | None:
    """model_package_arn, else the package the execution's register step created, with its
    record; None when neither is given. InputError, naming the input that gave it, unless
    the package exists, is of `group` and is not Rejected (unless `force`); GroupMismatch
    when a build registered it in another group."""
    arn, source = model_package_arn, "model-package-arn"
    if not arn and execution_arn:
        arn = registered_model_package(pipelines.list_steps(execution_arn))
        source = "execution-arn"
        if not arn:
            problem, fix = NOTHING_REGISTERED
            raise InputError(source, problem.format(arn=execution_arn), fix)
    if not arn:
        return None
    record = registry.describe_model_package(arn)
    if record is None:
        problem, fix = NO_PACKAGE
        raise InputError(source, problem.format(arn=arn), fix)
    if record.get("ModelPackageGroupName") != group:
        if source == "execution-arn":
            raise GroupMismatch(arn, record, group)
        problem, fix = OTHER_GROUP
        found = record.get("ModelPackageGroupName")
        raise InputError(source, problem.format(arn=arn, found=found, group=group), fix)
    if record.get("ModelApprovalStatus") == "Rejected" and not force:
        problem, fix = REJECTED
        reason = record.get("ApprovalDescription", "no reason recorded")
        raise InputError(source, problem.format(arn=arn, reason=reason), fix)
    return arn, record


def register_request(
    group: str, image_uri: str, model_data_url: str, metrics: str, provenance: Mapping[str, str]
) -> dict[str, Any]:
    """CreateModelPackage for a model the pipeline did not register itself; `metrics` is
    recorded as its model-quality statistics when it is an S3 URI."""
    metrics_uri = metrics if metrics.startswith("s3://") else ""
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": "registered by smgha register-and-gate",
        "InferenceSpecification": {
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelApprovalStatus": "PendingManualApproval",
    }
    if metrics_uri:
        request["ModelMetrics"] = {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}
            }
        }
    if provenance.get("git-sha"):
        request["MetadataProperties"] = {
            "CommitId": provenance["git-sha"],
            "Repository": provenance.get("repository", ""),
            "GeneratedBy": provenance.get("run-url", ""),
        }
    return request


def statistics_uri(record: dict[str, Any]) -> str:
    """The S3 URI of a package's model-quality statistics ('' when it has none)."""
    return str(
        ((record.get("ModelMetrics") or {}).get("ModelQuality") or {})
        .get("Statistics", {})
        .get("S3Uri", "")
    )


def read_evaluation(objects: Objects, uri: str) -> Any:
    """The evaluation JSON at S3 `uri` (the metrics input, or a package's statistics)."""
    try:
        return objects.read_json(uri)
    except StageError as error:
        problem, fix = UNREADABLE_EVALUATION
        raise InputError("metrics", problem.format(source=uri, detail=error.detail), fix) from None


def recorded_metrics(record: dict[str, Any], objects: Objects) -> dict[str, float]:
    """A package's metrics: its model-quality statistics, over the metrics register-and-gate
    recorded on it (all of them for a package registered from a local metrics file, which has
    no statistics URI; the hourly cost, which no statistics hold)."""
    metrics = {}
    for name, text in read_lineage(record.get("CustomerMetadataProperties")).items():
        if name.startswith(METRIC):
            try:
                metrics[name.removeprefix(METRIC)] = float(text)
            except ValueError:
                continue  # not a number: nothing a rule can compare with
    uri = statistics_uri(record)
    if uri:  # the statistics, and what only the gate recorded (the hourly cost)
        table = gates.metric_table(objects.read_json(uri))
        extra = {k: v for k, v in metrics.items() if gates.resolve_metric(k, table) is None}
        return {**table, **extra}
    return metrics


def champion(group: str, candidate_arn: str, registry: Registry) -> dict[str, Any] | None:
    """The newest Approved package of the group other than the candidate."""
    for record in registry.list_model_packages(group, approval_status="Approved", limit=2):
        if record.get("ModelPackageArn") != candidate_arn:
            return record
    return None


@dataclass(frozen=True)
class TrainingData:
    """Where the execution's model learned from, as far as its steps tell."""

    uri: str  # the train channel of the (first) training job; '' when none is found
    # A tuning step that trained instead, whose trials' channels are not read here (that would
    # take DescribeHyperParameterTuningJob, which no role is granted); '' when none.
    tuning_step: str = ""


def training_data(pipelines: Pipelines, registry: Registry, execution_arn: str) -> TrainingData:
    """The train channel of the execution's (first) training job, from one listing of its
    steps ('' without an execution)."""
    steps = pipelines.list_steps(execution_arn) if execution_arn else []
    for step in steps:
        job_arn = (step.metadata.get("TrainingJob") or {}).get("Arn")
        job = registry.describe_training_job(job_arn) if job_arn else None
        for channel in (job or {}).get("InputDataConfig") or []:
            if channel.get("ChannelName") == "train":
                return TrainingData(str(channel["DataSource"]["S3DataSource"]["S3Uri"]))
    tuned = [step.name for step in steps if step.metadata.get("TuningJob")]
    return TrainingData("", tuned[0] if tuned else "")


# ---- lineage: what is recorded on the package (customer_metadata stores it) ---------------------


def provenance(env: Mapping[str, str], workspace: Path) -> dict[str, str]:
    """Where the candidate came from, from the run's environment: commit, repository, run."""
    lineage = {}
    # In a workflow GITHUB_SHA is the commit; from a terminal in a clone, git knows it.
    sha = env.get("GITHUB_SHA") or (
        git_commit(workspace) if env.get("GITHUB_ACTIONS") != "true" else ""
    )
    if sha:
        lineage["git-sha"] = sha
    if env.get("GITHUB_REPOSITORY"):
        lineage["repository"] = env["GITHUB_REPOSITORY"]
        if env.get("GITHUB_RUN_ID"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com")
            lineage["run-url"] = (
                f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
            )
    return lineage


def git_commit(folder: Path) -> str:
    """The full sha of HEAD of the git work tree `folder` is in; '' when it is in none, or
    git is not installed (the lineage then records no commit, as before)."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def checked_force_reason(reason: str, force: bool) -> str:
    """The force-reason input: required with force, and short enough to be stored whole."""
    if force and not reason:
        raise InputError("force-reason", *FORCE_WITHOUT_REASON)
    stored = utf16_units(encode_metadata_text(reason))
    if force and stored > FORCE_REASON_MAX:
        problem, fix = FORCE_REASON_TOO_LONG
        problem = problem.format(characters=len(reason), stored=stored, most=FORCE_REASON_MAX)
        raise InputError("force-reason", problem, fix)
    return reason


def gate_lineage(
    provenance: Mapping[str, str],
    execution_arn: str,
    training_data_uri: str,
    metrics: dict[str, float],
    decision: gates.GateDecision,
    actor: str,
    force_reason: str,
) -> dict[str, str]:
    """The lineage recorded on the package: where it came from, what it scored (the gate's
    metrics first), the verdict. Names without PREFIX; storable_lineage makes it storable."""
    lineage = dict(provenance)
    if execution_arn:
        lineage["pipeline-execution-arn"] = execution_arn
    if training_data_uri:
        lineage["training-data-uri"] = training_data_uri
    names = gates.short_names(metrics)
    gated = {result.metric for result in decision.results}
    for key in sorted(metrics, key=lambda k: k not in gated):  # stable: evaluation order
        lineage[f"{METRIC}{names[key]}"] = f"{metrics[key]:.6g}"
    lineage["gate"] = (
        "forced" if decision.forced else ("passed" if not decision.failures else "failed")
    )
    if decision.forced:
        lineage["forced-by"] = actor or "unknown"
        lineage["force-reason"] = force_reason
    return lineage


# ---- approval -----------------------------------------------------------------------------------


def record_decision(
    registry: Registry, arn: str, decision: gates.GateDecision, metadata: dict[str, str]
) -> None:
    """The gate's decision, and the lineage (storable_lineage's properties), on the package."""
    registry.update_model_package(
        arn,
        approval_status=decision.approval_status,
        approval_description=_one_line(decision.description),
        customer_metadata=metadata,
    )


def reject_not_gated(registry: Registry, mismatch: GroupMismatch) -> None:
    """Reject the package a build registered in another group, with the reason on it."""
    registry.update_model_package(
        mismatch.arn, approval_status="Rejected", approval_description=mismatch.rejection
    )


def _one_line(text: str) -> str:
    """ApprovalDescription's pattern is `.*`, which (in Java) matches no line terminator: a
    force reason written on several lines is joined with spaces (the metadata keeps it as is)."""
    return re.sub(r"\r\n|[\n\r\u0085\u2028\u2029]", " ", text)
