"""Exact conversion of meter readings to standard coal (GB/T 2589-2020)."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecmon.energy import (
    ENERGY_TYPES,
    EQUAL_VALUE_GCE_PER_KWH,
    MGCE_PER_TCE,
    UNITS,
    CoalFactor,
    IncompatibleUnit,
    NoCoefficientForYear,
    UnknownEnergyType,
    UnknownUnit,
    accepted_units,
    coal_factor,
    electricity_coefficient,
    mgce_to_tce,
    to_mgce,
    unit_factor,
)

REQUIRED = ["electricity", "raw_coal", "washed_coal", "coke", "crude_oil", "fuel_oil", "gasoline", "kerosene", "diesel",
            "lpg", "refinery_gas", "natural_gas", "coke_oven_gas", "blast_furnace_gas", "converter_gas", "steam",
            "heat", "water", "softened_water", "compressed_air", "oxygen", "nitrogen"]

pairs = st.sampled_from([(t, u) for t in ENERGY_TYPES for u in accepted_units(t)])
values = st.integers(-(10**15), 10**15)


def exact_mgce(energy_type: str, unit: str, value_milli: int) -> Fraction:
    coef = Fraction(ENERGY_TYPES[energy_type].kgce_per_unit)
    return Fraction(value_milli, 1000) * unit_factor(energy_type, unit) * coef * 10**6


def test_required_types_and_units():
    assert set(REQUIRED) <= set(ENERGY_TYPES)
    assert {"kWh", "MWh", "GWh", "Wh", "kg", "t", "m3", "10k_m3", "MJ", "GJ", "kJ"} <= set(UNITS)
    for et in ENERGY_TYPES.values():
        assert isinstance(et.kgce_per_unit, Decimal) and et.kgce_per_unit > 0
        assert et.canonical_unit in UNITS and et.source


@pytest.mark.parametrize(
    "energy_type, unit, value_milli, mgce",
    [
        ("electricity", "kWh", 1000, 122_900),  # 0.1229 kgce/kWh
        ("electricity", "10k_kWh", 1000, 1_229_000_000),
        ("raw_coal", "t", 1000, 714_300_000),  # 0.7143 kgce/kg
        ("washed_coal", "kg", 1000, 900_000),
        ("coke", "kg", 1000, 971_400),
        ("diesel", "t", 2500, 3_642_750_000),
        ("natural_gas", "10k_m3", 1000, 12_143_000_000),
        ("blast_furnace_gas", "m3", 1000, 128_600),
        ("heat", "GJ", 1000, 34_120_000),  # 0.03412 kgce/MJ
        ("steam", "t", 1000, 128_600_000),
        ("water", "m3", 1000, ENERGY_TYPES["water"].kgce_per_unit * 1_000_000),  # 1 m3 = 1 t
        ("oxygen", "m3", 1000, 400_000),
    ],
)
def test_known_values(energy_type, unit, value_milli, mgce):
    assert to_mgce(energy_type, unit, value_milli) == mgce


def test_reference_coefficients():
    expected = {
        "raw_coal": "0.7143", "washed_coal": "0.9000", "coke": "0.9714", "crude_oil": "1.4286",
        "fuel_oil": "1.4286", "gasoline": "1.4714", "kerosene": "1.4714", "diesel": "1.4571",
        "lpg": "1.7143", "refinery_gas": "1.5714", "natural_gas": "1.2143", "blast_furnace_gas": "0.1286",
        "electricity": "0.1229", "heat": "0.03412", "softened_water": "0.4857", "compressed_air": "0.0400",
        "oxygen": "0.4000", "nitrogen": "0.4000", "steam": "0.1286",
    }
    for code, coef in expected.items():
        assert ENERGY_TYPES[code].kgce_per_unit == Decimal(coef), code


def test_electricity_methods():
    assert electricity_coefficient("equivalent", 2020) == Decimal("0.1229")
    assert electricity_coefficient("equivalent") == Decimal("0.1229")
    assert electricity_coefficient("equal", 2020) == Decimal("0.3055")
    assert to_mgce("electricity", "kWh", 1000, method="equal", year=2020) == 305_500
    # The method touches electricity only.
    assert to_mgce("coke", "kg", 1000, method="equal", year=2020) == to_mgce("coke", "kg", 1000)


def test_electricity_method_errors():
    with pytest.raises(NoCoefficientForYear, match="2009.*have 2015-"):
        electricity_coefficient("equal", 2009)
    with pytest.raises(NoCoefficientForYear):
        coal_factor("electricity", "kWh", method="equal")
    with pytest.raises(ValueError, match="'equivalent' or 'equal'"):
        coal_factor("electricity", "kWh", method="calorific")  # type: ignore[arg-type]
    assert all(250 < v < 350 for v in EQUAL_VALUE_GCE_PER_KWH.values())


def test_unknown_energy_type_lists_accepted():
    with pytest.raises(UnknownEnergyType) as err:
        to_mgce("coal", "kg", 1)
    assert "'coal'" in str(err.value) and "raw_coal" in str(err.value) and "electricity" in str(err.value)


def test_unknown_unit_lists_accepted():
    with pytest.raises(UnknownUnit) as err:
        to_mgce("raw_coal", "tons", 1)
    assert "'tons'" in str(err.value) and "kg" in str(err.value) and "10k_m3" in str(err.value)
    with pytest.raises(UnknownUnit):
        to_mgce("electricity", "kwh", 1)  # case-sensitive on purpose: the wire contract is strict


def test_incompatible_unit_names_both():
    with pytest.raises(IncompatibleUnit) as err:
        to_mgce("raw_coal", "kWh", 1)
    msg = str(err.value)
    assert "'kWh'" in msg and "'raw_coal'" in msg and "kg, t" in msg
    with pytest.raises(IncompatibleUnit):
        to_mgce("natural_gas", "t", 1)  # no density: mass of gas is not silently guessed
    assert isinstance(err.value, ValueError)


def test_coal_factor_is_reduced_and_cached():
    f = coal_factor("electricity", "kWh")
    assert f == CoalFactor(1229, 10)
    assert coal_factor("electricity", "kWh") is f
    with pytest.raises(ValueError):
        CoalFactor(1, 0)


@given(pairs, values)
def test_to_mgce_is_exact_round_half_even(pair, value_milli):
    energy_type, unit = pair
    exact = exact_mgce(energy_type, unit, value_milli)
    got = to_mgce(energy_type, unit, value_milli)
    assert got == round(exact)  # Fraction.__round__ rounds half to even
    assert abs(got - exact) <= Fraction(1, 2)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6), values)
def test_coal_factor_rounding_matches_fraction(numerator, denominator, value_milli):
    f = CoalFactor(numerator, denominator)
    assert f.to_mgce(value_milli) == round(Fraction(value_milli * numerator, denominator))


@given(pairs, st.lists(values, max_size=50))
def test_additive_within_rounding(pair, readings):
    energy_type, unit = pair
    total_of_rounded = sum(to_mgce(energy_type, unit, v) for v in readings)
    rounded_total = to_mgce(energy_type, unit, sum(readings))
    assert abs(total_of_rounded - rounded_total) <= (len(readings) + 1) / 2


@given(pairs, values)
def test_unit_scaling_consistency(pair, value_milli):
    # 1000 kg reported as 1 t gives the same coal, for every energy type and unit pair.
    energy_type, unit = pair
    for other in accepted_units(energy_type):
        ratio = unit_factor(energy_type, unit) / unit_factor(energy_type, other)
        if ratio.denominator == 1:
            assert to_mgce(energy_type, unit, value_milli) == to_mgce(
                energy_type, other, value_milli * ratio.numerator
            )


def test_mgce_to_tce_is_exact():
    assert mgce_to_tce(MGCE_PER_TCE) == Decimal(1)
    assert mgce_to_tce(1) == Decimal("0.000000001")
    big = 12_345_678_901_234_567_890_123_456_789_012  # beyond the default 28-digit context
    assert mgce_to_tce(big) == Decimal("12345678901234567890123.456789012")
    assert str(mgce_to_tce(-1_500_000_000)) == "-1.500000000"
