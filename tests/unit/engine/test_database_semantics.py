"""Every alarm database keeps times and ids exactly as they were written.

MySQL/MariaDB are where this is not a given: ``FLOAT`` there is single precision
(+-64 s at today's epoch, so a worker saw itself dead), and their default collation
folds case and ignores trailing spaces (so project ``'ABC'`` was project ``'abc '``).
Each test runs on SQLite, PostgreSQL and MariaDB.
"""
import random

import pytest
import sqlalchemy as sa

from heat_alarming.engine import models
from heat_alarming.engine.alarm import ALARM, OK, Alarm
from heat_alarming.engine.alarm_store import AlarmStore, HistoryEntry, Notification
from heat_alarming.engine.coordination import Membership
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering import ManualClock, Sample
from heat_alarming.metering.batch import SampleBatch
from tests.support.databases import DATABASES, database_url

T0 = 1_767_225_600.123456  # 2026-01-01, with microseconds
TWINS = ("abc", "ABC", "abc ", "Abc")  # four different ids wherever an id goes


@pytest.fixture(params=DATABASES)
def alarm_store(request, tmp_path):
    store = AlarmStore(database_url(request.param, tmp_path, request))
    yield store
    store.close()


def alarm(alarm_id="a1", project_id="p1", **fields) -> Alarm:
    return Alarm.from_dict(dict({
        "alarm_id": alarm_id, "name": alarm_id, "project_id": project_id,
        "threshold_rule": {"meter_name": "cpu_util", "threshold": 50}}, **fields))


def test_times_round_trip_exactly(alarm_store):
    times = [T0 + random.Random(7).random() * 86400 for _ in range(50)] + [T0, T0 + 1e-6]
    a = alarm(state=ALARM)
    a.state_timestamp, a.pending_since = times[0], times[1]
    alarm_store.save_alarm(a)
    alarm_store.commit_round([], [
        HistoryEntry(f"e{i}", "a1", "state transition", t, OK, ALARM, "r", {}, "low")
        for i, t in enumerate(times)], [
        Notification(f"k{i}", "a1", "log://", {}, next_attempt=t, created=t)
        for i, t in enumerate(times)])
    stored = alarm_store.load_alarm("a1")
    assert (stored.state_timestamp, stored.pending_since) == (times[0], times[1])
    assert sorted(h.timestamp for h in alarm_store.history("a1", limit=100)) == sorted(times)
    due = alarm_store.due_notifications(max(times), limit=100)
    assert sorted(n.next_attempt for n in due) == sorted(times)
    assert alarm_store.next_notification_time() == min(times)
    # a claim compares the time it read with the stored one: equal, so it is claimed
    assert len(alarm_store.claim(due, max(times), lease=60.0)) == len(times)


def test_a_heartbeating_worker_never_sees_itself_dead(alarm_store):
    clock = ManualClock(T0)
    me = Membership(alarm_store, "w-me", heartbeat_interval=5.0, clock=clock)
    gone = Membership(alarm_store, "w-gone", heartbeat_interval=5.0, clock=clock)
    gone.heartbeat()
    beats = random.Random(3)
    seen = []
    for _ in range(128):
        seen.append(me.heartbeat())
        clock.advance(4.0 + beats.random())  # a beat a little early or late, never missed
    assert all("w-me" in live for live in seen), "every heartbeat sees this worker alive"
    assert "w-gone" not in me.live(), "one that stopped beating is gone"


def test_an_update_that_changes_nothing_still_counts_as_done(alarm_store):
    # MySQL counts changed rows unless the client asks for matched ones (SQLAlchemy does)
    clock = ManualClock(T0)
    me = Membership(alarm_store, "w-me", clock=clock)
    assert me.heartbeat() == me.heartbeat() == ("w-me",), "the same instant twice: one row"
    alarm_store.commit_round([], [], [Notification("k", "a1", "log://", {}, T0, T0)])
    (due,) = alarm_store.due_notifications(T0)
    assert len(alarm_store.claim([due], T0, lease=0.0)) == 1, "claimed at its own time"


def test_ids_differing_only_by_case_or_trailing_space_are_different_alarms(alarm_store):
    alarm_store.save_alarms([alarm(alarm_id=twin, project_id=f"p-{i}",
                                   description=f"mine is {twin!r}")
                             for i, twin in enumerate(TWINS)])
    for i, twin in enumerate(TWINS):
        stored = alarm_store.load_alarm(twin)
        assert (stored.alarm_id, stored.project_id) == (twin, f"p-{i}")
        assert stored.description == f"mine is {twin!r}", "nobody overwrote it"
    assert alarm_store.delete_alarm("abc")
    assert sorted(a.alarm_id for a in alarm_store.load_alarms()) == sorted(TWINS[1:])


def test_a_project_differing_only_by_case_or_trailing_space_is_another_project(
        alarm_store):
    alarm_store.save_alarms([alarm(alarm_id=f"alarm-{i}", project_id=twin)
                             for i, twin in enumerate(TWINS)])
    alarm_store.commit_round([], [], [
        Notification(f"k{i}", f"alarm-{i}", "log://", {}, 0.0, 0.0)
        for i in range(len(TWINS))])
    for i, twin in enumerate(TWINS):
        (due,) = alarm_store.due_notifications(1.0, projects={twin})
        assert (due.alarm_id, due.project_id) == (f"alarm-{i}", twin)
        (claimed,) = alarm_store.claim_notifications(1.0, lease=60.0, projects={twin},
                                                     per_project=10)
        assert claimed.alarm_id == f"alarm-{i}"
        assert alarm_store.next_notification_time(projects={twin}) == 61.0


def test_a_project_reads_only_its_own_journal_batches(alarm_store):
    journal = SampleJournal(alarm_store, clock=ManualClock(T0))
    for twin in TWINS:
        journal.append(twin, SampleBatch.from_samples(
            [Sample("cpu_util", 1.0, f"vm-of-{twin}", project_id=twin)], T0))
    for twin in TWINS:
        ((_, project, batch),) = journal.read(0, projects=[twin])
        assert (project, batch.resource_ids) == (twin, [f"vm-of-{twin}"])


def test_worker_ids_differing_only_by_case_are_two_workers(alarm_store):
    clock = ManualClock(T0)
    for twin in TWINS:
        Membership(alarm_store, twin, clock=clock).heartbeat()
    assert Membership(alarm_store, "abc", clock=clock).live() == tuple(sorted(TWINS))


def test_a_definition_and_a_payload_beyond_64_kib_round_trip(alarm_store):
    big = "x" * 100_000  # TEXT holds 64 KiB on MySQL/MariaDB
    alarm_store.save_alarm(alarm(description=big))
    assert alarm_store.load_alarm("a1").description == big
    alarm_store.commit_round([], [HistoryEntry("e1", "a1", "state transition", T0, OK,
                                               ALARM, big, {"big": big}, "low")],
                             [Notification("k1", "a1", "log://", {"reason": big}, 0.0, 0.0)])
    (entry,) = alarm_store.history("a1")
    assert (entry.reason, entry.reason_data) == (big, {"big": big})
    (due,) = alarm_store.due_notifications(1.0)
    assert due.payload == {"reason": big}
    alarm_store.notification_retry(due.id, 1, 2.0, big)
    assert alarm_store.due_notifications(2.0)[0].last_error == big[:2000]


def test_mysql_refuses_what_a_column_cannot_hold_even_on_a_lax_server(request):
    # a server whose sql_mode is not strict would store a too-long value cut short
    url = request.getfixturevalue("mariadb_url") + "&init_command=SET sql_mode=''"
    store = AlarmStore(url)
    try:
        with store.engine.connect() as connection:
            modes = connection.execute(sa.text("SELECT @@SESSION.sql_mode")).scalar()
            assert "STRICT_ALL_TABLES" in modes.split(",")
            with pytest.raises(sa.exc.DataError):
                connection.execute(models.workers.insert().values(
                    worker_id="w" * 129, host="h", pid=1, heartbeat=T0))
    finally:
        store.close()
