"""The Avro codec of the wire contract: single-object encoding against the catalog in ``avro/``.

Every message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema + the Avro binary body. The fingerprint tells the reader which released schema wrote the
message; the body is resolved into the current version of that record.

Logical types are stripped before reading: timestamps stay epoch milliseconds and uuids stay
strings, which is what the pipeline computes with and several times faster than building
datetime objects per reading. The fingerprint is unaffected (the Parsing Canonical Form drops
logical types anyway).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import to_parsing_canonical_form

from ecmon import PROJECT_ROOT
from ecmon.dead_letter_reasons import Reason

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
#: The contract's largest message (interface standard, section 9; Kafka's default limit). A larger value can
#: only arrive compressed (a compressible 5 MB batch is a few kB as lz4); it is refused before it is read.
MAX_MESSAGE_BYTES = 1 << 20
AVRO_DIR = PROJECT_ROOT / "avro"


class CodecError(ValueError):
    """A message the platform cannot read. ``reason`` is the dead-letter reason code."""

    reason = Reason.UNDECODABLE


class UndecodableMessage(CodecError):
    reason = Reason.UNDECODABLE


class UnknownSchemaFingerprint(CodecError):
    reason = Reason.UNKNOWN_FINGERPRINT


class UnexpectedRecordType(CodecError):
    reason = Reason.UNEXPECTED_RECORD_TYPE


class NullValue(CodecError):
    """The Kafka record has no value. On a compacted topic that is a tombstone (a deletion); consumers that
    know which topics are compacted report it as ``tombstone``."""

    reason = Reason.NULL_VALUE


class MessageTooLarge(CodecError):
    reason = Reason.MESSAGE_TOO_LARGE


def _crc64_table() -> list[int]:
    empty = 0xC15D213AA4D7A795  # the CRC-64-AVRO "empty" value from the Avro specification
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    return table


_CRC_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    fp = 0xC15D213AA4D7A795
    for byte in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ byte) & 0xFF]
    return fp


def strip_logical_types(node: Any) -> Any:
    """The schema without logicalType annotations: raw longs and strings are read as they are."""
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical_types(v) for v in node]
    return node


@dataclass(frozen=True)
class SchemaVersion:
    name: str  # the full record name, e.g. cn.ecmon.v1.ReadingBatch
    short_name: str  # the file stem, e.g. reading_batch
    version: int
    path: Path
    fingerprint: bytes  # 8 bytes, little-endian, as on the wire
    writer: dict[str, Any]  # parsed, logical types kept: what encode uses
    plain: dict[str, Any]  # parsed, logical types stripped: what decode uses


class SchemaCatalog:
    """Every released version of every schema under ``avro/v<N>/<name>.avsc``."""

    def __init__(self, root: Path = AVRO_DIR) -> None:
        self.root = root
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.current: dict[str, SchemaVersion] = {}
        for version_dir in sorted(root.glob("v*"), key=lambda p: int(p.name[1:])):
            version = int(version_dir.name[1:])
            for path in sorted(version_dir.glob("*.avsc")):
                raw = json.loads(path.read_text())
                writer = cast(dict[str, Any], fastavro.parse_schema(raw))  # a record schema: a dict
                canonical = to_parsing_canonical_form(writer)
                fp = crc64_avro(canonical.encode()).to_bytes(8, "little")
                sv = SchemaVersion(
                    name=writer["name"],
                    short_name=path.stem,
                    version=version,
                    path=path,
                    fingerprint=fp,
                    writer=writer,
                    plain=cast(dict[str, Any], fastavro.parse_schema(strip_logical_types(raw))),
                )
                self.by_fingerprint[fp] = sv
                self.current[path.stem] = sv  # later versions replace earlier ones

    def schema(self, short_name: str) -> SchemaVersion:
        try:
            return self.current[short_name]
        except KeyError:
            raise KeyError(f"no schema named {short_name!r} in {self.root}; known: {sorted(self.current)}") from None


@cache
def catalog() -> SchemaCatalog:
    return SchemaCatalog()


def encode(short_name: str, record: dict[str, Any], *, schema: SchemaVersion | None = None) -> bytes:
    """Encode ``record`` with the current (or the given) version of schema ``short_name``."""
    sv = schema or catalog().schema(short_name)
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(sv.fingerprint)
    # Records carry epoch-ms ints and uuid strings, for which the stripped schema writes the same
    # bytes as the annotated one, about 30 % faster (no per-field logical-type dispatch).
    fastavro.schemaless_writer(buf, sv.plain, record)
    return buf.getvalue()


def decode(data: bytes | None, expected: str | None = None, *,
           max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, dict[str, Any]]:
    """Decode one message into the current version of its record; returns (short_name, record).

    Whatever ``data`` is (None, not bytes, too large, garbage), the only errors are CodecErrors."""
    if data is None:
        raise NullValue("the message has no value (null)")
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise UndecodableMessage(f"the message value is a {type(data).__name__}, not bytes")
        data = bytes(data)
    if len(data) > max_bytes:
        raise MessageTooLarge(f"the message is {len(data):,} bytes; the contract allows at most {max_bytes:,} "
                              "(interface standard, section 9): split the batch")
    if len(data) < HEADER_LEN or data[:2] != MAGIC:
        raise UndecodableMessage("not Avro single-object encoding: the message does not start with C3 01")
    cat = catalog()
    writer = cat.by_fingerprint.get(data[2:10])
    if writer is None:
        raise UnknownSchemaFingerprint(
            f"writer schema fingerprint {data[2:10].hex()} is not a released ecmon schema "
            "(see avro/ and docs/interface-standard.md)"
        )
    if expected is not None and writer.short_name != expected:
        raise UnexpectedRecordType(f"expected a {expected} message, got {writer.short_name} v{writer.version}")
    reader = cat.current[writer.short_name]
    buf = io.BytesIO(data)
    buf.seek(HEADER_LEN)
    try:
        record = fastavro.schemaless_reader(
            buf, writer.plain, reader.plain if reader is not writer else None
        )
    except Exception as exc:  # fastavro raises many types on truncated or garbled bodies
        raise UndecodableMessage(f"the {writer.short_name} body is not valid Avro: {exc}") from exc
    if buf.tell() != len(data):
        raise UndecodableMessage(
            f"{len(data) - buf.tell()} unexpected bytes after the {writer.short_name} body"
        )
    return writer.short_name, cast(dict[str, Any], record)  # every ecmon schema is a record
