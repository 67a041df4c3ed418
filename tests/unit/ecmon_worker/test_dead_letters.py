"""Every dead letter fits in one Kafka message, whatever the message it carries (review defect A: a dead
letter keyed by a 600 kB source key, beside a 450 kB payload, was over the producer's 1,000,000 bytes; the send
raised, the event was never acknowledged and the agent stopped)."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecmon import codec
from ecmon_worker.dead_letters import (
    DEAD_LETTER_KEY_LIMIT,
    KEY_LIMIT,
    PAYLOAD_LIMIT,
    PRODUCER_LIMIT,
    REASONS,
    dead_letter,
    dead_letter_key,
)

#: What a record costs on the wire beyond its key and value (batch and record headers, generously).
RECORD_OVERHEAD = 512

sizes = st.one_of(st.integers(0, 300), st.integers(0, 2_000_000), st.sampled_from([256, 257, 600_000, 1_100_000]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(key_size=sizes, payload_size=sizes, detail=st.text(max_size=50) | st.just("\U0001F600" * 20_000),
       uscc=st.text(max_size=30) | st.just("\u4e2d" * 5_000), topic=st.text(min_size=1, max_size=300),
       reason=st.sampled_from(sorted(REASONS)))
def test_every_dead_letter_fits_in_one_kafka_message(key_size, payload_size, detail, uscc, topic, reason):
    key, payload = b"\xff" * key_size, b"\x01" * payload_size
    value = dead_letter(reason, detail, topic=topic, partition=3, offset=2**62, key=key, payload=payload, uscc=uscc)
    kafka_key = dead_letter_key(key)
    assert len(kafka_key) <= DEAD_LETTER_KEY_LIMIT
    assert len(kafka_key) + len(value) + RECORD_OVERHEAD < PRODUCER_LIMIT
    _, record = codec.decode(value, "dead_letter")
    assert record["reason"] == reason and len(record["payload"]) <= PAYLOAD_LIMIT and len(record["key"]) <= KEY_LIMIT
    if payload_size > PAYLOAD_LIMIT:
        assert hashlib.sha256(payload).hexdigest() in record["detail"]
    if key_size > KEY_LIMIT:
        assert hashlib.sha256(key).hexdigest() in record["detail"]


def test_the_review_case_600_kb_key_450_kb_value():
    key, payload = b"k" * 600_000, b"v" * 450_000
    value = dead_letter("undecodable", "x", topic="ecmon.readings.v1", partition=0, offset=1, key=key, payload=payload)
    assert len(dead_letter_key(key)) + len(value) < PRODUCER_LIMIT - RECORD_OVERHEAD
    # before the fix the dead letter was sent keyed by the original key: 600,000 + the value's bytes
    assert len(key) + len(value) > PRODUCER_LIMIT


def test_the_kafka_key_of_a_dead_letter_is_the_short_key_itself_or_its_hash():
    assert dead_letter_key(b"91350100M000100Y43") == b"91350100M000100Y43"
    assert dead_letter_key(None) == b""
    assert dead_letter_key(b"a" * 256) == b"a" * 256
    assert dead_letter_key(b"a" * 257) == b"sha256:" + hashlib.sha256(b"a" * 257).hexdigest().encode()


def test_a_size_error_of_a_send_is_recognised_through_fausts_wrapper():
    from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
    from faust.exceptions import ProducerSendError

    from ecmon_worker.agents import too_large

    try:
        try:
            raise MessageSizeTooLargeError("The message is 1050012 bytes")
        except MessageSizeTooLargeError as inner:
            raise ProducerSendError("Error while sending") from inner
    except ProducerSendError as exc:
        assert too_large(exc)
    assert not too_large(ProducerSendError("Error while sending"))
    assert not too_large(KafkaConnectionError("broker down"))
