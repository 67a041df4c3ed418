"""Integration tests run against the real local stack (Kafka, ClickHouse, Prometheus, Alertmanager).

`make test` starts the stack in .ecmon-test/ on its own ports; these fixtures make sure it is up
(harmless when it is) so a single test file can also be run by hand.
"""

import pytest

from ecmon.settings import load_settings
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import ensure_running
from ecmon_sink import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def live_settings():
    settings = load_settings()
    stack.up(settings)
    migrate.migrate(settings)
    return settings


@pytest.fixture(scope="session")
def pipeline(live_settings):
    """A running stream worker and sink on the test stack."""
    procs = [ensure_running(live_settings, role) for role in ("worker", "sink")]
    yield live_settings
    for proc in procs:
        proc.stop(timeout=30)


# Below Linux's ephemeral range (32768-60999), like every fixed test port: a client's outgoing connection
# may hold any port in that range, and a server bound there fails to start now and then.
# Not the demo's 29xxx: `make demo` and `make test` may run on one machine at the same time.
SIDE_PORTS = {"kafka_port": 21092, "clickhouse_port": 21000, "clickhouse_http_port": 21123, "prometheus_port": 21090,
              "alertmanager_port": 21190, "metrics_port_base": 21200}


@pytest.fixture(scope="session")
def side_pipeline(tmp_path_factory):
    """A second Kafka + ClickHouse with its own worker and sink (ports 21xxx), shared by the tests that send
    crafted data they do not put in the main stack's ledger (keys, registry, reading identity, closed months):
    the main stack's reconciliation compares all of ClickHouse with what its gateways sent."""
    import os

    from own_stack import isolated_pipeline

    saved = dict(os.environ)
    with isolated_pipeline(tmp_path_factory.mktemp("ecmon-side"), SIDE_PORTS) as settings:
        # The worker and sink have read the side stack's environment; the tests name its settings explicitly,
        # and the environment goes back to the main stack for every other test of the session.
        os.environ.clear()
        os.environ.update(saved)
        yield settings
        os.environ.update(settings.process_env())  # isolated_pipeline restores from here on exit
