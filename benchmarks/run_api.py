"""API throughput and latency under wrk, against a trivial FastAPI endpoint measured in the same run.

    python benchmarks/run_api.py [--seconds 20] [--connections 1000] [--modes embedded,production]
                                 [--only trivial,get,post,hooks] [--no-write]

For each mode (embedded: SQLite, in-process cache and queue; production:
PostgreSQL, Redis, RabbitMQ and a `leadscore worker`), it builds or reuses a
20,000-lead demo database with a trained champion, starts `leadscore serve`
on 127.0.0.1 (one uvicorn worker embedded, the only setting it allows; two in
production, `--production-workers`), waits until the server is idle (work the
build left in the outbox runs first, not during a figure), and measures with wrk (1,000 connections, 2
threads): GET /v1/leads/{id}/score on random ids, POST /v1/score (one lead,
20 interactions), then the event-to-webhook latency (interactions posted at a
steady rate while the GET load runs; request accepted -> webhook received on a
local receiver). The trivial endpoint is a separate tiny app served by uvicorn
the same way, with one worker and with as many as production mode uses; each
mode is compared with the trivial endpoint at its own worker count. Results go to the "## API" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.results import cpu_model, write_section  # noqa: E402
from api_support import (  # noqa: E402
    Receiver, WrkResult, ensure_wrk, free_port, lua_get, lua_get_random, lua_post, percentile, raise_fd_limit,
    run_wrk, start, stop, wait_http, wait_idle, webhook_latency,
)

ROOT = Path(__file__).resolve().parent
WORK = Path(os.environ.get("LEADSCORE_BENCH_DIR", "/tmp/leadscore-bench"))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DB = "leadscore_bench_api"
PG_URL = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB  # the production mode's database
PEPPER = "bench-pepper-0123456789abcdef"
LEADS = 20_000
DATASET = "demo"
LEADSCORE = shutil.which("leadscore") or "leadscore"


def mode_env(mode: str) -> dict[str, str]:
    home = WORK / mode
    env = {**os.environ, "LEADSCORE_HOME": str(home), "LEADSCORE_KEY_PEPPER": PEPPER, "LEADSCORE_LOG_LEVEL": "WARNING",
           "LEADSCORE_SCHEDULER_ENABLED": "false", "LEADSCORE_SCORE_CHANGE_MIN_DELTA": "1",
           # the webhook receiver listens on loopback, which deliveries refuse by default
           "LEADSCORE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    for name in ("LEADSCORE_DATABASE_URL", "LEADSCORE_REDIS_URL", "LEADSCORE_BROKER_URL"):
        env.pop(name, None)
    if mode == "production":
        env.update({"LEADSCORE_DATABASE_URL": PG_URL,
                    "LEADSCORE_REDIS_URL": "redis://127.0.0.1:6379/5",
                    "LEADSCORE_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
                    "LEADSCORE_QUEUE_NAME": f"leadscore.bench.{uuid.uuid4().hex[:8]}"})
    return env


def settings_of(env: dict[str, str]):  # noqa: ANN201
    from leadscore.core.config import load_settings

    return load_settings(home=Path(env["LEADSCORE_HOME"]), database_url=env.get("LEADSCORE_DATABASE_URL"),
                         key_pepper=PEPPER)


def vacuum_analyze() -> None:
    """What autovacuum would have done since the last run: this machine's PostgreSQL runs with
    ``autovacuum = off`` (its conf.d/90-ci.conf), so without this the planner never has statistics
    and each run's rescoring leaves the leads table more bloated (82,000 dead rows beside 20,000
    live ones after three runs, with every production figure lower than in the run before)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def ensure_database(mode: str, env: dict[str, str]) -> None:
    if mode == "production":
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            if not c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}).scalar():
                c.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        engine.dispose()
    from sqlalchemy import func, select

    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.leads.models import Lead
    from leadscore.registry import service

    runtime = Runtime.open(settings_of(env))
    with session_scope(runtime.sessions, write=False) as s:
        leads = s.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == DATASET)) or 0
        scored = s.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == DATASET,
                                                                        Lead.current_score.is_not(None))) or 0
        ready = leads >= LEADS and service.get_champion(s, dataset=DATASET) is not None and scored > leads // 2
    runtime.close()
    if ready:
        print(f"[{mode}] reusing the demo database ({leads:,} leads)", flush=True)
        return
    for step in (["demo", "--leads", str(LEADS)], ["train", "--dataset", DATASET], ["score", "--dataset", DATASET]):
        print(f"[{mode}] leadscore {' '.join(step)}", flush=True)
        subprocess.run([LEADSCORE, *step], env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=1800)


def prepare_key_and_ids(env: dict[str, str]) -> tuple[str, list[int], list[int]]:
    from sqlalchemy import select

    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.core.security import keys
    from leadscore.leads.models import Lead

    settings = settings_of(env)
    runtime = Runtime.open(settings)
    with session_scope(runtime.sessions) as s:
        key = keys.create_key(s, settings, name=f"bench-{uuid.uuid4().hex[:6]}", scopes=["admin"],
                              rate_limit="100000000/minute").key
        scored = list(s.scalars(select(Lead.id).where(Lead.dataset == DATASET, Lead.current_score.is_not(None))
                                .order_by(Lead.id).limit(LEADS)))
        open_ids = list(s.scalars(select(Lead.id).where(Lead.dataset == DATASET, Lead.status.not_in(("won", "lost")))
                                  .order_by(Lead.id.desc()).limit(2000)))
    runtime.close()
    return key, scored, open_ids


def score_body() -> dict:
    now = datetime.now(UTC)
    kinds = ["listing_view"] * 12 + ["saved_search"] * 3 + ["email_open"] * 3 + ["showing"] * 2
    return {"dataset": DATASET, "leads": [{
        "ref": "bench", "intent": "buy", "price_max": 650000, "pre_approved": True, "timeline_months": 2,
        "created_at": (now - timedelta(days=10)).isoformat(),
        "interactions": [{"type": t, "direction": "inbound", "occurred_at": (now - timedelta(hours=6 * i)).isoformat()}
                         for i, t in enumerate(kinds)]}]}


def run_mode(mode: str, wrk: str, args: argparse.Namespace, logs: Path) -> dict:
    env = mode_env(mode)
    ensure_database(mode, env)
    if mode == "production":
        # A clean score cache, warmed by the server as it starts: entries a run warmed an hour ago
        # expired in the middle of a later run, and half the reads went to the database.
        import redis

        redis.Redis.from_url(env["LEADSCORE_REDIS_URL"]).flushdb()
        vacuum_analyze()
    key, ids, open_ids = prepare_key_and_ids(env)
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = server = None
    results: dict = {"mode": mode}
    try:
        if mode == "production":
            # Below 0 needs root; where refused, the worker runs at the default priority.
            nice = args.worker_nice if os.geteuid() == 0 else 0
            results["worker_nice"] = nice
            worker = start([LEADSCORE, "worker"], env, logs / f"{mode}-worker.log", nice=nice)
        workers = args.production_workers if mode == "production" else 1
        results["workers"] = workers
        server = start([LEADSCORE, "serve", "--port", str(port), "--workers", str(workers)], env,
                       logs / f"{mode}-serve.log")
        wait_http(f"{base}/healthz")
        waited = wait_idle([p for p in (server, worker) if p is not None])
        print(f"[{mode}] the server was idle {waited:.0f} s after answering", flush=True)
        scripts = logs / mode
        scripts.mkdir(exist_ok=True)
        (scripts / "get.lua").write_text(lua_get_random(ids, "/v1/leads/%d/score", headers))
        (scripts / "post.lua").write_text(lua_post("/v1/score", score_body(), headers))
        check = httpx.post(f"{base}/v1/score", json=score_body(), headers=headers, timeout=30)
        assert check.status_code == 200, check.text
        common = {"connections": args.connections, "threads": 2}
        print(f"[{mode}] warm-up", flush=True)
        run_wrk(wrk, "warm", base, scripts / ("post.lua" if args.only == {"post"} else "get.lua"), seconds=5,
                **common)
        if "get" in args.only:
            print(f"[{mode}] GET /v1/leads/{{id}}/score", flush=True)
            results["get"] = run_wrk(wrk, "get", base, scripts / "get.lua", seconds=args.seconds, **common)
        if "post" in args.only:
            print(f"[{mode}] POST /v1/score", flush=True)
            results["post"] = run_wrk(wrk, "post", base, scripts / "post.lua", seconds=args.seconds, **common)
        if "hooks" not in args.only:
            return results
        print(f"[{mode}] event -> webhook under GET load", flush=True)
        receiver = Receiver()  # subscribed before the load starts
        hook = httpx.post(f"{base}/v1/webhooks", json={"url": receiver.url, "events": ["score.changed"]},
                          headers=headers, timeout=30)
        hook.raise_for_status()
        holder: dict = {}
        loader = threading.Thread(target=lambda: holder.update(r=run_wrk(
            wrk, "get+hooks", base, scripts / "get.lua", seconds=args.seconds + 5, **common)))
        loader.start()
        time.sleep(2)
        results["webhook"] = webhook_latency(base, headers, open_ids, args.seconds, args.rate, receiver,
                                             hook.json()["id"])
        if results["webhook"]["failures"]:
            print(f"[{mode}] refused or failed event posts: {results['webhook']['failures']}", flush=True)
        took = results["webhook"].pop("post_ms")
        if took:
            print(f"[{mode}] event posts took p50 {percentile(took, 50):.0f} ms, p99 {percentile(took, 99):.0f} ms, "
                  f"max {took[-1]} ms (sent -> 202 read)", flush=True)
        loader.join()
        results["get_during_hooks"] = holder.get("r")
    finally:
        stop(server)
        stop(worker)
    return results


PARTS = ("trivial", "get", "post", "hooks")
SKIPPED = "not measured"  # a part left out with --only
# The floor of any FastAPI endpoint taking POST /v1/score's body: read and validate it, answer, no scoring.
VALIDATE_ONLY = "validate only"
TRIVIAL_LOOPS = {  # label -> uvicorn --loop; None: served as `leadscore serve` serves (serve_trivial.py)
    "stock uvicorn": "auto",
    "served like `leadscore serve`": None,
}


def trivial(wrk: str, args: argparse.Namespace, logs: Path, workers: int = 1, loop: str | None = "auto",
            validate_only: bool = False) -> WrkResult:
    port = free_port()
    command = [sys.executable, str(ROOT / "serve_trivial.py"), str(port), str(workers)] if loop is None else [
        sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "trivial_app:app", "--port", str(port),
        "--host", "127.0.0.1", "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        "--loop", loop, "--backlog", "4096"]
    server = start(command, dict(os.environ), logs / "trivial.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/ping")
        script = logs / "trivial.lua"
        script.write_text(lua_post("/validate", score_body(), {}) if validate_only else lua_get("/ping", {}))
        run_wrk(wrk, "warm", f"http://127.0.0.1:{port}", script, seconds=5, connections=args.connections, threads=2)
        return run_wrk(wrk, "trivial", f"http://127.0.0.1:{port}", script, seconds=args.seconds,
                       connections=args.connections, threads=2)
    finally:
        stop(server)


def row(label: str, r: WrkResult | None | str, base: WrkResult | None, workers: int) -> str:
    if r is None or isinstance(r, str):
        return f"| {label} | {workers} | {r or 'failed'} | | | | |"
    versus = f"{r.rps / base.rps:.0%}" if base is not None and base.rps else "n/a"
    return (f"| {label} | {workers} | {r.rps:,.0f} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | "
            f"{r.errors} / {r.timeouts} / {r.non_2xx} | {versus} |")


def write_results(bases: dict[int, dict[str, WrkResult]], modes: list[dict], args: argparse.Namespace, command: str,
                  load_before: float) -> str:
    cpu = cpu_model()
    lines = ["## API", "",
             f"`{command}` on {datetime.now(UTC):%Y-%m-%d}: {cpu}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; load average before the run {load_before:.1f}, after "
             f"{os.getloadavg()[0]:.1f}. wrk {args.connections} connections, 2 threads, {args.seconds} s per figure; "
             "wrk, the server (and in production mode the worker, PostgreSQL, Redis and RabbitMQ) share the same "
             "CPUs. 'vs trivial' compares with the trivial endpoint (`async def`, FastAPI's tutorial form) on stock "
             "uvicorn (uvloop, httptools) with the same number of uvicorn workers. `leadscore serve` runs uvloop but "
             "accepts waiting connections in batches (src/leadscore/core/event_loop.py): stock uvloop accepts one "
             "connection per loop iteration, so under load part of the 1,000 connections wait seconds to be "
             "accepted (the time-outs of the stock rows) while the rest are served faster; the trivial endpoint is "
             "also served as `leadscore serve` serves (that loop and, with two workers, a listening socket per "
             "worker; benchmarks/serve_trivial.py). Embedded `leadscore serve` validates and scores `POST /v1/score` bodies in a "
             "helper process (`LEADSCORE_SCORING_PROCESS`, src/leadscore/scoring/offload.py), so that row uses two "
             "processes and is also compared with the trivial endpoint on two workers. The production database is "
             "vacuumed and analysed before its rows (`vacuum_analyze`: this machine's PostgreSQL runs without "
             "autovacuum).",
             "", "| endpoint | uvicorn workers | req/s | p50 ms | p99 ms | socket errors / timeouts / non-2xx | vs trivial |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for workers, variants in sorted(bases.items()):
        for label, result in variants.items():
            if label == VALIDATE_ONLY:
                lines.append(row("FastAPI `POST` reading and validating `POST /v1/score`'s body, no scoring, stock "
                                 "uvicorn", result or SKIPPED, variants["stock uvicorn"], workers))
                continue
            lines.append(row(f"trivial FastAPI `GET /ping`, {label}", result or SKIPPED, variants["stock uvicorn"],
                             workers))
    for m in modes:
        base, workers = bases[m["workers"]]["stock uvicorn"], m["workers"]
        lines.append(row(f"{m['mode']}: `GET /v1/leads/{{id}}/score`", m.get("get", SKIPPED), base, workers))
        post = row(f"{m['mode']}: `POST /v1/score` (1 lead, 20 interactions)", m.get("post", SKIPPED), base, workers)
        if m["mode"] == "embedded" and isinstance(m.get("post"), WrkResult) \
                and isinstance(bases.get(2, {}).get("stock uvicorn"), WrkResult):  # two processes
            post = post[:-2] + f" ({m['post'].rps / bases[2]['stock uvicorn'].rps:.0%} of 2 workers) |"
        lines.append(post)
        lines.append(row(f"{m['mode']}: `GET /v1/leads/{{id}}/score` while posting events",
                         m.get("get_during_hooks", SKIPPED), base, workers))
    lines += ["", "Event to webhook (interactions posted at "
              f"{args.rate:g}/s for {args.seconds} s under the GET load, open loop: each event is sent at its due time "
              "from a pool of clients, whatever earlier answers took; p50/p99/max: accepted response (the 202 read "
              "by the client) -> webhook received, 0 when the webhook came first (the request commits before its "
              "response is written); 'from send': the request sent -> webhook received. Webhooks fewer than posts: "
              "events that moved a score by less than a point send none. In production mode `leadscore worker` runs "
              f"at nice {next((m.get('worker_nice') for m in modes if 'worker_nice' in m), 'n/a')}):", "",
              "| mode | posted (failed) | posts per s, first sent to last answered | webhooks | p50 ms | p99 ms "
              "| max ms | from send p50 / p99 ms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in modes:
        if "webhook" not in m:  # left out with --only
            lines.append(f"| {m['mode']} | {SKIPPED} | | | | | | |")
            continue
        w = m.get("webhook") or {}
        lines.append(f"| {m['mode']} | {w.get('posted', 0)} ({w.get('failed', 0)}) | {w.get('rate', float('nan')):.1f}"
                     f" | {w.get('received', 0)} | {w.get('p50_ms', float('nan')):.0f}"
                     f" | {w.get('p99_ms', float('nan')):.0f} | {w.get('max_ms', float('nan')):.0f}"
                     f" | {w.get('send_p50_ms', float('nan')):.0f} / {w.get('send_p99_ms', float('nan')):.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="Events per second in the webhook run.")
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument("--production-workers", type=int, default=2,
                        help="uvicorn workers of `leadscore serve` in production mode (embedded allows only 1).")
    parser.add_argument("--worker-nice", type=int, default=-10,
                        help="Scheduling priority of `leadscore worker` in production mode (nice value; the "
                        "real-time path competes with wrk and the API for the same 2 cores: in a deployment it "
                        "has its own CPU).")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"Comma-separated parts to measure, of {','.join(PARTS)} (trivial: the baseline "
                        "endpoint; hooks: event to webhook). A partial run never writes RESULTS.md.")
    parser.add_argument("--no-write", action="store_true", help="Print the section, do not touch RESULTS.md.")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    if args.only - set(PARTS):
        parser.error(f"--only: unknown parts {sorted(args.only - set(PARTS))}; choose from {','.join(PARTS)}")
    load_before = os.getloadavg()[0]
    wrk = ensure_wrk()
    raise_fd_limit()
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/run_api.py" + "".join(f" {a}" for a in sys.argv[1:])
    mode_names = args.modes.split(",")
    counts = sorted({1 if m == "embedded" else args.production_workers for m in mode_names} | {1})
    bases: dict[int, dict[str, WrkResult | None]] = {}
    for workers in counts:
        bases[workers] = dict.fromkeys([*TRIVIAL_LOOPS, VALIDATE_ONLY])
        if "trivial" not in args.only:
            continue
        for label, loop in TRIVIAL_LOOPS.items():
            print(f"trivial endpoint, {workers} worker(s), {label}", flush=True)
            bases[workers][label] = trivial(wrk, args, logs, workers, loop)
        print(f"validate-only POST endpoint, {workers} worker(s)", flush=True)
        bases[workers][VALIDATE_ONLY] = trivial(wrk, args, logs, workers, validate_only=True)
    modes = [run_mode(mode, wrk, args, logs) for mode in mode_names]
    section = write_results(bases, modes, args, command, load_before)
    print(section)
    if not args.no_write and args.only == set(PARTS):
        write_section("## API", section)


if __name__ == "__main__":
    main()
