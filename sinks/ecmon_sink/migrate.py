"""`ecmon db migrate | status`: numbered SQL files applied in order, recorded in a table.

A migration is ``sinks/ecmon_sink/migrations/NNNN_name.sql``; statements are separated by ``;`` at the end of
a line. ``{db}`` stands for the national database; a statement naming ``{province_db}`` runs once per
province database and one naming ``{each_db}`` runs for the national and every province database
(``sinks/ecmon_sink/databases.py``). Applied files are recorded with a checksum,
so editing a released file is caught instead of silently diverging between servers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_driver import Client

from ecmon.settings import Settings
from ecmon_sink import reference
from ecmon_sink.clickhouse import connect, ping
from ecmon_sink.databases import province_codes, province_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationEdited(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self, database: str) -> list[str]:
        text = "\n".join(line for line in self.path.read_text().splitlines() if not line.strip().startswith("--"))
        provinces = [province_database(database, code) for code in province_codes()]
        out: list[str] = []
        for s in text.split(";\n"):
            s = s.strip().rstrip(";").strip()
            if not s:
                continue
            if "{province_db}" in s:
                out.extend(s.replace("{province_db}", p) for p in provinces)
            elif "{each_db}" in s:
                out.extend(s.replace("{each_db}", d) for d in [database, *provinces])
            else:
                out.append(s.replace("{db}", database))
        return out


def migrations() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version, name = path.stem.split("_", 1)
        found.append(Migration(int(version), name, path))
    return found


def _ensure_ledger(client: Client, database: str) -> None:
    client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()) "
        "ENGINE = MergeTree ORDER BY version"
    )


def applied(client: Client, database: str) -> dict[int, tuple[str, str]]:
    _ensure_ledger(client, database)
    rows = client.execute(f"SELECT version, name, checksum FROM {database}.schema_migrations")
    return {v: (n, c) for v, n, c in rows}


_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\.(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)


def _column_exists(client: Client, statement: str) -> bool:
    """Whether ``statement`` adds a column that is already there. ClickHouse 18.16 knows no ADD COLUMN IF NOT
    EXISTS; checking first lets a migration that stopped half-way (a column added, the record not written)
    run again."""
    found = _ADD_COLUMN.match(statement)
    if found is None:
        return False
    database, table, column = found.groups()
    rows = client.execute("SELECT count() FROM system.columns WHERE database = %(d)s AND table = %(t)s "
                          "AND name = %(c)s", {"d": database, "t": table, "c": column})
    return bool(rows[0][0])


def migrate(settings: Settings) -> list[Migration]:
    """Apply every migration not applied yet; returns those applied now."""
    client = connect(settings)
    ping(client, settings)
    database = settings.clickhouse_database
    done = applied(client, database)
    newly = []
    for m in migrations():
        if m.version in done:
            if done[m.version][1] != m.checksum:
                raise MigrationEdited(
                    f"migration {m.path.name} was edited after it was applied; released migrations are "
                    "never edited: revert the edit and add a new numbered migration"
                )
            continue
        for statement in m.statements(database):
            if not _column_exists(client, statement):
                client.execute(statement)
        client.execute(
            f"INSERT INTO {database}.schema_migrations (version, name, checksum) VALUES",
            [(m.version, m.name, m.checksum)],
        )
        newly.append(m)
    # Names, the data dictionary and column comments follow the kernel's code lists on every run (a no-op
    # when nothing changed), so a new code needs no migration.
    reference.refresh(client, database)
    return newly


def status(settings: Settings) -> list[tuple[Migration, bool]]:
    client = connect(settings)
    ping(client, settings)
    done = applied(client, settings.clickhouse_database)
    return [(m, m.version in done) for m in migrations()]
