"""Totals built from whole, versioned member rows: the rule the regional and national rollups share.

A member row replaces the stored one only when its version is higher, and every total it belongs
to moves by exactly (new - old). Replays, duplicates and reordering therefore change nothing.
"""

from __future__ import annotations

from typing import Any

from ecmon_worker.rollup_states import VersionedTotals


#: Member rows are [physical_milli, coal_mgce, readings, version, co2_g] and totals [physical_milli, coal_mgce,
#: readings, co2_g]. Rows stored before CO2 was carried are one shorter: their CO2 counts as 0 until the member
#: is sent again (every total stays the sum of its members').
def _co2(values: list[int], index: int) -> int:
    return values[index] if len(values) > index else 0


def replace_if_newer(members: dict[str, Any], member_key: str, row: dict[str, Any], co2_g: int) -> list[int] | None:
    """Store ``row`` (with its CO2, ``co2_g``) if it is newer; returns the change of [physical_milli, coal_mgce,
    readings, co2_g], or None."""
    old = members.get(member_key)
    if old is not None and old[3] >= row["version"]:
        return None
    new = [row["physical_milli"], row["coal_mgce"], row["readings"], row["version"], co2_g]
    members[member_key] = new
    delta = [new[i] - (old[i] if old else 0) for i in range(3)]
    return [*delta, co2_g - (_co2(old, 4) if old else 0)]


def add(totals: dict[str, Any], key: str, delta: list[int]) -> None:
    total = totals.setdefault(key, [0, 0, 0, 0])
    if len(total) < 4:
        total.append(0)
    for i in range(4):
        total[i] += delta[i]


def co2_of_total(total: list[int]) -> int:
    """The CO2 of a stored total (0 for a total stored before CO2 was carried)."""
    return _co2(total, 3)


def keys_to_emit(state: VersionedTotals, changed: set[str], mentioned: set[str]) -> list[str]:
    """Changed keys get the next state version; with nothing changed, re-emit what the input mentioned,
    in case an earlier emission was lost in a crash."""
    if changed:
        state["v"] += 1
        state["ver"].update({k: state["v"] for k in changed})
        return sorted(changed)
    return sorted(k for k in mentioned if k in state["totals"])
