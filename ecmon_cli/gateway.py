"""`ecmon gateway`: simulated gateways, CSV replay, profile plots, the gateway benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli.common import cli_settings, console, fail

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


def interval_seconds(text: str) -> int:
    """'15m', '15' (minutes), '1h', '900s' -> seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text) * 60
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an interval such as 15m, 1h or 900s") from None


def fleet_run_from_options(provinces: str, faults: str = "", **kw):
    """The FleetRun the options describe; a bad fault plan is a usage error naming --faults."""
    from ecmon_simulator.faults import BadFaultSpec, FaultPlan
    from ecmon_simulator.runs import FleetRun

    try:
        FaultPlan.parse(faults)
    except BadFaultSpec as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    provinces_codes = tuple(p.strip() for p in provinces.split(","))
    return FleetRun(provinces=provinces_codes, faults=faults, **{k: v for k, v in kw.items() if v is not None})


def _finish_ledger(settings, ledger) -> None:
    from ecmon_simulator.ledger import ledger_path

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
    meters_per_enterprise: Annotated[int | None, typer.Option(
        help="Meters per enterprise (default: the industry profile's).")] = None,
    batch_intervals: Annotated[int, typer.Option(help="Metering intervals per batch (24 x 15 min = 6 h).")] = 24,
    enterprise: Annotated[int | None, typer.Option(
        help="Run only this enterprise's gateway (1-based index in the fleet).")] = None,
    cumulative: Annotated[bool, typer.Option(
        help="Meters report cumulative registers (the worker must accept CUMULATIVE).")] = False,
    faults: Annotated[str, typer.Option(
        help="Fault plan, comma-separated KIND@METER_GLOB=RATE (glob and rate optional), e.g. "
             "spike=0.01,duplicate; see docs/gateways.md. Opt-in.")] = "",
    spool: Annotated[bool, typer.Option(help="Deliver through the durable disk spool (resumes after a crash).")] = True,
    spool_limit_mb: Annotated[int, typer.Option(
        help="Spool size limit; when full the gateway waits, never drops.")] = 512,
    metrics_port: Annotated[int | None, typer.Option(
        help="Port of /metrics (default: the next free gateway port).")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    feedback_wait: Annotated[float, typer.Option(
        help="Seconds to watch the platform's dead letters for this run's batches coming back as duplicate_batch "
             "(a reused sequence); 0 skips the check.")] = 30.0,
) -> None:
    """Simulate a fleet of enterprise gateways (or one, with --enterprise) sending to Kafka."""
    if ctx.invoked_subcommand is not None:
        return
    from ecmon.observability import serve_metrics
    from ecmon_gateway.delivery import DeliveryFailed
    from ecmon_simulator.ledger import Ledger, ledger_path
    from ecmon_simulator.runs import run_fleet

    run = fleet_run_from_options(
        enterprises=enterprises, provinces=provinces, start=start, months=months,
        interval_s=interval_seconds(interval), speed=speed, seed=seed, meters_per_enterprise=meters_per_enterprise,
        intervals_per_batch=batch_intervals, only_enterprise=enterprise, cumulative=cumulative, faults=faults,
        spool=spool, spool_limit_bytes=spool_limit_mb * 2**20,
    )
    if enterprise is not None:
        if not 1 <= enterprise <= enterprises:
            raise typer.BadParameter(f"must be between 1 and {enterprises}", param_hint="--enterprise")
        from dataclasses import replace

        run = replace(run, spool_name=run.fleet()[0].gateway_id)
    settings = cli_settings()
    serve_metrics(settings, "gateway", metrics_port)
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    started = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=2)
    try:
        run_fleet(settings, run, ledger, show_progress=progress)
    except DeliveryFailed as exc:
        ledger.save(ledger_path(settings))
        fail(str(exc))
    _finish_ledger(settings, ledger)
    if feedback_wait > 0:
        _check_duplicates(settings, run, started, feedback_wait)


def _check_duplicates(settings, run, started, wait_s: float) -> None:
    """Kafka's acknowledgement says the broker has a batch, not that the platform counted it: watch the dead
    letters for this run's batches answered ``duplicate_batch`` that the platform never counted (not a resend
    of a counted batch: the spool after a crash, a copy the fault plan sent on purpose), and fail loudly
    (exit 3) when there are any: their readings did not count."""
    import time

    from ecmon.clickhouse_auth import FEEDBACK_USER
    from ecmon_reports.rejections import duplicate_batches, uncounted
    from ecmon_sink.clickhouse import ClickHouseUnavailable, connect

    fleet = run.fleet()
    database = settings.clickhouse_database
    deadline = time.monotonic() + wait_s
    reused: list = []
    suspects: set = set()
    try:
        client = connect(settings, user=FEEDBACK_USER, writer=False)
        while True:
            found = uncounted(client, database, duplicate_batches(client, database, [e.uscc for e in fleet], started))
            # uncounted twice in a row: the sink may write a batch's readings a moment after a resend's dead letter
            reused = [d for d in found if d in suspects]
            suspects = set(found)
            if reused or time.monotonic() > deadline:
                break
            time.sleep(2)
    except ClickHouseUnavailable as exc:
        console.print(f"[yellow]warning:[/] could not read the platform's dead letters to confirm this run "
                      f"counted ({exc})", soft_wrap=True)
        return
    if not reused:
        console.print(f"no batch of this run came back as duplicate_batch within {wait_s:.0f} s")
        return
    first = reused[0]
    console.print(
        f"[bold red]DUPLICATE SEQUENCES:[/] the platform answered {len(reused):,} batch(es) of this run with "
        f"duplicate_batch (e.g. gateway {first.gateway_id} sequence {first.sequence}): their readings were NOT "
        "counted although Kafka acknowledged them. The gateway's sequence counter "
        f"({settings.state_dir}/gateways/sequences.sqlite) is behind what the platform has applied: never reset "
        "it; give a reinstalled gateway a new gateway_id (interface standard, section 9). See `ecmon report "
        f"rejections --uscc {fleet[0].uscc}`.", soft_wrap=True)
    raise typer.Exit(3)


@gateway_app.command("replay")
def gateway_replay(
    paths: Annotated[list[Path], typer.Argument(help="CSV files or folders of CSV files.", exists=True)],
    config: Annotated[Path, typer.Option(
        help="Mapping config (TOML): columns, time format, meters -> energy type and unit.", exists=True,
    )] = Path("producers/ecmon_simulator/replay-nab.toml"),
    speed: SpeedOpt = 0.0,
    spool: Annotated[bool, typer.Option(help="Deliver through the durable disk spool.")] = True,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Replay recorded meter data from CSV files as one enterprise's gateway."""
    from ecmon_gateway.delivery import DeliveryFailed
    from ecmon_simulator.csv_replay import ReplayConfig, ReplayError, run_replay
    from ecmon_simulator.ledger import Ledger, ledger_path

    settings = cli_settings()
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    try:
        cfg = ReplayConfig.load(config)
        run_replay(settings, cfg, paths, ledger, speed=speed, spool=spool, show_progress=progress)
    except (ReplayError, DeliveryFailed) as exc:
        fail(str(exc))
    _finish_ledger(settings, ledger)


@gateway_app.command("plot-profiles")
def gateway_plot_profiles(
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")] = Path("docs/img"),
    week_of: Annotated[str, typer.Option(help="First day of the plotted week (YYYY-MM-DD, CST).")] = "2026-10-12",
    seed: SeedOpt = 2026,
) -> None:
    """Write one PNG per industry profile: a week of 15-minute readings of each of its meters."""
    from ecmon_simulator.plots import plot_profiles

    for path in plot_profiles(out, week_of, seed):
        console.print(f"wrote {path}")


@gateway_app.command("bench")
def gateway_bench(
    enterprises: EnterprisesOpt = 200,
    months: MonthsOpt = 1,
    spool: Annotated[bool, typer.Option(help="Measure through the disk spool too.")] = False,
) -> None:
    """Measure the fleet simulator's sending rate (readings/s) against the stack's Kafka."""
    from ecmon_simulator.bench import run_bench

    result = run_bench(cli_settings(), enterprises=enterprises, months=months, spool=spool)
    console.print(result.line())
