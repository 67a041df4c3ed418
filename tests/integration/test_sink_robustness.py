"""The sink on real Kafka and ClickHouse 18.16: a 60 s ClickHouse outage, a kill -9, a row ClickHouse rejects.

Own stack (kafka-1 and ClickHouse on ports 30xxx, state under tmp_path), no worker: the test publishes
aggregate batches and registry records itself, so it knows exactly what ClickHouse must end up holding.
The sink runs as a subprocess with its own ClickHouse user (ecmon_sink).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest
from confluent_kafka import Producer

from ecmon import codec, signing, topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon.uscc import make_uscc
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import app_process
from ecmon_ops.stack.process import wait_until
from ecmon_ops.stack.services import ClickHouseServer
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range (32768-60999): while ClickHouse is down, the sink's reconnects could
# otherwise be handed its port as their own local port and keep the restarted server from binding it.
PORTS = dict(kafka_port=30092, clickhouse_port=30000, clickhouse_http_port=30123, prometheus_port=30090,
             alertmanager_port=30190, metrics_port_base=30200)
SINK_USER = {"ECMON_CLICKHOUSE_USER": "ecmon_sink", "ECMON_CLICKHOUSE_PASSWORD": ""}  # password: the secrets file
PROVINCES = ("370000", "210000")
OUTAGE_S = 60


def uscc(province: str, i: int) -> str:
    return make_uscc(province[:2] + "0100", 900 + i)  # valid: the sink refuses registry records with a bad USCC


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("sink"), **PORTS)
    saved = dict(os.environ)
    os.environ.update({f"ECMON_{k.upper()}": str(v) for k, v in PORTS.items()})
    os.environ.update({"ECMON_STATE_DIR": str(settings.state_dir), **SINK_USER})
    try:
        stack.up(settings, only=["kafka-1", "clickhouse"])
        migrate.migrate(settings)  # as the administrator (ecmon_admin)
        yield settings
    finally:
        app_process(settings, "sink").stop(timeout=30)
        stack.down(settings, only=["kafka-1", "clickhouse"])
        os.environ.clear()
        os.environ.update(saved)


class Feed:
    """Aggregate batches with rising versions; remembers the newest value of every key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer({**client_config(settings, "worker"), "acks": "all", "log_level": 0})
        self.registry = Producer({**client_config(settings, "registry"), "acks": "all", "log_level": 0})
        self.version = 0
        self.latest: dict[tuple, tuple[int, int]] = {}

    def send(self, bad_readings: bool = False) -> None:
        self.version += 1
        v, aggregates = self.version, []
        for province in PROVINCES:
            for i in range(3):
                aggregates.append(self._agg("ENTERPRISE", uscc(province, i), province, "3110", v * 1000 + i, v))
            aggregates.append(self._agg("PROVINCE", province, province, "*", v * 3000 + 3, v))
        if bad_readings:  # readings is UInt64: ClickHouse cannot hold -1
            bad = self._agg("PROVINCE", "370000", "370000", "9999", 1, v, readings=-1, remember=False)
            aggregates.append(bad)
        value = codec.encode("aggregate_batch", {"emitted_at": int(time.time() * 1000), "aggregates": aggregates})
        self.producer.produce(topics.AGGREGATES.name, key=b"370000", value=value)
        self.producer.flush(10)

    def _agg(self, level, entity, province, industry, coal, v, readings=None, remember=True) -> dict:
        readings = v if readings is None else readings
        if remember:
            self.latest[(level, entity)] = (coal, readings)
        return {"level": level, "entity": entity, "province": province, "industry_code": industry,
                "energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": coal,
                "coal_mgce": coal, "readings": readings, "version": v}

    def register(self) -> None:
        authority = signing.registry_authority(self.settings.state_dir)
        public_key = {"key_id": "k1", "algorithm": "ed25519",
                      "public_key": signing.public_key_raw(signing.generate_private_key()),
                      "valid_from": 1_780_000_000_000, "valid_until": None, "revoked_at": None}
        for province in PROVINCES:
            for i in range(3):
                record = {"uscc": uscc(province, i), "name": f"Enterprise {province}-{i}",
                          "region_code": province[:2] + "0100", "industry_code": "3110", "tier": "NATIONAL_KEY",
                          "key_id": "k1", "meters": [{"meter_id": "m1", "energy_type": "electricity", "unit": "kWh",
                                                      "interval_s": 900}], "valid_from": 1_780_000_000_000,
                          "public_keys": [public_key], "registry_signature": b""}
                signed = signing.sign_registry_record(record, authority)  # the sink refuses unsigned records
                self.registry.produce(topics.REGISTRY.name, key=record["uscc"].encode(),
                                      value=codec.encode("enterprise_record", signed))
        assert self.registry.flush(10) == 0, "registry records not acknowledged"


def held(client, db: str) -> dict[tuple, tuple[int, int]]:
    rows = client.execute(f"""SELECT toString(level), entity, argMax(coal_mgce, version), argMax(readings, version)
                              FROM {db}.aggregates_monthly WHERE industry_code != '9999' GROUP BY level, entity""")
    return {(lvl, e): (c, n) for lvl, e, c, n in rows}


def expected_in(feed: Feed, province: str | None) -> dict:
    return {k: v for k, v in feed.latest.items()
            if province is None or k[1] == province or k[1].startswith(f"91{province[:2]}")}


def wait_for(client, feed: Feed, timeout: float) -> None:
    def done() -> bool:
        try:
            return held(client, "ecmon") == expected_in(feed, None) and all(
                held(client, f"ecmon_{p}") == expected_in(feed, p) for p in PROVINCES)
        except Exception:
            return False

    assert wait_until(done, timeout=timeout, interval=0.5), (held(client, "ecmon"), expected_in(feed, None))


def test_sink_survives_a_clickhouse_outage_and_a_kill_9_exactly(live):
    client = connect(live)
    feed = Feed(live)
    feed.register()
    sink = app_process(live, "sink")
    sink.start()
    for _ in range(5):
        feed.send()
    feed.send(bad_readings=True)
    wait_for(client, feed, timeout=60)

    # A row ClickHouse rejects: in the dead letters with the reason, the rest of its batch written. The sink inserts
    # the dead letter after the batch's good rows (and commits after both), so it may land a moment later.
    def dead_letters() -> list:
        return client.execute("SELECT reason, detail, source_topic FROM ecmon.dead_letters")

    assert wait_until(lambda: bool(dead_letters()), timeout=30, interval=0.5), "no dead letter for the rejected row"
    dead = dead_letters()
    assert [(r[0], r[2]) for r in dead] == [("clickhouse_rejected", topics.AGGREGATES.name)], dead
    assert "readings" in dead[0][1]
    names = client.execute("SELECT uscc, argMax(name, version) FROM ecmon_370000.enterprises GROUP BY uscc")
    assert sorted(n for _u, n in names) == [f"Enterprise 370000-{i}" for i in range(3)]
    assert client.execute("SELECT count() FROM ecmon_210000.enterprises WHERE province != '210000'") == [(0,)]

    # ClickHouse down for 60 s while data keeps flowing; the sink waits with backoff and resumes.
    clickhouse = ClickHouseServer(name="clickhouse", port=live.clickhouse_port, settings=live)
    clickhouse.process.stop()
    started = time.monotonic()
    while time.monotonic() - started < OUTAGE_S:
        feed.send()
        time.sleep(2)
    assert sink.pid() is not None, "the sink died during the ClickHouse outage"
    stack.up(live, only=["clickhouse"])
    client = connect(live)
    wait_for(client, feed, timeout=60)

    # kill -9 of the sink in the middle of a stream: restarted, it replays from the committed offsets.
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            feed.send()
            time.sleep(0.05)

    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(3)
    os.kill(sink.pid(), signal.SIGKILL)
    time.sleep(2)
    stop.set()
    sender.join()
    sink.start()
    wait_for(client, feed, timeout=60)

    # No duplicates visible: one row per key in every query, province databases hold only their province.
    for db in ("ecmon", *(f"ecmon_{p}" for p in PROVINCES)):
        keys = client.execute(f"SELECT count(), uniqExact(level, entity) FROM (SELECT level, entity, "
                              f"argMax(coal_mgce, version) FROM {db}.aggregates_monthly GROUP BY level, entity)")
        assert keys[0][0] == keys[0][1]
    assert client.execute("SELECT DISTINCT province FROM ecmon_210000.aggregates_monthly") == [("210000",)]
    assert client.execute(
        "SELECT uniqExact(source_topic, source_partition, source_offset) FROM ecmon.dead_letters") == [(1,)]

    port = next(iter(p for p in range(live.metrics_port_base + 20, live.metrics_port_base + 30)
                     if _metrics(p)), None)
    assert port is not None, "the sink serves no /metrics"
    lag_line = f'ecmon_sink_consumer_lag{{topic="{topics.AGGREGATES.name}"}}'
    assert wait_until(lambda: lag_line in _metrics(port), timeout=20), "no consumer lag reported"
    text = _metrics(port)
    for name in ("ecmon_sink_rows_written_total", "ecmon_sink_batch_rows", "ecmon_sink_insert_seconds",
                 "ecmon_sink_consumer_lag"):
        assert name in text
    assert f'ecmon_sink_consumer_lag{{topic="{topics.AGGREGATES.name}"}}' in text
    assert 'ecmon_sink_rows_written_total{table="aggregates_monthly"}' in text


def _metrics(port: int) -> str:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
    except httpx.HTTPError:
        return ""
    return r.text if "ecmon_sink_rows_written_total" in r.text else ""
