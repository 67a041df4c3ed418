"""Gateway delivery against a real Kafka broker of its own: outage, kill -9, CSV replay.

The broker runs on ports 31xxx in a temporary state directory, beside (never instead of) the
demo and test stacks. The stream worker is not needed: a plain consumer reads the topic and
checks what the platform would count (one batch per batch id; a repeated batch id only as the
identical bytes, which the platform drops by its sequence number).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from ecmon import PROJECT_ROOT, codec, topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_gateway.spool import Spool
from ecmon_ops.stack import stack
from ecmon_ops.stack.services import KafkaBroker
from ecmon_simulator.csv_replay import ReplayConfig, plan_replay, run_replay
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, _interleaved, run_fleet, spool_path

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range (32768-60999): while the broker is down, the gateway's reconnects could
# otherwise be handed 31092 as their own local port and keep the restarted broker from binding it.
PORTS = {"kafka_port": 31092, "clickhouse_port": 31000, "clickhouse_http_port": 31123, "prometheus_port": 31090,
         "alertmanager_port": 31190, "metrics_port_base": 31200}
NAB = PROJECT_ROOT.parent / "shared" / "data" / "nab" / "realAWSCloudwatch"


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("gw-stack"), brokers=1, **PORTS)
    stack.up(settings, only=["kafka-1"])
    yield settings
    stack.down(settings)


def _broker(settings: Settings) -> KafkaBroker:
    return KafkaBroker(name="kafka-1", port=settings.kafka_port, settings=settings, node_id=1)


def read_topic(settings: Settings, wanted: set[str], timeout: float = 90) -> dict[str, list[tuple[int, bytes]]]:
    """batch id -> [(sequence, bytes)] of every message of the readings topic that is one of ``wanted``."""
    consumer = Consumer({**client_config(settings, "admin"), "group.id": f"check-{time.time_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    meta = consumer.list_topics(topics.READINGS.name, timeout=10).topics[topics.READINGS.name]
    ends = {}
    for p in meta.partitions:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topics.READINGS.name, p), timeout=10)
        ends[p] = high
    consumer.assign([TopicPartition(topics.READINGS.name, p, 0) for p in meta.partitions])
    seen: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    done = {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + timeout
    while len(done) < len(ends) and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error():
                continue
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
            try:
                _, batch = codec.decode(msg.value(), "reading_batch")
            except Exception:
                continue  # a corrupt copy (fault injection) or another test's message
            if batch["batch_id"] in wanted:
                seen[batch["batch_id"]].append((batch["sequence"], msg.value()))
    consumer.close()
    return seen


def planned_ids(run: FleetRun) -> set[str]:
    return {b.batch_id for b in _interleaved(run.fleet(), run)}


def test_a_broker_outage_of_a_minute_loses_nothing_and_sends_nothing_twice(kafka, tmp_path):
    settings = kafka.model_copy(update={"kafka_secrets_file": kafka.kafka_secrets_path, "state_dir": tmp_path / "gw"})
    # 4 enterprises x 744 one-hour batches over ~100 s of wall time: the gateway keeps producing
    # batches into its spool all through the outage.
    run = FleetRun(enterprises=4, intervals_per_batch=4, seed=501, speed=31 * 86400 / 100, spool=True)
    ledger = Ledger()
    failure: list[BaseException] = []

    def gateway() -> None:
        try:
            run_fleet(settings, run, ledger, show_progress=False)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=gateway, daemon=True)
    thread.start()
    time.sleep(5)
    broker = _broker(kafka)
    assert broker.process.stop()
    outage_started = time.monotonic()
    depth_at_start = _spool_depth(settings)
    time.sleep(62)
    depth_at_end = _spool_depth(settings)
    assert thread.is_alive(), failure
    stack.up(kafka, only=["kafka-1"])
    outage = time.monotonic() - outage_started
    thread.join(timeout=150)
    assert not thread.is_alive() and not failure, failure

    assert outage >= 60
    assert depth_at_end > depth_at_start + 100, (depth_at_start, depth_at_end)  # kept spooling while Kafka was away
    wanted = planned_ids(run)
    seen = read_topic(kafka, wanted)
    assert set(seen) == wanted
    assert all(len(copies) == 1 for copies in seen.values()), "a batch arrived twice"
    assert len(ledger.batch_ids) == len(wanted)
    assert Spool(spool_path(settings, "fleet")).depth == 0


def _spool_depth(settings: Settings) -> int:
    import sqlite3

    path = spool_path(settings, "fleet")
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM batches").fetchone()[0]


def _gateway_cmd(state_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ecmon_cli.main", "--state-dir", str(state_dir), "gateway", "--no-progress",
            "--enterprises", "6", "--batch-intervals", "4", "--seed", "502", *args]


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **{f"ECMON_{k.upper()}": str(v) for k, v in PORTS.items()}}
    env.pop("ECMON_STATE_DIR", None)
    env["ECMON_KAFKA_SECRETS_FILE"] = str(settings.kafka_secrets_path)  # the stack's users, not the gateway's dir
    return env


def test_kill_9_during_sending_resumes_from_the_spool(kafka, tmp_path):
    state = tmp_path / "gw"
    env = _env(kafka)
    # Slow enough that the kill lands mid-run: a month in ~20 s.
    proc = subprocess.Popen(_gateway_cmd(state, "--speed", str(31 * 86400 / 20)), env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    spool = spool_path(kafka.model_copy(update={"kafka_secrets_file": kafka.kafka_secrets_path, "state_dir": state}),
                       "fleet")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (spool.exists() and _last_sequences(spool) > 300):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    sent_before_kill = _last_sequences(spool)
    assert 300 < sent_before_kill < 6 * 186, "the kill must land mid-run"

    done = subprocess.run(_gateway_cmd(state), env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    run = FleetRun(enterprises=6, intervals_per_batch=4, seed=502)
    wanted = planned_ids(run)
    seen = read_topic(kafka, wanted)
    assert set(seen) == wanted, f"{len(wanted - set(seen))} batches lost"
    for batch_id, copies in seen.items():
        # a resend after the kill is the identical message: same batch id, sequence and bytes
        assert len({value for _, value in copies}) == 1, batch_id
    # each gateway's sequences are 1..n with no gap and no reuse
    per_gateway = defaultdict(set)
    for copies in seen.values():
        _, batch = codec.decode(copies[0][1], "reading_batch")
        per_gateway[batch["gateway_id"]].add(batch["sequence"])
    assert all(seqs == set(range(1, len(seqs) + 1)) for seqs in per_gateway.values())


def _last_sequences(spool: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(spool, timeout=1) as db:
            return db.execute("SELECT coalesce(sum(position), 0) FROM gateways").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.skipif(not NAB.exists(), reason="NAB data not present in ../shared/data/nab")
def test_csv_replay_of_nab_series_arrives_complete(kafka, tmp_path):
    settings = kafka.model_copy(update={"kafka_secrets_file": kafka.kafka_secrets_path, "state_dir": tmp_path / "gw"})
    cfg = ReplayConfig.load(PROJECT_ROOT / "producers" / "ecmon_simulator" / "replay-nab.toml")
    files = sorted(NAB.glob("ec2_cpu_utilization_*.csv"))[:2]
    ledger = Ledger()
    batches = run_replay(settings, cfg, files, ledger, show_progress=False)
    rows = sum(1 for f in files for _ in f.open()) - len(files)
    assert sum(len(b.readings) for b in batches) == rows
    seen = read_topic(kafka, {b.batch_id for b in batches})
    assert len(seen) == len(batches)
    readings = sum(len(codec.decode(c[0][1], "reading_batch")[1]["readings"]) for c in seen.values())
    assert readings == rows
    _, again = plan_replay(cfg, files)
    assert [b.batch_id for b in again] == [b.batch_id for b in batches]  # deterministic ids: a re-run is a resend
