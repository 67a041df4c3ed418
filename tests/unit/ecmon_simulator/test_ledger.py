"""The ledger's expected CO2: per enterprise x energy type x unit x month total, as the worker converts it."""

from __future__ import annotations

from ecmon.emission_factors import co2_of_month
from ecmon.months import month_start_ms
from ecmon_simulator.ledger import Ledger

OCT = month_start_ms("2026-10")


def test_expected_co2_converts_each_monthly_total_once_and_counts_a_batch_once():
    ledger = Ledger()
    readings = [{"ts": OCT + 900_000 * (i + 1), "energy_type": "electricity", "unit": "kWh", "value_milli": 1}
                for i in range(5)]
    assert ledger.add("b1", "370000", "A", readings)
    assert not ledger.add("b1", "370000", "A", readings)  # a resend counts once
    ledger.add("b2", "370000", "A", [{"ts": OCT + 3_600_000, "energy_type": "raw_coal", "unit": "t",
                                      "value_milli": 2_500}])
    expected = co2_of_month("electricity", "kWh", "2026-10", 5) + co2_of_month("raw_coal", "t", "2026-10", 2_500)
    assert ledger.co2_by_province_month() == {("370000", "2026-10"): expected}
    assert expected == 3 + 4_944_742  # 5 Wh -> 2.653 g -> 3 (one rounding for the month, not 5 x 1 g)
