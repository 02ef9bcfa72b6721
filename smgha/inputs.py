"""A stage's inputs: their declaration (InputSpec, the only hand-written one: action.yml's
`inputs:` and `env:` blocks and each action's README table are generated from it, see
scripts/generate_actions.py), reading them with their defaults (InputValues), and the checks
every stage shares, each raising one InputError that names the input and the fix.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smgha.aws_values import aws_value
from smgha.errors import InputError, shown
from smgha.s3_names import s3_uri_problem

if TYPE_CHECKING:  # only a type here: the resource layer imports this module, never the runner
    from smgha.runner import Runner


@dataclass(frozen=True)
class InputSpec:
    name: str  # kebab-case, as in action.yml
    description: str
    default: str = ""
    required: bool = False
    is_bool: bool = False


# The same `region` input on every stage that calls AWS (read by backend_and_region).
REGION_INPUT = InputSpec(
    "region",
    "AWS region. Defaults to AWS_REGION / AWS_DEFAULT_REGION, then us-east-1 for the local backend.",
)


class InputValues:
    """A stage's inputs as the runner gives them, with the spec's default for an empty one.

    The default is applied here as well as in action.yml because a reusable workflow that
    passes an input through (`with: x: ${{ inputs.x }}`) gives '' when its own caller set
    nothing, and the action's default then does not apply (GitHub docs, "Metadata syntax":
    a default is used "if the input parameter isn't specified in the workflow file").
    Asking for a name the stage does not declare is a bug of ours, so it raises KeyError.
    """

    def __init__(self, runner: Runner, specs: tuple[InputSpec, ...]) -> None:
        self.runner = runner
        self.specs = {spec.name: spec for spec in specs}

    def __getitem__(self, name: str) -> str:
        spec = self.specs[name]
        return self.runner.get_input(name, required=spec.required) or spec.default

    def flag(self, name: str) -> bool:
        """A true/false input (YAML 1.2 core schema, as core's getBooleanInput)."""
        spec = self.specs[name]
        return self.runner.get_bool_input(name, default=spec.default == "true")


# Unicode categories no single-line input may hold: Cc (control characters: a line break
# ends a log line and could start a workflow command, ESC drives the terminal), Zl and Zp
# (U+2028, U+2029, which editors and JavaScript take as line breaks).
_NOT_ONE_LINE = ("Cc", "Zl", "Zp")


def one_line(name: str, text: str, max_length: int = 1024) -> str:
    """`text`, when it is one line of at most `max_length` characters; InputError otherwise.

    For inputs that no service pattern checks (a file path, a property file name, an
    S3 URI that is split later): they must still not carry a line break into a log line,
    a file name or a request."""
    bad = next((char for char in text if unicodedata.category(char) in _NOT_ONE_LINE), "")
    if bad:
        raise InputError(
            name,
            f"{shown(text)} holds the control character {bad!r}",
            "Give a single line of text, without line breaks or control characters.",
        )
    if len(text) > max_length:
        raise InputError(
            name,
            f"{shown(text)} is longer than {max_length:,} characters",
            "Check the value.",
        )
    return text


# The longest path and file name an input may give: PATH_MAX is 4096 bytes on Linux but
# 1024 on macOS (sys/syslimits.h); NAME_MAX is 255 bytes on both. Longer ones fail in the
# middle of a stage with OSError ENAMETOOLONG (Path.exists() does not swallow it), so they
# are refused up front, by the smaller limit.
PATH_MAX_BYTES = 1024
NAME_MAX_BYTES = 255


def path_text(name: str, text: str) -> str:
    """`text`, when it can name a file: one line, at most PATH_MAX_BYTES, no part longer
    than NAME_MAX_BYTES (UTF-8); InputError otherwise. Where the path leads is not
    checked here (see workspace_file)."""
    one_line(name, text, PATH_MAX_BYTES)
    if len(text.encode("utf-8")) > PATH_MAX_BYTES:
        raise InputError(
            name, f"{shown(text)} is longer than {PATH_MAX_BYTES} bytes", "Use a shorter path."
        )
    longest = max(text.replace("\\", "/").split("/"), key=lambda part: len(part.encode()))
    if len(longest.encode("utf-8")) > NAME_MAX_BYTES:
        raise InputError(
            name,
            f"{shown(text)} has a file or folder name longer than {NAME_MAX_BYTES} bytes",
            "Use shorter names.",
        )
    return text


# A number as a workflow author writes one: ASCII digits, an optional sign, decimal point
# and exponent. Python's float() and int() accept more, none of which an author means and
# all of which pass a range check or a `not value > 0` test somewhere: full-width and other
# Unicode digits ("１０" is 10), "_" separators ("1_0" is 10), surrounding Unicode white
# space, and float() also "inf", "infinity" and "nan" (Python docs, Built-in Functions,
# float() and int()). SageMaker and CloudWatch take finite numbers only, so these are
# refused here, for every numeric input of every stage.
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_WHOLE = re.compile(r"[+-]?\d+", re.ASCII)
# Longer than any number an input takes; int() of more than 4300 digits raises anyway.
_NUMBER_MAX_CHARACTERS = 40


def decimal_number(text: str) -> float | None:
    """`text` (ASCII white space around it allowed) as a finite number; None if it is not
    one written in ASCII digits (see _DECIMAL), or is too large to be finite."""
    text = text.strip(" \t")
    if len(text) > _NUMBER_MAX_CHARACTERS or not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def positive_number(name: str, text: str) -> float:
    """A finite number above 0, in ASCII digits; InputError otherwise."""
    value = decimal_number(text)
    if value is None or not value > 0:
        raise InputError(
            name,
            f"must be a positive number (finite, in ASCII digits), got {shown(text)}",
            f"E.g. {name}: 60",
        )
    return value


def choice(name: str, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise InputError(
            name, f"{shown(text)} is not one of {', '.join(allowed)}", f"Set {name} to one of them."
        )
    return text


def backend_and_region(values: InputValues) -> tuple[str, str]:
    """The `backend` and `region` inputs. The region falls back to AWS_REGION, then
    AWS_DEFAULT_REGION (oidc-auth exports it); the sagemaker backend needs one, the local
    backend uses us-east-1."""
    name = choice("backend", values["backend"], ("sagemaker", "local"))
    env = values.runner.env
    region = values["region"] or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")
    if name == "sagemaker" and not region:
        raise InputError(
            "region",
            "is required with backend: sagemaker (AWS_REGION is not set either)",
            "Set region, or run oidc-auth first.",
        )
    if region:
        aws_region(
            "region",
            region,
            "E.g. us-east-1. Without the input, AWS_REGION (then AWS_DEFAULT_REGION) is used.",
        )
    return name, region or "us-east-1"


# An AWS region's code: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-7 (AWS General
# Reference, "AWS Regions"). ASCII digits only (re.ASCII): \d alone takes any Unicode digit.
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)


def aws_region(input_name: str, text: str, hint: str = "E.g. us-east-1.") -> str:
    """A region code; InputError otherwise (it becomes part of endpoint URLs and ARNs)."""
    if not _AWS_REGION.fullmatch(text):
        raise InputError(input_name, f"{shown(text)} is not an AWS region", hint)
    return text


# S3's naming rules are in smgha/s3_names.py: BUCKET_NAME (imported above) is the
# character rule of a bare bucket name, s3_uri checks a whole URI.


def known_sagemaker_region(region: str) -> str:
    """`region` (a CLI's --region) if botocore knows SageMaker there (any partition), else an
    InputError naming `region`."""
    import boto3
    import botocore

    if not region:
        raise InputError("region", "no region given", "Fix: --region us-east-1 (or AWS_REGION).")
    session = boto3.Session()
    known = {
        name
        for partition in session.get_available_partitions()
        for name in session.get_available_regions("sagemaker", partition_name=partition)
    }
    if region not in known:
        raise InputError(
            "region",
            f"{region[:40]!r} is not a region SageMaker is offered in",
            f"botocore {botocore.__version__} knows it in {len(known)} regions (a region newer "
            "than botocore needs a newer botocore).",
        )
    return region


def s3_uri(input_name: str, text: str, example: str = "s3://my-bucket/prefix") -> str:
    """An s3://bucket/key input whose bucket keeps S3's naming rules and whose key stays
    below its bucket (smgha/s3_names.py); InputError naming the input otherwise."""
    if not text.startswith("s3://"):
        raise InputError(input_name, f"must be an s3:// URI, got {shown(text)}", f"E.g. {example}.")
    problem = s3_uri_problem(text)
    if problem:
        raise InputError(input_name, f"{shown(text)} is refused: {problem}", f"E.g. {example}.")
    return text


def workspace_file(
    input_name: str, text: str, workspace: Path, state_folder: Path | None = None
) -> Path:
    """The file an input names, relative to the workspace (an absolute path is taken as
    it is), refused unless it is inside the workspace, or inside `state_folder` (the local
    backend's, see local_state_folder), once every symbolic link and ".." is resolved: an
    input must not read or write the runner's other files (/etc/hostname,
    /proc/self/environ, another job's checkout). The error names the input and the path it
    gave, never anything read from the file."""
    if not text.strip():
        raise InputError(input_name, "names no file", "Give a path relative to the workspace.")
    if "\x00" in text:
        raise InputError(input_name, "holds a NUL character, which no path can", "Remove it.")
    path_text(input_name, text)  # one line, and not too long to open
    try:
        resolved = (workspace / text).resolve()
    except (OSError, RuntimeError) as error:  # a name too long, a symbolic link loop
        raise InputError(
            input_name, f"{shown(text)} cannot be resolved ({error})", "Give a path to a file."
        ) from None
    allowed = [workspace.resolve()] + ([state_folder.resolve()] if state_folder else [])
    if not any(resolved.is_relative_to(folder) for folder in allowed):
        where = " or ".join(str(folder) for folder in allowed)
        raise InputError(
            input_name,
            f"{shown(text)} leads outside the workspace ({where})",
            "Give a path inside the workspace (GITHUB_WORKSPACE), relative to it, e.g. "
            "data/file.csv; copy a file from elsewhere into the workspace first.",
        )
    return resolved


def local_state_folder(backend_name: str) -> Path | None:
    """The local backend's state folder, where file inputs may also point (the demo keeps
    its payloads and reports there); None for the sagemaker backend."""
    if backend_name != "local":
        return None
    from smgha.backends.local.state import state_dir  # not at import: local imports stages

    return state_dir()


def whole_number(name: str, text: str, low: int, high: int, hint: str = "") -> int:
    """An integer input within [low, high], in ASCII digits (see _DECIMAL for why);
    InputError otherwise."""
    digits = text.strip(" \t")
    whole = len(digits) <= _NUMBER_MAX_CHARACTERS and _WHOLE.fullmatch(digits)
    value = int(digits) if whole else low - 1
    if not low <= value <= high:
        raise InputError(
            name,
            f"must be a whole number from {low} to {high}, got {shown(text)}",
            hint or f"Set {name} within that range.",
        )
    return value


# The role-arn input of the stages that make SageMaker run something as a role.
ROLE_REQUIRED = (
    "is required with backend: sagemaker",
    "Set role-arn to the SageMaker execution role's ARN (the Terraform module outputs it).",
)
NOT_A_ROLE = ("{role} is not an IAM role ARN", "It looks like arn:aws:iam::123456789012:role/NAME.")
# What the local backend records as the role when none is given (it assumes no role).
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/smgha-local-execution"


def execution_role_arn(role_arn: str, backend: str) -> str:
    """The role-arn input, the role SageMaker runs a pipeline, model or monitoring job as:
    required on the sagemaker backend, a stand-in (LOCAL_ROLE_ARN) on the local one."""
    if not role_arn and backend == "local":
        return LOCAL_ROLE_ARN  # a valid RoleArn (tests/test_startup.py checks it)
    if backend == "sagemaker":
        if not role_arn:
            raise InputError("role-arn", *ROLE_REQUIRED)
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            problem, fix = NOT_A_ROLE
            raise InputError("role-arn", problem.format(role=shown(role_arn)), fix)
    return aws_value("role-arn", role_arn, "sagemaker", "RoleArn")


PACKAGE_ARN_EXAMPLE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models/7"


def model_package_version_arn(input_name: str, package: str) -> str:
    """An exact model package version's ARN (never a group: "the latest" is not a version)."""
    # The group is a SageMaker name, the version ASCII digits (re.ASCII: \d is Unicode).
    if not re.fullmatch(
        r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/"
        r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/\d+",
        package,
        re.ASCII,
    ):
        raise InputError(
            input_name,
            f"{shown(package)} is not a versioned model package ARN",
            f"Pass an exact version, e.g. {PACKAGE_ARN_EXAMPLE}.",
        )
    return package


_SNS = re.compile(
    r"arn:aws[a-z-]*:sns:(?P<region>[a-z]{2}(-[a-z]+)+-\d):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?",
    re.ASCII,
)


def sns_topic_arn(input_name: str, text: str, region: str) -> str:
    """An SNS topic ARN in `region` (alarms notify topics of their own region), or ''."""
    if not text:
        return ""
    found = _SNS.fullmatch(text)
    if not found:
        raise InputError(
            input_name,
            f"{shown(text)} is not an SNS topic ARN",
            "E.g. arn:aws:sns:us-east-1:123456789012:model-drift.",
        )
    if found.group("region") != region:
        raise InputError(
            input_name,
            f"the topic is in {found.group('region')}, the alarms in {region}",
            "CloudWatch alarms notify topics of their own region; use a topic there.",
        )
    return text


def s3_prefix(name: str, text: str) -> str:
    """An optional s3:// prefix input, without its trailing slash ("" when not given)."""
    return s3_uri(name, text).rstrip("/") if text else ""
