"""Evaluate the expressions of a pipeline definition, as SageMaker does at run time.

`{"Get": "Parameters.X"}`, `{"Get": "Execution.PipelineExecutionId"}`,
`{"Get": "Steps.S.<property path>"}`, `{"Std:Join": ...}`, `{"Std:JsonGet": ...}` and the
condition types of a ConditionStep. A step's properties are its Describe* response, which
the local jobs build from the resolved request plus what the job produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from smgha.definition import parse_path


class ExpressionError(Exception):
    """An expression cannot be evaluated (SageMaker fails the step the same way)."""


class Evaluator:
    def __init__(
        self,
        parameters: Mapping[str, Any],
        execution: Mapping[str, Any],
        step_properties: Mapping[str, Mapping[str, Any]],
        read_property_file: Callable[[str, str], Any],
    ) -> None:
        self.parameters = parameters
        self.execution = execution
        self.step_properties = step_properties
        self.read_property_file = read_property_file

    def resolve(self, value: Any) -> Any:
        """`value` with every expression inside it replaced by its value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self.get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(join.get("On", "")).join(_as_text(self.resolve(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            return self.json_get(value["Std:JsonGet"])
        return {key: self.resolve(item) for key, item in value.items()}

    def get(self, path: str) -> Any:
        tokens = parse_path(path)
        head, rest = tokens[0], tokens[1:]
        if head == "Parameters":
            return self.parameters[str(rest[0])]
        if head == "Execution":
            return self.execution[str(rest[0])]
        if head == "Steps":
            step = str(rest[0])
            if step not in self.step_properties:
                raise ExpressionError(f"{path}: step {step!r} has not run in this execution")
            return lookup(self.step_properties[step], rest[1:], path)
        raise ExpressionError(f"cannot evaluate {path!r}")

    def json_get(self, spec: Mapping[str, Any]) -> Any:
        source = spec.get("PropertyFile")
        if not isinstance(source, dict) or "Get" not in source:
            raise ExpressionError(f"Std:JsonGet reads a property file here, not {source!r}")
        tokens = parse_path(source["Get"])  # Steps.<step>.PropertyFiles.<name>
        document = self.read_property_file(str(tokens[1]), str(tokens[3]))
        return lookup(document, parse_path(str(spec["Path"])), spec["Path"])

    def condition(self, condition: Mapping[str, Any]) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self.condition(condition["Expression"])
        if kind == "Or":
            return any(self.condition(c) for c in condition["Conditions"])
        if kind == "In":
            query = self.resolve(condition["QueryValue"])
            return any(_equal(query, self.resolve(v)) for v in condition["Values"])
        left = self.resolve(condition["LeftValue"])
        right = self.resolve(condition["RightValue"])
        if kind == "Equals":
            return _equal(left, right)
        compare = _COMPARISONS.get(kind)
        if compare is None:
            raise ExpressionError(f"condition type {kind!r} is not one SageMaker defines")
        try:
            return compare(float(left), float(right))
        except (TypeError, ValueError):
            raise ExpressionError(f"{kind} compares {left!r} with {right!r}: not numbers") from None


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


def lookup(document: Any, tokens: list[str | int], path: str) -> Any:
    """Walk `tokens` into `document`. A string index on a list picks the item whose
    *Name field matches, as `Outputs['train']` does in SageMaker property paths."""
    current = document
    for token in tokens:
        current = _child(current, token, path)
    return current


def _child(current: Any, token: str | int, path: str) -> Any:
    if isinstance(current, dict) and token in current:
        return current[token]
    if isinstance(current, list) and isinstance(token, int) and token < len(current):
        return current[token]
    if isinstance(current, list) and isinstance(token, str):
        for item in current:
            if _named(item, token):
                return item
        raise ExpressionError(f"{path}: nothing named {token!r} in the list")
    raise ExpressionError(f"{path}: no {token!r} in {_preview(current)}")


def _named(item: Any, name: str) -> bool:
    return isinstance(item, dict) and any(
        key.endswith("Name") and value == name for key, value in item.items()
    )


def _equal(left: Any, right: Any) -> bool:
    try:
        return float(left) == float(right)
    except (TypeError, ValueError):
        return _as_text(left) == _as_text(right)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _preview(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
