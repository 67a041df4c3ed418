import os
import stat
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecmon import PROJECT_ROOT, codec, interface_example, signing
from ecmon.settings import Settings

T0 = 1_790_000_000_000
DAY = 86_400_000


@given(st.text(max_size=30), st.integers(1, 2**40), st.binary(max_size=64))
def test_unsigned_message_equals_encoding_with_empty_signature(gateway, sequence, signature):
    record = {
        "uscc": "91350100M000100Y43", "gateway_id": gateway, "batch_id": str(uuid.uuid4()), "sequence": sequence,
        "sent_at": 1_790_000_000_000, "key_id": "key-1", "signature": b"", "readings": [],
    }
    unsigned = codec.encode("reading_batch", record)
    signed = codec.encode("reading_batch", {**record, "signature": signature})
    assert signing.unsigned_message(signed) == (unsigned, signature)


def test_signature_from_another_key_does_not_verify():
    body = b"batch"
    a, b = signing.generate_private_key(), signing.generate_private_key()
    signature = signing.sign(body, a)
    assert len(signature) == signing.SIGNATURE_LEN
    assert signing.verify(body, signing.public_key_raw(a), signature)
    assert not signing.verify(body, signing.public_key_raw(b), signature)
    assert not signing.verify(body + b"!", signing.public_key_raw(a), signature)
    assert not signing.verify(body, signing.public_key_raw(a), signature[:-1])  # wrong length
    assert not signing.verify(body, b"\x00" * 31, signature)


def test_nothing_in_the_repository_signs_with_a_shared_secret():
    # The HMAC scheme (one master secret, in the repository, deriving every enterprise's key) is gone.
    source = (PROJECT_ROOT / "ecmon" / "signing.py").read_text()
    assert "hmac" not in source.lower() and not hasattr(signing, "enterprise_key")
    assert not hasattr(signing, "TEST_SECRET")


def _record(*keys: dict, key_id: str = "k1") -> dict:
    return {"uscc": "91350100M000100Y43", "key_id": key_id, "public_keys": list(keys)}


def _key(key_id: str, valid_from: int = T0, valid_until: int | None = None, revoked_at: int | None = None,
         public: bytes | None = None) -> dict:
    return {"key_id": key_id, "algorithm": "ed25519",
            "public_key": public or signing.public_key_raw(signing.generate_private_key()),
            "valid_from": valid_from, "valid_until": valid_until, "revoked_at": revoked_at}


def test_public_key_for_honours_validity_and_revocation():
    k1 = _key("k1", valid_from=T0, valid_until=T0 + 10 * DAY, revoked_at=T0 + 5 * DAY)
    record = _record(k1)
    assert signing.public_key_for(record, "k1", T0 - 1) is None  # before valid_from
    assert signing.public_key_for(record, "k1", T0) == k1["public_key"]  # valid_from is inclusive
    assert signing.public_key_for(record, "k1", T0 + 5 * DAY - 1) == k1["public_key"]
    assert signing.public_key_for(record, "k1", T0 + 5 * DAY) is None  # revoked_at <= t
    assert "revoked at" in signing.key_problem(record, "k1", T0 + 5 * DAY)
    k2 = _key("k2", valid_until=T0 + DAY)
    record = _record(k2, key_id="k2")
    assert signing.public_key_for(record, "k2", T0 + DAY - 1) == k2["public_key"]
    assert signing.public_key_for(record, "k2", T0 + DAY) is None  # valid_until is exclusive
    assert "not valid at" in signing.key_problem(record, "k2", T0 + DAY)
    assert signing.public_key_for(record, "k-other", T0) is None
    assert signing.public_key_for({"uscc": "x", "key_id": "k"}, "k", T0) is None  # a v1 record has no keys


def test_only_32_byte_ed25519_keys_count():
    assert signing.public_key_for(_record({**_key("k1"), "algorithm": "hmac-sha256"}), "k1", T0) is None
    assert signing.public_key_for(_record(_key("k1", public=b"\x01" * 31)), "k1", T0) is None


def test_the_example_key_is_never_accepted_even_if_registered():
    record = _record(_key("k1", public=signing.EXAMPLE_PUBLIC_KEY))
    assert signing.public_key_for(record, "k1", T0) is None
    data = interface_example.example_message()
    record = _record(_key(interface_example.KEY_ID, public=signing.EXAMPLE_PUBLIC_KEY), key_id=interface_example.KEY_ID)
    assert "example key" in signing.signature_problem(data, record, interface_example.KEY_ID, T0)


def _batch(private_key, key_id: str) -> bytes:
    record = {"uscc": "91350100M000100Y43", "gateway_id": "gw-1", "batch_id": str(uuid.uuid4()), "sequence": 1,
              "sent_at": T0, "key_id": key_id, "signature": b"", "readings": []}
    unsigned = codec.encode("reading_batch", record)
    return codec.encode("reading_batch", {**record, "signature": signing.sign(unsigned, private_key)})


def test_signature_problem_names_the_key():
    private = signing.generate_private_key()
    record = _record(_key("k1", public=signing.public_key_raw(private)))
    assert signing.signature_problem(_batch(private, "k1"), record, "k1", T0) is None
    other = signing.generate_private_key()
    assert signing.signature_problem(_batch(other, "k1"), record, "k1", T0) == "signature does not verify with key k1"
    assert "not among" in signing.signature_problem(_batch(private, "k9"), record, "k9", T0)


def test_enterprise_key_files_are_private_and_stable(tmp_path):
    store = signing.EnterpriseKeys(tmp_path / "secrets" / "enterprise-keys")
    key = store.private_key("91350100M000100Y43", "key-a")
    path = store.path("91350100M000100Y43", "key-a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for made in (store.root, store.root.parent):  # every directory it made, not only the last
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PEM PKCS#8
    again = signing.EnterpriseKeys(store.root).private_key("91350100M000100Y43", "key-a")
    assert signing.public_key_raw(again) == signing.public_key_raw(key)
    with pytest.raises(FileExistsError):
        store.create("91350100M000100Y43", "key-a")  # a key id names one key for good
    assert store.current_key_id("91350100M000100Y43", "key-a") == "key-a"
    store.create("91350100M000100Y43", "key-b")
    store.set_current("91350100M000100Y43", "key-b")
    assert store.current_key_id("91350100M000100Y43", "key-a") == "key-b"
    assert store.key_ids("91350100M000100Y43") == ["key-a", "key-b"]
    with pytest.raises(ValueError):
        store.path("../etc", "passwd")


def _registry_record() -> dict:
    return {"uscc": "91350100M000100Y43", "name": "x", "region_code": "350100", "industry_code": "3011",
            "tier": "NATIONAL_KEY", "key_id": "k1", "meters": [], "valid_from": T0, "public_keys": [_key("k1")],
            "registry_signature": b""}


def test_registry_records_verify_only_with_the_authority_key(tmp_path):
    authority = signing.registry_authority(tmp_path)
    assert stat.S_IMODE(signing.authority_key_path(tmp_path).stat().st_mode) == 0o600
    public = signing.registry_authority_public_key(Settings(state_dir=tmp_path))
    assert public == signing.public_key_raw(authority)
    signed = signing.sign_registry_record(_registry_record(), authority)
    assert len(signed["registry_signature"]) == 64
    assert signing.verify_registry_record(signed, public)
    assert signing.verify_registry_record(codec.encode("enterprise_record", signed), public)
    # any change of a signed field, a key in particular, breaks the signature
    forged = {**signed, "public_keys": [_key("k1")]}
    assert not signing.verify_registry_record(forged, public)
    assert not signing.verify_registry_record({**signed, "region_code": "110100"}, public)
    assert not signing.verify_registry_record(_registry_record(), public)  # unsigned
    other = signing.sign_registry_record(_registry_record(), signing.generate_private_key())
    assert not signing.verify_registry_record(other, public)
    assert not signing.verify_registry_record(b"\xc3\x01garbage", public)


def test_a_v1_registry_record_has_no_authority_signature(tmp_path):
    v1 = next(sv for sv in codec.catalog().by_fingerprint.values()
              if sv.short_name == "enterprise_record" and sv.version == 1)
    data = codec.encode("enterprise_record", _registry_record(), schema=v1)
    assert not signing.verify_registry_record(data, signing.public_key_raw(signing.registry_authority(tmp_path)))


def test_missing_authority_key_is_one_clear_line(tmp_path):
    with pytest.raises(signing.MissingAuthorityKey, match="ecmon stack up") as exc:
        signing.registry_authority_public_key(Settings(state_dir=tmp_path))
    assert "\n" not in str(exc.value)
    with pytest.raises(signing.MissingAuthorityKey, match="64 hex digits"):
        signing.registry_authority_public_key(Settings(state_dir=tmp_path, registry_authority_public_key="abc"))
    raw = signing.public_key_raw(signing.generate_private_key())
    assert signing.registry_authority_public_key(Settings(state_dir=tmp_path,
                                                          registry_authority_public_key=raw.hex())) == raw


def test_ensure_registry_authority_makes_the_local_pair_once(tmp_path):
    settings = Settings(state_dir=tmp_path)
    signing.ensure_registry_authority(settings)
    first = signing.registry_authority_public_key(settings)
    signing.ensure_registry_authority(settings)
    assert signing.registry_authority_public_key(settings) == first
    assert os.stat(tmp_path / "secrets").st_mode & 0o077 == 0
