"""A worker's own health as Prometheus metrics (opt-in; no Heat).

:class:`WorkerCollector` turns the public ``stats()`` snapshots of a
:class:`~heat_alarming.engine.worker.Worker`, its evaluator, dispatcher and
store into metric families at each collection; nothing is counted twice and
no round, ingest or delivery does any metrics work beyond the counters those
objects keep anyway. :class:`WorkerMetrics` registers it in a registry of its
own (never prometheus-client's global one: several workers may share a
process) and exposes it over HTTP, in a file for node-exporter's textfile
collector, or both::

    metrics = WorkerMetrics(worker, slot=0, port=9464)
    metrics.start()          # http://127.0.0.1:9464/metrics
    ...
    metrics.stop()

Worker ``n`` of a host (its slot, see :func:`metrics_from_conf`) listens on
``metrics_port + n`` and writes ``<metrics_textfile>.<n>.prom``; every series
carries a ``worker`` label with the worker's id, so the files of several
workers can be read by one node exporter. docs/metrics.md lists the metrics.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator

from oslo_config import cfg
from oslo_log import log as logging
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import write_to_textfile

from heat_alarming.metering.snapshot import claim_slot

LOG = logging.getLogger(__name__)

PREFIX = "heat_alarming_"
HIGHEST_PORT = 65535

metrics_opts = [
    cfg.PortOpt("metrics_port", default=0,
                help="Serve each heat-engine worker's own metrics (rounds, round time, "
                     "alarms and series per project, samples accepted and rejected, "
                     "notifications) for Prometheus at http://<metrics_host>:<port>/"
                     "metrics, worker n of a host on metrics_port + n. 0: no HTTP "
                     "endpoint."),
    cfg.HostAddressOpt("metrics_host", default="127.0.0.1",
                       help="Address the metrics endpoints listen on; loopback unless "
                            "a Prometheus on another host must reach them."),
    cfg.StrOpt("metrics_textfile",
               help="Path prefix of a file per worker with the same metrics, for "
                    "node-exporter's textfile collector: worker n writes "
                    "<metrics_textfile>.<n>.prom (atomically) every "
                    "heartbeat_interval and removes it when it stops. Unset: no file."),
]


class WorkerCollector:
    """The metric families of one worker, built at each collection from the
    ``stats()`` of the worker, its evaluator, its dispatcher and its store.

    A part whose ``stats()`` fails (the alarm database away for the pending
    count) is left out of that collection, logged; the others are still served.
    """

    def __init__(self, worker) -> None:
        self.worker = worker
        self._failing: set[str] = set()  # parts whose last stats() failed (logged once)

    def describe(self) -> Iterator[Metric]:
        """The families without samples: the registry checks names with these, so that
        registering costs no collection (and no database query)."""
        parts = (self._evaluator, self._store, self._dispatcher, self._worker)
        for part in parts:
            yield from part(None, "")

    def collect(self) -> Iterator[Metric]:
        worker_id = self.worker.worker_id
        for name, stats, part in (
                ("evaluator", self.worker.evaluator.stats, self._evaluator),
                ("store", self.worker.store.stats, self._store),
                ("dispatcher", self.worker.evaluator.dispatcher.stats, self._dispatcher),
                ("worker", self.worker.stats, self._worker)):
            snapshot = self._stats(name, stats)
            if snapshot is not None:
                yield from part(snapshot, worker_id)

    def _stats(self, name: str, stats: Callable[[], dict]) -> dict | None:
        try:
            snapshot = stats()
        except Exception as exc:  # one part's failure leaves the others served
            if name not in self._failing:
                LOG.warning("Metrics of worker %s: the %s's figures are left out (%s)",
                            self.worker.worker_id, name, exc)
            self._failing.add(name)
            return None
        self._failing.discard(name)
        return snapshot

    # -- the families, from one stats() snapshot each (None: no samples) ---------
    @staticmethod
    def _evaluator(stats: dict | None, worker: str) -> Iterator[Metric]:
        rounds = CounterMetricFamily(
            PREFIX + "evaluation_rounds", "Evaluation rounds completed.", labels=["worker"])
        failed = CounterMetricFamily(
            PREFIX + "evaluation_failed_rounds",
            "Evaluation rounds that raised; their changes were not stored.",
            labels=["worker"])
        seconds = SummaryMetricFamily(
            PREFIX + "evaluation_round_seconds",
            "Time the completed evaluation rounds took.", labels=["worker"])
        last = GaugeMetricFamily(
            PREFIX + "evaluation_last_round_seconds", "Time the last round took.",
            labels=["worker"])
        alarms = GaugeMetricFamily(
            PREFIX + "alarms", "Alarms this worker evaluates, by project and state.",
            labels=["worker", "project", "state"])
        if stats is not None:
            rounds.add_metric([worker], stats["rounds"])
            failed.add_metric([worker], stats["failed_rounds"])
            seconds.add_metric([worker], stats["rounds"], stats["round_seconds"])
            last.add_metric([worker], stats["last_round_seconds"])
            for (project, state), n in sorted(stats["alarms"].items()):
                alarms.add_metric([worker, project, state], n)
        yield from (rounds, failed, seconds, last, alarms)

    @staticmethod
    def _store(stats: dict | None, worker: str) -> Iterator[Metric]:
        series = GaugeMetricFamily(
            PREFIX + "series", "Series the worker's store holds, by project.",
            labels=["worker", "project"])
        accepted = CounterMetricFamily(
            PREFIX + "samples_accepted", "Samples the worker's store took in.",
            labels=["worker"])
        rejected = CounterMetricFamily(
            PREFIX + "samples_rejected",
            "Samples the worker's store refused, by the sample field the refusal names.",
            labels=["worker", "reason"])
        if stats is not None:
            for project, n in sorted(stats["series_per_project"].items()):
                series.add_metric([worker, project], n)
            accepted.add_metric([worker], stats["samples_accepted"])
            for reason, n in sorted(stats["samples_rejected"].items()):
                rejected.add_metric([worker, reason], n)
        yield from (series, accepted, rejected)

    @staticmethod
    def _dispatcher(stats: dict | None, worker: str) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            PREFIX + "notifications_pending",
            "Notifications of this worker's projects not delivered yet (queued, waiting "
            "for a retry or in flight).", labels=["worker"])
        in_flight = GaugeMetricFamily(
            PREFIX + "notifications_in_flight", "Deliveries running now.",
            labels=["worker"])
        outcomes = {what: CounterMetricFamily(PREFIX + f"notifications_{what}", text,
                                              labels=["worker"])
                    for what, text in (
                        ("delivered", "Notifications delivered."),
                        ("retried", "Delivery attempts that failed and will be retried."),
                        ("failed", "Notifications given up after their last attempt "
                                   "(recorded in the alarm's history)."))}
        if stats is not None:
            pending.add_metric([worker], stats["pending"])
            in_flight.add_metric([worker], stats["in_flight"])
            for what, family in outcomes.items():
                family.add_metric([worker], stats[what])
        yield from (pending, in_flight, *outcomes.values())

    @staticmethod
    def _worker(stats: dict | None, worker: str) -> Iterator[Metric]:
        owned = GaugeMetricFamily(
            PREFIX + "owned_projects",
            "Projects with alarms this worker evaluates (none in its join grace).",
            labels=["worker"])
        live = GaugeMetricFamily(
            PREFIX + "live_workers", "Workers alive in the membership, as last heard.",
            labels=["worker"])
        position = GaugeMetricFamily(
            PREFIX + "journal_position", "The newest sample-journal batch the tail passed.",
            labels=["worker"])
        duplicates = CounterMetricFamily(
            PREFIX + "duplicate_samples",
            "Samples of messages journalled twice, taken once.", labels=["worker"])
        if stats is not None:
            owned.add_metric([worker], stats["owned_projects"])
            live.add_metric([worker], stats["live_workers"])
            position.add_metric([worker], stats["journal_position"])
            duplicates.add_metric([worker], stats["duplicate_samples"])
        yield from (owned, live, position, duplicates)


class WorkerMetrics:
    """One worker's registry and its exposition.

    ``port`` (0: none): an HTTP endpoint on ``host``:``port + slot``; a port that
    cannot be bound is one error in the log and no endpoint, the worker runs on.
    ``textfile``: ``<textfile>.<slot>.prom`` written every ``interval`` seconds
    (a temporary file renamed over it) and removed on :meth:`stop`.
    ``slot_fd``: a slot lock to close on :meth:`stop` (see :func:`metrics_from_conf`).
    """

    def __init__(self, worker, *, slot: int = 0, port: int = 0, host: str = "127.0.0.1",
                 textfile: str | None = None, interval: float = 5.0,
                 slot_fd: int | None = None) -> None:
        self.worker = worker
        self.slot = int(slot)
        self.host = host
        self.port = int(port) + self.slot if port else 0
        self.textfile = f"{textfile}.{self.slot}.prom" if textfile else None
        self.interval = float(interval)
        self.registry = CollectorRegistry()
        self.registry.register(WorkerCollector(worker))
        self._slot_fd = slot_fd
        self._server = None
        self._server_thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()
        self._write_failed = False
        self._lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) of the endpoint while it listens, else None."""
        return (self.host, self.port) if self._server is not None else None

    def text(self) -> bytes:
        """The exposition now, in Prometheus's text format."""
        return generate_latest(self.registry)

    def write_textfile(self) -> str:
        """Write the textfile now (atomically); returns its path."""
        if self.textfile is None:
            raise ValueError("no textfile is configured")
        write_to_textfile(self.textfile, self.registry)
        return self.textfile

    # -- life cycle --------------------------------------------------------------
    def start(self) -> WorkerMetrics:
        """Open the endpoint and start the textfile writer (each once)."""
        with self._lock:
            if self.port and self._server is None:
                self._listen()
            if self.textfile and self._writer is None:
                self._stop.clear()
                self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                                name="heat-alarming-metrics-textfile")
                self._writer.start()
        return self

    def _listen(self) -> None:
        where = f"{self.host}:{self.port}"
        if self.port > HIGHEST_PORT:
            LOG.error("Metrics of worker %s are off: port %d (metrics_port + slot %d) is "
                      "beyond %d", self.worker.worker_id, self.port, self.slot, HIGHEST_PORT)
            return
        try:
            self._server, self._server_thread = start_http_server(
                self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            LOG.error("Metrics of worker %s are off: cannot listen on %s (%s)",
                      self.worker.worker_id, where, exc.strerror or exc)
            return
        LOG.info("Metrics of worker %s at http://%s/metrics", self.worker.worker_id, where)

    def _write_loop(self) -> None:
        while True:
            try:
                self.write_textfile()
                if self._write_failed:
                    LOG.info("Metrics textfile %s written again", self.textfile)
                self._write_failed = False
            except Exception as exc:  # a full or missing directory must not stop anything
                if not self._write_failed:
                    LOG.error("Metrics textfile %s cannot be written (%s); retrying every "
                              "%g s", self.textfile, exc, self.interval)
                self._write_failed = True
            if self._stop.wait(self.interval):
                # also here: a write still running when stop() gave up waiting ends
                # with the file removed, not rewritten
                self._remove_textfile()
                return

    def _remove_textfile(self) -> None:
        try:
            os.unlink(self.textfile)
        except FileNotFoundError:
            pass

    def stop(self) -> None:
        """Close the endpoint, stop the writer and remove the textfile (a stopped
        worker must not look alive), then free the slot lock held for it."""
        with self._lock:
            server, self._server = self._server, None
            writer, self._writer = self._writer, None
            self._stop.set()
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(5)
        if writer is not None:
            writer.join(10)
            if writer.is_alive():  # a slow collection: its file must not outlive us
                LOG.warning("Metrics of worker %s: the textfile writer is still busy",
                            self.worker.worker_id)
            self._remove_textfile()
        if self._slot_fd is not None:
            os.close(self._slot_fd)
            self._slot_fd = None


def metrics_from_conf(conf: cfg.ConfigOpts, worker,
                      slot: int | None = None) -> WorkerMetrics | None:
    """The metrics of ``worker`` from ``[heat_alarming]`` (not started), or None when
    ``metrics_port`` is 0 and ``metrics_textfile`` unset.

    ``slot`` is the worker's number on its host (heat-engine's snapshot slot).
    Without one, the worker takes the first slot no live process of the host holds
    (an exclusive lock on ``<metrics_textfile>.<n>.lock``, or with no textfile on
    ``<temporary directory>/heat-alarming-metrics-<metrics_port>.<n>.lock``), kept
    until :meth:`WorkerMetrics.stop`.
    """
    from heat_alarming import GROUP

    conf.register_opts(metrics_opts, group=GROUP)
    options = conf[GROUP]
    if not options.metrics_port and not options.metrics_textfile:
        return None
    slot_fd = None
    if slot is None:
        base = options.metrics_textfile or os.path.join(
            tempfile.gettempdir(), f"heat-alarming-metrics-{options.metrics_port}")
        try:
            slot, _, slot_fd = claim_slot(base)
        except OSError as exc:  # the metrics are off; the worker goes on without them
            LOG.error("Worker metrics are off: cannot claim a slot at %s.<n>.lock (%s)",
                      base, exc.strerror or exc)
            return None
    return WorkerMetrics(worker, slot=slot, port=options.metrics_port,
                         host=options.metrics_host, textfile=options.metrics_textfile,
                         interval=worker.membership.heartbeat_interval, slot_fd=slot_fd)
