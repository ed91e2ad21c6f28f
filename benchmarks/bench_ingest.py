"""Pushed samples to the owner's store: through the journal, and over the bus into heat-engine.

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

* ``ingest_messaging_samples_per_s``: Ceilometer's samples over the bus into the
  real ``heat-engine`` (2 workers, PostgreSQL for Heat and the alarms, a RabbitMQ
  vhost of its own, the listener on with a telemetry secret, prefetch 100). Each
  of ``--runs`` (3) runs, ``--publishers`` (2) processes send ``--notifications``
  (2,000) notifications of 100 meter messages, made and signed by Ceilometer's own
  code (meter_message_from_counter) before the clock starts and sent by its
  notifier publisher, of ``--projects`` (10) projects taken in turn, all stamped in
  the last closed day. Per project the alarm ``all-<p>`` (statistic ``count`` over a
  period of a day, ``gt`` its sample count - 0.5) can only be in alarm once every
  sample of the project is in its owner's store; the clock runs from the first send
  until every such alarm is *committed* in alarm in the alarm database (so it
  includes up to one full round of 1 s). Also prints the workers' CPU per sample.
* ``ingest_lost_samples`` and ``ingest_duplicate_samples``: the same stream, and once
  ``--kill-at`` (0.4) of it is sent one worker is SIGKILLed (heat-engine respawns
  it). Once the alarms are in, the queue drained and the journal unchanged for 3 s,
  every sample's volume (each a new number) is read back from the journal, which is
  what the owners' stores are built from (tail and take-over replay): a volume
  missing is a lost sample, one found twice a copy (``ingest_journalled_copies``: a
  notification the killed worker journalled but never acknowledged, journalled again
  by the worker the bus gave it to); the ``all-``/``dup-`` alarms say what the owners'
  rounds counted, so ``ingest_duplicate_samples`` is what they counted twice (the
  owners drop copies by message id). Summed over ``--runs`` streams.

A batch is 100 servers' ``cpu_util``, 10 samples each, 1 s apart. Run with
``python benchmarks/bench_ingest.py`` (about eight minutes); PostgreSQL and MariaDB
are those of tests/support/databases.py (127.0.0.1), RabbitMQ that of
tests/support/rabbit.py.
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
    runtime.worker.membership.leave()


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
        assert owner.worker.membership.owns(project, owner.worker.membership.live())
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


# -- the real heat-engine on the bus ------------------------------------------------

SECRET = "bench-telemetry-secret"
PER_NOTIFICATION = 100
RESOURCES = 10
DAY = 86400


def _bin(name: str) -> str:
    import shutil
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    assert found, f"{name} is installed with openstack-heat / heat-alarming"
    return found


class RealEngine:
    """The ``heat-engine`` command with 2 workers on a PostgreSQL Heat database and alarm
    database, RabbitMQ at ``transport_url``, the plugin installed, the messaging listener
    on with :data:`SECRET` (what tests/heat/test_real_engine.py runs, on the bus)."""

    def __init__(self, workdir: str, heat_db: str, alarm_db: str, transport_url: str,
                 prefetch: int, listener: dict) -> None:
        import pathlib
        self.dir = pathlib.Path(workdir)
        self.alarm_db, self.transport_url = alarm_db, transport_url
        (self.dir / "environment.d").mkdir()
        options = "".join(f"{k} = {v}\n" for k, v in listener.items())
        self.conf = self.dir / "heat.conf"
        self.conf.write_text(f"""[DEFAULT]
transport_url = {transport_url}
num_engine_workers = 2
plugin_dirs = {self.dir / "plugins"}
environment_dir = {self.dir / "environment.d"}
log_file = {self.dir / "engine.log"}
[database]
connection = {heat_db}
[oslo_messaging_rabbit]
rabbit_qos_prefetch_count = {prefetch}
[heat_alarming]
alarm_database = {alarm_db}
store_resolution = 600
store_retention = {3 * DAY}
evaluation_interval = 1
period_close_delay = 0.1
heartbeat_interval = 1
journal_poll_interval = 0.1
metering_listener = true
telemetry_secret = {SECRET}
{options}""")
        self.process = None

    def start(self) -> None:
        import subprocess
        subprocess.run([_bin("heat-manage"), "--config-file", str(self.conf), "db_sync"],
                       check=True, capture_output=True, timeout=300)
        subprocess.run([_bin("heat-alarming"), "install-plugin", "--heat-conf",
                        str(self.conf)], check=True, capture_output=True, timeout=120)
        self.process = subprocess.Popen([_bin("heat-engine"), "--config-file",
                                         str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)

    def workers(self, alarms) -> list[int]:
        """pids of the workers heard from in the last 2 s."""
        import sqlalchemy as sa
        with alarms.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT pid, heartbeat FROM ha_workers")).all()
        return sorted(pid for pid, beat in rows if beat > time.time() - 2)

    def ready(self, alarms) -> list[int]:
        """Wait for 2 live workers, both consuming the listener's pool; their pids."""
        from heat_alarming.engine.listener import POOL
        from tests.support import rabbit
        pids = rabbit.wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
            self.workers(alarms)), deadline=180, interval=0.2, what="2 workers heartbeating")
        rabbit.wait_for(lambda: (rabbit.queue_facts(self.transport_url, POOL) or (0,))[0] == 2,
                        deadline=60, interval=0.2, what="2 listeners consuming")
        return pids

    def stop(self) -> None:
        import signal
        import subprocess
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=30)


def _stamp() -> float:
    """A time in the last closed day (UTC), where every sample of a round goes: the
    alarms' period of a day then holds all of them until the day turns (waited out
    when fewer than 10 minutes are left)."""
    left = DAY - time.time() % DAY
    if left < 600:
        progress(f"waiting {left:.0f} s for the day to turn")
        time.sleep(left + 2)
    return (time.time() // DAY) * DAY - DAY / 2


def count_alarms(projects: list[str], per_project: int) -> list[dict]:
    """Per project: ``all-<p>`` (statistic count over the day > per_project - 0.5:
    every sample is in the owner's store) and ``dup-<p>`` (> per_project + 0.5: one
    counted twice)."""
    return [{"alarm_id": f"{kind}-{p}", "name": f"{kind}-{p}", "project_id": p,
             "threshold_rule": {"meter_name": "cpu_util", "statistic": "count",
                                "threshold": per_project + offset,
                                "comparison_operator": "gt", "period": DAY}}
            for p in projects for kind, offset in (("all", -0.5), ("dup", 0.5))]


def stream(n_notifications: int, projects: list[str], first_volume: int,
           publishers: int) -> list[list[tuple[str, int]]]:
    """Each publisher's notifications, each a list of (project, volume) for its 100
    samples: projects taken in turn, every volume a new number (so the journal says
    which sample is missing or twice)."""
    notes = [[(projects[(n * PER_NOTIFICATION + k) % len(projects)],
               first_volume + n * PER_NOTIFICATION + k) for k in range(PER_NOTIFICATION)]
             for n in range(n_notifications)]
    return [notes[i::publishers] for i in range(publishers)]


def publisher(url: str, topic: str, notes, stamp: float, sent, ready, go, out) -> None:
    """A publisher process: Ceilometer's notifier:// publisher, its meter messages made
    and signed (meter_message_from_counter) before ``go``; reports (first, last) send."""
    from ceilometer.publisher import utils
    from ingest_messaging import METADATA

    from tests.support.ceilometer import CeilometerPublisher, meter
    pub = CeilometerPublisher(url, topic, SECRET, host=f"bench-{os.getpid()}")
    payloads = [[utils.meter_message_from_counter(
        meter(project, volume=float(volume), resource_id=f"server-{volume % RESOURCES}",
              timestamp=stamp, metadata=METADATA), SECRET) for project, volume in note]
        for note in notes]
    event_type = pub.conf.publisher_notifier.metering_topic
    ready.release()
    go.wait()
    started = time.time()
    for payload in payloads:
        pub.publisher._send(event_type, payload)
        with sent.get_lock():
            sent.value += 1
    out.put((started, time.time()))
    pub.close()


class Publishers:
    """``len(streams)`` publisher processes, their messages made; :meth:`go` starts them."""

    def __init__(self, url: str, topic: str, streams, stamp: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.sent, self.ready = context.Value("q", 0), context.Semaphore(0)
        self.go_event, self.out = context.Event(), context.Queue()
        self.children = [context.Process(target=publisher, daemon=True, args=(
            url, topic, notes, stamp, self.sent, self.ready, self.go_event, self.out))
            for notes in streams]
        for child in self.children:
            child.start()
        for _ in self.children:
            assert self.ready.acquire(timeout=600), "a publisher made its messages"

    def go(self) -> float:
        started = time.time()
        self.go_event.set()
        return started

    def finished(self) -> tuple[float, float]:
        """(first send, last send) of them all, once all are done."""
        spans = [self.out.get(timeout=600) for _ in self.children]
        for child in self.children:
            child.join(60)
        return min(s for s, _ in spans), max(e for _, e in spans)


def committed(alarms, prefix: str, projects: list[str]) -> int:
    """How many of the projects' ``prefix`` alarms are committed in alarm."""
    wanted = {f"{prefix}-{p}" for p in projects}
    return sum(1 for a in alarms.load_alarms() if a.alarm_id in wanted and a.state == "alarm")


def _cpu(pids) -> float:
    import psutil
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def journalled(alarms, projects: list[str]) -> list[float]:
    """Every sample volume the journal holds for ``projects`` (what the owners' stores
    are made of: the tail and the take-over replay read it, each batch once)."""
    from heat_alarming.engine.journal import SampleJournal
    journal = SampleJournal(alarms)
    volumes, after = [], 0
    while True:
        batches = journal.read(after, projects, limit=1000)
        for batch_id, _, batch in batches:
            after = batch_id
            volumes.extend(s.volume for s in batch.samples())
        if len(batches) < 1000:
            return volumes


class BusWorld:
    """Databases, a vhost and the real engine for the messaging cases (a context
    manager); ``alarms`` is the alarm database's store."""

    def __init__(self, args, projects: list[str], per_project: int) -> None:
        self.args, self.projects, self.per_project = args, projects, per_project

    def __enter__(self):
        import contextlib

        from heat_alarming.engine import AlarmStore, Evaluator
        from heat_alarming.metering import RollingStore
        from tests.support import rabbit
        from tests.support.databases import ADMIN_URL, temporary_database
        self.stack = contextlib.ExitStack()
        heat_db = self.stack.enter_context(temporary_database(ADMIN_URL, "ha_bench_heat"))
        alarm_db = self.stack.enter_context(temporary_database(ADMIN_URL, "ha_bench_alarm"))
        self.url = self.stack.enter_context(rabbit.temporary_vhost("ha-bench"))
        workdir = self.stack.enter_context(tempfile.TemporaryDirectory())
        self.alarms = AlarmStore(alarm_db)
        self.stack.callback(self.alarms.close)
        Evaluator(RollingStore(600, 3 * DAY), self.alarms).define_many(
            count_alarms(self.projects, self.per_project))
        listener = {"metering_batch_size": self.args.listener_batch,
                    "metering_listener_threads": self.args.listener_threads}
        self.engine = RealEngine(workdir, heat_db, alarm_db, self.url, self.args.prefetch,
                                 listener)
        self.stack.callback(self.engine.stop)
        try:
            self.engine.start()
            self.pids = self.engine.ready(self.alarms)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:  # what the engine said, for the failure's reader
            log = self.engine.dir / "engine.log"
            if log.exists():
                progress("engine.log ends:\n" + "".join(log.read_text().splitlines(True)[-40:]))
        self.stack.close()


def ingest_messaging_samples_per_s(args) -> None:
    rounds = [[f"msg{r}-{i}" for i in range(args.projects)] for r in range(args.runs)]
    per_project = args.notifications * PER_NOTIFICATION // args.projects
    rates, cpu = [], []
    with BusWorld(args, [p for r in rounds for p in r], per_project) as world:
        for r, projects in enumerate(rounds):
            stamp = _stamp()
            pubs = Publishers(world.url, "metering", stream(
                args.notifications, projects, r * 10 ** 7, args.publishers), stamp)
            pids = world.engine.workers(world.alarms)
            before = _cpu(pids)
            started = pubs.go()
            deadline = time.monotonic() + 600
            while committed(world.alarms, "all", projects) < len(projects):
                assert time.monotonic() < deadline, "every project's samples reached its owner"
                time.sleep(0.02)
            done = time.time()
            first, last = pubs.finished()
            samples = args.notifications * PER_NOTIFICATION
            cpu.append((_cpu(pids) - before) / samples * 1e6)
            rates.append(samples / (done - first))
            progress(f"round {r + 1}: {samples} samples of {len(projects)} projects, "
                     f"published in {last - first:.2f} s ({samples / (last - first):,.0f}/s "
                     f"from {args.publishers} processes), in every owner's committed "
                     f"round {done - first:.2f} s after the first send = "
                     f"{rates[-1]:,.0f}/s; workers' CPU {cpu[-1]:.1f} us per sample "
                     f"(started {first - started:.2f} s after go)")
            dups = committed(world.alarms, "dup", projects)
            assert dups == 0, f"{dups} projects counted a sample twice"
    result("ingest_messaging_samples_per_s", statistics.median(rates), "{:.0f}")
    result("ingest_messaging_worker_cpu_us_per_sample", statistics.median(cpu), "{:.1f}")


def unacknowledged(transport_url: str, queue: str) -> int | None:
    """Messages of ``queue`` delivered to a consumer and not yet acknowledged (the
    broker's count, through rabbitmqctl), or None without rabbitmqctl."""
    import shutil
    import subprocess
    import urllib.parse
    if shutil.which("rabbitmqctl") is None:
        return None
    vhost = urllib.parse.urlsplit(transport_url).path[1:] or "/"
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name",
                          "messages_unacknowledged"], capture_output=True, text=True,
                         timeout=60).stdout
    return next((int(n) for name, n in (line.split() for line in out.splitlines()
                                         if len(line.split()) == 2 and
                                         line.split()[1].isdigit())
                 if name == queue), None)


def one_kill_run(args, run: int) -> tuple[int, int, int]:
    """One stream into the 2-worker heat-engine with a worker SIGKILLed in its midst:
    (lost, counted twice, journalled twice): lost among the samples the journal
    holds; counted twice by the owners' rounds (0 when no ``dup-`` alarm fired, else
    the journal's copies of the projects whose did, an upper bound); and the copies
    the journal holds, which the owners drop by message id."""
    import signal

    from heat_alarming.engine.listener import POOL
    from tests.support import rabbit
    projects = [f"kill{run}-{i}" for i in range(args.projects)]
    per_project = args.notifications * PER_NOTIFICATION // args.projects
    samples = args.notifications * PER_NOTIFICATION
    with BusWorld(args, projects, per_project) as world:
        stamp = _stamp()
        pubs = Publishers(world.url, "metering", stream(
            args.notifications, projects, 0, args.publishers), stamp)
        victim = world.engine.workers(world.alarms)[run % 2]
        pubs.go()
        rabbit.wait_for(lambda: pubs.sent.value >= args.notifications * args.kill_at,
                        deadline=600, interval=0.005, what="the stream under way")
        unacked = unacknowledged(world.url, POOL)
        os.kill(victim, signal.SIGKILL)
        killed_at = pubs.sent.value
        held = len(journalled(world.alarms, projects))
        progress(f"run {run + 1}: worker {victim} SIGKILLed after {killed_at} of "
                 f"{args.notifications} notifications were sent ({held} samples journalled "
                 f"then; {unacked} notifications unacknowledged in the pool just before)")
        first, last = pubs.finished()
        deadline = time.monotonic() + 300
        while committed(world.alarms, "all", projects) < len(projects) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        # settled: two workers again, nothing left in the pool's queue, and the journal
        # unchanged for 3 s
        rabbit.wait_for(lambda: len(world.engine.workers(world.alarms)) == 2, deadline=120,
                        interval=0.2, what="heat-engine respawning the worker")
        rabbit.wait_for(lambda: (rabbit.queue_facts(world.url, POOL) or (0, 1))[1] == 0,
                        deadline=120, interval=0.2, what="the pool's queue drained")
        seen, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 3:
            count = len(journalled(world.alarms, projects))
            if count != seen:
                seen, stable_since = count, time.monotonic()
            time.sleep(0.5)
        time.sleep(2)  # two more rounds of the owners
        volumes = journalled(world.alarms, projects)
        unique = set(volumes)
        lost = samples - len(unique & {float(v) for v in range(samples)})
        copies = len(volumes) - len(unique)
        complete = committed(world.alarms, "all", projects)
        doubled = committed(world.alarms, "dup", projects)
        counted_twice = 0 if doubled == 0 else copies
        progress(f"run {run + 1}: {samples} samples published in {last - first:.2f} s; "
                 f"journalled {len(volumes)} ({len(unique)} distinct); the owners' rounds: "
                 f"{complete} of {len(projects)} projects counted all their samples, "
                 f"{doubled} counted more")
        return lost, counted_twice, copies


def ingest_lost_samples(args) -> None:
    runs = [one_kill_run(args, run) for run in range(args.runs)]
    result("ingest_lost_samples", sum(run[0] for run in runs), "{:.0f}")
    result("ingest_duplicate_samples", sum(run[1] for run in runs), "{:.0f}")
    result("ingest_journalled_copies", sum(run[2] for run in runs), "{:.0f}")


CASES = {"ingest_journal_samples_per_s": ingest_journal_samples_per_s,
         "ingest_append_ms": ingest_append_ms,
         "ingest_messaging_samples_per_s": ingest_messaging_samples_per_s,
         "ingest_lost_samples": ingest_lost_samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), help="run one case")
    parser.add_argument("--list", action="store_true", help="name the cases")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--appender-threads", type=int, default=2)
    parser.add_argument("--notifications", type=int, default=2000,
                        help="notifications of 100 samples per messaging run")
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--listener-batch", type=int, default=32)
    parser.add_argument("--listener-threads", type=int, default=4)
    parser.add_argument("--kill-at", type=float, default=0.4,
                        help="fraction of the stream sent when a worker is killed")
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
