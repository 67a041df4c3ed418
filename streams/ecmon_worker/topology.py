"""The worker's topology: its topics, tables and agents. Run as ``ecmon worker``.

::

    ecmon.readings.v1 ──[reading_batches: enterprise-state, meter-detectors]──> normalised-readings, anomalies
                             └─ on the cadence ──> aggregates, enterprise-totals (key: province)
    ecmon.production.v1 ──[production_output: production-state]──> production-accepted, anomalies
    ecmon.enterprise-totals.v1 ──[enterprise_totals: province-state]──> aggregates, monthly-reports, anomalies,
                                                                        province-totals (key: 'CN')
    ecmon.province-totals.v1 ──[province_totals: nation-state]──> aggregates, national-feedback
    every agent ──> ecmon.deadletters.v1

Every agent but production_output takes micro-batches (up to ``ECMON_WORKER_MICRO_BATCH`` events); the two
rollups take one step per province (or nation) per micro-batch.

Each agent is a shell (streams/ecmon_worker/agents.py) around a step that never touches Kafka:
reading_batches.py, production_steps.py, rollup_steps.py; what every step is given has passed
admission.py. Totals and the reading side's changelog go out per changed key at most every
``ECMON_EMIT_INTERVAL_MS`` and before every offset commit (emission.py, commit_order.py).
"""

from __future__ import annotations

import asyncio
import logging

import faust

from ecmon import signing, topics
from ecmon.dead_letter_reasons import REASONS
from ecmon.kafka_clients import client_config, faust_credentials
from ecmon.metric_defs import DEAD_LETTERS, KAFKA_BROKERS_EXPECTED, KAFKA_BROKERS_UP
from ecmon.settings import Settings
from ecmon_worker import commit_order, emission, enterprise_rollup, faust_fixes, meter_record, reading_identity
from ecmon_worker.agents import Agents
from ecmon_worker.meter_watch import MeterWatch
from ecmon_worker.production_steps import ProductionSteps
from ecmon_worker.reading_batches import ReadingBatches
from ecmon_worker.registry import RegistryFollower

log = logging.getLogger(__name__)

#: Output channel (streams/ecmon_worker/outputs.py) -> topic.
OUTPUTS = {
    "normalised": topics.NORMALISED_READINGS, "aggregates": topics.AGGREGATES, "anomalies": topics.ANOMALIES,
    "enterprise_totals": topics.ENTERPRISE_TOTALS, "province_totals": topics.PROVINCE_TOTALS,
    "monthly_reports": topics.MONTHLY_REPORTS, "feedback": topics.NATIONAL_FEEDBACK,
    "production_accepted": topics.PRODUCTION_ACCEPTED, "dead_letters": topics.DEAD_LETTERS,
}


def create_app(settings: Settings) -> tuple[faust.App, RegistryFollower]:
    faust_fixes.apply()  # a recovered worker must not lose its backlog (streams/ecmon_worker/faust_fixes.py)
    app = faust.App(
        settings.worker_app_id,
        broker=[f"kafka://{hp}" for hp in settings.bootstrap_servers.split(",")],
        store="memory://",  # state is rebuilt from the changelog topics on start
        topic_partitions=topics.PARTITIONS,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False,  # the stack creates every topic (ecmon.topics)
        web_enabled=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=1.0,
        # a province month or a large enterprise's detectors may pass Kafka's default 1 MB (ecmon.topics)
        producer_max_request_size=topics.CHANGELOG_MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=topics.CHANGELOG_MAX_MESSAGE_BYTES,
        table_standby_replicas=0,
        stream_wait_empty=False,
        broker_credentials=faust_credentials(settings, "worker"),  # None without Kafka authentication
    )
    registry = RegistryFollower(client_config(settings, "worker"),
                                authority_public_key=signing.registry_authority_public_key(settings),
                                horizon_ms=settings.horizon_days * enterprise_rollup.DAY_MS)

    def topic(spec: topics.TopicSpec) -> faust.TopicT:
        return app.topic(spec.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=spec.partitions)

    # JSON both ways, keys included: the changelog must read back exactly what was written.
    schema: faust.Schema = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")

    def table(name: str) -> faust.types.TableT:
        return app.Table(name, partitions=topics.PARTITIONS, schema=schema)

    enterprise_state, meter_detectors, production_state = table("enterprise-state"), table("meter-detectors"), \
        table("production-state")
    production = ProductionSteps(emission.DeferredChangelog(production_state),
                                 enterprise_state=enterprise_state.get)
    readings = ReadingBatches(
        registry, emission.DeferredChangelog(enterprise_state, encode=reading_identity.encoded,
                                                   hold=reading_identity.held),
        emission.DeferredChangelog(meter_detectors, encode=meter_record.stored), production,
        MeterWatch(silence_intervals=settings.silence_intervals),
        limits=enterprise_rollup.Limits(
            future_ms=settings.future_margin_s * 1000,
            horizon_ms=settings.horizon_days * enterprise_rollup.DAY_MS,
            month_grace_ms=settings.month_grace_hours * enterprise_rollup.HOUR_MS,
            revision_window_ms=settings.revision_window_days * enterprise_rollup.DAY_MS,
            register_history_ms=settings.register_history_hours * enterprise_rollup.HOUR_MS,
        ), electricity_method=settings.electricity_method)
    agents = Agents({channel: topic(spec) for channel, spec in OUTPUTS.items()},
                    {"province": table("province-state"), "nation": table("nation-state"),
                     "production": production_state},
                    registry, readings, production,
                    grace_ms=settings.month_grace_hours * enterprise_rollup.HOUR_MS,
                    revision_window_ms=settings.revision_window_days * enterprise_rollup.DAY_MS,
                    deadline_ms=settings.month_submission_wait_hours * enterprise_rollup.HOUR_MS,
                    emit_interval_s=settings.emit_interval_ms / 1000)
    commit_order.before_commit(app, agents.cadence.flush)
    commit_order.after_recovery(app, agents.recovered)
    commit_order.tables_read(app, agents.tables_read)

    @app.agent(topic(topics.READINGS))
    async def reading_batches(stream):
        async for events in stream.take_events(settings.worker_micro_batch, within=0.05):
            await agents.reading_batches(events)

    @app.agent(topic(topics.PRODUCTION))  # co-partitioned with the readings: Faust assigns both together
    async def production_output(stream):
        async for event in stream.events():
            await agents.survive(event, agents.production_output, "the production output")

    @app.agent(topic(topics.ENTERPRISE_TOTALS))
    async def enterprise_totals(stream):
        async for events in stream.take_events(settings.worker_micro_batch, within=0.05):
            await agents.enterprise_totals_batch(events)

    @app.agent(topic(topics.PROVINCE_TOTALS))
    async def province_totals(stream):
        async for events in stream.take_events(settings.worker_micro_batch, within=0.05):
            await agents.province_totals_batch(events)

    @app.timer(interval=max(settings.emit_interval_ms / 1000, 0.05))
    async def emit_on_cadence() -> None:
        agents.cadence.flush_if_due()

    @app.task
    async def follow_registry() -> None:
        await asyncio.to_thread(registry.caught_up, 30.0)
        log.info("registry loaded: %d enterprises", len(registry.enterprises))

    @app.timer(interval=1.0)
    async def send_registry_dead_letters() -> None:
        await agents.registry_dead_letters()

    @app.timer(interval=30.0)
    async def find_silent_enterprises() -> None:
        await agents.silent_enterprises()

    @app.timer(interval=15.0)
    async def watch_brokers() -> None:
        KAFKA_BROKERS_EXPECTED.set(settings.brokers)
        KAFKA_BROKERS_UP.set(await asyncio.to_thread(registry.brokers_up))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode calls it as (app, revoked, signal=...)
    async def hand_over_partitions(app: faust.App, revoked: set, **_: object) -> None:
        await agents.revoked(app.producer.flush)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode calls it as (app, assigned, signal=...)
    async def take_partitions(app: faust.App, assigned: set, **_: object) -> None:
        agents.assigned({tp.partition for tp in assigned if tp.topic == topics.READINGS.name})

    return app, registry


def run_worker(settings: Settings, loglevel: str = "INFO") -> None:
    from ecmon.observability import serve_metrics

    app, registry = create_app(settings)
    serve_metrics(settings, "worker")
    # Every reason is exported from the start at 0, so the first rejection is an increase that
    # rate()/increase() can see, not the birth of a new series.
    for reason in REASONS:
        DEAD_LETTERS.labels(reason=reason)
    registry.start()
    faust_fixes.execute_until_exit(faust.Worker(app, loglevel=loglevel))
