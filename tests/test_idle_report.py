"""`smgha endpoints idle-report` against the AWS double (tests/e2e/aws_double.py: moto behind
the contract-checking, recording proxy), and its GitHub issue against the GitHub stand-in.

moto creates every endpoint "now", so the report's clock is moved forward: to one day and a
few minutes after the newest endpoint, with --days 1. The invocations are put half an hour
after the endpoints were created, inside that window (CloudWatch takes data points up to two
hours in the future: PutMetricData, "Timestamp").
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.aws.client import IAM_ACTIONS
from smgha.cli import build_parser
from smgha.idle_issue import MARKER, TITLE
from smgha.idle_report_cli import run
from smgha.resources.prices import SHIPPED_DATE
from tests.e2e import harness
from tests.e2e.github_api_stand_in import GitHubStandIn
from tests.iam_idle_report import report_denials

pytestmark = pytest.mark.slow

KEY = "idle-report"  # the report's access key: its calls are told apart from the harness's
ROLE = "arn:aws:iam::123456789012:role/e2e-model"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"
REPOSITORY = "acme/churn-model"

# name -> (CreateEndpointConfig's variants and extras, invocations put for it)
ENDPOINTS: dict[str, tuple[dict[str, Any], int]] = {
    "busy": ({"InstanceType": "ml.m5.large", "InitialInstanceCount": 2}, 3),
    "quiet": ({"InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}, 0),
    "quiet-serverless": ({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}, 0),
    "unpriced": ({"InstanceType": "ml.r5.large", "InitialInstanceCount": 1}, 0),
    "queue": ({"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}, 0),  # asynchronous
}
IDLE = ["quiet", "quiet-serverless", "unpriced"]


class Account:
    def __init__(self, double: harness.AwsDouble, now: dt.datetime) -> None:
        self.double = double
        self.now = now  # the report's clock

    def report_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.double.recorded_calls() if c["access_key"] == KEY]

    def endpoints(self) -> list[str]:
        listed = self.double.client("sagemaker").list_endpoints()["Endpoints"]
        return sorted(e["EndpointName"] for e in listed)

    def configs(self) -> list[str]:
        listed = self.double.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]
        return sorted(c["EndpointConfigName"] for c in listed)


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    double = harness.plain_aws_double(tmp_path)
    try:
        sagemaker, cloudwatch = double.client("sagemaker"), double.client("cloudwatch")
        sagemaker.create_model(
            ModelName="churn-v1",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"},
        )
        created = []
        for name, (variant, _) in ENDPOINTS.items():
            extra: dict[str, Any] = {}
            if name == "queue":
                extra["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": "s3://b/out"}}
            sagemaker.create_endpoint_config(
                EndpointConfigName=f"{name}-config",
                ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "churn-v1", **variant}],
                **extra,
            )  # fmt: skip
            sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
            created.append(sagemaker.describe_endpoint(EndpointName=name)["CreationTime"])
        put_at = max(created) + dt.timedelta(minutes=30)
        for name, (_, invocations) in ENDPOINTS.items():
            if invocations:
                cloudwatch.put_metric_data(
                    Namespace="AWS/SageMaker",
                    MetricData=[{
                        "MetricName": "Invocations", "Value": invocations, "Timestamp": put_at,
                        "Dimensions": [{"Name": "EndpointName", "Value": name},
                                       {"Name": "VariantName", "Value": "AllTraffic"}],
                    }],
                )  # fmt: skip
        for variable, value in {
            "AWS_ENDPOINT_URL": double.url,
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": KEY,
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(variable, value)
        for variable in (
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_OUTPUT",
        ):
            monkeypatch.delenv(variable, raising=False)
        yield Account(double, max(created) + dt.timedelta(days=1, minutes=5))
    finally:
        double.stop()


def report(now: dt.datetime, *flags: str) -> tuple[int, str]:
    arguments = build_parser("endpoints").parse_args(["endpoints", "idle-report", *flags])
    stdout = io.StringIO()
    return run(arguments, stdout, clock=lambda: now), stdout.getvalue()


def rows(text: str) -> dict[str, list[str]]:
    """The report table's rows by endpoint name, cells stripped."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ENDPOINTS:
            found[cells[0]] = cells
    return found


def test_the_report_names_the_idle_endpoints_with_the_shipped_prices(
    account: Account, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("")  # the runner creates it for every step
    code, out = report(account.now, "--days", "1", "--summary", str(summary))

    assert code == 0, out
    table = rows(out)
    assert sorted(table) == sorted(ENDPOINTS)
    assert sorted(n for n, cells in table.items() if cells[6] == "yes") == IDLE
    # endpoint | age | variants | invocations | hourly | monthly | idle
    assert table["busy"][1:] == [
        "1 d", "AllTraffic: 2 × ml.m5.large", "3", "$0.2300", "$167.90", "no"
    ]  # fmt: skip
    assert table["quiet"][3:] == ["0", "$0.2300", "$167.90", "yes"]  # 0.23 $/h x 730 h
    assert table["quiet-serverless"][2:6] == [
        "AllTraffic: serverless",
        "0",
        "billed per request",
        "–",
    ]
    assert table["unpriced"][4:] == ["cost unknown for ml.r5.large", "–", "yes"]
    assert table["queue"][3] == "–"
    assert table["queue"][6].startswith("no (asynchronous")
    assert "**3 idle endpoint(s), $167.90 a month** (and 2 whose cost is unknown)." in out
    assert (
        f"the project's table (AWS's on-demand prices as recorded, unverified here), {SHIPPED_DATE}"
        in out
    )
    assert summary.read_text() == out
    # Nothing is deleted without --delete --yes.
    assert account.endpoints() == sorted(ENDPOINTS)
    calls = account.report_calls()
    operations = [c["operation"] for c in calls]
    assert "DeleteEndpoint" not in operations
    assert operations.count("GetMetricData") == 1  # every endpoint's variants in one call
    assert operations.count("ListEndpoints") == 1
    assert sorted(set(operations)) == [
        "DescribeEndpoint", "DescribeEndpointConfig", "GetMetricData", "ListEndpoints"
    ]  # fmt: skip
    assert all(c["status"] == 200 and not c["refused"] for c in calls), calls
    assert set(operations) <= set(IAM_ACTIONS)
    assert report_denials(calls) == []  # the build role may make every call of the report
    (metrics,) = [c for c in calls if c["operation"] == "GetMetricData"]
    queried = {
        q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
        for q in metrics["params"]["MetricDataQueries"]
    }
    assert queried == set(ENDPOINTS) - {"queue"}  # no Invocations metric for async endpoints
    assert {q["MetricStat"]["Period"] for q in metrics["params"]["MetricDataQueries"]} == {86400}


def test_endpoints_younger_than_the_window_are_too_new_to_judge(account: Account) -> None:
    code, out = report(account.now, "--days", "2", "--delete", "--yes")

    assert code == 0, out
    verdicts = {name: cells[6] for name, cells in rows(out).items()}
    assert verdicts == {
        **{name: "no (too new to judge)" for name in ENDPOINTS},
        "queue": verdicts["queue"],
    }
    assert "**0 idle endpoint(s), $0.0000 a month**" in out
    assert account.endpoints() == sorted(ENDPOINTS)  # --delete --yes: nothing idle, none gone


def test_delete_with_yes_deletes_only_the_idle_endpoints_and_keeps_their_configs(
    account: Account,
) -> None:
    code, out = report(account.now, "--days", "1", "--delete", "--yes")

    assert code == 0, out
    assert account.endpoints() == ["busy", "queue"]
    assert account.configs() == sorted(f"{name}-config" for name in ENDPOINTS)
    deleted = [c["params"]["EndpointName"] for c in account.report_calls() if c["operation"] == "DeleteEndpoint"]  # fmt: skip
    assert sorted(deleted) == IDLE
    assert f"Deleted (their endpoint configs are kept): {', '.join(IDLE)}." in out
    assert rows(out)["quiet"][6] == "yes, deleted"
    # The calls the run made, made as the build role: its reads allowed, its deletions only
    # with the opt-in deletion policy for their prefixes (infra/terraform/iam_idle_report.tf).
    calls = account.report_calls()
    refused = report_denials(calls)
    assert len(refused) == len(IDLE) and all("sagemaker:DeleteEndpoint" in r for r in refused)
    assert report_denials(calls, ["quiet", "unpriced"]) == []


def test_delete_prefix_deletes_only_the_idle_endpoints_of_that_prefix(account: Account) -> None:
    """What the template's schedule does with IDLE_ENDPOINT_DELETION_PREFIXES: the idle
    endpoints whose names start with a prefix (in any case: SageMaker's names are
    case-insensitive), and no other; the build role's opt-in policy for that prefix allows
    exactly those deletions."""
    code, out = report(account.now, "--days", "1", "--delete", "--yes", "--delete-prefix", "QUIET")

    assert code == 0, out
    assert account.endpoints() == ["busy", "queue", "unpriced"]
    assert "Deleted (their endpoint configs are kept): quiet, quiet-serverless." in out
    assert rows(out)["unpriced"][6] == "yes"  # idle, outside the prefix: reported, kept
    calls = account.report_calls()
    assert report_denials(calls, ["quiet"]) == []
    assert len(report_denials(calls)) == 2  # without the opt-in: both deletions refused


def test_the_template_passes_each_deletion_prefix_unglobbed(tmp_path: Path) -> None:
    """The report step turns IDLE_ENDPOINT_DELETION_PREFIXES into one --delete-prefix each,
    split on blanks and never expanded as a glob; without DELETE, no deletion flag at all."""
    fake_python = tmp_path / "python"
    fake_python.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    fake_python.chmod(0o755)
    step = template_step("report", 2)
    env = {"REGION": "us-east-1", "DAYS": "7", "SMGHA_PYTHON": str(fake_python)}

    # The step runs in the repository's root, where README* would match README.md.
    done = run_step(step, {**env, "DELETE": "true", "PREFIXES": " README*  churn-staging "})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-6:] == [
        "--delete", "--yes", "--delete-prefix", "README*", "--delete-prefix", "churn-staging",
    ], done.stdout  # fmt: skip
    done = run_step(step, {**env, "DELETE": "false", "PREFIXES": "quiet"})
    assert done.returncode == 0 and "--delete" not in done.stdout.splitlines(), done.stdout


def test_the_installed_command_reports_on_the_double(account: Account) -> None:
    """The `smgha` entry point itself, on the real clock: every endpoint is too new."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "smgha"), "endpoints", "idle-report", "--days", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(rows(done.stdout)) == sorted(ENDPOINTS)
    assert "**0 idle endpoint(s)" in done.stdout


def test_the_issue_is_opened_then_updated_in_place_then_closed(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    github = GitHubStandIn.shared()
    github.reset()
    token = github.token(REPOSITORY, issues_write=True)
    for variable, value in {
        "GITHUB_API_URL": github.url,
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(variable, value)
    # Someone's issue with the same title and marker is never edited.
    github.state.issues[1] = {
        "number": 1, "repository": REPOSITORY, "title": TITLE, "body": f"{MARKER}\nmine",
        "state": "open", "state_reason": None, "user": {"login": "octocat", "type": "User"},
    }  # fmt: skip

    code, out = report(account.now, "--days", "1", "--open-issue")
    assert code == 0, out
    assert "issue #2 created" in out
    issue = github.state.issues[2]
    assert issue["title"] == TITLE and issue["state"] == "open"
    assert issue["body"].startswith(MARKER + "\n## Idle SageMaker endpoints")
    assert "https://github.com/acme/churn-model/actions/runs/77" in issue["body"]
    assert "| quiet |" in issue["body"]

    code, out = report(account.now, "--days", "1", "--open-issue")
    assert (code, "issue #2 updated" in out) == (0, True), out
    assert sorted(github.state.issues) == [1, 2]

    code, out = report(account.now, "--days", "2", "--open-issue")  # all too new: none idle
    assert (code, "issue #2 closed" in out) == (0, True), out
    assert (github.state.issues[2]["state"], github.state.issues[2]["state_reason"]) == (
        "closed", "completed"
    )  # fmt: skip
    assert github.state.issues[1]["body"] == f"{MARKER}\nmine"

    code, out = report(account.now, "--days", "2", "--open-issue")
    assert (code, "none opened" in out) == (0, True), out
    assert sorted(github.state.issues) == [1, 2]


def test_the_issue_needs_issues_write(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    github = GitHubStandIn.shared()
    github.reset()
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    monkeypatch.setenv("GITHUB_TOKEN", github.token(REPOSITORY))  # no issues: write
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)

    code, out = report(account.now, "--days", "1", "--open-issue")

    assert code == 1
    assert "error: the issue: GitHub API POST /repos/acme/churn-model/issues: 403" in out
    assert "| quiet |" in out  # the report was printed before
    assert github.state.issues == {}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--days", "0"], "input 'days': '0' is not a whole number of days from 1 to 455"),
        (["--days", "456"], "input 'days': '456' is not a whole number"),
        (["--days", "seven"], "input 'days': 'seven' is not a whole number"),
        (["--region", "us-mars-1"], "input 'region': 'us-mars-1' is not a region SageMaker"),
        (["--delete"], "input 'delete': --delete deletes endpoints and needs --yes as well"),
        (["--yes"], "input 'yes': --yes confirms --delete, which is not given"),
        (["--delete-prefix", "churn"], "input 'delete-prefix': --delete-prefix narrows --delete"),
        (
            ["--delete", "--yes", "--delete-prefix", "churn_*"],
            "input 'delete-prefix': 'churn_*' (7 characters) breaks SageMaker's naming rule",
        ),
        (["--open-issue"], "input 'open-issue': GITHUB_TOKEN is empty"),
    ],
)
def test_bad_input_is_one_error_and_no_call(
    flags: list[str], message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Any AWS call would fail to connect (exit 1), not be refused as input (exit 2).
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    summary = tmp_path / "summary.md"

    code, out = report(dt.datetime.now(dt.timezone.utc), *flags, "--summary", str(summary))

    assert code == 2
    assert out.startswith(f"error: {message}") and out.count("\n") == 1, out
    assert not summary.exists()


# ---- the starter workflow's two steps, as the runner runs them ---------------------------------

TEMPLATE = Path(__file__).parent.parent / "workflows-templates" / "idle-endpoints.yml"


def template_step(job: str, index: int) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(TEMPLATE.read_text())["jobs"][job]["steps"][index])


def github_outputs(path: Path) -> dict[str, str]:
    """The name<<DELIMITER ... DELIMITER records the runner reads from GITHUB_OUTPUT."""
    found, lines = {}, path.read_text().split("\n")
    while lines and lines[0]:
        name, delimiter = lines.pop(0).split("<<", 1)
        end = lines.index(delimiter)
        found[name], lines = "\n".join(lines[:end]), lines[end + 1 :]
    return found


def run_step(step: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={**os.environ, "SMGHA_PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_template_s_report_job_hands_the_report_to_the_issue_job(
    account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    github = GitHubStandIn.shared()
    github.reset()
    token = github.token(REPOSITORY, issues_write=True)
    output = tmp_path / "github_output"
    output.write_text("")
    report_step = template_step("report", 2)
    assert report_step["id"] == "report"

    # A scheduled run: no inputs, so no deletion; the real clock: every endpoint too new.
    done = run_step(report_step, {"REGION": "us-east-1", "DAYS": "14", "DELETE": "false",
                                  "GITHUB_OUTPUT": str(output)})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = github_outputs(output)
    assert sorted(outputs) == ["idle-count", "report"]
    assert outputs["idle-count"] == "0"
    assert outputs["report"].startswith("## Idle SageMaker endpoints (us-east-1, 14 days)")
    assert account.endpoints() == sorted(ENDPOINTS)

    issue_step = template_step("issue", 1)
    env = {"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPOSITORY,
           "RUNNER_TEMP": str(tmp_path)}  # fmt: skip
    done = run_step(issue_step, {**env, "REPORT": outputs["report"], "IDLE_COUNT": "0"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "none opened" in done.stdout and github.state.issues == {}

    # The report of a run that found idle endpoints (the moved clock), handed over the same way.
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    output.write_text("")
    code, out = report(account.now, "--days", "1")
    assert code == 0, out
    outputs = github_outputs(output)
    assert outputs["idle-count"] == str(len(IDLE))
    done = run_step(issue_step, {**env, "REPORT": outputs["report"], "IDLE_COUNT": outputs["idle-count"]})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (issue,) = github.state.issues.values()
    assert issue["title"] == TITLE and "| quiet |" in issue["body"]
    assert account.endpoints() == sorted(ENDPOINTS)


def test_aws_price_list_asks_get_products_and_falls_back_when_it_fails(account: Account) -> None:
    """The AWS double has no Price List API (500): the report prices from the shipped table,
    says why in one line, and asks once per instance type (botocore tries twice)."""
    code, out = report(account.now, "--days", "1", "--price-table", "aws-price-list")

    assert code == 0, out  # a price is never worth failing the report
    assert rows(out)["quiet"][4] == "$0.2300"
    (line,) = [text for text in out.splitlines() if "AWS Price List API" in text]
    assert "AWS Price List API not used: GetProducts failed (500: " in line
    assert "; then " not in line and SHIPPED_DATE in line  # the shipped table alone
    pricing = [c for c in account.report_calls() if c["operation"] == "GetProducts"]
    assert [c["params"]["Filters"][2]["Value"] for c in pricing] == ["ml.m5.large"] * 2
    # Without price_list_api the build role may not call it (tests/test_iam_price_list.py).
    assert report_denials(pricing) == [
        "build ImplicitlyDenied: pricing:GetProducts on * (pricing GetProducts)"
    ]
