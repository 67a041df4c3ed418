"""`ecmon sink`: Kafka output topics -> ClickHouse, in large columnar batches.

Offsets are committed only after ClickHouse accepted every row consumed before the commit, so a
crash replays rows rather than losing them; the tables keep the highest version per natural key
(ReplacingMergeTree + argMax in every query), so replayed rows change nothing.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import defaultdict
from datetime import date, datetime, timezone

from clickhouse_driver import Client
from confluent_kafka import Consumer, TopicPartition
from tenacity import before_sleep_log, retry, retry_if_exception_type, wait_exponential

from ecmon import codec, topics
from ecmon.metric_defs import SINK_BATCH_ROWS, SINK_ERRORS, SINK_INSERT_SECONDS, SINK_LAG, SINK_ROWS_WRITTEN
from ecmon.settings import Settings
from sinks.clickhouse import connect

log = logging.getLogger(__name__)

AGGREGATE_COLUMNS = (
    "level", "entity", "province", "industry_code", "energy_type", "period", "unit",
    "physical_milli", "coal_mgce", "readings", "version",
)
DEAD_LETTER_COLUMNS = (
    "reason", "detail", "source_topic", "source_partition", "source_offset", "uscc", "message_key", "payload",
    "rejected_at",
)


def _period_date(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)


class Rows:
    """Rows of one consumed batch, collected per table, column by column."""

    def __init__(self) -> None:
        self.tables: dict[str, list[tuple]] = defaultdict(list)

    def add_message(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes) -> None:
        try:
            name, record = codec.decode(value)
        except codec.CodecError as exc:
            self.tables["dead_letters"].append(
                (exc.reason, f"sink could not read {topic}: {exc}", topic, partition, offset, "",
                 (key or b"").decode(errors="replace"), value.decode("latin-1"), datetime.utcnow().replace(microsecond=0))
            )
            return
        if name == "aggregate_batch":
            for a in record["aggregates"]:
                self.tables["aggregates_monthly"].append(
                    (a["level"], a["entity"], a["province"], a["industry_code"], a["energy_type"],
                     _period_date(a["period"]), a["unit"], a["physical_milli"], a["coal_mgce"], a["readings"],
                     a["version"])
                )
        elif name == "dead_letter":
            self.tables["dead_letters"].append(
                (record["reason"], record["detail"], record["source_topic"], record["source_partition"],
                 record["source_offset"], record["uscc"], record["key"].decode(errors="replace"),
                 record["payload"].decode("latin-1"), _utc(record["rejected_at"]))
            )

    def __len__(self) -> int:
        return sum(len(r) for r in self.tables.values())


COLUMNS = {"aggregates_monthly": AGGREGATE_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS}


class ClickHouseSink:
    def __init__(self, settings: Settings, max_rows: int = 50_000, max_wait_s: float = 1.0) -> None:
        self.settings = settings
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.client: Client = connect(settings)
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": settings.sink_group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                "fetch.min.bytes": 65_536,
                "fetch.wait.max.ms": 200,
                "log_level": 3,
            }
        )
        self.consumer.subscribe([topics.AGGREGATES.name, topics.DEAD_LETTERS.name])
        self._running = True
        self._last_lag = 0.0

    @retry(
        wait=wait_exponential(multiplier=0.5, max=10),
        retry=retry_if_exception_type(Exception),
        before_sleep=before_sleep_log(log, logging.WARNING),
    )
    def _insert(self, table: str, rows: list[tuple]) -> None:
        """Insert until ClickHouse accepts: while it is down the sink waits and commits nothing."""
        columns = COLUMNS[table]
        started = time.monotonic()
        try:
            self.client.execute(
                f"INSERT INTO {self.settings.clickhouse_database}.{table} ({', '.join(columns)}) VALUES",
                [list(col) for col in zip(*rows)],
                columnar=True,
            )
        except Exception:
            SINK_ERRORS.labels(table=table).inc()
            self.client.disconnect()
            raise
        SINK_INSERT_SECONDS.observe(time.monotonic() - started)
        SINK_BATCH_ROWS.observe(len(rows))
        SINK_ROWS_WRITTEN.labels(table=table).inc(len(rows))

    def run_once(self) -> int:
        rows = Rows()
        deadline = time.monotonic() + self.max_wait_s
        consumed = 0
        while len(rows) < self.max_rows and time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=5000, timeout=max(0.0, deadline - time.monotonic())):
                if msg.error():
                    log.warning("consumer: %s", msg.error())
                    continue
                consumed += 1
                rows.add_message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value())
        for table, table_rows in rows.tables.items():
            self._insert(table, table_rows)
        if consumed:
            self.consumer.commit(asynchronous=False)
        self._report_lag()
        return consumed

    def _report_lag(self) -> None:
        if time.monotonic() - self._last_lag < 5:
            return
        self._last_lag = time.monotonic()
        lag: dict[str, int] = defaultdict(int)
        for tp in self.consumer.assignment():
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=2, cached=False)
            position = self.consumer.position([TopicPartition(tp.topic, tp.partition)])[0].offset
            lag[tp.topic] += max(0, high - position) if position >= 0 else high
        for topic, value in lag.items():
            SINK_LAG.labels(topic=topic).set(value)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        try:
            while self._running:
                self.run_once()
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._running = False
