"""The servers of the local stack: how each is configured, started and checked for health."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.stack.process import ManagedProcess, ServiceError
from ecmon import PROJECT_ROOT
from ecmon.settings import Settings

DEPLOY = PROJECT_ROOT / "deploy"
KAFKA_LIB = DEPLOY / "kafka" / "target" / "lib"


def _http_ok(url: str, expect: str | None = None) -> bool:
    try:
        resp = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and (expect is None or expect in resp.text)


def _require(binary: str, install_hint: str) -> str:
    path = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if path is None:
        raise ServiceError(f"{binary} is not installed. Install it with: {install_hint}")
    return path


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
            "listeners": f"PLAINTEXT://{s.host}:{self.port},CONTROLLER://{s.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{s.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
        self.properties_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        if not (self.home / "data" / "meta.properties").exists():
            result = subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", f"--cluster-id={self._cluster_id()}",
                 "-c", str(self.properties_path), "--ignore-formatted"],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise ServiceError(
                    f"{self.name}: formatting the KRaft log directory failed: {result.stderr.strip()[-800:]}"
                )

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

        admin = AdminClient(
            {"bootstrap.servers": f"{self.settings.host}:{self.port}", "socket.timeout.ms": 2000, "log_level": 0}
        )
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
        users = self.home / "users.xml"
        users.write_text((DEPLOY / "clickhouse" / "users.xml").read_text())
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
        config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
        for key, value in {
            "host": self.settings.host,
            "alertmanager_port": self.settings.alertmanager_port,
            "prometheus_port": self.port,
            "rules_dir": DEPLOY / "prometheus" / "rules",
            "targets_dir": self.settings.targets_dir,
        }.items():
            config = config.replace("{" + key + "}", str(value))
        (self.home / "prometheus.yml").write_text(config)

    def command(self) -> list[str]:
        return [
            "prometheus",
            f"--config.file={self.home / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=15d",
        ]

    def healthy(self) -> bool:
        return _http_ok(f"http://{self.settings.host}:{self.port}/-/ready")


@dataclass
class Alertmanager(Service):
    def prepare(self) -> None:
        _require("prometheus-alertmanager", "apt-get install -y prometheus-alertmanager")
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "prometheus" / "alertmanager.yml", self.home / "alertmanager.yml")

    def command(self) -> list[str]:
        return [
            "prometheus-alertmanager",
            f"--config.file={self.home / 'alertmanager.yml'}",
            f"--storage.path={self.home / 'data'}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--cluster.listen-address=",  # no gossip port: a single local instance, nothing on 0.0.0.0
        ]

    def healthy(self) -> bool:
        return _http_ok(f"http://{self.settings.host}:{self.port}/-/ready")


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
