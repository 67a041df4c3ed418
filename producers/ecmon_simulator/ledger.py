"""What the gateways delivered, so a run can be reconciled against ClickHouse exactly.

Counted per batch id on Kafka's acknowledgement: a batch sent twice (a resend, a re-run with the
same seed) is counted once, exactly as the platform is required to count it.
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


@dataclass
class Ledger:
    electricity_method: str = "equivalent"
    batch_ids: set[str] = field(default_factory=set)
    # (province, uscc, energy_type, unit, period) -> [physical_milli, coal_mgce, readings]
    totals: dict[tuple[str, str, str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, batch_id: str, province: str, uscc: str, readings: list[dict]) -> bool:
        if batch_id in self.batch_ids:
            return False
        self.batch_ids.add(batch_id)
        for r in readings:
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
        return ledger


def ledger_path(settings: Settings) -> Path:
    """Where the gateways of a state directory keep their ledger."""
    return settings.state_dir / "ledger.json"
