"""shadow-test: compare an endpoint's shadow variant with its production variant on real
traffic, gate on the comparison, and promote the shadow when it passes.

    Inputs (load_inputs: every input and the payload file read and checked)
        ->  live_shadow(...)          the endpoint, its production and shadow variants, capture
        ->  replay(...)               optional: the payload rows sent, so there is traffic
        ->  collect(...)              pairs of answers until min-samples (or timeout-minutes)
        ->  shadow_comparison.compare -> metrics;  gates.verdict(rules, metrics)
        ->  promote(...)              with promote: true and a pass: the shadow's package
                                      becomes the production variant, with no shadow
    main(): the edge: report file, outputs, job summary, exit code

The shadow is deployed by deploy-endpoint (shadow-model-package-arn, with data capture: the
shadow's answers are only there, smgha/resources/shadow.py). The pairs come from both
variants' capture files, the latencies and errors from each variant's metrics
(smgha/resources/shadow_comparison.py). The rules have register-and-gate's grammar
(smgha/gates.py), over the report's metrics, e.g. `shadow.agreement >= 0.99` and
`shadow.p99_ms <= production.p99_ms * 1.2`. The promotion is deploy-endpoint's blue/green
update (smgha/resources/deployment.py): all at once, with rollback alarms.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha import gates
from smgha.backends import Backend
from smgha.errors import InputError, StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    local_state_folder,
    positive_number,
    whole_number,
    workspace_file,
)
from smgha.progress import Waiting
from smgha.resources import rollout, shadow_comparison, shadow_promotion
from smgha.resources.names import sagemaker_name
from smgha.runner import Runner
from smgha.smoke.functional import invoke
from smgha.smoke.payloads import (
    TASKS,
    Payloads,
    encode,
    parse_payloads,
    read_text,
    request_content_type,
)
from smgha.stages import OutputSpec, run_stage, stage_backend

STAGE = "shadow-test"
MAX_SAMPLES = 100_000
POLL_SECONDS = 5.0  # between two reads of the capture files while pairs are missing

INPUTS = (
    InputSpec(
        "backend", "Where the endpoint is: sagemaker (AWS) or local (this machine).", "sagemaker"
    ),
    REGION_INPUT,
    InputSpec(
        "endpoint-name",
        "The endpoint with a shadow variant (deploy-endpoint's shadow-model-package-arn).",
        required=True,
    ),
    InputSpec(
        "rules",
        "Gate rules, one per line, in register-and-gate's grammar over the report's metrics: e.g. 'shadow.agreement >= 0.99', 'shadow.p99_ms <= production.p99_ms * 1.2', 'shadow.accuracy >= production.accuracy'. Metrics: pairs, shadow.agreement, shadow.mean_score_difference, shadow.max_score_difference, <variant>.p50_ms, .p99_ms, .errors, .error_rate, .invocations and, with labelled payloads, .accuracy or .rmse (variant: production or shadow).",
        required=True,
    ),
    InputSpec(
        "payloads",
        "Optional file of requests to send first, relative to the workspace (smoke-test's format: .csv rows or .jsonl objects, labels optional), so that the shadow gets traffic. Empty: only live traffic is compared.",
    ),
    InputSpec(
        "content-type",
        "text/csv or application/json for the payloads. Defaults from the payload file's suffix.",
    ),
    InputSpec(
        "task",
        "binary-classification (agreement: both on the same side of 0.5; labels 0 or 1) or regression (labels the true values).",
        "binary-classification",
    ),
    InputSpec(
        "label-column", "CSV payloads: none, or first when the first value is the label.", "none"
    ),
    InputSpec("min-samples", "Pairs of answers to compare before the rules are judged.", "100"),
    InputSpec(
        "timeout-minutes",
        "How long to wait for min-samples pairs (captured files reach S3 within minutes on SageMaker).",
        "15",
    ),
    InputSpec(
        "promote",
        "With a pass, deploy the shadow's package as the production variant, without a shadow (blue/green, all at once, rollback alarms).",
        "false",
        is_bool=True,
    ),
    InputSpec(
        "wait-seconds",
        "Promotion: time the alarms are watched after the traffic moved to the new fleet.",
        "300",
    ),
    InputSpec(
        "max-latency-ms", "Promotion: threshold of the model-latency rollback alarm.", "1000"
    ),
    InputSpec(
        "report-path",
        "Where to write the JSON report, relative to the workspace.",
        "shadow-test-report.json",
    ),
)

OUTPUTS = (
    OutputSpec("verdict", "pass or fail: every rule held, or not."),
    OutputSpec("pairs", "Pairs of answers compared."),
    OutputSpec("agreement", "Share of predictions on the same side of 0.5 ('' for regression)."),
    OutputSpec("report-path", "Absolute path of the JSON report."),
    OutputSpec("promoted", "true when the shadow's package became the production variant."),
    OutputSpec("shadow-model-package-arn", "The shadow's model package."),
    OutputSpec("production-model-package-arn", "The package production served before."),
)


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    endpoint: str
    rules: tuple[gates.Rule, ...]
    payloads: Payloads | None
    content_type: str
    task: str
    min_samples: int
    timeout_seconds: float
    promote: bool
    wait_seconds: int
    max_latency_ms: float
    report_path: Path


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(values)
    rules = tuple(gates.parse_rules(runner.get_multiline_input("rules")))
    if not rules:
        raise InputError("rules", "holds no rule", gates.RULE_HELP)
    shadow_comparison.check_rule_metrics([n for r in rules for n in (r.metric, r.reference) if n])
    workspace = Path(runner.env.get("GITHUB_WORKSPACE") or os.getcwd())
    state_folder = local_state_folder(name)
    task = choice("task", values["task"], TASKS)
    payloads, content_type = None, ""
    if values["payloads"]:
        path = workspace_file("payloads", values["payloads"], workspace, state_folder)
        label_column = choice("label-column", values["label-column"], ("none", "first"))
        text = read_text("payloads", path, "payload file")
        payloads = parse_payloads(path, text, label_column, task)
        content_type = request_content_type(values["content-type"], path)
    report_path = workspace_file("report-path", values["report-path"], workspace, state_folder)
    if report_path.is_dir():
        raise InputError("report-path", f"{report_path} is a directory", "Name a file.")
    return Inputs(
        backend=name,
        region=region,
        endpoint=sagemaker_name("endpoint-name", values["endpoint-name"]),
        rules=rules,
        payloads=payloads,
        content_type=content_type,
        task=task,
        min_samples=whole_number("min-samples", values["min-samples"], 1, MAX_SAMPLES),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
        promote=values.flag("promote"),
        wait_seconds=whole_number(
            "wait-seconds", values["wait-seconds"], 0, rollout.MAX_WAIT_SECONDS
        ),
        max_latency_ms=positive_number("max-latency-ms", values["max-latency-ms"]),
        report_path=report_path,
    )


# ---- run ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    live: shadow_promotion.LiveShadow
    comparison: shadow_comparison.Comparison
    decision: gates.GateDecision
    started: dt.datetime
    promoted: str = ""  # the promotion's outcome: deployed, unchanged, rolled-back ('': none)


def run(
    inputs: Inputs,
    chosen: Backend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> Outcome:
    """`clock` times the wait; `wall` is the UTC time the capture records are read against."""
    live = shadow_promotion.live_shadow(chosen.hosting, inputs.endpoint)
    started = wall() - dt.timedelta(seconds=1)
    labels: dict[str, float] = {}
    if inputs.payloads:
        labels = replay(inputs, chosen, log, clock)
    comparison = collect(inputs, chosen, live, started, labels, log, (sleep, clock, wall))
    decision = gates.verdict(list(inputs.rules), comparison.metrics, None, manual_approval=False)
    outcome = Outcome(live, comparison, decision, started)
    if inputs.promote and not decision.failures:
        log(f"Promoting {live.shadow_package_arn} to the production variant of {inputs.endpoint}")
        outcome.promoted = shadow_promotion.promote(
            chosen, live, inputs.wait_seconds, inputs.max_latency_ms, log
        )
    return outcome


def replay(
    inputs: Inputs, chosen: Backend, log: Callable[[str], None], clock: Callable[[], float]
) -> dict[str, float]:
    """Send every payload row once; the labels by request body (as data capture shows it)."""
    assert inputs.payloads is not None
    rows = inputs.payloads.rows
    log(f"Sending {len(rows)} payload rows to {inputs.endpoint}")
    labels: dict[str, float] = {}
    failed = 0
    for row in rows:
        body = encode(row, inputs.content_type)
        answer = invoke(chosen.hosting, inputs.endpoint, body, inputs.content_type, clock)
        failed += answer.status != 200
        if row.label is not None:
            labels[body.decode()] = row.label
    log(f"Sent {len(rows)} rows: {len(rows) - failed} answered 200")
    return labels


def collect(
    inputs: Inputs,
    chosen: Backend,
    live: shadow_promotion.LiveShadow,
    started: dt.datetime,
    labels: dict[str, float],
    log: Callable[[str], None],
    timing: tuple[Callable[[float], None], Callable[[], float], Callable[[], dt.datetime]],
) -> shadow_comparison.Comparison:
    """Read both variants' captured answers until min-samples pairs (or the timeout), then
    compare them with each variant's statistics over the window. `timing`: run()'s sleep,
    clock and wall."""
    sleep, clock, wall = timing
    waiting = Waiting(f"{inputs.min_samples} pairs of answers", log, clock)
    deadline = clock() + inputs.timeout_seconds
    names = (live.production, live.shadow)
    while True:
        now = wall()
        production, shadow = (
            shadow_comparison.captured_answers(
                chosen.objects,
                shadow_comparison.capture_prefixes(
                    live.capture_uri, inputs.endpoint, name, started, now
                ),
                started,
            )
            for name in names
        )
        statistics = chosen.hosting.variant_statistics(inputs.endpoint, list(names), started, now)
        comparison = shadow_comparison.compare(
            production, shadow, statistics, names, inputs.task, labels
        )
        if len(comparison.pairs) >= inputs.min_samples:
            return comparison
        if clock() >= deadline:
            raise StageError(
                "not enough pairs",
                f"{len(comparison.pairs)} of min-samples {inputs.min_samples} pairs of answers after {inputs.timeout_seconds / 60:g} minutes ({comparison.unpaired} answers without a partner); the shadow was not judged",
            )
        waiting.tick(f"{len(comparison.pairs)} pairs so far")
        sleep(waiting.pause(POLL_SECONDS))


# ---- the edge -----------------------------------------------------------------------------------


def report(inputs: Inputs, outcome: Outcome, runner: Runner) -> None:
    comparison, decision, live = outcome.comparison, outcome.decision, outcome.live
    passed = not decision.failures
    document: dict[str, Any] = {
        "endpoint": inputs.endpoint,
        "backend": inputs.backend,
        "started": outcome.started.isoformat(timespec="seconds"),
        "production_model_package_arn": live.production_package_arn,
        "shadow_model_package_arn": live.shadow_package_arn,
        **shadow_comparison.report_document(comparison, (live.production, live.shadow)),
        "rules": [result.as_dict() for result in decision.results],
        "verdict": "pass" if passed else "fail",
        "promoted": outcome.promoted,
    }
    try:
        inputs.report_path.parent.mkdir(parents=True, exist_ok=True)
        inputs.report_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise StageError("cannot write the report", f"{inputs.report_path}: {error}") from None
    metrics = comparison.metrics
    runner.set_output("verdict", document["verdict"])
    runner.set_output("pairs", str(len(comparison.pairs)))
    agreement = metrics.get("shadow.agreement")
    runner.set_output("agreement", "" if agreement is None else f"{agreement:.4g}")
    runner.set_output("report-path", str(inputs.report_path))
    runner.set_output("promoted", "true" if outcome.promoted == "deployed" else "false")
    runner.set_output("shadow-model-package-arn", live.shadow_package_arn)
    runner.set_output("production-model-package-arn", live.production_package_arn)
    mark = "✅ pass" if passed else "❌ fail"
    summary = runner.summary.heading(f"shadow-test: {inputs.endpoint} {mark}", 3)
    summary.paragraph(
        f"{len(comparison.pairs)} pairs · {comparison.unpaired} unpaired · production `{live.production_package_arn}` · shadow `{live.shadow_package_arn}`"
    )
    summary.table(["", "Production", "Shadow"], shadow_comparison.summary_rows(metrics))
    summary.table(
        ["Rule", "Result"],
        [[f"`{r.rule.text}`", ("✅ " if r.passed else "❌ ") + r.detail] for r in decision.results],
    )
    if outcome.promoted:
        summary.paragraph(f"Promotion: **{outcome.promoted}**")
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        outcome = run(inputs, chosen, runner.info)
        report(inputs, outcome, runner)
        failures = outcome.decision.failures
        if failures:
            detail = "; ".join(f"{r.rule.text}: {r.detail}" for r in failures)
            raise StageError("shadow rules failed", f"the shadow was not promoted: {detail}")
        if outcome.promoted == "rolled-back":
            raise StageError("promotion rolled back", f"{inputs.endpoint} stays on production")

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
