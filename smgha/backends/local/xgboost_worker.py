"""One instance of a distributed built-in XGBoost training job (distributed_xgboost.py).

Usage: python -m smgha.backends.local.xgboost_worker <worker.json>

It joins the job's xgboost collective (when the job has more than one worker), reads its
own share of the channels, trains, and, on the master alone, saves the booster and the
final evaluation metrics, as the container's train_job does with is_master.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from smgha.backends.local import state, xgboost_algorithm


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    try:
        train(config)
    except BaseException as error:  # noqa: BLE001 - any failure ends this worker
        # Leaving the collective normally would wait for the other workers, which wait for
        # this one: record why, print the traceback and leave at once; the job runner then
        # stops the others and reports the earliest failure (the cause, not its echoes).
        traceback.print_exc()
        reason = f"{type(error).__name__}: {error}".strip()
        failure = {"time": time.time(), "reason": reason[-2000:]}
        state.write_json_atomic(Path(config["failure"]), failure)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def train(config: dict[str, Any]) -> None:
    # xgboost imports scikit-learn only to base its scikit-learn style estimators on it
    # (xgboost/compat.py, 3.2.0); this worker calls xgboost.train alone. Marking the module
    # absent halves the worker's start-up (2.3 s instead of 4.9 s measured on 2 busy CPUs).
    if "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]
    import xgboost
    from xgboost import collective

    communicator = (
        collective.CommunicatorContext(**config["communicator"])
        if config["communicator"]
        else contextlib.nullcontext()
    )
    # The data is read before joining, as the container reads it before rabit_run: a plain
    # DMatrix sketches its histogram bins inside xgboost.train, that is in the collective.
    dtrain = xgboost_algorithm.csv_dmatrix(Path(config["channels"]["train"]), xgboost)
    evals = [(dtrain, "train")]
    if "validation" in config["channels"]:
        evals.append(
            (
                xgboost_algorithm.csv_dmatrix(Path(config["channels"]["validation"]), xgboost),
                "validation",
            )
        )
    print(f"{config['host']}: {dtrain.num_row()} training rows", flush=True)
    history: dict[str, dict[str, list[float]]] = {}
    with communicator:
        booster = xgboost.train(
            config["params"],
            dtrain,
            num_boost_round=config["rounds"],
            evals=evals,
            evals_result=history,
            early_stopping_rounds=config["early_stop"],
            verbose_eval=False,
        )
    if not config["is_master"]:
        return
    for line in xgboost_algorithm.metric_lines(history):
        print(line, flush=True)
    state.write_bytes_atomic(Path(config["model"]), bytes(booster.save_raw(raw_format="ubj")))
    result = {"FinalMetricDataList": xgboost_algorithm.final_metric_list(history)}
    state.write_json_atomic(Path(config["result"]), result)


if __name__ == "__main__":
    main(sys.argv[1])
