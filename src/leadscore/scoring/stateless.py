"""Stateless scoring (``POST /v1/score``): requests that arrive together are scored in one pass.

Why: scoring one lead through the online path (``score_one``) costs about a
millisecond of Python; the vectorised path scores a million leads in ~20 s,
a few tens of microseconds each. Under load many requests wait at the same
moment, so they are gathered and scored as one frame (dynamic batching, as
model servers do it): the event loop scores everything waiting in one go, and
what arrives meanwhile forms the next batch. Alone, a
request is scored at once; nobody waits for a batch to fill. A single
request with many leads is a batch by itself.

The vectorised and the single-lead paths compute the same features, points
and reasons (ml.features' contract; tests compare both here too). A batch
that fails is retried request by request, so one bad request only fails
itself.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

import pandas as pd
from pydantic_core import to_json

from leadscore.core import metrics
from leadscore.core.database import utcnow
from leadscore.leads.frames import naive_utc
from leadscore.scoring.schemas import InteractionInput, ScoreRequest

log = logging.getLogger(__name__)

# Leads per scoring pass on the event loop: enough to amortise the frame work (~0.2 ms a lead
# beyond it), few enough that the loop is not held for long (tens of ms).
MAX_BATCH_LEADS = 256
# Requests with this many leads are scored on a worker thread, alone.
BIG_REQUEST = 64
INTERACTION_FIELDS = [name for name in InteractionInput.model_fields if name != "occurred_at"]
_interaction_row = operator.attrgetter(*INTERACTION_FIELDS, "occurred_at")
# Below this many leads in a pass, scoring one by one is faster than building a frame (measured
# with the demo champion: a 1-lead frame costs ~10 single-lead scorings, a 200-lead frame ~1/6 each).
VECTORISE_FROM = 24


def score_requests(requests: list[ScoreRequest], model: Any, now: Any = None) -> list[list[dict[str, Any]]]:
    """Score every lead of ``requests`` with ``model``; results per request, in order.

    A frame costs a fixed overhead (pandas, per column) worth about ten single-lead scorings,
    so a few leads go through the online path one by one and more through one vectorised pass.
    """
    now = naive_utc(now or utcnow())
    if sum(len(request.leads) for request in requests) < VECTORISE_FROM:
        results = online(requests, model, now)
    else:
        results = vectorised(requests, model, now)
    metrics.scores_computed(sum(len(r) for r in results))
    return results


# Lead fields that are not model inputs (attributes are merged in flat).
_NOT_RECORD = frozenset({"ref", "interactions", "attributes"})


def _record(item: Any) -> dict[str, Any]:
    # The validated fields as they are (all scalars): what model_dump gave, at a tenth of its cost.
    record = {name: value for name, value in item.__dict__.items() if name not in _NOT_RECORD}
    record.update(item.attributes or {})
    record["created_at"] = naive_utc(item.created_at) if item.created_at else None
    return record


def online(requests: list[ScoreRequest], model: Any, now: Any) -> list[list[dict[str, Any]]]:
    """One lead at a time (``score_one``)."""
    results = []
    for request in requests:
        out = []
        for item in request.leads:
            interactions = [{**i.model_dump(), "occurred_at": naive_utc(i.occurred_at)} for i in item.interactions]
            r = model.score_one(_record(item), interactions, as_of=now)
            out.append(_result(item.ref, r.probability, round(r.score), r.grade, r.base_score, r.top_positive,
                               r.top_negative))
        results.append(out)
    return results


def vectorised(requests: list[ScoreRequest], model: Any, now: Any) -> list[list[dict[str, Any]]]:
    """All leads as one frame (``score``): the same features, points and reasons as ``online``."""
    records: list[dict[str, Any]] = []
    # Interactions as one tuple each (attrgetter, in C), turned into columns once: a dict per
    # interaction (model_dump) cost more than scoring, and a generator per field a sixth of it.
    rows: list[tuple[Any, ...]] = []
    owners: list[int] = []
    for request in requests:
        for item in request.leads:
            row = len(records)
            record = _record(item)
            record["lead_id"] = row  # joins the interactions below; not a model feature
            records.append(record)
            happened = item.interactions
            rows.extend(map(_interaction_row, happened))
            owners.extend([row] * len(happened))
    leads = pd.DataFrame.from_records(records)
    # The single-lead path sees a missing field as None: keep NaN out of object columns.
    leads = leads.astype(object).where(leads.notna(), None)
    frame = None
    if rows:
        *values, occurred = zip(*rows)
        frame = pd.DataFrame({**dict(zip(INTERACTION_FIELDS, map(list, values))),
                              "occurred_at": _naive_utc_column(occurred), "lead_id": owners})
    scored = model.score(leads, frame, as_of=now)
    probability, score = scored["probability"].to_numpy(), scored["score"].to_numpy()
    grade, base = scored["grade"].to_numpy(), scored["base_score"].to_numpy()
    positive, negative = scored["top_positive"].tolist(), scored["top_negative"].tolist()
    results: list[list[dict[str, Any]]] = []
    row = 0
    for request in requests:
        out = []
        for item in request.leads:
            out.append(_result(item.ref, float(probability[row]), round(float(score[row])), str(grade[row]),
                               float(base[row]), positive[row], negative[row]))
            row += 1
        results.append(out)
    return results


def _naive_utc_column(values: tuple[datetime, ...]) -> pd.DatetimeIndex:
    """``naive_utc`` of every value in one vectorised pass (a naive value is taken as UTC, as there).

    ``cache=False``: pandas' cache of distinct values cost 2-6x the plain conversion here (5,120
    times of 20 distinct values: 4.6-11 ms against 1.7-2.3 ms)."""
    return pd.to_datetime(list(values), utc=True, cache=False).tz_localize(None)


def _result(ref: str | None, probability: float, score: int, grade: str, base_score: float,
            top_positive: list[dict], top_negative: list[dict]) -> dict[str, Any]:
    """One lead's result in ``StatelessScore``'s shape and field order (reasons are already
    ``Reason``-shaped dicts). Plain dicts, not models: building and then dumping the models cost
    a fifth of a batch's scoring."""
    return {"ref": ref, "probability": probability, "score": score, "grade": grade, "base_score": base_score,
            "top_positive": top_positive, "top_negative": top_negative}


def render(version_id: int, results: list[dict[str, Any]]) -> bytes:
    """The ``ScoreResponse`` document (tests check it validates as one), as pydantic writes it."""
    return to_json({"model_version_id": version_id, "results": results})


@dataclass(eq=False)
class _Waiting:
    request: ScoreRequest
    version_id: int
    model: Any
    future: asyncio.Future = field(repr=False)


class StatelessBatcher:
    """Gathers the stateless requests waiting on one event loop and scores them together, on it.

    On the loop, not a thread: the loop is busy under load, and a scoring thread spent most of
    its time waiting for the GIL (each numpy call releases it; getting it back from a busy
    thread takes up to the 5 ms switch interval), which made batching slower than none.
    Scoring a batch holds the loop for a few tens of milliseconds; meanwhile new requests
    queue up and form the next batch. Big requests go to a thread instead (``BIG_REQUEST``).
    """

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self._draining = False

    async def score(self, request: ScoreRequest, version_id: int, model: Any) -> bytes:
        loop = asyncio.get_running_loop()
        if len(request.leads) >= BIG_REQUEST:  # a batch by itself; keep the loop free meanwhile
            batch = [_Waiting(request, version_id, model, loop.create_future())]
            [body] = await loop.run_in_executor(None, _score_batch, batch)
            if isinstance(body, BaseException):
                raise body
            return body
        waiting = _Waiting(request, version_id, model, loop.create_future())
        self._waiting.append(waiting)
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await waiting.future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # requests already read in this loop turn join the first batch
            while self._waiting:
                batch = self._take()
                bodies = _score_batch(batch)
                for waiting, body in zip(batch, bodies):
                    if waiting.future.done():  # the client went away
                        continue
                    if isinstance(body, BaseException):
                        waiting.future.set_exception(body)
                    else:
                        waiting.future.set_result(body)
                await asyncio.sleep(0)  # let the loop answer and read before the next batch
        finally:
            self._draining = False

    def _take(self) -> list[_Waiting]:
        taken, leads = 0, 0
        for waiting in self._waiting:
            if taken and leads + len(waiting.request.leads) > MAX_BATCH_LEADS:
                break
            taken += 1
            leads += len(waiting.request.leads)
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch


def _score_batch(batch: list[_Waiting]) -> list[bytes | BaseException]:
    now = utcnow()
    bodies: list[bytes | BaseException] = [b""] * len(batch)
    by_version: dict[int, list[int]] = {}
    for n, waiting in enumerate(batch):
        by_version.setdefault(waiting.version_id, []).append(n)
    for version_id, members in by_version.items():
        model = batch[members[0]].model
        try:
            scored = score_requests([batch[n].request for n in members], model, now)
            for n, results in zip(members, scored):
                bodies[n] = render(version_id, results)
            continue
        except Exception as exc:
            if len(members) == 1:
                bodies[members[0]] = exc
                continue
            log.warning("stateless batch of %d requests failed; scoring them one by one", len(members),
                        exc_info=True)
        for n in members:
            try:
                bodies[n] = render(version_id, score_requests([batch[n].request], model, now)[0])
            except Exception as exc:
                bodies[n] = exc
    return bodies


_batchers: WeakKeyDictionary[asyncio.AbstractEventLoop, StatelessBatcher] = WeakKeyDictionary()


def batcher() -> StatelessBatcher:
    """This event loop's batcher (futures belong to one loop; test clients bring their own)."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = StatelessBatcher()
    return found


