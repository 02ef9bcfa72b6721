"""Model Monitor on this machine: the monitoring half of LocalBackend (filled in by issue 5)."""

from __future__ import annotations


class LocalMonitoring:
    """Data-quality job definitions, monitoring schedules: mixed into LocalBackend."""
