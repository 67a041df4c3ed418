"""The worker's admission of gateway messages, offline: what `ecmon validate` and the test vectors run.

A vendor checks a message (or a file of them) without a platform: the same functions as the worker's
agents decide (``admission.admit``, ``enterprise_rollup.apply_batch``,
``production_intake.check_production``), against the enterprise's
registry record from a file (or only its public key), so every finding carries the reason code of
``dead_letters.REASONS`` that the platform would give. Messages of one file are checked in order against
one enterprise state, as the platform would see them the first time: a repeated sequence is
``duplicate_batch``, a repeated reading ``duplicate_reading``.

What only the platform knows is not checked: whether the enterprise is registered (the record given is
taken as registered), the Kafka record time (the message's ``sent_at`` stands in for it, or ``at_ms``), and
what the platform counted before.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmon import codec
from ecmon.dead_letter_reasons import REASONS, Reason
from ecmon.rejection import Rejection
from ecmon_worker import admission, enterprise_rollup
from ecmon_worker.enterprise_state import EnterpriseState, new_state
from ecmon_worker.production_intake import check_production

#: Findings that count the reading anyway (the platform sends them to the dead letters for information).
NOTICES = frozenset({Reason.METER_RESET, Reason.READING_CORRECTED, Reason.DUPLICATE_READING})


@dataclass(frozen=True)
class Finding:
    reason: Reason
    detail: str

    def line(self) -> str:
        return f"{self.reason}: {self.detail} ({REASONS.get(self.reason, 'see the interface standard')})"


@dataclass
class Verdict:
    """One message's outcome: its record type, what the platform would say, how many readings count."""

    kind: str
    label: str  # e.g. "batch 5f0c... (gateway gw-1 sequence 7)"
    findings: list[Finding] = field(default_factory=list)
    counted: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return sorted({f.reason for f in self.findings})

    @property
    def accepted(self) -> bool:
        """Every reading of it counts (notices aside)."""
        return all(f.reason in NOTICES for f in self.findings)


@dataclass
class Enterprise:
    """What the offline check knows of the enterprise: its registry record (or only a key), and its state."""

    record: dict[str, Any]
    meters_known: bool = True
    state: EnterpriseState = field(default_factory=new_state)

    @classmethod
    def from_public_key(cls, uscc: str, key_id: str, public_key: bytes) -> Enterprise:
        key = {"key_id": key_id, "algorithm": "ed25519", "public_key": public_key, "valid_from": 0,
               "valid_until": None, "revoked_at": None}
        return cls({"uscc": uscc, "key_id": key_id, "public_keys": [key], "meters": []}, meters_known=False)


def _meters(enterprise: Enterprise, batch: dict[str, Any]) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    if enterprise.meters_known:
        meters = enterprise.record["meters"]
        return ({m["meter_id"]: (m["energy_type"], m["unit"]) for m in meters},
                {m["meter_id"]: m["interval_s"] * 1000 for m in meters})
    # Without a registry record each meter is taken as its first reading declares it, on a 15-minute grid.
    declared: dict[str, tuple[str, str]] = {}
    for r in batch["readings"]:
        declared.setdefault(r["meter_id"], (r["energy_type"], r["unit"]))
    return declared, {}


def check_reading_batch(value: bytes, key: bytes | None, enterprise: Enterprise, at_ms: int | None = None,
                        example_key_ok: bool = True) -> Verdict:
    record = enterprise.record
    admitted = admission.admit("reading_batch", key, value, lambda uscc: record if uscc == record["uscc"] else None,
                               at_ms, example_key_ok)
    if isinstance(admitted, Rejection):
        return Verdict("reading_batch", "the message", [Finding(admitted.reason, admitted.detail)])
    batch = admitted.message
    label = f"batch {batch['batch_id'][:36]} (gateway {batch['gateway_id'][:64]} sequence {batch['sequence']})"
    verdict = Verdict("reading_batch", label)
    meters, intervals = _meters(enterprise, batch)
    if not enterprise.meters_known:
        verdict.notes.append("no registry record: meters taken as the readings declare them, on a 15-minute grid")
    at = batch["sent_at"] if at_ms is None else at_ms
    outcome = enterprise_rollup.apply_batch(enterprise.state, batch, meters, received_ms=at, intervals=intervals)
    if outcome.duplicate:
        verdict.findings.append(Finding(Reason.DUPLICATE_BATCH, f"{label} was already counted"))
    for rejection in outcome.rejections + outcome.notices:
        verdict.findings.append(Finding(rejection.reason, rejection.detail))
    verdict.counted = outcome.readings_accepted
    return verdict


def check_production_output(value: bytes, key: bytes | None, enterprise: Enterprise, at_ms: int | None = None,
                            example_key_ok: bool = True) -> Verdict:
    record = enterprise.record
    intake = check_production(value, key, lambda uscc: record if uscc == record["uscc"] else None, at_ms,
                              example_key_ok)
    if isinstance(intake, Rejection):
        return Verdict("production_output", "the production output", [Finding(intake.reason, intake.detail)])
    r = intake.record
    return Verdict("production_output", f"production output {r['batch_id']} ({r['product_code']}, "
                   f"{r['quantity_milli'] / 1000:,} {r['unit']}, {intake.month})", counted=1)


def check_message(value: bytes, key: bytes | None, enterprise: Enterprise, at_ms: int | None = None,
                  example_key_ok: bool = True) -> Verdict:
    """The platform's verdict on one message of ``ecmon.readings.v1`` or ``ecmon.production.v1``
    (the record type decides which). ``key`` None: taken to be the USCC inside the message."""
    try:
        kind, record = codec.decode(value, None)
    except codec.CodecError as exc:
        return Verdict("", "the message", [Finding(exc.reason, str(exc))])
    if key is None and isinstance(record.get("uscc"), str):
        key = record["uscc"].encode()
    if kind == "reading_batch":
        return check_reading_batch(value, key, enterprise, at_ms, example_key_ok)
    if kind == "production_output":
        return check_production_output(value, key, enterprise, at_ms, example_key_ok)
    return Verdict(kind, f"a {kind} message", [Finding(Reason.UNEXPECTED_RECORD_TYPE, f"a {kind} message; gateways "
                                                       "send reading_batch (ecmon.readings.v1) or production_output "
                                                       "(ecmon.production.v1)")])


# ------------------------------------------------------------------------------ files


class BadInputFile(ValueError):
    pass


@dataclass(frozen=True)
class FileMessage:
    line: int  # 1-based line of a JSON-lines file; 0 for a raw message file
    key: bytes | None
    value: bytes
    expect: list[str] | None = None  # what a test vector says the outcome is


def read_messages(path: Path) -> list[FileMessage]:
    """A raw message (the file starts with the single-object marker C3 01), or JSON lines of
    ``{"key": "<USCC>", "value": "<base64>"}`` (docs/test-vectors/README.md); other fields are ignored."""
    data = path.read_bytes()
    if data[:2] == codec.MAGIC:
        return [FileMessage(0, None, data)]
    out = []
    for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
            value = base64.b64decode(obj["value"], validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputFile(f"{path}:{number}: not a raw message (C3 01 ...) nor a JSON line "
                               f'{{"key": "<USCC>", "value": "<base64>"}} ({exc})') from None
        key = obj.get("key")
        out.append(FileMessage(number, key.encode() if isinstance(key, str) else None, value, obj.get("expect")))
    if not out:
        raise BadInputFile(f"{path}: no message in it")
    return out


def read_registry_record(path: Path) -> dict[str, Any]:
    """A registry record as published (an encoded EnterpriseRecord), or its JSON with bytes in hex."""
    data = path.read_bytes()
    try:
        if data[:2] == codec.MAGIC:
            return codec.decode(data, "enterprise_record")[1]
        record = json.loads(data)
        for key in record.get("public_keys", []):
            key["public_key"] = bytes.fromhex(key["public_key"])
        for needed in ("uscc", "meters", "public_keys"):
            if needed not in record:
                raise KeyError(needed)
        return dict(record)
    except (codec.CodecError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInputFile(f"{path}: not a registry record (an encoded EnterpriseRecord, or its JSON with "
                           f"uscc, meters and public_keys, keys in hex): {exc}") from None
