"""Helpers of benchmarks/run_api.py: processes, wrk scripts and runs, a webhook receiver."""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,"
    .. "\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed and this is not root: install it (apt-get install -y wrk) and rerun")
    print("installing wrk (apt-get install -y wrk)...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("could not install wrk with apt-get; install it by hand and rerun")
    return found


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _renice(nice: int) -> None:
    os.nice(nice)
    # With the kernel's autogroup scheduling on, a new session is its own group and nice counts
    # only inside it; the group's own nice value is what weighs against the other processes.
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:
        pass


def start(cmd: list[str], env: dict[str, str], log: Path, nice: int = 0) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=(lambda: _renice(nice)) if nice else None)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _cpu_seconds(sessions: set[int]) -> float:
    """CPU time used so far by every live process of these sessions (a server and the helpers it started)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) in sessions:  # field 6 of stat, the session id
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def wait_idle(processes: list[subprocess.Popen], *, window: float = 2.0, busy: float = 0.05,
              timeout: float = 900.0) -> float:
    """Wait until the processes (each started in its own session by ``start``) and their children use under
    ``busy`` of a CPU over ``window`` seconds; the seconds waited.

    Why: a database fresh from the build has follow-up work pending in its outbox (the CLI commands leave it
    to the server): model promotions, ~1,000 ``score.changed`` and the dashboard refreshes. The first server
    to start runs it, and the first GET figure after a build was a quarter of the next run's, p99 3 s. The
    figures are of the steady state, so the run waits that work out instead of measuring beside it.
    """
    sessions = {p.pid for p in processes}
    started = time.monotonic()
    before = _cpu_seconds(sessions)
    while time.monotonic() - started < timeout:
        time.sleep(window)
        now = _cpu_seconds(sessions)
        if now - before < busy * window:
            return time.monotonic() - started
        before = now
    raise SystemExit(f"the server was still busy after {timeout:.0f} s")


@dataclass
class WrkResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    timeouts: int
    non_2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(wrk: str, name: str, url: str, script: Path, *, seconds: int, connections: int, threads: int) -> WrkResult:
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, preexec_fn=raise_fd_limit,
    )
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not match:
        raise SystemExit(f"wrk failed for {name}:\n{out.stdout}\n{out.stderr}")
    data = json.loads(match.group(1))
    return WrkResult(name, data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000,
                     data["connect"] + data["read"] + data["write"], data["timeout"], data["status"])


def lua_get(path: str, headers: dict[str, str]) -> str:
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join([*lines, f'wrk.path = "{path}"', WRK_DONE])


def lua_get_random(ids: list[int], template: str, headers: dict[str, str]) -> str:
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    table = ",".join(map(str, ids))
    return "\n".join([*lines, f"local ids = {{{table}}}",
                      "math.randomseed(os.time())",
                      "request = function()",
                      f'  return wrk.format("GET", string.format("{template}", ids[math.random(#ids)]))',
                      "end", WRK_DONE])


def lua_post(path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in {**headers, "Content-Type": "application/json"}.items()]
    encoded = json.dumps(json.dumps(body))  # a Lua-compatible double-quoted string
    return "\n".join([*lines, 'wrk.method = "POST"', f'wrk.path = "{path}"', f"wrk.body = {encoded}", WRK_DONE])


class Receiver:
    """Webhook receiver on 127.0.0.1: records (arrival time, lead id) of each event."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.monotonic()
                try:
                    lead_id = int(json.loads(body)["data"]["lead_id"])
                    with receiver.lock:
                        receiver.arrivals.setdefault(lead_id, now)
                except Exception:
                    pass
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def webhook_latency(base: str, headers: dict[str, str], lead_ids: list[int], seconds: int, rate: float,
                    receiver: Receiver, hook_id: int) -> dict:
    """Open loop: event n is sent at start + n / rate from a pool of clients, whatever the answers
    of earlier ones, so the rate holds under load (a single sequential client was slowed to
    about one event per second by the GET load, then sent the rest in a burst when it ended)."""
    from concurrent.futures import ThreadPoolExecutor

    accepted: dict[int, float] = {}
    sent: dict[int, float] = {}
    failures = 0
    reasons: dict[str, int] = {}
    lock = threading.Lock()
    local = threading.local()
    start_at = time.monotonic()

    def post(n: int, lead_id: int) -> None:
        nonlocal failures
        time.sleep(max(0.0, start_at + n / rate - time.monotonic()))
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, headers=headers, timeout=30)
        now = datetime.now(UTC).isoformat()
        items = [{"lead_id": lead_id, "type": t, "direction": "inbound", "occurred_at": now}
                 for t in ("showing", "showing", "saved_search")]
        sent_at = time.monotonic()
        try:
            response = client.post("/v1/interactions/batch", json={"items": items})
            why = str(response.status_code)
        except httpx.HTTPError as exc:
            response, why = None, type(exc).__name__
        with lock:
            if response is not None and response.status_code == 202:
                accepted[lead_id] = time.monotonic()
                sent[lead_id] = sent_at
            else:
                failures += 1
                reasons[why] = reasons.get(why, 0) + 1

    # Leads drawn afresh each run: events on leads an earlier run already pushed to the top of the
    # scale stop moving their score, and then send no webhook to time.
    events = random.sample(lead_ids, min(len(lead_ids), int(seconds * rate)))
    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            list(pool.map(post, range(len(events)), events))
        sent_for = time.monotonic() - start_at
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(receiver.arrivals) < len(accepted):
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            client.delete(f"/v1/webhooks/{hook_id}")
    finally:
        receiver.close()
    latencies = [max(0.0, receiver.arrivals[i] - t) * 1000 for i, t in accepted.items() if i in receiver.arrivals]
    from_send = [(receiver.arrivals[i] - sent[i]) * 1000 for i in accepted if i in receiver.arrivals]
    return {"posted": len(accepted), "failed": failures, "received": len(latencies), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies) if latencies else float("nan"),
            "send_p50_ms": percentile(from_send, 50), "send_p99_ms": percentile(from_send, 99),
            "post_ms": sorted(round((accepted[i] - sent[i]) * 1000) for i in accepted),
            "rate": len(events) / sent_for if sent_for > 0 else float("nan"), "failures": reasons}
