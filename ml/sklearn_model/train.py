"""SageMaker training script: the churn model as a scikit-learn gradient-boosted classifier.

It runs in script mode: SageMaker starts the scikit-learn framework container, unpacks this
folder (ml/sklearn_model/) and runs `python train.py --max_iter 200 --learning_rate 0.1 ...`,
one `--name value` pair per hyperparameter. Everything else comes from the training toolkit's
environment variables (sagemaker-training-toolkit `src/sagemaker_training/environment.py`):

    SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION   the channels' folders (headerless CSV, label first,
                                              as ml/preprocess.py writes them)
    SM_MODEL_DIR                              /opt/ml/model, packed into model.tar.gz at the end

It writes `model.joblib` and copies inference.py into the model's `code/` folder, so the model
archive serves itself: the registered model sets SAGEMAKER_PROGRAM=inference.py and
SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code (ml/sklearn_pipeline.py), and no repack job is
needed. It prints `train:auc=...` and `validation:auc=...` lines, which the pipeline's
MetricDefinitions turn into the training job's metrics.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

MODEL_FILE = "model.joblib"
INFERENCE_SCRIPT = "inference.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Hyperparameters: the toolkit passes each as --name value.
    parser.add_argument("--max_iter", type=int, default=200, help="boosting iterations")
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--max_depth", type=int, default=4, help="depth of each tree")
    parser.add_argument("--l2_regularization", type=float, default=0.0)
    parser.add_argument("--random_state", type=int, default=0)
    # Folders: the toolkit's variables, with the container's paths as defaults.
    parser.add_argument(
        "--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    )
    parser.add_argument(
        "--validation",
        default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"),
    )
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    return parser.parse_args(argv)


def read_split(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and features of the headerless, label-first CSV files in a channel's folder."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise SystemExit(f"error: the {name} channel ({folder}) holds no .csv file")
    frame = pd.concat([pd.read_csv(path, header=None) for path in files], ignore_index=True)
    return frame.iloc[:, 0].to_numpy(dtype=int), frame.iloc[:, 1:].to_numpy(dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    train_labels, train_features = read_split(args.train, "train")
    validation_labels, validation_features = read_split(args.validation, "validation")
    model = HistGradientBoostingClassifier(
        max_iter=args.max_iter,
        learning_rate=args.learning_rate,
        max_depth=args.max_depth,
        l2_regularization=args.l2_regularization,
        early_stopping=False,  # the same number of trees on every run: reproducible
        random_state=args.random_state,
    )
    model.fit(train_features, train_labels)
    for name, labels, features in (
        ("train", train_labels, train_features),
        ("validation", validation_labels, validation_features),
    ):
        probabilities = model.predict_proba(features)[:, 1]
        print(f"{name}:auc={roc_auc_score(labels, probabilities):.6f}")
        print(f"{name}:accuracy={accuracy_score(labels, probabilities >= 0.5):.6f}")

    model_dir = Path(args.model_dir)
    joblib.dump(model, model_dir / MODEL_FILE)
    code = model_dir / "code"
    code.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).with_name(INFERENCE_SCRIPT), code / INFERENCE_SCRIPT)
    print(f"wrote {model_dir / MODEL_FILE} and {code / INFERENCE_SCRIPT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
