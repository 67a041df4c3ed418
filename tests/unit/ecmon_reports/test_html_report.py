"""The report's charts draw Chinese with an installed CJK font; a PDF's pages are counted; CO2 stands beside
standard coal (the key figure with its indirect part, the tables, the basis)."""

import shutil

import pytest

from ecmon.emission_factors import g_to_tco2, scope
from ecmon_reports import analyst, html_report


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="fontconfig is not installed")
def test_charts_use_the_installed_cjk_font_not_dejavu():
    from matplotlib import font_manager


    plt = html_report._pyplot()
    path = font_manager.findfont(font_manager.FontProperties(family=plt.rcParams["font.sans-serif"][0]),
                                 fallback_to_default=False)
    assert plt.rcParams["font.sans-serif"][0] == html_report.CJK_FONT
    assert "NotoSansCJK" in path, f"{path}: install fonts-noto-cjk (make system-packages)"


def test_pdf_pages_are_counted_without_the_page_tree():
    data = b"<< /Type /Pages /Count 2 >> << /Type /Page /Parent 1 0 R >> << /Type/Page >>"
    assert html_report.pdf_pages(data) == 2


def test_a_missing_chromium_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(html_report.ChromiumMissing, match="chromium"):
        html_report.chromium()


def _report(rows: list[dict], columns: list[str] | None = None) -> analyst.Report:
    """A report as analyst.run returns it (tce and tCO2 beside the exact integers)."""
    return analyst.Report("t", columns or list(rows[0]), [list(r.values()) for r in rows])


class _NoTables:
    """ClickHouse with no monthly-cycle tables yet: every query other than analyst.run's answers nothing."""

    def execute(self, _sql, _params=None, with_column_types=False):
        return ([], []) if with_column_types else []


def _monthly(industry: str, energy: str, unit: str, mgce: int, g: int) -> dict:
    return {"province": "370000", "industry_code": industry, "energy_type": energy, "unit": unit,
            "physical_milli": 1_000_000, "coal_tce": analyst.tce(mgce), "coal_mgce": mgce,
            "co2_scope": scope(energy), "co2_t": g_to_tco2(g), "co2_g": g, "readings": 10}


def _trend(month: str, mgce: int, g: int, indirect: int) -> dict:
    return {"province": "370000", "month": month, "coal_tce": analyst.tce(mgce), "coal_mgce": mgce,
            "co2_t": g_to_tco2(g), "co2_g": g, "indirect_co2_t": g_to_tco2(indirect), "indirect_co2_g": indirect,
            "readings": 10, "yoy_change_pct": None}


@pytest.fixture
def rendered(monkeypatch) -> str:
    """The report of a province with two industries and three energy types, from made-up query answers."""
    monthly = [_monthly("3120", "electricity", "kWh", 2_000_000_000_000, 4_301_234_567),
               _monthly("3120", "raw_coal", "t", 1_500_000_000_000, 3_990_000_001),
               _monthly("2511", "electricity", "kWh", 1_000_000_000_000, 2_150_617_283),
               _monthly("2511", "natural_gas", "m3", 500_000_000_000, 1_080_000_500)]
    reports = {
        "monthly": _report(monthly),
        "trend": _report([_trend("2026-09", 4_800_000_000_000, 11_000_000_000, 6_000_000_000),
                          _trend("2026-10", 5_000_000_000_000, 11_521_852_351, 6_451_851_850)]),
        "ranking": _report([{"uscc": "91370100MA0000000X", "name": "济南钢铁集团有限公司", "province": "370000",
                             "industry_code": "3120", "coal_tce": analyst.tce(3_500_000_000_000),
                             "coal_mgce": 3_500_000_000_000, "co2_t": g_to_tco2(8_291_234_568),
                             "co2_g": 8_291_234_568, "readings": 20}]),
        "completeness": _report([], ["uscc", "name", "province", "industry_code", "expected", "received",
                                     "completeness", "below_90pct"]),
        "anomalies": _report([], ["anomaly_id", "type", "severity", "level", "entity_code", "province",
                                  "industry_code", "span_start_utc", "observed", "expected", "unit", "score",
                                  "detail"]),
        "benchmark": _report([], list(analyst.BENCHMARK_COLUMNS)),
    }
    monkeypatch.setattr(analyst, "run", lambda _client, _db, name, _month: reports[name])
    text, _ = html_report.render(_NoTables(), "ecmon_370000", "370000", "2026-10")
    return text


def _row_of(text: str, report: str, first_cell: str) -> str:
    table = text.split(f'data-report="{report}"', 1)[1].split("</table>", 1)[0]
    return next(row for row in table.split("<tr")[1:] if first_cell in row)


def test_the_co2_card_shows_the_month_and_its_indirect_part_in_tonnes(rendered):
    card = rendered.split('data-summary="co2"', 1)[1].split("</div>", 1)[0]
    assert 'data-g="11521852351"' in card and 'data-indirect-g="6451851850"' in card
    assert "<span>本月二氧化碳排放</span><b>11,521.852 吨二氧化碳</b>" in card
    assert "其中间接排放 (电力、热力): 6,451.852 吨" in card
    assert "间接排放 = 购入电力、热力" in html_report.co2_basis(2022) and "(2022年 0.5366 kgCO₂/kWh)" in (
        html_report.co2_basis(2022))
    basis = rendered.split('data-note="co2-basis">', 1)[1].split("</p>", 1)[0]
    assert "生态环境部、国家统计局" in basis and "全国电力平均二氧化碳排放因子" in basis
    assert "(采用2023年 0.5306 kgCO₂/kWh, 2026年尚未发布)" in basis  # the factor the month was priced with
    assert "GB/T 32150-2015" in basis and "IPCC 2006" in basis and "不含工业生产过程排放" in basis


def test_co2_stands_beside_tce_per_energy_type_with_its_scope(rendered):
    energy = rendered.split('data-report="energy"', 1)[1].split("</thead>", 1)[0]
    assert "<th>折标准煤 (tce)</th><th>占比</th><th>二氧化碳排放 (吨二氧化碳)</th><th>排放类型</th>" in energy
    electricity = _row_of(rendered, "energy", "电力")
    assert 'data-g="6451851850"' in electricity and ">6,451.852<" in electricity  # both industries, exact sum
    assert 'data-value="indirect">间接排放<' in electricity
    assert 'data-value="direct">直接排放<' in _row_of(rendered, "energy", "原煤")
    assert 'data-value="direct">直接排放<' in _row_of(rendered, "energy", "天然气")


def test_co2_stands_beside_tce_per_industry_enterprise_and_month(rendered):
    monthly = _row_of(rendered, "monthly", "原煤")
    assert 'data-col="co2_t" data-g="3990000001" class="num">3,990.000<' in monthly
    ranking = _row_of(rendered, "ranking", "济南钢铁集团有限公司")
    assert ">3,500.000<" in ranking and 'data-g="8291234568"' in ranking and ">8,291.235<" in ranking
    assert 'data-g="11000000000"' in _row_of(rendered, "trend", "2026年9月")
