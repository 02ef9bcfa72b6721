"""What an endpoint costs an hour, before and after a deployment, and what the blue/green
window adds: the instances of every variant (production and shadow) at the price table's
hosting price (smgha/resources/prices.py). SageMaker bills an endpoint's instances per second
while they run; during a blue/green update the new fleet runs beside the old one for the
update's waits at least (its provisioning before them is not counted: unknown), so the window
costs the new fleet's price for that long. A serverless variant is billed per request, not per
hour: it has no hourly cost. An instance type no table prices is "cost unknown for <type>".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.aws_values import aws_value
from smgha.backends import price_list_search
from smgha.errors import StageError
from smgha.gates import GateDecision, Rule
from smgha.inputs import InputSpec, InputValues, whole_number, workspace_file
from smgha.resources.price_list import prices_for
from smgha.resources.prices import HOURS_PER_MONTH, Prices, money

INPUTS = (
    InputSpec(
        "price-table",
        "A JSON price table of your own (a file in the workspace; format in smgha/resources/prices.py) that overrides the shipped, dated one entry by entry. Empty: the shipped table. 'aws-price-list' (or 'aws-price-list,<your table>'): the AWS Price List API first, where the role may call pricing:GetProducts (docs/cost.md). Costs are estimates, named with their source and date in the summary.",
    ),
)


def checked_prices(values: InputValues, backend: str, region: str) -> Prices:
    """The prices of `price-table` (smgha/resources/price_list.py): a table's file must be
    inside the workspace; what it holds never fails the stage (a table that does not parse
    makes the costs unknown, and says so), nor does the AWS Price List API's answer."""
    workspace = Path(values.runner.env.get("GITHUB_WORKSPACE") or os.getcwd())
    runner = values.runner
    return prices_for(
        values["price-table"],
        lambda: price_list_search(backend, region, log=runner.info, mask=runner.set_secret),
        lambda team: str(workspace_file("price-table", team, workspace)),
    )


@dataclass(frozen=True)
class Hourly:
    """An endpoint config's hourly cost, or why there is none."""

    usd: float | None
    why_not: str = ""  # e.g. "cost unknown for ml.x99.huge"

    def text(self) -> str:
        if self.usd is None:
            return self.why_not or "–"
        return f"{money(self.usd)} an hour ({money(self.usd * HOURS_PER_MONTH)} a month)"


def variants(config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not config:
        return []
    return [*config.get("ProductionVariants", []), *config.get("ShadowProductionVariants", [])]


def hourly(config: Mapping[str, Any] | None, prices: Prices, region: str) -> Hourly:
    """The config's instances at the hosting price: every variant's InitialInstanceCount."""
    found = variants(config)
    if not found:
        return Hourly(None)
    fleet = [
        (str(v.get("InstanceType", "")), int(v.get("InitialInstanceCount") or 1))
        for v in found
        if not v.get("ServerlessConfig")
    ]
    total, unknown = prices.fleet_hourly("hosting", fleet, region)
    if unknown:
        return Hourly(None, f"cost unknown for {', '.join(sorted(set(unknown)))}")
    if len(fleet) < len(found) and total == 0:
        return Hourly(None, "serverless: billed per request, not per hour")
    return Hourly(total)


def window(after: Hourly, seconds: int) -> str:
    """What the new fleet costs beside the old one during an update's `seconds` of waits."""
    if after.usd is None:
        return after.why_not or "–"
    return f"at least {money(after.usd * seconds / 3600)} ({seconds} s of waits, both fleets)"


def rows(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    update_seconds: int | None,
    prices: Prices,
    region: str,
) -> list[list[str]]:
    """The summary's cost rows (Before, After): the hourly cost, and for an update the
    blue/green window (`update_seconds`: its waits; None when no update happens)."""
    was, will = hourly(before, prices, region), hourly(after, prices, region)
    found = [["Hourly cost", was.text() if before else "–", will.text()]]
    if update_seconds is not None:
        found.append(["Blue/green window", "–", window(will, update_seconds)])
    return found


def source_line(prices: Prices, region: str, local: bool) -> str:
    """Where the figures come from: the tables and their dates, the region, and for the local
    backend that they are SageMaker's prices, not a bill."""
    where = f"in {region}"
    if local:
        where += " (estimated at SageMaker's prices: the local backend bills nothing)"
    return f"Costs {where}; {prices.describe()}."


# ---- the gate's cost metric (register-and-gate) ----------------------------------------------

# The candidate's metric, and the stored one of the champion it is compared with: a rule such
# as `hourly_cost <= champion + 20%` is written in the gate's grammar (smgha/gates.py).
COST_METRIC = "hourly_cost"

GATE_INPUTS = (
    InputSpec(
        "serving-instance-type",
        f"The instance type the model is to be served on, priced (price-table) as the candidate's {COST_METRIC} metric for rules such as '{COST_METRIC} <= champion + 20%'.",
        "ml.m5.large",
    ),
    InputSpec("serving-instance-count", f"Instances {COST_METRIC} counts.", "1"),
    *INPUTS,
)


@dataclass(frozen=True)
class Serving:
    """How the candidate is to be served, for its hourly cost."""

    instance_type: str
    instance_count: int
    prices: Prices

    def cost(self, region: str) -> Hourly:
        variant = {"InstanceType": self.instance_type, "InitialInstanceCount": self.instance_count}
        return hourly({"ProductionVariants": [variant]}, self.prices, region)


def checked_serving(values: InputValues, backend: str, region: str) -> Serving:
    """serving-instance-type, serving-instance-count and price-table."""
    return Serving(
        aws_value(
            "serving-instance-type",
            values["serving-instance-type"],
            "sagemaker",
            "ProductionVariantInstanceType",
        ),
        whole_number("serving-instance-count", values["serving-instance-count"], 1, 100),
        checked_prices(values, backend, region),
    )


def cost_metrics(serving: Serving, region: str, rules: Sequence[Rule]) -> dict[str, float]:
    """{hourly_cost: USD} for the candidate's metric table. When no price is available and a
    rule names the metric, the gate fails with the reason (StageError): a cost rule never
    passes for want of a price. Without such a rule an unknown cost is left out."""
    found = serving.cost(region)
    if found.usd is not None:
        return {COST_METRIC: round(found.usd, 6)}
    if COST_METRIC in {name for rule in rules for name in (rule.metric, rule.reference)}:
        raise StageError(
            f"{COST_METRIC} is not known",
            f"a rule compares {COST_METRIC}, and {found.why_not} "
            f"({serving.instance_count} x {serving.instance_type} in {region}; "
            f"{serving.prices.describe()}). Give its price in price-table, or change "
            "serving-instance-type.",
        )
    return {}


def kept(decision: GateDecision, candidate: Mapping[str, float]) -> set[str]:
    """The metrics to keep on the package: those the rules read, and the cost when known,
    which the next candidate is compared with when this one is the champion."""
    return {r.metric for r in decision.results} | ({COST_METRIC} & set(candidate))


def serving_line(serving: Serving, region: str) -> str:
    """Where register-and-gate's hourly_cost comes from."""
    return (
        f"hourly_cost: {serving.instance_count} x {serving.instance_type} in {region} "
        f"(serving-instance-type, serving-instance-count); {serving.prices.describe()}."
    )


# The pull request's review predicts the gate's verdict from the evaluation alone.
NOT_PREDICTED = (
    "Not predicted here: {rules}. register-and-gate judges the serving cost "
    "(serving-instance-type, priced by its price table); the review has no cost to compare."
)


def split_cost_rules(rules: Sequence[Rule]) -> tuple[list[Rule], list[Rule]]:
    """(the rules on anything but the serving cost, the rules on it)."""
    on_cost = [r for r in rules if COST_METRIC in (r.metric, r.reference)]
    return [r for r in rules if r not in on_cost], on_cost
