from fractions import Fraction

import pytest

from ecmon.industries import industry
from ecmon.quota_standards import (
    MGCE_PER_KGCE,
    STANDARDS,
    IncompatibleProductUnit,
    UnknownProductUnit,
    quantity_in,
    standard_for,
)
from ecmon_simulator.profiles import PROFILES


def test_the_five_products_of_the_issue_have_a_standard_with_number_year_and_integer_limit():
    by_standard = {s.standard: s for s in STANDARDS.values()}
    assert set(by_standard) >= {"GB 32050", "GB 16780", "GB 21340", "GB 21257", "GB 21344"}
    assert by_standard["GB 16780"].number == "GB 16780-2021"
    for s in STANDARDS.values():
        assert isinstance(s.limit_mgce, int) and s.limit_mgce > 0
        assert industry(s.industry_code).code == s.industry_code
        assert s.route and s.confidence and s.title_zh and s.scope
        assert s.electricity_method == "equivalent"  # 当量值, 0.1229 kgce/kWh, as the standards count it


def test_the_scope_is_the_products_process_not_the_whole_enterprise():
    steel, clinker, ammonia = (standard_for(c) for c in ("3206010100", "3101010000", "2601010000"))
    # crude steel is judged on the EAF process (GB 32050): the blast furnace's coke and gas are ironmaking
    assert steel.counts("electricity") and not steel.counts("coke") and not steel.counts("blast_furnace_gas")
    assert clinker.counts("raw_coal") and clinker.counts("electricity") and not clinker.counts("steam")
    assert ammonia.counts("natural_gas") and ammonia.counts("steam")  # feedstock and purchased steam count


def test_limits_are_exact_in_mgce():
    assert standard_for("3101010000").limit_mgce == 117 * MGCE_PER_KGCE  # cement clinker, GB 16780-2021
    glass = next(s for s in STANDARDS.values() if s.standard == "GB 21340")
    assert glass.limit_mgce == 13_500_000 and glass.unit == "weight_box"
    assert glass.limit_kgce == Fraction(27, 2)


def test_the_products_the_simulator_sends_are_found_by_their_code():
    simulated = {p.product.code: p.product.unit for p in PROFILES.values()}
    for name in ("crude steel", "cement clinker", "synthetic ammonia"):
        code = next(p.product.code for p in PROFILES.values() if p.product.name == name)
        s = standard_for(code)
        assert s is not None and s.product_en == name and s.unit == simulated[code]
    assert standard_for("3412000000") is None  # machine tools: no quota standard


def test_quantities_convert_exactly_within_a_dimension_only():
    assert quantity_in("kg", 1_500_000, "t") == Fraction(3, 2)  # 1500 kg = 1.5 t
    assert quantity_in("t", 2_500, "t") == Fraction(5, 2)
    with pytest.raises(IncompatibleProductUnit):
        quantity_in("piece", 1000, "t")
    with pytest.raises(UnknownProductUnit):
        quantity_in("bags", 1000, "t")
