"""What every agent checks before it uses a message, written once for every input kind.

A message from an enterprise (a reading batch, a production output) is admitted in one order: decoded as the
kind its topic carries, its USCC valid and equal to the Kafka key, the enterprise registered, its signature
verifying with a key of the enterprise valid at the Kafka record time, and (a reading batch) no more readings
than the contract allows. The worker (streams/ecmon_worker/topology.py) and the offline check
(streams/ecmon_worker/offline_check.py) both call ``admit``. The internal topics are read here too: only the
worker may write them, but a message that does not fit must not stop a worker.

Pure functions of (key, value, registry lookup): unit-tested (and fuzzed) without a broker. Whatever the key
and value are (None, garbage, a valid message of the wrong kind, a decompressed 5 MB value), the answer is a
record or a ``Rejection`` with a ``Reason``, never an exception.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ecmon import codec, signing
from ecmon.dead_letter_reasons import Reason
from ecmon.regions import UnknownRegion, province_of
from ecmon.rejection import Rejection as Rejection  # re-exported: what every read_* here returns
from ecmon.uscc import is_valid_uscc
from ecmon_worker import national_rollup

#: Readings per batch: the interface standard's limit; also keeps every output message under 1 MiB.
MAX_BATCH_READINGS = 10_000

#: A CST month as the platform writes it, 1970-01 to 9998-12 (the months it can name).
_PERIOD = re.compile(r"(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])")

#: What enterprises send, and the signing prefix of each (ecmon.signing).
EnterpriseMessage = Literal["reading_batch", "production_output"]
_SIGNED_AS: dict[str, tuple[str, ...]] = {"reading_batch": signing.READING_BATCH_PREFIX,
                                          "production_output": signing.PRODUCTION_OUTPUT_PREFIX}
_NAMED = {"reading_batch": "batch", "production_output": "production output"}

Lookup = Callable[[str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Admitted:
    """A message the platform may use: the decoded record and the registry record of its enterprise."""

    message: dict[str, Any]
    enterprise: dict[str, Any]

    @property
    def uscc(self) -> str:
        uscc: str = self.message["uscc"]
        return uscc


def _bad_period(periods: list[str]) -> str | None:
    return next((p for p in periods if not _PERIOD.fullmatch(p) or p > "9998-12"), None)


def _decode(value: object, expected: str | None) -> tuple[str, dict[str, Any]] | Rejection:
    try:
        return codec.decode(value, expected)  # type: ignore[arg-type]
    except codec.CodecError as exc:
        return Rejection(exc.reason, str(exc))


def _text_key(key: object) -> str | None:
    """The key as UTF-8 text, or None when it is missing or not UTF-8."""
    if not isinstance(key, (bytes, bytearray)):
        return None
    try:
        return bytes(key).decode()
    except UnicodeDecodeError:
        return None


def admit(kind: EnterpriseMessage, key: bytes | None, value: bytes | None, lookup: Lookup, at_ms: int | None,
          example_key_ok: bool = False) -> Admitted | Rejection:
    """Admit one message of an enterprise. ``lookup`` gives the registry record of a USCC (or None);
    ``at_ms`` is the Kafka record time the signing key must be valid at (None: the message's ``sent_at``);
    ``example_key_ok`` only for offline checks of the published test vectors. A rejection a registry read
    further might lift (the enterprise or its key not known yet) says so in ``registry_may_lag``."""
    decoded = _decode(value, kind)
    if isinstance(decoded, Rejection):
        return decoded
    message = decoded[1]
    uscc = message["uscc"]
    if not is_valid_uscc(uscc):
        return Rejection(Reason.INVALID_USCC, f"{uscc[:64]!r} is not a valid USCC", uscc)
    if key != uscc.encode():
        return Rejection(Reason.KEY_MISMATCH, f"key {key!r:.100} but {_NAMED[kind]} USCC {uscc}", uscc)
    enterprise = lookup(uscc)
    if enterprise is None:
        return Rejection(Reason.UNREGISTERED_ENTERPRISE, f"{uscc} is not in the registry", uscc,
                         registry_may_lag=True)
    problem = signing.signature_problem(value, enterprise, message["key_id"],  # type: ignore[arg-type]
                                        message["sent_at"] if at_ms is None else at_ms, _SIGNED_AS[kind],
                                        example_key_ok)
    if problem is not None:
        return Rejection(Reason.BAD_SIGNATURE, f"{_NAMED[kind]} {message['batch_id']}: {problem}", uscc,
                         registry_may_lag=signing.key_entry(enterprise, message["key_id"]) is None)
    if kind == "reading_batch" and len(message["readings"]) > MAX_BATCH_READINGS:
        return Rejection(Reason.BATCH_TOO_LARGE, f"{len(message['readings']):,} readings; the contract allows "
                         f"{MAX_BATCH_READINGS:,} per batch (interface standard, section 9)", uscc)
    return Admitted(message, enterprise)


def read_enterprise_totals(key: bytes | None, value: bytes | None) -> tuple[str, dict[str, Any]] | Rejection:
    """(province, EnterpriseTotals) of ``ecmon.enterprise-totals.v1``, keyed by the enterprise's province."""
    decoded = _decode(value, "enterprise_totals")
    if isinstance(decoded, Rejection):
        return decoded
    message = decoded[1]
    uscc = message["uscc"] if is_valid_uscc(message["uscc"]) else ""
    try:
        province = province_of(message["region_code"])
    except (UnknownRegion, ValueError, KeyError, TypeError):
        return Rejection(Reason.UNDECODABLE, f"enterprise totals of {message['uscc'][:64]!r} name region "
                         f"{message['region_code'][:64]!r}, which is no GB/T 2260 region", uscc)
    if _text_key(key) != province:
        return Rejection(Reason.KEY_MISMATCH, f"key {key!r:.100} but the totals are of province {province}", uscc)
    if not uscc:
        return Rejection(Reason.INVALID_USCC, f"enterprise totals of {message['uscc'][:64]!r}, not a valid USCC")
    bad = _bad_period([t["period"] for t in message["totals"]])
    if bad is not None:
        return Rejection(Reason.INVALID_INTERNAL_MESSAGE, f"enterprise totals of {uscc} for period {bad[:64]!r}, "
                         "not a 'YYYY-MM' month", uscc)
    return province, message


def read_province_totals(key: bytes | None, value: bytes | None) -> tuple[str, str, dict[str, Any]] | Rejection:
    """(key, kind, record) of ``ecmon.province-totals.v1``: a MonthlyReport or an AggregateBatch, key 'CN'."""
    decoded = _decode(value, None)
    if isinstance(decoded, Rejection):
        return decoded
    kind, message = decoded
    if kind not in ("monthly_report", "aggregate_batch"):
        return Rejection(Reason.UNEXPECTED_RECORD_TYPE,
                         f"expected a monthly_report or aggregate_batch message, got {kind}")
    text = _text_key(key)
    if text != national_rollup.NATIONAL_KEY:
        return Rejection(Reason.KEY_MISMATCH, f"key {key!r:.100}; the national level's messages are keyed "
                         f"{national_rollup.NATIONAL_KEY!r}")
    if kind == "monthly_report":
        periods, levels = [message["period"]], {"PROVINCE"}
    else:
        periods, levels = [a["period"] for a in message["aggregates"]], {a["level"] for a in message["aggregates"]}
    bad = _bad_period(periods)
    if bad is not None or not levels <= {"PROVINCE"}:
        return Rejection(Reason.INVALID_INTERNAL_MESSAGE, f"{kind} for the national level with period {bad!r:.64} and "
                         f"levels {sorted(levels)}: the national level takes province totals of 'YYYY-MM' months")
    return text, kind, message


def internal_error(exc: BaseException, what: str) -> Rejection:
    """The dead letter of a message whose processing raised: the exception's type and where it was raised
    (the full traceback goes to the log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return Rejection(Reason.INTERNAL_ERROR, f"{what} raised {type(exc).__name__}{where}: {exc}"[:2000])
