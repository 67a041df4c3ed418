"""The registry follower's history of every enterprise's records, by ``valid_from``.

The checks a record must pass first are pure functions shared with the sink (ecmon/registry_records.py,
re-exported here).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any, TypeVar

from ecmon.months import month_start_ms, next_period
from ecmon.registry_records import (  # noqa: F401 - re-exported for the follower and the tests
    INVALID,
    MAX_INTERVAL_S,
    MAX_METER_ID,
    MAX_METERS,
    MAX_NAME,
    MAX_PUBLIC_KEYS,
    UNSIGNED,
    read_registry_record,
    record_problem,
)

# ------------------------------------------------------------------------------ values shared between records

_V = TypeVar("_V", bound=Hashable)


class RegisteredMeter(Mapping[str, Any]):
    """A meter of a registry record, read as the decoded record's mapping (``m["interval_s"]``) but held in a
    quarter of the memory: a dict of four fields costs 200 bytes, these slots 64, a million times over."""

    __slots__ = ("meter_id", "energy_type", "unit", "interval_s")
    _FIELDS = __slots__

    def __init__(self, meter_id: str, energy_type: str, unit: str, interval_s: int) -> None:
        self.meter_id, self.energy_type, self.unit, self.interval_s = meter_id, energy_type, unit, interval_s

    def __getitem__(self, field: str) -> Any:
        if field not in self._FIELDS:
            raise KeyError(field)
        return getattr(self, field)

    def __iter__(self) -> Iterator[str]:
        return iter(self._FIELDS)

    def __len__(self) -> int:
        return len(self._FIELDS)

    def __repr__(self) -> str:
        return repr(dict(self))


class SharedValues:
    """Registry records as the follower holds them: compact, with one object for each distinct value they repeat.

    A national registry holds a million meters; decoded, each is a dict with its own copy of a handful of
    energy types, units and intervals (and the follower keeps a pair of the first two per meter): about 350 of
    the 1,400 bytes a meter cost the worker. The values pass ``record_problem`` first, so there are only as
    many as the registry's vocabulary."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}

    def one(self, value: _V) -> _V:
        shared: _V = self._values.setdefault(value, value)
        return shared

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with its meters as RegisteredMeter and their repeated values shared (changed in place)."""
        one = self.one
        record["meters"] = [RegisteredMeter(m["meter_id"], one(m["energy_type"]), one(m["unit"]),
                                            one(m["interval_s"])) for m in record["meters"]]
        for field in ("region_code", "industry_code", "tier"):
            if isinstance(record.get(field), str):
                record[field] = one(record[field])
        return record

    def meters(self, record: dict[str, Any]) -> dict[str, tuple[str, str]]:
        """meter_id -> (energy type, unit), the pairs shared."""
        one = self.one
        return {m["meter_id"]: one((m["energy_type"], m["unit"])) for m in record["meters"]}


# ------------------------------------------------------------------------------ history by valid_from

DAY_MS = 86_400_000
MAX_HISTORY = 64
"""Records kept per enterprise: besides the horizon, at most this many (the newest)."""


class RegistryHistory:
    """Every enterprise's registry records ordered by the time each came into force.

    An entry ``(start, record)`` is in force from ``start`` until the next entry's start; ``record`` None
    is a removal (a tombstone). A record's start is its ``valid_from``, except that it cannot reach back
    into a removal: published after a tombstone, it starts no earlier than it was published. A record with the
    start of an existing entry replaces it (a correction of that registration, e.g. a key rotation).

    Bounded: entries whose successor started more than ``horizon_ms`` before the newest time seen (the
    readings' horizon: no reading is accepted that far back) are dropped, and at most ``max_records``.
    Readers in other threads see a consistent list per enterprise: lists are replaced, never changed.
    """

    def __init__(self, horizon_ms: int = 400 * DAY_MS, max_records: int = MAX_HISTORY) -> None:
        self.horizon_ms = horizon_ms
        self.max_records = max_records
        self.entries: dict[str, list[tuple[int, dict[str, Any] | None]]] = {}
        #: the newest issued_at accepted per USCC; kept across removals and the horizon (one int per
        #: enterprise ever registered), or an old signed record could come back once its successor aged out
        self.issued: dict[str, int] = {}
        self._newest_ms = 0

    def stale_problem(self, record: dict[str, Any]) -> str | None:
        """Why ``record`` is a replay (its issued_at not later than the newest accepted for its USCC), or None.
        A revocation keeps the key's valid_from, so without this an older signed record with the same
        valid_from would replace it and bring the revoked key back."""
        newest = self.issued.get(record["uscc"])
        issued = record.get("issued_at") or 0
        if newest is not None and issued <= newest:
            return (f"issued_at {issued} is not later than {newest}, the newest record accepted for "
                    f"{record['uscc']}: an older record replayed (or re-sent) changes nothing; the registry "
                    "authority signs every new record with a new issued_at")
        return None

    def current(self, uscc: str) -> dict[str, Any] | None:
        """The newest record (greatest start), None when the enterprise is unknown or removed."""
        entries = self.entries.get(uscc)
        return entries[-1][1] if entries else None

    def record_at(self, uscc: str, ts_ms: int) -> dict[str, Any] | None:
        """The record in force at ``ts_ms``: None before the first registration and after a removal."""
        found = None
        for start, record in self.entries.get(uscc, ()):
            if start > ts_ms:
                break
            found = record
        return found

    def spans(self, uscc: str, start_ms: int, end_ms: int) -> list[tuple[int, int, dict[str, Any]]]:
        """(from, to, record) for every record in force during [start_ms, end_ms), clipped to it."""
        entries = self.entries.get(uscc, ())
        out = []
        for i, (start, record) in enumerate(entries):
            until = entries[i + 1][0] if i + 1 < len(entries) else end_ms
            lo, hi = max(start, start_ms), min(until, end_ms)
            if record is not None and hi > lo:
                out.append((lo, hi, record))
        return out

    def add(self, record: dict[str, Any], published_ms: int = 0) -> None:
        """Add a record published (Kafka record time) at ``published_ms``."""
        uscc = record["uscc"]
        self.issued[uscc] = max(self.issued.get(uscc, 0), record.get("issued_at") or 0)
        entries = list(self.entries.get(uscc, ()))
        removed = max((s for s, r in entries if r is None), default=None)
        # after a removal, a registration starts no earlier than it was published: the removal stands
        start = record["valid_from"] if removed is None else max(record["valid_from"], removed, published_ms)
        entries = [e for e in entries if e[0] != start]
        entries.append((start, record))
        entries.sort(key=lambda e: e[0])
        self._store(uscc, entries, start)

    def remove(self, uscc: str, at_ms: int) -> dict[str, Any] | None:
        """The enterprise leaves the coverage list from ``at_ms`` on (records that were to start later never
        do); months before stay as they were. Returns the record that was current, if any."""
        entries = self.entries.get(uscc)
        if not entries:
            return None
        before = entries[-1][1]
        kept = [e for e in entries if e[0] < at_ms]
        if kept and kept[-1][1] is None:  # already removed
            self._store(uscc, kept, at_ms)
        else:
            self._store(uscc, [*kept, (at_ms, None)], at_ms)
        return before

    def _store(self, uscc: str, entries: list[tuple[int, dict[str, Any] | None]], at_ms: int) -> None:
        self._newest_ms = max(self._newest_ms, at_ms)
        floor = self._newest_ms - self.horizon_ms
        first = 0
        while first + 1 < len(entries) and entries[first + 1][0] <= floor:
            first += 1
        entries = entries[first:][-self.max_records:]
        if entries and all(r is None for _, r in entries) and entries[-1][0] <= floor:
            self.entries.pop(uscc, None)
        else:
            self.entries[uscc] = entries

    def expected_for(self, uscc: str, period: str, province: str | None = None, until_ms: int | None = None) -> int:
        """Intervals the enterprise's meters should deliver in the month ('YYYY-MM', CST): for each record in
        force during the month, its meters' intervals over the part of the month it was in force (only
        records located in ``province``, when given). With ``until_ms`` only the intervals that end by then:
        the month to date, in event time."""
        start, end = month_start_ms(period), month_start_ms(next_period(period))
        if until_ms is not None:
            end = max(start, min(end, until_ms))
        return sum((hi - lo) // (m["interval_s"] * 1000)
                   for lo, hi, record in self.spans(uscc, start, end)
                   if province is None or record["region_code"][:2] == province[:2]
                   for m in record["meters"] if m["interval_s"] > 0)

    def in_province(self, province: str, period: str) -> list[dict[str, Any]]:
        """The province's coverage list of the month: each enterprise with a record located in the province in
        force during the month, as its last such record."""
        start, end = month_start_ms(period), month_start_ms(next_period(period))
        out = []
        for uscc in list(self.entries):
            located = [r for _, _, r in self.spans(uscc, start, end) if r["region_code"][:2] == province[:2]]
            if located:
                out.append(located[-1])
        return out

    def in_month(self, period: str) -> list[dict[str, Any]]:
        """Every enterprise's last record in force during the month, wherever located."""
        start, end = month_start_ms(period), month_start_ms(next_period(period))
        out = []
        for uscc in list(self.entries):
            spans = self.spans(uscc, start, end)
            if spans:
                out.append(spans[-1][2])
        return out
