"""National rollup: every province's totals in, national totals (x industry x energy type x month) out.

The same replay-safe scheme as the regional rollup: inputs are whole, versioned PROVINCE rows (the
version is the province state's, so it only grows); a province row replaces the stored one only if
its version is higher, and the national total moves by exactly (new - old). All province rows travel
to the single key 'CN' through ``ecmon.province-totals.v1``. State (one Faust table value)::

    {"v": 3,
     "members": {"<province>|<industry>|electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, version]},
     "totals":  {"<industry>|electricity|kWh|2026-10": [physical_milli, coal_mgce, readings]},
     "ver":     {"<same key as totals>": version of the national state that last changed it}}
"""

from __future__ import annotations

NATIONAL_KEY = "CN"


def new_state() -> dict:
    return {"v": 0, "members": {}, "totals": {}, "ver": {}}


def apply_province_rows(state: dict, rows: list[dict]) -> list[str]:
    """Fold PROVINCE aggregate rows into the national state; returns the national keys to emit."""
    changed: set[str] = set()
    mentioned: set[str] = set()
    members, totals = state["members"], state["totals"]
    for row in rows:
        if row["level"] != "PROVINCE":
            continue
        key = f"{row['industry_code']}|{row['energy_type']}|{row['unit']}|{row['period']}"
        mentioned.add(key)
        member_key = f"{row['entity']}|{key}"
        old = members.get(member_key)
        if old is not None and old[3] >= row["version"]:
            continue
        new = [row["physical_milli"], row["coal_mgce"], row["readings"], row["version"]]
        members[member_key] = new
        total = totals.setdefault(key, [0, 0, 0])
        for i in range(3):
            total[i] += new[i] - (old[i] if old else 0)
        changed.add(key)
    if changed:
        state["v"] += 1
        state["ver"].update({k: state["v"] for k in changed})
        return sorted(changed)
    return sorted(k for k in mentioned if k in totals)  # re-emit, in case an earlier emission was lost


def national_aggregates(state: dict, keys: list[str]) -> list[dict]:
    rows = []
    for key in keys:
        industry, energy_type, unit, period = key.split("|")
        physical, mgce, readings = state["totals"][key]
        rows.append({"level": "NATIONAL", "entity": NATIONAL_KEY, "province": NATIONAL_KEY, "industry_code": industry,
                     "energy_type": energy_type, "period": period, "unit": unit, "physical_milli": physical,
                     "coal_mgce": mgce, "readings": readings, "version": state["ver"][key]})
    return rows
