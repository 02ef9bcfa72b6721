"""Shadow variants: a sampled share of a production variant's requests is copied to its shadow
variant, as SageMaker's shadow tests replicate "a percentage of the incoming requests"
(https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html).

The copy goes to the shadow after production has answered, on a worker thread of its own: the
caller never waits for the shadow, never sees its answer, and a shadow that fails (an error
answer, an exception, a model that did not load) never fails the request. The shadow's
answers are recorded as SageMaker records them: its own per-variant metrics (Invocations,
Invocation4XXErrors/5XXErrors, ModelLatency: CloudWatch's per VariantName) and, when the
production request was captured, a data capture record under the shadow variant's name with
the production record's eventId, so the two answers pair up (smgha/resources/shadow_comparison.py).

The share: the shadow's weight relative to its production variant's (smgha/resources/shadow.py
says how an endpoint config expresses the sampling percentage), so a blue/green shift that
scales both weights of a fleet keeps the share.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass

from smgha.backends.local.serving.capture import CaptureWriter, capture_line, variant_folder
from smgha.backends.local.serving.inference import answer
from smgha.backends.local.serving.model import IN_SERVICE
from smgha.backends.local.serving.routing import Route, RoutingTable
from smgha.backends.local.serving.spec import CaptureSpec

log = logging.getLogger(__name__)

# Copies waiting for the shadow. Beyond this the shadow is too slow for the traffic: further
# copies are dropped (counted, logged once) rather than held in memory or slowing production.
MAX_WAITING = 1000


@dataclass(frozen=True)
class Copy:
    """One request copied to a shadow variant."""

    shadow: Route
    body: bytes
    content_type: str
    accept: str
    endpoint: str
    capture: CaptureSpec | None  # None: the production request was not captured
    event_id: str  # the production capture record's eventId


def sampling_percent(shadow: Route, production: Route) -> float:
    """The share of `production`'s requests copied to `shadow`, in percent."""
    if production.weight <= 0:
        return 0.0
    return min(100.0, 100.0 * shadow.weight / production.weight)


class Mirror:
    """Copies requests to shadow variants and answers them on one worker thread."""

    def __init__(self, capture: CaptureWriter) -> None:
        self._capture = capture
        self._waiting: queue.Queue[Copy] = queue.Queue(MAX_WAITING)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.dropped = 0

    def copy(
        self,
        table: RoutingTable,
        production: Route,
        request: tuple[bytes, str, str],
        capture: CaptureSpec | None,
        event_id: str,
    ) -> None:
        """Copy a request `production` answered to its shadows (each at its share). `request`
        is (body, content type, accept); `capture` the spec it was captured with (None: not)."""
        if table.spec is None:
            return
        for shadow in table.routes:
            if shadow.shadow_of != production.name:
                continue
            if random.random() * 100 >= sampling_percent(shadow, production):
                continue
            body, content_type, accept = request
            item = Copy(
                shadow, body, content_type, accept, table.spec.endpoint_name, capture, event_id
            )
            try:
                self._waiting.put_nowait(item)
            except queue.Full:
                with self._lock:
                    self.dropped += 1
                    if self.dropped == 1:
                        log.error(
                            "shadow %s is behind by %d copies; dropping", shadow.name, MAX_WAITING
                        )
                continue
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="mirror", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            item = self._waiting.get()
            try:
                self._answer(item)
            except Exception:  # the shadow's trouble stays the shadow's
                log.exception("shadow %s failed", item.shadow.name)

    def _answer(self, item: Copy) -> None:
        shadow = item.shadow
        if shadow.model.status != IN_SERVICE:
            shadow.metrics.record(time.time(), 503, None)
            return
        started = time.perf_counter_ns()
        try:
            reply = answer(shadow.model, item.body, item.content_type, item.accept)
        except Exception as error:
            shadow.metrics.record(time.time(), 500, None)
            log.error("shadow %s could not answer: %s", shadow.name, error)
            return
        now = time.time()
        shadow.metrics.record(now, reply.status, (time.perf_counter_ns() - started) // 1000)
        if item.capture is None or reply.status != 200:
            return
        line = capture_line(
            item.capture,
            item.content_type,
            item.body,
            reply.content_type,
            reply.body,
            now,
            item.event_id,
        )
        try:
            self._capture.write(item.capture, item.endpoint, variant_folder(shadow.name), now, line)
        except OSError as error:
            log.error("data capture for %s failed: %s", shadow.name, error)
