"""Running a pipeline: polling its sources, feeding its sinks, buffering for its publishers.

:class:`Pipeline` builds the parts of a checked
:class:`~heat_alarming.metering.pipeline.definition.PipelineDefinition` (each
part's errors prefixed with its path in the file) and runs them:

* Each source is polled every ``interval`` seconds of the pipeline's clock, the
  first time at once.  A poll that raises, or takes longer than the source's
  ``timeout``, is logged and counted, and the source is polled again after a
  backoff that doubles with each failure in a row (one interval, two, four...,
  at most :data:`MAX_BACKOFF` seconds or the interval if longer); a success
  puts it back on its interval.  A poll still running is never started again:
  a stuck collector holds its own thread only, and the source is skipped
  (counted) until the collector returns; what a timed-out poll returns late is
  dropped.
* The samples of a poll are filtered by the source's meter patterns (a mask per
  series, cached while the collector gives the same series tuple, then the
  codes), then go to each of the source's sinks: through the sink's
  transformers in order (each one's :meth:`flush` is called after it, and what
  it releases goes on through the transformers after it), then to each of the
  sink's publishers.
* Every publisher has a buffer, bounded in samples (the ``buffer_samples``
  option of its URL, :data:`~.definition.DEFAULT_BUFFER_SAMPLES` by default):
  a batch the destination refuses (:class:`PublishError`) waits there and is
  sent first next time the sink runs; when the buffer is full, its oldest
  samples are dropped and counted.  A transformer that raises anything else
  fails its sink for that batch only; a publisher that does loses that batch
  (counted as dropped) and the sink's other publishers still get it.
* :meth:`Pipeline.stats` returns every counter as data.

Two ways to drive it: :meth:`Pipeline.start` / :meth:`Pipeline.stop` run one
scheduler thread and one thread per source (never a thread that ingests or
evaluates); :meth:`Pipeline.poll_due` and :meth:`Pipeline.run_once` poll on the
caller's thread, deterministically, for tests on a
:class:`~heat_alarming.metering.clock.ManualClock` and ``heat-alarming agent
--once``.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from oslo_log import log as logging

from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline import base
from heat_alarming.metering.pipeline.base import (
    COLLECTORS,
    PUBLISHERS,
    TRANSFORMERS,
    CollectError,
    PipelineError,
    PublishError,
)
from heat_alarming.metering.pipeline.definition import (
    PipelineDefinition,
    PublisherDefinition,
    SinkDefinition,
    SourceDefinition,
)
from heat_alarming.metering.sample import Sample, SampleError, SampleValidator

LOG = logging.getLogger(__name__)

#: longest wait, in seconds, before a failing source is polled again (a source
#: whose interval is longer waits its interval)
MAX_BACKOFF = 300.0
#: the window of timestamps accepted in the Sample rows a collector returns: at most
#: this old, and this far in the future (the store that ingests them checks again)
SAMPLE_MAX_AGE = 86400.0
SAMPLE_MAX_SKEW = 300.0
#: distinct meter names whose filter decision a source remembers
MAX_CACHED_METERS = 10_000

STORE_SCHEME = "store"
NO_LOCAL_STORE = ("store:// publishes into the host's own store, and this host has none "
                  "(the standalone agent): publish to heat-engine with notifier:// instead")

#: how parts are built: ``loader(namespace, name, *args, **kwargs)``, as base.load
Loader = Callable[..., Any]


def backoff(interval: float, failures: int) -> float:
    """Seconds before polling again a source that failed ``failures`` times in a row."""
    if failures <= 0:
        return interval
    return min(interval * 2.0 ** min(failures - 1, 32), max(interval, MAX_BACKOFF))


def concat(first: SampleBatch, second: SampleBatch) -> SampleBatch:
    """One batch of the samples of both (the series of both, codes renumbered)."""
    if not len(second):
        return first
    if not len(first):
        return second
    offset = np.uint32(len(first.series))
    ids = None
    if first.ids is not None or second.ids is not None:
        ids = np.concatenate([np.zeros(len(b), np.uint64) if b.ids is None else b.ids
                              for b in (first, second)])
    return SampleBatch(first.series + second.series,
                       np.concatenate([first.codes, second.codes.astype(np.uint32) + offset]),
                       np.concatenate([first.volumes, second.volumes]),
                       np.concatenate([first.timestamps, second.timestamps]), ids)


def _error_text(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, (CollectError, PublishError)) else \
        f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


class _PublisherRunner:
    """One publisher and its bounded retry buffer (used under its sink's lock)."""

    def __init__(self, part: base.Publisher, definition: PublisherDefinition,
                 label: str) -> None:
        self.part = part
        self.definition = definition
        self.label = label
        self.limit = definition.buffer_samples
        self.pending: collections.deque[SampleBatch] = collections.deque()
        self.buffered = 0
        self.published = self.failed = self.dropped = 0
        self.last_error: str | None = None

    def send(self, batch: SampleBatch) -> None:
        """Queue ``batch`` behind what waits, then send the queue oldest first."""
        if len(batch):
            self.pending.append(batch)
            self.buffered += len(batch)
        while self.pending:
            head = self.pending[0]
            try:
                self.part.publish(head)
            except PublishError as exc:
                self.failed += 1
                self.last_error = _error_text(exc)
                LOG.warning("Publisher %s refused %d samples (%d waiting): %s", self.label,
                            len(head), self.buffered, self.last_error)
                self._bound()
                return
            except Exception as exc:
                self.failed += 1
                self.last_error = _error_text(exc)
                LOG.exception("Publisher %s failed on %d samples; they are dropped",
                              self.label, len(head))
                self.pending.popleft()
                self.buffered -= len(head)
                self.dropped += len(head)
                continue
            self.pending.popleft()
            self.buffered -= len(head)
            self.published += len(head)

    def _bound(self) -> None:
        """Drop the oldest samples beyond the buffer's size."""
        excess = self.buffered - self.limit
        lost = 0
        while excess > 0 and self.pending:
            head = self.pending[0]
            if len(head) <= excess:
                self.pending.popleft()
                taken = len(head)
            else:
                keep = np.ones(len(head), dtype=bool)
                keep[:excess] = False
                self.pending[0] = head.take(keep)
                taken = excess
            excess -= taken
            lost += taken
        if lost:
            self.buffered -= lost
            self.dropped += lost
            LOG.warning("Publisher %s: buffer of %d samples full, dropped the %d oldest",
                        self.label, self.limit, lost)

    def abandon(self) -> None:
        """Count what still waits as dropped (the pipeline stops)."""
        if self.buffered:
            LOG.warning("Publisher %s: %d samples never published", self.label,
                        self.buffered)
            self.dropped += self.buffered
        self.pending.clear()
        self.buffered = 0

    def stats(self) -> dict[str, Any]:
        return {"url": _shown(self.definition.url), "published": self.published,
                "failed": self.failed, "buffered": self.buffered, "dropped": self.dropped,
                "last_error": self.last_error}


class _SinkRunner:
    """A sink's transformers and publishers, run by one thread at a time."""

    def __init__(self, definition: SinkDefinition, transformers: list[base.Transformer],
                 publishers: list[_PublisherRunner]) -> None:
        self.definition = definition
        self.transformers = transformers
        self.publishers = publishers
        self.lock = threading.Lock()
        self.batches = self.samples = self.failures = 0
        self.last_error: str | None = None

    def run(self, batch: SampleBatch, now: float, wait: float = -1) -> bool:
        """Transform ``batch`` (empty: only flush) and publish what comes out; False if
        the sink stayed busy for ``wait`` seconds (-1: as long as it takes)."""
        if not self.lock.acquire(timeout=wait):
            return False
        try:
            out = batch
            try:
                for transformer in self.transformers:
                    passed = transformer.transform(out, now) if len(out) else out
                    held = transformer.flush(now)
                    for what, value in (("transform", passed), ("flush", held)):
                        if not isinstance(value, SampleBatch):
                            raise TypeError(f"{type(transformer).__name__}.{what} returned "
                                            f"{type(value).__name__}, not a SampleBatch")
                    out = concat(passed, held)
            except Exception as exc:
                self.failures += 1
                self.last_error = _error_text(exc)
                LOG.exception("Sink %s failed on a batch of %d samples; it is dropped",
                              self.definition.name, len(batch))
                out = SampleBatch.empty()
            if len(out):
                self.batches += 1
                self.samples += len(out)
            for publisher in self.publishers:
                publisher.send(out)
        finally:
            self.lock.release()
        return True

    def stats(self) -> dict[str, Any]:
        """The sink's counters, and its transformers' that count something, keyed by
        their place in the sink (``transformers[0]``) with their ``name``."""
        counted = {}
        for i, (t, transformer) in enumerate(zip(self.definition.transformers,
                                                 self.transformers)):
            counters = transformer.counters()
            if counters:
                counted[f"transformers[{i}]"] = {"name": t.name, **counters}
        return {"batches": self.batches, "samples": self.samples, "failures": self.failures,
                "last_error": self.last_error, "transformers": counted}


@dataclasses.dataclass(eq=False)
class _SourceRunner:
    """A source's collector, schedule and counters (guarded by the pipeline's lock)."""

    definition: SourceDefinition
    collector: base.Collector
    sinks: list[_SinkRunner]
    next_due: float | None = None
    failures_in_row: int = 0
    busy: bool = False           # a poll (collect and sinks) is under way
    collecting_since: float | None = None
    timed_out: bool = False      # the poll under way was counted as timed out
    requested: float | None = None
    polls: int = 0
    failures: int = 0
    timeouts: int = 0
    skipped: int = 0
    samples: int = 0
    rejected: int = 0
    filtered: int = 0
    last_error: str | None = None
    last_rejection: str | None = None
    last_poll: float | None = None
    thread: threading.Thread | None = None
    wakeup: threading.Event = dataclasses.field(default_factory=threading.Event)
    _cached_series: tuple | None = None
    _cached_mask: np.ndarray | None = None
    _meter_ok: dict[str, bool] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    def keep_mask(self, series: tuple) -> np.ndarray:
        """Per series of the tuple, whether its meter passes (cached for the tuple)."""
        if series is not self._cached_series:
            decided = self._meter_ok
            if len(decided) > MAX_CACHED_METERS:
                decided.clear()
            supports = self.definition.supports
            mask = np.empty(len(series), dtype=bool)
            for i, descriptor in enumerate(series):
                ok = decided.get(descriptor.name)
                if ok is None:
                    ok = decided[descriptor.name] = supports(descriptor.name)
                mask[i] = ok
            self._cached_series, self._cached_mask = series, mask
        return self._cached_mask

    def stats(self) -> dict[str, Any]:
        return {"polls": self.polls, "failures": self.failures, "timeouts": self.timeouts,
                "skipped": self.skipped, "samples": self.samples, "rejected": self.rejected,
                "filtered": self.filtered, "last_error": self.last_error,
                "last_rejection": self.last_rejection, "last_poll": self.last_poll,
                "next_poll": self.next_due, "failures_in_row": self.failures_in_row,
                "busy": self.busy}


class Pipeline:
    """The parts of ``definition``, built and ready to poll.

    ``local`` is the host's ingest (a callable taking a SampleBatch into its
    store), given to every publisher as ``local=``; without it a ``store://``
    publisher is refused.  ``loader`` builds the parts (:func:`base.load` by
    default; tests pass one that knows their own classes).  ``validator`` checks
    the Sample rows a collector returns (bad rows are counted and dropped).
    Raises :class:`PipelineError` naming the path of a part that cannot be built
    (those already built are closed).
    """

    def __init__(self, definition: PipelineDefinition, *, clock: Clock = system_clock,
                 local: Callable[[SampleBatch], Any] | None = None,
                 loader: Loader | None = None,
                 validator: SampleValidator | None = None) -> None:
        self.definition = definition
        self.clock = clock
        self.local = local
        self.validator = validator or SampleValidator(SAMPLE_MAX_AGE, SAMPLE_MAX_SKEW)
        self._loader = loader or base.load
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._changed = threading.Condition()  # notified when a poll ends or a tick ran
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._stopped = False
        self._built: list[Any] = []
        try:
            self._sinks = {s.name: self._build_sink(s) for s in definition.sinks}
            self._sources = [self._build_source(s) for s in definition.sources]
        except BaseException:
            self._close_parts()
            raise

    # -- building ----------------------------------------------------------------------
    def _part(self, namespace: str, name: str, name_path: str, parameters_path: str,
              *args: Any, **kwargs: Any) -> Any:
        kind = {COLLECTORS: "collector", TRANSFORMERS: "transformer",
                PUBLISHERS: "publisher"}[namespace]
        try:
            part = self._loader(namespace, name, *args, **kwargs)
        except PipelineError as exc:
            # the loader names the part's name "name" when it knows no such part
            # (or cannot import it); any other field is one of the part's parameters
            if exc.field == "name":
                raise PipelineError(name_path, exc.reason) from None
            raise exc.within(parameters_path) from None
        except Exception as exc:
            raise PipelineError(parameters_path, f"the {kind} {name!r} could not be built "
                                                 f"({_error_text(exc)})") from None
        self._built.append(part)
        return part

    def _build_sink(self, sink: SinkDefinition) -> _SinkRunner:
        transformers = [self._part(TRANSFORMERS, t.name, f"{t.path}.name",
                                   f"{t.path}.parameters", t.parameters, clock=self.clock)
                        for t in sink.transformers]
        publishers = []
        for p in sink.publishers:
            if p.scheme == STORE_SCHEME and self.local is None:
                raise PipelineError(p.path, NO_LOCAL_STORE)
            part = self._part(PUBLISHERS, p.scheme, p.path, p.path, p.target, dict(p.options),
                              local=self.local)
            publishers.append(_PublisherRunner(part, p, f"{sink.name}:{_shown(p.url)}"))
        return _SinkRunner(sink, transformers, publishers)

    def _build_source(self, source: SourceDefinition) -> _SourceRunner:
        collector = self._part(COLLECTORS, source.collector, f"{source.path}.collector",
                               f"{source.path}.parameters", source.parameters,
                               resources=source.resources, clock=self.clock)
        return _SourceRunner(source, collector, [self._sinks[n] for n in source.sinks])

    def _close_parts(self) -> None:
        for part in self._built:
            close = getattr(part, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                LOG.exception("Closing %s failed", type(part).__name__)
        self._built = []

    # -- polling on the caller's thread --------------------------------------------------
    def poll_due(self, now: float | None = None) -> list[str]:
        """Poll, on this thread, every source due at ``now`` (the clock's by default);
        the names of the sources polled."""
        now = self.clock() if now is None else now
        return self._inline([s for s in self._sources if self._due(s, now)], now)

    def run_once(self, now: float | None = None) -> list[str]:
        """Poll every source once on this thread, due or not (``agent --once``)."""
        now = self.clock() if now is None else now
        return self._inline(list(self._sources), now)

    def next_poll(self) -> float | None:
        """When the next poll is due (None: a source was never polled, so now)."""
        with self._lock:
            dues = [s.next_due for s in self._sources]
        return None if None in dues else min(dues)

    def _inline(self, sources: list[_SourceRunner], now: float) -> list[str]:
        if self._scheduler is not None:
            raise RuntimeError("the pipeline polls on its own threads (start() was called)")
        if self._stopped:
            raise RuntimeError("the pipeline is stopped")
        polled = []
        for source in sources:
            with self._lock:
                if source.busy:
                    continue
                self._begin(source, now)
            self._poll(source, now)
            polled.append(source.name)
        return polled

    def _due(self, source: _SourceRunner, now: float) -> bool:
        return source.next_due is None or source.next_due <= now

    def _begin(self, source: _SourceRunner, now: float) -> None:
        """Mark a poll at ``now`` started and schedule the next (under the lock)."""
        interval = source.definition.interval
        due = source.next_due
        if due is None or due > now:
            source.next_due = now + interval
        else:  # the next tick of the source's grid after now
            source.next_due = due + interval * (math.floor((now - due) / interval) + 1)
        source.busy = True
        source.timed_out = False
        source.collecting_since = self.clock()
        source.polls += 1
        source.last_poll = now

    def _poll(self, source: _SourceRunner, now: float) -> None:
        """Collect, then run the sinks; the outcome is counted (any thread)."""
        started = source.collecting_since
        batch, error, rejected = None, None, (0, None)
        try:
            result = source.collector.collect(now)
            batch, rejected = self._batch_of(result, now)
        except CollectError as exc:
            error = _error_text(exc)
            LOG.warning("Source %s: poll failed: %s", source.name, error)
        except Exception as exc:
            error = _error_text(exc)
            LOG.exception("Source %s: the collector failed", source.name)
        try:
            batch = self._count(source, now, started, batch, error, rejected)
        except BaseException:
            with self._lock:
                source.busy = False
            raise
        try:
            for sink in source.sinks:
                sink.run(batch if batch is not None else SampleBatch.empty(), now)
        finally:
            with self._lock:
                source.busy = False
            self._wake.set()
            self._notify()

    def _count(self, source: _SourceRunner, now: float, started: float,
               batch: SampleBatch | None, error: str | None,
               rejected: tuple[int, str | None]) -> SampleBatch | None:
        """Count a poll's outcome; the batch to pass to the sinks (None: nothing)."""
        took = self.clock() - started  # on the clock; the poll ends ``took`` after ``now``
        finished = now + took
        with self._lock:
            source.collecting_since = None
            timeout = source.definition.timeout
            late = took > timeout
            if source.timed_out or late:
                if not source.timed_out:  # noticed here, on the caller's thread
                    self._count_timeout(source, finished, took)
                LOG.warning("Source %s: a poll returned after %.3g s, beyond its timeout of "
                            "%g s; its samples are dropped", source.name, took,
                            timeout)
                batch = None
            elif error is not None:
                source.failures += 1
                source.failures_in_row += 1
                source.last_error = error
                source.next_due = finished + backoff(source.definition.interval,
                                                     source.failures_in_row)
            else:
                source.failures_in_row = 0
                n_rejected, reason = rejected
                if n_rejected:
                    source.rejected += n_rejected
                    source.last_rejection = reason
            if batch is not None and len(batch) and source.definition.meters != ("*",):
                keep = source.keep_mask(batch.series)[batch.codes]
                if not keep.all():
                    source.filtered += int(keep.size - np.count_nonzero(keep))
                    batch = batch.take(keep)
            if batch is not None:
                source.samples += len(batch)
        if rejected[0]:
            LOG.warning("Source %s: %d samples refused, the first: %s", source.name,
                        rejected[0], rejected[1])
        return batch

    def _count_timeout(self, source: _SourceRunner, now: float, took: float) -> None:
        source.timed_out = True
        source.timeouts += 1
        source.failures_in_row += 1
        source.last_error = (f"no answer after {took:.3g} s (timeout "
                             f"{source.definition.timeout:g} s)")
        source.next_due = now + backoff(source.definition.interval, source.failures_in_row)

    def _batch_of(self, result: Any, now: float) -> tuple[SampleBatch, tuple[int, str | None]]:
        """The poll's batch, and (rows refused, the first reason)."""
        if isinstance(result, SampleBatch):
            if len(result) and int(result.codes.max()) >= len(result.series):
                raise CollectError("the collector's batch has a code that names no series")
            return result, (0, None)
        if result is None or isinstance(result, (str, bytes, Mapping)) or not isinstance(
                result, Iterable):
            raise CollectError(f"the collector returned {type(result).__name__}, not a "
                               f"SampleBatch or samples")
        validator = self.validator
        good: list[Sample] = []
        refused, first = 0, None
        for row in result:
            try:
                if not isinstance(row, Sample):
                    raise SampleError("sample", type(row).__name__, "must be a Sample")
                validator.check_identity(row)
                volume = validator.check_volume(row.volume)
                timestamp = validator.check_timestamp(row.timestamp, now)
                validator.check_metadata(row.resource_metadata)
            except SampleError as exc:
                refused += 1
                first = first or str(exc)
                continue
            if volume is not row.volume or timestamp is not row.timestamp:
                row = dataclasses.replace(row, volume=volume, timestamp=timestamp)
            good.append(row)
        return SampleBatch.from_samples(good, now), (refused, first)

    # -- polling on threads ---------------------------------------------------------------
    def start(self) -> Pipeline:
        """Poll on threads: a scheduler, and one thread per source."""
        if self._stopped:
            raise RuntimeError("the pipeline is stopped")
        if self._scheduler is not None:
            return self
        for source in self._sources:
            source.thread = threading.Thread(target=self._source_loop, args=(source,),
                                             name=f"pipeline-source-{source.name}",
                                             daemon=True)
            source.thread.start()
        self._scheduler = threading.Thread(target=self._schedule, name="pipeline-scheduler",
                                           daemon=True)
        self._scheduler.start()
        return self

    def wake(self) -> None:
        """Read the clock again now (a test calls it after moving a ManualClock)."""
        self._wake.set()

    def _schedule(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            now = self.clock()
            deadline = math.inf
            with self._lock:
                for source in self._sources:
                    try:
                        deadline = min(deadline, self._tick(source, now))
                    except Exception:  # a bug; the other sources keep their schedule
                        LOG.exception("Source %s: scheduling failed", source.name)
                        source.next_due = now + backoff(source.definition.interval, 1)
                        deadline = min(deadline, source.next_due)
            self._notify()
            if self._stopping.is_set():
                break
            wait = deadline - self.clock()
            if wait > 0:
                self._wake.wait(None if math.isinf(wait) else wait)

    def _tick(self, source: _SourceRunner, now: float) -> float:
        """Start, time out or skip ``source`` at ``now`` (under the lock); when to look again."""
        timeout = source.definition.timeout
        if source.busy:
            since = source.collecting_since
            if since is not None and not source.timed_out and now - since >= timeout:
                self._count_timeout(source, now, now - since)
                LOG.warning("Source %s: no answer after %g s; polled again when it returns, "
                            "after %g s", source.name, timeout, source.next_due - now)
            if source.next_due is not None and source.next_due <= now:
                source.skipped += 1
                source.next_due = now + backoff(source.definition.interval,
                                                max(source.failures_in_row, 1))
                LOG.warning("Source %s: its last poll is still running; skipped",
                            source.name)
            if since is not None and not source.timed_out:
                return min(since + timeout, source.next_due)
            return source.next_due
        if self._due(source, now):
            self._begin(source, now)
            source.requested = now
            source.wakeup.set()
        return source.next_due

    def _source_loop(self, source: _SourceRunner) -> None:
        while True:
            source.wakeup.wait()
            source.wakeup.clear()
            if self._stopping.is_set():
                return
            with self._lock:
                now = source.requested
                source.requested = None
            if now is None:
                continue
            try:
                self._poll(source, now)
            except Exception:  # a sink's publisher raising is counted there; this is a bug
                LOG.exception("Source %s: the poll failed", source.name)

    # -- stopping -----------------------------------------------------------------------
    def stop(self, timeout: float | None = None) -> None:
        """Stop polling, flush every sink's transformers into its publishers, retry
        their buffers once, count what is left as dropped, and close the parts.

        ``timeout`` (the longest source timeout by default) bounds the whole stop, in
        real seconds whatever the pipeline's clock: one deadline shared by the joins
        of the threads and the sinks' flushes, each waiting only for what remains of
        it. A collector stuck beyond it is closed under its thread; a sink still busy
        at the deadline is not flushed (logged).
        """
        if self._stopped:
            return
        self._stopping.set()
        self._wake.set()
        wait = max(s.definition.timeout for s in self._sources) if timeout is None \
            else timeout
        deadline = time.monotonic() + wait

        def remaining() -> float:
            return max(deadline - time.monotonic(), 0.0)

        threads = [self._scheduler] + [s.thread for s in self._sources]
        for source in self._sources:
            source.wakeup.set()
        for thread in threads:
            if thread is not None:
                thread.join(remaining())
                if thread.is_alive():
                    LOG.warning("Thread %s still busy at stop", thread.name)
        self._stopped = True
        now = self.clock()
        for sink in self._sinks.values():
            if not sink.run(SampleBatch.empty(), now, remaining()):
                LOG.warning("Sink %s still busy at stop; not flushed", sink.definition.name)
                continue
            with sink.lock:
                for publisher in sink.publishers:
                    publisher.abandon()
        self._close_parts()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- counters -------------------------------------------------------------------------
    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float) -> bool:
        """Wait until ``predicate(self.stats())`` holds (checked after every poll and
        every scheduler pass), at most ``timeout`` seconds; whether it held."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.stats()), timeout)

    def stats(self) -> dict[str, Any]:
        """Every counter: ``{"sources": {name: {...}}, "sinks": {name: {...}},
        "publishers": {"<sink>.publishers[<i>]": {...}}}``."""
        with self._lock:
            sources = {s.name: s.stats() for s in self._sources}
        sinks, publishers = {}, {}
        for name, sink in self._sinks.items():  # counters read as they are: no waiting
            sinks[name] = sink.stats()        # on a sink whose publisher is slow
            for i, publisher in enumerate(sink.publishers):
                publishers[f"{name}.publishers[{i}]"] = publisher.stats()
        return {"sources": sources, "sinks": sinks, "publishers": publishers}


_SECRET_WORDS = ("secret", "password", "token", "key")


def _shown(url: str) -> str:
    """The URL without its password or the values of secret query options, for logs
    and counters."""
    parts = urlsplit(url)
    head, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority:
        user = authority.rpartition("@")[0].partition(":")[0]
        rest = f"{user}:***@{authority.rpartition('@')[2]}" + rest[len(authority):]
    if parts.query and any(w in parts.query.lower() for w in _SECRET_WORDS):
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(f"{k}=***" if any(w in k.lower() for w in _SECRET_WORDS)
                         else f"{k}={v}" for k, v in pairs)
        rest = rest.partition("?")[0] + "?" + query
    return f"{head}{sep}{rest}"
