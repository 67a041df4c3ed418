"""Dead-letter records: the original bytes, where they came from, and a reason a person understands."""

from __future__ import annotations

import hashlib
import time

from ecmon import codec
from ecmon.dead_letter_reasons import REASONS as REASONS

#: A dead letter must fit in one Kafka message (the broker's and Faust's producer limit is about 1 MB),
#: or it cannot be sent at all. Larger payloads keep their first PAYLOAD_LIMIT bytes; the detail names the
#: original's size, SHA-256 and source offset (the original stays on its topic for its retention).
PAYLOAD_LIMIT = 512 * 1024
DETAIL_LIMIT = 4096
#: The record's own copy of the source key, and of its topic name and USCC, are cut too: a 600 kB key inside the
#: record would push it over the limit as surely as the payload.
KEY_LIMIT = 4096
#: The Kafka key of a dead letter: the source key when at most this long, else "sha256:<hex>" of it.
DEAD_LETTER_KEY_LIMIT = 256
#: The producers' limit (Faust's and librdkafka's default max request size); every dead letter plus its key
#: stays below it whatever the input: payload 512 KiB + detail 4096 characters (4 bytes each at most) + source
#: key 4 KiB + names, about 560 kB.
PRODUCER_LIMIT = 1_000_000



def dead_letter_key(key: bytes | None) -> bytes:
    """The Kafka key a dead letter is sent with: the source key, or its SHA-256 when it is long. Keyed by the
    original, a 600 kB key beside a 450 kB payload made a dead letter the producer refused (and the agent
    stopped on the error)."""
    key = key or b""
    if len(key) <= DEAD_LETTER_KEY_LIMIT:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode()


def dead_letter(
    reason: str, detail: str, *, topic: str, partition: int, offset: int, key: bytes, payload: bytes, uscc: str = ""
) -> bytes:
    payload, key = payload or b"", key or b""
    if len(detail) > DETAIL_LIMIT:
        detail = f"{detail[:DETAIL_LIMIT]}... ({len(detail)} characters)"
    if len(key) > KEY_LIMIT:
        detail += (f" [key truncated to its first {KEY_LIMIT} of {len(key)} bytes, sha256 "
                   f"{hashlib.sha256(key).hexdigest()}]")
        key = key[:KEY_LIMIT]
    if len(payload) > PAYLOAD_LIMIT:
        detail += (f" [payload truncated to its first {PAYLOAD_LIMIT} of {len(payload)} bytes, sha256 "
                   f"{hashlib.sha256(payload).hexdigest()}; the original is {topic} partition {partition} "
                   f"offset {offset}]")
        payload = payload[:PAYLOAD_LIMIT]
    uscc = uscc[:64]
    topic = topic[:255]  # Kafka's names have at most 249 characters
    reason = reason[:64]
    return codec.encode(
        "dead_letter",
        {
            "reason": reason,
            "detail": detail,
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "key": key,
            "payload": payload,
            "uscc": uscc,
            "rejected_at": int(time.time() * 1000),
        },
    )
