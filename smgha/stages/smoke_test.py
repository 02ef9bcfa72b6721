"""smoke-test: send real payloads to an endpoint, check every answer, load-test it, report,
and on failure roll the endpoint back to its previous endpoint config.

    Inputs (load_inputs: every input and both files read and checked)
        ->  preflight(...)              the endpoint exists and is InService
        ->  send(...)                   the functional pass, then the load test (an async
                                        endpoint's payloads: submitted, collected; async_passes.py)
        ->  evaluate(...) -> [Check]    pure
        ->  rollout.revert(...)         only when a check failed and it was asked for
    main(): the edge: report file, outputs, annotations, job summary, exit code

The parts before rollback are in smgha/smoke/, pure of the runner; this module sequences
them. Nothing is sent before every input, the payload file and the endpoint have been
checked. Both passes share one deadline (timeout-minutes); the wait for a rollback gets its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smgha.backends import Hosting, Objects
from smgha.errors import InputError, StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    local_state_folder,
    positive_number,
    s3_prefix,
    whole_number,
    workspace_file,
)
from smgha.progress import Waiting
from smgha.resources import rollout
from smgha.resources.names import sagemaker_name
from smgha.run_artifacts import SMOKE_TEST, save_json
from smgha.runner import Runner
from smgha.smoke import async_passes
from smgha.smoke.checks import (
    evaluate,
    fraction,
    label_bounds,
    non_negative,
    parse_prediction_range,
)
from smgha.smoke.functional import accuracy, regression_errors
from smgha.smoke.passes import SmokePlan, preflight, send
from smgha.smoke.payloads import (
    REGRESSION,
    TASKS,
    parse_payloads,
    read_text,
    request_content_type,
    with_expected,
)
from smgha.smoke.report import (
    EXAMPLES,
    SmokeResult,
    failure,
    failure_table,
    first_request_text,
    load_table,
    output_number,
    report_document,
    verdict,
)
from smgha.stages import OutputSpec, run_stage, stage_backend
from smgha.summary import Summary

STAGE = "smoke-test"

INPUTS = (
    InputSpec(
        "backend", "Where the endpoint is: sagemaker (AWS) or local (this machine).", "sagemaker"
    ),
    REGION_INPUT,
    InputSpec("endpoint-name", "Name of the endpoint to test.", required=True),
    InputSpec(
        "payloads",
        'File of real requests, relative to the workspace. .csv: one request row per line. .jsonl or .json: one JSON object per line, {"features": [...], "label": 0 or 1 (optional), "expected": 0.73 (optional)}.',
        required=True,
    ),
    InputSpec(
        "content-type",
        'text/csv or application/json (sent as {"instances": [features]}); the same type is asked for in the response. Defaults to text/csv for .csv payloads, application/json for .jsonl/.json.',
    ),
    InputSpec(
        "task",
        "What the model predicts, which says what a label is: binary-classification (a probability; labels 0 or 1) or regression (a number; labels the true values).",
        "binary-classification",
    ),
    InputSpec(
        "label-column",
        "CSV payloads: none, or first when the first value of each row is its label (0/1, or the true value with task: regression; removed before sending).",
        "none",
    ),
    InputSpec(
        "expected",
        "File of expected predictions, one number per line in the order of the payload rows.",
    ),
    InputSpec(
        "tolerance",
        "Largest allowed difference between a prediction and its expected value.",
        "1e-4",
    ),
    InputSpec(
        "min-accuracy",
        "Fail below this accuracy on the labelled rows (a probability >= 0.5 means class 1). Needs labels; task: binary-classification.",
    ),
    InputSpec(
        "max-rmse",
        "Fail when the root mean squared error on the labelled rows exceeds this. Needs labels; task: regression.",
    ),
    InputSpec(
        "max-mae",
        "Fail when the mean absolute error on the labelled rows exceeds this. Needs labels; task: regression.",
    ),
    InputSpec(
        "prediction-range",
        "'low,high': every prediction must be a finite number in this closed range. Default: 0,1 with task: binary-classification, any finite number with task: regression.",
    ),
    InputSpec(
        "requests",
        "Calls in the load test, sending the payload rows round-robin; 0 skips the load test.",
        "200",
    ),
    InputSpec("concurrency", "Threads sending the load test's calls (1-64).", "4"),
    InputSpec(
        "max-p99-ms", "Fail when the load test's 99th percentile latency exceeds this.", "500"
    ),
    InputSpec(
        "max-error-rate",
        "Fail when the share of load-test calls not answered with HTTP 200 exceeds this (0-1).",
        "0.0",
    ),
    InputSpec(
        "report-path",
        "Where to write the JSON report, relative to the workspace.",
        "smoke-test-report.json",
    ),
    InputSpec(
        "rollback-endpoint-config",
        "On failure, update the endpoint back to this endpoint config (e.g. deploy-endpoint's previous-endpoint-config-name) and wait until it is InService.",
    ),
    InputSpec(
        "timeout-minutes",
        "Bound on sending (both passes together), and separately on the wait for a rollback.",
        "10",
    ),
    async_passes.INPUT,
)

OUTPUTS = (
    OutputSpec("passed", "true when every check passed, else false."),
    OutputSpec("report-path", "Absolute path of the JSON report."),
    OutputSpec(
        "p50-ms", "Median latency of the load test in milliseconds ('' when it did not run)."
    ),
    OutputSpec(
        "p99-ms",
        "99th percentile latency of the load test in milliseconds ('' when it did not run).",
    ),
    OutputSpec(
        "first-request-ms",
        "Latency of the functional pass's first request in milliseconds: a serverless endpoint that scaled to zero pays its cold start here (the summary shows it beside the warm median).",
    ),
    OutputSpec(
        "error-rate",
        "Share of load-test calls not answered with HTTP 200, 0-1 ('' when it did not run).",
    ),
    OutputSpec(
        "accuracy",
        "Accuracy on the labelled payload rows ('' without labels, or with task: regression).",
    ),
    OutputSpec("rmse", "Root mean squared error on the labelled rows (task: regression; else '')."),
    OutputSpec("mae", "Mean absolute error on the labelled rows (task: regression; else '')."),
    OutputSpec(
        "rolled-back", "true when the endpoint was rolled back to rollback-endpoint-config."
    ),
    OutputSpec(
        "invocation", "real-time, or async: the config is asynchronous (InvokeEndpointAsync)."
    ),
)

LABEL_COLUMNS = ("none", "first")
# The inputs that bound a score on the labelled rows: which ones apply depends on the task.
LABEL_BOUND_INPUTS = ("min-accuracy", "max-rmse", "max-mae")
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 64
# A rollback polls at 1, 2, 4 ... up to 15 s: a local endpoint is back in seconds, and on
# SageMaker a few extra describes in the first minute cost nothing.
ROLLBACK_POLLING = rollout.Polling(first=1.0, most=15.0)

# What to do about a refused input or an endpoint not ready: the hints of the InputErrors below.
REPORT_DIRECTORY_HINT = "Name a file, e.g. smoke-test.json."


# ---- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    plan: SmokePlan  # what is sent to the endpoint and how the answers are judged
    report_path: Path
    rollback_config: str
    workspace: Path
    async_input_uri: str = ""  # '' on an async endpoint: under its S3OutputPath


def load_inputs(runner: Runner) -> Inputs:
    """Read and check every input and both files; raise InputError before anything is sent."""
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(values)
    endpoint = sagemaker_name("endpoint-name", values["endpoint-name"])
    rollback_config = values["rollback-endpoint-config"]
    if rollback_config:
        sagemaker_name("rollback-endpoint-config", rollback_config)
    workspace = Path(runner.env.get("GITHUB_WORKSPACE") or os.getcwd())
    state_folder = local_state_folder(name)
    payload_path = workspace_file("payloads", values["payloads"], workspace, state_folder)
    label_column = choice("label-column", values["label-column"], LABEL_COLUMNS)
    task = choice("task", values["task"], TASKS)
    payloads = parse_payloads(
        payload_path, read_text("payloads", payload_path, "payload file"), label_column, task
    )
    if values["expected"]:
        expected_path = workspace_file("expected", values["expected"], workspace, state_folder)
        payloads = with_expected(
            payloads, expected_path, read_text("expected", expected_path, "expected file")
        )
    content_type = request_content_type(values["content-type"], payload_path)
    bounds = label_bounds(task, {n: values[n] for n in LABEL_BOUND_INPUTS}, payloads)
    report_path = workspace_file("report-path", values["report-path"], workspace, state_folder)
    if report_path.is_dir():
        raise InputError("report-path", f"{report_path} is a directory", REPORT_DIRECTORY_HINT)
    plan = SmokePlan(
        endpoint_name=endpoint,
        payloads=payloads,
        content_type=content_type,
        prediction_range=parse_prediction_range(values["prediction-range"], task),
        tolerance=non_negative("tolerance", values["tolerance"]),
        task=task,
        min_accuracy=bounds["min-accuracy"],
        max_rmse=bounds["max-rmse"],
        max_mae=bounds["max-mae"],
        requests=whole_number("requests", values["requests"], 0, MAX_REQUESTS, "E.g. requests: 4"),
        concurrency=whole_number(
            "concurrency", values["concurrency"], 1, MAX_CONCURRENCY, "E.g. concurrency: 4"
        ),
        max_p99_ms=positive_number("max-p99-ms", values["max-p99-ms"]),
        max_error_rate=fraction("max-error-rate", values["max-error-rate"]),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
    )
    async_input = s3_prefix("async-input-s3-uri", values["async-input-s3-uri"])
    return Inputs(name, region, plan, report_path, rollback_config, workspace, async_input)


# ---- run -----------------------------------------------------------------------------------


def run(
    inputs: Inputs,
    endpoints: Hosting,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    objects: Objects | None = None,  # where an async endpoint's payloads are uploaded
) -> SmokeResult:
    plan = inputs.plan
    where = f"in {inputs.region} ({inputs.backend})"
    record = preflight(endpoints, plan.endpoint_name, inputs.rollback_config, where)
    queue = async_passes.async_queue(endpoints, objects, record, inputs.async_input_uri, sleep)
    started = _now()
    passes = send(endpoints, plan, record, log, clock, queue)
    result = SmokeResult(
        record,
        started,
        "",
        passes.functional,
        passes.load,
        passes.load_skipped,
        evaluate(plan, passes),
        accuracy(plan.payloads, passes.functional) if plan.task != REGRESSION else None,
        regression_errors(plan.payloads, passes.functional) if plan.task == REGRESSION else None,
        invocation="async" if queue else "real-time",
    )
    if not result.passed and inputs.rollback_config:
        log(f"Rolling {plan.endpoint_name} back to endpoint config {inputs.rollback_config}")
        result.rollback = rollout.revert(
            endpoints,
            plan.endpoint_name,
            inputs.rollback_config,
            plan.timeout_seconds,
            ROLLBACK_POLLING,
            log,
            Waiting(f"the rollback of {plan.endpoint_name}", log, clock),
            sleep,
            clock,
        )
    result.ended = _now()
    return result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ---- the edge ------------------------------------------------------------------------------


def report(inputs: Inputs, result: SmokeResult, runner: Runner) -> None:
    """The report file, outputs, log lines and job summary of a finished run()."""
    for check in result.checks:  # first: the log shows them even if the file cannot be written
        runner.info(f"{'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    plan = inputs.plan
    document = report_document(result, plan, inputs.backend, inputs.region)
    try:
        inputs.report_path.parent.mkdir(parents=True, exist_ok=True)
        inputs.report_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise StageError("cannot write the report", f"{inputs.report_path}: {error}") from None
    runner.info(f"Report: {inputs.report_path}")
    save_json(runner, SMOKE_TEST, inputs.report_path.name, document)  # artifact smgha-smoke-test-*
    load = result.load
    runner.set_output("passed", "true" if result.passed else "false")
    runner.set_output("report-path", str(inputs.report_path))
    runner.set_output("p50-ms", output_number(load.p50_ms if load else None))
    runner.set_output("p99-ms", output_number(load.p99_ms if load else None))
    first_ms, warm_ms = result.functional.first_and_warm_ms()
    runner.set_output("first-request-ms", output_number(first_ms))
    runner.set_output("error-rate", output_number(load.error_rate if load else None, 4))
    runner.set_output("accuracy", output_number(result.accuracy, 4))
    errors = result.regression
    runner.set_output("rmse", output_number(errors.rmse if errors else None, 6))
    runner.set_output("mae", output_number(errors.mae if errors else None, 6))
    runner.set_output("rolled-back", "true" if document["rolled_back"] else "false")
    runner.set_output("invocation", result.invocation)

    summary = runner.summary.heading(f"smoke-test: {plan.endpoint_name} {verdict(result)}", 3)
    summary.paragraph(
        f"{result.functional.rows} payload rows from `{plan.payloads.path.name}` as `{plan.content_type}` · "
        f"endpoint config `{result.endpoint.get('EndpointConfigName', '?')}` · backend `{inputs.backend}` · {result.invocation}"
    )
    summary.table(
        ["Check", "Result", "Detail"],
        [[c.name, "✅" if c.passed else "❌", c.detail] for c in result.checks],
    )
    summary.paragraph(first_request_text(first_ms, warm_ms))
    if load:
        summary.heading("Load test", 4).table(*load_table(load))
        summary.table(
            ["Variant", "Responses"], [[name, str(n)] for name, n in load.by_variant.items()]
        )
    else:
        summary.paragraph(f"Load test skipped: {result.load_skipped}.")
    failures = result.functional.failures
    if failures:
        table = Summary(runner).table(*failure_table(failures)).stringify()
        summary.details(
            f"Failed rows ({len(failures)}, first {min(len(failures), EXAMPLES)} shown)",
            table.strip(),
        )
    if result.rollback:
        mark = "↩️ Rolled back" if result.rollback.done else "⚠️ Rollback failed"
        summary.paragraph(f"{mark} to `{result.rollback.config}`: {result.rollback.detail}")
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        result = run(inputs, chosen.hosting, runner.info, objects=chosen.objects)
        if result.rollback and result.rollback.done:
            runner.warning(
                f"Rolled endpoint {inputs.plan.endpoint_name} back to endpoint config {result.rollback.config} ({result.rollback.detail}) after the smoke test failed.",
                title=f"{STAGE}: rolled back",
            )
        report(inputs, result, runner)
        error = failure(result, inputs.report_path)
        if error:
            raise error

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
