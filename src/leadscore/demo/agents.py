"""The brokerage's agents: territories, specialties, languages, capacity, habits and hidden skill."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from leadscore.demo import names
from leadscore.demo.geography import AREA_NAMES, AREAS
from leadscore.demo.mechanism import ACTIONS

INTENT_SPECIALTIES = ("buy", "sell", "rent", "invest")
NICHE_SPECIALTIES = ("luxury", "condo", "first_time_buyer")
EXTRA_LANGUAGES = np.array(["es", "zh", "vi", "ko", "ru", "so", "tl"], dtype=object)
EXTRA_LANGUAGE_P = np.array([0.35, 0.2, 0.15, 0.1, 0.08, 0.06, 0.06])
SKILL_SD = 0.35


def agent_count(n_leads: int) -> int:
    """About 40 agents for 50,000 leads a year, fewer (at least 4) for small worlds."""
    return max(4, int(round(40 * np.sqrt(n_leads / 50_000))))


def make_agents(rng: np.random.Generator, n_leads: int, start: datetime, end: datetime) -> tuple[pd.DataFrame, np.ndarray]:
    """Agents and their action habits (log-weights, n_agents x len(ACTIONS))."""
    n = agent_count(n_leads)
    first, last = names.names(rng, n)
    home = rng.permutation(np.resize(np.arange(len(AREA_NAMES)), n))
    second = np.where(rng.random(n) < 0.3, (home + rng.integers(1, len(AREA_NAMES), n)) % len(AREA_NAMES), -1)
    territories = []
    for h, s in zip(home, second, strict=True):
        zips = list(AREAS[AREA_NAMES[h]])
        if s >= 0:
            extra = list(AREAS[AREA_NAMES[s]])
            zips += [extra[i] for i in sorted(rng.choice(len(extra), size=min(3, len(extra)), replace=False))]
        territories.append(zips)
    specialties = []
    for _ in range(n):
        k = rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2])
        picked = list(rng.choice(INTENT_SPECIALTIES, size=k, replace=False, p=[0.45, 0.3, 0.12, 0.13]))
        if rng.random() < 0.45:
            picked.append(str(rng.choice(NICHE_SPECIALTIES)))
        specialties.append([s for s in INTENT_SPECIALTIES + NICHE_SPECIALTIES if s in picked])
    languages = [
        ["en"] + ([str(rng.choice(EXTRA_LANGUAGES, p=EXTRA_LANGUAGE_P))] if rng.random() < 0.3 else [])
        for _ in range(n)
    ]
    skill = rng.normal(0.0, SKILL_SD, n)
    window = (end - start).days
    leaves = (rng.random(n) < 0.1) & (np.arange(n) > 0)
    left_at = [
        start + timedelta(days=float(rng.uniform(120, window - 45))) if gone else None for gone in leaves
    ]
    load = n_leads * 0.16 / n  # leads open at any time per agent, roughly
    frame = pd.DataFrame(
        {
            "external_id": [f"agent-{i + 1:03d}" for i in range(n)],
            "name": first + " " + last,
            "email": names.emails(first, last, np.arange(1, n + 1), "brokerage.example.com"),
            "phone": names.phones(rng, n),
            "team": [AREA_NAMES[h] for h in home],
            "specialties": specialties,
            "languages": languages,
            "territories": territories,
            "capacity": np.maximum(10, np.round(load * rng.uniform(0.8, 1.6, n))).astype(np.int64),
            "active": ~leaves,
            "left_at": pd.to_datetime(pd.Series(left_at, dtype="object"), utc=True),
            # Hidden: never written to the database, only to the truth export.
            "skill": skill,
            "response_median_minutes": np.exp(rng.normal(np.log(40.0), 1.0, n) - 0.8 * skill),
            "decision_lag_days": rng.uniform(2.0, 8.0, n),
            "diligence": rng.uniform(0.04, 0.12, n),
        }
    )
    habits = np.log(rng.dirichlet(np.full(len(ACTIONS), 1.5), size=n))
    return frame, habits
