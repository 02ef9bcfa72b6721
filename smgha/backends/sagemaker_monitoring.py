"""Model Monitor on SageMaker: the monitoring half of SageMakerBackend (filled in by issue 5)."""

from __future__ import annotations


class SageMakerMonitoring:
    """Data-quality job definitions, monitoring schedules: mixed into SageMakerBackend."""
