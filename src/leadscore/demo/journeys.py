"""Each demo lead's journey from enquiry to ending, as per-lead arrays (steps 2–4 of ``leadscore.demo.world``).

Times are float days since the world's start. ``simulate_journeys`` draws the
first response, the browsing before the decision time ``t_d``, the follow-up
action the agent picks there, whether the lead converts (the probability
``leadscore.demo.mechanism`` gives for that action) and when it closes or goes
quiet. The interactions that tell this story are drawn afterwards, in
``leadscore.demo.interactions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.demo import mechanism, streams
from leadscore.demo.leads import SOURCE_ACTIVITY
from leadscore.demo.mechanism import ACTIONS
from leadscore.demo.properties import PriceIndex
from leadscore.demo.streams import C, Events

EPSILON = 0.25  # share of follow-up actions agents pick at random
CLOSE_MEDIAN_DAYS = {"rent": 12.0, "buy": 40.0, "invest": 35.0, "sell": 55.0}
MAX_DAYS_TO_CLOSE = 120.0


@dataclass
class Journeys:
    """One entry per lead (row position); times in days since the world's start."""

    t0: np.ndarray  # enquiry
    agent: np.ndarray  # first assigned agent (row position)
    backup: np.ndarray  # the agent who takes over if the first one leaves
    response: np.ndarray  # minutes to the first response
    t_r: np.ndarray  # first response
    t_d: np.ndarray  # decision time: the follow-up action
    z: np.ndarray  # hidden intent strength
    activity: np.ndarray  # the lead source's activity level
    source_channel: np.ndarray  # channel code of the lead's source
    pre: Events  # browsing before the decision
    inbound_pre: np.ndarray
    last_inbound: np.ndarray
    features: pd.DataFrame  # the hidden mechanism's inputs at decision time
    probs: pd.DataFrame  # the mechanism's conversion probability per action (and "none")
    c_email: np.ndarray
    c_sms: np.ndarray
    c_phone: np.ndarray
    allowed: np.ndarray  # lead x action: the consents allow it
    action: np.ndarray  # index into ACTIONS
    action_name: np.ndarray
    propensity: np.ndarray
    p_action: np.ndarray  # lead x action conversion probabilities
    p_taken: np.ndarray
    won: np.ndarray
    best: np.ndarray  # the allowed action with the highest conversion probability
    intent: np.ndarray
    timeline: np.ndarray  # true timeline, months
    closed: np.ndarray  # when a won lead closes
    active_lost: np.ndarray  # days a lost lead stays active after the decision
    outcome_t: np.ndarray  # closed (won) or marked lost
    active_end: np.ndarray
    handover_t: np.ndarray  # when the first agent leaves (inf if never, before the outcome)

    def agent_at(self, lead_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The agent handling each lead at time ``t``: the backup after the handover."""
        return np.where(t >= self.handover_t[lead_idx], self.backup[lead_idx], self.agent[lead_idx])


def _policy(
    rng: np.random.Generator, features: pd.DataFrame, habits: np.ndarray, agent: np.ndarray, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Historical action choice: agent habit + a sensible rule of thumb, epsilon-random."""
    s = mechanism.signals(features)
    rule = np.column_stack([
        1.0 * s["fast"],
        0.8 * (1.0 - s["stale"]),
        0.8 * s["engaged"],
        1.5 * s["engaged"] * s["ready"],
        0.8 * s["early"] * s["buyer"],
        1.0 * s["early"],
        1.5 * s["stale"],
    ])
    logits = np.where(allowed, habits[agent] + rule, -np.inf)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p = (1.0 - EPSILON) * p + EPSILON * allowed / allowed.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(p, axis=1)
    action = np.minimum((cumulative < rng.random(len(p))[:, None]).sum(axis=1), len(ACTIONS) - 1)
    action = np.where(allowed[np.arange(len(p)), action], action, np.argmax(allowed * p, axis=1))
    return action, p[np.arange(len(p)), action]


def simulate_journeys(
    activity_rng: np.random.Generator,
    outcome_rng: np.random.Generator,
    leads: pd.DataFrame,
    agents: pd.DataFrame,
    routing: pd.DataFrame,
    habits: np.ndarray,
    index: PriceIndex,
    tick: Callable[[str], None],
) -> Journeys:
    """``activity_rng`` draws response times and browsing; ``outcome_rng`` the action, conversion and ending."""
    # ---- first response and decision time -------------------------------------------
    rng = activity_rng
    n = len(leads)
    t0 = leads["t0"].to_numpy()
    agent = routing["agent"].to_numpy()
    hour = leads["local_hour"].to_numpy()
    night_wait = np.where(hour >= 21, (32 - hour) * 60, np.where(hour < 7, (8 - hour) * 60, 0.0))
    response = (
        routing["assign_delay_minutes"].to_numpy()
        + night_wait * (rng.random(n) < 0.8)
        + agents["response_median_minutes"].to_numpy()[agent] * np.exp(rng.normal(0.0, 0.9, n))
    )
    response = np.clip(response, 1.0, 5 * 1440.0)
    t_r = t0 + response / 1440.0
    lag = agents["decision_lag_days"].to_numpy()[agent] * np.exp(rng.normal(0.0, 0.35, n))
    t_d = np.minimum(t_r + np.maximum(lag, 0.5), t0 + 14.0)

    # ---- activity before the decision ------------------------------------------------
    z = leads["intent_strength"].to_numpy()
    activity = leads["source"].map(SOURCE_ACTIVITY).to_numpy(dtype=float)
    source_channel = leads["channel"].map({"web": C["web"], "portal": C["portal"], "referral": C["referral"],
                                           "event": C["event"], "paid_social": C["paid_social"],
                                           "paid_search": C["paid_search"], "phone": C["phone"]}).to_numpy()
    lead_pre, time_pre = streams.poisson_times(rng, 1.6 * np.exp(0.75 * z + activity), t0, t_d - t0 - 1e-4, tau=3.0)
    pre = streams.browsing_events(rng, lead_pre, time_pre, leads, index)
    inbound_pre = np.bincount(lead_pre, minlength=n)
    last_inbound = t0.copy()
    np.maximum.at(last_inbound, lead_pre, time_pre)
    tick("activity")

    # ---- the hidden mechanism and the action actually taken ---------------------------
    features = pd.DataFrame(
        {
            "intent_strength": z,
            "hidden_noise": leads["hidden_noise"].to_numpy(),
            "inbound_pre": inbound_pre,
            "staleness_days": t_d - last_inbound,
            "budget_stretch": leads["budget_stretch"].to_numpy(),
            "financing": leads["financing_true"].to_numpy(dtype=object),
            "timeline_months": leads["true_timeline"].to_numpy(dtype=float),
            "response_minutes": response,
            "source": leads["source"].to_numpy(dtype=object),
            "intent": leads["intent"].to_numpy(dtype=object),
            "agent_skill": agents["skill"].to_numpy()[agent],
            "territory_match": routing["territory_match"].to_numpy(),
            "specialty_match": routing["specialty_match"].to_numpy(),
            "niche_match": routing["niche_match"].to_numpy(),
        }
    )
    probs = mechanism.probabilities(features)
    c_email = leads["consent_email"].to_numpy(dtype=bool)
    c_sms = leads["consent_sms"].to_numpy(dtype=bool)
    c_phone = leads["consent_phone"].to_numpy(dtype=bool)
    any_consent = c_email | c_sms | c_phone
    allowed = np.column_stack([c_phone, c_sms, c_email, c_email | c_phone, c_email, c_email, any_consent])
    rng = outcome_rng
    action, propensity = _policy(rng, features, habits, agent, allowed)
    p_action = probs[list(ACTIONS)].to_numpy()
    p_taken = p_action[np.arange(n), action]
    won = rng.random(n) < p_taken
    best = np.argmax(np.where(allowed, p_action, -1.0), axis=1)

    # ---- how each lead ends -----------------------------------------------------------
    intent = leads["intent"].to_numpy(dtype=object)
    timeline = leads["true_timeline"].to_numpy(dtype=float)
    median = leads["intent"].map(CLOSE_MEDIAN_DAYS).to_numpy(dtype=float) * (timeline / 3.0) ** 0.25
    closed = t_d + np.maximum(median * np.exp(rng.normal(0.0, 0.45, n)), 1.5)
    closed = np.maximum(np.minimum(closed, t0 + MAX_DAYS_TO_CLOSE), t_d + 1.0)
    active_lost = np.clip(rng.exponential(18.0 * (timeline / 3.0) ** 0.3), 0.5, 120.0)
    lost_at = t_d + active_lost + rng.uniform(21.0, 75.0, n)
    outcome_t = np.where(won, closed, lost_at)
    active_end = np.where(won, closed - 0.25, t_d + active_lost)
    left = agents["left_days"].to_numpy(dtype=float)[agent]
    handover_t = np.where(left < outcome_t, left, np.inf)
    backup = routing["backup"].to_numpy()
    tick("mechanism")
    return Journeys(
        t0=t0, agent=agent, backup=backup, response=response, t_r=t_r, t_d=t_d, z=z, activity=activity,
        source_channel=source_channel, pre=pre, inbound_pre=inbound_pre, last_inbound=last_inbound,
        features=features, probs=probs, c_email=c_email, c_sms=c_sms, c_phone=c_phone, allowed=allowed,
        action=action, action_name=np.array(ACTIONS, dtype=object)[action], propensity=propensity,
        p_action=p_action, p_taken=p_taken, won=won, best=best, intent=intent, timeline=timeline, closed=closed,
        active_lost=active_lost, outcome_t=outcome_t, active_end=active_end, handover_t=handover_t,
    )
