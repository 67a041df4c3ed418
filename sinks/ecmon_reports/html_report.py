"""The monthly energy-consumption report of a province or of the nation, as one self-contained HTML file (charts
embedded as PNG) and as PDF (printed by headless Chromium): what an official hands to a director.

`ecmon report monthly --province 370000 --month 2026-10 --html report.html --pdf report.pdf`; without
``--province``, the nation. Chinese names for regions, industries and energy types; tce, tonnes of CO2
(direct and indirect), MWh and t with thousands separators; China Standard Time. Every figure comes from the
queries of `ecmon report` (sinks/ecmon_reports/analyst.py) or from the tables of the monthly cycle
(monthly_reports, national_feedback, targets, the early-warning events in anomalies); each cell that shows one
carries the exact integer behind it (``data-mgce``, ``data-g`` for grams of CO2, ``data-value``), so a test can
compare what a browser shows with ClickHouse.
Tables that a newer migration may widen (monthly_reports, national_feedback) are read with ``SELECT *`` and
used by the columns present, so a report keeps working while the schema grows.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from clickhouse_driver import Client

from ecmon.emission_factors import GRID_FACTORS, grid_factor_year
from ecmon_reports import analyst
from ecmon_reports.presentation import (
    LEVELS_ZH,
    SEVERITY_LEVEL,
    anomaly_type_name,
    change_text,
    co2_scope_name,
    co2_text,
    cst,
    energy_name,
    grouped,
    industry_name,
    month_zh,
    percent_bp,
    physical_text,
    region_name,
    tce_text,
)

CJK_FONT = "Noto Sans CJK SC"
"""From the Debian package fonts-noto-cjk (Makefile DEBIAN_PACKAGES): the browser and matplotlib both use it."""

CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans", sans-serif; margin: 1.5em auto;
       max-width: 1000px; padding: 0 1em; color: #1b1b1b; line-height: 1.45; }
h1 { font-size: 1.55em; margin-bottom: 0.1em; } h2 { margin-top: 1.6em; border-bottom: 2px solid #2b6cb0;
     font-size: 1.2em; padding-bottom: 0.15em; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.22em 0.55em; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eef2f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.low, .fail { color: #b00020; font-weight: bold; } .ok { color: #1a7f37; }
.kpi { display: flex; flex-wrap: wrap; gap: 0.6em; margin: 0.8em 0; }
.kpi div { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.45em 0.8em; min-width: 10em; flex: 1; }
.kpi b { display: block; font-size: 1.25em; }
.kpi div.wide { flex: 2; min-width: 18em; } .kpi small { display: block; color: #444; }
.light { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 50%; vertical-align: -0.1em;
         margin-right: 0.3em; border: 1px solid #0003; }
.light.green { background: #2da44e; } .light.orange { background: #f08c00; } .light.red { background: #d1242f; }
.light.none { background: #bbb; }
img { max-width: 100%; display: block; margin: 0.4em 0; } .none { color: #666; font-style: italic; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #2b6cb0; }
.note { color: #555; font-size: 0.85em; }
@page { size: A4; margin: 14mm 12mm; }
@media print { body { max-width: none; margin: 0; padding: 0; font-size: 10pt; } h2 { break-after: avoid; }
               tr, img, .kpi { break-inside: avoid; } summary { color: #1b1b1b; } }
"""


class ChromiumMissing(RuntimeError):
    pass


# ----------------------------------------------------------------------------------------------- charts


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Chinese labels need a CJK font; DejaVu Sans (matplotlib's default) draws empty boxes.
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = [CJK_FONT, "Noto Sans CJK JP", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def _png(fig: Any) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _thousands(ax: Any, axis: str) -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _bar(labels: list[str], values: list[float], title: str, horizontal: bool = False) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, max(2.4, 0.38 * len(labels) + 0.8)) if horizontal else (8, 3.6))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#2b6cb0")
        ax.set_xlabel("吨标准煤 (tce)")
        _thousands(ax, "x")
    else:
        ax.bar(labels, values, color="#2b6cb0")
        ax.set_ylabel("吨标准煤 (tce)")
        _thousands(ax, "y")
        ax.tick_params(axis="x", rotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    return _png(fig)


def _line(labels: list[str], values: list[float], title: str, target: float | None = None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(labels, values, marker="o", color="#2b6cb0", label="实际")
    if target is not None:
        ax.axhline(target, color="#d1242f", linestyle="--", label="本月目标")
        ax.legend(loc="lower left")
    ax.set_ylabel("吨标准煤 (tce)")
    _thousands(ax, "y")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# ----------------------------------------------------------------------------------------------- html pieces


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


Cell = tuple[str, dict[str, object]]
"""(shown text, data attributes); a numeric cell gets class num."""


def _cell(text: str, num: bool = False, cls: str = "", **data: object) -> Cell:
    attrs: dict[str, object] = {f"data-{k.replace('_', '-')}": v for k, v in data.items() if v is not None}
    classes = " ".join(c for c in ("num" if num else "", cls) if c)
    if classes:
        attrs["class"] = classes
    return text, attrs


def _table(report: str, head: Sequence[str], rows: Sequence[Sequence[Cell]], cols: Sequence[str] = ()) -> str:
    if not rows:
        return f'<p class="none" data-report="{report}" data-rows="0">无</p>'
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        tds = []
        for j, (text, attrs) in enumerate(row):
            a = dict(attrs)
            if cols:
                a.setdefault("data-col", cols[j])
            tds.append("<td" + "".join(f' {k}="{_esc(v)}"' for k, v in a.items()) + f">{_esc(text)}</td>")
        body.append(f'<tr data-row="{i}">{"".join(tds)}</tr>')
    return (f'<table data-report="{report}" data-rows="{len(rows)}"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _tce_cell(mgce: int | None, col: str = "coal_tce") -> Cell:
    if mgce is None:
        return _cell("—", True, col=col)
    return _cell(tce_text(mgce), True, col=col, mgce=mgce)


def _co2_cell(g: int | None, col: str = "co2_t") -> Cell:
    """Tonnes of CO2 shown, the exact grams in ``data-g``; None (a report written before CO2 was carried) '—'."""
    if g is None:
        return _cell("—", True, col=col)
    return _cell(co2_text(g), True, col=col, g=g)


CO2_HEAD = "二氧化碳排放 (吨二氧化碳)"


def co2_basis(year: int) -> str:
    """The one line saying what the CO2 figures rest on (docs/analyst-guide.md, "Carbon next to coal"), naming
    the grid factor used for ``year``: the MEE publishes a year's factor a year or two later."""
    used = grid_factor_year(year)
    factor = f"{used}年 {GRID_FACTORS[used].kg_co2_per_kwh} kgCO₂/kWh"
    if used != year:
        factor = f"采用{factor}, {year}年" + ("尚未发布" if used < year else "无发布值")
    return ("二氧化碳核算依据: 排放因子按能源品种和年份取值; 电力为生态环境部、国家统计局发布的全国电力平均二氧化碳"
            f"排放因子 ({factor}), 燃料按 GB/T 32150-2015 方法、IPCC 2006 缺省值; 间接排放 = 购入电力、热力; "
            "耗能工质不重复计算, 不含工业生产过程排放。")


def _light(level: str | None) -> str:
    name = level if level in LEVELS_ZH else "none"
    text = LEVELS_ZH.get(level or "", "未预警")
    return f'<span class="light {name}" data-light="{name}"></span>{text}'


# ----------------------------------------------------------------------------------------------- data


def _select_all(client: Client, table: str, where: str, params: dict) -> list[dict]:
    """Rows of ``table`` as dicts with whatever columns it has now; [] when the table does not exist yet."""
    from clickhouse_driver.errors import ServerException

    try:
        rows, types = client.execute(f"SELECT * FROM {table} WHERE {where}", params, with_column_types=True)
    except ServerException as exc:
        if exc.code == 60:  # UNKNOWN_TABLE: a database migrated before the table's migration
            return []
        raise
    names = [n for n, _ in types]
    return [dict(zip(names, r)) for r in rows]


def _newest(rows: list[dict], key: str = "province") -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        if r[key] not in out or r["version"] > out[r[key]]["version"]:
            out[r[key]] = r
    return out


def _status(row: dict) -> str:
    """Provisional or final, from whichever column the schema has (defensive: columns arrive with migrations)."""
    for col in ("status", "report_status", "finality"):
        if isinstance(row.get(col), str) and row[col]:
            return {"PROVISIONAL": "初步", "FINAL": "最终"}.get(row[col].upper(), row[col])
    if "provisional" in row:
        return "初步" if row["provisional"] else "最终"
    if "final" in row:
        return "最终" if row["final"] else "初步"
    return ""


EARLY_WARNING = """
    SELECT entity_code, type, argMax(severity, detected_at) AS severity, argMax(observed, detected_at) AS forecast,
           argMax(expected, detected_at) AS target, argMax(detail, detected_at) AS detail,
           max(detected_at) AS at
    FROM {db}.anomalies
    WHERE type IN ('early_warning_month', 'early_warning_year')
      AND span_start >= toDateTime(%(start)s) AND span_start < toDateTime(%(end)s)
    GROUP BY entity_code, type
    ORDER BY entity_code, type
"""


def _level_of(row: dict) -> str:
    """The level of the newest early-warning event: its detail ends 'previous -> level: ...'."""
    found = re.search(r"-> (green|orange|red)", row.get("detail") or "")
    return found.group(1) if found else SEVERITY_LEVEL.get(row["severity"], "")


# ----------------------------------------------------------------------------------------------- render


def render(client: Client, database: str, province: str, month: str) -> tuple[str, dict[str, analyst.Report]]:
    """The HTML text and the reports it shows (for tests and callers that want the numbers too).
    ``province`` '' is the nation (``database`` the national one)."""
    national = not province
    reports = {name: analyst.run(client, database, name, month) for name in
               ("monthly", "trend", "ranking", "completeness", "anomalies", "benchmark")}
    params = analyst.parameters(month)
    year, mon = (int(p) for p in month.split("-"))
    scope_name = "全国" if national else region_name(province)
    title = f"{scope_name}{month_zh(month)}重点用能单位能耗监测月报"

    monthly, trend, ranking = reports["monthly"], reports["trend"], reports["ranking"]
    completeness, anomalies, benchmark = reports["completeness"], reports["anomalies"], reports["benchmark"]

    by_month: dict[str, int] = defaultdict(int)
    by_province_month: dict[tuple[str, str], int] = defaultdict(int)
    co2_by_month: dict[str, int] = defaultdict(int)  # grams: sums of the exact integers, like mgce
    indirect_co2 = 0
    for r in trend.as_dicts():
        by_month[r["month"]] += r["coal_mgce"]
        by_province_month[(r["province"], r["month"])] += r["coal_mgce"]
        co2_by_month[r["month"]] += r["co2_g"]
        indirect_co2 += r["indirect_co2_g"] if r["month"] == month else 0
    prev_month = f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"
    last_year = f"{year - 1}-{mon:02d}"
    total = by_month.get(month, 0)
    total_co2 = co2_by_month.get(month, 0)

    # The monthly cycle: province reports, national feedback, targets, early warnings.
    period = {"period": f"{month}-01"}
    where = "period = toDate(%(period)s)" + ("" if national else " AND province = %(province)s")
    cycle_params = {**period, "province": province}
    closed = _newest(_select_all(client, f"{database}.monthly_reports", where, cycle_params))
    feedback = _newest(_select_all(client, f"{database}.national_feedback", where, cycle_params))
    target_rows = _select_all(
        client, f"{database}.targets",
        "scope = 'PROVINCE' AND year = %(year)s AND month IN (0, %(month)s)"
        + ("" if national else " AND entity_code = %(province)s"),
        {"year": year, "month": mon, "province": province})
    targets: dict[tuple[str, int], int] = {}
    for t in sorted(target_rows, key=lambda t: t["version"]):
        targets[(t["entity_code"], t["month"])] = t["coal_mgce"]
    warnings: list[dict] = []
    try:
        rows, types = client.execute(EARLY_WARNING.replace("{db}", database), params, with_column_types=True)
        warnings = [dict(zip([n for n, _ in types], r)) for r in rows]
    except Exception:
        warnings = []
    month_warning = {w["entity_code"]: w for w in warnings if w["type"] == "early_warning_month"}
    year_warning = {w["entity_code"]: w for w in warnings if w["type"] == "early_warning_year"}

    comp = completeness.as_dicts()
    received, expected = sum(r["received"] or 0 for r in comp), sum(r["expected"] or 0 for r in comp)
    below = [r for r in comp if r["below_90pct"]]
    ratio_bp = received * 10000 // expected if expected else 0
    consistent = [bool(r["consistent"]) for r in closed.values()]

    # ---- charts
    by_industry: dict[str, int] = defaultdict(int)
    by_energy: dict[str, int] = defaultdict(int)
    energy_co2: dict[str, int] = defaultdict(int)
    energy_scope: dict[str, str] = {}
    energy_physical: dict[tuple[str, str], int] = defaultdict(int)
    for r in monthly.as_dicts():
        by_industry[r["industry_code"]] += r["coal_mgce"]
        by_energy[r["energy_type"]] += r["coal_mgce"]
        energy_co2[r["energy_type"]] += r["co2_g"]
        energy_scope[r["energy_type"]] = r["co2_scope"]
        energy_physical[(r["energy_type"], r["unit"])] += r["physical_milli"]
    charts: dict[str, str] = {}
    if by_industry:
        ind = sorted(by_industry.items(), key=lambda kv: -kv[1])
        charts["industry"] = _bar([industry_name(k) for k, _ in ind], [v / 1e9 for _, v in ind],
                                  f"{scope_name} {month_zh(month)} 分行业能耗", horizontal=True)
        en = sorted(by_energy.items(), key=lambda kv: -kv[1])
        charts["energy"] = _bar([energy_name(k) for k, _ in en], [v / 1e9 for _, v in en],
                                f"{scope_name} {month_zh(month)} 分能源品种能耗")
    months = sorted(by_month)
    if months:
        month_target = sum(v for (_p, m), v in targets.items() if m == mon) or None
        charts["trend"] = _line([m[2:] for m in months], [by_month[m] / 1e9 for m in months],
                                f"{scope_name} 近13个月能耗 (吨标准煤)",
                                month_target / 1e9 if month_target else None)
    if ranking.rows:
        rk = ranking.as_dicts()[:10]
        charts["ranking"] = _bar([r["name"] or r["uscc"] for r in rk], [r["coal_mgce"] / 1e9 for r in rk],
                                 "能耗最大的企业 (前10名)", horizontal=True)
    if national:
        prov = sorted(((p, v) for (p, m), v in by_province_month.items() if m == month), key=lambda kv: -kv[1])
        if prov:
            charts["provinces"] = _bar([region_name(p) for p, _ in prov], [v / 1e9 for _, v in prov],
                                       f"{month_zh(month)} 各省能耗", horizontal=True)
    img = {k: f'<img data-chart="{k}" alt="{k}" src="{src}">' for k, src in charts.items()}

    # ---- key figures
    light = month_warning.get(province) if not national else None
    # (label, value as HTML, attributes, a line under the value as HTML)
    kpis = [
        ("本月能耗", _esc(f"{tce_text(total)} 吨标准煤"), f'class="wide" data-summary="total" data-mgce="{total}"',
         ""),
        ("本月二氧化碳排放", _esc(f"{co2_text(total_co2)} 吨二氧化碳"),
         f'class="wide" data-summary="co2" data-g="{total_co2}" data-indirect-g="{indirect_co2}"',
         f'<small data-part="indirect">其中间接排放 (电力、热力): {_esc(co2_text(indirect_co2))} 吨</small>'),
        ("环比", _esc(change_text(total, by_month.get(prev_month))), 'data-summary="mom"', ""),
        ("同比", _esc(change_text(total, by_month.get(last_year))), 'data-summary="yoy"', ""),
        ("数据完整率", _esc(percent_bp(ratio_bp, 1)),
         f'data-summary="completeness" data-received="{received}" data-expected="{expected}"', ""),
        ("完整率低于90%的企业", f"{len(below)} 家", f'data-summary="below" data-value="{len(below)}"', ""),
        ("异常事件", f"{len(anomalies.rows):,} 起", f'data-summary="anomalies" data-value="{len(anomalies.rows)}"', ""),
    ]
    if not national:
        kpis.insert(4, ("月度预警", _light(_level_of(light)) if light else _light(None), 'data-summary="light"', ""))
    kpi_html = '<div class="kpi">' + "".join(
        f"<div {attrs}><span>{_esc(label)}</span><b>{value}</b>{under}</div>"
        for label, value, attrs, under in kpis) + "</div>"

    generated = cst(datetime.now(UTC))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="sub">统计口径: 北京时间自然月 {month_zh(month)}; 能耗按 GB/T 2589-2020 折算为标准煤, '
        "二氧化碳排放按 GB/T 32150-2015 分直接排放与间接排放核算。"
        f"数据来源: ClickHouse 数据库 <code>{_esc(database)}</code> (各汇总的最新版本)。"
        f"生成时间: {_esc(generated)}。</p>",
        kpi_html,
        f'<p class="note" data-note="co2-basis">{_esc(co2_basis(year))}</p>',
    ]

    # ---- target vs actual and forecast, with the warning light
    parts.append("<h2>一、目标、实际与预测 (预警)</h2>")
    scope_codes = sorted({p for p, _m in by_province_month} | {k[0] for k in targets} | set(month_warning)
                         | set(closed)) if national else [province]
    rows = []
    for code in scope_codes:
        actual = by_province_month.get((code, month), 0)
        t_month = targets.get((code, mon))
        w = month_warning.get(code)
        y = year_warning.get(code)
        level = _level_of(w) if w else None
        rows.append([
            _cell(region_name(code), col="region", province=code),
            _tce_cell(t_month, "target_tce"),
            _tce_cell(actual, "actual_tce"),
            _cell(grouped(Decimal(str(w["forecast"])), 1) if w else "—", True, col="forecast_tce"),
            _cell(f"{grouped(Decimal(actual) * 100 / t_month, 1)} %" if t_month else "—", True, col="progress"),
            (_light(level), {"data-col": "light", "data-light": level or "none"}),
            _tce_cell(targets.get((code, 0)), "year_target_tce"),
            _cell(grouped(Decimal(str(y["forecast"])), 1) if y else "—", True, col="year_forecast_tce"),
        ])
    parts.append(_raw_table("warning", ["地区", "本月目标 (tce)", "本月实际 (tce)", "月末预测 (tce)", "完成目标",
                                        "预警", "全年目标 (tce)", "年末预测 (tce)"], rows))
    parts.append('<p class="note">预警灯: 绿灯 = 预测区间上限仍低于目标; 橙灯 = 目标落在预测区间内; '
                 "红灯 = 预测值达到目标。"
                 "预测为月内按已收数据比例外推的月末总量 (90 % 区间), 月末即为实测值。</p>")

    # ---- completeness and consistency (the month's report)
    parts.append("<h2>二、数据完整率与一致性</h2>")
    rows = []
    for code, r in sorted(closed.items()):
        rows.append([
            _cell(region_name(code), col="region", province=code),
            _cell(str(r["version"]), True, col="version", value=r["version"]),
            _cell(_status(r) or ("修订" if r.get("revised") else "—"), col="status"),
            _cell(cst(r["closed_at"]), col="closed_at"),
            _tce_cell(r["total_coal_mgce"], "total_tce"),
            _co2_cell(r.get("total_co2_g"), "total_co2_t"),
            _cell(percent_bp(r["completeness_bp"], 2), True, cls="" if r["completeness_bp"] >= r[
                "completeness_threshold_bp"] else "low", col="completeness", bp=r["completeness_bp"]),
            _cell("一致" if r["consistent"] else "不一致", cls="ok" if r["consistent"] else "fail", col="consistent"),
            _cell(percent_bp(r.get("change_mom_bp")), True, col="mom"),
            _cell(percent_bp(r.get("change_yoy_bp")), True, col="yoy"),
        ])
    if rows:
        parts.append(_raw_table("month_close", ["地区", "月报版本", "状态", "关账时间", "能耗总量 (tce)", CO2_HEAD,
                                                "完整率", "各级汇总", "环比", "同比"], rows))
    else:
        parts.append('<p class="none" data-report="month_close" data-rows="0">本月尚未关账: 以下完整率为截至目前的估算'
                     " (按登记名录全月应收的采集周期计)。</p>")
    parts.append(f"<p>合计收到 {received:,} / 应收 {expected:,} 个采集周期, 完整率 {percent_bp(ratio_bp, 1)}"
                 f" (国家规范要求 ≥ 90 %); {len(below)} 家企业低于 90 %"
                 + (f"; 各级汇总{'一致' if all(consistent) else '存在不一致'}" if consistent else "") + "。</p>")
    parts.append(_table("below", ["企业", "统一社会信用代码", "地区", "行业", "已收", "应收", "完整率"], [[
        _cell(r["name"] or r["uscc"]), _cell(r["uscc"], col="uscc"), _cell(region_name(r["province"])),
        _cell(industry_name(r["industry_code"])), _cell(f"{r['received']:,}", True, value=r["received"]),
        _cell(f"{r['expected']:,}", True, value=r["expected"]),
        _cell(f"{grouped(r['completeness'] * 100, 1)} %", True, cls="low", value=r["completeness"])]
        for r in below]))
    parts.append("<details><summary>全部企业的数据完整率 (" + f"{len(comp):,} 家)</summary>" + _completeness_table(
        completeness) + "</details>")

    # ---- national feedback
    parts.append("<h2>三、国家反馈</h2>")
    if feedback:
        rows = []
        for code, f in sorted(feedback.items()):
            rows.append([
                _cell(region_name(code), col="region", province=code),
                _cell(str(f["version"]), True, value=f["version"]),
                _cell(_status(f) or "—", col="status"),
                _tce_cell(f["province_coal_mgce"], "province_tce"),
                _tce_cell(f["national_coal_mgce"], "national_tce"),
                _cell(percent_bp(f["share_bp"]), True, col="share", bp=f["share_bp"]),
                _cell(f"{f['province_rank']} / {f['provinces_reported']}", True, col="rank"),
                _cell(f"{len(f.get('failing_uscc') or [])} 家", True, col="failing"),
            ])
        parts.append(_raw_table("feedback", ["地区", "反馈版本", "状态", "本省能耗 (tce)", "全国能耗 (tce)", "占全国",
                                             "排名 / 上报省份", "完整率不达标企业"], rows))
        if not national:
            f = next(iter(feedback.values()))
            ranks = list(zip(f.get("industry_codes") or [], f.get("industry_coal_mgce") or [],
                             f.get("industry_share_bp") or [], f.get("industry_rank") or [],
                             f.get("industry_provinces") or []))
            parts.append(_table("feedback_industries", ["行业", "本省 (tce)", "占全国该行业", "排名"], [[
                _cell(industry_name(code)), _tce_cell(mgce), _cell(percent_bp(share), True),
                _cell(f"{rank} / {n}", True)] for code, mgce, share, rank, n in ranks]))
    else:
        parts.append('<p class="none" data-report="feedback" data-rows="0">本月尚无国家反馈 (月报提交后生成)。</p>')

    # ---- consumption
    parts.append("<h2>四、能耗构成</h2>")
    if national and "provinces" in img:
        parts.append(img["provinces"])
    parts += [img.get("industry", ""), img.get("energy", "")]
    parts.append(_table("energy", ["能源品种", "实物量", "折标准煤 (tce)", "占比", CO2_HEAD, "排放类型"], [[
        _cell(energy_name(e), energy_type=e),
        _cell(" · ".join(physical_text(q, u) for (e2, u), q in sorted(energy_physical.items()) if e2 == e), True),
        _tce_cell(v), _cell(f"{grouped(Decimal(v) * 100 / total, 1)} %" if total else "—", True),
        _co2_cell(energy_co2[e]), _cell(co2_scope_name(energy_scope[e]), col="co2_scope", value=energy_scope[e])]
        for e, v in sorted(by_energy.items(), key=lambda kv: -kv[1])]))
    parts.append("<details><summary>分行业、分能源品种明细</summary>" + _monthly_table(monthly, national)
                 + "</details>")

    # ---- trend
    parts.append("<h2>五、近13个月走势 (环比、同比)</h2>")
    parts.append(img.get("trend", ""))
    parts.append(_table("trend", ["月份", "能耗 (tce)", "环比", "同比", CO2_HEAD], [[
        _cell(month_zh(m), month=m), _tce_cell(by_month[m]),
        _cell(change_text(by_month[m], by_month.get(_previous(m))), True),
        _cell(change_text(by_month[m], by_month.get(f"{int(m[:4]) - 1}{m[4:]}")), True),
        _co2_cell(co2_by_month[m])] for m in months]))

    # ---- largest consumers and benchmarks
    parts.append("<h2>六、重点企业与单位产品能耗</h2>")
    parts.append(img.get("ranking", ""))
    parts.append(_table("ranking", ["排名", "企业", "地区", "行业", "能耗 (tce)", CO2_HEAD], [[
        _cell(str(i + 1), True), _cell(r["name"] or r["uscc"], uscc=r["uscc"]), _cell(region_name(r["province"])),
        _cell(industry_name(r["industry_code"])), _tce_cell(r["coal_mgce"]), _co2_cell(r["co2_g"])]
        for i, r in enumerate(ranking.as_dicts())]))
    benchmark_head = ["企业", "产品", "产量", "单位产品能耗 (kgce)", "限定值 (kgce)", "标准", "结论"]
    parts.append(_table("benchmark", benchmark_head, [[
        _cell(r["name"] or r["uscc"], uscc=r["uscc"]), _cell(_product_zh(r["product_code"], r["product"])),
        _cell(f"{grouped(r['output'], 0)} {r['unit']}", True),
        _cell(grouped(r["kgce_per_unit"], 2) if r["kgce_per_unit"] is not None else "—", True),
        _cell(grouped(r["limit_kgce_per_unit"], 1), True), _cell(r["standard"]),
        _cell({"pass": "达标", "FAIL": "超限额"}.get(r["verdict"], "无产量"),
              cls="ok" if r["verdict"] == "pass" else "fail", verdict=r["verdict"])]
        for r in benchmark.as_dicts()]))

    # ---- anomalies: summary, details behind it
    parts.append("<h2>七、异常事件</h2>")
    parts.append(_anomaly_summary(anomalies, ranking, completeness))
    parts.append(f"<details><summary>全部异常事件明细 ({len(anomalies.rows):,} 起)</summary>"
                 + _anomaly_table(anomalies) + "</details>")
    parts += [
        '<p class="note">说明: tce = 吨标准煤; 二氧化碳排放为直接排放与间接排放之和; '
        "电力以 MWh (兆瓦时)、实物燃料以 t (吨)、气体以 万m³ 计; "
        "时间均为北京时间。"
        "环比、同比按同口径最新汇总计算。</p>",
        # Lets a headless browser test see that every embedded chart decoded (naturalWidth > 0).
        "<script>window.addEventListener('load', function () { document.body.dataset.chartsDecoded = "
        "Array.prototype.filter.call(document.images, function (i) { return i.naturalWidth > 0; }).length; "
        # ... and whether anything is wider than the window (a table running off the page).
        "document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth; });"
        "</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p), reports


def _product_zh(code: str, fallback: str) -> str:
    from ecmon.quota_standards import standard_for

    found = standard_for(code)
    return found.product_zh if found else fallback


def _previous(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"


def _raw_table(report: str, head: Sequence[str], rows: Sequence[Sequence[tuple[str, dict[str, object]]]]) -> str:
    """Like _table, but the first cell text of a light column is HTML already (the coloured dot)."""
    if not rows:
        return f'<p class="none" data-report="{report}" data-rows="0">无</p>'
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        tds = []
        for text, attrs in row:
            shown = text if 'class="light' in text else _esc(text)
            tds.append("<td" + "".join(f' {k}="{_esc(v)}"' for k, v in attrs.items()) + f">{shown}</td>")
        body.append(f'<tr data-row="{i}">{"".join(tds)}</tr>')
    return (f'<table data-report="{report}" data-rows="{len(rows)}"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _monthly_table(monthly: analyst.Report, national: bool) -> str:
    head = (["省份"] if national else []) + ["行业", "能源品种", "实物量", "折标准煤 (tce)", CO2_HEAD, "数据条数"]
    rows = []
    for r in monthly.as_dicts():
        rows.append(([_cell(region_name(r["province"]))] if national else []) + [
            _cell(industry_name(r["industry_code"]), col="industry_code", value=r["industry_code"]),
            _cell(energy_name(r["energy_type"]), col="energy_type", value=r["energy_type"]),
            _cell(physical_text(r["physical_milli"], r["unit"]), True, col="physical_milli", value=r["physical_milli"],
                  unit=r["unit"]),
            _tce_cell(r["coal_mgce"]),
            _co2_cell(r["co2_g"]),
            _cell(f"{r['readings']:,}", True, col="readings", value=r["readings"])])
    return _table("monthly", head, rows)


def _completeness_table(completeness: analyst.Report) -> str:
    return _table("completeness", ["企业", "统一社会信用代码", "地区", "行业", "已收", "应收", "完整率"], [[
        _cell(r["name"] or r["uscc"]), _cell(r["uscc"], col="uscc"), _cell(region_name(r["province"])),
        _cell(industry_name(r["industry_code"])),
        _cell(f"{r['received']:,}", True, col="received", value=r["received"]),
        _cell(f"{r['expected']:,}", True, col="expected", value=r["expected"]),
        _cell(f"{grouped(r['completeness'] * 100, 1)} %", True, cls="low" if r["below_90pct"] else "",
              col="completeness", value=r["completeness"])] for r in completeness.as_dicts()])


def _enterprise_of(entity: str) -> str:
    """A meter finding names 'USCC/meter' (or similar); the enterprise is its first 18 characters."""
    return entity[:18] if len(entity) >= 18 else entity


def _anomaly_summary(anomalies: analyst.Report, ranking: analyst.Report, completeness: analyst.Report) -> str:
    rows = anomalies.as_dicts()
    if not rows:
        return '<p class="none" data-report="anomaly_types" data-rows="0">本月无异常事件。</p>'
    names = {r["uscc"]: r["name"] for r in completeness.as_dicts() + ranking.as_dicts() if r.get("name")}
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        by_type[r["type"]][r["severity"]] += 1
    type_rows = [[
        _cell(anomaly_type_name(t), anomaly_type=t), _cell(f"{sum(c.values()):,}", True, value=sum(c.values())),
        _cell(f"{c['CRITICAL']:,}", True), _cell(f"{c['WARNING']:,}", True), _cell(f"{c['INFO']:,}", True)]
        for t, c in sorted(by_type.items(), key=lambda kv: -sum(kv[1].values()))]
    by_enterprise: Counter[str] = Counter(_enterprise_of(r["entity_code"]) for r in rows if r["level"] != "PROVINCE")
    kinds: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        kinds[_enterprise_of(r["entity_code"])].add(anomaly_type_name(r["type"]))
    top = [[_cell(names.get(e, e), uscc=e), _cell(e), _cell(f"{n:,}", True, value=n),
            _cell("、".join(sorted(kinds[e])))]
           for e, n in by_enterprise.most_common(10)]
    return ("<p>按类型统计:</p>" + _table("anomaly_types", ["类型", "合计", "严重", "警告", "提示"], type_rows)
            + "<p>异常最多的企业 (前10家):</p>"
            + _table("anomaly_enterprises", ["企业", "统一社会信用代码", "异常数", "类型"], top))


def _anomaly_table(anomalies: analyst.Report) -> str:
    return _table("anomalies", ["类型", "严重程度", "对象", "开始 (北京时间)", "观测值", "期望值", "说明"], [[
        _cell(anomaly_type_name(r["type"]), col="type", value=r["type"]),
        _cell(r["severity"], col="severity"), _cell(r["entity_code"], col="entity_code"),
        _cell(cst(datetime.fromisoformat(r["span_start_utc"])), col="span_start", value=r["span_start_utc"]),
        _cell(grouped(Decimal(str(r["observed"])), 2), True, col="observed"),
        _cell(grouped(Decimal(str(r["expected"])), 2), True, col="expected"),
        _cell(r["detail"], col="detail")] for r in anomalies.as_dicts()])


# ----------------------------------------------------------------------------------------------- pdf


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        raise ChromiumMissing("headless Chromium prints the PDF and is not installed: install the Debian package "
                              "chromium (make system-packages), or write --html and print it from a browser")
    return found


def print_pdf(text: str, pdf: Path, timeout: float = 120) -> int:
    """Print the report with headless Chromium (every <details> opened, so the appendix is on paper);
    returns the number of pages."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="ecmon-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(text.replace("<details>", "<details open>"), encoding="utf-8")
        out = Path(tmp) / "report.pdf"
        run = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", page.as_uri()],
            capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0 or not out.exists():
            raise ChromiumMissing(f"Chromium could not print the PDF (exit {run.returncode}): "
                                  f"{(run.stderr.strip().splitlines() or [''])[-1][:300]}")
        pdf.write_bytes(out.read_bytes())
    return pdf_pages(pdf.read_bytes())


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF Chromium wrote (its page objects are not in compressed object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))

