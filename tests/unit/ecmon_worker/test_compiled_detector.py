"""The compiled meter detector (``ecmon_worker.compiled``) against its pure-Python reference (``meter_anomalies``):
the same readings through both give identical verdicts (every finding's kind, severity, times, observed and
expected values, score and detail; the point score) and identical states after every series, compared exactly
(tolerance zero: floats by their repr, so a NaN equals a NaN and 0.0 does not equal -0.0).

Streams: the simulated fleet with every reading fault, as the worker runs it (unscored); a few of its meters
and a subset of the NAB corpora scored, as ``ecmon eval anomalies`` runs it; and readings no meter should send
(NaN, infinities, negatives, huge values). ``ECMON_EQUIVALENCE_ALL=1`` compares every NAB series (about 100 s)
instead of the subset (one series of each corpus).

The compiled module must be built (``make venv``): a missing one fails here rather than being skipped, so a
build that silently left it out cannot pass."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from types import ModuleType

import pytest

from ecmon_worker import meter_anomalies as reference
from ecmon_worker import meter_detector
from tests.bench.bench_meter_detector import fleet_readings, meter_streams

NAB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nab"
NAB_SUBSET = (  # one of each corpus; the flat line and the spikes take the stuck and noise paths
    "artificialNoAnomaly/art_flatline.csv",
    "artificialWithAnomaly/art_increase_spike_density.csv",
    "realAWSCloudwatch/grok_asg_anomaly.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realTweets/Twitter_volume_FB.csv",
)
SCORED_FLEET_METERS = 4


@pytest.fixture(scope="module")
def compiled() -> ModuleType:
    try:
        return meter_detector.compiled()
    except ImportError as e:
        pytest.fail(f"the compiled meter detector is not built ({e}): `make venv` builds it")


@pytest.fixture(scope="module")
def fleet() -> dict[str, list[tuple[int, float]]]:
    return meter_streams(fleet_readings(enterprises=6, days=42))


def _run(detector: ModuleType, stream: list[tuple[int, float]], scored: bool) -> tuple[list[str], str, int]:
    """Each verdict and the final state as exact text, and how many findings there were."""
    state = detector.new_state()
    verdicts, findings = [], 0
    for ts, value in stream:
        v = detector.observe(state, ts, value, scored=scored)
        verdicts.append(repr((v.score, [dataclasses.astuple(f) for f in v.findings])))
        findings += len(v.findings)
    return verdicts, repr(state), findings


def _assert_equal(compiled: ModuleType, name: str, stream: list[tuple[int, float]], scored: bool) -> int:
    """Compare the two detectors on one stream; the number of findings, so a test can show it saw some."""
    ref_verdicts, ref_state, findings = _run(reference, stream, scored)
    got_verdicts, got_state, _ = _run(compiled, stream, scored)
    for i, (want, got) in enumerate(zip(ref_verdicts, got_verdicts)):
        assert got == want, f"{name}: reading {i} (ts {stream[i][0]}): compiled {got} != reference {want}"
    assert got_state == ref_state, f"{name}: the states differ after {len(stream)} readings"
    return findings


def test_the_compiled_detector_is_compiled(compiled):
    assert compiled.__file__.endswith(".so"), compiled.__file__
    assert compiled.meter_score.__file__.endswith(".so"), "the compiled detector imported the reference's shapes"
    assert compiled is not reference


def test_the_fleet_as_the_worker_runs_it(compiled, fleet):
    flagged = sum(_assert_equal(compiled, meter, stream, scored=False) for meter, stream in fleet.items())
    assert flagged > 50  # every fault type injected: the comparison covered findings, not only quiet readings


def test_fleet_meters_scored(compiled, fleet):
    for meter in sorted(fleet)[:SCORED_FLEET_METERS]:
        _assert_equal(compiled, meter, fleet[meter], scored=True)


@pytest.mark.skipif(not NAB.exists(), reason="NAB data not present in ../shared/data/nab")
def test_nab_as_the_evaluation_runs_it(compiled):
    from ecmon_evaluation.anomaly_eval import load_corpus

    corpus = load_corpus(NAB, NAB / "combined_windows.json")
    if not os.environ.get("ECMON_EQUIVALENCE_ALL"):
        corpus = [s for s in corpus if s.key in NAB_SUBSET]
        assert len(corpus) == len(NAB_SUBSET)
    for series in corpus:
        _assert_equal(compiled, series.key, list(zip(series.timestamps_ms, series.values)), scored=True)


@pytest.mark.parametrize("scored", [False, True])
def test_readings_no_meter_should_send(compiled, scored):
    h = 3_600_000
    values = [10.0 + (i % 24) + 0.1 * (i % 7) for i in range(300)]
    values[150:153] = [math.nan, math.inf, -math.inf]
    values[160:164] = [-5.0, -0.0, 0.0, 1e300]
    values[200:210] = [5e6] * 10
    stream = [(1_775_000_000_000 + i * h, v) for i, v in enumerate(values)]
    assert _assert_equal(compiled, "odd readings", stream, scored) > 0
