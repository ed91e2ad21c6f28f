"""The backtest's picture: load with the SLO, alarm states, size and demand, one line a model."""
from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from heat_alarming.backtest import plot
from heat_alarming.backtest.report import Slo
from tests.support.backtest import periods, timeline
from tests.support.extras import uninstalled

DEMAND = [50, 150, 250, 250, 150, 50]  # % of one server, one row a minute
OURS = timeline(DEMAND, [1, 1, 2, 3, 3, 2])  # member load 50 100 100 83.3 50 25
HPA = timeline(DEMAND, [1, 2, 3, 3, 2, 1])  # member load 50 75 83.3 83.3 75 50
SLO = Slo("cpu_util", "<", 80.0)
STATES = periods({"cpu_alarm_high": ["ok", "alarm", "ok"],
                  "cpu_alarm_low": ["insufficient data", "ok", "alarm"]})


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_plot_of_two_models_with_periods_is_a_png_of_the_figures_size(tmp_path):
    path = tmp_path / "backtest.png"
    plot.write_plot({"ours": OURS, "hpa": HPA}, str(path), periods=STATES, slo=SLO,
                    title="hot-autoscaling.yaml on a ramp")
    width, height = plot.FIGURE_SIZE
    assert _png_size(path) == (round(width * plot.DPI), round(height * plot.DPI))


def test_with_periods_there_are_three_panels_and_without_them_two():
    assert len(plot.figure({"ours": OURS}, periods=STATES).axes) == 3
    assert len(plot.figure({"ours": OURS}).axes) == 2


def test_every_model_has_its_line_in_the_load_and_size_panels_and_the_demand_one_line():
    load, size = plot.figure({"ours": OURS, "hpa": HPA, "aodh": OURS}, slo=SLO).axes
    assert [p.get_label() for p in load.patches if p.get_label().endswith("per member")] \
        == ["ours: per member", "hpa: per member", "aodh: per member"]
    assert [p.get_label() for p in size.patches] == [
        "ours: group size", "hpa: group size", "aodh: group size",
        "demand / 100 (members' worth)"]
    # the demand, in members: 250% of one server is 2.5 members
    assert list(size.patches[-1].get_data().values) == [0.5, 1.5, 2.5, 2.5, 1.5, 0.5]
    assert [line.get_label() for line in load.lines] == [
        "SLO: cpu_util < 80 (shaded: minutes it is broken)"]


def test_a_timeline_without_demand_draws_no_demand_line():
    # a samples trace knows the members' values, not the demand: NaN
    samples_only = dataclasses.replace(OURS, demand=np.full(6, np.nan))
    size = plot.figure({"ours": samples_only}).axes[-1]
    assert [p.get_label() for p in size.patches] == ["ours: group size"]


def test_the_minutes_a_model_breaks_the_slo_are_shaded_one_span_per_run():
    # ours is at 100, 100 and 83.3 in minutes 1 to 3 (one run, 3 minutes) ; hpa at 83.3
    # in minutes 2 and 3 (one run, 2 minutes)
    load = plot.figure({"ours": OURS, "hpa": HPA}, slo=SLO).axes[0]
    spans = [p for p in load.patches if isinstance(p, Rectangle)]
    assert [(p.get_x(), p.get_x() + p.get_width()) for p in spans] == [(1.0, 4.0), (2.0, 4.0)]
    assert [p.get_facecolor()[:3] for p in spans] == [to_rgb(plot.MODEL_COLOURS["ours"]),
                                                      to_rgb(plot.MODEL_COLOURS["hpa"])]


def test_each_alarm_has_a_row_with_a_bar_per_period_in_its_states_colour():
    states = plot.figure({"ours": OURS}, periods=STATES).axes[1]
    assert [t.get_text() for t in states.get_yticklabels()] == ["cpu_alarm_high",
                                                                "cpu_alarm_low"]
    bars = {(round(c.get_paths()[0].vertices[:, 1].mean()), tuple(c.get_facecolor()[0][:3])):
            len(c.get_paths()) for c in states.collections}
    rgb = {state: to_rgb(colour) for state, colour in plot.STATE_COLOURS.items()}
    assert bars == {(0, rgb["ok"]): 2, (0, rgb["alarm"]): 1,
                    (1, rgb["insufficient data"]): 1, (1, rgb["ok"]): 1,
                    (1, rgb["alarm"]): 1}


def test_the_panels_end_with_the_last_row():
    # six one-minute rows: the x axis runs from minute 0 to minute 6
    assert plot.figure({"ours": OURS}).axes[-1].get_xlim() == (0.0, 6.0)


def test_no_timeline_is_refused():
    with pytest.raises(ValueError, match="figure: no timeline to draw"):
        plot.figure({})


def test_without_matplotlib_the_plot_names_the_extra_that_brings_it(monkeypatch, tmp_path):
    uninstalled(monkeypatch, "matplotlib")
    with pytest.raises(ImportError) as error:
        plot.write_plot({"ours": OURS}, str(tmp_path / "x.png"))
    assert str(error.value) == ("the backtest's plot needs matplotlib, which is not "
                                "installed: pip install 'heat-alarming[plot]'")
    assert not (tmp_path / "x.png").exists()
