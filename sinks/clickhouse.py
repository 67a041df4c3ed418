"""ClickHouse connections with errors that say what to do."""

from __future__ import annotations

from clickhouse_driver import Client
from clickhouse_driver.errors import NetworkError

from ecmon.settings import Settings


class ClickHouseUnavailable(RuntimeError):
    pass


def connect(settings: Settings, database: str | None = None, user: str | None = None,
            password: str | None = None, *, writer: bool = True) -> Client:
    """A client for ``user`` (default: settings.clickhouse_user).

    ``writer=False`` sends no session settings: a user with ``readonly=1`` (the analysts) may not
    change any setting, not even one that only matters for inserts.
    """
    return Client(
        host=settings.clickhouse_server,
        port=settings.clickhouse_port,
        user=user or settings.clickhouse_user,
        password=settings.clickhouse_password if password is None else password,
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
