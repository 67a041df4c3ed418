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


def test_the_analysts_view_counts_every_finding_and_wants_the_faults_own_type():
    truth = [("drift", "m1", 10 * H, 80 * H), ("noisy", "m1", 100 * H, 102 * H)]
    found = [Detection("level_shift", "m1", 40 * H, 20 * H, 30 * H),  # on the drift, but the wrong type
             Detection("drift", "m1", 50 * H, 20 * H, 50 * H),
             Detection("spike", "m1", 101 * H, 100 * H, 100 * H),  # a wild reading of the burst: right
             Detection("noisy", "m1", 101 * H, 100 * H, 101 * H),
             Detection("drop", "m1", 200 * H, 199 * H, 200 * H)]  # a process event the twin also raised
    twin = [Detection("drop", "m1", 200 * H, 199 * H, 200 * H)]
    rows = _match(truth, found, twin, STEP)
    shift, drift, noisy, drop = (row(rows, k) for k in ("level_shift", "drift", "noisy", "drop"))
    assert (drift.found, drift.analyst_recall, drift.analyst_precision) == (1, 1.0, 1.0)
    assert (shift.raised, shift.right, shift.analyst_precision, shift.precision) == (1, 0, 0.0, 1.0)
    assert row(rows, "spike").analyst_precision == 1.0 and noisy.analyst_recall == 1.0
    assert drop.analyst_precision == 0.0 and drop.precision is None  # the old rule left it out


def write_corpus(root, corpus="realX", name="s.csv", hours=400, stamps_tz=""):
    import json
    from datetime import datetime, timedelta

    folder = root / corpus
    folder.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2026, 4, 1)
    rows = ["timestamp,value"]
    for i in range(hours):
        value = 10.0 + (i % 24 > 8) + (50.0 if i == 300 else 0)
        rows.append(f"{(t0 + timedelta(hours=i)).isoformat(sep=' ')}{stamps_tz},{value}")
    (folder / name).write_text("\n".join(rows) + "\n")
    labels = root / "windows.json"
    known = json.loads(labels.read_text()) if labels.exists() else {}
    known[f"{corpus}/{name}"] = [["2026-04-13 04:00:00.000000", "2026-04-13 20:00:00.000000"]]
    labels.write_text(json.dumps(known))
    return labels


def test_naive_timestamps_are_read_in_the_given_zone_default_china_standard_time(tmp_path):
    from ecmon_evaluation import anomaly_eval as ev

    labels = write_corpus(tmp_path)
    cst = ev.load_corpus(tmp_path, labels)[0]
    utc = ev.load_corpus(tmp_path, labels, "UTC")[0]
    assert ev.DEFAULT_TIMEZONE == "Asia/Shanghai"
    assert utc.timestamps_ms[0] - cst.timestamps_ms[0] == 8 * H
    assert cst.windows == utc.windows  # windows are read in the same zone as the rows


def test_data_that_matches_no_series_is_a_clear_error_and_no_results_path(tmp_path):
    from typer.testing import CliRunner

    from ecmon_cli.main import app

    labels = write_corpus(tmp_path / "nab")
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["eval", "anomalies", "--data", str(tmp_path / "empty"), "--labels",
                                      str(labels), "--results", str(tmp_path / "res"), "--no-fleet", "--no-loco"])
    assert result.exit_code != 0 and "no series" in result.output and "results files" not in result.output
    assert not (tmp_path / "res").exists()
    result = CliRunner().invoke(app, ["eval", "anomalies", "--data", str(tmp_path / "nab"), "--labels", str(labels),
                                      "--timezone", "Mars/Olympus", "--no-fleet", "--no-loco"])
    assert result.exit_code != 0 and "time zone" in result.output


def test_leave_one_corpus_out_scores_each_corpus_with_parameters_chosen_on_the_others(tmp_path):
    from ecmon_evaluation import anomaly_eval as ev
    from ecmon_worker.meter_anomalies import ScoreParams

    for corpus in ("a", "b", "c"):
        labels = write_corpus(tmp_path, corpus)
    corpus = ev.load_corpus(tmp_path, labels)
    grid = [ScoreParams(quiet=100), ScoreParams(quiet=250, context=False)]
    report = ev.leave_one_corpus_out(corpus, grid, processes=1)
    assert [f.corpus for f in report.folds] == ["a", "b", "c"] and all(f.params in grid for f in report.folds)
    assert set(report.pooled) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert report.strict.perfect == 3.0 and report.chosen in grid
    from ecmon_evaluation.nab import LabelledSeries, benchmark

    fold = report.folds[0]  # the fast sweep agrees with the scorer's
    others = [LabelledSeries(s.key, s.timestamps_ms, [round(x, 6) for x in ev.detect(s, fold.params)], s.windows)
              for s in corpus if s.corpus != fold.corpus]
    assert abs(benchmark(others).score - fold.train_score) < 1e-9
