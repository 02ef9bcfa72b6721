"""SageMaker training script: the churn model as a scikit-learn gradient-boosted classifier.

It runs in script mode: SageMaker starts the scikit-learn framework container, unpacks this
folder (ml/sklearn_model/) and runs `python train.py --max_iter 200 --learning_rate 0.1 ...`,
one `--name value` pair per hyperparameter. Everything else comes from the training toolkit's
environment variables (sagemaker-training-toolkit `src/sagemaker_training/environment.py`):

    SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION   the channels' folders (headerless CSV, label first,
                                              as ml/preprocess.py writes them)
    SM_MODEL_DIR                              /opt/ml/model, packed into model.tar.gz at the end

With managed spot training (ml.sklearn_pipeline:get_spot_pipeline, get_spot_tuning_pipeline)
it checkpoints: see CHECKPOINT_DIR.

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

# Checkpoints, for managed spot training. SageMaker restores CheckpointConfig.S3Uri into
# /opt/ml/checkpoints (CheckpointConfig.LocalPath's default) when a job starts or resumes after
# an interruption, and copies what the job writes there back to S3Uri (SageMaker Developer
# Guide, "Checkpoints in Amazon SageMaker AI", model-checkpoints.html). The model is written
# there every CHECKPOINT_EVERY boosting iterations, in a folder named after the training job
# (TRAINING_JOB_NAME, set by SageMaker in the training container: the SDK's own driver reads it,
# sagemaker-train 1.27, container_drivers/scripts/environment.py, "job_name"; so does
# sagemaker-training-toolkit's environment.py). The name keeps jobs apart when they share an
# S3Uri: a tuning job's trials all get its one TrainingJobDefinition's CheckpointConfig, and
# whether SageMaker gives each trial a location of its own is not documented, so a trial must
# never resume from another's model. An interrupted job resumes under its own name.
CHECKPOINT_DIR = "/opt/ml/checkpoints"
CHECKPOINT_EVERY = 50


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
    # Outside a training job (no TRAINING_JOB_NAME) nothing is checkpointed.
    job_name = os.environ.get("TRAINING_JOB_NAME")
    parser.add_argument(
        "--checkpoint-dir",
        default=f"{CHECKPOINT_DIR}/{job_name}" if job_name else None,
        help="this job's checkpoint folder (none: no checkpoints)",
    )
    return parser.parse_args(argv)


def read_split(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and features of the headerless, label-first CSV files in a channel's folder."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise SystemExit(f"error: the {name} channel ({folder}) holds no .csv file")
    frame = pd.concat([pd.read_csv(path, header=None) for path in files], ignore_index=True)
    return frame.iloc[:, 0].to_numpy(dtype=int), frame.iloc[:, 1:].to_numpy(dtype=np.float32)


def fit(
    model: HistGradientBoostingClassifier,
    features: np.ndarray,
    labels: np.ndarray,
    checkpoint_dir: str | None,
) -> HistGradientBoostingClassifier:
    """The fitted model; with a checkpoint folder, trained CHECKPOINT_EVERY iterations at a
    time (warm start), each step saved there, starting from the model saved there if it was
    trained with the same hyperparameters (a job resumed after an interruption)."""
    if checkpoint_dir is None:
        return model.fit(features, labels)
    folder = Path(checkpoint_dir)
    saved = folder / MODEL_FILE
    target = model.max_iter
    resumed = joblib.load(saved) if saved.is_file() else None
    if _resumable(resumed, model):
        model = resumed
        print(f"checkpoint: resumed from {saved} after {model.n_iter_} iterations")
    done = model.n_iter_ if hasattr(model, "n_iter_") else 0
    model.set_params(warm_start=True)
    while done < target:
        done = min(target, done + CHECKPOINT_EVERY)
        model.set_params(max_iter=done).fit(features, labels)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, folder / "model.joblib.partial")
        os.replace(folder / "model.joblib.partial", saved)  # never half a checkpoint
    return model.set_params(warm_start=False)


def _resumable(saved: object, model: HistGradientBoostingClassifier) -> bool:
    """Whether a saved model is this job's, part-trained: the same hyperparameters (the number
    of iterations and the warm start aside) and no more iterations than the job asks for."""
    if not isinstance(saved, HistGradientBoostingClassifier):
        return False
    ignored = ("max_iter", "warm_start")
    mine = {k: v for k, v in model.get_params().items() if k not in ignored}
    theirs = {k: v for k, v in saved.get_params().items() if k not in ignored}
    return mine == theirs and saved.n_iter_ <= model.max_iter


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
    model = fit(model, train_features, train_labels, args.checkpoint_dir)
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
