"""Kafka with SASL/SCRAM and ACLs, the default (ECMON_KAFKA_SECURITY=scram), on the `make test` stack's real 3.9
broker: each denial, anonymous clients, and the whole pipeline under the least-privilege users of
ecmon/principals.py. The worker and the sink run as subprocesses, as in production, each with its own Kafka user
from the generated secrets file.
"""

from __future__ import annotations

import json
import stat
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from own_stack import pipeline_reconciles_without_denials

from ecmon import topics
from ecmon.kafka_clients import client_config, credentials
from ecmon.settings import Settings
from ecmon_simulator.runs import FleetRun

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure(live_settings):
    assert live_settings.kafka_security == "scram", "the default stack must authenticate Kafka clients"
    return live_settings


def _config(settings: Settings, role: str, **extra) -> dict:
    return {**client_config(settings, role), "log_level": 0, **extra}


def _produce(conf: dict, topic: str, value: bytes | None = b"security test") -> KafkaError | None:
    """Send one message; the delivery error, or None when Kafka acknowledged it."""
    errors: list[KafkaError | None] = []
    producer = Producer({**conf, "message.timeout.ms": 10_000, "acks": "all"})
    producer.produce(topic, key=b"security-test", value=value, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    assert errors, "no delivery report"
    return errors[0]


def _consume_error(conf: dict, topic: str, group: str) -> KafkaError | None:
    """The first error subscribing to ``topic`` in consumer group ``group``; None if a message arrives."""
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None:
                return msg.error()
        return None
    finally:
        consumer.close()


def _describe_error(conf: dict, topic: str) -> KafkaError | None:
    """The error the brokers give for ``topic``'s metadata (partitions, leaders): Describe on the topic."""
    return AdminClient(conf).list_topics(topic, timeout=10).topics[topic].error


def _denied(err: KafkaError | None, *codes: int) -> None:
    assert err is not None, "expected a denial, Kafka accepted"
    assert err.code() in codes, f"expected one of {codes}, got {err}"


TOPIC_DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_DENIED = KafkaError.GROUP_AUTHORIZATION_FAILED


def test_secrets_file_is_private(secure):
    path = secure.kafka_secrets_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((secure.state_dir / "kafka-1" / "server.properties").stat().st_mode) == 0o600


def test_anonymous_client_is_rejected(secure):
    anonymous = {"bootstrap.servers": secure.bootstrap_servers, "log_level": 0, "socket.timeout.ms": 3000}
    admin = AdminClient(anonymous)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)  # no metadata: cannot see, describe or administer anything
    for topic in (topics.READINGS, topics.AGGREGATES, topics.ENTERPRISE_TOTALS, topics.REGISTRY):
        _denied(_produce(anonymous, topic.name), KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT)
    consumer = Consumer({**anonymous, "group.id": "anonymous", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topics.AGGREGATES.name])
        got = [m for m in (consumer.poll(0.5) for _ in range(10)) if m is not None and not m.error()]
        assert not got, "an anonymous client read a message"
    finally:
        consumer.close()


def test_wrong_password_is_rejected(secure):
    seen: list[KafkaError] = []
    conf = {**_config(secure, "gateway"), "sasl.password": "not-the-password", "error_cb": seen.append}
    admin = AdminClient(conf)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(1)  # serves error_cb
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen[:3]


def test_gateway_writes_readings_and_production_only(secure):
    gateway = _config(secure, "gateway")
    assert _produce(gateway, topics.READINGS.name) is None
    assert _produce(gateway, topics.PRODUCTION.name) is None
    for topic in (topics.AGGREGATES, topics.REGISTRY, topics.TARGETS, topics.DEAD_LETTERS):
        _denied(_produce(gateway, topic.name), TOPIC_DENIED)


def test_gateway_cannot_consume_readings(secure):
    gateway = _config(secure, "gateway")
    # no group of its own, and not the worker's
    _denied(_consume_error(gateway, topics.READINGS.name, group="ecmon-gateway"), GROUP_DENIED)
    _denied(_consume_error(gateway, topics.READINGS.name, group=secure.worker_app_id), GROUP_DENIED)


def test_gateway_cannot_see_other_topics(secure):
    gateway = _config(secure, "gateway")
    assert _describe_error(gateway, topics.READINGS.name) is None
    for topic in (topics.AGGREGATES, topics.REGISTRY, topics.DEAD_LETTERS):
        _denied(_describe_error(gateway, topic.name), TOPIC_DENIED)


def test_registry_operator_writes_reference_data_only(secure):
    registry = _config(secure, "registry")
    assert _produce(registry, topics.TARGETS.name, value=None) is None  # a tombstone: withdraws nothing real
    _denied(_produce(registry, topics.READINGS.name), TOPIC_DENIED)
    _denied(_produce(registry, topics.AGGREGATES.name), TOPIC_DENIED)


def test_sink_cannot_produce(secure):
    sink = _config(secure, "sink")
    _denied(_produce(sink, topics.READINGS.name), TOPIC_DENIED)
    _denied(_produce(sink, topics.AGGREGATES.name), TOPIC_DENIED)


def test_sink_reads_only_its_inputs_in_its_own_group(secure):
    sink = _config(secure, "sink")
    # its own group, a topic that is not its input: the topic ACL says no
    _denied(_consume_error(sink, topics.READINGS.name, group=secure.sink_group), TOPIC_DENIED)
    # an input topic, but another role's group: the group ACL says no
    _denied(_consume_error(sink, topics.AGGREGATES.name, group=secure.worker_app_id), GROUP_DENIED)


def test_worker_cannot_write_reference_data_or_ingest(secure):
    worker = _config(secure, "worker")
    _denied(_produce(worker, topics.REGISTRY.name), TOPIC_DENIED)
    _denied(_produce(worker, topics.TARGETS.name), TOPIC_DENIED)
    _denied(_produce(worker, topics.READINGS.name), TOPIC_DENIED)


def test_denials_are_logged_by_the_broker(secure):
    log = (secure.log_dir / "kafka-1.log").read_text(errors="replace")
    # the audit trail names principal, operation and resource (deploy/kafka/log4j.properties)
    assert "User:ecmon-gateway is Denied operation = DESCRIBE from host = 127.0.0.1 on resource = " \
           "Topic:LITERAL:ecmon.aggregates.v1" in log
    assert "User:ecmon-sink is Denied operation = WRITE from host = 127.0.0.1 on resource = " \
           "Topic:LITERAL:ecmon.aggregates.v1" in log
    assert "User:ecmon-worker is Denied operation = WRITE from host = 127.0.0.1 on resource = " \
           "Topic:LITERAL:ecmon.registry.v1" in log


def test_full_pipeline_reconciles_exactly_under_least_privilege(secure, pipeline):
    run = FleetRun(enterprises=6, start="2026-09", months=1, intervals_per_batch=96, seed=16,
                   faults="corrupt,duplicate")
    pipeline_reconciles_without_denials(secure, run)


def test_no_password_in_any_log(secure, pipeline):
    passwords = {role: entry["password"] for role, entry in json.loads(secure.kafka_secrets_path.read_text()).items()}
    assert credentials(secure, "worker").password == passwords["worker"]
    logs = sorted(secure.log_dir.glob("*.log"))
    assert {p.name for p in logs} >= {"kafka-1.log", "worker-1.log", "sink-1.log"}
    for path in logs:
        text = path.read_text(errors="replace")
        for role, password in passwords.items():
            assert password not in text, f"the {role} password appears in {path.name}"
