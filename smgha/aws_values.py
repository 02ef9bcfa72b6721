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
import os
import re
from typing import Any

from smgha.errors import InputError, shown


@functools.cache
def service_model(service: str) -> Any:
    """Loaded once per process: a service model is a large JSON file to parse. botocore is
    imported here, not with this module, and only its loader and model modules: the same
    data files a session reads (Session.get_service_model is these two calls), without
    importing botocore's client and credential machinery (measured: ~0.4 s less before a
    local build starts its warm worker)."""
    import botocore.loaders
    import botocore.model

    # AWS_DATA_PATH: extra model folders, as a session reads them (its data_path setting;
    # a data_path in ~/.aws/config is not read here). No botocore handler listens to the
    # 'service-data-loaded' event a session emits, so the model is the same.
    loader = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
    return botocore.model.ServiceModel(
        loader.load_service_model(service, "service-2"), service_name=service
    )


@functools.cache
def _shape(service: str, shape_name: str) -> Any:
    return service_model(service).shape_for(shape_name)


# What Java's `.` does not match: its line terminators (java.util.regex.Pattern, "Line
# terminators"). Python's `.` only leaves out "\n", so `execution/.*` would take a "\r".
_JAVA_DOT = "[^\n\r\u0085\u2028\u2029]"
# Java's predefined classes are ASCII (java.util.regex.Pattern, "Predefined character
# classes", without UNICODE_CHARACTER_CLASS); Python's are Unicode, so "１" would be a \d.
# Inside a class they go in without their brackets. (\D, \W, \S stay Python's: narrower
# than Java's, so stricter.)
_JAVA_CLASSES = {"d": "0-9", "w": "a-zA-Z_0-9", "s": " \t\n\x0b\f\r"}


def java_pattern_source(source: str) -> str:
    r"""A botocore (Java) pattern rewritten so that Python's `re` or `regex` matches as Java
    does: `.` without line terminators, `\d`, `\w` and `\s` ASCII only."""
    translated = []
    in_class, index = False, 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            escape = source[index : index + 2]
            ascii_class = _JAVA_CLASSES.get(escape[1:])
            if ascii_class is None:
                translated.append(escape)
            else:
                translated.append(ascii_class if in_class else f"[{ascii_class}]")
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        translated.append(_JAVA_DOT if char == "." and not in_class else char)
        index += 1
    return "".join(translated)


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """A botocore (Java) pattern as a Python one."""
    return re.compile(java_pattern_source(source))


def aws_value(input_name: str, text: str, service: str, shape_name: str) -> str:
    """`text`, when the `service` field of shape `shape_name` accepts it; InputError otherwise."""
    meta = _shape(service, shape_name).metadata
    enum = meta.get("enum")
    if enum and text not in enum:
        import botocore

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
