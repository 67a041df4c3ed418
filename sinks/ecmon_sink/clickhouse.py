"""ClickHouse connections with errors that say what to do."""

from __future__ import annotations

from clickhouse_driver import Client
from clickhouse_driver.errors import NetworkError

from ecmon.clickhouse_auth import clickhouse_password
from ecmon.secret_files import SecretMissing
from ecmon.settings import Settings


class ClickHouseUnavailable(RuntimeError):
    pass


def connect(settings: Settings, database: str | None = None, user: str | None = None,
            password: str | None = None, *, writer: bool = True) -> Client:
    """A client for ``user`` (default: settings.clickhouse_user), with its password from
    ``ecmon.clickhouse_auth`` unless ``password`` is given.

    ``writer=False`` sends no session settings: a user with ``readonly=1`` (the analysts) may not
    change any setting, not even one that only matters for inserts.
    """
    if password is None:
        try:
            password = clickhouse_password(settings, user)
        except SecretMissing as exc:  # one line with the fix, like an unreachable server
            raise ClickHouseUnavailable(f"{exc} (or set ECMON_CLICKHOUSE_PASSWORD)") from None
    return Client(
        host=settings.clickhouse_server,
        port=settings.clickhouse_port,
        user=user or settings.clickhouse_user,
        password=password,
        database=database or "",  # "": the server picks; "default" is refused to confined users
        connect_timeout=3,
        send_receive_timeout=60,
        settings={"insert_block_size": 1_048_576} if writer else {},
    )


def ping(client: Client, settings: Settings) -> None:
    try:
        client.execute("SELECT 1")
    except (NetworkError, OSError, EOFError) as exc:
        raise ClickHouseUnavailable(
            f"ClickHouse is not reachable at {settings.clickhouse_server}:{settings.clickhouse_port} ({exc}). "
            "Start the stack with `ecmon stack up` (or `make up`); `ecmon stack status` shows its health."
        ) from exc
