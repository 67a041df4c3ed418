"""Kafka client settings per role: the one place every Kafka client of ecmon gets its connection from.

``client_config(settings, role)`` is what confluent-kafka clients (gateways, sink, registry follower, the
stack's admin) are built with; ``faust_credentials(settings, role)`` is what the Faust worker (aiokafka)
gets. With ``kafka_security=plaintext`` both add nothing to the bootstrap servers; with ``scram`` they add
SASL/SCRAM-SHA-512 and the role's user and password; with ``scram-tls`` the same over SASL_SSL, trusting the
CA of ``Settings.kafka_ca_path``.

Where a password comes from, first match wins:

1. ``ECMON_KAFKA_USERNAME`` / ``ECMON_KAFKA_PASSWORD`` (or ``ECMON_KAFKA_PASSWORD_FILE``, a file that holds
   only the password, as docker compose mounts its secrets): this process's one identity (containers get them
   from a Secret), whatever role it asks for;
2. the secrets file (``ECMON_KAFKA_SECRETS_FILE``, default ``<state_dir>/secrets/kafka-users.json``), one
   entry per role, which `ecmon stack up` writes with mode 0600 when it first starts Kafka in scram mode.

Passwords never reach a log: they live in ``Settings.kafka_password`` (a SecretStr) or in this module's
return values, which callers hand straight to the client library.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecmon.principals import ADMIN_USER, BROKER_USER, ROLES, principals
from ecmon.secret_files import ensure_password_file, entry_from_file
from ecmon.settings import Settings

if TYPE_CHECKING:
    import faust

log = logging.getLogger(__name__)

MECHANISM = "SCRAM-SHA-512"
INSECURE_WARNING = (
    "KAFKA IS UNAUTHENTICATED (ECMON_KAFKA_SECURITY=insecure-plaintext): anyone who reaches a broker can forge "
    "readings, rewrite the registry and read every topic. Development only; unset ECMON_KAFKA_SECURITY for scram."
)
_warned = False
SCRAM_ITERATIONS = 8192


class KafkaCredentialsMissing(RuntimeError):
    """Kafka runs with SCRAM but this process has no credentials for its role."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a password, not even in a traceback's locals
        return f"Credentials(username={self.username!r}, password=***)"


def usernames(settings: Settings) -> dict[str, str]:
    """The SCRAM user of every role, the brokers' own included."""
    roles = principals(settings.worker_app_id, settings.sink_group)
    return {"broker": BROKER_USER, "admin": ADMIN_USER, **{r: p.username for r, p in roles.items()}}


def ensure_secrets_file(settings: Settings) -> Path:
    """Create the secrets file of the local stack once: a random password per role, mode 0600, in a 0700
    directory. Existing passwords are kept (the brokers' storage was formatted with the broker password)."""
    ensure_password_file(settings.kafka_secrets_path, usernames(settings))
    return settings.kafka_secrets_path


def _from_file(settings: Settings, role: str) -> Credentials:
    entry = entry_from_file(
        settings.kafka_secrets_path, role, f"Kafka with SCRAM (ECMON_KAFKA_SECURITY={settings.kafka_security})",
        fix="start the local stack (ecmon stack up) or set ECMON_KAFKA_USERNAME and ECMON_KAFKA_PASSWORD",
        error=KafkaCredentialsMissing)
    return Credentials(entry["username"], entry["password"])


def credentials(settings: Settings, role: str) -> Credentials | None:
    """The SCRAM identity a process in ``role`` connects as; None when Kafka runs without authentication."""
    if role not in ROLES and role != "broker":
        raise ValueError(f"unknown Kafka role {role!r}; one of {ROLES}")
    if not settings.kafka_authenticated:
        _warn_insecure()
        return None
    if settings.kafka_username:
        return Credentials(settings.kafka_username, _password(settings))
    return _from_file(settings, role)


def _password(settings: Settings) -> str:
    """ECMON_KAFKA_PASSWORD, else the content of ECMON_KAFKA_PASSWORD_FILE (trailing newline dropped)."""
    password = settings.kafka_password.get_secret_value()
    path = settings.kafka_password_file
    if password or path is None:
        return password
    try:
        password = path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise KafkaCredentialsMissing(
            f"cannot read the Kafka password of {settings.kafka_username} from ECMON_KAFKA_PASSWORD_FILE={path}: "
            f"{exc.strerror or exc}"
        ) from None
    if not password:
        raise KafkaCredentialsMissing(f"ECMON_KAFKA_PASSWORD_FILE={path} is empty "
                                      f"(Kafka user {settings.kafka_username})")
    return password


def _warn_insecure() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(INSECURE_WARNING)


def security_config(settings: Settings, role: str) -> dict[str, Any]:
    """The librdkafka security properties of ``role`` (empty for plaintext)."""
    creds = credentials(settings, role)
    if creds is None:
        return {}
    config = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": MECHANISM,
        "sasl.username": creds.username,
        "sasl.password": creds.password,
    }
    if settings.kafka_tls:  # the broker's certificate must chain to the CA and name the host (default checks)
        config.update({"security.protocol": "SASL_SSL", "ssl.ca.location": str(settings.kafka_ca_path)})
    return config


def client_config(settings: Settings, role: str, bootstrap: str | None = None) -> dict[str, Any]:
    """A confluent-kafka client configuration for ``role``: bootstrap servers plus its security properties.
    Callers add their own client settings (group, acks, ...) on top."""
    return {"bootstrap.servers": bootstrap or settings.bootstrap_servers, **security_config(settings, role)}


def faust_credentials(settings: Settings, role: str = "worker") -> faust.SASLCredentials | None:
    """``broker_credentials`` for faust.App: SCRAM-SHA-512 over SASL_PLAINTEXT, over SASL_SSL in scram-tls
    mode (an ssl_context trusting the CA, host name checked), or None."""
    creds = credentials(settings, role)
    if creds is None:
        return None
    import faust

    ssl_context = None
    if settings.kafka_tls:
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(cafile=str(settings.kafka_ca_path))
    return faust.SASLCredentials(mechanism=MECHANISM, username=creds.username, password=creds.password,
                                 ssl_context=ssl_context)
