"""Which behaviours and lead attributes separate won from lost leads, and how sure we are.

For every closed lead (an outcome won or lost) we take what happened in its
first ``WINDOW_DAYS`` days (so most of it happened before the outcome and is
not its consequence) plus a few attributes it arrived with, then compare the
conversion rate of leads with and without each one: lift = rate with / rate
without, a 95 % Wilson interval for each rate and a 95 % interval for the
lift (the log risk ratio's normal approximation, Katz et al. 1978). These are
associations, not causes.

Fair housing: attributes that are, or stand in for, protected characteristics
(names, languages, postcode, city, location) are never analysed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from leadscore.insights.queries.common import plus_days
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome

WINDOW_DAYS = 14
LISTING_VIEWS = 5
MIN_GROUP = 30  # smaller groups are listed but flagged: their interval is too wide to act on
Z95 = 1.959964


@dataclass
class Behaviour:
    label: str
    kind: str  # "behaviour" or "attribute"
    n_with: int
    won_with: int
    n_without: int
    won_without: int

    @property
    def rate_with(self) -> float | None:
        return self.won_with / self.n_with if self.n_with else None

    @property
    def rate_without(self) -> float | None:
        return self.won_without / self.n_without if self.n_without else None

    @property
    def ci_with(self) -> tuple[float, float] | None:
        return wilson(self.won_with, self.n_with)

    @property
    def ci_without(self) -> tuple[float, float] | None:
        return wilson(self.won_without, self.n_without)

    @property
    def lift(self) -> float | None:
        a, b = self.rate_with, self.rate_without
        return a / b if a is not None and b else None

    @property
    def lift_ci(self) -> tuple[float, float] | None:
        return risk_ratio_ci(self.won_with, self.n_with, self.won_without, self.n_without)

    @property
    def sure(self) -> str:
        """Plain words for the interval: does it exclude 'no difference'?"""
        ci = self.lift_ci
        if ci is None or min(self.n_with, self.n_without) < MIN_GROUP:
            return "too few leads to tell"
        if ci[0] > 1:
            return "clearly more likely to convert"
        if ci[1] < 1:
            return "clearly less likely to convert"
        return "no clear difference"


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def risk_ratio_ci(a: int, n1: int, c: int, n2: int, z: float = Z95) -> tuple[float, float] | None:
    if min(a, c, n1, n2) <= 0:
        return None  # a zero count makes the log ratio infinite; the page says "too few"
    log_rr = math.log((a / n1) / (c / n2))
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return math.exp(log_rr - z * se), math.exp(log_rr + z * se)


def closed_lead_facts(session: Session, dataset: str) -> pd.DataFrame:
    """One row per closed lead: won, first-window behaviour counts, first response, attributes."""
    window_end = plus_days(session, Lead.created_at, WINDOW_DAYS)
    in_window = and_(Interaction.lead_id == Lead.id, Interaction.occurred_at >= Lead.created_at,
                     Interaction.occurred_at < window_end)

    def count_of(condition):  # noqa: ANN001, ANN202
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            Lead.id, Lead.created_at, (Outcome.result == "won").label("won"), Lead.pre_approved,
            Lead.timeline_months, Lead.source, Lead.intent, Lead.financing,
            count_of(Interaction.type == "listing_view").label("views"),
            count_of(Interaction.type.in_(("showing", "open_house"))).label("showings"),
            count_of(Interaction.type == "saved_search").label("saved"),
            count_of(Interaction.type.in_(("email_reply", "email_click"))).label("email_engaged"),
            count_of(and_(Interaction.direction == "inbound", Interaction.type.in_(("call", "text")))).label("reached_out"),
            func.min(case((Interaction.direction == "outbound", Interaction.occurred_at))).label("first_out"),
        )
        .join(Outcome, Outcome.lead_id == Lead.id)
        .outerjoin(Interaction, in_window)
        .where(Lead.dataset == dataset, Outcome.result.in_(("won", "lost")), Lead.created_at.is_not(None))
        .group_by(Lead.id, Lead.created_at, Outcome.result, Lead.pre_approved, Lead.timeline_months, Lead.source,
                  Lead.intent, Lead.financing)
    )
    frame = pd.DataFrame(session.execute(query).all(),
                         columns=["id", "created_at", "won", "pre_approved", "timeline_months", "source", "intent",
                                  "financing", "views", "showings", "saved", "email_engaged", "reached_out",
                                  "first_out"])
    if frame.empty:
        return frame
    created = pd.to_datetime(frame["created_at"], utc=True)
    first_out = pd.to_datetime(frame["first_out"], utc=True)
    frame["response_minutes"] = (first_out - created).dt.total_seconds() / 60
    frame["won"] = frame["won"].astype(bool)
    return frame


def _split(frame: pd.DataFrame, label: str, kind: str, mask: pd.Series) -> Behaviour:
    mask = mask.fillna(False).astype(bool)
    won = frame["won"]
    return Behaviour(label, kind, int(mask.sum()), int((won & mask).sum()), int((~mask).sum()),
                     int((won & ~mask).sum()))


def analyse(frame: pd.DataFrame, *, top_categories: int = 6) -> list[Behaviour]:
    if frame.empty:
        return []
    w = f"in the first {WINDOW_DAYS} days"
    out = [
        _split(frame, f"Had a showing or open house {w}", "behaviour", frame["showings"] > 0),
        _split(frame, f"Viewed {LISTING_VIEWS}+ listings {w}", "behaviour", frame["views"] >= LISTING_VIEWS),
        _split(frame, f"Saved a search {w}", "behaviour", frame["saved"] > 0),
        _split(frame, f"Clicked or replied to an e-mail {w}", "behaviour", frame["email_engaged"] > 0),
        _split(frame, f"Called or texted the agent {w}", "behaviour", frame["reached_out"] > 0),
        _split(frame, "An agent responded within 1 hour", "behaviour", frame["response_minutes"] <= 60),
        _split(frame, "Pre-approved for a mortgage", "attribute", frame["pre_approved"] == True),  # noqa: E712
        _split(frame, "Plans to move within 3 months", "attribute", frame["timeline_months"] <= 3),
    ]
    for column, title in (("source", "Source"), ("intent", "Intent"), ("financing", "Financing")):
        for value in frame[column].dropna().value_counts().head(top_categories).index:
            out.append(_split(frame, f"{title} is {value}", "attribute", frame[column] == value))
    # Largest lift first; groups too small to judge go last.
    return sorted(out, key=lambda b: (b.sure == "too few leads to tell", -abs(np.log(b.lift)) if b.lift else 0))


def behaviour_analysis(session: Session, dataset: str) -> tuple[list[Behaviour], int, int]:
    frame = closed_lead_facts(session, dataset)
    won = int(frame["won"].sum()) if not frame.empty else 0
    return analyse(frame), len(frame), won
