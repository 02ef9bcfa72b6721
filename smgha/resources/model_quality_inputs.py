"""enable-monitor's model-quality inputs and their rules (resources/model_quality.py has
what they set up; resources/monitor_inputs.py the other inputs)."""

from __future__ import annotations

from smgha.errors import InputError, shown
from smgha.inputs import InputSpec, InputValues, choice, decimal_number, s3_prefix, whole_number
from smgha.resources.model_quality import DEFAULT_METRIC, PROBLEM_TYPES, Settings

INPUTS = (
    InputSpec(
        "model-quality",
        "Also monitor model quality: captured predictions merged with ground-truth labels (ground-truth-s3-uri), metrics compared with the evaluation's, an alarm on model-quality-metric.",
        "false",
        is_bool=True,
    ),
    InputSpec(
        "problem-type",
        "Model quality: BinaryClassification, MulticlassClassification or Regression.",
        "BinaryClassification",
    ),
    InputSpec(
        "ground-truth-s3-uri",
        'Model quality: the s3:// prefix the labels are uploaded to, one JSON line per prediction ({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": ...}, "eventVersion": "0"}) under <prefix>/yyyy/mm/dd/hh/.',
    ),
    InputSpec(
        "inference-attribute",
        "Model quality: where the predicted label is in the endpoint's answer (a CSV column index, or a JSON key). Required for Regression and MulticlassClassification.",
    ),
    InputSpec(
        "probability-attribute",
        "Model quality, BinaryClassification: where the probability of class 1 is in the answer (a CSV column index or a JSON key); the label is 1 from probability-threshold.",
    ),
    InputSpec(
        "probability-threshold",
        "Model quality: the probability (0-1) from which a prediction is class 1.",
        "0.5",
    ),
    InputSpec(
        "model-quality-metric",
        "Model quality: the metric alarmed on: accuracy, precision, recall, f1, auc (BinaryClassification); accuracy, weighted_precision, weighted_recall, weighted_f1 (MulticlassClassification); mae, mse, rmse, r2 (Regression). Default: accuracy, or rmse for Regression.",
    ),
    InputSpec(
        "evaluation-uri",
        "Model quality: the build's evaluation.json (ml/evaluate.py; s3:// or a workspace path), in Model Monitor's metrics layout; the metric's value there is the threshold.",
    ),
    InputSpec(
        "model-quality-threshold",
        "Model quality: the metric's threshold, instead of the evaluation's value (e.g. 0.8 for accuracy; rmse: the largest error allowed).",
    ),
    InputSpec(
        "ground-truth-delay-hours",
        "Model quality: hours labels take to arrive after a prediction; each job analyses the predictions of one schedule period that ended this long ago (EndpointInput StartTimeOffset/EndTimeOffset).",
        "24",
    ),
)


def _attribute(values: InputValues, name: str) -> str:
    text = values[name].strip()
    if len(text) > 256:  # botocore: String, the analyzer reads a column index or a key
        raise InputError(name, f"is {len(text)} characters long", "Use a column index or a key.")
    return text


def _attributes(values: InputValues, problem: str, metric: str) -> tuple[str, str]:
    """(inference-attribute, probability-attribute): where the prediction is in the answer."""
    inference = _attribute(values, "inference-attribute")
    probability = _attribute(values, "probability-attribute")
    # Only a binary classifier's label follows from one probability and a threshold; the
    # guide shows probability_attribute with BinaryClassification only
    # (model-monitor-model-quality-schedule.html). Not confirmed that SageMaker refuses it
    # with the others: the stricter reading.
    if probability and problem != "BinaryClassification":
        raise InputError(
            "probability-attribute",
            f"applies to problem-type BinaryClassification only, not {problem}",
            "Set inference-attribute to where the predicted label (or value) is, and leave probability-attribute empty.",
        )
    if not inference and not probability:
        raise InputError(
            "inference-attribute",
            f"is required with model-quality: true and problem-type {problem} (where the prediction is in the answer)",
            "E.g. inference-attribute: 0 for the first CSV column"
            + (", or probability-attribute: 0 for a probability." if problem == "BinaryClassification" else "."),
        )  # fmt: skip
    # AUC ranks predictions by their probability: without one there is nothing to rank (the
    # local run computes auc only from ProbabilityAttribute, model_quality_run.py).
    if metric == "auc" and not probability:
        raise InputError(
            "model-quality-metric",
            "auc needs the predicted probability, and probability-attribute is empty",
            "Set probability-attribute (and probability-threshold), or alarm on accuracy, precision, recall or f1.",
        )
    return inference, probability


def checked_inputs(values: InputValues) -> Settings | None:
    """The model-quality settings (None: model-quality is false), after every rule."""
    if not values.flag("model-quality"):
        return None
    problem = choice("problem-type", values["problem-type"], tuple(PROBLEM_TYPES))
    ground_truth = s3_prefix("ground-truth-s3-uri", values["ground-truth-s3-uri"])
    if not ground_truth:
        raise InputError(
            "ground-truth-s3-uri",
            "is required with model-quality: true (the labels the predictions are compared with)",
            "Set ground-truth-s3-uri to the s3:// prefix the labels are uploaded to, or model-quality: false.",
        )
    metrics = PROBLEM_TYPES[problem][1]
    metric = values["model-quality-metric"].strip() or DEFAULT_METRIC[problem]
    if metric not in metrics:
        raise InputError(
            "model-quality-metric",
            f"{shown(metric)} is not a metric of problem-type {problem}",
            f"With problem-type {problem} use one of {', '.join(metrics)}; or change problem-type.",
        )
    inference, probability = _attributes(values, problem, metric)
    cut = decimal_number(values["probability-threshold"])
    if cut is None or not 0 <= cut <= 1:
        raise InputError(
            "probability-threshold",
            f"{shown(values['probability-threshold'])} is not a probability",
            "A number from 0 to 1, e.g. 0.5.",
        )
    evaluation = values["evaluation-uri"].strip()
    threshold_text = values["model-quality-threshold"].strip()
    threshold = None
    if threshold_text:
        threshold = decimal_number(threshold_text)
        if threshold is None:
            raise InputError(
                "model-quality-threshold", f"{shown(threshold_text)} is not a number", "E.g. 0.8."
            )
    elif not evaluation:
        raise InputError(
            "evaluation-uri",
            "is required with model-quality: true when model-quality-threshold is empty (the baseline the metric is compared with)",
            "Set evaluation-uri to the build's evaluation.json, or model-quality-threshold to a value.",
        )
    delay = whole_number(
        "ground-truth-delay-hours", values["ground-truth-delay-hours"], 0, 24 * 30,
        "Hours (0 to 720) from a prediction until its label is uploaded.",
    )  # fmt: skip
    return Settings(
        problem_type=problem,
        ground_truth_uri=ground_truth,
        inference_attribute=inference,
        probability_attribute=probability,
        probability_threshold=cut,
        metric=metric,
        evaluation_uri="" if threshold is not None else evaluation,
        threshold=threshold,
        delay_hours=delay,
    )
