"""National rollup: every province's totals in, national totals (x industry x energy type x month) out.

The same replay-safe scheme as the regional rollup: inputs are whole, versioned PROVINCE rows (the
version is the province state's, so it only grows); a province row replaces the stored one only if
its version is higher, and the national total moves by exactly (new - old). All province rows travel
to the single key 'CN' through ``ecmon.province-totals.v1``. State (one Faust table value)::

    {"v": 3,
     "members": {"<province>|<industry>|electricity|kWh|2026-10":
                     [physical_milli, coal_mgce, readings, version, co2_g]},
     "totals":  {"<industry>|electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, co2_g]},
     "ver":     {"<same key as totals>": version of the national state that last changed it}}
"""

from __future__ import annotations

from typing import Any

from ecmon.emission_factors import scope
from ecmon_worker.rollup_states import NationMonth
from ecmon_worker.versioned_totals import add, co2_of_total, keys_to_emit, replace_if_newer

NATIONAL_KEY = "CN"


def new_state() -> NationMonth:
    return {"v": 0, "members": {}, "totals": {}, "ver": {}}


def apply_province_rows(state: NationMonth, rows: list[dict[str, Any]]) -> list[str]:
    """Fold PROVINCE aggregate rows into the national state; returns the national keys to emit."""
    changed: set[str] = set()
    mentioned: set[str] = set()
    members, totals = state["members"], state["totals"]
    for row in rows:
        if row["level"] != "PROVINCE":
            continue
        key = f"{row['industry_code']}|{row['energy_type']}|{row['unit']}|{row['period']}"
        mentioned.add(key)
        # A province row before v4 has no CO2: counted 0 until the province sends the row again (a province's CO2
        # is a sum of its enterprises' monthly roundings, which its physical total alone cannot give back).
        delta = replace_if_newer(members, f"{row['entity']}|{key}", row, row.get("co2_g") or 0)
        if delta is None:
            continue
        add(totals, key, delta)
        changed.add(key)
    return keys_to_emit(state, changed, mentioned)


def national_aggregates(state: NationMonth, keys: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        industry, energy_type, unit, period = key.split("|")
        total = state["totals"][key]
        physical, mgce, readings = total[:3]
        rows.append({"level": "NATIONAL", "entity": NATIONAL_KEY, "province": NATIONAL_KEY, "industry_code": industry,
                     "energy_type": energy_type, "period": period, "unit": unit, "physical_milli": physical,
                     "coal_mgce": mgce, "readings": readings, "version": state["ver"][key],
                     "co2_g": co2_of_total(total), "co2_scope": scope(energy_type)})
    return rows
