"""The demo's timeline as a picture (matplotlib, no display needed)."""
from __future__ import annotations

from collections.abc import Sequence

from heat_alarming.demo.timeline import Threshold, Timeline

STATE_COLOURS = {"ok": "#4caf50", "alarm": "#e53935", "insufficient data": "#bdbdbd"}
THRESHOLD_STYLES = (":", "--", "-.")


def write_plot(timeline: Timeline, thresholds: Sequence[Threshold], path: str,
               title: str) -> None:
    """Draw :func:`figure` into the PNG file ``path``."""
    from matplotlib import pyplot as plt
    fig = figure(timeline, thresholds, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(timeline: Timeline, thresholds: Sequence[Threshold], title: str):
    """Metric and thresholds, alarm states, and group size over simulated minutes.

    Every panel draws the table's rows: period ``i`` spans its own minutes, with
    the metric's average over it, and the alarm states and the group's size read
    at its close; so the three panels cover the same minutes and end together.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rows = timeline.rows
    ends = [(r.end - timeline.start) / 60.0 for r in rows]
    width = ends[0] if ends else 1.0  # minutes per period
    starts = [e - width for e in ends]
    edges = starts + ends[-1:]  # a step per period, drawn over the whole period
    last = ends[-1] if ends else width

    def steps(values):
        return values + values[-1:]
    fig, (metric, states, size) = plt.subplots(
        3, 1, sharex=True, figsize=(10, 7.5), height_ratios=[3, 1.2, 2])
    metric.step(edges, steps([r.demand for r in rows]), where="post", color="#9e9e9e",
                linestyle="--", label="demand (% of one server)")
    metric.step(edges, steps([r.value for r in rows]), where="post", color="#1e88e5",
                label=f"{timeline.meter} per member (period average)")
    for number, threshold in enumerate(thresholds):
        metric.axhline(threshold.value, color="#e53935", linewidth=0.9,
                       linestyle=THRESHOLD_STYLES[number % len(THRESHOLD_STYLES)],
                       label=f"threshold: {threshold.label}")
        # labelled at the right end, on the side where it alarms
        below = threshold.comparison in ("lt", "le")
        metric.annotate(threshold.label, (last, threshold.value), textcoords="offset points",
                        xytext=(-3, -3 if below else 3), ha="right",
                        va="top" if below else "bottom", fontsize=8, color="#e53935")
    metric.set_ylabel("%")
    metric.legend(loc="upper right", fontsize=8)
    metric.set_title(title, fontsize=10)

    for lane, name in enumerate(timeline.alarms):
        for row, start in zip(rows, starts):
            colour = STATE_COLOURS.get(row.states.get(name, ""), "#ffffff")
            states.barh(lane, width, left=start, color=colour, height=0.7)
    states.set_yticks(range(len(timeline.alarms)), timeline.alarms, fontsize=8)
    states.set_ylabel("state at\nthe close", fontsize=8)
    states.invert_yaxis()
    states.legend(handles=[Patch(color=c, label=s) for s, c in STATE_COLOURS.items()],
                  loc="upper right", fontsize=7, ncol=3)

    size.step(edges, steps([r.size for r in rows]), where="post", color="#6a1b9a")
    size.yaxis.set_major_locator(MaxNLocator(integer=True))
    size.set_ylabel("group size (at the close)")
    size.set_xlabel("simulated minutes")
    size.set_ylim(0, max([r.size for r in rows] + [timeline.initial_size, 1]) + 1)
    size.set_xlim(0.0, last)  # shared: every panel ends with the last period
    fig.tight_layout()
    return fig
