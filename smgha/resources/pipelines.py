"""SageMaker Pipelines as build-pipeline uses them: SageMaker's rules for a pipeline's name,
role, execution ARN and parameters, the code a definition needs, the start token that makes
a retried step start no second execution, the provenance tags of a pipeline, the one loop
that watches an execution, the metrics its property file holds, and how an execution and its
steps read in a summary.

Speaks to a backend only through Pipelines (smgha.backends); never imports the runner
or a stage. Logging goes through the `log` callable the stage passes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha import definition as defn
from smgha import gates
from smgha.aws_values import aws_value
from smgha.backends import (
    Objects,
    Pipelines,
    SelectiveExecution,
    StepRecord,
    registered_model_package,
)
from smgha.errors import InputError, StageError, shown
from smgha.inputs import decimal_number, one_line
from smgha.progress import Waiting, elapsed

# Messages users act on: (problem, fix) of an InputError; the problem follows the input's name.
CODE_MISSING = (
    "its code object(s) {missing} do not exist (or cannot be read)",
    "Write the definition file with `smgha definition write --output FILE`, which uploads "
    "its code to the same backend, or give the 'module:function' that builds it.",
)
NO_PROPERTY_FILE = (
    "the pipeline declares no property file {name!r}",
    "Name one of its PropertyFiles, or leave it empty.",
)
UPLOAD_OUTSIDE_BUCKET = (
    "building it uploads {first} ({count} object(s) in all) outside default-bucket {bucket!r}",
    "Build with the bucket the stage passes: declare a default_bucket argument and give it to "
    "the SDK session, e.g. PipelineSession(default_bucket=default_bucket).",
)
PARAMETERS_UNREADABLE = (
    "is not valid JSON or YAML ({error})",
    'Write a mapping, e.g. {"AccuracyThreshold": 0.85} or one "Name: value" per line.',
)
PARAMETERS_NOT_A_MAPPING = (
    "must be a mapping of names to values, got {type}",
    'Write e.g. {"AccuracyThreshold": 0.85}.',
)
PARAMETER_NOT_A_VALUE = (
    "entry {name} must map a name to a single value",
    "Use strings or numbers as values.",
)
PARAMETER_VALUE_REFUSED = (
    "the value of {name} {problem}",
    "Give finite numbers in ASCII digits, e.g. 0.85 or 100.",
)
BAD_PIPELINE_NAME = (
    "{name} is not a valid pipeline name",
    "Use 1-256 letters, digits and hyphens, starting with a letter or digit.",
)
NOT_AN_EXECUTION = (
    "{arn} is not a pipeline execution ARN",
    "Pass the execution-arn output of an earlier build-pipeline step.",
)
NO_REASON = "no reason given"

# The execution role of local runs: nothing checks it, but SDK code needs a role to build.

# The longest value of a pipeline parameter: PipelineParameters' Value is a String1024
# (botocore's SageMaker model, shape Parameter).
PARAMETER_VALUE_MAX = 1024

STATUS_MARKS = {
    "Succeeded": "✅",
    "Failed": "❌",
    "Stopped": "⏹️",
    "Executing": "⏳",
    "Starting": "⏳",
}


# ---- names and parameters -----------------------------------------------------------------------


def checked_pipeline_name(name: str) -> str:
    """The pipeline-name input, when it keeps SageMaker's rule for a pipeline's name."""
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}", name):
        problem, fix = BAD_PIPELINE_NAME
        raise InputError("pipeline-name", problem.format(name=shown(name)), fix)
    return name


def checked_execution_arn(arn: str) -> str:
    """The execution-arn input, when it is a pipeline execution's ARN."""
    if "/execution/" not in arn:
        problem, fix = NOT_AN_EXECUTION
        raise InputError("execution-arn", problem.format(arn=shown(arn)), fix)
    return aws_value("execution-arn", arn, "sagemaker", "PipelineExecutionArn")


def pipeline_parameters(text: str) -> dict[str, Any]:
    """A JSON or YAML mapping of parameter names to scalar values ('' means none).

    Names follow SageMaker's rule and values its length limit (botocore PipelineParameterName
    and String1024, via aws_value). A value must also be a number only the way a workflow
    author writes one: YAML's .nan and .inf, and text such as "NaN", "-Infinity", "１０" or
    "1_0" that Python's float() reads as a number, are refused, because a Float or Integer
    parameter would take them (the pipeline's own code converts with float() or int())."""
    if not text.strip():
        return {}
    import yaml  # JSON is YAML, so one parser reads both

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem, fix = PARAMETERS_UNREADABLE
        error_text = f"{error.__class__.__name__}: {str(error).splitlines()[0]}"
        raise InputError("parameters", problem.format(error=error_text), fix) from None
    if not isinstance(value, dict):
        problem, fix = PARAMETERS_NOT_A_MAPPING
        raise InputError("parameters", problem.format(type=type(value).__name__), fix)
    for key, item in value.items():
        if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
            problem, fix = PARAMETER_NOT_A_VALUE
            raise InputError("parameters", problem.format(name=shown(str(key))), fix)
        aws_value("parameters", key, "sagemaker", "PipelineParameterName")
        _parameter_value(key, item)
    return value


def _parameter_value(key: str, item: object) -> None:
    text = item if isinstance(item, str) else str(item)
    if isinstance(item, float) and not math.isfinite(item):
        problem = f"is {item}, not a finite number"
    elif isinstance(item, str) and _read_as_number(item) and decimal_number(item) is None:
        problem = f"is {shown(item)}, which only Python reads as a number"
    elif len(text) > PARAMETER_VALUE_MAX:
        problem = f"has {len(text):,} characters, more than SageMaker's {PARAMETER_VALUE_MAX}"
    else:
        return
    refused, fix = PARAMETER_VALUE_REFUSED
    raise InputError("parameters", refused.format(name=key, problem=problem), fix)


def _read_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---- starting: provenance, the definition's code, the start token -------------------------------


def provenance_tags(env: Mapping[str, str]) -> dict[str, str]:
    """The pipeline's tags: the commit, repository and run it was built from."""
    tags = {}
    if env.get("GITHUB_SHA"):
        tags["smgha:git-sha"] = env["GITHUB_SHA"]
    if env.get("GITHUB_REPOSITORY"):
        tags["smgha:repository"] = env["GITHUB_REPOSITORY"]
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
        tags["smgha:run-url"] = (
            f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}/attempts/{attempt}"
        )
    return tags


def run_identity(env: Mapping[str, str]) -> str:
    """Who is starting: the run, its attempt and the job; '' outside GitHub Actions."""
    if not env.get("GITHUB_RUN_ID"):
        return ""
    parts = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB")
    return "|".join(env.get(key, "") for key in parts)


def start_token(
    identity: str,
    pipeline_name: str,
    parameters: dict[str, str],
    selective: SelectiveExecution | None = None,
) -> str:
    """ClientRequestToken: the same run attempt, job (`identity`, see run_identity), pipeline,
    parameters and selective execution give the same token, so a retried step never starts a
    second execution. Outside Actions: unique."""
    if not identity:
        return uuid.uuid4().hex
    seed_parts: list[Any] = [identity, pipeline_name, parameters]
    if selective is not None:  # a full and a selective start in one job are two executions
        seed_parts.append([selective.source_arn, list(selective.selected_steps)])
    seed = json.dumps(seed_parts, sort_keys=True)
    return hashlib.sha256(seed.encode()).hexdigest()


def check_code_exists(
    definition: dict[str, Any], uploads: dict[str, bytes], objects: Objects
) -> None:
    """Every code object the definition names is uploaded by this build or already there.
    A definition file refers to the code the SDK uploaded when it was rendered, on another
    machine or to another bucket: without this check the first step fails minutes later."""
    missing = objects.missing_objects([u for u in defn.code_uris(definition) if u not in uploads])
    if missing:
        problem, fix = CODE_MISSING
        raise InputError("definition", problem.format(missing=", ".join(missing)), fix)


def check_upload_buckets(uploads: dict[str, bytes], bucket: str) -> None:
    """Every object building the definition uploads must go to default-bucket: the SDK's
    bucket checks were answered locally (smgha/uploads.py), so any other bucket, such as the
    SDK's own default, may not exist, and the Terraform roles allow the artifact bucket only."""
    outside = sorted(uri for uri in uploads if not uri.startswith(f"s3://{bucket}/"))
    if outside:
        problem, fix = UPLOAD_OUTSIDE_BUCKET
        problem = problem.format(first=outside[0], count=len(outside), bucket=bucket)
        raise InputError("definition", problem, fix)


# ---- watching an execution ----------------------------------------------------------------------


@dataclass
class WatchedExecution:
    """An execution as the watch left it: ended, or still running at the timeout."""

    status: str
    failure_reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    timed_out: bool = False
    model_package_arn: str = ""  # the package its register step created, if any


def watch_execution(
    backend: Pipelines,
    execution_arn: str,
    timeout_seconds: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> WatchedExecution:
    """Poll until the execution ends or the timeout; log each step as its status changes."""
    started = clock()
    deadline = started + timeout_seconds
    waiting = Waiting(f"execution {execution_arn}", log, clock)
    seen: dict[str, str] = {}
    timed_out = False
    while True:
        execution = backend.describe_execution(execution_arn)
        steps = backend.list_steps(execution_arn)
        for step in steps:
            if seen.get(step.name) != step.status:
                seen[step.name] = step.status
                duration = f" in {_duration(step.seconds)}" if step.seconds is not None else ""
                reused = f", {_reuse(step)}" if _reuse(step) else ""
                log(
                    f"[{_duration(clock() - started)}] {step.name}: {step.status}{duration}{reused}"
                )
                waiting.printed()
        if execution.finished:
            break
        now = clock()
        if now >= deadline:
            timed_out = True
            break
        running = (
            ", ".join(s.name for s in steps if s.status in ("Starting", "Executing")) or "none yet"
        )
        waiting.tick(f"{execution.status}, running: {running}")
        sleep(min(waiting.pause(backend.poll_seconds), deadline - now))
    hits = sum(1 for step in steps if step.cache_hit_from)
    if hits:
        log(f"Step caching: {hits} of {len(steps)} steps were cache hits (not run again)")
    return WatchedExecution(
        status=execution.status,
        failure_reason=execution.failure_reason,
        steps=steps,
        timed_out=timed_out,
        model_package_arn=registered_model_package(steps),
    )


def read_metrics(
    backend: Pipelines,
    execution_arn: str,
    steps: list[StepRecord],
    definition: dict[str, Any],
    property_file_name: str,
) -> Any:
    """The JSON of the property file `property_file_name` (or of the definition's first)
    as the step that ran wrote it; None when no such step succeeded. InputError
    (metrics-property-file) when the definition declares no such file."""
    candidates = defn.property_files(definition)
    if property_file_name:
        candidates = [
            (s, pf) for s, pf in candidates if pf.get("PropertyFileName") == property_file_name
        ]
        if not candidates:
            problem, fix = NO_PROPERTY_FILE
            raise InputError("metrics-property-file", problem.format(name=property_file_name), fix)
    ran = {s.name for s in steps if s.status == "Succeeded"}
    for step_name, property_file in candidates:
        if step_name in ran:
            return backend.read_property_file(
                execution_arn, step_name, property_file["OutputName"], property_file["FilePath"]
            )
    return None


# ---- how an execution reads ---------------------------------------------------------------------


def execution_failure(
    status: str, steps: list[StepRecord], failure_reason: str
) -> StageError | None:
    """The error to fail the step with, naming the failed step and its reason."""
    if status not in ("Failed", "Stopped"):
        return None
    failed = [s for s in steps if s.status == "Failed"]
    if failed:
        step = failed[0]
        return StageError(
            f"pipeline step {step.name} failed", step.failure_reason or failure_reason or NO_REASON
        )
    return StageError(f"pipeline execution {status.lower()}", failure_reason or NO_REASON)


def step_rows(steps: list[StepRecord]) -> list[list[str]]:
    """(step, status, duration, detail) rows for a summary table."""
    return [[s.name, _status_mark(s.status), _duration(s.seconds), _step_detail(s)] for s in steps]


def metric_rows(metrics: Any) -> list[list[str]]:
    """(metric, value) rows of an evaluation JSON, for the summary."""
    table = gates.metric_table(metrics)
    names = gates.short_names(table)
    return [[names[key], _format_number(value)] for key, value in table.items()]


def _format_number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else elapsed(seconds)


def _status_mark(status: str) -> str:
    return f"{STATUS_MARKS.get(status, '')} {status}".strip()


def _reuse(step: StepRecord) -> str:
    """Whose run of the step this execution reused, if it did not run it: a cache hit, or a
    step a selective execution left out (ListPipelineExecutionSteps' CacheHitResult and
    SelectiveExecutionResult)."""
    if step.cache_hit_from:
        return f"cache hit (from {step.cache_hit_from.rsplit('/', 1)[-1]})"
    if step.reused_from:
        return f"not selected: reused from {step.reused_from.rsplit('/', 1)[-1]}"
    return ""


def _step_detail(step: StepRecord) -> str:
    if step.failure_reason:
        return step.failure_reason.splitlines()[0][:200]
    if _reuse(step):
        return _reuse(step)
    if "Condition" in step.metadata:
        return f"outcome: {step.metadata['Condition'].get('Outcome')}"
    for key, value in step.metadata.items():
        if isinstance(value, dict) and value.get("Arn"):
            return (
                f"`{value['Arn'].rsplit('/', 1)[-1]}`"
                if key != "RegisterModel"
                else f"`{value['Arn']}`"
            )
    return ""


def dry_run_note(backend: str, definition_diff: str) -> str:
    """The job summary's line for a dry run: nothing changed, and how far the definition is
    from the deployed one."""
    changed = f"{definition_diff.count(chr(10))} diff lines" if definition_diff else "no changes"
    return (
        f"Dry run on backend `{backend}`: nothing was changed "
        f"({changed} against the deployed definition)."
    )


def property_file_name(text: str) -> str:
    """build-pipeline's metrics-property-file input: the PropertyFileName of a step in the
    definition. SageMaker documents no rule for it, so any one line of text may match one; the
    name is compared, never used as a path."""
    return one_line("metrics-property-file", text, 256) if text else ""
