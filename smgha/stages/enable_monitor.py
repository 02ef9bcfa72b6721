"""enable-monitor: data capture, a data-quality baseline, a monitoring schedule, drift alarms;
with model-quality: true also a model-quality monitor (resources/model_quality.py).

    Inputs (load_inputs)  ->  plan(inputs, backend)  ->  MonitorPlan   (reads only)
                                                         |
                              apply(plan, backend, log)  (creates, updates, waits)
    main(): the edge: outputs, annotations, job summary, exit code

1. Data capture, unless the live config captures: the live config with capture on, the
   endpoint moved to it at once (resources/hosting.py capture_change, rollout.py).
2. Baseline: computed here from the training CSV, or by SageMaker's baselining job
   (baseline-method: job) (resources/baselining.py).
3. The kind's job definition (named after a hash of its request), a schedule on it, and one
   drift alarm per feature (resources/monitoring.py).
4. model-quality: true: constraints.json from the build's evaluation, a ModelQuality job
   definition reading the ground-truth labels, its schedule, an alarm on one metric.

A second run with the same inputs changes nothing but re-writing the baseline and the alarms
(both in place): no new config, job definition, schedule or alarm.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha import monitor
from smgha.backends import Backend, Objects
from smgha.inputs import InputValues, local_state_folder, workspace_file
from smgha.resources import baselining, model_quality, rollout
from smgha.resources.baselining import BaselineFiles
from smgha.resources.hosting import CaptureChange, DataCapture, capture_change
from smgha.resources.monitor_inputs import INPUTS, Buckets, Inputs, checked_inputs
from smgha.resources.monitoring import (
    KINDS,
    MonitorOutputs,
    MonitorSettings,
    MonitorSetup,
    analyzer_image,
    apply_setup,
    monitorable_endpoint,
    plan_setup,
)
from smgha.run_artifacts import keep_monitoring_files
from smgha.runner import Runner
from smgha.stages import ARTIFACT_BUCKET_HINT, LOCAL_BUCKET, OutputSpec, run_stage, stage_backend

STAGE = "enable-monitor"

OUTPUTS = (
    OutputSpec("schedule-name", "The monitoring schedule."),
    OutputSpec("baseline-statistics-uri", "S3 URI of the baseline statistics.json."),
    OutputSpec("baseline-constraints-uri", "S3 URI of the baseline constraints.json."),
    OutputSpec("alarm-names", "JSON list of the drift alarms, one per feature."),
    OutputSpec("model-quality-schedule-name", "model-quality: true: its monitoring schedule."),
    OutputSpec(
        "model-quality-constraints-uri", "model-quality: true: S3 URI of its constraints.json."
    ),
    OutputSpec(
        "model-quality-alarm-names",
        "model-quality: true: JSON list of its alarm on model-quality-metric.",
    ),
)


def load_inputs(runner: Runner) -> Inputs:
    workspace = Path(runner.env.get("GITHUB_WORKSPACE") or os.getcwd())
    buckets = Buckets(LOCAL_BUCKET, ARTIFACT_BUCKET_HINT)
    return checked_inputs(InputValues(runner, INPUTS), workspace, buckets)


# ---- plan: read everything, decide names and requests -------------------------------------------


@dataclass
class MonitorPlan:
    live: dict[str, Any]
    capture: CaptureChange
    baseline: baselining.Baseline
    setup: MonitorSetup
    quality: model_quality.QualityPlan | None = None  # model-quality: true


def read_baseline_data(inputs: Inputs, objects: Objects) -> monitor.Dataset:
    uri = inputs.baseline_data_uri
    if uri.startswith("s3://"):
        return baselining.read_dataset(
            lambda: objects.read_object(uri), uri, inputs.header, inputs.label_column
        )
    state = local_state_folder(inputs.backend)
    path = workspace_file("baseline-data-uri", uri, inputs.workspace, state)
    return baselining.read_dataset(path.read_bytes, uri, inputs.header, inputs.label_column)


def plan(inputs: Inputs, backend: Backend) -> MonitorPlan:
    hosting = backend.hosting
    endpoint, output = inputs.endpoint_name, inputs.output_uri
    live = monitorable_endpoint(hosting, endpoint, f"{inputs.backend}, {inputs.region}")
    live_config = hosting.describe_endpoint_config(live["EndpointConfigName"]) or {}
    image = analyzer_image(inputs.region)
    dataset = read_baseline_data(inputs, backend.objects)
    files = BaselineFiles(f"{output}/baseline")

    capture = capture_change(
        live,
        live_config,
        DataCapture(inputs.data_capture_percent, inputs.capture_uri or f"{output}/capture"),
        lambda name: hosting.describe_endpoint_config(name) is not None,
    )
    settings = MonitorSettings(
        image,
        inputs.instance_type,
        inputs.role_arn,
        inputs.schedule_expression,
        inputs.drift_threshold,
        inputs.sns_topic_arn,
    )
    kind = KINDS["data-quality"]  # always; model quality beside it with model-quality: true
    baseline = baselining.plan_baseline(
        kind, inputs.baseline_method, endpoint, files, dataset, inputs.header, settings
    )
    outputs = MonitorOutputs(files.statistics_uri, files.constraints_uri, f"{output}/reports")
    setup = plan_setup(kind, backend.monitoring, endpoint, outputs, settings, dataset.names)
    quality = None
    if inputs.model_quality:
        model_quality.require_captured_answers(live_config, endpoint)
        state = local_state_folder(inputs.backend)
        value = model_quality.read_evaluation(
            inputs.model_quality, backend.objects, inputs.workspace, state
        )
        quality = model_quality.plan_quality(
            inputs.model_quality, backend.monitoring, endpoint, output, settings, value
        )
    return MonitorPlan(
        live=live,
        capture=capture,
        baseline=baseline,
        setup=setup,
        quality=quality,
    )


# ---- apply -------------------------------------------------------------------------------------


def apply(
    inputs: Inputs,
    monitoring: MonitorPlan,
    backend: Backend,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Capture, baseline, job definition, schedule, alarms; return the baseline statistics."""
    hosting = backend.hosting
    rollout.turn_capture_on(
        hosting, inputs.endpoint_name, monitoring.capture, inputs.timeout_seconds,
        hosting.poll_seconds, log, sleep, clock,
    )  # fmt: skip
    statistics = baselining.produce(
        monitoring.baseline, backend.monitoring, backend.objects, inputs.timeout_seconds,
        hosting.poll_seconds, log, sleep, clock,
    )  # fmt: skip
    apply_setup(monitoring.setup, backend.monitoring, hosting, log)
    if monitoring.quality:
        model_quality.apply_quality(
            monitoring.quality, backend.monitoring, backend.objects, hosting, log
        )
    return statistics


# ---- the edge -----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "–"


def report(
    inputs: Inputs, monitoring: MonitorPlan, statistics: dict[str, Any], runner: Runner
) -> None:
    setup = monitoring.setup
    runner.set_output("schedule-name", setup.schedule_name)
    runner.set_output("baseline-statistics-uri", monitoring.baseline.files.statistics_uri)
    runner.set_output("baseline-constraints-uri", monitoring.baseline.files.constraints_uri)
    runner.set_output("alarm-names", json.dumps(setup.alarm_names))
    if quality := monitoring.quality:
        runner.set_output("model-quality-schedule-name", quality.setup.schedule_name)
        runner.set_output("model-quality-constraints-uri", quality.constraints_uri)
        runner.set_output("model-quality-alarm-names", json.dumps(quality.setup.alarm_names))
    rows = []
    for feature in statistics.get("features", []):
        numerical = feature.get("numerical_statistics") or {}
        common = (numerical or feature.get("string_statistics") or {}).get("common", {})
        present, missing = common.get("num_present", 0), common.get("num_missing", 0)
        completeness = present / (present + missing) if present + missing else 0.0
        rows.append([
            f"`{feature['name']}`", feature.get("inferred_type", "–"), f"{completeness:.1%}",
            _number(numerical.get("mean")), _number(numerical.get("std_dev")),
            _number(numerical.get("min")), _number(numerical.get("max")),
        ])  # fmt: skip
    summary = runner.summary.heading(f"enable-monitor: {inputs.endpoint_name}", 3)
    summary.paragraph(
        f"Schedule `{setup.schedule_name}` · `{inputs.schedule_expression}` · job definition `{setup.definition_name}` · "
        f"capture to `{monitoring.capture.capture_uri}` · drift threshold {inputs.drift_threshold:g} · "
        f"alarms notify {('`' + inputs.sns_topic_arn + '`') if inputs.sns_topic_arn else 'nobody'}"
    )
    summary.paragraph(
        f"Baseline ({inputs.baseline_method}) of `{inputs.baseline_data_uri}`: `{monitoring.baseline.files.statistics_uri}`"
    )
    summary.table(["Feature", "Type", "Completeness", "Mean", "Std", "Min", "Max"], rows)
    if quality := monitoring.quality:
        summary.paragraph(model_quality.summary_line(quality))
    summary.write()


def main(runner: Runner | None = None) -> int:
    runner = runner or Runner()

    def body(runner: Runner) -> None:
        inputs = load_inputs(runner)
        chosen = stage_backend(runner, inputs.backend, inputs.region)
        monitoring = plan(inputs, chosen)
        statistics = apply(inputs, monitoring, chosen, runner.info)
        report(inputs, monitoring, statistics, runner)
        keep_monitoring_files(inputs, monitoring, statistics, chosen.objects, runner)

    return run_stage(STAGE, body, runner)


if __name__ == "__main__":
    raise SystemExit(main())
