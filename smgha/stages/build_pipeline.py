"""build-pipeline: upsert a SageMaker pipeline, start it once per run attempt, watch it.

    Inputs (validated once, in load_inputs)  ->  run(inputs, backend, log)  ->  BuildResult
                                                   |
    main(): the edge: outputs, annotations, job summary, exit code

A timeout is not a failure: the execution goes on in SageMaker, its ARN is an output, and a
later job resumes waiting with `execution-arn`. What SageMaker Pipelines need beyond this
flow (their rules for names, roles and parameters, the start token, provenance tags, the
watch loop, step summaries) is in smgha.resources.pipelines.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smgha import definition as defn
from smgha.backends import Objects, Pipelines, StepRecord
from smgha.errors import InputError, StageError, shown
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    execution_role_arn,
    path_text,
    positive_number,
)
from smgha.resources import hosting_cost, pipelines, selective, step_costs
from smgha.resources.step_costs import SHIPPED_PRICING, BackendJobs, StepJobs
from smgha.run_artifacts import keep_execution_log
from smgha.runner import Runner
from smgha.s3_names import BUCKET_NAME
from smgha.stages import ARTIFACT_BUCKET_HINT, LOCAL_BUCKET, OutputSpec, run_stage, stage_backend
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
    *hosting_cost.INPUTS,  # price-table: the steps' costs
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
    *selective.INPUTS,
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

# Messages users act on: (problem, fix). The problem follows the input's name.
NOT_A_BUCKET = (
    "{bucket} is not an S3 bucket name",
    "Give the bare bucket name (no s3://, no prefix): 3-63 lower-case letters, digits, dots "
    "and hyphens, starting and ending with a letter or digit.",
)
BUCKET_REQUIRED = (
    "is required with backend: sagemaker when the definition is a function (the SDK uploads "
    "the pipeline's code to it)",
    f"Set default-bucket to {ARTIFACT_BUCKET_HINT}.",
)
NO_SUCH_BUCKET = (
    "the bucket {bucket!r} does not exist (PutObject answered NoSuchBucket); nothing was "
    "uploaded or created",
    f"Set default-bucket to {ARTIFACT_BUCKET_HINT}.",
)


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
    selection: selective.Selection = selective.EVERY_STEP  # from-step, source-execution-arn
    pricing: step_costs.Pricing = SHIPPED_PRICING  # price-table, region


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
    values = InputValues(runner, INPUTS)
    backend, region = backend_and_region(values)
    role_arn = execution_role_arn(values["role-arn"], backend)
    name = pipelines.checked_pipeline_name(values["pipeline-name"])
    # A 'module:function' or a JSON file: where a file leads is checked when it is read.
    source = path_text("definition", values["definition"])
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    execution_arn = values["execution-arn"]
    if execution_arn:
        pipelines.checked_execution_arn(execution_arn)
    return Inputs(
        backend=backend,
        definition=source,
        pipeline_name=name,
        role_arn=role_arn,
        region=region,
        # Resuming (execution-arn) builds nothing, and a definition file uploads nothing.
        default_bucket=_default_bucket(
            values["default-bucket"],
            backend,
            not execution_arn and defn.is_built_by_function(source, workspace),
        ),
        parameters=pipelines.pipeline_parameters(values["parameters"]),
        wait=values.flag("wait"),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
        execution_arn=execution_arn,
        metrics_property_file=pipelines.property_file_name(values["metrics-property-file"]),
        dry_run=values.flag("dry-run"),
        pricing=step_costs.Pricing(hosting_cost.checked_prices(values, backend, region), region),
        workspace=workspace,
        tags=pipelines.provenance_tags(env),
        run_identity=pipelines.run_identity(env),
        selection=selective.checked_inputs(values, name, resuming=bool(execution_arn)),
    )


def _default_bucket(bucket: str, backend: str, builds_from_function: bool) -> str:
    """The bucket a definition function builds with: the input, or on the local backend
    smgha-local. The sagemaker backend has no default (ARTIFACT_BUCKET_HINT says why): it
    is required when a function builds the definition (`builds_from_function`)."""
    if bucket and not re.fullmatch(BUCKET_NAME, bucket):
        problem, fix = NOT_A_BUCKET
        raise InputError("default-bucket", problem.format(bucket=shown(bucket)), fix)
    if bucket or backend == "local":
        return bucket or LOCAL_BUCKET
    if builds_from_function:
        raise InputError("default-bucket", *BUCKET_REQUIRED)
    return ""


# ---- run ------------------------------------------------------------------------------------


def run(
    inputs: Inputs,
    pipeline_api: Pipelines,
    objects: Objects,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BuildResult:
    if inputs.execution_arn:
        log(f"Resuming the wait on {inputs.execution_arn}")
        result = BuildResult(status="Executing", execution_arn=inputs.execution_arn)
        return _watch(inputs, pipeline_api, result, None, log, sleep, clock)

    log(f"Building the definition from {inputs.definition} (backend {inputs.backend})")
    if not inputs.dry_run:
        pipeline_api.prepare_to_run()
    definition, uploads = build_definition(inputs, log)
    parameters = defn.typed_parameters(definition, inputs.parameters)
    pipelines.check_code_exists(definition, uploads, objects)
    only = selective.execution_config(definition, inputs.selection, pipeline_api)
    steps = sum(1 for _ in defn.iter_steps(definition["Steps"]))
    log(f"Definition: {steps} steps, {len(defn.parameters(definition))} parameters; wiring checked")
    deployed = pipeline_api.get_pipeline_definition(inputs.pipeline_name)
    result = BuildResult(
        status="DryRun",
        definition=definition,
        definition_diff=defn.diff(deployed, definition, inputs.pipeline_name),
    )
    if inputs.dry_run:
        return result

    for uri, body in uploads.items():
        try:
            objects.put_object(uri, body)
        except StageError as error:
            # The first upload is the first write: a bucket that does not exist is the input's
            # fault, said before anything was created (S3's error code NoSuchBucket).
            if "NoSuchBucket" in error.detail:
                problem, fix = NO_SUCH_BUCKET
                problem = problem.format(bucket=inputs.default_bucket)
                raise InputError("default-bucket", problem, fix) from error
            raise
        log(f"Uploaded {uri} ({len(body)} bytes)")
    result.pipeline_arn, result.created = pipeline_api.upsert_pipeline(
        inputs.pipeline_name, definition, inputs.role_arn, inputs.tags
    )
    log(f"{'Created' if result.created else 'Updated'} pipeline {result.pipeline_arn}")
    token = pipelines.start_token(inputs.run_identity, inputs.pipeline_name, parameters, only)
    result.execution_arn = pipeline_api.start_execution(
        inputs.pipeline_name, parameters, token, only
    )
    result.status = "Executing"
    log(f"Started execution {result.execution_arn}{selective.note(only)}")
    if not inputs.wait:
        return result
    return _watch(inputs, pipeline_api, result, definition, log, sleep, clock)


def build_definition(
    inputs: Inputs, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The definition and the code objects building it uploads (captured, not sent), with
    the buckets and the wiring checked; `log` hears if it was cached. `smgha definition
    write` uses it too."""
    definition, uploads = defn.load_definition(
        inputs.definition,
        inputs.workspace,
        {
            "region": inputs.region,
            "role": inputs.role_arn,
            "pipeline_name": inputs.pipeline_name,
            "default_bucket": inputs.default_bucket,
        },
        log,
    )
    pipelines.check_upload_buckets(uploads, inputs.default_bucket)
    defn.check_wiring(definition)
    return definition, uploads


def _watch(
    inputs: Inputs,
    backend: Pipelines,
    result: BuildResult,
    definition: dict[str, Any] | None,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> BuildResult:
    """Wait for the execution (pipelines.watch_execution); read its metrics if it succeeded."""
    watched = pipelines.watch_execution(
        backend, result.execution_arn, inputs.timeout_seconds, log, sleep, clock
    )
    result.status = watched.status
    result.failure_reason = watched.failure_reason
    result.steps = watched.steps
    result.timed_out = watched.timed_out
    result.model_package_arn = watched.model_package_arn
    if watched.status == "Succeeded":
        if definition is None:  # resumed: the deployed definition is the one that ran
            definition = backend.get_pipeline_definition(inputs.pipeline_name) or {"Steps": []}
        result.metrics = pipelines.read_metrics(
            backend, result.execution_arn, result.steps, definition, inputs.metrics_property_file
        )
    return result


# ---- the edge -----------------------------------------------------------------------------


def report(
    inputs: Inputs, result: BuildResult, runner: Runner, jobs: StepJobs | None = None
) -> None:
    """Outputs, annotations and the job summary of a run(); `jobs`: the backend's step jobs."""
    runner.set_output("status", result.status)
    runner.set_output("execution-arn", result.execution_arn)
    runner.set_output("metrics", json.dumps(result.metrics) if result.metrics is not None else "")
    runner.set_output("model-package-arn", result.model_package_arn)
    summary = runner.summary.heading(f"build-pipeline: {inputs.pipeline_name}", 3)
    if result.status == "DryRun":
        summary.paragraph(pipelines.dry_run_note(inputs.backend, result.definition_diff))
        if result.definition_diff:
            summary.details("Definition diff", fenced_code(result.definition_diff, "diff"))
        summary.write()
        return
    summary.paragraph(
        f"Backend `{inputs.backend}` · execution `{result.execution_arn}` · **{result.status}**"
    )
    if result.steps:
        summary.table(["Step", "Status", "Duration", "Detail"], pipelines.step_rows(result.steps))
    step_costs.add_table(summary, result.steps, jobs, inputs.backend, inputs.pricing)
    rows = pipelines.metric_rows(result.metrics)
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
    return pipelines.execution_failure(result.status, result.steps, result.failure_reason)


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        # No group around the run: the wait's progress lines must stay visible in the log.
        result = run(inputs, chosen.pipelines, chosen.objects, runner.info)
        if inputs.dry_run:
            with runner.group("Pipeline definition"):
                runner.info(defn.canonical_json(result.definition))
            with runner.group("Definition diff against the deployed pipeline"):
                runner.info(result.definition_diff or "(no changes)")
        report(inputs, result, runner, BackendJobs(chosen))
        keep_execution_log(inputs, result, runner)  # artifact smgha-pipeline-log-<job id>
        error = failure(result)
        if error:
            raise error

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
