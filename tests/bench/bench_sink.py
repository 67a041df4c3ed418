"""Sink throughput benchmark: `ClickHouseSink` (Kafka -> decode -> rows -> ClickHouse, offsets committed)
against a plain clickhouse-driver columnar insert of the same rows, in the same run.

Not a test (pytest does not collect it). It starts its own Kafka and ClickHouse on ports 24xxx under a
temporary state directory, and stops them at the end::

    .venv/bin/python tests/bench/bench_sink.py [--rows 200000] [--per-message 500]

Rows are enterprise aggregates of provinces with their own database, so the sink writes every row twice
(national and province database): "rows/s" counts source rows, "inserted/s" the rows ClickHouse took.
The baseline inserts the same tuples (already built, national table only) with one
``execute(..., columnar=True)`` per batch of the same size the sink uses.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

from ecmon import codec, topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_ops.stack import stack
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect
from ecmon_sink.rows import COLUMNS, Rows
from ecmon_sink.writer import ClickHouseSink

PORTS = dict(kafka_port=24092, clickhouse_port=24000, clickhouse_http_port=24123, prometheus_port=24090,
             alertmanager_port=24190, metrics_port_base=24200)
PROVINCES = ("210000", "310000", "370000")


def messages(rows: int, per_message: int) -> list[bytes]:
    out, n = [], 0
    while n < rows:
        aggs = []
        for _ in range(min(per_message, rows - n)):
            p = PROVINCES[n % 3]
            aggs.append({"level": "ENTERPRISE", "entity": f"91{p[:2]}0100MA{n:07d}X"[:18], "province": p,
                         "industry_code": "3110", "energy_type": "electricity", "period": "2026-10", "unit": "kWh",
                         "physical_milli": n * 1000, "coal_mgce": n * 122_900, "readings": 2976, "version": 1})
            n += 1
        out.append(codec.encode("aggregate_batch", {"emitted_at": 0, "aggregates": aggs}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--per-message", type=int, default=500)
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="ecmon-bench-sink-"))
    settings = Settings(state_dir=state, sink_group="bench-sink", **PORTS)
    stack.up(settings, only=["kafka-1", "clickhouse"])
    try:
        migrate.migrate(settings)
        payloads = messages(args.rows, args.per_message)
        producer = Producer({**client_config(settings, "worker"), "linger.ms": 20,
                             "compression.type": "lz4", "message.max.bytes": 10_000_000})
        # Warm-up: one message, so the sink has joined its group before the clock starts.
        warmup = messages(1, 1)[0]
        producer.produce(topics.AGGREGATES.name, value=warmup)
        producer.flush(60)
        sink = ClickHouseSink(settings)
        while sink.run_once() == 0:
            pass
        for p in payloads:
            producer.produce(topics.AGGREGATES.name, value=p)
        producer.flush(60)

        # Baseline: the same rows, built beforehand, plain columnar inserts into the national table.
        rows = Rows(settings.clickhouse_database)
        for i, p in enumerate(payloads):
            rows.add_message(topics.AGGREGATES.name, 0, i, b"", p)
        national = rows.tables[(settings.clickhouse_database, "aggregates_monthly")]
        client = connect(settings)
        client.execute("CREATE TABLE IF NOT EXISTS default.bench_baseline AS ecmon.aggregates_monthly")
        cols = ", ".join(COLUMNS["aggregates_monthly"])
        started = time.perf_counter()
        for i in range(0, len(national), 50_000):
            chunk = national[i:i + 50_000]
            client.execute(f"INSERT INTO default.bench_baseline ({cols}) VALUES", [list(c) for c in zip(*chunk)],
                           columnar=True)
        baseline = time.perf_counter() - started

        # The sink: consume, decode, route (national + province), insert, commit.
        started, consumed = time.perf_counter(), 0
        while consumed < len(payloads):
            consumed += sink.run_once()
            if time.perf_counter() - started > 600:
                raise SystemExit("the sink did not consume every message within 600 s")
        sink_s = time.perf_counter() - started
        sink.consumer.close()
        written = client.execute("SELECT uniqExact(entity) FROM ecmon.aggregates_monthly")[0][0]
        assert written == args.rows, (written, args.rows)  # the warm-up row is row 0 again: same key

        print(f"{args.rows:,} aggregate rows in {len(payloads):,} messages of {args.per_message}")
        print(f"{'plain clickhouse-driver columnar insert (baseline)':52} {args.rows / baseline:>12,.0f} rows/s")
        print(f"{'ecmon sink (Kafka->decode->national+province->commit)':52} {args.rows / sink_s:>12,.0f} rows/s"
              f"   ({2 * args.rows / sink_s:,.0f} inserted/s)   = {baseline / sink_s:.2f} x baseline")
    finally:
        stack.down(settings, only=["kafka-1", "clickhouse"])


if __name__ == "__main__":
    main()
