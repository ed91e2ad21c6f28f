"""The shipped demand traces are what tools/generate-traces.py writes."""
from __future__ import annotations

import pathlib
import runpy

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRACES = ROOT / "benchmarks" / "traces"
START = 1_767_571_200  # 2026-01-05T00:00:00Z


def generator() -> dict:
    """tools/generate-traces.py's functions (it is a script, not a module)."""
    return runpy.run_path(str(ROOT / "tools" / "generate-traces.py"))


def read(name: str) -> np.ndarray:
    path = TRACES / name
    assert path.read_text().splitlines()[0] == "timestamp,demand"
    return np.loadtxt(path, delimiter=",", skiprows=1)


def test_the_shipped_traces_are_the_generator_s_output():
    assert generator()["main"](["--check"]) == 0


def test_the_check_fails_on_a_trace_that_was_edited(tmp_path, monkeypatch, capsys):
    tool = generator()
    main = tool["main"]
    monkeypatch.setitem(main.__globals__, "OUT", tmp_path)
    monkeypatch.setitem(main.__globals__, "ROOT", tmp_path)
    assert main([]) == 0
    (tmp_path / "step.csv").write_text("timestamp,demand\n1767571200,31.00\n")
    assert main(["--check"]) == 1
    assert "out of date: step.csv" in capsys.readouterr().err


def test_the_step_trace_is_30_then_250_for_the_second_hour():
    rows = read("step.csv")
    assert rows.shape == (180, 2)
    assert (rows[:, 0] == START + 60 * np.arange(180)).all()
    assert rows[:60, 1].tolist() == [30.0] * 60
    assert rows[60:120, 1].tolist() == [250.0] * 60
    assert rows[120:, 1].tolist() == [30.0] * 60


def test_the_diurnal_trace_is_a_day_of_minutes_low_at_four_and_high_at_sixteen():
    rows = read("diurnal.csv")
    assert rows.shape == (1440, 2)
    assert (rows[:, 0] == START + 60 * np.arange(1440)).all()
    demand = rows[:, 1]
    # the cosine is 40 at 04:00 and 300 at 16:00; the noise is 4 % (a few % either way)
    assert 30 < demand[4 * 60] < 50 and 260 < demand[16 * 60] < 340
    # the 13:40 burst adds 200 on top of about 285 for five minutes
    assert (demand[13 * 60 + 40:13 * 60 + 45] > 400).all()
    assert demand.min() >= 0
