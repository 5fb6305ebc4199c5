"""Every interaction of the demo leads, drawn from their journeys (``leadscore.demo.journeys``).

The enquiry, the first response, the follow-up action at decision time, the
browsing after it, showings, offers and the agents' routine check-ins, cut at
"now" and sorted by lead and time. Also returns the milestones the world reads
each lead's status at "now" from, and each won deal's property and value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.demo import mechanism, streams
from leadscore.demo.journeys import Journeys
from leadscore.demo.mechanism import ACTIONS
from leadscore.demo.properties import RENT_PER_PRICE, PriceIndex
from leadscore.demo.streams import C, T, Events

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


@dataclass
class Interactions:
    events: Events  # before "now", sorted by lead and time
    post_inbound_first: np.ndarray  # first inbound activity after the decision (inf if none)
    first_show: np.ndarray  # first showing or listing meeting (inf if none)
    offer_first: np.ndarray  # the offer or rental application of a won lead (inf if none)
    deal_prop: np.ndarray  # the property each lead would close on
    deal_value: np.ndarray


def build_interactions(
    rng: np.random.Generator,
    journeys: Journeys,
    leads: pd.DataFrame,
    agents: pd.DataFrame,
    properties: pd.DataFrame,
    index: PriceIndex,
    now: float,
) -> Interactions:
    j = journeys
    n = len(leads)
    blocks = [j.pre]
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
    first_channel = np.where(first_type == T["call"], C["phone"], np.where(first_type == T["open_house"], C["in_person"], j.source_channel))
    blocks.append(Events.make(everyone, j.t0, first_type, True, first_channel, prop=first_prop, meta=first_meta))

    # First response, by the channel the lead allowed.
    c_email, c_sms, c_phone = j.c_email, j.c_sms, j.c_phone
    resp_type = np.where(c_phone, T["call"], np.where(c_sms, T["text"], T["email_sent"]))
    resp_channel = np.where(c_phone, C["phone"], np.where(c_sms, C["sms"], C["email"]))
    blocks.append(Events.make(everyone, j.t_r, resp_type, False, resp_channel, agent=j.agent,
                              meta=streams.dumps({"action": "first_response"})))

    # The follow-up action chosen at decision time.
    action_name = j.action_name
    a_type = np.array([T[ACTION_EVENT[a][0]] for a in ACTIONS])[j.action]
    a_channel = np.array([C[ACTION_EVENT[a][1]] for a in ACTIONS])[j.action]
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
    blocks.append(Events.make(everyone, j.t_d, a_type, False, a_channel, agent=j.agent, meta=a_meta))

    # Browsing after the decision: steady until closing (won) or fading out (lost).
    won, t_d = j.won, j.t_d
    post_rate = np.where(won, 0.40, 0.35) * np.exp(0.4 * j.z + j.activity)
    lead_post, time_post = streams.poisson_times(rng, post_rate, t_d, j.active_end - t_d)
    blocks.append(streams.browsing_events(rng, lead_post, time_post, leads, index))
    post_inbound_first = np.full(n, np.inf)
    np.minimum.at(post_inbound_first, lead_post, time_post)

    # Showings (for sellers: meetings about the listing), including the booked one.
    intent = j.intent
    hunter = intent != "sell"
    engaged = mechanism.signals(j.features)["engaged"]
    n_show = np.where(won, 1 + rng.poisson(1.5, n), rng.poisson(0.2 + 0.5 * engaged))
    n_show = np.where(hunter, n_show, np.where(won, 1 + rng.poisson(0.5, n), rng.poisson(0.3, n)))
    show_lead = np.repeat(everyone, n_show)
    show_span = np.maximum(j.active_end - t_d - np.where(won, 1.0, 0.0), 0.1)
    show_t = t_d[show_lead] + rng.random(len(show_lead)) * show_span[show_lead]
    booked = (action_name == "book_showing") & (t_d + 4.0 < j.active_end)
    booked_lead = np.flatnonzero(booked)
    show_lead = np.concatenate([show_lead, booked_lead])
    show_t = np.concatenate([show_t, t_d[booked_lead] + rng.uniform(1.0, 4.0, len(booked_lead))])
    show_hunter = hunter[show_lead]
    show_prop = np.where(show_hunter, streams.listing_near(rng, show_lead, leads, index), leads["anchor"].to_numpy()[show_lead])
    blocks.append(Events.make(
        show_lead, show_t, np.where(show_hunter, T["showing"], T["meeting"]), True, C["in_person"],
        agent=j.agent_at(show_lead, show_t), prop=show_prop,
        meta=np.where(show_hunter, "{}", streams.dumps({"topic": "listing appointment"})),
    ))
    first_show = np.full(n, np.inf)
    np.minimum.at(first_show, show_lead, show_t)

    # Offer (rentals: an application) before a won deal closes; the deal's property and value.
    closed = j.closed
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
        np.where(rental, C["web"], C["in_person"]), agent=j.agent_at(offered, offer_t[offered]),
        prop=deal_prop[offered],
        meta=np.where(rental, '{"form": "rental_application", "annual_rent": ' + amount + "}",
                      '{"amount": ' + amount + "}"),
    ))
    offer_first = np.where(won, offer_t, np.inf)

    # Routine check-ins by the agent while the lead is active.
    diligence = agents["diligence"].to_numpy()[j.agent]
    check_end = np.where(won, closed - 0.25, t_d + j.active_lost + 14.0)
    lead_chk, time_chk = streams.poisson_times(rng, diligence, t_d, check_end - t_d)
    weights = np.column_stack([0.5 * c_email, 0.3 * c_phone, 0.2 * c_sms])[lead_chk]
    cumulative = np.cumsum(weights, axis=1)
    pick = (cumulative < rng.random(len(lead_chk))[:, None] * cumulative[:, -1:]).sum(axis=1)
    blocks.append(Events.make(
        lead_chk, time_chk, np.array([T["email_sent"], T["call"], T["text"]])[pick], False,
        np.array([C["email"], C["phone"], C["sms"]])[pick], agent=j.agent_at(lead_chk, time_chk),
        meta=streams.dumps({"action": "check_in"}),
    ))

    events = Events.concat(blocks)
    events = events.take(np.flatnonzero(events.t < now))
    order = np.lexsort((events.t, events.lead))
    events = events.take(order)
    return Interactions(events, post_inbound_first, first_show, offer_first, deal_prop, deal_value)
