"""The process-wide handles a command, worker or app needs, built from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core import migrate
from leadscore.core.config import Settings, load_settings
from leadscore.core.database import check_connection, make_engine, make_session_factory


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool | None = None) -> Runtime:
        """Connect (failing with a one-line ConfigError) and migrate if allowed."""
        settings = settings or load_settings()
        engine = make_engine(settings)
        check_connection(engine)
        if settings.auto_upgrade if upgrade is None else upgrade:
            migrate.ensure_current(engine)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    def close(self) -> None:
        self.engine.dispose()
