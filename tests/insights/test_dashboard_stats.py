"""The dashboard's statistics: intervals and forecasts behave as documented."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.insights.queries.behaviour import analyse, risk_ratio_ci, wilson


def test_wilson_interval_contains_the_rate_and_narrows_with_n():
    low, high = wilson(30, 100)
    assert low < 0.3 < high
    low_big, high_big = wilson(3000, 10000)
    assert high_big - low_big < high - low
    assert wilson(0, 10)[0] == 0.0 and wilson(0, 0) is None


def test_risk_ratio_interval_excludes_one_only_for_a_real_difference():
    low, high = risk_ratio_ci(300, 1000, 100, 1000)
    assert 1 < low < 3 < high
    low, high = risk_ratio_ci(100, 1000, 98, 1000)
    assert low < 1 < high
    assert risk_ratio_ci(0, 10, 5, 10) is None


def test_analysis_finds_the_behaviour_that_separates_winners():
    n = 400
    frame = pd.DataFrame({
        "won": [i % 2 == 0 for i in range(n)],
        "showings": [1 if i % 2 == 0 and i % 10 else 0 for i in range(n)],  # most winners, no losers
        "views": [i % 7 for i in range(n)], "saved": [0] * n, "email_engaged": [0] * n, "reached_out": [0] * n,
        "response_minutes": [30.0] * n, "pre_approved": [None] * n, "timeline_months": [6] * n,
        "source": ["web"] * n, "intent": ["buy"] * n, "financing": [None] * n,
    })
    rows = {b.label: b for b in analyse(frame)}
    showing = rows["Had a showing or open house in the first 14 days"]
    assert showing.rate_with == 1.0 and showing.sure == "clearly more likely to convert"
    assert rows["Source is web"].sure == "too few leads to tell"  # nobody without it to compare


def test_forecast_sums_probabilities_with_an_interval(session):
    from datetime import UTC, datetime

    from leadscore.insights.models import LeadPrediction
    from leadscore.insights.queries.team import forecast
    from leadscore.leads.models import Lead

    leads = [Lead(dataset="fc", external_id=str(i), status="new", created_at=datetime(2025, 1, 1, tzinfo=UTC))
             for i in range(100)]
    session.add_all(leads)
    session.flush()
    assert forecast(session, "fc").horizons == []  # no predictions: nothing invented
    for lead in leads:
        session.add(LeadPrediction(lead_id=lead.id, p_convert_30d=0.1, p_convert_60d=0.2, p_convert_90d=0.3,
                                   deal_value_p10=100.0, deal_value_p50=200.0, deal_value_p90=400.0))
    session.flush()
    result = forecast(session, "fc")
    h30 = result.horizons[0]
    assert h30.conversions == pytest.approx(10.0)
    assert h30.conversions_low < 10 < h30.conversions_high
    assert h30.revenue == pytest.approx(10 * 200.0)
    assert h30.revenue_low < h30.revenue < h30.revenue_high
