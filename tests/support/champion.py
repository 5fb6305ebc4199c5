"""A trained model made a dataset's champion, as a training job would leave it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope
from leadscore.registry import service as registry
from leadscore.registry.artifacts import Artifact


def install_champion(sessions: sessionmaker[Session], model: Any, *, dataset: str = "default") -> int:
    """Register ``model`` (a ``ConversionModel``) for ``dataset`` and promote it; returns its version id."""
    with session_scope(sessions) as session:
        version = registry.register(
            session, model=Artifact(model=model), kind="conversion", dataset=dataset, algorithm="lightgbm-gam", metrics={},
            features=list(model.feature_names), params={}, library_versions={}, data_fingerprint=None,
            data_start=None, data_end=None, n_train=0, n_valid=0, n_positive=0, notes="installed by a test")
        registry.promote(session, version.id, actor="test", reason="a test's champion")
        return version.id
