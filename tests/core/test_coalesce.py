"""Coalescer: concurrent submits share one run, each caller gets its own result or the batch's error."""

from __future__ import annotations

import asyncio

import pytest

from leadscore.core.coalesce import Coalescer


def test_items_submitted_together_share_one_run_and_keep_their_order():
    runs: list[list[int]] = []

    async def run(items):
        runs.append(list(items))
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    coalescer = Coalescer(run)

    async def main():
        first = await asyncio.gather(*(coalescer.submit(i) for i in range(50)))
        second = await coalescer.submit(7)
        return first, second

    first, second = asyncio.run(main())
    assert first == [i * 10 for i in range(50)] and second == 70
    assert runs == [list(range(50)), [7]]
    assert (coalescer.batches, coalescer.items) == (2, 51)


def test_items_arriving_during_a_run_form_the_next_batch():
    runs: list[list[int]] = []
    async def run(items):
        runs.append(list(items))
        await asyncio.sleep(0.05)
        return items

    coalescer = Coalescer(run)

    async def main():
        early = asyncio.ensure_future(coalescer.submit(0))
        await asyncio.sleep(0.01)  # the first batch [0] is in flight now
        late = await asyncio.gather(*(coalescer.submit(i) for i in (1, 2, 3)))
        return await early, late

    assert asyncio.run(main()) == (0, [1, 2, 3])
    assert runs == [[0], [1, 2, 3]]


def test_batches_are_bounded():
    sizes: list[int] = []

    async def run(items):
        sizes.append(len(items))
        return items

    coalescer = Coalescer(run, max_batch=4)

    async def main():
        return await asyncio.gather(*(coalescer.submit(i) for i in range(10)))

    assert asyncio.run(main()) == list(range(10))
    assert sizes == [4, 4, 2]


def test_a_failing_run_fails_its_batch_only():
    async def run(items):
        if 0 in items:
            raise ConnectionError("redis went away")
        return items

    coalescer = Coalescer(run)

    async def main():
        failed = await asyncio.gather(*(coalescer.submit(i) for i in (0, 1)), return_exceptions=True)
        return failed, await coalescer.submit(5)

    failed, later = asyncio.run(main())
    assert all(isinstance(f, ConnectionError) for f in failed) and later == 5


def test_a_caller_that_goes_away_does_not_break_the_others():
    async def run(items):
        await asyncio.sleep(0.02)
        return items

    coalescer = Coalescer(run)

    async def main():
        leaving = asyncio.ensure_future(coalescer.submit(1))
        staying = asyncio.ensure_future(coalescer.submit(2))
        await asyncio.sleep(0.005)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(main()) == 2


def test_each_event_loop_has_its_own_batches():
    async def run(items):
        return [(item, id(asyncio.get_running_loop())) for item in items]

    coalescer = Coalescer(run)
    one = asyncio.run(coalescer.submit("a"))
    two = asyncio.run(coalescer.submit("b"))
    assert one[0] == "a" and two[0] == "b"
    assert len(coalescer._states) == 1  # the closed loop's state was dropped


def test_a_turn_coalescer_runs_the_items_of_one_loop_turn_together():
    from leadscore.core.coalesce import TurnCoalescer

    runs: list[list[int]] = []

    def run(items):
        runs.append(list(items))
        if 13 in items:
            raise ValueError("unlucky batch")
        return [item * 10 for item in items]

    coalescer = TurnCoalescer(run)

    async def submit(item):  # as a request does: from its own task, at its own await
        return await coalescer.submit(item)

    async def main():
        first = await asyncio.gather(*(submit(i) for i in range(5)))
        second = await submit(7)  # a later turn: a batch of its own
        failed = await asyncio.gather(submit(12), submit(13), return_exceptions=True)
        after = await submit(14)
        return first, second, failed, after

    first, second, failed, after = asyncio.run(main())
    assert first == [0, 10, 20, 30, 40] and second == 70 and after == 140
    assert [type(result) for result in failed] == [ValueError, ValueError]  # the batch's error, both
    assert runs == [[0, 1, 2, 3, 4], [7], [12, 13], [14]]
