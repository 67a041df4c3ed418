"""`ecmon stack`: health, idempotent up, exact down, and a clear error when a service cannot start."""

import socket

import pytest

from ecmon.kafka_clients import client_config
from ecmon_ops.stack import stack
from ecmon_ops.stack.process import ServiceError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_service_is_healthy(live_settings):
    statuses = stack.status(live_settings)
    assert {s.name for s in statuses} >= {"kafka-1", "clickhouse", "prometheus", "alertmanager"}
    assert all(s.healthy and s.pid for s in statuses), statuses


def test_up_twice_is_harmless(live_settings):
    before = {s.name: s.pid for s in stack.status(live_settings)}
    stack.up(live_settings)
    assert {s.name: s.pid for s in stack.status(live_settings)} == before


def test_declared_topics_exist(live_settings):
    from confluent_kafka.admin import AdminClient

    from ecmon import topics

    existing = AdminClient(client_config(live_settings, "admin")).list_topics(timeout=10).topics
    for spec in topics.all_topics(live_settings.worker_app_id):
        assert spec.name in existing
        assert len(existing[spec.name].partitions) == spec.partitions


@pytest.fixture
def lone_clickhouse(tmp_path, live_settings):
    """Settings for a second, separate ClickHouse in its own state directory."""
    settings = live_settings.model_copy(
        update={"state_dir": tmp_path / "state", "clickhouse_port": _free_port(), "clickhouse_http_port": _free_port()}
    )
    yield settings
    stack.down(settings, only=["clickhouse"])


def test_down_stops_exactly_what_up_started(lone_clickhouse, live_settings):
    stack.up(lone_clickhouse, only=["clickhouse"])
    [status] = [s for s in stack.status(lone_clickhouse) if s.name == "clickhouse"]
    assert status.healthy
    assert stack.down(lone_clickhouse, only=["clickhouse"]) == ["clickhouse"]
    assert not any(s.pid for s in stack.status(lone_clickhouse))
    # the test stack's own ClickHouse, the same program, was left alone
    assert all(s.healthy for s in stack.status(live_settings))


def test_service_that_cannot_start_names_itself_and_its_log(lone_clickhouse, live_settings):
    taken = lone_clickhouse.model_copy(update={"clickhouse_port": live_settings.clickhouse_port})
    with pytest.raises(ServiceError) as exc:
        stack.up(taken, only=["clickhouse"])
    message = str(exc.value)
    assert "clickhouse" in message
    assert str(taken.log_dir) in message


def test_the_broker_stamps_the_record_time_of_the_gateways_topics(live_settings):
    """A gateway cannot choose the record time that bounds its readings and decides its key's validity."""
    import time

    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer, TopicPartition

    from ecmon import topics

    delivered = []
    producer = Producer({**client_config(live_settings, "gateway"), "log_level": 0})
    producer.produce(topics.READINGS.name, key=b"record-time-probe", value=b"record-time-probe",
                     timestamp=1_000, on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(15)
    (err, msg), = delivered
    assert err is None, err
    consumer = Consumer({**client_config(live_settings, "admin"), "group.id": "record-time-probe", "log_level": 0})
    try:
        consumer.assign([TopicPartition(topics.READINGS.name, msg.partition(), msg.offset())])
        back = consumer.consume(1, timeout=15)
    finally:
        consumer.close()
    assert back and back[0].value() == b"record-time-probe"
    kind, stamp = back[0].timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME and abs(stamp - time.time() * 1000) < 120_000, (kind, stamp)


def test_up_gives_an_existing_topic_its_declared_configuration(live_settings):
    """A platform upgraded from a release whose changelogs kept Kafka's 1 MB limit gets the declared one."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from ecmon import topics

    admin = AdminClient(client_config(live_settings, "admin"))
    changelog = f"{live_settings.worker_app_id}-province-state-changelog"
    resource = ConfigResource(ResourceType.TOPIC, changelog, incremental_configs=[
        ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)

    def limit() -> str:
        (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, changelog)]).values()
        return future.result(timeout=30)["max.message.bytes"].value

    assert limit() == "1048588"
    stack.create_topics(live_settings)
    assert limit() == str(topics.CHANGELOG_MAX_MESSAGE_BYTES)
    min_isr = 2 if live_settings.replication_factor >= 3 else 1
    assert stack.align_configs(admin, topics.all_topics(live_settings.worker_app_id), min_isr) == {}  # nothing left


def test_up_names_a_topic_whose_cleanup_policy_differs_and_keeps_a_longer_retention(live_settings):
    import uuid

    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from ecmon import topics

    spec = topics.TopicSpec(f"ecmon-test.config-probe-{uuid.uuid4().hex[:8]}", "a topic declared with deletion",
                            partitions=1)
    stack.create_topics(live_settings, [spec])
    admin = AdminClient(client_config(live_settings, "admin"))

    def alter(key: str, value: str) -> None:
        resource = ConfigResource(ResourceType.TOPIC, spec.name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)

    try:
        longer = str(spec.retention_ms * 2)
        alter("retention.ms", longer)  # an operator keeps the data longer on purpose
        stack.create_topics(live_settings, [spec])
        (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, spec.name)]).values()
        assert future.result(timeout=30)["retention.ms"].value == longer
        alter("cleanup.policy", "compact")
        with pytest.raises(ServiceError, match=f"{spec.name} has cleanup.policy=compact"):
            stack.create_topics(live_settings, [spec])
    finally:
        for future in admin.delete_topics([spec.name], operation_timeout=30).values():
            future.result(timeout=30)
