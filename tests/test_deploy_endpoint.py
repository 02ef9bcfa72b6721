"""deploy-endpoint on the local backend: real models served by a real local endpoint server."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import LocalBackend
from smgha.stages import deploy_endpoint
from tests.stage_helpers import GITHUB_CONTEXT, run_main

REGION = "us-east-1"
GROUP = "churn-models"
FEATURES = 28
ROWS = np.random.default_rng(3).normal(size=(64, FEATURES))
PAYLOAD = "\n".join(",".join(f"{x:.4f}" for x in row) for row in ROWS[:1])


def train(rounds: int, depth: int, seed: int, parallel_trees: int = 1, rows: int = 500) -> bytes:
    """A real xgboost model on FEATURES columns, as a model.tar.gz of the built-in algorithm."""
    import xgboost

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, FEATURES))
    labels = (data[:, 0] + data[:, 1] * 0.5 + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    params = {
        "objective": "binary:logistic",
        "max_depth": depth,
        "seed": seed,
        "num_parallel_tree": parallel_trees,
        "subsample": 0.8,
        "colsample_bynode": 0.8,
    }
    booster = xgboost.train(params, xgboost.DMatrix(data, label=labels), rounds)
    return tarball(bytes(booster.save_raw(raw_format="ubj")))


def tarball(model: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    yield backend
    for folder in (backend.root / "endpoints").glob("*"):  # stop every server a test started
        backend.delete_endpoint(folder.name)


def register(local: LocalBackend, model: bytes, status: str = "Approved") -> str:
    version = len(local.list_model_packages(GROUP)) + 1
    uri = f"s3://smgha-local/models/v{version}/model.tar.gz"
    local.put_object(uri, model)
    return local.create_model_package({
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": status,
        "InferenceSpecification": {"Containers": [{"Image": "sagemaker-xgboost:1.7-1", "ModelDataUrl": uri}]},
    })  # fmt: skip


def deploy(package: str, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "model-package-arn": package,
        "endpoint-name": "churn-staging",
        "strategy": "canary",
        "canary-percent": "50",
        "wait-seconds": "2",
        "termination-wait-seconds": "0",
        "timeout-minutes": "2",
    }
    inputs.update(overrides)
    return run_main(deploy_endpoint.main, inputs, **GITHUB_CONTEXT)


class Traffic:
    """Background requests during an update, bounded in count and time, so alarms see data."""

    def __init__(self, local: LocalBackend, name: str = "churn-staging") -> None:
        self.local, self.name = local, name
        self.statuses: list[int] = []
        self.variants: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while (
            not self.stop.is_set() and time.monotonic() < deadline and len(self.statuses) < 20_000
        ):
            try:
                answer = self.local.invoke_endpoint(self.name, PAYLOAD.encode(), "text/csv")
            except Exception:
                time.sleep(0.01)
                continue
            self.statuses.append(answer.status)
            self.variants.append(answer.variant)
            time.sleep(0.005)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def predictions(local: LocalBackend) -> list[float]:
    answer = local.invoke_endpoint(
        "churn-staging", "\n".join(",".join(map(str, r)) for r in ROWS[:3]).encode(), "text/csv"
    )
    assert answer.status == 200, answer.body
    return [float(x) for x in answer.body.decode().split(",")]


@pytest.mark.slow
def test_deploy_update_canary_rollbacks_and_idempotent_rerun(local: LocalBackend) -> None:
    v1 = register(local, train(20, 3, seed=1))
    v2 = register(local, train(30, 4, seed=2))
    broken = register(local, b"this is not a model archive")
    # 4,000 trees of depth 8: ~0.8 ms a row against ~0.07 ms for the others (measured).
    slow = register(local, train(200, 8, seed=4, parallel_trees=20, rows=2000))

    # 1. First deploy: the endpoint is created and serves v1.
    first = deploy(v1)
    assert first.code == 0, first.log
    assert (
        first.outputs["status"] == "deployed" and first.outputs["previous-model-package-arn"] == ""
    )
    assert first.outputs["endpoint-config-name"].startswith("churn-staging-v1-")
    scores = predictions(local)
    assert all(0.0 <= p <= 1.0 for p in scores)

    # 2. The same inputs again: nothing changes, and it says so.
    again = deploy(v1)
    assert again.code == 0 and again.outputs["status"] == "unchanged"
    assert "nothing to do" in again.log
    assert again.outputs["endpoint-config-name"] == first.outputs["endpoint-config-name"]

    # 3. A canary update to v2 that succeeds, under traffic: both fleets answered.
    with Traffic(local) as traffic:
        update = deploy(v2)
    assert update.code == 0, update.log
    assert update.outputs["status"] == "deployed"
    assert update.outputs["previous-model-package-arn"] == v1
    assert update.outputs["previous-endpoint-config-name"] == first.outputs["endpoint-config-name"]
    assert "new fleet weight 0.5" in update.log
    assert {v.split("@")[1] for v in traffic.variants} == {
        first.outputs["endpoint-config-name"],
        update.outputs["endpoint-config-name"],
    }
    assert set(traffic.statuses) == {200}
    assert predictions(local) != scores  # v2 answers now

    # 4. A new version whose model cannot load fails its health check: rolled back.
    failed = deploy(broken)
    assert failed.code == 1
    assert failed.outputs["status"] == "rolled-back"
    assert "failed its health check" in failed.errors[0]
    assert (
        local.describe_endpoint("churn-staging")["EndpointConfigName"]
        == update.outputs["endpoint-config-name"]
    )

    # 5. A new version that is too slow trips the latency alarm during the canary: rolled back.
    with Traffic(local):
        slow_update = deploy(slow, **{"max-latency-ms": "0.3", "wait-seconds": "3"})
    assert slow_update.code == 1, slow_update.log
    assert slow_update.outputs["status"] == "rolled-back"
    assert "alarm churn-staging-model-latency went into ALARM" in slow_update.errors[0]
    assert local.describe_alarms(["churn-staging-model-latency"])[0]["StateValue"] == "ALARM"
    assert (
        local.describe_endpoint("churn-staging")["EndpointConfigName"]
        == update.outputs["endpoint-config-name"]
    )

    # 6. Rolling back to v1 is the same call with its ARN (its config is reused).
    back = deploy(
        update.outputs["previous-model-package-arn"],
        strategy="all-at-once",
        **{"wait-seconds": "0"},
    )
    assert back.code == 0, back.log
    assert back.outputs["endpoint-config-name"] == first.outputs["endpoint-config-name"]
    assert predictions(local) == scores


@pytest.mark.slow
def test_autoscaling_and_data_capture_are_kept_across_updates(local: LocalBackend) -> None:
    v1 = register(local, train(10, 3, seed=1))
    v2 = register(local, train(12, 3, seed=2))
    scaling = {
        "autoscaling-min-instances": "2",
        "autoscaling-max-instances": "4",
        "instance-count": "2",
    }
    capture = {"data-capture-percent": "100", "data-capture-s3-uri": "s3://smgha-local/capture"}

    first = deploy(v1, **scaling, **capture)
    assert first.code == 0, first.log
    target = local.describe_scalable_target("endpoint/churn-staging/variant/AllTraffic")
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    assert (
        target["Policies"]["churn-staging-invocations-per-instance"][
            "TargetTrackingScalingPolicyConfiguration"
        ]["TargetValue"]
        == 100.0
    )
    predictions(local)

    # Autoscaling has since scaled the variant out to 3 instances (set as SageMaker reports it).
    record = local.describe_endpoint("churn-staging")
    assert record is not None
    record["ProductionVariants"][0]["CurrentInstanceCount"] = 3
    (local.folder("churn-staging") / "endpoint.json").write_text(json.dumps(record))

    # A linear update in two steps; data capture not given: kept.
    update = deploy(
        v2, **scaling, strategy="linear", **{"linear-step-percent": "50", "wait-seconds": "1"}
    )
    assert update.code == 0, update.log
    assert "new fleet weight 0.5" in update.log
    config = local.describe_endpoint_config(update.outputs["endpoint-config-name"])
    assert config is not None
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    # Kept, not reset to the minimum 2.
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 3

    # Autoscaling moves again; deploying the same version again still changes nothing.
    record = local.describe_endpoint("churn-staging")
    assert record is not None
    record["ProductionVariants"][0]["CurrentInstanceCount"] = 4
    (local.folder("churn-staging") / "endpoint.json").write_text(json.dumps(record))
    rerun = deploy(v2, **scaling, strategy="linear", **{"linear-step-percent": "50"})
    assert rerun.code == 0 and rerun.outputs["status"] == "unchanged", rerun.log
    predictions(local)
    captured = sorted(local.s3.path("s3://smgha-local/capture").rglob("*.jsonl"))
    assert captured, "no capture files were written"
    assert (
        "| Data capture | 100 % to s3://smgha-local/capture | 100 % to s3://smgha-local/capture |"
        in update.summary
    )


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        (
            {
                "model-package-arn": f"arn:aws:sagemaker:{REGION}:000000000000:model-package/{GROUP}/9"
            },
            "model-package-arn",
            "there is no model package",
        ),
        (
            {"model-package-arn": "churn-models/1"},
            "model-package-arn",
            "is not a versioned model package ARN",
        ),
        ({"endpoint-name": "churn_staging"}, "endpoint-name", "breaks SageMaker's naming rule"),
        ({"endpoint-name": "x" * 64}, "endpoint-name", "breaks SageMaker's naming rule"),
        ({"instance-count": "0"}, "instance-count", "must be a whole number from 1 to 100"),
        ({"instance-count": "101"}, "instance-count", "must be a whole number from 1 to 100"),
        (
            {"autoscaling-min-instances": "5", "autoscaling-max-instances": "2"},
            "autoscaling-min-instances",
            "is above autoscaling-max-instances",
        ),
        (
            {"autoscaling-min-instances": "2"},
            "autoscaling-max-instances",
            "is required when the other autoscaling bound is set",
        ),
        ({"canary-percent": "150"}, "canary-percent", "must be at most 100"),
        ({"strategy": "yolo"}, "strategy", "is not one of all-at-once, canary, linear"),
        ({"data-capture-percent": "20"}, "data-capture-s3-uri", "must be an s3:// URI"),
    ],
)
def test_bad_input_is_one_error_and_touches_no_endpoint(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    package = local.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [{"Image": "x", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]
            },
        }
    )

    result = deploy(package, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0]
    for kind in ("endpoints", "endpoint-configs", "models", "alarms"):
        assert not (local.root / kind).exists()


def test_an_unapproved_package_is_refused_unless_allowed(local: LocalBackend) -> None:
    package = local.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": "x", "ModelDataUrl": "s3://smgha-local/m.tar.gz"}]
            },
        }
    )

    refused = deploy(package)

    assert refused.code == 1 and "is PendingManualApproval, not Approved" in refused.errors[0]
    assert not (local.root / "endpoints").exists()
    dry = deploy(package, **{"allow-unapproved": "true", "dry-run": "true"})
    assert dry.code == 0 and dry.outputs["status"] == "dry-run"
    assert '"ModelName": "churn-models-v1"' in dry.log and "(not deployed)" in dry.log
    assert not (local.root / "endpoints").exists() and not (local.root / "models").exists()


# ---- the sagemaker backend: a moto server for the create path, the Stubber for the update ----


def test_sagemaker_first_deploy_creates_model_config_endpoint_alarms_and_scaling(
    aws_env: None,
) -> None:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://models/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    role = "arn:aws:iam::123456789012:role/sagemaker-execution"

    result = run_main(
        deploy_endpoint.main,
        {
            "backend": "sagemaker",
            "region": REGION,
            "role-arn": role,
            "model-package-arn": package,
            "endpoint-name": "churn-staging",
            "autoscaling-min-instances": "1",
            "autoscaling-max-instances": "3",
        },
        **GITHUB_CONTEXT,
    )

    assert result.code == 0, result.log
    assert result.outputs["status"] == "deployed"
    model = sagemaker.describe_model(ModelName="churn-models-v1")
    assert (
        model["PrimaryContainer"]["ModelPackageName"] == package
        and model["ExecutionRoleArn"] == role
    )
    endpoint = sagemaker.describe_endpoint(EndpointName="churn-staging")
    assert endpoint["EndpointConfigName"] == result.outputs["endpoint-config-name"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == "churn-models-v1"
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms(
        AlarmNames=["churn-staging-invocation-5xx-errors", "churn-staging-model-latency"]
    )["MetricAlarms"]
    assert {(a["MetricName"], a["Threshold"]) for a in alarms} == {
        ("Invocation5XXErrors", 0.0),
        ("ModelLatency", 1_000_000.0),
    }
    targets = boto3.client("application-autoscaling", region_name=REGION).describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("endpoint/churn-staging/variant/AllTraffic", 1, 3)
    ]

    again = run_main(
        deploy_endpoint.main,
        {
            "backend": "sagemaker",
            "region": REGION,
            "role-arn": role,
            "model-package-arn": package,
            "endpoint-name": "churn-staging",
            "autoscaling-min-instances": "1",
            "autoscaling-max-instances": "3",
        },
        **GITHUB_CONTEXT,
    )
    assert again.code == 0 and again.outputs["status"] == "unchanged"
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1


def test_sagemaker_update_sends_the_blue_green_request_and_reports_a_rollback() -> None:
    from botocore.stub import Stubber

    from smgha.backends.sagemaker import SageMakerBackend

    hosting = SageMakerBackend(region=REGION)
    inputs = deploy_endpoint.Inputs(
        backend="sagemaker", region=REGION, model_package_arn=f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/2",
        endpoint_name="churn-prod", role_arn="arn:aws:iam::123456789012:role/r", instance_type="ml.m5.large", instance_count=1,
        variant_name="AllTraffic", strategy="linear", canary_percent=10, linear_step_percent=25, wait_seconds=60,
        termination_wait_seconds=30, alarms=("team-5xx",), max_latency_ms=500, autoscaling=None, target_invocations=100,
        scale_in_cooldown=300, scale_out_cooldown=60, data_capture_percent=None, data_capture_uri="", allow_unapproved=False,
        timeout_seconds=600, dry_run=False,
    )  # fmt: skip
    plan = deploy_endpoint.DeploymentPlan(
        package={}, model_name="churn-models-v2", model_request=None, config_name="churn-prod-v2-abcdef12",
        config_request={}, config_exists=True, live={"EndpointConfigName": "churn-prod-v1-12345678", "EndpointStatus": "InService"},
        live_config=None, previous_package_arn="", deployment_config=deploy_endpoint._deployment_config(inputs, ["team-5xx"]),
        alarm_requests=[], alarm_names=["team-5xx"],
    )  # fmt: skip
    expected = {
        "EndpointName": "churn-prod",
        "EndpointConfigName": "churn-prod-v2-abcdef12",
        "RetainAllVariantProperties": False,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "LINEAR",
                    "WaitIntervalInSeconds": 60,
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                },
                "TerminationWaitInSeconds": 30,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "team-5xx"}]},
        },
    }
    now = "2026-01-01T00:00:00Z"
    described = {
        "EndpointName": "churn-prod",
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/churn-prod",
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    with Stubber(hosting.sagemaker) as stub:
        stub.add_response("update_endpoint", {"EndpointArn": described["EndpointArn"]}, expected)
        stub.add_response(
            "describe_endpoint",
            {
                **described,
                "EndpointConfigName": "churn-prod-v1-12345678",
                "EndpointStatus": "Updating",
            },
            {"EndpointName": "churn-prod"},
        )
        stub.add_response(
            "describe_endpoint",
            {
                **described,
                "EndpointConfigName": "churn-prod-v1-12345678",
                "EndpointStatus": "InService",
                "FailureReason": "Alarm team-5xx in ALARM",
            },
            {"EndpointName": "churn-prod"},
        )
        lines: list[str] = []
        outcome = deploy_endpoint.apply(inputs, plan, hosting, lines.append, sleep=lambda _: None)
        stub.assert_no_pending_responses()

    assert outcome == "rolled-back"
    assert (
        lines[0] == "Updating churn-prod: churn-prod-v1-12345678 -> churn-prod-v2-abcdef12 (linear)"
    )


@pytest.mark.slow
def test_smoke_test_against_a_real_endpoint_and_its_rollback_on_failure(
    local: LocalBackend, tmp_path: Path
) -> None:
    from smgha.stages import smoke_test

    v1 = register(local, train(20, 3, seed=1))
    v2 = register(local, train(20, 3, seed=2))
    assert deploy(v1).code == 0
    update = deploy(v2, strategy="all-at-once", **{"wait-seconds": "0"})
    assert update.code == 0, update.log
    payloads = tmp_path / "payloads.csv"
    labels = (ROWS[:, 0] + ROWS[:, 1] * 0.5 > 0).astype(int)
    payloads.write_text(
        "".join(
            f"{label}," + ",".join(f"{x:.4f}" for x in row) + "\n"
            for label, row in zip(labels, ROWS, strict=True)
        )
    )
    common = {
        "backend": "local",
        "endpoint-name": "churn-staging",
        "payloads": str(payloads),
        "label-column": "first",
        "requests": "300",
        "concurrency": "4",
        "report-path": str(tmp_path / "report.json"),
    }

    passing = run_main(smoke_test.main, {**common, "min-accuracy": "0.6"}, **GITHUB_CONTEXT)
    assert passing.code == 0, passing.log
    assert passing.outputs["passed"] == "true" and float(passing.outputs["p99-ms"]) > 0

    # A bar the model cannot meet: the test fails and puts the previous config back.
    failing = run_main(
        smoke_test.main,
        {
            **common,
            "min-accuracy": "0.999",
            "rollback-endpoint-config": update.outputs["previous-endpoint-config-name"],
        },
        **GITHUB_CONTEXT,
    )
    assert failing.code == 1
    assert failing.outputs["rolled-back"] == "true"
    assert (
        local.describe_endpoint("churn-staging")["EndpointConfigName"]
        == update.outputs["previous-endpoint-config-name"]
    )
