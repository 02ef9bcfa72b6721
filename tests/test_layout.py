"""The layout's rules, checked over the source (issue 14). The README's "Where things live"
says what each floor holds; these tests keep the floors apart:

- stages (smgha/stages/<stage>.py) go down through the resource layer (smgha/resources) to
  the port (smgha.backends); they never reach into an adapter, and no stage imports another;
- the resource layer never loads the runner or a stage, not even through another module:
  it is SageMaker knowledge that any caller (a stage, the CLI, a test) can use;
- the two adapters (smgha/backends/aws, smgha/backends/local) never import each other: the
  local backend is SageMaker's stand-in, not a client of it, and the AWS adapter knows
  nothing of the local state;
- no `cast(` in the package: the one Backend protocol is what mypy checks both adapters
  against, and a cast would let an adapter drift from it unseen;
- budgets: no product file over 450 lines, no stage over 400, no function over 80.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "smgha"
STAGES = sorted(p.stem for p in (PACKAGE / "stages").glob("*.py") if p.stem != "__init__")
ADAPTERS = ("smgha.backends.aws", "smgha.backends.local")

MAX_FILE_LINES = 450
MAX_STAGE_LINES = 400
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, at_import: bool = False) -> set[str]:
    """The smgha modules `path` imports, by full name (`from a import b` gives a.b when a.b is
    a module, else a). With `at_import`, only those importing `path` runs: not the ones
    under `if TYPE_CHECKING:` nor inside a function (backend() loads its adapter on call)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if at_import:
        for node in ast.walk(tree):
            lazy = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if lazy or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
                skipped.update(id(child) for child in ast.walk(node) if child is not node)
    names: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of `path`
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in MODULES else base)
    return {name for name in names if name == "smgha" or name.startswith("smgha.")}


def loaded_by(module: str) -> set[str]:
    """Every smgha module that importing `module` runs (its packages' __init__ included, as
    Python runs them)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo.extend(imports(MODULES[name], at_import=True))
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return seen


def test_the_module_graph_is_read() -> None:
    # A rule over an empty graph passes for nothing: the reader must see the known edges.
    assert "smgha.resources.rollout" in MODULES and "smgha.stages.deploy_endpoint" in MODULES
    assert "smgha.resources.deployment" in imports(MODULES["smgha.stages.deploy_endpoint"])
    assert "smgha.runner" in loaded_by("smgha.stages.deploy_endpoint")


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another(stage: str) -> None:
    others = {f"smgha.stages.{name}" for name in STAGES if name != stage}
    assert imports(MODULES[f"smgha.stages.{stage}"]) & others == set()


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_reaches_the_backends_only_through_the_port(stage: str) -> None:
    reached = imports(MODULES[f"smgha.stages.{stage}"])
    assert {name for name in reached if name.startswith(ADAPTERS)} == set()


@pytest.mark.parametrize(
    "module", sorted(name for name in MODULES if name.startswith("smgha.resources"))
)
def test_the_resource_layer_never_loads_the_runner_or_a_stage(module: str) -> None:
    loaded = loaded_by(module)
    assert "smgha.runner" not in loaded
    assert {name for name in loaded if name.startswith("smgha.stages")} == set()
    assert {name for name in loaded if name.startswith(ADAPTERS)} == set()


def test_the_adapters_never_import_each_other() -> None:
    for adapter in ADAPTERS:
        other = next(name for name in ADAPTERS if name != adapter)
        members = [name for name in MODULES if name.startswith(adapter)]
        assert members, adapter
        for name in members:
            crossing = {i for i in imports(MODULES[name]) if i.startswith(other)}
            assert crossing == set(), name


def test_no_cast_in_the_package() -> None:
    casts = [
        f"{module_name(path)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("cast", "typing.cast")
    ]
    assert casts == []


def over_budget() -> list[str]:
    found = []
    for name, path in MODULES.items():
        text = path.read_text()
        lines = text.count("\n")
        limit = MAX_STAGE_LINES if name.removeprefix("smgha.stages.") in STAGES else MAX_FILE_LINES
        if lines > limit:
            found.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {limit})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines "
                        f"(at most {MAX_FUNCTION_LINES})"
                    )
    return found


def test_files_and_functions_keep_their_budgets() -> None:
    assert over_budget() == []
