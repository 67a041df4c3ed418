"""What a gateway sends: a record of the wire contract, signed with the enterprise's own Ed25519 key.

The signature covers the message encoded with an empty ``signature`` field (interface standard,
section 4), so the platform verifies the bytes it received without re-encoding them.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ecmon import codec, signing


def encode_signed(schema: str, record: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """``record`` (with its ``key_id``) encoded as ``schema``, its ``signature`` filled in."""
    unsigned = codec.encode(schema, {**record, "signature": b""})
    return codec.encode(schema, {**record, "signature": signing.sign(unsigned, private_key)})
