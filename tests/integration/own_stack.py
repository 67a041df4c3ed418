"""A pipeline on a stack of its own (Kafka and ClickHouse, a worker and a sink), for tests that must not
share the `make test` stack: its own ports, its own state directory, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from ecmon.settings import Settings
from ecmon_cli.demo import wait_for_reconciliation
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import app_process, ensure_running
from ecmon_simulator.ledger import Ledger, ledger_path
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect


@contextmanager
def isolated_pipeline(state_dir: Path, ports: dict[str, int]) -> Iterator[Settings]:
    settings = Settings(state_dir=state_dir, brokers=1, **ports)
    # The worker and the sink are child processes: they read their settings from the environment.
    env = settings.process_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        stack.up(settings, only=["kafka-1", "clickhouse"])
        migrate.migrate(settings)  # in this process, as the administrator `default`
        for role in ("worker", "sink"):
            ensure_running(settings, role)
        yield settings
    finally:
        stack.down(settings)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def secured_stack(state_dir: Path, ports: dict[str, int], security: str) -> Iterator[Settings]:
    """Kafka (in ``security`` mode) and ClickHouse of their own; the test starts the worker and sink itself."""
    settings = Settings(state_dir=state_dir, kafka_security=security, **ports)
    saved = dict(os.environ)
    os.environ.update(settings.process_env())
    os.environ["ECMON_KAFKA_SECURITY"] = security
    services = ["kafka-1", "clickhouse"]
    try:
        stack.up(settings, only=services)
        migrate.migrate(settings)
        yield settings
    finally:
        for role in ("worker", "sink"):
            app_process(settings, role).stop(timeout=30)
        stack.down(settings, only=services)
        os.environ.clear()
        os.environ.update(saved)


def pipeline_reconciles_without_denials(settings: Settings, run: FleetRun) -> None:
    """Worker and sink running (started here unless they already run), ``run`` sent as the gateway: ClickHouse
    must reconcile exactly, both must still run, and the broker must have denied nothing (every role's ACLs
    suffice)."""
    broker_log = settings.log_dir / "kafka-1.log"
    logged_before = broker_log.stat().st_size
    for role in ("worker", "sink"):
        ensure_running(settings, role)
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    run_fleet(settings, run, ledger, show_progress=False)  # as gateway; registrations as registry
    ledger.save(ledger_path(settings))
    result = wait_for_reconciliation(settings, ledger, timeout=150, console=Console(), show_progress=False)
    assert result.exact, result.line()
    assert sum(v[1] for v in result.sent.values()) > 0
    for role in ("worker", "sink"):
        assert app_process(settings, role).pid() is not None, \
            f"{role} exited:\n{app_process(settings, role).log_tail()}"
    with broker_log.open("rb") as log:
        log.seek(logged_before)
        denials = [line for line in log.read().decode(errors="replace").splitlines() if "is Denied" in line]
    assert not denials, denials[:5]


def province_without_data(settings: Settings, candidates: tuple[str, ...]) -> str:
    """The first of ``candidates`` with no data in ClickHouse. A test whose months close takes a province of its
    own (a closed month stays closed on a stack kept between runs); tests sharing a stack keep their candidates
    disjoint."""
    db = settings.clickhouse_database
    used = {r[0] for r in connect(settings).execute(f"SELECT DISTINCT province FROM {db}.aggregates_monthly")}
    province = next((p for p in candidates if p not in used), None)
    if province is None:
        pytest.skip(f"every candidate province ({', '.join(candidates)}) already has data on this stack; "
                    "start a fresh test stack (ecmon stack down, then remove its state directory)")
    return province
