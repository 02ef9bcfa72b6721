"""A serverless variant's capacity on the local endpoint: it scales to zero and pays a cold
start, and it takes at most MaxConcurrency requests at once.

- Scale to zero. The variant's model is loaded once when it is deployed (its health check, as
  for any variant), then dropped: a script-mode model's worker process stops, a built-in
  model's booster is released. The first request after that loads the model again (a new
  worker, the archive read again) and so pays a cold start, as SageMaker's on-demand
  serverless endpoint "scales your endpoint down to 0" and "it can take some time for your
  endpoint to spin up the compute resources" (serverless-endpoints.html, "Minimizing cold
  starts"). After IDLE_ENV seconds without a request it scales to zero again. SageMaker does
  not document how long an idle endpoint stays warm: the local default is DEFAULT_IDLE_SECONDS,
  and tests and the bench set IDLE_ENV. With ProvisionedConcurrency the model stays warm
  ("SageMaker AI keeps the endpoint warm and ready to respond in milliseconds").
- MaxConcurrency: "any endpoint invocations beyond the maximum are throttled"
  (serverless-endpoints.html, "Concurrent invocations"). The error is not in InvokeEndpoint's
  modelled errors (botocore's sagemaker-runtime model lists ModelNotReady with 429, for a
  variant still being provisioned); clients see ThrottlingException (e.g. "An error occurred
  (ThrottlingException) when calling the InvokeEndpoint operation", aws-samples/
  amazon-sagemaker-nlu-search#4), and SageMaker's Common Errors page gives ThrottlingException
  HTTP status 400, which users report InvokeEndpoint answers when throttled
  (opensearch-project/ml-commons#2429). The local answer: 400, a ThrottlingException body.
- MemorySizeInMB is recorded (GET /_smgha/status) and not enforced: one server process stands
  in for every variant, and a virtual memory limit on a Python worker with numpy counts
  address space, not the memory SageMaker allots.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smgha.backends.local.serving.model import IN_SERVICE, Model

IDLE_ENV = "SMGHA_SERVERLESS_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 60.0
THROTTLED_STATUS = 400  # SageMaker's Common Errors: ThrottlingException, HTTP 400
THROTTLED = (
    "ThrottlingException: the serverless variant {name} is at its MaxConcurrency of {most} "
    "concurrent invocations; retry with backoff"
)


@dataclass(frozen=True)
class ServerlessSpec:
    """A variant's ProductionVariantServerlessConfig, as serving.json carries it."""

    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "MemorySizeInMB": self.memory_mb,
            "MaxConcurrency": self.max_concurrency,
            "ProvisionedConcurrency": self.provisioned_concurrency,
        }


def idle_seconds() -> float:
    """How long a variant without requests stays warm (IDLE_ENV, else the default)."""
    text = os.environ.get(IDLE_ENV, "")
    try:
        return max(0.0, float(text)) if text else DEFAULT_IDLE_SECONDS
    except ValueError:
        return DEFAULT_IDLE_SECONDS


class ScaleToZero:
    """The warm model of one serverless variant (None: scaled to zero) and its requests."""

    def __init__(
        self,
        spec: ServerlessSpec,
        deployed: Model,
        new_model: Callable[[], Model],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.new_model = new_model
        self.clock = clock
        self.idle_seconds = idle_seconds()
        self.in_flight = 0
        self.cold_starts = 0
        self.last_cold_start_ms: float | None = None
        self.last_used = clock()
        self._lock = threading.Lock()  # in_flight, last_used, warm
        self._load_lock = threading.Lock()  # one cold start at a time
        # The model that passed the health check: kept warm when provisioned, else dropped.
        self.warm: Model | None = deployed if spec.provisioned_concurrency else None
        if self.warm is None:
            deployed.unload()

    def acquire(self) -> bool:
        """Take one of MaxConcurrency slots; False when all are taken (throttled)."""
        with self._lock:
            if self.in_flight >= self.spec.max_concurrency:
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.last_used = self.clock()

    def model(self) -> Model:
        """The warm model, loaded first when the variant scaled to zero (the cold start).
        Call between acquire() and release(): a variant with requests never scales to zero."""
        with self._load_lock:
            warm = self.warm
            if warm is None:
                started = time.perf_counter()
                warm = self.new_model()
                warm.load()
                self.cold_starts += 1
                self.last_cold_start_ms = (time.perf_counter() - started) * 1000
                if warm.status == IN_SERVICE:  # a failed load is tried again next time
                    with self._lock:
                        self.warm = warm
            return warm

    def scale_to_zero_if_idle(self) -> bool:
        """Drop the warm model after idle_seconds without requests; True when it did."""
        with self._lock:
            idle = self.clock() - self.last_used >= self.idle_seconds
            if self.warm is None or self.in_flight or self.spec.provisioned_concurrency or not idle:
                return False
            warm, self.warm = self.warm, None
        warm.unload()
        return True

    def close(self) -> None:
        with self._lock:
            warm, self.warm = self.warm, None
        if warm is not None:
            warm.unload()

    def status(self) -> dict[str, Any]:
        return {
            **self.spec.as_dict(),
            "Warm": self.warm is not None,
            "InFlight": self.in_flight,
            "ColdStarts": self.cold_starts,
            "LastColdStartMs": self.last_cold_start_ms,
            "IdleSeconds": self.idle_seconds,
        }
