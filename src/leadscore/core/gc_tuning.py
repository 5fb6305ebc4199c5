"""The interpreter's settings for a serving process (``leadscore serve``'s workers): the cyclic
garbage collector's, and how often a waiting thread gets the GIL (``tune_thread_switching``).

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
import sys

# (young, middle, old) generation thresholds; CPython's defaults are (700, 10, 10).
SERVING_THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Freeze the startup heap and raise the thresholds; call once the app has started."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)


# CPython's default is 5 ms.
SERVING_SWITCH_INTERVAL = 0.001


def tune_thread_switching() -> None:
    """Let a thread waiting for the GIL get it after 1 ms of the event loop's work, not 5.

    Why: under load the event loop never idles, so the threads behind the real-time path
    (the in-process task lanes, the outbox dispatcher, an endpoint's thread hop) run only
    when the interpreter forces a switch, and a write transaction needs the GIL many times
    while it holds SQLite's single write lock. Measured with ``benchmarks/run_api.py --only
    get,hooks --modes embedded --seconds 15`` (events at 10/s under the 1,000-connection GET
    load): accepted -> webhook p99 3,691 ms at 5 ms, 669 ms at 1 ms; from the send, p99 14.4
    -> 9.2 s. The cost: reads answered while events are processed, 2,587 -> 2,052 req/s; the
    GET load alone (no waiting threads, so no forced switches) is unaffected. Embedded mode
    only (no broker): in production the real-time path runs in ``leadscore worker``, and
    with it the API's GET p99 under the same load was 2.4 s instead of 0.2 s in one run.
    """
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL)
