"""The benchmark run: its own stack, a fleet load, each stage timed, the latency phase, memory; one report.

Phases (one run, one stack, see docs/performance.md):

1. gateway   the fleet (seed LOAD_SEED) is sent as fast as Kafka acknowledges; nothing consumes yet.
2. baseline  a plain confluent-kafka consumer reads the same batches and decodes them with fastavro.
3. worker    the worker starts after the data is in Kafka; timed until its group has committed the end
             offsets of ecmon.readings.v1 (and then of its internal topics, before the sink starts).
4. sink      the sink starts on the finished aggregates; timed until ClickHouse reconciles exactly.
5. e2e       a second fleet of the same size (seed E2E_SEED) with worker and sink running: from the start
             of the gateway run until ClickHouse reconciles exactly (both fleets).
6. latency   a third fleet paced at a fixed offered load (see ecmon_ops.bench.latency).
7. memory    peak RSS (VmHWM) of worker(s) and sink, and the worker's state size per meter.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from rich.console import Console, JustifyMethod
from rich.table import Table

from ecmon import PROJECT_ROOT, codec, topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_ops.bench import machine, profile, signature_cost
from ecmon_ops.bench.figures import deep_sizeof, enterprises_for, rate
from ecmon_ops.bench.kafka_probe import OffsetProbe, read_topic, topic_disk_bytes
from ecmon_ops.bench.latency import measure_latency
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import app_process, ensure_running
from ecmon_reports.report import reconcile
from ecmon_simulator.bench import run_bench
from ecmon_simulator.fleet import build_fleet
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

LOAD_SEED, E2E_SEED, LATENCY_SEED = 201, 202, 203  # distinct fleets: USCCs and batch ids differ by seed
# Its own state directory and ports (25xxx), so it never touches a demo or test stack.
DEFAULTS = {"ECMON_STATE_DIR": str(PROJECT_ROOT / ".ecmon-bench"), "ECMON_KAFKA_PORT": "25092",
            "ECMON_CLICKHOUSE_PORT": "25000", "ECMON_CLICKHOUSE_HTTP_PORT": "25123",
            "ECMON_PROMETHEUS_PORT": "25090", "ECMON_ALERTMANAGER_PORT": "25190", "ECMON_METRICS_PORT_BASE": "25200"}
PROTECTED = (PROJECT_ROOT / ".ecmon", PROJECT_ROOT / ".ecmon-test")


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class BenchConfig:
    enterprises: int = 200
    months: int = 1
    workers: int = 1
    brokers: int = 1
    latency_rate: float = 20_000.0
    latency_seconds: float = 30.0
    poll_s: float = 0.1
    profile_seconds: int = 0  # > 0: py-spy the worker during the e2e phase
    out_dir: Path = field(default=PROJECT_ROOT / "bench-results")

    def fleet_run(self, seed: int) -> FleetRun:
        return FleetRun(enterprises=self.enterprises, months=self.months, seed=seed)


def own_stack_overrides() -> dict[str, str]:
    """The benchmark's own state dir and ports, as settings, for every ECMON_* variable the caller did not set."""
    return {key.removeprefix("ECMON_").lower(): value for key, value in DEFAULTS.items() if key not in os.environ}


def enterprises_for_readings(readings: int, months: int) -> int:
    run = FleetRun(months=months)
    intervals = (run.end_ms - run.start_ms) // (run.interval_s * 1000)
    upper = readings // intervals + 1  # every enterprise has at least one meter
    fleet = build_fleet(upper, run.provinces, LOAD_SEED)
    return enterprises_for(readings, (len(e.meters) for e in fleet), intervals)



def _fresh_state(settings: Settings) -> None:
    state = settings.state_dir.resolve()
    if state in PROTECTED:
        raise BenchError(f"the benchmark wipes its state directory; {state} belongs to the demo or test stack. "
                         "Use a directory of its own (default .ecmon-bench, `make bench`).")
    stack.down(settings)  # leftovers of an interrupted benchmark in its own directory
    for name in ("run", "logs", "clickhouse", "gateways", "prometheus", "alertmanager"):
        shutil.rmtree(state / name, ignore_errors=True)
    for path in state.glob("kafka-*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


def _alive(settings: Settings, names: list[str]) -> None:
    for name in names:
        role, _, index = name.rpartition("-")
        proc = app_process(settings, role, int(index))
        if proc.pid() is None:
            raise BenchError(f"{name} died. Log: {proc.log_path}\n{proc.log_tail(25)}")


def _wait(check, timeout: float, what: str, settings: Settings, apps: list[str], interval: float = 0.25) -> float:
    """Poll ``check`` until true; returns the time.monotonic() at which it was first seen true."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not done within {timeout:.0f}s")
        _alive(settings, apps)
        time.sleep(interval)


def _caught_up(probe: OffsetProbe, topic: str) -> bool:
    ends = probe.end_offsets(topic)
    committed = probe.committed(topic)
    return all(committed.get(p, 0) >= end for p, end in ends.items())


def _count_readings(state: dict) -> Callable[[bytes | None, bytes | None], None]:
    def count(_key, value) -> None:
        _, batch = codec.decode(value, expected="reading_batch")
        state["readings"] += len(batch["readings"])
    return count


STATE_TABLES = ("enterprise-state", "meter-detectors")  # the worker's per-enterprise tables, both in memory


def _latest_values(connection: Mapping[str, Any], topic: str) -> dict[bytes, bytes]:
    """The newest value of each key of a compacted topic (a tombstone removes its key)."""
    latest: dict[bytes, bytes] = {}

    def keep(key, value) -> None:
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value

    read_topic(connection, topic, keep)
    return latest


def _state_size(settings: Settings, cfg: BenchConfig) -> dict:
    """The newest value of each enterprise in each of the worker's per-enterprise tables, per meter."""
    meters_of = {e.uscc: len(e.meters) for seed in (LOAD_SEED, E2E_SEED, LATENCY_SEED)
                 for e in cfg.fleet_run(seed).fleet()}
    tables = {}
    for table in STATE_TABLES:
        topic = f"{settings.worker_app_id}-{table}-changelog"
        latest = _latest_values(client_config(settings, "admin"), topic)
        # enterprise-state also holds the reading identities, one value per "<uscc>|<meter>|<day>"
        # (streams/ecmon_worker/reading_identity.py): shown as their own line, "meters" counted once, by the state
        parts = {table: {k: v for k, v in latest.items() if "|" not in json.loads(k)},
                 "reading-identities": {k: v for k, v in latest.items() if "|" in json.loads(k)}}
        for name, values in parts.items():
            if name == "reading-identities" and table != "enterprise-state":
                continue
            tables[name] = {"enterprises": len({json.loads(k).split("|")[0] for k in values}),
                            "values": len(values), "json_bytes": sum(len(v) for v in values.values()),
                            "python_bytes": sum(deep_sizeof(json.loads(v)) for v in values.values()),
                            "changelog_disk_bytes": topic_disk_bytes(settings.state_dir, topic)
                            if name == table else 0,
                            "meters": sum(meters_of.get(k, 0)
                                          for k in {json.loads(k).split("|")[0] for k in values})}
    # Per meter of the enterprises each table holds: the detectors are checkpointed at most every 10 s, so
    # in a short run some enterprises have no detector value in the changelog yet.
    per_meter = {k: sum(_per_meter(t, k) for t in tables.values())
                 for k in ("json_bytes", "python_bytes", "changelog_disk_bytes")}
    return {"enterprises": tables["enterprise-state"]["enterprises"], "meters": tables["enterprise-state"]["meters"],
            "tables": tables, **{f"{k}_per_meter": v for k, v in per_meter.items()}}


def _per_meter(table: dict, key: str) -> float:
    return table[key] / table["meters"] if table["meters"] else 0.0


def run_benchmark(settings: Settings, cfg: BenchConfig, console: Console) -> dict:
    settings = settings.model_copy(update={"brokers": cfg.brokers})
    say = console.print
    _fresh_state(settings)
    only = [f"kafka-{i + 1}" for i in range(cfg.brokers)] + ["clickhouse"]
    result: dict = {"started": datetime.now().isoformat(timespec="seconds"), "machine": machine.describe(),
                    "config": {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()}}
    workers = [f"worker-{i + 1}" for i in range(cfg.workers)]
    try:
        say(f"starting {', '.join(only)} in {settings.state_dir}")
        stack.up(settings, only=only, on_progress=lambda m: say(f"  {m}"))
        migrate.migrate(settings)
        ledger = Ledger(settings.electricity_method)
        probe = OffsetProbe(client_config(settings, "admin"), settings.worker_app_id)

        say(f"1/7 gateway: {cfg.enterprises} enterprises x {cfg.months} month(s), nothing consuming")
        gw = run_bench(settings, cfg.enterprises, cfg.months, seed=LOAD_SEED, ledger=ledger)
        say(f"  {gw.line()}")
        result["load"] = {"readings": gw.readings, "batches": gw.batches}
        result["gateway"] = {"readings": gw.readings, "seconds": gw.seconds, "readings_per_s": gw.readings_per_s}

        say("2/7 baseline: confluent-kafka consumer + fastavro decode of the same batches")
        counted = {"readings": 0}
        base = read_topic(client_config(settings, "admin"), topics.READINGS.name, _count_readings(counted))
        if counted["readings"] != gw.readings:
            raise BenchError(f"baseline read {counted['readings']:,} readings, the gateway sent {gw.readings:,}")
        baseline = rate(gw.readings, base.seconds)
        result["baseline"] = {"readings": gw.readings, "batches": base.messages, "seconds": base.seconds,
                              "readings_per_s": baseline}
        say(f"  {baseline:,.0f} readings/s ({base.seconds:.2f} s)")

        say(f"3/7 worker: {cfg.workers} worker(s) start on the full topic")
        started = time.monotonic()
        for i in range(cfg.workers):
            ensure_running(settings, "worker", i + 1)
        first: list[tuple[float, int]] = []  # (when, batches committed) at the first commit seen

        def worker_done() -> bool:
            committed = sum(probe.committed(topics.READINGS.name).values())
            if committed and not first:
                first.append((time.monotonic(), committed))
            return _caught_up(probe, topics.READINGS.name)

        done = _wait(worker_done, max(600.0, gw.readings / 500), "worker", settings, workers)
        # The regional rollups finish before the sink starts, so the sink phase times only the sink.
        rollups_done = _wait(lambda: _caught_up(probe, topics.ENTERPRISE_TOTALS.name)
                             and _caught_up(probe, topics.PROVINCE_TOTALS.name), 600, "regional rollups",
                             settings, workers)
        # Readings between the first commit and the end over that time: the rate without start-up.
        first_at, first_batches = first[0] if first else (started, 0)
        after_first = gw.readings * (1 - first_batches / max(1, base.messages))
        result["worker"] = {
            "workers": cfg.workers, "seconds": done - started, "readings_per_s": rate(gw.readings, done - started),
            "startup_to_first_commit_s": first_at - started,
            # when the first commit seen already covers everything (a tiny load), the whole span is all there is
            "steady_readings_per_s": rate(after_first, done - first_at) if after_first > 0
            else rate(gw.readings, done - started),
            "regional_rollups_done_s": rollups_done - started,
        }
        say(f"  {result['worker']['readings_per_s']:,.0f} readings/s incl. start-up ({done - started:.1f} s); "
            f"{result['worker']['steady_readings_per_s']:,.0f}/s after the first commit")

        say("4/7 sink: starts on the finished aggregates")
        client = connect(settings)
        sent = ledger.by_province_month()
        started = time.monotonic()
        ensure_running(settings, "sink")
        done = _wait(lambda: reconcile(client, settings.clickhouse_database, sent).exact,
                     max(600.0, gw.readings / 500), "sink", settings, [*workers, "sink-1"])
        rows = {"rows": 0}
        read_topic(client_config(settings, "admin"), topics.AGGREGATES.name,
                   lambda _k, v: rows.__setitem__("rows", rows["rows"] + len(codec.decode(v)[1]["aggregates"])))
        result["sink"] = {"rows": rows["rows"], "seconds": done - started,
                          "rows_per_s": rate(rows["rows"], done - started),
                          "readings_per_s": rate(gw.readings, done - started)}
        say(f"  {rows['rows']:,} aggregate rows in {done - started:.1f} s = {result['sink']['rows_per_s']:,.0f} rows/s")

        say("5/7 end to end: a second fleet of the same size with worker and sink running")
        spy = None
        spy_out = cfg.out_dir / f"{datetime.now():%Y%m%dT%H%M%S}-worker-py-spy.txt"
        if cfg.profile_seconds:
            cfg.out_dir.mkdir(parents=True, exist_ok=True)
            worker_pid = app_process(settings, "worker").pid()  # None only if worker-1 has died: no profile
            spy = profile.start(worker_pid, spy_out, cfg.profile_seconds) if worker_pid is not None else None
        started = time.monotonic()
        gw2 = run_bench(settings, cfg.enterprises, cfg.months, seed=E2E_SEED, ledger=ledger)
        sent = ledger.by_province_month()
        done = _wait(lambda: reconcile(client, settings.clickhouse_database, sent).exact,
                     max(900.0, gw2.readings / 300), "end to end", settings, [*workers, "sink-1"])
        result["e2e"] = {"readings": gw2.readings, "seconds": done - started,
                         "readings_per_s": rate(gw2.readings, done - started),
                         "gateway_readings_per_s": gw2.readings_per_s, "exact": True}
        say(f"  {result['e2e']['readings_per_s']:,.0f} readings/s ({done - started:.1f} s); reconciliation exact")
        if spy is not None:
            spy.wait(timeout=cfg.profile_seconds + 60)
            if spy_out.exists():
                collapsed = spy_out.read_text()
                result["worker_profile"] = {"file": str(spy_out), "seconds": cfg.profile_seconds, "top_self": [
                    {"function": f, "self": s, "inclusive": i} for f, s, i in profile.top_functions(collapsed)],
                    "top_project_inclusive": [{"function": f, "self": s, "inclusive": i} for f, s, i in
                                              profile.top_functions(collapsed, only=("streams/", "ecmon/"))]}

        say(f"6/7 latency: {cfg.latency_rate:,.0f} readings/s offered for {cfg.latency_seconds:.0f} s")
        lat = measure_latency(settings, cfg.fleet_run(LATENCY_SEED), cfg.latency_rate, cfg.latency_seconds, cfg.poll_s)
        result["latency"] = lat.as_dict()
        say(f"  p50 {lat.p50_s or float('nan'):.2f} s, p99 {lat.p99_s or float('nan'):.2f} s "
            f"({lat.visible:,}/{lat.batches:,} batches seen)")

        say("7/7 memory and state")
        result["memory"] = {
            "worker_peak_rss_bytes": [machine.peak_rss(app_process(settings, "worker", i + 1).pid() or 0)
                                      for i in range(cfg.workers)],
            "sink_peak_rss_bytes": machine.peak_rss(app_process(settings, "sink").pid() or 0),
            "bench_gateway_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
        result["state"] = _state_size(settings, cfg)
        result["signature"] = signature_cost.measure()  # the worker's Ed25519 check, per batch, in-process
        probe.close()
    finally:
        say("stopping what the benchmark started")
        stack.down(settings)
    result["ratios_to_baseline"] = {
        "e2e": result["e2e"]["readings_per_s"] / baseline,
        "worker": result["worker"]["readings_per_s"] / baseline,
        "worker_steady": result["worker"]["steady_readings_per_s"] / baseline,
        "sink": result["sink"]["readings_per_s"] / baseline,
        "gateway": result["gateway"]["readings_per_s"] / baseline,
    }
    result["targets"] = targets(result)
    return result


def targets(result: dict) -> list[dict]:
    """The issue's targets against this run's figures."""
    worker_rss = max(result["memory"]["worker_peak_rss_bytes"] or [0])
    state = result["state"]
    rss_1m = worker_rss + state["python_bytes_per_meter"] * (1_000_000 - state["meters"])
    p99 = result["latency"]["p99_s"]
    return [
        {"target": "end-to-end >= 50 % of baseline", "figure": f"{result['ratios_to_baseline']['e2e']:.1%}",
         "met": result["ratios_to_baseline"]["e2e"] >= 0.5},
        {"target": "one worker >= 100,000 readings/s", "figure": f"{result['worker']['steady_readings_per_s']:,.0f}/s",
         "met": result["worker"]["steady_readings_per_s"] >= 100_000},
        {"target": f"p99 latency <= 2 s at {result['latency']['offered_per_s']:,.0f}/s offered",
         "figure": "no batch seen" if p99 is None else f"{p99:.2f} s",
         "met": p99 is not None and p99 <= 2.0 and result["latency"]["visible"] == result["latency"]["batches"]},
        {"target": "worker RSS <= 1 GiB at 1,000,000 meters (estimate)", "figure": f"{rss_1m / 2**30:.2f} GiB",
         "met": rss_1m <= 2**30},
    ]


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report_table(result: dict) -> Table:
    base = result["baseline"]["readings_per_s"]
    table = Table(title=f"ecmon bench: {result['load']['readings']:,} readings, {result['machine']['nproc']} cores, "
                        f"{result['machine']['cpu_model']}")
    for col, justify in (("stage", "left"), ("figure", "right"), ("vs baseline", "right"), ("note", "left")):
        table.add_column(col, justify=cast(JustifyMethod, justify))

    def row(stage: str, per_s: float, how: str, unit: str = "readings/s") -> None:
        table.add_row(stage, f"{per_s:,.0f} {unit}", f"{per_s / base:.1%}", how)

    row("baseline consumer", base, "plain consumer + fastavro decode")
    row("gateway", result["gateway"]["readings_per_s"], "until Kafka acked all")
    w = result["worker"]
    row("worker", w["readings_per_s"], f"{w['seconds']:.1f} s incl. start-up")
    row("worker (steady)", w["steady_readings_per_s"], "after its first commit")
    s = result["sink"]
    row("sink", s["readings_per_s"], f"{s['rows_per_s']:,.0f} rows/s")
    e = result["e2e"]
    row("end to end", e["readings_per_s"], f"{e['seconds']:.1f} s, 2nd fleet")
    lat = result["latency"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    table.add_section()
    table.add_row("latency p50 / p99", f"{fmt(lat['p50_s'])} / {fmt(lat['p99_s'])}", "",
                  f"{lat['achieved_per_s']:,.0f}/s, {lat['visible']:,}/{lat['batches']:,} seen")
    sig = result.get("signature")
    if sig:
        table.add_row("signature check / batch", f"{sig['check_us_per_batch']:,.0f} µs", "",
                      f"Ed25519 verify {sig['verify_us_per_batch']:,.0f} µs of it; {sig['readings']}-reading batch")
    mem, st = result["memory"], result["state"]
    table.add_row("peak RSS worker / sink", f"{' + '.join(_mib(b) for b in mem['worker_peak_rss_bytes'])} / "
                  f"{_mib(mem['sink_peak_rss_bytes'])}", "", "VmHWM")
    table.add_row("worker state / meter", f"{st['json_bytes_per_meter']:,.0f} B JSON", "",
                  f"{st['python_bytes_per_meter']:,.0f} B in Python; JSON: enterprise "
                  f"{_per_meter(st['tables']['enterprise-state'], 'json_bytes'):,.0f} + identities "
                  f"{_per_meter(st['tables'].get('reading-identities', {'meters': 0}), 'json_bytes'):,.0f} + detectors "
                  f"{_per_meter(st['tables']['meter-detectors'], 'json_bytes'):,.0f}")
    table.add_section()
    for t in result["targets"]:
        table.add_row(t["target"], t["figure"], "[green]met[/]" if t["met"] else "[red]not met[/]", "")
    return table


def write_json(result: dict, out_dir: Path, prefix: str = "") -> Path:
    """A run's results as ``<out_dir>/<prefix><time>.json`` (also the fault suite's)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{prefix}{datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path
