"""What a registry record must be before the worker lets it change the coverage list, or the sink stores it.

Pure functions of (key, value), unit-tested without a broker, shared by the worker's registry follower
(streams/ecmon_worker/registry.py) and the sink (sinks/ecmon_sink/rows.py): both must refuse the same records
for the same reason, or the sink's ``enterprises`` table would list what the worker never counted. A record
that fails any check becomes a dead letter and changes nothing: the enterprise keeps the history it had.
Whatever the key and value are, the answer is a record or a ``Rejection``, never an exception.

Checked (interface standard, section "Registry"): the Kafka key is the record's USCC; the USCC is valid
(GB 32100); the region is a known GB/T 2260 code inside a province; the industry a monitored GB/T 4754
code; at least one meter, ids unique, non-empty and at most ``MAX_METER_ID`` characters, a known energy
type measured in a unit that can measure it, an interval of 1 s to one day; the public keys 32-byte
Ed25519 keys with unique key ids, the record's ``key_id`` among them; and the registry authority's
signature over the record.
"""

from __future__ import annotations

from typing import Any

from ecmon import codec, signing
from ecmon.dead_letter_reasons import Reason
from ecmon.energy import UnknownEnergyType, accepted_units
from ecmon.industries import UnknownIndustry, industry
from ecmon.regions import UnknownRegion, province_of, region
from ecmon.rejection import Rejection
from ecmon.uscc import is_valid_uscc

MAX_METERS = 2_000
MAX_METER_ID = 64
MAX_INTERVAL_S = 86_400
MAX_PUBLIC_KEYS = 32
MAX_NAME = 256

INVALID = Reason.INVALID_REGISTRY_RECORD
UNSIGNED = Reason.UNSIGNED_REGISTRY_RECORD


def record_problem(key: bytes | None, record: dict[str, Any]) -> str | None:
    """Why the decoded registry record cannot be used (one line), or None when it can."""
    uscc = record.get("uscc")
    if not isinstance(uscc, str) or not is_valid_uscc(uscc):
        return f"USCC {str(uscc)[:64]!r} is not a valid unified social credit code (GB 32100)"
    if key != uscc.encode():
        return f"Kafka key {(key or b'')[:64]!r} differs from the record's USCC {uscc}; key registry records by USCC"
    if not record.get("name") or len(record["name"]) > MAX_NAME:
        return f"name must have 1 to {MAX_NAME} characters"
    code = record.get("region_code")
    try:
        region(code)  # type: ignore[arg-type]
        province_of(code)  # type: ignore[arg-type]
    except UnknownRegion as exc:
        return str(exc).strip('"')
    problem = _industry_problem(record.get("industry_code"))
    if problem is not None:
        return problem
    problem = _meters_problem(record.get("meters") or [])
    if problem is not None:
        return problem
    return _keys_problem(record)


def _industry_problem(code: object) -> str | None:
    """A monitored GB/T 4754-2017 code, or a class (four digits) of a monitored division: the simulator's
    machinery profile registers 3412, in the monitored division 34."""
    try:
        industry(code)  # type: ignore[arg-type]
        return None
    except UnknownIndustry as exc:
        if isinstance(code, str) and len(code) == 4 and code.isascii() and code.isdigit():
            try:
                industry(code[:2])
                return None
            except UnknownIndustry:
                pass
        return str(exc)[:300]


def _meters_problem(meters: list[dict[str, Any]]) -> str | None:
    if not meters:
        return "the record lists no meters; an enterprise is registered with at least one"
    if len(meters) > MAX_METERS:
        return f"{len(meters)} meters; at most {MAX_METERS} per enterprise"
    seen: set[str] = set()
    for m in meters:
        meter_id = m["meter_id"]
        if not meter_id or len(meter_id) > MAX_METER_ID:
            return f"meter id {meter_id[:80]!r} must have 1 to {MAX_METER_ID} characters"
        if meter_id in seen:
            return f"meter id {meter_id!r} is listed twice"
        seen.add(meter_id)
        try:
            units = accepted_units(m["energy_type"])
        except UnknownEnergyType as exc:
            return f"meter {meter_id!r}: {exc}"[:300]
        if m["unit"] not in units:
            return f"meter {meter_id!r}: unit {m['unit'][:32]!r} cannot measure {m['energy_type']} " \
                   f"(accepted: {', '.join(units)})"
        if not 0 < m["interval_s"] <= MAX_INTERVAL_S:
            return f"meter {meter_id!r}: interval {m['interval_s']} s; it must be 1 to {MAX_INTERVAL_S} s"
    return None


def _keys_problem(record: dict[str, Any]) -> str | None:
    keys = record.get("public_keys") or []
    if len(keys) > MAX_PUBLIC_KEYS:
        return f"{len(keys)} public keys; at most {MAX_PUBLIC_KEYS}"
    ids: set[str] = set()
    for k in keys:
        try:
            signing.check_key_id(k["key_id"])
        except ValueError as exc:
            return str(exc)[:300]
        if k["key_id"] in ids:
            return f"key id {k['key_id']!r} is listed twice among the public keys"
        ids.add(k["key_id"])
        if k.get("algorithm", signing.ALGORITHM) != signing.ALGORITHM or len(k["public_key"]) != signing.PUBLIC_KEY_LEN:
            return f"key {k['key_id']!r} is not a {signing.PUBLIC_KEY_LEN}-byte {signing.ALGORITHM} public key"
        until = k.get("valid_until")
        if until is not None and until <= k["valid_from"]:
            return f"key {k['key_id']!r} ends (valid_until) before it starts (valid_from)"
    if record.get("key_id") not in ids:
        return f"key_id {str(record.get('key_id'))[:80]!r} is not among the record's own public keys"
    return None


def read_registry_record(key: bytes | None, value: bytes, authority_public_key: bytes) -> dict[str, Any] | Rejection:
    """The decoded, checked and authenticated registry record, or why not. ``value`` is not None: a
    tombstone is an operation of its own (RegistryHistory.remove)."""
    try:
        _, record = codec.decode(value, "enterprise_record")
    except codec.CodecError as exc:
        return Rejection(exc.reason, str(exc))
    except Exception as exc:
        return Rejection(Reason.UNDECODABLE, f"{type(exc).__name__}: {exc}"[:300])
    given = record.get("uscc")
    uscc = given if isinstance(given, str) else ""
    try:
        problem = record_problem(key, record)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"malformed record ({type(exc).__name__}: {exc})"[:300]
    if problem is not None:
        return Rejection(INVALID, problem, uscc[:64])
    if not record.get("registry_signature"):
        return Rejection(UNSIGNED, "the record carries no registry authority signature; sign it with the "
                                   "authority's key before publishing (ecmon.signing.sign_registry_record)", uscc)
    if not signing.verify_registry_record(record, authority_public_key):
        return Rejection(UNSIGNED, "the registry authority signature does not verify with the authority's "
                                   "public key (ECMON_REGISTRY_AUTHORITY_PUBLIC_KEY[_FILE])", uscc)
    return record
