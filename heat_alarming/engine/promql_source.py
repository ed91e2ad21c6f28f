"""PromQL alarms' answers: queries on a bounded pool, never waited for by a round.

A round of the evaluator never does network I/O. It asks this source to fetch
an alarm's query (:meth:`PromQLSource.request`, which only queues it) and
decides with the newest answer that has arrived (:meth:`PromQLSource.latest`).
When an answer arrives the source calls back (the evaluator then runs a short
round that decides the alarms with new answers), so the reaction comes as
soon as Prometheus answers, not at the next full round.

Isolation between projects:

* ``workers`` threads run the queries; each project has at most
  ``per_project`` queries running at once, and the next query to run is taken
  round-robin over the projects with queued queries, so one project's many
  alarms never queue ahead of another project's one alarm, and a project whose
  queries hang holds at most ``per_project`` threads.
* Each query runs with ``timeout`` (the client's bound on the whole request);
  an alarm whose query has run longer is reported as timed out at once.
* One alarm has at most one query queued or running; a failing query fails
  only its alarm, with the reason; an answer older than ``max_age`` is not
  used (the alarm goes to insufficient data and says why).
* Every query is scoped to the alarm's project before it is queued
  (:func:`heat_alarming.engine.promql.scope`), with the operator's project
  label; the address and credentials are the operator's client's, nothing of
  the alarm's.

The clock (the evaluator's) stamps answers, so freshness is judged on the
same time line as the rounds; timeouts are wall-clock (monotonic).
"""
from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming.engine import promql

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One query's outcome: the series' values, or why there are none."""

    query: str                 # the query as the alarm wrote it
    project: str               # the project it was scoped to
    started: float             # clock time the query was taken by a worker
    arrived: float             # clock time the outcome arrived
    values: tuple[float, ...]  # one per series (label order); NaN where not a number
    error: str | None = None
    seq: int = 0               # increases with every outcome recorded

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass
class _Task:
    key: str
    project: str
    query: str
    scoped: str
    queued: float  # clock time
    started: float = 0.0  # clock time
    started_monotonic: float = 0.0


class PromQLSource:
    """Fetches scoped PromQL queries for alarms with a bounded, fair pool.

    ``client`` has ``query(promql) -> list`` of series with ``labels`` and
    ``value`` (the :class:`~heat_alarming.metering.collectors.prometheus.
    PrometheusClient` contract) and raises with a readable message on any
    failure; it is built by the operator's configuration only.
    """

    #: threads running queries
    workers = 8
    #: queries of one project running at once
    per_project = 2
    #: seconds one query may take
    timeout = 10.0
    #: seconds an answer stays usable
    max_age = 150.0
    #: the label that carries the project id in Prometheus (Ceilometer's exporter, sg-core)
    project_label = "project"

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.time,
                 workers: int | None = None, per_project: int | None = None,
                 timeout: float | None = None, max_age: float | None = None,
                 project_label: str | None = None) -> None:
        self.client = client
        self.clock = clock
        self.workers = int(workers or self.workers)
        self.per_project = int(per_project or self.per_project)
        self.timeout = float(timeout or self.timeout)
        self.max_age = float(max_age or self.max_age)
        self.project_label = project_label or self.project_label
        promql.scope("up", self.project_label, "check")  # a label name Prometheus takes
        self._lock = threading.Condition()
        self._queued: collections.OrderedDict[str, collections.deque[_Task]] = \
            collections.OrderedDict()
        self._tasks: dict[str, _Task] = {}  # key -> its queued or running task
        self._running: collections.Counter = collections.Counter()  # project -> running
        self._answers: dict[str, Answer] = {}
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._listeners: list[Callable[[], None]] = []
        self.queries = 0  # queries sent (for tests and statistics)

    # -- what the evaluator calls -----------------------------------------------------
    def scoped(self, query: str, project: str) -> str:
        """``query`` as it is sent for ``project`` (raises :class:`promql.PromQLError`)."""
        return promql.scope(query, self.project_label, project)

    def request(self, key: str, project: str, query: str) -> bool:
        """Queue a fetch of ``query`` for alarm ``key`` of ``project``, unless one is
        queued or running already; never blocks. Raises :class:`promql.PromQLError`
        when the query cannot be scoped."""
        scoped = self.scoped(query, project)
        with self._lock:
            if self._stopping:
                return False
            task = self._tasks.get(key)
            if task is not None:
                if task.query == query and task.project == project:
                    return False
                if not task.started:  # redefined while queued: queue the new query
                    self._queued[task.project].remove(task)
            task = _Task(key, project, query, scoped, self.clock())
            self._tasks[key] = task
            self._queued.setdefault(project, collections.deque()).append(task)
            self._start_threads()
            self._lock.notify()
            return True

    def latest(self, key: str) -> Answer | None:
        """The newest outcome of ``key``'s queries (None: none arrived yet)."""
        with self._lock:
            return self._answers.get(key)

    def waiting(self, key: str) -> tuple[float, str] | None:
        """(clock time queued, what it waits for) of ``key``'s unanswered query, or None.

        A query running longer than ``timeout`` (by the wall clock) is reported
        as such, so that its alarm fails now rather than when the client gives up.
        """
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                return None
            if not task.started:
                busy = self._running[task.project]
                why = (f"queued behind {busy} queries of the project in flight"
                       if busy >= self.per_project else "queued for a free query thread")
                return task.queued, why
            running = time.monotonic() - task.started_monotonic
            if running > self.timeout:
                return task.queued, f"no answer from Prometheus within {self.timeout:g} s"
            return task.queued, f"the query has run for {running:.0f} s"

    def timed_out(self, key: str) -> bool:
        with self._lock:
            task = self._tasks.get(key)
            return bool(task and task.started
                        and time.monotonic() - task.started_monotonic > self.timeout)

    def retain(self, keys: Iterable[str]) -> None:
        """Forget the answers and queued queries of every alarm not in ``keys``."""
        keep = set(keys)
        with self._lock:
            for key in [k for k in self._answers if k not in keep]:
                del self._answers[key]
            for key, task in list(self._tasks.items()):
                if key not in keep and not task.started:
                    self._queued[task.project].remove(task)
                    del self._tasks[key]

    def on_answer(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from a worker thread) whenever an outcome arrives."""
        self._listeners.append(listener)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no query is queued or running (True), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=1.0)  # a thread stuck in a query is a daemon: left behind

    # -- the pool -------------------------------------------------------------------
    def _start_threads(self) -> None:
        """The pool's threads, started with the first query (so after any fork)."""
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"promql-{len(self._threads)}")
            self._threads.append(thread)
            thread.start()

    def _next(self) -> _Task | None:
        """The next task to run, round-robin over projects under their cap (locked)."""
        for project in list(self._queued):
            queue = self._queued[project]
            if not queue:
                del self._queued[project]
                continue
            if self._running[project] >= self.per_project:
                continue
            task = queue.popleft()
            self._queued.move_to_end(project)  # its next query after the others' first
            if not queue:
                del self._queued[project]
            return task
        return None

    def _work(self) -> None:
        while True:
            with self._lock:
                task = None
                while not self._stopping:
                    task = self._next()
                    if task is not None:
                        break
                    self._lock.wait()
                if task is None:
                    return
                self._running[task.project] += 1
                task.started, task.started_monotonic = self.clock(), time.monotonic()
                self.queries += 1
            values, error = self._fetch(task)
            with self._lock:
                self._running[task.project] -= 1
                if self._tasks.get(task.key) is task:
                    del self._tasks[task.key]
                self._seq += 1
                old = self._answers.get(task.key)
                if old is None or old.started <= task.started:
                    self._answers[task.key] = Answer(task.query, task.project, task.started,
                                                     self.clock(), values, error, self._seq)
                self._lock.notify_all()
            for listener in self._listeners:
                try:
                    listener()
                except Exception:  # a listener's failure is not the query's
                    LOG.exception("PromQL answer listener failed")

    def _fetch(self, task: _Task) -> tuple[tuple[float, ...], str | None]:
        try:
            series = self.client.query(task.scoped)
            return _values(series), None
        except Exception as exc:  # the client's CollectError, or anything it let through
            reason = str(exc) or type(exc).__name__
            LOG.info("PromQL query of alarm %s (project %s) failed: %s", task.key,
                     task.project, reason)
            return (), reason


def _values(series) -> tuple[float, ...]:
    """Each series' value as a float, in label order (NaN for what is not a number)."""
    rows = []
    for item in series:
        labels = getattr(item, "labels", None) or {}
        try:
            value = float(item.value)
        except (TypeError, ValueError):
            value = math.nan
        rows.append((sorted((str(k), str(v)) for k, v in dict(labels).items()), value))
    rows.sort(key=lambda row: row[0])
    return tuple(value for _, value in rows)


# -- options: read by source_from_conf, gathered in heat_alarming.opts ----------------
prometheus_opts = [
    cfg.StrOpt("prometheus_url", default="", secret=True,
               help="Prometheus that OS::Metering::PrometheusAlarm queries "
                    "(http(s)://host:9090); empty: the resource type is refused. "
                    "Templates cannot choose it."),
    cfg.StrOpt("prometheus_project_label", default=PromQLSource.project_label,
               help="Label that carries the project id of a series in Prometheus; every "
                    "selector of an alarm's query is given <label>=\"<project id>\"."),
    cfg.FloatOpt("prometheus_timeout", default=PromQLSource.timeout, min=0.1,
                 help="Seconds one PromQL query may take."),
    cfg.IntOpt("prometheus_query_workers", default=PromQLSource.workers, min=1,
               help="Threads running PromQL queries, shared by all projects."),
    cfg.IntOpt("prometheus_queries_per_project", default=PromQLSource.per_project, min=1,
               help="PromQL queries of one project running at once."),
    cfg.FloatOpt("prometheus_answer_max_age", default=PromQLSource.max_age, min=1.0,
                 help="Seconds a query's answer stays usable; with none younger, the "
                      "alarm goes to insufficient data, saying why."),
    cfg.IntOpt("prometheus_max_series", default=1000, min=1,
               help="Most series one PromQL answer may hold; a larger answer fails "
                    "its alarm."),
    cfg.IntOpt("prometheus_max_bytes", default=1048576, min=1024,
               help="Largest PromQL answer, in bytes; a larger answer fails its alarm."),
    cfg.StrOpt("prometheus_ca_file",
               help="CA bundle to verify an https prometheus_url with (instead of the "
                    "system's)."),
]


def source_from_conf(conf: cfg.ConfigOpts, group: str, clock=None) -> PromQLSource | None:
    """The operator's Prometheus source from ``[group]`` (None when prometheus_url is
    empty)."""
    conf.register_opts(prometheus_opts, group=group)
    options = conf[group]
    if not options.prometheus_url:
        return None
    from heat_alarming.metering.collectors.prometheus import PrometheusClient

    client = PrometheusClient(options.prometheus_url, timeout=options.prometheus_timeout,
                              max_bytes=options.prometheus_max_bytes,
                              max_series=options.prometheus_max_series,
                              verify=options.prometheus_ca_file or True)
    return PromQLSource(client, clock=clock or time.time,
                        workers=options.prometheus_query_workers,
                        per_project=options.prometheus_queries_per_project,
                        timeout=options.prometheus_timeout,
                        max_age=options.prometheus_answer_max_age,
                        project_label=options.prometheus_project_label)


def unknown_reason() -> tuple[str, dict]:
    """Aodh's reason when a query's answer holds no series."""
    return ("datapoints are unknown: the query's answer holds no series",
            {"type": "threshold", "disposition": "unknown", "count": 0,
             "most_recent": None})
