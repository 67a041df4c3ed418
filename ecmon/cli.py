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
schemas_app = typer.Typer(help="The Avro wire contract in avro/: evolution and release checks.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


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


AvroDirOpt = Annotated[Optional[Path], typer.Option(help="Schema root with v1/, v2/, ... (default: the checkout's avro/).")]


@schemas_app.command("check")
def schemas_check(avro_dir: AvroDirOpt = None) -> None:
    """Fail when a schema is not backward and forward compatible with its previous version, or a released file changed."""
    from ecmon import schema_check

    report = schema_check.check(avro_dir or schema_check.AVRO_DIR)
    table = Table(title=f"Avro schemas ({report.root})")
    for col in ("schema", "version", "fingerprint", "status"):
        table.add_column(col)
    styles = {"released": "green", "unreleased": "yellow"}
    for e in report.entries:
        style = styles.get(e.status, "bold red")
        table.add_row(e.short_name, f"v{e.version}", e.fingerprint or "-", f"[{style}]{e.status}[/]")
    console.print(table)
    if not report.ok:
        for problem in report.problems:
            console.print(f"  [red]-[/] {problem}", highlight=False)
        _fail(f"{len(report.problems)} problem(s) in the wire contract")
    console.print("every schema is backward and forward compatible with its previous version; released files unchanged")


@schemas_app.command("release")
def schemas_release(avro_dir: AvroDirOpt = None) -> None:
    """Record the sha256 of the newest version's files in released.json: from now on they never change."""
    from ecmon import schema_check

    root = avro_dir or schema_check.AVRO_DIR
    try:
        released = schema_check.release(root)
    except schema_check.ReleaseRefused as exc:
        _fail(str(exc))
    table = Table(title=f"released ({root / schema_check.MANIFEST})")
    for col in ("file", "sha256", ""):
        table.add_column(col)
    for r in released:
        table.add_row(r.relpath, r.sha256, "[green]recorded[/]" if r.new else "already released")
    console.print(table)


EnterprisesOpt = Annotated[int, typer.Option(help="Simulated enterprises.")]
ProvincesOpt = Annotated[str, typer.Option(help="GB/T 2260 province codes, comma-separated.")]
StartOpt = Annotated[str, typer.Option(help="First simulated month (YYYY-MM, China Standard Time).")]
MonthsOpt = Annotated[int, typer.Option(help="Simulated months.")]
IntervalOpt = Annotated[str, typer.Option(help="Metering interval: 15m, 5m, 1h, 900s (a bare number is minutes).")]
SpeedOpt = Annotated[float, typer.Option(help="Simulated seconds per real second; 0 = as fast as possible.")]
SeedOpt = Annotated[int, typer.Option(help="Seed: the same seed gives the same fleet and readings.")]


gateway_app = typer.Typer(
    help="Enterprise gateways: simulate a fleet (default), replay CSV files, plot the industry profiles, benchmark.",
    invoke_without_command=True,
)
app.add_typer(gateway_app, name="gateway")


def _interval_seconds(text: str) -> int:
    """'15m', '15' (minutes), '1h', '900s' -> seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text) * 60
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an interval such as 15m, 1h or 900s") from None


def _gateway_run(provinces: str, faults: str = "", **kw):
    """The FleetRun the options describe; a bad fault plan is a usage error naming --faults."""
    from producers.faults import BadFaultSpec, FaultPlan
    from producers.gateway import FleetRun

    try:
        FaultPlan.parse(faults)
    except BadFaultSpec as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    provinces_codes = tuple(p.strip() for p in provinces.split(","))
    return FleetRun(provinces=provinces_codes, faults=faults, **{k: v for k, v in kw.items() if v is not None})


def _finish_ledger(settings, ledger) -> None:
    from ecmon.demo import ledger_path

    ledger.save(ledger_path(settings))
    console.print(f"sent {sum(v[2] for v in ledger.totals.values()):,} readings in {len(ledger.batch_ids):,} batches "
                  f"(all runs); ledger: {ledger_path(settings)}")


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    enterprises: EnterprisesOpt = 36,
    provinces: ProvincesOpt = "210000,310000,370000",
    start: StartOpt = "2026-10",
    months: MonthsOpt = 1,
    interval: IntervalOpt = "15m",
    speed: SpeedOpt = 0.0,
    seed: SeedOpt = 2026,
    meters_per_enterprise: Annotated[Optional[int], typer.Option(help="Meters per enterprise (default: the industry profile's).")] = None,
    batch_intervals: Annotated[int, typer.Option(help="Metering intervals per batch (24 x 15 min = 6 h).")] = 24,
    enterprise: Annotated[Optional[int], typer.Option(help="Run only this enterprise's gateway (1-based index in the fleet).")] = None,
    cumulative: Annotated[bool, typer.Option(help="Meters report cumulative registers (the worker must accept CUMULATIVE).")] = False,
    faults: Annotated[str, typer.Option(help="Fault plan, comma-separated KIND@METER_GLOB=RATE (glob and rate optional), e.g. spike=0.01,duplicate; see docs/gateways.md. Opt-in.")] = "",
    spool: Annotated[bool, typer.Option(help="Deliver through the durable disk spool (resumes after a crash).")] = True,
    spool_limit_mb: Annotated[int, typer.Option(help="Spool size limit; when full the gateway waits, never drops.")] = 512,
    metrics_port: Annotated[Optional[int], typer.Option(help="Port of /metrics (default: the next free gateway port).")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Simulate a fleet of enterprise gateways (or one, with --enterprise) sending to Kafka."""
    if ctx.invoked_subcommand is not None:
        return
    from ecmon.demo import ledger_path
    from ecmon.observability import serve_metrics
    from producers.delivery import DeliveryFailed
    from producers.gateway import run_fleet
    from producers.ledger import Ledger

    run = _gateway_run(
        enterprises=enterprises, provinces=provinces, start=start, months=months,
        interval_s=_interval_seconds(interval), speed=speed, seed=seed, meters_per_enterprise=meters_per_enterprise,
        intervals_per_batch=batch_intervals, only_enterprise=enterprise, cumulative=cumulative, faults=faults,
        spool=spool, spool_limit_bytes=spool_limit_mb * 2**20,
    )
    if enterprise is not None:
        if not 1 <= enterprise <= enterprises:
            raise typer.BadParameter(f"must be between 1 and {enterprises}", param_hint="--enterprise")
        from dataclasses import replace

        run = replace(run, spool_name=run.fleet()[0].gateway_id)
    settings = _settings()
    serve_metrics(settings, "gateway", metrics_port)
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    try:
        run_fleet(settings, run, ledger, show_progress=progress)
    except DeliveryFailed as exc:
        ledger.save(ledger_path(settings))
        _fail(str(exc))
    _finish_ledger(settings, ledger)


@gateway_app.command("replay")
def gateway_replay(
    paths: Annotated[list[Path], typer.Argument(help="CSV files or folders of CSV files.", exists=True)],
    config: Annotated[Path, typer.Option(help="Mapping config (TOML): columns, time format, meters -> energy type and unit.", exists=True)] = Path("producers/replay-nab.toml"),
    speed: SpeedOpt = 0.0,
    spool: Annotated[bool, typer.Option(help="Deliver through the durable disk spool.")] = True,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Replay recorded meter data from CSV files as one enterprise's gateway."""
    from ecmon.demo import ledger_path
    from producers.csv_replay import ReplayConfig, ReplayError, run_replay
    from producers.delivery import DeliveryFailed
    from producers.ledger import Ledger

    settings = _settings()
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    try:
        cfg = ReplayConfig.load(config)
        run_replay(settings, cfg, paths, ledger, speed=speed, spool=spool, show_progress=progress)
    except (ReplayError, DeliveryFailed) as exc:
        _fail(str(exc))
    _finish_ledger(settings, ledger)


@gateway_app.command("plot-profiles")
def gateway_plot_profiles(
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")] = Path("docs/img"),
    week_of: Annotated[str, typer.Option(help="First day of the plotted week (YYYY-MM-DD, CST).")] = "2026-10-12",
    seed: SeedOpt = 2026,
) -> None:
    """Write one PNG per industry profile: a week of 15-minute readings of each of its meters."""
    from producers.plots import plot_profiles

    for path in plot_profiles(out, week_of, seed):
        console.print(f"wrote {path}")


@gateway_app.command("bench")
def gateway_bench(
    enterprises: EnterprisesOpt = 200,
    months: MonthsOpt = 1,
    spool: Annotated[bool, typer.Option(help="Measure through the disk spool too.")] = False,
) -> None:
    """Measure the fleet simulator's sending rate (readings/s) against the stack's Kafka."""
    from producers.bench import run_bench

    result = run_bench(_settings(), enterprises=enterprises, months=months, spool=spool)
    console.print(result.line())


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


targets_app = typer.Typer(help="Energy-consumption targets of provinces and quotas of enterprises.",
                          no_args_is_help=True)
app.add_typer(targets_app, name="targets")


@targets_app.command("publish")
def targets_publish(
    path: Annotated[Path, typer.Argument(help="Targets file (TOML, one [[target]] per target; see docs/anomalies.md).")],
) -> None:
    """Publish targets to the compacted targets topic; the worker's early warning uses them at once."""
    from producers.targets import BadTargets, load_targets, publish_targets

    settings = _settings()
    try:
        records = load_targets(path)
    except BadTargets as exc:
        _fail(str(exc))
    from ecmon.kafka_clients import client_config

    count = publish_targets(client_config(settings, "registry"), records)
    console.print(f"published {count} target(s) to {settings.bootstrap_servers}")


report_app = typer.Typer(
    help="Analyst reports from ClickHouse (default: the province x month table and the reconciliation).",
    invoke_without_command=True,
)
app.add_typer(report_app, name="report")


@report_app.callback()
def report(
    ctx: typer.Context,
    reconcile: Annotated[bool, typer.Option(help="Also compare with what the gateways sent.")] = True,
) -> None:
    """Print the province x month table from ClickHouse."""
    if ctx.invoked_subcommand is not None:
        return
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


MonthOpt = Annotated[str, typer.Option(help="Month, YYYY-MM (China Standard Time).")]
ProvinceOpt = Annotated[Optional[str], typer.Option(help="Province code: read that province's database (ecmon_<code>).")]
IndustryOpt = Annotated[Optional[str], typer.Option(help="GB/T 4754 industry code to keep.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json.")]


def _analyst_report(name: str, month: str, province: Optional[str], industry: Optional[str], fmt: str,
                    limit: int = 20) -> None:
    from sinks import analyst
    from sinks.clickhouse import ClickHouseUnavailable, connect, ping
    from sinks.databases import database_for

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("must be table, csv or json", param_hint="--format")
    settings = _settings()
    try:
        database = database_for(settings.clickhouse_database, province)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--province") from None
    client = connect(settings, writer=False)  # analysts are readonly=1: no session settings
    try:
        ping(client, settings)
        result = analyst.run(client, database, name, month, industry, limit)
    except ClickHouseUnavailable as exc:
        _fail(str(exc))
    if fmt == "table":
        console.print(result.table())
    else:
        sys.stdout.write(result.csv() if fmt == "csv" else result.json() + "\n")


@report_app.command("monthly")
def report_monthly(month: MonthOpt = "2026-10", province: ProvinceOpt = None, industry: IndustryOpt = None,
                   format: FormatOpt = "table",
                   html: Annotated[Optional[Path], typer.Option(help="Write the province's monthly feedback report "
                                                                      "(self-contained HTML with charts) here.")] = None) -> None:
    """Consumption by industry and energy type in one month (with --html: the province's monthly report)."""
    if html is None:
        _analyst_report("monthly", month, province, industry, format)
        return
    from sinks.clickhouse import ClickHouseUnavailable, connect, ping
    from sinks.databases import database_for
    from sinks.html_report import render

    if not province:
        raise typer.BadParameter("the HTML monthly report is a province's: give --province", param_hint="--html")
    settings = _settings()
    try:
        database = database_for(settings.clickhouse_database, province)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--province") from None
    client = connect(settings, writer=False)
    try:
        ping(client, settings)
    except ClickHouseUnavailable as exc:
        _fail(str(exc))
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


eval_app = typer.Typer(help="Evaluations of the detectors against labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
_NAB_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nab"


@eval_app.command("anomalies")
def eval_anomalies(
    data: Annotated[Path, typer.Option(help="Folder laid out like NAB's data/: <corpus>/<series>.csv.")] = _NAB_DIR,
    labels: Annotated[Optional[Path], typer.Option(help="NAB-style windows file (default: DATA/combined_windows.json).")] = None,
    results: Annotated[Optional[Path], typer.Option(help="Where the NAB results files go (default: <state dir>/nab-results).")] = None,
    fleet: Annotated[bool, typer.Option(help="Also inject every reading fault into a simulated fleet.")] = True,
    fleet_seed: Annotated[Optional[int], typer.Option(
        help="Seed of the simulated fleet, its plants and its faults (default: the documented fleet's).")] = None,
    fleet_enterprises: Annotated[Optional[int], typer.Option(
        min=2, help="Enterprises in the simulated fleet (default: the documented fleet's).")] = None,
) -> None:
    """The meter-level detector's NAB score (standard profile), window precision/recall/F1/delay, and fleet recall/precision."""
    import json

    from rich.progress import Progress

    from streams import anomaly_eval as ev

    labels = labels or data / "combined_windows.json"
    if not labels.exists():
        raise typer.BadParameter(f"{labels} does not exist", param_hint="--labels")
    results = results or _settings().state_dir / "nab-results"
    keys = [k for k in json.loads(labels.read_text()) if (data / k).exists()]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("NAB series", total=len(keys))
        report = ev.evaluate_nab(data, labels, results, on_series=lambda key: progress.advance(task))
    for table in ev.nab_tables(report):
        console.print(table)
    console.print(f"results files: {results / ev.DETECTOR_NAME}")
    if fleet:
        with Progress(console=console, transient=True) as progress:
            enterprises = fleet_enterprises or ev.FLEET_ENTERPRISES
            task = progress.add_task("simulated fleet", total=enterprises)
            fleet_report = ev.simulate_fleet(enterprises, seed=ev.FLEET_SEED if fleet_seed is None else fleet_seed,
                                             on_enterprise=lambda: progress.advance(task))
        console.print(ev.fleet_table(fleet_report))


@app.command()
def demo(
    enterprises: EnterprisesOpt = 36,
    provinces: ProvincesOpt = "210000,310000,370000",
    start: StartOpt = "2026-10",
    months: MonthsOpt = 1,
    interval: IntervalOpt = "15m",
    speed: SpeedOpt = 0.0,
    seed: SeedOpt = 2026,
    faults: Annotated[str, typer.Option(help="Faults to inject (see `ecmon gateway --help`); '' for none.")] = (
        "corrupt,duplicate,spike,drop,stuck,silence"
    ),
    targets: Annotated[Optional[Path], typer.Option(help="Targets file for the early warning (default: deploy/demo/targets.toml).")] = None,
) -> None:
    """Start everything, simulate a month of a fleet, print the regional table, the reconciliation, anomalies and alerts."""
    from deploy.stack.process import ServiceError
    from ecmon.demo import PipelineProcessDied, run_demo
    from producers.targets import BadTargets

    run = _gateway_run(enterprises=enterprises, provinces=provinces, start=start, months=months,
                       interval_s=_interval_seconds(interval), speed=speed, seed=seed, faults=faults)
    try:
        result = run_demo(_settings(), run, console, targets=targets)
    except (ServiceError, PipelineProcessDied, BadTargets) as exc:
        _fail(str(exc))
    if not result.exact:
        raise typer.Exit(2)


@app.command()
def bench(
    enterprises: Annotated[int, typer.Option(help="Enterprises per fleet (200 x 1 month = about 1.4 million readings).")] = 200,
    months: Annotated[int, typer.Option(help="Simulated months per fleet.")] = 1,
    readings: Annotated[Optional[int], typer.Option(help="At least this many readings per fleet: sets --enterprises for --months.")] = None,
    workers: Annotated[int, typer.Option(help="Stream workers sharing the partitions.")] = 1,
    brokers: Annotated[int, typer.Option(help="Kafka brokers (1 or 3).")] = 1,
    latency_rate: Annotated[float, typer.Option(help="Offered load of the latency phase, readings/s.")] = 20_000.0,
    latency_seconds: Annotated[float, typer.Option(help="Duration of the latency phase.")] = 30.0,
    profile: Annotated[int, typer.Option(help="Seconds of py-spy sampling of the worker during the end-to-end phase (0: off).")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("bench-results"),
) -> None:
    """Benchmark the whole pipeline on a stack of its own (25xxx ports, .ecmon-bench/); see docs/performance.md."""
    from deploy.bench.run import BenchConfig, BenchError, apply_defaults, enterprises_for_readings, report_table, run_benchmark, write_json
    from deploy.stack.process import ServiceError

    apply_defaults()
    if readings is not None:
        enterprises = enterprises_for_readings(readings, months)
    cfg = BenchConfig(enterprises=enterprises, months=months, workers=workers, brokers=brokers,
                      latency_rate=latency_rate, latency_seconds=latency_seconds, profile_seconds=profile, out_dir=out)
    try:
        result = run_benchmark(_settings(), cfg, console)
    except (BenchError, ServiceError) as exc:
        _fail(str(exc))
    console.print(report_table(result))
    console.print(f"results: {write_json(result, out)}")


@app.command()
def chaos(
    trials: Annotated[int, typer.Option(help="Trials of each process kill (gateway, worker, sink); at least 10 in the full run.")] = 10,
    seed: Annotated[int, typer.Option(help="Plans every trial (fleet, province, month, moment of the fault): same seed, same run.")] = 1,
    short: Annotated[bool, typer.Option(help="One trial of each kind, smaller fleets (the form `make test` runs).")] = False,
    keep_stack: Annotated[bool, typer.Option(help="Leave the suite's stack running afterwards.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("chaos-results"),
) -> None:
    """Fault suite on a stack of its own (.ecmon-chaos/, 14xxx, 3 brokers): kill -9 gateway, worker, sink; stop a
    broker; stop ClickHouse 60 s; after each trial ClickHouse must equal what the gateways sent, exactly (docs/chaos.md)."""
    from deploy.bench.run import write_json
    from deploy.chaos.run import FULL, SHORT, ChaosConfig, ChaosError, all_exact, apply_defaults, results_table, run_suite
    from deploy.chaos.trials import SuiteShape
    from deploy.stack.process import ServiceError

    apply_defaults()
    counts = dict(SHORT) if short else {**FULL, "gateway": trials, "worker": trials, "sink": trials}
    shape = SuiteShape(enterprises=6, send_s=8.0) if short else SuiteShape()
    try:
        result = run_suite(_settings(), ChaosConfig(seed=seed, counts=counts, shape=shape, keep_stack=keep_stack), console)
    except (ChaosError, ServiceError) as exc:
        _fail(str(exc))
    # Wide enough for one line per trial even when the output goes to a file (rich assumes 80 columns there).
    Console(width=max(console.width, 170)).print(results_table(result))
    console.print(f"results: {write_json(result, out, prefix='chaos-')}")
    if not all_exact(result):
        raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
