"""The evaluator's own thread, not the test, decides and signals: the group scales out.

The runtime is started as heat-engine's worker hook starts it; the clock is
the session's manual clock, moved past the period close, and ``wake()`` tells
the running loop to look at it (what a compressed-time demo does).
"""
import time

from tests.support.heat_engine import load, push


def test_the_running_evaluator_thread_scales_the_group_out(heat_engine):
    engine = heat_engine
    ident = engine.create("threaded", engine.template("hot-autoscaling.yaml"),
                          params={"cooldown": 0})
    clock = engine.clock
    start = clock()
    push(engine, ident, "cpu_alarm_high", load(engine, ident["stack_id"], 90.0, start, 2))
    engine.runtime.start()
    try:
        clock.set(start + 120 + 1)
        engine.runtime.evaluator.wake()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and engine.outputs(ident)["size"] < 2:
            time.sleep(0.2)
        assert engine.outputs(ident)["size"] == 2
        assert engine.runtime.evaluator.rounds >= 1
    finally:
        engine.runtime.stop()
        engine.group_idle(ident)
