# cython: annotation_typing=False
"""The normalised readings of a batch as Avro binary, written directly rather than through fastavro.

``ecmon.codec.encode`` (fastavro) took about 3.3 µs per normalised reading, a tenth of the worker's CPU: fastavro
looks up each of the ten fields of each reading by its schema at run time. Here the layout of
``normalised_reading_batch`` v3's ``readings`` is written out once, and Cython compiles this module's own source
(``setup.py``, with the C types of ``normalised_encoding.pxd``) into ``ecmon_worker.compiled``: about 0.4 µs
per reading. The batch's other fields still go through fastavro: ``readings`` is the record's last field, so
the message is fastavro's encoding of the batch with no readings, its empty array replaced by this one.

The bytes are fastavro's exactly (tests/unit/ecmon_worker/test_normalised_encoding.py, against the schema as
released); anything this writer does not expect (a value that is not an int, a string that is not text, a
number beyond Avro's long) falls back to fastavro, which accepts or refuses it as before.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ecmon import codec

SCHEMA = "normalised_reading_batch"
#: the schema version whose ``readings`` layout this module writes; the tests hold it to the catalog's current one
WRITES_VERSION = 3
QUALITY = {"GOOD": 0, "ESTIMATED": 1, "SUSPECT": 2}  # the enum's symbols, by index


def _long(out: bytearray, n: int) -> None:
    """Avro long: zig-zag, then 7 bits per byte, low first."""
    sign = n >> 63
    if sign != 0 and sign != -1:  # never, compiled: a C long long is within range, or the call raised already
        raise OverflowError(f"{n} is beyond Avro's long")
    z = (n << 1) ^ sign
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def _text(out: bytearray, seen: dict[str, bytes], s: str) -> None:
    """Avro string (length, UTF-8); a batch repeats its meter ids, energy types and units, so each is encoded once."""
    b = seen.get(s)
    if b is None:
        raw = s.encode()
        head = bytearray()
        _long(head, len(raw))
        b = seen[s] = bytes(head) + raw
    out += b


def readings_array(readings: list[dict[str, Any]]) -> bytes:
    """The ``readings`` array: one block of every reading, then the end marker."""
    out = bytearray()
    seen: dict[str, bytes] = {}
    if readings:
        _long(out, len(readings))
        for r in readings:
            _text(out, seen, r["meter_id"])
            _text(out, seen, r["energy_type"])
            _long(out, r["interval_start"])
            _long(out, r["interval_end"])
            _long(out, r["physical_milli"])
            _text(out, seen, r["unit"])
            _long(out, r["coal_mgce"])
            _long(out, QUALITY[r.get("quality", "GOOD")])
            _long(out, r.get("revision", 0))
            replaced = r.get("replaced_physical_milli")
            if replaced is None:
                out.append(0)  # the union's branch 0, null
            else:
                out.append(2)  # branch 1, long
                _long(out, replaced)
    out.append(0)
    return bytes(out)


def encode(batch: dict[str, Any], writer: ModuleType | None = None) -> bytes:
    """``codec.encode("normalised_reading_batch", batch)``, the same bytes, faster (``writer``: this module compiled,
    by default, or this module itself)."""
    try:
        readings = (writer or WRITER).readings_array(batch["readings"])
    except (KeyError, TypeError, AttributeError, OverflowError, ValueError):
        return codec.encode(SCHEMA, batch)  # what this writer does not expect: fastavro's verdict, as before
    head = codec.encode(SCHEMA, {**batch, "readings": []})
    return head[:-1] + readings  # the empty array's end marker, replaced by the readings


def _writer() -> ModuleType:
    try:
        return importlib.import_module("ecmon_worker.compiled.normalised_encoding")  # by name: it exists once built
    except ImportError:
        return importlib.import_module(__name__)


WRITER = _writer()
