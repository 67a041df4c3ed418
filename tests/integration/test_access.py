"""Migrations (fresh and repeated) and per-role access on the real ClickHouse 18.16 server.

Own stack: ClickHouse, Prometheus and Alertmanager on ports 24xxx, state under tmp_path (the demo and `make test`
stacks are untouched). Users come from deploy/clickhouse/users.xml, their passwords from the secrets file that
`ecmon stack up` generated (docs/security.md, "ClickHouse" and "Prometheus and Alertmanager").
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from datetime import date

import httpx
import pytest
from clickhouse_driver.errors import ServerException

from ecmon.settings import Settings
from ecmon.web_auth import web_auth
from ecmon_ops.stack import credentials, stack
from ecmon_reports import analyst
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect
from ecmon_sink.databases import province_codes

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=24092, clickhouse_port=24000, clickhouse_http_port=24123, prometheus_port=24090,
             alertmanager_port=24190, metrics_port_base=24200)
USERS = {"sink": "ecmon_sink", "national": "analyst_national", "370000": "analyst_370000", "210000": "analyst_210000"}
OPS = ["clickhouse", "alertmanager", "prometheus"]
AGG_COLUMNS = ("(level, entity, province, industry_code, energy_type, period, unit, physical_milli, coal_mgce, "
               "readings, version)")
ACCESS_DENIED, READONLY, DDL_PROHIBITED = 291, 164, 392


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("access"), **PORTS)
    stack.up(settings, only=OPS)
    try:
        yield settings
    finally:
        stack.down(settings, only=OPS)


def as_user(settings, role):
    """A connection as ``role``'s user, with the password `ecmon stack up` generated for it."""
    return connect(settings, user=USERS[role], writer=role == "sink")


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
           "ECMON_STATE_DIR": str(data.state_dir), "ECMON_CLICKHOUSE_USER": USERS["370000"],
           "ECMON_CLICKHOUSE_PASSWORD": ""}  # the analyst's password: the stack's secrets file
    out = subprocess.run([sys.executable, "-m", "ecmon_cli.main", "report", name, "--province", "370000", "--month",
                          "2026-10", "--format", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout)["rows"]
    assert got == json.loads(expected.json())["rows"]
    if name in ("monthly", "trend", "ranking"):
        assert got and {r["coal_mgce"] for r in got} == {370000 * 10_000}
    denied_run = subprocess.run([sys.executable, "-m", "ecmon_cli.main", "report", name, "--province", "210000",
                                 "--format", "csv"], env=env, capture_output=True, text=True, timeout=60)
    assert denied_run.returncode != 0 and "Access denied" in denied_run.stdout + denied_run.stderr


def test_every_query_of_the_analyst_guide_runs_for_the_national_analyst(data):
    from ecmon import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "analyst-guide.md").read_text()
    queries = [block.split("```", 1)[0] for block in text.split("```sql\n")[1:]]
    national = as_user(data, "national")
    for query in queries:
        national.execute(query)


# --- no password in the repository, no admin without one, nothing reachable through the server ---

REQUIRED_PASSWORD, WRONG_PASSWORD, UNKNOWN_TABLE, QUOTA_EXCEEDED, NOT_INSIDE_USER_FILES = 194, 193, 60, 201, 291


def test_default_cannot_connect_without_a_password_nor_through_a_browser(ch):
    with pytest.raises(ServerException) as info:
        connect(ch, user="default", password="").execute("SELECT 1")
    assert info.value.code == REQUIRED_PASSWORD, str(info.value)[:300]
    # what a page in the host's browser could make it send: a POST to the HTTP port without credentials
    http = f"http://{ch.host}:{ch.clickhouse_http_port}/"
    resp = httpx.post(http, content="CREATE DATABASE pwned", timeout=5)
    assert resp.status_code != 200 and "Password required for user default" in resp.text
    assert "pwned" not in {r[0] for r in connect(ch).execute("SHOW DATABASES")}
    # with its generated password `default` is still nobody: readonly, confined to the empty `default` database
    default = connect(ch, user="default", writer=False)
    denied(default, "CREATE DATABASE pwned", READONLY)
    denied(default, "SELECT count() FROM ecmon.aggregates_monthly", ACCESS_DENIED)


def test_every_clickhouse_password_is_generated_and_readable_by_its_owner_only(ch):
    entries = json.loads(ch.clickhouse_secrets_path.read_text())
    assert set(entries) == set(credentials.clickhouse_users()) >= {"default", "ecmon_admin", "ecmon_sink"}
    assert stat.S_IMODE(ch.clickhouse_secrets_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ch.clickhouse_secrets_path.parent.stat().st_mode) == 0o700
    users_d = ch.state_dir / "clickhouse" / "users.d" / credentials.USERS_D_NAME
    assert stat.S_IMODE(users_d.stat().st_mode) == 0o600
    repo = credentials.USERS_XML.read_text()
    assert "<password" not in repo  # neither plain nor hashed: users.d, generated, holds them
    for entry in entries.values():
        assert len(entry["password"]) >= 24 and entry["password"] not in repo
    # the local passwords that used to be in the repository open nothing
    for user, old in (("ecmon_sink", "ecmon-sink-local"), ("analyst_370000", "analyst-370000-local"),
                      ("default", "")):
        with pytest.raises(ServerException) as info:
            connect(ch, user=user, password=old, writer=False).execute("SELECT 1")
        assert info.value.code in (WRONG_PASSWORD, REQUIRED_PASSWORD)


def test_the_sink_reaches_nothing_of_the_platform_through_url(data):
    """18.16 cannot forbid url() to a user that inserts (see the next test); every service the server could reach
    on the host requires credentials the sink does not have: GET and POST both end in 401."""
    sink = as_user(data, "sink")
    prom = f"http://{data.host}:{data.prometheus_port}"
    am = f"http://{data.host}:{data.alertmanager_port}"
    attempts = [
        (f"SELECT * FROM url('{prom}/api/v1/query?query=up', TSV, 'a String')", None),
        (f"SELECT * FROM url('{prom}/-/quit', TSV, 'a String')", None),
        (f"INSERT INTO FUNCTION url('{am}/api/v2/silences', JSONEachRow, 'comment String') VALUES", [("x",)]),  # POST
        (f"SELECT * FROM url('http://{data.host}:{data.clickhouse_http_port}/?query=SELECT%201', TSV, 'a String')",
         None),
    ]
    for query, rows in attempts:
        with pytest.raises(ServerException) as info:
            sink.execute(query, rows)
        assert "401 Unauthorized" in str(info.value), f"{query}: {str(info.value)[:300]}"
    assert httpx.get(f"{am}/api/v2/silences", auth=web_auth(data), timeout=5).json() == []
    assert httpx.get(f"{prom}/-/ready", auth=web_auth(data), timeout=5).status_code == 200


def test_the_sink_reads_no_file_of_the_server(data):
    sink = as_user(data, "sink")
    for path in ("/etc/passwd", "../../users.d/" + credentials.USERS_D_NAME, str(data.clickhouse_secrets_path)):
        denied(sink, f"SELECT * FROM file('{path}', TSV, 'a String')", NOT_INSIDE_USER_FILES)
    assert not any((data.state_dir / "clickhouse" / "data" / "user_files").iterdir())  # and that directory is empty


def test_known_limit_18_16_lets_an_inserting_user_call_url(data):
    """Pins what docs/security.md says: on 18.16 only readonly=1 forbids table functions, and it forbids INSERT
    too (allow_ddl=0 does not stop url()). A listener without authentication on the host is reachable from the
    sink; that is why every service of the stack requires credentials. Fails once the server can forbid it:
    then forbid it in users.xml and update docs/security.md."""

    class Open(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"open\n")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Open)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rows = as_user(data, "sink").execute(
            f"SELECT * FROM url('http://127.0.0.1:{server.server_port}/', TSV, 'a String')")
    finally:
        server.shutdown()
    assert rows == [("open",)]


def test_analysts_cannot_stop_or_look_back_at_other_analysts_queries(data):
    """18.16 lists every running query in system.processes (allow_databases does not cover the system database,
    and it has no setting to hide them): pinned here as docs/security.md says. What an analyst cannot do is
    kill another's query, read any query after it ran (no query_log, and readonly=1 cannot turn it on), or
    watch for long (max_execution_time 120 s)."""
    other, me = as_user(data, "210000"), as_user(data, "370000")
    literal = "91370100MA00000370X-under-review"
    runner = threading.Thread(target=lambda: other.execute(f"SELECT sleep(2), '{literal}'"))
    runner.start()
    try:
        seen = []
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            seen = me.execute("SELECT query FROM system.processes WHERE user = 'analyst_210000'")
        assert seen and literal in seen[0][0]  # the known limit of 18.16
        denied(me, "KILL QUERY WHERE user = 'analyst_210000' SYNC", READONLY)
    finally:
        runner.join()
    denied(me, "SELECT query FROM system.query_log", UNKNOWN_TABLE)
    denied(me, "SET log_queries = 1", READONLY)
    assert me.execute("SELECT value FROM system.settings WHERE name = 'max_execution_time'") == [("120",)]


def test_an_analyst_over_the_quota_is_refused_with_a_clear_message(data):
    """Every analyst has the quota `analyst` (deploy/clickhouse/users.xml; tests/unit/ecmon_ops/test_deploy_files.py
    checks that); here a test analyst with the analyst profile and a quota of 3 queries an hour."""
    extra = data.state_dir / "clickhouse" / "users.d" / "zz-quota-test.xml"
    password = secrets.token_urlsafe(16)
    extra.write_text(
        f"<yandex><users><quota_test><password>{password}</password><networks><ip>127.0.0.1</ip></networks>"
        "<profile>analyst</profile><quota>tiny</quota><allow_databases><database>ecmon_370000</database>"
        "</allow_databases></quota_test></users><quotas><tiny><interval><duration>3600</duration>"
        "<queries>3</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows>"
        "<execution_time>0</execution_time></interval></tiny></quotas></yandex>")
    try:
        client = connect(data, user="quota_test", password=password, writer=False)
        deadline = time.monotonic() + 30  # the server reloads users.d by itself within seconds
        while True:
            try:
                client.execute("SELECT count() FROM ecmon_370000.aggregates_monthly")
                break
            except ServerException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        answered = 1
        with pytest.raises(ServerException) as info:
            for _ in range(10):
                client.execute("SELECT count() FROM ecmon_370000.aggregates_monthly")
                answered += 1
        assert 3 <= answered <= 4  # 18.16 checks the count before adding the query being started
        assert info.value.code == QUOTA_EXCEEDED
        assert "Quota for user 'quota_test' for 1 hour has been exceeded" in str(info.value)
    finally:
        extra.unlink()


def test_prometheus_and_alertmanager_refuse_anonymous_requests_and_have_no_lifecycle(ch):
    prom = f"http://{ch.host}:{ch.prometheus_port}"
    am = f"http://{ch.host}:{ch.alertmanager_port}"
    silence = {"matchers": [{"name": "alertname", "value": "SinkDown", "isRegex": False}],
               "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2036-01-01T00:00:00Z", "createdBy": "x", "comment": "x"}
    anonymous = [("POST", f"{prom}/-/quit"), ("PUT", f"{prom}/-/reload"), ("GET", f"{prom}/api/v1/query?query=up"),
                 ("GET", f"{prom}/api/v1/targets"), ("POST", f"{prom}/api/v1/admin/tsdb/delete_series?match[]=up"),
                 ("GET", f"{prom}/metrics"), ("POST", f"{am}/api/v2/silences"), ("GET", f"{am}/api/v2/alerts"),
                 ("POST", f"{am}/-/reload")]
    user, password = web_auth(ch)
    for method, url in anonymous:
        assert httpx.request(method, url, json=silence, timeout=5).status_code == 401, (method, url)
        assert httpx.request(method, url, json=silence, auth=(user, "wrong"), timeout=5).status_code == 401
    auth = (user, password)
    assert httpx.get(f"{prom}/api/v1/query", params={"query": "up"}, auth=auth, timeout=5).json()["status"] == "success"
    assert httpx.get(f"{am}/api/v2/silences", auth=auth, timeout=5).json() == []  # none was created
    # authenticated, the lifecycle endpoints stay off (no --web.enable-lifecycle)
    assert httpx.post(f"{prom}/-/quit", auth=auth, timeout=5).status_code in (403, 404, 405)
    assert httpx.get(f"{prom}/-/ready", auth=auth, timeout=5).status_code == 200
    # Prometheus itself authenticates to Alertmanager (alerting basic_auth) and scrapes both
    found = httpx.get(f"{prom}/api/v1/alertmanagers", auth=auth, timeout=5).json()["data"]["activeAlertmanagers"]
    assert [a["url"] for a in found] == [f"{am}/api/v2/alerts"]
