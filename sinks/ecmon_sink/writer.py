"""`ecmon sink`: Kafka output topics -> ClickHouse, in large columnar batches.

Offsets are committed only after ClickHouse accepted every row consumed before the commit, so a
crash replays rows rather than losing them; the tables keep the highest version per natural key
(ReplacingMergeTree + argMax in every query), so replayed rows change nothing.

Two kinds of failure, handled differently:

- ClickHouse is unavailable (down, restarting, overloaded, a table missing until `ecmon db migrate`, a
  wrong password): the sink waits with exponential backoff and retries the same rows; nothing is
  committed meanwhile, so nothing is lost. Anything not known to be the rows' fault counts as this.
- ClickHouse (or the driver, while serialising) rejects the rows themselves (a value out of range, a
  type mismatch): the batch is split in halves until the rejected rows are alone; those go to the
  dead-letter table with reason ``clickhouse_rejected`` and their original message, the rest is written.
"""

from __future__ import annotations

import logging
import signal
import struct
import threading
import time
from collections import defaultdict

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors
from confluent_kafka import Consumer, KafkaException, TopicPartition

from ecmon import signing, topics
from ecmon.kafka_clients import client_config
from ecmon.metric_defs import (
    DEAD_LETTERS,
    SINK_BATCH_ROWS,
    SINK_ERRORS,
    SINK_INSERT_SECONDS,
    SINK_LAG,
    SINK_ROWS_WRITTEN,
)
from ecmon.settings import Settings
from ecmon_sink.clickhouse import connect
from ecmon_sink.rows import COLUMNS, Origin, Rows, dead_letter_row

log = logging.getLogger(__name__)
# The driver logs a traceback per failed connection attempt; during an outage our one line per retry says enough.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)

# Kept for importers of the previous module layout.
AGGREGATE_COLUMNS = COLUMNS["aggregates_monthly"]
DEAD_LETTER_COLUMNS = COLUMNS["dead_letters"]

SINK_TOPICS = ("AGGREGATES", "DEAD_LETTERS", "REGISTRY", "NORMALISED_READINGS", "ANOMALIES", "MONTHLY_REPORTS",
               "NATIONAL_FEEDBACK", "PRODUCTION_ACCEPTED", "TARGETS")
"""Names in ecmon.topics the sink consumes when they are declared there (record types in sinks/ecmon_sink/rows.py)."""

_E = ch_errors.ErrorCodes
ROW_ERROR_CODES = frozenset({
    _E.CANNOT_PARSE_TEXT, _E.CANNOT_PARSE_INPUT_ASSERTION_FAILED, _E.CANNOT_PARSE_DATE, _E.CANNOT_PARSE_DATETIME,
    _E.CANNOT_PARSE_NUMBER, _E.CANNOT_PARSE_QUOTED_STRING, _E.CANNOT_PARSE_ESCAPE_SEQUENCE, _E.CANNOT_PARSE_UUID,
    _E.TYPE_MISMATCH, _E.CANNOT_CONVERT_TYPE, _E.ARGUMENT_OUT_OF_BOUND, _E.BAD_ARGUMENTS, _E.INCORRECT_DATA,
    _E.TOO_LARGE_STRING_SIZE, _E.TOO_LARGE_ARRAY_SIZE, _E.SIZES_OF_ARRAYS_DOESNT_MATCH, _E.ILLEGAL_TYPE_OF_ARGUMENT,
    _E.UNKNOWN_ELEMENT_IN_ENUM if hasattr(_E, "UNKNOWN_ELEMENT_IN_ENUM") else 36,
    _E.VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE if hasattr(_E, "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE") else 321,
})
"""Server error codes that blame the inserted values, not the server."""

ROW_ERROR_TYPES = (ch_errors.TypeMismatchError, ch_errors.LogicalError, struct.error, OverflowError, ValueError, TypeError, UnicodeError)
"""Errors the driver raises while serialising values the column type cannot hold."""


def rows_at_fault(exc: BaseException) -> bool:
    """True when the rows caused ``exc`` (split and dead-letter); False means wait and retry them all."""
    if isinstance(exc, ch_errors.ServerException):
        if exc.code == _E.TOO_MANY_PARTS:  # "too many partitions for single INSERT block": smaller blocks fix it
            return "single INSERT block" in str(exc)
        return exc.code in ROW_ERROR_CODES
    if isinstance(exc, (ch_errors.NetworkError, ch_errors.SocketTimeoutError, EOFError, OSError)):
        return False
    return isinstance(exc, ROW_ERROR_TYPES)


def _one_per_message(rejected: list[tuple[Origin, str]]) -> list[tuple[Origin, str]]:
    """One dead letter per message, naming every table that refused its rows (the same on a replay)."""
    by_message: dict[tuple[str, int, int], tuple[Origin, list[str]]] = {}
    for origin, why in rejected:
        entry = by_message.setdefault((origin.topic, origin.partition, origin.offset), (origin, []))
        if why not in entry[1]:
            entry[1].append(why)
    return [(origin, "; ".join(whys)[:4000]) for origin, whys in by_message.values()]


class RowsRejected(Exception):
    pass


class SinkStopping(Exception):
    """Raised out of a wait for ClickHouse when the sink is asked to stop: nothing is committed."""


class ClickHouseSink:
    def __init__(self, settings: Settings, max_rows: int = 50_000, max_wait_s: float = 1.0,
                 max_backoff_s: float = 10.0) -> None:
        self.settings = settings
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.max_backoff_s = max_backoff_s
        self.database = settings.clickhouse_database
        # the worker's registry checks need the authority's public key: a sink without it cannot start
        self.authority_public_key = signing.registry_authority_public_key(settings)
        self.client: Client = connect(settings)
        self.consumer = Consumer(
            {
                **client_config(settings, "sink"),
                "group.id": settings.sink_group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                # While ClickHouse is down the sink waits inside one batch; stay in the group for 30 min.
                "max.poll.interval.ms": 1_800_000,
                "fetch.min.bytes": 65_536,
                "fetch.wait.max.ms": 200,
                "log_level": 3,
            }
        )
        self.topics = [getattr(topics, n).name for n in SINK_TOPICS if isinstance(getattr(topics, n, None), topics.TopicSpec)]
        self._running = True
        self._positions: dict[tuple[str, int], int] = {}  # next offset to read, per partition consumed
        self.consumer.subscribe(self.topics, on_revoke=self._forget)

    def _forget(self, _consumer, partitions) -> None:
        """Partitions handed to another sink: their lag is that sink's to report."""
        for p in partitions:
            self._positions.pop((p.topic, p.partition), None)

    # -- inserting ----------------------------------------------------------------------------------
    def _insert_once(self, database: str, table: str, rows: list[tuple]) -> None:
        columns = COLUMNS[table]
        started = time.monotonic()
        try:
            self.client.execute(
                f"INSERT INTO {database}.{table} ({', '.join(columns)}) VALUES",
                [list(col) for col in zip(*rows)],
                columnar=True,
            )
        except BaseException:
            SINK_ERRORS.labels(table=table).inc()
            self.client.disconnect()  # a half-sent insert leaves the connection unusable
            raise
        SINK_INSERT_SECONDS.observe(time.monotonic() - started)
        SINK_BATCH_ROWS.observe(len(rows))
        SINK_ROWS_WRITTEN.labels(table=table).inc(len(rows))

    def _insert_waiting(self, database: str, table: str, rows: list[tuple]) -> None:
        """Insert; while ClickHouse is unavailable wait with backoff. Raises RowsRejected for bad rows."""
        delay, failing_since = 0.5, None
        while True:
            try:
                self._insert_once(database, table, rows)
            except Exception as exc:
                if rows_at_fault(exc):
                    raise RowsRejected(str(exc).strip().splitlines()[0][:500] if str(exc).strip() else repr(exc)) from exc
                failing_since = failing_since or time.monotonic()
                log.warning("insert into %s.%s failed (%s); retrying in %.1f s (failing for %.0f s), nothing committed",
                            database, table, str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc),
                            delay, time.monotonic() - failing_since)
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failing_since is not None:
                log.info("ClickHouse accepts inserts again after %.0f s", time.monotonic() - failing_since)
            return

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._running:
                raise SinkStopping()
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _insert_or_split(self, database: str, table: str, rows: list[tuple],
                         origins: list[Origin]) -> list[tuple[Origin, str]]:
        """Write what ClickHouse accepts; return (message, reason) of each row it rejects alone."""
        try:
            self._insert_waiting(database, table, rows)
            return []
        except RowsRejected:
            if len(rows) == 1:
                try:  # once more on a fresh connection, so a client-side hiccup never costs a good row
                    self._insert_waiting(database, table, rows)
                    return []
                except RowsRejected as again:
                    return [(origins[0], f"{database}.{table} rejected the row: {again}")]
        mid = len(rows) // 2
        return (self._insert_or_split(database, table, rows[:mid], origins[:mid])
                + self._insert_or_split(database, table, rows[mid:], origins[mid:]))

    def write(self, rows: Rows) -> int:
        """Insert every table of ``rows``; rows ClickHouse rejects become dead letters (returns how many)."""
        dead_key = (self.database, "dead_letters")
        rejected: list[tuple[Origin, str]] = []
        for key in sorted(rows.tables, key=lambda k: k == dead_key):  # the dead letters last
            if key != dead_key:
                rejected += self._insert_or_split(*key, rows.tables[key], rows.origins[key])
        rejected = _one_per_message(rejected)
        DEAD_LETTERS.labels(reason="clickhouse_rejected").inc(len(rejected))
        dead_rows = list(rows.tables.get(dead_key, [])) + [
            dead_letter_row(o, "clickhouse_rejected", why) for o, why in rejected]
        dead_origins = list(rows.origins.get(dead_key, [])) + [o for o, _ in rejected]
        if dead_rows:
            for origin, why in self._insert_or_split(*dead_key, dead_rows, dead_origins):
                # A dead letter ClickHouse rejects too: keep where it came from and why, drop the rest.
                log.error("dead letter from %s:%d@%d rejected (%s); writing it without payload",
                          origin.topic, origin.partition, origin.offset, why)
                row = ("clickhouse_rejected", why[:1000], origin.topic, origin.partition, origin.offset, "", "", "",
                       dead_letter_row(origin, "", "")[-1])
                self._insert_waiting(*dead_key, [row])
        return len(rejected)

    # -- the loop -----------------------------------------------------------------------------------
    def run_once(self) -> int:
        rows = Rows(self.database, self.authority_public_key)
        deadline = time.monotonic() + self.max_wait_s
        consumed = 0
        while len(rows) < self.max_rows and time.monotonic() < deadline and self._running:
            # Small consume calls: librdkafka blocks until num_messages arrive or the timeout passes, so a
            # large num_messages would hold every batch for the whole max_wait_s.
            for msg in self.consumer.consume(num_messages=200, timeout=max(0.0, deadline - time.monotonic())):
                if msg.error():
                    log.warning("consumer: %s", msg.error())
                    continue
                consumed += 1
                self._positions[(msg.topic(), msg.partition())] = msg.offset() + 1
                rows.add_message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value())
        self.write(rows)
        for reason, count in rows.rejected.items():  # messages the sink itself could not use
            DEAD_LETTERS.labels(reason=reason).inc(count)
        if consumed:
            try:
                self.consumer.commit(asynchronous=False)
            except KafkaException as exc:  # e.g. the group rebalanced meanwhile: the rows replay, harmlessly
                log.warning("commit failed (%s); the batch will be consumed again and change nothing", exc)
        return consumed

    def _lag_loop(self, every_s: float = 5.0) -> None:
        """Consumer lag per topic: end offsets (asked from the brokers by a separate client, off the main
        loop, because each answer takes a round trip) minus the next offset this sink will read."""
        watermarks = Consumer({**client_config(self.settings, "sink"),
                               "group.id": f"{self.settings.sink_group}-lag", "enable.auto.commit": False,
                               "log_level": 3})
        try:
            while self._running:
                lag: dict[str, int] = defaultdict(int)
                try:
                    for (topic, partition), next_offset in list(self._positions.items()):
                        _low, high = watermarks.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                        lag[topic] += max(0, high - next_offset)
                except KafkaException as exc:
                    log.warning("could not read consumer lag: %s", exc)
                else:
                    for topic, value in lag.items():
                        SINK_LAG.labels(topic=topic).set(value)
                deadline = time.monotonic() + every_s
                while self._running and time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            watermarks.close()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        threading.Thread(target=self._lag_loop, name="sink-lag", daemon=True).start()
        try:
            while self._running:
                try:
                    self.run_once()
                except SinkStopping:
                    log.info("stopping while waiting for ClickHouse; the uncommitted batch will be consumed again")
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._running = False
