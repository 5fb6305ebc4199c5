"""Build the demo brokerage in memory: deterministic for (seed, number of leads, end date).

``build_world`` returns plain DataFrames (database rows keyed by row positions,
plus the hidden truth); ``leadscore.demo.writer`` stores them. The story of
one lead, in days since the world's start:

1. arrives at ``t0`` with an enquiry (form, portal inquiry, open-house sign-in, call);
2. is routed to an agent, who answers after ``response_minutes``;
3. browses (listing views, saved searches, e-mails...) until the decision time
   ``t_d`` a few days later, when the agent picks one follow-up action;
4. converts with the probability ``leadscore.demo.mechanism`` gives for that
   action, then stays active until it closes (won) or goes quiet and is
   marked lost; leads whose ending lies after "now" are still open.

Steps 2–4 are drawn per lead in ``leadscore.demo.journeys`` and the
interactions that tell them in ``leadscore.demo.interactions``; this module
builds the agents, listings and leads, then reads the tables off at "now".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from leadscore.demo import streams
from leadscore.demo.agents import make_agents
from leadscore.demo.interactions import build_interactions
from leadscore.demo.journeys import simulate_journeys
from leadscore.demo.leads import make_leads
from leadscore.demo.mechanism import ACTIONS
from leadscore.demo.properties import PriceIndex, build_properties
from leadscore.demo.routing import fit_matrices, route

WINDOW_MONTHS = 14
DATASET = "demo"
LOST_REASONS = np.array(
    ["stopped responding", "working with another agent", "not ready, postponed", "budget or financing fell through",
     "bought or rented privately"],
    dtype=object,
)

Progress = Callable[[str], None]


@dataclass
class World:
    seed: int
    n_leads: int
    start: datetime
    end: datetime
    agents: pd.DataFrame
    properties: pd.DataFrame
    leads: pd.DataFrame
    interactions: pd.DataFrame
    assignments: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame
    agent_truth: pd.DataFrame


def default_end() -> date:
    return datetime.now(UTC).date()


def window(end: date) -> tuple[datetime, datetime]:
    end_dt = datetime(end.year, end.month, end.day, tzinfo=UTC)
    start = (pd.Timestamp(end_dt) - pd.DateOffset(months=WINDOW_MONTHS)).to_pydatetime()
    return start, end_dt


def _to_datetime(start: datetime, days: np.ndarray) -> np.ndarray:
    """Float days since ``start`` to naive UTC datetime64[us], rounded to the second."""
    base = np.datetime64(start.replace(tzinfo=None), "us")
    seconds = np.round(np.asarray(days, dtype=float) * 86400.0).astype(np.int64)
    return base + seconds.astype("timedelta64[s]").astype("timedelta64[us]")


def build_world(n_leads: int, seed: int = 7, end: date | None = None, progress: Progress | None = None) -> World:
    if n_leads < 1:
        raise ValueError("n_leads must be at least 1")
    end = end or default_end()
    tick = progress or (lambda _stage: None)
    start, end_dt = window(end)
    now = float((end_dt - start).days)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, n_leads, end.toordinal()]).spawn(8)]

    properties = build_properties(end)
    index = PriceIndex(properties)
    agents, habits = make_agents(rngs[0], n_leads, start, end_dt)
    agents["left_days"] = (agents["left_at"] - pd.Timestamp(start)).dt.total_seconds().to_numpy() / 86400.0
    tick("agents")

    leads = make_leads(rngs[1], n_leads, start, int(now), properties, index)
    fit = fit_matrices(leads, agents)
    routing = route(rngs[2], leads, agents, fit)
    tick("leads")

    j = simulate_journeys(rngs[3], rngs[4], leads, agents, routing, habits, index, tick)  # steps 2-4, per lead
    history = build_interactions(rngs[5], j, leads, agents, properties, index, now)
    events = history.events
    tick("interactions")
    n = n_leads
    everyone = np.arange(n)

    # ---- listing dates: listed before anyone saw the listing ----------------------------
    rng = rngs[6]
    n_prop = len(properties)
    price = properties["price"].to_numpy(dtype=float)
    first_seen = np.full(n_prop, np.inf)
    has_prop = events.prop >= 0
    np.minimum.at(first_seen, events.prop[has_prop], events.t[has_prop])
    listed = np.where(np.isfinite(first_seen), first_seen - rng.uniform(0.5, 30.0, n_prop), rng.uniform(-60.0, now, n_prop))
    on_market = np.exp(rng.normal(np.log(12.0), 0.8, n_prop))
    off_market = listed + on_market
    sold_at = off_market + 30.0
    withdrawn = rng.random(n_prop) < 0.08
    status = np.where(off_market > now, "active", np.where(withdrawn, "withdrawn", np.where(sold_at > now, "pending", "sold")))
    is_sold = status == "sold"
    properties = properties.assign(
        listed_at=_to_datetime(start, listed),
        listing_status=status,
        sold_at=np.where(is_sold, _to_datetime(start, sold_at), np.datetime64("NaT")),
        sold_price=np.where(is_sold, np.round(price * np.exp(rng.normal(0.01, 0.03, n_prop)) / 500.0) * 500.0, np.nan),
    )

    # ---- state at "now": status, outcomes, assignments ----------------------------------
    closed_now = j.outcome_t < now
    status = np.select(
        [closed_now & j.won, closed_now, history.offer_first < now, history.first_show < now,
         history.post_inbound_first < now, j.t_r < now],
        ["won", "lost", "offer", "showing", "qualified", "contacted"],
        "new",
    )
    handed = j.handover_t < np.minimum(j.outcome_t, now)
    current_agent = np.where(handed, j.backup, j.agent)
    leads = leads.assign(
        created_at=_to_datetime(start, j.t0),
        status=status,
        agent=current_agent,
        consent_updated_at=_to_datetime(start, j.t0),
    )

    done = np.flatnonzero(closed_now)
    lost_reason = LOST_REASONS[rng.choice(len(LOST_REASONS), size=n, p=[0.4, 0.2, 0.2, 0.1, 0.1])]
    won_reason = pd.Series(j.intent).map({"buy": "purchase closed", "invest": "purchase closed",
                                          "sell": "home sold", "rent": "lease signed"}).to_numpy(dtype=object)
    outcomes = pd.DataFrame(
        {
            "lead": done,
            "result": np.where(j.won[done], "won", "lost"),
            "closed_at": _to_datetime(start, j.outcome_t[done]),
            "deal_value": np.where(j.won[done], history.deal_value[done], np.nan),
            "reason": np.where(j.won[done], won_reason[done], lost_reason[done]),
            "property": np.where(j.won[done], history.deal_prop[done], -1),
        }
    )

    first_end = np.where(handed, j.handover_t, np.where(closed_now, j.outcome_t, np.nan))
    assignments = pd.DataFrame(
        {
            "lead": everyone,
            "agent": j.agent,
            "assigned_at": _to_datetime(start, j.t0 + routing["assign_delay_minutes"].to_numpy() / 1440.0),
            "ended_at": np.where(np.isnan(first_end), np.datetime64("NaT"), _to_datetime(start, np.nan_to_num(first_end))),
            "method": routing["method"].to_numpy(dtype=object),
            "reason": routing["reason"].to_numpy(dtype=object),
            "assigned_by": routing["assigned_by"].to_numpy(dtype=object),
        }
    )
    moved = np.flatnonzero(handed)
    handovers = pd.DataFrame(
        {
            "lead": moved,
            "agent": j.backup[moved],
            "assigned_at": _to_datetime(start, j.handover_t[moved]),
            "ended_at": np.where(closed_now[moved], _to_datetime(start, j.outcome_t[moved]), np.datetime64("NaT")),
            "method": "manual",
            "reason": "manual: reassigned, the previous agent left the brokerage",
            "assigned_by": "team lead",
        }
    )
    assignments = pd.concat([assignments, handovers], ignore_index=True).sort_values(["lead", "assigned_at"], kind="stable")

    interactions = pd.DataFrame(
        {
            "lead": events.lead,
            "type": np.array(streams.TYPES, dtype=object)[events.type],
            "occurred_at": _to_datetime(start, events.t),
            "channel": np.array(streams.CHANNELS, dtype=object)[events.channel],
            "direction": np.where(events.inbound, "inbound", "outbound"),
            "agent": events.agent,
            "prop": events.prop,
            "meta": events.meta,
        }
    )
    interactions["external_id"] = "demo-I" + pd.Series(np.arange(1, len(interactions) + 1)).astype(str).str.zfill(8).to_numpy(dtype=object)

    truth = pd.DataFrame(
        {
            "lead_external_id": leads["external_id"].to_numpy(dtype=object),
            "created_at": leads["created_at"].to_numpy(),
            "decision_at": _to_datetime(start, j.t_d),
            "decided": j.t_d < now,
            "agent_external_id": agents["external_id"].to_numpy(dtype=object)[j.agent],
            "agent_skill": agents["skill"].to_numpy()[j.agent],
            "intent_strength": j.z,
            "response_minutes": j.response,
            "inbound_before_decision": j.inbound_pre,
            "staleness_days": j.t_d - j.last_inbound,
            "budget_stretch": leads["budget_stretch"].to_numpy(),
            "true_timeline_months": j.timeline.astype(np.int64),
            "action": j.action_name,
            "action_propensity": j.propensity,
            "p_convert": j.p_taken,
            "p_no_action": j.probs["none"].to_numpy(),
            **{f"p_{a}": j.p_action[:, k] for k, a in enumerate(ACTIONS)},
            "allowed_actions": [";".join(a for a, ok in zip(ACTIONS, row, strict=True) if ok) for row in j.allowed],
            "best_action": np.array(ACTIONS, dtype=object)[j.best],
            "p_best": j.p_action[np.arange(n), j.best],
            "outcome": np.where(closed_now, np.where(j.won, "won", "lost"), "open"),
            "eventual_outcome": np.where(j.won, "won", "lost"),
            "eventual_outcome_at": _to_datetime(start, j.outcome_t),
            "eventual_deal_value": np.where(j.won, history.deal_value, np.nan),
        }
    )
    agent_truth = pd.DataFrame(
        {
            "agent_external_id": agents["external_id"],
            "skill": agents["skill"],
            "response_median_minutes": agents["response_median_minutes"],
            "decision_lag_days": agents["decision_lag_days"],
            "check_ins_per_day": agents["diligence"],
            **{f"habit_{a}": np.exp(habits[:, k]) for k, a in enumerate(ACTIONS)},
        }
    )
    tick("truth")
    return World(
        seed=seed, n_leads=n_leads, start=start, end=end_dt, agents=agents, properties=properties, leads=leads,
        interactions=interactions, assignments=assignments.reset_index(drop=True), outcomes=outcomes,
        truth=truth, agent_truth=agent_truth,
    )
