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
from .schema import DAY_NS, HOUR_NS, NAT, Count, FeatureSpec, days_ago, safe_name


# Plain-language verb phrase per known interaction type.
TYPE_PHRASES: dict[str, Count] = {
    "listing_view": Count("Viewed {value:.0f} listings", "Viewed 1 listing", "Viewed no listings"),
    "saved_search": Count("Saved {value:.0f} searches", "Saved 1 search", "Saved no searches"),
    "email_open": Count("Opened {value:.0f} emails", "Opened 1 email", "Opened no emails"),
    "email_click": Count("Clicked {value:.0f} email links", "Clicked 1 email link", "Clicked no email links"),
    "call": Count("Had {value:.0f} calls", "Had 1 call", "Had no calls"),
    "text": Count("Exchanged {value:.0f} text messages", "Exchanged 1 text message", "Exchanged no text messages"),
    "showing": Count("Attended {value:.0f} showings", "Attended 1 showing", "Attended no showings"),
    "open_house": Count("Visited {value:.0f} open houses", "Visited 1 open house", "Visited no open houses"),
    "web_visit": Count("Visited the website {value:.0f} times", "Visited the website once",
                       "Did not visit the website"),
    "form_submit": Count("Submitted {value:.0f} forms", "Submitted 1 form", "Submitted no forms"),
    "note": Count("Has {value:.0f} agent notes", "Has 1 agent note", "Has no agent notes"),
}
TYPE_WINDOWS = (7, 30, 90)
DISTINCT_WINDOWS = (7, 30, 90)


def interaction_specs(plan: InteractionPlan) -> list[FeatureSpec]:
    """Feature specs in output order (must match ``compute_interaction_features``)."""
    specs: list[FeatureSpec] = []

    def add(name: str, template: str, missing: str = "No interactions yet") -> None:
        specs.append(FeatureSpec(name, "numeric", template, missing))

    def add_count(name: str, count: Count, tail: str = "", missing: str = "No interactions yet") -> None:
        tail = f" {tail}" if tail else ""
        specs.append(FeatureSpec(name, "numeric", count.many + tail, missing,
                                 zero_template=count.zero and count.zero + tail,
                                 one_template=count.one and count.one + tail))

    def window_text(w: int) -> str:
        return "in the last day" if w == 1 else f"in the last {w} days"

    for w in plan.windows:
        add_count(f"ix_total_{w}d", Count("Had {value:.0f} interactions", "Had 1 interaction", "Had no interactions"),
                  window_text(w))
    add_count("ix_total_all", Count("Had {value:.0f} interactions in total", "Had 1 interaction in total",
                                    "Has had no interactions yet"))
    if plan.has_direction:
        for w in plan.windows:
            add_count(f"ix_inbound_{w}d", Count("Reached out {value:.0f} times", "Reached out once",
                                                "Did not reach out"), window_text(w))
        for w in (7, 30):
            add_count(f"ix_outbound_{w}d", Count("Was contacted {value:.0f} times by agents",
                                                 "Was contacted once by an agent", "Was not contacted by agents"),
                      window_text(w))
        add("ix_inbound_share", "{value:.0%} of interactions were started by the lead")
    for typ in plan.types:
        count = TYPE_PHRASES.get(typ) or Count(f"Had {{value:.0f}} '{typ}' interactions", f"Had 1 '{typ}' interaction",
                                               f"Had no '{typ}' interactions")
        for w in TYPE_WINDOWS:
            add_count(f"ix_{safe_name(typ)}_{w}d", count, window_text(w))
    for w in DISTINCT_WINDOWS:
        add_count(f"ix_active_days_{w}d", Count("Was active on {value:.0f} different days", "Was active on 1 day",
                                                "Was not active"), window_text(w))
    if plan.has_property:
        for w in DISTINCT_WINDOWS:
            add_count(f"ix_distinct_properties_{w}d", Count("Looked at {value:.0f} different properties",
                                                            "Looked at 1 property", "Looked at no properties"),
                      window_text(w))
    if plan.has_agent:
        add_count("ix_distinct_agents", Count("Has dealt with {value:.0f} different agents", "Has dealt with 1 agent",
                                              "Has not dealt with any agent"))
    add_count("ix_days_since_last", days_ago("Last interaction was"))
    add_count("ix_days_since_first", days_ago("First interaction was"))
    if plan.has_direction:
        add_count("ix_days_since_last_inbound", days_ago("Last reached out"), missing="Has never reached out")
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
        # 0.0 hours is under 3 minutes; "1.0 hours" is kept: a decimal reads fine in the plural
        add_count("ix_first_response_hours", Count("An agent first responded after {value:.1f} hours", "",
                                                   "An agent first responded within 3 minutes"),
                  missing="No agent response yet")
        # 0 is also what a lead who already got a response has, so the zero sentence fits both
        add_count("ix_waiting_hours", Count("Has been waiting {value:.0f} hours for a first response",
                                            "Has been waiting 1 hour for a first response",
                                            "Has not been waiting long for a first response"),
                  missing="Response time unknown")
    return specs


# ------------------------------------------------------------- computation
def compute_interaction_features(a: InteractionArrays, n: int, as_of: np.ndarray, lead_ctx: dict[str, np.ndarray],
                                 plan: InteractionPlan, out: np.ndarray | None = None) -> np.ndarray:
    """All interaction features for ``n`` leads → float array (n, len(interaction_specs(plan))), column-major.

    ``out`` (optional, that shape) receives the values instead of a new array.

    ``lead_ctx`` holds per-lead arrays: created (int64 ns), price_min,
    price_max, bedrooms (float) and postcode (object).

    Windows are nested (``delta <= w days``), so each interaction gets the index
    of the smallest window holding it and one ``bincount`` per (lead, bucket)
    followed by a cumulative sum gives the counts of every window at once. A
    distinct count within a window counts the (lead, key) pairs whose *latest*
    occurrence falls in it. Few, whole-array numpy calls keep both the batch
    path and the one-lead online path (where per-call overhead dominates) fast.
    """
    ok = (a.lead >= 0) & (a.t != NAT)
    ok[ok] = a.t[ok] < as_of[a.lead[ok]]  # strictly before as_of: the point-in-time rule
    idx = np.flatnonzero(ok)
    if len(idx) > 1:
        # sort by lead, then time, rows at one instant in input order (= lexsort's order, which keeps
        # float sums such as the mean listing price bit-identical between the batch and one-lead
        # paths): a stable time rank, then one sort of the unique (lead, rank) keys; ~2x faster
        rank = np.empty(len(idx), dtype=np.int64)
        rank[np.argsort(a.t[idx], kind="stable")] = np.arange(len(idx))
        key = a.lead[idx] * len(idx) + rank
        if not (key[1:] > key[:-1]).all():
            idx = idx[np.argsort(key, kind="stable")]  # stable = timsort: fast when rows come grouped by lead
    order = idx
    lead, t = a.lead[order], a.t[order]
    m = len(lead)
    delta = as_of[lead] - t  # > 0 nanoseconds before as_of
    fl = np.float64
    nan = np.nan

    edges = sorted(set(plan.windows) | set(TYPE_WINDOWS) | set(DISTINCT_WINDOWS))
    col = {w: i for i, w in enumerate(edges)}  # window w -> column of the cumulative counts
    nb = len(edges) + 1  # last bucket: older than every window
    bucket = np.searchsorted(np.array(edges, dtype=np.int64) * DAY_NS, delta, side="left")
    lead_nb = lead * nb + bucket

    def windows(sel: np.ndarray | None = None) -> np.ndarray:
        """(n, nb) float counts: column col[w] = rows with delta <= w days, last column = all rows."""
        keys = lead_nb if sel is None else lead_nb[sel]
        return np.bincount(keys, minlength=n * nb).reshape(n, nb).cumsum(axis=1).astype(fl)

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(lead[mask], weights=None if weights is None else weights[mask], minlength=n).astype(fl)

    def share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        den = np.broadcast_to(den, num.shape) if num.ndim > den.ndim else den
        return np.divide(num, den, out=np.full(num.shape, nan), where=den > 0)

    def run_ends(sel: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
        """Positions in ``sel`` (sorted) that end a run of equal lead (and key)."""
        ls = lead[sel]
        end = np.empty(len(sel), dtype=bool)
        if len(sel):
            np.not_equal(ls[1:], ls[:-1], out=end[:-1])
            if key is not None:
                end[:-1] |= key[1:] != key[:-1]
            end[-1] = True
        return end

    def distinct(keys: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """(n, nb) counts of distinct (lead, key) pairs, key >= 0, by window of their latest row."""
        sel = np.flatnonzero(keys >= 0) if mask is None else np.flatnonzero(mask & (keys >= 0))
        if not len(sel):
            return np.zeros((n, nb))
        pair = lead[sel] * (int(keys[sel].max()) + 1) + keys[sel]
        by_pair = np.argsort(pair, kind="stable")  # stable: time order kept within a pair
        latest = sel[by_pair[run_ends(sel[by_pair], pair[by_pair])]]
        return windows(latest)

    blocks: list[np.ndarray] = []

    def add(*cols: np.ndarray) -> None:
        blocks.extend(cols)

    all_w = windows()
    total_all = all_w[:, -1]
    add(all_w[:, [col[w] for w in plan.windows]], total_all)
    inbound = a.inbound[order] == 1.0
    outbound = a.inbound[order] == 0.0
    if plan.has_direction:
        in_w, out_w = windows(inbound), windows(outbound)
        n_in = in_w[:, -1]
        add(in_w[:, [col[w] for w in plan.windows]], out_w[:, [col[7], col[30]]], share(n_in, total_all))
    n_types = len(plan.types)
    if n_types:
        type_code = a.type_code[order]
        tw = [col[w] for w in TYPE_WINDOWS]
        known = (type_code >= 0) & (bucket <= max(tw))
        # buckets beyond the longest type window are not needed: keep the table small
        keyed = (lead[known] * n_types + type_code[known]) * (max(tw) + 1) + bucket[known]
        per = np.bincount(keyed, minlength=n * n_types * (max(tw) + 1)).reshape(n, n_types, max(tw) + 1)
        np.cumsum(per, axis=2, out=per)
        add(per[:, :, tw].reshape(n, n_types * len(tw)).astype(fl))
    day = t // DAY_NS
    all_rows = np.arange(m)
    dw = [col[w] for w in DISTINCT_WINDOWS]
    add(windows(all_rows[run_ends(all_rows, day)])[:, dw])  # rows are time-sorted: days too
    if plan.has_property:
        add(distinct(a.prop[order])[:, dw])
    if plan.has_agent:
        add(distinct(a.agent[order])[:, -1])

    # recency: rows are time-sorted within each lead, so first/last rows of a run are min/max
    def first_last(mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        first = np.full(n, NAT, dtype=np.int64)
        last = np.full(n, NAT, dtype=np.int64)
        sel = all_rows if mask is None else np.flatnonzero(mask)
        if len(sel):
            end = run_ends(sel)
            start = np.empty(len(sel), dtype=bool)
            start[0] = True
            start[1:] = end[:-1]
            first[lead[sel[start]]] = t[sel[start]]
            last[lead[sel[end]]] = t[sel[end]]
        return first, last

    def days_since(ts: np.ndarray) -> np.ndarray:
        return np.where(ts == NAT, nan, (as_of - ts) / DAY_NS)

    first_t, last_t = first_last(None)
    since_first = days_since(first_t)
    add(days_since(last_t), since_first)
    if plan.has_direction:
        first_in, last_in = first_last(inbound)
        add(days_since(last_in))
    c7, c30 = all_w[:, col[7]], all_w[:, col[30]]
    add(c7 / 7.0 - (c30 - c7) / 23.0)  # per-day rate: this week minus the 23 days before
    active = n_in if plan.has_direction else total_all
    add(np.where(np.isnan(since_first), 0.0, active / np.maximum(np.nan_to_num(since_first) / 7.0, 1.0)))
    n_chan = len(plan.channels)
    if n_chan:
        chan = a.channel_code[order]
        by_chan = np.bincount((lead * n_chan + chan)[chan >= 0], minlength=n * n_chan).reshape(n, n_chan)
        add(share(by_chan.astype(fl), total_all[:, None]))
    own = inbound if plan.has_direction else np.ones(m, dtype=bool)
    hour = (t // HOUR_NS) % 24
    dow = (day + 3) % 7
    n_own = n_in if plan.has_direction else total_all
    add(share(count(own & (hour >= 18)), n_own), share(count(own & (hour < 6)), n_own),
        share(count(own & (dow >= 5)), n_own))
    if plan.has_price:
        price = a.price[order]
        pmin, pmax = lead_ctx["price_min"][lead], lead_ctx["price_max"][lead]
        priced = ~np.isnan(price)
        mean_price = share(count(priced, np.nan_to_num(price)), count(priced))
        max_budget = lead_ctx["price_max"]
        with np.errstate(invalid="ignore", divide="ignore"):
            add(mean_price, np.where(max_budget > 0, mean_price / max_budget, nan))
        bounded = priced & ~(np.isnan(pmin) & np.isnan(pmax))
        with np.errstate(invalid="ignore"):
            fits = bounded & (np.isnan(pmin) | (price >= 0.9 * pmin)) & (np.isnan(pmax) | (price <= 1.1 * pmax))
        add(share(count(fits), count(bounded)))
    if plan.has_listing_postcode:
        lpost = a.postcode[order]
        wanted = lead_ctx["postcode"][lead]
        # values are normalised strings or None: elementwise, in C
        both = np.not_equal(lpost, None).astype(bool) & np.not_equal(wanted, None).astype(bool)
        same = both & np.equal(lpost, wanted).astype(bool)
        add(share(count(same), count(both)))
    if plan.has_listing_bedrooms:
        lb, want = a.bedrooms[order], lead_ctx["bedrooms"][lead]
        both = ~np.isnan(lb) & ~np.isnan(want)
        with np.errstate(invalid="ignore"):
            add(share(count(both & (lb >= want)), count(both)))
    if plan.has_direction:
        created = lead_ctx["created"]
        ref = np.where((created != NAT) & (created < as_of), created, first_in)
        responded = outbound & (t >= ref[lead]) & (ref[lead] != NAT)
        first_out = first_last(responded)[0]
        has_ref = ref != NAT
        got = first_out != NAT
        add(np.where(got, (first_out - ref) / HOUR_NS, nan))
        add(np.where(has_ref & ~got, (as_of - ref) / HOUR_NS, np.where(got, 0.0, nan)))
    width = sum(1 if b.ndim == 1 else b.shape[1] for b in blocks)
    if out is None:
        out = np.empty((n, width), order="F")
    elif out.shape != (n, width):
        raise ValueError(f"out has shape {out.shape}, expected {(n, width)}")
    pos = 0
    for b in blocks:
        if b.ndim == 1:
            out[:, pos] = b
            pos += 1
        else:
            out[:, pos:pos + b.shape[1]] = b
            pos += b.shape[1]
    return out
