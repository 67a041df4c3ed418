"""The ledger counts as the platform does: a batch id once, each reading identity once, and the expected CO2
per enterprise x energy type x unit x month total, as the worker converts it."""

from ecmon.emission_factors import co2_of_month
from ecmon.months import month_start_ms
from ecmon_simulator.ledger import Ledger, ends_of, runs_of

OCT = month_start_ms("2026-10")


def _reading(meter: str, ts: int, value: int = 1000) -> dict:
    return {"meter_id": meter, "energy_type": "electricity", "ts": ts, "value_milli": value, "kind": "INTERVAL",
            "unit": "kWh", "quality": "GOOD"}


def test_a_new_batch_with_readings_already_counted_adds_nothing(tmp_path):
    ledger = Ledger()
    first = [_reading("E-01", 1793462400000 - 900_000 * k) for k in range(4)]
    assert ledger.add("b-1", "370000", "U", first)
    assert not ledger.add("b-1", "370000", "U", first)  # a resend of the same batch
    # a second run: new batch id (new sequence), the same readings plus one new one
    assert ledger.add("b-2", "370000", "U", first + [_reading("E-01", 1793462400000 + 900_000)])
    assert ledger.by_province_month() == {("370000", "2026-10"): [4 * 122_900, 4], ("370000", "2026-11"): [122_900, 1]}
    path = tmp_path / "ledger.json"
    ledger.save(path)
    again = Ledger.load(path)
    again.add("b-3", "370000", "U", first)
    assert again.by_province_month() == ledger.by_province_month()


def test_interval_ends_are_saved_as_runs():
    ends = {0, 900, 1800, 2700, 9000, 9900, 20000}
    assert runs_of(ends) == [[0, 900, 4], [9000, 900, 2], [20000, 0, 1]]
    assert ends_of(runs_of(ends)) == ends


def test_expected_co2_converts_each_monthly_total_once_and_counts_a_batch_once():
    ledger = Ledger()
    readings = [{"meter_id": "E-01", "ts": OCT + 900_000 * (i + 1), "energy_type": "electricity", "unit": "kWh",
                 "value_milli": 1} for i in range(5)]
    assert ledger.add("b1", "370000", "A", readings)
    assert not ledger.add("b1", "370000", "A", readings)  # a resend counts once
    ledger.add("b2", "370000", "A", [{"meter_id": "C-01", "ts": OCT + 3_600_000, "energy_type": "raw_coal",
                                      "unit": "t", "value_milli": 2_500}])
    expected = co2_of_month("electricity", "kWh", "2026-10", 5) + co2_of_month("raw_coal", "t", "2026-10", 2_500)
    assert ledger.co2_by_province_month() == {("370000", "2026-10"): expected}
    assert expected == 3 + 4_944_742  # 5 Wh -> 2.653 g -> 3 (one rounding for the month, not 5 x 1 g)
