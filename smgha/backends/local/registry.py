"""The model registry on disk: groups of versioned model packages, as SageMaker keeps them.

Each record (where: state.Layout) is shaped like the Describe* response of the real API so
stages read both backends alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.errors import StageError


class LocalRegistry:
    """The Registry area of the local backend (also what a pipeline's RegisterModel step
    and the deployer read and write)."""

    def __init__(self, layout: state.Layout, region: str) -> None:
        self.layout = layout
        self.region = region

    def group_arn(self, group: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}:model-package-group/{group}"

    def package_arn(self, group: str, version: int) -> str:
        return (
            f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}"
            f":model-package/{group.lower()}/{version}"
        )

    def _lock(self, group: str) -> Path:
        return self.layout.group_folder(group) / state.LOCK_FILE

    def ensure_group(self, group: str, description: str = "") -> dict[str, Any]:
        """The group's record, created when missing (a pipeline's RegisterModel step does so)."""
        path = self.layout.group_file(group)
        with state.locked(self._lock(group)):
            if path.exists():
                return state.read_json(path)
            record = {
                "ModelPackageGroupName": group,
                "ModelPackageGroupArn": self.group_arn(group),
                "ModelPackageGroupDescription": description,
                "ModelPackageGroupStatus": "Completed",
                "CreationTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(path, record)
            return record

    def create_model_package(self, request: dict[str, Any]) -> str:
        """CreateModelPackage for a versioned package: the next version in its group (the
        group is created when missing); return its ARN."""
        group = request["ModelPackageGroupName"]
        self.ensure_group(group)
        with state.locked(self._lock(group)):
            files = self.layout.version_files(group)
            version = 1 + max((int(p.stem) for p in files), default=0)
            record = {
                **request,
                "ModelPackageGroupName": group,
                "ModelPackageVersion": version,
                "ModelPackageArn": self.package_arn(group, version),
                "ModelPackageStatus": "Completed",
                "ModelApprovalStatus": request.get("ModelApprovalStatus", "PendingManualApproval"),
                "CreationTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(self.layout.version_file(group, version), record)
        return str(record["ModelPackageArn"])

    def describe_model_package_group(self, group: str) -> dict[str, Any] | None:
        path = self.layout.group_file(group)
        return state.read_json(path) if path.exists() else None

    def list_model_packages(
        self, group: str, approval_status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's versions, newest first (as ListModelPackages sorts by CreationTime)."""
        files = sorted(self.layout.version_files(group), key=lambda p: int(p.stem), reverse=True)
        records = [state.read_json(p) for p in files]
        if approval_status:
            records = [r for r in records if r.get("ModelApprovalStatus") == approval_status]
        return records[:limit] if limit is not None else records

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        path = self._package_file(arn)
        return state.read_json(path) if path and path.exists() else None

    def update_model_package(
        self,
        arn: str,
        approval_status: str | None = None,
        approval_description: str | None = None,
        customer_metadata: dict[str, str] | None = None,
    ) -> None:
        """UpdateModelPackage: set the given fields; CustomerMetadataProperties merge."""
        changes: dict[str, Any] = {}
        if approval_status is not None:
            changes["ModelApprovalStatus"] = approval_status
        if approval_description is not None:
            changes["ApprovalDescription"] = approval_description[:1024]
        if customer_metadata:
            changes["CustomerMetadataProperties"] = customer_metadata
        path = self._package_file(arn)
        if path is None or not path.exists():
            raise StageError(
                "UpdateModelPackage failed", f"ResourceNotFound: no model package {arn}"
            )
        with state.locked(path.parent / state.LOCK_FILE):
            record = state.read_json(path)
            for key, value in changes.items():
                if key == "CustomerMetadataProperties":
                    record[key] = {**record.get(key, {}), **value}
                else:
                    record[key] = value
            record["LastModifiedTime"] = state.to_iso(state.now())
            state.write_json_atomic(path, record)

    def describe_training_job(self, arn: str) -> dict[str, Any] | None:
        """The record the executor wrote of a pipeline's training job, or None."""
        return state.read_json_if_exists(self.layout.job_file(arn.rsplit("/", 1)[-1]))

    def describe_tuning_job(self, arn: str) -> dict[str, Any] | None:
        """The record the executor wrote of a pipeline's tuning job (tuning.run_tuning), or None."""
        return state.read_json_if_exists(self.layout.job_file(arn.rsplit("/", 1)[-1]))

    def list_training_jobs_for_tuning_job(self, arn: str) -> list[dict[str, Any]] | None:
        """The tuning job's trials: its record's TrainingJobSummaries, which hold the best 50
        (the step's properties: tuning.MAX_SUMMARIES). SageMaker lists every trial; when the
        record holds fewer than the job ran, the rest are not kept here: None (not listed)."""
        described = self.describe_tuning_job(arn)
        if described is None:
            return None
        summaries = list(described.get("TrainingJobSummaries") or [])
        counters = described.get("TrainingJobStatusCounters") or {}
        ran = sum(int(counters.get(key, 0)) for key in ("Completed", "NonRetryableError"))
        return summaries if len(summaries) >= ran else None

    def _package_file(self, arn: str) -> Path | None:
        """The record behind a package ARN (ARNs lower-case the group's name)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("model-package/"):
            return None
        _, lowered_group, version = (parts[5].split("/") + ["", ""])[:3]
        registry = self.layout.registry
        if not version.isdigit() or not registry.is_dir():
            return None
        for folder in registry.iterdir():
            if folder.name.lower() == lowered_group:
                return self.layout.version_file(folder.name, int(version))
        return None
