"""`smgha endpoints remove` (smgha/endpoint_removal.py): model-deploy's removal of staging after
a promotion. Its rules with a scripted backend; then for real on the local backend and against a
moto server: deploy, remove (the config stays), deploy again (the endpoint comes back on the
kept config, no new one). The act run on the sagemaker backend (tests/test_e2e_act_sagemaker.py)
runs it as model-deploy's `Remove staging` job."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from smgha import cli
from smgha.endpoint_removal import POLL_SECONDS, Removal, remove, render
from smgha.errors import StageError
from smgha.resources.prices import load_prices
from tests.test_deploy_endpoint import (
    deploy,
    local,  # noqa: F401  (the fixture)
    register,
    sagemaker_deploy,
    sagemaker_package,
    train,
)

CONFIG = "churn-staging-v3-abc123"
VARIANT = {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
CONFIG_RECORD: dict[str, Any] = {"EndpointConfigName": CONFIG, "ProductionVariants": [VARIANT]}


def in_service(config: str = CONFIG, status: str = "InService") -> dict[str, Any]:
    return {
        "EndpointName": "churn-staging",
        "EndpointStatus": status,
        "EndpointConfigName": config,
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 1}],
    }


class ScriptedHosting:
    """DescribeEndpoint answers in turn (the last one repeats); records what was called."""

    def __init__(self, answers: list[dict[str, Any] | None], scaled: bool = False) -> None:
        self.answers = answers
        self.scaled = scaled
        self.deleted: list[str] = []

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return CONFIG_RECORD if name == CONFIG else None

    def describe_scalable_target(self, resource_id: str, dimension: str) -> dict[str, Any] | None:
        return {"ResourceId": resource_id} if self.scaled else None

    def delete_endpoint(self, name: str) -> None:
        self.deleted.append(name)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 <= seconds <= POLL_SECONDS
        self.now += max(seconds, 1.0)


def removed_with(hosting: ScriptedHosting, serving: str = CONFIG, timeout: float = 600) -> tuple[Removal, list[str]]:  # fmt: skip
    lines: list[str] = []
    clock = FakeClock()
    done = remove(hosting, "churn-staging", serving, lines.append, clock.sleep, clock, timeout)
    return done, lines


def test_an_endpoint_on_the_config_deployed_is_deleted_and_awaited_until_gone() -> None:
    hosting = ScriptedHosting([in_service()] + [in_service(status="Deleting")] * 5 + [None])
    done, lines = removed_with(hosting)
    assert done.outcome == "removed" and done.config_name == CONFIG
    assert hosting.deleted == ["churn-staging"]
    assert lines[0] == (
        f"Deleting endpoint churn-staging; its endpoint config {CONFIG} and model are kept"
    )
    assert lines[-1].startswith("Endpoint churn-staging is gone (")


def test_a_long_deletion_prints_a_progress_line() -> None:
    hosting = ScriptedHosting([in_service()] + [in_service(status="Deleting")] * 40 + [None])
    _, lines = removed_with(hosting)
    assert any(
        line.startswith("waiting for endpoint churn-staging to be deleted: Deleting (")
        for line in lines
    ), lines


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "there is no endpoint churn-staging: nothing to remove"),
        (
            in_service(config="churn-staging-v4-def456"),
            f"it serves churn-staging-v4-def456, not {CONFIG}: a later deploy changed it",
        ),
        (in_service(status="Updating"), "it is Updating; only an InService endpoint is removed"),
        (in_service(status="Failed"), "it is Failed; only an InService endpoint is removed"),
    ],
)
def test_an_endpoint_another_deploy_owns_or_none_is_left_alone(
    answer: dict[str, Any] | None, reason: str
) -> None:
    hosting = ScriptedHosting([answer])
    done, lines = removed_with(hosting)
    assert done.outcome in ("absent", "kept")
    assert done.reason.startswith(reason)
    assert hosting.deleted == [] and lines == []


def test_without_a_config_to_match_any_in_service_endpoint_is_removed() -> None:
    hosting = ScriptedHosting([in_service(config="churn-staging-v9-0"), None])
    done, _ = removed_with(hosting, serving="")
    assert done.outcome == "removed" and hosting.deleted == ["churn-staging"]


def test_an_autoscaled_endpoint_is_refused_before_any_deletion() -> None:
    hosting = ScriptedHosting([in_service()], scaled=True)
    with pytest.raises(StageError, match="AllTraffic have autoscaling"):
        removed_with(hosting)
    assert hosting.deleted == []


def test_a_deletion_that_does_not_end_in_time_is_an_error_naming_the_state() -> None:
    hosting = ScriptedHosting([in_service(), in_service(status="Deleting")])
    with pytest.raises(StageError, match=r"still Deleting after 2m00s.*next deploy fails"):
        removed_with(hosting, timeout=120)


def test_a_failed_deletion_is_an_error_with_sagemakers_reason() -> None:
    failed = {**in_service(status="Failed"), "FailureReason": "KMS grant could not be retired"}
    hosting = ScriptedHosting([in_service(), failed])
    with pytest.raises(StageError, match="failed to delete: KMS grant could not be retired"):
        removed_with(hosting)


def test_the_summary_prices_what_the_removal_saves_and_names_the_source() -> None:
    done = Removal("churn-staging", "removed", "", CONFIG_RECORD, in_service())
    text = render(done, "sagemaker", load_prices(), "us-east-1")
    assert "### Endpoint churn-staging removed" in text
    assert f"`{CONFIG}`" in text
    assert "| churn-staging | AllTraffic: 1 × ml.m5.large | $0.1150 | $83.95 |" in text
    assert "prices (USD, on-demand): the project's table" in text
    elsewhere = render(done, "sagemaker", load_prices(), "eu-west-3")
    assert "cost unknown for ml.m5.large" in elsewhere
    assert "bills nothing" in render(done, "local", load_prices(), "us-east-1")
    kept = Removal("churn-staging", "kept", "it is Updating; only an InService endpoint is removed")
    assert render(kept, "sagemaker", load_prices(), "us-east-1") == (
        "### Endpoint churn-staging not removed\n\n"
        "It is Updating; only an InService endpoint is removed.\n"
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["churn staging", "--backend", "local"], "input 'name'"),
        (["churn-staging", "--backend", "aws"], "input 'backend'"),
        (["churn-staging", "--backend", "local", "--if-serving", "a_b"], "input 'if-serving'"),
        (["churn-staging", "--backend", "local", "--timeout-minutes", "0"], "timeout-minutes"),
        (["churn-staging", "--backend", "local", "--timeout-minutes", "181"], "timeout-minutes"),
        (["churn-staging", "--backend", "sagemaker", "--region", "mars"], "input 'region'"),
        (["churn-staging", "--backend", "sagemaker"], "input 'region'"),
    ],
)
def test_bad_input_is_one_error_naming_the_flag_and_touches_nothing(
    argv: list[str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)

    def no_backend(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a backend was made for bad input")

    monkeypatch.setattr("smgha.backends.backend", no_backend)
    out = io.StringIO()
    assert cli.main(["endpoints", "remove", *argv], out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith("error: ") and named in line, line


def removal(tmp_path: Path, *argv: str) -> tuple[int, str, str, str]:
    """The CLI as model-deploy's job runs it: exit code, stdout, summary, GITHUB_OUTPUT."""
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    summary.write_text("")
    outputs.write_text("")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_OUTPUT", str(outputs))
        code = cli.main(["endpoints", "remove", *argv, "--summary", str(summary)], out)
    return code, out.getvalue(), summary.read_text(), outputs.read_text()


@pytest.mark.slow  # a moto server
def test_sagemaker_removal_keeps_the_config_and_the_next_deploy_creates_the_endpoint_on_it(
    aws_env: None, tmp_path: Path
) -> None:
    import boto3

    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    package = sagemaker_package(sagemaker)
    first = sagemaker_deploy(package)
    assert first.code == 0, first.log
    config = first.outputs["endpoint-config-name"]

    code, out, summary, outputs = removal(
        tmp_path, "churn-staging", "--backend", "sagemaker", "--if-serving", config
    )
    assert code == 0, out
    assert "outcome" in outputs and "removed" in outputs
    assert "### Endpoint churn-staging removed" in summary
    with pytest.raises(sagemaker.exceptions.ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="churn-staging")
    configs = [
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    ]
    assert configs == [config]  # kept

    # Idempotent: nothing left to remove is not an error.
    code, out, summary, _ = removal(tmp_path, "churn-staging", "--backend", "sagemaker")
    assert code == 0 and "nothing to remove" in summary, out

    again = sagemaker_deploy(package)
    assert again.code == 0 and again.outputs["status"] == "deployed", again.log
    assert f"Creating endpoint churn-staging on {config}" in again.log
    assert "Created endpoint config" not in again.log  # the kept one served
    assert sagemaker.describe_endpoint(EndpointName="churn-staging")["EndpointConfigName"] == config
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1


def test_local_removal_stops_the_server_keeps_the_config_and_a_deploy_brings_it_back(
    local: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    package = register(local, train(rounds=5, depth=2, seed=1))
    first = deploy(package)
    assert first.code == 0, first.log
    config = first.outputs["endpoint-config-name"]
    server = local.hosting.folder("churn-staging")

    code, out, summary, _ = removal(
        tmp_path, "churn-staging", "--backend", "local", "--if-serving", config
    )
    assert code == 0, out
    assert "The local backend bills nothing." in summary
    assert local.hosting.describe_endpoint("churn-staging") is None
    assert not any(server.glob("*.json"))  # its server and records are gone
    assert local.hosting.describe_endpoint_config(config) is not None

    again = deploy(package)
    assert again.code == 0 and again.outputs["status"] == "deployed", again.log
    assert f"Creating endpoint churn-staging on {config}" in again.log
    assert local.hosting.describe_endpoint("churn-staging")["EndpointStatus"] == "InService"


@pytest.mark.slow  # the AWS double
def test_against_the_double_the_removal_waits_out_deleting_and_the_name_is_taken_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS double shows a deleted endpoint Deleting for a while, as SageMaker does, and
    refuses a CreateEndpoint of its name meanwhile: the removal waits until it is gone, so the
    next deploy's CreateEndpoint is accepted."""
    import time

    import botocore.exceptions

    from smgha.backends.aws import SageMakerBackend
    from tests.e2e import harness
    from tests.e2e.aws_double import Double

    double = harness.plain_aws_double(tmp_path)
    try:
        sagemaker = double.client("sagemaker")
        sagemaker.create_model(
            ModelName="churn-models-v3",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/e2e-model",
            PrimaryContainer={"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=CONFIG,
            ProductionVariants=[{**VARIANT, "ModelName": "churn-models-v3"}],
        )  # fmt: skip
        sagemaker.create_endpoint(EndpointName="churn-staging", EndpointConfigName=CONFIG)
        for name, value in {
            "AWS_ENDPOINT_URL": double.url,
            "AWS_ACCESS_KEY_ID": "removal",
            "AWS_SECRET_ACCESS_KEY": "removal",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.setattr("smgha.endpoint_removal.POLL_SECONDS", 0.25)
        hosting = SageMakerBackend(region="us-east-1").hosting
        seen: list[str] = []
        deleted = hosting.delete_endpoint

        def delete_then_try_to_create(name: str) -> None:
            deleted(name)
            seen.append(hosting.describe_endpoint(name)["EndpointStatus"])  # type: ignore[index]
            with pytest.raises(botocore.exceptions.ClientError, match="already existing endpoint"):
                sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=CONFIG)

        monkeypatch.setattr(hosting, "delete_endpoint", delete_then_try_to_create)
        lines: list[str] = []
        started = time.monotonic()
        done = remove(hosting, "churn-staging", CONFIG, lines.append, time.sleep, time.monotonic)

        assert seen == ["Deleting"]
        assert done.outcome == "removed"
        assert time.monotonic() - started >= Double.DELETING_SECONDS * 0.9  # it waited
        assert lines[-1].startswith("Endpoint churn-staging is gone")
        assert hosting.describe_endpoint("churn-staging") is None
        sagemaker.create_endpoint(EndpointName="churn-staging", EndpointConfigName=CONFIG)
    finally:
        double.stop()
