"""What the server is told to serve: serving.json (its format: the package docstring), read
into a ServingSpec."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from smgha.backends.local.serving.serverless import ServerlessSpec


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model_path: str
    weight: float
    # The container's Environment, as sorted (name, value) pairs.
    environment: tuple[tuple[str, str], ...] = ()
    # The container's image URI: which framework's default handlers a script gets.
    image: str = ""
    # A serverless variant's capacity (serverless.py); None: instances.
    serverless: ServerlessSpec | None = None
    # A shadow variant: the name of the production variant whose requests it gets copies of
    # (mirror.py); '' for a production variant.
    shadow_of: str = ""


@dataclass(frozen=True)
class CaptureSpec:
    enabled: bool = False
    percentage: float = 0.0
    destination: str = ""
    csv_types: frozenset[str] = frozenset()
    json_types: frozenset[str] = frozenset()
    capture_input: bool = True
    capture_output: bool = True


@dataclass(frozen=True)
class ServingSpec:
    endpoint_name: str
    variants: tuple[VariantSpec, ...]
    capture: CaptureSpec


def parse_serving(data: Any) -> ServingSpec:
    """serving.json as a ServingSpec; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("serving.json must hold a JSON object")
    endpoint = data.get("EndpointName")
    if not isinstance(endpoint, str) or not _is_path_segment(endpoint):
        raise ValueError(f"EndpointName {endpoint!r} must be a non-empty name without '/'")
    entries = data.get("Variants")
    if not isinstance(entries, list) or not entries:
        raise ValueError("Variants must be a non-empty list")
    variants = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"Variants[{index}] must be an object")
        name, path, weight = (
            entry.get("VariantName"),
            entry.get("ModelDataPath"),
            entry.get("Weight"),
        )
        # The name is a folder of the data capture path, hence no '/'.
        if not isinstance(name, str) or not _is_path_segment(name):
            raise ValueError(f"Variants[{index}].VariantName {name!r} must be a name without '/'")
        if not isinstance(path, str) or not path:
            raise ValueError(f"Variants[{index}].ModelDataPath must be a path")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(f"Variants[{index}].Weight {weight!r} must be a number >= 0")
        environment = entry.get("Environment", {})
        if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
        ):
            raise ValueError(f"Variants[{index}].Environment must map names to strings")
        image = entry.get("Image", "")
        if not isinstance(image, str):
            raise ValueError(f"Variants[{index}].Image must be a string")
        shadow_of = entry.get("ShadowOf", "")
        if not isinstance(shadow_of, str):
            raise ValueError(f"Variants[{index}].ShadowOf must be a variant name")
        variants.append(
            VariantSpec(
                name,
                path,
                float(weight),
                tuple(sorted(environment.items())),
                image,
                _parse_serverless(entry.get("Serverless"), index),
                shadow_of,
            )
        )
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"VariantName values must be unique: {names}")
    for variant in variants:
        if variant.shadow_of and variant.shadow_of not in names:
            raise ValueError(f"{variant.name}: ShadowOf {variant.shadow_of!r} is not a variant")
    return ServingSpec(endpoint, tuple(variants), _parse_capture(data.get("DataCapture")))


def _parse_capture(data: Any) -> CaptureSpec:
    if data is None or (isinstance(data, dict) and not data.get("Enabled", False)):
        return CaptureSpec()
    if not isinstance(data, dict):
        raise ValueError("DataCapture must be an object")
    percentage = data.get("SamplingPercentage", 100)
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)):
        raise ValueError(f"DataCapture.SamplingPercentage {percentage!r} must be a number")
    if not 0 <= percentage <= 100:
        raise ValueError(f"DataCapture.SamplingPercentage {percentage!r} must be from 0 to 100")
    destination = data.get("Destination")
    if not isinstance(destination, str) or not destination or "://" in destination:
        raise ValueError(f"DataCapture.Destination {destination!r} must be a local folder path")
    header = data.get("CaptureContentTypeHeader") or {}
    modes = {
        str(option.get("CaptureMode", "")).lower()
        for option in data.get("CaptureOptions") or [{"CaptureMode": "InputAndOutput"}]
        if isinstance(option, dict)
    }
    return CaptureSpec(
        enabled=True,
        percentage=float(percentage),
        destination=destination,
        # Without CaptureContentTypeHeader SageMaker captures everything as BASE64.
        csv_types=frozenset(media_type(t) for t in header.get("CsvContentTypes") or []),
        json_types=frozenset(media_type(t) for t in header.get("JsonContentTypes") or []),
        capture_input=bool(modes & {"input", "inputandoutput"}),
        capture_output=bool(modes & {"output", "inputandoutput"}),
    )


def _parse_serverless(data: Any, index: int) -> ServerlessSpec | None:
    if data is None:
        return None
    where = f"Variants[{index}].Serverless"
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object")
    values = []
    for field, low in (("MemorySizeInMB", 1), ("MaxConcurrency", 1), ("ProvisionedConcurrency", 0)):
        value = data.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{where}.{field} {value!r} must be a whole number >= {low}")
        values.append(value)
    return ServerlessSpec(*values)


def _is_path_segment(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..")


def media_type(content_type: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return content_type.split(";", 1)[0].strip().lower()
