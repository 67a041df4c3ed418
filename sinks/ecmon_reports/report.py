"""Analyst reports read back from ClickHouse: the monthly regional table and the reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from clickhouse_driver import Client
from rich.console import JustifyMethod
from rich.table import Table

from ecmon.energy import mgce_to_tce
from ecmon.regions import UnknownRegion, region

LATEST = """
    SELECT province, entity, industry_code, energy_type, unit, toString(period) AS period,
           argMax(physical_milli, version) AS physical_milli,
           argMax(coal_mgce, version) AS coal_mgce,
           argMax(readings, version) AS readings
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
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in latest_aggregates(client, database, level):
        if level != "ENTERPRISE" and row["industry_code"] != "*":
            continue
        key = (row["province"], row["period"][:7])
        out[key][0] += row["coal_mgce"]
        out[key][1] += row["readings"]
    return dict(out)


def _name(code: str) -> str:
    try:
        return region(code).name
    except UnknownRegion:
        return code


def regional_table(client: Client, database: str) -> Table:
    """Province x month: standard coal (tce), electricity (MWh), and readings counted."""
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in latest_aggregates(client, database, "PROVINCE"):
        if row["industry_code"] != "*":
            continue
        cell = cells[(row["province"], row["period"][:7])]
        cell["coal"] += row["coal_mgce"]
        cell["readings"] += row["readings"]
        if row["energy_type"] == "electricity" and row["unit"] == "kWh":
            cell["kwh_milli"] += row["physical_milli"]
    table = Table(title="Monthly energy consumption by province (calendar months, UTC+8)")
    for col, justify in (("Province", "left"), ("Code", "left"), ("Month", "left"),
                         ("Standard coal (tce)", "right"), ("Electricity (MWh)", "right"), ("Readings", "right")):
        table.add_column(col, justify=cast(JustifyMethod, justify))
    total = Decimal(0)
    for (province, period), cell in sorted(cells.items()):
        tce = mgce_to_tce(cell["coal"])
        total += tce
        table.add_row(_name(province), province, period, f"{tce:,.3f}",
                      f"{Decimal(cell['kwh_milli']) / 1_000_000:,.3f}", f"{cell['readings']:,}")
    if cells:
        table.add_section()
        table.add_row("All provinces", "", "", f"{total:,.3f}", "", "")
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
                and national == self._by_month(self.province_level) and prefectures_ok)

    def line(self) -> str:
        def total(d: dict) -> tuple[int, int]:
            return sum(v[0] for v in d.values()), sum(v[1] for v in d.values())

        s, e, p = total(self.sent), total(self.enterprise_level), total(self.province_level)
        verdict = "EXACT MATCH" if self.exact else "MISMATCH"
        return (
            f"reconciliation: gateways sent {s[1]:,} readings = {mgce_to_tce(s[0])} tce; ClickHouse holds "
            f"{e[1]:,} readings = {mgce_to_tce(e[0])} tce (enterprise level), {p[1]:,} readings = "
            f"{mgce_to_tce(p[0])} tce (province level; prefecture and national levels "
            f"{'agree' if self.exact else 'checked'}) -> {verdict}"
        )


def reconcile(client: Client, database: str, sent: dict[tuple[str, str], list[int]]) -> Reconciliation:
    national: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in latest_aggregates(client, database, "NATIONAL"):
        if row["industry_code"] == "*":
            national[row["period"][:7]][0] += row["coal_mgce"]
            national[row["period"][:7]][1] += row["readings"]
    return Reconciliation(
        sent=sent,
        enterprise_level=province_month_totals(client, database, "ENTERPRISE"),
        province_level=province_month_totals(client, database, "PROVINCE"),
        prefecture_level=province_month_totals(client, database, "PREFECTURE"),
        national_level=dict(national),
    )
