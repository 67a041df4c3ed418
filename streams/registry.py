"""Reference data as every worker sees it: the whole compacted registry and targets topics, followed.

The registry (tens of thousands of enterprises) is needed for every batch of every partition, and
the targets (provinces' totals, enterprises' quotas) for the region-level early warning, so each
worker keeps both in memory, fed by a background consumer that reads the topics from the beginning
and keeps following them.

Ordering guarantee: a registry record that Kafka acknowledged before a batch was produced is
always seen when that batch is processed. A batch from an unknown enterprise makes the worker
wait (bounded) until it has read the registry up to the end offsets of that moment, and only
then is the enterprise declared unregistered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ecmon import codec, topics
from ecmon.metric_defs import ENTERPRISE_LAST_READING, REGISTRY_ENTERPRISES, TARGETS_KNOWN
from ecmon.principals import REGISTRY_FOLLOWER_GROUPS
from ecmon.months import month_start_ms, next_period
from ecmon.regions import province_of

log = logging.getLogger(__name__)


class RegistryFollower:
    def __init__(self, connection: str | Mapping[str, Any], topic: str = topics.REGISTRY.name,
                 targets_topic: str = topics.TARGETS.name) -> None:
        """``connection``: bootstrap servers, or the worker role's client configuration (with credentials)."""
        if isinstance(connection, str):
            connection = {"bootstrap.servers": connection}
        follower_group, watermarks_group = REGISTRY_FOLLOWER_GROUPS
        self.topic = topic
        self.targets_topic = targets_topic
        self.enterprises: dict[str, dict] = {}
        #: Target records by their key '<scope>/<entity_code>/<year>/<month>'
        self.targets: dict[str, dict] = {}
        self._expected_cache: dict[tuple[str, str], int] = {}
        self.meters: dict[str, dict[str, tuple[str, str]]] = {}
        #: enterprises this worker applied a batch of; until then their last-reading gauge shows the
        #: registration time, so an enterprise that never reports is found silent too
        self.reported: set[str] = set()
        self._positions: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._consumer = Consumer(
            {
                **connection,
                "group.id": follower_group,  # never commits; assign() only
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        # A second client for end offsets: calling it on the consuming client from another thread
        # can block forever while that client sits in consume().
        self._watermarks = Consumer({**connection, "group.id": watermarks_group,
                                     "enable.auto.commit": False, "log_level": 3})
        self._watermarks_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-follower", daemon=True)

    def start(self) -> None:
        meta = self._consumer.list_topics(timeout=30)
        self._partitions = [
            (topic, p) for topic in (self.topic, self.targets_topic) for p in meta.topics[topic].partitions
        ]
        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in self._partitions])
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error():
                    log.warning("registry consumer: %s", msg.error())
                    continue
                if msg.topic() == self.targets_topic:
                    self._apply_target(msg.key(), msg.value())
                else:
                    self._apply(msg.key(), msg.value())
                with self._lock:
                    self._positions[(msg.topic(), msg.partition())] = msg.offset() + 1

    def _apply_target(self, key: bytes | None, value: bytes | None) -> None:
        name = (key or b"").decode(errors="replace")
        if value is None:  # tombstone: the target was withdrawn
            self.targets.pop(name, None)
        else:
            try:
                _, record = codec.decode(value, expected="target")
            except codec.CodecError as exc:
                log.error("unreadable target record %s: %s", name, exc)
                return
            current = self.targets.get(name)
            if current is None or record["issued_at"] >= current["issued_at"]:  # the newest revision wins
                self.targets[name] = record
        for scope in ("PROVINCE", "ENTERPRISE"):
            TARGETS_KNOWN.labels(scope=scope).set(sum(1 for t in self.targets.values() if t["scope"] == scope))

    def target(self, scope: str, entity_code: str, year: int, month: int) -> dict | None:
        """The target binding ``entity_code`` for the month (1-12) or the whole year (0)."""
        return self.targets.get(f"{scope}/{entity_code}/{year}/{month}")

    def expected_readings(self, province: str, period: str) -> int:
        """Readings the province's registered meters should deliver in the month ('YYYY-MM', CST):
        every interval from the month's start (or the enterprise's registration) to its end."""
        key = (province, period)
        cached = self._expected_cache.get(key)
        if cached is None:
            cached = self._expected_cache[key] = sum(self.expected_for(r, period) for r in self.enterprises_in(province))
        return cached

    def enterprises_in(self, province: str) -> list[dict]:
        """The province's monitoring coverage list (registry records)."""
        return [r for r in list(self.enterprises.values()) if r["region_code"][:2] == province[:2]]

    @staticmethod
    def expected_for(record: dict, period: str) -> int:
        """Intervals the enterprise's meters should deliver in the month, from its registration on."""
        start, end = month_start_ms(period), month_start_ms(next_period(period))
        since = max(start, record["valid_from"])
        return sum((end - since) // (m["interval_s"] * 1000) for m in record["meters"]
                   if m["interval_s"] > 0 and end > since)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        self._expected_cache.clear()
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
        """Wait until everything in the registry and targets topics as of now has been read."""
        ends = {}
        with self._watermarks_lock:
            for topic, p in self._partitions:
                low, high = self._watermarks.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                if high > low:
                    ends[(topic, p)] = high
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
