"""The benchmark's pure parts beyond figures.py: the targets table, the bare job's sums, the state phase's load."""

from ecmon_ops.bench.bare_faust import batch_sums
from ecmon_ops.bench.figures import status_bytes
from ecmon_ops.bench.report import targets
from ecmon_ops.bench.spread import counter_totals
from ecmon_ops.bench.state_phase import StateLoad
from ecmon_ops.bench.state_size import key_owner
from ecmon_simulator.runs import total_batches

USCC = "91370100MA3C5XXXXX"


def _result(**extra) -> dict:
    return {
        "baseline": {"readings_per_s": 400_000.0},
        "worker": {"workers": 1, "steady_readings_per_s": 120_000.0},
        "sink": {"readings_per_s": 100_000.0},
        "e2e": {"readings_per_s": 40_000.0},
        "latency": {"offered_per_s": 20_000.0, "p99_s": 1.5, "visible": 10, "batches": 10},
        **extra,
    }


def _by_figure(rows: list[dict]) -> dict[str, dict]:
    return {r["figure"].split(",")[0].split(" at ")[0].split(" with ")[0]: r for r in rows}


def test_targets_compare_every_figure_and_give_ratios_to_the_same_run_baseline():
    rows = _by_figure(targets(_result(drain={"steady_readings_per_s": 40_000.0},
                                      bare_faust={"steady_readings_per_s": 80_000.0})))
    assert rows["worker steady"]["met"] and rows["worker steady"]["ratio"] == 0.3
    assert not rows["sink"]["met"]  # 100k < 150k
    assert not rows["drain"]["met"] and rows["end to end"]["met"]
    assert rows["p99 reading -> ClickHouse"]["met"]
    assert not rows["worker RSS"]["met"] and rows["worker RSS"]["note"] == "state phase not run"
    assert rows["bare-job Faust (decode"]["met"] is None and rows["bare-job Faust (decode"]["ratio"] == 0.2


def test_an_unmeasured_figure_is_not_met():
    rows = _by_figure(targets(_result()))
    assert rows["drain"]["value"] is None and not rows["drain"]["met"]
    assert "bare-job Faust (decode" not in rows


def _state(complete: bool, rss: float, meters: int = 1_000_000) -> dict:
    return {"target_meters": meters, "rss_at_target_bytes": rss, "rss_at_target_extrapolated": not complete,
            "outcome": "complete" if complete else "stopped at the RSS limit", "meters_reached": meters,
            "rss_bytes_per_meter": 1000.0, "changelog_disk_bytes_per_meter": 500.0}


def test_the_memory_target_is_met_only_when_measured_at_a_million_meters():
    gib = 2**30
    assert _by_figure(targets(_result(state_phase=_state(True, 1.2 * gib))))["worker RSS"]["met"]
    extrapolated = _by_figure(targets(_result(state_phase=_state(False, 1.2 * gib))))["worker RSS"]
    assert not extrapolated["met"] and extrapolated["note"].startswith("extrapolated")
    assert not _by_figure(targets(_result(state_phase=_state(True, 1.2 * gib, meters=2000))))["worker RSS"]["met"]
    assert not _by_figure(targets(_result(state_phase=_state(True, 1.6 * gib))))["worker RSS"]["met"]


def test_bare_job_sums_exactly_per_enterprise_energy_unit_and_cst_month():
    oct_last = 1_793_462_400_000  # 2026-11-01 00:00 CST: the interval ending then belongs to October
    record = {"uscc": USCC, "readings": [
        {"energy_type": "electricity", "unit": "kWh", "ts": oct_last, "value_milli": 1},
        {"energy_type": "electricity", "unit": "kWh", "ts": oct_last - 900_000, "value_milli": 2},
        {"energy_type": "electricity", "unit": "kWh", "ts": oct_last + 900_000, "value_milli": 4},
        {"energy_type": "natural_gas", "unit": "m3", "ts": oct_last, "value_milli": 8},
    ]}
    assert batch_sums(record) == {f"{USCC}|electricity|kWh|2026-10": 3, f"{USCC}|electricity|kWh|2026-11": 4,
                                  f"{USCC}|natural_gas|m3|2026-10": 8}


def test_the_state_phase_sends_one_batch_per_enterprise_with_the_meters_asked_for():
    load = StateLoad(enterprises=5, meters_per_enterprise=50, readings=4)
    run = load.run()
    fleet = run.fleet()
    assert load.meters == 250 and all(len(e.meters) == 50 for e in fleet)
    assert total_batches(run, fleet) == 5  # the phase counts enterprises reached by batches committed


def test_memory_fields_and_table_key_owners():
    status = "VmHWM:\t  4096 kB\nVmRSS:\t 1024 kB\n"
    assert status_bytes(status, "VmRSS") == 1024 * 1024 and status_bytes(status, "VmSwap") == 0
    assert key_owner(b'"%s|M01|2026-10-01"' % USCC.encode()) == USCC  # Faust's JSON keys
    assert key_owner(USCC.encode()) == USCC  # raw keys of a compact table
    assert key_owner(b'"370000"') == "370000"


def test_a_workers_share_is_the_sum_of_its_counters_over_labels():
    page = """# HELP ecmon_worker_readings_total Readings accepted into the rollups.
# TYPE ecmon_worker_readings_total counter
ecmon_worker_readings_total{province="370000"} 10.0
ecmon_worker_readings_total{province="210000"} 5.0
ecmon_worker_readings_created{province="370000"} 1.7e9
"""
    assert counter_totals(page, ("ecmon_worker_readings", "ecmon_worker_batches")) == {
        "ecmon_worker_readings": 15.0, "ecmon_worker_batches": 0.0}
