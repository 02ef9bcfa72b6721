"""Check requests against botocore's service models the way the real service does.

botocore validates types, required members and minimum lengths on the client, but not
`pattern`, maximum lengths or map sizes, and moto checks little more. The service does, and
answers ValidationException. `request_problems` walks a request through the operation's input
shape and reports every violation of:

- `pattern`: botocore's patterns are Java regular expressions, applied by the service to the
  whole value (`String.matches`). They are compiled with the `regex` package (installed with
  the `test` extra, through python-hcl2 and cfn-lint), which reads `\\p{L}`, `\\p{Z}`,
  `\\p{N}` like Java. Java's details are translated by the product's own reader
  (smgha.aws_values.java_pattern_source): `.` does not match a line terminator (`\\n`,
  `\\r`, `\\u0085`, `\\u2028`, `\\u2029`) and `\\d`, `\\w`, `\\s` are ASCII; here too a
  surrogate pair in a character class (`\\uD800\\uDC00-\\uDBFF\\uDFFF`) is the code point it
  encodes.
- `min`/`max` of strings (in UTF-16 code units, Java's `String.length()`: for text outside
  the Basic Multilingual Plane that is the stricter reading), lists, maps, blobs and numbers;
- `enum`, `required` members, unknown members and basic types.

    problems = request_problems("sagemaker", "UpdateModelPackage", params)
    assert_valid_request("sagemaker", "UpdateModelPackage", params)
    shape_problems("sagemaker", "CustomerMetadataMap", {"k": "v"})   # one named shape

`record_requests` captures what a stage really sends (every client, every call).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import regex
from botocore.client import BaseClient
from botocore.model import Shape

from smgha.aws_values import java_pattern_source, service_model

# A Java surrogate pair written as two \\u escapes (high, then low surrogate).
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


@functools.cache
def java_pattern(pattern: str) -> regex.Pattern[str]:
    """botocore's (Java) `pattern`, compiled to match like the service (use fullmatch)."""

    def pair(match: re.Match[str]) -> str:
        high, low = int(match[1], 16), int(match[2], 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return regex.compile(java_pattern_source(_SURROGATE_PAIR.sub(pair, pattern)))


def _length(value: str) -> int:
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True)
class RunTimeValue:
    """A value known only when a pipeline runs: a step property, an execution variable, a
    parameter without a default, a function such as Std:Join (tests/aws_contract.py,
    `pipeline_definition_problems`). It stands for one value: accepted where a string,
    number or boolean goes, refused where a structure, list or map goes."""

    expression: str


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name

    if isinstance(value, RunTimeValue):
        if kind in ("structure", "list", "map"):
            problems.append(f"{path}: {value.expression} is one value, but a {kind} goes here")
        return

    def bounds(size: int, what: str) -> None:
        if "min" in meta and size < meta["min"]:
            problems.append(f"{path}: {what} {size} is below the minimum {meta['min']}")
        if "max" in meta and size > meta["max"]:
            problems.append(f"{path}: {what} {size} is above the maximum {meta['max']}")

    if kind == "structure":
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a structure, got {type(value).__name__}")
            return
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}: required member {name} is missing")
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{path}: unknown member {name}")
            else:
                _check(shape.members[name], member, f"{path}.{name}", problems)
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        bounds(len(value), "length")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)
    elif kind == "map":
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        bounds(len(value), "entry count")
        for key, item in value.items():
            _check(shape.key, key, f"{path} key {key!r}", problems)
            _check(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {type(value).__name__}")
            return
        bounds(_length(value), "length")
        if "enum" in meta and value not in meta["enum"]:
            problems.append(f"{path}: {value!r} is not one of {meta['enum']}")
        if "pattern" in meta and not java_pattern(meta["pattern"]).fullmatch(value):
            problems.append(f"{path}: {value!r} does not match the pattern {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double"):
        # botocore's ParamValidator takes only int for integer and long (validate.py
        # SCALAR_TYPES): 1.5 is no InstanceCount. Also what a Float pipeline parameter's
        # default brings where an integer goes.
        whole = kind in ("integer", "long")
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            expected = "an integer" if whole else "a number"
            problems.append(f"{path}: expected {expected}, got {type(value).__name__}")
            return
        if "min" in meta and value < meta["min"]:
            problems.append(f"{path}: {value} is below the minimum {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} is above the maximum {meta['max']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, got {type(value).__name__}")
    elif kind == "blob" and isinstance(value, (bytes, bytearray, str)):
        bounds(len(value), "size")


def shape_problems(service: str, shape_name: str, value: Any) -> list[str]:
    """Every way `value` breaks the named shape of `service`'s model (empty: it is valid)."""
    problems: list[str] = []
    _check(service_model(service).shape_for(shape_name), value, shape_name, problems)
    return problems


def request_problems(
    service: str, operation: str, params: Mapping[str, Any], path: str = ""
) -> list[str]:
    """Every way `params` breaks the operation's input shape (empty: the request is valid),
    each named by `path` (the operation's name unless given) and the member."""
    problems: list[str] = []
    shape = service_model(service).operation_model(operation).input_shape
    _check(shape, params, path or operation, problems)
    return problems


def assert_valid_request(service: str, operation: str, params: Mapping[str, Any]) -> None:
    problems = request_problems(service, operation, params)
    assert not problems, f"{operation} would be refused by the service:\n" + "\n".join(problems)


def record_requests(
    monkeypatch: pytest.MonkeyPatch, *operations: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """From now on, every call of one of `operations` (all calls when none are named) any
    botocore client makes: (service, operation, params as the caller passed them)."""
    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if not operations or operation_name in operations:
            service = client.meta.service_model.service_name
            calls.append((service, operation_name, dict(api_params)))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls
