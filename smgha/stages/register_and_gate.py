"""register-and-gate: find (or register) the candidate model, record its lineage, gate it
against absolute thresholds and the champion, and set its approval status.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  GatePlan   (reads only)
                                                        |
                              apply(plan, backend)     (the one place that writes)
    main(): the edge: outputs, annotations, job summary, exit code

Everything that can be wrong with the inputs is found by plan(), before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smgha import gates
from smgha.aws_values import aws_value
from smgha.backends import Backend, backend, registered_model_package
from smgha.errors import InputError, StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    backend_and_region,
    choice,
    local_state_folder,
    one_line,
    s3_uri,
    workspace_file,
)
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage

STAGE = "register-and-gate"

INPUTS = (
    InputSpec(
        "backend", "Where the registry is: sagemaker (AWS) or local (this machine).", "sagemaker"
    ),
    REGION_INPUT,
    InputSpec(
        "model-package-group",
        "Name of the model package group the candidate belongs to.",
        required=True,
    ),
    InputSpec(
        "execution-arn",
        "The build's pipeline execution: the candidate is the package its register step created (whatever the step is called).",
    ),
    InputSpec(
        "model-package-arn", "The candidate model package, when not found from execution-arn."
    ),
    InputSpec(
        "model-data-url",
        "Register a new package from this model artifact (model.tar.gz S3 URI) when the pipeline has no register step; needs image-uri and metrics.",
    ),
    InputSpec("image-uri", "Inference image of a package registered from model-data-url."),
    InputSpec(
        "metrics",
        "The evaluation JSON (a workspace path or an S3 URI). Defaults to the package's model-quality statistics.",
    ),
    InputSpec(
        "rules",
        "Gate rules, one per line: '<metric> <op> <number>' or '<metric> <op> champion [+|- <number>[%]]', e.g. 'accuracy >= 0.8' and 'auc >= champion - 0.01'. The champion is the newest Approved package of the group.",
    ),
    InputSpec(
        "approval",
        "auto: a candidate that passes is Approved. manual: it is left PendingManualApproval for a person to approve.",
        "auto",
    ),
    InputSpec(
        "force",
        "Approve even if gates fail; records who forced it and why on the package.",
        "false",
        is_bool=True,
    ),
    InputSpec("force-reason", "Why the gates are overridden (required with force)."),
    InputSpec(
        "fail-on-reject", "Fail the step when the candidate is rejected.", "true", is_bool=True
    ),
    InputSpec(
        "training-data-uri",
        "Training data URI recorded as lineage. Defaults to the train channel of the execution's training job.",
    ),
)

OUTPUTS = (
    OutputSpec("model-package-arn", "ARN of the candidate model package."),
    OutputSpec("model-package-version", "Its version number in the group."),
    OutputSpec("decision", "approved, pending (gates passed, manual approval) or rejected."),
    OutputSpec(
        "champion-arn", "ARN of the champion it was compared with ('' when there was none)."
    ),
    OutputSpec(
        "rules",
        "JSON list of every rule with its observed value, threshold, champion value and result.",
    ),
)

# Customer metadata keys are namespaced so ours never collide with a team's own.
PREFIX = "smgha:"
APPROVAL_MODES = ("auto", "manual")

# SageMaker's rule for CustomerMetadataProperties, from botocore's sagemaker service model
# (botocore 1.44.8; shapes CustomerMetadataMap, CustomerMetadataKey, CustomerMetadataValue):
#     key and value pattern  ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)
#     key length 1-128, value length 1-256, at most 50 entries in the map.
# botocore and moto check none of it; SageMaker answers ValidationException. The `regex`
# package that reads \p{...} is no dependency of smgha, so a character is allowed when its
# Unicode general category is a letter (L*), a separator (Z*) or a number (N*), which is
# what \p{L}, \p{Z} and \p{N} test, or when it is one of METADATA_SYMBOLS. Lengths are
# counted in UTF-16 code units (Java's String.length(); never fewer than characters).
METADATA_SYMBOLS = frozenset("_.:/=+-@")
METADATA_MAX_KEY = 128
METADATA_MAX_VALUE = 256
METADATA_MAX_ENTRIES = 50
# How the lineage fits that rule (storable_lineage writes it, read_lineage reads it):
# - A character outside the allowed set, and the escape character `=` itself, is written as
#   `=XX` per UTF-8 byte (upper-case hex), as quoted-printable does: "hotfix, see INC-12" is
#   stored as "hotfix=2C see INC-12", "dependabot[bot]" as "dependabot=5Bbot=5D". Keys too
#   ("smgha:metric:f1 =28macro=29"). Not percent-encoding (`%` is not allowed) and not base32
#   under a marked key: the text stays readable in the console, and a name always has the
#   same key whatever its value, so a re-run overwrites it.
# - A value longer than 256 once encoded is split: its key holds "==<n>==" and the first
#   part, `<key>==2` ... `<key>==<n>` the others. Encoded text never holds "==" (every `=`
#   is followed by two hex digits), so neither can be taken for data, and parts a longer
#   earlier value left behind are ignored.
# - UpdateModelPackage never removes a key, so one an earlier run on the package wrote and
#   this one does not (`forced-by` after a forced run, a metric no longer evaluated) is
#   rewritten as "==0==removed" (no parts), which read_lineage skips: the lineage read back
#   is the last run's, and the package holds no more keys than before.
# - Metrics, the gate's first: the first METADATA_METRIC_KEYS get a key each
#   (`smgha:metric:<name>`); the others, and any whose key would be too long, are packed as
#   `name:value name:value ...` into `smgha:more-metrics` (with ` ` and `:` escaped too,
#   and split like any long value). If the package's 50 entries (its own keys count) still
#   do not suffice, more are packed, then the last metrics (never the gate's) are left out,
#   counted in `smgha:metrics-left-out`, with a warning.
METADATA_METRIC_KEYS = 20
METRIC = "metric:"
MORE_METRICS = "more-metrics"
METRICS_LEFT_OUT = "metrics-left-out"
_PART = "=="
_SPLIT_HEADER = re.compile(r"==(\d+)==")
_REMOVED = "==0==removed"
_ESCAPES = re.compile(r"(?:=[0-9A-F]{2})+")
# The force reason is stored whole in the metadata: at most this long once encoded.
FORCE_REASON_MAX = 4 * METADATA_MAX_VALUE


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    group: str
    execution_arn: str
    model_package_arn: str
    model_data_url: str
    image_uri: str
    metrics: str
    rules: tuple[gates.Rule, ...]
    manual_approval: bool
    force: bool
    force_reason: str
    fail_on_reject: bool
    training_data_uri: str
    workspace: Path
    actor: str = ""
    provenance: dict[str, str] = field(default_factory=dict)


@dataclass
class GatePlan:
    """What apply() will do, and everything the report shows."""

    candidate_arn: str  # '' until a package registered from model-data-url exists
    candidate: dict[str, Any]  # its record (or the CreateModelPackage request)
    register_request: dict[str, Any] | None
    candidate_metrics: dict[str, float]
    champion: dict[str, Any] | None
    champion_metrics: dict[str, float] | None
    decision: gates.GateDecision
    lineage: dict[str, str]  # what is recorded, by name without PREFIX ('git-sha', ...)
    metadata: dict[str, str] = field(default_factory=dict)  # lineage as SageMaker stores it
    left_out: tuple[str, ...] = ()  # metrics that did not fit on the package (warned about)


def load_inputs(runner: Runner) -> Inputs:
    env = runner.env
    name, region = backend_and_region(runner)
    force = runner.get_bool_input("force", default=False)
    force_reason = runner.get_input("force-reason")
    if force and not force_reason:
        raise InputError(
            "force-reason",
            "is required with force: true",
            "Say why the gates are overridden; it is recorded on the model package.",
        )
    stored_length = _units(encode_metadata_text(force_reason))
    if force and stored_length > FORCE_REASON_MAX:
        raise InputError(
            "force-reason",
            f"is {len(force_reason)} characters long, {stored_length} once encoded for the "
            f"model package's metadata; at most {FORCE_REASON_MAX} fit",
            "Shorten it: letters, digits, spaces and _.:/+-@ take one character each, other "
            "characters 3 to 12. Link to the incident rather than pasting it.",
        )
    sources = [
        k for k in ("execution-arn", "model-package-arn", "model-data-url") if runner.get_input(k)
    ]
    if not sources:
        # execution-arn is the input a workflow wires (from build-pipeline's output, which is
        # empty when the build registered nothing): name it, not model-package-arn.
        raise InputError(
            "execution-arn",
            "is empty, and so are model-package-arn and model-data-url: no candidate to gate",
            "Pass build-pipeline's execution-arn output (it is empty when the build did not "
            "start an execution), or model-package-arn, or model-data-url with image-uri and "
            "metrics.",
        )
    # The candidate's identifiers, by the rules of the fields they name (botocore's model).
    for input_name, shape in (
        ("execution-arn", "PipelineExecutionArn"),
        ("model-package-arn", "ModelPackageArn"),
        ("model-data-url", "Url"),
    ):
        if runner.get_input(input_name):
            aws_value(input_name, runner.get_input(input_name), "sagemaker", shape)
    one_line("training-data-uri", runner.get_input("training-data-uri"))
    if runner.get_input("model-data-url") and not (
        runner.get_input("image-uri") and runner.get_input("metrics")
    ):
        missing = "image-uri" if not runner.get_input("image-uri") else "metrics"
        raise InputError(
            missing, "is required to register a package from model-data-url", f"Set {missing}."
        )
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    metrics = runner.get_input("metrics")
    if metrics.startswith("s3://"):
        s3_uri("metrics", metrics, "s3://my-bucket/evaluation/evaluation.json")
    elif metrics:
        workspace_file("metrics", metrics, workspace, local_state_folder(name))
    return Inputs(
        backend=name,
        region=region,
        group=aws_value(
            "model-package-group",
            runner.get_input("model-package-group", required=True),
            "sagemaker",
            "ArnOrName",
        ),
        execution_arn=runner.get_input("execution-arn"),
        model_package_arn=runner.get_input("model-package-arn"),
        model_data_url=runner.get_input("model-data-url"),
        image_uri=runner.get_input("image-uri")
        and aws_value(
            "image-uri",
            one_line("image-uri", runner.get_input("image-uri")),
            "sagemaker",
            "ContainerImage",
        ),
        metrics=metrics,
        rules=tuple(gates.parse_rules(runner.get_multiline_input("rules"))),
        manual_approval=choice("approval", runner.get_input("approval") or "auto", APPROVAL_MODES)
        == "manual",
        force=force,
        force_reason=force_reason,
        fail_on_reject=runner.get_bool_input("fail-on-reject", default=True),
        training_data_uri=runner.get_input("training-data-uri"),
        workspace=workspace,
        actor=env.get("GITHUB_ACTOR", "") or env.get("USER", ""),
        provenance=_provenance(env, workspace),
    )


def _provenance(env: dict[str, str], workspace: Path) -> dict[str, str]:
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


# ---- plan: read everything, check everything ---------------------------------------------------


def plan(inputs: Inputs, registry: Backend) -> GatePlan:
    if registry.describe_model_package_group(inputs.group) is None:
        if inputs.execution_arn and not inputs.model_package_arn:
            # When the build registered its package in another group, that mismatch is the
            # error to report (with the group to use), not a missing group to create:
            # _candidate raises GroupMismatch then.
            _candidate(inputs, registry)
        raise InputError(
            "model-package-group",
            f"there is no model package group {inputs.group!r} in {inputs.region} ({inputs.backend})",
            "Create it (the Terraform module does), or check the name and region.",
        )
    candidate_arn, candidate, request = _candidate(inputs, registry)
    evaluation = _evaluation(inputs, registry, candidate)
    candidate_metrics = gates.metric_table(evaluation)
    if not candidate_metrics:
        raise InputError(
            "metrics",
            "the evaluation JSON holds no numeric metric",
            "Point metrics at the evaluation report (e.g. evaluation.json).",
        )
    rules = list(inputs.rules)
    gates.check_metrics_exist(rules, candidate_metrics)

    champion = _champion(inputs.group, candidate_arn, registry)
    champion_metrics = _recorded_metrics(champion, registry) if champion is not None else None
    decision = gates.decide(
        gates.evaluate(rules, candidate_metrics, champion_metrics),
        manual_approval=inputs.manual_approval,
        force=inputs.force,
        forced_by=inputs.actor,
        reason=inputs.force_reason,
    )
    lineage = _lineage(inputs, registry, candidate_metrics, decision)
    # Checked now, before anything is written: the keys already on the package count too.
    names = gates.short_names(candidate_metrics)
    stored = storable_lineage(
        lineage,
        existing=candidate.get("CustomerMetadataProperties") if request is None else None,
        required={f"{METRIC}{names[r.metric]}" for r in decision.results},
    )
    return GatePlan(
        candidate_arn=candidate_arn,
        candidate=candidate,
        register_request=request,
        candidate_metrics=candidate_metrics,
        champion=champion,
        champion_metrics=champion_metrics,
        decision=decision,
        lineage=lineage,
        metadata=stored.properties,
        left_out=stored.left_out,
    )


def _candidate(
    inputs: Inputs, registry: Backend
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """(ARN, record, None) of an existing candidate, or ('', request, request) of a new one."""
    arn, source = inputs.model_package_arn, "model-package-arn"
    if not arn and inputs.execution_arn:
        arn, source = (
            registered_model_package(registry.list_steps(inputs.execution_arn)),
            "execution-arn",
        )
        if not arn:
            raise InputError(
                "execution-arn",
                f"execution {inputs.execution_arn} registered no model package (its register step did not run or did not succeed)",
                "Gate a package by model-package-arn, or register one from model-data-url.",
            )
    if not arn:
        request = _register_request(inputs)
        return "", request, request
    record = registry.describe_model_package(arn)
    if record is None:
        raise InputError(
            source, f"there is no model package {arn}", "Check the ARN and the region."
        )
    if record.get("ModelPackageGroupName") != inputs.group:
        if source == "execution-arn":
            raise GroupMismatch(arn, record, inputs.group)
        raise InputError(
            source,
            f"{arn} belongs to group {record.get('ModelPackageGroupName')!r}, not {inputs.group!r}",
            "Pass the package of this group, or the right model-package-group.",
        )
    if record.get("ModelApprovalStatus") == "Rejected" and not inputs.force:
        raise InputError(
            source,
            f"{arn} is Rejected ({record.get('ApprovalDescription', 'no reason recorded')})",
            "A rejected version stays rejected: register a new version, or override with force and force-reason.",
        )
    return arn, record, None


class GroupMismatch(InputError):
    """The build's register step put its package in another group than model-package-group.

    That package would stay PendingManualApproval for good, judged by nobody (and a later
    gate of the right group never sees it as a candidate): main() rejects it, with the
    reason on it, before it reports this error."""

    def __init__(self, arn: str, record: dict[str, Any], group: str) -> None:
        self.arn = arn
        self.registered_group = str(record.get("ModelPackageGroupName"))
        self.pending = record.get("ModelApprovalStatus") == "PendingManualApproval"
        self.rejection = (
            f"not gated: register-and-gate was run for group {group!r}, not "
            f"{self.registered_group!r} where the pipeline registered this version"
        )
        super().__init__(
            "model-package-group",
            f"is {group!r}, but the pipeline's register step registered {arn} in group "
            f"{self.registered_group!r}",
            f"Set model-package-group: {self.registered_group}, or change the register step's "
            f"model_package_group_name to {group!r}, so that both name the same group"
            + (
                "; then build again (this version is rejected as not gated)."
                if self.pending
                else "."
            ),
        )


def _register_request(inputs: Inputs) -> dict[str, Any]:
    """CreateModelPackage for a model the pipeline did not register itself."""
    metrics_uri = inputs.metrics if inputs.metrics.startswith("s3://") else ""
    request: dict[str, Any] = {
        "ModelPackageGroupName": inputs.group,
        "ModelPackageDescription": "registered by smgha register-and-gate",
        "InferenceSpecification": {
            "Containers": [{"Image": inputs.image_uri, "ModelDataUrl": inputs.model_data_url}],
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
    if inputs.provenance.get("git-sha"):
        request["MetadataProperties"] = {
            "CommitId": inputs.provenance["git-sha"],
            "Repository": inputs.provenance.get("repository", ""),
            "GeneratedBy": inputs.provenance.get("run-url", ""),
        }
    return request


def _statistics_uri(record: dict[str, Any]) -> str:
    return str(
        ((record.get("ModelMetrics") or {}).get("ModelQuality") or {})
        .get("Statistics", {})
        .get("S3Uri", "")
    )


def _recorded_metrics(record: dict[str, Any], registry: Backend) -> dict[str, float]:
    """A package's metrics: its model-quality statistics, else the metrics this stage
    recorded on it (a package registered from a local metrics file has no statistics URI)."""
    uri = _statistics_uri(record)
    if uri:
        return gates.metric_table(registry.read_json(uri))
    metrics = {}
    for name, text in read_lineage(record.get("CustomerMetadataProperties")).items():
        if name.startswith(METRIC):
            try:
                metrics[name.removeprefix(METRIC)] = float(text)
            except ValueError:
                continue  # not a number: nothing a rule can compare with
    return metrics


def _evaluation(inputs: Inputs, registry: Backend, candidate: dict[str, Any]) -> Any:
    source = inputs.metrics or _statistics_uri(candidate)
    if not source:
        raise InputError(
            "metrics",
            "the candidate has no model-quality statistics and no metrics file was given",
            "Pass metrics: the evaluation JSON (a path or an S3 URI).",
        )
    if source.startswith("s3://"):
        try:
            return registry.read_json(source)
        except StageError as error:
            raise InputError(
                "metrics", f"cannot read {source}: {error.detail}", "Check the URI."
            ) from None
    path = workspace_file("metrics", source, inputs.workspace, local_state_folder(inputs.backend))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(
            "metrics", f"cannot read {path}: {error}", "Give the evaluation JSON file."
        ) from None


def _champion(group: str, candidate_arn: str, registry: Backend) -> dict[str, Any] | None:
    """The newest Approved package of the group other than the candidate."""
    for record in registry.list_model_packages(group, approval_status="Approved", limit=2):
        if record.get("ModelPackageArn") != candidate_arn:
            return record
    return None


def _lineage(
    inputs: Inputs, registry: Backend, metrics: dict[str, float], decision: gates.GateDecision
) -> dict[str, str]:
    """The lineage recorded on the package: where it came from, what it scored (the gate's
    metrics first), the verdict. Names without PREFIX; storable_lineage makes it storable."""
    lineage = dict(inputs.provenance)
    if inputs.execution_arn:
        lineage["pipeline-execution-arn"] = inputs.execution_arn
    training_data = inputs.training_data_uri or (
        _training_data(inputs.execution_arn, registry) if inputs.execution_arn else ""
    )
    if training_data:
        lineage["training-data-uri"] = training_data
    names = gates.short_names(metrics)
    gated = {result.metric for result in decision.results}
    for key in sorted(metrics, key=lambda k: k not in gated):  # stable: evaluation order
        lineage[f"{METRIC}{names[key]}"] = f"{metrics[key]:.6g}"
    lineage["gate"] = (
        "forced" if decision.forced else ("passed" if not decision.failures else "failed")
    )
    if decision.forced:
        lineage["forced-by"] = inputs.actor or "unknown"
        lineage["force-reason"] = inputs.force_reason
    return lineage


def _training_data(execution_arn: str, registry: Backend) -> str:
    """The train channel of the execution's (first) training job."""
    for step in registry.list_steps(execution_arn):
        job_arn = (step.metadata.get("TrainingJob") or {}).get("Arn")
        job = registry.describe_training_job(job_arn) if job_arn else None
        for channel in (job or {}).get("InputDataConfig") or []:
            if channel.get("ChannelName") == "train":
                return str(channel["DataSource"]["S3DataSource"]["S3Uri"])
    return ""


# ---- lineage as SageMaker stores it (the rule and the encoding: see METADATA_* above) -----------


@dataclass(frozen=True)
class StoredLineage:
    properties: dict[str, str]  # CustomerMetadataProperties to send
    left_out: tuple[str, ...] = ()  # metric names not recorded: they did not fit


class _KeyTooLong(Exception):
    pass


def _units(text: str) -> int:
    """Length as SageMaker counts it: UTF-16 code units (two for a character past U+FFFF)."""
    return len(text) + sum(ord(char) > 0xFFFF for char in text)


def _escaped(char: str, also: str = "") -> str:
    """`char` as stored: itself when SageMaker allows it (and it is neither `=` nor in
    `also`), else `=XX` per UTF-8 byte."""
    allowed = char in METADATA_SYMBOLS or unicodedata.category(char)[0] in "LNZ"
    if allowed and char != "=" and char not in also:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def encode_metadata_text(text: str) -> str:
    """`text` with only characters SageMaker allows in metadata; decode_metadata_text undoes it."""
    return "".join(map(_escaped, text))


def decode_metadata_text(text: str) -> str:
    """The text encode_metadata_text encoded. Text stored before there was an encoding reads
    as it is, unless it holds `=` and two upper-case hex digits that make UTF-8."""

    def decoded(match: re.Match[str]) -> str:
        try:
            return bytes.fromhex(match[0].replace("=", "")).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return match[0]

    return _ESCAPES.sub(decoded, text)


def _stored_entries(name: str, pieces: list[str]) -> dict[str, str]:
    """One lineage entry, its value given as encoded pieces (never cut inside one), as
    stored entries: one, or the parts of a long value. _KeyTooLong when the key does not fit."""
    key = PREFIX + encode_metadata_text(name)
    if not pieces:
        raise ValueError(f"lineage {name!r} is empty: SageMaker stores no empty value")
    if sum(map(_units, pieces)) <= METADATA_MAX_VALUE:
        parts = ["".join(pieces)]
    else:
        for digits in (1, 2, 3, 4):  # the header's length depends on the number of parts
            parts = _split(pieces, METADATA_MAX_VALUE - 2 * len(_PART) - digits)
            if len(str(len(parts))) <= digits:
                break
        parts[0] = f"{_PART}{len(parts)}{_PART}{parts[0]}"
    longest_key = key + (f"{_PART}{len(parts)}" if len(parts) > 1 else "")
    if _units(longest_key) > METADATA_MAX_KEY:
        raise _KeyTooLong(name)
    entries = {key: parts[0]}
    entries.update({f"{key}{_PART}{n}": part for n, part in enumerate(parts[1:], start=2)})
    return entries


def _split(pieces: list[str], first: int) -> list[str]:
    """`pieces` joined into parts of at most METADATA_MAX_VALUE (the first: `first`)."""
    parts: list[str] = []
    current: list[str] = []
    size, limit = 0, first
    for piece in pieces:
        if size + _units(piece) > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, METADATA_MAX_VALUE
        current.append(piece)
        size += _units(piece)
    parts.append("".join(current))
    return parts


def _text_pieces(text: str) -> list[str]:
    return [_escaped(char) for char in text]


def _packed_pieces(name: str, text: str) -> list[str]:
    """`name:value` as packed, with ` ` and `:` escaped inside name and value."""
    return [
        *(_escaped(char, also=" :") for char in name),
        ":",
        *(_escaped(char, also=" :") for char in text),
    ]


def storable_lineage(
    lineage: Mapping[str, str],
    existing: Mapping[str, str] | None = None,
    required: Collection[str] = (),
) -> StoredLineage:
    """CustomerMetadataProperties that SageMaker accepts and read_lineage reads back as
    `lineage` (names without PREFIX; `metric:<name>` entries are metrics, the most wanted
    first). `existing` is the package's map as it is (UpdateModelPackage merges into it):
    with ours it may hold at most 50 entries. Metrics are packed, then left out, to fit;
    `required` ones (the gate's) never are: StageError when they do not fit."""
    existing = existing or {}
    fixed: dict[str, str] = {}
    for name, text in lineage.items():
        if not name.startswith(METRIC):
            fixed.update(_stored_entries(name, _text_pieces(text)))
    metrics = [(n.removeprefix(METRIC), t) for n, t in lineage.items() if n.startswith(METRIC)]
    own_keys: list[dict[str, str]] = []  # each metric's own entry, or {} if it has to be packed
    for name, text in metrics:
        try:
            entries = _stored_entries(METRIC + name, _text_pieces(text))
        except _KeyTooLong:
            entries = {}
        own_keys.append(entries if len(entries) == 1 else {})
    packed_pieces = [_packed_pieces(name, text) for name, text in metrics]

    def assembled(keyed: int, kept: int) -> dict[str, str]:
        """With the first `keyed` metrics (and any the package has a key for already: it
        is rewritten, never stale) under keys of their own, the rest of the first `kept`
        packed, the others left out."""
        properties = dict(fixed)
        packed: list[str] = []
        for index in range(kept):
            entries = own_keys[index]
            if entries and (index < keyed or next(iter(entries)) in existing):
                properties.update(entries)
            else:
                packed += [" ", *packed_pieces[index]] if packed else packed_pieces[index]
        if packed:
            properties.update(_stored_entries(MORE_METRICS, packed))
        if kept < len(metrics):
            text = f"{len(metrics) - kept} of {len(metrics)}"
            properties.update(_stored_entries(METRICS_LEFT_OUT, _text_pieces(text)))
        for key in existing:  # what an earlier run wrote and this one does not
            if key.startswith(PREFIX) and _PART not in key and key not in properties:
                properties[key] = _REMOVED
        return properties

    def fits(properties: dict[str, str]) -> bool:
        return len(properties) + len(set(existing) - set(properties)) <= METADATA_MAX_ENTRIES

    if fits(assembled(0, len(metrics))):  # all of them, at worst all packed
        for keyed in range(min(METADATA_METRIC_KEYS, len(metrics)), -1, -1):
            properties = assembled(keyed, len(metrics))
            if fits(properties):
                return StoredLineage(properties)
    # Leave out the last metrics, as few as will do; never a required one.
    low = 1 + max((i for i, (n, _) in enumerate(metrics) if METRIC + n in required), default=-1)
    if not fits(properties := assembled(0, low)):
        others = sum(not key.startswith(PREFIX) for key in existing)
        needed = len(properties) + len(set(existing) - set(properties)) - others
        raise StageError(
            "Lineage does not fit on the model package",
            f"SageMaker keeps at most {METADATA_MAX_ENTRIES} CustomerMetadataProperties on "
            f"a model package; it already has {others} of its own, and the lineage with the "
            f"gate's metrics needs {needed} (more than are left). Remove some of the "
            "package's own properties (UpdateModelPackage CustomerMetadataPropertiesToRemove), "
            "or gate on fewer metrics.",
        )
    high = len(metrics) - 1  # fits(assembled(0, low)), and not with all of them
    while low < high:
        middle = (low + high + 1) // 2
        if fits(assembled(0, middle)):
            low = middle
        else:
            high = middle - 1
    return StoredLineage(assembled(0, low), tuple(name for name, _ in metrics[low:]))


def read_lineage(properties: Mapping[str, str] | None) -> dict[str, str]:
    """The lineage storable_lineage wrote, decoded (names without PREFIX): long values joined,
    packed metrics as `metric:<name>` entries. Keys without PREFIX are not ours: left out."""
    ours = {
        k.removeprefix(PREFIX): v for k, v in (properties or {}).items() if k.startswith(PREFIX)
    }
    lineage: dict[str, str] = {}
    packed = ""
    for stored, value in ours.items():
        if _PART in stored:
            continue  # a later part of a long value
        header = _SPLIT_HEADER.match(value)
        if header and int(header[1]) == 0:
            continue  # removed
        if header:
            rest = (ours.get(f"{stored}{_PART}{n}", "") for n in range(2, int(header[1]) + 1))
            value = value[header.end() :] + "".join(rest)
        if stored == MORE_METRICS:
            packed = value
        else:
            lineage[decode_metadata_text(stored)] = decode_metadata_text(value)
    for item in packed.split(" "):
        name, colon, text = item.partition(":")
        if colon:  # a key of its own is as new as the packed value: it wins
            lineage.setdefault(METRIC + decode_metadata_text(name), decode_metadata_text(text))
    return lineage


# ---- apply: the one place that writes ---------------------------------------------------------


def apply(gate: GatePlan, registry: Backend) -> str:
    """Register the candidate when needed, then record lineage and the decision on it."""
    arn = gate.candidate_arn
    if gate.register_request is not None:
        arn = registry.create_model_package(gate.register_request)
    registry.update_model_package(
        arn,
        approval_status=gate.decision.approval_status,
        approval_description=_one_line(gate.decision.description),
        customer_metadata=gate.metadata,
    )
    return arn


def _one_line(text: str) -> str:
    """ApprovalDescription's pattern is `.*`, which (in Java) matches no line terminator: a
    force reason written on several lines is joined with spaces (the metadata keeps it as is)."""
    return re.sub(r"\r\n|[\n\r\u0085\u2028\u2029]", " ", text)


# ---- the edge ---------------------------------------------------------------------------------


def report(inputs: Inputs, gate: GatePlan, arn: str, registry: Backend, runner: Runner) -> None:
    record = registry.describe_model_package(arn) or {}
    decision = gate.decision
    runner.set_output("model-package-arn", arn)
    runner.set_output("model-package-version", str(record.get("ModelPackageVersion", "")))
    runner.set_output("decision", decision.decision)
    runner.set_output("champion-arn", (gate.champion or {}).get("ModelPackageArn", ""))
    runner.set_output("rules", json.dumps([r.as_dict() for r in decision.results]))

    marks = {
        "approved": "✅ approved",
        "pending": "⏳ pending manual approval",
        "rejected": "❌ rejected",
    }
    summary = runner.summary.heading(
        f"register-and-gate: {inputs.group} v{record.get('ModelPackageVersion', '?')}", 3
    )
    summary.paragraph(
        f"**{marks[decision.decision]}**{' (forced: ' + inputs.force_reason + ')' if decision.forced else ''} · `{arn}`"
    )
    champion = gate.champion
    summary.paragraph(
        f"Champion: `{champion['ModelPackageArn']}`"
        if champion
        else "Champion: none yet (this model sets the bar)"
    )
    summary.table(["Metric", "Candidate", "Champion", "Δ", "Rule", "Result"], comparison_rows(gate))
    summary.write()


def comparison_rows(gate: GatePlan) -> list[list[str]]:
    """One row per metric (and one more per extra rule on it): candidate, champion, delta, rule."""
    names = gates.short_names(gate.candidate_metrics)
    champion = gate.champion_metrics or {}
    by_metric: dict[str, list[gates.RuleResult]] = {}
    for result in gate.decision.results:
        by_metric.setdefault(result.metric, []).append(result)
    rows = []
    for key, value in gate.candidate_metrics.items():
        champion_value = champion.get(key) if champion else None
        delta = f"{value - champion_value:+.4f}" if champion_value is not None else "–"
        base = [
            names[key],
            f"{value:.4f}",
            f"{champion_value:.4f}" if champion_value is not None else "–",
            delta,
        ]
        results = by_metric.get(key)
        if not results:
            rows.append([*base, "–", ""])
        for result in results or []:
            mark = "✅ " if result.passed else "❌ "
            rows.append([*base, f"`{result.rule.text}`", mark + result.detail])
    return rows


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        registry = backend(inputs.backend, inputs.region, log=runner.info, mask=runner.set_secret)
        try:
            gate = plan(inputs, registry)
        except GroupMismatch as mismatch:
            if mismatch.pending:  # judge it, so that no unjudged version is left behind
                registry.update_model_package(
                    mismatch.arn,
                    approval_status="Rejected",
                    approval_description=mismatch.rejection,
                )
                runner.info(f"{mismatch.arn}: Rejected ({mismatch.rejection})")
            raise
        for result in gate.decision.results:
            runner.info(
                f"{'pass' if result.passed else 'FAIL'}  {result.rule.text}: {result.detail}"
            )
        arn = apply(gate, registry)
        runner.info(f"{arn}: {gate.decision.approval_status} ({gate.decision.description})")
        if gate.left_out:
            runner.warning(
                f"{len(gate.left_out)} metrics are not recorded on {arn}: its "
                f"{METADATA_MAX_ENTRIES} metadata entries are full (the gate's metrics are): "
                + ", ".join(gate.left_out),
                title=f"{STAGE}: metrics left out of the lineage",
            )
        report(inputs, gate, arn, registry, runner)
        if gate.decision.forced:
            runner.warning(
                f"Gates overridden by {inputs.actor or 'unknown'}: {inputs.force_reason}",
                title=f"{STAGE}: forced approval",
            )
        if gate.decision.decision == "rejected":
            message = f"{arn} was rejected: {gate.decision.description}"
            if inputs.fail_on_reject:
                raise StageError("model rejected", message)
            runner.warning(message, title=f"{STAGE}: model rejected")

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
