"""The review bundle: everything a review needs about one registered model, in one folder.

    bundle.json       what build_bundle found (BUNDLE_FIELDS); `evaluation` is evaluation.json
                      as the package's model-quality statistics hold it
    predictions.csv   the evaluation step's predictions on the test rows, when it wrote them

main's build publishes its bundle (the champion); a pull request's review builds one for its
candidate the same way. A bundle read back (read_bundle) is data from another run, maybe from
another repository's fork: every field is checked, and what is read is capped in size.

Reads the backend only through the port (registry, objects, pipelines, monitoring); what the
registry holds is read with smgha.resources.registry, as register-and-gate reads it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from smgha import definition as definitions
from smgha.backends import Backend, StepRecord
from smgha.errors import InputError, StageError
from smgha.resources import registry
from smgha.resources.customer_metadata import read_lineage
from smgha.review.changes import definition_problem
from smgha.review.profile import ProfileError, data_sha256, profile_csv, profile_problem

SCHEMA = "smgha-review-bundle/1"
BUNDLE_FILE = "bundle.json"
PREDICTIONS_FILE = "predictions.csv"
DETAILS_FILE = "model-details.json"
TASKS = ("binary_classification", "regression")
# What is read at most: a bundle is untrusted data; these bound memory and time, far above
# what the reference model writes (bundle.json ~100 KB with its definition, predictions
# ~30 KB per 1,000 test rows).
MAX_BUNDLE_JSON_BYTES = 16 * 1024 * 1024
MAX_PREDICTIONS_BYTES = 64 * 1024 * 1024
MAX_DATA_BYTES = 256 * 1024 * 1024  # the input data a profile is made of
SEGMENT_PREFIX = "segment:"
SHA256 = re.compile(r"[0-9a-f]{64}")

NO_PACKAGE = ("there is no model package {arn}", "Check the ARN (and the backend's state folder).")
NO_STATISTICS = (
    "{arn} has no model-quality statistics (ModelMetrics.ModelQuality.Statistics.S3Uri)",
    "Register the package with the evaluation report as its model-quality statistics, as the "
    "reference pipeline's register step does (ml/pipeline.py).",
)


class BundleError(ValueError):
    """A bundle (or a file of one) that cannot be used: names the file, the field and why."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        self.file, self.field, self.problem = file, field, problem
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Predictions:
    """predictions.csv, checked: one value per test row (a score 0..1 or a prediction)."""

    labels: list[float]
    values: list[float]
    segments: dict[str, list[str]]  # feature -> the raw category of each row


@dataclass(frozen=True)
class Bundle:
    schema: str
    pipeline_name: str
    model_package_group: str
    model_package_arn: str
    execution_arn: str
    git_sha: str
    git_ref: str
    created_at: str  # ISO 8601, UTC
    approval_status: str
    task: str  # one of TASKS, or "" when neither the details nor the evaluation say
    evaluation: dict[str, Any]
    details: dict[str, Any] | None
    data_profile: dict[str, Any] | None
    data_profile_error: str
    definition: dict[str, Any] | None
    predictions_csv: bytes | None = None  # not in bundle.json: its own file

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "predictions_csv"}

    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created_at)


BUNDLE_FIELDS = {f.name: f for f in fields(Bundle) if f.name != "predictions_csv"}


# ---- building a bundle from a registered package --------------------------------------------


def build_bundle(
    backend: Backend,
    model_package_arn: str,
    *,
    execution_arn: str = "",
    data_parameter: str = "InputDataUrl",
    git_sha: str = "",
    git_ref: str = "",
    known_profile: dict[str, Any] | None = None,
) -> Bundle:
    """The bundle of a registered package. `execution_arn` is the build that registered it
    (default: the one register-and-gate recorded on it). `known_profile` (the champion's) is
    reused when it was made of the very same bytes of input data, instead of profiling them
    again."""
    record = backend.registry.describe_model_package(model_package_arn)
    if record is None:
        problem, fix = NO_PACKAGE
        raise InputError("model-package-arn", problem.format(arn=model_package_arn), fix)
    uri = registry.statistics_uri(record)
    if not uri:
        problem, fix = NO_STATISTICS
        raise InputError("model-package-arn", problem.format(arn=model_package_arn), fix)
    evaluation = registry.read_evaluation(backend.objects, uri)
    folder = uri.rsplit("/", 1)[0]
    details = _read_optional_json(backend, f"{folder}/{DETAILS_FILE}")
    predictions = _read_optional(backend, f"{folder}/{PREDICTIONS_FILE}")
    lineage = read_lineage(record.get("CustomerMetadataProperties"))
    execution_arn = execution_arn or lineage.get("pipeline-execution-arn", "")
    pipeline_name = pipeline_of(execution_arn)
    definition = backend.pipelines.get_pipeline_definition(pipeline_name) if pipeline_name else None
    profile, profile_error = _data_profile(
        backend, definition, execution_arn, data_parameter, known_profile
    )
    return Bundle(
        schema=SCHEMA,
        pipeline_name=pipeline_name,
        model_package_group=str(record.get("ModelPackageGroupName", "")),
        model_package_arn=model_package_arn,
        execution_arn=execution_arn,
        git_sha=git_sha or lineage.get("git-sha", ""),
        git_ref=git_ref,
        created_at=_utc(record.get("CreationTime")),
        approval_status=str(record.get("ModelApprovalStatus", "")),
        task=task_of(evaluation, details),
        evaluation=evaluation if isinstance(evaluation, dict) else {},
        details=details,
        data_profile=profile,
        data_profile_error=profile_error,
        definition=definition,
        predictions_csv=predictions,
    )


def pipeline_of(execution_arn: str) -> str:
    """The pipeline's name in arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>."""
    if ":pipeline/" not in execution_arn or "/execution/" not in execution_arn:
        return ""
    return execution_arn.split(":pipeline/", 1)[1].split("/execution/", 1)[0]


def task_of(evaluation: Any, details: dict[str, Any] | None) -> str:
    """The model's task: model-details.json says it; else the evaluation's top-level key
    (the SageMaker model-quality report's binary_classification_metrics or regression_metrics)."""
    if details and details.get("task") in TASKS:
        return str(details["task"])
    for task in TASKS:
        if isinstance(evaluation, dict) and f"{task}_metrics" in evaluation:
            return task
    return ""


def _utc(moment: Any) -> str:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if not isinstance(moment, dt.datetime):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat()


def _read_optional(backend: Backend, uri: str) -> bytes | None:
    if backend.objects.missing_objects([uri]):
        return None
    return backend.objects.read_object(uri)


def _read_optional_json(backend: Backend, uri: str) -> dict[str, Any] | None:
    data = _read_optional(backend, uri)
    if data is None:
        return None
    try:
        return check_details(json.loads(data), uri)
    except ValueError as error:
        raise InputError(
            "model-package-arn", f"{uri} is not usable: {error}", FIX_DETAILS
        ) from None


FIX_DETAILS = "Write model-details.json as docs/review.md says (What your model code writes)."


def _data_profile(
    backend: Backend,
    definition: dict[str, Any] | None,
    execution_arn: str,
    parameter: str,
    known: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """(profile, '') of the execution's input data, or (None, why not); `known` when it was
    made of the same bytes (most pull requests change code, not data: no second profiling)."""
    if not execution_arn:
        return None, "the package names no pipeline execution (its lineage has none)"
    if definition is None:
        return None, f"the pipeline {pipeline_of(execution_arn)} has no definition in the backend"
    steps = backend.pipelines.list_steps(execution_arn)
    uri, why_not = input_data_uri(backend, definition, steps, parameter)
    if not uri:
        return None, why_not
    try:
        data = backend.objects.read_object(uri)
    except StageError as error:
        return None, f"cannot read {uri}: {error.detail}"
    if len(data) > MAX_DATA_BYTES:
        return None, f"{uri} is {len(data)} bytes; profiles are made of at most {MAX_DATA_BYTES}"
    if known and known.get("sha256") == data_sha256(data):
        return known, ""
    try:
        return profile_csv(data), ""
    except ProfileError as error:
        return None, f"{uri} cannot be profiled: {error}"


def input_data_uri(
    backend: Backend, definition: dict[str, Any], steps: list[StepRecord], parameter: str
) -> tuple[str, str]:
    """(the S3 URI the execution read as pipeline parameter `parameter`, '') or ('', why not).

    The value an execution ran with is in the processing job of the step that reads the
    parameter as a ProcessingInput (DescribeProcessingJob's ProcessingInputs[].S3Input.S3Uri):
    the port has no ListPipelineParametersForExecution."""
    wanted = {"Get": f"Parameters.{parameter}"}
    for step in definitions.iter_steps(definition.get("Steps") or []):
        for item in (step.get("Arguments") or {}).get("ProcessingInputs") or []:
            if (item.get("S3Input") or {}).get("S3Uri") != wanted:
                continue
            ran = next((s for s in steps if s.name == step.get("Name")), None)
            job_arn = ((ran.metadata if ran else {}).get("ProcessingJob") or {}).get("Arn", "")
            job = backend.monitoring.describe_processing_job(job_arn.rsplit("/", 1)[-1])
            for used in (job or {}).get("ProcessingInputs") or []:
                if used.get("InputName") == item.get("InputName"):
                    return str(used["S3Input"]["S3Uri"]), ""
            return "", f"the processing job of step {step.get('Name')} is not found"
    return "", f"no step of the pipeline reads the parameter {parameter} as a processing input"


# ---- writing and reading a bundle folder ----------------------------------------------------


def write_bundle(bundle: Bundle, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(bundle.to_json(), indent=1, sort_keys=True, allow_nan=False)
    (folder / BUNDLE_FILE).write_text(text + "\n", encoding="utf-8")
    if bundle.predictions_csv is not None:
        (folder / PREDICTIONS_FILE).write_bytes(bundle.predictions_csv)


def read_bundle(folder: Path) -> Bundle:
    """The bundle in `folder`, every field checked; BundleError naming the file and field."""
    data = _capped(folder / BUNDLE_FILE, MAX_BUNDLE_JSON_BYTES)
    if data is None:
        raise BundleError(BUNDLE_FILE, "", f"there is no {BUNDLE_FILE} in {folder}")
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except ValueError as error:  # UnicodeDecodeError too
        raise BundleError(BUNDLE_FILE, "", f"is not JSON: {error}") from None
    except RecursionError:  # json.loads recurses once per nested array or object
        raise BundleError(BUNDLE_FILE, "", "is nested too deeply to read") from None
    if not isinstance(document, dict):
        raise BundleError(BUNDLE_FILE, "", "must hold a JSON object")
    values = check_fields(document)
    predictions = _capped(folder / PREDICTIONS_FILE, MAX_PREDICTIONS_BYTES)
    bundle = Bundle(**values, predictions_csv=predictions)
    if predictions is not None:
        parse_predictions(predictions, bundle.task)  # raises BundleError when unusable
    return bundle


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _capped(path: Path, most: int) -> bytes | None:
    if not path.is_file():
        return None
    size = path.stat().st_size
    if size > most:
        raise BundleError(
            path.name, "", f"is {size} bytes; a bundle's {path.name} has at most {most}"
        )
    return path.read_bytes()


# The type each field of bundle.json must have (None allowed where the design says so).
_STRINGS = (
    "pipeline_name", "model_package_group", "model_package_arn", "execution_arn", "git_sha",
    "git_ref", "created_at", "approval_status", "task", "data_profile_error",
)  # fmt: skip
_OBJECTS_OR_NULL = ("details", "data_profile", "definition")


def check_fields(document: dict[str, Any]) -> dict[str, Any]:
    if document.get("schema") != SCHEMA:
        raise BundleError(BUNDLE_FILE, "schema", f"is {document.get('schema')!r}, not {SCHEMA!r}")
    unknown = sorted(set(document) - set(BUNDLE_FIELDS))
    missing = sorted(set(BUNDLE_FIELDS) - set(document))
    if unknown or missing:
        name = (unknown or missing)[0]
        raise BundleError(
            BUNDLE_FILE, name, "is not a field of a bundle" if unknown else "is missing"
        )
    for name in _STRINGS:
        if not isinstance(document[name], str):
            raise BundleError(BUNDLE_FILE, name, "must be a string")
    if document["task"] not in (*TASKS, ""):
        raise BundleError(BUNDLE_FILE, "task", f"is {document['task']!r}, not one of {TASKS}")
    try:
        created = dt.datetime.fromisoformat(document["created_at"])
    except ValueError:
        raise BundleError(BUNDLE_FILE, "created_at", "is not an ISO 8601 time") from None
    if created.tzinfo is None:
        raise BundleError(BUNDLE_FILE, "created_at", "has no time zone (write it in UTC: +00:00)")
    if not isinstance(document["evaluation"], dict):
        raise BundleError(BUNDLE_FILE, "evaluation", "must be a JSON object (evaluation.json)")
    for name in _OBJECTS_OR_NULL:
        if document[name] is not None and not isinstance(document[name], dict):
            raise BundleError(BUNDLE_FILE, name, "must be a JSON object or null")
    if document["details"] is not None:
        check_details(document["details"], f"{BUNDLE_FILE}: details")
    if document["data_profile"] is not None:
        field, problem = profile_problem(document["data_profile"])
        if problem:
            raise BundleError(BUNDLE_FILE, ".".join(("data_profile", field)).rstrip("."), problem)
    if document["definition"] is not None:
        problem = definition_problem(document["definition"])
        if problem:
            raise BundleError(BUNDLE_FILE, "definition", problem)
    return document


def check_details(details: Any, where: str) -> dict[str, Any]:
    """model-details.json (design section 1), checked; BundleError naming the field."""
    if not isinstance(details, dict) or details.get("schema") != 1:
        raise BundleError(where, "schema", "must be 1 (a JSON object with schema 1)")
    if details.get("task") not in TASKS:
        raise BundleError(where, "task", f"must be one of {', '.join(TASKS)}")
    threshold = details.get("threshold", 0.5)
    if details["task"] == "binary_classification" and not (
        _number(threshold) and 0 <= threshold <= 1
    ):
        raise BundleError(where, "threshold", "must be a number from 0 to 1")
    if not SHA256.fullmatch(str(details.get("test_rows_sha256", ""))):
        raise BundleError(where, "test_rows_sha256", "must be 64 lowercase hex digits (sha256)")
    importance = details.get("feature_importance", {})
    if not isinstance(importance, dict) or not all(
        isinstance(k, str) and _number(v) for k, v in importance.items()
    ):
        raise BundleError(where, "feature_importance", "must map feature names to numbers")
    return details


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- predictions.csv ------------------------------------------------------------------------


def parse_predictions(data: bytes, task: str) -> Predictions:
    """predictions.csv (design section 1), checked; BundleError naming the column or row."""
    value_column = "score" if task == "binary_classification" else "prediction"
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except UnicodeDecodeError:
        raise BundleError(PREDICTIONS_FILE, "", "is not UTF-8 text") from None
    header = rows[0] if rows else []
    for column in ("label", value_column):
        if column not in header:
            raise BundleError(
                PREDICTIONS_FILE,
                column,
                f"the header has no column {column} ({task or 'unknown task'})",
            )
    label_at, value_at = header.index("label"), header.index(value_column)
    segment_at = {
        name.removeprefix(SEGMENT_PREFIX): i
        for i, name in enumerate(header)
        if name.startswith(SEGMENT_PREFIX)
    }
    labels, values = [], []
    segments: dict[str, list[str]] = {name: [] for name in segment_at}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BundleError(
                PREDICTIONS_FILE, f"row {number}", f"has {len(row)} cells, the header {len(header)}"
            )
        label, value = (
            _cell(row[label_at], "label", number),
            _cell(row[value_at], value_column, number),
        )
        if value_column == "score" and label not in (0, 1):
            raise BundleError(
                PREDICTIONS_FILE,
                f"row {number}",
                f"label {row[label_at]!r} is not 0 or 1 (binary classification)",
            )
        if value_column == "score" and not 0 <= value <= 1:
            raise BundleError(
                PREDICTIONS_FILE, f"row {number}", f"score {value} is not a probability (0 to 1)"
            )
        labels.append(label)
        values.append(value)
        for name, at in segment_at.items():
            segments[name].append(row[at])
    if not labels:
        raise BundleError(PREDICTIONS_FILE, "", "has no rows")
    return Predictions(labels, values, segments)


def _cell(text: str, column: str, number: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BundleError(PREDICTIONS_FILE, f"row {number}", f"{column} {text!r} is not a number")
    return value
