"""A simulated fleet of gateways: registry records first, then reading batches, with a progress bar.

Two delivery modes share the same batches:

* direct (``FleetRun.spool=False``, what ``ecmon demo`` uses): batches go straight to Kafka;
* spooled (``ecmon gateway``, on by default): every batch goes through the gateway's disk spool
  (``ecmon_gateway.spool``); a restarted gateway resends what was not acknowledged and carries on
  where the spool says it stopped.

In both, a gateway's sequences continue from its counter (``ecmon_gateway.sequences``, one per state
directory, shared by both modes and every spool), and a batch's id follows from its sequence: a second run
sends new batches, never a reused (gateway, sequence) that the platform would drop as ``duplicate_batch``.
Readings a second run sends again are the same readings (same identity and value), which the platform
counts once (``duplicate_reading``), and so does the ledger.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ecmon import codec, signing, topics
from ecmon.kafka_clients import client_config
from ecmon.metric_defs import (
    GATEWAY_BATCHES_SENT,
    GATEWAY_READINGS_SENT,
    GATEWAY_REGISTRY_PUBLISHED,
)
from ecmon.months import CST, month_start_ms, next_period
from ecmon.settings import Settings
from ecmon_gateway.delivery import BatchProducer, SpooledSender
from ecmon_gateway.sequences import SequenceCounter, sequences_path
from ecmon_gateway.signed_messages import encode_signed
from ecmon_gateway.spool import DEFAULT_LIMIT_BYTES, SourcePosition, Spool, SpooledBatch, spooled_sequences
from ecmon_registry import keys as registry_keys
from ecmon_simulator.faults import FaultPlan, corrupt
from ecmon_simulator.fleet import (
    Enterprise,
    PlannedBatch,
    batch_id_for,
    build_fleet,
    plan_batches,
    registry_record,
    signing_key,
)
from ecmon_simulator.ledger import Ledger, ledger_path
from ecmon_simulator.production import encode_production, production_records


@dataclass(frozen=True)
class FleetRun:
    enterprises: int = 36
    provinces: tuple[str, ...] = ("210000", "310000", "370000")
    start: str = "2026-10"  # first CST month simulated
    months: int = 1
    #: days of the following month simulated after the last whole month: enough event time past its end for
    #: the worker's grace and submission rule to close it (ecmon demo)
    close_days: int = 0
    interval_s: int = 900
    intervals_per_batch: int = 24  # six hours of 15-minute readings per batch
    seed: int = 2026
    speed: float = 0.0  # simulated seconds per real second; 0 sends as fast as Kafka takes it
    meters_per_enterprise: int | None = None  # None: the industry profile's meters
    cumulative: bool = False  # meters report registers (CUMULATIVE); the current worker rejects them
    faults: str = ""  # fault plan, see ecmon_simulator.faults; empty = no faults
    only_enterprise: int | None = None  # run one enterprise's gateway (1-based index in the fleet)
    spool: bool = False  # deliver through the durable disk spool
    spool_limit_bytes: int = DEFAULT_LIMIT_BYTES
    spool_name: str = "fleet"  # the spool directory under <state>/gateways/
    production: bool = True  # also publish each enterprise's daily production output

    @property
    def start_ms(self) -> int:
        return month_start_ms(self.start)

    @property
    def end_ms(self) -> int:
        period = self.start
        for _ in range(self.months):
            period = next_period(period)
        return month_start_ms(period) + self.close_days * 86_400_000

    @property
    def source_key(self) -> str:
        """Identifies the simulated source run: the spool's position is only valid for the same one."""
        return (f"sim/{self.start}/{self.months}+{self.close_days}d/{self.interval_s}/{self.intervals_per_batch}/"
                f"{self.seed}/"
                f"{self.meters_per_enterprise}/{self.cumulative}/{self.faults}")

    def fleet(self) -> list[Enterprise]:
        fleet = build_fleet(self.enterprises, self.provinces, self.seed, self.meters_per_enterprise,
                            self.cumulative, spare_meters=FaultPlan.parse(self.faults).has("meter_replacement"))
        if self.only_enterprise is not None:
            fleet = [fleet[self.only_enterprise - 1]]
        return fleet


def spool_path(settings: Settings, name: str) -> Path:
    return settings.state_dir / "gateways" / name / "spool.sqlite"


def encode_batch(batch: PlannedBatch, sent_at_ms: int, state_dir: Path) -> bytes:
    """The batch as the enterprise's gateway sends it: signed with the key it holds now."""
    ent = batch.enterprise
    key_id, private_key = signing_key(ent, state_dir)
    record = {
        "uscc": ent.uscc,
        "gateway_id": ent.gateway_id,
        "batch_id": batch.batch_id,
        "sequence": batch.sequence,
        "sent_at": sent_at_ms,
        "key_id": key_id,
        "readings": batch.readings,
    }
    return encode_signed("reading_batch", record, private_key)


def registry_producer(settings: Settings) -> BatchProducer:
    """The simulator registers its enterprises as the registry operator would, under that role's own
    Kafka user: a gateway may write readings and production, never the registry (ecmon/principals.py)."""
    return BatchProducer(client_config(settings, "registry"), client_id="ecmon-registry")


def registry_values(fleet: list[Enterprise], valid_from_ms: int, interval_s: int,
                    state_dir: Path) -> list[tuple[Enterprise, bytes]]:
    """The fleet's registry records as the registry publishes them: with each enterprise's public keys
    (ecmon_registry.keys) and the registry authority's signature."""
    authority = signing.registry_authority(state_dir)
    ledger = registry_keys.registry_ledger(state_dir)
    published = ledger.load()
    out = []
    for ent in fleet:
        before = published.get(ent.uscc)
        # A later run keeps the keys a rotation or revocation gave the enterprise (`ecmon keys`).
        key_id, keys = ((before["key_id"], before["public_keys"]) if before is not None
                        else registry_keys.first_keys(state_dir, ent.uscc, ent.key_id, valid_from_ms))
        record = published[ent.uscc] = registry_record(ent, valid_from_ms, interval_s, key_id, keys)
        out.append((ent, codec.encode("enterprise_record", signing.sign_registry_record(record, authority))))
    ledger.save(published)
    return out


def publish_registry(producer: BatchProducer, fleet: list[Enterprise], valid_from_ms: int, interval_s: int,
                     state_dir: Path) -> None:
    for ent, value in registry_values(fleet, valid_from_ms, interval_s, state_dir):
        producer.send(topics.REGISTRY.name, ent.uscc.encode(), value, GATEWAY_REGISTRY_PUBLISHED.inc)
    producer.flush()


def _interleaved(fleet: list[Enterprise], run: FleetRun, skip: dict[str, int] | None = None) -> Iterator[PlannedBatch]:
    """All enterprises' batches merged in event-time order, as a real fleet would send them."""
    plan = FaultPlan.parse(run.faults)

    def stream(ent: Enterprise) -> Iterator[PlannedBatch]:
        done = (skip or {}).get(ent.gateway_id, 0)
        for b in plan_batches(ent, run.start_ms, run.end_ms, run.interval_s, run.intervals_per_batch, plan):
            if b.sequence > done:
                yield b

    return heapq.merge(*(stream(e) for e in fleet), key=lambda b: (b.readings[-1]["ts"], b.enterprise.uscc))


def total_batches(run: FleetRun, fleet: list[Enterprise]) -> int:
    intervals = (run.end_ms - run.start_ms) // (run.interval_s * 1000)
    return len(fleet) * -(-intervals // run.intervals_per_batch)


def _count(ledger: Ledger, batch_id: str, province: str, uscc: str, readings: list[dict]) -> None:
    if ledger.add(batch_id, province, uscc, readings):
        GATEWAY_BATCHES_SENT.labels(province=province).inc()
        GATEWAY_READINGS_SENT.labels(province=province).inc(len(readings))


def _pace(speed: float, start_ms: int, wall_start: float, last_ts: int) -> float:
    """Seconds to wait before a batch ending at ``last_ts`` is due (time acceleration)."""
    if speed <= 0:
        return 0.0
    return wall_start + (last_ts - start_ms) / 1000 / speed - time.monotonic()


def _progress(show: bool) -> Progress:
    columns = [TextColumn("[bold]gateways[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[sim]}"),
               TextColumn("{task.fields[spool]}"), TimeElapsedColumn()]
    return Progress(*columns, disable=not show, transient=False)


def _sim_time(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, CST).strftime("%Y-%m-%d %H:%M CST")


@dataclass(frozen=True)
class BatchSource:
    """Where batches come from (the simulator, a CSV replay): what the sending loop needs to know."""

    fleet: list[Enterprise]
    key: str  # identifies the source run; spool positions are only valid for the same key
    start_ms: int  # simulated time zero, for time acceleration
    interval_s: int
    total: int
    batches: Callable[[dict[str, int]], Iterator[PlannedBatch]]  # skip: gateway -> planned sequence done
    seed: int = 0


def fleet_source(run: FleetRun, fleet: list[Enterprise]) -> BatchSource:
    return BatchSource(fleet, run.source_key, run.start_ms, run.interval_s, total_batches(run, fleet),
                       lambda skip: _interleaved(fleet, run, skip), run.seed)


def replay_source(ent: Enterprise, batches: list[PlannedBatch], interval_s: int, key: str) -> BatchSource:
    first = batches[0].readings[0]["ts"] - interval_s * 1000

    def planned(skip: dict[str, int]) -> Iterator[PlannedBatch]:
        done = skip.get(ent.gateway_id, 0)
        return (b for b in batches if b.sequence > done)

    return BatchSource([ent], key, first, interval_s, len(batches), planned)


def run_fleet(settings: Settings, run: FleetRun, ledger: Ledger, show_progress: bool = True) -> Ledger:
    fleet = run.fleet()
    send_batches(settings, fleet_source(run, fleet), ledger, run.speed, run.spool, show_progress,
                 run.spool_name, run.spool_limit_bytes)
    if run.production:
        publish_production(settings, fleet, run)
    return ledger


def publish_production(settings: Settings, fleet: list[Enterprise], run: FleetRun) -> int:
    """Each enterprise's daily output, planned from the same (deterministic) readings as the batches."""
    producer = BatchProducer(client_config(settings, "gateway"))
    records = production_records(fleet, _interleaved(fleet, run), int(time.time() * 1000))
    for ent, record in records:
        producer.send(topics.PRODUCTION.name, ent.uscc.encode(), encode_production(ent, record, settings.state_dir))
    producer.flush()
    return len(records)


def send_batches(settings: Settings, source: BatchSource, ledger: Ledger, speed: float = 0.0, spool: bool = False,
                 show_progress: bool = True, spool_name: str | None = None,
                 spool_limit_bytes: int = DEFAULT_LIMIT_BYTES) -> Ledger:
    if spool:
        name = spool_name or (source.fleet[0].gateway_id if len(source.fleet) == 1 else "fleet")
        return _send_spooled(settings, source, ledger, speed, show_progress, Spool(spool_path(settings, name),
                                                                                   spool_limit_bytes))
    producer = BatchProducer(client_config(settings, "gateway"))
    publish_registry(registry_producer(settings), source.fleet, source.start_ms, source.interval_s,
                     settings.state_dir)
    corrupter = random.Random(f"corrupt/{source.seed}")
    counter = SequenceCounter(sequences_path(settings.state_dir))
    count_spooled(counter, settings.state_dir)
    bases = {e.gateway_id: counter.last(e.gateway_id) for e in source.fleet}

    wall_start = time.monotonic()
    with _progress(show_progress) as progress:
        task = progress.add_task("send", total=source.total, sim="", spool="")
        for i, planned in enumerate(source.batches({})):
            last_ts = planned.readings[-1]["ts"]
            delay = _pace(speed, source.start_ms, wall_start, last_ts)
            if delay > 0:
                time.sleep(delay)
            batch = numbered(planned, bases[planned.enterprise.gateway_id], source.start_ms)
            counter.advance({batch.enterprise.gateway_id: batch.sequence})  # before Kafka sees it
            province = batch.enterprise.province
            readings = batch.countable

            def delivered(batch=batch, province=province, readings=readings) -> None:
                _count(ledger, batch.batch_id, province, batch.enterprise.uscc, readings)

            value = encode_batch(batch, int(time.time() * 1000), settings.state_dir)
            key = batch.enterprise.uscc.encode()
            producer.send(topics.READINGS.name, key, value, delivered)
            if batch.duplicate:
                producer.send(topics.READINGS.name, key, value)
            if batch.corrupt_copy:
                producer.send(topics.READINGS.name, key, corrupt(value, corrupter))
            if i % 200 == 0:
                progress.update(task, completed=i, sim=_sim_time(last_ts))
        producer.flush()
        progress.update(task, completed=progress.tasks[0].total)
    counter.close()
    return ledger


def numbered(batch: PlannedBatch, base: int, start_ms: int) -> PlannedBatch:
    """The planned batch as the gateway sends it: its sequence after the ``base`` the gateway's counter stood
    at, and a batch id of its own (a new batch gets a new id; a resend keeps both)."""
    if base == 0:
        return batch
    sequence = base + batch.sequence
    return replace(batch, sequence=sequence, batch_id=batch_id_for(batch.enterprise, start_ms, sequence))


def _spooled(batch: PlannedBatch, base: int, start_ms: int, corrupter: random.Random,
             state_dir: Path) -> list[SpooledBatch]:
    """The batch as the spool keeps it: its final sequence, its bytes, and what to count on ack."""
    ent = batch.enterprise
    final = numbered(batch, base, start_ms)
    value = encode_batch(final, int(time.time() * 1000), state_dir)
    meta: dict[str, Any] = {"province": ent.province}
    if batch.counted is not None:
        meta["counted"] = batch.counted
    key, topic = ent.uscc.encode(), topics.READINGS.name
    out = [SpooledBatch(ent.gateway_id, final.sequence, final.batch_id, topic, key, value, json.dumps(meta))]
    # Fault copies are spooled too, under negative sequences that never collide with a real one
    # and are never counted: a duplicate is the same bytes again, a corrupt copy flipped bytes.
    if batch.duplicate:
        out.append(SpooledBatch(ent.gateway_id, -final.sequence, final.batch_id, topic, key, value, '{"copy": 1}'))
    if batch.corrupt_copy:
        out.append(SpooledBatch(ent.gateway_id, -final.sequence - 10**12, final.batch_id, topic, key,
                                corrupt(value, corrupter), '{"copy": 1}'))
    return out


def count_spooled(counter: SequenceCounter, state_dir: Path) -> None:
    """Bring the counter up to every spool of the state directory before numbering anything: a spooled run
    killed between its spool and the counter left numbers only in its spool, which another way of sending
    (direct, another spool) must not hand out again before that spool resends them."""
    for path in sorted((state_dir / "gateways").glob("*/spool.sqlite")):
        counter.advance(spooled_sequences(path))


def resume_positions(spool: Spool, counter: SequenceCounter, gateway_ids: list[str],
                     source: str) -> dict[str, SourcePosition]:
    """Where each gateway stands in ``source`` when a spooled run starts or restarts, once ``count_spooled``
    has brought the counter up to every spool (this one's too: a run killed between its spool and the counter
    left numbers only there). Each gateway goes on from the spool's position, unless it has handed out
    sequences beyond it since (directly, or through another spool); then the run starts over after them, with
    new batch ids."""
    positions = {}
    for gateway_id in gateway_ids:
        pos = spool.position(gateway_id, source)
        used = counter.last(gateway_id)
        if used > pos.sequence_base + pos.position and (pos.position == 0 or used > spool.last_sequence(gateway_id)):
            pos = SourcePosition(source, used, 0)
        positions[gateway_id] = pos
    return positions


def _send_spooled(settings: Settings, source: BatchSource, ledger: Ledger, speed: float, show_progress: bool,
                  spool: Spool) -> Ledger:
    # No delivery timeout: during an outage the spool, not a timer, decides how much may wait.
    producer = BatchProducer(client_config(settings, "gateway"), delivery_timeout_ms=0)

    def acked(b: SpooledBatch) -> None:
        meta = b.meta_json
        if meta.get("copy"):
            return
        readings = meta.get("counted")
        if readings is None:
            readings = codec.decode(b.value, "reading_batch")[1]["readings"]
        _count(ledger, b.batch_id, meta["province"], b.key.decode(), readings)

    # The ledger is saved before acknowledged batches leave the spool: after a SIGKILL, a batch is either
    # still spooled (and resent: the ledger counts a batch id once) or already in the saved ledger.
    sender = SpooledSender(producer, spool, acked, ack_commit_s=1.0,
                           before_commit=lambda: ledger.save(ledger_path(settings)))
    counter = SequenceCounter(sequences_path(settings.state_dir))
    try:
        count_spooled(counter, settings.state_dir)
        positions = resume_positions(spool, counter, [e.gateway_id for e in source.fleet], source.key)
        sender.resume()
        publish_registry(registry_producer(settings), source.fleet, source.start_ms, source.interval_s,
                         settings.state_dir)
        corrupter = random.Random(f"corrupt/{source.seed}")
        wall_start = time.monotonic()
        with _progress(show_progress) as progress:
            already = sum(p.position for p in positions.values())
            task = progress.add_task("send", total=source.total, completed=already, sim="", spool="")
            group: list[SpooledBatch] = []
            group_started = time.monotonic()

            def commit_group() -> None:
                nonlocal group, group_started
                highest: dict[str, int] = {}
                for b in group:
                    highest[b.gateway_id] = max(highest.get(b.gateway_id, 0), b.sequence)
                # Counted once spooled, before Kafka sees them: a kill in between leaves them in the spool,
                # from which resume_positions counts them; counted first, they would be numbers used and
                # never sent, and the restarted run would number the whole source again after them.
                sender.submit(group, dict(positions), spooled=lambda: counter.advance(highest))
                group, group_started = [], time.monotonic()

            for i, batch in enumerate(source.batches({gw: p.position for gw, p in positions.items()})):
                last_ts = batch.readings[-1]["ts"]
                delay = _pace(speed, source.start_ms, wall_start, last_ts)
                if delay > 0:
                    if group:
                        commit_group()
                    end = time.monotonic() + delay
                    while (left := end - time.monotonic()) > 0:
                        sender.poll(min(left, 0.1))
                pos = positions[batch.enterprise.gateway_id]
                group.extend(_spooled(batch, pos.sequence_base, source.start_ms, corrupter, settings.state_dir))
                positions[batch.enterprise.gateway_id] = replace(pos, position=batch.sequence)
                # Group commit: one fsync per group of batches, not per batch; a group also closes
                # on time, so a slow source does not keep batches in memory unspooled.
                if len(group) >= 200 or time.monotonic() - group_started > 0.5:
                    commit_group()
                if i % 100 == 0:
                    progress.update(task, completed=already + i, sim=_sim_time(last_ts),
                                    spool=f"spool {spool.depth} batches")
            if group:
                commit_group()
            sender.drain()
            progress.update(task, completed=progress.tasks[0].total, spool="spool empty")
    finally:
        spool.close()
        counter.close()
    return ledger
