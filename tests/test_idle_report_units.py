"""The idle report's pieces without AWS: GetMetricData paging, variants, costs, the table."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, cast

import pytest
from botocore.client import BaseClient

from smgha.backends.aws.client import AwsClients
from smgha.idle_report import (
    BILLED_PER_REQUEST,
    EndpointUsage,
    IdleReport,
    Variant,
    endpoint_cost,
    endpoint_variants,
    invocation_sums,
    render,
    unjudgeable,
)
from smgha.resources.prices import Prices, load_prices

END = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)


class _Paginator:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = calls

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        self.calls.append(request)
        ids = [q["Id"] for q in request["MetricDataQueries"]]
        # Two pages, as CloudWatch may answer: each query's values split across them.
        return [
            {"MetricDataResults": [{"Id": i, "Values": [1.0]} for i in ids]},
            {"MetricDataResults": [{"Id": i, "Values": [2.0]} for i in ids[:1]]},
        ]


class _CloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> _Paginator:
        assert name == "get_metric_data"
        return _Paginator(self.calls)


def test_more_than_500_variants_are_asked_in_calls_of_at_most_500_queries() -> None:
    cloudwatch = _CloudWatch()
    clients = AwsClients("us-east-1")
    clients._clients["cloudwatch"] = cast(BaseClient, cloudwatch)
    endpoints = [(f"endpoint-{n}", ["AllTraffic", "Blue"]) for n in range(260)]  # 520 queries

    sums = invocation_sums(clients, endpoints, 7, END)

    assert [len(c["MetricDataQueries"]) for c in cloudwatch.calls] == [500, 20]
    assert all(c["EndTime"] - c["StartTime"] == dt.timedelta(days=7) for c in cloudwatch.calls)
    assert {
        q["MetricStat"]["Period"] for c in cloudwatch.calls for q in c["MetricDataQueries"]
    } == {7 * 86400}
    # Both variants' sums, across both pages of each call.
    assert sums["endpoint-0"] == 1 + 2 + 1
    assert sums["endpoint-1"] == 2
    assert sums["endpoint-250"] == 1 + 2 + 1  # the first query of the second call
    assert len(sums) == 260


def test_variants_take_current_counts_and_the_config_s_instance_types() -> None:
    endpoint = {
        "ProductionVariants": [{"VariantName": "Blue", "CurrentInstanceCount": 3}],
        "ShadowProductionVariants": [{"VariantName": "Shadow"}],
    }
    config = {
        "ProductionVariants": [
            {"VariantName": "Blue", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        "ShadowProductionVariants": [
            {"VariantName": "Shadow", "InstanceType": "ml.c5.large", "InitialInstanceCount": 2}
        ],
    }

    variants = endpoint_variants(endpoint, config)

    assert variants == (
        Variant("Blue", "ml.m5.large", 3),
        Variant("Shadow", "ml.c5.large", 2, shadow=True),
    )
    cost = endpoint_cost(variants, load_prices(), "us-east-1")
    assert cost.usd_per_hour is not None
    assert round(cost.usd_per_hour, 6) == round(3 * 0.115 + 2 * 0.102, 6)
    assert endpoint_variants(endpoint, None)[0] == Variant("Blue", "", 3)


def test_costs_say_why_they_are_unknown() -> None:
    prices = load_prices()
    gone = endpoint_cost([Variant("Blue", "", 1)], prices, "us-east-1")
    assert (gone.usd_per_hour, gone.note) == (
        None,
        "cost unknown for Blue (its endpoint config is gone)",
    )
    elsewhere = endpoint_cost([Variant("Blue", "ml.m5.large", 1)], prices, "eu-west-1")
    assert elsewhere.hourly_text() == "cost unknown for ml.m5.large"
    serverless = endpoint_cost([Variant("A", "", 0, serverless=True)], prices, "us-east-1")
    assert (serverless.hourly_text(), serverless.monthly_text()) == (BILLED_PER_REQUEST, "–")
    broken = endpoint_cost([Variant("A", "ml.m5.large", 1)], Prices((), "bad table"), "us-east-1")
    assert broken.usd_per_hour is None


def test_the_table_totals_the_idle_endpoints_monthly_cost() -> None:
    prices = load_prices()
    old = END - dt.timedelta(days=30)

    def usage(name: str, invocations: int, instance: str, count: int) -> EndpointUsage:
        variants = (Variant("AllTraffic", instance, count),)
        return EndpointUsage(
            name, old, variants, endpoint_cost(variants, prices, "us-east-1"), invocations
        )

    report = IdleReport(
        "us-east-1",
        14,
        END,
        (
            usage("a", 0, "ml.m5.large", 2),
            usage("b", 0, "ml.c5.xlarge", 1),
            usage("c", 9, "ml.p3.2xlarge", 1),
        ),
        prices.describe(),
    )

    text = render(report)

    assert [u.name for u in report.idle] == ["a", "b"]
    # (2 x 0.115 + 0.204) $/h x 730 h = 316.82 $
    assert "**2 idle endpoint(s), $316.82 a month**." in text
    assert "| c | 30 d | AllTraffic: 1 × ml.p3.2xlarge | 9 | $3.83 | $2,792.25 | no |" in text
    assert text.rstrip().endswith(f"_{prices.describe()}_")


def test_endpoints_whose_invocations_cannot_be_counted_are_not_judged() -> None:
    plain = {"ProductionVariants": [{"VariantName": "A", "ModelName": "m"}]}
    assert unjudgeable(plain) == ""
    assert unjudgeable(None) == "its endpoint config is gone"
    assert unjudgeable({**plain, "AsyncInferenceConfig": {"OutputConfig": {}}}).startswith(
        "asynchronous"
    )
    components = {"ProductionVariants": [{"VariantName": "A", "InstanceType": "ml.g5.xlarge"}]}
    assert unjudgeable(components).startswith("inference components")


def test_a_refused_deletion_still_prints_the_report_and_names_the_permission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the opt-in deletion policy DeleteEndpoint is AccessDenied: the report is
    printed (nothing deleted), then the error naming sagemaker:DeleteEndpoint; exit 1."""
    import boto3
    from botocore.stub import Stubber

    from smgha.backends.aws import client as aws_client
    from smgha.cli import build_parser
    from smgha.idle_report_cli import run

    sagemaker = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    stub = Stubber(sagemaker)
    created = END - dt.timedelta(days=30)
    stub.add_response(
        "list_endpoints",
        {"Endpoints": [{"EndpointName": "old", "EndpointArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/old",
                        "CreationTime": created, "LastModifiedTime": created, "EndpointStatus": "InService"}]},
        {"StatusEquals": "InService", "MaxResults": 100},
    )  # fmt: skip
    stub.add_response(
        "describe_endpoint",
        {"EndpointName": "old", "EndpointArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/old",
         "EndpointConfigName": "old-config", "EndpointStatus": "InService", "CreationTime": created,
         "LastModifiedTime": created,
         "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 1}]},
        {"EndpointName": "old"},
    )  # fmt: skip
    stub.add_response(
        "describe_endpoint_config",
        {"EndpointConfigName": "old-config", "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint-config/old-config",
         "CreationTime": created,
         "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]},
        {"EndpointConfigName": "old-config"},
    )  # fmt: skip
    stub.add_client_error(
        "delete_endpoint",
        "AccessDeniedException",
        "User: arn:aws:sts::111122223333:assumed-role/churn-github-build/x is not authorized",
        expected_params={"EndpointName": "old"},
    )
    clients = AwsClients("us-east-1")
    clients._clients["sagemaker"] = sagemaker
    clients._clients["cloudwatch"] = cast(BaseClient, _NoInvocations())
    monkeypatch.setattr(aws_client, "AwsClients", lambda region, session=None: clients)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    arguments = build_parser("endpoints").parse_args(
        ["endpoints", "idle-report", "--region", "us-east-1", "--days", "7", "--delete", "--yes", "--summary", ""]
    )  # fmt: skip
    out = io.StringIO()

    with stub:
        code = run(arguments, out, clock=lambda: END)

    text = out.getvalue()
    assert code == 1
    assert "| old | 30 d | AllTraffic: 1 × ml.m5.large | 0 | $0.1150 | $83.95 | yes |" in text
    assert "Deleted" not in text
    assert text.rstrip().splitlines()[-1].startswith("error: DeleteEndpoint failed")
    assert "need sagemaker:DeleteEndpoint" in text
    stub.assert_no_pending_responses()


class _NoInvocations:
    """CloudWatch with no data point: no variant was invoked."""

    def get_paginator(self, name: str) -> _NoInvocations:
        return self

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        return [{"MetricDataResults": []}]
