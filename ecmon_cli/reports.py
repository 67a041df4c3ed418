"""`ecmon report`: analysts' reports from ClickHouse."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli.common import cli_settings, console, fail

report_app = typer.Typer(
    help="Analyst reports from ClickHouse (default: the province x month table and the reconciliation).",
    invoke_without_command=True,
)


@report_app.callback()
def report(
    ctx: typer.Context,
    reconcile: Annotated[bool, typer.Option(help="Also compare with what the gateways sent.")] = True,
) -> None:
    """Print the province x month table from ClickHouse."""
    if ctx.invoked_subcommand is not None:
        return
    from ecmon_reports import report as reports
    from ecmon_simulator.ledger import Ledger, ledger_path
    from ecmon_sink.clickhouse import ClickHouseUnavailable, connect, ping

    settings = cli_settings()
    client = connect(settings)
    try:
        ping(client, settings)
    except ClickHouseUnavailable as exc:
        fail(str(exc))
    console.print(reports.regional_table(client, settings.clickhouse_database))
    if reconcile and ledger_path(settings).exists():
        ledger = Ledger.load(ledger_path(settings))
        result = reports.reconcile(client, settings.clickhouse_database, ledger.by_province_month(),
                                   ledger.co2_by_province_month())
        console.print(result.line(), style="bold green" if result.exact else "bold red")


MonthOpt = Annotated[str, typer.Option(help="Month, YYYY-MM (China Standard Time).")]
ProvinceOpt = Annotated[str | None, typer.Option(help="Province code: read that province's database (ecmon_<code>).")]
IndustryOpt = Annotated[str | None, typer.Option(help="GB/T 4754 industry code to keep.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json.")]


def _analyst_report(name: str, month: str, province: str | None, industry: str | None, fmt: str,
                    limit: int = 20) -> None:
    from ecmon_reports import analyst
    from ecmon_sink.clickhouse import ClickHouseUnavailable, connect, ping
    from ecmon_sink.databases import database_for

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("must be table, csv or json", param_hint="--format")
    settings = cli_settings()
    try:
        database = database_for(settings.clickhouse_database, province)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--province") from None
    client = connect(settings, writer=False)  # analysts are readonly=1: no session settings
    try:
        ping(client, settings)
        result = analyst.run(client, database, name, month, industry, limit)
    except ClickHouseUnavailable as exc:
        fail(str(exc))
    if fmt == "table":
        console.print(result.table())
    else:
        sys.stdout.write(result.csv() if fmt == "csv" else result.json() + "\n")


@report_app.command("monthly")
def report_monthly(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                   format: FormatOpt = "table",
                   html: Annotated[Path | None, typer.Option(
                       help="Write the province's monthly feedback report (self-contained HTML with charts) here.",
                   )] = None) -> None:
    """Consumption by industry and energy type in one month (with --html: the province's monthly report)."""
    if html is None:
        _analyst_report("monthly", month, province, industry, format)
        return
    from ecmon_reports.html_report import render
    from ecmon_sink.clickhouse import ClickHouseUnavailable, connect, ping
    from ecmon_sink.databases import database_for

    if not province:
        raise typer.BadParameter("the HTML monthly report is a province's: give --province", param_hint="--html")
    settings = cli_settings()
    try:
        database = database_for(settings.clickhouse_database, province)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--province") from None
    client = connect(settings, writer=False)
    try:
        ping(client, settings)
    except ClickHouseUnavailable as exc:
        fail(str(exc))
    text, _reports = render(client, database, province, month)
    html.write_text(text, encoding="utf-8")
    console.print(f"wrote {html} ({len(text.encode()):,} bytes)")


@report_app.command("trend")
def report_trend(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                 format: FormatOpt = "table") -> None:
    """Thirteen months of standard coal per province, with the year-on-year change."""
    _analyst_report("trend", month, province, industry, format)


@report_app.command("ranking")
def report_ranking(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                   format: FormatOpt = "table",
                   limit: Annotated[int, typer.Option(help="How many enterprises.")] = 20) -> None:
    """The largest energy consumers of the month."""
    _analyst_report("ranking", month, province, industry, format, limit)


@report_app.command("completeness")
def report_completeness(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                        format: FormatOpt = "table") -> None:
    """Received against expected metering intervals of every registered enterprise (threshold 90 %)."""
    _analyst_report("completeness", month, province, industry, format)


@report_app.command("anomalies")
def report_anomalies(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                     format: FormatOpt = "table") -> None:
    """Anomalies the detectors found in the month."""
    _analyst_report("anomalies", month, province, industry, format)


@report_app.command("benchmark")
def report_benchmark(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                     format: FormatOpt = "table") -> None:
    """Unit-product energy consumption per enterprise and product against its quota standard (pass/FAIL)."""
    _analyst_report("benchmark", month, province, industry, format)
