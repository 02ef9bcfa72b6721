"""The artifacts an act run uploaded, as the upload-artifact stand-in keeps them
(tests/e2e/stand-ins/upload-artifact): `<log>.artifacts/<name>/...` holds each artifact's
files, `<log>.artifacts.retention-days/<name>` the retention-days it was given ('' for the
repository's own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.harness import ActRun


def store(run: ActRun) -> Path:
    return run.log.with_suffix(".artifacts")


def listing(run: ActRun) -> dict[str, set[str]]:
    """Each uploaded artifact's name -> the paths of its files, relative to its root."""
    root = store(run)
    if not root.is_dir():
        return {}
    return {
        folder.name: {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }


def retention_days(run: ActRun, name: str) -> str:
    """The retention-days artifact `name` was uploaded with."""
    return (store(run).parent / f"{store(run).name}.retention-days" / name).read_text()


def read_json(run: ActRun, name: str, file: str) -> Any:
    return json.loads((store(run) / name / file).read_text())
