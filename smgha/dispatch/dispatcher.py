"""What the dispatcher does with an event: dispatch `model-approved`, dispatch
`drift-detected` (debounced and budgeted), or log why not. It keeps no state of its own:

* debounce: SageMaker's own record of the schedule's runs (ListMonitoringExecutions, newest
  first): the last N must all be CompletedWithViolations
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListMonitoringExecutions.html);
* budget: GitHub's own record of the retrains (the build workflow's runs started by
  repository_dispatch in the last 7 days: "List workflow runs for a workflow", `event` and
  `created` filters, https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow).
  Only drift-detected dispatches start that workflow through repository_dispatch
  (workflows-templates/model-build.yml), so each such run is one retrain;
* once per violating run: a retrain run created after the newest violating run finished
  means this run already dispatched one (the alarm and the periodic check may both see it).

A table of its own (DynamoDB) would be one more resource to pay for, secure and keep in step
with what really ran; the two records above are the truth already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha.dispatch.events import Approved, DriftCheck, Ignored, drift_alarm_prefix, read_event
from smgha.github_api import GitHubClient

MODEL_APPROVED = "model-approved"
DRIFT_DETECTED = "drift-detected"
BUDGET_WINDOW = dt.timedelta(days=7)
VIOLATIONS = "CompletedWithViolations"  # MonitoringExecutionStatus


@dataclass(frozen=True)
class Config:
    repository: str  # owner/name
    model_package_group: str  # "" turns the approval half off
    endpoint: str  # "" turns the drift half off
    schedule: str  # the endpoint's data-quality monitoring schedule
    debounce_runs: int  # N
    retrain_budget: int  # K per BUDGET_WINDOW
    build_workflow: str  # the workflow file drift-detected starts, e.g. model-build.yml
    notice_topic_arn: str  # where a spent budget is announced (the alarm topic)


@dataclass(frozen=True)
class Clients:
    github: GitHubClient  # with an installation token of the repository
    sagemaker: Any  # boto3 clients
    cloudwatch: Any
    sns: Any


def handle(
    event: Any,
    config: Config,
    clients: Callable[[], Clients],
    now: dt.datetime,
    log: Callable[[str], None],
) -> str:
    """Act on `event`; returns what was done (also logged): "dispatched ...", "ignored ...",
    "debounced ...", "budget spent ..." or "already dispatched ...". `clients` is called only
    when the event is one to act on (no token is minted for an ignored event)."""
    read = read_event(event, config.model_package_group, config.endpoint)
    if isinstance(read, Ignored):
        outcome = f"ignored: {read.reason}"
    elif isinstance(read, Approved):
        connected = clients()
        dispatch(connected.github, config.repository, MODEL_APPROVED,
                 {"model_package_arn": read.model_package_arn})  # fmt: skip
        outcome = f"dispatched {MODEL_APPROVED} for {read.model_package_arn}"
    else:
        outcome = drift(read, config, clients(), now, log)
    log(outcome)
    return outcome


def dispatch(
    github: GitHubClient, repository: str, event_type: str, payload: dict[str, Any]
) -> None:
    """POST /repos/{owner}/{repo}/dispatches (204 No Content)
    (https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event)."""
    github.call("POST", f"/repos/{repository}/dispatches",
                payload={"event_type": event_type, "client_payload": payload})  # fmt: skip


def drift(check: DriftCheck, config: Config, clients: Clients, now: dt.datetime,
          log: Callable[[str], None]) -> str:  # fmt: skip
    executions = recent_executions(clients.sagemaker, config.schedule, config.debounce_runs)
    violating = [e for e in executions if e.get("MonitoringExecutionStatus") == VIOLATIONS]
    statuses = ", ".join(str(e.get("MonitoringExecutionStatus")) for e in executions) or "none"
    if len(executions) < config.debounce_runs or len(violating) < config.debounce_runs:
        return (f"debounced: the last {config.debounce_runs} monitoring runs of "
                f"{config.schedule} must all find violations; they are: {statuses} ({check.why})")  # fmt: skip
    newest = executions[0]
    finished = newest.get("LastModifiedTime") or newest["ScheduledTime"]
    retrains = retrain_runs(clients.github, config, now)
    if any(created >= finished for created in retrains):
        return (f"already dispatched {DRIFT_DETECTED} for the monitoring run of "
                f"{newest['ScheduledTime']:%Y-%m-%dT%H:%M}Z ({check.why})")  # fmt: skip
    features = drifting_features(clients.cloudwatch, config.endpoint)
    report = report_uri(clients.sagemaker, newest)
    if len(retrains) >= config.retrain_budget:
        notice = (f"budget spent: {len(retrains)} retrains of {config.repository} in the last "
                  f"7 days (at most {config.retrain_budget}); drift on {config.endpoint} "
                  f"({', '.join(features) or 'no alarm in ALARM'}, report {report}) is not "
                  "retrained. Fix: look at the report; retrain by hand (run model-build) or "
                  "raise retrain_budget_per_week")  # fmt: skip
        clients.sns.publish(TopicArn=config.notice_topic_arn, Subject="smgha: retrain budget spent",
                            Message=notice)  # fmt: skip
        return notice
    payload = {"endpoint": config.endpoint, "features": features, "report_uri": report,
               "execution": newest.get("ProcessingJobArn", ""), "trigger": check.why}  # fmt: skip
    dispatch(clients.github, config.repository, DRIFT_DETECTED, payload)
    return (
        f"dispatched {DRIFT_DETECTED} for {config.endpoint}: {', '.join(features)}, report {report}"
    )


def recent_executions(sagemaker: Any, schedule: str, count: int) -> list[dict[str, Any]]:
    """The schedule's last `count` monitoring runs that finished, newest first. Runs still
    Pending or InProgress (the current hour's) are left out: they have found nothing yet."""
    answer = sagemaker.list_monitoring_executions(
        MonitoringScheduleName=schedule, SortBy="ScheduledTime", SortOrder="Descending",
        MaxResults=min(100, count + 2),
    )  # fmt: skip
    finished = [
        e for e in answer.get("MonitoringExecutionSummaries", [])
        if e.get("MonitoringExecutionStatus") not in ("Pending", "InProgress", "Stopping")
    ]  # fmt: skip
    return finished[:count]


def retrain_runs(github: GitHubClient, config: Config, now: dt.datetime) -> list[dt.datetime]:
    """When each run of the build workflow started by repository_dispatch in the last 7 days
    was created."""
    since = (now - BUDGET_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = f"/repos/{config.repository}/actions/workflows/{config.build_workflow}/runs"
    runs = github.pages(path, {"event": "repository_dispatch", "created": f">={since}"},
                        key="workflow_runs")  # fmt: skip
    return [dt.datetime.fromisoformat(str(r["created_at"]).replace("Z", "+00:00")) for r in runs]


def drifting_features(cloudwatch: Any, endpoint: str) -> list[str]:
    """The features whose drift alarm (enable-monitor's, one per feature) is in ALARM."""
    prefix = drift_alarm_prefix(endpoint)
    features: list[str] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, StateValue="ALARM", AlarmTypes=["MetricAlarm"]
    ):
        features += [a["AlarmName"][len(prefix) :] for a in page.get("MetricAlarms", [])]
    return sorted(features)


def report_uri(sagemaker: Any, execution: dict[str, Any]) -> str:
    """The run's violations report: constraint_violations.json in the processing job's output
    folder (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-violations.html)."""
    job = str(execution.get("ProcessingJobArn", "")).rsplit("/", 1)[-1]
    if not job:
        return ""
    outputs = sagemaker.describe_processing_job(ProcessingJobName=job).get(
        "ProcessingOutputConfig", {}).get("Outputs", [])  # fmt: skip
    folder = outputs[0]["S3Output"]["S3Uri"].rstrip("/") if outputs else ""
    return f"{folder}/constraint_violations.json" if folder else ""
