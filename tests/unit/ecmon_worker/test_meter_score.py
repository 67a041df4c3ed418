"""The shape categories (``meter_score``) on synthetic series: deterministic, silent while learning, a clear
anomaly above the rest, and a JSON state that round-trips."""

import json
import math
import random

from ecmon_worker import meter_score as ms


def series(n: int = 3000, at: int = 2000, seed: int = 3) -> list[float]:
    """A sine of period 96 with 3 % noise, and at ``at`` a block of 20 readings stuck at the top."""
    rng = random.Random(seed)
    out = [100 + 40 * math.sin(2 * math.pi * i / 96) + rng.gauss(0, 3) for i in range(n)]
    out[at:at + 20] = [140.0] * 20
    return out


def scores(values: list[float], state: dict | None = None) -> list[float]:
    st = ms.new_state() if state is None else state
    return [ms.observe(st, v) for v in values]


def test_deterministic_and_silent_while_learning():
    a, b = scores(series()), scores(series())
    assert a == b
    assert all(0.0 <= x <= 1.0 for x in a)
    assert max(a[:ms.DEFAULT_ART.probation]) == 0.0


def test_a_clear_anomaly_scores_above_the_rest():
    out = scores(series())
    inside = max(out[2000:2040])
    assert inside > 0.3
    assert inside > max(out[1000:1990])  # the ordinary cycles after learning score below it


def test_the_state_round_trips_through_json():
    values = series()
    state = ms.new_state()
    scores(values[:2100], state)
    copy = json.loads(json.dumps(state))
    assert scores(values[2100:], state) == scores(values[2100:], copy)


def test_haar_keeps_the_energy():
    x = [0.1, 0.5, 0.2, 0.9, 0.0, 0.3, 0.7, 0.4]
    y = ms._haar(x)
    assert math.isclose(sum(v * v for v in x), sum(v * v for v in y))
