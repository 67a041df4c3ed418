import random
import uuid

from ecmon.energy import to_mgce
from ecmon.months import month_start_ms
from ecmon_worker import enterprise_rollup as er
from ecmon_worker import regional_rollup as rr

METERS = {"m1": ("electricity", "kWh"), "m2": ("raw_coal", "t")}
T0 = month_start_ms("2026-10")


def batch(seq, readings, gateway="gw-1"):
    return {"gateway_id": gateway, "sequence": seq, "batch_id": str(uuid.UUID(int=seq % 2**128)), "readings": readings}


def reading(meter, ts, value, kind="INTERVAL"):
    energy, unit = METERS.get(meter, ("electricity", "kWh"))
    return {"meter_id": meter, "energy_type": energy, "unit": unit, "ts": ts, "value_milli": value, "kind": kind,
            "quality": "GOOD"}


def test_batch_totals_are_exact_and_a_resend_counts_nothing():
    state = er.new_state()
    readings = [reading("m1", T0 + 900_000 * i, 1234) for i in range(1, 5)] + [reading("m2", T0 + 900_000, 2500)]
    out = er.apply_batch(state, batch(1, readings), METERS)
    assert out.applied and out.readings_accepted == 5
    assert state["m"]["electricity|kWh|2026-10"][:3] == [4 * 1234, 4 * to_mgce("electricity", "kWh", 1234), 4]
    again = er.apply_batch(state, batch(1, readings), METERS)
    assert again.duplicate and not again.applied
    assert again.touched == out.touched  # re-emitted, not re-counted
    assert state["m"]["electricity|kWh|2026-10"][2] == 4


def test_bad_readings_are_rejected_one_by_one_with_reasons():
    state = er.new_state()
    readings = [reading("m1", T0 + 900_000, 5), reading("nope", T0 + 900_000, 5), reading("m1", T0 + 1_800_000, -1)]
    out = er.apply_batch(state, batch(1, readings), METERS)
    assert [r.reason for r in out.rejections] == ["unknown_meter", "negative_interval_value"]
    assert out.readings_accepted == 1


def test_late_reading_lands_in_its_own_month():
    state = er.new_state()
    er.apply_batch(state, batch(1, [reading("m1", T0 + 900_000, 7)]), METERS)
    er.apply_batch(state, batch(2, [reading("m1", T0 - 900_000, 3)]), METERS)  # September, arriving late
    assert state["m"]["electricity|kWh|2026-09"][0] == 3
    assert state["m"]["electricity|kWh|2026-10"][0] == 7


def totals_message(uscc, state, keys):
    return {"uscc": uscc, "region_code": "210200", "industry_code": "3120", "totals": er.month_totals(state, keys)}


def test_regional_rollup_is_exact_under_replays_and_reordering():
    rng = random.Random(7)
    enterprises = {f"E{i}": er.new_state() for i in range(5)}
    messages = []
    for seq in range(1, 30):
        uscc = rng.choice(list(enterprises))
        st = enterprises[uscc]
        out = er.apply_batch(st, batch(seq, [reading("m1", T0 + 900_000 * seq, rng.randrange(10**6))]), METERS)
        messages.append(totals_message(uscc, st, out.touched))
    # deliver with duplicates and stale versions interleaved
    delivery = messages + rng.sample(messages, 10)
    province = rr.new_state()
    for msg in delivery:
        rr.apply_totals(province, "210000", msg)
    expected = sum(st["m"]["electricity|kWh|2026-10"][0] for st in enterprises.values() if st["m"])
    assert province["totals"]["PROVINCE|210000|*|electricity|kWh|2026-10"][0] == expected
    assert province["totals"]["PREFECTURE|210200|3120|electricity|kWh|2026-10"][0] == expected


def test_no_change_re_emits_what_the_message_mentions():
    st = er.new_state()
    out = er.apply_batch(st, batch(1, [reading("m1", T0 + 900_000, 10)]), METERS)
    province = rr.new_state()
    msg = totals_message("E1", st, out.touched)
    first = rr.apply_totals(province, "210000", msg)
    version = province["v"]
    assert rr.apply_totals(province, "210000", msg) == first
    assert province["v"] == version
