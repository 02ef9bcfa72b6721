"""register-and-gate: find (or register) the candidate model, record its lineage, gate it
against absolute thresholds and the champion, and set its approval status.

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  GatePlan   (reads only)
                                                        |
                              apply(plan, backend)     (the one place that writes)
    main(): the edge: outputs, annotations, job summary, exit code

Everything that can be wrong with the inputs is found by plan(), before anything is written.
What the model registry holds and how (candidate, champion, lineage) is smgha.resources.registry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smgha import gates
from smgha.aws_values import aws_value
from smgha.backends import Backend
from smgha.errors import InputError, StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    local_state_folder,
    one_line,
    s3_uri,
    workspace_file,
)
from smgha.resources import customer_metadata, hosting_cost, registry
from smgha.run_artifacts import keep_evaluation
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage, stage_backend

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
    *hosting_cost.GATE_INPUTS,  # serving-instance-type, -count, price-table: hourly_cost
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

APPROVAL_MODES = ("auto", "manual")
MARKS = {
    "approved": "✅ approved",
    "pending": "⏳ pending manual approval",
    "rejected": "❌ rejected",
}
NO_CHAMPION = "none yet (this model sets the bar)"

# Messages users act on: (problem, fix). The problem follows the input's name.
REGISTER_NEEDS = ("is required to register a package from model-data-url", "Set {input}.")
NO_NUMERIC_METRIC = (
    "the evaluation JSON holds no numeric metric",
    "Point metrics at the evaluation report (e.g. evaluation.json).",
)
NO_METRICS = (
    "the candidate has no model-quality statistics and no metrics file was given",
    "Pass metrics: the evaluation JSON (a path or an S3 URI).",
)
UNREADABLE_METRICS_FILE = ("cannot read {path}: {error}", "Give the evaluation JSON file.")


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
    serving: hosting_cost.Serving
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
    # A tuning step that trained the model: no training data in the lineage (noticed).
    untraced_tuning_step: str = ""
    evaluation: Any = None  # the evaluation JSON as read (kept as artifact smgha-evaluation-*)


def load_inputs(runner: Runner) -> Inputs:
    env = runner.env
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(values)
    force = values.flag("force")
    force_reason = registry.checked_force_reason(values["force-reason"], force)
    registry.candidate_sources(
        values["execution-arn"], values["model-package-arn"], values["model-data-url"]
    )
    one_line("training-data-uri", values["training-data-uri"])
    if values["model-data-url"] and not (values["image-uri"] and values["metrics"]):
        missing = "image-uri" if not values["image-uri"] else "metrics"
        problem, fix = REGISTER_NEEDS
        raise InputError(missing, problem, fix.format(input=missing))
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    metrics = values["metrics"]
    if metrics.startswith("s3://"):
        s3_uri("metrics", metrics, "s3://my-bucket/evaluation/evaluation.json")
    elif metrics:
        workspace_file("metrics", metrics, workspace, local_state_folder(name))
    return Inputs(
        backend=name,
        region=region,
        group=aws_value(
            "model-package-group", values["model-package-group"], "sagemaker", "ArnOrName"
        ),
        execution_arn=values["execution-arn"],
        model_package_arn=values["model-package-arn"],
        model_data_url=values["model-data-url"],
        image_uri=values["image-uri"]
        and aws_value(
            "image-uri", one_line("image-uri", values["image-uri"]), "sagemaker", "ContainerImage"
        ),
        metrics=metrics,
        rules=tuple(gates.parse_rules(runner.get_multiline_input("rules"))),
        manual_approval=choice("approval", values["approval"], APPROVAL_MODES) == "manual",
        force=force,
        force_reason=force_reason,
        fail_on_reject=values.flag("fail-on-reject"),
        training_data_uri=values["training-data-uri"],
        workspace=workspace,
        serving=hosting_cost.checked_serving(values, name, region),
        actor=env.get("GITHUB_ACTOR", "") or env.get("USER", ""),
        provenance=registry.provenance(env, workspace),
    )


# ---- plan: read everything, check everything ---------------------------------------------------


def plan(inputs: Inputs, backend: Backend) -> GatePlan:
    found = registry.find_candidate(
        backend.pipelines,
        backend.registry,
        inputs.group,
        inputs.execution_arn,
        inputs.model_package_arn,
        inputs.force,
        where=f"{inputs.region} ({inputs.backend})",
    )
    request: dict[str, Any] | None = None
    if found is not None:
        candidate_arn, candidate = found
    else:  # registered from model-data-url by apply()
        request = registry.register_request(
            inputs.group, inputs.image_uri, inputs.model_data_url, inputs.metrics, inputs.provenance
        )
        candidate_arn, candidate = "", request
    evaluation = _evaluation(inputs, backend, candidate)
    candidate_metrics = gates.metric_table(evaluation)
    if not candidate_metrics:
        raise InputError("metrics", *NO_NUMERIC_METRIC)
    rules = list(inputs.rules)
    candidate_metrics.update(hosting_cost.cost_metrics(inputs.serving, inputs.region, rules))
    gates.check_metrics_exist(rules, candidate_metrics)  # before the champion is read

    best = registry.champion(inputs.group, candidate_arn, backend.registry)
    champion_metrics = (
        registry.recorded_metrics(best, backend.objects) if best is not None else None
    )
    decision = gates.verdict(
        rules,
        candidate_metrics,
        champion_metrics,
        manual_approval=inputs.manual_approval,
        force=inputs.force,
        forced_by=inputs.actor,
        reason=inputs.force_reason,
    )
    training_data = (
        registry.TrainingData(inputs.training_data_uri)
        if inputs.training_data_uri
        else registry.training_data(backend.pipelines, backend.registry, inputs.execution_arn)
    )
    lineage = registry.gate_lineage(
        inputs.provenance,
        inputs.execution_arn,
        training_data.uri,
        candidate_metrics,
        decision,
        inputs.actor,
        inputs.force_reason,
    )
    # Checked now, before anything is written: the keys already on the package count too.
    names = gates.short_names(candidate_metrics)
    stored = customer_metadata.storable_lineage(
        lineage,
        existing=candidate.get("CustomerMetadataProperties") if request is None else None,
        # Every metric a rule reads, and the cost: the next candidate's champion is this one.
        required={
            f"{customer_metadata.METRIC}{names[n]}"
            for n in hosting_cost.kept(decision, candidate_metrics)
        },
    )
    return GatePlan(
        candidate_arn=candidate_arn,
        candidate=candidate,
        register_request=request,
        candidate_metrics=candidate_metrics,
        champion=best,
        champion_metrics=champion_metrics,
        decision=decision,
        lineage=lineage,
        metadata=stored.properties,
        left_out=stored.left_out,
        untraced_tuning_step=training_data.tuning_step,
        evaluation=evaluation,
    )


def _evaluation(inputs: Inputs, backend: Backend, candidate: dict[str, Any]) -> Any:
    source = inputs.metrics or registry.statistics_uri(candidate)
    if not source:
        raise InputError("metrics", *NO_METRICS)
    if source.startswith("s3://"):
        return registry.read_evaluation(backend.objects, source)
    path = workspace_file("metrics", source, inputs.workspace, local_state_folder(inputs.backend))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problem, fix = UNREADABLE_METRICS_FILE
        raise InputError("metrics", problem.format(path=path, error=error), fix) from None


# ---- apply: the one place that writes ---------------------------------------------------------


def apply(gate: GatePlan, backend: Backend) -> str:
    """Register the candidate when needed, then record lineage and the decision on it."""
    arn = gate.candidate_arn
    if gate.register_request is not None:
        arn = backend.registry.create_model_package(gate.register_request)
    registry.record_decision(backend.registry, arn, gate.decision, gate.metadata)
    return arn


# ---- the edge ---------------------------------------------------------------------------------


def report(inputs: Inputs, gate: GatePlan, arn: str, backend: Backend, runner: Runner) -> None:
    record = backend.registry.describe_model_package(arn) or {}
    decision = gate.decision
    runner.set_output("model-package-arn", arn)
    runner.set_output("model-package-version", str(record.get("ModelPackageVersion", "")))
    runner.set_output("decision", decision.decision)
    runner.set_output("champion-arn", (gate.champion or {}).get("ModelPackageArn", ""))
    runner.set_output("rules", json.dumps([r.as_dict() for r in decision.results]))
    if gate.untraced_tuning_step:
        runner.notice(
            "Lineage: no training data recorded: the model was trained by the tuning step "
            f"{gate.untraced_tuning_step}, whose channels this stage does not read. Set the "
            "input training-data-uri to record them."
        )

    summary = runner.summary.heading(
        f"register-and-gate: {inputs.group} v{record.get('ModelPackageVersion', '?')}", 3
    )
    summary.paragraph(
        f"**{MARKS[decision.decision]}**{' (forced: ' + inputs.force_reason + ')' if decision.forced else ''} · `{arn}`"
    )
    champion = (gate.champion or {}).get("ModelPackageArn")
    summary.paragraph(f"Champion: `{champion}`" if champion else f"Champion: {NO_CHAMPION}")
    summary.table(
        ["Metric", "Candidate", "Champion", "Δ", "Rule", "Result"],
        gates.comparison_rows(gate.candidate_metrics, gate.champion_metrics, gate.decision.results),
    )
    if hosting_cost.COST_METRIC in gate.candidate_metrics:
        summary.paragraph(hosting_cost.serving_line(inputs.serving, inputs.region))
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        try:
            gate = plan(inputs, chosen)
        except registry.GroupMismatch as mismatch:
            if mismatch.pending:  # judge it, so that no unjudged version is left behind
                registry.reject_not_gated(chosen.registry, mismatch)
                runner.info(f"{mismatch.arn}: Rejected ({mismatch.rejection})")
            raise
        for result in gate.decision.results:
            runner.info(
                f"{'pass' if result.passed else 'FAIL'}  {result.rule.text}: {result.detail}"
            )
        arn = apply(gate, chosen)
        runner.info(f"{arn}: {gate.decision.approval_status} ({gate.decision.description})")
        if gate.left_out:
            title = f"{STAGE}: metrics left out of the lineage"
            runner.warning(customer_metadata.left_out_text(gate.left_out, arn), title=title)
        report(inputs, gate, arn, chosen, runner)
        keep_evaluation(gate, arn, runner)  # artifact smgha-evaluation-<job id>
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
