"""Carry out one create or update of a local endpoint; started detached by LocalHosting.

Usage: python -m smgha.backends.local.deployer <endpoint folder>

Reads `deployment.json` (what to do) and writes `endpoint.json` (the DescribeEndpoint record)
as it goes. An update is blue/green as in SageMaker: the new fleet starts beside the old one
and must pass its health check, traffic shifts to it all at once, as a canary or linearly,
the CloudWatch alarms named for auto-rollback are watched after every shift, and any alarm
(or a failed health check) sends all traffic back to the old fleet.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local import step_analysis as local_analysis
from smgha.backends.local.endpoints import EXIT_ANOTHER_SERVER, SERVER_MODULE, server_problem
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3
from smgha.resources import step_analysis

HEALTH_TIMEOUT = 120.0  # seconds for a new fleet to load its models
POLL = 0.2


class DeploymentFailed(Exception):
    """The new fleet cannot take the traffic; the message is the FailureReason."""


class Deployer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.layout = state.Layout.of_endpoint_folder(folder)
        self.request: dict[str, Any] = state.read_json(folder / state.DEPLOYMENT_FILE)
        self.record: dict[str, Any] = state.read_json(folder / state.ENDPOINT_FILE)
        region = self.record["EndpointArn"].split(":")[3]
        self.s3 = LocalS3(self.layout.s3)
        self.registry = LocalRegistry(self.layout, region)
        self.log_file = open(folder / state.DEPLOYER_LOG, "a", encoding="utf-8")  # noqa: SIM115
        analysis = (self.request.get("DeploymentConfig") or {}).get(step_analysis.SETTINGS_KEY)
        self.analysis = step_analysis.Settings.from_request(analysis) if analysis else None
        self.verdicts: list[dict[str, Any]] = []

    def log(self, message: str) -> None:
        self.log_file.write(f"{state.now().isoformat(timespec='seconds')} {message}\n")
        self.log_file.flush()

    def save(self, **changes: Any) -> None:
        self.record.update(changes, LastModifiedTime=state.to_iso(state.now()))
        state.write_json_atomic(self.folder / state.ENDPOINT_FILE, self.record)

    def in_service(self, **changes: Any) -> None:
        """Save the endpoint InService, which it is only with a server that answers its
        health check (/ping 200): every way to InService ends here."""
        problem = server_problem(self.folder)
        if problem:
            raise DeploymentFailed(f"the endpoint cannot serve: {problem}")
        self.save(EndpointStatus="InService", PendingDeploymentSummary=None, **changes)

    # -- fleets: the variants of one endpoint config, as the server hosts them ---------------

    def fleet(self, config_name: str) -> list[dict[str, Any]]:
        config = state.read_json(self.layout.endpoint_config_file(config_name))
        variants = []
        production = f"{config['ProductionVariants'][0]['VariantName']}@{config_name}"
        shadows = [
            {**v, "ShadowOf": production} for v in config.get("ShadowProductionVariants") or []
        ]
        for variant in config["ProductionVariants"] + shadows:
            model = state.read_json(self.layout.model_file(variant["ModelName"]))
            container = self.serving_container(model)
            served = {
                "VariantName": f"{variant['VariantName']}@{config_name}",
                "ModelDataPath": str(self.s3.path(str(container["ModelDataUrl"]))),
                "Weight": float(variant.get("InitialVariantWeight", 1.0)),
                # The container decides from it whether to serve the built-in algorithm.
                "Environment": container.get("Environment") or {},
                "Image": str(container.get("Image") or ""),
            }
            if variant.get("ServerlessConfig"):  # scales to zero (serving/serverless.py)
                served["Serverless"] = variant["ServerlessConfig"]
            if variant.get("ShadowOf"):  # gets copies of its requests (serving/mirror.py)
                served["ShadowOf"] = variant["ShadowOf"]
            variants.append(served)
        return variants

    def serving_container(self, model: dict[str, Any]) -> dict[str, Any]:
        return model_container(model, self.registry)

    def data_capture(self, config_name: str) -> dict[str, Any]:
        config = state.read_json(self.layout.endpoint_config_file(config_name))
        capture = config.get("DataCaptureConfig") or {}
        if not capture.get("EnableCapture", False):
            return {"Enabled": False}
        return {
            "Enabled": True,
            "SamplingPercentage": capture.get("InitialSamplingPercentage", 100),
            "Destination": str(self.s3.path(capture["DestinationS3Uri"])),
            "CaptureContentTypeHeader": capture.get("CaptureContentTypeHeader", {}),
        }

    def serve(self, variants: list[dict[str, Any]], config_name: str) -> None:
        state.write_json_atomic(
            self.folder / state.SERVING_FILE,
            {
                "EndpointName": self.record["EndpointName"],
                "Variants": variants,
                "DataCapture": self.data_capture(config_name),
            },
        )
        self.ensure_server()

    # -- the server ------------------------------------------------------------------------------

    def ensure_server(self) -> None:
        """Make the running server re-read serving.json, or start one (when there is none,
        or it is gone) and wait until it has loaded its variants and written server.json."""
        info = state.read_json_if_exists(self.folder / state.SERVER_FILE)
        if info and state.runs(int(info["pid"]), SERVER_MODULE, self.folder):
            os.kill(int(info["pid"]), signal.SIGHUP)  # re-read serving.json now
            return
        if info:
            self.log(f"the endpoint's server (pid {info['pid']}) is gone; starting another")
        # kill -9 leaves a server.json behind: it must not pass for the new server's.
        (self.folder / state.SERVER_FILE).unlink(missing_ok=True)
        server = state.spawn(SERVER_MODULE, self.folder, state.SERVER_OUT)
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            started = state.read_json_if_exists(self.folder / state.SERVER_FILE)
            if started and started.get("pid") == server.pid:
                return
            if server.poll() == EXIT_ANOTHER_SERVER and started:
                # A server that was still loading (its deployer killed) holds the endpoint:
                # it serves now, and it is told to read this serving.json.
                os.kill(int(started["pid"]), signal.SIGHUP)
                return
            if server.poll() not in (None, EXIT_ANOTHER_SERVER):
                raise DeploymentFailed(
                    f"the endpoint's server exited with code {server.returncode} before it "
                    f"served; see {self.folder / state.SERVER_OUT}"
                )
            time.sleep(POLL)
        server.kill()  # no server is left behind that nothing knows of
        raise DeploymentFailed(
            f"the endpoint's server did not start within {HEALTH_TIMEOUT:.0f}s; see "
            f"{self.folder / state.SERVER_OUT}"
        )

    def get(self, path: str) -> Any:
        """GET `path` of the endpoint's server; DeploymentFailed when it does not answer (a
        server killed during a deployment fails it, and an update then rolls back)."""
        info = state.read_json_if_exists(self.folder / state.SERVER_FILE) or {}
        connection = http.client.HTTPConnection("127.0.0.1", int(info.get("port", 0)), timeout=10)
        try:
            connection.request("GET", path)
            return json.loads(connection.getresponse().read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as error:
            problem = server_problem(self.folder) or "it may be overloaded"
            raise DeploymentFailed(
                f"the endpoint's server did not answer GET {path} ({error}): {problem}"
            ) from None
        finally:
            connection.close()

    def wait_healthy(self, names: list[str], only: bool = False) -> None:
        """Every variant in `names` InService (with `only`, and no other served: the server
        applied the serving.json that dropped them), or DeploymentFailed with the first failure."""
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            statuses = {v["VariantName"]: v for v in self.get("/_smgha/variants")}
            failed = [statuses[n] for n in names if statuses.get(n, {}).get("Status") == "Failed"]
            if failed:
                raise DeploymentFailed(
                    f"the new fleet failed its health check: {failed[0]['VariantName']}: {failed[0].get('FailureReason', '')}"
                )
            if all(statuses.get(n, {}).get("Status") == "InService" for n in names) and (
                not only or set(statuses) == set(names)
            ):
                return
            time.sleep(POLL)
        raise DeploymentFailed(
            f"the new fleet did not pass its health check within {HEALTH_TIMEOUT:.0f}s"
        )

    # -- create ----------------------------------------------------------------------------------

    def create(self) -> None:
        config_name = self.request["EndpointConfigName"]
        variants = self.fleet(config_name)
        self.serve(variants, config_name)
        self.wait_healthy([v["VariantName"] for v in variants])
        self.in_service(ProductionVariants=self.describe_variants(config_name, 100.0))
        self.log(f"created on {config_name}")

    # -- update: blue/green ------------------------------------------------------------------

    def update(self) -> None:
        old, new = self.record["EndpointConfigName"], self.request["EndpointConfigName"]
        deployment = self.request.get("DeploymentConfig") or {}
        blue, green = self.fleet(old), self.fleet(new)
        if old == new:
            # Nothing to shift: the same fleet again, which starts a server that is gone (a
            # redeploy of an endpoint whose server was killed) and must pass the health check.
            self.serve(blue, old)
            self.wait_healthy([v["VariantName"] for v in blue])
            self.in_service(ProductionVariants=self.describe_variants(old, 100.0))
            self.log(f"serving {old} again")
            return
        try:
            self.serve(blue + [{**v, "Weight": 0.0} for v in green], old)
            self.wait_healthy([v["VariantName"] for v in green])
            self.save(**{step_analysis.VERDICTS_KEY: self.verdicts})  # none yet
            self.analyse(local_analysis.pre_traffic_verdict(self.analysis, self.folder, green))
            self.shift(blue, green, old, new, deployment)
            self.serve(green, new)  # InService once the server serves the new config (capture)
            self.wait_healthy([v["VariantName"] for v in green], only=True)
        except DeploymentFailed as failure:
            self.roll_back(blue, old, failure)
            return
        self.in_service(
            EndpointConfigName=new,
            ProductionVariants=self.describe_variants(new, 100.0),
            LastDeploymentConfig=deployment,
        )
        self.log(f"updated {old} -> {new}")

    def roll_back(self, blue: list[dict[str, Any]], old: str, failure: DeploymentFailed) -> None:
        """All traffic back to the old fleet, on a server that really serves it (the failure
        may have been the server's death: then a new one starts)."""
        try:
            self.serve(blue, old)
            self.wait_healthy([v["VariantName"] for v in blue], only=True)
            self.in_service(FailureReason=f"Rolled back to {old}: {failure}")
        except DeploymentFailed as second:
            raise DeploymentFailed(
                f"{failure}; rolling back to {old} failed too: {second}"
            ) from None
        self.log(f"rolled back: {failure}")

    def shift(
        self,
        blue: list[dict[str, Any]],
        green: list[dict[str, Any]],
        old: str,
        new: str,
        deployment: dict[str, Any],
    ) -> None:
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {
            "Type": "ALL_AT_ONCE",
            "WaitIntervalInSeconds": 0,
        }
        alarms = [
            a["AlarmName"]
            for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        ]
        wait = float(routing.get("WaitIntervalInSeconds", 0))
        started = time.time()
        fleet = sum(int(v.get("InitialInstanceCount") or 1) for v in green)
        for step, share in enumerate(traffic_schedule(routing, fleet), start=1):
            self.log(f"{share:g}% of traffic on {new}")
            shifted = time.time()
            self.serve(_weighted(blue, 100 - share) + _weighted(green, share), old)
            self.save(
                PendingDeploymentSummary={
                    "EndpointConfigName": new,
                    "StartTime": state.to_iso(state.now()),
                    "ProductionVariants": self.describe_variants(new, share),
                }
            )
            self.bake(
                wait if share < 100 else float(policy.get("TerminationWaitInSeconds", 0)),
                alarms,
                green,
                started,
            )
            if share < 100:  # the step analysis, when asked (local/step_analysis.py)
                fleets, at = (blue, green), (step, share, shifted)
                self.analyse(local_analysis.step_verdict(self.analysis, self.get, fleets, at, fleet_statistic))  # fmt: skip

    def analyse(self, verdict: dict[str, Any] | None) -> None:
        """Record a verdict of the step analysis in the endpoint record; a miss rolls back."""
        if verdict is None:
            return
        self.verdicts.append(verdict)
        self.save(**{step_analysis.VERDICTS_KEY: self.verdicts})
        self.log(f"step analysis: {verdict}")
        if step_analysis.missed(verdict):
            raise DeploymentFailed(step_analysis.missed(verdict))

    def bake(
        self, seconds: float, alarms: list[str], green: list[dict[str, Any]], since: float
    ) -> None:
        """Wait `seconds`, checking the auto-rollback alarms against the new fleet."""
        deadline = time.monotonic() + seconds
        while True:
            for name in alarms:
                breach = self.alarm_breached(name, [v["VariantName"] for v in green], since)
                if breach:
                    raise DeploymentFailed(f"alarm {name} went into ALARM: {breach}")
            if time.monotonic() >= deadline:
                return
            time.sleep(min(POLL * 2.5, max(0.0, deadline - time.monotonic())))

    def alarm_breached(self, name: str, fleet: list[str], since: float) -> str:
        """'' while the alarm is OK; else why it fired (and the alarm record says ALARM)."""
        path = self.layout.alarm_file(name)
        alarm = state.read_json_if_exists(path)
        if alarm is None:
            return ""
        metrics = self.get(f"/_smgha/metrics?since={since}")
        value = fleet_statistic(metrics, fleet, alarm["MetricName"], alarm.get("Statistic", "Sum"))
        if value is None or not _compare(
            value, alarm["ComparisonOperator"], float(alarm["Threshold"])
        ):
            return ""
        reason = f"{alarm['MetricName']} {alarm.get('Statistic', 'Sum')} {value:g} {alarm['ComparisonOperator']} {alarm['Threshold']:g}"
        state.write_json_atomic(path, {**alarm, "StateValue": "ALARM", "StateReason": reason})
        return reason

    def describe_variants(self, config_name: str, share: float) -> list[dict[str, Any]]:
        config = state.read_json(self.layout.endpoint_config_file(config_name))
        return [_variant_summary(v, share) for v in config["ProductionVariants"]]


def model_container(model: dict[str, Any], registry: LocalRegistry) -> dict[str, Any]:
    """The container the model runs (an endpoint's variant, a transform job): its own, or the
    first of its model package's.

    A model of a package gets the package container's Environment with the model's own
    on top. (How SageMaker combines the two is unconfirmed; the union is the stricter
    reading: a SAGEMAKER_PROGRAM set by either counts.)
    """
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if container.get("ModelDataUrl"):
        return dict(container)
    package = registry.describe_model_package(container.get("ModelPackageName", ""))
    if package is None:
        raise DeploymentFailed(
            f"model {model['ModelName']}: no model package {container.get('ModelPackageName')!r}"
        )
    served = package["InferenceSpecification"]["Containers"][0]
    environment = {**(served.get("Environment") or {}), **(container.get("Environment") or {})}
    return {**served, "Environment": environment}


def _variant_summary(variant: dict[str, Any], share: float) -> dict[str, Any]:
    """DescribeEndpoint's ProductionVariantSummary of a config's variant: instance counts, or
    a serverless variant's CurrentServerlessConfig and DesiredServerlessConfig (botocore's
    sagemaker model) instead."""
    weight = float(variant.get("InitialVariantWeight", 1.0))
    summary: dict[str, Any] = {
        "VariantName": variant["VariantName"],
        "CurrentWeight": weight * share / 100,
        "DesiredWeight": weight,
    }
    if variant.get("ServerlessConfig"):
        summary["CurrentServerlessConfig"] = variant["ServerlessConfig"]
        summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
        return summary
    count = variant.get("InitialInstanceCount", 1)
    return {**summary, "CurrentInstanceCount": count, "DesiredInstanceCount": count}


def traffic_schedule(routing: dict[str, Any], fleet_instances: int = 1) -> list[float]:
    """The share of traffic (percent) on the new fleet after each shift. A CapacitySize of
    Type INSTANCE_COUNT is that many of the new fleet's `fleet_instances`."""

    def percent(size: dict[str, Any]) -> float:
        value = float(size["Value"])
        if size.get("Type") == "INSTANCE_COUNT":
            return min(100.0, 100.0 * value / max(fleet_instances, 1))
        return value

    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        return [percent(routing["CanarySize"]), 100.0]
    if kind == "LINEAR":
        step = percent(routing["LinearStepSize"])
        shares, share = [], step
        while share < 100:
            shares.append(share)
            share += step
        return [*shares, 100.0]
    return [100.0]


def fleet_statistic(metrics: Any, fleet: list[str], metric: str, statistic: str) -> float | None:
    """A CloudWatch-like statistic of one metric over the fleet's variants, from the server's
    `/_smgha/metrics?since=` answer. None when there is no data point (alarms stay OK)."""
    variants = (metrics or {}).get("Variants", {})
    rows = [variants[name] for name in fleet if name in variants]
    if metric == "ModelLatency":
        counts = [r.get("ModelLatency", {}).get("SampleCount", 0) for r in rows]
        if not sum(counts):
            return None
        if statistic == "Maximum":
            return max(r["ModelLatency"].get("Maximum", 0.0) for r in rows)
        total = sum(
            r["ModelLatency"].get("Average", 0.0) * c for r, c in zip(rows, counts, strict=True)
        )
        return total / sum(counts)
    values = [r.get(metric, 0) for r in rows]
    return float(sum(values)) if rows else None


def _compare(value: float, operator: str, threshold: float) -> bool:
    return {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }[operator]


def _weighted(variants: list[dict[str, Any]], share: float) -> list[dict[str, Any]]:
    return [{**v, "Weight": v["Weight"] * share / 100} for v in variants]


def main(folder: str) -> int:
    deployer = Deployer(Path(folder))
    action = deployer.request["Action"]
    try:
        deployer.create() if action == "create" else deployer.update()
    except DeploymentFailed as failure:
        deployer.save(
            EndpointStatus="Failed", FailureReason=str(failure), PendingDeploymentSummary=None
        )
        deployer.log(f"failed: {failure}")
        return 1
    except Exception as error:  # the deployer must always leave a final status behind
        deployer.save(
            EndpointStatus="Failed",
            FailureReason=f"local deployer error: {type(error).__name__}: {error}",
            PendingDeploymentSummary=None,
        )
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
