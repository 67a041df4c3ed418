"""`ecmon report monthly | trend | ranking | completeness | submissions | feedback | anomalies | benchmark`:
the analysts' questions as SQL.

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
    # Received against expected metering intervals of every enterprise in the month: the figures of the
    # province's newest monthly report, which the worker computed from the registry records in force during the
    # month (streams/ecmon_worker/month_close.py report_content, one definition for both): the submitted report
    # (version >= 1), or while the month is open its month-to-date figures (version 0, intervals expected up to
    # the province's event time).
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
        ) AS figures
        ANY LEFT JOIN (
            SELECT uscc, argMax(name, version) AS name FROM {db}.enterprises GROUP BY uscc
        ) AS names USING uscc
        WHERE %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY province, uscc
    """,
    # Every submitted version of the provinces' monthly reports of the month: the submission and its revisions.
    "submissions": """
        SELECT province, version AS report_version, toString(any(closed_at)) AS closed_at_utc,
               any(submission_rule) AS rule, any(revised) AS is_revision, any(total_coal_mgce) AS coal_mgce,
               any(previous_total_coal_mgce) AS previous_coal_mgce, any(received) AS received_intervals,
               any(expected) AS expected_intervals, any(completeness_bp) AS month_completeness_bp,
               any(consistent) AS daily_monthly_consistent, any(revision_reason) AS what_changed
        FROM {db}.monthly_report_versions
        WHERE period = toDate(%(month)s)
        GROUP BY province, version
        ORDER BY province, version
    """,
    # The national level's newest feedback to each province for the month.
    "feedback": """
        SELECT province, max(version) AS feedback_version,
               if(argMax(final, version) = 1, 'final', 'provisional') AS status,
               argMax(provinces_reported, version) AS reported, argMax(provinces_expected, version) AS of_expected,
               argMax(province_coal_mgce, version) AS coal_mgce,
               argMax(national_coal_mgce, version) AS nation_coal_mgce,
               argMax(share_bp, version) AS national_share_bp, argMax(province_rank, version) AS rank,
               argMax(province_completeness_bp, version) AS month_completeness_bp,
               argMax(failing_uscc, version) AS below_90pct
        FROM {db}.national_feedback
        WHERE period = toDate(%(month)s)
        GROUP BY province
        ORDER BY province
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
    # metered quantities of the month per energy type; the quota standards' scope and electricity method are
    # applied in Python (ecmon/quota_standards.py scope_energy_mgce, the function the worker uses too).
    "benchmark": """
        SELECT uscc, name, province, industry_code, product_code, unit, quantity_milli,
               energy_types, energy_units, physical_milli
        FROM (
            SELECT uscc, product_code, unit, quantity_milli, province, industry_code, energy_types, energy_units,
                   physical_milli
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
            ANY LEFT JOIN (
                SELECT entity AS uscc, any(industry_code) AS industry_code, any(province) AS province,
                       groupArray(energy_type) AS energy_types, groupArray(unit) AS energy_units,
                       groupArray(physical) AS physical_milli
                FROM (
                    SELECT entity, industry_code, province, energy_type, unit,
                           argMax(physical_milli, version) AS physical
                    FROM {db}.aggregates_monthly
                    WHERE level = 'ENTERPRISE' AND period = toDate(%(month)s)
                    GROUP BY entity, industry_code, province, energy_type, unit, period
                )
                GROUP BY uscc
            ) AS energy USING uscc
        ) AS measured
        ANY LEFT JOIN (
            SELECT uscc, argMax(name, version) AS name FROM {db}.enterprises GROUP BY uscc
        ) AS names USING uscc
        WHERE %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY province, uscc, product_code, unit
    """,
    # The monitoring coverage list with its history: every registry record (who is monitored, where, in which
    # industry, with which meters, from when), the newest issue of each (uscc, valid_from). enterprise_records
    # keeps every record (migration 0012); enterprises keeps the newest per enterprise and covers rows the
    # sink wrote before 0012. Records in force in the month or after its start; valid_to is derived in Python.
    "coverage": """
        SELECT uscc, argMax(name, version) AS name, argMax(province, version) AS province,
               argMax(region_code, version) AS region_code, argMax(industry_code, version) AS industry_code,
               argMax(tier, version) AS tier, length(argMax(meter_ids, version)) AS meters,
               toString(valid_from) AS valid_from_utc, max(version) AS record_version
        FROM (
            SELECT uscc, name, province, region_code, industry_code, tier, meter_ids, valid_from, version
            FROM {db}.enterprise_records
            UNION ALL
            SELECT uscc, name, province, region_code, industry_code, tier, meter_ids, valid_from, version
            FROM {db}.enterprises
        )
        GROUP BY uscc, valid_from
        HAVING %(industry)s = '' OR industry_code = %(industry)s
        ORDER BY uscc, valid_from_utc
    """,
}

TITLES = {
    "monthly": "Energy consumption by industry and energy type",
    "trend": "Monthly standard coal, 13 months",
    "ranking": "Largest energy consumers",
    "completeness": "Data completeness (received / expected metering intervals)",
    "submissions": "Monthly reports submitted to the national level, with their revisions",
    "feedback": "National feedback to the provinces (newest version)",
    "anomalies": "Anomalies",
    "benchmark": "Unit-product energy consumption against the quota standards",
    "coverage": "Monitoring coverage list: registry records with the period each was in force",
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

    def csv(self, bom: bool = True) -> str:
        """RFC 4180 text; with ``bom`` it starts with U+FEFF, which Excel needs to read UTF-8 (Chinese names)
        instead of the system code page."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(self.columns)
        w.writerows(self.rows)
        return ("\ufeff" if bom else "") + buf.getvalue()

    def json(self) -> str:
        """Figures as JSON numbers (tce as a decimal number, exact integers as integers), times as text."""
        rows = [{k: json_value(v) for k, v in r.items()} for r in self.as_dicts()]
        return json.dumps({"title": self.title, "rows": rows}, ensure_ascii=False, default=str, indent=1)

    def table(self) -> Table:
        t = Table(title=self.title)
        for c in self.columns:
            t.add_column(c, justify="right" if self.rows and isinstance(self.rows[0][self.columns.index(c)],
                                                                           (int, float, Decimal)) else "left")
        for r in self.rows:
            t.add_row(*(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in r))
        return t


def json_value(value: object) -> object:
    """A cell as json wants it: Decimal -> number (int when integral; a float otherwise, which keeps every
    digit of a figure below 10^12 tce with three decimals; the exact integer, e.g. coal_mgce, is beside it),
    date/datetime -> text."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


BENCHMARK_COLUMNS = [
    "uscc", "name", "province", "industry_code", "product_code", "product", "coal_tce", "output", "unit",
    "kgce_per_unit", "limit_kgce_per_unit", "standard", "ratio", "verdict", "energy_counted",
]


def benchmark_rows(rows: list[tuple]) -> list[list]:
    """Query rows (per enterprise, product and reported unit, with the enterprise's quantities per energy
    type) -> one row per enterprise and product that has a quota standard: the energy within the
    standard's scope, intensity, limit, ratio and pass/FAIL, decided exactly on integers."""
    from fractions import Fraction

    from ecmon.quota_standards import PRODUCT_UNITS, quantity_in, scope_energy_mgce, standard_for

    merged: dict[tuple[str, str], dict] = {}
    for uscc, name, province, industry_code, product_code, unit, quantity_milli, types, units, physical in rows:
        standard = standard_for(product_code)
        if standard is None or unit not in PRODUCT_UNITS:
            continue  # no quota to compare with (the worker rejects units a standard cannot use)
        try:
            output = quantity_in(unit, quantity_milli, standard.unit)
        except ValueError:
            continue
        metered = list(zip(types or [], units or [], (int(p) for p in physical or [])))
        row = merged.setdefault((uscc, product_code), {
            "head": [uscc, name, province, industry_code], "standard": standard, "output": Fraction(0),
            "coal": scope_energy_mgce(standard, metered),
            "counted": ", ".join(sorted({t for t, _, _ in metered if standard.counts(t)}))})
        row["output"] += output
    out = []
    for (_uscc, _product), m in sorted(merged.items(), key=lambda kv: (kv[1]["head"][2], kv[0])):
        s, output, coal = m["standard"], m["output"], m["coal"]
        if output > 0:
            intensity = Fraction(coal, 10**6) / output  # kgce per unit
            exact = Fraction(coal) / output / s.limit_mgce
            ratio: Decimal | None = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.001"))
            verdict = "FAIL" if coal > s.limit_mgce * output else "pass"
            per_unit: Decimal | None = (Decimal(intensity.numerator) / Decimal(intensity.denominator)).quantize(
                Decimal("0.01"))
        else:
            per_unit, ratio, verdict = None, None, "no output"
        out.append([*m["head"], s.product_code, s.product_en, tce(coal),
                    (Decimal(output.numerator) / Decimal(output.denominator)).quantize(Decimal("0.001")), s.unit,
                    per_unit, Decimal(s.limit_mgce) / 10**6, s.number, ratio, verdict, m["counted"]])
    return out


def coverage_rows(rows: list[list], columns: list[str], month: str) -> tuple[list[list], list[str]]:
    """Each record gets the end of its validity (the next record's valid_from, '' while in force) and
    whether it is in force at some moment of ``month``; records ending before the month are left out."""
    start, end = _utc_text(month_start_ms(month)), _utc_text(month_start_ms(next_period(month)))
    u, f = columns.index("uscc"), columns.index("valid_from_utc")
    out = []
    for i, r in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) and rows[i + 1][u] == r[u] else None
        valid_to = following[f] if following else ""
        if valid_to and valid_to <= start:
            continue  # superseded before the month began
        out.append([*r, valid_to, "yes" if r[f] < end else "from a later month"])
    return out, [*columns, "valid_to_utc", "in_force_in_month"]


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
    if name == "coverage":
        out, columns = coverage_rows(out, columns, month)
    if name in ("submissions", "feedback"):
        for column in ("month_completeness_bp", "national_share_bp"):
            if column in columns:  # basis points -> percent, exact
                i = columns.index(column)
                columns[i] = column.replace("_bp", "_pct")
                for r in out:
                    r[i] = (Decimal(r[i]) / 100).quantize(Decimal("0.01"))
        for column in ("previous_coal_mgce", "nation_coal_mgce"):
            if column in columns:
                i = columns.index(column)
                columns.insert(i, column.replace("_mgce", "_tce"))
                for r in out:
                    r.insert(i, "" if r[i] is None else tce(r[i]))
        if "below_90pct" in columns:
            i = columns.index("below_90pct")
            for r in out:
                r[i] = " ".join(r[i])
    if name == "trend":
        by_key = {(r[0], r[1]): r[columns.index("coal_mgce")] for r in out}
        columns.append("yoy_change_pct")
        for r in out:
            prev = by_key.get((r[0], f"{int(r[1][:4]) - 1}{r[1][4:]}"))
            r.append(((Decimal(r[columns.index('coal_mgce')]) / prev - 1) * 100).quantize(Decimal("0.1"))
                     if prev else None)
    return Report(f"{TITLES[name]}, {month} ({database})", columns, out)
