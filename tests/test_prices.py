"""The price tables: the shipped one, a team's over it, and the bad tables that make costs
unknown instead of wrong (issue 20: "A price table that does not parse or lacks an instance
type: the summary says 'cost unknown for ml.x' and the build does not fail for that")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smgha.resources.prices import SHIPPED_DATE, USES, load_prices, money


def test_the_shipped_table_prices_the_project_s_instances_with_its_date() -> None:
    prices = load_prices()
    price = prices.hourly("hosting", "ml.m5.large", "us-east-1")
    assert price is not None and price.usd_per_hour == pytest.approx(0.115)
    assert SHIPPED_DATE in price.table and SHIPPED_DATE in prices.describe()
    # 2 instances for 30 minutes: one instance-hour.
    assert price.cost(2, 1800) == pytest.approx(0.115)
    for use in USES:
        assert prices.hourly(use, "ml.m5.xlarge", "us-east-1") is not None, use


def test_what_no_table_has_is_unknown_not_guessed() -> None:
    prices = load_prices()
    assert prices.hourly("hosting", "ml.x99.huge", "us-east-1") is None
    assert prices.hourly("hosting", "ml.m5.large", "ap-southeast-7") is None


def test_a_team_s_table_comes_first_and_the_shipped_one_fills_in(tmp_path: Path) -> None:
    table = tmp_path / "ours.json"
    table.write_text(
        json.dumps(
            {
                "date": "2026-11-01",
                "source": "our discount",
                "regions": {"us-east-1": {"hosting": {"ml.m5.large": 0.09}}},
            }
        )
    )
    prices = load_prices(str(table))
    ours = prices.hourly("hosting", "ml.m5.large", "us-east-1")
    assert (
        ours is not None and ours.usd_per_hour == 0.09 and ours.table == "our discount, 2026-11-01"
    )
    shipped = prices.hourly("training", "ml.m5.large", "us-east-1")
    assert shipped is not None and SHIPPED_DATE in shipped.table
    assert prices.describe().startswith("prices (USD, on-demand): our discount, 2026-11-01; then")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "not usable"),
        ('["a list"]', "not a JSON object"),
        ('{"regions": {}}', 'no "date"'),
        ('{"date": "2026-11-01"}', 'no "regions"'),
        ('{"date": "d", "regions": {"us-east-1": {"inference": {}}}}', "the uses are"),
        (
            '{"date": "d", "regions": {"us-east-1": {"hosting": {"ml.m5.large": "cheap"}}}}',
            "ml.m5.large",
        ),
        (
            '{"date": "d", "regions": {"us-east-1": {"hosting": {"ml.m5.large": -1}}}}',
            "ml.m5.large",
        ),
    ],
)
def test_a_table_that_does_not_parse_makes_costs_unknown_and_says_why(
    tmp_path: Path, text: str, reason: str
) -> None:
    table = tmp_path / "bad.json"
    table.write_text(text)
    prices = load_prices(str(table))  # never raises
    assert prices.hourly("hosting", "ml.m5.large", "us-east-1") is None
    assert reason in prices.describe() and "costs are unknown" in prices.describe()


def test_a_missing_table_is_reported_too(tmp_path: Path) -> None:
    prices = load_prices(str(tmp_path / "nowhere.json"))
    assert "nowhere.json is not usable" in prices.describe()


def test_money_shows_cents_of_small_jobs() -> None:
    assert money(0.0123) == "$0.0123"
    assert money(1234.5) == "$1,234.50"


def test_a_training_step_s_cost_is_its_billed_instance_seconds_at_the_training_price() -> None:
    from smgha.resources.step_costs import Pricing
    from smgha.resources.step_time import StepTime

    pricing = Pricing(load_prices(), "us-east-1")

    def step(kind: str, billable: int | None, reused: str = "") -> StepTime:
        return StepTime(
            "TrainModel", "TrainingJob", "arn", kind, 2, 600, billable, False, False, reused
        )

    assert pricing.cost_text(step("ml.m5.xlarge", 1800)) == "$0.2300"  # 2 x 0.5 h x $0.23
    assert pricing.cost_text(step("ml.r5.large", 1800)) == "cost unknown for ml.r5.large"
    assert pricing.cost_text(step("ml.m5.xlarge", None)) == "–"  # still running
    assert pricing.cost_text(step("ml.m5.xlarge", 1800, "arn:earlier")) == "$0 (reused)"
