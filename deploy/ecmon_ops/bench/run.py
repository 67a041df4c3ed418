"""The benchmark run: its own stack, a fleet load, each stage timed, the latency phase, memory; one report.

Phases (one run, one stack, see docs/performance.md):

1. gateway   the fleet (seed LOAD_SEED) is sent as fast as Kafka acknowledges; nothing consumes yet.
2. baseline  a plain confluent-kafka consumer reads the same batches and decodes them with fastavro.
3. worker    the worker starts after the data is in Kafka; timed until its group has committed the end
             offsets of ecmon.readings.v1 (and then of its internal topics, before the sink starts).
4. sink      the sink starts on the finished aggregates; timed until ClickHouse reconciles exactly.
5. bare      the bare-job Faust app (ecmon_ops.bench.bare_faust) on the same topic, its own group, alone.
6. drain     worker and sink stopped, a fleet (DRAIN_SEED) pre-loaded, both started: until ClickHouse
             reconciles exactly, timed from the worker's first commit (and from the restart).
7. e2e       a fleet of the same size (seed E2E_SEED) with worker and sink running: from the start
             of the gateway run until ClickHouse reconciles exactly (all fleets).
8. latency   a fleet paced at a fixed offered load (see ecmon_ops.bench.latency).
9. memory    peak RSS (VmHWM) of worker(s) and sink, and the worker's state size per meter.
10. state    many meters loaded into the running worker, its RSS measured (ecmon_ops.bench.state_phase);
             last, because past its memory limit it kills the worker.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console

from ecmon import PROJECT_ROOT, codec, topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_ops.bench import bare_faust, machine, profile, signature_cost
from ecmon_ops.bench.figures import enterprises_for, rate
from ecmon_ops.bench.kafka_probe import OffsetProbe, read_topic
from ecmon_ops.bench.latency import measure_latency
from ecmon_ops.bench.report import stages_table, targets, targets_table
from ecmon_ops.bench.spread import worker_shares
from ecmon_ops.bench.state_phase import StateLoad, measure_state
from ecmon_ops.bench.state_size import state_size
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import app_process, ensure_running
from ecmon_ops.stack.process import ManagedProcess
from ecmon_reports.report import reconcile
from ecmon_simulator.bench import run_bench
from ecmon_simulator.fleet import build_fleet
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

__all__ = ["BenchConfig", "BenchError", "StateLoad", "run_benchmark", "stages_table", "targets_table", "write_json"]

LOAD_SEED, E2E_SEED, LATENCY_SEED, DRAIN_SEED = 201, 202, 203, 204  # distinct fleets: USCCs and batch ids differ
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
    state_load: StateLoad | None = field(default_factory=StateLoad)  # None: no state phase
    out_dir: Path = field(default=PROJECT_ROOT / "bench-results")
    stage_timeout_s: float | None = None  # None: each stage's own limit, scaled to the load

    def fleet_run(self, seed: int) -> FleetRun:
        return FleetRun(enterprises=self.enterprises, months=self.months, seed=seed)

    def limit(self, scaled: float) -> float:
        """How long a stage may wait: ``scaled`` (its limit for the load) unless a stage timeout is set."""
        return scaled if self.stage_timeout_s is None else self.stage_timeout_s


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


def _wait_exact(check, timeout: float, what: str, settings: Settings, apps: list[str], probe: OffsetProbe) -> float:
    """``_wait`` for ClickHouse to reconcile; a timeout names the worker's partitions still behind."""
    try:
        return _wait(check, timeout, what, settings, apps)
    except BenchError as exc:
        raise BenchError(f"{exc} (ClickHouse not exact); {_behind(probe, topics.READINGS.name)}") from exc


def _behind(probe: OffsetProbe, topic: str) -> str:
    """Which partitions of ``topic`` the probe's group has not committed to their end, for an error message."""
    ends, committed = probe.end_offsets(topic), probe.committed(topic)
    behind = {p: f"{committed.get(p, 0)}/{end}" for p, end in ends.items() if committed.get(p, 0) < end}
    return f"{topic} committed/end behind on partitions {behind}" if behind else f"{topic} fully committed"


def _caught_up(probe: OffsetProbe, topic: str) -> bool:
    ends = probe.end_offsets(topic)
    committed = probe.committed(topic)
    return all(committed.get(p, 0) >= end for p, end in ends.items())


def _count_readings(state: dict) -> Callable[[bytes | None, bytes | None], None]:
    def count(_key, value) -> None:
        _, batch = codec.decode(value, expected="reading_batch")
        state["readings"] += len(batch["readings"])
    return count


def _timed_consumer(probe: OffsetProbe, batches: int, readings: int, started: float, settings: Settings,
                    apps: list[str], what: str, timeout: float, topic: str = topics.READINGS.name) -> dict:
    """Wait until ``probe``'s group has committed ``topic`` to its end; the rate with and without start-up.

    ``batches`` and ``readings`` are what the group has to work through (what it had committed before the
    phase is subtracted), so "steady" counts the readings between its first commit seen and the end."""
    before = sum(probe.committed(topic).values())
    first: list[tuple[float, int]] = []  # (when, batches committed in this phase) at the first commit seen

    def done() -> bool:
        committed = sum(probe.committed(topic).values()) - before
        if committed > 0 and not first:
            first.append((time.monotonic(), committed))
        return _caught_up(probe, topic)

    try:
        end = _wait(done, timeout, what, settings, apps)
    except BenchError as exc:
        raise BenchError(f"{exc}; {_behind(probe, topic)}") from exc
    first_at, first_batches = first[0] if first else (started, 0)
    after_first = readings * (1 - first_batches / max(1, batches))
    return {"seconds": end - started, "readings_per_s": rate(readings, end - started),
            "startup_to_first_commit_s": first_at - started, "done_at": end,
            # when the first commit seen already covers everything (a tiny load), the whole span is all there is
            "steady_readings_per_s": rate(after_first, end - first_at) if after_first > 0
            else rate(readings, end - started)}


def _bare_process(settings: Settings) -> ManagedProcess:
    return ManagedProcess(name="bench-bare-faust", command=[sys.executable, "-m", "ecmon_ops.bench.bare_faust",
                                                            str(settings.state_dir)],
                          run_dir=settings.run_dir, log_path=settings.log_dir / "bench-bare-faust.log",
                          marker=str(settings.state_dir), env=settings.process_env())


def _bare_faust(settings: Settings, batches: int, readings: int, apps: list[str], timeout: float) -> dict:
    """The bare job (ecmon_ops.bench.bare_faust) on the same topic, its own group, alone."""
    stack.create_topics(settings, bare_faust.bare_topics())
    probe = OffsetProbe(client_config(settings, "admin"), bare_faust.APP_ID)
    proc = _bare_process(settings)
    started = time.monotonic()
    proc.start()
    try:
        timed = _timed_consumer(probe, batches, readings, started, settings, apps, "bare-job Faust", timeout)
    except BenchError as exc:
        raise BenchError(f"{exc}. Log: {proc.log_path}\n{proc.log_tail(25)}") from exc
    finally:
        proc.stop()
        probe.close()
    timed.pop("done_at")
    return timed


def _restart(settings: Settings, roles: list[tuple[str, int]], start: bool) -> None:
    for role, index in roles:
        proc = app_process(settings, role, index)
        proc.start() if start else proc.stop()


def run_benchmark(settings: Settings, cfg: BenchConfig, console: Console) -> dict:
    settings = settings.model_copy(update={"brokers": cfg.brokers})
    say = console.print
    _fresh_state(settings)
    only = [f"kafka-{i + 1}" for i in range(cfg.brokers)] + ["clickhouse"]
    result: dict = {"started": datetime.now().isoformat(timespec="seconds"), "machine": machine.describe(),
                    "config": {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()}}
    workers = [f"worker-{i + 1}" for i in range(cfg.workers)]
    phases = 10 if cfg.state_load is not None else 9
    try:
        say(f"starting {', '.join(only)} in {settings.state_dir}")
        stack.up(settings, only=only, on_progress=lambda m: say(f"  {m}"))
        migrate.migrate(settings)
        ledger = Ledger(settings.electricity_method)
        probe = OffsetProbe(client_config(settings, "admin"), settings.worker_app_id)

        say(f"1/{phases} gateway: {cfg.enterprises} enterprises x {cfg.months} month(s), nothing consuming")
        gw = run_bench(settings, cfg.enterprises, cfg.months, seed=LOAD_SEED, ledger=ledger)
        say(f"  {gw.line()}")
        result["load"] = {"readings": gw.readings, "batches": gw.batches}
        result["gateway"] = {"readings": gw.readings, "seconds": gw.seconds, "readings_per_s": gw.readings_per_s}

        say(f"2/{phases} baseline: confluent-kafka consumer + fastavro decode of the same batches")
        counted = {"readings": 0}
        base = read_topic(client_config(settings, "admin"), topics.READINGS.name, _count_readings(counted))
        if counted["readings"] != gw.readings:
            raise BenchError(f"baseline read {counted['readings']:,} readings, the gateway sent {gw.readings:,}")
        baseline = rate(gw.readings, base.seconds)
        result["baseline"] = {"readings": gw.readings, "batches": base.messages, "seconds": base.seconds,
                              "readings_per_s": baseline}
        say(f"  {baseline:,.0f} readings/s ({base.seconds:.2f} s)")

        say(f"3/{phases} worker: {cfg.workers} worker(s) start on the full topic")
        started = time.monotonic()
        for i in range(cfg.workers):
            ensure_running(settings, "worker", i + 1)
        timed = _timed_consumer(probe, base.messages, gw.readings, started, settings, workers, "worker",
                                cfg.limit(max(600.0, gw.readings / 500)))
        done = timed.pop("done_at")
        # The regional rollups finish before the sink starts, so the sink phase times only the sink.
        rollups_done = _wait(lambda: _caught_up(probe, topics.ENTERPRISE_TOTALS.name)
                             and _caught_up(probe, topics.PROVINCE_TOTALS.name), cfg.limit(600), "regional rollups",
                             settings, workers)
        result["worker"] = {"workers": cfg.workers, **timed, "regional_rollups_done_s": rollups_done - started,
                            "batches_per_partition": _partitions_committed(probe),
                            "shares": worker_shares(settings, [app_process(settings, "worker", i + 1).pid() or 0
                                                               for i in range(cfg.workers)])}
        say(f"  {result['worker']['readings_per_s']:,.0f} readings/s incl. start-up ({done - started:.1f} s); "
            f"{result['worker']['steady_readings_per_s']:,.0f}/s after the first commit")

        say(f"4/{phases} sink: starts on the finished aggregates")
        client = connect(settings)
        sent = ledger.by_province_month()
        started = time.monotonic()
        ensure_running(settings, "sink")
        done = _wait(lambda: reconcile(client, settings.clickhouse_database, sent).exact,
                     cfg.limit(max(600.0, gw.readings / 500)), "sink", settings, [*workers, "sink-1"])
        rows = {"rows": 0}
        read_topic(client_config(settings, "admin"), topics.AGGREGATES.name,
                   lambda _k, v: rows.__setitem__("rows", rows["rows"] + len(codec.decode(v)[1]["aggregates"])))
        result["sink"] = {"rows": rows["rows"], "seconds": done - started,
                          "rows_per_s": rate(rows["rows"], done - started),
                          "readings_per_s": rate(gw.readings, done - started)}
        say(f"  {rows['rows']:,} aggregate rows in {done - started:.1f} s = {result['sink']['rows_per_s']:,.0f} rows/s")

        say(f"5/{phases} bare-job Faust: decode, exact sums per enterprise x energy x month, emit every second")
        result["bare_faust"] = _bare_faust(settings, base.messages, gw.readings, [*workers, "sink-1"],
                                           cfg.limit(max(600.0, gw.readings / 500)))
        say(f"  {result['bare_faust']['steady_readings_per_s']:,.0f} readings/s after its first commit")

        say(f"6/{phases} drain: worker and sink stopped, a fleet pre-loaded, both started, until ClickHouse is exact")
        roles = [("worker", i + 1) for i in range(cfg.workers)] + [("sink", 1)]
        _restart(settings, roles, start=False)
        gw_drain = run_bench(settings, cfg.enterprises, cfg.months, seed=DRAIN_SEED, ledger=ledger)
        sent = ledger.by_province_month()
        committed_before = sum(probe.committed(topics.READINGS.name).values())
        first_commit: list[float] = []
        started = time.monotonic()
        _restart(settings, roles, start=True)

        def drained() -> bool:
            if not first_commit and sum(probe.committed(topics.READINGS.name).values()) > committed_before:
                first_commit.append(time.monotonic())
            return reconcile(client, settings.clickhouse_database, sent).exact

        done = _wait_exact(drained, cfg.limit(max(900.0, gw_drain.readings / 300)), "drain", settings,
                           [*workers, "sink-1"], probe)
        first_at = first_commit[0] if first_commit else started
        result["drain"] = {"readings": gw_drain.readings, "seconds": done - started,
                           "readings_per_s": rate(gw_drain.readings, done - started),
                           "restart_to_first_commit_s": first_at - started,
                           # the worker running (its tables recovered) and the sink: the target's "drain"
                           "steady_readings_per_s": rate(gw_drain.readings, done - first_at), "exact": True}
        say(f"  {result['drain']['steady_readings_per_s']:,.0f} readings/s from the worker's first commit "
            f"({done - first_at:.1f} s; restart and recovery {first_at - started:.1f} s); reconciliation exact")

        say(f"7/{phases} end to end: a second fleet of the same size with worker and sink running")
        spy = None
        spy_out = cfg.out_dir / f"{datetime.now():%Y%m%dT%H%M%S}-worker-py-spy.txt"
        if cfg.profile_seconds:
            cfg.out_dir.mkdir(parents=True, exist_ok=True)
            worker_pid = app_process(settings, "worker").pid()  # None only if worker-1 has died: no profile
            spy = profile.start(worker_pid, spy_out, cfg.profile_seconds) if worker_pid is not None else None
        started = time.monotonic()
        gw2 = run_bench(settings, cfg.enterprises, cfg.months, seed=E2E_SEED, ledger=ledger)
        sent = ledger.by_province_month()
        done = _wait_exact(lambda: reconcile(client, settings.clickhouse_database, sent).exact,
                           cfg.limit(max(900.0, gw2.readings / 300)), "end to end", settings, [*workers, "sink-1"],
                           probe)
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

        say(f"8/{phases} latency: {cfg.latency_rate:,.0f} readings/s offered for {cfg.latency_seconds:.0f} s")
        lat = measure_latency(settings, cfg.fleet_run(LATENCY_SEED), cfg.latency_rate, cfg.latency_seconds, cfg.poll_s)
        result["latency"] = lat.as_dict()
        say(f"  p50 {lat.p50_s or float('nan'):.2f} s, p99 {lat.p99_s or float('nan'):.2f} s "
            f"({lat.visible:,}/{lat.batches:,} batches seen)")

        say(f"9/{phases} memory and state")
        result["memory"] = {
            "worker_peak_rss_bytes": [machine.peak_rss(app_process(settings, "worker", i + 1).pid() or 0)
                                      for i in range(cfg.workers)],
            "sink_peak_rss_bytes": machine.peak_rss(app_process(settings, "sink").pid() or 0),
            "bench_gateway_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
        meters_of = {e.uscc: len(e.meters) for seed in (LOAD_SEED, DRAIN_SEED, E2E_SEED, LATENCY_SEED)
                     for e in cfg.fleet_run(seed).fleet()}
        result["state"] = state_size(settings, meters_of)
        result["signature"] = signature_cost.measure()  # the worker's Ed25519 check, per batch, in-process

        if cfg.state_load is not None:
            load = cfg.state_load
            say(f"10/{phases} state: {load.enterprises:,} enterprises x {load.meters_per_enterprise} meters x "
                f"{load.readings} readings into the running worker(s); stops past "
                f"{load.rss_limit_bytes / 2**30:.1f} GiB RSS")
            pids = [pid for i in range(cfg.workers) if (pid := app_process(settings, "worker", i + 1).pid())]
            result["state_phase"] = measure_state(settings, load, pids, probe, lambda m: say(m))
        probe.close()
    finally:
        say("stopping what the benchmark started")
        _bare_process(settings).stop()
        stack.down(settings)
    result["ratios_to_baseline"] = {
        "e2e": result["e2e"]["readings_per_s"] / baseline,
        "worker": result["worker"]["readings_per_s"] / baseline,
        "worker_steady": result["worker"]["steady_readings_per_s"] / baseline,
        "bare_faust_steady": result["bare_faust"]["steady_readings_per_s"] / baseline,
        "sink": result["sink"]["readings_per_s"] / baseline,
        "drain": result["drain"]["steady_readings_per_s"] / baseline,
        "gateway": result["gateway"]["readings_per_s"] / baseline,
    }
    result["targets"] = targets(result)
    return result


def _partitions_committed(probe: OffsetProbe) -> dict[int, int]:
    """Batches each readings partition holds (all committed by now): how the load spread over partitions."""
    return probe.committed(topics.READINGS.name)


def write_json(result: dict, out_dir: Path, prefix: str = "") -> Path:
    """A run's results as ``<out_dir>/<prefix><time>.json`` (also the fault suite's)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{prefix}{datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path
