"""`ecmon report`: analysts' reports from ClickHouse.

Every command takes --format (and CSV --bom/--no-bom) and fails with one line naming the fix; the shared pieces
(options, connection, errors, output) are in ecmon_cli/report_output.py for every report command to use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli.common import cli_settings, console, fail
from ecmon_cli.report_output import (
    MISMATCH,
    USAGE,
    BomOpt,
    FormatOpt,
    IndustryOpt,
    MonthOpt,
    ProvinceOpt,
    analyst_client,
    check_format,
    check_month,
    clickhouse_errors,
    database_or_fail,
    emit,
)

report_app = typer.Typer(
    help="Analyst reports from ClickHouse (default: the province x month table and the reconciliation; "
         "exit status 2 on a MISMATCH).",
    invoke_without_command=True,
)


@report_app.callback()
def report(
    ctx: typer.Context,
    reconcile: Annotated[bool, typer.Option(help="Also compare with what the gateways sent.")] = True,
    format: FormatOpt = "table",
) -> None:
    """Print the province x month table from ClickHouse; exit status 2 when the reconciliation finds a MISMATCH."""
    if ctx.invoked_subcommand is not None:
        return
    from ecmon_reports import report as reports
    from ecmon_simulator.ledger import Ledger, ledger_path
    from ecmon_sink.clickhouse import connect, ping

    check_format(format, ("table", "json"))
    settings = cli_settings()
    database = settings.clickhouse_database
    with clickhouse_errors(settings, database):
        client = connect(settings)
        ping(client, settings)
        table = reports.regional_table(client, database)
        totals = reports.province_month_totals(client, database) if format == "json" else {}
        result = None
        if reconcile and ledger_path(settings).exists():
            ledger = Ledger.load(ledger_path(settings))
            result = reports.reconcile(client, database, ledger.by_province_month(), ledger.co2_by_province_month())
    if format == "json":
        from ecmon_reports.analyst import json_value, tce

        rows = [{"province": p, "name": reports._name(p), "month": m, "coal_tce": json_value(tce(mgce)),
                 "coal_mgce": mgce, "readings": n} for (p, m), (mgce, n) in sorted(totals.items())]
        print(json.dumps({"rows": rows, "reconciliation": None if result is None else {
            "exact": result.exact, "line": result.line()}}, ensure_ascii=False, indent=1))
    else:
        console.print(table)
        if result is not None:
            console.print(result.line(), style="bold green" if result.exact else "bold red")
    if result is not None and not result.exact:
        raise typer.Exit(MISMATCH)


def _analyst_report(name: str, month: str, province: str | None, industry: str | None, fmt: str,
                    limit: int = 20, bom: bool = True) -> None:
    from ecmon_reports import analyst

    check_month(month)
    check_format(fmt)
    settings = cli_settings()
    database = database_or_fail(settings, province)
    client = analyst_client(settings, database)
    with clickhouse_errors(settings, database):
        result = analyst.run(client, database, name, month, industry, limit)
    emit(result, fmt, bom)


@report_app.command("monthly")
def report_monthly(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                   format: Annotated[str, typer.Option(
                       "--format", help="table, csv or json; html or pdf write the monthly report (with --out).",
                   )] = "table",
                   bom: BomOpt = True,
                   html: Annotated[Path | None, typer.Option(
                       help="Write the monthly report (self-contained HTML with charts, Chinese) here.",
                   )] = None,
                   pdf: Annotated[Path | None, typer.Option(
                       help="Write the monthly report as PDF here (printed by headless Chromium).",
                   )] = None,
                   out: Annotated[Path | None, typer.Option(help="The file for --format html or pdf.")] = None,
                   ) -> None:
    """Consumption by industry and energy type in one month; with --html/--pdf (or --format html|pdf --out FILE)
    the monthly report of the province (--province) or of the nation (no --province), fit to hand on."""
    if format in ("html", "pdf"):
        if out is None:
            fail(f"--format {format} writes a file: give --out FILE (or use --{format} FILE)", USAGE)
        html, pdf = (out, pdf) if format == "html" else (html, out)
    if html is None and pdf is None:
        _analyst_report("monthly", month, province, industry, format, bom=bom)
        return
    from ecmon_reports.html_report import ChromiumMissing, print_pdf, render

    check_month(month)
    settings = cli_settings()
    database = database_or_fail(settings, province)
    client = analyst_client(settings, database)
    with clickhouse_errors(settings, database):
        text, _reports = render(client, database, province or "", month)
    if html is not None:
        html.write_text(text, encoding="utf-8")
        console.print(f"wrote {html} ({len(text.encode()):,} bytes)")
    if pdf is not None:
        try:
            pages = print_pdf(text, pdf)
        except ChromiumMissing as exc:
            fail(str(exc))
        console.print(f"wrote {pdf} ({pdf.stat().st_size:,} bytes, {pages} pages)")


@report_app.command("trend")
def report_trend(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                 format: FormatOpt = "table", bom: BomOpt = True) -> None:
    """Thirteen months of standard coal per province, with the year-on-year change."""
    _analyst_report("trend", month, province, industry, format, bom=bom)


@report_app.command("ranking")
def report_ranking(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                   format: FormatOpt = "table", bom: BomOpt = True,
                   limit: Annotated[int, typer.Option(help="How many enterprises.")] = 20) -> None:
    """The largest energy consumers of the month."""
    _analyst_report("ranking", month, province, industry, format, limit, bom=bom)


@report_app.command("completeness")
def report_completeness(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                        format: FormatOpt = "table", bom: BomOpt = True) -> None:
    """Received against expected metering intervals of every registered enterprise (threshold 90 %): the
    province's submitted report, or month to date while the month is open (the worker's figures)."""
    _analyst_report("completeness", month, province, industry, format, bom=bom)


@report_app.command("submissions")
def report_submissions(month: MonthOpt = "2026-10", province: ProvinceOpt = None, format: FormatOpt = "table",
                       bom: BomOpt = True) -> None:
    """The provinces' monthly reports to the national level: the submission (and by which rule) and every
    revision, with what changed."""
    _analyst_report("submissions", month, province, None, format, bom=bom)


@report_app.command("feedback")
def report_feedback(month: MonthOpt = "2026-10", province: ProvinceOpt = None, format: FormatOpt = "table",
                    bom: BomOpt = True) -> None:
    """The national level's newest feedback to each province: share, rank, enterprises below 90 %, and whether
    it is provisional (provinces still to report) or final."""
    _analyst_report("feedback", month, province, None, format, bom=bom)


@report_app.command("anomalies")
def report_anomalies(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                     format: FormatOpt = "table", bom: BomOpt = True) -> None:
    """Anomalies the detectors found in the month."""
    _analyst_report("anomalies", month, province, industry, format, bom=bom)


@report_app.command("benchmark")
def report_benchmark(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                     format: FormatOpt = "table", bom: BomOpt = True) -> None:
    """Unit-product energy consumption per enterprise and product against its quota standard (pass/FAIL)."""
    _analyst_report("benchmark", month, province, industry, format, bom=bom)


@report_app.command("coverage")
def report_coverage(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                    format: FormatOpt = "table", bom: BomOpt = True) -> None:
    """The monitoring coverage list: every enterprise's registry records in force in the month or later, each
    with the period it was in force (the history of who is monitored, where, with which meters)."""
    _analyst_report("coverage", month, province, industry, format, bom=bom)


@report_app.command("rejections")
def report_rejections(
    uscc: Annotated[str, typer.Option(
        help="The enterprise (USCC): the report shows its rejections and nobody else's.")],
    since: Annotated[str | None, typer.Option(help="Only rejections from this day on (YYYY-MM-DD, UTC).")] = None,
    format: FormatOpt = "table",
    bom: BomOpt = True,
) -> None:
    """One enterprise's rejected messages, by reason: count, first and last, the newest as an example (vendor
    feedback, interface standard section 10; run by the platform for that enterprise)."""
    from datetime import datetime

    from ecmon.clickhouse_auth import FEEDBACK_USER
    from ecmon_reports.analyst import Report
    from ecmon_reports.rejections import BadUscc, rejections
    from ecmon_sink.clickhouse import connect, ping

    check_format(format)
    try:
        start = datetime.strptime(since, "%Y-%m-%d") if since else None
    except ValueError:
        raise typer.BadParameter(f"{since!r} is not a day such as 2026-11-01", param_hint="--since") from None
    settings = cli_settings()
    database = settings.clickhouse_database
    with clickhouse_errors(settings, database):
        client = connect(settings, user=FEEDBACK_USER, writer=False)
        ping(client, settings)
        try:
            found = rejections(client, database, uscc.strip(), start)
        except BadUscc as exc:
            fail(str(exc), USAGE)
    columns = ["reason", "messages", "first_utc", "last_utc", "example", "example_topic", "example_offset"]
    report = Report(f"Rejected messages of {uscc} (dead letters; reasons: docs/interface-standard.md section 10)",
                    columns, [[r.reason, r.messages, r.first, r.last, r.example, r.example_topic, r.example_offset]
                              for r in found])
    emit(report, format, bom)
    if format == "table" and not found:
        console.print(f"no rejected message of {uscc}")
