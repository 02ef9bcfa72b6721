"""What changed in the pipeline's definition between the champion's build and the candidate's:
steps added, removed or changed, the steps whose code changed, parameter defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smgha import definition as definitions


@dataclass(frozen=True)
class DefinitionDiff:
    added: list[str]
    removed: list[str]
    changed: list[str]  # steps whose definition differs (arguments, dependencies, ...)
    code_changed: list[str]  # steps whose code (definition.code_uris) differs
    parameters: list[tuple[str, str, str]]  # (name, champion default, candidate default)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.parameters)


def definition_problem(definition: Any) -> str:
    """'' for a definition whose steps and parameters definition_diff can read (one from an
    untrusted bundle), else what is wrong with it."""
    steps = definition.get("Steps", [])
    parameters = definition.get("Parameters", [])
    if not isinstance(steps, list) or not isinstance(parameters, list):
        return "Steps and Parameters must be lists"
    if not all(isinstance(p, dict) and isinstance(p.get("Name"), str) for p in parameters):
        return "every parameter must be an object with a Name"
    pending = list(steps)
    while pending:
        step = pending.pop()
        if not isinstance(step, dict) or not isinstance(step.get("Name"), str):
            return "every step must be an object with a Name"
        arguments = step.get("Arguments") or {}
        if not isinstance(arguments, dict):
            return f"step {step['Name']}: Arguments must be an object"
        if step.get("Type") == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                nested = arguments.get(branch) or []
                if not isinstance(nested, list):
                    return f"step {step['Name']}: {branch} must be a list"
                pending.extend(nested)
    return ""


def definition_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> DefinitionDiff:
    before, after = definitions.steps_by_name(old), definitions.steps_by_name(new)
    both = sorted(set(before) & set(after))
    code_changed = [
        name for name in both
        if definitions.code_uris({"Steps": [before[name]]}) != definitions.code_uris({"Steps": [after[name]]})
    ]  # fmt: skip
    changed = [
        name for name in both
        if definitions.canonical_json(before[name]) != definitions.canonical_json(after[name])
    ]  # fmt: skip
    old_parameters, new_parameters = definitions.parameters(old), definitions.parameters(new)
    parameters = [
        (name, _default(old_parameters.get(name)), _default(new_parameters.get(name)))
        for name in sorted(set(old_parameters) | set(new_parameters))
        if _default(old_parameters.get(name)) != _default(new_parameters.get(name))
    ]
    return DefinitionDiff(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        changed=changed,
        code_changed=code_changed,
        parameters=parameters,
    )


def _default(parameter: Mapping[str, Any] | None) -> str:
    if parameter is None:
        return "(none)"
    return str(parameter.get("DefaultValue", "(no default)"))
