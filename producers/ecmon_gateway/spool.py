"""The gateway's durable spool: every batch is on disk before Kafka sees it, until Kafka acknowledges it.

One SQLite database in WAL mode per gateway process (``<state>/gateways/<name>/spool.sqlite``),
with rows per gateway id. Why SQLite: a commit is atomic and durable (``synchronous=FULL``
fsyncs the write-ahead log), one transaction can store a group of batches together with the
gateway's sequence counter and source position, and it ships with Python.

The rules that make a crash harmless:

* a batch gets its ``batch_id`` and ``sequence`` *before* it is spooled, and the encoded bytes
  are stored, so a resend after a restart is byte-for-byte the same message (the platform
  drops it as ``duplicate_batch`` if the first copy had arrived);
* the sequence counter and the source position are committed in the same transaction as the
  batches, so a restarted gateway never hands out a sequence twice for different content;
* a row is deleted only after Kafka acknowledged it (acks=all); rows are resent oldest first;
* the spool has a size limit. When it is full the gateway waits (back-pressure) with a
  warning and a metric, and never drops a batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ecmon.metric_defs import GATEWAY_SPOOL_BATCHES, GATEWAY_SPOOL_BYTES

log = logging.getLogger(__name__)

DEFAULT_LIMIT_BYTES = 512 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- spool order = send order
    gateway_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    meta TEXT NOT NULL DEFAULT '',          -- what the sender needs on acknowledgement (JSON)
    UNIQUE (gateway_id, sequence)
);
CREATE TABLE IF NOT EXISTS gateways (
    gateway_id TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL,         -- the highest sequence ever handed out: never reused
    source TEXT NOT NULL DEFAULT '',        -- which source run the position belongs to
    sequence_base INTEGER NOT NULL DEFAULT 0, -- sequences of that source run start after this
    position INTEGER NOT NULL DEFAULT 0     -- how far that source run is spooled
);
"""


def spooled_sequences(path: Path) -> dict[str, int]:
    """The highest sequence each gateway ever spooled in the spool at ``path``, read without writing to it
    (another gateway process may hold it open); empty if there is no such spool."""
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT gateway_id, last_sequence FROM gateways").fetchall())
    except sqlite3.OperationalError:  # created, schema not yet written
        return {}
    finally:
        db.close()


@dataclass(frozen=True)
class SpooledBatch:
    gateway_id: str
    sequence: int
    batch_id: str
    topic: str
    key: bytes
    value: bytes
    meta: str = ""

    @property
    def meta_json(self) -> dict:
        return json.loads(self.meta) if self.meta else {}


@dataclass(frozen=True)
class SourcePosition:
    """Where a gateway stands in one source run (e.g. one simulated month with one seed)."""

    source: str
    sequence_base: int
    position: int


class SpoolFull(RuntimeError):
    """Raised only by ``Spool.put`` callers that asked not to wait."""


class Spool:
    def __init__(self, path: Path, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limit_bytes = limit_bytes
        # autocommit off by hand: we open transactions explicitly to group batches and acks
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut, not only a kill -9
        self._db.executescript(_SCHEMA)
        self._pending_acks: list[tuple[str, int]] = []
        count, size = self._db.execute("SELECT count(*), coalesce(sum(length(value)), 0) FROM batches").fetchone()
        self.depth, self.size_bytes = int(count), int(size)
        self._report()

    def close(self) -> None:
        self.commit_acks()
        self._db.close()

    # -- sequence counter and source position ------------------------------------------------------

    def position(self, gateway_id: str, source: str) -> SourcePosition:
        """The gateway's position in ``source``; a new source starts after every sequence used so far."""
        row = self._db.execute(
            "SELECT last_sequence, source, sequence_base, position FROM gateways WHERE gateway_id = ?", (gateway_id,)
        ).fetchone()
        if row is None:
            return SourcePosition(source, 0, 0)
        last, known_source, base, pos = row
        if known_source == source:
            return SourcePosition(source, base, pos)
        return SourcePosition(source, last, 0)

    def last_sequence(self, gateway_id: str) -> int:
        row = self._db.execute("SELECT last_sequence FROM gateways WHERE gateway_id = ?", (gateway_id,)).fetchone()
        return row[0] if row else 0

    # -- batches -------------------------------------------------------------------------------------

    def has_room(self, incoming_bytes: int) -> bool:
        # An empty spool always takes a batch, or one batch larger than the limit would block forever.
        return self.depth == 0 or self.size_bytes + incoming_bytes <= self.limit_bytes

    def put(self, batches: list[SpooledBatch], positions: dict[str, SourcePosition] | None = None) -> None:
        """Store batches (and advance the gateways' positions) in one durable transaction."""
        if not batches:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO batches (gateway_id, sequence, batch_id, topic, key, value, meta) VALUES (?,?,?,?,?,?,?)",
                [(b.gateway_id, b.sequence, b.batch_id, b.topic, b.key, b.value, b.meta) for b in batches],
            )
            highest: dict[str, int] = {}
            for b in batches:
                highest[b.gateway_id] = max(highest.get(b.gateway_id, 0), b.sequence)
            for gw, seq in highest.items():
                pos = (positions or {}).get(gw)
                db.execute(
                    "INSERT INTO gateways (gateway_id, last_sequence, source, sequence_base, position) "
                    "VALUES (?,?,?,?,?) ON CONFLICT (gateway_id) DO UPDATE SET "
                    "last_sequence = max(last_sequence, excluded.last_sequence), source = excluded.source, "
                    "sequence_base = excluded.sequence_base, position = excluded.position",
                    (gw, seq, pos.source if pos else "", pos.sequence_base if pos else 0, pos.position if pos else 0),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.depth += len(batches)
        self.size_bytes += sum(len(b.value) for b in batches)
        self._report()

    def ack(self, gateway_id: str, sequence: int, size: int) -> None:
        """Kafka acknowledged this batch; it is deleted with the next ``commit_acks``."""
        self._pending_acks.append((gateway_id, sequence))
        self.depth -= 1
        self.size_bytes -= size

    @property
    def pending_acks(self) -> int:
        """Acknowledged batches not yet deleted (``commit_acks`` deletes them)."""
        return len(self._pending_acks)

    def commit_acks(self) -> int:
        """Delete acknowledged batches in one transaction. A crash before this only causes resends."""
        acks, self._pending_acks = self._pending_acks, []
        if acks:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM batches WHERE gateway_id = ? AND sequence = ?", acks)
            self._db.execute("COMMIT")
            self._report()
        return len(acks)

    def unacknowledged(self) -> Iterator[SpooledBatch]:
        """Every batch not yet acknowledged, in the order it was spooled."""
        # In pages, so acknowledgements may delete rows while a long backlog is being resent.
        last_id = 0
        while True:
            rows = self._db.execute(
                "SELECT id, gateway_id, sequence, batch_id, topic, key, value, meta FROM batches "
                "WHERE id > ? ORDER BY id LIMIT 500", (last_id,)).fetchall()
            if not rows:
                return
            for row in rows:
                yield SpooledBatch(*row[1:])
            last_id = rows[-1][0]

    def _report(self) -> None:
        GATEWAY_SPOOL_BATCHES.set(self.depth)
        GATEWAY_SPOOL_BYTES.set(self.size_bytes)
