"""The enterprise registry as every worker sees it: the whole compacted registry topic, followed.

The registry is small (tens of thousands of records) and needed for every batch of every
partition, so each worker keeps all of it in memory, fed by a background consumer that reads
the topic from the beginning and keeps following it.

Ordering guarantee: a registry record that Kafka acknowledged before a batch was produced is
always seen when that batch is processed. A batch from an unknown enterprise makes the worker
wait (bounded) until it has read the registry up to the end offsets of that moment, and only
then is the enterprise declared unregistered.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ecmon import codec, topics
from ecmon.metric_defs import ENTERPRISE_LAST_READING, REGISTRY_ENTERPRISES
from ecmon.regions import province_of

log = logging.getLogger(__name__)


class RegistryFollower:
    def __init__(self, bootstrap_servers: str, topic: str = topics.REGISTRY.name) -> None:
        self.topic = topic
        self.enterprises: dict[str, dict] = {}
        self.meters: dict[str, dict[str, tuple[str, str]]] = {}
        #: enterprises this worker applied a batch of; until then their last-reading gauge shows the
        #: registration time, so an enterprise that never reports is found silent too
        self.reported: set[str] = set()
        self._positions: dict[int, int] = {}
        self._lock = threading.Lock()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": "ecmon-registry-follower",  # never commits; assign() only
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        # A second client for end offsets: calling it on the consuming client from another thread
        # can block forever while that client sits in consume().
        self._watermarks = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "ecmon-registry-watermarks",
                                     "enable.auto.commit": False, "log_level": 3})
        self._watermarks_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-follower", daemon=True)

    def start(self) -> None:
        meta = self._consumer.list_topics(self.topic, timeout=30)
        partitions = list(meta.topics[self.topic].partitions)
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        self._partitions = partitions
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error():
                    log.warning("registry consumer: %s", msg.error())
                    continue
                self._apply(msg.key(), msg.value())
                with self._lock:
                    self._positions[msg.partition()] = msg.offset() + 1

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        uscc = (key or b"").decode(errors="replace")
        if value is None:  # tombstone: the enterprise left the monitoring list
            self.enterprises.pop(uscc, None)
            self.meters.pop(uscc, None)
            return
        try:
            _, record = codec.decode(value, expected="enterprise_record")
        except codec.CodecError as exc:
            log.error("unreadable registry record for %s: %s", uscc, exc)
            return
        self.meters[record["uscc"]] = {m["meter_id"]: (m["energy_type"], m["unit"]) for m in record["meters"]}
        self.enterprises[record["uscc"]] = record
        REGISTRY_ENTERPRISES.set(len(self.enterprises))
        if record["uscc"] not in self.reported:
            try:
                province = province_of(record["region_code"])
            except Exception:  # noqa: BLE001 - a bad region code must not stop the follower
                province = ""
            ENTERPRISE_LAST_READING.labels(province=province, uscc=record["uscc"]).set(record["valid_from"] / 1000)

    def caught_up(self, timeout: float = 10.0) -> bool:
        """Wait until everything in the registry topic as of now has been read."""
        ends = {}
        with self._watermarks_lock:
            for p in self._partitions:
                low, high = self._watermarks.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5)
                if high > low:
                    ends[p] = high
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self._positions.get(p, 0) >= end for p, end in ends.items()):
                    return True
            time.sleep(0.05)
        return False

    def brokers_up(self) -> int:
        """Brokers in the cluster metadata right now; 0 when the metadata cannot be fetched."""
        try:
            with self._watermarks_lock:
                return len(self._watermarks.list_topics(timeout=5).brokers)
        except Exception:  # noqa: BLE001 - any client error means: no broker answered
            return 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
        self._watermarks.close()
