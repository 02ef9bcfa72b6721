"""Asynchronous inference on this machine: InvokeEndpointAsync puts a request in the
endpoint's queue (a folder of request files, state.Layout.async_folder), worker threads take
them in order, send each to the endpoint's server (POST /invocations, as InvokeEndpoint does),
write the response to the output location on local S3 (or the error to the failure location)
and record the SNS notification SageMaker would publish (a file per topic,
state.Layout.notification_file).

The workers are threads of the process that submitted (the smoke test, the bench): at most
MaxConcurrentInvocationsPerInstance × the instances of the variant work at once in it (1
each when the config leaves it to SageMaker: "If no value is provided, SageMaker chooses an
optimal value", botocore's AsyncInferenceClientConfig). A request left in the queue when that
process exits is taken by the next submit's workers. What is and is not emulated (scaling to
zero is kept as records only) is in docs/aws-fidelity.md.

Locations and messages (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html,
async-inference-check-predictions.html): OutputLocation is `<S3OutputPath>/<id>.out`,
FailureLocation `<S3FailurePath>/<id>-error.out` (S3OutputPath when no failure path is set:
not confirmed, the place a reader of the outputs finds it); a notification carries the
inference id, the status, the request's and the response's locations, and the response body
when IncludeInferenceResponseIn names the topic and the body is at most 128 KB
(AsyncInferenceNotificationConfig). The message's field names follow the guide's example
and are not confirmed against a real message.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smgha.backends import Invocation
from smgha.backends.local import state
from smgha.backends.local.s3 import LocalS3
from smgha.errors import StageError

if TYPE_CHECKING:
    from smgha.backends.local.endpoints import LocalHosting

# A notification includes the response only up to this size (AsyncInferenceNotificationConfig).
MAX_RESPONSE_IN_NOTIFICATION = 128 * 1024


@dataclass
class _Workers:
    """The worker threads of one endpoint's queue in this process."""

    running: int = 0


_LOCK = threading.Lock()
_WORKERS: dict[Path, _Workers] = {}


def submit(
    hosting: LocalHosting, name: str, input_location: str, content_type: str, accept: str
) -> dict[str, Any]:
    """InvokeEndpointAsync: queue the request and return InferenceId, OutputLocation and
    FailureLocation at once (the work happens on the workers)."""
    record = hosting.describe_endpoint(name)
    if record is None or record["EndpointStatus"] not in ("InService", "Updating"):
        status = record["EndpointStatus"] if record else "missing"
        raise StageError(
            "InvokeEndpointAsync failed", f"ValidationException: endpoint {name!r} is {status}"
        )
    config = hosting.describe_endpoint_config(record["EndpointConfigName"]) or {}
    queued = config.get("AsyncInferenceConfig")
    if not queued:
        raise StageError(
            "InvokeEndpointAsync failed",
            f"ValidationException: endpoint {name!r} has no AsyncInferenceConfig; it takes InvokeEndpoint",
        )
    output = queued["OutputConfig"]
    # Queued in the order received: the id begins with the time (SageMaker's is a UUID).
    inference_id = f"{state.now().strftime('%Y%m%dT%H%M%S%f')}-{state.new_id()}"
    request = {
        "InferenceId": inference_id,
        "InputLocation": input_location,
        "ContentType": content_type,
        "Accept": accept,
        "OutputLocation": f"{output['S3OutputPath']}/{inference_id}.out",
        "FailureLocation": f"{output.get('S3FailurePath') or output['S3OutputPath']}/{inference_id}-error.out",
        "ReceivedTime": state.to_iso(state.now()),
    }
    folder = hosting.layout.async_folder(name)
    state.write_json_atomic(folder / "queue" / f"{inference_id}.json", request)
    _start_workers(hosting, name, folder, _limit(queued, record))
    return {k: request[k] for k in ("InferenceId", "OutputLocation", "FailureLocation")}


# Endpoint config name -> whether it is asynchronous (a config never changes once created).
_ASYNC_CONFIGS: dict[tuple[Path, str], bool] = {}


def refuse_real_time(hosting: LocalHosting, name: str, config_name: str) -> None:
    """InvokeEndpoint on an async endpoint: SageMaker's "The presence of an asynchronous
    inference configuration (AsyncInferenceConfig) object in the endpoint configuration
    implies that the endpoint can receive only asynchronous invocations" (async-inference.html;
    the error's wording is not documented)."""
    key = (hosting.layout.root, config_name)
    if key not in _ASYNC_CONFIGS:
        config = hosting.describe_endpoint_config(config_name) or {}
        _ASYNC_CONFIGS[key] = bool(config.get("AsyncInferenceConfig"))
    if _ASYNC_CONFIGS[key]:
        raise StageError(
            "InvokeEndpoint failed",
            f"ValidationException: endpoint {name!r} is asynchronous (its config {config_name!r} has an AsyncInferenceConfig); it takes InvokeEndpointAsync only",
        )


def result(hosting: LocalHosting, name: str, submitted: dict[str, Any]) -> Invocation | None:
    """The answer of a submitted request once a worker has written it; None until then."""
    folder = hosting.layout.async_folder(name)
    done = state.read_json_if_exists(folder / "results" / f"{submitted['InferenceId']}.json")
    if done is None:
        return None
    body = LocalS3(hosting.layout.s3).read_object(done["Location"])
    return Invocation(int(done["Status"]), body, done["ContentType"], done["Variant"], 0.0)


def _limit(queued: dict[str, Any], record: dict[str, Any]) -> int:
    per_instance = (queued.get("ClientConfig") or {}).get("MaxConcurrentInvocationsPerInstance")
    variants = record.get("ProductionVariants") or [{}]
    instances = int(variants[0].get("CurrentInstanceCount") or 1)
    return int(per_instance or 1) * instances


def _start_workers(hosting: LocalHosting, name: str, folder: Path, limit: int) -> None:
    # Under the lock a worker also decides to stop (its queue found empty): a request written
    # before this call is either seen by a running worker or gets a new one here.
    with _LOCK:
        workers = _WORKERS.setdefault(folder, _Workers())
        while workers.running < limit:
            workers.running += 1
            threading.Thread(
                target=_work, args=(hosting, name, folder), name=f"async-{name}", daemon=True
            ).start()


def _work(hosting: LocalHosting, name: str, folder: Path) -> None:
    while True:
        with _LOCK:
            taken = _take(folder)
            if taken is None:
                _WORKERS[folder].running -= 1
                return
        try:
            _answer(hosting, name, folder, taken)
        except Exception as error:  # the worker goes on: one request must not stop the queue
            # The request stays in taken/ without a result: its caller's wait ends at its
            # deadline, naming the output and failure locations.
            print(f"async worker of {name}: {taken.name} failed: {error!r}", file=sys.stderr)


def _take(folder: Path) -> Path | None:
    """The oldest queued request, moved to taken/ (a rename: of two processes one gets it)."""
    (folder / "taken").mkdir(parents=True, exist_ok=True)
    for request in sorted((folder / "queue").glob("*.json")):
        claimed = folder / "taken" / request.name
        try:
            request.rename(claimed)
        except FileNotFoundError:
            continue
        return claimed
    return None


def _answer(hosting: LocalHosting, name: str, folder: Path, taken: Path) -> None:
    request = state.read_json(taken)
    s3 = LocalS3(hosting.layout.s3)
    try:
        body = s3.read_object(request["InputLocation"])
        answer = hosting.send_invocation(name, body, request["ContentType"], request["Accept"])
    except StageError as error:
        answer = Invocation(0, str(error).encode(), "", "", 0.0)
    status = answer.status or 500  # 0: the call itself failed (no input, no server)
    if status == 200:
        location, outcome = request["OutputLocation"], "Completed"
        stored = answer.body
    else:
        location, outcome = request["FailureLocation"], "Failed"
        message = answer.body.decode("utf-8", "replace")
        stored = f"Received server error ({status}) from the model: {message}".encode()
    s3.put_bytes(location, stored)
    done = {
        "Status": status,
        "ContentType": answer.content_type,
        "Variant": answer.variant,
        "Location": location,
    }
    _notify(hosting, name, request, outcome, location, answer)
    state.write_json_atomic(folder / "results" / f"{request['InferenceId']}.json", done)
    taken.unlink()


def _notify(
    hosting: LocalHosting,
    name: str,
    request: dict[str, Any],
    outcome: str,
    location: str,
    answer: Invocation,
) -> None:
    """Record the notification SageMaker would publish to the config's topic, if it has one."""
    record = hosting.describe_endpoint(name) or {}
    config = hosting.describe_endpoint_config(record.get("EndpointConfigName", "")) or {}
    output = (config.get("AsyncInferenceConfig") or {}).get("OutputConfig") or {}
    topics = output.get("NotificationConfig") or {}
    kind = "Success" if outcome == "Completed" else "Error"
    topic = topics.get(f"{kind}Topic")
    if not topic:
        return
    message: dict[str, Any] = {
        "awsRegion": hosting.region,
        "eventTime": dt.datetime.now(dt.timezone.utc).isoformat(),
        "receivedTime": request["ReceivedTime"],
        "invocationStatus": outcome,
        "requestParameters": {
            "contentType": request["ContentType"],
            "endpointName": name,
            "inputLocation": request["InputLocation"],
        },
        "responseParameters": {
            "contentType": answer.content_type,
            ("outputLocation" if outcome == "Completed" else "failureLocation"): location,
        },
        "inferenceId": request["InferenceId"],
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }
    included = topics.get("IncludeInferenceResponseIn") or []
    wanted = f"{kind.upper()}_NOTIFICATION_TOPIC" in included
    if wanted and len(answer.body) <= MAX_RESPONSE_IN_NOTIFICATION:
        message["responseBody"] = {"content": answer.body.decode("utf-8", "replace")}
    path = hosting.layout.notification_file(topic)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, path.open("a", encoding="utf-8") as lines:
        lines.write(json.dumps({"TopicArn": topic, "Message": message}) + "\n")
