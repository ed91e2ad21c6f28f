"""What a collector, a transformer and a publisher promise, and how they are loaded.

Samples move through a pipeline as :class:`~heat_alarming.metering.batch.SampleBatch`
columns (volumes, timestamps, a series code per sample), never as one Python
object per sample:

* a :class:`Collector` makes one batch each time its source is polled;
* each :class:`Transformer` of a sink turns a batch into another (keeping, where
  it must, state between batches: the previous value of a counter);
* each :class:`Publisher` of the sink sends the transformed batch on.

The parts are loaded by name from entry points, as Ceilometer and Aodh load theirs
through stevedore: ``heat_alarming.collectors``, ``heat_alarming.transformers`` and
``heat_alarming.publishers``.  Every part is built once, from the mapping the
pipeline file gives it, and checks that mapping in its constructor: a bad value
raises :class:`PipelineError` naming the parameter and the reason, before any
polling starts.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.sample import Sample

COLLECTORS = "heat_alarming.collectors"
TRANSFORMERS = "heat_alarming.transformers"
PUBLISHERS = "heat_alarming.publishers"
_KINDS = {COLLECTORS: "collector", TRANSFORMERS: "transformer", PUBLISHERS: "publisher"}


class PipelineError(ValueError):
    """A pipeline definition (or one part's parameters) that cannot run.

    ``field`` is the path of the offending value in the pipeline file
    (``sources[0].interval``, ``sinks[1].transformers[0].parameters.scale``);
    a part raising it from its constructor names the parameter alone
    (``scale``), and the loader prefixes the path.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def within(self, prefix: str) -> PipelineError:
        """The same error, its field under ``prefix``."""
        return PipelineError(f"{prefix}.{self.field}" if self.field else prefix, self.reason)


class CollectError(RuntimeError):
    """A poll that failed (source down, timed out, answered nonsense); the poller
    logs it, counts it and retries the source with backoff."""


class PublishError(RuntimeError):
    """A batch the destination did not take; the pipeline keeps it in a bounded
    buffer and retries, dropping (and counting) the oldest when the buffer is full."""


class Collector(abc.ABC):
    """Makes the samples of one source.

    Built once per source with the source's ``parameters`` (checked here) and the
    pipeline's clock.  :meth:`collect` is called by the source's poller, never
    concurrently with itself and never on a thread that ingests or evaluates; it
    may block on I/O up to ``timeout`` seconds (a parameter every network
    collector accepts) and raises :class:`CollectError` when the source fails.
    Answers from the source are untrusted: a collector bounds what it reads
    (bytes, series, samples) and refuses the rest with a reason.
    ``resources``, when the pipeline file lists them, are the source's resources
    to poll (their meaning is the collector's: URLs, resource ids, hosts).
    """

    #: the names of the parameters the collector knows (any other is refused here)
    PARAMETERS: tuple[str, ...] = ()

    def __init__(self, parameters: Mapping[str, Any], *, resources: Iterable[str] = (),
                 clock: Clock = system_clock) -> None:
        self.parameters = dict(parameters)
        self.resources = tuple(resources)
        self.clock = clock
        for name in self.parameters:
            if self.PARAMETERS and name not in self.PARAMETERS:
                raise PipelineError(str(name), "unknown parameter (known: "
                                               f"{', '.join(sorted(self.PARAMETERS))})")

    @abc.abstractmethod
    def collect(self, now: float) -> SampleBatch | Iterable[Sample]:
        """The samples of one poll at ``now`` (a batch, or samples the poller batches)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections; called once when the pipeline stops."""


class Transformer(abc.ABC):
    """Turns a batch into a batch, whole-array.

    Built once per sink with the transformer's ``parameters`` (checked here).
    :meth:`transform` never changes its input's arrays; it returns the batch to
    pass on (the input itself when nothing applies, a new batch otherwise) and
    may keep state between batches, keyed by series (its memory bounded by the
    series it has seen, forgotten after ``max_age`` seconds without a sample
    where a parameter of that name exists).  :meth:`flush` returns what the
    transformer holds back for a window of time (an aggregation) once ``now``
    has passed it; transformers that hold nothing return an empty batch.
    :meth:`counters` reports what the transformer counted (samples it left out and
    why); the pipeline shows them in ``stats()["sinks"][sink]["transformers"]``.
    """

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        self.parameters = dict(parameters)
        self.clock = clock

    @abc.abstractmethod
    def transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        """The batch to pass on."""

    def flush(self, now: float) -> SampleBatch:
        """Samples held back whose window has closed by ``now``."""
        return SampleBatch.empty()

    def counters(self) -> dict[str, int]:
        """What this transformer counted, by name (none by default)."""
        return {}


class Publisher(abc.ABC):
    """Sends batches to one destination, named by a URL (``store://``,
    ``notifier://``, ``http://...``, ``file:///...``).

    Built once per sink with the URL, the options of its query string, and
    ``local``: the callable by which the pipeline's host takes a batch into its
    own store (``RollingStore.ingest_batch`` for a library user, the worker's
    ingest inside heat-engine; None where the host has no store, as in the
    standalone agent).  :meth:`publish` sends one batch or raises
    :class:`PublishError`; it is called from one thread at a time.  Buffering,
    retries and drop counting are the pipeline's, not each publisher's.
    """

    def __init__(self, url: str, options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None) -> None:
        self.url = url
        self.options = dict(options or {})
        self.local = local

    @abc.abstractmethod
    def publish(self, batch: SampleBatch) -> None:
        """Send ``batch``; raise :class:`PublishError` if the destination refused it."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Flush and release connections; called once when the pipeline stops."""


def load(namespace: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Build the part ``name`` of ``namespace`` (one of the three entry-point groups).

    An unknown name raises :class:`PipelineError` listing the known ones; an error
    the part's constructor raises is passed on.  The entry points are read from the
    installed distributions at each call (stevedore's cache of them would miss a
    plugin made importable since, as a test's or an operator's new path).
    """
    from importlib.metadata import entry_points

    kind = _KINDS.get(namespace, namespace)
    if not isinstance(name, str) or not name:
        raise PipelineError("name", f"must name a {kind}")
    found = {ep.name: ep for ep in entry_points(group=namespace)}
    if name not in found:
        raise PipelineError("name", f"no {kind} {name!r} (known: "
                                    f"{', '.join(sorted(found)) or 'none'})")
    try:
        part = found[name].load()
    except Exception as exc:  # installed, but its module does not import here
        raise PipelineError("name", f"the {kind} {name!r} could not be loaded "
                                    f"({type(exc).__name__}: {exc})") from None
    return part(*args, **kwargs)
