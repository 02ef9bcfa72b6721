"""Reading the Terraform module in infra/terraform with python-hcl2 (no terraform needed):
blocks by kind and name, attributes, string lists, the IAM policy documents and statements.
Shared by tests/test_terraform.py and tests/test_iam_least_privilege.py."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import hcl2

from tests.yaml_files import ROOT, rel

MODULE = ROOT / "infra" / "terraform"
TF_FILES = sorted(MODULE.glob("*.tf"))


def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = hcl2.load(handle)
    assert isinstance(data, dict), f"{rel(path)} did not parse to a mapping"
    return data


def label(value: str) -> str:
    """A block label or key without the quotes python-hcl2 (7+) keeps."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def literal(value: Any) -> str | None:
    """The text of a plain string literal ("abc"), or None for anything else: an
    expression (${var.x}), a template with an interpolation ("a-${var.x}"), a number."""
    if not isinstance(value, str):
        return None
    text = label(value)
    return None if "${" in text else text


def template(value: Any) -> str:
    """A quoted string, literal or template, without its quotes."""
    assert isinstance(value, str), f"{value!r} is not a string"
    return label(value)


def blocks(data: dict[str, Any], kind: str, type_: str | None = None) -> dict[str, Any]:
    """name -> body of the `kind` blocks (`variable "x"`, `data "type" "x"`, ...)."""
    found: dict[str, Any] = {}
    for entry in data.get(kind, []):
        for key, body in entry.items():
            if type_ is None:
                found[label(key)] = body
            elif label(key) == type_:
                for name, inner in body.items():
                    found[label(name)] = inner
    return found


def attribute(body: dict[str, Any], name: str) -> Any:
    """An attribute of a block body (older python-hcl2 wraps values in a list)."""
    value = body.get(name)
    if isinstance(value, list) and len(value) == 1 and name not in LIST_ATTRIBUTES:
        return value[0]
    return value


# Attributes whose value is a list in HCL itself.
LIST_ATTRIBUTES = frozenset({"actions", "resources", "values", "identifiers", "not_actions"})


def strings(value: Any) -> list[str]:
    """A list attribute's strings without quotes; an expression giving the whole list
    (${local.x}) as a list of that one expression."""
    if isinstance(value, str):
        return [value]
    assert isinstance(value, list), f"expected a list, got {value!r}"
    return [template(item) for item in value]


def sub_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


@functools.cache
def module() -> dict[str, dict[str, Any]]:
    """Every .tf file of the module, parsed, by file name (once: read it, never change it)."""
    return {path.name: parse(path) for path in TF_FILES}


def all_blocks(kind: str, type_: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for data in module().values():
        found.update(blocks(data, kind, type_))
    return found


def policy_documents() -> dict[str, Any]:
    return all_blocks("data", "aws_iam_policy_document")


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return sub_blocks(document, "statement")


def conditions(statement: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(test, variable, values) of a statement's static condition blocks."""
    return [
        (
            template(attribute(block, "test")),
            template(attribute(block, "variable")),
            strings(block["values"]),
        )
        for block in sub_blocks(statement, "condition")
    ]
