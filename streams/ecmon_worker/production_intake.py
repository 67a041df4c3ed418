"""Production output intake: one ProductionOutput message in, an accepted record or a rejection out.

Pure (no Kafka, no Faust), so the rules are unit-tested without a broker; the agent in streams/ecmon_worker/app.py
only supplies the registry lookup and sends the outcome on. The checks and their order follow reading
batches (streams/ecmon_worker/app.py ``_process_batch``): decode, USCC, key, registry, signature, then the message's
own figures. Every reason is a code of streams/ecmon_worker/dead_letters.py ``REASONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecmon import codec, signing
from ecmon.months import month_of, month_of_interval, month_start_ms
from ecmon.quota_standards import (
    PRODUCT_UNITS,
    IncompatibleProductUnit,
    QuotaStandard,
    quantity_in,
    standard_for,
)
from ecmon.uscc import is_valid_uscc
from ecmon_worker.reading_identity import batch_identity_problem

#: Periods must lie in the CST months the platform can name (1970-9998); beyond, months cannot be computed.
_TS_MIN, _TS_MAX = 0, month_start_ms("9999-01")


@dataclass(frozen=True)
class AcceptedProduction:
    record: dict[str, Any]  # the ProductionOutput record as decoded
    enterprise: dict[str, Any]  # its registry record
    month: str  # CST month the period belongs to ('YYYY-MM')
    standard: QuotaStandard | None  # the product's quota standard, if the platform has one

    @property
    def uscc(self) -> str:
        uscc: str = self.record["uscc"]
        return uscc


@dataclass(frozen=True)
class RejectedProduction:
    reason: str
    detail: str
    uscc: str = ""


Intake = AcceptedProduction | RejectedProduction


def check_production(raw: bytes, key: bytes | None, lookup: Callable[[str], dict[str, Any] | None],
                     at_ms: int | None = None, example_key_ok: bool = False) -> Intake:
    """Validate one production message. ``lookup`` returns the registry record of a USCC, or None;
    ``at_ms`` is the Kafka record time the signing key must be valid at (default: the message's sent_at);
    ``example_key_ok`` only for offline checks of the published test vectors (ecmon_worker.offline_check)."""
    try:
        _, record = codec.decode(raw, expected="production_output")
    except codec.CodecError as exc:
        return RejectedProduction(exc.reason, str(exc))
    uscc = record["uscc"]
    if not is_valid_uscc(uscc):
        return RejectedProduction("invalid_uscc", f"{uscc!r} is not a valid USCC", uscc)
    if key != uscc.encode():
        return RejectedProduction("key_mismatch", f"key {key!r} but production output USCC {uscc}", uscc)
    enterprise = lookup(uscc)
    if enterprise is None:
        return RejectedProduction("unregistered_enterprise", f"{uscc} is not in the registry", uscc)
    problem = signing.signature_problem(raw, enterprise, record["key_id"],
                                        record["sent_at"] if at_ms is None else at_ms,
                                        signing.PRODUCTION_OUTPUT_PREFIX, example_key_ok)
    if problem is not None:
        return RejectedProduction("bad_signature", f"production output {record['batch_id']}: {problem}", uscc)
    identity = batch_identity_problem(record)  # bounded ids, as for reading batches
    if identity is not None:
        return RejectedProduction(*identity, uscc)
    what = f"production output {record['batch_id']} ({record['product_code']})"
    if record["quantity_milli"] < 0:
        return RejectedProduction("negative_quantity", f"{what}: quantity {record['quantity_milli'] / 1000} "
                                  f"{record['unit']}", uscc)
    if record["unit"] not in PRODUCT_UNITS:
        return RejectedProduction("unknown_product_unit", f"{what}: unit {record['unit']!r} is not one of "
                                  f"{', '.join(PRODUCT_UNITS)}", uscc)
    start, end = record["period_start"], record["period_end"]
    if end <= start or not (start >= _TS_MIN and end <= _TS_MAX) or month_of(start) != month_of_interval(end):
        return RejectedProduction("invalid_period", f"{what}: period [{start}, {end}) is empty, reversed or spans "
                                  "two CST months", uscc)
    standard = standard_for(record["product_code"])
    if standard is not None:
        try:
            quantity_in(record["unit"], record["quantity_milli"], standard.unit)
        except IncompatibleProductUnit as exc:
            return RejectedProduction("product_unit_mismatch", f"{what}: {exc} ({standard.number})", uscc)
    return AcceptedProduction(record, enterprise, month_of_interval(end), standard)


def accepted_message(accepted: AcceptedProduction) -> bytes:
    """The accepted figure as it goes to ecmon.production-accepted.v1: the same ProductionOutput record,
    re-encoded with the current schema (the sink and analysts read one version)."""
    return codec.encode("production_output", accepted.record)
