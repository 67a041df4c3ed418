"""The CO2 factors per energy type and year, and the exact conversion of a monthly total to gCO2."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from ecmon import emission_factors as ef
from ecmon.energy import ENERGY_TYPES, UnknownEnergyType


def test_every_energy_type_has_a_scope_and_every_priced_type_is_a_platform_type():
    assert set(ENERGY_TYPES) >= ef.DIRECT | ef.INDIRECT
    assert {ef.scope(t) for t in ENERGY_TYPES} == {"direct", "indirect", "none"}
    assert ef.scope("electricity") == ef.scope("heat") == ef.scope("steam") == "indirect"
    assert ef.scope("raw_coal") == ef.scope("natural_gas") == ef.scope("coke") == "direct"
    assert ef.scope("water") == ef.scope("compressed_air") == ef.scope("oxygen") == "none"
    with pytest.raises(UnknownEnergyType):
        ef.scope("uranium")


def test_the_grid_factor_is_the_published_national_average_of_the_year():
    assert ef.kg_co2_per_unit("electricity", 2021) == Fraction("0.5568")
    assert ef.kg_co2_per_unit("electricity", 2022) == Fraction("0.5366")
    assert ef.kg_co2_per_unit("electricity", 2023) == Fraction("0.5306")


def test_a_year_without_a_published_grid_factor_uses_the_nearest_published_one():
    newest, earliest = max(ef.GRID_FACTORS), min(ef.GRID_FACTORS)
    assert ef.grid_factor_year(2026) == newest  # not published yet: the newest
    assert ef.grid_factor_year(2015) == earliest  # before the series: its first year
    assert "no factor published for 2026" in ef.source("electricity", 2026)
    assert "no factor published" not in ef.source("electricity", newest)


def test_fuel_factors_follow_ncv_times_carbon_content_times_oxidation_times_44_over_12():
    coal = ef.FUELS["raw_coal"]
    assert coal.kg_co2_per_unit == Fraction(20908, 10**6) * Fraction("25.8") * Fraction(44, 12)
    # plausible magnitudes (kgCO2 per kg or m3): raw coal about 2, coke about 3, natural gas about 2
    assert 1.9 < ef.kg_co2_per_unit("raw_coal", 2026) < 2.1
    assert 2.9 < ef.kg_co2_per_unit("coke", 2026) < 3.2
    assert 1.9 < ef.kg_co2_per_unit("natural_gas", 2026) < 2.1
    assert ef.kg_co2_per_unit("steam", 2026) == Fraction("0.41393")  # 3.763 GJ/t x 0.11 tCO2/GJ
    assert ef.kg_co2_per_unit("heat", 2026) == Fraction("0.11")  # per MJ
    assert ef.kg_co2_per_unit("water", 2026) == 0
    for code in ef.UNPRICED_FUELS:
        assert ef.kg_co2_per_unit(code, 2026) == 0 and "no default" in ef.source(code, 2026)


def test_every_factor_names_its_source():
    for code in ENERGY_TYPES:
        assert ef.source(code, 2023)
    assert "生态环境部" in ef.source("electricity", 2022)
    assert "IPCC 2006" in ef.source("diesel", 2022) and "GB/T 32150-2015" in ef.source("diesel", 2022)


def test_the_conversion_is_exact_and_rounds_half_to_even_once():
    # 1 MWh in October 2026 at 0.5306 kg/kWh: 530.6 kg
    assert ef.co2_of_month("electricity", "kWh", "2026-10", 1_000_000) == 530_600
    assert ef.co2_of_month("electricity", "MWh", "2026-10", 1_000) == 530_600  # same quantity, other unit
    # 1 thousandth of a kWh: 0.5306 g -> 1; 5 thousandths of kWh at 2023's 0.5306: 2.653 -> 3
    assert ef.co2_of_month("electricity", "kWh", "2023-05", 1) == 1
    assert ef.co2_of_month("electricity", "kWh", "2023-05", 5) == 3
    f = ef.Co2Factor(1, 2)  # exact halves go to the even neighbour, also below zero
    assert [f.to_g(v) for v in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    # a tonne of raw coal: 1977.8968 kg
    assert ef.co2_of_month("raw_coal", "t", "2026-10", 1_000) == 1_977_897


def test_sums_of_monthly_totals_do_not_depend_on_order():
    values = [123_457, 9_999_999, 1, 77_777_777]
    per_total = [ef.co2_of_month("natural_gas", "m3", "2026-10", v) for v in values]
    assert sum(per_total) == sum(reversed(per_total))
    assert ef.g_to_tco2(1_977_897) == Decimal("1.977897")
