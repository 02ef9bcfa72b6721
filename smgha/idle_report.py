"""Which of an account's endpoints served no request for N days, and what they cost an hour
(`smgha endpoints idle-report`; docs/cost.md).

What is read, and why:

* ListEndpoints with StatusEquals=InService (paginated): an endpoint in another state is being
  created, updated or deleted, or failed; only a serving endpoint can be idle.
* DescribeEndpoint: CreationTime, each variant's CurrentInstanceCount (autoscaling may have
  changed it) and CurrentServerlessConfig; DescribeEndpointConfig: each variant's
  InstanceType (the endpoint's summary has none), InitialInstanceCount when the endpoint
  reports no current count, ServerlessConfig, AsyncInferenceConfig.
* CloudWatch GetMetricData: `Invocations` (namespace AWS/SageMaker, dimensions EndpointName
  and VariantName, Sum), "the number of InvokeEndpoint requests sent to a model endpoint"
  (SageMaker guide, monitoring-cloudwatch.html), per production variant, as ONE data point
  over the whole window: Period = N days in seconds, a multiple of 3,600 as GetMetricData
  requires for data older than 63 days (API_GetMetricData.html, Period), and the window ends
  on a whole minute. A variant with no data point had no invocation (SageMaker publishes
  the metric only for minutes with requests). At most 500 queries per call
  (API_GetMetricData.html, MetricDataQueries: "maximum of 500"), so larger accounts are
  asked in several calls, each paginated (NextToken).
* Shadow variants cost like production ones and are priced; their invocations are copies of
  the production traffic, so only production variants decide whether an endpoint is idle.

Not judged (never "idle", never deleted):

* an endpoint created less than N days ago: "too new to judge";
* an asynchronous endpoint (AsyncInferenceConfig): SageMaker does not publish `Invocations`
  for it ("Any metric not listed below is not published if the endpoint is enabled for
  asynchronous inference. Such metrics include ... Invocations", async-inference-monitor.html),
  so zero would prove nothing;
* an endpoint whose variants host inference components (a production variant with no
  ModelName): SageMaker counts their invocations per inference component (the
  InferenceComponentName dimension); whether it also publishes the variant's own
  Invocations is not confirmed here, so zero would prove nothing either (the stricter
  reading);
* an endpoint whose endpoint config is gone (which of the above it is cannot be known).

CloudWatch keeps hourly data points for 455 days (CloudWatch concepts, "Metrics retention"):
a longer window would see no data and call every endpoint idle, so MAX_DAYS is 455.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from smgha.backends.aws.client import (
    AwsClients,
    aws_errors,
    describe_or_none,
    is_missing_hosting_resource,
)
from smgha.resources.prices import HOURS_PER_MONTH, Prices, money

MAX_DAYS = 455
MAX_QUERIES_PER_CALL = 500
BILLED_PER_REQUEST = "billed per request"


@dataclass(frozen=True)
class Variant:
    name: str
    instance_type: str  # "" for a serverless variant, or when the config is gone
    instances: int
    serverless: bool = False
    shadow: bool = False

    def describe(self) -> str:
        kind = (
            "serverless" if self.serverless else f"{self.instances} × {self.instance_type or '?'}"
        )
        return f"{self.name}{' (shadow)' if self.shadow else ''}: {kind}"


@dataclass(frozen=True)
class Cost:
    """An endpoint's hourly cost: USD, or None with the reason it is not known."""

    usd_per_hour: float | None
    note: str = ""  # why unknown, or BILLED_PER_REQUEST, or what it leaves out

    def hourly_text(self) -> str:
        if self.usd_per_hour is None:
            return self.note
        return money(self.usd_per_hour) + (f" + {self.note}" if self.note else "")

    def monthly_text(self) -> str:
        if self.usd_per_hour is None:
            return "–"
        return money(self.usd_per_hour * HOURS_PER_MONTH) + (" + …" if self.note else "")


@dataclass(frozen=True)
class EndpointUsage:
    name: str
    created: dt.datetime
    variants: tuple[Variant, ...]
    cost: Cost
    invocations: int | None  # None: not asked (asynchronous)
    not_judged: str = ""  # why it cannot be idle ("too new to judge", "asynchronous ...")

    @property
    def idle(self) -> bool:
        return not self.not_judged and self.invocations == 0

    @property
    def production_variants(self) -> list[str]:
        return [v.name for v in self.variants if not v.shadow]


@dataclass(frozen=True)
class IdleReport:
    region: str
    days: int
    now: dt.datetime
    endpoints: tuple[EndpointUsage, ...]
    prices_line: str

    @property
    def idle(self) -> list[EndpointUsage]:
        return [e for e in self.endpoints if e.idle]

    def idle_monthly_usd(self) -> tuple[float, int]:
        """The idle endpoints' known monthly cost, and how many idle ones have no known cost."""
        known = [e.cost.usd_per_hour for e in self.idle if e.cost.usd_per_hour is not None]
        return sum(known) * HOURS_PER_MONTH, len(self.idle) - len(known)


# ---- reading the account ----------------------------------------------------------------------


def list_in_service(clients: AwsClients) -> list[str]:
    names: list[str] = []
    with aws_errors("ListEndpoints"):
        paginator = clients.sagemaker.get_paginator("list_endpoints")
        for page in paginator.paginate(StatusEquals="InService", MaxResults=100):
            names += [e["EndpointName"] for e in page.get("Endpoints", [])]
    return sorted(names)


def endpoint_variants(
    endpoint: dict[str, Any], config: dict[str, Any] | None
) -> tuple[Variant, ...]:
    configured = {
        v["VariantName"]: v
        for key in ("ProductionVariants", "ShadowProductionVariants")
        for v in (config or {}).get(key, [])
    }
    found = []
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        for summary in endpoint.get(key, []):
            spec = configured.get(summary["VariantName"], {})
            serverless = bool(
                summary.get("CurrentServerlessConfig") or spec.get("ServerlessConfig")
            )
            count = summary.get("CurrentInstanceCount", spec.get("InitialInstanceCount", 0))
            found.append(
                Variant(
                    summary["VariantName"],
                    "" if serverless else str(spec.get("InstanceType", "")),
                    0 if serverless else int(count or 0),
                    serverless=serverless,
                    shadow=key == "ShadowProductionVariants",
                )
            )
    return tuple(found)


def endpoint_cost(variants: Sequence[Variant], prices: Prices, region: str) -> Cost:
    """The instances' hourly price from `prices`; a serverless variant is billed per request
    (its provisioned concurrency, if any, has no price in the tables: left out, said so)."""
    fleet = [
        (v.instance_type, v.instances) for v in variants if not v.serverless and v.instance_type
    ]
    total, unknown = prices.fleet_hourly("hosting", fleet, region)
    unknown += [
        f"{v.name} (its endpoint config is gone)"
        for v in variants
        if not v.serverless and not v.instance_type
    ]
    if unknown:
        return Cost(None, f"cost unknown for {', '.join(sorted(set(unknown)))}")
    if all(v.serverless for v in variants):
        return Cost(None, BILLED_PER_REQUEST)
    if any(v.serverless for v in variants):
        return Cost(total, f"serverless {BILLED_PER_REQUEST}")
    return Cost(total)


def invocation_queries(
    endpoints: Sequence[tuple[str, Sequence[str]]], days: int
) -> list[dict[str, Any]]:
    """One MetricDataQuery per (endpoint, production variant): Invocations, Sum, one period."""
    queries = []
    for e_index, (endpoint, variants) in enumerate(endpoints):
        for v_index, variant in enumerate(variants):
            dimensions = [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ]
            queries.append(
                {
                    # Id: ^[a-z][a-zA-Z0-9_]*$ (botocore cloudwatch model, MetricId).
                    "Id": f"e{e_index}_v{v_index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": "Invocations",
                            "Dimensions": dimensions,
                        },
                        "Period": days * 86400,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
            )
    return queries


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def invocation_sums(
    clients: AwsClients,
    endpoints: Sequence[tuple[str, Sequence[str]]],
    days: int,
    end: dt.datetime,
) -> dict[str, int]:
    """Endpoint name -> its production variants' invocations over the `days` before `end`."""
    queries = invocation_queries(endpoints, days)
    values: dict[str, float] = {}
    for chunk in _chunks(queries, MAX_QUERIES_PER_CALL):
        with aws_errors("GetMetricData", f"Invocations of {len(chunk)} variant(s)"):
            paginator = clients.cloudwatch.get_paginator("get_metric_data")
            pages = paginator.paginate(
                MetricDataQueries=chunk, StartTime=end - dt.timedelta(days=days), EndTime=end
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    values[result["Id"]] = values.get(result["Id"], 0.0) + sum(
                        result.get("Values", [])
                    )
    return {
        endpoint: int(sum(values.get(f"e{e}_v{v}", 0.0) for v in range(len(variants))))
        for e, (endpoint, variants) in enumerate(endpoints)
    }


def _describe(clients: AwsClients, kind: str, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint (`kind` "endpoint") or DescribeEndpointConfig of `name`; None if gone."""

    def call() -> dict[str, Any]:
        if kind == "endpoint":
            return dict(clients.sagemaker.describe_endpoint(EndpointName=name))
        return dict(clients.sagemaker.describe_endpoint_config(EndpointConfigName=name))

    operation = "DescribeEndpoint" if kind == "endpoint" else "DescribeEndpointConfig"
    return describe_or_none(
        operation, f"{kind} {name}", call, lambda exc: is_missing_hosting_resource(exc, kind)
    )


def unjudgeable(config: dict[str, Any] | None) -> str:
    """Why an endpoint of `config` cannot be judged by its variants' Invocations ('' if it can)."""
    if config is None:  # unknown whether it is asynchronous or uses inference components
        return "its endpoint config is gone"
    if config.get("AsyncInferenceConfig"):
        return "asynchronous: SageMaker publishes no Invocations metric for it"
    if any(not v.get("ModelName") for v in config.get("ProductionVariants", [])):
        return "inference components: their invocations are counted per component"
    return ""


def gather(
    clients: AwsClients, region: str, days: int, prices: Prices, now: dt.datetime
) -> IdleReport:
    """The report of every InService endpoint of the region."""
    end = now.replace(second=0, microsecond=0)
    usages = []  # every endpoint, its invocations still unknown
    for name in list_in_service(clients):
        endpoint = _describe(clients, "endpoint", name)
        if endpoint is None:  # deleted since it was listed
            continue
        config = _describe(clients, "endpoint-config", endpoint["EndpointConfigName"])
        variants = endpoint_variants(endpoint, config)
        created = endpoint["CreationTime"]
        cost = endpoint_cost(variants, prices, region)
        usages.append(EndpointUsage(name, created, variants, cost, None, unjudgeable(config)))
    judged = [(u.name, u.production_variants) for u in usages if not u.not_judged]
    sums = invocation_sums(clients, judged, days, end) if judged else {}
    too_new = end - dt.timedelta(days=days)
    usages = [
        replace(
            u,
            invocations=sums.get(u.name),
            not_judged=u.not_judged or ("too new to judge" if u.created > too_new else ""),
        )
        for u in usages
    ]
    return IdleReport(region, days, end, tuple(usages), prices.describe())


# ---- the report -------------------------------------------------------------------------------


def age(created: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0.0, (now - created).total_seconds())
    return f"{int(seconds // 86400)} d" if seconds >= 86400 else f"{int(seconds // 3600)} h"


def render(report: IdleReport, deleted: Sequence[str] = ()) -> str:
    """The Markdown report: a heading, the table, the idle total, the prices' source."""
    lines = [
        f"## Idle SageMaker endpoints ({report.region}, {report.days} days)",
        "",
        f"Endpoints in service with no invocation in the {report.days} days up to "
        f"{report.now:%Y-%m-%d %H:%M} UTC (CloudWatch AWS/SageMaker Invocations).",
        "",
    ]
    if not report.endpoints:
        lines += ["No endpoint is in service in this region.", ""]
    else:
        lines += [
            f"| endpoint | age | variants | invocations ({report.days} d) | hourly cost "
            "| monthly cost (730 h) | idle |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for usage in report.endpoints:
            invocations = "–" if usage.invocations is None else f"{usage.invocations:,}"
            idle = "yes" if usage.idle else f"no ({usage.not_judged})" if usage.not_judged else "no"
            if usage.name in deleted:
                idle += ", deleted"
            variants = "<br>".join(v.describe() for v in usage.variants) or "–"
            lines.append(
                f"| {usage.name} | {age(usage.created, report.now)} | {variants} | "
                f"{invocations} | {usage.cost.hourly_text()} | {usage.cost.monthly_text()} | "
                f"{idle} |"
            )
        lines.append("")
        monthly, unknown = report.idle_monthly_usd()
        total = f"**{len(report.idle)} idle endpoint(s), {money(monthly)} a month**"
        if unknown:
            total += f" (and {unknown} whose cost is unknown)"
        lines += [total + ".", ""]
    if deleted:
        lines += [
            f"Deleted (their endpoint configs are kept): {', '.join(deleted)}.",
            "",
        ]
    lines += [f"_{report.prices_line}_", ""]
    return "\n".join(lines)
