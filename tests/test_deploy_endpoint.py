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
from smgha.backends.local.endpoints import LocalHosting
from smgha.resources import deployment, rollout
from smgha.resources.rollout import BlueGreen
from smgha.runner import Runner
from smgha.stages import deploy_endpoint
from tests.stage_helpers import (
    GITHUB_CONTEXT,
    XGBOOST_IMAGE,
    approved_package_request,
    local_backend_in,
    run_main,
)

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
    yield from local_backend_in(tmp_path, monkeypatch)


def register(local: LocalBackend, model: bytes, status: str = "Approved") -> str:
    version = len(local.registry.list_model_packages(GROUP)) + 1
    uri = f"s3://smgha-local/models/v{version}/model.tar.gz"
    local.objects.put_object(uri, model)
    return local.registry.create_model_package({
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


def deploy_on_two(package: str, **overrides: str) -> Any:
    """deploy() on two instances: a canary is at least 1 instance and at most half the fleet."""
    return deploy(package, **{"instance-count": "2", **overrides})


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
                answer = self.local.hosting.invoke_endpoint(self.name, PAYLOAD.encode(), "text/csv")
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
    answer = local.hosting.invoke_endpoint(
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
    first = deploy_on_two(v1)
    assert first.code == 0, first.log
    assert (
        first.outputs["status"] == "deployed" and first.outputs["previous-model-package-arn"] == ""
    )
    assert first.outputs["endpoint-config-name"].startswith("churn-staging-v1-")
    scores = predictions(local)
    assert all(0.0 <= p <= 1.0 for p in scores)

    # 2. The same inputs again: nothing changes, and it says so.
    again = deploy_on_two(v1)
    assert again.code == 0 and again.outputs["status"] == "unchanged"
    assert "nothing to do" in again.log
    assert again.outputs["endpoint-config-name"] == first.outputs["endpoint-config-name"]

    # 3. A canary update to v2 that succeeds, under traffic: both fleets answered.
    with Traffic(local) as traffic:
        update = deploy_on_two(v2)
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
    failed = deploy_on_two(broken)
    assert failed.code == 1
    assert failed.outputs["status"] == "rolled-back"
    assert "failed its health check" in failed.errors[0]
    endpoint = local.hosting.describe_endpoint("churn-staging")
    assert endpoint is not None
    assert endpoint["EndpointConfigName"] == update.outputs["endpoint-config-name"]

    # 5. A new version that is too slow trips the latency alarm during the canary: rolled back.
    with Traffic(local):
        slow_update = deploy_on_two(slow, **{"max-latency-ms": "0.3", "wait-seconds": "3"})
    assert slow_update.code == 1, slow_update.log
    assert slow_update.outputs["status"] == "rolled-back"
    assert "alarm churn-staging-model-latency went into ALARM" in slow_update.errors[0]
    assert (
        local.hosting.describe_alarms(["churn-staging-model-latency"])[0]["StateValue"] == "ALARM"
    )
    endpoint = local.hosting.describe_endpoint("churn-staging")
    assert endpoint is not None
    assert endpoint["EndpointConfigName"] == update.outputs["endpoint-config-name"]

    # 6. Rolling back to v1 is the same call with its ARN (its config is reused).
    back = deploy_on_two(
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
    target = local.hosting.describe_scalable_target("endpoint/churn-staging/variant/AllTraffic")
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    assert (
        target["Policies"]["churn-staging-invocations-per-instance"][
            "TargetTrackingScalingPolicyConfiguration"
        ]["TargetValue"]
        == 100.0
    )
    predictions(local)

    # Autoscaling has since scaled the variant out to 3 instances (set as SageMaker reports it).
    record = local.hosting.describe_endpoint("churn-staging")
    assert record is not None
    record["ProductionVariants"][0]["CurrentInstanceCount"] = 3
    (local.hosting.folder("churn-staging") / "endpoint.json").write_text(json.dumps(record))

    # A linear update in two steps; data capture not given: kept.
    update = deploy(
        v2, **scaling, strategy="linear", **{"linear-step-percent": "50", "wait-seconds": "1"}
    )
    assert update.code == 0, update.log
    assert "new fleet weight 0.5" in update.log
    config = local.hosting.describe_endpoint_config(update.outputs["endpoint-config-name"])
    assert config is not None
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    # Kept, not reset to the minimum 2.
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 3

    # Autoscaling moves again; deploying the same version again still changes nothing.
    record = local.hosting.describe_endpoint("churn-staging")
    assert record is not None
    record["ProductionVariants"][0]["CurrentInstanceCount"] = 4
    (local.hosting.folder("churn-staging") / "endpoint.json").write_text(json.dumps(record))
    rerun = deploy(v2, **scaling, strategy="linear", **{"linear-step-percent": "50"})
    assert rerun.code == 0 and rerun.outputs["status"] == "unchanged", rerun.log
    predictions(local)
    captured = sorted(local.objects.path("s3://smgha-local/capture").rglob("*.jsonl"))
    assert captured, "no capture files were written"
    assert (
        "| Data capture | 100 % to s3://smgha-local/capture | 100 % to s3://smgha-local/capture |"
        in update.summary
    )
    # A real-time endpoint without a shadow shows neither row (they are for endpoints with one).
    assert "| Shadow |" not in update.summary and "| Async |" not in update.summary
    # What it costs: 2 then 3 ml.m5.large at the shipped table's $0.115 an hour, and the
    # linear update's waits (2 steps of 1 s) with both fleets running.
    assert (
        "| Hourly cost | $0.2300 an hour ($167.90 a month) | $0.3450 an hour ($251.85 a month) |"
        in update.summary
    )
    assert "| Blue/green window | – | at least $0.0002 (2 s of waits, both fleets) |" in (
        update.summary
    )
    assert "the local backend bills nothing" in update.summary
    assert "Blue/green window" not in rerun.summary  # unchanged: no update, no window


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
        # Its alarms would fall outside the lower-cased IAM prefix (docs/aws-fidelity.md).
        (
            {"endpoint-name": "Churn-Staging"},
            "endpoint-name",
            "'Churn-Staging' has upper-case letters",
        ),
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
        # The limits only SageMaker checks (finding 6): refused before anything is touched.
        ({"canary-percent": "150"}, "canary-percent", "must be a whole number from 1 to 50"),
        ({"canary-percent": "51"}, "canary-percent", "must be a whole number from 1 to 50"),
        ({"canary-percent": "0.5"}, "canary-percent", "must be a whole number from 1 to 50"),
        ({"canary-percent": "0"}, "canary-percent", "must be a whole number from 1 to 50"),
        (
            {"strategy": "linear", "linear-step-percent": "9"},
            "linear-step-percent",
            "must be a whole number from 10 to 50",
        ),
        (
            {"linear-step-percent": "51"},
            "linear-step-percent",
            "must be a whole number from 10 to 50",
        ),
        ({"timeout-minutes": "481"}, "timeout-minutes", "must be at most 480"),
        (
            {
                "strategy": "linear",
                "linear-step-percent": "10",
                "wait-seconds": "2880",
                "timeout-minutes": "480",
            },
            "wait-seconds",
            "the linear update would wait 10 steps × wait-seconds 2880 + "
            "termination-wait-seconds 0 = 28800 s, which does not fit in the 28800 s",
        ),
        (
            {"wait-seconds": "3600", "termination-wait-seconds": "600", "timeout-minutes": "70"},
            "timeout-minutes",
            "must exceed the 4200 s the canary update waits (wait-seconds 3600 + "
            "termination-wait-seconds 600), got 70 minutes",
        ),
        (
            {"alarms": "\n".join(f"team-alarm-{n}" for n in range(11))},
            "alarms",
            "names 11 alarms; an update rolls back on at most 10",
        ),
        ({"strategy": "yolo"}, "strategy", "is not one of all-at-once, canary, linear"),
        # Values of AWS fields, by botocore's model (smgha/aws_values.py): refused here, not by
        # CreateEndpointConfig part-way through the deploy.
        (
            {"instance-type": "m5.large"},
            "instance-type",
            "'m5.large' is not a sagemaker ProductionVariantInstanceType",
        ),
        (
            {"variant-name": "All Traffic"},
            "variant-name",
            "does not match sagemaker's rule for VariantName",
        ),
        (
            {"role-arn": "arn:aws:iam::123:role/execution"},
            "role-arn",
            "does not match sagemaker's rule for RoleArn",
        ),
        ({"data-capture-percent": "20"}, "data-capture-s3-uri", "must be an s3:// URI"),
    ],
)
def test_bad_input_is_one_error_and_touches_no_endpoint(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    package = local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://smgha-local/m.tar.gz"}
                ]
            },
        }
    )

    result = deploy(package, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0]
    for kind in ("endpoints", "endpoint-configs", "models", "alarms"):
        assert not (local.root / kind).exists()


def approved_package(local: LocalBackend) -> str:
    """A package the registry knows (no model behind it: enough for what runs no server)."""
    return local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://smgha-local/m.tar.gz"}
                ]
            },
        }
    )


def inputs_of(package: str, **overrides: str) -> deploy_endpoint.Inputs:
    """load_inputs of deploy()'s inputs with `overrides`."""
    inputs = {
        "backend": "local",
        "model-package-arn": package,
        "endpoint-name": "churn-staging",
        "strategy": "canary",
        "canary-percent": "50",
        "wait-seconds": "2",
        "termination-wait-seconds": "0",
        "timeout-minutes": "2",
        **overrides,
    }
    env = {f"INPUT_{name.upper().replace('-', '_')}": value for name, value in inputs.items()}
    return deploy_endpoint.load_inputs(Runner(env=env, stdout=io.StringIO()))


@pytest.mark.parametrize(
    "overrides",
    [
        {"canary-percent": "1"},
        {"canary-percent": "50"},
        {"strategy": "linear", "linear-step-percent": "10"},
        {"strategy": "linear", "linear-step-percent": "50"},
        {"timeout-minutes": "480"},
        # 10 steps × 2879 s = 28790 s: fits in 28800 s, and so does the timeout.
        {
            "strategy": "linear",
            "linear-step-percent": "10",
            "wait-seconds": "2879",
            "timeout-minutes": "480",
        },
        {"wait-seconds": "3600", "termination-wait-seconds": "600", "timeout-minutes": "71"},
        {"alarms": "\n".join(f"team-alarm-{n}" for n in range(10))},
    ],
)
def test_boundary_values_pass(local: LocalBackend, overrides: dict[str, str]) -> None:
    result = deploy(approved_package(local), **overrides, **{"dry-run": "true"})

    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run" and not result.errors


def test_the_deployment_config_carries_the_limits_as_given(local: LocalBackend) -> None:
    package = approved_package(local)
    linear = inputs_of(
        package,
        strategy="linear",
        **{"linear-step-percent": "10", "wait-seconds": "2879", "timeout-minutes": "480"},
    )
    policy = linear.target.blue_green.to_request(["a"])["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["LinearStepSize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": 10,
    }
    assert policy["MaximumExecutionTimeoutInSeconds"] == 28_800
    # A short timeout is raised to the service's minimum (600 s), as before.
    canary = inputs_of(package).target.blue_green.to_request(["a"])
    assert canary["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] == 600
    many = inputs_of(package, alarms="x\ny\nx")  # named twice: sent once
    assert many.target.alarms == ("x", "y")


# ---- what only the live endpoint tells: checked before anything is created ----------------------


def live_endpoint(
    local: LocalBackend, package: str, variant: str = "AllTraffic", instances: int = 1
) -> str:
    """`churn-staging` InService on a config serving `package` (records only, no server);
    returns the config's name."""
    from smgha.backends.local import state

    local.hosting.create_model(
        {
            "ModelName": f"{GROUP}-v1",
            "PrimaryContainer": {"ModelPackageName": package},
            "ExecutionRoleArn": "arn:aws:iam::000000000000:role/smgha-local-execution",
        }
    )
    config = "churn-staging-v1-live"
    local.hosting.create_endpoint_config(
        {
            "EndpointConfigName": config,
            "ProductionVariants": [
                {
                    "VariantName": variant,
                    "ModelName": f"{GROUP}-v1",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": instances,
                    "InitialVariantWeight": 1.0,
                }
            ],
        }
    )
    state.write_json_atomic(
        local.hosting.folder("churn-staging") / "endpoint.json",
        {
            "EndpointName": "churn-staging",
            "EndpointArn": local.hosting.arn("endpoint", "churn-staging"),
            "EndpointConfigName": config,
            "EndpointStatus": "InService",
            "ProductionVariants": [
                {"VariantName": variant, "CurrentWeight": 1.0, "CurrentInstanceCount": instances}
            ],
        },
    )
    return config


def hosting_state(local: LocalBackend) -> dict[str, bytes]:
    """Every hosting record the local backend keeps, by path."""
    kinds = ("endpoints", "endpoint-configs", "models", "alarms", "autoscaling")
    return {
        str(path.relative_to(local.root)): path.read_bytes()
        for kind in kinds
        for path in sorted((local.root / kind).rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        # Blue/green keeps the variant name (guide: deployment-guardrails-exclusions.md).
        (
            {"variant-name": "Blue"},
            "variant-name",
            "'Blue' is not the variant of the live endpoint churn-staging (AllTraffic)",
        ),
        # A canary of a 1-instance fleet is 1 instance, more than half of it (finding 7).
        ({}, "strategy", "a canary needs a fleet of at least 2 instances"),
    ],
)
def test_an_update_the_live_endpoint_cannot_take_is_one_error_and_changes_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    v1 = approved_package(local)
    live_endpoint(local, v1)
    v2 = approved_package(local)
    before = hosting_state(local)

    result = deploy(v2, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0]
    assert hosting_state(local) == before  # no model, config, alarm or update started


@pytest.mark.parametrize(
    ("overrides", "instances", "canary"),
    [
        ({"strategy": "all-at-once"}, 1, None),  # no canary: any fleet
        ({"canary-percent": "50"}, 2, {"Type": "CAPACITY_PERCENT", "Value": 50}),  # 1 instance
        ({"canary-percent": "25"}, 4, {"Type": "CAPACITY_PERCENT", "Value": 25}),  # 1 instance
        ({"variant-name": "Blue"}, 2, {"Type": "CAPACITY_PERCENT", "Value": 50}),  # same name
    ],
)
def test_an_update_the_live_endpoint_can_take_passes(
    local: LocalBackend, overrides: dict[str, str], instances: int, canary: Any
) -> None:
    v1 = approved_package(local)
    live_endpoint(
        local, v1, variant=overrides.get("variant-name", "AllTraffic"), instances=instances
    )
    v2 = approved_package(local)
    inputs = inputs_of(v2, **{"instance-count": str(instances), **overrides})

    planned = deploy_endpoint.plan(inputs, local.hosting, local.registry)

    routing = planned.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing.get("CanarySize") == canary and planned.notices == []
    dry = deploy(v2, **{"instance-count": str(instances), "dry-run": "true", **overrides})
    assert dry.code == 0 and not dry.errors, dry.log


def test_a_canary_that_is_not_a_whole_instance_is_sent_as_an_instance_count(
    local: LocalBackend,
) -> None:
    """10 % of 2 instances is 0.2 of one; SageMaker does not say how it rounds. The stricter
    reading: exactly 1 instance (at least 1, at most half), with a notice."""
    v1 = approved_package(local)
    live_endpoint(local, v1, instances=2)
    v2 = approved_package(local)
    inputs = inputs_of(v2, **{"instance-count": "2", "canary-percent": "10"})

    planned = deploy_endpoint.plan(inputs, local.hosting, local.registry)

    routing = planned.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert planned.notices == [
        "canary-percent 10 of a 2-instance fleet is 0.2 instances; SageMaker's rounding is "
        "undocumented, so the canary is sent as exactly 1 instance (50 % of the fleet)."
    ]
    # Rounded down, never past half the fleet: 50 % of 3 instances is 1, not 2.
    assert rollout.canary_size(50, 3) == (
        {"Type": "INSTANCE_COUNT", "Value": 1},
        "canary-percent 50 of a 3-instance fleet is 1.5 instances; SageMaker's rounding is "
        "undocumented, so the canary is sent as exactly 1 instance (33.3333 % of the fleet).",
    )
    assert rollout.canary_size(30, 10)[0] == {"Type": "CAPACITY_PERCENT", "Value": 30}
    dry = deploy(v2, **{"instance-count": "2", "canary-percent": "10", "dry-run": "true"})
    assert dry.code == 0, dry.log
    assert "::notice title=deploy-endpoint%3A canary size::canary-percent 10" in dry.log
    assert "sent as exactly 1 instance" in dry.summary


def test_a_rerun_on_a_1_instance_fleet_is_unchanged_not_refused(local: LocalBackend) -> None:
    """No update, no DeploymentConfig: the canary rules do not apply."""
    v1 = approved_package(local)
    config = live_endpoint(local, v1)

    again = deploy(v1)

    assert again.code == 0, again.log
    assert (again.outputs["status"], again.outputs["endpoint-config-name"]) == ("unchanged", config)


# ---- autoscaling on a re-run that finds the endpoint unchanged (finding 20) ---------------------


def _spy_on_autoscaling(monkeypatch: pytest.MonkeyPatch, backend_class: type) -> list[str]:
    """The names of the autoscaling writes a backend class makes, in order (they still run)."""
    calls: list[str] = []
    for method in ("register_scalable_target", "put_scaling_policy"):
        real = getattr(backend_class, method)

        def spy(self: Any, request: dict[str, Any], _real: Any = real, _name: str = method) -> None:
            calls.append(_name)
            _real(self, request)

        monkeypatch.setattr(backend_class, method, spy)
    return calls


def test_an_unchanged_rerun_applies_changed_autoscaling_and_only_then(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_on_autoscaling(monkeypatch, LocalHosting)
    v1 = approved_package(local)
    config = live_endpoint(local, v1, instances=2)
    resource = "endpoint/churn-staging/variant/AllTraffic"

    def rerun(low: str, high: str, **overrides: str) -> Any:
        calls.clear()
        result = deploy(
            v1,
            **{"autoscaling-min-instances": low, "autoscaling-max-instances": high, **overrides},
        )
        assert result.code == 0, result.log
        assert (result.outputs["status"], result.outputs["endpoint-config-name"]) == (
            "unchanged",
            config,
        )
        return result

    def scaling() -> tuple[int, int, float]:
        target = local.hosting.describe_scalable_target(resource)
        assert target is not None
        policy = target["Policies"]["churn-staging-invocations-per-instance"]
        value = policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        return target["MinCapacity"], target["MaxCapacity"], value

    # Autoscaling asked of an endpoint that has none: registered, though the config is the same.
    first = rerun("2", "4")
    assert scaling() == (2, 4, 100.0)
    assert calls == ["register_scalable_target", "put_scaling_policy"]
    assert (
        "| Autoscaling | off | 2-4 instances, target 100 invocations per instance |"
        in first.summary
    )
    assert "**➖ unchanged** · autoscaling updated" in first.summary

    # New limits: applied, and the summary shows both.
    wider = rerun("2", "6")
    assert scaling() == (2, 6, 100.0)
    assert calls == ["register_scalable_target", "put_scaling_policy"]
    assert (
        "| Autoscaling | 2-4 instances, target 100 invocations per instance "
        "| 2-6 instances, target 100 invocations per instance |" in wider.summary
    )

    # The same inputs again: nothing is called, and it says so.
    same = rerun("2", "6")
    assert calls == [] and "nothing to do" in same.log
    assert "autoscaling updated" not in same.summary
    assert scaling() == (2, 6, 100.0)

    # A new target for the same limits is a change too.
    rerun("2", "6", **{"target-invocations-per-instance": "250"})
    assert scaling() == (2, 6, 250.0)
    assert calls == ["register_scalable_target", "put_scaling_policy"]


# ---- an instance-type change of an autoscaled variant (AWS fidelity finding 4) -------------------

SCALED = "endpoint/churn-staging/variant/AllTraffic"
STAGE_POLICY = "churn-staging-invocations-per-instance"


def _autoscaled(local: LocalBackend, low: int = 2, high: int = 4) -> dict[str, Any]:
    """Register the live variant with the stage's policy and a team's own; return the record."""
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": SCALED,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    local.hosting.register_scalable_target({**target, "MinCapacity": low, "MaxCapacity": high})
    for name, value in ((STAGE_POLICY, 100.0), ("team-latency", 40.0)):
        local.hosting.put_scaling_policy({
            **target,
            "PolicyName": name,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": value},
        })  # fmt: skip
    record = local.hosting.describe_scalable_target(SCALED)
    assert record is not None
    return record


def _fake_updates(monkeypatch: pytest.MonkeyPatch, local: LocalBackend, ends: str) -> list[str]:
    """The hosting calls of an update, in order; UpdateEndpoint `ends` "deployed", "rolled-back",
    "Failed", or "refused" (the call raises), with no server started."""
    from smgha.backends.local import state
    from smgha.errors import StageError

    calls: list[str] = []
    for method in (
        "delete_scaling_policy",
        "deregister_scalable_target",
        "register_scalable_target",
        "put_scaling_policy",
    ):
        real = getattr(LocalHosting, method)

        def spy(self: Any, *args: Any, _real: Any = real, _name: str = method) -> None:
            calls.append(_name)
            _real(self, *args)

        monkeypatch.setattr(LocalHosting, method, spy)

    def update_endpoint(self: LocalHosting, name: str, config_name: str, _: Any) -> None:
        calls.append("update_endpoint")
        if ends == "refused":
            raise StageError("UpdateEndpoint failed", "ValidationException: refused")
        path = self.folder(name) / "endpoint.json"
        record = state.read_json_if_exists(path) or {}
        if ends == "deployed":
            record["EndpointConfigName"] = config_name
        record["EndpointStatus"] = "Failed" if ends == "Failed" else "InService"
        state.write_json_atomic(path, record)

    monkeypatch.setattr(LocalHosting, "update_endpoint", update_endpoint)
    return calls


DEREGISTER = ["delete_scaling_policy", "delete_scaling_policy", "deregister_scalable_target"]
REREGISTER = ["register_scalable_target", "put_scaling_policy", "put_scaling_policy"]


def test_an_instance_type_change_deregisters_the_variant_around_the_update(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_endpoint(local, approved_package(local), instances=2)
    before = _autoscaled(local)
    calls = _fake_updates(monkeypatch, local, "deployed")

    result = deploy_on_two(
        approved_package(local),
        **{
            "instance-type": "ml.c5.xlarge",
            "autoscaling-min-instances": "2",
            "autoscaling-max-instances": "6",
        },
    )

    assert result.code == 0, result.log
    assert result.outputs["status"] == "deployed"
    assert calls == [*DEREGISTER, "update_endpoint", *REREGISTER]
    after = local.hosting.describe_scalable_target(SCALED)
    assert after is not None
    assert (after["MinCapacity"], after["MaxCapacity"]) == (2, 6)  # the inputs' limits
    assert after["Policies"]["team-latency"] == before["Policies"]["team-latency"]  # kept
    assert f"Deregistered autoscaling of {SCALED}" in result.log
    assert (
        f"Autoscaling of `{SCALED}` (2-4 instances, target 100 invocations per instance) was "
        "deregistered for the update (the update changes its instance type to ml.c5.xlarge"
    ) in result.summary
    assert "registered again: 2-6 instances, target 100 invocations per instance." in result.summary


def test_without_autoscaling_inputs_the_live_scaling_comes_back_as_it_was(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_endpoint(local, approved_package(local), instances=2)
    before = _autoscaled(local)
    calls = _fake_updates(monkeypatch, local, "deployed")

    result = deploy_on_two(approved_package(local), **{"instance-type": "ml.c5.xlarge"})

    assert result.code == 0, result.log
    assert calls == [*DEREGISTER, "update_endpoint", *REREGISTER]
    assert local.hosting.describe_scalable_target(SCALED) == before
    assert "registered again as it was" in result.summary


@pytest.mark.parametrize("ends", ["refused", "Failed", "rolled-back"])
def test_a_failed_update_registers_the_live_scaling_again(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch, ends: str
) -> None:
    live_endpoint(local, approved_package(local), instances=2)
    before = _autoscaled(local)
    calls = _fake_updates(monkeypatch, local, ends)

    result = deploy_on_two(
        approved_package(local),
        **{
            "instance-type": "ml.c5.xlarge",
            "autoscaling-min-instances": "3",
            "autoscaling-max-instances": "8",
        },
    )

    assert result.code != 0
    assert calls == [*DEREGISTER, "update_endpoint", *REREGISTER]
    assert (
        local.hosting.describe_scalable_target(SCALED) == before
    )  # the live limits, not the inputs'


@pytest.mark.parametrize(
    ("scaled", "overrides", "expected"),
    [
        # The same instance type: the variant stays registered; the inputs' scaling is applied.
        (
            True,
            {"autoscaling-min-instances": "2", "autoscaling-max-instances": "4"},
            ["update_endpoint", "register_scalable_target", "put_scaling_policy"],
        ),
        (True, {}, ["update_endpoint"]),
        # Another instance type on a variant with no scalable target: nothing to deregister.
        (False, {"instance-type": "ml.c5.xlarge"}, ["update_endpoint"]),
        (
            False,
            {
                "instance-type": "ml.c5.xlarge",
                "autoscaling-min-instances": "2",
                "autoscaling-max-instances": "4",
            },
            ["update_endpoint", "register_scalable_target", "put_scaling_policy"],
        ),
    ],
)
def test_no_deregistration_unless_the_type_of_a_scaled_variant_changes(
    local: LocalBackend,
    monkeypatch: pytest.MonkeyPatch,
    scaled: bool,
    overrides: dict[str, str],
    expected: list[str],
) -> None:
    live_endpoint(local, approved_package(local), instances=2)
    if scaled:
        _autoscaled(local)
    calls = _fake_updates(monkeypatch, local, "deployed")

    result = deploy_on_two(approved_package(local), **overrides)

    assert result.code == 0, result.log
    assert calls == expected
    assert "Deregistered" not in result.log and "deregistered" not in result.summary


def test_a_dry_run_says_the_variant_will_be_deregistered(local: LocalBackend) -> None:
    live_endpoint(local, approved_package(local), instances=2)
    before = _autoscaled(local)

    result = deploy_on_two(
        approved_package(local), **{"instance-type": "ml.c5.xlarge", "dry-run": "true"}
    )

    assert result.code == 0, result.log
    assert "will be deregistered for the update" in result.summary
    assert local.hosting.describe_scalable_target(SCALED) == before


def test_an_unapproved_package_is_refused_unless_allowed(local: LocalBackend) -> None:
    package = local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://smgha-local/m.tar.gz"}
                ]
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


# ---- a package the container would serve in script mode with no script --------------------------

# What ModelBuilder.register() records without dependencies=None (smgha/serving_container.py).
SCRIPT_MODE_WITHOUT_SCRIPT = {
    "SAGEMAKER_PROGRAM": "",
    "SAGEMAKER_SUBMIT_DIRECTORY": "",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "SAGEMAKER_REGION": REGION,
}
# A user's inference script: script mode the user asked for.
SCRIPT_MODE_WITH_SCRIPT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://models/code/sourcedir.tar.gz",
}


def package_with_environment(local: LocalBackend, environment: dict[str, str]) -> str:
    return local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": "s3://smgha-local/m.tar.gz",
                        "Environment": environment,
                    }
                ]
            },
        }
    )


def assert_script_mode_error(result: Any, package: str) -> None:
    assert result.code == 1
    assert len(result.errors) == 1, result.log
    error = result.errors[0]
    assert (
        f"input 'model-package-arn': {package} would serve in script mode with no script" in error
    )
    assert "sets SAGEMAKER_PROGRAM='' and SAGEMAKER_SUBMIT_DIRECTORY=''" in error
    assert "ValueError: Empty module name" in error  # the container's reason
    assert "ModelBuilder(..., dependencies=None)" in error  # the fix


@pytest.mark.parametrize("live", [False, True], ids=["new endpoint", "live endpoint"])
def test_a_package_in_script_mode_without_a_script_is_refused_before_anything_is_created(
    local: LocalBackend, live: bool
) -> None:
    if live:
        live_endpoint(local, approved_package(local))
    package = package_with_environment(local, SCRIPT_MODE_WITHOUT_SCRIPT)
    before = hosting_state(local)

    result = deploy(package, strategy="all-at-once")

    assert_script_mode_error(result, package)
    assert hosting_state(local) == before  # no model, config, alarm, endpoint or update
    assert not (local.root / "endpoints" / "churn-staging" / "deployment.json").exists()


@pytest.mark.parametrize(
    "environment",
    [{}, {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}, SCRIPT_MODE_WITH_SCRIPT],
    ids=["no environment", "other variables", "a named script"],
)
def test_a_package_without_script_mode_or_with_its_script_is_not_refused(
    local: LocalBackend, environment: dict[str, str]
) -> None:
    result = deploy(package_with_environment(local, environment), **{"dry-run": "true"})

    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run" and not result.errors


@pytest.mark.slow
def test_a_local_endpoint_of_a_package_in_script_mode_without_a_script_fails_its_health_check(
    local: LocalBackend,
) -> None:
    """When nothing refuses such a package first (the model created by other means), the local
    endpoint fails as SageMaker's does: the container never passes its health check."""
    uri = "s3://smgha-local/models/v1/model.tar.gz"
    local.objects.put_object(uri, train(5, 2, seed=1))  # a model the built-in algorithm would serve
    package = local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": uri,
                        "Environment": SCRIPT_MODE_WITHOUT_SCRIPT,
                    }
                ]
            },
        }
    )
    local.hosting.create_model(
        {
            "ModelName": f"{GROUP}-v1",
            "PrimaryContainer": {"ModelPackageName": package},
            "ExecutionRoleArn": "arn:aws:iam::000000000000:role/smgha-local-execution",
        }
    )
    local.hosting.create_endpoint_config(
        {
            "EndpointConfigName": "churn-staging-v1",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{GROUP}-v1",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        }
    )

    local.hosting.create_endpoint("churn-staging", "churn-staging-v1", {})

    deadline = time.monotonic() + 60
    endpoint = local.hosting.describe_endpoint("churn-staging") or {}
    while endpoint.get("EndpointStatus") == "Creating":
        assert time.monotonic() < deadline, "the endpoint stayed Creating"
        time.sleep(0.2)
        endpoint = local.hosting.describe_endpoint("churn-staging") or {}
    assert endpoint["EndpointStatus"] == "Failed", endpoint
    reason = endpoint["FailureReason"]
    assert reason.startswith("the new fleet failed its health check: AllTraffic@"), reason
    assert "SAGEMAKER_PROGRAM=''" in reason and "ValueError: Empty module name" in reason


# ---- images the local endpoint cannot run (smgha/backends/local/serving/images.py) ---------------

# A team's own serving image (bring your own container): SageMaker runs it, the local backend
# has no container engine to.
CUSTOM_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-server:1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
IN_MODEL = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


def package_of(local: LocalBackend, image: str, environment: dict[str, str]) -> str:
    return local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": image,
                        "ModelDataUrl": "s3://smgha-local/m.tar.gz",
                        "Environment": environment,
                    }
                ]
            },
        }
    )


@pytest.mark.parametrize(
    ("image", "environment", "why"),
    [
        (CUSTOM_IMAGE, {}, "the local backend has no container engine to run an image"),
        (CUSTOM_IMAGE, IN_MODEL, "the local backend has no container engine to run an image"),
        (SKLEARN_IMAGE, {}, "serves only in script mode and has no SAGEMAKER_PROGRAM"),
    ],
    ids=["custom image", "custom image with a script", "scikit-learn without a script"],
)
@pytest.mark.parametrize("dry_run", ["false", "true"])
def test_an_image_the_local_endpoint_cannot_run_is_refused_before_anything_is_created(
    local: LocalBackend, image: str, environment: dict[str, str], why: str, dry_run: str
) -> None:
    live_endpoint(local, approved_package(local))
    package = package_of(local, image, environment)
    before = hosting_state(local)

    result = deploy(package, strategy="all-at-once", **{"dry-run": dry_run})

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    error = result.errors[0]
    assert f"input 'model-package-arn': {package}: its container 1 cannot be served" in error
    assert f"its image {image!r}" in error and why in error
    assert (
        "Deploy it with backend: sagemaker, or register the model to serve in script mode" in error
    )
    assert hosting_state(local) == before  # no model, config, alarm, endpoint or update
    assert not (local.root / "endpoints" / "churn-staging" / "deployment.json").exists()


@pytest.mark.parametrize(
    ("image", "environment"),
    [
        (XGBOOST_IMAGE, {}),
        ("sagemaker-xgboost:1.7-1", IN_MODEL),
        (SKLEARN_IMAGE, IN_MODEL),
        (PYTORCH_IMAGE, {}),  # the toolkit's default script, model.tar.gz's code/inference.py
        (f"{PYTORCH_IMAGE.split(':')[0]}@sha256:{'0' * 64}", IN_MODEL),
    ],
    ids=["built-in xgboost", "xgboost script", "scikit-learn script", "pytorch default",
         "pytorch by digest"],
)  # fmt: skip
def test_the_images_the_local_endpoint_stands_in_for_are_not_refused(
    local: LocalBackend, image: str, environment: dict[str, str]
) -> None:
    result = deploy(package_of(local, image, environment), **{"dry-run": "true"})

    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run" and not result.errors


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


def sagemaker_package(sagemaker: Any) -> str:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://models/m.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
    )


def sagemaker_deploy(package: str, **overrides: str) -> Any:
    inputs = {
        "backend": "sagemaker",
        "region": REGION,
        "role-arn": "arn:aws:iam::123456789012:role/sagemaker-execution",
        "model-package-arn": package,
        "endpoint-name": "churn-staging",
        **overrides,
    }
    return run_main(deploy_endpoint.main, inputs, **GITHUB_CONTEXT)


def test_sagemaker_unchanged_rerun_applies_new_autoscaling_limits_once(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from smgha.backends.aws.hosting import SageMakerHosting

    calls = _spy_on_autoscaling(monkeypatch, SageMakerHosting)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    package = sagemaker_package(sagemaker)

    def limits() -> list[tuple[str, int, int]]:
        targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")
        return [
            (t["ResourceId"], t["MinCapacity"], t["MaxCapacity"])
            for t in targets["ScalableTargets"]
        ]

    # Two instances, within both ranges, so the config stays the same. (moto describes a
    # config without data capture with DataCaptureConfig {}, so a config whose instance count
    # autoscaling moved would look changed on moto; on SageMaker it does not.)
    scaling = {
        "instance-count": "2",
        "autoscaling-min-instances": "1",
        "autoscaling-max-instances": "3",
    }
    wider_scaling = {**scaling, "autoscaling-min-instances": "2", "autoscaling-max-instances": "5"}
    first = sagemaker_deploy(package, **scaling)
    assert first.code == 0 and first.outputs["status"] == "deployed", first.log
    assert limits() == [("endpoint/churn-staging/variant/AllTraffic", 1, 3)]

    calls.clear()
    wider = sagemaker_deploy(package, **wider_scaling)

    assert wider.code == 0 and wider.outputs["status"] == "unchanged", wider.log
    assert wider.outputs["endpoint-config-name"] == first.outputs["endpoint-config-name"]
    assert limits() == [("endpoint/churn-staging/variant/AllTraffic", 2, 5)]
    assert calls == ["register_scalable_target", "put_scaling_policy"]
    assert (
        "| Autoscaling | 1-3 instances, target 100 invocations per instance "
        "| 2-5 instances, target 100 invocations per instance |" in wider.summary
    )
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1

    calls.clear()
    same = sagemaker_deploy(package, **wider_scaling)
    assert same.code == 0 and same.outputs["status"] == "unchanged", same.log
    assert calls == [] and "nothing to do" in same.log
    assert limits() == [("endpoint/churn-staging/variant/AllTraffic", 2, 5)]


def test_sagemaker_update_with_another_variant_name_is_refused_before_any_create(
    aws_env: None,
) -> None:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    package = sagemaker_package(sagemaker)
    first = sagemaker_deploy(package, strategy="all-at-once")
    assert first.code == 0, first.log
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]

    renamed = sagemaker_deploy(package, strategy="all-at-once", **{"variant-name": "Blue"})

    assert renamed.code == 1 and len(renamed.errors) == 1, renamed.log
    assert "input 'variant-name'" in renamed.errors[0]
    assert "not the variant of the live endpoint churn-staging (AllTraffic)" in renamed.errors[0]
    assert "Set variant-name: AllTraffic" in renamed.errors[0]
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == [first.outputs["endpoint-config-name"]]
    assert len(sagemaker.list_models()["Models"]) == 1
    assert cloudwatch.describe_alarms()["MetricAlarms"] == alarms  # none added or replaced
    endpoint = sagemaker.describe_endpoint(EndpointName="churn-staging")
    assert endpoint["EndpointConfigName"] == first.outputs["endpoint-config-name"]


def test_sagemaker_a_package_in_script_mode_without_a_script_is_refused_before_any_create(
    aws_env: None,
) -> None:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)

    def register(environment: dict[str, str]) -> str:
        return str(
            sagemaker.create_model_package(**approved_package_request(GROUP, environment))[
                "ModelPackageArn"
            ]
        )

    package = register(SCRIPT_MODE_WITHOUT_SCRIPT)

    refused = sagemaker_deploy(package, strategy="all-at-once")

    assert_script_mode_error(refused, package)
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_endpoints()["Endpoints"] == []
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []

    # A package that ships its script is the user's script mode: deployed.
    scripted = sagemaker_deploy(register(SCRIPT_MODE_WITH_SCRIPT), strategy="all-at-once")
    assert scripted.code == 0 and scripted.outputs["status"] == "deployed", scripted.log


def test_sagemaker_deploys_a_custom_image_the_local_backend_refuses(aws_env: None) -> None:
    """SageMaker runs any image: only the local backend, which has no container engine,
    refuses one it cannot stand in for."""
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": CUSTOM_IMAGE, "ModelDataUrl": "s3://models/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]

    result = sagemaker_deploy(package, strategy="all-at-once")

    assert result.code == 0 and result.outputs["status"] == "deployed", result.log
    model = sagemaker.describe_model(ModelName="churn-models-v1")
    assert model["PrimaryContainer"]["ModelPackageName"] == package
    assert (
        sagemaker.describe_endpoint(EndpointName="churn-staging")["EndpointStatus"] == "InService"
    )


def test_sagemaker_update_sends_the_blue_green_request_and_reports_a_rollback() -> None:
    from botocore.stub import Stubber

    from smgha.backends.aws import SageMakerBackend

    hosting = SageMakerBackend(region=REGION)
    target = deployment.Target(
        package_arn=f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/2",
        endpoint="churn-prod", role_arn="arn:aws:iam::123456789012:role/r", instance_type="ml.m5.large", instance_count=1,
        variant="AllTraffic", alarms=("team-5xx",), max_latency_ms=500, scaling=None, data_capture=None,
        blue_green=BlueGreen("linear", canary_percent=10, linear_step_percent=25, wait_seconds=60, termination_wait_seconds=30, timeout_seconds=600),
    )  # fmt: skip
    plan = deployment.Deployment(
        target=target, package={}, model_name="churn-models-v2", model_request=None, config_name="churn-prod-v2-abcdef12",
        config_request={}, config_exists=True, live={"EndpointConfigName": "churn-prod-v1-12345678", "EndpointStatus": "InService"},
        live_config=None, previous_package_arn="", deployment_config=target.blue_green.to_request(["team-5xx"]),
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
    with Stubber(hosting.clients.sagemaker) as stub:
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
        outcome = deployment.apply(plan, hosting.hosting, lines.append, sleep=lambda _: None)
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

    workspace = {**GITHUB_CONTEXT, "GITHUB_WORKSPACE": str(tmp_path)}  # the files are there
    passing = run_main(smoke_test.main, {**common, "min-accuracy": "0.6"}, **workspace)
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
        **workspace,
    )
    assert failing.code == 1
    assert failing.outputs["rolled-back"] == "true"
    endpoint = local.hosting.describe_endpoint("churn-staging")
    assert endpoint is not None
    assert endpoint["EndpointConfigName"] == update.outputs["previous-endpoint-config-name"]
