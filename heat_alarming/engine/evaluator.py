"""The evaluator: one round decides every alarm, then records and notifies.

A round (:meth:`Evaluator.evaluate`) runs the compiled threshold groups
(one store query per period for all their rules, decided with numpy), applies
Aodh's state machine to all threshold alarms at once, decides composite
alarms from their leaves, and writes the round's transitions, history and
queued notifications to the alarm store in one transaction.  Python runs per
alarm only for alarms whose state changes or whose actions repeat.

The clock is injectable: tests and replays call ``evaluate(now)`` with the
times they choose.  :meth:`start` runs rounds on a thread every ``interval``
seconds and, in between, when a period closes.
"""
from __future__ import annotations

import contextlib
import gc
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import GROUP
from heat_alarming.engine import composite as composite_mod
from heat_alarming.engine import explain as explain_mod
from heat_alarming.engine import rules
from heat_alarming.engine.alarm import (
    COMPOSITE,
    MAX_NESTING,
    NOT_EVALUATED,
    PROMETHEUS,
    THRESHOLD,
    UNKNOWN,
    Alarm,
    AlarmError,
    Limits,
    PromQLRule,
    ThresholdRule,
)
from heat_alarming.engine.alarm_store import (
    DEFAULT_URL,
    STATE_TRANSITION,
    AlarmStore,
    EventIds,
    HistoryEntry,
    InvalidAlarm,
    Notification,
    describe_error,
)
from heat_alarming.engine.notifiers import NotifierManager, redact
from heat_alarming.engine.notifiers.dispatcher import Dispatcher
from heat_alarming.engine.promql import PromQLError
from heat_alarming.engine.promql_source import PromQLSource
from heat_alarming.engine.promql_source import unknown_reason as promql_unknown_reason
from heat_alarming.engine.rules import (
    V_ALARM,
    V_KEEP,
    V_OK,
    V_UNKNOWN,
    PickedVerdicts,
    Verdicts,
)
from heat_alarming.engine.threshold import (
    ThresholdGroup,
    Window,
    reason_data,
    reason_for,
    unknown_reason,
)
from heat_alarming.engine.timeconstraints import within
from heat_alarming.metering.store import RollingStore

LOG = logging.getLogger(__name__)

#: seconds between full rounds; seconds a period's round waits after it closes; seconds
#: history is kept (30 days)
INTERVAL, PERIOD_CLOSE_DELAY, HISTORY_RETENTION = 60.0, 0.5, 30 * 86400
#: transitions of one round logged at INFO, one line each; a round of more (a storm of
#: thousands) logs the rest at DEBUG and then one INFO line counting them all
LOGGED_TRANSITIONS = 100
#: alarms a round gives their first reason (:meth:`Evaluator._first_reason`, which looks
#: for the nearest series); thousands defined at once get theirs over the next rounds
FIRST_REASONS = 1000

_CODE, _STATE = rules.CODE, rules.STATE


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector held off while a round runs.

    A round that moves thousands of alarms creates objects (history entries,
    notifications, payloads) that live until its commit, and so set off the
    collector's full passes over every object of the process: at 10,000
    transitions about 5 us per alarm. None of them is in a reference cycle, so
    reference counting frees them once the round is committed (before the pause
    ends, but for what the round returns and delivers); the collector runs again,
    as configured, afterwards (and finds any cycle a failure's traceback made).
    The pause lasts the round and its commit (whose rows are made then), so a
    commit that waits on a database lock keeps the collector off for the process
    meanwhile; the hourly history prune runs after it.

    A collector turned off before the round stays off. The state is the
    process's: two evaluators' rounds that overlap in time (threads) leave it on
    when the later one ends, as does a ``gc.disable()`` elsewhere during a round.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _measurement(alarm: Alarm) -> tuple:
    """What an alarm measures; a change of threshold or operator is not one."""
    rule = alarm.rule
    if isinstance(rule, ThresholdRule):
        return (alarm.project_id, rule.meter_name, rule.statistic, rule.period, rule.query,
                rule.matching_metadata, rule.search, rule.resource_type)
    if isinstance(rule, PromQLRule):
        return (alarm.project_id, PROMETHEUS, rule.query)
    return (alarm.project_id, rule)


def _visible(known: Mapping[str, Alarm], alarm_id: str, project: str | None) -> Alarm | None:
    """The alarm ``alarm_id`` as an alarm of ``project`` may see it: only its own."""
    alarm = known.get(alarm_id)
    return alarm if alarm is not None and alarm.project_id == project else None


def _own_window(window: Window, look_back: int):
    """One rule's window (:meth:`ThresholdGroup.column_window`) cut to its own look-back
    periods (the group reads as far back as its longest rule). Decided alone, the rule
    gets the verdicts it got in the group (:meth:`rules.ThresholdSpec.column`)."""
    skip = max(0, window.counts.shape[0] - look_back)
    counts = window.counts[skip:]
    values = {k: v[skip:] for k, v in window.values.items()}
    return Window(window.first + skip, counts, values), counts, values


class Transition(dict):
    """What a round did to one alarm: the notification payload plus ``transition``."""


class _Group:
    """A threshold group plus where its columns come from and the top-level state arrays."""

    def __init__(self, period: int, entries: list[tuple[Alarm, ThresholdRule, Any]]) -> None:
        self.period = period
        self.rules = [rule for _, rule, _ in entries]
        self.projects = [alarm.project_id for alarm, _, _ in entries]
        self.group = ThresholdGroup(period, self.rules, self.projects)
        top = [i for i, (_, _, ref) in enumerate(entries) if ref is None]
        self.top = np.array(top, dtype=np.int64)
        self.top_alarms = [entries[i][0] for i in top]
        self._column_of: dict[str, int] | None = None
        self.state = np.array([_CODE[a.state] for a in self.top_alarms], dtype=np.int8)
        self.repeat = np.array([a.repeat_actions for a in self.top_alarms], dtype=bool)
        self.enabled = np.array([a.enabled for a in self.top_alarms], dtype=bool)
        #: alarms no round has judged yet: the first that keeps them in insufficient data
        #: says why in their state_reason
        self.unjudged = np.array([a.state == UNKNOWN and a.state_reason == NOT_EVALUATED
                                  for a in self.top_alarms], dtype=bool)
        self.constrained = [j for j, a in enumerate(self.top_alarms) if a.time_constraints]
        self.leaf_columns = {ref: i for i, (_, _, ref) in enumerate(entries) if ref is not None}
        self.last: Verdicts | None = None
        self.failed: dict[int, str] = {}  # column -> why the last round could not decide it
        self.evaluated_at: float | None = None  # the time of the last round that decided

    @property
    def column_of(self) -> dict[str, int]:
        """Alarm id -> the column of its top-level rule; built when first asked (by an
        explanation), as rounds never need it."""
        if self._column_of is None:
            self._column_of = dict(zip((a.alarm_id for a in self.top_alarms),
                                       self.top.tolist()))
        return self._column_of

    def evaluate(self, store: RollingStore, now: float) -> None:
        """This round's verdicts: the whole group at once; only if that raises are the
        failing rules narrowed down (halving), so that they alone are left undecided."""
        self.evaluated_at = now
        try:
            self.last, self.failed = self.group.evaluate(store, now), {}
        except Exception as exc:  # isolated below, reported per alarm
            self.last, self.failed = self._narrow(store, now, exc)

    def _narrow(self, store: RollingStore, now: float,
                error: Exception) -> tuple[Verdicts, dict[int, str]]:
        n = len(self.rules)
        out = Verdicts(np.full(n, V_UNKNOWN, dtype=np.int8), np.full(n, V_OK, dtype=np.int8),
                       np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                       np.full(n, np.nan))
        failed: dict[int, str] = {}
        todo = [(np.arange(n), error)]  # column sets known to fail, and how
        while todo:
            columns, exc = todo.pop()
            if columns.size == 1:
                failed[int(columns[0])] = describe_error(exc)
                continue
            for half in np.array_split(columns, 2):
                try:
                    part = ThresholdGroup(self.period, [self.rules[i] for i in half],
                                          [self.projects[i] for i in half]).evaluate(store, now)
                except Exception as part_error:
                    todo.append((half, part_error))
                    continue
                for name in ("verdict", "trend", "points", "outside", "most_recent"):
                    getattr(out, name)[half] = getattr(part, name)
        LOG.warning("Threshold rules of period %d: %d of %d could not be evaluated (%s)",
                    self.period, len(failed), n, describe_error(error))
        return out, failed


class _PromQLGroup:
    """The PromQL alarms a round decides, shaped as a :class:`_Group`'s top-level alarms
    so that the one state machine (:meth:`Evaluator._threshold_alarms`) decides them.

    Each alarm is decided once per answer (as a threshold alarm once per closed
    period): an alarm whose newest answer was decided already keeps its state
    (``V_KEEP``). An answer holds one datapoint per series: all beyond the
    threshold -> alarm, none -> ok, a mix keeps the state (from insufficient data it
    goes to alarm, the trend of the worst series), no series -> insufficient data.
    The value reported (``most_recent``) is the worst series': the highest for
    gt/ge/eq/ne, the lowest for lt/le. A failed query, one that runs past its
    timeout, or no answer younger than the source's ``max_age`` fails the alarm
    alone, with the reason.
    """

    def __init__(self, alarms: list[Alarm]) -> None:
        self.top_alarms = alarms
        self.top = np.arange(len(alarms), dtype=np.int64)
        self.state = np.array([_CODE[a.state] for a in alarms], dtype=np.int8)
        self.repeat = np.array([a.repeat_actions for a in alarms], dtype=bool)
        self.enabled = np.array([a.enabled for a in alarms], dtype=bool)
        self.constrained = [j for j, a in enumerate(alarms) if a.time_constraints]
        self.last: Verdicts | None = None
        self.failed: dict[int, str] = {}
        self.decided: set[str] = set()  # alarms this round decided from a new answer

    def evaluate(self, source: PromQLSource | None, now: float, done: dict[str, int],
                 fetch: bool) -> None:
        """Verdicts from the answers at hand; ``fetch`` queues a fresh query for each
        enabled alarm (never waited for here). ``done`` maps an alarm to the sequence
        number of the answer it was last decided on."""
        n = len(self.top_alarms)
        verdict = np.full(n, V_KEEP, dtype=np.int8)
        trend = np.full(n, V_ALARM, dtype=np.int8)
        points = np.zeros(n, dtype=np.int64)
        outside = np.zeros(n, dtype=np.int64)
        worst = np.full(n, np.nan)
        self.failed, self.decided = {}, set()
        for j, alarm in enumerate(self.top_alarms):
            if not alarm.enabled:
                continue
            try:
                problem = self._one(j, alarm, source, now, done, fetch,
                                    (verdict, points, outside, worst))
            except Exception as exc:  # this alarm alone
                problem = describe_error(exc)
            if problem is not None:
                self.failed[j] = problem
        self.last = Verdicts(verdict, trend, points, outside, worst)

    def _one(self, j: int, alarm: Alarm, source: PromQLSource | None, now: float,
             done: dict[str, int], fetch: bool, out: tuple) -> str | None:
        """Decide column ``j``; returns why it cannot be decided (None: it can)."""
        if source is None:
            return "no Prometheus is configured ([heat_alarming] prometheus_url)"
        rule = alarm.rule
        answer = source.latest(alarm.alarm_id)
        if answer is not None and (answer.query, answer.project) != (rule.query,
                                                                    alarm.project_id):
            answer = None  # an answer to the alarm's previous definition
        if fetch or answer is None:  # a new alarm's first query goes out at once
            try:
                source.request(alarm.alarm_id, alarm.project_id, rule.query)
            except PromQLError as exc:
                return f"the query cannot be scoped to the project: {exc.reason}"
        if source.timed_out(alarm.alarm_id):
            return f"no answer from Prometheus within {source.timeout:g} s"
        if answer is None or now - answer.arrived > source.max_age:
            waiting = source.waiting(alarm.alarm_id)
            since = answer.arrived if answer is not None else (
                waiting[0] if waiting is not None else None)
            if since is not None and now - since <= source.max_age:
                return None  # the first answer is on its way
            what = "no answer from Prometheus" if answer is None else \
                f"the newest answer from Prometheus is {now - answer.arrived:.0f} s old"
            detail = f" ({waiting[1]})" if waiting is not None else ""
            return f"{what}{detail}; answers are used for {source.max_age:g} s"
        if not answer.ok:
            return f"the query failed: {answer.error}"
        if done.get(alarm.alarm_id) == answer.seq:
            return None  # decided on this answer already: the state holds
        done[alarm.alarm_id] = answer.seq
        self.decided.add(alarm.alarm_id)
        verdict, points, outside, worst = out
        verdict[j], points[j], outside[j], worst[j] = rules.promql_verdict(
            answer.values, rule.comparison_operator, rule.threshold)
        return None


class Evaluator:
    """Evaluates alarms against a :class:`RollingStore`; state lives in an :class:`AlarmStore`."""

    def __init__(self, store: RollingStore, alarm_store: AlarmStore | None = None, *,
                 clock: Callable[[], float] | None = None,
                 notifiers: NotifierManager | None = None, dispatcher: Dispatcher | None = None,
                 interval: float = INTERVAL, period_close_delay: float = PERIOD_CLOSE_DELAY,
                 history_retention: float = HISTORY_RETENTION,
                 owns: Callable[[Alarm], bool] | None = None,
                 limits: Limits | None = None,
                 promql: PromQLSource | None = None,
                 project: str | None = None, notify_inline: bool = False) -> None:
        self.store = store
        self.alarm_store = alarm_store or AlarmStore("sqlite://")
        self.clock = clock or store.clock
        self.notifiers = notifiers or NotifierManager()
        self.dispatcher = dispatcher or Dispatcher(self.alarm_store, self.notifiers,
                                                   clock=self.clock)
        self.notifiers.use_alarms(self.alarm_store.load_alarm)  # owners, at delivery
        self.interval = float(interval)
        self.period_close_delay = float(period_close_delay)
        self.history_retention = float(history_retention)
        self._owns = owns  # None: evaluate every alarm; else only those it accepts
        #: the one project whose alarms this evaluator reads (None: every project's):
        #: enough for anything about one alarm, as no alarm refers to another project's
        self.project = project
        self.limits = limits or Limits()
        #: where PromQL alarms' answers come from (None: no Prometheus, such alarms
        #: cannot be defined and stored ones fail, saying so)
        self.promql = promql
        #: deliver each round's notifications at once, through the notifiers (an
        #: inproc:// target is called with the payload), instead of queueing them in the
        #: alarm store for the dispatcher: for a replay on a manual clock, which must see
        #: a round's actions before it moves the clock on. Nothing is retried or recorded.
        self.notify_inline = bool(notify_inline)
        self._promql_group: _PromQLGroup | None = None
        self._promql_done: dict[str, int] = {}
        #: a PromQL answer arrived (or a PromQL alarm was defined): the loop runs a
        #: round for them without waiting for the next full round
        self._promql_answered = threading.Event()
        if promql is not None:
            promql.on_answer(self._answer_arrived)
        self._alarms: dict[str, Alarm] = {}
        self._invalid: dict[str, InvalidAlarm] = {}  # stored, but unreadable
        self._per_project: Counter = Counter()  # alarms (readable or not) per project
        self._groups: dict[int, _Group] = {}
        self._composites: list[Alarm] = []
        self._dirty = True
        self._pending: set[str] = set()
        #: goes up whenever the set of alarms changes (define, delete, reload), so that
        #: callers can keep what they derive from :meth:`alarms` until it moves
        self.generation = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # definitions changed: recompute when to wake
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self.rounds = 0
        #: the clock's time the loop last finished looking at (after that time's round,
        #: if one was due): a program that moves a manual clock waits for it to catch up
        self.looked_at: float | None = None
        # the rounds' timing (stats()): durations by time.perf_counter, not the clock
        self._timing_lock = threading.Lock()
        self._failed_rounds = 0
        self._last_round_seconds = 0.0
        self._round_seconds = 0.0
        self._reload()
        self._wakeup.clear()  # nothing to wake yet: the loop starts with a full round

    # -- definitions -----------------------------------------------------
    def define(self, alarm: Alarm | Mapping[str, Any]) -> Alarm:
        """Add (or replace) an alarm; raises :class:`AlarmError` naming a bad field."""
        return self.define_many([alarm])[0]

    def define_many(self, alarms: Iterable[Alarm | Mapping[str, Any]]) -> list[Alarm]:
        """Add or replace many alarms, stored in one transaction; all or none."""
        built = [a if isinstance(a, Alarm) else Alarm.from_dict(a) for a in alarms]
        for alarm in built:  # destinations and trusts, outside the lock (DNS, keystone)
            if self.project is not None and alarm.project_id != self.project:
                raise AlarmError("project_id", f"this evaluator holds the alarms of project "
                                 f"{self.project} only")
            self._check_sizes(alarm)  # first: bounds the DNS and keystone work too
            self.notifiers.check_alarm(alarm)
        with self._lock:
            staged = dict(self._alarms)
            for alarm in built:
                self._check(alarm, staged)
                old = staged.get(alarm.alarm_id)
                if old is not None and _measurement(old) == _measurement(alarm):
                    # the same thing is measured: the state carries over
                    alarm.state, alarm.state_reason = old.state, old.state_reason
                    alarm.state_timestamp = old.state_timestamp
                staged[alarm.alarm_id] = alarm
            added = self._check_quota(built)
            self.alarm_store.save_alarms(built)
            self._per_project.update(added)
            for alarm in built:
                self._prepare_store(alarm)
                self._invalid.pop(alarm.alarm_id, None)
            self._alarms = staged
            self._dirty = True
            self.generation += 1
            if any(a.type == PROMETHEUS for a in built):
                self._promql_answered.set()  # a round soon sends their first queries
            self._wakeup.set()
            return built

    def _check_quota(self, built: list[Alarm]) -> Counter:
        """Each project of ``built`` stays within its number of alarms; returns how many
        alarms each project gains (a redefinition gains none)."""
        new_ids = {a.alarm_id: a.project_id for a in built
                   if a.alarm_id not in self._alarms and a.alarm_id not in self._invalid}
        added = Counter(new_ids.values())
        limit = self.limits.alarms_per_project
        for project, n in sorted(added.items(), key=lambda item: str(item[0])):
            total = self._per_project[project] + n
            if total > limit:
                raise AlarmError("project_id", f"project {project} would have {total} "
                                 f"alarms; the limit is {limit}")
        return added

    def delete(self, alarm_id: str) -> bool:
        """Remove an alarm; refused while a composite of its own project uses it.

        A composite of another project never holds an alarm: it cannot name one
        (:meth:`_check`), and one stored before that rule sees the leaf as unknown.
        """
        with self._lock:
            target = self._alarms.get(alarm_id)
            project = target.project_id if target is not None else None
            users = [a.name for a in self._alarms.values() if a.type == COMPOSITE
                     and a.project_id == project and ("alarm", alarm_id) in a.rule.leaves()]
            if target is not None and users:
                raise AlarmError("alarm_id", f"{alarm_id} is used by composite alarm(s) "
                                             f"{', '.join(users)}")
            removed = self._alarms.pop(alarm_id, None) or self._invalid.pop(alarm_id, None)
            self._invalid.pop(alarm_id, None)
            self.alarm_store.delete_alarm(alarm_id)
            gone = removed is not None
            if gone:
                self._per_project[removed.project_id] -= 1
            self._pending.discard(alarm_id)
            self._dirty = True
            self.generation += 1
            return gone

    def set_enabled(self, alarm_id: str, enabled: bool) -> Alarm:
        with self._lock:
            alarm = self.get(alarm_id)
            alarm.enabled = bool(enabled)
            self.alarm_store.save_alarm(alarm)
            if not self._dirty and not self._enable_compiled(alarm):
                self._dirty = True
            return alarm

    def _enable_compiled(self, alarm: Alarm) -> bool:
        """Copy ``alarm.enabled`` into the group it is compiled into, so that no
        recompilation (and reselection) follows; False if it is compiled into none."""
        if alarm.type == PROMETHEUS:
            g = self._promql_group
            j = next((j for j, a in enumerate(g.top_alarms) if a is alarm), None) \
                if g is not None else None
        elif alarm.type == THRESHOLD:
            g = self._groups.get(alarm.rule.period)
            column = g.column_of.get(alarm.alarm_id) if g is not None else None
            j = None if column is None else int(np.searchsorted(g.top, column))
        else:  # a composite: a round reads its flag from the alarm
            return any(a is alarm for a in self._composites)
        if j is None or g.top_alarms[j] is not alarm:
            return False
        g.enabled[j] = alarm.enabled
        return True

    def get(self, alarm_id: str) -> Alarm:
        try:
            return self._alarms[alarm_id]
        except KeyError:
            raise KeyError(f"no alarm {alarm_id!r}") from None

    def alarms(self) -> list[Alarm]:
        return list(self._alarms.values())

    def evaluated_ids(self) -> set[str]:
        """Ids of the alarms this evaluator's rounds decide (those ``owns`` accepts,
        see :meth:`follow_ownership`)."""
        with self._lock:
            if self._dirty:
                self._compile()
            ids = {a.alarm_id for g in self._groups.values() for a in g.top_alarms}
            if self._promql_group is not None:
                ids |= {a.alarm_id for a in self._promql_group.top_alarms}
            return ids | {a.alarm_id for a in self._composites}

    def history(self, alarm_id: str, limit: int = 100, marker: str | None = None):
        """An alarm's history, newest first (:meth:`AlarmStore.history`)."""
        return self.alarm_store.history(alarm_id, limit, marker)

    def explain(self, alarm_id: str, now: float | None = None) -> dict[str, Any]:
        """The facts of the alarm's latest round, as data, with a sentence first
        (:mod:`heat_alarming.engine.explain`); raises KeyError for an unknown alarm.

        The facts are those the round decided on, decided again by the same rules.
        An alarm no round here has decided yet (just defined, or evaluated by another
        worker) is evaluated for the explanation at ``now`` (default: the clock),
        changing nothing.
        """
        with self._lock:
            if self._dirty:
                self._compile()
            alarm = self.get(alarm_id)
            action = explain_mod.last_action(
                self.alarm_store.history(alarm_id, explain_mod.HISTORY_READ))
            at = self.clock() if now is None else float(now)
            if alarm.type == COMPOSITE:
                return self._explain_composite(alarm, at, action)
            if alarm.type == PROMETHEUS:
                return self._explain_promql(alarm, at, action)
            return self._explain_threshold(alarm, at, action)

    def _open(self, alarm: Alarm, at: float) -> bool | None:
        if not alarm.time_constraints:
            return None
        try:
            return within(alarm.time_constraints, at)
        except Exception:  # a stored constraint that cannot run: said by the round
            return None

    def _not_evaluated(self, alarm: Alarm, at: float) -> str | None:
        if not alarm.enabled:
            return "the alarm is disabled"
        if self._open(alarm, at) is False:
            return "outside its time constraints"
        return None

    def _explain_threshold(self, alarm: Alarm, at: float,
                           action: dict | None) -> dict[str, Any]:
        rule, store = alarm.rule, self.store
        group = self._groups.get(rule.period)
        column = group.column_of.get(alarm.alarm_id) if group is not None else None
        window = group.group.column_window(column) \
            if group is not None and column is not None else None
        failed = group.failed.get(column) if column is not None else None
        if column is None or window is None or group.evaluated_at is None:
            one = ThresholdGroup(rule.period, [rule], [alarm.project_id])
            one.evaluate(store, at)
            spec, window, column, evaluated_at = one.spec, one.last_window, 0, None
            counts, values = window.counts, window.values
        else:
            spec, evaluated_at = group.group.spec.column(column), group.evaluated_at
            window, counts, values = _own_window(window, rule.look_back)
        verdicts, facts = rules.threshold_verdicts(spec, counts, values, detail=True)
        selector = rule.selector()
        selection = store.select_many([(rule.meter_name, selector, alarm.project_id)])
        counts_now, _, _ = store.aggregate(selection, rule.period, window.first,
                                           counts.shape[0], spec.statistics)
        series = store.explain_selection(rule.meter_name, selector, alarm.project_id)
        rejected = store.refusals(alarm.project_id, rule.meter_name)
        periods = explain_mod.period_facts(window.first, rule.period, facts, counts,
                                           counts_now)
        verdict = explain_mod.verdict_facts(verdicts, 0)
        when = evaluated_at if evaluated_at is not None else at
        skipped = self._not_evaluated(alarm, when)
        if failed is not None:
            summary = f"{alarm.state}: the alarm could not be evaluated: {failed}"
        elif skipped is not None:
            summary = explain_mod.not_evaluated(alarm, skipped)
        else:
            summary = explain_mod.threshold_summary(alarm, rule, verdict, series, periods,
                                                    rejected, None)
        summary += explain_mod.pending_text(alarm) + explain_mod.action_text(action)
        return explain_mod.finish(summary, alarm, evaluated_at, {
            "rule": explain_mod.rule_facts(alarm, rule, self._open(alarm, when)),
            "query": {"meter": rule.meter_name, "project_id": alarm.project_id,
                      "conditions": [explain_mod.condition_text(c)
                                     for c in selector.conditions]},
            "series": series, "periods": periods, "rejected": rejected,
            "verdict": verdict, "error": failed,
            "pending": explain_mod.pending_facts(alarm), "last_action": action})

    def _explain_composite(self, alarm: Alarm, at: float,
                           action: dict | None) -> dict[str, Any]:
        leaves, states = [], []
        for i, leaf in enumerate(alarm.rule.leaves()):
            if leaf[0] == "alarm":
                other = _visible(self._alarms, leaf[1], alarm.project_id)
                state = UNKNOWN if other is None else other.state
                leaves.append({"rule": f"rule{i + 1}", "alarm_id": leaf[1], "state": state,
                               "known": other is not None})
            else:
                group = self._groups.get(leaf[1].period)
                column = None if group is None else group.leaf_columns.get(
                    (alarm.alarm_id, i))
                verdicts = None if group is None else group.last
                if column is None or verdicts is None:
                    state, verdict = UNKNOWN, None
                else:
                    verdict = explain_mod.verdict_facts(verdicts, column)
                    state = rules.leaf_state(int(verdicts.verdict[column]),
                                             int(verdicts.trend[column]), alarm.state)
                leaves.append({"rule": f"rule{i + 1}", "threshold_rule": leaf[1].to_dict(),
                               "state": state, "verdict": verdict})
            states.append(state)
        decided = rules.composite_state(alarm.rule.tree, states)
        form = composite_mod.expression(alarm.rule)
        skipped = self._not_evaluated(alarm, at)
        summary = explain_mod.not_evaluated(alarm, skipped) if skipped else \
            explain_mod.composite_summary(decided, form, states)
        summary += explain_mod.pending_text(alarm) + explain_mod.action_text(action)
        return explain_mod.finish(summary, alarm, None, {
            "rule": explain_mod.rule_facts(alarm, None, self._open(alarm, at)),
            "composition_form": form, "leaves": leaves,
            "verdict": {"verdict": decided},
            "pending": explain_mod.pending_facts(alarm), "last_action": action})

    def _explain_promql(self, alarm: Alarm, at: float,
                        action: dict | None) -> dict[str, Any]:
        group = self._promql_group
        column = None
        if group is not None:
            column = next((j for j, a in enumerate(group.top_alarms)
                           if a.alarm_id == alarm.alarm_id), None)
        failed = group.failed.get(column) if column is not None else None
        verdict = None
        if column is not None and group.last is not None:
            verdict = explain_mod.verdict_facts(group.last, column)
        answer = self.promql.latest(alarm.alarm_id) if self.promql is not None else None
        skipped = self._not_evaluated(alarm, at)
        if failed is not None:
            summary = f"{alarm.state}: the alarm could not be evaluated: {failed}"
        elif skipped is not None:
            summary = explain_mod.not_evaluated(alarm, skipped)
        elif answer is None:
            summary = f"{alarm.state}: no answer from Prometheus yet"
        else:
            summary = (f"{alarm.state}: the newest answer held {len(answer.values)} "
                       f"series")
        summary += explain_mod.pending_text(alarm) + explain_mod.action_text(action)
        return explain_mod.finish(summary, alarm, None, {
            "rule": explain_mod.rule_facts(alarm, alarm.rule, self._open(alarm, at)),
            "query": {"promql": alarm.rule.query, "project_id": alarm.project_id},
            "answer": None if answer is None else {
                "arrived": answer.arrived, "series": len(answer.values),
                "ok": answer.ok, "error": answer.error},
            "verdict": verdict, "error": failed,
            "pending": explain_mod.pending_facts(alarm), "last_action": action})

    def register_target(self, name: str, target: Callable[[dict], object]) -> None:
        """Deliver ``inproc://<name>`` actions to ``target(payload)``."""
        self.notifiers.register_target(name, target)

    def check(self, alarm: Alarm, references: bool = True) -> None:
        """Raise :class:`AlarmError` if ``alarm`` cannot be evaluated here (no side effect).

        ``references=False`` skips the composite's ``alarm_id`` references, for
        callers that validate before the referenced alarms exist (Heat templates).
        """
        self._check_sizes(alarm)
        self.notifiers.check_alarm(alarm)  # destinations and trusts, outside the lock
        with self._lock:
            self._check(alarm, references=references)

    def _check(self, alarm: Alarm, known: Mapping[str, Alarm] | None = None,
               references: bool = True) -> None:
        known = self._alarms if known is None else known
        self._check_owner(alarm, known)
        self._check_rules(alarm)
        if alarm.type == COMPOSITE:
            self._check_composite(alarm, known, references)

    def _check_owner(self, alarm: Alarm, known: Mapping[str, Alarm]) -> None:
        """An alarm id of another project cannot be taken over by redefining it."""
        old = known.get(alarm.alarm_id) or self._invalid.get(alarm.alarm_id)
        if old is not None and old.project_id != alarm.project_id:
            raise AlarmError("alarm_id", f"{alarm.alarm_id!r} is already in use")

    def _check_sizes(self, alarm: Alarm) -> None:
        """Bounded time constraints and actions: each costs work in every round or
        transition, which one project must not multiply for everybody."""
        if len(alarm.time_constraints) > self.limits.time_constraints:
            raise AlarmError("time_constraints", f"{len(alarm.time_constraints)} constraints "
                             f"is more than the {self.limits.time_constraints} allowed")
        for field in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            count = len(getattr(alarm, field))
            if count > self.limits.actions_per_state:
                raise AlarmError(field, f"{count} actions is more than the "
                                 f"{self.limits.actions_per_state} allowed")

    def _check_rules(self, alarm: Alarm) -> None:
        if alarm.type == PROMETHEUS:
            if self.promql is None:
                raise AlarmError("type", "PromQL alarms need a Prometheus, and the operator "
                                 "has configured none ([heat_alarming] prometheus_url)")
            if not alarm.project_id:
                raise AlarmError("project_id", "a PromQL alarm needs a project to scope "
                                 "its query to")
            try:
                self.promql.scoped(alarm.rule.query, alarm.project_id)
            except PromQLError as exc:
                raise AlarmError("prometheus_rule.query", exc.reason) from None
            return
        where = "threshold_rule" if alarm.type == THRESHOLD else "composite_rule"
        for rule in alarm.threshold_rules():
            if rule.period % self.store.resolution:
                raise AlarmError(f"{where}.period", f"{rule.period} is not a multiple of the "
                                 f"store resolution ({self.store.resolution} s)")
            # the periods read, and the one still filling between the last close and now
            if (rule.look_back + 1) * rule.period > self.store.retention:
                raise AlarmError(f"{where}.evaluation_periods",
                                 f"{rule.look_back} periods of {rule.period} s, plus the one "
                                 "filling, reach further back than the store retention "
                                 f"({self.store.retention} s)")

    def _check_composite(self, alarm: Alarm, known: Mapping[str, Alarm],
                         references: bool) -> None:
        """Bounded size and depth; references to alarms of the same project only."""
        leaves = alarm.rule.leaves()
        if len(leaves) > self.limits.composite_leaves:
            raise AlarmError("composite_rule", f"{len(leaves)} rules and alarms is more than "
                             f"the {self.limits.composite_leaves} allowed")
        depth = alarm.rule.depth()
        if depth > self.limits.composite_depth:
            raise AlarmError("composite_rule", f"and/or nested {depth} levels deep, more "
                             f"than the {self.limits.composite_depth} allowed")
        if not references:
            return
        for leaf in leaves:
            if leaf[0] != "alarm":
                continue
            # another project's alarm is refused exactly as one that does not exist
            if _visible(known, leaf[1], alarm.project_id) is None:
                raise AlarmError("composite_rule.alarm_id", f"no alarm {leaf[1]!r}")
            if self._reaches(leaf[1], alarm.alarm_id, known, alarm.project_id):
                raise AlarmError("composite_rule.alarm_id",
                                 f"{leaf[1]} refers back to this alarm (a cycle)")

    def _reaches(self, start: str, target: str, known: Mapping[str, Alarm],
                 project: str | None) -> bool:
        """Whether ``start`` leads to ``target`` through the project's composites."""
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == target:
                return True
            alarm = _visible(known, current, project)
            if current in seen or alarm is None:
                continue
            seen.add(current)
            if alarm.type == COMPOSITE:
                todo += [leaf[1] for leaf in alarm.rule.leaves() if leaf[0] == "alarm"]
        return False

    def _prepare_store(self, alarm: Alarm) -> None:
        for rule in alarm.threshold_rules():
            if rule.statistic.startswith("p"):
                self.store.track_raw(rule.meter_name)

    # -- compilation -----------------------------------------------------
    def _compile(self) -> None:
        entries: dict[int, list] = {}
        composites, promql_alarms = [], []
        for alarm in self._alarms.values():
            if self._owns is not None and not self._owns(alarm):
                continue
            if alarm.type == PROMETHEUS:
                promql_alarms.append(alarm)
            elif alarm.type == THRESHOLD:
                entries.setdefault(alarm.rule.period, []).append((alarm, alarm.rule, None))
            else:
                composites.append(alarm)
                for i, leaf in enumerate(alarm.rule.leaves()):
                    if leaf[0] == "rule":
                        entries.setdefault(leaf[1].period, []).append(
                            (alarm, leaf[1], (alarm.alarm_id, i)))
        self._groups = {period: _Group(period, items) for period, items in entries.items()}
        self._promql_group = _PromQLGroup(promql_alarms) if promql_alarms else None
        kept = {a.alarm_id for a in promql_alarms}
        self._promql_done = {k: v for k, v in self._promql_done.items() if k in kept}
        if self.promql is not None:
            self.promql.retain(kept)
        self._composites = self._in_dependency_order(composites)
        self._dirty = False

    def _in_dependency_order(self, composites: list[Alarm]) -> list[Alarm]:
        order, placed = [], set()
        remaining = list(composites)
        while remaining:
            progress = False
            for alarm in list(remaining):
                deps = {leaf[1] for leaf in alarm.rule.leaves() if leaf[0] == "alarm"
                        and getattr(_visible(self._alarms, leaf[1], alarm.project_id),
                                    "type", None) == COMPOSITE}
                if deps <= placed:
                    order.append(alarm)
                    placed.add(alarm.alarm_id)
                    remaining.remove(alarm)
                    progress = True
            if not progress:  # a cycle cannot be defined; keep going regardless
                order += remaining
                break
        return order

    # -- a round -----------------------------------------------------------
    def evaluate(self, now: float | None = None,
                 periods: Iterable[int] | None = None) -> list[Transition]:
        """Run one round at ``now`` (default: the clock); returns what it notified or changed.

        ``periods`` restricts the threshold groups to those periods (used when
        a period closes); composite alarms are always decided.
        """
        started = time.perf_counter()
        done = False
        try:
            results = self._round(now, periods)
            done = True
            return results
        finally:
            self._timed(time.perf_counter() - started, done)

    def _timed(self, seconds: float, done: bool) -> None:
        with self._timing_lock:
            self._last_round_seconds = seconds
            if done:
                self.rounds += 1
                self._round_seconds += seconds
            else:
                self._failed_rounds += 1

    def stats(self) -> dict[str, Any]:
        """How the rounds went, as copies: ``rounds`` (completed), ``failed_rounds``
        (rounds that raised, whose changes were not stored), ``round_seconds`` (the
        completed rounds' time in all), ``last_round_seconds``, and ``alarms``:
        (project, state) -> the alarms the rounds decide (those ``owns`` accepts; ""
        for alarms without a project). Waits for no round: while one runs, the
        alarms are those it started with."""
        with self._timing_lock:
            out = {"rounds": self.rounds, "failed_rounds": self._failed_rounds,
                   "round_seconds": self._round_seconds,
                   "last_round_seconds": self._last_round_seconds}
        if self._dirty and self._lock.acquire(blocking=False):
            try:  # definitions changed since the last round: what the next one decides
                if self._dirty:
                    self._compile()
            finally:
                self._lock.release()
        # (a round running now compiles them itself; until it has, the figures are
        # those of the last compilation: containers replaced whole, never mutated)
        evaluated = [a for g in list(self._groups.values()) for a in g.top_alarms]
        promql_group = self._promql_group
        if promql_group is not None:
            evaluated += promql_group.top_alarms
        evaluated += self._composites
        out["alarms"] = dict(Counter((a.project_id or "", a.state) for a in evaluated))
        return out

    def _round(self, now: float | None, periods: Iterable[int] | None) -> list[Transition]:
        with self._lock:
            with _collector_paused():  # (not while it waits for the lock)
                now = self.clock() if now is None else float(now)
                if self._dirty:
                    self._compile()
                round_ = _Round(self, now)
                wanted = None if periods is None else set(periods)
                try:
                    for period, group in self._groups.items():
                        if wanted is None or period in wanted:
                            round_.periods.add(period)
                            group.evaluate(self.store, now)
                            self._threshold_alarms(group, round_)
                    promql_group = self._promql_group
                    if promql_group is not None:
                        # decided in every round with the answers at hand; fetched afresh in
                        # full rounds (once per evaluation interval)
                        promql_group.evaluate(self.promql, now, self._promql_done,
                                              fetch=periods is None)
                        round_.promql = promql_group.decided
                        self._threshold_alarms(promql_group, round_)
                    for alarm in self._composites:
                        round_.isolated(self._composite_alarm, alarm)
                    self._invalid_alarms(round_)
                    self._pending = {i for i in self._pending if i in self._alarms}
                    round_.settle_pending([self._alarms[i] for i in sorted(self._pending)])
                    round_.commit()
                    self._pending |= {i for i, waits in round_.waiting.items() if waits}
                    self._pending -= {i for i, waits in round_.waiting.items() if not waits}
                except Exception:
                    # what this round changed in memory was not stored: go back to the store
                    self._reload()
                    raise
                # what is returned and what is delivered taken out of the round, whose
                # other records (history, queued notifications) are then freed before
                # the collector runs again, which would go over each of them once
                results = round_.results
                inline = round_.notifications if self.notify_inline else []
                queued = bool(round_.notifications) and not self.notify_inline
                del round_
            if now - self._last_prune > 3600:
                # the round is stored: a prune that fails is not a failed round, and
                # waits for the next hour like one that succeeded
                self._last_prune = now
                try:
                    self.alarm_store.prune_history(now - self.history_retention)
                except Exception as exc:
                    LOG.warning("Pruning the alarm history failed: %s", exc)
        if inline:
            self._notify_now(inline)
        elif queued:
            self.dispatcher.wake()
        return results

    def _notify_now(self, notifications: list[Notification]) -> None:
        """Deliver a committed round's notifications (``notify_inline``); a failure is
        logged and the notification dropped."""
        for item in notifications:
            if item.alarm_id not in self._alarms:
                continue  # deleted while the round ran, as commit_round drops it
            try:
                self.notifiers.notify(item.action, item.payload, item.idempotency_key)
            except Exception as exc:  # one action's failure is its own
                LOG.warning("Alarm %s: delivering %s failed: %s", item.alarm_id,
                            redact(item.action), describe_error(exc))

    def reload(self) -> None:
        """Read every alarm again from the alarm store (definitions changed elsewhere)."""
        with self._lock:
            self._reload()

    def follow_ownership(self, owns: Callable[[Alarm], bool] | None) -> None:
        """Evaluate, from the next round on, the alarms ``owns`` accepts (None: all);
        call it again whenever what it accepts changes.

        Every alarm is read again from the alarm store: an alarm gained was last
        decided by another evaluator, whose state (and pending transition) is the
        one committed there. Several evaluators sharing one alarm store must each
        accept a disjoint share (:class:`heat_alarming.engine.worker.Worker`).
        """
        with self._lock:
            self._owns = owns
            self._reload()

    def _reload(self) -> None:
        invalid: list[InvalidAlarm] = []
        self._alarms = {a.alarm_id: a for a in self.alarm_store.load_alarms(
            invalid, project_id=self.project)}
        self._invalid = {a.alarm_id: a for a in invalid}
        self._per_project = Counter(a.project_id for a in self._alarms.values())
        self._per_project.update(a.project_id for a in invalid)
        for alarm in self._alarms.values():
            self._prepare_store(alarm)
        self._pending = {a.alarm_id for a in self._alarms.values() if a.pending_state}
        self._dirty = True
        self.generation += 1
        self._wakeup.set()

    def _invalid_alarms(self, round_: _Round) -> None:
        """Stored alarms that cannot be read back go to insufficient data, saying why."""
        for invalid in self._invalid.values():
            if self._owns is None or self._owns(invalid):
                round_.fail(invalid, invalid.error)

    def _threshold_alarms(self, g: _Group | _PromQLGroup, round_: _Round) -> None:
        if g.top.size == 0:
            return
        v = g.last
        if g.top.size == v.verdict.size:  # no composite leaves: top is every column
            verdict, trend = v.verdict, v.trend
        else:
            verdict, trend = v.verdict[g.top], v.trend[g.top]
        current = g.state
        active = g.enabled.copy()
        failed = {j: g.failed[int(c)] for j, c in enumerate(g.top) if int(c) in g.failed} \
            if g.failed else {}
        for j in g.constrained:
            try:
                active[j] = active[j] and within(g.top_alarms[j].time_constraints, round_.now)
            except Exception as exc:  # a stored constraint that cannot run
                failed[j] = describe_error(exc)
        for j, error in failed.items():
            active[j] = False
            round_.fail(g.top_alarms[j], error)
            g.state[j] = _CODE[g.top_alarms[j].state]
        new = rules.proposed_states(verdict, trend, current, g.repeat)
        touch = (new != rules.NONE) & active
        # every moving alarm's reason text first, then their transitions: the texts, which
        # the alarms keep, are made before the round's records (history, payloads,
        # results), which it drops, so that a storm's texts are not strewn over all the
        # memory those records leave free (the allocator keeps what is not wholly free)
        indices = np.flatnonzero(touch)
        # (as lists: Python reads its own ints faster than numpy's scalars)
        moving = list(zip(indices.tolist(), [_STATE[code] for code in new[indices].tolist()],
                          g.top[indices].tolist()))
        # the verdicts of the moving columns, read once each
        picked = v.picked(g.top[indices]) if moving else v
        texts: list[str | None] = []
        for j, state, column in moving:
            alarm = g.top_alarms[j]
            try:
                texts.append(self._threshold_text(alarm, state, g, picked, column, round_))
            except Exception as exc:  # this alarm alone
                texts.append(None)
                round_.fail(alarm, describe_error(exc))
        for (j, state, column), text in zip(moving, texts):
            if text is not None:
                round_.isolated(self._threshold_alarm, g.top_alarms[j], state, text, picked,
                                column)
        if moving:  # each moving alarm's state as the round left it
            g.state[indices] = [_CODE[g.top_alarms[j].state] for j in indices.tolist()]
        if isinstance(g, _Group) and g.unjudged.any():
            first = g.unjudged & active & ~touch & (verdict == V_UNKNOWN)
            later = np.flatnonzero(first)[FIRST_REASONS:]  # the next rounds say theirs
            for j in np.flatnonzero(first)[:FIRST_REASONS]:
                round_.isolated(self._first_reason, g.top_alarms[j], g, v, int(g.top[j]))
            g.unjudged &= ~active
            g.unjudged[later] = True

    def _threshold_alarm(self, alarm: Alarm, state: str, text: str, v: Verdicts | PickedVerdicts,
                         column: int, round_: _Round) -> None:
        """Refresh a threshold or PromQL alarm to ``state``, saying ``text``
        (:meth:`_threshold_text`)."""
        if state == UNKNOWN:
            _, data = self._aodh_reason(alarm, state, v, column)
        else:  # the data alone: its text is made already
            data = reason_data(state, int(v.points[column]), int(v.outside[column]),
                               float(v.most_recent[column]))
        round_.refresh(alarm, state, text, data)

    def _threshold_text(self, alarm: Alarm, state: str, g: _Group | _PromQLGroup,
                        v: Verdicts | PickedVerdicts, column: int, round_: _Round) -> str:
        """The reason text of a threshold or PromQL alarm going to ``state``."""
        text, _ = self._aodh_reason(alarm, state, v, column)
        if isinstance(g, _Group):  # the explanation's sentence first, Aodh's words after
            text = f"{self._sentence(alarm, state, g, v, column, round_)}. {text}"
        return text

    @staticmethod
    def _aodh_reason(alarm: Alarm, state: str, v: Verdicts | PickedVerdicts,
                     column: int) -> tuple[str, dict]:
        """Aodh's reason text and reason_data for an alarm going to ``state``."""
        if state == UNKNOWN and isinstance(alarm.rule, PromQLRule):
            text, data = promql_unknown_reason()
        elif state == UNKNOWN:
            text, data = unknown_reason(alarm.rule.evaluation_periods,
                                        float(v.most_recent[column]))
        else:
            text, data = reason_for(state, state != alarm.state, int(v.points[column]),
                                    int(v.outside[column]), float(v.most_recent[column]))
        return text, data

    def _first_reason(self, alarm: Alarm, g: _Group, v: Verdicts, column: int,
                      round_: _Round) -> None:
        """An alarm created in insufficient data that its first round leaves there: its
        reason says why (no transition, so no history and no action)."""
        if alarm.state != UNKNOWN or alarm.state_reason != NOT_EVALUATED:
            return
        text, _ = unknown_reason(alarm.rule.evaluation_periods, float(v.most_recent[column]))
        round_.reason(alarm, f"{self._sentence(alarm, UNKNOWN, g, v, column, round_)}. {text}")

    def _sentence(self, alarm: Alarm, state: str, g: _Group, v: Verdicts | PickedVerdicts,
                  column: int, round_: _Round) -> str:
        """What :meth:`explain` would say first, from this round's facts: the costly
        parts (the nearest series, the periods) only when they are the story."""
        rule = alarm.rule
        verdict = explain_mod.verdict_facts(v, column)
        matched = g.group.matched(column)
        series: dict[str, Any] = {"count": matched}
        if matched == 0:
            series = self.store.explain_selection(rule.meter_name, rule.selector(),
                                                  alarm.project_id)
        periods: list[dict] = []
        window = g.group.column_window(column) \
            if verdict["verdict"] == "insufficient data" else None
        if window is not None:
            window, counts, values = _own_window(window, rule.look_back)
            _, facts = rules.threshold_verdicts(g.group.spec.column(column), counts,
                                                values, detail=True)
            periods = explain_mod.period_facts(window.first, rule.period, facts, counts,
                                               None)
        return explain_mod.threshold_summary(
            alarm, rule, verdict, series, periods,
            round_.refusals(self.store, alarm.project_id, rule.meter_name), state)

    def _leaf_states(self, alarm: Alarm) -> list[str]:
        states = []
        for i, leaf in enumerate(alarm.rule.leaves()):
            if leaf[0] == "alarm":
                # a leaf of another project (stored before that was refused) or one
                # gone is unknown: its state is never read
                other = _visible(self._alarms, leaf[1], alarm.project_id)
                states.append(UNKNOWN if other is None else other.state)
                continue
            group = self._groups[leaf[1].period]
            verdicts = group.last
            if verdicts is None:
                states.append(UNKNOWN)
                continue
            column = group.leaf_columns[(alarm.alarm_id, i)]
            states.append(rules.leaf_state(int(verdicts.verdict[column]),
                                           int(verdicts.trend[column]), alarm.state))
        return states

    def _composite_alarm(self, alarm: Alarm, round_: _Round) -> None:
        """Decide one composite (``round_.isolated`` reports what raises here)."""
        if not alarm.enabled or not within(alarm.time_constraints, round_.now):
            return
        leaf_states = self._leaf_states(alarm)
        state = rules.composite_state(alarm.rule.tree, leaf_states)
        if state == UNKNOWN and alarm.state == UNKNOWN:
            return
        if state == alarm.state and not alarm.repeat_actions:
            round_.still(alarm, state)
            return
        text, data = composite_mod.reason(alarm.rule, state, state != alarm.state, leaf_states)
        sentence = explain_mod.composite_summary(state, composite_mod.expression(alarm.rule),
                                                 leaf_states)
        round_.refresh(alarm, state, f"{sentence}. {text}", data)

    # -- the loop ----------------------------------------------------------
    def start(self) -> Evaluator:
        """Run rounds on a thread: every ``interval`` s and when a period closes."""
        self.dispatcher.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the clock again now: for a program that moves a manual clock
        (a compressed-time demo or replay) while the loop runs."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.dispatcher.stop()
        if self.promql is not None:
            self.promql.stop()

    def _answer_arrived(self) -> None:
        """A PromQL answer arrived (a query thread calls this): decide it soon."""
        self._promql_answered.set()
        self._wakeup.set()

    def _run(self) -> None:
        next_full = self.clock()
        closed: dict[int, int] = {}
        while not self._stop.is_set():
            now = self.clock()
            try:
                with self._lock:
                    if self._dirty:  # new alarms bring new periods to wake up for
                        self._compile()
                answered = self._promql_answered.is_set()
                self._promql_answered.clear()
                if now >= next_full:
                    next_full = now + self.interval
                    closed = {p: self._closed(p, now) for p in self._groups}
                    self.evaluate(now)
                else:
                    due = [p for p in self._groups if self._closed(p, now) > closed.get(p, 0)]
                    if due:
                        closed.update({p: self._closed(p, now) for p in due})
                        self.evaluate(now, periods=due)
                        if len(due) == len(self._groups):
                            # that was a full round: another one a moment later would
                            # see the same data and repeat the repeating actions
                            next_full = now + self.interval
                    elif answered:  # decide the PromQL alarms whose answers arrived
                        self.evaluate(now, periods=())
            except Exception:  # one bad round must not end evaluation
                LOG.exception("Alarm evaluation round failed; the next round will retry")
            self.looked_at = now
            wake = next_full
            for period in self._groups:
                boundary = (self._closed(period, now) + 1) * period + self.period_close_delay
                wake = min(wake, boundary)
            self._wakeup.wait(max(0.01, min(wake - self.clock(), self.interval)))
            self._wakeup.clear()

    def _closed(self, period: int, now: float) -> int:
        """Index of the newest period that closed at least period_close_delay ago."""
        return math.floor((now - self.period_close_delay) / period)


class _Round:
    """Collects one round's changes, history and notifications for one commit."""

    def __init__(self, evaluator: Evaluator, now: float) -> None:
        self.alarm_store, self.dispatcher = evaluator.alarm_store, evaluator.dispatcher
        self.queues = not evaluator.notify_inline  # notifications go to the alarm store
        self.now = now
        self.changed: dict[str, Alarm] = {}
        self.history: list[HistoryEntry] = []
        self.notifications: list[Notification] = []
        self.results: list[Transition] = []
        self.proposed: dict[str, str] = {}
        self.periods: set[int] = set()  # threshold groups evaluated in this round
        self.promql: set[str] = set()  # PromQL alarms decided on a new answer
        #: alarms whose transition waits in the stabilisation window after this round
        #: (True) or no longer waits (False); the evaluator applies it once committed
        self.waiting: dict[str, bool] = {}
        #: transitions by new state (logged one by one at INFO up to LOGGED_TRANSITIONS,
        #: then at DEBUG, when that is on: asked once per round)
        self.moved: Counter = Counter()
        self._transitions = 0  # moved.total(), kept as it grows (read per transition)
        self._debug = LOG.isEnabledFor(logging.DEBUG)
        #: when the round's notifications are due: the dispatcher's clock as the first
        #: of them is made (read once per round)
        self._due: float | None = None
        self._refusals: dict[tuple, list[dict]] = {}  # (project, meter) -> refusals
        self.event_id = EventIds(now)  # the next history event's id

    def refusals(self, store: RollingStore, project_id: str | None,
                 meter: str) -> list[dict]:
        """The store's recent refusals of the project's samples of ``meter``, read once
        per round (a storm's reasons name them for thousands of alarms)."""
        key = (project_id, meter)
        found = self._refusals.get(key)
        if found is None:
            found = self._refusals[key] = store.refusals(project_id, meter)
        return found

    def still(self, alarm: Alarm, state: str) -> None:
        self.proposed[alarm.alarm_id] = state

    def isolated(self, decide: Callable[..., None], alarm: Alarm, *args) -> None:
        """``decide(alarm, *args, self)``; if it raises, that alarm alone fails."""
        try:
            decide(alarm, *args, self)
        except Exception as exc:  # one alarm's failure is its own
            self.fail(alarm, describe_error(exc))

    def fail(self, alarm: Alarm | InvalidAlarm, error: str) -> None:
        """An alarm that could not be evaluated goes to insufficient data, at once (no
        stabilization window), with the error as its reason."""
        text = f"Alarm could not be evaluated: {error}"
        self.proposed[alarm.alarm_id] = UNKNOWN
        self._set_pending(alarm, None)
        if alarm.state == UNKNOWN:
            if alarm.state_reason != text:  # the reason says why, without a notification
                alarm.state_reason = text
                self.changed[alarm.alarm_id] = alarm
            return
        LOG.warning("Alarm %s cannot be evaluated: %s", alarm.alarm_id, error)
        if isinstance(alarm, Alarm):
            try:
                self.refresh(alarm, UNKNOWN, text, {"type": "error", "error": error},
                             stabilize=False)
                return
            except Exception:  # even its actions are broken: state only
                LOG.exception("Alarm %s: recording its failure failed", alarm.alarm_id)
        previous, event_id = alarm.state, self.event_id()
        alarm.state, alarm.state_reason, alarm.state_timestamp = UNKNOWN, text, self.now
        self.changed[alarm.alarm_id] = alarm
        self.history.append(HistoryEntry(event_id, alarm.alarm_id, STATE_TRANSITION,
                                         self.now, previous, UNKNOWN, text,
                                         {"type": "error", "error": error}, ""))

    def reason(self, alarm: Alarm, text: str) -> None:
        """A new reason for the state the alarm keeps: stored with the round, without
        history or notification (as :meth:`fail` does for an alarm already failing)."""
        alarm.state_reason = text
        self.changed[alarm.alarm_id] = alarm

    def _set_pending(self, alarm: Alarm | InvalidAlarm,
                     pending: tuple[str, float] | None) -> None:
        """Record the alarm's waiting transition (None: none), if it changed."""
        now_pending = None if alarm.pending_state is None else (alarm.pending_state,
                                                                 alarm.pending_since)
        if pending == now_pending:
            return
        alarm.pending_state, alarm.pending_since = pending or (None, None)
        self.waiting[alarm.alarm_id] = pending is not None
        self.changed[alarm.alarm_id] = alarm

    def refresh(self, alarm: Alarm, state: str, reason: str, reason_data: dict,
                stabilize: bool = True) -> None:
        """Apply :func:`rules.step` to a proposed state: wait, record and notify."""
        self.proposed[alarm.alarm_id] = state
        pending = None if alarm.pending_state is None else (alarm.pending_state,
                                                             alarm.pending_since)
        decision = rules.step(alarm.state, state, alarm.repeat_actions, pending,
                              alarm.stabilization_window, self.now, stabilize)
        if decision.pending is not None or pending is not None:
            self._set_pending(alarm, decision.pending)
        if not decision.fire:
            return
        previous, transition = alarm.state, decision.transition
        event_id = self.event_id()
        if transition:
            alarm.state, alarm.state_reason, alarm.state_timestamp = state, reason, self.now
            self.changed[alarm.alarm_id] = alarm
            self.history.append(HistoryEntry(event_id, alarm.alarm_id, STATE_TRANSITION,
                                             self.now, previous, state, reason, reason_data,
                                             alarm.severity))
            self.moved[state] += 1
            self._transitions += 1
            if self._transitions <= LOGGED_TRANSITIONS or self._debug:
                LOG.log(logging.INFO if self._transitions <= LOGGED_TRANSITIONS
                        else logging.DEBUG, "Alarm %s (%s) transitioning to %s because %s",
                        alarm.name, alarm.alarm_id, state, reason)
        payload = {"alarm_id": alarm.alarm_id, "alarm_name": alarm.name,
                   "severity": alarm.severity, "previous": previous, "current": state,
                   "reason": reason, "reason_data": reason_data}
        due = self._due
        if due is None:  # due now, by the dispatcher's own clock (once per round)
            due = self._due = self.dispatcher.clock()
        for action in alarm.actions_for(state):
            self.notifications.append(Notification(event_id, alarm.alarm_id, action, payload,
                                                   due, self.now))
        self.results.append(Transition(payload, transition=transition, event_id=event_id))

    def settle_pending(self, waiting: Iterable[Alarm]) -> None:
        """Drop the waiting transitions of ``waiting`` that this round did not keep
        (:func:`rules.keeps_pending`): the stabilization window starts over."""
        for alarm in waiting:
            if alarm.alarm_id in self.waiting:
                continue  # this round decided its window already
            try:
                evaluated = self._evaluated(alarm)
            except Exception:  # its constraints fail: it was not evaluated
                evaluated = False
            if not rules.keeps_pending(alarm.pending_state,
                                       self.proposed.get(alarm.alarm_id), evaluated):
                self._set_pending(alarm, None)

    def _evaluated(self, alarm: Alarm) -> bool:
        if alarm.type == PROMETHEUS:
            in_round = alarm.alarm_id in self.promql
        else:
            in_round = alarm.type == COMPOSITE or alarm.rule.period in self.periods
        return in_round and alarm.enabled and within(alarm.time_constraints, self.now)

    def commit(self) -> None:
        self.alarm_store.commit_round(list(self.changed.values()), self.history,
                                      self.notifications if self.queues else [],
                                      defined_only=True)
        if self.moved.total() > LOGGED_TRANSITIONS:
            LOG.info("%d alarms changed state in this round (%s); the first %d are logged "
                     "above, the others at DEBUG", self.moved.total(),
                     ", ".join(f"{n} to {state}" for state, n in sorted(self.moved.items())),
                     LOGGED_TRANSITIONS)


# -- options: read by evaluator_from_conf, gathered in heat_alarming.opts ----------------
evaluator_opts = [
    cfg.StrOpt("alarm_database", default=DEFAULT_URL,
               help="Where alarms, their state, history and pending notifications are "
                    "kept: a SQLAlchemy URL (postgresql+psycopg2://...) or a file path "
                    "for SQLite."),
    cfg.FloatOpt("evaluation_interval", default=INTERVAL, min=1.0,
                 help="Seconds between full evaluation rounds. Alarms are also "
                      "evaluated as soon as one of their periods closes."),
    cfg.FloatOpt("period_close_delay", default=PERIOD_CLOSE_DELAY, min=0.0,
                 help="Seconds to wait after a period closes before evaluating it, "
                      "for samples stamped just before the close to arrive."),
    cfg.IntOpt("history_retention", default=HISTORY_RETENTION, min=60,
               help="Seconds alarm history is kept."),
    cfg.IntOpt("max_alarms_per_project", default=Limits.alarms_per_project, min=1,
               help="Alarms one project may have; defining more is refused with an "
                    "error to that project only."),
    cfg.IntOpt("max_composite_leaves", default=Limits.composite_leaves, min=1,
               help="Threshold rules and alarm references one composite alarm may hold."),
    cfg.IntOpt("max_composite_depth", default=Limits.composite_depth, min=1,
               max=MAX_NESTING,
               help=f"and/or levels one composite rule may nest (at most {MAX_NESTING})."),
    cfg.IntOpt("max_time_constraints", default=Limits.time_constraints, min=0,
               help="Time constraints one alarm may have; each is a cron walk in every "
                    "round."),
    cfg.IntOpt("max_actions_per_state", default=Limits.actions_per_state, min=0,
               help="Actions one alarm may have for each state (alarm_actions, ok_actions, "
                    "insufficient_data_actions); each queues a notification per "
                    "transition or repeat."),
]


def evaluator_from_conf(conf: cfg.ConfigOpts, store: RollingStore,
                        clock: Callable[[], float] | None = None) -> Evaluator:
    """An evaluator on ``store`` with its alarm store, notifiers and dispatcher from
    ``[heat_alarming]``."""
    from heat_alarming.engine.notifiers import notifier_settings_from_conf
    from heat_alarming.engine.notifiers.dispatcher import dispatcher_from_conf
    from heat_alarming.engine.promql_source import source_from_conf

    conf.register_opts(evaluator_opts, group=GROUP)
    group = conf[GROUP]
    alarm_store = AlarmStore(group.alarm_database)
    manager = NotifierManager(notifier_settings_from_conf(conf))
    limits = Limits(composite_leaves=group.max_composite_leaves,
                    composite_depth=group.max_composite_depth,
                    alarms_per_project=group.max_alarms_per_project,
                    time_constraints=group.max_time_constraints,
                    actions_per_state=group.max_actions_per_state)
    clock = clock or store.clock
    return Evaluator(store, alarm_store, clock=clock, notifiers=manager,
                     dispatcher=dispatcher_from_conf(conf, alarm_store, manager, clock),
                     interval=group.evaluation_interval,
                     period_close_delay=group.period_close_delay,
                     history_retention=group.history_retention, limits=limits,
                     promql=source_from_conf(conf, GROUP, clock=clock))
