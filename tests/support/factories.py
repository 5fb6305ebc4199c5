"""factory_boy plumbing: every factory saves with ``flush`` into the test's session."""

from __future__ import annotations

from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

_current: dict[str, Session] = {}


def bind_factories(session: Session) -> None:
    _current["session"] = session


def current_session() -> Session:
    return _current["session"]


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        # flush, never commit: the test's outer transaction must stay in charge.
        sqlalchemy_session_persistence = "flush"
