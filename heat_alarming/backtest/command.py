"""Replay a load trace against a template's alarms and scaling policies, without Heat.

``heat-alarming backtest TEMPLATE --trace FILE`` reads the template's group,
policies and alarms (:mod:`.template`), replays the trace through the real
evaluator and a simulated group (:mod:`.replay`) and prints one line per
period (time, demand, the members' value, size, every alarm's state, what the
group did with the signals it got) and a summary. ``--slo 'cpu_util<80'``
counts the minutes the members' value breaks the objective; ``--compare``
puts the same trace through the Kubernetes HPA and Aodh models too;
``--plot PNG`` draws it. ``-f json`` gives the same facts to a program.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import sys
from collections import Counter
from typing import Any

from heat_alarming.errors import CommandError

STATE_WIDTH = 17


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above 0 seconds")
    return value


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("template", metavar="TEMPLATE",
                        help="a HOT template: a path, or the name of a shipped template "
                             "(hot-autoscaling.yaml)")
    parser.add_argument("--trace", required=True, metavar="FILE",
                        help="the load to replay (.csv or .jsonl): timestamp,demand (percent "
                             "of one server, shared by the members) or recorded samples "
                             "timestamp,meter,value,resource_id[,metadata.KEY...]")
    parser.add_argument("-P", "--parameter", action="append", type=_parameter, default=[],
                        metavar="NAME=VALUE", help="a template parameter; may repeat")
    parser.add_argument("--resize-seconds", type=_seconds, default=0.0, metavar="S",
                        help="seconds a resize takes to land; signals meanwhile are dropped "
                             "as Heat drops them (default 0)")
    parser.add_argument("--evaluate-every", type=_positive_seconds, metavar="S",
                        help="evaluate every S seconds (60 is Aodh's interval) instead of "
                             "as the live evaluator does, when each period closes")
    parser.add_argument("--action-delay", type=_seconds, default=0.0, metavar="S",
                        help="seconds between a round and the group hearing its signal "
                             "(default 0)")
    parser.add_argument("--slo", metavar="OBJECTIVE",
                        help="a per-member objective such as 'cpu_util<80': the summary "
                             "counts the minutes it is broken")
    parser.add_argument("--compare", action="store_true",
                        help="also run the Kubernetes HPA and Aodh models on the trace "
                             "(needs --slo and a demand trace)")
    parser.add_argument("--plot", metavar="PNG", help="also draw the replay into this file")
    parser.add_argument("-f", "--format", choices=("table", "json"), default="table",
                        help="table for a person (default), json for a program")


def _module(name: str, option: str):
    """A backtest module an option needs; one line if this installation lacks it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name == name:
            raise CommandError(f"{option}: {name} is not part of this installation") from None
        raise CommandError(f"{option}: {exc}") from None


def _template_path(name: str) -> str:
    from heat_alarming import shipped
    try:
        return shipped.find_template(name)
    except FileNotFoundError as exc:
        raise CommandError(f"{name}: {exc}", status=2) from None


def run(args: argparse.Namespace, conf) -> int:
    from heat_alarming.backtest.replay import replay
    from heat_alarming.backtest.template import TemplateError, read_template
    from heat_alarming.backtest.trace import TraceError, read_trace

    slo = None
    if args.slo is not None:
        report = _module("heat_alarming.backtest.report", "--slo")
        try:
            slo = report.parse_slo(args.slo)
        except ValueError as exc:
            raise CommandError(f"--slo: {exc}", status=2) from None
    if args.compare and slo is None:
        raise CommandError("--compare needs --slo: the objective the models are compared on",
                           status=2)
    plot = _module("heat_alarming.backtest.plot", "--plot") if args.plot else None
    compare = _module("heat_alarming.backtest.compare", "--compare") if args.compare else None

    path = _template_path(args.template)
    parameters = dict(args.parameter)
    try:
        scenario = read_template(path, parameters, resize_seconds=args.resize_seconds)
    except TemplateError as exc:
        raise CommandError(f"{path}: {exc}" if not str(exc).startswith(path) else str(exc)) \
            from None
    try:
        trace = read_trace(args.trace)
    except TraceError as exc:
        raise CommandError(str(exc)) from None
    from heat_alarming.engine.alarm import AlarmError
    try:
        result = replay(scenario, trace, evaluate_every=args.evaluate_every,
                        action_delay=args.action_delay)
    except AlarmError as exc:  # an alarm the evaluator refuses: the template's
        raise CommandError(f"{path}: {exc}") from None
    except ValueError as exc:  # what the trace cannot give the alarms
        raise CommandError(f"{args.trace}: {exc}") from None

    summary = _summary(result, slo)
    compared, lines = None, {"ours": result.timeline()}
    if compare is not None:
        report = _module("heat_alarming.backtest.report", "--compare")
        try:
            lines = compare.timelines(scenario, trace, slo, ours=result)
        except ValueError as exc:
            raise CommandError(f"--compare: {exc}") from None
        compared = [{"name": name, **report.summarize(line, slo)}
                    for name, line in lines.items()]
    if plot is not None:
        try:
            plot.write_plot(lines, args.plot, periods=result.periods, slo=slo,
                            title=f"{os.path.basename(path)} on {os.path.basename(args.trace)}")
        except ImportError as exc:
            raise CommandError(f"--plot: {exc}") from None
        except OSError as exc:
            raise CommandError(f"--plot: {args.plot}: {exc.strerror or exc}") from None

    if args.format == "json":
        json.dump(_as_json(result, summary, compared), sys.stdout, indent=2,
                  default=_json_default)
        print()
        return 0
    _print_table(result, summary)
    if compared is not None:
        print()
        print(compare.format_table(compared))
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


# -- what is printed --------------------------------------------------------------
def _summary(result, slo) -> dict[str, Any]:
    """The replay's own figures, and the report's (:func:`report.summarize`) if it is
    part of this installation."""
    sizes = [result.scenario.group.desired_capacity] + [p.size for p in result.periods]
    out: dict[str, Any] = {
        "periods": len(result.periods), "rounds": result.rounds,
        "transitions": len(result.transitions),
        "signals": dict(Counter(o.status for o in result.outcomes)),
        "ignored": dict(Counter(o.why for o in result.outcomes if o.why)),
        "size": {"start": sizes[0], "min": min(sizes), "max": max(sizes), "end": sizes[-1]},
        "refused_samples": result.refused,
    }
    try:
        from heat_alarming.backtest import report
    except ImportError:
        return out
    out.update(report.summarize(result.timeline(), slo))
    return out


def _time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _actions_text(outcomes) -> str:
    counted = Counter((o.policy, o.status, o.why, o.old_size, o.new_size) for o in outcomes)
    parts = []
    for (policy, status, why, old, new), n in counted.items():
        text = (f"{policy} {old}->{new}" if status == "signalled"
                else f"{policy} dropped ({why})")
        parts.append(text if n == 1 else f"{text} x{n}")
    return "; ".join(parts)


def _print_table(result, summary: dict) -> None:
    scenario = result.scenario
    names = list(scenario.alarms)
    states = "".join(f"{name[:STATE_WIDTH]:<{STATE_WIDTH + 1}}" for name in names)
    print(f"{'time (UTC)':<19}  {'demand':>7}  {scenario.meter[:9]:>9}  size  {states}actions")
    for p in result.periods:
        demand = "-" if math.isnan(p.demand) else f"{p.demand:6.1f}%"
        value = "-" if math.isnan(p.value) else f"{p.value:8.1f}"
        row = "".join(f"{p.states.get(name, '-'):<{STATE_WIDTH + 1}}" for name in names)
        print(f"{_time(p.start)}  {demand:>7}  {value:>9}  {p.size:>4}  {row}"
              f"{_actions_text(p.outcomes)}".rstrip())
    print()
    print("summary:")
    size = summary["size"]
    print(f"  {summary['periods']} periods, {summary['rounds']} evaluation rounds, "
          f"{summary['transitions']} alarm transitions")
    signals = summary["signals"]
    ignored = ", ".join(f"{why} {n}" for why, n in sorted(summary["ignored"].items()))
    print(f"  signals: {signals.get('signalled', 0)} resized the group, "
          f"{signals.get('ignored', 0)} dropped" + (f" ({ignored})" if ignored else ""))
    print(f"  group {scenario.group_name}: size {size['start']} at the start, from "
          f"{size['min']} to {size['max']}, {size['end']} at the end")
    if summary.get("instance_hours") is not None:
        print(f"  instance-hours: {summary['instance_hours']:.2f}; scale actions: "
              f"{summary['scale_actions']}; flaps: {summary['flaps']}")
    if summary.get("slo_violation_minutes") is not None:
        print(f"  SLO {summary['slo']}: broken for {summary['slo_violation_minutes']:g} "
              "minutes")
    if summary["refused_samples"]:
        print(f"  {summary['refused_samples']} samples of the trace were refused by the "
              "store (outside its window)")
    for alarm, actions in scenario.unreplayed_actions.items():
        print(f"  {alarm}: not replayed (no scaling policy): {', '.join(actions)}")


def _as_json(result, summary: dict, compared) -> dict:
    return {
        "periods": [{"start": p.start, "end": p.end, "demand": _finite(p.demand),
                     "value": _finite(p.value),
                     "size": p.size, "states": p.states,
                     "outcomes": [_outcome(o) for o in p.outcomes]}
                    for p in result.periods],
        "transitions": [{"at": t.at, "alarm": t.alarm, "previous": t.previous,
                         "current": t.current} for t in result.transitions],
        "summary": summary,
        "compare": compared,
    }


def _outcome(o) -> dict:
    return {"at": o.at, "policy": o.policy, "status": o.status, "why": o.why,
            "old_size": o.old_size, "new_size": o.new_size}


def _finite(value: float) -> float | None:
    """JSON has no NaN: no value is null."""
    return None if math.isnan(value) else value


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
