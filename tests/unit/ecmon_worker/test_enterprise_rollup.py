"""Enterprise rollup: batch-identity dedup, validation reasons, cumulative registers."""

import random
import uuid

import pytest

from ecmon.energy import to_mgce
from ecmon.months import month_start_ms
from ecmon_simulator.meters import Register, consumption_between
from ecmon_worker import enterprise_rollup as er
from ecmon_worker.dead_letters import REASONS

METERS = {"e": ("electricity", "kWh"), "g": ("natural_gas", "m3"), "x": ("unobtainium", "kWh"),
          "u": ("electricity", "furlong")}
T0 = month_start_ms("2026-10")
Q = 900_000  # 15 minutes
DAY = 86_400_000


def batch(seq, readings, gateway="gw-1", sent_at=None):
    b = {"gateway_id": gateway, "sequence": seq, "batch_id": str(uuid.UUID(int=seq % 2**128)), "readings": readings}
    if sent_at is not None:
        b["sent_at"] = sent_at
    return b


def reading(meter, ts, value, kind="INTERVAL"):
    energy, unit = METERS.get(meter, ("electricity", "kWh"))
    return {"meter_id": meter, "energy_type": energy, "unit": unit, "ts": ts, "value_milli": value, "kind": kind,
            "quality": "GOOD"}


def reg(ts, value):
    return reading("g", ts, value, "CUMULATIVE")


def gas(state, period="2026-10"):
    return state["m"].get(f"natural_gas|m3|{period}", [0, 0, 0, 0])[:3]


def reasons(out):
    return [r.reason for r in out.rejections]


# -- 1. duplicates by batch identity --------------------------------------------------------------


def test_a_batch_rejected_whole_and_resent_after_a_later_batch_is_counted():
    state = er.new_state()
    # batch 1 was rejected whole upstream (bad signature): the worker never applied it
    assert er.apply_batch(state, batch(2, [reading("e", T0 + Q, 5)]), METERS).applied
    resent = er.apply_batch(state, batch(1, [reading("e", T0 + 2 * Q, 7)]), METERS)
    assert resent.applied and not resent.duplicate
    assert state["m"]["electricity|kWh|2026-10"][0] == 12
    # ... and now both are duplicates
    assert er.apply_batch(state, batch(1, [reading("e", T0 + 2 * Q, 7)]), METERS).duplicate
    assert er.apply_batch(state, batch(2, [reading("e", T0 + Q, 5)]), METERS).duplicate
    assert state["seq"]["gw-1"] == [2, []]


def test_sequence_gaps_are_exact_and_bounded():
    # issue 15 changed this: a full gap memory refuses the batch that would open one more gap
    # (too_many_sequence_gaps) instead of giving up the oldest gap
    state = er.new_state()
    limits = er.Limits(max_sequence_gaps=3)
    outs = [er.apply_batch(state, batch(s, [reading("e", T0 + s * Q, 1)]), METERS, limits=limits)
            for s in (5, 10, 11, 20, 30, 40)]
    assert [o.applied for o in outs] == [True, True, True, True, False, False]
    assert reasons(outs[4]) == ["too_many_sequence_gaps"] and outs[4].rejected
    highest, gaps = state["seq"]["gw-1"]
    assert highest == 20 and gaps == [[1, 4], [6, 9], [12, 19]]  # no real gap was given up
    assert not er.already_applied(state, "gw-1", 15)
    assert er.apply_batch(state, batch(21, [reading("e", T0 + 21 * Q, 1)]), METERS, limits=limits).applied
    er.apply_batch(state, batch(15, [reading("e", T0 + 15 * Q, 1)]), METERS, limits=limits)
    assert er.already_applied(state, "gw-1", 15) and not er.already_applied(state, "gw-1", 14)
    assert not er.already_applied(state, "gw-2", 1)  # gateways are independent


def test_old_state_with_only_a_high_water_mark_still_dedupes():
    state = {"v": 3, "hwm": {"gw-1": 7}, "m": {}}
    assert er.apply_batch(state, batch(7, [reading("e", T0 + Q, 5)]), METERS).duplicate
    assert er.apply_batch(state, batch(8, [reading("e", T0 + Q, 5)]), METERS).applied
    assert state["seq"] == {"gw-1": [8, []]} and "hwm" not in state


def test_random_delivery_with_resends_counts_every_batch_exactly_once():
    rng = random.Random(5)
    sequences = list(range(1, 200))
    delivery = sequences + rng.choices(sequences, k=150)
    rng.shuffle(delivery)
    state = er.new_state()
    for s in delivery:
        er.apply_batch(state, batch(s, [reading("e", T0 + s * Q, s)]), METERS)
    assert state["m"]["electricity|kWh|2026-10"][0] == sum(sequences)
    assert state["m"]["electricity|kWh|2026-10"][2] == len(sequences)


# -- 3. validation reasons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "sent_at", "reason"),
    [
        (reading("x", T0 + Q, 1), None, "unknown_energy_type"),
        (reading("u", T0 + Q, 1), None, "unknown_unit"),
        ({**reading("e", T0 + Q, 1), "unit": "m3"}, None, "unknown_unit"),  # m3 cannot measure electricity
        (reading("e", T0 + 2 * 3_600_000 + Q, 1), T0, "future_timestamp"),
        (reading("e", T0 - 401 * DAY, 1), T0, "beyond_horizon"),
        (reading("g", T0 + Q, -1, "CUMULATIVE"), None, "negative_register_value"),
        (reading("e", T0 + Q, -1), None, "negative_interval_value"),
        (reading("nope", T0 + Q, 1), None, "unknown_meter"),
        ({**reading("e", T0 + Q, 1), "unit": "MWh"}, None, "meter_mismatch"),
    ],
)
def test_each_reading_level_reason(r, sent_at, reason):
    state = er.new_state()
    out = er.apply_batch(state, batch(1, [r, reading("e", T0 + Q, 3)], sent_at=sent_at), METERS)
    assert reasons(out) == [reason]
    assert reason in REASONS
    assert out.readings_accepted == 1 and state["m"]["electricity|kWh|2026-10"][0] == 3


def test_the_future_margin_also_holds_against_the_kafka_record_time():
    out = er.apply_batch(er.new_state(), batch(1, [reading("e", T0 + 2 * 3_600_000, 1)], sent_at=T0 + 5 * 3_600_000),
                         METERS, received_ms=T0)
    assert reasons(out) == ["future_timestamp"]
    ok = er.apply_batch(er.new_state(), batch(1, [reading("e", T0 + 3_600_000, 1)], sent_at=T0), METERS)
    assert reasons(ok) == []


def test_without_a_revision_window_a_month_closes_to_readings_at_its_grace():
    limits = er.Limits(revision_window_ms=0)
    state = er.new_state()
    sept = T0 - Q  # the last interval of September
    er.apply_batch(state, batch(1, [reading("e", T0 + 3 * DAY - Q, 1)]), METERS, limits=limits)  # within the grace
    assert reasons(er.apply_batch(state, batch(2, [reading("e", sept, 2)]), METERS, limits=limits)) == []
    er.apply_batch(state, batch(3, [reading("e", T0 + 3 * DAY + Q, 1)]), METERS, limits=limits)  # past the grace
    out = er.apply_batch(state, batch(4, [reading("e", sept, 4)]), METERS, limits=limits)
    assert reasons(out) == ["month_closed"]
    assert state["m"]["electricity|kWh|2026-09"][0] == 2


def test_a_late_reading_counts_within_the_revision_window_and_is_month_closed_after_it():
    limits = er.Limits(revision_window_ms=10 * DAY)  # grace: 3 days
    state = er.new_state()
    sept = T0 - Q
    er.apply_batch(state, batch(1, [reading("e", sept, 2)]), METERS, limits=limits)
    er.apply_batch(state, batch(2, [reading("e", T0 + 3 * DAY + Q, 1)]), METERS, limits=limits)  # September closes
    out = er.apply_batch(state, batch(3, [reading("e", sept - Q, 4)]), METERS, limits=limits)
    assert reasons(out) == [] and out.touched == ["electricity|kWh|2026-09"]  # counted: the province revises
    assert state["m"]["electricity|kWh|2026-09"][:3] == [6, to_mgce("electricity", "kWh", 2) + to_mgce(
        "electricity", "kWh", 4), 2]
    er.apply_batch(state, batch(4, [reading("e", T0 + 13 * DAY + Q, 1)]), METERS, limits=limits)  # window over
    out = er.apply_batch(state, batch(5, [reading("e", sept - 2 * Q, 8), reading("e", T0 + 13 * DAY + 2 * Q, 1)]),
                         METERS, limits=limits)
    assert reasons(out) == ["month_closed"] and out.readings_accepted == 1
    assert "2026-09" in out.rejections[0].detail and "revision window (10 days)" in out.rejections[0].detail
    assert state["m"]["electricity|kWh|2026-09"][0] == 6  # nothing changed
    assert "month_closed" in REASONS and "too_late_for_month" not in REASONS


def test_month_closed_is_decided_by_the_messages_alone_so_a_replay_decides_the_same():
    limits = er.Limits(revision_window_ms=5 * DAY)
    rng = random.Random(7)
    batches = [batch(i + 1, [reading("e", T0 + rng.randrange(-40, 40) * DAY // 4 * 4 + Q, 10 + i)])
               for i in range(60)]

    def run(received: int | None):
        state, decisions = er.new_state(), []
        for b in batches:
            out = er.apply_batch(state, b, METERS, limits=limits, received_ms=received)
            decisions.append((reasons(out), out.readings_accepted))
        return state, decisions

    first, replay = run(None), run(None)
    assert first == replay
    assert any(d == (["month_closed"], 0) for d in first[1]) and any(d == ([], 1) for d in first[1])
    # the wall clock plays no part: the same batches received at another (Kafka record) time decide the same
    assert run(T0 + 40 * DAY)[1] == first[1]


# -- 2. cumulative registers ------------------------------------------------------------------------


def test_the_first_register_reading_only_sets_the_baseline():
    state = er.new_state()
    out = er.apply_batch(state, batch(1, [reg(T0 + Q, 5_000)]), METERS)
    assert out.applied and gas(state) == [0, 0, 0]
    er.apply_batch(state, batch(2, [reg(T0 + 2 * Q, 7_500), reg(T0 + 3 * Q, 7_500)]), METERS)
    assert gas(state) == [2_500, to_mgce("natural_gas", "m3", 2_500), 2]


def test_rollover_at_a_power_of_ten_register_is_counted_across_the_wrap():
    state = er.new_state()
    modulus = 10**5 * 1000  # a 5-digit register, in thousandths
    er.apply_batch(state, batch(1, [reg(T0 + Q, modulus - 1_200)]), METERS)
    out = er.apply_batch(state, batch(2, [reg(T0 + 2 * Q, 800)]), METERS)
    assert out.notices == [] and gas(state)[0] == 2_000 and gas(state)[2] == 1


def test_a_fall_to_zero_or_a_big_drop_is_a_reset_counted_from_zero_with_a_notice():
    state = er.new_state()
    er.apply_batch(state, batch(1, [reg(T0 + Q, 99_999_000)]), METERS)
    out = er.apply_batch(state, batch(2, [reg(T0 + 2 * Q, 0)]), METERS)  # near the top, but exactly zero
    assert [n.reason for n in out.notices] == ["meter_reset"] and gas(state) == [0, 0, 0]
    er.apply_batch(state, batch(3, [reg(T0 + 3 * Q, 4_000)]), METERS)
    assert gas(state)[0] == 4_000
    out = er.apply_batch(state, batch(4, [reg(T0 + 4 * Q, 1_500)]), METERS)  # 4000 -> 1500: not a wrap
    assert [n.reason for n in out.notices] == ["meter_reset"]
    assert gas(state)[0] == 5_500 and gas(state)[2] == 1  # the reset reading is a new baseline
    assert "meter_reset" in REASONS


def test_register_readings_in_any_order_give_the_in_order_totals():
    rng = random.Random(3)
    register = Register(5, 10**5 * 1000 - 300_000)  # wraps during the run
    readings, expected, previous = [], 0, None
    for i in range(1, 300):
        shown = register.advance(rng.randrange(0, 4_000))
        if previous is not None:
            expected += consumption_between(previous, shown, register.modulus_milli)
        previous = shown
        readings.append(reg(T0 + i * Q, shown))
    in_order = er.new_state()
    er.apply_batch(in_order, batch(1, readings), METERS)
    assert gas(in_order)[0] == expected and gas(in_order)[2] == len(readings) - 1
    shuffled = er.new_state()
    # batches of 12, each shuffled, and a few readings held back up to 3 batches (within the history)
    chunks = [readings[i:i + 12] for i in range(0, len(readings), 12)]
    held = []
    for seq, chunk in enumerate(chunks, 1):
        chunk = list(chunk)
        for r in list(chunk):
            if rng.random() < 0.1:
                chunk.remove(r)
                held.append((rng.randrange(1, 4), r))
        due = [r for wait, r in held if wait <= 0 or seq == len(chunks)]
        held = [(wait - 1, r) for wait, r in held if not (wait <= 0 or seq == len(chunks))]
        chunk += due
        rng.shuffle(chunk)
        er.apply_batch(shuffled, batch(seq, chunk), METERS)
    assert gas(shuffled) == gas(in_order)


def test_a_late_reading_before_the_baseline_becomes_the_baseline():
    state = er.new_state()
    er.apply_batch(state, batch(1, [reg(T0 + 2 * Q, 9_000)]), METERS)
    er.apply_batch(state, batch(2, [reg(T0 + Q, 6_000)]), METERS)
    assert gas(state)[0] == 3_000 and gas(state)[2] == 1


def test_duplicate_and_out_of_window_register_readings_are_rejected_and_change_nothing():
    state = er.new_state()
    limits = er.Limits(register_history_ms=4 * Q)
    er.apply_batch(state, batch(1, [reg(T0 + i * Q, 1000 * i) for i in range(1, 11)]), METERS, limits=limits)
    before = gas(state)
    out = er.apply_batch(state, batch(2, [reg(T0 + 10 * Q, 10_000)]), METERS, limits=limits)
    assert reasons(out) == ["duplicate_reading"]
    state["reg"]["g"]["h"].pop(3)  # pretend one inside the window never arrived ...
    out = er.apply_batch(state, batch(3, [reg(T0 + 2 * Q, 2_000)]), METERS, limits=limits)
    assert reasons(out) == ["register_out_of_window"]
    assert gas(state) == before


def test_a_replaced_meter_starts_from_its_own_baseline():
    meters = {**METERS, "g2": ("natural_gas", "m3")}
    state = er.new_state()
    er.apply_batch(state, batch(1, [reg(T0 + Q, 50_000), reg(T0 + 2 * Q, 51_000)]), meters)
    new = {**reg(T0 + 3 * Q, 300), "meter_id": "g2"}
    er.apply_batch(state, batch(2, [new, {**reg(T0 + 4 * Q, 900), "meter_id": "g2"}]), meters)
    assert gas(state)[0] == 1_000 + 600 and gas(state)[2] == 2


# -- day buckets and their month's daily sum ----------------------------------------------------------


def test_day_buckets_follow_cst_days_and_sum_to_the_month():
    state = er.new_state()
    readings = [reading("e", T0 + i * Q, 1000 + i) for i in range(1, 200)]  # two days and a bit
    er.apply_batch(state, batch(1, readings), METERS)
    month = state["m"]["electricity|kWh|2026-10"]
    assert sorted(state["d"]) == ["electricity|kWh|2026-10-01", "electricity|kWh|2026-10-02",
                                  "electricity|kWh|2026-10-03"]
    assert state["d"]["electricity|kWh|2026-10-01"][2] == 96  # 00:15 .. 24:00 CST
    assert er.daily_sum(state, "electricity|kWh|2026-10") == (month[1], 3)
    (row,) = er.month_totals(state, ["electricity|kWh|2026-10"])
    assert (row["daily_coal_mgce"], row["days"]) == (row["coal_mgce"], 3)


def test_a_closed_month_folds_its_days_and_keeps_the_sum():
    state = er.new_state()
    limits = er.Limits(month_grace_ms=DAY, revision_window_ms=DAY)
    er.apply_batch(state, batch(1, [reading("e", T0 - Q * i, 7) for i in range(0, 5)]), METERS, limits=limits)
    before = er.daily_sum(state, "electricity|kWh|2026-09")
    er.apply_batch(state, batch(2, [reading("e", T0 + 2 * DAY - Q, 5)]), METERS, limits=limits)  # in the window
    assert any(k.startswith("electricity|kWh|2026-09-") for k in state["d"])  # a revision may still change them
    er.apply_batch(state, batch(3, [reading("e", T0 + 2 * DAY + Q, 5)]), METERS, limits=limits)  # September closes
    assert not any(k.startswith("electricity|kWh|2026-09-") for k in state["d"])
    assert er.daily_sum(state, "electricity|kWh|2026-09") == before
    assert before[0] == state["m"]["electricity|kWh|2026-09"][1]


def test_the_equal_value_method_prices_electricity_by_the_year_of_the_reading():
    state = er.new_state()
    er.apply_batch(state, batch(1, [reading("e", T0 + Q, 1000_000)]), METERS, er.factors_for("equal"))
    from ecmon.energy import coal_factor
    # 2026 has no published figure yet: the newest (2023) applies
    expected = coal_factor("electricity", "kWh", method="equal", year=2023).to_mgce(1000_000)
    assert state["m"]["electricity|kWh|2026-10"][1] == expected
    assert expected != coal_factor("electricity", "kWh").to_mgce(1000_000)
    assert er.factors_for("equivalent") is er.equivalent_factors
