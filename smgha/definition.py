"""Pipeline definitions: load one, check its wiring, type its parameters, diff two.

Everything here is pure (no AWS, no SDK) except `load_definition`, which imports the
consumer's module when the source is `module:function`. The checks are the ones SageMaker's
CreatePipeline makes, run before any call, so a wiring mistake is caught on either backend.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from smgha.errors import InputError
from smgha.inputs import workspace_file

# `Steps.Train.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri` -> tokens.
_TOKEN = re.compile(r"""([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]|\[\s*(\d+)\s*\]""")

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")
EXECUTION_VARIABLES = (
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "PipelineName",
    "PipelineArn",
    "StartDateTime",
    "CurrentDateTime",
)


def parse_path(path: str) -> list[str | int]:
    """Split a property path into names and indexes; reject anything it cannot read."""
    tokens: list[str | int] = []
    position = 0
    text = path.strip()
    while position < len(text):
        if text[position] == ".":
            position += 1
            continue
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot read property path {path!r} at {text[position:]!r}")
        name, single, double, index = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(name if name is not None else (single if single is not None else double))
        position = match.end()
    if not tokens:
        raise ValueError("empty property path")
    return tokens


# ---- loading ---------------------------------------------------------------------------


def is_built_by_function(source: str, workspace: Path) -> bool:
    """Whether `source` names a 'module:function' to call rather than a JSON file."""
    return ":" in source and not source.endswith(".json") and not Path(workspace, source).exists()


def load_definition(
    source: str,
    workspace: Path,
    arguments: Mapping[str, Any],
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The definition named by `source`, and the S3 objects building it wanted to upload.

    `source` is a JSON file, or `module:function` in `workspace`. A function is called with
    the keyword arguments it declares among `arguments` (region, role, pipeline_name,
    default_bucket, ...) and may return an SDK `Pipeline`, a JSON string or a dict. Its
    uploads (the SDK's copies of the processing scripts) are captured, not sent. What it
    built is reused while nothing that shapes it changes (smgha.definition_cache); `log`
    hears whether it was built or cached, and why.
    """
    if is_built_by_function(source, workspace):
        from smgha.definition_cache import definition_or_cached

        _prepare_build(workspace, arguments)
        return definition_or_cached(
            source,
            workspace,
            arguments,
            lambda: _built_by_function(source, workspace, arguments),
            log or (lambda _line: None),
        )
    path = workspace_file("definition", source, workspace)
    if not path.is_file():
        raise InputError(
            "definition",
            f"{source!r} is neither a JSON file under {workspace} nor a 'module:function'",
            "Give a path to a pipeline definition JSON file, or e.g. 'ml.pipeline:get_pipeline'.",
        )
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(
            "definition", f"{source} is not valid JSON ({error})", "Fix the file."
        ) from error
    return _checked_shape(definition, source), {}


def _prepare_build(workspace: Path, arguments: Mapping[str, Any]) -> None:
    """What a build sees besides its arguments, set before the cache's key is computed so
    that a build and a later lookup see the same."""
    root = str(workspace.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    # The SDK looks the region up while it imports; give it the one the stage runs in.
    if arguments.get("region"):
        os.environ.setdefault("AWS_DEFAULT_REGION", str(arguments["region"]))
    # Role validation calls IAM; the role is checked by SageMaker when the pipeline runs.
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


def _built_by_function(
    source: str, workspace: Path, arguments: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    from smgha.import_pause import collector_paused
    from smgha.uploads import captured_s3_uploads

    # The SDK leaves ~450k objects behind that live until exit: built with the collector
    # paused, then frozen, so neither the import nor the final collection at exit walks them
    # (the exit alone: ~0.7 s -> 0.03 s).
    with collector_paused(), captured_s3_uploads() as uploads, _quiet_sdk():
        definition = _from_function(source, workspace, arguments)
    return definition, uploads


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """Keep the SDK's chatter out of the build log while it imports and renders.

    It logs its config look-ups, the fields it drops from job requests and its telemetry
    notice at INFO/DEBUG through handlers it installs itself, and warns that a
    PipelineSession starts no jobs. Errors still show; so does anything raised.
    """
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running within a PipelineSession")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logging.disable(logging.NOTSET)


def _from_function(source: str, workspace: Path, arguments: Mapping[str, Any]) -> dict[str, Any]:
    module_name, _, function_name = source.partition(":")
    if not module_name or not function_name.isidentifier():
        raise InputError(
            "definition", f"{source!r} is not 'module:function'", "E.g. 'ml.pipeline:get_pipeline'."
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import-time failure of the consumer's code
        raise InputError(
            "definition",
            f"module {module_name!r} does not import: {type(error).__name__}: {error}",
            f"Check that it exists under {workspace} and that its dependencies are installed "
            "(building from SDK code needs the 'sdk' extra: pip install 'smgha[sdk]').",
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InputError(
            "definition", f"{module_name} has no function {function_name!r}", "Check the name."
        )
    accepted = inspect.signature(function).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in arguments.items() if takes_any or k in accepted}
    try:
        built = function(**kwargs)
    except Exception as error:
        raise InputError(
            "definition",
            f"{source}() raised {type(error).__name__}: {error}",
            f"It was called with {sorted(kwargs)}; fix the function or the inputs it reads.",
        ) from error
    try:
        if hasattr(built, "definition") and callable(built.definition):
            built = built.definition()
    except Exception as error:
        raise InputError(
            "definition",
            f"the pipeline {source}() returned could not build its definition: {type(error).__name__}: {error}",
            "Fix the pipeline code; the SDK raised while rendering it.",
        ) from error
    if isinstance(built, str):
        built = json.loads(built)
    return _checked_shape(built, source)


def _checked_shape(definition: Any, source: str) -> dict[str, Any]:
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise InputError(
            "definition",
            f"{source} did not give a pipeline definition (an object with a 'Steps' list)",
            "Return an SDK Pipeline, its .definition() JSON, or point at such a JSON file.",
        )
    return definition


# ---- structure ---------------------------------------------------------------------------


def iter_steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step, including those nested in a condition's IfSteps / ElseSteps."""
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments") or {}
            yield from iter_steps(arguments.get("IfSteps") or [])
            yield from iter_steps(arguments.get("ElseSteps") or [])


def steps_by_name(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["Name"]: step for step in iter_steps(definition.get("Steps") or [])}


def iter_gets(value: Any) -> Iterator[str]:
    """Every `{"Get": path}` reference inside a value, however deep."""
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            yield value["Get"]
            return
        for item in value.values():
            yield from iter_gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_gets(item)


def step_references(step: Mapping[str, Any]) -> set[str]:
    """Names of the steps whose properties this step reads (its data dependencies)."""
    found = set()
    for get in iter_gets({k: v for k, v in step.items() if k != "Name"}):
        tokens = parse_path(get)
        if tokens[0] == "Steps" and len(tokens) > 1:
            found.add(str(tokens[1]))
    return found


def step_needs(step: Mapping[str, Any]) -> set[str]:
    """The steps `step` runs after: those it depends on and those whose properties it reads."""
    return set(step.get("DependsOn") or []) | step_references(step)


def parameters(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["Name"]: p for p in definition.get("Parameters") or []}


def property_files(definition: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(step name, property file) for every property file, in step order."""
    return [
        (step["Name"], pf)
        for step in iter_steps(definition.get("Steps") or [])
        for pf in step.get("PropertyFiles") or []
    ]


def code_uris(definition: Mapping[str, Any]) -> list[str]:
    """The S3 objects holding the pipeline's own code, which must exist before it runs: a
    processing step's input named "code" (the SDK's name for the script it uploads) and a
    training step's sagemaker_submit_directory (script mode; the SDK stores it JSON-quoted).
    Only literal URIs: a URI read from a parameter or a step is not known before the run."""
    found: set[str] = set()
    for step in iter_steps(definition.get("Steps") or []):
        arguments = step.get("Arguments") or {}
        for item in arguments.get("ProcessingInputs") or []:
            uri = (item.get("S3Input") or {}).get("S3Uri")
            if item.get("InputName") == "code" and isinstance(uri, str):
                found.add(uri)
        directory = (arguments.get("HyperParameters") or {}).get("sagemaker_submit_directory")
        if isinstance(directory, str):
            found.add(directory.strip('"'))
    return sorted(uri for uri in found if uri.startswith("s3://"))


def check_wiring(definition: Mapping[str, Any]) -> None:
    """Raise InputError('definition', ...) for references SageMaker would reject."""
    problems: list[str] = []
    steps = list(iter_steps(definition.get("Steps") or []))
    names = [s.get("Name") for s in steps]
    for name in sorted({n for n in names if names.count(n) > 1}, key=str):
        problems.append(f"step name {name!r} is used more than once")
    known_steps = steps_by_name(definition)
    declared = parameters(definition)
    for name, parameter in declared.items():
        if parameter.get("Type", "String") not in PARAMETER_TYPES:
            problems.append(f"parameter {name!r} has unknown type {parameter.get('Type')!r}")
    for step in steps:
        where = f"step {step.get('Name')!r}"
        for dependency in step.get("DependsOn") or []:
            if dependency not in known_steps:
                problems.append(f"{where} depends on {dependency!r}, which is not a step")
        for get in iter_gets({k: v for k, v in step.items() if k != "Name"}):
            problems += [f"{where}: {p}" for p in _reference_problems(get, known_steps, declared)]
    if problems:
        raise InputError(
            "definition",
            "the pipeline's wiring is broken: " + "; ".join(problems),
            "Fix the names the steps refer to; SageMaker's CreatePipeline rejects it as well.",
        )


def _reference_problems(
    get: str, known_steps: Mapping[str, Any], declared: Mapping[str, Any]
) -> list[str]:
    try:
        tokens = parse_path(get)
    except ValueError as error:
        return [str(error)]
    head = tokens[0]
    if head == "Parameters":
        if len(tokens) != 2 or tokens[1] not in declared:
            return [f"reads {get!r}, but no such parameter is declared"]
    elif head == "Execution":
        if len(tokens) != 2 or tokens[1] not in EXECUTION_VARIABLES:
            return [f"reads {get!r}, which is not an execution variable"]
    elif head == "Steps":
        if len(tokens) < 3 or tokens[1] not in known_steps:
            return [f"reads {get!r}, but there is no step {tokens[1] if len(tokens) > 1 else ''!r}"]
        if tokens[2] == "PropertyFiles":
            files = {
                pf.get("PropertyFileName")
                for pf in known_steps[str(tokens[1])].get("PropertyFiles") or []
            }
            if len(tokens) != 4 or tokens[3] not in files:
                return [f"reads {get!r}, but step {tokens[1]!r} declares no such property file"]
    else:
        return [f"reads {get!r}, which is not a Parameters/Execution/Steps reference"]
    return []


# ---- parameters ----------------------------------------------------------------------------


def typed_parameters(definition: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
    """Check `given` against the declared parameters; return them as the API's strings."""
    declared = parameters(definition)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InputError(
            "parameters",
            f"the pipeline declares no parameter {', '.join(map(repr, unknown))}",
            f"Declared: {', '.join(sorted(declared)) or 'none'}.",
        )
    typed: dict[str, str] = {}
    for name, value in given.items():
        kind = declared[name].get("Type", "String")
        typed[name] = _as_parameter_string(name, kind, value)
    return typed


def _as_parameter_string(name: str, kind: str, value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value).strip()
    if not _PARAMETER_CHECKS.get(kind, _is_anything)(text):
        raise InputError(
            "parameters",
            f"parameter {name!r} is {kind} but was given {value!r}",
            f"Give a value of type {kind}.",
        )
    return text.lower() if kind == "Boolean" else text


def _is_anything(text: str) -> bool:
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_PARAMETER_CHECKS = {
    "Integer": lambda text: re.fullmatch(r"[+-]?\d+", text) is not None,
    "Float": _is_float,
    "Boolean": lambda text: text.lower() in ("true", "false"),
}


def parameter_values(definition: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's typed value for an execution: the given string, else the
    default (what `Get: Parameters.X` evaluates to)."""
    return {
        name: parameter_value(
            p.get("Type", "String"), str(given.get(name, p.get("DefaultValue", "")))
        )
        for name, p in parameters(definition).items()
    }


def parameter_value(kind: str, text: str) -> Any:
    """The typed value of a parameter string, as an expression sees it."""
    if kind == "Integer":
        return int(text)
    if kind == "Float":
        return float(text)
    if kind == "Boolean":
        return text.lower() == "true"
    return text


# ---- presentation --------------------------------------------------------------------------


def canonical_json(definition: Any) -> str:
    return json.dumps(definition, indent=2, sort_keys=True)


def diff(deployed: Mapping[str, Any] | None, candidate: Mapping[str, Any], name: str) -> str:
    """A unified diff of the deployed definition against the candidate ('' when equal)."""
    before = canonical_json(deployed).splitlines(keepends=True) if deployed is not None else []
    after = canonical_json(candidate).splitlines(keepends=True)
    label = f"{name} (deployed)" if deployed is not None else f"{name} (not deployed)"
    return "".join(difflib.unified_diff(before, after, label, f"{name} (this build)"))
