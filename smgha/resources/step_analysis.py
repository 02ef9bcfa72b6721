"""Analysis between traffic steps (issue 18): deploy-endpoint's step-* and pre-traffic-*
inputs, how a step is judged, and how the verdicts are shown. Modelled on Argo Rollouts'
AnalysisRuns and Flagger's pre-rollout webhooks and metric checks.

For a canary or linear update only (all-at-once has no step to judge before all traffic
moved): before any live traffic moves, the pre-traffic payloads go to the new fleet alone;
after each step's wait, the new fleet's error rate and model latency over that wait are
compared with the bounds and with the old fleet's. A miss rolls the update back as an alarm
does.

Where it runs:
- local backend: the deployer (smgha/backends/local/step_analysis.py) runs both, between
  the traffic steps it makes, and records each step's verdict in the endpoint record under
  VERDICTS_KEY. The settings reach it in the deployment config under SETTINGS_KEY, a key
  only the local backend reads (never sent to SageMaker: the sagemaker backend gets alarms).
- sagemaker backend: SageMaker's update cannot be paused between steps by anyone but
  itself, so the step checks become two CloudWatch metric-math alarms that the stage creates
  and names in AutoRollbackConfiguration (alarm_requests): SageMaker rolls back with its own
  machinery when one is in ALARM during a baking period. The two fleets' metrics can be told
  apart: "CloudWatch publishes the metrics with the dimension EndpointConfigName:{New-Ep-Config}
  after the new fleet starts receiving traffic" and "If you want to monitor your old fleet
  instead of the new fleet, you can change the dimension EndpointConfigName to specify the
  name of your old fleet's configuration" (SageMaker Developer Guide, "Auto-Rollback
  Configuration and Monitoring",
  https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
  An alarm judges its last Period, not the step's exact window: the period is the step's
  wait in whole minutes (at least one; CloudWatch's SageMaker metrics are per minute).
  A pre-traffic test is not possible there: see PRE_TRAFFIC_ON_SAGEMAKER.

"Not enough traffic" (fewer than step-min-invocations requests on the new fleet in a step's
window, or none on the old fleet to compare latency with) is a miss on the local backend: a
step that saw no traffic proved nothing, and the next would put more traffic on an unverified
fleet (Flagger also fails a check whose query returns no data); step-min-invocations: 0 lets
a quiet step pass. On SageMaker an alarm cannot tell "the step's traffic has not started"
from "no traffic" (SageMaker watches the alarms from the first baking period on), so there
the rates are judged only from the minimum on: the weaker reading (docs/aws-fidelity.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.errors import InputError, shown
from smgha.inputs import (
    InputSpec,
    InputValues,
    decimal_number,
    local_state_folder,
    whole_number,
    workspace_file,
)
from smgha.smoke.checks import fraction
from smgha.smoke.payloads import parse_payloads, read_text, request_content_type

# deployment config key the local deployer reads its settings from (see the module's doc).
SETTINGS_KEY = "smgha:StepAnalysis"
# endpoint record key the local deployer writes the verdicts to.
VERDICTS_KEY = "smgha:StepVerdicts"
PASS, FAIL, NOT_ENOUGH = "pass", "fail", "not enough traffic"
MAX_LATENCY_RATIO = 100.0
MAX_MIN_INVOCATIONS = 1_000_000

INPUTS = (
    InputSpec(
        "pre-traffic-payload-file",
        "Canary/linear, local backend: before any live traffic moves, send these payloads (smoke-test's .csv or .jsonl format; labels as JSON lines' \"label\") to the new fleet alone; an answer that is not one finite prediction within max-latency-ms rolls the update back. SageMaker cannot address the new fleet: refused there.",
    ),
    InputSpec(
        "pre-traffic-min-accuracy",
        "Pre-traffic test: least share (0-1) of the labelled payloads the new fleet must predict right.",
    ),
    InputSpec(
        "step-max-error-rate",
        "Canary/linear: roll back when the new fleet's share of 4XX and 5XX answers over a step's wait exceeds this (0-1).",
    ),
    InputSpec(
        "step-max-latency-ratio",
        "Canary/linear: roll back when the new fleet's average model latency over a step's wait exceeds the old fleet's times this (e.g. 1.5).",
    ),
    InputSpec(
        "step-min-invocations",
        "Step analysis: requests the new fleet must answer in a step's wait to be judged; fewer is a miss on the local backend ('not enough traffic'). Empty: 1.",
    ),
)
ANALYSIS_INPUTS = tuple(spec.name for spec in INPUTS)
PRE_TRAFFIC_ON_SAGEMAKER = (
    "SageMaker gives no way to send a request to the new fleet before traffic shifts to it: "
    "InvokeEndpoint's TargetVariant names a production variant "
    "(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html), "
    "and a blue/green update's new fleet keeps the old fleet's variant name "
    "(https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html)",
    "Smoke-test the staging endpoint with these payloads before production (smoke-test), and keep the step-* checks; or use backend: local.",
)


@dataclass(frozen=True)
class Settings:
    """What is checked; None: that check is off."""

    max_error_rate: float | None = None
    max_latency_ratio: float | None = None
    min_invocations: int = 1
    pre_traffic_file: str = ""  # its name, for messages
    pre_traffic_text: str = ""  # the payload file's text (checked, parsed again by the deployer)
    content_type: str = "text/csv"
    min_accuracy: float | None = None
    max_latency_ms: float = 1000.0
    in_deployer: bool = True  # the local backend's deployer runs it; False: SageMaker's alarms

    @property
    def steps_checked(self) -> bool:
        return self.max_error_rate is not None or self.max_latency_ratio is not None

    def to_request(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Settings:
        return cls(**request)


def checked_inputs(
    values: InputValues, strategy: str, backend: str, env: Mapping[str, str], max_latency_ms: float
) -> Settings | None:
    """The analysis settings (None: no analysis input given), after every rule on them."""
    given = [name for name in ANALYSIS_INPUTS if values[name].strip()]
    if not given:
        return None
    if strategy not in ("canary", "linear"):
        raise InputError(
            given[0],
            f"judges the traffic steps of a canary or linear update, and strategy is {strategy}, which has no step before all traffic moved",
            f"Set strategy: canary or linear, or leave {given[0]} empty.",
        )
    error_rate = _optional(values, "step-max-error-rate", lambda n, t: fraction(n, t))
    ratio = _optional(values, "step-max-latency-ratio", _ratio)
    minimum = _optional(values, "step-min-invocations", _minimum)
    if minimum is not None and error_rate is None and ratio is None:
        raise InputError(
            "step-min-invocations",
            "applies to the step checks, and neither step-max-error-rate nor step-max-latency-ratio is set",
            "Set one of them, or leave step-min-invocations empty.",
        )
    settings = Settings(
        error_rate,
        ratio,
        1 if minimum is None else int(minimum),
        max_latency_ms=max_latency_ms,
        in_deployer=backend == "local",
    )
    accuracy = _optional(values, "pre-traffic-min-accuracy", lambda n, t: fraction(n, t))
    source = values["pre-traffic-payload-file"].strip()
    if not source:
        if accuracy is not None:
            raise InputError(
                "pre-traffic-min-accuracy",
                "applies to the pre-traffic test, and pre-traffic-payload-file is empty",
                "Set pre-traffic-payload-file, or leave pre-traffic-min-accuracy empty.",
            )
        return settings
    if backend != "local":
        problem, fix = PRE_TRAFFIC_ON_SAGEMAKER
        raise InputError("pre-traffic-payload-file", problem, fix)
    return _with_pre_traffic(settings, source, accuracy, env)


def _with_pre_traffic(
    settings: Settings, source: str, accuracy: float | None, env: Mapping[str, str]
) -> Settings:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    path = workspace_file(
        "pre-traffic-payload-file", source, workspace, local_state_folder("local")
    )
    text = read_text("pre-traffic-payload-file", path, "payload file")
    try:
        payloads = parse_payloads(path, text)
    except InputError as error:  # its rules are smoke-test's; the input here is another
        raise InputError("pre-traffic-payload-file", error.problem, error.hint) from None
    if accuracy is not None and not payloads.has_labels:
        raise InputError(
            "pre-traffic-min-accuracy",
            f"needs labels and {path.name} has none",
            'Write the payloads as JSON lines with a "label", or leave pre-traffic-min-accuracy empty.',
        )
    return Settings(
        settings.max_error_rate,
        settings.max_latency_ratio,
        settings.min_invocations,
        path.name,
        text,
        request_content_type("", path),
        accuracy,
        settings.max_latency_ms,
    )


def _optional(values: InputValues, name: str, parse: Any) -> float | None:
    text = values[name].strip()
    return parse(name, text) if text else None


def _ratio(name: str, text: str) -> float:
    value = decimal_number(text)
    if value is None or not 1 <= value <= MAX_LATENCY_RATIO:
        raise InputError(
            name,
            f"must be a number from 1 to {MAX_LATENCY_RATIO:g}, got {shown(text)} (the new fleet's latency over the old one's)",
            f"E.g. {name}: 1.5",
        )
    return value


def _minimum(name: str, text: str) -> float:
    return whole_number(name, text, 0, MAX_MIN_INVOCATIONS)


# ---- judging one step -------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetWindow:
    """One fleet's numbers over a step's window: requests, 4XX+5XX answers, average
    ModelLatency in microseconds (None: no sample)."""

    invocations: int
    errors: int
    latency_us: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations else None


def judge(
    settings: Settings, step: int, share: float, seconds: float, new: FleetWindow, old: FleetWindow
) -> dict[str, Any]:
    """The verdict of step `step` (share % of traffic on the new fleet for `seconds`)."""
    verdict, reasons = PASS, []
    if new.invocations < settings.min_invocations:
        verdict = NOT_ENOUGH
        reasons.append(
            f"the new fleet answered {new.invocations} requests, fewer than step-min-invocations {settings.min_invocations}"
        )
    rate = new.error_rate
    if settings.max_error_rate is not None and rate is not None and rate > settings.max_error_rate:
        verdict = FAIL
        reasons.append(
            f"error rate {rate:.2%} > step-max-error-rate {settings.max_error_rate:.2%} ({new.errors} of {new.invocations} requests)"
        )
    if settings.max_latency_ratio is not None and new.latency_us is not None:
        if not old.latency_us:
            verdict = FAIL if verdict == FAIL else NOT_ENOUGH
            reasons.append("the old fleet answered no request to compare latency with")
        elif new.latency_us > settings.max_latency_ratio * old.latency_us:
            verdict = FAIL
            reasons.append(
                f"model latency {new.latency_us / 1000:.3g} ms > {settings.max_latency_ratio:g} × the old fleet's {old.latency_us / 1000:.3g} ms"
            )
    return {
        "Step": step,
        "TrafficPercent": share,
        "WindowSeconds": round(seconds, 1),
        "Invocations": new.invocations,
        "ErrorRate": rate,
        "OldErrorRate": old.error_rate,
        "LatencyMs": None if new.latency_us is None else new.latency_us / 1000,
        "OldLatencyMs": None if old.latency_us is None else old.latency_us / 1000,
        "Verdict": verdict,
        "Reason": "; ".join(reasons),
    }


def missed(verdict: dict[str, Any]) -> str:
    """'' when the step passed; else the FailureReason's words for it."""
    if verdict["Verdict"] == PASS:
        return ""
    where = (
        "the pre-traffic test"
        if verdict["Step"] == 0
        else f"step {verdict['Step']} ({verdict['TrafficPercent']:g} % of traffic for {verdict['WindowSeconds']:g} s)"
    )
    return f"step analysis: {where}: {verdict['Verdict']}: {verdict['Reason']}"


# ---- the sagemaker backend: the checks as alarms ------------------------------------------------


def deployer_request(settings: Settings | None) -> dict[str, Any]:
    """What the deployment config carries for the local deployer (nothing for SageMaker)."""
    if settings is None or not settings.in_deployer:
        return {}
    return {SETTINGS_KEY: settings.to_request()}


def alarm_count(settings: Settings | None) -> int:
    """The rollback alarms the step checks add on the sagemaker backend."""
    if settings is None or settings.in_deployer:
        return 0
    return (settings.max_error_rate is not None) + (settings.max_latency_ratio is not None)


ERROR_RATE_ALARM = "{endpoint}-step-error-rate"
LATENCY_RATIO_ALARM = "{endpoint}-step-latency-ratio"


def alarm_requests(
    settings: Settings | None, endpoint: str, variant: str, configs: tuple[str, str], wait: int
) -> list[dict[str, Any]]:
    """The metric-math alarms of the step checks for an update from configs[0] (old fleet) to
    configs[1] (new fleet); none without step checks. See the module's doc."""
    if settings is None or settings.in_deployer or not settings.steps_checked:
        return []
    old, new = configs
    period = max(60, wait // 60 * 60)  # Period: a multiple of 60 for per-minute metrics

    def metric(ident: str, name: str, config: str, stat: str) -> dict[str, Any]:
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
            {"Name": "EndpointConfigName", "Value": config},
        ]
        return {
            "Id": ident,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SageMaker",
                    "MetricName": name,
                    "Dimensions": dimensions,
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": False,
        }

    common = {
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    enough = f"FILL(inv, 0) >= {settings.min_invocations}"
    requests = []
    if settings.max_error_rate is not None:
        requests.append({
            **common,
            "AlarmName": ERROR_RATE_ALARM.format(endpoint=endpoint),
            "AlarmDescription": f"smgha step analysis: roll back when {new}'s 4XX+5XX share exceeds {settings.max_error_rate:g}",
            "Metrics": [
                metric("inv", "Invocations", new, "Sum"),
                metric("e4", "Invocation4XXErrors", new, "Sum"),
                metric("e5", "Invocation5XXErrors", new, "Sum"),
                {"Id": "rate", "Expression": f"IF({enough}, (FILL(e4, 0) + FILL(e5, 0)) / inv, 0)", "Label": "new fleet error rate", "ReturnData": True},
            ],
            "Threshold": settings.max_error_rate,
        })  # fmt: skip
    if settings.max_latency_ratio is not None:
        requests.append({
            **common,
            "AlarmName": LATENCY_RATIO_ALARM.format(endpoint=endpoint),
            "AlarmDescription": f"smgha step analysis: roll back when {new}'s model latency exceeds {settings.max_latency_ratio:g} × {old}'s",
            "Metrics": [
                metric("inv", "Invocations", new, "Sum"),
                metric("lnew", "ModelLatency", new, "Average"),
                metric("lold", "ModelLatency", old, "Average"),
                {"Id": "ratio", "Expression": f"IF({enough} AND FILL(lold, 0) > 0, FILL(lnew, 0) / lold, 0)", "Label": "new over old fleet latency", "ReturnData": True},
            ],
            "Threshold": settings.max_latency_ratio,
        })  # fmt: skip
    return requests


# ---- the summary ---------------------------------------------------------------------------------


def summary_table(
    settings: Settings | None,
    endpoint: str,
    record: dict[str, Any],
    describe_alarms: Callable[[list[str]], list[dict[str, Any]]],
) -> tuple[list[str], list[list[str]]] | None:
    """deploy-endpoint's table of an update's step analysis: the local deployer's verdicts
    (from the endpoint record), or the states of SageMaker's step-analysis alarms."""
    if settings is None:
        return None
    if settings.in_deployer:
        verdicts = record.get(VERDICTS_KEY) or []
        return verdict_table(verdicts) if verdicts else None
    names = [n.format(endpoint=endpoint) for n in (ERROR_RATE_ALARM, LATENCY_RATIO_ALARM)]
    alarms = describe_alarms(names) if settings.steps_checked else []
    return alarm_table(alarms) if alarms else None


VERDICT_MARKS = {PASS: "✅ pass", FAIL: "❌ fail", NOT_ENOUGH: "⚠️ not enough traffic"}


def verdict_table(verdicts: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """deploy-endpoint's table of the local backend's step verdicts."""
    headers = ["Step", "Traffic", "Window", "Requests", "Error rate new / old", "Latency new / old", "Verdict"]  # fmt: skip
    rows = []
    for v in verdicts:
        rows.append([
            "pre-traffic" if v["Step"] == 0 else str(v["Step"]),
            f"{v['TrafficPercent']:g} %",
            f"{v['WindowSeconds']:g} s",
            str(v["Invocations"]),
            f"{_percent(v['ErrorRate'])} / {_percent(v['OldErrorRate'])}",
            f"{_ms(v['LatencyMs'])} / {_ms(v['OldLatencyMs'])}",
            VERDICT_MARKS.get(v["Verdict"], v["Verdict"]) + (f": {v['Reason']}" if v["Reason"] else ""),
        ])  # fmt: skip
    return headers, rows


def alarm_table(alarms: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """deploy-endpoint's table of the step-analysis alarms' states (the sagemaker backend)."""
    rows = [
        [f"`{a['AlarmName']}`", f"> {a.get('Threshold', 0):g}", a.get("StateValue", "?"), a.get("StateReason", "")]
        for a in alarms
    ]  # fmt: skip
    return ["Step-analysis alarm", "Miss when", "State", "Reason"], rows


def _percent(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g} ms"
