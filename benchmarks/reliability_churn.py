"""Memory under series churn: RSS before and after two retentions of one-off series.

A store with a 600 s retention on a manual clock receives, every minute,
10,000 samples of series never seen before (100,000 new series per
retention), through the library's batch ingest, plus one series that keeps
sending.  After a warm-up of two retentions (the live set and the rows
waiting for reuse reach their steady size), RSS is read, two more
retentions of churn run, and RSS is read again:
``RESULT churn_rss_growth_mb`` is the difference (target <= 50).
Progress and the other figures go to stderr.
"""
from __future__ import annotations

import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import progress, result  # noqa: E402

from heat_alarming.metering import ManualClock, RollingStore, Sample  # noqa: E402

T0 = 1_700_000_000.0
RETENTION = 600
STEP = 60
NEW_PER_RETENTION = 100_000


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


class Churn:
    """Feeds a store one minute at a time with fresh one-off series."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, RETENTION, clock=self.clock)
        self.serial = 0

    def minute(self) -> None:
        self.clock.advance(STEP)
        now = self.clock()
        per_step = NEW_PER_RETENTION * STEP // RETENTION
        batch = [Sample("cpu_util", float(i % 100), f"vm-{self.serial + i}",
                        project_id=f"project-{i % 50}", timestamp=now - (i % 50),
                        resource_metadata={"metering.server_group": f"g{self.serial + i}"})
                 for i in range(per_step)]
        batch.append(Sample("cpu_util", 1.0, "vm-steady", project_id="steady",
                            timestamp=now))
        self.serial += per_step
        accepted = self.store.ingest(batch).accepted
        assert accepted == len(batch), accepted

    def retentions(self, n: int) -> None:
        for _ in range(n * RETENTION // STEP):
            self.minute()


def main() -> None:
    churn = Churn()
    start = rss_mb()
    churn.retentions(2)  # warm-up: the live set and the rows awaiting reuse reach steady size
    before = rss_mb()
    rows_before = churn.store.index.n_rows
    churn.retentions(2)
    after = rss_mb()
    progress(f"RSS {start:.0f} MB at start, {before:.0f} MB after the warm-up, {after:.0f} MB "
             f"after two more retentions; {churn.serial:,} series created, {len(churn.store):,} "
             f"live, rows {rows_before:,} -> {churn.store.index.n_rows:,}")
    result("churn_rss_growth_mb", after - before, "{:.1f}")


if __name__ == "__main__":
    main()
