"""Emission on a cadence: state changes and the totals they move leave the worker per key, at most every
``ECMON_EMIT_INTERVAL_MS``, not once per input batch.

Per input batch the worker used to write its enterprise's whole state to the changelog and send its
totals twice (aggregates, enterprise totals). An enterprise sends a batch per meter group and interval,
so most of those records were overwritten within the second. Now the agents change the table in memory
and mark the key; ``flush()`` hands the newest value of every marked key to the producer. It runs on a
timer and, through streams/ecmon_worker/commit_order.py, before every offset commit, so a committed
offset never runs ahead of what its events caused. What a SIGKILL can lose is what was not committed:
those events are processed again.

Exactness rests on three rules:

* An enterprise's records are written owner last: its reading identities (``"<uscc>|<meter>|<day>"``)
  before its state (``"<uscc>"``), in the same changelog partition. A crash can keep identities whose
  state was lost, never the reverse; the identities' undo records reach back to the state last written
  (``Saved``), so reading them against the recovered state rolls them back (reading_identity.py).
* Months are forgotten only as the *written* state closes them, so events processed again after a
  crash find every identity they could reach.
* Reading identities stay decoded in memory while batches change them and are encoded once per flush; after
  it they are held compressed (reading_identity.held) until a batch needs them again.
* After table recovery the worker re-emits the totals of every enterprise it holds (``reemit_all``): a
  send lost with a crashed worker goes out again even if its input's offset was committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Pending:
    partition: int
    #: the owner's other keys changed since the last flush, in order; True = deleted
    keys: dict[str, bool] = field(default_factory=dict)
    owner_changed: bool = False


class DeferredChangelog:
    """A Faust table written now in memory and later, per owner key, to its changelog.

    Values of one owner (``"<owner>"`` and ``"<owner>|..."``) go to the changelog partition of the event
    that changed them, the owner's own value last. Faust's ``table[key] = value`` would write the
    changelog at once, to the partition of the *current* event, which in a micro-batch is not the key's."""

    def __init__(self, table: Any, encode: Callable[[Any], Any] | None = None,
                 hold: Callable[[Any, Any], Any] | None = None) -> None:
        self.table = table
        #: what the changelog holds of a value kept in memory in another form (None: the value itself)
        self.encode = encode
        #: what to keep in memory of an owner's other value once it was handed over, given the value and what
        #: the changelog got (None: the value itself); the reading identities are kept compressed
        self.hold = hold
        self.pending: dict[str, _Pending] = {}
        #: partitions this worker may write; a mark of any other is dropped (its events are processed
        #: again by the partition's new owner, from the changelog this worker flushed when it lost it)
        self.owned: set[int] | None = None

    @property
    def data(self) -> Any:
        return self.table.data

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def _entry(self, owner: str, partition: int) -> _Pending:
        entry = self.pending.get(owner)
        if entry is None:
            entry = self.pending[owner] = _Pending(partition)
        return entry

    def _track(self, key: str, partition: int) -> None:
        # Faust's memory store drops the keys of partitions it lost after a recovery, by this map.
        track = getattr(self.table.data, "_key_partition", None)
        if track is not None:
            track[key] = partition

    def put(self, owner: str, partition: int, value: Any) -> None:
        self.table.data[owner] = value
        self._track(owner, partition)
        self._entry(owner, partition).owner_changed = True

    def put_part(self, owner: str, partition: int, key: str, value: Any) -> None:
        self.table.data[key] = value
        self._track(key, partition)
        self._entry(owner, partition).keys[key] = False

    def delete_part(self, owner: str, partition: int, key: str) -> None:
        self.table.data.pop(key, None)
        self._entry(owner, partition).keys[key] = True

    def flush(self, written: Callable[[str, Any], None] | None = None) -> int:
        """Hand every pending record to the producer (no await: nothing runs in between); the count.
        ``written(owner, value)`` is called for every owner value handed over."""
        sent = 0
        pending, self.pending = self.pending, {}
        for owner, entry in pending.items():
            if self.owned is not None and entry.partition not in self.owned:
                continue
            for key, deleted in entry.keys.items():
                value = None if deleted else self.table.data.get(key)
                handed = self._send(entry.partition, key, value)
                if value is not None and self.hold is not None:
                    self.table.data[key] = self.hold(value, handed)
                sent += 1
            if entry.owner_changed:
                value = self.table.data.get(owner)
                self._send(entry.partition, owner, value)
                sent += 1
                if written is not None:
                    written(owner, value)
        return sent

    def _send(self, partition: int, key: str, value: Any) -> Any:
        """Hand ``value`` to the changelog; what it was given."""
        if value is None:  # a tombstone: no value at all, not JSON null
            self.table.send_changelog(partition, key, None, value_serializer="raw")
            return None
        written = value if self.encode is None else self.encode(value)
        self.table.send_changelog(partition, key, written)
        return written


@dataclass(frozen=True)
class Saved:
    """What the changelog holds of an enterprise's state: its version and watermark as last written."""

    version: int
    watermark: int


class PendingTotals:
    """Which totals of which enterprise must still be sent: keys ``"energy|unit|period"`` per USCC, with the
    partition the enterprise's events come from (only a partition the worker owns may send)."""

    def __init__(self) -> None:
        self.touched: dict[str, tuple[int, set[str]]] = {}

    def mark(self, uscc: str, partition: int, keys: Iterable[str]) -> None:
        entry = self.touched.get(uscc)
        if entry is None:
            entry = self.touched[uscc] = (partition, set())
        entry[1].update(keys)

    def take(self, owned: set[int] | None = None) -> dict[str, tuple[int, set[str]]]:
        taken, self.touched = self.touched, {}
        if owned is None:
            return taken
        return {uscc: entry for uscc, entry in taken.items() if entry[0] in owned}

    def reemit_all(self, held: Iterable[tuple[str, Iterable[str]]], partition_of: Callable[[str], int | None]) -> int:
        """Mark the given keys of every enterprise in ``held`` (USCC, keys) whose partition is known; the count
        marked."""
        n = 0
        for uscc, keys in held:
            partition = partition_of(uscc)
            if partition is not None:
                self.mark(uscc, partition, keys)
                n += 1
        return n


class Cadence:
    """Runs ``flush`` when it is due: at most every ``interval_s`` from the agents, and whenever asked."""

    def __init__(self, flush: Callable[[], object], interval_s: float, clock: Callable[[], float]) -> None:
        self._flush, self.interval_s, self.clock = flush, interval_s, clock
        self.last = clock()

    def due(self) -> bool:
        return self.clock() - self.last >= self.interval_s

    def flush(self) -> None:
        self.last = self.clock()
        self._flush()

    def flush_if_due(self) -> None:
        if self.due():
            self.flush()
