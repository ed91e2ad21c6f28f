"""``heat-alarming alarm list|show|history|state`` reads an alarm database that a real
evaluator wrote (SQLite, PostgreSQL, MariaDB), and refuses in one line what it cannot
read, without creating or migrating anything."""
import contextlib
import datetime as dt
import json
import os
import sqlite3

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from heat_alarming import cli
from heat_alarming.engine import models
from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, Alarm
from heat_alarming.engine.alarm_store import MIGRATIONS, AlarmStore, HistoryEntry, database_url
from tests.support.alarm_worlds import T0, AlarmWorld, threshold_alarm
from tests.support.databases import DATABASES, SCHEMA_HEAD, temporary_database

#: events recorded for the "chatty" alarm: more than two of the command's default pages
CHATTY_EVENTS = 1201


@contextlib.contextmanager
def _database(kind, tmp_path_factory, request):
    if kind == "sqlite":
        yield str(tmp_path_factory.mktemp("alarm-cli") / "alarms.sqlite")
        return
    server = request.getfixturevalue({"postgresql": "postgres_server",
                                      "mariadb": "mariadb_server"}[kind])
    with temporary_database(server, "ha_cli") as url:
        yield url


class World:
    """Alarms of three projects, decided over twelve periods by a real evaluator, and one
    alarm with more history than two of the command's pages."""

    def __init__(self, url):
        self.url = url
        self.world = AlarmWorld(url)
        ev = self.world.evaluator
        self.flapping = ev.define(threshold_alarm("p1", "cpu-high"))        # ok <-> alarm
        self.quiet = ev.define(threshold_alarm("p1", "cpu-idle", rule={"threshold": 1000}))
        self.twin = ev.define(threshold_alarm("p2", "cpu-high"))            # name used twice
        self.silent = ev.define(threshold_alarm("p2", "disk", rule={"meter_name": "disk"},
                                                enabled=False))
        self.chatty = ev.define(threshold_alarm("p3", "chatty"))
        for i in range(12):
            self.world.feed({"p1": 80.0 if i % 2 == 0 else 10.0, "p2": 90.0})
        # two events per timestamp: the row id orders them, and no page may split wrongly
        self.world.alarm_store.record(
            HistoryEntry(f"chatty-{i:04d}", self.chatty.alarm_id, "state transition",
                         T0 + 1000 + i // 2, OK, ALARM, f"event {i}", {"n": i}, "low")
            for i in range(CHATTY_EVENTS))

    def stored(self, alarm):
        return self.world.committed(alarm.alarm_id)

    def every_event(self, alarm):
        """The whole history in one query, as the store orders it (newest first)."""
        return [h.event_id for h in self.world.alarm_store.history(alarm.alarm_id, 100000)]

    def close(self):
        self.world.close()


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory):
    with _database(request.param, tmp_path_factory, request) as url:
        made = World(url)
        yield made
        made.close()


def alarm(capsys, *argv, url):
    """Run ``heat-alarming alarm ARGV --alarm-database URL``: (status, stdout, stderr)."""
    code = cli.main(["alarm", *argv, "--alarm-database", url])
    out, err = capsys.readouterr()
    return code, out, err


def table(out):
    """The rows of a printed table as dicts keyed by the (lower-case) header."""
    lines = out.splitlines()
    header, rule = lines[0], lines[1]
    spans, start = [], 0
    for dashes in rule.split("  "):
        if dashes:
            spans.append((start, start + len(dashes)))
            start += len(dashes)
        start += 2
    spans[-1] = (spans[-1][0], None)
    names = [header[a:b].strip().lower() for a, b in spans]
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, spans)} for line in lines[2:]]


def one_error_line(code, out, err):
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("heat-alarming alarm: error: ")
    return err.strip()


def shown(url):
    return sa.engine.make_url(database_url(url)).render_as_string(hide_password=True)


def iso(timestamp):
    """Epoch seconds as the command prints them: ISO 8601, UTC, milliseconds."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- list ---------------------------------------------------------------------------
def test_list_prints_every_alarm_sorted_by_project_name_and_id(world, capsys):
    code, out, err = alarm(capsys, "list", url=world.url)
    assert (code, err) == (0, "")
    rows = table(out)
    expected = sorted([world.flapping, world.quiet, world.twin, world.silent, world.chatty],
                      key=lambda a: (a.project_id, a.name, a.alarm_id))
    assert [r["id"] for r in rows] == [a.alarm_id for a in expected]
    assert list(rows[0]) == ["id", "name", "project", "type", "state", "enabled",
                             "state timestamp"]
    by_id = {r["id"]: r for r in rows}
    flapping = world.stored(world.flapping)
    assert by_id[flapping.alarm_id] == {
        "id": flapping.alarm_id, "name": "cpu-high", "project": "p1", "type": "threshold",
        "state": flapping.state, "enabled": "true",
        "state timestamp": iso(flapping.state_timestamp)}
    assert flapping.state == OK  # twelve periods: the last one was 10, inside
    assert by_id[world.silent.alarm_id]["enabled"] == "false"
    assert by_id[world.silent.alarm_id]["state"] == UNKNOWN
    assert by_id[world.silent.alarm_id]["state timestamp"] == "-"


def test_list_filters_by_project_and_state_and_speaks_json(world, capsys):
    code, out, _ = alarm(capsys, "list", "--project", "p2", "--format", "json", url=world.url)
    listed = json.loads(out)
    assert code == 0
    assert [a["name"] for a in listed] == ["cpu-high", "disk"]
    assert listed[0] == {"id": world.twin.alarm_id, "name": "cpu-high", "project": "p2",
                         "type": "threshold", "state": ALARM, "enabled": True,
                         "state_timestamp": iso(world.stored(world.twin).state_timestamp)}
    _, out, _ = alarm(capsys, "list", "--state", "alarm", "-f", "json", url=world.url)
    assert [a["id"] for a in json.loads(out)] == [world.twin.alarm_id]
    _, out, _ = alarm(capsys, "list", "--state", "insufficient_data", "--project", "p1",
                      "-f", "json", url=world.url)
    assert [a["name"] for a in json.loads(out)] == []  # p1's alarms are all decided
    _, out, _ = alarm(capsys, "list", "--project", "nobody", url=world.url)
    assert table(out) == []


# -- show and state ----------------------------------------------------------------
def test_show_gives_the_definition_and_the_state(world, capsys):
    stored = world.stored(world.flapping)
    code, out, _ = alarm(capsys, "show", world.flapping.alarm_id, "-f", "json", url=world.url)
    assert code == 0
    assert json.loads(out) == {
        **world.flapping.definition(), "state": stored.state,
        "state_reason": stored.state_reason, "state_timestamp": iso(stored.state_timestamp),
        "pending_state": None, "pending_since": None}
    _, out, _ = alarm(capsys, "show", world.flapping.alarm_id, url=world.url)
    fields = {r["field"]: r["value"] for r in table(out)}
    assert fields["threshold_rule.meter_name"] == "cpu_util"
    assert fields["threshold_rule.comparison_operator"] == "gt"
    assert fields["alarm_actions"] == '["inproc://test"]'
    assert fields["state_reason"] == stored.state_reason
    assert fields["state_timestamp"] == iso(stored.state_timestamp)


def test_an_alarm_is_found_by_a_name_only_one_alarm_has(world, capsys):
    _, by_name, _ = alarm(capsys, "show", "cpu-idle", "-f", "json", url=world.url)
    assert json.loads(by_name)["alarm_id"] == world.quiet.alarm_id
    error = one_error_line(*alarm(capsys, "state", "cpu-high", url=world.url))
    assert error.endswith(f"2 alarms are named cpu-high in {shown(world.url)}: "
                          "give the id of one")


def test_state_gives_the_state_its_reason_and_since_when(world, capsys):
    stored = world.stored(world.twin)
    code, out, _ = alarm(capsys, "state", world.twin.alarm_id, url=world.url)
    assert code == 0
    assert {r["field"]: r["value"] for r in table(out)} == {
        "alarm_id": world.twin.alarm_id, "state": ALARM,
        "state_reason": stored.state_reason, "state_timestamp": iso(stored.state_timestamp),
        "pending_state": "-", "pending_since": "-"}
    assert "outside threshold" in stored.state_reason
    _, out, _ = alarm(capsys, "state", world.twin.alarm_id, "-f", "json", url=world.url)
    assert json.loads(out)["state"] == ALARM


# -- history ---------------------------------------------------------------------------
def test_history_prints_every_event_newest_first_across_pages(world, capsys):
    # the flapping alarm's twelve transitions, read three (pages that end with the
    # history) and five (a short last page) per query
    every = world.every_event(world.flapping)
    assert len(every) == 12
    for page in ("3", "5"):
        code, out, _ = alarm(capsys, "history", world.flapping.alarm_id, "--page-size", page,
                             url=world.url)
        rows = table(out)
        assert code == 0 and [r["event id"] for r in rows] == every
    transitions = [r for r in rows if r["type"] == "state transition"]
    assert [r["current"] for r in transitions][:3] == [OK, ALARM, OK]
    assert rows[-1]["previous"] == UNKNOWN
    # more events than two default pages, two to a timestamp: all, once, in order
    _, out, _ = alarm(capsys, "history", "chatty", "-f", "json", url=world.url)
    events = [e["event_id"] for e in json.loads(out)]
    assert events == [f"chatty-{i:04d}" for i in reversed(range(CHATTY_EVENTS))]
    first = json.loads(out)[0]
    assert first["timestamp"] == iso(T0 + 1000 + (CHATTY_EVENTS - 1) // 2)
    assert first["reason_data"] == {"n": CHATTY_EVENTS - 1}


def test_history_limit_caps_the_events_and_marker_starts_after_one(world, capsys):
    every = world.every_event(world.flapping)
    _, out, _ = alarm(capsys, "history", world.flapping.alarm_id, "--limit", "5",
                      "--page-size", "2", "-f", "json", url=world.url)
    first = [e["event_id"] for e in json.loads(out)]
    assert first == every[:5]
    _, out, _ = alarm(capsys, "history", world.flapping.alarm_id, "--marker", first[-1],
                      "--page-size", "4", "-f", "json", url=world.url)
    assert [e["event_id"] for e in json.loads(out)] == every[5:]
    _, out, _ = alarm(capsys, "history", world.flapping.alarm_id, "--marker", every[-1],
                      url=world.url)
    assert table(out) == []


def test_a_marker_the_alarm_does_not_have_is_one_line(world, capsys):
    theirs = world.every_event(world.twin)[0]
    error = one_error_line(*alarm(capsys, "history", world.flapping.alarm_id,
                                  "--marker", theirs, url=world.url))
    assert error.endswith(f"--marker {theirs}: alarm {world.flapping.alarm_id} has no "
                          "event with that id")


@pytest.mark.parametrize("subcommand", ["show", "history", "state"])
def test_an_unknown_alarm_is_one_line_naming_the_database(world, capsys, subcommand):
    error = one_error_line(*alarm(capsys, subcommand, "no-such-alarm", url=world.url))
    assert error == f"heat-alarming alarm: error: no alarm no-such-alarm in {shown(world.url)}"
    password = sa.engine.make_url(database_url(world.url)).password
    assert not password or f":{password}@" not in error


def test_an_alarm_whose_definition_cannot_be_read_is_listed_and_shown(capsys, tmp_path):
    path = str(tmp_path / "alarms.sqlite")
    store = AlarmStore(path)
    store.save_alarm(Alarm.from_dict(threshold_alarm("p1", "fine")))
    bad = Alarm.from_dict(threshold_alarm("p1", "broken"))
    store.save_alarm(bad)
    with store.engine.begin() as connection:  # as an older release or a hand might
        connection.execute(models.alarms.update().where(
            models.alarms.c.alarm_id == bad.alarm_id).values(
            definition='{"name": "broken", "threshold_rule": {"threshold": 1}}'))
    store.close()
    code, out, _ = alarm(capsys, "list", "-f", "json", url=path)
    listed = {a["id"]: a for a in json.loads(out)}
    assert code == 0 and len(listed) == 2
    assert listed[bad.alarm_id] == {"id": bad.alarm_id, "name": None, "project": "p1",
                                    "type": "invalid", "state": UNKNOWN, "enabled": None,
                                    "state_timestamp": None}
    code, out, _ = alarm(capsys, "show", bad.alarm_id, "-f", "json", url=path)
    shown_alarm = json.loads(out)
    assert code == 0
    assert shown_alarm["error"] == ("invalid stored definition: threshold_rule.meter_name: "
                                    "a meter name is required")
    assert shown_alarm["state"] == UNKNOWN


# -- databases it will not read ------------------------------------------------------
def test_a_missing_sqlite_file_is_one_line_and_is_not_created(capsys, tmp_path):
    path = tmp_path / "absent.sqlite"
    error = one_error_line(*alarm(capsys, "list", url=str(path)))
    assert error.endswith(f"no alarm database at {path}: the file does not exist")
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_a_file_that_is_not_a_database_is_one_line(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    error = one_error_line(*alarm(capsys, "list", url=str(path)))
    assert error.endswith(f"cannot read the alarm database {path}: file is not a database")


def test_an_unmigrated_sqlite_database_is_refused_and_left_as_it_was(capsys, tmp_path):
    path = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.commit()
    error = one_error_line(*alarm(capsys, "state", "x", url=str(path)))
    assert error.endswith(f"sqlite:///{path} holds no alarm tables: it is not an alarm "
                          "database, or its schema was never created (heat-engine creates "
                          "it when it loads heat-alarming)")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master")] == ["notes"]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_reading_an_alarm_database_leaves_its_journal_mode_and_files_as_they_were(
        capsys, tmp_path):
    path = tmp_path / "alarms.sqlite"
    store = AlarmStore(str(path))  # the alarm store writes in WAL mode
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, _ = alarm(capsys, "list", url=str(path))
    assert code == 0 and out.startswith("ID  NAME")
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["alarms.sqlite"]
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.mark.parametrize("url", ["my-sql://heat:s3cret@127.0.0.1/heat",
                                 "postgresql://heat:s3cret@127.0.0.1:5432x/heat"])
def test_a_url_that_cannot_be_read_is_one_line_without_its_password(capsys, url):
    error = one_error_line(*alarm(capsys, "list", url=url))
    assert "is neither a SQLAlchemy URL nor a file path" in error
    assert "s3cret" not in error and "heat:***@127.0.0.1" in error


def test_an_older_schema_is_refused_not_upgraded(capsys, tmp_path):
    path = tmp_path / "old.sqlite"
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        connection.commit()
    engine.dispose()
    error = one_error_line(*alarm(capsys, "list", url=str(path)))
    assert error.endswith(f"sqlite:///{path} has schema version 0003, older than this "
                          f"release's {SCHEMA_HEAD}: heat-engine upgrades it when it loads "
                          "this release of heat-alarming")
    assert AlarmStore(str(path), upgrade=False).schema_version() == "0003"


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_an_empty_server_database_is_refused_and_left_empty(capsys, request, kind):
    server = request.getfixturevalue({"postgresql": "postgres_server",
                                      "mariadb": "mariadb_server"}[kind])
    with temporary_database(server, "ha_cli") as url:
        error = one_error_line(*alarm(capsys, "list", url=url))
        assert error.endswith(" holds no alarm tables: it is not an alarm database, or its "
                              "schema was never created (heat-engine creates it when it "
                              "loads heat-alarming)")
        engine = sa.create_engine(url)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


def test_a_read_that_fails_after_opening_is_one_line(capsys, tmp_path):
    path = str(tmp_path / "damaged.sqlite")
    store = AlarmStore(path)
    kept = Alarm.from_dict(threshold_alarm("p1", "kept"))
    store.save_alarm(kept)
    with store.engine.begin() as connection:  # the schema's version says head, but...
        connection.execute(sa.text("DROP TABLE ha_alarm_history"))
    store.close()
    error = one_error_line(*alarm(capsys, "history", kept.alarm_id, url=path))
    assert error.endswith(f"reading the alarm database sqlite:///{path} failed: "
                          "no such table: ha_alarm_history")


def test_an_unreachable_server_is_one_line_without_the_password(capsys):
    url = "postgresql+psycopg2://admin:Sup3r-Secret@127.0.0.1:1/alarms"
    error = one_error_line(*alarm(capsys, "list", url=url))
    assert error.startswith("heat-alarming alarm: error: cannot connect to the alarm "
                            "database postgresql+psycopg2://admin:***@127.0.0.1:1/alarms: ")
    assert "Connection refused" in error
    assert "Sup3r-Secret" not in error


def test_the_database_comes_from_the_configuration_when_not_given(world, capsys, tmp_path):
    conf = tmp_path / "heat.conf"
    conf.write_text(f"[heat_alarming]\nalarm_database = {world.url}\n")
    code = cli.main(["--config-file", str(conf), "alarm", "state", world.quiet.alarm_id,
                     "-f", "json"])
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["alarm_id"] == world.quiet.alarm_id


def test_the_default_database_missing_says_where_it_looked(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["alarm", "list"]) == 1
    error = capsys.readouterr().err
    assert error == (f"heat-alarming alarm: error: no alarm database at "
                     f"{tmp_path / 'heat-alarming.sqlite'} ([heat_alarming] alarm_database): "
                     "the file does not exist\n")
    assert os.listdir(tmp_path) == []


def test_history_refuses_a_limit_below_one(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["alarm", "history", "x", "--limit", "0"])
    assert done.value.code == 2
    assert "argument --limit: 0 is below the minimum of 1" in capsys.readouterr().err
