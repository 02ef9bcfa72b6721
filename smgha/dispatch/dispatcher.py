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
  means this run already dispatched one (the alarm and the periodic check may both see it);
* once per approval: SageMaker "may send multiple events to EventBridge for each state
  change" (automating-sagemaker-with-eventbridge.html), so a deploy run of the last hour
  named after the version (the template's `run-name`, DEPLOY_RUN_NAME) means it was sent.

A table of its own (DynamoDB) would be one more resource to pay for, secure and keep in step
with what really ran; the two records above are the truth already.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha.dispatch.events import Approved, DriftCheck, Ignored, read_event
from smgha.github_api import GitHubClient

MODEL_APPROVED = "model-approved"
DRIFT_DETECTED = "drift-detected"
BUDGET_WINDOW = dt.timedelta(days=7)
# workflows-templates/model-deploy.yml's run-name on a model-approved event: the run's
# display_title in the REST API (https://docs.github.com/en/rest/actions/workflow-runs).
DEPLOY_RUN_NAME = "model-deploy {arn}"
DUPLICATE_WINDOW = dt.timedelta(hours=1)
VIOLATIONS = "CompletedWithViolations"  # MonitoringExecutionStatus
# How often events.tf's drift check runs: a check that finds no run finished since the last
# one stops there (no second notice for the same run, no GitHub calls).
CHECK_PERIOD = dt.timedelta(hours=1)
MAX_REPORT_BYTES = 4 * 1024 * 1024  # a violations report is a few KB per feature
MAX_FEATURES = 50  # named in the dispatch (client_payload); the report holds them all


@dataclass(frozen=True)
class Config:
    repository: str  # owner/name
    model_package_group: str  # "" turns the approval half off
    endpoint: str  # "" turns the drift half off
    schedule: str  # the endpoint's data-quality monitoring schedule
    debounce_runs: int  # N
    retrain_budget: int  # K per BUDGET_WINDOW
    build_workflow: str  # the workflow file drift-detected starts, e.g. model-build.yml
    deploy_workflow: str  # the workflow file model-approved starts, e.g. model-deploy.yml
    notice_topic_arn: str  # where a spent budget is announced (the alarm topic)


@dataclass(frozen=True)
class Clients:
    github: GitHubClient  # with an installation token of the repository
    sagemaker: Any  # boto3 clients
    s3: Any
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
        outcome = approve(read.model_package_arn, config, clients().github, now)
    else:
        outcome = drift(read, config, clients(), now, log)
    log(outcome)
    return outcome


def approve(arn: str, config: Config, github: GitHubClient, now: dt.datetime) -> str:
    """Dispatch model-approved for `arn`, unless a deploy run of the last hour is named
    after it already (the same approval's event, sent again)."""
    since = (now - DUPLICATE_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = f"/repos/{config.repository}/actions/workflows/{config.deploy_workflow}/runs"
    title = DEPLOY_RUN_NAME.format(arn=arn)
    for run in github.pages(path, {"event": "repository_dispatch", "created": f">={since}"},
                            key="workflow_runs"):  # fmt: skip
        if run.get("display_title") == title:
            return f"already dispatched {MODEL_APPROVED} for {arn}: {run.get('html_url', '')}"
    dispatch(github, config.repository, MODEL_APPROVED, {"model_package_arn": arn})
    return f"dispatched {MODEL_APPROVED} for {arn}"


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
    newest = executions[0] if executions else {}
    finished: dt.datetime | None = newest.get("LastModifiedTime") or newest.get("ScheduledTime")
    if check.why == "schedule" and (finished is None or now - finished > CHECK_PERIOD):
        return f"nothing new: no monitoring run of {config.schedule} finished in the last hour"
    violating = [e for e in executions if e.get("MonitoringExecutionStatus") == VIOLATIONS]
    statuses = ", ".join(str(e.get("MonitoringExecutionStatus")) for e in executions) or "none"
    if len(executions) < config.debounce_runs or len(violating) < config.debounce_runs:
        return (f"debounced: the last {config.debounce_runs} monitoring runs of "
                f"{config.schedule} must all find violations; they are: {statuses} ({check.why})")  # fmt: skip
    retrains = retrain_runs(clients.github, config, now)
    if finished is not None and any(created >= finished for created in retrains):
        return (f"already dispatched {DRIFT_DETECTED} for the monitoring run of "
                f"{newest['ScheduledTime']:%Y-%m-%dT%H:%M}Z ({check.why})")  # fmt: skip
    report = report_uri(clients.sagemaker, newest)
    features = violating_features(clients.s3, report)
    if len(retrains) >= config.retrain_budget:
        notice = (f"budget spent: {len(retrains)} retrains of {config.repository} in the last "
                  f"7 days (at most {config.retrain_budget}); drift on {config.endpoint} "
                  f"({', '.join(features) or 'no feature named'}, report {report}) is not "
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


def violating_features(s3: Any, report: str) -> list[str]:
    """The features the report names (its "violations": [{"feature_name", ...}], the
    analyzer's constraint_violations.json, model-monitor-interpreting-violations.html), at
    most MAX_FEATURES of them."""
    if not report.startswith("s3://"):
        return []
    bucket, key = report.removeprefix("s3://").split("/", 1)
    with s3.get_object(Bucket=bucket, Key=key)["Body"] as body:
        data = body.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise ValueError(f"{report} is over {MAX_REPORT_BYTES} bytes: not a violations report")
    violations = json.loads(data).get("violations", [])
    names = {
        str(v["feature_name"]) for v in violations if isinstance(v, dict) and v.get("feature_name")
    }
    return sorted(names)[:MAX_FEATURES]
