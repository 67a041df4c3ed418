"""A simulated fleet of gateways: registry records first, then reading batches, with a progress bar."""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from datetime import datetime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ecmon import codec, signing, topics
from ecmon.metric_defs import GATEWAY_BATCHES_SENT, GATEWAY_READINGS_SENT
from ecmon.months import CST, month_start_ms, next_period
from ecmon.settings import Settings
from producers.delivery import BatchProducer
from producers.fleet import Enterprise, PlannedBatch, build_fleet, plan_batches, registry_record
from producers.ledger import Ledger


@dataclass(frozen=True)
class FleetRun:
    enterprises: int = 36
    provinces: tuple[str, ...] = ("210000", "310000", "370000")
    start: str = "2026-10"  # first CST month simulated
    months: int = 1
    interval_s: int = 900
    intervals_per_batch: int = 24  # six hours of 15-minute readings per batch
    seed: int = 2026
    speed: float = 0.0  # simulated seconds per real second; 0 sends as fast as Kafka takes it

    @property
    def start_ms(self) -> int:
        return month_start_ms(self.start)

    @property
    def end_ms(self) -> int:
        period = self.start
        for _ in range(self.months):
            period = next_period(period)
        return month_start_ms(period)


def encode_batch(batch: PlannedBatch, sent_at_ms: int) -> bytes:
    """Encode with an empty signature, sign that, and encode again with the signature filled in."""
    ent = batch.enterprise
    record = {
        "uscc": ent.uscc,
        "gateway_id": ent.gateway_id,
        "batch_id": batch.batch_id,
        "sequence": batch.sequence,
        "sent_at": sent_at_ms,
        "key_id": ent.key_id,
        "signature": b"",
        "readings": batch.readings,
    }
    unsigned = codec.encode("reading_batch", record)
    record["signature"] = signing.sign(unsigned, signing.enterprise_key(ent.key_id))
    return codec.encode("reading_batch", record)


def publish_registry(producer: BatchProducer, fleet: list[Enterprise], run: FleetRun) -> None:
    for ent in fleet:
        value = codec.encode("enterprise_record", registry_record(ent, run.start_ms, run.interval_s))
        producer.send(topics.REGISTRY.name, ent.uscc.encode(), value)
    producer.flush()


def _interleaved(fleet: list[Enterprise], run: FleetRun):
    """All enterprises' batches merged in event-time order, as a real fleet would send them."""
    streams = [plan_batches(e, run.start_ms, run.end_ms, run.interval_s, run.intervals_per_batch) for e in fleet]
    return heapq.merge(*streams, key=lambda b: (b.readings[-1]["ts"], b.enterprise.uscc))


def run_fleet(settings: Settings, run: FleetRun, ledger: Ledger, show_progress: bool = True) -> Ledger:
    fleet = build_fleet(run.enterprises, run.provinces, run.seed)
    producer = BatchProducer(settings.bootstrap_servers)
    publish_registry(producer, fleet, run)

    total_batches = sum(
        -(-((run.end_ms - run.start_ms) // (run.interval_s * 1000)) // run.intervals_per_batch) for _ in fleet
    )
    wall_start = time.monotonic()
    columns = [TextColumn("[bold]gateways[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[sim]}"),
               TimeElapsedColumn()]
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("send", total=total_batches, sim="")
        for i, batch in enumerate(_interleaved(fleet, run)):
            last_ts = batch.readings[-1]["ts"]
            if run.speed > 0:
                due = wall_start + (last_ts - run.start_ms) / 1000 / run.speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            province = batch.enterprise.province
            readings = batch.readings

            def delivered(batch=batch, province=province, readings=readings) -> None:
                if ledger.add(batch.batch_id, province, batch.enterprise.uscc, readings):
                    GATEWAY_BATCHES_SENT.labels(province=province).inc()
                    GATEWAY_READINGS_SENT.labels(province=province).inc(len(readings))

            value = encode_batch(batch, int(time.time() * 1000))
            producer.send(topics.READINGS.name, batch.enterprise.uscc.encode(), value, delivered)
            if i % 200 == 0:
                sim = datetime.fromtimestamp(last_ts / 1000, CST).strftime("%Y-%m-%d %H:%M CST")
                progress.update(task, completed=i, sim=sim)
        producer.flush()
        progress.update(task, completed=total_batches)
    return ledger
