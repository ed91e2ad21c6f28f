"""Rates of cumulative counters: ``rate_of_change`` and ``cpu_util``.

For each series the transformer keeps the last volume and time it used, across
batches.  The samples of a batch are sorted by series and time, and each
sample's predecessor is the sample before it in its series (the kept state for
the first one), so a batch may hold several samples of a series.

    rate = (volume - previous volume) / (time - previous time) * scale

* a sample not later than its predecessor (a duplicate time, an older sample)
  is ignored, and so is a sample whose volume or time is not finite or whose
  volume is negative (a counter is never negative);
* a counter that went down was reset (a reboot, a new process): by default
  (``reset: restart``) it counted from zero since the previous sample, so the
  rate is ``volume / dt``; with ``reset: drop`` the point gives no rate.  A rate is
  never negative;
* after a gap longer than ``max_gap`` seconds the sample starts a new baseline and
  gives no rate (a rate averaged over the gap says nothing about now);
* the first sample of a series only sets the baseline;
* a series unseen for ``max_age`` seconds is forgotten.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.transformers._common import (
    MeterMap,
    Params,
    PerTuple,
    Rows,
    Stateful,
    concat_batches,
    derived_ids,
    group_bounds,
    metadata_value,
    positive_number,
)

DEFAULT_MAX_GAP = 900.0  # seconds without a sample after which a rate restarts
DEFAULT_MAX_AGE = 3600.0  # seconds without a sample after which a series is forgotten
RESETS = ("restart", "drop")
_COMMON = ("meters", "source", "target", "max_gap", "max_age", "reset", "keep_source")


class _Plan(NamedTuple):
    """What a series tuple means to a rate transformer (worked out once per tuple)."""

    series: tuple  # the output batch's series: passed-through ones, then the rates
    applies: np.ndarray  # bool per input series
    rows: np.ndarray  # state row per input series (-1: not applicable)
    scale: np.ndarray  # factor per input series
    out_code: np.ndarray  # code of the rate series per input series
    pass_code: np.ndarray  # code in the output per input series (-1: consumed)
    any_applies: bool
    all_pass: bool  # every input series is passed on


class RateOfChange(Stateful):
    """The rate of change per second of counters, scaled: a gauge.

    Parameters: ``meters`` and/or ``source.map_from`` (which series), ``target``
    (``name``/``unit``/``map_to``, ``type`` gauge, ``scale`` a number, default 1),
    ``max_gap`` (seconds, default 900), ``max_age`` (seconds, default 3600),
    ``reset`` (``restart`` or ``drop``) and ``keep_source`` (pass the counter
    samples on too; default true).  The output is named ``<name>.rate`` in
    ``<unit>/s`` unless ``target`` says otherwise.
    """

    _extra: tuple[str, ...] = ()
    _target_extra: tuple[str, ...] = ("scale",)
    default_meters: tuple[str, ...] | None = None

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        params = Params(self.parameters, _COMMON + self._extra)
        target = params.nested("target", ("name", "unit", "type", "map_to")
                               + self._target_extra)
        self.map = MeterMap(params, default_meters=self.default_meters, target=target,
                            default_name=self._default_name,
                            default_unit=self._default_unit, default_type="gauge")
        self.max_gap = params.number("max_gap", DEFAULT_MAX_GAP, above=0)
        self.max_age = params.number("max_age", DEFAULT_MAX_AGE, above=0)
        self.reset = params.text("reset", "restart", choices=RESETS)
        self.keep_source = params.boolean("keep_source", True)
        self._configure(params, target)
        self.state = Rows({"volume": None, "time": None}, self.max_age)
        self._plans = PerTuple(self._plan)
        self._salt = type(self).__name__ + repr(sorted(self.parameters.items(), key=str))

    # -- what subclasses change ----------------------------------------------------
    def _configure(self, params: Params, target: Params) -> None:
        if isinstance(target.get("scale"), str):  # Ceilometer's cpu_util scale expression
            raise target.error("scale", "must be a number (for CPU time in % of the "
                                        "vCPUs, use the cpu_util transformer)")
        self.scale = target.number("scale", 1.0)

    @staticmethod
    def _default_name(d: SeriesDescriptor) -> str:
        return d.name + ".rate"

    @staticmethod
    def _default_unit(d: SeriesDescriptor) -> str:
        return f"{d.unit}/s" if d.unit else "1/s"

    def _scale_of(self, d: SeriesDescriptor) -> float:
        """The factor of a series' rate (NaN: the series gives no rate)."""
        return self.scale

    def _finish(self, rates: np.ndarray) -> np.ndarray:
        return rates

    # -- per tuple -------------------------------------------------------------------
    def _plan(self, series: tuple) -> _Plan:
        n = len(series)
        applies = np.zeros(n, dtype=bool)
        scale = np.full(n, np.nan)
        out_code = np.full(n, -1, dtype=np.int64)
        pass_code = np.full(n, -1, dtype=np.int64)
        passed: list[SeriesDescriptor] = []
        derived: list[SeriesDescriptor] = []
        keys = []
        for c, d in enumerate(series):
            out = self.map.output(d)
            if out is not None:
                applies[c] = True
                keys.append(d.key)
                scale[c] = self._scale_of(d)
                out_code[c] = len(derived)
                derived.append(out._replace(type=self.map.type or "gauge"))
            if out is None or self.keep_source:
                pass_code[c] = len(passed)
                passed.append(d)
        rows = np.full(n, -1, dtype=np.int64)
        if keys:
            rows[applies] = self.state.rows(keys)
        out_code[applies] += len(passed)
        return _Plan(tuple(passed) + tuple(derived), applies, rows, scale, out_code,
                     pass_code, bool(keys), len(passed) == n)

    # -- per batch -------------------------------------------------------------------
    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        state = self.state
        state.forget(now)
        plan = self._plans.get(batch.series, state.generation)
        if not plan.any_applies or len(batch) == 0:
            return batch
        codes = batch.codes
        idx = np.flatnonzero(plan.applies[codes])
        if idx.size == 0:
            return batch
        c = codes[idx]
        v = batch.volumes[idx]
        t = batch.timestamps[idx]
        r = plan.rows[c]
        last_v, last_t = state.columns["volume"], state.columns["time"]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(v) & np.isfinite(t) & (v >= 0) & ~(t <= last_t[r])
        if not ok.all():
            idx, c, v, t, r = idx[ok], c[ok], v[ok], t[ok], r[ok]
        order = np.lexsort((t, r))
        idx, c, v, t, r = idx[order], c[order], v[order], t[order], r[order]
        if r.size > 1:  # the second of two samples of a series at one time is ignored
            dup = np.zeros(r.size, dtype=bool)
            dup[1:] = (r[1:] == r[:-1]) & (t[1:] == t[:-1])
            if dup.any():
                keep = ~dup
                idx, c, v, t, r = idx[keep], c[keep], v[keep], t[keep], r[keep]
        first, last = group_bounds(r)
        prev_v = np.empty_like(v)
        prev_t = np.empty_like(t)
        prev_v[1:], prev_t[1:] = v[:-1], t[:-1]
        prev_v[first], prev_t[first] = last_v[r[first]], last_t[r[first]]
        dt = t - prev_t  # > 0 or NaN (no baseline)
        dv = v - prev_v
        with np.errstate(invalid="ignore"):
            emit = dt <= self.max_gap  # NaN (no baseline) fails
            reset = dv < 0
        if self.reset == "restart":
            dv = np.where(reset, v, dv)
        else:
            emit &= ~reset
        scale = plan.scale[c]
        emit &= np.isfinite(scale)
        # the state: each series' newest sample
        last_v[r[last]] = v[last]
        last_t[r[last]] = t[last]
        state.seen[r[last]] = now
        e = np.flatnonzero(emit)
        with np.errstate(all="ignore"):
            rates = dv[e] / dt[e] * scale[e]
        good = np.isfinite(rates)  # an overflow is dropped, not clipped
        if not good.all():
            e, rates = e[good], rates[good]
        rates = self._finish(rates)
        ids = batch.ids
        src_ids = None if ids is None else ids[idx[e]]
        parts = []
        if plan.all_pass:
            parts.append((plan.pass_code[codes], batch.volumes, batch.timestamps, ids))
        else:
            keep = plan.pass_code[codes] >= 0
            parts.append((plan.pass_code[codes[keep]], batch.volumes[keep],
                          batch.timestamps[keep], None if ids is None else ids[keep]))
        parts.append((plan.out_code[c[e]], rates, t[e], derived_ids(src_ids, self._salt)))
        return concat_batches(plan.series, parts)


class CpuUtil(RateOfChange):
    """``cpu`` (cumulative CPU time in ns) to ``cpu_util`` (%):

        cpu_util = delta_ns / (dt * 1e9 * vcpus) * 100

    ``vcpus`` is read from the sample's metadata (``vcpus_key`` if given, else
    ``vcpus``, ``flavor.vcpus``, ``cpu_number``; nested maps or dotted keys; a
    number or numeric text, positive), else ``default_vcpus`` (default 1; null:
    a series with no usable vcpus gives no cpu_util).  The result is clipped to
    ``[0, max]``, ``max`` default 100 (null: not clipped at the top): above 100 % is
    the jitter of the polling times or a wrong vcpus.
    """

    _extra = ("vcpus_key", "default_vcpus", "max")
    _target_extra = ()
    default_meters = ("cpu",)
    VCPUS_KEYS = ("vcpus", "flavor.vcpus", "cpu_number")

    def _configure(self, params: Params, target: Params) -> None:
        key = params.text("vcpus_key", None, optional=True)
        self.vcpus_keys = (key,) if key else self.VCPUS_KEYS
        self.default_vcpus = params.number("default_vcpus", 1, above=0, maximum=1e6,
                                           optional=True)
        self.max = params.number("max", 100.0, above=0, optional=True)

    @staticmethod
    def _default_name(d: SeriesDescriptor) -> str:
        return "cpu_util"

    @staticmethod
    def _default_unit(d: SeriesDescriptor) -> str:
        return "%"

    def _scale_of(self, d: SeriesDescriptor) -> float:
        vcpus = None
        for key in self.vcpus_keys:
            vcpus = positive_number(metadata_value(d.metadata, key), maximum=1e6)
            if vcpus is not None:
                break
        if vcpus is None:
            vcpus = self.default_vcpus
        if vcpus is None:
            return float("nan")
        return 100.0 / (1e9 * vcpus)

    def _finish(self, rates: np.ndarray) -> np.ndarray:
        return np.clip(rates, 0.0, self.max if self.max is not None else np.inf)
