"""The sink's contracts without servers: row types that match the migrations, and backpressure while
ClickHouse is down (partitions paused, the consumer polled, offsets committed only after the insert)."""

from __future__ import annotations

import time
import types
import typing
from datetime import date, datetime

import pytest
from clickhouse_driver import errors as ch_errors
from confluent_kafka import TopicPartition

from ecmon import codec, topics
from ecmon.settings import Settings
from ecmon_sink import migrate
from ecmon_sink.rows import COLUMNS, TABLES, Rows
from ecmon_sink.writer import SINK_TOPICS, ClickHouseSink, SinkStopping, consumer_config

AGGREGATES = topics.AGGREGATES.name


# -- row types ---------------------------------------------------------------------------------------------


def test_every_row_type_is_a_tuple_whose_fields_are_the_insert_columns():
    for table, row_type in TABLES.items():
        assert issubclass(row_type, tuple), table  # columnar conversion stays zip(*rows)
        assert COLUMNS[table] == row_type._fields


#: Python type of a field -> the ClickHouse types it may fill
CLICKHOUSE_TYPES = {
    "str": ("String", "Enum8("), "int": ("Int", "UInt"), "float": ("Float64",), "date": ("Date",),
    "datetime": ("DateTime",), "int | None": ("Nullable(Int",), "list[str]": ("Array(String)",),
    "list[int]": ("Array(Int", "Array(UInt"),
}


def _python_type(annotation: object) -> str:
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        return annotation.__name__
    return str(annotation).replace("datetime.", "")


@pytest.fixture(scope="module")
def described():
    """{(database, table): {column: (type, default kind)}} after every migration, on a current engine."""
    chdb_session = pytest.importorskip("chdb.session")
    sess = chdb_session.Session()
    try:
        sess.query("CREATE DATABASE IF NOT EXISTS ecmon")
        for m in migrate.migrations():
            for statement in m.statements("ecmon"):
                sess.query(statement)
        out = sess.query("SELECT database, table, name, type, default_kind FROM system.columns "
                         "WHERE database IN ('ecmon', 'ecmon_370000')", "TabSeparated").bytes().decode()
    finally:
        sess.close()
    tables: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    for line in out.splitlines():
        database, table, name, type_, default = line.split("\t")
        tables.setdefault((database, table), {})[name] = (type_, default)
    return tables


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_row_type_fills_its_table_as_migrated(described, table):
    databases = ["ecmon"] if table == "dead_letters" else ["ecmon", "ecmon_370000"]
    hints = typing.get_type_hints(TABLES[table])
    for database in databases:
        columns = described[(database, table)]
        fields = set(TABLES[table]._fields)
        assert fields <= set(columns), (database, table, fields - set(columns))
        assert all(columns[c][1] for c in set(columns) - fields), "a column the sink leaves out has no default"
        for name in TABLES[table]._fields:
            python_type = _python_type(hints[name])
            assert columns[name][0].startswith(CLICKHOUSE_TYPES[python_type]), (table, name, python_type, columns[name])


def test_a_converted_row_is_its_tables_row_type():
    rows = Rows("ecmon")
    agg = {"level": "PROVINCE", "entity": "370000", "province": "370000", "industry_code": "*",
           "energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1000, "coal_mgce": 123,
           "readings": 5, "version": 2}
    rows.add_message(AGGREGATES, 0, 7, b"k", codec.encode("aggregate_batch", {"emitted_at": 0, "aggregates": [agg]}))
    (row,) = rows.tables[("ecmon", "aggregates_monthly")]
    assert isinstance(row, TABLES["aggregates_monthly"])
    assert row.period == date(2026, 10, 1) and row.version == 2


# -- topics --------------------------------------------------------------------------------------------------


def test_the_sink_subscribes_to_declared_topic_specs():
    assert all(isinstance(spec, topics.TopicSpec) for spec in SINK_TOPICS)
    assert {spec.name for spec in SINK_TOPICS} <= {spec.name for spec in topics.all_topics()}
    consumer = FakeConsumer([])
    make_sink(consumer, FakeClient())
    assert consumer.subscribed == [spec.name for spec in SINK_TOPICS]


def test_the_consumer_polls_within_a_normal_max_poll_interval():
    config = consumer_config(Settings(kafka_security="insecure-plaintext"))
    assert config["max.poll.interval.ms"] <= 300_000
    assert config["enable.auto.commit"] is False


# -- backpressure ----------------------------------------------------------------------------------------------


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._where, self._value = (topic, partition, offset), value

    def error(self):
        return None

    def topic(self):
        return self._where[0]

    def partition(self):
        return self._where[1]

    def offset(self):
        return self._where[2]

    def key(self):
        return b""

    def value(self):
        return self._value


class FakeConsumer:
    """Hands out its messages once, in one consume call, from partitions that are not paused; records
    pauses, resumes, seeks, commits and how often it was polled while paused."""

    def __init__(self, messages: list[FakeMessage], partitions=((AGGREGATES, 0), (AGGREGATES, 1))) -> None:
        self.messages = messages
        self.assigned = [TopicPartition(t, p) for t, p in partitions]
        self.paused: set[tuple[str, int]] = set()
        self.polls_while_paused = 0
        self.seeks: list[tuple[str, int, int]] = []
        self.commits: list[list[tuple[str, int, int]]] = []
        self.on_poll_while_paused = None  # called on each poll while paused (a rebalance, a stray message)
        self.subscribed: list[str] = []
        self.on_revoke = None

    def subscribe(self, topics, on_revoke=None):
        self.subscribed, self.on_revoke = list(topics), on_revoke

    def assignment(self):
        return list(self.assigned)

    def pause(self, partitions):
        self.paused |= {(p.topic, p.partition) for p in partitions}

    def resume(self, partitions):
        self.paused -= {(p.topic, p.partition) for p in partitions}

    def seek(self, partition):
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def consume(self, num_messages=1, timeout=-1):
        if self.paused:
            self.polls_while_paused += 1
            if self.on_poll_while_paused is not None:
                return self.on_poll_while_paused(self) or []
            time.sleep(min(timeout, 0.01))
            return []
        out = [m for m in self.messages if (m.topic(), m.partition()) not in self.paused][:num_messages]
        self.messages = [m for m in self.messages if m not in out]
        return out

    def commit(self, offsets=None, asynchronous=True):
        assert offsets is not None and not asynchronous
        self.commits.append([(o.topic, o.partition, o.offset) for o in offsets])

    def revoke_all(self):
        partitions, self.assigned = self.assigned, []
        self.on_revoke(self, partitions)


class FakeClient:
    """Refuses connections for its first ``outages`` inserts (or always); records the inserts it takes and
    whether the consumer was paused at each refused one."""

    def __init__(self, outages: int = 0, consumer: FakeConsumer | None = None) -> None:
        self.outages, self.consumer = outages, consumer
        self.inserted: list[tuple[str, int]] = []
        self.paused_at_failures: list[bool] = []

    def execute(self, query, columns, columnar):
        assert columnar
        if self.outages:
            self.outages -= 1
            self.paused_at_failures.append(bool(self.consumer and self.consumer.paused))
            raise ch_errors.NetworkError("Connection refused")
        self.inserted.append((query.split()[2], len(columns[0])))

    def disconnect(self):
        pass


def aggregate_message(partition: int, offset: int) -> FakeMessage:
    agg = {"level": "ENTERPRISE", "entity": f"E{partition}-{offset}", "province": "", "industry_code": "3110",
           "energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1, "coal_mgce": 1,
           "readings": 1, "version": 1}
    return FakeMessage(AGGREGATES, partition, offset,
                       codec.encode("aggregate_batch", {"emitted_at": 0, "aggregates": [agg]}))


def make_sink(consumer: FakeConsumer, client: FakeClient) -> ClickHouseSink:
    return ClickHouseSink(Settings(), max_wait_s=0.05, max_backoff_s=0.02, consumer=consumer, client=client,
                          authority_public_key=b"")


def batch() -> list[FakeMessage]:
    return [aggregate_message(0, 10), aggregate_message(0, 11), aggregate_message(1, 5)]


def test_while_clickhouse_is_down_the_partitions_are_paused_and_polled_then_resumed_and_committed():
    consumer = FakeConsumer(batch())
    client = FakeClient(outages=3, consumer=consumer)
    sink = make_sink(consumer, client)
    started = time.monotonic()
    assert sink.run_once() == 3
    assert time.monotonic() - started < 5
    assert client.paused_at_failures == [False, True, True]  # paused from the first wait on
    assert consumer.polls_while_paused > 0  # the consumer kept polling: it stays in its group
    assert consumer.paused == set()  # resumed once the insert succeeded
    assert client.inserted == [("ecmon.aggregates_monthly", 3)]
    assert consumer.commits == [[(AGGREGATES, 0, 12), (AGGREGATES, 1, 6)]]  # only after the insert


def test_a_batch_whose_partitions_are_revoked_while_waiting_is_dropped_uncommitted():
    consumer = FakeConsumer(batch())
    client = FakeClient(outages=1_000, consumer=consumer)
    sink = make_sink(consumer, client)
    consumer.on_poll_while_paused = lambda c: c.revoke_all()
    assert sink.run_once() == 0
    assert consumer.commits == [] and client.inserted == []
    assert consumer.paused == set()  # nothing left paused for the next assignment
    assert sink._positions == {}  # the lag of revoked partitions is their next owner's


def test_messages_polled_while_paused_are_read_again_not_skipped():
    consumer = FakeConsumer(batch())
    client = FakeClient(outages=2, consumer=consumer)
    sink = make_sink(consumer, client)
    stray = [aggregate_message(1, 7), aggregate_message(1, 6)]
    consumer.on_poll_while_paused = lambda c: stray if not c.seeks else []
    assert sink.run_once() == 3
    assert consumer.seeks == [(AGGREGATES, 1, 6)]  # back to the first stray message of the partition
    assert consumer.commits == [[(AGGREGATES, 0, 12), (AGGREGATES, 1, 6)]]  # the batch's offsets, not the strays'


def test_a_stop_while_waiting_commits_nothing():
    consumer = FakeConsumer(batch())
    client = FakeClient(outages=1_000, consumer=consumer)
    sink = make_sink(consumer, client)

    def stop(_consumer):
        sink.stop()

    consumer.on_poll_while_paused = stop
    with pytest.raises(SinkStopping):
        sink.run_once()
    assert consumer.commits == []


def test_the_batch_is_inserted_columnar_with_the_row_types_columns():
    consumer = FakeConsumer(batch())
    queries: list[str] = []

    class Recording(FakeClient):
        def execute(self, query, columns, columnar):
            queries.append(query)
            assert len(columns) == len(COLUMNS["aggregates_monthly"])
            assert columns[COLUMNS["aggregates_monthly"].index("period")] == [date(2026, 10, 1)] * 3
            super().execute(query, columns, columnar)

    make_sink(consumer, Recording()).run_once()
    assert queries == [f"INSERT INTO ecmon.aggregates_monthly ({', '.join(COLUMNS['aggregates_monthly'])}) VALUES"]


def test_datetime_annotations_are_checked():
    assert _python_type(datetime) == "datetime" and _python_type(int | None) == "int | None"
    assert _python_type(list[int]) == "list[int]"


def test_the_batch_window_is_a_setting():
    """ECMON_SINK_BATCH_MS: how long the sink gathers messages before it writes (default 1 s)."""
    quick = ClickHouseSink(Settings(sink_batch_ms=250), consumer=FakeConsumer([]), client=FakeClient(),
                           authority_public_key=b"")
    default = ClickHouseSink(Settings(), consumer=FakeConsumer([]), client=FakeClient(), authority_public_key=b"")
    assert (quick.max_wait_s, default.max_wait_s) == (0.25, 1.0)
