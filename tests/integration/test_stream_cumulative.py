"""Cumulative meters end to end, on a stack of its own (ports 23xxx): registers with rollover,
resets, meter replacement, late and shuffled readings reconcile exactly with what the gateways counted."""

import time

import pytest
from own_stack import isolated_pipeline
from rich.console import Console

from ecmon_cli.demo import wait_for_reconciliation
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

PORTS = {"kafka_port": 23092, "clickhouse_port": 23000, "clickhouse_http_port": 23123, "prometheus_port": 23090,
         "alertmanager_port": 23190, "metrics_port_base": 23200}


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("ecmon-streams")
    with isolated_pipeline(state_dir, PORTS) as settings:
        yield settings


def test_a_cumulative_fleet_with_counter_faults_reconciles_exactly(own_pipeline):
    settings = own_pipeline
    run = FleetRun(enterprises=6, start="2026-10", months=1, intervals_per_batch=24, seed=31, cumulative=True,
                   faults="counter_reset=0.002,meter_replacement=0.001,late=0.01,out_of_order=0.2,duplicate=0.02")
    ledger = run_fleet(settings, run, Ledger(electricity_method=settings.electricity_method), show_progress=False)
    assert sum(v[1] for v in ledger.by_province_month().values()) > 0
    result = wait_for_reconciliation(settings, ledger, timeout=90, console=Console(), show_progress=False,
                                     watch_processes=False)
    assert result.exact, result.line()
    client = connect(settings)
    db = settings.clickhouse_database
    sent = {}
    for (_province, period), (mgce, n) in ledger.by_province_month().items():
        sent[period] = [sent.get(period, [0, 0])[0] + mgce, sent.get(period, [0, 0])[1] + n]
    national = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and national != sent:
        rows = client.execute(
            f"SELECT toString(period), argMax(coal_mgce, version), argMax(readings, version) "
            f"FROM {db}.aggregates_monthly WHERE level = 'NATIONAL' AND industry_code = '*' "
            f"GROUP BY level, entity, industry_code, energy_type, unit, period")
        national = {}
        for period, mgce, n in rows:
            period = period[:7]
            national[period] = [national.get(period, [0, 0])[0] + mgce, national.get(period, [0, 0])[1] + n]
        time.sleep(1)
    assert national == sent  # the NATIONAL rows hold exactly what the gateways sent
    reasons = dict(client.execute(f"SELECT reason, count() FROM {db}.dead_letters GROUP BY reason"))
    assert "unsupported_value_kind" not in reasons
    assert not set(reasons) - {"meter_reset", "duplicate_batch"}, reasons
    assert reasons.get("meter_reset", 0) > 0


def test_the_worker_reports_brokers_and_enterprise_liveness(own_pipeline):
    import httpx

    settings = own_pipeline
    deadline = time.monotonic() + 40
    body = ""
    while time.monotonic() < deadline:
        for port in range(settings.metrics_port_base + 10, settings.metrics_port_base + 20):
            try:
                body = httpx.get(f"http://{settings.host}:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                continue
            if "ecmon_worker_batches_total" in body:
                break
        if "ecmon_kafka_brokers_up 1.0" in body and "ecmon_enterprise_last_reading_timestamp_seconds{" in body:
            break
        time.sleep(2)
    assert "ecmon_kafka_brokers_up 1.0" in body
    assert "ecmon_kafka_brokers_expected 1.0" in body
    assert "ecmon_enterprise_last_reading_timestamp_seconds{" in body
