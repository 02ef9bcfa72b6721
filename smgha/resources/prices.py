"""What SageMaker instances cost: a dated price table the project ships, which a team's own
table (a JSON file, the stages' `price-table` input) overrides entry by entry.

Every price carries the table it came from, and every summary that shows a cost says which
table and which date: prices change, and a team with a discount or another region knows its
own. A price missing from every table is None, and the summaries say "cost unknown for <type>"
instead of guessing; a table that does not parse is reported, never silently replaced by
another (its owner asked for its prices).

The shipped prices are SageMaker AI's on-demand prices per instance-hour, in USD, as this
project recorded them from AWS's public pricing page (https://aws.amazon.com/sagemaker/pricing/)
on SHIPPED_DATE. They were not checked against the AWS Price List API here (no network): check
them, or give your own table. SageMaker bills instances per second (training, processing,
transform: from start to end of the job; endpoints: while they run).

A team's table (JSON):

    {"date": "2026-11-01", "source": "our enterprise discount",
     "regions": {"us-east-1": {"hosting": {"ml.m5.large": 0.09}, "training": {...}}}}

uses: training, processing, hosting, transform.

Before the tables, a price list service may be asked (`PriceListSource`: the AWS Price List
API, smgha/resources/price_list.py, when `price-table` is `aws-price-list`): its price comes
first, and the tables price what it does not. It says in the source line what it gave, and
why it gave nothing when it did not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

USES = ("training", "processing", "hosting", "transform")
HOURS_PER_MONTH = 730  # AWS's pricing pages count a month as 730 hours
SHIPPED_DATE = "2026-12-05"
SHIPPED_SOURCE = "the project's table (AWS's on-demand prices as recorded, unverified here)"

# us-east-1, on-demand, USD per instance-hour. The same instance costs the same for training,
# processing and batch transform; hosting differs for a few types.
_GENERAL = {
    "ml.t3.medium": 0.05,
    "ml.t3.large": 0.10,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.c5.4xlarge": 0.816,
    "ml.g4dn.xlarge": 0.736,
    "ml.g5.xlarge": 1.408,
    "ml.p3.2xlarge": 3.825,
}
SHIPPED: dict[str, dict[str, dict[str, float]]] = {
    "us-east-1": {
        "training": dict(_GENERAL),
        "processing": dict(_GENERAL),
        "transform": dict(_GENERAL),
        "hosting": {**_GENERAL, "ml.t2.medium": 0.056, "ml.t2.large": 0.111},
    }
}


@dataclass(frozen=True)
class Price:
    """USD per instance-hour, and the table it came from."""

    usd_per_hour: float
    table: str

    def cost(self, instances: int, seconds: float) -> float:
        """What `instances` of it cost for `seconds` (billed per second)."""
        return self.usd_per_hour * instances * seconds / 3600


@dataclass(frozen=True)
class PriceTable:
    date: str
    source: str
    regions: Mapping[str, Mapping[str, Mapping[str, float]]]

    @property
    def label(self) -> str:
        return f"{self.source}, {self.date}"

    def hourly(self, use: str, instance_type: str, region: str) -> Price | None:
        found = self.regions.get(region, {}).get(use, {}).get(instance_type)
        return None if found is None else Price(float(found), self.label)


SHIPPED_TABLE = PriceTable(SHIPPED_DATE, SHIPPED_SOURCE, SHIPPED)


class PriceListSource(Protocol):
    """Prices asked of a service one instance type at a time, before any table."""

    def hourly(self, use: str, instance_type: str, region: str) -> Price | None: ...

    def describe(self) -> tuple[str, str]:
        """(its label with its dates, to name first among the sources, when it gave a price,
        else ''; a note for the summary on what it did not price and why, else '')."""
        ...


@dataclass(frozen=True)
class Prices:
    """The tables in order of precedence (a team's first), and why a given one is unusable;
    `price_list` is asked before them."""

    tables: tuple[PriceTable, ...]
    problem: str = ""
    price_list: PriceListSource | None = None

    def hourly(self, use: str, instance_type: str, region: str) -> Price | None:
        """The price list's price of `instance_type` for `use` in `region`, else the first
        table's, or None."""
        assert use in USES, use
        if self.problem:
            return None
        if self.price_list is not None:
            listed = self.price_list.hourly(use, instance_type, region)
            if listed is not None:
                return listed
        for table in self.tables:
            price = table.hourly(use, instance_type, region)
            if price is not None:
                return price
        return None

    def fleet_hourly(
        self, use: str, fleet: Iterable[tuple[str, int]], region: str
    ) -> tuple[float, list[str]]:
        """What (instance type, count) pairs cost an hour together, and the instance types no
        table prices (left out of the total: the caller says the cost is unknown)."""
        total, unknown = 0.0, []
        for instance_type, count in fleet:
            price = self.hourly(use, instance_type, region)
            if price is None:
                unknown.append(instance_type)
            else:
                total += price.usd_per_hour * count
        return total, unknown

    def describe(self) -> str:
        """One line for a summary: which sources, of which dates (or why none is used)."""
        if self.problem:
            return f"prices: {self.problem}; costs are unknown"
        label, note = self.price_list.describe() if self.price_list else ("", "")
        sources = [t.label for t in self.tables]
        if label:
            sources.insert(0, label)
        prefix = f"{note}; " if note else ""
        return prefix + "prices (USD, on-demand): " + "; then ".join(sources)


def _table(document: Any, name: str) -> PriceTable:
    """A team's table from its JSON document; ValueError says what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object")
    date, source, regions = document.get("date"), document.get("source"), document.get("regions")
    if not isinstance(date, str) or not date:
        raise ValueError('it has no "date" (the day its prices were read)')
    if not isinstance(regions, dict):
        raise ValueError('it has no "regions" object')
    for region, uses in regions.items():
        if not isinstance(uses, dict) or set(uses) - set(USES):
            raise ValueError(f"{region}: the uses are {', '.join(USES)}")
        for use, prices in uses.items():
            bad = [
                t
                for t, p in (prices.items() if isinstance(prices, dict) else [("?", None)])
                if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0
            ]
            if bad:
                raise ValueError(f"{region} {use}: not a price per hour: {', '.join(bad)}")
    return PriceTable(date, str(source or name), regions)


def load_prices(path: str = "") -> Prices:
    """The shipped table, under the team's table at `path` when one is given. A table that
    cannot be read or does not parse is the problem of the result (its costs are unknown),
    never an exception: a price is information, not a reason to fail a build."""
    if not path:
        return Prices((SHIPPED_TABLE,))
    try:
        text = Path(path).read_text(encoding="utf-8")
        team = _table(json.loads(text), Path(path).name)
    except (OSError, ValueError) as error:
        return Prices((), f"price table {path} is not usable ({error})")
    return Prices((team, SHIPPED_TABLE))


def money(usd: float) -> str:
    """$0.0123 below a dollar (small jobs cost cents), else $12.34."""
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"
