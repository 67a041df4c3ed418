"""The fleet evaluation's bookkeeping: which findings count as detections, false alarms or process events."""

from ecmon_evaluation.anomaly_eval import Detection, _match, _meter_detections

STEP = 900_000
H = 3_600_000


def row(rows, kind):
    return next(r for r in rows if r.kind == kind)


def test_a_finding_on_a_fault_detects_it_and_one_elsewhere_is_a_false_alarm():
    truth = [("drop", "m1", 10 * H, 12 * H)]
    found = [Detection("drop", "m1", 10 * H + STEP, 10 * H, 10 * H + STEP),
             Detection("drop", "m1", 30 * H, 30 * H - STEP, 30 * H)]
    rows = _match(truth, found, [], STEP)
    drop = row(rows, "drop")
    assert (drop.injected, drop.detected, drop.raised, drop.true, drop.process) == (1, 1, 2, 1, 0)
    assert drop.recall == 1.0 and drop.precision == 0.5 and drop.mean_delay_ms == STEP


def test_a_finding_the_fault_free_twin_also_raised_is_a_process_event_even_at_another_moment():
    """The faulted meter's detector state differs from the twin's, so the same plant event (a kiln stop) can
    be confirmed hours apart: what counts is that the spans overlap."""
    found = [Detection("level_shift", "m1", 20 * H, 8 * H, 20 * H)]
    twin_late = [Detection("level_shift", "m1", 23 * H, 9 * H, 23 * H)]
    twin_elsewhere = [Detection("level_shift", "m1", 40 * H, 30 * H, 40 * H),
                      Detection("drop", "m1", 20 * H, 8 * H, 20 * H)]
    assert row(_match([], found, twin_late, STEP), "level_shift").process == 1
    shift = row(_match([], found, twin_elsewhere, STEP), "level_shift")
    assert (shift.process, shift.precision) == (0, 0.0)


def test_the_silence_timer_fires_without_waiting_for_the_next_reading():
    readings = [(i * STEP, 1.0) for i in range(1, 100)]
    gap = readings[:40] + readings[50:]
    found = [d for d in _meter_detections(iter(gap), "m1", STEP, 99 * STEP) if d.type == "silence"]
    assert [(d.at_ms, d.start_ms) for d in found] == [(43 * STEP, 41 * STEP)]
    cut = readings[:80]  # silent until the end of the simulation: still found
    found = [d for d in _meter_detections(iter(cut), "m1", STEP, 99 * STEP) if d.type == "silence"]
    assert [(d.at_ms, d.end_ms) for d in found] == [(83 * STEP, 99 * STEP)]
