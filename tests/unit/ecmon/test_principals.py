"""Kafka principals and ACLs (ecmon/principals.py) against the topics, the clients and the deploy files;
client configurations per role (ecmon/kafka_clients.py). No broker: tests/integration/test_kafka_security.py
proves the same declarations on a real one."""

from __future__ import annotations

import json
import stat

import pytest
import yaml
from pydantic import SecretStr

from ecmon import PROJECT_ROOT, topics
from ecmon.kafka_clients import (
    KafkaCredentialsMissing,
    client_config,
    credentials,
    ensure_secrets_file,
    faust_credentials,
)
from ecmon.principals import ROLES, SINK_INPUTS, principals
from ecmon.settings import Settings


def test_every_topic_has_a_writer_and_a_reader():
    roles = principals().values()
    written = {t for p in roles for t in p.produces}
    read = {t for p in roles for t in p.consumes}
    declared = {t.name for t in topics.all_topics()}
    assert declared - written == set(), "nobody may write these topics"
    assert declared - read == set(), "nobody may read these topics"
    assert (written | read) - declared == set(), "ACLs for topics ecmon/topics.py does not declare"


def test_gateways_and_reference_publishers_write_only_and_read_nothing():
    roles = principals()
    assert set(roles["gateway"].produces) == {topics.READINGS.name, topics.PRODUCTION.name}
    assert set(roles["registry"].produces) == {topics.REGISTRY.name, topics.TARGETS.name}
    for role in ("gateway", "registry"):
        assert roles[role].consumes == () and roles[role].groups == ()
    assert roles["sink"].produces == ()
    assert not {topics.REGISTRY.name, topics.TARGETS.name, topics.READINGS.name} & set(roles["worker"].produces)


def test_sink_acls_cover_exactly_what_the_sink_consumes():
    from ecmon_sink.writer import SINK_TOPICS

    assert {spec.name for spec in SINK_TOPICS} == {t.name for t in SINK_INPUTS}


def test_worker_acls_cover_its_faust_topics_and_groups():
    roles = principals("my-app", "my-sink")
    worker, sink = roles["worker"], roles["sink"]
    for t in topics.faust_internal_topics("my-app"):
        assert t.name in worker.consumes and t.name in worker.produces
    assert "my-app" in worker.groups
    assert set(sink.groups) == {"my-sink", "my-sink-lag"}


def test_k8s_users_match_the_declarations():
    docs = [d for d in yaml.safe_load_all((PROJECT_ROOT / "deploy" / "k8s" / "users.yaml").read_text()) if d]
    declared = {}
    for user in docs:
        assert user["kind"] == "KafkaUser" and user["metadata"]["labels"]["strimzi.io/cluster"] == "ecmon"
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        grants = set()
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["patternType"] == "literal"
            grants |= {(acl["resource"]["type"], acl["resource"]["name"], op.upper()) for op in acl["operations"]}
        declared[user["metadata"]["name"]] = grants
    assert declared == {p.username: {(g.resource, g.name, g.operation) for g in p.grants()}
                        for p in principals().values()}


def test_k8s_pods_connect_as_their_own_user():
    docs = [d for d in yaml.safe_load_all((PROJECT_ROOT / "deploy" / "k8s" / "ecmon.yaml").read_text()) if d]
    env_map = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert env_map["ECMON_KAFKA_SECURITY"] == "scram"
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = d["spec"]["template"]["spec"]["containers"]
        env = {v["name"]: v for v in container["env"]}
        assert env["ECMON_KAFKA_USERNAME"]["value"] == principals()[role].username
        assert env["ECMON_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": principals()[role].username,
                                                                             "key": "password"}
    kafka = next(d for d in yaml.safe_load_all((PROJECT_ROOT / "deploy" / "k8s" / "kafka.yaml").read_text())
                 if d and d["kind"] == "Kafka")["spec"]["kafka"]
    assert [listener["authentication"]["type"] for listener in kafka["listeners"]] == ["scram-sha-512"]
    assert kafka["authorization"]["type"] == "simple"
    assert kafka["config"]["allow.everyone.if.no.acl.found"] is False


# -- client configurations ------------------------------------------------------------------------------

def test_insecure_plaintext_adds_nothing_and_says_so(tmp_path, caplog):
    settings = Settings(state_dir=tmp_path, kafka_port=16092, kafka_security="insecure-plaintext")
    assert client_config(settings, "gateway") == {"bootstrap.servers": "127.0.0.1:16092"}
    assert faust_credentials(settings) is None


def test_kafka_is_authenticated_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ECMON_KAFKA_SECURITY", raising=False)
    settings = Settings(state_dir=tmp_path)
    assert settings.kafka_security == "scram" and settings.kafka_authenticated
    with pytest.raises(KafkaCredentialsMissing, match="no secrets file"):
        client_config(settings, "gateway")  # no anonymous fallback when the secrets are missing


def test_scram_config_from_the_generated_secrets_file(tmp_path):
    settings = Settings(state_dir=tmp_path, kafka_security="scram")
    with pytest.raises(KafkaCredentialsMissing, match="no secrets file"):
        client_config(settings, "sink")
    path = ensure_secrets_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entries = json.loads(path.read_text())
    assert len({e["password"] for e in entries.values()}) == len(entries) == len(ROLES) + 1  # + broker
    conf = client_config(settings, "sink")
    assert conf["security.protocol"] == "SASL_PLAINTEXT" and conf["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("ecmon-sink", entries["sink"]["password"])
    assert ensure_secrets_file(settings) == path and json.loads(path.read_text()) == entries  # kept, not renewed
    creds = faust_credentials(settings, "worker")
    assert (creds.username, creds.password, creds.mechanism.value) == (
        "ecmon-worker", entries["worker"]["password"], "SCRAM-SHA-512")
    assert entries["worker"]["password"] not in repr(creds) + repr(credentials(settings, "worker"))


def test_scram_tls_config_trusts_the_local_ca(tmp_path):
    from ecmon_ops.stack.services import ensure_broker_tls

    settings = Settings(state_dir=tmp_path, kafka_security="scram-tls")
    ensure_secrets_file(settings)
    ensure_broker_tls(settings)  # openssl, once; kept on the next call
    assert ensure_broker_tls(settings) == settings.kafka_tls_dir
    conf = client_config(settings, "sink")
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert conf["ssl.ca.location"] == str(tmp_path / "secrets" / "kafka-tls" / "ca.pem")
    creds = faust_credentials(settings, "worker")
    assert creds.protocol.value == "SASL_SSL" and creds.ssl_context.check_hostname
    other = Settings(state_dir=tmp_path, kafka_security="scram-tls", kafka_ca_file=tmp_path / "elsewhere.pem")
    assert client_config(other, "sink")["ssl.ca.location"] == str(tmp_path / "elsewhere.pem")


def test_explicit_identity_wins_and_stays_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("ECMON_KAFKA_SECURITY", "scram")
    monkeypatch.setenv("ECMON_KAFKA_USERNAME", "gw-91370100MA0000001X")
    monkeypatch.setenv("ECMON_KAFKA_PASSWORD", "s3cret-from-a-vault")
    settings = Settings(state_dir=tmp_path)
    conf = client_config(settings, "gateway")
    assert (conf["sasl.username"], conf["sasl.password"]) == ("gw-91370100MA0000001X", "s3cret-from-a-vault")
    assert "s3cret-from-a-vault" not in repr(settings) + str(settings.model_dump())


def test_password_file_gives_the_explicit_identity_its_password(tmp_path, monkeypatch):
    """Compose mounts each password as a file (a compose secret): ECMON_KAFKA_PASSWORD_FILE."""
    for name in ("ECMON_KAFKA_PASSWORD", "ECMON_KAFKA_PASSWORD_FILE", "ECMON_KAFKA_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    secret = tmp_path / "kafka-sink-password"
    secret.write_text("from-a-compose-secret\n")
    settings = Settings(state_dir=tmp_path, kafka_security="scram", kafka_username="ecmon-sink",
                        kafka_password_file=secret)
    conf = client_config(settings, "sink")
    assert (conf["sasl.username"], conf["sasl.password"]) == ("ecmon-sink", "from-a-compose-secret")
    assert faust_credentials(settings, "worker").password == "from-a-compose-secret"
    both = settings.model_copy(update={"kafka_password": SecretStr("from-the-environment")})
    assert client_config(both, "sink")["sasl.password"] == "from-the-environment"
    missing = settings.model_copy(update={"kafka_password_file": tmp_path / "absent"})
    with pytest.raises(KafkaCredentialsMissing) as exc:
        client_config(missing, "sink")
    assert "\n" not in str(exc.value) and "ECMON_KAFKA_PASSWORD_FILE" in str(exc.value) and "absent" in str(exc.value)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KafkaCredentialsMissing, match="is empty"):
        client_config(settings.model_copy(update={"kafka_password_file": tmp_path / "empty"}), "sink")
    monkeypatch.setenv("ECMON_KAFKA_PASSWORD_FILE", str(secret))
    assert Settings(state_dir=tmp_path).kafka_password_file == secret


def test_unknown_role_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown Kafka role"):
        client_config(Settings(state_dir=tmp_path), "analyst")
