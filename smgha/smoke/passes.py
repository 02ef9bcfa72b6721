"""What one smoke test sends and how it judges the answers (SmokePlan: the stage's inputs
without the backend, the report file and the rollback), and the sending itself: preflight
(the endpoint is InService; nothing is sent otherwise), then send(): the functional pass,
then the load test when the functional pass was clean. Both passes share one deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha.backends import Hosting
from smgha.errors import InputError
from smgha.progress import Waiting
from smgha.smoke.async_passes import AsyncQueue
from smgha.smoke.functional import FunctionalResult, Invoker, functional_pass
from smgha.smoke.load import LoadResult, load_skipped, load_test
from smgha.smoke.payloads import Payloads

# What to do when the endpoint is not ready to be tested: the hints of preflight's InputErrors.
NO_ENDPOINT_HINT = "Deploy it first (deploy-endpoint), or check the name and region."
NOT_IN_SERVICE_HINT = "Test it once it is InService (deploy-endpoint waits for that)."
NO_ROLLBACK_CONFIG_HINT = (
    "Pass an existing config, e.g. deploy-endpoint's previous-endpoint-config-name."
)


@dataclass(frozen=True)
class SmokePlan:
    endpoint_name: str
    payloads: Payloads
    content_type: str  # sent, and asked for in the response
    prediction_range: tuple[float, float]
    tolerance: float
    task: str  # binary-classification or regression (payloads.TASKS): what a label is
    min_accuracy: float | None  # binary-classification's bound on the labelled rows
    max_rmse: float | None  # regression's bounds on the labelled rows
    max_mae: float | None
    requests: int  # load-test calls; 0 skips the load test
    concurrency: int
    max_p99_ms: float
    max_error_rate: float
    timeout_seconds: float  # both passes together


def preflight(
    endpoints: Hosting, endpoint: str, rollback_config: str, where: str
) -> dict[str, Any]:
    """The endpoint's record, once it is known to be InService (and the rollback target to
    exist); InputError otherwise, before anything is sent. `where`: "in <region> (<backend>)"."""
    record = endpoints.describe_endpoint(endpoint)
    if record is None:
        raise InputError(
            "endpoint-name",
            f"there is no endpoint {endpoint!r} {where}",
            NO_ENDPOINT_HINT,
        )
    status = record.get("EndpointStatus", "unknown")
    if status != "InService":
        reason = f": {record['FailureReason']}" if record.get("FailureReason") else ""
        raise InputError(
            "endpoint-name",
            f"endpoint {endpoint!r} is {status}{reason}, not InService",
            NOT_IN_SERVICE_HINT,
        )
    if rollback_config and endpoints.describe_endpoint_config(rollback_config) is None:
        raise InputError(
            "rollback-endpoint-config",
            f"there is no endpoint config {rollback_config!r} {where}",
            NO_ROLLBACK_CONFIG_HINT,
        )
    return record


@dataclass(frozen=True)
class Passes:
    functional: FunctionalResult
    load: LoadResult | None
    load_skipped: str  # why the load test did not run ('' when it did)


def send(
    endpoints: Hosting,
    plan: SmokePlan,
    record: dict[str, Any],
    log: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    queue: AsyncQueue | None = None,
) -> Passes:
    """The functional pass, then the load test unless load_skipped says why not; `record`
    is the endpoint's, as preflight read it; `queue`: an async endpoint's (each payload is
    submitted and its answer collected)."""
    deadline = clock() + plan.timeout_seconds
    invoker: Invoker = queue.invoker(endpoints, deadline, clock) if queue else endpoints
    rows = plan.payloads.rows
    log(
        f"Functional pass: {len(rows)} rows of {plan.payloads.path.name} as {plan.content_type} to {plan.endpoint_name} (config {record.get('EndpointConfigName', '?')})"
        + (
            f", asynchronously: uploaded to {queue.input_prefix}, answers collected"
            if queue
            else ""
        )
    )
    functional = functional_pass(
        invoker,
        plan.endpoint_name,
        plan.payloads,
        plan.content_type,
        plan.prediction_range,
        plan.tolerance,
        deadline,
        clock,
        Waiting(f"the functional pass on {plan.endpoint_name}", log, clock),
    )
    skipped = load_skipped(plan.requests, functional)
    if skipped:
        log(f"Load test skipped: {skipped}")
        return Passes(functional, None, skipped)
    log(f"Load test: {plan.requests} calls at concurrency {plan.concurrency}")
    load = load_test(
        invoker,
        plan.endpoint_name,
        rows,
        plan.content_type,
        plan.requests,
        plan.concurrency,
        deadline,
        clock,
        Waiting(f"the load test on {plan.endpoint_name}", log, clock),
    )
    return Passes(functional, load, "")
