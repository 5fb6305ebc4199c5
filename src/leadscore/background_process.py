"""Embedded mode's background work in a helper process beside the API's event loop.

Why: without a broker, the task queue's threads (rescoring, ``score.changed``,
webhook delivery) and the outbox dispatcher used to live in the API process,
and under load they waited for the interpreter lock behind an event loop that
never idles. Measured with ``benchmarks/run_api.py --only hooks --modes
embedded`` on a 2-CPU AMD EPYC host (events at 10/s under the 1,000-connection
GET load): accepted -> webhook p99 2.4 s, against 1 s wanted. Here that work
runs in a process of its own (spawned by the served app, nothing to install),
which the operating system schedules on the other core. Measured with
``run_api.py --only hooks --modes embedded``, three runs each, interleaved with
the previous code on that host: accepted -> webhook p99 131 / 138 / 79 ms
(before: 354 / 1,800 / 1,420), and the GET load beside the events served
7,462 / 6,532 / 5,256 requests/s (before: 4,621 / 2,786 / 2,999).

What crosses between the two, over two socket pairs (``core.frames``):

- API -> helper: the outbox rows each API transaction committed, as it commits
  (``OutboxDispatcher.forward_commits``). The helper queues them at once and
  marks them sent; it also sweeps rows nobody handed over (e.g. a command's),
  as the API did. Nothing is lost if the helper dies: its rows stay unsent in
  the outbox and are swept again (at-least-once, idempotent handlers).
- helper -> API: what its handlers do to the API's state: writes to the score
  cache (``set``, ``delete``, ``clear_prefix``, ``add_many``: the embedded cache
  lives in the API process), "a model was promoted" (drop loaded models), and
  the domain counters (scores computed, webhook outcomes) for ``/metrics``.

Until the helper reports ready, and whenever it is gone, the API runs the
work in process as before (its queue and dispatcher stay open); a dead helper
is restarted after ``RESTART_AFTER`` seconds. The embedded scheduler
(retraining, drift checks, webhook retries) runs in the helper too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from leadscore.core import metrics
from leadscore.core.config import Settings
from leadscore.core.frames import aread_frame, frame, read_frame, reap, restart_after

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

RESTART_AFTER = 5.0  # seconds after the helper died
SEND_TIMEOUT = 5.0  # a helper that takes no rows for this long is treated as gone
COUNTERS_EVERY = 0.5  # seconds between counter updates from the helper
CACHE_WRITES = frozenset({"set", "delete", "clear_prefix", "add_many"})


class _Sender:
    """Frames written to a blocking socket from any thread, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(SEND_TIMEOUT)
        self.sock = sock
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        data = frame(message)
        with self._lock:
            self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class BackgroundProcess:
    """The API's side: start the helper, forward commits to it, apply what it sends back."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.ready = False
        self._process: Any = None
        self._sender: _Sender | None = None
        self._reader_task: asyncio.Task | None = None
        self._closed = False

    async def start(self) -> None:
        to_child, child_in = socket.socketpair()
        from_child, child_out = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads and a loop
        self._process = context.Process(target=child_main, args=(child_in, child_out, self.services.settings),
                                        daemon=True, name="leadscore-background")
        self._process.start()
        child_in.close()
        child_out.close()
        self._sender = _Sender(to_child)
        reader, writer = await asyncio.open_unix_connection(sock=from_child, limit=2**26)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, writer))

    def _forward(self, messages: list[Any]) -> None:
        """Called in the committing thread; raises if the helper is gone (the dispatcher then
        queues the rows in this process)."""
        sender = self._sender
        if sender is None or not self.ready:
            raise ConnectionError("background process not running")
        rows = [(m.id, m.topic, m.payload) for m in messages]
        try:
            sender.send(("outbox", rows))
        except OSError:
            # A frame may be half written: the stream is unusable. Closing it ends the helper
            # (it reads end-of-file), and the reader below restarts one.
            self.ready = False
            sender.close()
            raise

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dispatcher = self.services.dispatcher
        try:
            while True:
                self._apply(await aread_frame(reader))
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            if not self._closed:
                log.warning("background process stopped (%s); background work runs in the API until a new "
                            "one is ready", exc)
        except Exception:
            log.exception("background process sent what the API cannot apply; restarting it")
        finally:
            self.ready = False
            dispatcher.forward_commits(None)
            writer.close()
            if self._sender is not None:
                self._sender.close()
                self._sender = None
        await restart_after(RESTART_AFTER, self._process, lambda: self._closed, self.start)

    def _apply(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "cache":
            _, name, args = message
            if name in CACHE_WRITES:
                getattr(self.services.cache, name)(*args)
        elif kind == "models_clear":
            from leadscore.scoring.model_cache import model_cache

            model_cache(self.services).clear()
        elif kind == "counters":
            _, scores, webhooks = message
            metrics.scores_computed(scores)
            for outcome, n in webhooks.items():
                metrics.webhook_delivery(outcome, n)
        elif kind == "ready":
            self.ready = True
            self.services.dispatcher.forward_commits(self._forward)
            log.info("background process %s ready: background work runs there", self._process.pid)

    async def close(self) -> None:
        self._closed = True
        self.ready = False
        self.services.dispatcher.forward_commits(None)
        if self._sender is not None:
            self._sender.close()  # the helper reads end-of-file, finishes its work in hand and exits
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._process is not None:
            process = self._process
            await asyncio.get_running_loop().run_in_executor(None, lambda: process.join(timeout=15))
            reap(process)


class ForwardingCache:
    """The helper's cache: reads miss (handlers read the database), writes go to the API's cache."""

    def __init__(self, sender: _Sender, default_ttl: float | None = 3600.0) -> None:
        self._sender = sender
        self.default_ttl = default_ttl  # warm_cache spreads the entries' lifetimes below it

    def get(self, key: str) -> dict[str, Any] | None:
        return None

    async def aget_json(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        self._sender.send(("cache", "set", (key, value, ttl)))

    def add_many(self, values: dict[str, dict[str, Any]], ttl: float | None = None) -> int:
        self._sender.send(("cache", "add_many", (values, ttl)))
        return len(values)  # at most: the API's cache keeps what it already has

    def claim_warm_up(self) -> bool:
        return False  # the API warms its own cache

    def delete(self, *keys: str) -> None:
        if keys:
            self._sender.send(("cache", "delete", keys))

    def clear_prefix(self, prefix: str) -> None:
        self._sender.send(("cache", "clear_prefix", (prefix,)))

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


def child_main(rows_in: socket.socket, to_parent: socket.socket, settings: Settings) -> None:
    """The helper: run the task queue, dispatcher and scheduler; take the API's commits until it closes."""
    from leadscore.core import gc_tuning
    from leadscore.core.services import Services
    from leadscore.scoring.model_cache import model_cache
    from leadscore.tasks import make_scheduler

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the API shuts us down
    sender = _Sender(to_parent)
    services = Services.open(settings, consume_in_process=True, upgrade=False,
                             cache=ForwardingCache(sender))
    # After the scoring domain's own handler (which drops this process's models): the API's too.
    services.tasks.register("model.promoted", lambda _payload: sender.send(("models_clear",)))
    services.dispatcher.hand_off_commits()
    services.dispatcher.start()
    model_cache(services).preload(services.runtime.sessions)
    scheduler = make_scheduler(services) if settings.scheduler_enabled else None
    if scheduler is not None:
        scheduler.start()
    stop = threading.Event()
    sent: list[Any] = [0, {}]  # the counts the API has been sent
    counters = threading.Thread(target=_send_counters, args=(sender, sent, stop), name="leadscore-counters",
                                daemon=True)
    counters.start()
    gc_tuning.tune_for_serving()
    sender.send(("ready",))
    stream = rows_in.makefile("rb")
    try:
        while True:
            try:
                _, rows = read_frame(stream)
            except EOFError:
                return  # the API closed its end
            services.dispatcher.hand_off([SimpleNamespace(id=i, topic=t, payload=p) for i, t, p in rows])
    except (ConnectionError, OSError):
        return
    finally:
        if scheduler is not None:
            scheduler.stop()
        services.queue.close()  # after the work already queued
        services.dispatcher.stop()
        services.dispatcher.mark_handed()  # so that the next sweep does not run them again
        stop.set()
        counters.join(timeout=2)
        with contextlib.suppress(OSError):
            _flush_counters(sender, sent)
        services.close()


def _send_counters(sender: _Sender, sent: list[Any], stop: threading.Event) -> None:
    while not stop.wait(COUNTERS_EVERY):
        try:
            _flush_counters(sender, sent)
        except OSError:
            return


def _flush_counters(sender: _Sender, sent: list[Any]) -> None:
    """Send the counts since ``sent`` (updated in place)."""
    scores, webhooks = metrics.domain_counts()
    new_scores = scores - sent[0]
    new_webhooks = {k: n - sent[1].get(k, 0) for k, n in webhooks.items() if n != sent[1].get(k, 0)}
    if new_scores or new_webhooks:
        sender.send(("counters", new_scores, new_webhooks))  # OSError: the API is gone
        sent[0], sent[1] = scores, webhooks

