"""What the benchmark asks Kafka: end offsets, a consumer group's commits, and plain reads of a topic."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

Connection = Mapping[str, Any]
"""A client configuration with credentials: ``ecmon.kafka_clients.client_config(settings, "admin")``."""


def _consumer(connection: Connection, group: str) -> Consumer:
    return Consumer({**connection, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "log_level": 3})


class OffsetProbe:
    """Reads end offsets and a group's committed offsets without joining the group."""

    def __init__(self, connection: Connection, group: str) -> None:
        self._consumer = _consumer(connection, group)

    def partitions(self, topic: str) -> list[int]:
        return sorted(self._consumer.list_topics(topic, timeout=10).topics[topic].partitions)

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {p: self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in self.partitions(topic)}

    def committed(self, topic: str) -> dict[int, int]:
        """Committed offset per partition (0 where the group has committed nothing yet)."""
        tps = self._consumer.committed([TopicPartition(topic, p) for p in self.partitions(topic)], timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in tps}

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class TopicRead:
    messages: int
    seconds: float


def read_topic(connection: Connection, topic: str, on_message: Callable[[bytes | None, bytes | None], None],
               group: str = "ecmon-bench-reader", timeout: float = 600.0) -> TopicRead:
    """Read ``topic`` from the start to the end offsets it had when called, calling ``on_message(key, value)``.

    A plain confluent-kafka consumer with assigned partitions (no group join, nothing committed).
    The clock starts at the first message, so connecting and the first fetch are not counted.
    """
    consumer = _consumer(connection, group)
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions}
        open_parts = {p for p, end in ends.items() if end > 0}
        messages = 0
        started = 0.0
        consumer.assign([TopicPartition(topic, p, 0) for p in open_parts])
        deadline = time.monotonic() + timeout
        while open_parts:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {sorted(open_parts)} not read to the end "
                                   f"in {timeout:.0f}s")
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error():
                    continue
                p, offset = msg.partition(), msg.offset()
                assert p is not None and offset is not None  # set on every record without error
                if p not in open_parts or offset >= ends[p]:
                    continue
                if not messages:
                    started = time.perf_counter()
                on_message(msg.key(), msg.value())
                messages += 1
                if offset + 1 >= ends[p]:
                    open_parts.discard(p)
        return TopicRead(messages, time.perf_counter() - started if messages else 0.0)
    finally:
        consumer.close()


def topic_disk_bytes(state_dir: Path, topic: str) -> int:
    """Bytes of the topic's log segments on the local brokers' disks (all replicas, before compaction)."""
    return sum(f.stat().st_size for f in state_dir.glob(f"kafka-*/data/{topic}-*/*.log"))
