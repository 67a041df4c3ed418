"""One trial: a fresh small fleet flows through the pipeline, one fault strikes at a random moment, and once
the pipeline has caught up ClickHouse must hold exactly what the fleet sent, at every level.

Trials are planned from the suite's seed alone (kind, fleet seed, province, month, the moment of the fault),
so a run can be repeated trial for trial. Each trial owns one (province, CST month): its enterprise,
prefecture and province totals are judged on their own, and a failed trial does not spoil the verdicts
of the trials after it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.months import CST, month_start_ms, next_period
from ecmon.settings import Settings
from ecmon_gateway.sequences import SequenceCounter, sequences_path
from ecmon_gateway.spool import Spool
from ecmon_ops.bench.kafka_probe import OffsetProbe
from ecmon_ops.chaos import faults
from ecmon_ops.chaos.expected import TrialCheck, check_trial, merge, planned_ledger
from ecmon_ops.stack.apps import app_process
from ecmon_ops.stack.process import ServiceError
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, count_spooled, spool_path
from ecmon_sink.clickhouse import connect
from ecmon_sink.databases import province_codes

GATEWAY_START_S = 3.0  # an `ecmon gateway` process needs about this long before its first batch


@dataclass(frozen=True)
class TrialSpec:
    index: int
    kind: str  # one of faults.KINDS
    seed: int  # the fleet's seed: distinct per trial modulo 1000, so USCCs and batch ids never collide
    province: str
    month: str
    fault_at_s: float  # after the gateway process started
    down_s: float = 0.0  # broker / ClickHouse outage length


@dataclass(frozen=True)
class SuiteShape:
    enterprises: int = 8
    send_s: float = 12.0  # the fleet's month is paced over this many seconds of wall time
    # after the fleet is sent and the fault is over; a worker restart took up to 162 s under load
    catch_up_s: float = 300.0
    broker_down_s: tuple[float, float] = (10.0, 20.0)
    clickhouse_down_s: float = 60.0
    faults: str = "duplicate,corrupt"  # gateway faults on top: resends and garbage must stay harmless


@dataclass
class TrialResult:
    spec: TrialSpec
    outcome: str  # "exact", or what went wrong
    fault: str = ""
    readings: int = 0
    batches: int = 0
    seconds: float = 0.0
    catch_up_s: float | None = None
    detail: str = ""
    ledger_note: str = ""
    stalled_partitions: dict[int, int] = field(default_factory=dict)  # readings partition -> worker lag

    @property
    def exact(self) -> bool:
        return self.outcome == "exact"

    def as_dict(self) -> dict:
        return {**asdict(self), "exact": self.exact}


def recent_months(count: int, now: datetime | None = None) -> list[str]:
    """The ``count`` complete CST months before the current one, oldest first: inside the worker's horizon
    (400 days) and never in the future."""
    now = now or datetime.now(CST)
    year, month = now.year, now.month
    out = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.append(f"{year:04d}-{month:02d}")
    return out[::-1]


def _provinces() -> list[str]:
    """Provinces with prefectures first (they exercise the prefecture level), municipalities last."""
    from ecmon.regions import MUNICIPALITIES

    codes = list(province_codes())
    return [c for c in codes if c not in MUNICIPALITIES] + [c for c in codes if c in MUNICIPALITIES]


def plan_trials(seed: int, counts: dict[str, int], shape: SuiteShape) -> list[TrialSpec]:
    """Every trial of a run, shuffled so that faults of each kind meet state left by the others."""
    rng = random.Random(f"chaos/{seed}")
    kinds = [k for k in faults.KINDS for _ in range(counts.get(k, 0))]
    rng.shuffle(kinds)
    provinces, months = _provinces(), recent_months(12)
    specs = []
    for i, kind in enumerate(kinds):
        # 31 provinces x 12 months: (i mod 31, i mod 12) is a distinct pair for the first 372 trials
        down = 0.0
        if kind == "broker":
            down = round(rng.uniform(*shape.broker_down_s), 1)
        elif kind == "clickhouse":
            down = shape.clickhouse_down_s
        # A gateway may die anywhere, even while it registers its fleet; the other faults strike while
        # batches flow.
        window = (1.0 if kind == "gateway" else GATEWAY_START_S, GATEWAY_START_S + shape.send_s * 0.9)
        specs.append(TrialSpec(index=i + 1, kind=kind, seed=(seed % 1000) * 1000 + 100 + i,
                               province=provinces[i % len(provinces)], month=months[i % len(months)],
                               fault_at_s=round(rng.uniform(*window), 2), down_s=down))
    return specs


def fleet_run(spec: TrialSpec, shape: SuiteShape) -> FleetRun:
    # A ClickHouse outage must overlap the flow: the fleet keeps sending for the whole minute.
    send_s = shape.send_s + (spec.down_s if spec.kind in ("clickhouse", "broker") else 0.0)
    month_s = (month_start_ms(next_period(spec.month)) - month_start_ms(spec.month)) / 1000
    return FleetRun(enterprises=shape.enterprises, provinces=(spec.province,), start=spec.month, months=1,
                    seed=spec.seed, speed=month_s / send_s, faults=shape.faults, spool=True)


def worker_lag(settings: Settings) -> dict[int, int]:
    """Partitions of the readings topic on which the worker group's committed offset trails the end."""
    probe = OffsetProbe(client_config(settings, "admin"), settings.worker_app_id)
    try:
        ends, committed = probe.end_offsets(topics.READINGS.name), probe.committed(topics.READINGS.name)
    finally:
        probe.close()
    return {p: ends[p] - committed.get(p, 0) for p in ends if ends[p] > committed.get(p, 0)}


@dataclass
class Suite:
    """What trials share: the stack's settings, the plan of everything sent so far, a log line sink."""

    settings: Settings
    shape: SuiteShape
    everything: Ledger
    say: Callable[[str], None] = print

    def _ledger_on_disk(self) -> Ledger:
        from ecmon_simulator.ledger import ledger_path

        return Ledger.load(ledger_path(self.settings), self.settings.electricity_method)

    def run(self, spec: TrialSpec) -> TrialResult:
        run = fleet_run(spec, self.shape)
        counter = SequenceCounter(sequences_path(self.settings.state_dir))
        try:  # a gateway that sent in an earlier trial goes on from its sequence, with new batch ids
            count_spooled(counter, self.settings.state_dir)  # as the gateway will, before it numbers anything
            bases = {ent.gateway_id: counter.last(ent.gateway_id) for ent in run.fleet()}
        finally:
            counter.close()
        plan = planned_ledger(run, self.settings.electricity_method, bases)
        merge(self.everything, plan)
        result = TrialResult(spec, outcome="running", readings=sum(v[2] for v in plan.totals.values()),
                             batches=len(plan.batch_ids))
        started = time.monotonic()
        try:
            self._run(spec, run, plan, result)
        except ServiceError as exc:
            result.outcome, result.detail = "stack error", str(exc).splitlines()[0]
        except Exception as exc:  # a trial that breaks is a failed trial; the suite goes on to the next
            result.outcome, result.detail = "error", f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 1)
        return result

    def _run(self, spec: TrialSpec, run: FleetRun, plan: Ledger, result: TrialResult) -> None:
        s = self.settings
        for role in ("worker", "sink"):  # a trial starts from a running pipeline
            if app_process(s, role).pid() is None:
                app_process(s, role).start()
        before = self._ledger_on_disk().batch_ids
        gateway = faults.GatewayProcess(s, run, s.log_dir / "chaos-gateway.log")
        t0 = time.monotonic()
        gateway.start()
        time.sleep(max(0.0, spec.fault_at_s - (time.monotonic() - t0)))
        killed_gateway = False
        if spec.kind == "gateway":
            if gateway.running():
                pid = gateway.kill()
                result.fault = f"kill -9 gateway (pid {pid}), same args again"
                killed_gateway = True
                gateway.start()
            else:
                result.fault = f"gateway had finished before {spec.fault_at_s:.1f}s; nothing killed"
        elif spec.kind in ("worker", "sink"):
            result.fault = faults.kill_app(s, spec.kind)
        elif spec.kind == "broker":
            result.fault = faults.stop_broker(s, random.Random(spec.seed), spec.down_s)
        elif spec.kind == "clickhouse":
            result.fault = faults.clickhouse_outage(s, spec.down_s)

        # Paced, the restarted gateway waits out the simulated time again: allow for that.
        status = gateway.wait(timeout=GATEWAY_START_S * 2 + 3 * (run_seconds(run)) + 120)
        if status != 0:
            result.outcome = "gateway failed" if status is not None else "gateway hung"
            result.detail = f"exit status {status}; log {gateway.log_path}"
            return
        spool_note = self._spool_done(run)
        if spool_note:
            result.outcome, result.detail = "spool not drained", spool_note
            return
        ledger_ok, result.ledger_note = self._check_ledger(plan, before, killed_gateway)

        fault_over = time.monotonic()
        check = self._wait_exact(spec, plan, fault_over + self.shape.catch_up_s)
        if check.exact:
            result.outcome = "exact"
            result.catch_up_s = round(time.monotonic() - fault_over, 1)
            if not ledger_ok:
                result.outcome = "ledger wrong"
            return
        died = [r for r in ("worker", "sink") if app_process(s, r).pid() is None]
        if died:
            result.outcome = f"{', '.join(died)} died"
        else:
            result.outcome = f"did not catch up within {self.shape.catch_up_s:.0f}s"
        result.detail = check.shortfall()
        try:
            result.stalled_partitions = worker_lag(s)
        except Exception as exc:  # the verdict stands; the lag is only a hint where to look
            result.detail += f"; lag unknown ({exc})"
        if result.stalled_partitions:
            result.detail += f"; worker lag on readings partitions {result.stalled_partitions}"
        # The next trial needs a pipeline that moves: replace a stalled worker, as an operator would.
        for role in ("worker", "sink"):
            proc = app_process(s, role)
            proc.stop(timeout=30)
            proc.start()

    def _wait_exact(self, spec: TrialSpec, plan: Ledger, deadline: float) -> TrialCheck:
        client = connect(self.settings)
        key = (spec.province, spec.month)
        while True:
            try:
                check = check_trial(client, self.settings.clickhouse_database, key, plan, self.everything)
            except Exception:  # ClickHouse just restarted and still refuses a query: ask again
                client = connect(self.settings)
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
                continue
            if check.exact or time.monotonic() > deadline:
                return check
            time.sleep(1.0)

    def _spool_done(self, run: FleetRun) -> str:
        """Empty if the gateway's spool holds nothing unacknowledged and every gateway is at its end."""
        spool = Spool(spool_path(self.settings, run.spool_name))
        try:
            if spool.depth:
                return f"{spool.depth} batch(es) left in the spool"
            total = -(-((run.end_ms - run.start_ms) // (run.interval_s * 1000)) // run.intervals_per_batch)
            short = [e.gateway_id for e in run.fleet()
                     if spool.position(e.gateway_id, run.source_key).position != total]
            return f"gateways not at the end of their source: {short}" if short else ""
        finally:
            spool.close()

    def _check_ledger(self, plan: Ledger, before: set[str], killed: bool) -> tuple[bool, str]:
        """The gateway's own ledger.json against the plan: exactly the planned batches, also after a kill
        (the gateway saves its ledger before acknowledged batches leave its spool)."""
        new = self._ledger_on_disk().batch_ids - before
        extra = new - plan.batch_ids
        if extra:
            return False, f"ledger.json holds {len(extra)} batch(es) that were not planned"
        missing = len(plan.batch_ids - new)
        if missing:
            return False, f"ledger.json lacks {missing} batch(es){' after a kill -9' if killed else ''}"
        return True, "ledger.json = plan"


def run_seconds(run: FleetRun) -> float:
    return (run.end_ms - run.start_ms) / 1000 / run.speed if run.speed > 0 else 0.0
