"""The registry operator's side of enterprise keys: which public keys a registry record lists, rotation, revocation.

The registry record is the only way a public key reaches the platform, and the registry authority
signs every record it publishes. The local registry operator (the simulator, the demo and the
``ecmon keys`` commands) keeps the last record it published for each enterprise in one JSON file,
``<state_dir>/registry/enterprises.json`` (public keys only; nothing in it signs), so that a
simulator run after a rotation publishes the rotated keys rather than the first ones again.

The rules (interface standard, section 4): a key counts for signatures made at Kafka record time
t when ``valid_from <= t < valid_until`` (``valid_until`` null: open-ended) and it is not revoked
at t (``revoked_at`` null or later than t). A rotation adds a new key valid from now and ends the
old key's validity after an overlap, so gateways can switch over without a batch being refused.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ecmon import signing
from ecmon.settings import Settings

DAY_MS = 86_400_000
DEFAULT_OVERLAP_MS = 7 * DAY_MS


class KeyOperationError(ValueError):
    """An operation the key list does not allow (one line, naming the problem and the fix)."""


def new_key_entry(key_id: str, public_key: bytes, valid_from_ms: int, valid_until_ms: int | None = None) -> dict:
    signing.check_key_id(key_id)
    if len(public_key) != signing.PUBLIC_KEY_LEN:
        raise KeyOperationError(f"key {key_id}: an Ed25519 public key has {signing.PUBLIC_KEY_LEN} bytes")
    return {"key_id": key_id, "algorithm": signing.ALGORITHM, "public_key": public_key,
            "valid_from": valid_from_ms, "valid_until": valid_until_ms, "revoked_at": None}


def next_key_id(uscc: str, existing: list[str], now_ms: int) -> str:
    """A fresh key id: ``key-<uscc>-<UTC date and time>``, with a suffix if that is taken."""
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
    key_id, n = f"key-{uscc}-{stamp}", 1
    while key_id in existing:
        n += 1
        key_id = f"key-{uscc}-{stamp}-{n}"
    return key_id


def rotate(keys: list[dict], current_key_id: str, new_entry: dict, now_ms: int,
           overlap_ms: int = DEFAULT_OVERLAP_MS) -> list[dict]:
    """The key list after a rotation: the new key valid from ``now_ms``, the current key until ``now + overlap``.

    Both keys count during the overlap. The current key must be valid now: a revoked or expired key
    is replaced by registering a new one, not by a rotation that would extend it.
    """
    if overlap_ms < 0:
        raise KeyOperationError("the rotation overlap cannot be negative")
    if any(k["key_id"] == new_entry["key_id"] for k in keys):
        raise KeyOperationError(f"key {new_entry['key_id']} is already registered; a key id names one key for good")
    problem = signing.key_problem({"public_keys": keys}, current_key_id, now_ms)
    if problem is not None:
        raise KeyOperationError(f"cannot rotate: {problem}; revoke it and register a new key instead")
    out = []
    for k in keys:
        if k["key_id"] == current_key_id:
            until = now_ms + overlap_ms
            k = {**k, "valid_until": until if k["valid_until"] is None else min(k["valid_until"], until)}
        out.append(k)
    return [*out, {**new_entry, "valid_from": now_ms}]


def revoke(keys: list[dict], key_id: str, at_ms: int) -> list[dict]:
    """The key list with ``key_id`` revoked from ``at_ms`` on (an earlier revocation stands)."""
    if not any(k["key_id"] == key_id for k in keys):
        raise KeyOperationError(f"key {key_id} is not registered; `ecmon keys list USCC` shows the enterprise's keys")
    return [{**k, "revoked_at": at_ms if k["revoked_at"] is None else min(k["revoked_at"], at_ms)}
            if k["key_id"] == key_id else k for k in keys]


def signing_key_after_revocation(keys: list[dict], current_key_id: str, at_ms: int) -> str:
    """The key id the record names after a revocation: the current one, or the newest key still usable."""
    if signing.key_problem({"public_keys": keys}, current_key_id, at_ms) is None:
        return current_key_id
    usable = [k for k in keys if signing.key_problem({"public_keys": keys}, k["key_id"], at_ms) is None]
    if not usable:
        return current_key_id  # nothing usable: the enterprise must register a new key (`ecmon keys rotate`)
    return max(usable, key=lambda k: k["valid_from"])["key_id"]


# ------------------------------------------------------------------------------ the local registry ledger


def _to_json(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k != "registry_signature"}
    out["public_keys"] = [{**k, "public_key": k["public_key"].hex()} for k in record.get("public_keys", [])]
    return out


def _from_json(raw: dict) -> dict:
    return {**raw, "public_keys": [{**k, "public_key": bytes.fromhex(k["public_key"])} for k in raw["public_keys"]],
            "registry_signature": b""}


@dataclass
class RegistryLedger:
    """The last registry record this registry operator published for each enterprise (unsigned).

    The registry role writes the registry topic but may not read it (ecmon/principals.py), so the
    operator's commands start from this copy: ``{uscc: record}`` in one JSON file, public keys in hex.
    """

    path: Path

    def load(self) -> dict[str, dict]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {uscc: _from_json(r) for uscc, r in raw.items()}

    def save(self, records: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")  # gateways of a chaos run publish concurrently
        tmp.write_text(json.dumps({u: _to_json(r) for u, r in sorted(records.items())}, indent=1))
        tmp.replace(self.path)


def registry_ledger(state_dir: Path) -> RegistryLedger:
    return RegistryLedger(state_dir / "registry" / "enterprises.json")


def first_keys(state_dir: Path, uscc: str, first_key_id: str, valid_from_ms: int) -> tuple[str, list[dict]]:
    """An enterprise's first key (generated on first use in its key store), valid from its registration
    and never from later than now, so the batches its gateway sends now count."""
    public = signing.enterprise_keys(state_dir).public_key(uscc, first_key_id)
    return first_key_id, [new_key_entry(first_key_id, public, min(valid_from_ms, int(time.time() * 1000)))]


# ------------------------------------------------------------------------------ operations (`ecmon keys`)


def parse_time(text: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (UTC unless it names its offset), as epoch milliseconds."""
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KeyOperationError(f"{text!r} is not a time: give ISO 8601 (2026-12-06T12:00:00Z) or epoch ms") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def registered_record(state_dir: Path, uscc: str) -> dict:
    record = registry_ledger(state_dir).load().get(uscc)
    if record is None:
        raise KeyOperationError(f"{uscc} was never registered by the registry of {state_dir}; register it first "
                                "(`ecmon demo` or `ecmon gateway` publish the simulated fleet)")
    return record


def publish_record(settings: Settings, record: dict) -> None:
    """Sign ``record`` as the registry authority, publish it under the registry role, keep it in the ledger."""
    from ecmon import codec, topics
    from ecmon.kafka_clients import client_config
    from ecmon_gateway.delivery import BatchProducer

    signed = signing.sign_registry_record(record, signing.registry_authority(settings.state_dir))
    producer = BatchProducer(client_config(settings, "registry"), client_id="ecmon-registry-keys")
    producer.send(topics.REGISTRY.name, record["uscc"].encode(), codec.encode("enterprise_record", signed))
    producer.flush(30.0)  # raises DeliveryFailed: nothing is recorded as published that Kafka does not have
    ledger = registry_ledger(settings.state_dir)
    records = ledger.load()
    records[record["uscc"]] = {**record, "registry_signature": b""}
    ledger.save(records)


def rotate_enterprise(settings: Settings, uscc: str, overlap_ms: int = DEFAULT_OVERLAP_MS,
                      public_key: bytes | None = None, key_id: str | None = None,
                      now_ms: int | None = None) -> dict:
    """Register a new key for ``uscc`` and make it the one the record names; the old key stays valid for
    the overlap. Without ``public_key`` the enterprise's key store (the simulator's) generates the key
    pair and its gateway switches to it once the record is published."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    record = registered_record(settings.state_dir, uscc)
    store = signing.enterprise_keys(settings.state_dir)
    key_id = key_id or next_key_id(uscc, [k["key_id"] for k in record["public_keys"]] + store.key_ids(uscc), now_ms)
    keys = rotate(record["public_keys"], record["key_id"],
                  new_key_entry(key_id, public_key or b"\0" * signing.PUBLIC_KEY_LEN, now_ms), now_ms, overlap_ms)
    if public_key is None:
        keys[-1]["public_key"] = signing.public_key_raw(store.create(uscc, key_id))
    record = {**record, "key_id": key_id, "public_keys": keys}
    publish_record(settings, record)
    if public_key is None:
        store.set_current(uscc, key_id)  # only after the broker has the record that names the key
    return record


def revoke_enterprise(settings: Settings, uscc: str, key_id: str, at_ms: int | None = None) -> dict:
    """Revoke ``key_id`` of ``uscc`` from ``at_ms`` (default: now): its signatures no longer count from then on."""
    at_ms = int(time.time() * 1000) if at_ms is None else at_ms
    record = registered_record(settings.state_dir, uscc)
    keys = revoke(record["public_keys"], key_id, at_ms)
    now_ms = max(at_ms, int(time.time() * 1000))
    record = {**record, "public_keys": keys, "key_id": signing_key_after_revocation(keys, record["key_id"], now_ms)}
    publish_record(settings, record)
    store = signing.enterprise_keys(settings.state_dir)
    if record["key_id"] != key_id and store.current_key_id(uscc, "") == key_id:
        store.set_current(uscc, record["key_id"])
    return record
