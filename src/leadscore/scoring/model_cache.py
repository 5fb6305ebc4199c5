"""Loaded models and each dataset's champion, kept per process for every scoring path.

The API (the ``POST /v1/score`` fast path and route), the embedded helper process
(``scoring.offload``) and the workers' real-time handlers all score through one
``ModelCache`` per process. A model artifact is loaded once per process; the champion
of a dataset is re-read after ``champion_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from leadscore.core.database import session_scope
from leadscore.registry import service as registry

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")


class SingleFlight:
    """Concurrent calls for one key share the first call's outcome instead of each doing the work.

    Why: a serving process that has not read a champion yet (a new worker, or one that had
    answered only reads) gets its first wave of scoring requests all at once, hundreds of them
    under load, and each read the champion and unpickled the same artifact in its own thread:
    measured with ``benchmarks/run_api.py --only get,post --modes production``, POST p99 went
    from about 110 ms to 0.4-1.7 s in every run where the POST load followed the GET load.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Hashable, Future[Any]] = {}

    def run(self, key: Hashable, work: Callable[[], T]) -> T:
        with self._lock:
            pending = self._pending.get(key)
            leader = pending is None
            if leader:
                pending = self._pending[key] = Future()
        assert pending is not None
        if not leader:
            return pending.result()  # the leader's answer, or its exception
        try:
            result = work()
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        else:
            pending.set_result(result)
            return result
        finally:
            with self._lock:
                del self._pending[key]


class ModelCache:
    """Loaded artifacts by version id, and each dataset's champion for a few seconds.

    A promotion is picked up at once where its ``model.promoted`` event is handled
    (``clear``) and within ``champion_seconds`` in every other process.
    """

    def __init__(self, champion_seconds: float = 2.0) -> None:
        self._models: dict[int, Any] = {}
        self._champions: dict[str, tuple[float, int | None]] = {}
        self._refreshing: set[str] = set()
        self.champion_seconds = champion_seconds
        self._lock = threading.Lock()
        self._reads = SingleFlight()  # by dataset
        self._loads = SingleFlight()  # by version id

    def fresh_champion(self, dataset: str, sessions: Any = None) -> tuple[int, Any] | None | bool:
        """What ``champion`` would return if it needs no database read, else False.

        Once the answer is older than ``champion_seconds``, one caller re-reads it while the
        others keep the last answer: under load a thousand requests in flight went stale at
        the same moment, and each ran the same query (single flight, stale while revalidating).
        Given ``sessions``, a stale answer is returned and re-read on a background thread, so
        an event-loop caller never waits for one: under load a thread-pool hop waited about a
        second for the GIL, and every request arriving meanwhile went stale too.
        """
        with self._lock:
            found = self._known(dataset)
            if found is not False or sessions is None:
                return found
            last = self._last(dataset)
            if last is False:  # nothing usable to serve meanwhile: the caller reads
                return False
            self._refreshing.add(dataset)
        threading.Thread(target=self._refresh_quietly, args=(sessions, dataset), daemon=True,
                         name="leadscore-champion-refresh").start()
        return last

    def _known(self, dataset: str) -> tuple[int, Any] | None | bool:
        known = self._champions.get(dataset)
        if known is None or (known[0] < time.monotonic() and dataset not in self._refreshing):
            return False
        return self._last(dataset)

    def _last(self, dataset: str) -> tuple[int, Any] | None | bool:
        """The last answer however old; False when there is none or its model is not loaded."""
        known = self._champions.get(dataset)
        if known is None:
            return False
        if known[1] is None:
            return None
        model = self._models.get(known[1])
        return False if model is None else (known[1], model)

    def champion(self, sessions: Any, dataset: str) -> tuple[int, Any] | None:
        """(version id, model) of ``dataset``'s champion, or None; a database read only when stale.

        Callers that find nothing to serve while a read is under way wait for that read.
        """
        with self._lock:
            found = self._known(dataset)
            if found is not False:
                return found
            self._refreshing.add(dataset)
        return self._refresh(sessions, dataset)

    def preload(self, sessions: Any) -> list[str]:
        """Read every dataset's champion and load its model; the datasets loaded, in order.

        A serving process calls this before it accepts requests, so that no request waits
        for a model to load (about 50 ms on an idle machine, far more under load). A model
        that fails to load is logged and skipped: requests for its dataset then get the
        error they would have got anyway.
        """
        with session_scope(sessions, write=False) as session:
            datasets = registry.champion_datasets(session)
        loaded = []
        for dataset in datasets:
            try:
                self.champion(sessions, dataset)
            except Exception:
                log.warning("loading the champion of %r at start-up failed", dataset, exc_info=True)
            else:
                loaded.append(dataset)
        return loaded

    def _refresh(self, sessions: Any, dataset: str) -> tuple[int, Any] | None:
        try:
            return self._reads.run(dataset, lambda: self._read(sessions, dataset))
        finally:
            with self._lock:
                self._refreshing.discard(dataset)

    def _read(self, sessions: Any, dataset: str) -> tuple[int, Any] | None:
        with session_scope(sessions, write=False) as session:
            row = registry.get_champion(session, dataset=dataset)
            found = None if row is None else (row.id, self.get(session, row.id))
        with self._lock:
            self._champions[dataset] = (time.monotonic() + self.champion_seconds,
                                        None if found is None else found[0])
        return found

    def _refresh_quietly(self, sessions: Any, dataset: str) -> None:
        try:
            self._refresh(sessions, dataset)
        except Exception:  # the last answer stays; the next caller after it tries again
            log.warning("re-reading the champion of %r failed", dataset, exc_info=True)

    def get(self, session: Session, version_id: int) -> Any:
        with self._lock:
            model = self._models.get(version_id)
        if model is None:
            model = self._loads.run(version_id, lambda: self._load(session, version_id))
        return model

    def _load(self, session: Session, version_id: int) -> Any:
        with self._lock:
            model = self._models.get(version_id)  # loaded by a flight that just ended
        if model is None:
            model = registry.load_model(session, registry.get(session, version_id)).model
            with self._lock:
                self._models[version_id] = model
        return model

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._champions.clear()


def model_cache(services: Services) -> ModelCache:
    cache = services.extras.get("scoring.models")
    if cache is None:
        cache = services.extras.setdefault("scoring.models", ModelCache())
    return cache  # type: ignore[return-value]
