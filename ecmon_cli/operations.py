"""`ecmon demo`, `ecmon bench`, `ecmon chaos`: whole runs on a stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ecmon_cli.common import cli_settings, console, fail
from ecmon_cli.gateway import (
    EnterprisesOpt,
    IntervalOpt,
    MonthsOpt,
    ProvincesOpt,
    SeedOpt,
    SpeedOpt,
    StartOpt,
    fleet_run_from_options,
    interval_seconds,
)


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
    targets: Annotated[Path | None, typer.Option(
        help="Targets file for the early warning (default: deploy/demo/targets.toml).")] = None,
    close_days: Annotated[int, typer.Option(
        min=0, help="Days of the next month simulated after the last month, so that it closes: the month is "
        "submitted once every enterprise has passed its end + the grace (72 h); 0: the month stays open.")] = 5,
) -> None:
    """Start everything, simulate a month of a fleet (and a few days of the next, so that it closes), print the
    regional table, the reconciliation, the submitted monthly reports and the national feedback, anomalies and
    alerts."""
    from ecmon_cli.demo import PipelineProcessDied, run_demo
    from ecmon_ops.stack.process import ServiceError
    from ecmon_registry.targets import BadTargets

    run = fleet_run_from_options(enterprises=enterprises, provinces=provinces, start=start, months=months,
                       interval_s=interval_seconds(interval), speed=speed, seed=seed, faults=faults,
                       close_days=close_days)
    try:
        result = run_demo(cli_settings(), run, console, targets=targets)
    except (ServiceError, PipelineProcessDied, BadTargets) as exc:
        fail(str(exc))
    if not result.exact:
        raise typer.Exit(2)


def bench(
    enterprises: Annotated[int, typer.Option(
        help="Enterprises per fleet (200 x 1 month = about 1.4 million readings).")] = 200,
    months: Annotated[int, typer.Option(help="Simulated months per fleet.")] = 1,
    readings: Annotated[int | None, typer.Option(
        help="At least this many readings per fleet: sets --enterprises for --months.")] = None,
    workers: Annotated[int, typer.Option(help="Stream workers sharing the partitions.")] = 1,
    brokers: Annotated[int, typer.Option(help="Kafka brokers (1 or 3).")] = 1,
    latency_rate: Annotated[float, typer.Option(help="Offered load of the latency phase, readings/s.")] = 20_000.0,
    latency_seconds: Annotated[float, typer.Option(help="Duration of the latency phase.")] = 30.0,
    profile: Annotated[int, typer.Option(
        help="Seconds of py-spy sampling of the worker during the end-to-end phase (0: off).")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("bench-results"),
    state_meters: Annotated[int, typer.Option(
        help="Meters the state phase loads into the worker (20,000 enterprises x 50 meters); 0 skips it.")] = 1_000_000,
    state_meters_per_enterprise: Annotated[int, typer.Option(help="Meters per enterprise of the state phase.")] = 50,
    state_readings: Annotated[int, typer.Option(help="15-minute readings per meter in the state phase.")] = 4,
    state_rss_limit_gib: Annotated[float, typer.Option(
        help="The state phase kills the worker(s) and stops when their RSS passes this.")] = 4.0,
    state_timeout: Annotated[float, typer.Option(help="Seconds the state phase may take.")] = 900.0,
    stage_timeout: Annotated[float | None, typer.Option(
        help="Seconds any other stage may wait for the pipeline (default: at least 10 minutes, more for "
             "large loads); past it the run stops, naming the stage and the partitions still behind.")] = None,
) -> None:
    """Benchmark the whole pipeline on a stack of its own (25xxx ports, .ecmon-bench/); see docs/performance.md."""
    from ecmon_ops.bench.run import (
        BenchConfig,
        BenchError,
        StateLoad,
        enterprises_for_readings,
        own_stack_overrides,
        run_benchmark,
        stages_table,
        targets_table,
        write_json,
    )
    from ecmon_ops.stack.process import ServiceError

    if readings is not None:
        enterprises = enterprises_for_readings(readings, months)
    state = None
    if state_meters > 0:
        state = StateLoad(enterprises=-(-state_meters // state_meters_per_enterprise),
                          meters_per_enterprise=state_meters_per_enterprise, readings=state_readings,
                          rss_limit_bytes=int(state_rss_limit_gib * 2**30), timeout_s=state_timeout)
    cfg = BenchConfig(enterprises=enterprises, months=months, workers=workers, brokers=brokers,
                      latency_rate=latency_rate, latency_seconds=latency_seconds, profile_seconds=profile, out_dir=out,
                      state_load=state, stage_timeout_s=stage_timeout)
    try:
        result = run_benchmark(cli_settings(**own_stack_overrides()), cfg, console)
    except (BenchError, ServiceError) as exc:
        fail(str(exc))
    # Wide enough for both tables even when the output goes to a file (rich assumes 80 columns there).
    wide = Console(width=max(console.width, 170))
    wide.print(stages_table(result))
    wide.print(targets_table(result))
    console.print(f"results: {write_json(result, out)}")


def chaos(
    trials: Annotated[int, typer.Option(
        help="Trials of each process kill (gateway, worker, sink); at least 10 in the full run.")] = 10,
    seed: Annotated[int, typer.Option(
        help="Plans every trial (fleet, province, month, moment of the fault): same seed, same run.")] = 1,
    short: Annotated[bool, typer.Option(
        help="One trial of each kind, smaller fleets (the form `make test` runs).")] = False,
    keep_stack: Annotated[bool, typer.Option(help="Leave the suite's stack running afterwards.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("chaos-results"),
) -> None:
    """Fault suite on a stack of its own (.ecmon-chaos/, 14xxx, 3 brokers): kill -9 gateway, worker, sink; stop a
    broker; stop ClickHouse 60 s; after each trial ClickHouse must equal what the gateways sent, exactly
    (docs/chaos.md)."""
    from ecmon_ops.bench.run import write_json
    from ecmon_ops.chaos.run import (
        FULL,
        SHORT,
        ChaosConfig,
        ChaosError,
        all_exact,
        own_stack_overrides,
        results_table,
        run_suite,
    )
    from ecmon_ops.chaos.trials import SuiteShape
    from ecmon_ops.stack.process import ServiceError

    counts = dict(SHORT) if short else {**FULL, "gateway": trials, "worker": trials, "sink": trials}
    shape = SuiteShape(enterprises=6, send_s=8.0) if short else SuiteShape()
    try:
        suite = ChaosConfig(seed=seed, counts=counts, shape=shape, keep_stack=keep_stack)
        result = run_suite(cli_settings(**own_stack_overrides()), suite, console)
    except (ChaosError, ServiceError) as exc:
        fail(str(exc))
    # Wide enough for one line per trial even when the output goes to a file (rich assumes 80 columns there).
    Console(width=max(console.width, 170)).print(results_table(result))
    console.print(f"results: {write_json(result, out, prefix='chaos-')}")
    if not all_exact(result):
        raise typer.Exit(2)
