"""`ecmon stack up | down | status`: the whole local stack as one unit."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from ecmon import signing, topics
from ecmon.kafka_clients import INSECURE_WARNING, client_config, ensure_secrets_file
from ecmon.settings import Settings
from ecmon_ops.stack import acls
from ecmon_ops.stack.apps import running_apps
from ecmon_ops.stack.process import ServiceError, wait_until
from ecmon_ops.stack.services import KafkaBroker, Service, ensure_broker_tls, stack_services


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    healthy: bool
    log: str


def _stack_file(settings: Settings):
    return settings.run_dir / "stack.json"


def _check_broker_count(settings: Settings, services: list[Service]) -> None:
    """KRaft voters (and, in scram mode, the bootstrap SCRAM users) are fixed at format time: a different
    broker count or Kafka security mode needs fresh Kafka storage."""
    stack_file = _stack_file(settings)
    if not stack_file.exists():
        return
    recorded = json.loads(stack_file.read_text())
    previous = recorded.get("brokers")
    previous_security = recorded.get("kafka_security", "insecure-plaintext")
    if previous == settings.brokers and previous_security == settings.kafka_security:
        return
    running = [s.name for s in services if isinstance(s, KafkaBroker) and s.process.pid()]
    old_running = [f"kafka-{i}" for i in range(1, (previous or 0) + 1)]
    if running or any(KafkaBroker(name=n, port=0, settings=settings).process.pid() for n in old_running):
        raise ServiceError(
            f"the stack is running with {previous} broker(s), Kafka security {previous_security}; run "
            f"`ecmon stack down` before starting it with {settings.brokers} broker(s), {settings.kafka_security}"
        )
    for path in settings.state_dir.glob("kafka-*"):
        shutil.rmtree(path, ignore_errors=True)
    (settings.state_dir / "kafka-cluster.id").unlink(missing_ok=True)


def _select(services: list[Service], only: list[str] | None) -> list[Service]:
    return [s for s in services if only is None or s.name in only]


def up(settings: Settings, on_progress=lambda msg: None, only: list[str] | None = None) -> list[ServiceStatus]:
    """Start the stack (or the services named in ``only``); harmless for what already runs."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    services = _select(stack_services(settings), only)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    signing.ensure_registry_authority(settings)  # workers refuse to start without its public key
    if any(isinstance(s, KafkaBroker) for s in services):
        _check_broker_count(settings, services)
        if settings.kafka_authenticated:
            _check_secrets(settings)
        else:
            on_progress(f"WARNING: {INSECURE_WARNING}")
        if settings.kafka_tls:
            ensure_broker_tls(settings)
        _stack_file(settings).write_text(json.dumps({"brokers": settings.brokers,
                                                     "kafka_security": settings.kafka_security}))

    started: list[Service] = []
    for service in services:
        proc = service.process
        if proc.pid() is not None:
            on_progress(f"{service.name} already running (pid {proc.pid()})")
            service.refresh()
            continue
        on_progress(f"preparing {service.name}")
        service.prepare()
        proc.start()
        started.append(service)
    for service in services:
        on_progress(f"waiting for {service.name} on port {service.port}")
        proc = service.process
        # wait_until calls it before the loop moves on, so the loop variables are the ones meant
        ok = wait_until(lambda: service.healthy() or proc.exited_early(), service.start_timeout)  # noqa: B023
        if proc.exited_early():
            raise ServiceError(
                f"{service.name} exited during start-up. Log: {service.log_path}\n{proc.log_tail()}"
            )
        if not ok:  # a second probe could catch a forming cluster between two metadata updates
            raise ServiceError(
                f"{service.name} did not become healthy on {settings.host}:{service.port} within "
                f"{service.start_timeout:.0f}s (is the port taken by another program?). "
                f"Log: {service.log_path}\n{proc.log_tail()}"
            )
    if any(isinstance(s, KafkaBroker) for s in services):
        on_progress("creating topics")
        create_topics(settings, on_progress=lambda msg: on_progress(f"  {msg}"))
        if settings.kafka_authenticated:
            on_progress("creating Kafka users and ACLs (ecmon/principals.py)")
            acls.apply(settings)
    return status(settings)


def _check_secrets(settings: Settings) -> None:
    """The brokers' storage holds the SCRAM users of the secrets file it was formatted with: without
    that file nobody, not even the brokers among themselves, could authenticate."""
    formatted = any((settings.state_dir / f"kafka-{i}" / "data" / "meta.properties").exists()
                    for i in range(1, settings.brokers + 1))
    if formatted and not settings.kafka_secrets_path.exists():
        raise ServiceError(
            f"the Kafka secrets file {settings.kafka_secrets_path} is missing, but the brokers' storage was "
            "formatted with its passwords; restore it, or delete the kafka-* directories of the state "
            "directory to start Kafka afresh"
        )
    ensure_secrets_file(settings)


@retry(
    retry=retry_if_exception_type(KafkaException),
    stop=stop_after_attempt(5),
    wait=wait_fixed(1),
    reraise=True,
)
def _create(admin: AdminClient, wanted: list[NewTopic]) -> None:
    """Transient errors (a fresh cluster replacing its bootstrap connections) are retried;
    creating a topic is idempotent here because "already exists" counts as success."""
    for _name, future in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


#: Limits a topic's declared configuration sets as a floor: raised to the declaration, never lowered (an operator
#: may keep data longer, or a cluster more replicas in sync, than the platform needs; -1 is "no limit")
RAISE_ONLY = frozenset({"max.message.bytes", "retention.ms", "min.compaction.lag.ms", "delete.retention.ms",
                        "min.insync.replicas"})


def _config_change(name: str, current: str | None, declared: str) -> bool:
    if current == declared:
        return False
    if name in RAISE_ONLY and current is not None:
        now, wanted = int(current), int(declared)
        return now != -1 and (wanted == -1 or now < wanted)
    return True


@retry(retry=retry_if_exception_type(KafkaException), stop=stop_after_attempt(5), wait=wait_fixed(1), reraise=True)
def _describe(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str | None]]:
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in names])
    return {resource.name: {key: entry.value for key, entry in future.result(timeout=30).items()}
            for resource, future in described.items()}


def align_configs(admin: AdminClient, specs: list[topics.TopicSpec], min_isr: int) -> dict[str, dict[str, str]]:
    """Bring existing topics up to the configuration they are declared with (a platform created by an earlier
    release keeps, say, a changelog's 1 MB ``max.message.bytes`` otherwise); returns what was changed, per topic.

    Limits (``RAISE_ONLY``) are only raised: a longer retention or a stricter ``min.insync.replicas`` an operator
    chose stays. ``cleanup.policy`` is never changed: turning a topic compacted or not would delete or keep data
    behind the operator's back, so a difference there is an error to resolve by hand."""
    if not specs:
        return {}
    try:
        current_of = _describe(admin, [t.name for t in specs])
    except KafkaException as exc:
        raise ServiceError(f"reading the configuration of the existing topics failed: {exc}") from exc
    changed: dict[str, dict[str, str]] = {}
    for spec in specs:
        current = current_of[spec.name]
        declared = spec.kafka_config(min_isr)
        if current.get("cleanup.policy") != declared.pop("cleanup.policy"):
            raise ServiceError(f"topic {spec.name} has cleanup.policy={current.get('cleanup.policy')}, declared "
                               f"{'compact' if spec.compacted else 'delete'} (ecmon/topics.py); recreate the topic "
                               "or correct the declaration")
        differing = {key: value for key, value in declared.items() if _config_change(key, current.get(key), value)}
        if differing:
            changed[spec.name] = differing
    if changed:
        updates = [ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in values.items()])
            for name, values in changed.items()]
        for name, future in admin.incremental_alter_configs(updates).items():
            try:
                future.result(timeout=30)
            except KafkaException as exc:
                raise ServiceError(f"setting the declared configuration of topic {name} failed: {exc}") from exc
    return changed


def create_topics(settings: Settings, specs: list[topics.TopicSpec] | None = None,
                  on_progress: Callable[[str], None] = lambda msg: None) -> list[str]:
    """Create every declared topic (or those of ``specs``) that does not exist yet, and bring existing ones up to
    their declared configuration (``align_configs``, each change reported); returns the names created."""
    admin = AdminClient(client_config(settings, "admin"))
    existing = set(admin.list_topics(timeout=10).topics)
    rf = settings.replication_factor
    min_isr = 2 if rf >= 3 else 1
    declared = topics.all_topics(settings.worker_app_id) if specs is None else specs
    wanted = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=rf, config=t.kafka_config(min_isr))
        for t in declared if t.name not in existing
    ]
    for name, values in align_configs(admin, [t for t in declared if t.name in existing], min_isr).items():
        on_progress(f"topic {name}: set " + ", ".join(f"{key}={value}" for key, value in sorted(values.items())))
    if not wanted:
        return []
    try:
        _create(admin, wanted)
    except KafkaException as exc:
        raise ServiceError(f"creating topics failed: {exc}; broker logs are in {settings.log_dir}") from exc
    names = {t.topic for t in wanted}
    # Each broker learns new topics from the controller on its own time; a client started next may
    # ask any of them, so wait until every broker knows every topic.
    per_broker = [AdminClient({**client_config(settings, "admin", address), "log_level": 0})
                  for address in settings.broker_addresses]

    def everywhere() -> bool:
        return all(names <= set(b.list_topics(timeout=5).topics) for b in per_broker)

    # 433 partitions (24 per topic) take a loaded broker longer to set up than 30 s
    if not wait_until(everywhere, timeout=90):
        raise ServiceError(f"topics {sorted(names)} were created but did not appear in the cluster metadata")
    return sorted(names)


def down(settings: Settings, on_progress=lambda msg: None, only: list[str] | None = None) -> list[str]:
    """Stop exactly the processes the stack started (by pid file), in reverse order, cleanly."""
    stopped = []
    for app in running_apps(settings) if only is None else []:
        on_progress(f"stopping {app.name}")
        app.stop(timeout=30)
        stopped.append(app.name)
    for service in reversed(_select(stack_services(settings), only)):
        if service.process.pid() is not None:
            on_progress(f"stopping {service.name}")
            service.process.stop()
            stopped.append(service.name)
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    result = []
    for service in stack_services(settings):
        pid = service.process.pid()
        healthy = False
        if pid is not None:
            try:
                healthy = service.healthy()
            except Exception:
                healthy = False
        result.append(ServiceStatus(service.name, service.port, pid, healthy, str(service.log_path)))
    return result
