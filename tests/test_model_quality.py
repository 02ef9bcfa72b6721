"""Model-quality monitoring (issue 19): enable-monitor's model-quality inputs, a real local
endpoint whose predictions are merged with ground-truth labels and raise the alarm when the
labels say the model got worse, Model Monitor's formats, bad input, and the sagemaker
backend's requests on moto (a Stubber for the schedules moto lacks), held to the contract."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha import model_quality_run, monitor_cli
from smgha.backends.local import LocalBackend
from smgha.monitor import DataError
from smgha.resources import model_quality
from smgha.resources.monitoring import MonitorOutputs
from smgha.stages import enable_monitor
from tests.aws_contract import contract_problems
from tests.model_quality_helpers import labels_for, unanalysed_captures
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import deploy, register
from tests.test_enable_monitor import (
    BUCKET,
    ENDPOINT,
    REGION,
    ROLE,
    SNS,
    OperationStubber,
    described_schedule,
    fake_endpoint,
    moto_endpoint,
    sagemaker_inputs,
    sample,
    train_csv,
)

GROUND_TRUTH = "s3://smgha-local/ground-truth/churn"
QUALITY_SCHEDULE = f"{ENDPOINT}-model-quality"
ALARM = f"{ENDPOINT}-model-quality-accuracy"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


def enable_quality(workspace: Path, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "baseline-data-uri": "data/train.csv",
        "sns-topic-arn": SNS,
        "timeout-minutes": "2",
        "model-quality": "true",
        "ground-truth-s3-uri": GROUND_TRUTH,
        "probability-attribute": "0",
        "evaluation-uri": "data/evaluation.json",
        **overrides,
    }
    return run_main(enable_monitor.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(workspace))


def true_label(row: list[float]) -> int:
    """The rule train_csv's labels follow."""
    return int(row[0] + (row[1] - 5) / 2 > 0)


def send_one_by_one(local: LocalBackend, rows: np.ndarray) -> None:
    """One prediction per request: a ground-truth line labels one captured record."""
    for row in rows:
        body = ",".join(f"{x:.5f}" for x in row).encode()
        answer = local.hosting.invoke_endpoint(ENDPOINT, body, "text/csv")
        assert answer.status == 200, answer.body


def upload_labels(local: LocalBackend, hour: str, wrong_share: float, seed: int) -> int:
    """Ground truth for every record captured since the last model-quality run, in Model
    Monitor's format; `wrong_share` of them the opposite of the truth. Returns how many."""
    rng = np.random.default_rng(seed)
    pairs = labels_for(
        unanalysed_captures(local, ENDPOINT),
        lambda body: true_label([float(x) for x in body.split(",")]),
        lambda index: bool(rng.random() < wrong_share),
    )
    records = [
        {"groundTruthData": {"data": label, "encoding": "CSV"}, "eventMetadata": {"eventId": event}, "eventVersion": "0"}
        for event, label in pairs
    ]  # fmt: skip
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    local.objects.put_object(f"{GROUND_TRUTH}/2026/12/05/{hour}/labels.jsonl", body)
    return len(records)


# ---- the local backend, with a real endpoint ------------------------------------------------


@pytest.mark.slow
def test_wrong_labels_raise_the_model_quality_alarm_and_right_ones_do_not(
    local: LocalBackend, tmp_path: Path
) -> None:
    data, model = train_csv()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_bytes(data)
    # The build's evaluation, as ml/evaluate.py writes it: the baseline accuracy.
    evaluation = {"binary_classification_metrics": {"accuracy": {"value": 0.85, "standard_deviation": "NaN"}}}  # fmt: skip
    (tmp_path / "data" / "evaluation.json").write_text(json.dumps(evaluation))
    deployed = deploy(register(local, model), strategy="all-at-once", **{"wait-seconds": "0"})
    assert deployed.code == 0, deployed.log

    first = enable_quality(tmp_path)
    assert first.code == 0, first.log
    assert first.outputs["model-quality-schedule-name"] == QUALITY_SCHEDULE
    assert json.loads(first.outputs["model-quality-alarm-names"]) == [ALARM]
    constraints_uri = first.outputs["model-quality-constraints-uri"]
    assert (
        constraints_uri == f"s3://smgha-local/monitoring/{ENDPOINT}/model-quality/constraints.json"
    )
    assert local.objects.read_json(constraints_uri) == {
        "version": 0.0,
        "binary_classification_constraints": {
            "accuracy": {"threshold": 0.85, "comparison_operator": "LessThanThreshold"}
        },
    }
    schedule = local.monitoring.describe_monitoring_schedule(QUALITY_SCHEDULE)
    assert schedule is not None and schedule["MonitoringType"] == "ModelQuality"
    definition = local.monitoring.describe_job_definition(
        "model-quality", schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
    )
    assert definition is not None
    endpoint_input = definition["ModelQualityJobInput"]["EndpointInput"]
    assert (endpoint_input["StartTimeOffset"], endpoint_input["EndTimeOffset"]) == (
        "-PT25H",
        "-PT24H",
    )
    assert endpoint_input["ProbabilityAttribute"] == "0"
    assert definition["ModelQualityJobInput"]["GroundTruthS3Input"] == {"S3Uri": GROUND_TRUTH}
    alarm = local.hosting.describe_alarms([ALARM])[0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (
        "aws/sagemaker/Endpoints/model-metrics", "accuracy", 0.85,
    )  # fmt: skip
    assert alarm["Dimensions"] == [
        {"Name": "Endpoint", "Value": ENDPOINT},
        {"Name": "MonitoringSchedule", "Value": QUALITY_SCHEDULE},
    ]
    assert (alarm["ComparisonOperator"], alarm["StateValue"]) == ("LessThanThreshold", "OK")

    rng = np.random.default_rng(5)
    # 1. Labels that agree with the truth: the model is as good as its evaluation said.
    send_one_by_one(local, sample(rng, 120))
    assert upload_labels(local, "10", wrong_share=0.0, seed=1) == 120
    good = model_quality_run.run(local.monitoring, local.objects, local.hosting, ENDPOINT)
    assert (good.records, good.merged, good.status) == (120, 120, "Completed")
    assert good.metrics["accuracy"] > 0.85 and good.violations == []
    assert good.alarms == {ALARM: "OK"}
    assert local.hosting.describe_alarms([ALARM])[0]["StateValue"] == "OK"

    # 2. Labels showing the model wrong on about 40 %: a violation, and the alarm fires.
    send_one_by_one(local, sample(rng, 120))
    assert upload_labels(local, "11", wrong_share=0.4, seed=2) == 120
    bad = model_quality_run.run(local.monitoring, local.objects, local.hosting, ENDPOINT)
    assert (bad.records, bad.merged, bad.status) == (120, 120, "CompletedWithViolations")
    assert bad.metrics["accuracy"] < 0.85
    assert [(v["metric_name"], v["constraint_check_type"]) for v in bad.violations] == [
        ("accuracy", "LessThanThreshold")
    ]
    assert bad.violations[0]["description"].startswith("Metric accuracy with 0.")
    written = local.objects.read_json(bad.violations_uri)
    assert written == {"violations": bad.violations}
    statistics = local.objects.read_json(bad.statistics_uri)
    assert (
        statistics["binary_classification_metrics"]["accuracy"]["value"] == bad.metrics["accuracy"]
    )
    assert bad.alarms == {ALARM: "ALARM"}
    fired = local.hosting.describe_alarms([ALARM])[0]
    assert fired["StateValue"] == "ALARM" and "accuracy" in fired["StateReason"]

    # 3. The command line, with nothing captured since: no data, no violation, exit 0.
    out = io.StringIO()
    arguments = argparse.Namespace(
        endpoint=ENDPOINT,
        monitor_command="run",
        backend="local",
        kind="model-quality",
        all=False,
        fail_on_violations=True,
    )
    assert monitor_cli.run(arguments, out) == 0
    assert "0 with a label: NoData" in out.getvalue()

    # 4. A second enable-monitor: nothing duplicated, the fired alarm keeps its state.
    again = enable_quality(tmp_path)
    assert again.code == 0, again.log
    assert again.outputs == first.outputs
    assert len(list((local.root / "monitoring" / "job-definitions").iterdir())) == 2
    assert len(list((local.root / "monitoring" / "schedules").iterdir())) == 2
    assert local.hosting.describe_alarms([ALARM])[0]["StateValue"] == "ALARM"


# ---- the merge, the metrics, the constraints: without an endpoint -----------------------------


def captured(event: str, answer: str, inference_id: str = "") -> str:
    metadata = {"eventId": event, **({"inferenceId": inference_id} if inference_id else {})}
    output = {
        "observedContentType": "text/csv",
        "mode": "OUTPUT",
        "data": answer,
        "encoding": "CSV",
    }
    return json.dumps({"captureData": {"endpointOutput": output}, "eventMetadata": metadata})


def test_merge_pairs_by_inference_id_before_event_id_and_counts_the_unlabelled() -> None:
    lines = [captured("e1", "0.9"), captured("e2", "0.2", "mine-2"), captured("e3", "0.7")]
    labels = {"e1": "1", "mine-2": "1", "e2": "0"}  # e2's record carries inferenceId mine-2
    merged = model_quality_run.merge(
        lines, labels, {"ProbabilityAttribute": "0", "ProbabilityThresholdAttribute": 0.5}
    )
    assert (merged.labels, merged.predictions, merged.probabilities) == (
        ["1", "1"], ["1", "0"], [0.9, 0.2],
    )  # fmt: skip
    assert merged.unlabelled == 1


def test_a_record_holding_a_batch_of_predictions_is_refused() -> None:
    with pytest.raises(DataError, match="2 predictions in one record"):
        model_quality_run.merge(
            [captured("e1", "0.9\n0.1")], {"e1": "1"}, {"InferenceAttribute": "0"}
        )


def test_ground_truth_must_be_model_monitors_format(local: LocalBackend) -> None:
    local.objects.put_object(f"{GROUND_TRUTH}/a.jsonl", b'{"label": 1, "id": "e1"}\n')
    with pytest.raises(DataError, match="line 1 is not a ground-truth record"):
        model_quality_run.ground_truth(local.objects, GROUND_TRUTH)


def test_regression_metrics_violate_when_the_error_grows() -> None:
    lines = [captured(f"e{i}", str(i + 0.5)) for i in range(10)]
    merged = model_quality_run.merge(
        lines, {f"e{i}": str(i) for i in range(10)}, {"InferenceAttribute": "0"}
    )
    report = model_quality_run.metrics_report("Regression", merged)
    values = report["regression_metrics"]
    assert values["mae"]["value"] == pytest.approx(0.5)
    assert values["rmse"]["value"] == pytest.approx(0.5)
    assert values["rmse"]["standard_deviation"] == "NaN"  # fewer than 200 samples
    tight = model_quality.constraints_document("Regression", "rmse", 0.4)
    loose = model_quality.constraints_document("Regression", "rmse", 0.6)
    assert tight["regression_constraints"]["rmse"]["comparison_operator"] == "GreaterThanThreshold"
    assert model_quality_run.violations(report, loose) == []
    assert model_quality_run.violations(report, tight) == [{
        "metric_name": "rmse", "constraint_check_type": "GreaterThanThreshold",
        "description": "Metric rmse with 0.5 was GreaterThanThreshold 0.4",
    }]  # fmt: skip


def test_standard_deviation_from_200_samples() -> None:
    lines = [captured(f"e{i}", str(i % 2)) for i in range(200)]
    labels = {f"e{i}": str(int(i % 3 == 0)) for i in range(200)}
    merged = model_quality_run.merge(lines, labels, {"InferenceAttribute": "0"})
    report = model_quality_run.metrics_report("BinaryClassification", merged)
    deviation = report["binary_classification_metrics"]["accuracy"]["standard_deviation"]
    assert isinstance(deviation, float) and 0 < deviation < 0.1


def test_offsets_cover_one_schedule_period_that_ended_the_delay_ago() -> None:
    assert model_quality.time_offsets(24, 3600) == ("-PT25H", "-PT24H")
    assert model_quality.time_offsets(0, 86400) == ("-PT24H", "-PT0H")


# ---- the sagemaker backend's requests ----------------------------------------------------------


def quality_kind(**changes: Any) -> model_quality.ModelQuality:
    settings = model_quality.Settings(
        problem_type="BinaryClassification", ground_truth_uri="s3://b/gt", inference_attribute="",
        probability_attribute="0", probability_threshold=0.5, metric="accuracy",
        evaluation_uri="", threshold=0.8, delay_hours=24,
    )  # fmt: skip
    return model_quality.ModelQuality(settings, 3600, **changes)


def test_model_quality_requests_pass_the_contract_and_the_runtime_rule_fails_without_it() -> None:
    kind = quality_kind()
    outputs = MonitorOutputs("", "s3://b/mq/constraints.json", "s3://b/mq/reports")
    image = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    request = kind.definition_request(ENDPOINT, outputs, image, "ml.m5.large", ROLE)
    assert contract_problems("sagemaker", "CreateModelQualityJobDefinition", request) == []
    schedule = kind.schedule_request(ENDPOINT, request["JobDefinitionName"], "cron(0 * ? * * *)")
    assert contract_problems("sagemaker", "CreateMonitoringSchedule", schedule) == []
    (alarm,) = kind.alarm_requests(ENDPOINT, [], "cron(0 * ? * * *)", 0.8, SNS)
    assert contract_problems("cloudwatch", "PutMetricAlarm", alarm) == []
    # What the guide forbids an hourly model-quality job: a runtime over 1800 seconds.
    longer = {**request, "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}
    assert contract_problems("sagemaker", "CreateModelQualityJobDefinition", longer) == [
        "MaxRuntimeInSeconds 3600 is over 1800"
    ]


QUALITY_INPUTS = {
    "model-quality": "true",
    "ground-truth-s3-uri": f"s3://{BUCKET}/ground-truth",
    "probability-attribute": "0",
    "evaluation-uri": f"s3://{BUCKET}/evaluation/evaluation.json",
}


@pytest.mark.slow
def test_sagemaker_backend_model_quality_on_moto_schedules_stubbed(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from smgha.backends.aws import SageMakerBackend

    moto_endpoint(capture=True, modes=("Input", "Output"))
    s3 = boto3.client("s3", region_name=REGION)
    evaluation = {"binary_classification_metrics": {"accuracy": {"value": 0.9}}}
    s3.put_object(
        Bucket=BUCKET, Key="evaluation/evaluation.json", Body=json.dumps(evaluation).encode()
    )
    backend = SageMakerBackend(region=REGION)
    monkeypatch.setattr(enable_monitor, "stage_backend", lambda runner, name, region: backend)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    ops = ["DescribeMonitoringSchedule", "CreateMonitoringSchedule", "UpdateMonitoringSchedule"]
    arn = described_schedule("x")["MonitoringScheduleArn"]

    with OperationStubber(backend.clients.sagemaker, ops) as stub:
        for name in (f"{ENDPOINT}-data-quality", QUALITY_SCHEDULE):
            stub.add_client_error(
                "describe_monitoring_schedule", "ResourceNotFound", "Monitoring Schedule does not exist",
                expected_params={"MonitoringScheduleName": name},
            )  # fmt: skip
        stub.add_response("create_monitoring_schedule", {"MonitoringScheduleArn": arn}, None)
        stub.add_response("create_monitoring_schedule", {"MonitoringScheduleArn": arn}, None)
        first = run_main(enable_monitor.main, sagemaker_inputs(**QUALITY_INPUTS), **GITHUB_CONTEXT)
        assert first.code == 0, first.log
        stub.assert_no_pending_responses()

    summaries = sagemaker.list_model_quality_job_definitions()["JobDefinitionSummaries"]
    assert len(summaries) == 1
    name = summaries[0]["MonitoringJobDefinitionName"]
    described = sagemaker.describe_model_quality_job_definition(JobDefinitionName=name)
    assert described["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert (
        described["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]
        == f"s3://{BUCKET}/ground-truth"
    )
    assert described["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"] == (
        f"s3://{BUCKET}/monitoring/model-quality/constraints.json"
    )
    assert described["StoppingCondition"]["MaxRuntimeInSeconds"] == 1800
    constraints = json.loads(
        s3.get_object(Bucket=BUCKET, Key="monitoring/model-quality/constraints.json")["Body"].read()
    )
    assert constraints["binary_classification_constraints"]["accuracy"]["threshold"] == 0.9
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["ComparisonOperator"]) == (
        "aws/sagemaker/Endpoints/model-metrics", "accuracy", "LessThanThreshold",
    )  # fmt: skip
    assert alarm["AlarmActions"] == [SNS]

    # Again: both schedules point at their definitions: nothing created or updated.
    data_quality = sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    with OperationStubber(backend.clients.sagemaker, ops) as stub:
        stub.add_response(
            "describe_monitoring_schedule",
            described_schedule(data_quality[0]["MonitoringJobDefinitionName"]),
        )
        live = described_schedule(name)
        live["MonitoringScheduleName"] = QUALITY_SCHEDULE
        live["MonitoringType"] = live["MonitoringScheduleConfig"]["MonitoringType"] = "ModelQuality"
        stub.add_response("describe_monitoring_schedule", live)
        again = run_main(enable_monitor.main, sagemaker_inputs(**QUALITY_INPUTS), **GITHUB_CONTEXT)
        assert again.code == 0, again.log
        stub.assert_no_pending_responses()
    assert len(sagemaker.list_model_quality_job_definitions()["JobDefinitionSummaries"]) == 1


def test_a_live_capture_without_the_answers_is_refused_before_any_change(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from smgha.backends.aws import SageMakerBackend

    moto_endpoint(capture=True)  # CaptureMode Input only
    backend = SageMakerBackend(region=REGION)
    monkeypatch.setattr(enable_monitor, "stage_backend", lambda runner, name, region: backend)
    ops = ["DescribeMonitoringSchedule", "CreateMonitoringSchedule", "UpdateMonitoringSchedule"]
    with OperationStubber(backend.clients.sagemaker, ops) as stub:
        stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "none")
        refused = run_main(
            enable_monitor.main, sagemaker_inputs(**QUALITY_INPUTS), **GITHUB_CONTEXT
        )
    assert refused.code == 1 and len(refused.errors) == 1, refused.log
    assert "input 'model-quality': needs churn-staging's answers captured" in refused.errors[0]
    assert "captures Input only" in refused.errors[0]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"] == []
    assert sagemaker.list_model_quality_job_definitions()["JobDefinitionSummaries"] == []


# ---- bad input: one error naming the inputs, nothing created ------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"ground-truth-s3-uri": ""}, "ground-truth-s3-uri", "is required with model-quality: true"),
        ({"ground-truth-s3-uri": "/tmp/labels"}, "ground-truth-s3-uri", "must be an s3:// URI"),
        ({"problem-type": "Ranking"}, "problem-type", "is not one of BinaryClassification"),
        ({"model-quality-metric": "rmse"}, "model-quality-metric", "'rmse' is not a metric of problem-type BinaryClassification"),
        ({"problem-type": "Regression", "model-quality-metric": "accuracy", "inference-attribute": "0", "probability-attribute": ""}, "model-quality-metric", "'accuracy' is not a metric of problem-type Regression"),
        ({"problem-type": "Regression", "inference-attribute": "0"}, "probability-attribute", "applies to problem-type BinaryClassification only"),
        ({"probability-attribute": ""}, "inference-attribute", "is required with model-quality: true and problem-type BinaryClassification"),
        ({"model-quality-metric": "auc", "probability-attribute": "", "inference-attribute": "0"}, "model-quality-metric", "auc needs the predicted probability, and probability-attribute is empty"),
        ({"probability-threshold": "1.5"}, "probability-threshold", "is not a probability"),
        ({"evaluation-uri": ""}, "evaluation-uri", "is required with model-quality: true when model-quality-threshold is empty"),
        ({"evaluation-uri": "data/missing.json"}, "evaluation-uri", "cannot be read"),
        ({"evaluation-uri": "data/other.json"}, "evaluation-uri", "has no number at binary_classification_metrics.accuracy.value"),
        ({"model-quality-threshold": "high"}, "model-quality-threshold", "is not a number"),
        ({"ground-truth-delay-hours": "-1"}, "ground-truth-delay-hours", "from 0 to 720"),
    ],
)  # fmt: skip
def test_bad_model_quality_input_is_one_error_and_creates_nothing(
    local: LocalBackend, tmp_path: Path, overrides: dict[str, str], name: str, problem: str
) -> None:
    fake_endpoint(local)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_bytes(b"1,2,3\n0,4,5\n")
    (tmp_path / "data" / "evaluation.json").write_text(
        '{"binary_classification_metrics": {"accuracy": {"value": 0.9}}}'
    )
    (tmp_path / "data" / "other.json").write_text(
        '{"regression_metrics": {"rmse": {"value": 0.9}}}'
    )

    result = enable_quality(tmp_path, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors[0]
    assert not (local.root / "monitoring").exists() and not (local.root / "alarms").exists()
    assert [p.name for p in (local.root / "endpoint-configs").iterdir()] == ["c1.json"]
    assert not (local.root / "s3" / "smgha-local" / "monitoring").exists()


def test_model_quality_without_a_schedule_says_so(local: LocalBackend) -> None:
    out = io.StringIO()
    arguments = argparse.Namespace(
        endpoint=ENDPOINT,
        monitor_command="run",
        backend="local",
        kind="model-quality",
        all=False,
        fail_on_violations=False,
    )
    assert monitor_cli.run(arguments, out) == 1
    assert "has no monitoring schedule of type ModelQuality" in out.getvalue()


# ---- least privilege: the production deploy role is granted exactly these calls ----------------


def test_the_production_role_is_granted_the_model_quality_calls_on_its_endpoint_only() -> None:
    from tests.iam_policies import execution_role, policies
    from tests.test_iam_simulator import BUCKET as ARTIFACTS
    from tests.test_iam_simulator import MONITOR_IMAGE, PRODUCTION, STAGING, call, job_denials

    def calls(role: str, endpoint: str) -> list[dict[str, Any]]:
        kind = quality_kind()
        folder = f"s3://{ARTIFACTS}/monitoring/{endpoint}/model-quality"
        outputs = MonitorOutputs("", f"{folder}/constraints.json", f"{folder}/reports")
        request = kind.definition_request(
            endpoint, outputs, MONITOR_IMAGE, "ml.m5.large", execution_role()
        )
        name = request["JobDefinitionName"]
        schedule = kind.schedule_request(endpoint, name, "cron(0 * ? * * *)")
        (alarm,) = kind.alarm_requests(endpoint, [], "cron(0 * ? * * *)", 0.8)
        key = f"monitoring/{endpoint}/model-quality/constraints.json"
        return [
            call(role, "sagemaker", "DescribeModelQualityJobDefinition", JobDefinitionName=name),
            call(role, "sagemaker", "CreateModelQualityJobDefinition", **request),
            call(role, "sagemaker", "DeleteModelQualityJobDefinition", JobDefinitionName=name),
            call(role, "sagemaker", "CreateMonitoringSchedule", **schedule, Tags=request["Tags"]),
            call(role, "cloudwatch", "PutMetricAlarm", **alarm),
            call(role, "s3", "PutObject", Bucket=ARTIFACTS, Key=key),
        ]  # fmt: skip

    rendered = policies()
    assert job_denials(calls(PRODUCTION, "churn-production"), rendered) == []
    # Another endpoint's job definition, and the staging role: each call refused.
    for refused in (
        *calls(PRODUCTION, "fraud-production")[:3],
        *calls(STAGING, "churn-production")[:3],
    ):
        assert job_denials([refused], rendered) != [], refused["operation"]


def test_monitor_label_uploads_ground_truth_in_model_monitors_format(
    local: LocalBackend, tmp_path: Path
) -> None:
    kind = quality_kind()
    outputs = MonitorOutputs("", "s3://b/mq/constraints.json", "s3://b/mq/reports")
    request = kind.definition_request(ENDPOINT, outputs, "image", "ml.m5.large", ROLE)
    request["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"] = GROUND_TRUTH
    local.monitoring.create_job_definition("model-quality", request)
    name = request["JobDefinitionName"]
    local.monitoring.create_monitoring_schedule(
        kind.schedule_request(ENDPOINT, name, "cron(0 * ? * * *)")
    )
    labels = tmp_path / "labels.csv"
    labels.write_text("e1,1\ne2,0\n")
    out = io.StringIO()
    arguments = argparse.Namespace(monitor_command="label", endpoint=ENDPOINT, labels=labels.open())
    assert monitor_cli.run(arguments, out) == 0, out.getvalue()
    uri = out.getvalue().split(": ", 1)[1].strip()
    assert uri.startswith(f"{GROUND_TRUTH}/20") and uri.endswith(".jsonl")
    first = json.loads(local.objects.read_object(uri).decode().splitlines()[0])
    assert first == {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "e1"}, "eventVersion": "0"}  # fmt: skip
    assert model_quality_run.ground_truth(local.objects, GROUND_TRUTH) == {"e1": "1", "e2": "0"}
    labels.write_text("e3\n")
    arguments.labels = labels.open()
    assert monitor_cli.run(arguments, out) == 1 and "line 1 is not eventId,label" in out.getvalue()
