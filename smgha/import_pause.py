"""Importing the heavy libraries (pandas, scikit-learn, xgboost, the SageMaker SDK) with
Python's cyclic garbage collector paused.

Those imports allocate hundreds of thousands of objects that live until the process exits
(modules, classes, pydantic models), and every collection of the oldest generation during the
import walks all of them again. Paused, the import skips those walks; afterwards the objects
are frozen (gc.freeze: moved to a generation no collection visits), so later collections skip
them too, and in a child forked from the process (the warm worker's steps) a collection does
not write to their pages, which stay shared with the parent. Measured in bench/local_build.py
(the "before the execution starts" and warm-worker import lines).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the collector off; then freeze what exists and turn it back on (if
    it was on). Garbage cycles made meanwhile are frozen too: an import makes few."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
