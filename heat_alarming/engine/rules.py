"""One alarm's transition rules, as pure functions: every path that decides calls them.

The live round (:mod:`heat_alarming.engine.evaluator`), ``explain`` and the
backtest all decide here, so they cannot disagree. Nothing in this module
reads a clock, a store or a database: each function gets the facts and
returns the decision.

The steps, in the order a round takes them:

1. **Verdicts** (:func:`threshold_verdicts`): per threshold rule, from the
   per-period sample counts and statistics of its look-back window (shape
   periods x rules, whole-array): ok, alarm, insufficient data, mixed (with
   the trend of the newest datapoint) or keep (``missing_data: ignore``).
   PromQL answers give the same verdicts (:func:`promql_verdict`).
2. **Proposed state** (:func:`proposed_states`, whole-array): Aodh's state
   machine. A definite verdict is proposed when it differs from the state or
   actions repeat; a mixed verdict keeps the state, and from insufficient
   data follows the trend; insufficient data is proposed when the state is
   not that already.
3. **Composites** (:func:`leaf_state`, :func:`composite_state`): each leaf's
   state (a mixed threshold leaf counts as the state the composite is leaving),
   then the and/or tree: the alarm expression decides alarm, its dual ok,
   otherwise insufficient data.
4. **Stabilisation and repeats** (:func:`step`): whether a proposed state
   fires now (a transition or a repeat), starts or continues waiting in the
   stabilisation window, or does nothing; and (:func:`keeps_pending`) whether
   a waiting transition survives a round that did not propose it again.

Semantics of the verdicts, per rule with N = evaluation_periods:

* Only closed periods are datapoints; a period with no sample is absent
  (Aodh reads only periods that have data).
* The look-back window is N + 1 closed periods (N + N with
  ``exclude_outliers``, so a count trend can be seen); the last N datapoints
  in it are evaluated, and fewer than N give ``insufficient data``.
* ``exclude_outliers`` drops datapoints whose sample count is outside the
  mean +- 2 standard deviations of the window's counts (as Aodh).
* All breaching -> alarm, none -> ok, a mix -> mixed.
* ``datapoints_to_alarm`` M: alarm when at least M of the N breach, else ok.
* ``missing_data``: ``missing`` is the above; ``ignore`` keeps the current
  state instead of going to insufficient data; ``breaching`` and
  ``not_breaching`` evaluate exactly the last N closed periods, an empty one
  counting as breaching or not.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from heat_alarming.engine.alarm import ALARM, MISSING_DATA, OK, UNKNOWN, ThresholdRule
from heat_alarming.metering.query import COMPARE, OPERATORS

# verdicts
V_OK, V_ALARM, V_UNKNOWN, V_MIXED, V_KEEP = 0, 1, 2, 3, 4
#: "no state proposed" in :func:`proposed_states`
NONE = -1
CODE = {OK: V_OK, ALARM: V_ALARM, UNKNOWN: V_UNKNOWN}
STATE = {V_OK: OK, V_ALARM: ALARM, V_UNKNOWN: UNKNOWN}
VERDICT_NAMES = {V_OK: "ok", V_ALARM: "alarm", V_UNKNOWN: "insufficient data",
                 V_MIXED: "mixed", V_KEEP: "keep"}
_MISSING = {name: i for i, name in enumerate(MISSING_DATA)}


@dataclasses.dataclass
class Verdicts:
    """Per-rule results of one round, arrays aligned with the rules."""

    verdict: np.ndarray       # V_OK, V_ALARM, V_UNKNOWN, V_MIXED or V_KEEP
    trend: np.ndarray         # for V_MIXED: V_ALARM if the newest datapoint breaches
    points: np.ndarray        # datapoints evaluated
    outside: np.ndarray       # of which breaching
    most_recent: np.ndarray   # value of the newest evaluated datapoint (NaN: none)

    def picked(self, columns: np.ndarray) -> PickedVerdicts:
        """These verdicts at ``columns`` alone, in Python's own numbers: the reasons
        of a round's moving alarms read each of their verdicts a few times, and a
        numpy scalar costs more to read than a Python number."""
        keys = columns.tolist()
        return PickedVerdicts(*(dict(zip(keys, values[columns].tolist())) for values in (
            self.verdict, self.trend, self.points, self.outside, self.most_recent)))


@dataclasses.dataclass(frozen=True, slots=True)
class PickedVerdicts:
    """Some columns of :class:`Verdicts` (:meth:`Verdicts.picked`), read as those
    are (``v.points[column]``)."""

    verdict: dict[int, int]
    trend: dict[int, int]
    points: dict[int, int]
    outside: dict[int, int]
    most_recent: dict[int, float]


@dataclasses.dataclass
class PeriodFacts:
    """What :func:`threshold_verdicts` saw in each period (shape periods x rules), for
    an explanation: a period ``present`` has data, ``outlier`` was excluded for its
    sample count, ``judged`` is one of the N datapoints evaluated, ``breach`` is
    beyond the threshold (for a judged empty period: as ``missing_data`` counts it)."""

    value: np.ndarray
    present: np.ndarray
    outlier: np.ndarray
    judged: np.ndarray
    breach: np.ndarray


class ThresholdSpec:
    """The rules of one period as arrays: what :func:`threshold_verdicts` reads."""

    def __init__(self, rules: Sequence[ThresholdRule]) -> None:
        self.threshold = np.array([r.threshold for r in rules], dtype=np.float64)
        self.op = np.array([OPERATORS.index(r.comparison_operator) for r in rules],
                           dtype=np.int8)
        self.n = np.array([r.evaluation_periods for r in rules], dtype=np.int64)
        self.m = np.array([r.datapoints_to_alarm or 0 for r in rules], dtype=np.int64)
        self.missing = np.array([_MISSING[r.missing_data] for r in rules], dtype=np.int8)
        self.outliers = np.array([r.exclude_outliers for r in rules], dtype=bool)
        self.window = np.array([r.look_back for r in rules], dtype=np.int64)
        self.max_window = int(self.window.max()) if len(rules) else 0
        self.statistics = sorted({r.statistic for r in rules})
        position = {name: i for i, name in enumerate(self.statistics)}
        self.stat_index = np.array([position[r.statistic] for r in rules],
                                   dtype=np.min_scalar_type(len(self.statistics)))
        self._derive()

    _PER_RULE = ("threshold", "op", "n", "m", "missing", "outliers", "window", "stat_index")

    def _derive(self) -> None:
        """What follows from the per-rule arrays."""
        self.ops_used = [(code, COMPARE[OPERATORS[code]], self.op == code)
                         for code in np.unique(self.op).tolist()]
        self.any_fill = bool((self.missing >= _MISSING["breaching"]).any())
        self.any_m = bool((self.m > 0).any())
        # for settled_verdicts: the rules it may decide, and per period back from the
        # newest which rules judge it (None: all of them)
        self.plain = ~self.outliers & (self.missing < _MISSING["breaching"])
        self.longest_n = int(self.n.max()) if self.n.size else 0
        shortest = int(self.n.min()) if self.n.size else 0
        self.needs_period = [None if back < shortest else self.n > back
                             for back in range(self.longest_n)]

    def __len__(self) -> int:
        return len(self.threshold)

    def subset(self, columns: np.ndarray | Sequence[int]) -> ThresholdSpec:
        """The spec of rules ``columns`` alone, reading the group's statistics and
        window (so it decides them as the group does)."""
        part = object.__new__(ThresholdSpec)
        for name in self._PER_RULE:
            setattr(part, name, getattr(self, name)[columns])
        part.statistics = self.statistics
        part.max_window = self.max_window
        part._derive()
        return part

    def column(self, index: int) -> ThresholdSpec:
        """The spec of rule ``index`` alone (an explanation re-decides one rule)."""
        return self.subset(np.array([index]))


def threshold_verdicts(spec: ThresholdSpec, counts: np.ndarray,
                       values: dict[str, np.ndarray], detail: bool = False):
    """Verdicts from per-period counts and statistics, shape (periods, rules); with
    ``detail``, ``(Verdicts, PeriodFacts)``.

    The period axis is short (N + 1 or 2N), so it is walked with a loop of
    whole-row operations; every operation spans all rules at once.
    """
    n_periods, n_rules = counts.shape
    rules = np.arange(n_rules)
    value = datapoint_values(spec, values)
    in_window = _window_mask(spec, n_periods)
    present = has_data(counts, value)
    if in_window is not None:
        present &= in_window
    outlier = np.zeros_like(present)
    if spec.outliers.any():
        outlier = _outliers(spec, counts, present)
        present &= ~outlier
    breach = breaches(spec, value)

    # walk back from the newest period: the newest N present periods are judged
    selected = np.empty_like(present)
    seen = np.zeros(n_rules, dtype=np.int64)
    for p in range(n_periods - 1, -1, -1):
        seen += present[p]
        selected[p] = present[p] & (seen <= spec.n)
    if spec.any_fill:
        fill = spec.missing >= _MISSING["breaching"]
        last_n = np.arange(n_periods)[:, None] >= (n_periods - spec.n)[None, :]
        selected[:, fill] = last_n[:, fill]
        filled = np.where(present, breach, (spec.missing == _MISSING["breaching"])[None, :])
        breach[:, fill] = filled[:, fill]
    judged_breach = selected & breach
    points = selected.sum(axis=0)
    outside = judged_breach.sum(axis=0)

    # the newest judged period, and the newest one that has a value
    newest = np.zeros(n_rules, dtype=np.int64)
    newest_real = np.full(n_rules, -1, dtype=np.int64)
    for p in range(n_periods):
        newest[selected[p]] = p
        newest_real[selected[p] & present[p]] = p
    most_recent = np.where(newest_real >= 0, value[np.maximum(newest_real, 0), rules],
                           np.nan)
    trend = np.where(breach[newest, rules], V_ALARM, V_OK).astype(np.int8)

    verdict = np.where(outside == points, V_ALARM,
                       np.where(outside == 0, V_OK, V_MIXED)).astype(np.int8)
    if spec.any_m:
        use_m = spec.m > 0
        verdict[use_m] = np.where(outside[use_m] >= spec.m[use_m], V_ALARM, V_OK)
    insufficient = points < spec.n
    if insufficient.any():
        verdict[insufficient] = np.where(
            spec.missing[insufficient] == _MISSING["ignore"], V_KEEP, V_UNKNOWN)
    verdicts = Verdicts(verdict, trend, points, outside, most_recent)
    if not detail:
        return verdicts
    return verdicts, PeriodFacts(value, present, outlier, selected, breach)


def datapoint_values(spec: ThresholdSpec, values: dict[str, np.ndarray]) -> np.ndarray:
    """Each rule's own statistic out of a group's, shape (periods, rules)."""
    if len(spec.statistics) == 1:
        return values[spec.statistics[0]]
    stacked = np.stack([values[s] for s in spec.statistics])
    return stacked[spec.stat_index, :, np.arange(len(spec))].T


def has_data(counts: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Periods that are datapoints: samples, and a value (a std of one sample has none)."""
    return (counts > 0) & ~np.isnan(value)


def breaches(spec: ThresholdSpec, value: np.ndarray) -> np.ndarray:
    """Where a value is beyond its rule's threshold, shape (periods, rules)."""
    with np.errstate(invalid="ignore"):
        if len(spec.ops_used) == 1:
            return spec.ops_used[0][1](value, spec.threshold)
        breach = np.zeros(value.shape, dtype=bool)
        for _, compare, columns in spec.ops_used:
            breach[:, columns] = compare(value[:, columns], spec.threshold[columns])
        return breach


def settled_verdicts(spec: ThresholdSpec, present: Sequence[np.ndarray],
                     breach: Sequence[np.ndarray],
                     newest_value: np.ndarray) -> tuple[np.ndarray, Verdicts]:
    """The verdicts :func:`threshold_verdicts` gives, for the rules it is cheap to see:
    those without ``exclude_outliers`` or a filling ``missing_data`` whose N newest
    periods all are datapoints. Then exactly those N are judged, and the verdict is
    the count of breaches among them.

    ``present`` and ``breach`` are per-period rows (:func:`has_data`,
    :func:`breaches`), newest last, at least ``max(N)`` of them; ``newest_value`` the
    newest period's values. Returns (mask of the rules decided, verdicts: meaningful
    where the mask is set). Costs a few passes over the rules per period of the
    longest N, against :func:`threshold_verdicts`' passes over the whole window.
    """
    n_rules = len(spec)
    settled = spec.plain.copy()
    # counted in the narrowest integer that holds N (fewer bytes per pass)
    outside = np.zeros(n_rules, dtype=np.uint8 if spec.longest_n < 256 else np.int64)
    for back in range(spec.longest_n):
        row_present, row_breach = present[-1 - back], breach[-1 - back]
        needed = spec.needs_period[back]
        if needed is None:  # every rule judges this period
            settled &= row_present
            outside += row_breach
        else:
            settled &= row_present | ~needed
            outside += row_breach & needed
    outside = outside.astype(np.int64)
    verdict = np.full(n_rules, V_MIXED, dtype=np.int8)
    verdict[outside == 0] = V_OK
    verdict[outside == spec.n] = V_ALARM
    if spec.any_m:
        use_m = spec.m > 0
        verdict[use_m] = np.where(outside[use_m] >= spec.m[use_m], V_ALARM, V_OK)
    trend = np.where(breach[-1], V_ALARM, V_OK).astype(np.int8)
    return settled, Verdicts(verdict, trend, spec.n.copy(), outside, newest_value)


def _window_mask(spec: ThresholdSpec, n_periods: int) -> np.ndarray | None:
    """Which periods lie in each rule's own look-back window (None: all of them)."""
    if (spec.window >= n_periods).all():
        return None
    return np.arange(n_periods)[:, None] >= (n_periods - spec.window)[None, :]


def _outliers(spec: ThresholdSpec, counts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Datapoints whose sample count is beyond mean +- 2 sigma of the window's counts."""
    k = present.sum(axis=0)
    c = np.where(present, counts, 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = c.sum(axis=0) / k
        var = np.where(present, (counts - mean[None, :]) ** 2, 0.0).sum(axis=0) / k
    sigma = np.sqrt(var)
    lower, upper = mean - 2 * sigma, mean + 2 * sigma
    weak = present & ((counts < lower[None, :]) | (counts > upper[None, :]))
    return weak & spec.outliers[None, :]


def promql_verdict(values: np.ndarray, operator: str,
                   threshold: float) -> tuple[int, int, int, float]:
    """(verdict, points, outside, worst) of one PromQL answer: one datapoint per series,
    all beyond the threshold -> alarm, none -> ok, a mix -> mixed (trend: alarm), no
    series -> insufficient data. ``worst`` is the highest value for gt/ge/eq/ne, the
    lowest for lt/le."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return V_UNKNOWN, 0, 0, float("nan")
    with np.errstate(invalid="ignore"):
        breach = COMPARE[operator](values, threshold)
    worst = values.min() if operator in ("lt", "le") else values.max()
    verdict = V_ALARM if breach.all() else V_OK if not breach.any() else V_MIXED
    return verdict, int(values.size), int(breach.sum()), float(worst)


def proposed_states(verdict: np.ndarray, trend: np.ndarray, current: np.ndarray,
                    repeat: np.ndarray) -> np.ndarray:
    """Aodh's state machine over whole arrays: the state each alarm is proposed to take
    (a ``CODE``), or ``NONE`` where nothing is proposed."""
    unknown_now = current == V_UNKNOWN
    new = np.full(verdict.shape, NONE, dtype=np.int8)
    # a mixed verdict keeps the state; from insufficient data it follows the trend
    keep_or_trend = (verdict == V_MIXED) & (unknown_now | repeat)
    new[keep_or_trend] = np.where(unknown_now, trend, current)[keep_or_trend]
    to_unknown = (verdict == V_UNKNOWN) & ~unknown_now
    new[to_unknown] = V_UNKNOWN
    decided = ((verdict == V_OK) | (verdict == V_ALARM)) & ((verdict != current) | repeat)
    new[decided] = verdict[decided]
    return new


def leaf_state(verdict: int, trend: int, composite: str) -> str:
    """A threshold leaf's state in a composite that is in state ``composite``: a mixed
    verdict counts as the state it is leaving (trending to alarm: still ok), or the
    trend while the composite has insufficient data; keep counts as the composite's
    own state."""
    if verdict == V_MIXED:
        toward = STATE[trend]
        if composite == UNKNOWN:
            return toward
        return OK if toward == ALARM else ALARM
    if verdict == V_KEEP:
        return composite
    return STATE[verdict]


def composite_state(tree: tuple, leaf_states: Sequence[str]) -> str:
    """A composite's state from its leaves' states (in leaf order): alarm when the tree
    with "leaf is alarm" holds, else ok when its dual (and <-> or) with "leaf is ok"
    holds, else insufficient data."""
    states = iter(leaf_states)

    def number(node: tuple) -> tuple:
        if node[0] in ("and", "or"):
            return (node[0], [number(child) for child in node[1]])
        return ("leaf", next(states))

    numbered = number(tree)

    def holds(node: tuple, wanted: str, dual: bool) -> bool:
        if node[0] == "leaf":
            return node[1] == wanted
        op = node[0]
        if dual:
            op = "or" if op == "and" else "and"
        results = (holds(child, wanted, dual) for child in node[1])
        return all(results) if op == "and" else any(results)

    if holds(numbered, ALARM, False):
        return ALARM
    if holds(numbered, OK, True):
        return OK
    return UNKNOWN


@dataclasses.dataclass(frozen=True)
class Step:
    """What a proposed state does to an alarm this round (:func:`step`).

    ``fire``: record it and run its actions now (``transition`` tells a change
    of state from a repeat); ``pending``: the transition waiting in the
    stabilisation window afterwards, as (state, since), or None.
    """

    fire: bool
    transition: bool
    pending: tuple[str, float] | None


def step(current: str, proposed: str, repeat_actions: bool,
         pending: tuple[str, float] | None, window: float, now: float,
         stabilize: bool = True) -> Step:
    """Aodh's refresh plus the stabilisation window: a new state must be proposed
    in every round for ``window`` seconds before it is taken (``stabilize=False``:
    at once, as for an alarm that cannot be evaluated). A state the alarm already
    has fires again only when actions repeat; any decision to fire or to stay ends
    a waiting transition."""
    transition = proposed != current
    if transition and window and stabilize:
        if pending is None or pending[0] != proposed:
            return Step(False, True, (proposed, now))  # the window starts
        if now - pending[1] < window:
            return Step(False, True, pending)  # still waiting
    return _SETTLED[transition or repeat_actions, transition]


#: the steps that leave nothing waiting, by (fire, transition): made once (a storm
#: takes one per alarm), as a frozen Step may be shared
_SETTLED = {(fire, transition): Step(fire, transition, None)
            for fire in (False, True) for transition in (False, True)}


def keeps_pending(pending_state: str, proposed: str | None, evaluated: bool) -> bool:
    """A waiting transition survives a round that did not decide its alarm, or one
    that proposed the same state again; any other round starts the window over."""
    return not evaluated or proposed == pending_state
