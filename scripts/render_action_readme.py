"""Rewrite the Inputs and Outputs tables of each action's README from its action.yml.

    python scripts/render_action_readme.py          # rewrite the tables in place
    python scripts/render_action_readme.py --check  # exit 1 if a table is out of date

A README holds its tables between `<!-- inputs:start -->` / `<!-- inputs:end -->` and
`<!-- outputs:start -->` / `<!-- outputs:end -->`; everything else in it is left alone.
tests/test_actions.py fails when a table differs from what this renders.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell, shown as written (`<region>` stays visible)."""
    value = " ".join(str(text).split())
    return value.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """A code span for a table cell ('' for no text); entities would show literally in it."""
    value = " ".join(text.split()).replace("|", "\\|")
    return f"`{value}`" if value else ""


def render_inputs(action: Mapping[str, Any]) -> str:
    lines = ["| Name | Required | Default | Description |", "| --- | --- | --- | --- |"]
    for name, spec in (action.get("inputs") or {}).items():
        default = spec.get("default", "")
        default = "" if default is None else str(default)
        required = "yes" if spec.get("required") else "no"
        lines.append(
            f"| {_code(name)} | {required} | {_code(default)} | {_cell(spec.get('description', ''))} |"
        )
    return "\n".join(lines)


def render_outputs(action: Mapping[str, Any]) -> str:
    lines = ["| Name | Description |", "| --- | --- |"]
    for name, spec in (action.get("outputs") or {}).items():
        lines.append(f"| {_code(name)} | {_cell(spec.get('description', ''))} |")
    return "\n".join(lines)


def _section(kind: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {kind}:start -->\n)(.*?)(<!-- {kind}:end -->)", re.DOTALL)


def table_between_markers(readme: str, kind: str) -> str | None:
    """The text between the `kind` markers, without surrounding blank lines; None if absent."""
    match = _section(kind).search(readme)
    return match.group(2).strip("\n") if match else None


def update_readme(readme: str, action: Mapping[str, Any]) -> str:
    """`readme` with both tables re-rendered; ValueError if a pair of markers is missing."""
    for kind, table in (("inputs", render_inputs(action)), ("outputs", render_outputs(action))):
        pattern = _section(kind)
        if not pattern.search(readme):
            raise ValueError(f"no <!-- {kind}:start --> ... <!-- {kind}:end --> markers")
        readme = pattern.sub(lambda m, t=table: f"{m.group(1)}{t}\n{m.group(3)}", readme, count=1)
    return readme


def action_readmes(root: Path = ROOT) -> list[tuple[Path, Path]]:
    """(action.yml, README.md) of every action under actions/ that has a README."""
    pairs = []
    for action in sorted(root.glob("actions/*/action.yml")):
        readme = action.with_name("README.md")
        if readme.is_file():
            pairs.append((action, readme))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for action_path, readme_path in action_readmes():
        action = yaml.safe_load(action_path.read_text(encoding="utf-8"))
        before = readme_path.read_text(encoding="utf-8")
        after = update_readme(before, action)
        if after != before:
            stale.append(readme_path.relative_to(ROOT))
            if not args.check:
                readme_path.write_text(after, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {path}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
