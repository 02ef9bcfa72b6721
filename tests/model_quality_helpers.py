"""Ground truth for the model-quality monitor of a local endpoint, shared by the model-quality
tests and the act e2e: the records the endpoint captured since its last model-quality run
(what the next `smgha monitor run --kind model-quality` merges) and their labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def unanalysed_captures(local: Any, endpoint: str) -> list[tuple[str, str]]:
    """(eventId, request body) of every record `endpoint` captured since its last
    model-quality execution, in capture order (reading them marks nothing analysed)."""
    lines, _ = local.monitoring.new_capture_lines(endpoint, False, "ModelQuality")
    records = [json.loads(line) for line in lines if line.strip()]
    return [
        (r["eventMetadata"]["eventId"], r["captureData"]["endpointInput"]["data"]) for r in records
    ]


def labels_for(
    captures: list[tuple[str, str]], true_label: Callable[[str], int], wrong: Callable[[int], bool]
) -> list[tuple[str, str]]:
    """(eventId, label) of each capture: the truth for its body, the opposite class where
    `wrong(index)` holds (ground truth that says the model is wrong there)."""
    return [
        (event, str(true_label(body) ^ int(wrong(index))))
        for index, (event, body) in enumerate(captures)
    ]
