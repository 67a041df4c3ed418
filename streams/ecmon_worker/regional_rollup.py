"""Regional rollup: enterprises' monthly totals in, province (and prefecture) totals out.

Inputs are whole, versioned enterprise totals, not deltas, so a replayed or duplicated input
changes nothing: an enterprise row is replaced only by a higher version, and the region total
moves by exactly (new - old). State of one province (one Faust table value)::

    {"v": 7,
     "members": {"<uscc>|electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, version, co2_g]},
     "totals":  {"<level>|<entity>|<industry>|electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, co2_g]},
     "ver":     {"<same key as totals>": version of the province state that last changed it}}
"""

from __future__ import annotations

from typing import Any

from ecmon.emission_factors import co2_of_month, scope
from ecmon.regions import NoPrefecture, prefecture_of
from ecmon_worker.rollup_states import ProvinceMonth
from ecmon_worker.versioned_totals import add, co2_of_total, keys_to_emit, replace_if_newer


def new_state() -> ProvinceMonth:
    return {"v": 0, "members": {}, "totals": {}, "ver": {}}


def _region_keys(province: str, region_code: str, industry: str, tail: str) -> list[str]:
    keys = [f"PROVINCE|{province}|*|{tail}", f"PROVINCE|{province}|{industry}|{tail}"]
    try:
        prefecture = prefecture_of(region_code)
    except NoPrefecture:  # registered at province level: counted in the province only
        return keys
    return [*keys, f"PREFECTURE|{prefecture}|*|{tail}", f"PREFECTURE|{prefecture}|{industry}|{tail}"]


def apply_totals(state: ProvinceMonth, province: str, message: dict[str, Any]) -> list[str]:
    """Fold one EnterpriseTotals message into the province state; returns the region keys to emit."""
    changed: set[str] = set()
    mentioned: set[str] = set()
    members, totals = state["members"], state["totals"]
    for row in message["totals"]:
        tail = f"{row['energy_type']}|{row['unit']}|{row['period']}"
        keys = _region_keys(province, message["region_code"], message["industry_code"], tail)
        mentioned.update(keys)
        co2 = row.get("co2_g")
        if co2 is None:  # an EnterpriseTotals before v4: the same function of the month's total the enterprise uses
            co2 = co2_of_month(row["energy_type"], row["unit"], row["period"], row["physical_milli"])
        delta = replace_if_newer(members, f"{message['uscc']}|{tail}", row, co2)
        if delta is None:
            continue
        for key in keys:
            add(totals, key, delta)
        changed.update(keys)
    return keys_to_emit(state, changed, mentioned)


def region_aggregates(state: ProvinceMonth, province: str, keys: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        level, entity, industry, energy_type, unit, period = key.split("|")
        total = state["totals"][key]
        physical, mgce, readings = total[:3]
        rows.append(
            {
                "level": level,
                "entity": entity,
                "province": province,
                "industry_code": industry,
                "energy_type": energy_type,
                "period": period,
                "unit": unit,
                "physical_milli": physical,
                "coal_mgce": mgce,
                "readings": readings,
                "version": state["ver"][key],
                "co2_g": co2_of_total(total),
                "co2_scope": scope(energy_type),
            }
        )
    return rows
