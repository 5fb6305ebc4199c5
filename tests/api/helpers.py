"""Small helpers shared by the API tests: waiting, and a trained cold-start champion."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from leadscore.core.database import session_scope
from leadscore.leads.models import Lead, Outcome

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def seed_history(services: Any, dataset: str = "default", n: int = 30) -> None:
    """Closed leads to train on (few: training falls back to the rules model, fast)."""
    with session_scope(services.runtime.sessions) as session:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(n):
            lead = Lead(dataset=dataset, external_id=f"h{i}", created_at=start + timedelta(days=i), attributes={},
                        status="won" if i % 3 == 0 else "lost")
            session.add(lead)
            session.flush()
            session.add(Outcome(lead_id=lead.id, result=lead.status, closed_at=lead.created_at + timedelta(days=9)))


def no_wait(problem: dict) -> dict:
    """A 429 problem without its seconds to wait, which two answers a moment apart may not share."""
    return {**problem, "detail": re.sub(r"retry in \d+ s", "retry in N s", problem["detail"])}
