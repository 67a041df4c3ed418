"""Unified Social Credit Code (USCC, GB 32100-2015): the key of every enterprise on the wire.

Layout of the 18 characters::

    9 1 350100 M000100Y4 3
    | | |      |         `-- check character over the first 17 (GB 32100)
    | | |      `------------ organisation code (GB 11714): 8 body characters + its own check
    | | `------------------- registering region (GB/T 2260), six digits
    | `--------------------- entity type (depends on the authority; '1' = enterprise under '9')
    `----------------------- registration authority ('9' = market regulation)

Gateways key Kafka messages by this code, so a typo must be caught before it becomes a phantom
enterprise; the final check character catches every single-character error.
"""

from __future__ import annotations

#: GB 32100 character set; I, O, Z, S and V are left out because they read like 1, 0, 2, 5 and U.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

#: GB 11714 values letters by their place in the full Latin alphabet (A=10 ... Z=35),
#: unlike GB 32100, which numbers only its 31 characters.
_ORG_VALUE = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_EXAMPLE = "91350100M000100Y43"
_LENGTH = 18
_DIGITS = frozenset("0123456789")
_CHARSET_SET = frozenset(CHARSET)


class InvalidUSCC(ValueError):
    """A string that is not a well-formed USCC; the message says what is wrong and what is expected."""


def _weighted_check(first17: str) -> str:
    total = 0
    for weight, char in zip(_WEIGHTS, first17):
        total += weight * _VALUE[char]
    return CHARSET[-total % 31]  # 31 - (sum mod 31), with 31 mapped to 0


def check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a code."""
    if len(first17) != 17:
        raise InvalidUSCC(f"check_character needs the first 17 characters of a USCC, got {len(first17)}: {first17!r}")
    bad = [c for c in first17 if c not in _CHARSET_SET]
    if bad:
        raise InvalidUSCC(_bad_chars_message(first17, bad))
    return _weighted_check(first17)


def organisation_check_character(body8: str) -> str:
    """The GB 11714 check character for the eight-character body of an organisation code."""
    if len(body8) != 8 or any(c not in _ORG_VALUE for c in body8):
        raise ValueError(f"organisation code body must be 8 characters 0-9/A-Z, got {body8!r}")
    c9 = 11 - sum(w * _ORG_VALUE[c] for w, c in zip(_ORG_WEIGHTS, body8)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def _bad_chars_message(code: str, bad: list[str]) -> str:
    shown = ", ".join(f"{c!r} at position {code.index(c) + 1}" for c in dict.fromkeys(bad))
    return (
        f"USCC {code!r} contains characters outside the GB 32100-2015 set ({shown}); "
        f"allowed are {CHARSET} (upper case, no I O Z S V), e.g. {_EXAMPLE!r}"
    )


def validate_uscc(code: str) -> str:
    """Return ``code`` if it is a well-formed USCC, else raise :class:`InvalidUSCC` saying why.

    Checked: length 18, the GB 32100 character set, six digits in the region part, and the final
    check character. Deliberately NOT checked: the organisation-code check character (position 17)
    and the authority/type pair. Codes issued while the old organisation codes were being migrated
    carry org-code check characters that do not verify, and new authority/type pairs get added;
    the registry still issued those codes, so rejecting them would drop real enterprises' data.
    The final check character covers all 17 preceding characters, so typos are still caught.
    """
    if not isinstance(code, str):
        raise InvalidUSCC(f"USCC must be a string of 18 characters, got {type(code).__name__}")
    if len(code) != _LENGTH:
        raise InvalidUSCC(
            f"USCC {code!r} has {len(code)} characters but must have 18 "
            f"(GB 32100-2015), e.g. {_EXAMPLE!r}"
        )
    bad = [c for c in code if c not in _CHARSET_SET]
    if bad:
        raise InvalidUSCC(_bad_chars_message(code, bad))
    if not _DIGITS.issuperset(code[2:8]):
        raise InvalidUSCC(
            f"USCC {code!r} has region part {code[2:8]!r} but characters 3-8 must be a six-digit "
            f"GB/T 2260 region code, e.g. {_EXAMPLE!r}"
        )
    expected = _weighted_check(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(
            f"USCC {code!r} has check character {code[17]!r} but should be {expected!r} (GB 32100-2015)"
        )
    return code


def is_valid_uscc(code: str) -> bool:
    """Same verdict as :func:`validate_uscc`, without building an error message (hot path)."""
    if type(code) is not str or len(code) != _LENGTH:
        return False
    value = _VALUE
    total = 0
    try:
        for weight, char in zip(_WEIGHTS, code):
            total += weight * value[char]
        last = value[code[17]]
    except KeyError:
        return False
    # Every character is already known to be in CHARSET, so isdigit() means ASCII digits.
    return last == -total % 31 and code[2:8].isdigit()


def make_uscc(region_code: str, serial: int) -> str:
    """A valid, deterministic USCC for a simulated enterprise: authority '9', type '1'.

    The organisation code is the zero-padded decimal ``serial`` plus its GB 11714 check character,
    so distinct serials (0 <= serial < 10**8) always give distinct codes.
    """
    if len(region_code) != 6 or not region_code.isdigit() or not region_code.isascii():
        raise ValueError(f"region_code must be a six-digit GB/T 2260 code like '310115', got {region_code!r}")
    if not 0 <= serial < 10**8:
        raise ValueError(f"serial must be in 0..99999999 (eight organisation-code digits), got {serial}")
    body = f"{serial:08d}"
    first17 = "91" + region_code + body + organisation_check_character(body)
    return first17 + _weighted_check(first17)


def region_of(code: str) -> str:
    """The six-digit GB/T 2260 region in which the code was issued (characters 3-8).

    It is the region at registration time and never changes, so it can be a code that a later
    GB/T 2260 revision abolished, or a province-level code for provincially registered enterprises.
    """
    return validate_uscc(code)[2:8]
