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
            state.write_json(path, record)
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
            state.write_json(self.root / group / f"{version}.json", record)
        return record

    def list_model_packages(self, group: str) -> list[dict[str, Any]]:
        """Every version of the group, oldest first."""
        files = sorted(self._version_files(group), key=lambda p: int(p.stem))
        return [state.read_json(p) for p in files]

    def _version_files(self, group: str) -> list[Path]:
        folder = self.root / group
        return [p for p in folder.glob("*.json") if p.stem.isdigit()] if folder.is_dir() else []
