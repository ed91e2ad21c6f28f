"""Every journal batch reaches its owner's tail exactly once, whatever order the appenders'
transactions commit in, on every alarm database the project supports.

A tail reads ``id > position``. If a batch could commit after one with a higher id, a
tail that read the later one first would pass the earlier one for ever (this was so on
PostgreSQL and MariaDB, whose ids are handed out at the insert and committed later).
"""
from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.journal import SampleJournal
from tests.support.databases import DATABASES, database_url
from tests.support.journal_load import (
    HeldCommit,
    StatementWatch,
    append_in_process,
    append_many,
    batch_of,
    waiting_appenders,
)


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    return request.param, database_url(request.param, tmp_path, request)


class Tail:
    """One tailer: its own connection pool and position, and every id it has read."""

    def __init__(self, url: str, projects=None) -> None:
        self.store = AlarmStore(url)
        self.journal = SampleJournal(self.store)
        self.projects = projects
        self.position = 0
        self.read: list[int] = []

    def step(self) -> int:
        batches = self.journal.read(self.position, self.projects)
        for batch_id, _, _ in batches:
            self.read.append(batch_id)
            self.position = batch_id
        return len(batches)

    def until(self, expected: set[int], deadline: float = 30.0) -> None:
        """Read until every expected id has been read (or the deadline passes)."""
        end = time.monotonic() + deadline
        while not expected <= set(self.read) and time.monotonic() < end:
            if not self.step():
                time.sleep(0.01)
        self.step()


def wait_for(predicate, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_a_batch_committed_after_a_later_one_is_read_exactly_once(database):
    kind, url = database
    earlier, later = AlarmStore(url), AlarmStore(url)  # two workers appending
    tail = Tail(url)
    ids: dict[str, int] = {}

    def append(name, store, tag):
        ids[name] = SampleJournal(store).append("p", batch_of(tag))

    watch = StatementWatch(later.engine)
    with HeldCommit(earlier.engine) as held:
        first = threading.Thread(target=append, args=("earlier", earlier, 1))
        first.start()
        assert held.holding.wait(30), "the first append reached its commit"
        second = threading.Thread(target=append, args=("later", later, 2))
        second.start()
        # the later append either finished or waits for the earlier one's commit
        if kind == "sqlite":
            wait_for(lambda: "later" in ids or watch.open)
        else:
            wait_for(lambda: "later" in ids or waiting_appenders(tail.store))
        tail.step()  # a tail reads while the earlier batch is still uncommitted
        held.release()
        first.join(30)
        second.join(30)
    assert set(ids) == {"earlier", "later"}
    tail.until(set(ids.values()))
    assert sorted(tail.read) == sorted(ids.values()), (
        f"{kind}: the tail read {tail.read} of {ids}")
    assert tail.read == sorted(tail.read), "in id order"


APPENDERS_IN_THREADS = 2
APPENDERS_IN_PROCESSES = 2
BATCHES_EACH = 60
OWNERS = {"w1": ["p0", "p2", "p4"], "w2": ["p1", "p3"]}
TAILERS_PER_OWNER = 2


def test_concurrent_appenders_and_tailers_read_every_batch_exactly_once(database):
    kind, url = database
    AlarmStore(url).close()  # the schema, before anyone appends
    projects = sorted(p for owned in OWNERS.values() for p in owned)
    tails = {(owner, k): Tail(url, owned) for owner, owned in OWNERS.items()
             for k in range(TAILERS_PER_OWNER)}
    stop = threading.Event()

    def tailing(tail):
        while not stop.is_set():
            if not tail.step():
                time.sleep(0.002)

    tail_threads = [threading.Thread(target=tailing, args=(t,)) for t in tails.values()]
    for thread in tail_threads:
        thread.start()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=append_in_process,
                                 args=(url, projects, BATCHES_EACH, 10 + k, queue))
                 for k in range(APPENDERS_IN_PROCESSES)]
    for process in processes:
        process.start()
    appended: list[tuple[int, str]] = []
    lock = threading.Lock()

    def appending(seed):
        done = append_many(url, projects, BATCHES_EACH, seed)
        with lock:
            appended.extend(done)

    threads = [threading.Thread(target=appending, args=(k,))
               for k in range(APPENDERS_IN_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for _ in processes:
        got = queue.get(timeout=120)
        assert isinstance(got, list), got
        appended.extend(got)
    for process in processes:
        process.join(30)
    stop.set()
    for thread in tail_threads:
        thread.join(30)
    total = (APPENDERS_IN_THREADS + APPENDERS_IN_PROCESSES) * BATCHES_EACH
    assert len({i for i, _ in appended}) == total, "every append got an id of its own"
    for (owner, k), tail in tails.items():
        expected = sorted(i for i, p in appended if p in OWNERS[owner])
        tail.until(set(expected))
        missing = sorted(set(expected) - set(tail.read))
        assert not missing, f"{kind}: tailer {owner}/{k} never read {missing}"
        assert tail.read == expected, f"{kind}: tailer {owner}/{k} read a batch twice"


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_an_append_behind_a_stalled_one_fails_within_its_lock_timeout(kind, tmp_path, request):
    """One project's append never waits long for another's: behind an appender stalled in
    its transaction, it gives up after ``lock_timeout`` and stores nothing."""
    url = database_url(kind, tmp_path, request)
    stalled, other = AlarmStore(url), AlarmStore(url)
    with HeldCommit(stalled.engine) as held:
        first = threading.Thread(target=SampleJournal(stalled).append,
                                 args=("p", batch_of(1)))
        first.start()
        assert held.holding.wait(30)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="nothing was stored"):
            SampleJournal(other, lock_timeout=1).append("q", batch_of(2, project="q"))
        assert time.monotonic() - started < 5
        held.release()
        first.join(30)
    assert SampleJournal(other, lock_timeout=1).append("q", batch_of(3, project="q"))
    assert [p for _, p, _ in SampleJournal(other).read(0)] == ["p", "q"]
