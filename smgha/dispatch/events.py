"""Which EventBridge events the dispatcher acts on, read into what it needs; anything else is
an Ignored with the reason the log line gives.

The events' shapes:
* "SageMaker Model Package State Change" (source aws.sagemaker): its detail is the model
  package as DescribeModelPackage returns it (ModelPackageGroupName, ModelPackageArn,
  ModelApprovalStatus) ("Events that Amazon SageMaker AI sends to Amazon EventBridge",
  https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package).
  The same page warns that SageMaker "may send multiple events to EventBridge for each state
  change": an event is not proof of a new approval, which is why model-deploy checks the ARN
  again and why a second deploy of the same version changes nothing.
* "CloudWatch Alarm State Change" (source aws.cloudwatch): detail.alarmName,
  detail.state.value (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
  An alarm sends one event per state change, not one per breaching period: a feature that
  keeps drifting keeps its alarm in ALARM and sends nothing more. So the alarm alone cannot
  count N consecutive violating runs; the periodic drift check (DRIFT_CHECK below, an
  EventBridge schedule of events.tf) asks again after every monitoring run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# The constant input of events.tf's schedule rule (not an AWS event: the rule's target input).
DRIFT_CHECK = "smgha drift check"
# A model package version's ARN (ModelPackageArn's pattern in the SageMaker API reference,
# narrowed to a versioned package: .../model-package/<group>/<version>).
PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/([A-Za-z0-9-]{1,63})/([0-9]+)$"
)


@dataclass(frozen=True)
class Approved:
    model_package_arn: str


@dataclass(frozen=True)
class DriftCheck:
    why: str  # "alarm <name>" or "schedule": what the log line and the summary say


@dataclass(frozen=True)
class Ignored:
    reason: str


def drift_alarm_prefix(endpoint: str) -> str:
    """The names enable-monitor gives the endpoint's drift alarms, up to the feature
    (smgha/resources/monitoring.py, DataQuality.alarm_requests: <endpoint>-baseline-drift-<feature>)."""
    return f"{endpoint}-baseline-drift-"


def read_event(event: Any, group: str, endpoint: str) -> Approved | DriftCheck | Ignored:
    """What `event` asks of the dispatcher configured for package group `group` and drift on
    `endpoint` (either may be empty: that half is off)."""
    if not isinstance(event, dict):
        return Ignored("the event is not a JSON object")
    kind = event.get("detail-type")
    raw_detail = event.get("detail")
    detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    if kind == MODEL_PACKAGE_STATE_CHANGE:
        return _package_event(detail, group)
    if kind == ALARM_STATE_CHANGE:
        name = str(detail.get("alarmName", ""))
        state_change = detail.get("state")
        state = state_change.get("value") if isinstance(state_change, dict) else None
        if not endpoint or not name.startswith(drift_alarm_prefix(endpoint)):
            return Ignored(f"alarm {name!r} is not a drift alarm of endpoint {endpoint!r}")
        if state != "ALARM":
            return Ignored(f"alarm {name!r} went to {state}, not ALARM")
        return DriftCheck(f"alarm {name}")
    if kind == DRIFT_CHECK:
        return DriftCheck("schedule") if endpoint else Ignored("drift retraining is off")
    return Ignored(f"event type {str(kind)[:100]!r} is not one the dispatcher handles")


def _package_event(detail: dict[str, Any], group: str) -> Approved | Ignored:
    arn = str(detail.get("ModelPackageArn", ""))
    event_group = detail.get("ModelPackageGroupName")
    status = detail.get("ModelApprovalStatus")
    if not group or event_group != group:
        return Ignored(f"model package {arn} is of group {event_group!r}, not {group!r}")
    if status != "Approved":
        return Ignored(f"model package {arn} is {status}, not Approved")
    found = PACKAGE_ARN_RE.match(arn)
    if found is None or found.group(1) != group:
        return Ignored(f"model package ARN {arn[:300]!r} is not a version of group {group!r}")
    return Approved(arn)
