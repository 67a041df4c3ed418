"""Enterprise keys on the real stack: validity, rotation, revocation, and nothing from the repository signs.

One fresh simulated enterprise is registered (its key pair made in the test stack's state directory), then
batches signed with various keys go through Kafka, the worker and the sink:

* its first key counts; after `ecmon keys rotate` both the old and the new key count during the overlap;
* after `ecmon keys revoke` of the old key, a batch signed with it is `bad_signature` ("revoked at");
* the registry record from before the revocation, replayed as it was signed (registry-role credentials
  suffice), is `stale_registry_record` and the old key stays revoked;
* batches "signed" with what anyone can derive from the repository (the HMAC of the old test secret, the
  interface standard's EXAMPLE key, under the enterprise's key ids or the example's) are `bad_signature`;
* ClickHouse counts exactly the accepted batches' readings.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from ecmon import codec, interface_example, signing, topics
from ecmon.kafka_clients import client_config
from ecmon.months import DAY_MS, month_start_ms
from ecmon_gateway.delivery import BatchProducer
from ecmon_registry import keys as registry_keys
from ecmon_simulator.fleet import Enterprise, PlannedBatch, build_fleet, plan_batches
from ecmon_simulator.runs import publish_registry, registry_producer
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

INTERVAL_S = 900
#: The HMAC master secret the repository used to carry: whatever it derives must sign nothing.
OLD_TEST_SECRET = b"ecmon-test-secret-not-for-production"


def fresh_enterprises(settings, n: int) -> list[Enterprise]:
    """Enterprises this registry never registered (the stack is shared and outlives a test run)."""
    published = registry_keys.registry_ledger(settings.state_dir).load()
    for seed in range(700, 1000):
        fleet = build_fleet(n, ("330000",), seed=seed)
        if not any(e.uscc in published for e in fleet):
            return fleet
    raise AssertionError("no unregistered simulated enterprise left in seeds 700-999")


def signed(batch: PlannedBatch, key_id: str, sign) -> bytes:
    ent = batch.enterprise
    record = {"uscc": ent.uscc, "gateway_id": ent.gateway_id, "batch_id": batch.batch_id,
              "sequence": batch.sequence, "sent_at": int(time.time() * 1000), "key_id": key_id, "signature": b"",
              "readings": batch.readings}
    unsigned = codec.encode("reading_batch", record)
    return codec.encode("reading_batch", {**record, "signature": sign(unsigned)})


def with_key(private_key):
    return lambda body: signing.sign(body, private_key)


def counted_readings(client, db: str, uscc: str) -> int:
    return client.execute(
        f"SELECT sum(r) FROM (SELECT energy_type, period, argMax(readings, version) AS r FROM {db}.aggregates_monthly "
        "WHERE level = 'ENTERPRISE' AND entity = %(u)s GROUP BY energy_type, period)", {"u": uscc})[0][0] or 0


def bad_signature_details(client, db: str, uscc: str) -> list[str]:
    # FINAL: a dead letter written twice (a rebalance re-delivers its batch) is one row
    return [d for (d,) in client.execute(f"SELECT detail FROM {db}.dead_letters FINAL WHERE uscc = %(u)s AND "
                                         "reason = 'bad_signature'", {"u": uscc})]


def newest_registry_value(settings, uscc: str) -> bytes:
    """The newest record of ``uscc`` on the registry topic, as the registry published it (what an attacker with
    the registry role's credentials, or a copy of the topic, can replay)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from ecmon.principals import REGISTRY_FOLLOWER_GROUPS

    consumer = Consumer({**client_config(settings, "worker"), "group.id": REGISTRY_FOLLOWER_GROUPS[0],
                         "enable.auto.commit": False, "log_level": 3})
    try:
        partitions = consumer.list_topics(topics.REGISTRY.name, timeout=30).topics[topics.REGISTRY.name].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topics.REGISTRY.name, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(topics.REGISTRY.name, p, OFFSET_BEGINNING) for p in partitions])
        newest, done, deadline = None, set(), time.monotonic() + 60
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=1.0):
                if msg.error():
                    continue
                if msg.key() == uscc.encode() and msg.value() is not None:
                    newest = msg.value()
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
            done |= {p for p, end in ends.items() if end == 0}
        assert newest is not None, f"no registry record of {uscc} on {topics.REGISTRY.name}"
        return newest
    finally:
        consumer.close()


def stale_letters(client, db: str, uscc: str) -> list[str]:
    return [d for (d,) in client.execute(f"SELECT detail FROM {db}.dead_letters WHERE uscc = %(u)s AND "
                                         "reason = 'stale_registry_record'", {"u": uscc})]


def wait_for(check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_keys_rotate_and_revoke_and_nothing_from_the_repository_signs(side_pipeline):
    settings = side_pipeline
    client, db = connect(settings), settings.clickhouse_database
    ent, witness = fresh_enterprises(settings, 2)
    start = month_start_ms("2026-10")
    publish_registry(registry_producer(settings), [ent], start, INTERVAL_S, settings.state_dir)
    store = signing.enterprise_keys(settings.state_dir)
    first = store.private_key(ent.uscc, ent.key_id)
    batches = iter(plan_batches(ent, start, start + 10 * DAY_MS, INTERVAL_S, 4))
    gateway = BatchProducer(client_config(settings, "gateway"), client_id="ecmon-test-keys")
    accepted: list[PlannedBatch] = []
    rejected: dict[str, str] = {}  # batch id -> what the detail must say

    def send(key_id: str, sign, expect: str | None = None) -> None:
        batch = next(batches)
        gateway.send(topics.READINGS.name, ent.uscc.encode(), signed(batch, key_id, sign))
        gateway.flush(30)
        if expect is None:
            accepted.append(batch)
        else:
            rejected[batch.batch_id] = expect

    # 1. the first key counts
    send(ent.key_id, with_key(first))

    # 2. rotation: a new key, both count during the overlap
    record = registry_keys.rotate_enterprise(settings, ent.uscc, overlap_ms=7 * DAY_MS)
    new_key_id = record["key_id"]
    assert new_key_id != ent.key_id and store.current_key_id(ent.uscc, ent.key_id) == new_key_id
    new = store.private_key(ent.uscc, new_key_id)
    send(new_key_id, with_key(new))  # the worker reads the rotation before it calls the key unknown
    send(ent.key_id, with_key(first))  # the old key, inside the overlap

    # 3. revocation of the old key. The worker has read it once it has read a registration published after
    #    it: a batch of a newly registered enterprise makes it read the registry to its end.
    before_revocation = newest_registry_value(settings, ent.uscc)
    registry_keys.revoke_enterprise(settings, ent.uscc, ent.key_id)
    # ... and then the pre-revocation record replayed, byte for byte: validly signed, same valid_from. It must
    # be refused as stale, or the revoked key would count again.
    replay = registry_producer(settings)
    replay.send(topics.REGISTRY.name, ent.uscc.encode(), before_revocation)
    replay.flush(30)
    publish_registry(registry_producer(settings), [witness], start, INTERVAL_S, settings.state_dir)
    witness_batch = next(iter(plan_batches(witness, start, start + DAY_MS, INTERVAL_S, 4)))
    gateway.send(topics.READINGS.name, witness.uscc.encode(),
                 signed(witness_batch, witness.key_id, with_key(store.private_key(witness.uscc, witness.key_id))))
    gateway.flush(30)
    assert wait_for(lambda: counted_readings(client, db, witness.uscc) == len(witness_batch.readings)), \
        "the witness enterprise's batch was not counted"
    send(ent.key_id, with_key(first), expect=f"key {ent.key_id} revoked at")  # after the replay too
    send(new_key_id, with_key(new))  # the new key still counts
    stale = wait_for(lambda: stale_letters(client, db, ent.uscc))
    assert stale and "issued_at" in stale[0], stale

    # 4. what anyone can derive from the repository signs nothing
    hmac_key = hmac.new(OLD_TEST_SECRET, new_key_id.encode(), hashlib.sha256).digest()
    send(new_key_id, lambda body: hmac.new(hmac_key, body, hashlib.sha256).digest(),
         expect=f"signature does not verify with key {new_key_id}")
    send(new_key_id, with_key(signing.EXAMPLE_PRIVATE_KEY), expect=f"signature does not verify with key {new_key_id}")
    send(interface_example.KEY_ID, with_key(signing.EXAMPLE_PRIVATE_KEY),
         expect=f"key {interface_example.KEY_ID} is not among")
    example = interface_example.example_message()  # the interface standard's example itself
    gateway.send(topics.READINGS.name, interface_example.USCC.encode(), example)
    gateway.flush(30)

    expected = sum(len(b.readings) for b in accepted)
    details = wait_for(lambda: (lambda d: d if len(d) >= len(rejected) else None)(
        bad_signature_details(client, db, ent.uscc)))
    assert details and len(details) == len(rejected), details
    for batch_id, expect in rejected.items():
        assert any(d.startswith(f"batch {batch_id}: {expect}") for d in details), (batch_id, expect, details)
    assert wait_for(lambda: counted_readings(client, db, ent.uscc) == expected), \
        f"ClickHouse counts {counted_readings(client, db, ent.uscc)} readings; the accepted batches have {expected}"
    time.sleep(3)  # nothing rejected is counted late
    assert counted_readings(client, db, ent.uscc) == expected
    example_letters = client.execute(f"SELECT reason FROM {db}.dead_letters WHERE uscc = %(u)s",
                                     {"u": interface_example.USCC})
    assert example_letters and {r for (r,) in example_letters} <= {"unregistered_enterprise", "bad_signature"}
