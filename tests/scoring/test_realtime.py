"""The real-time path: a new interaction rescores its lead, caches it, and emits score.changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadscore.core.database import session_scope
from tests.support.work import settle
from leadscore.interactions import service as interactions
from leadscore.interactions.schemas import InteractionCreate
from leadscore.leads import service as leads
from leadscore.leads.models import Lead, Outcome
from leadscore.leads.schemas import LeadCreate
from leadscore.registry.tasks import run_training_job
from leadscore.scoring import service as scores
from leadscore.scoring.tasks import cache_key
from leadscore.webhooks import service as webhooks
from leadscore.webhooks.models import WebhookEvent


def _history(session, n: int) -> None:
    """A few closed leads: too few to train, so the rules model takes over (cold start)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        lead = Lead(dataset="rt", external_id=f"h{i}", created_at=start + timedelta(days=i), attributes={},
                    pre_approved=i % 2 == 0, timeline_months=3, status="won" if i % 3 == 0 else "lost")
        session.add(lead)
        session.flush()
        session.add(Outcome(lead_id=lead.id, result=lead.status, closed_at=lead.created_at + timedelta(days=20)))


def test_a_new_interaction_rescores_caches_and_notifies(services):
    with session_scope(services.runtime.sessions) as session:
        _history(session, 30)
        webhooks.create(session, url="http://127.0.0.1:9/unused", event_types=["score.changed"], actor="test",
                        allowed=services.settings.webhook_networks)
    result = run_training_job(services.runtime.sessions, dataset="rt")
    assert result.status == "succeeded" and result.promoted  # cold start: rules model becomes champion

    with session_scope(services.runtime.sessions) as session:
        lead, _ = leads.create(session, LeadCreate(dataset="rt", external_id="live-1", pre_approved=False), actor="t")
        lead_id = lead.id
    settle(services)
    first = services.cache.get(cache_key(lead_id))
    assert first is not None and first["trend"] is None
    assert first["score"] == round(first["probability"] * 100) or 0 <= first["score"] <= 100

    with session_scope(services.runtime.sessions) as session:
        now = datetime.now(UTC)
        items = [InteractionCreate(lead_id=lead_id, type=kind, occurred_at=now - timedelta(minutes=m), direction="inbound")
                 for m, kind in enumerate(["listing_view"] * 12 + ["showing", "saved_search", "email_click"])]
        interactions.ingest(session, items)
        leads.update(session, lead_id, _update(pre_approved=True), actor="t")
    settle(services)

    second = services.cache.get(cache_key(lead_id))
    with session_scope(services.runtime.sessions) as session:
        history = scores.history(session, lead_id)
        assert history[0].score == second["score"]
        events = session.scalars(select(WebhookEvent).where(WebhookEvent.type == "score.changed")).all()
    assert second["score"] > first["score"], "engagement and pre-approval must raise a rules score"
    assert second["trend"] == second["score"] - first["score"]
    assert any(e.data["lead_id"] == lead_id for e in events)
    assert second["top_positive"], "a score carries the reasons behind it"
    assert all({"feature", "sentence", "points"} <= set(r) for r in second["top_positive"])

    # A duplicate message changes nothing and emits nothing.
    with session_scope(services.runtime.sessions) as session:
        from leadscore.core import outbox

        outbox.enqueue(session, "lead.rescore", {"lead_id": lead_id})
    settle(services)
    with session_scope(services.runtime.sessions) as session:
        assert len(scores.history(session, lead_id)) == len(history)
        assert len(session.scalars(select(WebhookEvent).where(WebhookEvent.type == "score.changed")).all()) == len(events)
    assert services.cache.get(cache_key(lead_id))["trend"] == second["trend"]


def _update(**fields):
    from leadscore.leads.schemas import LeadUpdate

    return LeadUpdate(**fields)


def test_a_batch_rescoring_replaces_the_cached_scores_wherever_the_outbox_is_dispatched(services):
    from leadscore.core.outbox import OutboxMessage
    from leadscore.scoring.batch import RESCORED_TOPIC, rescore_dataset

    with session_scope(services.runtime.sessions) as session:
        _history(session, 30)
    assert run_training_job(services.runtime.sessions, dataset="rt").promoted
    settle(services)
    with session_scope(services.runtime.sessions) as session:
        lead_id = session.scalar(select(Lead.id).where(Lead.dataset == "rt").order_by(Lead.id))
    services.cache.set(cache_key(lead_id), {"score": -1, "note": "from before the batch run"})
    rescore_dataset(services.runtime.sessions, dataset="rt", chunk=7)  # a command: commits, dispatches nothing
    with session_scope(services.runtime.sessions) as session:
        queued = session.scalars(select(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None))).all()
        assert [m.payload for m in queued if m.topic == RESCORED_TOPIC] == [{"dataset": "rt", "scored": 30}]
        assert [m.payload for m in queued if m.topic == "insights.refresh"] == [{"dataset": "rt"}]
        current = scores.payload(scores.current(session, lead_id))
    assert services.cache.get(cache_key(lead_id))["score"] == -1
    settle(services)  # the server's (here: this process's) dispatcher picks the rows up
    assert services.cache.get(cache_key(lead_id)) == current


def test_leads_queued_together_are_rescored_in_one_batch_and_a_failing_one_holds_back_no_other(services, monkeypatch):
    from leadscore.scoring import tasks

    with session_scope(services.runtime.sessions) as session:
        _history(session, 30)
    assert run_training_job(services.runtime.sessions, dataset="rt").promoted
    with session_scope(services.runtime.sessions) as session:
        ids = [leads.create(session, LeadCreate(dataset="rt", external_id=f"b{i}", pre_approved=i % 2 == 0),
                            actor="t")[0].id for i in range(4)]
    settle(services)
    for lead_id in ids:
        services.cache.delete(cache_key(lead_id))

    transactions = []
    real_scope = tasks.session_scope

    def counting_scope(*args, **kwargs):
        transactions.append(1)
        return real_scope(*args, **kwargs)

    monkeypatch.setattr(tasks, "session_scope", counting_scope)
    # A duplicate among them is rescored once, in one transaction for all.
    services.tasks.handle_many("lead.rescore", [{"lead_id": i} for i in (*ids, ids[0])])
    assert len(transactions) == 1
    with session_scope(services.runtime.sessions) as session:
        expected = {i: scores.payload(scores.current(session, i)) for i in ids}
    assert {i: services.cache.get(cache_key(i)) for i in ids} == expected

    for lead_id in ids:
        services.cache.delete(cache_key(lead_id))
    real_rescore = tasks.rescore_lead

    def rescore_or_fail(services_, session, lead_id):
        if lead_id == ids[1]:
            raise RuntimeError("a lead that cannot be scored")
        return real_rescore(services_, session, lead_id)

    monkeypatch.setattr(tasks, "rescore_lead", rescore_or_fail)
    with pytest.raises(RuntimeError, match="cannot be scored"):
        services.tasks.handle_many("lead.rescore", [{"lead_id": i} for i in ids])
    cached = {i: services.cache.get(cache_key(i)) for i in ids}
    assert cached[ids[1]] is None and all(cached[i] == expected[i] for i in ids if i != ids[1])
