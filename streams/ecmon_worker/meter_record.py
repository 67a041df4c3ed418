"""A meter detector's state (``meter_anomalies.new_state``, as the worker keeps it: unscored) as one fixed-size
binary record: every meter takes ``RECORD_SIZE`` bytes whatever its history, against about 2.4 kB of JSON and
4.4 kB (a new meter) to 10.6 kB (after weeks) of Python objects.

The worker (streams/ecmon_worker/meter_watch.py) holds each meter's record compressed (``pack``: zlib, about
150 bytes for a new meter, 1 kB after a month) and unpacks it only while a batch of the meter is observed; its
table ``meter-detectors`` stores them as base64 text (``stored``) and reads back that or the JSON states of the
layout before records (``from_stored``).

Little-endian ``struct`` fields in the state's own order: the record's version byte, then integers as int64,
floats as float64 (so ``decode(encode(st)) == st`` exactly: the detector goes on as if it had never been
stored), the open episode's kind as a byte, the seasonal cells' reading counts (at most 99) as bytes, and the
calendar of stops padded to its ``STOPS_KEPT`` entries behind their count. A scored state (the evaluation's,
with the point score's views and shape categories, which grow with the series) has no record.
"""

from __future__ import annotations

import struct
import zlib
from base64 import b64decode, b64encode
from typing import Any

from ecmon_worker import meter_anomalies as detector

RECORD_VERSION = 2  # 2: the usual log step ("lj", detector state version 7) at the end
EPISODES = ("", "drop", "stuck", "noisy")  # the open episode's kind, by its byte

# (key, struct codes of its items): a code per item of a list, one for a scalar
_FIELDS: tuple[tuple[str, str], ...] = (
    ("v", "B"), ("n", "q"), ("t", "q"), ("t0", "q"), ("iv", "q"), ("lg", "q"),
    ("lv", "d"), ("mg", "d"), ("hi", "d"), ("neg", "q"),
    ("wk", "d" * 72), ("wn", "B" * 72), ("hd", "d" * 24), ("hn", "B" * 24), ("hs", "d" * 72),
    ("sc", "d"), ("cu", "d"), ("cd", "d"), ("cr", "d"), ("ce", "d"), ("cc", "q"),
    ("ep", "B"), ("es", "q"), ("ec", "q"),
    ("ps", "qddqddqddddd"), ("rl", "qqqdq"), ("nz", "qqqqdddqq"),
    ("sv", "d"), ("ss", "q"), ("sk", "q"), ("dn", "q"), ("ds", "q"), ("dw", "q"),
    ("de", "q"), ("rs", "B" + "qq" * detector.STOPS_KEPT),
    ("q", "d"), ("pv", "d"), ("lj", "d"),
)
_LISTS = {"wk", "wn", "hd", "hn", "hs", "ps", "rl", "nz"}
#: the fields of each record version still read: a version 1 record is a state of detector layout 6, which
#: ``observe`` upgrades when it next runs
_LAYOUTS = {1: _FIELDS[:-1], RECORD_VERSION: _FIELDS}
_STRUCTS = {version: struct.Struct("<B" + "".join(codes for _, codes in fields))
            for version, fields in _LAYOUTS.items()}
_RECORD = _STRUCTS[RECORD_VERSION]
RECORD_SIZE = _RECORD.size
_SCORED = ("lk", "ar")


class NoRecord(ValueError):
    """The state cannot be a record: it is scored, or not of a layout this record version holds."""


def encode(state: dict) -> bytes:
    """The record of a worker's detector state (upgraded to the current layout first, as ``observe`` would)."""
    if any(key in state for key in _SCORED):
        raise NoRecord("a scored state (the point score's views) has no fixed-size record")
    if state.get("v") != detector.STATE_VERSION:
        state = dict(state)
        detector._upgrade(state)
    values: list = [RECORD_VERSION]
    for key, _ in _FIELDS:
        x = state[key]
        if key == "ep":
            values.append(EPISODES.index(x))
        elif key == "rs":
            pad = [0, 0] * (detector.STOPS_KEPT - len(x))
            values += [len(x), *(v for stop in x for v in stop), *pad]
        elif key in _LISTS:
            values += x
        else:
            values.append(x)
    return _RECORD.pack(*values)


def decode(record: bytes) -> dict:
    """The detector state a record holds."""
    layout = _STRUCTS.get(record[0]) if record else None
    if layout is None or len(record) != layout.size:
        got = f"version {record[0]}, {len(record)} bytes" if record else "empty"
        known = ", ".join(map(str, _LAYOUTS))
        raise NoRecord(f"not a meter record of a version read here ({known}) and its size: {got}")
    values = layout.unpack(record)
    state: dict = {}
    at = 1
    for key, codes in _LAYOUTS[record[0]]:
        items = values[at:at + len(codes)]
        at += len(codes)
        if key == "ep":
            state[key] = EPISODES[items[0]]
        elif key == "rs":
            state[key] = [list(items[1 + 2 * i:3 + 2 * i]) for i in range(items[0])]
        elif key in _LISTS:
            state[key] = list(items)
        else:
            state[key] = items[0]
    return state


#: where the state's last reading time ("t", int64) lies in a record: after the record version, "v" and "n"
_T_AT = struct.calcsize("<BBq")


def pack(state: dict) -> bytes:
    """The record, compressed: what the worker holds per meter (zlib level 1: a few microseconds)."""
    return zlib.compress(encode(state), 1)


def unpack(packed: bytes) -> dict:
    return decode(zlib.decompress(packed))


def last_ts(packed: bytes) -> int:
    """The time of the meter's last reading observed, without unpacking the whole record."""
    head: bytes = zlib.decompressobj().decompress(packed, _T_AT + 8)
    return int(struct.unpack_from("<q", head, _T_AT)[0])


def stored(meters: dict[str, bytes]) -> dict[str, str]:
    """A table value (meter -> packed record) as the changelog holds it: JSON, so base64 text."""
    return {meter: b64encode(packed).decode() for meter, packed in meters.items()}


def from_stored(meters: dict[str, Any] | None) -> dict[str, bytes]:
    """A table value as the changelog gave it back: base64 text of packed records, or (the layout before
    records) a JSON state per meter, packed now; a state that cannot be a record (scored) starts anew."""
    out: dict[str, bytes] = {}
    for meter, value in (meters or {}).items():
        if isinstance(value, bytes):
            out[meter] = value
        elif isinstance(value, str):
            out[meter] = b64decode(value)
        elif isinstance(value, dict):
            try:
                out[meter] = pack(value)
            except (NoRecord, KeyError):
                continue
    return out
