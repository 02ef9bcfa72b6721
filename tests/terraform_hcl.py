"""Reading the Terraform module in infra/terraform with python-hcl2 (no terraform needed):
blocks by kind and name, attributes, string lists, the IAM policy documents and statements,
and those documents rendered to IAM JSON with a .tfvars file's values (policy_json).
Shared by tests/test_terraform.py, tests/test_iam_least_privilege.py and tests/iam_policies.py."""

from __future__ import annotations

import functools
import re
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


# ---- policy documents as IAM JSON, with the module's values -----------------------------------

Value = str | list[str]

# An interpolation of the forms the policies and their locals use: a reference
# (var.x, local.x, data.type.name.attribute, type.name.attribute) or lower(reference).
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_REFERENCE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)+$")
_LOWER = re.compile(r"^lower\(([^()]*)\)$")


def variables(tfvars: Path) -> dict[str, Value]:
    """var.<name> -> value: the string (and string list) variables of variables.tf, their
    defaults overridden by a .tfvars file, as `terraform plan -var-file` would take them."""
    given = {name: body.get("default") for name, body in all_blocks("variable").items()}
    given.update({k: v for k, v in parse(tfvars).items() if not k.startswith("__")})
    found: dict[str, Value] = {}
    for name, value in given.items():
        if isinstance(value, str):
            found[f"var.{name}"] = label(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            found[f"var.{name}"] = [label(item) for item in value]
    return found


def resolve(expression: str, values: dict[str, Value]) -> Value:
    """The value of an expression of the forms the IAM policies use: a quoted template
    ("arn:${local.x}:...") or a bare interpolation (${aws_iam_role.execution.arn}, which may
    be a list), each interpolation a reference or lower(reference). A reference is looked up
    in `values`, a local not there in the module's locals. Anything else (a conditional, a
    function other than lower) raises: give that reference's value in `values`."""
    quoted = len(expression) >= 2 and expression[0] == expression[-1] == '"'
    if not quoted:
        whole = _INTERPOLATION.fullmatch(expression)
        if whole is None:
            raise ValueError(f"cannot evaluate {expression!r}: give its value")
        return _interpolation(whole.group(1).strip(), values)

    def text(match: re.Match[str]) -> str:
        value = _interpolation(match.group(1).strip(), values)
        if not isinstance(value, str):
            raise ValueError(f"{match.group(0)} in {expression} is a list, not a string")
        return value

    return _INTERPOLATION.sub(text, label(expression))


def _interpolation(inner: str, values: dict[str, Value]) -> Value:
    lowered = _LOWER.fullmatch(inner)
    if lowered:
        value = _interpolation(lowered.group(1).strip(), values)
        if not isinstance(value, str):
            raise ValueError(f"lower() of a list: {inner}")
        return value.lower()
    if not _REFERENCE.fullmatch(inner):
        raise ValueError(f"cannot evaluate ${{{inner}}}: give its value")
    if inner in values:
        return values[inner]
    local = locals_().get(inner.removeprefix("local.")) if inner.startswith("local.") else None
    if local is None:
        raise ValueError(f"no value for {inner}: give it")
    return resolve(local, values)


def locals_() -> dict[str, str]:
    """name -> expression of the module's locals."""
    return {
        name: expression
        for data in module().values()
        for block in data.get("locals", [])
        for name, expression in block.items()
        if not name.startswith("__")
    }


def policy_json(document: dict[str, Any], values: dict[str, Value]) -> dict[str, Any]:
    """An aws_iam_policy_document as the IAM JSON policy Terraform would render, with every
    reference resolved (see resolve)."""

    def listed(statement: dict[str, Any], name: str) -> list[str]:
        raw = statement.get(name)
        if raw is None:
            return []
        found: list[str] = []
        for item in [raw] if isinstance(raw, str) else raw:
            value = resolve(item, values)
            found += [value] if isinstance(value, str) else value
        return found

    rendered = []
    for statement in statements(document):
        entry: dict[str, Any] = {"Effect": label(attribute(statement, "effect") or "Allow")}
        if "sid" in statement:
            entry["Sid"] = label(attribute(statement, "sid"))
        for hcl, key in (
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if hcl in statement:
                entry[key] = listed(statement, hcl)
        # A resource policy's principals (type AWS, Service or "*"): one Principal entry.
        principals: dict[str, list[str]] = {}
        for block in sub_blocks(statement, "principals"):
            kind = template(attribute(block, "type"))
            principals.setdefault(kind, []).extend(listed(block, "identifiers"))
        if principals:
            entry["Principal"] = (
                "*" if principals == {"*": ["*"]} else {k: sorted(v) for k, v in principals.items()}
            )
        tests: dict[str, dict[str, list[str]]] = {}
        for block in sub_blocks(statement, "condition"):
            test = template(attribute(block, "test"))
            variable = template(attribute(block, "variable"))
            # Terraform ANDs two blocks on one key by rendering both; none here does that.
            assert variable not in tests.get(test, {}), f"{test} {variable} given twice"
            tests.setdefault(test, {})[variable] = listed(block, "values")
        if tests:
            entry["Condition"] = tests
        rendered.append(entry)
    return {"Version": "2012-10-17", "Statement": rendered}
