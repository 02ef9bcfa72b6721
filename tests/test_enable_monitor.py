"""enable-monitor and `smgha monitor run`: a real local endpoint with a real xgboost model,
Model Monitor's file formats, bad input, and the sagemaker backend on moto + the Stubber.

moto 5.2.5 and Model Monitor (found while writing these tests): DataQualityJobDefinition
create/describe/list/delete are implemented (a missing one: ResourceNotFound "Job definition
<name> not found"; a second create of the same name silently overwrites). Monitoring
schedules are not implemented at all, nor is UpdateEndpoint: those calls are answered by a
Stubber registered for just those operations (`OperationStubber`), which checks requests and
responses against the service model while every other call reaches moto.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.stub import Stubber

from smgha import drift, monitor, monitor_cli
from smgha.backends.local import LocalBackend
from smgha.errors import StageError
from smgha.resources import rollout
from smgha.resources.hosting import with_live_instance_counts
from smgha.stages import enable_monitor
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import deploy, register, tarball

REGION = "us-east-1"
ENDPOINT = "churn-staging"
SNS = f"arn:aws:sns:{REGION}:123456789012:model-drift"
FEATURES = 5
MEANS = np.array([0.0, 5.0, 5.0, -3.0, 0.0])
STDS = np.array([1.0, 2.0, 10 / np.sqrt(12), 0.5, 2 / np.sqrt(12)])


def sample(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Rows of the 'training distribution': normal, normal, uniform, normal, uniform."""
    return np.column_stack([
        rng.normal(0, 1, rows), rng.normal(5, 2, rows), rng.uniform(0, 10, rows),
        rng.normal(-3, 0.5, rows), rng.uniform(-1, 1, rows),
    ])  # fmt: skip


def train_csv(rows: int = 2000, seed: int = 11) -> tuple[bytes, bytes]:
    """A label-first headerless train split and a real xgboost model trained on it."""
    import xgboost

    rng = np.random.default_rng(seed)
    data = sample(rng, rows)
    labels = ((data[:, 0] + (data[:, 1] - 5) / 2) > 0).astype(int)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "seed": seed},
        xgboost.DMatrix(data, label=labels),
        10,
    )
    text = "".join(
        f"{label}," + ",".join(f"{x:.5f}" for x in row) + "\n"
        for label, row in zip(labels, data, strict=True)
    )
    return text.encode(), tarball(bytes(booster.save_raw(raw_format="ubj")))


def send(local: LocalBackend, rows: np.ndarray, batch: int = 10, blank: int | None = None) -> None:
    """CSV requests of `batch` rows each; column `blank` sent empty (a missing value)."""
    for start in range(0, len(rows), batch):
        lines = []
        for row in rows[start : start + batch]:
            cells = [f"{x:.5f}" for x in row]
            if blank is not None:
                cells[blank] = ""
            lines.append(",".join(cells))
        answer = local.hosting.invoke_endpoint(ENDPOINT, "\n".join(lines).encode(), "text/csv")
        assert answer.status == 200, answer.body


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


def enable(workspace: Path, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "baseline-data-uri": "data/train.csv",
        "sns-topic-arn": SNS,
        "timeout-minutes": "2",
    }
    inputs.update(overrides)
    return run_main(enable_monitor.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(workspace))


def kinds(violations: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in violations}


# ---- the local backend, with a real endpoint ------------------------------------------------


@pytest.mark.slow
def test_local_monitoring_of_a_real_endpoint_finds_exactly_the_drifted_features(
    local: LocalBackend, tmp_path: Path
) -> None:
    data, model = train_csv()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_bytes(data)
    package = register(local, model)
    deployed = deploy(package, strategy="all-at-once", **{"wait-seconds": "0"})
    assert deployed.code == 0, deployed.log
    live_config = deployed.outputs["endpoint-config-name"]

    # 1. Capture is off: a new config with capture, the endpoint updated onto it.
    first = enable(tmp_path)
    assert first.code == 0, first.log
    schedule = first.outputs["schedule-name"]
    assert schedule == f"{ENDPOINT}-data-quality"
    base = f"s3://smgha-local/monitoring/{ENDPOINT}/baseline"
    assert first.outputs["baseline-statistics-uri"] == f"{base}/statistics.json"
    assert first.outputs["baseline-constraints-uri"] == f"{base}/constraints.json"
    alarm_names = json.loads(first.outputs["alarm-names"])
    assert alarm_names == [f"{ENDPOINT}-baseline-drift-_c{i}" for i in range(FEATURES)]
    endpoint = local.hosting.describe_endpoint(ENDPOINT)
    assert endpoint is not None and endpoint["EndpointConfigName"].startswith(f"{live_config}-dc-")
    config = local.hosting.describe_endpoint_config(endpoint["EndpointConfigName"])
    assert config is not None
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == (
        f"s3://smgha-local/monitoring/{ENDPOINT}/capture"
    )
    live = local.hosting.describe_endpoint_config(live_config)
    assert live is not None
    assert config["ProductionVariants"] == live["ProductionVariants"]

    # The baseline, in Model Monitor's format, from the features only (the label dropped).
    statistics = local.objects.read_json(f"{base}/statistics.json")
    constraints = local.objects.read_json(f"{base}/constraints.json")
    assert statistics["dataset"]["item_count"] == 2000
    assert [f["name"] for f in statistics["features"]] == [f"_c{i}" for i in range(FEATURES)]
    for index, feature in enumerate(statistics["features"]):
        assert feature["inferred_type"] == "Fractional"
        numbers = feature["numerical_statistics"]
        assert numbers["common"] == {"num_present": 2000, "num_missing": 0}
        assert abs(numbers["mean"] - MEANS[index]) < 4 * STDS[index] / np.sqrt(2000) + 1e-3
        assert abs(numbers["std_dev"] - STDS[index]) < 0.1 * STDS[index]
        assert numbers["sum"] == pytest.approx(numbers["mean"] * 2000)
        kll = numbers["distribution"]["kll"]
        assert len(kll["buckets"]) == 10
        assert sum(b["count"] for b in kll["buckets"]) == 2000
        assert kll["buckets"][0]["lower_bound"] == numbers["min"]
        assert kll["buckets"][-1]["upper_bound"] == numbers["max"]
        assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
        assert sum(len(level) * 2**h for h, level in enumerate(kll["sketch"]["data"])) == 2000
    assert constraints["monitoring_config"] == {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    }
    assert constraints["features"][1] == {
        "name": "_c1",
        "inferred_type": "Fractional",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": False},
    }
    # The schedule, its job definition, the alarms.
    recorded = local.monitoring.describe_monitoring_schedule(schedule)
    assert recorded is not None and recorded["EndpointName"] == ENDPOINT
    assert recorded["MonitoringScheduleConfig"]["ScheduleConfig"] == {
        "ScheduleExpression": "cron(0 * ? * * *)"
    }
    alarms = local.hosting.describe_alarms(alarm_names)
    assert [a["MetricName"] for a in alarms] == [f"feature_baseline_drift__c{i}" for i in range(5)]
    assert all(a["AlarmActions"] == [SNS] and a["Threshold"] == 0.1 for a in alarms)
    assert alarms[0]["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    assert alarms[0]["Dimensions"] == [
        {"Name": "Endpoint", "Value": ENDPOINT},
        {"Name": "MonitoringSchedule", "Value": schedule},
    ]
    assert "| `_c1` | Fractional | 100.0% |" in first.summary

    rng = np.random.default_rng(99)
    # 2. Traffic from the training distribution: no violations.
    send(local, sample(rng, 300))
    calm = monitor.run(local.monitoring, local.objects, ENDPOINT)
    assert calm.rows == 300 and calm.records == 30
    assert calm.violations == [] and calm.status == "Completed"
    written = local.objects.read_json(calm.violations_uri)
    assert written == {"violations": []}
    assert local.objects.read_json(calm.statistics_uri)["dataset"]["item_count"] == 300

    # 3. _c1 and _c3 shifted by 3 standard deviations: drift on exactly those two.
    shifted = sample(rng, 300)
    shifted[:, 1] += 3 * STDS[1]
    shifted[:, 3] += 3 * STDS[3]
    send(local, shifted)
    drifted = monitor.run(local.monitoring, local.objects, ENDPOINT)
    assert drifted.rows == 300  # only what came since the last run
    assert kinds(drifted.violations) == {
        ("_c1", "baseline_drift_check"),
        ("_c3", "baseline_drift_check"),
    }
    assert drifted.violations[0]["description"].startswith("Baseline drift distance: ")
    assert local.objects.read_json(drifted.violations_uri)["violations"] == drifted.violations

    # 4. Empty values in _c2 (the container takes them as missing): a completeness violation.
    send(local, sample(rng, 100), blank=2)
    send(local, sample(rng, 100))
    incomplete = monitor.run(local.monitoring, local.objects, ENDPOINT)
    assert kinds(incomplete.violations) == {("_c2", "completeness_check")}
    assert "Observed: Only 50.0% of data is complete" in incomplete.violations[0]["description"]

    # 5. Nothing new: no data, nothing written; the command line prints the same analysis.
    assert monitor.run(local.monitoring, local.objects, ENDPOINT).status == "NoData"
    out = io.StringIO()
    code = monitor_cli.run(
        argparse.Namespace(
            endpoint=ENDPOINT,
            monitor_command="run",
            backend="local",
            kind="data-quality",
            all=True,
            fail_on_violations=True,
        ),
        out,
    )
    assert code == 1  # everything together: drift and incompleteness
    assert "_c1: baseline_drift_check" in out.getvalue()
    assert "CompletedWithViolations" in out.getvalue()

    # 6. A second run: capture left alone, same schedule, no duplicate of anything.
    configs = sorted(p.name for p in (local.root / "endpoint-configs").glob("*.json"))
    second = enable(tmp_path)
    assert second.code == 0, second.log
    assert "Data capture is on" in second.log and "is up to date" in second.log
    assert second.outputs == first.outputs
    assert sorted(p.name for p in (local.root / "endpoint-configs").glob("*.json")) == configs
    assert len(list((local.root / "monitoring" / "schedules").iterdir())) == 1
    assert len(list((local.root / "monitoring" / "job-definitions").iterdir())) == 1
    assert len(list((local.root / "alarms").glob(f"{ENDPOINT}-baseline-drift-*"))) == FEATURES

    # 7. A new threshold and schedule: the schedule is updated onto a new job definition,
    # the old definition deleted, the alarms rewritten in place.
    third = enable(
        tmp_path, **{"drift-threshold": "0.2", "schedule-expression": "cron(0 6/12 ? * * *)"}
    )
    assert third.code == 0, third.log
    assert "Updated monitoring schedule" in third.log
    definitions = list((local.root / "monitoring" / "job-definitions").iterdir())
    assert len(definitions) == 1
    assert len(list((local.root / "alarms").glob(f"{ENDPOINT}-baseline-drift-*"))) == FEATURES
    alarm = local.hosting.describe_alarms([alarm_names[0]])[0]
    assert (alarm["Threshold"], alarm["Period"]) == (0.2, 43200)
    assert (
        local.objects.read_json(f"{base}/constraints.json")["monitoring_config"][
            "distribution_constraints"
        ]["comparison_threshold"]
        == 0.2
    )


# ---- the statistics, without an endpoint ---------------------------------------------------


def test_data_type_missing_and_extra_columns_are_violations() -> None:
    baseline_data = monitor.read_csv(
        b"1,0.5,a\n2,1.5,b\n3,2.5,a\n4,3.5,b\n", header=False, label_column="none"
    )
    stats = monitor.statistics(baseline_data)
    assert [f["inferred_type"] for f in stats["features"]] == ["Integral", "Fractional", "String"]
    constraints = monitor.suggest_constraints(stats)
    assert constraints["features"][2]["string_constraints"] == {"domains": ["a", "b"]}

    strings = monitor.Dataset(["_c0", "_c1", "_c2"], [["1", "x", "a"], ["2.5", "1.0", "b"]])
    found = monitor.check(strings, stats, constraints)
    assert ("_c0", "data_type_check") in kinds(found) and ("_c1", "data_type_check") in kinds(found)
    description = next(v for v in found if v["feature_name"] == "_c1")["description"]
    assert description == (
        "Data type match requirement is not met. Expected data type: Fractional, "
        "Expected match: 100.0%. Observed: Only 50.0% of data is Fractional."
    )
    unknown = monitor.Dataset(["_c0", "_c1", "_c2"], [["1", "0.5", "c"]])
    assert ("_c2", "categorical_values_check") in kinds(monitor.check(unknown, stats, constraints))
    narrow = monitor.Dataset(["_c0", "_c1"], [["1", "0.5"]])
    assert kinds(monitor.check(narrow, stats, constraints)) == {("_c2", "missing_column_check")}
    wide = monitor.Dataset(["_c0", "_c1", "_c2", "_c3"], [["1", "0.5", "a", "9"]])
    assert kinds(monitor.check(wide, stats, constraints)) == {("_c3", "extra_column_check")}


def test_header_and_label_column_name_the_features() -> None:
    data = monitor.read_csv(
        b"churn,age,plan\n1,34,gold\n0,51,\n", header=True, label_column="first"
    )
    assert data.names == ["age", "plan"] and data.rows == [["34", "gold"], ["51", None]]
    assert monitor.read_csv(b"1,2\n3,4\n").names == ["_c0", "_c1"]
    with pytest.raises(monitor.DataError, match="row 2 has 1 features"):
        monitor.read_csv(b"1,2,3\n4,5\n", label_column="first")


def test_capture_records_decode_csv_json_and_base64() -> None:
    def record(data: str, encoding: str, content_type: str) -> str:
        return json.dumps({
            "captureData": {"endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding}},
            "eventMetadata": {"eventId": "x", "inferenceTime": "2026-01-01T00:00:00Z"}, "eventVersion": "0",
        })  # fmt: skip

    lines = [
        record("1,2.5,a\n3,,b", "CSV", "text/csv"),
        record(json.dumps({"instances": [[4, 5.5, "c"], {"features": [6, None, "d"]}]}), "JSON", "application/json"),
        record(base64.b64encode(b"7,8.5,e").decode(), "BASE64", "text/csv"),
    ]  # fmt: skip
    dataset = monitor.captured_dataset(lines, ["a", "b", "c"])
    assert dataset.names == ["a", "b", "c"]
    assert dataset.rows == [
        ["1", "2.5", "a"], ["3", None, "b"], ["4", "5.5", "c"], ["6", None, "d"], ["7", "8.5", "e"],
    ]  # fmt: skip


# ---- the real analyzer's layout ------------------------------------------------------------------
#
# What a baselining job of the sagemaker-model-monitor-analyzer image wrote, read from the
# statistics.json and constraints.json committed in ScottReidux/aai-540 (assets/): each
# feature's keys, in order, and the sketch's invariants; and Deequ's sketch code
# (awslabs/deequ QuantileNonSample.scala, NonSampleCompactor.scala), which the analyzer builds
# and reads sketches with. docs/aws-fidelity.md, "Settled points".

ANALYZER_NUMERICAL_KEYS = [
    "common", "mean", "sum", "std_dev", "min", "max",
    "approximate_num_distinct_values", "completeness", "distribution",
]  # fmt: skip
ANALYZER_STRING_KEYS = ["common", "distinct_count", "completeness", "distribution"]


def test_statistics_have_the_analyzer_layout_field_by_field() -> None:
    rows: list[list[str | None]] = [
        [str(i % 7), f"{i / 3:.4f}", f"plan-{i % 3}", f"id-{i}"] for i in range(200)
    ]
    rows[5][0] = None
    stats = monitor.statistics(monitor.Dataset(["a", "b", "plan", "id"], rows))
    assert list(stats) == ["version", "dataset", "features"] and stats["version"] == 0.0
    integral, fractional, plan, ids = stats["features"]
    assert list(integral) == ["name", "inferred_type", "numerical_statistics"]
    for feature in (integral, fractional):
        numbers = feature["numerical_statistics"]
        assert list(numbers) == ANALYZER_NUMERICAL_KEYS
        assert list(numbers["distribution"]) == ["kll"]
        assert list(numbers["distribution"]["kll"]) == ["buckets", "sketch"]
        assert list(numbers["distribution"]["kll"]["sketch"]) == ["parameters", "data"]
        assert all(list(b) == ["lower_bound", "upper_bound", "count"]
                   for b in numbers["distribution"]["kll"]["buckets"])  # fmt: skip
    assert integral["numerical_statistics"]["completeness"] == 199 / 200
    assert integral["numerical_statistics"]["approximate_num_distinct_values"] == 7
    assert fractional["numerical_statistics"]["completeness"] == 1.0
    # A string feature: integer category counts, as the analyzer writes them.
    assert list(plan["string_statistics"]) == ANALYZER_STRING_KEYS
    assert plan["string_statistics"]["completeness"] == 1.0
    buckets = plan["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert [(b["value"], b["count"]) for b in buckets] == [
        ("plan-0", 67),
        ("plan-1", 67),
        ("plan-2", 66),
    ]
    assert all(type(b["count"]) is int for b in buckets)
    # 200 distinct values: over the 120 of Deequ's profiler, so no categorical buckets at all.
    assert list(ids["string_statistics"]) == ["common", "distinct_count", "completeness"]
    assert ids["string_statistics"]["distinct_count"] == 200.0


def test_categorical_buckets_stop_at_deequs_cardinality_threshold() -> None:
    def buckets(distinct: int) -> bool:
        rows: list[list[str | None]] = [[f"v{i % distinct}"] for i in range(2 * distinct)]
        feature = monitor.statistics(monitor.Dataset(["c"], rows))["features"][0]
        return "distribution" in feature["string_statistics"]

    assert buckets(120) and not buckets(121)


def test_domains_follow_deequs_categorical_range_rule() -> None:
    """A `domains` constraint when at most 10 % of the categories occur once, however many
    there are (the analyzer's constraints.json has domains of 54 and 83 values)."""

    def domains(rows: list[str]) -> list[str] | None:
        stats = monitor.statistics(monitor.Dataset(["c"], [[r] for r in rows]))
        entry = monitor.suggest_constraints(stats)["features"][0]
        return (entry.get("string_constraints") or {}).get("domains")

    many = [f"v{i:02d}" for i in range(83) for _ in range(3)]
    assert domains(many) == sorted(set(many))
    assert domains(many + ["rare"]) is not None  # 1 of 84 categories once: 1.2 %
    assert domains([f"v{i}" for i in range(9) for _ in range(2)] + ["x", "y"]) is None  # 2 of 11


def test_string_drift_is_judged_by_the_categorical_threshold() -> None:
    a: list[str | None] = ["a"]
    b: list[str | None] = ["b"]
    baseline = monitor.Dataset(["c"], [a] * 50 + [b] * 50)
    stats = monitor.statistics(baseline)
    constraints = monitor.suggest_constraints(stats, drift_threshold=0.1)
    settings = constraints["monitoring_config"]["distribution_constraints"]
    settings["comparison_method"] = "Simple"
    shifted = monitor.Dataset(["c"], [a] * 90 + [b] * 10)  # L-infinity distance 0.4
    assert kinds(monitor.check(shifted, stats, constraints)) == {("c", "baseline_drift_check")}
    settings["categorical_comparison_threshold"] = 0.5
    assert monitor.check(shifted, stats, constraints) == []


def test_kll_sketch_is_built_as_deequ_builds_it() -> None:
    """QuantileNonSample: level 0 holds capacity(0) = 2 * (ceil(2048 / 2) + 1) = 2050 values,
    in arrival order; the 2051st update compacts it: every other value of the sorted first
    2050 (offset 0 on a first compaction) moves up, and the odd last one stays below."""
    values = [float(v) for v in np.random.default_rng(3).permutation(3000)]
    assert drift.kll_sketch(values[:2050]) == [values[:2050]]
    assert drift.kll_sketch(values[:2051]) == [[values[2050]], sorted(values[:2050])[0::2]]
    # The second compaction of a level takes the other half (offset flips on odd counts).
    levels: list[list[float]] = [sorted(values[:10])]
    compactions, offsets = [1], [0]
    drift._condense(levels, compactions, offsets, k=8, c=0.64)
    assert levels == [[], sorted(values[:10])[1::2]] and offsets[0] == 1


def test_kll_sketch_keeps_the_weight_and_the_quantiles() -> None:
    values = list(np.random.default_rng(1).normal(size=50_000))
    sketch = drift.kll_sketch(values)
    assert len(sketch) > 1 and sum(len(level) * 2**h for h, level in enumerate(sketch)) == 50_000
    approx = drift.Distribution.of_sketch(sketch)
    exact = drift.Distribution.of_values(values)
    assert drift.linf_distance(approx, exact) < 0.01
    assert drift.drift_distance(0.3, 100, 100, "Simple") == 0.3
    assert drift.drift_distance(0.3, 100, 100, "Robust") == pytest.approx(
        0.3 - 1.8 * (200 / 10_000) ** 0.5
    )
    assert drift.drift_distance(0.1, 100, 100, "Robust") == 0.0


# ---- bad input: one error, nothing created -----------------------------------------------------


def fake_endpoint(local: LocalBackend) -> None:
    """An InService endpoint record without a server (enough for input checks)."""
    local.hosting.create_model({"ModelName": "m", "PrimaryContainer": {"ModelDataUrl": "s3://b/m"}})
    local.hosting.create_endpoint_config({
        "EndpointConfigName": "c1",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
    })  # fmt: skip
    (local.hosting.folder(ENDPOINT)).mkdir(parents=True)
    (local.hosting.folder(ENDPOINT) / "endpoint.json").write_text(
        json.dumps(
            {"EndpointName": ENDPOINT, "EndpointConfigName": "c1", "EndpointStatus": "InService"}
        )
    )


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"endpoint-name": "nope"}, "endpoint-name", "there is no endpoint nope"),
        # Its drift alarms would fall outside the lower-cased IAM prefix (docs/aws-fidelity.md).
        ({"endpoint-name": "Churn-Staging"}, "endpoint-name", "'Churn-Staging' has upper-case letters"),
        ({"baseline-data-uri": "data/missing.csv"}, "baseline-data-uri", "cannot be read"),
        (
            {"baseline-data-uri": "s3://smgha-local/nothing/train.csv"},
            "baseline-data-uri",
            "cannot be read: NoSuchKey",
        ),
        ({"schedule-expression": "cron(15 * ? * * *)"}, "schedule-expression", "is not a schedule"),
        ({"schedule-expression": "rate(1 hour)"}, "schedule-expression", "is not a schedule"),
        ({"schedule-expression": "cron(0 25 ? * * *)"}, "schedule-expression", "hour out of range"),
        ({"sns-topic-arn": "arn:aws:sqs:us-east-1:123456789012:q"}, "sns-topic-arn", "is not an SNS topic ARN"),
        ({"sns-topic-arn": "arn:aws:sns:us-east-1:1234:t"}, "sns-topic-arn", "is not an SNS topic ARN"),
        ({"sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:t"}, "sns-topic-arn", "the topic is in eu-west-1"),
        ({"baseline-method": "job"}, "baseline-method", "the local backend does not have"),
        ({"drift-threshold": "2"}, "drift-threshold", "must be at most 1"),
        ({"data-capture-percent": "0"}, "data-capture-percent", "from 1 to 100"),
        ({"output-s3-uri": "/tmp/out"}, "output-s3-uri", "must be an s3:// URI"),
        ({"label-column": "last"}, "label-column", "is not one of first, none"),
        # Values of AWS fields, by botocore's model (smgha/aws_values.py).
        ({"instance-type": "ml.m5.lrge"}, "instance-type", "'ml.m5.lrge' is not a sagemaker ProcessingInstanceType"),
        ({"role-arn": "arn:aws:iam::123:role/monitor"}, "role-arn", "does not match sagemaker's rule for RoleArn"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_and_creates_nothing(
    local: LocalBackend, tmp_path: Path, overrides: dict[str, str], name: str, problem: str
) -> None:
    fake_endpoint(local)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_bytes(b"1,2,3\n0,4,5\n")

    result = enable(tmp_path, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors[0]
    assert not (local.root / "monitoring").exists() and not (local.root / "alarms").exists()
    assert [p.name for p in (local.root / "endpoint-configs").iterdir()] == ["c1.json"]
    assert not (local.root / "s3" / "smgha-local" / "monitoring").exists()


def test_monitor_run_without_a_schedule_says_so(local: LocalBackend) -> None:
    out = io.StringIO()
    code = monitor_cli.run(
        argparse.Namespace(
            endpoint=ENDPOINT,
            monitor_command="run",
            backend="local",
            kind="data-quality",
            all=False,
            fail_on_violations=False,
        ),
        out,
    )
    assert code == 1 and "has no monitoring schedule" in out.getvalue()


# ---- the sagemaker backend: moto, and a Stubber for what moto lacks ------------------------------


class OperationStubber(Stubber):
    """A Stubber that answers only `operations`; every other call goes to the real endpoint
    (the moto server)."""

    def __init__(self, client: Any, operations: list[str]) -> None:
        super().__init__(client)
        self.operations = operations

    def activate(self) -> None:
        events = self.client.meta.events
        for operation in self.operations:
            events.register_first(
                f"before-parameter-build.sagemaker.{operation}",
                self._assert_expected_params,
                unique_id=f"{self._expected_params_event_id}-{operation}",
            )
            events.register(
                f"before-call.sagemaker.{operation}",
                self._get_response_handler,
                unique_id=f"{self._event_id}-{operation}",
            )

    def deactivate(self) -> None:
        events = self.client.meta.events
        for operation in self.operations:
            events.unregister(
                f"before-parameter-build.sagemaker.{operation}",
                unique_id=f"{self._expected_params_event_id}-{operation}",
            )
            events.unregister(
                f"before-call.sagemaker.{operation}", unique_id=f"{self._event_id}-{operation}"
            )


ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/monitoring"
BUCKET = "ml-data"


def moto_endpoint(capture: bool, modes: tuple[str, ...] = ("Input",)) -> None:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(
        ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "xgboost"}
    )
    config: dict[str, Any] = {
        "EndpointConfigName": "c1",
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    }  # fmt: skip
    if capture:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 50,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": mode} for mode in modes],
        }
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c1")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="train/train.csv", Body=b"1,0.5,3\n0,1.5,4\n1,2.5,5\n")


def sagemaker_inputs(**overrides: str) -> dict[str, str]:
    return {
        "backend": "sagemaker",
        "region": REGION,
        "endpoint-name": ENDPOINT,
        "baseline-data-uri": f"s3://{BUCKET}/train/train.csv",
        "output-s3-uri": f"s3://{BUCKET}/monitoring",
        "role-arn": ROLE,
        "sns-topic-arn": SNS,
        **overrides,
    }


SCHEDULE_OPS = [
    "DescribeMonitoringSchedule",
    "CreateMonitoringSchedule",
    "UpdateMonitoringSchedule",
]


def described_schedule(definition: str, expression: str = "cron(0 * ? * * *)") -> dict[str, Any]:
    now = "2026-01-01T00:00:00Z"
    return {
        "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/{ENDPOINT}-data-quality",
        "MonitoringScheduleName": f"{ENDPOINT}-data-quality",
        "MonitoringScheduleStatus": "Scheduled",
        "MonitoringType": "DataQuality",
        "CreationTime": now,
        "LastModifiedTime": now,
        "MonitoringScheduleConfig": {
            "ScheduleConfig": {"ScheduleExpression": expression},
            "MonitoringJobDefinitionName": definition,
            "MonitoringType": "DataQuality",
        },
        "EndpointName": ENDPOINT,
    }


@pytest.mark.slow
def test_sagemaker_backend_job_definition_on_moto_schedule_stubbed_alarms_on_moto(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from smgha.backends.aws import SageMakerBackend

    moto_endpoint(capture=True)
    hosting = SageMakerBackend(region=REGION)
    monkeypatch.setattr(enable_monitor, "stage_backend", lambda runner, name, region: hosting)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)

    with OperationStubber(hosting.clients.sagemaker, SCHEDULE_OPS) as stub:
        stub.add_client_error(
            "describe_monitoring_schedule",
            "ResourceNotFound",
            "Monitoring Schedule does not exist",
            expected_params={"MonitoringScheduleName": f"{ENDPOINT}-data-quality"},
        )
        stub.add_response(
            "create_monitoring_schedule",
            {"MonitoringScheduleArn": described_schedule("x")["MonitoringScheduleArn"]},
            None,
        )
        first = run_main(enable_monitor.main, sagemaker_inputs(), **GITHUB_CONTEXT)
        assert first.code == 0, first.log
        stub.assert_no_pending_responses()

    definitions = sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert len(definitions) == 1
    name = definitions[0]["MonitoringJobDefinitionName"]
    described = sagemaker.describe_data_quality_job_definition(JobDefinitionName=name)
    assert described["DataQualityBaselineConfig"]["StatisticsResource"]["S3Uri"] == (
        f"s3://{BUCKET}/monitoring/baseline/statistics.json"
    )
    assert described["DataQualityAppSpecification"]["ImageUri"] == (
        "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == ENDPOINT
    assert described["RoleArn"] == ROLE
    assert "Data capture is on (s3://ml-data/capture): left alone" in first.log
    assert [
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    ] == ["c1"]
    stats = json.loads(
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=BUCKET, Key="monitoring/baseline/statistics.json")["Body"]
        .read()
    )
    assert [f["inferred_type"] for f in stats["features"]] == ["Fractional", "Integral"]
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{ENDPOINT}-baseline-drift-")[
        "MetricAlarms"
    ]
    assert sorted(a["MetricName"] for a in alarms) == [
        "feature_baseline_drift__c0",
        "feature_baseline_drift__c1",
    ]
    assert all(a["AlarmActions"] == [SNS] for a in alarms)
    assert alarms[0]["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    assert {d["Name"] for d in alarms[0]["Dimensions"]} == {"Endpoint", "MonitoringSchedule"}

    # Again: the schedule already points at this definition: no create, no update.
    with OperationStubber(hosting.clients.sagemaker, SCHEDULE_OPS) as stub:
        stub.add_response("describe_monitoring_schedule", described_schedule(name))
        again = run_main(enable_monitor.main, sagemaker_inputs(), **GITHUB_CONTEXT)
        assert again.code == 0, again.log
        stub.assert_no_pending_responses()
    assert "is up to date" in again.log
    assert len(sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]) == 1
    assert len(cloudwatch.describe_alarms(AlarmNamePrefix=ENDPOINT)["MetricAlarms"]) == 2

    # A new instance type: a new definition, the schedule updated onto it, the old one deleted.
    with OperationStubber(hosting.clients.sagemaker, SCHEDULE_OPS) as stub:
        stub.add_response("describe_monitoring_schedule", described_schedule(name))
        stub.add_response(
            "update_monitoring_schedule",
            {"MonitoringScheduleArn": described_schedule(name)["MonitoringScheduleArn"]},
        )
        changed = run_main(
            enable_monitor.main,
            sagemaker_inputs(**{"instance-type": "ml.c5.xlarge"}),
            **GITHUB_CONTEXT,
        )
        assert changed.code == 0, changed.log
        stub.assert_no_pending_responses()
    remaining = sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert len(remaining) == 1 and remaining[0]["MonitoringJobDefinitionName"] != name


@pytest.mark.slow
def _expect_capture_update(stub: Any, endpoint_arn: str, config_name: str) -> None:
    """The UpdateEndpoint enable-monitor sends to turn capture on: all at once, blue/green."""
    stub.add_response(
        "update_endpoint",
        {"EndpointArn": endpoint_arn},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": config_name,
            "RetainAllVariantProperties": False,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                    "TerminationWaitInSeconds": 0,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                }
            },
        },
    )  # fmt: skip


def test_sagemaker_backend_turns_capture_on_and_baselines_with_a_job(aws_env: str) -> None:
    import boto3

    from smgha.backends.aws import SageMakerBackend
    from tests.stage_helpers import GITHUB_CONTEXT as CONTEXT

    moto_endpoint(capture=False)
    s3 = boto3.client("s3", region_name=REGION)
    # What the baselining job would write (the job itself is stubbed).
    s3.put_object(
        Bucket=BUCKET,
        Key="monitoring/baseline/statistics.json",
        Body=json.dumps({"version": 0.0, "dataset": {"item_count": 3}, "features": []}).encode(),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="monitoring/baseline/constraints.json",
        Body=json.dumps({"version": 0.0, "features": [], "monitoring_config": {"distribution_constraints": {"comparison_threshold": 0.1}}}).encode(),
    )  # fmt: skip
    hosting = SageMakerBackend(region=REGION)
    hosting.hosting.poll_seconds = 0
    from smgha.runner import Runner

    env = {**CONTEXT}
    for key, value in sagemaker_inputs(
        **{"baseline-method": "job", "drift-threshold": "0.25"}
    ).items():
        env[f"INPUT_{key.upper().replace('-', '_')}"] = value
    inputs = enable_monitor.load_inputs(Runner(env=env, stdout=io.StringIO()))
    now = "2026-01-01T00:00:00Z"
    endpoint_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    operations = [
        "DescribeEndpoint", "UpdateEndpoint", "DescribeProcessingJob", "CreateProcessingJob",
        *SCHEDULE_OPS,
    ]  # fmt: skip

    def endpoint(config: str) -> dict[str, Any]:
        return {
            "EndpointName": ENDPOINT, "EndpointArn": endpoint_arn, "EndpointConfigName": config,
            "EndpointStatus": "InService", "CreationTime": now, "LastModifiedTime": now,
        }  # fmt: skip

    with OperationStubber(hosting.clients.sagemaker, operations) as stub:
        stub.add_response("describe_endpoint", endpoint("c1"), {"EndpointName": ENDPOINT})
        stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "no schedule")
        monitoring = enable_monitor.plan(inputs, hosting)
        stub.assert_no_pending_responses()
        assert monitoring.capture.config_name.startswith("c1-dc-")
        assert monitoring.baseline.job is not None
        job = monitoring.baseline.job["ProcessingJobName"]
        assert job.startswith(f"{ENDPOINT}-baseline-")

        _expect_capture_update(stub, endpoint_arn, monitoring.capture.config_name)
        stub.add_response(
            "describe_endpoint",
            {**endpoint("c1"), "EndpointStatus": "Updating"},
            {"EndpointName": ENDPOINT},
        )
        stub.add_response(
            "describe_endpoint",
            endpoint(monitoring.capture.config_name),
            {"EndpointName": ENDPOINT},
        )
        stub.add_client_error(
            "describe_processing_job", "ValidationException", "Could not find processing job"
        )
        stub.add_response(
            "create_processing_job",
            {"ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{job}"},
            {
                **monitoring.baseline.job,
            },
        )
        job_record = {
            "ProcessingJobName": job, "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{job}",
            "ProcessingResources": monitoring.baseline.job["ProcessingResources"],
            "AppSpecification": monitoring.baseline.job["AppSpecification"], "CreationTime": now,
        }  # fmt: skip
        stub.add_response(
            "describe_processing_job", {**job_record, "ProcessingJobStatus": "InProgress"}
        )
        stub.add_response(
            "describe_processing_job", {**job_record, "ProcessingJobStatus": "Completed"}
        )
        stub.add_response(
            "create_monitoring_schedule",
            {"MonitoringScheduleArn": described_schedule("x")["MonitoringScheduleArn"]},
        )
        lines: list[str] = []
        enable_monitor.apply(inputs, monitoring, hosting, lines.append, sleep=lambda _: None)
        stub.assert_no_pending_responses()

    request = monitoring.baseline.job
    assert request["AppSpecification"]["ImageUri"].endswith("/sagemaker-model-monitor-analyzer")
    assert json.loads(request["Environment"]["dataset_format"]) == {
        "csv": {"header": False, "output_columns_position": "START"}
    }
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=monitoring.capture.config_name)
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{BUCKET}/monitoring/capture"
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    features = s3.get_object(Bucket=BUCKET, Key="monitoring/baseline/dataset/features.csv")
    assert features["Body"].read() == b"0.5,3\n1.5,4\n2.5,5\n"  # the label dropped
    constraints = json.loads(
        s3.get_object(Bucket=BUCKET, Key="monitoring/baseline/constraints.json")["Body"].read()
    )
    assert (
        constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.25
    )
    assert any("Baselining job" in line and "completed" in line for line in lines)


def test_turning_capture_on_keeps_the_instance_count_autoscaling_chose(aws_env: str) -> None:
    """The live config says 1 instance; autoscaling runs 4 (DesiredInstanceCount, as the
    SageMaker guide's procedure for updating an autoscaled endpoint reads it). The config
    with data capture asks for 4, so the update (which applies the config's counts) keeps
    the fleet's size."""
    import boto3

    from smgha.backends.aws import SageMakerBackend
    from smgha.runner import Runner
    from tests.stage_helpers import GITHUB_CONTEXT as CONTEXT

    moto_endpoint(capture=False)
    hosting = SageMakerBackend(region=REGION)
    hosting.hosting.poll_seconds = 0
    env = {**CONTEXT}
    for key, value in sagemaker_inputs().items():
        env[f"INPUT_{key.upper().replace('-', '_')}"] = value
    inputs = enable_monitor.load_inputs(Runner(env=env, stdout=io.StringIO()))
    now = "2026-01-01T00:00:00Z"
    endpoint_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"

    def endpoint(config: str, status: str = "InService") -> dict[str, Any]:
        return {
            "EndpointName": ENDPOINT, "EndpointArn": endpoint_arn, "EndpointConfigName": config,
            "EndpointStatus": status, "CreationTime": now, "LastModifiedTime": now,
            "ProductionVariants": [{
                "VariantName": "AllTraffic", "CurrentWeight": 1.0, "DesiredWeight": 1.0,
                "CurrentInstanceCount": 3, "DesiredInstanceCount": 4,
            }],
        }  # fmt: skip

    operations = ["DescribeEndpoint", "UpdateEndpoint", *SCHEDULE_OPS]
    with OperationStubber(hosting.clients.sagemaker, operations) as stub:
        stub.add_response("describe_endpoint", endpoint("c1"), {"EndpointName": ENDPOINT})
        stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "no schedule")
        monitoring = enable_monitor.plan(inputs, hosting)
        stub.assert_no_pending_responses()
        assert monitoring.capture.request is not None
        assert [
            (v["VariantName"], v["InitialInstanceCount"])
            for v in monitoring.capture.request["ProductionVariants"]
        ] == [("AllTraffic", 4)]

        _expect_capture_update(stub, endpoint_arn, monitoring.capture.config_name)
        stub.add_response("describe_endpoint", endpoint(monitoring.capture.config_name))
        rollout.turn_capture_on(
            hosting.hosting, ENDPOINT, monitoring.capture, inputs.timeout_seconds, hosting.hosting.poll_seconds, lambda _: None,
            lambda _: None, time.monotonic,
        )  # fmt: skip
        stub.assert_no_pending_responses()

    config = boto3.client("sagemaker", region_name=REGION).describe_endpoint_config(
        EndpointConfigName=monitoring.capture.config_name
    )
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 4
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert config["DataCaptureConfig"]["EnableCapture"] is True


def test_live_instance_counts_fall_back_to_current_and_leave_serverless_alone() -> None:
    live: dict[str, Any] = {
        "ProductionVariants": [
            {"VariantName": "a", "CurrentInstanceCount": 3},
            {"VariantName": "s", "CurrentServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}},
        ]
    }  # fmt: skip
    variants: list[dict[str, Any]] = [
        {"VariantName": "a", "ModelName": "m", "InitialInstanceCount": 1},
        {"VariantName": "s", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}},
        {"VariantName": "gone", "ModelName": "m", "InitialInstanceCount": 2},
    ]  # fmt: skip
    assert with_live_instance_counts(variants, live) == [
        {"VariantName": "a", "ModelName": "m", "InitialInstanceCount": 3},
        variants[1],
        variants[2],
    ]


def test_sagemaker_backend_missing_endpoint_is_an_input_error(aws_env: str) -> None:
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    result = run_main(enable_monitor.main, sagemaker_inputs(), **GITHUB_CONTEXT)
    assert result.code == 1 and "there is no endpoint churn-staging" in result.errors[0]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"] == []
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_sagemaker_backend_without_output_s3_uri_is_refused_before_any_call(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No output-s3-uri: a sagemaker-<region>-<account> default was never created and the
    # Terraform roles do not allow it, so the baseline upload would end in NoSuchBucket.
    import boto3

    from smgha.backends.aws import SageMakerBackend

    moto_endpoint(capture=True)
    hosting = SageMakerBackend(region=REGION)
    monkeypatch.setattr(enable_monitor, "stage_backend", lambda runner, name, region: hosting)
    inputs = sagemaker_inputs()
    del inputs["output-s3-uri"]

    # moto has no monitoring schedules: the stub says there is none yet.
    with OperationStubber(hosting.clients.sagemaker, SCHEDULE_OPS) as stub:
        stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "no schedule")
        result = run_main(enable_monitor.main, inputs, **GITHUB_CONTEXT)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert "input 'output-s3-uri'" in result.errors[0]
    assert "is required with backend: sagemaker" in result.errors[0]
    assert "terraform output -raw artifact_bucket_name" in result.errors[0]
    s3 = boto3.client("s3", region_name=REGION)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["train/train.csv"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"] == []
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == "c1"


def test_monitoring_iam_actions_name_real_operations() -> None:
    import botocore.session

    from smgha.backends.aws import client
    from smgha.backends.aws.client import JOB_DEFINITION_APIS

    model = botocore.session.get_session().get_service_model("sagemaker")
    monitoring = [
        *(f"{verb}{family}JobDefinition" for family, _ in JOB_DEFINITION_APIS.values()
          for verb in ("Create", "Describe", "Delete")),
        "CreateMonitoringSchedule", "DescribeMonitoringSchedule", "UpdateMonitoringSchedule",
        "CreateProcessingJob", "DescribeProcessingJob",
    ]  # fmt: skip
    for operation in monitoring:
        action = client.IAM_ACTIONS[operation]
        assert operation in model.operation_names and action == f"sagemaker:{operation}"
    assert set(client.IAM_EXTRA_ACTIONS) <= set(client.IAM_ACTIONS)


@pytest.mark.parametrize("adapter", ["local", "sagemaker"])
def test_a_monitor_kind_without_a_row_in_the_adapters_table_is_refused(
    adapter: str, tmp_path: Path
) -> None:
    """Each adapter maps a monitor kind to its APIs in one table: a kind it has no row for is
    a StageError naming the kinds it knows, before any call or file."""
    from smgha.backends.aws import SageMakerBackend

    chosen = (
        LocalBackend(region=REGION, root=tmp_path / "state")
        if adapter == "local"
        else SageMakerBackend(region=REGION)
    )
    with pytest.raises(StageError, match="unknown monitor kind 'model-bias'.*data-quality"):
        chosen.monitoring.describe_job_definition("model-bias", "churn-mb")
    with pytest.raises(StageError, match="unknown monitor kind"):
        chosen.monitoring.create_job_definition("model-bias", {"JobDefinitionName": "x"})
    assert not (tmp_path / "state").exists()


def test_the_local_backend_runs_no_processing_job_outside_a_pipeline(tmp_path: Path) -> None:
    """The Monitoring port has the baselining job; locally the baseline is computed in
    process, so creating one is a StageError that says so (never a missing attribute)."""
    local = LocalBackend(region=REGION, root=tmp_path / "state")
    assert local.monitoring.describe_processing_job("baseline-churn") is None
    with pytest.raises(StageError, match="only as steps of a pipeline"):
        local.monitoring.create_processing_job({"ProcessingJobName": "baseline-churn"})
