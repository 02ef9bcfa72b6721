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

    python3 evaluate.py --model-dir model/ --test-dir test/ --output-dir evaluation/
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
import tarfile
from collections.abc import Callable
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


def load_predictor(name: str, raw: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A function from feature rows to churn probabilities, for the model member `name`.

    The archive is the output of this pipeline's own training step, so unpickling it trusts
    nothing new.
    """
    if name == JOBLIB_MEMBER:
        import joblib

        estimator = joblib.load(io.BytesIO(raw))
        if not hasattr(estimator, "predict_proba"):
            fail(f"{JOBLIB_MEMBER} holds a {type(estimator).__name__}, which has no predict_proba")
        print(f"model: scikit-learn {type(estimator).__name__}")
        return lambda features: estimator.predict_proba(features)[:, 1]
    import xgboost

    booster = load_booster(raw)
    return lambda features: booster.predict(xgboost.DMatrix(features))


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    predict = load_predictor(*read_model(Path(args.model_dir) / MODEL_ARCHIVE))
    labels, features = read_test(Path(args.test_dir))

    probabilities = np.asarray(predict(features))
    if probabilities.ndim != 1 or probabilities.min() < 0.0 or probabilities.max() > 1.0:
        fail("the model does not predict probabilities (XGBoost: train it with binary:logistic)")

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
