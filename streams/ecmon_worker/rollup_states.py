"""The values of tables ``province-state`` and ``nation-state``, owned by streams/ecmon_worker/rollup_steps.py.

A province's state is one value per month, ``"<province>|<YYYY-MM>"`` (``ProvinceMonth``: the regional
rollup of streams/ecmon_worker/regional_rollup.py and what month close needs of it), and one small
province-wide value, ``"<province>"`` (``ProvinceState``: month close and the early warning). The nation's is
one value per month, ``"CN|<YYYY-MM>"`` (``NationMonth``: the national rollup of
streams/ecmon_worker/national_rollup.py, the provinces' reports and the feedback sent). So a message
rewrites one month's value, not the whole history. The layouts (compact JSON, rows as lists) are described
key by key in those modules; one version of each is in use: keys are only ever added, as optional ones.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class VersionedTotals(TypedDict):
    """The replay-safe rollup (streams/ecmon_worker/versioned_totals.py)."""

    v: int
    #: member row key -> [physical_milli, coal_mgce, readings, version, co2_g]
    members: dict[str, list[int]]
    #: total key -> [physical_milli, coal_mgce, readings, co2_g]
    totals: dict[str, list[int]]
    #: total key -> the state version that last changed it
    ver: dict[str, int]


class ProvinceMonth(VersionedTotals):
    #: uscc -> industry code, for the enterprise counts
    ind: NotRequired[dict[str, str]]
    #: "uscc|energy|unit" -> [daily_coal_mgce, days, version]
    daily: NotRequired[dict[str, list[int]]]


class ProvinceState(TypedDict, total=False):
    pwm: int  # the province's event time
    periods: list[str]  # months with a state
    #: month -> [report version, digest, total_coal_mgce, received, pending revision tick, enterprises behind]
    closed: dict[str, list[Any]]
    ewm: dict[str, int]  # each enterprise's event time
    mtd: dict[str, int]  # month -> CST day of its last month-to-date figures
    #: outlook period -> [level, ...] of the last early-warning event (streams/ecmon_worker/early_warning.py)
    warn: dict[str, list[Any]]
    warn_latest: str  # the newest month the early-warning gauge shows


class NationMonth(VersionedTotals):
    #: month -> province -> its newest report's figures (streams/ecmon_worker/national_feedback.py)
    reports: NotRequired[dict[str, dict[str, dict[str, Any]]]]
    #: province -> the feedback version sent
    feedback: NotRequired[dict[str, Any]]
