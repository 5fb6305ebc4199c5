"""Stateless scoring in the helper process answers as the route does, and the API copes when it dies."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from leadscore.scoring import offload, stateless
from tests.api.stateless_support import BODY, FORCE_ROUTE, RATE_HEADERS, answered, champion  # noqa: F401

NOW = datetime(2026, 2, 1, tzinfo=UTC)  # the `champion` fixture's clock


async def _until(condition, seconds: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_the_process_answers_as_the_route_declines_what_the_route_must_answer_and_restarts(
        api, champion, answered, monkeypatch):  # noqa: F811
    answered.append(FORCE_ROUTE)
    expected = api.client.post("/v1/score", json=BODY, headers=api.score)
    assert expected.status_code == 200
    settings = api.client.app.state.services.settings
    monkeypatch.setattr(offload, "RESTART_AFTER", 0.1)

    async def scenario() -> None:
        process = offload.ScoringProcess(settings)
        await process.start()
        try:
            await _until(lambda: process.ready)
            body = json.dumps(BODY).encode()
            no_champion = json.dumps({**BODY, "dataset": "elsewhere"}).encode()
            answers = await asyncio.gather(process.score(body), process.score(b'{"leads": []}'),
                                           process.score(no_champion), process.score(b"\xef\xbb\xbf{}"),
                                           process.score(body))
            assert answers == [expected.content, None, None, None, expected.content]
            # The child dies: what it held is declined (the route answers it), then a new one serves.
            first = process._process
            first.kill()
            await _until(lambda: not process.ready, 30)
            assert await process.score(body) is None
            await _until(lambda: process.ready)
            assert process._process is not first and not first.is_alive()
            assert await process.score(body) == expected.content
        finally:
            child = process._process
            await process.close()
        assert not child.is_alive()

    asyncio.run(scenario())


class _Helper:
    """Stands in for the helper process: answers every body with ``answer``."""

    ready = True

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.bodies: list[bytes] = []

    async def score(self, body: bytes) -> bytes | None:
        self.bodies.append(body)
        return self.answer


def test_the_fast_path_sends_the_helpers_answer_with_the_rate_headers_and_counts_it_once(api, answered):
    helper = api.client.app.state.scoring_process = _Helper(b'{"model_version_id":1,"results":[]}')
    try:
        first = api.client.post("/v1/score", json=BODY, headers=api.score)
        second = api.client.post("/v1/score", json=BODY, headers=api.score)
    finally:
        del api.client.app.state.scoring_process
    assert answered == [True, True] and len(helper.bodies) == 2
    assert json.loads(helper.bodies[0]) == BODY
    assert first.status_code == 200 and first.content == helper.answer
    assert first.headers["content-type"] == "application/json"
    assert all(name in first.headers for name in RATE_HEADERS)
    assert int(first.headers["ratelimit-remaining"]) - int(second.headers["ratelimit-remaining"]) == 1


def test_a_body_the_helper_declines_is_answered_by_the_route(api, champion, answered):  # noqa: F811
    helper = api.client.app.state.scoring_process = _Helper(None)
    try:
        declined = api.client.post("/v1/score", json=BODY, headers=api.score)
        invalid = api.client.post("/v1/score", json={"leads": []}, headers=api.score)
    finally:
        del api.client.app.state.scoring_process
    answered.append(FORCE_ROUTE)
    by_route = api.client.post("/v1/score", json=BODY, headers=api.score)
    assert answered == [False, False, False] and len(helper.bodies) == 2
    assert declined.status_code == 200 and declined.content == by_route.content
    assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
    # Counted once, by the route.
    assert int(declined.headers["ratelimit-remaining"]) - int(invalid.headers["ratelimit-remaining"]) == 1


def test_answer_bodies_scores_as_of_the_given_time(api, champion):  # noqa: F811
    from leadscore.scoring.model_cache import ModelCache
    from leadscore.scoring.request_reader import RequestReader

    services = api.client.app.state.services
    body = json.dumps(BODY).encode()
    answers, scored = offload.answer_bodies([body, b"[]", body], RequestReader(), ModelCache(),
                                            services.runtime.sessions, NOW)
    assert scored == 4 and answers[1] is None and answers[0] == answers[2]
    later, _ = offload.answer_bodies([body], RequestReader(), ModelCache(), services.runtime.sessions,
                                     datetime(2026, 6, 1, tzinfo=UTC))
    assert json.loads(later[0])["results"][0]["ref"] == "a"
    assert stateless.utcnow() == NOW  # the fixture's clock, which the parent sends with each batch
