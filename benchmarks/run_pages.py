"""Dashboard page-load benchmark: `python benchmarks/run_pages.py` → '## Dashboard pages' in benchmarks/RESULTS.md.

Builds the 50,000-lead demo world (~1M interactions) into a fresh SQLite database (or uses
``--home DIR``, an existing LEADSCORE_HOME, e.g. one made by `leadscore demo`), adds one login
per role, and measures the server time of every dashboard page through the real app
in-process (FastAPI TestClient: routing, auth, queries, templates; no network):

* **first, no snapshot** — the first load after a restart when the background job has never
  run: the behaviour and admin pages compute their statistics once and store them;
* **snapshot job** — the job that precomputes those statistics (what the scheduler runs);
* **first** — the first load after a restart (empty in-process caches) once the job has run:
  what a user sees after `leadscore demo` or on any day of normal operation;
* **warm** — the median and slowest of ``--runs`` further loads.

Baseline, measured in the same run and the same client: ``/healthz`` (a trivial JSON
endpoint) and ``/login`` (a small template, no database work beyond the session check).
Options: --leads N, --runs N, --home DIR, --trained (models, scores and forecasts as after
`leadscore demo`, about 15 minutes more), --no-write (print only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import RESULTS, cpu_model, write_section  # noqa: E402

SECTION = "## Dashboard pages"
PASSWORD = "benchmark password"
PAGES = {  # role: pages it loads, in this order
    "agent": ["/queue", "/leads/{lead}"],
    "manager": ["/team", "/team/behaviour", "/queue"],
    "admin": ["/admin"],
}


def ensure_logins(settings) -> int:  # noqa: ANN001
    """bench-<role>@example.com for each role (agent: the agent with most open leads); returns one of its leads."""
    from sqlalchemy import func, select

    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.leads.models import Lead
    from leadscore.web import service
    from leadscore.web.models import User

    runtime = Runtime.open(settings)
    try:
        with session_scope(runtime.sessions) as session:
            agent_id = session.execute(select(Lead.agent_id, func.count()).where(
                Lead.agent_id.is_not(None), Lead.status.not_in(("won", "lost"))).group_by(Lead.agent_id)
                .order_by(func.count().desc()).limit(1)).first()[0]
            for role in PAGES:
                email = f"bench-{role}@example.com"
                user = session.scalar(select(User).where(User.email == email))
                if user is None:
                    service.create_user(session, email=email, name=f"Bench {role}", role=role, password=PASSWORD,
                                        agent_id=agent_id if role == "agent" else None, actor="benchmark")
                else:
                    service.set_password(session, email, PASSWORD, actor="benchmark")
                    user.agent_id = agent_id if role == "agent" else None
            return session.scalar(select(Lead.id).where(Lead.agent_id == agent_id,
                                                        Lead.status.not_in(("won", "lost"))).order_by(Lead.id))
    finally:
        runtime.close()


def build_trained(settings, leads: int) -> None:  # noqa: ANN001
    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.demo import pipeline
    from leadscore.demo.service import build_demo

    runtime = Runtime.open(settings)
    try:
        with session_scope(runtime.sessions) as session:
            build_demo(session, n_leads=leads, seed=7)
        pipeline.train_history_model(runtime.sessions, weeks=13, seed=7)
        pipeline.train_models(runtime.sessions, seed=7, tolerance=settings.promotion_tolerance)
        pipeline.score_all(runtime.sessions, min_delta=settings.score_change_min_delta)
    finally:
        runtime.close()


def drop_snapshots(settings) -> None:  # noqa: ANN001
    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.insights.models import DashboardSnapshot

    runtime = Runtime.open(settings)
    try:
        with session_scope(runtime.sessions) as session:
            session.execute(DashboardSnapshot.__table__.delete())
    finally:
        runtime.close()


def run_job(settings) -> float:  # noqa: ANN001
    from leadscore.core.runtime import Runtime
    from leadscore.insights.tasks import refresh_snapshots

    runtime = Runtime.open(settings)
    try:
        started = time.perf_counter()
        refresh_snapshots(runtime.sessions, force=True)
        return time.perf_counter() - started
    finally:
        runtime.close()


def timed_get(client, url: str) -> float:  # noqa: ANN001
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed


def load_pages(settings, lead: int, runs: int) -> dict[str, list[float]]:  # noqa: ANN001
    """A fresh app (empty in-process caches): every page's first load, then ``runs`` more; baselines too."""
    from fastapi.testclient import TestClient

    from leadscore.app import create_app
    from leadscore.insights import service as insights
    from tests.web.conftest import login

    insights.clear_cache()
    times: dict[str, list[float]] = {}
    with TestClient(create_app(settings), raise_server_exceptions=True, follow_redirects=False) as client:
        times["start-up work"] = [settle()]
        client.get("/healthz")  # the very first request pays one-off costs (thread pool, lazy imports): not counted
        for url in ("/healthz", "/login"):
            client.cookies.clear()
            times[url] = [timed_get(client, url) for _ in range(runs + 1)]
        for role, paths in PAGES.items():
            response = login(client, f"bench-{role}@example.com", PASSWORD)
            assert response.status_code == 303, f"login as {role} failed"
            for path in paths:
                url = path.format(lead=lead)
                times[f"{url} ({role})"] = [timed_get(client, url) for _ in range(runs + 1)]
    return times


def settle(timeout: float = 600.0) -> float:
    """Wait for the app's start-up background work (the score cache warm-up thread) to finish, so pages
    are measured against a settled server rather than one busy loading every score; returns the wait."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout and any(
            t.is_alive() and t.name.startswith("leadscore-cache-warm") for t in threading.enumerate()):
        time.sleep(0.1)
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--home", type=Path, help="measure this existing LEADSCORE_HOME instead of building")
    parser.add_argument("--trained", action="store_true",
                        help="build the world with trained models, scores and forecasts as `leadscore demo` does "
                        "(about 15 minutes at 50,000 leads) instead of stand-in forecasts")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()

    from leadscore.core.config import load_settings

    load_before = os.getloadavg()[0]
    build_seconds = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.home:
            settings = load_settings(home=args.home, scheduler_enabled=False)
            described = f"existing world in {args.home}"
        elif args.trained:
            home = Path(tmp)
            settings = load_settings(home=home, database_url=f"sqlite:///{home / 'pages.db'}",
                                     scheduler_enabled=False)
            print(f"building the {args.leads:,}-lead demo world and training its models (as `leadscore demo`) ...",
                  flush=True)
            started = time.perf_counter()
            build_trained(settings, args.leads)
            build_seconds = time.perf_counter() - started
            described = (f"demo world, {args.leads:,} leads, seed 7, with everything `leadscore demo` adds "
                         "(history model and its weekly scores, conversion and predictive models, all leads scored, "
                         "forecasts)")
        else:
            from tests.web.conftest import seed

            home = Path(tmp)
            settings = load_settings(home=home, database_url=f"sqlite:///{home / 'pages.db'}",
                                     scheduler_enabled=False)
            print(f"building the {args.leads:,}-lead demo world ...", flush=True)
            started = time.perf_counter()
            seed(settings, n_leads=args.leads)
            build_seconds = time.perf_counter() - started
            described = (f"demo world, {args.leads:,} leads, seed 3, stand-in forecasts for one agent's open leads "
                         "(tests/web/conftest.py `seed`), no trained model")
        lead = ensure_logins(settings)

        drop_snapshots(settings)
        cold = load_pages(settings, lead, 0)
        job_seconds = run_job(settings)
        warm = load_pages(settings, lead, args.runs)
        counts = _counts(settings)

    startup = warm.pop("start-up work")[0]
    cold.pop("start-up work")
    rows = []
    for url, values in warm.items():
        first, rest = values[0], values[1:]
        rows.append((url, cold[url][0], first, statistics.median(rest), max(rest)))
    baseline = statistics.median(warm["/healthz"][1:])
    lines = [
        SECTION, "",
        f"`{' '.join(['python benchmarks/run_pages.py', *(a for a in sys.argv[1:] if a != '--no-write')])}` on "
        f"{dt.date.today()}: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite; "
        f"load average before the run {load_before:.1f}. {described}: {counts}."
        + (f" Built in {build_seconds:.0f} s." if build_seconds else ""),
        "",
        "Server time per page through the real app in-process (routing, login check, queries, template; "
        "no network), in ms. *First, no snapshot*: first load after a restart (after one uncounted `/healthz` request) before the background job "
        "ever ran (the behaviour and admin pages compute their statistics once and store them). *First*: "
        "first load after a restart once the job has run (the normal case). *Warm*: median and slowest of "
        f"{args.runs} further loads. Baselines in the same run and client: `/healthz` and `/login`.",
        "",
        "| page (role) | first, no snapshot | first | warm median | warm max | warm ÷ /healthz |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for url, no_snapshot, first, median, worst in rows:
        lines.append(f"| `{url}` | {ms(no_snapshot)} | {ms(first)} | {ms(median)} | {ms(worst)} | "
                     f"{median / baseline:,.0f}× |")
    lines += ["", f"Pages are measured once the app's start-up work (warming the score cache) has finished: "
              f"{startup:.1f} s after start here; during it pages are slower (they share the CPU and the GIL).",
              "", f"Snapshot job (behaviour and admin statistics, every dataset, forced): {job_seconds:.1f} s. "
              "Target: every page under 1 s with 50,000 leads."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        print(f"written to {RESULTS}")


def _counts(settings) -> str:  # noqa: ANN001
    from sqlalchemy import func, select

    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.interactions.models import Interaction
    from leadscore.leads.models import Lead

    runtime = Runtime.open(settings)
    try:
        with session_scope(runtime.sessions, write=False) as session:
            leads = session.scalar(select(func.count()).select_from(Lead))
            interactions = session.scalar(select(func.count()).select_from(Interaction))
        return f"{leads:,} leads, {interactions:,} interactions"
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
