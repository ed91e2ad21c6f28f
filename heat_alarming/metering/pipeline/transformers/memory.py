"""``memory_util``: the share of a server's memory in use, in %.

    memory_util = 100 * memory.usage / total
    memory_util = 100 * (total - memory.available) / total   (from memory.available)

``total`` (MB) is, per resource (resource id and project), the newest ``memory``
sample seen (in this batch or an earlier one), else the metadata of the usage
sample (``memory_mb``, ``flavor.ram``, or ``total_keys``).  A sample with no
usable total, a non-finite or negative volume, or a used amount below 0 gives
no memory_util; the result is not clipped at the top (a guest using more than
its flavor's memory is worth seeing).  The joins are whole-array: the resources
of a batch become state rows once per series tuple.
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
    metadata_value,
    positive_number,
)

DEFAULT_MAX_AGE = 3600.0  # seconds after which a resource's total is forgotten
TOTAL_KEYS = ("memory_mb", "flavor.ram")
_USAGE, _AVAILABLE, _TOTAL = 1, 2, 3


class _Plan(NamedTuple):
    series: tuple
    role: np.ndarray  # per input series: 0, _USAGE, _AVAILABLE, _TOTAL
    rows: np.ndarray  # resource row per input series
    meta_total: np.ndarray  # total from the series' metadata (NaN: none)
    out_code: np.ndarray
    pass_code: np.ndarray
    any_applies: bool


class MemoryUtil(Stateful):
    """Parameters: ``usage_meter`` (default ``memory.usage``; null: none),
    ``available_meter`` (default ``memory.available``; null: none), ``total_meter``
    (default ``memory``), ``total_keys`` (metadata keys of the total in MB), ``target``
    (``name`` default ``memory_util``, ``unit`` default ``%``), ``max_age`` (seconds,
    default 3600) and ``keep_source`` (default true)."""

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        params = Params(self.parameters, ("usage_meter", "available_meter", "total_meter",
                                          "total_keys", "target", "max_age", "keep_source"))
        self.usage_meter = params.text("usage_meter", "memory.usage", optional=True)
        self.available_meter = params.text("available_meter", "memory.available",
                                           optional=True)
        self.total_meter = params.text("total_meter", "memory")
        if self.usage_meter is None and self.available_meter is None:
            raise params.error("usage_meter", "usage_meter or available_meter must name "
                                              "a meter")
        names = [n for n in (self.usage_meter, self.available_meter, self.total_meter) if n]
        if len(set(names)) != len(names):
            raise params.error("total_meter", "the usage, available and total meters "
                                              "must differ")
        self.total_keys = params.texts("total_keys", TOTAL_KEYS)
        target = params.nested("target", ("name", "unit"))
        self.name = target.text("name", "memory_util")
        self.unit = target.text("unit", "%")
        self.max_age = params.number("max_age", DEFAULT_MAX_AGE, above=0)
        self.keep_source = params.boolean("keep_source", True)
        self.state = Rows({"total": None, "time": None}, self.max_age)
        self._plans = PerTuple(self._plan)
        self._roles = {self.usage_meter: _USAGE, self.available_meter: _AVAILABLE,
                       self.total_meter: _TOTAL}
        self._roles.pop(None, None)
        self._salt = "memory_util" + repr(sorted(self.parameters.items(), key=str))

    def _meta_total(self, d: SeriesDescriptor) -> float:
        for key in self.total_keys:
            total = positive_number(metadata_value(d.metadata, key))
            if total is not None:
                return total
        return float("nan")

    def _plan(self, series: tuple) -> _Plan:
        n = len(series)
        role = np.zeros(n, dtype=np.int8)
        meta_total = np.full(n, np.nan)
        out_code = np.full(n, -1, dtype=np.int64)
        pass_code = np.full(n, -1, dtype=np.int64)
        passed, derived, keys, where = [], [], [], []
        for c, d in enumerate(series):
            kind = self._roles.get(d.name, 0)
            if kind:
                role[c] = kind
                keys.append((d.resource_id, d.project_id or ""))
                where.append(c)
                if kind != _TOTAL:
                    meta_total[c] = self._meta_total(d)
                    out_code[c] = len(derived)
                    derived.append(d._replace(name=self.name, unit=self.unit, type="gauge"))
            if not kind or self.keep_source:
                pass_code[c] = len(passed)
                passed.append(d)
        rows = np.full(n, -1, dtype=np.int64)
        if keys:
            rows[np.array(where)] = self.state.rows(keys)
        out_code[out_code >= 0] += len(passed)
        return _Plan(tuple(passed) + tuple(derived), role, rows, meta_total, out_code,
                     pass_code, bool(keys))

    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        state = self.state
        state.forget(now)
        plan = self._plans.get(batch.series, state.generation)
        if not plan.any_applies or len(batch) == 0:
            return batch
        codes = batch.codes
        role = plan.role[codes]
        volumes, times = batch.volumes, batch.timestamps
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(volumes) & np.isfinite(times) & (volumes >= 0)
        total, total_t = state.columns["total"], state.columns["time"]
        # 1. the newest total of each resource
        ti = np.flatnonzero((role == _TOTAL) & finite & (volumes > 0))
        if ti.size:
            r, t, v = plan.rows[codes[ti]], times[ti], volumes[ti]
            order = np.lexsort((t, r))
            r, t, v = r[order], t[order], v[order]
            _, last = group_bounds(r)
            r, t, v = r[last], t[last], v[last]
            with np.errstate(invalid="ignore"):
                newer = ~(t < total_t[r])
            total[r[newer]], total_t[r[newer]] = v[newer], t[newer]
            state.seen[r] = now
        # 2. each usage / available sample against its resource's total
        ui = np.flatnonzero(((role == _USAGE) | (role == _AVAILABLE)) & finite)
        ids = batch.ids
        keep = plan.pass_code[codes] >= 0
        parts = [(plan.pass_code[codes[keep]], volumes[keep], times[keep],
                  None if ids is None else ids[keep])]
        if ui.size:
            c = codes[ui]
            r = plan.rows[c]
            state.seen[r] = now
            tot = total[r]
            tot = np.where(np.isnan(tot), plan.meta_total[c], tot)
            v = volumes[ui]
            used = np.where(plan.role[c] == _USAGE, v, tot - v)
            with np.errstate(all="ignore"):
                util = 100.0 * used / tot
                good = np.isfinite(util) & (used >= 0)
            e = ui[good]
            parts.append((plan.out_code[c[good]], util[good], times[e],
                          derived_ids(None if ids is None else ids[e], self._salt)))
        return concat_batches(plan.series, parts)
