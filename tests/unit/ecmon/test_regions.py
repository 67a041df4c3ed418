"""GB/T 2260 (2018-10) region lookups used by the regional rollups."""

import pytest

from ecmon.regions import (
    PILOT_PROVINCES,
    NoPrefecture,
    Region,
    UnknownRegion,
    prefecture_of,
    prefectures,
    province_of,
    provinces,
    region,
)


def test_lookup_levels():
    assert region("310000") == Region("310000", "上海市", "province")
    assert region("370100") == Region("370100", "济南市", "prefecture")
    assert region("310115") == Region("310115", "浦东新区", "county")


def test_pilot_provinces_exist():
    assert [region(c).name for c in PILOT_PROVINCES] == ["辽宁省", "上海市", "山东省"]


def test_unknown_region_is_key_and_value_error_with_clear_message():
    with pytest.raises(UnknownRegion) as err:
        region("999999")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert "'999999' is not in GB/T 2260" in str(err.value)
    assert not str(err.value).startswith('"')  # no KeyError-style quoting


@pytest.mark.parametrize("bad", ["31011", "3101150", "31O115", "", "３１０１１５"])
def test_malformed_codes(bad):
    with pytest.raises(UnknownRegion, match="six-digit"):
        region(bad)
    with pytest.raises(ValueError):
        province_of(bad)


def test_province_and_prefecture_of():
    assert province_of("370102") == "370000"
    assert prefecture_of("370102") == "370100"
    assert prefecture_of("370100") == "370100"
    assert prefecture_of("419001") == "419000"  # province-administered county (济源市)
    # Works for codes abolished before 2018-10 (USCCs keep their registration region).
    assert province_of("370181") == "370000" and prefecture_of("370181") == "370100"


def test_municipalities_map_to_their_city_districts():
    assert prefecture_of("310000") == "310100"
    assert region(prefecture_of("310000")).name == "市辖区"
    assert prefecture_of("310115") == "310100"
    assert prefecture_of("500000") == "500100"
    assert prefecture_of("500229") == "500200"


def test_ordinary_province_has_no_prefecture():
    with pytest.raises(NoPrefecture, match="is a province"):
        prefecture_of("370000")


def test_provinces():
    codes = [r.code for r in provinces()]
    assert len(codes) == 34
    assert codes == sorted(codes)
    assert all(r.level == "province" for r in provinces())
    assert set(PILOT_PROVINCES) <= set(codes)


def test_prefectures():
    assert [r.code for r in prefectures("310000")] == ["310100"]
    assert [r.code for r in prefectures("500000")] == ["500100", "500200"]
    shandong = prefectures("370000")
    assert len(shandong) == 17  # Laiwu merged into Jinan only in 2019-01
    assert all(r.code.startswith("37") and r.level == "prefecture" for r in shandong)
    assert len(prefectures("210000")) == 14
    with pytest.raises(UnknownRegion, match="not a province"):
        prefectures("370100")


def test_every_county_has_a_known_province_and_prefecture():
    from ecmon.regions import _table

    for code, r in _table().items():
        assert region(province_of(code)).level == "province"
        if r.level == "county":
            assert region(prefecture_of(code)).level == "prefecture", code
