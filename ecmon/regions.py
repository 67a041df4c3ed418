"""GB/T 2260 administrative divisions: the region keys of every regional rollup.

The table is the National Bureau of Statistics list of 2018-10 (see ``data/README.md``). The
hierarchy is read from the code itself (``XX0000`` province, ``XXXX00`` prefecture), which is how
GB/T 2260 is built, so :func:`province_of` and :func:`prefecture_of` also work for codes that a
later revision abolished: an enterprise keeps the region of its registration in its USCC forever.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

DATA_FILE = Path(__file__).parent / "data" / "gb2260-201810.tsv"
REVISION = "GB/T 2260, National Bureau of Statistics 2018-10"

#: Provinces of the pilot: Liaoning, Shanghai, Shandong.
PILOT_PROVINCES = ("210000", "310000", "370000")

#: Beijing, Tianjin, Shanghai, Chongqing: provinces without prefecture cities. GB/T 2260 still
#: gives them prefecture-level groupings (XX0100 "市辖区", Chongqing also 500200 "县").
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})

Level = Literal["province", "prefecture", "county"]


class UnknownRegion(KeyError, ValueError):
    """A region code that is malformed or not in the GB/T 2260 table.

    A KeyError for callers that treat the table as a mapping, a ValueError for those that treat
    the code as bad input; both are true.
    """

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class NoPrefecture(ValueError):
    """A province-level code of an ordinary province: it names no single prefecture."""


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: Level


def _level(code: str) -> Level:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _check_format(code: str) -> str:
    if not isinstance(code, str) or len(code) != 6 or not code.isascii() or not code.isdigit():
        raise UnknownRegion(
            f"region code {code!r} is not a six-digit GB/T 2260 code; expected e.g. '310115' "
            f"(county), '370100' (prefecture) or '210000' (province)"
        )
    return code


@cache
def _table() -> dict[str, Region]:
    with DATA_FILE.open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return {r["Code"]: Region(r["Code"], r["Name"], _level(r["Code"])) for r in rows}


def region(code: str) -> Region:
    """The region with this code, or :class:`UnknownRegion` if the 2018-10 table lacks it."""
    found = _table().get(_check_format(code))
    if found is None:
        raise UnknownRegion(
            f"region code {code!r} is not in {REVISION} ({len(_table())} codes); it may be "
            f"misspelt or abolished before 2018-10. Use province_of()/prefecture_of() for rollups "
            f"of historical codes"
        )
    return found


def province_of(code: str) -> str:
    """The province-level code containing ``code`` (its first two digits + '0000')."""
    return _check_format(code)[:2] + "0000"


def prefecture_of(code: str) -> str:
    """The prefecture-level code containing ``code`` (its first four digits + '00').

    Municipalities have no prefectures; their own code maps to their XX0100 "市辖区" grouping so
    that an enterprise registered with the municipal authority (USCC region ``310000``) lands in
    the same prefecture bucket as its districts. For an ordinary province's own code there is no
    honest answer, so :class:`NoPrefecture` is raised and the caller decides (e.g. roll up at
    province level only).
    """
    _check_format(code)
    if code in MUNICIPALITIES:
        return code[:2] + "0100"
    if code.endswith("0000"):
        raise NoPrefecture(
            f"region {code!r} is a province; it names no prefecture (only the municipalities "
            f"{', '.join(sorted(MUNICIPALITIES))} map to their XX0100 grouping)"
        )
    return code[:4] + "00"


def provinces() -> list[Region]:
    """All 34 province-level regions (incl. Taiwan, Hong Kong, Macao as listed), by code."""
    return sorted((r for r in _table().values() if r.level == "province"), key=lambda r: r.code)


def prefectures(province_code: str) -> list[Region]:
    """The prefecture-level regions of a province, by code (a municipality has its XX0100/XX0200)."""
    province = region(province_code)
    if province.level != "province":
        raise UnknownRegion(f"region {province_code!r} ({province.name}) is a {province.level}, not a province")
    prefix = province_code[:2]
    return sorted(
        (r for r in _table().values() if r.level == "prefecture" and r.code.startswith(prefix)),
        key=lambda r: r.code,
    )


def all_regions() -> list[Region]:
    """Every code of the table (provinces, prefectures, counties), by code: the analysts' name table."""
    return sorted(_table().values(), key=lambda r: r.code)
