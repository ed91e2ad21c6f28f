"""Autoscaling inside an embedded heat-engine: samples in, alarms decide, the group resizes.

The demo starts Heat's real engine in this process (a SQLite file for its
database, fake:// messaging, Heat's fake keystone, no network), loads the
heat-alarming resource types, creates a stack from a template and pushes
samples into its alarm through the alarm's signal, period after period, on
a compressed clock. The evaluator thread inside the engine decides, signals
the scaling policies in-process, and Heat resizes the group; the demo only
reads back what the engine recorded and prints it.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
import warnings

from heat_alarming.demo.profile import HostSampler, LoadProfile
from heat_alarming.demo.record import Recorder
from heat_alarming.demo.timeline import PeriodRow, Threshold, Timeline
from heat_alarming.errors import CommandError, require
from heat_alarming.metering.query import matching_metadata_field

LOG = logging.getLogger(__name__)

#: real seconds --settle waits for the engine after one step before giving up
SETTLE_TIMEOUT = 60.0

DEFAULT_TEMPLATE = "hot-autoscaling.yaml"
STACK_NAME = "autoscaling-demo"
ALARM_TYPES = ("OS::Metering::Alarm", "OS::Ceilometer::Alarm", "OS::Metering::CompositeAlarm",
               "AWS::CloudWatch::Alarm")
PUSH_TYPES = ("OS::Metering::Alarm", "OS::Ceilometer::Alarm")
GROUP_TYPES = ("OS::Heat::AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup",
               "OS::Heat::InstanceGroup")
POLICY_TYPES = ("OS::Heat::ScalingPolicy", "OS::Metering::ScalingPolicy",
                "AWS::AutoScaling::ScalingPolicy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, metavar="FILE",
                        help="a HOT or CFN template: a path, or the name of a shipped template "
                             f"(default {DEFAULT_TEMPLATE}); it needs an OS::Metering::Alarm "
                             "to push samples to and an autoscaling group")
    parser.add_argument("--source", choices=("profile", "host"), default="profile",
                        help="profile: the built-in load (ramp, plateau, drop), shared by "
                             "the group's members; host: this machine's CPU (psutil)")
    parser.add_argument("--speed", type=float, default=30.0,
                        help="simulated seconds per real second (default 30: a 60 s period "
                             "every 2 s). Heat itself needs about 2.5 s to resize a group, so "
                             "at higher speeds more signals find it busy and are dropped")
    parser.add_argument("--period", type=int, default=60,
                        help="alarm period in simulated seconds, passed as the template's "
                             "'period' parameter when it has one (default 60)")
    parser.add_argument("--periods", type=int, default=None,
                        help="how many periods to run (default: the whole profile, 20)")
    parser.add_argument("--workdir", metavar="DIR",
                        help="where the SQLite databases and the engine log go "
                             "(default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases and the log (and the stack) for inspection")
    parser.add_argument("--plot", metavar="PNG", help="also draw the timeline into this file")
    parser.add_argument("--record", metavar="DIR",
                        help="write what the demo pushed and saw into DIR: samples.csv, "
                             "demand.csv, periods.json, template.yaml, parameters.json "
                             "(for heat-alarming backtest)")
    parser.add_argument("--settle", action="store_true",
                        help="stop the clock while the engine works: after every step, wait "
                             "until the evaluator has looked at the clock, its signals are "
                             "delivered and the group is idle, so a resize takes no "
                             "simulated time and no later round's signal finds the group "
                             "busy")


def _template_path(name: str) -> str:
    from heat_alarming import shipped
    try:
        return shipped.find_template(name)
    except FileNotFoundError as exc:
        raise CommandError(f"--template: {name}: {exc}", status=2) from None


def _missing_parts(template: dict) -> str:
    """What the demo needs and the template lacks ("" when nothing), from its types."""
    resources = template.get("resources", template.get("Resources")) or {}
    if not isinstance(resources, dict):
        return ""  # Heat says what is wrong with it
    types = {r.get("type", r.get("Type")) for r in resources.values() if isinstance(r, dict)}
    if not resources:
        return "it has no resources"
    missing = ([] if types & set(PUSH_TYPES) else ["OS::Metering::Alarm"]) + (
        [] if types & set(GROUP_TYPES) else ["autoscaling group"])
    return f"it has no {' and no '.join(missing)}" if missing else ""


def _read_template(path: str) -> tuple[str, dict]:
    """The template's text, parsed by Heat's parser (JSON or YAML, a mapping), and
    checked for what the demo needs; before any engine starts, so that a broken file
    fails at once."""
    shown = _shown(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{shown}: cannot read it: {getattr(exc, 'strerror', None) or exc}",
                           status=2) from exc
    from heat_alarming.resources.embedded import parse_template
    try:
        template = parse_template(text)
    except ValueError as exc:
        raise CommandError(f"{shown}: {exc}") from exc
    missing = _missing_parts(template)
    if missing:
        raise CommandError(f"{shown}: the demo needs an OS::Metering::Alarm (samples are "
                           "pushed through its signal) and an autoscaling group "
                           f"({', '.join(GROUP_TYPES)}); {missing}")
    return text, template


def _shown(path: str) -> str:
    from heat_alarming import shipped
    real, shipped_dir = os.path.realpath(path), os.path.realpath(shipped.template_dir())
    if real.startswith(shipped_dir + os.sep):  # as the docs name them: templates/NAME
        return os.path.join("templates", os.path.relpath(real, shipped_dir))
    return os.path.abspath(path)


def _times(count: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")


def _remove_databases(*paths: str) -> None:
    """SQLite files with their write-ahead log and shared-memory companions."""
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


def _log_to_file(path: str, debug: bool) -> None:
    """The engine talks a lot: its log goes to a file, the terminal gets the timeline."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


class DemoStack:
    """The demo's stack in the engine: its alarms, group and policies, read back."""

    def __init__(self, engine, ident) -> None:
        self.engine = engine
        self.ident = ident
        resources = engine.client.list_stack_resources(engine.ctx, ident)
        by_type = {}
        for res in resources:
            by_type.setdefault(res["resource_type"], []).append(res)
        self.alarms = {r["resource_name"]: r["physical_resource_id"]
                       for t in ALARM_TYPES for r in by_type.get(t, [])}
        pushable = [r["resource_name"] for t in PUSH_TYPES for r in by_type.get(t, [])]
        groups = [r["resource_name"] for t in GROUP_TYPES for r in by_type.get(t, [])]
        if not pushable or not groups:
            raise ValueError("the template needs an OS::Metering::Alarm (samples are pushed "
                             "through its signal) and an autoscaling group")
        self.push_to = sorted(pushable)[0]
        self.group = groups[0]
        self.policies = sorted(r["resource_name"] for t in POLICY_TYPES
                               for r in by_type.get(t, []))
        evaluator = engine.runtime.evaluator
        named_rules = [(name, rule) for name, alarm_id in self.alarms.items()
                       for rule in evaluator.get(alarm_id).threshold_rules()]
        rules = [rule for _, rule in named_rules]
        self.meter = rules[0].meter_name
        self.thresholds = sorted({Threshold(name, rule.comparison_operator, rule.threshold,
                                            rule.statistic, rule.evaluation_periods)
                                  for name, rule in named_rules},
                                 key=lambda t: (t.value, t.alarm))
        # samples carry the metadata the alarms select on: their matching_metadata
        # and the equality conditions of their queries
        self.metadata = {}
        for rule in rules:
            wanted = [(matching_metadata_field(key), value)
                      for key, value in rule.matching_metadata] + [
                (item["field"], item["value"]) for item in rule.query_items()
                if item.get("op", "eq") == "eq" and item["field"].startswith("metadata.")]
            for key, value in wanted:
                self.metadata[key.removeprefix("metadata.")] = value

    def size(self) -> int:
        members = self.engine.client.list_stack_resources(
            self.engine.ctx, self.ident, nested_depth=1)
        return sum(1 for r in members if r.get("parent_resource") == self.group
                   and r["resource_action"] != "DELETE")

    def push(self, values, timestamp: float) -> list[dict]:
        """Push one sample per member through the alarm's signal; the rows pushed."""
        rows = [{"meter": self.meter, "value": float(value), "resource_id": f"member-{k}",
                 "timestamp": timestamp, "metadata": self.metadata}
                for k, value in enumerate(values)]
        self.engine.client.resource_signal(self.engine.ctx, self.ident, self.push_to,
                                           {"samples": rows}, sync_call=True)
        return rows

    def signal_events(self) -> dict[str, list[str]]:
        """Heat's own SIGNAL events of each policy (reasons, oldest first)."""
        found = {}
        for policy in self.policies:
            events = self.engine.client.list_events(self.engine.ctx, self.ident, filters={
                "resource_name": policy, "resource_action": "SIGNAL"}, sort_dir="asc")
            found[policy] = [e.get("resource_status_reason", "") for e in events]
        return found


class HistoryReader:
    """New entries of the alarms' history since the last call: records, or short phrases."""

    def __init__(self, evaluator, alarms: dict[str, str]) -> None:
        self.evaluator = evaluator
        self.alarms = alarms
        self.seen: set[str] = set()
        self.transitions: list[tuple[float, str, str, str]] = []
        self.outcomes: dict[str, dict[str, int]] = {}
        #: per policy, the signals Heat dropped by why (resources.actions.IGNORED_BECAUSE)
        self.dropped: dict[str, dict[str, int]] = {}

    def new_records(self) -> list[dict]:
        """The alarms' transitions and Heat's outcomes since the last call, oldest first:
        ``{"kind": "transition", "at", "alarm", "previous", "current"}`` and
        ``{"kind": "action", "at", "alarm", "target", "outcome", "why", "sent", "done"}``
        (times on the demo's clock; ``why`` says why Heat ignored a signal)."""
        from heat_alarming.engine.notifiers import DeliveryError
        from heat_alarming.resources.actions import SENDING, parse_signal_action
        entries = []
        for name, alarm_id in self.alarms.items():
            for entry in self.evaluator.history(alarm_id, limit=1000):
                if entry.event_id not in self.seen:
                    self.seen.add(entry.event_id)
                    entries.append((entry.timestamp, name, entry))
        records = []
        for _, name, entry in sorted(entries, key=lambda item: item[:2]):  # time, alarm
            if entry.type == "action":
                data = entry.reason_data
                outcome = data.get("outcome", "")
                try:
                    target = parse_signal_action(data.get("action", ""))[3]
                except DeliveryError:  # not a Heat target (a webhook, say)
                    target = data.get("action", "?")
                self.outcomes.setdefault(target, {}).setdefault(outcome, 0)
                self.outcomes[target][outcome] += 1
                if outcome == "ignored":
                    why = str(data.get("why") or "unknown")
                    dropped = self.dropped.setdefault(target, {})
                    dropped[why] = dropped.get(why, 0) + 1
                records.append({"kind": "action", "at": entry.timestamp, "alarm": name,
                                "target": target, "outcome": outcome, "why": data.get("why"),
                                "sent": data.get("sent"), "done": data.get("done")})
            elif entry.type != SENDING and entry.previous != entry.current:
                self.transitions.append((entry.timestamp, name, entry.previous, entry.current))
                records.append({"kind": "transition", "at": entry.timestamp, "alarm": name,
                                "previous": entry.previous, "current": entry.current})
        return records


def phrases(records: list[dict]) -> list[str]:
    """The timeline's words for :meth:`HistoryReader.new_records`: the transitions, then
    per policy how many signals Heat answered and how many it dropped."""
    words = [f"{r['alarm']} -> {r['current']}" for r in records if r["kind"] == "transition"]
    outcomes = {}
    for record in records:
        if record["kind"] == "action":
            outcomes.setdefault(record["target"], []).append(record["outcome"])
    for target, seen in outcomes.items():
        done, dropped = seen.count("signalled"), seen.count("ignored")
        parts = ([f"signalled{'' if done == 1 else f' x{done}'}"] if done else []) + (
            [f"dropped by Heat{'' if dropped == 1 else f' x{dropped}'}"] if dropped else [])
        words.append(f"{target} {', '.join(parts)}")
    return words


def settle(engine, ident, group: str, now: float, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait (real time, the demo's clock standing at ``now``) until the evaluator has
    looked at ``now`` (and run the round due then), every notification it queued is
    delivered, and the group is not scaling.

    A signal to a policy returns when Heat's resize is over, so once the dispatcher is
    idle the resizes the round asked for are done: they took no simulated time.
    """
    evaluator = engine.runtime.evaluator
    deadline = time.monotonic() + timeout
    while True:
        looked = evaluator.looked_at is not None and evaluator.looked_at >= now
        if looked and evaluator.dispatcher.idle():
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"--settle: the engine was still busy {timeout:g} s after "
                               f"the clock reached {now:g}")
        if not looked:
            evaluator.wake()  # again: a wake-up can come while the loop clears the last
        time.sleep(0.01)
    engine.group_idle(ident, name=group, timeout=timeout)


def _check_arguments(args: argparse.Namespace, conf) -> None:
    """Refuse what cannot run, before anything starts."""
    # Heat first: the embedded engine's module imports oslo.service, one of Heat's own
    require("heat", "the demo", "heat")
    if args.plot:  # before the run, not after it
        require("matplotlib", "--plot", "demo")
    if args.source == "host":
        require("psutil", "--source host", "demo")
    if args.speed <= 0:
        raise CommandError("--speed must be positive", status=2)
    resolution = conf.heat_alarming.store_resolution
    if args.period <= 0 or args.period % resolution:
        raise CommandError(f"--period must be a positive multiple of the store resolution "
                           f"({resolution} s)", status=2)
    if args.periods is not None and args.periods <= 0:
        raise CommandError("--periods must be positive", status=2)


def run(args: argparse.Namespace, conf) -> int:
    _check_arguments(args, conf)
    resolution = conf.heat_alarming.store_resolution
    template_path = _template_path(args.template)
    text, template = _read_template(template_path)
    profile = LoadProfile()
    periods = args.periods or profile.periods
    if args.record:
        try:
            os.makedirs(args.record, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"--record: cannot create {args.record}: "
                               f"{exc.strerror or exc}", status=2) from exc

    created_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="heat-alarming-demo-")
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, "engine.log")
    heat_db = os.path.join(workdir, "heat.sqlite")
    alarm_db = os.path.join(workdir, "alarms.sqlite")
    _remove_databases(heat_db, alarm_db, log_path)  # a fresh start in a reused --workdir
    _log_to_file(log_path, conf.debug)
    logging.captureWarnings(True)  # Heat's libraries' deprecation warnings: to the log
    warnings.simplefilter("default")

    from heat_alarming.resources.embedded import select_threading_backend
    select_threading_backend()  # before Heat's engine is imported
    from heat_alarming.metering import ManualClock
    from heat_alarming.resources.embedded import EmbeddedEngine, StackFailed

    began = time.monotonic()
    start = float(int(time.time()) // args.period * args.period)
    clock = ManualClock(start)
    print(f"heat-alarming demo: {_shown(template_path)} in an embedded heat-engine "
          f"(Heat's EngineService, SQLite in {workdir}, fake:// messaging, no network)")
    engine, keep = None, args.keep
    kept = f"the engine's log is kept in {log_path}"
    try:
        engine = EmbeddedEngine("sqlite:///" + heat_db, alarm_db, clock=clock,
                                join_grace=False,
                                overrides={"store_resolution": resolution,
                                           # every sample of a period is in before the
                                           # clock reaches its close: no need to wait
                                           "period_close_delay": 0.0})
        return _run_stack(args, engine, clock, template_path, text, template, profile,
                          periods, workdir, log_path, began)
    except CommandError:
        raise
    except StackFailed as exc:  # Heat's reason; the resources' own story is in the log
        keep = True
        raise CommandError(f"the stack {STACK_NAME} failed to {exc.action.lower()}: "
                           f"{exc.reason}; {kept}") from exc
    except Exception as exc:
        LOG.exception("The demo stopped")
        keep = True
        raise CommandError(f"{type(exc).__name__}: {exc}; {kept}") from exc
    finally:
        if engine is not None:
            _stop(engine)
        if not keep:
            if created_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                _remove_databases(heat_db, alarm_db, log_path)


def _stop(engine) -> None:
    """Stop the evaluator and the engine; a failure to stop is logged, so that the
    error that stopped the demo is the one reported."""
    try:
        engine.runtime.stop()
        engine.stop()
    except Exception:
        LOG.exception("The engine did not stop cleanly")


def _run_stack(args, engine, clock, template_path, text, template, profile, periods,
               workdir, log_path, began) -> int:
    params = {}
    declared = template.get("parameters") or template.get("Parameters") or {}
    if "period" in declared:
        params["period"] = args.period
    if "cooldown" in declared:
        params["cooldown"] = 0  # Heat's cooldown runs on the real clock, not the demo's
    created = time.monotonic()
    from heat_alarming.resources.embedded import StackRefused
    try:
        ident = engine.create(STACK_NAME, text, params=params)
    except StackRefused as exc:  # Heat's message says it all; nothing was stored
        raise CommandError(f"{_shown(template_path)}: {exc}") from exc
    stack = DemoStack(engine, ident)
    engine.runtime.start()
    sampler = HostSampler() if args.source == "host" else profile.sampler()
    resolution = engine.runtime.store.resolution
    ticks_per_period = args.period // resolution
    print(f"stack {ident['stack_name']} created in {time.monotonic() - created:.1f} s: "
          f"group '{stack.group}' of {stack.size()}, alarms {', '.join(sorted(stack.alarms))}"
          f"; samples of {stack.meter} go through the signal of '{stack.push_to}'")
    source = (profile.describe() if args.source == "profile"
              else "this machine's CPU, reported by every member")
    print(f"load: {source}; {args.period} s periods, clock x{args.speed:g} "
          f"(a period every {args.period / args.speed:.1f} s), {periods} periods\n")
    size = stack.size()
    timeline = Timeline(sorted(stack.alarms), periods, start=clock(), meter=stack.meter,
                        initial_size=size)
    timeline.legend(stack.thresholds)
    timeline.note("")
    timeline.header()
    history = HistoryReader(engine.runtime.evaluator, stack.alarms)
    recorder = Recorder(args.record, stack.metadata) if args.record else None
    if args.settle:  # the evaluator's first round, at the start, before any sample
        settle(engine, ident, stack.group, clock())
    tick_seconds = resolution / args.speed
    next_tick = time.monotonic()
    pushed = signals = 0
    for index in range(1, periods + 1):
        values_in_period, demand = [], 0.0
        for tick in range(ticks_per_period):
            progress = index - 1 + tick / ticks_per_period
            demand, values = sampler.values(progress, size)
            stamp = clock() + resolution / 2  # the middle of the step
            rows = stack.push(values, stamp)
            if recorder is not None:
                recorder.samples(rows)
                recorder.demand(stamp, demand)
            pushed, signals = pushed + len(values), signals + 1
            values_in_period.extend(values)
            clock.advance(resolution)
            engine.runtime.evaluator.wake()
            if args.settle:  # the clock waits for the engine
                settle(engine, ident, stack.group, clock())
                next_tick = max(next_tick, time.monotonic())
            next_tick += tick_seconds
            time.sleep(max(0.0, next_tick - time.monotonic()))
            size = stack.size()
        states = {name: engine.runtime.evaluator.get(alarm_id).state
                  for name, alarm_id in stack.alarms.items()}
        records = history.new_records()
        events = phrases(records)
        value = sum(values_in_period) / len(values_in_period)
        timeline.add(PeriodRow(index, clock(), demand, value, states, size, events))
        if recorder is not None:
            recorder.period(start=clock() - args.period, end=clock(), demand=demand,
                            value=value, states=states, size=size, records=records,
                            events=events)

    # let the last decisions reach Heat and the last resize finish
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not engine.runtime.evaluator.dispatcher.idle():
        time.sleep(0.1)
    engine.group_idle(ident, name=stack.group)
    late_records = history.new_records()
    late = phrases(late_records)
    if late:
        timeline.note(f"{'':>{27}} after the last period: {'; '.join(late)}")
    final = stack.size()
    if recorder is not None:
        recorder.finish(run={"start": timeline.start, "period": args.period,
                             "resolution": resolution, "speed": args.speed,
                             "settle": args.settle, "stack_id": ident["stack_id"],
                             "stack_name": ident["stack_name"], "group": stack.group,
                             "meter": stack.meter, "metadata": stack.metadata,
                             "alarms": sorted(stack.alarms),
                             "initial_size": timeline.initial_size},
                        template_path=template_path, parameters=params,
                        after=late_records, final_size=final)
    _summary(timeline, stack, history, final, pushed, signals, engine, began, workdir,
             log_path, args)
    if args.plot:
        from heat_alarming.demo.plot import write_plot
        write_plot(timeline, stack.thresholds, args.plot,
                   f"{os.path.basename(template_path)}: {stack.meter} per member, alarm "
                   f"states and group size ({args.period} s periods)")
        print(f"plot: {args.plot}")
    return 0


#: the words for why Heat dropped a signal (resources.actions.IGNORED_BECAUSE)
DROPPED_WORDS = {"cooldown": "in a cooldown", "scaling_in_progress": "during a resize",
                 "no_change": "with the group at its size limit",
                 "unknown": "for a reason Heat did not record"}


def _dropped_text(by_why: dict[str, int]) -> str:
    """``{"cooldown": 3, "no_change": 1}`` -> "3 in a cooldown, 1 with the group at ..."."""
    return ", ".join(f"{count} {DROPPED_WORDS.get(why, why)}"
                     for why, count in sorted(by_why.items(), key=lambda item: -item[1]))


def _summary(timeline, stack, history, final, pushed, signals, engine, began, workdir,
             log_path, args) -> None:
    sizes = [row.size for row in timeline.rows] + [final]
    events = stack.signal_events()
    print("\nsummary, read from the engine's records:")
    for name in sorted(stack.alarms):
        changes = [f"{previous} -> {current} at {timeline.clock_text(when)}"
                   if when >= timeline.start else f"{previous} -> {current}"
                   for when, alarm, previous, current in history.transitions if alarm == name]
        print(f"  {name}: {len(changes)} transition{'' if len(changes) == 1 else 's'}"
              + (f" ({', '.join(changes)})" if changes else ""))
    for policy in stack.policies:
        outcome = history.outcomes.get(policy, {})
        ignored = outcome.get("ignored", 0)
        print(f"  {policy}: {len(events.get(policy, []))} SIGNAL event(s) in Heat; the alarms "
              f"signalled it {_times(outcome.get('signalled', 0) + ignored)}"
              + (f", and Heat dropped {ignored} of those ("
                 f"{_dropped_text(history.dropped.get(policy, {}))})" if ignored else ""))
    print(f"  group '{stack.group}': size {sizes[0]} at the start, at most {max(sizes)}, "
          f"{final} at the end")
    print(f"  {pushed} samples in {signals} signals; {engine.runtime.evaluator.rounds} "
          f"evaluation rounds; {time.monotonic() - began:.1f} s in all")
    if args.keep:
        print(f"  kept: {workdir} (heat.sqlite, alarms.sqlite, engine.log)")
    else:
        print(f"  the databases and {os.path.basename(log_path)} are removed; --keep "
              "keeps them")
