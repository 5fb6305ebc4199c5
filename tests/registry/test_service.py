from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadscore.core.audit import AuditEntry
from leadscore.core.outbox import OutboxMessage
from leadscore.registry import service
from leadscore.registry.models import ModelVersion
from tests.registry.factories import ModelVersionFactory


def _register(session, dataset="d", **extra):
    return service.register(
        session, model={"weights": [1, 2, 3]}, kind="conversion", dataset=dataset, algorithm="lightgbm",
        metrics={"roc_auc": 0.81}, features=["a", "b"], params={"n": 1}, library_versions={"lightgbm": "4"},
        data_fingerprint="abc", data_start=None, data_end=None, n_train=100, n_valid=20, n_positive=30, **extra,
    )


def test_register_numbers_versions_and_keeps_the_artifact(session):
    first, second = _register(session), _register(session)
    other = _register(session, dataset="other")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.state == "candidate"
    assert service.load_model(session, second) == {"weights": [1, 2, 3]}


def test_promote_retires_the_previous_champion_and_records_it(session):
    first, second = _register(session), _register(session)
    service.promote(session, first.id, actor="admin")
    service.promote(session, second.id, actor="admin")
    assert service.get_champion(session, dataset="d").id == second.id
    assert first.state == "retired" and first.retired_at is not None
    actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("model.promoted") == 2
    topics = session.scalars(select(OutboxMessage.topic)).all()
    assert topics == ["model.promoted", "model.promoted"]


def test_rollback_restores_the_previous_champion(session):
    first, second = _register(session), _register(session)
    service.promote(session, first.id, actor="admin")
    service.promote(session, second.id, actor="admin")
    restored = service.rollback(session, dataset="d", actor="admin")
    assert restored.id == first.id
    assert service.get_champion(session, dataset="d").id == first.id
    assert second.state == "retired"


def test_rollback_without_history_is_refused(session):
    only = _register(session)
    service.promote(session, only.id, actor="admin")
    with pytest.raises(service.RegistryError, match="no earlier champion"):
        service.rollback(session, dataset="d", actor="admin")


def test_database_refuses_two_champions(session):
    ModelVersionFactory(dataset="x", version=1, state="champion")
    with pytest.raises(IntegrityError):
        ModelVersionFactory(dataset="x", version=2, state="champion")


@pytest.mark.parametrize(
    ("candidate", "champion", "metric", "allowed"),
    [
        ({"roc_auc": 0.80}, None, "roc_auc", True),
        ({"roc_auc": 0.80}, {"roc_auc": 0.802}, "roc_auc", True),  # within tolerance
        ({"roc_auc": 0.79}, {"roc_auc": 0.80}, "roc_auc", False),
        ({"log_loss": 0.40}, {"log_loss": 0.41}, "log_loss", True),
        ({"log_loss": 0.45}, {"log_loss": 0.40}, "log_loss", False),
        ({}, {"roc_auc": 0.8}, "roc_auc", False),
    ],
)
def test_promotion_check(candidate, champion, metric, allowed):
    check = service.check_promotion(candidate, champion, metric=metric, tolerance=0.005)
    assert check.allowed is allowed
    assert check.reason


def test_champion_cannot_be_demoted_directly(session):
    version = _register(session)
    service.promote(session, version.id, actor="admin")
    with pytest.raises(service.RegistryError):
        service.set_state(session, version.id, "challenger", actor="admin")
    other = _register(session)
    assert service.set_state(session, other.id, "challenger", actor="admin").state == "challenger"
    assert [v.id for v in service.get_challengers(session, dataset="d")] == [other.id]


def test_unknown_version_is_a_clear_error(session):
    with pytest.raises(service.RegistryError, match="does not exist"):
        service.get(session, 987654)
    assert session.scalar(select(ModelVersion).where(ModelVersion.id == 987654)) is None
