"""Per-key usage counters without a database write per request.

Each process counts in memory: ``(key id, UTC day, "METHOD /route/{template}",
status class) -> requests``, plus the latest time each key was used. A
background thread flushes the counts every ``LEADSCORE_USAGE_FLUSH_SECONDS``
(and once more at shutdown) with one upsert that *adds* to the stored totals
(``requests = requests + excluded.requests``), and moves ``last_used_at``
forward. A failed flush puts the counts back for the next attempt.

Reads combine the flushed rows with this process's pending counts, so a
client sees its own completed requests at once. Another API worker's pending
counts appear within one flush interval; counts still in memory when a
process is killed (not stopped) are lost, which is the price of not writing
on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope
from leadscore.core.security.models import ApiKey, ApiKeyUsage

log = logging.getLogger(__name__)

UsageKey = tuple[int, date, str, str]  # key id, day, route, status class


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "5xx"


class UsageRecorder:
    def __init__(self, sessions: sessionmaker[Session], *, interval: float = 5.0) -> None:
        self.sessions = sessions
        self.interval = interval
        self._counts: Counter[UsageKey] = Counter()
        self._last_used: dict[int, float] = {}
        # Counts taken by a flush that has not committed yet stay visible to readers.
        self._inflight: Counter[UsageKey] = Counter()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._day: date | None = None
        self._day_ends = 0.0  # POSIX time at which self._day's UTC day ends

    def record(self, key_id: int, route: str, status: int) -> None:
        now = time.time()
        with self._lock:
            if now >= self._day_ends:  # the UTC day, worked out once a day instead of per request
                self._day = datetime.fromtimestamp(now, UTC).date()
                self._day_ends = (now // 86400 + 1) * 86400
            self._counts[(key_id, self._day, route[:200], status_class(status))] += 1
            self._last_used[key_id] = now

    def pending(self, key_id: int) -> Counter[UsageKey]:
        with self._lock:
            result = Counter({k: v for k, v in self._counts.items() if k[0] == key_id})
            result.update({k: v for k, v in self._inflight.items() if k[0] == key_id})
        return result

    def flush(self) -> int:
        """Write pending counts; returns how many (key, day, route, class) rows were touched."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, Counter()
                last_used, self._last_used = self._last_used, {}
                self._inflight = counts
            if not counts and not last_used:
                return 0
            try:
                with session_scope(self.sessions) as session:
                    _add_counts(session, counts)
                    _touch_keys(session, last_used)
            except Exception:
                with self._lock:
                    self._counts.update(counts)
                    for key_id, at in last_used.items():
                        self._last_used[key_id] = max(at, self._last_used.get(key_id, 0.0))
                    self._inflight = Counter()
                raise
            with self._lock:
                self._inflight = Counter()
            return len(counts)

    def read(self, session: Session, key_id: int, *, days: int = 30) -> dict[date, Counter[tuple[str, str]]]:
        """Flushed plus pending counts for one key: day -> (route, status class) -> requests."""
        since = datetime.now(UTC).date() - timedelta(days=days - 1)
        result: dict[date, Counter[tuple[str, str]]] = {}
        # Holding the flush lock stops a flush from committing between the two reads,
        # which would count its rows twice (or not at all).
        with self._flush_lock:
            rows = session.execute(
                select(ApiKeyUsage.day, ApiKeyUsage.route, ApiKeyUsage.status_class, ApiKeyUsage.requests)
                .where(ApiKeyUsage.key_id == key_id, ApiKeyUsage.day >= since)
            ).all()
            pending = self.pending(key_id)
        for day, route, klass, requests in rows:
            result.setdefault(day, Counter())[(route, klass)] += requests
        for (_key, day, route, klass), requests in pending.items():
            if day >= since:
                result.setdefault(day, Counter())[(route, klass)] += requests
        return result

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="leadscore-usage", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        except Exception:
            log.exception("final usage flush failed; %d counters lost", len(self._counts))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the database is briefly away: counts were kept, retry next tick
                log.exception("usage flush failed")


def _add_counts(session: Session, counts: Counter[UsageKey]) -> None:
    if not counts:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(ApiKeyUsage)
    statement = statement.on_conflict_do_update(
        index_elements=["key_id", "day", "route", "status_class"],
        set_={"requests": ApiKeyUsage.requests + statement.excluded.requests},
    )
    rows = [
        {"key_id": k, "day": d, "route": r, "status_class": c, "requests": n}
        for (k, d, r, c), n in sorted(counts.items())  # a stable order avoids deadlocks between workers
    ]
    # Keys deleted (not revoked) since the request would break the foreign key.
    existing = set(session.scalars(select(ApiKey.id).where(ApiKey.id.in_({row["key_id"] for row in rows}))))
    rows = [row for row in rows if row["key_id"] in existing]
    if rows:
        session.execute(statement, rows)


def _touch_keys(session: Session, last_used: dict[int, float]) -> None:
    for key_id, at in sorted(last_used.items()):
        moment = datetime.fromtimestamp(at, UTC)
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < moment))
            .values(last_used_at=moment)
        )


def totals(by_day: dict[date, Counter[tuple[str, str]]]) -> int:
    return sum(sum(c.values()) for c in by_day.values())


def flatten(by_day: dict[date, Counter[tuple[str, str]]]) -> Iterable[tuple[date, str, str, int]]:
    for day in sorted(by_day, reverse=True):
        for (route, klass), requests in sorted(by_day[day].items()):
            yield day, route, klass, requests
