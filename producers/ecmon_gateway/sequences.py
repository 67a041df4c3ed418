"""The gateway's sequence counter: one per gateway id, shared by every way the gateway sends.

The interface standard (section 9) says a gateway's ``sequence`` is never reused and never reset: the
platform counts a batch once by (gateway_id, sequence), so a reused number turns new readings into
``duplicate_batch`` while Kafka acknowledges them as if all were well. The spool keeps its own counter for
the batches it holds, but a gateway that also sends directly (the demo), or through another spool, must
continue from the same number; this file is that number, per state directory
(``<state>/gateways/sequences.sqlite``).

A sequence is recorded here *before* the batch that carries it is handed to Kafka (write-ahead): a crash
in between leaves at most an unused number, an open sequence range the platform tolerates (section 9),
never a number used twice. WAL with ``synchronous=NORMAL`` survives a killed process at the cost of one
small write per batch; only a power cut can lose the last numbers, which the platform then reports as
``duplicate_batch`` and the gateway warns about (ecmon_cli.gateway).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sequences (
    gateway_id TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL    -- the highest sequence ever handed out: the next batch gets more
);
"""


class SequenceCounter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def last(self, gateway_id: str) -> int:
        """The highest sequence the gateway ever handed out (0: none yet)."""
        row = self._db.execute("SELECT last_sequence FROM sequences WHERE gateway_id = ?", (gateway_id,)).fetchone()
        return int(row[0]) if row else 0

    def advance(self, highest: dict[str, int]) -> None:
        """Record that these gateways handed out sequences up to ``highest`` (never moves a counter back)."""
        if not highest:
            return
        self._db.executemany(
            "INSERT INTO sequences (gateway_id, last_sequence) VALUES (?, ?) ON CONFLICT (gateway_id) "
            "DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence)",
            sorted(highest.items()),
        )

    def close(self) -> None:
        self._db.close()


def sequences_path(state_dir: Path) -> Path:
    return state_dir / "gateways" / "sequences.sqlite"
