"""The Faust app: reading batches -> enterprise rollup -> re-key by province -> regional rollup.

Topology (topics from ecmon.topics)::

    ecmon.readings.v1 --[validate_and_roll_up, table enterprise-state]--> ecmon.aggregates.v1
            |                                    \\--> ecmon.enterprise-totals.v1 (key: province)
            \\--> ecmon.deadletters.v1                    |
                                        [roll_up_regions, table province-state] --> ecmon.aggregates.v1
                                                         \\--> ecmon.province-totals.v1 (key: 'CN')
                                                                   |
                                        [roll_up_nation, table nation-state] --> ecmon.aggregates.v1

Batches stay batches: a reading batch yields at most one normalised-readings message. Totals and the
enterprise-state changelog go out per changed enterprise at most every ``ECMON_EMIT_INTERVAL_MS``, and
before every offset commit (streams/ecmon_worker/emission.py, commit_order.py).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, cast

import faust
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from confluent_kafka import KafkaException
from faust.types import TableT

from ecmon import codec, signing, topics
from ecmon.emission_factors import scope as co2_scope
from ecmon.kafka_clients import client_config, faust_credentials
from ecmon.metric_defs import (
    DEAD_LETTERS,
    ENTERPRISE_LAST_READING,
    KAFKA_BROKERS_EXPECTED,
    KAFKA_BROKERS_UP,
    PROVINCE_COMPLETENESS,
    REGION_EARLY_WARNING,
    WORKER_AGGREGATES_EMITTED,
    WORKER_BATCH_SECONDS,
    WORKER_BATCHES,
    WORKER_READINGS,
)
from ecmon.months import CST_OFFSET_MS, DAY_MS, month_of
from ecmon.quota_standards import QuotaStandard
from ecmon.regions import province_of
from ecmon.settings import Settings
from ecmon_worker import (
    admission,
    anomaly_events,
    commit_order,
    emission,
    enterprise_benchmarks,
    enterprise_rollup,
    faust_fixes,
    production_intake,
    reading_identity,
    rollup_steps,
)
from ecmon_worker.admission import Rejection
from ecmon_worker.dead_letters import REASONS, dead_letter, dead_letter_key
from ecmon_worker.meter_watch import MeterWatch
from ecmon_worker.registry import RegistryFollower

log = logging.getLogger(__name__)

MAX_BATCH_READINGS = admission.MAX_BATCH_READINGS
#: Errors of Kafka itself, not of the message being processed: they propagate (Faust restarts the agent),
#: where any other error of one message becomes that message's dead letter.
KAFKA_ERRORS = (KafkaError, KafkaException, faust.exceptions.ProducerSendError)


class HandingOver(Exception):
    """Raised before a reading batch changes any state while the worker's partitions are being handed over."""


def too_large(exc: BaseException | None) -> bool:
    """Whether a send failed because the message exceeds the producer's (or broker's) size limit; Faust wraps
    aiokafka's error in ProducerSendError."""
    while exc is not None:
        if isinstance(exc, MessageSizeTooLargeError):
            return True
        exc = exc.__cause__
    return False


aggregate_batch = rollup_steps.aggregate_batch


class TableSlice(MutableMapping[str, Any]):
    """The keys ``"<owner>|..."`` of a table, seen without their prefix: one enterprise's reading identities
    (streams/ecmon_worker/reading_identity.py) inside the enterprise-state table. They share its changelog
    partition with the enterprise's state and are written before it (streams/ecmon_worker/emission.py), so a
    crash never keeps a state whose identities were lost. Values stay decoded in memory (``DayIdentities``)
    and are encoded when the changelog is written."""

    keeps_decoded = True

    def __init__(self, table: emission.DeferredChangelog, owner: str, partition: int) -> None:
        self.table, self.owner, self.partition, self.prefix = table, owner, partition, owner + "|"

    def __getitem__(self, key: str) -> Any:
        value = self.table.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.table.put_part(self.owner, self.partition, self.prefix + key, value)

    def __delitem__(self, key: str) -> None:
        self.table.delete_part(self.owner, self.partition, self.prefix + key)  # a tombstone in the changelog

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.prefix + key in self.table.data

    def __iter__(self) -> Iterator[str]:  # not on the hot path: scans the whole table
        return (k[len(self.prefix):] for k in list(self.table.data) if isinstance(k, str) and k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
        table_standby_replicas=0,
        stream_wait_empty=False,
        broker_credentials=faust_credentials(settings, "worker"),  # None without Kafka authentication
    )
    registry = RegistryFollower(client_config(settings, "worker"),
                                authority_public_key=signing.registry_authority_public_key(settings),
                                horizon_ms=settings.horizon_days * enterprise_rollup.DAY_MS)
    limits = enterprise_rollup.Limits(
        future_ms=settings.future_margin_s * 1000,
        horizon_ms=settings.horizon_days * enterprise_rollup.DAY_MS,
        month_grace_ms=settings.month_grace_hours * enterprise_rollup.HOUR_MS,
        revision_window_ms=settings.revision_window_days * enterprise_rollup.DAY_MS,
        register_history_ms=settings.register_history_hours * enterprise_rollup.HOUR_MS,
    )

    def raw_topic(spec: topics.TopicSpec) -> faust.TopicT:
        return app.topic(
            spec.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
            partitions=spec.partitions,
        )

    readings = raw_topic(topics.READINGS)
    enterprise_totals = raw_topic(topics.ENTERPRISE_TOTALS)
    province_totals = raw_topic(topics.PROVINCE_TOTALS)
    aggregates = raw_topic(topics.AGGREGATES)
    dead_letters = raw_topic(topics.DEAD_LETTERS)
    anomalies = raw_topic(topics.ANOMALIES)
    normalised = raw_topic(topics.NORMALISED_READINGS)
    electricity_method = settings.electricity_method.upper()
    factors = enterprise_rollup.factors_for(settings.electricity_method)
    monthly_reports = raw_topic(topics.MONTHLY_REPORTS)
    feedback = raw_topic(topics.NATIONAL_FEEDBACK)

    # JSON both ways, keys included: the changelog must read back exactly what was written.
    state_schema: faust.Schema = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    enterprise_state = app.Table("enterprise-state", partitions=topics.PARTITIONS, schema=state_schema)
    province_state = app.Table("province-state", partitions=topics.PARTITIONS, schema=state_schema)
    nation_state = app.Table("nation-state", partitions=topics.PARTITIONS, schema=state_schema)
    meter_detectors = app.Table("meter-detectors", partitions=topics.PARTITIONS, schema=state_schema)
    production_state = app.Table("production-state", partitions=topics.PARTITIONS, schema=state_schema)
    watch = MeterWatch(silence_intervals=settings.silence_intervals)

    # -- emission on a cadence (streams/ecmon_worker/emission.py): the readings agent changes these tables
    #    in memory; their changelog records and the enterprises' totals go out per key on flush().
    enterprise_log = emission.DeferredChangelog(enterprise_state, encode=reading_identity.encoded)
    detectors_log = emission.DeferredChangelog(meter_detectors)
    production_log = emission.DeferredChangelog(production_state)
    deferred_logs = (enterprise_log, detectors_log, production_log)
    pending_totals = emission.PendingTotals()
    #: (version, watermark) of each enterprise's state as the changelog holds it
    saved: dict[str, emission.Saved] = {}
    #: from revocation to the end of table recovery no reading batch is applied: recovery re-reads the
    #: changelog over the tables in memory, so a batch applied in between (and not yet written) would be
    #: half undone; it is processed after the seek to the committed offsets instead
    handing_over = [False]

    def send_totals(uscc: str, keys: list[str]) -> None:
        state, record = enterprise_log.get(uscc), registry.enterprises.get(uscc)
        if not state or record is None:  # nothing counted, or no longer registered: nothing to send
            return
        province = province_of(record["region_code"])
        totals = enterprise_rollup.month_totals(state, keys)
        if not totals:
            return
        rows = [{"level": "ENTERPRISE", "entity": uscc, "province": province, "industry_code": record["industry_code"],
                 "co2_scope": co2_scope(t["energy_type"]), **t} for t in totals]
        WORKER_AGGREGATES_EMITTED.labels(level="ENTERPRISE").inc(len(rows))
        aggregates.send_soon(key=uscc.encode(), value=aggregate_batch(rows))
        enterprise_totals.send_soon(
            key=province.encode(),
            value=codec.encode("enterprise_totals", {"uscc": uscc, "region_code": record["region_code"],
                                                     "industry_code": record["industry_code"], "totals": totals,
                                                     "watermark": state["wm"]}))

    def note_saved(uscc: str, state: Any) -> None:
        if isinstance(state, dict):
            saved[uscc] = emission.Saved(state["v"], state.get("wm", 0))

    def flush() -> None:
        """Everything deferred to the producer: totals, then each table's records (owners last). Synchronous,
        so no event is applied half-way through; called by the cadence, before every commit and on revoke."""
        for uscc, (_, keys) in pending_totals.take(enterprise_log.owned).items():
            send_totals(uscc, sorted(keys))
        enterprise_log.flush(note_saved)
        detectors_log.flush()
        production_log.flush()

    cadence = emission.Cadence(flush, settings.emit_interval_ms / 1000, time.monotonic)
    commit_order.before_commit(app, cadence.flush)

    def reemit_held() -> None:
        # Recovered: totals sent by a worker that crashed may not have reached the broker; send them all again.
        partitions = getattr(enterprise_state.data, "_key_partition", {})
        n = pending_totals.reemit_all(list(enterprise_state.data.items()), partitions.get)
        log.info("recovered: the totals of %d enterprises will be sent again", n)

    def tables_read() -> None:
        # Before the seek and the flow: an event held back while handing over is delivered again by the seek;
        # one held back after it would never be (its offset could then never be committed).
        handing_over[0] = False

    commit_order.after_recovery(app, reemit_held)
    commit_order.tables_read(app, tables_read)

    def _normalised_batch(batch: dict, record: dict, province: str, readings: list[dict]) -> bytes:
        steps = {m["meter_id"]: m["interval_s"] * 1000 for m in record["meters"]}
        for r in readings:
            if r["interval_start"] is None:
                r["interval_start"] = r["interval_end"] - steps.get(r["meter_id"], 0)
        return codec.encode("normalised_reading_batch", {
            "uscc": batch["uscc"], "batch_id": batch["batch_id"], "gateway_id": batch["gateway_id"],
            "sequence": batch["sequence"], "province": province, "region_code": record["region_code"],
            "industry_code": record["industry_code"], "electricity_method": electricity_method,
            "normalised_at": int(time.time() * 1000), "readings": readings,
        })

    async def send_dead_letter(reason: str, detail: str, *, topic: str, partition: int, offset: int, key: bytes,
                               payload: bytes, uscc: str) -> None:
        where: dict[str, Any] = dict(topic=topic, partition=partition, offset=offset, uscc=uscc)
        try:
            await dead_letters.send(key=dead_letter_key(key), value=dead_letter(
                reason, detail, key=key, payload=payload, **where))
        except KAFKA_ERRORS as exc:
            # A dead letter too large to send is the fault of the message it carries, not of Kafka: re-raising
            # would leave the event unacknowledged and stop the agent on it (dead_letter() keeps every dead
            # letter below the limit; this is the guard should that ever fail). Sent again without the bytes.
            if not too_large(exc):
                raise
            log.error("dead letter %s for %s[%d]@%d too large to send (%s); sent without key and payload",
                      reason, topic, partition, offset, exc)
            await dead_letters.send(key=dead_letter_key(key), value=dead_letter(
                reason, f"{detail} [key and payload dropped: the dead letter was too large to send]", key=b"",
                payload=b"", **where))

    async def reject(reason: str, detail: str, event: faust.EventT, uscc: str = "", count: int = 1) -> None:
        msg = event.message
        DEAD_LETTERS.labels(reason=reason).inc(count)
        await send_dead_letter(reason, detail, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                               key=msg.key or b"", payload=msg.value or b"", uscc=uscc)

    async def survive(event: faust.EventT, handle, what: str) -> str:
        """``handle(event)``, except that an unexpected error of one message becomes its dead letter
        ``internal_error`` (the traceback goes to the log) and the agent goes on with the next event."""
        try:
            return await handle(event) or "done"
        except (*KAFKA_ERRORS, HandingOver):
            raise
        except Exception as exc:
            msg = event.message
            log.exception("%s at %s[%d]@%d raised; set aside as dead letter internal_error", what, msg.topic,
                          msg.partition, msg.offset)
            rejection = admission.internal_error(exc, what)
            await reject(rejection.reason, rejection.detail, event)
            return "failed"

    async def registered(uscc: str) -> dict | None:
        if uscc not in registry.enterprises:
            await asyncio.to_thread(registry.caught_up, 10.0)
        return registry.enterprises.get(uscc)

    @app.agent(readings)
    async def validate_and_roll_up(stream):
        async for events in stream.take_events(settings.worker_micro_batch, within=0.05):
            for i, event in enumerate(events):
                if handing_over[0]:
                    hold_back(events[i:])
                    break
                owned = enterprise_log.owned
                if owned is not None and event.message.partition not in owned:
                    hold_back([event])
                    continue
                started = time.perf_counter()
                try:
                    outcome = await survive(event, _process_batch, "the reading batch")
                except HandingOver:
                    hold_back(events[i:])
                    break
                except KAFKA_ERRORS:
                    hold_back(events[i:])
                    raise
                WORKER_BATCHES.labels(outcome=outcome).inc()
                WORKER_BATCH_SECONDS.observe(time.perf_counter() - started)
            cadence.flush_if_due()

    def hold_back(events: list[faust.EventT]) -> None:
        # take_events acknowledges the whole micro-batch on the way out: an event not processed keeps a
        # reference, so its offset is never committed; it is delivered again after the seek to the
        # committed offsets that ends every rebalance, or processed by the partition's new owner.
        for event in events:
            event.message.incref()

    @app.timer(interval=max(settings.emit_interval_ms / 1000, 0.05))
    async def emit_on_cadence() -> None:
        cadence.flush_if_due()

    async def _process_batch(event: faust.EventT) -> str:
        raw: bytes = event.value
        batch = admission.read_reading_batch(event.key, raw)
        if isinstance(batch, admission.Rejection):
            await reject(batch.reason, batch.detail, event, batch.uscc)
            return "rejected"
        uscc = batch["uscc"]
        record = await registered(uscc)
        if record is None:
            await reject("unregistered_enterprise", f"{uscc} is not in the registry", event, uscc)
            return "rejected"
        # Keys count by the Kafka record time, the same on every replay; a revoked key stays revoked.
        sig_time = event.message.timestamp
        sig_at = int(sig_time * 1000) if sig_time else batch["sent_at"]
        problem = signing.signature_problem(raw, record, batch["key_id"], sig_at)
        if problem is not None and signing.key_entry(record, batch["key_id"]) is None:
            # A rotation's record is on the broker before the first batch signed with its new key;
            # read the registry that far before calling the key unknown.
            await asyncio.to_thread(registry.caught_up, 10.0)
            record = registry.enterprises.get(uscc) or record
            problem = signing.signature_problem(raw, record, batch["key_id"], sig_at)
        if problem is not None:
            await reject("bad_signature", f"batch {batch['batch_id']}: {problem}", event, uscc)
            return "rejected"

        if len(batch["readings"]) > MAX_BATCH_READINGS:
            await reject("batch_too_large", f"{len(batch['readings']):,} readings; the contract allows "
                         f"{MAX_BATCH_READINGS:,} per batch (interface standard, section 9)", event, uscc)
            return "rejected"
        partition = event.message.partition
        state = enterprise_log.get(uscc)
        if state is None:
            state = enterprise_rollup.new_state()
            saved.setdefault(uscc, emission.Saved(0, 0))
        elif uscc not in saved:  # as recovered from the changelog
            note_saved(uscc, state)
        watermark_before = state.get("wm", 0)
        timestamp = event.message.timestamp  # the Kafka record time: the same on every replay
        written = saved[uscc]
        if handing_over[0]:  # checked with no await before the state changes: see handing_over
            raise HandingOver
        outcome = enterprise_rollup.apply_batch(state, batch, registry.meters[uscc], factors, limits=limits,
                                                received_ms=int(timestamp * 1000) if timestamp else None,
                                                intervals={m["meter_id"]: m["interval_s"] * 1000
                                                           for m in record["meters"]},
                                                identities=TableSlice(enterprise_log, uscc, partition),
                                                saved=(written.version, written.watermark))
        if outcome.applied:
            enterprise_log.put(uscc, partition, state)  # written after the meter-days apply_batch changed
            if (state["wm"] + CST_OFFSET_MS) // DAY_MS > (watermark_before + CST_OFFSET_MS) // DAY_MS:
                await judge_production_after_readings(uscc, record, watermark_before, partition)
        # One dead letter per reason, not per reading: each carries the whole batch, and a batch of
        # 10,000 bad readings must not become 10,000 copies of itself.
        by_reason: dict[str, list[str]] = {}
        for rejection in outcome.rejections + outcome.notices:
            by_reason.setdefault(rejection.reason, []).append(rejection.detail)
        for reason, details in by_reason.items():
            detail = details[0] if len(details) == 1 else (
                f"{len(details)} readings: " + "; ".join(details[:20]) + ("; ..." if len(details) > 20 else ""))
            await reject(reason, detail, event, uscc, count=len(details))
        if outcome.rejected:  # refused whole (gateway or batch id, sequence window): nothing counted
            return "rejected"
        province = province_of(record["region_code"])
        if outcome.normalised:
            await normalised.send(key=event.key, value=_normalised_batch(batch, record, province, outcome.normalised))
            if not watch.knows(uscc):
                watch.load(uscc, meter_detectors.get(uscc))
            findings = watch.observe(uscc, record, province, outcome.normalised)
            for finding in findings + watch.silent_meters(uscc, record, province, state["wm"]):
                await anomalies.send(key=event.key, value=anomaly_events.encode(finding))
            if watch.checkpoint_due(uscc):
                detectors_log.put(uscc, partition, watch.states[uscc])
        if outcome.applied:
            registry.reported.add(uscc)
            ENTERPRISE_LAST_READING.labels(province=province, uscc=uscc).set(time.time())
        if outcome.touched:  # a duplicate's too: its first emission may have been lost in a crash
            pending_totals.mark(uscc, partition, outcome.touched)
        if outcome.duplicate:
            await reject("duplicate_batch", f"batch {batch['batch_id']} (gateway {batch['gateway_id']} sequence "
                         f"{batch['sequence']}) was already counted", event, uscc)
            return "duplicate"
        WORKER_READINGS.labels(province=province).inc(outcome.readings_accepted)
        return "applied"

    async def take_step(event: faust.EventT, step: rollup_steps.Step | Rejection, table: TableT) -> None:
        """Send what the step encoded, then store its table values: a refused step changes nothing."""
        if isinstance(step, Rejection):
            await reject(step.reason, step.detail, event, step.uscc)
            return
        channels = {"aggregates": aggregates, "monthly_reports": monthly_reports, "province_totals": province_totals,
                    "anomalies": anomalies, "feedback": feedback}
        for channel, key, value in step.out:
            await channels[channel].send(key=key, value=value)
        for level, n in step.emitted.items():
            WORKER_AGGREGATES_EMITTED.labels(level=level).inc(n)
        for province, period, ratio in step.completeness:
            PROVINCE_COMPLETENESS.labels(province=province, period=period).set(ratio)
        if step.warning is not None:
            REGION_EARLY_WARNING.labels(province=step.warning[0]).set(step.warning[1])
        for state_key, state in step.store.items():
            table[state_key] = state

    @app.agent(enterprise_totals)
    async def roll_up_regions(stream):
        async for event in stream.events():
            await survive(event, roll_up_region, "the enterprise totals")

    async def roll_up_region(event: faust.EventT) -> None:
        # All keys of a province live in the partition of its messages (Faust writes a table change to
        # the partition of the event being processed). The step works on copies (streams/ecmon_worker/rollup_steps.py).
        read = admission.read_enterprise_totals(event.key, event.value)
        if isinstance(read, admission.Rejection):
            await reject(read.reason, read.detail, event, read.uscc)
            return
        province, message = read
        step = rollup_steps.region_step(province_state.get, province, message, registry,
                                        grace_ms=limits.month_grace_ms,
                                        revision_window_ms=limits.revision_window_ms,
                                        deadline_ms=settings.month_submission_wait_hours * enterprise_rollup.HOUR_MS,
                                        event_key=cast(bytes, event.key))  # admission read the key: bytes
        await take_step(event, step, province_state)

    @app.agent(province_totals)
    async def roll_up_nation(stream):
        async for event in stream.events():
            await survive(event, roll_up_national, "the province totals")

    async def roll_up_national(event: faust.EventT) -> None:
        read = admission.read_province_totals(event.key, event.value)
        if isinstance(read, admission.Rejection):
            await reject(read.reason, read.detail, event, read.uscc)
            return
        key, kind, message = read
        event_key = cast(bytes, event.key)  # admission read the key: bytes
        await take_step(event, rollup_steps.nation_step(nation_state.get, key, kind, message, event_key,
                                                             registry.provinces_in), nation_state)

    # -- production output: intake and unit-product benchmark (streams/ecmon_worker/production_intake.py,
    #    streams/ecmon_worker/enterprise_benchmarks.py). ecmon.production.v1 is keyed by USCC with the partitions of
    #    ecmon.readings.v1, so Faust assigns both together and enterprise-state is local here.
    production = raw_topic(topics.PRODUCTION)
    production_accepted = raw_topic(topics.PRODUCTION_ACCEPTED)

    @app.agent(production)
    async def take_production(stream):
        async for event in stream.events():
            await survive(event, take_one_production, "the production output")

    async def take_one_production(event: faust.EventT) -> None:
        sig_time = event.message.timestamp
        at_ms = int(sig_time * 1000) if sig_time else None
        outcome = production_intake.check_production(event.value, event.key, registry.enterprises.get, at_ms)
        if getattr(outcome, "reason", "") == "unregistered_enterprise":
            # as for reading batches: read the registry up to its end before calling it unknown
            await asyncio.to_thread(registry.caught_up, 10.0)
            outcome = production_intake.check_production(event.value, event.key, registry.enterprises.get,
                                                         at_ms)
        if isinstance(outcome, production_intake.RejectedProduction):
            await reject(outcome.reason, outcome.detail, event, outcome.uscc)
            return
        await production_accepted.send(key=event.key, value=production_intake.accepted_message(outcome))
        standard = outcome.standard
        if standard is None:
            return
        uscc = outcome.uscc
        state = production_state.get(uscc) or enterprise_benchmarks.new_state()
        changed = enterprise_benchmarks.apply_production(state, outcome.record, outcome.month)
        judged = await judge_production(uscc, outcome.enterprise, state, [(standard, outcome.month)])
        if changed or judged:
            production_state[uscc] = state

    async def judge_production(uscc: str, enterprise: dict, state: dict,
                               months: list[tuple[QuotaStandard, str]]) -> bool:
        """Judge each (standard, month) on the days with both output and readings; send what changed
        (streams/ecmon_worker/enterprise_benchmarks.py). True when ``state`` changed."""
        changed = False
        province = province_of(enterprise["region_code"])
        for standard, month in months:
            found = enterprise_benchmarks.benchmark(uscc, month, standard, state, enterprise_state.get(uscc))
            event_record, touched = enterprise_benchmarks.judge(state, found, province, enterprise["industry_code"])
            changed |= touched
            if event_record is not None:
                await anomalies.send(key=uscc.encode(), value=anomaly_events.encode(event_record))
        return changed

    async def judge_production_after_readings(uscc: str, enterprise: dict, watermark_before: int,
                                              partition: int) -> None:
        """Readings completed a CST day: the months with production are judged again, so the last
        judgement of a month never lacks readings that arrived after its production figures."""
        state = production_state.get(uscc)
        if not state or not state.get("p"):
            return
        months = enterprise_benchmarks.months_to_judge(state, month_of(watermark_before))
        if months and await judge_production(uscc, enterprise, state, months):
            production_log.put(uscc, partition, state)
    # -- end of production output

    @app.task
    async def follow_registry() -> None:
        await asyncio.to_thread(registry.caught_up, 30.0)
        log.info("registry loaded: %d enterprises", len(registry.enterprises))

    @app.timer(interval=1.0)
    async def send_registry_dead_letters() -> None:
        # The follower thread has no producer: it queues the records it refused and this sends them.
        # Every worker follows the whole registry, so each sends them (the dead-letter table keeps one row
        # per source offset and reason).
        for _ in range(1000):
            try:
                r = registry.rejected.get_nowait()
            except queue.Empty:
                return
            DEAD_LETTERS.labels(reason=r.reason).inc()
            await send_dead_letter(r.reason, r.detail, topic=r.topic, partition=r.partition, offset=r.offset,
                                   key=r.key, payload=r.value, uscc=r.uscc)

    @app.timer(interval=30.0)
    async def find_silent_enterprises() -> None:
        for silence in watch.silent_enterprises():
            await anomalies.send(key=silence["entity_code"].encode(), value=anomaly_events.encode(silence))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode calls it as (app, revoked, signal=...)
    async def hand_over_partitions(app: faust.App, revoked: set, **_: object) -> None:
        # What this worker deferred belongs on the changelog before a new owner recovers from it; then it
        # applies nothing until recovery is complete and writes nothing for a partition it does not own.
        handing_over[0] = True
        cadence.flush()
        await app.producer.flush()
        for deferred in deferred_logs:
            deferred.owned = set()
        saved.clear()
        watch.forget()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode calls it as (app, assigned, signal=...)
    async def take_partitions(app: faust.App, assigned: set, **_: object) -> None:
        owned = {tp.partition for tp in assigned if tp.topic == topics.READINGS.name}
        for deferred in deferred_logs:
            deferred.owned = owned

    @app.timer(interval=15.0)
    async def watch_brokers() -> None:
        KAFKA_BROKERS_EXPECTED.set(settings.brokers)
        KAFKA_BROKERS_UP.set(await asyncio.to_thread(registry.brokers_up))

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
