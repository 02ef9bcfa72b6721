"""Remove an endpoint nobody needs until the next deploy, keeping what brings it back
(model-deploy's `remove-staging-after-promotion`; `smgha endpoints remove`; docs/cost.md).

DeleteEndpoint removes the endpoint only: its endpoint config and model stay (botocore's
sagemaker model, DeleteEndpoint: "SageMaker frees up all of the resources that were deployed
when the endpoint was created"; the config and model are resources of their own, deleted by
DeleteEndpointConfig and DeleteModel). The same text warns not to take permissions away from
the endpoint's ExecutionRoleArn before it is gone: SageMaker deletes KMS grants with it. So the next deploy-endpoint of any
version creates the endpoint again (CreateEndpoint), and a re-run or a rollback to the version
removed finds its endpoint config by name and creates the endpoint on it without a new config
(smgha/resources/deployment.py names a config after the version and its settings).

Only an endpoint still serving the config the caller deployed is removed: a later deploy that
moved it (another run's) keeps it. Only an InService one: an endpoint being created, updated or
deleted is someone else's business, and a Failed one is for a person to look at.

The removal waits until the endpoint is gone: DeleteEndpoint returns at once and the endpoint is
"Deleting" for a while (EndpointStatus, botocore: "Deleting: DeleteEndpoint is executing"), and a
deploy that started then would find an endpoint it can neither update nor create. The workflow's
removal job shares the staging job's concurrency group, so no deploy of this repository starts
before the wait ends.

What SageMaker does with an autoscaled variant on DeleteEndpoint: "Application Auto Scaling
deregisters those models as scalable targets" when the caller may DeregisterScalableTarget, else
the deletion needs that permission first (SageMaker guide, endpoint-delete-with-scaling.html).
model-deploy's staging is never autoscaled, so the staging role is not granted it; an endpoint
with a scalable target is refused here rather than left to fail half-way (removal of
autoscaled endpoints is not built).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from smgha.errors import StageError
from smgha.progress import Waiting, elapsed
from smgha.resources.prices import HOURS_PER_MONTH, Prices

# How often the wait asks, and for how long by default. Deleting an instance endpoint takes
# minutes, not hours; a wait past this says so and fails (the endpoint may still go).
POLL_SECONDS = 15.0
DEFAULT_TIMEOUT_SECONDS = 30 * 60


class RemovableEndpoints(Protocol):
    """What a removal needs of a backend's Hosting (smgha/backends/__init__.py)."""

    def describe_endpoint(self, name: str) -> dict[str, Any] | None: ...

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None: ...

    def describe_scalable_target(
        self, resource_id: str, dimension: str
    ) -> dict[str, Any] | None: ...

    def delete_endpoint(self, name: str) -> None: ...


@dataclass(frozen=True)
class Removal:
    """What happened to one endpoint."""

    endpoint: str
    outcome: str  # "removed", "absent" (nothing to remove) or "kept" (see reason)
    reason: str
    config: dict[str, Any] | None = None  # the endpoint config kept (removed only)
    endpoint_record: dict[str, Any] | None = None  # DescribeEndpoint before the deletion

    @property
    def config_name(self) -> str:
        return str((self.config or {}).get("EndpointConfigName", ""))


def remove(
    hosting: RemovableEndpoints,
    endpoint: str,
    serving_config: str,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Removal:
    """DeleteEndpoint of `endpoint` if it is InService on `serving_config` ('' : on any
    config), then wait until it is gone. A StageError when a call fails or the wait times out."""
    live = hosting.describe_endpoint(endpoint)
    if live is None:
        return Removal(endpoint, "absent", f"there is no endpoint {endpoint}: nothing to remove")
    status, config_name = live.get("EndpointStatus", "?"), live.get("EndpointConfigName", "?")
    if serving_config and config_name != serving_config:
        return Removal(
            endpoint,
            "kept",
            f"it serves {config_name}, not {serving_config}: a later deploy changed it, so it is "
            "left as it is",
        )
    if status != "InService":
        return Removal(endpoint, "kept", f"it is {status}; only an InService endpoint is removed")
    scaled = _scaled_variants(hosting, endpoint, live)
    if scaled:
        raise StageError(
            "Endpoint not removed",
            f"endpoint {endpoint}: its variant(s) {', '.join(scaled)} have "
            "autoscaling (a scalable target), and removing an autoscaled endpoint is not built "
            "(SageMaker deregisters the target on DeleteEndpoint only for a caller that may "
            "DeregisterScalableTarget). Remove it by hand, or deploy it without autoscaling.",
        )
    config = hosting.describe_endpoint_config(config_name)
    hosting.delete_endpoint(endpoint)
    log(f"Deleting endpoint {endpoint}; its endpoint config {config_name} and model are kept")
    _wait_until_gone(hosting, endpoint, log, sleep, clock, timeout_seconds)
    return Removal(endpoint, "removed", "", config, live)


def _scaled_variants(hosting: RemovableEndpoints, endpoint: str, live: dict[str, Any]) -> list[str]:
    from smgha.resources import autoscaling

    return [
        variant["VariantName"]
        for variant in live.get("ProductionVariants", [])
        if hosting.describe_scalable_target(
            autoscaling.resource_id(endpoint, variant["VariantName"]),
            autoscaling.SCALABLE_DIMENSION,
        )
    ]


def _wait_until_gone(
    hosting: RemovableEndpoints,
    endpoint: str,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    timeout_seconds: float,
) -> None:
    waiting = Waiting(f"endpoint {endpoint} to be deleted", log, clock)
    while True:
        record = hosting.describe_endpoint(endpoint)
        if record is None:
            log(f"Endpoint {endpoint} is gone ({elapsed(clock() - waiting.started)})")
            return
        status = record.get("EndpointStatus", "?")
        if status == "Failed":
            raise StageError(
                "Endpoint deletion failed",
                f"endpoint {endpoint} failed to delete: "
                f"{record.get('FailureReason') or 'no reason given'}",
            )
        if clock() - waiting.started >= timeout_seconds:
            raise StageError(
                "Endpoint deletion timed out",
                f"endpoint {endpoint} is still {status} after {elapsed(timeout_seconds)}: the "
                "deletion goes on in SageMaker; the next deploy fails until it is gone. Look "
                "at it in the console, then run the deploy again.",
            )
        waiting.tick(status)
        sleep(waiting.pause(POLL_SECONDS))


def render(removal: Removal, backend: str, prices: Prices, region: str) -> str:
    """The job summary's section: what was removed, what it cost an hour, what stays."""
    from smgha.idle_report import endpoint_cost, endpoint_variants

    name = removal.endpoint
    if removal.outcome != "removed":
        return (
            f"### Endpoint {name} not removed\n\n{removal.reason[0].upper()}{removal.reason[1:]}.\n"
        )
    lines = [
        f"### Endpoint {name} removed",
        "",
        f"Deleted after the promotion. Its endpoint config `{removal.config_name}` and its "
        "model stay: the next deploy creates the endpoint again, and a re-run or a rollback "
        "of this version creates it on the same config.",
        "",
    ]
    variants = endpoint_variants(removal.endpoint_record or {}, removal.config)
    fleet = "; ".join(v.describe() for v in variants) or "–"
    if backend == "local":
        lines += [f"Instances: {fleet}. The local backend bills nothing."]
        return "\n".join(lines) + "\n"
    cost = endpoint_cost(variants, prices, region)
    lines += [
        "| endpoint | instances | cost an hour, saved | a month |",
        "|---|---|---|---|",
        f"| {name} | {fleet} | {cost.hourly_text()} | {cost.monthly_text()} |",
        "",
        f"{prices.describe()}; a month is {HOURS_PER_MONTH} hours.",
    ]
    return "\n".join(lines) + "\n"
