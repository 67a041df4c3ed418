"""Per-reading cost of the meter detector as the worker runs it, and the size of its state.

Not a test (pytest does not collect it): a time measured on a shared machine is no assertion. Run it with::

    .venv/bin/python tests/bench/bench_meter_detector.py

The readings are the simulated fleet's (every industry's profile, every reading fault injected, 15-minute
meters over ``DAYS`` days), so the detector takes its usual paths: mostly quiet readings, some episodes,
a few findings. Two figures:

- ``observe``: ``meter_anomalies.observe(state, ts, value, scored=False)`` alone, per reading, meter by meter;
- ``worker``: ``MeterWatch.observe`` with one enterprise's day (96 readings per meter) per batch, as the worker
  calls it: sorting, the per-meter state lookup and turning findings into anomaly events.

It prints the largest worker state in JSON bytes too (the bound is 3 kB per meter; a unit test holds it).
Times are the process's CPU time (``time.process_time``), the best of three: on a shared machine the wall
clock measures the other processes as well.
"""

from __future__ import annotations

import json
import time

from ecmon.months import month_start_ms
from ecmon_simulator.faults import FaultPlan
from ecmon_simulator.fleet import MeterReader, build_fleet
from ecmon_worker import meter_anomalies
from ecmon_worker.meter_watch import MeterWatch

ENTERPRISES = 12  # two of each industry, about 30 meters
DAYS = 42
FAULTS = "spike,noisy,drop,stuck,level_shift,drift,silence"
Q = 900_000


def fleet_readings() -> list[tuple[dict, list[list[dict]]]]:
    """Per enterprise: its registry-like record and its readings, one list per day."""
    t0 = month_start_ms("2026-04")
    out = []
    for ent in build_fleet(ENTERPRISES, ("370000",), seed=99):
        reader = MeterReader(ent, FaultPlan.parse(FAULTS))
        days: list[list[dict]] = []
        for d in range(DAYS):
            day = []
            for i in range(1, 97):
                for r in reader.read(t0 + (d * 96 + i) * Q)[1]:
                    day.append({"meter_id": r["meter_id"], "interval_end": r["ts"], "physical_milli": r["value_milli"],
                                "unit": "kWh", "energy_type": "electricity"})
            days.append(day)
        record = {"industry_code": ent.industry_code,
                  "meters": [{"meter_id": m.meter_id, "interval_s": 900, "energy_type": "electricity"}
                             for m in ent.meters]}
        out.append((record, days))
    return out


def bench_observe(fleet: list[tuple[dict, list[list[dict]]]]) -> tuple[float, int]:
    streams: dict[str, list[tuple[int, float]]] = {}
    for ent_no, (_, days) in enumerate(fleet):
        for day in days:
            for r in day:
                key = f"{ent_no}/{r['meter_id']}"
                streams.setdefault(key, []).append((r["interval_end"], r["physical_milli"] / 1000))
    n = sum(len(s) for s in streams.values())
    best = float("inf")
    for _ in range(3):
        states = {k: meter_anomalies.new_state() for k in streams}
        start = time.process_time()
        for key, stream in streams.items():
            st = states[key]
            for ts, v in stream:
                meter_anomalies.observe(st, ts, v, scored=False)
        best = min(best, time.process_time() - start)
    return best / n, n


def bench_worker(fleet: list[tuple[dict, list[list[dict]]]]) -> tuple[float, int, int]:
    n = sum(len(day) for _, days in fleet for day in days)
    best, largest = float("inf"), 0
    for _ in range(3):
        watch = MeterWatch()
        start = time.process_time()
        for ent_no, (record, days) in enumerate(fleet):
            uscc = f"9137010000000{ent_no:04d}X"
            for day in days:
                watch.observe(uscc, record, "370000", day)
        best = min(best, time.process_time() - start)
        largest = max(len(json.dumps(st)) for meters in watch.states.values() for st in meters.values())
    return best / n, n, largest


def main() -> None:
    fleet = fleet_readings()
    per, n = bench_observe(fleet)
    print(f"observe (scored=False): {per * 1e6:.2f} us per reading ({n:,} readings)")
    per_w, n_w, largest = bench_worker(fleet)
    print(f"worker (MeterWatch.observe, a day per batch): {per_w * 1e6:.2f} us per reading ({n_w:,} readings); "
          f"largest state {largest:,} bytes of JSON")


if __name__ == "__main__":
    main()
