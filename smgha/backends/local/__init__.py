"""The local backend: SageMaker's pipeline service, registry, hosting, Model Monitor and S3,
on this machine, in one state folder (state.py says where everything lives in it).

Each service area is a module of its own (pipelines, registry, endpoints, monitoring, s3);
LocalBackend holds one of each, sharing the state folder's layout.
"""

from __future__ import annotations

from pathlib import Path

from smgha.backends.local import state
from smgha.backends.local.endpoints import LocalHosting
from smgha.backends.local.monitoring import LocalMonitoring
from smgha.backends.local.pipelines import LocalPipelines
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3
from smgha.backends.local.transform import LocalTransforms


class LocalBackend:
    """Every area of the Backend port on this machine, in the state folder `root`."""

    def __init__(self, region: str, root: Path | None = None) -> None:
        self.region = region
        self.root = root or state.state_dir()
        self.layout = state.Layout(self.root)
        self.objects = LocalS3(self.layout.s3)
        self.pipelines = LocalPipelines(self.layout, region, self.objects)
        self.registry = LocalRegistry(self.layout, region)
        self.hosting = LocalHosting(self.layout, region)
        self.monitoring = LocalMonitoring(self.layout, region, self.objects)
        self.transforms = LocalTransforms(self.layout, region, self.objects, self.hosting)
