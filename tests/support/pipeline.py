"""Pipeline parts for tests, and a way to make them loadable.

The parts stand in for collectors, transformers and publishers whose behaviour a
test must steer (fail now, refuse now, take this long); the real ones are the
other modules' and are tested there.  :class:`PartLoader` is what a test gives
:class:`~heat_alarming.metering.pipeline.runner.Pipeline` as ``loader``: it
builds these classes by name and keeps every part it built, so the test can
steer it.  :func:`plugin_path` writes a distribution's metadata that registers
some of them as entry points, for a ``heat-alarming agent`` subprocess whose
``PYTHONPATH`` holds it.
"""
from __future__ import annotations

import json
import pathlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import system_clock
from heat_alarming.metering.pipeline.base import (
    COLLECTORS,
    PUBLISHERS,
    TRANSFORMERS,
    CollectError,
    Collector,
    PipelineError,
    Publisher,
    PublishError,
    Transformer,
)
from heat_alarming.metering.pipeline.transformers import Aggregator
from heat_alarming.metering.sample import Sample

#: longest a test part ever blocks (a test that forgets to release one fails, not hangs)
MAX_BLOCK = 30.0


class ScriptedCollector(Collector):
    """One gauge sample per meter and resource at every poll, the same series tuple
    each time.  Parameters: ``meters`` (names), ``resources`` (count), ``value``.
    A test steers it: ``fail`` (raise CollectError), ``crash`` (raise RuntimeError),
    ``takes`` (seconds its collect moves the ManualClock), ``gate`` (cleared: collect
    waits until it is set)."""

    def __init__(self, parameters: Mapping[str, Any], *, resources=(), clock=system_clock):
        super().__init__(parameters, resources=resources, clock=clock)
        for key in self.parameters:
            if key not in ("meters", "resources", "value"):
                raise PipelineError(key, "unknown parameter")
        meters = self.parameters.get("meters", ["load"])
        count = self.parameters.get("resources", 2)
        if not isinstance(count, int) or count < 1:
            raise PipelineError("resources", "must be a whole number of resources")
        self.value = float(self.parameters.get("value", 1.0))
        self.series = tuple(SeriesDescriptor(m, f"r{i}", "p1", "gauge", "", None, "test", {})
                            for m in meters for i in range(count))
        self.codes = np.arange(len(self.series), dtype=np.uint32)
        self.fail = False
        self.crash = False
        self.takes = 0.0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # set when a collect begins
        self.calls: list[float] = []
        self.closed = False

    def collect(self, now: float) -> SampleBatch:
        self.calls.append(now)
        self.entered.set()
        if not self.gate.wait(MAX_BLOCK):
            raise AssertionError("a test left a collector blocked")
        if self.takes:
            self.clock.advance(self.takes)
        if self.crash:
            raise RuntimeError("collector bug")
        if self.fail:
            raise CollectError("source down")
        n = len(self.series)
        return SampleBatch(self.series, self.codes, np.full(n, self.value), np.full(n, now))

    def close(self) -> None:
        self.closed = True


class DownCollector(Collector):
    """A source that is always down (its poll raises CollectError)."""

    def collect(self, now: float):
        raise CollectError("source down: connection refused")


class RowsCollector(Collector):
    """Returns Sample rows (parameter ``rows``: mappings for Sample.from_dict, or any
    value to return as it is), stamped at the poll's time when they carry none."""

    def collect(self, now: float):
        rows = self.parameters.get("rows", [])
        return [Sample.from_dict(r) if isinstance(r, dict) else r for r in rows] \
            if isinstance(rows, list) else rows


class ScaleTransformer(Transformer):
    """Multiplies every volume by ``factor``; ``crash`` (steered) raises."""

    def __init__(self, parameters, *, clock=system_clock):
        super().__init__(parameters, clock=clock)
        factor = self.parameters.get("factor", 1.0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise PipelineError("factor", "must be a number")
        self.factor = float(factor)
        self.crash = False
        self.seen: list[int] = []

    def transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        self.seen.append(len(batch))
        if self.crash:
            raise RuntimeError("transformer bug")
        return SampleBatch(batch.series, batch.codes, batch.volumes * self.factor,
                           batch.timestamps, batch.ids)


class HoldingTransformer(Transformer):
    """Holds every sample back until :meth:`flush` (a window that closes at stop)."""

    def __init__(self, parameters, *, clock=system_clock):
        super().__init__(parameters, clock=clock)
        self.held: list[SampleBatch] = []
        self.release = False

    def transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        self.held.append(batch)
        return SampleBatch.empty()

    def flush(self, now: float) -> SampleBatch:
        if not self.release or not self.held:
            return SampleBatch.empty()
        out, self.held = self.held, []
        return out[0] if len(out) == 1 else SampleBatch(
            out[0].series, np.concatenate([b.codes for b in out]),
            np.concatenate([b.volumes for b in out]),
            np.concatenate([b.timestamps for b in out]))


class RecordingPublisher(Publisher):
    """Keeps what it is given; steered: ``refuse`` (raise PublishError), ``crash``
    (raise RuntimeError), ``gate`` (cleared: publish waits)."""

    def __init__(self, url, options=None, *, local=None):
        super().__init__(url, options, local=local)
        self.batches: list[SampleBatch] = []
        self.refuse = False
        self.crash = False
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False
        self._arrived = threading.Condition()

    @property
    def samples(self) -> int:
        return sum(len(b) for b in self.batches)

    def publish(self, batch: SampleBatch) -> None:
        if not self.gate.wait(MAX_BLOCK):
            raise AssertionError("a test left a publisher blocked")
        if self.crash:
            raise RuntimeError("publisher bug")
        if self.refuse:
            raise PublishError("destination down")
        with self._arrived:
            self.batches.append(batch)
            self._arrived.notify_all()

    def wait_for(self, samples: int, timeout: float = 10.0) -> bool:
        """Until at least ``samples`` samples were published (False after ``timeout``)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.samples >= samples, timeout)

    def close(self) -> None:
        self.closed = True


class JsonLinesPublisher(Publisher):
    """Appends one JSON line per batch to the file of its URL (``jsonl:///path``): the
    samples' meter names and volumes.  For agent subprocess tests."""

    def __init__(self, url, options=None, *, local=None):
        super().__init__(url, options, local=local)
        self.path = pathlib.Path(url.partition("://")[2])
        if not self.path.is_absolute():
            raise PipelineError("path", "must be absolute (jsonl:///path)")

    def publish(self, batch: SampleBatch) -> None:
        line = json.dumps({"names": sorted(set(batch.names)), "samples": len(batch),
                           "time": time.time()})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class PartLoader:
    """``loader(namespace, name, *args, **kwargs)`` building the test parts above by
    name; ``parts[name]`` lists what it built under that name, in order."""

    KNOWN = {
        COLLECTORS: {"scripted": ScriptedCollector, "rows": RowsCollector,
                     "down": DownCollector},
        # (and one real transformer, for what the runner does with its counters and
        # its close at stop)
        TRANSFORMERS: {"scale": ScaleTransformer, "holding": HoldingTransformer,
                       "aggregator": Aggregator},
        PUBLISHERS: {"record": RecordingPublisher, "jsonl": JsonLinesPublisher},
    }

    def __init__(self) -> None:
        self.parts: dict[str, list[Any]] = {}

    def __call__(self, namespace: str, name: str, *args: Any, **kwargs: Any) -> Any:
        known = self.KNOWN[namespace]
        if name not in known:
            raise PipelineError("name", f"no part {name!r} (known: {', '.join(known)})")
        part = known[name](*args, **kwargs)
        self.parts.setdefault(name, []).append(part)
        return part

    def one(self, name: str) -> Any:
        (part,) = self.parts[name]
        return part


def plugin_path(directory: pathlib.Path) -> pathlib.Path:
    """A directory to put on ``PYTHONPATH`` (beside the project) in which the
    ``jsonl`` and ``record`` publishers and the ``scripted`` and ``down`` collectors
    are entry points."""
    info = directory / "heat_alarming_test_parts-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: heat-alarming-test-parts\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(
        "[heat_alarming.publishers]\n"
        "jsonl = tests.support.pipeline:JsonLinesPublisher\n"
        "record = tests.support.pipeline:RecordingPublisher\n"
        "[heat_alarming.collectors]\n"
        "scripted = tests.support.pipeline:ScriptedCollector\n"
        "down = tests.support.pipeline:DownCollector\n")
    return directory


def source(name: str = "s", *, interval: float = 10, sinks=("out",), **more) -> dict:
    """A source of the pipeline file, a ``scripted`` collector by default."""
    return {"name": name, "collector": more.pop("collector", "scripted"),
            "interval": interval, "sinks": list(sinks), **more}


def sink(name: str = "out", *, publishers=("record://",), transformers=()) -> dict:
    """A sink of the pipeline file, one ``record://`` publisher by default."""
    return {"name": name, "publishers": list(publishers),
            "transformers": [t if isinstance(t, dict) else {"name": t} for t in transformers]}


def build(clock, sources, sinks, **kwargs):
    """(a Pipeline of these sources and sinks built from the test parts, its loader)."""
    from heat_alarming.metering.pipeline.definition import parse
    from heat_alarming.metering.pipeline.runner import Pipeline

    loader = PartLoader()
    return Pipeline(parse({"sources": list(sources), "sinks": list(sinks)}), clock=clock,
                    loader=loader, **kwargs), loader
