"""Plotly figure specs (plain dicts) for the pages; the browser draws them with plotly.min.js."""

from __future__ import annotations

from typing import Any

LAYOUT = {"margin": {"l": 50, "r": 20, "t": 30, "b": 40}, "height": 300, "template": "plotly_white"}


def score_history_chart(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not history:
        return None
    return {
        "data": [{"type": "scatter", "mode": "lines+markers", "name": "score",
                  "x": [h["scored_at"].isoformat() for h in history], "y": [h["score"] for h in history],
                  "text": [h["grade"] for h in history], "hovertemplate": "%{x}<br>score %{y} (grade %{text})"}],
        "layout": {**LAYOUT, "yaxis": {"range": [0, 100], "title": "score"}},
    }


def funnel_chart(stages: list[tuple[str, int]]) -> dict[str, Any]:
    return {"data": [{"type": "funnel", "y": [s for s, _ in stages], "x": [n for _, n in stages],
                      "textinfo": "value+percent initial"}], "layout": {**LAYOUT, "margin": {**LAYOUT["margin"], "l": 110}}}


def realised_charts(frame: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Weekly ROC AUC and calibration gap (observed − predicted), one line per model version."""
    if frame is None or len(frame) == 0:
        return None
    auc, gap = [], []
    for version, group in frame.groupby("version"):
        x = [str(p) for p in group["period"]]
        auc.append({"type": "scatter", "mode": "lines+markers", "name": f"v{version}", "x": x,
                    "y": [None if v != v else float(v) for v in group["roc_auc"]]})
        gap.append({"type": "scatter", "mode": "lines+markers", "name": f"v{version}", "x": x,
                    "y": [float(o - p) for o, p in zip(group["observed_rate"], group["mean_predicted"], strict=True)]})
    return ({"data": auc, "layout": {**LAYOUT, "yaxis": {"title": "ROC AUC", "range": [0.4, 1]}}},
            {"data": gap, "layout": {**LAYOUT, "yaxis": {"title": "observed − predicted"}}})


def calibration_chart(bins: list[dict[str, float]]) -> dict[str, Any] | None:
    if not bins:
        return None
    return {"data": [
        {"type": "scatter", "mode": "lines", "name": "perfect", "x": [0, 1], "y": [0, 1],
         "line": {"dash": "dot", "color": "#999"}},
        {"type": "scatter", "mode": "lines+markers", "name": "model", "x": [b["predicted"] for b in bins],
         "y": [b["observed"] for b in bins], "text": [f"n={b['n']}" for b in bins]},
    ], "layout": {**LAYOUT, "xaxis": {"title": "predicted", "range": [0, 1]},
                  "yaxis": {"title": "observed", "range": [0, 1]}}}


def agent_chart(rows: list[Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    return {"data": [
        {"type": "bar", "name": "open leads", "x": [r.name for r in rows], "y": [r.open_leads for r in rows]},
        {"type": "scatter", "mode": "markers", "name": "capacity", "x": [r.name for r in rows],
         "y": [r.capacity for r in rows]},
    ], "layout": {**LAYOUT, "yaxis": {"title": "leads"}}}
