"""Interaction streams: Poisson-process activity per lead, vectorised over all leads.

Times are float days since the world's start. Each generator returns an
``Events`` block (parallel arrays); blocks are concatenated, cut at "now" and
sorted by lead and time at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.demo.properties import PriceIndex

TYPES = (
    "listing_view", "web_visit", "saved_search", "favorite", "email_open", "email_click", "call", "text",
    "open_house", "form_submit", "email_sent", "showing", "meeting", "offer",
)
T = {name: code for code, name in enumerate(TYPES)}
BROWSING = ("listing_view", "web_visit", "saved_search", "favorite", "email_open", "email_click", "call", "text", "open_house")
BROWSING_WEIGHT = np.array([0.40, 0.16, 0.05, 0.08, 0.14, 0.06, 0.04, 0.04, 0.03])
SELLER_WEIGHT = np.array([0.25, 0.35, 0.01, 0.02, 0.16, 0.07, 0.05, 0.05, 0.04])
NEEDS_PROPERTY = {T["listing_view"], T["favorite"], T["open_house"], T["showing"]}

CHANNELS = ("web", "portal", "email", "phone", "sms", "in_person", "paid_social", "paid_search", "referral", "event")
C = {name: code for code, name in enumerate(CHANNELS)}
DIRECTIONS = ("inbound", "outbound")

SUBJECTS = (
    "New listings that match your search",
    "Price drop on a home you viewed",
    "This weekend's open houses",
    "Your monthly market report",
)
PAGES = ("search", "neighbourhood-guide", "mortgage-calculator", "home-valuation")


def dumps(value: dict) -> str:
    return json.dumps(value, separators=(", ", ": "))


@dataclass
class Events:
    lead: np.ndarray
    t: np.ndarray
    type: np.ndarray
    inbound: np.ndarray
    channel: np.ndarray
    agent: np.ndarray  # -1: none
    prop: np.ndarray  # -1: none
    meta: np.ndarray  # JSON text

    @classmethod
    def make(cls, lead, t, type, inbound, channel, agent=None, prop=None, meta=None) -> Events:  # noqa: A002
        n = len(lead)
        full = lambda v, fill, dtype: (  # noqa: E731
            np.full(n, fill, dtype=dtype) if v is None else np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()
        )
        return cls(
            lead=np.asarray(lead, dtype=np.int64),
            t=np.asarray(t, dtype=float),
            type=full(type, 0, np.int64),
            inbound=full(inbound, True, bool),
            channel=full(channel, 0, np.int64),
            agent=full(agent, -1, np.int64),
            prop=full(prop, -1, np.int64),
            meta=full(meta, "{}", object),
        )

    @classmethod
    def concat(cls, blocks: list[Events]) -> Events:
        return cls(**{f: np.concatenate([getattr(b, f) for b in blocks]) for f in cls.__dataclass_fields__})

    def take(self, index: np.ndarray) -> Events:
        return Events(**{f: getattr(self, f)[index] for f in self.__dataclass_fields__})


def poisson_times(
    rng: np.random.Generator, rate: np.ndarray, start: np.ndarray, span: np.ndarray, tau: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Event times of a Poisson process per lead on (start, start + span).

    Constant ``rate`` per day, or ``rate * exp(-(t - start) / tau)`` when ``tau`` is given.
    Returns (lead index, time) for every event.
    """
    span = np.maximum(span, 0.0)
    if tau is None:
        mean = rate * span
    else:
        mean = rate * tau * (1.0 - np.exp(-span / tau))
    count = rng.poisson(mean)
    lead = np.repeat(np.arange(len(rate)), count)
    u = rng.random(len(lead))
    if tau is None:
        offset = u * span[lead]
    else:
        offset = -tau * np.log1p(-u * (1.0 - np.exp(-span[lead] / tau)))
    return lead, start[lead] + np.clip(offset, 1e-6, None)


def browsing_types(rng: np.random.Generator, lead: np.ndarray, leads: pd.DataFrame) -> np.ndarray:
    """Type codes of inbound browsing events, by the lead's intent, contacts and drive."""
    seller = (leads["intent"].to_numpy(dtype=object) == "sell")[lead]
    weight = np.where(seller[:, None], SELLER_WEIGHT, BROWSING_WEIGHT)
    weight = weight.copy()
    no_email = ~leads["consent_email"].to_numpy(dtype=bool)[lead]
    no_phone = pd.isna(leads["phone"]).to_numpy()[lead]
    weight[no_email, 4:6] = 0.0
    weight[no_phone, 6:8] = 0.0
    weight[:, 6] *= np.exp(0.3 * leads["intent_strength"].to_numpy()[lead])
    cumulative = np.cumsum(weight, axis=1)
    pick = (cumulative < rng.random(len(lead))[:, None] * cumulative[:, -1:]).sum(axis=1)
    return np.array([T[name] for name in BROWSING])[pick]


def browsing_events(
    rng: np.random.Generator, lead: np.ndarray, t: np.ndarray, leads: pd.DataFrame, index: PriceIndex
) -> Events:
    """Inbound browsing with listing references near the lead's area and price level."""
    type_code = browsing_types(rng, lead, leads)
    n = len(lead)
    portal = leads["source"].to_numpy(dtype=object)[lead] == "portal"
    web = np.where(portal, C["portal"], C["web"])
    channel = np.select(
        [np.isin(type_code, [T["email_open"], T["email_click"]]), type_code == T["call"], type_code == T["text"],
         type_code == T["open_house"]],
        [C["email"], C["phone"], C["sms"], C["in_person"]],
        web,
    )
    wants = np.isin(type_code, list(NEEDS_PROPERTY)) | ((type_code == T["email_click"]) & (rng.random(n) < 0.6))
    prop = np.where(wants, listing_near(rng, lead, leads, index), -1)
    meta = np.full(n, "{}", dtype=object)
    subject = np.array([dumps({"subject": s}) for s in SUBJECTS], dtype=object)
    is_email = np.isin(type_code, [T["email_open"], T["email_click"]])
    meta[is_email] = subject[rng.integers(0, len(SUBJECTS), int(is_email.sum()))]
    seller = leads["intent"].to_numpy(dtype=object)[lead] == "sell"
    pages = np.array([dumps({"page": p}) for p in PAGES], dtype=object)
    is_web = type_code == T["web_visit"]
    page = np.where(seller & (rng.random(n) < 0.6), 3, rng.integers(0, 3, n))
    meta[is_web] = pages[page[is_web]]
    is_search = type_code == T["saved_search"]
    if is_search.any():
        rows = lead[is_search]
        zips = index.zips[leads["zip_code"].to_numpy()[rows]].astype(object)
        cap = np.round(leads["afford"].to_numpy()[rows] * 1.1, -4).astype(np.int64).astype(str).astype(object)
        meta[is_search] = '{"postcode": "' + zips + '", "max_price": ' + cap + "}"
    return Events.make(lead, t, type_code, True, channel, prop=prop, meta=meta)


def listing_near(
    rng: np.random.Generator, lead: np.ndarray, leads: pd.DataFrame, index: PriceIndex, spread: float = 0.12
) -> np.ndarray:
    """A listing in the lead's ZIP (70 %) or a neighbouring one, priced near its search level."""
    zip_code = leads["zip_code"].to_numpy()[lead]
    zip_code = np.where(rng.random(len(lead)) < 0.3, index.neighbour_zip(zip_code, rng), zip_code)
    seller = leads["intent"].to_numpy(dtype=object)[lead] == "sell"
    stretch = np.where(seller, 0.0, leads["budget_stretch"].to_numpy()[lead])
    target = leads["afford"].to_numpy()[lead] * np.exp(stretch + rng.normal(0.0, spread, len(lead)))
    return index.nearest(zip_code, target, rng)
