"""What every agent checks before it uses a message: a value at all, its size, its record type, its key.

Pure functions of (key, value), so they are unit-tested (and fuzzed) without a broker; the agents in
streams/ecmon_worker/app.py only send a ``Rejection`` on as a dead letter. Whatever the key and value are (None,
garbage, a valid message of the wrong kind, a decompressed 5 MB value), the answer is a record or a
``Rejection`` with a reason of streams/ecmon_worker/dead_letters.py ``REASONS``, never an exception. The internal topics
are checked too: only the worker may write them, but a message that does not fit must not stop a worker.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from ecmon import codec
from ecmon.regions import UnknownRegion, province_of
from ecmon.rejection import Rejection as Rejection  # re-exported: what every read_* here returns
from ecmon.uscc import is_valid_uscc
from ecmon_worker import national_rollup

#: Readings per batch: the interface standard's limit; also keeps every output message under 1 MiB.
MAX_BATCH_READINGS = 10_000

#: A CST month as the platform writes it, 1970-01 to 9998-12 (the months it can name).
_PERIOD = re.compile(r"(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])")


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


def read_reading_batch(key: bytes | None, value: bytes | None) -> dict[str, Any] | Rejection:
    """A ReadingBatch of ``ecmon.readings.v1``: decoded, its USCC valid and equal to the Kafka key."""
    decoded = _decode(value, "reading_batch")
    if isinstance(decoded, Rejection):
        return decoded
    batch = decoded[1]
    uscc = batch["uscc"]
    if not is_valid_uscc(uscc):
        return Rejection("invalid_uscc", f"{uscc[:64]!r} is not a valid USCC", uscc)
    if key != uscc.encode():
        return Rejection("key_mismatch", f"key {key!r:.100} but batch USCC {uscc}", uscc)
    return batch


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
        return Rejection("undecodable", f"enterprise totals of {message['uscc'][:64]!r} name region "
                         f"{message['region_code'][:64]!r}, which is no GB/T 2260 region", uscc)
    if _text_key(key) != province:
        return Rejection("key_mismatch", f"key {key!r:.100} but the totals are of province {province}", uscc)
    if not uscc:
        return Rejection("invalid_uscc", f"enterprise totals of {message['uscc'][:64]!r}, not a valid USCC")
    bad = _bad_period([t["period"] for t in message["totals"]])
    if bad is not None:
        return Rejection("invalid_internal_message", f"enterprise totals of {uscc} for period {bad[:64]!r}, "
                         "not a 'YYYY-MM' month", uscc)
    return province, message


def read_province_totals(key: bytes | None, value: bytes | None) -> tuple[str, str, dict[str, Any]] | Rejection:
    """(key, kind, record) of ``ecmon.province-totals.v1``: a MonthlyReport or an AggregateBatch, key 'CN'."""
    decoded = _decode(value, None)
    if isinstance(decoded, Rejection):
        return decoded
    kind, message = decoded
    if kind not in ("monthly_report", "aggregate_batch"):
        return Rejection("unexpected_record_type", f"expected a monthly_report or aggregate_batch message, got {kind}")
    text = _text_key(key)
    if text != national_rollup.NATIONAL_KEY:
        return Rejection("key_mismatch", f"key {key!r:.100}; the national level's messages are keyed "
                         f"{national_rollup.NATIONAL_KEY!r}")
    if kind == "monthly_report":
        periods, levels = [message["period"]], {"PROVINCE"}
    else:
        periods, levels = [a["period"] for a in message["aggregates"]], {a["level"] for a in message["aggregates"]}
    bad = _bad_period(periods)
    if bad is not None or not levels <= {"PROVINCE"}:
        return Rejection("invalid_internal_message", f"{kind} for the national level with period {bad!r:.64} and "
                         f"levels {sorted(levels)}: the national level takes province totals of 'YYYY-MM' months")
    return text, kind, message


def internal_error(exc: BaseException, what: str) -> Rejection:
    """The dead letter of a message whose processing raised: the exception's type and where it was raised
    (the full traceback goes to the log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return Rejection("internal_error", f"{what} raised {type(exc).__name__}{where}: {exc}"[:2000])
