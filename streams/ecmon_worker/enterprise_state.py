"""The value of table ``enterprise-state``: one enterprise's counted figures, its duplicate guard and registers.

Owned by streams/ecmon_worker/reading_batches.py and changed only by streams/ecmon_worker/enterprise_rollup.py.
Compact JSON (short keys, rows as lists), because it is written to the changelog on every emission::

    {"v": 12,                                   # bumps once per applied batch
     "seq": {"gw-1": [41, [[7, 7]]]},           # per gateway: highest sequence applied, and the
                                                #   ranges below it that were NOT applied (gaps)
     "wm": 1793462400000,                       # event-time watermark: latest reading ts counted
     "reg": {"G-01": {"h": [[ts, register_milli, counted_milli, counts_as_reading], ...],
                      "t": 0}},                 # cumulative meters: recent register readings;
                                                #   t=1 once older history was trimmed
     "m": {"electricity|kWh|2026-10": [physical_milli, coal_mgce, readings, version]},
     "d": {"electricity|kWh|2026-10-05": [physical_milli, coal_mgce, readings]},   # CST days
     "ds": {"electricity|kWh|2026-09": [coal_mgce, days]},  # closed months: their days' sum
     "ix": {"E-01": [20362, 20392, 1]}}         # the meter-days whose exact counted interval values are
                                                #   kept beside this value (streams/ecmon_worker/reading_identity.py)

Versions in use and their upgrade (``upgrade``, applied before every batch): states written before batch-identity
dedup carry ``hwm`` (gateway -> highest sequence) instead of ``seq``, and lack ``wm``, ``reg``, ``d``, ``ds`` and
``ix``; states of the unreleased digest layout carry identities in ``id`` that are not text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict


class RegisterHistory(TypedDict):
    #: [ts, register_milli, counted_milli, counts_as_reading (0/1)], oldest first
    h: list[list[int]]
    #: 1 once older history was trimmed
    t: int


class EnterpriseState(TypedDict):
    v: int
    #: gateway -> [highest sequence applied, [[first, last] of each unapplied range below it]]
    seq: dict[str, list[Any]]
    wm: int
    reg: dict[str, RegisterHistory]
    #: "energy|unit|YYYY-MM" -> [physical_milli, coal_mgce, readings, version]
    m: dict[str, list[int]]
    #: "energy|unit|YYYY-MM-DD" -> [physical_milli, coal_mgce, readings], open months only
    d: dict[str, list[int]]
    #: "energy|unit|YYYY-MM" -> [coal_mgce, days] of a closed month's days
    ds: dict[str, list[int]]
    #: meter -> (first day, last day, parts per day) of its reading identities (CST day numbers); in memory a
    #: tuple of shared ints, from the changelog's JSON a list
    ix: dict[str, Sequence[int]]
    #: the reading identities themselves, when no table holds them (the offline check, tests)
    id: NotRequired[dict[str, Any]]
    #: the layout before batch-identity dedup: gateway -> highest sequence
    hwm: NotRequired[dict[str, int]]


def new_state() -> EnterpriseState:
    return {"v": 0, "seq": {}, "wm": 0, "reg": {}, "m": {}, "d": {}, "ds": {}, "ix": {}}


def upgrade(state: EnterpriseState) -> None:
    """Bring a state of any version in use to the current layout, in place."""
    if "seq" not in state:
        state["seq"] = {gw: [s, []] for gw, s in state.pop("hwm", {}).items()}
    state.setdefault("wm", 0)
    state.setdefault("reg", {})
    state.setdefault("d", {})
    state.setdefault("ds", {})
    state.setdefault("ix", {})
    if any(not isinstance(v, str) for v in state.get("id", {}).values()):
        state.pop("id")  # identities of the unreleased digest layout: nothing exact to keep from them
