"""Who may do what on Kafka: one principal per role, and the ACLs each one gets, declared once.

Next to ``ecmon.topics`` on purpose: a new topic needs a line here too, or nobody may use it once
Kafka runs with authorisation (``ECMON_KAFKA_SECURITY=scram``). `ecmon stack up` applies exactly these
ACLs to the local brokers (deploy/ecmon_ops/stack/principals.py) and deploy/k8s/users.yaml states them as Strimzi
KafkaUsers; tests/unit/ecmon/test_principals.py keeps both, and the sink's and worker's clients, in step.

Every grant is literal (no prefixes, no wildcards) and allow-only; the brokers run with
``allow.everyone.if.no.acl.found=false``, so whatever is not granted here is denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecmon import topics

#: The brokers' own principal (inter-broker and controller traffic) and the stack's administrator
#: (creates topics, SCRAM users and ACLs). Both are super users; no ecmon process runs as either.
BROKER_USER = "ecmon-broker"
ADMIN_USER = "ecmon-admin"
SUPER_USERS = (BROKER_USER, ADMIN_USER)

#: The consumer groups of the worker's registry follower (streams/ecmon_worker/registry.py): it only assign()s and never
#: commits, but librdkafka still looks up the group's coordinator, which needs Describe on the group.
REGISTRY_FOLLOWER_GROUPS = ("ecmon-registry-follower", "ecmon-registry-watermarks")

#: What the sink consumes: its read ACLs, and the topics sinks/ecmon_sink/writer.py subscribes to.
SINK_INPUTS = (topics.AGGREGATES, topics.DEAD_LETTERS, topics.REGISTRY, topics.NORMALISED_READINGS,
               topics.ANOMALIES, topics.MONTHLY_REPORTS, topics.NATIONAL_FEEDBACK, topics.PRODUCTION_ACCEPTED,
               topics.TARGETS)


@dataclass(frozen=True)
class Grant:
    """One allow ACL: principal may do ``operation`` on the named topic, group or the cluster."""

    resource: str  # "topic" | "group"
    name: str
    operation: str  # "READ" | "WRITE" | "DESCRIBE"


@dataclass(frozen=True)
class Principal:
    role: str
    username: str
    purpose: str
    produces: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        return f"User:{self.username}"

    def grants(self) -> list[Grant]:
        out: set[Grant] = set()
        for name in self.produces:
            out |= {Grant("topic", name, "WRITE"), Grant("topic", name, "DESCRIBE")}
        for name in self.consumes:
            out |= {Grant("topic", name, "READ"), Grant("topic", name, "DESCRIBE")}
        for name in self.groups:
            out |= {Grant("group", name, "READ"), Grant("group", name, "DESCRIBE")}
        return sorted(out, key=lambda g: (g.resource, g.name, g.operation))


def _names(*specs: topics.TopicSpec) -> tuple[str, ...]:
    return tuple(s.name for s in specs)


def principals(worker_app_id: str = topics.WORKER_APP_ID, sink_group: str = "ecmon-sink") -> dict[str, Principal]:
    """The client roles by name. Each ecmon process runs as exactly one of them (the simulator, which also
    registers its simulated enterprises, holds two: gateway for readings, registry for the registry)."""
    faust_internal = _names(*topics.faust_internal_topics(worker_app_id))
    return {
        p.role: p
        for p in (
            Principal(
                "gateway", "ecmon-gateway",
                "an enterprise gateway: writes reading batches and production output, reads nothing",
                produces=_names(topics.READINGS, topics.PRODUCTION),
            ),
            Principal(
                "registry", "ecmon-registry",
                "the registry and targets operator (`ecmon targets publish`, the simulator's registrations): "
                "writes the two compacted reference topics, reads nothing",
                produces=_names(topics.REGISTRY, topics.TARGETS),
            ),
            Principal(
                "worker", "ecmon-worker",
                "the Faust stream worker: reads the input and re-keyed topics, writes results, owns its changelogs",
                consumes=_names(topics.READINGS, topics.PRODUCTION, topics.REGISTRY, topics.TARGETS,
                                topics.ENTERPRISE_TOTALS, topics.PROVINCE_TOTALS) + faust_internal,
                produces=_names(topics.ENTERPRISE_TOTALS, topics.PROVINCE_TOTALS, topics.AGGREGATES,
                                topics.DEAD_LETTERS, topics.NORMALISED_READINGS, topics.PRODUCTION_ACCEPTED,
                                topics.ANOMALIES, topics.MONTHLY_REPORTS, topics.NATIONAL_FEEDBACK) + faust_internal,
                groups=(worker_app_id, *REGISTRY_FOLLOWER_GROUPS),
            ),
            Principal(
                "sink", "ecmon-sink",
                "the ClickHouse sink: reads the result topics in its consumer group, writes nothing to Kafka",
                consumes=_names(*SINK_INPUTS),
                groups=(sink_group, f"{sink_group}-lag"),
            ),
        )
    }


#: Every role a client configuration can be built for: the client roles and the administrator.
ROLES = ("gateway", "registry", "worker", "sink", "admin")

#: The roles the gateway simulator holds (``ecmon gateway``): gateway for readings and production, registry for
#: its enterprises' registrations. Compose gives it a secrets file with exactly these two entries.
SIMULATOR_ROLES = ("gateway", "registry")
