"""The agents' shells: take events, admit them, call a step, send what it returns.

Everything Kafka-specific of processing lives here and nowhere else: record times, partitions, the sends
(messages, then dead letters, then the table values a step hands back), holding back a micro-batch's rest
while partitions are handed over, and one message's unexpected error becoming its dead letter instead of
stopping the agent. The steps (reading_batches.py, production_steps.py, rollup_steps.py) decide; the topics
and tables are declared in streams/ecmon_worker/topology.py, which passes them in, so the wiring is
unit-tested with fake topics and tables (tests/unit/ecmon_worker/test_agents.py).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from confluent_kafka import KafkaException
from faust.exceptions import ProducerSendError

from ecmon.metric_defs import DEAD_LETTERS, WORKER_BATCH_SECONDS, WORKER_BATCHES
from ecmon.rejection import Rejection
from ecmon_worker import admission, anomaly_events, emission, rollup_steps
from ecmon_worker.dead_letters import dead_letter, dead_letter_key
from ecmon_worker.outputs import Outputs
from ecmon_worker.production_intake import check_figures
from ecmon_worker.production_steps import ProductionSteps
from ecmon_worker.reading_batches import ReadingBatches

log = logging.getLogger(__name__)

#: Errors of Kafka itself, not of the message being processed: they propagate (Faust restarts the agent),
#: where any other error of one message becomes that message's dead letter.
KAFKA_ERRORS = (KafkaError, KafkaException, ProducerSendError)


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


def _record_ms(event: Any) -> int | None:
    """The Kafka record time in ms: the same on every replay, so keys and months count by it."""
    timestamp = event.message.timestamp
    return int(timestamp * 1000) if timestamp else None


class Agents:
    """``topics``: the output topics by channel (streams/ecmon_worker/outputs.py ``Channel``) and
    ``"dead_letters"``, each with Faust's ``send`` and ``send_soon``. ``tables``: the Faust tables the
    rollup steps' values are stored in, ``"province"``, ``"nation"`` and ``"production"``."""

    def __init__(self, topics: Mapping[str, Any], tables: Mapping[str, Any], registry: Any,
                 readings: ReadingBatches, production: ProductionSteps, *, grace_ms: int, revision_window_ms: int,
                 deadline_ms: int, emit_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.topics, self.tables, self.registry = topics, tables, registry
        #: the rollups' tables, written with the partition of the events that changed them (in a micro-batch
        #: Faust's ``table[key] = value`` would take the partition of whichever event it thinks is current)
        self.province = emission.DeferredChangelog(tables["province"])
        self.nation = emission.DeferredChangelog(tables["nation"])
        self.readings, self.production = readings, production
        self.grace_ms, self.revision_window_ms, self.deadline_ms = grace_ms, revision_window_ms, deadline_ms
        self.cadence = emission.Cadence(self.flush, emit_interval_s, clock)
        #: from revocation to the end of table recovery no reading batch is applied: recovery re-reads the
        #: changelog over the tables in memory, so a batch applied in between (and not yet written) would be
        #: half undone; it is processed after the seek to the committed offsets instead
        self.handing_over = False

    # -- the agents ------------------------------------------------------------------------------------

    async def reading_batches(self, events: list[Any]) -> None:
        """One micro-batch of ``ecmon.readings.v1``."""
        for i, event in enumerate(events):
            if self.handing_over:
                self.hold_back(events[i:])
                break
            owned = self.readings.enterprises.owned  # read again after every await: a rebalance may change it
            if owned is not None and event.message.partition not in owned:
                self.hold_back([event])
                continue
            started = time.perf_counter()
            try:
                if not await self.survive(event, self._reading_batch, "the reading batch"):
                    WORKER_BATCHES.labels(outcome="failed").inc()
            except HandingOver:
                self.hold_back(events[i:])
                break
            except KAFKA_ERRORS:
                self.hold_back(events[i:])
                raise
            WORKER_BATCH_SECONDS.observe(time.perf_counter() - started)
            # Checked per event, not per micro-batch: a micro-batch taken from a backlog holds up to 500 batches,
            # about a second of work, and no timer runs until it is done.
            self.cadence.flush_if_due()
        self.cadence.flush_if_due()

    async def _reading_batch(self, event: Any) -> None:
        admitted = await self.admit("reading_batch", event)
        if isinstance(admitted, Rejection):
            WORKER_BATCHES.labels(outcome="rejected").inc()
            await self.send(event, Outputs.refusing(admitted))
            return
        if self.handing_over:  # checked with no await before the step changes state: see handing_over
            raise HandingOver
        await self.send(event, self.readings.take(admitted, event.key, event.message.partition, _record_ms(event)))

    async def enterprise_totals(self, event: Any) -> None:
        """One message of ``ecmon.enterprise-totals.v1``: the province's rollup (the step works on copies)."""
        read = admission.read_enterprise_totals(event.key, event.value)
        if isinstance(read, Rejection):
            await self.send(event, Outputs.refusing(read))
            return
        province, message = read
        await self.take_step(event, self._region_step(province, [message], event.key), self.province)

    async def enterprise_totals_batch(self, events: list[Any]) -> None:
        """A micro-batch of ``ecmon.enterprise-totals.v1``: one step per province over all its messages, so each
        province month is copied, stored and emitted once per micro-batch, not once per enterprise (the topic
        is keyed by province: a province's messages share one partition, in order)."""
        await self._in_groups(events, admission.read_enterprise_totals, self._region_step, self.province,
                              self.enterprise_totals, "the enterprise totals")

    def _region_step(self, province: str, messages: list[dict[str, Any]], key: bytes) -> rollup_steps.Step | Rejection:
        return rollup_steps.region_steps(self.province.get, province, messages, self.registry,
                                         grace_ms=self.grace_ms, revision_window_ms=self.revision_window_ms,
                                         deadline_ms=self.deadline_ms, event_key=key)

    async def province_totals(self, event: Any) -> None:
        """One message of ``ecmon.province-totals.v1``: the national rollup and feedback."""
        read = admission.read_province_totals(event.key, event.value)
        if isinstance(read, Rejection):
            await self.send(event, Outputs.refusing(read))
            return
        key, kind, message = read
        await self.take_step(event, self._nation_step(key, [(kind, message)], event.key), self.nation)

    async def province_totals_batch(self, events: list[Any]) -> None:
        """A micro-batch of ``ecmon.province-totals.v1``: one step per national key over all its messages."""
        def read(key: bytes | None, value: bytes | None) -> tuple[str, tuple[str, dict[str, Any]]] | Rejection:
            found = admission.read_province_totals(key, value)
            return found if isinstance(found, Rejection) else (found[0], (found[1], found[2]))
        await self._in_groups(events, read, self._nation_step, self.nation, self.province_totals,
                              "the province totals")

    def _nation_step(self, key: str, messages: list[tuple[str, dict[str, Any]]],
                     event_key: bytes) -> rollup_steps.Step | Rejection:
        return rollup_steps.nation_steps(self.nation.get, key, messages, event_key, self.registry.provinces_in)

    async def _in_groups(self, events: list[Any], read: Callable[[bytes | None, bytes | None], Any],
                         step: Callable[[str, list[Any], bytes], rollup_steps.Step | Rejection],
                         table: emission.DeferredChangelog, one: Callable[[Any], Awaitable[None]], what: str) -> None:
        """Events read, grouped by the state key they address, each group one step. A group whose step is refused
        or raises is taken again one message at a time (``one``), so only the message at fault is set aside."""
        groups: dict[str, list[tuple[Any, Any]]] = {}
        for event in events:
            found = read(event.key, event.value)
            if isinstance(found, Rejection):
                await self.send(event, Outputs.refusing(found))
            else:
                groups.setdefault(found[0], []).append((event, found[1]))
        pending = [event for items in groups.values() for event, _ in items]
        try:
            for key, items in groups.items():
                batch_events = [event for event, _ in items]
                try:
                    result: rollup_steps.Step | Rejection | None = step(key, [m for _, m in items],
                                                                       batch_events[0].key or b"")
                except Exception:  # a defect one message triggers: found again one by one
                    result = None
                if isinstance(result, rollup_steps.Step):
                    await self.take_step(batch_events[-1], result, table)
                else:
                    for event in batch_events:
                        await self.survive(event, one, what)
                pending = pending[len(batch_events):]
        except KAFKA_ERRORS:
            self.hold_back(pending)
            raise

    async def production_output(self, event: Any) -> None:
        """One message of ``ecmon.production.v1`` (co-partitioned with the readings: enterprise-state is local)."""
        admitted = await self.admit("production_output", event)
        accepted = admitted if isinstance(admitted, Rejection) else check_figures(admitted)
        if isinstance(accepted, Rejection):
            await self.send(event, Outputs.refusing(accepted))
            return
        await self.take_step(event, self.production.take(accepted), self.tables["production"])

    async def registry_dead_letters(self) -> None:
        """The registry follower's thread has no producer: it queues the records it refused and this sends them.
        Every worker follows the whole registry, so each sends them (the dead-letter table keeps one row per
        source offset and reason)."""
        for _ in range(1000):
            try:
                r = self.registry.rejected.get_nowait()
            except queue.Empty:
                return
            DEAD_LETTERS.labels(reason=r.reason).inc()
            await self.send_dead_letter(Rejection(r.reason, r.detail, r.uscc), topic=r.topic, partition=r.partition,
                                        offset=r.offset, key=r.key, payload=r.value)

    async def silent_enterprises(self) -> None:
        for silence in self.readings.watch.silent_enterprises():
            await self.topics["anomalies"].send(key=silence["entity_code"].encode(),
                                                value=anomaly_events.encode(silence))

    # -- admission, sends ------------------------------------------------------------------------------

    async def admit(self, kind: admission.EnterpriseMessage, event: Any) -> admission.Admitted | Rejection:
        admitted = admission.admit(kind, event.key, event.value, self.registry.enterprises.get, _record_ms(event))
        if isinstance(admitted, Rejection) and admitted.registry_may_lag:
            # A new enterprise's or a rotation's record is on the broker before its first message; read the
            # registry that far before calling the enterprise or key unknown.
            await asyncio.to_thread(self.registry.caught_up, 10.0)
            admitted = admission.admit(kind, event.key, event.value, self.registry.enterprises.get, _record_ms(event))
        return admitted

    async def send(self, event: Any, outputs: Outputs) -> None:
        """What a step returned for ``event``: its messages, dead letters and metric changes."""
        for channel, key, value in outputs.out:
            await self.topics[channel].send(key=key, value=value)
        msg = event.message
        for dead in outputs.dead_letters:
            DEAD_LETTERS.labels(reason=dead.rejection.reason).inc(dead.count)
            await self.send_dead_letter(dead.rejection, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                                        key=msg.key or b"", payload=msg.value or b"")
        for change in outputs.metrics:
            change.apply()

    async def take_step(self, event: Any, step: rollup_steps.Step | Rejection, table: Any) -> None:
        """Send what the step encoded, then store its table values (with ``event``'s partition, in a
        DeferredChangelog handed to the producer at once): a refused step changes nothing."""
        if isinstance(step, Rejection):
            await self.send(event, Outputs.refusing(step))
            return
        await self.send(event, step)
        if isinstance(table, emission.DeferredChangelog):
            for state_key, state in step.store.items():
                table.put(state_key, event.message.partition, state)
            table.flush()
        else:
            for state_key, state in step.store.items():
                table[state_key] = state

    async def send_dead_letter(self, rejection: Rejection, *, topic: str, partition: int, offset: int, key: bytes,
                               payload: bytes) -> None:
        where: dict[str, Any] = dict(topic=topic, partition=partition, offset=offset, uscc=rejection.uscc)
        dead_letters = self.topics["dead_letters"]
        try:
            await dead_letters.send(key=dead_letter_key(key), value=dead_letter(
                rejection.reason, rejection.detail, key=key, payload=payload, **where))
        except KAFKA_ERRORS as exc:
            # A dead letter too large to send is the fault of the message it carries, not of Kafka: re-raising
            # would leave the event unacknowledged and stop the agent on it (dead_letter() keeps every dead
            # letter below the limit; this is the guard should that ever fail). Sent again without the bytes.
            if not too_large(exc):
                raise
            log.error("dead letter %s for %s[%d]@%d too large to send (%s); sent without key and payload",
                      rejection.reason, topic, partition, offset, exc)
            await dead_letters.send(key=dead_letter_key(key), value=dead_letter(
                rejection.reason, f"{rejection.detail} [key and payload dropped: the dead letter was too large to "
                "send]", key=b"", payload=b"", **where))

    async def survive(self, event: Any, handle: Callable[[Any], Awaitable[None]], what: str) -> bool:
        """``handle(event)``, except that an unexpected error of one message becomes its dead letter
        ``internal_error`` (the traceback goes to the log) and the agent goes on with the next event (False)."""
        try:
            await handle(event)
            return True
        except (*KAFKA_ERRORS, HandingOver):
            raise
        except Exception as exc:
            msg = event.message
            log.exception("%s at %s[%d]@%d raised; set aside as dead letter internal_error", what, msg.topic,
                          msg.partition, msg.offset)
            await self.send(event, Outputs.refusing(admission.internal_error(exc, what)))
            return False

    @staticmethod
    def hold_back(events: list[Any]) -> None:
        # take_events acknowledges the whole micro-batch on the way out: an event not processed keeps a
        # reference, so its offset is never committed; it is delivered again after the seek to the
        # committed offsets that ends every rebalance, or processed by the partition's new owner.
        for event in events:
            event.message.incref()

    # -- the cadence and rebalances --------------------------------------------------------------------

    def flush(self) -> None:
        """Everything deferred to the producer: totals, then each table's records (owners last). Synchronous,
        so no event is applied half-way through; called by the cadence, before every commit and on revoke."""
        totals = self.readings.pending_totals()
        for channel, key, value in totals.out:
            self.topics[channel].send_soon(key=key, value=value)
        for change in totals.metrics:
            change.apply()
        self.readings.flush_changelogs()

    async def revoked(self, producer_flush: Callable[[], Awaitable[Any]]) -> None:
        # What this worker deferred belongs on the changelog before a new owner recovers from it; then it
        # applies nothing until recovery is complete and writes nothing for a partition it does not own.
        self.handing_over = True
        self.cadence.flush()
        await producer_flush()
        self.readings.forget()

    def assigned(self, partitions: set[int]) -> None:
        self.readings.owned(partitions)

    def recovered(self) -> None:
        # Recovered: totals sent by a worker that crashed may not have reached the broker; send them all again.
        log.info("recovered: the totals of %d enterprises will be sent again", self.readings.reemit_all())

    def tables_read(self) -> None:
        # Before the seek and the flow: an event held back while handing over is delivered again by the seek;
        # one held back after it would never be (its offset could then never be committed).
        self.handing_over = False
