"""Which interval readings an enterprise's totals already hold, and which batch identities are acceptable.

The identity of an interval reading is (enterprise, meter, interval end). The enterprise state keeps, per
meter and per *open* month, which intervals were counted and a 16-bit fingerprint of the value counted
for each, so that

* an exact resend (same identity, same value) counts nothing, whatever batch, sequence or gateway brings it;
* a different value is refused (``conflicting_reading``) unless it declares the value it replaces
  (``replaces_value_milli``, reading batch v3) and that value's fingerprint is the one counted: then it is
  a correction and replaces the counted value.

Layout in the enterprise state (JSON; ``state["id"]``)::

    {"G-01|2026-10": [900000, "<bitmap, base64>", "<fingerprints, base64>", {"<ts>": fp, ...}]}

Slot ``i`` of a month is the interval ending at ``month_start + (i + 1) x step`` on the grid of the
meter's registered interval (anchored at CST midnight, so daily meters end on a CST day): bit ``i`` of the
bitmap says it was counted, bytes ``2i, 2i+1`` hold its fingerprint. Both arrays only reach the byte of
the highest slot used, so a month in progress costs what has arrived. A reading whose end is not on the grid goes to a
small bounded map (``MAX_OFF_GRID`` per meter-month). A 15-minute meter's full month is 2,976 slots:
372 bytes of bitmap and 5,952 of fingerprints, 8,432 characters of base64 in the state.

A month's identities are forgotten once the month is closed for the enterprise (no reading can reach it
any more), so the state stays bounded by meters x open months.

A 16-bit fingerprint tells an exact resend from a changed value except with probability 2^-16: such a
changed value is taken for a resend and not counted (what a conflicting reading gets anyway), and a
correction whose declared old value is wrong passes with that probability.
"""

from __future__ import annotations

import re
from base64 import b64decode, b64encode
from hashlib import blake2b

from ecmon.months import month_start_ms

CST_OFFSET_MS = 8 * 3_600_000
DEFAULT_STEP_MS = 900_000  # the standard's 15 minutes, for a meter whose interval the caller does not know
MAX_OFF_GRID = 64  # readings off the interval grid remembered per meter and month

#: gateway_id: what a gateway names itself within its enterprise (interface standard, section 5.1)
GATEWAY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: batch_id: a UUID in its canonical 36-character text form
BATCH_ID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _shown(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 80 else f"{s[:60]}... ({len(str(text))} characters)"


def batch_identity_problem(batch: dict) -> tuple[str, str] | None:
    """(reason, detail) when the batch's gateway_id or batch_id has not the contract's form."""
    gateway, batch_id = batch.get("gateway_id"), batch.get("batch_id")
    if not isinstance(gateway, str) or not GATEWAY_ID.fullmatch(gateway):
        return ("invalid_gateway_id", f"gateway_id {_shown(gateway)} is not 1-64 characters of A-Z a-z 0-9 . _ : -; "
                "give the gateway such an id (interface standard, section 5.1)")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        return ("invalid_batch_id", f"batch_id {_shown(batch_id)} is not a UUID (36 characters, "
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); generate one per batch")
    return None


def fingerprint(value: int) -> int:
    """16 bits of BLAKE2b over the value's decimal text: equal values, equal fingerprints."""
    return int.from_bytes(blake2b(str(value).encode(), digest_size=2).digest(), "little")


class MonthIdentities:
    """The counted intervals of one meter in one month (decoded from, and encoded back to, the state)."""

    __slots__ = ("start", "step", "bits", "fps", "off", "changed")

    def __init__(self, start: int, step: int, bits: bytearray, fps: bytearray, off: dict[str, int]) -> None:
        self.start, self.step, self.bits, self.fps, self.off = start, step, bits, fps, off
        self.changed = False

    def slot(self, ts: int) -> int:
        """The slot of the interval ending at ``ts`` in this month, or -1 when ``ts`` is off the grid."""
        if (ts + CST_OFFSET_MS) % self.step:
            return -1
        return (ts - self.start - 1) // self.step

    def counted(self, ts: int, slot: int) -> int | None:
        """The fingerprint counted for the interval ending at ``ts`` (in ``slot``), or None."""
        if slot < 0:
            return self.off.get(str(ts))
        if slot >= len(self.bits) << 3 or not self.bits[slot >> 3] >> (slot & 7) & 1:
            return None
        return self.fps[2 * slot] | self.fps[2 * slot + 1] << 8

    def room_for(self, ts: int, slot: int) -> bool:
        return slot >= 0 or str(ts) in self.off or len(self.off) < MAX_OFF_GRID

    def put(self, ts: int, slot: int, fp: int) -> None:
        """Record ``fp`` as counted for the interval ending at ``ts`` (room_for must hold)."""
        self.changed = True
        if slot < 0:
            self.off[str(ts)] = fp
            return
        byte = slot >> 3
        if byte >= len(self.bits):  # grow a byte (8 slots) at a time: readings mostly arrive in time order
            self.bits.extend(bytes(byte + 1 - len(self.bits)))
            self.fps.extend(bytes(16 * (byte + 1) - len(self.fps)))
        self.bits[byte] |= 1 << (slot & 7)
        self.fps[2 * slot] = fp & 0xFF
        self.fps[2 * slot + 1] = fp >> 8

    def encoded(self) -> list:
        return [self.step, b64encode(self.bits).decode(), b64encode(self.fps).decode(), self.off]


class ReadingIdentities:
    """The identity records of one enterprise state, decoded lazily for one batch; ``save()`` writes back."""

    def __init__(self, state: dict, steps: dict[str, int] | None) -> None:
        self.store: dict[str, list] = state.setdefault("id", {})
        self.steps = steps or {}
        self.open: dict[tuple[str, str], MonthIdentities] = {}

    def month(self, meter: str, period: str) -> MonthIdentities:
        found = self.open.get((meter, period))
        if found is not None:
            return found
        key = f"{meter}|{period}"
        raw = self.store.get(key)
        if raw is None:
            step = self.steps.get(meter) or DEFAULT_STEP_MS
            found = MonthIdentities(month_start_ms(period), step, bytearray(), bytearray(), {})
        else:
            # The month keeps the step it started with: a re-registered interval cannot renumber its slots.
            found = MonthIdentities(month_start_ms(period), raw[0], bytearray(b64decode(raw[1])),
                                    bytearray(b64decode(raw[2])), raw[3])
        self.open[(meter, period)] = found
        return found

    def save(self) -> None:
        for (meter, period), month in self.open.items():
            if month.changed:
                self.store[f"{meter}|{period}"] = month.encoded()


def forget_closed(state: dict, closed_before: int, month_end_ms) -> None:
    """Drop the identities of months that ended before ``closed_before`` (closed: nothing reaches them)."""
    store = state.get("id")
    if not store:
        return
    for key in [k for k in store if month_end_ms(k.rsplit("|", 1)[1]) < closed_before]:
        del store[key]
