"""Concurrent awaits of the same Redis call joined into one round trip per batch (auto-pipelining).

Why: under load a production API worker has hundreds of requests in flight, and
each cached score read made three Redis round trips of its own (the cached
document, the rate-limit hit, the window's stats). Each round trip through
redis-py's asyncio client costs far more Python than the network: measured with
``benchmarks/run_api.py``, the production GET served 26 % of a trivial endpoint's
rate while the same path on the in-process cache served 83 %. Joining the calls
that are waiting at the same moment into one (``MGET`` for the cache, one
``limits`` hit with ``cost=n`` for the rate) makes that cost per batch, not per
request — what ioredis calls auto-pipelining and Lettuce does by default.

How: ``submit`` queues an item and, if no batch of this event loop is in flight,
starts one on the loop's next turn, so every item submitted in the current turn
joins it. While a batch is in flight, new items wait for the next one, which
starts as soon as it returns: a caller waits at most about two round trips, and
under load the batches grow with the load instead of the round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A bound keeps one reply (and one Lua call's key list) reasonably small.
MAX_BATCH = 512


@dataclass
class _LoopState(Generic[T, R]):
    loop: asyncio.AbstractEventLoop
    pending: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    running: bool = False


class Coalescer(Generic[T, R]):
    """``await submit(item)`` → ``run([... item ...])[its index]``, one ``run`` per batch.

    ``run`` gets the items of a batch in submission order and returns one result per
    item in the same order. If it raises, every caller of that batch gets the error.
    State is per event loop (asyncio clients and futures belong to one loop).
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = MAX_BATCH) -> None:
        self._run = run
        self.max_batch = max_batch
        self._states: dict[int, _LoopState[T, R]] = {}
        self.batches = 0  # how many runs, and how many items they carried (tests, diagnostics)
        self.items = 0

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        state = self._state(loop)
        future: asyncio.Future[R] = loop.create_future()
        state.pending.append((item, future))
        if not state.running:
            state.running = True
            loop.create_task(self._drain(state))  # runs on the next turn: this turn's items join
        return await future

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState[T, R]:
        state = self._states.get(id(loop))
        if state is None or state.loop is not loop:
            # A closed loop's id may be reused by a new one; forget the states of closed loops.
            for key in [k for k, s in self._states.items() if s.loop.is_closed()]:
                del self._states[key]
            state = self._states[id(loop)] = _LoopState(loop)
        return state

    async def _drain(self, state: _LoopState[T, R]) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while state.pending:
                batch, state.pending = state.pending[: self.max_batch], state.pending[self.max_batch:]
                self.batches += 1
                self.items += len(batch)
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():  # a caller that went away cancelled its own
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
            batch = []
        finally:
            # Normally nothing is left; when the loop shuts down and cancels this task,
            # its callers are cancelled too instead of waiting forever.
            state.running = False
            for _, future in batch + state.pending:
                if not future.done():
                    future.cancel()
            state.pending = []


class TurnCoalescer(Generic[T, R]):
    """``await submit(item)`` → ``run([... item ...])[its index]`` for a synchronous ``run``: the
    items submitted in one event-loop turn are run together, by a callback at the end of it.

    For in-process work that costs less per batch than per item (a rate-limit hit of cost
    ``n``). No task and no round trip: the callback runs before the loop polls again. If
    ``run`` raises, every caller of that batch gets the error.
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R]]) -> None:
        self._run = run
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[T, asyncio.Future[R]]]] = {}

    def submit(self, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((item, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        try:
            results = self._run([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a caller that went away cancelled its own
                future.set_result(result)
