"""Reporting periods: calendar months in China Standard Time (UTC+8), whatever the server's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

CST = timezone(timedelta(hours=8), "CST")
DAY_MS = 86_400_000
CST_OFFSET_MS = 8 * 3_600_000


@lru_cache(maxsize=4096)
def _month_of_day(cst_day: int) -> str:
    return datetime.fromtimestamp(cst_day * 86_400, tz=UTC).strftime("%Y-%m")


def month_of(ts_ms: int) -> str:
    """'YYYY-MM' of the CST calendar month containing the instant ``ts_ms`` (epoch milliseconds)."""
    return _month_of_day((ts_ms + CST_OFFSET_MS) // DAY_MS)


def month_of_interval(end_ms: int) -> str:
    """The month of a metering interval stamped with its end: 00:00 on the 1st closes the previous month."""
    return month_of(end_ms - 1)


@lru_cache(maxsize=8192)
def _date_of_day(cst_day: int) -> str:
    return datetime.fromtimestamp(cst_day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def day_of_interval(end_ms: int) -> str:
    """'YYYY-MM-DD' of the CST calendar day a metering interval stamped with its end belongs to."""
    return _date_of_day((end_ms - 1 + CST_OFFSET_MS) // DAY_MS)


def month_start_ms(period: str) -> int:
    """Epoch ms of 00:00 CST on the first day of ``period`` ('YYYY-MM')."""
    year, month = (int(p) for p in period.split("-"))
    return int(datetime(year, month, 1, tzinfo=CST).timestamp() * 1000)


def next_period(period: str) -> str:
    year, month = (int(p) for p in period.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"
