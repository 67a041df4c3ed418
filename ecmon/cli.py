"""`ecmon`: the one command line in front of the whole platform."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
app = typer.Typer(help="ecmon: national industrial energy-conservation monitoring platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack: Kafka, ClickHouse, Prometheus, Alertmanager.", no_args_is_help=True)
db_app = typer.Typer(help="ClickHouse schema migrations.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")


def _settings(**overrides):
    from ecmon.settings import get_settings

    settings = get_settings()
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None}) if overrides else settings


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


@app.callback()
def main_options(
    state_dir: Annotated[Optional[Path], typer.Option(help="State directory (default .ecmon/, env ECMON_STATE_DIR).")] = None,
) -> None:
    if state_dir is not None:
        os.environ["ECMON_STATE_DIR"] = str(state_dir.resolve())


@stack_app.command("up")
def stack_up(brokers: Annotated[Optional[int], typer.Option(help="Kafka brokers (1 or 3).")] = None) -> None:
    """Start every server of the local stack (harmless when already running)."""
    from deploy.stack import stack
    from deploy.stack.process import ServiceError

    settings = _settings(brokers=brokers)
    try:
        stack.up(settings, on_progress=lambda m: console.print(f"  {m}"))
    except ServiceError as exc:
        _fail(str(exc))
    _print_status(settings)


@stack_app.command("down")
def stack_down() -> None:
    """Stop exactly the processes the stack started, cleanly."""
    from deploy.stack import stack

    stopped = stack.down(_settings(), on_progress=lambda m: console.print(f"  {m}"))
    console.print(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@stack_app.command("status")
def stack_status() -> None:
    """Each service with its port, pid and health; exits 1 when any is not healthy."""
    settings = _settings()
    if not _print_status(settings):
        raise typer.Exit(1)


def _print_status(settings) -> bool:
    from deploy.stack import stack
    from deploy.stack.apps import running_apps

    table = Table(title=f"ecmon stack ({settings.state_dir})")
    for col in ("service", "port", "pid", "health", "log"):
        table.add_column(col)
    all_ok = True
    for st in stack.status(settings):
        health = "[green]healthy[/]" if st.healthy else ("[red]unhealthy[/]" if st.pid else "[red]stopped[/]")
        all_ok &= st.healthy
        table.add_row(st.name, str(st.port), str(st.pid or "-"), health, st.log)
    for proc in running_apps(settings):
        table.add_row(proc.name, "-", str(proc.pid()), "[green]running[/]", str(proc.log_path))
    console.print(table)
    return all_ok


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the ClickHouse migrations that are not applied yet."""
    from sinks import migrate
    from sinks.clickhouse import ClickHouseUnavailable

    try:
        done = migrate.migrate(_settings())
    except (ClickHouseUnavailable, migrate.MigrationEdited) as exc:
        _fail(str(exc))
    for m in done:
        console.print(f"applied {m.path.name}")
    console.print("schema is up to date")


@db_app.command("status")
def db_status() -> None:
    """Which migrations are applied."""
    from sinks import migrate
    from sinks.clickhouse import ClickHouseUnavailable

    try:
        rows = migrate.status(_settings())
    except ClickHouseUnavailable as exc:
        _fail(str(exc))
    table = Table(title="ClickHouse migrations")
    table.add_column("version")
    table.add_column("file")
    table.add_column("applied")
    for m, done in rows:
        table.add_row(f"{m.version:04d}", m.path.name, "yes" if done else "[yellow]no[/]")
    console.print(table)


def _fleet_run(enterprises, provinces, start, months, interval_minutes, speed, seed):
    from producers.gateway import FleetRun

    return FleetRun(
        enterprises=enterprises,
        provinces=tuple(p.strip() for p in provinces.split(",")),
        start=start,
        months=months,
        interval_s=interval_minutes * 60,
        speed=speed,
        seed=seed,
    )


EnterprisesOpt = Annotated[int, typer.Option(help="Simulated enterprises.")]
ProvincesOpt = Annotated[str, typer.Option(help="GB/T 2260 province codes, comma-separated.")]
StartOpt = Annotated[str, typer.Option(help="First simulated month (YYYY-MM, China Standard Time).")]
MonthsOpt = Annotated[int, typer.Option(help="Simulated months.")]
IntervalOpt = Annotated[int, typer.Option(help="Metering interval in minutes.")]
SpeedOpt = Annotated[float, typer.Option(help="Simulated seconds per real second; 0 = as fast as possible.")]
SeedOpt = Annotated[int, typer.Option(help="Seed: the same seed gives the same fleet and readings.")]


@app.command()
def gateway(
    enterprises: EnterprisesOpt = 36,
    provinces: ProvincesOpt = "210000,310000,370000",
    start: StartOpt = "2026-10",
    months: MonthsOpt = 1,
    interval: IntervalOpt = 15,
    speed: SpeedOpt = 0.0,
    seed: SeedOpt = 2026,
) -> None:
    """Simulate a fleet of enterprise gateways sending to Kafka."""
    from ecmon.demo import ledger_path
    from ecmon.observability import serve_metrics
    from producers.delivery import DeliveryFailed
    from producers.gateway import run_fleet
    from producers.ledger import Ledger

    settings = _settings()
    serve_metrics(settings, "gateway")
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    try:
        run_fleet(settings, _fleet_run(enterprises, provinces, start, months, interval, speed, seed), ledger)
    except DeliveryFailed as exc:
        _fail(str(exc))
    ledger.save(ledger_path(settings))
    console.print(f"sent {sum(v[2] for v in ledger.totals.values()):,} readings in {len(ledger.batch_ids):,} batches "
                  f"(all runs); ledger: {ledger_path(settings)}")


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="Log level.")] = "INFO") -> None:
    """Run one Faust stream worker (start more to share the partitions)."""
    from streams.app import run_worker

    sys.argv = [sys.argv[0]]  # Faust's worker reads sys.argv; it must not see ours
    run_worker(_settings(), loglevel=loglevel)


@app.command()
def sink() -> None:
    """Run one ClickHouse sink (consumes the output topics, writes ClickHouse)."""
    import logging

    from ecmon.observability import serve_metrics
    from sinks.writer import ClickHouseSink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings()
    serve_metrics(settings, "sink")
    ClickHouseSink(settings).run()


@app.command()
def report(reconcile: Annotated[bool, typer.Option(help="Also compare with what the gateways sent.")] = True) -> None:
    """Print the province x month table from ClickHouse."""
    from ecmon.demo import ledger_path
    from producers.ledger import Ledger
    from sinks import report as reports
    from sinks.clickhouse import ClickHouseUnavailable, connect, ping

    settings = _settings()
    client = connect(settings)
    try:
        ping(client, settings)
    except ClickHouseUnavailable as exc:
        _fail(str(exc))
    console.print(reports.regional_table(client, settings.clickhouse_database))
    if reconcile and ledger_path(settings).exists():
        sent = Ledger.load(ledger_path(settings)).by_province_month()
        result = reports.reconcile(client, settings.clickhouse_database, sent)
        console.print(result.line(), style="bold green" if result.exact else "bold red")


@app.command()
def demo(
    enterprises: EnterprisesOpt = 36,
    provinces: ProvincesOpt = "210000,310000,370000",
    start: StartOpt = "2026-10",
    months: MonthsOpt = 1,
    interval: IntervalOpt = 15,
    speed: SpeedOpt = 0.0,
    seed: SeedOpt = 2026,
) -> None:
    """Start everything, simulate a month of a fleet, print the regional table and the reconciliation."""
    from deploy.stack.process import ServiceError
    from ecmon.demo import PipelineProcessDied, run_demo

    try:
        result = run_demo(_settings(), _fleet_run(enterprises, provinces, start, months, interval, speed, seed), console)
    except (ServiceError, PipelineProcessDied) as exc:
        _fail(str(exc))
    if not result.exact:
        raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
