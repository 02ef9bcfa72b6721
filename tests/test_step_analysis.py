"""Analysis between traffic steps (issue 18, smgha/resources/step_analysis.py): the inputs'
rules, the judging of a step, the local deployer's pre-traffic test and step checks on real
models under real traffic, and the sagemaker backend's step-analysis alarms held to the
request contract."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.local import LocalBackend, state
from smgha.resources import step_analysis
from smgha.resources.step_analysis import FleetWindow, Settings
from smgha.stages import deploy_endpoint
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import ROWS, Traffic, register, tarball, train

REGION = "us-east-1"
ENDPOINT = "churn-staging"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


def deploy(workspace: Path, package: str, **overrides: str) -> Any:
    """deploy-endpoint on the local backend: a 50 % canary of a two-instance fleet."""
    inputs = {
        "backend": "local",
        "model-package-arn": package,
        "endpoint-name": ENDPOINT,
        "instance-count": "2",
        "strategy": "canary",
        "canary-percent": "50",
        "wait-seconds": "2",
        "termination-wait-seconds": "0",
        "timeout-minutes": "2",
        **overrides,
    }
    return run_main(deploy_endpoint.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(workspace))


def payload_file(workspace: Path, rows: int = 8) -> str:
    """A pre-traffic payload file of labelled JSON lines (28 features, as the models take)."""
    lines = [
        json.dumps({"features": [round(float(x), 4) for x in row], "label": int(row[0] > 0)})
        for row in ROWS[:rows]
    ]
    (workspace / "pre-traffic.jsonl").write_text("\n".join(lines) + "\n")
    return "pre-traffic.jsonl"


def server_metrics(local: LocalBackend) -> dict[str, Any]:
    """The endpoint server's cumulative per-variant metrics (GET /_smgha/metrics)."""
    port = state.read_json(local.root / "endpoints" / ENDPOINT / state.SERVER_FILE)["port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_smgha/metrics", timeout=10) as answer:
        return dict(json.load(answer)["Variants"])


def alarm_states(local: LocalBackend) -> set[str]:
    names = [f"{ENDPOINT}-invocation-5xx-errors", f"{ENDPOINT}-model-latency"]
    return {alarm["StateValue"] for alarm in local.hosting.describe_alarms(names)}


# ---- the inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named", "words"),
    [
        ({"strategy": "all-at-once", "step-max-error-rate": "0.05"}, "step-max-error-rate", "strategy is all-at-once"),
        ({"strategy": "all-at-once", "pre-traffic-payload-file": "p.jsonl"}, "pre-traffic-payload-file", "strategy is all-at-once"),
        ({"step-max-error-rate": "1.5"}, "step-max-error-rate", "from 0 to 1"),
        ({"step-max-latency-ratio": "0.5"}, "step-max-latency-ratio", "from 1 to 100"),
        ({"step-min-invocations": "10"}, "step-min-invocations", "neither step-max-error-rate nor"),
        ({"step-max-error-rate": "0.1", "step-min-invocations": "-1"}, "step-min-invocations", "whole number"),
        ({"pre-traffic-min-accuracy": "0.8"}, "pre-traffic-min-accuracy", "pre-traffic-payload-file is empty"),
        ({"pre-traffic-payload-file": "missing.jsonl"}, "pre-traffic-payload-file", "does not exist"),
    ],
)  # fmt: skip
def test_a_bad_analysis_input_is_one_error_naming_it_and_nothing_is_created(
    local: LocalBackend, tmp_path: Path, overrides: dict[str, str], named: str, words: str
) -> None:
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/1"
    result = deploy(tmp_path, package, **overrides)
    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{named}'" in result.errors[0] and words in result.errors[0]
    assert local.hosting.describe_endpoint(ENDPOINT) is None


def test_pre_traffic_min_accuracy_needs_labelled_payloads(
    local: LocalBackend, tmp_path: Path
) -> None:
    (tmp_path / "unlabelled.csv").write_text("1,2,3\n4,5,6\n")
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/1"
    result = deploy(
        tmp_path,
        package,
        **{"pre-traffic-payload-file": "unlabelled.csv", "pre-traffic-min-accuracy": "0.5"},
    )
    assert result.code == 1 and len(result.errors) == 1
    assert "input 'pre-traffic-min-accuracy'" in result.errors[0]
    assert "unlabelled.csv has none" in result.errors[0]


def test_a_bad_pre_traffic_payload_file_is_refused_under_its_own_input(
    local: LocalBackend, tmp_path: Path
) -> None:
    (tmp_path / "bad.csv").write_text("1,2,3\n4,x,6\n")
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/1"
    result = deploy(tmp_path, package, **{"pre-traffic-payload-file": "bad.csv"})
    assert result.code == 1 and len(result.errors) == 1
    assert (
        "input 'pre-traffic-payload-file': line 2: 'x' is not a finite number" in result.errors[0]
    )


# ---- judging one step ---------------------------------------------------------------------------


def test_a_step_is_judged_on_the_new_fleets_error_rate_and_latency_against_the_old_one() -> None:
    settings = Settings(max_error_rate=0.05, max_latency_ratio=1.5, min_invocations=10)
    old = FleetWindow(100, 0, 1000.0)
    healthy = step_analysis.judge(settings, 1, 10, 30, FleetWindow(20, 1, 1400.0), old)
    assert healthy["Verdict"] == "pass" and healthy["Reason"] == ""
    erring = step_analysis.judge(settings, 1, 10, 30, FleetWindow(20, 2, 1000.0), old)
    assert erring["Verdict"] == "fail"
    assert "error rate 10.00% > step-max-error-rate 5.00% (2 of 20 requests)" in erring["Reason"]
    slow = step_analysis.judge(settings, 2, 20, 30, FleetWindow(20, 0, 1600.0), old)
    assert slow["Verdict"] == "fail"
    assert "1.6 ms > 1.5 × the old fleet's 1 ms" in slow["Reason"]
    assert step_analysis.missed(slow).startswith("step analysis: step 2 (20 % of traffic for 30 s)")
    quiet = step_analysis.judge(settings, 1, 10, 30, FleetWindow(9, 0, 1000.0), old)
    assert quiet["Verdict"] == "not enough traffic" and step_analysis.missed(quiet)
    lonely = step_analysis.judge(settings, 1, 10, 30, FleetWindow(20, 0, 1000.0), FleetWindow(0, 0, None))  # fmt: skip
    assert lonely["Verdict"] == "not enough traffic"
    allowed = Settings(max_error_rate=0.05, min_invocations=0)
    assert (
        step_analysis.judge(allowed, 1, 10, 30, FleetWindow(0, 0, None), old)["Verdict"] == "pass"
    )


# ---- the local backend: real models, real traffic -----------------------------------------------


@pytest.mark.slow
def test_step_analysis_on_the_local_backend(local: LocalBackend, tmp_path: Path) -> None:
    v1 = register(local, train(20, 3, seed=1))
    v2 = register(local, train(30, 4, seed=2))
    # Trained on 5 features: every 28-feature request is refused (HTTP 400), a 4XX error the
    # stage's own alarms (5XX errors, model latency) do not watch.
    refusing, refusing_too = (register(local, narrow_model(seed)) for seed in (3, 5))
    # 4,000 trees of depth 8: ~0.8 ms a row against ~0.07 ms for the others (measured).
    slow = register(local, train(200, 8, seed=4, parallel_trees=20, rows=2000))
    payloads = payload_file(tmp_path)
    assert deploy(tmp_path, v1).code == 0

    # 1. A healthy version passes the pre-traffic test and every step of a linear update.
    checks = {"step-max-error-rate": "0.01", "step-max-latency-ratio": "5"}
    linear = {"strategy": "linear", "linear-step-percent": "25"}
    with Traffic(local):
        healthy = deploy(tmp_path, v2, **checks, **linear, **{"pre-traffic-payload-file": payloads})
    assert healthy.code == 0, healthy.log
    assert healthy.outputs["status"] == "deployed"
    assert "Analysis between traffic steps" in healthy.summary
    rows = ["| pre-traffic | 0 % |", "| 1 | 25 % |", "| 2 | 50 % |", "| 3 | 75 % |"]
    assert all(row in healthy.summary for row in rows), healthy.summary
    assert healthy.summary.count("✅ pass") == 4 and "❌" not in healthy.summary
    v2_config = healthy.outputs["endpoint-config-name"]

    # 2. A version that refuses every request is rolled back by the step's error rate, not by
    # an alarm (they stay OK); the verdict is in the summary and the error.
    with Traffic(local):
        refused = deploy(tmp_path, refusing, **checks)
    assert refused.code == 1, refused.log
    assert refused.outputs["status"] == "rolled-back"
    assert refused.outputs["endpoint-config-name"] == v2_config
    assert "step analysis: step 1 (50 % of traffic" in error_of(refused)
    assert "> step-max-error-rate 1.00%" in error_of(refused)
    assert "| 1 | 50 % |" in refused.summary and "❌ fail: error rate 100.00%" in refused.summary
    assert alarm_states(local) == {"OK"}

    # 3. A slow version is rolled back by its latency against the old fleet's, while
    # max-latency-ms (1000 by default) would never trip the latency alarm.
    with Traffic(local):
        slowed = deploy(tmp_path, slow, **{"step-max-latency-ratio": "1.5"})
    assert slowed.code == 1, slowed.log
    assert slowed.outputs["status"] == "rolled-back"
    assert "× the old fleet's" in error_of(slowed)
    assert alarm_states(local) == {"OK"}

    # 4. A pre-traffic failure rolls back before any live traffic reached the new fleet: the
    # new fleet answered exactly the pre-traffic requests, the live traffic only the old one.
    with Traffic(local) as traffic:
        early = deploy(tmp_path, refusing_too, **checks, **{"pre-traffic-payload-file": payloads})
    assert early.code == 1, early.log
    assert early.outputs["status"] == "rolled-back"
    assert "step analysis: the pre-traffic test: fail: row 1: HTTP 400" in error_of(early)
    assert "| pre-traffic |" in early.summary and "| 1 |" not in early.summary
    early_config = f"AllTraffic@{early_config_name(local)}"
    assert server_metrics(local)[early_config]["Invocations"] == 8  # the 8 payloads, no more
    assert {v.split("@")[1] for v in traffic.variants} == {v2_config}


def error_of(result: Any) -> str:
    """The one error of a run, as written (the workflow command escapes % as %25)."""
    assert len(result.errors) == 1, result.log
    return str(result.errors[0]).replace("%25", "%")


def narrow_model(seed: int) -> bytes:
    """A real xgboost model trained on 5 features, as a model.tar.gz of the built-in algorithm."""
    import numpy as np
    import xgboost

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(200, 5))
    labels = (data[:, 0] > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(data, label=labels), 10)  # fmt: skip
    return tarball(bytes(booster.save_raw(raw_format="ubj")))


def early_config_name(local: LocalBackend) -> str:
    """The endpoint config of the last update (the deployer's request names it)."""
    request = state.read_json(local.root / "endpoints" / ENDPOINT / state.DEPLOYMENT_FILE)
    return str(request["EndpointConfigName"])


# ---- the sagemaker backend: the step checks as rollback alarms -----------------------------------


def sagemaker_deploy(package: str, **overrides: str) -> Any:
    inputs = {
        "backend": "sagemaker",
        "region": REGION,
        "role-arn": "arn:aws:iam::123456789012:role/sagemaker-execution",
        "model-package-arn": package,
        "endpoint-name": ENDPOINT,
        "instance-count": "2",
        **overrides,
    }
    return run_main(deploy_endpoint.main, inputs, **GITHUB_CONTEXT)


def test_sagemaker_step_checks_are_metric_math_rollback_alarms_on_each_fleets_config(
    aws_env: None,
) -> None:
    """moto creates the endpoint and the alarms; the Stubber answers UpdateEndpoint (which
    moto does not implement) and the wait. Every request is held to tests/aws_contract.py."""
    import boto3
    from botocore.stub import ANY, Stubber

    from smgha.backends.aws import SageMakerBackend
    from smgha.resources import deployment
    from tests.test_deploy_endpoint import inputs_of, sagemaker_package

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    package = sagemaker_package(sagemaker)
    first = sagemaker_deploy(package)
    assert first.code == 0, first.log
    old_config = first.outputs["endpoint-config-name"]
    backend = SageMakerBackend(region=REGION)
    inputs = inputs_of(
        package,
        backend="sagemaker",
        region=REGION,
        **{
            "role-arn": "arn:aws:iam::123456789012:role/sagemaker-execution",
            "instance-count": "2",
            "instance-type": "ml.c5.large",  # another config: an update
            "wait-seconds": "300",
            "timeout-minutes": "20",
            "step-max-error-rate": "0.05",
            "step-max-latency-ratio": "1.5",
            "step-min-invocations": "20",
        },
    )
    planned = deploy_endpoint.plan(inputs, backend.hosting, backend.registry)
    new_config = planned.config_name
    backend.hosting.create_endpoint_config(planned.config_request)  # by moto, not the Stubber
    planned.config_exists = True
    names = [f"{ENDPOINT}-step-error-rate", f"{ENDPOINT}-step-latency-ratio"]
    rollback = [f"{ENDPOINT}-invocation-5xx-errors", f"{ENDPOINT}-model-latency", *names]
    live = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    with Stubber(backend.clients.sagemaker) as stub:
        expected = {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": new_config,
            "RetainAllVariantProperties": False,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": ANY,
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in rollback]},
            },
        }
        stub.add_response("update_endpoint", {"EndpointArn": live["EndpointArn"]}, expected)
        settled = {k: live[k] for k in ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime")}  # fmt: skip
        stub.add_response("describe_endpoint", {**settled, "EndpointConfigName": new_config, "EndpointStatus": "InService"}, {"EndpointName": ENDPOINT})  # fmt: skip
        outcome = deployment.apply(planned, backend.hosting, lambda _: None, sleep=lambda _: None)
    assert outcome == "deployed"
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}  # fmt: skip
    assert set(alarms) == set(names)
    rate = alarms[names[0]]
    assert rate["Threshold"] == 0.05 and rate["EvaluationPeriods"] == 1
    queries = {q["Id"]: q for q in rate["Metrics"]}
    assert queries["rate"]["Expression"] == "IF(FILL(inv, 0) >= 20, (FILL(e4, 0) + FILL(e5, 0)) / inv, 0)"  # fmt: skip
    stat = queries["inv"]["MetricStat"]
    assert stat["Period"] == 300 and stat["Stat"] == "Sum"
    assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
        "EndpointName": ENDPOINT, "VariantName": "AllTraffic", "EndpointConfigName": new_config,
    }  # fmt: skip
    ratio = {q["Id"]: q for q in alarms[names[1]]["Metrics"]}
    dimensions = ratio["lold"]["MetricStat"]["Metric"]["Dimensions"]
    assert {"Name": "EndpointConfigName", "Value": old_config} in dimensions
    table = step_analysis.summary_table(inputs.target.analysis, ENDPOINT, {}, backend.hosting.describe_alarms)  # fmt: skip
    assert table is not None and [row[0] for row in table[1]] == [f"`{n}`" for n in names]


def test_sagemaker_refuses_a_pre_traffic_test_before_anything_is_created(aws_env: None) -> None:
    import boto3

    from tests.test_deploy_endpoint import sagemaker_package

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    package = sagemaker_package(sagemaker)
    result = sagemaker_deploy(
        package, strategy="canary", **{"pre-traffic-payload-file": "payloads.jsonl"}
    )
    assert result.code == 1 and len(result.errors) == 1, result.log
    assert "input 'pre-traffic-payload-file': SageMaker gives no way to send a request to the new fleet" in result.errors[0]  # fmt: skip
    assert "smoke-test" in result.errors[0]
    assert sagemaker.list_models()["Models"] == [] and sagemaker.list_endpoints()["Endpoints"] == []


def test_the_contract_holds_metric_math_alarms_to_cloudwatchs_rules() -> None:
    from tests.aws_contract import contract_problems

    settings = Settings(max_error_rate=0.05, max_latency_ratio=1.5, in_deployer=False)
    requests = step_analysis.alarm_requests(settings, ENDPOINT, "AllTraffic", ("old", "new"), 90)
    assert [contract_problems("cloudwatch", "PutMetricAlarm", r) for r in requests] == [[], []]
    good = requests[0]
    broken = [
        {**good, "Period": 60},
        {**good, "Metrics": [{**q, "ReturnData": True} for q in good["Metrics"]]},
        {**good, "Metrics": [{**q, "Id": q["Id"].upper()} for q in good["Metrics"]]},
        {**good, "Metrics": [{k: v for k, v in q.items() if k != "ReturnData"} for q in good["Metrics"]]},
        {k: v for k, v in good.items() if k != "Metrics"},
    ]  # fmt: skip
    for request in broken:
        assert contract_problems("cloudwatch", "PutMetricAlarm", request), request


@pytest.mark.parametrize(
    ("job", "endpoint"), [("deploy-staging", "churn-staging"), ("deploy-production", "churn-production")]
)  # fmt: skip
def test_the_deploy_roles_may_create_the_step_alarms_and_roll_back_on_them(
    job: str, endpoint: str
) -> None:
    """The step checks need no new IAM action: Terraform's deploy roles already put the
    endpoint's alarms (`<endpoint>*`) and read any; proven by the IAM evaluator over the
    requests of an update with both checks, as Terraform renders the policies."""
    from tests.iam_policies import DEPLOYMENT, DOCUMENTS, policies
    from tests.iam_requests import Calls
    from tests.iam_simulator import denials

    settings = Settings(max_error_rate=0.05, max_latency_ratio=1.5, in_deployer=False)
    alarms = step_analysis.alarm_requests(settings, endpoint, "AllTraffic", (f"{endpoint}-v1-a", f"{endpoint}-v2-b"), 300)  # fmt: skip
    role = f"arn:aws:iam::{DEPLOYMENT.account}:role/churn-github-{job}"
    calls = [
        {"service": "cloudwatch", "operation": "PutMetricAlarm", "role": role, "params": alarm}
        for alarm in alarms
    ]
    update = {
        "EndpointName": endpoint,
        "EndpointConfigName": f"{endpoint}-v2-b",
        "DeploymentConfig": {
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a["AlarmName"]} for a in alarms]}
        },
    }
    calls.append({"service": "sagemaker", "operation": "UpdateEndpoint", "role": role, "params": update})  # fmt: skip
    derive = Calls(DEPLOYMENT)
    requests = [(r, DOCUMENTS[job]) for c in calls for r in derive.requests(c)]
    assert {r.action for r, _ in requests} >= {"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"}  # fmt: skip
    assert denials(requests, policies()) == []
    # And the evaluator does deny: another endpoint's alarm is not this role's to put.
    foreign = [{**calls[0], "params": {**alarms[0], "AlarmName": "someone-else-step-error-rate"}}]
    assert denials([(r, DOCUMENTS[job]) for c in foreign for r in derive.requests(c)], policies())
