"""Online anomaly detection for one meter's interval consumption, with a small JSON state.

The baseline is a robust additive Holt-Winters model (after Gelper, Fried and Croux, "Robust forecasting
with exponential and Holt-Winters smoothing", 2010): expected = level + seasonal offset. The offset is
learnt per hour of the day and day type (working day, Saturday or Sunday) in China Standard Time (72
cells), shrunk towards the hour-of-day cell (24) while the day-type cell has few readings, and that towards
zero while the hour is new. Every update uses the residual clipped to 2 scales (Huber), so anomalies barely
move the baseline, and the level is not moved while a drop or stuck episode is open. The scale is a
clipped mean absolute residual per day type and hour. Time constants are in hours, so a 5-minute and a
15-minute meter behave alike; the interval is inferred from the gaps.

Findings are emitted once per episode: a spike when it happens, a drop once it lasted ``DROP_READINGS``
(or ``DEEP_READINGS`` below a quarter of the expected value, for meters too noisy for a z-score), a level
shift when a CUSUM of clipped z-scores finds it and the new level then holds ``SHIFT_CONFIRM_H`` (the
baseline moves at once, so a permanent change is reported once; one that goes back is forgotten), a stuck
meter after the same non-zero value for an hour, a counter regression on a negative interval (unless the
meter is bidirectional: many negatives), an impossible value when it is not finite or 100 times the largest
value the meter ever showed. Silence is the worker's (timers).

A drop is not reported when it is the plant's routine (``_routine_stop``): it starts at the time of day and
depth of one of the meter's last four drops, or just after the last one ended. A change back soon after a
reported level shift or drift is its end. Wild readings are one ``spike`` (reported once the cluster closed)
or one ``noisy`` episode (``_noise``). A confirmed change is a ``drift`` when a ramp from its onset fits it
better than a step does (``_confirm_shift``), or when it is itself too small to report, comes within
``DRIFT_HOLD_H`` of a rise followed silently as too small, and the pieces together reach the reporting size (a
slow creep confirms in pieces; version 8).

A fall in consumption (a drop, a level shift or drift down) opens a stop regime that remembers the level it
fell from (version 7): further falls while the level is still down are its stages (``_in_stop``: a
turnaround goes to half load, then nearly off), a return up to that level within four weeks is its end, and
a reading about what the meter used before the stop puts the baseline back at once (``_restart``). So a
multi-day stop no weekly calendar explains is one finding at its start, not one per stage and restart.

The score of a point (``Verdict.score``, 0..1) is separate from the findings: the largest of four anomaly
likelihoods (``_surprise``) - the error against a fast local mean, the same on a log scale, the seasonal z
of the baseline, and the novelty of the recent shape (``_context_view``, after CAD OSE) - with one alarm
per event, and half a score for an alarm that recurs at the same time of day. It is what NAB scores; the
worker acts on findings. The cells are stored with 4 significant digits and the other floats with 6, and
the context counts are one fixed string of 512 digits, so the state stays about 2.9 kB of JSON whatever
the stream's length (the worker's, unscored, about 2.4 kB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import meter_score  # relative: the compiled copy (ecmon_worker.compiled) imports its compiled sibling

DETECTOR = "meter_anomalies"
DETECTOR_VERSION = "9"

_HOUR_MS = 3_600_000
_CST_MS = 8 * _HOUR_MS

WARMUP_READINGS = 12  # no consumption findings before the baseline has seen this many readings
CELL_PRIOR = 3.0  # readings after which a cell counts as much as its fallback
CELL_RATE_MIN = 0.05  # a seasonal cell forgets with this weight once it has 20 readings
DAY_TYPE_RATE = 5.0  # Saturday and Sunday cells are seen one day a week, not five: they learn 5x as fast per reading
TAU_LEVEL_H = 72.0  # level time constant: slower than a weekend, so a quiet Sunday does not move it
TAU_SCALE_H = 24.0
CLIP = 2.0  # Huber clipping of residuals, in scales
SCALE_FLOOR = 0.02  # of the mean magnitude: a noiseless meter must not turn rounding into anomalies
Z_SPIKE = 8.0
Z_DROP = 6.0
DROP_READINGS = 2
Z_EPISODE = 3.0  # a point this far out keeps an episode open
CUSUM_K, CUSUM_H, CUSUM_CLIP = 0.5, 50.0, 5.0
LEVEL_SHIFT_MIN = 0.15  # of the mean magnitude: smaller confirmed shifts are followed, not reported
SHIFT_CONFIRM_H = 18.0  # a level shift is reported once the new level has held this long; one that goes back is not
SHIFT_LEARN_DAYS = 14  # a meter's first two weeks: no weekly profile to shift against yet, shifts are followed silently
RETURN_DAYS = 7  # a change back within this long of a reported one (or a drift's last part) is its end
DRIFT_HOLD_H = 48.0  # further changes in a reported drift's direction this soon after the last are the drift going on
CREEP = 4  # the kind of a change record (``rl[1]``) for a rise followed silently as small: a creep may follow
Z_WILD = 6.0  # a jump between consecutive readings this many scales wide is a wild reading's edge
NOISY_JUMPS = 4  # jumps in one cluster that make it a burst of noise (a lone spike makes two)
NOISY_GAP_H = 1.0  # a cluster of wild readings stays open this long after its last jump
LJ_UNKNOWN = 1.0  # an upgraded meter's usual log step (an e-fold) until it has learnt its own: about a week
LEAP_RATIO = 2.0  # a reading at least this many times (or this share of) the one before is wild by its ratio too,
# when that step is also Z_WILD times the meter's usual one on a log scale: a burst on a meter whose hourly
# profile varies as much as the burst stays under Z_WILD scales
BURST_RATIO = 1.5  # inside an open cluster, a step to this many times (or this share of) the reading before is a jump
STUCK_MIN_READINGS, STUCK_MIN_MS = 4, _HOUR_MS
IMPOSSIBLE_FACTOR, IMPOSSIBLE_AFTER = 100.0, 100
DROP_RATIO = 0.5  # a drop falls below half the expected value
DEEP_RATIO, DEEP_Z, DEEP_READINGS = 0.25, 1.0, 4  # or below a quarter of it for an hour, however noisy the meter
STUCK_SCALE = 1e-3  # a repeated value is only suspicious where the meter's readings usually vary this much
BIDIRECTIONAL_SHARE = 0.01  # meters with more negative intervals than this export as well as import
DROP_REJOIN_H = 3.0  # a drop this soon after the last one ended is that stop going on (a stop's readings wander)
STOPS_KEPT = 4  # the meter's own calendar of stops: the start and depth of its last drops
STOP_DAYS = 35  # a drop starting at the time of day of a remembered one at most this long ago ...
STOP_TOL_MS = 20 * 60_000  # ... within this (a plant's schedule is to the quarter hour; the faults are not) ...
STOP_MATCHES = 1  # ... of this many remembered stops ...
STOP_DEPTH = 0.1  # ... and as deep (within this share of the expected value) is the plant's routine stop
STOP_RETURN_DAYS = 28  # a fall in consumption (a stop): a return within this long of its last part is its end
STOP_COURSE_DAYS = 7  # further falls this soon after a stop's last part are that stop going on
RESTART_TOL = 0.25  # in a stop, a reading within this share of what the meter used before it is the restart
# The score (``_surprise``). Rates are per reading: they are statistics over samples, not clocks.
FAST_RATE = 0.05  # the local mean the error is measured from (about 20 readings)
SCALE_RATE = 0.003  # the error's usual size (about 300 readings)
ERR_CLIP = 20.0
SHORT_RATE = 0.5  # the short mean of the errors
LONG_RATE = 0.001  # their long-run mean and variance (about 1,000 readings)
TAIL_DECADES = 8.0  # score 1.0 at a tail probability of 1e-8
ALARM_SCORE = 0.6  # tail 1.6e-5
QUIET_READINGS = 100  # after an alarm, scores are halved for this many readings
RECUR_ALARMS, RECUR_DAYS, RECUR_TOL_MS = 6, 3, _HOUR_MS  # an alarm at the time of day of one of the last
# alarms, 1 to 3 days later (within an hour), is a daily recurrence (a scheduled job): it scores half
LOG_EPS = 0.01  # the log and context views see sign(v) log(1 + |v| / (1 % of the mean magnitude, or the resolution))
LOG_WEIGHT = 0.9
SEASONAL_CLIP, SEASONAL_SHORT, SEASONAL_WEIGHT = 10.0, 0.3, 0.9  # the seasonal view: |z| against the baseline
CTX_LEVELS = 8  # the context view: levels of the value's own (log) range
CTX_CONTRACT = 1e-5  # per reading, the range's minimum and maximum move towards each other by this share
CTX_AGE = 20_000  # readings between two decrements of every context count (about 7 months at 15 minutes)
CTX_SHORT = 0.1  # the short mean of the novelty (about 10 readings)
CTX_START = 100  # readings before the context view starts (its range begins at the value then)
CTX_SD_FLOOR = 0.05  # the novelty's long-run spread is taken as at least this: a meter whose contexts are all
# familiar must see more than one new context to be surprised


@dataclass(frozen=True)
class Finding:
    type: str  # spike | noisy | drop | level_shift | drift | stuck | counter_regression | impossible_value
    severity: str  # INFO | WARNING | CRITICAL
    span_start_ms: int
    span_end_ms: int
    observed: float
    expected: float
    score: float
    detail: str


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..1 anomaly likelihood of this point
    findings: tuple[Finding, ...] = ()


_NORMAL = Verdict(0.0)


@dataclass(frozen=True)
class ScoreParams:
    """The point score's few free parameters (``_surprise``); the findings do not depend on them. The
    evaluation chooses them leave-one-corpus-out (streams/anomaly_eval.py); the defaults are its choice."""

    quiet: int = QUIET_READINGS  # readings scored at half after an alarm
    long_rate: float = LONG_RATE  # how fast the views' long-run statistics forget
    log_weight: float = LOG_WEIGHT
    seasonal_weight: float = SEASONAL_WEIGHT
    context: bool = True  # the context view on or off
    recur: bool = True  # halve daily recurrences
    art: bool = True  # the score is the larger of the views' and the shape categories' (``meter_score``)


DEFAULT_SCORE = ScoreParams()
_SCORE_KEYS = ("lk", "ll", "ls", "cx", "cm", "ra", "ar")
STATE_VERSION = 7


def new_state() -> dict:
    """A fresh meter. The point score's views are added by the first scored reading (``_score_state``): the
    worker never scores, so its states carry only what the findings need."""
    return {
        "v": STATE_VERSION,  # the state's layout (7: the usual log step; 6: the calendar of stops; 5: noise clusters,
        # drift, change episodes)
        "n": 0,  # readings with a finite value
        "t": 0,  # newest timestamp
        "t0": 0,  # first timestamp (0 in a state saved before version 4: an established meter)
        "iv": 0,  # inferred interval, ms: the first gap, then any gap seen twice in a row
        "lg": 0,  # the last gap, ms
        "lv": 0.0,  # level
        "mg": 0.0,  # mean magnitude (scale floor)
        "hi": 0.0,  # largest normal |value|
        "neg": 0,  # negative intervals seen
        "wk": [0.0] * 72, "wn": [0] * 72,  # (working day | Saturday | Sunday) x hour offsets, their reading counts
        "hd": [0.0] * 24, "hn": [0] * 24,  # hour-of-day offsets, and the readings seen at that hour
        "hs": [0.0] * 72,  # day type x hour scales (a still Sunday evening is far less noisy than a Monday's)
        "sc": 0.0,  # overall scale
        "cu": 0.0, "cd": 0.0, "cr": 0.0, "ce": 0.0, "cc": 0,  # CUSUM up/down; residual and expected sums, count
        "ep": "", "es": 0, "ec": 0,  # open episode: kind, start ts, readings in it
        # a level shift waiting for confirmation: start ts, ratio (0: additive), shift, readings since,
        # the sums of the values and of the new baseline's expected values since, when it was found (the
        # confirmation's clock: later CUSUM alarms of the same change do not restart it), and the five sums
        # of the regression of the readings on the old baseline and time (``_trend``)
        "ps": _NO_SHIFT[:],
        # the last reported change (level shift or drift), for its end and a drift's course: reported ts,
        # kind (1 level shift, 2 drift, 3 stop, 4 a creep's piece: a rise followed silently), direction (+1 | -1),
        # the level before it (after it, for a reported level shift up: a creep that goes on is measured from
        # there), ts of its last part
        "rl": [0, 0, 0, 0.0, 0],
        # a cluster of wild readings: first ts, last jump's ts, jumps, reported as noisy (0 | 1), and the
        # largest reading's value, expected value, z and ts (a lone spike is reported once the cluster closed),
        # and how many of its readings were high
        "nz": [0, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0],
        "sv": 0.0, "ss": 0, "sk": 0,  # stuck: repeated value, first ts, repeats
        "dn": 0, "ds": 0, "dw": 0,  # readings far below expected in a row, the first one's ts; deep ones in a row
        # the last drop's end ts, then the meter's calendar of stops: [start ts, depth in % of expected] of
        # its last STOPS_KEPT drops, reported or routine
        "de": 0, "rs": [],
        "q": 0.0, "pv": 0.0,  # resolution (smallest change seen between readings), previous value
        "lj": 0.0,  # the usual step between consecutive readings on a log scale (mean absolute, robust)
    }


_NO_SHIFT = [0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0]


def _score_state(st: dict) -> None:
    """The point score's views, added on the first scored reading."""
    st.update({
        # the score: fast mean, its error scale; short and long-run mean of the errors, their variance;
        # readings left in the quiet period after an alarm
        "lk": [st["pv"], 0.0, 0.0, 0.0, 1.0, 0],
        "ll": [0.0, 0.0, 0.0, 0.0, 1.0],  # the log view: as the first five of "lk", on the log of the value
        "ls": [0.0, 0.0, 1.0],  # the seasonal view: short mean of |z|, its long-run mean and variance
        # the context view: range (min, max), the last three distinct levels, readings since the counts
        # were last aged, then short mean, long-run mean and variance of the novelty; and the counts of
        # the 512 contexts, one digit each
        "cx": [0.0, 0.0, 0, 0, 0, 0, 0.0, 0.0, 1.0],
        "cm": "0" * CTX_LEVELS ** 3,
        "ra": [],  # the timestamps of the last RECUR_ALARMS alarms of the score
    })


def _upgrade(st: dict) -> None:
    """Complete a state saved by an earlier version (the worker checkpoints them): version 6 had no usual log
    step (``LJ_UNKNOWN`` until it is learnt, as an old meter's warm-up is long past); version 2 had no score
    views beyond the first; version 3 had one weekend cell per hour, which now serves as both the Saturday
    and the Sunday cell until they have learnt their own, and one scale per hour of the day, which each day
    type starts from; version 4 had a shorter pending shift, no change episodes and noise clusters, an
    open spike episode, and score views in every state (dropped where they were never used)."""
    if len(st["wk"]) == 48:
        st["wk"] = st["wk"] + st["wk"][24:]
        st["wn"] = st["wn"] + st["wn"][24:]
    if len(st["hs"]) == 24:
        st["hs"] = st["hs"] * 3
    ps = st.get("ps")
    if ps is not None and len(ps) < len(_NO_SHIFT):
        st["ps"] = _NO_SHIFT[:] if not ps[0] else ps + _NO_SHIFT[len(ps):]
    if st.get("ep") == "spike":
        st["ep"] = ""
    if "cm" in st and st["cm"].strip("0") == "" and not st.get("ra"):  # the worker's: never scored
        for key in _SCORE_KEYS:
            st.pop(key, None)
    elif "lk" in st or "cm" in st:
        fresh: dict = {}
        _score_state_into(fresh, st.get("pv", 0.0))
        for key, value in fresh.items():
            st.setdefault(key, value)
    if "lj" not in st:  # version 6: the usual step is not known yet, so no step is a leap until it is learnt
        st["lj"] = LJ_UNKNOWN
    for key, fresh in new_state().items():
        st.setdefault(key, fresh)
    st["v"] = STATE_VERSION


def _score_state_into(target: dict, pv: float) -> None:
    tmp = {"pv": pv}
    _score_state(tmp)
    del tmp["pv"]
    target.update(tmp)


def _cells(ts_ms: int) -> tuple[int, int]:
    """(day type x hour, hour of day) in CST; a reading stamped 08:00 covers 07:45-08:00, so hour 7.

    Day type is working day (Monday-Friday), Saturday or Sunday: plants differ between them far more than
    between, say, Tuesday and Wednesday. Version 3 had one weekend type, and a mill that works a Saturday
    shift and stands still on Sunday looked wrong on both days (false level shifts and drops every weekend);
    version 1's 168 hour-of-week cells measured no better, at more than twice the bytes for the cells."""
    hours = (ts_ms + _CST_MS - 1) // _HOUR_MS
    hour = hours % 24
    weekday = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return 24 * max(0, weekday - 4) + hour, hour


def _rate(interval_ms: int, tau_h: float) -> float:
    return 1.0 - math.exp(-max(interval_ms, 60_000) / (tau_h * _HOUR_MS))


def _compact(x: float) -> float:
    """Four significant digits (0.1 %): the cells are most of the state's JSON, and noise is far coarser."""
    return float(f"{x:.4g}")


def _compact6(x: float) -> float:
    return float(f"{x:.6g}")


def _strength(z: float) -> float:
    z = abs(z)
    return z / (z + 6.0)


def _finding(kind: str, start: int, end: int, observed: float, expected: float, z: float, detail: str,
             severity: str = "WARNING") -> Finding:
    return Finding(kind, severity, start, end, observed, expected, 0.5 + 0.5 * _strength(z), detail)


def observe(state: dict, ts_ms: int, value: float, scored: bool = True,
            params: ScoreParams = DEFAULT_SCORE) -> Verdict:
    """Judge one accepted reading (interval consumption ending at ``ts_ms``) and learn from it.

    ``scored=False`` skips the point score (about half the cost): the worker acts on findings only, and
    the findings do not depend on the score.

    The score is the larger of the views' (``_surprise``), which measure how far readings stray from the
    meter's usual values, and the shape categories' (``meter_score``), which see a pattern the meter never
    showed; after an alarm of either, the next ``params.quiet`` readings' shape score is halved, so one
    event is one alarm (leave one corpus out on NAB: 63.4, the views alone 57.5; docs/anomalies.md)."""
    if not (scored and params.art) or not math.isfinite(value):
        return _observe(state, ts_ms, value, scored, params)
    ar = state.get("ar")
    if ar is None:
        ar = state["ar"] = meter_score.new_state()
    shape = meter_score.observe(ar, value)  # every finite reading, so the blocks stay aligned with the stream
    verdict = _observe(state, ts_ms, value, scored, params)
    quiet = ar.get("fq", 0)
    if quiet > 0:
        shape *= 0.5
        ar["fq"] = quiet - 1
    score = max(verdict.score, shape)
    if quiet == 0 and score >= ALARM_SCORE:
        ar["fq"] = params.quiet
    return verdict if score == verdict.score else Verdict(score, verdict.findings)


def _observe(state: dict, ts_ms: int, value: float, scored: bool, params: ScoreParams) -> Verdict:
    st = state
    if st.get("v") != STATE_VERSION:
        _upgrade(st)
    if scored and "lk" not in st:
        _score_state(st)
    if not math.isfinite(value):
        return Verdict(1.0, (Finding("impossible_value", "CRITICAL", ts_ms, ts_ms, value, st["lv"], 1.0,
                                     "the meter sent a value that is not a number"),))
    if ts_ms > st["t"]:
        if st["t"]:
            gap = ts_ms - st["t"]
            # One stray reading a minute after another must not make a 15-minute meter a 1-minute one
            # (time constants, the drop's day and the learning period are all counted in intervals).
            if not st["iv"] or gap == st["lg"]:
                st["iv"] = gap
            st["lg"] = gap
        else:
            st["t0"] = ts_ms
        st["t"] = ts_ms
    n = st["n"]
    if value < 0:
        st["neg"] += 1
        if st["neg"] <= BIDIRECTIONAL_SHARE * max(n, 100):
            return Verdict(1.0, (Finding("counter_regression", "CRITICAL", ts_ms, ts_ms, value, 0.0, 1.0,
                                         "negative consumption: the register went backwards"),))
    if n >= IMPOSSIBLE_AFTER and abs(value) > IMPOSSIBLE_FACTOR * st["hi"] > 0:
        st["hi"] = abs(value)  # reported once: if the meter goes on like this, it is judged as usual
        return Verdict(1.0, (Finding("impossible_value", "CRITICAL", ts_ms, ts_ms, value, st["hi"], 1.0,
                                     f"{abs(value) / st['hi']:.0f} times the largest value this meter ever sent"),))
    st["n"] = n + 1
    if n == 0:
        st["lv"] = value
        st["mg"] = abs(value)
        st["hi"] = abs(value)
        st["pv"] = value
        if scored:
            st["lk"][0] = value
        return _NORMAL

    week, hour = _cells(ts_ms)
    iv = st["iv"] or 900_000
    wn, hn = st["wn"][week], st["hn"][hour]
    offset, scale = _baseline(st, week, hour)
    if st["rl"][2] < 0 and n >= WARMUP_READINGS:
        _restart(st, ts_ms, value, offset)
        offset, scale = _baseline(st, week, hour)
    expected = st["lv"] + offset
    jump = abs(value - st["pv"]) / scale
    leap = _leap(st, value, n)
    if value != st["pv"] and (not st["q"] or abs(value - st["pv"]) < st["q"]):
        st["q"] = _compact6(abs(value - st["pv"]))
    st["pv"] = value
    resid = value - expected
    z = resid / scale

    findings: list[Finding] = []
    findings += _stuck(st, ts_ms, value, expected, iv, st["hs"][week] if wn >= CELL_PRIOR else 0.0)
    if n >= WARMUP_READINGS:
        lv = st["lv"]
        findings += _episodes(st, ts_ms, value, expected, z, resid, jump, leap)
        if st["lv"] != lv:  # the baseline moved (a level shift, a drop become the new normal): learn against it
            offset, scale = _baseline(st, week, hour)
            expected = st["lv"] + offset
            resid = value - expected
    # While a change waits for confirmation the level waits too: it is measured against the old baseline,
    # and a level that follows a ramp half way flattens it into a step.
    frozen = st["ep"] in ("drop", "stuck", "noisy") or bool(st["ps"][0])

    # During a drop or a stuck episode the level waits; the seasonal cells and scales still learn (clipped),
    # so a dip that recurs at the same hour every day or week becomes part of the profile.
    clipped = max(-CLIP * scale, min(CLIP * scale, resid))
    clean = expected + clipped
    if not frozen:
        st["lv"] += _rate(iv, TAU_LEVEL_H) * (clean - offset - st["lv"])
    dev = clean - st["lv"]
    wk, hd = st["wk"][week], st["hd"][hour]
    # (not while a drop is open: a stop's first Saturday learnt at five times the rate was still in the cells after the
    # restart, and the next weekend was a "change")
    cell_rate = CELL_RATE_MIN * (DAY_TYPE_RATE if week >= 24 and st["ep"] != "drop" else 1.0)
    st["wk"][week] = _compact(wk + max(1.0 / (wn + 1), cell_rate) * (dev - wk))
    st["hd"][hour] = _compact(hd + max(1.0 / (hn + 1), CELL_RATE_MIN) * (dev - hd))
    st["wn"][week] = min(wn + 1, 99)
    st["hn"][hour] = min(hn + 1, 99)
    a = min(abs(resid), 3.0 * scale) * 1.2533  # mean absolute deviation -> sigma for Gaussian noise
    if n < 3:
        a = abs(resid) * 1.2533
    st["hs"][week] = _compact(st["hs"][week] + max(1.0 / (wn + 1), cell_rate) * (a - st["hs"][week]))
    rate = max(1.0 / (n + 1), _rate(iv, TAU_SCALE_H))
    st["sc"] += rate * (a - st["sc"])
    st["mg"] += rate * (abs(value) - st["mg"])
    if abs(value) > st["hi"] and not frozen:
        st["hi"] = abs(value)
    score = _surprise(st, value, n, z, params) if scored else 0.0
    st["lv"], st["mg"], st["sc"] = _compact6(st["lv"]), _compact6(st["mg"]), _compact6(st["sc"])  # bounded JSON
    return Verdict(score, tuple(findings)) if findings or score else _NORMAL


def _leap(st: dict, value: float, n: int) -> float:
    """How wild ``value`` is by its ratio to the reading before: the step on a log scale when it is ``Z_WILD``
    times the meter's usual step (``"lj"``, learnt over a new meter's first 1 / ``SCALE_RATE`` readings before it
    counts; a state upgraded from version 6 starts at ``LJ_UNKNOWN`` and learns down from it, so no step is a leap
    for about a week), else 0. A reading is a leap at ``LEAP_RATIO`` times the one before (or that share of it),
    another jump of an open cluster at ``BURST_RATIO``. A meter that routinely switches on and off has a large usual
    step, so its switching is not wild."""
    eps = max(LOG_EPS * st["mg"], st["q"], 1e-9)
    step = abs(math.log((abs(value) + eps) / (abs(st["pv"]) + eps)))
    usual = st["lj"]
    # clipped, so that a burst's own steps barely move what is usual
    st["lj"] = _compact6(step if not usual else usual + SCALE_RATE * (min(step, Z_WILD * usual) - usual))
    return step if n * SCALE_RATE > 1.0 and step >= Z_WILD * usual else 0.0


def _baseline(st: dict, week: int, hour: int) -> tuple[float, float]:
    """The seasonal offset and the scale at this cell.

    A day-type cell leans on its hour-of-day cell only until it has CELL_PRIOR readings of its own: a
    Sunday cell kept near the weekdays' hour would expect a still plant to be running, week after week."""
    wn, hn = st["wn"][week], st["hn"][hour]
    day_off = st["hd"][hour] * hn / (hn + CELL_PRIOR)
    own = min(wn, CELL_PRIOR)
    offset = (st["wk"][week] * own + day_off * (CELL_PRIOR - own)) / CELL_PRIOR
    scale = (st["hs"][week] * wn + st["sc"] * CELL_PRIOR) / (wn + CELL_PRIOR)
    return offset, max(scale, SCALE_FLOOR * st["mg"], st["q"], 1e-12)


def _tail_score(short: float, mean: float, var: float, var_floor: float = 1e-6) -> float:
    """-log10 of the Gaussian upper tail of ``short`` against (mean, var), scaled to 1.0 at 1e-8."""
    tail = 0.5 * math.erfc((short - mean) / math.sqrt(max(var, var_floor)) / math.sqrt(2.0))
    return min(1.0, -math.log10(max(tail, 1e-300)) / TAIL_DECADES)


def _likelihood(stats: list, x: float, short_rate: float, rate: float, of_short: bool,
                var_floor: float = 1e-6) -> float:
    """One anomaly likelihood: a short mean of ``x`` against the long-run mean and variance of ``x`` (or of
    the short mean itself, ``of_short``, for a view whose point values are too coarse to compare alone).
    ``stats`` = [short mean, long-run mean, long-run variance], updated in place."""
    ms, mu, va = stats
    ms += short_rate * (x - ms)
    score = _tail_score(ms, mu, va, var_floor)
    diff = (ms if of_short else x) - mu
    mu += rate * diff
    va = (1.0 - rate) * (va + rate * diff * diff)
    stats[0], stats[1], stats[2] = _compact6(ms), _compact6(mu), _compact6(va)
    return score


def _error_view(stats: list, x: float, n: int, short_rate: float, long_rate: float = LONG_RATE) -> float:
    """The error of ``x`` against a fast local mean, in units of its usual size, as a likelihood.
    ``stats`` = [fast mean, error scale, short mean, long-run mean, long-run variance], updated in place."""
    fm, fd, ms, mu, va = stats
    err = min(abs(x - fm) / max(fd, 1e-9, 1e-3 * abs(fm)), ERR_CLIP) if n > 2 else 0.0
    dev = abs(x - fm)
    fm += FAST_RATE * (x - fm)
    fd += max(SCALE_RATE, 1.0 / (n + 1)) * ((min(dev, 5.0 * fd) if n > 20 else dev) - fd)
    rate = max(long_rate, 1.0 / (n + 1))
    ms += short_rate * (err - ms)
    score = _tail_score(ms, mu, va)
    diff = err - mu
    mu += rate * diff
    va = (1.0 - rate) * (va + rate * diff * diff)
    stats[:] = [_compact6(fm), _compact6(fd), _compact6(ms), _compact6(mu), _compact6(va)]
    return score


def _context_view(st: dict, x: float, rate: float) -> float:
    """How new the recent shape is (after CAD OSE's idea, Smirnov 2016, with a bounded memory).

    ``x`` is placed in one of ``CTX_LEVELS`` levels of its own range (the running minimum and maximum, which
    contract slowly towards each other, so one old extreme does not squeeze every later value into one
    level). The context is the last three distinct levels (the level now and the two it came from); its
    count in a table of all 512 contexts, a string of digits 0-9 that saturates at 9 and is decremented
    every ``CTX_AGE`` readings, says how familiar it is. The novelty 1 / (1 + count) goes through a
    likelihood of its short mean (about 10 readings): a changed pattern makes new contexts for a while,
    a meter that always wanders makes them all the time and is not surprising."""
    cx = st["cx"]
    lo, hi, p2, p1, cur, age = cx[:6]
    width = hi - lo
    lo, hi = min(lo + CTX_CONTRACT * width, x), max(hi - CTX_CONTRACT * width, x)
    level = min(CTX_LEVELS - 1, int(CTX_LEVELS * (x - lo) / (hi - lo))) if hi > lo else 0
    if level != cur:
        p2, p1, cur = p1, cur, level
    slot = (p2 * CTX_LEVELS + p1) * CTX_LEVELS + cur
    table = st["cm"]
    count = int(table[slot])
    if count < 9:
        table = table[:slot] + str(count + 1) + table[slot + 1:]
    age += 1
    if age >= CTX_AGE:
        age = 0
        table = "".join(str(max(0, int(c) - 1)) for c in table)
    st["cm"] = table
    stats = cx[6:]
    score = _likelihood(stats, 1.0 / (1.0 + count), CTX_SHORT, rate, True, CTX_SD_FLOOR ** 2)
    st["cx"] = [_compact6(lo), _compact6(hi), p2, p1, cur, age] + stats
    return score


def _surprise(st: dict, value: float, n: int, z: float, p: ScoreParams = DEFAULT_SCORE) -> float:
    """How unlikely the recent behaviour is for this meter: the largest of four anomaly likelihoods
    (Numenta's "anomaly likelihood", Ahmad et al. 2017), each against the meter's own long-run history.

    - error: the reading against a fast local mean (about 20 readings), in units of its usual size (a
      clipped mean absolute error over about 300 readings); a short mean of the errors (weight 0.5)
      against their long-run mean and variance (about 1,000 readings);
    - log error: the same on sign(value) log(1 + |value| / 1 % of the mean magnitude), which sees a change
      of the base level of a meter whose errors are dominated by huge bursts (network, disk, tweets); weight 0.9;
    - seasonal: |z| against the baseline (hour of day x day type), clipped to 10, short mean weight 0.3;
      it sees a missing or displaced daily pattern; weight 0.9;
    - context: the novelty of the recent shape (``_context_view``).

    The score is 1.0 at a tail probability of 1e-8. After a point scoring ``ALARM_SCORE`` the next
    ``QUIET_READINGS`` score half: one event is one alarm, and a meter that keeps misbehaving in the same
    way soon stops being surprising (its long-run statistics grow). An alarm at the time of day of a recent
    alarm (1 to ``RECUR_DAYS`` days before, within ``RECUR_TOL_MS``) scores half too: a daily recurrence,
    such as a scheduled job, is the meter's routine, not news."""
    quiet = st["lk"][5]
    errors = st["lk"][:5]
    score = _error_view(errors, value, n, SHORT_RATE, p.long_rate)
    x = math.copysign(math.log1p(abs(value) / max(LOG_EPS * st["mg"], st["q"], 1e-9)), value)
    if n == 1:
        st["ll"][0] = _compact6(x)
    if n == CTX_START:
        st["cx"][0] = st["cx"][1] = _compact6(x)
    rate = max(p.long_rate, 1.0 / (n + 1))
    score = max(score,
                p.log_weight * _error_view(st["ll"], x, n, SHORT_RATE, p.long_rate),
                p.seasonal_weight * _likelihood(st["ls"], min(abs(z), SEASONAL_CLIP), SEASONAL_SHORT, rate, False),
                _context_view(st, x, max(p.long_rate, 1.0 / (n - CTX_START + 1)))
                if n >= CTX_START and p.context else 0.0)
    if quiet > 0:
        quiet -= 1
        score *= 0.5
    elif score >= ALARM_SCORE:
        quiet = p.quiet
        now, alarms = st["t"], st["ra"]
        for t in alarms if p.recur else ():
            days = round((now - t) / (24 * _HOUR_MS))
            if 1 <= days <= RECUR_DAYS and abs(now - t - days * 24 * _HOUR_MS) <= RECUR_TOL_MS:
                score *= 0.5
                break
        st["ra"] = (alarms + [now])[-RECUR_ALARMS:]
    st["lk"] = errors + [quiet]
    return score if n >= WARMUP_READINGS else 0.0


def _stuck(st: dict, ts_ms: int, value: float, expected: float, iv: int, spread: float) -> list[Finding]:
    """The same non-zero value again and again where readings usually vary: a frozen meter.

    Zero is a plant standing still; a meter whose readings at this hour do not vary (a noiseless
    plateau) repeats its value legitimately."""
    if value != 0.0 and value == st["sv"] and spread > STUCK_SCALE * abs(value):
        st["sk"] += 1
    else:
        if st["ep"] == "stuck":
            st["ep"] = ""
        st["sv"], st["ss"], st["sk"] = value, ts_ms, 1
        return []
    k = st["sk"]
    # Inside an open drop a repeated value is the drop's floor (a breaker open reads the same trickle), not a frozen
    # register: the drop was reported already, and a stuck episode would end it and report it again.
    if k >= STUCK_MIN_READINGS and ts_ms - st["ss"] + iv >= STUCK_MIN_MS and st["ep"] not in ("stuck", "drop"):
        st["ep"], st["es"], st["ec"] = "stuck", st["ss"], k
        return [_finding("stuck", st["ss"], ts_ms, value, expected, 20.0,
                         f"the same value {value:g} for {k} readings", "WARNING")]
    return []


def _rebase(st: dict, shift: float, ratio: float) -> None:
    """Move the baseline to a confirmed new level. Consumption changes in proportion (a new line, a
    stopped kiln scale every hour alike), so a positive meter's whole profile is scaled; others shift."""
    if ratio <= 0.0:
        st["lv"] += shift
        return
    st["lv"] *= ratio
    for key in ("wk", "hd", "hs"):
        st[key] = [_compact(x * ratio) for x in st[key]]


def _noise(st: dict, ts_ms: int, value: float, expected: float, z: float, jump: float,
           leap: float) -> list[Finding]:
    """Wild readings: a lone spike, or a burst of them (wiring noise, a failing transformer) as one episode.

    A reading ``Z_SPIKE`` scales above the expected value opens a cluster; it stays open while jumps of
    ``Z_WILD`` scales between consecutive readings keep coming, each within ``NOISY_GAP_H`` of the last; a
    reading wild by its ratio to the one before (``leap``, see ``_leap``) opens one ``Z_EPISODE`` scales out
    and counts as a jump; in an open cluster a smaller ratio does (``BURST_RATIO``: a burst's readings, 0.1 to 4
    times the normal, are seldom each twice or half the one before).
    ``NOISY_JUMPS`` of them make the cluster a ``noisy`` episode, reported at once with its span so far;
    the baseline and the CUSUM wait until it has been calm for ``NOISY_GAP_H``. A cluster that closes
    without becoming noisy is a spike, reported then (the readings are back where they were; one that
    stayed up is a step, the CUSUM's): a spike is reported up to ``NOISY_GAP_H`` late, so that a burst
    is one finding, not one per wild reading."""
    nz = st["nz"]
    out = []
    if nz[0] and ts_ms - nz[1] > NOISY_GAP_H * _HOUR_MS:
        if nz[3]:
            st["ep"] = ""
        elif abs(z) < Z_EPISODE and nz[6] >= Z_SPIKE and nz[8] <= 2:
            out.append(_finding("spike", nz[7], nz[7], nz[4], nz[5], nz[6],
                                f"{nz[6]:.0f} scales above the expected value"))
        nz = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0]
    if nz[0]:
        nz[8] += z >= Z_EPISODE  # readings high in it: more than two and it is a step, not a spike
        if jump >= Z_WILD or leap >= math.log(BURST_RATIO):
            nz[1] = ts_ms
            nz[2] += 1
        if z > nz[6]:
            nz[4:8] = [_compact6(value), _compact6(expected), _compact6(z), ts_ms]
        if nz[2] >= NOISY_JUMPS and not nz[3]:
            nz[3] = 1
            st["ep"], st["es"], st["ec"] = "noisy", nz[0], nz[2]
            st["cu"] = st["cd"] = st["cr"] = st["ce"] = 0.0
            st["cc"] = st["dn"] = st["dw"] = 0
            ps = st["ps"]
            if ps[0] and ps[6] >= nz[0]:  # a "shift" the burst itself made: put the baseline back
                _rebase(st, -ps[2], 1.0 / ps[1] if ps[1] > 0 else 0.0)
                st["ps"] = _NO_SHIFT[:]
            hours = (ts_ms - nz[0]) / _HOUR_MS
            out.append(_finding("noisy", nz[0], ts_ms, value, expected, max(nz[6], Z_SPIKE),
                                f"{nz[2]} wild jumps (more than {Z_WILD:g} scales, or to {BURST_RATIO:g} times or "
                                f"{1.0 / BURST_RATIO:.2g} of the reading before) in {hours:.1f} h"))
    elif z >= Z_WILD and jump >= Z_WILD or leap >= math.log(LEAP_RATIO) and z >= Z_EPISODE:
        # a wild reading's edge (a step that stays up does not reopen it)
        nz = [ts_ms, ts_ms, 1, 0, _compact6(value), _compact6(expected), _compact6(z), ts_ms, 1]
    st["nz"] = nz
    return out


def _episodes(st: dict, ts_ms: int, value: float, expected: float, z: float, resid: float,
              jump: float, leap: float) -> list[Finding]:
    ep = st["ep"]
    if ep == "stuck":
        return []
    findings = _noise(st, ts_ms, value, expected, z, jump, leap)
    nz = st["nz"]
    if st["ep"] == "noisy" or nz[2] > 2:  # a burst (a lone spike makes two jumps): no drops, no CUSUM meanwhile
        return findings
    deep = expected > 0 and value < DEEP_RATIO * expected and z <= -DEEP_Z  # consumption, not export
    if ep == "drop":  # open while the points stay far below; the baseline waits meanwhile
        if z <= -Z_EPISODE or deep or 0.0 <= value < DROP_RATIO * expected:
            st["ec"] += 1
            if st["rl"][0] and st["rl"][2] < 0:
                st["rl"][4] = ts_ms  # the stop's last part is now
            if st["ec"] * (st["iv"] or 900_000) > 24 * _HOUR_MS:
                # a day long: the new normal (a stopped line), learn it; every hour drops in proportion, or the
                # other hours' offsets would make the stopped meter look like a drop again there
                if not (st["rl"][0] and st["rl"][2] < 0):  # a drop opened by version 6 kept no regime
                    st["rl"] = [ts_ms, 3, -1, _compact6(st["lv"]), ts_ms]
                _rebase(st, resid, max(value / expected, 1e-3) if expected > 0 and not st["neg"] else 0.0)
                st["ep"] = ""
                st["rl"][1], st["rl"][4] = 3, ts_ms  # its return is the stop's end, not news
            return findings
        st["ep"] = ""
        st["de"] = ts_ms
    # level shifts: CUSUM of clipped z, reported once, then the level moves to the new one
    zc = max(-CUSUM_CLIP, min(CUSUM_CLIP, z))
    cu = max(0.0, st["cu"] + zc - CUSUM_K)
    cd = max(0.0, st["cd"] - zc - CUSUM_K)
    if cu == 0.0 and cd == 0.0:
        st["cr"], st["ce"], st["cc"] = 0.0, 0.0, 0
    else:
        st["cr"] += resid
        st["ce"] += expected
        st["cc"] += 1
    st["cu"], st["cd"] = cu, cd
    strong = z <= -Z_DROP and value < DROP_RATIO * expected
    if (strong or deep) and not nz[0]:
        if not st["dn"] and not st["dw"]:
            st["ds"] = ts_ms
        st["dn"] = st["dn"] + 1 if strong else 0
        st["dw"] += 1
        if st["dn"] >= DROP_READINGS or st["dw"] >= DEEP_READINGS:
            st["ep"], st["es"], st["ec"], st["dn"], st["dw"] = "drop", st["ds"], st["dw"], 0, 0
            # A drop inside a stop regime is still reported (a fault on a plant at half load is one; measured:
            # taking them for the stop's stages cost 6 points of drop recall), but keeps the regime's level.
            if _in_stop(st, ts_ms, st["lv"]):
                st["rl"][4] = ts_ms
            else:  # a stop regime begins: the level it fell from is what its end returns to
                st["rl"] = [ts_ms, 3, -1, _compact6(st["lv"]), ts_ms]
            if _routine_stop(st, st["ds"], value / expected if expected > 0 else 0.0):
                return findings
            return findings + [_finding("drop", st["ds"], ts_ms, value, expected, z,
                                        f"{value / expected:.0%} of the expected value" if expected else "")]
        return findings
    st["dn"] = st["dw"] = 0
    if cu > CUSUM_H or cd > CUSUM_H:
        shift = st["cr"] / max(st["cc"], 1)
        start = ts_ms - (st["cc"] - 1) * (st["iv"] or 900_000)
        ratio = (st["ce"] + st["cr"]) / st["ce"] if st["ce"] > 0 and not st["neg"] else 0.0
        _rebase(st, shift, ratio)
        st["cu"] = st["cd"] = st["cr"] = st["ce"] = 0.0
        st["cc"] = 0
        ps = st["ps"]
        if ps[0]:  # a second shift before the first was confirmed: one change, measured from before the first,
            # on the first one's clock (a ramp fires again and again; restarting the clock never confirmed it)
            ratio = ps[1] * ratio if ps[1] > 0 and ratio > 0 else 0.0
            st["ps"] = [ps[0], _compact6(ratio), _compact6(ps[2] + shift)] + ps[3:]
        else:
            st["ps"] = [start, _compact6(ratio), _compact6(shift), 0, 0.0, 0.0, ts_ms, 0.0, 0.0, 0.0, 0.0, 0.0]
        return findings
    return findings + _confirm_shift(st, ts_ms, value, expected, z)


def _routine_stop(st: dict, start: int, ratio: float) -> bool:
    """Is a drop starting at ``start``, down to ``ratio`` of the expected value, part of the plant's own
    routine? It is when it follows the last drop within ``DROP_REJOIN_H`` (one stop whose readings wandered
    above the drop line for a while), or when it starts at the time of day of one of the meter's last
    ``STOPS_KEPT`` drops, on an earlier day at most ``STOP_DAYS`` ago, and is about as deep (a felt change
    every ten days, a monthly damping-down day: stops the hour-of-week profile cannot hold). Every drop joins
    the calendar, so a stop is news the first time only."""
    depth = round(100 * min(max(ratio, 0.0), 1.0))
    stops = st["rs"]
    rejoin = bool(st["de"]) and start - st["de"] <= DROP_REJOIN_H * _HOUR_MS
    matches = 0
    for t, d in stops:
        ago = start - t
        off = ago % (24 * _HOUR_MS)
        if (20 * _HOUR_MS <= ago <= STOP_DAYS * 24 * _HOUR_MS and min(off, 24 * _HOUR_MS - off) <= STOP_TOL_MS
                and abs(d - depth) <= 100 * STOP_DEPTH):
            matches += 1
    st["rs"] = (stops + [[start, depth]])[-STOPS_KEPT:]
    return rejoin or matches >= STOP_MATCHES


def _stop_open(rl: list, ts_ms: int) -> bool:
    """A stop regime that began at most ``STOP_RETURN_DAYS`` ago: the level it fell from is still the one
    its end returns to (a regime whose drops kept it open for months had long forgotten that level)."""
    return bool(rl[0]) and rl[2] < 0 and ts_ms - rl[0] <= STOP_RETURN_DAYS * 24 * _HOUR_MS


def _in_stop(st: dict, ts_ms: int, level: float, since_h: float = 0.0) -> bool:
    """Is the meter in a stop regime: its last part (a drop, a fall of its level) at most ``STOP_COURSE_DAYS``
    ago and the level (``level``) still down from where the stop began, or that last part less than
    ``since_h`` hours ago? A plant shuts down in stages (a turnaround: half load for two days, then nearly
    off for two weeks): each stage is the same stop, not news. A meter back at its level is not in a stop,
    however recent: a drop there is news again."""
    rl = st["rl"]
    if not _stop_open(rl, ts_ms) or ts_ms - rl[4] > STOP_COURSE_DAYS * 24 * _HOUR_MS:
        return False
    return level < rl[3] - LEVEL_SHIFT_MIN * abs(rl[3]) or ts_ms - rl[4] < since_h * _HOUR_MS


def _restart(st: dict, ts_ms: int, value: float, offset: float) -> None:
    """A stopped meter reading about what it used before the stop has restarted: its baseline goes back to
    the level before the stop at once. Learning the restart as a change (the CUSUM takes hours) meant wild
    readings against a stopped plant's tiny scale (a burst of "noise") and a level shift for every restart.
    The regime stays open, so a reading that only looked like a restart (a spike) and the stop going on
    after it are the stop's course."""
    rl, lv = st["rl"], st["lv"]
    pre = rl[3]
    # Not amid a burst of noise: two of its readings near the running load are not a restart.
    if (not _stop_open(rl, ts_ms) or st["neg"] or st["ep"] in ("drop", "noisy") or pre <= 0.0 or lv <= 0.0
            or lv >= (1.0 - LEVEL_SHIFT_MIN) * pre or lv + offset <= 0.0):
        return
    before = (lv + offset) * pre / lv  # what the meter expected here before the stop
    # ... and nearer that than what it expects now: a level shift down of a fifth opens a stop regime too, and every
    # reading within a quarter of the old level "restarted" the meter, rescaling its profile again and again
    if abs(value - before) > RESTART_TOL * before or abs(value - before) >= abs(value - lv - offset) or not st["lg"]:
        return
    # ... after a reading that was not stopped either: at least half of what the meter drew before the stop at this
    # hour or at that reading's own (a spike amid the stop is not a restart; a start-up in stages is one at its last
    # stage; an hourly meter's neighbouring hours differ). That reading's own hour has just learnt from it, so it
    # may read high, never low: the smaller of the two.
    earlier, _ = _baseline(st, *_cells(ts_ms - st["lg"]))
    if lv + earlier > 0.0:
        before = min(before, (lv + earlier) * pre / lv)
    if st["pv"] >= DROP_RATIO * before:
        _rebase(st, 0.0, pre / lv)
        st["ps"] = _NO_SHIFT[:]
        st["cu"] = st["cd"] = st["cr"] = st["ce"] = 0.0
        st["cc"] = 0
        # the first reading at the running load opened a cluster of wild readings: it was the restart's edge
        st["nz"] = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0]
        rl[4] = ts_ms


def _trend(ps: list, expected: float, value: float, ts_ms: int) -> None:
    """Add a reading to the pending change's regression: value = old baseline x (a + b t) for a change in
    proportion (value - old baseline = a + b t when additive), t in hours since the change was found."""
    ratio, shift, found = ps[1], ps[2], ps[6]
    t = (ts_ms - found) / _HOUR_MS
    if ratio > 0:
        x, y = expected / ratio, value
    else:
        x, y = 1.0, value - (expected - shift)
    w = x * x
    ps[7] += w
    ps[8] += w * t
    ps[9] += w * t * t
    ps[10] += x * y
    ps[11] += x * y * t


def _confirm_shift(st: dict, ts_ms: int, value: float, expected: float, z: float) -> list[Finding]:
    """Report a pending change once ``SHIFT_CONFIRM_H`` have passed since it was found, measured then
    against the old baseline from the readings since; forget it if they did not stay at least half way
    to the new level in its direction (a production shift, a batch: the baseline is put back).

    A change that a ramp from its onset fits better than a step is a ``drift``, reported once with its
    rate; later changes in its direction are its course, not news. So is a small rise within ``DRIFT_HOLD_H``
    of one followed silently as small (``CREEP``), once the pieces together reach ``LEVEL_SHIFT_MIN`` (a rise
    large enough to report is judged on its own). A change back
    in the other direction within ``RETURN_DAYS`` of a reported one's last part is that episode's end (a
    repaired leak, a line stopped again): not a new, opposite level shift; after a fall (a stop) the window is
    ``STOP_RETURN_DAYS`` and the return must not go past the level before the stop, and further falls
    within ``STOP_COURSE_DAYS`` while the level is down are the stop going on. A change the baseline
    follows silently (small, or in the learning weeks) is remembered alike, so its return is not news."""
    ps = st["ps"]
    if not ps[0]:
        return []
    if abs(z) > CUSUM_CLIP:  # a spike while the change waits must not become the change (as in the CUSUM)
        value = expected + (value - expected) * CUSUM_CLIP / abs(z)
    _trend(ps, expected, value, ts_ms)
    start, ratio, shift, k, sv, se, found = ps[:7]
    k, sv, se = k + 1, sv + value, se + expected
    if ts_ms - found < SHIFT_CONFIRM_H * _HOUR_MS:
        st["ps"] = [start, ratio, shift, k, _compact6(sv), _compact6(se), found] + [_compact6(x) for x in ps[7:]]
        return []
    s0, s1, s2, y0, y1 = ps[7:]
    st["ps"] = _NO_SHIFT[:]
    old = se / ratio if ratio > 0 else se - k * shift  # what the old baseline expected of these readings
    per_reading = (sv - old) / k  # the change as it held, per reading
    held = sv / old if ratio > 0 and old > 0 and sv > 0 else 0.0  # ... and in proportion
    if ratio > 0:
        went_back = held <= 0.0 or math.log(held) * math.copysign(1.0, ratio - 1.0) < abs(math.log(ratio)) / 2
    else:
        went_back = per_reading * math.copysign(1.0, shift) < abs(shift) / 2
    if went_back:
        _rebase(st, -shift, 1.0 / ratio if ratio > 0 else 0.0)
        return []
    # The CUSUM's estimate includes readings from before the change: move the baseline to what held.
    _rebase(st, per_reading - shift, held / ratio if ratio > 0 else 0.0)
    direction = 1 if per_reading > 0 else -1
    rl = st["rl"]
    stop = _stop_open(rl, ts_ms)
    if rl[0] and (rl[2] < 0 and not stop or rl[2] > 0 and ts_ms - rl[4] > RETURN_DAYS * 24 * _HOUR_MS):
        rl = st["rl"] = [0, 0, 0, 0.0, 0]
    lv = st["lv"]
    pre = lv / held if ratio > 0 and held > 0 else lv - per_reading  # the level before the change
    if rl[0] and direction != rl[2]:
        # A change back soon after a reported one is that episode's end, however far back it went: a leak
        # repaired in steps, a drift's extra load falling away; measuring "half way back" against a profile
        # rescaled twice since missed most of them, and each miss was a false opposite level shift.
        # A stop ends when consumption returns to where it was before it; a rise past that is news.
        if not stop:
            st["rl"] = [0, 0, 0, 0.0, 0]
            return []
        if lv <= rl[3] + LEVEL_SHIFT_MIN * abs(rl[3]):
            if lv < rl[3] - LEVEL_SHIFT_MIN * abs(rl[3]):
                rl[4] = ts_ms  # part of the way back (a start-up in stages): the stop is still on
            else:
                st["rl"] = [0, 0, 0, 0.0, 0]
            return []
        rl = st["rl"] = [0, 0, 0, 0.0, 0]
    elif direction < 0 and _in_stop(st, found, pre, 24.0):
        rl[4] = ts_ms
        return []  # the stop going on, in stages (the first may be a drop that closed a day ago)
    if rl[0] and rl[1] == 2 and direction == rl[2] and ts_ms - rl[4] < DRIFT_HOLD_H * _HOUR_MS:
        rl[4] = ts_ms
        return []  # the drift going on
    # A rise followed silently (small, or while learning) still has an end: remember it like a reported
    # one, or its return would be the first change the meter reports. (Not a fall: that would open a stop
    # regime on a level the learning weeks had not settled.)
    learning = bool(st["t0"]) and found - st["t0"] < SHIFT_LEARN_DAYS * 24 * _HOUR_MS
    small = abs(per_reading) < LEVEL_SHIFT_MIN * st["mg"] and not (ratio > 0 and abs(held - 1.0) >= LEVEL_SHIFT_MIN)
    shifted = rl[1] == 1 and rl[0] - st["t0"] >= SHIFT_LEARN_DAYS * 24 * _HOUR_MS  # a reported level shift
    if (small and not learning and direction > 0 and rl[0] and (rl[1] == CREEP or shifted) and rl[2] > 0
            and ts_ms - rl[4] < DRIFT_HOLD_H * _HOUR_MS):
        # Another small rise soon after one followed silently: a creeping load (a fouling exchanger) confirms
        # in pieces each below the reporting size, and was never reported. Measured from before its first
        # piece. (A rise large enough to report is judged on its own below: a step after a small rise is a step.)
        # Soon after a reported level shift up it is that change creeping on, measured from the level after it and
        # from when it was reported (its first piece was large enough to pass for a step).
        onset, before = rl[0], rl[3]
        relative = ratio > 0 and before > 0
        total = lv / before - 1.0 if relative else (lv - before) / st["mg"] if st["mg"] > 0 else 0.0
        if total < LEVEL_SHIFT_MIN:
            rl[4] = ts_ms
            return []
        st["rl"] = [onset, 2, 1, _compact6(before), ts_ms]
        days = max((ts_ms - onset) / (24 * _HOUR_MS), 1.0 / 24)
        unit = ("of the meter's mean magnitude" if not relative else
                "of the level after the level shift reported then" if shifted else "of the level before it")
        now = sv / k
        then = now / (1.0 + total) if relative else now - total * st["mg"]  # before the first piece
        how = "still rising" if shifted else "in steps each too small to report"
        return [_finding("drift", onset, ts_ms, now, then, z,
                         f"crept up by {total:+.0%} {unit} in {days:.1f} days ({total / days:+.1%} per day), {how}")]
    if small or learning:
        # real but small: the baseline follows it without an alarm; found while still learning the week: a
        # cold start's profile moves by itself. A small rise after the learning weeks may be a creep's first piece.
        kind = CREEP if small and not learning else 1
        st["rl"] = [start, kind, direction, _compact6(pre), ts_ms] if direction > 0 else st["rl"]
        return []
    # Step or ramp, fitted over the whole episode from its onset (``start``, where the CUSUM's run began):
    # a level shift is a constant change from the onset on, a drift grows from nothing at the onset. Both
    # are one-parameter fits of the change against the old baseline; the one that explains more of it wins.
    # (A slope over the confirmation alone called a step a drift whenever the profile was a little off
    # for those 18 h, and a ramp found late a step.)
    base = 1.0 if ratio > 0 else 0.0
    lag = max(0.0, (found - start) / _HOUR_MS)  # hours from the onset to the first alarm
    c0, c1 = y0 - base * s0, y1 - base * s1  # sums of w * change and w * change * t
    ct = c1 + lag * c0  # ... and of w * change * (hours since the onset)
    tt = s2 + 2.0 * lag * s1 + lag * lag * s0
    step_fit = c0 * c0 / s0 if s0 > 0 else 0.0
    ramp_fit = ct * ct / tt if tt > 0 else 0.0
    slope = ct / tt if tt > 0 else 0.0  # the ramp's rate, per hour
    drifting = ramp_fit > step_fit and slope * direction > 0
    # A level shift up remembers the level after it: a creep that goes on from there is measured from it.
    st["rl"] = [ts_ms, 2 if drifting else 1, direction, _compact6(lv if direction > 0 and not drifting else pre), ts_ms]
    if drifting:
        rate = (f"{slope * 24:+.1%} of the expected value per day" if ratio > 0
                else f"{slope * 24:+.4g} per reading per day")
        return [_finding("drift", start, ts_ms, sv / k, old / k, z,
                         f"creeping by {rate} (now {per_reading:+.4g} per reading) since the change began")]
    change = f" ({held - 1.0:+.0%})" if ratio > 0 else f" ({per_reading / (old / k):+.0%})" if old > 0 else ""
    return [_finding("level_shift", start, found, sv / k, old / k, z,
                     f"level moved by {per_reading:+.4g} per reading{change} and held {SHIFT_CONFIRM_H:g} h")]
