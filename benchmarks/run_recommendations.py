"""Benchmark: predictive models and next-best-action recommendations on the demo world.

    python benchmarks/run_recommendations.py [--leads 30000] [--seed 7]

Builds the demo world into a temporary SQLite database (its hidden truth kept
in memory, never stored), trains the time-to-convert, deal-value and
next-action models on older leads exactly as the training job does
(``registry.predictive_training``) and evaluates them on the newest leads:

* time to convert: Harrell's C-index and P(30 d) calibration (held-out, no truth needed);
* deal value: P10–P90 coverage (nominal 80 %) and P50 error on held-out won leads;
* recommendations: with the truth's per-lead conversion probability under every
  action, the mean true probability of (a) the recommended action, (b) always the
  most common historical action, (c) a random allowed action, (d) the oracle best
  action, on the newest 20 % of leads with a follow-up decision.

Then refreshes ``lead_predictions`` for every open lead and times it. Replaces
the "## Predictive models and recommendations" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import select  # noqa: E402

from benchmarks.results import cpu_model, write_section  # noqa: E402
from leadscore.core.config import load_settings  # noqa: E402
from leadscore.core.database import session_scope  # noqa: E402
from leadscore.core.runtime import Runtime  # noqa: E402
from leadscore.demo import build_demo  # noqa: E402
from leadscore.insights import predictions  # noqa: E402
from leadscore.leads.models import Lead  # noqa: E402
from leadscore.ml.uplift import ACTIONS  # noqa: E402
from leadscore.registry import predictive, predictive_training  # noqa: E402

SECTION = "## Predictive models and recommendations"


def truth_policies(trained: predictive_training.Trained, data: predictive_training.PredictiveData,
                   truth: pd.DataFrame, external: pd.DataFrame) -> dict[str, float]:
    """Mean true conversion probability of each policy on the newest 20 % of leads with an action."""
    rows = (data.actions.merge(data.leads, on="lead_id").merge(external, on="lead_id")
            .merge(truth, left_on="external_id", right_on="lead_external_id", suffixes=("", "_truth")))
    rows = rows.sort_values("created_at", kind="stable").reset_index(drop=True)
    test = rows.iloc[int(0.8 * len(rows)):].reset_index(drop=True)
    model = trained.model.actions
    lead_columns = [c for c in data.leads.columns if c in test.columns]
    values = model.action_values(predictive_training._features(test[lead_columns]),
                                 predictive_training._subset(data.interactions, test),
                                 as_of=test["acted_at"].to_numpy())
    best, baseline = model.recommend(values)
    allowed = ~np.isnan(values)
    truth_p = test[[f"p_{a}" for a in ACTIONS]].to_numpy()
    r = np.arange(len(test))
    uniform = np.where(allowed, truth_p, np.nan)
    return {
        "n": len(test),
        "recommended": float(truth_p[r, best].mean()),
        "most_common": float(truth_p[r, baseline].mean()),
        "most_common_action": ACTIONS[model.action_order_[0]],
        "random": float(np.nanmean(uniform, axis=1).mean()),
        "oracle": float(np.where(allowed, truth_p, -1.0).max(axis=1).mean()),
        "historical": float(test["p_convert"].mean()),
        "agree_with_oracle": float(np.mean(np.array(ACTIONS)[best] == test["best_action"].to_numpy())),
        "consent_violations": int((~allowed[r, best]).sum()),
    }


def run(n_leads: int, seed: int) -> str:
    directory = Path(tempfile.mkdtemp())
    runtime = Runtime.open(load_settings(database_url=f"sqlite:///{directory / 'bench.db'}", home=directory),
                           upgrade=True)
    started = time.perf_counter()
    with session_scope(runtime.sessions) as session:
        result = build_demo(session, n_leads=n_leads, seed=seed, end=date(2026, 6, 30))
    truth = result.world.truth
    print(f"demo world built in {time.perf_counter() - started:.0f} s", flush=True)
    with session_scope(runtime.sessions) as session:
        data = predictive_training.load_predictive_data(session, dataset="demo")
        external = pd.DataFrame(session.execute(select(Lead.id, Lead.external_id).where(Lead.dataset == "demo")).all(),
                                columns=["lead_id", "external_id"])
    config = predictive_training.PredictiveConfig(seed=seed, refit=False, timezone="America/Los_Angeles")
    timings, trained = {}, {}
    for kind, trainer in predictive_training.TRAINERS.items():
        started = time.perf_counter()
        trained[kind] = trainer(data, config)
        timings[kind] = time.perf_counter() - started
        print(kind, f"{timings[kind]:.0f} s", {k: v for k, v in trained[kind].metrics.items() if k != "recommended_share"},
              flush=True)
    policies = truth_policies(trained["next_action"], data, truth, external)
    print(policies, flush=True)
    with session_scope(runtime.sessions) as session:
        for kind in predictive.KINDS:
            predictive.register_trained(session, trained[kind], "demo", auto_promote=True, actor="bench",
                                        trigger="benchmark")
    with session_scope(runtime.sessions) as session:
        started = time.perf_counter()
        written = predictions.refresh_predictions(session, dataset="demo")
        refresh_seconds = time.perf_counter() - started
    runtime.close()
    t, v, a = (trained[k].metrics for k in predictive.KINDS)
    base = policies["most_common"]
    lines = [
        SECTION,
        "",
        f"`python benchmarks/run_recommendations.py --leads {n_leads} --seed {seed}` — "
        f"{datetime.now(UTC):%Y-%m-%d}, {cpu_model()} (shared, loaded machine), SQLite. "
        "Models trained on the older 80 % of leads, evaluated on the newest 20 % (time-aware).",
        "",
        "| model | held-out figure | value |",
        "| --- | --- | --- |",
        f"| time to convert (discrete-time competing-risks hazard) | Harrell's C of P(90 d), leads at 7 days "
        f"(n = {t['n']}, {t['events']} wins) | {t['c_index']:.3f} |",
        f"| | P(30 d): mean predicted vs observed (n = {t['p30_n']}) | {t['p30_mean_predicted']:.3f} vs "
        f"{t['p30_observed']:.3f} (ECE {t['p30_ece']:.3f}) |",
        f"| deal value (conformalised LightGBM quantiles) | P10–P90 coverage, nominal 80 % (n = {v['n']} won) "
        f"| {v['coverage']:.1%} |",
        f"| | P50 MAE / median relative error | ${v['mae']:,.0f} / {v['median_relative_error']:.1%} |",
        f"| next action (S-learner with IPW + DR evaluation) | DR-estimated conversion, recommended vs most "
        f"common vs random (n = {a['n']}, no truth) | {a['policy_value']:.3f} / {a['most_common_value']:.3f} / "
        f"{a['random_value']:.3f} |",
        "",
        f"Recommendations against the **truth** (mean true conversion probability on the newest 20 % of leads with "
        f"a follow-up decision, n = {policies['n']}; ratios vs. always `{policies['most_common_action']}`, the most "
        "common historical action, or the most common one the lead's consent allows):",
        "",
        "| policy | mean true P(convert) | vs most common |",
        "| --- | --- | --- |",
        f"| recommended | {policies['recommended']:.4f} | {policies['recommended'] / base:.2f}× |",
        f"| always the most common action | {base:.4f} | 1.00× |",
        f"| random allowed action | {policies['random']:.4f} | {policies['random'] / base:.2f}× |",
        f"| historical (what agents did) | {policies['historical']:.4f} | {policies['historical'] / base:.2f}× |",
        f"| oracle best action (upper bound) | {policies['oracle']:.4f} | {policies['oracle'] / base:.2f}× |",
        "",
        f"The recommended action equals the oracle's for {policies['agree_with_oracle']:.1%} of leads; "
        f"consent violations: {policies['consent_violations']}. Training times: time to convert "
        f"{timings['time_to_convert']:.0f} s, deal value {timings['deal_value']:.0f} s, next action "
        f"{timings['next_action']:.0f} s. `refresh_predictions` for all {written} open leads: {refresh_seconds:.1f} s.",
        "",
    ]
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    text = run(args.leads, args.seed)
    print(text)
    write_section(SECTION, text)


if __name__ == "__main__":
    main()
