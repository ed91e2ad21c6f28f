"""A round in which many alarms change state writes all of it, in batches, on every
alarm database (SQLite, PostgreSQL, MariaDB): every state, history row and queued
notification, and nothing for an alarm deleted while the round ran."""
import gc
import json
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from heat_alarming.engine import models
from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, Alarm
from heat_alarming.engine.alarm_store import (
    COPY_CHUNK,
    ROUND_BATCH,
    AlarmStore,
    HistoryEntry,
    Notification,
)
from heat_alarming.engine.evaluator import Evaluator, Limits
from heat_alarming.metering import ManualClock, RollingStore
from tests.support.databases import DATABASES, database_url

T0 = 1_767_225_600.0
PERIOD = 60
#: more alarms than one locking SELECT of a round names, so that the round takes several
#: (and more than one chunk of PostgreSQL's COPY holds)
ALARMS = ROUND_BATCH + 500
assert ALARMS > 2 * COPY_CHUNK


@pytest.fixture(params=DATABASES)
def alarm_store(request, tmp_path):
    store = AlarmStore(database_url(request.param, tmp_path, request))
    yield store
    store.close()


def storm(alarm_store: AlarmStore) -> tuple[Evaluator, RollingStore, ManualClock]:
    """ALARMS alarms, each on its own server, in alarm above 75 after one period."""
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock, capacity=ALARMS)
    evaluator = Evaluator(store, alarm_store, clock=clock,
                          limits=Limits(alarms_per_project=ALARMS))
    evaluator.define_many(
        {"alarm_id": f"alarm-{i:04d}", "name": f"cpu-high-{i}", "project_id": "p",
         "alarm_actions": ["log://"], "ok_actions": ["log://"],
         "threshold_rule": {"meter_name": "cpu_util", "statistic": "avg", "period": PERIOD,
                            "evaluation_periods": 1, "threshold": 75,
                            "comparison_operator": "gt",
                            "query": [{"field": "resource_id", "op": "eq",
                                       "value": f"server-{i}"}]}}
        for i in range(ALARMS))
    return evaluator, store, clock


def one_period(store: RollingStore, clock: ManualClock, level: float) -> None:
    rows = np.array([store.series_id("cpu_util", f"server-{i}", "p") for i in range(ALARMS)])
    start = clock()
    for k in range(6):
        store.ingest_arrays(rows, np.full(ALARMS, start + k * 10 + 1.0), np.full(ALARMS, level))
    clock.set(start + PERIOD + 0.5)


def stored(alarm_store: AlarmStore):
    with alarm_store.engine.connect() as connection:
        states = dict(connection.execute(sa.select(
            models.alarms.c.alarm_id, models.alarms.c.state)).all())
        history = connection.execute(sa.select(
            models.history.c.alarm_id, models.history.c.previous,
            models.history.c.current)).all()
        notes = connection.execute(sa.select(
            models.notifications.c.alarm_id, models.notifications.c.action)).all()
    return states, history, notes


def test_a_round_where_every_alarm_changes_state_writes_every_state_history_and_action(
        alarm_store):
    evaluator, store, clock = storm(alarm_store)
    one_period(store, clock, 90.0)
    assert len(evaluator.evaluate()) == ALARMS
    one_period(store, clock, 30.0)
    assert len(evaluator.evaluate()) == ALARMS
    states, history, notes = stored(alarm_store)
    ids = {f"alarm-{i:04d}" for i in range(ALARMS)}
    assert states == dict.fromkeys(ids, OK)
    assert sorted(history) == sorted([(i, UNKNOWN, ALARM) for i in ids]
                                     + [(i, ALARM, OK) for i in ids])
    assert sorted(notes) == sorted([(i, "log://") for i in ids] * 2)
    # what is read back is what the evaluator holds
    assert {a.alarm_id: a.state_reason for a in alarm_store.load_alarms()} == {
        a.alarm_id: a.state_reason for a in evaluator.alarms()}


def test_an_alarm_deleted_while_the_round_ran_gets_nothing_written(alarm_store):
    evaluator, store, clock = storm(alarm_store)
    commit_round = alarm_store.commit_round

    def deleted_first(*args, **kwargs):  # a stack delete, between decisions and commit
        assert alarm_store.delete_alarm("alarm-0007")
        commit_round(*args, **kwargs)

    alarm_store.commit_round = deleted_first
    one_period(store, clock, 90.0)
    assert len(evaluator.evaluate()) == ALARMS  # decided for all, written for the others
    states, history, notes = stored(alarm_store)
    assert "alarm-0007" not in states, "the deleted alarm's row is not written again"
    assert len(states) == ALARMS - 1 and set(states.values()) == {ALARM}
    assert "alarm-0007" not in {h[0] for h in history} | {n[0] for n in notes}
    assert len(history) == len(notes) == ALARMS - 1


def test_reasons_and_payloads_with_tabs_newlines_and_backslashes_read_back_exactly(
        alarm_store):
    text = "tab\there\nnew line\r\\N and a backslash \\ 'quoted' \"too\" é"
    alarm = Alarm.from_dict({"alarm_id": "a1", "name": "a1", "project_id": "p1",
                             "threshold_rule": {"meter_name": "cpu_util", "threshold": 50}})
    alarm_store.save_alarm(alarm)
    alarm.state, alarm.state_reason, alarm.state_timestamp = ALARM, text, T0 + 0.123456
    alarm.pending_state, alarm.pending_since = None, None
    alarm_store.commit_round(
        [alarm], [HistoryEntry("e1", "a1", "state transition", T0, OK, ALARM, text,
                               {"why": text}, "low")],
        [Notification("e1", "a1", "log://", {"reason": text}, T0, T0)], defined_only=True)
    again = alarm_store.load_alarm("a1")
    assert (again.state, again.state_reason, again.state_timestamp) == (ALARM, text,
                                                                       T0 + 0.123456)
    assert (again.pending_state, again.pending_since) == (None, None)
    (entry,) = alarm_store.history("a1")
    assert (entry.reason, entry.reason_data) == (text, {"why": text})
    (note,) = alarm_store.due_notifications(T0)
    assert (note.payload, note.attempts, note.last_error) == ({"reason": text}, 0, None)


def test_a_round_whose_texts_need_escapes_in_one_chunk_alone_reads_back_exactly(
        alarm_store):
    # PostgreSQL's COPY is made and sent a chunk at a time, each checked on its own:
    # a chunk with a tab or a backslash between chunks without one, and documents
    # whose JSON spells non-finite and non-ASCII values, all read back as written
    count = 2 * COPY_CHUNK + 7
    special = {COPY_CHUNK + 3, count - 1}  # in the middle chunk, and the last row
    alarms = [Alarm.from_dict({"alarm_id": f"a{i:04d}", "name": f"a{i}", "project_id": "p",
                               "threshold_rule": {"meter_name": "cpu_util",
                                                  "threshold": 50}})
              for i in range(count)]
    alarm_store.save_alarms(alarms)
    texts = [f"tab\there \\N back\\slash {i}" if i in special else f"plain reason {i}"
             for i in range(count)]
    data = [{"most_recent": float("nan") if i in special else 90.0 + i,
             "bounds": [float("inf"), -float("inf"), None, True], "name": "é \u2603",
             "nested": {"i": i}} for i in range(count)]
    for alarm, text in zip(alarms, texts):
        alarm.state, alarm.state_reason, alarm.state_timestamp = ALARM, text, T0
    alarm_store.commit_round(
        alarms,
        [HistoryEntry(f"e{i}", a.alarm_id, "state transition", T0, OK, ALARM, text, d, "low")
         for i, (a, text, d) in enumerate(zip(alarms, texts, data))],
        [Notification(f"e{i}", a.alarm_id, "log://", {"reason": text, "reason_data": d},
                      T0, T0) for i, (a, text, d) in enumerate(zip(alarms, texts, data))],
        defined_only=True)
    assert [a.state_reason for a in sorted(alarm_store.load_alarms(),
                                           key=lambda a: a.alarm_id)] == texts
    spelled = [json.dumps(d) for d in data]  # (NaN is not equal to itself)
    for i in sorted(special | {0, COPY_CHUNK, count - 2}):
        (entry,) = alarm_store.history(f"a{i:04d}")
        assert (entry.reason, json.dumps(entry.reason_data)) == (texts[i], spelled[i])
    notes = {n.alarm_id: n.payload for n in alarm_store.due_notifications(T0, limit=count)}
    assert len(notes) == count
    assert [(p["reason"], json.dumps(p["reason_data"])) for _, p in sorted(notes.items())] \
        == list(zip(texts, spelled))


def test_a_reason_with_nul_or_a_lone_surrogate_is_stored_cleaned_with_the_round(
        alarm_store):
    # words from outside (a Prometheus error, a webhook's answer) may carry either;
    # PostgreSQL refuses NUL, no driver encodes a surrogate: the round must commit still
    hostile = "bad\x00 answer \ud800 from \x1b[31m outside\tkept\n"
    alarms = [Alarm.from_dict({"alarm_id": f"a{i}", "name": f"a{i}", "project_id": f"p{i}",
                               "threshold_rule": {"meter_name": "cpu_util", "threshold": 50}})
              for i in (1, 2)]
    for alarm in alarms:
        alarm_store.save_alarm(alarm)
        alarm.state, alarm.state_timestamp = ALARM, T0
    alarms[0].state_reason, alarms[1].state_reason = hostile, "fine"
    alarm_store.commit_round(
        alarms, [HistoryEntry("e1", "a1", "state transition", T0, OK, ALARM, hostile,
                              {"why": hostile}, "low")],
        [Notification("e1", "a1", "log://", {"reason": hostile}, T0, T0)], defined_only=True)
    cleaned = "bad answer ? from [31m outside\tkept\n"
    assert alarm_store.load_alarm("a1").state_reason == cleaned
    assert alarm_store.load_alarm("a2").state_reason == "fine"  # the other project's too
    (entry,) = alarm_store.history("a1")
    assert entry.reason == cleaned and entry.reason_data == {"why": hostile}
    (note,) = alarm_store.due_notifications(T0)
    assert note.payload == {"reason": hostile}  # JSON keeps it, escaped
    alarm_store.notification_retry(note.id, 1, T0, hostile)
    (again,) = alarm_store.due_notifications(T0)
    assert again.last_error == cleaned


@pytest.mark.parametrize("collector_on", [True, False])
def test_the_cyclic_collector_waits_for_the_round_and_is_left_as_it_was(collector_on):
    # a storm's thousands of short-lived objects would set off full collections, each
    # walking every object of the process; a round makes no cycles, so none is needed
    evaluator, store, clock = storm(AlarmStore("sqlite://"))
    collections = []

    def counted(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    alarm_store, seen_at_commit = evaluator.alarm_store, []
    commit_round = alarm_store.commit_round

    def committed(*args, **kwargs):  # the round's end: every decision is made
        commit_round(*args, **kwargs)
        seen_at_commit.append((list(collections), gc.isenabled()))

    alarm_store.commit_round = committed
    one_period(store, clock, 90.0)
    was_on = gc.isenabled()
    gc.callbacks.append(counted)
    try:
        if not collector_on:
            gc.disable()
        assert len(evaluator.evaluate()) == ALARMS
        assert seen_at_commit == [([], False)], "no collection during the round"
        assert gc.isenabled() is collector_on
    finally:
        gc.callbacks.remove(counted)
        if was_on:
            gc.enable()


def test_event_ids_are_unique_unguessable_version_7_uuids_in_the_order_of_their_rounds(
        alarm_store):
    evaluator, store, clock = storm(alarm_store)
    one_period(store, clock, 90.0)
    first = [t["event_id"] for t in evaluator.evaluate()]
    one_period(store, clock, 30.0)
    second = [t["event_id"] for t in evaluator.evaluate()]
    assert len(set(first + second)) == 2 * ALARMS
    assert {uuid.UUID(i).version for i in first + second} == {7}
    assert max(first) < min(second), "a later round's ids sort after an earlier one's"
    # each id's random bits are its own: a key sent to one project's webhook tells
    # nothing of another's keys of the same round (no counter to count on from it)
    tails = [int(i[-12:], 16) for i in first]
    assert not any(abs(b - a) < 2 ** 16 for a, b in zip(tails, tails[1:]))
    (entry, *_) = alarm_store.history("alarm-0000")
    assert entry.event_id in second
