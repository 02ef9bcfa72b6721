"""Serverless inference in deploy-endpoint: the inputs, what SageMaker refuses beside them
(smgha/resources/serverless.py), the requests on the sagemaker backend, and the local
endpoint that scales to zero, pays a cold start and throttles past MaxConcurrency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.local import LocalBackend
from smgha.backends.local import state as local_state
from smgha.errors import InputError
from smgha.resources import hosting
from smgha.stages import deploy_endpoint
from tests.aws_contract import contract_problems
from tests.stage_helpers import local_backend_in
from tests.test_deploy_endpoint import (
    GROUP,
    REGION,
    approved_package,
    deploy,
    hosting_state,
    inputs_of,
    live_endpoint,
)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


SERVERLESS = {
    "serverless-memory-mb": "2048",
    "serverless-max-concurrency": "5",
    "strategy": "all-at-once",
}


def serverless_deploy(package: str, **overrides: str) -> Any:
    return deploy(package, **{**SERVERLESS, **overrides})


# ---- the rules: one error naming both inputs, nothing created ------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"serverless-memory-mb": "1000"}, "serverless-memory-mb", "from 1024 to 6144"),
        ({"serverless-memory-mb": "6145"}, "serverless-memory-mb", "from 1024 to 6144"),
        ({"serverless-memory-mb": "1536"}, "serverless-memory-mb", "1536 is not a 1 GB step"),
        ({"serverless-max-concurrency": ""}, "serverless-max-concurrency", "is required with serverless-memory-mb"),
        ({"serverless-max-concurrency": "0"}, "serverless-max-concurrency", "from 1 to 200"),
        ({"serverless-max-concurrency": "201"}, "serverless-max-concurrency", "from 1 to 200"),
        ({"serverless-provisioned-concurrency": "6"}, "serverless-provisioned-concurrency", "from 1 to 5"),
        ({"serverless-provisioned-concurrency": "0"}, "serverless-provisioned-concurrency", "from 1 to 5"),
        (
            {"serverless-memory-mb": "", "serverless-max-concurrency": "5"},
            "serverless-max-concurrency",
            "applies only to a serverless endpoint, and serverless-memory-mb is empty",
        ),
        (
            {"serverless-memory-mb": "", "serverless-max-concurrency": "", "serverless-provisioned-concurrency": "1"},
            "serverless-provisioned-concurrency",
            "serverless-memory-mb is empty",
        ),
        ({"instance-count": "2"}, "instance-count", "does not apply with serverless-memory-mb 2048: a serverless variant has no InitialInstanceCount"),
        ({"instance-type": "ml.m5.large"}, "instance-type", "does not apply with serverless-memory-mb 2048: a serverless variant has no InstanceType"),
        (
            {"data-capture-percent": "20", "data-capture-s3-uri": "s3://b/capture"},
            "data-capture-percent",
            "does not support data capture",
        ),
        ({"data-capture-s3-uri": "s3://b/capture"}, "data-capture-s3-uri", "does not support data capture"),
        (
            {"autoscaling-min-instances": "1", "autoscaling-max-instances": "2"},
            "autoscaling-min-instances",
            "a serverless variant has no instances to scale",
        ),
        ({"strategy": "canary"}, "strategy", "canary does not apply with serverless-memory-mb 2048"),
        ({"strategy": "linear"}, "strategy", "linear does not apply with serverless-memory-mb 2048"),
    ],
)  # fmt: skip
def test_a_serverless_input_sagemaker_refuses_is_one_error_and_creates_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    result = serverless_deploy(approved_package(local), **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors
    for kind in ("endpoints", "endpoint-configs", "models", "alarms"):
        assert not (local.root / kind).exists()


@pytest.mark.parametrize(
    ("overrides", "config"),
    [
        ({}, {"MemorySizeInMB": 2048, "MaxConcurrency": 5}),
        (
            {"serverless-memory-mb": "6144", "serverless-max-concurrency": "200", "serverless-provisioned-concurrency": "200"},
            {"MemorySizeInMB": 6144, "MaxConcurrency": 200, "ProvisionedConcurrency": 200},
        ),
        (
            {"serverless-memory-mb": "1024", "serverless-max-concurrency": "1", "serverless-provisioned-concurrency": "1"},
            {"MemorySizeInMB": 1024, "MaxConcurrency": 1, "ProvisionedConcurrency": 1},
        ),
    ],
)  # fmt: skip
def test_a_serverless_config_has_serverless_config_and_no_instances(
    local: LocalBackend, overrides: dict[str, str], config: dict[str, int]
) -> None:
    inputs = inputs_of(approved_package(local), **{**SERVERLESS, **overrides})

    planned = deploy_endpoint.plan(inputs, local.hosting, local.registry)

    variant = planned.config_request["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == config
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert "DataCaptureConfig" not in planned.config_request
    assert contract_problems("sagemaker", "CreateEndpointConfig", planned.config_request) == []
    dry = serverless_deploy(approved_package(local), **overrides, **{"dry-run": "true"})
    assert dry.code == 0 and not dry.errors, dry.log
    assert f"serverless, {config['MemorySizeInMB']} MB" in dry.summary


def test_an_instance_endpoint_is_not_switched_to_serverless(local: LocalBackend) -> None:
    """SageMaker: "You cannot convert your instance-based, real-time endpoint to a serverless
    endpoint" (ValidationError). Refused before anything is created."""
    live_endpoint(local, approved_package(local))
    v2 = approved_package(local)
    before = hosting_state(local)

    result = serverless_deploy(v2)

    assert result.code == 1 and len(result.errors) == 1, result.log
    assert "input 'serverless-memory-mb'" in result.errors[0]
    assert "cannot convert an instance-based endpoint to serverless" in result.errors[0]
    assert hosting_state(local) == before


def serverless_live_endpoint(local: LocalBackend, package: str) -> None:
    """`churn-staging` InService on a serverless config (records only, no server)."""
    config = live_endpoint(local, package)
    path = local.hosting.layout.endpoint_config_file(config)
    record = local_state.read_json(path)
    variant = record["ProductionVariants"][0]
    del variant["InstanceType"], variant["InitialInstanceCount"]
    variant["ServerlessConfig"] = {"MemorySizeInMB": 1024, "MaxConcurrency": 2}
    local_state.write_json_atomic(path, record)


def test_a_serverless_endpoint_moves_to_instances_with_a_notice(local: LocalBackend) -> None:
    """Serverless to instances is allowed, once: SageMaker cannot move it back."""
    serverless_live_endpoint(local, approved_package(local))
    inputs = inputs_of(approved_package(local), strategy="all-at-once")

    planned = deploy_endpoint.plan(inputs, local.hosting, local.registry)

    assert planned.updates and planned.fleet == 1 and not planned.scaling_suspended
    assert planned.notices == [
        "churn-staging moves from serverless to instances; SageMaker cannot move it back to "
        "serverless (a new endpoint can be serverless)."
    ]
    # Serverless to serverless (another version, another size) is an ordinary update.
    again = deploy_endpoint.plan(
        inputs_of(approved_package(local), **SERVERLESS), local.hosting, local.registry
    )
    assert again.updates and again.fleet is None and again.notices == []
    routing = again.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE"


def test_enable_monitor_refuses_a_serverless_endpoint() -> None:
    """No data capture and no Model Monitor on Serverless Inference (feature exclusions)."""
    live = {"EndpointName": "churn-staging", "EndpointConfigName": "c1"}
    config = {
        "EndpointConfigName": "c1",
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
        ],
    }  # fmt: skip
    capture = hosting.DataCapture(100, "s3://b/capture")

    with pytest.raises(InputError) as refused:
        hosting.capture_change(live, config, capture, lambda name: False)

    assert refused.value.name == "endpoint-name"
    assert "supports neither data capture nor Model Monitor" in str(refused.value)
    instance = {**config, "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]}  # fmt: skip
    assert hosting.capture_change(live, instance, capture, lambda name: False).needed


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"InstanceType": "ml.m5.large"}, "InstanceType with ServerlessConfig"),
        ({"ServerlessConfig": {"MemorySizeInMB": 1500, "MaxConcurrency": 1}}, "not a 1 GB step"),
        (
            {"ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1, "ProvisionedConcurrency": 2}},
            "ProvisionedConcurrency 2 above MaxConcurrency",
        ),
    ],
)  # fmt: skip
def test_the_contract_refuses_what_sagemaker_refuses_of_a_serverless_config(
    change: dict[str, Any], problem: str
) -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}  # fmt: skip
    request = {"EndpointConfigName": "c", "ProductionVariants": [{**variant, **change}]}

    assert any(
        problem in p for p in contract_problems("sagemaker", "CreateEndpointConfig", request)
    )
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/c", "CaptureOptions": [{"CaptureMode": "Input"}]}  # fmt: skip
    captured = {
        "EndpointConfigName": "c",
        "ProductionVariants": [variant],
        "DataCaptureConfig": capture,
    }
    assert contract_problems("sagemaker", "CreateEndpointConfig", captured) == [
        "a serverless endpoint config cannot capture data (DataCaptureConfig)"
    ]


# ---- the sagemaker backend: the requests (moto, held to tests/aws_contract.py) -------------------


def test_sagemaker_serverless_deploy_sends_a_serverless_config(aws_env: None) -> None:
    import boto3

    from tests.test_deploy_endpoint import sagemaker_deploy, sagemaker_package

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    package = sagemaker_package(sagemaker)

    result = sagemaker_deploy(package, **SERVERLESS, **{"serverless-provisioned-concurrency": "2"})

    assert result.code == 0, result.log
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=result.outputs["endpoint-config-name"]
    )
    [variant] = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
        "ProvisionedConcurrency": 2,
    }
    assert "InstanceType" not in variant and not config.get("DataCaptureConfig")  # moto: {}
    scaling = boto3.client("application-autoscaling", region_name=REGION)
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert f"{GROUP}-v1" == variant["ModelName"]


# ---- the local endpoint: scale to zero, cold start, MaxConcurrency ------------------------------


def serverless_endpoint(tmp_path: Path, max_concurrency: int, provisioned: int = 0) -> Any:
    """An in-process local Endpoint hosting one serverless variant of a real model."""
    from smgha.backends.local.serving.endpoint import Endpoint
    from tests.stage_helpers import XGBOOST_IMAGE
    from tests.test_deploy_endpoint import train

    folder = tmp_path / "endpoints" / "churn-staging"
    folder.mkdir(parents=True)
    model = tmp_path / "model.tar.gz"
    model.write_bytes(train(5, 3, seed=1, rows=200))
    serverless = {"MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency}
    if provisioned:
        serverless["ProvisionedConcurrency"] = provisioned
    variant = {"VariantName": "AllTraffic@c1", "ModelDataPath": str(model), "Weight": 1.0}
    variant |= {"Image": XGBOOST_IMAGE, "Serverless": serverless}
    local_state.write_json_atomic(
        folder / local_state.SERVING_FILE, {"EndpointName": "churn-staging", "Variants": [variant]}
    )
    endpoint = Endpoint(folder)
    endpoint.refresh(force=True)
    return endpoint


def invoke(endpoint: Any) -> Any:
    from tests.test_deploy_endpoint import PAYLOAD

    return endpoint.invoke(PAYLOAD.encode(), "text/csv", "text/csv", "")


def test_a_serverless_variant_scales_to_zero_after_its_health_check_and_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smgha.backends.local.serving import serverless

    monkeypatch.setenv(serverless.IDLE_ENV, "0")  # idle at once: no request in flight
    endpoint = serverless_endpoint(tmp_path, max_concurrency=2)
    [route] = endpoint.table.routes
    capacity = route.capacity

    # The health check loaded the model (InService), then it was let go: zero capacity.
    assert route.model.status == "InService" and endpoint.table.healthy()
    assert capacity.warm is None and route.model.booster is None
    assert endpoint.status()["Serverless"]["AllTraffic@c1"]["Warm"] is False

    first = invoke(endpoint)  # the cold start: the model loads again
    assert first.status == 200 and capacity.cold_starts == 1
    assert capacity.warm is not None and capacity.warm.booster is not None
    second = invoke(endpoint)  # warm (nothing scaled it down between the two)
    assert second.status == 200 and second.body == first.body and capacity.cold_starts == 1

    endpoint.scale_idle_to_zero()  # what the server's watcher does every 0.2 s
    assert capacity.warm is None and capacity.cold_starts == 1
    assert invoke(endpoint).status == 200 and capacity.cold_starts == 2


def test_provisioned_concurrency_keeps_the_variant_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smgha.backends.local.serving import serverless

    monkeypatch.setenv(serverless.IDLE_ENV, "0")
    endpoint = serverless_endpoint(tmp_path, max_concurrency=2, provisioned=1)
    [route] = endpoint.table.routes

    endpoint.scale_idle_to_zero()

    assert route.capacity.warm is route.model and route.model.booster is not None
    assert invoke(endpoint).status == 200 and route.capacity.cold_starts == 0


def test_requests_over_max_concurrency_are_throttled(tmp_path: Path) -> None:
    """ "Any endpoint invocations beyond the maximum are throttled" (serverless-endpoints.html)."""
    endpoint = serverless_endpoint(tmp_path, max_concurrency=2)
    [route] = endpoint.table.routes
    assert route.capacity.acquire() and route.capacity.acquire()  # two requests in flight

    throttled = invoke(endpoint)

    assert throttled.status == 400 and throttled.variant == "AllTraffic@c1"
    assert throttled.body.startswith(b"ThrottlingException: ")
    assert b"MaxConcurrency of 2" in throttled.body
    endpoint.scale_idle_to_zero()
    assert route.capacity.cold_starts == 0  # nothing loaded for a throttled request
    route.capacity.release()
    assert invoke(endpoint).status == 200
    route.capacity.release()
    assert route.capacity.in_flight == 0


def server_status(local: LocalBackend) -> dict[str, Any]:
    import json
    import urllib.request

    folder = local.hosting.folder("churn-staging")
    port = local_state.read_json(folder / local_state.SERVER_FILE)["port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_smgha/status", timeout=10) as answer:
        return dict(json.loads(answer.read())["Serverless"])


@pytest.mark.slow
def test_serverless_on_the_local_backend_deploys_smoke_tests_scales_to_zero_and_rolls_back(
    local: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from smgha.backends.local.serving import serverless
    from smgha.stages import smoke_test
    from tests.stage_helpers import GITHUB_CONTEXT, run_main
    from tests.test_deploy_endpoint import ROWS, register, train

    monkeypatch.setenv(serverless.IDLE_ENV, "2")  # the server reads it when it starts
    v1 = register(local, train(20, 3, seed=1))
    broken = register(local, b"this is not a model archive")

    created = serverless_deploy(v1, **{"wait-seconds": "0"})
    assert created.code == 0, created.log
    config = created.outputs["endpoint-config-name"]
    assert "serverless, 2048 MB, 5 concurrent" in created.summary
    record = local.hosting.describe_endpoint("churn-staging") or {}
    assert record["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }
    [status] = server_status(local).values()
    assert (status["Warm"], status["ColdStarts"]) == (False, 0)  # zero after its health check

    payloads = tmp_path / "payloads.csv"
    labels = (ROWS[:, 0] + ROWS[:, 1] * 0.5 > 0).astype(int)
    payloads.write_text(
        "".join(f"{y}," + ",".join(f"{x:.4f}" for x in row) + "\n" for y, row in zip(labels, ROWS, strict=True))
    )  # fmt: skip
    smoke = run_main(
        smoke_test.main,
        {
            "backend": "local",
            "endpoint-name": "churn-staging",
            "payloads": str(payloads),
            "label-column": "first",
            "requests": "200",
            "concurrency": "4",  # under MaxConcurrency 5: nothing throttled
            "report-path": str(tmp_path / "report.json"),
        },
        **{**GITHUB_CONTEXT, "GITHUB_WORKSPACE": str(tmp_path)},
    )
    assert smoke.code == 0, smoke.log
    assert float(smoke.outputs["first-request-ms"]) > 0 and smoke.outputs["error-rate"] == "0"
    assert "First request: " in smoke.summary and "median of the functional pass" in smoke.summary
    [status] = server_status(local).values()
    assert status["ColdStarts"] == 1 and status["LastColdStartMs"] > 0  # the first request's

    deadline = time.monotonic() + 30  # idle 2 s, then the watcher scales it to zero
    while server_status(local)["AllTraffic@" + config]["Warm"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_status(local)["AllTraffic@" + config]["Warm"] is False
    answer = local.hosting.invoke_endpoint("churn-staging", b"0.1," * 27 + b"0.1", "text/csv")
    assert answer.status == 200
    assert server_status(local)["AllTraffic@" + config]["ColdStarts"] == 2

    failed = serverless_deploy(broken, **{"wait-seconds": "0"})
    assert failed.code == 1 and failed.outputs["status"] == "rolled-back", failed.log
    assert "failed its health check" in failed.errors[0]
    record = local.hosting.describe_endpoint("churn-staging") or {}
    assert record["EndpointConfigName"] == config and record["EndpointStatus"] == "InService"
    again = local.hosting.invoke_endpoint("churn-staging", b"0.1," * 27 + b"0.1", "text/csv")
    assert again.status == 200 and again.body == answer.body


def test_the_local_update_endpoint_refuses_instances_to_serverless_as_sagemaker_does(
    local: LocalBackend,
) -> None:
    from smgha.errors import StageError

    config = live_endpoint(local, approved_package(local))
    serverless_config = {
        "EndpointConfigName": "churn-staging-serverless",
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": f"{GROUP}-v1", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
        ],
    }  # fmt: skip
    local.hosting.create_endpoint_config(serverless_config)

    with pytest.raises(StageError) as refused:
        local.hosting.update_endpoint("churn-staging", "churn-staging-serverless", None)

    assert "ValidationException: endpoint 'churn-staging' is instance-based" in str(refused.value)
    record = local.hosting.describe_endpoint("churn-staging") or {}
    assert (record["EndpointConfigName"], record["EndpointStatus"]) == (config, "InService")
