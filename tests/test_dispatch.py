"""The events dispatcher (smgha/dispatch/, issue 19): the GitHub App's JWT signed with the
standard library (checked against `cryptography`), the installation token and the dispatches
against the strict GitHub stand-in, which events are acted on (the others logged), and drift's
debounce (SageMaker's monitoring runs) and budget (GitHub's runs), the AWS side answered by
botocore's Stubber and held to tests/aws_contract.py."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from smgha.dispatch import app_token, dispatcher
from smgha.dispatch.dispatcher import Clients, Config, handle
from smgha.dispatch.handler import app_secret, config_from
from smgha.github_api import GitHubClient, GitHubError
from tests.e2e.github_api_stand_in import GitHubStandIn
from tests.test_github_review import use_stand_in

REPO = "acme/churn-model"
GROUP = "churn-models"
ENDPOINT = "churn-production"
SCHEDULE = "churn-production-data-quality"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/7"
TOPIC = "arn:aws:sns:us-east-1:123456789012:smgha-alarms"
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
APP_ID, INSTALLATION = "424242", "99"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any, form: serialization.PrivateFormat) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, form, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey) -> GitHubStandIn:
    stand_in = use_stand_in(monkeypatch)
    stand_in.add_app(APP_ID, INSTALLATION, key.public_key(), REPO,
                     {"contents": "write", "actions": "read", "metadata": "read", "pull_requests": "write"})  # fmt: skip
    stand_in.listen(REPO, "drift-detected", "model-build.yml")
    stand_in.listen(REPO, "model-approved", "model-deploy.yml", "model-deploy {model_package_arn}")
    return stand_in


def config(**changes: Any) -> Config:
    values = {"repository": REPO, "model_package_group": GROUP, "endpoint": ENDPOINT,
              "schedule": SCHEDULE, "debounce_runs": 3, "retrain_budget": 1,
              "build_workflow": "model-build.yml", "deploy_workflow": "model-deploy.yml", "notice_topic_arn": TOPIC}  # fmt: skip
    return Config(**{**values, **changes})


# ---- the JWT and the installation token ---------------------------------------------------------


@pytest.mark.parametrize(
    "form", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_the_jwt_is_rs256_signed_as_cryptography_signs_it(key: Any, form: Any) -> None:
    token = app_token.app_jwt(APP_ID, app_token.load_private_key(pem(key, form)), 1_800_000_000.7)
    head, claims, signature = (
        base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in token.split(".")
    )
    signed = token.rsplit(".", 1)[0].encode()
    # PKCS#1 v1.5 is deterministic: the same bytes as cryptography's own signature.
    assert signature == key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    assert json.loads(head) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(claims) == {"iat": 1_799_999_940, "exp": 1_800_000_540, "iss": APP_ID}


def test_a_key_that_is_not_an_rsa_private_key_is_refused_naming_the_fix() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for text in ("not a key", pem(ec_key, serialization.PrivateFormat.PKCS8),
                 "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"):  # fmt: skip
        with pytest.raises(ValueError, match="private key .*Fix: store the App's private key"):
            app_token.load_private_key(text)


def test_the_installation_token_is_narrowed_and_dispatches(github: GitHubStandIn, key: Any) -> None:
    private = pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    token = app_token.installation_token(
        APP_ID, INSTALLATION, private, REPO, now=github.now(), api_url=github.url
    )
    minted = github.state.tokens[token]
    assert (minted.repository, minted.contents_write, minted.actions_read) == (REPO, True, True)
    assert minted.pull_requests_write is False  # only TOKEN_PERMISSIONS
    dispatcher.dispatch(GitHubClient(token, github.url), REPO, "model-approved", {"a": 1})
    assert github.state.dispatches == [
        {"repository": REPO, "event_type": "model-approved", "client_payload": {"a": 1}}
    ]


def test_a_jwt_of_another_key_or_out_of_its_time_gets_no_token(github: GitHubStandIn) -> None:
    other = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                serialization.PrivateFormat.TraditionalOpenSSL)  # fmt: skip
    with pytest.raises(GitHubError, match="401"):
        app_token.installation_token(APP_ID, INSTALLATION, other, REPO, now=github.now(),
                                     api_url=github.url)  # fmt: skip


def test_a_jwt_issued_in_the_future_gets_no_token(github: GitHubStandIn, key: Any) -> None:
    private = pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    with pytest.raises(GitHubError, match="401"):
        app_token.installation_token(APP_ID, INSTALLATION, private, REPO,
                                     now=github.now() + 3600, api_url=github.url)  # fmt: skip


# ---- which events are acted on --------------------------------------------------------------------


def package_event(group: str = GROUP, status: str = "Approved", arn: str = ARN) -> dict[str, Any]:
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn,
                       "ModelApprovalStatus": status, "ModelPackageStatus": "Completed"}}  # fmt: skip


def alarm_event(feature: str = "tenure", state: str = "ALARM") -> dict[str, Any]:
    return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": f"{ENDPOINT}-baseline-drift-{feature}",
                       "state": {"value": state}, "previousState": {"value": "OK"}}}  # fmt: skip


def no_clients() -> Clients:
    raise AssertionError("an ignored event must not mint a token nor call AWS")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (package_event(group="fraud-models"), "is of group 'fraud-models', not 'churn-models'"),
        (package_event(status="Rejected"), "is Rejected, not Approved"),
        (package_event(status="PendingManualApproval"), "is PendingManualApproval, not Approved"),
        (package_event(arn=ARN.replace(GROUP, "other")), "is not a version of group"),
        (alarm_event(state="OK"), "went to OK, not ALARM"),
        (
            {
                **alarm_event(),
                "detail": {
                    "alarmName": "churn-staging-invocation-5xx-errors",
                    "state": {"value": "ALARM"},
                },
            },
            "is not a drift alarm of endpoint",
        ),  # fmt: skip
        (
            {"detail-type": "SageMaker Endpoint State Change", "detail": {}},
            "is not one the dispatcher handles",
        ),
        ([], "not a JSON object"),
    ],
)
def test_other_events_are_ignored_with_a_log_line(event: Any, reason: str) -> None:
    lines: list[str] = []
    outcome = handle(event, config(), no_clients, START, lines.append)
    assert outcome.startswith("ignored: ") and reason in outcome
    assert lines == [outcome]


def test_an_approval_dispatches_exactly_that_version(github: GitHubStandIn) -> None:
    token = github.token(REPO, contents_write=True)
    clients = Clients(GitHubClient(token, github.url), None, None, None)
    lines: list[str] = []
    handle(package_event(), config(), lambda: clients, START, lines.append)
    assert github.state.dispatches == [{"repository": REPO, "event_type": "model-approved",
                                        "client_payload": {"model_package_arn": ARN}}]  # fmt: skip
    assert lines == [f"dispatched model-approved for {ARN}"]


def test_the_same_approval_sent_twice_deploys_once(github: GitHubStandIn) -> None:
    """SageMaker may send an event more than once: the deploy run named after the version
    (the template's run-name) says it was dispatched."""
    clients = Clients(
        GitHubClient(github.token(REPO, contents_write=True), github.url), None, None, None
    )
    github.state.clock = START.timestamp()
    assert handle(package_event(), config(), lambda: clients, START, print).startswith("dispatched")
    again = handle(
        package_event(), config(), lambda: clients, START + dt.timedelta(seconds=5), print
    )
    assert again.startswith(
        f"already dispatched model-approved for {ARN}: https://github.com/{REPO}/actions/runs/"
    )
    other = ARN.replace("/7", "/8")
    assert handle(package_event(arn=other), config(), lambda: clients, START, print).startswith(
        "dispatched"
    )
    # An hour later the same version approved again is a new approval: dispatched.
    later = START + dt.timedelta(hours=2)
    github.state.clock = later.timestamp()
    assert handle(package_event(), config(), lambda: clients, later, print).startswith("dispatched")
    assert [d["client_payload"]["model_package_arn"] for d in github.state.dispatches] == [
        ARN,
        other,
        ARN,
    ]


def test_a_dispatch_without_contents_write_fails_loudly(github: GitHubStandIn) -> None:
    clients = Clients(GitHubClient(github.token(REPO), github.url), None, None, None)
    with pytest.raises(GitHubError, match="403"):
        handle(package_event(), config(), lambda: clients, START, print)
    assert github.state.dispatches == []


# ---- drift: debounce and budget -------------------------------------------------------------------


def executions(statuses: list[str], newest: dt.datetime) -> list[dict[str, Any]]:
    """Hourly monitoring runs, newest first, each finished 5 minutes after its hour."""
    return [
        {"MonitoringScheduleName": SCHEDULE, "ScheduledTime": newest - dt.timedelta(hours=i),
         "CreationTime": newest - dt.timedelta(hours=i),
         "LastModifiedTime": newest - dt.timedelta(hours=i) + dt.timedelta(minutes=5),
         "MonitoringExecutionStatus": status, "EndpointName": ENDPOINT,
         "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-{i}"}
        for i, status in enumerate(statuses)
    ]  # fmt: skip


class Aws:
    """Stubbed SageMaker, S3 and SNS clients; `expect_*` queue their answers."""

    def __init__(self, stack: ExitStack) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing")  # fmt: skip

        self.sagemaker, self.s3, self.sns = client("sagemaker"), client("s3"), client("sns")
        self.stubs = {name: stack.enter_context(Stubber(getattr(self, name)))
                      for name in ("sagemaker", "s3", "sns")}  # fmt: skip

    def expect_runs(self, runs: list[dict[str, Any]], count: int = 3) -> None:
        self.stubs["sagemaker"].add_response(
            "list_monitoring_executions", {"MonitoringExecutionSummaries": runs},
            {"MonitoringScheduleName": SCHEDULE, "SortBy": "ScheduledTime",
             "SortOrder": "Descending", "MaxResults": count + 2},
        )  # fmt: skip

    def expect_details(self, features: list[str]) -> None:
        """The newest run's processing job, then its violations report naming `features`."""
        output = {"Outputs": [{"OutputName": "result", "S3Output": {
            "S3Uri": "s3://bucket/monitoring/run-0", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]}  # fmt: skip
        self.stubs["sagemaker"].add_response(
            "describe_processing_job",
            {"ProcessingJobName": "model-monitoring-0", "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-0",
             "ProcessingOutputConfig": output, "ProcessingResources": {"ClusterConfig": {
                 "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
             "AppSpecification": {"ImageUri": "analyzer"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
             "ProcessingJobStatus": "Completed", "CreationTime": START},
            {"ProcessingJobName": "model-monitoring-0"},
        )  # fmt: skip
        report = json.dumps({"violations": [
            {"feature_name": f, "constraint_check_type": "baseline_drift_check",
             "description": f"Baseline drift distance 0.4 exceeds threshold 0.1 for {f}"}
            for f in features]}).encode()  # fmt: skip
        self.stubs["s3"].add_response(
            "get_object", {"Body": StreamingBody(io.BytesIO(report), len(report))},
            {"Bucket": "bucket", "Key": "monitoring/run-0/constraint_violations.json"},
        )  # fmt: skip

    def clients(self, github: GitHubStandIn) -> Clients:
        token = github.token(REPO, contents_write=True, actions_read=True)
        return Clients(GitHubClient(token, github.url), self.sagemaker, self.s3, self.sns)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with ExitStack() as stack:
        stubbed = Aws(stack)
        yield stubbed
        for stub in stubbed.stubs.values():
            stub.assert_no_pending_responses()


def drift_at(hour: int, statuses: list[str], github: GitHubStandIn, aws: Aws,
             event: dict[str, Any] | None = None, features: list[str] | None = None,
             **changes: Any) -> str:  # fmt: skip
    """The dispatcher at 10 past `hour` (after that hour's monitoring run) on `event`;
    `features`: the drift alarms in ALARM when it gets that far."""
    now = START + dt.timedelta(hours=hour, minutes=10)
    github.state.clock = now.timestamp()
    aws.expect_runs(
        executions(statuses, now - dt.timedelta(minutes=10)), changes.get("debounce_runs", 3)
    )
    if features is not None:
        aws.expect_details(features)
    return handle(
        event or alarm_event(), config(**changes), lambda: aws.clients(github), now, print
    )


def test_three_violating_runs_retrain_once_and_a_fourth_posts_the_budget_notice(
    github: GitHubStandIn, aws: Aws
) -> None:
    violations = "CompletedWithViolations"
    assert drift_at(0, [violations], github, aws).startswith("debounced: the last 3")
    assert drift_at(1, [violations] * 2, github, aws).startswith("debounced")
    outcome = drift_at(2, [violations] * 3, github, aws, {"detail-type": "smgha drift check"},
                       ["tenure"])  # fmt: skip
    assert outcome == ("dispatched drift-detected for churn-production: tenure, report "
                       "s3://bucket/monitoring/run-0/constraint_violations.json")  # fmt: skip
    aws.stubs["sns"].add_response("publish", {"MessageId": "1"},
                                  {"TopicArn": TOPIC, "Subject": "smgha: retrain budget spent", "Message": ANY})  # fmt: skip
    notice = drift_at(3, [violations] * 4, github, aws, None, ["tenure", "total_charges"])
    assert notice.startswith("budget spent: 1 retrains of acme/churn-model in the last 7 days")
    assert "(tenure, total_charges, report s3://bucket/monitoring/run-0/" in notice
    assert github.state.dispatches == [{
        "repository": REPO, "event_type": "drift-detected",
        "client_payload": {"endpoint": ENDPOINT, "features": ["tenure"],
                           "report_uri": "s3://bucket/monitoring/run-0/constraint_violations.json",
                           "execution": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-0",
                           "trigger": "schedule"}}]  # fmt: skip


def test_a_clean_run_among_the_last_n_debounces(github: GitHubStandIn, aws: Aws) -> None:
    statuses = ["CompletedWithViolations", "Completed", "CompletedWithViolations"]
    outcome = drift_at(5, statuses, github, aws)
    assert "they are: CompletedWithViolations, Completed, CompletedWithViolations" in outcome
    assert github.state.dispatches == []


def test_a_run_still_in_progress_is_not_a_clean_run(github: GitHubStandIn, aws: Aws) -> None:
    """The current hour's run, not finished, has found nothing yet: the three before it count."""
    now = START + dt.timedelta(hours=5, minutes=10)
    github.state.clock = now.timestamp()
    finished = executions(["CompletedWithViolations"] * 3, now - dt.timedelta(minutes=70))
    running = {**finished[0], "MonitoringExecutionStatus": "InProgress",
               "ScheduledTime": now - dt.timedelta(minutes=10), "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-now"}  # fmt: skip
    aws.expect_runs([running, *finished])
    aws.expect_details(["tenure"])
    outcome = handle(alarm_event(), config(), lambda: aws.clients(github), now, print)
    assert outcome.startswith("dispatched")


def test_one_violating_run_dispatches_once_when_both_the_alarm_and_the_check_see_it(
    github: GitHubStandIn, aws: Aws
) -> None:
    assert drift_at(4, ["CompletedWithViolations"], github, aws, None, ["tenure"],
                    debounce_runs=1, retrain_budget=5).startswith("dispatched")  # fmt: skip
    later = drift_at(4, ["CompletedWithViolations"], github, aws, {"detail-type": "smgha drift check"},
                     debounce_runs=1, retrain_budget=5)  # fmt: skip
    assert later.startswith(
        "already dispatched drift-detected for the monitoring run of 2026-12-01T13:00Z"
    )
    assert len(github.state.dispatches) == 1


def test_retrains_older_than_a_week_leave_the_budget(github: GitHubStandIn, aws: Aws) -> None:
    github.add_run(REPO, "model-build.yml", "main", "0" * 40, event="repository_dispatch",
                   created_at="2026-11-24T08:00:00Z")  # fmt: skip
    github.add_run(REPO, "model-build.yml", "main", "0" * 40, event="push",
                   created_at="2026-11-30T08:00:00Z")  # fmt: skip
    outcome = drift_at(2, ["CompletedWithViolations"] * 3, github, aws, None, ["tenure"])
    assert outcome.startswith("dispatched")


# ---- the function's settings ----------------------------------------------------------------------


def test_the_settings_and_the_secret_are_checked_naming_what_is_wrong() -> None:
    env = {"GITHUB_REPOSITORY": REPO, "DEBOUNCE_RUNS": "3", "RETRAIN_BUDGET_PER_WEEK": "2"}
    assert config_from(env).debounce_runs == 3 and config_from(env).retrain_budget == 2
    with pytest.raises(ValueError, match="DEBOUNCE_RUNS is '0': it must be a whole number 1..100"):
        config_from({**env, "DEBOUNCE_RUNS": "0"})
    with pytest.raises(ValueError, match="GITHUB_REPOSITORY is 'acme': it must be owner/name"):
        config_from({**env, "GITHUB_REPOSITORY": "acme"})
    with pytest.raises(ValueError, match="has no installation_id, private_key$"):
        app_secret(json.dumps({"app_id": "1"}))
    with pytest.raises(ValueError, match="not a JSON object"):
        app_secret("-----BEGIN RSA PRIVATE KEY-----")


def test_the_hourly_check_stops_when_no_run_finished_since_the_last_one(
    github: GitHubStandIn, aws: Aws
) -> None:
    """A spent budget is announced once per violating run, not at every hourly check."""
    now = START + dt.timedelta(hours=6, minutes=30)
    aws.expect_runs(executions(["CompletedWithViolations"] * 3, now - dt.timedelta(hours=2)))
    github.fail_next("/", 500, times=10)  # any GitHub call would fail the test
    outcome = handle({"detail-type": "smgha drift check"}, config(), lambda: aws.clients(github),
                     now, print)  # fmt: skip
    assert outcome == (
        "nothing new: no monitoring run of churn-production-data-quality finished in the last hour"
    )
    assert github.state.requests == []
