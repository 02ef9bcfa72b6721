"""deploy-endpoint's cost rows (smgha/resources/hosting_cost.py): the hourly cost of a config's
instances, every variant counted; serverless and unpriced instance types said, not guessed;
the blue/green window; and the price-table input held to the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smgha.errors import InputError
from smgha.inputs import InputValues
from smgha.resources import hosting_cost
from smgha.resources.prices import load_prices
from smgha.runner import Runner

PRICES = load_prices()


def config(*variants: dict[str, Any], shadow: dict[str, Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"ProductionVariants": list(variants)}
    if shadow:
        found["ShadowProductionVariants"] = [shadow]
    return found


def instances(kind: str, count: int) -> dict[str, Any]:
    return {"VariantName": "AllTraffic", "InstanceType": kind, "InitialInstanceCount": count}


def test_every_variant_s_instances_count_shadows_too() -> None:
    hourly = hosting_cost.hourly(
        config(instances("ml.m5.large", 2), shadow=instances("ml.m5.xlarge", 1)),
        PRICES,
        "us-east-1",
    )
    assert hourly.usd == pytest.approx(2 * 0.115 + 0.23)
    assert hourly.text() == "$0.4600 an hour ($335.80 a month)"


def test_an_unpriced_type_or_region_is_unknown_and_named() -> None:
    unpriced = hosting_cost.hourly(config(instances("ml.x99.huge", 1)), PRICES, "us-east-1")
    assert unpriced.usd is None and unpriced.text() == "cost unknown for ml.x99.huge"
    elsewhere = hosting_cost.hourly(config(instances("ml.m5.large", 1)), PRICES, "eu-west-3")
    assert elsewhere.text() == "cost unknown for ml.m5.large"
    assert hosting_cost.window(unpriced, 300) == "cost unknown for ml.x99.huge"


def test_serverless_has_no_hourly_cost() -> None:
    serverless = {"VariantName": "AllTraffic", "ServerlessConfig": {"MemorySizeInMB": 2048}}
    assert hosting_cost.hourly(config(serverless), PRICES, "us-east-1").text() == (
        "serverless: billed per request, not per hour"
    )


def test_rows_show_before_after_and_the_window_of_an_update_only() -> None:
    before, after = config(instances("ml.m5.large", 1)), config(instances("ml.m5.large", 2))
    update = hosting_cost.rows(before, after, 3600, PRICES, "us-east-1")
    assert update == [
        ["Hourly cost", "$0.1150 an hour ($83.95 a month)", "$0.2300 an hour ($167.90 a month)"],
        ["Blue/green window", "–", "at least $0.2300 (3600 s of waits, both fleets)"],
    ]
    create = hosting_cost.rows(None, after, None, PRICES, "us-east-1")
    assert create == [["Hourly cost", "–", "$0.2300 an hour ($167.90 a month)"]]


def test_the_source_line_names_the_table_its_date_and_the_local_backend() -> None:
    line = hosting_cost.source_line(PRICES, "us-east-1", local=True)
    assert "in us-east-1 (estimated at SageMaker's prices: the local backend bills nothing)" in line
    assert "2026-12-05" in line


def values(tmp_path: Path, table: str) -> InputValues:
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_PRICE-TABLE": table}
    return InputValues(Runner(env=env), hosting_cost.INPUTS)


def test_a_team_s_table_from_the_workspace(tmp_path: Path) -> None:
    document = {"date": "2026-11-01", "regions": {"us-east-1": {"hosting": {"ml.m5.large": 0.1}}}}
    (tmp_path / "prices.json").write_text(json.dumps(document))
    prices = hosting_cost.checked_prices(values(tmp_path, "prices.json"), "local", "us-east-1")
    price = prices.hourly("hosting", "ml.m5.large", "us-east-1")
    assert price is not None and price.usd_per_hour == 0.1


def test_a_table_outside_the_workspace_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        hosting_cost.checked_prices(values(tmp_path, "/etc/hostname"), "local", "us-east-1")
    assert caught.value.name == "price-table" and "outside the workspace" in caught.value.problem
