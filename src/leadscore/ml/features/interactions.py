"""Engagement features from the interaction log, point-in-time correct.

Inputs (the fitted plan and the flat arrays) live in ``interaction_inputs``.

``compute_interaction_features`` is the one definition. It works on flat
numpy arrays where each interaction carries the row index of its lead, and
computes every feature for all leads at once with ``bincount``-style
reductions. The batch path builds those arrays from a DataFrame; the online
path builds them from a list of dicts (pure Python, no pandas) and calls the
same function with a single lead, so both give identical numbers.

Only interactions with ``occurred_at < as_of`` (strictly before) are used;
rows at or after ``as_of`` are dropped before anything is computed.
"""

from __future__ import annotations

import numpy as np

from .interaction_inputs import InteractionArrays, InteractionPlan
from .schema import DAY_NS, HOUR_NS, NAT, FeatureSpec, safe_name

# Plain-language verb phrase per known interaction type ({value} = count).
TYPE_PHRASES: dict[str, str] = {
    "listing_view": "Viewed {value:.0f} listings",
    "saved_search": "Saved {value:.0f} searches",
    "email_open": "Opened {value:.0f} emails",
    "email_click": "Clicked {value:.0f} email links",
    "call": "Had {value:.0f} calls",
    "text": "Exchanged {value:.0f} text messages",
    "showing": "Attended {value:.0f} showings",
    "open_house": "Visited {value:.0f} open houses",
    "web_visit": "Visited the website {value:.0f} times",
    "form_submit": "Submitted {value:.0f} forms",
    "note": "Has {value:.0f} agent notes",
}
TYPE_WINDOWS = (7, 30, 90)
DISTINCT_WINDOWS = (7, 30, 90)


def interaction_specs(plan: InteractionPlan) -> list[FeatureSpec]:
    """Feature specs in output order (must match ``compute_interaction_features``)."""
    specs: list[FeatureSpec] = []

    def add(name: str, template: str, missing: str = "No interactions yet") -> None:
        specs.append(FeatureSpec(name, "numeric", template, missing))

    def window_text(w: int) -> str:
        return "in the last day" if w == 1 else f"in the last {w} days"

    for w in plan.windows:
        add(f"ix_total_{w}d", f"Had {{value:.0f}} interactions {window_text(w)}")
    add("ix_total_all", "Had {value:.0f} interactions in total")
    if plan.has_direction:
        for w in plan.windows:
            add(f"ix_inbound_{w}d", f"Reached out {{value:.0f}} times {window_text(w)}")
        add("ix_outbound_7d", "Was contacted {value:.0f} times by agents in the last 7 days")
        add("ix_outbound_30d", "Was contacted {value:.0f} times by agents in the last 30 days")
        add("ix_inbound_share", "{value:.0%} of interactions were started by the lead")
    for typ in plan.types:
        phrase = TYPE_PHRASES.get(typ, f"Had {{value:.0f}} '{typ}' interactions")
        for w in TYPE_WINDOWS:
            add(f"ix_{safe_name(typ)}_{w}d", f"{phrase} {window_text(w)}")
    for w in DISTINCT_WINDOWS:
        add(f"ix_active_days_{w}d", f"Was active on {{value:.0f}} different days {window_text(w)}")
    if plan.has_property:
        for w in DISTINCT_WINDOWS:
            add(f"ix_distinct_properties_{w}d", f"Looked at {{value:.0f}} different properties {window_text(w)}")
    if plan.has_agent:
        add("ix_distinct_agents", "Has dealt with {value:.0f} different agents")
    add("ix_days_since_last", "Last interaction was {value:.0f} days ago")
    add("ix_days_since_first", "First interaction was {value:.0f} days ago")
    if plan.has_direction:
        add("ix_days_since_last_inbound", "Last reached out {value:.0f} days ago", "Has never reached out")
    add("ix_trend_7d", "Activity per day changed by {value:+.1f} this week versus the 3 weeks before")
    add("ix_velocity", "Averages {value:.1f} interactions per week")
    for ch in plan.channels:
        add(f"ix_share_{safe_name(ch)}", f"{{value:.0%}} of interactions were via {ch}")
    add("ix_evening_share", "{value:.0%} of the lead's activity was in the evening (18-24h UTC)")
    add("ix_night_share", "{value:.0%} of the lead's activity was at night (0-6h UTC)")
    add("ix_weekend_share", "{value:.0%} of the lead's activity was at the weekend")
    if plan.has_price:
        add("ix_listing_price_mean", "Viewed listings average {value:,.0f} in price", "No priced listings viewed")
        add("ix_listing_price_to_budget", "Viewed listings cost {value:.0%} of the maximum budget",
            "Listing prices versus budget unknown")
        add("ix_listings_in_budget_share", "{value:.0%} of viewed listings are within budget",
            "Listing prices versus budget unknown")
    if plan.has_listing_postcode:
        add("ix_listings_in_postcode_share", "{value:.0%} of viewed listings are in the wanted postcode",
            "Listing locations versus wanted postcode unknown")
    if plan.has_listing_bedrooms:
        add("ix_listings_bedrooms_fit_share", "{value:.0%} of viewed listings have enough bedrooms",
            "Listing bedrooms versus wanted bedrooms unknown")
    if plan.has_direction:
        add("ix_first_response_hours", "An agent first responded after {value:.1f} hours", "No agent response yet")
        add("ix_waiting_hours", "Has been waiting {value:.0f} hours for a first response",
            "Response time unknown")
    return specs


# ------------------------------------------------------------- computation
def compute_interaction_features(a: InteractionArrays, n: int, as_of: np.ndarray, lead_ctx: dict[str, np.ndarray],
                                 plan: InteractionPlan) -> np.ndarray:
    """All interaction features for ``n`` leads → float array (n, len(interaction_specs(plan))).

    ``lead_ctx`` holds per-lead arrays: created (int64 ns), price_min,
    price_max, bedrooms (float) and postcode (object).
    """
    ok = (a.lead >= 0) & (a.t != NAT)
    ok[ok] = a.t[ok] < as_of[a.lead[ok]]  # strictly before as_of: the point-in-time rule
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((a.t[idx], a.lead[idx]))]  # sorted by lead, then time
    lead, t = a.lead[order], a.t[order]
    delta = as_of[lead] - t  # > 0 nanoseconds before as_of
    out: list[np.ndarray] = []
    fl = np.float64

    def count(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.bincount(lead, weights=weights, minlength=n).astype(fl)
        return np.bincount(lead[mask], weights=None if weights is None else weights[mask], minlength=n).astype(fl)

    def share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def distinct(keys: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask & (keys >= 0)
        if not m.any():
            return np.zeros(n)
        pairs = np.unique(lead[m] * (int(keys[m].max()) + 1) + keys[m])
        return np.bincount(pairs // (int(keys[m].max()) + 1), minlength=n).astype(fl)

    within = {w: delta <= w * DAY_NS for w in set(plan.windows) | set(TYPE_WINDOWS) | set(DISTINCT_WINDOWS)}
    totals = {w: count(within[w]) for w in plan.windows}
    out += [totals[w] for w in plan.windows]
    total_all = count()
    out.append(total_all)
    inbound = a.inbound[order] == 1.0
    outbound = a.inbound[order] == 0.0
    if plan.has_direction:
        out += [count(inbound & within[w]) for w in plan.windows]
        out += [count(outbound & within[7]), count(outbound & within[30])]
        out.append(share(count(inbound), total_all))
    n_types = len(plan.types)
    if n_types:
        type_code = a.type_code[order]
        known = type_code >= 0
        keyed = lead * n_types + type_code
        per_window = {w: np.bincount(keyed[known & within[w]], minlength=n * n_types).reshape(n, n_types)
                      for w in TYPE_WINDOWS}
        for i in range(n_types):
            out += [per_window[w][:, i].astype(fl) for w in TYPE_WINDOWS]
    day = t // DAY_NS
    out += [distinct(day - day.min() if len(day) else day, within[w]) for w in DISTINCT_WINDOWS]
    if plan.has_property:
        prop = a.prop[order]
        out += [distinct(prop, within[w]) for w in DISTINCT_WINDOWS]
    if plan.has_agent:
        out.append(distinct(a.agent[order], np.ones(len(lead), dtype=bool)))

    # recency: rows are time-sorted within each lead, so first/last rows of a run are min/max
    def first_last(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = np.full(n, NAT, dtype=np.int64)
        last = np.full(n, NAT, dtype=np.int64)
        sel = np.flatnonzero(mask)
        if len(sel):
            ls = lead[sel]
            starts = np.r_[True, ls[1:] != ls[:-1]]
            ends = np.r_[ls[1:] != ls[:-1], True]
            first[ls[starts]] = t[sel[starts]]
            last[ls[ends]] = t[sel[ends]]
        return first, last

    def days_since(ts: np.ndarray) -> np.ndarray:
        return np.where(ts == NAT, np.nan, (as_of - ts) / DAY_NS)

    first_t, last_t = first_last(np.ones(len(lead), dtype=bool))
    since_first = days_since(first_t)
    out += [days_since(last_t), since_first]
    if plan.has_direction:
        out.append(days_since(first_last(inbound)[1]))
    c7, c30 = count(within[7]), count(within[30])
    out.append(c7 / 7.0 - (c30 - c7) / 23.0)  # per-day rate: this week minus the 23 days before
    active = count(inbound) if plan.has_direction else total_all
    out.append(np.where(np.isnan(since_first), 0.0, active / np.maximum(np.nan_to_num(since_first) / 7.0, 1.0)))
    n_chan = len(plan.channels)
    if n_chan:
        chan = a.channel_code[order]
        by_chan = np.bincount((lead * n_chan + chan)[chan >= 0], minlength=n * n_chan).reshape(n, n_chan)
        out += [share(by_chan[:, i].astype(fl), total_all) for i in range(n_chan)]
    own = inbound if plan.has_direction else np.ones(len(lead), dtype=bool)
    hour = (t // HOUR_NS) % 24
    dow = (day + 3) % 7
    n_own = count(own)
    out += [share(count(own & (hour >= 18)), n_own), share(count(own & (hour < 6)), n_own),
            share(count(own & (dow >= 5)), n_own)]
    if plan.has_price:
        price = a.price[order]
        pmin, pmax = lead_ctx["price_min"][lead], lead_ctx["price_max"][lead]
        priced = ~np.isnan(price)
        mean_price = share(count(priced, np.nan_to_num(price)), count(priced))
        out.append(mean_price)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(lead_ctx["price_max"] > 0, mean_price / lead_ctx["price_max"], np.nan))
        bounded = priced & ~(np.isnan(pmin) & np.isnan(pmax))
        with np.errstate(invalid="ignore"):
            fits = bounded & (np.isnan(pmin) | (price >= 0.9 * pmin)) & (np.isnan(pmax) | (price <= 1.1 * pmax))
        out.append(share(count(fits), count(bounded)))
    if plan.has_listing_postcode:
        lpost = a.postcode[order]
        wanted = lead_ctx["postcode"][lead]
        both = np.array([x is not None and y is not None for x, y in zip(lpost, wanted)], dtype=bool)
        same = both & (lpost == wanted)
        out.append(share(count(same), count(both)))
    if plan.has_listing_bedrooms:
        lb, want = a.bedrooms[order], lead_ctx["bedrooms"][lead]
        both = ~np.isnan(lb) & ~np.isnan(want)
        with np.errstate(invalid="ignore"):
            out.append(share(count(both & (lb >= want)), count(both)))
    if plan.has_direction:
        created = lead_ctx["created"]
        first_in = first_last(inbound)[0]
        ref = np.where((created != NAT) & (created < as_of), created, first_in)
        responded = outbound & (t >= ref[lead]) & (ref[lead] != NAT)
        first_out = first_last(responded)[0]
        has_ref = ref != NAT
        got = first_out != NAT
        out.append(np.where(got, (first_out - ref) / HOUR_NS, np.nan))
        out.append(np.where(has_ref & ~got, (as_of - ref) / HOUR_NS, np.where(got, 0.0, np.nan)))
    return np.column_stack(out) if out else np.empty((n, 0))

