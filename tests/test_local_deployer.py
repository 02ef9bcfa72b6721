"""The local deployer's own ordering rules, against a stand-in for the endpoint's server (no
process starts): what it reports InService is what the server serves.

SageMaker reports an endpoint InService on a new endpoint config once that config serves
("UpdateEndpoint ... the endpoint status is set to Updating. After updating the endpoint, it
sets the status to InService", API_UpdateEndpoint.html), and after a rollback once the old
fleet serves all traffic again. The local server re-reads serving.json on its own thread
(serving/main.py), so the deployer must wait for it to have applied the configuration, or a
request sent right after InService may still meet the one before (data capture off, as a
model-quality test on a busy machine once saw: 87 of 120 requests captured)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smgha.backends.local import deployer, state


def lagging_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shift: Callable[..., None]
) -> tuple[deployer.Deployer, list[list[str]], list[list[str]]]:
    """A deployer of churn from config old to new whose server applies each serving.json on
    its third poll after it was written; returns it, the variant names of each serving.json
    written, and what the server served each time the deployer saved InService."""
    folder = tmp_path / "endpoints" / "churn"
    folder.mkdir(parents=True)
    arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/churn"
    state.write_json_atomic(folder / state.ENDPOINT_FILE, {"EndpointArn": arn, "EndpointName": "churn", "EndpointConfigName": "old"})  # fmt: skip
    state.write_json_atomic(folder / state.DEPLOYMENT_FILE, {"EndpointConfigName": "new"})
    monkeypatch.setattr(deployer, "POLL", 0.0)
    monkeypatch.setattr(deployer, "server_problem", lambda folder: "")
    run = deployer.Deployer(folder)
    served: list[list[str]] = []
    polls_since_serve = [0]
    in_service_saw: list[list[str]] = []

    def serve(variants: list[dict[str, Any]], config_name: str) -> None:
        served.append([v["VariantName"] for v in variants])
        polls_since_serve[0] = 0

    def get(path: str) -> list[dict[str, Any]]:
        polls_since_serve[0] += 1
        names = served[-1] if polls_since_serve[0] >= 3 else (served[-2] if len(served) > 1 else [])
        return [{"VariantName": n, "Status": "InService"} for n in names]

    def save(**changes: Any) -> None:
        if changes.get("EndpointStatus") == "InService":
            in_service_saw.append([v["VariantName"] for v in get("")])

    monkeypatch.setattr(run, "fleet", lambda name: [{"VariantName": f"AllTraffic@{name}", "Weight": 1.0}])  # fmt: skip
    monkeypatch.setattr(run, "serve", serve)
    monkeypatch.setattr(run, "get", get)
    monkeypatch.setattr(run, "shift", shift)
    monkeypatch.setattr(run, "describe_variants", lambda name, share: [])
    monkeypatch.setattr(run, "save", save)
    return run, served, in_service_saw


def test_an_update_is_in_service_only_once_the_server_serves_the_new_config_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, served, in_service_saw = lagging_server(tmp_path, monkeypatch, lambda *args: None)

    run.update()

    assert served[-1] == ["AllTraffic@new"]
    assert in_service_saw == [["AllTraffic@new"]], "InService while the server served the old fleet"


def test_a_rollback_is_in_service_only_once_the_server_serves_the_old_fleet_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def alarm(*args: Any) -> None:
        raise deployer.DeploymentFailed("alarm churn-5xx-errors in ALARM")

    run, served, in_service_saw = lagging_server(tmp_path, monkeypatch, alarm)

    run.update()

    assert served == [["AllTraffic@old", "AllTraffic@new"], ["AllTraffic@old"]]
    assert in_service_saw == [["AllTraffic@old"]], "InService while the new fleet still served"
