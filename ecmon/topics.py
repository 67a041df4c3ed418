"""Every Kafka topic of the platform, declared once.

The stack creates exactly these (brokers run with auto-creation off), the Faust app and the sinks
read their names from here, and the deployment files are checked against this list.
Faust's internal topics are declared too, because the broker will not create them on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARTITIONS = 4
"""Source topics and changelogs must have equal partition counts: Faust co-partitions tables with streams.

Four caps the platform at four workers. The national platform is to run 24 (docs/performance.md, "Partitions
for the national scale": why 24, how to re-partition a running platform); the switch waits for the chaos suite
to be measured with 24 partitions on a quiet machine (it timed out once on a loaded one)."""

WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    purpose: str
    partitions: int = PARTITIONS
    compacted: bool = False
    retention_ms: int = 4 * WEEK_MS
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self, min_insync: int) -> dict[str, str]:
        conf = {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "min.insync.replicas": str(min_insync),
        }
        if not self.compacted:
            conf["retention.ms"] = str(self.retention_ms)
        conf.update(self.config)
        return conf


#: Gateways' topics take the broker's clock as the record time: it bounds how far ahead readings may run and
#: decides whether a key was valid (revoked keys), so a gateway must not be able to set it (CreateTime).
BROKER_TIME = {"message.timestamp.type": "LogAppendTime"}

READINGS = TopicSpec("ecmon.readings.v1", "reading batches from enterprise gateways, keyed by USCC", config=BROKER_TIME)
#: The worker keeps each enterprise's registry history by valid_from (streams/ecmon_worker/registry_records.py), and
#: rebuilds it from this topic on start: compaction must not remove a superseded record, nor a tombstone,
#: before it has left the readings' horizon (400 days).
REGISTRY_HISTORY_MS = 400 * 24 * 3600 * 1000
REGISTRY = TopicSpec(
    "ecmon.registry.v1", "enterprise registry (monitoring coverage list), keyed by USCC", compacted=True,
    config={"min.compaction.lag.ms": str(REGISTRY_HISTORY_MS), "delete.retention.ms": str(REGISTRY_HISTORY_MS)},
)
TARGETS = TopicSpec(
    "ecmon.targets.v1", "energy-consumption targets of provinces and quotas of enterprises, keyed by "
    "'<scope>/<entity_code>/<year>/<month>'", compacted=True,
)
PRODUCTION = TopicSpec(
    "ecmon.production.v1", "enterprises' production output (for unit-product energy consumption), keyed by USCC",
    config=BROKER_TIME,
)
ENTERPRISE_TOTALS = TopicSpec(
    "ecmon.enterprise-totals.v1", "enterprise monthly totals re-keyed by province for regional rollups"
)
PROVINCE_TOTALS = TopicSpec(
    "ecmon.province-totals.v1", "province totals and month-close reports re-keyed to the single key 'CN' for the "
    "national level"
)
AGGREGATES = TopicSpec("ecmon.aggregates.v1", "versioned aggregates at every level, for the sinks")
DEAD_LETTERS = TopicSpec(
    "ecmon.deadletters.v1", "rejected input with reason code and original bytes", retention_ms=13 * WEEK_MS
)

NORMALISED_READINGS = TopicSpec(
    "ecmon.normalised-readings.v1", "accepted readings as interval consumption in physical units and tce, one "
    "message per accepted input batch, keyed by USCC",
)
PRODUCTION_ACCEPTED = TopicSpec(
    "ecmon.production-accepted.v1", "production output that passed validation, keyed by USCC, for the sinks"
)
ANOMALIES = TopicSpec("ecmon.anomalies.v1", "anomaly events of the meter, enterprise and region detectors")
MONTHLY_REPORTS = TopicSpec(
    "ecmon.monthly-reports.v1", "provinces' month-close reports to the national level, keyed by province",
    retention_ms=13 * WEEK_MS,
)
NATIONAL_FEEDBACK = TopicSpec(
    "ecmon.national-feedback.v1", "the national level's monthly feedback to each province, keyed by province",
    retention_ms=13 * WEEK_MS,
)

WORKER_APP_ID = "ecmon-worker"
WORKER_TABLES = ("enterprise-state", "province-state", "nation-state", "production-state", "meter-detectors")
#: The largest table value the worker may write (its producer's limit and the changelogs' ``max.message.bytes``).
#: Kafka's default of 1 MB is too small at the national scale: a province month holds a row per enterprise and
#: energy type (about 1 MB for 6,700 enterprises), an enterprise's detector value a record per meter (about
#: 1.3 kB each after a month); a value beyond the limit would stop the worker (docs/streams.md, "Value sizes").
CHANGELOG_MAX_MESSAGE_BYTES = 16 * 2**20


def faust_internal_topics(app_id: str = WORKER_APP_ID) -> list[TopicSpec]:
    changelogs = [
        TopicSpec(f"{app_id}-{table}-changelog", f"Faust changelog of table {table}", compacted=True,
                  config={"max.message.bytes": str(CHANGELOG_MAX_MESSAGE_BYTES)})
        for table in WORKER_TABLES
    ]
    leader = TopicSpec(f"{app_id}-__assignor-__leader", "Faust leader election", partitions=1, compacted=True)
    return [*changelogs, leader]


def all_topics(app_id: str = WORKER_APP_ID) -> list[TopicSpec]:
    return [READINGS, REGISTRY, TARGETS, PRODUCTION, ENTERPRISE_TOTALS, PROVINCE_TOTALS, AGGREGATES, DEAD_LETTERS,
            NORMALISED_READINGS, PRODUCTION_ACCEPTED, ANOMALIES, MONTHLY_REPORTS, NATIONAL_FEEDBACK,
            *faust_internal_topics(app_id)]
