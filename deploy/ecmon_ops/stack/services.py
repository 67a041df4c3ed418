"""The servers of the local stack: how each is configured, started and checked for health."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from ecmon import PROJECT_ROOT
from ecmon.kafka_clients import MECHANISM, client_config, credentials
from ecmon.principals import SUPER_USERS
from ecmon.settings import Settings
from ecmon.web_auth import web_auth
from ecmon_ops.stack.credentials import (
    USERS_D_NAME,
    ensure_clickhouse_secrets,
    ensure_web_secrets,
    users_d_xml,
    web_config_yml,
    write_private,
)
from ecmon_ops.stack.process import ManagedProcess, ServiceError

DEPLOY = PROJECT_ROOT / "deploy"
KAFKA_LIB = DEPLOY / "kafka" / "target" / "lib"


def _http_ok(url: str, expect: str | None = None, auth: tuple[str, str] | None = None) -> bool:
    try:
        resp = httpx.get(url, timeout=1.0, auth=auth)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and (expect is None or expect in resp.text)


def _require(binary: str, install_hint: str) -> str:
    path = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if path is None:
        raise ServiceError(f"{binary} is not installed. Install it with: {install_hint}")
    return path


def _redact(text: str, settings: Settings) -> str:
    """Error output of a Kafka tool with every password of the secrets file blanked out."""
    if not settings.kafka_authenticated or not settings.kafka_secrets_path.exists():
        return text
    for entry in json.loads(settings.kafka_secrets_path.read_text()).values():
        text = text.replace(entry["password"], "***")
    return text


def ensure_broker_tls(settings: Settings) -> Path:
    """The local CA and the brokers' key pair for scram-tls, created once in ``settings.kafka_tls_dir`` (0700):
    ``ca.key``/``ca.pem`` (the CA every client trusts) and ``broker.pem`` (PEM keystore: the unencrypted
    PKCS#8 key, the broker certificate for ``host``, localhost and 127.0.0.1, and the CA). Keys are 0600."""
    tls = settings.kafka_tls_dir
    keystore = tls / "broker.pem"
    if keystore.exists() and (tls / "ca.pem").exists():
        return tls
    openssl = _require("openssl", "apt-get install -y openssl")
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(tls, 0o700)
    names = {"DNS:localhost", "IP:127.0.0.1"}
    host = settings.host
    names.add(f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}")
    ext = tls / "broker.ext"
    ext.write_text(f"subjectAltName={','.join(sorted(names))}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
         "-subj", "/CN=ecmon local Kafka CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "broker.crt", "-days", "825", "-extfile", "broker.ext"],
    ]
    for step in steps:
        result = subprocess.run([openssl, *step], cwd=tls, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"generating the Kafka TLS certificates failed: {result.stderr.strip()[-800:]}")
    fd = os.open(tls / "broker.pem.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join((tls / f).read_text() for f in ("broker.key", "broker.crt", "ca.pem")))
    for name in ("ca.key", "broker.key"):
        os.chmod(tls / name, 0o600)
    for name in ("broker.csr", "broker.ext", "ca.srl"):
        (tls / name).unlink(missing_ok=True)
    os.replace(tls / "broker.pem.tmp", keystore)
    return tls


@dataclass
class Service:
    """One server of the stack. Subclasses say how to configure, run and probe it."""

    name: str
    port: int
    settings: Settings

    @property
    def home(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def log_path(self) -> Path:
        return self.settings.log_dir / f"{self.name}.log"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(
            name=self.name,
            command=self.command(),
            run_dir=self.settings.run_dir,
            log_path=self.log_path,
            marker=str(self.settings.state_dir),
        )

    def prepare(self) -> None:
        """Write config and initialise storage; must be harmless to repeat."""

    def refresh(self) -> object:
        """Bring what a running server reloads by itself up to date (called by `stack up` when it runs)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    start_timeout: float = 60.0


@dataclass
class KafkaBroker(Service):
    node_id: int = 1

    start_timeout: float = 90.0

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def properties_path(self) -> Path:
        return self.home / "server.properties"

    def _cluster_id(self) -> str:
        id_file = self.settings.state_dir / "kafka-cluster.id"
        if not id_file.exists():
            id_file.parent.mkdir(parents=True, exist_ok=True)
            cluster_id = "-"
            while cluster_id.startswith("-"):  # as Kafka's own Uuid: a leading '-' reads as a CLI flag
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            id_file.write_text(cluster_id)
        return id_file.read_text().strip()

    def prepare(self) -> None:
        if not KAFKA_LIB.exists():
            raise ServiceError(
                f"Kafka jars are missing ({KAFKA_LIB}). Assemble them from Maven Central with: make kafka"
            )
        _require("java", "apt-get install -y openjdk-17-jre-headless")
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{i + 1}@{s.host}:{p}" for i, p in enumerate(s.controller_ports))
        rf = s.replication_factor
        props = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": voters,
            **self._listener_props(),
            "log.dirs": self.home / "data",
            # topics come from ecmon.topics only; a typo in a topic name must fail, not create a topic
            "auto.create.topics.enable": "false",
            "num.partitions": 4,
            "default.replication.factor": rf,
            "min.insync.replicas": 2 if rf >= 3 else 1,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 8,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 2 if rf >= 3 else 1,
            "transaction.state.log.num.partitions": 4,
            # tests and demos start consumers right after the stack; no reason to wait for more members
            "group.initial.rebalance.delay.ms": 0,
            "log.retention.check.interval.ms": 60000,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        # In scram mode the file holds the brokers' password (JAAS): readable by this user only.
        fd = os.open(self.properties_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in props.items()))
        os.chmod(self.properties_path, 0o600)
        if not (self.home / "data" / "meta.properties").exists():
            result = subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", f"--cluster-id={self._cluster_id()}",
                 "-c", str(self.properties_path), "--ignore-formatted", *self._bootstrap_scram()],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise ServiceError(
                    f"{self.name}: formatting the KRaft log directory failed: "
                    f"{_redact(result.stderr.strip()[-800:], self.settings)}"
                )

    def _listener_props(self) -> dict[str, object]:
        s = self.settings
        if not s.kafka_authenticated:
            return {
                "listeners": f"PLAINTEXT://{s.host}:{self.port},CONTROLLER://{s.host}:{self.controller_port}",
                "advertised.listeners": f"PLAINTEXT://{s.host}:{self.port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            }
        # scram: clients and brokers on SASL_PLAINTEXT with SCRAM-SHA-512 (users live in the KRaft metadata);
        # the controller listener uses SASL/PLAIN with the brokers' one static user, because a controller
        # must authenticate its peers before it has read the metadata that holds the SCRAM users (KAFKA-15513).
        broker = credentials(s, "broker")
        assert broker is not None  # scram modes: the brokers' own user
        scram = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{broker.username}" ' \
                f'password="{broker.password}";'
        plain = f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{broker.username}" ' \
                f'password="{broker.password}" user_{broker.username}="{broker.password}";'
        # scram-tls: the same, with both listeners (clients and brokers, controllers) on SASL_SSL; every SSL
        # listener uses the one PEM keystore and trusts the local CA (ensure_broker_tls).
        proto = "SASL_SSL" if s.kafka_tls else "SASL_PLAINTEXT"
        name = proto.lower()
        props: dict[str, object] = {
            "listeners": f"{proto}://{s.host}:{self.port},CONTROLLER://{s.host}:{self.controller_port}",
            "advertised.listeners": f"{proto}://{s.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": proto,
            "listener.security.protocol.map": f"CONTROLLER:{proto},{proto}:{proto}",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            f"listener.name.{name}.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.{name}.{MECHANISM.lower()}.sasl.jaas.config": scram,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": ";".join(f"User:{u}" for u in SUPER_USERS),
            "allow.everyone.if.no.acl.found": "false",
        }
        if s.kafka_tls:
            props.update({
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": s.kafka_tls_dir / "broker.pem",
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": s.kafka_tls_dir / "ca.pem",
                "ssl.client.auth": "none",  # clients authenticate with SCRAM, not certificates
                "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
            })
        return props

    def _bootstrap_scram(self) -> list[str]:
        """SCRAM users written into the metadata at format time (Kafka >= 3.5): the brokers' own, for
        inter-broker traffic, and the administrator's, which then creates every other user and the ACLs."""
        if not self.settings.kafka_authenticated:
            return []
        out = []
        for role in ("broker", "admin"):
            creds = credentials(self.settings, role)
            assert creds is not None  # authenticated Kafka (checked above): every role has a user
            out += ["--add-scram", f"{MECHANISM}=[name={creds.username},password={creds.password}]"]
        return out

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xms{self.settings.kafka_heap}",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{DEPLOY / 'kafka' / 'log4j.properties'}",
            f"-Decmon.state={self.settings.state_dir}",
            "-cp",
            f"{KAFKA_LIB}/*",
        ]

    def command(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.properties_path)]

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({**client_config(self.settings, "admin", f"{self.settings.host}:{self.port}"),
                             "socket.timeout.ms": 2000, "log_level": 0})
        meta = admin.list_topics(timeout=2)
        return any(b.id == self.node_id for b in meta.brokers.values())


@dataclass
class ClickHouseServer(Service):
    def prepare(self) -> None:
        _require("/usr/sbin/clickhouse-server", "apt-get install -y clickhouse-server clickhouse-client")
        data = self.home / "data"
        for sub in ("tmp", "user_files", "format_schemas"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        users = self.refresh()
        config = (DEPLOY / "clickhouse" / "config.xml").read_text()
        for key, value in {
            "log_dir": self.settings.log_dir,
            "host": self.settings.host,
            "http_port": self.settings.clickhouse_http_port,
            "tcp_port": self.port,
            "interserver_port": self.settings.clickhouse_http_port + 1,
            "data_dir": data,
            "users_config": users,
        }.items():
            config = config.replace("{" + key + "}", str(value))
        (self.home / "config.xml").write_text(config)

    def refresh(self) -> Path:
        """users.xml and every user's password, generated once (the server merges users.d/*.xml into users.xml
        and reloads both while it runs, so a user added to users.xml gets its password on the next stack up)."""
        self.home.mkdir(parents=True, exist_ok=True)
        users = self.home / "users.xml"
        users.write_text((DEPLOY / "clickhouse" / "users.xml").read_text())
        write_private(self.home / "users.d" / USERS_D_NAME, users_d_xml(ensure_clickhouse_secrets(self.settings)))
        os.chmod(self.home / "users.d", 0o700)
        return users

    def command(self) -> list[str]:
        return ["/usr/sbin/clickhouse-server", f"--config-file={self.home / 'config.xml'}"]

    def healthy(self) -> bool:
        return _http_ok(f"http://{self.settings.host}:{self.settings.clickhouse_http_port}/ping", "Ok.")


@dataclass
class Prometheus(Service):
    def prepare(self) -> None:
        _require("prometheus", "apt-get install -y prometheus")
        self.home.mkdir(parents=True, exist_ok=True)
        self.settings.targets_dir.mkdir(parents=True, exist_ok=True)
        username, password = ensure_web_secrets(self.settings)
        config = self.render_config(username, password)
        write_private(self.home / "prometheus.yml", config)  # holds the web password Prometheus sends
        write_private(self.home / "web-config.yml", web_config_yml(username, password))

    def refresh(self) -> object:
        """Clients authenticate from now on (a Prometheus started before authentication existed ignores it until
        it is restarted with `ecmon stack down` and `up`)."""
        return ensure_web_secrets(self.settings)

    def render_config(self, username: str, password: str) -> str:
        """deploy/prometheus/prometheus.yml for this stack; it authenticates with the web user's password."""
        config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
        for key, value in {
            "host": self.settings.host,
            "alertmanager_port": self.settings.alertmanager_port,
            "prometheus_port": self.port,
            "rules_dir": DEPLOY / "prometheus" / "rules",
            "targets_dir": self.settings.targets_dir,
            "web_username": json.dumps(username),
            "web_password": json.dumps(password),
        }.items():
            config = config.replace("{" + key + "}", str(value))
        return config

    def command(self) -> list[str]:
        return [
            "prometheus",
            f"--config.file={self.home / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            # basic auth on every endpoint; no --web.enable-lifecycle (no /-/quit, no /-/reload over HTTP)
            f"--web.config.file={self.home / 'web-config.yml'}",
            "--storage.tsdb.retention.time=15d",
        ]

    def healthy(self) -> bool:
        return _http_ok(f"http://{self.settings.host}:{self.port}/-/ready", auth=web_auth(self.settings))


@dataclass
class Alertmanager(Service):
    def prepare(self) -> None:
        _require("prometheus-alertmanager", "apt-get install -y prometheus-alertmanager")
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "prometheus" / "alertmanager.yml", self.home / "alertmanager.yml")
        username, password = ensure_web_secrets(self.settings)
        write_private(self.home / "web-config.yml", web_config_yml(username, password))
        # for operators: amtool --http.config.file=<this> --alertmanager.url=http://host:port alert query
        write_private(self.home / "amtool-http.yml",
                      f"basic_auth:\n  username: {json.dumps(username)}\n  password: {json.dumps(password)}\n")

    def refresh(self) -> object:
        return ensure_web_secrets(self.settings)

    def command(self) -> list[str]:
        return [
            "prometheus-alertmanager",
            f"--config.file={self.home / 'alertmanager.yml'}",
            f"--storage.path={self.home / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--cluster.listen-address=",  # no gossip port: a single local instance, nothing on 0.0.0.0
            f"--web.config.file={self.home / 'web-config.yml'}",  # nobody unauthenticated creates silences
        ]

    def healthy(self) -> bool:
        return _http_ok(f"http://{self.settings.host}:{self.port}/-/ready", auth=web_auth(self.settings))


def stack_services(settings: Settings) -> list[Service]:
    brokers: list[Service] = [
        KafkaBroker(name=f"kafka-{i + 1}", port=port, settings=settings, node_id=i + 1)
        for i, port in enumerate(settings.kafka_ports)
    ]
    return [
        *brokers,
        ClickHouseServer(name="clickhouse", port=settings.clickhouse_port, settings=settings),
        Alertmanager(name="alertmanager", port=settings.alertmanager_port, settings=settings),
        Prometheus(name="prometheus", port=settings.prometheus_port, settings=settings),
    ]
