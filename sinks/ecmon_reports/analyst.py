"""`ecmon report monthly | trend | ranking | completeness | anomalies | benchmark`: the analysts' questions as SQL.

Every query reads one database: the national one, or a province's own (``--province``), which is all a
provincial analyst may read. Each query keeps the newest version of every row (argMax ... GROUP BY key),
so replayed rows are never counted twice, and runs unchanged on ClickHouse 18.16 and current servers
(tests/unit/ecmon_sink/test_migrate_chdb.py runs them on a current engine).
Quantities stay integers (mgce, gCO2, thousandths) in the SQL; tce and tCO2 are derived for display only.
"""

from __future__ import annotations

import csv
import io
import json
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from clickhouse_driver import Client
from rich.table import Table

from ecmon.emission_factors import INDIRECT, g_to_tco2, scope
from ecmon.months import month_start_ms, next_period

#: The energy types whose CO2 is indirect (scope 2), as an SQL tuple literal from the kernel's list.
INDIRECT_SQL = "(" + ", ".join(f"'{code}'" for code in sorted(INDIRECT)) + ")"

LATEST_ENTERPRISE = """
    SELECT entity AS uscc, any(industry_code) AS industry_code, any(province) AS province,
           sum(coal) AS coal_mgce, sum(co2) AS co2_g, sum(n) AS readings
    FROM (
        SELECT entity, industry_code, province, energy_type, unit,
               argMax(coal_mgce, version) AS coal, argMax(co2_g, version) AS co2, argMax(readings, version) AS n
        FROM {db}.aggregates_monthly
        WHERE level = 'ENTERPRISE' AND period = toDate(%(month)s)
        GROUP BY entity, industry_code, province, energy_type, unit, period
    )
    GROUP BY uscc
"""

QUERIES: dict[str, str] = {
    # Consumption by industry and energy type in one month (province rows; '*' is the all-industry total).
    "monthly": """
        SELECT province, industry_code, energy_type, unit,
               sum(physical) AS physical_milli, sum(coal) AS coal_mgce, sum(co2) AS co2_g, sum(n) AS readings
        FROM (
            SELECT province, entity, industry_code, energy_type, unit, period,
                   argMax(physical_milli, version) AS physical, argMax(coal_mgce, version) AS coal,
                   argMax(co2_g, version) AS co2, argMax(readings, version) AS n
            FROM {db}.aggregates_monthly
            WHERE level = 'PROVINCE' AND period = toDate(%(month)s)
              AND industry_code != '*' AND (%(industry)s = '' OR industry_code = %(industry)s)
            GROUP BY province, entity, industry_code, energy_type, unit, period
        )
        GROUP BY province, industry_code, energy_type, unit
        ORDER BY province, coal_mgce DESC, industry_code, energy_type
    """,
    # Thirteen months up to --month, per province (all industries, or one), with year-on-year change.
    "trend": """
        SELECT province, substring(toString(period), 1, 7) AS month, sum(coal) AS coal_mgce, sum(co2) AS co2_g,
               sumIf(co2, energy_type IN """ + INDIRECT_SQL + """) AS indirect_co2_g, sum(n) AS readings
        FROM (
            SELECT province, entity, industry_code, energy_type, unit, period,
                   argMax(coal_mgce, version) AS coal, argMax(co2_g, version) AS co2, argMax(readings, version) AS n
            FROM {db}.aggregates_monthly
            WHERE level = 'PROVINCE' AND period > addMonths(toDate(%(month)s), -13) AND period <= toDate(%(month)s)
              AND industry_code = if(%(industry)s = '', '*', %(industry)s)
            GROUP BY province, entity, industry_code, energy_type, unit, period
        )
        GROUP BY province, month
        ORDER BY province, month
    """,
    # The largest consumers of the month, with their registry names.
    "ranking": """
        SELECT uscc, name, province, industry_code, coal_mgce, co2_g, readings
        FROM (""" + LATEST_ENTERPRISE + """) AS totals
        ANY LEFT JOIN (
            SELECT uscc, argMax(name, version) AS name FROM {db}.enterprises GROUP BY uscc
        ) AS names USING uscc
        WHERE %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY coal_mgce DESC, uscc
        LIMIT %(limit)s
    """,
    # Received against expected metering intervals of every enterprise in the month. A closed month: the
    # figures of the province's newest monthly report, which the worker computed from the registry records
    # in force during the month (streams/ecmon_worker/month_close.py; the same definition, so both agree). A month not
    # closed yet: an estimate from the newest registry record, the whole month expected, received counted
    # up to the expected intervals as in the report.
    "completeness": """
        SELECT uscc, name, province, industry_code, expected, received
        FROM (
            SELECT uscc, any(p) AS province, any(i) AS industry_code, any(e) AS expected, any(r) AS received
            FROM (
                SELECT uscc, province AS p, industry_code AS i, expected AS e, received AS r
                FROM {db}.monthly_report_enterprises
                WHERE period = toDate(%(month)s)
                  AND (province, version) IN (SELECT province, max(version) FROM {db}.monthly_report_enterprises
                                              WHERE period = toDate(%(month)s) GROUP BY province)
            )
            GROUP BY uscc
            UNION ALL
            SELECT uscc, province, industry_code, expected, least(ifNull(readings, 0), expected) AS received
            FROM (
                SELECT uscc, argMax(province, version) AS province, argMax(industry_code, version) AS industry_code,
                       arraySum(arrayMap(s -> intDiv(%(seconds)s, s), argMax(meter_interval_s, version))) AS expected
                FROM {db}.enterprises
                GROUP BY uscc
            ) AS registered
            ANY LEFT JOIN (
                SELECT uscc, sum(n) AS readings
                FROM (
                    SELECT entity AS uscc, energy_type, unit, argMax(readings, version) AS n
                    FROM {db}.aggregates_monthly
                    WHERE level = 'ENTERPRISE' AND period = toDate(%(month)s)
                    GROUP BY uscc, energy_type, unit
                )
                GROUP BY uscc
            ) AS received USING uscc
            WHERE province NOT IN (SELECT province FROM {db}.monthly_report_enterprises
                                   WHERE period = toDate(%(month)s))
        ) AS figures
        ANY LEFT JOIN (
            SELECT uscc, argMax(name, version) AS name FROM {db}.enterprises GROUP BY uscc
        ) AS names USING uscc
        WHERE %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY province, uscc
    """,
    # Anomalies whose span starts in the month (CST), newest version of each.
    "anomalies": """
        SELECT anomaly_id, argMax(type, version) AS type, argMax(severity, version) AS severity,
               argMax(level, version) AS level, argMax(entity_code, version) AS entity_code,
               argMax(province, version) AS province, argMax(industry_code, version) AS industry_code,
               toString(argMax(span_start, version)) AS span_start_utc, argMax(observed, version) AS observed,
               argMax(expected, version) AS expected, argMax(unit, version) AS unit, argMax(score, version) AS score,
               argMax(detail, version) AS detail
        FROM {db}.anomalies
        WHERE span_start >= toDateTime(%(start)s) AND span_start < toDateTime(%(end)s)
        GROUP BY anomaly_id
        HAVING %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY province, span_start_utc, anomaly_id
    """,
    # Output per enterprise and product in the month (newest figure of every period) beside the enterprise's
    # energy of the month; the quota standards are applied in Python (ecmon/quota_standards.py).
    "benchmark": """
        SELECT uscc, name, province, industry_code, product_code, unit, quantity_milli, coal_mgce
        FROM (
            SELECT uscc, product_code, unit, quantity_milli, province, industry_code, coal_mgce
            FROM (
                SELECT uscc, product_code, unit, sum(q) AS quantity_milli
                FROM (
                    SELECT uscc, product_code, period_start, period_end,
                           argMax(unit, version) AS unit, argMax(quantity_milli, version) AS q
                    FROM {db}.production
                    WHERE period = toDate(%(month)s)
                    GROUP BY uscc, product_code, period_start, period_end
                )
                GROUP BY uscc, product_code, unit
            ) AS output
            ANY LEFT JOIN (""" + LATEST_ENTERPRISE + """) AS energy USING uscc
        ) AS measured
        ANY LEFT JOIN (
            SELECT uscc, argMax(name, version) AS name FROM {db}.enterprises GROUP BY uscc
        ) AS names USING uscc
        WHERE %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY province, uscc, product_code, unit
    """,
}

TITLES = {
    "monthly": "Energy consumption by industry and energy type",
    "trend": "Monthly standard coal, 13 months",
    "ranking": "Largest energy consumers",
    "completeness": "Data completeness (received / expected metering intervals)",
    "anomalies": "Anomalies",
    "benchmark": "Unit-product energy consumption against the quota standards",
}
COMPLETENESS_THRESHOLD = Decimal("0.90")


def _utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def parameters(month: str, industry: str | None = None, limit: int = 20) -> dict:
    """Query parameters for ``month`` ('YYYY-MM', CST)."""
    year, mon = (int(p) for p in month.split("-"))
    start, end = month_start_ms(month), month_start_ms(next_period(month))
    return {
        "month": f"{month}-01", "industry": industry or "", "limit": limit,
        "seconds": monthrange(year, mon)[1] * 86400,
        "start": _utc_text(start), "end": _utc_text(end),
    }


def sql(name: str, database: str) -> str:
    return QUERIES[name].replace("{db}", database)


def tce(mgce: int) -> Decimal:
    return (Decimal(mgce) / Decimal(10**9)).quantize(Decimal("0.001"))


@dataclass(frozen=True)
class Report:
    title: str
    columns: list[str]
    rows: list[list]

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        w.writerows(self.rows)
        return buf.getvalue()

    def json(self) -> str:
        return json.dumps({"title": self.title, "rows": self.as_dicts()}, ensure_ascii=False, default=str, indent=1)

    def table(self) -> Table:
        t = Table(title=self.title)
        for c in self.columns:
            t.add_column(c, justify="right" if self.rows and isinstance(self.rows[0][self.columns.index(c)],
                                                                           (int, float, Decimal)) else "left")
        for r in self.rows:
            t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in r))
        return t


BENCHMARK_COLUMNS = [
    "uscc", "name", "province", "industry_code", "product_code", "product", "coal_tce", "output", "unit",
    "kgce_per_unit", "limit_kgce_per_unit", "standard", "ratio", "verdict",
]


def benchmark_rows(rows: list[tuple]) -> list[list]:
    """Query rows (per enterprise, product and reported unit) -> one row per enterprise and product that
    has a quota standard: intensity, limit, ratio and pass/FAIL, decided exactly on integers."""
    from fractions import Fraction

    from ecmon.quota_standards import PRODUCT_UNITS, quantity_in, standard_for

    merged: dict[tuple[str, str], dict] = {}
    for uscc, name, province, industry_code, product_code, unit, quantity_milli, coal_mgce in rows:
        standard = standard_for(product_code)
        if standard is None or unit not in PRODUCT_UNITS:
            continue  # no quota to compare with (the worker rejects units a standard cannot use)
        try:
            output = quantity_in(unit, quantity_milli, standard.unit)
        except ValueError:
            continue
        row = merged.setdefault((uscc, product_code), {
            "head": [uscc, name, province, industry_code], "standard": standard, "output": Fraction(0),
            "coal": coal_mgce or 0})
        row["output"] += output
    out = []
    for (_uscc, _product), m in sorted(merged.items(), key=lambda kv: (kv[1]["head"][2], kv[0])):
        s, output, coal = m["standard"], m["output"], m["coal"]
        if output > 0:
            intensity = Fraction(coal, 10**6) / output  # kgce per unit
            exact = Fraction(coal) / output / s.limit_mgce
            ratio: Decimal | str = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.001"))
            verdict = "FAIL" if coal > s.limit_mgce * output else "pass"
            per_unit: Decimal | str = (Decimal(intensity.numerator) / Decimal(intensity.denominator)).quantize(
                Decimal("0.01"))
        else:
            per_unit, ratio, verdict = "", "", "no output"
        out.append([*m["head"], s.product_code, s.product_en, tce(coal),
                    (Decimal(output.numerator) / Decimal(output.denominator)).quantize(Decimal("0.001")), s.unit,
                    per_unit, Decimal(s.limit_mgce) / 10**6, s.number, ratio, verdict])
    return out


def run(client: Client, database: str, name: str, month: str, industry: str | None = None,
        limit: int = 20) -> Report:
    """Run report ``name`` for ``month`` on ``database``; figures in tce besides the exact mgce."""
    rows, types = client.execute(sql(name, database), parameters(month, industry, limit), with_column_types=True)
    if name == "benchmark":
        return Report(f"{TITLES[name]}, {month} ({database})", list(BENCHMARK_COLUMNS), benchmark_rows(rows))
    columns = [c for c, _ in types]
    out = [list(r) for r in rows]
    if "coal_mgce" in columns:
        i = columns.index("coal_mgce")
        columns.insert(i, "coal_tce")
        for r in out:
            r.insert(i, tce(r[i]))
    for grams in ("co2_g", "indirect_co2_g"):  # CO2 in tonnes beside the exact grams, as tce beside mgce
        if grams in columns:
            i = columns.index(grams)
            columns.insert(i, grams.replace("_g", "_t"))
            for r in out:
                r.insert(i, g_to_tco2(r[i]))
    if name == "monthly":  # direct (scope 1) or indirect (scope 2): follows from the energy type
        i = columns.index("co2_t")
        columns.insert(i, "co2_scope")
        e = columns.index("energy_type")
        for r in out:
            r.insert(i, scope(r[e]))
    if name == "completeness":
        columns += ["completeness", "below_90pct"]
        e, rcv = columns.index("expected"), columns.index("received")
        for r in out:
            ratio = (Decimal(r[rcv]) / Decimal(r[e])).quantize(Decimal("0.0001")) if r[e] else Decimal(0)
            r += [ratio, "yes" if ratio < COMPLETENESS_THRESHOLD else ""]
    if name == "trend":
        by_key = {(r[0], r[1]): r[columns.index("coal_mgce")] for r in out}
        columns.append("yoy_change_pct")
        for r in out:
            prev = by_key.get((r[0], f"{int(r[1][:4]) - 1}{r[1][4:]}"))
            r.append(f"{(Decimal(r[columns.index('coal_mgce')]) / prev - 1) * 100:.1f}" if prev else "")
    return Report(f"{TITLES[name]}, {month} ({database})", columns, out)
