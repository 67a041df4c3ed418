"""Reading-to-ClickHouse latency at a fixed offered load.

The sender paces the fleet's batches evenly at ``rate`` readings/s (not in quarter-hour bursts) and
notes, per batch, its ``sent_at`` (the value written into the batch) and the enterprise's cumulative
reading count after it. A poller asks ClickHouse every ``poll_s`` how many readings each enterprise's
ENTERPRISE aggregate rows hold (newest version of each row); a batch is visible once that count
reaches its cumulative count. Latency = start of the first poll that shows it - sent_at, so it is an
upper bound, too high by at most one poll interval plus the query time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_gateway.delivery import BatchProducer
from ecmon_ops.bench.figures import LatencyMatcher, percentile
from ecmon_simulator.runs import FleetRun, encode_batch, fleet_source, publish_registry, registry_producer
from ecmon_sink.clickhouse import connect

VISIBLE = """
    SELECT entity, sum(r) FROM (
        SELECT entity, argMax(readings, version) AS r
        FROM {db}.aggregates_monthly
        WHERE level = 'ENTERPRISE' AND entity IN %(entities)s
        GROUP BY entity, energy_type, unit, period)
    GROUP BY entity
"""


@dataclass(frozen=True)
class LatencyResult:
    offered_per_s: float
    achieved_per_s: float  # what the sender managed (the machine is shared)
    seconds: float
    batches: int
    readings: int
    visible: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None
    poll_s: float
    poll_query_s: float  # mean ClickHouse query time of one poll: part of the resolution

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _poll(settings: Settings, matcher: LatencyMatcher, lock: threading.Lock, entities: list[str], poll_s: float,
          stop: threading.Event, query_times: list[float]) -> None:
    client = connect(settings)
    query = VISIBLE.format(db=settings.clickhouse_database)
    while not stop.is_set():
        started = time.time()
        rows = client.execute(query, {"entities": tuple(entities)})
        query_times.append(time.time() - started)
        with lock:
            for entity, visible in rows:
                matcher.seen(entity, visible, started)
        time.sleep(max(0.0, poll_s - (time.time() - started)))


def measure_latency(settings: Settings, run: FleetRun, rate: float, duration_s: float, poll_s: float = 0.1,
                    drain_timeout_s: float = 120.0) -> LatencyResult:
    fleet = run.fleet()
    source = fleet_source(run, fleet)
    producer = BatchProducer(client_config(settings, "gateway"), client_id="ecmon-bench-latency")
    publish_registry(registry_producer(settings), fleet, source.start_ms, source.interval_s, settings.state_dir)
    matcher, lock = LatencyMatcher(), threading.Lock()
    stop = threading.Event()
    query_times: list[float] = []
    poller = threading.Thread(target=_poll, args=(settings, matcher, lock, [e.uscc for e in fleet], poll_s, stop,
                                                  query_times), daemon=True)
    poller.start()
    cumulative: dict[str, int] = defaultdict(int)
    sent_readings = batches = 0
    started = time.monotonic()
    try:
        for batch in source.batches({}):
            wait = started + sent_readings / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if time.monotonic() - started >= duration_s:
                break
            uscc = batch.enterprise.uscc
            sent_at = time.time()
            value = encode_batch(batch, int(sent_at * 1000), settings.state_dir)
            cumulative[uscc] += len(batch.readings)
            with lock:
                matcher.sent(uscc, cumulative[uscc], int(sent_at * 1000) / 1000)
            producer.send(topics.READINGS.name, uscc.encode(), value)
            sent_readings += len(batch.readings)
            batches += 1
        seconds = time.monotonic() - started
        producer.flush()
        deadline = time.monotonic() + drain_timeout_s
        while time.monotonic() < deadline:
            with lock:
                if matcher.waiting == 0:
                    break
            time.sleep(poll_s)
    finally:
        stop.set()
        poller.join(timeout=10)
    lat = matcher.latencies_s
    return LatencyResult(
        offered_per_s=rate, achieved_per_s=sent_readings / seconds if seconds else 0.0, seconds=seconds,
        batches=batches, readings=sent_readings, visible=len(lat),
        p50_s=percentile(lat, 50) if lat else None, p99_s=percentile(lat, 99) if lat else None,
        max_s=max(lat) if lat else None, poll_s=poll_s,
        poll_query_s=sum(query_times) / len(query_times) if query_times else 0.0,
    )
