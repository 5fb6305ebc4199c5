"""Stateless scoring in a helper process beside an embedded API's one event loop.

Why: embedded mode serves from one process (its cache and task queue live in
it), so on a two-core machine the API used one core while validating and
scoring ``POST /v1/score`` bodies took about two fifths of that core's time
under load. A second process (spawned by the served app, nothing to install)
takes the bodies, validates them exactly as the route does and scores them in
batches, and the event loop only reads requests, checks keys and writes
answers. Measured with the benchmark's stateless load (1,000 connections), the
loop alone, answering without validating or scoring, served about twice the
requests it serves doing both.

Protocol, over a socket pair: the parent sends a batch of raw bodies, the
child answers each with the response body or ``None`` ("decline": a body that
does not validate, a dataset without a champion, a scoring error). A declined
request goes to the FastAPI route, which gives the documented answer or error,
exactly as when the fast path declines in process. The parent keeps two batches
in flight at most; what arrives meanwhile forms the next. If the child dies,
the requests it held are declined (the route scores them), the API scores in
process, and a new child is started.

The child reads the champion as every other process does (``ModelCache``:
a promotion is picked up within its ``champion_seconds``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
from typing import Any

from leadscore.core import metrics
from leadscore.core.config import Settings
from leadscore.core.frames import aread_frame, frame, read_frame, reap, restart_after
from leadscore.scoring import stateless

log = logging.getLogger(__name__)

# Bodies per batch: as the in-process batcher's MAX_BATCH_LEADS for one-lead requests.
MAX_BATCH = 256
IN_FLIGHT = 2
RESTART_AFTER = 5.0  # seconds after a child died


class ScoringProcess:
    """The parent's side: ``await score(body)`` → response body, or None to let the route answer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self._process: Any = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._pending: list[tuple[bytes, asyncio.Future[bytes | None]]] = []
        self._in_flight: dict[int, list[asyncio.Future[bytes | None]]] = {}
        self._next_batch = 0
        self._flush_scheduled = False
        self._closed = False

    async def start(self) -> None:
        """Spawn the child; it serves once it has loaded (``ready``), the API scores in process meanwhile."""
        parent, child = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads and a loop
        self._process = context.Process(target=child_main, args=(child, self.settings), daemon=True,
                                        name="leadscore-scoring")
        self._process.start()
        child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent, limit=2**26)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    async def score(self, body: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._pending.append((body, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)  # this loop turn's bodies join the batch
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending and len(self._in_flight) < IN_FLIGHT and self.ready and self._writer is not None:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._next_batch += 1
            self._in_flight[self._next_batch] = [future for _, future in batch]
            # Scored as of this process's clock, as the route would score them now.
            self._writer.write(frame((self._next_batch, stateless.utcnow(), [body for body, _ in batch])))
        if self._pending and not self.ready:  # the child went away meanwhile: the route answers
            self._decline(future for _, future in self._pending)
            self._pending = []

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await aread_frame(reader)
                if message == "ready":
                    self.ready = True
                    log.info("scoring process %s ready", self._process.pid)
                    continue
                batch_id, answers, scored = message
                metrics.scores_computed(scored)
                for future, answer in zip(self._in_flight.pop(batch_id), answers, strict=True):
                    if not future.done():  # the client went away
                        future.set_result(answer)
                self._flush()
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            if not self._closed:
                log.warning("scoring process stopped (%s); scoring in process until a new one is ready", exc)
        finally:
            self.ready = False
            for futures in self._in_flight.values():
                self._decline(futures)
            self._in_flight.clear()
            self._flush()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        await restart_after(RESTART_AFTER, self._process, lambda: self._closed, self.start)

    @staticmethod
    def _decline(futures: Any) -> None:
        for future in futures:
            if not future.done():
                future.set_result(None)

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()  # the child reads end-of-file and exits
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._process is not None:
            process = self._process
            await asyncio.get_running_loop().run_in_executor(None, lambda: reap(process))


def child_main(sock: socket.socket, settings: Settings) -> None:
    """The child: read batches of bodies, answer each with a response body or None."""
    from leadscore.core import gc_tuning
    from leadscore.core.runtime import Runtime
    from leadscore.scoring.model_cache import ModelCache
    from leadscore.scoring.request_reader import RequestReader

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the API shuts us down
    runtime = Runtime.open(settings, upgrade=False)
    models = ModelCache()
    reader = RequestReader()
    stream = sock.makefile("rwb")
    models.preload(runtime.sessions)  # until "ready", the API scores in-process
    gc_tuning.tune_for_serving()
    _send(stream, "ready")
    try:
        while True:
            try:
                batch_id, now, bodies = read_frame(stream)
            except EOFError:
                return  # the API closed its end
            answers, scored = answer_bodies(bodies, reader, models, runtime.sessions, now)
            _send(stream, (batch_id, answers, scored))
    except (BrokenPipeError, ConnectionError):
        return
    finally:
        runtime.close()


def _send(stream: Any, message: Any) -> None:
    stream.write(frame(message))
    stream.flush()


def answer_bodies(bodies: list[bytes], reader: Any, models: Any, sessions: Any,
                  now: Any = None) -> tuple[list[bytes | None], int]:
    """Each body's ``POST /v1/score`` response body, or None where the route must answer; and how
    many leads were scored. Validation as the in-process fast path does it (``RequestReader``)."""
    from pydantic import ValidationError

    answers: list[bytes | None] = [None] * len(bodies)
    batch: list[stateless.Pending] = []
    positions: list[int] = []
    for n, body in enumerate(bodies):
        try:
            request = reader.read(body)
            found = models.champion(sessions, request.dataset)
        except (ValueError, ValidationError, RecursionError):
            continue
        except Exception:  # the database: the route reports it as it would in process
            log.warning("scoring process could not read the champion", exc_info=True)
            continue
        if found is None:  # no champion: the route's 409
            continue
        batch.append(stateless.Pending(request, found[0], found[1]))
        positions.append(n)
    scored = 0
    for n, waiting, body in zip(positions, batch, stateless.score_batch(batch, now), strict=True):
        if isinstance(body, bytes):
            answers[n] = body
            scored += len(waiting.request.leads)
    return answers, scored
