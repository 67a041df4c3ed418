"""CO2 through the rollups: enterprise month totals, province and national sums, the monthly report, and
messages and state from before CO2 was carried."""

from __future__ import annotations

from ecmon import codec
from ecmon.emission_factors import co2_of_month
from ecmon_worker import month_close, national_rollup, regional_rollup, rollup_steps
from ecmon_worker.enterprise_rollup import month_totals

from .test_rollup_steps import NOV, OCT, Registry, region

DAY = 86_400_000


def message(uscc: str, rows: list[tuple[str, str, int, int]], version: int = 1, co2: bool = True) -> dict:
    totals = []
    for energy, unit, physical, mgce in rows:
        row = {"energy_type": energy, "unit": unit, "period": "2026-10", "physical_milli": physical,
               "coal_mgce": mgce, "readings": 96, "version": version, "daily_coal_mgce": mgce, "days": 31}
        if co2:
            row["co2_g"] = co2_of_month(energy, unit, "2026-10", physical)
        totals.append(row)
    return {"uscc": uscc, "region_code": "370100", "industry_code": "C31", "watermark": OCT + DAY, "totals": totals}


def test_an_enterprise_month_total_carries_the_co2_of_its_physical_total():
    state = {"m": {"electricity|kWh|2026-10": [1_000_001, 122_900_123, 96, 3],
                   "raw_coal|t|2026-10": [2_500, 1_785_750_000, 96, 3]}, "d": {}, "ds": {}}
    rows = {r["energy_type"]: r for r in month_totals(state, sorted(state["m"]))}
    assert rows["electricity"]["co2_g"] == co2_of_month("electricity", "kWh", "2026-10", 1_000_001) == 530_601
    assert rows["raw_coal"]["co2_g"] == 4_944_742  # 2.5 t x 1977.8968 kg/t, rounded once


def test_province_and_national_co2_are_exact_sums_with_scope_and_replays_change_nothing():
    table: dict = {}
    a = message("A", [("electricity", "kWh", 1_000_001, 1), ("raw_coal", "t", 2_500, 1)])
    b = message("B", [("electricity", "kWh", 3, 1)])
    region(table, "370000", a, Registry("A", "B"))
    step = region(table, "370000", b, Registry("A", "B"))
    region(table, "370000", b, Registry("A", "B"))  # a replay: no change
    month = table["370000|2026-10"]
    assert month["totals"]["PROVINCE|370000|*|electricity|kWh|2026-10"][3] == 530_601 + 2
    assert month["totals"]["PROVINCE|370000|*|raw_coal|t|2026-10"][3] == 4_944_742
    sent = [codec.decode(v)[1] for ch, _, v in step.out if ch == "aggregates"][0]["aggregates"]
    electricity = [r for r in sent if r["level"] == "PROVINCE" and r["industry_code"] == "*"][0]
    assert electricity["co2_g"] == 530_603 and electricity["co2_scope"] == "indirect"
    nation = national_rollup.new_state()
    rows = [{**r, "level": "PROVINCE"} for r in sent if r["level"] == "PROVINCE"]
    keys = national_rollup.apply_province_rows(nation, rows)
    out = {r["industry_code"]: r for r in national_rollup.national_aggregates(nation, keys)}
    assert out["*"]["co2_g"] == 530_603 and out["*"]["co2_scope"] == "indirect"


def test_an_enterprise_totals_message_before_v4_gets_the_same_co2_the_enterprise_would_send():
    old = message("A", [("natural_gas", "m3", 123_456_789, 1)], co2=False)
    new = message("A", [("natural_gas", "m3", 123_456_789, 1)])
    v2 = codec.catalog().by_fingerprint[next(fp for fp, sv in codec.catalog().by_fingerprint.items()
                                            if sv.short_name == "enterprise_totals" and sv.version == 2)]
    _, decoded = codec.decode(codec.encode("enterprise_totals", old, schema=v2))
    assert decoded["totals"][0]["co2_g"] is None  # the v4 reader's default
    s_old, s_new = regional_rollup.new_state(), regional_rollup.new_state()
    regional_rollup.apply_totals(s_old, "370000", decoded)
    regional_rollup.apply_totals(s_new, "370000", new)
    assert s_old["totals"] == s_new["totals"]


def test_state_from_before_co2_counts_zero_until_the_member_is_sent_again():
    state = regional_rollup.new_state()
    key = "PROVINCE|370000|*|electricity|kWh|2026-10"
    state["members"]["A|electricity|kWh|2026-10"] = [1_000, 5, 96, 1]  # no CO2 stored then
    state["totals"][key] = [1_000, 5, 96]
    regional_rollup.apply_totals(state, "370000", message("A", [("electricity", "kWh", 2_000, 9)], version=2))
    assert state["totals"][key] == [2_000, 9, 96, co2_of_month("electricity", "kWh", "2026-10", 2_000)]


def test_the_monthly_report_gives_co2_split_into_direct_and_indirect():
    table: dict = {}
    registry = Registry("A", "B")
    region(table, "370000", message("A", [("electricity", "kWh", 1_000_001, 1), ("raw_coal", "t", 2_500, 1)]),
           registry)
    late = message("B", [("electricity", "kWh", 3, 1)])
    late["watermark"] = NOV + 4 * DAY  # past the grace period: October closes
    step = region(table, "370000", late, registry)
    reports = [codec.decode(v)[1] for ch, _, v in step.out if ch == "monthly_reports"]
    assert len(reports) == 1
    report = reports[0]
    assert report["total_indirect_co2_g"] == 530_603 and report["total_direct_co2_g"] == 4_944_742
    assert report["total_co2_g"] == 530_603 + 4_944_742
    assert sum(line["co2_g"] for line in report["totals"]) == report["total_co2_g"]
    assert {e["uscc"]: e["co2_g"] for e in report["enterprises"]} == {"A": 530_601 + 4_944_742, "B": 2}


def test_co2_does_not_make_a_closed_month_look_changed():
    content = {"total_coal_mgce": 5, "totals": [{"coal_mgce": 5, "co2_g": 7}], "total_co2_g": 7}
    assert month_close._digest(content) == month_close._digest(
        {"total_coal_mgce": 5, "totals": [{"coal_mgce": 5}]})
    assert rollup_steps  # the steps module is what the agents call; region() above goes through it


def test_a_monthly_report_before_v4_still_decodes_with_co2_unknown():
    v3 = next(sv for sv in codec.catalog().by_fingerprint.values()
              if sv.short_name == "monthly_report" and sv.version == 3)
    report = {"province": "370000", "period": "2026-10", "version": 1, "closed_at": 0, "total_coal_mgce": 5,
              "totals": [{"industry_code": "C31", "energy_type": "electricity", "unit": "kWh", "physical_milli": 1,
                          "coal_mgce": 5, "enterprises": 1}],
              "completeness": {"received": 1, "expected": 1, "ratio_bp": 10000},
              "enterprises": [{"uscc": "A", "industry_code": "C31", "coal_mgce": 5,
                               "completeness": {"received": 1, "expected": 1, "ratio_bp": 10000}}],
              "consistency": [], "consistent": True}
    _, decoded = codec.decode(codec.encode("monthly_report", report, schema=v3))
    assert decoded["total_co2_g"] is None and decoded["totals"][0]["co2_g"] is None
    assert decoded["enterprises"][0]["co2_g"] is None
