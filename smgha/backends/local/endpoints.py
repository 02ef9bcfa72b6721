"""SageMaker hosting on this machine: models, endpoint configs, endpoints, invocation (alarms
and scaling records: alarms_and_scaling.py).

Records live under the state folder (where: state.Layout) in the shapes of the Describe*
responses; an endpoint's folder holds its record, what its server hosts, the server's and the
deployer's pids (the file names: state.ENDPOINT_FILE and its neighbours).

Create and update are asynchronous, as in SageMaker: a detached deployer process
(`deployer.py`) starts the server, shifts traffic and watches alarms, writing the status.

The status DescribeEndpoint gives is what the processes say, not only what endpoint.json
says: an endpoint whose server is gone (kill -9, or stopped) or does not answer /ping is
Failed, and so is one whose deployer is gone before it wrote an end; the reason names the
process. (An endpoint.json no deployer wrote, by hand or by a test, has no process to ask.)
Nothing restarts a server behind the user's back: deploy-endpoint with the same inputs does
(an UpdateEndpoint to the same config restarts the server and waits for its health check).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import os
import threading
import time
from pathlib import Path
from typing import Any

from smgha.backends import Invocation, VariantStatistics
from smgha.backends.local import async_queue, state, variant_metrics
from smgha.backends.local.alarms_and_scaling import AlarmsAndScaling
from smgha.backends.local.serving import images
from smgha.errors import StageError

DEPLOYER_MODULE = "smgha.backends.local.deployer"
SERVER_MODULE = "smgha.backends.local.serving"
# The exit code of a server that found another one serving its endpoint (serving/main.py).
EXIT_ANOTHER_SERVER = 3
IN_PROGRESS = ("Creating", "Updating")
# How long a health probe waits for /ping. A live server that answers later is busy (a load
# test on a small machine), not dead: then the recorded status stands.
PING_TIMEOUT_SECONDS = 2.0
RESTART_HINT = "deploy-endpoint with the same inputs starts it again"


class LocalHosting(AlarmsAndScaling):
    """The Hosting area of the local backend."""

    # Seconds between two polls of an endpoint being created or updated (the deploy stage
    # reads it from the hosting it is given): local deployments take seconds.
    poll_seconds = 0.5

    def __init__(self, layout: state.Layout, region: str) -> None:
        self.layout = layout
        self.region = region
        self._connections = threading.local()

    def arn(self, kind: str, name: str) -> str:
        return state.arn(self.region, kind, name)

    # -- models and endpoint configs ------------------------------------------------------

    def serving_refusal(self, package: dict[str, Any]) -> tuple[str, str] | None:
        """The first container of the package the local endpoint cannot stand in for
        (serving/images.py; the server's Model.load refuses the same), as (problem, fix)."""
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        for number, container in enumerate(containers, 1):
            image = str(container.get("Image") or "")
            refused = images.refusal(image, container.get("Environment") or {})
            if refused:
                problem = f"its container {number} cannot be served by the local backend: {refused}"
                return problem, images.LOCAL_FIX
        return None

    def describe_model(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.layout.model_file(name))

    def create_model(self, request: dict[str, Any]) -> None:
        path = self.layout.model_file(request["ModelName"])
        with self._locked("model", request["ModelName"]):  # two deploys: one creates it
            if path.exists():
                raise StageError(
                    "CreateModel failed",
                    f"ValidationException: Cannot create already existing model {request['ModelName']!r}",
                )
            record = {
                **request,
                "ModelArn": self.arn("model", request["ModelName"]),
                "CreationTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(path, record)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.layout.endpoint_config_file(name))

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        name = request["EndpointConfigName"]
        path = self.layout.endpoint_config_file(name)
        with self._locked("endpoint-config", name):  # two deploys: one creates it
            if path.exists():
                raise StageError(
                    "CreateEndpointConfig failed",
                    f"ValidationException: Cannot create already existing endpoint configuration {name!r}",
                )
            for variant in request.get("ProductionVariants") or []:
                if self.describe_model(variant["ModelName"]) is None:
                    raise StageError(
                        "CreateEndpointConfig failed",
                        f"ValidationException: Could not find model {variant['ModelName']!r}",
                    )
            record = {
                **request,
                "EndpointConfigArn": self.arn("endpoint-config", name),
                "CreationTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(path, record)

    # -- endpoints --------------------------------------------------------------------------

    def folder(self, name: str) -> Path:
        """The folder of endpoint `name` (its record, its server's files)."""
        return self.layout.endpoint_folder(name)

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        """DescribeEndpoint, with the status its processes give (see the module's doc)."""
        folder = self.folder(name)
        record = state.read_json_if_exists(folder / state.ENDPOINT_FILE)
        if record is None:
            return None
        status = record["EndpointStatus"]
        if status in IN_PROGRESS:
            deployer = state.read_json_if_exists(folder / state.DEPLOYER_FILE)
            if deployer is None:
                return record  # being started: its pid is written right after the status
            if state.runs(int(deployer["pid"]), DEPLOYER_MODULE, folder):
                return record
            # Re-read: the deployer may have written its end and exited between the reads.
            record = state.read_json_if_exists(folder / state.ENDPOINT_FILE) or record
            if record["EndpointStatus"] in IN_PROGRESS:
                done = "created" if status == "Creating" else "updated"
                return _failed(
                    record,
                    f"the local deployer (pid {deployer['pid']}) is gone: it stopped before the "
                    f"endpoint was {done} (killed, or it crashed); see {folder / state.DEPLOYER_LOG}. "
                    f"{RESTART_HINT}",
                )
        # A record no deployer wrote (by hand, or a test's) has no server to ask: it stands.
        if record["EndpointStatus"] == "InService" and (folder / state.DEPLOYER_FILE).exists():
            problem = server_problem(folder)
            if problem:
                return _failed(record, f"{problem}. {RESTART_HINT}")
        return record

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        # Under the endpoint's lock: of two concurrent creates one starts a deployer (and so a
        # server), the other gets SageMaker's error.
        with self._locked("endpoint", name):
            if self.describe_endpoint(name) is not None:
                raise StageError(
                    "CreateEndpoint failed",
                    f"ValidationException: Cannot create already existing endpoint {name!r}",
                )
            self._require_config(config_name, "CreateEndpoint")
            moment = state.to_iso(state.now())
            state.write_json_atomic(
                self.folder(name) / state.ENDPOINT_FILE,
                {
                    "EndpointName": name,
                    "EndpointArn": self.arn("endpoint", name),
                    "EndpointConfigName": config_name,
                    "EndpointStatus": "Creating",
                    "ProductionVariants": [],
                    "Tags": tags,
                    "CreationTime": moment,
                    "LastModifiedTime": moment,
                },
            )
            self._start_deployer(name, {"Action": "create", "EndpointConfigName": config_name})

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None:
        # Under the endpoint's lock: of two concurrent updates one starts a deployer, the other
        # finds the endpoint Updating and is refused, as SageMaker refuses it.
        with self._locked("endpoint", name):
            record = self.describe_endpoint(name)
            if record is None:
                raise StageError(
                    "UpdateEndpoint failed",
                    f"ValidationException: Could not find endpoint {name!r}",
                )
            if record["EndpointStatus"] not in ("InService", "Failed"):
                raise StageError(
                    "UpdateEndpoint failed",
                    f"ValidationException: endpoint {name!r} is {record['EndpointStatus']}; wait until it is InService",
                )
            # "Failed: Endpoint could not be created, updated, or re-scaled. [...] DeleteEndpoint
            # is the only operation that can be performed on a failed endpoint." (SageMaker API
            # reference, DescribeEndpoint, EndpointStatus). That holds here for an endpoint
            # whose deployer recorded a failure. One that is Failed only because a local
            # process is gone (its server killed while InService, its deployer killed mid-way)
            # has no SageMaker counterpart (SageMaker replaces a lost instance itself): an
            # update, also to the same config, starts it again.
            recorded = state.read_json(self.folder(name) / state.ENDPOINT_FILE)["EndpointStatus"]
            if recorded == "Failed":
                raise StageError(
                    "UpdateEndpoint failed",
                    f"ValidationException: endpoint {name!r} is Failed "
                    f"({record.get('FailureReason') or 'no reason given'}); DeleteEndpoint is "
                    f"the only operation that can be performed on a failed endpoint. Delete it "
                    f"(smgha endpoints stop {name}), then deploy again.",
                )
            self._require_config(config_name, "UpdateEndpoint")
            self._refuse_to_serverless(name, record["EndpointConfigName"], config_name)
            record.update(EndpointStatus="Updating", LastModifiedTime=state.to_iso(state.now()))
            record.pop("FailureReason", None)
            record.pop("PendingDeploymentSummary", None)
            # The last deployer's pid file goes first: a reader between the two writes below
            # must not take that finished deployer for this update's.
            (self.folder(name) / state.DEPLOYER_FILE).unlink(missing_ok=True)
            state.write_json_atomic(self.folder(name) / state.ENDPOINT_FILE, record)
            self._start_deployer(
                name,
                {
                    "Action": "update",
                    "EndpointConfigName": config_name,
                    "DeploymentConfig": deployment_config or {},
                },
            )

    def delete_endpoint(self, name: str) -> None:
        """Stop the endpoint's deployer, then its server (a deployer may start one), and
        forget the endpoint."""
        folder = self.folder(name)
        for pid_file, module in (
            (state.DEPLOYER_FILE, DEPLOYER_MODULE),
            (state.SERVER_FILE, SERVER_MODULE),
        ):
            info = state.read_json_if_exists(folder / pid_file)
            if info and info.get("pid") and state.runs(int(info["pid"]), module, folder):
                _terminate(int(info["pid"]))
        if folder.exists():
            for file in folder.glob("*"):
                if file.is_file():
                    file.unlink()

    def _require_config(self, config_name: str, operation: str) -> None:
        if self.describe_endpoint_config(config_name) is None:
            raise StageError(
                f"{operation} failed",
                f"ValidationException: Could not find endpoint configuration {config_name!r}",
            )

    def _refuse_to_serverless(self, name: str, live_config: str, config_name: str) -> None:
        """ "You cannot convert your instance-based, real-time endpoint to a serverless
        endpoint. If you try to update your real-time endpoint to serverless, you receive a
        ValidationError message" (https://docs.aws.amazon.com/sagemaker/latest/dg/
        serverless-endpoints.html, Feature exclusions). Serverless to instances is allowed."""

        def serverless(config: str) -> bool:
            variants = (self.describe_endpoint_config(config) or {}).get("ProductionVariants")
            return any(v.get("ServerlessConfig") for v in variants or [])

        if serverless(config_name) and not serverless(live_config):
            raise StageError(
                "UpdateEndpoint failed",
                f"ValidationException: endpoint {name!r} is instance-based; it cannot be "
                f"updated to the serverless endpoint configuration {config_name!r}",
            )

    def _start_deployer(self, name: str, request: dict[str, Any]) -> None:
        folder = self.folder(name)
        state.write_json_atomic(folder / state.DEPLOYMENT_FILE, request)
        child = state.spawn(DEPLOYER_MODULE, folder, state.DEPLOYER_LOG)
        state.write_json_atomic(folder / state.DEPLOYER_FILE, {"pid": child.pid})

    def _locked(self, kind: str, name: str) -> contextlib.AbstractContextManager[None]:
        """The lock that makes checking for a record and creating or changing it one step
        between processes (two deploy-endpoint jobs of the same endpoint)."""
        return state.locked(self.layout.lock_file(kind, name))

    # -- invocation ---------------------------------------------------------------------------

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        """POST /invocations to the endpoint's server over a kept-alive connection per thread.

        The status checked first is the recorded one (probing the server on every request
        would double its cost); when the server does not answer, the error says why."""
        record = state.read_json_if_exists(self.folder(name) / state.ENDPOINT_FILE)
        if record is None or record["EndpointStatus"] not in ("InService", "Updating"):
            status = record["EndpointStatus"] if record else "missing"
            raise StageError(
                "InvokeEndpoint failed", f"ValidationException: endpoint {name!r} is {status}"
            )
        async_queue.refuse_real_time(self, name, record["EndpointConfigName"])
        return self.send_invocation(name, body, content_type, accept)

    def send_invocation(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        """POST /invocations to the endpoint's server (an async request's worker too)."""
        connection = self._connection(name)
        started = time.perf_counter()
        try:
            connection.request(
                "POST", "/invocations", body, {"Content-Type": content_type, "Accept": accept}
            )
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._drop_connection(name)
            problem = server_problem(self.folder(name))
            raise StageError(
                "InvokeEndpoint failed",
                f"the endpoint's server did not answer: {error}"
                + (f"; {problem}. {RESTART_HINT}" if problem else ""),
            ) from None
        seconds = time.perf_counter() - started
        return Invocation(
            status=response.status,
            body=payload,
            content_type=response.getheader("Content-Type", ""),
            variant=response.getheader("X-Amzn-Invoked-Production-Variant", ""),
            seconds=seconds,
        )

    def variant_statistics(
        self, endpoint: str, variants: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, VariantStatistics]:
        record = self.describe_endpoint(endpoint) or {}
        config = str(record.get("EndpointConfigName", ""))
        return variant_metrics.variant_statistics(self.folder(endpoint), config, variants, start)

    def invoke_endpoint_async(
        self, name: str, input_location: str, content_type: str, accept: str = "text/csv"
    ) -> dict[str, Any]:
        """InvokeEndpointAsync: the endpoint's queue and workers are async_queue.py's."""
        return async_queue.submit(self, name, input_location, content_type, accept)

    def async_result(self, name: str, submitted: dict[str, Any]) -> Invocation | None:
        return async_queue.result(self, name, submitted)

    def _connection(self, name: str) -> http.client.HTTPConnection:
        connections: dict[str, http.client.HTTPConnection] = self._connections.__dict__.setdefault(
            "by_name", {}
        )
        if name not in connections:
            server = state.read_json_if_exists(self.folder(name) / state.SERVER_FILE)
            if not server:
                raise StageError(
                    "InvokeEndpoint failed", f"endpoint {name!r} has no running server"
                )
            connections[name] = http.client.HTTPConnection(
                "127.0.0.1", int(server["port"]), timeout=30
            )
        return connections[name]

    def _drop_connection(self, name: str) -> None:
        connections = self._connections.__dict__.get("by_name", {})
        connection = connections.pop(name, None)
        if connection is not None:
            connection.close()


def server_problem(folder: Path) -> str:
    """Why the server of the endpoint in `folder` cannot serve, or '' when it can. Read from
    the process and its /ping (SageMaker's health check of a container), never from a file
    alone: kill -9 leaves server.json behind."""
    info = state.read_json_if_exists(folder / state.SERVER_FILE)
    if not info:
        return f"its server is not running (stopped: there is no {folder / state.SERVER_FILE})"
    pid, port = int(info["pid"]), int(info["port"])
    if not state.runs(pid, SERVER_MODULE, folder):
        return f"its server (pid {pid}) is gone (killed, or it crashed); see {folder / state.SERVER_LOG}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PING_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        body = response.read()
    except TimeoutError:
        return ""  # alive and busy: the recorded status stands
    except (OSError, http.client.HTTPException) as error:
        return f"its server (pid {pid}) does not answer /ping on port {port}: {error}"
    finally:
        connection.close()
    if response.status != 200:
        answer = body.decode("utf-8", "replace")[:200]
        return f"its server (pid {pid}) answers /ping with {response.status}: {answer}"
    return ""


def _failed(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """`record` as DescribeEndpoint gives a Failed endpoint (the file is left as it is)."""
    failed = {**record, "EndpointStatus": "Failed", "FailureReason": reason}
    failed.pop("PendingDeploymentSummary", None)
    return failed


def _terminate(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
