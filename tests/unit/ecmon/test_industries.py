"""GB/T 4754-2017 industries monitored by the platform."""

import pytest

from ecmon.industries import INDUSTRIES, Industry, UnknownIndustry, industry


def test_required_industries_present():
    for code in ["31", "32", "30", "3011", "3041", "26", "2612", "2621", "25", "44", "22", "17", "34"]:
        assert industry(code).code == code
    assert len(INDUSTRIES) >= 25


def test_codes_are_well_formed_and_consistent():
    for code, ind in INDUSTRIES.items():
        assert isinstance(ind, Industry) and ind.code == code
        assert code.isdigit() and len(code) in (2, 4)
        assert ind.name_zh and ind.name_en
        assert ind.division in INDUSTRIES  # every class rolls up to a listed division


def test_names():
    assert industry("3011").name_zh == "水泥制造"
    assert industry("3011").division == "30"


def test_unknown_industry_message():
    with pytest.raises(UnknownIndustry) as err:
        industry("3019")
    msg = str(err.value)
    assert "'3019'" in msg and "division '30'" in msg and "3011" in msg
    assert isinstance(err.value, ValueError)
    with pytest.raises(UnknownIndustry, match="Accepted"):
        industry("99")


def test_mapping_is_read_only():
    with pytest.raises(TypeError):
        INDUSTRIES["99"] = Industry("99", "x", "x")  # type: ignore[index]
