"""The model registry on disk: groups of versioned model packages, as SageMaker keeps them.

`<state>/registry/<group>/group.json` and `<state>/registry/<group>/<version>.json`, each
record shaped like the Describe* response of the real API so stages read both alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smgha.backends.local import state


class LocalRegistry:
    def __init__(self, root: Path, region: str) -> None:
        self.root = root
        self.region = region

    def group_arn(self, group: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}:model-package-group/{group}"

    def package_arn(self, group: str, version: int) -> str:
        return (
            f"arn:aws:sagemaker:{self.region}:{state.LOCAL_ACCOUNT}"
            f":model-package/{group.lower()}/{version}"
        )

    def ensure_group(self, group: str, description: str = "") -> dict[str, Any]:
        """The group's record, created when missing (a pipeline's RegisterModel step does so)."""
        path = self.root / group / "group.json"
        with state.locked(self.root / group / ".lock"):
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

    def create_model_package(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateModelPackage for a versioned package: the next version in its group."""
        group = request["ModelPackageGroupName"]
        self.ensure_group(group)
        with state.locked(self.root / group / ".lock"):
            version = 1 + max((int(p.stem) for p in self._version_files(group)), default=0)
            record = {
                **request,
                "ModelPackageGroupName": group,
                "ModelPackageVersion": version,
                "ModelPackageArn": self.package_arn(group, version),
                "ModelPackageStatus": "Completed",
                "ModelApprovalStatus": request.get("ModelApprovalStatus", "PendingManualApproval"),
                "CreationTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(self.root / group / f"{version}.json", record)
        return record

    def describe_group(self, group: str) -> dict[str, Any] | None:
        path = self.root / group / "group.json"
        return state.read_json(path) if path.exists() else None

    def list_model_packages(
        self, group: str, approval_status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's versions, newest first (as ListModelPackages sorts by CreationTime)."""
        files = sorted(self._version_files(group), key=lambda p: int(p.stem), reverse=True)
        records = [state.read_json(p) for p in files]
        if approval_status:
            records = [r for r in records if r.get("ModelApprovalStatus") == approval_status]
        return records[:limit] if limit is not None else records

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        path = self._package_file(arn)
        return state.read_json(path) if path and path.exists() else None

    def update_model_package(self, arn: str, changes: dict[str, Any]) -> dict[str, Any]:
        """UpdateModelPackage: set the given fields; CustomerMetadataProperties merge."""
        path = self._package_file(arn)
        if path is None or not path.exists():
            raise KeyError(arn)
        with state.locked(path.parent / ".lock"):
            record = state.read_json(path)
            for key, value in changes.items():
                if key == "CustomerMetadataProperties":
                    record[key] = {**record.get(key, {}), **value}
                else:
                    record[key] = value
            record["LastModifiedTime"] = state.to_iso(state.now())
            state.write_json_atomic(path, record)
        return record

    def _package_file(self, arn: str) -> Path | None:
        """The record behind a package ARN (ARNs lower-case the group's name)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("model-package/"):
            return None
        _, lowered_group, version = (parts[5].split("/") + ["", ""])[:3]
        if not version.isdigit() or not self.root.is_dir():
            return None
        for folder in self.root.iterdir():
            if folder.name.lower() == lowered_group:
                return folder / f"{int(version)}.json"
        return None

    def _version_files(self, group: str) -> list[Path]:
        folder = self.root / group
        return [p for p in folder.glob("*.json") if p.stem.isdigit()] if folder.is_dir() else []
