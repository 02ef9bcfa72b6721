"""Prices from the AWS Price List Query API, when a stage's `price-table` asks for them.

`price-table: aws-price-list` asks the API (pricing:GetProducts) for each instance type's
on-demand price, then the shipped table prices what it did not; `aws-price-list,prices.json`
puts a team's table between the two. The API comes first because it is AWS's current list
price; a team whose own prices must win (a discount, which no list shows) gives its table
alone. The source line of every summary says which source priced what, and the dates: the
API's on-demand term's effectiveDate (and the price list's publicationDate), each table's
date, or why the API was not used (denied, failed, the local backend).

A price is asked once per (use, instance type, region) in a process, when a summary first
needs it; after a denial or failure nothing more is asked (the tables answer). The answer is
read strictly: exactly one product, the one asked for, with exactly one on-demand term of
exactly one USD price per "Hrs". Anything else is no price (the tables then answer, or the
cost is unknown), never a guess.

The products' attributes (productFamily "ML Instance", regionCode, instanceName,
platoinstancetype) are not documented by AWS for SageMaker; they are what public clients of
the Query API filter on (an AWS sample's PricingClient asks productFamily, regionCode,
instanceName and platoinstancetype "Hosting"; vantage-sh/ec2instances.info's sagemaker.py
reads platoinstancetype "Hosting", "Training", "Processing", "BatchTransform" from the
AmazonSageMaker offer file). They could not be checked against AWS here (no network): an
attribute value that matched nothing would make every answer "no product", so the tables
would price, and the source line would say so. The item's shape (product.attributes,
terms.OnDemand.<term>.priceDimensions.<dimension>.pricePerUnit.USD, unit, effectiveDate,
publicationDate) is the AWS CLI's documented get-products output; botocore's model gives
each PriceList entry as a JSON string (PriceListJsonItems).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from smgha.backends import PriceListUnavailable, ProductSearch
from smgha.resources.prices import Price, Prices, load_prices

PRICE_LIST = "aws-price-list"  # the reserved value of price-table
SERVICE_CODE = "AmazonSageMaker"
PRODUCT_FAMILY = "ML Instance"
# What each use is billed as: the product attribute platoinstancetype (see the docstring).
BILLED_AS = {
    "training": "Training",
    "processing": "Processing",
    "hosting": "Hosting",
    "transform": "BatchTransform",
}
LOCAL = "the local backend calls no AWS"
NOT_ASKED = "no price was asked of it"

_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T|$)", re.ASCII)


def requested(value: str) -> tuple[bool, str]:
    """(whether `price-table` asks the AWS Price List API, the team table's path or '')."""
    first, _, rest = value.partition(",")
    if first.strip() != PRICE_LIST:
        return False, value
    return True, rest.strip()


def attributes(use: str, instance_type: str, region: str) -> dict[str, str]:
    """The product attributes that name one SageMaker instance price."""
    return {
        "productFamily": PRODUCT_FAMILY,
        "regionCode": region,
        "instanceName": instance_type,
        "platoinstancetype": BILLED_AS[use],
    }


def filters(use: str, instance_type: str, region: str) -> list[dict[str, str]]:
    """GetProducts' Filters: a TERM_MATCH on each attribute."""
    wanted = attributes(use, instance_type, region)
    return [{"Type": "TERM_MATCH", "Field": name, "Value": v} for name, v in wanted.items()]


@dataclass(frozen=True)
class Listed:
    """One on-demand price of the list: USD per instance-hour, and its dates (YYYY-MM-DD)."""

    usd_per_hour: float
    effective: str  # the on-demand term's effectiveDate
    published: str  # the price list's publicationDate ('' when the item has none)


def listed_price(items: list[str], wanted: Mapping[str, str]) -> Listed | str:
    """The one on-demand USD price per hour of `items` (GetProducts' PriceList), or why
    there is none."""
    if len(items) != 1:
        return f"{len(items)} products match" if items else "no product matches"
    try:
        item = json.loads(items[0])
    except ValueError:
        return "its answer is not JSON"
    if not isinstance(item, dict):
        return "its answer is not a JSON object"
    product = _object(item, "product")
    found = dict(_object(product, "attributes"), productFamily=product.get("productFamily"))
    if item.get("serviceCode") != SERVICE_CODE or any(found.get(k) != v for k, v in wanted.items()):
        return "its product is not the one asked for"
    terms = _object(_object(item, "terms"), "OnDemand")
    if len(terms) != 1:
        return f"{len(terms)} on-demand terms"
    (term,) = terms.values()
    dimensions = _object(term, "priceDimensions")
    if len(dimensions) != 1:
        return f"{len(dimensions)} price dimensions"
    (dimension,) = dimensions.values()
    return _hourly(dimension if isinstance(dimension, dict) else {}, term, item)


def _hourly(dimension: dict[str, Any], term: dict[str, Any], item: dict[str, Any]) -> Listed | str:
    if dimension.get("unit") != "Hrs":
        return f"its unit is {dimension.get('unit')!r}, not Hrs"
    if (dimension.get("beginRange", "0"), dimension.get("endRange", "Inf")) != ("0", "Inf"):
        return "its price is tiered"
    usd = _object(dimension, "pricePerUnit").get("USD")
    try:
        price = Decimal(usd) if isinstance(usd, str) else Decimal("NaN")
    except InvalidOperation:
        price = Decimal("NaN")
    # Zero is a free tier's entry, not an instance's price.
    if not price.is_finite() or price <= 0:
        return f"its USD price per hour is {usd!r}"
    effective = _date(term.get("effectiveDate"))
    if not effective:
        return "its on-demand term has no effectiveDate"
    return Listed(float(price), effective, _date(item.get("publicationDate")))


def _object(parent: Any, key: str) -> dict[str, Any]:
    """parent[key] when both are JSON objects, else {} (which no check accepts)."""
    found = parent.get(key) if isinstance(parent, dict) else None
    return found if isinstance(found, dict) else {}


def _date(text: Any) -> str:
    match = _DATE.match(text) if isinstance(text, str) else None
    return match.group(1) if match else ""


class AwsPriceList:
    """The prices.PriceListSource of the AWS Price List API: each (use, instance type,
    region) asked once, through `search` (None: there is no AWS, `why_none` says so)."""

    def __init__(self, search: ProductSearch | None, why_none: str = LOCAL) -> None:
        self._search = search
        self._unavailable = "" if search is not None else why_none
        self._answers: dict[tuple[str, str, str], Listed | str] = {}

    def hourly(self, use: str, instance_type: str, region: str) -> Price | None:
        key = (use, instance_type, region)
        if key not in self._answers:
            if self._search is None or self._unavailable:
                return None
            try:
                items = self._search(SERVICE_CODE, filters(*key))
            except PriceListUnavailable as error:
                self._unavailable = str(error)
                return None
            self._answers[key] = listed_price(items, attributes(*key))
        answer = self._answers[key]
        if isinstance(answer, str):
            return None
        return Price(answer.usd_per_hour, f"AWS Price List API, effective {answer.effective}")

    def describe(self) -> tuple[str, str]:
        listed = [a for a in self._answers.values() if isinstance(a, Listed)]
        unpriced = [
            f"{instance_type} ({use} in {region}: {why})"
            for (use, instance_type, region), why in self._answers.items()
            if isinstance(why, str)
        ]
        notes = []
        if unpriced:
            notes.append("no single on-demand USD price per hour for " + ", ".join(unpriced))
        if self._unavailable:
            notes.append(self._unavailable)
        if not listed:
            return "", "AWS Price List API not used: " + ("; ".join(notes) or NOT_ASKED)
        effective = ", ".join(sorted({a.effective for a in listed}))
        published = ", ".join(sorted({a.published for a in listed if a.published}))
        label = f"AWS Price List API (pricing:GetProducts; on-demand terms effective {effective}"
        label += f"; price list published {published})" if published else ")"
        return label, "; ".join(f"AWS Price List API: {note}" for note in notes)


def prices_for(
    value: str,
    search: Callable[[], ProductSearch | None],
    team_path: Callable[[str], str] = str,
) -> Prices:
    """The prices `value` (a `price-table`) names: a team's table over the shipped one, and
    with `aws-price-list` the API before them, through `search()` (called only then; None:
    no AWS). `team_path` checks the team table's path (a stage holds it to the workspace)."""
    asks, team = requested(value)
    prices = load_prices(team_path(team) if team else "")
    if not asks:
        return prices
    return replace(prices, price_list=AwsPriceList(search()))
