"""Scoring-speed benchmark: `python benchmarks/run_speed.py` → '## Scoring speed' in benchmarks/RESULTS.md.

Synthetic data (leadscore.ml.synthetic), measured in-process on this machine:
1. one lead with ~200 interactions scored with reasons (score_one), p50/p99 over many runs, beside
   the pandas path (score on a 1-row DataFrame) and a plain LightGBM predict of one precomputed row;
2. N leads (default 1,000,000, ~10 interactions each) scored with reasons from raw data, beside a plain
   LightGBM predict (no reasons) on the same feature matrix and LightGBM's exact pred_contrib on a sample;
3. training time on N leads / ~10N interactions.
Options: --leads N (scoring size), --train-leads N (training size), --runs N (single-lead runs),
--no-write (print only, leave RESULTS.md alone). A quick end-to-end check that writes nothing:
`python benchmarks/run_speed.py --leads 20000 --train-leads 20000 --runs 200 --no-write`.

The 1-minute load average is sampled every 2 s in each phase and reported (min / mean / max) beside
the figures, and every bulk step is timed both in wall clock and in this process's CPU time, so
contention from other processes on the 2 cores is visible in RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy.run import machine  # noqa: E402
from benchmarks.results import RESULTS, write_section  # noqa: E402
from leadscore.ml import TrainingConfig, train_conversion_model  # noqa: E402
from leadscore.ml.synthetic import make_leads  # noqa: E402



def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def timed_cpu(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


class LoadSampler:
    """Samples the 1-minute load average every ``every`` seconds, per named phase."""

    def __init__(self, every: float = 2.0):
        self.every = every
        self.samples: dict[str, list[float]] = {}
        self.phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def enter(self, phase: str) -> None:
        self.phase = phase
        self._sample()

    def _sample(self) -> None:
        if hasattr(os, "getloadavg"):
            self.samples.setdefault(self.phase, []).append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def summary(self) -> list[str]:
        return [f"| {phase} | {min(v):.1f} | {sum(v) / len(v):.1f} | {max(v):.1f} | {len(v)} |"
                for phase, v in self.samples.items() if v]


def single_lead(model, runs: int) -> dict:
    leads, ix, _, _ = make_leads(50, mean_interactions=10, seed=11)
    lead = leads.iloc[0].to_dict()
    as_of = pd.Timestamp("2025-06-01")
    rng = np.random.default_rng(0)
    many = ix.sample(200, replace=True, random_state=0).assign(lead_id=lead["lead_id"])
    many["occurred_at"] = as_of - pd.to_timedelta(rng.uniform(0, 120, 200), unit="D")
    rows = many.to_dict("records")
    lead_frame = leads.head(1)
    x = model.builder.transform_one(lead, rows, as_of)

    cpu: dict[str, np.ndarray] = {}

    def sample(fn, n, name):
        """Wall-clock ms per call; this thread's CPU ms per call go to cpu[name]."""
        fn()
        out, used = np.empty(n), np.empty(n)
        for i in range(n):
            t, c = time.perf_counter(), time.thread_time()
            fn()
            out[i], used[i] = time.perf_counter() - t, time.thread_time() - c
        cpu[name] = used * 1000
        return out * 1000

    one = sample(lambda: model.score_one(lead, rows, as_of), runs, "score_one")
    feats = sample(lambda: model.builder.transform_one(lead, rows, as_of), runs, "features_only")
    plain = sample(lambda: model.estimator.booster_.predict(x, num_iteration=model.estimator.best_iteration_), runs,
                   "lightgbm_predict_row")
    pandas_path = sample(lambda: model.score(lead_frame, many, as_of=as_of), max(50, runs // 10), "pandas_score")
    return {"score_one": one, "features_only": feats, "lightgbm_predict_row": plain, "pandas_score": pandas_path,
            "n_interactions": len(rows), "cpu": cpu}


def bulk(model, n: int, load: LoadSampler | None = None) -> dict:
    (leads, ix, _, _), t_gen = timed(lambda: make_leads(n, mean_interactions=10, seed=12))
    as_of = pd.Timestamp("2025-06-01")
    if load:
        load.enter(f"{n:,} leads scored")
    scored, t_total, c_total = timed_cpu(lambda: model.score(leads, ix, as_of=as_of))
    X, t_feat, c_feat = timed_cpu(lambda: model.features(leads, ix, as_of=as_of).to_numpy())
    _, t_noreason, c_noreason = timed_cpu(lambda: model.score(leads, ix, as_of=as_of, reasons=False))
    booster = model.estimator.booster_
    _, t_lgb, c_lgb = timed_cpu(lambda: booster.predict(X, num_iteration=model.estimator.best_iteration_))
    k = min(20_000, n)
    _, t_contrib = timed(lambda: booster.predict(X[:k], pred_contrib=True, num_iteration=model.estimator.best_iteration_))
    assert len(scored) == n and scored["top_positive"].map(len).mean() > 0
    return {"n": n, "n_interactions": len(ix), "total": t_total, "features": t_feat, "no_reasons": t_noreason,
            "lightgbm_predict": t_lgb, "cpu": {"total": c_total, "features": c_feat, "no_reasons": c_noreason,
                                                "lightgbm_predict": c_lgb},
            "pred_contrib_rows_per_s": k / t_contrib, "generate": t_gen,
            "trees": model.estimator.best_iteration_, "pairs": len(getattr(model.estimator, "pairs_", None) or [])}


def training(n: int) -> dict:
    leads, ix, y, closed = make_leads(n, mean_interactions=10, seed=13)
    model, t = timed(lambda: train_conversion_model(leads, y, ix, closed_at=closed, config=TrainingConfig(seed=0)))
    return {"n": n, "n_interactions": len(ix), "seconds": t, "model": model,
            "auc": model.evaluation.model["roc_auc"], "path": "holdout (large data)" if n > 200_000 else "CV"}


def render(single: dict, big: dict, train: dict, baseline_train: dict | None, load: LoadSampler) -> str:
    p = {k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in single.items() if k not in ("n_interactions", "cpu")}
    pc = {k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in single["cpu"].items()}
    lines = ["## Scoring speed", "",
             f"Measured {dt.date.today().isoformat()} on {machine()} by `python benchmarks/run_speed.py` "
             "(synthetic data from `leadscore.ml.synthetic`, in-process, wall clock). "
             f"Load average at the end of the run: {_loadavg()} (other processes share these 2 cores; "
             "1-minute load per phase below, sampled every 2 s; anything well above 1 means the figures "
             "include waiting for a core).", "",
             f"Model: boosted GAM, {big['trees']} trees, each on one feature"
             + (f" or one of {big['pairs']} screened feature pairs (GA²M)" if big["pairs"] else "")
             + f", trained on {train['n']:,} synthetic leads.",
             "", f"### One lead with reasons ({single['n_interactions']} interactions), {len(single['score_one'])} runs",
             "", "| path | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms |", "|---|---|---|---|---|"]
    names = {"score_one": "`score_one` (features + score + reasons, no pandas)",
             "features_only": "`transform_one` (features only)",
             "lightgbm_predict_row": "baseline: plain LightGBM `predict` of one precomputed row, no reasons",
             "pandas_score": "baseline: pandas path, `score` on a 1-row DataFrame"}
    for k, label in names.items():
        lines.append(f"| {label} | {p[k][0]:.2f} | {p[k][1]:.2f} | {pc[k][0]:.2f} | {pc[k][1]:.2f} |")
    lines += ["", "p50/p99 are wall clock per call; CPU columns are this thread's CPU time per call (LightGBM's "
              "own threads not included), which waiting for a busy core does not inflate.",
              "", f"Ratios (p50): pandas path / score_one = {p['pandas_score'][0] / p['score_one'][0]:.1f}x; "
              f"score_one / plain LightGBM row predict = {p['score_one'][0] / p['lightgbm_predict_row'][0]:.1f}x.",
              "", f"### {big['n']:,} leads with reasons ({big['n_interactions']:,} interactions)", "",
              "| step | seconds (wall) | CPU seconds (this process) |", "|---|---|---|",
              f"| `score` with reasons, from raw leads + interactions | {big['total']:.1f} | {big['cpu']['total']:.1f} |",
              f"| `score` without reasons | {big['no_reasons']:.1f} | {big['cpu']['no_reasons']:.1f} |",
              f"| features only | {big['features']:.1f} | {big['cpu']['features']:.1f} |",
              f"| baseline: plain LightGBM `predict` on the feature matrix (no reasons) | {big['lightgbm_predict']:.1f} "
              f"| {big['cpu']['lightgbm_predict']:.1f} |",
              f"| LightGBM exact `pred_contrib` (TreeSHAP), extrapolated from {min(20_000, big['n']):,} rows | "
              f"{big['n'] / big['pred_contrib_rows_per_s']:.1f} | |", "",
              f"Reasons (table contributions, points, sentences) add {big['total'] - big['no_reasons']:.1f} s to "
              f"scoring. LightGBM's exact `pred_contrib` alone would need "
              f"{big['n'] / big['pred_contrib_rows_per_s']:.1f} s for the raw contributions of this "
              f"{'one-feature-or-pair' if big['pairs'] else 'one-feature'}-per-tree model ({big['pred_contrib_rows_per_s']:,.0f} rows/s), before points or "
              "sentences; on an unconstrained 31-leaf model it is far slower.", "",
              "### Training", "", "| leads | interactions | path | seconds | holdout AUC |", "|---|---|---|---|---|"]
    for t in [x for x in (baseline_train, train) if x]:
        lines.append(f"| {t['n']:,} | {t['n_interactions']:,} | {t['path']} | {t['seconds']:.0f} | {t['auc']:.3f} |")
    lines += ["", "### Load average during the run", "", "| phase | min | mean | max | samples |", "|---|---|---|---|---|",
              *load.summary()]
    return "\n".join(lines) + "\n"


def _loadavg() -> str:
    try:
        return " / ".join(open("/proc/loadavg", encoding="utf-8").read().split()[:3])
    except OSError:
        return "unknown"




def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--train-leads", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    args = ap.parse_args()
    with LoadSampler() as load:
        load.enter("training 20,000 leads")
        small = training(20_000)
        print(f"training 20k: {small['seconds']:.1f}s")
        if args.train_leads != 20_000:
            load.enter(f"training {args.train_leads:,} leads")
        train = training(args.train_leads) if args.train_leads != 20_000 else small
        print(f"training {train['n']}: {train['seconds']:.1f}s")
        model = train.pop("model")
        small.pop("model", None)
        load.enter("one lead (score_one)")
        single = single_lead(model, args.runs)
        print({k: np.percentile(v, [50, 99]).round(3).tolist() for k, v in single.items()
               if k not in ("n_interactions", "cpu")})
        big = bulk(model, args.leads, load)
        print(big)
    text = render(single, big, train, small if train is not small else None, load)
    if args.no_write:
        print(text)
        return 0
    write_section("## Scoring speed", text)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
