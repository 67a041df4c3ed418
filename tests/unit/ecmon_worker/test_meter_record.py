"""The detector state's fixed-size binary record: exact round trips, one size for every meter, and a detector
that goes on from a decoded record as if its state had never been stored."""

from __future__ import annotations

import json

import pytest

from ecmon_worker import meter_anomalies as det
from ecmon_worker import meter_record
from tests.bench.bench_meter_detector import fleet_readings, meter_streams


@pytest.fixture(scope="module")
def streams() -> dict[str, list[tuple[int, float]]]:
    return meter_streams(fleet_readings(enterprises=3, days=42))


def test_the_record_size_is_fixed_and_stated():
    assert meter_record.RECORD_SIZE == 1_932
    assert len(meter_record.encode(det.new_state())) == meter_record.RECORD_SIZE


def test_a_restored_state_goes_on_exactly_as_the_kept_one(streams):
    sizes = set()
    for meter, stream in streams.items():
        kept, stored = det.new_state(), det.new_state()
        for i, (ts, value) in enumerate(stream):
            if i % 500 == 0:  # stored and read back now and then, episodes and pending changes included
                record = meter_record.encode(stored)
                sizes.add(len(record))
                stored = meter_record.decode(record)
                assert json.dumps(stored) == json.dumps(kept), f"{meter}: reading {i}"  # ints stay ints
            assert det.observe(stored, ts, value, scored=False) == det.observe(kept, ts, value, scored=False)
        assert stored == kept
    assert sizes == {meter_record.RECORD_SIZE}


def test_an_open_episode_and_the_stop_calendar_survive():
    st = det.new_state()
    st.update(ep="noisy", rs=[[1_775_000_000_000, 12], [1_775_086_400_000, 100]])
    assert meter_record.decode(meter_record.encode(st)) == st


def test_a_scored_state_has_no_record():
    st = det.new_state()
    det.observe(st, 1_775_000_000_000, 1.0)
    with pytest.raises(meter_record.NoRecord):
        meter_record.encode(st)


def test_a_record_of_another_version_is_refused():
    record = bytearray(meter_record.encode(det.new_state()))
    record[0] = meter_record.RECORD_VERSION + 1
    with pytest.raises(meter_record.NoRecord):
        meter_record.decode(bytes(record))
    for version, size in ((meter_record.RECORD_VERSION, meter_record.RECORD_SIZE - 1), (1, meter_record.RECORD_SIZE)):
        record[0] = version  # a known version, of another version's size
        with pytest.raises(meter_record.NoRecord, match=f"version {version}, {size} bytes"):
            meter_record.decode(bytes(record[:size]))


def test_a_version_1_record_is_read_and_its_meter_goes_on(streams):
    """Records written before the usual log step ("lj", detector state 7) are read as states of layout 6; the
    detector upgrades them when it next observes, learning that step afresh."""
    meter, stream = next(iter(streams.items()))
    st = det.new_state()
    for ts, value in stream[:2_000]:
        det.observe(st, ts, value, scored=False)
    record = meter_record.encode(st)
    old = bytes([1, 6]) + record[2:-8]  # version 1: the same fields without the last, a layout 6 state
    restored = meter_record.decode(old)
    assert restored == {**{k: v for k, v in st.items() if k != "lj"}, "v": 6}
    for ts, value in stream[2_000:2_100]:
        det.observe(restored, ts, value, scored=False)
    assert restored["v"] == det.STATE_VERSION and 0 < restored["lj"] < det.LJ_UNKNOWN  # learning down
    assert len(meter_record.encode(restored)) == meter_record.RECORD_SIZE
