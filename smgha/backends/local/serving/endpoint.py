"""The endpoint: its routing table, reloads of serving.json, invocations, and the views the
controller reads (variants, metrics, status)."""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local.serving.capture import CaptureWriter, capture_line, variant_folder
from smgha.backends.local.serving.inference import Reply, answer
from smgha.backends.local.serving.metrics import Metrics
from smgha.backends.local.serving.mirror import Mirror
from smgha.backends.local.serving.model import FAILED, IN_SERVICE, Model, fingerprint
from smgha.backends.local.serving.routing import Route, RoutingTable
from smgha.backends.local.serving.serverless import THROTTLED, THROTTLED_STATUS, ScaleToZero
from smgha.backends.local.serving.spec import CaptureSpec, ServingSpec, VariantSpec, parse_serving
from smgha.errors import StateFileError

log = logging.getLogger(__name__)


class Endpoint:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.serving_file = folder / state.SERVING_FILE
        # Script-mode models read their source archive (an s3:// URI) from the local S3.
        self.s3_root = state.Layout.of_endpoint_folder(folder).s3
        self.table = RoutingTable(None, ())
        self.metrics = Metrics()
        self.capture = CaptureWriter()
        self.mirror = Mirror(self.capture)  # copies requests to shadow variants
        self.config_error = ""
        self.pid = os.getpid()
        self.port = 0
        self.started = ""
        self._reload_lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # serving.json's (inode, mtime, size)

    # -- configuration -----------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Apply serving.json if it changed since last read (or anyway when `force`)."""
        with self._reload_lock:
            try:
                stat = os.stat(self.serving_file)
            except FileNotFoundError:
                missing = f"{self.serving_file} is missing"
                if self.config_error != missing:  # say it once, not five times a second
                    log.error("%s; keeping the current variants", missing)
                self.config_error = missing
                return
            # The inode changes on every atomic replace, even within one mtime tick.
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen == self._seen and not force:
                return
            self._seen = seen
            try:
                spec = parse_serving(state.read_json(self.serving_file))
            except (OSError, ValueError, StateFileError) as error:
                self.config_error = f"{self.serving_file}: {error}"
                log.error("ignoring %s; keeping the current variants", self.config_error)
                return
            self.config_error = ""
            self.apply(spec)

    def apply(self, spec: ServingSpec) -> None:
        """Host `spec`: load what is new, then switch the routing over in one step."""
        old = self.table
        models: dict[str, Model] = {}
        to_load: list[tuple[VariantSpec, Model]] = []
        for variant in spec.variants:
            current = old.by_name.get(variant.name)
            if (
                current is not None
                and current.model.path == variant.model_path
                and current.model.environment == dict(variant.environment)
                and current.model.image == variant.image
                and current.model.fingerprint == fingerprint(variant.model_path)
                and _serverless_spec(current) == variant.serverless
            ):
                models[variant.name] = current.model  # unchanged: keep it (a failure too)
            else:
                models[variant.name] = Model(
                    variant.model_path, dict(variant.environment), variant.image, self.s3_root
                )
                to_load.append((variant, models[variant.name]))

        if to_load:
            # Meanwhile the old routing serves on; new names show as Loading (no traffic).
            loading = tuple(
                Route(v.name, v.weight, m, self.metrics.variant(v.name))
                for v, m in to_load
                if v.name not in old.by_name
            )
            self.table = RoutingTable(old.spec, old.routes + loading)
            for variant, model in to_load:
                started = time.perf_counter()
                model.load()
                if model.status == FAILED:
                    log.error("variant %s failed: %s", variant.name, model.failure_reason)
                else:
                    log.info(
                        "variant %s loaded %s in %.2f s",
                        variant.name,
                        model.path,
                        time.perf_counter() - started,
                    )

        self.table = RoutingTable(
            spec,
            tuple(
                Route(
                    v.name,
                    v.weight,
                    models[v.name],
                    self.metrics.variant(v.name),
                    self._capacity(v, models[v.name], old),
                    v.shadow_of,
                )
                for v in spec.variants
            ),
        )
        kept = {id(m) for m in models.values()}
        capacities = {id(r.capacity) for r in self.table.routes if r.capacity}
        for route in old.routes:  # a dropped script-mode model stops its worker
            if id(route.model) not in kept:
                route.model.close()
            if route.capacity and id(route.capacity) not in capacities:
                route.capacity.close()
        capture = spec.capture
        folders = {variant_folder(v.name) for v in spec.variants} if capture.enabled else set()
        self.capture.keep_only({(capture.destination, spec.endpoint_name, f) for f in folders})
        if spec != old.spec or to_load:
            log.info(
                "serving %s: %s; data capture %s",
                spec.endpoint_name,
                ", ".join(
                    f"{v.name} (weight {v.weight:g}, {models[v.name].status})"
                    for v in spec.variants
                ),
                f"{capture.percentage:g} % to {capture.destination}" if capture.enabled else "off",
            )

    def _capacity(
        self, variant: VariantSpec, model: Model, old: RoutingTable
    ) -> ScaleToZero | None:
        """A serverless variant's capacity: the current one while its model is kept, else a
        new one around the model that passed its health check (None: instances, or a model
        that failed to load, which answers as any failed variant does)."""
        if variant.serverless is None or model.status != IN_SERVICE:
            return None
        current = old.by_name.get(variant.name)
        if current is not None and current.model is model and current.capacity is not None:
            return current.capacity

        def new_model() -> Model:
            return Model(variant.model_path, dict(variant.environment), variant.image, self.s3_root)

        return ScaleToZero(variant.serverless, model, new_model)

    def scale_idle_to_zero(self) -> None:
        """Let every serverless variant idle for its idle time go to zero (the watcher calls it)."""
        for route in self.table.routes:
            if route.capacity is not None and route.capacity.scale_to_zero_if_idle():
                log.info("serverless variant %s scaled to zero (idle)", route.name)

    # -- requests ---------------------------------------------------------------------------

    def invoke(self, body: bytes, content_type: str, accept: str, target: str) -> Reply:
        table = self.table  # one snapshot for the whole request
        if target:
            route = table.by_name.get(target)
            if route is None:
                names = [r.name for r in table.routes]
                message = f"ValidationError: the target variant {target!r} is not one of {names}"
                return Reply(400, message.encode())
        else:
            route = table.pick()
            if route is None:
                return Reply(503, b"No InService production variant has a weight above 0.")
        if route.model.status != IN_SERVICE:
            route.metrics.record(time.time(), 503, None)
            message = f"Variant {route.name} is {route.model.status}. {route.model.failure_reason}"
            return Reply(503, message.strip().encode(), variant=route.name)
        capacity = route.capacity
        if capacity is not None and not capacity.acquire():
            route.metrics.record(time.time(), THROTTLED_STATUS, None)
            throttled = THROTTLED.format(name=route.name, most=capacity.spec.max_concurrency)
            return Reply(THROTTLED_STATUS, throttled.encode(), variant=route.name)
        try:
            # A serverless variant scaled to zero loads its model first: the cold start,
            # which SageMaker counts in OverheadLatency, not in ModelLatency (the alarms').
            model = capacity.model() if capacity is not None else route.model
            started = time.perf_counter_ns()
            reply = answer(model, body, content_type, accept)
        finally:
            if capacity is not None:
                capacity.release()
        now = time.time()
        route.metrics.record(now, reply.status, (time.perf_counter_ns() - started) // 1000)

        capture = table.spec.capture if table.spec is not None else None
        event_id = str(uuid.uuid4())
        captured = (
            capture is not None
            and capture.enabled
            and reply.status == 200
            and random.random() * 100 < capture.percentage
        )
        if captured:
            assert capture is not None
            self._capture(table, route, capture, content_type, body, reply, now, event_id)
        request = (body, content_type, accept)
        self.mirror.copy(table, route, request, capture if captured else None, event_id)
        return Reply(reply.status, reply.body, reply.content_type, route.name)

    def _capture(
        self,
        table: RoutingTable,
        route: Route,
        capture: CaptureSpec,
        content_type: str,
        body: bytes,
        reply: Reply,
        now: float,
        event_id: str,
    ) -> None:
        assert table.spec is not None
        line = capture_line(
            capture, content_type, body, reply.content_type, reply.body, now, event_id
        )
        folder = variant_folder(route.name)
        try:
            self.capture.write(capture, table.spec.endpoint_name, folder, now, line)
        except OSError as error:  # capture must never fail an invocation
            log.error("data capture for %s failed: %s", route.name, error)

    # -- the controller's views --------------------------------------------------------------

    def variants(self) -> list[dict[str, Any]]:
        return [
            {
                "VariantName": r.name,
                "Weight": r.weight,
                "Status": r.model.status,
                "FailureReason": r.model.failure_reason,
                "ModelDataPath": r.model.path,
            }
            for r in self.table.routes
        ]

    def metrics_report(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """GET /_smgha/metrics: cumulative, or over a window with ?since= or ?window=."""
        now = time.time()
        since: float | None = None
        if "since" in query:
            since = float(query["since"][-1])
        elif "window" in query:
            since = now - float(query["window"][-1])
        if since is not None and not math.isfinite(since):
            raise ValueError("since/window must be finite numbers")
        active = [r.name for r in self.table.routes]
        names = active + [n for n in self.metrics.names() if n not in active]
        if "variant" in query:
            names = [n for n in names if n in query["variant"]]
        report: dict[str, Any] = {
            "EndpointName": self.table.spec.endpoint_name if self.table.spec else "",
            "Now": now,
        }
        if since is None:
            rows = {n: self.metrics.variant(n).cumulative() for n in names}
        else:
            report["Since"] = since
            rows = {n: self.metrics.variant(n).window(since) for n in names}
        for name in names:
            rows[name]["Active"] = name in active
        report["Variants"] = rows
        return report

    def status(self) -> dict[str, Any]:
        spec = self.table.spec
        capture = spec.capture if spec else CaptureSpec()
        return {
            "EndpointName": spec.endpoint_name if spec else "",
            "pid": self.pid,
            "port": self.port,
            "started": self.started,
            "Healthy": self.table.healthy(),
            # Why the last serving.json read was not applied ('' when it was).
            "ConfigError": self.config_error,
            "DataCapture": {
                "Enabled": capture.enabled,
                "SamplingPercentage": capture.percentage,
                "Destination": capture.destination,
            },
            "Serverless": {
                r.name: r.capacity.status() for r in self.table.routes if r.capacity is not None
            },
        }


def _serverless_spec(route: Route) -> object:
    """The serverless spec a hosted route was made with (None: instances)."""
    return route.capacity.spec if route.capacity is not None else None
