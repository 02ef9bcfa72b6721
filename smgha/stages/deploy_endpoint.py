"""deploy-endpoint: put one exact model package version behind an endpoint, blue/green.

    Inputs (load_inputs)  ->  plan(inputs, hosting, registry)  ->  DeploymentPlan   (reads only)
                                                                   |
                              apply(plan, hosting, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

How an endpoint config is shaped is smgha/resources/hosting.py, how traffic moves and is
awaited smgha/resources/rollout.py, autoscaling smgha/resources/autoscaling.py. The endpoint
config is named after the package version (plus a short hash of its settings), so a second run
with the same inputs finds the endpoint already on it and changes nothing, and a rollback is
the same call with the earlier version's ARN.
"""

from __future__ import annotations

from dataclasses import dataclass

from smgha import definition as defn
from smgha.aws_values import aws_value
from smgha.backends import Hosting, Registry
from smgha.errors import StageError
from smgha.inputs import (
    REGION_INPUT,
    InputSpec,
    InputValues,
    backend_and_region,
    choice,
    execution_role_arn,
    model_package_version_arn,
    positive_number,
    whole_number,
)
from smgha.resources import (
    async_inference,
    autoscaling,
    deployment,
    hosting,
    hosting_cost,
    packages,
    rollout,
    serverless,
    shadow,
    step_analysis,
)
from smgha.resources.names import alarmed_endpoint_name
from smgha.resources.prices import Prices
from smgha.resources.rollout import BlueGreen
from smgha.runner import Runner
from smgha.stages import OutputSpec, run_stage, stage_backend

STAGE = "deploy-endpoint"
MAX_INSTANCES = 100  # beyond this SageMaker's default account quota is the first to say no

ROLLED_BACK = "{endpoint} stays on {config}: {reason}"

INPUTS = (
    InputSpec(
        "backend",
        "Where the endpoint runs: sagemaker (AWS) or local (a server on this machine).",
        "sagemaker",
    ),
    REGION_INPUT,
    InputSpec(
        "model-package-arn",
        "The exact model package version to deploy (never 'the latest').",
        required=True,
    ),
    InputSpec("endpoint-name", "Endpoint to create or update, e.g. churn-staging.", required=True),
    InputSpec(
        "role-arn", "Execution role of the SageMaker model. Required for the sagemaker backend."
    ),
    InputSpec("instance-type", "Instance type of the production variant.", "ml.m5.large"),
    InputSpec(
        "instance-count",
        "Instances of a new endpoint. A live endpoint keeps its current count (autoscaling's choice).",
        "1",
    ),
    *serverless.INPUTS,  # no instance-type, instance-count, capture or autoscaling beside them
    *shadow.INPUTS,  # a shadow variant beside the production one (smgha/resources/shadow.py)
    *async_inference.INPUTS,  # no serverless, capture or canary beside them
    InputSpec("variant-name", "Name of the production variant.", "AllTraffic"),
    # all-at-once by default: a canary needs a fleet of at least two instances (at most half
    # of it may be the canary), and a new endpoint has instance-count 1 unless told otherwise.
    InputSpec(
        "strategy",
        "How traffic moves to the new version: all-at-once, canary or linear (blue/green, with auto-rollback; a canary needs a fleet of at least two instances).",
        "all-at-once",
    ),
    InputSpec(
        "canary-percent", "Canary: share of traffic on the new version during the first wait.", "10"
    ),
    InputSpec("linear-step-percent", "Linear: share of traffic moved at each step.", "25"),
    InputSpec(
        "wait-seconds",
        "Time after each traffic shift during which the alarms are watched before the next one.",
        "300",
    ),
    InputSpec(
        "termination-wait-seconds",
        "Time the old fleet is kept (and the alarms watched) after all traffic moved.",
        "120",
    ),
    InputSpec(
        "alarms",
        "CloudWatch alarm names that roll the update back, one per line. Empty: the stage creates 5XX-error and model-latency alarms for the endpoint.",
    ),
    InputSpec(
        "max-latency-ms",
        "Threshold of the model-latency alarm the stage creates (average over a minute).",
        "1000",
    ),
    *step_analysis.INPUTS,  # canary and linear only
    InputSpec(
        "autoscaling-min-instances",
        "Turn on target-tracking autoscaling with this minimum (needs autoscaling-max-instances).",
    ),
    InputSpec("autoscaling-max-instances", "Autoscaling maximum."),
    InputSpec(
        "target-invocations-per-instance",
        "Autoscaling target: invocations per instance per minute.",
        "100",
    ),
    InputSpec("scale-in-cooldown-seconds", "Autoscaling scale-in cooldown.", "300"),
    InputSpec("scale-out-cooldown-seconds", "Autoscaling scale-out cooldown.", "60"),
    InputSpec(
        "data-capture-percent",
        "Capture this share of requests and responses (1-100). Empty: keep the live endpoint's setting.",
    ),
    InputSpec(
        "data-capture-s3-uri",
        "Where captured data goes (s3://bucket/prefix); required with data-capture-percent.",
    ),
    *hosting_cost.INPUTS,  # price-table
    InputSpec("allow-unapproved", "Deploy a package that is not Approved.", "false", is_bool=True),
    InputSpec("timeout-minutes", "How long to wait for the endpoint to be InService.", "60"),
    InputSpec(
        "dry-run",
        "Show the endpoint config that would be created and its diff against the live one; change nothing.",
        "false",
        is_bool=True,
    ),
)

OUTPUTS = (
    OutputSpec("endpoint-name", "The endpoint."),
    OutputSpec(
        "endpoint-config-name",
        "The endpoint config now live (the new one, or the old one after a rollback).",
    ),
    OutputSpec("model-package-arn", "The model package deployed."),
    OutputSpec(
        "previous-model-package-arn",
        "The package the endpoint served before ('' for a new endpoint): deploy it to roll back.",
    ),
    OutputSpec(
        "previous-endpoint-config-name", "The endpoint config live before ('' for a new endpoint)."
    ),
    OutputSpec("status", "deployed, unchanged, rolled-back, failed or dry-run."),
)


@dataclass(frozen=True)
class Inputs:
    backend: str
    region: str
    target: deployment.Target
    allow_unapproved: bool
    dry_run: bool
    prices: Prices


# ---- inputs ---------------------------------------------------------------------------------------


def load_inputs(runner: Runner) -> Inputs:
    values = InputValues(runner, INPUTS)
    name, region = backend_and_region(values)
    endpoint = alarmed_endpoint_name("endpoint-name", values["endpoint-name"])
    variant = aws_value("variant-name", values["variant-name"], "sagemaker", "VariantName")
    blue_green = _blue_green(values)
    on_serverless = serverless.checked_inputs(values, blue_green.strategy)
    package_arn = model_package_version_arn("model-package-arn", values["model-package-arn"])
    queued = async_inference.checked_inputs(values, blue_green.strategy)
    target = deployment.Target(
        endpoint=endpoint,
        variant=variant,
        package_arn=package_arn,
        role_arn=execution_role_arn(values["role-arn"], name),
        instance_type=aws_value(
            "instance-type", values["instance-type"], "sagemaker", "ProductionVariantInstanceType"
        ),
        instance_count=whole_number("instance-count", values["instance-count"], 1, MAX_INSTANCES),
        blue_green=blue_green,
        alarms=tuple(  # once each, by the rule of a rollback alarm's name
            dict.fromkeys(
                aws_value("alarms", alarm, "sagemaker", "AlarmName")
                for alarm in runner.get_multiline_input("alarms")
            )
        ),
        max_latency_ms=positive_number("max-latency-ms", values["max-latency-ms"]),
        scaling=_target_tracking(values, endpoint, variant, on_serverless, queued),
        data_capture=hosting.checked_capture(values),
        serverless=on_serverless,
        analysis=step_analysis.checked_inputs(
            values, blue_green.strategy, name, runner.env, float(values["max-latency-ms"])
        ),
        shadow=shadow.checked_inputs(values, package_arn, blue_green.strategy, variant),
        async_inference=queued,
    )
    checks = step_analysis.alarm_count(target.analysis)
    target.blue_green.check_limits(len(target.alarms or target.alarm_requests()) + checks)
    return Inputs(
        backend=name,
        region=region,
        target=target,
        allow_unapproved=values.flag("allow-unapproved"),
        dry_run=values.flag("dry-run"),
        prices=hosting_cost.checked_prices(values, name, region),
    )


def _blue_green(values: InputValues) -> BlueGreen:
    return BlueGreen(
        strategy=choice("strategy", values["strategy"], rollout.STRATEGIES),
        canary_percent=whole_number(
            "canary-percent",
            values["canary-percent"],
            *rollout.CANARY_PERCENT,
            "SageMaker's canary is a whole percentage of the new fleet, at least 1 and at most half of it.",
        ),
        linear_step_percent=whole_number(
            "linear-step-percent",
            values["linear-step-percent"],
            *rollout.LINEAR_STEP_PERCENT,
            "SageMaker moves a whole percentage of the new fleet at each step, 10 to 50.",
        ),
        wait_seconds=whole_number(
            "wait-seconds", values["wait-seconds"], 0, rollout.MAX_WAIT_SECONDS
        ),
        termination_wait_seconds=whole_number(
            "termination-wait-seconds",
            values["termination-wait-seconds"],
            0,
            rollout.MAX_WAIT_SECONDS,
        ),
        timeout_seconds=60 * positive_number("timeout-minutes", values["timeout-minutes"]),
    )


def _target_tracking(
    values: InputValues,
    endpoint: str,
    variant: str,
    on_serverless: serverless.Settings | None,
    queued: async_inference.Settings | None,
) -> autoscaling.TargetTracking | None:
    # The policy's inputs are checked even when autoscaling is off: a bad value is a mistake
    # to show now, not when someone sets the bounds.
    policy = autoscaling.policy_inputs(values)
    if on_serverless:  # its Provisioned Concurrency (autoscaling-*-instances are refused)
        return serverless.provisioned_scaling(on_serverless, endpoint, variant, policy[1:])
    if queued:  # on its backlog, from zero instances up
        return async_inference.backlog_scaling(values, endpoint, variant, policy[1:], MAX_INSTANCES)
    return autoscaling.instance_scaling(values, endpoint, variant, policy, MAX_INSTANCES)


# ---- plan: the package, then the deployment (smgha/resources/deployment.py) ------------------------


def plan(inputs: Inputs, endpoints: Hosting, registry: Registry) -> deployment.Deployment:
    target = inputs.target
    package = packages.servable_package(
        target.package_arn, inputs.allow_unapproved, registry, endpoints
    )
    if target.shadow:
        packages.servable_package(
            target.shadow.package_arn,
            inputs.allow_unapproved,
            registry,
            endpoints,
            "shadow-model-package-arn",
        )
    return deployment.plan(target, endpoints, package)


# ---- the edge -----------------------------------------------------------------------------------------

MARKS = {
    "deployed": "✅ deployed",
    "unchanged": "➖ unchanged",
    "rolled-back": "↩️ rolled back",
    "dry-run": "🔍 dry run",
    "failed": "❌ failed",
}


def report(
    inputs: Inputs, planned: deployment.Deployment, outcome: str, live_config: str, runner: Runner
) -> None:
    target = inputs.target
    runner.set_output("endpoint-name", target.endpoint)
    runner.set_output("endpoint-config-name", live_config)
    runner.set_output("model-package-arn", target.package_arn)
    runner.set_output("previous-model-package-arn", planned.previous_package_arn)
    live_name = (planned.live or {}).get("EndpointConfigName", "")
    runner.set_output("previous-endpoint-config-name", live_name)
    runner.set_output("status", outcome)
    before = ((planned.live_config or {}).get("ProductionVariants") or [None])[0]
    after = planned.config_request["ProductionVariants"][0]
    rows = [
        ["Model package", f"`{planned.previous_package_arn or '–'}`", f"`{target.package_arn}`"],
        ["Endpoint config", f"`{live_name or '–'}`", f"`{planned.config_name}`"],
        ["Capacity", hosting.variant_text(before), hosting.variant_text(after)],
        ["Data capture", hosting.capture_text(planned.live_config), hosting.capture_text(planned.config_request)],
    ]  # fmt: skip
    optional = [  # shown only where either config has one
        ["Shadow", shadow.text(planned.live_config), shadow.text(planned.config_request)],
        ["Async", async_inference.config_text(planned.live_config), async_inference.config_text(planned.config_request)],
    ]  # fmt: skip
    rows += [row for row in optional if set(row[1:]) - {"–", "off"}]
    waits = target.blue_green.waits()[0] if planned.updates and outcome != "unchanged" else None
    after_config = planned.live_config if outcome == "unchanged" else planned.config_request
    rows += hosting_cost.rows(
        planned.live_config, after_config or {}, waits, inputs.prices, inputs.region
    )
    scaling_changed = False
    if target.scaling:
        was = autoscaling.live_text(target.endpoint, planned.live_scaling)
        rows.append(["Autoscaling", was if planned.live else "–", target.scaling.text()])
        scaling_changed = outcome == "unchanged" and not planned.scaling_current
    summary = runner.summary.heading(f"deploy-endpoint: {target.endpoint}", 3)
    summary.paragraph(
        f"**{MARKS.get(outcome, outcome)}**"
        + (" · autoscaling updated" if scaling_changed else "")
        + f" · strategy {target.blue_green.strategy} · rollback alarms: {', '.join(planned.alarm_names) or 'none'}"
    )
    summary.table(["", "Before", "After"], rows)
    if planned.scaling_suspended:
        summary.paragraph(deployment.suspension_text(planned, outcome))
    for notice in planned.notices:
        summary.paragraph(f"ℹ️ {notice}")
    if planned.previous_package_arn and outcome == "deployed":
        summary.paragraph(f"Roll back: deploy `{planned.previous_package_arn}` again.")
    summary.paragraph(
        hosting_cost.source_line(inputs.prices, inputs.region, inputs.backend == "local")
    )
    summary.write()


def _show_dry_run(inputs: Inputs, planned: deployment.Deployment, runner: Runner) -> None:
    with runner.group(f"Endpoint config {planned.config_name}"):
        runner.info(defn.canonical_json(planned.config_request))
    with runner.group("Diff against the live endpoint config"):
        live = {k: v for k, v in (planned.live_config or {}).items() if k in planned.config_request}
        before = live if planned.live_config else None
        diff = defn.diff(before, planned.config_request, inputs.target.endpoint)
        runner.info(diff or "(no changes)")
    report(inputs, planned, "dry-run", (planned.live or {}).get("EndpointConfigName", ""), runner)


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        endpoint = inputs.target.endpoint
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        endpoints = chosen.hosting
        planned = plan(inputs, endpoints, chosen.registry)
        for notice in planned.notices:
            runner.notice(notice, title=f"{STAGE}: canary size")
        if inputs.dry_run:
            _show_dry_run(inputs, planned, runner)
            return
        outcome = deployment.apply(planned, endpoints, runner.info)
        record = endpoints.describe_endpoint(endpoint) or {}
        live = record.get("EndpointConfigName", "")
        report(inputs, planned, outcome, live, runner)
        steps = step_analysis.summary_table(
            inputs.target.analysis, endpoint, record, endpoints.describe_alarms
        )
        if steps and planned.updates:
            runner.summary.heading("Analysis between traffic steps", 4).table(*steps).write()
        if outcome == "rolled-back":
            reason = record.get("FailureReason", "no reason given")
            detail = ROLLED_BACK.format(endpoint=endpoint, config=live, reason=reason)
            raise StageError("update rolled back", detail)

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
