"""The monthly feedback report of a province as one self-contained HTML file (charts embedded as PNG).

`ecmon report monthly --province 370000 --month 2026-10 --html report.html`. Every figure comes from the
same queries as `ecmon report` (sinks/ecmon_reports/analyst.py), and each table cell that shows one carries the exact
integer behind it (``data-mgce``, ``data-value``), so a test can compare what a browser shows with
ClickHouse.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from clickhouse_driver import Client

from ecmon.regions import UnknownRegion, region
from ecmon_reports import analyst

CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1000px;
       color: #1b1b1b; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; } th { background: #f0f3f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .low { color: #b00020; font-weight: bold; }
.summary td { font-size: 1.05em; } img { max-width: 100%; } .none { color: #666; font-style: italic; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _bar(labels: list[str], values: list[float], title: str, horizontal: bool = False) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(labels)) if horizontal else 3.5))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#2b6cb0")
        ax.set_xlabel("tce")
    else:
        ax.bar(labels, values, color="#2b6cb0")
        ax.set_ylabel("tce")
        ax.tick_params(axis="x", rotation=45)
    ax.set_title(title)
    return _png(fig)


def _line(labels: list[str], values: list[float], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(labels, values, marker="o", color="#2b6cb0")
    ax.set_ylabel("tce")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    ax.set_ylim(bottom=0)
    return _png(fig)


def _esc(value) -> str:
    return html.escape(str(value))


def _table(report_name: str, columns: list[str], rows: list[list], shown: list[str]) -> str:
    if not rows:
        return f'<p class="none" data-report="{report_name}" data-rows="0">none</p>'
    idx = [columns.index(c) for c in shown]
    head = "".join(f"<th>{_esc(c)}</th>" for c in shown)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for c, j in zip(shown, idx):
            v = r[j]
            attrs = f' data-col="{c}"'
            if c == "coal_tce":
                attrs += f' data-mgce="{r[columns.index("coal_mgce")]}"'
            if isinstance(v, (int, Decimal)):
                attrs += f' class="num" data-value="{v}"'
                text = f"{v:,}" if isinstance(v, int) else str(v)
            else:
                text = _esc(v)
            if c == "below_90pct" and v:
                attrs += ' class="low"'
            cells.append(f"<td{attrs}>{text}</td>")
        body.append(f'<tr data-row="{i}">{"".join(cells)}</tr>')
    return (f'<table data-report="{report_name}" data-rows="{len(rows)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def render(client: Client, database: str, province: str, month: str) -> tuple[str, dict[str, analyst.Report]]:
    """The HTML text and the reports it shows (for tests and callers that want the numbers too)."""
    reports = {name: analyst.run(client, database, name, month) for name in analyst.QUERIES}
    try:
        name = region(province).name
    except UnknownRegion:
        name = province
    monthly, trend, ranking = reports["monthly"], reports["trend"], reports["ranking"]
    completeness, anomalies = reports["completeness"], reports["anomalies"]

    by_industry: dict[str, int] = defaultdict(int)
    by_energy: dict[str, int] = defaultdict(int)
    for r in monthly.as_dicts():
        by_industry[r["industry_code"]] += r["coal_mgce"]
        by_energy[r["energy_type"]] += r["coal_mgce"]
    month_total = sum(r["coal_mgce"] for r in trend.as_dicts() if r["month"] == month)
    comp = completeness.as_dicts()
    received, expected = sum(r["received"] or 0 for r in comp), sum(r["expected"] for r in comp)
    below = sum(1 for r in comp if r["below_90pct"])
    ratio = (Decimal(received) / Decimal(expected) * 100).quantize(Decimal("0.1")) if expected else Decimal(0)

    charts = []
    if by_industry:
        ind = sorted(by_industry.items(), key=lambda kv: -kv[1])
        charts.append(("industry", _bar([k for k, _ in ind], [v / 1e9 for _, v in ind],
                                        f"{province} {month}: standard coal by industry (GB/T 4754)")))
        en = sorted(by_energy.items(), key=lambda kv: -kv[1])
        charts.append(("energy", _bar([k for k, _ in en], [v / 1e9 for _, v in en],
                                      f"{province} {month}: standard coal by energy type")))
    if trend.rows:
        t = trend.as_dicts()
        charts.append(("trend", _line([r["month"] for r in t], [r["coal_mgce"] / 1e9 for r in t],
                                      f"{province}: standard coal, 13 months")))
    if ranking.rows:
        rk = ranking.as_dicts()[:10]
        charts.append(("ranking", _bar([r["name"] or r["uscc"] for r in rk], [r["coal_mgce"] / 1e9 for r in rk],
                                       "Largest consumers (tce)", horizontal=True)))
    img = {k: f'<img data-chart="{k}" alt="{k} chart" src="{src}">' for k, src in charts}

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_esc(name)} {month}: monthly energy-consumption feedback</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(name)} ({province}): monthly energy-consumption feedback, {month}</h1>",
        f"<p>Calendar month in China Standard Time. Source: ClickHouse database <code>{database}</code>, newest "
        f"version of every aggregate. Generated {generated}.</p>",
        '<table class="summary">',
        f'<tr><th>Standard coal, {month}</th><td class="num" data-summary="total" data-mgce="{month_total}">'
        f"{analyst.tce(month_total)} tce</td></tr>",
        f'<tr><th>Completeness (received / expected intervals)</th><td class="num" data-summary="completeness" '
        f'data-received="{received}" data-expected="{expected}">{ratio} %</td></tr>',
        f'<tr><th>Enterprises below 90 %</th><td class="num" data-summary="below">{below}</td></tr>',
        f'<tr><th>Anomalies</th><td class="num" data-summary="anomalies">{len(anomalies.rows)}</td></tr>',
        "</table>",
        "<h2>Consumption by industry and energy type</h2>",
        img.get("industry", ""), img.get("energy", ""),
        _table("monthly", monthly.columns, monthly.rows,
               ["industry_code", "energy_type", "unit", "physical_milli", "coal_tce", "readings"]),
        "<h2>Trend over 13 months</h2>", img.get("trend", ""),
        _table("trend", trend.columns, trend.rows, ["month", "coal_tce", "readings", "yoy_change_pct"]),
        "<h2>Largest consumers</h2>", img.get("ranking", ""),
        _table("ranking", ranking.columns, ranking.rows, ["uscc", "name", "industry_code", "coal_tce", "readings"]),
        "<h2>Anomalies</h2>",
        _table("anomalies", anomalies.columns, anomalies.rows,
               ["type", "severity", "level", "entity_code", "span_start_utc", "observed", "expected", "detail"]),
        "<h2>Data completeness</h2>",
        _table("completeness", completeness.columns, completeness.rows,
               ["uscc", "name", "industry_code", "received", "expected", "completeness", "below_90pct"]),
        "<h2>Unit-product energy consumption against the quota standards</h2>",
        _table("benchmark", reports["benchmark"].columns, reports["benchmark"].rows,
               ["uscc", "name", "product", "output", "unit", "kgce_per_unit", "limit_kgce_per_unit", "standard",
                "ratio", "verdict"]),
        # Lets a headless browser test see that every embedded chart decoded (naturalWidth > 0).
        "<script>window.addEventListener('load', function () { document.body.dataset.chartsDecoded = "
        "Array.prototype.filter.call(document.images, function (i) { return i.naturalWidth > 0; }).length; });"
        "</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p), reports
