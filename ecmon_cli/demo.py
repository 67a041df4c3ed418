"""`ecmon demo`: the main job, end to end on the real stack, with an exact reconciliation."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecmon import PROJECT_ROOT
from ecmon.kafka_clients import client_config
from ecmon.months import next_period
from ecmon.settings import Settings
from ecmon_ops.stack import stack
from ecmon_ops.stack.alerts import wait_for_alert, wait_until_scraped
from ecmon_ops.stack.apps import app_process, ensure_running
from ecmon_registry.targets import load_targets, publish_targets
from ecmon_reports import analyst
from ecmon_reports.report import Reconciliation, reconcile, regional_table
from ecmon_simulator.ledger import Ledger, ledger_path
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

DEMO_TARGETS = PROJECT_ROOT / "deploy" / "demo" / "targets.toml"


def _show_anomalies(settings: Settings, month: str, console: Console, timeout: float = 30.0) -> int:
    """The detectors' findings as an analyst sees them: counts by type, and the regional early warnings."""
    client = connect(settings)
    deadline = time.monotonic() + timeout
    seen, steady = -1, 0
    while True:  # until the sink has written the last events: the same count three polls in a row
        rows = analyst.run(client, settings.clickhouse_database, "anomalies", month, limit=100_000).as_dicts()
        steady = steady + 1 if len(rows) == seen else 0
        seen = len(rows)
        if steady >= 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    counts: dict[tuple[str, str, str], int] = {}
    for r in rows:
        key = (r["level"], r["type"], r["severity"])
        counts[key] = counts.get(key, 0) + 1
    summary = Table(title=f"Anomalies found in {month} (details: `ecmon report anomalies --month {month}`)")
    for col in ("level", "type", "severity", "events"):
        summary.add_column(col, justify="right" if col == "events" else "left")
    for (level, kind, severity), n in sorted(counts.items()):
        summary.add_row(level, kind, severity, str(n))
    console.print(summary)
    warnings = Table(title="Regional early warnings (level changes of the month-end forecast against the target)")
    for col in ("province", "severity", "forecast (tce)", "target (tce)", "detail"):
        warnings.add_column(col, overflow="fold")
    for r in rows:
        if r["type"].startswith("early_warning"):
            warnings.add_row(r["entity_code"], r["severity"], f"{r['observed']:,.0f}", f"{r['expected']:,.0f}",
                             r["detail"])
    console.print(warnings)
    return len(rows)


def closed_months(run: FleetRun) -> list[str]:
    """The months the run closes: every whole month simulated when the run goes on into the next one."""
    if run.close_days <= 0:
        return []
    months, period = [], run.start
    for _ in range(run.months):
        months.append(period)
        period = next_period(period)
    return months


def wait_for_month_close(settings: Settings, month: str, provinces: tuple[str, ...], timeout: float = 60.0
                         ) -> tuple[analyst.Report, analyst.Report]:
    """Poll ClickHouse until every province's report of ``month`` is submitted and its feedback is final."""
    client = connect(settings)
    deadline = time.monotonic() + timeout
    while True:
        submitted = analyst.run(client, settings.clickhouse_database, "submissions", month)
        answered = analyst.run(client, settings.clickhouse_database, "feedback", month)
        got = {r["province"] for r in submitted.as_dicts()}
        final = {r["province"] for r in answered.as_dicts() if r["status"] == "final"}
        if (got >= set(provinces) and final >= set(provinces)) or time.monotonic() > deadline:
            return submitted, answered
        time.sleep(1.0)


def show_month_close(settings: Settings, month: str, provinces: tuple[str, ...], console: Console) -> None:
    """The provinces' monthly reports to the national level and the national feedback, as tables."""
    submitted, answered = wait_for_month_close(settings, month, provinces)
    table = Table(title=f"{month}: monthly reports submitted to the national level "
                        f"(`ecmon report submissions --month {month}`)")
    for col in ("province", "version", "rule", "revision", "total (tce)", "completeness", "consistent",
                "what changed"):
        table.add_column(col, justify="right" if col in ("version", "total (tce)", "completeness") else "left",
                         overflow="fold")
    for r in submitted.as_dicts():
        table.add_row(r["province"], str(r["report_version"]), r["rule"], "yes" if r["is_revision"] else "",
                      f"{r['coal_tce']:,}", f"{r['month_completeness_pct']} %",
                      "yes" if r["daily_monthly_consistent"] else "NO", r["what_changed"])
    console.print(table)
    table = Table(title=f"{month}: national feedback (`ecmon report feedback --month {month}`)")
    for col in ("province", "version", "status", "total (tce)", "national (tce)", "share", "rank",
                "completeness", "enterprises below 90 %"):
        table.add_column(col, justify="left" if col in ("province", "status", "enterprises below 90 %") else "right",
                         overflow="fold")
    for r in answered.as_dicts():
        table.add_row(r["province"], str(r["feedback_version"]), r["status"], f"{r['coal_tce']:,}",
                      f"{r['nation_coal_tce']:,}", f"{r['national_share_pct']} %",
                      f"{r['rank']} of {r['reported']}", f"{r['month_completeness_pct']} %",
                      r["below_90pct"] or "none")
    console.print(table)
    missing = set(provinces) - {r["province"] for r in submitted.as_dicts()}
    if missing:
        console.print(f"{month} was not submitted by {', '.join(sorted(missing))} within 60 s", style="bold red")


class PipelineProcessDied(RuntimeError):
    pass


def _check_alive(settings: Settings) -> None:
    for role in ("worker", "sink"):
        proc = app_process(settings, role)
        if proc.pid() is None:
            raise PipelineProcessDied(f"{proc.name} is not running. Log: {proc.log_path}\n{proc.log_tail(25)}")


def wait_for_reconciliation(settings: Settings, ledger: Ledger, timeout: float, console: Console,
                            show_progress: bool = True, watch_processes: bool = True) -> Reconciliation:
    """Poll ClickHouse until it holds exactly what the gateways sent (or the timeout passes)."""
    client = connect(settings)
    sent = ledger.by_province_month()
    sent_co2 = ledger.co2_by_province_month()
    expected = sum(v[1] for v in sent.values())
    deadline = time.monotonic() + timeout
    columns = [TextColumn("[bold]ClickHouse[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("readings"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        task = progress.add_task("sink", total=expected)
        while True:
            result = reconcile(client, settings.clickhouse_database, sent, sent_co2)
            progress.update(task, completed=min(sum(v[1] for v in result.province_level.values()),
                                                 sum(v[1] for v in result.enterprise_level.values())))
            if result.exact or time.monotonic() > deadline:
                return result
            if watch_processes:
                _check_alive(settings)
            time.sleep(1.0)


DEMO_ALERT = "UnreadableInputArriving"


def _show_alerts(settings: Settings, console: Console) -> None:
    """The injected faults must reach an operator: Prometheus raises the alert, Alertmanager holds it."""
    console.print(f"waiting for Prometheus to raise {DEMO_ALERT} from the injected corrupt batches")
    alerts = wait_for_alert(settings, DEMO_ALERT, timeout=90)
    table = Table(title=f"Alerts in Alertmanager (http://{settings.host}:{settings.alertmanager_port})")
    for col in ("alert", "severity", "labels", "summary"):
        table.add_column(col)
    for a in alerts:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("alertname", "severity"))
        table.add_row(a.name, a.severity, extra, a.summary)
    console.print(table)
    if not any(a.name == DEMO_ALERT for a in alerts):
        console.print(f"{DEMO_ALERT} did not reach Alertmanager within 90 s", style="bold red")


def write_monthly_reports(settings: Settings, month: str, province: str, console: Console) -> list[Path]:
    """The month's report of one province and of the nation, as HTML and PDF, fit to hand on."""
    from ecmon_reports.html_report import ChromiumMissing, print_pdf, render
    from ecmon_sink.databases import database_for

    out_dir = settings.state_dir / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    client = connect(settings, writer=False)
    written = []
    for scope in (province, ""):
        text, _reports = render(client, database_for(settings.clickhouse_database, scope or None), scope, month)
        html = out_dir / f"{month}-{scope or 'national'}.html"
        html.write_text(text, encoding="utf-8")
        written.append(html)
        try:
            pages = print_pdf(text, html.with_suffix(".pdf"))
            written.append(html.with_suffix(".pdf"))
            console.print(f"    monthly report {scope or 'national'}: {html} and {html.with_suffix('.pdf').name} "
                          f"({pages} pages)")
        except ChromiumMissing as exc:
            console.print(f"    monthly report {scope or 'national'}: {html} (no PDF: {exc})", style="yellow")
    return written


def run_demo(settings: Settings, run: FleetRun, console: Console, timeout: float = 240.0,
             targets: Path | None = None) -> Reconciliation:
    console.rule("[bold]ecmon demo")
    console.print(f"1/5 starting the local stack in {settings.state_dir}")
    stack.up(settings, on_progress=lambda m: console.print(f"    {m}"))
    console.print("2/5 applying ClickHouse migrations")
    for m in migrate.migrate(settings):
        console.print(f"    applied {m.path.name}")
    console.print("3/5 starting the stream worker and the ClickHouse sink")
    for role in ("worker", "sink"):
        proc = ensure_running(settings, role)
        console.print(f"    {proc.name}: pid {proc.pid()}, log {proc.log_path}")
    if run.faults and not wait_until_scraped(settings, "worker", app_process(settings, "worker").pid() or 0):
        console.print("    Prometheus has not scraped the worker yet; alerts may come late", style="yellow")
    console.print(
        f"4/5 simulating {run.enterprises} enterprises in {', '.join(run.provinces)} for {run.months} month(s) "
        f"from {run.start}" + (f" and {run.close_days} days into the next, so that it closes" if run.close_days else "")
        + " (15-minute readings, time accelerated)"
    )
    published = publish_targets(client_config(settings, "registry"), load_targets(targets or DEMO_TARGETS))
    console.print(f"    published {published} provincial energy-consumption target(s) for the early warning")
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    run_fleet(settings, run, ledger)
    ledger.save(ledger_path(settings))
    console.print("5/5 waiting until ClickHouse holds everything the gateways sent")
    result = wait_for_reconciliation(settings, ledger, timeout, console)
    console.print(regional_table(connect(settings), settings.clickhouse_database))
    console.print(result.line(), style="bold green" if result.exact else "bold red")
    for month in closed_months(run):
        show_month_close(settings, month, run.provinces, console)
        write_monthly_reports(settings, month, run.provinces[-1], console)
    _show_anomalies(settings, run.start, console)
    if run.faults:
        _show_alerts(settings, console)
    console.print(
        "The stack keeps running: query ClickHouse (passwords: `ecmon db password <user>`), open Prometheus at "
        f"http://{settings.host}:{settings.prometheus_port} (user ecmon-operator, password in "
        f"{settings.web_secrets_path}). Stop everything with `make down` "
        "(or `ecmon stack down`)."
    )
    return result
