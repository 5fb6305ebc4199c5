"""Stateless scoring (``POST /v1/score``): requests that arrive together are scored in one pass.

Why: scoring one lead alone (``score_one``) costs about a millisecond of
Python, nearly all of it per feature column, not per lead; a pass over many
leads (``ConversionModel.score_records``: dicts in, no DataFrames) costs about
the same plus a few tens of microseconds a lead. Under load many requests wait
at the same moment, so they are gathered and scored as one pass (dynamic
batching, as model servers do it): the event loop scores everything waiting in
one go, and what arrives meanwhile forms the next batch. Alone, a request is
scored at once; nobody waits for a batch to fill. A single request with many
leads is a batch by itself.

A pass and the single-lead path compute the same features, points and reasons
(ml.features' contract; tests compare both here too). A batch that fails is
retried request by request, so one bad request only fails itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from pydantic_core import to_json

from leadscore.core import metrics
from leadscore.core.database import utcnow
from leadscore.leads.frames import naive_utc
from leadscore.scoring.schemas import ScoreRequest

log = logging.getLogger(__name__)

# Leads per scoring pass on the event loop: enough to amortise the per-pass work, few enough
# that the loop is not held for long (a few ms).
MAX_BATCH_LEADS = 256
# Requests with this many leads are scored on a worker thread, alone.
BIG_REQUEST = 64
# Below this many leads in a pass, scoring one by one (``score_one``) is faster: a pass over many
# leads costs numpy calls per feature for the points and per reason for the sentences, where
# ``score_one`` works on scalars (measured with the demo champion and a 20-interaction lead:
# one lead 1.1 ms alone against 2.7 ms in a pass, 8 leads 0.39 ms each in a pass).
ONLINE_BELOW = 3


def score_requests(requests: list[ScoreRequest], model: Any, now: Any = None) -> list[list[dict[str, Any]]]:
    """Score every lead of ``requests`` with ``model``; results per request, in order.

    Fewer than ``ONLINE_BELOW`` leads one by one (``online``), more in one pass (``in_one_pass``).
    """
    now = naive_utc(now or utcnow())
    if sum(len(request.leads) for request in requests) < ONLINE_BELOW:
        results = online(requests, model, now)
    else:
        results = in_one_pass(requests, model, now)
    metrics.scores_computed(sum(len(r) for r in results))
    return results


def in_one_pass(requests: list[ScoreRequest], model: Any, now: Any) -> list[list[dict[str, Any]]]:
    """Every lead at once (``score_records``: no DataFrames). A pass costs a few numpy calls per
    feature column whatever the number of leads, so each lead beyond the first costs little."""
    records: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    owners: list[int] = []
    for request in requests:
        for item in request.leads:
            row = len(records)
            records.append(_record(item))
            happened = item.interactions
            # The validated dicts as they are (read, not changed): a copy with naive times would
            # cost more than scoring them; aware UTC times are what the features convert fastest.
            interactions.extend(happened)
            owners.extend([row] * len(happened))
    scored = model.score_records(records, interactions, owners, as_of=now)
    probability, score, grade, base = (scored[name] for name in ("probability", "score", "grade", "base_score"))
    positive, negative = scored["top_positive"], scored["top_negative"]
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


def online(requests: list[ScoreRequest], model: Any, now: Any) -> list[list[dict[str, Any]]]:
    """One lead at a time (``score_one``): the same answers as ``score_records``."""
    results = []
    for request in requests:
        out = []
        for item in request.leads:
            r = model.score_one(_record(item), item.interactions, as_of=now)
            out.append(_result(item.ref, r.probability, round(r.score), r.grade, r.base_score, r.top_positive,
                               r.top_negative))
        results.append(out)
    return results


# Lead fields that are not model inputs (attributes are merged in flat).
_NOT_RECORD = frozenset({"ref", "interactions", "attributes"})


def _record(item: Any) -> dict[str, Any]:
    # The validated fields as they are (all scalars): what model_dump gave, at under a third of its
    # cost (1.2 against 4 µs for the benchmark's lead): the instance's dict copied, less the
    # fields that are not model inputs.
    record = item.__dict__.copy()
    for name in _NOT_RECORD:
        record.pop(name, None)
    record.update(item.attributes or {})
    record["created_at"] = naive_utc(item.created_at) if item.created_at else None
    return record


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
class Pending:
    """A request waiting to be scored by ``model`` (champion ``version_id``); ``future`` gets its
    answer when it waits on an event loop (the scoring process's batches have none)."""

    request: ScoreRequest
    version_id: int
    model: Any
    future: asyncio.Future | None = field(default=None, repr=False)


class StatelessBatcher:
    """Gathers the stateless requests waiting on one event loop and scores them together, on it.

    On the loop, not a thread: the loop is busy under load, and a scoring thread spent most of
    its time waiting for the GIL (each numpy call releases it; getting it back from a busy
    thread takes up to the 5 ms switch interval), which made batching slower than none.
    Scoring a batch holds the loop for a few tens of milliseconds; meanwhile new requests
    queue up and form the next batch. Big requests go to a thread instead (``BIG_REQUEST``).
    """

    def __init__(self) -> None:
        self._waiting: list[Pending] = []
        self._draining = False

    async def score(self, request: ScoreRequest, version_id: int, model: Any) -> bytes:
        loop = asyncio.get_running_loop()
        if len(request.leads) >= BIG_REQUEST:  # a batch by itself; keep the loop free meanwhile
            batch = [Pending(request, version_id, model)]  # answered below, not through a future
            [body] = await loop.run_in_executor(None, score_batch, batch)
            if isinstance(body, BaseException):
                raise body
            return body
        waiting = Pending(request, version_id, model, loop.create_future())
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
                bodies = score_batch(batch)
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

    def _take(self) -> list[Pending]:
        taken, leads = 0, 0
        for waiting in self._waiting:
            if taken and leads + len(waiting.request.leads) > MAX_BATCH_LEADS:
                break
            taken += 1
            leads += len(waiting.request.leads)
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch


def score_batch(batch: list[Pending], now: Any = None) -> list[bytes | BaseException]:
    now = now or utcnow()
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


