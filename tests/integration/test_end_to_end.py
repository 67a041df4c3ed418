"""The walking skeleton on the real services: gateways -> Kafka -> Faust worker -> Kafka -> sink -> ClickHouse."""

import time

import httpx
from confluent_kafka import Producer
from rich.console import Console

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.web_auth import web_auth
from ecmon_cli.demo import ledger_path, wait_for_reconciliation
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink.clickhouse import connect

RUN = FleetRun(enterprises=9, start="2026-09", months=1, intervals_per_batch=96, seed=11)


def send_fleet(settings, run=RUN) -> Ledger:
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    run_fleet(settings, run, ledger, show_progress=False)
    ledger.save(ledger_path(settings))
    return ledger


def prometheus_value(settings, query: str, until, timeout: float = 60.0) -> float | None:
    """The query's single value from the test stack's Prometheus, polled until ``until(value)`` or the timeout."""
    deadline = time.monotonic() + timeout
    value = None
    while True:
        result = httpx.get(f"http://{settings.host}:{settings.prometheus_port}/api/v1/query",
                           params={"query": query}, auth=web_auth(settings), timeout=5).json()["data"]["result"]
        value = float(result[0]["value"][1]) if result else None
        if (value is not None and until(value)) or time.monotonic() > deadline:
            return value
        time.sleep(1)


def test_clickhouse_holds_exactly_what_the_gateways_sent(pipeline):
    ledger = send_fleet(pipeline)
    result = wait_for_reconciliation(pipeline, ledger, timeout=180, console=Console(), show_progress=False)
    assert result.exact, result.line()
    assert sum(v[1] for v in result.sent.values()) > 0
    # CO2 reconciles as exactly as coal, at every level, and there is some: the fleet burns coal and gas and buys power
    assert result.sent_co2 is not None and result.co2_exact, result.line()
    (pipeline.state_dir / "reconciliation.txt").write_text(result.line() + "\n")  # the figure, for the record
    assert sum(result.sent_co2.values()) > 0
    assert result.co2_levels["province"] == result.sent_co2
    client = connect(pipeline)
    scopes = dict(client.execute(
        f"SELECT co2_scope, sum(co2_g) FROM {pipeline.clickhouse_database}.aggregates_monthly FINAL "
        "WHERE level = 'PROVINCE' AND industry_code = '*' GROUP BY co2_scope"))
    assert scopes.get("direct", 0) > 0 and scopes.get("indirect", 0) > 0, scopes


def test_a_second_run_of_the_same_fleet_sends_new_batches_and_counts_each_reading_once(pipeline):
    # The gateway never reuses a sequence (interface standard, section 9): a second run of the same seed sends
    # the same readings as new batches; the platform counts each reading once (duplicate_reading), not the
    # batches as resends (duplicate_batch), and the ledger counts as it does.
    ledger = send_fleet(pipeline)
    before, totals = len(ledger.batch_ids), ledger.by_province_month()
    ledger = send_fleet(pipeline)
    assert len(ledger.batch_ids) > before
    assert ledger.by_province_month() == totals
    client = connect(pipeline)
    db = pipeline.clickhouse_database
    usccs = [e.uscc for e in RUN.fleet()]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        again = client.execute(f"SELECT uniqExact(source_partition, source_offset) FROM {db}.dead_letters "
                               "WHERE reason = 'duplicate_reading' AND uscc IN %(u)s", {"u": tuple(usccs)})[0][0]
        if again >= len(ledger.batch_ids) - before:
            break
        time.sleep(1)
    assert again >= len(ledger.batch_ids) - before
    result = wait_for_reconciliation(pipeline, ledger, timeout=120, console=Console(), show_progress=False)
    assert result.exact, result.line()


def test_garbage_goes_to_the_dead_letter_table_with_its_reason(pipeline):
    marker = f"not avro {time.time_ns()}".encode()
    producer = Producer(client_config(pipeline, "gateway"))
    producer.produce(topics.READINGS.name, key=b"91350100M000100Y43", value=marker)
    producer.flush(10)
    client = connect(pipeline)
    deadline = time.monotonic() + 90
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = client.execute(
            f"SELECT reason, detail FROM {pipeline.clickhouse_database}.dead_letters WHERE payload = %(p)s",
            {"p": marker.decode()},
        )
        time.sleep(0.5)
    assert rows and rows[0][0] == "undecodable", rows
    assert "C3 01" in rows[0][1]


def test_prometheus_scrapes_the_worker_and_the_sink(pipeline):
    url = f"http://{pipeline.host}:{pipeline.prometheus_port}/api/v1/query"
    deadline = time.monotonic() + 60
    roles = set()
    while time.monotonic() < deadline and roles != {"worker", "sink"}:
        result = httpx.get(url, params={"query": 'up{job="ecmon"} == 1'},
                           auth=web_auth(pipeline)).json()["data"]["result"]
        roles = {r["metric"].get("role") for r in result} & {"worker", "sink"}
        time.sleep(1)
    assert roles == {"worker", "sink"}


def test_a_restarted_worker_recovers_its_state_from_the_changelogs(pipeline):
    """Catches the Faust recovery race that dropped part of the backlog (docs/streams.md,
    streams/ecmon_worker/faust_fixes.py)."""
    from ecmon_ops.stack.apps import app_process

    worker = app_process(pipeline, "worker")
    worker.stop()
    ledger = send_fleet(pipeline, FleetRun(enterprises=6, start="2026-08", months=1, intervals_per_batch=96, seed=12))
    worker.start()
    result = wait_for_reconciliation(pipeline, ledger, timeout=180, console=Console(), show_progress=False)
    assert result.exact, result.line()


def test_two_workers_share_the_partitions_and_one_killed_with_sigkill_loses_nothing(pipeline):
    """Issue 5, scale-out and recovery: the survivor takes the dead worker's partitions and table state
    over through the changelogs, mid-stream, and every level (enterprise, prefecture, province, nation)
    still reconciles exactly, with late, out-of-order and duplicated batches in the stream."""
    import os
    import signal
    import threading

    from ecmon_ops.stack.apps import app_process, ensure_running

    first, second = app_process(pipeline, "worker"), ensure_running(pipeline, "worker", index=2)
    try:
        time.sleep(8)  # the second worker joins the group: the partitions are shared from here on
        run = FleetRun(enterprises=8, provinces=("210000", "370000"), start="2026-07", months=1,
                       intervals_per_batch=24, seed=15, speed=300_000.0,  # the month in about 9 s
                       faults="late=0.01,out_of_order=0.1,duplicate=0.02")  # late, reordered and resent data
        sending = threading.Thread(target=send_fleet, args=(pipeline, run))
        sending.start()
        time.sleep(4)
        assert sending.is_alive()  # the gateways are still sending: the kill lands mid-stream
        victim = first.pid()
        assert victim is not None and second.pid() is not None
        os.kill(victim, signal.SIGKILL)  # mid-stream, with unflushed changelog writes and uncommitted offsets
        sending.join(timeout=300)
        ledger = Ledger.load(ledger_path(pipeline), pipeline.electricity_method)
        assert first.pid() is None and second.pid() is not None  # the survivor alone from here on
        result = wait_for_reconciliation(pipeline, ledger, timeout=240, console=Console(), show_progress=False,
                                         watch_processes=False)
        assert result.exact, result.line()
        assert second.pid() is not None
    finally:
        ensure_running(pipeline, "worker")  # the next tests expect worker-1
        second.stop(timeout=30)


def test_unreadable_input_raises_an_alert_that_reaches_alertmanager(pipeline):
    from ecmon_ops.stack.alerts import prometheus_firing, wait_for_alert, wait_until_scraped
    from ecmon_ops.stack.apps import app_process

    # a worker restarted by an earlier test must be known to Prometheus before its counters move
    assert wait_until_scraped(pipeline, "worker", app_process(pipeline, "worker").pid())
    producer = Producer(client_config(pipeline, "gateway"))
    for i in range(3):
        producer.produce(topics.READINGS.name, key=b"91350100M000100Y43", value=f"garbage {i}".encode())
    producer.flush(10)
    alerts = wait_for_alert(pipeline, "UnreadableInputArriving", timeout=120)
    assert any(a.name == "UnreadableInputArriving" and a.labels.get("reason") == "undecodable" for a in alerts), alerts
    assert "UnreadableInputArriving" in prometheus_firing(pipeline)


def test_a_province_over_its_target_gets_a_red_early_warning(pipeline, tmp_path):
    from ecmon_registry.targets import load_targets, publish_targets

    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[[target]]\nscope = "PROVINCE"\nentity_code = "440000"\nyear = 2026\nmonth = 8\ntce = 1\n'
        '[[target]]\nscope = "PROVINCE"\nentity_code = "440000"\nyear = 2026\nmonth = 0\ntce = 1e9\n'
    )
    publish_targets(client_config(pipeline, "registry"), load_targets(targets))
    send_fleet(pipeline, FleetRun(enterprises=2, provinces=("440000",), start="2026-08", months=1,
                                  intervals_per_batch=96, seed=12))
    client = connect(pipeline)
    db = pipeline.clickhouse_database
    deadline = time.monotonic() + 120
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = client.execute(
            f"SELECT type, severity, observed, expected FROM {db}.anomalies FINAL "
            "WHERE province = '440000' AND detector = 'regional_early_warning'"
        )
        time.sleep(1)
    # The monthly cap of 1 tce is exceeded at once; the annual cap of 10^9 tce never is.
    assert [(t, s) for t, s, _, _ in rows] == [("early_warning_month", "CRITICAL")]
    assert rows[0][2] > rows[0][3] == 1.0
    # ... and the operator sees it in Prometheus, where the RegionalEarlyWarning alert reads it.
    level = prometheus_value(pipeline, 'max(ecmon_region_early_warning_level{province="440000"})',
                             until=lambda v: v == 2)
    assert level == 2


def test_a_closed_month_is_reported_by_each_province_and_answered_by_the_national_level(pipeline):
    # Two months of hourly readings: May closes once the provinces' event time passes 3 June (grace 72 h).
    run = FleetRun(enterprises=4, provinces=("510000", "520000"), start="2026-05", months=2, interval_s=3600,
                   intervals_per_batch=48, seed=13)
    ledger = send_fleet(pipeline, run)
    sent = ledger.by_province_month()
    client = connect(pipeline)
    db = pipeline.clickhouse_database
    deadline = time.monotonic() + 150
    reports, answers = [], []
    while time.monotonic() < deadline and (len(reports) < 2 or len(answers) < 2):
        reports = client.execute(
            f"SELECT province, argMax(total_coal_mgce, version), argMax(received, version), "
            f"argMax(expected, version), argMax(consistent, version) FROM {db}.monthly_reports "
            "WHERE period = '2026-05-01' AND province IN ('510000', '520000') GROUP BY province ORDER BY province")
        answers = client.execute(
            f"SELECT province, argMax(provinces_reported, version), argMax(province_rank, version), "
            f"argMax(share_bp, version) FROM {db}.national_feedback "
            "WHERE period = '2026-05-01' AND province IN ('510000', '520000') GROUP BY province ORDER BY province")
        time.sleep(1)
    assert [r[0] for r in reports] == ["510000", "520000"], reports
    for province, total, received, expected, consistent in reports:
        assert total == sent[(province, "2026-05")][0]  # exact, in mgce
        assert received == expected > 0 and consistent == 1  # no faults: complete and consistent
    # Only May closed: June's grace period has not passed in event time.
    assert client.execute(f"SELECT count() FROM {db}.monthly_reports WHERE period = '2026-06-01' "
                          "AND province IN ('510000', '520000') AND month_to_date = 0")[0][0] == 0
    assert sorted(a[2] for a in answers) == [1, 2]
    assert all(a[1] >= 2 for a in answers) and sum(a[3] for a in answers) in (9999, 10000, 10001)
    # The report carries CO2 beside coal: exactly what the readings sent make, split into direct and indirect.
    sent_co2 = ledger.co2_by_province_month()
    co2 = client.execute(
        f"SELECT province, argMax(total_co2_g, version), argMax(total_direct_co2_g, version), "
        f"argMax(total_indirect_co2_g, version) FROM {db}.monthly_reports "
        "WHERE period = '2026-05-01' AND province IN ('510000', '520000') GROUP BY province ORDER BY province")
    for province, total_co2, direct, indirect in co2:
        assert total_co2 == direct + indirect == sent_co2[(province, "2026-05")] > 0


def test_meter_detectors_and_the_silence_timer_report_injected_faults(pipeline):
    # Spikes late in the month (after the detectors' warm-up) and dead meters: both must reach the
    # analysts' anomaly table, found by the detectors inside the worker and by its silence timer.
    run = FleetRun(enterprises=2, provinces=("530000",), start="2026-03", months=1, intervals_per_batch=4,
                   seed=14, faults="spike=0.003,silence=0.002")  # hourly batches: silences span batches
    send_fleet(pipeline, run)
    client = connect(pipeline)
    db = pipeline.clickhouse_database
    deadline = time.monotonic() + 150
    found: dict[str, int] = {}
    while time.monotonic() < deadline and not {"spike", "silent_meter"} <= found.keys():
        found = dict(client.execute(
            f"SELECT type, count() FROM {db}.anomalies FINAL WHERE province = '530000' AND level = 'METER' "
            "GROUP BY type"))
        time.sleep(2)
    assert found.get("spike", 0) > 0 and found.get("silent_meter", 0) > 0, found
    # ... and Prometheus counts them by type and province for the operators.
    spikes = prometheus_value(pipeline, 'sum(ecmon_anomalies_total{province="530000", type="spike"})',
                              until=lambda v: v > 0)
    assert spikes is not None and spikes > 0
