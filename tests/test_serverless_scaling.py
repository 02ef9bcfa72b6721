"""Autoscaling a serverless endpoint's Provisioned Concurrency (issue 18): the inputs and what
contradicts them (smgha/resources/serverless.py), the Application Auto Scaling requests on
the sagemaker backend (moto, held to tests/aws_contract.py) and the local backend's records,
and the live Provisioned Concurrency kept across updates as live instance counts are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.local import LocalBackend
from smgha.backends.local import state as local_state
from smgha.resources import autoscaling, deployment
from smgha.stages import deploy_endpoint
from tests import test_serverless
from tests.aws_contract import contract_problems
from tests.stage_helpers import local_backend_in
from tests.test_deploy_endpoint import (
    REGION,
    approved_package,
    deploy,
    hosting_state,
    inputs_of,
    live_endpoint,
)

SERVERLESS = {**test_serverless.SERVERLESS, "serverless-provisioned-concurrency": "2"}
SCALED = {
    **SERVERLESS,
    "serverless-provisioned-concurrency-min": "1",
    "serverless-provisioned-concurrency-max": "4",
    "target-provisioned-concurrency-utilization": "0.5",
}
RESOURCE = "endpoint/churn-staging/variant/AllTraffic"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


# ---- the rules: one error naming both inputs, nothing created ------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"serverless-provisioned-concurrency-max": ""}, "serverless-provisioned-concurrency-max", "is required with serverless-provisioned-concurrency-min"),
        ({"target-provisioned-concurrency-utilization": ""}, "target-provisioned-concurrency-utilization", "is required with serverless-provisioned-concurrency-min"),
        ({"serverless-provisioned-concurrency-min": "0"}, "serverless-provisioned-concurrency-min", "from 1 to 200"),
        ({"serverless-provisioned-concurrency-min": "4", "serverless-provisioned-concurrency-max": "3"}, "serverless-provisioned-concurrency-min", "4 is above serverless-provisioned-concurrency-max 3"),
        ({"serverless-provisioned-concurrency-max": "6"}, "serverless-provisioned-concurrency-max", "6 is above serverless-max-concurrency 5"),
        ({"serverless-provisioned-concurrency": ""}, "serverless-provisioned-concurrency", "is required with serverless-provisioned-concurrency-min"),
        ({"serverless-provisioned-concurrency-min": "3"}, "serverless-provisioned-concurrency", "2 is outside serverless-provisioned-concurrency-min 3 and -max 4"),
        ({"target-provisioned-concurrency-utilization": "0"}, "target-provisioned-concurrency-utilization", "is not a share above 0 and at most 1"),
        ({"target-provisioned-concurrency-utilization": "1.5"}, "target-provisioned-concurrency-utilization", "is not a share above 0 and at most 1"),
        ({"target-provisioned-concurrency-utilization": "half"}, "target-provisioned-concurrency-utilization", "is not a share above 0 and at most 1"),
        ({"target-provisioned-concurrency-utilization": "nan"}, "target-provisioned-concurrency-utilization", "is not a share above 0 and at most 1"),
        (
            {"serverless-memory-mb": "", "serverless-max-concurrency": "", "serverless-provisioned-concurrency": ""},
            "serverless-provisioned-concurrency-min",
            "serverless-memory-mb is empty",
        ),
        ({"autoscaling-min-instances": "1", "autoscaling-max-instances": "2"}, "autoscaling-min-instances", "scales with serverless-provisioned-concurrency-min and -max"),
    ],
)  # fmt: skip
def test_a_provisioned_concurrency_scaling_contradiction_is_one_error_and_creates_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    result = deploy(approved_package(local), **{**SCALED, **overrides})

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors
    for kind in ("endpoints", "endpoint-configs", "models", "alarms", "autoscaling"):
        assert not (local.root / kind).exists()


def test_the_scaling_is_target_tracking_of_the_provisioned_concurrency(local: LocalBackend) -> None:
    inputs = inputs_of(approved_package(local), **SCALED, **{"scale-in-cooldown-seconds": "600"})

    scaling = inputs.target.scaling

    assert scaling is not None and scaling.limits == (1, 4)
    assert scaling.dimension == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert scaling.policy_config() == {
        "TargetValue": 0.5,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
        },
        "ScaleInCooldown": 600,
        "ScaleOutCooldown": 60,
    }
    assert scaling.text() == "1-4 provisioned concurrency, target 0.5 utilization of provisioned concurrency"  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "dimension", "refused"),
    [
        ("SageMakerVariantProvisionedConcurrencyUtilization", "sagemaker:variant:DesiredInstanceCount", True),
        ("SageMakerVariantInvocationsPerInstance", "sagemaker:variant:DesiredProvisionedConcurrency", True),
        ("SageMakerVariantProvisionedConcurrencyUtilization", "sagemaker:variant:DesiredProvisionedConcurrency", False),
        ("SageMakerVariantInvocationsPerInstance", "sagemaker:variant:DesiredInstanceCount", False),
    ],
)  # fmt: skip
def test_the_contract_refuses_a_metric_of_another_dimension(
    metric: str, dimension: str, refused: bool
) -> None:
    request = {
        "PolicyName": "p",
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE,
        "ScalableDimension": dimension,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 0.5,
            "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
        },
    }

    problems = contract_problems("application-autoscaling", "PutScalingPolicy", request)

    if refused:
        assert len(problems) == 1 and problems[0].startswith(
            f"PredefinedMetricType {metric} measures"
        )
    else:
        assert problems == []


# ---- kept across updates: the live Provisioned Concurrency, as live instance counts are ----------


def serverless_live_endpoint(local: LocalBackend, package: str, current: int) -> str:
    """`churn-staging` InService on a serverless config with Provisioned Concurrency 2, which
    autoscaling has moved to `current` (records only, no server); returns the config's name."""
    config = live_endpoint(local, package)
    path = local.hosting.layout.endpoint_config_file(config)
    record = local_state.read_json(path)
    variant = record["ProductionVariants"][0]
    del variant["InstanceType"], variant["InitialInstanceCount"]
    variant["ServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2}  # fmt: skip
    local_state.write_json_atomic(path, record)
    endpoint = local.hosting.folder("churn-staging") / "endpoint.json"
    live = local_state.read_json(endpoint)
    live["ProductionVariants"] = [
        {
            "VariantName": "AllTraffic",
            "CurrentWeight": 1.0,
            "CurrentServerlessConfig": {**variant["ServerlessConfig"], "ProvisionedConcurrency": current},
        }
    ]  # fmt: skip
    local_state.write_json_atomic(endpoint, live)
    return config


@pytest.mark.parametrize(("current", "kept"), [(3, 3), (5, 4)], ids=["within", "above-max"])
def test_an_update_keeps_the_provisioned_concurrency_autoscaling_chose(
    local: LocalBackend, current: int, kept: int
) -> None:
    serverless_live_endpoint(local, approved_package(local), current)
    v2 = approved_package(local)

    planned = deploy_endpoint.plan(inputs_of(v2, **SCALED), local.hosting, local.registry)

    [variant] = planned.config_request["ProductionVariants"]
    assert variant["ServerlessConfig"]["ProvisionedConcurrency"] == kept
    assert planned.updates


def test_a_rerun_is_not_an_update_when_only_autoscaling_moved_the_provisioned_concurrency(
    local: LocalBackend,
) -> None:
    package = approved_package(local)
    config = serverless_live_endpoint(local, package, current=3)
    before = hosting_state(local)

    planned = deploy_endpoint.plan(inputs_of(package, **SCALED), local.hosting, local.registry)

    assert planned.config_name == config and planned.unchanged
    assert not planned.scaling_current  # not registered yet: apply registers it, nothing else
    outcome = deployment.apply(planned, local.hosting, lambda _: None)
    assert outcome == "unchanged"
    record = local.hosting.describe_scalable_target(RESOURCE, autoscaling.PROVISIONED_DIMENSION)
    assert record is not None and (record["MinCapacity"], record["MaxCapacity"]) == (1, 4)
    changed = {k for k in hosting_state(local) if before.get(k) != hosting_state(local)[k]}
    assert changed == {"autoscaling/endpoint__churn-staging__variant__AllTraffic.json"}


# ---- the local backend: a real deploy leaves the scalable target and its policy -------------------


def test_a_local_serverless_deploy_registers_its_provisioned_concurrency(
    local: LocalBackend,
) -> None:
    from tests.test_deploy_endpoint import register, train

    model = train(20, 3, seed=1)
    result = deploy(register(local, model), **SCALED)

    assert result.code == 0 and result.outputs["status"] == "deployed", result.log
    record = local.hosting.describe_scalable_target(RESOURCE, autoscaling.PROVISIONED_DIMENSION)
    assert record is not None
    assert (record["ScalableDimension"], record["MinCapacity"], record["MaxCapacity"]) == (
        "sagemaker:variant:DesiredProvisionedConcurrency", 1, 4,
    )  # fmt: skip
    [policy] = record["Policies"].values()
    assert policy["PolicyName"] == "churn-staging-provisioned-concurrency-utilization"
    metric = policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert metric == {"PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"}
    assert local.hosting.describe_scalable_target(RESOURCE) is None  # not instances
    assert "| Autoscaling | – | 1-4 provisioned concurrency, target 0.5" in result.summary

    again = deploy(register(local, model), **SCALED)  # v2: an update, the scaling kept
    assert again.code == 0 and again.outputs["status"] == "deployed", again.log
    kept = local.hosting.describe_scalable_target(RESOURCE, autoscaling.PROVISIONED_DIMENSION)
    assert kept is not None and kept["Policies"] == record["Policies"]


# ---- the sagemaker backend: the requests (SageMaker on moto; Application Auto Scaling with --------
# botocore's Stubber, which checks each request against botocore's model: moto's own list of
# ScalableDimension values lacks sagemaker:variant:DesiredProvisionedConcurrency)


def test_sagemaker_serverless_deploy_scales_the_provisioned_concurrency(backend: Any) -> None:
    import boto3
    from botocore.stub import Stubber

    from tests.test_deploy_endpoint import sagemaker_package

    package = sagemaker_package(boto3.client("sagemaker", region_name=REGION))
    inputs = inputs_of(package, **SCALED)
    where = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE,
        "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency",
    }
    policy = {
        **where,
        "PolicyName": "churn-staging-provisioned-concurrency-utilization",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 0.5,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }
    arn = f"arn:aws:autoscaling:{REGION}:123456789012:scalingPolicy:x"

    with Stubber(backend.clients.autoscaling) as stub:
        stub.add_response(
            "register_scalable_target", {}, {**where, "MinCapacity": 1, "MaxCapacity": 4}
        )
        stub.add_response("put_scaling_policy", {"PolicyARN": arn, "Alarms": []}, policy)
        planned = deploy_endpoint.plan(inputs, backend.hosting, backend.registry)
        outcome = deployment.apply(planned, backend.hosting, lambda _: None, sleep=lambda _: None)
        stub.assert_no_pending_responses()

    assert outcome == "deployed"
    [variant] = planned.config_request["ProductionVariants"]
    assert variant["ServerlessConfig"]["ProvisionedConcurrency"] == 2

    # The re-run reads the live target of that dimension, finds it as asked: nothing to do.
    now = dt.datetime(2026, 1, 1)
    described = {**where, "MinCapacity": 1, "MaxCapacity": 4, "RoleARN": arn, "CreationTime": now}
    live_policy = {**policy, "PolicyARN": arn, "CreationTime": now}
    dimension = {k: where[k] for k in ("ServiceNamespace", "ScalableDimension")}
    with Stubber(backend.clients.autoscaling) as stub:
        stub.add_response("describe_scalable_targets", {"ScalableTargets": [described]}, {**dimension, "ResourceIds": [RESOURCE]})  # fmt: skip
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": [live_policy]}, {**dimension, "ResourceId": RESOURCE})  # fmt: skip
        again = deploy_endpoint.plan(inputs, backend.hosting, backend.registry)
        stub.assert_no_pending_responses()

    assert again.unchanged and again.scaling_current
