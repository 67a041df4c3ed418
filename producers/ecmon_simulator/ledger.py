"""What the gateways delivered, so a run can be reconciled against ClickHouse exactly.

Counted on Kafka's acknowledgement, as the platform counts (interface standard, section 9): a batch id
once (a resend is the same batch), and within new batches each reading by its identity (enterprise, meter,
interval end) once, so a re-run that sends the same readings as new batches (new sequences) adds nothing,
exactly as the platform answers it with ``duplicate_reading``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ecmon.emission_factors import co2_of_month
from ecmon.energy import coal_factor, equal_value_year
from ecmon.months import month_of_interval
from ecmon.settings import Settings


def runs_of(ends: set[int]) -> list[list[int]]:
    """Sorted interval ends as runs [first, step, count] (first + k * step): a month of 15-minute readings of
    a meter is one run, not 2,976 numbers, so the saved ledger stays small."""
    runs: list[list[int]] = []
    for ts in sorted(ends):
        if runs:
            first, step, count = runs[-1]
            if count == 1 or ts == first + step * count:
                runs[-1] = [first, ts - first if count == 1 else step, count + 1]
                continue
        runs.append([ts, 0, 1])
    return runs


def ends_of(runs: list[list[int]]) -> set[int]:
    return {first + step * k for first, step, count in runs for k in range(count)}


@dataclass
class Ledger:
    electricity_method: str = "equivalent"
    batch_ids: set[str] = field(default_factory=set)
    # (province, uscc, energy_type, unit, period) -> [physical_milli, coal_mgce, readings]
    totals: dict[tuple[str, str, str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    #: (uscc, meter_id) -> the interval ends counted: the platform's reading identity
    counted: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, batch_id: str, province: str, uscc: str, readings: list[dict]) -> bool:
        if batch_id in self.batch_ids:
            return False
        self.batch_ids.add(batch_id)
        for r in readings:
            ends = self.counted[(uscc, r["meter_id"])]
            if r["ts"] in ends:
                continue  # duplicate_reading (same value) or conflicting_reading: the platform counts neither
            ends.add(r["ts"])
            period = month_of_interval(r["ts"])
            # as the worker does: a year without a published equal-value figure uses the newest one
            year = equal_value_year(int(period[:4])) if self.electricity_method == "equal" else None
            factor = coal_factor(r["energy_type"], r["unit"], method=self.electricity_method, year=year)
            row = self.totals[(province, uscc, r["energy_type"], r["unit"], period)]
            row[0] += r["value_milli"]
            row[1] += factor.to_mgce(r["value_milli"])
            row[2] += 1
        return True

    def by_province_month(self) -> dict[tuple[str, str], list[int]]:
        """(province, period) -> [coal_mgce, readings]."""
        out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for (province, _uscc, _energy, _unit, period), (_phys, mgce, n) in self.totals.items():
            out[(province, period)][0] += mgce
            out[(province, period)][1] += n
        return dict(out)

    def co2_by_province_month(self) -> dict[tuple[str, str], int]:
        """(province, period) -> gCO2, as the worker computes it: each enterprise x energy type x unit x month
        total converted once (ecmon/emission_factors.py), then summed."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for (province, _uscc, energy, unit, period), (phys, _mgce, _n) in self.totals.items():
            out[(province, period)] += co2_of_month(energy, unit, period, phys)
        return dict(out)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "electricity_method": self.electricity_method,
                    "batch_ids": sorted(self.batch_ids),
                    "totals": [[*k, *v] for k, v in sorted(self.totals.items())],
                    "counted": [[*k, runs_of(ends)] for k, ends in sorted(self.counted.items())],
                }
            )
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, electricity_method: str = "equivalent") -> Ledger:
        ledger = cls(electricity_method=electricity_method)
        if path.exists():
            data = json.loads(path.read_text())
            ledger.electricity_method = data["electricity_method"]
            ledger.batch_ids = set(data["batch_ids"])
            for row in data["totals"]:
                ledger.totals[tuple(row[:5])] = list(row[5:])
            for uscc, meter_id, runs in data.get("counted", []):
                ledger.counted[(uscc, meter_id)] = ends_of(runs)
        return ledger


def ledger_path(settings: Settings) -> Path:
    """Where the gateways of a state directory keep their ledger."""
    return settings.state_dir / "ledger.json"
