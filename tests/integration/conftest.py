"""Integration tests run against the real local stack (Kafka, ClickHouse, Prometheus, Alertmanager).

`make test` starts the stack in .ecmon-test/ on its own ports; these fixtures make sure it is up
(harmless when it is) so a single test file can also be run by hand.
"""

import pytest

from deploy.stack import stack
from deploy.stack.apps import ensure_running
from ecmon.settings import get_settings
from sinks import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def live_settings():
    settings = get_settings()
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
