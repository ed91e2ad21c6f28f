"""The pipeline, poll -> transform -> publish -> store, and each source's polling share.

One function per case; ``--only NAME`` runs one (``--list`` names them). Cases:

* ``pipeline_transform_store_samples_per_s``: a pipeline file's source (the
  ``synthetic`` collector: ``--resources`` (10,000) servers x 5 meters: ``cpu`` in
  ns, ``memory.usage`` and ``memory`` in MB, ``disk.device.read.bytes`` and
  ``network.incoming.bytes``) and its sink (``cpu_util``, ``memory_util`` and
  ``rate_of_change`` for the disk and network counters, then ``store://`` into a
  ``RollingStore`` of 10 s buckets and 600 s retention), run by ``Pipeline.run_once``
  on a manual clock 10 s apart, after the store's ring has gone round once. The
  collector's own time is measured inside the run and taken out: what is left is
  the meter filter, the three transformers and the store's ingest. Samples per
  second are the collected samples (50,000 a poll) over that time; median of
  ``--polls`` (20) polls. Target: >= 1,000,000. (The ring's first pass over memory it
  has never touched costs page faults; its median is printed on stderr.)
* ``pipeline_poll_synthetic_samples_per_s``: the same collector's polls alone.
* ``prometheus_instant_*``: the Prometheus collector's share, the stages of
  benchmarks/bench_prometheus.py for an instant answer of ``--series`` (10,000)
  series served on loopback: the parse, the mapping to a batch (first and later
  polls), the HTTP exchange and the whole poll (``prometheus_instant_poll_samples_per_s``).
* ``gnocchi_collect_samples_per_s`` and ``gnocchi_real_poll_samples_per_s``: the
  Gnocchi collector's share, the cases of benchmarks/bench_gnocchi_collect.py (a
  loopback stand-in's prebuilt answers for 1,000 resources x 60 points, and a first
  poll of the real Gnocchi of tools/ensure-gnocchi.sh).
* ``ceilometer_pipeline_samples_per_s`` and ``RATIO pipeline_vs_ceilometer``:
  Ceilometer's own sample pipeline (``SamplePipelineManager`` with a ``meters: ["*"]``
  source and its ``test://`` publisher, which only keeps the list) given the same
  50,000 samples as Ceilometer ``Sample`` objects built before the clock starts,
  against our transform-and-store time above. Ceilometer has no transformers since
  its 2023 release, so its side does less work than ours.

Run with ``python benchmarks/bench_pipeline.py`` (about a minute).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import progress, ratio, result  # noqa: E402

T0 = 1_767_225_600.0
STEP = 10.0
RETENTION = 600
WARMUP = 3
METERS = {
    "cpu": {"type": "cumulative", "rate": 2.0e9, "unit": "ns"},
    "memory.usage": {"type": "gauge", "level": 1500, "unit": "MB"},
    "memory": {"type": "gauge", "level": 4096, "unit": "MB"},
    "disk.device.read.bytes": {"type": "cumulative", "rate": 5.0e6, "unit": "B"},
    "network.incoming.bytes": {"type": "cumulative", "rate": 1.0e6, "unit": "B"},
}


def pipeline_text(resources: int) -> dict:
    return {
        "sources": [{"name": "servers", "collector": "synthetic", "interval": int(STEP),
                     "parameters": {"resources": resources, "project": "bench",
                                    "seed": 1, "meters": METERS},
                     "sinks": ["derived"]}],
        "sinks": [{"name": "derived",
                   "transformers": [
                       {"name": "cpu_util", "parameters": {"keep_source": False}},
                       {"name": "memory_util", "parameters": {}},
                       {"name": "rate_of_change",
                        "parameters": {"meters": ["disk.device.*.bytes",
                                                  "network.*.bytes"],
                                       "keep_source": False}}],
                   "publishers": ["store://"]}],
    }


class TimedCollector:
    """Wraps the pipeline's collector and keeps the time of each of its polls."""

    def __init__(self, collector) -> None:
        self.collector = collector
        self.seconds: list[float] = []

    def collect(self, now):
        started = time.perf_counter()
        batch = self.collector.collect(now)
        self.seconds.append(time.perf_counter() - started)
        return batch

    def close(self) -> None:
        self.collector.close()


def transform_store(args) -> tuple[float, float]:
    """(median transform+store seconds, median poll seconds) of the synthetic pipeline."""
    from heat_alarming.metering import ManualClock, RollingStore
    from heat_alarming.metering.pipeline import base
    from heat_alarming.metering.pipeline.definition import parse
    from heat_alarming.metering.pipeline.runner import Pipeline

    clock = ManualClock(T0)
    store = RollingStore(resolution=10, retention=RETENTION, clock=clock,
                         capacity=2 * args.resources * len(METERS))
    # a store that has run for longer than its ring: each column's memory was touched
    # once already (the first pass over fresh pages costs page faults, once per store)
    warmup = store.n_buckets + WARMUP
    timed: list[TimedCollector] = []

    def loader(namespace, name, *a, **kw):
        part = base.load(namespace, name, *a, **kw)
        if namespace == base.COLLECTORS:
            timed.append(TimedCollector(part))
            return timed[-1]
        return part

    pipeline = Pipeline(parse(pipeline_text(args.resources), "bench"), clock=clock,
                        local=store.ingest_batch, loader=loader)
    totals = []
    for k in range(warmup + args.polls):
        clock.advance(STEP)
        started = time.perf_counter()
        pipeline.run_once(clock())
        totals.append(time.perf_counter() - started)
        if k == warmup - 1:
            progress(f"{len(store)} series in the store after the warm-up of {warmup} polls")
    polls = timed[0].seconds
    rest = [t - p for t, p in zip(totals, polls)]
    progress(f"the ring's first pass (fresh pages): median "
             f"{1e3 * statistics.median(rest[WARMUP:store.n_buckets]):.1f} ms a poll")
    rest = rest[warmup:]
    stats = pipeline.stats()
    pipeline.stop()
    progress(f"pipeline counters: {stats}")
    return statistics.median(rest), statistics.median(polls[warmup:])


def case_transform_store(args) -> float:
    samples = args.resources * len(METERS)
    rest, poll = transform_store(args)
    rate = samples / rest
    result("pipeline_transform_store_samples_per_s", rate, "{:.0f}")
    result("pipeline_poll_synthetic_samples_per_s", samples / poll, "{:.0f}")
    return rate


def case_prometheus(args) -> None:
    """The Prometheus collector's share: benchmarks/bench_prometheus.py's measure()."""
    import bench_prometheus
    for name, value in bench_prometheus.measure(args.series, 5, 0).items():
        result(f"prometheus_{name}", value, "{:.1f}" if "per_s" in name else "{:.3f}")


def case_gnocchi(args) -> None:
    """The Gnocchi collector's share: benchmarks/bench_gnocchi_collect.py's cases."""
    import bench_gnocchi_collect
    options = argparse.Namespace(resources=1000, real_resources=50, points=60, runs=5)
    bench_gnocchi_collect.gnocchi_collect_samples_per_s(options)
    bench_gnocchi_collect.gnocchi_real_poll_samples_per_s(options)


def ceilometer_samples_per_s(args) -> float:
    """Ceilometer's sample pipeline, given the same poll's samples."""
    import yaml
    from ceilometer import sample as ceilo_sample
    from ceilometer import service
    from ceilometer.pipeline import sample as ceilo_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pipeline.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"sources": [{"name": "all", "meters": ["*"],
                                         "sinks": ["test"]}],
                            "sinks": [{"name": "test", "publishers": ["test://"]}]}, f)
        conf = service.prepare_service([], [])
        conf.set_override("pipeline_cfg_file", path)
        manager = ceilo_pipeline.SamplePipelineManager(conf)
        stamp = "2026-01-01T00:00:00+00:00"
        samples = [ceilo_sample.Sample(name=name, type=meter["type"], unit=meter["unit"],
                                       volume=float(r), user_id=None, project_id="bench",
                                       resource_id=f"server-{r}", timestamp=stamp,
                                       resource_metadata={"vcpus": 2})
                   for r in range(args.resources) for name, meter in METERS.items()]
        times = []
        for _ in range(WARMUP + 5):
            started = time.perf_counter()
            with manager.publisher() as publish:
                publish(samples)
            times.append(time.perf_counter() - started)
            for pipe in manager.pipelines:
                for publisher in pipe.sink.publishers:
                    publisher.samples.clear()
        return len(samples) / statistics.median(times[WARMUP:])


def case_ceilometer(args) -> None:
    ours = case_transform_store(args)
    theirs = ceilometer_samples_per_s(args)
    result("ceilometer_pipeline_samples_per_s", theirs, "{:.0f}")
    ratio("pipeline_vs_ceilometer", ours / theirs)


CASES = {
    "pipeline_transform_store_samples_per_s": case_transform_store,
    "prometheus_instant_poll_samples_per_s": case_prometheus,
    "gnocchi_collect_samples_per_s": case_gnocchi,
    "pipeline_vs_ceilometer": case_ceilometer,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--only", choices=sorted(CASES), help="run one case")
    parser.add_argument("--list", action="store_true", help="name the cases")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(CASES))
        return 0
    if args.only:
        CASES[args.only](args)
        return 0
    for name in ("prometheus_instant_poll_samples_per_s",
                 "gnocchi_collect_samples_per_s", "pipeline_vs_ceilometer"):
        progress(name)
        CASES[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
