"""Reaction latency inside heat-engine: period close to the policy's SIGNAL event.

An embedded heat-engine (Heat's real EngineService, fake:// messaging, Heat's
database on a SQLite file) runs ``templates/hot-autoscaling.yaml`` with 2 s
periods on a 1 s store, on the real clock, with the evaluator thread
running as it does in heat-engine (periodic rounds every 60 s, so only the
period-close trigger can react fast). Each run pushes breaching samples
through the alarm's signal, takes the close of the period that holds the
last of them, and waits for the scale-up policy's SIGNAL event; the latency
is the event's time (read from Heat's event table, to the microsecond)
minus that close. Then the load drops and the group goes back.

Beside it, the same engine measures Heat's own share: the bench signals the
same policy itself, as the evaluator does (admin context, engine RPC), and
times the SIGNAL event from the call. No evaluator can react faster than that.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from heat_alarming.resources.embedded import select_threading_backend  # noqa: E402

select_threading_backend()

import sqlalchemy as sa  # noqa: E402
from _common import progress, result  # noqa: E402

from heat_alarming.resources.embedded import EmbeddedEngine  # noqa: E402

PERIOD = 2


def signal_times(engine, ident, resource):
    """Times of the resource's SIGNAL events, from Heat's own table (the API
    rounds event times to the second)."""
    from heat.db import api as db_api
    query = sa.text("SELECT created_at FROM event WHERE stack_id = :s AND resource_name = :r "
                    "AND resource_action = 'SIGNAL'")
    with db_api.get_engine().connect() as connection:
        rows = connection.execute(query, {"s": ident["stack_id"], "r": resource}).all()
    stamps = [row[0] if isinstance(row[0], dt.datetime) else dt.datetime.fromisoformat(row[0])
              for row in rows]
    return sorted(t.replace(tzinfo=dt.timezone.utc).timestamp() for t in stamps)


def push(engine, ident, alarm, value, seconds):
    now = time.time()
    rows = [{"meter": "cpu_util", "value": value, "resource_id": "vm-1",
             "timestamp": now - k * 0.5, "metadata": {"metering.server_group": ident["stack_id"]}}
            for k in range(int(seconds * 2))]
    engine.client.resource_signal(engine.ctx, ident, alarm, {"samples": rows}, sync_call=True)
    return max(r["timestamp"] for r in rows)


def last_signal_sent(evaluator, alarm_id: str, after: float) -> float | None:
    """When the evaluator sent its newest signal to the policy (None: not recorded yet)."""
    return max((h.reason_data["sent"] for h in evaluator.history(alarm_id)
                if h.type == "action" and h.reason_data.get("outcome") == "signalled"
                and h.reason_data["sent"] > after), default=None)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError("no reaction")


def heat_alone(engine, ident) -> float:
    """Signal the scale-up policy as the evaluator does; seconds to its SIGNAL event.
    Then scale back the same way."""
    from heat.common import context
    admin = context.get_admin_context()
    details = {"previous": "ok", "current": "alarm", "reason": "bench_heat: Heat alone"}
    elapsed = None
    for policy in ("scale_up", "scale_down"):
        before = len(signal_times(engine, ident, policy))
        sent = time.time()
        engine.client.resource_signal(admin, ident, policy, details, sync_call=False)
        times = wait_for(lambda b=before, p=policy: (lambda t: t if len(t) > b else None)(
            signal_times(engine, ident, p)))
        elapsed = times[-1] - sent if elapsed is None else elapsed
        engine.group_idle(ident)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-heat-")
    engine = EmbeddedEngine("sqlite:///" + os.path.join(workdir, "heat.sqlite"),
                            os.path.join(workdir, "alarms.sqlite"),
                            overrides={"store_resolution": 1, "store_retention": 600,
                                       "evaluation_interval": 60.0,
                                       "period_close_delay": 0.05,
                                       "heartbeat_interval": 1.0})
    latencies, decisions, signals, floors = [], [], [], []
    try:
        engine.runtime.start()
        ident = engine.create("latency", engine.template("hot-autoscaling.yaml"),
                              params={"period": PERIOD, "cooldown": 0,
                                      "repeat_actions": False})
        for run in range(args.runs):
            before = len(signal_times(engine, ident, "scale_up"))
            last = push(engine, ident, "cpu_alarm_high", 95.0, 2 * PERIOD + 1)
            close = math.ceil((last + 1e-9) / PERIOD) * PERIOD
            times = wait_for(lambda b=before: (lambda t: t if len(t) > b else None)(
                signal_times(engine, ident, "scale_up")))
            latency = times[-1] - close
            latencies.append(latency)
            alarm_id = engine.physical_id(ident, "cpu_alarm_high")
            evaluator = engine.runtime.evaluator
            decided = evaluator.get(alarm_id).state_timestamp - close
            sent = wait_for(partial(last_signal_sent, evaluator, alarm_id, close - PERIOD))
            decisions.append(decided)
            signals.append(sent - close)
            progress(f"run {run + 1}: alarm decided {decided:.3f} s, signal sent to the "
                     f"policy {sent - close:.3f} s, SIGNAL event {latency:.3f} s after the "
                     "period close")
            engine.group_idle(ident)
            down = len(signal_times(engine, ident, "scale_down"))
            push(engine, ident, "cpu_alarm_low", 5.0, 2 * PERIOD + 1)
            wait_for(lambda d=down: len(signal_times(engine, ident, "scale_down")) > d)
            engine.group_idle(ident)
            floors.append(heat_alone(engine, ident))
            progress(f"run {run + 1}: Heat alone: SIGNAL event {floors[-1]:.3f} s after the "
                     "bench signalled the policy")
            time.sleep(PERIOD)
    finally:
        engine.runtime.stop()
        engine.stop()
    progress(f"medians: decided {statistics.median(decisions):.3f} s, signal sent "
             f"{statistics.median(signals):.3f} s, SIGNAL event "
             f"{statistics.median(latencies):.3f} s after the period close; Heat alone "
             f"{statistics.median(floors):.3f} s from signal to SIGNAL event. Heat writes the "
             "SIGNAL event when the policy's handle_signal returns, after the group resize")
    result("signal_sent_latency_s", statistics.median(signals))
    result("heat_signal_to_event_s", statistics.median(floors))
    result("reaction_latency_s", statistics.median(latencies))


if __name__ == "__main__":
    main()
