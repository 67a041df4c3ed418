import uuid

import pytest

from ecmon import codec, signing
from ecmon.months import month_start_ms
from ecmon.rejection import Rejection
from ecmon_registry.keys import first_keys, revoke
from ecmon_simulator.fleet import build_fleet, registry_record
from ecmon_simulator.production import encode_production as encode_with_state
from ecmon_worker.dead_letters import REASONS
from ecmon_worker.production_intake import AcceptedProduction, accepted_message, check_production

DAY = 86_400_000


STATE = {}


def encode_production(ent, rec):
    """Signed with the enterprise's own key, made for this module in a temporary state directory."""
    return encode_with_state(ent, rec, STATE["dir"])


@pytest.fixture(scope="module")
def cement(tmp_path_factory):
    STATE["dir"] = tmp_path_factory.mktemp("state")
    fleet = build_fleet(6, ("370000",), seed=7)
    ent = next(e for e in fleet if e.industry_code == "3011")
    key_id, keys = first_keys(STATE["dir"], ent.uscc, ent.key_id, 0)
    return ent, registry_record(ent, 0, 900, key_id, keys)


def record(ent, **changes) -> dict:
    start = month_start_ms("2026-10") + 4 * DAY
    base = {"uscc": ent.uscc, "gateway_id": ent.gateway_id, "batch_id": str(uuid.uuid4()), "sent_at": start + DAY,
            "key_id": ent.key_id, "signature": b"", "product_code": "3101010000", "product_name": "clinker",
            "quantity_milli": 5_000_000, "unit": "t", "period_start": start, "period_end": start + DAY}
    return {**base, **changes}


def check(ent, registry, raw=None, key=None, **changes):
    raw = raw if raw is not None else encode_production(ent, record(ent, **changes))
    return check_production(raw, ent.uscc.encode() if key is None else key, {registry["uscc"]: registry}.get)


def test_a_signed_figure_of_a_registered_enterprise_is_accepted_with_its_month_and_standard(cement):
    ent, registry = cement
    out = check(ent, registry)
    assert isinstance(out, AcceptedProduction)
    assert out.month == "2026-10" and out.standard.number == "GB 16780-2021"
    _, again = codec.decode(accepted_message(out), expected="production_output")
    assert again == out.record


def test_a_product_without_standard_is_accepted_without_one(cement):
    ent, registry = cement
    out = check(ent, registry, product_code="3412000000", unit="piece")
    assert isinstance(out, AcceptedProduction) and out.standard is None


@pytest.mark.parametrize("changes, reason", [
    ({"quantity_milli": -1}, "negative_quantity"),
    ({"unit": "bags"}, "unknown_product_unit"),
    ({"unit": "piece"}, "product_unit_mismatch"),
    ({"period_end": month_start_ms("2026-10")}, "invalid_period"),
    ({"period_end": month_start_ms("2026-11") + DAY}, "invalid_period"),
    ({"uscc": "91370100MA0000001A"}, "invalid_uscc"),
])
def test_bad_figures_are_rejected_with_a_known_reason(cement, changes, reason):
    ent, registry = cement
    out = check(ent, registry, key=changes.get("uscc", ent.uscc).encode(), **changes)
    assert isinstance(out, Rejection) and out.reason == reason, out
    assert reason in REASONS


def test_identity_and_signature_are_checked_like_reading_batches(cement):
    ent, registry = cement
    assert check(ent, registry, key=b"other").reason == "key_mismatch"
    assert check_production(encode_production(ent, record(ent)), ent.uscc.encode(), lambda _: None).reason == \
        "unregistered_enterprise"
    tampered = encode_production(ent, record(ent))
    tampered = tampered.replace(b"clinker", b"clinkeR")
    assert check(ent, registry, raw=tampered).reason == "bad_signature"
    unsigned = codec.encode("production_output", record(ent))
    assert check(ent, registry, raw=unsigned).reason == "bad_signature"
    other_key = [{**registry["public_keys"][0],
                  "public_key": signing.public_key_raw(signing.generate_private_key())}]
    assert check(ent, {**registry, "public_keys": other_key}).reason == "bad_signature"
    assert check(ent, {**registry, "public_keys": []}).reason == "bad_signature"
    assert check(ent, registry, raw=b"\xc3\x01garbage").reason in {"undecodable", "unknown_fingerprint"}
    batch = codec.encode("dead_letter", {"reason": "x", "detail": "", "source_topic": "", "source_partition": 0,
                                         "source_offset": 0, "key": b"", "payload": b"", "uscc": "", "rejected_at": 0})
    assert check(ent, registry, raw=batch).reason == "unexpected_record_type"


def test_a_key_counts_only_while_valid_and_not_revoked(cement):
    ent, registry = cement
    raw = encode_production(ent, record(ent))
    sent_at = codec.decode(raw)[1]["sent_at"]
    revoked = {**registry, "public_keys": revoke(registry["public_keys"], ent.key_id, sent_at + 1)}
    assert isinstance(check_production(raw, ent.uscc.encode(), {ent.uscc: revoked}.get), AcceptedProduction)
    out = check_production(raw, ent.uscc.encode(), {ent.uscc: revoked}.get, at_ms=sent_at + 1)  # Kafka record time
    assert out.reason == "bad_signature" and f"key {ent.key_id} revoked at" in out.detail
    expired = {**registry, "public_keys": [{**registry["public_keys"][0], "valid_until": sent_at}]}
    out = check_production(raw, ent.uscc.encode(), {ent.uscc: expired}.get)
    assert out.reason == "bad_signature" and "not valid at" in out.detail
