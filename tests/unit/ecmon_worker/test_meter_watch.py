"""The worker's meter watch: detector findings as anomaly events, checkpoint cadence, silences."""

from __future__ import annotations

import json

from ecmon import codec
from ecmon.months import month_start_ms
from ecmon_worker import meter_record, meter_watch
from ecmon_worker.meter_watch import MeterWatch

T0 = month_start_ms("2026-10")
Q = 900_000
RECORD = {"uscc": "U", "industry_code": "C31", "region_code": "370100",
          "meters": [{"meter_id": "M1", "energy_type": "electricity", "unit": "kWh", "interval_s": 900},
                     {"meter_id": "M2", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}]}


def readings(meter: str, start: int, values: list[float]) -> list[dict]:
    return [{"meter_id": meter, "energy_type": "electricity", "unit": "kWh", "interval_start": None,
             "interval_end": start + (i + 1) * Q, "physical_milli": int(v * 1000), "coal_mgce": 0, "quality": "GOOD"}
            for i, v in enumerate(values)]


def steady(n: int) -> list[float]:
    return [100.0 + (i % 4) for i in range(n)]


def test_a_spike_becomes_one_meter_anomaly_event_on_the_wire():
    watch = MeterWatch()
    watch.load("U", None)
    quiet = watch.observe("U", RECORD, "370000", readings("M1", T0, steady(14 * 96)))
    assert quiet == []
    spike = steady(16)  # a spike is reported once the next hour was calm (a burst is one noisy episode)
    spike[5] = 2000.0
    events = watch.observe("U", RECORD, "370000", readings("M1", T0 + 14 * 96 * Q, spike))
    assert [(e["type"], e["level"], e["entity_code"]) for e in events] == [("spike", "METER", "U/M1")]
    codec.encode("anomaly", events[0])


def test_late_readings_and_revisions_are_not_fed_twice():
    watch = MeterWatch()
    watch.observe("U", RECORD, "370000", readings("M1", T0, steady(10)))
    n = meter_record.unpack(watch.stored("U")["M1"])["n"]
    watch.observe("U", RECORD, "370000", readings("M1", T0, steady(5)))  # all older than the newest
    assert meter_record.unpack(watch.stored("U")["M1"])["n"] == n


def test_checkpoints_come_at_most_every_few_seconds(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(meter_watch.time, "monotonic", lambda: clock[0])
    watch = MeterWatch()
    watch.load("U", None)
    assert not watch.checkpoint_due("U")
    clock[0] += meter_watch.CHECKPOINT_S
    assert watch.checkpoint_due("U") and not watch.checkpoint_due("U")


def test_a_meter_that_stops_while_the_enterprise_reports_is_found_once():
    watch = MeterWatch(silence_intervals=4)
    watch.observe("U", RECORD, "370000", readings("M1", T0, steady(20)) + readings("M2", T0, steady(10)))
    watermark = T0 + 20 * Q
    events = watch.silent_meters("U", RECORD, "370000", watermark)
    assert [(e["type"], e["entity_code"]) for e in events] == [("silent_meter", "U/M2")]
    assert watch.silent_meters("U", RECORD, "370000", watermark + Q) == []  # raised once per silence
    watch.observe("U", RECORD, "370000", readings("M2", T0 + 20 * Q, steady(1)))  # it reports again
    assert "U/M2" not in watch.silent


def test_an_enterprise_without_batches_for_four_intervals_is_silent():
    watch = MeterWatch(silence_intervals=4)
    watch.observe("U", RECORD, "370000", readings("M1", T0, steady(2)))
    seen = watch.last_batch["U"][0]
    assert watch.silent_enterprises(now_ms=seen + 4 * Q) == []
    (event,) = watch.silent_enterprises(now_ms=seen + 4 * Q + 1)
    assert (event["type"], event["level"], event["entity_code"]) == ("silent_enterprise", "ENTERPRISE", "U")


def test_states_are_held_packed_and_a_restart_goes_on_from_the_changelog_exactly():
    """Each meter's state is a compressed record (streams/ecmon_worker/meter_record.py); what the changelog holds
    of it (base64 text in JSON) gives back the same state, and so do JSON states of the layout before records."""
    watch = MeterWatch()
    watch.observe("U", RECORD, "370000", readings("M1", T0, steady(3 * 96)))
    packed = watch.stored("U")["M1"]
    assert isinstance(packed, bytes) and len(packed) < meter_record.RECORD_SIZE
    state = meter_record.unpack(packed)
    assert meter_record.last_ts(packed) == state["t"] == T0 + 3 * 96 * Q
    changelog = json.loads(json.dumps(meter_record.stored(watch.stored("U"))))
    restarted, legacy = MeterWatch(), MeterWatch()
    restarted.load("U", changelog)
    legacy.load("U", {"M1": state})  # a JSON state of the layout before records
    nxt = readings("M1", T0 + 3 * 96 * Q, steady(96))
    assert watch.observe("U", RECORD, "370000", nxt) == restarted.observe("U", RECORD, "370000", nxt) \
        == legacy.observe("U", RECORD, "370000", nxt)
    assert watch.stored("U") == restarted.stored("U") == legacy.stored("U")


def test_states_held_unpacked_for_the_recent_enterprises_give_the_same_findings_as_packed_ones():
    """Only ``live_meters`` meters stay unpacked between batches; the others are packed and unpacked again when
    their enterprise reports: the same findings and the same stored records either way."""
    other = {**RECORD, "uscc": "V"}
    tight, roomy = MeterWatch(live_meters=1), MeterWatch()
    spike = steady(14 * 96 + 16)
    spike[14 * 96 + 5] = 2000.0
    found: dict[str, list] = {"tight": [], "roomy": []}
    for day in range(15):
        for uscc, record in (("U", RECORD), ("V", other)):
            batch = readings("M1", T0 + day * 96 * Q, spike[day * 96:(day + 1) * 96]) \
                + readings("M2", T0 + day * 96 * Q, steady(96))
            found["tight"] += tight.observe(uscc, record, "370000", batch)
            found["roomy"] += roomy.observe(uscc, record, "370000", batch)
        assert len(tight.live) == 1 and tight._live_count == 2
    assert [e["entity_code"] for e in found["tight"]] == ["U/M1", "V/M1"]
    assert [{**e, "detected_at": 0} for e in found["tight"]] == [{**e, "detected_at": 0} for e in found["roomy"]]
    assert tight.stored("U") == roomy.stored("U") and tight.stored("V") == roomy.stored("V")
    # M1's day 14 ended after 16 readings: lagging M2 by 80 intervals, whether its state is packed (V) or not (U)
    for uscc in ("U", "V"):
        silent = tight.silent_meters(uscc, RECORD, "370000", T0 + 15 * 96 * Q)
        assert [e["entity_code"] for e in silent] == [f"{uscc}/M1"]


def test_an_enterprise_not_loaded_has_nothing_to_store_and_is_still_loaded_from_the_table():
    watch = MeterWatch()
    assert watch.stored("U") == {} and not watch.knows("U")


def test_the_detector_bench_measures_the_watch_as_the_worker_holds_it():
    """tests/bench/bench_meter_detector.py (docs/anomalies.md quotes it) reads the states through ``stored``."""
    from ecmon_worker import meter_anomalies
    from tests.bench.bench_meter_detector import bench_worker, fleet_readings

    per_reading, readings, largest = bench_worker(fleet_readings(enterprises=1, days=1), meter_anomalies)
    assert per_reading > 0 and readings > 0 and 0 < largest <= 3000
