"""Who dispatches the outbox: a worker listening for commits, the API only as a fallback sweep."""

from __future__ import annotations

import threading
import time

import pytest

from leadscore.core import outbox
from leadscore.core.database import session_scope
from leadscore.core.dispatcher import OutboxDispatcher
from leadscore.core.queue import InProcessQueue, TaskRegistry, dispatch_outbox
from leadscore.core.runtime import Runtime


@pytest.fixture
def runtime(fresh_database):
    runtime = Runtime.open(fresh_database)
    yield runtime
    runtime.close()


def _recording_queue() -> tuple[InProcessQueue, list[dict], threading.Event]:
    seen: list[dict] = []
    arrived = threading.Event()
    registry = TaskRegistry()
    registry.register("lead.rescore", lambda payload: (seen.append(payload), arrived.set()))
    return InProcessQueue(registry), seen, arrived


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_listening_dispatcher_sends_another_connections_commit_at_once(runtime, fresh_database):
    task_queue, seen, arrived = _recording_queue()
    # A sweep every minute: only the NOTIFY sent by the committing transaction can explain a quick send.
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue, interval=60.0)
    assert dispatcher.listen_for_commits()
    dispatcher.start()
    other = Runtime.open(fresh_database)  # another pool, as the API process would have
    try:
        time.sleep(0.5)  # the start-up sweeps and LISTEN are done
        with session_scope(other.sessions) as session:
            outbox.enqueue(session, "lead.rescore", {"lead_id": 7})
            outbox.enqueue(session, "lead.rescore", {"lead_id": 8})
        assert arrived.wait(5), "the committed rows were not dispatched on NOTIFY"
        task_queue.join()
        assert seen == [{"lead_id": 7}, {"lead_id": 8}]
    finally:
        dispatcher.stop()
        task_queue.close()
        other.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_rolled_back_write_wakes_nobody_and_sends_nothing(runtime):
    task_queue, seen, arrived = _recording_queue()
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue, interval=60.0)
    dispatcher.listen_for_commits()
    dispatcher.start()
    try:
        time.sleep(0.5)
        with pytest.raises(RuntimeError):
            with session_scope(runtime.sessions) as session:
                outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
                raise RuntimeError("request failed")
        assert not arrived.wait(1.5)
        assert seen == [] and dispatcher.drain() == 0
    finally:
        dispatcher.stop()
        task_queue.close()


def test_listening_needs_postgresql(runtime):
    dispatcher = OutboxDispatcher(runtime.sessions, InProcessQueue(TaskRegistry()))
    assert dispatcher.listen_for_commits() is (runtime.engine.dialect.name == "postgresql")
    dispatcher.task_queue.close()


def test_the_fallback_sweep_leaves_young_rows_and_takes_stale_ones(runtime):
    task_queue, seen, _ = _recording_queue()
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
    assert dispatch_outbox(runtime.sessions, task_queue, older_than=1.0) == 0  # a listener's to take
    time.sleep(1.2)
    assert dispatch_outbox(runtime.sessions, task_queue, older_than=1.0) == 1
    task_queue.join()
    task_queue.close()
    assert seen == [{"lead_id": 1}]


def test_a_sweep_only_dispatcher_still_drains_everything(runtime):
    task_queue, seen, _ = _recording_queue()
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue)
    dispatcher.sweep_only_older_than(60.0)
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"lead_id": 3})
    dispatcher.start()
    try:
        time.sleep(0.5)
        assert seen == []  # the loop leaves a young row alone
        assert dispatcher.drain() == 1  # commands and tests send everything
        task_queue.join()
        assert seen == [{"lead_id": 3}]
    finally:
        dispatcher.stop()
        task_queue.close()


def test_handing_off_queues_a_commit_at_once_and_marks_it_without_sending_it_twice(runtime):
    from sqlalchemy import select

    from leadscore.core.outbox import OutboxMessage

    task_queue, seen, arrived = _recording_queue()
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue, interval=60.0)  # the loop never runs here
    assert dispatcher.hand_off_commits()
    try:
        with session_scope(runtime.sessions) as session:
            outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
            with session.begin_nested():
                outbox.enqueue(session, "lead.rescore", {"lead_id": 2})
            try:
                with session.begin_nested():
                    outbox.enqueue(session, "lead.rescore", {"lead_id": 3})  # rolled back: never sent
                    raise ValueError
            except ValueError:
                pass
            assert not seen  # nothing before the commit
        with pytest.raises(RuntimeError):
            with session_scope(runtime.sessions) as session:
                outbox.enqueue(session, "lead.rescore", {"lead_id": 4})
                raise RuntimeError("the request failed")
        assert arrived.wait(5)
        task_queue.join()
        assert seen == [{"lead_id": 1}, {"lead_id": 2}]
        with session_scope(runtime.sessions, write=False) as session:
            assert session.scalars(select(OutboxMessage.dispatched_at)).all() == [None, None]
        assert dispatcher.drain() == 2  # marked as sent, not sent again
        task_queue.join()
        assert seen == [{"lead_id": 1}, {"lead_id": 2}]
        with session_scope(runtime.sessions, write=False) as session:
            assert None not in session.scalars(select(OutboxMessage.dispatched_at)).all()
        # Rows this process did not hand over (a command's, another process's) are still swept.
        other = Runtime.open(runtime.settings)
        try:
            with session_scope(other.sessions) as session:
                outbox.enqueue(session, "lead.rescore", {"lead_id": 5})
        finally:
            other.close()
        assert dispatcher.drain() == 1
        task_queue.join()
        assert seen[-1] == {"lead_id": 5}
    finally:
        dispatcher.stop()
        task_queue.close()


def test_forwarded_commits_go_to_the_other_process_until_it_fails_and_it_marks_them(runtime):
    from sqlalchemy import select

    from leadscore.core.outbox import OutboxMessage

    task_queue, seen, arrived = _recording_queue()
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue, interval=0.05)
    assert dispatcher.hand_off_commits()
    forwarded: list[tuple[int, str, dict]] = []
    dispatcher.forward_commits(lambda rows: forwarded.extend((m.id, m.topic, m.payload) for m in rows))
    dispatcher.sweep_only_older_than(0.0)  # no grace for young rows: a sweep would take them at once
    dispatcher.start()  # a loop that would sweep every 50 ms if it swept while forwarding
    # The other process: its own dispatcher, queue and hand-off, fed with what this one forwards.
    helper_queue, helper_seen, helper_arrived = _recording_queue()
    other = Runtime.open(runtime.settings)
    helper = OutboxDispatcher(other.sessions, helper_queue, interval=60.0)
    helper.hand_off_commits()
    try:
        with session_scope(runtime.sessions) as session:
            outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
        assert [(topic, payload) for _, topic, payload in forwarded] == [("lead.rescore", {"lead_id": 1})]
        time.sleep(0.3)
        assert not seen  # neither handed to this process's queue nor swept by its loop
        helper.hand_off([type("Row", (), {"id": i, "topic": t, "payload": p}) for i, t, p in forwarded])
        assert helper_arrived.wait(5)
        helper_queue.join()
        assert helper_seen == [{"lead_id": 1}]
        assert helper.mark_handed() == 1 and helper.mark_handed() == 0
        with session_scope(runtime.sessions, write=False) as session:
            assert None not in session.scalars(select(OutboxMessage.dispatched_at)).all()

        def gone(rows):  # noqa: ANN001, ANN202
            raise ConnectionError("helper gone")

        dispatcher.forward_commits(gone)
        with session_scope(runtime.sessions) as session:
            outbox.enqueue(session, "lead.rescore", {"lead_id": 2})
        assert not dispatcher.forwarding
        assert arrived.wait(5)  # this process took the work back at once
        task_queue.join()
        assert seen == [{"lead_id": 2}]
    finally:
        dispatcher.stop()
        helper.stop()
        task_queue.close()
        helper_queue.close()
        other.close()


def test_the_loop_stops_at_a_short_batch_where_a_drain_confirms_the_outbox_is_empty(runtime):
    from sqlalchemy import event

    task_queue, seen, _ = _recording_queue()
    dispatcher = OutboxDispatcher(runtime.sessions, task_queue)
    dispatcher.batch = 2
    reads: list[str] = []
    here = threading.get_ident()

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        # This thread's reads of the outbox: the dispatch transactions drain runs.
        if threading.get_ident() == here and statement.lstrip().upper().startswith("SELECT") \
                and "FROM outbox" in statement:
            reads.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        for rows in ([1, 2, 3], [4]):
            with session_scope(runtime.sessions) as session:
                for lead_id in rows:
                    outbox.enqueue(session, "lead.rescore", {"lead_id": lead_id})
            reads.clear()
            if rows == [1, 2, 3]:
                # A full batch may have left more: the loop reads on; a short one ends the wake.
                assert dispatcher.drain(until_empty=False) == 3
                per_batch = 1 if runtime.engine.dialect.name == "postgresql" else 2  # SQLite checks first
                assert len(reads) == 2 * per_batch
            else:
                assert dispatcher.drain() == 1
                # The drain reads once more and finds nothing (on SQLite the plain check says so).
                assert len(reads) == 2 if runtime.engine.dialect.name == "postgresql" else 3
        task_queue.join()
        assert seen == [{"lead_id": n} for n in (1, 2, 3, 4)]
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
        task_queue.close()
