"""Synthetic brokerage data with a known signal, for tests and speed benchmarks.

Not a demo world (that lives elsewhere): just enough realism to exercise every
feature path (typed fields, messy extras, interactions) at any size, fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TYPES = np.array(["listing_view", "saved_search", "email_open", "email_click", "call", "text", "showing",
                  "open_house", "web_visit", "form_submit", "note"])
TYPE_P = np.array([0.30, 0.05, 0.18, 0.06, 0.07, 0.06, 0.04, 0.02, 0.14, 0.04, 0.04])
OUTBOUND_TYPES = {"call", "text", "note", "email_open", "email_click"}


def make_leads(n: int = 2000, mean_interactions: float = 10.0, seed: int = 0, start: str = "2024-01-01",
               days: int = 365, extras: bool = True):
    """Return (leads, interactions, y, closed_at) with a planted, learnable signal."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start).value
    created = t0 + rng.integers(0, days * 86_400, n) * 10**9
    sources = np.array(["zillow", "website", "referral", "open_house", "facebook", "Select"])
    source = rng.choice(sources, n, p=[0.3, 0.25, 0.1, 0.1, 0.2, 0.05])
    price_max = np.round(rng.lognormal(13.0, 0.5, n), -3)
    price_min = np.where(rng.random(n) < 0.7, np.round(price_max * rng.uniform(0.6, 0.9, n), -3), np.nan)
    pre_approved = rng.random(n) < 0.3
    timeline = rng.choice([1, 3, 6, 12, 24], n).astype(float)
    engagement = rng.gamma(1.5, 1.0, n)  # latent interest
    leads = pd.DataFrame({
        "lead_id": np.arange(1, n + 1),
        "created_at": pd.to_datetime(created),
        "source": source,
        "intent": rng.choice(["buy", "sell", "rent"], n, p=[0.6, 0.3, 0.1]),
        "property_type": rng.choice(["house", "condo", "townhouse", None], n, p=[0.5, 0.3, 0.15, 0.05]),
        "price_min": price_min,
        "price_max": price_max,
        "bedrooms": rng.choice([1, 2, 3, 4, 5], n).astype(float),
        "postcode": np.array([f"9{k:04d}" for k in rng.integers(0, 300, n)]),
        "pre_approved": pre_approved,
        "timeline_months": timeline,
        "consent_email": rng.random(n) < 0.8,
    })
    if extras:
        leads["utm_campaign"] = np.array([f"cmp-{k}" for k in rng.zipf(1.6, n) % 400])
        leads["Budget Band"] = rng.choice(["Select", "low", "mid", "high"], n)
        notes = np.array(["", "Looking to buy asap, paying cash", "just looking for now",
                          "Would like a viewing this weekend please", "pre-approved and ready to move"])
        leads["message"] = rng.choice(notes, n)
        leads["last_contacted"] = pd.to_datetime(created + rng.integers(0, 60 * 86_400, n) * 10**9)

    counts = rng.poisson(mean_interactions * engagement / 1.5)
    lead_idx = np.repeat(np.arange(n), counts)
    m = len(lead_idx)
    offset = (rng.exponential(20.0, m) * 86_400 * 10**9).astype(np.int64)
    types = rng.choice(TYPES, m, p=TYPE_P)
    outbound = np.isin(types, list(OUTBOUND_TYPES)) & (rng.random(m) < 0.7)
    interactions = pd.DataFrame({
        "lead_id": lead_idx + 1,
        "occurred_at": pd.to_datetime(created[lead_idx] + offset),
        "type": types,
        "channel": rng.choice(["web", "email", "phone", "sms", "app"], m),
        "direction": np.where(outbound, "outbound", "inbound"),
        "agent_id": np.where(outbound, rng.integers(1, 40, m).astype(str), None),
        "property_id": np.where(types == "listing_view", rng.integers(1, 5000, m).astype(str), None),
        "listing_price": np.where(types == "listing_view", price_max[lead_idx] * rng.uniform(0.5, 1.4, m), np.nan),
        "listing_postcode": np.where(types == "listing_view", leads["postcode"].to_numpy()[lead_idx], None),
        "listing_bedrooms": np.where(types == "listing_view", rng.integers(1, 6, m).astype(float), np.nan),
    })
    src_effect = pd.Series({"zillow": -0.3, "website": 0.0, "referral": 1.0, "open_house": 0.6,
                            "facebook": -0.7, "Select": 0.0})
    logit = (-1.6 + 1.3 * pre_approved + 0.9 * np.log1p(engagement * 2) - 0.05 * timeline
             + src_effect[source].to_numpy() + rng.normal(0, 0.5, n))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    closed = np.where(y == 1, created + (rng.uniform(20, 120, n) * 86_400e9).astype(np.int64), np.iinfo(np.int64).min)
    closed_at = pd.Series(pd.to_datetime(np.where(y == 1, closed, np.iinfo(np.int64).min)), name="closed_at")
    return leads, interactions, pd.Series(y, name="y"), closed_at
