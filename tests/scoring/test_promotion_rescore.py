"""After a promotion, the open leads' stored scores are rescored by the new champion, in steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.core.services import Services
from tests.support.work import settle
from leadscore.leads.models import Lead, Outcome
from leadscore.registry import service as registry
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.batch import OPEN_RESCORE_TOPIC, RESCORED_TOPIC, rescore_open_step
from leadscore.scoring.models import Score
from leadscore.scoring.model_cache import model_cache
from leadscore.scoring.tasks import cache_key


def _closed(session, n: int, start: int, won_every: int) -> None:
    begin = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(start, start + n):
        lead = Lead(dataset="pr", external_id=f"h{i}", created_at=begin + timedelta(days=i % 60), attributes={},
                    pre_approved=i % 2 == 0, timeline_months=3, status="won" if i % won_every == 0 else "lost")
        session.add(lead)
        session.flush()
        session.add(Outcome(lead_id=lead.id, result=lead.status, closed_at=lead.created_at + timedelta(days=20)))


def _open(session, n: int, **fields) -> list[int]:
    leads = [Lead(dataset="pr", external_id=f"o{fields.get('consent_profiling', True)}{i}", attributes={},
                  created_at=datetime.now(UTC) - timedelta(days=2), pre_approved=i % 2 == 0, timeline_months=i % 6,
                  **fields) for i in range(n)]
    session.add_all(leads)
    session.flush()
    return [lead.id for lead in leads]


def _version_of_current(session, lead_ids: list[int]) -> dict[int, int | None]:
    """Each lead's champion score row behind its current score (the newest non-shadow row)."""
    out: dict[int, int | None] = {}
    for lead_id in lead_ids:
        out[lead_id] = session.scalar(select(Score.model_version_id).where(Score.lead_id == lead_id,
                                                                          Score.shadow.is_(False))
                                      .order_by(Score.scored_at.desc(), Score.id.desc()).limit(1))
    return out


def _first_champion(services: Services) -> int:
    with session_scope(services.runtime.sessions) as session:
        _closed(session, 30, 0, won_every=3)
    first = run_training_job(services.runtime.sessions, dataset="pr")
    assert first.promoted
    return first.version_id


def _second_version(services: Services) -> int:
    """A candidate trained on enough outcomes for a learned model (it scores the same leads differently), not promoted."""
    with session_scope(services.runtime.sessions) as session:
        _closed(session, 100, 100, won_every=2)
    second = run_training_job(services.runtime.sessions, dataset="pr", auto_promote=False)
    assert second.status == "succeeded" and not second.promoted
    return second.version_id


def test_a_promotion_rescores_the_open_leads_and_leaves_the_rest(services):
    first_id = _first_champion(services)
    with session_scope(services.runtime.sessions) as session:
        open_ids = _open(session, 5)
        opted_out = _open(session, 2, consent_profiling=False)
        closed_ids = list(session.scalars(select(Lead.id).where(Lead.dataset == "pr", Lead.status == "won")))
    settle(services)  # created leads are scored by the first champion
    second_id = _second_version(services)
    with session_scope(services.runtime.sessions) as session:
        before = {lead.id: (lead.current_score, lead.scored_at) for lead in
                  session.scalars(select(Lead).where(Lead.id.in_(open_ids + closed_ids)))}
        assert set(_version_of_current(session, open_ids).values()) == {first_id}
    services.cache.set(cache_key(open_ids[0]), {"score": -1, "note": "the previous champion's"})

    with session_scope(services.runtime.sessions) as session:
        registry.promote(session, second_id, actor="test")
    settle(services)

    with session_scope(services.runtime.sessions) as session:
        after = {lead.id: (lead.current_score, lead.scored_at) for lead in
                 session.scalars(select(Lead).where(Lead.id.in_(open_ids + closed_ids + opted_out)))}
        versions = _version_of_current(session, open_ids)
        steps = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == OPEN_RESCORE_TOPIC))
                 if m.payload["model_version_id"] == second_id]
        ends = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == RESCORED_TOPIC))]
        events = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "score.changed"))
                  if m.payload["lead_id"] in open_ids]
        external = dict(session.execute(select(Lead.id, Lead.external_id).where(Lead.id.in_(open_ids))).all())
    assert all(after[i][1] > before[i][1] for i in open_ids), "every open lead was rescored"
    # The promotion's score changes are announced in the real-time path's shape, reasons included.
    assert events, "the new champion moves some scores past the threshold"
    for event in events:
        assert set(event) == {"lead_id", "external_id", "dataset", "score", "grade", "previous_score",
                              "previous_grade", "delta", "top_positive", "top_negative"}
        assert event["external_id"] == external[event["lead_id"]] and event["dataset"] == "pr"
        assert event["score"] == after[event["lead_id"]][0] and event["top_positive"] + event["top_negative"]
    assert any(after[i][0] != before[i][0] for i in open_ids), "the new champion scores differently"
    # A changed score is a new row by the new champion; an unchanged one keeps its row (no history noise).
    assert all(versions[i] == second_id for i in open_ids if after[i][0] != before[i][0])
    assert all(after[i] == before[i] for i in closed_ids), "closed leads keep the score they closed with"
    assert all(after[i][0] is None for i in opted_out), "no consent to profiling: never scored"
    assert [p["after_id"] for p in steps] == [0, max(open_ids)]  # the first step scored them all; the second ended
    assert ends[-1] == {"dataset": "pr", "scored": 5}
    assert services.cache.get(cache_key(open_ids[0]))["score"] == after[open_ids[0]][0]


def test_steps_resume_after_the_last_one_skip_newer_scores_and_stop_when_superseded(services):
    first_id = _first_champion(services)
    with session_scope(services.runtime.sessions) as session:
        open_ids = _open(session, 5)
    settle(services)
    second_id = _second_version(services)
    later = datetime.now(UTC) + timedelta(hours=1)
    with session_scope(services.runtime.sessions) as session:
        registry.promote(session, second_id, actor="test")
        # Scored since the promotion (so by the new champion): nothing to redo.
        session.execute(update(Lead).where(Lead.id == open_ids[2]).values(scored_at=later))
    models = model_cache(services)
    meanwhile: list[int] = []

    def load(session, version_id: int):  # noqa: ANN001, ANN202
        for lead_id in meanwhile:  # the real-time path rescores this lead while the step computes
            with session_scope(services.runtime.sessions) as other:
                other.execute(update(Lead).where(Lead.id == lead_id).values(scored_at=later))
        meanwhile.clear()
        return models.get(session, version_id)

    def step(version_id: int, after_id: int) -> list[int] | None:
        return rescore_open_step(services.runtime.sessions, dataset="pr", version_id=version_id, after_id=after_id,
                                 scored=0, load=load, min_delta=1, step=2)

    assert step(second_id, 0) == open_ids[:2]
    with session_scope(services.runtime.sessions) as session:
        nexts = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == OPEN_RESCORE_TOPIC))]
    assert {"dataset": "pr", "model_version_id": second_id, "after_id": open_ids[1], "scored": 2} in nexts
    meanwhile.append(open_ids[4])
    assert step(second_id, open_ids[1]) == [open_ids[3]], "a score newer than the step's read is kept"
    with session_scope(services.runtime.sessions) as session:
        kept = session.scalar(select(Lead.scored_at).where(Lead.id == open_ids[4]))
        nexts = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == OPEN_RESCORE_TOPIC))]
    assert kept.replace(tzinfo=None) == later.replace(tzinfo=None)
    # The step read leads 3 and 4: lead 2, scored since the promotion, was not read at all.
    assert {"dataset": "pr", "model_version_id": second_id, "after_id": open_ids[4], "scored": 2} in nexts
    assert step(second_id, open_ids[4]) == []  # the end: caches and dashboard statistics follow
    assert step(first_id, 0) is None, "a retired version's steps stop"


def test_a_promotion_keeps_the_cached_scores_until_its_rescoring_replaces_them(services):
    _first_champion(services)
    with session_scope(services.runtime.sessions) as session:
        lead_id = _open(session, 1)[0]
    settle(services)
    cached = services.cache.get(cache_key(lead_id))
    assert cached is not None and cached["lead_id"] == lead_id
    # A predictive model's promotion never touches a score; a conversion promotion without a version
    # (nothing to rescore) leaves the stored scores current. Either way the cached entry stays, so reads
    # do not all go to the database at once for the same rows.
    services.tasks.handle("model.promoted", {"dataset": "pr", "kind": "deal_value", "model_version_id": 10**6})
    services.tasks.handle("model.promoted", {"dataset": "pr", "kind": "conversion"})
    assert services.cache.get(cache_key(lead_id)) == cached
