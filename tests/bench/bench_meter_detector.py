"""Per-reading cost of the meter detector as the worker runs it, and the size of its state.

Not a test (pytest does not collect it): a time measured on a shared machine is no assertion. Run it with::

    .venv/bin/python tests/bench/bench_meter_detector.py

The readings are the simulated fleet's (every industry's profile, every reading fault injected, 15-minute
meters over ``DAYS`` days), so the detector takes its usual paths: mostly quiet readings, some episodes,
a few findings. Two figures:

- ``observe``: ``meter_anomalies.observe(state, ts, value, scored=False)`` alone, per reading, meter by meter;
- ``worker``: ``MeterWatch.observe`` with one enterprise's day (96 readings per meter) per batch, as the worker
  calls it: sorting, the per-meter state lookup and turning findings into anomaly events.

Each for the compiled detector (``ecmon_worker.compiled``, which the worker runs) and the pure-Python reference.

It prints the largest worker state in JSON bytes too (the bound is 3 kB per meter; a unit test holds it), and the
size of its fixed binary record (``meter_record``).
Times are the process's CPU time (``time.process_time``), the best of three: on a shared machine the wall
clock measures the other processes as well.
"""

from __future__ import annotations

import json
import time
from types import ModuleType

from ecmon.months import month_start_ms
from ecmon_simulator.faults import FaultPlan
from ecmon_simulator.fleet import MeterReader, build_fleet
from ecmon_worker import meter_anomalies, meter_detector, meter_record
from ecmon_worker.meter_watch import MeterWatch

ENTERPRISES = 12  # two of each industry, about 30 meters
DAYS = 42
FAULTS = "spike,noisy,drop,stuck,level_shift,drift,silence"
Q = 900_000


def fleet_readings(enterprises: int = ENTERPRISES, days: int = DAYS) -> list[tuple[dict, list[list[dict]]]]:
    """Per enterprise: its registry-like record and its readings, one list per day (also the equivalence test's
    fleet: tests/unit/ecmon_worker/test_compiled_detector.py)."""
    t0 = month_start_ms("2026-04")
    out = []
    for ent in build_fleet(enterprises, ("370000",), seed=99):
        reader = MeterReader(ent, FaultPlan.parse(FAULTS))
        by_day: list[list[dict]] = []
        for d in range(days):
            day = []
            for i in range(1, 97):
                for r in reader.read(t0 + (d * 96 + i) * Q)[1]:
                    day.append({"meter_id": r["meter_id"], "interval_end": r["ts"], "physical_milli": r["value_milli"],
                                "unit": "kWh", "energy_type": "electricity"})
            by_day.append(day)
        record = {"industry_code": ent.industry_code,
                  "meters": [{"meter_id": m.meter_id, "interval_s": 900, "energy_type": "electricity"}
                             for m in ent.meters]}
        out.append((record, by_day))
    return out


def meter_streams(fleet: list[tuple[dict, list[list[dict]]]]) -> dict[str, list[tuple[int, float]]]:
    """Each meter's (timestamp, value) readings in time order, keyed "enterprise/meter"."""
    streams: dict[str, list[tuple[int, float]]] = {}
    for ent_no, (_, days) in enumerate(fleet):
        for day in days:
            for r in day:
                key = f"{ent_no}/{r['meter_id']}"
                streams.setdefault(key, []).append((r["interval_end"], r["physical_milli"] / 1000))
    return streams


def bench_observe(fleet: list[tuple[dict, list[list[dict]]]], detector: ModuleType) -> tuple[float, int]:
    streams = meter_streams(fleet)
    n = sum(len(s) for s in streams.values())
    best = float("inf")
    for _ in range(3):
        states = {k: detector.new_state() for k in streams}
        start = time.process_time()
        for key, stream in streams.items():
            st = states[key]
            for ts, v in stream:
                detector.observe(st, ts, v, scored=False)
        best = min(best, time.process_time() - start)
    return best / n, n


def bench_worker(fleet: list[tuple[dict, list[list[dict]]]], detector: ModuleType) -> tuple[float, int, int]:
    n = sum(len(day) for _, days in fleet for day in days)
    best, largest = float("inf"), 0
    for _ in range(3):
        watch = MeterWatch(detector=detector)
        start = time.process_time()
        for ent_no, (record, days) in enumerate(fleet):
            uscc = f"9137010000000{ent_no:04d}X"
            for day in days:
                watch.observe(uscc, record, "370000", day)
        best = min(best, time.process_time() - start)
        largest = max(len(json.dumps(meter_record.unpack(st))) for uscc in list(watch.states)
                      for st in watch.stored(uscc).values())
    return best / n, n, largest


def main() -> None:
    fleet = fleet_readings()
    compiled = meter_detector.compiled()
    ref, n = bench_observe(fleet, meter_anomalies)
    per, _ = bench_observe(fleet, compiled)
    print(f"observe (scored=False): compiled {per * 1e6:.2f} us per reading, reference {ref * 1e6:.2f} us "
          f"({ref / per:.2f}x; {n:,} readings)")
    ref, n, _ = bench_worker(fleet, meter_anomalies)
    per, _, largest = bench_worker(fleet, compiled)
    print(f"worker (MeterWatch.observe, a day per batch): compiled {per * 1e6:.2f} us per reading, reference "
          f"{ref * 1e6:.2f} us ({ref / per:.2f}x; {n:,} readings); largest state {largest:,} bytes of JSON, "
          f"{meter_record.RECORD_SIZE:,} as a binary record")

if __name__ == "__main__":
    main()
