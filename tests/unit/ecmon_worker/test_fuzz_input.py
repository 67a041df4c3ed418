"""Property-based fuzzing of what hostile input reaches first.

- ``ecmon.codec.decode``: arbitrary bytes and mutated valid messages (bit flips, truncation, extension,
  fingerprint swaps, absurd length prefixes) raise only the codec's typed errors, quickly and without
  allocating what a length prefix claims.
- ``ecmon_worker.enterprise_rollup.apply_batch`` with arbitrary readings and reachable states: never raises;
  every reading is counted or rejected with a reason of ``REASONS``; the totals move only by counted
  readings and stay encodable (Avro long, ClickHouse Int64); the same batch again is a duplicate that
  changes nothing (or is refused again, unchanged); with resends, changed values and corrections from
  several gateways and sequences, the totals equal the rows the readings table keeps.
- ``ecmon_worker.production_intake.check_production``: any bytes, any figures: accepted or rejected with a
  reason of ``REASONS``, never an exception.
- ``ecmon.signing``: any change of a signed message's bytes fails Ed25519 verification; a batch signed
  with another enterprise's key fails.

The same kinds of input go through the real stack in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ecmon import codec, signing
from ecmon.months import month_start_ms
from ecmon.rejection import Rejection
from ecmon_worker import enterprise_rollup as er
from ecmon_worker.dead_letters import REASONS
from ecmon_worker.enterprise_state import upgrade
from ecmon_worker.production_intake import AcceptedProduction, check_production

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
APPLY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
USCC, OTHER_USCC = "91350100M000100Y43", "91370100MA3C00001A"  # valid codes (ecmon.uscc)
KEY_ID, OTHER_KEY_ID = f"key-{USCC}", f"key-{OTHER_USCC}"
T0 = month_start_ms("2026-10")
MIN15 = 900_000
BATCH_ID = "5f0c8a2e-7d41-4b9e-a3c6-2e1f9d8b7a60"
METERS = {"E-01": ("electricity", "kWh"), "G-01": ("natural_gas", "m3"), "S-01": ("steam", "t"),
          "P-01": ("electricity", "GWh"), "A-01": ("acetylene", "10k_m3")}


def zigzag(n: int) -> bytes:
    """An Avro long (zig-zag varint); works for any Python int, also beyond 64 bits."""
    n = (n << 1) ^ (n >> 63) if n >= 0 else ((-n - 1) << 1) | 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def reading(meter="E-01", ts=T0 + MIN15, value=1000, kind="INTERVAL", energy=None, unit=None) -> dict:
    e, u = METERS.get(meter, ("electricity", "kWh"))
    return {"meter_id": meter, "energy_type": energy or e, "ts": ts, "value_milli": value, "kind": kind,
            "unit": unit or u, "quality": "GOOD"}


def batch_record(readings: list[dict], sequence: int = 1, uscc: str = USCC, key_id: str = KEY_ID,
                 sent_at: int = T0 + 30 * 86_400_000) -> dict:
    return {"uscc": uscc, "gateway_id": "gw-1", "batch_id": "5f0c8a2e-7d41-4b9e-a3c6-2e1f9d8b7a60",
            "sequence": sequence, "sent_at": sent_at, "key_id": key_id, "signature": b"", "readings": readings}


#: Each enterprise's private key, made for this run: nothing in the repository signs.
PRIVATE = {KEY_ID: signing.generate_private_key(), OTHER_KEY_ID: signing.generate_private_key()}


def key_entries(key_id: str) -> list[dict]:
    # valid over every Avro long, so that any drawn time is inside the key's validity
    return [{"key_id": key_id, "algorithm": "ed25519", "public_key": signing.public_key_raw(PRIVATE[key_id]),
             "valid_from": LONG_MIN, "valid_until": None, "revoked_at": None}]


def signed(record: dict, short_name: str = "reading_batch", key_id: str | None = None) -> bytes:
    unsigned = codec.encode(short_name, {**record, "signature": b""})
    sig = signing.sign(unsigned, PRIVATE[key_id or record["key_id"]])
    return codec.encode(short_name, {**record, "signature": sig})


VALID = signed(batch_record([reading(), reading("G-01", value=5_000_000, kind="CUMULATIVE"),
                             reading("S-01", value=3500)]))
FINGERPRINTS = sorted(codec.catalog().by_fingerprint)


def decode_only_typed_errors(data: bytes, expected: str | None = "reading_batch") -> None:
    started = time.perf_counter()
    try:
        codec.decode(data, expected)
    except codec.CodecError as exc:
        assert exc.reason in REASONS
    # any other exception propagates and fails the test
    assert time.perf_counter() - started < 1.0, f"decode of {len(data)} bytes took too long"


# -- 1. the decoder --------------------------------------------------------------------------------------


@MANY
@given(st.binary(max_size=512))
def test_decode_of_arbitrary_bytes_raises_only_codec_errors(data):
    decode_only_typed_errors(data)
    decode_only_typed_errors(data, None)


@MANY
@given(st.sampled_from(FINGERPRINTS), st.binary(max_size=400))
def test_decode_of_a_known_header_with_a_random_body_raises_only_codec_errors(fp, body):
    decode_only_typed_errors(codec.MAGIC + fp + body)
    decode_only_typed_errors(codec.MAGIC + fp + body, None)


@st.composite
def mutated(draw, base: bytes = VALID) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete", "fingerprint", "varint"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "fingerprint" and len(data) >= 10:
            data[2:10] = draw(st.sampled_from(FINGERPRINTS))
        elif op == "varint" and len(data) > 10:  # an absurd length or count prefix somewhere in the body
            i = draw(st.integers(10, len(data) - 1))
            data[i:i + 1] = zigzag(draw(st.sampled_from([2**60, -(2**60), 2**62, LONG_MAX, LONG_MIN, 2**31])))
    return bytes(data)


@MANY
@given(mutated())
def test_decode_of_mutated_valid_messages_raises_only_codec_errors(data):
    decode_only_typed_errors(data)


def test_absurd_length_and_count_prefixes_are_rejected_fast_without_allocating_them():
    fp = codec.catalog().schema("reading_batch").fingerprint

    def s(b: bytes) -> bytes:
        return zigzag(len(b)) + b

    head = codec.MAGIC + fp + s(USCC.encode()) + s(b"gw") + s(b"id") + zigzag(1) + zigzag(1) + s(b"k") + s(b"")
    one = s(b"m") + s(b"electricity") + zigzag(1) + zigzag(1) + zigzag(0) + s(b"kWh") + zigzag(0)
    cases = [codec.MAGIC + fp + zigzag(2**60)]  # a uscc of 2^60 bytes
    cases += [head + zigzag(n) + one for n in (2**60, 2**62, LONG_MAX)]  # 2^60 readings, one present
    cases += [head + zigzag(-(2**60)) + zigzag(2**60) + one]  # a negative block count with a block size
    cases += [codec.MAGIC + fp + s(USCC.encode()) + zigzag(LONG_MIN)]  # a negative string length
    tracemalloc.start()
    try:
        for data in cases:
            with pytest.raises(codec.CodecError):
                decode_only_typed_errors(data)
                codec.decode(data, "reading_batch")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"decoding absurd prefixes allocated {peak} bytes"


# -- 2. the enterprise rollup ------------------------------------------------------------------------------

ABSURD_LONGS = st.sampled_from([0, 1, -1, LONG_MAX, LONG_MIN, 2**62, -(2**62), er.VALUE_LIMIT,
                                er.VALUE_LIMIT + 1, 2**53 + 1, 10**15])
VALUES = st.one_of(st.integers(-10, 10**7), st.integers(LONG_MIN, LONG_MAX), ABSURD_LONGS)
TIMES = st.one_of(
    st.integers(T0 - 3 * 86_400_000, T0 + 40 * 86_400_000).map(lambda t: t - t % MIN15),  # near the batch
    st.integers(LONG_MIN, LONG_MAX),
    st.sampled_from([0, -1, 1, 253402300799999, 253402300800000, er.TS_MAX, er.TS_MAX + 1, LONG_MAX, LONG_MIN]),
)
TEXT = st.one_of(st.sampled_from(["", "\x00", "E-01\n", "é", "\udc80".encode("utf-8", "surrogatepass").decode(
    "utf-8", "replace")]), st.text(max_size=12))


@st.composite
def readings(draw) -> dict:
    meter = draw(st.one_of(st.sampled_from(sorted(METERS)), TEXT))
    e, u = METERS.get(meter, ("electricity", "kWh"))
    energy = draw(st.one_of(st.just(e), st.sampled_from(["electricity", "natural_gas", "steam", "heat",
                                                          "unobtainium", "ELECTRICITY"]), TEXT))
    unit = draw(st.one_of(st.just(u), st.sampled_from(["kWh", "m3", "t", "GWh", "furlong", "KWH"]), TEXT))
    return {"meter_id": meter, "energy_type": energy, "ts": draw(TIMES), "value_milli": draw(VALUES),
            "kind": draw(st.sampled_from(["INTERVAL", "CUMULATIVE", "INTERVAL", "CUMULATIVE", "BOGUS"])),
            "unit": unit, "quality": draw(st.sampled_from(["GOOD", "ESTIMATED", "SUSPECT"])),
            "replaces_value_milli": draw(st.one_of(st.none(), st.none(), VALUES))}


@st.composite
def batches(draw, max_readings: int = 8) -> dict:
    sent_at = draw(st.one_of(st.just(T0 + 35 * 86_400_000), st.none(), TIMES))
    b = {"gateway_id": draw(st.sampled_from(["gw-1", "gw-2", "", "g" * 65, "gw 1"])),
         "sequence": draw(st.one_of(st.integers(1, 20), st.integers(LONG_MIN, LONG_MAX))),
         "batch_id": draw(st.sampled_from([BATCH_ID, BATCH_ID, "b", ""])),
         "readings": draw(st.lists(readings(), max_size=max_readings))}
    if sent_at is not None:
        b["sent_at"] = sent_at
    return b


RECEIVED = st.one_of(st.none(), st.just(T0 + 35 * 86_400_000), TIMES)


@st.composite
def states(draw) -> dict:
    """A state reached by applying a few arbitrary batches (or one written before sequence gaps)."""
    state = draw(st.sampled_from([er.new_state, lambda: {"v": 3, "hwm": {"gw-1": 5}, "m": {}}]))()
    for b in draw(st.lists(batches(max_readings=4), max_size=2)):
        er.apply_batch(state, b, METERS, received_ms=draw(RECEIVED))
    return state


def totals_snapshot(state: dict) -> dict:
    return {k: tuple(v[:3]) for k, v in state.get("m", {}).items()}


def assert_encodable(state: dict, keys: list[str]) -> None:
    """What the worker sends next: the totals as Avro longs (and ClickHouse Int64 / UInt64)."""
    totals = er.month_totals(state, keys)
    codec.encode("enterprise_totals", {"uscc": USCC, "region_code": "350100", "industry_code": "3120",
                                       "totals": totals, "watermark": state["wm"]})
    for row in totals:
        assert LONG_MIN <= row["physical_milli"] <= LONG_MAX and LONG_MIN <= row["coal_mgce"] <= LONG_MAX
        assert 0 <= row["readings"] <= LONG_MAX


@APPLY
@given(states(), batches(), RECEIVED, st.sampled_from(["equivalent", "equal"]))
def test_apply_batch_never_raises_and_accounts_for_every_reading(state, batch, received, method):
    before = totals_snapshot(state)
    frozen = copy.deepcopy(state)
    upgrade(frozen)  # what any batch does first to a state written before this version
    out = er.apply_batch(state, batch, METERS, er.factors_for(method), received_ms=received)
    assert [out.applied, out.duplicate, out.rejected].count(True) == 1
    for r in out.rejections + out.notices:
        assert r.reason in REASONS, r
        assert r.detail
    assert {r.reason for r in out.notices} <= {"meter_reset", "reading_corrected"}
    after = totals_snapshot(state)
    if out.rejected:  # refused whole: one reason, nothing changed, not even the sequence memory
        assert len(out.rejections) == 1 and not out.normalised and state == frozen
    elif out.duplicate:
        assert after == before and not out.rejections
    else:
        # every reading is either counted or rejected with a reason
        assert out.readings_accepted + len(out.rejections) == len(batch["readings"])
        changed = {k for k in after if after[k] != before.get(k, (0, 0, 0))}
        assert changed <= set(out.touched) <= set(after)
        if out.readings_accepted == 0:
            assert all(after[k] == before.get(k, (0, 0, 0)) for k in after)
        if all(r["kind"] == "INTERVAL" for r in batch["readings"]):
            # interval readings move the totals by exactly their counted values
            moved = sum(after[k][0] - before.get(k, (0, 0, 0))[0] for k in after)
            moved_mgce = sum(after[k][1] - before.get(k, (0, 0, 0))[1] for k in after)
            moved_n = sum(after[k][2] - before.get(k, (0, 0, 0))[2] for k in after)
            # (a correction moves them by the new value less the one it replaced, and counts no new reading)
            fixes = [n for n in out.normalised if n.get("revision")]
            old_mgce = sum(er.factors_for(method)(n["energy_type"], n["unit"], n["interval_end"]).to_mgce(
                n["replaced_physical_milli"]) for n in fixes)
            assert moved == sum(n["physical_milli"] for n in out.normalised) - sum(
                n["replaced_physical_milli"] for n in fixes)
            assert moved_mgce == sum(n["coal_mgce"] for n in out.normalised) - old_mgce
            assert moved_n == out.readings_accepted - len(fixes) and out.readings_accepted == len(out.normalised)
    assert_encodable(state, sorted(state["m"]))
    json.dumps(state)  # the state goes to a JSON changelog


@APPLY
@given(states(), batches(), RECEIVED)
def test_the_same_batch_again_is_a_duplicate_that_changes_nothing(state, batch, received):
    first = er.apply_batch(state, batch, METERS, received_ms=received)
    frozen = copy.deepcopy(state)
    again = er.apply_batch(state, copy.deepcopy(batch), METERS, received_ms=received)
    assert state == frozen and not again.normalised and not again.applied
    if first.rejected:
        assert again.rejected and [r.reason for r in again.rejections] == [r.reason for r in first.rejections]
    else:
        assert again.duplicate and not again.rejections
    assert set(again.touched) <= set(state["m"])


@FAST
@given(st.lists(st.sampled_from([er.VALUE_LIMIT, LONG_MAX, 2**62, 10**15]), min_size=1, max_size=40),
       st.sampled_from(sorted(METERS)), st.sampled_from(["INTERVAL", "CUMULATIVE"]))
def test_absurd_values_never_overflow_a_total(values, meter, kind):
    state = er.new_state()
    rs = [reading(meter, T0 + (i + 1) * MIN15, v, kind) for i, v in enumerate(values)]
    out = er.apply_batch(state, {"gateway_id": "gw", "sequence": 1, "batch_id": BATCH_ID, "readings": rs,
                                 "sent_at": T0 + 30 * 86_400_000}, METERS)
    assert {r.reason for r in out.rejections} <= {"value_out_of_range"}
    for physical, mgce, _n, _v in state["m"].values():
        assert 0 <= physical <= er.VALUE_LIMIT and 0 <= mgce <= er.VALUE_LIMIT
    assert_encodable(state, sorted(state["m"]))


@st.composite
def deliveries(draw) -> list[dict]:
    """Batches that resend, change and correct a few interval readings, from several gateways and sequences,
    in any order: each reading either its identity's first value, a resend, a changed value or a correction
    (of the right or of a wrong old value)."""
    slots = [("E-01", T0 + i * MIN15) for i in (1, 2, 3)] + [("G-01", T0 + MIN15), ("E-01", T0 + MIN15 + 7)]
    values = st.sampled_from([0, 1, 1000, 1001, 123_456, er.VALUE_LIMIT // 2, er.VALUE_LIMIT])
    out = []
    for _ in range(draw(st.integers(1, 12))):
        rs = []
        for _ in range(draw(st.integers(0, 4))):
            meter, ts = draw(st.sampled_from(slots))
            e, u = METERS[meter]
            rs.append({"meter_id": meter, "energy_type": e, "unit": u, "ts": ts, "value_milli": draw(values),
                       "kind": "INTERVAL", "quality": "GOOD",
                       "replaces_value_milli": draw(st.one_of(st.none(), values))})
        out.append({"gateway_id": draw(st.sampled_from(["gw-1", "gw-2"])), "sequence": draw(st.integers(1, 30)),
                    "batch_id": BATCH_ID, "sent_at": T0 + 5 * 86_400_000, "readings": rs})
    return out


@APPLY
@given(deliveries(), st.sampled_from(["equivalent", "equal"]))
def test_with_resends_and_corrections_the_totals_equal_the_readings_table(delivered, method):
    """Aggregates and readings agree, always: the rows the sink would keep (per identity, the highest version,
    as ReplacingMergeTree does) sum to the enterprise totals, each identity counts once, an end off the grid
    (E-01 at +7 ms) never counts, and no total is ever negative or beyond VALUE_LIMIT."""
    from ecmon_sink.rows import CORRECTION_VERSION

    state = er.new_state()
    identities: dict[str, str] = {}
    table: dict[tuple, tuple[int, int, int]] = {}  # (meter, ts) -> (version, physical, mgce)
    for n, b in enumerate(delivered):
        out = er.apply_batch(state, b, METERS, er.factors_for(method), intervals={"E-01": MIN15, "G-01": MIN15},
                             identities=identities)
        assert {r.reason for r in out.rejections} <= {"duplicate_reading", "conflicting_reading", "off_grid_reading",
                                                         "value_out_of_range", "sequence_out_of_window"}, out.rejections
        assert all(row["interval_end"] % MIN15 == 0 for row in out.normalised)
        for row in state["m"].values():
            assert all(0 <= x <= er.VALUE_LIMIT for x in row[:3])
        assert sum(row[1] for row in state["m"].values()) <= er.VALUE_LIMIT
        for row in out.normalised:
            version = CORRECTION_VERSION + row["revision"] if row.get("revision") else n + 1
            key = (row["meter_id"], row["interval_end"])
            if key not in table or table[key][0] <= version:
                table[key] = (version, row["physical_milli"], row["coal_mgce"])
    for key, (physical, mgce, count, _v) in state["m"].items():
        energy = key.split("|")[0]
        rows = [v for (m, _ts), v in table.items() if METERS[m][0] == energy]
        assert (physical, mgce, count) == (sum(r[1] for r in rows), sum(r[2] for r in rows), len(rows))
    assert sum(v[2] for v in state["m"].values()) == len(table)


# -- 3. production output ----------------------------------------------------------------------------------

REGISTRY = {USCC: {"uscc": USCC, "key_id": KEY_ID, "region_code": "350100", "industry_code": "3011",
                   "public_keys": key_entries(KEY_ID)},
            OTHER_USCC: {"uscc": OTHER_USCC, "key_id": OTHER_KEY_ID, "region_code": "370100",
                         "industry_code": "3120", "public_keys": key_entries(OTHER_KEY_ID)}}


@st.composite
def production_records(draw) -> dict:
    start = draw(st.one_of(st.just(T0 + 86_400_000), TIMES))
    end = draw(st.one_of(st.just(start + 86_400_000), TIMES))
    assume(LONG_MIN <= end <= LONG_MAX)
    return {"uscc": draw(st.sampled_from([USCC, OTHER_USCC, "91350100M000100Y44", "", "x" * 18])),
            "gateway_id": "gw-1", "batch_id": draw(st.sampled_from(["b1", ""])),
            "sent_at": draw(TIMES), "key_id": draw(st.sampled_from([KEY_ID, OTHER_KEY_ID, ""])), "signature": b"",
            "product_code": draw(st.sampled_from(["3101010000", "3412000000", "", "x"])),
            "product_name": draw(TEXT), "quantity_milli": draw(VALUES),
            "unit": draw(st.sampled_from(["t", "piece", "m2", "kg", "bushel", ""])),
            "period_start": start, "period_end": end}


def assert_intake(out) -> None:
    assert isinstance(out, AcceptedProduction | Rejection)
    if isinstance(out, Rejection):
        assert out.reason in REASONS and out.detail


@MANY
@given(production_records(), st.sampled_from([KEY_ID, OTHER_KEY_ID]),
       st.sampled_from([USCC.encode(), OTHER_USCC.encode(), None, b"", b"\xff" * 18]))
def test_check_production_never_raises_on_any_figures(record, signing_key_id, key):
    raw = signed(record, "production_output", key_id=signing_key_id)
    out = check_production(raw, key, REGISTRY.get)
    assert_intake(out)
    if isinstance(out, AcceptedProduction):  # only a figure signed with its own enterprise's key
        assert signing_key_id == REGISTRY[record["uscc"]]["key_id"] == record["key_id"]
        assert record["quantity_milli"] >= 0 and record["period_start"] < record["period_end"]


GOOD_FIGURE = signed({"uscc": USCC, "gateway_id": "gw-1", "batch_id": BATCH_ID, "sent_at": T0, "key_id": KEY_ID,
                      "signature": b"", "product_code": "3101010000", "product_name": "clinker",
                      "quantity_milli": 5_000_000, "unit": "t", "period_start": T0 + 86_400_000,
                      "period_end": T0 + 2 * 86_400_000}, "production_output")


@MANY
@given(st.one_of(st.binary(max_size=300), mutated(GOOD_FIGURE)))
def test_check_production_never_raises_on_any_bytes(raw):
    out = check_production(raw, USCC.encode(), REGISTRY.get)
    assert_intake(out)
    if isinstance(out, AcceptedProduction):
        assert raw == GOOD_FIGURE  # any change of a signed figure fails somewhere before acceptance


def test_the_good_figure_is_accepted():
    assert isinstance(check_production(GOOD_FIGURE, USCC.encode(), REGISTRY.get), AcceptedProduction)


# -- 4. signatures -----------------------------------------------------------------------------------------


def encodable(rs: list[dict]) -> list[dict]:
    """Readings the Avro schema can carry (the enum has no BOGUS kind)."""
    return [{**r, "kind": "CUMULATIVE" if r["kind"] == "CUMULATIVE" else "INTERVAL"} for r in rs]


def verifies(raw: bytes, uscc: str = USCC) -> bool:
    """The worker's check (streams/ecmon_worker/admission.py): decodes, names a key of the enterprise's registry record,
    and the Ed25519 signature verifies with it."""
    try:
        _, batch = codec.decode(raw, expected="reading_batch")
    except codec.CodecError:
        return False
    return signing.signature_problem(raw, REGISTRY[uscc], batch["key_id"], T0) is None


def test_a_valid_batch_verifies():
    assert verifies(VALID)


@MANY
@given(mutated())
def test_any_change_of_a_signed_batch_fails_verification(raw):
    assume(raw != VALID)
    assert not verifies(raw)


@MANY
@given(st.integers(0, len(VALID) - 1), st.integers(1, 255))
def test_every_single_byte_change_fails_verification(at, xor):
    raw = bytearray(VALID)
    raw[at] ^= xor
    assert not verifies(bytes(raw))


@FAST
@given(st.lists(readings(), min_size=1, max_size=4), st.integers(1, 10**6))
def test_a_batch_signed_with_another_enterprises_key_fails(rs, sequence):
    rs = encodable(rs)
    record = batch_record(rs, sequence)
    assert verifies(signed(record))
    assert not verifies(signed(record, key_id=OTHER_KEY_ID))  # A's key_id, B's key
    assert not verifies(signed({**record, "key_id": OTHER_KEY_ID}))  # B's key_id and key, A's registry
    forged = signed({**record, "key_id": OTHER_KEY_ID})
    assert verifies(forged, OTHER_USCC)  # it is a valid signature, of the wrong enterprise


@FAST
@given(st.lists(readings(), min_size=1, max_size=4))
def test_a_replayed_batch_with_a_changed_body_and_the_old_signature_fails(rs):
    rs = encodable(rs)
    original = signed(batch_record([reading()]))
    _, sig = signing.unsigned_message(original)
    changed = codec.encode("reading_batch", {**batch_record(rs), "signature": sig})
    assume(changed != original)
    assert not verifies(changed)
