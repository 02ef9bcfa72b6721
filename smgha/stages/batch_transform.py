"""batch-transform: a transform job of one exact model package version over a dataset in S3,
its output checked with smoke-test's checks, and published only when they pass.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  Plan            (reads only)
                              run(plan, backend, log) ->  Outcome        (creates, waits, checks)
    main(): the edge: outputs, annotations, job summary, exit code

The job's rules and its publication are smgha/resources/transform.py, the checks
smgha/resources/transform_checks.py, the package checks smgha/resources/packages.py (shared
with deploy-endpoint). The job is named after the package version and a hash of its settings:
a re-run of the same inputs finds the job it started and starts no other. It writes under
<output-s3-uri>/<job>/, and <output-s3-uri>/_LATEST.json is pointed at that only when every
check passed: a failed check leaves the earlier output published (a batch target's rollback).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha import definition as defn
from smgha.backends import Backend
from smgha.errors import InputError, StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    execution_role_arn,
    model_package_version_arn,
    positive_number,
)
from smgha.progress import Waiting
from smgha.resources import hosting, packages, transform, transform_checks
from smgha.resources.transform_checks import CheckSettings, Dataset
from smgha.runner import Runner
from smgha.smoke.checks import Check
from smgha.stages import OutputSpec, run_stage, stage_backend

STAGE = "batch-transform"

INPUTS = (
    InputSpec("backend", "Where the job runs: sagemaker (AWS) or local (this machine).", "sagemaker"),
    REGION_INPUT,
    InputSpec("model-package-arn", "The exact model package version to transform with (never 'the latest').", required=True),
    InputSpec("role-arn", "Execution role of the SageMaker model (the job runs as it). Required for the sagemaker backend."),
    InputSpec("input-s3-uri", "The dataset: an S3 prefix whose objects are transformed (required)."),
    InputSpec("output-s3-uri", "Where the output goes: each job under <output-s3-uri>/<job>/, the published one named by <output-s3-uri>/_LATEST.json (required)."),
    InputSpec("instance-type", "Instance type of the job.", "ml.m5.large"),
    InputSpec("instance-count", "Instances of the job (1-100).", "1"),
    InputSpec("content-type", "Content type of the records sent to the model.", "text/csv"),
    InputSpec("split-type", "How objects are split into records: None, Line, RecordIO or TFRecord.", "Line"),
    InputSpec("batch-strategy", "MultiRecord (as many records a request as max-payload-mb holds) or SingleRecord; not sent with split-type None.", "MultiRecord"),
    InputSpec("max-payload-mb", "Largest request, in MB (1-100; times max-concurrent-transforms at most 100).", "6"),
    InputSpec("max-concurrent-transforms", "Parallel requests to each instance. Empty: the container's choice."),
    InputSpec("assemble-with", "Line (a newline after each output record) or None.", "Line"),
    InputSpec("accept", "Content type of the output.", "text/csv"),
    InputSpec("join-source", "Input: each output row is the input row with the prediction appended; None: the prediction alone.", "None"),
    InputSpec("input-filter", 'JSONPath of the part of each record the model gets, e.g. "$[1:]" (all columns but the first). Empty: all of it.'),
    InputSpec("output-filter", 'JSONPath of the part of each (joined) output row kept, e.g. "$[0,-1]". Empty: all of it.'),
    InputSpec("check-output", "Check the output with smoke-test's checks before publishing it (needs text/csv in and out, split-type and assemble-with Line).", "true", is_bool=True),
    InputSpec("task", "What the model predicts: binary-classification or regression (what a label is).", "binary-classification"),
    InputSpec("label-column", "none, or first when each input row's first value is its label (keep it from the model with input-filter: \"$[1:]\").", "none"),
    InputSpec("min-accuracy", "Fail below this accuracy on the labelled rows. Needs labels; task: binary-classification."),
    InputSpec("max-rmse", "Fail when the RMSE on the labelled rows exceeds this. Needs labels; task: regression."),
    InputSpec("max-mae", "Fail when the MAE on the labelled rows exceeds this. Needs labels; task: regression."),
    InputSpec("prediction-range", "'low,high': every prediction must be a finite number in this range. Default: 0,1 with task: binary-classification."),
    InputSpec("allow-unapproved", "Transform with a package that is not Approved.", "false", is_bool=True),
    InputSpec("timeout-minutes", "How long to wait for the job; it is stopped after that.", "60"),
    InputSpec("dry-run", "Show the transform job that would be created; create nothing.", "false", is_bool=True),
)  # fmt: skip

OUTPUTS = (
    OutputSpec("transform-job-name", "The transform job (the same one again for the same inputs)."),
    OutputSpec("output-location", "Where the job wrote its output: <output-s3-uri>/<job>/."),
    OutputSpec("published", "true when the output passed its checks and _LATEST.json names it."),
    OutputSpec("checks", "The check results, as JSON: [{name, passed, detail}]."),
    OutputSpec("status", "published, not-published (a check failed) or dry-run."),
)


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    package_arn: str
    role_arn: str
    settings: transform.Settings
    checks: CheckSettings | None  # None: check-output: false
    allow_unapproved: bool
    timeout_seconds: float
    dry_run: bool


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(values)
    settings = transform.checked_settings(values)
    return Inputs(
        backend=name,
        region=region,
        package_arn=model_package_version_arn("model-package-arn", values["model-package-arn"]),
        role_arn=execution_role_arn(values["role-arn"], name),
        settings=settings,
        checks=transform_checks.checked_settings(
            values,
            settings.content_type,
            settings.accept,
            settings.split_type,
            settings.assemble_with,
            settings.input_filter,
        ),
        allow_unapproved=values.flag("allow-unapproved"),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
        dry_run=values.flag("dry-run"),
    )


# ---- plan: read the package, the job, the dataset and what is published; create nothing ----------


@dataclass(frozen=True)
class Plan:
    inputs: Inputs
    job: str
    model_request: dict[str, Any] | None  # None: the model exists
    job_request: dict[str, Any]
    existing: dict[str, Any] | None  # DescribeTransformJob of the job, when it exists
    dataset: Dataset | None  # the input's rows, when the output is checked
    label_bounds: dict[str, float | None]
    published_before: str  # the job _LATEST.json named before ('' for none)


def plan(inputs: Inputs, backend: Backend) -> Plan:
    settings = inputs.settings
    package = packages.servable_package(
        inputs.package_arn, inputs.allow_unapproved, backend.registry, backend.hosting
    )
    model = packages.model_name(package)
    model_request = None
    if backend.hosting.describe_model(model) is None:
        model_request = hosting.model_request(model, inputs.package_arn, inputs.role_arn)
    job = settings.job_name(package)
    objects = backend.objects.list_objects(settings.input_uri)
    if not objects:
        raise InputError(
            "input-s3-uri",
            f"no object has a key starting with {settings.input_uri}",
            "Upload the dataset first, or check the URI.",
        )
    dataset, bounds = None, {}
    if inputs.checks:
        dataset = transform_checks.read_dataset(objects, backend.objects.read_object, inputs.checks)
        bounds = transform_checks.bounds(inputs.checks, dataset)
    return Plan(
        inputs=inputs,
        job=job,
        model_request=model_request,
        job_request=settings.to_request(job, model),
        existing=backend.transforms.describe_transform_job(job),
        dataset=dataset,
        label_bounds=bounds,
        published_before=_published(backend, settings),
    )


def _published(backend: Backend, settings: transform.Settings) -> str:
    pointer = transform.pointer_uri(settings)
    if backend.objects.missing_objects([pointer]):
        return ""
    return str((backend.objects.read_json(pointer) or {}).get("TransformJobName", ""))


# ---- run: the model, the job, the wait, the checks, the publication -------------------------------


@dataclass(frozen=True)
class Outcome:
    record: dict[str, Any]  # DescribeTransformJob of the finished job
    started: bool  # this run started the job (else it found it)
    checks: list[Check]
    published: bool


def run(
    planned: Plan,
    backend: Backend,
    log: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    settings, job = planned.inputs.settings, planned.job
    existing = planned.existing
    if existing and existing["TransformJobStatus"] in ("Failed", "Stopped"):
        raise StageError(
            f"transform job {job} is {existing['TransformJobStatus']}",
            f"{existing.get('FailureReason') or 'no reason given'}. A job's name cannot be used twice and these inputs name this one: fix the cause and change an input (e.g. the dataset's prefix or output-s3-uri) to run again.",
        )  # fmt: skip
    if planned.model_request:
        backend.hosting.create_model(planned.model_request)
        log(f"Created model {planned.model_request['ModelName']}")
    if existing is None:
        backend.transforms.create_transform_job(planned.job_request)
        log(f"Started transform job {job} over {settings.input_uri}")
    else:
        log(f"Transform job {job} exists ({existing['TransformJobStatus']}): not starting another")
    record = _wait(backend, job, planned.inputs.timeout_seconds, log, clock, sleep)
    if record["TransformJobStatus"] != "Completed":
        raise StageError(
            f"transform job {job} {record['TransformJobStatus']}",
            f"{record.get('FailureReason') or 'no reason given'}; nothing was published",
        )
    output = settings.job_output(job)
    checks: list[Check] = []
    if planned.inputs.checks and planned.dataset:
        checks = transform_checks.check(
            planned.dataset,
            backend.objects.list_objects(output),
            backend.objects.read_object,
            planned.inputs.checks,
            planned.label_bounds,
            job,
            settings.join_source == "Input",
        )
    published = all(check.passed for check in checks)
    if published:
        document = transform.pointer_document(job, output, planned.inputs.package_arn)
        backend.objects.put_object(transform.pointer_uri(settings), document)
        log(f"Published {output} ({transform.pointer_uri(settings)})")
    return Outcome(record, existing is None, checks, published)


def _wait(
    backend: Backend,
    job: str,
    timeout_seconds: float,
    log: Callable[[str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """The job's record once it ended; stopped (StopTransformJob) at the timeout."""
    deadline = clock() + timeout_seconds
    waiting = Waiting(f"transform job {job}", log, clock)
    poll = backend.transforms.poll_seconds
    while True:
        record = backend.transforms.describe_transform_job(job) or {}
        status = record.get("TransformJobStatus", "missing")
        if status in transform.TERMINAL:
            return record
        if clock() >= deadline:
            backend.transforms.stop_transform_job(job)
            raise StageError(
                f"transform job {job} timed out",
                f"still {status} after {timeout_seconds / 60:g} min: stopped (StopTransformJob); nothing was published. Raise timeout-minutes, or max-concurrent-transforms and instance-count.",
            )  # fmt: skip
        waiting.tick(status)
        sleep(waiting.pause(poll))


# ---- the edge -------------------------------------------------------------------------------------


def report(planned: Plan, outcome: Outcome | None, runner: Runner) -> None:
    settings = planned.inputs.settings
    output = settings.job_output(planned.job)
    status = (
        "dry-run" if outcome is None else ("published" if outcome.published else "not-published")
    )
    checks = outcome.checks if outcome else []
    runner.set_output("transform-job-name", planned.job)
    runner.set_output("output-location", output)
    runner.set_output("published", "true" if outcome and outcome.published else "false")
    runner.set_output("checks", json.dumps([check.as_dict() for check in checks]))
    runner.set_output("status", status)
    summary = runner.summary.heading(f"batch-transform: {planned.job}", 3)
    marks = {
        "published": "✅ published",
        "not-published": "❌ not published",
        "dry-run": "🔍 dry run",
    }
    found = " · the job existed: not started again" if outcome and not outcome.started else ""
    summary.paragraph(f"**{marks[status]}**{found}")
    summary.table(
        ["", ""],
        [
            ["Model package", f"`{planned.inputs.package_arn}`"],
            ["Input", f"`{settings.input_uri}` ({settings.content_type}, split {settings.split_type}, {settings.batch_strategy or 'no batch strategy'})"],
            ["Output", f"`{output}` ({settings.accept}, assemble {settings.assemble_with}, join {settings.join_source})"],
            ["Published before", f"`{planned.published_before or '–'}`"],
            ["Published now", f"`{planned.job if outcome and outcome.published else planned.published_before or '–'}`"],
        ],
    )  # fmt: skip
    if checks:
        summary.table(
            ["Check", "Result", "Detail"],
            [[c.name, "✅" if c.passed else "❌", c.detail] for c in checks],
        )
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        planned = plan(inputs, chosen)
        if inputs.dry_run:
            with runner.group(f"Transform job {planned.job}"):
                runner.info(defn.canonical_json(planned.job_request))
            report(planned, None, runner)
            return
        outcome = run(planned, chosen, runner.info)
        report(planned, outcome, runner)
        failed = [check for check in outcome.checks if not check.passed]
        if failed:
            kept = planned.published_before or "no earlier output"
            raise StageError(
                "output checks failed",
                f"{'; '.join(f'{c.name}: {c.detail}' for c in failed)}. Not published: {transform.pointer_uri(inputs.settings)} still names {kept}.",
            )

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
