"""CloudWatch alarms and Application Auto Scaling on this machine: records in the shapes of
the Describe* responses, kept under the state folder (where: state.Layout). Nothing scales
and no alarm evaluates itself: the deployer reads an alarm's metric from the server
(deployer.py alarm_breached); what is and is not emulated is in docs/aws-fidelity.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.errors import StageError


class AlarmsAndScaling:
    """The alarm and scaling calls of the local Hosting area (LocalHosting inherits them)."""

    layout: state.Layout
    region: str

    def put_metric_alarm(self, request: dict[str, Any]) -> None:
        path = self.layout.alarm_file(request["AlarmName"])
        previous = state.read_json_if_exists(path) or {}
        state.write_json_atomic(
            path,
            {
                **request,
                "StateValue": previous.get("StateValue", "OK"),
                "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{state.LOCAL_ACCOUNT}:alarm:{request['AlarmName']}",
            },
        )

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            a for a in (state.read_json_if_exists(self.layout.alarm_file(n)) for n in names) if a
        ]

    def describe_alarms_for_metric(
        self, metric: str, namespace: str, dimensions: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        """The alarms on this metric with exactly these dimensions (CloudWatch's
        DescribeAlarmsForMetric), in name order."""
        folder = self.layout.root / "alarms"  # where alarm_file keeps them
        records = (
            [state.read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        )
        wanted = sorted((d["Name"], d["Value"]) for d in dimensions)
        return [
            a for a in records
            if (a.get("MetricName"), a.get("Namespace")) == (metric, namespace)
            and sorted((d["Name"], d["Value"]) for d in a.get("Dimensions", [])) == wanted
        ]  # fmt: skip

    def set_alarm_state(self, name: str, value: str, reason: str) -> None:
        """CloudWatch's SetAlarmState: what an evaluation of the alarm's metric decided (the
        local monitoring execution evaluates its own alarms: smgha/model_quality_run.py)."""
        path = self.layout.alarm_file(name)
        alarm = state.read_json_if_exists(path)
        if alarm is None:
            raise StageError("SetAlarmState failed", f"ResourceNotFound: no alarm {name!r}")
        state.write_json_atomic(path, {**alarm, "StateValue": value, "StateReason": reason})

    def register_scalable_target(self, request: dict[str, Any]) -> None:
        path = self._scaling_file(request["ResourceId"])
        previous = state.read_json_if_exists(path) or {}
        state.write_json_atomic(
            path, {**previous, **request, "Policies": previous.get("Policies", {})}
        )

    def put_scaling_policy(self, request: dict[str, Any]) -> str:
        path = self._scaling_file(request["ResourceId"])
        record = state.read_json_if_exists(path)
        if record is None or record.get("ScalableDimension") != request["ScalableDimension"]:
            raise StageError(
                "PutScalingPolicy failed",
                f"ObjectNotFoundException: no scalable target {request['ResourceId']} of {request['ScalableDimension']}",
            )
        # The ARN's shape: arn:aws:autoscaling:<region>:<account>:scalingPolicy:<id>:resource/
        # sagemaker/<resource>:policyName/<name> (PutScalingPolicy's documented example).
        arn = (
            f"arn:aws:autoscaling:{self.region}:{state.LOCAL_ACCOUNT}:scalingPolicy:local:"
            f"resource/sagemaker/{request['ResourceId']}:policyName/{request['PolicyName']}"
        )
        record["Policies"][request["PolicyName"]] = {**request, "PolicyARN": arn}
        state.write_json_atomic(path, record)
        return arn

    def describe_scalable_target(
        self, resource_id: str, dimension: str = "sagemaker:variant:DesiredInstanceCount"
    ) -> dict[str, Any] | None:
        """The variant's scaling record of `dimension`, kept; nothing scales (aws-fidelity.md)."""
        record = state.read_json_if_exists(self._scaling_file(resource_id))
        return record if record and record.get("ScalableDimension") == dimension else None

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        path = self._scaling_file(resource_id)
        record = state.read_json_if_exists(path)
        if record is None or policy_name not in record.get("Policies", {}):
            raise StageError(
                "DeleteScalingPolicy failed",
                f"ObjectNotFoundException: no scaling policy {policy_name} on {resource_id}",
            )
        del record["Policies"][policy_name]
        state.write_json_atomic(path, record)

    def deregister_scalable_target(self, resource_id: str) -> None:
        path = self._scaling_file(resource_id)
        if not path.exists():
            raise StageError(
                "DeregisterScalableTarget failed",
                f"ObjectNotFoundException: no scalable target {resource_id}",
            )
        path.unlink()

    def _scaling_file(self, resource_id: str) -> Path:
        return self.layout.scaling_file(resource_id)
