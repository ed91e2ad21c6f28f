"""Traces are read from CSV and JSON lines, and bad rows are named by path and line."""
import json

import numpy as np
import pytest

from heat_alarming.backtest import trace as trace_mod
from heat_alarming.backtest.trace import (
    Trace,
    TraceError,
    read_trace,
    write_demand,
    write_samples,
)
from heat_alarming.metering import Sample


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_demand_csv_reads_as_times_and_demand_at_its_step(tmp_path):
    path = write(tmp_path, "d.csv", "timestamp,demand\n1700000000,50\n1700000060,75.5\n"
                                    "1700000120,0\n")
    trace = read_trace(path)
    assert trace.kind == "demand"
    assert trace.times.tolist() == [1700000000.0, 1700000060.0, 1700000120.0]
    assert trace.demand.tolist() == [50.0, 75.5, 0.0]
    assert (trace.start, trace.end, trace.step) == (1700000000.0, 1700000120.0, 60.0)


def test_iso_timestamps_without_an_offset_are_utc(tmp_path):
    path = write(tmp_path, "d.csv", "timestamp,demand\n2023-11-14T22:13:20,1\n"
                                    "2023-11-14T22:14:20Z,2\n")
    assert read_trace(path).times.tolist() == [1700000000.0, 1700000060.0]


def test_a_samples_csv_reads_its_metadata_columns(tmp_path):
    path = write(tmp_path, "s.csv", "timestamp,meter,value,resource_id,metadata.group\n"
                                    "1700000010,cpu_util,40,vm-1,g1\n"
                                    "1700000005,cpu_util,60,vm-2,\n")
    trace = read_trace(path)
    assert trace.kind == "samples" and trace.step is None
    first, second = trace.samples  # time-ordered
    assert (first.resource_id, first.volume, first.timestamp, dict(first.resource_metadata)) \
        == ("vm-2", 60.0, 1700000005.0, {})
    assert (second.name, dict(second.resource_metadata)) == ("cpu_util", {"group": "g1"})
    assert (trace.start, trace.end) == (1700000005.0, 1700000010.0)


def test_json_lines_carry_either_kind(tmp_path):
    demand = write(tmp_path, "d.jsonl", '{"timestamp": 0, "demand": 10}\n\n'
                                        '{"timestamp": 30, "demand": 20}\n')
    assert read_trace(demand).demand.tolist() == [10.0, 20.0]
    samples = write(tmp_path, "s.jsonl", json.dumps(
        {"timestamp": 5, "meter": "m", "value": 1, "resource_id": "r",
         "metadata": {"k": "v"}}) + "\n")
    sample, = read_trace(samples).samples
    assert dict(sample.resource_metadata) == {"k": "v"}


@pytest.mark.parametrize("name, text, message", [
    ("d.csv", "timestamp,demand\n0,1\n60,abc\n", "d.csv:3: demand: 'abc' is not a number"),
    ("d.csv", "timestamp,demand\n0,1\nyesterday,2\n", "d.csv:3: timestamp: 'yesterday' is not"),
    ("d.csv", "timestamp,demand\n0,1\n60,-5\n", "d.csv:3: demand: -5 is below 0"),
    ("d.csv", "timestamp,demand\n0,1\n60,2\n150,3\n",
     "d.csv:4: timestamp: 90 s after the row before; the trace's step is 60 s"),
    ("d.csv", "timestamp,demand\n60,1\n0,2\n", "d.csv:3: timestamp: not after the row before"),
    ("d.csv", "timestamp,demand\n0,1\n", "d.csv:2: file: a demand trace needs two rows"),
    ("d.csv", "timestamp,demand\n0,1\n60\n", "d.csv:3: row: 1 cells, the header has 2"),
    ("d.csv", "timestamp,demand,extra\n", "d.csv:1: extra: is not a column of a demand trace"),
    ("d.csv", "", "d.csv:1: file: holds no rows"),
    ("d.csv", "timestamp,demand\n0,nan\n", "d.csv:2: demand: 'nan' is not a finite number"),
    ("s.csv", "timestamp,meter,value\n", "s.csv:1: resource_id: missing from the header"),
    ("s.csv", "timestamp,meter,value,resource_id\n0,m,1,\n",
     "s.csv:2: resource_id: must be non-empty text"),
    ("s.jsonl", '{"timestamp": 0, "meter": "m", "value": "x", "resource_id": "r"}\n',
     "s.jsonl:1: value: 'x' is not a number"),
    ("s.jsonl", '{"timestamp": 0, "meter": "m", "value": 1, "resource_id": "r"}\n{oops\n',
     "s.jsonl:2: row: not JSON"),
    ("s.jsonl", '[1, 2]\n', "s.jsonl:1: row: must be a JSON object"),
    ("s.jsonl", '{"timestamp": 0, "meter": "m", "value": 1, "resource_id": "r", '
                '"metadata": 3}\n', "s.jsonl:1: metadata: must be a mapping"),
    ("t.txt", "timestamp,demand\n", "t.txt:0: file: must end in .csv or .jsonl"),
])
def test_a_bad_row_is_refused_naming_path_line_field_and_reason(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(TraceError) as caught:
        read_trace(path)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_a_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(TraceError, match="nothing.csv:0: file: cannot be read"):
        read_trace(str(tmp_path / "nothing.csv"))


def test_a_trace_with_more_rows_than_the_bound_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_mod, "MAX_ROWS", 3)
    path = write(tmp_path, "d.csv", "timestamp,demand\n" + "".join(
        f"{60 * i},1\n" for i in range(4)))
    with pytest.raises(TraceError, match="d.csv:5: file: more than 3 rows"):
        read_trace(path)


@pytest.mark.parametrize("name", ["d.csv", "d.jsonl"])
def test_a_written_demand_trace_reads_back_the_same(tmp_path, name):
    times, demand = np.arange(5) * 60.0 + 1.7e9, np.array([0.0, 12.5, 100, 250.25, 1e-3])
    write_demand(tmp_path / name, times, demand)
    back = read_trace(tmp_path / name)
    assert back.times.tolist() == times.tolist() and back.demand.tolist() == demand.tolist()


@pytest.mark.parametrize("name", ["s.csv", "s.jsonl"])
def test_written_samples_read_back_the_same(tmp_path, name):
    samples = [Sample("cpu_util", 12.25, "vm-1", timestamp=1.7e9 + 5,
                      resource_metadata={"group": "g"}),
               Sample("cpu_util", 80.0, "vm-2", timestamp=1.7e9 + 7)]
    write_samples(tmp_path / name, samples)
    back = read_trace(tmp_path / name).samples
    assert [(s.name, s.volume, s.resource_id, s.timestamp, dict(s.resource_metadata))
            for s in back] == [("cpu_util", 12.25, "vm-1", 1.7e9 + 5, {"group": "g"}),
                               ("cpu_util", 80.0, "vm-2", 1.7e9 + 7, {})]


def test_a_trace_is_either_samples_or_demand():
    with pytest.raises(ValueError):
        Trace()
    with pytest.raises(ValueError):
        Trace(times=np.array([0.0, 1.0]), demand=np.array([1.0]))
