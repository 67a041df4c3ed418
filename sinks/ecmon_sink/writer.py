"""`ecmon sink`: Kafka output topics -> ClickHouse, in large columnar batches.

Offsets are committed only after ClickHouse accepted every row consumed before the commit, so a
crash replays rows rather than losing them; the tables keep the highest version per natural key
(ReplacingMergeTree + argMax in every query), so replayed rows change nothing.

Two kinds of failure, handled differently:

- ClickHouse is unavailable (down, restarting, overloaded, a table missing until `ecmon db migrate`, a
  wrong password): the sink pauses its partitions and keeps polling Kafka (so it stays in its group and
  sees rebalances), retries the same rows with exponential backoff, and resumes the partitions once an
  insert succeeds; nothing is committed meanwhile, so nothing is lost. If its partitions are revoked
  while it waits, it drops the batch: the next owner reads it again from the last commit. Anything not
  known to be the rows' fault counts as unavailability.
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
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from ecmon import signing, topics
from ecmon.dead_letter_reasons import Reason
from ecmon.kafka_clients import client_config
from ecmon.metric_defs import (
    DEAD_LETTERS,
    SINK_BATCH_ROWS,
    SINK_ERRORS,
    SINK_INSERT_SECONDS,
    SINK_LAG,
    SINK_ROWS_WRITTEN,
)
from ecmon.principals import SINK_INPUTS
from ecmon.settings import Settings
from ecmon_sink.clickhouse import connect
from ecmon_sink.rows import COLUMNS, DeadLetterRow, Origin, Row, Rows, dead_letter_row, now_utc

log = logging.getLogger(__name__)
# The driver logs a traceback per failed connection attempt; during an outage our one line per retry says enough.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)

SINK_TOPICS: tuple[topics.TopicSpec, ...] = SINK_INPUTS
"""The topics the sink consumes are exactly those its Kafka user may read; the record type of each is in
rows.TOPIC_RECORDS (a unit test keeps the two the same)."""

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

ROW_ERROR_TYPES = (ch_errors.TypeMismatchError, ch_errors.LogicalError, struct.error, OverflowError, ValueError,
                   TypeError, UnicodeError)
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


def _coordinates(msg: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (all set when ``msg.error()`` is None)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def _first_line(exc: BaseException, limit: int) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else repr(exc)


class RowsRejected(Exception):
    pass


class SinkStopping(Exception):
    """Raised out of a wait for ClickHouse when the sink is asked to stop: nothing is committed."""


class BatchRevoked(Exception):
    """Raised out of a wait for ClickHouse when the batch's partitions were revoked: nothing is committed, the
    next owner reads the batch again from the last commit."""


def consumer_config(settings: Settings) -> dict[str, Any]:
    return {
        **client_config(settings, "sink"),
        "group.id": settings.sink_group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Eager rebalancing (librdkafka's default, stated because the sink relies on it): a rebalance revokes
        # every partition, and the next assignment starts from the committed offsets, so a batch dropped on
        # revoke is read again whoever owns its partitions next.
        "partition.assignment.strategy": "range,roundrobin",
        "session.timeout.ms": 10_000,
        # The sink polls while it waits for ClickHouse (its partitions paused), so the default applies.
        "max.poll.interval.ms": 300_000,
        "fetch.min.bytes": 65_536,
        "fetch.wait.max.ms": 200,
        "log_level": 3,
    }


class ClickHouseSink:
    def __init__(self, settings: Settings, max_rows: int = 50_000, max_wait_s: float | None = None,
                 max_backoff_s: float = 10.0, *, consumer: Consumer | None = None, client: Client | None = None,
                 authority_public_key: bytes | None = None) -> None:
        """``consumer``, ``client`` and ``authority_public_key`` replace the real ones (tests)."""
        self.settings = settings
        self.max_rows = max_rows
        self.max_wait_s = settings.sink_batch_ms / 1000 if max_wait_s is None else max_wait_s
        self.max_backoff_s = max_backoff_s
        self.database = settings.clickhouse_database
        # the worker's registry checks need the authority's public key: a sink without it cannot start
        self.authority_public_key = (signing.registry_authority_public_key(settings)
                                     if authority_public_key is None else authority_public_key)
        self.client: Client = connect(settings) if client is None else client
        self.consumer: Consumer = Consumer(consumer_config(settings)) if consumer is None else consumer
        self.topics = [spec.name for spec in SINK_TOPICS]
        self._running = True
        self._positions: dict[tuple[str, int], int] = {}  # next offset to read, per partition consumed
        self._batch: dict[tuple[str, int], int] = {}  # offset to commit per partition of the batch in hand
        self._batch_revoked = False
        self._paused: list[TopicPartition] = []
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions handed to another sink: their lag is that sink's to report, the batch in hand is
        dropped (BatchRevoked), and none stays paused (librdkafka keeps a partition's pause across
        assignments)."""
        gone = {(p.topic, p.partition) for p in partitions}
        for key in gone:
            self._positions.pop(key, None)
        if gone & self._batch.keys():
            self._batch_revoked = True
        paused_here = [p for p in self._paused if (p.topic, p.partition) in gone]
        if paused_here:
            self._paused = [p for p in self._paused if (p.topic, p.partition) not in gone]
            try:
                self.consumer.resume(paused_here)
            except KafkaException as exc:
                log.warning("could not resume revoked partitions: %s", exc)

    # -- backpressure -------------------------------------------------------------------------------
    def _pause(self) -> None:
        if self._paused:
            return
        self._paused = list(self.consumer.assignment())
        if self._paused:
            self.consumer.pause(self._paused)
            log.info("paused %d partitions until ClickHouse accepts inserts again", len(self._paused))

    def _resume(self) -> None:
        if self._paused:
            paused, self._paused = self._paused, []
            self.consumer.resume(paused)
            log.info("resumed %d partitions", len(paused))

    def _wait_polling(self, seconds: float) -> None:
        """Wait ``seconds`` with the partitions paused, polling meanwhile: the consumer stays in its group
        (max.poll.interval.ms) and runs the rebalance callbacks. Raises SinkStopping or BatchRevoked."""
        self._pause()
        deadline = time.monotonic() + seconds
        while True:
            if not self._running:
                raise SinkStopping()
            if self._batch_revoked:
                raise BatchRevoked()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._rewind(self.consumer.consume(num_messages=100, timeout=min(0.2, left)))

    def _rewind(self, messages: list[Message]) -> None:
        """Messages polled while paused (fetched before the pause) are not part of the batch: seek back to
        the first of each partition so they are read again after the resume, never skipped by a commit."""
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            if msg.error():
                log.warning("consumer: %s", msg.error())
                continue
            topic, partition, offset = _coordinates(msg)
            first[(topic, partition)] = min(first.get((topic, partition), offset), offset)
        for (topic, partition), offset in first.items():
            log.info("rewinding %s[%d] to %d: polled while paused", topic, partition, offset)
            self.consumer.seek(TopicPartition(topic, partition, offset))

    # -- inserting ----------------------------------------------------------------------------------
    def _insert_once(self, database: str, table: str, rows: list[Row]) -> None:
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

    def _insert_waiting(self, database: str, table: str, rows: list[Row]) -> None:
        """Insert; while ClickHouse is unavailable wait with backoff, partitions paused. Raises RowsRejected
        for bad rows, SinkStopping or BatchRevoked out of a wait."""
        delay, failing_since = 0.5, None
        while True:
            try:
                self._insert_once(database, table, rows)
            except Exception as exc:
                if rows_at_fault(exc):
                    raise RowsRejected(_first_line(exc, 500)) from exc
                failing_since = failing_since or time.monotonic()
                log.warning("insert into %s.%s failed (%s); retrying in %.1f s (failing for %.0f s), nothing committed",
                            database, table, _first_line(exc, 300), delay, time.monotonic() - failing_since)
                self._wait_polling(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failing_since is not None:
                log.info("ClickHouse accepts inserts again after %.0f s", time.monotonic() - failing_since)
                self._resume()
            return

    def _insert_or_split(self, database: str, table: str, rows: list[Row],
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
        DEAD_LETTERS.labels(reason=Reason.CLICKHOUSE_REJECTED).inc(len(rejected))
        dead_rows: list[Row] = list(rows.tables.get(dead_key, [])) + [
            dead_letter_row(o, Reason.CLICKHOUSE_REJECTED, why) for o, why in rejected]
        dead_origins = list(rows.origins.get(dead_key, [])) + [o for o, _ in rejected]
        if dead_rows:
            for origin, why in self._insert_or_split(*dead_key, dead_rows, dead_origins):
                # A dead letter ClickHouse rejects too: keep where it came from and why, drop the rest.
                log.error("dead letter from %s:%d@%d rejected (%s); writing it without payload",
                          origin.topic, origin.partition, origin.offset, why)
                row = DeadLetterRow(reason=Reason.CLICKHOUSE_REJECTED, detail=why[:1000], source_topic=origin.topic,
                                    source_partition=origin.partition, source_offset=origin.offset, uscc="",
                                    message_key="", payload="", rejected_at=now_utc())
                self._insert_waiting(*dead_key, [row])
        return len(rejected)

    # -- the loop -----------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Consume one batch, write it, commit its offsets. Returns the number of messages committed (0 when
        the batch was dropped because its partitions were revoked)."""
        rows = Rows(self.database, self.authority_public_key)
        self._batch, self._batch_revoked = {}, False
        deadline = time.monotonic() + self.max_wait_s
        consumed = 0
        while len(rows) < self.max_rows and time.monotonic() < deadline and self._running and not self._batch_revoked:
            # Small consume calls: librdkafka blocks until num_messages arrive or the timeout passes, so a
            # large num_messages would hold every batch for the whole max_wait_s.
            for msg in self.consumer.consume(num_messages=200, timeout=max(0.0, deadline - time.monotonic())):
                if msg.error():
                    log.warning("consumer: %s", msg.error())
                    continue
                consumed += 1
                topic, partition, offset = _coordinates(msg)
                self._positions[(topic, partition)] = self._batch[(topic, partition)] = offset + 1
                rows.add_message(topic, partition, offset, msg.key(), msg.value())
        try:
            if not self._batch_revoked:
                self.write(rows)
        except BatchRevoked:
            pass
        if self._batch_revoked:
            self._resume()
            log.info("partitions revoked; %d messages left uncommitted for their next owner", consumed)
            return 0
        for reason, count in rows.rejected.items():  # messages the sink itself could not use
            DEAD_LETTERS.labels(reason=reason).inc(count)
        if self._batch:
            try:
                self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in self._batch.items()],
                                     asynchronous=False)
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
