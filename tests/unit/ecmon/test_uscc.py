"""USCC (GB 32100-2015) validation and the simulator's code generator."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecmon.uscc import (
    CHARSET,
    InvalidUSCC,
    check_character,
    is_valid_uscc,
    make_uscc,
    organisation_check_character,
    region_of,
    validate_uscc,
)

PUBLISHED = "91350100M000100Y43"  # the example code printed in GB 32100-2015 explanations

regions = st.text("0123456789", min_size=6, max_size=6)
serials = st.integers(0, 10**8 - 1)


def test_published_example_is_valid():
    assert validate_uscc(PUBLISHED) == PUBLISHED
    assert is_valid_uscc(PUBLISHED)
    assert check_character(PUBLISHED[:17]) == "3"
    assert organisation_check_character("M000100Y") == "4"
    assert region_of(PUBLISHED) == "350100"


def test_weights_are_powers_of_three_mod_31():
    # The brief's table; guards against an off-by-one in the generated weights.
    from ecmon.uscc import _WEIGHTS

    assert list(_WEIGHTS) == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("91350100M000100Y44", "has check character '4' but should be '3' (GB 32100-2015)"),
        ("91350100M000100Y4", "has 17 characters but must have 18"),
        ("91350100M000100Y433", "has 19 characters"),
        ("91350100M000100I43", "'I' at position 16"),
        ("91350100m000100Y43", "'m' at position 9"),
        ("913501A0M000100Y43", "must be a six-digit GB/T 2260 region code"),
    ],
)
def test_invalid_codes_say_why(code, fragment):
    with pytest.raises(InvalidUSCC) as err:
        validate_uscc(code)
    assert fragment in str(err.value)
    assert "91350100M000100Y43" in str(err.value) or "should be" in str(err.value)
    assert not is_valid_uscc(code)


def test_invalid_uscc_is_a_value_error():
    assert issubclass(InvalidUSCC, ValueError)


def test_org_code_check_is_not_enforced():
    # Position 17 wrong for GB 11714, final check recomputed: still a valid USCC (see validate_uscc).
    first17 = PUBLISHED[:16] + "7"
    code = first17 + check_character(first17)
    assert validate_uscc(code) == code


def test_is_valid_rejects_non_strings():
    assert not is_valid_uscc(None)  # type: ignore[arg-type]
    assert not is_valid_uscc(b"91350100M000100Y43")  # type: ignore[arg-type]


def test_organisation_check_10_and_11():
    # 11 - (sum mod 11): 10 -> 'X', 11 -> '0'.
    bodies = {organisation_check_character(f"{n:08d}") for n in range(200)}
    assert "X" in bodies and "0" in bodies


@given(regions, serials)
def test_make_uscc_is_always_valid(region, serial):
    code = make_uscc(region, serial)
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)
    assert region_of(code) == region
    assert code[:2] == "91"
    assert organisation_check_character(code[8:16]) == code[16]


@given(regions, serials, serials)
def test_make_uscc_distinct_serials_distinct_codes(region, a, b):
    assert (make_uscc(region, a) == make_uscc(region, b)) == (a == b)


def test_make_uscc_is_deterministic_and_checks_inputs():
    assert make_uscc("310115", 42) == make_uscc("310115", 42)
    with pytest.raises(ValueError):
        make_uscc("31011", 1)
    with pytest.raises(ValueError):
        make_uscc("310115", 10**8)
    with pytest.raises(ValueError):
        make_uscc("310115", -1)


@given(regions, serials, st.integers(0, 17), st.sampled_from(CHARSET))
def test_any_single_character_change_is_detected(region, serial, position, replacement):
    code = make_uscc(region, serial)
    changed = code[:position] + replacement + code[position + 1 :]
    if changed != code:
        assert not is_valid_uscc(changed)
        with pytest.raises(InvalidUSCC):
            validate_uscc(changed)


@given(st.text(max_size=20))
def test_fast_path_agrees_with_validation(text):
    try:
        validate_uscc(text)
        expected = True
    except InvalidUSCC:
        expected = False
    assert is_valid_uscc(text) is expected
