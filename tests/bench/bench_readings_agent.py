"""The readings agent's own cost per batch, driven with no Kafka: what the worker spends outside Faust.

Not a test (pytest does not collect it): a time measured on a shared machine is no assertion. Run it with::

    .venv/bin/python -m tests.bench.bench_readings_agent [--enterprises 40] [--profile]

It signs the simulated fleet's batches as the gateways do (a month of 15-minute readings, six hours per batch),
then feeds them to ``Agents.reading_batches`` in micro-batches of 500, as the Faust agent does, with the
topics, tables and registry of tests/unit/ecmon_worker/test_agents.py (they record what they are given). It
prints the process's CPU time per batch and per reading; ``make bench`` gives the worker under Faust on the
same fleet shape, so the difference is the framework's and Kafka's share (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from ecmon import codec
from ecmon_simulator.runs import FleetRun, encode_batch, fleet_source, registry_values
from ecmon_worker.agents import Agents
from tests.unit.ecmon_worker.test_agents import Event, Message, make_worker

MICRO_BATCH = 500


def signed_fleet(enterprises: int, state_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[str, int, bytes]]]:
    """The fleet's registry records and its batches as (uscc, sent_at ms, signed message)."""
    run = FleetRun(enterprises=enterprises, seed=7, production=False)
    fleet = run.fleet()
    records = [codec.decode(v)[1] for _, v in registry_values(fleet, run.start_ms, run.interval_s, state_dir)]
    batches = []
    for b in fleet_source(run, fleet).batches({}):
        sent = b.readings[-1]["ts"] + 60_000
        batches.append((b.enterprise.uscc, sent, encode_batch(b, sent, state_dir)))
    return records, batches


def events_of(batches: list[tuple[str, int, bytes]]) -> list[Event]:
    return [Event(Message("ecmon.readings.v1", i % 4, i, uscc.encode(), value, timestamp=sent / 1000))
            for i, (uscc, sent, value) in enumerate(batches)]


async def feed(agents: Agents, events: list[Event]) -> None:
    for i in range(0, len(events), MICRO_BATCH):
        await agents.reading_batches(events[i:i + MICRO_BATCH])
    agents.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=40)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions (slows the run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        records, batches = signed_fleet(args.enterprises, Path(state_dir))
    events = events_of(batches)
    readings = sum(len(codec.decode(value)[1]["readings"]) for _, _, value in batches)
    agents = make_worker(records, real_clock=True).agents
    profile = cProfile.Profile() if args.profile else None
    started = time.process_time()
    if profile:
        profile.enable()
    asyncio.run(feed(agents, events))
    if profile:
        profile.disable()
    spent = time.process_time() - started
    print(f"{len(events):,} batches, {readings:,} readings: {spent / len(events) * 1e6:,.0f} µs per batch, "
          f"{spent / readings * 1e6:.1f} µs per reading, {readings / spent:,.0f} readings/s of CPU")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
