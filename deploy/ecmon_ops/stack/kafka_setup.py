"""`python -m ecmon_ops.stack.kafka_setup`: topics, SCRAM users and ACLs of a Kafka cluster the stack did not start.

The one-shot ``kafka-setup`` service of deploy/compose/docker-compose.yml runs it from the ecmon image, as the
administrator. It does what `ecmon stack up` does after starting the local brokers, with the same code:

1. waits until the brokers of ``ECMON_KAFKA_BOOTSTRAP`` answer the administrator;
2. creates every topic of ecmon/topics.py that does not exist yet (``stack.create_topics``, configs included);
3. creates or updates the SCRAM user of every client role and makes each one's ACLs exactly those of
   ecmon/principals.py (``acls.apply``).

Credentials come from the secrets file (``ECMON_KAFKA_SECRETS_FILE``: compose mounts ``kafka-setup.json``,
written by ``python -m ecmon_ops.stack.credentials OUT_DIR``), with the admin entry and one entry per client role.
Repeating it is harmless. Exit status 0 when done, 1 with a one-line error otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ecmon import topics
from ecmon.kafka_clients import KafkaCredentialsMissing, client_config
from ecmon.settings import Settings, load_settings
from ecmon_ops.stack import acls
from ecmon_ops.stack.process import ServiceError
from ecmon_ops.stack.stack import create_topics


def planned_topics(settings: Settings) -> list[str]:
    """What this creates (when missing): every topic of ecmon/topics.py, Faust's internal topics included."""
    return [t.name for t in topics.all_topics(settings.worker_app_id)]


def wait_for_brokers(settings: Settings, timeout: float = 300.0) -> None:
    """Until every broker of the bootstrap list is in the cluster metadata, as seen by the administrator."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config(settings, "admin"), "log_level": 0})
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = len(admin.list_topics(timeout=5).brokers)
        except Exception:  # not up yet, or still electing a controller
            seen = 0
        if seen >= settings.brokers:
            return
        print(f"waiting for Kafka at {settings.bootstrap_servers} ({seen}/{settings.brokers} brokers)", flush=True)
        time.sleep(2)
    raise ServiceError(f"Kafka at {settings.bootstrap_servers} did not answer the administrator with "
                       f"{settings.brokers} broker(s) within {timeout:.0f}s ({seen} seen)")


def setup(settings: Settings) -> dict[str, Any]:
    if not settings.kafka_authenticated:
        raise ServiceError("ECMON_KAFKA_SECURITY=insecure-plaintext: nothing to secure; run with scram")
    if settings.kafka_username:
        raise ServiceError("ECMON_KAFKA_USERNAME is set: kafka-setup needs every role's user from "
                           "ECMON_KAFKA_SECRETS_FILE, not one identity")
    wait_for_brokers(settings)
    configured: list[str] = []
    created = create_topics(settings, on_progress=configured.append)
    changed = acls.apply(settings)
    return {"topics_created": created, "topics_configured": configured, "acls": changed}


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m ecmon_ops.stack.kafka_setup  "
              "(settings from ECMON_* variables; see the module docstring)", file=sys.stderr)
        return 2
    settings = load_settings()
    try:
        result = setup(settings)
    except (ServiceError, KafkaCredentialsMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in result["topics_configured"]:
        print(line, flush=True)
    print(f"topics created: {len(result['topics_created'])} of {len(planned_topics(settings))}; "
          f"ACLs created {result['acls']['created']}, deleted {result['acls']['deleted']}; Kafka ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
