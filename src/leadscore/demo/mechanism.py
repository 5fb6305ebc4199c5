"""The demo world's hidden conversion mechanism: the known truth later work is measured against.

A lead's chance to convert is a logistic function of what is true about it at
the *decision time* (when its agent picks a follow-up action, a few days after
arrival) plus the action's effect, which depends on the lead. Every number used
is in this module and copied into ``docs/demo-world.md``; the product never
imports this module (only ``leadscore.demo`` does).

Features (one row per lead, columns named as below):

- ``intent_strength``: latent, standard normal; also drives how active the lead is.
- ``hidden_noise``: latent, normal with sd ``NOISE_SD``; drives nothing else.
- ``inbound_pre``: inbound interactions between arrival and decision (not counting
  the enquiry that created the lead).
- ``staleness_days``: days since the last inbound interaction, at decision time.
- ``budget_stretch``: log of (price level of the listings the lead looks at / the
  price the lead can really afford); visible as viewed prices vs. the stated budget.
- ``financing``: cash, mortgage_pre_approved, mortgage_not_pre_approved, unknown,
  or "" (not asked: sellers and renters).
- ``timeline_months``: the lead's true timeline (the stated one is sometimes missing).
- ``response_minutes``: the assigned agent's first response time.
- ``source``: lead channel; ``intent``: buy, sell, rent, invest.
- ``agent_skill``: the assigned agent's hidden skill (logit points).
- ``territory_match``, ``specialty_match``, ``niche_match``: 0/1 agent fit.

No protected characteristic exists in the world, and the lead's preferred
contact language (used for routing) has no term here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ACTIONS: tuple[str, ...] = (
    "call",
    "text",
    "email_listings",
    "book_showing",
    "open_house_invite",
    "nurture_email",
    "re_engage",
)

INTERCEPT = -3.05
NOISE_SD = 0.45

COEFFICIENTS: dict[str, float] = {
    "intent_strength": 0.55,  # latent commitment (partly visible through activity and financing)
    "log1p_inbound_pre": 0.35,  # engagement before the decision
    "staleness_days": -0.08,  # per day since the last inbound activity
    "stretch_above": -2.0,  # per log-unit looking above what they can afford
    "stretch_below": -1.0,  # per log-unit looking well below it
    "log2_timeline_over_3": -0.35,  # 1 month +0.55, 3 months 0, 12 months -0.70
    "log10_response": -0.30,  # x log10(1 + minutes / 5): 5 min -0.09, 1 h -0.34, 1 day -0.76
    "agent_skill": 1.0,
    "territory_match": 0.35,
    "specialty_match": 0.25,
    "niche_match": 0.15,
}

FINANCING_EFFECT: dict[str, float] = {
    "cash": 0.45,
    "mortgage_pre_approved": 0.55,
    "mortgage_not_pre_approved": -0.35,
    "unknown": -0.15,
    "": 0.0,
}

SOURCE_EFFECT: dict[str, float] = {
    "referral": 0.70,
    "walk_in": 0.40,
    "open_house": 0.25,
    "website_form": 0.10,
    "portal": -0.10,
    "google_ads": -0.15,
    "facebook_ads": -0.55,
}

INTENT_EFFECT: dict[str, float] = {"buy": 0.0, "sell": 0.15, "rent": 0.45, "invest": -0.10}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def signals(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Smooth 0..1 signals the action effects are built from."""
    intent = features["intent"].to_numpy(dtype=object)
    timeline = features["timeline_months"].to_numpy(dtype=float)
    financing = features["financing"].to_numpy(dtype=object)
    financed = np.isin(financing, ["cash", "mortgage_pre_approved"])
    buyer = np.isin(intent, ["buy", "invest"])
    return {
        # "Highly engaged": about 50 % at 5 inbound events, 90 % at 8.
        "engaged": _sigmoid((features["inbound_pre"].to_numpy(dtype=float) - 5.0) / 1.3),
        # "Ready to transact": buyers with cash or pre-approval, renters, sellers within 3 months.
        "ready": np.where(buyer, financed, np.where(intent == "rent", 1.0, timeline <= 3)).astype(float),
        "fast": _sigmoid((3.5 - timeline) / 0.8),  # timeline of 3 months or less
        "early": _sigmoid((timeline - 7.0) / 1.5),  # timeline of 9 months or more
        "stale": _sigmoid((features["staleness_days"].to_numpy(dtype=float) - 4.0) / 0.8),
        "buyer": buyer.astype(float),
        "house_hunter": np.isin(intent, ["buy", "invest", "rent"]).astype(float),
    }


def action_effects(features: pd.DataFrame) -> np.ndarray:
    """Logit change of each action in ``ACTIONS`` for each lead (n_leads x n_actions).

    The reference is "no specific follow-up" (effect 0).
    """
    s = signals(features)
    effects = {
        # A call helps leads that want to move soon; long-timeline leads find it pushy.
        "call": 0.10 + 0.45 * s["fast"] - 0.15 * s["early"],
        # A text helps while the lead is active.
        "text": 0.05 + 0.25 * (1.0 - s["stale"]),
        # Matching listings help engaged, active house hunters.
        "email_listings": 0.05 + 0.40 * s["engaged"] * (1.0 - s["stale"]) * s["house_hunter"],
        # A showing (for sellers: a listing appointment) is the strongest step for
        # engaged, ready leads and never hurts.
        "book_showing": 0.90 * s["engaged"] * s["ready"],
        # Open houses suit early-stage buyers, more so when not yet very engaged.
        "open_house_invite": s["buyer"] * (0.45 * s["early"] + 0.15 * (1.0 - s["engaged"])),
        # Nurture emails are for long timelines and waste a hot lead's time.
        "nurture_email": 0.50 * s["early"] - 0.30 * s["fast"],
        # Re-engagement helps leads that went quiet and annoys active ones.
        "re_engage": 0.70 * s["stale"] - 0.20 * (1.0 - s["stale"]),
    }
    return np.column_stack([effects[a] for a in ACTIONS])


def base_logit(features: pd.DataFrame) -> np.ndarray:
    """Everything except the action's effect."""
    c = COEFFICIENTS
    stretch = features["budget_stretch"].to_numpy(dtype=float)
    timeline = features["timeline_months"].to_numpy(dtype=float)
    minutes = features["response_minutes"].to_numpy(dtype=float)
    lookup = lambda table, column: (  # noqa: E731
        features[column].map(table).fillna(0.0).to_numpy(dtype=float)
    )
    return (
        INTERCEPT
        + c["intent_strength"] * features["intent_strength"].to_numpy(dtype=float)
        + features["hidden_noise"].to_numpy(dtype=float)
        + c["log1p_inbound_pre"] * np.log1p(features["inbound_pre"].to_numpy(dtype=float))
        + c["staleness_days"] * features["staleness_days"].to_numpy(dtype=float)
        + c["stretch_above"] * np.maximum(stretch, 0.0)
        + c["stretch_below"] * np.maximum(-stretch - 0.10, 0.0)
        + c["log2_timeline_over_3"] * np.log2(timeline / 3.0)
        + c["log10_response"] * np.log10(1.0 + minutes / 5.0)
        + lookup(FINANCING_EFFECT, "financing")
        + lookup(SOURCE_EFFECT, "source")
        + lookup(INTENT_EFFECT, "intent")
        + c["agent_skill"] * features["agent_skill"].to_numpy(dtype=float)
        + c["territory_match"] * features["territory_match"].to_numpy(dtype=float)
        + c["specialty_match"] * features["specialty_match"].to_numpy(dtype=float)
        + c["niche_match"] * features["niche_match"].to_numpy(dtype=float)
    )


def probabilities(features: pd.DataFrame) -> pd.DataFrame:
    """True conversion probability under no action and under each action."""
    base = base_logit(features)
    effects = action_effects(features)
    out = {"none": _sigmoid(base)}
    for k, action in enumerate(ACTIONS):
        out[action] = _sigmoid(base + effects[:, k])
    return pd.DataFrame(out, index=features.index)
