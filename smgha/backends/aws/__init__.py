"""The `sagemaker` backend: SageMaker Pipelines, the model registry, real-time endpoints,
Model Monitor and S3 in an AWS account, driven with boto3.

One module per service area (pipelines, registry, hosting, monitoring, objects), each a
class over the shared clients; client.py holds what they share: the clients, the one error
translator, the not-found matchers and every IAM table.
"""

from __future__ import annotations

import boto3

from smgha.backends.aws.client import AwsClients
from smgha.backends.aws.hosting import SageMakerHosting
from smgha.backends.aws.monitoring import SageMakerMonitoring
from smgha.backends.aws.objects import SageMakerObjects
from smgha.backends.aws.pipelines import SageMakerPipelines
from smgha.backends.aws.registry import SageMakerRegistry
from smgha.backends.aws.transform import SageMakerTransforms


class SageMakerBackend:
    """Every area of the Backend port on SageMaker, one region, with boto3."""

    def __init__(self, region: str, session: boto3.Session | None = None) -> None:
        self.region = region
        self.clients = AwsClients(region, session)
        self.pipelines = SageMakerPipelines(self.clients)
        self.registry = SageMakerRegistry(self.clients)
        self.hosting = SageMakerHosting(self.clients)
        self.monitoring = SageMakerMonitoring(self.clients)
        self.objects = SageMakerObjects(self.clients)
        self.transforms = SageMakerTransforms(self.clients)
