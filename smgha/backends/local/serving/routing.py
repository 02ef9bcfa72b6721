"""The variants the server hosts and their traffic shares: one immutable routing table."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from smgha.backends.local.serving.metrics import VariantMetrics
from smgha.backends.local.serving.model import IN_SERVICE, Model
from smgha.backends.local.serving.serverless import ScaleToZero
from smgha.backends.local.serving.spec import ServingSpec


@dataclass(frozen=True)
class Route:
    name: str
    weight: float
    model: Model
    metrics: VariantMetrics
    # A serverless variant's capacity: its warm model and its concurrency (None: instances,
    # `model` serves every request).
    capacity: ScaleToZero | None = None
    # A shadow variant: the production variant it gets copies of requests from (mirror.py);
    # it never answers a caller, so it never takes traffic of its own.
    shadow_of: str = ""


class RoutingTable:
    """An immutable snapshot of what the server hosts. Requests read `Endpoint.table` once
    and use that snapshot throughout; a reload builds a new table and swaps the reference."""

    def __init__(self, spec: ServingSpec | None, routes: tuple[Route, ...]) -> None:
        self.spec = spec
        self.routes = routes
        self.by_name = {r.name: r for r in routes}
        # Random traffic goes to InService variants with weight, in proportion to it. A
        # model's status is final by the time a table naming it as InService is built.
        self._serving = [
            r for r in routes if r.weight > 0 and r.model.status == IN_SERVICE and not r.shadow_of
        ]
        self._cumulative = list(itertools.accumulate(r.weight for r in self._serving))

    def pick(self) -> Route | None:
        if not self._serving:
            return None
        point = random.random() * self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, point)
        return self._serving[min(index, len(self._serving) - 1)]

    def healthy(self) -> bool:
        """The health check: every variant that should take traffic can."""
        return self.spec is not None and all(
            r.model.status == IN_SERVICE for r in self.routes if r.weight > 0
        )
