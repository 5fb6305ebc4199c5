"""Real-time scoring: a lead changed or got a new interaction → rescore it now.

Handler of the outbox topic ``lead.rescore``. It scores with the champion of
the lead's dataset (and challengers in shadow), stores the score, refreshes
the cache and emits ``score.changed`` when the grade changed or the score
moved by at least ``score_change_min_delta`` points. Idempotent: a duplicate
message rescores again, which stores one more identical history row and
emits nothing (no change).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.core import metrics, outbox
from leadscore.core.database import session_scope, utcnow
from leadscore.insights import predictions
from leadscore.integrations.service import IMPORTED_TOPIC
from leadscore.interactions.frames import interaction_records
from leadscore.leads.frames import attribute_types, lead_record, naive_utc
from leadscore.leads.models import Lead
from leadscore.registry import service as registry
from leadscore.scoring import service
from leadscore.scoring.batch import OPEN_RESCORE_TOPIC, RESCORED_TOPIC, rescore_open_step, start_open_rescoring
from leadscore.scoring.model_cache import model_cache
from leadscore.scoring.service import ScoreRecord

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

CACHE_PREFIX = "score:"
PREDICT_TOPIC = "lead.predict"


def cache_key(lead_id: int) -> str:
    return f"{CACHE_PREFIX}{lead_id}"


def rescore_lead(services: Services, session: Session, lead_id: int) -> dict[str, Any] | None:
    """Score one lead with its dataset's champion inside the caller's transaction."""
    lead = session.get(Lead, lead_id)
    if lead is None or not lead.consent_profiling:
        services.cache.delete(cache_key(lead_id))
        return None
    champion = registry.get_champion(session, dataset=lead.dataset)
    if champion is None:
        return None
    models = model_cache(services)
    record_in = lead_record(lead, attribute_types(session, lead.dataset))
    interactions = interaction_records(session, lead_id)
    scored_at = utcnow()
    now = naive_utc(scored_at)
    result = models.get(session, champion.id).score_one(record_in, interactions, as_of=now)
    record = _record(lead_id, result)
    [change] = service.store(session, [record], model_version_id=champion.id, scored_at=scored_at)
    metrics.scores_computed(1)
    for challenger in registry.get_challengers(session, dataset=lead.dataset):
        shadow = models.get(session, challenger.id).score_one(record_in, interactions, as_of=now)
        service.store(session, [_record(lead_id, shadow)], model_version_id=challenger.id, shadow=True)
    latest = service.current(session, lead_id) if change.delta == 0 else None
    if latest is not None:
        # Unchanged: no new history row, so serve the stored one (its time, its trend); the
        # cached document must equal what the database gives after a cache miss.
        payload = service.payload(latest)
    else:
        payload = service.document(lead_id=lead_id, probability=record.probability, score=record.score,
                                   grade=record.grade, delta=change.delta, model_version_id=champion.id,
                                   scored_at=scored_at, reasons=record.reasons)
    if change.previous_score is not None and change.notable(services.settings.score_change_min_delta):
        from leadscore.webhooks import service as webhooks

        webhooks.emit(session, "score.changed", service.change_event(
            change, external_id=lead.external_id, dataset=lead.dataset, reasons=record.reasons))
    # The forecasts (timing, deal value, next action) follow as their own task, written after the
    # webhook so a queue delivers that first: the score and its event never wait for them.
    outbox.enqueue(session, PREDICT_TOPIC, {"lead_id": lead_id})
    return payload


def refresh_predictions(services: Services, lead_ids: list[int]) -> None:
    """Handler of ``lead.predict`` (a batch handler): recompute these leads' forecasts together.

    Batched because forecasts cost far more per lead alone than in bulk (measured on the
    20,000-lead demo: 43 ms for one lead, 82 ms for 20): one by one, they were most of the
    worker's time behind each event and held up the score changes queued after them.
    Idempotent: a duplicate recomputes the same values from the same data.
    """
    models = model_cache(services)
    wanted = sorted(set(lead_ids))
    # Computed in a read-only transaction and written in a short one: a write transaction holds
    # SQLite's single write lock, and the score changes queued meanwhile must not wait for the models.
    computed = []
    with session_scope(services.runtime.sessions, write=False) as session:
        by_dataset: dict[str, list[int]] = {}
        for lead_id, dataset in session.execute(select(Lead.id, Lead.dataset).where(Lead.id.in_(wanted))):
            by_dataset.setdefault(dataset, []).append(lead_id)
        exact = service.current_probabilities(session, wanted)  # not the score rounded to a whole point
        for dataset, ids in by_dataset.items():
            champions = predictions.load_champions(session, dataset=dataset,
                                                   load=lambda version_id: models.get(session, version_id))
            computed.append(predictions.forecast(session, dataset=dataset, lead_ids=ids, as_of=utcnow(),
                                                 champions=champions, probabilities=exact))
    with session_scope(services.runtime.sessions) as session:
        for forecasts in computed:
            predictions.store(session, forecasts)


def warm_cache(services: Services, *, limit: int | None = None, batch: int = 5_000, force: bool = False) -> int:
    """Load current scores into the cache (a job: it owns its read). Returns how many were added.

    Only absent keys are written, so a score the real-time path cached meanwhile
    (newer than this read) is never replaced by the older one read here. A shared
    cache is warmed by one process per half TTL, not by every API worker. Each batch
    lives between half and all of the cache's TTL: warmed with one TTL, every entry
    expired in the same second an hour later, and the reads of all of them went to the
    database at once (seen in benchmarks/run_api.py: GET throughput fell twentyfold).
    """
    limit = services.settings.cache_warm_leads if limit is None else limit
    if limit <= 0 or not (force or services.cache.claim_warm_up()):
        return 0
    with session_scope(services.runtime.sessions, write=False) as session:
        payloads = {cache_key(s.lead_id): service.payload(s) for s in service.current_scores(session, limit=limit)}
    keys = list(payloads)
    default_ttl = getattr(services.cache, "default_ttl", None)
    spread = random.Random(len(keys))
    return sum(services.cache.add_many({k: payloads[k] for k in keys[i:i + batch]},
                                       ttl=None if default_ttl is None else default_ttl * spread.uniform(0.5, 1.0))
               for i in range(0, len(keys), batch))


def start_cache_warming(services: Services) -> threading.Thread:
    """Warm the cache in the background: the API answers (from the database) meanwhile."""

    def run() -> None:
        try:
            started = time.monotonic()
            added = warm_cache(services)
            log.info("score cache warmed: %d leads in %.1f s", added, time.monotonic() - started)
        except Exception:  # a cold cache is slower, not wrong: never take the API down for it
            log.warning("score cache warm-up failed", exc_info=True)

    thread = threading.Thread(target=run, name="leadscore-cache-warm", daemon=True)
    thread.start()
    return thread


def _record(lead_id: int, result: Any) -> ScoreRecord:
    return ScoreRecord(
        lead_id=lead_id, probability=float(result.probability), score=int(round(result.score)),
        grade=result.grade, reasons={"base_score": float(result.base_score), "top_positive": result.top_positive,
                                     "top_negative": result.top_negative},
    )


def rescore_leads(services: Services, lead_ids: list[int]) -> None:
    """Handler of ``lead.rescore`` (a batch handler): rescore these leads in one transaction.

    One transaction for all the messages waiting: on SQLite each write transaction
    queues for the single write lock behind the API's write requests, and one per
    lead made the real-time path fall behind the events. If the batch fails, each
    lead is rescored in its own transaction, so one bad lead holds back no other.
    """
    wanted = list(dict.fromkeys(lead_ids))  # a lead changed twice meanwhile is rescored once
    try:
        with session_scope(services.runtime.sessions) as session:
            scored = {lead_id: rescore_lead(services, session, lead_id) for lead_id in wanted}
    except Exception:
        if len(wanted) == 1:
            raise
        log.warning("rescoring %d leads together failed; rescoring them one by one", len(wanted), exc_info=True)
        scored, failed = {}, None
        for lead_id in wanted:
            try:
                with session_scope(services.runtime.sessions) as session:
                    scored[lead_id] = rescore_lead(services, session, lead_id)
            except Exception as exc:
                log.exception("rescoring lead %d failed", lead_id)
                failed = exc
        _cache_scores(services, scored)
        if failed is not None:
            raise failed
        return
    _cache_scores(services, scored)


def _cache_scores(services: Services, scored: dict[int, dict[str, Any] | None]) -> None:
    # Only after commit: readers must never see a cached score the database lacks.
    for lead_id, payload in scored.items():
        if payload is not None:
            services.cache.set(cache_key(lead_id), payload)
    services.dispatcher.notify()


def register(services: Services) -> None:
    def on_promoted(payload: dict[str, Any]) -> None:
        model_cache(services).clear()
        # The cached scores stay: they are the stored ones, which stay current until the new champion's
        # open rescoring replaces them (each step drops the entries it wrote, its end reloads the cache).
        # Dropping them all here only sent every read to the database at once, for the same rows: after
        # the predictive models' promotions too, which never touch a score.
        if payload.get("kind", "conversion") == "conversion" and payload.get("dataset") and payload.get(
                "model_version_id"):
            # The stored scores are the previous champion's: rescore the open leads, in steps.
            with session_scope(services.runtime.sessions) as session:
                start_open_rescoring(session, dataset=payload["dataset"], version_id=payload["model_version_id"])

    def on_imported(payload: dict[str, Any]) -> None:
        # Imported leads or interactions: rescore the open leads the import changed, in steps.
        with session_scope(services.runtime.sessions) as session:
            champion = registry.get_champion(session, dataset=payload["dataset"])
            if champion is not None:
                start_open_rescoring(session, dataset=payload["dataset"], version_id=champion.id,
                                     since=payload["since"])

    def on_rescore_open(payload: dict[str, Any]) -> None:
        models = model_cache(services)
        since = payload.get("since")
        written = rescore_open_step(
            services.runtime.sessions, dataset=payload["dataset"], version_id=int(payload["model_version_id"]),
            after_id=int(payload["after_id"]), scored=int(payload.get("scored", 0)),
            load=lambda session, version_id: models.get(session, version_id),
            min_delta=services.settings.score_change_min_delta,
            since=datetime.fromisoformat(since) if since else None)
        if written:  # after the commit: a read meanwhile may have cached the previous champion's score
            services.cache.delete(*(cache_key(lead_id) for lead_id in written))

    def on_rescored(_payload: dict[str, Any]) -> None:
        # A batch rescoring (`leadscore score`, another process) replaced current scores:
        # drop this process's (or the shared) cached ones and load the new ones.
        services.cache.clear_prefix(CACHE_PREFIX)
        warm_cache(services, force=True)

    services.tasks.register("lead.rescore", lambda payloads: rescore_leads(
        services, [int(payload["lead_id"]) for payload in payloads]), batch=True)
    services.tasks.register(RESCORED_TOPIC, on_rescored)
    services.tasks.register(PREDICT_TOPIC, lambda payloads: refresh_predictions(
        services, [int(payload["lead_id"]) for payload in payloads]), batch=True,
        linger=services.settings.forecast_linger_seconds)
    services.tasks.register("model.promoted", on_promoted)
    services.tasks.register(OPEN_RESCORE_TOPIC, on_rescore_open)
    services.tasks.register(IMPORTED_TOPIC, on_imported)
