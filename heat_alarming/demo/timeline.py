"""What the demo saw, period by period, and how it prints it.

Every row is read back from the engine (alarm states from the evaluator,
the group's size from Heat, actions from the alarms' history); nothing
here decides anything.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import TextIO

BAR_WIDTH = 20
STATE_WIDTH = 17


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
