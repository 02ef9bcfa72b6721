"""smoke-test on an asynchronous endpoint: each payload is uploaded to an input location,
submitted with InvokeEndpointAsync, and its answer collected from the output (or failure)
location; the functional pass and the load test then check it as they check a real-time
answer, its latency being the time from the upload to the answer found.

"The presence of an asynchronous inference configuration (AsyncInferenceConfig) object in
the endpoint configuration implies that the endpoint can receive only asynchronous
invocations" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html): the
endpoint's config says which way to send. "To invoke the endpoint, you need to place the
request payload in Amazon S3" (the same page): the payloads go under async-input-s3-uri, by
default `<S3OutputPath>/smoke-test-inputs`, a prefix the deploy role writes anyway.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from smgha.backends import Hosting, Invocation, Objects
from smgha.errors import InputError
from smgha.inputs import InputSpec, s3_prefix

INPUT = InputSpec(
    "async-input-s3-uri",
    "Asynchronous endpoints: where the payloads are uploaded for InvokeEndpointAsync (s3://bucket/prefix). Empty: <the config's S3OutputPath>/smoke-test-inputs.",
)
INPUTS_FOLDER = "smoke-test-inputs"
# Polling an output location: soon at first (a local answer takes milliseconds), then at
# most every `most` seconds (each poll is a GetObject on SageMaker).
FIRST_POLL_SECONDS = 0.02
EXTENSIONS = {"text/csv": "csv", "application/json": "json"}


@dataclass(frozen=True)
class AsyncQueue:
    """How this smoke test submits to an async endpoint: where payloads go, how it polls."""

    objects: Objects
    input_prefix: str
    most_poll_seconds: float
    sleep: Callable[[float], None] = time.sleep

    def invoker(
        self, endpoints: Hosting, deadline: float, clock: Callable[[], float]
    ) -> AsyncInvoker:
        return AsyncInvoker(self, endpoints, deadline, clock)


def async_queue(
    endpoints: Hosting,
    objects: Objects | None,
    record: dict[str, Any],
    input_uri: str,
    sleep: Callable[[float], None] = time.sleep,
) -> AsyncQueue | None:
    """The queue of the endpoint `record` (DescribeEndpoint) when its config is async; None
    for a real-time endpoint (async-input-s3-uri is then refused: it would not be used).
    `objects` is the backend's S3, where the payloads go (None: a caller that only tests
    real-time endpoints)."""
    config = endpoints.describe_endpoint_config(record.get("EndpointConfigName", "")) or {}
    queued = config.get("AsyncInferenceConfig")
    if not queued:
        if input_uri:
            raise InputError(
                "async-input-s3-uri",
                f"applies only to an asynchronous endpoint, and {record.get('EndpointName', '?')}'s config {record.get('EndpointConfigName', '?')} has no AsyncInferenceConfig",
                "Leave async-input-s3-uri empty for a real-time endpoint.",
            )
        return None
    if objects is None:
        raise ValueError("an asynchronous endpoint is tested through the backend's objects area")
    output = str(queued["OutputConfig"]["S3OutputPath"]).rstrip("/")
    prefix = s3_prefix("async-input-s3-uri", input_uri) or f"{output}/{INPUTS_FOLDER}"
    return AsyncQueue(objects, prefix, min(endpoints.poll_seconds, 5.0), sleep)


class AsyncInvoker:
    """invoke_endpoint as the passes call it, done the asynchronous way (the module's doc).
    The answer is an Invocation: status 200 and the output, or the failure's status and
    message, or status 0 when neither came before the deadline or a call failed."""

    def __init__(
        self, queue: AsyncQueue, endpoints: Hosting, deadline: float, clock: Callable[[], float]
    ) -> None:
        self.queue = queue
        self.endpoints = endpoints
        self.deadline = deadline
        self.clock = clock

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        started = self.clock()
        extension = EXTENSIONS.get(content_type, "bin")
        location = f"{self.queue.input_prefix}/{uuid.uuid4().hex}.{extension}"
        self.queue.objects.put_object(location, body)
        submitted = self.endpoints.invoke_endpoint_async(name, location, content_type, accept)
        wait = FIRST_POLL_SECONDS
        while True:
            answer = self.endpoints.async_result(name, submitted)
            if answer is not None:
                return replace(answer, seconds=self.clock() - started)
            if self.clock() >= self.deadline:
                where = f"{submitted.get('OutputLocation')} or {submitted.get('FailureLocation')}"
                message = f"no answer at {where} before the deadline (inference {submitted.get('InferenceId')})"
                return Invocation(0, message.encode(), "", "", self.clock() - started)
            self.queue.sleep(wait)
            wait = min(wait * 2, self.queue.most_poll_seconds)
