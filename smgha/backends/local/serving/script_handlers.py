"""The framework containers' default inference handlers, for a script that omits one.

Runs inside the worker process (worker.py), never in the HTTP server. Sources, read at:
aws/sagemaker-containers v2.8.6.post2 (the version aws/sagemaker-scikit-learn-container's
requirements.txt pins), aws/sagemaker-scikit-learn-container eae7b6b and
aws/sagemaker-xgboost-container cb8df91:

* `sagemaker_containers/_transformer.py` `default_model_fn` and `default_predict_fn` raise
  NotImplementedError ("Please provide a model_fn implementation."); `default_input_fn` is
  `_encoders.decode`, `default_output_fn` `_encoders.encode`.
* `sagemaker_sklearn_container/serving.py`: `default_model_fn` is the toolkit's (raises),
  `default_input_fn` decodes and casts text payloads to float32, `default_predict_fn` is
  `model.predict(input_data)`, `default_output_fn` encodes to the Accept type.
* `sagemaker_xgboost_container/serving.py`: the same `default_model_fn` (raises),
  `default_input_fn` is `encoder.decode` (a DMatrix; text/csv, libsvm and recordio-protobuf,
  no JSON), `default_predict_fn` is `model.predict(input_data, validate_features=False)`,
  `default_output_fn` the toolkit's `encoders.encode`.
* `sagemaker_containers/_encoders.py` `decode`/`encode`: the content type must be exactly
  application/json, text/csv or application/x-npy (a `; charset` parameter is not stripped),
  else UnsupportedFormatError (415 from input_fn, 406 from output_fn, `_transformer.py`
  `_default_transform_fn`). `csv_to_numpy` squeezes the rows (one CSV row becomes a 1-D
  array, which scikit-learn's predict refuses); `array_to_csv` writes one value per line for
  a 1-D array.

A container image that is neither is served with the generic toolkit's defaults, which need
model_fn and predict_fn (aws/sagemaker-inference-toolkit `default_inference_handler.py`
`DefaultInferenceHandler.default_predict_fn` raises NotImplementedError); which framework's
defaults another image adds could not be confirmed here, so none are assumed (the stricter
reading).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

JSON, CSV, NPY = "application/json", "text/csv", "application/x-npy"
UTF8_TYPES = (JSON, CSV)

SKLEARN, XGBOOST, GENERIC = "scikit-learn", "xgboost", "generic"
# What names the framework in an image URI (the ECR repositories of the framework images).
FRAMEWORK_REPOSITORIES = {"sagemaker-scikit-learn": SKLEARN, "sagemaker-xgboost": XGBOOST}


class UnsupportedFormatError(Exception):
    """sagemaker_containers._errors.UnsupportedFormatError: a content type no encoder handles."""


def framework_of(image: str) -> str:
    """The framework whose container serves `image` (GENERIC when the image names none)."""
    repository = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return FRAMEWORK_REPOSITORIES.get(repository, GENERIC)


def decode(body: Any, content_type: str) -> Any:
    """sagemaker_containers._encoders.decode."""
    text = body.decode("utf-8") if isinstance(body, bytes) and content_type in UTF8_TYPES else body
    if content_type == JSON:
        return np.array(json.loads(text))
    if content_type == CSV:
        reader = csv.reader(io.StringIO(text), delimiter=",", quotechar='"', strict=True)
        return np.array(list(reader)).squeeze()
    if content_type == NPY:
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise UnsupportedFormatError(content_type)


def encode(prediction: Any, accept: str) -> bytes | str:
    """sagemaker_containers._encoders.encode."""
    if accept == JSON:
        return json.dumps(prediction, default=lambda o: o.tolist() if hasattr(o, "tolist") else o)
    if accept == CSV:
        array = np.array(prediction)
        if array.ndim == 1:
            array = array.reshape(array.shape[0], 1)
        stream = io.StringIO()
        csv.writer(stream, lineterminator="\n").writerows(array)
        return stream.getvalue()
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(prediction))
        return buffer.getvalue()
    raise UnsupportedFormatError(accept)


def _sklearn_input_fn(body: Any, content_type: str) -> Any:
    array = decode(body, content_type)
    return array.astype(np.float32) if content_type in UTF8_TYPES else array


def _sklearn_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def _xgboost_input_fn(body: Any, content_type: str) -> Any:
    """sagemaker_xgboost_container/encoder.py decode: the media type (parameters dropped)
    picks the decoder; only text/csv is decoded here. libsvm and recordio-protobuf are refused
    with 415 (the container would decode them: a local limitation, said in the message)."""
    media = content_type.split(";", 1)[0].strip()
    if media != CSV:
        raise UnsupportedFormatError(
            f"{media} (the local endpoint decodes text/csv only for the XGBoost container)"
            if media in ("text/libsvm", "text/x-libsvm", "application/x-recordio-protobuf")
            else media
        )
    import xgboost

    text = body.decode("utf-8") if isinstance(body, bytes) else body
    rows = [[float(v) if v.strip() else np.nan for v in line.split(",")] for line in text.split()]
    return xgboost.DMatrix(np.array(rows, dtype=np.float32))


def _xgboost_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data, validate_features=False)


def _output_fn(prediction: Any, accept: str) -> tuple[bytes | str, str]:
    return encode(prediction, accept), accept


def defaults(framework: str) -> dict[str, Callable[..., Any] | None]:
    """The handlers the framework's container uses where the script defines none; None where
    the container has no usable default (the script must define it)."""
    if framework == SKLEARN:
        return {
            "model_fn": None,
            "input_fn": _sklearn_input_fn,
            "predict_fn": _sklearn_predict_fn,
            "output_fn": _output_fn,
        }
    if framework == XGBOOST:
        return {
            "model_fn": None,
            "input_fn": _xgboost_input_fn,
            "predict_fn": _xgboost_predict_fn,
            "output_fn": _output_fn,
        }
    return {"model_fn": None, "input_fn": decode, "predict_fn": None, "output_fn": _output_fn}
