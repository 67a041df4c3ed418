"""How each industry uses energy over time: shifts, weekends, holidays, seasons, campaigns, stoppages.

A profile turns an instant into one load factor per meter (1.0 = the meter's mean). Everything
that is not per-reading noise (which day a kiln stops, when a chemical plant has its annual
turnaround) is drawn from the enterprise seed and the calendar, never from a running random
stream: a week plotted on its own looks exactly like the same week inside a month-long run.

Times are China Standard Time, because that is the clock the plants run on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_CST_MS = 8 * _HOUR_MS

# Lunar new year's day (Gregorian): plants close around it, some for weeks (migrant workers go home).
SPRING_FESTIVAL = {
    2014: date(2014, 1, 31), 2015: date(2015, 2, 19), 2016: date(2016, 2, 8), 2017: date(2017, 1, 28),
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
    2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}


@dataclass(frozen=True)
class Clock:
    """The CST calendar facts a profile needs about one instant."""

    day: date
    hour: float  # 0.0 .. 24.0, local
    weekday: int  # Monday = 0

    @classmethod
    def of(cls, ts_ms: int) -> Clock:
        local = ts_ms + _CST_MS - 1  # a reading stamped 08:00 covers 07:45-08:00: it belongs to hour 7
        day_index, in_day = divmod(local, _DAY_MS)
        d = _day(day_index)
        return cls(d, in_day / _HOUR_MS, d.weekday())


@lru_cache(maxsize=8192)
def _day(day_index: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day_index)


def days_from_spring_festival(d: date) -> int | None:
    """Days after lunar new year's day (negative before it), within the festival season, else None."""
    for year in (d.year, d.year + 1):
        sf = SPRING_FESTIVAL.get(year)
        if sf is not None and -10 <= (d - sf).days <= 20:
            return (d - sf).days
    return None


def is_golden_week(d: date) -> bool:
    return d.month == 10 and d.day <= 7


@lru_cache(maxsize=65536)
def chance(seed: int, *key: object) -> float:
    """A stable uniform [0, 1) drawn from (seed, key): the same on every run and every machine."""
    return random.Random(f"{seed}/{'/'.join(map(str, key))}").random()


def _festival_factor(d: date, closed_days: int, floor: float) -> float:
    """Load through the Spring Festival: run down, closed, ramp back up over a week."""
    rel = days_from_spring_festival(d)
    if rel is None:
        return 1.0
    if -3 <= rel < closed_days - 3:
        return floor
    if -6 <= rel < -3:
        return 1.0 - (1.0 - floor) * (rel + 7) / 4
    ramp_end = closed_days - 3 + 7
    if closed_days - 3 <= rel < ramp_end:
        return floor + (1.0 - floor) * (rel - (closed_days - 3) + 1) / 8
    return 1.0


def _shift(hour: float, start: float, end: float) -> bool:
    return start <= hour < end


def _summer_cooling(d: date) -> float:
    """Chillers and fans: a few per cent more electricity in the hot months."""
    return 1.0 + 0.08 * max(0.0, math.cos((d.timetuple().tm_yday - 200) / 365 * 2 * math.pi))


# -- the industries ---------------------------------------------------------------------------------
# Each function returns the factor for each of the profile's processes; meters name their process.


def _steel(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Blast furnace: runs for years without stopping; a monthly planned damping-down day.
    maintenance = int(chance(seed, "bf-maint", c.day.year, c.day.month) * 28) + 1
    blast = 0.35 if c.day.day == maintenance else 1.0
    # Electric arc furnace: heats of about 50 minutes power-on, 15 minutes tapping and charging.
    phase = ((ts_ms // 60_000) + int(chance(seed, "eaf-phase") * 65)) % 65
    eaf = 1.35 if phase < 50 else 0.25
    rolling = 0.2 if c.weekday == 6 and _shift(c.hour, 8, 16) else 1.0  # weekly roll change
    return {"blast_furnace": blast, "electric": (0.55 * eaf + 0.45 * rolling) * blast ** 0.3 * _summer_cooling(c.day)}


def _cement(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Northern "staggered peak" production: kilns stand still for most of the heating season.
    winter_stop = c.day.month in (1, 2) or (c.day.month == 12 and c.day.day > 15)
    # Campaigns: a kiln runs for weeks, then stops two to four days for refractory repair.
    week = (c.day.toordinal() - 1) // 7
    stop_len = 2 + int(chance(seed, "kiln-stop-len", week) * 3)
    stop_start = int(chance(seed, "kiln-stop-day", week) * 7)
    in_stop = chance(seed, "kiln-stop", week) < 0.15 and stop_start <= c.day.toordinal() % 7 < stop_start + stop_len
    kiln = 0.05 if (winter_stop or in_stop) else 1.0
    # Raw and cement mills run on the cheap night tariff (23:00-07:00) when they can.
    mills = 1.5 if (c.hour >= 23 or c.hour < 7) else 0.75
    return {"kiln": kiln, "electric": kiln * 0.4 + 0.6 * mills * (0.2 if winter_stop else 1.0)}


def _chemicals(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Continuous process; one turnaround (about two weeks) a year, in a month chosen per plant.
    start_doy = 60 + int(chance(seed, "turnaround", c.day.year) * 240)
    doy = c.day.timetuple().tm_yday
    if start_doy <= doy < start_doy + 14:
        level = 0.08
    elif start_doy - 2 <= doy < start_doy or start_doy + 14 <= doy < start_doy + 17:
        level = 0.5  # shutting down and starting up
    else:
        level = 1.0
    heating = 1.0 + 0.15 * math.cos((doy - 15) / 365 * 2 * math.pi)  # steam tracing in winter
    return {"process": level, "steam": level * heating, "electric": level * _summer_cooling(c.day)}


def _textiles(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Two shifts 06:00-22:00 on weekdays, one on Saturday, Sunday off; long Spring Festival break.
    if c.weekday == 6:
        level = 0.12
    elif c.weekday == 5:
        level = 1.0 if _shift(c.hour, 7, 15) else 0.15
    else:
        level = 1.0 if _shift(c.hour, 6, 22) else 0.2
    if is_golden_week(c.day):
        level = min(level, 0.3)
    level *= _festival_factor(c.day, 21, 0.05)
    return {"looms": level * _summer_cooling(c.day), "steam": level}


def _paper(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Paper machines run round the clock; every ten days or so an 8-hour stop for wire and felt changes.
    cycle_day = (c.day.toordinal() + int(chance(seed, "felt") * 10)) % 10
    level = 0.15 if cycle_day == 0 and _shift(c.hour, 8, 16) else 1.0
    level *= _festival_factor(c.day, 7, 0.1)
    return {"machine": level, "boiler": 0.3 + 0.7 * level}


def _machinery(seed: int, c: Clock, ts_ms: int) -> dict[str, float]:
    # Day shift 08:00-17:00 with a lunch break, weekends and holidays nearly off.
    if c.weekday >= 5 or is_golden_week(c.day):
        level = 0.1
    elif _shift(c.hour, 8, 12) or _shift(c.hour, 13, 17):
        level = 1.6
    elif _shift(c.hour, 12, 13) or _shift(c.hour, 17, 20):
        level = 0.6
    else:
        level = 0.12
    level *= _festival_factor(c.day, 10, 0.08)
    heating = 1.0 + 0.6 * max(0.0, math.cos((c.day.timetuple().tm_yday - 15) / 365 * 2 * math.pi))
    return {"workshop": level, "heating": level * heating}


@dataclass(frozen=True)
class MeterSpec:
    energy_type: str
    unit: str
    mean_per_interval: float  # mean consumption per 15 minutes, in unit
    process: str  # the key of the profile's factors that drives this meter


@dataclass(frozen=True)
class Product:
    code: str  # national statistical product catalogue
    name: str
    unit: str
    # The process whose activity makes the product (a key of the profile's factors): output follows it,
    # calibrated to a realistic unit consumption in ecmon_simulator.unit_consumption.
    driver: str


@dataclass(frozen=True)
class IndustryProfile:
    industry_code: str  # GB/T 4754
    label: str
    description: str
    meters: tuple[MeterSpec, ...]
    factors: Callable[[int, Clock, int], dict[str, float]]
    product: Product
    noise: float = 0.04  # relative standard deviation of one 15-minute reading

    def load(self, seed: int, ts_ms: int) -> dict[str, float]:
        return self.factors(seed, Clock.of(ts_ms), ts_ms)


PROFILES: dict[str, IndustryProfile] = {
    p.industry_code: p
    for p in (
        IndustryProfile(
            "3120", "steel", "continuous blast furnace with a monthly damping-down day; electric-arc furnace heats "
            "every 65 minutes; weekly roll change", (
                MeterSpec("electricity", "kWh", 9000.0, "electric"),
                MeterSpec("coke", "t", 6.0, "blast_furnace"),
                MeterSpec("blast_furnace_gas", "m3", 30000.0, "blast_furnace"),
            ), _steel, Product("3206010100", "crude steel", "t", "electric")),
        IndustryProfile(
            "3011", "cement", "kiln campaigns with 2-4 day refractory stops, winter staggered-peak stoppage "
            "(mid-December to February), mills on the night tariff", (
                MeterSpec("electricity", "kWh", 4000.0, "electric"),
                MeterSpec("raw_coal", "t", 12.0, "kiln"),
            ), _cement, Product("3101010000", "cement clinker", "t", "kiln")),
        IndustryProfile(
            "2612", "chemicals", "continuous process; a two-week turnaround once a year; steam tracing in winter", (
                MeterSpec("electricity", "kWh", 6000.0, "electric"),
                MeterSpec("natural_gas", "m3", 2500.0, "process"),
                MeterSpec("steam", "t", 20.0, "steam"),
            ), _chemicals, Product("2601010000", "synthetic ammonia", "t", "process")),
        IndustryProfile(
            "1713", "textiles", "two shifts on weekdays, one on Saturday, Sunday off; three weeks off at "
            "Spring Festival; reduced in the October golden week", (
                MeterSpec("electricity", "kWh", 800.0, "looms"),
                MeterSpec("steam", "t", 3.0, "steam"),
            ), _textiles, Product("1713010000", "printed and dyed cloth", "m", "looms")),
        IndustryProfile(
            "2221", "paper", "paper machines round the clock with an 8-hour wire and felt change every ten days; "
            "a week off at Spring Festival", (
                MeterSpec("electricity", "kWh", 2000.0, "machine"),
                MeterSpec("raw_coal", "t", 2.5, "boiler"),
            ), _paper, Product("2221010000", "machine-made paper", "t", "machine")),
        IndustryProfile(
            "3412", "machinery", "day shift with a lunch break, weekends and holidays nearly off; space heating "
            "in winter", (
                MeterSpec("electricity", "kWh", 500.0, "workshop"),
                MeterSpec("natural_gas", "m3", 120.0, "heating"),
            ), _machinery, Product("3412000000", "metal-cutting machine tools", "piece", "workshop")),
    )
}
