"""The rolling-window store: validated ingest and per-period statistics.

:class:`RollingStore` ties the pieces together: the sample validator, the
series index, the bucket ring and the raw-value rings.  Its cost model:
ingest is whole-array work per batch; a statistics query reads
``periods x buckets-per-period x matching series`` cells, whatever the
sample rate.  One ``threading.RLock`` serialises writers and readers; the
single-sample API appends to a buffer that every read flushes first, so
each sample costs a few Python operations and the numpy work is batched.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from oslo_log import log as logging

from heat_alarming.metering import raw as raw_mod
from heat_alarming.metering import selection as selection_mod
from heat_alarming.metering import statistics as stats_mod
from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.buckets import FIELDS, BucketRing, bucket_of, to_buckets
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.index import SeriesIndex
from heat_alarming.metering.query import Query, build_query
from heat_alarming.metering.raw import RawRing
from heat_alarming.metering.sample import (
    DEFAULT_SOURCE,
    GAUGE,
    MAX_ABS_VOLUME,
    MAX_FIELD_LENGTH,
    MAX_METADATA_BYTES,
    METER_TYPES,
    Rejection,
    Sample,
    SampleError,
    SampleValidator,
)
from heat_alarming.metering.selection import Selection, Selectors, scoped
from heat_alarming.metering.statistics import (
    Statistics,
    StatisticsError,
    canonical_aggregate,
    percentile_of,
)

LOG = logging.getLogger(__name__)

_NEEDS = {"count": ("count",), "sum": ("total",), "avg": ("total",),
          "std": ("total", "sumsq"), "min": ("vmin",), "max": ("vmax",),
          "last": ("last", "last_tick")}
MAX_PERIODS_PER_REQUEST = 100_000
#: a store's shape when not told: seconds per bucket, seconds of window, seconds a
#: sample may be ahead of the clock
RESOLUTION, RETENTION, MAX_CLOCK_SKEW = 10, 3600, 300
#: refusals remembered per project for explanations (:meth:`RollingStore.refusals`),
#: and projects remembered (the oldest noted project is forgotten first)
REFUSALS_PER_PROJECT, REFUSING_PROJECTS = 20, 1000
#: series an explanation lists, and series of the meter it compares when none matched
EXPLAIN_SERIES, EXPLAIN_CANDIDATES = 20, 1000


class IngestResult(NamedTuple):
    """What a batch ingest did: how many rows went in and which were refused."""

    accepted: int
    rejected: list[Rejection]


@dataclasses.dataclass(frozen=True)
class StatisticsRequest:
    """One statistics question, for :meth:`RollingStore.statistics_many`."""

    meter: str
    period: int
    start: float
    end: float
    aggregates: tuple[str, ...] = ("avg",)
    query: Any = None  # a list of query items or a built Query
    matching_metadata: Mapping[str, Any] | None = None
    project_id: str | None = None


class RollingStore:
    """Per-series, fixed-resolution aggregates over a rolling window.

    :param resolution: bucket width in whole seconds (default 10).
    :param retention: window length in seconds, a multiple of the resolution
        (default 3600).
    :param max_clock_skew: how far in the future a sample may be stamped; the
        ring holds this much more than the retention (see :func:`ring_buckets`),
        so a future sample never retires a bucket inside the retention.
    :param max_metadata_bytes: bound on a sample's resource metadata (JSON size).
    :param raw_capacity: raw samples kept per series of a tracked meter, for
        percentiles (see :meth:`track_raw`).
    :param clock: callable returning "now" in epoch seconds; inject a
        :class:`~heat_alarming.metering.clock.ManualClock` in tests.
    :param capacity: initial series capacity (grows by doubling).
    :param buffer_size: single-sample API buffer size before a forced flush.
    :param max_field_length: longest text of a field naming a series.
    :param max_series_per_project: series one project may hold at once (None:
        no bound); a sample that would create one more is refused.

    Series without a sample for a whole retention are forgotten by a sweep
    that runs every quarter retention of the clock (from ingest and from the
    evaluator's reads, or :meth:`reclaim`): their rows are reused by new
    series, after one more sweep (see :class:`SeriesIndex`).
    """

    def __init__(self, resolution: int = RESOLUTION, retention: int = RETENTION, *,
                 max_clock_skew: float = MAX_CLOCK_SKEW,
                 max_metadata_bytes: int = MAX_METADATA_BYTES,
                 raw_capacity: int = raw_mod.CAPACITY, clock: Clock = system_clock,
                 capacity: int = 1024, buffer_size: int = 65536,
                 max_field_length: int = MAX_FIELD_LENGTH,
                 max_series_per_project: int | None = None) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution: {resolution!r} must be a whole number of seconds >= 1")
        if (isinstance(retention, bool) or not isinstance(retention, int)
                or retention < resolution or retention % resolution):
            raise ValueError(f"retention: {retention!r} must be a positive multiple "
                             f"of the resolution ({resolution} s)")
        if isinstance(max_clock_skew, bool) or not isinstance(max_clock_skew, (int, float)) \
                or not math.isfinite(max_clock_skew) or max_clock_skew < 0:
            raise ValueError(f"max_clock_skew: {max_clock_skew!r} must be a finite number "
                             "of seconds >= 0")
        self.resolution = resolution
        self.retention = retention
        self.clock = clock
        self.validator = SampleValidator(retention, max_clock_skew, max_metadata_bytes,
                                         max_field_length)
        self.max_series_per_project = max_series_per_project
        self.index = SeriesIndex(capacity)
        self.ring = BucketRing(resolution, ring_buckets(resolution, retention, max_clock_skew),
                               capacity)
        self.raw = RawRing(raw_capacity)
        self._raw_meters: set[str] = set()
        self._lock = threading.RLock()
        self._buffer_size = int(buffer_size)
        self._buffer: list[tuple[int, float, float]] = []  # (row, time, volume)
        # hot-path shortcuts to objects that live as long as the store
        self._row_of = self.index.row_of
        self._attrs = self.index.attrs
        self._max_skew = float(max_clock_skew)
        self._n_buckets = self.ring.n_buckets
        self._retention_buckets = retention // resolution
        self._born = np.zeros(capacity, dtype=np.int64)  # per row: bucket it was registered in
        self._sweep_every = max(1, self._retention_buckets // 4)  # buckets between sweeps
        self._next_sweep: int | None = None
        # the rows of the last batch's series tuple, while the index has not changed:
        # (series tuple, index version, row of each code); a collector that polls the
        # same series again reuses its tuple, and its batches skip the per-series checks
        self._known_batch: tuple[tuple, int, np.ndarray] | None = None
        # what ingest did since the store was built (stats())
        self._accepted = 0
        self._rejected: Counter = Counter()  # sample field -> rows refused
        # project -> recent refusals, newest last: (time, meter, field, reason, rows)
        self._refusals: dict[str, collections.deque] = {}

    # -- configuration ---------------------------------------------------
    @property
    def n_buckets(self) -> int:
        return self.ring.n_buckets

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def track_raw(self, meter: str) -> None:
        """Keep raw values of ``meter`` (``"*"``: every meter) for percentiles.

        History starts now: existing series get an empty raw ring.
        """
        with self._lock:
            self._raw_meters.add(meter)
            meters = self.index.meters() if meter == "*" else [meter]
            for name in meters:
                self.raw.track(self.index.meter_rows(name))

    def tracks_raw(self, meter: str) -> bool:
        return "*" in self._raw_meters or meter in self._raw_meters

    def __len__(self) -> int:
        """Number of series (live ones: forgotten series do not count)."""
        return len(self.index)

    # -- series ----------------------------------------------------------
    def series_id(self, meter: str, resource_id: str, project_id: str | None = None, *,
                  user_id: str | None = None, source: str = DEFAULT_SOURCE,
                  unit: str = "", type: str = GAUGE,
                  metadata: Mapping[str, Any] | None = None) -> int:
        """The row of a series, registering it if new (for :meth:`ingest_arrays`)."""
        probe = Sample(meter, 0.0, resource_id, type=type, unit=unit, project_id=project_id,
                       user_id=user_id, resource_metadata=metadata or {}, source=source)
        self.validator.check_identity(probe)
        self.validator.check_metadata(probe.resource_metadata)
        with self._lock:
            return self._series_row(probe, check_metadata=False)

    def _series_row(self, sample: Sample, check_metadata: bool = True) -> int:
        key = (sample.name, sample.resource_id, sample.project_id or "")
        index = self.index
        row = index.row_of.get(key)
        metadata = sample.resource_metadata
        if row is None:
            if check_metadata:
                self.validator.check_metadata(metadata)
            self._check_quota(key[2], 1)
            row = index.add(key, user_id=sample.user_id, source=sample.source,
                            unit=sample.unit, type_=sample.type, metadata=metadata)
            self.ring.ensure_rows(row + 1)
            self.raw.ensure_rows(row + 1)
            self._note_born(row)
            if self.tracks_raw(sample.name):
                self.raw.track(np.array([row]))
            return row
        if index.attrs[row] != (sample.type, sample.unit, sample.user_id, sample.source,
                                metadata):
            if check_metadata:
                self.validator.check_metadata(metadata)
            index.update(row, user_id=sample.user_id, source=sample.source,
                         unit=sample.unit, type_=sample.type, metadata=metadata)
        return row

    def _check_quota(self, project: str, new: int) -> None:
        """Refuse ``new`` more series of ``project`` beyond its quota."""
        quota = self.max_series_per_project
        if quota is not None and self.index.series_of_project.get(project, 0) + new > quota:
            raise SampleError("resource_id", project or None,
                              f"project has reached its quota of {quota} series "
                              "(max_series_per_project)")

    def _note_born(self, row: int) -> None:
        if row >= self._born.size:
            born = np.zeros(max(row + 1, 2 * self._born.size), dtype=np.int64)
            born[:self._born.size] = self._born
            self._born = born
        self._born[row] = bucket_of(self.clock(), self.resolution)

    # -- forgetting series -------------------------------------------------
    def reclaim(self) -> int:
        """Forget every series without a sample for a whole retention; returns how many.

        The ring first moves to the clock's bucket, so that silence ages
        series too.  Their rows (index, attribute columns, bucket and raw
        rings) serve later series; the index version moves, so selections are
        recomputed.
        """
        with self._lock:
            self._flush()
            return self._reclaim(bucket_of(self.clock(), self.resolution))

    def _reclaim(self, now_bucket: int) -> int:
        ring, index = self.ring, self.index
        ring.advance(now_bucket)
        n = index.n_rows
        self._next_sweep = now_bucket + self._sweep_every
        # by the clock: the ring also holds the skew's worth of buckets older than that
        since = now_bucket - self._retention_buckets
        held = np.zeros(n, dtype=bool)
        for column in np.flatnonzero(ring.bucket_of_column > since).tolist():
            held |= ring.count[column, :n] > 0  # a row at a time: no copy of the ring

        dead = index.live[:n] & ~held & (self._born[:n] <= since)
        rows = np.flatnonzero(dead)
        ring.clear_rows(rows)  # older cells must not reach the series that reuses a row
        self.raw.release(rows)
        index.release(rows)
        if rows.size:
            LOG.debug("forgot %d series without samples for %d s", rows.size, self.retention)
        return int(rows.size)

    def _maybe_reclaim(self, now: float) -> None:
        """The periodic sweep, when a quarter retention has passed (under the lock)."""
        now_bucket = bucket_of(now, self.resolution)
        if self._next_sweep is None:
            self._next_sweep = now_bucket + self._sweep_every
        elif now_bucket >= self._next_sweep:
            self._flush()
            self._reclaim(now_bucket)

    # -- ingest ----------------------------------------------------------
    def add(self, sample: Sample) -> None:
        """Add one sample; raises :class:`SampleError` naming the bad field.

        The sample is visible to every read that starts after this returns.
        The common case is handled here in a few operations: a known series
        whose attributes are unchanged, a finite float volume, a float
        timestamp inside the window and a bucket the ring already holds.
        Anything else goes to :meth:`_accept_checked`, where the validator
        owns every rule and message.
        """
        with self._lock:
            try:
                self._add(sample, self.clock())
            except SampleError as exc:
                self._rejected[exc.field] += 1
                self._note([(sample.project_id, sample.name, exc.field, str(exc))])
                raise
            except Exception as exc:  # no check foresaw it: still a refusal of this sample
                self._rejected["sample"] += 1
                raise SampleError("sample", "<sample>", _unforeseen(exc)) from exc
            self._accepted += 1

    def _add(self, sample: Sample, now: float) -> None:
        """:meth:`add` under the lock, at ``now`` (one reading for a whole batch)."""
        volume, ts = sample.volume, sample.timestamp
        try:
            row = self._row_of.get((sample.name, sample.resource_id, sample.project_id or ""))
        except TypeError:  # an unhashable field; the validator will name it
            row = None
        if (row is None or type(volume) is not float or type(ts) is not float
                or volume - volume != 0.0  # NaN and infinities fail this
                or not now - self.retention <= ts <= now + self._max_skew
                or self._attrs[row] != (sample.type, sample.unit, sample.user_id,
                                        sample.source, sample.resource_metadata)):
            self._accept_checked(sample, now)
            return
        bucket = int(ts // self.resolution)
        head = self.ring.head
        if not head - self._n_buckets < bucket <= head:
            self._accept_checked(sample, now)
            return
        self._buffer.append((row, ts, volume))
        if len(self._buffer) >= self._buffer_size:
            self._flush()

    def _check_in_window(self, sample: Sample, now: float) -> tuple[float, float, int]:
        """The validator's checks of value and time, and the ring's own bound:
        (volume, timestamp, bucket)."""
        validator = self.validator
        validator.check_identity(sample)
        volume = validator.check_volume(sample.volume)
        ts = validator.check_timestamp(sample.timestamp, now)
        bucket = int(ts // self.resolution)
        if bucket <= self.ring.head - self.ring.n_buckets:
            raise SampleError("timestamp", sample.timestamp,
                              "older than the store's window, which ends at the "
                              "newest sample's bucket")
        return volume, ts, bucket

    def _accept_checked(self, sample: Sample, now: float) -> None:
        volume, ts, bucket = self._check_in_window(sample, now)
        ring = self.ring
        row = self._series_row(sample)  # checks metadata before changing anything
        if bucket > ring.head:
            self._flush()
            ring.advance(bucket)
        self._buffer.append((row, ts, volume))
        if len(self._buffer) >= self._buffer_size:
            self._flush()

    def check(self, samples: Sequence[Sample | Mapping[str, Any]]) -> list[Rejection]:
        """The rejections ``samples`` would get from :meth:`ingest`, storing nothing.

        For callers that must take a batch whole or not at all (a Heat signal).
        """
        with self._lock:
            now = self.clock()
            _, _, rejected = self._vet(samples, now)
        return rejected

    def ingest(self, samples: Iterable[Sample | Mapping[str, Any]]) -> IngestResult:
        """Add many samples; good rows go in, bad rows come back with a reason.

        The batch is checked as one before anything is stored: each row
        against the window the whole batch leaves behind (the ring moves to
        the batch's newest bucket), so :meth:`check` and this agree, and a
        row that fails in a way no check foresaw is refused alone.  The ring
        holds ``[now - retention, now + max_clock_skew]`` whole, so that window
        is the clock's: no row a batch may carry pushes out a bucket inside the
        retention (the ring's own bound bites only if the clock steps back).
        """
        samples = samples if isinstance(samples, Sequence) else list(samples)
        with self._lock:
            now = self.clock()
            self._maybe_reclaim(now)
            good, target, rejected = self._vet(samples, now)
            accepted = self._store_vetted(good, target, rejected)
            rejected.sort()
            self._count(accepted, rejected)
            if rejected:
                self._note((_field_of(samples[r.index], "project_id"),
                            _field_of(samples[r.index], "name", "meter"), r.field, r.reason)
                           for r in rejected)
        return IngestResult(accepted, rejected)

    def ingest_batch(self, batch: SampleBatch) -> IngestResult:
        """Add a columnar batch (:class:`~heat_alarming.metering.batch.SampleBatch`) with
        the checks and refusals of :meth:`ingest`, and no sample built.

        The series checks (identity, metadata, the project's quota) run once per
        distinct series of the batch, the value and window checks whole-array;
        a refused row gets the reason :meth:`ingest` would give it, from the same
        validator, and the good rows go in together.
        """
        with self._lock:
            now = self.clock()
            self._maybe_reclaim(now)
            rejected: list[Rejection] = []
            good, rows, target = self._vet_batch(batch, now, rejected)
            accepted = int(good.sum())
            if accepted:
                if target > self.ring.head:
                    self._flush()
                    self.ring.advance(target)
                self._flush()
                self._merge(rows[good], batch.timestamps[good], batch.volumes[good])
            rejected.sort()
            self._count(accepted, rejected)
            if rejected:
                descriptors, codes = batch.series, batch.codes
                self._note((descriptors[int(codes[r.index])].project_id,
                            descriptors[int(codes[r.index])].name, r.field, r.reason)
                           for r in rejected)
        return IngestResult(accepted, rejected)

    def _vet_batch(self, batch: SampleBatch, now: float,
                   rejected: list[Rejection]) -> tuple[np.ndarray, np.ndarray, int]:
        """Check a columnar batch and register its new series: (good-row mask, the row of
        every sample, the bucket the ring moves to)."""
        validator = self.validator
        n_series, codes = len(batch.series), batch.codes.astype(np.int64)
        identity: dict[int, tuple[str, str]] = {}  # refused descriptors: (field, reason)
        metadata: dict[int, tuple[str, str]] = {}
        fresh: dict[int, Sample] = {}  # descriptors to register or refresh
        known = self._known_batch
        if known is not None and known[0] is batch.series and known[1] == self.index.version:
            row_of_code, descriptors = known[2], ()  # every series held, attributes unchanged
        else:
            row_of_code, descriptors = np.full(n_series, -1, dtype=np.int64), batch.series
        for c, descriptor in enumerate(descriptors):
            try:
                row = self._row_of.get(descriptor.key)
            except TypeError:  # an unhashable field; the validator will name it
                row = None
            if row is not None:
                row_of_code[c] = row
                if self._attrs[row] == descriptor.attrs():
                    continue
            refusal = identity
            try:
                probe = descriptor.probe()
                validator.check_identity(probe)
                refusal = metadata
                validator.check_metadata(probe.resource_metadata)
                fresh[c] = probe
            except SampleError as exc:
                refusal[c] = (exc.field, str(exc))
            except Exception as exc:  # a series no check foresaw: refuse its rows alone
                refusal[c] = ("sample", _unforeseen(exc))
        n = len(batch)
        good = np.ones(n, dtype=bool)

        def refuse(mask: np.ndarray, reasons: dict[int, tuple[str, str]]) -> None:
            for i in np.flatnonzero(mask).tolist():
                field, reason = reasons[int(codes[i])]
                rejected.append(Rejection(i, field, reason))
            good[mask] = False

        if identity:  # the first check of a row, as in ingest()
            refuse(np.isin(codes, list(identity)), identity)
        volumes, times = batch.volumes, batch.timestamps
        oldest, newest = now - self.retention, now + self._max_skew
        with np.errstate(invalid="ignore"):
            values_ok = (np.abs(volumes) <= MAX_ABS_VOLUME) & (times >= oldest) \
                & (times <= newest)  # NaN fails both
        for i in np.flatnonzero(good & ~values_ok).tolist():
            try:
                validator.check_volume(float(volumes[i]))
                validator.check_timestamp(float(times[i]), now)
            except SampleError as exc:
                rejected.append(Rejection(i, exc.field, str(exc)))
                good[i] = False
        if metadata:
            refuse(good & np.isin(codes, list(metadata)), metadata)
        target = bucket_of(now, self.resolution)
        if good.any():
            late, target, reason = self._late_rows(times[good], target)
            if late.any():
                positions = np.flatnonzero(good)[late]
                rejected.extend(Rejection(i, "timestamp", reason) for i in positions.tolist())
                good[positions] = False
        if self.max_series_per_project is not None and good.any():
            # the first good row of every series not held yet, in batch order
            firsts = {}
            for i, c in zip(np.flatnonzero(good).tolist(), codes[good].tolist()):
                if row_of_code[c] < 0 and c not in firsts:
                    firsts[c] = i
            refused = self._over_quota((i, batch.series[c].key) for c, i in firsts.items())
            if refused:
                over = {c: (r.field, r.reason) for c, i in firsts.items()
                        if (r := refused.get(i)) is not None}
                refuse(good & np.isin(codes, list(over)), over)
        # register and refresh the series that keep good rows, in batch order
        if fresh:
            held = np.zeros(n_series, dtype=bool)
            held[codes[good]] = True
            keeping = set(np.flatnonzero(held).tolist())
        else:
            keeping = set()
        for c in sorted(fresh.keys() & keeping):
            try:
                row_of_code[c] = self._series_row(fresh[c], check_metadata=False)
            except Exception as exc:  # refuse the series' rows alone, store the rest
                field = exc.field if isinstance(exc, SampleError) else "sample"
                text = str(exc) if isinstance(exc, SampleError) else _unforeseen(exc)
                refuse(good & (codes == c), {c: (field, text)})
        if n_series and not (identity or metadata) and row_of_code.min() >= 0:
            self._known_batch = (batch.series, self.index.version, row_of_code)
        return good, row_of_code[codes], target

    def _vet(self, samples, now: float) -> tuple[list[tuple], int, list[Rejection]]:
        """Check a batch: (good rows, the bucket the ring moves to, rejections).

        A good row is (position, row or None for a new series, the sample
        when its series must be registered or refreshed, timestamp, volume).
        """
        validator = self.validator
        oldest, newest = now - self.retention, now + self._max_skew
        row_of, attrs = self._row_of, self._attrs
        good: list[tuple] = []
        rejected: list[Rejection] = []
        for i, item in enumerate(samples):
            try:
                sample = item if isinstance(item, Sample) else Sample.from_dict(item)
                volume, ts = sample.volume, sample.timestamp
                try:
                    row = row_of.get((sample.name, sample.resource_id, sample.project_id or ""))
                except TypeError:  # an unhashable field; the validator will name it
                    row = None
                same = row is not None and attrs[row] == (
                    sample.type, sample.unit, sample.user_id, sample.source,
                    sample.resource_metadata)
                if (same and type(volume) is float and type(ts) is float
                        and -MAX_ABS_VOLUME <= volume <= MAX_ABS_VOLUME  # NaN fails
                        and oldest <= ts <= newest):
                    good.append((i, row, None, ts, volume))
                    continue
                validator.check_identity(sample)
                volume = validator.check_volume(sample.volume)
                ts = validator.check_timestamp(sample.timestamp, now)
                if not same:
                    validator.check_metadata(sample.resource_metadata)
                good.append((i, row, None if same else sample, ts, volume))
            except SampleError as exc:
                rejected.append(Rejection(i, exc.field, str(exc)))
            except Exception as exc:  # a row no check foresaw: refuse it alone
                rejected.append(Rejection(i, "sample", _unforeseen(exc)))
        target = bucket_of(now, self.resolution)
        if good:
            good, target = self._in_final_window(good, target, rejected)
        if self.max_series_per_project is not None and good:
            good = self._within_quota(good, rejected)
        rejected.sort()
        return good, target, rejected

    def _in_final_window(self, good: list[tuple], target: int,
                         rejected: list[Rejection]) -> tuple[list[tuple], int]:
        """Refuse rows older than the window the batch leaves (ring at its newest bucket).

        With the clock monotonic that window starts at or before ``now - retention``
        (see :func:`ring_buckets`), so only a clock stepped back behind the ring's
        head refuses a row here."""
        times = np.fromiter((g[3] for g in good), dtype=np.float64, count=len(good))
        late, target, reason = self._late_rows(times, target)
        if late.any():
            rejected.extend(Rejection(good[j][0], "timestamp", reason)
                            for j in np.flatnonzero(late).tolist())
            good = [g for g, out in zip(good, late.tolist()) if not out]
        return good, target

    def _late_rows(self, times: np.ndarray, target: int) -> tuple[np.ndarray, int, str]:
        """(rows of ``times`` older than the window the batch leaves, the bucket the ring
        moves to, the reason given for them); ``times`` is not empty."""
        buckets = to_buckets(times, self.resolution)[0]
        target = max(target, int(buckets.max()))
        first = max(self.ring.head, target) - self._n_buckets + 1
        reason = (f"sample field 'timestamp': older than the store's window once this "
                  f"batch is in (it starts at {first * self.resolution:.0f})")
        return buckets < first, target, reason

    def _within_quota(self, good: list[tuple], rejected: list[Rejection]) -> list[tuple]:
        """Refuse rows that would create series beyond their project's quota."""
        refused = self._over_quota(
            (i, (sample.name, sample.resource_id, sample.project_id or ""))
            for i, row, sample, *_ in good if row is None)
        rejected.extend(refused.values())
        return [entry for entry in good if entry[0] not in refused]

    def _over_quota(self, new: Iterable[tuple[int, tuple]]) -> dict[int, Rejection]:
        """Of the rows that would create a series, ``(position, key)`` in batch order, those
        beyond their project's quota (the first rows of each project's new keys go in)."""
        quota = self.max_series_per_project
        held = self.index.series_of_project
        new_keys: dict[str, set] = {}
        refused: dict[int, Rejection] = {}
        for i, key in new:
            project = key[2]
            keys = new_keys.setdefault(project, set())
            if key not in keys:
                if held.get(project, 0) + len(keys) >= quota:
                    refused[i] = Rejection(
                        i, "resource_id", f"sample field 'resource_id': project "
                        f"{project!r} has reached its quota of {quota} series "
                        "(max_series_per_project)")
                    continue
                keys.add(key)
        return refused

    def _store_vetted(self, good: list[tuple], target: int,
                      rejected: list[Rejection]) -> int:
        """Register the new series of checked rows, then store the rows in one step."""
        entries = []
        for i, row, sample, ts, volume in good:
            if sample is not None:
                try:
                    row = self._series_row(sample, check_metadata=False)
                except Exception as exc:  # refuse the row alone, store the rest
                    field = exc.field if isinstance(exc, SampleError) else "sample"
                    reason = str(exc) if isinstance(exc, SampleError) else _unforeseen(exc)
                    rejected.append(Rejection(i, field, reason))
                    continue
            entries.append((row, ts, volume))
        if entries:
            if target > self.ring.head:
                self._flush()
                self.ring.advance(target)
            self._buffer.extend(entries)
        self._flush()
        return len(entries)

    def ingest_arrays(self, series: np.ndarray, timestamps: np.ndarray,
                      volumes: np.ndarray) -> IngestResult:
        """Vectorised ingest: row ids (from :meth:`series_id`), epoch times, volumes."""
        series = np.asarray(series)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        try:
            volumes = np.asarray(volumes, dtype=np.float64)
        except (TypeError, ValueError):
            raise SampleError("volume", "<array>", "must be numeric") from None
        if not (series.shape == timestamps.shape == volumes.shape) or series.ndim != 1:
            raise ValueError("series, timestamps and volumes must be 1-D arrays of one length")
        if series.size and not np.issubdtype(series.dtype, np.integer):
            raise SampleError("series", "<array>", "must hold integer series ids")
        series = series.astype(np.int64, copy=False)
        with self._lock:
            self._flush()
            now = self.clock()
            self._maybe_reclaim(now)
            oldest, newest = self.validator.window(now)
            n_series = self.index.n_rows
            # A whole-array check first; row-by-row reasons only when it fails.
            clean = series.size == 0 or (
                series.min() >= 0 and series.max() < n_series
                and self.index.live[series].all()
                and np.abs(volumes).max() <= MAX_ABS_VOLUME  # NaN fails too
                and timestamps.min() >= oldest and timestamps.max() <= newest)
            rejected: list[Rejection] = []
            if clean:
                good = None
            else:
                good = self._array_rejections(series, timestamps, volumes, oldest, newest,
                                              rejected)
                series, timestamps, volumes = series[good], timestamps[good], volumes[good]
            if series.size:
                self.ring.advance(bucket_of(float(timestamps.max()), self.resolution))
                first_ok = self.ring.oldest * float(self.resolution)
                if timestamps.min() < first_ok:
                    late = timestamps < first_ok
                    positions = np.flatnonzero(good) if good is not None \
                        else np.arange(late.size)
                    rejected.extend(Rejection(int(i), "timestamp", "sample field 'timestamp': "
                                              "older than the store's window")
                                    for i in positions[late])
                    series, timestamps, volumes = series[~late], timestamps[~late], volumes[~late]
                self._merge(series, timestamps, volumes)
            rejected.sort()
            self._count(int(series.size), rejected)
            return IngestResult(int(series.size), rejected)

    def _array_rejections(self, series, timestamps, volumes, oldest, newest,
                          rejected: list[Rejection]) -> np.ndarray:
        """Name the first failing field of every bad row; return the good-row mask."""
        skew = self.validator.max_clock_skew
        known = (series >= 0) & (series < self.index.n_rows)
        known[known] = self.index.live[series[known]]
        with np.errstate(invalid="ignore"):
            huge = np.abs(volumes) > MAX_ABS_VOLUME
        reasons = [
            ("series", ~known, "unknown series id (or one forgotten after a retention "
                               "without samples); register it with series_id()"),
            ("volume", ~np.isfinite(volumes), "must be a finite number"),
            ("volume", huge, f"must lie within +/-{MAX_ABS_VOLUME:g}, so that sums stay "
                             "finite"),
            ("timestamp", ~np.isfinite(timestamps), "must be a finite time"),
            ("timestamp", timestamps < oldest, f"older than the retention of {self.retention} s"),
            ("timestamp", timestamps > newest, f"more than {skew:g} s in the future"),
        ]
        bad = np.zeros(series.size, dtype=bool)
        for field, mask, reason in reasons:
            fresh = mask & ~bad
            if fresh.any():
                rejected.extend(Rejection(int(i), field, f"sample field '{field}': {reason}")
                                for i in np.flatnonzero(fresh))
                bad |= fresh
        return ~bad

    def _count(self, accepted: int, rejected: list[Rejection]) -> None:
        self._accepted += accepted
        if rejected:
            self._rejected.update(r.field for r in rejected)

    def note_refusals(self, refused: Iterable[tuple[str | None, str, str, str]]) -> None:
        """Remember samples refused before they reached the store (a Heat signal that
        :meth:`check` refused whole), as (project, meter, field, reason), for
        :meth:`refusals`; the store's own ingest notes its refusals itself."""
        with self._lock:
            self._note(refused)

    def _note(self, refused: Iterable[tuple[str | None, str, str, str]]) -> None:
        now = self.clock()
        counted: Counter = Counter()
        reasons: dict[tuple, str] = {}
        for project, meter, field, reason in refused:
            key = (str(project or ""), str(meter or "")[:MAX_FIELD_LENGTH], field)
            counted[key] += 1
            reasons.setdefault(key, str(reason)[:300])
        for (project, meter, field), rows in counted.items():
            log = self._refusals.pop(project, None)  # re-inserted: the newest project
            if log is None:
                log = collections.deque(maxlen=REFUSALS_PER_PROJECT)
                if len(self._refusals) >= REFUSING_PROJECTS:
                    del self._refusals[next(iter(self._refusals))]
            self._refusals[project] = log
            log.append((now, meter, field, reasons[(project, meter, field)], rows))

    def refusals(self, project_id: str | None, meter: str | None = None) -> list[dict]:
        """The project's recently refused samples (of ``meter`` only, when given), newest
        first: time, meter, field, reason and rows (how many rows that refusal was)."""
        with self._lock:
            log = list(self._refusals.get(str(project_id or ""), ()))
        return [{"time": t, "meter": m, "field": f, "reason": r, "rows": n}
                for t, m, f, r, n in reversed(log) if meter is None or m == meter]

    def explain_selection(self, meter: str, query: Query,
                          project_id: str | None) -> dict[str, Any]:
        """Which series a selector matches now (``count`` and the first ``ids``) and,
        when none, ``of_meter`` (series of the meter in the project) and ``nearest``:
        the series that fail the fewest of the query's conditions, each with the
        conditions it fails (``differs``: the field, what the query asks, what the
        series has there, and the series' keys spelt like the field)."""
        with self._lock:
            self._flush()
            self._maybe_reclaim(self.clock())
            index = self.index
            rows = index.select(meter, scoped(query, project_id))
            out: dict[str, Any] = {"count": int(rows.size), "ids": [
                index.keys[int(r)][1] for r in rows[:EXPLAIN_SERIES]]}
            if rows.size:
                return out
            candidates = index.select(meter, scoped(Query(()), project_id))
            out["of_meter"] = int(candidates.size)
            out["nearest"] = []
            if candidates.size == 0 or not query.conditions:
                return out
            candidates = candidates[:EXPLAIN_CANDIDATES]
            failing = index.failing(candidates, query.conditions)
            fewest = failing.sum(axis=1).min()
            best = candidates[failing.sum(axis=1) == fewest]
            shown: dict[tuple, dict] = {}
            for row in best.tolist():
                differs = [index.difference(row, cond) for cond, fails in
                           zip(query.conditions, failing[np.searchsorted(candidates, row)])
                           if fails]
                key = repr(differs)
                if key in shown:
                    shown[key]["series"] += 1
                    continue
                shown[key] = {"id": index.keys[row][1], "series": 1, "differs": differs}
            out["nearest"] = sorted(shown.values(), key=lambda n: -n["series"])[:3]
            return out

    def stats(self) -> dict[str, Any]:
        """What the store holds and what its ingest did, as copies: ``series`` (live
        series, in all), ``series_per_project`` (project -> live series; "" for
        samples without a project), ``samples_accepted`` (rows stored since the store
        was built) and ``samples_rejected`` (the sample field a refusal named ->
        rows refused). A store restored from a snapshot counts from its restore."""
        with self._lock:
            return {"series": len(self.index),
                    "series_per_project": dict(self.index.series_of_project),
                    "samples_accepted": self._accepted,
                    "samples_rejected": dict(self._rejected)}

    def flush(self) -> None:
        """Fold buffered single samples into the ring (reads do this themselves)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        columns = np.array(self._buffer, dtype=np.float64)
        self._buffer = []
        self._merge(columns[:, 0].astype(np.int64), columns[:, 1], columns[:, 2])

    def _merge(self, rows: np.ndarray, times: np.ndarray, volumes: np.ndarray) -> None:
        self.ring.merge(rows, times, volumes)
        self.raw.append(rows, times, volumes)

    # -- statistics ------------------------------------------------------
    def statistics(self, meter: str, *, period: int, start: float, end: float,
                   aggregates: Sequence[str] = ("avg",), query: Any = None,
                   matching_metadata: Mapping[str, Any] | None = None,
                   project_id: str | None = None) -> Statistics:
        """Per-period statistics of ``meter`` over the series the query selects.

        Periods are aligned to the epoch; the range [start, end) is widened to
        whole periods.  See :class:`Statistics` for the result.
        """
        request = StatisticsRequest(meter, period, start, end, tuple(aggregates), query,
                                    matching_metadata, project_id)
        return self.statistics_many([request])[0]

    def select(self, meter: str, query: Any = None,
               matching_metadata: Mapping[str, Any] | None = None,
               project_id: str | None = None) -> np.ndarray:
        """Rows of the series a query selects (for inspection and tests)."""
        conditions = scoped(build_query(query, matching_metadata), project_id)
        with self._lock:
            return self.index.select(meter, conditions)

    def statistics_many(self, requests: Sequence[StatisticsRequest]) -> list[Statistics]:
        """Answer many requests with one gather per distinct (period, range)."""
        prepared = [self._prepare(i, r) for i, r in enumerate(requests)]
        results: list[Statistics | None] = [None] * len(prepared)
        groups: dict[tuple[int, int, int], list[int]] = {}
        with self._lock:
            self._flush()
            self._maybe_reclaim(self.clock())
            for i, p in enumerate(prepared):
                p["rows"] = self.index.select(p["meter"], p["conditions"])
                groups.setdefault((p["period"], p["first"], p["n_periods"]), []).append(i)
            for (period, first, n_periods), members in groups.items():
                self._answer_group(period, first, n_periods,
                                   [prepared[i] for i in members], results, members)
        return results  # type: ignore[return-value]

    def _prepare(self, position: int, request: StatisticsRequest) -> dict:
        where = f"requests[{position}]"
        period = request.period
        if isinstance(period, bool) or not isinstance(period, (int, np.integer)) \
                or period <= 0 or period % self.resolution:
            raise StatisticsError(f"{where}.period: {period!r} must be a positive multiple "
                                  f"of the store resolution ({self.resolution} s)")
        try:
            start, end = float(request.start), float(request.end)
        except (TypeError, ValueError):
            raise StatisticsError(f"{where}: start and end must be epoch seconds") from None
        built: Query = build_query(request.query, request.matching_metadata)
        if built.start is not None:
            start = max(start, built.start)
        if built.end is not None:
            end = min(end, built.end)
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise StatisticsError(f"{where}: the time range [{start}, {end}) is empty")
        aggregates = tuple(dict.fromkeys(canonical_aggregate(a) for a in request.aggregates))
        if not aggregates:
            raise StatisticsError(f"{where}.aggregates: name at least one statistic")
        if any(a.startswith("p") for a in aggregates) and not self.tracks_raw(request.meter):
            raise StatisticsError(
                f"{where}.aggregates: percentiles of {request.meter!r} need raw values; "
                f"call track_raw({request.meter!r}) before its samples arrive")
        first = math.floor(start / period)
        n_periods = math.ceil(end / period) - first
        if n_periods > MAX_PERIODS_PER_REQUEST:
            raise StatisticsError(f"{where}: {n_periods} periods is more than "
                                  f"{MAX_PERIODS_PER_REQUEST}; use a longer period")
        conditions = scoped(built, request.project_id)
        return {"meter": request.meter, "period": int(period), "first": first,
                "n_periods": n_periods, "aggregates": aggregates, "conditions": conditions}

    def _answer_group(self, period: int, first: int, n_periods: int, members: list[dict],
                      results: list, positions: list[int]) -> None:
        rows, starts, lengths = stats_mod.split_segments([m["rows"] for m in members])
        wanted = {a for m in members for a in m["aggregates"]}
        counts, values, exact = self._aggregate(rows, starts, lengths, period, first,
                                                n_periods, wanted)
        period_start = (first + np.arange(n_periods, dtype=np.float64)) * period
        for j, (member, position) in enumerate(zip(members, positions)):
            results[position] = Statistics(
                meter=member["meter"], period=period, period_start=period_start,
                count=counts[:, j].astype(np.int64),
                values={a: values[a][:, j] for a in member["aggregates"]},
                exact=exact[:, j], series=int(lengths[j]))

    # -- the vectorised interface the evaluator uses ---------------------
    def select_many(self, selectors: Sequence[tuple[str, Query, str | None]]) -> Selection:
        """Resolve many (meter, query, project_id) selectors to row segments at once.

        The result stays valid while ``index_version`` is unchanged; callers
        keep it and bring it up to date with :meth:`reselect` when the version
        moves.  Pass a :class:`~heat_alarming.metering.selection.Selectors` to
        compile the selectors once for many calls.
        """
        plan = selectors if isinstance(selectors, Selectors) else Selectors(selectors)
        with self._lock:
            self._flush()
            self._maybe_reclaim(self.clock())
            return selection_mod.select(self.index, plan)

    def reselect(self, selection: Selection,
                 selectors: Sequence[tuple[str, Query, str | None]]) -> tuple[Selection,
                                                                              np.ndarray]:
        """``selection`` (of ``selectors``, at an older version) brought up to date:
        (the new selection, the indices of the segments whose rows changed).

        Equal to :meth:`select_many` of the same selectors; only the series
        changed since ``selection.version`` are tested (see
        :func:`heat_alarming.metering.selection.reselect`).  Pass the same
        :class:`~heat_alarming.metering.selection.Selectors` every time: its
        reverse index is built once.
        """
        plan = selectors if isinstance(selectors, Selectors) else Selectors(selectors)
        with self._lock:
            self._flush()
            self._maybe_reclaim(self.clock())
            return selection_mod.reselect(self.index, plan, selection)

    @property
    def index_version(self) -> int:
        """Changes whenever a series is added, forgotten or its metadata changes."""
        with self._lock:
            self._flush()
            self._maybe_reclaim(self.clock())
            return self.index.version

    @property
    def write_count(self) -> int:
        """Changes made to the ring so far (see :meth:`period_marks`)."""
        with self._lock:
            self._flush()
            return self.ring.writes

    def period_marks(self, period: int, first_period: int, n_periods: int) -> np.ndarray:
        """Per period (``first_period ..``, in units of ``period``), the number of the
        ring's latest change to any of its buckets: a period reduced when
        :attr:`write_count` was w is unchanged since while its mark is <= w. A period
        with a bucket the ring does not hold now (retired, or not reached yet) has
        the largest mark: it may change without a write."""
        per_period = period // self.resolution
        with self._lock:
            self._flush()
            columns, held = self.ring.window(first_period * per_period,
                                             n_periods * per_period)
            marks = self.ring.written[columns].reshape(n_periods, per_period).max(axis=1)
            marks[~held.reshape(n_periods, per_period).all(axis=1)] = np.iinfo(np.int64).max
            return marks

    def aggregate(self, selection: Selection, period: int, first_period: int, n_periods: int,
                  aggregates: Iterable[str]) -> tuple[np.ndarray, dict, np.ndarray]:
        """Statistics of every segment of ``selection`` over ``n_periods`` periods.

        Periods are ``first_period .. first_period + n_periods - 1`` in units of
        ``period`` since the epoch.  Returns counts of shape (periods, segments),
        a dict of value arrays of that shape and the ``exact`` flags.
        """
        if period % self.resolution:
            raise StatisticsError(f"period: {period} is not a multiple of the store "
                                  f"resolution ({self.resolution} s)")
        wanted = {canonical_aggregate(a) for a in aggregates}
        with self._lock:
            self._flush()
            return self._aggregate(selection.rows, selection.starts, selection.lengths,
                                   period, first_period, n_periods, wanted)

    def _aggregate(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                   period: int, first: int, n_periods: int,
                   wanted: set[str]) -> tuple[np.ndarray, dict, np.ndarray]:
        per_period = period // self.resolution
        first_bucket = first * per_period
        n_cells = n_periods * per_period
        columns, held = self.ring.window(first_bucket, n_cells)
        fields = {"count"}.union(*(_NEEDS.get(a, ()) for a in wanted))
        cells = {f: self.ring.gather(f, first_bucket, n_cells, rows) for f in FIELDS
                 if f in fields}
        bucket_times = (first_bucket + np.arange(n_cells, dtype=np.float64)) * self.resolution
        counts, values = stats_mod.reduce_cells(cells, held, per_period, starts, lengths,
                                                wanted, bucket_times, self.resolution)
        percentiles = sorted({a for a in wanted if a.startswith("p")})
        exact = np.ones(counts.shape, dtype=bool)
        if percentiles:
            segment_of_row = np.repeat(np.arange(lengths.size), lengths)
            pvals, found = self.raw.percentiles(
                rows, segment_of_row, lengths.size, float(first * period), float(period),
                n_periods, [percentile_of(a) for a in percentiles])
            exact = found >= counts
            for name, pv in zip(percentiles, pvals):
                values[name] = np.where(counts > 0, pv, np.nan)
        return counts, values, exact

    # -- persistence -----------------------------------------------------
    def export_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """A consistent copy of the store: (JSON-able description, arrays)."""
        with self._lock:
            self._flush()
            index = self.index
            live = index.live_rows()  # forgotten rows are left out: rows are renumbered
            meta = {
                "format": 1,
                "resolution": self.resolution, "retention": self.retention,
                "max_clock_skew": self.validator.max_clock_skew,
                "max_metadata_bytes": self.validator.max_metadata_bytes,
                "raw_capacity": self.raw.capacity, "raw_meters": sorted(self._raw_meters),
                "head": self.ring.head,
                "series": [[*index.keys[row], user_id, source, unit, type_, metadata]
                           for row in live.tolist()
                           for type_, unit, user_id, source, metadata in (index.attrs[row],)],
            }
            arrays = {f: getattr(self.ring, f)[:, live] for f in FIELDS}
            arrays["bucket_of_column"] = self.ring.bucket_of_column.copy()
            dense, slots = self.raw.live_slots(live)
            arrays["raw_slot_of_row"] = dense
            arrays["raw_times"] = self.raw.times[slots]
            arrays["raw_values"] = self.raw.values[slots]
            arrays["raw_written"] = self.raw.written[slots]
            return meta, arrays

    def _restore_ring(self, head: int, arrays: Mapping[str, np.ndarray], n: int) -> None:
        """Put a snapshot's cells back by absolute bucket (its ring may be of
        another size: snapshots written before the ring covered the clock skew)."""
        ring = self.ring
        if head < 0:
            return
        ring.advance(head)  # labels every column of the window, all empty
        columns, buckets = _held_columns(arrays["bucket_of_column"], head, ring.n_buckets)
        if arrays["count"].shape != (arrays["bucket_of_column"].shape[0], n):
            raise ValueError("snapshot: bucket arrays do not match the series and columns")
        target = buckets % ring.n_buckets
        for f in FIELDS:
            getattr(ring, f)[target, :n] = arrays[f][columns]
        # reads sum totals without masking by count: an empty cell must hold zero sums
        # (older snapshots only zeroed the count of a retired cell)
        empty = ring.count[:, :n] == 0
        ring.total[:, :n][empty] = 0.0
        ring.sumsq[:, :n][empty] = 0.0
        ring.touched(slice(None))

    @classmethod
    def from_state(cls, meta: dict, arrays: Mapping[str, np.ndarray], *,
                   clock: Clock = system_clock) -> RollingStore:
        """Rebuild a store from :meth:`export_state` output."""
        series = meta["series"]
        store = cls(meta["resolution"], meta["retention"],
                    max_clock_skew=meta["max_clock_skew"],
                    max_metadata_bytes=meta["max_metadata_bytes"],
                    raw_capacity=meta["raw_capacity"], clock=clock,
                    capacity=max(1024, len(series)))
        for meter, resource_id, project_id, user_id, source, unit, type_, metadata in series:
            if type_ not in METER_TYPES:
                raise ValueError(f"snapshot: series {meter}/{resource_id} has type {type_!r}")
            store.index.add((meter, resource_id, project_id), user_id=user_id,
                            source=source, unit=unit, type_=type_, metadata=metadata)
        n = len(series)
        store.ring.ensure_rows(n)
        store._restore_ring(int(meta["head"]), arrays, n)
        store._born[:n] = bucket_of(clock(), store.resolution)  # a retention of grace
        store._raw_meters = set(meta["raw_meters"])
        raw = store.raw
        raw.ensure_rows(n)
        slots = arrays["raw_times"].shape[0]
        if slots:
            raw.track(np.flatnonzero(arrays["raw_slot_of_row"] >= 0))
            raw.slot_of_row[:n] = arrays["raw_slot_of_row"]
            raw.times[:slots] = arrays["raw_times"]
            raw.values[:slots] = arrays["raw_values"]
            raw.written[:slots] = arrays["raw_written"]
        return store


def _held_columns(bucket_of_column: np.ndarray, head: int,
                  n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns of a saved ring, their buckets) that a ring of ``n_buckets`` at ``head``
    holds: a snapshot of a ring of another size keeps what both hold."""
    saved = np.asarray(bucket_of_column, dtype=np.int64)
    held = (saved >= 0) & (saved <= head) & (saved > head - n_buckets)
    columns = np.flatnonzero(held)
    return columns, saved[columns]


def ring_buckets(resolution: int, retention: int, max_clock_skew: float) -> int:
    """Buckets the ring needs so that a batch stamped up to ``now + max_clock_skew``
    never retires a bucket of ``[now - retention, now]``.

    The newest bucket a sample can reach is at most ``ceil(skew / resolution)``
    buckets past the clock's, and the bucket of ``now - retention`` is
    ``retention / resolution`` buckets before it: both ends and all between.
    """
    return retention // resolution + math.ceil(max_clock_skew / resolution) + 1


def _unforeseen(exc: Exception) -> str:
    """The reason for a row refused by an error no check foresaw (kept short)."""
    text = f"{type(exc).__name__}: {exc}"
    if len(text) > 200:
        text = text[:197] + "..."
    return f"sample refused: {text}"


def _field_of(item: Any, *names: str) -> Any:
    """A refused row's project or meter, whether it came as a Sample or a mapping."""
    for name in names:
        try:  # a hostile row may raise on any access: it is refused, not remembered
            value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        except Exception:
            return None
        if value is not None and not isinstance(value, (dict, list)):
            return str(value)
    if isinstance(item, Mapping) and names[0] == "name":
        return _field_of(item, "counter_name")
    return None

