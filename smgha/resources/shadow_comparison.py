"""The comparison of a shadow variant with its production variant: their answers to the same
requests, paired from data capture, and each variant's metrics; the report shadow-test gates.

Where the answers are. A shadow's answers reach no caller: SageMaker keeps them only in data
capture ("You can also optionally turn on Data Capture to log requests and responses of your
production and shadow variants", https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html).
Capture files are at <DestinationS3Uri>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/*.jsonl,
one JSON record per line with captureData.endpointInput/endpointOutput and
eventMetadata.eventId and inferenceTime ("Capture data from real-time endpoint",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html), so
each variant's answers are read under its own name, hour by hour over the window.

How a production answer and the shadow's answer to the same request pair up: by the record's
eventMetadata.inferenceId when both carry one (set when the caller passes InferenceId), else by
eventId. No page found says that SageMaker gives the shadow's record the production record's
eventId (not confirmed against AWS); the local backend does (serving/mirror.py). Records that
find no partner are counted, never compared.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smgha.backends import Objects, VariantStatistics
from smgha.errors import InputError
from smgha.smoke.functional import parse_predictions
from smgha.smoke.payloads import REGRESSION

# A probability at or above this is class 1 (as smoke-test reads a binary classifier).
THRESHOLD = 0.5

# Every metric the comparison can have (a rule names one of these).
METRICS = (
    "pairs",
    "labelled",
    "shadow.agreement",
    "shadow.mean_score_difference",
    "shadow.max_score_difference",
    *(
        f"{role}.{name}"
        for role in ("production", "shadow")
        for name in ("invocations", "errors", "error_rate", "p50_ms", "p99_ms", "accuracy", "rmse")
    ),
)


def check_rule_metrics(metrics: list[str]) -> None:
    """InputError('rules') naming a metric no comparison has (before anything is sent)."""
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise InputError(
            "rules",
            f"names {', '.join(map(repr, unknown))}, which the comparison does not have",
            f"Name its metrics in full: {', '.join(METRICS)}.",
        )


@dataclass(frozen=True)
class Answer:
    """One captured invocation of one variant."""

    key: str  # what pairs it with the other variant's answer (inferenceId or eventId)
    request: str  # the request body as captured (text; BASE64 decoded when it is text)
    predictions: tuple[float, ...] | None  # None: the response could not be read as numbers


@dataclass(frozen=True)
class Pair:
    request: str
    production: tuple[float, ...]
    shadow: tuple[float, ...]


@dataclass
class Comparison:
    """The report: what was compared, and the metrics the rules name."""

    pairs: list[Pair] = field(default_factory=list)
    unpaired: int = 0  # captured answers of one variant without the other's
    unreadable: int = 0  # answers whose response is not numbers
    metrics: dict[str, float] = field(default_factory=dict)


def capture_prefixes(
    destination: str, endpoint: str, variant: str, start: dt.datetime, end: dt.datetime
) -> list[str]:
    """The hour folders of a variant's capture files from `start` to `end` (UTC)."""
    hour = start.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    base = f"{destination.rstrip('/')}/{endpoint}/{variant}"
    folders = []
    while hour <= end:
        folders.append(f"{base}/{hour:%Y/%m/%d/%H}/")
        hour += dt.timedelta(hours=1)
    return folders


def captured_answers(
    objects: Objects, prefixes: list[str], since: dt.datetime
) -> dict[str, Answer]:
    """Every answer captured under `prefixes` at or after `since` (to the second), by key.
    A line that is not a whole record (a file being written) is skipped."""
    first = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    answers: dict[str, Answer] = {}
    for prefix in prefixes:
        for uri in objects.list_objects(prefix):
            text = objects.read_object(uri).decode("utf-8", errors="replace")
            for line in text.splitlines():
                answer = _answer(line, first)
                if answer is not None:
                    answers[answer.key] = answer
    return answers


def _answer(line: str, first: str) -> Answer | None:
    try:
        record = json.loads(line)
        metadata = record["eventMetadata"]
        data = record["captureData"]
        moment = str(metadata["inferenceTime"])
    except (ValueError, KeyError, TypeError):
        return None
    if moment < first:  # ISO 8601 UTC: the text order is the time order
        return None
    key = str(metadata.get("inferenceId") or metadata.get("eventId") or "")
    request, _ = _decoded(data.get("endpointInput") or {})
    response, content_type = _decoded(data.get("endpointOutput") or {})
    try:
        predictions: tuple[float, ...] | None = tuple(
            parse_predictions(response.encode(), content_type)
        )
    except (ValueError, UnicodeError):
        predictions = None
    return Answer(key, request, predictions) if key else None


def _decoded(captured: Mapping[str, Any]) -> tuple[str, str]:
    """The captured body as text and its media type (text/csv or application/json)."""
    data = str(captured.get("data", ""))
    if captured.get("encoding") == "BASE64":
        try:
            data = base64.b64decode(data).decode("utf-8")
        except (ValueError, UnicodeError):
            data = ""
    media = str(captured.get("observedContentType", "")).split(";")[0].strip().lower()
    return data, media


def compare(
    production: dict[str, Answer],
    shadow: dict[str, Answer],
    statistics: Mapping[str, VariantStatistics],
    names: tuple[str, str],
    task: str,
    labels: Mapping[str, float] | None = None,
) -> Comparison:
    """The comparison of the paired answers and each variant's statistics. `names` are the
    production and the shadow variant's names; `labels` the true value of a request body."""
    result = Comparison()
    for key, answer in production.items():
        other = shadow.get(key)
        if other is None:
            result.unpaired += 1
            continue
        if answer.predictions is None or other.predictions is None:
            result.unreadable += 1
            continue
        if len(answer.predictions) != len(other.predictions):
            result.unreadable += 1
            continue
        result.pairs.append(Pair(answer.request, answer.predictions, other.predictions))
    result.unpaired += len(set(shadow) - set(production))
    metrics = result.metrics
    metrics["pairs"] = len(result.pairs)
    differences = [
        abs(a - b)
        for pair in result.pairs
        for a, b in zip(pair.production, pair.shadow, strict=True)
    ]
    if differences:
        metrics["shadow.mean_score_difference"] = sum(differences) / len(differences)
        metrics["shadow.max_score_difference"] = max(differences)
    if differences and task != REGRESSION:
        same = [
            (a >= THRESHOLD) == (b >= THRESHOLD)
            for pair in result.pairs
            for a, b in zip(pair.production, pair.shadow, strict=True)
        ]
        metrics["shadow.agreement"] = sum(same) / len(same)
    for role, name in zip(("production", "shadow"), names, strict=True):
        _statistics(metrics, role, statistics.get(name))
        _label_metrics(metrics, role, result.pairs, task, labels or {})
    return result


def _statistics(metrics: dict[str, float], role: str, found: VariantStatistics | None) -> None:
    if found is None:
        return
    metrics[f"{role}.invocations"] = found.invocations
    metrics[f"{role}.errors"] = found.errors
    if found.invocations:
        metrics[f"{role}.error_rate"] = found.errors / found.invocations
    if found.p50_ms is not None:
        metrics[f"{role}.p50_ms"] = found.p50_ms
    if found.p99_ms is not None:
        metrics[f"{role}.p99_ms"] = found.p99_ms


def _label_metrics(
    metrics: dict[str, float], role: str, pairs: list[Pair], task: str, labels: Mapping[str, float]
) -> None:
    """accuracy (classification) or rmse (regression) of one variant on the labelled pairs: a
    pair is labelled when its request is one payload row whose label is known."""
    labelled = [pair for pair in pairs if pair.request in labels and len(pair.production) == 1]
    scored = [(pair.production if role == "production" else pair.shadow)[0] for pair in labelled]
    truth = [labels[pair.request] for pair in labelled]
    if not scored:
        return
    metrics["labelled"] = len(scored)
    if task == REGRESSION:
        squared = [(p - t) ** 2 for p, t in zip(scored, truth, strict=True)]
        metrics[f"{role}.rmse"] = math.sqrt(sum(squared) / len(squared))
    else:
        right = [(p >= THRESHOLD) == (t >= THRESHOLD) for p, t in zip(scored, truth, strict=True)]
        metrics[f"{role}.accuracy"] = sum(right) / len(right)


def report_document(comparison: Comparison, names: tuple[str, str]) -> dict[str, Any]:
    """The JSON report's comparison part."""
    return {
        "production_variant": names[0],
        "shadow_variant": names[1],
        "pairs": len(comparison.pairs),
        "unpaired": comparison.unpaired,
        "unreadable": comparison.unreadable,
        "metrics": comparison.metrics,
    }


# The summary's rows: (label, metric suffix, digits).
SUMMARY_ROWS = (
    ("Invocations", "invocations", 0),
    ("Errors", "errors", 0),
    ("p50 latency (ms)", "p50_ms", 2),
    ("p99 latency (ms)", "p99_ms", 2),
    ("Accuracy (labelled)", "accuracy", 4),
    ("RMSE (labelled)", "rmse", 4),
)


def summary_rows(metrics: Mapping[str, float]) -> list[list[str]]:
    """Production beside shadow, for the job summary; the agreement and score differences last."""

    def cell(key: str, digits: int) -> str:
        value = metrics.get(key)
        return "–" if value is None else f"{value:.{digits}f}"

    rows = [
        [label, cell(f"production.{suffix}", digits), cell(f"shadow.{suffix}", digits)]
        for label, suffix, digits in SUMMARY_ROWS
        if f"production.{suffix}" in metrics or f"shadow.{suffix}" in metrics
    ]
    for label, key in (
        ("Agreement", "shadow.agreement"),
        ("Mean score difference", "shadow.mean_score_difference"),
        ("Max score difference", "shadow.max_score_difference"),
    ):
        if key in metrics:
            rows.append([label, "", cell(key, 4)])
    return rows
