"""Delivery of encoded batches to Kafka: idempotent producer, acks=all, keyed by USCC."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Producer

from ecmon.metric_defs import GATEWAY_SEND_ERRORS, GATEWAY_SEND_LATENCY


class DeliveryFailed(RuntimeError):
    pass


class BatchProducer:
    """Sends batches and calls ``on_delivered`` once Kafka has acknowledged each one."""

    def __init__(self, bootstrap_servers: str, client_id: str = "ecmon-gateway") -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "enable.idempotence": True,  # implies acks=all and ordered, de-duplicated retries
                "acks": "all",
                "linger.ms": 20,
                "compression.type": "lz4",
                "delivery.timeout.ms": 600_000,  # ride out a broker outage of minutes, then report
                "queue.buffering.max.kbytes": 262_144,
                "log_level": 3,
            }
        )
        self.failures: list[str] = []

    def send(self, topic: str, key: bytes, value: bytes, on_delivered: Callable[[], None] | None = None) -> None:
        started = time.monotonic()

        def report(err: KafkaError | None, _msg) -> None:
            if err is not None:
                GATEWAY_SEND_ERRORS.labels(reason=err.name()).inc()
                self.failures.append(f"{key!r}: {err}")
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

    def flush(self, timeout: float = 120.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryFailed(
                f"{remaining} batches not acknowledged by Kafka after {timeout:.0f}s; "
                "is the stack up? (ecmon stack status)"
            )
        if self.failures:
            raise DeliveryFailed(f"{len(self.failures)} batches failed: {self.failures[:3]}")
