"""Test vectors for gateway vendors: every record type a gateway sends, valid and invalid, with the outcome.

``python -m ecmon.conformance_vectors [DIR]`` writes them to ``docs/test-vectors/`` (the default):
one JSON-lines file per vector (the file format of `ecmon validate`), the example enterprise's registry
record, and a README with the table of vectors. ``tests/unit/ecmon_worker/test_conformance_vectors.py``
fails when the checked-in files differ from what this module writes, or when the platform's admission
(``ecmon_worker.offline_check``) gives another outcome than a vector expects.

Every message is signed with the interface standard's EXAMPLE key (section 13): Ed25519 is deterministic,
so the bytes never change, and the platform never accepts that key, so no vector can count on a real
platform. Check your gateway by reproducing the valid vectors byte for byte from their JSON, and by
running `ecmon validate` (which accepts the EXAMPLE key offline) on your own messages.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecmon import PROJECT_ROOT, codec, interface_example, signing

DEFAULT_DIR = PROJECT_ROOT / "docs" / "test-vectors"
USCC = interface_example.USCC
KEY_ID = interface_example.KEY_ID
END = interface_example.INTERVAL_END_MS  # 2026-11-01 00:00 CST
STEP = 900_000
#: Another valid USCC, for the key that does not match the batch.
OTHER_USCC = "91370100MA00000017"


def registry_record() -> dict[str, Any]:
    """The example enterprise as the registry would list it (JSON form: bytes in hex)."""
    return {
        "uscc": USCC, "name": "Example Works", "region_code": "350100", "industry_code": "3120", "tier": "NATIONAL_KEY",
        "key_id": KEY_ID,
        "meters": [
            {"meter_id": "E-01", "energy_type": "electricity", "unit": "kWh", "interval_s": 900},
            {"meter_id": "G-01", "energy_type": "natural_gas", "unit": "m3", "interval_s": 900},
            {"meter_id": "S-01", "energy_type": "steam", "unit": "t", "interval_s": 900},
        ],
        "valid_from": 0,
        "public_keys": [{"key_id": KEY_ID, "algorithm": "ed25519", "public_key": signing.EXAMPLE_PUBLIC_KEY.hex(),
                         "valid_from": 0, "valid_until": None, "revoked_at": None}],
    }


def _signed(schema: str, record: dict[str, Any]) -> bytes:
    unsigned = codec.encode(schema, {**record, "signature": b""})
    return codec.encode(schema, {**record, "signature": signing.sign(unsigned, signing.EXAMPLE_PRIVATE_KEY)})


def _reading(meter: str = "E-01", ts: int = END, value: int = 2_315_250, **kw: Any) -> dict[str, Any]:
    energy, unit, kind = {"E-01": ("electricity", "kWh", "INTERVAL"), "G-01": ("natural_gas", "m3", "CUMULATIVE"),
                          "S-01": ("steam", "t", "INTERVAL")}.get(meter, ("electricity", "kWh", "INTERVAL"))
    return {"meter_id": meter, "energy_type": energy, "ts": ts, "value_milli": value, "kind": kind, "unit": unit,
            "quality": "GOOD", "replaces_value_milli": None, **kw}


def _batch(sequence: int = 1, readings: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return {"uscc": USCC, "gateway_id": interface_example.GATEWAY_ID,
            "batch_id": f"5f0c8a2e-7d41-4b9e-a3c6-{sequence:012d}", "sequence": sequence,
            "sent_at": END + 42_000, "key_id": KEY_ID,
            "readings": readings if readings is not None else [_reading(ts=END - STEP), _reading()], **kw}


def _production(**kw: Any) -> dict[str, Any]:
    day = 86_400_000
    return {"uscc": USCC, "gateway_id": interface_example.GATEWAY_ID,
            "batch_id": "7c1d9e3f-2a4b-4c5d-8e6f-000000000001", "sent_at": END + 42_000, "key_id": KEY_ID,
            "product_code": "3206010100", "product_name": "粗钢", "quantity_milli": 5_400_000_000, "unit": "t",
            "period_start": END - day, "period_end": END, **kw}


@dataclass(frozen=True)
class Message:
    value: bytes
    expect: list[str]  # the reason codes the platform gives; [] = accepted, every reading counts
    key: str = USCC
    record: dict[str, Any] | None = None  # the JSON of the record, when it is one


@dataclass(frozen=True)
class Vector:
    name: str
    record_type: str
    why: str
    messages: Callable[[], list[Message]]


def _batch_message(expect: list[str], **kw: Any) -> list[Message]:
    record = _batch(**kw)
    return [Message(_signed("reading_batch", record), expect, record=record)]


def _production_message(expect: list[str], **kw: Any) -> list[Message]:
    record = _production(**kw)
    return [Message(_signed("production_output", record), expect, record=record)]


def _tampered(change: Callable[[bytes], bytes], expect: list[str]) -> list[Message]:
    record = _batch()
    return [Message(change(_signed("reading_batch", record)), expect, record=None)]


def _twice() -> list[Message]:
    first = _batch_message([])[0]
    return [first, Message(first.value, ["duplicate_batch"], record=first.record)]


def _resent_readings() -> list[Message]:
    first = _batch_message([])[0]
    again = _batch(sequence=2)
    return [first, Message(_signed("reading_batch", again), ["duplicate_reading"], record=again)]


def _correction() -> list[Message]:
    first = _batch_message([])[0]
    fixed = _batch(sequence=2, readings=[_reading(value=2_400_000, replaces_value_milli=2_315_250)])
    return [first, Message(_signed("reading_batch", fixed), ["reading_corrected"], record=fixed)]


def _conflict() -> list[Message]:
    first = _batch_message([])[0]
    other = _batch(sequence=2, readings=[_reading(value=2_400_000)])
    return [first, Message(_signed("reading_batch", other), ["conflicting_reading"], record=other)]


def _wrong_key() -> list[Message]:
    record = _batch()
    return [Message(_signed("reading_batch", record), ["key_mismatch"], key=OTHER_USCC, record=record)]


def _flip_signature(raw: bytes) -> bytes:
    unsigned, signature = signing.unsigned_message(raw)
    return raw.replace(signature, bytes([signature[0] ^ 1]) + signature[1:])


VECTORS: list[Vector] = [
    Vector("readings-valid", "reading_batch", "two interval readings of a registered meter, signed",
           lambda: _batch_message([])),
    Vector("readings-valid-three-meters", "reading_batch", "the batch of section 13 of the interface standard",
           lambda: [Message(interface_example.example_message(), [], record=interface_example.example_batch())]),
    Vector("readings-resent", "reading_batch", "the same batch twice (same gateway and sequence): counted once",
           _twice),
    Vector("readings-same-readings-new-batch", "reading_batch",
           "the same readings in a new batch (next sequence): a resend of the readings, counted once",
           _resent_readings),
    Vector("readings-correction", "reading_batch",
           "a later batch corrects a counted interval value, naming it in replaces_value_milli", _correction),
    Vector("readings-conflict", "reading_batch", "a later batch sends another value for a counted interval, "
           "without naming the value it replaces", _conflict),
    Vector("readings-bad-signature", "reading_batch", "one bit of the signature flipped",
           lambda: _tampered(_flip_signature, ["bad_signature"])),
    Vector("readings-truncated", "reading_batch", "the message cut short by one byte",
           lambda: _tampered(lambda raw: raw[:-1], ["undecodable"])),
    Vector("readings-unknown-fingerprint", "reading_batch", "a fingerprint byte changed (an edited schema)",
           lambda: _tampered(lambda raw: raw[:2] + bytes([raw[2] ^ 0xFF]) + raw[3:], ["unknown_fingerprint"])),
    Vector("readings-key-mismatch", "reading_batch", "the Kafka key is another enterprise's USCC", _wrong_key),
    Vector("readings-invalid-uscc", "reading_batch", "the USCC's check character is wrong",
           lambda: [Message(_signed("reading_batch", r := _batch(uscc=USCC[:-1] + "4")), ["invalid_uscc"],
                            key=USCC[:-1] + "4", record=r)]),
    Vector("readings-invalid-batch-id", "reading_batch", "batch_id is not a UUID",
           lambda: _batch_message(["invalid_batch_id"], batch_id="batch-1")),
    Vector("readings-invalid-gateway-id", "reading_batch", "gateway_id has a space and a '!'",
           lambda: _batch_message(["invalid_gateway_id"], gateway_id="gw 1!")),
    Vector("readings-sequence-zero", "reading_batch", "sequence 0 (sequences start at 1)",
           lambda: _batch_message(["sequence_out_of_window"], sequence=0)),
    Vector("readings-unknown-meter", "reading_batch", "a meter the registry does not list",
           lambda: _batch_message(["unknown_meter"], readings=[_reading(), _reading("X-99", ts=END - STEP)])),
    Vector("readings-meter-mismatch", "reading_batch", "the electricity meter reported in MWh, registered in kWh",
           lambda: _batch_message(["meter_mismatch"], readings=[_reading(unit="MWh")])),
    Vector("readings-negative-interval", "reading_batch", "an interval consumption below zero",
           lambda: _batch_message(["negative_interval_value"], readings=[_reading(value=-1)])),
    Vector("readings-off-grid", "reading_batch", "an interval end one second after the 15-minute grid",
           lambda: _batch_message(["off_grid_reading"], readings=[_reading(ts=END - STEP + 1000)])),
    Vector("readings-future", "reading_batch", "a reading ending two hours after the batch was sent",
           lambda: _batch_message(["future_timestamp"], readings=[_reading(ts=END + 8 * STEP)])),
    Vector("production-valid", "production_output", "a day's crude steel output, signed",
           lambda: _production_message([])),
    Vector("production-bad-signature", "production_output", "signed, then the quantity changed",
           lambda: [Message(codec.encode("production_output", {
               **_production(quantity_milli=1), "signature": signing.unsigned_message(
                   _signed("production_output", _production()), signing.PRODUCTION_OUTPUT_PREFIX)[1]}),
               ["bad_signature"])]),
    Vector("production-negative-quantity", "production_output", "a quantity below zero",
           lambda: _production_message(["negative_quantity"], quantity_milli=-1)),
    Vector("production-unknown-unit", "production_output", "a unit that is no product unit",
           lambda: _production_message(["unknown_product_unit"], unit="barrel")),
    Vector("production-unit-mismatch", "production_output", "crude steel counted in m3 (its standard counts t)",
           lambda: _production_message(["product_unit_mismatch"], unit="m3")),
    Vector("production-period-spans-months", "production_output", "a period from 31 October to 2 November (CST)",
           lambda: _production_message(["invalid_period"], period_end=END + 86_400_000)),
]


def _json_record(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    as_json: dict[str, Any] = json.loads(json.dumps(record, default=lambda b: b.hex(), ensure_ascii=False))
    return as_json


def vector_lines(vector: Vector) -> str:
    """The vector's file: one JSON object per message, in sending order (the format of `ecmon validate`)."""
    lines = []
    for m in vector.messages():
        lines.append(json.dumps({"key": m.key, "value": base64.b64encode(m.value).decode(), "expect": m.expect,
                                 "record": _json_record(m.record)}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def readme() -> str:
    rows = "\n".join(
        f"| `{v.name}.jsonl` | `{v.record_type}` | {v.why} | "
        + " then ".join(", ".join(f"`{r}`" for r in m.expect) or "accepted" for m in v.messages()) + " |"
        for v in VECTORS
    )
    return f"""# Test vectors for gateways

Generated by `python -m ecmon.conformance_vectors`; `tests/unit/ecmon_worker/test_conformance_vectors.py` fails
when these files are stale or when the platform's admission gives another outcome than a vector expects.

Each `*.jsonl` file holds the messages of one case, in sending order, one JSON object per line:
`key` (the Kafka key, UTF-8), `value` (the Kafka message value, base64), `expect` (the reason codes of
the interface standard, section 10, that the platform gives the message; empty: accepted, every reading counts)
and `record` (the message's fields as JSON, bytes in hex; null for a message that is not a valid record).
The enterprise is the interface standard's example enterprise, `registry-record.json` is its registry record,
and every message is signed with the EXAMPLE key of section 13: the platform never accepts it, `ecmon validate`
does (offline only).

Check a vector, or your own messages in the same format (or one raw message per file):

```bash
ecmon validate docs/test-vectors/readings-valid.jsonl --registry-record docs/test-vectors/registry-record.json
```

| file | record type | case | outcome per message |
|---|---|---|---|
{rows}
"""


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for vector in VECTORS:
        path = directory / f"{vector.name}.jsonl"
        path.write_text(vector_lines(vector), encoding="utf-8")
        written.append(path)
    for name, text in (("registry-record.json", json.dumps(registry_record(), indent=2, ensure_ascii=False) + "\n"),
                       ("README.md", readme())):
        (directory / name).write_text(text, encoding="utf-8")
        written.append(directory / name)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR):
        print(p)
