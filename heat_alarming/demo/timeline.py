"""What the demo saw, period by period, and how it prints it.

Every row is read back from the engine (alarm states from the evaluator,
the group's size from Heat, actions from the alarms' history); nothing
here decides anything.
"""
from __future__ import annotations

import dataclasses
import sys
import textwrap
from typing import TextIO

BAR_WIDTH = 20
STATE_WIDTH = 17
LEGEND_WIDTH = 110
SYMBOLS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One threshold rule of an alarm, as the legend and the plot label it."""

    alarm: str
    comparison: str  # eq, ne, lt, le, gt, ge
    value: float
    statistic: str = "avg"
    periods: int = 1  # evaluation periods

    @property
    def label(self) -> str:
        """``cpu_alarm_high > 50``"""
        return f"{self.alarm} {SYMBOLS.get(self.comparison, self.comparison)} {self.value:g}"

    def describe(self, meter: str) -> str:
        """``cpu_alarm_high: avg cpu_util > 50 for 2 periods``"""
        periods = "1 period" if self.periods == 1 else f"{self.periods} periods"
        return (f"{self.alarm}: {self.statistic} {meter} "
                f"{SYMBOLS.get(self.comparison, self.comparison)} {self.value:g} for {periods}")


def legend(thresholds: list[Threshold], meter: str) -> list[str]:
    """How to read the table: the thresholds, and why "signalled" trails the size."""
    text = [
        "thresholds: " + "; ".join(t.describe(meter) for t in thresholds),
        "size: the group's members in Heat at the period's close; a new member counts as soon "
        "as Heat creates it, before the resize is over.",
        "signalled: Heat answered a signal to the policy, which it does when the resize is "
        "over; as a resize can outlast a period, this can come a row or more after the size "
        "moved. dropped by Heat: Heat answered without resizing (a resize in progress, a "
        "cooldown, or the group at its size limit).",
    ]
    return [line for paragraph in text
            for line in textwrap.wrap(paragraph, LEGEND_WIDTH, subsequent_indent="  ")]


@dataclasses.dataclass
class PeriodRow:
    """One closed period: what was sent and what the engine said afterwards."""

    index: int  # 1-based
    end: float  # simulated epoch seconds of the period close
    demand: float
    value: float  # mean of the samples pushed in the period
    states: dict[str, str]
    size: int
    events: list[str]


@dataclasses.dataclass
class Timeline:
    """Rows and the engine's events, printed as they come when ``out`` is given."""

    alarms: list[str]
    total: int
    start: float
    meter: str
    out: TextIO | None = sys.stdout
    initial_size: int = 1
    rows: list[PeriodRow] = dataclasses.field(default_factory=list)

    def legend(self, thresholds: list[Threshold]) -> None:
        for line in legend(thresholds, self.meter):
            self._print(line)

    def header(self) -> None:
        states = "".join(f"{name[:STATE_WIDTH]:<{STATE_WIDTH + 1}}" for name in self.alarms)
        meter = self.meter[:9]
        self._print(f"{'progress':<{BAR_WIDTH + 7}} {'sim':>5}  {'demand':>6}  {meter:>9}  "
                    f"{states}{'size':>4}  what happened")

    def add(self, row: PeriodRow) -> None:
        self.rows.append(row)
        done = row.index / self.total
        filled = round(done * BAR_WIDTH)
        bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + f"] {done:4.0%}"
        states = "".join(f"{row.states.get(name, '-'):<{STATE_WIDTH + 1}}"
                         for name in self.alarms)
        self._print(f"{bar} {self.clock_text(row.end)}  {row.demand:5.0f}%  "
                    f"{row.value:8.1f}%  {states}{row.size:>4}  {'; '.join(row.events)}")

    def clock_text(self, when: float) -> str:
        minutes, seconds = divmod(int(round(when - self.start)), 60)
        return f"{minutes:02d}:{seconds:02d}"

    def note(self, text: str) -> None:
        self._print(text)

    def _print(self, text: str) -> None:
        if self.out is not None:
            print(text.rstrip(), file=self.out, flush=True)
