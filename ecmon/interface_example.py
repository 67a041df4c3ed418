"""The example reading batch of ``docs/interface-standard.md``: its JSON, its bytes, byte by byte.

The document pastes the output of ``python -m ecmon.interface_example``, and
``tests/unit/ecmon/test_interface_example.py`` fails when the two differ, so a vendor can test an
implementation against bytes the platform really produces.

The example is signed with the fixed EXAMPLE key pair of ``ecmon.signing`` (``EXAMPLE_PRIVATE_KEY``),
derived from public text so the bytes never change. The platform never accepts it: the example
USCC is not registered, and ``signing.public_key_for`` refuses that key whatever a registry says.
Example vectors are for vendors to check their encoder and signer, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from typing import Any

from cryptography.hazmat.primitives import serialization

from ecmon import codec, energy, signing
from ecmon.schema_check import expand

USCC = "91350100M000100Y43"
GATEWAY_ID = "gw-100Y43-1"
BATCH_ID = "5f0c8a2e-7d41-4b9e-a3c6-2e1f9d8b7a60"
KEY_ID = f"EXAMPLE-key-{USCC}"
#: 2026-11-01 00:00 CST: the end of the last 15-minute interval of October 2026 (CST).
INTERVAL_END_MS = 1_793_462_400_000
SENT_AT_MS = INTERVAL_END_MS + 42_000


def example_batch() -> dict[str, Any]:
    """A reading batch of three readings, signed with the EXAMPLE key (never accepted by the platform)."""
    record: dict[str, Any] = {
        "uscc": USCC,
        "gateway_id": GATEWAY_ID,
        "batch_id": BATCH_ID,
        "sequence": 2977,
        "sent_at": SENT_AT_MS,
        "key_id": KEY_ID,
        "signature": b"",
        "readings": [
            {"meter_id": "E-01", "energy_type": "electricity", "ts": INTERVAL_END_MS, "value_milli": 2_315_250,
             "kind": "INTERVAL", "unit": "kWh", "quality": "GOOD", "replaces_value_milli": None},
            {"meter_id": "G-01", "energy_type": "natural_gas", "ts": INTERVAL_END_MS, "value_milli": 48_261_337_125,
             "kind": "CUMULATIVE", "unit": "m3", "quality": "GOOD", "replaces_value_milli": None},
            {"meter_id": "S-01", "energy_type": "steam", "ts": INTERVAL_END_MS, "value_milli": 3_500,
             "kind": "INTERVAL", "unit": "t", "quality": "ESTIMATED", "replaces_value_milli": None},
        ],
    }
    unsigned = codec.encode("reading_batch", record)
    record["signature"] = signing.sign(unsigned, signing.EXAMPLE_PRIVATE_KEY)
    return record


def example_message() -> bytes:
    """The Kafka message value of :func:`example_batch` (key: the USCC in UTF-8)."""
    return codec.encode("reading_batch", example_batch())


def example_json() -> str:
    """The batch as JSON; ``signature`` in hex (on the wire it is 64 raw bytes)."""
    record = example_batch()
    return json.dumps({**record, "signature": record["signature"].hex()}, indent=2, ensure_ascii=False)


# -------------------------------------------------------------------------------- byte by byte


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)  # zig-zag
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _walk(node: dict[str, Any], value: Any, label: str, rows: list[tuple[bytes, str]]) -> None:
    kind = node["kind"]
    if kind == "record":
        for f in node["fields"]:
            _walk(f["type"], value[f["name"]], f"{label}.{f['name']}" if label else f["name"], rows)
    elif kind in ("string", "bytes"):
        data = value.encode() if kind == "string" else value
        rows.append((_varint(len(data)), f"{label}: length {len(data)}"))
        for i in range(0, len(data), 16):
            chunk = data[i : i + 16]
            shown = f'"{chunk.decode(errors="replace")}"' if kind == "string" else "raw bytes"
            rows.append((chunk, f"{label}: {shown}"))
    elif kind in ("int", "long"):
        rows.append((_varint(value), f"{label}: {value}"))
    elif kind == "enum":
        index = node["symbols"].index(value)
        rows.append((_varint(index), f"{label}: symbol {index} = {value}"))
    elif kind == "array":
        if value:
            rows.append((_varint(len(value)), f"{label}: a block of {len(value)} items"))
            for i, item in enumerate(value):
                _walk(node["items"], item, f"{label}[{i}]", rows)
        rows.append((_varint(0), f"{label}: end of the array (a block of 0 items)"))
    elif kind == "boolean":
        rows.append((b"\x01" if value else b"\x00", f"{label}: {value}"))
    elif kind in ("float", "double"):
        rows.append((struct.pack("<f" if kind == "float" else "<d", value), f"{label}: {value}"))
    elif kind == "null":
        pass
    elif kind == "union":  # the branch index, then the value (optional fields: null or one type)
        index = next(i for i, b in enumerate(node["branches"]) if (b["kind"] == "null") == (value is None))
        rows.append((_varint(index), f"{label}: union branch {index} = {node['branches'][index]['kind']}"))
        _walk(node["branches"][index], value, label, rows)
    else:  # maps, fixed: not in the reading batch
        raise NotImplementedError(f"{label}: {kind}")


def byte_rows() -> list[tuple[int, bytes, str]]:
    """(offset, bytes, meaning) for every piece of the example message."""
    data = example_message()
    sv = codec.catalog().schema("reading_batch")
    rows: list[tuple[bytes, str]] = [
        (data[:2], "marker C3 01: Avro single-object encoding"),
        (data[2:10], f"CRC-64-AVRO fingerprint of {sv.short_name} v{sv.version}, little-endian"),
    ]
    _walk(expand(sv.writer), example_batch(), "", rows)
    if b"".join(b for b, _ in rows) != data:
        raise AssertionError("the byte-by-byte walk does not reproduce the encoded message")
    out, offset = [], 0
    for chunk, meaning in rows:
        out.append((offset, chunk, meaning))
        offset += len(chunk)
    return out


def markdown() -> str:
    """The block ``docs/interface-standard.md`` contains verbatim."""
    data = example_message()
    hex_lines = "\n".join(data[i : i + 32].hex() for i in range(0, len(data), 32))
    unsigned, _ = signing.unsigned_message(data)
    seed = signing.EXAMPLE_PRIVATE_KEY.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption())
    sig_offset = next(offset for offset, _, meaning in byte_rows() if meaning.startswith("signature: length"))
    table = "\n".join(
        f"{offset:04x}  {chunk.hex(' '):<47}  {meaning}" for offset, chunk, meaning in byte_rows()
    )
    return (
        "<!-- generated by `python -m ecmon.interface_example`; "
        "tests/unit/ecmon/test_interface_example.py fails when this block is stale -->\n"
        "The batch (the fields of `ReadingBatch`; `signature` is shown in hex here, on the wire it is "
        "64 raw bytes):\n\n"
        f"```json\n{example_json()}\n```\n\n"
        f"The Kafka message: key `{USCC}` (UTF-8), value ({len(data)} bytes, hex):\n\n"
        f"```text\n{hex_lines}\n```\n\n"
        "The same value byte by byte (offset in hex; strings and bytes are a zig-zag varint length "
        "followed by the bytes; longs and enum indexes are zig-zag varints):\n\n"
        f"```text\n{table}\n```\n\n"
        f"The signature: Ed25519 (RFC 8032) with the EXAMPLE key `{KEY_ID}`, a key pair published here so "
        "that you can check your encoder and signer; the platform never accepts it (the example USCC is not "
        "registered, and the key is refused whatever a registry record says). Its 32-byte private seed is\n"
        f"`{seed.hex()}`, its public key\n`{signing.EXAMPLE_PUBLIC_KEY.hex()}`. The signed input is the same "
        f"message with an empty signature (offset {sig_offset:04x} holds `00` and the 64 signature bytes are "
        f"absent, {len(unsigned)} bytes), SHA-256 `{hashlib.sha256(unsigned).hexdigest()}`. Ed25519 signatures "
        "are deterministic: your signer must produce exactly the bytes above.\n"
    )


def energy_types_markdown() -> str:
    """The table of energy types and units, generated from ``ecmon.energy`` (the doc contains it)."""
    rows = [
        "<!-- generated by `python -m ecmon.interface_example energy-types` -->",
        "| code | energy type | canonical unit | kgce per canonical unit | accepted units |",
        "|---|---|---|---|---|",
    ]
    for code, et in energy.ENERGY_TYPES.items():
        units = ", ".join(f"`{u}`" for u in energy.accepted_units(code))
        rows.append(f"| `{code}` | {et.name_en} ({et.name_zh}) | `{et.canonical_unit}` | {et.kgce_per_unit} "
                    f"| {units} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(energy_types_markdown() if sys.argv[1:] == ["energy-types"] else markdown(), end="")
