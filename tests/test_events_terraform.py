"""infra/terraform/events.tf (issue 19), checked without terraform: off by default; the rules'
event patterns, matched as EventBridge matches them against SageMaker's and CloudWatch's
events, let through only the group's approvals and the endpoint's drift alarms; the Lambda's
zip holds the dispatcher and nothing it cannot import on Lambda's runtime; and its role grants
exactly what the dispatcher calls, proven by the IAM policy evaluator over the requests of a
drift run (tests/iam_simulator.py)."""

from __future__ import annotations

import ast
import json
import re
import sys
from typing import Any

from smgha.dispatch import events
from tests import test_dispatch
from tests.e2e.github_api_stand_in import GitHubStandIn
from tests.iam_policies import DEPLOYMENT, values
from tests.iam_simulator import IamRequest, denials
from tests.terraform_hcl import (
    MODULE,
    Value,
    all_blocks,
    attribute,
    label,
    literal,
    parse,
    policy_documents,
    policy_json,
    resolve,
)
from tests.test_dispatch import Aws, aws, github, key  # noqa: F401  (fixtures)
from tests.yaml_files import ROOT

EVENTS = MODULE / "events.tf"
GROUP, ENDPOINT = "churn-models", "churn-production"
TOPIC = f"arn:aws:sns:{DEPLOYMENT.region}:{DEPLOYMENT.account}:churn-alarms"  # name_prefix churn
SECRET = f"arn:aws:secretsmanager:{DEPLOYMENT.region}:{DEPLOYMENT.account}:secret:churn-github-app-AbCdEf"


def event_values() -> dict[str, Value]:
    """The e2e deployment's values (tests/iam/e2e.tfvars), events on, drift on ENDPOINT; what
    Terraform knows only once the resources exist given as AWS would name them."""
    found = values()
    arn = f"{DEPLOYMENT.region}:{DEPLOYMENT.account}"
    found.update({
        "local.drift_endpoint": ENDPOINT,
        "local.github_app_secret_arn": SECRET,
        "local.github_app_key_arn": f"arn:aws:kms:{arn}:key/1111-2222",
        "local.events_dlq_arn": f"arn:aws:sqs:{arn}:churn-events-dlq",
        "aws_sns_topic.alarms.arn": TOPIC,
        "aws_kms_key.alarms.arn": f"arn:aws:kms:{arn}:key/3333-4444",
        "var.monitoring_reports_prefix": "monitoring/",
    })  # fmt: skip
    return found


def pattern(rule: str, found: dict[str, Value]) -> dict[str, Any]:
    """A rule's event_pattern (jsonencode of an HCL object) as the JSON EventBridge gets."""
    text = str(all_blocks("resource", "aws_cloudwatch_event_rule")[rule]["event_pattern"])
    body = text.removeprefix("${jsonencode(").removesuffix(")}")
    body = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: json.dumps(resolve(m.group(0), found)), body)
    body = re.sub(r"\b(var|local)\.[a-z_]+\b", lambda m: json.dumps(found[m.group(0)]), body)
    body = re.sub(
        r'([A-Za-z_][A-Za-z0-9_-]*|"[^"]+")\s*=',
        lambda m: json.dumps(m.group(1).strip('"')) + ":",
        body,
    )
    return json.loads(body)


def matches(event_pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the forms the rules use: a list of values (any of them),
    {"prefix": ...}, and nested objects (every key must match)
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html)."""
    if isinstance(event_pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(value, event[key]) for key, value in event_pattern.items()
        )
    return any(
        (isinstance(option, dict) and isinstance(event, str) and event.startswith(option["prefix"]))
        or option == event
        for option in event_pattern
    )


def test_everything_is_off_by_default() -> None:
    variable = all_blocks("variable")["events_enabled"]
    assert (
        literal(attribute(variable, "default")) is False or attribute(variable, "default") is False
    )
    for kind, resources in parse(EVENTS).items():
        if kind not in ("resource", "data"):
            continue
        for block in resources:
            for type_, named in block.items():
                for name, body in named.items():
                    gate = str(body.get("count") or body.get("for_each") or "")
                    gated = re.search(r"local\.(events|drift_events|dispatcher_rules)\b", gate)
                    # A policy document creates nothing (and reads nothing): it needs no gate.
                    assert gated or label(type_) == "aws_iam_policy_document", (
                        f"{type_}.{name} is created with events off"
                    )


def test_the_approval_rule_lets_through_only_the_groups_approvals() -> None:
    approved = pattern("model_approved", event_values())
    assert matches(approved, test_dispatch.package_event())
    assert not matches(approved, test_dispatch.package_event(group="fraud-models"))
    assert not matches(approved, test_dispatch.package_event(status="Rejected"))
    assert not matches(approved, test_dispatch.package_event(status="PendingManualApproval"))
    assert not matches(approved, test_dispatch.alarm_event())


def test_the_drift_rule_lets_through_only_the_endpoints_drift_alarms_going_to_alarm() -> None:
    drift = pattern("drift", event_values())
    assert matches(drift, test_dispatch.alarm_event())
    assert not matches(drift, test_dispatch.alarm_event(state="OK"))
    other = test_dispatch.alarm_event()
    other["detail"]["alarmName"] = "churn-staging-baseline-drift-tenure"
    assert not matches(drift, other)
    assert not matches(drift, test_dispatch.package_event())
    # The function reads its alarm names as the rule does.
    assert events.drift_alarm_prefix(ENDPOINT) == "churn-production-baseline-drift-"


def test_the_zip_holds_the_dispatcher_and_it_needs_only_the_standard_library() -> None:
    local_files = next(
        block["dispatcher_files"] for data in [parse(EVENTS)] for block in data["locals"]
        if "dispatcher_files" in block
    )  # fmt: skip
    files = [str(literal(item)) for item in local_files]
    package = ROOT / "smgha" / "dispatch"
    assert sorted(files) == sorted(p.name for p in package.glob("*.py"))
    zipped = [package / name for name in files if name] + [ROOT / "smgha" / "github_api.py"]
    allowed = set(sys.stdlib_module_names) | {"smgha", "boto3"}  # boto3: Lambda's runtime has it
    for path in zipped:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top == "__future__", f"{path.name} imports {name}"
                if top == "smgha":
                    assert name in ("smgha.github_api",) or name.startswith("smgha.dispatch"), (
                        f"{path.name} imports {name}: not in the zip"
                    )


def drift_requests(stand_in: GitHubStandIn, stubbed: Aws) -> list[IamRequest]:
    """The AWS requests of a drift run that dispatches (debounce met, budget left) and of the
    next, whose budget is spent (the notice), recorded as the clients send them, as IAM
    authorizes them (the report in the deployment's bucket)."""
    sent: list[tuple[str, str, dict[str, Any]]] = []
    for client in (stubbed.sagemaker, stubbed.s3, stubbed.sns):
        service = client.meta.service_model.service_name
        client.meta.events.register(
            "provide-client-params.*.*",
            lambda params, model, service=service, **_: sent.append((service, model.name, params)),
        )
    outcome = test_dispatch.drift_at(
        2, ["CompletedWithViolations"] * 3, stand_in, stubbed, None, ["tenure"]
    )
    assert outcome.startswith("dispatched")
    stubbed.stubs["sns"].add_response("publish", {"MessageId": "1"})
    notice = test_dispatch.drift_at(
        3,
        ["CompletedWithViolations"] * 4,
        stand_in,
        stubbed,
        None,
        ["tenure"],
        notice_topic_arn=TOPIC,
    )
    assert notice.startswith("budget spent")
    principal = DEPLOYMENT.role("role/churn-events-dispatcher")
    arn = f"{DEPLOYMENT.region}:{DEPLOYMENT.account}"
    requests = []
    for service, operation, params in sent:
        if operation == "ListMonitoringExecutions":
            resource = "*"
        elif operation == "DescribeProcessingJob":
            resource = f"arn:aws:sagemaker:{arn}:processing-job/{params['ProcessingJobName']}"
        elif operation == "GetObject":
            resource = (
                f"arn:aws:s3:::acme-churn-mlops/{params['Key']}"  # tests/iam/e2e.tfvars' bucket
            )
        else:
            resource = params["TopicArn"]
        action = f"{service}:{operation}"
        requests.append(IamRequest(principal, action, resource, DEPLOYMENT.account, why=operation))
    return requests


def test_the_role_grants_exactly_what_the_dispatcher_calls(
    github: GitHubStandIn,  # noqa: F811
    aws: Aws,  # noqa: F811
) -> None:
    found = event_values()
    documents = policy_documents()
    policies = {name: policy_json(documents[name], found)
                for name in ("dispatcher_permissions", "dispatcher_drift_permissions")}  # fmt: skip
    requests = drift_requests(github, aws)
    actions = {r.action for r in requests}
    assert actions == {"sagemaker:ListMonitoringExecutions", "sagemaker:DescribeProcessingJob",
                       "s3:GetObject", "sns:Publish"}  # fmt: skip
    assert denials([(r, "dispatcher_drift_permissions") for r in requests], policies) == []
    granted = {
        a for s in policies["dispatcher_drift_permissions"]["Statement"] for a in s["Action"]
    }
    # Nothing more than the calls, but the KMS calls SNS makes to publish to the encrypted topic.
    assert granted - actions == {"kms:GenerateDataKey", "kms:Decrypt"}
    # A report outside the prefix, another topic: denied.
    outside = [
        (IamRequest(requests[0].principal, "s3:GetObject", "arn:aws:s3:::acme-churn-mlops/churn/train/train.csv",
                    DEPLOYMENT.account, why="not a report"), "dispatcher_drift_permissions"),
        (IamRequest(requests[0].principal, "sns:Publish", f"arn:aws:sns:{DEPLOYMENT.region}:{DEPLOYMENT.account}:other",
                    DEPLOYMENT.account, why="another topic"), "dispatcher_drift_permissions"),
        (IamRequest(requests[0].principal, "secretsmanager:GetSecretValue", SECRET.replace("github-app", "db"),
                    DEPLOYMENT.account, why="another secret"), "dispatcher_permissions"),
    ]  # fmt: skip
    assert len(denials(outside, policies)) == 3
    secret = IamRequest(
        requests[0].principal,
        "secretsmanager:GetSecretValue",
        SECRET,
        DEPLOYMENT.account,
        why="the App",
    )
    assert denials([(secret, "dispatcher_permissions")], policies) == []
