"""Which password a ClickHouse client sends: the one place every connection of ecmon gets it from.

First match wins: ``ECMON_CLICKHOUSE_PASSWORD`` for ``ECMON_CLICKHOUSE_USER`` (containers get both from a
Secret, one user per process), else the user's entry in the secrets file
(``<state_dir>/secrets/clickhouse-users.json``), which `ecmon stack up` generates with a random password
per user of deploy/clickhouse/users.xml. No ClickHouse password is in the repository.
"""

from __future__ import annotations

from ecmon.secret_files import password_from_file
from ecmon.settings import Settings

#: The administrator: `ecmon db migrate` (CREATE DATABASE / TABLE) and the operators' reconciliation reads.
ADMIN_USER = "ecmon_admin"
#: The sink: INSERT into the ecmon databases, no DDL.
SINK_USER = "ecmon_sink"
#: Vendor feedback: reads one enterprise's dead letters at a time (read-only, the national database only).
FEEDBACK_USER = "ecmon_feedback"


def clickhouse_password(settings: Settings, user: str | None = None) -> str:
    """The password of ``user`` (default: settings.clickhouse_user)."""
    user = user or settings.clickhouse_user
    if settings.clickhouse_password and user == settings.clickhouse_user:
        return settings.clickhouse_password
    return password_from_file(settings.clickhouse_secrets_path, user, "ClickHouse")
