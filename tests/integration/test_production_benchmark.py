"""Production output through the worker, on a stack of its own (ports 26xxx): accepted figures reach
ClickHouse, a bad one reaches the dead letters, an enterprise above its quota standard raises an
`intensity_above_standard` anomaly, and `ecmon report benchmark` shows pass and FAIL, judged within each
standard's energy scope. The simulator's own daily output gives plausible unit consumption, and the
worker's last word on every month agrees with the month-end report (issue 18)."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from own_stack import isolated_pipeline
from rich.console import Console

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.months import month_start_ms
from ecmon.quota_standards import scope_energy_mgce, standard_for
from ecmon_cli.demo import wait_for_reconciliation
from ecmon_gateway.delivery import BatchProducer
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.production import encode_production
from ecmon_simulator.profiles import PROFILES
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_simulator.unit_consumption import BANDS
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

PORTS = {"kafka_port": 26092, "clickhouse_port": 26000, "clickhouse_http_port": 26123, "prometheus_port": 26090,
         "alertmanager_port": 26190, "metrics_port_base": 26200}
MONTH = "2026-10"


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("ecmon-production")
    with isolated_pipeline(state_dir, PORTS) as settings:
        yield settings


@pytest.fixture(scope="module")
def ledger(own_pipeline):
    """What every test of the module sent, so each can reconcile ClickHouse with all of it."""
    return Ledger(electricity_method=own_pipeline.electricity_method)


def _metered(client, db):
    """Enterprise -> its month's (energy type, unit, physical_milli) rows, newest version of each."""
    out: dict[str, list] = {}
    for entity, energy_type, unit, physical in client.execute(
            f"SELECT entity, energy_type, unit, argMax(physical_milli, version) FROM {db}.aggregates_monthly "
            f"WHERE level = 'ENTERPRISE' AND period = toDate('{MONTH}-01') GROUP BY entity, energy_type, unit"):
        out.setdefault(entity, []).append((energy_type, unit, physical))
    return out


def _wait(query, check, client, timeout=40.0):
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = client.execute(query)
        if check(rows):
            return rows
        time.sleep(1)
    return rows


def _report(settings, *args, user=None):
    env = {**os.environ}
    if user:
        # the analyst's password comes from the stack's secrets file (ecmon/clickhouse_auth.py)
        env.update({"ECMON_CLICKHOUSE_USER": user, "ECMON_CLICKHOUSE_PASSWORD": ""})
    out = subprocess.run([sys.executable, "-m", "ecmon_cli.main", "report", "benchmark", "--month", MONTH, "--format",
                          "json", *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    return {(r["uscc"], r["product_code"]): r for r in json.loads(out.stdout)["rows"]}


def test_production_is_benchmarked_against_the_quota_standards(own_pipeline, ledger):
    settings = own_pipeline
    run = FleetRun(enterprises=6, provinces=("370000", "210000"), start=MONTH, months=1, seed=41, production=False)
    fleet = run.fleet()
    run_fleet(settings, run, ledger, show_progress=False)
    result = wait_for_reconciliation(settings, ledger, timeout=60, console=Console(), show_progress=False,
                                     watch_processes=False)
    assert result.exact, result.line()

    # Two enterprises whose product has a quota standard: one made 1.5 x the limit, one 0.5 x.
    judged = [e for e in fleet if standard_for(PROFILES[e.industry_code].product.code)][:2]
    assert len(judged) == 2, [e.industry_code for e in fleet]
    client = connect(settings)
    db = settings.clickhouse_database
    metered = _metered(client, db)
    start, end = month_start_ms(MONTH), month_start_ms("2026-11")
    producer = BatchProducer(client_config(settings, "admin"))
    expected_verdict = {}
    for ent, factor in zip(judged, ((3, 2), (1, 2))):
        product = PROFILES[ent.industry_code].product
        standard = standard_for(product.code)
        # intensity = energy within the standard's scope / output = factor x limit
        energy = scope_energy_mgce(standard, metered[ent.uscc])
        quantity_milli = energy * 1000 * factor[1] // (standard.limit_mgce * factor[0])
        record = {"uscc": ent.uscc, "gateway_id": ent.gateway_id, "batch_id": str(uuid.uuid4()), "sent_at": end + 1000,
                  "key_id": ent.key_id, "signature": b"", "product_code": product.code, "product_name": product.name,
                  "quantity_milli": quantity_milli, "unit": standard.unit, "period_start": start, "period_end": end}
        producer.send(topics.PRODUCTION.name, ent.uscc.encode(), encode_production(ent, record, settings.state_dir))
        expected_verdict[(ent.uscc, product.code)] = "FAIL" if factor[0] > factor[1] else "pass"
    bad = judged[1]
    bad_record = {**record, "batch_id": str(uuid.uuid4()), "quantity_milli": -5}
    producer.send(topics.PRODUCTION.name, bad.uscc.encode(), encode_production(bad, bad_record, settings.state_dir))
    producer.flush()

    stored = _wait(f"SELECT uscc, argMax(quantity_milli, version) FROM {db}.production "
                   "GROUP BY uscc, product_code, period_start, period_end", lambda r: len(r) >= 2, client)
    assert {u for u, _ in stored} == {e.uscc for e in judged}
    assert all(q > 0 for _, q in stored)

    dead = _wait(f"SELECT reason, uscc FROM {db}.dead_letters WHERE source_topic = '{topics.PRODUCTION.name}'",
                 lambda r: len(r) >= 1, client)
    assert ("negative_quantity", bad.uscc) in dead

    over = judged[0]
    found = _wait(f"SELECT anomaly_id, argMax(entity_code, version), argMax(level, version), argMax(score, version) "
                  f"FROM {db}.anomalies WHERE type = 'intensity_above_standard' GROUP BY anomaly_id",
                  lambda r: len(r) >= 1, client)
    assert [(r[1], r[2]) for r in found] == [(over.uscc, "ENTERPRISE")]
    assert abs(found[0][3] - 1.5) < 0.01

    report = _report(settings)
    assert {k: r["verdict"] for k, r in report.items()} == expected_verdict
    over_row = report[(over.uscc, PROFILES[over.industry_code].product.code)]
    assert abs(float(over_row["ratio"]) - 1.5) < 0.01 and over_row["standard"].startswith("GB ")

    # A provincial analyst sees only the province's own enterprises.
    province = over.region_code[:2] + "0000"
    mine = _report(settings, "--province", province, user=f"analyst_{province}")
    assert mine and all(r["province"] == province for r in mine.values())
    assert set(mine) == {k for k in expected_verdict if next(e for e in judged if e.uscc == k[0]).region_code[:2]
                         == province[:2]}


def test_the_simulators_output_is_plausible_and_the_last_warning_agrees_with_the_month_end(own_pipeline, ledger):
    """The simulator's calibrated daily output, judged day by day by the worker while readings and
    production arrive at once: each month's last event agrees with `ecmon report benchmark`."""
    settings = own_pipeline
    run = FleetRun(enterprises=12, provinces=("370000", "310000"), start=MONTH, months=1, seed=43)
    fleet = run.fleet()
    run_fleet(settings, run, ledger, show_progress=False)
    result = wait_for_reconciliation(settings, ledger, timeout=90, console=Console(), show_progress=False,
                                     watch_processes=False)
    assert result.exact, result.line()
    judged = {e.uscc: e for e in fleet if standard_for(e.profile.product.code)}
    client = connect(settings)
    db = settings.clickhouse_database
    days = _wait(f"SELECT uscc, count() FROM (SELECT DISTINCT uscc, period_start FROM {db}.production "
                 f"WHERE uscc IN ({', '.join(repr(u) for u in judged)})) GROUP BY uscc",
                 lambda r: len(r) == len(judged) and all(n == 31 for _, n in r), client, timeout=60)
    assert all(n == 31 for _, n in days), days
    report = {k: r for k, r in _report(settings).items() if k[0] in judged}
    assert len(report) == len(judged)
    for (_uscc, product), row in report.items():
        band = BANDS[product]
        assert band.low * 9 / 10 <= float(row["kgce_per_unit"]) <= float(band.high) * 1.1, row

    def last_events(rows):
        return {r[0]: r for r in rows}

    query = (f"SELECT argMax(entity_code, version), argMax(severity, version), argMax(observed, version), "
             f"argMax(detail, version) FROM {db}.anomalies WHERE type = 'intensity_above_standard' "
             f"AND entity_code IN ({', '.join(repr(u) for u in judged)}) GROUP BY anomaly_id")

    def settled(rows):
        events = last_events(rows)
        return all("whole month" in e[3] for e in events.values()) and all(
            (r["verdict"] == "FAIL") == (u in events and events[u][1] != "INFO") for (u, _), r in report.items())

    events = last_events(_wait(query, settled, client, timeout=60))
    for (uscc, _product), row in report.items():
        event = events.get(uscc)
        if row["verdict"] == "FAIL":  # the last word is the month-end figure, above the limit
            assert event is not None and event[1] in ("WARNING", "CRITICAL"), (row, event)
        elif event is not None:  # a month-to-date warning the whole month no longer supports: withdrawn
            assert event[1] == "INFO" and "withdrawn" in event[3], (row, event)
        if event is not None:
            assert "the whole month" in event[3] and abs(event[2] - float(row["kgce_per_unit"])) < 0.01, (row, event)


def test_the_local_sink_writes_as_its_own_clickhouse_user(own_pipeline):
    from ecmon_ops.stack.apps import app_process

    pid = app_process(own_pipeline, "sink").pid()
    assert pid is not None
    with open(f"/proc/{pid}/environ", "rb") as file:
        environ = file.read().split(b"\0")
    assert b"ECMON_CLICKHOUSE_USER=ecmon_sink" in environ
