"""Input values checked against the AWS field they become, by botocore's service model.

A stage input that becomes a field of an AWS request (an instance type, a variant name, a
role ARN) must satisfy what the service checks for that field: its enum, its length limits
and its pattern. botocore's client checks only types and minimum lengths, so without this a
bad value reaches AWS and fails there, part-way through a deploy. The rules are read from the
installed botocore's model (the service's own definition), not copied here:

    instance_type = aws_value("instance-type", text, "sagemaker", "ProductionVariantInstanceType")

Patterns are Java regular expressions applied to the whole value; the ones of the fields
checked here are plain classes that Python's `re` reads the same way once `re.ASCII` is on
(a pattern `re` cannot compile is reported as a bug, not skipped). Without it they would
not: in Java `\\d`, `\\w` and `\\s` match ASCII characters only unless the pattern asks for
UNICODE_CHARACTER_CLASS (Java SE API, java.util.regex.Pattern, "Predefined character
classes"), while Python's match any Unicode digit, letter or space, so `\\d{12}` would take a
full-width account id that AWS refuses.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore
import botocore.session

from smgha.errors import InputError
from smgha.stages import shown


@functools.cache
def _shape(service: str, shape_name: str) -> Any:
    return botocore.session.get_session().get_service_model(service).shape_for(shape_name)


# What Java's `.` does not match: its line terminators (java.util.regex.Pattern, "Line
# terminators"). Python's `.` only leaves out "\n", so `execution/.*` would take a "\r".
_JAVA_DOT = "[^\n\r\u0085\u2028\u2029]"


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """A botocore (Java) pattern as a Python one: ASCII classes, and `.` as in Java."""
    translated = []
    escaped = in_class = False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "." and not in_class:
            char = _JAVA_DOT
        translated.append(char)
    return re.compile("".join(translated), re.ASCII)


def aws_value(input_name: str, text: str, service: str, shape_name: str) -> str:
    """`text`, when the `service` field of shape `shape_name` accepts it; InputError otherwise."""
    meta = _shape(service, shape_name).metadata
    enum = meta.get("enum")
    if enum and text not in enum:
        family = text.rsplit(".", 1)[0]
        near = [value for value in enum if value.startswith(family)][:8] or enum[:8]
        raise InputError(
            input_name,
            f"{shown(text)} is not a {service} {shape_name} (botocore {botocore.__version__} "
            f"knows {len(enum)})",
            f"Use one of them, e.g. {', '.join(near)}. A type newer than the installed "
            "botocore needs a newer boto3 (the action's extra-packages input).",
        )
    low, high = meta.get("min", 0), meta.get("max")
    if len(text) < low or (high is not None and len(text) > high):
        raise InputError(
            input_name,
            f"{shown(text)} has {len(text)} characters; {service} takes {low} to {high} for {shape_name}",
        )
    pattern = meta.get("pattern")
    if pattern and not _pattern(pattern).fullmatch(text):
        raise InputError(
            input_name,
            f"{shown(text)} does not match {service}'s rule for {shape_name}: {pattern}",
        )
    return text
