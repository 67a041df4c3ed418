"""The agents' wiring without a broker: events in, sends out, through the real steps and tables in memory.

streams/ecmon_worker/agents.py is called as the Faust agents of streams/ecmon_worker/topology.py call it, with
topics and tables that record what they are given; the registry is a plain object with the follower's fields.
"""

from __future__ import annotations

import asyncio
import queue
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from ecmon import codec, signing
from ecmon.months import month_start_ms
from ecmon.uscc import make_uscc
from ecmon_worker import emission, enterprise_rollup, meter_record, reading_identity
from ecmon_worker.agents import Agents
from ecmon_worker.meter_watch import MeterWatch
from ecmon_worker.production_steps import ProductionSteps
from ecmon_worker.reading_batches import ReadingBatches
from ecmon_worker.topology import OUTPUTS

USCC, REGION = "91350100M000100Y43", "350102"
KEY_ID = "key-1"
PRIVATE = signing.generate_private_key()
T0 = month_start_ms("2026-10")
MIN15 = 900_000


@dataclass
class Topic:
    sent: list[tuple[bytes, bytes]] = field(default_factory=list)
    soon: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))

    def send_soon(self, key: bytes, value: bytes) -> None:
        self.soon.append((key, value))


class Table(dict):
    """A Faust table as the agents use it: ``data``, ``get``, item assignment, ``send_changelog``."""

    def __init__(self) -> None:
        super().__init__()
        self.changelog: list[tuple[int, str, Any]] = []

    @property
    def data(self) -> Table:
        return self

    def send_changelog(self, partition: int, key: str, value: Any, value_serializer: str | None = None) -> None:
        self.changelog.append((partition, key, value))


@dataclass
class Registry:
    enterprises: dict[str, dict] = field(default_factory=dict)
    meters: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    rejected: queue.Queue = field(default_factory=queue.Queue)
    #: records that only a read further along the registry finds
    behind: dict[str, dict] = field(default_factory=dict)
    reads: int = 0

    def add(self, record: dict) -> None:
        self.enterprises[record["uscc"]] = record
        self.meters[record["uscc"]] = {m["meter_id"]: (m["energy_type"], m["unit"]) for m in record["meters"]}

    def caught_up(self, timeout: float) -> bool:
        self.reads += 1
        for record in self.behind.values():
            self.add(record)
        self.behind.clear()
        return True

    def provinces_in(self, period: str) -> list[str]:
        return ["350000"]

    def enterprises_in(self, province: str, period: str | None = None) -> list[dict]:
        return list(self.enterprises.values())

    def expected_for(self, record: dict, period: str, province: str | None = None, **_: Any) -> int:
        return 0

    def target(self, *_: Any) -> None:
        return None


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = (T0 + 2 * 86_400_000) / 1000
    refs: int = 0

    def incref(self) -> None:
        self.refs += 1


@dataclass
class Event:
    message: Message

    @property
    def key(self) -> bytes | None:
        return self.message.key

    @property
    def value(self) -> bytes | None:
        return self.message.value


def record() -> dict:
    return {"uscc": USCC, "name": "Fuzhou Test Works", "region_code": REGION, "industry_code": "3110",
            "key_id": KEY_ID, "meters": [{"meter_id": "E-01", "energy_type": "electricity", "unit": "kWh",
                                          "interval_s": 900}],
            "public_keys": [{"key_id": KEY_ID, "algorithm": "ed25519", "public_key": signing.public_key_raw(PRIVATE),
                             "valid_from": 0, "valid_until": None, "revoked_at": None}]}


def batch(sequence: int, values: list[int], start: int = T0) -> bytes:
    message = {"uscc": USCC, "gateway_id": "gw-1", "batch_id": f"5f0c8a2e-7d41-4b9e-a3c6-{sequence:012d}",
               "sequence": sequence, "sent_at": T0 + 2 * 86_400_000, "key_id": KEY_ID, "signature": b"",
               "readings": [{"meter_id": "E-01", "energy_type": "electricity", "ts": start + (i + 1) * MIN15,
                             "value_milli": v, "kind": "INTERVAL", "unit": "kWh", "quality": "GOOD"}
                            for i, v in enumerate(values)]}
    signature = signing.sign(codec.encode("reading_batch", message), PRIVATE)
    return codec.encode("reading_batch", {**message, "signature": signature})


def event(value: bytes | None, offset: int, key: bytes = USCC.encode(), partition: int = 1,
          topic: str = "ecmon.readings.v1") -> Event:
    return Event(Message(topic, partition, offset, key, value))


@dataclass
class Worker:
    agents: Agents
    topics: dict[str, Topic]
    tables: dict[str, Table]
    registry: Registry
    clock: list[float]

    def sent(self, channel: str) -> list[tuple[str, dict]]:
        topic = self.topics[channel]
        return [codec.decode(v) for _, v in topic.sent + topic.soon]

    def dead_letters(self) -> list[str]:
        return [m["reason"] for _, m in self.sent("dead_letters")]


def make_worker(records: list[dict], real_clock: bool = False) -> Worker:
    """The agents wired as streams/ecmon_worker/topology.py wires them, with recording topics and tables; the
    cadence runs on ``Worker.clock`` (set by the test) unless ``real_clock`` (tests/bench/bench_readings_agent.py)."""
    topics = {channel: Topic() for channel in OUTPUTS}
    tables = {name: Table() for name in ("enterprise", "detectors", "production", "province", "nation")}
    registry = Registry()
    for r in records:
        registry.add(r)
    enterprises = emission.DeferredChangelog(tables["enterprise"], encode=reading_identity.encoded,
                                             hold=reading_identity.held)
    production = ProductionSteps(emission.DeferredChangelog(tables["production"]), tables["enterprise"].get)
    readings = ReadingBatches(registry, enterprises,
                              emission.DeferredChangelog(tables["detectors"], encode=meter_record.stored), production,
                              MeterWatch(), limits=enterprise_rollup.DEFAULT_LIMITS, electricity_method="equivalent")
    clock = [0.0]
    agents = Agents(topics, {"province": tables["province"], "nation": tables["nation"],
                             "production": tables["production"]}, registry, readings, production,
                    grace_ms=0, revision_window_ms=0, deadline_ms=0, emit_interval_s=1.0,
                    clock=time.monotonic if real_clock else lambda: clock[0])
    agents.assigned({0, 1, 2, 3})
    return Worker(agents, topics, tables, registry, clock)


@pytest.fixture
def worker() -> Worker:
    return make_worker([record()])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_batch_is_normalised_at_once_and_its_totals_go_out_on_the_cadence(worker):
    run(worker.agents.reading_batches([event(batch(1, [1000, 2000]), 0)]))
    (kind, normalised), = worker.sent("normalised")
    assert kind == "normalised_reading_batch" and [r["physical_milli"] for r in normalised["readings"]] == [1000, 2000]
    assert worker.sent("aggregates") == [] and worker.tables["enterprise"].changelog == []  # not before the cadence

    worker.clock[0] = 1.0  # the next micro-batch finds the cadence due
    run(worker.agents.reading_batches([]))
    (_, totals), = worker.sent("enterprise_totals")
    assert totals["uscc"] == USCC and [t["physical_milli"] for t in totals["totals"]] == [3000]
    (_, aggregates), = worker.sent("aggregates")
    assert aggregates["aggregates"][0]["level"] == "ENTERPRISE"
    keys = [k for _, k, _ in worker.tables["enterprise"].changelog]
    assert keys[-1] == USCC and all(k.startswith(USCC + "|") for k in keys[:-1])  # the owner's value last
    assert worker.topics["enterprise_totals"].soon and not worker.topics["enterprise_totals"].sent  # no await in flush


def test_the_cadence_is_kept_inside_a_long_micro_batch(worker):
    """A micro-batch from a backlog can take a second of work: the totals go out once the interval has passed,
    with what the batches processed so far counted, not only when the whole micro-batch is done."""
    take = worker.agents.readings.take

    def slow_take(*args: Any) -> Any:
        worker.clock[0] += 0.6
        return take(*args)

    worker.agents.readings.take = slow_take  # type: ignore[method-assign]
    run(worker.agents.reading_batches([event(batch(1, [1000]), 0), event(batch(2, [500], start=T0 + MIN15), 1),
                                       event(batch(3, [200], start=T0 + 2 * MIN15), 2)]))
    assert [[t["physical_milli"] for t in m["totals"]] for _, m in worker.sent("enterprise_totals")] == [[1500]]


def test_a_resend_is_a_dead_letter_and_the_rest_of_the_micro_batch_goes_on(worker):
    events = [event(batch(1, [1000]), 0), event(b"\x00garbage", 1), event(batch(1, [1000]), 2),
              event(batch(2, [500], start=T0 + MIN15), 3)]
    run(worker.agents.reading_batches(events))
    assert worker.dead_letters() == ["undecodable", "duplicate_batch"]
    worker.agents.flush()
    (_, totals), = worker.sent("enterprise_totals")
    assert [t["physical_milli"] for t in totals["totals"]] == [1500]
    assert all(e.message.refs == 0 for e in events)  # every event processed: none held back


def test_an_enterprise_registered_after_the_worker_last_read_the_registry_is_admitted(worker):
    worker.registry.enterprises.clear()
    worker.registry.behind[USCC] = record()
    run(worker.agents.reading_batches([event(batch(1, [1000]), 0)]))
    assert worker.registry.reads == 1 and worker.dead_letters() == [] and len(worker.sent("normalised")) == 1


def test_an_unknown_enterprise_is_refused_after_one_registry_read(worker):
    worker.registry.enterprises.clear()
    run(worker.agents.reading_batches([event(batch(1, [1000]), 0)]))
    assert worker.registry.reads == 1 and worker.dead_letters() == ["unregistered_enterprise"]


def test_while_partitions_are_handed_over_nothing_is_applied_and_the_events_are_held_back(worker):
    async def revoke() -> None:
        async def flushed() -> None:
            return None
        await worker.agents.revoked(flushed)
    run(revoke())
    events = [event(batch(1, [1000]), 0), event(batch(2, [1000], start=T0 + MIN15), 1)]
    run(worker.agents.reading_batches(events))
    assert [e.message.refs for e in events] == [1, 1] and worker.sent("normalised") == []
    worker.agents.tables_read()
    worker.agents.assigned({1})
    run(worker.agents.reading_batches(events))  # delivered again after the seek
    assert len(worker.sent("normalised")) == 2


def test_an_unexpected_error_of_one_message_is_its_dead_letter_and_the_agent_goes_on(worker, monkeypatch):
    take = worker.agents.readings.take
    calls = []

    def fails_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("a defect")
        return take(*args)
    monkeypatch.setattr(worker.agents.readings, "take", fails_once)
    run(worker.agents.reading_batches([event(batch(1, [1000]), 0), event(batch(2, [7], start=T0 + MIN15), 1)]))
    ((_, dead),) = worker.sent("dead_letters")
    assert dead["reason"] == "internal_error" and "ZeroDivisionError" in dead["detail"] and dead["source_offset"] == 0
    assert len(worker.sent("normalised")) == 1


def test_enterprise_totals_roll_up_to_the_province_and_are_stored_after_the_sends(worker):
    run(worker.agents.reading_batches([event(batch(1, [1000, 2000]), 0)]))
    worker.agents.flush()
    key, value = worker.topics["enterprise_totals"].soon[0]
    run(worker.agents.survive(event(value, 0, key=key, topic="ecmon.enterprise-totals.v1"),
                              worker.agents.enterprise_totals, "the enterprise totals"))
    rows = [row for _, batch_ in worker.sent("aggregates") for row in batch_["aggregates"]]
    assert {r["level"] for r in rows} >= {"ENTERPRISE", "PROVINCE"}
    assert "350000" in worker.tables["province"] and "350000|2026-10" in worker.tables["province"]


def test_a_message_on_the_wrong_topic_is_refused_with_its_reason(worker):
    run(worker.agents.survive(event(batch(1, [1000]), 0, key=b"350000", topic="ecmon.enterprise-totals.v1"),
                              worker.agents.enterprise_totals, "the enterprise totals"))
    assert worker.dead_letters() == ["unexpected_record_type"] and worker.tables["province"] == {}


def test_after_recovery_the_totals_of_every_enterprise_held_are_sent_again(worker):
    run(worker.agents.reading_batches([event(batch(1, [1000]), 0)]))
    worker.agents.flush()
    worker.topics["enterprise_totals"].soon.clear()
    worker.tables["enterprise"]._key_partition = {USCC: 1}  # what Faust's store knows after recovery
    worker.agents.recovered()
    worker.agents.flush()
    ((_, totals),) = worker.sent("enterprise_totals")
    assert totals["uscc"] == USCC and [t["physical_milli"] for t in totals["totals"]] == [1000]


def enterprise_totals(uscc: str, coal_mgce: int, version: int) -> bytes:
    return codec.encode("enterprise_totals", {
        "uscc": uscc, "region_code": REGION, "industry_code": "3110", "watermark": T0 + 86_400_000,
        "totals": [{"energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1,
                    "coal_mgce": coal_mgce, "readings": 1, "version": version, "daily_coal_mgce": coal_mgce,
                    "days": 1, "co2_g": 1}]})


def test_a_micro_batch_of_enterprise_totals_is_one_step_per_province_and_a_bad_message_alone_is_set_aside(worker):
    key = b"350000"
    total = "PROVINCE|350000|*|electricity|kWh|2026-10"
    good = [event(enterprise_totals(make_uscc(REGION, i), 10 * i, 1), i, key=key, partition=2,
                  topic="ecmon.enterprise-totals.v1") for i in range(1, 4)]
    junk = event(b"\x00junk", 9, key=key, topic="ecmon.enterprise-totals.v1")
    run(worker.agents.enterprise_totals_batch([*good, junk]))
    assert worker.dead_letters() == ["undecodable"]
    assert worker.tables["province"]["350000|2026-10"]["totals"][total][1] == 60
    assert len(worker.sent("aggregates")) == 1  # the three messages' rows in one batch
    assert {p for p, _, _ in worker.tables["province"].changelog} == {2}  # the events' partition
    writes = len(worker.tables["province"].changelog)
    assert writes == 2  # the month and the province-wide value, once each

    # beyond the Avro long with the province's 60: the group is taken again one by one, that one refused
    over = event(enterprise_totals(make_uscc(REGION, 9), 2**63 - 30, 1), 10, key=key, partition=2,
                 topic="ecmon.enterprise-totals.v1")
    fine = event(enterprise_totals(make_uscc(REGION, 1), 15, 2), 11, key=key, partition=2,
                 topic="ecmon.enterprise-totals.v1")
    run(worker.agents.enterprise_totals_batch([over, fine]))
    assert worker.dead_letters() == ["undecodable", "value_out_of_range"]
    assert worker.tables["province"]["350000|2026-10"]["totals"][total][1] == 65


def test_after_a_flush_the_identities_are_held_compressed_and_still_know_every_reading(worker):
    run(worker.agents.reading_batches([event(batch(1, [1000, 2000]), 0)]))
    worker.agents.flush()
    held = {k: v for k, v in worker.tables["enterprise"].items() if k.startswith(USCC + "|")}
    assert held and all(isinstance(v, bytes) and len(v) < 200 for v in held.values())
    (_, key, text), = [c for c in worker.tables["enterprise"].changelog if c[1] in held]
    assert reading_identity.encoded(held[key]) == text  # the changelog's text, compressed
    # the same readings in another batch: duplicates; a third interval counts
    run(worker.agents.reading_batches([event(batch(2, [1000, 2000, 500]), 1)]))
    assert "duplicate_reading" in worker.dead_letters()
    worker.agents.flush()
    totals = [t for _, m in worker.sent("enterprise_totals") for t in m["totals"]]
    assert totals[-1]["physical_milli"] == 3500


def test_the_readings_agent_bench_takes_a_signed_fleet_without_a_dead_letter(tmp_path):
    """tests/bench/bench_readings_agent.py (docs/performance.md quotes it) measures what the worker really does."""
    from tests.bench.bench_readings_agent import events_of, feed, signed_fleet

    records, batches = signed_fleet(1, tmp_path)
    agents = make_worker(records, real_clock=True).agents
    run(feed(agents, events_of(batches)))
    assert len(agents.topics["normalised"].sent) == len(batches) > 100
    assert agents.topics["dead_letters"].sent == [] and agents.topics["aggregates"].soon
