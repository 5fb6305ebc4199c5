"""A serving process freezes its startup heap and raises the collector's thresholds; test apps do not."""

from __future__ import annotations

import gc

import pytest

from leadscore.app import create_app, create_served_app
from leadscore.core import gc_tuning


@pytest.fixture
def restored_collector():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_the_heap_and_raises_the_thresholds(restored_collector):
    gc.unfreeze()
    kept = [object() for _ in range(10)]  # noqa: F841  # something startup built
    gc_tuning.tune_for_serving()
    assert gc.get_threshold() == gc_tuning.SERVING_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()  # cycles are still collected


def test_only_the_served_app_asks_for_it(monkeypatch):
    calls: list[bool] = []
    monkeypatch.setattr(gc_tuning, "tune_for_serving", lambda: calls.append(True))
    assert getattr(create_app().state, "tune_gc", False) is False
    assert create_served_app().state.tune_gc is True
    assert calls == []  # tuned at startup (the lifespan), not when the app is built


def test_a_serving_process_switches_threads_every_millisecond():
    import sys

    before = sys.getswitchinterval()
    try:
        gc_tuning.tune_thread_switching()
        assert sys.getswitchinterval() == pytest.approx(gc_tuning.SERVING_SWITCH_INTERVAL) == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(before)
