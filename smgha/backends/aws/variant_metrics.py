"""A variant's invocation metrics over a window, from CloudWatch (GetMetricData): what
shadow-test compares between the production and the shadow variant.

Sources: "Monitor Amazon SageMaker AI with Amazon CloudWatch"
(https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html): namespace
AWS/SageMaker, dimensions EndpointName and VariantName, Invocations, Invocation4XXErrors,
Invocation5XXErrors (Sum) and ModelLatency ("Units: Microseconds", statistics including
percentiles). GetMetricData's MetricStat.Stat takes a percentile as "p99"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html), and
Period is "a multiple of 60" for data older than three hours (a multiple of 60 always here).
That a shadow variant's metrics carry its own VariantName is how the guide's shadow test
dashboard compares "invocation metrics ... between the production and shadow variants"
(shadow-tests-create.html); the exact dimension values are not confirmed against AWS.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from smgha.backends import VariantStatistics
from smgha.backends.aws.client import AwsClients, aws_errors

# (query id suffix, metric, statistic)
QUERIES = (
    ("invocations", "Invocations", "Sum"),
    ("errors4xx", "Invocation4XXErrors", "Sum"),
    ("errors5xx", "Invocation5XXErrors", "Sum"),
    ("p50", "ModelLatency", "p50"),
    ("p99", "ModelLatency", "p99"),
)


def metric_data_request(
    endpoint: str, variants: list[str], start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """GetMetricData of every variant's metrics as one data point over the whole window
    (whole minutes: the start rounded down, the period rounded up)."""
    first = start.replace(second=0, microsecond=0)
    period = max(60, 60 * math.ceil((end - first).total_seconds() / 60))
    queries = []
    for index, variant in enumerate(variants):
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ]
        for suffix, metric, stat in QUERIES:
            queries.append(
                {
                    "Id": f"v{index}_{suffix}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": metric,
                            "Dimensions": dimensions,
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return {
        "MetricDataQueries": queries,
        "StartTime": first,
        "EndTime": first + dt.timedelta(seconds=period),
    }


def variant_statistics(
    clients: AwsClients,
    endpoint: str,
    variants: list[str],
    start: dt.datetime,
    end: dt.datetime,
) -> dict[str, VariantStatistics]:
    request = metric_data_request(endpoint, variants, start, end)
    values: dict[str, float] = {}
    with aws_errors("GetMetricData", f"endpoint {endpoint}"):
        pages = clients.cloudwatch.get_paginator("get_metric_data").paginate(**request)
        for page in pages:
            for result in page.get("MetricDataResults", []):
                if result.get("Values"):
                    values[result["Id"]] = float(sum(result["Values"]))
    found = {}
    for index, variant in enumerate(variants):

        def value(suffix: str, index: int = index) -> float | None:
            return values.get(f"v{index}_{suffix}")

        p50, p99 = value("p50"), value("p99")  # microseconds
        found[variant] = VariantStatistics(
            invocations=int(value("invocations") or 0),
            errors=int((value("errors4xx") or 0) + (value("errors5xx") or 0)),
            p50_ms=p50 / 1000 if p50 is not None else None,
            p99_ms=p99 / 1000 if p99 is not None else None,
        )
    return found
