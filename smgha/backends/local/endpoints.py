"""SageMaker hosting on this machine: models, endpoint configs, endpoints, alarms, scaling.

Records live under the state folder in the shapes of the Describe* responses:

    models/<ModelName>.json              CreateModel request + ModelArn
    endpoint-configs/<Name>.json         CreateEndpointConfig request + EndpointConfigArn
    endpoints/<Name>/endpoint.json       DescribeEndpoint
    endpoints/<Name>/serving.json        what the endpoint's server hosts (written by the deployer)
    endpoints/<Name>/server.json         the server's pid and port (written by the server)
    alarms/<AlarmName>.json              PutMetricAlarm request + StateValue
    autoscaling/<resource id>.json       scalable target and its policies

Create and update are asynchronous, as in SageMaker: a detached deployer process
(`deployer.py`) starts the server, shifts traffic and watches alarms, writing the status.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import threading
import time
from pathlib import Path
from typing import Any

from smgha.backends import Invocation
from smgha.backends.local import state
from smgha.errors import StageError


class LocalEndpoints:
    """The EndpointBackend half of LocalBackend."""

    def __init__(self, root: Path, region: str) -> None:
        self.root = root
        self.region = region
        self._connections = threading.local()

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}:{kind}/{name.lower()}"

    # -- models and endpoint configs ------------------------------------------------------

    def describe_model(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.root / "models" / f"{name}.json")

    def create_model(self, request: dict[str, Any]) -> None:
        path = self.root / "models" / f"{request['ModelName']}.json"
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
        state.write_json(path, record)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.root / "endpoint-configs" / f"{name}.json")

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        name = request["EndpointConfigName"]
        path = self.root / "endpoint-configs" / f"{name}.json"
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
        state.write_json(path, record)

    # -- endpoints --------------------------------------------------------------------------

    def folder(self, name: str) -> Path:
        return self.root / "endpoints" / name

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.folder(name) / "endpoint.json")

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        if self.describe_endpoint(name) is not None:
            raise StageError(
                "CreateEndpoint failed",
                f"ValidationException: Cannot create already existing endpoint {name!r}",
            )
        self._require_config(config_name, "CreateEndpoint")
        moment = state.to_iso(state.now())
        state.write_json(
            self.folder(name) / "endpoint.json",
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
        record = self.describe_endpoint(name)
        if record is None:
            raise StageError(
                "UpdateEndpoint failed", f"ValidationException: Could not find endpoint {name!r}"
            )
        if record["EndpointStatus"] not in ("InService", "Failed"):
            raise StageError(
                "UpdateEndpoint failed",
                f"ValidationException: endpoint {name!r} is {record['EndpointStatus']}; wait until it is InService",
            )
        self._require_config(config_name, "UpdateEndpoint")
        record.update(EndpointStatus="Updating", LastModifiedTime=state.to_iso(state.now()))
        record.pop("FailureReason", None)
        state.write_json(self.folder(name) / "endpoint.json", record)
        self._start_deployer(
            name,
            {
                "Action": "update",
                "EndpointConfigName": config_name,
                "DeploymentConfig": deployment_config or {},
            },
        )

    def delete_endpoint(self, name: str) -> None:
        """Stop the endpoint's server and deployer and forget the endpoint."""
        folder = self.folder(name)
        for pid_file in ("server.json", "deployer.json"):
            info = state.read_json_if_exists(folder / pid_file)
            if info and info.get("pid"):
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

    def _start_deployer(self, name: str, request: dict[str, Any]) -> None:
        folder = self.folder(name)
        state.write_json(folder / "deployment.json", request)
        child = state.spawn("smgha.backends.local.deployer", folder, "deployer.log")
        state.write_json(folder / "deployer.json", {"pid": child.pid})

    # -- CloudWatch alarms and Application Auto Scaling (records) ------------------------------

    def put_metric_alarm(self, request: dict[str, Any]) -> None:
        path = self.root / "alarms" / f"{request['AlarmName']}.json"
        previous = state.read_json_if_exists(path) or {}
        state.write_json(
            path,
            {
                **request,
                "StateValue": previous.get("StateValue", "OK"),
                "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{state.LOCAL_ACCOUNT}:alarm:{request['AlarmName']}",
            },
        )

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            a
            for a in (state.read_json_if_exists(self.root / "alarms" / f"{n}.json") for n in names)
            if a
        ]

    def register_scalable_target(self, request: dict[str, Any]) -> None:
        path = self._scaling_file(request["ResourceId"])
        previous = state.read_json_if_exists(path) or {}
        state.write_json(path, {**previous, **request, "Policies": previous.get("Policies", {})})

    def put_scaling_policy(self, request: dict[str, Any]) -> None:
        path = self._scaling_file(request["ResourceId"])
        record = state.read_json_if_exists(path)
        if record is None:
            raise StageError(
                "PutScalingPolicy failed",
                f"ObjectNotFoundException: no scalable target {request['ResourceId']}",
            )
        record["Policies"][request["PolicyName"]] = request
        state.write_json(path, record)

    def describe_scalable_target(self, resource_id: str) -> dict[str, Any] | None:
        """The scaling record of a variant (what RegisterScalableTarget and PutScalingPolicy
        left): the local backend keeps them for inspection and does not scale."""
        return state.read_json_if_exists(self._scaling_file(resource_id))

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        path = self._scaling_file(resource_id)
        record = state.read_json_if_exists(path)
        if record is None or policy_name not in record.get("Policies", {}):
            raise StageError(
                "DeleteScalingPolicy failed",
                f"ObjectNotFoundException: no scaling policy {policy_name} on {resource_id}",
            )
        del record["Policies"][policy_name]
        state.write_json(path, record)

    def deregister_scalable_target(self, resource_id: str) -> None:
        path = self._scaling_file(resource_id)
        if not path.exists():
            raise StageError(
                "DeregisterScalableTarget failed",
                f"ObjectNotFoundException: no scalable target {resource_id}",
            )
        path.unlink()

    def _scaling_file(self, resource_id: str) -> Path:
        return self.root / "autoscaling" / (resource_id.replace("/", "__") + ".json")

    # -- invocation ---------------------------------------------------------------------------

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        """POST /invocations to the endpoint's server over a kept-alive connection per thread."""
        record = self.describe_endpoint(name)
        if record is None or record["EndpointStatus"] not in ("InService", "Updating"):
            status = record["EndpointStatus"] if record else "missing"
            raise StageError(
                "InvokeEndpoint failed", f"ValidationException: endpoint {name!r} is {status}"
            )
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
            raise StageError(
                "InvokeEndpoint failed", f"the endpoint's server did not answer: {error}"
            ) from None
        seconds = time.perf_counter() - started
        return Invocation(
            status=response.status,
            body=payload,
            content_type=response.getheader("Content-Type", ""),
            variant=response.getheader("X-Amzn-Invoked-Production-Variant", ""),
            seconds=seconds,
        )

    def _connection(self, name: str) -> http.client.HTTPConnection:
        connections: dict[str, http.client.HTTPConnection] = self._connections.__dict__.setdefault(
            "by_name", {}
        )
        if name not in connections:
            server = state.read_json_if_exists(self.folder(name) / "server.json")
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


def _terminate(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
