"""Which ClickHouse databases exist: one national database and one per province.

The national database (``settings.clickhouse_database``, ``ecmon``) holds everything; each of the 31
mainland provincial-level regions (GB/T 2260, ``ecmon.regions.provinces()`` without 710000, 810000 and
820000, which report through other channels) has its own database ``<national>_<code>`` (``ecmon_370000``)
holding only its own detail. Provincial analysts are confined to their database with ``allow_databases``,
which ClickHouse 18.16 enforces; its users.xml row filters do nothing, and a view in ``ecmon_370000``
over ``ecmon.*`` is refused for a user confined to ``ecmon_370000`` (tested on 18.16), so the sink writes
each province's rows into the province database itself.

Every database is created empty for every province, cheap enough that adding a pilot province later is
only a users.xml change.
"""

from __future__ import annotations

from functools import cache

from ecmon.regions import provinces

NOT_REPORTING = frozenset({"710000", "810000", "820000"})


@cache
def province_codes() -> tuple[str, ...]:
    """The 31 provincial-level regions that get a database, by code."""
    return tuple(r.code for r in provinces() if r.code not in NOT_REPORTING)


def province_database(national: str, province: str) -> str:
    return f"{national}_{province}"


def database_for(national: str, province: str | None) -> str:
    """The database to read for ``province`` (its own database) or the national one (None)."""
    if not province:
        return national
    if province not in province_codes():
        raise ValueError(f"{province!r} is not a provincial-level region code with a database "
                         f"(one of {', '.join(province_codes())})")
    return province_database(national, province)
