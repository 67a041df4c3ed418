"""`ecmon stack`: the local stack's servers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ecmon_cli.common import cli_settings, console, fail

stack_app = typer.Typer(help="The local stack: Kafka, ClickHouse, Prometheus, Alertmanager.", no_args_is_help=True)


@stack_app.command("up")
def stack_up(brokers: Annotated[int | None, typer.Option(help="Kafka brokers (1 or 3).")] = None) -> None:
    """Start every server of the local stack (harmless when already running)."""
    from ecmon_ops.stack import stack
    from ecmon_ops.stack.process import ServiceError

    settings = cli_settings(brokers=brokers)
    try:
        stack.up(settings, on_progress=lambda m: console.print(f"  {m}"))
    except ServiceError as exc:
        fail(str(exc))
    _print_status(settings)


@stack_app.command("down")
def stack_down() -> None:
    """Stop exactly the processes the stack started, cleanly."""
    from ecmon_ops.stack import stack

    stopped = stack.down(cli_settings(), on_progress=lambda m: console.print(f"  {m}"))
    console.print(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@stack_app.command("status")
def stack_status() -> None:
    """Each service with its port, pid and health; exits 1 when any is not healthy."""
    settings = cli_settings()
    if not _print_status(settings):
        raise typer.Exit(1)


def _print_status(settings) -> bool:
    from ecmon_ops.stack import stack
    from ecmon_ops.stack.apps import running_apps

    table = Table(title=f"ecmon stack ({settings.state_dir})")
    for col in ("service", "port", "pid", "health", "log"):
        table.add_column(col)
    all_ok = True
    for st in stack.status(settings):
        health = "[green]healthy[/]" if st.healthy else ("[red]unhealthy[/]" if st.pid else "[red]stopped[/]")
        all_ok &= st.healthy
        table.add_row(st.name, str(st.port), str(st.pid or "-"), health, st.log)
    for proc in running_apps(settings):
        table.add_row(proc.name, "-", str(proc.pid()), "[green]running[/]", str(proc.log_path))
    console.print(table)
    return all_ok
