"""The demo's terminal legend and plot say what the table's columns mean, over the same minutes.

No engine here: the rows are made up, as the demo would have read them back.
"""
import pytest

from heat_alarming.demo.timeline import PeriodRow, Threshold, Timeline, legend

THRESHOLDS = [Threshold("cpu_alarm_low", "lt", 15, "avg", 2),
              Threshold("cpu_alarm_high", "gt", 50, "avg", 2)]


def _timeline(periods=5) -> Timeline:
    timeline = Timeline(["cpu_alarm_high", "cpu_alarm_low"], periods, start=0.0,
                        meter="cpu_util", out=None)
    for index in range(1, periods + 1):
        timeline.add(PeriodRow(index, index * 60.0, 100.0, 60.0 - index,
                               {"cpu_alarm_high": "alarm", "cpu_alarm_low": "ok"},
                               min(index, 3), []))
    return timeline


def test_the_legend_labels_each_threshold_and_why_signalled_trails_the_size():
    lines = legend(THRESHOLDS, "cpu_util")
    assert lines[0] == ("thresholds: cpu_alarm_low: avg cpu_util < 15 for 2 periods; "
                        "cpu_alarm_high: avg cpu_util > 50 for 2 periods")
    text = " ".join(line.strip() for line in lines)
    assert "size: the group's members in Heat at the period's close" in text
    assert "signalled: Heat answered a signal to the policy, which it does when the resize " \
           "is over" in text
    assert "dropped by Heat: Heat answered without resizing" in text
    assert all(len(line) <= 110 for line in lines)


def test_the_plots_panels_cover_the_same_minutes_and_label_the_thresholds():
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot as plt

    from heat_alarming.demo.plot import figure

    fig = figure(_timeline(5), THRESHOLDS, "title")
    try:
        metric, states, size = fig.axes[:3]
        for axes in (metric, states, size):
            assert axes.get_xlim() == (0.0, 5.0)
        # what each panel draws ends with the last period's close, not a period later
        assert max(line.get_xdata()[-1] for line in metric.get_lines()[:2]) == 5.0
        assert max(bar.get_x() + bar.get_width() for bar in states.patches) == 5.0
        assert size.get_lines()[0].get_xdata()[-1] == 5.0
        labels = [text.get_text() for text in metric.get_legend().get_texts()]
        assert "threshold: cpu_alarm_low < 15" in labels
        assert "threshold: cpu_alarm_high > 50" in labels
        assert {"cpu_alarm_low < 15", "cpu_alarm_high > 50"} <= {
            text.get_text() for text in metric.texts}
    finally:
        plt.close(fig)
