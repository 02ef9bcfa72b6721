"""Import rules the layout relies on, checked over the source (issue 14 asks for them):

- no stage imports another stage: what two stages share lives in `smgha/stages/__init__.py`,
  `smgha/inputs.py` or below them (resources, backends, definition), so a stage can be read,
  and changed, on its own;
- the two backend adapters never import each other: the local backend is SageMaker's
  stand-in, not a client of it, and the AWS adapter knows nothing of the local state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "smgha"
STAGES = sorted(p.stem for p in (PACKAGE / "stages").glob("*.py") if p.stem != "__init__")


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, by its full name (`from a import b` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another(stage: str) -> None:
    others = {f"smgha.stages.{name}" for name in STAGES if name != stage}
    assert _imports(PACKAGE / "stages" / f"{stage}.py") & others == set()


def test_the_backend_adapters_never_import_each_other() -> None:
    local = sorted((PACKAGE / "backends" / "local").glob("*.py"))
    aws = sorted((PACKAGE / "backends" / "aws").glob("*.py"))
    assert local and aws
    for path in local:
        assert not {n for n in _imports(path) if n.startswith("smgha.backends.aws")}, path
    for path in aws:
        assert not {n for n in _imports(path) if n.startswith("smgha.backends.local")}, path
