"""The short form of the fault suite (`ecmon chaos --short`, docs/chaos.md), on a three-broker stack of its own.

One trial of each fault, for real: the gateway, the worker and the sink are killed with SIGKILL at a seeded
random moment while a fleet flows, one broker is stopped and brought back, ClickHouse is stopped (20 s here,
60 s in the full suite). After each, ClickHouse must hold exactly what the fleet sent, at enterprise,
prefecture, province and national level. Four to six minutes, depending on the load of the machine.

Its three-broker stack also serves `ecmon stack up --brokers 3`'s own checks (every partition on three
brokers, `stack down` stops every process), so `make test` starts a cluster once.
"""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon_ops.chaos.run import SHORT, ChaosConfig, results_table, run_suite
from ecmon_ops.chaos.trials import SuiteShape
from ecmon_ops.stack import stack

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range, apart from every other stack (the full suite uses 14xxx).
PORTS = dict(kafka_port=17092, clickhouse_port=17000, clickhouse_http_port=17123, prometheus_port=17090,
             alertmanager_port=17190, metrics_port_base=17200)


@pytest.mark.timeout(900)  # about 4 minutes alone; a loaded machine (the whole suite) stretches every trial
def test_every_fault_once_and_clickhouse_stays_exact(tmp_path):
    settings = Settings(state_dir=tmp_path / "chaos", brokers=3, **PORTS)
    saved = dict(os.environ)
    console = Console(width=160)
    try:
        result = run_suite(settings, ChaosConfig(
            seed=7, counts=dict(SHORT),
            # shorter outages than the full suite's: the 60 s ClickHouse outage is also
            # tests/integration/test_sink_robustness.py's, and make test must stay short
            shape=SuiteShape(enterprises=6, send_s=8.0, clickhouse_down_s=20.0, broker_down_s=(5.0, 8.0)),
            out_dir=None, keep_stack=True), console)
        replicas = _replicas_of_every_readings_partition(settings)
    finally:
        stopped = stack.down(settings)
        os.environ.clear()
        os.environ.update(saved)
    assert replicas == [3] * topics.READINGS.partitions, replicas
    assert {"kafka-1", "kafka-2", "kafka-3", "clickhouse"} <= set(stopped), stopped
    assert not any(s.pid for s in stack.status(settings))
    console.print(results_table(result))
    assert [t["spec"]["kind"] for t in result["trials"]].count("gateway") == 1
    assert sorted(t["spec"]["kind"] for t in result["trials"]) == sorted(SHORT)
    failed = [(t["spec"]["kind"], t["outcome"], t["detail"]) for t in result["trials"] if not t["exact"]]
    assert not failed, failed
    assert result["final"]["exact"], result["final"]["line"]
    # the faults really happened: processes were killed and replaced, servers stopped
    faults = {t["spec"]["kind"]: t["fault"] for t in result["trials"]}
    assert faults["worker"].startswith("kill -9 worker-1") and faults["sink"].startswith("kill -9 sink-1")
    assert faults["gateway"].startswith("kill -9 gateway"), faults["gateway"]
    assert faults["broker"].startswith("stopped kafka-")
    assert faults["clickhouse"].startswith("stopped clickhouse for 20s")


def _replicas_of_every_readings_partition(settings: Settings) -> list[int]:
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(client_config(settings, "admin")).list_topics(timeout=10)
    assert len(meta.brokers) == 3
    return [len(p.replicas) for p in meta.topics[topics.READINGS.name].partitions.values()]
