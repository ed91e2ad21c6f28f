"""One in-process heat-engine per test session, shared by every test package that needs it.

Heat's configuration and RPC transport are process-wide, so two engines cannot
run in one process: each package's ``heat_engine`` fixture asks for this one.
"""
from __future__ import annotations

import os
import time

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()  # before anything imports heat

from heat_alarming.metering import ManualClock  # noqa: E402
from heat_alarming.resources.embedded import EmbeddedEngine  # noqa: E402
from tests.support.prometheus import PORT as PROMETHEUS_PORT  # noqa: E402

_engine: EmbeddedEngine | None = None
PROMETHEUS_URL = f"http://127.0.0.1:{PROMETHEUS_PORT}"


def session_engine(request, tmp_path_factory) -> EmbeddedEngine:
    """The session's engine (SQLite files for Heat and the alarms), started on first use."""
    global _engine
    if _engine is None:
        workdir = tmp_path_factory.mktemp("heat-engine")
        clock = ManualClock(float(int(time.time()) // 60 * 60))
        # the only worker of this engine: no joining grace to wait out
        # PromQL alarms ask the test Prometheus (tools/ensure-prometheus.sh); nothing
        # is asked before a test that needs it has made sure it runs
        _engine = EmbeddedEngine("sqlite:///" + os.path.join(workdir, "heat.sqlite"),
                                 os.path.join(workdir, "alarms.sqlite"), clock=clock,
                                 join_grace=False,
                                 overrides={"prometheus_url": PROMETHEUS_URL})
        engine = _engine

        def stop() -> None:
            engine.stop()

        request.addfinalizer(stop)
    return _engine


# -- what tests do with an engine's stacks ----------------------------------------
def push(engine, ident, alarm, rows):
    engine.client.resource_signal(engine.ctx, ident, alarm, {"samples": rows}, sync_call=True)


def load(engine, stack_id, value, start, periods, members=("vm-1", "vm-2")):
    """Samples every 10 s for ``periods`` periods of 60 s from ``start``."""
    return [{"meter": "cpu_util", "value": value, "resource_id": vm,
             "timestamp": start + p * 60 + s,
             "metadata": {"metering.server_group": stack_id}}
            for p in range(periods) for s in range(0, 60, 10) for vm in members]


def period_boundary(engine, period=60):
    """Move the engine's manual clock to the next multiple of ``period`` and return it:
    samples of :func:`load` from there fill whole periods (from an unaligned start each
    period would mix two loads, and an alarm on the last periods would see their mean)."""
    start = (int(engine.clock()) // period + 1) * period
    engine.clock.set(float(start))
    return float(start)


def size(engine, ident):
    return engine.outputs(ident)["size"]


def settle(engine, ident, group="group"):
    """Deliver what the round queued and let the group finish scaling."""
    engine.runtime.evaluator.dispatcher.deliver_due()
    time.sleep(0.2)
    engine.group_idle(ident, group)


def collector_load(stack_id, value, start, periods, members=("g-vm-1", "g-vm-2"),
                   metric="cpu_util", **attributes):
    """Rows in the Gnocchi collector's shape: the metric's name, the Gnocchi resource id,
    the resource's attributes as flat metadata (``server_group`` is what Ceilometer's
    gnocchi_resources.yaml derives from the servers' ``metering.server_group``)."""
    metadata = {"server_group": stack_id, "ended_at": None, "type": "instance",
                **attributes}
    return [{"meter": metric, "value": value, "resource_id": vm,
             "timestamp": start + p * 60 + s, "metadata": metadata}
            for p in range(periods) for s in range(0, 60, 10) for vm in members]


def environment(name: str, parameters: dict | None = None) -> dict:
    """An environment file of templates/environments, as `-e` hands it to Heat."""
    import yaml

    from heat_alarming.shipped import template_path
    with open(template_path(os.path.join("environments", name))) as handle:
        env = yaml.safe_load(handle)
    env["parameters"] = dict(parameters or {})
    return env
