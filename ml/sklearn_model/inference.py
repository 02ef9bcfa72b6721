"""SageMaker inference script for the scikit-learn churn model (ml/sklearn_model/train.py).

The scikit-learn serving container imports this module (SAGEMAKER_PROGRAM=inference.py, from
SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, where train.py put it) and calls its handlers
(sagemaker-scikit-learn-container `src/sagemaker_sklearn_container/serving.py`):

    model_fn(model_dir)            here: load model.joblib
    input_fn(body, content_type)   the container's default: CSV rows to a float array
    predict_fn(data, model)        here: the churn probability of each row
    output_fn(prediction, accept)  the container's default: one value per CSV line

So a request and its answer look like the built-in XGBoost container's: a headerless CSV row of
features in, a probability out.
"""

from __future__ import annotations

import os

import joblib
import numpy as np

MODEL_FILE = "model.joblib"


def model_fn(model_dir: str):
    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def predict_fn(data, model) -> np.ndarray:
    features = np.asarray(data, dtype=np.float32)
    if features.ndim == 1:  # one row
        features = features.reshape(1, -1)
    return model.predict_proba(features)[:, 1]
