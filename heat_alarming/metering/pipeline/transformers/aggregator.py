"""``aggregator``: one value per group of resources and window of time.

Samples of the selected meters are grouped by meter, project and ``group_by``
(a metadata key such as ``metering.server_group``, nested maps or dotted keys,
Heat's ``metering.``/``user_metadata.`` spellings alike; or ``project_id``), in
windows of ``period`` seconds aligned to the clock (``[k * period, (k + 1) * period)``).
Within a window each resource's samples are first averaged, then ``function``
combines the resources:

    avg = sum(resource means) / resources     sum = sum(resource means)
    min / max = min / max(resource means)     count = resources

The samples are held back (and passed on unchanged, unless ``keep_source`` is
false) until :meth:`Aggregator.flush` is called at or after the window's end; then
each group gives one sample: ``resource_id`` the group's value (the project's id
for ``project_id``), the project kept, the window's start as its time, metadata
``{group_by: value}`` so that the alarm's metadata query finds it.  Groups never
mix projects.  A sample for a window already flushed, or more than one period
ahead of ``now``, is not aggregated (counted in ``late`` / ``early``); at most
``max_pending`` (resource, window) partial results are held (the oldest beyond it
counted in ``dropped``).  :meth:`Aggregator.counters` reports the three; at the
pipeline's stop (:meth:`Aggregator.close`, after the last flush) the partial results
of windows still open are counted in ``dropped``, not emitted.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from oslo_log import log as logging

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.metadata import canonical_metadata_key, flatten_metadata
from heat_alarming.metering.pipeline.transformers._common import (
    MeterMap,
    Params,
    PerTuple,
    Rows,
    Stateful,
)

FUNCTIONS = ("avg", "sum", "min", "max", "count")
DEFAULT_PERIOD = 60.0
DEFAULT_MAX_PENDING = 1_000_000  # (group, resource, window) partial results held
DEFAULT_MAX_AGE = 3600.0  # seconds after which an idle group or resource is forgotten
PROJECT = "project_id"
LOG = logging.getLogger(__name__)


class _Plan(NamedTuple):
    group: np.ndarray  # group row per input series, -1: not aggregated
    resource: np.ndarray  # resource row per input series
    any_applies: bool


class Aggregator(Stateful):
    """Parameters: ``meters`` and/or ``source.map_from`` (which series), ``group_by``
    (required: ``project_id`` or a metadata key), ``function`` (default avg),
    ``period`` (seconds, default 60), ``target`` (``name``/``unit``/``map_to``; default
    the meter's own), ``keep_source`` (default true), ``max_pending``, ``max_age``."""

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        params = Params(self.parameters, ("meters", "source", "target", "group_by",
                                          "function", "period", "keep_source",
                                          "max_pending", "max_age"))
        target = params.nested("target", ("name", "unit", "map_to"))
        self.map = MeterMap(params, default_meters=None, target=target,
                            default_name=lambda d: d.name, default_unit=lambda d: d.unit,
                            default_type="gauge")
        if params.get("group_by") is None:
            raise params.error("group_by", "is required (project_id or a metadata key)")
        group_by = params.text("group_by", None)
        for prefix in ("resource_metadata.", "metadata."):
            if group_by.startswith(prefix) and len(group_by) > len(prefix):
                group_by = group_by[len(prefix):]
        self.group_by = PROJECT if group_by in (PROJECT, "project") else group_by
        self._group_key = canonical_metadata_key(self.group_by)
        self.function = params.text("function", "avg", choices=FUNCTIONS)
        self.period = params.number("period", DEFAULT_PERIOD, minimum=1, maximum=86400)
        self.keep_source = params.boolean("keep_source", True)
        self.max_pending = int(params.number("max_pending", DEFAULT_MAX_PENDING,
                                             minimum=1, maximum=1e8))
        self.max_age = params.number("max_age", DEFAULT_MAX_AGE, above=0)
        self.groups = Rows({}, self.max_age)
        self.resources = Rows({}, self.max_age)
        self._descriptors: dict[int, SeriesDescriptor] = {}
        self._plans = PerTuple(self._plan)
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0)
        # pending partial results: group row, resource row, window, sum, count
        self._pending = [(empty_i, empty_i, empty_i, empty_f, empty_f)]
        self._pending_size = 0
        self._flushed = -np.inf  # windows before this index have been emitted
        self._last_out: tuple[np.ndarray, tuple] | None = None
        self.late = self.early = self.dropped = 0

    def _group_of(self, d: SeriesDescriptor) -> str | None:
        if self.group_by == PROJECT:
            return d.project_id or None
        value = flatten_metadata(d.metadata).get(self._group_key) if d.metadata else None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        value = str(value)
        return value if 0 < len(value) <= 255 else None

    def _plan(self, series: tuple) -> _Plan:
        n = len(series)
        group = np.full(n, -1, dtype=np.int64)
        resource = np.full(n, -1, dtype=np.int64)
        where, gkeys, rkeys, outs = [], [], [], []
        for c, d in enumerate(series):
            out = self.map.output(d)
            if out is None:
                continue
            try:
                value = self._group_of(d)
            except (TypeError, ValueError, AttributeError):  # metadata that is no map
                value = None
            if value is None:
                continue
            where.append(c)
            gkeys.append((out.name, d.project_id or "", value))
            rkeys.append((d.resource_id, d.project_id or ""))
            outs.append((out, value))
        if where:
            at = np.array(where)
            group[at] = grows = self.groups.rows(gkeys)
            resource[at] = self.resources.rows(rkeys)
            for row, (out, value) in zip(grows.tolist(), outs):
                if row not in self._descriptors:
                    self._descriptors[row] = SeriesDescriptor(
                        out.name, value, out.project_id, "gauge", out.unit, None,
                        out.source, {self.group_by: value} if self.group_by != PROJECT
                        else {})
        return _Plan(group, resource, bool(where))

    def _forget(self, now: float) -> None:
        if not (self.groups.due(now) or self.resources.due(now)):
            return
        g, r = np.concatenate([p[0] for p in self._pending]), np.concatenate(
            [p[1] for p in self._pending])
        keep_g = np.zeros(len(self.groups.keys), dtype=bool)
        keep_g[g] = True
        keep_r = np.zeros(len(self.resources.keys), dtype=bool)
        keep_r[r] = True
        before = set(self.groups.free)
        if self.groups.forget(now, keep_g):
            for row in set(self.groups.free) - before:
                self._descriptors.pop(row, None)
            self._last_out = None
        self.resources.forget(now, keep_r)

    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        self._forget(now)
        plan = self._plans.get(batch.series, self.groups.generation * 1_000_003
                               + self.resources.generation)
        if not plan.any_applies or len(batch) == 0:
            return batch
        codes = batch.codes
        g_all = plan.group[codes]
        volumes, times = batch.volumes, batch.timestamps
        sel = (g_all >= 0) & np.isfinite(volumes) & np.isfinite(times)
        idx = np.flatnonzero(sel)
        if idx.size:
            t = times[idx]
            window = np.floor(t / self.period)
            # late: a window already emitted, or older than max_age (the rows it
            # would need may be forgotten)
            late = (window < self._flushed) | (window * self.period < now - self.max_age
                                               - self.period)
            early = window * self.period > now + self.period
            self.late += int(late.sum())
            self.early += int(early.sum())
            ok = ~(late | early)
            idx, window = idx[ok], window[ok].astype(np.int64)
            c = codes[idx]
            g, r = plan.group[c], plan.resource[c]
            self.groups.seen[g] = now
            self.resources.seen[r] = now
            self._pending.append((g, r, window, volumes[idx], np.ones(idx.size)))
            self._pending_size += idx.size
            if self._pending_size > 2 * self.max_pending:
                self._compact()
        if self.keep_source:
            return batch
        return batch.take(plan.group[codes] < 0)

    def _compact(self) -> tuple[np.ndarray, ...]:
        """The pending partials reduced to one per (group, resource, window); oldest
        windows beyond ``max_pending`` dropped (counted)."""
        g, r, w, s, n = (np.concatenate([p[i] for p in self._pending]) for i in range(5))
        if g.size:
            order = np.lexsort((r, g, w))
            g, r, w, s, n = g[order], r[order], w[order], s[order], n[order]
            change = np.ones(g.size, dtype=bool)
            change[1:] = (g[1:] != g[:-1]) | (r[1:] != r[:-1]) | (w[1:] != w[:-1])
            starts = np.flatnonzero(change)
            g, r, w = g[starts], r[starts], w[starts]
            s, n = np.add.reduceat(s, starts), np.add.reduceat(n, starts)
            if g.size > self.max_pending:  # sorted by window first: drop the oldest
                extra = g.size - self.max_pending
                self.dropped += extra
                g, r, w, s, n = g[extra:], r[extra:], w[extra:], s[extra:], n[extra:]
        self._pending = [(g, r, w, s, n)]
        self._pending_size = g.size
        return g, r, w, s, n

    def counters(self) -> dict[str, int]:
        """``late``, ``early`` (samples not aggregated), ``dropped`` ((group, resource,
        window) partial results given up: beyond ``max_pending``, or of windows still
        open when the pipeline stops)."""
        with self._lock:
            return {"late": self.late, "early": self.early, "dropped": self.dropped}

    def close(self) -> None:
        """The end (the pipeline's stop, after its last flush): the partial results of
        windows still open are counted as dropped, not emitted (a window cut short
        would give a wrong value: a sum or count of fewer resources)."""
        with self._lock:
            g = self._compact()[0]
            if g.size:
                self.dropped += int(g.size)
                LOG.info("aggregator: %d partial results of windows still open at stop "
                         "dropped", g.size)
            empty_i, empty_f = np.empty(0, np.int64), np.empty(0)
            self._pending = [(empty_i, empty_i, empty_i, empty_f, empty_f)]
            self._pending_size = 0

    def _flush(self, now: float) -> SampleBatch:
        g, r, w, s, n = self._compact()
        closed = (w + 1) * self.period <= now
        self._flushed = max(self._flushed, float(np.floor(now / self.period)))
        if not closed.any():
            return SampleBatch.empty()
        self._pending = [(g[~closed], r[~closed], w[~closed], s[~closed], n[~closed])]
        self._pending_size = int((~closed).sum())
        g, w, mean = g[closed], w[closed], s[closed] / n[closed]
        order = np.lexsort((g, w))  # by window, then group (already so; kept explicit)
        g, w, mean = g[order], w[order], mean[order]
        change = np.ones(g.size, dtype=bool)
        change[1:] = (g[1:] != g[:-1]) | (w[1:] != w[:-1])
        starts = np.flatnonzero(change)
        count = np.diff(np.append(starts, g.size)).astype(np.float64)
        if self.function == "count":
            value = count
        elif self.function == "min":
            value = np.minimum.reduceat(mean, starts)
        elif self.function == "max":
            value = np.maximum.reduceat(mean, starts)
        else:
            value = np.add.reduceat(mean, starts)
            if self.function == "avg":
                value = value / count
        groups, windows = g[starts], w[starts]
        present, codes = np.unique(groups, return_inverse=True)
        if self._last_out is not None and np.array_equal(self._last_out[0], present):
            series = self._last_out[1]
        else:
            series = tuple(self._descriptors[row] for row in present.tolist())
            self._last_out = (present, series)
        good = np.isfinite(value)
        return SampleBatch(series, codes[good].astype(np.uint32), value[good],
                           windows[good].astype(np.float64) * self.period)
