"""Reference data as every worker sees it: the whole compacted registry and targets topics, followed.

The registry (tens of thousands of enterprises) is needed for every batch of every partition, and
the targets (provinces' totals, enterprises' quotas) for the region-level early warning, so each
worker keeps both in memory, fed by a background consumer that reads the topics from the beginning
and keeps following them.

Ordering guarantee: a registry record that Kafka acknowledged before a batch was produced is
always seen when that batch is processed. A batch from an unknown enterprise makes the worker
wait (bounded) until it has read the registry up to the end offsets of that moment, and only
then is the enterprise declared unregistered.

Every registry record is checked and authenticated first (streams/ecmon_worker/registry_records.py); one that fails
changes nothing and is queued in ``rejected`` for the worker to send as a dead letter (this thread has
no producer). The follower keeps each enterprise's history by ``valid_from`` (RegistryHistory): admission
uses the newest record (``enterprises``, ``meters``), month close and the early warning the records in
force in each month, so a re-registration never rewrites a month already reported. A tombstone removes
the enterprise from its Kafka record time on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ecmon import codec, topics
from ecmon.dead_letter_reasons import Reason
from ecmon.metric_defs import ENTERPRISE_LAST_READING, REGISTRY_ENTERPRISES, TARGETS_KNOWN
from ecmon.principals import REGISTRY_FOLLOWER_GROUPS
from ecmon.regions import province_of
from ecmon.registry_records import read_registry_record
from ecmon_worker.admission import Rejection
from ecmon_worker.registry_records import RegistryHistory, SharedValues

log = logging.getLogger(__name__)

#: Rejected registry records waiting for the worker to send them; the follower waits when it is full.
REJECTED_QUEUE = 10_000


@dataclass(frozen=True)
class RejectedRecord:
    """A registry or targets record the follower refused, with what a dead letter needs."""
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    uscc: str = ""


class RegistryFollower:
    def __init__(self, connection: str | Mapping[str, Any], topic: str = topics.REGISTRY.name,
                 targets_topic: str = topics.TARGETS.name, *, authority_public_key: bytes,
                 horizon_ms: int = 400 * 86_400_000) -> None:
        """``connection``: bootstrap servers, or the worker role's client configuration (with credentials);
        ``authority_public_key``: the registry authority's raw Ed25519 key every record must be signed with."""
        if isinstance(connection, str):
            connection = {"bootstrap.servers": connection}
        follower_group, watermarks_group = REGISTRY_FOLLOWER_GROUPS
        self.topic = topic
        self.targets_topic = targets_topic
        self.authority_public_key = authority_public_key
        self.history = RegistryHistory(horizon_ms=horizon_ms)
        self._shared = SharedValues()
        #: the newest record of every enterprise in the coverage list (admission, signatures)
        self.enterprises: dict[str, dict[str, Any]] = {}
        #: records refused, for the worker to send as dead letters
        self.rejected: queue.Queue[RejectedRecord] = queue.Queue(maxsize=REJECTED_QUEUE)
        #: Target records by their key '<scope>/<entity_code>/<year>/<month>'
        self.targets: dict[str, dict[str, Any]] = {}
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
                try:
                    if msg.topic() == self.targets_topic:
                        problem = self._apply_target(msg.key(), msg.value())
                    else:
                        kind, ts = msg.timestamp()
                        at_ms = ts if kind and ts >= 0 else int(time.time() * 1000)
                        problem = self._apply(msg.key(), msg.value(), at_ms)
                    if problem is not None:
                        self._set_aside(problem, msg)
                except Exception as exc:
                    log.exception("registry record %s[%d]@%d raised", msg.topic(), msg.partition(), msg.offset())
                    self._set_aside(Rejection(Reason.INTERNAL_ERROR, f"the registry follower raised "
                                              f"{type(exc).__name__}: {exc}"[:300]), msg)
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                assert topic is not None and partition is not None and offset is not None  # set on every record
                with self._lock:
                    self._positions[(topic, partition)] = offset + 1

    def _apply_target(self, key: bytes | None, value: bytes | None) -> Rejection | None:
        name = (key or b"").decode(errors="replace")
        if value is None:  # tombstone: the target was withdrawn
            self.targets.pop(name, None)
        else:
            try:
                _, record = codec.decode(value, expected="target")
            except codec.CodecError as exc:
                return Rejection(exc.reason, f"target {name[:100]}: {exc}")
            current = self.targets.get(name)
            if current is None or record["issued_at"] >= current["issued_at"]:  # the newest revision wins
                self.targets[name] = record
        for scope in ("PROVINCE", "ENTERPRISE"):
            TARGETS_KNOWN.labels(scope=scope).set(sum(1 for t in self.targets.values() if t["scope"] == scope))
        return None

    def target(self, scope: str, entity_code: str, year: int, month: int) -> dict[str, Any] | None:
        """The target binding ``entity_code`` for the month (1-12) or the whole year (0)."""
        return self.targets.get(f"{scope}/{entity_code}/{year}/{month}")

    def expected_readings(self, province: str, period: str) -> int:
        """Readings the province's registered meters should deliver in the month ('YYYY-MM', CST), from the
        records in force during the month (RegistryHistory.expected_for)."""
        key = (province, period)
        cached = self._expected_cache.get(key)
        if cached is None:
            cached = self._expected_cache[key] = sum(self.expected_for(r, period, province)
                                                     for r in self.enterprises_in(province, period))
        return cached

    def enterprises_in(self, province: str, period: str | None = None) -> list[dict[str, Any]]:
        """The province's monitoring coverage list: its current records, or with ``period`` ('YYYY-MM') those
        in force during that month (an enterprise removed or moved later is still in its past months)."""
        if period is not None:
            return self.history.in_province(province, period)
        return [r for r in list(self.enterprises.values()) if r["region_code"][:2] == province[:2]]

    def expected_for(self, record: dict[str, Any], period: str, province: str | None = None,
                     until_ms: int | None = None) -> int:
        """Intervals the enterprise of ``record`` should deliver in the month (up to ``until_ms`` in event time,
        when given), from its records in force then."""
        return self.history.expected_for(record["uscc"], period, province, until_ms)

    def provinces_in(self, period: str) -> list[str]:
        """Provinces with an enterprise registered during the month: those expected to report it."""
        return sorted({province_of(r["region_code"]) for r in self.history.in_month(period)})

    def record_at(self, uscc: str, ts_ms: int) -> dict[str, Any] | None:
        """The enterprise's record in force at ``ts_ms`` (None before its registration, after its removal)."""
        return self.history.record_at(uscc, ts_ms)

    def current(self, uscc: str) -> dict[str, Any] | None:
        """The enterprise's newest record; None when it is unknown or was removed."""
        return self.enterprises.get(uscc)

    def _set_aside(self, problem: Rejection, msg: Any) -> None:
        log.warning("registry record %s[%d]@%d refused: %s %s", msg.topic(), msg.partition(), msg.offset(),
                    problem.reason, problem.detail)
        rejected = RejectedRecord(problem.reason, problem.detail, msg.topic(), msg.partition(), msg.offset(),
                                  msg.key() or b"", msg.value() or b"", problem.uscc)
        while not self._stop.is_set():
            try:
                self.rejected.put(rejected, timeout=0.5)
                return
            except queue.Full:
                continue

    def _apply(self, key: bytes | None, value: bytes | None, at_ms: int) -> Rejection | None:
        """Apply one registry record; the reason it was refused, or None."""
        if value is None:  # tombstone: the enterprise leaves the monitoring list from the record's time on
            uscc = (key or b"").decode(errors="replace")
            before = self.history.remove(uscc, at_ms)
            self._expected_cache.clear()
            self.enterprises.pop(uscc, None)
            self.meters.pop(uscc, None)
            REGISTRY_ENTERPRISES.set(len(self.enterprises))
            if before is not None:
                with contextlib.suppress(KeyError):  # no such series
                    ENTERPRISE_LAST_READING.remove(province_of(before["region_code"]), uscc)
            return None
        record = read_registry_record(key, value, self.authority_public_key)
        if isinstance(record, Rejection):
            return record
        stale = self.history.stale_problem(record)
        if stale is not None:
            return Rejection(Reason.STALE_REGISTRY_RECORD, stale, record["uscc"])
        self.history.add(self._shared.record(record), at_ms)
        self._expected_cache.clear()
        uscc = record["uscc"]
        newest = self.history.current(uscc)
        if newest is None:  # removed before this record's time: it never comes into force
            return None
        self.meters[uscc] = self._shared.meters(newest)
        self.enterprises[uscc] = newest
        REGISTRY_ENTERPRISES.set(len(self.enterprises))
        if uscc not in self.reported:
            ENTERPRISE_LAST_READING.labels(province=province_of(newest["region_code"]), uscc=uscc).set(
                newest["valid_from"] / 1000)
        return None

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
        except Exception:
            return 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
        self._watermarks.close()
