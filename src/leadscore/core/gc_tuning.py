"""The cyclic garbage collector's settings for a serving process (``leadscore serve``'s workers).

Why: under load a worker holds hundreds of requests in flight (validated bodies waiting for
their scoring batch, responses being written). They outlive CPython's default young-generation
threshold (700 net allocations), so they are promoted, and the old generation is then
collected often, each time walking the whole heap: the model, pandas, the warmed score cache
(about 375,000 objects in the 20,000-lead benchmark). Measured under wrk with 1,000 connections
on ``POST /v1/score``: 25 full collections in 15 s, and the collector's work, done inside
whatever allocated, made pydantic's validation of a request cost 300-500 µs of CPU instead of
~100; throughput went from ~800 to ~1,400 requests/s with these settings.

``gc.freeze()`` moves everything startup built (it lives as long as the process) out of every
later collection; a larger young threshold lets request garbage die by reference counting
before the collector looks at it, and fewer collections promote fewer short-lived objects.
Nothing is disabled: cycles are still collected.
"""

from __future__ import annotations

import gc

# (young, middle, old) generation thresholds; CPython's defaults are (700, 10, 10).
SERVING_THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Freeze the startup heap and raise the thresholds; call once the app has started."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
