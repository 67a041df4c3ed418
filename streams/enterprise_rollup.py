"""Enterprise rollup: one reading batch in, the enterprise's changed monthly totals out.

Pure functions over a JSON-able state dict, so the Faust agent stays a thin shell and the
arithmetic is unit-tested without a broker. State of one enterprise (one Faust table value)::

    {"v": 12,                                   # bumps once per applied batch
     "hwm": {"gw-1": 41},                       # highest sequence applied per gateway
     "m": {"electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, version]}}

Keeping the duplicate guard (hwm) in the same value as the totals means one changelog record
carries both: after a crash the restored totals and the restored guard always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ecmon.energy import CoalFactor, coal_factor
from ecmon.months import month_of_interval

FactorLookup = Callable[[str, str, int], CoalFactor]


def equivalent_factors(energy_type: str, unit: str, _ts_ms: int) -> CoalFactor:
    return coal_factor(energy_type, unit)


@dataclass
class Rejection:
    reason: str
    detail: str


@dataclass
class BatchOutcome:
    applied: bool = False
    duplicate: bool = False
    #: keys ("energy|unit|period") whose current totals must be emitted downstream
    touched: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    readings_accepted: int = 0


def new_state() -> dict:
    return {"v": 0, "hwm": {}, "m": {}}


def apply_batch(
    state: dict, batch: dict, meters: dict[str, tuple[str, str]], factors: FactorLookup = equivalent_factors
) -> BatchOutcome:
    """Add the batch's readings to ``state`` unless the batch was applied before.

    ``meters`` maps meter id -> (energy type, unit) as registered. Readings that cannot be
    counted are rejected one by one with a reason; the rest of the batch still counts.
    """
    outcome = BatchOutcome()
    gateway, sequence = batch["gateway_id"], batch["sequence"]
    if sequence <= state["hwm"].get(gateway, 0):
        # A resend: count nothing, but re-emit what it touched in case the first emission was lost.
        outcome.duplicate = True
        outcome.touched = sorted({f"{r['energy_type']}|{r['unit']}|{month_of_interval(r['ts'])}" for r in batch["readings"]})
        outcome.touched = [k for k in outcome.touched if k in state["m"]]
        return outcome

    version = state["v"] + 1
    totals = state["m"]
    touched: set[str] = set()
    rejections: list[Rejection] = []
    accepted = 0
    for r in batch["readings"]:
        registered = meters.get(r["meter_id"])
        if registered is None:
            rejections.append(Rejection("unknown_meter", f"meter {r['meter_id']!r} is not registered"))
            continue
        if registered != (r["energy_type"], r["unit"]):
            rejections.append(
                Rejection(
                    "meter_mismatch",
                    f"meter {r['meter_id']!r} is registered as {registered[0]} in {registered[1]}, "
                    f"reading says {r['energy_type']} in {r['unit']}",
                )
            )
            continue
        value = r["value_milli"]
        if r["kind"] != "INTERVAL":
            rejections.append(Rejection("unsupported_value_kind", f"{r['kind']} readings are not accepted yet"))
            continue
        if value < 0:
            rejections.append(Rejection("negative_interval_value", f"meter {r['meter_id']!r}: {value / 1000}"))
            continue
        mgce = factors(r["energy_type"], r["unit"], r["ts"]).to_mgce(value)
        key = f"{r['energy_type']}|{r['unit']}|{month_of_interval(r['ts'])}"
        row = totals.get(key)
        if row is None:
            row = totals[key] = [0, 0, 0, 0]
        row[0] += value
        row[1] += mgce
        row[2] += 1
        row[3] = version
        touched.add(key)
        accepted += 1

    state["v"] = version
    state["hwm"][gateway] = sequence
    outcome.applied = True
    outcome.touched = sorted(touched)
    outcome.rejections = rejections
    outcome.readings_accepted = accepted
    return outcome


def month_totals(state: dict, keys: list[str]) -> list[dict]:
    """The current totals of ``keys`` as EnterpriseTotals.totals records."""
    rows = []
    for key in keys:
        energy_type, unit, period = key.split("|")
        physical, mgce, readings, version = state["m"][key]
        rows.append(
            {
                "energy_type": energy_type,
                "unit": unit,
                "period": period,
                "physical_milli": physical,
                "coal_mgce": mgce,
                "readings": readings,
                "version": version,
            }
        )
    return rows
