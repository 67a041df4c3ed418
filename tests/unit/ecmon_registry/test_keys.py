"""Rotation, revocation and validity of enterprise keys (producers/ecmon_registry/keys.py), without Kafka."""

import pytest

from ecmon import codec, signing
from ecmon.settings import Settings
from ecmon_registry import keys as rk
from ecmon_simulator.fleet import build_fleet, plan_batches
from ecmon_simulator.production import encode_production, production_records
from ecmon_simulator.runs import encode_batch, registry_values

T0 = 1_790_000_000_000
DAY = rk.DAY_MS


def _entry(key_id: str, valid_from: int = T0) -> dict:
    return rk.new_key_entry(key_id, signing.public_key_raw(signing.generate_private_key()), valid_from)


def test_rotation_overlaps_then_the_old_key_expires():
    keys = [_entry("old")]
    now = T0 + 30 * DAY
    rotated = rk.rotate(keys, "old", _entry("new", 0), now, overlap_ms=7 * DAY)
    record = {"public_keys": rotated}
    assert rotated[1]["valid_from"] == now  # the new key counts from the rotation on, not before
    assert signing.public_key_for(record, "new", now - 1) is None
    for t in (now, now + 7 * DAY - 1):  # during the overlap both keys count
        assert signing.public_key_for(record, "old", t) is not None
        assert signing.public_key_for(record, "new", t) is not None
    assert signing.public_key_for(record, "old", now + 7 * DAY) is None
    assert signing.public_key_for(record, "new", now + 700 * DAY) is not None
    assert keys[0]["valid_until"] is None  # the input list is not changed


def test_rotation_refuses_what_would_extend_or_reuse_a_key():
    keys = [_entry("old")]
    with pytest.raises(rk.KeyOperationError, match="already registered"):
        rk.rotate(keys, "old", _entry("old"), T0 + DAY)
    revoked = rk.revoke(keys, "old", T0 + DAY)
    with pytest.raises(rk.KeyOperationError, match="revoke"):
        rk.rotate(revoked, "old", _entry("new"), T0 + 2 * DAY)
    with pytest.raises(rk.KeyOperationError, match="negative"):
        rk.rotate(keys, "old", _entry("new"), T0 + DAY, overlap_ms=-1)
    # a second rotation inside an overlap never lengthens the first key's validity
    once = rk.rotate(keys, "old", _entry("k2"), T0 + DAY, overlap_ms=7 * DAY)
    twice = rk.rotate(once, "k2", _entry("k3"), T0 + 2 * DAY, overlap_ms=30 * DAY)
    assert twice[0]["valid_until"] == T0 + 8 * DAY and twice[1]["valid_until"] == T0 + 32 * DAY


def test_revocation_takes_effect_at_its_time_and_an_earlier_one_stands():
    keys = rk.revoke([_entry("k1")], "k1", T0 + 5 * DAY)
    record = {"public_keys": keys}
    assert signing.public_key_for(record, "k1", T0 + 5 * DAY - 1) is not None
    assert signing.public_key_for(record, "k1", T0 + 5 * DAY) is None
    assert rk.revoke(keys, "k1", T0 + 9 * DAY)[0]["revoked_at"] == T0 + 5 * DAY
    assert rk.revoke(keys, "k1", T0 + DAY)[0]["revoked_at"] == T0 + DAY
    with pytest.raises(rk.KeyOperationError, match="not registered"):
        rk.revoke(keys, "k9", T0)


def test_after_revoking_the_current_key_the_record_names_a_usable_one():
    keys = rk.rotate([_entry("old")], "old", _entry("new"), T0 + DAY)
    assert rk.signing_key_after_revocation(rk.revoke(keys, "new", T0 + 2 * DAY), "new", T0 + 2 * DAY) == "old"
    assert rk.signing_key_after_revocation(rk.revoke(keys, "old", T0 + 2 * DAY), "new", T0 + 2 * DAY) == "new"


def test_key_ids_and_times():
    assert rk.next_key_id("91350100M000100Y43", [], T0) == "key-91350100M000100Y43-20260921T141320Z"
    taken = rk.next_key_id("U", [], T0)
    assert rk.next_key_id("U", [taken], T0) == taken + "-2"
    assert rk.parse_time("2026-12-06T12:00:00Z") == rk.parse_time("2026-12-06T20:00:00+08:00") == 1_796_558_400_000
    assert rk.parse_time("1796558400000") == 1_796_558_400_000
    with pytest.raises(rk.KeyOperationError, match="ISO 8601"):
        rk.parse_time("yesterday")


def test_the_simulated_fleet_signs_with_keys_its_signed_registry_records_carry(tmp_path):
    settings = Settings(state_dir=tmp_path)
    fleet = build_fleet(2, ("350000",), seed=7)
    authority = signing.public_key_raw(signing.registry_authority(tmp_path))
    values = dict((e.uscc, v) for e, v in registry_values(fleet, T0, 900, tmp_path))
    now = T0 + DAY
    for ent in fleet:
        _, record = codec.decode(values[ent.uscc], expected="enterprise_record")
        assert signing.verify_registry_record(values[ent.uscc], authority)
        batch = next(plan_batches(ent, T0, T0 + DAY, 900, 4))
        raw = encode_batch(batch, now, tmp_path)
        assert signing.signature_problem(raw, record, record["key_id"], now) is None
        # the other enterprise's key does not sign for this one
        other = next(e for e in fleet if e is not ent)
        _, other_record = codec.decode(values[other.uscc], expected="enterprise_record")
        assert signing.signature_problem(raw, other_record, record["key_id"], now) is not None
        key_path = tmp_path / "secrets" / "enterprise-keys" / ent.uscc / f"{ent.key_id}.pem"
        assert key_path.stat().st_mode & 0o077 == 0
    ent, record = production_records(fleet, plan_batches(fleet[0], T0, T0 + DAY, 900, 96), now)[0]
    raw = encode_production(ent, record, tmp_path)
    _, registry = codec.decode(values[ent.uscc], expected="enterprise_record")
    assert signing.signature_problem(raw, registry, registry["key_id"], now, signing.PRODUCTION_OUTPUT_PREFIX) is None
    # a second publication keeps the same keys (the ledger), it does not mint new ones
    again = dict((e.uscc, v) for e, v in registry_values(fleet, T0, 900, tmp_path))
    assert codec.decode(again[fleet[0].uscc])[1]["public_keys"] == codec.decode(values[fleet[0].uscc])[1]["public_keys"]
    assert settings.registry_authority_public_key_path.exists()


def test_operations_need_a_registered_enterprise(tmp_path):
    with pytest.raises(rk.KeyOperationError, match="never registered"):
        rk.registered_record(tmp_path, "91350100M000100Y43")
