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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smgha import gates
from smgha.backends import Backend, backend
from smgha.errors import InputError, StageError
from smgha.runner import Runner
from smgha.stages import REGION_INPUT, InputSpec, OutputSpec, backend_and_region, choice, run_stage
from smgha.stages.build_pipeline import registered_model_package

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
    lineage: dict[str, str]


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
    sources = [
        k for k in ("execution-arn", "model-package-arn", "model-data-url") if runner.get_input(k)
    ]
    if not sources:
        raise InputError(
            "model-package-arn",
            "no candidate given",
            "Pass execution-arn (the build's execution), model-package-arn, or model-data-url with image-uri and metrics.",
        )
    if runner.get_input("model-data-url") and not (
        runner.get_input("image-uri") and runner.get_input("metrics")
    ):
        missing = "image-uri" if not runner.get_input("image-uri") else "metrics"
        raise InputError(
            missing, "is required to register a package from model-data-url", f"Set {missing}."
        )
    return Inputs(
        backend=name,
        region=region,
        group=runner.get_input("model-package-group", required=True),
        execution_arn=runner.get_input("execution-arn"),
        model_package_arn=runner.get_input("model-package-arn"),
        model_data_url=runner.get_input("model-data-url"),
        image_uri=runner.get_input("image-uri"),
        metrics=runner.get_input("metrics"),
        rules=tuple(gates.parse_rules(runner.get_multiline_input("rules"))),
        manual_approval=choice("approval", runner.get_input("approval") or "auto", APPROVAL_MODES)
        == "manual",
        force=force,
        force_reason=force_reason,
        fail_on_reject=runner.get_bool_input("fail-on-reject", default=True),
        training_data_uri=runner.get_input("training-data-uri"),
        workspace=Path(env.get("GITHUB_WORKSPACE") or os.getcwd()),
        actor=env.get("GITHUB_ACTOR", "") or env.get("USER", ""),
        provenance=_provenance(env),
    )


def _provenance(env: dict[str, str]) -> dict[str, str]:
    lineage = {}
    if env.get("GITHUB_SHA"):
        lineage["git-sha"] = env["GITHUB_SHA"]
    if env.get("GITHUB_REPOSITORY"):
        lineage["repository"] = env["GITHUB_REPOSITORY"]
        if env.get("GITHUB_RUN_ID"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com")
            lineage["run-url"] = (
                f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
            )
    return lineage


# ---- plan: read everything, check everything ---------------------------------------------------


def plan(inputs: Inputs, registry: Backend) -> GatePlan:
    if registry.describe_model_package_group(inputs.group) is None:
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
    return GatePlan(
        candidate_arn,
        candidate,
        request,
        candidate_metrics,
        champion,
        champion_metrics,
        decision,
        lineage,
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
    recorded = (record.get("CustomerMetadataProperties") or {}).items()
    metric_prefix = f"{PREFIX}metric:"
    return {
        k.removeprefix(metric_prefix): float(v) for k, v in recorded if k.startswith(metric_prefix)
    }


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
    path = Path(source) if Path(source).is_absolute() else inputs.workspace / source
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
    """Customer metadata recorded on the package: where it came from, what it scored, the verdict."""
    lineage = dict(inputs.provenance)
    if inputs.execution_arn:
        lineage["pipeline-execution-arn"] = inputs.execution_arn
    training_data = inputs.training_data_uri or (
        _training_data(inputs.execution_arn, registry) if inputs.execution_arn else ""
    )
    if training_data:
        lineage["training-data-uri"] = training_data
    names = gates.short_names(metrics)
    for key, value in list(metrics.items())[:20]:  # the API allows 50 properties
        lineage[f"metric:{names[key]}"] = f"{value:.6g}"
    lineage["gate"] = (
        "forced" if decision.forced else ("passed" if not decision.failures else "failed")
    )
    if decision.forced:
        lineage["forced-by"] = inputs.actor or "unknown"
        lineage["force-reason"] = inputs.force_reason
    return {f"{PREFIX}{key}": value[:256] for key, value in lineage.items()}


def _training_data(execution_arn: str, registry: Backend) -> str:
    """The train channel of the execution's (first) training job."""
    for step in registry.list_steps(execution_arn):
        job_arn = (step.metadata.get("TrainingJob") or {}).get("Arn")
        job = registry.describe_training_job(job_arn) if job_arn else None
        for channel in (job or {}).get("InputDataConfig") or []:
            if channel.get("ChannelName") == "train":
                return str(channel["DataSource"]["S3DataSource"]["S3Uri"])
    return ""


# ---- apply: the one place that writes ---------------------------------------------------------


def apply(gate: GatePlan, registry: Backend) -> str:
    """Register the candidate when needed, then record lineage and the decision on it."""
    arn = gate.candidate_arn
    if gate.register_request is not None:
        arn = registry.create_model_package(gate.register_request)
    registry.update_model_package(
        arn,
        approval_status=gate.decision.approval_status,
        approval_description=gate.decision.description,
        customer_metadata=gate.lineage,
    )
    return arn


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
        registry = backend(inputs.backend, inputs.region)
        gate = plan(inputs, registry)
        for result in gate.decision.results:
            runner.info(
                f"{'pass' if result.passed else 'FAIL'}  {result.rule.text}: {result.detail}"
            )
        arn = apply(gate, registry)
        runner.info(f"{arn}: {gate.decision.approval_status} ({gate.decision.description})")
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
