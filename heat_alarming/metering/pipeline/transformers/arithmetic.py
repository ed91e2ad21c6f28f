"""``arithmetic``: a new meter computed from the meters of one resource.

    target = expression($(meter.a), $(meter.b), ...)

e.g. ``100 * $(memory.usage) / $(memory)``.  The transformer keeps, per resource
(resource id and project), the newest value of each meter the expression names.
Each resource that had a sample of one of them in the batch, and has a value for
all of them (none more than ``max_age`` seconds older than its newest), gives one
sample: the expression over its newest values, at the time of its newest value,
with the attributes (user, source, metadata) of the series of its newest sample.
A result that is not finite (a division by zero, an overflow, NaN) gives no
sample.  The expression is checked when the pipeline is loaded
(:mod:`._expression`): numbers, ``+ - * / **``, unary ``-``, parentheses,
``min``/``max``/``abs`` and ``$(meter)`` references, nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.transformers._common import (
    Params,
    PerTuple,
    Rows,
    Stateful,
    concat_batches,
    derived_ids,
    group_bounds,
)
from heat_alarming.metering.pipeline.transformers._expression import Expression

DEFAULT_MAX_AGE = 600.0  # seconds: how much older than the newest a value may be used


class _Plan(NamedTuple):
    series: tuple
    meter: np.ndarray  # per input series: index of the meter in the expression, or -1
    rows: np.ndarray  # resource row per input series
    out_code: np.ndarray  # code of the resource's output series, per input series
    pass_code: np.ndarray
    any_applies: bool


class Arithmetic(Stateful):
    """Parameters: ``expression`` (required), ``target``: ``name`` (required), ``unit``
    (default empty), ``type`` (default gauge); ``max_age`` (seconds, default 600) and
    ``keep_source`` (default true)."""

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        params = Params(self.parameters, ("expression", "target", "max_age", "keep_source"))
        if "expression" not in self.parameters:
            raise params.error("expression", "is required")
        self.expression = Expression(self.parameters["expression"], "expression")
        target = params.nested("target", ("name", "unit", "type"))
        if target.get("name") is None:
            raise target.error("name", "is required")
        self.name = target.text("name", None)
        self.unit = target.get("unit", "")
        if not isinstance(self.unit, str):
            raise target.error("unit", "must be a text")
        self.type = target.text("type", "gauge", choices=("gauge", "cumulative", "delta"))
        self.max_age = params.number("max_age", DEFAULT_MAX_AGE, above=0)
        self.keep_source = params.boolean("keep_source", True)
        width = len(self.expression.references)
        self._meters = {m: i for i, m in enumerate(self.expression.references)}
        self.state = Rows({"value": width, "time": width}, self.max_age)
        self._plans = PerTuple(self._plan)
        self._salt = "arithmetic" + repr(sorted(self.parameters.items(), key=str))

    def _plan(self, series: tuple) -> _Plan:
        n = len(series)
        meter = np.full(n, -1, dtype=np.int64)
        out_code = np.full(n, -1, dtype=np.int64)
        pass_code = np.full(n, -1, dtype=np.int64)
        passed: list[SeriesDescriptor] = []
        derived: list[SeriesDescriptor] = []
        resource_code: dict[tuple, int] = {}
        keys, where = [], []
        for c, d in enumerate(series):
            m = self._meters.get(d.name)
            if m is not None:
                meter[c] = m
                key = (d.resource_id, d.project_id or "")
                keys.append(key)
                where.append(c)
                code = resource_code.get(key)
                if code is None:
                    code = resource_code[key] = len(derived)
                    derived.append(d._replace(name=self.name, unit=self.unit,
                                              type=self.type))
                out_code[c] = code
            if m is None or self.keep_source:
                pass_code[c] = len(passed)
                passed.append(d)
        rows = np.full(n, -1, dtype=np.int64)
        if keys:
            rows[np.array(where)] = self.state.rows(keys)
        out_code[out_code >= 0] += len(passed)
        return _Plan(tuple(passed) + tuple(derived), meter, rows, out_code, pass_code,
                     bool(keys))

    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        state = self.state
        state.forget(now)
        plan = self._plans.get(batch.series, state.generation)
        if not plan.any_applies or len(batch) == 0:
            return batch
        codes = batch.codes
        volumes, times = batch.volumes, batch.timestamps
        m_all = plan.meter[codes]
        idx = np.flatnonzero((m_all >= 0) & np.isfinite(volumes) & np.isfinite(times))
        ids = batch.ids
        keep = plan.pass_code[codes] >= 0
        parts = [(plan.pass_code[codes[keep]], volumes[keep], times[keep],
                  None if ids is None else ids[keep])]
        if idx.size:
            c = codes[idx]
            r, m, t, v = plan.rows[c], m_all[idx], times[idx], volumes[idx]
            width = len(self.expression.references)
            order = np.lexsort((t, r * width + m))
            idx, c, r, m, t, v = idx[order], c[order], r[order], m[order], t[order], v[order]
            _, last = group_bounds(r * width + m)
            values, stamps = state.columns["value"], state.columns["time"]
            lr, lm, lt = r[last], m[last], t[last]
            with np.errstate(invalid="ignore"):
                newer = ~(lt < stamps[lr, lm])
            values[lr[newer], lm[newer]] = v[last][newer]
            stamps[lr[newer], lm[newer]] = lt[newer]
            # one result per resource touched: the code and id of its newest sample
            by_time = np.lexsort((t, r))
            _, rlast = group_bounds(r[by_time])
            pick = by_time[rlast]
            rows = r[pick]
            state.seen[rows] = now
            row_values, row_times = values[rows], stamps[rows]
            with np.errstate(invalid="ignore"):
                newest = np.nanmax(row_times, axis=1) if width > 1 else row_times[:, 0]
                fresh = np.isfinite(row_times) & (row_times >= (newest - self.max_age)[:, None])
            complete = fresh.all(axis=1)
            result = self.expression.evaluate([row_values[:, i] for i in range(width)])
            result = np.broadcast_to(result, rows.shape)
            good = complete & np.isfinite(result)
            src = idx[pick[good]]
            parts.append((plan.out_code[c[pick[good]]], result[good], newest[good],
                          derived_ids(None if ids is None else ids[src], self._salt)))
        return concat_batches(plan.series, parts)
