"""A local endpoint's per-variant metrics over a window, from its server's
GET /_smgha/metrics?since= (serving/__init__.py has the format): the stand-in for CloudWatch's
per-VariantName metrics that shadow-test compares (the sagemaker backend:
smgha/backends/aws/variant_metrics.py)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from pathlib import Path
from typing import Any

from smgha.backends import VariantStatistics
from smgha.backends.local import state
from smgha.backends.local.serving.capture import variant_folder
from smgha.errors import StageError


def server_metrics(folder: Path, since: float) -> dict[str, Any]:
    """The endpoint server's metrics since `since` (epoch seconds)."""
    server = state.read_json_if_exists(folder / state.SERVER_FILE)
    if not server:
        raise StageError("GetMetricData failed", f"the endpoint in {folder} has no running server")
    connection = http.client.HTTPConnection("127.0.0.1", int(server["port"]), timeout=30)
    try:
        connection.request("GET", f"/_smgha/metrics?since={since}")
        report: dict[str, Any] = json.loads(connection.getresponse().read())
        return report
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise StageError("GetMetricData failed", f"the endpoint's server: {error}") from None
    finally:
        connection.close()


def variant_statistics(
    folder: Path, config_name: str, variants: list[str], start: dt.datetime
) -> dict[str, VariantStatistics]:
    """Each variant's statistics, of its fleet on `config_name` (the server hosts a variant
    as <VariantName>@<EndpointConfigName>)."""
    rows = server_metrics(folder, start.timestamp()).get("Variants") or {}
    found = {}
    for variant in variants:
        row: dict[str, Any] = rows.get(f"{variant}@{config_name}") or next(
            (r for name, r in rows.items() if variant_folder(name) == variant and r.get("Active")),
            {},
        )
        latency = row.get("ModelLatency") or {}
        found[variant] = VariantStatistics(
            invocations=int(row.get("Invocations", 0)),
            errors=int(row.get("Invocation4XXErrors", 0)) + int(row.get("Invocation5XXErrors", 0)),
            p50_ms=latency["p50"] / 1000 if "p50" in latency else None,
            p99_ms=latency["p99"] / 1000 if "p99" in latency else None,
        )
    return found
