"""The built-in algorithm's prediction: xgboost's inplace prediction of a dense matrix,
called without the Python wrapper's per-call work.

`Booster.inplace_predict` (xgboost 3.2.0, python-package/xgboost/core.py) checks its input
against pandas, polars, arrow, cuDF and scipy types, builds the call's JSON configuration and
the array's `__array_interface__`, calls the C function `XGBoosterPredictFromDense`
(include/xgboost/c_api.h) and wraps the result through two more array interfaces. On the
bench's model (100 trees of depth 5, one row) the wrapper costs as much as the prediction
itself, or more (bench/endpoint_throughput.py measures both). `DensePredictor` makes the same C call with
the same arguments, the configuration built once, so the scores are the same float32 values
(tests/test_endpoint_answers.py pins them against `inplace_predict`).

Anything but a C-contiguous float32 matrix of the model's width, and any call the C function
refuses, goes through `Booster.inplace_predict` itself, so every error (and its message, which
the endpoint answers with a 400) is xgboost's own.
"""

from __future__ import annotations

import ctypes
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from xgboost import Booster

# What Booster.inplace_predict passes for predict_type="value" and its defaults (make_jcargs
# in xgboost 3.2.0's core.py): all trees, NaN is missing, no strict shape, no cache.
PREDICT_CONFIG = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


# numpy's __array_interface__ of a writable, C-contiguous float32 matrix, as xgboost passes it
# (json.dumps(array.__array_interface__)), with the address and the shape to fill in.
ARRAY_INTERFACE = (
    b'{"data": [%d, false], "strides": null, "descr": [["", "<f4"]], "typestr": "<f4", '
    b'"shape": [%d, %d], "version": 3}'
)


class DensePredictor:
    """`booster.inplace_predict(rows)` for float32 rows, by the C function it calls.

    Thread-safe without a lock: "Calling only inplace_predict in multiple threads is safe and
    lock free" (the method's docstring, xgboost 3.2.0), and the result buffer the C function
    returns is per thread (XGBAPIThreadLocalEntry in src/c_api/c_api.cc); it is copied before
    the thread's next call. The server sets the booster's parameters before it serves.
    """

    def __init__(self, booster: Booster) -> None:
        # The booster's module is loaded by now (model._xgboost imports it without sklearn).
        from xgboost.core import _LIB  # the ctypes.CDLL of the package's libxgboost.so

        self.booster = booster
        self.features = booster.num_features()
        # A CDLL call releases the GIL, so other requests proceed while one predicts.
        self._predict = _LIB.XGBoosterPredictFromDense
        self._handle = booster.handle

    def __call__(self, rows: npt.NDArray[np.float32]) -> list[Any]:
        """The predictions as `booster.inplace_predict(rows).tolist()` gives them."""
        if (
            rows.dtype != np.float32
            or rows.ndim != 2
            or rows.shape[1] != self.features
            or not rows.flags.c_contiguous
        ):
            return list(self.booster.inplace_predict(rows).tolist())
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dims = ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        status = self._predict(
            self._handle,
            ARRAY_INTERFACE % (rows.ctypes.data, rows.shape[0], rows.shape[1]),
            PREDICT_CONFIG,
            None,  # no proxy DMatrix: no base margin
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(result),
        )
        if status != 0:
            return list(self.booster.inplace_predict(rows).tolist())  # xgboost's own error
        if dims.value == 1:  # a score per row: a float32 read as a Python float, as tolist()
            return result[: shape[0]]
        sizes = tuple(shape[i] for i in range(dims.value))
        copied = ctypes.string_at(result, 4 * math.prod(sizes))  # 4 bytes a float32
        return list(np.frombuffer(copied, dtype=np.float32).reshape(sizes).tolist())
