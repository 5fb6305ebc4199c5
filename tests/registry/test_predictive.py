"""Predictive models trained alongside the conversion model, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from leadscore.core.bulk import insert_rows
from leadscore.core.database import session_scope, utcnow
from leadscore.insights import predictions
from leadscore.insights.models import LeadPrediction
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead
from leadscore.ml.uplift import ACTIONS
from leadscore.registry import predictive, predictive_training, service
from leadscore.registry.models import TrainingJob
from leadscore.registry.tasks import run_training_job
from leadscore.core.outbox import OutboxMessage
from leadscore.core.services import Services
from leadscore.scoring import service as scoring
from leadscore.scoring.batch import rescore_dataset
from leadscore.scoring.tasks import PREDICT_TOPIC, rescore_lead
from tests.registry.training_support import FAST, _when, load_synthetic, runtime  # noqa: F401

pytestmark = pytest.mark.slow


def add_forecast_facts(session, *, dataset: str, seed: int) -> None:
    """Deal values for won leads, one follow-up action per lead, and some leads reopened (still open)."""
    from leadscore.leads.models import Outcome

    rng = np.random.default_rng(seed)
    leads = session.execute(select(Lead.id, Lead.created_at, Lead.price_max).where(Lead.dataset == dataset)).all()
    created = {r.id: r.created_at for r in leads}
    for outcome in session.scalars(select(Outcome).join(Lead).where(Lead.dataset == dataset)):
        if outcome.closed_at is None:
            outcome.closed_at = created[outcome.lead_id] + timedelta(days=float(rng.uniform(5, 120)))
        if outcome.result == "won":
            outcome.deal_value = float(round((outcome.lead_id % 7 + 3) * 100_000 * rng.lognormal(0, 0.1), -3))
    newest = sorted(leads, key=lambda r: r.created_at)[-len(leads) // 6:]
    reopened = [r.id for r in newest]
    session.execute(Outcome.__table__.delete().where(Outcome.lead_id.in_(reopened)))
    session.execute(Lead.__table__.update().where(Lead.id.in_(reopened)).values(status="contacted", consent_phone=True))
    actions = np.array(ACTIONS)[rng.integers(0, 7, len(leads))]
    insert_rows(session, Interaction.__table__, [
        {"dataset": dataset, "lead_id": r.id, "type": "call", "channel": "phone", "direction": "outbound",
         "occurred_at": _when(r.created_at) if r.created_at.tzinfo else r.created_at,
         "metadata": {"action": str(a)}}
        for r, a in zip(leads, actions, strict=True)
    ])
    session.flush()


def test_training_job_trains_registers_and_refreshes_predictions(runtime):  # noqa: F811
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=1500, seed=5)
        add_forecast_facts(session, dataset="syn", seed=5)
    result = run_training_job(runtime.sessions, dataset="syn", config=FAST)
    assert result.status == "succeeded" and result.promoted
    with session_scope(runtime.sessions) as session:
        jobs = {j.kind: j for j in session.scalars(select(TrainingJob).where(TrainingJob.dataset == "syn"))}
        for kind in predictive.KINDS:
            assert jobs[kind].status == "succeeded", (kind, jobs[kind].message)
            champion = service.get_champion(session, kind=kind, dataset="syn")
            assert champion is not None and champion.id == jobs[kind].model_version_id
        time_metrics = service.get_champion(session, kind="time_to_convert", dataset="syn").metrics
        assert 0.5 < time_metrics["c_index"] <= 1.0
        assert 0.0 < service.get_champion(session, kind="deal_value", dataset="syn").metrics["coverage"] <= 1.0
    rescore_dataset(runtime.sessions, dataset="syn")
    with session_scope(runtime.sessions) as session:
        rows = session.scalars(select(LeadPrediction)).all()
        statuses = dict(session.execute(select(Lead.id, Lead.status).where(Lead.dataset == "syn")).all())
        assert rows and {statuses[r.lead_id] for r in rows} == {"contacted"}
        assert len(rows) == sum(1 for s in statuses.values() if s == "contacted")
        row = rows[0]
        assert 0 <= row.p_convert_30d <= row.p_convert_60d <= row.p_convert_90d <= 1
        assert row.deal_value_p10 <= row.deal_value_p50 <= row.deal_value_p90
        assert row.next_action in ACTIONS and 8 <= row.best_contact_hour <= 20
        assert row.expected_value == pytest.approx(
            session.get(Lead, row.lead_id).current_score / 100 * row.deal_value_p50, rel=0.02)
        open_id = row.lead_id
        others = [r.lead_id for r in rows[1:4]]
        closed_id = next(i for i, status in statuses.items() if status != "contacted")
        session.execute(LeadPrediction.__table__.delete().where(LeadPrediction.lead_id == open_id))

    # The real-time path: rescoring writes the score and queues the forecasts as a follow-up task
    # in the same transaction; the task (run here by hand, as a worker would) writes them.
    services = Services.open(runtime.settings)  # its dispatcher is not started: the outbox stays put
    try:
        with session_scope(runtime.sessions) as session:
            rescore_lead(services, session, open_id)
            assert session.get(LeadPrediction, open_id) is None
            queued = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == PREDICT_TOPIC)).all()
            assert [m.payload for m in queued] == [{"lead_id": open_id}]
        services.tasks.handle(PREDICT_TOPIC, {"lead_id": open_id})
        services.tasks.handle(PREDICT_TOPIC, {"lead_id": open_id})  # a redelivery changes nothing
        with session_scope(runtime.sessions) as session:
            fresh = session.get(LeadPrediction, open_id)
            assert fresh is not None and fresh.p_convert_90d is not None and fresh.next_action in ACTIONS
            assert fresh.expected_value == pytest.approx(
                scoring.current(session, open_id).probability * fresh.deal_value_p50, rel=1e-6)
        # Queued together (a duplicate and a closed lead among them), they are computed in one batch,
        # with the values the single-lead path gives.
        services.tasks.handle_many(PREDICT_TOPIC, [{"lead_id": i} for i in (open_id, *others, open_id, closed_id)])
        with session_scope(runtime.sessions) as session:
            assert session.get(LeadPrediction, closed_id) is None
            for lead_id in (open_id, *others):
                batched = session.get(LeadPrediction, lead_id)
                single = predictions.refresh_lead(session, lead_id, as_of=utcnow(),
                                                  probability=scoring.current(session, lead_id).probability)
                assert batched.next_action == single["next_action"]
                for column in ("p_convert_90d", "deal_value_p50", "expected_value"):
                    assert getattr(batched, column) == pytest.approx(single[column], rel=1e-3), column  # seconds apart
    finally:
        services.close()


def test_a_failure_in_predictive_models_leaves_the_conversion_champion(runtime, monkeypatch):  # noqa: F811
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=600, seed=2)

    def broken(data, config):
        raise RuntimeError("survival exploded")

    monkeypatch.setitem(predictive_training.TRAINERS, "time_to_convert", broken)
    result = run_training_job(runtime.sessions, dataset="syn", config=FAST)
    assert result.status == "succeeded" and result.promoted
    with session_scope(runtime.sessions) as session:
        assert service.get_champion(session, dataset="syn").id == result.version_id
        jobs = {j.kind: j for j in session.scalars(select(TrainingJob).where(TrainingJob.dataset == "syn"))}
        assert jobs["conversion"].status == "succeeded"
        assert jobs["time_to_convert"].status == "failed" and "survival exploded" in jobs["time_to_convert"].message
        # No deal values and no recorded actions in this dataset: skipped with a clear note.
        assert jobs["deal_value"].status == "failed" and "deal value skipped" in jobs["deal_value"].message
        assert "next action skipped" in jobs["next_action"].message
        assert service.get_champion(session, kind="time_to_convert", dataset="syn") is None


def test_a_worse_candidate_does_not_replace_the_champion():
    assert not predictive.decide("time_to_convert", {"c_index": 0.70}, {"c_index": 0.75}).allowed
    assert predictive.decide("time_to_convert", {"c_index": 0.745}, {"c_index": 0.75}).allowed
    assert not predictive.decide("deal_value", {"coverage": 0.55, "median_relative_error": 0.1}, None).allowed
    assert not predictive.decide("deal_value", {"coverage": 0.8, "median_relative_error": 0.2},
                                 {"median_relative_error": 0.1}).allowed
    assert predictive.decide("next_action", {"policy_value": 0.2}, None).allowed
