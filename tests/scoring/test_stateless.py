"""Stateless scoring in batches gives what the single-lead path gives, and one bad request fails alone."""

from __future__ import annotations

import asyncio
import json
import math

import pandas as pd
import pytest

from leadscore.leads.frames import naive_utc
from leadscore.ml import TrainingConfig, train_conversion_model
from leadscore.ml.synthetic import make_leads
from leadscore.scoring.schemas import ScoreRequest, ScoreResponse
from leadscore.scoring.stateless import ONLINE_BELOW, StatelessBatcher, online, render, score_requests
from tests.support.trained import synthetic_data

NOW = pd.Timestamp("2025-01-15 12:00:00", tz="UTC").to_pydatetime()
FIELDS = ("source", "intent", "property_type", "price_min", "price_max", "postcode", "pre_approved", "consent_email")


@pytest.fixture(scope="module")
def world(synthetic_model):
    leads, ix, _, _ = synthetic_data()
    model = synthetic_model
    assert model.kind != "rules"  # the GA²M, with interaction features: the interesting case
    return leads, ix, model


def _payload(lead: dict, interactions: pd.DataFrame, n: int) -> dict:
    item: dict = {"ref": f"lead-{n}", "created_at": lead["created_at"].isoformat() + "Z"}
    for name in FIELDS:
        value = lead[name]
        if not (isinstance(value, float) and math.isnan(value)):
            item[name] = value.item() if hasattr(value, "item") else value
    for name in ("bedrooms", "timeline_months"):
        if not math.isnan(lead[name]):
            item[name] = int(lead[name])
    item["attributes"] = {"utm_campaign": lead["utm_campaign"], "Budget Band": lead["Budget Band"],
                          "message": lead["message"]}
    if n % 5 == 1:
        item.pop("price_max", None)  # missing fields and attributes: NaN in a frame, None one by one
        del item["attributes"]["Budget Band"]
    rows = [] if n % 7 == 3 else interactions[interactions["lead_id"] == lead["lead_id"]].to_dict("records")
    item["interactions"] = [{
        "type": r["type"], "occurred_at": r["occurred_at"].isoformat() + "Z", "channel": r["channel"],
        "direction": r["direction"],
        **({"listing_price": r["listing_price"]} if not math.isnan(r["listing_price"]) else {}),
        **({"listing_postcode": r["listing_postcode"]} if isinstance(r["listing_postcode"], str) else {}),
    } for r in rows]
    return item


def _requests(leads: pd.DataFrame, ix: pd.DataFrame, sizes: list[int]) -> list[ScoreRequest]:
    out, n = [], 0
    for size in sizes:
        items = []
        for _ in range(size):
            items.append(_payload(leads.iloc[n].to_dict(), ix, n))
            n += 1
        out.append(ScoreRequest.model_validate({"dataset": "default", "leads": items}))
    return out


def _same_answers(batched: list, alone: list) -> None:
    for got_request, want_request in zip(batched, alone):
        for got, want in zip(got_request, want_request):
            assert got["ref"] == want["ref"] and got["score"] == want["score"] and got["grade"] == want["grade"]
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-9)
            assert got["base_score"] == pytest.approx(want["base_score"], abs=1e-9)
            for side in ("top_positive", "top_negative"):
                assert [(r["feature"], r["sentence"]) for r in got[side]] == \
                       [(r["feature"], r["sentence"]) for r in want[side]]
                assert [r["points"] for r in got[side]] == pytest.approx([r["points"] for r in want[side]])


def test_a_batch_of_requests_scores_as_each_lead_alone(world):
    leads, ix, model = world
    requests = _requests(leads, ix, [1, 5, 1, 20])
    now = naive_utc(NOW)
    batched, alone = score_requests(requests, model, NOW), online(requests, model, now)
    assert [len(r) for r in batched] == [len(r) for r in alone] == [1, 5, 1, 20]
    _same_answers(batched, alone)
    # A pass with fewer leads than ONLINE_BELOW is scored one by one: the same answer.
    assert len(requests[0].leads) < ONLINE_BELOW <= sum(len(r.leads) for r in requests)
    assert score_requests(requests[:1], model, NOW)[0] == alone[0]
    # What is sent is the documented document, field for field.
    body = render(5, batched[3])
    assert ScoreResponse.model_validate_json(body).model_dump() == {"model_version_id": 5, "results": batched[3]}
    assert json.loads(body) == {"model_version_id": 5, "results": batched[3]}


def test_concurrent_requests_are_answered_each_with_its_own_leads(world):
    leads, ix, model = world
    requests = _requests(leads, ix, [2] * 12)
    batcher = StatelessBatcher()

    async def all_at_once() -> list[bytes]:
        return await asyncio.gather(*(batcher.score(r, 7, model) for r in requests))

    bodies = asyncio.run(all_at_once())
    alone = score_requests(requests, model, None)
    for request, body, expected in zip(requests, bodies, alone):
        document = __import__("json").loads(body)
        assert document["model_version_id"] == 7
        assert [r["ref"] for r in document["results"]] == [item.ref for item in request.leads]
        assert [r["score"] for r in document["results"]] == [r["score"] for r in expected]


class Fussy:
    """A model that cannot score postcode 'boom' (stands in for any failure inside one request)."""

    def __init__(self, model) -> None:
        self.model = model

    def score(self, frame, interactions, as_of):  # noqa: ANN001, ANN201
        if (frame["postcode"] == "boom").any():
            raise ValueError("cannot score postcode boom")
        return self.model.score(frame, interactions, as_of=as_of)

    def score_records(self, leads, interactions, owners, as_of):  # noqa: ANN001, ANN201
        if any(lead.get("postcode") == "boom" for lead in leads):
            raise ValueError("cannot score postcode boom")
        return self.model.score_records(leads, interactions, owners, as_of=as_of)

    def score_one(self, lead, interactions, as_of):  # noqa: ANN001, ANN201
        if lead.get("postcode") == "boom":
            raise ValueError("cannot score postcode boom")
        return self.model.score_one(lead, interactions, as_of=as_of)


def test_a_failing_request_fails_alone(world):
    leads, ix, model = world
    good_a, bad, good_b = _requests(leads, ix, [2, 1, 3])
    bad.leads[0].postcode = "boom"
    batcher = StatelessBatcher()
    fussy = Fussy(model)

    async def together() -> list:
        return await asyncio.gather(*(batcher.score(r, 1, fussy) for r in (good_a, bad, good_b)),
                                    return_exceptions=True)

    outcomes = asyncio.run(together())
    assert isinstance(outcomes[1], ValueError) and "boom" in str(outcomes[1])
    assert isinstance(outcomes[0], bytes) and isinstance(outcomes[2], bytes)
    assert b'"ref":"lead-0"' in outcomes[0] and b'"ref":"lead-5"' in outcomes[2]


def test_a_rules_champion_scores_a_batch_as_each_lead_alone():
    # Too few closed leads for a trained model: the cold-start rules, which read frames.
    leads, ix, y, closed = make_leads(70, mean_interactions=8, seed=4)
    model = train_conversion_model(leads, y, ix, closed_at=closed, config=TrainingConfig(seed=1, cv_folds=3))
    assert model.kind == "rules"
    requests = _requests(leads, ix, [4, 2])
    batched = score_requests(requests, model, NOW)
    _same_answers(batched, online(requests, model, naive_utc(NOW)))
    assert any(r["top_positive"] or r["top_negative"] for request in batched for r in request)
