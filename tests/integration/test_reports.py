"""The analysts' reports on a real ClickHouse 18.16: the monthly report of a province and of the nation as HTML and
PDF, rendered in headless Chromium (DOM compared with ClickHouse, screenshots looked at by the test), and the
edges of every `ecmon report` command (exit status, one-line errors, CSV for Excel, JSON numbers).

Own stack: ClickHouse only on port 24000 (state under tmp_path); data written as the sink user
(tests/integration/report_data.py), the reports produced as the analysts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ecmon.emission_factors import g_to_tco2, scope
from ecmon.settings import Settings
from ecmon_ops.stack import stack
from ecmon_reports import analyst
from ecmon_reports.html_report import pdf_pages
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

sys.path.insert(0, str(Path(__file__).parent))
import report_data

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=24092, clickhouse_port=24000, clickhouse_http_port=24123, prometheus_port=24090,
             alertmanager_port=24190, metrics_port_base=24200)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("ECMON_STATE_DIR", ".ecmon-test")).resolve() / "report-screenshots"
"""Kept after the run (the stack's state directory), so a person can look at what the test looked at."""


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("reports"), **PORTS)
    stack.up(settings, only=["clickhouse"])
    try:
        migrate.migrate(settings)
        report_data.fill(connect(settings, user="ecmon_sink"))
        yield settings
    finally:
        stack.down(settings, only=["clickhouse"])


def ecmon(settings: Settings, *args: str, user: str = "analyst_370000", password: str | None = "",
          port: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **{f"ECMON_{k.upper()}": str(v) for k, v in PORTS.items()},
           "ECMON_STATE_DIR": str(settings.state_dir), "ECMON_CLICKHOUSE_USER": user}
    env.pop("ECMON_CLICKHOUSE_PASSWORD", None)
    if password:
        env["ECMON_CLICKHOUSE_PASSWORD"] = password
    if port:
        env["ECMON_CLICKHOUSE_PORT"] = str(port)
    return subprocess.run([sys.executable, "-m", "ecmon_cli.main", *args], env=env, capture_output=True,
                          timeout=180)


class Cells(HTMLParser):
    """Table cells and summary values of the rendered DOM, by report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[dict]]] = {}
        self.summary: dict[str, dict] = {}
        self.body: dict = {}
        self.images = 0
        self._report = self._cell = self._summary = None
        self._in_b = False

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
        if tag == "div" and "data-summary" in a:  # a key figure: its value is the <b> in it
            self._summary = self.summary[a["data-summary"]] = {**a, "text": ""}
        self._in_b = self._in_b or (tag == "b" and self._summary is not None)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_b and self._summary is not None:
            self._summary["text"] += data

    def handle_endtag(self, tag):
        if tag == "b" and self._in_b:
            self._in_b, self._summary = False, None
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




def browse(page: Path, name: str) -> tuple[Cells, Path]:
    """The DOM after load (charts decoded, overflow measured) and a full-page screenshot, both at 1100 px wide."""
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,6000",
              "--virtual-time-budget=5000", f"--user-data-dir={page.parent / 'chromium-profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    cells = Cells()
    cells.feed(dom.stdout)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    run = subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    return cells, shot


def tonnes(g: int) -> str:
    """Grams of CO2 as the report shows them: tonnes, three decimals (half to even), thousands separators."""
    return f"{g_to_tco2(g).quantize(Decimal('0.001')):,}"


def looks_like_a_report(shot: Path) -> None:
    """Not blank: many colours (text, charts, warning light), ink over a good part of the page, nothing cut at
    the right edge (the page is 1100 px wide; content ends before it)."""
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, f"{shot}: {len(colours or [])} colours, a blank page?"
    ink = Image.eval(image.convert("L"), lambda v: 255 if v < 200 else 0).getbbox()
    assert ink is not None and ink[3] - ink[1] > 3000, f"{shot}: content only {ink}"
    assert ink[2] < image.width - 20, f"{shot}: something runs to the right edge ({ink})"
    red = sum(n for n, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
    assert red > 50, f"{shot}: no red warning light or failing figure drawn"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed (make system-packages)")
def test_the_province_report_shows_what_clickhouse_answers_in_chinese(filled, tmp_path):
    html, pdf = tmp_path / "370000.html", tmp_path / "370000.pdf"
    run = ecmon(filled, "report", "monthly", "--province", "370000", "--month", "2026-10", "--html", str(html),
                "--pdf", str(pdf))
    assert run.returncode == 0, run.stdout + run.stderr
    text = html.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained
    assert "山东省2026年10月" in text and "炼钢" in text and "电力" in text and "北京时间" in text
    assert "UTC" not in text.split("</style>", 1)[1].split("<details>", 1)[0]  # CST before the appendix

    page, shot = browse(html, "report-370000")
    looks_like_a_report(shot)
    assert page.body.get("data-charts-decoded") == str(page.images) == "4"
    assert page.body.get("data-overflow") == "false"

    client = connect(filled, user="analyst_370000", password=None, writer=False)
    expected = {name: analyst.run(client, "ecmon_370000", name, "2026-10") for name in analyst.QUERIES}
    october = sum(r["coal_mgce"] for r in expected["trend"].as_dicts() if r["month"] == "2026-10")
    assert int(page.summary["total"]["data-mgce"]) == october
    assert page.summary["total"]["text"] == f"{analyst.tce(october):,} 吨标准煤"
    assert page.summary["light"]["text"].strip() == "红灯"  # the newest early-warning event says red

    # CO2 beside coal: the exact grams of ClickHouse summed, and the same as the grams the data was written with.
    october_rows = [r for r in expected["trend"].as_dicts() if r["month"] == "2026-10"]
    co2, indirect = sum(r["co2_g"] for r in october_rows), sum(r["indirect_co2_g"] for r in october_rows)
    mine = [(i, e) for i, x in enumerate(report_data.ENTERPRISES) if x[3] == "370000" for e, _u in report_data.ENERGY]
    assert co2 == sum(report_data.co2(i, 12, e) for i, e in mine) and co2 > 0
    assert indirect == sum(report_data.co2(i, 12, e) for i, e in mine if scope(e) == "indirect") and 0 < indirect < co2
    assert int(page.summary["co2"]["data-g"]) == co2 and int(page.summary["co2"]["data-indirect-g"]) == indirect
    assert page.summary["co2"]["text"] == f"{tonnes(co2)} 吨二氧化碳"
    assert f"其中间接排放 (电力、热力): {tonnes(indirect)} 吨" in text
    assert "生态环境部、国家统计局" in text and "GB/T 32150" in text and "不含工业生产过程排放" in text
    energy = {r[0]["data-energy-type"]: {c.get("data-col"): c for c in r} for r in page.tables["energy"]}
    for kind in ("electricity", "raw_coal"):
        grams = sum(r["co2_g"] for r in expected["monthly"].as_dicts() if r["energy_type"] == kind)
        assert int(energy[kind]["co2_t"]["data-g"]) == grams and energy[kind]["co2_t"]["text"] == tonnes(grams)
    assert energy["electricity"]["co2_scope"]["text"] == "间接排放"
    assert energy["raw_coal"]["co2_scope"]["text"] == "直接排放"
    assert [int(r[5]["data-g"]) for r in page.tables["ranking"]] == [r["co2_g"] for r in expected["ranking"].as_dicts()]
    closed = {c.get("data-col"): c for c in page.tables["month_close"][0]}
    assert closed["total_co2_t"]["text"] == tonnes(co2)  # the month's report carries the same grams
    assert [int(r[4]["data-g"]) for r in page.tables["trend"]] == [r["co2_g"] for r in expected["trend"].as_dicts()]
    assert int(page.summary["below"]["data-value"]) == 2
    ranking = expected["ranking"].as_dicts()
    shown = page.tables["ranking"]
    assert [int(r[4]["data-mgce"]) for r in shown] == [r["coal_mgce"] for r in ranking]
    assert [r[1]["text"] for r in shown] == [r["name"] for r in ranking]  # names, not codes
    assert [r[3]["text"] for r in shown][:2] == ["有机化学原料制造", "原油加工及石油制品制造"]
    monthly = page.tables["monthly"]
    assert len(monthly) == len(expected["monthly"].rows)
    for cells, row in zip(monthly, expected["monthly"].as_dicts()):
        by = {c["data-col"]: c for c in cells}
        assert int(by["coal_tce"]["data-mgce"]) == row["coal_mgce"]
        assert by["industry_code"]["data-value"] == row["industry_code"]
        assert int(by["physical_milli"]["data-value"]) == row["physical_milli"]
        assert int(by["co2_t"]["data-g"]) == row["co2_g"]
    assert page.tables["monthly"][0][2]["text"].endswith(("MWh", " t"))
    warning = {c["data-col"]: c for c in page.tables["warning"][0]}
    assert int(warning["target_tce"]["data-mgce"]) == 6_500 * 10**9 and warning["light"]["data-light"] == "red"
    assert len(page.tables["trend"]) == 13
    types = {r[0]["data-anomaly-type"]: int(r[1]["data-value"]) for r in page.tables["anomaly_types"]}
    assert types == {"spike": 10, "stuck": 10, "silent_meter": 10, "early_warning_month": 2}
    assert len(page.tables["anomalies"]) == 32  # the details, behind <details>
    assert page.tables["feedback"][0][6]["text"] == "1 / 2"

    assert pdf_pages(pdf.read_bytes()) >= 3, "the PDF has its pages (appendix opened)"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed (make system-packages)")
def test_the_national_report_covers_every_province(filled, tmp_path):
    html, pdf = tmp_path / "national.html", tmp_path / "national.pdf"
    run = ecmon(filled, "report", "monthly", "--month", "2026-10", "--format", "pdf", "--out", str(pdf),
                user="analyst_national")
    assert run.returncode == 0, run.stdout + run.stderr
    assert pdf_pages(pdf.read_bytes()) >= 3
    run = ecmon(filled, "report", "monthly", "--month", "2026-10", "--html", str(html), user="analyst_national")
    assert run.returncode == 0, run.stdout + run.stderr
    page, shot = browse(html, "report-national")
    looks_like_a_report(shot)
    assert page.body.get("data-charts-decoded") == str(page.images) == "5"  # with the provinces chart
    assert page.body.get("data-overflow") == "false"
    client = connect(filled, user="analyst_national", password=None, writer=False)
    trend = analyst.run(client, "ecmon", "trend", "2026-10").as_dicts()
    assert int(page.summary["total"]["data-mgce"]) == sum(r["coal_mgce"] for r in trend if r["month"] == "2026-10")
    co2 = sum(r["co2_g"] for r in trend if r["month"] == "2026-10")
    assert co2 == sum(report_data.co2(i, 12, e) for i in range(len(report_data.ENTERPRISES))
                      for e, _u in report_data.ENERGY)
    assert int(page.summary["co2"]["data-g"]) == co2 and page.summary["co2"]["text"] == f"{tonnes(co2)} 吨二氧化碳"
    assert {r[0]["text"] for r in page.tables["warning"]} == {"山东省", "辽宁省"}
    assert {r[0]["text"] for r in page.tables["feedback"]} == {"山东省", "辽宁省"}
    assert "全国2026年10月" in html.read_text()


def test_a_bad_month_is_one_line_and_exit_2(filled):
    run = ecmon(filled, "report", "completeness", "--province", "370000", "--month", "2026-13")
    out = (run.stdout + run.stderr).decode()
    assert run.returncode == 2 and out.strip().count("\n") == 0 and "YYYY-MM" in out, out


@pytest.mark.parametrize("case, kwargs, args, words", [
    ("wrong password", {"password": "not-the-password"}, ["--province", "370000"], "ECMON_CLICKHOUSE_PASSWORD"),
    ("denied", {}, ["--province", "210000"], "may not read database ecmon_210000"),
    ("denied national", {}, [], "may not read database ecmon"),
    ("server down", {"port": 24999}, ["--province", "370000"], "ecmon stack up"),
])
def test_failures_are_one_line_naming_the_fix(filled, case, kwargs, args, words):
    run = ecmon(filled, "report", "trend", "--month", "2026-10", *args, **kwargs)
    out = (run.stdout + run.stderr).decode()
    assert run.returncode == 1, (case, out)
    assert out.strip().count("\n") == 0 and words in out and "Traceback" not in out and "Stack trace" not in out, out


def test_csv_opens_in_excel_and_json_has_numbers(filled):
    csv_run = ecmon(filled, "report", "ranking", "--province", "370000", "--month", "2026-10", "--format", "csv")
    assert csv_run.returncode == 0 and csv_run.stdout.startswith(b"\xef\xbb\xbfuscc,"), csv_run.stdout[:40]
    assert "济南钢铁集团有限公司" in csv_run.stdout.decode("utf-8-sig")
    plain = ecmon(filled, "report", "ranking", "--province", "370000", "--format", "csv", "--no-bom")
    assert plain.stdout.startswith(b"uscc,")
    run = ecmon(filled, "report", "ranking", "--province", "370000", "--month", "2026-10", "--format", "json")
    rows = json.loads(run.stdout)["rows"]
    assert isinstance(rows[0]["coal_tce"], float) and isinstance(rows[0]["coal_mgce"], int)
    trend = json.loads(ecmon(filled, "report", "trend", "--province", "370000", "--format", "json").stdout)["rows"]
    assert isinstance(trend[-1]["yoy_change_pct"], float) and trend[0]["yoy_change_pct"] is None


def test_the_coverage_list_keeps_the_registry_history(filled):
    run = ecmon(filled, "report", "coverage", "--province", "370000", "--month", "2026-10", "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [r for r in json.loads(run.stdout)["rows"] if r["uscc"] == report_data.ENTERPRISES[0][0]]
    assert [(r["meters"], r["valid_to_utc"], r["in_force_in_month"]) for r in rows] == [
        (2, "2026-10-31 16:00:00", "yes"), (3, "", "from a later month")]


def test_analysts_can_read_names_targets_and_the_data_dictionary(filled):
    client = connect(filled, user="analyst_370000", password=None, writer=False)
    db = "ecmon_370000"
    assert client.execute(f"SELECT name FROM {db}.regions WHERE code = '370000'") == [("山东省",)]
    assert client.execute(f"SELECT name_zh FROM {db}.industries WHERE code = '3120'") == [("炼钢",)]
    assert client.execute(f"SELECT name_zh FROM {db}.energy_types WHERE code = 'electricity'") == [("电力",)]
    assert client.execute(f"SELECT display_unit FROM {db}.units WHERE code = 'kWh'") == [("MWh",)]
    assert client.execute(f"SELECT standard FROM {db}.quota_standards WHERE product_code = '3206010100'") == [
        ("GB 32050-2015",)]
    assert client.execute(f"SELECT coal_mgce FROM {db}.targets FINAL WHERE entity_code = '370000' AND month = 10") == [
        (6_500 * 10**9,)]
    (about,), = client.execute(f"SELECT description FROM {db}.data_dictionary WHERE table_name = 'monthly_reports' "
                               "AND column_name = ''")
    assert "月报" in about
    (comment,), = client.execute("SELECT comment FROM system.columns WHERE database = %(db)s "
                                 "AND table = 'aggregates_monthly' AND name = 'coal_mgce'", {"db": db})
    assert "mgce" in comment  # a column comment, where 18.16 supports it
    again = migrate.migrate(filled)  # idempotent: nothing applied, reference data unchanged
    assert again == []


def test_a_reconciliation_mismatch_exits_2(filled):
    from ecmon_simulator.ledger import Ledger, ledger_path

    ledger = Ledger()
    ledger.totals[("370000", report_data.ENTERPRISES[0][0], "electricity", "kWh", "2026-10")] = [1, 1, 1]
    ledger.save(ledger_path(filled))
    try:
        run = ecmon(filled, "report", user="ecmon_admin")
        assert run.returncode == 2 and b"MISMATCH" in run.stdout, run.stdout + run.stderr
        run = ecmon(filled, "report", "--no-reconcile", user="ecmon_admin")
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        ledger_path(filled).unlink()
