"""Historical lead routing: who got each lead, how (auto or manual) and why.

Auto-routing prefers an agent whose territory holds the lead's stated ZIP code,
who has the lead's intent as a specialty and who speaks its preferred language,
with randomness (Gumbel noise) for load spreading. Managers assign a quarter of
the leads by hand and quietly favour skilled agents; referrals mostly go to
the agent the referrer asked for. Agents who left hand over their open leads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NICHES = ("luxury", "condo", "first_time_buyer")


def fit_matrices(leads: pd.DataFrame, agents: pd.DataFrame) -> dict[str, np.ndarray]:
    """Lead x agent match flags (territory by stated and by true ZIP)."""
    stated = leads["postcode"].to_numpy(dtype=object)
    true_zip = leads["true_zip"].to_numpy(dtype=object)
    intent = leads["intent"].to_numpy(dtype=object)
    language = leads["preferred_language"].to_numpy(dtype=object)
    niche_of_lead = {
        "luxury": leads["luxury"].to_numpy(dtype=bool),
        "condo": leads["anchor_type"].to_numpy(dtype=object) == "condo",
        "first_time_buyer": leads["first_time_buyer"].to_numpy(dtype=bool),
    }
    shape = (len(leads), len(agents))
    out = {k: np.zeros(shape, dtype=bool) for k in ("territory_stated", "territory", "specialty", "niche", "language")}
    for a, agent in enumerate(agents.itertuples(index=False)):
        territory = list(agent.territories)
        out["territory_stated"][:, a] = np.isin(stated, territory)
        out["territory"][:, a] = np.isin(true_zip, territory)
        out["specialty"][:, a] = np.isin(intent, list(agent.specialties))
        niche = np.zeros(len(leads), dtype=bool)
        for name in NICHES:
            if name in agent.specialties:
                niche |= niche_of_lead[name]
        out["niche"][:, a] = niche
        out["language"][:, a] = (language != "en") & np.isin(language, list(agent.languages))
    return out


def route(
    rng: np.random.Generator, leads: pd.DataFrame, agents: pd.DataFrame, fit: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per lead: first agent, method, reason, delay, and the hand-over if any."""
    n, m = len(leads), len(agents)
    t0 = leads["t0"].to_numpy()
    left = agents["left_days"].to_numpy(dtype=float)  # NaN: still with the brokerage
    available = ~(left[None, :] < t0[:, None] + 30.0)
    skill = agents["skill"].to_numpy()
    score = (
        4.0 * fit["territory_stated"] + 1.2 * fit["specialty"] + 0.6 * fit["niche"] + 2.5 * fit["language"]
        + rng.gumbel(size=(n, m))
    )
    source = leads["source"].to_numpy(dtype=object)
    u = rng.random(n)
    manual = np.where(source == "referral", u < 0.6, u < 0.22)
    manual_score = 1.0 * fit["territory_stated"] + 1.5 * skill[None, :] + 1.5 * rng.gumbel(size=(n, m))
    score = np.where(manual[:, None], manual_score, score)
    score = np.where(available, score, -np.inf)
    agent = np.argmax(score, axis=1)
    rows = np.arange(n)
    # Who takes over if the agent leaves: the best-scored agent who stays.
    stays = np.isnan(left)
    handover = np.where(stays[None, :], score, -np.inf)
    handover[rows, agent] = -np.inf
    backup = np.argmax(handover, axis=1)
    terr = fit["territory_stated"][rows, agent]
    spec = fit["specialty"][rows, agent]
    lang = fit["language"][rows, agent]
    postcode = leads["postcode"].fillna("").to_numpy(dtype=object)
    intent = leads["intent"].to_numpy(dtype=object)
    language = leads["preferred_language"].to_numpy(dtype=object)
    parts = np.where(terr, "territory " + postcode, "")
    parts = parts + np.where(spec, np.where(terr, ", ", "") + "specialty " + intent, "")
    parts = parts + np.where(lang, np.where(terr | spec, ", ", "") + "speaks " + language, "")
    auto_reason = "auto: " + np.where(parts == "", "round robin (no territory or specialty match)", parts)
    manual_reason = np.where(
        source == "referral",
        "manual: the referrer asked for this agent",
        np.where(lang, "manual: team lead matched the preferred language", "manual: team lead assignment"),
    )
    delay_minutes = np.where(manual, rng.uniform(10, 240, n), rng.uniform(0.2, 5.0, n))
    return pd.DataFrame(
        {
            "agent": agent,
            "backup": backup,
            "method": np.where(manual, "manual", "auto"),
            "reason": np.where(manual, manual_reason, auto_reason),
            "assigned_by": np.where(manual, "team lead", "router"),
            "assign_delay_minutes": delay_minutes,
            "territory_match": fit["territory"][rows, agent].astype(float),
            "specialty_match": spec.astype(float),
            "niche_match": fit["niche"][rows, agent].astype(float),
        }
    )
