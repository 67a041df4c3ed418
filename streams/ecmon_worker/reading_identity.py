"""Which interval readings an enterprise's totals already hold, and which batch identities are acceptable.

The identity of an interval reading is (enterprise, meter, interval end). For every interval reading of an
open month the EXACT value counted is kept, so that

* an exact resend (same identity, same value) counts nothing, whatever batch, sequence or gateway brings it;
* a different value is refused (``conflicting_reading``) unless it declares, in ``replaces_value_milli``
  (reading batch v3), exactly the value counted: then it is a correction and replaces that value.
  Nothing short of the exact value passes (a digest could be matched by a value found offline).

Interval ends must lie on the meter's registered grid: multiples of its interval after each CST midnight,
and midnight itself (``off_grid_reading`` otherwise), so one interval has one identity.

Layout. One value per meter and CST day (``"<meter>|<YYYY-MM-DD>"``; meters finer than a minute split a day
into parts of ``SLOTS_PER_KEY`` slots, ``"<meter>|<YYYY-MM-DD>#<part>"``), kept beside the enterprise state
(the worker stores them in the enterprise-state table under ``"<uscc>|<meter>|<day>"``; pure callers pass
no mapping and get them in ``state["id"]``)::

    "<step ms>:<tag>:<values>:<fresh>:<fixed>"

``values`` is base64 of the little-endian int64 values of the part's slots (slot ``i`` is the interval ending
at midnight + (i + 1) x step, the last one at midnight), -1 for "not counted" (counted values are >= 0): 96
slots, 1,024 characters, for a 15-minute meter-day. In memory they are int32 while every value fits (384
bytes for a meter-day), int64 from the first that does not. A batch rewrites only the meter-days it touches, so
every stored value stays about 1 kB however many meters an enterprise has, and the enterprise state keeps
only a small index per meter (``state["ix"]``: first and last day held, parts per day).

``tag`` is the enterprise-state version of the batch that last wrote the value, ``fresh`` (a bitmap) and
``fixed`` (slot, old value pairs) what that batch changed. The worker writes a batch's meter-days before the
enterprise state, in the same changelog partition, so a crash can keep the meter-days of a batch whose
state was lost, never the reverse; such a value (tag above the state's version) is rolled back with its
``fresh`` and ``fixed`` when read, and the batch, processed again, counts exactly as the first time.

A month's values are removed once the month is closed for the enterprise as its saved state stands (grace
and revision window passed: no reading can reach it, even when a batch is processed again), so what is kept
is bounded by meters x open days.
"""

from __future__ import annotations

import re
import sys
import zlib
from array import array
from base64 import b64decode, b64encode
from collections.abc import MutableMapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from ecmon.dead_letter_reasons import Reason
from ecmon.months import month_of_interval, month_start_ms
from ecmon_worker.enterprise_state import EnterpriseState

CST_OFFSET_MS = 8 * 3_600_000
DEFAULT_STEP_MS = 900_000  # the standard's 15 minutes, for a meter whose interval the caller does not know
DAY_MS = 86_400_000
#: slots per stored value: a day of a meter of one minute or more; finer meters split their days
SLOTS_PER_KEY = 1_440
NOT_COUNTED = -1
_EPOCH = date(1970, 1, 1)
#: one int object per CST day for every meter's index (a few hundred days: the horizon's)
_DAY_NUMBERS: dict[int, int] = {}

#: gateway_id: what a gateway names itself within its enterprise (interface standard, section 5.1)
GATEWAY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: batch_id: a UUID in its canonical 36-character text form
BATCH_ID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _shown(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 80 else f"{s[:60]}... ({len(str(text))} characters)"


def batch_identity_problem(batch: dict[str, Any]) -> tuple[Reason, str] | None:
    """(reason, detail) when the batch's gateway_id or batch_id has not the contract's form."""
    gateway, batch_id = batch.get("gateway_id"), batch.get("batch_id")
    if not isinstance(gateway, str) or not GATEWAY_ID.fullmatch(gateway):
        return (Reason.INVALID_GATEWAY_ID, f"gateway_id {_shown(gateway)} is not 1-64 characters of A-Z a-z 0-9 . _ : "
                "-; give the gateway such an id (interface standard, section 5.1)")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        return (Reason.INVALID_BATCH_ID, f"batch_id {_shown(batch_id)} is not a UUID (36 characters, "
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); generate one per batch")
    return None


@lru_cache(maxsize=8192)
def day_text(day: int) -> str:
    """'YYYY-MM-DD' of CST day number ``day`` (days since 1970-01-01 CST)."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def day_number(ts: int) -> int:
    """The CST day number the interval ending at ``ts`` belongs to (an end at midnight closes the day before)."""
    return (ts - 1 + CST_OFFSET_MS) // DAY_MS


def slots_per_day(step: int) -> int:
    return -(-DAY_MS // step)


def parts_per_day(step: int) -> int:
    return -(-slots_per_day(step) // SLOTS_PER_KEY)


def grid_problem(ts: int, step: int) -> str | None:
    """Why an interval end ``ts`` is not on the grid of a meter of interval ``step``, or None."""
    offset = ts - 1 + CST_OFFSET_MS
    into_day = offset % DAY_MS + 1  # 1 .. DAY_MS: an end at midnight is the day's last
    if into_day == DAY_MS or into_day % step == 0:
        return None
    return (f"ts {ts} ends {into_day / 1000:g} s after CST midnight; the meter's registered interval of "
            f"{step / 1000:g} s expects interval ends at multiples of {step / 1000:g} s after CST midnight "
            f"(and at midnight), e.g. ts {ts - into_day % step} or {ts - into_day % step + step}")


def _q(values: array[int]) -> bytes:
    if sys.byteorder == "big":  # stored little-endian whatever the machine
        values = array("q", values)
        values.byteswap()
    return values.tobytes()


def _unq(raw: bytes) -> array[int]:
    values = array("q")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def _narrow(values: array[int]) -> array[int]:
    """The values in memory as int32 when they all fit (half the bytes: most intervals are below 2^31
    thousandths), else as they are; ``DayIdentities.put`` widens them when a larger value comes."""
    if values.typecode == "q" and (not values or (min(values) >= _I32_MIN and max(values) <= _I32_MAX)):
        return array("i", values)
    return values


class DayIdentities:
    """The counted values of one meter in one day (or part of a day), decoded for one batch."""

    __slots__ = ("step", "tag", "values", "fresh", "fixed", "changed")

    def __init__(self, step: int, tag: int, values: array[int], fresh: bytearray, fixed: array[int]) -> None:
        self.step, self.tag, self.values, self.fresh, self.fixed = step, tag, values, fresh, fixed
        self.changed = False

    @classmethod
    def new(cls, step: int, part: int) -> DayIdentities:
        n = min(SLOTS_PER_KEY, slots_per_day(step) - part * SLOTS_PER_KEY)
        return cls(step, 0, array("i", [NOT_COUNTED]) * n, bytearray(), array("q"))

    @classmethod
    def decode(cls, text: str, committed: int) -> DayIdentities:
        step, tag, values, fresh, fixed = text.split(":")
        day = cls(int(step), int(tag), _unq(b64decode(values)), bytearray(b64decode(fresh)), _unq(b64decode(fixed)))
        if day.tag > committed:  # written by a batch whose enterprise state was lost: roll it back
            for i in range(len(day.values)):
                if i >> 3 < len(day.fresh) and day.fresh[i >> 3] >> (i & 7) & 1:
                    day.values[i] = NOT_COUNTED
            for j in range(0, len(day.fixed), 2):
                day.values[day.fixed[j]] = day.fixed[j + 1]
            day.tag, day.fresh, day.fixed = 0, bytearray(), array("q")
            day.changed = True  # write the rolled-back value whatever this batch does
        day.values = _narrow(day.values)  # after the roll-back, whose old values may need int64
        return day

    def encoded(self) -> str:
        values = self.values if self.values.typecode == "q" else array("q", self.values)  # int64 in the changelog
        return (f"{self.step}:{self.tag}:{b64encode(_q(values)).decode()}:{b64encode(self.fresh).decode()}:"
                f"{b64encode(_q(self.fixed)).decode()}")

    def put(self, index: int, value: int, version: int, saved: int | None = None) -> None:
        """Record ``value`` as counted in slot ``index`` by the batch of enterprise-state ``version``.

        The undo record reaches back to the enterprise state as last written to the changelog (version
        ``saved``; by default the state before this batch): with deferred writes (streams/ecmon_worker/emission.py)
        several batches change a meter-day between two writes of the state, and a crash must undo them all."""
        if self.tag <= (version - 1 if saved is None else saved):
            self.tag, self.fresh, self.fixed = version, bytearray(), array("q")
        self.tag = version
        old = self.values[index]
        byte = index >> 3
        seen = byte < len(self.fresh) and self.fresh[byte] >> (index & 7) & 1
        if old == NOT_COUNTED:
            if byte >= len(self.fresh):
                self.fresh.extend(bytes(byte + 1 - len(self.fresh)))
            self.fresh[byte] |= 1 << (index & 7)
        elif not seen and index not in self.fixed[::2]:
            self.fixed.extend((index, old))
        if self.values.typecode == "i" and not _I32_MIN <= value <= _I32_MAX:
            self.values = array("q", self.values)
        self.values[index] = value
        self.changed = True


def encoded(value: Any) -> Any:
    """What the changelog holds of a table value: a DayIdentities as its text (held compressed: the text
    inside), anything else as it is."""
    if isinstance(value, DayIdentities):
        return value.encoded()
    return zlib.decompress(value).decode() if isinstance(value, bytes) else value


def held(value: Any, written: Any) -> Any:
    """What the worker keeps in memory of a table value once its changelog has it: a meter-day as that text,
    compressed (about 60 bytes for a meter-day of a few readings, against 650 decoded; ``ReadingIdentities.day``
    decodes it again when a batch needs it), anything else as it is."""
    return zlib.compress(written.encode(), 1) if isinstance(value, DayIdentities) else value


class ReadingIdentities:
    """The identity records of one enterprise for one batch: read lazily, written back by ``save()``.

    ``store`` holds ``"<meter>|<day>[#part]" -> value`` (the worker's view of its table, or ``state["id"]``);
    ``state["ix"]`` indexes it per meter as [first day, last day, parts per day] (CST day numbers)."""

    def __init__(self, state: EnterpriseState, store: MutableMapping[str, Any] | None, version: int,
                 saved: int | None = None) -> None:
        if store is None:
            self.store: MutableMapping[str, Any] = state.setdefault("id", {})
        else:
            state.pop("id", None)
            self.store = store
        #: a store that ``keeps_decoded`` holds DayIdentities between batches and encodes them only when it
        #: writes them (the worker's, once per flush, after which it holds them compressed, ``held``): decoding
        #: and encoding every meter-day a batch touches cost more than the rest of the batch's rollup
        self.keeps_decoded = bool(getattr(store, "keeps_decoded", False))
        #: meter -> (first day, last day, parts per day); a list as JSON gives it back
        self.index: dict[str, Sequence[int]] = state.setdefault("ix", {})
        self.committed = state["v"]
        self.version = version
        #: the enterprise-state version the changelog holds (the undo records reach back to it)
        self.saved = self.committed if saved is None else saved
        self.open: dict[str, DayIdentities] = {}

    def day(self, meter: str, ts: int, step: int) -> tuple[DayIdentities, int] | str:
        """(the meter-day holding the interval ending at ``ts``, its slot there), or why ``ts`` is off grid."""
        problem = grid_problem(ts, step)
        if problem is not None:
            return problem
        number = day_number(ts)
        slot = (ts - 1 + CST_OFFSET_MS) % DAY_MS // step
        part, index = divmod(slot, SLOTS_PER_KEY)
        key = f"{meter}|{day_text(number)}" + (f"#{part}" if part else "")
        found = self.open.get(key)
        if found is None:
            raw = self.store.get(key)
            if raw is None:
                found = DayIdentities.new(step, part)
            elif isinstance(raw, DayIdentities):  # kept decoded in memory: never ahead of the state in memory
                found = raw
            elif isinstance(raw, bytes):  # held compressed since a flush: never ahead of the state in memory either
                found = DayIdentities.decode(zlib.decompress(raw).decode(), self.committed)
            else:
                found = DayIdentities.decode(raw, self.committed)
            self.open[key] = found
            entry = self.index.get(meter)
            # A tuple of shared day numbers: a list of its own ints took 140 bytes per meter, a million times over.
            number = _DAY_NUMBERS.setdefault(number, number)
            if entry is None:
                self.index[meter] = (number, number, parts_per_day(step))
            elif type(entry) is list or not entry[0] <= number <= entry[1] or entry[2] < parts_per_day(step):
                # (a list: as the changelog's JSON gave it back after a recovery)
                self.index[meter] = (min(entry[0], number), max(entry[1], number), max(entry[2], parts_per_day(step)))
        if found.step != step:
            # Re-registered with another interval during the day: the day keeps the grid it started on.
            if grid_problem(ts, found.step) is not None or parts_per_day(found.step) > 1:
                return (f"ts {ts}: the meter's day {day_text(number)} is already identified on a grid of "
                        f"{found.step / 1000:g} s, and ts is not on it (the interval changed during the day); "
                        "send the rest of that day on the old grid")
            index = (ts - 1 + CST_OFFSET_MS) % DAY_MS // found.step
        return found, index

    def save(self) -> None:
        for key, day in self.open.items():
            if day.changed:
                day.changed = False
                self.store[key] = day if self.keeps_decoded else day.encoded()

    def forget_closed(self, closed_before: int) -> None:
        """Remove the values of months that ended before ``closed_before`` (closed: no reading reaches them)."""
        first_open = (month_start_ms(month_of_interval(closed_before)) + CST_OFFSET_MS) // DAY_MS
        for meter in [m for m, e in self.index.items() if e[0] < first_open]:
            first, last, parts = self.index[meter]
            for number in range(first, min(last + 1, first_open)):
                day = day_text(number)
                for part in range(parts):
                    key = f"{meter}|{day}" + (f"#{part}" if part else "")
                    if key in self.store:
                        del self.store[key]
            if last < first_open:
                del self.index[meter]
            else:
                self.index[meter] = (_DAY_NUMBERS.setdefault(first_open, first_open), last, parts)
