"""A heat-engine in a child process that can be SIGKILLed at a chosen instant of a delivery.

Run as ``python -m tests.support.crash_engine <workdir> <alarm database URL>``.
The child is the in-process heat-engine of :mod:`heat_alarming.resources.embedded`
on ``<workdir>/heat.sqlite`` and the alarm database given. Each start:

1. delivers what an earlier (killed) child left pending, as heat-engine does
   after a restart, until the alarm database holds no notification;
2. writes ``<workdir>/report.json``: every trial stack's group size, its policy's
   SIGNAL events and the alarm's action outcomes;
3. if ``HEAT_ALARMING_TEST_TRIAL`` names a new trial, creates its stack (a group
   of 1, a policy adding 1, an alarm signalling it), makes the alarm fire, and
   delivers; ``HEAT_ALARMING_TEST_CRASH_AT`` (read only by this harness) makes
   the child write ``<workdir>/reached`` and block at one instant, for the
   parent to kill it there:

   * ``after_signal``: Heat applied the signal, the notification is not yet
     marked delivered;
   * ``before_resize``: in the signal call, Heat's cooldown check set the
     group's ``scaling_in_progress``, the resize has not begun;
   * ``mid_resize``: in the signal call, the nested stack's update was issued;
   * ``delivering`` / ``delivered``: the file is written when the delivery
     starts / ends and the child goes on (and blocks after ``delivered``), for a
     kill at a random instant in between (the reliability benchmark).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()

CRASH_AT = "HEAT_ALARMING_TEST_CRASH_AT"
TRIAL = "HEAT_ALARMING_TEST_TRIAL"
INSTANTS = ("after_signal", "before_resize", "mid_resize", "delivering")

TEMPLATE = """
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 5
      resource: {type: OS::Heat::None}
  scale_up:
    type: OS::Heat::ScalingPolicy
    properties:
      adjustment_type: change_in_capacity
      auto_scaling_group_id: {get_resource: group}
      scaling_adjustment: 1
      cooldown: 0
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 50
      comparison_operator: gt
      period: 60
      alarm_actions: [scale_up]
      # this stack's samples only: every trial's stack lives in one project
      matching_metadata: {"metering.server_group": {get_param: "OS::stack_id"}}
outputs:
  size:
    value: {get_attr: [group, current_size]}
"""


def _touch(workdir: str, name: str) -> None:
    path = os.path.join(workdir, name)
    with open(path + ".tmp", "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(path + ".tmp", path)


def _gate(workdir: str) -> None:
    """Say where the child is, then wait there for the SIGKILL."""
    _touch(workdir, "reached")
    threading.Event().wait()


def install_gate(instant: str, workdir: str) -> None:
    from heat.engine.resources.openstack.heat import instance_group
    from heat.rpc import client as rpc_client

    if instant == "after_signal":
        original = rpc_client.EngineClient.resource_signal

        def resource_signal(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            _gate(workdir)
            return result
        rpc_client.EngineClient.resource_signal = resource_signal
    elif instant == "before_resize":
        def resize(self, new_capacity):
            _gate(workdir)
        instance_group.InstanceGroup.resize = resize
    elif instant == "mid_resize":
        def check_for_completion(self, updater):
            _gate(workdir)
            yield
        instance_group.InstanceGroup._check_for_completion = check_for_completion


def _clock_base(workdir: str) -> float:
    """Each start runs an hour after the previous one (a ManualClock)."""
    path = os.path.join(workdir, "clock")
    base = float(int(time.time()) // 60 * 60)
    if os.path.exists(path):
        with open(path) as handle:
            base = float(handle.read()) + 3600
    with open(path, "w") as handle:
        handle.write(repr(base))
    return base


def _drain(engine, timeout: float = 120.0) -> None:
    """Deliver until the alarm database holds no notification (retries included)."""
    store = engine.runtime.evaluator.alarm_store
    dispatcher = engine.runtime.evaluator.dispatcher
    deadline = time.monotonic() + timeout
    while store.pending_count() and time.monotonic() < deadline:
        if not dispatcher.deliver_due():
            time.sleep(0.1)  # a lease or a retry backoff (real time) still runs
    if store.pending_count():
        raise TimeoutError("notifications still pending after a restart")


def _report(engine, workdir: str) -> None:
    trials = {}
    for stack in engine.client.list_stacks(engine.ctx):
        if not stack["stack_name"].startswith("trial-"):
            continue
        ident = stack["stack_identity"]
        engine.group_idle(ident, timeout=120)
        events = engine.client.list_events(engine.ctx, ident, filters={
            "resource_name": "scale_up", "resource_action": "SIGNAL"})
        alarm_id = engine.physical_id(ident, "alarm")
        outcomes = [h.reason_data.get("outcome") for h in
                    engine.runtime.evaluator.history(alarm_id, limit=100)
                    if h.type == "action"]
        failures = [h.reason for h in engine.runtime.evaluator.history(alarm_id, limit=100)
                    if h.type == "action failed"]
        metadata = engine.client.describe_stack_resource(engine.ctx, ident,
                                                         "group").get("metadata") or {}
        trials[stack["stack_name"]] = {
            "size": engine.outputs(ident)["size"], "signal_events": len(events),
            "outcomes": outcomes, "failures": failures,
            "scaling_in_progress": bool(metadata.get("scaling_in_progress"))}
    with open(os.path.join(workdir, "report.json.tmp"), "w") as handle:
        json.dump(trials, handle)
    os.replace(os.path.join(workdir, "report.json.tmp"), os.path.join(workdir, "report.json"))


def _trial(engine, name: str, workdir: str, instant: str | None) -> None:
    from heat_alarming.metering.sample import Sample

    ident = engine.create(name, TEMPLATE)
    alarm_id = engine.physical_id(ident, "alarm")
    project = engine.ctx.project_id
    clock = engine.clock
    start = clock()
    engine.runtime.push_samples(project, [Sample.from_dict({
        "meter": "load", "value": 99.0, "resource_id": name, "timestamp": start + s,
        "project_id": project, "unit": "",
        "metadata": {"metering.server_group": ident["stack_id"]}}) for s in range(0, 60, 10)])
    clock.set(start + 61)
    evaluator = engine.runtime.evaluator
    evaluator.evaluate()
    assert evaluator.get(alarm_id).state == "alarm"
    # a restart finds a claimed notification due again when the claim's lease ends:
    # keep the lease short here so that the restarted child need not wait 2 minutes
    evaluator.dispatcher.lease = 0.5
    if instant in ("after_signal", "before_resize", "mid_resize"):
        install_gate(instant, workdir)
    if instant == "delivering":
        _touch(workdir, "delivering")
    evaluator.dispatcher.deliver_due()
    if instant == "delivering":
        _touch(workdir, "delivered")
        threading.Event().wait()


def main(argv: list[str]) -> int:
    workdir, alarm_database = argv[1], argv[2]
    from heat_alarming.metering import ManualClock
    from heat_alarming.resources.embedded import EmbeddedEngine

    engine = EmbeddedEngine("sqlite:///" + os.path.join(workdir, "heat.sqlite"),
                            alarm_database, clock=ManualClock(_clock_base(workdir)),
                            join_grace=False)
    try:
        _drain(engine)
        _report(engine, workdir)
        trial = os.environ.get(TRIAL)
        if trial:
            _trial(engine, trial, workdir, os.environ.get(CRASH_AT))
            _report(engine, workdir)
    finally:
        engine.runtime.stop()
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
