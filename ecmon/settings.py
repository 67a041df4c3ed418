"""Settings for every ecmon process, from environment variables (prefix ``ECMON_``).

One object, so the stack, the gateways, the worker and the sink agree on ports and names
without passing them around by hand.
"""

from __future__ import annotations

import json
import os
from functools import cache
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
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    prometheus_port: int = 29090
    alertmanager_port: int = 29190
    metrics_port_base: int = Field(
        default=29200, description="First /metrics port handed to ecmon processes (gateway, worker, sink, ...)."
    )

    # Beyond one machine (deploy/compose, deploy/k8s): the servers are other hosts, and /metrics must be
    # reachable from Prometheus. Empty means the local stack: everything on `host`.
    kafka_bootstrap: str = Field(
        default="", description="Kafka bootstrap servers (host:port,...); default: the local stack's brokers on `host`."
    )
    clickhouse_host: str = Field(default="", description="ClickHouse server host; default: `host`.")
    metrics_host: str = Field(default="", description="Address /metrics binds to (0.0.0.0 in containers); default: `host`.")

    # Kafka authentication (docs/security.md). plaintext: no authentication, no ACLs (the default of
    # the local stack and of `make test`); scram: SASL/SCRAM-SHA-512 on every client connection, ACLs per
    # role (ecmon/principals.py), anonymous clients rejected.
    kafka_security: Literal["plaintext", "scram"] = Field(
        default="plaintext", description="How clients authenticate to Kafka: plaintext (none) or scram (SASL/SCRAM)."
    )
    kafka_username: str = Field(
        default="", description="SCRAM user of this process (one role per process); default: the secrets file."
    )
    kafka_password: SecretStr = Field(default=SecretStr(""), description="SCRAM password for kafka_username.")
    kafka_secrets_file: Path | None = Field(
        default=None, description="JSON file of the SCRAM users per role; default: <state_dir>/secrets/kafka-users.json "
        "(generated with mode 0600 by `ecmon stack up` in scram mode).",
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
    register_history_hours: int = Field(
        default=48, description="Register readings kept per cumulative meter to place late readings exactly."
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
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def targets_dir(self) -> Path:
        """Where each running ecmon process announces its /metrics port to Prometheus (file_sd)."""
        return self.state_dir / "prometheus" / "targets"


@cache
def get_settings() -> Settings:
    settings = Settings()
    stack_file = settings.state_dir / "run" / "stack.json"
    # A stack started with --brokers 3 must be found by later commands without repeating the flag.
    # So must a stack started in scram mode, or every later command would try plaintext against it.
    if stack_file.exists():
        recorded = json.loads(stack_file.read_text())
        update = {}
        if "ECMON_BROKERS" not in os.environ:
            update["brokers"] = recorded.get("brokers", settings.brokers)
        if "ECMON_KAFKA_SECURITY" not in os.environ:
            update["kafka_security"] = recorded.get("kafka_security", settings.kafka_security)
        settings = settings.model_copy(update=update)
    return settings
