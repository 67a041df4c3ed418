"""A reading is counted once: reading identity, corrections, gateway identity."""

import json
import uuid

import pytest

from ecmon import codec
from ecmon.energy import to_mgce
from ecmon.months import month_of_interval, month_start_ms
from ecmon_sink.rows import CORRECTION_VERSION, Rows
from ecmon_worker import enterprise_rollup as er
from ecmon_worker import reading_identity as ri
from ecmon_worker.dead_letters import REASONS

METERS = {"e": ("electricity", "kWh"), "g": ("natural_gas", "m3"), "d": ("steam", "t")}
INTERVALS = {"e": 900_000, "g": 900_000, "d": 86_400_000}
T0 = month_start_ms("2026-10")
Q = 900_000
ELEC = "electricity|kWh|2026-10"


def batch(seq, readings, gateway="gw-1"):
    return {"gateway_id": gateway, "sequence": seq, "batch_id": str(uuid.UUID(int=seq % 2**128)),
            "readings": readings, "sent_at": T0 + 40 * 86_400_000}


def reading(meter, ts, value, kind="INTERVAL", replaces=None):
    energy, unit = METERS[meter]
    r = {"meter_id": meter, "energy_type": energy, "unit": unit, "ts": ts, "value_milli": value, "kind": kind,
         "quality": "GOOD"}
    if replaces is not None:
        r["replaces_value_milli"] = replaces
    return r


def apply(state, b, **kw):
    return er.apply_batch(state, b, METERS, intervals=INTERVALS, **kw)


def reasons(out):
    return [r.reason for r in out.rejections]


def test_every_new_reason_is_explained():
    for reason in ("conflicting_reading", "reading_corrected", "off_grid_reading", "invalid_gateway_id",
                   "invalid_batch_id", "too_many_gateways", "sequence_out_of_window", "too_many_sequence_gaps",
                   "duplicate_reading"):
        assert REASONS[reason]


# -- the same reading again counts once -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["new batch, next sequence", "sequence far ahead", "second gateway"])
def test_the_same_interval_reading_again_counts_once(how):
    state = er.new_state()
    first = [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 99)]
    assert apply(state, batch(1, first)).readings_accepted == 2
    before = json.loads(json.dumps(state["m"]))
    again = {"new batch, next sequence": batch(2, first), "sequence far ahead": batch(500, first),
             "second gateway": batch(1, first, gateway="gw-2")}[how]
    out = apply(state, again)
    assert out.applied and out.readings_accepted == 0 and not out.normalised
    assert reasons(out) == ["duplicate_reading", "duplicate_reading"]
    assert state["m"][ELEC][:3] == before[ELEC][:3] == [1333, to_mgce("electricity", "kWh", 1234)
                                                       + to_mgce("electricity", "kWh", 99), 2]
    # ... and a new reading beside the resent ones still counts
    out = apply(state, batch(3, first + [reading("e", T0 + 3 * Q, 7)], gateway="gw-3"))
    assert out.readings_accepted == 1 and state["m"][ELEC][2] == 3


def test_a_resent_register_reading_in_a_new_batch_counts_once():
    state = er.new_state()
    regs = [reading("g", T0 + Q, 1000, "CUMULATIVE"), reading("g", T0 + 2 * Q, 1500, "CUMULATIVE")]
    apply(state, batch(1, regs))
    total = state["m"]["natural_gas|m3|2026-10"][:3]
    assert total[0] == 500 and total[2] == 1
    for b in (batch(2, regs), batch(1, regs, gateway="gw-2"), batch(9, regs[1:])):
        out = apply(state, b)
        assert out.readings_accepted == 0 and set(reasons(out)) == {"duplicate_reading"}
    assert state["m"]["natural_gas|m3|2026-10"][:3] == total


def test_a_changed_value_without_a_correction_is_conflicting_and_changes_nothing():
    state = er.new_state()
    apply(state, batch(1, [reading("e", T0 + Q, 1234)]))
    before = json.loads(json.dumps(state))
    out = apply(state, batch(2, [reading("e", T0 + Q, 1235)]))
    assert reasons(out) == ["conflicting_reading"] and not out.normalised
    assert state["m"] == before["m"] and state["id"] == before["id"]


def test_a_correction_replaces_the_counted_value_exactly():
    state = er.new_state()
    apply(state, batch(1, [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 10)]))
    physical, mgce, n, version = state["m"][ELEC]
    out = apply(state, batch(2, [reading("e", T0 + Q, 2000, replaces=1234)]))
    assert out.applied and not out.rejections and out.readings_accepted == 1
    assert [x.reason for x in out.notices] == ["reading_corrected"] and "1234 to 2000" in out.notices[0].detail
    new = state["m"][ELEC]
    assert new[0] == physical - 1234 + 2000
    assert new[1] == mgce - to_mgce("electricity", "kWh", 1234) + to_mgce("electricity", "kWh", 2000)
    assert new[2] == n and new[3] > version  # the readings count stays, the version bumps
    assert state["d"]["electricity|kWh|2026-10-01"][:2] == new[:2]
    [row] = out.normalised
    assert row["physical_milli"] == 2000 and row["replaced_physical_milli"] == 1234 and row["revision"] == new[3]
    # the correction resent is a duplicate; the old value again now conflicts; a second correction chains
    assert reasons(apply(state, batch(3, [reading("e", T0 + Q, 2000, replaces=1234)]))) == ["duplicate_reading"]
    assert reasons(apply(state, batch(4, [reading("e", T0 + Q, 1234)]))) == ["conflicting_reading"]
    out = apply(state, batch(5, [reading("e", T0 + Q, 5, replaces=2000)]))
    assert not out.rejections and state["m"][ELEC][0] == 15 and state["m"][ELEC][2] == 2
    assert out.normalised[0]["revision"] > row["revision"]


def test_a_correction_with_the_wrong_old_value_is_conflicting():
    state = er.new_state()
    apply(state, batch(1, [reading("e", T0 + Q, 1234)]))
    before = json.loads(json.dumps(state["m"]))
    for wrong in (1233, -1234, 2**70):
        out = apply(state, batch(2 + wrong % 7, [reading("e", T0 + Q, 2000, replaces=wrong)]))
        assert reasons(out) == ["conflicting_reading"] and not out.normalised
    assert state["m"] == before


def test_a_correction_of_a_reading_never_counted_counts_as_a_first_reading():
    state = er.new_state()
    out = apply(state, batch(1, [reading("e", T0 + Q, 2000, replaces=1234)]))
    assert out.readings_accepted == 1 and state["m"][ELEC][:3][::2] == [2000, 1]
    assert reasons(apply(state, batch(2, [reading("e", T0 + Q, 1234)]))) == ["conflicting_reading"]


def test_the_corrected_row_wins_in_the_readings_table_whatever_the_clocks():
    """The sink's version: a correction outranks the first count even when its worker's clock is behind."""
    state = er.new_state()
    first = apply(state, batch(1, [reading("e", T0 + Q, 1234)])).normalised
    fixed = apply(state, batch(2, [reading("e", T0 + Q, 2000, replaces=1234)])).normalised
    rows = Rows("ecmon")
    for normalised_at, rs in ((T0 + 10**9, first), (T0, fixed)):
        for r in rs:
            r["interval_start"] = r["interval_end"] - Q
        value = codec.encode("normalised_reading_batch", {
            "uscc": "91350100M000100Y43", "batch_id": str(uuid.uuid4()), "province": "350000",
            "industry_code": "3120", "normalised_at": normalised_at, "readings": rs})
        rows.add_message("ecmon.normalised-readings.v1", 0, 0, b"91350100M000100Y43", value)
    got = rows.tables[("ecmon", "readings")]
    winner = max(got, key=lambda row: row[-1])
    assert winner[7] == 2000 and winner[-1] >= CORRECTION_VERSION > got[0][-1]


def test_a_crafted_collision_of_the_old_16_bit_digest_is_conflicting():
    """The review's forgery: a value whose 16-bit digest equals the counted one's (found offline in ~65k
    hashes) subtracted up to 2^57. Only the exact value counted may be replaced now."""
    from hashlib import blake2b

    def digest(v: int) -> bytes:
        return blake2b(str(v).encode(), digest_size=2).digest()

    forged = next(v for v in range(2**57 - 2**20, 2**57) if digest(v) == digest(1234))
    state = er.new_state()
    apply(state, batch(1, [reading("e", T0 + Q, 1234), reading("g", T0 + Q, 10**9)]))
    before = json.loads(json.dumps(state))
    out = apply(state, batch(2, [reading("e", T0 + Q, 0, replaces=forged)]))
    assert reasons(out) == ["conflicting_reading"] and not out.normalised and "exactly" in out.rejections[0].detail
    assert state["m"] == before["m"] and state["id"] == before["id"]
    assert all(x >= 0 for row in state["m"].values() for x in row)


def test_readings_off_the_grid_are_refused_and_say_what_grid_was_expected():
    state = er.new_state()
    assert apply(state, batch(1, [reading("e", T0 + Q, 7)])).readings_accepted == 1
    # the same interval stamped 1 s and 2 s late: refused, not counted twice more
    out = apply(state, batch(2, [reading("e", T0 + Q + 1000, 7), reading("e", T0 + Q + 2000, 7)]))
    assert reasons(out) == ["off_grid_reading"] * 2 and out.readings_accepted == 0
    assert "multiples of 900 s after CST midnight" in out.rejections[0].detail
    assert f"ts {T0 + Q}" in out.rejections[0].detail
    assert state["m"][ELEC][:3][::2] == [7, 1]
    # a daily meter's grid is CST midnight; a 15-minute end is off it
    assert reasons(apply(state, batch(3, [reading("d", T0 + 86_400_000, 5)]))) == []
    assert reasons(apply(state, batch(4, [reading("d", T0 + 86_400_000 + Q, 5)]))) == ["off_grid_reading"]


def test_an_interval_that_does_not_divide_the_day_restarts_at_each_cst_midnight():
    intervals = INTERVALS | {"e": 7 * 60_000}
    state = er.new_state()
    day2 = T0 + 86_400_000
    ok = [T0 + 7 * 60_000, day2 - 86_400_000 % (7 * 60_000), day2, day2 + 7 * 60_000]
    out = er.apply_batch(state, batch(1, [reading("e", ts, 1) for ts in ok]), METERS, intervals=intervals)
    assert not out.rejections and out.readings_accepted == 4
    out = er.apply_batch(state, batch(2, [reading("e", day2 + 14 * 60_000 + 1, 1)]), METERS, intervals=intervals)
    assert reasons(out) == ["off_grid_reading"]


def test_identities_of_a_closed_month_are_dropped():
    state = er.new_state()
    store: dict[str, str] = {}
    apply(state, batch(1, [reading("e", T0 + Q, 1), reading("e", T0 + 20 * 86_400_000, 1)]), identities=store)
    assert sorted(store) == ["e|2026-10-01", "e|2026-10-20"] and "id" not in state
    limits = er.DEFAULT_LIMITS
    closes = month_start_ms("2026-11") + limits.month_grace_ms + limits.revision_window_ms
    later = closes + 86_400_000
    assert reasons(apply(state, batch(2, [reading("e", T0 + 2 * Q, 1)]) | {"sent_at": later}, identities=store)) == []
    apply(state, batch(3, [reading("e", later, 1)]) | {"sent_at": later}, identities=store)
    # forgotten by the next batch: as the saved state stands, no batch processed again can reach October
    apply(state, batch(4, []) | {"sent_at": later}, identities=store)
    assert list(store) == [f"e|{ri.day_text(ri.day_number(later))}"]
    first_open = month_of_interval(er.closed_before(state["wm"], limits))
    assert first_open == "2026-11" and state["ix"]["e"][0] == ri.day_number(month_start_ms(first_open) + 1)
    assert reasons(apply(state, batch(5, [reading("e", T0 + 3 * Q, 1)]) | {"sent_at": later},
                         identities=store)) == ["month_closed"]


def test_the_index_is_compact_in_memory_and_read_back_from_json_lists():
    state = er.new_state()
    store: dict[str, str] = {}
    apply(state, batch(1, [reading("e", T0 + Q, 1), reading("g", T0 + Q, 1)]), identities=store)
    apply(state, batch(2, [reading("e", T0 + 3 * 86_400_000, 1)]), identities=store)
    first, last = ri.day_number(T0 + Q), ri.day_number(T0 + 3 * 86_400_000)
    assert state["ix"] == {"e": (first, last, 1), "g": (first, first, 1)}
    assert state["ix"]["e"][0] is state["ix"]["g"][0]  # one int per day for every meter
    # the changelog's JSON gives lists back; a recovered state goes on from them
    recovered = json.loads(json.dumps(state))
    assert recovered["ix"] == {"e": [first, last, 1], "g": [first, first, 1]}
    assert reasons(apply(recovered, batch(3, [reading("e", T0 + Q, 1)]), identities=store)) == ["duplicate_reading"]
    # a meter is held compact again once a batch touches it
    assert recovered["ix"]["e"] == (first, last, 1) and recovered["ix"]["g"] == [first, first, 1]
    apply(recovered, batch(4, [reading("g", T0 + 4 * 86_400_000, 1)]), identities=store)
    assert recovered["ix"]["g"] == (first, ri.day_number(T0 + 4 * 86_400_000), 1)


def test_state_bytes_per_meter_day_of_a_15_minute_meter():
    state = er.new_state()
    store: dict[str, str] = {}
    day_end = T0 + 86_400_000
    rs = [reading("e", ts, 1000 + ts % 977) for ts in range(T0 + Q, day_end + 1, Q)]
    assert len(rs) == 96
    for i in range(0, 96, 12):
        apply(state, batch(i // 12 + 1, rs[i:i + 12]), identities=store)
    [(key, value)] = store.items()
    size = len(json.dumps({f"91350100M000100Y43|{key}": value}, separators=(",", ":")))
    print(f"identity value of one 15-minute meter-day: {size} bytes of JSON (key included)")
    assert key == "e|2026-10-01" and size < 1_150
    assert state["m"][ELEC][2] == 96
    assert set(reasons(apply(state, batch(999, rs[:50]), identities=store))) == {"duplicate_reading"}


def test_2000_meters_over_two_months_keep_every_table_value_under_100_kilobytes():
    meters = {f"M-{i:04d}": ("electricity", "kWh") for i in range(2000)}
    intervals = {m: Q for m in meters}
    state = er.new_state()
    store: dict[str, str] = {}
    days = [T0 + Q, T0 + 30 * 86_400_000, T0 + 31 * 86_400_000 + Q, T0 + 60 * 86_400_000]  # Oct and Nov
    rs = [{"meter_id": m, "energy_type": "electricity", "unit": "kWh", "ts": ts, "value_milli": 5, "kind": "INTERVAL"}
          for ts in days for m in meters]
    for k in range(0, len(rs), 8000):
        out = er.apply_batch(state, batch(k // 8000 + 1, rs[k:k + 8000]) | {"sent_at": T0 + 61 * 86_400_000},
                             meters, intervals=intervals, identities=store)
        assert not out.rejections
    sizes = [len(json.dumps(state))] + [len(v) for v in store.values()]
    print(f"2,000 meters x 2 months: enterprise state {sizes[0]:,} bytes, {len(store):,} meter-days of at most "
          f"{max(sizes[1:]):,}")
    assert len(store) == 8000 and max(sizes) < 100_000
    # ... and a meter of one second splits its day into parts of SLOTS_PER_KEY slots
    fine = {"s": ("electricity", "kWh")}
    out = er.apply_batch(state, batch(99, [{**rs[0], "meter_id": "s", "ts": T0 + 86_400_000 - i * 1000}
                                          for i in range(0, 86_400, 997)]), fine, intervals={"s": 1000},
                         identities=store)
    assert not out.rejections
    assert max(len(v) for k, v in store.items() if k.startswith("s|")) < 16_000
    assert len([k for k in store if k.startswith("s|")]) == ri.parts_per_day(1000) == 60


def test_a_batch_whose_state_was_lost_counts_again_exactly():
    """The meter-days are written before the state (same changelog partition): a crash may keep a batch's
    meter-days and lose its state; processed again, the batch must count, not be taken for a resend."""
    state = er.new_state()
    store: dict[str, str] = {}
    apply(state, batch(1, [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 10)]), identities=store)
    saved = json.loads(json.dumps(state))
    b2 = batch(2, [reading("e", T0 + 3 * Q, 5), reading("e", T0 + Q, 2000, replaces=1234)])
    apply(state, b2, identities=store)
    expected = json.loads(json.dumps(state["m"]))
    lost = json.loads(json.dumps(saved))  # the state of batch 2 never reached the changelog; its days did
    out = apply(lost, b2, identities=store)
    assert out.readings_accepted == 2 and not out.rejections and lost["m"][ELEC][:3] == expected[ELEC][:3]
    # ... and another batch instead of it (registry changed meanwhile) does not inherit its values
    other = json.loads(json.dumps(saved))
    out = apply(other, batch(2, [reading("e", T0 + Q, 1234)]), identities=dict(store))
    assert reasons(out) == ["duplicate_reading"] and other["m"][ELEC][:3] == saved["m"][ELEC][:3]


def test_no_total_goes_negative_and_the_enterprise_coal_of_a_month_is_capped():
    state = er.new_state()
    apply(state, batch(1, [reading("e", T0 + Q, 1000)]))
    # a correction to a negative value is refused as a negative reading
    assert reasons(apply(state, batch(2, [reading("e", T0 + Q, -5, replaces=1000)]))) == ["negative_interval_value"]
    # 64 buckets of 2^57 each would sum past 2^63 in the province: the enterprise's coal is capped at 2^57
    many = {f"m{i}": ("electricity", "kWh") for i in range(3)} | {"g": ("natural_gas", "m3")}
    big = er.VALUE_LIMIT // 2
    s = er.new_state()
    per_kwh = to_mgce("electricity", "kWh", 1000)
    rs = [{"meter_id": "m0", "energy_type": "electricity", "unit": "kWh", "ts": T0 + Q, "kind": "INTERVAL",
           "value_milli": big // per_kwh * 1000}]
    out = er.apply_batch(s, batch(1, rs), many)
    assert not out.rejections, out.rejections
    gas = {"meter_id": "g", "energy_type": "natural_gas", "unit": "m3", "ts": T0 + Q, "kind": "INTERVAL",
           "value_milli": er.VALUE_LIMIT // to_mgce("natural_gas", "m3", 1000) * 1000}
    out = er.apply_batch(s, batch(2, [gas]), many)
    assert reasons(out) == ["value_out_of_range"] and "enterprise" in out.rejections[0].detail
    assert sum(row[1] for row in s["m"].values()) <= er.VALUE_LIMIT
    # alone, the gas reading is within its bucket's limit: it is the enterprise's sum that refuses it
    assert not er.apply_batch(er.new_state(), batch(1, [gas]), many).rejections


# -- gateway identity ---------------------------------------------------------------------------------------


def test_65_empty_batches_ahead_no_longer_block_the_real_next_sequence():
    state = er.new_state()
    assert apply(state, batch(1, [reading("e", T0 + Q, 1)])).applied
    for s in range(100, 100 + 65 * 10, 10):  # the attack of the probe: empty batches with later sequences
        out = apply(state, batch(s, []))
        assert out.rejected and reasons(out) == ["sequence_out_of_window"]
    assert state["seq"]["gw-1"] == [1, []]
    # the same with readings: refused once the gap memory is full, no real gap evicted
    for k, s in enumerate(range(1000, 1000 + 70 * 10, 10)):
        apply(state, batch(s, [reading("e", T0 + (k + 10) * Q, 1)]))
    assert len(state["seq"]["gw-1"][1]) == er.DEFAULT_LIMITS.max_sequence_gaps
    out = apply(state, batch(2, [reading("e", T0 + 2 * Q, 5)]))
    assert out.applied and not out.duplicate and out.readings_accepted == 1
    assert apply(state, batch(3, [])).applied  # an empty batch in a gap is fine


def test_a_sequence_beyond_the_window_or_below_one_is_refused():
    state = er.new_state()
    apply(state, batch(5, [reading("e", T0 + Q, 1)]))
    for s in (5 + er.DEFAULT_LIMITS.sequence_window + 1, 0, -3, 2**63 - 1):
        out = apply(state, batch(s, [reading("e", T0 + 2 * Q, 1)]))
        assert out.rejected and reasons(out) == ["sequence_out_of_window"], s
    assert apply(state, batch(5 + er.DEFAULT_LIMITS.sequence_window, [reading("e", T0 + 2 * Q, 1)])).applied


@pytest.mark.parametrize("field,value,reason", [
    ("gateway_id", "g" * 400_000, "invalid_gateway_id"), ("gateway_id", "", "invalid_gateway_id"),
    ("gateway_id", "gw 1", "invalid_gateway_id"), ("gateway_id", "g" * 65, "invalid_gateway_id"),
    ("batch_id", "b" * 400_000, "invalid_batch_id"), ("batch_id", "b1", "invalid_batch_id"),
    ("batch_id", "8dec48e9-9edc-44c8-9f00-c15528050b3f\n", "invalid_batch_id"),
])
def test_invalid_ids_are_refused_before_anything_counts(field, value, reason):
    state = er.new_state()
    b = batch(1, [reading("e", T0 + Q, 1)])
    b[field] = value
    out = apply(state, b)
    assert out.rejected and not out.applied and reasons(out) == [reason] and len(out.rejections[0].detail) < 400
    assert state == er.new_state()


def test_long_ids_keep_the_state_small_and_gateways_are_bounded():
    state = er.new_state()
    for i in range(3):
        apply(state, batch(1, [reading("e", T0 + (i + 1) * Q, 1)], gateway="g" * 400_000 + str(i)))
    for i in range(20):
        out = apply(state, batch(1, [reading("e", T0 + (i + 1) * Q, 1)], gateway=f"gw-{i}"))
        assert out.applied == (i < er.DEFAULT_LIMITS.max_gateways)
        if i >= er.DEFAULT_LIMITS.max_gateways:
            assert reasons(out) == ["too_many_gateways"]
    size = len(json.dumps({k: v for k, v in state.items() if k != "id"}))  # the meter-days are kept beside it
    assert len(state["seq"]) == 16 and size < 2_000, size
    assert apply(state, batch(2, [reading("e", T0 + 30 * Q, 1)], gateway="gw-0")).applied  # known ones go on


def test_batches_coalesced_between_two_state_writes_are_undone_together():
    """With emission on a cadence (streams/ecmon_worker/emission.py) the state is written once for several
    batches. A crash may keep the meter-days they changed and lose that state write: processed again from the
    state last written, the batches must count exactly as the first time, corrections included."""
    state = er.new_state()
    store: dict[str, str] = {}
    apply(state, batch(1, [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 10)]), identities=store)
    written = json.loads(json.dumps(state))  # on the changelog: version 1
    later = [batch(2, [reading("e", T0 + 3 * Q, 5), reading("e", T0 + Q, 2000, replaces=1234)]),
             batch(3, [reading("e", T0 + 4 * Q, 6), reading("e", T0 + Q, 2100, replaces=2000),
                       reading("e", T0 + 2 * Q, 11, replaces=10)]),
             batch(4, [reading("e", T0 + 3 * Q, 50, replaces=5)])]
    for b in later:
        out = apply(state, b, identities=store, saved=(written["v"], written["wm"]))
        assert not out.rejections
    expected = json.loads(json.dumps(state["m"]))
    recovered = json.loads(json.dumps(written))  # the meter-days of 2-4 reached the changelog, the state did not
    for b in later:
        out = apply(recovered, b, identities=store, saved=(written["v"], written["wm"]))
        assert not out.rejections and out.readings_accepted == len(b["readings"])
    assert recovered["m"][ELEC][:3] == expected[ELEC][:3]
    # without the written version the undo record would reach back one batch only: batch 2 would look resent
    state = json.loads(json.dumps(written))
    store2: dict[str, str] = {}
    apply(er.new_state(), batch(1, [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 10)]), identities=store2)
    for b in later:
        apply(state, b, identities=store2)
    out = apply(json.loads(json.dumps(written)), later[0], identities=store2)
    assert "duplicate_reading" in reasons(out) or "conflicting_reading" in reasons(out)


class DecodedStore(dict):
    """A store like the worker's (app.TableSlice): identities stay decoded between batches."""

    keeps_decoded = True


def test_identities_kept_decoded_count_as_the_encoded_ones_and_encode_the_same():
    plain, decoded = er.new_state(), er.new_state()
    text: dict[str, str] = {}
    kept = DecodedStore()
    batches = [batch(1, [reading("e", T0 + Q, 1234), reading("e", T0 + 2 * Q, 10)]),
               batch(2, [reading("e", T0 + 3 * Q, 5), reading("e", T0 + Q, 2000, replaces=1234)]),
               batch(3, [reading("e", T0 + Q, 2000), reading("e", T0 + 4 * Q, 1, replaces=9)])]
    for b in batches:
        a = apply(plain, b, identities=text, saved=(1, 0))
        k = apply(decoded, b, identities=kept, saved=(1, 0))
        assert reasons(a) == reasons(k) and a.readings_accepted == k.readings_accepted
    assert plain["m"] == decoded["m"]
    assert all(isinstance(v, ri.DayIdentities) for v in kept.values())
    assert {key: ri.encoded(v) for key, v in kept.items()} == text


def test_identities_are_int32_in_memory_until_a_value_needs_int64_and_int64_in_the_changelog():
    day = ri.DayIdentities.new(900_000, 0)
    assert day.values.typecode == "i"
    day.put(3, 2**31 - 1, 1)
    assert day.values.typecode == "i"
    day.put(4, 2**31, 1)  # 2.1 million kWh in 15 minutes: rare, and exact all the same
    assert day.values.typecode == "q" and day.values[3] == 2**31 - 1 and day.values[4] == 2**31
    back = ri.DayIdentities.decode(day.encoded(), committed=1)
    assert back.values.typecode == "q" and list(back.values) == list(day.values)
    small = ri.DayIdentities.new(900_000, 0)
    small.put(0, 7, 1)
    text = small.encoded()
    assert len(text.split(":")[2]) == 1024  # 96 int64 values, as before
    again = ri.DayIdentities.decode(text, committed=1)
    assert again.values.typecode == "i" and again.encoded() == text


def test_a_roll_back_to_an_int64_value_works_on_int32_values():
    day = ri.DayIdentities.new(900_000, 0)
    day.put(2, 2**40, 1)
    day = ri.DayIdentities.decode(day.encoded(), committed=1)
    day.put(2, 5, 2)  # a correction to a small value, by a batch whose state is then lost
    assert ri.DayIdentities.decode(day.encoded(), committed=1).values[2] == 2**40
