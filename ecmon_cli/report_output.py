"""What every `ecmon report` command shares: its options, the analyst's ClickHouse connection, one-line errors
with the fix, and the output formats (a table for people, CSV that Excel opens, JSON with numbers).

Exit status: 0 done; 1 could not run (server down, wrong password, access denied: one line naming the fix);
2 a bad argument (nothing was read) or, for `ecmon report`, a reconciliation MISMATCH.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from ecmon.settings import Settings
from ecmon_cli.common import console, fail

if TYPE_CHECKING:
    from clickhouse_driver import Client

    from ecmon_reports.analyst import Report

FORMATS = ("table", "csv", "json")
USAGE = 2
MISMATCH = 2

MonthOpt = Annotated[str, typer.Option(help="Month, YYYY-MM (China Standard Time).")]
ProvinceOpt = Annotated[str | None, typer.Option(help="Province code: read that province's database (ecmon_<code>).")]
IndustryOpt = Annotated[str | None, typer.Option(help="GB/T 4754 industry code to keep.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json.")]
BomOpt = Annotated[bool, typer.Option(
    "--bom/--no-bom", help="CSV starts with a UTF-8 byte order mark, so Excel reads Chinese names correctly.")]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def check_month(month: str) -> str:
    """'YYYY-MM' or a one-line error (exit 2) before anything is read."""
    if not _MONTH.match(month) or not 2000 <= int(month[:4]) <= 2099:
        fail(f"--month {month!r} is not a month: give YYYY-MM, e.g. --month 2026-10", USAGE)
    return month


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if fmt not in allowed:
        fail(f"--format {fmt!r} is not one of {', '.join(allowed)}: e.g. --format {allowed[0]}", USAGE)
    return fmt


def database_or_fail(settings: Settings, province: str | None) -> str:
    from ecmon_sink.databases import database_for

    try:
        return database_for(settings.clickhouse_database, province)
    except ValueError as exc:
        fail(f"--province: {exc}", USAGE)
        raise  # unreachable: fail() exits


def explain(exc: BaseException, settings: Settings, database: str = "") -> str | None:
    """One line naming what went wrong and how to fix it, for the errors an analyst meets; None otherwise."""
    from clickhouse_driver import errors

    from ecmon_sink.clickhouse import ClickHouseUnavailable

    user = settings.clickhouse_user
    if isinstance(exc, ClickHouseUnavailable):
        return str(exc)
    if isinstance(exc, (errors.NetworkError, errors.SocketTimeoutError, EOFError, ConnectionError)):
        return (f"ClickHouse at {settings.clickhouse_server}:{settings.clickhouse_port} stopped answering ({exc}). "
                "Check it with `ecmon stack status`; start it with `ecmon stack up`.")
    if isinstance(exc, errors.ServerException):
        code = exc.code
        first = (exc.message or str(exc)).strip().splitlines()[0] if (exc.message or str(exc)).strip() else ""
        first = first.split("Stack trace")[0].strip()
        if code in (192, 193, 194, 516):  # UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
            return (f"ClickHouse refused user {user!r} (wrong or missing password). Set ECMON_CLICKHOUSE_PASSWORD "
                    "to your password, or ECMON_CLICKHOUSE_USER to your own user (analyst_<province> or "
                    "analyst_national); the stack's passwords are in <state dir>/secrets/clickhouse-users.json.")
        if code in (291, 497, 164):  # DATABASE_ACCESS_DENIED, ACCESS_DENIED, READONLY
            where = f" database {database}" if database else ""
            return (f"Access denied: user {user!r} may not read{where}. A provincial analyst reads only the "
                    "province's own "
                    "database (--province <its code>); the national analyst reads all.")
        if code in (60, 81):  # UNKNOWN_TABLE, UNKNOWN_DATABASE
            return f"ClickHouse has no such table or database ({first}); apply the migrations with `ecmon db migrate`."
        return f"ClickHouse refused the query: {first}"
    return None


@contextmanager
def clickhouse_errors(settings: Settings, database: str = "") -> Iterator[None]:
    """Turn the ClickHouse errors an analyst can meet into one line with the fix (exit 1), never a traceback."""
    # The driver logs a traceback per refused connection; the one line below says it all.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
    try:
        yield
    except Exception as exc:
        line = explain(exc, settings, database)
        if line is None:
            raise
        fail(line)


def analyst_client(settings: Settings, database: str) -> Client:
    """A connection for reading (no session settings: analysts are readonly=1) that has answered a ping."""
    from ecmon_sink.clickhouse import connect, ping

    with clickhouse_errors(settings, database):
        client = connect(settings, writer=False)
        ping(client, settings)
    return client


def emit(report: Report, fmt: str, bom: bool = True) -> None:
    """Print ``report`` as a table, CSV (with a byte order mark unless ``bom`` is False) or JSON."""
    if fmt == "table":
        console.print(report.table())
    elif fmt == "csv":
        sys.stdout.buffer.write(report.csv(bom=bom).encode("utf-8"))
        sys.stdout.flush()
    else:
        sys.stdout.write(report.json() + "\n")
