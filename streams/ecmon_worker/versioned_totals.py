"""Totals built from whole, versioned member rows: the rule the regional and national rollups share.

A member row replaces the stored one only when its version is higher, and every total it belongs
to moves by exactly (new - old). Replays, duplicates and reordering therefore change nothing.
"""

from __future__ import annotations

from typing import Any


def replace_if_newer(members: dict[str, Any], member_key: str, row: dict[str, Any]) -> list[int] | None:
    """Store ``row`` if it is newer; returns the change of [physical_milli, coal_mgce, readings], or None."""
    old = members.get(member_key)
    if old is not None and old[3] >= row["version"]:
        return None
    new = [row["physical_milli"], row["coal_mgce"], row["readings"], row["version"]]
    members[member_key] = new
    return [new[i] - (old[i] if old else 0) for i in range(3)]


def add(totals: dict[str, Any], key: str, delta: list[int]) -> None:
    total = totals.setdefault(key, [0, 0, 0])
    for i in range(3):
        total[i] += delta[i]


def keys_to_emit(state: dict[str, Any], changed: set[str], mentioned: set[str]) -> list[str]:
    """Changed keys get the next state version; with nothing changed, re-emit what the input mentioned,
    in case an earlier emission was lost in a crash."""
    if changed:
        state["v"] += 1
        state["ver"].update({k: state["v"] for k in changed})
        return sorted(changed)
    return sorted(k for k in mentioned if k in state["totals"])
