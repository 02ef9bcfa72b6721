"""Reading the repository's action and workflow YAML, for the static tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def rel(path: Path) -> str:
    """`path` relative to the repository root, as messages show it."""
    return str(path.relative_to(ROOT))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{rel(path)} is not a YAML mapping"
    return data


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere in a parsed YAML document (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
