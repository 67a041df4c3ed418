"""A simulated fleet of key energy-consuming enterprises and their meters.

Deterministic for a given seed: the same fleet, the same readings, the same batch ids, so a
re-run is recognised downstream as a resend rather than new consumption. The load shapes come
from the industry profiles in ``ecmon_simulator.profiles``; faults (opt-in) from ``ecmon_simulator.faults``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ecmon import regions, signing
from ecmon.uscc import make_uscc
from ecmon_simulator.faults import FaultPlan, MeterFaults
from ecmon_simulator.meters import Register, consumption_between, register_digits
from ecmon_simulator.profiles import PROFILES, IndustryProfile

BATCH_NAMESPACE = uuid.UUID("6f1d2c1e-6a55-4d5e-9d39-3c1a0e6b7e21")

# (GB/T 4754 code, name, meters: (energy type, unit, mean consumption per 15 min in that unit)), kept
# for callers of the first version; the profiles carry the full description.
INDUSTRY_PROFILES: dict[str, tuple[str, list[tuple[str, str, float]]]] = {
    code: (p.label, [(m.energy_type, m.unit, m.mean_per_interval) for m in p.meters]) for code, p in PROFILES.items()
}


@dataclass(frozen=True)
class Meter:
    meter_id: str
    energy_type: str
    unit: str
    mean_per_interval: float
    process: str = ""
    kind: str = "INTERVAL"  # or CUMULATIVE: the meter reports its register
    spare_id: str = ""  # cumulative meters: the id a replacement meter gets (registered in advance)

    @property
    def digits(self) -> int:
        return register_digits(self.mean_per_interval)


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

    @property
    def profile(self) -> IndustryProfile:
        return PROFILES[self.industry_code]


def _meters(uscc: str, profile: IndustryProfile, scale: float, count: int | None, cumulative: bool,
            spares: bool) -> tuple[Meter, ...]:
    """The profile's meters; more than the profile lists become sub-meters sharing their energy type."""
    specs = list(profile.meters)
    count = count or len(specs)
    chosen = [specs[j % len(specs)] for j in range(count)]
    shares = {s: chosen.count(s) for s in specs}
    meters = []
    for j, spec in enumerate(chosen):
        meter_id = f"{uscc[-6:]}-M{j + 1:02d}"
        meters.append(Meter(meter_id, spec.energy_type, spec.unit, spec.mean_per_interval * scale / shares[spec],
                            spec.process, "CUMULATIVE" if cumulative else "INTERVAL",
                            f"{meter_id}R" if cumulative and spares else ""))
    return tuple(meters)


def build_fleet(enterprises: int, provinces: tuple[str, ...], seed: int = 2026,
                meters_per_enterprise: int | None = None, cumulative: bool = False,
                spare_meters: bool = False) -> list[Enterprise]:
    rng = random.Random(seed)
    industries = list(PROFILES)
    fleet = []
    for i in range(enterprises):
        province = provinces[i % len(provinces)]
        prefectures = [r.code for r in regions.prefectures(province)] or [province]
        region_code = prefectures[rng.randrange(len(prefectures))]
        industry = industries[i % len(industries)]
        profile = PROFILES[industry]
        scale = rng.uniform(0.5, 2.0)
        uscc = make_uscc(region_code, (seed % 1000) * 100_000 + i)
        meters = _meters(uscc, profile, scale, meters_per_enterprise, cumulative, spare_meters)
        name = f"{regions.region(region_code).name} {profile.label} works No. {i + 1}"
        fleet.append(Enterprise(uscc, name, region_code, industry, meters, seed * 100_000 + i))
    return fleet


_current_keys: dict[tuple[Path, str], tuple[float, str]] = {}


def signing_key(ent: Enterprise, state_dir: Path) -> tuple[str, Ed25519PrivateKey]:
    """(key id, private key) the enterprise's gateway signs with now: its first key, or the one a
    rotation made current (`ecmon keys rotate`). Keys are made on first use in the state directory."""
    store = signing.enterprise_keys(state_dir)
    cache_key = (store.root, ent.uscc)
    cached = _current_keys.get(cache_key)
    if cached is None or time.monotonic() - cached[0] > 2.0:  # a rotation is seen within seconds
        cached = _current_keys[cache_key] = (time.monotonic(), store.current_key_id(ent.uscc, ent.key_id))
    key_id = cached[1]
    return key_id, store.private_key(ent.uscc, key_id)


def registry_record(ent: Enterprise, valid_from_ms: int, interval_s: int, key_id: str | None = None,
                    public_keys: list[dict] | None = None) -> dict:
    """The enterprise's registry record, unsigned (the registry authority signs it when publishing)."""
    meters = []
    for m in ent.meters:
        meters.append({"meter_id": m.meter_id, "energy_type": m.energy_type, "unit": m.unit, "interval_s": interval_s})
        if m.spare_id:  # a replacement meter is registered before its first reading (interface standard 7)
            meters.append({"meter_id": m.spare_id, "energy_type": m.energy_type, "unit": m.unit,
                           "interval_s": interval_s})
    return {
        "uscc": ent.uscc,
        "name": ent.name,
        "region_code": ent.region_code,
        "industry_code": ent.industry_code,
        "tier": "NATIONAL_KEY",
        "key_id": key_id or ent.key_id,
        "meters": meters,
        "valid_from": valid_from_ms,
        "public_keys": public_keys or [],
        "registry_signature": b"",
    }


@dataclass(frozen=True)
class PlannedBatch:
    enterprise: Enterprise
    sequence: int
    batch_id: str
    readings: list[dict]
    # What the platform should count for these readings (interval consumption). Equal to
    # ``readings`` for interval meters; derived from register differences for cumulative ones.
    counted: list[dict] | None = None
    duplicate: bool = False  # fault: send twice
    corrupt_copy: bool = False  # fault: also send a corrupted copy

    @property
    def countable(self) -> list[dict]:
        return self.readings if self.counted is None else self.counted


@dataclass
class _CumulativeState:
    register: Register
    meter_id: str
    last_shown: int | None = None  # the platform's baseline: None until the first reading
    replaced: bool = False


@dataclass
class MeterReader:
    """Reads an enterprise's meters interval by interval: profile, noise, faults, registers."""

    ent: Enterprise
    faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.ent.seed)
        self.meter_faults = MeterFaults(self.faults, self.ent.seed) if self.faults else None
        self.registers = {
            m.meter_id: _CumulativeState(
                Register(m.digits, int(random.Random(f"{self.ent.seed}/{m.meter_id}").random() * 10**m.digits) * 1000),
                m.meter_id)
            for m in self.ent.meters if m.kind == "CUMULATIVE"
        }

    def read(self, ts: int) -> tuple[list[dict], list[dict]]:
        """(readings as sent, what the platform should count) for the interval ending at ``ts``."""
        load = self.ent.profile.load(self.ent.seed, ts)
        noise = self.ent.profile.noise
        sent, counted = [], []
        for m in self.ent.meters:
            value = int(m.mean_per_interval * max(0.0, load[m.process] * self.rng.gauss(1.0, noise)) * 1000)
            if self.meter_faults is not None:
                faulted = self.meter_faults.consumption(m.meter_id, ts, value)
                if faulted is None:
                    continue
                value = faulted
            reading = {"meter_id": m.meter_id, "energy_type": m.energy_type, "ts": ts, "value_milli": value,
                       "kind": m.kind, "unit": m.unit, "quality": "GOOD"}
            if m.kind == "CUMULATIVE":
                reading, count = self._register_reading(m, reading, value)
                sent.append(reading)
                if count is not None:
                    counted.append(count)
            else:
                sent.append(reading)
                counted.append(reading)
        return sent, counted

    def _register_reading(self, m: Meter, reading: dict, consumption: int) -> tuple[dict, dict | None]:
        st = self.registers[m.meter_id]
        mf = self.meter_faults
        if mf is not None and m.spare_id and not st.replaced and mf.replace_now(m.meter_id):
            # the new meter starts near zero; its first reading is a new baseline, as on site
            st.register, st.meter_id, st.last_shown, st.replaced = Register(m.digits), m.spare_id, None, True
        if mf is not None and mf.reset_now(st.meter_id):
            shown = st.register.reset()
            counted_value = None  # a reset loses the interval's consumption: the platform cannot know it
            st.last_shown = shown
            return {**reading, "meter_id": st.meter_id, "value_milli": shown}, counted_value
        if mf is not None and mf.register_stuck(st.meter_id):
            consumption = 0
        shown = st.register.advance(consumption)
        previous, st.last_shown = st.last_shown, shown
        sent = {**reading, "meter_id": st.meter_id, "value_milli": shown}
        if previous is None:
            return sent, None
        delta = consumption_between(previous, shown, st.register.modulus_milli)
        return sent, {**sent, "kind": "INTERVAL", "value_milli": delta}


def batch_id_for(ent: Enterprise, start_ms: int, sequence: int) -> str:
    return str(uuid.uuid5(BATCH_NAMESPACE, f"{ent.uscc}/{ent.gateway_id}/{start_ms}/{sequence}"))


def plan_batches(
    ent: Enterprise, start_ms: int, end_ms: int, interval_s: int, intervals_per_batch: int,
    faults: FaultPlan | None = None,
) -> Iterator[PlannedBatch]:
    """The enterprise's readings from start to end, grouped into batches in time order."""
    reader = MeterReader(ent, faults or FaultPlan())
    mf = reader.meter_faults
    step = interval_s * 1000
    sequence = 0
    held: list[tuple[int, dict, dict | None]] = []  # late readings: (batches still to wait, reading, counted)
    ts = start_ms + step  # a reading is stamped at the end of its interval
    while ts <= end_ms:
        readings: list[dict] = []
        counted: list[dict] = []
        for _ in range(intervals_per_batch):
            if ts > end_ms:
                break
            sent, count = reader.read(ts)
            if mf is not None and mf.plan.has("late"):
                count_by_meter = {c["meter_id"]: c for c in count}
                for r in sent:
                    wait = mf.hold_back()
                    c = count_by_meter.get(r["meter_id"])
                    if wait:
                        held.append((wait, r, c))
                    else:
                        readings.append(r)
                        if c is not None:
                            counted.append(c)
            else:
                readings.extend(sent)
                counted.extend(count)
            ts += step
        if held:
            last_batch = ts > end_ms
            still = []
            for wait, r, c in held:
                if wait <= 0 or last_batch:  # the backlog goes out with the last batch at the latest
                    readings.append(r)
                    if c is not None:
                        counted.append(c)
                else:
                    still.append((wait - 1, r, c))
            held = still
        if mf is not None:
            mf.shuffle(readings)
        if not readings:
            continue  # a whole batch silenced: nothing to send, no sequence used
        sequence += 1
        yield PlannedBatch(
            ent, sequence, batch_id_for(ent, start_ms, sequence), readings,
            None if counted == readings else counted,
            duplicate=bool(mf and mf.batch_fault("duplicate")),
            corrupt_copy=bool(mf and mf.batch_fault("corrupt")),
        )
