"""NAB scoring on series small enough to score by hand (100 rows: probation = rows 0-14)."""

import math

import pytest

from ecmon_evaluation.nab import (
    PROFILES,
    LabelledSeries,
    WindowMetrics,
    benchmark,
    optimise_threshold,
    probation_length,
    scaled_sigmoid,
    score_series,
    window_metrics,
)

STD = PROFILES["standard"]
WINDOW = (40, 49)  # width 10


def series(hits: dict[int, float], windows=(WINDOW,), n=100) -> LabelledSeries:
    scores = [hits.get(i, 0.0) for i in range(n)]
    return LabelledSeries("s", [i * 300_000 for i in range(n)], scores, list(windows))


def test_scaled_sigmoid_landmarks():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0


def test_probation_is_15_percent_capped_at_750_rows():
    assert probation_length(100) == 15
    assert probation_length(4032) == 604
    assert probation_length(15_000) == 750


def test_perfect_detector_scores_100_and_null_scores_0():
    assert benchmark([series({40: 1.0})]).score == pytest.approx(100.0)
    assert benchmark([series({})]).score == pytest.approx(0.0)  # silent: every window missed, like null
    null = benchmark([series({i: 0.5 for i in range(100)})])
    assert null.null == -1.0 and null.perfect == 1.0 and null.score == pytest.approx(0.0)


def test_detection_in_the_middle_of_the_window_earns_less():
    raw = score_series(series({45: 1.0}), 0.5, STD).raw
    assert raw == pytest.approx(scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0))  # 0.8598


def test_only_the_first_detection_in_a_window_counts():
    assert score_series(series({40: 1.0, 41: 1.0, 49: 1.0}), 0.5, STD).raw == pytest.approx(1.0)


def test_false_positive_before_any_window_costs_a_full_fp_weight():
    assert score_series(series({20: 1.0, 40: 1.0}), 0.5, STD).raw == pytest.approx(1.0 - 0.11)


def test_false_positive_after_a_window_is_weighted_by_its_distance():
    # row 58 is (58 - 49) / (10 - 1) = 1.0 window past the right edge
    raw = score_series(series({40: 1.0, 58: 1.0}), 0.5, STD).raw
    assert raw == pytest.approx(1.0 + 0.11 * scaled_sigmoid(1.0))
    assert raw == pytest.approx(1.0 - 0.11 * 0.98661, abs=1e-5)


def test_detections_in_the_probationary_period_are_ignored():
    assert score_series(series({10: 1.0}), 0.5, STD).raw == -1.0


def test_threshold_is_swept_over_the_scores():
    s = series({40: 0.9, 70: 0.8, 45: 0.7})
    best = optimise_threshold([s], STD)
    assert best.threshold == 0.9 and best.raw == pytest.approx(1.0)
    assert score_series(s, 0.7, STD).raw == pytest.approx(1.0 + 0.11 * scaled_sigmoid(21 / 9))


def test_profiles_weigh_misses_and_false_alarms_differently():
    s = series({20: 1.0})  # one false alarm, the window missed
    assert score_series(s, 0.5, PROFILES["reward_low_FN_rate"]).raw == pytest.approx(-2.11)
    assert score_series(s, 0.5, PROFILES["reward_low_FP_rate"]).raw == pytest.approx(-1.22)


def test_window_metrics_count_events_and_delay():
    s = series({20: 1.0, 21: 1.0, 30: 1.0, 43: 1.0, 44: 1.0}, windows=(WINDOW, (80, 89)))
    m = window_metrics(s, 0.5)
    assert (m.windows, m.detected, m.false_alarms) == (2, 1, 2)
    assert m.delays_ms == (3 * 300_000,)
    assert m.precision == pytest.approx(1 / 3) and m.recall == 0.5
    assert m.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    total = m + WindowMetrics(1, 1, 0, (0,))
    assert total.recall == pytest.approx(2 / 3) and total.mean_delay_ms == 450_000
    assert not math.isnan(WindowMetrics(0, 0, 0, ()).f1)


# -- a second, independent reading of NAB's sweeper, to compare with on random corpora -----------------
#
# It follows numenta/NAB ``nab/sweeper.py`` step by step rather than ``ecmon_evaluation.nab``'s shortcuts: windows are
# entered by timestamp, rows in the probationary period are labelled and dropped, the rows of the whole
# corpus are sorted by score and a (threshold, total) pair is recorded each time the score changes, the
# best pair wins (the first, highest threshold, on ties), and a series is scored by looking its threshold
# up in its own list of pairs, as ``Sweeper.scoreDataSet`` does.


def _reference_rows(name, stamps, scores, windows, cost):
    probation = min(math.floor(0.15 * len(stamps)), 0.15 * 5000)
    limits = [(stamps[a], stamps[b]) for a, b in windows]
    rows, cur, right, width, prev_right, prev_width = [], None, None, None, None, None
    for i, (t, s) in enumerate(zip(stamps, scores)):
        if limits and t == limits[0][0]:
            cur = limits.pop(0)
            right = stamps.index(cur[1])
            width = float(right - stamps.index(cur[0]) + 1)
        if cur is not None:
            sweep = scaled_sigmoid(-(right - i + 1) / width) * cost.tp / scaled_sigmoid(-1.0)
        else:
            past = 3.0 if prev_right is None else abs(prev_right - i) / float(prev_width - 1)
            sweep = scaled_sigmoid(past) * cost.fp
        label = (f"{name}|{cur[0]}" if cur is not None else None) if i >= probation else "probationary"
        rows.append((s, sweep, label))
        if cur is not None and t == cur[1]:
            prev_right, prev_width, cur = i, width, None
    return rows


def _reference_by_threshold(rows, cost):
    rows = sorted([r for r in rows if r[2] != "probationary"], key=lambda r: r[0], reverse=True)
    parts = {"fp": 0.0}
    parts.update({r[2]: -cost.fn for r in rows if r[2] is not None})
    out, threshold = [], 1.1
    for s, sweep, label in rows:
        if s != threshold:
            out.append((threshold, sum(parts.values())))
            threshold = s
        if label is None:
            parts["fp"] += sweep
        else:
            parts[label] = max(parts[label], sweep)
    out.append((threshold, sum(parts.values())))
    return out


def _reference_score(rows, threshold, cost):
    prev = None
    for t, total in _reference_by_threshold(rows, cost):
        if t == threshold:
            return total
        if t < threshold:
            return prev[1]
        prev = (t, total)
    return prev[1]


@pytest.mark.parametrize("seed", range(6))
def test_scores_agree_with_a_literal_reading_of_nab(seed):
    import random

    rng = random.Random(seed)
    corpus = []
    for k in range(4):
        n = rng.randrange(60, 400)
        windows, i = [], rng.randrange(0, 30)  # the first window may lie in the probationary period
        while i < n - 10:
            w = rng.randrange(3, 25)
            if i + w < n:
                windows.append((i, i + w - 1))
            i += w + rng.randrange(1, 80)
        scores = [round(rng.random() ** 3, 2) for _ in range(n)]  # coarse: many ties
        corpus.append(LabelledSeries(f"s{k}", [j * 300_000 for j in range(n)], scores, windows))
    for cost in PROFILES.values():
        rows = [_reference_rows(s.name, list(s.timestamps_ms), s.scores, s.windows, cost) for s in corpus]
        pairs = _reference_by_threshold([r for rs in rows for r in rs], cost)
        best = max(pairs, key=lambda p: p[1])  # max keeps the first of equals, as NAB's stable sort does
        ours = optimise_threshold(corpus, cost)
        assert ours.threshold == best[0] and ours.raw == pytest.approx(best[1])
        for s, rs in zip(corpus, rows):
            for threshold in (best[0], 0.5, 0.125):
                expected = _reference_score(rs, threshold, cost)
                assert score_series(s, threshold, cost).raw == pytest.approx(expected)
