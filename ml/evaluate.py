"""SageMaker processing step: score the trained model on the held-out test split.

This file runs as `python3 evaluate.py` inside a SageMaker container, so it is a standalone
script (pandas, numpy, scikit-learn; no project module) and every path comes from the command
line, with the container's mount points as defaults. It scores either model the reference
pipelines train: the built-in XGBoost algorithm's `xgboost-model` (ml/pipeline.py, run in the
XGBoost container; xgboost is imported only then) or the scikit-learn model's `model.joblib`
(ml/sklearn_pipeline.py, run in the scikit-learn container, which has no xgboost).

It writes `evaluation.json` in the layout of SageMaker Model Monitor's model-quality report
(`binary_classification_metrics.<metric>.value`), which is what the pipeline's condition
step reads with `JsonGet` and what the model registry shows as model metrics.

Beside it, for the model review (smgha review; docs/review.md, "What your model code
writes"), it writes `predictions.csv` (each test row's label, score and categorical values)
and `model-details.json` (the task, the threshold, a hash of the test rows, the feature
importance). They name features and segments from ml/preprocess.py's `features.txt` and
`segments.csv` in the test folder; without those (older preprocessing code) the features
are f0..fN and there are no segment columns. evaluation.json does not depend on them.

    python3 evaluate.py --model-dir model/ --test-dir test/ --output-dir evaluation/
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import pickle
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

MODEL_ARCHIVE = "model.tar.gz"
# The name under which SageMaker's built-in XGBoost algorithm stores the booster.
MODEL_MEMBER = "xgboost-model"
# The name under which ml/sklearn_model/train.py stores its scikit-learn estimator.
JOBLIB_MEMBER = "model.joblib"
TEST_FILE = "test.csv"
REPORT_FILE = "evaluation.json"
# What ml/preprocess.py writes beside test.csv (each optional here), and what this writes
# beside evaluation.json for the review (the formats: docs/review.md).
SEGMENTS_FILE = "segments.csv"
FEATURES_FILE = "features.txt"
PREDICTIONS_FILE = "predictions.csv"
DETAILS_FILE = "model-details.json"
SEGMENT_PREFIX = "segment:"
DETAILS_SCHEMA = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-dir",
        default="/opt/ml/processing/model",
        help=f"directory holding {MODEL_ARCHIVE} (with a member {MODEL_MEMBER} or {JOBLIB_MEMBER})",
    )
    parser.add_argument(
        "--test-dir",
        default="/opt/ml/processing/test",
        help=f"directory holding {TEST_FILE}: headerless, label in the first column",
    )
    parser.add_argument(
        "--output-dir",
        default="/opt/ml/processing/evaluation",
        help=f"directory to write {REPORT_FILE} to",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="probability at or above which a customer is predicted to churn",
    )
    args = parser.parse_args(argv)
    if not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must be between 0 and 1, got {args.threshold}")
    return args


def fail(message: str) -> NoReturn:
    """Stop with `message` on stderr and exit status 1 (the processing job then fails)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def read_model(archive: Path) -> tuple[str, bytes]:
    """The name and bytes of the model member of `archive` (`xgboost-model` or
    `model.joblib`, at any depth), read without extracting.

    Reading in Python (rather than extracting and handing a path to xgboost) keeps every file
    access in Python, where the local runner can remap container paths; xgboost's native code
    would open the path itself and bypass it.
    """
    if not archive.is_file():
        fail(f"model archive {archive} does not exist")
    with tarfile.open(archive, "r:*") as tar:
        members = [member for member in tar.getmembers() if member.isfile()]
        for wanted in (MODEL_MEMBER, JOBLIB_MEMBER):
            for member in members:
                if Path(member.name).name == wanted:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return wanted, handle.read()
    names = ", ".join(member.name for member in members) or "nothing"
    fail(f"{archive} has no member {MODEL_MEMBER} or {JOBLIB_MEMBER} (it holds {names})")


@dataclass
class Predictor:
    """A loaded model: churn probabilities of feature rows, and its feature importance."""

    predict: Callable[[np.ndarray], np.ndarray]
    # (feature names, in column order) -> ({name: importance}, importance type)
    importance: Callable[[list[str]], tuple[dict[str, float], str]]


def load_predictor(name: str, raw: bytes) -> Predictor:
    """The model member `name` as a Predictor.

    The archive is the output of this pipeline's own training step, so unpickling it trusts
    nothing new.
    """
    if name == JOBLIB_MEMBER:
        import joblib

        estimator = joblib.load(io.BytesIO(raw))
        if not hasattr(estimator, "predict_proba"):
            fail(f"{JOBLIB_MEMBER} holds a {type(estimator).__name__}, which has no predict_proba")
        print(f"model: scikit-learn {type(estimator).__name__}")
        return Predictor(
            lambda features: estimator.predict_proba(features)[:, 1],
            lambda names: sklearn_importance(estimator, names),
        )
    import xgboost

    booster = load_booster(raw)
    return Predictor(
        lambda features: booster.predict(xgboost.DMatrix(features)),
        lambda names: xgboost_importance(booster, names),
    )


def xgboost_importance(booster: Any, names: list[str]) -> tuple[dict[str, float], str]:
    """The booster's gain per feature: the average loss reduction of the splits on it
    (`Booster.get_score(importance_type="gain")`), 0 for a feature no split uses.

    get_score names a feature by the booster's own feature names when it has them, else
    by its column, `f<i>`: the built-in algorithm trains on headerless CSV, so `f<i>`.
    """
    score = booster.get_score(importance_type="gain")
    own = list(booster.feature_names or [])
    keys = own if len(own) == len(names) else [f"f{i}" for i in range(len(names))]
    return {names[i]: float(score.get(keys[i], 0.0)) for i in range(len(names))}, "gain"


def sklearn_importance(estimator: Any, names: list[str]) -> tuple[dict[str, float], str]:
    """A scikit-learn model's own importance: `feature_importances_` (trees: the impurity
    decrease), else the absolute coefficients of a linear model, else none ({}): a
    HistGradientBoostingClassifier, like ml/sklearn_model/train.py's, has neither."""
    values = getattr(estimator, "feature_importances_", None)
    kind = "impurity"
    if values is None and getattr(estimator, "coef_", None) is not None:
        values, kind = np.abs(np.asarray(estimator.coef_)).ravel(), "coefficient"
    if values is None or len(values) != len(names):
        return {}, "none"
    return {names[i]: float(values[i]) for i in range(len(names))}, kind


def load_booster(raw: bytes) -> Any:
    """An xgboost Booster from the bytes of a saved model: xgboost's own format, else a pickle.

    Current containers save with `Booster.save_model` (JSON or UBJSON); older built-in
    containers (0.90, 1.0) pickled the booster instead.
    """
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))
        return booster
    except xgboost.core.XGBoostError as error:
        native_error = error
    try:
        model = pickle.loads(raw)
    except Exception as pickle_error:
        fail(
            f"{MODEL_MEMBER} is neither an xgboost model ({native_error}) "
            f"nor a pickle ({pickle_error})"
        )
    if isinstance(model, xgboost.Booster):
        print("model: pickled booster (older container format)")
        return model
    if hasattr(model, "get_booster"):  # a pickled scikit-learn wrapper such as XGBClassifier
        print(f"model: pickled {type(model).__name__}")
        return model.get_booster()
    fail(f"{MODEL_MEMBER} unpickles to a {type(model).__name__}, not an xgboost model")


def read_test(test_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0/1 ints) and features of the headerless, label-first test CSV."""
    path = test_dir / TEST_FILE
    if not path.is_file():
        fail(f"test data {path} does not exist")
    with open(path) as handle:
        frame = pd.read_csv(handle, header=None)
    if frame.shape[1] < 2 or frame.empty:
        fail(f"{path} must have a label column and at least one feature, and some rows")
    labels = frame.iloc[:, 0].to_numpy()
    if not np.isin(labels, [0, 1]).all():
        fail(f"the first column of {path} must be a 0/1 label")
    features = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    return labels.astype(int), features


def check_probabilities(probabilities: np.ndarray) -> None:
    """One probability per test row, or one clear failure (a NaN would otherwise end in a
    traceback from scikit-learn's metrics)."""
    if probabilities.ndim != 1:
        fail("the model does not predict one probability per row (XGBoost: binary:logistic)")
    not_finite = ~np.isfinite(probabilities)
    if not_finite.any():
        first = int(np.flatnonzero(not_finite)[0]) + 1
        fail(
            f"the model's score is not a number (NaN or infinite) for {int(not_finite.sum())} "
            f"of {len(probabilities)} test rows, the first being row {first}: the model is "
            "broken (e.g. training diverged); check the training data and hyperparameters"
        )
    if probabilities.min() < 0.0 or probabilities.max() > 1.0:
        fail("the model does not predict probabilities (XGBoost: train it with binary:logistic)")


def metric(value: float | None) -> dict[str, Any]:
    """One metric in Model Monitor's layout; an undefined value becomes JSON null."""
    return {"value": None if value is None else round(float(value), 6), "standard_deviation": "NaN"}


def evaluate(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    """The model-quality report for binary predictions cut at `threshold`."""
    predictions = (probabilities >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predictions, labels=[0, 1]).ravel()
    if len(np.unique(labels)) < 2:
        # ROC AUC needs both classes. "NaN" would not parse as a number everywhere, so null.
        print(f"auc: undefined, the test labels hold only class {labels[0]}: writing null")
        auc = None
    else:
        auc = roc_auc_score(labels, probabilities)
    return {
        "binary_classification_metrics": {
            "accuracy": metric(accuracy_score(labels, predictions)),
            "precision": metric(precision_score(labels, predictions, zero_division=0)),
            "recall": metric(recall_score(labels, predictions, zero_division=0)),
            "f1": metric(f1_score(labels, predictions, zero_division=0)),
            "auc": metric(auc),
            "confusion_matrix": {
                "0": {"0": int(tn), "1": int(fp)},
                "1": {"0": int(fn), "1": int(tp)},
            },
        }
    }


def read_features(test_dir: Path, count: int) -> list[str]:
    """The names of the `count` feature columns: features.txt, one per line, else f0..fN."""
    path = test_dir / FEATURES_FILE
    if not path.is_file():
        print(f"no {FEATURES_FILE} in {test_dir}: the features are named f0..f{count - 1}")
        return [f"f{i}" for i in range(count)]
    with open(path, encoding="utf-8") as handle:
        names = handle.read().splitlines()
    if len(names) != count:
        fail(
            f"{path} names {len(names)} features and {TEST_FILE} has {count}: both must come "
            "from the same preprocessing run (rerun it, or remove the stale file)"
        )
    return names


def read_segments(test_dir: Path, rows: int) -> pd.DataFrame:
    """segments.csv as strings, one row per test row; no columns when there is none."""
    path = test_dir / SEGMENTS_FILE
    if not path.is_file():
        print(f"no {SEGMENTS_FILE} in {test_dir}: predictions without segments")
        return pd.DataFrame(index=range(rows))
    # Every value is a category's text: no value is parsed as a number or as missing.
    with open(path, encoding="utf-8", newline="") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    if len(frame) != rows:
        fail(
            f"{path} has {len(frame)} rows and {TEST_FILE} has {rows}: both must come from "
            "the same preprocessing run (rerun it, or remove the stale file)"
        )
    return frame


def write_predictions(
    path: Path, labels: np.ndarray, probabilities: np.ndarray, segments: pd.DataFrame
) -> None:
    """predictions.csv: label, score, then one `segment:<feature>` column per segment.

    A score is written as the shortest text that reads back as the same number in the
    model's own precision, so metrics recomputed from the file equal this script's.
    """
    columns = list(segments.columns)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["label", "score", *(SEGMENT_PREFIX + column for column in columns)])
        values = segments.to_numpy(dtype=object)
        for row in range(len(labels)):
            score = np.format_float_positional(probabilities[row], unique=True, trim="-")
            writer.writerow([int(labels[row]), score, *values[row]])


def write_details(
    path: Path, test_dir: Path, threshold: float, importance: tuple[dict[str, float], str]
) -> None:
    """model-details.json: what the review needs to know about the model beyond its metrics."""
    with open(test_dir / TEST_FILE, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    values, kind = importance
    details = {
        "schema": DETAILS_SCHEMA,
        "task": "binary_classification",
        "threshold": threshold,
        "test_rows_sha256": digest,
        "feature_importance": values,
        "importance_type": kind,
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(details, handle, indent=2, allow_nan=False)
        handle.write("\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    predictor = load_predictor(*read_model(Path(args.model_dir) / MODEL_ARCHIVE))
    test_dir = Path(args.test_dir)
    labels, features = read_test(test_dir)
    names = read_features(test_dir, features.shape[1])
    segments = read_segments(test_dir, len(labels))

    probabilities = np.asarray(predictor.predict(features))
    check_probabilities(probabilities)

    report = evaluate(labels, probabilities, args.threshold)
    metrics = report["binary_classification_metrics"]
    print(f"test rows: {len(labels)}, churn rate {labels.mean():.3f}, threshold {args.threshold}")
    for name in ("accuracy", "precision", "recall", "f1", "auc"):
        print(f"{name}: {metrics[name]['value']}")
    matrix = metrics["confusion_matrix"]
    print(
        f"confusion matrix: tn={matrix['0']['0']} fp={matrix['0']['1']} "
        f"fn={matrix['1']['0']} tp={matrix['1']['1']}"
    )

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / REPORT_FILE
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2, allow_nan=False)
        handle.write("\n")
    print(f"wrote {path}")

    write_predictions(output_dir / PREDICTIONS_FILE, labels, probabilities, segments)
    write_details(output_dir / DETAILS_FILE, test_dir, args.threshold, predictor.importance(names))
    print(f"wrote {PREDICTIONS_FILE} and {DETAILS_FILE} beside it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
