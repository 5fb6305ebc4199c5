from __future__ import annotations

from leadscore.leads.models import Lead
from leadscore.scoring import service
from leadscore.scoring.service import ScoreRecord
from tests.leads.factories import LeadFactory


def _record(lead_id: int, score: int, grade: str) -> ScoreRecord:
    return ScoreRecord(lead_id, score / 100, score, grade, {"top_positive": [], "top_negative": []})


def test_store_keeps_history_and_updates_the_lead(session):
    lead = LeadFactory()
    first = service.store(session, [_record(lead.id, 40, "C")], model_version_id=None)
    second = service.store(session, [_record(lead.id, 55, "B")], model_version_id=None)
    session.expire_all()
    assert first[0].previous_score is None and first[0].delta is None
    assert (second[0].previous_score, second[0].delta) == (40, 15)
    reloaded = session.get(Lead, lead.id)
    assert (reloaded.current_score, reloaded.current_grade) == (55, "B")
    assert [s.score for s in service.history(session, lead.id)] == [55, 40]
    assert service.current(session, lead.id).score == 55


def test_shadow_scores_never_become_current(session):
    lead = LeadFactory()
    service.store(session, [_record(lead.id, 40, "C")], model_version_id=None)
    service.store(session, [_record(lead.id, 90, "A")], model_version_id=None, shadow=True)
    session.expire_all()
    assert session.get(Lead, lead.id).current_score == 40
    assert service.current(session, lead.id).score == 40
    assert [s.score for s in service.history(session, lead.id, include_shadow=True)] == [90, 40]


def test_notable_changes():
    change = service.ScoreChange(1, 52, "B", 50, "B")
    assert not change.notable(5)
    assert service.ScoreChange(1, 55, "B", 50, "B").notable(5)
    assert service.ScoreChange(1, 51, "A", 50, "B").notable(5)
    assert service.ScoreChange(1, 51, "B", None, None).notable(5)


def test_an_unchanged_score_adds_no_history_row(session):
    lead = LeadFactory()
    service.store(session, [_record(lead.id, 40, "C")], model_version_id=None)
    service.store(session, [_record(lead.id, 48, "C")], model_version_id=None)
    again = service.store(session, [_record(lead.id, 48, "C")], model_version_id=None)
    assert again[0].delta == 0
    history = service.history(session, lead.id)
    assert [s.score for s in history] == [48, 40]
    assert history[0].delta == 8
