"""Migrations (fresh and repeated) and per-role access on the real ClickHouse 18.16 server.

Own stack: ClickHouse only, on port 24000, state under tmp_path (the demo and `make test` stacks are untouched).
Users and local test passwords come from deploy/clickhouse/users.xml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest
from clickhouse_driver.errors import ServerException

from deploy.stack import stack
from ecmon.settings import Settings
from sinks import analyst, migrate
from sinks.clickhouse import connect
from sinks.databases import province_codes

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=24092, clickhouse_port=24000, clickhouse_http_port=24123, prometheus_port=24090,
             alertmanager_port=24190, metrics_port_base=24200)
USERS = {
    "sink": ("ecmon_sink", "ecmon-sink-local"),
    "national": ("analyst_national", "analyst-national-local"),
    "370000": ("analyst_370000", "analyst-370000-local"),
    "210000": ("analyst_210000", "analyst-210000-local"),
}
AGG_COLUMNS = "(level, entity, province, industry_code, energy_type, period, unit, physical_milli, coal_mgce, readings, version)"
ACCESS_DENIED, READONLY, DDL_PROHIBITED = 291, 164, 392


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("access"), **PORTS)
    stack.up(settings, only=["clickhouse"])
    try:
        yield settings
    finally:
        stack.down(settings, only=["clickhouse"])


def as_user(settings, role):
    user, password = USERS[role]
    return connect(settings, user=user, password=password, writer=role == "sink")


def denied(client, query, code, params=None):
    with pytest.raises(ServerException) as info:
        client.execute(query, params) if params is None else client.execute(query, params)
    assert info.value.code == code, str(info.value)[:300]


def test_migrations_fresh_then_repeated(ch):
    applied = migrate.migrate(ch)
    assert [m.version for m in applied] == [m.version for m in migrate.migrations()]
    assert migrate.migrate(ch) == []  # repeated: nothing to do, nothing fails
    assert all(done for _m, done in migrate.status(ch))
    admin = connect(ch)
    databases = {r[0] for r in admin.execute("SHOW DATABASES")}
    assert {"ecmon", *(f"ecmon_{c}" for c in province_codes())} <= databases
    assert len(province_codes()) == 31


@pytest.fixture(scope="module")
def data(ch):
    migrate.migrate(ch)
    sink = as_user(ch, "sink")
    for db, province in (("ecmon", "370000"), ("ecmon", "210000"), ("ecmon_370000", "370000"),
                         ("ecmon_210000", "210000")):
        sink.execute(
            f"INSERT INTO {db}.aggregates_monthly {AGG_COLUMNS} VALUES",
            [("PROVINCE", province, province, "*", "electricity", date(2026, 10, 1), "kWh", 1000,
              int(province) * 10_000, 96, 1),
             ("PROVINCE", province, province, "3110", "electricity", date(2026, 10, 1), "kWh", 1000,
              int(province) * 10_000, 96, 1),
             ("ENTERPRISE", f"91{province[:2]}0100MA00000{province[:2]}X", province, "3110", "electricity",
              date(2026, 10, 1), "kWh", 1000, int(province) * 10_000, 96, 1)],
        )
    return ch


def test_a_provincial_analyst_reads_only_its_own_province(data):
    analyst_370 = as_user(data, "370000")
    rows = analyst_370.execute("SELECT DISTINCT province FROM ecmon_370000.aggregates_monthly")
    assert rows == [("370000",)]
    denied(analyst_370, "SELECT count() FROM ecmon_210000.aggregates_monthly", ACCESS_DENIED)
    denied(analyst_370, "SELECT count() FROM ecmon.aggregates_monthly", ACCESS_DENIED)
    denied(analyst_370, "SELECT count() FROM ecmon.dead_letters", ACCESS_DENIED)
    # no way around it through table functions either
    denied(analyst_370, "SELECT count() FROM remote('127.0.0.1:24000', ecmon_210000.aggregates_monthly)", READONLY)
    denied(analyst_370, "SELECT count() FROM merge('ecmon_210000', '.*')", READONLY)
    databases = {r[0] for r in analyst_370.execute("SELECT DISTINCT database FROM system.tables")}
    assert "ecmon_210000" not in databases and "ecmon" not in databases


def test_a_provincial_analyst_cannot_write_anything(data):
    analyst_370 = as_user(data, "370000")
    denied(analyst_370, f"INSERT INTO ecmon_370000.aggregates_monthly {AGG_COLUMNS} VALUES", READONLY,
           [("PROVINCE", "370000", "370000", "*", "coal", date(2026, 10, 1), "t", 1, 1, 1, 99)])
    denied(analyst_370, "CREATE TABLE ecmon_370000.mine (a UInt8) ENGINE = Memory", READONLY)
    denied(analyst_370, "DROP TABLE ecmon_370000.aggregates_monthly", READONLY)
    denied(analyst_370, "ALTER TABLE ecmon_370000.aggregates_monthly DELETE WHERE 1", READONLY)
    denied(analyst_370, "SET readonly = 0", READONLY)


def test_the_national_analyst_reads_every_database_and_writes_none(data):
    national = as_user(data, "national")
    assert national.execute("SELECT count() FROM ecmon.aggregates_monthly")[0][0] == 6
    for code in ("370000", "210000"):
        assert national.execute(f"SELECT count() FROM ecmon_{code}.aggregates_monthly")[0][0] == 3
    denied(national, f"INSERT INTO ecmon.aggregates_monthly {AGG_COLUMNS} VALUES", READONLY,
           [("PROVINCE", "370000", "370000", "*", "coal", date(2026, 10, 1), "t", 1, 1, 1, 99)])


def test_the_sink_writes_but_changes_no_schema_and_sees_nothing_else(data):
    sink = as_user(data, "sink")
    denied(sink, "CREATE TABLE ecmon.mine (a UInt8) ENGINE = Memory", DDL_PROHIBITED)
    denied(sink, "DROP TABLE ecmon_370000.aggregates_monthly", DDL_PROHIBITED)
    denied(sink, "SELECT count() FROM default.nothing", ACCESS_DENIED)


@pytest.mark.parametrize("name", sorted(analyst.QUERIES))
def test_every_report_runs_for_the_provincial_analyst_on_its_database(data, name):
    """`ecmon report NAME --province 370000` as analyst_370000 prints what the SQL answers."""
    expected = analyst.run(as_user(data, "370000"), "ecmon_370000", name, "2026-10")
    env = {**os.environ, **{f"ECMON_{k.upper()}": str(v) for k, v in PORTS.items()},
           "ECMON_STATE_DIR": str(data.state_dir), "ECMON_CLICKHOUSE_USER": USERS["370000"][0],
           "ECMON_CLICKHOUSE_PASSWORD": USERS["370000"][1]}
    out = subprocess.run([sys.executable, "-m", "ecmon.cli", "report", name, "--province", "370000", "--month",
                          "2026-10", "--format", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout)["rows"]
    assert got == json.loads(expected.json())["rows"]
    if name in ("monthly", "trend", "ranking"):
        assert got and {r["coal_mgce"] for r in got} == {370000 * 10_000}
    denied_run = subprocess.run([sys.executable, "-m", "ecmon.cli", "report", name, "--province", "210000",
                                 "--format", "csv"], env=env, capture_output=True, text=True, timeout=60)
    assert denied_run.returncode != 0 and "Access denied" in denied_run.stdout + denied_run.stderr


def test_every_query_of_the_analyst_guide_runs_for_the_national_analyst(data):
    from ecmon import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "analyst-guide.md").read_text()
    queries = [block.split("```", 1)[0] for block in text.split("```sql\n")[1:]]
    national = as_user(data, "national")
    for query in queries:
        national.execute(query)
