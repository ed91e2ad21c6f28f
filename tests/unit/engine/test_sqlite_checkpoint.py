"""SQLite: a round's commit leaves copying its write-ahead log into the database file
(the checkpoint) to a thread of the store's own, which runs it soon after; every
other commit checkpoints as SQLite does."""
import os
import sqlite3
import threading

import pytest

from heat_alarming.engine import sqlite_wal
from heat_alarming.engine.alarm import ALARM, OK, Alarm
from heat_alarming.engine.alarm_store import AlarmStore, HistoryEntry, new_event_id
from heat_alarming.engine.sqlite_wal import Checkpointer
from tests.support.waiting import wait_for

T0 = 1_767_225_600.0
#: a round of this many alarms with reasons this long writes more than SQLite's 1,000
#: log pages, past which its own commit would checkpoint
ALARMS, REASON = 1500, 3000


@pytest.fixture
def database(tmp_path):
    return str(tmp_path / "alarms.sqlite")


def defined(alarm_store: AlarmStore) -> list[Alarm]:
    alarms = [Alarm.from_dict({"alarm_id": f"a{i:04d}", "name": f"a{i}", "project_id": "p",
                               "threshold_rule": {"meter_name": "cpu_util", "threshold": 50}})
              for i in range(ALARMS)]
    alarm_store.save_alarms(alarms)
    return alarms


def storm_round(alarm_store: AlarmStore, alarms: list[Alarm]) -> None:
    text = "r" * REASON
    for alarm in alarms:
        alarm.state, alarm.state_reason, alarm.state_timestamp = ALARM, text, T0
    alarm_store.commit_round(alarms, [
        HistoryEntry(new_event_id(T0), a.alarm_id, "state transition", T0, OK, ALARM, text,
                     {}, "low") for a in alarms], [], defined_only=True)


def checkpoint_threads(database: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name == f"alarm-store-checkpoint {database}" and t.is_alive()]


def test_a_rounds_commit_leaves_its_pages_in_the_log_and_asks_for_a_checkpoint(
        database, monkeypatch):
    alarm_store = AlarmStore(database)
    asked = []
    monkeypatch.setattr(alarm_store.checkpointer, "ask", lambda: asked.append(True))
    alarms = defined(alarm_store)
    before = os.path.getsize(database)
    storm_round(alarm_store, alarms)
    assert asked == [True]
    assert os.path.getsize(database) == before, "the commit copied no page into the file"
    with sqlite3.connect(database) as other:  # the checkpoint the thread would run
        busy, log, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, log) and log > 1000
    assert os.path.getsize(database) > before + ALARMS * REASON
    # the store's connections checkpoint as SQLite does for every other commit
    with alarm_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert [a.state_reason for a in alarm_store.load_alarms()] == ["r" * REASON] * ALARMS
    alarm_store.close()


def test_the_checkpointers_thread_copies_the_round_into_the_file_and_ends_at_close(
        database):
    alarm_store = AlarmStore(database)
    alarms = defined(alarm_store)
    before = os.path.getsize(database)
    storm_round(alarm_store, alarms)
    assert alarm_store.checkpointer.wait_idle(20), "the checkpoint asked for has run"
    assert alarm_store.checkpointer.completed == 1
    assert os.path.getsize(database) > before + ALARMS * REASON
    assert checkpoint_threads(database)
    alarm_store.close()
    assert not checkpoint_threads(database)
    assert len(AlarmStore(database).load_alarms()) == ALARMS  # nothing lost


def test_an_idle_checkpointer_ends_its_thread_and_the_next_request_starts_another(
        database, monkeypatch):
    monkeypatch.setattr(sqlite_wal, "IDLE_SECONDS", 0.05)
    AlarmStore(database).close()  # a database in WAL mode
    checkpointer = Checkpointer(database, 5.0)
    assert checkpointer.wait_idle(0), "nothing asked for yet"
    checkpointer.ask()
    wait_for(lambda: checkpointer.completed == 1, what="the first checkpoint")
    wait_for(lambda: not checkpoint_threads(database), what="the idle thread's end")
    checkpointer.ask()
    wait_for(lambda: checkpointer.completed == 2, what="the second checkpoint")
    checkpointer.close()
    assert not checkpoint_threads(database)
    checkpointer.ask()  # closed: no thread, no checkpoint
    assert not checkpoint_threads(database) and checkpointer.completed == 2


def test_a_store_in_memory_or_read_only_has_no_checkpointer(database):
    AlarmStore(database).close()
    assert AlarmStore("sqlite://").checkpointer is None
    assert AlarmStore(database, read_only=True).checkpointer is None


def test_a_checkpoint_that_cannot_run_is_logged_and_the_next_request_tries_again(
        tmp_path, caplog):
    database = str(tmp_path / "gone" / "alarms.sqlite")  # a directory that is not there
    checkpointer = Checkpointer(database, 1.0)
    checkpointer.ask()
    assert checkpointer.wait_idle(20) and checkpointer.completed == 0
    assert "Checkpointing the alarm database" in caplog.text
    os.mkdir(tmp_path / "gone")
    AlarmStore(database).close()  # now it is there, in WAL mode
    checkpointer.ask()
    assert checkpointer.wait_idle(20) and checkpointer.completed == 1
    checkpointer.close()
