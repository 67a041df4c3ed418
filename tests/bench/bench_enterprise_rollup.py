"""Per-reading cost of the enterprise rollup (``ecmon_worker.enterprise_rollup.apply_batch``).

Not a test (pytest does not collect it): a time measured on a shared machine is no assertion. Run it with::

    .venv/bin/python tests/bench/bench_enterprise_rollup.py

Two paths: interval readings (96 per batch, one meter) and cumulative registers in time order (the common
path, with the register history trimmed). `make bench` measures the whole worker as a ratio to a baseline.
"""

from __future__ import annotations

import itertools
import timeit

from ecmon.months import month_start_ms
from ecmon_worker import enterprise_rollup as er

METERS = {"e": ("electricity", "kWh"), "c": ("electricity", "kWh")}
T0 = month_start_ms("2026-10")
Q = 900_000  # 15 minutes


def batch(seq: int, readings: list[dict]) -> dict:
    return {"uscc": "91370100MA3C0000X0", "gateway_id": "gw-1", "batch_id": f"00000000-0000-4000-8000-{seq:012d}",
            "sequence": seq, "sent_at": readings[-1]["ts"], "key_id": "k", "signature": b"", "readings": readings}


def reading(meter: str, ts: int, value: int, kind: str = "INTERVAL") -> dict:
    energy_type, unit = METERS[meter]
    return {"meter_id": meter, "energy_type": energy_type, "unit": unit, "ts": ts, "value_milli": value,
            "kind": kind, "quality": "GOOD", "replaces_value_milli": None}


def main() -> None:
    seq = itertools.count(1)
    intervals = [reading("e", T0 + i * Q, 1234) for i in range(1, 97)]
    state = er.new_state()
    per = min(timeit.repeat(lambda: er.apply_batch(state, batch(next(seq), intervals), METERS), number=50,
                            repeat=3)) / 50 / len(intervals)
    registers = [batch(s, [reading("c", T0 + (s * 96 + i) * Q, 1000 * (s * 96 + i), "CUMULATIVE") for i in range(96)])
                 for s in range(1, 151)]
    state = er.new_state()
    it = iter(registers)
    per_c = min(timeit.repeat(lambda: er.apply_batch(state, next(it), METERS), number=50, repeat=3)) / 50 / 96
    print(f"interval reading: {per * 1e6:.2f} us, register reading: {per_c * 1e6:.2f} us")


if __name__ == "__main__":
    main()
