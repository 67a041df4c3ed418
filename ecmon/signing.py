"""Batch signatures: HMAC-SHA256 over the batch encoded with an empty signature field.

Keys are provisioned per enterprise and named by ``key_id`` in the registry. The local stack and
the tests derive keys from a test secret so that no real key is ever in the repository; a
deployment sets ``ECMON_SIGNING_SECRET`` (or provisions keys out of band, see docs).
"""

from __future__ import annotations

import hashlib
import hmac
import os

TEST_SECRET = b"ecmon-test-secret-not-for-production"


def enterprise_key(key_id: str, secret: bytes | None = None) -> bytes:
    secret = secret or os.environ.get("ECMON_SIGNING_SECRET", "").encode() or TEST_SECRET
    return hmac.new(secret, key_id.encode(), hashlib.sha256).digest()


def sign(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def verify(body: bytes, key: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(sign(body, key), signature)


def _skip_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read one zig-zag varint at ``pos``; returns (value, next position)."""
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


#: The fields before ``signature`` ("s" string or bytes, "l" long), fixed by the interface standard.
READING_BATCH_PREFIX = ("s", "s", "s", "l", "l", "s")  # uscc, gateway_id, batch_id, sequence, sent_at, key_id
PRODUCTION_OUTPUT_PREFIX = ("s", "s", "s", "l", "s")  # uscc, gateway_id, batch_id, sent_at, key_id


def unsigned_message(data: bytes, prefix: tuple[str, ...] = READING_BATCH_PREFIX) -> tuple[bytes, bytes]:
    """Split an encoded reading batch into (the message with an empty signature, the signature).

    Splicing the bytes spares the worker a full re-encode per batch. It relies on the field
    order of ReadingBatch (uscc, gateway_id, batch_id, sequence, sent_at, key_id, signature, ...),
    which the interface standard fixes for every version; ``prefix`` names another record's fields
    before its signature (PRODUCTION_OUTPUT_PREFIX).
    """
    pos = 10  # after the single-object header
    for kind in prefix:
        value, pos = _skip_varint(data, pos)
        if kind == "s":
            pos += value
    sig_start = pos
    length, pos = _skip_varint(data, pos)
    if length < 0 or pos + length > len(data):
        raise ValueError("signature field overruns the message")
    signature = data[pos : pos + length]
    return data[:sig_start] + b"\x00" + data[pos + length :], signature
