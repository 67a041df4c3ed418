"""The meter-level detector on synthetic 15-minute series: each finding once per episode, one alarm per event,
bounded JSON state."""

import json
import math
import random

from streams import meter_anomalies as det

T0 = 1_775_001_600_000  # 2026-04-01 08:00 CST
STEP = 900_000


def normal(i: int, rng: random.Random) -> float:
    """A day shift plant: 1.5 from 08:00 to 17:00 CST, 0.5 otherwise, 4 % noise."""
    hour = ((T0 + i * STEP - 1) // 3_600_000 + 8) % 24  # the reading stamped 17:00 covers 16:45-17:00
    return 100.0 * (1.5 if 8 <= hour < 17 else 0.5) * rng.gauss(1.0, 0.04)


def run(days: int = 21, fault=None, seed: int = 7):
    """Findings after a two-week warm-up; ``fault(i, value)`` may change a value."""
    rng = random.Random(seed)
    state = det.new_state()
    found = []
    for i in range(days * 96):
        v = normal(i, rng)
        if fault is not None:
            v = fault(i, v)
        verdict = det.observe(state, T0 + i * STEP, v)
        if i >= 14 * 96:
            found += [(i, f) for f in verdict.findings]
    return state, found


FAULT_AT = 16 * 96 + 40  # a weekday, 18:00


def types(found):
    return [f.type for _, f in found]


def test_a_normal_plant_raises_nothing_and_the_interval_is_inferred():
    state, found = run()
    assert found == []
    assert state["iv"] == STEP


def test_spike():
    _, found = run(fault=lambda i, v: v * 10 if i == FAULT_AT else v)
    assert types(found) == ["spike"]
    i, f = found[0]
    assert i == FAULT_AT and f.observed > 5 * f.expected and 0.5 < f.score <= 1.0


def test_long_drop_is_one_event():
    _, found = run(fault=lambda i, v: v * 0.1 if FAULT_AT <= i < FAULT_AT + 24 else v)
    assert types(found) == ["drop"]
    i, f = found[0]
    assert i == FAULT_AT + det.DROP_READINGS - 1 and f.span_start_ms == T0 + FAULT_AT * STEP


def test_level_shift_is_reported_once_and_then_learnt():
    _, found = run(days=24, fault=lambda i, v: v * 1.6 if i >= FAULT_AT else v)
    assert types(found) in (["level_shift"], ["spike", "level_shift"])
    assert found[-1][0] - FAULT_AT < 16  # within four hours


def test_stuck_meter():
    frozen = {}

    def fault(i, v):
        if FAULT_AT <= i < FAULT_AT + 24:
            return frozen.setdefault("v", v)
        return v

    _, found = run(fault=fault)
    assert types(found) == ["stuck"]
    i, f = found[0]
    assert i == FAULT_AT + det.STUCK_MIN_READINGS - 1 and f.span_start_ms == T0 + FAULT_AT * STEP


def test_counter_regression_and_impossible_values():
    _, found = run(fault=lambda i, v: -v if i == FAULT_AT else (v * 1e4 if i == FAULT_AT + 10 else v))
    assert types(found)[:2] == ["counter_regression", "impossible_value"]
    state = det.new_state()
    verdict = det.observe(state, T0, math.nan)
    assert verdict.score == 1.0 and verdict.findings[0].type == "impossible_value"


def test_state_is_bounded_and_round_trips_through_json():
    state, _ = run(days=7)
    size_week = len(json.dumps(state))
    state, _ = run(days=35)
    size = len(json.dumps(state))
    assert size <= size_week + 200 and size <= 1500  # the counts saturate; nothing grows with the stream
    copy = json.loads(json.dumps(state))
    rng = random.Random(3)
    for i in range(200):
        ts, v = T0 + (35 * 96 + i) * STEP, normal(35 * 96 + i, rng)
        assert det.observe(state, ts, v) == det.observe(copy, ts, v)
    assert copy == state


def scores(days: int = 21, fault=None, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    state = det.new_state()
    out = []
    for i in range(days * 96):
        v = normal(i, rng)
        out.append(det.observe(state, T0 + i * STEP, v if fault is None else fault(i, v)).score)
    return out


def test_a_normal_plant_scores_well_below_an_alarm():
    for seed in (7, 8, 9):
        assert max(scores(seed=seed)[3 * 96:]) < det.ALARM_SCORE / 2  # its daily steps are its normal


def test_the_score_alarms_once_per_event():
    out = scores(fault=lambda i, v: v * 10 if i in (FAULT_AT, FAULT_AT + 10) else v)
    assert out[FAULT_AT - 1] < det.ALARM_SCORE <= out[FAULT_AT] <= 1.0
    quiet = out[FAULT_AT + 1:FAULT_AT + 1 + det.QUIET_READINGS]
    assert max(quiet) <= 0.5  # the second spike, ten readings on, is part of the same event
    assert max(out[FAULT_AT + 1 + det.QUIET_READINGS:]) < det.ALARM_SCORE


def test_scores_are_probabilities_from_the_first_reading():
    out = scores(days=2, fault=lambda i, v: 0.0 if i % 7 == 0 else v)
    assert all(0.0 <= x <= 1.0 for x in out)
    assert out[:det.WARMUP_READINGS] == [0.0] * det.WARMUP_READINGS
