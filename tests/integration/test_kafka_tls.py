"""Kafka with SASL/SCRAM over TLS (ECMON_KAFKA_SECURITY=scram-tls) on a real 3.9 broker: the listener speaks
TLS with a certificate from the stack's own CA, a client that does not trust that CA or does not speak TLS is
rejected, and the whole pipeline (gateway -> worker -> sink -> ClickHouse) reconciles exactly over it.

Own stack (kafka-1 and ClickHouse on ports 15xxx, state under tmp_path); the ACLs themselves are proven in
test_kafka_security.py (scram mode, the same users and ACLs).
"""

from __future__ import annotations

import socket
import ssl
import stat

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from own_stack import pipeline_reconciles_without_denials, secured_stack

from ecmon import topics
from ecmon.kafka_clients import client_config, faust_credentials
from ecmon_simulator.runs import FleetRun

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=15092, clickhouse_port=15000, clickhouse_http_port=15123, prometheus_port=15090,
             alertmanager_port=15190, metrics_port_base=15200)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with secured_stack(tmp_path_factory.mktemp("kafka-tls"), PORTS, "scram-tls") as settings:
        yield settings


def _errors_connecting(conf: dict) -> list[KafkaError]:
    """The client-level errors of an admin client that tries to fetch metadata (which must fail)."""
    seen: list[KafkaError] = []
    admin = AdminClient({**conf, "log_level": 0, "socket.timeout.ms": 3000, "error_cb": seen.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(1)  # serves error_cb
    return seen


def test_key_material_is_private(tls):
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tls.kafka_tls_dir.iterdir()}
    assert stat.S_IMODE(tls.kafka_tls_dir.stat().st_mode) == 0o700
    for private in ("ca.key", "broker.key", "broker.pem"):
        assert files[private] == 0o600, files
    assert tls.kafka_ca_path == tls.kafka_tls_dir / "ca.pem"


@pytest.mark.parametrize("port_of", ["client", "controller"])
def test_listeners_speak_tls_with_a_certificate_from_the_local_ca(tls, port_of):
    port = tls.kafka_port + (1 if port_of == "controller" else 0)
    context = ssl.create_default_context(cafile=str(tls.kafka_ca_path))  # verifies chain and host name
    with (
        socket.create_connection((tls.host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=tls.host) as conn,
    ):
        assert conn.version() in ("TLSv1.3", "TLSv1.2")
        assert conn.getpeercert()["subject"] == ((("commonName", "localhost"),),)


def test_client_that_does_not_trust_the_ca_fails_the_handshake(tls):
    conf = client_config(tls, "gateway")
    del conf["ssl.ca.location"]  # librdkafka falls back to the system CA store, which does not know ours
    seen = _errors_connecting(conf)
    assert any(e.code() == KafkaError._SSL for e in seen), seen[:3]
    assert any("certificate verify failed" in e.str() for e in seen), seen[:3]


def test_plaintext_and_sasl_plaintext_clients_are_rejected(tls):
    assert _errors_connecting({"bootstrap.servers": tls.bootstrap_servers})
    # the right user and password, but without TLS: the broker expects a TLS handshake and gets nothing else
    conf = {**client_config(tls, "gateway"), "security.protocol": "SASL_PLAINTEXT"}
    del conf["ssl.ca.location"]
    assert _errors_connecting(conf)


def test_client_and_faust_configs_use_sasl_ssl(tls):
    conf = client_config(tls, "sink")
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["ssl.ca.location"] == str(tls.kafka_ca_path)
    creds = faust_credentials(tls, "worker")
    assert creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context.verify_mode == ssl.CERT_REQUIRED and creds.ssl_context.check_hostname
    admin = AdminClient({**client_config(tls, "gateway"), "log_level": 0})
    assert admin.list_topics(topics.READINGS.name, timeout=10).topics[topics.READINGS.name].error is None


def test_full_pipeline_reconciles_exactly_over_tls(tls):
    run = FleetRun(enterprises=4, start="2026-09", months=1, intervals_per_batch=96, seed=15,
                   faults="corrupt,duplicate")
    pipeline_reconciles_without_denials(tls, run)
