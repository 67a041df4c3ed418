"""Numenta Anomaly Benchmark scoring, as the NAB repository (numenta/NAB v1.1, ``nab/sweeper.py``) defines it.

A detector gives every row of a series an anomaly score; a row is a detection when its score is at
least the threshold. Each labelled window counts once: its earliest detection earns the scaled sigmoid
of its position (1.0 x A_tp at the window's left edge, falling towards 0 at the right edge); a window
without detection costs A_fn. Every detection outside a window costs A_fp times the sigmoid of its
distance past the previous window (a full A_fp before the first window). The first 15 % of each series
(at most 750 rows) is the probationary period and is not scored. The threshold is swept over every
distinct anomaly score of the whole corpus and the best total is kept per profile; totals are normalised
as 100 x (raw - null) / (perfect - null), null being the constant-0.5 detector at its own best threshold
and perfect the number of windows x A_tp.

Window-level precision, recall and delay are not part of NAB; they are computed here at the threshold
NAB chose for the standard profile (see ``window_metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class CostMatrix:
    tp: float
    fp: float
    fn: float
    tn: float = 1.0


# NAB's config/profiles.json
PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}


@dataclass(frozen=True)
class LabelledSeries:
    """One scored series: its row timestamps (epoch ms), the detector's scores and its windows.

    ``windows`` are (first row, last row) index pairs, inclusive, in time order."""

    name: str
    timestamps_ms: Sequence[int]
    scores: Sequence[float]
    windows: Sequence[tuple[int, int]]


def scaled_sigmoid(position: float) -> float:
    """-1 (window's left edge) -> 0.987; 0 (right edge) -> 0; further right -> towards -1; -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def probation_length(rows: int, percent: float = PROBATION_PERCENT) -> float:
    return min(math.floor(percent * rows), percent * 5000)


@dataclass(frozen=True)
class _Row:
    score: float
    sweep: float  # weighted contribution if this row is a detection
    window: int  # index of the window the row lies in, -1 outside every window


def _sweep_rows(series: LabelledSeries, cost: CostMatrix) -> list[_Row]:
    """Each scorable row with what it would contribute as a detection (NAB ``calcSweepScore``)."""
    n = len(series.scores)
    probation = probation_length(n)
    rows = []
    windows = list(series.windows)
    w = 0
    cur: tuple[int, int] | None = None
    prev: tuple[int, int] | None = None
    for i in range(n):
        if cur is None and w < len(windows) and i == windows[w][0]:
            cur, w = windows[w], w + 1
        if cur is not None:
            width = cur[1] - cur[0] + 1
            sweep = scaled_sigmoid(-(cur[1] - i + 1) / width) * cost.tp / _MAX_TP
            window = w - 1
        else:
            past = 3.0 if prev is None else abs(prev[1] - i) / max(prev[1] - prev[0], 1)  # NAB: / (width - 1)
            sweep = scaled_sigmoid(past) * cost.fp
            window = -1
        if i >= probation:
            rows.append(_Row(series.scores[i], sweep, window))
        if cur is not None and i == cur[1]:
            prev, cur = cur, None
    return rows


@dataclass(frozen=True)
class SeriesScore:
    raw: float
    tp: int  # rows, as NAB counts them
    fp: int
    fn: int
    tn: int


def score_series(series: LabelledSeries, threshold: float, cost: CostMatrix) -> SeriesScore:
    """NAB's raw score of one series at a threshold (rows scoring >= threshold are detections)."""
    rows = _sweep_rows(series, cost)
    best: dict[int, float] = {r.window: -cost.fn for r in rows if r.window >= 0}
    fp_total = 0.0
    tp = fp = fn = tn = 0
    for r in rows:
        hit = r.score >= threshold
        if r.window >= 0:
            tp, fn = tp + hit, fn + (not hit)
            if hit:
                best[r.window] = max(best[r.window], r.sweep)
        else:
            fp, tn = fp + hit, tn + (not hit)
            if hit:
                fp_total += r.sweep
    return SeriesScore(sum(best.values()) + fp_total, tp, fp, fn, tn)


@dataclass(frozen=True)
class Optimum:
    threshold: float
    raw: float


def optimise_threshold(corpus: Sequence[LabelledSeries], cost: CostMatrix) -> Optimum:
    """The threshold with the best corpus total, swept over every distinct score (NAB ``calcScoreByThreshold``)."""
    parts: dict[tuple[int, int], float] = {}
    all_rows: list[tuple[float, float, tuple[int, int] | None]] = []
    for k, series in enumerate(corpus):
        for r in _sweep_rows(series, cost):
            key = (k, r.window) if r.window >= 0 else None
            if key is not None:
                parts[key] = -cost.fn
            all_rows.append((r.score, r.sweep, key))
    return best_threshold(all_rows, parts)


def best_threshold(rows: list[tuple[float, float, tuple[int, int] | None]],
                   parts: dict[tuple[int, int], float]) -> Optimum:
    """Sweep the thresholds down over ``rows`` (score, sweep value, window key or None for a false positive),
    ``parts`` holding each window's miss cost: a window counts its best detection once (NAB's sweep)."""
    rows.sort(key=lambda r: r[0], reverse=True)
    total = sum(parts.values())
    best = Optimum(1.1, total)  # NAB's starting threshold: nothing detected
    i = 0
    while i < len(rows):
        threshold = rows[i][0]
        while i < len(rows) and rows[i][0] == threshold:
            _, sweep, key = rows[i]
            if key is None:
                total += sweep
            elif sweep > parts[key]:
                total += sweep - parts[key]
                parts[key] = sweep
            i += 1
        if total > best.raw:
            best = Optimum(threshold, total)
    return best


def null_corpus(corpus: Sequence[LabelledSeries]) -> list[LabelledSeries]:
    """NAB's null detector: a constant 0.5 on every row."""
    return [LabelledSeries(s.name, s.timestamps_ms, [0.5] * len(s.scores), s.windows) for s in corpus]


def normalised(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def score(self) -> float:
        return normalised(self.raw, self.null, self.perfect)


def benchmark(corpus: Sequence[LabelledSeries], profile: str = "standard") -> ProfileResult:
    """The NAB score of a corpus in one profile, with the threshold optimised over the corpus."""
    cost = PROFILES[profile]
    best = optimise_threshold(corpus, cost)
    null = optimise_threshold(null_corpus(corpus), cost).raw
    perfect = sum(len(s.windows) for s in corpus) * cost.tp
    return ProfileResult(profile, best.threshold, best.raw, null, perfect)


def subset_result(corpus: Sequence[LabelledSeries], threshold: float, profile: str = "standard") -> ProfileResult:
    """A part of the corpus (one NAB folder) scored at the threshold chosen for the whole corpus."""
    cost = PROFILES[profile]
    raw = sum(score_series(s, threshold, cost).raw for s in corpus)
    null = optimise_threshold(null_corpus(corpus), cost).raw
    perfect = sum(len(s.windows) for s in corpus) * cost.tp
    return ProfileResult(profile, threshold, raw, null, perfect)


@dataclass(frozen=True)
class WindowMetrics:
    """Windows found and false alarms, counted as events rather than NAB's rows."""

    windows: int
    detected: int
    false_alarms: int  # runs of consecutive detections outside every window
    delays_ms: tuple[int, ...]  # window start -> first detection inside it, per detected window

    @property
    def precision(self) -> float:
        found = self.detected + self.false_alarms
        return self.detected / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_delay_ms(self) -> float | None:
        return sum(self.delays_ms) / len(self.delays_ms) if self.delays_ms else None

    def __add__(self, other: WindowMetrics) -> WindowMetrics:
        return WindowMetrics(self.windows + other.windows, self.detected + other.detected,
                             self.false_alarms + other.false_alarms, self.delays_ms + other.delays_ms)


def window_metrics(series: LabelledSeries, threshold: float) -> WindowMetrics:
    """Event-level view at a threshold; the probationary period is left out, as NAB does."""
    n = len(series.scores)
    probation = probation_length(n)
    inside = [-1] * n
    for k, (a, b) in enumerate(series.windows):
        for i in range(a, b + 1):
            inside[i] = k
    first: dict[int, int] = {}
    false_alarms = 0
    in_run = False
    for i in range(n):
        hit = i >= probation and series.scores[i] >= threshold
        k = inside[i]
        if hit and k >= 0:
            first.setdefault(k, i)
        if hit and k < 0:
            false_alarms += not in_run
            in_run = True
        else:
            in_run = False
    ts = series.timestamps_ms
    delays = tuple(ts[i] - ts[series.windows[k][0]] for k, i in sorted(first.items()))
    scorable = sum(1 for a, b in series.windows if b >= probation)
    return WindowMetrics(scorable, len(first), false_alarms, delays)
