"""The champion cache: one caller re-reads a stale champion while the others keep the last answer."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from leadscore.registry import service as registry
from leadscore.scoring.model_cache import ModelCache


def test_a_stale_champion_is_read_once_while_others_keep_the_last_answer(monkeypatch):
    reads: list[float] = []
    release = threading.Event()

    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        reads.append(time.monotonic())
        if len(reads) > 1:
            release.wait(5)  # the refresh is slow: everyone else must not wait for it
        return SimpleNamespace(id=7)

    monkeypatch.setattr(registry, "get_champion", get_champion)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache(champion_seconds=0.05)
    cache._models[7] = "the model"
    assert cache.champion(sessions, "demo") == (7, "the model") and len(reads) == 1
    time.sleep(0.1)  # stale now
    answers: list[object] = []
    refresher = threading.Thread(target=lambda: answers.append(cache.champion(sessions, "demo")))
    refresher.start()
    while len(reads) < 2:
        time.sleep(0.005)
    # While the refresh runs, other callers get the last answer at once, without a read.
    others = [cache.champion(sessions, "demo") for _ in range(20)] + [cache.fresh_champion("demo")]
    assert others == [(7, "the model")] * 21 and len(reads) == 2
    release.set()
    refresher.join(5)
    assert answers == [(7, "the model")]
    assert cache.fresh_champion("demo") == (7, "the model")  # fresh again
    time.sleep(0.1)
    assert cache.fresh_champion("demo") is False  # stale, nobody refreshing: the caller must read


@pytest.fixture
def blinking(monkeypatch):
    """(calls, sessions, cache): champion 3 (model "m") in a 10 ms cache, whose second read fails."""
    calls: list[str] = []

    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        calls.append(dataset)
        if len(calls) == 2:
            raise RuntimeError("database blinked")
        return SimpleNamespace(id=3)

    monkeypatch.setattr(registry, "get_champion", get_champion)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache(champion_seconds=0.01)
    cache._models[3] = "m"
    return calls, sessions, cache


def test_a_failed_refresh_lets_the_next_caller_try(blinking):
    calls, sessions, cache = blinking
    cache.champion(sessions, "d")
    time.sleep(0.05)
    try:
        cache.champion(sessions, "d")
    except RuntimeError:
        pass
    assert cache.fresh_champion("d") is False  # not stuck "refreshing" forever
    assert cache.champion(sessions, "d") == (3, "m") and len(calls) == 3


def test_given_sessions_a_stale_champion_is_served_while_a_thread_re_reads_it(monkeypatch):
    reads: list[str] = []
    release = threading.Event()

    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        reads.append(dataset)
        if len(reads) > 1:
            release.wait(5)
        return SimpleNamespace(id=7 if len(reads) == 1 else 8)

    monkeypatch.setattr(registry, "get_champion", get_champion)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache(champion_seconds=0.05)
    cache._models.update({7: "old", 8: "new"})
    assert cache.fresh_champion("demo", sessions) is False  # nothing known: the caller reads
    assert cache.champion(sessions, "demo") == (7, "old")
    time.sleep(0.1)  # stale now
    # Nobody waits for the re-read, not even the caller that started it; it runs once.
    assert [cache.fresh_champion("demo", sessions) for _ in range(20)] == [(7, "old")] * 20
    while len(reads) < 2:
        time.sleep(0.005)
    assert len(reads) == 2
    release.set()
    while cache.fresh_champion("demo") != (8, "new"):
        time.sleep(0.005)
    assert len(reads) == 2


def test_a_failed_background_re_read_lets_the_next_caller_try(blinking):
    calls, sessions, cache = blinking
    cache.champion(sessions, "d")
    time.sleep(0.05)
    assert cache.fresh_champion("d", sessions) == (3, "m")  # served; the re-read fails behind it
    while len(calls) < 2 or "d" in cache._refreshing:
        time.sleep(0.005)
    assert cache.fresh_champion("d", sessions) == (3, "m")  # a new re-read started
    while len(calls) < 3 or "d" in cache._refreshing:
        time.sleep(0.005)
    assert cache.fresh_champion("d") == (3, "m")  # fresh again


def _herd(call, n: int = 16) -> list[object]:
    """Run ``call`` on ``n`` threads started together; their answers or exceptions."""
    start = threading.Barrier(n)
    answers: list[object] = []

    def run() -> None:
        start.wait(5)
        try:
            answers.append(call())
        except Exception as exc:  # noqa: BLE001 - the test compares them
            answers.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return answers


def test_callers_with_nothing_known_share_one_read_and_one_load(monkeypatch):
    reads: list[str] = []
    loads: list[int] = []

    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        reads.append(dataset)
        time.sleep(0.2)  # slow enough that every thread arrives while it runs
        return SimpleNamespace(id=5)

    def load_model(session, version):  # noqa: ANN001, ANN202
        loads.append(version.id)
        time.sleep(0.1)
        return SimpleNamespace(model=f"model {version.id}")

    monkeypatch.setattr(registry, "get_champion", get_champion)
    monkeypatch.setattr(registry, "get", lambda session, version_id: SimpleNamespace(id=version_id))
    monkeypatch.setattr(registry, "load_model", load_model)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache()
    assert _herd(lambda: cache.champion(sessions, "demo")) == [(5, "model 5")] * 16
    assert reads == ["demo"] and loads == [5]
    # Loading a version directly is shared too (a promotion's new champion, say).
    assert _herd(lambda: cache.get(None, 6)) == ["model 6"] * 16 and loads == [5, 6]


def test_a_failed_shared_read_fails_its_waiters_and_the_next_caller_reads_again(monkeypatch):
    reads: list[str] = []

    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        reads.append(dataset)
        time.sleep(0.2)
        if len(reads) == 1:
            raise RuntimeError("database blinked")
        return SimpleNamespace(id=3)

    monkeypatch.setattr(registry, "get_champion", get_champion)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache()
    cache._models[3] = "m"
    answers = _herd(lambda: cache.champion(sessions, "d"), n=8)
    assert len(answers) == 8 and all(isinstance(a, RuntimeError) for a in answers) and len(reads) == 1
    assert cache.champion(sessions, "d") == (3, "m") and len(reads) == 2


def test_preload_skips_a_dataset_whose_champion_fails_to_load(monkeypatch, caplog):
    def get_champion(session, dataset):  # noqa: ANN001, ANN202
        if dataset == "broken":
            raise RuntimeError("artifact unreadable")
        return SimpleNamespace(id=4)

    monkeypatch.setattr(registry, "champion_datasets", lambda session: ["broken", "demo"])
    monkeypatch.setattr(registry, "get_champion", get_champion)
    sessions = sessionmaker(create_engine("sqlite://"))
    cache = ModelCache()
    cache._models[4] = "m"
    assert cache.preload(sessions) == ["demo"]
    assert cache.fresh_champion("demo") == (4, "m") and cache.fresh_champion("broken") is False
    assert "'broken'" in caplog.text
