"""Pushed samples through the sample journal to the owner's store (and, later, other paths).

One function per case; ``--only NAME`` runs one (``--list`` names them). Cases:

* ``ingest_journal_samples_per_s``: the path of a Heat signal to
  OS::Metering::Alarm from the checked samples on. Two workers (``Runtime``) on
  one PostgreSQL: an *appender* process that does not own the project pushes
  batches of 1,000 checked samples from ``--appender-threads`` (2) threads, as a
  heat-engine serves signals concurrently (``push_samples``: the columnar batch
  is built and appended to the journal), and the *owner*, in this process, started (its
  coordination thread tails every ``journal_poll_interval`` = 0.05 s, its
  evaluator runs rounds over the project's alarm). The clock runs from the first
  push to the moment the owner's store shows every sample to a statistics read
  (what the evaluator's round reads). Median of ``--runs`` (3) runs, each on a
  fresh database, of ``--batches`` (200) batches. Target: >= 100,000.
* ``ingest_append_ms``: one ``SampleJournal.append`` of a batch of 1,000 samples
  (encode, lock, insert, commit), median of 200, on SQLite
  (``ingest_append_ms_sqlite``), PostgreSQL (``ingest_append_ms_postgresql``) and
  MariaDB when it answers (``ingest_append_ms_mariadb``).

A batch is 100 servers' ``cpu_util``, 10 samples each, 1 s apart. Run with
``python benchmarks/bench_ingest.py`` (about a minute); PostgreSQL and MariaDB
are those of tests/support/databases.py (127.0.0.1).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import progress, result  # noqa: E402

BATCH = 1000
SERVERS = 100
PROJECT_PREFIX = "bench"
WORKERS = ("owner", "appender")


def checked_batches(project: str, n_batches: int, now: float) -> list[list]:
    """Batches of checked samples, as the signal handler hands them to push_samples."""
    from heat_alarming.metering import Sample
    per_server = BATCH // SERVERS
    return [[Sample("cpu_util", float((b + k) % 100), f"server-{s}", project_id=project,
                    timestamp=now - 60 + b * 0.01 + k)
             for s in range(SERVERS) for k in range(per_server)]
            for b in range(n_batches)]


def worker_conf(url: str):
    from oslo_config import cfg

    from heat_alarming import opts
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", url, opts.GROUP)
    conf.set_override("journal_poll_interval", 0.05, opts.GROUP)
    return conf


def owned_project() -> str:
    """A project that rendezvous hashing gives to the owner among both workers."""
    from heat_alarming.engine.coordination import owner
    return next(f"{PROJECT_PREFIX}-{i}" for i in range(1000)
                if owner(f"{PROJECT_PREFIX}-{i}", WORKERS) == "owner")


def appender(url: str, project: str, n_batches: int, threads: int, ready, go,
             queue) -> None:
    """The appender worker (a child process): pushes when told from ``threads`` threads (a
    heat-engine serves signals concurrently), reports when it started and ended."""
    from heat_alarming.resources.runtime import Runtime
    runtime = Runtime(worker_conf(url), worker_id="appender", join_grace=False)
    batches = checked_batches(project, n_batches, time.time())
    ready.set()
    go.wait()
    started = time.time()

    def pushing(mine):
        for samples in mine:
            runtime.push_samples(project, samples)

    pushers = [threading.Thread(target=pushing, args=(batches[k::threads],))
               for k in range(threads)]
    for thread in pushers:
        thread.start()
    for thread in pushers:
        thread.join()
    queue.put((started, time.time()))
    runtime.membership.leave()


def visible(store, project: str, since: float) -> int:
    stats = store.statistics("cpu_util", period=3600, start=since - 3600, end=since + 3600,
                             aggregates=["count"], project_id=project)
    return int(stats.count.sum())


def one_journal_run(url: str, n_batches: int, threads: int) -> float:
    from heat_alarming.resources.runtime import Runtime
    project = owned_project()
    owner = Runtime(worker_conf(url), worker_id="owner", join_grace=False)
    owner.evaluator.define_many([{
        "alarm_id": "bench-alarm", "name": "cpu-high", "project_id": project,
        "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                           "comparison_operator": "gt", "period": 60}}])
    context = multiprocessing.get_context("spawn")
    ready, go, queue = context.Event(), context.Event(), context.Queue()
    child = context.Process(target=appender, args=(url, project, n_batches, threads, ready,
                                                        go, queue))
    child.start()
    try:
        assert ready.wait(120), "the appender started"
        owner.coordinate()  # sees the appender among the live workers
        assert owner.membership.owns(project, owner.membership.live())
        owner.start()
        now = time.time()
        expected = n_batches * BATCH
        go.set()
        deadline = time.monotonic() + 300
        while visible(owner.store, project, now) < expected:
            assert time.monotonic() < deadline, "every sample reached the owner"
            time.sleep(0.005)
        done = time.time()
        started, pushed = queue.get(timeout=60)
        assert owner.evaluator.get("bench-alarm") is not None
        progress(f"{expected} samples: pushed in {pushed - started:.2f} s, visible to the "
                 f"owner after {done - started:.2f} s")
        return expected / (done - started)
    finally:
        child.join(60)
        owner.stop()


def ingest_journal_samples_per_s(args) -> None:
    from tests.support.databases import ADMIN_URL, temporary_database
    rates = []
    for _ in range(args.runs):
        with temporary_database(ADMIN_URL, "ha_bench_ingest") as url:
            rates.append(one_journal_run(url, args.batches, args.appender_threads))
    result("ingest_journal_samples_per_s", statistics.median(rates), "{:.0f}")


def append_ms(url: str, appends: int = 200) -> float:
    from heat_alarming.engine.alarm_store import AlarmStore
    from heat_alarming.engine.journal import SampleJournal
    from heat_alarming.metering.batch import SampleBatch
    store = AlarmStore(url)
    journal = SampleJournal(store)
    batches = [SampleBatch.from_samples(b, time.time())
               for b in checked_batches("p", 20, time.time())]
    times = []
    try:
        for i in range(appends):
            started = time.perf_counter()
            journal.append("p", batches[i % len(batches)])
            times.append(time.perf_counter() - started)
    finally:
        store.close()
    return statistics.median(times) * 1000


def ingest_append_ms(args) -> None:
    from tests.support.databases import ADMIN_URLS, answers, temporary_database
    with tempfile.TemporaryDirectory() as tmp:
        result("ingest_append_ms_sqlite", append_ms(os.path.join(tmp, "alarms.sqlite")))
    for kind in ("postgresql", "mariadb"):
        if kind == "mariadb" and not answers(ADMIN_URLS[kind]):
            progress("MariaDB does not answer: no ingest_append_ms_mariadb")
            continue
        with temporary_database(ADMIN_URLS[kind], "ha_bench_append") as url:
            result(f"ingest_append_ms_{kind}", append_ms(url))


CASES = {"ingest_journal_samples_per_s": ingest_journal_samples_per_s,
         "ingest_append_ms": ingest_append_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), help="run one case")
    parser.add_argument("--list", action="store_true", help="name the cases")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--appender-threads", type=int, default=2)
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return
    for name, case in CASES.items():
        if args.only in (None, name):
            progress(f"case {name}")
            case(args)


if __name__ == "__main__":
    main()
