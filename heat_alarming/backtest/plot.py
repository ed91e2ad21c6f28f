"""A backtest as a picture: load, alarm states, group size and demand (matplotlib, no display).

:func:`figure` draws one or several timelines (``{"ours": ..., "hpa": ...,
"aodh": ...}``, each a :class:`heat_alarming.backtest.report.Timeline` or any
object with its ``times``, ``sizes``, ``values``, ``demand`` and ``step``) over
the simulated minutes since the earliest start, one line per model:

* **load**: each model's per-member value; with an SLO, its bound as a line and,
  per model, the minutes its value breaks the SLO shaded in the model's colour;
* **alarm states** (only with ``periods``, the replay's
  :class:`heat_alarming.backtest.replay.Period` rows with ``start``, ``end`` and
  ``states``): one row per alarm, each period coloured by its state at the close,
  in the demo's colours;
* **size and demand**: each model's group size, and the demand in members' worth
  (``demand / 100``: 100 is one member fully busy) on the same axis, from the first
  timeline (the models replay one trace); none for a samples trace (its demand is NaN).

A row of a timeline spans ``[time, time + step)``, so every line is a step drawn
over its whole row, and the panels end together.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from heat_alarming.demo.plot import STATE_COLOURS
from heat_alarming.errors import import_extra

#: each model's colour; other names take the next of OTHER_COLOURS
MODEL_COLOURS = {"ours": "#1e88e5", "hpa": "#fb8c00", "aodh": "#43a047"}
OTHER_COLOURS = ("#6a1b9a", "#00897b", "#c0ca33", "#5d4037")
#: what the demand, the SLO bound and the shaded minutes look like
DEMAND_COLOUR, SLO_COLOUR, SHADE_ALPHA = "#9e9e9e", "#e53935", 0.15
FIGURE_SIZE, DPI = (10.0, 7.5), 110


def write_plot(timelines: Mapping[str, object], path: str, *, periods: Sequence | None = None,
               slo=None, title: str | None = None) -> None:
    """Draw :func:`figure` into the PNG file ``path``."""
    figure(timelines, periods=periods, slo=slo, title=title).savefig(path, dpi=DPI)


def figure(timelines: Mapping[str, object], *, periods: Sequence | None = None, slo=None,
           title: str | None = None):
    """The :class:`matplotlib.figure.Figure`: 2 panels, or 3 with ``periods``.

    Drawn without pyplot (no global figure to close, no backend to select), so
    it renders with Agg wherever it runs. ``slo`` is a
    :class:`heat_alarming.backtest.report.Slo` (its ``meter``, ``bound`` and
    ``holds(values)``).
    """
    if not timelines:
        raise ValueError("figure: no timeline to draw")
    import_extra("matplotlib", "the backtest's plot", "plot")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    origin = min(float(t.times[0]) for t in timelines.values() if len(t.times))
    colours = _colours(list(timelines))
    ratios = [3, 1.2, 2] if periods else [3, 2]
    fig = Figure(figsize=FIGURE_SIZE)
    axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)
    load, size = axes[0], axes[-1]
    end = origin

    for name, timeline in timelines.items():
        edges = _edges(timeline, origin)
        end = max(end, edges[-1] * 60.0 + origin)
        values = np.asarray(timeline.values, dtype=np.float64)
        load.stairs(values, edges, baseline=None, color=colours[name],
                    label=f"{name}: per member")
        size.stairs(np.asarray(timeline.sizes, dtype=np.float64), edges, baseline=None,
                    color=colours[name], label=f"{name}: group size")
        if slo is not None:
            for first, last in _runs(~np.asarray(slo.holds(values), dtype=bool)):
                load.axvspan(edges[first], edges[last], color=colours[name],
                             alpha=SHADE_ALPHA, linewidth=0)
    first = next(iter(timelines.values()))
    demand = np.asarray(first.demand, dtype=np.float64)
    if np.isfinite(demand).any():  # a samples trace has no demand (NaN)
        size.stairs(demand / 100.0, _edges(first, origin), baseline=None, color=DEMAND_COLOUR,
                    linestyle="--", label="demand / 100 (members' worth)")

    if slo is not None:
        load.axhline(slo.bound, color=SLO_COLOUR, linewidth=0.9, linestyle=":",
                     label=f"SLO: {slo.meter} {slo.operator} {slo.bound:g} "
                           "(shaded: minutes it is broken)")
    load.set_ylabel(f"{slo.meter} per member" if slo is not None else "per member")
    load.legend(loc="upper right", fontsize=8)
    if title:
        load.set_title(title, fontsize=10)

    if periods:
        _states(axes[1], periods, origin, Patch)

    size.yaxis.set_major_locator(MaxNLocator(integer=True))
    size.set_ylabel("members")
    size.set_xlabel("simulated minutes")
    size.set_ylim(bottom=0)
    size.legend(loc="upper right", fontsize=8)
    size.set_xlim(0.0, (end - origin) / 60.0)
    fig.tight_layout()
    return fig


def _colours(names: list[str]) -> dict[str, str]:
    others = iter(OTHER_COLOURS * (1 + len(names) // len(OTHER_COLOURS)))
    return {name: MODEL_COLOURS.get(name) or next(others) for name in names}


def _edges(timeline, origin: float) -> np.ndarray:
    """Minutes since ``origin`` where each row starts, and where the last one ends."""
    times = np.asarray(timeline.times, dtype=np.float64)
    return (np.append(times, times[-1] + float(timeline.step)) - origin) / 60.0


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[first, last)`` row indices of each run of True in ``flags``."""
    padded = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(padded == 1), np.flatnonzero(padded == -1)))


def _states(ax, periods: Sequence, origin: float, patch) -> None:
    """One row per alarm; each period a bar in the colour of the alarm's state."""
    alarms = sorted({name for period in periods for name in period.states})
    for lane, alarm in enumerate(alarms):
        by_state: dict[str, list[tuple[float, float]]] = {}
        for period in periods:
            state = period.states.get(alarm)
            if state is not None:
                by_state.setdefault(state, []).append(
                    ((period.start - origin) / 60.0, (period.end - period.start) / 60.0))
        for state, spans in by_state.items():
            ax.broken_barh(spans, (lane - 0.35, 0.7), color=STATE_COLOURS.get(state, "#ffffff"))
    ax.set_yticks(range(len(alarms)), alarms, fontsize=8)
    ax.set_ylim(len(alarms) - 0.5, -0.5)  # the first alarm on top
    ax.set_ylabel("state at\nthe close", fontsize=8)
    ax.legend(handles=[patch(color=c, label=s) for s, c in STATE_COLOURS.items()],
              loc="upper right", fontsize=7, ncol=3)
