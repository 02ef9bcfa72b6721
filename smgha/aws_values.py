"""Input values checked against the AWS field they become, by botocore's service model.

A stage input that becomes a field of an AWS request (an instance type, a variant name, a
role ARN) must satisfy what the service checks for that field: its enum, its length limits
and its pattern. botocore's client checks only types and minimum lengths, so without this a
bad value reaches AWS and fails there, part-way through a deploy. The rules are read from the
installed botocore's model (the service's own definition), not copied here:

    instance_type = aws_value("instance-type", text, "sagemaker", "ProductionVariantInstanceType")

Patterns are Java regular expressions applied to the whole value; the ones of the fields
checked here are plain ASCII classes that Python's `re` reads the same way (a pattern `re`
cannot compile is reported as a bug, not skipped).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore
import botocore.session

from smgha.errors import InputError


@functools.cache
def _shape(service: str, shape_name: str) -> Any:
    return botocore.session.get_session().get_service_model(service).shape_for(shape_name)


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def aws_value(input_name: str, text: str, service: str, shape_name: str) -> str:
    """`text`, when the `service` field of shape `shape_name` accepts it; InputError otherwise."""
    meta = _shape(service, shape_name).metadata
    enum = meta.get("enum")
    if enum and text not in enum:
        family = text.rsplit(".", 1)[0]
        near = [value for value in enum if value.startswith(family)][:8] or enum[:8]
        raise InputError(
            input_name,
            f"{text!r} is not a {service} {shape_name} (botocore {botocore.__version__} "
            f"knows {len(enum)})",
            f"Use one of them, e.g. {', '.join(near)}. A type newer than the installed "
            "botocore needs a newer boto3 (the action's extra-packages input).",
        )
    low, high = meta.get("min", 0), meta.get("max")
    if len(text) < low or (high is not None and len(text) > high):
        raise InputError(
            input_name,
            f"{text!r} has {len(text)} characters; {service} takes {low} to {high} for {shape_name}",
        )
    pattern = meta.get("pattern")
    if pattern and not _pattern(pattern).fullmatch(text):
        raise InputError(
            input_name,
            f"{text!r} does not match {service}'s rule for {shape_name}: {pattern}",
        )
    return text
