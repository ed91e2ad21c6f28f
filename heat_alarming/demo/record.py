"""``heat-alarming demo --record DIR``: what the demo pushed and saw, for a backtest.

The directory gets five files:

* ``samples.csv``: every sample pushed, in the backtest's samples format
  (``timestamp,meter,value,resource_id,metadata.KEY...``; timestamps in epoch
  seconds, values written so that they read back to the same float);
* ``demand.csv``: ``timestamp,demand``, one row per step of the clock, at the
  timestamp of that step's samples (the demand is in percent of one server);
* ``periods.json``: the run (start, period, speed, settle, the stack's id, the
  group's first size) and, per period, its start and end, the alarms' states
  and the group's size at its close, and the transitions and Heat's outcomes
  that the timeline shows in its row;
* ``template.yaml``: a copy of the template; ``parameters.json``: the parameters
  the stack was created with.

Everything here is read back from the engine by the demo; nothing decides.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Mapping

SAMPLES, DEMAND, PERIODS, TEMPLATE, PARAMETERS = (
    "samples.csv", "demand.csv", "periods.json", "template.yaml", "parameters.json")


def _number(value: float) -> str:
    """The shortest text that reads back to the same float."""
    return repr(float(value))


class Recorder:
    """Writes one demo run into ``directory`` as it goes (call :meth:`close` at the end)."""

    def __init__(self, directory: str, metadata_keys: Iterable[str]) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.metadata_keys = sorted(metadata_keys)
        self._samples_file = open(self.path(SAMPLES), "w", newline="", encoding="utf-8")
        self._samples = csv.writer(self._samples_file)
        self._samples.writerow(["timestamp", "meter", "value", "resource_id"]
                               + [f"metadata.{key}" for key in self.metadata_keys])
        self._demand_file = open(self.path(DEMAND), "w", newline="", encoding="utf-8")
        self._demand = csv.writer(self._demand_file)
        self._demand.writerow(["timestamp", "demand"])
        self.periods: list[dict] = []

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def samples(self, rows: Iterable[Mapping]) -> None:
        """Rows as the demo pushes them: meter, value, resource_id, timestamp, metadata."""
        for row in rows:
            metadata = row.get("metadata") or {}
            self._samples.writerow(
                [_number(row["timestamp"]), row["meter"], _number(row["value"]),
                 row["resource_id"]] + [metadata.get(key, "") for key in self.metadata_keys])

    def demand(self, timestamp: float, demand: float) -> None:
        self._demand.writerow([_number(timestamp), _number(demand)])

    def period(self, *, start: float, end: float, demand: float, value: float,
               states: Mapping[str, str], size: int, records: list[dict],
               events: list[str]) -> None:
        """One closed period, as its row of the timeline shows it."""
        self.periods.append({
            "index": len(self.periods) + 1, "start": start, "end": end, "demand": demand,
            "value": value, "states": dict(states), "size": size,
            "transitions": [r for r in records if r["kind"] == "transition"],
            "actions": [r for r in records if r["kind"] == "action"],
            "events": list(events)})

    def finish(self, *, run: Mapping, template_path: str, parameters: Mapping,
               after: list[dict], final_size: int) -> None:
        """The run's description and the periods, the template and its parameters."""
        self.close()
        with open(self.path(PERIODS), "w", encoding="utf-8") as handle:
            json.dump({**run, "periods": self.periods, "after": after,
                       "final_size": final_size}, handle, indent=1)
            handle.write("\n")
        shutil.copyfile(template_path, self.path(TEMPLATE))
        with open(self.path(PARAMETERS), "w", encoding="utf-8") as handle:
            json.dump(dict(parameters), handle, indent=1, sort_keys=True)
            handle.write("\n")

    def close(self) -> None:
        for handle in (self._samples_file, self._demand_file):
            if not handle.closed:
                handle.close()
