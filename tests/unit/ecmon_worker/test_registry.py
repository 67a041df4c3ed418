"""The registry follower without a broker: record checks and authentication, history by valid_from,
tombstones, and the expected intervals month close and the early warning take from it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ecmon import codec, signing
from ecmon.months import month_start_ms
from ecmon_worker import month_close
from ecmon_worker.admission import Rejection
from ecmon_worker.dead_letters import REASONS
from ecmon_worker.registry import RegistryFollower
from ecmon_worker.registry_records import INVALID, MAX_HISTORY, UNSIGNED, RegistryHistory, read_registry_record

AUTHORITY = signing.generate_private_key()
AUTHORITY_PUBLIC = signing.public_key_raw(AUTHORITY)
A, B = "91370102000000019K", "91370102000000027E"
DAY = 86_400_000
OCT, NOV = month_start_ms("2026-10"), month_start_ms("2026-11")
OCT_INTERVALS = 31 * 96  # 15-minute intervals of October


def record(uscc: str = A, *, valid_from: int = OCT, n_meters: int = 2, key_seed: bytes | None = None,
           **changes) -> dict:
    key = (signing.generate_private_key() if key_seed is None
           else signing.Ed25519PrivateKey.from_private_bytes(key_seed))
    out = {"uscc": uscc, "name": "Example Steel", "region_code": "370102", "industry_code": "3110",
           "tier": "NATIONAL_KEY", "key_id": "k1", "valid_from": valid_from,
           "meters": [{"meter_id": f"M{i}", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}
                      for i in range(n_meters)],
           "public_keys": [{"key_id": "k1", "algorithm": "ed25519", "public_key": signing.public_key_raw(key),
                            "valid_from": valid_from, "valid_until": None, "revoked_at": None}],
           "registry_signature": b""}
    out.update(changes)
    return out


def signed(rec: dict, authority=AUTHORITY) -> bytes:
    return codec.encode("enterprise_record", signing.sign_registry_record(rec, authority))


@pytest.fixture
def follower():
    f = RegistryFollower("127.0.0.1:1", authority_public_key=AUTHORITY_PUBLIC)
    yield f
    f._consumer.close()
    f._watermarks.close()


def test_fixture_codes_are_valid():
    from ecmon.uscc import is_valid_uscc

    assert is_valid_uscc(A) and is_valid_uscc(B)


def test_a_signed_valid_record_is_read():
    rec = read_registry_record(A.encode(), signed(record()), AUTHORITY_PUBLIC)
    assert not isinstance(rec, Rejection) and rec["uscc"] == A


def _meter(**changes) -> list[dict]:
    return [{"meter_id": "M0", "energy_type": "electricity", "unit": "kWh", "interval_s": 900, **changes}]


@pytest.mark.parametrize("key, changes, says", [
    (B.encode(), {}, "differs from the record's USCC"),
    (None, {}, "differs from the record's USCC"),
    (b"91370102000000019X", {"uscc": "91370102000000019X"}, "not a valid unified social credit code"),
    (A.encode(), {"region_code": ""}, "six-digit"),
    (A.encode(), {"region_code": "379999"}, "not in GB/T 2260"),
    (A.encode(), {"industry_code": "Z99"}, "not a monitored"),
    (A.encode(), {"name": ""}, "name"),
    (A.encode(), {"meters": []}, "no meters"),
    (A.encode(), {"meters": _meter() * 2}, "listed twice"),
    (A.encode(), {"meters": _meter(meter_id="")}, "1 to 64"),
    (A.encode(), {"meters": _meter(meter_id="M" * 65)}, "1 to 64"),
    (A.encode(), {"meters": _meter(energy_type="plutonium")}, "not known"),
    (A.encode(), {"meters": _meter(unit="m3")}, "cannot measure"),
    (A.encode(), {"meters": _meter(interval_s=0)}, "interval 0"),
    (A.encode(), {"meters": _meter(interval_s=86_401)}, "interval 86401"),
    (A.encode(), {"key_id": "k9"}, "not among the record's own public keys"),
    (A.encode(), {"public_keys": []}, "not among the record's own public keys"),
])
def test_an_invalid_record_is_refused_with_its_reason(key, changes, says):
    rejected = read_registry_record(key, signed(record(**changes)), AUTHORITY_PUBLIC)
    assert isinstance(rejected, Rejection) and rejected.reason == INVALID, rejected
    assert says in rejected.detail
    assert INVALID in REASONS and UNSIGNED in REASONS


def test_malformed_public_keys_are_refused():
    good = record()
    short = {**good["public_keys"][0], "public_key": b"\x01" * 31}
    twice = [good["public_keys"][0], good["public_keys"][0]]
    other_algorithm = {**good["public_keys"][0], "algorithm": "rsa"}
    for keys, says in ((twice, "listed twice"), ([short], "32-byte"), ([other_algorithm], "32-byte")):
        rejected = read_registry_record(A.encode(), signed({**good, "public_keys": keys}), AUTHORITY_PUBLIC)
        assert isinstance(rejected, Rejection) and rejected.reason == INVALID and says in rejected.detail


def test_unsigned_or_foreign_signed_records_are_refused():
    unsigned = read_registry_record(A.encode(), codec.encode("enterprise_record", record()), AUTHORITY_PUBLIC)
    assert isinstance(unsigned, Rejection) and unsigned.reason == UNSIGNED
    forged = read_registry_record(A.encode(), signed(record(), signing.generate_private_key()), AUTHORITY_PUBLIC)
    assert isinstance(forged, Rejection) and forged.reason == UNSIGNED
    v1 = codec.encode("enterprise_record", {k: v for k, v in record().items()
                                            if k not in ("public_keys", "registry_signature")},
                      schema=next(sv for sv in codec.catalog().by_fingerprint.values()
                                  if sv.short_name == "enterprise_record" and sv.version == 1))
    old = read_registry_record(A.encode(), v1, AUTHORITY_PUBLIC)
    assert isinstance(old, Rejection) and old.reason in (INVALID, UNSIGNED)


@pytest.mark.parametrize("value", [b"", b"\x00", b"\xc3\x01" + b"\xff" * 20, b"garbage" * 100])
def test_undecodable_values_are_refused_not_raised(value):
    rejected = read_registry_record(A.encode(), value, AUTHORITY_PUBLIC)
    assert isinstance(rejected, Rejection) and rejected.reason in REASONS


def test_a_refused_record_changes_nothing(follower):
    assert follower._apply(A.encode(), signed(record()), OCT) is None
    before = follower.current(A)
    problem = follower._apply(A.encode(), signed(record(region_code="", valid_from=OCT + 5 * DAY)), OCT + 5 * DAY)
    assert problem is not None and problem.reason == INVALID
    assert follower.current(A) is before and follower.enterprises[A] is before
    assert follower.record_at(A, OCT + 20 * DAY) is before


def test_a_key_id_of_another_enterprise_is_refused(follower):
    assert follower._apply(B.encode(), signed(record(B, key_id="k-of-B",
                                                     public_keys=[{**record()["public_keys"][0], "key_id": "k-of-B"}])),
                           OCT) is None
    problem = follower._apply(A.encode(), signed(record(key_id="k-of-B")), OCT)
    assert problem is not None and problem.reason == INVALID and "own public keys" in problem.detail
    assert follower.current(A) is None and A not in follower.meters


def test_the_outcome_does_not_depend_on_the_order_partitions_are_read(follower):
    """A worker reads the registry's partitions in any interleaving on every start."""
    seed = b"\x07" * 32
    records = [(A.encode(), signed(record(key_seed=seed)), OCT), (B.encode(), signed(record(B, key_seed=seed)), OCT),
               (A.encode(), signed(record(key_seed=seed, valid_from=NOV)), NOV)]
    first = [follower._apply(*r) for r in records]
    other = RegistryFollower("127.0.0.1:1", authority_public_key=AUTHORITY_PUBLIC)
    try:
        # the records of one USCC share a partition (keyed by USCC), so only other enterprises interleave
        second = [other._apply(*r) for r in (records[1], records[0], records[2])]
        assert first == [None, None, None] and second == [None, None, None]
        assert other.history.entries == follower.history.entries
    finally:
        other._consumer.close()
        other._watermarks.close()


@pytest.mark.parametrize("code, ok", [("3110", True), ("31", True), ("3412", True), ("3499", True),
                                      ("C31", False), ("9999", False), ("", False), ("34120", False)])
def test_industry_codes_of_monitored_divisions(code, ok):
    rejected = read_registry_record(A.encode(), signed(record(industry_code=code)), AUTHORITY_PUBLIC)
    assert isinstance(rejected, Rejection) != ok, rejected


def test_tombstones_remove_from_their_time_on_and_never_crash(follower):
    assert follower._apply(A.encode(), signed(record()), OCT) is None
    removed_at = NOV + 10 * DAY
    assert follower._apply(A.encode(), None, removed_at) is None
    assert follower.current(A) is None and A not in follower.enterprises and A not in follower.meters
    assert follower.record_at(A, NOV + DAY)["uscc"] == A and follower.record_at(A, removed_at) is None
    assert follower.expected_for(record(), "2026-10") == 2 * OCT_INTERVALS  # October unchanged
    assert follower.expected_for(record(), "2026-11") == 2 * 10 * 96  # November until the removal
    assert [r["uscc"] for r in follower.enterprises_in("370000", "2026-10")] == [A]
    assert follower.enterprises_in("370000") == [] and follower.enterprises_in("370000", "2026-12") == []
    for key in (None, b"", b"\xff\xfe", B.encode(), A.encode()):  # unknown, undecodable, repeated
        assert follower._apply(key, None, removed_at + DAY) is None
    # registered again: from its new valid_from, never back into the time it was removed
    assert follower._apply(A.encode(), signed(record(valid_from=OCT + DAY)), removed_at + 2 * DAY) is None
    assert follower.record_at(A, removed_at + DAY) is None
    assert follower.current(A) is not None and follower.expected_for(record(), "2026-10") == 2 * OCT_INTERVALS


def _october(received: int) -> dict:
    return {"totals": {}, "members": {f"{A}|electricity|kWh|2026-10": [0, 1000, received, 1]}}


def test_a_mid_month_re_registration_keeps_the_month_whole_and_at_most_complete(follower):
    """The issue's finding: re-publishing with a later valid_from made the month 109.66 % complete."""
    assert follower._apply(A.encode(), signed(record(n_meters=2)), OCT) is None
    full = month_close.report_content({"2026-10": _october(2 * OCT_INTERVALS)}.get, "370000", "2026-10", follower)
    assert full["completeness"] == {"received": 2 * OCT_INTERVALS, "expected": 2 * OCT_INTERVALS, "ratio_bp": 10000}
    # same enterprise re-registered mid-October with a third meter
    mid = OCT + 16 * DAY
    assert follower._apply(A.encode(), signed(record(n_meters=3, valid_from=mid)), mid) is None
    report = month_close.report_content({"2026-10": _october(2 * OCT_INTERVALS)}.get, "370000", "2026-10", follower)
    expected = 2 * OCT_INTERVALS + 15 * 96
    assert report["completeness"]["expected"] == expected
    assert report["completeness"]["ratio_bp"] <= 10000
    assert follower.meters[A].keys() == {"M0", "M1", "M2"}  # admission: the newest record
    assert follower.record_at(A, mid - 1)["meters"] == record(n_meters=2)["meters"]
    # re-registered again after the month: October stays as it was, and the enterprise is still in it
    assert follower._apply(A.encode(), signed(record(n_meters=1, valid_from=NOV + 5 * DAY)), NOV + 5 * DAY) is None
    again = month_close.report_content({"2026-10": _october(expected)}.get, "370000", "2026-10", follower)
    assert again["completeness"] == {"received": expected, "expected": expected, "ratio_bp": 10000}
    [ent] = again["enterprises"]
    assert ent["uscc"] == A and ent["completeness"]["expected"] == expected > 0


def test_completeness_never_exceeds_the_expected_intervals(follower):
    """Readings beyond the registration (a meter claimed for the whole month) count in the totals only."""
    assert follower._apply(A.encode(), signed(record(n_meters=1, valid_from=OCT + 10 * DAY)), OCT) is None
    report = month_close.report_content({"2026-10": _october(OCT_INTERVALS)}.get, "370000", "2026-10", follower)
    assert report["completeness"]["expected"] == 21 * 96
    assert report["completeness"]["received"] == 21 * 96 and report["completeness"]["ratio_bp"] == 10000
    assert report["enterprises"][0]["coal_mgce"] == 1000


def test_expected_readings_of_the_early_warning_use_the_history(follower):
    assert follower._apply(A.encode(), signed(record(n_meters=2)), OCT) is None
    assert follower.expected_readings("370000", "2026-10") == 2 * OCT_INTERVALS
    assert follower._apply(A.encode(), signed(record(n_meters=2, valid_from=NOV)), NOV) is None
    assert follower.expected_readings("370000", "2026-10") == 2 * OCT_INTERVALS
    assert follower.expected_readings("210000", "2026-10") == 0


def test_history_is_ordered_by_valid_from_and_a_same_start_replaces():
    h = RegistryHistory()
    later, earlier = record(valid_from=OCT + 10 * DAY, name="Later"), record(valid_from=OCT, name="Earlier")
    h.add(later)
    h.add(earlier)  # arrives second, in force first
    assert h.current(A)["name"] == "Later" and h.record_at(A, OCT + DAY)["name"] == "Earlier"
    assert h.record_at(A, OCT - 1) is None
    h.add(record(valid_from=OCT, name="Corrected"))
    assert [r["name"] for _, r in h.entries[A]] == ["Corrected", "Later"]


def test_history_is_bounded_by_count_and_horizon():
    h = RegistryHistory(horizon_ms=100 * DAY)
    for i in range(MAX_HISTORY + 10):
        h.add(record(valid_from=OCT + i * 3600_000, name=f"v{i}"))
    assert len(h.entries[A]) == MAX_HISTORY and h.current(A)["name"] == f"v{MAX_HISTORY + 9}"
    h.add(record(valid_from=OCT + 400 * DAY, name="much later"))
    # what was in force at the horizon (100 days back) is kept, older entries are dropped
    assert [r["name"] for _, r in h.entries[A]] == [f"v{MAX_HISTORY + 9}", "much later"]
    h.remove(A, OCT + 401 * DAY)
    h.remove(A, OCT + 600 * DAY)  # a second removal changes nothing, and the history ends in the horizon
    assert A not in h.entries


_VALID = signed(record())


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.none(), st.binary(max_size=40), st.just(A.encode())),
       value=st.one_of(st.none(), st.binary(max_size=300),
                       st.binary(max_size=40).map(lambda tail: _VALID[:len(_VALID) // 2] + tail),
                       st.integers(0, len(_VALID) - 1).map(
                           lambda i: _VALID[:i] + bytes([_VALID[i] ^ 0x55]) + _VALID[i + 1:])),
       at=st.integers(-1, 2**62))
def test_the_follower_survives_any_key_and_value(follower, key, value, at):
    problem = follower._apply(key, value, at)
    assert problem is None or problem.reason in REASONS
    assert all(r["uscc"] == u for u, r in follower.enterprises.items())


# -- replay of an older signed record (issued_at) ------------------------------------------------------------


def test_a_replayed_older_record_cannot_undo_a_revocation(follower):
    """Review defect D: a revocation keeps the key's valid_from, so the pre-revocation record (same valid_from,
    validly signed) used to replace it and bring the revoked key back."""
    before = record(key_seed=b"\x05" * 32)
    old_value = signed(before)
    assert follower._apply(A.encode(), old_value, OCT) is None
    revoked = {**before, "public_keys": [{**before["public_keys"][0], "revoked_at": OCT + DAY}]}
    assert follower._apply(A.encode(), signed(revoked), OCT + DAY) is None
    problem = follower._apply(A.encode(), old_value, OCT + 2 * DAY)
    assert problem is not None and problem.reason == "stale_registry_record" and problem.reason in REASONS
    assert follower.current(A)["public_keys"][0]["revoked_at"] == OCT + DAY
    assert signing.public_key_for(follower.current(A), "k1", OCT + 3 * DAY) is None


def test_a_record_is_stale_unless_issued_after_the_newest_accepted(follower):
    assert follower._apply(A.encode(), codec.encode("enterprise_record", signing.sign_registry_record(
        record(), AUTHORITY, issued_at=1_000)), OCT) is None
    for issued_at in (999, 1_000):  # older, and the same record sent again
        problem = follower._apply(A.encode(), codec.encode("enterprise_record", signing.sign_registry_record(
            record(valid_from=NOV), AUTHORITY, issued_at=issued_at)), NOV)
        assert problem is not None and problem.reason == "stale_registry_record"
    assert follower.current(A)["valid_from"] == OCT
    assert follower._apply(A.encode(), codec.encode("enterprise_record", signing.sign_registry_record(
        record(valid_from=NOV), AUTHORITY, issued_at=1_001)), NOV) is None
    assert follower.current(A)["valid_from"] == NOV


def test_issued_at_is_covered_by_the_signature():
    value = signing.sign_registry_record(record(), AUTHORITY, issued_at=5_000)
    assert signing.verify_registry_record(value, AUTHORITY_PUBLIC)
    assert not signing.verify_registry_record({**value, "issued_at": 9_000}, AUTHORITY_PUBLIC)


def test_records_signed_in_one_millisecond_are_still_ordered():
    first, second = (signing.sign_registry_record(record(), AUTHORITY) for _ in range(2))
    assert second["issued_at"] > first["issued_at"] > 0


def test_a_stale_record_stays_stale_after_a_removal(follower):
    old_value = signed(record())
    assert follower._apply(A.encode(), old_value, OCT) is None
    assert follower._apply(A.encode(), None, OCT + DAY) is None  # tombstone (ACL-protected, no issued_at)
    problem = follower._apply(A.encode(), old_value, OCT + 2 * DAY)
    assert problem is not None and problem.reason == "stale_registry_record" and follower.current(A) is None


def test_the_follower_holds_meters_compactly_and_reads_them_as_the_record_gave_them(follower):
    from ecmon_worker.registry_records import RegisteredMeter

    assert follower._apply(A.encode(), signed(record(A, n_meters=3)), OCT) is None
    assert follower._apply(B.encode(), signed(record(B, n_meters=2)), OCT) is None
    meters = follower.enterprises[A]["meters"]
    assert all(isinstance(m, RegisteredMeter) for m in meters)
    assert meters == record(A, n_meters=3)["meters"]  # equal to the decoded dicts, field by field
    assert meters[1]["meter_id"] == "M1" and meters[1]["interval_s"] == 900 and dict(meters[1]) == {
        "meter_id": "M1", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}
    with pytest.raises(KeyError):
        meters[0]["public_key"]
    # one object per repeated value across enterprises: a million meters share a handful of them
    other = follower.enterprises[B]["meters"][0]
    assert other.energy_type is meters[0].energy_type and other.unit is meters[0].unit
    assert other.interval_s is meters[0].interval_s
    assert follower.meters[A]["M0"] is follower.meters[B]["M1"] == ("electricity", "kWh")
    assert follower.expected_for(follower.enterprises[A], "2026-10") == 3 * OCT_INTERVALS


def test_a_registered_meter_holds_every_field_of_the_schema():
    """A meter field added to the enterprise record would otherwise be dropped by the follower without a word."""
    import json
    from pathlib import Path

    from ecmon import PROJECT_ROOT
    from ecmon_worker.registry_records import RegisteredMeter

    for schema in sorted(Path(PROJECT_ROOT, "avro").glob("v*/enterprise_record.avsc")):
        meters = next(f for f in json.loads(schema.read_text())["fields"] if f["name"] == "meters")
        assert [f["name"] for f in meters["type"]["items"]["fields"]] == list(RegisteredMeter.__slots__), schema
