"""The demo's timeline as a picture (matplotlib, no display needed)."""
from __future__ import annotations

from collections.abc import Sequence

from heat_alarming.demo.timeline import Timeline

STATE_COLOURS = {"ok": "#4caf50", "alarm": "#e53935", "insufficient data": "#bdbdbd"}


def write_plot(timeline: Timeline, thresholds: Sequence[tuple[str, float]], path: str,
               title: str) -> None:
    """Metric and thresholds, alarm states, and group size over simulated minutes."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rows = timeline.rows
    ends = [(r.end - timeline.start) / 60.0 for r in rows]
    starts = [e - (ends[0] if ends else 1.0) for e in ends]
    edges = starts + ends[-1:]  # a step per period, drawn over the whole period

    def steps(values):
        return values + values[-1:]
    fig, (metric, states, size) = plt.subplots(
        3, 1, sharex=True, figsize=(10, 7.5), height_ratios=[3, 1.2, 2])
    metric.step(edges, steps([r.demand for r in rows]), where="post", color="#9e9e9e",
                linestyle="--", label="demand (% of one server)")
    metric.step(edges, steps([r.value for r in rows]), where="post", color="#1e88e5",
                label=f"{timeline.meter} per member (period average)")
    for name, value in thresholds:
        metric.axhline(value, color="#e53935", linewidth=0.8, linestyle=":")
        metric.annotate(f"{name} {value:g}", (0, value), textcoords="offset points",
                        xytext=(2, 2), fontsize=8, color="#e53935")
    metric.set_ylabel("%")
    metric.legend(loc="upper right", fontsize=8)
    metric.set_title(title, fontsize=10)

    # a state and a size are read at a period's close and hold until the next one
    width = ends[0] - starts[0] if ends else 1.0
    for lane, name in enumerate(timeline.alarms):
        states.barh(lane, width, left=0.0, color=STATE_COLOURS["insufficient data"],
                    height=0.7)
        for row, end in zip(rows, ends):
            colour = STATE_COLOURS.get(row.states.get(name, ""), "#ffffff")
            states.barh(lane, width, left=end, color=colour, height=0.7)
    states.set_yticks(range(len(timeline.alarms)), timeline.alarms, fontsize=8)
    states.invert_yaxis()
    states.legend(handles=[Patch(color=c, label=s) for s, c in STATE_COLOURS.items()],
                  loc="upper right", fontsize=7, ncol=3)

    size.step([0.0] + ends + [ends[-1] + width] if ends else [0.0],
              [timeline.initial_size] + steps([r.size for r in rows]), where="post",
              color="#6a1b9a")
    size.yaxis.set_major_locator(MaxNLocator(integer=True))
    size.set_ylabel("group size (end of period)")
    size.set_xlabel("simulated minutes")
    size.set_ylim(0, max([r.size for r in rows] + [1]) + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
