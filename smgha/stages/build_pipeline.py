"""build-pipeline: upsert a SageMaker pipeline, start it once per run attempt, watch it.

    Inputs (validated once, in load_inputs)  ->  run(inputs, backend, log)  ->  BuildResult
                                                   |
    main(): the edge: outputs, annotations, job summary, exit code

A timeout is not a failure: the execution goes on in SageMaker, its ARN is an output, and a
later job resumes waiting with `execution-arn`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smgha import definition as defn
from smgha import gates
from smgha.aws_values import aws_value
from smgha.backends import PipelineBackend, StepRecord, backend, registered_model_package
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    backend_and_region,
    decimal_number,
    one_line,
    path_text,
    positive_number,
)
from smgha.progress import Waiting, elapsed
from smgha.runner import Runner
from smgha.s3_names import BUCKET_NAME
from smgha.stages import ARTIFACT_BUCKET_HINT, LOCAL_BUCKET, OutputSpec, run_stage
from smgha.summary import fenced_code

STAGE = "build-pipeline"

INPUTS = (
    InputSpec(
        "backend",
        "Where the pipeline runs: sagemaker (AWS) or local (this machine, no AWS account).",
        "sagemaker",
    ),
    InputSpec(
        "definition",
        "The pipeline definition: a 'module:function' in the workspace that returns a SageMaker SDK Pipeline (e.g. ml.pipeline:get_pipeline), or a path to a definition JSON file.",
        required=True,
    ),
    InputSpec(
        "pipeline-name", "Name of the SageMaker pipeline to create or update.", required=True
    ),
    InputSpec(
        "role-arn",
        "ARN of the SageMaker execution role the pipeline runs as. Required for the sagemaker backend.",
    ),
    REGION_INPUT,
    InputSpec(
        "default-bucket",
        "S3 bucket (its bare name) passed to the definition function as default_bucket; every object building the definition uploads must go there. Required with backend: sagemaker when the definition is a function: the Terraform module's artifact bucket (terraform output -raw artifact_bucket_name). There is no sagemaker-<region>-<account> default: nothing creates that bucket and the Terraform roles do not allow it. Local: defaults to smgha-local.",
    ),
    InputSpec(
        "parameters",
        "Pipeline parameters as a JSON or YAML mapping, e.g. '{\"AccuracyThreshold\": 0.85}'. Each must be declared by the pipeline.",
    ),
    InputSpec("wait", "Wait for the execution to finish.", "true", is_bool=True),
    InputSpec(
        "timeout-minutes",
        "How long to wait before reporting the execution as still running (it is not stopped).",
        "60",
    ),
    InputSpec(
        "execution-arn",
        "Resume waiting on this existing execution instead of starting one (the execution-arn output of an earlier run).",
    ),
    InputSpec(
        "metrics-property-file",
        "Name of the property file whose JSON is the metrics output. Defaults to the first property file in the definition.",
    ),
    InputSpec(
        "dry-run",
        "Print the definition and its diff against the deployed one; change nothing.",
        "false",
        is_bool=True,
    ),
)

OUTPUTS = (
    OutputSpec(
        "execution-arn",
        "ARN of the pipeline execution (pass it back as execution-arn to resume waiting).",
    ),
    OutputSpec(
        "status",
        "Execution status: Succeeded, Failed, Stopped, Executing (still running at the timeout, or wait: false) or DryRun.",
    ),
    OutputSpec(
        "metrics",
        "The metrics property file's JSON (e.g. evaluation.json), when the execution produced it.",
    ),
    OutputSpec(
        "model-package-arn",
        "ARN of the model package the execution registered, when it registered one.",
    ),
)

# The longest value of a pipeline parameter: PipelineParameters' Value is a String1024
# (botocore's SageMaker model, shape Parameter).
PARAMETER_VALUE_MAX = 1024

# The execution role of local runs: nothing checks it, but SDK code needs a role to build.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/smgha-local-execution"


@dataclass(frozen=True)
class Inputs:
    backend: str
    definition: str
    pipeline_name: str
    role_arn: str
    region: str
    default_bucket: str
    parameters: dict[str, Any]
    wait: bool
    timeout_seconds: float
    execution_arn: str
    metrics_property_file: str
    dry_run: bool
    workspace: Path
    # From the run's context, not the user: where the build came from, and the start token.
    tags: dict[str, str] = field(default_factory=dict)
    run_identity: str = ""


@dataclass
class BuildResult:
    status: str
    execution_arn: str = ""
    pipeline_arn: str = ""
    created: bool = False
    definition: dict[str, Any] | None = None
    definition_diff: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    failure_reason: str = ""
    metrics: Any = None
    model_package_arn: str = ""
    timed_out: bool = False


def load_inputs(runner: Runner) -> Inputs:
    """Read and check every input; raise InputError before anything is called."""
    env = runner.env
    backend, region = backend_and_region(runner)
    role_arn = runner.get_input("role-arn") or (LOCAL_ROLE_ARN if backend == "local" else "")
    if backend == "sagemaker":
        if not role_arn:
            raise InputError(
                "role-arn",
                "is required with backend: sagemaker",
                "Set role-arn to the SageMaker execution role's ARN (the Terraform module outputs it).",
            )
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise InputError(
                "role-arn",
                f"{shown(role_arn)} is not an IAM role ARN",
                "It looks like arn:aws:iam::123456789012:role/NAME.",
            )
    aws_value("role-arn", role_arn, "sagemaker", "RoleArn")
    name = runner.get_input("pipeline-name", required=True)
    if not _valid_pipeline_name(name):
        raise InputError(
            "pipeline-name",
            f"{shown(name)} is not a valid pipeline name",
            "Use 1-256 letters, digits and hyphens, starting with a letter or digit.",
        )
    # A 'module:function' or a JSON file: where a file leads is checked when it is read.
    source = path_text("definition", runner.get_input("definition", required=True))
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    execution_arn = runner.get_input("execution-arn")
    if execution_arn and "/execution/" not in execution_arn:
        raise InputError(
            "execution-arn",
            f"{shown(execution_arn)} is not a pipeline execution ARN",
            "Pass the execution-arn output of an earlier build-pipeline step.",
        )
    if execution_arn:
        aws_value("execution-arn", execution_arn, "sagemaker", "PipelineExecutionArn")
    return Inputs(
        backend=backend,
        definition=source,
        pipeline_name=name,
        role_arn=role_arn,
        region=region,
        # Resuming (execution-arn) builds nothing, and a definition file uploads nothing.
        default_bucket=_default_bucket(
            runner, backend, not execution_arn and defn.is_built_by_function(source, workspace)
        ),
        parameters=parse_parameters(runner.get_input("parameters")),
        wait=runner.get_bool_input("wait", default=True),
        timeout_seconds=60
        * positive_number("timeout-minutes", runner.get_input("timeout-minutes") or "60"),
        execution_arn=execution_arn,
        metrics_property_file=_property_file_name(runner.get_input("metrics-property-file")),
        dry_run=runner.get_bool_input("dry-run", default=False),
        workspace=workspace,
        tags=_provenance_tags(env),
        run_identity=_run_identity(env),
    )


def _default_bucket(runner: Runner, backend: str, builds_from_function: bool) -> str:
    """The bucket a definition function builds with: the input, or on the local backend
    smgha-local. The sagemaker backend has no default (ARTIFACT_BUCKET_HINT says why): it
    is required when a function builds the definition (`builds_from_function`)."""
    bucket = runner.get_input("default-bucket")
    if bucket and not re.fullmatch(BUCKET_NAME, bucket):
        raise InputError(
            "default-bucket",
            f"{shown(bucket)} is not an S3 bucket name",
            "Give the bare bucket name (no s3://, no prefix): 3-63 lower-case letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit.",
        )
    if bucket or backend == "local":
        return bucket or LOCAL_BUCKET
    if builds_from_function:
        raise InputError(
            "default-bucket",
            "is required with backend: sagemaker when the definition is a function "
            "(the SDK uploads the pipeline's code to it)",
            f"Set default-bucket to {ARTIFACT_BUCKET_HINT}.",
        )
    return ""


def _property_file_name(text: str) -> str:
    """The metrics-property-file input: the PropertyFileName of a step in the definition.
    SageMaker documents no rule for it, so any one line of text may match one; the name is
    compared, never used as a path."""
    return one_line("metrics-property-file", text, 256) if text else ""


def parse_parameters(text: str) -> dict[str, Any]:
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
        raise InputError(
            "parameters",
            f"is not valid JSON or YAML ({error.__class__.__name__}: {str(error).splitlines()[0]})",
            'Write a mapping, e.g. {"AccuracyThreshold": 0.85} or one "Name: value" per line.',
        ) from None
    if not isinstance(value, dict):
        raise InputError(
            "parameters",
            f"must be a mapping of names to values, got {type(value).__name__}",
            'Write e.g. {"AccuracyThreshold": 0.85}.',
        )
    for key, item in value.items():
        if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
            raise InputError(
                "parameters",
                f"entry {shown(str(key))} must map a name to a single value",
                "Use strings or numbers as values.",
            )
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
    raise InputError(
        "parameters",
        f"the value of {key} {problem}",
        "Give finite numbers in ASCII digits, e.g. 0.85 or 100.",
    )


def _read_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _valid_pipeline_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}", name) is not None


def _provenance_tags(env: dict[str, str]) -> dict[str, str]:
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


def _run_identity(env: dict[str, str]) -> str:
    """Who is starting: the run, its attempt and the job; '' outside GitHub Actions."""
    if not env.get("GITHUB_RUN_ID"):
        return ""
    parts = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB")
    return "|".join(env.get(key, "") for key in parts)


def start_token(inputs: Inputs, parameters: dict[str, str]) -> str:
    """ClientRequestToken: the same run attempt, job, pipeline and parameters give the same
    token, so a retried step never starts a second execution. Outside Actions: unique."""
    if not inputs.run_identity:
        return uuid.uuid4().hex
    seed = json.dumps([inputs.run_identity, inputs.pipeline_name, parameters], sort_keys=True)
    return hashlib.sha256(seed.encode()).hexdigest()


# ---- run ------------------------------------------------------------------------------------


def run(
    inputs: Inputs,
    backend: PipelineBackend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BuildResult:
    if inputs.execution_arn:
        log(f"Resuming the wait on {inputs.execution_arn}")
        result = BuildResult(status="Executing", execution_arn=inputs.execution_arn)
        return _watch(inputs, backend, result, None, log, sleep, clock)

    log(f"Building the definition from {inputs.definition} (backend {inputs.backend})")
    definition, uploads = build_definition(inputs)
    parameters = defn.typed_parameters(definition, inputs.parameters)
    _check_code_exists(definition, uploads, backend)
    steps = sum(1 for _ in defn.iter_steps(definition["Steps"]))
    log(f"Definition: {steps} steps, {len(defn.parameters(definition))} parameters; wiring checked")
    deployed = backend.get_pipeline_definition(inputs.pipeline_name)
    result = BuildResult(
        status="DryRun",
        definition=definition,
        definition_diff=defn.diff(deployed, definition, inputs.pipeline_name),
    )
    if inputs.dry_run:
        return result

    for uri, body in uploads.items():
        try:
            backend.put_object(uri, body)
        except StageError as error:
            # The first upload is the first write: a bucket that does not exist is the input's
            # fault, said before anything was created (S3's error code NoSuchBucket).
            if "NoSuchBucket" in error.detail:
                raise InputError(
                    "default-bucket",
                    f"the bucket {inputs.default_bucket!r} does not exist (PutObject answered "
                    "NoSuchBucket); nothing was uploaded or created",
                    f"Set default-bucket to {ARTIFACT_BUCKET_HINT}.",
                ) from error
            raise
        log(f"Uploaded {uri} ({len(body)} bytes)")
    result.pipeline_arn, result.created = backend.upsert_pipeline(
        inputs.pipeline_name, definition, inputs.role_arn, inputs.tags
    )
    log(f"{'Created' if result.created else 'Updated'} pipeline {result.pipeline_arn}")
    result.execution_arn = backend.start_execution(
        inputs.pipeline_name, parameters, start_token(inputs, parameters)
    )
    result.status = "Executing"
    log(f"Started execution {result.execution_arn}")
    if not inputs.wait:
        return result
    return _watch(inputs, backend, result, definition, log, sleep, clock)


def build_definition(inputs: Inputs) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The definition and the code objects building it uploads (captured, not sent), with
    the buckets and the wiring checked. `smgha definition write` uses it too."""
    definition, uploads = defn.load_definition(
        inputs.definition,
        inputs.workspace,
        {
            "region": inputs.region,
            "role": inputs.role_arn,
            "pipeline_name": inputs.pipeline_name,
            "default_bucket": inputs.default_bucket,
        },
    )
    _check_upload_buckets(uploads, inputs.default_bucket)
    defn.check_wiring(definition)
    return definition, uploads


def _check_code_exists(
    definition: dict[str, Any], uploads: dict[str, bytes], backend: PipelineBackend
) -> None:
    """Every code object the definition names is uploaded by this build or already there.
    A definition file refers to the code the SDK uploaded when it was rendered, on another
    machine or to another bucket: without this check the first step fails minutes later."""
    missing = backend.missing_objects([u for u in defn.code_uris(definition) if u not in uploads])
    if missing:
        raise InputError(
            "definition",
            f"its code object(s) {', '.join(missing)} do not exist (or cannot be read)",
            "Write the definition file with `smgha definition write --output FILE`, which "
            "uploads its code to the same backend, or give the 'module:function' that builds it.",
        )


def _check_upload_buckets(uploads: dict[str, bytes], bucket: str) -> None:
    """Every object building the definition uploads must go to default-bucket: the SDK's
    bucket checks were answered locally (smgha/uploads.py), so any other bucket, such as the
    SDK's own default, may not exist, and the Terraform roles allow the artifact bucket only."""
    outside = sorted(uri for uri in uploads if not uri.startswith(f"s3://{bucket}/"))
    if outside:
        raise InputError(
            "definition",
            f"building it uploads {outside[0]} ({len(outside)} object(s) in all) outside "
            f"default-bucket {bucket!r}",
            "Build with the bucket the stage passes: declare a default_bucket argument and give "
            "it to the SDK session, e.g. PipelineSession(default_bucket=default_bucket).",
        )


def _watch(
    inputs: Inputs,
    backend: PipelineBackend,
    result: BuildResult,
    definition: dict[str, Any] | None,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> BuildResult:
    """Poll until the execution ends or the timeout; log each step as its status changes."""
    started = clock()
    deadline = started + inputs.timeout_seconds
    waiting = Waiting(f"execution {result.execution_arn}", log, clock)
    seen: dict[str, str] = {}
    while True:
        execution = backend.describe_execution(result.execution_arn)
        result.steps = backend.list_steps(result.execution_arn)
        for step in result.steps:
            if seen.get(step.name) != step.status:
                seen[step.name] = step.status
                duration = f" in {_duration(step.seconds)}" if step.seconds is not None else ""
                log(f"[{_duration(clock() - started)}] {step.name}: {step.status}{duration}")
                waiting.printed()
        if execution.finished:
            break
        now = clock()
        if now >= deadline:
            result.timed_out = True
            break
        running = (
            ", ".join(s.name for s in result.steps if s.status in ("Starting", "Executing"))
            or "none yet"
        )
        waiting.tick(f"{execution.status}, running: {running}")
        sleep(min(waiting.pause(backend.poll_seconds), deadline - now))

    result.status = execution.status
    result.failure_reason = execution.failure_reason
    result.model_package_arn = registered_model_package(result.steps)
    if execution.status == "Succeeded":
        result.metrics = _read_metrics(inputs, backend, result, definition)
    return result


def _read_metrics(
    inputs: Inputs, backend: PipelineBackend, result: BuildResult, definition: dict[str, Any] | None
) -> Any:
    if definition is None:  # resumed: the deployed definition is the one that ran
        definition = backend.get_pipeline_definition(inputs.pipeline_name) or {"Steps": []}
    candidates = defn.property_files(definition)
    if inputs.metrics_property_file:
        candidates = [
            (s, pf)
            for s, pf in candidates
            if pf.get("PropertyFileName") == inputs.metrics_property_file
        ]
        if not candidates:
            raise InputError(
                "metrics-property-file",
                f"the pipeline declares no property file {inputs.metrics_property_file!r}",
                "Name one of its PropertyFiles, or leave it empty.",
            )
    ran = {s.name for s in result.steps if s.status == "Succeeded"}
    for step_name, property_file in candidates:
        if step_name in ran:
            return backend.read_property_file(
                result.execution_arn,
                step_name,
                property_file["OutputName"],
                property_file["FilePath"],
            )
    return None


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else elapsed(seconds)


# ---- the edge -----------------------------------------------------------------------------


def report(inputs: Inputs, result: BuildResult, runner: Runner) -> None:
    """Outputs, annotations and the job summary for a finished run()."""
    runner.set_output("status", result.status)
    runner.set_output("execution-arn", result.execution_arn)
    runner.set_output("metrics", json.dumps(result.metrics) if result.metrics is not None else "")
    runner.set_output("model-package-arn", result.model_package_arn)
    summary = runner.summary.heading(f"build-pipeline: {inputs.pipeline_name}", 3)
    if result.status == "DryRun":
        changed = (
            "no changes"
            if not result.definition_diff
            else f"{result.definition_diff.count(chr(10))} diff lines"
        )
        summary.paragraph(
            f"Dry run on backend `{inputs.backend}`: nothing was changed ({changed} against the deployed definition)."
        )
        if result.definition_diff:
            summary.details("Definition diff", fenced_code(result.definition_diff, "diff"))
        summary.write()
        return
    summary.paragraph(
        f"Backend `{inputs.backend}` · execution `{result.execution_arn}` · **{result.status}**"
    )
    if result.steps:
        rows = [
            [s.name, _status_mark(s.status), _duration(s.seconds), _step_detail(s)]
            for s in result.steps
        ]
        summary.table(["Step", "Status", "Duration", "Detail"], rows)
    rows = metric_rows(result.metrics)
    if rows:
        summary.heading("Metrics", 4).table(["Metric", "Value"], rows)
    if result.model_package_arn:
        summary.paragraph(f"Registered model package: `{result.model_package_arn}`")
    summary.write()
    if result.timed_out:
        runner.warning(
            f"Execution {result.execution_arn} is still {result.status} after {inputs.timeout_seconds / 60:g} minutes; it was not stopped. Resume waiting with execution-arn: {result.execution_arn}",
            title="build-pipeline: still running",
        )


def failure(result: BuildResult) -> StageError | None:
    """The error to fail the step with, naming the failed step and its reason."""
    if result.status not in ("Failed", "Stopped"):
        return None
    failed = [s for s in result.steps if s.status == "Failed"]
    if failed:
        step = failed[0]
        return StageError(
            f"pipeline step {step.name} failed",
            step.failure_reason or result.failure_reason or "no reason given",
        )
    return StageError(
        f"pipeline execution {result.status.lower()}", result.failure_reason or "no reason given"
    )


def metric_rows(metrics: Any) -> list[list[str]]:
    """(metric, value) rows of an evaluation JSON, for the summary."""
    table = gates.metric_table(metrics)
    names = gates.short_names(table)
    return [[names[key], _format_number(value)] for key, value in table.items()]


def _format_number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _status_mark(status: str) -> str:
    marks = {"Succeeded": "✅", "Failed": "❌", "Stopped": "⏹️", "Executing": "⏳", "Starting": "⏳"}
    return f"{marks.get(status, '')} {status}".strip()


def _step_detail(step: StepRecord) -> str:
    if step.failure_reason:
        return step.failure_reason.splitlines()[0][:200]
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


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        stage_backend = backend(
            inputs.backend, inputs.region, log=runner.info, mask=runner.set_secret
        )
        # No group around the run: the wait's progress lines must stay visible in the log.
        result = run(inputs, stage_backend, runner.info)
        if inputs.dry_run:
            with runner.group("Pipeline definition"):
                runner.info(defn.canonical_json(result.definition))
            with runner.group("Definition diff against the deployed pipeline"):
                runner.info(result.definition_diff or "(no changes)")
        report(inputs, result, runner)
        error = failure(result)
        if error:
            raise error

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
