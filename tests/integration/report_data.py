"""A month of a province's figures as the sink writes them, for the report tests: 13 months of aggregates of two
provinces, registry records (one enterprise re-registered), production, anomalies with early warnings, a closed
monthly report, national feedback and targets. Written as the sink user into the national and province tables.
"""

from __future__ import annotations

from datetime import date, datetime

from ecmon.emission_factors import scope

AGG = ("(level, entity, province, industry_code, energy_type, period, unit, physical_milli, coal_mgce, readings, "
       "version, co2_g, co2_scope)")
ENT = ("(uscc, name, region_code, province, prefecture, industry_code, tier, meter_ids, meter_energy_types, "
       "meter_units, meter_interval_s, valid_from, version)")
MONTH = "2026-10"

#: (uscc, name, region, province, prefecture, industry): 370000 has four, 210000 two.
ENTERPRISES = [
    ("91370100MA0000000X", "济南钢铁集团有限公司", "370102", "370000", "370100", "3120"),
    ("91370100MA0000001X", "山东日照钢铁控股集团", "370102", "370000", "370100", "3120"),
    ("91370100MA0000002X", "齐鲁石化炼油厂", "370102", "370000", "370100", "2511"),
    ("91370100MA0000003X", "鲁西化工有机原料公司", "370102", "370000", "370100", "2614"),
    ("91210100MA0000004X", "鞍山钢铁股份有限公司", "210102", "210000", "210100", "3120"),
    ("91210100MA0000005X", "大连水泥熟料有限公司", "210202", "210000", "210200", "3011"),
]
ENERGY = (("electricity", "kWh"), ("raw_coal", "t"))


def coal(i: int, m: int, energy: str) -> int:
    return (i + 1) * 1_234_567_891_234 + m * 10_000_007_000 + (7 if energy == "raw_coal" else 0)


def co2(i: int, m: int, energy: str) -> int:
    """Grams of CO2 of enterprise ``i`` in month ``m``: about 2.66 tCO2 per tce of raw coal and 4.3 per tce of
    electricity, so the report shows figures of a plausible size (the rows' physical quantities are not
    consistent with their coal either); odd grams, so a sum that rounds grams away would show."""
    return coal(i, m, energy) * (2_660 if energy == "raw_coal" else 4_318) // 1_000_000 + i * 7 + m


def fill(sink) -> None:
    """Write everything with ``sink`` (a clickhouse_driver Client of the sink user)."""
    enterprises = [(u, n, r, p, pf, ind, "NATIONAL_KEY", ["m1", "m2"], [e for e, _ in ENERGY], [u2 for _, u2 in ENERGY],
                    [900, 900], datetime(2026, 1, 1), 1) for u, n, r, p, pf, ind in ENTERPRISES]
    # Re-registered from November with a third meter: the coverage list keeps both records.
    renewed = [(*enterprises[0][:7], ["m1", "m2", "m3"], ["electricity", "raw_coal", "natural_gas"],
                ["kWh", "t", "m3"], [900, 900, 900], datetime(2026, 10, 31, 16), 2)]
    aggs: list[tuple] = []
    for m in range(13):
        period = date(2025 + (9 + m) // 12, (9 + m) % 12 + 1, 1)
        for i, (uscc, _n, _r, province, _pf, ind) in enumerate(ENTERPRISES):
            for energy, unit in ENERGY:
                c, g = coal(i, m, energy), co2(i, m, energy)
                n = 2976 - (i % 4) * 200  # the third and fourth of a province report less: below 90 %
                aggs += [("ENTERPRISE", uscc, province, ind, energy, period, unit, c * 8, c, n, 2, g, scope(energy)),
                         ("ENTERPRISE", uscc, province, ind, energy, period, unit, 1, 1, 1, 1, 1,
                          scope(energy))]  # stale version
        for province in ("370000", "210000"):
            members = [(k, e) for k, e in enumerate(ENTERPRISES) if e[3] == province]
            for ind in ["*", *sorted({e[5] for _k, e in members})]:
                for energy, unit in ENERGY:
                    c = sum(coal(k, m, energy) for k, e in members if ind in ("*", e[5]))
                    g = sum(co2(k, m, energy) for k, e in members if ind in ("*", e[5]))
                    aggs.append(("PROVINCE", province, province, ind, energy, period, unit, c * 8, c, 100, 3, g,
                                 scope(energy)))
    anomalies = []
    for k in range(30):
        uscc = ENTERPRISES[k % 3][0]
        kind, severity = [("spike", "WARNING"), ("stuck", "CRITICAL"), ("silent_meter", "WARNING")][k % 3]
        anomalies.append((f"a{k:03d}", kind, severity, "METER", f"{uscc}/m{k % 2 + 1}", "370000", "3120",
                          "electricity", datetime(2026, 10, 3, k % 24), datetime(2026, 10, 3, k % 24, 15),
                          123456.5, 2345.25, "kWh", 4.2, "meter_watch", "5", f"第{k}次读数异常 (reading {k})",
                          datetime(2026, 10, 3, 12), 1))
    anomalies += [
        ("w1", "early_warning_month", "WARNING", "PROVINCE", "370000", "370000", "*", "", datetime(2026, 9, 30, 16),
         datetime(2026, 10, 31, 16), 6_300.5, 6_500.0, "tce", 0.97, "regional_early_warning", "1",
         "green -> orange: month-end forecast 6,300.5 tce against the target 6,500.0 tce",
         datetime(2026, 10, 20, 4), 1),
        ("w2", "early_warning_month", "CRITICAL", "PROVINCE", "370000", "370000", "*", "", datetime(2026, 9, 30, 16),
         datetime(2026, 10, 31, 16), 6_650.25, 6_500.0, "tce", 1.02, "regional_early_warning", "1",
         "orange -> red: month-end forecast 6,650.3 tce against the target 6,500.0 tce",
         datetime(2026, 10, 28, 4), 1),
    ]
    close_version = 2

    def province_co2(p: str, kind: str) -> int:
        return sum(co2(k, 12, e) for k, x in enumerate(ENTERPRISES) if x[3] == p for e, _u in ENERGY
                   if kind in ("", scope(e)))

    reports = [(p, date(2026, 10, 1), v, datetime(2026, 11, 3, 16),
                sum(coal(k, 12, e) for k, x in enumerate(ENTERPRISES) if x[3] == p for e, _u in ENERGY),
                250, 1020, 10_000, 11_000, 9_090, 9_000, 1, int(v > 1), None, "",
                province_co2(p, ""), province_co2(p, "direct"), province_co2(p, "indirect"))
               for p in ("370000", "210000") for v in (1, close_version)]
    # The worker's completeness of each enterprise in the submitted report: both meters' intervals received
    # against expected (2 x 2976 in October); the third and fourth of a province are below 90 %.
    report_enterprises = []
    for i, (uscc, _n, _r, province, _pf, ind) in enumerate(ENTERPRISES):
        received, expected = 2 * (2976 - (i % 4) * 200), 2 * 2976
        report_enterprises.append((province, date(2026, 10, 1), close_version, uscc, ind,
                                   sum(coal(i, 12, e) for e, _u in ENERGY), received, expected,
                                   received * 10_000 // expected))
    feedback = [(p, date(2026, 10, 1), 1, datetime(2026, 11, 3, 17), 2, 99_000_000_000_000, 60_000_000_000_000,
                 6060 if p == "370000" else 3940, 1 if p == "370000" else 2, 9000, 9090, ["3120", "2511"],
                 [40_000_000_000_000, 20_000_000_000_000], [60_000_000_000_000, 20_000_000_000_000], [6667, 10000],
                 [1, 1], [2, 1], ["91370100MA0000003X"], [2376], [2976], [7984]) for p in ("370000", "210000")]
    targets = [("PROVINCE", "370000", "370000", 2026, 10, 6_500 * 10**9, "", "", "", 0, None, "鲁发改能源〔2026〕1号",
                datetime(2026, 1, 5), 1),
               ("PROVINCE", "370000", "370000", 2026, 0, 76_000 * 10**9, "GDP", "", "10k_CNY", 420_000_000, 300,
                "鲁发改能源〔2026〕1号", datetime(2026, 1, 5), 1),
               ("PROVINCE", "210000", "210000", 2026, 10, 3_000 * 10**9, "", "", "", 0, None, "辽发改〔2026〕2号",
                datetime(2026, 1, 5), 1)]
    production = [(ENTERPRISES[0][0], "3206010100", datetime(2026, 9, 30, 16), datetime(2026, 10, 31, 16),
                   date(2026, 10, 1), "粗钢", 25_000_000_000, "t", "370000", "gw", "b1", datetime(2026, 11, 1), 1)]
    for db in ("ecmon", "ecmon_370000", "ecmon_210000"):
        p = db.rsplit("_", 1)[1] if "_" in db else None

        def mine(rows, col, p=p):
            return [r for r in rows if p is None or r[col] == p]

        sink.execute(f"INSERT INTO {db}.enterprises {ENT} VALUES", mine(enterprises, 3))
        sink.execute(f"INSERT INTO {db}.enterprise_records {ENT} VALUES", mine(enterprises + renewed, 3))
        sink.execute(f"INSERT INTO {db}.aggregates_monthly {AGG} VALUES", mine(aggs, 2))
        sink.execute(f"INSERT INTO {db}.anomalies VALUES", [(*a, datetime(2026, 11, 1)) for a in mine(anomalies, 5)])
        sink.execute(f"INSERT INTO {db}.monthly_reports (province, period, version, closed_at, total_coal_mgce, "
                     "change_mom_bp, change_yoy_bp, received, expected, completeness_bp, completeness_threshold_bp, "
                     "consistent, revised, previous_total_coal_mgce, revision_reason, total_co2_g, "
                     "total_direct_co2_g, total_indirect_co2_g) VALUES", mine(reports, 0))
        sink.execute(f"INSERT INTO {db}.monthly_report_enterprises (province, period, version, uscc, industry_code, "
                     "coal_mgce, received, expected, completeness_bp) VALUES", mine(report_enterprises, 0))
        sink.execute(f"INSERT INTO {db}.national_feedback (province, period, version, generated_at, "
                     "provinces_reported, "
                     "national_coal_mgce, province_coal_mgce, share_bp, province_rank, completeness_threshold_bp, "
                     "province_completeness_bp, industry_codes, industry_coal_mgce, industry_national_coal_mgce, "
                     "industry_share_bp, industry_rank, industry_provinces, failing_uscc, failing_received, "
                     "failing_expected, failing_completeness_bp) VALUES", mine(feedback, 0))
        sink.execute(f"INSERT INTO {db}.targets (scope, entity_code, province, year, month, coal_mgce, "
                     "intensity_basis, "
                     "product_code, denominator_unit, intensity_mgce_per_unit, reduction_bp, document, issued_at, "
                     "version) VALUES", mine(targets, 2))
        sink.execute(f"INSERT INTO {db}.production (uscc, product_code, period_start, period_end, period, "
                     "product_name, "
                     "quantity_milli, unit, province, gateway_id, batch_id, sent_at, version) VALUES",
                     mine(production, 8))
