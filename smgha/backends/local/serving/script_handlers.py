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

* The PyTorch inference container (aws/sagemaker-pytorch-inference-toolkit v2.0.25, f7dd61e,
  `default_pytorch_inference_handler.py`, on aws/sagemaker-inference-toolkit v1.10.1,
  d05801f): `default_model_fn` loads model.pt as TorchScript; `default_input_fn` is the
  toolkit's `decoder.decode` made a FloatTensor (text types) or `torch.from_numpy`;
  `default_predict_fn` calls the model in eval mode under `torch.no_grad()`;
  `default_output_fn` makes a tensor a list and encodes it with the toolkit's `encoder` to
  the first supported type in the Accept list, returning the body alone, which the toolkit
  (`transformer.py` `transform`) sends with the Accept as its content type. The toolkit's
  UnsupportedFormatError is a plain exception there, answered with 500 (not 415/406).
  `decoder.py`: CSV through `np.genfromtxt(delimiter=",")` (no squeeze), JSON through
  `np.array(json.loads(...))`; `encoder.py`: CSV through `np.savetxt(fmt="%s")`.
  torch is imported only in the worker, and only when a PyTorch model is served.

Images are recognised by images.py; the local endpoint serves no other.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from smgha.backends.local.serving.images import PYTORCH, SKLEARN, XGBOOST

JSON, CSV, NPY = "application/json", "text/csv", "application/x-npy"
UTF8_TYPES = (JSON, CSV)
# default_pytorch_inference_handler.py DEFAULT_MODEL_FILENAME.
PYTORCH_MODEL_FILE = "model.pt"


class UnsupportedFormatError(Exception):
    """sagemaker_containers._errors.UnsupportedFormatError: a content type no encoder handles."""


class ToolkitFormatError(Exception):
    """sagemaker_inference.errors.UnsupportedFormatError: the inference toolkit answers it 500."""


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


def _toolkit_decode(body: Any, content_type: str) -> Any:
    """sagemaker_inference/decoder.py `decode` (the body arrives decoded for text types).
    NPY is read without pickles and NPZ (sparse) not at all: stricter than the toolkit."""
    if content_type == JSON:
        return np.array(json.loads(body))
    if content_type == CSV:
        return np.genfromtxt(io.StringIO(body), delimiter=",")
    if content_type == NPY:
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise ToolkitFormatError(f"Content type {content_type} is not supported by this framework.")


def _toolkit_encode(prediction: Any, content_type: str) -> bytes | str:
    """sagemaker_inference/encoder.py `encode`, for a content type it supports."""
    if content_type == JSON:
        return json.dumps(prediction, default=lambda o: o.tolist())
    if content_type == CSV:
        stream = io.StringIO()
        np.savetxt(stream, prediction, delimiter=",", fmt="%s")
        return stream.getvalue()
    buffer = io.BytesIO()
    np.save(buffer, prediction)
    return buffer.getvalue()


def _pytorch_device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _pytorch_model_fn(model_dir: str) -> Any:
    """default_model_fn without Elastic Inference: model.pt as TorchScript. Its fallback (the
    one .pt or .pth file) tests the file names against its working directory, not model_dir,
    so what it finds in the container is unknown: not relied on here (the stricter reading)."""
    import torch

    path = os.path.join(model_dir, PYTORCH_MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"the PyTorch container's default model_fn loads {PYTORCH_MODEL_FILE} (TorchScript) "
            f"and model.tar.gz has none: save the model as {PYTORCH_MODEL_FILE} with "
            "torch.jit.save, or define model_fn(model_dir) in the inference script"
        )
    return torch.jit.load(path, map_location=_pytorch_device()).to(_pytorch_device())


def _pytorch_input_fn(body: Any, content_type: str) -> Any:
    import torch

    array = _toolkit_decode(body, content_type)
    tensor = torch.FloatTensor(array) if content_type in UTF8_TYPES else torch.from_numpy(array)
    return tensor.to(_pytorch_device())


def _pytorch_predict_fn(data: Any, model: Any) -> Any:
    import torch

    with torch.no_grad():
        model = model.to(_pytorch_device())
        model.eval()
        return model(data.to(_pytorch_device()))


def _pytorch_output_fn(prediction: Any, accept: str) -> bytes | str:
    import torch

    if type(prediction) is torch.Tensor:
        prediction = prediction.detach().cpu().numpy().tolist()
    for content_type in accept.replace(" ", "").split(","):  # sagemaker_inference/utils.py
        if content_type in (JSON, CSV, NPY):
            encoded = _toolkit_encode(prediction, content_type)
            return encoded.encode("utf-8") if isinstance(encoded, str) else encoded
    raise ToolkitFormatError(f"Content type {accept} is not supported by this framework.")


# The handlers each framework's container uses where the script defines none; None where the
# container has no usable default (the script must define it).
DEFAULTS: dict[str, dict[str, Callable[..., Any] | None]] = {
    PYTORCH: {
        "model_fn": _pytorch_model_fn,
        "input_fn": _pytorch_input_fn,
        "predict_fn": _pytorch_predict_fn,
        "output_fn": _pytorch_output_fn,
    },
    SKLEARN: {
        "model_fn": None,
        "input_fn": _sklearn_input_fn,
        "predict_fn": _sklearn_predict_fn,
        "output_fn": _output_fn,
    },
    XGBOOST: {
        "model_fn": None,
        "input_fn": _xgboost_input_fn,
        "predict_fn": _xgboost_predict_fn,
        "output_fn": _output_fn,
    },
}


def defaults(framework: str) -> dict[str, Callable[..., Any] | None]:
    """DEFAULTS of `framework`'s container."""
    if framework not in DEFAULTS:
        raise ValueError(f"no framework container {framework!r} (images.py names those served)")
    return DEFAULTS[framework]
