"""Shadow tests: deploy-endpoint's shadow variant (smgha/resources/shadow.py), the local
server's mirror (serving/mirror.py), and shadow-test (smgha/stages/shadow_test.py), which
pairs both variants' answers, gates on rules and promotes the shadow, on real models."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha import gates
from smgha.backends.local import LocalBackend
from smgha.resources import shadow_comparison
from smgha.stages import shadow_test
from tests.aws_contract import contract_problems
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import FEATURES, GROUP, deploy, inputs_of, register, tarball

CAPTURE = {"data-capture-percent": "100", "data-capture-s3-uri": "s3://smgha-local/capture"}
ENDPOINT = "churn-staging"
RULES = "shadow.accuracy >= production.accuracy\nshadow.agreement >= 0.5\nshadow.errors <= 0"


def truth(rows: np.ndarray) -> np.ndarray:
    """The rule the labels follow."""
    return (rows[:, 0] + 0.5 * rows[:, 1] > 0).astype(int)


def trained(
    rows: int, noise: float, seed: int, shuffled: bool = False, features: int = FEATURES
) -> bytes:
    """A real xgboost model: more rows and less label noise make a better one; shuffled
    labels a worse one (it learns nothing)."""
    import xgboost

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, features))
    labels = (data[:, 0] + 0.5 * data[:, 1] + rng.normal(scale=noise, size=rows) > 0).astype(int)
    if shuffled:
        labels = rng.permutation(labels)
    params = {"objective": "binary:logistic", "max_depth": 3, "seed": seed}
    booster = xgboost.train(params, xgboost.DMatrix(data, label=labels), 20)
    return tarball(bytes(booster.save_raw(raw_format="ubj")))


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


@pytest.fixture
def payloads(tmp_path: Path) -> Path:
    """150 labelled request rows (label first), in the workspace."""
    rows = np.random.default_rng(11).normal(size=(150, FEATURES))
    lines = [
        ",".join([str(label)] + [f"{x:.4f}" for x in row])
        for row, label in zip(rows, truth(rows), strict=True)
    ]
    path = tmp_path / "payloads.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def shadow_deploy(production: str, shadow: str, **overrides: str) -> Any:
    return deploy(
        production,
        **{
            "strategy": "all-at-once",
            "wait-seconds": "0",
            "shadow-model-package-arn": shadow,
            **CAPTURE,
            **overrides,
        },
    )


def run_shadow_test(payloads: Path, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "payloads": str(payloads),
        "label-column": "first",
        "min-samples": "150",
        "timeout-minutes": "1",
        "rules": RULES,
        "promote": "true",
        "wait-seconds": "0",
        "report-path": str(payloads.parent / "shadow-report.json"),
        **overrides,
    }
    return run_main(
        shadow_test.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(payloads.parent)
    )


def live_config(local: LocalBackend) -> dict[str, Any]:
    record = local.hosting.describe_endpoint(ENDPOINT)
    assert record is not None and record["EndpointStatus"] == "InService"
    config = local.hosting.describe_endpoint_config(record["EndpointConfigName"])
    assert config is not None
    return config


# ---- the whole path: a better challenger is promoted, a worse one blocked ----------------------


@pytest.mark.slow
def test_a_shadow_test_promotes_a_better_model_and_blocks_a_worse_one(
    local: LocalBackend, payloads: Path
) -> None:
    champion = register(local, trained(80, 1.5, seed=1))
    better = register(local, trained(3000, 0.1, seed=2))
    worse = register(local, trained(3000, 0.1, seed=3, shuffled=True))

    first = shadow_deploy(champion, worse, **{"shadow-sampling-percent": "100"})
    assert first.code == 0, first.log
    config = live_config(local)
    assert [v["ModelName"] for v in config["ShadowProductionVariants"]] == [f"{GROUP}-v3"]
    assert config["ShadowProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert "| Shadow | – | Shadow: churn-models-v3, 100 % of requests |" in first.summary

    blocked = run_shadow_test(payloads)

    assert blocked.code == 1, blocked.log
    assert blocked.outputs.get("verdict") == "fail", blocked.log
    assert blocked.outputs["promoted"] == "false"
    assert (
        len(blocked.errors) == 1 and "shadow.accuracy >= production.accuracy" in blocked.errors[0]
    )
    report = json.loads((payloads.parent / "shadow-report.json").read_text())
    assert report["pairs"] == 150 and report["unpaired"] == 0
    metrics = report["metrics"]
    assert metrics["production.accuracy"] > metrics["shadow.accuracy"]
    assert metrics["production.invocations"] == metrics["shadow.invocations"] == 150
    assert metrics["production.p99_ms"] > 0 and metrics["shadow.p99_ms"] > 0
    assert live_config(local)["EndpointConfigName"] == config["EndpointConfigName"]  # untouched

    # The better challenger as the shadow: another config (the shadow is in its settings).
    second = shadow_deploy(champion, better)
    assert second.code == 0 and second.outputs["status"] == "deployed", second.log
    assert second.outputs["endpoint-config-name"] != config["EndpointConfigName"]

    promoted = run_shadow_test(payloads)

    assert promoted.code == 0, promoted.log
    assert promoted.outputs["verdict"] == "pass" and promoted.outputs["promoted"] == "true"
    assert promoted.outputs["shadow-model-package-arn"] == better
    assert promoted.outputs["production-model-package-arn"] == champion
    served = live_config(local)
    assert [v["ModelName"] for v in served["ProductionVariants"]] == [f"{GROUP}-v2"]
    assert "ShadowProductionVariants" not in served
    assert served["DataCaptureConfig"]["EnableCapture"] is True  # kept
    assert "| Agreement |" in promoted.summary and "Promotion: **deployed**" in promoted.summary


# ---- the mirror ---------------------------------------------------------------------------------


def send(local: LocalBackend, count: int) -> list[int]:
    rows = np.random.default_rng(5).normal(size=(count, FEATURES))
    statuses = []
    for row in rows:
        body = ",".join(f"{x:.4f}" for x in row).encode()
        statuses.append(local.hosting.invoke_endpoint(ENDPOINT, body, "text/csv").status)
    return statuses


def settled_statistics(local: LocalBackend, since: dt.datetime) -> dict[str, Any]:
    """Both variants' statistics once the shadow's count stops moving (the mirror answers
    its copies on a thread of its own, after production answered)."""
    seen: dict[str, Any] = {}
    for _ in range(60):
        now = dt.datetime.now(dt.timezone.utc)
        found = local.hosting.variant_statistics(ENDPOINT, ["AllTraffic", "Shadow"], since, now)
        if seen and found == seen:
            return found
        seen = found
        time.sleep(0.5)
    raise AssertionError(f"the shadow's statistics kept moving: {seen}")


def answers(local: LocalBackend, variant: str, since: dt.datetime) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    prefixes = shadow_comparison.capture_prefixes(
        "s3://smgha-local/capture", ENDPOINT, variant, since, now
    )
    return shadow_comparison.captured_answers(local.objects, prefixes, since)


@pytest.mark.slow
def test_the_mirror_copies_the_sampled_share_and_records_both_answers(
    local: LocalBackend,
) -> None:
    production = register(local, trained(80, 1.5, seed=1))
    candidate = register(local, trained(3000, 0.1, seed=2))
    assert shadow_deploy(production, candidate, **{"shadow-sampling-percent": "30"}).code == 0
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)

    assert set(send(local, 400)) == {200}

    statistics = settled_statistics(local, since)
    assert statistics["AllTraffic"].invocations == 400
    # 30 % of 400: 120 expected, 9.2 standard deviations; the bounds are 6 of them away.
    copies = statistics["Shadow"].invocations
    assert 65 <= copies <= 175, copies
    assert statistics["Shadow"].errors == 0
    first, second = answers(local, "AllTraffic", since), answers(local, "Shadow", since)
    assert len(first) == 400 and len(second) == copies
    for key, answer in second.items():  # each copy's answer pairs with production's
        assert first[key].request == answer.request
        assert answer.predictions is not None and len(answer.predictions) == 1


@pytest.mark.slow
def test_a_failing_shadow_never_fails_a_production_request(local: LocalBackend) -> None:
    production = register(local, trained(80, 1.5, seed=1))
    # Trained on 3 more features: every prediction on production's rows fails.
    misfit = register(local, trained(500, 0.1, seed=2, features=FEATURES + 3))
    assert shadow_deploy(production, misfit).code == 0
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)

    assert set(send(local, 40)) == {200}

    statistics = settled_statistics(local, since)
    assert statistics["AllTraffic"].errors == 0
    assert statistics["Shadow"].invocations == statistics["Shadow"].errors == 40
    assert answers(local, "Shadow", since) == {}  # a failed answer is not captured


# ---- deploy-endpoint's shadow inputs: one error naming both inputs, nothing created -------------


def two_groups(local: LocalBackend) -> tuple[str, str, str]:
    """A package, a later version of its group, and a package of another group."""
    first = register(local, b"model one")
    second = register(local, b"model two")
    other = local.registry.create_model_package(
        {
            "ModelPackageGroupName": "fraud-models",
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {"Containers": [{"Image": "sagemaker-xgboost:1.7-1", "ModelDataUrl": "s3://m/x.tar.gz"}]},
        }
    )  # fmt: skip
    return first, second, other


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"shadow-model-package-arn": "OTHER"}, "shadow-model-package-arn", "is in model package group 'fraud-models', model-package-arn"),
        ({"shadow-model-package-arn": "FIRST"}, "shadow-model-package-arn", "is model-package-arn itself"),
        ({"shadow-model-package-arn": "", "shadow-sampling-percent": "50"}, "shadow-sampling-percent", "shadow-model-package-arn is empty"),
        ({"shadow-sampling-percent": "0"}, "shadow-sampling-percent", "from 1 to 100"),
        ({"shadow-sampling-percent": "101"}, "shadow-sampling-percent", "from 1 to 100"),
        ({"data-capture-percent": "", "data-capture-s3-uri": ""}, "data-capture-percent", "is required with shadow-model-package-arn"),
        ({"data-capture-s3-uri": ""}, "data-capture-s3-uri", "s3:// URI"),
        ({"strategy": "canary"}, "strategy", "canary does not go with shadow-model-package-arn"),
        ({"strategy": "linear"}, "strategy", "linear does not go with shadow-model-package-arn"),
        ({"variant-name": "Shadow"}, "variant-name", "the name of the shadow variant"),
        ({"serverless-memory-mb": "2048", "serverless-max-concurrency": "5", "data-capture-percent": "", "data-capture-s3-uri": ""}, "serverless-memory-mb", "does not go with shadow-model-package-arn"),
        ({"async-output-s3-uri": "s3://my-bucket/async/out", "data-capture-percent": "", "data-capture-s3-uri": ""}, "async-output-s3-uri", "does not go with shadow-model-package-arn"),
    ],
)  # fmt: skip
def test_a_shadow_input_sagemaker_refuses_is_one_error_and_creates_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    first, second, other = two_groups(local)
    arn = {"OTHER": other, "FIRST": first}.get(overrides.get("shadow-model-package-arn", ""))
    given = {
        **overrides,
        "shadow-model-package-arn": arn or overrides.get("shadow-model-package-arn", second),
    }

    result = shadow_deploy(first, "", **given)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors
    for kind in ("endpoints", "endpoint-configs", "models", "alarms"):
        assert not (local.root / kind).exists()


def test_an_unapproved_shadow_is_refused_unless_allowed(local: LocalBackend) -> None:
    first, _, _ = two_groups(local)
    pending = register(local, b"model three", status="PendingManualApproval")

    refused = shadow_deploy(first, pending, **{"dry-run": "true"})
    allowed = shadow_deploy(first, pending, **{"dry-run": "true", "allow-unapproved": "true"})

    assert refused.code == 1 and len(refused.errors) == 1, refused.log
    assert "input 'shadow-model-package-arn'" in refused.errors[0]
    assert "PendingManualApproval, not Approved" in refused.errors[0]
    assert allowed.code == 0, allowed.log
    assert not (local.root / "models").exists()


def test_the_shadow_config_request_passes_the_contract(local: LocalBackend) -> None:
    first, second, _ = two_groups(local)
    inputs = inputs_of(first, **{"strategy": "all-at-once", "shadow-model-package-arn": second, "shadow-sampling-percent": "25", **CAPTURE})  # fmt: skip

    planned = deployment_plan(local, inputs)

    request = planned.config_request
    assert request["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert request["ShadowProductionVariants"] == [
        {
            "VariantName": "Shadow",
            "ModelName": f"{GROUP}-v2",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 0.25,
        }
    ]
    assert contract_problems("sagemaker", "CreateEndpointConfig", request) == []
    assert planned.shadow_model_request is not None
    assert planned.shadow_model_request["PrimaryContainer"] == {"ModelPackageName": second}
    assert contract_problems("sagemaker", "CreateModel", planned.shadow_model_request) == []
    # The contract holds SageMaker's rule: one production and one shadow variant.
    two = {**request, "ShadowProductionVariants": request["ShadowProductionVariants"] * 2}
    assert contract_problems("sagemaker", "CreateEndpointConfig", two) != []


def deployment_plan(local: LocalBackend, inputs: Any) -> Any:
    from smgha.stages import deploy_endpoint

    return deploy_endpoint.plan(inputs, local.hosting, local.registry)


# ---- rules against another metric ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "passed", "detail"),
    [
        ("shadow.p99_ms <= production.p99_ms * 1.2", True, "11 <= 12 (production.p99_ms 10 × 1.2)"),
        ("shadow.p99_ms <= production.p99_ms * 1.05", False, "11 > 10.5 (production.p99_ms 10 × 1.05)"),
        ("shadow.accuracy >= production.accuracy - 1%", True, "0.9 >= 0.891 (production.accuracy 0.9 - 1%)"),
        ("shadow.accuracy > production.accuracy", False, "0.9 <= 0.9 (production.accuracy 0.9)"),
        ("shadow.agreement >= 0.99", False, "0.98 < 0.99"),
    ],
)  # fmt: skip
def test_a_rule_compares_a_metric_with_another(rule: str, passed: bool, detail: str) -> None:
    metrics = {"shadow.p99_ms": 11.0, "production.p99_ms": 10.0, "shadow.accuracy": 0.9, "production.accuracy": 0.9, "shadow.agreement": 0.98}  # fmt: skip

    decision = gates.verdict(gates.parse_rules([rule]), metrics, None, manual_approval=False)

    (result,) = decision.results
    assert (result.passed, result.detail) == (passed, detail)
    assert decision.decision == ("approved" if passed else "rejected")


def test_a_rule_naming_a_metric_the_report_lacks_is_an_input_error() -> None:
    with pytest.raises(Exception, match="has no metric 'shadow.p95_ms'"):
        gates.verdict(
            gates.parse_rules(["shadow.p99_ms <= shadow.p95_ms * 2"]),
            {"shadow.p99_ms": 1.0},
            None,
            manual_approval=False,
        )


# ---- the reusable deploy workflow passes the shadow inputs through ------------------------------


def test_model_deploy_passes_the_shadow_path_through() -> None:
    from tests.test_workflows import WORKFLOWS, jobs, step_named

    workflow = WORKFLOWS / "model-deploy.yml"
    call = jobs(workflow)  # parses; the inputs are under `on.workflow_call`
    assert "production" in call
    deploy = step_named(workflow, "production", "deploy")["with"]
    assert (
        deploy["shadow-model-package-arn"]
        == "${{ inputs.production-shadow && inputs.model-package-arn || '' }}"
    )
    assert "inputs.production-model-package-arn" in deploy["model-package-arn"]
    assert (
        deploy["shadow-sampling-percent"]
        == "${{ inputs.production-shadow && inputs.shadow-sampling-percent || '' }}"
    )
    shadow = step_named(workflow, "production", "shadow")
    assert shadow["if"] == "inputs.production-shadow"
    assert shadow["uses"].split("@")[0].endswith("/actions/shadow-test")
    given = shadow["with"]
    assert given["rules"] == "${{ inputs.shadow-rules }}" and given["promote"] is True
    assert given["timeout-minutes"] == "${{ inputs.shadow-window-minutes }}"
    assert given["min-samples"] == "${{ inputs.shadow-min-samples }}"
    # Every input a step passes exists in the action's spec.
    names = {spec.name for spec in shadow_test.INPUTS}
    assert set(given) <= names
    refuse = step_named(
        workflow, "staging", "Refuse a production shadow without the package production serves"
    )
    assert "production-model-package-arn" in refuse["if"]


@pytest.mark.parametrize("wait", [0, 300, 600, 3600])
def test_the_promotion_fits_sagemakers_limits_for_every_wait(wait: int) -> None:
    from smgha.resources.shadow_promotion import LiveShadow, promotion_target

    variant = {
        "VariantName": "AllTraffic",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 2,
    }
    live = LiveShadow(ENDPOINT, {}, {"ProductionVariants": [variant]}, "AllTraffic", "Shadow", "a", "b", "r", "s3://b/c")  # fmt: skip

    target = promotion_target(live, wait, 1000)

    target.blue_green.check_limits(len(target.alarm_requests()))  # refuses nothing
    assert (target.instance_count, target.blue_green.strategy, target.shadow) == (
        2,
        "all-at-once",
        None,
    )


def test_a_rule_naming_a_metric_no_comparison_has_is_refused_before_anything_is_sent(
    local: LocalBackend, payloads: Path
) -> None:
    result = run_shadow_test(payloads, rules="shadow.p95_ms <= production.p99_ms")

    assert result.code == 1 and len(result.errors) == 1, result.log
    assert "input 'rules'" in result.errors[0] and "'shadow.p95_ms'" in result.errors[0]
    assert "Sending" not in result.log and not (local.root / "endpoints").exists()
