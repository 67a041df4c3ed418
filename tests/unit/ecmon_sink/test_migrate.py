"""`ecmon db migrate` re-runs an interrupted ADD COLUMN migration on ClickHouse 18.16 (no IF NOT EXISTS there)."""

from __future__ import annotations

from ecmon_sink import migrate


class Columns:
    def __init__(self, *present: tuple[str, str, str]) -> None:
        self.present, self.asked = set(present), []

    def execute(self, query, params=None):
        self.asked.append(params)
        return [(int((params["d"], params["t"], params["c"]) in self.present),)]


def test_a_column_already_added_is_not_added_again_and_other_statements_always_run():
    client = Columns(("ecmon", "aggregates_monthly", "co2_g"))
    assert migrate._column_exists(client, "ALTER TABLE ecmon.aggregates_monthly ADD COLUMN co2_g Int64 DEFAULT 0")
    assert not migrate._column_exists(client, "ALTER TABLE ecmon_370000.aggregates_monthly ADD COLUMN co2_g Int64")
    assert not migrate._column_exists(client, "CREATE TABLE IF NOT EXISTS ecmon.x (a Int8) ENGINE = Memory")
    assert len(client.asked) == 2


def test_the_co2_migration_adds_columns_only():
    (m,) = [m for m in migrate.migrations() if m.version == 14]
    statements = m.statements("ecmon")
    assert statements and all(migrate._ADD_COLUMN.match(s) for s in statements)
