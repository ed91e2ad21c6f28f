"""When sources are polled: on their interval, backing off when they fail, never
piling up, and never holding up one another."""
import time

import pytest

from heat_alarming.metering.pipeline.runner import MAX_BACKOFF, backoff
from tests.support.pipeline import build, sink, source
from tests.unit.metering.conftest import T0


def polls(pipeline, name="s"):
    return pipeline.stats()["sources"][name]["polls"]


def test_a_source_is_polled_at_once_then_every_interval(clock):
    pipeline, _ = build(clock, [source(interval=10)], [sink()])
    assert pipeline.poll_due(T0) == ["s"]
    assert pipeline.poll_due(T0 + 9.9) == []
    assert pipeline.poll_due(T0 + 10) == ["s"]
    # late by more than an interval: one poll, and the next back on the source's grid
    assert pipeline.poll_due(T0 + 35) == ["s"]
    assert pipeline.next_poll() == T0 + 40
    assert polls(pipeline) == 3


def test_run_once_polls_every_source_whether_due_or_not(clock):
    pipeline, loader = build(clock, [source("a"), source("b", interval=60)], [sink()])
    pipeline.poll_due(T0)
    assert pipeline.run_once(T0 + 1) == ["a", "b"]
    assert loader.one("record").samples == 8  # 2 sources x 2 polls x 2 resources


def test_the_backoff_doubles_from_the_interval_up_to_its_cap():
    assert [backoff(10, n) for n in range(1, 7)] == [10, 20, 40, 80, 160, 300]
    assert backoff(10, 1000) == MAX_BACKOFF
    assert backoff(600, 5) == 600  # a long interval is never shortened


def test_a_failing_source_is_retried_with_backoff_and_recovers(clock):
    pipeline, loader = build(clock, [source(interval=10)], [sink()])
    collector = loader.one("scripted")
    collector.fail = True
    now, waits = T0, []
    for _ in range(4):
        assert pipeline.poll_due(now) == ["s"]
        waits.append(pipeline.next_poll() - now)
        assert pipeline.poll_due(pipeline.next_poll() - 0.001) == []  # not before
        now = pipeline.next_poll()
    assert waits == [10, 20, 40, 80]
    stats = pipeline.stats()["sources"]["s"]
    assert (stats["failures"], stats["failures_in_row"]) == (4, 4)
    assert stats["last_error"] == "source down"
    collector.fail = False
    pipeline.poll_due(now)
    assert pipeline.next_poll() == now + 10  # back on its interval
    assert pipeline.stats()["sources"]["s"]["failures_in_row"] == 0
    assert loader.one("record").samples == 2


def test_a_poll_beyond_its_timeout_counts_as_one_and_its_samples_are_dropped(clock):
    pipeline, loader = build(clock, [source(interval=10, timeout=5)], [sink()])
    collector = loader.one("scripted")
    collector.takes = 6.0  # the collector's answer comes 6 s (of the manual clock) later
    pipeline.poll_due(T0)
    stats = pipeline.stats()["sources"]["s"]
    assert (stats["timeouts"], stats["failures"], stats["samples"]) == (1, 0, 0)
    assert "timeout 5 s" in stats["last_error"]
    assert loader.one("record").samples == 0
    assert pipeline.next_poll() == T0 + 6 + 10  # backoff from when it was noticed


def test_a_failing_or_crashing_source_does_not_stop_the_others(clock):
    pipeline, loader = build(clock, [source("down"), source("buggy"), source("fine")],
                             [sink()])
    down, buggy, _ = loader.parts["scripted"]
    down.fail, buggy.crash = True, True
    assert pipeline.poll_due(T0) == ["down", "buggy", "fine"]
    stats = pipeline.stats()["sources"]
    assert stats["down"]["failures"] == stats["buggy"]["failures"] == 1
    assert stats["buggy"]["last_error"] == "RuntimeError: collector bug"
    assert stats["fine"]["samples"] == 2
    assert loader.one("record").samples == 2


def test_a_stuck_source_neither_delays_the_others_nor_piles_up_threads(clock):
    pipeline, loader = build(
        clock, [source("stuck", interval=10, timeout=5, sinks=["a"]),
                source("fine", interval=10, sinks=["b"])], [sink("a"), sink("b")])
    stuck, fine = loader.parts["scripted"]
    out_stuck, out_fine = loader.parts["record"]
    stuck.gate.clear()  # its collect blocks until the test opens the gate
    pipeline.start()
    try:
        assert stuck.entered.wait(10)
        assert out_fine.wait_for(2)
        # the stuck poll passes its timeout, the other source's next poll is due
        clock.advance(10)
        pipeline.wake()
        assert out_fine.wait_for(4)
        stats = pipeline.stats()["sources"]["stuck"]
        assert stats["timeouts"] == 1 and stats["busy"]
        # still stuck at its next due time: skipped, not started a second time
        clock.advance(stats["next_poll"] - clock())
        pipeline.wake()
        assert out_fine.wait_for(6)
        assert len(stuck.calls) == 1
        assert pipeline.stats()["sources"]["stuck"]["skipped"] >= 1
        # it returns, late: what it brought is dropped; its next poll runs again
        stuck.gate.set()
        assert pipeline.wait_until(lambda s: not s["sources"]["stuck"]["busy"], 10)
        clock.advance(pipeline.stats()["sources"]["stuck"]["next_poll"] - clock())
        stuck.entered.clear()
        pipeline.wake()
        assert out_stuck.wait_for(2)
        assert len(stuck.calls) == 2 and out_stuck.samples == 2  # only the second poll's
    finally:
        stuck.gate.set()
        pipeline.stop()
    assert pipeline.stats()["sources"]["fine"]["failures"] == 0


def test_stop_with_several_stuck_sources_returns_within_its_timeout(clock):
    # one deadline for the whole stop: five stuck polls do not each get the timeout
    names = [f"stuck{i}" for i in range(5)]
    pipeline, loader = build(clock, [source(n, sinks=[n]) for n in names],
                             [sink(n) for n in names])
    stuck = loader.parts["scripted"]
    for collector in stuck:
        collector.gate.clear()
    pipeline.start()
    try:
        assert all(c.entered.wait(10) for c in stuck)
        started = time.monotonic()
        pipeline.stop(timeout=1.0)
        took = time.monotonic() - started
    finally:
        for collector in stuck:
            collector.gate.set()

    # the timeout and a margin for a loaded machine; one timeout per source was 5 s
    assert took < 1.0 + 1.5
    assert all(c.closed for c in stuck)  # closed under their threads


def test_polling_on_threads_and_on_the_callers_thread_do_not_mix(clock):
    pipeline, _ = build(clock, [source()], [sink()])
    pipeline.start()
    try:
        with pytest.raises(RuntimeError):
            pipeline.poll_due(T0)
    finally:
        pipeline.stop()
    with pytest.raises(RuntimeError):
        pipeline.run_once()
