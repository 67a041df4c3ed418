"""The ecmon processes the demo starts beside the servers: a stream worker and a sink."""

from __future__ import annotations

import sys

from ecmon.clickhouse_auth import ADMIN_USER, SINK_USER
from ecmon.settings import Settings
from ecmon_ops.stack.process import ManagedProcess

#: The sink writes as its own ClickHouse user (deploy/clickhouse/users.xml: insert, no DDL), as production
#: does; its password comes from the stack's secrets file (an inherited ECMON_CLICKHOUSE_PASSWORD is blanked:
#: it would be another user's). Migrations (`ecmon db migrate`) run in the CLI's own process as ecmon_admin.
LOCAL_SINK_USER = {"ECMON_CLICKHOUSE_USER": SINK_USER, "ECMON_CLICKHOUSE_PASSWORD": ""}


def role_env(settings: Settings, role: str) -> dict[str, str]:
    """Environment a role runs with on the local stack, beyond the caller's own."""
    if role == "sink" and settings.clickhouse_user == ADMIN_USER:  # an explicitly chosen user is kept
        return dict(LOCAL_SINK_USER)
    return {}


def app_process(settings: Settings, role: str, index: int = 1) -> ManagedProcess:
    name = f"{role}-{index}"
    return ManagedProcess(
        name=name,
        command=[sys.executable, "-m", "ecmon_cli.main", "--state-dir", str(settings.state_dir), role],
        run_dir=settings.run_dir,
        log_path=settings.log_dir / f"{name}.log",
        marker=str(settings.state_dir),
        env={**settings.process_env(), **role_env(settings, role)},
    )


def running_apps(settings: Settings) -> list[ManagedProcess]:
    found = []
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        role, _, index = pid_file.stem.rpartition("-")
        if role in ("worker", "sink") and index.isdigit():
            proc = app_process(settings, role, int(index))
            if proc.pid() is not None:
                found.append(proc)
    return found


def ensure_running(settings: Settings, role: str, index: int = 1) -> ManagedProcess:
    proc = app_process(settings, role, index)
    if proc.pid() is None:
        proc.start()
    return proc
