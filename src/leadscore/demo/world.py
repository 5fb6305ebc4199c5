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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from leadscore.demo import mechanism, streams
from leadscore.demo.agents import make_agents
from leadscore.demo.leads import SOURCE_ACTIVITY, make_leads
from leadscore.demo.mechanism import ACTIONS
from leadscore.demo.properties import RENT_PER_PRICE, PriceIndex, build_properties
from leadscore.demo.routing import fit_matrices, route
from leadscore.demo.streams import C, T, Events

WINDOW_MONTHS = 14
DATASET = "demo"
EPSILON = 0.25  # share of follow-up actions agents pick at random
CLOSE_MEDIAN_DAYS = {"rent": 12.0, "buy": 40.0, "invest": 35.0, "sell": 55.0}
MAX_DAYS_TO_CLOSE = 120.0
LOST_REASONS = np.array(
    ["stopped responding", "working with another agent", "not ready, postponed", "budget or financing fell through",
     "bought or rented privately"],
    dtype=object,
)
# Which consent each action needs (re_engage and book_showing go by any channel allowed).
ACTION_EVENT = {
    "call": ("call", "phone"),
    "text": ("text", "sms"),
    "email_listings": ("email_sent", "email"),
    "book_showing": ("call", "phone"),
    "open_house_invite": ("email_sent", "email"),
    "nurture_email": ("email_sent", "email"),
    "re_engage": ("email_sent", "email"),
}
ACTION_SUBJECT = {
    "email_listings": "Homes picked for you",
    "open_house_invite": "You're invited: open house this weekend",
    "nurture_email": "Buying or selling this year? A short guide",
    "re_engage": "Still looking? A few new options",
}

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

    # ---- first response and decision time -------------------------------------------
    rng = rngs[3]
    n = n_leads
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
    rng = rngs[4]
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
    agent_at = lambda lead_idx, t: np.where(t >= handover_t[lead_idx], backup[lead_idx], agent[lead_idx])  # noqa: E731
    tick("mechanism")

    # ---- every interaction ------------------------------------------------------------
    rng = rngs[5]
    blocks = [pre]
    everyone = np.arange(n)
    source = leads["source"].to_numpy(dtype=object)
    # The enquiry that created the lead.
    first_type = np.select(
        [source == "open_house", np.isin(source, ["referral", "walk_in"])], [T["open_house"], T["call"]], T["form_submit"]
    )
    first_prop = np.where(np.isin(source, ["open_house", "portal"]), streams.listing_near(rng, everyone, leads, index, 0.05), -1)
    forms = {"website_form": "contact", "portal": "listing_inquiry", "facebook_ads": "lead_ad", "google_ads": "landing_page"}
    meta_of_source = {s: streams.dumps({"form": forms[s]}) for s in forms}
    meta_of_source |= {"open_house": streams.dumps({"sign_in": True}), "referral": streams.dumps({"enquiry": "referral"}),
                       "walk_in": streams.dumps({"enquiry": "walk_in"})}
    first_meta = leads["source"].map(meta_of_source).to_numpy(dtype=object)
    first_channel = np.where(first_type == T["call"], C["phone"], np.where(first_type == T["open_house"], C["in_person"], source_channel))
    blocks.append(Events.make(everyone, t0, first_type, True, first_channel, prop=first_prop, meta=first_meta))

    # First response, by the channel the lead allowed.
    resp_type = np.where(c_phone, T["call"], np.where(c_sms, T["text"], T["email_sent"]))
    resp_channel = np.where(c_phone, C["phone"], np.where(c_sms, C["sms"], C["email"]))
    blocks.append(Events.make(everyone, t_r, resp_type, False, resp_channel, agent=agent,
                              meta=streams.dumps({"action": "first_response"})))

    # The follow-up action chosen at decision time.
    action_name = np.array(ACTIONS, dtype=object)[action]
    a_type = np.array([T[ACTION_EVENT[a][0]] for a in ACTIONS])[action]
    a_channel = np.array([C[ACTION_EVENT[a][1]] for a in ACTIONS])[action]
    re_engage = action_name == "re_engage"
    a_type = np.where(re_engage & ~c_email, np.where(c_sms, T["text"], T["call"]), a_type)
    a_channel = np.where(re_engage & ~c_email, np.where(c_sms, C["sms"], C["phone"]), a_channel)
    a_type = np.where((action_name == "book_showing") & ~c_phone, T["email_sent"], a_type)
    a_channel = np.where((action_name == "book_showing") & ~c_phone, C["email"], a_channel)
    action_meta = {
        a: streams.dumps({"action": a, "subject": ACTION_SUBJECT[a]}) if a in ACTION_SUBJECT else streams.dumps({"action": a})
        for a in ACTIONS
    }
    a_meta = pd.Series(action_name).map(action_meta).to_numpy(dtype=object)
    a_meta = np.where(a_type == T["email_sent"], a_meta, pd.Series(action_name).map(
        {a: streams.dumps({"action": a}) for a in ACTIONS}).to_numpy(dtype=object))
    blocks.append(Events.make(everyone, t_d, a_type, False, a_channel, agent=agent, meta=a_meta))

    # Browsing after the decision: steady until closing (won) or fading out (lost).
    post_rate = np.where(won, 0.40, 0.35) * np.exp(0.4 * z + activity)
    lead_post, time_post = streams.poisson_times(rng, post_rate, t_d, active_end - t_d)
    blocks.append(streams.browsing_events(rng, lead_post, time_post, leads, index))
    post_inbound_first = np.full(n, np.inf)
    np.minimum.at(post_inbound_first, lead_post, time_post)

    # Showings (for sellers: meetings about the listing), including the booked one.
    hunter = intent != "sell"
    engaged = mechanism.signals(features)["engaged"]
    n_show = np.where(won, 1 + rng.poisson(1.5, n), rng.poisson(0.2 + 0.5 * engaged))
    n_show = np.where(hunter, n_show, np.where(won, 1 + rng.poisson(0.5, n), rng.poisson(0.3, n)))
    show_lead = np.repeat(everyone, n_show)
    show_span = np.maximum(active_end - t_d - np.where(won, 1.0, 0.0), 0.1)
    show_t = t_d[show_lead] + rng.random(len(show_lead)) * show_span[show_lead]
    booked = (action_name == "book_showing") & (t_d + 4.0 < active_end)
    booked_lead = np.flatnonzero(booked)
    show_lead = np.concatenate([show_lead, booked_lead])
    show_t = np.concatenate([show_t, t_d[booked_lead] + rng.uniform(1.0, 4.0, len(booked_lead))])
    show_hunter = hunter[show_lead]
    show_prop = np.where(show_hunter, streams.listing_near(rng, show_lead, leads, index), leads["anchor"].to_numpy()[show_lead])
    blocks.append(Events.make(
        show_lead, show_t, np.where(show_hunter, T["showing"], T["meeting"]), True, C["in_person"],
        agent=agent_at(show_lead, show_t), prop=show_prop,
        meta=np.where(show_hunter, "{}", streams.dumps({"topic": "listing appointment"})),
    ))
    first_show = np.full(n, np.inf)
    np.minimum.at(first_show, show_lead, show_t)

    # Offer (rentals: an application) before a won deal closes; the deal's property and value.
    anchor = leads["anchor"].to_numpy()
    price = properties["price"].to_numpy(dtype=float)
    deal_prop = np.where(hunter, streams.listing_near(rng, everyone, leads, index, 0.05), anchor)
    deal_value = np.where(
        intent == "rent",
        12.0 * np.round(price[deal_prop] * RENT_PER_PRICE / 50.0) * 50.0,
        np.round(price[deal_prop] * np.exp(rng.normal(0.01, 0.03, n)) / 500.0) * 500.0,
    )
    offer_t = closed - np.minimum(np.where(intent == "rent", rng.uniform(0.5, 3.0, n), rng.uniform(3.0, 30.0, n)),
                                  0.8 * (closed - t_d))
    offered = np.flatnonzero(won)
    amount = deal_value[offered].astype(np.int64).astype(str).astype(object)
    rental = intent[offered] == "rent"
    blocks.append(Events.make(
        offered, offer_t[offered], np.where(rental, T["form_submit"], T["offer"]), True,
        np.where(rental, C["web"], C["in_person"]), agent=agent_at(offered, offer_t[offered]),
        prop=deal_prop[offered],
        meta=np.where(rental, '{"form": "rental_application", "annual_rent": ' + amount + "}",
                      '{"amount": ' + amount + "}"),
    ))
    offer_first = np.where(won, offer_t, np.inf)

    # Routine check-ins by the agent while the lead is active.
    diligence = agents["diligence"].to_numpy()[agent]
    check_end = np.where(won, closed - 0.25, t_d + active_lost + 14.0)
    lead_chk, time_chk = streams.poisson_times(rng, diligence, t_d, check_end - t_d)
    weights = np.column_stack([0.5 * c_email, 0.3 * c_phone, 0.2 * c_sms])[lead_chk]
    cumulative = np.cumsum(weights, axis=1)
    pick = (cumulative < rng.random(len(lead_chk))[:, None] * cumulative[:, -1:]).sum(axis=1)
    blocks.append(Events.make(
        lead_chk, time_chk, np.array([T["email_sent"], T["call"], T["text"]])[pick], False,
        np.array([C["email"], C["phone"], C["sms"]])[pick], agent=agent_at(lead_chk, time_chk),
        meta=streams.dumps({"action": "check_in"}),
    ))

    events = Events.concat(blocks)
    events = events.take(np.flatnonzero(events.t < now))
    order = np.lexsort((events.t, events.lead))
    events = events.take(order)
    tick("interactions")

    # ---- listing dates: listed before anyone saw the listing ----------------------------
    rng = rngs[6]
    n_prop = len(properties)
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
    closed_now = outcome_t < now
    status = np.select(
        [closed_now & won, closed_now, offer_first < now, first_show < now, post_inbound_first < now, t_r < now],
        ["won", "lost", "offer", "showing", "qualified", "contacted"],
        "new",
    )
    handed = handover_t < np.minimum(outcome_t, now)
    current_agent = np.where(handed, backup, agent)
    leads = leads.assign(
        created_at=_to_datetime(start, t0),
        status=status,
        agent=current_agent,
        consent_updated_at=_to_datetime(start, t0),
    )

    done = np.flatnonzero(closed_now)
    lost_reason = LOST_REASONS[rng.choice(len(LOST_REASONS), size=n, p=[0.4, 0.2, 0.2, 0.1, 0.1])]
    won_reason = pd.Series(intent).map({"buy": "purchase closed", "invest": "purchase closed",
                                        "sell": "home sold", "rent": "lease signed"}).to_numpy(dtype=object)
    outcomes = pd.DataFrame(
        {
            "lead": done,
            "result": np.where(won[done], "won", "lost"),
            "closed_at": _to_datetime(start, outcome_t[done]),
            "deal_value": np.where(won[done], deal_value[done], np.nan),
            "reason": np.where(won[done], won_reason[done], lost_reason[done]),
            "property": np.where(won[done], deal_prop[done], -1),
        }
    )

    first_end = np.where(handed, handover_t, np.where(closed_now, outcome_t, np.nan))
    assignments = pd.DataFrame(
        {
            "lead": everyone,
            "agent": agent,
            "assigned_at": _to_datetime(start, t0 + routing["assign_delay_minutes"].to_numpy() / 1440.0),
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
            "agent": backup[moved],
            "assigned_at": _to_datetime(start, handover_t[moved]),
            "ended_at": np.where(closed_now[moved], _to_datetime(start, outcome_t[moved]), np.datetime64("NaT")),
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
            "decision_at": _to_datetime(start, t_d),
            "decided": t_d < now,
            "agent_external_id": agents["external_id"].to_numpy(dtype=object)[agent],
            "agent_skill": agents["skill"].to_numpy()[agent],
            "intent_strength": z,
            "response_minutes": response,
            "inbound_before_decision": inbound_pre,
            "staleness_days": t_d - last_inbound,
            "budget_stretch": leads["budget_stretch"].to_numpy(),
            "true_timeline_months": timeline.astype(np.int64),
            "action": action_name,
            "action_propensity": propensity,
            "p_convert": p_taken,
            "p_no_action": probs["none"].to_numpy(),
            **{f"p_{a}": p_action[:, k] for k, a in enumerate(ACTIONS)},
            "allowed_actions": [";".join(a for a, ok in zip(ACTIONS, row, strict=True) if ok) for row in allowed],
            "best_action": np.array(ACTIONS, dtype=object)[best],
            "p_best": p_action[np.arange(n), best],
            "outcome": np.where(closed_now, np.where(won, "won", "lost"), "open"),
            "eventual_outcome": np.where(won, "won", "lost"),
            "eventual_outcome_at": _to_datetime(start, outcome_t),
            "eventual_deal_value": np.where(won, deal_value, np.nan),
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
