"""The point score NAB measures: novelty of the recent shape against categories learnt by adaptive resonance.

After ARTime (Mark Hampton, an Adaptive Resonance Theory detector for NAB) in its ideas, written anew:

- **Downsampling.** Readings are taken in blocks of ``step`` (about a hundredth of the learning period); a
  block is its mean, or its extreme reading when that is further from a slow mean of the blocks and at
  least 10 % away from the block's mean, so a lone spike survives the downsampling.
- **Normalisation without knowing the range.** NAB hands its detectors each file's minimum and maximum; a
  meter has no such thing. The blocks of the learning period (the first ``probation`` readings) give the
  range; the unit interval holds it with a margin on both sides, and what falls further out is clipped
  (it is novel anyway). Values are put on ``LEVELS`` levels, and a level close to the running median
  level is taken as the median: small wobbles around the usual value are not shapes.
- **Features.** The last ``window`` levels and the Haar wavelet coefficients of their min-max normalised
  shape: what the meter did lately, and how.
- **Categories.** A fuzzy ART with complement coding and two vigilances (dual-vigilance fuzzy ART): a
  feature vector resonating with a category above the upper vigilance refines it; one between the
  vigilances becomes a new category of a known cluster (a variant of a known shape); one below the lower
  vigilance is a new cluster: a candidate anomaly, scored by how far its best match falls below the
  vigilances and by the mismatch of its current value.
- **Adaptive vigilance.** The upper vigilance is the mean best match so far; the lower one moves towards
  the weakest recent match when nothing fell below it, and down by the recent shortfalls when things
  did, but never below the matches of past anomalies. So a meter's own variability sets how novel a
  shape must be: no threshold is tuned per series, which is why it holds on series it never saw.
- **One alarm per event.** After a candidate the next ``1.5 window`` blocks are masked unless something
  clearly worse comes; after a new cluster or a vigilance change, until the categories settle.

The state is a plain JSON dict (``new_state``), separate from the findings' state: it exists only where a
meter is scored (the NAB evaluation), never in the worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVELS = 80  # the unit interval in this many levels
CHOMP = 0.075  # a level this close to the running median level is the median
MARGIN = 0.25  # the learning period's range sits inside [0, 1] with this share of its width free on each side
SPIKE_SHARE = 0.1  # a block's extreme stands for it when at least this far (of the block's mean) from the mean
BLOCKS_PER_WINDOW = 13  # the learning period holds about this many feature windows of blocks
INITIAL_RHO = 0.8  # the vigilance that sorts the learning period's features before the first adaptation
RHO_CAP = 0.97
RHO_RAISE = 0.19  # share of the way towards the weakest recent match the lower vigilance moves up
SHORTFALL_MIN = 0.05  # shortfalls below the upper vigilance smaller than this are not counted ...
SHORTFALL_CAP = 0.37  # ... and larger ones are capped at this
STATE_VERSION = 1


@dataclass(frozen=True)
class ArtParams:
    probation: int = 600  # readings learnt before anything is scored (NAB: 15 % of a file, at most 750)
    window: int = 8  # blocks per feature window


DEFAULT_ART = ArtParams()


def new_state(p: ArtParams = DEFAULT_ART) -> dict:
    step = max(1, p.probation // (p.window * BLOCKS_PER_WINDOW))
    trend = max(p.window + 1, p.probation // step)  # blocks in the learning period
    return {
        "v": STATE_VERSION,
        "n": 0,  # readings seen
        "step": step, "trend": trend,
        "blk": [],  # the readings of the block being filled
        "i": 0,  # blocks so far
        "ma": 0.0,  # slow mean of the blocks
        "lo": 0.0, "hi": 0.0,  # the normalisation's range (from the learning period)
        "raw": [],  # the learning period's blocks, until it ends
        "med": [0] * (LEVELS + 1),  # level histogram, for the running median
        "fw": [],  # the last ``window`` normalised levels
        "W": [],  # categories (complement coded)
        "cl": [],  # their cluster
        "ncl": 0,  # clusters
        "lb": INITIAL_RHO, "ub": INITIAL_RHO,  # vigilances
        "am": [0.0, 0],  # mean best match so far, and the count
        "sw": [],  # the last trend / 2 + 1 best matches
        "sd": [],  # the last trend + 1 shortfalls (upper vigilance - best match)
        "la": -10**9, "ls": 0.0,  # the last anomaly's block and its match
        "ah": [0.0, 0, 0.0],  # past anomalies' matches: sum, count, the last one
        "lr": 0,  # block of the last vigilance change
        "mc": False, "nn": 0,  # masked since a new cluster; blocks since the last new cluster
    }


def observe(st: dict, value: float, p: ArtParams = DEFAULT_ART) -> float:
    """Learn one reading and return its anomaly score (0..1; 0 between blocks and while learning)."""
    st["n"] += 1
    blk = st["blk"]
    blk.append(value)
    if len(blk) < st["step"]:
        return 0.0
    st["blk"] = []
    mean = sum(blk) / len(blk)
    hi, lo = max(blk), min(blk)
    st["ma"] = mean if st["i"] == 0 else (st["ma"] + mean) / 2
    ds = hi if abs(hi - st["ma"]) >= abs(lo - st["ma"]) else lo
    if abs(ds - mean) < SPIKE_SHARE * abs(mean):
        ds = mean
    st["i"] += 1
    if st["i"] <= st["trend"]:
        st["raw"].append(ds)
        if st["i"] == st["trend"]:
            _learn_probation(st, p)
        return 0.0
    return _detect(st, _features(st, ds, p), p)


def _features(st: dict, ds: float, p: ArtParams) -> list[float] | None:
    width = st["hi"] - st["lo"]
    u = (ds - st["lo"]) / width if width > 0 else 0.5
    u = min(1.0, max(0.0, (u + MARGIN) / (1 + 2 * MARGIN)))
    level = round(u * LEVELS)
    med = st["med"]
    med[level] += 1
    half, seen, median = (sum(med) + 1) // 2, 0, level
    for k, c in enumerate(med):
        seen += c
        if seen >= half:
            median = k
            break
    x = level / LEVELS
    if abs(x - median / LEVELS) < CHOMP:
        x = median / LEVELS
    fw = st["fw"]
    fw.append(x)
    if len(fw) > p.window:
        del fw[0]
    if len(fw) < p.window:
        return None
    m = min(fw)
    shape = [v - m for v in fw]
    top = max(shape)
    if top > 0:
        shape = [v / top for v in shape]
    coef = _haar(shape)
    m = min(coef)
    coef = [c - m for c in coef]
    top = max(coef)
    if top > 0:
        coef = [c / top for c in coef]
    return coef + fw


def _haar(x: list[float]) -> list[float]:
    """Full orthonormal Haar transform (length a power of two; otherwise the levels it allows)."""
    out = list(x)
    n = len(out)
    r = 1 / math.sqrt(2)
    while n >= 2 and n % 2 == 0:
        a = [(out[2 * k] + out[2 * k + 1]) * r for k in range(n // 2)]
        d = [(out[2 * k] - out[2 * k + 1]) * r for k in range(n // 2)]
        out[:n] = a + d
        n //= 2
    return out


def _match(st: dict, f: list[float]) -> list[tuple[float, float, int, list[float]]]:
    """(match, value match, category, I AND W) of every category, best first."""
    x = f + [1 - v for v in f]
    half = len(f) - 1  # the current level and its complement carry the "energy" of the match
    out = []
    for j, w in enumerate(st["W"]):
        em = [a if a < b else b for a, b in zip(x, w)]
        nw = sum(w) or 1e-3
        fs = sum(em) / nw
        es = (em[half] + em[-1]) / ((w[half] + w[-1]) or 1e-3)
        out.append((fs ** 3 * es ** 2, es, j, em))
    out.sort(key=lambda t: -t[0])
    return out


def _train(st: dict, f: list[float]) -> tuple[int, float, float]:
    """One feature vector: (cluster, or -1 for a new one; best match; its value match)."""
    if not st["W"]:
        st["W"].append(f + [1 - v for v in f])
        st["ncl"] += 1
        st["cl"].append(st["ncl"])
        return -1, 0.0, 0.0
    matches = _match(st, f)
    best, best_e = matches[0][0], matches[0][1]
    label, resonant = -1, False
    for m, _, j, em in matches:
        if m >= st["ub"]:
            st["W"][j] = em
            if label == -1:
                label = st["cl"][j]
            resonant = True
        elif m >= st["lb"] and not resonant:
            label = st["cl"][j]
            st["W"].append(f + [1 - v for v in f])
            st["cl"].append(label)
            resonant = True
            break
        else:
            break
    if not resonant:
        st["ncl"] += 1
        st["W"].append(f + [1 - v for v in f])
        st["cl"].append(st["ncl"])
        label = -1
    return label, best, best_e


def _learn_probation(st: dict, p: ArtParams) -> None:
    raw = st.pop("raw")
    st["lo"], st["hi"] = min(raw), max(raw)
    feats = [f for f in (_features(st, ds, p) for ds in raw)]
    full = [f for f in feats if f is not None]
    if len(full) >= 2:
        st["lb"] = st["ub"] = _initial_rho(full, st)
    for k, f in enumerate(feats, start=1):
        if f is not None:
            _detect(st, f, p, k)
    st["raw"] = []


def _initial_rho(feats: list[list[float]], st: dict) -> float:
    """The learning period's features, least typical first, through a fresh ART at INITIAL_RHO: the mean
    best match of its second half is where the vigilances start."""
    def norm(v: list[float]) -> float:
        return math.sqrt(sum(a * a for a in v))

    norms = [norm(v) for v in feats]
    totals = []
    for i, a in enumerate(feats):
        s = 0.0
        for j, b in enumerate(feats):
            if i == j:
                s += 1.0
            elif norms[i] == 0 or norms[j] == 0:
                s += 1 - (norms[i] or norms[j])
            else:
                s += sum(x * y for x, y in zip(a, b)) / (norms[i] * norms[j])
        totals.append(s)
    order = sorted(range(len(feats)), key=lambda i: totals[i])
    tmp = {"W": [], "cl": [], "ncl": 0, "lb": INITIAL_RHO, "ub": INITIAL_RHO}
    best = [_train(tmp, feats[i])[1] for i in order]
    tail = best[len(best) // 2:]
    return sum(tail) / len(tail)


def _detect(st: dict, f: list[float] | None, p: ArtParams, i: int | None = None) -> float:
    """Train on one feature window and score it (ARTime's ``detect!``, with the probation's windows
    replayed through it unscored)."""
    if f is None:
        return 0.0
    i = st["i"] if i is None else i
    trend, mask = st["trend"], int(p.window * 1.5)
    since = i - st["la"]
    update_after_anomaly = since == mask
    update_for_trend = i - st["lr"] >= trend // 2
    masked_anomaly = since <= mask
    if i > trend + mask and st["mc"] and st["nn"] >= mask:
        st["mc"] = False
    label, a, ae = _train(st, f)
    st["nn"] = 0 if label == -1 else st["nn"] + 1
    am = st["am"]
    am[1] += 1
    am[0] += (a - am[0]) / am[1]
    _push(st["sw"], a, trend // 2 + 1)
    _push(st["sd"], st["ub"] - a, trend + 1)
    ah = st["ah"]
    if since < mask and ah[1] and a < ah[2]:
        ah[0] += a - ah[2]
        ah[2] = a
    masking = st["mc"] or masked_anomaly
    below_last = a < st["ls"] * (0.9 if masked_anomaly else 0.7)
    score = 0.0
    if i > trend and label == -1 and (not masking or below_last):
        score = _confidence(st, a, ae)
        ah[0] += a
        ah[1] += 1
        ah[2] = a
        st["ls"], st["la"] = a, i
    st["mc"] = label == -1 or st["mc"]
    if i > trend and (update_after_anomaly or update_for_trend):
        _adapt(st, i)
    return score


def _push(buf: list, x: float, size: int) -> None:
    buf.append(x)
    if len(buf) > size:
        del buf[0]


def _adapt(st: dict, i: int) -> None:
    """Move the vigilances with the meter's recent matches."""
    weakest = min(st["sw"])
    ub = min(RHO_CAP, st["am"][0])
    lb = st["lb"]
    if lb <= weakest:
        lb += (weakest - lb) * RHO_RAISE
    else:
        decr = 0.0
        if i > st["trend"] * 2:
            short = [min(SHORTFALL_CAP, d) for d in st["sd"] if d > SHORTFALL_MIN]
            if short:
                decr = sum(short) / len(short)
        lb -= max(0.01, decr) / 2
        if st["ah"][1]:
            lb = max(st["ah"][0] / st["ah"][1], lb)
    st["lb"], st["ub"] = min(ub, lb), ub
    st["lr"] = i
    st["mc"] = True


def _confidence(st: dict, a: float, ae: float) -> float:
    a = min(0.999, a)
    s = 0.35 * (st["ub"] - a) / (1 - a) + 0.65 * (st["lb"] - a) / (1 - a) + 1.5 * (1 - ae)
    return round(max(0.0, min(1.0, s)), 6)
