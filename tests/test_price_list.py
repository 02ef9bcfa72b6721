"""Prices from the AWS Price List Query API (smgha/resources/price_list.py, the GetProducts
adapter smgha/backends/aws/price_list.py): `price-table: aws-price-list`. moto implements no
`pricing` service, so a real boto3 client answers through botocore's Stubber, which checks
each request against the pricing service model and the exact parameters expected; the
answers are shaped as the AWS CLI's documented get-products output (PriceList entries are
JSON strings, botocore's PriceListJsonItems)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber

from smgha.backends.aws.price_list import MAX_PAGES, PAGE_SIZE, GetProducts, endpoint_region
from smgha.errors import StageError
from smgha.gates import parse_rules
from smgha.resources import hosting_cost, price_list
from smgha.resources.price_list import AwsPriceList, listed_price, prices_for
from smgha.resources.prices import SHIPPED_DATE
from smgha.runner import Runner
from smgha.stages import deploy_endpoint

REGION = "us-east-1"
HOSTING = price_list.attributes("hosting", "ml.m5.large", REGION)


def item(
    price: str = "0.1150000000",
    *,
    attributes: dict[str, str] | None = None,
    unit: str = "Hrs",
    effective: str = "2026-11-01T00:00:00Z",
    published: str = "2026-11-20T17:02:11Z",
    dimensions: int = 1,
    terms: int = 1,
) -> str:
    """One GetProducts PriceList entry, as AWS sends it: a JSON string."""
    wanted = {**HOSTING, **(attributes or {})}
    family = wanted.pop("productFamily")
    sku = "JMCWJEAPVJNFJ5P4"
    dimension = {
        "unit": unit,
        "endRange": "Inf",
        "description": "$0.115 per Hosting ml.m5.large hour in US East (N. Virginia)",
        "appliesTo": [],
        "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
        "beginRange": "0",
        "pricePerUnit": {"USD": price},
    }
    term = {
        "priceDimensions": {f"{sku}.JRTCKXETXF.{n}": dimension for n in range(dimensions)},
        "sku": sku,
        "effectiveDate": effective,
        "offerTermCode": "JRTCKXETXF",
        "termAttributes": {},
    }
    document = {
        "product": {
            "productFamily": family,
            "attributes": {
                **wanted,
                "servicecode": "AmazonSageMaker",
                "usagetype": f"USE1-Host:{wanted['instanceName']}",
                "location": "US East (N. Virginia)",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonSageMaker",
        "terms": {"OnDemand": {f"{sku}.TERM{n}": term for n in range(terms)}},
        "version": "20261120170211",
        "publicationDate": published,
    }
    return json.dumps(document)


def request(use: str = "hosting", kind: str = "ml.m5.large", **more: Any) -> dict[str, Any]:
    return {
        "ServiceCode": "AmazonSageMaker",
        "Filters": price_list.filters(use, kind, REGION),
        "FormatVersion": "aws_v1",
        "MaxResults": PAGE_SIZE,
        **more,
    }


def answer(*items: str, next_token: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": list(items)}
    if next_token:
        found["NextToken"] = next_token
    return found


def recorded(client: BaseClient) -> list[dict[str, Any]]:
    """The parameters of every GetProducts call `client` makes, as they are sent. (The
    Stubber's own complaints, an unexpected call or parameter, are BotoCoreErrors, which the
    adapter turns into "GetProducts failed": the tests count the calls instead.)"""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register("provide-client-params.pricing.GetProducts", record)
    return calls


@pytest.fixture
def pricing() -> Iterator[tuple[BaseClient, Stubber, list[dict[str, Any]]]]:
    client = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("pricing")
    calls = recorded(client)
    with Stubber(client) as stub:
        yield client, stub, calls
        stub.assert_no_pending_responses()


def source(client: BaseClient) -> AwsPriceList:
    return AwsPriceList(GetProducts(None, REGION, client=client))


# ---- one price, its dates, once ------------------------------------------------------------


def test_a_real_shaped_answer_is_the_price_with_its_dates(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(item()), request())
    prices = prices_for(price_list.PRICE_LIST, lambda: GetProducts(None, REGION, client=client))

    price = prices.hourly("hosting", "ml.m5.large", REGION)

    assert price is not None and price.usd_per_hour == 0.115
    assert calls == [request()]
    assert price.table == "AWS Price List API, effective 2026-11-01"
    assert prices.describe() == (
        "prices (USD, on-demand): AWS Price List API (pricing:GetProducts; on-demand terms "
        "effective 2026-11-01; price list published 2026-11-20); then the project's table "
        f"(AWS's on-demand prices as recorded, unverified here), {SHIPPED_DATE}"
    )


def test_each_use_type_and_region_is_asked_once(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(item()), request())
    training = {"platoinstancetype": "Training"}
    stub.add_response(
        "get_products", answer(item("0.12", attributes=training)), request("training")
    )
    listed = source(client)

    for _ in range(3):
        assert listed.hourly("hosting", "ml.m5.large", REGION) is not None
    twice = [listed.hourly("training", "ml.m5.large", REGION) for _ in range(2)]

    assert [p.usd_per_hour for p in twice if p] == [0.12, 0.12]
    assert calls == [request(), request("training")]


def test_the_filters_name_sagemaker_s_instance_price_by_use() -> None:
    billed = {
        use: price_list.filters(use, "ml.c5.xlarge", "eu-west-1") for use in price_list.BILLED_AS
    }
    assert billed["transform"] == [
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "ML Instance"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": "ml.c5.xlarge"},
        {"Type": "TERM_MATCH", "Field": "platoinstancetype", "Value": "BatchTransform"},
    ]
    assert [f[-1]["Value"] for f in billed.values()] == [
        "Training",
        "Processing",
        "Hosting",
        "BatchTransform",
    ]


# ---- denied, failed, no AWS: the tables, and the line says why ---------------------------


def test_a_denial_falls_back_to_the_tables_and_asks_nothing_more(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_client_error(
        "get_products",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized",
        http_status_code=400,
        expected_params=request(),
    )
    prices = prices_for(price_list.PRICE_LIST, lambda: GetProducts(None, REGION, client=client))

    price = prices.hourly("hosting", "ml.m5.large", REGION)
    again = prices.hourly("training", "ml.c5.xlarge", REGION)  # no second call (none stubbed)

    assert price is not None and price.usd_per_hour == 0.115 and again is not None
    assert calls == [request()]
    assert price.table.startswith("the project's table")
    assert prices.describe().startswith(
        "AWS Price List API not used: pricing:GetProducts denied (AccessDeniedException); "
        "prices (USD, on-demand): the project's table"
    )
    assert "123456789012" not in prices.describe()


def test_a_failure_says_its_code(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_client_error(
        "get_products", "ThrottlingException", "Rate exceeded", 400, expected_params=request()
    )
    listed = source(client)

    assert listed.hourly("hosting", "ml.m5.large", REGION) is None
    assert len(calls) == 1
    assert listed.describe() == (
        "",
        "AWS Price List API not used: GetProducts failed (ThrottlingException: Rate exceeded)",
    )


def test_the_local_backend_asks_no_aws_and_says_so(tmp_path: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_PRICE-TABLE": "aws-price-list"}
    values = hosting_cost.InputValues(Runner(env=env), hosting_cost.INPUTS)
    prices = hosting_cost.checked_prices(values, "local", REGION)

    assert prices.hourly("hosting", "ml.m5.large", REGION) is not None
    assert prices.describe().startswith(
        "AWS Price List API not used: the local backend calls no AWS; prices (USD, on-demand): "
        "the project's table"
    )


def test_not_asked_is_said_too() -> None:
    assert AwsPriceList(lambda code, filters: []).describe() == (
        "",
        "AWS Price List API not used: no price was asked of it",
    )


# ---- strict reading: anything but one on-demand USD price per hour is unknown ------------


@pytest.mark.parametrize(
    ("items", "why"),
    [
        ([], "no product matches"),
        ([item(), item("0.2")], "2 products match"),
        (["{not json"], "its answer is not JSON"),
        (["[1]"], "its answer is not a JSON object"),
        ([item(attributes={"regionCode": "us-west-2"})], "its product is not the one asked for"),
        (
            [item(attributes={"platoinstancetype": "SpotTraining"})],
            "its product is not the one asked for",
        ),
        (
            [item(attributes={"productFamily": "ML Storage"})],
            "its product is not the one asked for",
        ),
        ([item(terms=2)], "2 on-demand terms"),
        ([item(terms=0)], "0 on-demand terms"),
        ([item(dimensions=2)], "2 price dimensions"),
        ([item(unit="GB-Mo")], "its unit is 'GB-Mo', not Hrs"),
        ([item("0.0000000000")], "its USD price per hour is '0.0000000000'"),
        ([item("n/a")], "its USD price per hour is 'n/a'"),
        ([item("NaN")], "its USD price per hour is 'NaN'"),
        ([item(effective="")], "its on-demand term has no effectiveDate"),
    ],
)
def test_anything_but_one_hourly_usd_price_is_unknown(items: list[str], why: str) -> None:
    assert listed_price(items, HOSTING) == why


def test_a_tiered_or_dateless_answer_is_no_price_either() -> None:
    tiered = json.loads(item())
    (term,) = tiered["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    dimension["endRange"] = "744"
    assert listed_price([json.dumps(tiered)], HOSTING) == "its price is tiered"
    undated = listed_price([item(published="")], HOSTING)
    assert isinstance(undated, price_list.Listed) and undated.published == ""


def test_an_ambiguous_answer_leaves_the_price_to_the_tables_and_says_so(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(item(), item("0.2")), request())
    typed = {"instanceName": "ml.m5.xlarge"}
    stub.add_response(
        "get_products", answer(item("0.25", attributes=typed)), request(kind="ml.m5.xlarge")
    )
    prices = prices_for(price_list.PRICE_LIST, lambda: GetProducts(None, REGION, client=client))

    shipped = prices.hourly("hosting", "ml.m5.large", REGION)
    listed = prices.hourly("hosting", "ml.m5.xlarge", REGION)

    assert shipped is not None and shipped.usd_per_hour == 0.115  # the shipped table's
    assert listed is not None and listed.usd_per_hour == 0.25
    assert len(calls) == 2
    assert prices.describe().startswith(
        "AWS Price List API: no single on-demand USD price per hour for ml.m5.large (hosting in "
        "us-east-1: 2 products match); prices (USD, on-demand): AWS Price List API"
    )


def test_pages_are_read_to_the_end_and_more_than_one_product_is_unknown(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(item(), next_token="page-2"), request())
    stub.add_response("get_products", answer(item("0.2")), request(NextToken="page-2"))

    listed = source(client)

    assert listed.hourly("hosting", "ml.m5.large", REGION) is None
    assert calls == [request(), request(NextToken="page-2")]
    assert "(hosting in us-east-1: 2 products match)" in listed.describe()[1]


def test_an_endless_answer_stops_after_max_pages(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(next_token="t1"), request())
    for page in range(1, MAX_PAGES):
        stub.add_response(
            "get_products", answer(next_token=f"t{page + 1}"), request(NextToken=f"t{page}")
        )
    listed = source(client)

    assert listed.hourly("hosting", "ml.m5.large", REGION) is None
    assert len(calls) == MAX_PAGES
    assert "no product matches" in listed.describe()[1]


# ---- the reserved value, the order of the sources, the endpoints ---------------------------


def test_a_team_table_after_the_api_and_before_the_shipped_one(
    pricing: Any, tmp_path: Path
) -> None:
    client, stub, calls = pricing
    stub.add_response("get_products", answer(item()), request())
    team = {
        "date": "2026-10-01",
        "source": "ours",
        "regions": {REGION: {"hosting": {"ml.c5.large": 0.09}}},
    }
    (tmp_path / "prices.json").write_text(json.dumps(team))
    prices = prices_for(
        "aws-price-list, prices.json",
        lambda: GetProducts(None, REGION, client=client),
        lambda path: str(tmp_path / path),
    )

    assert [p.usd_per_hour for p in (prices.hourly("hosting", "ml.m5.large", REGION),) if p] == [
        0.115
    ]
    assert calls == [request()]
    assert price_list.requested("aws-price-list, prices.json") == (True, "prices.json")
    assert price_list.requested("prices.json") == (False, "prices.json")
    assert price_list.requested("aws-price-list") == (True, "")
    assert prices.describe().split("; then ")[1:] == [
        "ours, 2026-10-01",
        f"the project's table (AWS's on-demand prices as recorded, unverified here), {SHIPPED_DATE}",
    ]


def test_without_the_reserved_value_nothing_asks_aws() -> None:
    def never() -> None:
        raise AssertionError("the Price List API was set up without aws-price-list")

    assert prices_for("", never).price_list is None


def test_the_client_uses_a_query_api_endpoint_near_the_job() -> None:
    endpoints = botocore.session.get_session().get_data("endpoints")
    (aws,) = [p for p in endpoints["partitions"] if p["partition"] == "aws"]
    served = set(aws["services"]["api.pricing"]["endpoints"])
    chosen = {
        region: endpoint_region(region)
        for region in ("us-west-2", "eu-west-3", "ap-northeast-1", "sa-east-1", "me-south-1")
    }
    assert chosen == {
        "us-west-2": "us-east-1",
        "eu-west-3": "eu-central-1",
        "ap-northeast-1": "ap-south-1",
        "sa-east-1": "us-east-1",
        "me-south-1": "us-east-1",
    }
    assert set(chosen.values()) <= served == {"us-east-1", "eu-central-1", "ap-south-1"}
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x")
    client = GetProducts(lambda: session, "eu-west-1").client()
    assert client.meta.region_name == "eu-central-1"


def deploy_inputs(backend: str, table: str) -> deploy_endpoint.Inputs:
    inputs = {
        "backend": backend,
        "region": REGION,
        "role-arn": "arn:aws:iam::123456789012:role/churn-execution",
        "model-package-arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1",
        "endpoint-name": "churn-staging",
        "price-table": table,
    }
    env = {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
    return deploy_endpoint.load_inputs(Runner(env=env, stdout=io.StringIO()))


def test_the_reserved_value_through_deploy_endpoint_s_inputs() -> None:
    on_aws = deploy_inputs("sagemaker", "aws-price-list")
    assert isinstance(on_aws.prices.price_list, AwsPriceList)
    assert on_aws.prices.describe() == (  # nothing asked yet: no call was made
        "AWS Price List API not used: no price was asked of it; prices (USD, on-demand): "
        f"the project's table (AWS's on-demand prices as recorded, unverified here), {SHIPPED_DATE}"
    )
    local = deploy_inputs("local", "aws-price-list")
    assert "the local backend calls no AWS" in local.prices.describe()
    assert deploy_inputs("local", "").prices.price_list is None


def test_a_cost_rule_without_any_price_still_fails_the_gate_with_its_reason(pricing: Any) -> None:
    client, stub, calls = pricing
    stub.add_client_error("get_products", "AccessDeniedException", "no", 400)
    prices = prices_for(price_list.PRICE_LIST, lambda: GetProducts(None, REGION, client=client))
    serving = hosting_cost.Serving("ml.x99.huge", 1, prices)

    with pytest.raises(StageError) as caught:
        hosting_cost.cost_metrics(serving, REGION, parse_rules(["hourly_cost <= 1"]))

    assert len(calls) == 1
    assert "cost unknown for ml.x99.huge" in caught.value.detail
    assert "AWS Price List API not used: pricing:GetProducts denied" in caught.value.detail
