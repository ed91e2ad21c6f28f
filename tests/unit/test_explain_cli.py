"""``heat-alarming explain ALARM`` explains an alarm from a real alarm database (SQLite,
PostgreSQL) and the snapshot a real store wrote: the facts the evaluator decided on,
the summary sentence first; and refuses in one line what it cannot read."""
import argparse
import datetime as dt
import json

import pytest

from heat_alarming import cli
from heat_alarming.engine.alarm import ALARM
from heat_alarming.explain_cli import moment
from heat_alarming.metering import Sample
from heat_alarming.metering.snapshot import write_snapshot
from tests.support.alarm_worlds import PERIOD, T0, AlarmWorld, threshold_alarm
from tests.support.databases import alarm_database

PERIODS = 4


class World:
    """Two alarms of project p1, decided over four periods by a real evaluator, and the
    snapshot of its store: ``cpu-high`` watches all of p1's cpu_util (one server at 80,
    one of server group web-1 at 70), ``web-high`` asks for server group web."""

    def __init__(self, url, directory):
        self.url = url
        self.world = AlarmWorld(url)
        ev = self.world.evaluator
        self.busy = ev.define(threshold_alarm("p1", "cpu-high"))
        self.stray = ev.define(threshold_alarm(
            "p1", "web-high", rule={"matching_metadata": {"metering.server_group": "web"}}))
        for _ in range(PERIODS):
            start = T0 + self.world.period_index * PERIOD
            for i in range(6):
                self.world.store.add(Sample(
                    "cpu_util", 70.0, "p1-web-vm", project_id="p1",
                    timestamp=start + i * 10 + 0.5,
                    resource_metadata={"metering.server_group": "web-1"}))
            self.world.feed({"p1": 80.0})
        self.at = self.world.clock()
        self.snapshot = str(directory / "worker.snapshot")
        write_snapshot(self.world.store, self.snapshot)

    def live(self, alarm):
        """What the evaluator that decided the alarm explains."""
        return self.world.evaluator.explain(alarm.alarm_id)

    def close(self):
        self.world.close()


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def world(request, tmp_path_factory):
    with alarm_database(request.param, tmp_path_factory, request) as url:
        made = World(url, tmp_path_factory.mktemp("explain-snapshots"))
        yield made
        made.close()


def explain(capsys, *argv, url):
    """``heat-alarming explain ARGV --alarm-database URL``: (status, stdout, stderr)."""
    code = cli.main(["explain", *argv, "--alarm-database", url])
    out, err = capsys.readouterr()
    return code, out, err


def explained(capsys, world, alarm, *argv):
    """The JSON explanation of ``alarm`` with the world's snapshot, as at its last round."""
    code, out, err = explain(capsys, alarm.alarm_id, "--snapshot", world.snapshot,
                             "--at", str(world.at), "-f", "json", *argv, url=world.url)
    assert (code, err) == (0, ""), err
    return json.loads(out)


def iso(timestamp):
    """Epoch seconds as the command prints them: ISO 8601, UTC, milliseconds."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def one_error_line(code, out, err):
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("heat-alarming explain: error: "), err
    return err.strip()


def table_rows(lines):
    """The rows of one printed table (header, dashes, rows) as dicts by lower-case header."""
    header, rule, *rows = lines
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    spans[-1] = (spans[-1][0], None)
    names = [header[a:b].strip().lower() for a, b in spans]
    return [{n: row[a:b].strip() for n, (a, b) in zip(names, spans)} for row in rows]


def blocks(out):
    """The printed blocks (separated by blank lines) of the table format."""
    return [block.splitlines() for block in out.strip("\n").split("\n\n")]


# -- the facts ---------------------------------------------------------------------------
def test_a_snapshot_gives_the_command_the_facts_the_evaluator_decided_on(world, capsys):
    shown = explained(capsys, world, world.busy)
    live = world.live(world.busy)
    assert shown["alarm_id"] == world.busy.alarm_id and shown["name"] == "cpu-high"
    assert shown["state"] == world.world.committed(world.busy.alarm_id).state == ALARM
    assert shown["series"]["count"] == 2  # the server at 80 and the one of web-1 at 70
    last = shown["periods"][-1]
    assert (last["value"], last["samples"], last["empty"]) == (75.0, 12, False)
    assert last["breach"] is True
    for fact in ("rule", "series", "periods", "verdict", "state"):
        assert shown[fact] == live[fact], fact
    assert shown["rule"]["threshold"] == 50 and shown["rule"]["comparison_operator"] == "gt"
    assert shown["samples"] == {"snapshot": world.snapshot, "series": 2, "at": world.at,
                                "newest_bucket": shown["samples"]["newest_bucket"],
                                "owned_by_snapshot": None, "journal": None}
    assert world.at - 60 < shown["samples"]["newest_bucket"] <= world.at
    assert list(shown)[0] == "summary"


def test_the_table_says_the_summary_first_then_the_facts(world, capsys):
    summary = explained(capsys, world, world.busy)["summary"]
    code, out, err = explain(capsys, world.busy.alarm_id, "--snapshot", world.snapshot,
                             "--at", str(world.at), url=world.url)
    assert (code, err) == (0, "")
    summary_block, notes, facts, *sections = blocks(out)
    assert summary_block == [summary]
    assert notes[0].startswith(f"samples: snapshot {world.snapshot} (newest bucket 20")
    assert notes[0].endswith("): 2 series")
    fields = {row["field"]: row["value"] for row in table_rows(facts)}
    assert fields["alarm_id"] == world.busy.alarm_id and fields["state"] == ALARM
    assert fields["rule.threshold"] == "50" and fields["series.count"] == "2"
    assert notes[1] == f"evaluated by this command as at {iso(world.at)}"
    titles = {block[0]: block[1:] for block in sections}
    (periods,) = [rows for title, rows in titles.items() if title.startswith("periods (")]
    rows = table_rows(periods)
    assert rows[-1]["value"] == "75" and rows[-1]["samples"] == "12"
    assert rows[-1]["breach"] == "yes" and rows[-1]["start"].endswith("Z")


def test_the_nearest_series_names_the_metadata_value_that_differs(world, capsys):
    shown = explained(capsys, world, world.stray)
    assert shown["series"]["count"] == 0
    assert "web-1" in shown["summary"] and "0 series" in shown["summary"]
    assert "web-1" in json.dumps(shown["series"]["nearest"])
    assert shown["state"] == world.world.committed(world.stray.alarm_id).state


def test_without_a_snapshot_the_store_is_empty_and_the_output_says_so(world, capsys):
    code, out, err = explain(capsys, world.busy.alarm_id, "--at", str(world.at),
                             url=world.url)
    assert (code, err) == (0, "")
    notes = blocks(out)[1]
    assert notes[0].startswith("samples: none (no --snapshot or --journal given): the "
                               "store is empty")
    _, out, _ = explain(capsys, world.busy.alarm_id, "--at", str(world.at), "-f", "json",
                        url=world.url)
    shown = json.loads(out)
    assert shown["samples"]["snapshot"] is None and shown["series"]["count"] == 0
    assert all(p["empty"] for p in shown["periods"])


def test_a_snapshot_of_a_worker_that_did_not_own_the_project_says_so(world, capsys,
                                                                    tmp_path):
    foreign = str(tmp_path / "other-worker.snapshot")
    write_snapshot(world.world.store, foreign, extra={"owned": ["p2"]})
    code, out, _ = explain(capsys, world.busy.alarm_id, "--snapshot", foreign, "--at",
                           str(world.at), url=world.url)
    assert code == 0
    assert any(line.startswith("the snapshot's worker did not own the alarm's project")
               for line in blocks(out)[1])


def test_at_explains_as_at_an_earlier_time(world, capsys):
    earlier = T0 + 2 * PERIOD + 0.5  # two periods closed
    code, out, err = explain(capsys, world.busy.alarm_id, "--snapshot", world.snapshot,
                             "--at", dt.datetime.fromtimestamp(earlier, dt.timezone.utc)
                             .isoformat(), "-f", "json", url=world.url)
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["evaluated_at"] is None  # no round of this command's decided it
    assert shown["samples"]["at"] == earlier
    assert max(p["end"] for p in shown["periods"]) <= earlier


def test_the_alarm_database_is_left_as_it_was(world, capsys):
    before = world.world.committed(world.stray.alarm_id)
    events = len(world.world.alarm_store.history(world.stray.alarm_id, 1000))
    explained(capsys, world, world.stray)
    explain(capsys, world.stray.alarm_id, url=world.url)  # now, on an empty store
    after = world.world.committed(world.stray.alarm_id)
    assert (after.state, after.state_reason, after.state_timestamp) == (
        before.state, before.state_reason, before.state_timestamp)
    assert len(world.world.alarm_store.history(world.stray.alarm_id, 1000)) == events


# -- the sample journal -------------------------------------------------------------------
class JournalWorld:
    """A heat-engine worker without Heat (its store, evaluator and journal on the alarm
    database) that owns p1, took three periods of p1's pushed samples (6 a period, at
    70, 80, 90) and snapshotted after the second; p2's samples are journalled too."""

    def __init__(self, url, directory):
        from heat_alarming.engine import AlarmStore, Evaluator
        from heat_alarming.engine.worker import Worker
        from heat_alarming.metering import ManualClock, RollingStore

        self.clock = ManualClock(T0)
        self.alarm_store = AlarmStore(url)
        store = RollingStore(10, 3600, clock=self.clock)
        evaluator = Evaluator(store, self.alarm_store, clock=self.clock)
        evaluator.register_target("test", lambda payload: None)
        self.snapshot = str(directory / "worker.snapshot.0")
        self.worker = Worker(store, evaluator, worker_id="w0", join_grace=False,
                             clock=self.clock, snapshot_path=self.snapshot)
        self.alarm = evaluator.define(threshold_alarm("p1", "cpu-high"))
        evaluator.define(threshold_alarm("p2", "cpu-high-2"))
        self.worker.coordinate()
        for period, value in enumerate((70.0, 80.0, 90.0)):
            if period == 2:
                self.worker.snapshot()
            start = T0 + period * PERIOD
            for project in ("p1", "p2"):
                self.worker.push_samples(project, [
                    Sample("cpu_util", value, f"{project}-vm", project_id=project,
                           timestamp=start + i * 10 + 0.5) for i in range(6)])
            self.clock.set(start + PERIOD + 0.5)
            self.worker.coordinate()
        self.at = self.clock()

    def close(self):
        self.alarm_store.close()


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def journalled(request, tmp_path_factory):
    with alarm_database(request.param, tmp_path_factory, request) as url:
        made = JournalWorld(url, tmp_path_factory.mktemp("explain-journal"))
        yield url, made
        made.close()


def samples_by_period(capsys, url, made, *argv):
    code, out, err = explain(capsys, made.alarm.alarm_id, "--at", str(made.at), "-f", "json",
                             *argv, url=url)
    assert (code, err) == (0, ""), err
    shown = json.loads(out)
    return {p["start"]: (p["samples"], p["value"]) for p in shown["periods"]}, shown


def test_the_journal_adds_what_came_after_the_snapshot_each_sample_once(journalled,
                                                                        capsys):
    url, made = journalled
    every = {T0 + i * PERIOD: (6, v) for i, v in enumerate((70.0, 80.0, 90.0))}
    periods, shown = samples_by_period(capsys, url, made, "--snapshot", made.snapshot,
                                       "--journal")
    assert {s: periods[s] for s in every if s in periods} == \
        {s: every[s] for s in every if s in periods}
    assert T0 + 2 * PERIOD in periods  # the period after the snapshot
    assert shown["samples"]["journal"] == {"batches": 1, "samples": 6}
    assert shown["series"]["count"] == 1  # p2's samples stay p2's
    # the snapshot alone has not the last period; the journal alone has all of it
    alone, _ = samples_by_period(capsys, url, made, "--snapshot", made.snapshot)
    assert alone[T0 + 2 * PERIOD][0] == 0
    assert alone[T0 + PERIOD] == every[T0 + PERIOD]
    journal, shown = samples_by_period(capsys, url, made, "--journal")
    assert journal == periods
    assert shown["samples"]["journal"] == {"batches": 3, "samples": 18}


def test_the_journal_needs_a_snapshot_that_says_where_it_stands(journalled, capsys,
                                                                tmp_path):
    url, made = journalled
    bare = str(tmp_path / "bare.snapshot")
    write_snapshot(made.worker.store, bare)  # no bookkeeping
    error = one_error_line(*explain(capsys, made.alarm.alarm_id, "--snapshot", bare,
                                    "--journal", url=url))
    assert f"--journal: the snapshot {bare} records no journal position" in error


# -- what it refuses, in one line ---------------------------------------------------------
def test_an_unknown_alarm_is_one_line(world, capsys):
    error = one_error_line(*explain(capsys, "nothere", url=world.url))
    assert "error: no alarm nothere in " in error


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    (b"not a snapshot at all, just text", "not a heat-alarming snapshot (bad magic)"),
    ("torn", "torn file"),
])
def test_a_bad_snapshot_is_one_line(world, capsys, tmp_path, content, says):
    path = tmp_path / "bad.snapshot"
    if content == "torn":
        whole = open(world.snapshot, "rb").read()
        path.write_bytes(whole[:len(whole) // 2])
    elif content is not None:
        path.write_bytes(content)
    error = one_error_line(*explain(capsys, world.busy.alarm_id, "--snapshot", str(path),
                                    url=world.url))
    assert f"--snapshot {path}" in error and says in error, error


def test_an_unreadable_database_is_one_line(capsys, tmp_path):
    missing = tmp_path / "nothere.sqlite"
    error = one_error_line(*explain(capsys, "a", url=str(missing)))
    assert error.endswith(f"no alarm database at {missing}: the file does not exist")
    text = tmp_path / "text.sqlite"
    text.write_text("this is no database\n" * 100)
    error = one_error_line(*explain(capsys, "a", url=str(text)))
    assert "cannot read the alarm database" in error
    error = one_error_line(*explain(capsys, "a", url="postgresql+psycopg2://nobody:secret@"
                                                     "127.0.0.1:1/alarms"))
    assert "cannot connect to the alarm database" in error and "secret" not in error
    assert not missing.exists()


# -- --at -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "epoch"), [
    ("2026-12-02T18:30:00Z", 1796236200.0),
    ("2026-12-02T18:30:00", 1796236200.0),          # UTC unless it says otherwise
    ("2026-12-02T19:30:00+01:00", 1796236200.0),
    ("2026-12-02 18:30:00.250z", 1796236200.25),
    ("1796236200.5", 1796236200.5),
])
def test_at_takes_iso_8601_or_epoch_seconds(text, epoch):
    assert moment(text) == epoch


@pytest.mark.parametrize("text", ["yesterday", "nan", "-5", "2026-13-01T00:00:00Z"])
def test_a_time_that_is_none_is_refused_by_the_parser(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError):
        moment(text)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["explain", "a", "--alarm-database", "x.sqlite", "--at", text])
    assert stopped.value.code == 2
    assert "argument --at" in capsys.readouterr().err
