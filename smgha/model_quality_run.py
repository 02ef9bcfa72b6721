"""One model-quality monitoring execution on the local backend, in Model Monitor's formats.

    captured records (endpointOutput)  ┐
                                       ├─ merge by eventId ─> (label, prediction, probability)
    ground truth JSON lines (S3)       ┘     metrics()      ─> statistics.json
                                             violations()   ─> constraint_violations.json
                                             alarms          ─> OK / ALARM

SageMaker runs this as a merge job then a monitoring job; here `smgha monitor run --endpoint
NAME --kind model-quality` is the execution. What it follows:
* Ground truth: one JSON line per prediction, {"groundTruthData": {"data": "1", "encoding":
  "CSV"}, "eventMetadata": {"eventId": ...}, "eventVersion": "0"}, paired with the captured
  record by inferenceId when the capture has one, else by eventId ("Ingest Ground Truth
  labels and merge them with predictions", model-monitor-model-quality-merge.html).
* The metrics, per problem type, in the report's layout (<section>_metrics.<metric>.value,
  standard_deviation "NaN" below 200 samples, else the deviation over five random 80 %
  samples: "Model quality metrics and Amazon CloudWatch monitoring",
  model-monitor-model-quality-metrics.html).
* A violation per constraint whose comparison holds, {"metric_name", "constraint_check_type":
  the comparison operator, "description": "Metric <m> with <v> was <operator> <threshold>"},
  as the custom-metrics sample of Model Monitor writes them (not confirmed against the
  built-in container's output).
What differs (docs/aws-fidelity.md): no time window or offsets: an execution takes the records
captured since the last one (all with --all), so upload their labels before running it; a
record whose label is not there is counted as unlabelled and not analysed again. A captured
record holding several predictions (a batch request) is refused: a ground-truth line holds
one label, and no page says how SageMaker pairs a batch (the stricter reading).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from smgha.backends import Objects
from smgha.monitor import DataError, json_bytes
from smgha.resources.model_quality import METRICS_NAMESPACE, PROBLEM_TYPES
from smgha.resources.monitoring import metric_dimensions

MONITORING_TYPE = "ModelQuality"
MIN_SAMPLES_FOR_DEVIATION = 200  # model-monitor-model-quality-metrics.html


class QualityStore(Protocol):
    """What one execution needs from the local backend's monitoring area."""

    def scheduled_definition(
        self, endpoint_name: str, monitoring_type: str
    ) -> tuple[str, dict[str, Any]]: ...

    def new_capture_lines(
        self, endpoint_name: str, everything: bool, monitoring_type: str = "DataQuality"
    ) -> tuple[list[str], Any]: ...

    def record_execution(
        self,
        endpoint_name: str,
        summary: dict[str, Any],
        cursor: Any,
        monitoring_type: str = "DataQuality",
    ) -> None: ...


class AlarmStore(Protocol):
    """The CloudWatch calls the execution makes on the local alarms."""

    def describe_alarms_for_metric(
        self, metric: str, namespace: str, dimensions: list[dict[str, str]]
    ) -> list[dict[str, Any]]: ...

    def set_alarm_state(self, name: str, value: str, reason: str) -> None: ...


# ---- the merge ----------------------------------------------------------------------------------


def ground_truth(objects: Objects, prefix: str) -> dict[str, str]:
    """The labels under the ground-truth prefix, by eventId (or inferenceId)."""
    labels: dict[str, str] = {}
    for uri in objects.list_objects(prefix.rstrip("/") + "/"):
        for number, line in enumerate(objects.read_object(uri).decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                data = record["groundTruthData"]
                metadata = record["eventMetadata"]
                key = str(metadata.get("inferenceId") or metadata["eventId"])
                label = str(data["data"]).strip()
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise DataError(
                    f"{uri} line {number} is not a ground-truth record "
                    f'({{"groundTruthData": {{"data": ...}}, "eventMetadata": {{"eventId": ...}}}}): {error!r}'
                ) from None
            if key in labels:
                raise DataError(f"{uri} line {number}: a second label for event {key}")
            labels[key] = label
    return labels


def _answer_field(text: str, encoding: str, attribute: str, event: str) -> str:
    """The field `attribute` (a CSV column index, or a JSON key) of one answer."""
    if encoding == "JSON":
        try:
            document = json.loads(text)
        except ValueError as error:
            raise DataError(f"event {event}: the JSON answer is not JSON: {error}") from None
        value = document.get(attribute) if isinstance(document, dict) else None
        if value is None:
            raise DataError(f"event {event}: the JSON answer has no {attribute!r}")
        if isinstance(value, list):
            if len(value) != 1:
                raise DataError(f"event {event}: {len(value)} predictions in one record")
            value = value[0]
        return str(value)
    rows = [row for row in text.strip().splitlines() if row.strip()]
    if len(rows) != 1:
        raise DataError(f"event {event}: {len(rows)} predictions in one record")
    cells = [c.strip() for c in rows[0].split(",")]
    if not attribute.isdigit() or int(attribute) >= len(cells):
        raise DataError(f"event {event}: the CSV answer has no column {attribute!r}")
    return cells[int(attribute)]


@dataclass
class Merged:
    """The predictions paired with their labels."""

    labels: list[str] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    unlabelled: int = 0


def merge(lines: list[str], labels: dict[str, str], endpoint_input: dict[str, Any]) -> Merged:
    """Captured records paired with their labels (a record without one is unlabelled)."""
    inference = endpoint_input.get("InferenceAttribute", "")
    probability = endpoint_input.get("ProbabilityAttribute", "")
    cut = float(endpoint_input.get("ProbabilityThresholdAttribute", 0.5))
    merged = Merged()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise DataError(f"capture record {number} is not JSON: {error}") from None
        metadata = record.get("eventMetadata") or {}
        key = str(metadata.get("inferenceId") or metadata.get("eventId") or "")
        output = (record.get("captureData") or {}).get("endpointOutput")
        if key not in labels:
            merged.unlabelled += 1
            continue
        if not output:
            raise DataError(f"event {key}: no endpointOutput captured (capture Output too)")
        text, encoding = str(output.get("data", "")), str(output.get("encoding", "")).upper()
        if probability:
            value = _numbers([_answer_field(text, encoding, probability, key)], "probability")[0]
            merged.probabilities.append(float(value))
            merged.predictions.append("1" if value >= cut else "0")
        else:
            merged.predictions.append(_answer_field(text, encoding, inference, key))
        merged.labels.append(labels[key])
    return merged


# ---- the metrics --------------------------------------------------------------------------------


def _numbers(values: list[str], what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values])
    except ValueError as error:
        raise DataError(f"a {what} is not a number: {error}") from None


def _classes(values: list[str]) -> np.ndarray:
    """Labels compared as numbers when they are ("1" and "1.0" are one class)."""
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return np.array(values)


def metric_values(problem_type: str, merged: Merged, rows: np.ndarray) -> dict[str, float]:
    """The problem type's metrics over the merged rows `rows` (indices)."""
    from sklearn import metrics as sk

    if problem_type == "Regression":
        truth = _numbers(merged.labels, "label")[rows]
        guess = _numbers(merged.predictions, "prediction")[rows]
        mse = float(sk.mean_squared_error(truth, guess))
        return {
            "mae": float(sk.mean_absolute_error(truth, guess)),
            "mse": mse,
            "rmse": mse**0.5,
            "r2": float(sk.r2_score(truth, guess)),
        }
    truth = _classes(merged.labels)[rows]
    guess = _classes(merged.predictions)[rows]
    if problem_type == "MulticlassClassification":
        weighted = {"average": "weighted", "zero_division": 0}
        return {
            "accuracy": float(sk.accuracy_score(truth, guess)),
            "weighted_precision": float(sk.precision_score(truth, guess, **weighted)),
            "weighted_recall": float(sk.recall_score(truth, guess, **weighted)),
            "weighted_f1": float(sk.f1_score(truth, guess, **weighted)),
        }
    values = {
        "accuracy": float(sk.accuracy_score(truth, guess)),
        "precision": float(sk.precision_score(truth, guess, zero_division=0)),
        "recall": float(sk.recall_score(truth, guess, zero_division=0)),
        "f1": float(sk.f1_score(truth, guess, zero_division=0)),
    }
    if merged.probabilities and len(set(truth.tolist())) == 2:
        values["auc"] = float(sk.roc_auc_score(truth, np.array(merged.probabilities)[rows]))
    return values


def metrics_report(problem_type: str, merged: Merged) -> dict[str, Any]:
    """statistics.json of the execution: each metric's value and its standard deviation."""
    count = len(merged.labels)
    everything = metric_values(problem_type, merged, np.arange(count))
    deviations: dict[str, Any] = {name: "NaN" for name in everything}
    if count >= MIN_SAMPLES_FOR_DEVIATION:
        rng = np.random.default_rng(0)
        samples = [
            metric_values(problem_type, merged, rng.choice(count, int(0.8 * count), replace=False))
            for _ in range(5)
        ]
        deviations = {n: float(np.std([s[n] for s in samples if n in s])) for n in everything}
    section = PROBLEM_TYPES[problem_type][0]
    return {
        "version": 0.0,
        "dataset": {"item_count": count},
        f"{section}_metrics": {
            name: {"value": value, "standard_deviation": deviations[name]}
            for name, value in everything.items()
        },
    }


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


def violations(report: dict[str, Any], constraints: dict[str, Any]) -> list[dict[str, str]]:
    """One violation per constraint whose comparison holds for the execution's value."""
    found = []
    for section, rules in constraints.items():
        if not section.endswith("_constraints"):
            continue
        values = report.get(section.replace("_constraints", "_metrics")) or {}
        for metric, rule in rules.items():
            value = (values.get(metric) or {}).get("value")
            operator, threshold = rule["comparison_operator"], float(rule["threshold"])
            if value is not None and COMPARISONS[operator](value, threshold):
                found.append({
                    "metric_name": metric,
                    "constraint_check_type": operator,
                    "description": f"Metric {metric} with {value:.4g} was {operator} {threshold:g}",
                })  # fmt: skip
    return found


# ---- one execution ------------------------------------------------------------------------------


@dataclass
class QualityRun:
    endpoint_name: str
    schedule_name: str
    records: int  # captured records analysed
    merged: int  # of them with a label
    violations: list[dict[str, str]]
    metrics: dict[str, float]
    alarms: dict[str, str]  # alarm name -> its state after the execution
    violations_uri: str
    statistics_uri: str
    status: str  # Completed | CompletedWithViolations | NoData

    def render(self) -> str:
        lines = [
            f"{self.endpoint_name} ({self.schedule_name}): {self.records} captured record(s), "
            f"{self.merged} with a label: {self.status}"
        ]
        if self.status == "NoData":
            lines.append("  no captured prediction with a label since the last run")
            return "\n".join(lines) + "\n"
        lines.append("  " + ", ".join(f"{n} {v:.4g}" for n, v in self.metrics.items()))
        lines += [f"  {v['metric_name']}: {v['description']}" for v in self.violations]
        lines += [f"  alarm {name}: {value}" for name, value in self.alarms.items()]
        lines.append(f"  violations: {self.violations_uri}")
        lines.append(f"  statistics: {self.statistics_uri}")
        return "\n".join(lines) + "\n"


def _evaluate_alarms(
    alarms: AlarmStore, dimensions: list[dict[str, str]], metrics: dict[str, float]
) -> dict[str, str]:
    """Each alarm on one of the metrics set to ALARM or OK by the execution's value (what
    CloudWatch decides from the published metric; one datapoint, EvaluationPeriods 1)."""
    states = {}
    for metric, value in metrics.items():
        for alarm in alarms.describe_alarms_for_metric(metric, METRICS_NAMESPACE, dimensions):
            operator, threshold = alarm["ComparisonOperator"], float(alarm["Threshold"])
            breached = COMPARISONS[operator](value, threshold)
            state = "ALARM" if breached else "OK"
            alarms.set_alarm_state(
                alarm["AlarmName"],
                state,
                f"{metric} {value:.4g} {operator} {threshold:g}: {breached}",
            )
            states[alarm["AlarmName"]] = state
    return states


def run(
    store: QualityStore,
    objects: Objects,
    alarms: AlarmStore,
    endpoint_name: str,
    everything: bool = False,
    now: dt.datetime | None = None,
) -> QualityRun:
    """One execution of the endpoint's model-quality schedule: merge, metrics, violations,
    alarms; reports under <output>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/ (as the
    data-quality execution, smgha/monitor.py run)."""
    schedule, definition = store.scheduled_definition(endpoint_name, MONITORING_TYPE)
    problem_type = definition["ModelQualityAppSpecification"]["ProblemType"]
    job_input = definition["ModelQualityJobInput"]
    baseline = definition["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    output = definition["ModelQualityJobOutputConfig"]["MonitoringOutputs"][0]["S3Output"]
    constraints = objects.read_json(baseline)
    lines, cursor = store.new_capture_lines(endpoint_name, everything, MONITORING_TYPE)
    labels = ground_truth(objects, job_input["GroundTruthS3Input"]["S3Uri"])
    merged = merge(lines, labels, job_input["EndpointInput"])
    moment = now or dt.datetime.now(dt.timezone.utc)
    folder = f"{output['S3Uri'].rstrip('/')}/{endpoint_name}/{schedule}/{moment:%Y/%m/%d/%H}"
    result = QualityRun(
        endpoint_name, schedule, sum(1 for line in lines if line.strip()), len(merged.labels),
        [], {}, {}, f"{folder}/constraint_violations.json", f"{folder}/statistics.json", "NoData",
    )  # fmt: skip
    if merged.labels:
        report = metrics_report(problem_type, merged)
        section = report[f"{PROBLEM_TYPES[problem_type][0]}_metrics"]
        result.metrics = {name: entry["value"] for name, entry in section.items()}
        result.violations = violations(report, constraints)
        result.status = "CompletedWithViolations" if result.violations else "Completed"
        objects.put_object(result.statistics_uri, json_bytes(report))
        objects.put_object(result.violations_uri, json_bytes({"violations": result.violations}))
        dimensions = metric_dimensions(endpoint_name, schedule)
        result.alarms = _evaluate_alarms(alarms, dimensions, result.metrics)
    written = result.status != "NoData"
    store.record_execution(
        endpoint_name,
        {
            "MonitoringScheduleName": schedule,
            "EndpointName": endpoint_name,
            "MonitoringType": MONITORING_TYPE,
            "ScheduledTime": moment.isoformat(),
            "MonitoringExecutionStatus": result.status if written else "Failed",
            "FailureReason": "" if written else "No captured prediction with a label",
            "ConstraintViolationsUri": result.violations_uri if written else "",
            "StatisticsUri": result.statistics_uri if written else "",
            "Violations": len(result.violations),
        },
        cursor,
        MONITORING_TYPE,
    )
    return result


def upload_ground_truth(
    store: QualityStore,
    objects: Objects,
    endpoint_name: str,
    labels: list[tuple[str, str]],
    now: dt.datetime | None = None,
) -> str:
    """Write (eventId, label) pairs as ground-truth JSON lines under the endpoint's
    GroundTruthS3Input, in the hour folder SageMaker expects (<prefix>/yyyy/mm/dd/hh/, "the
    same path format as captured data", model-monitor-model-quality-merge.html); its URI."""
    _, definition = store.scheduled_definition(endpoint_name, MONITORING_TYPE)
    prefix = definition["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"].rstrip("/")
    moment = now or dt.datetime.now(dt.timezone.utc)
    lines = [
        json.dumps(
            {
                "groundTruthData": {"data": label, "encoding": "CSV"},
                "eventMetadata": {"eventId": event},
                "eventVersion": "0",
            }
        )  # fmt: skip
        for event, label in labels
    ]
    uri = f"{prefix}/{moment:%Y/%m/%d/%H}/labels-{moment:%M%S%f}.jsonl"
    objects.put_object(uri, "".join(line + "\n" for line in lines).encode("utf-8"))
    return uri
