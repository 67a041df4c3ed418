"""Analyst reports read back from ClickHouse: the monthly regional table and the reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from clickhouse_driver import Client
from rich.console import JustifyMethod
from rich.table import Table

from ecmon.emission_factors import g_to_tco2, scope
from ecmon.energy import mgce_to_tce
from ecmon.regions import UnknownRegion, region

LATEST = """
    SELECT province, entity, industry_code, energy_type, unit, toString(period) AS period,
           argMax(physical_milli, version) AS physical_milli,
           argMax(coal_mgce, version) AS coal_mgce,
           argMax(readings, version) AS readings,
           argMax(co2_g, version) AS co2_g
    FROM {db}.aggregates_monthly
    WHERE level = %(level)s
    GROUP BY province, entity, industry_code, energy_type, unit, period
"""


def latest_aggregates(client: Client, database: str, level: str) -> list[dict]:
    """The newest version of every aggregate at ``level``: what the platform currently says."""
    rows, columns = client.execute(LATEST.format(db=database), {"level": level}, with_column_types=True)
    names = [c[0] for c in columns]
    return [dict(zip(names, r)) for r in rows]


def province_month_totals(client: Client, database: str, level: str = "PROVINCE") -> dict[tuple[str, str], list[int]]:
    """(province, 'YYYY-MM') -> [coal_mgce, readings], from province rows or summed enterprise rows."""
    return {k: v[:2] for k, v in _province_month_sums(latest_aggregates(client, database, level), level).items()}


def _province_month_sums(rows: list[dict], level: str) -> dict[tuple[str, str], list[int]]:
    """(province, 'YYYY-MM') -> [coal_mgce, readings, co2_g] of the newest aggregates of one level."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        if level != "ENTERPRISE" and row["industry_code"] != "*":
            continue
        key = (row["province"], row["period"][:7])
        out[key][0] += row["coal_mgce"]
        out[key][1] += row["readings"]
        out[key][2] += row["co2_g"]
    return dict(out)


def _name(code: str) -> str:
    try:
        return region(code).name
    except UnknownRegion:
        return code


def regional_table(client: Client, database: str) -> Table:
    """Province x month: standard coal (tce), CO2 (t, and its indirect part), electricity (MWh), readings."""
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in latest_aggregates(client, database, "PROVINCE"):
        if row["industry_code"] != "*":
            continue
        cell = cells[(row["province"], row["period"][:7])]
        cell["coal"] += row["coal_mgce"]
        cell["co2"] += row["co2_g"]
        if scope(row["energy_type"]) == "indirect":
            cell["co2_indirect"] += row["co2_g"]
        cell["readings"] += row["readings"]
        if row["energy_type"] == "electricity" and row["unit"] == "kWh":
            cell["kwh_milli"] += row["physical_milli"]
    table = Table(title="Monthly energy consumption by province (calendar months, UTC+8)")
    for col, justify in (("Province", "left"), ("Code", "left"), ("Month", "left"),
                         ("Standard coal (tce)", "right"), ("CO₂ (t)", "right"), ("of it indirect (t)", "right"),
                         ("Electricity (MWh)", "right"), ("Readings", "right")):
        table.add_column(col, justify=cast(JustifyMethod, justify))
    total, total_co2 = Decimal(0), 0
    for (province, period), cell in sorted(cells.items()):
        tce = mgce_to_tce(cell["coal"])
        total += tce
        total_co2 += cell["co2"]
        table.add_row(_name(province), province, period, f"{tce:,.3f}", f"{g_to_tco2(cell['co2']):,.3f}",
                      f"{g_to_tco2(cell['co2_indirect']):,.3f}",
                      f"{Decimal(cell['kwh_milli']) / 1_000_000:,.3f}", f"{cell['readings']:,}")
    if cells:
        table.add_section()
        table.add_row("All provinces", "", "", f"{total:,.3f}", f"{g_to_tco2(total_co2):,.3f}", "", "", "")
    return table


@dataclass(frozen=True)
class Reconciliation:
    sent: dict[tuple[str, str], list[int]]
    enterprise_level: dict[tuple[str, str], list[int]]
    province_level: dict[tuple[str, str], list[int]]
    #: summed per province, from the prefecture rows (enterprises registered at province level have none)
    prefecture_level: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: month -> [coal_mgce, readings] of the national rows
    national_level: dict[str, list[int]] = field(default_factory=dict)
    #: gCO2 per (province, month) the gateways' readings make (None: not checked), and what each level holds:
    #: "enterprise", "province", "prefecture" per (province, month), "national" per ("CN", month)
    sent_co2: dict[tuple[str, str], int] | None = None
    co2_levels: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)

    def _by_month(self, totals: dict[tuple[str, str], list[int]]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (_, period), (mgce, n) in totals.items():
            out[period][0] += mgce
            out[period][1] += n
        return dict(out)

    @property
    def exact(self) -> bool:
        """Every level equals what the gateways sent: enterprise and province per province and month, the
        nation per month (a month the national level holds beyond what was sent counts too: other runs
        of the same stack may share it, so only the sent months are compared), prefectures where present."""
        national = {m: self.national_level.get(m) for m in self._by_month(self.sent)}
        prefectures_ok = all(self.prefecture_level.get(k, v) == v for k, v in self.sent.items())
        return (self.sent == self.enterprise_level == self.province_level
                and national == self._by_month(self.province_level) and prefectures_ok and self.co2_exact)

    @property
    def co2_exact(self) -> bool:
        """CO2 as exactly as coal: enterprise and province levels equal what the readings sent make, prefectures
        where present, the nation per sent month; True when there is nothing to check it against."""
        if self.sent_co2 is None:
            return True
        levels = self.co2_levels
        sent = self.sent_co2
        by_month: dict[str, int] = defaultdict(int)
        for (_, period), g in sent.items():
            by_month[period] += g
        national = {period: levels.get("national", {}).get(("CN", period)) for period in by_month}
        prefectures_ok = all(levels.get("prefecture", {}).get(k, v) == v for k, v in sent.items())
        return (sent == levels.get("enterprise", {}) == levels.get("province", {}) and prefectures_ok
                and national == dict(by_month))

    def line(self) -> str:
        def total(d: dict) -> tuple[int, int]:
            return sum(v[0] for v in d.values()), sum(v[1] for v in d.values())

        s, e, p = total(self.sent), total(self.enterprise_level), total(self.province_level)
        def co2(level: str) -> str:
            if self.sent_co2 is None:
                return ""
            return f" and {g_to_tco2(sum(self.co2_levels.get(level, {}).values()))} tCO2"

        verdict = "EXACT MATCH" if self.exact else "MISMATCH"
        sent_co2 = "" if self.sent_co2 is None else f" and {g_to_tco2(sum(self.sent_co2.values()))} tCO2"
        return (
            f"reconciliation: gateways sent {s[1]:,} readings = {mgce_to_tce(s[0])} tce{sent_co2}; ClickHouse holds "
            f"{e[1]:,} readings = {mgce_to_tce(e[0])} tce{co2('enterprise')} (enterprise level), {p[1]:,} readings = "
            f"{mgce_to_tce(p[0])} tce{co2('province')} (province level; prefecture and national levels "
            f"{'agree' if self.exact else 'checked'}) -> {verdict}"
        )


def reconcile(client: Client, database: str, sent: dict[tuple[str, str], list[int]],
              sent_co2: dict[tuple[str, str], int] | None = None) -> Reconciliation:
    """ClickHouse against what the gateways sent: coal and readings, and CO2 when ``sent_co2`` is given."""
    national: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    national_co2: dict[tuple[str, str], int] = defaultdict(int)
    for row in latest_aggregates(client, database, "NATIONAL"):
        if row["industry_code"] == "*":
            national[row["period"][:7]][0] += row["coal_mgce"]
            national[row["period"][:7]][1] += row["readings"]
            national_co2[("CN", row["period"][:7])] += row["co2_g"]
    sums = {level: _province_month_sums(latest_aggregates(client, database, level), level)
            for level in ("ENTERPRISE", "PROVINCE", "PREFECTURE")}
    co2_levels = {level.lower(): {k: v[2] for k, v in s.items()} for level, s in sums.items()}
    co2_levels["national"] = dict(national_co2)
    return Reconciliation(
        sent=sent,
        enterprise_level={k: v[:2] for k, v in sums["ENTERPRISE"].items()},
        province_level={k: v[:2] for k, v in sums["PROVINCE"].items()},
        prefecture_level={k: v[:2] for k, v in sums["PREFECTURE"].items()},
        national_level=dict(national),
        sent_co2=sent_co2,
        co2_levels=co2_levels,
    )
