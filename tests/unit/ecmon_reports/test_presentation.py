"""Codes become names, thousandths become units with separators, UTC becomes China Standard Time."""

from datetime import datetime
from decimal import Decimal

from ecmon_reports import presentation as p


def test_codes_read_as_chinese_names():
    assert p.region_name("370000") == "山东省" and p.region_name("*") == "全国" and p.region_name("999999") == "999999"
    assert p.industry_name("3120") == "炼钢" and p.industry_name("*") == "全部行业"
    assert p.industry_name("9999") == "9999"
    assert p.energy_name("electricity") == "电力" and p.energy_name("raw_coal") == "原煤"
    assert p.anomaly_type_name("early_warning_month") == "月度用能预警"
    assert p.anomaly_type_name("new_kind") == "new_kind"
    assert p.unit_name("10k_kWh") == "万千瓦时"


def test_figures_have_units_and_thousands_separators():
    assert p.tce_text(1_234_567_891_234_567) == "1,234,567.891"
    assert p.tce_text(500_000) == "0.000" and p.tce_text(1_500_000) == "0.002"  # half to even, as analyst.tce
    assert p.physical_text(1_500_000_000, "kWh") == "1,500.000 MWh"  # 1.5 million kWh
    assert p.physical_text(2_000_000_000, "kg") == "2,000.000 t"
    assert p.physical_text(12_345_000, "t") == "12,345.000 t"
    assert p.physical_text(30_000_000, "m3") == "3.000 万m³"
    assert p.percent_bp(9_090) == "90.90 %" and p.percent_bp(None) == "—"
    assert p.grouped(Decimal("1234.5"), 0) == "1,234"  # half to even
    assert p.co2_text(1_234_567_891_500) == "1,234,567.892" and p.co2_text(2_500) == "0.002"  # kg, half to even
    assert p.co2_text(0) == "0.000"


def test_scopes_read_as_gb_t_32150_names_them():
    assert p.co2_scope_name("direct") == "直接排放" and p.co2_scope_name("indirect") == "间接排放"
    assert p.co2_scope_name("none") == "不计入" and p.co2_scope_name("other") == "other"


def test_changes_month_on_month_and_year_on_year():
    assert p.change_text(110, 100) == "+10.0 %" and p.change_text(90, 100) == "−10.0 %"
    assert p.change_text(100, 100) == "0.0 %" and p.change_text(100, None) == "—" and p.change_text(100, 0) == "—"


def test_times_are_china_standard_time():
    assert p.cst(datetime(2026, 10, 31, 16, 0)) == "2026-11-01 00:00 北京时间"  # naive = UTC, as ClickHouse returns
    assert p.cst(1_793_462_400_000) == "2026-11-01 00:00 北京时间"  # epoch ms
    assert p.month_zh("2026-01") == "2026年1月"
