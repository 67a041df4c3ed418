"""`ecmon report monthly --province 370000 --month 2026-10 --html`: rendered in headless Chromium, the
figures shown equal the ClickHouse query results.

Own stack: ClickHouse only on port 24000 (state under tmp_path); data written as the sink user, the report
produced as the provincial analyst.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from ecmon.settings import Settings
from ecmon_ops.stack import stack
from ecmon_reports import analyst
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=24092, clickhouse_port=24000, clickhouse_http_port=24123, prometheus_port=24090,
             alertmanager_port=24190, metrics_port_base=24200)
ANALYST = ("analyst_370000", None)  # the password: the stack's secrets file (ecmon/clickhouse_auth.py)
AGG = ("(level, entity, province, industry_code, energy_type, period, unit, physical_milli, coal_mgce, readings, "
       "version)")
ENT = ("(uscc, name, region_code, province, prefecture, industry_code, tier, meter_ids, meter_energy_types, "
       "meter_units, meter_interval_s, valid_from, version)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("reports"), **PORTS)
    stack.up(settings, only=["clickhouse"])
    try:
        migrate.migrate(settings)
        sink = connect(settings, user="ecmon_sink")
        enterprises = [(f"9137010{i}MA0000000X", f"山东企业{i}", "370102", "370000", "370100", ind, "NATIONAL_KEY",
                        ["m1", "m2"], ["electricity", "raw_coal"], ["kWh", "t"], [900, 900], datetime(2026, 1, 1), 1)
                       for i, ind in enumerate(["3110", "3110", "2511", "2614"])]
        aggs = []
        for m in range(13):
            period = date(2025 + (9 + m) // 12, (9 + m) % 12 + 1, 1)
            for i, (uscc, *_rest) in enumerate(enterprises):
                ind = enterprises[i][5]
                for energy, unit in (("electricity", "kWh"), ("raw_coal", "t")):
                    coal = (i + 1) * 1_234_567_891 + m * 10_000_007 + (7 if energy == "raw_coal" else 0)
                    n = 2976 - i * 200  # the last two enterprises report less: completeness below 90 %
                    aggs += [("ENTERPRISE", uscc, "370000", ind, energy, period, unit, coal, coal, n, 2),
                             ("ENTERPRISE", uscc, "370000", ind, energy, period, unit, 1, 1, 1, 1)]  # stale version
            for ind in ("*", "3110", "2511", "2614"):
                for energy, unit in (("electricity", "kWh"), ("raw_coal", "t")):
                    members = [k for k, e in enumerate(enterprises) if ind in ("*", e[5])]
                    coal = sum((k + 1) * 1_234_567_891 + m * 10_000_007 + (7 if energy == "raw_coal" else 0)
                               for k in members)
                    aggs.append(("PROVINCE", "370000", "370000", ind, energy, period, unit, coal, coal, 100, 3))
        for db in ("ecmon", "ecmon_370000"):
            sink.execute(f"INSERT INTO {db}.enterprises {ENT} VALUES", enterprises)
            sink.execute(f"INSERT INTO {db}.aggregates_monthly {AGG} VALUES", aggs)
        yield settings
    finally:
        stack.down(settings, only=["clickhouse"])


class Cells(HTMLParser):
    """Table cells and summary values of the rendered DOM, by report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[dict]]] = {}
        self.summary: dict[str, dict] = {}
        self.body: dict = {}
        self.images = 0
        self._report = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1
        if tag == "table" and "data-report" in a:
            self._report = a["data-report"]
            self.tables[self._report] = []
        if tag == "tr" and self._report and "data-row" in a:
            self.tables[self._report].append([])
        if tag == "td":
            self._cell = {**a, "text": ""}

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            if "data-summary" in self._cell:
                self.summary[self._cell["data-summary"]] = self._cell
            elif self._report and self.tables[self._report]:
                self.tables[self._report][-1].append(self._cell)
            self._cell = None
        if tag == "table":
            self._report = None


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="fontconfig is not installed")
def test_chinese_names_have_a_cjk_font_to_render_with():
    """Region and enterprise names are Chinese: without a CJK font Chromium draws empty boxes (tofu)."""
    from ecmon_reports.html_report import CSS

    assert '"Noto Sans CJK SC"' in CSS.split("font-family:", 1)[1].split(";", 1)[0]
    found = subprocess.run(["fc-match", "-f", "%{family}", "Noto Sans CJK SC:lang=zh-cn"], capture_output=True,
                           text=True, timeout=30).stdout
    assert "Noto Sans CJK SC" in found, f"fc-match found {found!r}: install fonts-noto-cjk (make system-packages)"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed (make system-packages)")
def test_the_html_monthly_report_shows_what_clickhouse_answers(filled, tmp_path):
    out = tmp_path / "report.html"
    env = {**os.environ, **{f"ECMON_{k.upper()}": str(v) for k, v in PORTS.items()},
           "ECMON_STATE_DIR": str(filled.state_dir), "ECMON_CLICKHOUSE_USER": ANALYST[0],
           "ECMON_CLICKHOUSE_PASSWORD": ""}
    run = subprocess.run([sys.executable, "-m", "ecmon_cli.main", "report", "monthly", "--province", "370000",
                          "--month", "2026-10", "--html", str(out)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "http://" not in out.read_text() and "https://" not in out.read_text()  # self-contained

    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Cells()
    page.feed(dom.stdout)

    client = connect(filled, user=ANALYST[0], password=ANALYST[1], writer=False)
    expected = {name: analyst.run(client, "ecmon_370000", name, "2026-10") for name in analyst.QUERIES}
    for name, report in expected.items():
        shown = page.tables.get(name, [])
        assert len(shown) == len(report.rows), name
        for cells, row in zip(shown, report.as_dicts()):
            for cell in cells:
                col = cell["data-col"]
                if col == "coal_tce":
                    assert int(cell["data-mgce"]) == row["coal_mgce"]
                    assert Decimal(cell["text"]) == analyst.tce(row["coal_mgce"]), (name, cell, row)
                elif isinstance(row[col], int):
                    assert int(cell["text"].replace(",", "")) == row[col], (name, col)
                else:
                    assert cell["text"] == str(row[col]), (name, col)
    assert len(page.tables["trend"]) == 13 and len(page.tables["ranking"]) == 4

    october = [r for r in expected["trend"].as_dicts() if r["month"] == "2026-10"][0]
    assert int(page.summary["total"]["data-mgce"]) == october["coal_mgce"]
    assert page.summary["total"]["text"] == f"{analyst.tce(october['coal_mgce'])} tce"
    below = sum(1 for r in expected["completeness"].as_dicts() if r["below_90pct"])
    assert below == 2 and int(page.summary["below"]["text"]) == below
    assert page.images == 4 and page.body.get("data-charts-decoded") == "4"  # every chart decoded in Chromium
