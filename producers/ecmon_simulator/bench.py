"""Benchmark of the fleet simulator: readings per second acknowledged by the stack's Kafka.

Not a test: run ``ecmon gateway bench`` against a running stack (its Kafka is enough). It sends
into ``ecmon.readings.v1`` like any run, with a seed of its own, so a worker that happens to be
running counts it like any other fleet.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ecmon.settings import Settings
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet


@dataclass(frozen=True)
class BenchResult:
    readings: int
    batches: int
    seconds: float
    spool: bool

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds

    def line(self) -> str:
        mode = "through the disk spool" if self.spool else "direct"
        return (f"fleet simulator ({mode}): {self.readings:,} readings in {self.batches:,} batches acknowledged in "
                f"{self.seconds:.2f} s = {self.readings_per_s:,.0f} readings/s "
                f"({self.batches / self.seconds:,.0f} batches/s)")


def run_bench(settings: Settings, enterprises: int = 200, months: int = 1, spool: bool = False,
              seed: int | None = None, ledger: Ledger | None = None) -> BenchResult:
    """Send the fleet as fast as Kafka acknowledges; what was delivered is added to ``ledger`` when given."""
    seed = seed if seed is not None else time.time_ns() % 1000  # fresh batch ids each run
    run = FleetRun(enterprises=enterprises, months=months, seed=seed, spool=spool, spool_name=f"bench-{seed}")
    with tempfile.TemporaryDirectory() as tmp:
        if spool:  # a spool of its own, so the benchmark never resumes a real gateway's work
            settings = settings.model_copy(update={"state_dir": Path(tmp)})
        ledger = ledger if ledger is not None else Ledger()
        before = sum(v[2] for v in ledger.totals.values()), len(ledger.batch_ids)
        started = time.perf_counter()
        run_fleet(settings, run, ledger, show_progress=False)
        seconds = time.perf_counter() - started
    return BenchResult(sum(v[2] for v in ledger.totals.values()) - before[0], len(ledger.batch_ids) - before[1],
                       seconds, spool)
