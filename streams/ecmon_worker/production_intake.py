"""Production output intake: one ProductionOutput message in, an accepted record or a rejection out.

Pure (no Kafka, no Faust), so the rules are unit-tested without a broker. The message is admitted as every
message of an enterprise is (streams/ecmon_worker/admission.py ``admit``: decode, USCC, key, registry,
signature), then its own figures are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecmon import codec
from ecmon.dead_letter_reasons import Reason
from ecmon.months import month_of, month_of_interval, month_start_ms
from ecmon.quota_standards import (
    PRODUCT_UNITS,
    IncompatibleProductUnit,
    QuotaStandard,
    quantity_in,
    standard_for,
)
from ecmon.rejection import Rejection
from ecmon_worker.admission import Admitted, Lookup, admit
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


def check_production(raw: bytes | None, key: bytes | None, lookup: Lookup, at_ms: int | None = None,
                     example_key_ok: bool = False) -> AcceptedProduction | Rejection:
    """Admit one production message and check its figures (``admit`` says what the arguments are)."""
    admitted = admit("production_output", key, raw, lookup, at_ms, example_key_ok)
    return admitted if isinstance(admitted, Rejection) else check_figures(admitted)


def check_figures(admitted: Admitted) -> AcceptedProduction | Rejection:
    """The figures of an admitted production output: ids, quantity, unit, period."""
    record, uscc = admitted.message, admitted.uscc
    identity = batch_identity_problem(record)  # bounded ids, as for reading batches
    if identity is not None:
        return Rejection(*identity, uscc)
    what = f"production output {record['batch_id']} ({record['product_code']})"
    if record["quantity_milli"] < 0:
        return Rejection(Reason.NEGATIVE_QUANTITY, f"{what}: quantity {record['quantity_milli'] / 1000} "
                         f"{record['unit']}", uscc)
    if record["unit"] not in PRODUCT_UNITS:
        return Rejection(Reason.UNKNOWN_PRODUCT_UNIT, f"{what}: unit {record['unit']!r} is not one of "
                         f"{', '.join(PRODUCT_UNITS)}", uscc)
    start, end = record["period_start"], record["period_end"]
    if end <= start or not (start >= _TS_MIN and end <= _TS_MAX) or month_of(start) != month_of_interval(end):
        return Rejection(Reason.INVALID_PERIOD, f"{what}: period [{start}, {end}) is empty, reversed or spans "
                         "two CST months", uscc)
    standard = standard_for(record["product_code"])
    if standard is not None:
        try:
            quantity_in(record["unit"], record["quantity_milli"], standard.unit)
        except IncompatibleProductUnit as exc:
            return Rejection(Reason.PRODUCT_UNIT_MISMATCH, f"{what}: {exc} ({standard.number})", uscc)
    return AcceptedProduction(record, admitted.enterprise, month_of_interval(end), standard)


def accepted_message(accepted: AcceptedProduction) -> bytes:
    """The accepted figure as it goes to ecmon.production-accepted.v1: the same ProductionOutput record,
    re-encoded with the current schema (the sink and analysts read one version)."""
    return codec.encode("production_output", accepted.record)
