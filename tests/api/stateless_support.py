"""What the stateless-scoring tests share: the request body, the champion, and a spy on the fast path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadscore.registry.tasks import run_training_job
from leadscore.scoring import stateless
from leadscore.scoring.fast_score import StatelessScoreMiddleware
from tests.api.helpers import seed_history

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy", "ratelimit")
BODY = {"leads": [{"ref": "a", "intent": "buy", "pre_approved": True, "timeline_months": 1,
                   "created_at": "2026-01-10T09:00:00Z",
                   "interactions": [{"type": "showing", "occurred_at": "2026-01-12T10:00:00+02:00",
                                     "direction": "inbound"}]},
                  {"ref": "b", "postcode": "  98103 "}]}


@pytest.fixture
def answered(monkeypatch) -> list[bool]:
    """What the fast path did per request (True: answered itself); ``FORCE_ROUTE`` in it hands over."""
    outcomes: list[bool] = []
    original = StatelessScoreMiddleware._answer

    async def spy(self, scope, receive, received, send):  # noqa: ANN001, ANN202
        if outcomes and outcomes[-1] is FORCE_ROUTE:
            outcomes[-1] = False
            return False
        outcomes.append(await original(self, scope, receive, received, send))
        return outcomes[-1]

    monkeypatch.setattr(StatelessScoreMiddleware, "_answer", spy)
    return outcomes


FORCE_ROUTE = object()


@pytest.fixture
def champion(api, monkeypatch) -> None:
    services = api.client.app.state.services
    seed_history(services)
    assert run_training_job(services.runtime.sessions, dataset="default").promoted
    # Both answers are scored "now": the same now, so the same bytes.
    monkeypatch.setattr(stateless, "utcnow", lambda: datetime(2026, 2, 1, tzinfo=UTC))
