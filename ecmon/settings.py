"""Settings for every ecmon process, from environment variables (prefix ``ECMON_``).

One object, so the stack, the gateways, the worker and the sink agree on ports and names
without passing them around by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecmon import PROJECT_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECMON_", extra="ignore")

    state_dir: Path = Field(
        default=PROJECT_ROOT / ".ecmon",
        description="All data, logs and pid files of the local stack live here.",
    )
    host: str = Field(default="127.0.0.1", description="Every local server binds to this address only.")

    brokers: int = Field(default=1, ge=1, le=5, description="Kafka brokers the local stack runs.")
    kafka_port: int = Field(default=29092, description="Client port of broker 1; broker i uses kafka_port + 2(i-1).")
    kafka_heap: str = Field(default="512m", description="JVM heap of each broker.")
    clickhouse_port: int = Field(default=29000, description="ClickHouse native (TCP) port.")
    clickhouse_http_port: int = Field(default=28123, description="ClickHouse HTTP port.")
    clickhouse_database: str = Field(default="ecmon", description="The national database.")
    # ClickHouse users (deploy/clickhouse/users.xml, docs/security.md): each process connects as its own user;
    # the administrator runs migrations. The password comes from ECMON_CLICKHOUSE_PASSWORD (containers, one
    # user per process) or else from the secrets file, which `ecmon stack up` generates (0600).
    clickhouse_user: str = Field(default="ecmon_admin", description="ClickHouse user of this process.")
    clickhouse_password: str = Field(default="", description="Password of clickhouse_user; default: the secrets file.")
    clickhouse_secrets_file: Path | None = Field(
        default=None, description="JSON file of the ClickHouse users' passwords; default: "
        "<state_dir>/secrets/clickhouse-users.json (generated with mode 0600 by `ecmon stack up`).",
    )
    prometheus_port: int = 29090
    alertmanager_port: int = 29190
    # Prometheus and Alertmanager accept only authenticated requests (basic auth); clients use this user.
    web_username: str = Field(default="", description="Prometheus/Alertmanager user; default: the secrets file.")
    web_password: str = Field(default="", description="Password of web_username; default: the secrets file.")
    metrics_port_base: int = Field(
        default=29200, description="First /metrics port handed to ecmon processes (gateway, worker, sink, ...)."
    )

    # Beyond one machine (deploy/compose, deploy/k8s): the servers are other hosts, and /metrics must be
    # reachable from Prometheus. Empty means the local stack: everything on `host`.
    kafka_bootstrap: str = Field(
        default="", description="Kafka bootstrap servers (host:port,...); default: the local stack's brokers on `host`."
    )
    clickhouse_host: str = Field(default="", description="ClickHouse server host; default: `host`.")
    metrics_host: str = Field(
        default="", description="Address /metrics binds to (0.0.0.0 in containers); default: `host`."
    )

    # Kafka authentication (docs/security.md). scram (the default): SASL/SCRAM-SHA-512 on every client
    # connection, ACLs per role (ecmon/principals.py), anonymous clients rejected. scram-tls: the same users
    # and ACLs, with every Kafka connection encrypted (SASL_SSL, a local CA). insecure-plaintext: no
    # authentication and no ACLs, anyone who reaches a broker may forge or read anything; development only.
    kafka_security: Literal["scram", "scram-tls", "insecure-plaintext"] = Field(
        default="scram", description="How clients authenticate to Kafka: scram (SASL/SCRAM, the default), "
        "scram-tls (SASL/SCRAM over TLS) or insecure-plaintext (no authentication; development only).",
    )
    kafka_username: str = Field(
        default="", description="SCRAM user of this process (one role per process); default: the secrets file."
    )
    kafka_password: SecretStr = Field(default=SecretStr(""), description="SCRAM password for kafka_username.")
    kafka_password_file: Path | None = Field(
        default=None, description="File holding the SCRAM password of kafka_username (containers: a docker compose or "
        "Kubernetes secret); read when the first Kafka client is built. ECMON_KAFKA_PASSWORD wins when both are set.",
    )
    kafka_secrets_file: Path | None = Field(
        default=None, description="JSON file of the SCRAM users per role; default: "
        "<state_dir>/secrets/kafka-users.json "
        "(generated with mode 0600 by `ecmon stack up` in scram mode).",
    )
    kafka_ca_file: Path | None = Field(
        default=None, description="PEM CA certificate clients trust in scram-tls mode; default: "
        "<state_dir>/secrets/kafka-tls/ca.pem (generated by `ecmon stack up` in scram-tls mode).",
    )

    registry_authority_public_key: str = Field(
        default="", description="Hex of the registry authority's Ed25519 public key; registry records must carry its "
        "signature. Default: the PEM file registry_authority_public_key_file.",
    )
    registry_authority_public_key_file: Path | None = Field(
        default=None, description="PEM file of the registry authority's public key; default: "
        "<state_dir>/secrets/registry-authority.pub (made by `ecmon stack up` or the first registry publication).",
    )

    electricity_method: Literal["equivalent", "equal"] = Field(
        default="equivalent", description="How electricity converts to standard coal (see docs)."
    )
    future_margin_s: int = Field(
        default=3600, description="A reading may end at most this long after its batch was sent (future_timestamp)."
    )
    horizon_days: int = Field(default=400, description="Readings older than this before sending are rejected.")
    silence_intervals: int = Field(
        default=4, ge=1, description="A meter or enterprise silent for more than this many of its metering intervals "
        "is reported as an anomaly (silent_meter, silent_enterprise).",
    )
    month_grace_hours: int = Field(
        default=72, description="Grace after a CST month's end, in event time, before its readings are too late."
    )
    month_submission_wait_hours: int = Field(
        default=168, ge=0, description="A province submits a month once every enterprise expected to report it has "
        "reported past its end + grace, or at the latest when the province's event time is this much further "
        "(the submission deadline; 72 h grace + 168 h: the 11th of the next month), so that a silent enterprise "
        "cannot hold the month back.",
    )
    revision_window_days: int = Field(
        default=30, ge=0, description="After a month's grace, late readings of it still count for this many days of "
        "the enterprise's event time, reported by the province as a flagged revision; later they are dead letters "
        "month_closed. 0: no revisions by an enterprise that already reported past the grace.",
    )
    register_history_hours: int = Field(
        default=48, description="Register readings kept per cumulative meter to place late readings exactly."
    )
    emit_interval_ms: int = Field(
        default=1000, ge=10, le=60_000, description="The worker sends each changed enterprise's totals, and writes its "
        "state to the changelog, at most this often (and before every offset commit), not once per input batch.",
    )
    worker_micro_batch: int = Field(
        default=500, ge=1, le=100_000, description="Reading batches the worker's readings agent takes from Kafka "
        "at once (fewer if none arrive within 50 ms).",
    )
    sink_batch_ms: int = Field(  # 100 ms at least: each window is an insert per table, and ClickHouse merges parts
        default=1000, ge=100, le=60_000, description="The sink writes what it has read to ClickHouse at least this "
        "often (sooner when a batch reaches 50,000 rows); shorter means fresher tables and smaller inserts.",
    )
    worker_app_id: str = "ecmon-worker"
    sink_group: str = "ecmon-sink"

    def process_env(self) -> dict[str, str]:
        """What a child process (worker, sink, gateway) needs in its environment to use this same stack."""
        return {
            "ECMON_STATE_DIR": str(self.state_dir), "ECMON_KAFKA_PORT": str(self.kafka_port),
            "ECMON_CLICKHOUSE_PORT": str(self.clickhouse_port),
            "ECMON_CLICKHOUSE_HTTP_PORT": str(self.clickhouse_http_port),
            "ECMON_PROMETHEUS_PORT": str(self.prometheus_port),
            "ECMON_ALERTMANAGER_PORT": str(self.alertmanager_port),
            "ECMON_METRICS_PORT_BASE": str(self.metrics_port_base), "ECMON_BROKERS": str(self.brokers),
            "ECMON_KAFKA_SECURITY": self.kafka_security,
        }

    @property
    def kafka_ports(self) -> list[int]:
        return [self.kafka_port + 2 * i for i in range(self.brokers)]

    @property
    def controller_ports(self) -> list[int]:
        return [p + 1 for p in self.kafka_ports]

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return ",".join(f"{self.host}:{p}" for p in self.kafka_ports)

    @property
    def broker_addresses(self) -> list[str]:
        """host:port of every broker: the local stack's, or each of ``kafka_bootstrap`` (compose lists them all)."""
        if self.kafka_bootstrap:
            return [a.strip() for a in self.kafka_bootstrap.split(",") if a.strip()]
        return [f"{self.host}:{p}" for p in self.kafka_ports]

    @property
    def clickhouse_server(self) -> str:
        return self.clickhouse_host or self.host

    @property
    def metrics_bind(self) -> str:
        return self.metrics_host or self.host

    @property
    def replication_factor(self) -> int:
        return min(self.brokers, 3)

    @property
    def kafka_secrets_path(self) -> Path:
        return self.kafka_secrets_file or self.state_dir / "secrets" / "kafka-users.json"

    @property
    def registry_authority_public_key_path(self) -> Path:
        return self.registry_authority_public_key_file or self.state_dir / "secrets" / "registry-authority.pub"

    @property
    def clickhouse_secrets_path(self) -> Path:
        return self.clickhouse_secrets_file or self.state_dir / "secrets" / "clickhouse-users.json"

    @property
    def web_secrets_path(self) -> Path:
        """The Prometheus and Alertmanager web user, written by `ecmon stack up` (0600)."""
        return self.state_dir / "secrets" / "web-users.json"

    @property
    def kafka_authenticated(self) -> bool:
        """Kafka clients authenticate and the brokers enforce ACLs (every mode but insecure-plaintext)."""
        return self.kafka_security != "insecure-plaintext"

    @property
    def kafka_tls(self) -> bool:
        """Kafka connections are encrypted (SASL_SSL): ECMON_KAFKA_SECURITY=scram-tls."""
        return self.kafka_security == "scram-tls"

    @property
    def kafka_tls_dir(self) -> Path:
        """The local stack's CA and broker key pair (scram-tls), written by `ecmon stack up`."""
        return self.state_dir / "secrets" / "kafka-tls"

    @property
    def kafka_ca_path(self) -> Path:
        return self.kafka_ca_file or self.kafka_tls_dir / "ca.pem"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def targets_dir(self) -> Path:
        """Where each running ecmon process announces its /metrics port to Prometheus (file_sd)."""
        return self.state_dir / "prometheus" / "targets"


def load_settings(**overrides: object) -> Settings:
    """The settings of this process, built once by its entry point (the CLI) and passed down from there.

    Sources, strongest first: ``overrides`` (the command's own options), ``ECMON_*`` variables, what
    ``ecmon stack up`` recorded in ``<state_dir>/run/stack.json``, the defaults above. The record matters:
    a stack started with --brokers 3 or in scram mode must be found by later commands without repeating it.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**given)  # type: ignore[arg-type]
    stack_file = settings.state_dir / "run" / "stack.json"
    if stack_file.exists():
        recorded = json.loads(stack_file.read_text())
        update = {}
        for field, variable in (("brokers", "ECMON_BROKERS"), ("kafka_security", "ECMON_KAFKA_SECURITY")):
            if field not in given and variable not in os.environ and field in recorded:
                update[field] = recorded[field]
        settings = settings.model_copy(update=update)
    return settings
