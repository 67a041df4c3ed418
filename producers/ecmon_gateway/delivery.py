"""Delivery of encoded batches to Kafka: idempotent producer, acks=all, keyed by USCC."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Producer

from ecmon.metric_defs import (
    GATEWAY_BACKPRESSURE_SECONDS,
    GATEWAY_BATCHES_RESENT,
    GATEWAY_SEND_ERRORS,
    GATEWAY_SEND_LATENCY,
    GATEWAY_SPOOL_FULL,
)
from ecmon_gateway.spool import SourcePosition, Spool, SpooledBatch

log = logging.getLogger(__name__)


class DeliveryFailed(RuntimeError):
    pass


class BatchProducer:
    """Sends batches and calls ``on_delivered`` once Kafka has acknowledged each one."""

    def __init__(self, connection: str | Mapping[str, Any], client_id: str = "ecmon-gateway",
                 delivery_timeout_ms: int = 600_000) -> None:
        """``connection``: bootstrap servers, or a whole client configuration of a role with its
        credentials (``ecmon.kafka_clients.client_config``)."""
        if isinstance(connection, str):
            connection = {"bootstrap.servers": connection}
        self._producer = Producer(
            {
                **connection,
                "client.id": client_id,
                "enable.idempotence": True,  # implies acks=all and ordered, de-duplicated retries
                "acks": "all",
                "linger.ms": 20,
                "compression.type": "lz4",
                # ride out a broker outage of minutes, then report; 0 = retry for ever (the spooled
                # gateway: its disk spool, not a timeout, bounds what waits)
                "delivery.timeout.ms": delivery_timeout_ms,
                "queue.buffering.max.kbytes": 262_144,
                "log_level": 3,
            }
        )
        self.failures: list[str] = []

    def send(self, topic: str, key: bytes, value: bytes, on_delivered: Callable[[], None] | None = None,
             on_failed: Callable[[str], None] | None = None) -> None:
        started = time.monotonic()

        def report(err: KafkaError | None, _msg) -> None:
            if err is not None:
                GATEWAY_SEND_ERRORS.labels(reason=err.name()).inc()
                self.failures.append(f"{key!r}: {err}")
                if on_failed:
                    on_failed(str(err))
                return
            GATEWAY_SEND_LATENCY.observe(time.monotonic() - started)
            if on_delivered:
                on_delivered()

        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:  # local queue full: let deliveries drain, never drop
                self._producer.poll(0.1)
        self._producer.poll(0)

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def in_flight(self) -> int:
        return len(self._producer)

    def flush(self, timeout: float = 120.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryFailed(
                f"{remaining} batches not acknowledged by Kafka after {timeout:.0f}s; "
                "is the stack up? (ecmon stack status)"
            )
        if self.failures:
            raise DeliveryFailed(f"{len(self.failures)} batches failed: {self.failures[:3]}")


class SpooledSender:
    """Spool first, then send; delete from the spool when Kafka acknowledges.

    The producer retries for ever (no delivery timeout), so a broker outage only makes the spool
    grow; the spool's size limit then holds the source back (back-pressure). A batch is never
    dropped: a permanent error (e.g. a message larger than the broker accepts) stops the gateway
    with the batch still in the spool.
    """

    def __init__(self, producer: BatchProducer, spool: Spool,
                 on_acked: Callable[[SpooledBatch], None] | None = None, ack_commit_s: float = 0.25,
                 before_commit: Callable[[], None] | None = None) -> None:
        self.producer = producer
        self.spool = spool
        self.on_acked = on_acked
        #: runs before acknowledged batches leave the spool: whatever records them (the ledger) must be on
        #: disk first, or a crash in between would forget batches Kafka has
        self.before_commit = before_commit
        self.ack_commit_s = ack_commit_s
        self._last_commit = time.monotonic()
        self.errors: list[str] = []

    def _produce(self, batch: SpooledBatch) -> None:
        def acked(batch=batch) -> None:
            self.spool.ack(batch.gateway_id, batch.sequence, len(batch.value))
            if self.on_acked:
                self.on_acked(batch)

        self.producer.send(batch.topic, batch.key, batch.value, acked, self.errors.append)

    def resume(self) -> int:
        """Resend what a previous run left unacknowledged, oldest first, byte for byte."""
        count = 0
        for batch in self.spool.unacknowledged():
            self._produce(batch)
            count += 1
            if count % 500 == 0:
                self.poll()
        if count:
            GATEWAY_BATCHES_RESENT.inc(count)
            log.info("resending %d unacknowledged batch(es) from the spool %s", count, self.spool.path)
        return count

    def submit(self, batches: list[SpooledBatch], positions: dict[str, SourcePosition] | None = None,
               spooled: Callable[[], None] | None = None) -> None:
        """Spool the batches durably (waiting while the spool is full), call ``spooled``, then hand them to
        Kafka. ``spooled`` is where a gateway records the sequences it handed out (``SequenceCounter``): after
        the spool, so a kill in between leaves the numbers in the spool, not used and unsent."""
        self.wait_for_room(sum(len(b.value) for b in batches))
        self.spool.put(batches, positions)
        if spooled is not None:
            spooled()
        for batch in batches:
            self._produce(batch)
        self.poll()

    def wait_for_room(self, incoming_bytes: int) -> None:
        if self.spool.has_room(incoming_bytes):
            return
        log.warning(
            "gateway spool %s is full (%d batches, %.1f MiB of %.1f MiB): Kafka is not acknowledging; "
            "holding the source back until it does (nothing is dropped)",
            self.spool.path, self.spool.depth, self.spool.size_bytes / 2**20, self.spool.limit_bytes / 2**20,
        )
        GATEWAY_SPOOL_FULL.set(1)
        started = time.monotonic()
        try:
            while not self.spool.has_room(incoming_bytes):
                self.poll(0.2)
        finally:
            GATEWAY_SPOOL_FULL.set(0)
            GATEWAY_BACKPRESSURE_SECONDS.inc(time.monotonic() - started)
            log.warning("gateway spool has room again after %.1f s", time.monotonic() - started)

    def poll(self, timeout: float = 0.0) -> None:
        self.producer.poll(timeout)
        if self.errors:
            raise DeliveryFailed(
                f"Kafka refused {len(self.errors)} batch(es) permanently: {self.errors[:3]}; they stay in the "
                f"spool {self.spool.path} and are resent when the gateway restarts"
            )
        now = time.monotonic()
        if now - self._last_commit >= self.ack_commit_s:
            self._commit_acks()
            self._last_commit = now

    def _commit_acks(self) -> None:
        if self.before_commit and self.spool.pending_acks:
            self.before_commit()
        self.spool.commit_acks()

    def drain(self, timeout: float | None = None) -> None:
        """Wait until Kafka acknowledged everything in the spool (for ever when timeout is None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.producer.in_flight() or self.spool.depth:
            if deadline is not None and time.monotonic() > deadline:
                raise DeliveryFailed(f"{self.spool.depth} batch(es) still unacknowledged after {timeout:.0f}s; "
                                     f"they stay in the spool {self.spool.path}")
            self.poll(0.1)
        self._commit_acks()
