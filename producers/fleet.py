"""A simulated fleet of key energy-consuming enterprises and their meters.

Deterministic for a given seed: the same fleet, the same readings, the same batch ids, so a
re-run is recognised downstream as a resend rather than new consumption.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from ecmon import regions
from ecmon.uscc import make_uscc

BATCH_NAMESPACE = uuid.UUID("6f1d2c1e-6a55-4d5e-9d39-3c1a0e6b7e21")

# (GB/T 4754 code, name, meters: (energy type, unit, mean consumption per 15 min in that unit))
INDUSTRY_PROFILES: dict[str, tuple[str, list[tuple[str, str, float]]]] = {
    "3120": ("steel", [("electricity", "kWh", 9000.0), ("coke", "t", 6.0), ("blast_furnace_gas", "m3", 30000.0)]),
    "3011": ("cement", [("electricity", "kWh", 4000.0), ("raw_coal", "t", 12.0)]),
    "2612": ("chemicals", [("electricity", "kWh", 6000.0), ("natural_gas", "m3", 2500.0), ("steam", "t", 20.0)]),
    "1713": ("textiles", [("electricity", "kWh", 800.0), ("steam", "t", 3.0)]),
    "2221": ("paper", [("electricity", "kWh", 2000.0), ("raw_coal", "t", 2.5)]),
    "3412": ("machinery", [("electricity", "kWh", 500.0), ("natural_gas", "m3", 120.0)]),
}


@dataclass(frozen=True)
class Meter:
    meter_id: str
    energy_type: str
    unit: str
    mean_per_interval: float


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    region_code: str
    industry_code: str
    meters: tuple[Meter, ...]
    seed: int

    @property
    def province(self) -> str:
        return regions.province_of(self.region_code)

    @property
    def key_id(self) -> str:
        return f"key-{self.uscc}"

    @property
    def gateway_id(self) -> str:
        return f"gw-{self.uscc[-6:]}-1"


def build_fleet(enterprises: int, provinces: tuple[str, ...], seed: int = 2026) -> list[Enterprise]:
    rng = random.Random(seed)
    industries = list(INDUSTRY_PROFILES)
    fleet = []
    for i in range(enterprises):
        province = provinces[i % len(provinces)]
        prefectures = [r.code for r in regions.prefectures(province)] or [province]
        region_code = prefectures[rng.randrange(len(prefectures))]
        industry = industries[i % len(industries)]
        label, meter_specs = INDUSTRY_PROFILES[industry]
        scale = rng.uniform(0.5, 2.0)
        uscc = make_uscc(region_code, (seed % 1000) * 100_000 + i)
        meters = tuple(
            Meter(f"{uscc[-6:]}-M{j + 1:02d}", energy, unit, mean * scale)
            for j, (energy, unit, mean) in enumerate(meter_specs)
        )
        name = f"{regions.region(region_code).name} {label} works No. {i + 1}"
        fleet.append(Enterprise(uscc, name, region_code, industry, meters, seed * 100_000 + i))
    return fleet


def registry_record(ent: Enterprise, valid_from_ms: int, interval_s: int) -> dict:
    return {
        "uscc": ent.uscc,
        "name": ent.name,
        "region_code": ent.region_code,
        "industry_code": ent.industry_code,
        "tier": "NATIONAL_KEY",
        "key_id": ent.key_id,
        "meters": [
            {"meter_id": m.meter_id, "energy_type": m.energy_type, "unit": m.unit, "interval_s": interval_s}
            for m in ent.meters
        ],
        "valid_from": valid_from_ms,
    }


def _load_factor(ts_ms: int, rng: random.Random) -> float:
    """Daily and weekly shape of industrial load (China Standard Time)."""
    hour = ((ts_ms // 3_600_000) + 8) % 24
    weekday = ((ts_ms // 86_400_000) + 3) % 7  # 1970-01-01 was a Thursday
    daily = 1.0 + 0.25 * math.sin((hour - 9) / 24 * 2 * math.pi)
    weekly = 0.8 if weekday >= 5 else 1.0
    return max(0.0, daily * weekly * rng.gauss(1.0, 0.05))


@dataclass(frozen=True)
class PlannedBatch:
    enterprise: Enterprise
    sequence: int
    batch_id: str
    readings: list[dict]


def plan_batches(
    ent: Enterprise, start_ms: int, end_ms: int, interval_s: int, intervals_per_batch: int
) -> Iterator[PlannedBatch]:
    """The enterprise's interval readings from start to end, grouped into batches in time order."""
    rng = random.Random(ent.seed)
    step = interval_s * 1000
    sequence = 0
    ts = start_ms + step  # a reading is stamped at the end of its interval
    while ts <= end_ms:
        readings = []
        for _ in range(intervals_per_batch):
            if ts > end_ms:
                break
            factor = _load_factor(ts, rng)
            for m in ent.meters:
                readings.append(
                    {
                        "meter_id": m.meter_id,
                        "energy_type": m.energy_type,
                        "ts": ts,
                        "value_milli": int(m.mean_per_interval * factor * 1000),
                        "kind": "INTERVAL",
                        "unit": m.unit,
                        "quality": "GOOD",
                    }
                )
            ts += step
        sequence += 1
        batch_id = str(uuid.uuid5(BATCH_NAMESPACE, f"{ent.uscc}/{ent.gateway_id}/{start_ms}/{sequence}"))
        yield PlannedBatch(ent, sequence, batch_id, readings)
