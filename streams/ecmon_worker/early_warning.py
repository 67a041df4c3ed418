"""Regional early warning: will the province stay within its energy-consumption target?

For each province and month the forecast of the month-end total is the month-to-date total scaled
by the share of expected readings received so far (expected = every registered meter for every
interval of the month). Missing readings are thus imputed at the province's average rate, which
is what a regulator assumes until the data arrive.

The interval treats the province's daily totals as independent with a coefficient of variation
``DAILY_CV``: the unseen part of the month varies day by day, and the run rate it is projected
with is itself uncertain because it was estimated from the days seen. At month end both terms
vanish and the forecast is the measured total.

Levels follow the regional energy-consumption barometer (green / orange / red) that the metric
``ecmon_region_early_warning_level`` and the alert RegionalEarlyWarning use:

- 0 green: even the upper bound of the interval stays under the target;
- 1 orange: the target lies within the interval, above the forecast (tight);
- 2 red: the forecast reaches the target (more likely than not to exceed it).

No month outlook is made before ``MIN_SHARE`` of the month's expected readings are in (a forecast
from a few hours says little), and a level is lowered only when it would also be lowered against a
target ``HYSTERESIS`` lower, so a province running right at its target does not flap orange/red.

The year-end forecast adds the closed months of the year, the current month's forecast and the
current month's forecast again for every month still to come.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ecmon.months import month_start_ms, next_period
from ecmon_worker.anomaly_events import anomaly_event
from ecmon_worker.rollup_states import ProvinceMonth, ProvinceState

DAILY_CV = 0.10
MIN_SHARE = 0.05  # no month outlook before 5 % of the expected readings (about a day and a half) are in
HYSTERESIS = 0.02  # a level is lowered only once the forecast clears the target by 2 %, so it does not flap
Z_90 = 1.645
GREEN, ORANGE, RED = 0, 1, 2
LEVEL_NAMES = ("green", "orange", "red")
SEVERITY = ("INFO", "WARNING", "CRITICAL")
DAY_MS = 86_400_000
DETECTOR = "regional_early_warning"
DETECTOR_VERSION = "1"
MGCE_PER_TCE = 10**9


class ReferenceData(Protocol):
    def target(self, scope: str, entity_code: str, year: int, month: int) -> dict[str, Any] | None: ...

    def expected_readings(self, province: str, period: str) -> int: ...


@dataclass(frozen=True)
class Forecast:
    """Forecast total in mgce with a 90 % interval; ``received_share`` of the expected readings seen."""

    expected_mgce: int
    low_mgce: int
    high_mgce: int
    received_share: float


def days_in(period: str) -> int:
    return (month_start_ms(next_period(period)) - month_start_ms(period)) // DAY_MS


def month_end_forecast(to_date_mgce: int, readings: int, expected_readings: int, days: int,
                       daily_cv: float = DAILY_CV) -> Forecast | None:
    """None until anything was received (or when nothing is expected)."""
    if readings <= 0 or expected_readings <= 0:
        return None
    share = min(1.0, readings / expected_readings)
    total = to_date_mgce / share
    days_seen = max(share * days, 1e-9)
    days_left = (1.0 - share) * days
    daily = total / days
    # variance of the days still to come + of projecting them with a run rate estimated from days_seen
    spread = daily * daily_cv * math.sqrt(days_left + days_left * days_left / days_seen)
    return Forecast(round(total), max(to_date_mgce, round(total - Z_90 * spread)), round(total + Z_90 * spread), share)


def year_end_forecast(closed_months_mgce: int, month: Forecast, months_to_come: int) -> Forecast:
    """Closed months are measured; the current month and each month to come are the current forecast."""
    factor = 1 + months_to_come
    return Forecast(
        closed_months_mgce + factor * month.expected_mgce,
        closed_months_mgce + factor * month.low_mgce,
        closed_months_mgce + factor * month.high_mgce,
        month.received_share,
    )


def level(forecast: Forecast, target_mgce: int) -> int:
    if forecast.expected_mgce >= target_mgce:
        return RED
    if forecast.high_mgce >= target_mgce:
        return ORANGE
    return GREEN


def _province_month(month: ProvinceMonth | None, province: str) -> tuple[int, int]:
    """(coal_mgce, readings) of the province in a month's state, over every energy type."""
    mgce = readings = 0
    prefix = f"PROVINCE|{province}|*|"
    for key, (_, coal, count, *_co2) in (month["totals"] if month else {}).items():
        if key.startswith(prefix):
            mgce += coal
            readings += count
    return mgce, readings


@dataclass(frozen=True)
class Outlook:
    """What the detector concluded for one province and period ('YYYY-MM' or 'YYYY')."""

    period: str
    forecast: Forecast
    target_mgce: int
    level: int


def outlooks(month_of: Callable[[str], ProvinceMonth | None], province: str, period: str,
             reference: ReferenceData) -> list[Outlook]:
    """The month's and the year's outlook of the province, for the targets that exist."""
    year, month = (int(p) for p in period.split("-"))
    month_target = reference.target("PROVINCE", province, year, month)
    year_target = reference.target("PROVINCE", province, year, 0)
    if month_target is None and year_target is None:
        return []
    mgce, readings = _province_month(month_of(period), province)
    forecast = month_end_forecast(mgce, readings, reference.expected_readings(province, period), days_in(period))
    if forecast is None or forecast.received_share < MIN_SHARE:
        return []
    found = []
    if month_target is not None:
        found.append(Outlook(period, forecast, month_target["coal_mgce"], level(forecast, month_target["coal_mgce"])))
    if year_target is not None:
        closed = sum(_province_month(month_of(f"{year:04d}-{m:02d}"), province)[0] for m in range(1, month))
        year_forecast = year_end_forecast(closed, forecast, 12 - month)
        found.append(Outlook(str(year), year_forecast, year_target["coal_mgce"],
                             level(year_forecast, year_target["coal_mgce"])))
    return found


def _span(period: str) -> tuple[int, int]:
    if len(period) == 4:
        return month_start_ms(f"{period}-01"), month_start_ms(f"{int(period) + 1:04d}-01")
    return month_start_ms(period), month_start_ms(next_period(period))


def level_changes(state: ProvinceState, province: str, found: list[Outlook]) -> list[dict[str, Any]]:
    """Anomaly events for the outlooks whose level changed (state["warn"] remembers the last level and
    how many changes there were, so a replay re-emits the same ids). Starting green is no event."""
    warned = state.setdefault("warn", {})
    events = []
    for outlook in found:
        previous, changes = warned.get(outlook.period, [GREEN, 0])
        new = outlook.level
        if new < previous:  # lowered only when it would be even against a target HYSTERESIS lower
            # ... and never raised by that lower target: orange whose interval just cleared the target, but
            # whose forecast is within 2 % of it, stays orange (it turned red before: flapping)
            new = min(previous, max(new, level(outlook.forecast, round(outlook.target_mgce * (1 - HYSTERESIS)))))
        if new == previous:
            continue
        outlook = Outlook(outlook.period, outlook.forecast, outlook.target_mgce, new)
        changes += 1
        warned[outlook.period] = [outlook.level, changes]
        start, end = _span(outlook.period)
        horizon = "year" if len(outlook.period) == 4 else "month"
        f = outlook.forecast
        events.append(anomaly_event(
            kind=f"early_warning_{horizon}", severity=SEVERITY[outlook.level], level="PROVINCE",
            entity_code=province, province=province, span_start_ms=start, span_end_ms=end,
            observed=f.expected_mgce / MGCE_PER_TCE, expected=outlook.target_mgce / MGCE_PER_TCE,
            score=f.expected_mgce / outlook.target_mgce if outlook.target_mgce else 0.0,
            detector=DETECTOR, detector_version=DETECTOR_VERSION, identity=(outlook.period, changes),
            detail=(f"{LEVEL_NAMES[previous]} -> {LEVEL_NAMES[outlook.level]}: {horizon}-end forecast "
                    f"{f.expected_mgce / MGCE_PER_TCE:,.1f} tce (90 % interval {f.low_mgce / MGCE_PER_TCE:,.1f}"
                    f"-{f.high_mgce / MGCE_PER_TCE:,.1f}) against the target {outlook.target_mgce / MGCE_PER_TCE:,.1f}"
                    f" tce, with {f.received_share:.0%} of the month's expected readings received"),
        ))
    return events


def current_level(state: ProvinceState, period: str) -> int:
    """The province's level for ``period`` as its last event set it (after the hysteresis); green before any."""
    return int(state.get("warn", {}).get(period, [GREEN, 0])[0])
